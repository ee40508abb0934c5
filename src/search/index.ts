export { logUniform, uniform, int, choice, checkSpace, sampleSettings, trialSeed, mixSeed,
  type SearchSpace, type SettingName, type OptimizerParamName, type Dimension, type LogUniform, type Uniform, type IntRange, type Choice, type Settings, type SettingValue } from './space.js';
export { runTrial, timedOutResult, checkSettings, checkSpaceSettings, trialNetSpec, TRIAL_SETTINGS, type TrialJob, type TrialResult, type TrialData, type DataSpec, type EpochResult } from './trial.js';
export { AshaScheduler, ashaRungs, type AshaOptions, type AshaJob } from './asha.js';
export { hyperparameterSearch, trialJob, score, type Executor, type Objective, type SearchOptions, type SearchResult, type ScoredResult } from './search.js';
export { inlineExecutor, DataCache, type DataLoader } from './inline.js';
export { resumeFrom, resultKey, storedMismatch } from './resume.js';
export { searchChart, type SearchChartSpec, type SearchChartOptions } from './charts.js';
export { splitSearchData, splitOptions } from './data.js';
export { webWorkerExecutor, startWebTrialWorker, type WebWorkerExecutorOptions, type SearchRows } from './web-workers.js';
