// Reading a net constructor's options once: a plain copy of the object (each getter runs once, a Proxy is
// asked once) that the net is built from and records as its spec, and the checks of single values that name
// the option and never throw while formatting their message (a Symbol or a BigInt would).
import type { ActivationName } from '../layers/activations.js';
import { checkClassWeights } from '../layers/softmax-with-loss.js';
import { checkOptions } from '../runtime/options.js';
import { describeValue } from '../runtime/tensor.js';
import type { WeightInit } from './init.js';

/**
 * A net's options read once, at the start of its constructor: a plain copy of the object's
 * own enumerable properties (each getter runs once, a Proxy is asked once), with its keys checked
 * (TypeError naming `who` for a non-object or an unknown key). The net is built from this copy and
 * records it as its spec, so what it records is what it built.
 */
export function readOptions(who: string, options: unknown, keys: ReadonlySet<string>): Record<string, unknown> {
  if (options === null || typeof options !== 'object') checkOptions(who, options as object, keys); // throws
  const snapshot: Record<string, unknown> = { ...(options as object) };
  checkOptions(who, snapshot, keys);
  return snapshot;
}

/** `value`, or `fallback` when it is undefined (as a destructuring default). */
export function orDefault(value: unknown, fallback: unknown): unknown {
  return value === undefined ? fallback : value;
}

/** An integer >= `min` (1: positive, 0: non-negative): a TypeError (not a number) or RangeError naming `who` and `what` otherwise. */
export function integerAtLeast(who: string, what: string, v: unknown, min: 0 | 1): number {
  const expected = `${who}: ${what} must be a ${min === 1 ? 'positive' : 'non-negative'} integer`;
  if (typeof v !== 'number') throw new TypeError(`${expected}, got ${describeValue(v)}`);
  if (!(Number.isInteger(v) && v >= min)) throw new RangeError(`${expected}, got ${v}`);
  return v;
}

/** A positive integer: a TypeError (not a number) or RangeError naming `who` and `what` otherwise. */
export function positiveInteger(who: string, what: string, v: unknown): number {
  return integerAtLeast(who, what, v, 1);
}

/** A number option (its range is checked where it is used): a TypeError naming `who` and `what` otherwise. */
export function numberOption(who: string, what: string, v: unknown, expected: string): number {
  if (typeof v !== 'number') throw new TypeError(`${who}: ${what}: expected ${expected}, got ${describeValue(v)}`);
  return v;
}

/**
 * A named net's classWeights option: undefined → null, else checked (checkClassWeights) against its `classes`,
 * named by `option` (outputSize, numClasses), and copied into a plain array, what its spec records.
 */
export function readClassWeights(who: string, v: unknown, classes: number, option: string): number[] | null {
  return v === undefined ? null : checkClassWeights(who, v, classes, `${option} ${classes}`);
}

/** An activation's name: a string (which one is checked by activation()), or a TypeError naming `who`. */
export function activationOption(who: string, v: unknown): ActivationName {
  if (typeof v !== 'string') throw new TypeError(`${who}: activation: expected 'relu', 'sigmoid' or 'tanh', got ${describeValue(v)}`);
  return v as ActivationName;
}

/** A weight init: a number or a name (checked by initStd), or a TypeError naming `who`. */
export function initOption(who: string, v: unknown): WeightInit {
  if (typeof v !== 'number' && typeof v !== 'string') {
    throw new TypeError(`${who}: weightInitStd: expected a number, 'xavier', 'sigmoid', 'he' or 'relu', got ${describeValue(v)}`);
  }
  return v as WeightInit;
}
