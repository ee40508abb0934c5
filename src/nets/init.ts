// Weight initialisation as in the book: a Gaussian whose std is a number, or
// sqrt(1/n) for 'xavier'/'sigmoid', or sqrt(2/n) for 'he'/'relu', n = fan-in.

export type WeightInit = number | 'xavier' | 'sigmoid' | 'he' | 'relu';

export function initStd(init: WeightInit, fanIn: number): number {
  if (typeof init === 'number') {
    if (!(Number.isFinite(init) && init >= 0)) throw new RangeError(`weightInitStd: expected a non-negative number, got ${init}`);
    return init;
  }
  switch (init) {
    case 'xavier': case 'sigmoid': return Math.sqrt(1 / fanIn);
    case 'he': case 'relu': return Math.sqrt(2 / fanIn);
    default: throw new TypeError(`weightInitStd: expected a number, 'xavier', 'sigmoid', 'he' or 'relu', got '${String(init)}'`);
  }
}
