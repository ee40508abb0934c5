// simdnn for Node: the portable core, with createRuntime reading the packaged
// wasm from disk, plus Node-only data loaders.
export * from '../index.js';
export { createRuntime } from './runtime.js';
