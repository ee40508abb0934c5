// The ONNX Runtime Web peer of the inference topic, in a child process:
// `node bench/ort-peer.mjs model.onnx input.f32 batch threads timeMs`.
// ORT-web reads env.wasm.numThreads once per process, so each thread count
// gets its own process. Prints one JSON line: { ms (median per run), logits }
// (the first run's output, for the parent to compare with ours).
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';

const [model, input, batch, threads, time] = process.argv.slice(2);
ort.env.wasm.numThreads = Number(threads);
ort.env.logLevel = 'error';
const session = await ort.InferenceSession.create(readFileSync(model), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
const file = readFileSync(input); // a small file's Buffer is a view on a shared pool
const data = new Float32Array(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength));
const dims = [Number(batch), ...JSON.parse(process.env.ORT_INPUT_SHAPE)];
const feeds = { x: new ort.Tensor('float32', data, dims) };
const first = await session.run(feeds);
const logits = Array.from(first.y.data);
// median over samples of back-to-back runs, each sample at least 1 ms long
const samples = [];
const end = performance.now() + Number(time);
let reps = 1;
while (performance.now() < end || samples.length < 5) {
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await session.run(feeds);
  const dt = performance.now() - t0;
  if (dt < 1) { reps *= 2; continue; }
  samples.push(dt / reps);
}
samples.sort((a, b) => a - b);
console.log(JSON.stringify({ ms: samples[samples.length >> 1], logits, threads: ort.env.wasm.numThreads }));
await session.release();
