// Inference: net.predict at batch 1, 8 and 100 on 1 and 2 threads, for the
// MLP 784-[100×6]-10 and DeepConvNet, against ONNX Runtime Web 1.30 (wasm,
// SIMD) running the same weights: bench/onnx.mjs writes the ONNX graph from
// our net, and bench/ort-peer.mjs times it in a child process (ORT-web fixes
// its thread count once per process), where the logits of the first run are
// compared with ours (the cell fails past 1e-5 of the largest logit). Ours
// predicts into a preallocated tensor (`predict(x, false, out)`), as a server
// would. Plus the fixed cost of a batch-1 predict: a 1-[1]-1 net, so the
// arithmetic is nil and what is left is checks, planning and dispatch.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onnxModel } from './onnx.mjs';

const BATCHES = [1, 8, 100];
const QUICK_BATCHES = [1, 100];
const THREADS = [1, 2];
const NETS = [
  { label: 'MultiLayerNet 784-[100×6]-10', input: [784], make: (m, rt) => new m.MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, activation: 'relu', weightInitStd: 'relu' }) },
  { label: 'DeepConvNet', input: [1, 28, 28], make: (m, rt) => new m.DeepConvNet(rt) },
];

async function runtime(rt, threads, relaxed) {
  if (threads === 1) return { rt, own: false };
  const { createRuntime } = await import('../dist/node/index.js');
  const own = await createRuntime({ threads, relaxed });
  if (own.features.threads !== threads) throw new Error(`bench: asked for ${threads} threads, got ${own.features.threads}: ${own.features.notes.join('; ')}`);
  return { rt: own, own: true };
}

/** Our side: the net (seeded weights), an input batch and the output tensor. */
async function prepare(rt, spec, batch) {
  const m = await import('../dist/index.js');
  rt.reseed(1);
  const net = spec.make(m, rt);
  const x = rt.uniform(rt.tensor([batch, ...spec.input]));
  const out = rt.tensor([batch, 10]);
  net.predict(x, false, out); // plan the buffers for this batch
  return { net, x, out };
}

/** Runs ort-peer.mjs; resolves with its JSON line. */
function ortChild(modelFile, inputFile, batch, threads, time, inputShape) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./ort-peer.mjs', import.meta.url)), modelFile, inputFile, String(batch), String(threads), String(time)],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ORT_INPUT_SHAPE: JSON.stringify(inputShape) } });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill(), 120_000 + 4 * time);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      try { resolve(JSON.parse(out.trim().split('\n').pop())); } catch { reject(new Error(`ort-peer exited ${code}: ${err.trim().split('\n').pop()}`)); }
    });
  });
}

/** The ORT-web peer: same weights and input as ours (seeded), logits compared. */
const ortPeer = (suite, spec, batch, threads) => async () => {
  const { createRuntime } = await import('../dist/node/index.js');
  const rt = await createRuntime({ threads: 1 });
  const { net, x, out } = await prepare(rt, spec, batch);
  const dir = mkdtempSync(path.join(tmpdir(), 'simdnn-ort-'));
  try {
    const modelFile = path.join(dir, 'model.onnx'), inputFile = path.join(dir, 'x.f32');
    writeFileSync(modelFile, onnxModel(net, spec.input));
    writeFileSync(inputFile, x.toArray());
    const r = await ortChild(modelFile, inputFile, batch, threads, suite.time, spec.input);
    if (r.threads !== threads) return { skip: `ORT-web ran on ${r.threads} threads, not ${threads}` };
    const ours = out.toArray();
    let diff = 0, scale = 0;
    for (let i = 0; i < ours.length; i++) { diff = Math.max(diff, Math.abs(ours[i] - r.logits[i])); scale = Math.max(scale, Math.abs(ours[i])); }
    if (!(diff <= 1e-5 * Math.max(1, scale))) return { error: `logits differ from ours by ${diff.toExponential(2)} (largest logit ${scale.toFixed(3)})` };
    return { ms: r.ms, note: `onnxruntime-web 1.30 wasm, ${threads} thread${threads > 1 ? 's' : ''}; logits within ${diff.toExponential(1)} of ours` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    net.dispose();
    rt.dispose();
  }
};

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  for (const spec of NETS) {
    for (const threads of THREADS) {
      for (const batch of suite.quick ? QUICK_BATCHES : BATCHES) {
        suite.add(`${spec.label} predict, batch ${batch}, ${threads} thread${threads > 1 ? 's' : ''}`, {
          wallClock: threads > 1,
          ours: async (rt0, ctx) => {
            const { rt, own } = await runtime(rt0, threads, ctx.relaxed);
            const { net, x, out } = await prepare(rt, spec, batch);
            return {
              fn: () => net.predict(x, false, out),
              dispose: () => { net.dispose(); x.dispose(); out.dispose(); if (own) rt.dispose(); },
            };
          },
          external: { 'ort-web': ortPeer(suite, spec, batch, threads) },
        });
      }
    }
  }
  suite.add('predict fixed cost: MultiLayerNet 1-[1]-1, batch 1 (checks, planning, dispatch; target < 0.010 ms)', {
    ours: async (rt) => {
      const m = await import('../dist/index.js');
      const net = new m.MultiLayerNet(rt, { inputSize: 1, hiddenSizeList: [1], outputSize: 1 });
      const x = rt.tensor([1, 1], [0.5]), out = rt.tensor([1, 1]);
      net.predict(x, false, out);
      return { fn: () => net.predict(x, false, out), dispose: () => { net.dispose(); x.dispose(); out.dispose(); } };
    },
  });
}
