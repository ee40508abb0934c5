export { ElementwiseOptimizer, type Optimizer, type OptimizerState, type Params } from './optimizer.js';
export type { ParamState } from './state.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Momentum, type MomentumOptions } from './momentum.js';
export { Nesterov, type NesterovOptions } from './nesterov.js';
export { AdaGrad, type AdaGradOptions } from './adagrad.js';
export { RMSprop, type RMSpropOptions } from './rmsprop.js';
export { AdaDelta, type AdaDeltaOptions } from './adadelta.js';
export { Adam, type AdamOptions } from './adam.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { createOptimizer, optimizerDefaults, optimizerNames, type OptimizerName, type OptimizerOptions, type OptimizerOptionsMap } from './registry.js';
export {
  StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, LinearLR, ConstantLR, PolynomialLR, OneCycleLR, CyclicLR, SequentialLR, ReduceLROnPlateau, SWALR, createSchedule, scheduleNames,
  type LRSchedule, type IntervalOption, type ScheduleInterval, type ScheduleName, type ScheduleOptionsMap, type DefaultedScheduleName, type StepLROptions, type MultiStepLROptions, type ExponentialLROptions,
  type CosineAnnealingLROptions, type CosineAnnealingWarmRestartsOptions, type LinearLROptions, type ConstantLROptions, type PolynomialLROptions, type OneCycleLROptions,
  type CyclicLROptions, type CyclicLRMode, type SequentialLROptions, type ReduceLROnPlateauOptions, type SWALROptions,
} from './schedules.js';
