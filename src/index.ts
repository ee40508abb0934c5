// simdnn: the portable core (browsers, edge runtimes, Node). Node-only extras
// (packaged wasm from disk, data loaders, CLI) are in ./node/. The book's
// experiments, the hyper-parameter search, ONNX files and CSV tables are subpath
// entries of their own (simdnn/experiments, simdnn/search, simdnn/onnx,
// simdnn/csv), so a cold `import 'simdnn'` does not parse them.
export { createRuntime, Runtime, WorkerFault, defaultWasmUrls, ACTIVATION_CODES, type FusedActivation, type RuntimeOptions, type RuntimeFeatures, type Kernels, type KernelName, type PartArgs, type SpawnOptions, type ThreadHost, type ThreadStats, type WorkerHandle, type WorkerInit } from './runtime/runtime.js';
export { ConcurrentRunError, NonFiniteError, OutOfMemoryError } from './runtime/errors.js';
export { Tensor, IntTensor, checkTensor, checkFloatTensor, describeValue, type Shape, type View } from './runtime/tensor.js';
/** @internal the runtime check, for the subpath bundles (search, experiments), which import the core through this entry */
export { checkRuntime } from './runtime/runtime.js';
/** @internal the options, flag and AbortSignal checks, for the subpath bundles (search, experiments), which import the core through this entry */
export { checkFlag, checkOptions, isAbortSignal } from './runtime/options.js';
/** @internal a value as an error message names it, and the error of a numeric argument, for the subpath bundles */
export { badNumber, shown } from './runtime/tensor.js';
/** @internal the most values a tensor holds, for the subpath bundles (onnx) */
export { MAX_ELEMENTS } from './runtime/tensor.js';
/** @internal the largest window, stride and pad a Convolution or Pooling takes, for the subpath bundles (onnx) */
export { MAX_WINDOW } from './layers/convolution.js';
/** @internal a file's caller metadata checked (saveModel's rule), for the subpath bundles (onnx) */
export { checkMetadata } from './io/model.js';
/** @internal the first Affine's W shape where it sets a net's rows' size, for the subpath bundles (onnx) */
export { firstAffineW } from './nets/samples.js';
/** @internal a named net's layers from its spec, and a summary of layers given as plans, for the subpath bundles (onnx) */
export { netLayout, type LayoutLayer, type NetLayout } from './nets/registry.js';
export { summarizePlans, type LayerPlan, type ShapeRule } from './nets/summary.js';
export type { WasmSource } from './runtime/source.js';
export type { AllocatorStats } from './runtime/allocator.js';
export * from './layers/index.js';
export * from './nets/index.js';
export * from './optim/index.js';
export * from './train/index.js';
export * from './data/index.js';
export { NET_KINDS, buildNet, checkNetSpec, netSummary, netTensorShapes, type NetKind, type NetSpec, type NamedNet } from './nets/registry.js';
export * from './io/index.js';
