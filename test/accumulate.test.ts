// TrainerOptions.accumulateSteps: the optimizer updates once every k batches with the mean of their gradients, as
// Keras 3's optimizer does with gradient_accumulation_steps (keras/src/optimizers/base_optimizer.py, BaseOptimizer._backend_apply_gradients:
// on an update step grads = (g + acc) / steps, then clipping, the update and acc = 0; otherwise acc = g + acc). Checked
// against that loop written here (the Trainer's batches, net.gradient() per batch, the float32 sums and mean in JS,
// optimizer.update) to the bit, with SGD and Adam, groups across epoch ends, and a net with and without a contiguous
// ParameterSet; against one batch of k·B within float32 rounding; and for what goes with it: a NaN batch, checkpoints
// taken within a group (a model file's `accum.<name>` tensors), per-step schedules, ema, 2 threads, memory per step,
// bad options.
import { describe, it, expect, vi } from 'vitest';
import { makeRuntime, expectBits, expectClose, randomArray, randomInts } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import { headerLength, repacked, unpacked } from './helpers/safetensors.js';
import {
  MultiLayerNet, Sequential, Affine, Relu, Trainer, Adam, SGD, StepLR, OneCycleLR, NonFiniteError, OutOfMemoryError,
  loadModel, inspectModel, saveModel, type ElementwiseOptimizer, type Optimizer, type Runtime, type TrainerBaseOptions, type TrainerState, type StepEvent,
} from '../src/index.js';

const f32 = Math.fround;
type Params = Record<string, Float32Array>;
interface Batch { x: Float32Array; t: number[] }

const paramsOf = (net: Sequential): Params => Object.fromEntries(Object.entries(net.params).map(([k, t]) => [k, t.toArray()]));

function expectParams(got: Params, want: Params, what: string): void {
  expect(Object.keys(got).sort(), `${what}: keys`).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) expectBits(got[k], want[k], `${what}: ${k}`);
}

type NetKind = 'mlp' | 'sequential';


/**
 * 2-[8, 8]-2: MultiLayerNet (its parameters in one ParameterSet) or the same layers as a plain Sequential (a tensor
 * each), of class `Net` (a Sequential's subclass).
 */
function makeNet(r: Runtime, kind: NetKind, Net: typeof Sequential = Sequential): Sequential {
  if (kind === 'mlp') return new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2 });
  const sizes = [2, 8, 8, 2];
  const layers = [];
  for (let i = 0; i < 3; i++) {
    layers.push(new Affine(r.tensor([sizes[i], sizes[i + 1]], randomArray(sizes[i] * sizes[i + 1], 40 + i, -0.5, 0.5)), r.tensor([sizes[i + 1]], randomArray(sizes[i + 1], 50 + i, -0.1, 0.1))));
    if (i < 2) layers.push(new Relu());
  }
  return new Net(r, layers);
}

/**
 * A Trainer on 120 blob rows, batch 24 (5 batches an epoch, so groups of 2 and 3 run across epoch ends), 3 epochs, on
 * a runtime of its own; `batches` gets every batch it trains on (an augment that copies it), `events` every StepEvent.
 */
async function setup(options: TrainerBaseOptions = {}, { kind = 'mlp' as NetKind, seed = 5, optimizer = (): ElementwiseOptimizer => new Adam({ lr: 0.05 }), Net = Sequential } = {}) {
  const r = await makeRuntime({ seed });
  const net = makeNet(r, kind, Net);
  const initial = net.exportParams();
  const d = blobs(r, 120, 1), te = blobs(r, 40, 2);
  const opt = optimizer();
  const batches: Batch[] = [], events: StepEvent[] = [];
  /** Set by a test: called after every step. */
  const hooks: { step?: (e: StepEvent) => void } = {};
  const user = options.callbacks;
  const trainer = new Trainer(net, d.x, d.t, te.x, te.t, {
    epochs: 3, miniBatchSize: 24, optimizer: opt,
    augment: (x, t) => { batches.push({ x: x.toArray(), t: Array.from(t.toArray()) }); },
    ...options,
    callbacks: { ...user, onStepEnd: (e) => { events.push(e); hooks.step?.(e); return user?.onStepEnd?.(e); } },
  });
  const end = () => { trainer.dispose(); opt.dispose(); net.dispose(); r.dispose(); };
  return { r, net, initial, opt, trainer, batches, events, hooks, end };
}

/**
 * Keras 3's loop with gradient_accumulation_steps k, by hand: net.gradient() per batch, acc = fround(g + acc) until a
 * group's k-th batch, whose update takes fround(fround(g + acc) · fround(1/k)) (Keras divides by k; the kernels have
 * no division by a scalar, and for k = 2 the product is the quotient), then acc = 0. Returns the parameters after each
 * batch. On `r`, from `initial`, with the optimizer `opt` (fresh).
 */
function reference(r: Runtime, kind: NetKind, initial: ReturnType<Sequential['exportParams']>, batches: Batch[], k: number, opt: Optimizer): Params[] {
  const net = makeNet(r, kind);
  net.importParams(initial);
  const acc: Params = Object.fromEntries(Object.entries(net.params).map(([key, t]) => [key, new Float32Array(t.size)]));
  const inv = f32(1 / k);
  const after: Params[] = [];
  let pending = 0;
  for (const b of batches) {
    const x = r.tensor([b.t.length, 2], b.x);
    const g = net.gradient(x, b.t);
    if (pending < k - 1) {
      for (const [key, a] of Object.entries(acc)) { const gd = g[key].data; for (let i = 0; i < a.length; i++) a[i] = f32(gd[i] + a[i]); }
      pending++;
    } else {
      for (const [key, a] of Object.entries(acc)) {
        const mean = g[key].toArray();
        for (let i = 0; i < a.length; i++) mean[i] = f32(f32(mean[i] + a[i]) * inv);
        g[key].data.set(mean);
        a.fill(0);
      }
      opt.update(net.params, g);
      pending = 0;
    }
    after.push(paramsOf(net));
    x.dispose();
  }
  net.dispose();
  return after;
}

describe('accumulateSteps: Keras 3\'s gradient_accumulation_steps, to the bit', () => {
  it('k = 1 is the run without the option, to the bit', async () => {
    const a = await setup(), b = await setup({ accumulateSteps: 1 });
    const ra = a.trainer.train(), rb = b.trainer.train();
    expectParams(paramsOf(b.net), paramsOf(a.net), 'k = 1');
    expect(rb.trainLossList).toEqual(ra.trainLossList);
    expect(b.events.every((e) => e.optimizerStep)).toBe(true);
    expect(b.trainer.trainerState()).toMatchObject({ accumulateSteps: 1, accumulated: 0, accum: null });
    a.end(); b.end();
  });

  for (const kind of ['mlp', 'sequential'] as const) {
    for (const [name, optimizer] of [['SGD', () => new SGD({ lr: 0.2 })], ['Adam', () => new Adam({ lr: 0.05 })]] as const) {
      for (const k of [2, 3]) {
        it(`${kind}, ${name}, k = ${k}: the parameters after every batch are the hand-written loop's (15 batches, groups across epoch ends)`, async () => {
          const s = await setup({ accumulateSteps: k }, { kind, optimizer });
          const after: Params[] = [];
          s.hooks.step = () => { after.push(paramsOf(s.net)); };
          const result = s.trainer.train();
          expect(result.steps).toBe(15);
          expect(s.batches).toHaveLength(15);
          const want = reference(s.r, kind, s.initial, s.batches, k, optimizer());
          after.forEach((p, i) => expectParams(p, want[i], `after batch ${i + 1}`));
          // every k-th batch updated: Keras's is_update_step, (iterations + 1) % steps == 0
          expect(s.events.map((e) => e.optimizerStep)).toEqual(Array.from({ length: 15 }, (_, i) => (i + 1) % k === 0));
          expect(s.events.map((e) => e.iter)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
          expect(s.opt.t, 'updates').toBe(Math.floor(15 / k));
          expect(result.epochs.map((e) => e.steps)).toEqual([5, 5, 5]);
          s.end();
        });
      }
    }
  }

  it('the mean is clipped, after the k-th batch (PyTorch clips after the last backward), and gradNorm is its norm', async () => {
    const k = 3, maxNorm = 0.05;
    const s = await setup({ accumulateSteps: k, clipGradNorm: maxNorm, clipGradValue: 0.04 }, { optimizer: () => new SGD({ lr: 0.5 }) });
    s.trainer.train();
    // the loop by hand, clamping then clipping the mean
    const net = makeNet(s.r, 'mlp');
    net.importParams(s.initial);
    const opt = new SGD({ lr: 0.5 });
    const acc: Params = Object.fromEntries(Object.entries(net.params).map(([key, t]) => [key, new Float32Array(t.size)]));
    const norms: number[] = [];
    s.batches.forEach((b, i) => {
      const x = s.r.tensor([b.t.length, 2], b.x);
      const g = net.gradient(x, b.t);
      if ((i + 1) % k !== 0) {
        for (const [key, a] of Object.entries(acc)) { const gd = g[key].data; for (let j = 0; j < a.length; j++) a[j] = f32(gd[j] + a[j]); }
      } else {
        let sum = 0;
        const means: Params = {};
        for (const [key, a] of Object.entries(acc)) {
          const m = g[key].toArray();
          for (let j = 0; j < a.length; j++) { m[j] = Math.min(Math.max(f32(f32(m[j] + a[j]) * f32(1 / k)), f32(-0.04)), f32(0.04)); sum += m[j] * m[j]; }
          means[key] = m;
          a.fill(0);
        }
        const total = Math.sqrt(sum);
        norms.push(total);
        const coef = f32(maxNorm / (total + 1e-6));
        for (const [key, m] of Object.entries(means)) g[key].data.set(coef < 1 ? m.map((v) => f32(v * coef)) : m);
        opt.update(net.params, g);
      }
      x.dispose();
    });
    expectParams(paramsOf(s.net), paramsOf(net), 'clipped');
    const reported = s.events.filter((e) => e.optimizerStep).map((e) => e.gradNorm);
    expect(reported).toHaveLength(5);
    reported.forEach((n, i) => expect(n).toBeCloseTo(norms[i], 12));
    expect(norms.some((n) => n > maxNorm), 'the bound clips some mean').toBe(true);
    expect(s.events.filter((e) => !e.optimizerStep).every((e) => e.gradNorm === undefined), 'no norm on the batches that only add').toBe(true);
    net.dispose(); opt.dispose(); s.end();
  });

  it('k batches of B train as one batch of k·B would, within float32 rounding (SGD, 3 epochs of 96 rows)', async () => {
    // 96 rows: batches of 24 (4 an epoch, 2 updates) and of 48 (2 an epoch) take the same rows from the same permutation
    const run = async (batch: number, k: number) => {
      const r = await makeRuntime({ seed: 9 });
      const net = makeNet(r, 'mlp'), d = blobs(r, 96, 3), te = blobs(r, 20, 4), opt = new SGD({ lr: 0.3 });
      const trainer = new Trainer(net, d.x, d.t, te.x, te.t, { epochs: 3, miniBatchSize: batch, optimizer: opt, accumulateSteps: k });
      trainer.train();
      const out = { params: paramsOf(net), updates: opt.t };
      trainer.dispose(); opt.dispose(); net.dispose(); r.dispose();
      return out;
    };
    const small = await run(24, 2), big = await run(48, 1);
    expect(small.updates).toBe(6);
    expect(big.updates).toBe(6);
    // a float64 argument: each gradient differs by float32 rounding of sums over 24 against 48 rows (~1e-7 relative), and
    // 6 updates of lr 0.3 carry at most a few times that into parameters of magnitude ≤ ~2
    for (const key of Object.keys(big.params)) expectClose(small.params[key], big.params[key], { rtol: 1e-5, atol: 1e-6 }, key);
  });
});

describe('accumulateSteps: a failed batch, checkpoints, schedules, ema, threads, memory', () => {
  /** A Trainer whose augment makes batch call number `at` (0-based) NaN once. */
  async function poisoned(k: number, at: number) {
    let calls = 0;
    const s = await setup({ accumulateSteps: k, augment: (x) => { if (calls++ === at) x.data.fill(NaN); } });
    return s;
  }

  it('a NaN batch throws NonFiniteError and leaves parameters, optimizer and the group\'s sums as they were; the run goes on with the uninterrupted bits', async () => {
    const clean = await setup({ accumulateSteps: 3 });
    clean.trainer.train();
    const want = paramsOf(clean.net);
    // batch 5 adds to its group (4 and 5 of group 4–6), batch 6 completes it
    for (const at of [4, 5]) {
      const s = await poisoned(3, at);
      let before: TrainerState | null = null;
      s.hooks.step = (e) => { if (e.iter === at) before = JSON.parse(JSON.stringify(e.trainer.trainerState())) as TrainerState; };
      expect(() => s.trainer.train(), `batch ${at + 1}`).toThrow(NonFiniteError);
      const after = JSON.parse(JSON.stringify(s.trainer.trainerState())) as TrainerState;
      expect(after.accumulated, `batch ${at + 1}: the batches summed`).toBe(at % 3);
      expect(after.accum, `batch ${at + 1}: the sums`).toEqual(before!.accum);
      expect(after.params, `batch ${at + 1}: the parameters`).toEqual(before!.params);
      expect(after.optimizer, `batch ${at + 1}: the optimizer`).toEqual(before!.optimizer);
      expect(after.iter).toBe(at);
      s.trainer.train(); // the same batch again, unpoisoned
      expectParams(paramsOf(s.net), want, `after the NaN at batch ${at + 1}`);
      s.end();
    }
    clean.end();
  });

  it('gradients NaN with a finite loss, or whose sum over the group could overflow float32, are refused as non-finite, the sums untouched', async () => {
    const cases: Array<[number, RegExp]> = [
      // finite gradients of 2-norm √2·1e38 > 3.4e38 / 3
      [1e38, /^Trainer: step 5 produced gradients of 2-norm over 3\.4e38 \/ accumulateSteps \(3\), whose sum over the group could overflow float32 to Inf; parameters, running statistics, optimizer state and the summed gradients of the group left as they were/],
      [NaN, /^Trainer: step 5 produced NaN\/Inf gradients; parameters, running statistics, optimizer state and the summed gradients of the group left as they were/],
    ];
    for (const [value, error] of cases) {
      let calls = 0;
      // the 5th batch's gradients, the second of its group (its loss is finite)
      class Huge extends Sequential {
        override gradient(...args: Parameters<Sequential['gradient']>): ReturnType<Sequential['gradient']> {
          const g = super.gradient(...args);
          if (calls++ === 4) g.b3.data.fill(value);
          return g;
        }
      }
      const s = await setup({ accumulateSteps: 3 }, { kind: 'sequential', Net: Huge });
      let before: TrainerState | null = null;
      s.hooks.step = (e) => { if (e.iter === 4) before = JSON.parse(JSON.stringify(e.trainer.trainerState())) as TrainerState; };
      expect(() => s.trainer.train(), String(value)).toThrow(error);
      const after = JSON.parse(JSON.stringify(s.trainer.trainerState())) as TrainerState;
      expect(after).toMatchObject({ iter: 4, accumulated: 1 });
      expect(after.accum).toEqual(before!.accum);
      expect(after.params).toEqual(before!.params);
      s.trainer.train(); // calls 5 on: the batch again, with its own gradients
      expect(s.trainer.trainerState()).toMatchObject({ iter: 15, accumulated: 0 });
      s.end();
    }
  });

  /** The states taken within a group (after batch 4 with k = 3), at an epoch's end within a group (batch 5) and at the run's end, and the final parameters. */
  async function uninterrupted(options: TrainerBaseOptions) {
    const states: Record<string, { json: TrainerState; bytes: Uint8Array; lr: number }> = {};
    const take = (name: string, trainer: Trainer) => {
      states[name] = { json: JSON.parse(JSON.stringify(trainer.trainerState())) as TrainerState, bytes: trainer.checkpointBytes(), lr: (trainer.optimizer as Adam).lr };
    };
    const s = await setup({
      ...options,
      callbacks: { onStepEnd: (e) => { if (e.iter === 4) take('within a group', e.trainer); }, onEpochEnd: (e) => { if (e.epoch === 1) take('epoch end', e.trainer); if (e.epoch === 3) take('run end', e.trainer); } },
    });
    s.trainer.train();
    const final = paramsOf(s.net);
    s.end();
    return { states, final };
  }

  const resumed: TrainerBaseOptions = { accumulateSteps: 3, ema: { decay: 0.9 }, lrSchedule: new StepLR({ stepSize: 2, gamma: 0.5, interval: 'step' }) };

  it('a run resumed within a group (mid-epoch, at an epoch\'s end) or at its end ends with the uninterrupted bits (JSON and model file)', async () => {
    const { states, final } = await uninterrupted(resumed);
    expect(states['within a group'].json).toMatchObject({ accumulateSteps: 3, accumulated: 1 });
    expect(states['epoch end'].json).toMatchObject({ accumulateSteps: 3, accumulated: 2 });
    expect(Object.keys(states['epoch end'].json.accum!).sort()).toEqual(['W1', 'W2', 'W3', 'b1', 'b2', 'b3']);
    for (const [name, { json, bytes, lr }] of Object.entries(states)) {
      for (const [form, state] of [['JSON', json], ['model file', bytes]] as const) {
        const s = await setup(resumed, { seed: 77 }); // another seed: every bit must come from the state
        s.trainer.resume(state);
        expect((s.opt as Adam).lr, `resumed ${name} from its ${form}: the rate of the schedule's last period`).toBe(lr);
        s.trainer.train();
        expectParams(paramsOf(s.net), final, `resumed ${name} from its ${form}`);
        s.end();
      }
    }
  });

  it('a model file taken within a group holds the sums as accum.<name> tensors, its header the size of one between groups; loadModel leaves them aside', async () => {
    // 300-[300]-30: 99,330 parameters, whose sums as JSON numbers took ~2 MB of the header
    const r = await makeRuntime({ seed: 4 });
    const net = new MultiLayerNet(r, { inputSize: 300, hiddenSizeList: [300], outputSize: 30 });
    const x = r.tensor([40, 300], randomArray(40 * 300, 6)), t = r.labels([40], randomInts(40, 7, 30));
    const taken: Array<{ bytes: Uint8Array; state: TrainerState; params: Params }> = [];
    const trainer = new Trainer(net, x, t, x, t, {
      epochs: 1, miniBatchSize: 10, optimizer: 'adam', accumulateSteps: 2,
      callbacks: { onStepEnd: (e) => { if (e.iter <= 2) taken.push({ bytes: e.trainer.checkpointBytes(), state: e.trainer.trainerState(), params: paramsOf(net) }); } },
    });
    trainer.train();
    const [within, between] = taken;
    // the same header but for 4 tensor entries and the position's count (JSON numbers: > 1 MB more)
    expect(Math.abs(headerLength(within.bytes) - headerLength(between.bytes)), 'header bytes within a group, against between groups').toBeLessThan(1024);
    const info = inspectModel(within.bytes);
    const sums = info.tensors.filter((e) => e.name.startsWith('accum.'));
    expect(sums.map(({ name, dtype, shape }) => ({ name, dtype, shape }))).toEqual(Object.entries(net.params).map(([k, p]) => ({ name: `accum.${k}`, dtype: 'F32', shape: [...p.shape] })));
    expect(info.parameterCount, 'the net\'s tensors only').toBe(99330);
    expect(inspectModel(between.bytes).tensors.some((e) => e.name.startsWith('accum.')), 'between groups: no sums').toBe(false);
    const position = JSON.parse(info.metadata.trainer) as Record<string, unknown>;
    expect(position).toMatchObject({ accumulateSteps: 2, accumulated: 1 });
    expect(position, 'the position\'s JSON').not.toHaveProperty('accum');
    // loaded as a plain model: the net is the parameters, the sums set aside (the JSON state's, to the bit)
    const loaded = loadModel(r, within.bytes);
    expectParams(paramsOf(loaded.net), within.params, 'the loaded net');
    expect(Object.keys(loaded.accum!).sort()).toEqual(Object.keys(net.params).sort());
    for (const [k, v] of Object.entries(within.state.accum!)) expectBits(loaded.accum![k].data, Float32Array.from(v.data), `accum.${k}`);
    expect(within.state.accum!.W1.data.some((v) => v !== 0), 'the sums are not zeros').toBe(true);
    loaded.net.dispose(); loaded.optimizer?.dispose(); trainer.dispose(); x.dispose(); t.dispose(); net.dispose(); r.dispose();
  });

  it('resume() from a model file refuses missing, partial, misshapen or non-finite accum tensors, naming them, writing nothing', async () => {
    const { states } = await uninterrupted(resumed);
    const mid = states['within a group'].bytes, end = states['run end'].bytes;
    const sums = [...unpacked(mid).tensors].filter(([name]) => name.startsWith('accum.'));
    expect(sums).toHaveLength(6);
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['without accum.W1', repacked(mid, (t) => { t.delete('accum.W1'); }), /^loadModel: the file has no tensor 'accum\.W1' beside its other 'accum\.' tensors \(a checkpoint's gradients summed over a group of batches\)$/],
      ['without any', repacked(mid, (t) => { for (const [name] of sums) t.delete(name); }), /^Trainer\.resume: the state \(after step 4\) is within a group of 3 batches and holds no accum \(the group's summed gradients\)$/],
      ['accum.b1 of another shape', repacked(mid, (t) => { t.set('accum.b1', { ...t.get('accum.b1')!, shape: [2, 4] }); }), /^loadModel: tensor 'accum\.b1' has shape \[2, 4\], 'b1' has \[8\]$/],
      ['accum.W9', repacked(mid, (t) => { t.set('accum.W9', t.get('accum.W1')!); }), /^loadModel: tensor 'accum\.W9' \(a checkpoint's gradients summed over a group of batches\) names no parameter of the net$/],
      ['accum.b1 cut short', repacked(mid, (t) => { const e = t.get('accum.b1')!; t.set('accum.b1', { ...e, data: e.data.subarray(4) }); }), /^safetensors: tensor 'accum\.b1': shape \[8\] of F32 needs 32 bytes, data_offsets give 28$/],
      ['a NaN in accum.b1', repacked(mid, (t) => { const e = t.get('accum.b1')!, data = e.data.slice(); new DataView(data.buffer).setFloat32(12, NaN, true); t.set('accum.b1', { ...e, data }); }), /^Trainer\.resume: accum\['b1'\]\[3\] must be a finite number, got NaN$/],
      ['sums between groups', repacked(end, (t) => { for (const [name, e] of sums) t.set(name, e); }), /^Trainer\.resume: the state holds accum \(summed gradients\) between groups of accumulateSteps 3/],
    ];
    for (const [what, file, error] of cases) {
      const s = await setup(resumed, { seed: 77 });
      s.trainer.train();
      const before = JSON.stringify(s.trainer.trainerState()), random = s.r.randomState;
      expect(() => s.trainer.resume(file), what).toThrow(error);
      expect(JSON.stringify(s.trainer.trainerState()), `${what}: the Trainer, its net and optimizer`).toBe(before);
      expect(s.r.randomState, `${what}: the random stream`).toEqual(random);
      s.end();
    }
    // the file as written resumes (the cases above are its edits)
    const s = await setup(resumed, { seed: 77 });
    s.trainer.resume(repacked(mid, () => {}));
    expect(s.trainer.trainerState()).toMatchObject({ iter: 4, accumulated: 1 });
    s.end();
  });

  it('saveModel\'s accum option holds every parameter, shaped like it', async () => {
    const r = await makeRuntime();
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const accum = Object.fromEntries(Object.entries(net.params).map(([k, p]) => [k, { shape: [...p.shape], data: p.toArray().map((v) => v * 3) }]));
    const loaded = loadModel(r, saveModel(net, { accum }));
    for (const k of Object.keys(accum)) expectBits(loaded.accum![k].data, accum[k].data, k);
    const { W1: _, ...noW1 } = accum;
    expect(() => saveModel(net, { accum: noW1 })).toThrow(/^saveModel: accum\['W1'\] is missing \(accum holds every parameter of the net\)$/);
    expect(() => saveModel(net, { accum: { ...accum, W3: accum.W1 } })).toThrow(/^saveModel: accum\['W3'\] is no parameter of the net$/);
    expect(() => saveModel(net, { accum: { ...accum, b1: { shape: [2, 2], data: [1, 2, 3, 4] } } })).toThrow(/^saveModel: accum\['b1'\] must have the shape \[4\] and 4 values$/);
    loaded.net.dispose(); net.dispose(); r.dispose();
  });

  it('resume() refuses another accumulateSteps or a group it cannot continue, writing nothing', async () => {
    const { states } = await uninterrupted(resumed);
    const mid = states['within a group'].json, accum = mid.accum!;
    const cases: Array<[string, TrainerBaseOptions, TrainerState | Uint8Array, RegExp]> = [
      ['k 2', { ...resumed, accumulateSteps: 2 }, mid, /^Trainer\.resume: the state's run has accumulateSteps 3, this Trainer 2: a resumed run must update as the interrupted one did$/],
      ['k 1 (no option)', { ...resumed, accumulateSteps: undefined }, states['within a group'].bytes, /^Trainer\.resume: the state's run has accumulateSteps 3, this Trainer 1/],
      ['a state of before the option, k 3', resumed, { ...mid, accumulateSteps: undefined, accumulated: undefined, accum: undefined }, /^Trainer\.resume: the state's run has accumulateSteps 1, this Trainer 3/],
      ['another count', resumed, { ...mid, accumulated: 2 }, /^Trainer\.resume: the state's accumulated 2 is not the batches of the group in progress after step 4 with accumulateSteps 3 \(1\)$/],
      ['no sums', resumed, { ...mid, accum: null }, /^Trainer\.resume: the state \(after step 4\) is within a group of 3 batches and holds no accum/],
      ['sums between groups', resumed, { ...states['run end'].json, accumulated: 0, iter: 15, accum }, /^Trainer\.resume: the state holds accum \(summed gradients\) between groups/],
      ['an unknown key', resumed, { ...mid, accum: { ...accum, W9: accum.W1 } }, /^Trainer\.resume: accum\['W9'\] is no parameter of the net/],
      ['the wrong shape', resumed, { ...mid, accum: { ...accum, W1: { shape: [8, 2], data: accum.W1.data } } }, /^Trainer\.resume: accum\['W1'\] must have the shape \[2, 8\] and 16 values$/],
      ['a NaN', resumed, { ...mid, accum: { ...accum, b1: { shape: [8], data: [0, 0, 0, null as never, 0, 0, 0, 0] } } }, /^Trainer\.resume: accum\['b1'\]\[3\] must be a finite number, got null$/],
    ];
    for (const [what, options, state, error] of cases) {
      const s = await setup(options, { seed: 77 });
      s.trainer.train();
      const before = JSON.stringify(s.trainer.trainerState()), random = s.r.randomState;
      expect(() => s.trainer.resume(state), what).toThrow(error);
      expect(JSON.stringify(s.trainer.trainerState()), `${what}: the Trainer, its net and optimizer`).toBe(before);
      expect(s.r.randomState, `${what}: the random stream`).toEqual(random);
      s.end();
    }
  });

  it('a per-step schedule advances once per update (⌊15 / 2⌋ = 7 periods); OneCycleLR\'s totalSteps counts updates', async () => {
    const s = await setup({ accumulateSteps: 2, lrSchedule: new StepLR({ stepSize: 1, gamma: 0.5, interval: 'step' }) }, { optimizer: () => new SGD({ lr: 0.1 }) });
    s.trainer.train();
    // batch i uses period ⌊i / 2⌋; the 15th, whose group the run ends in, asks no period 7 (its rate stays period 6's)
    expect(s.events.map((e) => e.lr)).toEqual(Array.from({ length: 15 }, (_, i) => 0.1 * 0.5 ** Math.min(Math.floor(i / 2), 6)));
    s.end();
    const fits = await setup({ accumulateSteps: 2, lrSchedule: new OneCycleLR({ maxLr: 0.1, totalSteps: 7 }) });
    fits.trainer.train();
    fits.end();
    await expect(setup({ accumulateSteps: 2, lrSchedule: new OneCycleLR({ maxLr: 0.1, totalSteps: 6 }) }))
      .rejects.toThrow(/^Trainer: lrSchedule OneCycleLR defines 6 steps, and this run takes 7 \(updates of 2 batches each: accumulateSteps\)/);
    await expect(setup({ lrSchedule: new OneCycleLR({ maxLr: 0.1, totalSteps: 7 }) })).rejects.toThrow(/defines 7 steps, and this run takes 15 steps/);
  });

  it('resumed within the group the run ends in, the rate is the schedule\'s last period\'s (k = 4: 3 updates, batches 13–15 none)', async () => {
    const schedule = (): TrainerBaseOptions => ({ accumulateSteps: 4, lrSchedule: new StepLR({ stepSize: 1, gamma: 0.5, interval: 'step' }) });
    const s = await setup(schedule(), { optimizer: () => new SGD({ lr: 0.1 }) });
    let state: TrainerState | null = null;
    s.hooks.step = (e) => { if (e.iter === 14) state = e.trainer.trainerState(); };
    s.trainer.train();
    expect(s.events.map((e) => e.lr).slice(8)).toEqual([0.025, 0.025, 0.025, 0.025, 0.025, 0.025, 0.025]);
    const again = await setup(schedule(), { optimizer: () => new SGD({ lr: 0.1 }) });
    again.trainer.resume(state!);
    expect((again.opt as SGD).lr).toBe(0.025);
    s.end(); again.end();
  });

  it('ema averages once per update: the run ends with the average of the parameters after each update', async () => {
    const s = await setup({ accumulateSteps: 3, ema: { decay: 0.8 } });
    const updated: Params[] = [];
    s.hooks.step = (e) => { if (e.optimizerStep) updated.push(paramsOf(s.net)); };
    s.trainer.train();
    expect(updated).toHaveLength(5);
    const keep = f32(0.8), take = f32(1 - keep);
    const avg: Params = Object.fromEntries(Object.entries(updated[0]).map(([k, v]) => [k, v.slice()]));
    for (const w of updated.slice(1)) for (const k of Object.keys(avg)) for (let i = 0; i < avg[k].length; i++) avg[k][i] = f32(f32(keep * avg[k][i]) + f32(take * w[k][i]));
    expectParams(paramsOf(s.net), avg, 'the average');
    s.end();
  });

  it('with ema, a state taken before the first update (no average yet) resumes to the uninterrupted bits; one holding an average there is refused', async () => {
    const options = { accumulateSteps: 3, ema: { decay: 0.8 } };
    const whole = await setup(options);
    const early: Record<number, TrainerState> = {};
    whole.hooks.step = (e) => { if (e.iter < 3) early[e.iter] = JSON.parse(JSON.stringify(whole.trainer.trainerState())) as TrainerState; };
    whole.trainer.train();
    const final = paramsOf(whole.net);
    const late = whole.trainer.trainerState();
    whole.end();
    for (const iter of [1, 2]) {
      expect(early[iter]).toMatchObject({ iter, accumulated: iter, ema: null });
      const s = await setup(options, { seed: 77 });
      s.trainer.resume(early[iter]);
      s.trainer.train();
      expectParams(paramsOf(s.net), final, `resumed after batch ${iter} of the first group`);
      s.end();
    }
    const s = await setup(options, { seed: 77 });
    expect(() => s.trainer.resume({ ...early[2], ema: late.ema })).toThrow(/^Trainer\.resume: the state holds ema averages before the run's first update \(after step 2;/);
    s.end();
  });

  it('2 threads (the MLP\'s row chain, splits everywhere) give 1 thread\'s bits', async () => {
    const run = async (threads: number) => {
      const r = await makeRuntime({ seed: 3, threads, busyCores: 'split' });
      await r.ready;
      const net = new MultiLayerNet(r, { inputSize: 61, hiddenSizeList: [100, 100], outputSize: 10 });
      // batches of 100 rows: enough work for the row chain (half a batch of it at least 2^20 multiply-adds)
      const x = r.tensor([600, 61], randomArray(600 * 61, 8)), t = r.labels([600], randomInts(600, 9, 10));
      const opt = new Adam({ lr: 0.01 });
      const spy = vi.spyOn(r, 'runParts');
      const trainer = new Trainer(net, x, t, x, t, { epochs: 2, miniBatchSize: 100, optimizer: opt, accumulateSteps: 4, adaptiveThreads: false });
      trainer.train();
      const chained = spy.mock.calls.filter(([name]) => name === 'runChain').length;
      spy.mockRestore();
      const out = { params: paramsOf(net), chained, updates: opt.t };
      trainer.dispose(); opt.dispose(); net.dispose(); x.dispose(); t.dispose(); r.dispose();
      return out;
    };
    const one = await run(1), two = await run(2);
    expect(two.chained, 'the row chain ran').toBeGreaterThan(0);
    expect(one.updates).toBe(3);
    expectParams(two.params, one.params, '2 threads');
  });

  it('a step allocates nothing: the sums are made with the Trainer', async () => {
    const s = await setup({ accumulateSteps: 3 });
    const live: number[] = [];
    // from the second epoch: the first update made the optimizer's state, the first evaluation its buffers
    s.hooks.step = (e) => { if (e.iter > 5) live.push(s.r.memoryStats().blocks); };
    s.trainer.train();
    expect(new Set(live).size).toBe(1);
    s.end();
  });

  it('a new run starts a new group: one the last run ended in does not update', async () => {
    const s = await setup({ accumulateSteps: 2 });
    s.trainer.train();
    expect(s.trainer.trainerState()).toMatchObject({ iter: 15, accumulated: 1 });
    const first = s.events.length;
    s.trainer.train(); // a finished run: the next starts afresh from these parameters
    expect(s.events.slice(first, first + 4).map((e) => e.optimizerStep)).toEqual([false, true, false, true]);
    expect(s.opt.t).toBe(14);
    s.end();
  });

  it('step() called directly is refused with k > 1', async () => {
    const s = await setup({ accumulateSteps: 2 });
    const x = s.r.tensor([2, 2], [0, 1, 1, 0]);
    expect(() => s.trainer.step(x, [0, 1])).toThrow(/^Trainer\.step: this Trainer's accumulateSteps is 2, and step\(\) is one update on one batch/);
    x.dispose(); s.end();
    const one = await setup({ accumulateSteps: 1 });
    const y = one.r.tensor([2, 2], [0, 1, 1, 0]);
    expect(one.trainer.step(y, [0, 1])).toBeGreaterThan(0);
    y.dispose(); one.end();
  });
});

describe('accumulateSteps: bad values', () => {
  it('refuses anything but an integer >= 1, naming options.accumulateSteps, before allocating', async () => {
    const r = await makeRuntime();
    const net = makeNet(r, 'mlp'), d = blobs(r, 20, 1);
    const used = r.memoryStats();
    for (const [v, type] of [[1.5, RangeError], [0, RangeError], [-2, RangeError], [NaN, RangeError], [Infinity, RangeError], ['2', TypeError], [null, TypeError], [2 ** 53, RangeError]] as const) {
      expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { accumulateSteps: v as never }), String(v)).toThrow(type);
      expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { accumulateSteps: v as never }), String(v)).toThrow(/^Trainer: options\.accumulateSteps must be an integer >= 1/);
      expect(r.memoryStats(), `${String(v)}: nothing allocated`).toEqual(used);
    }
    net.dispose(); r.dispose();
  });

  it('memory running out at the sums frees what the Trainer had made', async () => {
    const r = await makeRuntime();
    const net = makeNet(r, 'mlp'), d = blobs(r, 20, 1);
    const alloc = r.alloc;
    for (let budget = 0; ; budget++) {
      let calls = 0;
      const { used, blocks } = r.memoryStats();
      const spy = vi.spyOn(r, 'alloc').mockImplementation((bytes: number) => {
        if (calls++ >= budget) throw new OutOfMemoryError('test: out of memory');
        return alloc.call(r, bytes);
      });
      let trainer: Trainer | null = null;
      try {
        trainer = new Trainer(net, d.x, d.t, d.x, d.t, { accumulateSteps: 4 });
      } catch (e) {
        expect(e).toBeInstanceOf(OutOfMemoryError);
        expect(r.memoryStats(), `allocation ${budget} failed`).toMatchObject({ used, blocks });
      } finally {
        spy.mockRestore();
      }
      if (trainer) { trainer.dispose(); expect(r.memoryStats()).toMatchObject({ used, blocks }); break; }
    }
    net.dispose(); r.dispose();
  });
});
