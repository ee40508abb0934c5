// The ONNX Runtime Web peer of the inference topic, in a child process:
// `node bench/ort-peer.mjs model.onnx input.f32 batch threads`.
// ORT-web reads env.wasm.numThreads once per process, so each thread count
// gets its own process. It prints one JSON line once the session is up,
// { logits (the first run's output, for the parent to compare with ours),
// threads }, then times blocks on request, so the parent can alternate them
// with its own: for each line `ms` on stdin it runs the model back to back
// for that long (at least once) and prints { ms (total), calls }. It exits
// when stdin closes.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import * as ort from 'onnxruntime-web';

const [model, input, batch, threads] = process.argv.slice(2);
ort.env.wasm.numThreads = Number(threads);
ort.env.logLevel = 'error';
const session = await ort.InferenceSession.create(readFileSync(model), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
const file = readFileSync(input); // a small file's Buffer is a view on a shared pool
const data = new Float32Array(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength));
const dims = [Number(batch), ...JSON.parse(process.env.ORT_INPUT_SHAPE)];
const feeds = { x: new ort.Tensor('float32', data, dims) };
const first = await session.run(feeds);
console.log(JSON.stringify({ logits: Array.from(first.y.data), threads: ort.env.wasm.numThreads }));
for await (const line of createInterface({ input: process.stdin })) {
  const blockMs = Number(line);
  const t0 = performance.now();
  let calls = 0;
  do {
    await session.run(feeds);
    calls++;
  } while (performance.now() - t0 < blockMs);
  console.log(JSON.stringify({ ms: performance.now() - t0, calls }));
}
await session.release();
