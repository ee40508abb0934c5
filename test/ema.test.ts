// TrainerOptions.ema: Keras 3's optimizer `use_ema=True, ema_momentum=decay` (ema_overwrite_frequency None). After every
// train()/fit() step the average of each parameter moves (the run's first step copies the parameters, each later one
// is `decay·avg + (1 − decay)·w` in float32, Keras's order), and the run ends with the parameters overwritten by
// it (finalize_variable_values) before early stopping's restoreBest (Keras's on_train_end). Checked against the
// formula computed here in float32 (bits) and float64 (tolerance) from the parameters each step left, and for what
// must not change: batch-norm statistics, the epoch records, a failed step's averages, an aborted run's parameters,
// a resumed run's final bits, 1 thread against 2, memory per step.
import { describe, it, expect } from 'vitest';
import { makeRuntime, expectBits, expectClose } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import { repacked, type SafetensorsEntry } from './helpers/safetensors.js';
import {
  MultiLayerNet, MultiLayerNetExtend, Trainer, Adam, loadModel, saveModel,
  type Optimizer, type TrainerBaseOptions, type TrainerState, type TrainResult, type Sequential,
} from '../src/index.js';

const f32 = Math.fround;
type Params = Record<string, Float32Array>;

/** The net's learned parameters (not its layer state), copied. */
const paramsOf = (net: Sequential): Params => Object.fromEntries(Object.entries(net.params).map(([k, t]) => [k, t.toArray()]));
const stateOf = (net: Sequential): Params => Object.fromEntries(Object.entries(net.state).map(([k, t]) => [k, t.toArray()]));
const record = (r: TrainResult) => ({ ...r, seconds: 0, epochs: r.epochs.map((e) => ({ ...e, seconds: 0 })) });

/** The average as the kernels compute it: a copy, then float32's fround(k·avg) + fround(c·w), k and c as Keras's float32. */
function emaFloat32(steps: Params[], decay: number): Params {
  const k = f32(decay), c = f32(1 - k);
  const avg: Params = Object.fromEntries(Object.entries(steps[0]).map(([key, v]) => [key, v.slice()]));
  for (const w of steps.slice(1)) {
    for (const key of Object.keys(avg)) for (let i = 0; i < avg[key].length; i++) avg[key][i] = f32(f32(k * avg[key][i]) + f32(c * w[key][i]));
  }
  return avg;
}

/** The same average in float64 (PyTorch's AveragedModel with get_ema_multi_avg_fn, without float32 rounding). */
function emaFloat64(steps: Params[], decay: number): Record<string, Float64Array> {
  const avg = Object.fromEntries(Object.entries(steps[0]).map(([key, v]) => [key, Float64Array.from(v)]));
  for (const w of steps.slice(1)) {
    for (const key of Object.keys(avg)) for (let i = 0; i < avg[key].length; i++) avg[key][i] = decay * avg[key][i] + (1 - decay) * w[key][i];
  }
  return avg;
}

function expectParams(got: Params, want: Params, what: string): void {
  expect(Object.keys(got).sort(), `${what}: keys`).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) expectBits(got[k], want[k], `${what}: ${k}`);
}

/**
 * 2-[8, 8]-2 (with batch norm when asked) on 120 rows, batch 20: 6 steps an epoch, 3 epochs, Adam lr 0.05,
 * on a runtime of its own; `steps` gets the parameters after every step, `epochEnds` after every epoch.
 */
async function setup(options: TrainerBaseOptions = {}, { batchnorm = false, seed = 5 } = {}) {
  const r = await makeRuntime({ seed });
  const net = batchnorm
    ? new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2, useBatchnorm: true })
    : new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2 });
  const d = blobs(r, 120, 1), te = blobs(r, 40, 2);
  const opt = new Adam({ lr: 0.05 });
  const steps: Params[] = [], epochEnds: Params[] = [];
  const user = options.callbacks;
  const trainer = new Trainer(net, d.x, d.t, te.x, te.t, {
    epochs: 3, miniBatchSize: 20, optimizer: opt, ...options,
    callbacks: {
      ...user,
      onStepEnd: (e) => { steps.push(paramsOf(net)); return user?.onStepEnd?.(e); },
      onEpochEnd: (e) => { epochEnds.push(paramsOf(net)); return user?.onEpochEnd?.(e); },
    },
  });
  return { r, net, d, opt, trainer, steps, epochEnds, end: () => { trainer.dispose(); opt.dispose(); r.dispose(); } };
}

describe('the average (Keras 3 use_ema, PyTorch AveragedModel with get_ema_multi_avg_fn)', () => {
  for (const decay of [0.9, 0.99, 0.3]) {
    it(`decay ${decay}: the run ends with the float32 formula's bits, within float32 rounding of float64's; the records are the raw parameters'`, async () => {
      const s = await setup({ ema: { decay } });
      const result = s.trainer.train();
      expect(s.steps).toHaveLength(18);
      const want = emaFloat32(s.steps, decay);
      expectParams(paramsOf(s.net), want, 'the parameters the run ended with');
      const ref = emaFloat64(s.steps, decay);
      for (const k of Object.keys(ref)) expectClose(paramsOf(s.net)[k], ref[k], { rtol: 1e-5, atol: 1e-6 }, `float64 reference: ${k}`);
      // the averages are not the last step's parameters (the test would pass with no averaging at all otherwise)
      expect(Array.from(paramsOf(s.net).W1)).not.toEqual(Array.from(s.steps[17].W1));
      // the same run without ema: the same records and steps (the average changes nothing the run sees)
      const plain = await setup();
      const plainResult = plain.trainer.train();
      expect(record(result)).toEqual(record(plainResult));
      expectParams(plain.steps[17], s.steps[17], 'the raw parameters of the last step');
      s.end(); plain.end();
    });
  }

  it('the first step copies the parameters; emaParams() follows every step, null before the first', async () => {
    const seen: Array<Params | null> = [];
    const s = await setup({
      ema: { decay: 0.9 },
      callbacks: { onTrainBegin: (e) => { seen.push(e.trainer.emaParams()); }, onStepEnd: (e) => { seen.push(e.trainer.emaParams()); } },
    });
    expect(s.trainer.emaParams(), 'before any run').toBeNull();
    s.trainer.train();
    expect(seen[0], 'before the first step').toBeNull();
    expectParams(seen[1]!, s.steps[0], 'after the first step: a copy');
    for (let i = 2; i <= 18; i++) expectParams(seen[i]!, emaFloat32(s.steps.slice(0, i), 0.9), `after step ${i}`);
    s.end();
  });

  it('decay 0 ends with the last step\'s parameters, decay 1 with the first step\'s', async () => {
    for (const [decay, step] of [[0, 17], [1, 0]]) {
      const s = await setup({ ema: { decay } });
      s.trainer.train();
      expectParams(paramsOf(s.net), s.steps[step], `decay ${decay}`);
      s.end();
    }
  });

  it('averages the parameters only: batch norm\'s running statistics are the run\'s own', async () => {
    const s = await setup({ ema: { decay: 0.9 } }, { batchnorm: true });
    const plain = await setup({}, { batchnorm: true });
    s.trainer.train();
    plain.trainer.train();
    expect(Object.keys(s.net.state).length).toBeGreaterThan(0);
    expectParams(stateOf(s.net), stateOf(plain.net), 'running statistics');
    expect(Object.keys(s.trainer.emaParams()!).sort()).toEqual(Object.keys(s.net.params).sort());
    expectParams(paramsOf(s.net), emaFloat32(s.steps, 0.9), 'parameters (gamma and beta included)');
    s.end(); plain.end();
  });

  it('a second run starts its average afresh (its first step copies)', async () => {
    const s = await setup({ ema: { decay: 0.9 } });
    s.trainer.train();
    s.steps.length = 0;
    s.trainer.train();
    expectParams(paramsOf(s.net), emaFloat32(s.steps, 0.9), 'the second run');
    s.end();
  });
});

describe('how a run ends', () => {
  it('a failed step leaves the averages as they were; the run goes on to the uninterrupted run\'s bits', async () => {
    let poisoned = false;
    const s = await setup({
      ema: { decay: 0.9 },
      // a NaN in step 9's batch, once: its loss is NaN, the step is refused and put back
      augment: (x) => {
        if (s.steps.length === 8 && !poisoned) { poisoned = true; x.data[0] = NaN; }
      },
    });
    expect(() => s.trainer.train()).toThrow(/the loss is NaN/);
    expect(s.steps).toHaveLength(8);
    expectParams(s.trainer.emaParams()!, emaFloat32(s.steps, 0.9), 'the averages after the failed step');
    s.trainer.train();
    const plain = await setup({ ema: { decay: 0.9 } });
    plain.trainer.train();
    expectParams(paramsOf(s.net), paramsOf(plain.net), 'the run that went on');
    s.end(); plain.end();
  });

  it('a step that fails after its update (parameters overflowed) leaves the averages as they were', async () => {
    // an optimizer of the caller's (the plain, unguarded path): SGD by hand, overflowing W1 at its 5th update
    const t = await setup();
    let calls = 0;
    const overflowing: Optimizer = {
      name: 'overflowing SGD',
      update(params, grads) {
        for (const [k, p] of Object.entries(params)) { const g = grads[k].data, w = p.data; for (let i = 0; i < w.length; i++) w[i] -= 0.1 * g[i]; }
        if (++calls === 5) params.W1.data[3] = Infinity;
      },
    };
    const trainer = new Trainer(t.net, t.d.x, t.d.t, t.d.x, t.d.t, {
      epochs: 1, miniBatchSize: 20, optimizer: overflowing, ema: { decay: 0.5 },
      callbacks: { onStepEnd: () => { t.steps.push(paramsOf(t.net)); } },
    });
    expect(() => trainer.train()).toThrow(/step 5 overflowed the parameters/);
    expect(t.steps).toHaveLength(4);
    expectParams(trainer.emaParams()!, emaFloat32(t.steps, 0.5), 'the averages after the refused update');
    trainer.dispose(); t.end();
  });

  it('early stopping with restoreBest: the best epoch\'s raw parameters win over the averages, also when it is the last', async () => {
    // minDelta 10: only the first epoch improves (on nothing); patience 1 stops at epoch 2
    const stopped = await setup({ ema: { decay: 0.9 }, earlyStopping: { patience: 1, monitor: 'trainLoss', minDelta: 10 } });
    const r1 = stopped.trainer.train();
    expect(r1).toMatchObject({ stopReason: 'earlyStopping', bestEpoch: 1, steps: 12 });
    expectParams(paramsOf(stopped.net), stopped.epochEnds[0], 'epoch 1\'s raw parameters');
    // every epoch improves: the best is the last epoch, whose raw parameters (not the averages) the run ends with
    const last = await setup({ ema: { decay: 0.9 }, earlyStopping: { patience: 5, monitor: 'trainLoss' } });
    const r2 = last.trainer.train();
    expect(r2).toMatchObject({ stopReason: 'completed', bestEpoch: 3 });
    expectParams(paramsOf(last.net), last.epochEnds[2], 'epoch 3\'s raw parameters');
    stopped.end(); last.end();
  });

  it('early stopping without restoreBest, and a callback\'s stop(): the averages of the steps done', async () => {
    const es = await setup({ ema: { decay: 0.9 }, earlyStopping: { patience: 1, monitor: 'trainLoss', minDelta: 10, restoreBest: false } });
    expect(es.trainer.train()).toMatchObject({ stopReason: 'earlyStopping', steps: 12 });
    expectParams(paramsOf(es.net), emaFloat32(es.steps, 0.9), 'stopped by early stopping');
    const cb = await setup({ ema: { decay: 0.9 }, callbacks: { onStepEnd: (e) => { if (e.iter === 8) e.stop(); } } });
    expect(cb.trainer.train()).toMatchObject({ stopReason: 'callback', steps: 8 });
    expectParams(paramsOf(cb.net), emaFloat32(cb.steps, 0.9), 'stopped by a callback');
    es.end(); cb.end();
  });

  it('fit() aborted, or a hook that throws: the last step\'s raw parameters stay', async () => {
    const controller = new AbortController();
    const s = await setup({ ema: { decay: 0.9 }, callbacks: { onStepEnd: (e) => { if (e.iter === 8) controller.abort(new Error('stop')); } } });
    await expect(s.trainer.fit({ signal: controller.signal })).rejects.toThrow('stop');
    expectParams(paramsOf(s.net), s.steps[7], 'aborted after step 8');
    const t = await setup({ ema: { decay: 0.9 }, callbacks: { onEpochEnd: (e) => { if (e.epoch === 2) throw new Error('hook'); } } });
    expect(() => t.trainer.train()).toThrow('hook');
    expectParams(paramsOf(t.net), t.steps[11], 'a hook threw after epoch 2');
    // the run goes on from there and ends as the uninterrupted one
    t.trainer.train();
    expectParams(paramsOf(t.net), emaFloat32(t.steps, 0.9), 'the run that went on');
    s.end(); t.end();
  });
});


describe('checkpoints and resume()', () => {
  /** The states taken after step 8 (mid-epoch 2), after epoch 1 and after the last epoch, and the run's final parameters. */
  async function uninterrupted(options: TrainerBaseOptions = {}) {
    const states: Record<string, { json: TrainerState; bytes: Uint8Array }> = {};
    const take = (name: string, trainer: Trainer) => { states[name] = { json: JSON.parse(JSON.stringify(trainer.trainerState())) as TrainerState, bytes: trainer.checkpointBytes() }; };
    const s = await setup({
      ema: { decay: 0.9 }, ...options,
      callbacks: { onStepEnd: (e) => { if (e.iter === 8) take('mid-epoch', e.trainer); }, onEpochEnd: (e) => { if (e.epoch === 1) take('epoch end', e.trainer); if (e.epoch === 3) take('run end', e.trainer); } },
    });
    s.trainer.train();
    const final = paramsOf(s.net);
    s.end();
    return { states, final };
  }

  it('a run resumed mid-epoch, at an epoch\'s end or at its end ends with the uninterrupted run\'s bits (JSON and model file)', async () => {
    const { states, final } = await uninterrupted();
    expect(states['mid-epoch'].json.ema).not.toBeNull();
    const r = await makeRuntime();
    const file = loadModel(r, states['epoch end'].bytes);
    expect(Object.keys(file.ema!).sort(), 'the model file\'s ema.<name> tensors').toEqual(Object.keys(final).sort());
    file.net.dispose(); file.optimizer?.dispose(); r.dispose();
    for (const [name, { json, bytes }] of Object.entries(states)) {
      for (const [form, state] of [['JSON', json], ['model file', bytes]] as const) {
        const s = await setup({ ema: { decay: 0.9 } }, { seed: 77 }); // another seed: every bit must come from the state
        s.trainer.resume(state);
        s.trainer.train();
        expectParams(paramsOf(s.net), final, `resumed at ${name} from its ${form}`);
        s.end();
      }
    }
  });

  it('resume() refuses averages it cannot use, writing nothing', async () => {
    const { states } = await uninterrupted();
    // a run without ema: its state before the first step and after step 8
    const plain: { start?: TrainerState; mid?: TrainerState } = {};
    const probe = await setup({ callbacks: { onTrainBegin: (e) => { plain.start = e.trainer.trainerState(); }, onStepEnd: (e) => { if (e.iter === 8) plain.mid = e.trainer.trainerState(); } } });
    probe.trainer.train();
    const plainState = plain.mid!, plainStart = plain.start!;
    const mid = states['mid-epoch'].json;
    const cases: Array<[string, TrainerBaseOptions, TrainerState | Uint8Array, RegExp]> = [
      ['averages, and no ema option', {}, mid, /^Trainer\.resume: the state holds ema averages of the parameters, and this Trainer has no ema option/],
      ['averages in a model file, and no ema option', {}, states['mid-epoch'].bytes, /^Trainer\.resume: the state holds ema averages/],
      ['no averages after step 8, and an ema option', { ema: { decay: 0.9 } }, plainState, /^Trainer\.resume: this Trainer keeps an ema of the parameters, and the state \(after step 8\) holds none/],
      ['averages at step 0', { ema: { decay: 0.9 } }, { ...plainStart, ema: mid.ema }, /^Trainer\.resume: the state holds ema averages before the run's first update \(after step 0;/],
      ['an unknown key', { ema: { decay: 0.9 } }, { ...mid, ema: { ...mid.ema, W9: mid.ema!.W1 } }, /^Trainer\.resume: ema\['W9'\] is no tensor this Trainer keeps there/],
      ['a missing key', { ema: { decay: 0.9 } }, { ...mid, ema: { ...mid.ema, W1: undefined as never } }, /^Trainer\.resume: ema\['W1'\] must hold 16 values$/],
      ['the wrong shape', { ema: { decay: 0.9 } }, { ...mid, ema: { ...mid.ema, W1: { shape: [8, 2], data: mid.ema!.W1.data } } }, /^Trainer\.resume: ema\['W1'\] must have the shape \[2, 8\], got \[8, 2\]$/],
      ['the wrong size', { ema: { decay: 0.9 } }, { ...mid, ema: { ...mid.ema, b1: { shape: [8], data: [1, 2] } } }, /^Trainer\.resume: ema\['b1'\] must hold 8 values$/],
    ];
    for (const [what, options, state, error] of cases) {
      const s = await setup(options, { seed: 77 });
      s.trainer.train(); // a finished run: resume() must leave its parameters and its averages
      const params = paramsOf(s.net), random = s.r.randomState, averages = s.trainer.emaParams();
      expect(() => s.trainer.resume(state), what).toThrow(error);
      expectParams(paramsOf(s.net), params, `${what}: the parameters`);
      expect(s.r.randomState, `${what}: the random stream`).toEqual(random);
      expect(s.trainer.emaParams(), `${what}: the averages`).toEqual(averages);
      s.end();
    }
    // a state of a run without ema before its first step is a start: accepted
    const fresh = await setup({ ema: { decay: 0.9 } }, { seed: 77 });
    fresh.trainer.resume(plainStart);
    expect(fresh.trainer.emaParams()).toBeNull();
    fresh.end(); probe.end();
  });

  it('saveModel\'s ema option holds every parameter and no layer state; loadModel gives it back', async () => {
    const r = await makeRuntime();
    const net = new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2, useBatchnorm: true });
    const ema = Object.fromEntries(Object.entries(net.params).map(([k, t]) => [k, { shape: [...t.shape], data: t.toArray().map((v) => v + 1) }]));
    const loaded = loadModel(r, saveModel(net, { ema }));
    expect(Object.keys(loaded.ema!).sort()).toEqual(Object.keys(net.params).sort());
    for (const k of Object.keys(ema)) expectBits(loaded.ema![k].data, ema[k].data, k);
    expect(() => saveModel(net, { ema: { ...ema, runningMean1: { shape: [4], data: [0, 0, 0, 0] } } })).toThrow(/^saveModel: ema\['runningMean1'\] is no parameter of the net$/);
    const { W1: _, ...noW1 } = ema;
    expect(() => saveModel(net, { ema: noW1 })).toThrow(/^saveModel: ema\['W1'\] is missing/);
    expect(() => saveModel(net, { ema: { ...ema, b1: { shape: [3], data: [1, 2, 3] } } })).toThrow(/^saveModel: ema\['b1'\] must have the shape \[4\] and 4 values$/);
    // a file whose averages are partial, or name no parameter, is refused from its header
    const bytes = saveModel(net, { ema });
    const cases: Array<[string, (tensors: Map<string, SafetensorsEntry>) => void, RegExp]> = [
      ['without ema.W1', (t) => { t.delete('ema.W1'); }, /^loadModel: the file has no tensor 'ema\.W1' beside its other 'ema\.' tensors \(a checkpoint's moving average\)$/],
      ['with ema.runningMean1', (t) => { t.set('ema.runningMean1', t.get('runningMean1')!); }, /^loadModel: tensor 'ema\.runningMean1' \(a checkpoint's moving average\) names no parameter of the net$/],
      ['with ema.b1 of another shape', (t) => { t.set('ema.b1', { ...t.get('ema.b1')!, shape: [2, 2] }); }, /^loadModel: tensor 'ema\.b1' has shape \[2, 2\], 'b1' has \[4\]$/],
    ];
    for (const [what, edit, error] of cases) expect(() => loadModel(r, repacked(bytes, edit)), what).toThrow(error);
    loaded.net.dispose(); net.dispose(); r.dispose();
  });
});

describe('the option, memory, threads and emaParams()', () => {
  it('refuses a bad ema option naming it, before it allocates', async () => {
    const r = await makeRuntime();
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(r, 20, 1);
    const used = r.memoryStats().used;
    const cases: Array<[unknown, ErrorConstructor, RegExp]> = [
      [0.99, TypeError, /^Trainer: ema must be \{ decay \}, got number 0\.99$/],
      [null, TypeError, /^Trainer: ema must be \{ decay \}, got null$/],
      [{}, TypeError, /^Trainer: ema\.decay must be a number in \[0, 1\]/],
      [{ decay: '0.9' }, TypeError, /^Trainer: ema\.decay must be a number in \[0, 1\]/],
      [{ decay: -0.01 }, RangeError, /^Trainer: ema\.decay must be a number in \[0, 1\] \(Keras's ema_momentum, e\.g\. 0\.99\), got -0\.01$/],
      [{ decay: 1.5 }, RangeError, /ema\.decay must be a number in \[0, 1\].*got 1\.5$/],
      [{ decay: NaN }, RangeError, /ema\.decay .*got NaN$/],
      [{ decay: 0.9, momentum: 0.9 }, TypeError, /^Trainer: ema: unknown option 'momentum' \(expected one of decay\)$/],
    ];
    for (const [ema, type, message] of cases) {
      const make = () => new Trainer(net, d.x, d.t, d.x, d.t, { ema: ema as never });
      expect(make, JSON.stringify(ema)).toThrow(type);
      expect(make, JSON.stringify(ema)).toThrow(message);
      expect(r.memoryStats().used, 'nothing allocated').toBe(used);
    }
    net.dispose(); r.dispose();
  });

  it('allocates its block once, with the Trainer: no step allocates, and dispose() frees it', async () => {
    const s = await setup({ ema: { decay: 0.9 } });
    // memory in use when each epoch begins and after each of its steps
    const used: number[][] = [];
    const t = await setup({ ema: { decay: 0.9 }, callbacks: { onEpochBegin: () => { used.push([t.r.memoryStats().used]); }, onStepEnd: () => { used.at(-1)!.push(t.r.memoryStats().used); } } });
    t.trainer.train();
    // the first step makes the optimizer's state and the guard's block (the first evaluation its buffers); no step after
    expect(used).toHaveLength(3);
    expect(new Set(used[0].slice(1)).size, `epoch 1: ${used[0].join(', ')}`).toBe(1);
    for (const epoch of used.slice(1)) expect(new Set(epoch).size, `a later epoch: ${epoch.join(', ')}`).toBe(1);
    // the block: the Trainer with ema holds the parameters' floats more than one without
    const r = s.r;
    const before = r.memoryStats().used;
    const plain = new Trainer(s.net, s.d.x, s.d.t, s.d.x, s.d.t, { optimizer: s.opt });
    const plainBytes = r.memoryStats().used - before;
    plain.dispose();
    expect(r.memoryStats().used, 'freed').toBe(before);
    const withEma = new Trainer(s.net, s.d.x, s.d.t, s.d.x, s.d.t, { optimizer: s.opt, ema: { decay: 0.5 } });
    const floats = Object.values(s.net.params).reduce((n, p) => n + p.size, 0);
    // the allocator's blocks are rounded up to its alignment
    const extra = r.memoryStats().used - before - plainBytes;
    expect(extra, 'the ema Trainer\'s extra bytes').toBeGreaterThanOrEqual(floats * 4);
    expect(extra, 'the ema Trainer\'s extra bytes').toBeLessThan(floats * 4 + 128);
    withEma.dispose();
    expect(r.memoryStats().used, 'freed').toBe(before);
    s.end(); t.end();
  });

  it('2 threads give 1 thread\'s bits (the calls split)', async () => {
    async function run(threads: number) {
      const r = await makeRuntime({ seed: 21, threads, busyCores: 'split' }); // split even while other test files busy the cores
      await r.ready;
      // 256 × 256 weights at 48 rows: GEMMs big enough to split on 2 threads
      const net = new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [256, 256], outputSize: 2, useBatchnorm: true });
      const d = blobs(r, 96, 1);
      const adam = new Adam({ lr: 0.05 });
      const jobs = r.threadStats().jobs;
      const taken: { mid?: Params } = {};
      const trainer = new Trainer(net, d.x, d.t, d.x, d.t, {
        epochs: 4, miniBatchSize: 48, adaptiveThreads: false, optimizer: adam, ema: { decay: 0.8 },
        callbacks: { onStepEnd: (e) => { if (e.iter === 5) taken.mid = e.trainer.emaParams()!; } },
      });
      trainer.train();
      const params = paramsOf(net), split = r.threadStats().jobs - jobs;
      trainer.dispose(); adam.dispose(); net.dispose(); r.dispose();
      return { params, mid: taken.mid!, split };
    }
    const one = await run(1), two = await run(2);
    expect(two.split, 'calls split across the 2 threads').toBeGreaterThan(0);
    expectParams(two.mid, one.mid, 'the averages after step 5');
    expectParams(two.params, one.params, 'the parameters the run ended with');
  });

  it('emaParams() gives copies the caller owns; step() called directly leaves the averages; null without ema; refused after dispose()', async () => {
    const s = await setup({ ema: { decay: 0.9 } });
    s.trainer.step(s.d.x.rows(0, 20), s.d.t.rows(0, 20));
    expect(s.trainer.emaParams(), 'a step outside a run').toBeNull();
    const taken: { atStep3?: Params } = {};
    const t = await setup({ ema: { decay: 0.9 }, callbacks: { onStepEnd: (e) => { if (e.iter === 3) taken.atStep3 = e.trainer.emaParams()!; } } });
    t.trainer.train();
    expectParams(taken.atStep3!, emaFloat32(t.steps.slice(0, 3), 0.9), 'taken after step 3, unchanged by the steps after');
    const a = t.trainer.emaParams()!, b = t.trainer.emaParams()!;
    expect(a.W1).not.toBe(b.W1);
    a.W1.fill(0);
    expectParams(t.trainer.emaParams()!, b, 'after the caller wrote its copy');
    expectParams(b, paramsOf(t.net), 'the averages the run ended with');
    const plain = await setup();
    plain.trainer.train();
    expect(plain.trainer.emaParams()).toBeNull();
    t.trainer.dispose();
    expect(() => t.trainer.emaParams()).toThrow(/^Trainer\.emaParams: used after dispose\(\)$/);
    s.end(); t.end(); plain.end();
  });
});
