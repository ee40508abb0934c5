// Optimizers by name, for the Trainer and the CLI.
import { AdaDelta, type AdaDeltaOptions } from './adadelta.js';
import { AdaGrad, type AdaGradOptions } from './adagrad.js';
import { Adam, type AdamOptions } from './adam.js';
import { AdamW, type AdamWOptions } from './adamw.js';
import { Momentum, type MomentumOptions } from './momentum.js';
import { Nesterov, type NesterovOptions } from './nesterov.js';
import type { ElementwiseOptimizer } from './optimizer.js';
import { defaultsOf, type OptionSpecs } from './options.js';
import { RMSprop, type RMSpropOptions } from './rmsprop.js';
import { SGD, type SGDOptions } from './sgd.js';
import { describeValue } from '../runtime/tensor.js';

/** The names createOptimizer (and TrainerOptions.optimizer, a model file, a search's `optimizer` setting) takes, in lower case. */
export type OptimizerName = 'sgd' | 'momentum' | 'nesterov' | 'adagrad' | 'rmsprop' | 'adadelta' | 'adam' | 'adamw';

/** The options each optimizer takes, by OptimizerName: createOptimizer(name, options) and TrainerOptions.optimizerParams. */
export interface OptimizerOptionsMap {
  sgd: SGDOptions;
  momentum: MomentumOptions;
  nesterov: NesterovOptions;
  adagrad: AdaGradOptions;
  rmsprop: RMSpropOptions;
  adadelta: AdaDeltaOptions;
  adam: AdamOptions;
  adamw: AdamWOptions;
}

/** The options of any optimizer (a key one of them takes); see OptimizerOptionsMap for each one's. */
export type OptimizerOptions = OptimizerOptionsMap[OptimizerName];

interface OptimizerClass<O> {
  readonly options: OptionSpecs;
  new (options?: O): ElementwiseOptimizer;
}

// every OptimizerName and no other, each class taking its map entry's options (checked by the compiler)
const classes = {
  sgd: SGD,
  momentum: Momentum,
  nesterov: Nesterov,
  adagrad: AdaGrad,
  rmsprop: RMSprop,
  adadelta: AdaDelta,
  adam: Adam,
  adamw: AdamW,
} satisfies { [N in OptimizerName]: OptimizerClass<OptimizerOptionsMap[N]> };

/** Every OptimizerName, in a fixed order (for a CLI's choices or a search space). */
export const optimizerNames = Object.keys(classes) as OptimizerName[];

/** Each optimizer's options and their defaults, e.g. optimizerDefaults.adam = { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-7 }. */
export const optimizerDefaults = Object.fromEntries(
  Object.entries(classes).map(([name, cls]) => [name, Object.freeze(defaultsOf(cls.options))]),
) as Readonly<Record<OptimizerName, Readonly<Record<string, number>>>>;

/**
 * @internal Throws a TypeError naming `who` (e.g. 'Trainer: optimizer') unless `name` is an optimizer's name as
 * createOptimizer takes it (any casing), so an entry that builds one by name says which of its arguments was wrong.
 */
export function checkOptimizerName(who: string, name: string): void {
  // own keys only: 'constructor' or '__proto__' is no optimizer's name
  if (!Object.prototype.hasOwnProperty.call(classes, name.toLowerCase())) throw new TypeError(`${who}: unknown name '${name}' (expected one of ${optimizerNames.join(', ')})`);
}

/**
 * An optimizer by name with its options (OptimizerOptionsMap[name]: e.g. `{ lr, beta1, beta2, eps }` for
 * 'adam'), every one optional with the defaults optimizerDefaults lists. The type takes the lower-case
 * names; at run time the name is case-insensitive ('Adam' and 'ADAM' work too: cast such a name to
 * OptimizerName). The caller owns the optimizer: it holds no memory until its first update, and
 * dispose() frees its state.
 * @throws TypeError naming `name` when it is not a string or no optimizer's; TypeError for an unknown
 * option key; RangeError naming an option whose value is out of range.
 */
export function createOptimizer<N extends OptimizerName>(name: N, options: OptimizerOptionsMap[N] = {}): ElementwiseOptimizer {
  const expected = `expected one of ${optimizerNames.join(', ')}`;
  if (typeof name !== 'string') throw new TypeError(`createOptimizer: name must be a string (${expected}), got ${describeValue(name)}`);
  checkOptimizerName('createOptimizer', name);
  return new (classes as Record<string, OptimizerClass<object>>)[name.toLowerCase()](options);
}
