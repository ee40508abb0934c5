// Weight initialisation as in the book: a Gaussian whose std is a number, or
// sqrt(1/n) for 'xavier'/'sigmoid', or sqrt(2/n) for 'he'/'relu', n = fan-in.
import { describeValue } from '../runtime/tensor.js';

/** A weight init: a Gaussian's std (a number >= 0), 'xavier'/'sigmoid' (√(1/n)) or 'he'/'relu' (√(2/n)), n the fan-in. */
export type WeightInit = number | 'xavier' | 'sigmoid' | 'he' | 'relu';

/**
 * The std `init` gives for a layer of fan-in `fanIn` (a positive integer); `who`, when given, starts the
 * error messages about `init`.
 * @throws RangeError for a negative or non-finite number, or a fanIn that is not a positive integer;
 * TypeError for an unknown name or another type.
 */
export function initStd(init: WeightInit, fanIn: number, who?: string): number {
  if (typeof fanIn !== 'number') throw new TypeError(`initStd: fanIn must be a positive integer, got ${describeValue(fanIn)}`);
  if (!(Number.isInteger(fanIn) && fanIn > 0)) throw new RangeError(`initStd: fanIn must be a positive integer, got ${fanIn}`);
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
