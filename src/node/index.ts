// simdnn for Node: the portable core, with createRuntime reading the packaged
// wasm from disk, plus Node-only data loaders.
export * from '../index.js';
export { createRuntime, nodeThreadHost } from './runtime.js';
export { loadMnist, loadIdx, type LoadOptions } from './data.js';
export { main as runCli, parseTrainArgs, type CliIO, type Output, type TrainSettings, type TrainReport, type SavedModel } from './cli.js';
