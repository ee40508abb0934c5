// The edge worker serving an ONNX model (model.onnx: simdnn's exportOnnx, PyTorch's torch.onnx.export, …)
// through importOnnx, which rebuilds it as a trainable simdnn net: /predict and /fine-tune work as in
// worker.js (app.js's routes). Only this entry imports simdnn/onnx, so the safetensors worker's bundle
// does not carry the ONNX reader.
import { importOnnx } from 'simdnn/onnx';
import wasm from 'simdnn/wasm/simdnn.wasm';
import bytes from './model.onnx';
import { createWorker } from './app.js';

export default createWorker(wasm, (rt) => {
  const { net, metadata, producerName, producerVersion, opset, irVersion, inputShape, finalSoftmax } = importOnnx(rt, new Uint8Array(bytes));
  // finalSoftmax: the model's own last Softmax, which the net leaves out (app.js applies softmax to its scores either way)
  return { net, about: { format: 'onnx', model: metadata, onnx: { producerName, producerVersion, opset, irVersion, inputShape, finalSoftmax } } };
});
