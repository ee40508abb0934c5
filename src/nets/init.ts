// Weight initialisation as in the book: a Gaussian whose std is a number, or
// sqrt(1/n) for 'xavier'/'sigmoid', or sqrt(2/n) for 'he'/'relu', n = fan-in.
import { describeValue } from '../runtime/tensor.js';

/** A weight init: a Gaussian's std (a number >= 0), 'xavier'/'sigmoid' (√(1/n)) or 'he'/'relu' (√(2/n)), n the fan-in. */
export type WeightInit = number | 'xavier' | 'sigmoid' | 'he' | 'relu';

/**
 * The std `init` gives for a layer of fan-in `fanIn`; `who`, when given, starts the error messages.
 * @throws RangeError for a negative or non-finite number; TypeError for an unknown name or another type.
 */
export function initStd(init: WeightInit, fanIn: number, who?: string): number {
  const option = `${who ? `${who}: ` : ''}weightInitStd`;
  if (typeof init === 'number') {
    if (!(Number.isFinite(init) && init >= 0)) throw new RangeError(`${option}: expected a non-negative number, got ${init}`);
    return init;
  }
  switch (init) {
    case 'xavier': case 'sigmoid': return Math.sqrt(1 / fanIn);
    case 'he': case 'relu': return Math.sqrt(2 / fanIn);
    default: {
      const got = typeof init === 'string' ? `'${init}'` : describeValue(init);
      throw new TypeError(`${option}: expected a number, 'xavier', 'sigmoid', 'he' or 'relu', got ${got}`);
    }
  }
}
