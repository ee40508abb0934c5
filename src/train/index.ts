export {
  Trainer, type TrainerOptions, type TrainerBaseOptions, type OptimizerChoice, type TrainerProgress, type TrainResult, type EpochRecord, type StopReason,
  type AugmentFn, type EarlyStoppingOptions, type EarlyStoppingMonitor, type EmaOptions, type SwaOptions, type CheckpointOptions, type FitOptions, type TrainerState,
  type TrainerCallbacks, type TrainerEvent, type StepEvent, type EpochEndEvent, type TrainEndEvent, type WorkerFaultRecord,
} from './trainer.js';
export { YIELD_EVERY_MS } from '../runtime/yield.js';
export type { ThreadUse } from './split-choice.js';
export { layerActivations, type LayerActivation } from './activations.js';
export { clipGradNorm, clipGradValue } from './clip.js';
export { optimizeScalars } from './scalars.js';
export type { MixupOptions } from './mixup.js';
export type { SampleWeights, SampleWeightsRecord } from './sampler.js';
export {
  lrFinder, lrFinderAsync, lrFinderRate, lrFinderSuggestions, smoothLosses, type LRFinderOptions, type LRFinderBaseOptions,
  type LRFinderAsyncOptions, type LRFinderResult, type LRFinderStep, type LRFinderStop, type LRSuggestions,
} from './lr-finder.js';
