// Optimizers by name, for the Trainer and the CLI.
import { AdaDelta } from './adadelta.js';
import { AdaGrad } from './adagrad.js';
import { Adam } from './adam.js';
import { AdamW } from './adamw.js';
import { Momentum } from './momentum.js';
import { Nesterov } from './nesterov.js';
import type { ElementwiseOptimizer } from './optimizer.js';
import { defaultsOf, type OptionSpecs } from './options.js';
import { RMSprop } from './rmsprop.js';
import { SGD } from './sgd.js';
import { describeValue } from '../runtime/tensor.js';

interface OptimizerClass {
  readonly options: OptionSpecs;
  new (options?: Record<string, number>): ElementwiseOptimizer;
}

const classes = {
  sgd: SGD,
  momentum: Momentum,
  nesterov: Nesterov,
  adagrad: AdaGrad,
  rmsprop: RMSprop,
  adadelta: AdaDelta,
  adam: Adam,
  adamw: AdamW,
} satisfies Record<string, OptimizerClass>;

/** Lower-case names createOptimizer accepts: sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, adamw. */
export type OptimizerName = keyof typeof classes;
/** Every OptimizerName, in a fixed order (for a CLI's choices or a search space). */
export const optimizerNames = Object.keys(classes) as OptimizerName[];

/** Each optimizer's options and their defaults, e.g. optimizerDefaults.adam = { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-7 }. */
export const optimizerDefaults = Object.fromEntries(
  Object.entries(classes).map(([name, cls]) => [name, Object.freeze(defaultsOf(cls.options))]),
) as Readonly<Record<OptimizerName, Readonly<Record<string, number>>>>;

/**
 * An optimizer by name (case-insensitive) with its options. A name that is not a string, or no
 * optimizer's: TypeError naming `name`; unknown option keys: TypeError; bad values: RangeError.
 */
export function createOptimizer(name: string, options: Record<string, number> = {}): ElementwiseOptimizer {
  const expected = `expected one of ${optimizerNames.join(', ')}`;
  if (typeof name !== 'string') throw new TypeError(`createOptimizer: name must be a string (${expected}), got ${describeValue(name)}`);
  const key = name.toLowerCase();
  // own keys only: 'constructor' or '__proto__' is no optimizer's name
  const cls = Object.prototype.hasOwnProperty.call(classes, key) ? (classes as Record<string, OptimizerClass>)[key] : undefined;
  if (!cls) throw new TypeError(`createOptimizer: unknown name '${name}' (${expected})`);
  return new cls(options);
}
