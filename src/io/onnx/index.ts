// simdnn/onnx: ONNX models of simdnn nets (exportOnnx) and simdnn nets of ONNX models (importOnnx,
// inspectOnnx). A subpath of its own, as the search and the experiments are: V8 scans every byte of a
// bundle it loads, and the ONNX reader and writer (~90 KB of source) in the core would cost every
// `require('simdnn')` that never meets an ONNX file. It reaches the core only through its entry.
export { exportOnnx, ONNX_IR_VERSION, ONNX_SPEC_KEY, type ExportOnnxOptions } from './export.js';
export { importOnnx, inspectOnnx, OnnxError, type ImportOnnxOptions, type ImportedOnnx, type ImportedNode, type OnnxModelInfo } from './import.js';
