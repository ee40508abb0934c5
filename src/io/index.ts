// Model files (safetensors) and the format's reader/writer.
export { saveModel, saveModelChunks, loadModel, inspectModel, RESERVED_PREFIX, type SaveModelOptions, type SavedTensor, type LoadModelOptions, type LoadedModel, type ModelInfo, type SavedOptimizer } from './model.js';
export { loadModelAsync, inspectModelAsync, type ModelSource, type LoadModelAsyncOptions, type InspectModelAsyncOptions } from './model-async.js';
export { SafetensorsError, SAFETENSORS_DTYPES, MAX_HEADER_BYTES, readHeaderLength, parseHeader, encodeHeader, decodeFloats, float32Bytes, type FloatDtype, type SafetensorsHeader, type TensorEntry, type TensorToWrite } from './safetensors.js';
