export type { Optimizer, Params } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { createOptimizer, optimizerNames, type OptimizerName } from './registry.js';
