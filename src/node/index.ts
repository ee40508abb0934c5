// simdnn for Node: the portable core, with createRuntime reading the packaged
// wasm from disk, plus Node-only data loaders. The command line is an
// application, not library surface: it is `simdnn/cli` (and the `simdnn` bin),
// so a cold `import 'simdnn'` does not compile it.
export * from '../index.js';
export { createRuntime, nodeThreadHost, usableThreads } from './runtime.js';
export { loadMnist, loadIdx, loadIdxPart, type LoadOptions, type LoadedDataSet, type LoadedPart, type PartOptions } from './data.js';
export { writeModelFile, writeFileAtomic, readModelFile, readModelInfo, readModelFileAsync, readModelInfoAsync } from './model-file.js';
