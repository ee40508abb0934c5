// A Cloudflare-style module worker serving a digit classifier trained with simdnn, from its model file
// (model.safetensors, as saveModel writes it). The routes, limits and checks are app.js's; worker-onnx.js
// serves an ONNX model the same way.
import { loadModel } from 'simdnn';
import wasm from 'simdnn/wasm/simdnn.wasm';
import weights from './model.safetensors';
import { createWorker } from './app.js';

export default createWorker(wasm, (rt) => {
  const { net, metadata } = loadModel(rt, new Uint8Array(weights));
  return { net, about: { format: 'safetensors', model: metadata } };
});
