export { Trainer, type TrainerOptions, type TrainerProgress, type TrainResult, type EpochRecord } from './trainer.js';
