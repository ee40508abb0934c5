// Optimizers by name, for the Trainer and the CLI.
import type { Optimizer } from './optimizer.js';
import { SGD } from './sgd.js';

type Factory = (params: Record<string, number>) => Optimizer;

const factories = {
  sgd: (p: Record<string, number>) => new SGD(p),
} satisfies Record<string, Factory>;

export type OptimizerName = keyof typeof factories;
export const optimizerNames = Object.keys(factories) as OptimizerName[];

export function createOptimizer(name: string, params: Record<string, number> = {}): Optimizer {
  const make = (factories as Record<string, Factory>)[name.toLowerCase()];
  if (!make) throw new TypeError(`optimizer: unknown name '${name}' (expected one of ${optimizerNames.join(', ')})`);
  return make(params);
}
