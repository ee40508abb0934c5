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

/** An optimizer by name (case-insensitive) with its options (unknown keys: TypeError; bad values: RangeError). */
export function createOptimizer(name: string, options: Record<string, number> = {}): ElementwiseOptimizer {
  const cls = (classes as Record<string, OptimizerClass>)[name.toLowerCase()];
  if (!cls) throw new TypeError(`optimizer: unknown name '${name}' (expected one of ${optimizerNames.join(', ')})`);
  return new cls(options);
}
