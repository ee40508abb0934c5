// TrainerOptions.swa: stochastic weight averaging as PyTorch's torch.optim.swa_utils runs it (AveragedModel's
// equal-weight average at the end of each epoch from swa.start, SWALR's rates, update_bn at the run's end). Checked
// against PyTorch's formulas transcribed here from torch/optim/swa_utils.py (get_swa_avg_fn, SWALR.get_lr,
// update_bn), in float32 (bits, where the order of operations is ours to fix) and float64 (tolerance), and for
// what must not change: the epoch records, an aborted run's parameters and statistics, a resumed run's final bits
// (from a checkpoint's swa.<name> tensors, or ema.<name> as checkpoints held it before); model files' swa.<name>.
import { describe, it, expect } from 'vitest';
import { makeRuntime, expectBits, expectClose } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import { OutOfMemoryError } from '../src/runtime/errors.js';
import {
  MultiLayerNet, MultiLayerNetExtend, Trainer, Adam, SGD, SWALR, StepLR, OneCycleLR, createSchedule, BatchNormalization,
  encodeHeader, float32Bytes, inspectModel, loadModel, saveModel,
  type LRSchedule, type Optimizer, type TrainerBaseOptions, type TrainerState, type TrainResult, type Sequential, type Tensor,
} from '../src/index.js';

const f32 = Math.fround;
type Params = Record<string, Float32Array>;

const paramsOf = (net: Sequential): Params => Object.fromEntries(Object.entries(net.params).map(([k, t]) => [k, t.toArray()]));
const stateOf = (net: Sequential): Params => Object.fromEntries(Object.entries(net.state).map(([k, t]) => [k, t.toArray()]));
const record = (r: TrainResult) => ({ ...r, seconds: 0, epochs: r.epochs.map((e) => ({ ...e, seconds: 0 })), swaModels: undefined });

/** Our kernels' order: a copy, then avg + f32(1/(n + 1))·(w − avg), each operation rounded to float32 once. */
function swaKernelOrder(models: Params[]): Params {
  const avg: Params = Object.fromEntries(Object.entries(models[0]).map(([key, v]) => [key, v.slice()]));
  models.slice(1).forEach((w, i) => {
    const weight = f32(1 / (i + 2));
    for (const key of Object.keys(avg)) for (let j = 0; j < avg[key].length; j++) avg[key][j] = f32(avg[key][j] + f32(weight * f32(w[key][j] - avg[key][j])));
  });
  return avg;
}

/** PyTorch's get_swa_avg_fn on a float32 tensor (its CPU default): averaged + (current − averaged) / (n_averaged + 1). */
function swaPyTorchFloat32(models: Params[]): Params {
  const avg: Params = Object.fromEntries(Object.entries(models[0]).map(([key, v]) => [key, v.slice()]));
  models.slice(1).forEach((w, i) => {
    for (const key of Object.keys(avg)) for (let j = 0; j < avg[key].length; j++) avg[key][j] = f32(avg[key][j] + f32(f32(w[key][j] - avg[key][j]) / (i + 2)));
  });
  return avg;
}

/** The plain mean of the models, in float64. */
function meanFloat64(models: Params[]): Record<string, Float64Array> {
  const out = Object.fromEntries(Object.keys(models[0]).map((key) => [key, new Float64Array(models[0][key].length)]));
  for (const m of models) for (const key of Object.keys(out)) for (let j = 0; j < out[key].length; j++) out[key][j] += m[key][j] / models.length;
  return out;
}

function expectParams(got: Params, want: Params, what: string): void {
  expect(Object.keys(got).sort(), `${what}: keys`).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) expectBits(got[k], want[k], `${what}: ${k}`);
}

/**
 * 2-[8, 8]-2 (with batch norm, and dropout, when asked) on `rows` rows, batch 20, Adam lr 0.05, 5 epochs, on a runtime
 * of its own; `epochEnds` gets the parameters at the end of every epoch (in onEpochEnd: after swa's update).
 */
async function setup(options: TrainerBaseOptions = {}, { batchnorm = false, dropout = false, seed = 5, rows = 120 } = {}) {
  const r = await makeRuntime({ seed });
  const net = batchnorm
    ? new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2, useBatchnorm: true, useDropout: dropout, dropoutRatio: 0.3 })
    : new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2 });
  const d = blobs(r, rows, 1), te = blobs(r, 40, 2);
  const opt = new Adam({ lr: 0.05 });
  const epochEnds: Params[] = [], states: Params[] = [];
  const user = options.callbacks;
  const trainer = new Trainer(net, d.x, d.t, te.x, te.t, {
    epochs: 5, miniBatchSize: 20, optimizer: opt, ...options,
    callbacks: { ...user, onEpochEnd: (e) => { epochEnds.push(paramsOf(net)); states.push(stateOf(net)); return user?.onEpochEnd?.(e); } },
  });
  return { r, net, d, opt, trainer, epochEnds, states, end: () => { trainer.dispose(); opt.dispose(); r.dispose(); } };
}

describe('the average (PyTorch\'s AveragedModel, get_swa_avg_fn)', () => {
  it('from epoch 2 of 5: the kernels\' float32 order to the bit, PyTorch\'s division within a rounding, the float64 mean; records untouched', async () => {
    const s = await setup({ swa: { start: 2 } });
    const result = s.trainer.train();
    expect(result.swaModels).toBe(4);
    const models = s.epochEnds.slice(1);
    expectParams(paramsOf(s.net), swaKernelOrder(models), 'the parameters the run ended with');
    const torch = swaPyTorchFloat32(models), mean = meanFloat64(models);
    for (const k of Object.keys(mean)) {
      expectClose(paramsOf(s.net)[k], torch[k], { rtol: 1e-6, atol: 1e-7 }, `PyTorch's float32 division: ${k}`);
      expectClose(paramsOf(s.net)[k], mean[k], { rtol: 1e-5, atol: 1e-6 }, `the float64 mean: ${k}`);
    }
    // not the last epoch's parameters, nor the mean of all five epochs (epoch 1 is not averaged)
    expect(Array.from(paramsOf(s.net).W1)).not.toEqual(Array.from(s.epochEnds[4].W1));
    const all = meanFloat64(s.epochEnds);
    expect(Math.max(...Array.from(paramsOf(s.net).W1, (v, i) => Math.abs(v - all.W1[i])))).toBeGreaterThan(1e-4);
    const plain = await setup();
    const plainResult = plain.trainer.train();
    expect(record(result)).toEqual(record(plainResult));
    expect(plainResult.swaModels).toBeUndefined();
    expectParams(plain.epochEnds[4], s.epochEnds[4], 'the raw parameters of the last epoch');
    s.end(); plain.end();
  });

  it('two models: the same bits as PyTorch\'s division (n + 1 = 2, a power of two); swaParams() follows the epochs, null before start', async () => {
    const seen: Array<Params | null> = [];
    const s = await setup({ epochs: 4, swa: { start: 3 }, callbacks: { onEpochEnd: (e) => { seen.push(e.trainer.swaParams()); } } });
    expect(s.trainer.swaParams(), 'before any run').toBeNull();
    s.trainer.train();
    expect(seen[0]).toBeNull();
    expect(seen[1]).toBeNull();
    expectParams(seen[2]!, s.epochEnds[2], 'after epoch 3: a copy');
    expectParams(seen[3]!, swaPyTorchFloat32(s.epochEnds.slice(2)), 'after epoch 4');
    expectParams(paramsOf(s.net), swaPyTorchFloat32(s.epochEnds.slice(2)), 'the run\'s end');
    expectParams(s.trainer.swaParams()!, paramsOf(s.net), 'swaParams() after the run');
    s.end();
  });

  it('start 1 averages every epoch; a run ending before start keeps the last step\'s parameters (swaModels 0)', async () => {
    const all = await setup({ swa: { start: 1 } });
    expect(all.trainer.train().swaModels).toBe(5);
    expectParams(paramsOf(all.net), swaKernelOrder(all.epochEnds), 'start 1');
    const late = await setup({ swa: { start: 6 } });
    expect(late.trainer.train().swaModels).toBe(0);
    expectParams(paramsOf(late.net), late.epochEnds[4], 'start 6 of 5 epochs');
    expect(late.trainer.swaParams()).toBeNull();
    all.end(); late.end();
  });

  it('a second run starts its average afresh', async () => {
    const s = await setup({ swa: { start: 4 } });
    s.trainer.train();
    s.epochEnds.length = 0;
    expect(s.trainer.train().swaModels).toBe(2);
    expectParams(paramsOf(s.net), swaKernelOrder(s.epochEnds.slice(3)), 'the second run');
    s.end();
  });
});

/** PyTorch's SWALR.get_lr, transcribed from torch/optim/swa_utils.py: the rates of step counts 1.. from `lr` (Math.cos). */
function swalrPyTorch(lr: number, swaLr: number, annealEpochs: number, strategy: 'cos' | 'linear', steps: number): number[] {
  const anneal = (t: number) => (strategy === 'cos' ? (1 - Math.cos(Math.PI * t)) / 2 : t);
  const rates: number[] = [];
  // _step_count − 1: 0 at the constructor's initial step, then one more per scheduler.step()
  for (let stepCount = 0; stepCount <= steps; stepCount++) {
    let step = stepCount;
    if (annealEpochs === 0) step = Math.max(1, step);
    const prevT = Math.max(0, Math.min(1, (step - 1) / Math.max(1, annealEpochs)));
    const prevAlpha = anneal(prevT);
    const prevLr = prevAlpha === 1 ? swaLr : (lr - prevAlpha * swaLr) / (1 - prevAlpha);
    const t = Math.max(0, Math.min(1, step / Math.max(1, annealEpochs)));
    const alpha = anneal(t);
    lr = swaLr * alpha + prevLr * (1 - alpha);
    rates.push(lr);
  }
  return rates;
}

describe('SWALR (PyTorch\'s torch.optim.swa_utils.SWALR)', () => {
  for (const strategy of ['cos', 'linear'] as const) {
    for (const annealEpochs of [0, 1, 3, 10]) {
      it(`${strategy}, annealEpochs ${annealEpochs}: PyTorch's recursion, period by period`, () => {
        const s = new SWALR({ swaLr: 0.05, annealEpochs, annealStrategy: strategy });
        const want = swalrPyTorch(0.3, 0.05, annealEpochs, strategy, 16);
        const got = want.map((_, k) => s.lrAt(k, 0.3));
        // linear: the same double operations (bits); cos: exactCosPiRatio against Math.cos (an ulp or two)
        if (strategy === 'linear') expect(got).toEqual(want);
        else expectClose(got, want, { rtol: 1e-14 }, 'rates');
        expect(got[0], 'period 0').toBe(annealEpochs === 0 ? 0.05 : 0.3);
        expect(got[annealEpochs + 1], 'the annealing\'s end').toBe(0.05);
        expect(got[16]).toBe(0.05);
        if (annealEpochs >= 3) expect(got[2], 'annealing').not.toBe(got[1]);
      });
    }
  }

  it('is createSchedule(\'swalr\'), with PyTorch\'s defaults (10 epochs, cos); refuses bad options naming them', () => {
    const s = createSchedule('swalr', { swaLr: 0.01 });
    expect(s).toBeInstanceOf(SWALR);
    expect(s).toMatchObject({ name: 'SWALR', interval: 'epoch', annealEpochs: 10, annealStrategy: 'cos' });
    expect(s.lrAt(5, 0.1)).toBeCloseTo(swalrPyTorch(0.1, 0.01, 10, 'cos', 5)[5], 15);
    expect(() => new SWALR({ swaLr: 0 })).toThrow(/^SWALR: swaLr must be a number > 0, got 0$/);
    expect(() => new SWALR({ swaLr: 0.1, annealEpochs: 1.5 })).toThrow(/^SWALR: annealEpochs must be a non-negative integer/);
    expect(() => new SWALR({ swaLr: 0.1, annealStrategy: 'exp' as never })).toThrow(/^SWALR: annealStrategy must be 'cos' or 'linear', got exp$/);
    expect(() => new SWALR({ swaLr: 0.1, swa_lr: 1 } as never)).toThrow(/^SWALR: unknown option 'swa_lr'/);
    expect(() => s.lrAt(-1, 0.1)).toThrow(/^SWALR: period -1/);
  });

  it('swa.lr: the base schedule through epoch start, then SWALR from the rate epoch start ended with (PyTorch\'s loop)', async () => {
    const base = new StepLR({ stepSize: 1, gamma: 0.5 });
    const asked: number[] = [], observed: number[] = [];
    const spy: LRSchedule = { name: 'spy', interval: 'epoch', lrAt: (k, b) => { asked.push(k); return base.lrAt(k, b); }, observe: (m) => { observed.push(m); } };
    const s = await setup({ epochs: 8, lrSchedule: spy, swa: { start: 3, lr: 0.01, annealEpochs: 3, annealStrategy: 'linear' } });
    const result = s.trainer.train();
    const rates = result.epochs.map((e) => e.lr);
    // PyTorch's loop, 0-based epochs: `if epoch > swa_start: swa_scheduler.step() else: scheduler.step()`, swa_start = start − 2
    const swaStart = 1, want: number[] = [];
    let lr = 0.05, swalr: number[] | null = null, swaSteps = 0;
    for (let epoch = 0; epoch < 8; epoch++) {
      want.push(lr);
      if (epoch > swaStart) { swalr ??= swalrPyTorch(lr, 0.01, 3, 'linear', 8); lr = swalr[++swaSteps]; }
      else lr = base.lrAt(epoch + 1, 0.05);
    }
    expect(rates).toEqual(want);
    expect(rates.slice(0, 3)).toEqual([0.05, 0.025, 0.0125]);
    expect(rates.slice(6)).toEqual([0.01, 0.01]);
    expect(asked, 'the schedule is asked for epochs 1 to start only').toEqual([0, 1, 2]);
    expect(observed, 'and shown the metric of the epochs before start only').toHaveLength(2);
    // a second run starts from the base rate again
    const again = s.trainer.train();
    expect(again.epochs.map((e) => e.lr)).toEqual(want);
    s.end();
  });

  it('swa.lr without a schedule: the optimizer\'s rate through epoch start, then SWALR (cos)', async () => {
    const s = await setup({ epochs: 6, swa: { start: 2, lr: 0.2 } });
    const rates = s.trainer.train().epochs.map((e) => e.lr!);
    const want = [0.05, 0.05, ...swalrPyTorch(0.05, 0.2, 10, 'cos', 4).slice(1)];
    expectClose(rates, want, { rtol: 1e-14 }, 'rates');
    expect(rates[5]).toBeGreaterThan(rates[4]);
    const second = s.trainer.train().epochs.map((e) => e.lr!);
    expect(second).toEqual(rates);
    s.end();
  });
});

describe('swa.lr after a schedule that ends (OneCycleLR per step, cycling Adam\'s beta1)', () => {
  // 6 steps an epoch: the cycle's 12 steps cover epochs 1 and 2 (start), SWALR the 3 after
  const oneCycle = () => new OneCycleLR({ maxLr: 0.05, totalSteps: 12 });

  it('the schedule needs only the periods to epoch start\'s end; SWALR leaves beta1 where the cycle left it; resumed past the cycle, the same bits and beta1', async () => {
    const r = await makeRuntime();
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(r, 120, 1);
    expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 5, miniBatchSize: 20, optimizer: 'adam', lrSchedule: oneCycle(), swa: { start: 3, lr: 0.01 } }))
      .toThrow(/^Trainer: lrSchedule OneCycleLR defines 12 steps, and this run takes 18 steps/);
    expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 5, miniBatchSize: 20, optimizer: 'adam', lrSchedule: oneCycle(), swa: { start: 2 } }))
      .toThrow(/^Trainer: lrSchedule OneCycleLR defines 12 steps, and this run takes 30 steps/);
    net.dispose(); r.dispose();
    const betas: number[] = [], taken: { state?: TrainerState; beta1?: number } = {};
    const s = await setup({
      lrSchedule: oneCycle(), swa: { start: 2, lr: 0.01, annealEpochs: 1 },
      callbacks: { onStepEnd: (e) => { betas.push(s.opt.beta1); if (e.iter === 20) { taken.state = e.trainer.trainerState(); taken.beta1 = s.opt.beta1; } } },
    });
    const result = s.trainer.train();
    expect(result.epochs.map((e) => e.lr).slice(2)).toEqual([0.01, 0.01, 0.01]);
    expect(new Set(betas.slice(11)), 'beta1 from the cycle\'s last step on').toEqual(new Set([oneCycle().momentumAt!(11)]));
    const final = paramsOf(s.net);
    const t = await setup({ lrSchedule: oneCycle(), swa: { start: 2, lr: 0.01, annealEpochs: 1 } }, { seed: 77 });
    t.trainer.resume(taken.state!);
    expect(t.opt.beta1).toBe(taken.beta1);
    t.trainer.train();
    expectParams(paramsOf(t.net), final, 'resumed after step 20');
    s.end(); t.end();
  });
});

describe('batch norm\'s statistics for the average (PyTorch\'s update_bn)', () => {
  /**
   * The statistics update_bn computes for the net as it is: for each batch of `rows` (in order, `batch` rows, the last
   * partial), each batch-norm layer's batch mean and biased variance (the book's), averaged over the batches in
   * float64 with equal weights (momentum None). The forward passes run in training mode from the stream position
   * `random` (dropout draws the masks the Trainer's pass drew).
   */
  function updateBnReference(net: Sequential, x: Tensor, batch: number, random: { seed: number; counter: number }) {
    const norms = net.layers.map((l, i) => [l, i] as const).filter(([l]) => l instanceof BatchNormalization);
    const sums = norms.map(([l]) => ({ mean: new Float64Array((l as BatchNormalization).gamma.size), variance: new Float64Array((l as BatchNormalization).gamma.size) }));
    net.rt.randomState = random;
    const n = x.shape[0], batches = Math.ceil(n / batch);
    for (let start = 0; start < n; start += batch) {
      const inputs = new Map<number, Float32Array>();
      net.predictBorrowed(x.rows(start, Math.min(n, start + batch)), true, 'reference', (y, index) => { inputs.set(index, y.toArray()); });
      norms.forEach(([, i], j) => {
        const input = inputs.get(i - 1)!, features = sums[j].mean.length, rows = input.length / features;
        for (let f = 0; f < features; f++) {
          let mu = 0, v = 0;
          for (let r = 0; r < rows; r++) mu += input[r * features + f] / rows;
          for (let r = 0; r < rows; r++) v += (input[r * features + f] - mu) ** 2 / rows;
          sums[j].mean[f] += mu / batches;
          sums[j].variance[f] += v / batches;
        }
      });
    }
    return sums;
  }

  for (const dropout of [false, true]) {
    it(`${dropout ? 'with dropout (on, as update_bn\'s model.train())' : 'without dropout'}: the cumulative average over the training rows' batches, the last one partial; momentum put back`, async () => {
      const taken: { random?: { seed: number; counter: number } } = {};
      // 110 rows: 5 steps an epoch, and update_bn's 6th batch of 10 rows
      const s = await setup({ swa: { start: 3 }, callbacks: { onEpochEnd: (e) => { if (e.epoch === 5) taken.random = s.r.randomState; } } }, { batchnorm: true, dropout, rows: 110 });
      s.trainer.train();
      const got = stateOf(s.net);
      expectParams(paramsOf(s.net), swaKernelOrder(s.epochEnds.slice(2)), 'the averaged parameters');
      expect(s.net.layers.filter((l) => l instanceof BatchNormalization).map((l) => (l as BatchNormalization).momentum)).toEqual([0.9, 0.9]);
      // dropout draws its masks from the stream in the pass; without it nothing is drawn
      expect(s.r.randomState.counter > taken.random!.counter).toBe(dropout);
      const want = updateBnReference(s.net, s.d.x, 20, taken.random!);
      want.forEach((w, j) => {
        expectClose(got[`runningMean${j + 1}`], w.mean, { rtol: 1e-5, atol: 1e-6 }, `runningMean${j + 1}`);
        expectClose(got[`runningVar${j + 1}`], w.variance, { rtol: 1e-5, atol: 1e-6 }, `runningVar${j + 1}`);
      });
      // not the statistics the steps left (the raw parameters', by momentum 0.9)
      expect(Array.from(got.runningMean1)).not.toEqual(Array.from(s.states[4].runningMean1));
      s.end();
    });
  }

  it('fit() aborted during the pass puts back the raw parameters and statistics, and the momentum', async () => {
    const controller = new AbortController();
    const s = await setup({ swa: { start: 2 }, callbacks: { onEpochEnd: (e) => { if (e.epoch === 5) controller.abort(new Error('stop')); } } }, { batchnorm: true });
    await expect(s.trainer.fit({ signal: controller.signal })).rejects.toThrow('stop');
    expectParams(paramsOf(s.net), s.epochEnds[4], 'the raw parameters');
    expectParams(stateOf(s.net), s.states[4], 'the raw running statistics');
    expect(s.net.layers.filter((l) => l instanceof BatchNormalization).map((l) => (l as BatchNormalization).momentum)).toEqual([0.9, 0.9]);
    s.end();
  });
});

describe('how a run ends', () => {
  it('early stopping with restoreBest: the best epoch\'s raw parameters win and the average is not written (swaModels 0); without restoreBest the average is', async () => {
    const best = await setup({ swa: { start: 2 }, earlyStopping: { patience: 1, monitor: 'trainLoss', minDelta: 10 } }, { batchnorm: true });
    const r1 = best.trainer.train();
    expect(r1).toMatchObject({ stopReason: 'earlyStopping', bestEpoch: 1, swaModels: 0 });
    expectParams(paramsOf(best.net), best.epochEnds[0], 'epoch 1\'s raw parameters');
    expectParams(stateOf(best.net), best.states[0], 'epoch 1\'s running statistics');
    expect(best.trainer.swaParams(), 'the average stays for swaParams()').not.toBeNull();
    const kept = await setup({ swa: { start: 2 }, earlyStopping: { patience: 2, monitor: 'trainLoss', minDelta: 10, restoreBest: false } });
    expect(kept.trainer.train()).toMatchObject({ stopReason: 'earlyStopping', swaModels: 2 });
    expectParams(paramsOf(kept.net), swaKernelOrder(kept.epochEnds.slice(1)), 'stopped at epoch 3');
    best.end(); kept.end();
  });

  it('fit() aborted or a hook that throws: the raw parameters stay; the run that goes on ends as the uninterrupted one', async () => {
    const controller = new AbortController();
    const s = await setup({ swa: { start: 2 }, callbacks: { onStepEnd: (e) => { if (e.iter === 20) controller.abort(new Error('stop')); } } });
    await expect(s.trainer.fit({ signal: controller.signal })).rejects.toThrow('stop');
    expect(s.epochEnds).toHaveLength(3);
    expect(Array.from(paramsOf(s.net).W1)).not.toEqual(Array.from(s.trainer.swaParams()!.W1));
    const t = await setup({ swa: { start: 2 }, callbacks: { onEpochEnd: (e) => { if (e.epoch === 3) throw new Error('hook'); } } });
    expect(() => t.trainer.train()).toThrow('hook');
    expectParams(paramsOf(t.net), t.epochEnds[2], 'a hook threw after epoch 3');
    t.trainer.train();
    const plain = await setup({ swa: { start: 2 } });
    plain.trainer.train();
    expectParams(paramsOf(t.net), paramsOf(plain.net), 'the run that went on');
    s.end(); t.end(); plain.end();
  });
});

describe('checkpoints and resume()', () => {
  const options: TrainerBaseOptions = { swa: { start: 2, lr: 0.01, annealEpochs: 2 }, lrSchedule: new StepLR({ stepSize: 1, gamma: 0.7 }) };
  const shape = { batchnorm: true, dropout: true };

  /** The states after step 8 (mid-epoch 2, before start's end), step 20 (mid-epoch 4), epoch 3 and the last epoch, and the final bits. */
  async function uninterrupted() {
    const states: Record<string, { json: TrainerState; bytes: Uint8Array; lr: number }> = {};
    const take = (name: string, trainer: Trainer) => {
      states[name] = { json: JSON.parse(JSON.stringify(trainer.trainerState())) as TrainerState, bytes: trainer.checkpointBytes(), lr: (trainer.optimizer as Adam).lr };
    };
    const s = await setup({
      ...options,
      callbacks: {
        onStepEnd: (e) => { if (e.iter === 8) take('step 8', e.trainer); if (e.iter === 20) take('step 20', e.trainer); },
        onEpochEnd: (e) => { if (e.epoch === 3) take('epoch 3', e.trainer); if (e.epoch === 5) take('run end', e.trainer); },
      },
    }, shape);
    const result = s.trainer.train();
    const final = { params: paramsOf(s.net), state: stateOf(s.net), rates: result.epochs.map((e) => e.lr) };
    s.end();
    return { states, final };
  }

  it('resumed before start, mid-epoch past it, at an epoch\'s end or at the run\'s end: the uninterrupted run\'s bits (JSON and model file)', async () => {
    const { states, final } = await uninterrupted();
    expect(states['step 8'].json.swaAverage).toBeNull();
    expect(states['step 20'].json.swa).toEqual({ start: 2, lr: 0.01, annealEpochs: 2, annealStrategy: 'cos', models: 2 });
    expect(Object.keys(states['epoch 3'].json.swaAverage!).sort()).toEqual(Object.keys(final.params).sort());
    for (const [name, { json, bytes, lr }] of Object.entries(states)) {
      for (const [form, state] of [['JSON', json], ['model file', bytes]] as const) {
        const s = await setup({ ...options, lrSchedule: new StepLR({ stepSize: 1, gamma: 0.7 }) }, { ...shape, seed: 77 }); // another seed: every bit from the state
        s.trainer.resume(state);
        expect(s.opt.lr, `${name} from its ${form}: the optimizer's rate at the position`).toBe(lr);
        const result = s.trainer.train();
        expect(result.epochs.map((e) => e.lr), `${name} from its ${form}: the rates`).toEqual(final.rates);
        expect(result.swaModels).toBe(4);
        expectParams(paramsOf(s.net), final.params, `resumed at ${name} from its ${form}`);
        expectParams(stateOf(s.net), final.state, `resumed at ${name} from its ${form}: running statistics`);
        s.end();
      }
    }
  });

  it('a checkpoint keeps the average as swa.<name> tensors (inspectModel says so); one written before, as ema.<name> beside the position, resumes to the same bits', async () => {
    const { states, final } = await uninterrupted();
    const names = Object.keys(final.params).map((k) => `swa.${k}`).sort();
    for (const name of ['step 20', 'epoch 3', 'run end'] as const) {
      const info = inspectModel(states[name].bytes);
      expect(info.tensors.filter((t) => t.name.startsWith('swa.')).map((t) => t.name).sort(), `${name}: the average's tensors`).toEqual(names);
      expect(info.tensors.filter((t) => t.name.startsWith('ema.')), `${name}: no ema.<name>`).toEqual([]);
      expect(info.average, name).toBe('swa');
    }
    expect(inspectModel(states['step 8'].bytes).average, 'before start: none').toBeNull();
    const r = await makeRuntime();
    for (const name of ['step 20', 'epoch 3'] as const) {
      // loadModel gives it as `swa`: the state's average
      const l = loadModel(r, states[name].bytes);
      expect(l.ema, name).toBeUndefined();
      for (const [k, t] of Object.entries(states[name].json.swaAverage!)) expectBits(l.swa![k].data, Float32Array.from(t.data), `${name}: swa.${k}`);
      // the form checkpoints had before swa.<name>: the same average as ema.<name> tensors beside the position
      const legacy = saveModel(l.net, { optimizer: l.optimizer, ema: l.swa, trainLoss: l.trainLoss, metadata: l.metadata });
      expect(inspectModel(legacy).average, `${name}: written the old way`).toBe('ema');
      expect(JSON.parse(l.metadata.trainer).swa.models, 'the position that tells it is swa\'s').toBeGreaterThan(0);
      const s = await setup({ ...options, lrSchedule: new StepLR({ stepSize: 1, gamma: 0.7 }) }, { ...shape, seed: 77 });
      s.trainer.resume(legacy);
      expectParams(s.trainer.swaParams()!, Object.fromEntries(Object.entries(l.swa!).map(([k, t]) => [k, t.data])), `${name} the old way: the average`);
      s.trainer.train();
      expectParams(paramsOf(s.net), final.params, `resumed at ${name} the old way`);
      expectParams(stateOf(s.net), final.state, `resumed at ${name} the old way: running statistics`);
      s.end(); l.net.dispose(); l.optimizer?.dispose();
    }
    r.dispose();
  });

  it('the batch-norm pass resets the running statistics first (reset_running_stats): a NaN in them does not outlive it', async () => {
    const r = await makeRuntime();
    const net = new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2, useBatchnorm: true });
    const d = blobs(r, 20, 1);
    // a diverged statistic when the last epoch ends, before the pass
    const norm = net.layers.find((l): l is BatchNormalization => l instanceof BatchNormalization)!;
    const callbacks = { onEpochEnd: () => { norm.runningVar.data.fill(NaN); } };
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 1, miniBatchSize: 5, swa: { start: 1 }, callbacks });
    expect(trainer.train().swaModels).toBe(1);
    expect(norm.runningVar.toArray().every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    trainer.dispose(); net.dispose(); d.x.dispose(); d.t.dispose();
    r.dispose();
  });

  it('saveModel\'s swa option and a file\'s swa.<name> tensors: every parameter and no layer state, of its shape, not beside ema.<name>', async () => {
    const r = await makeRuntime();
    const net = new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2, useBatchnorm: true });
    const average = Object.fromEntries(Object.entries(net.params).map(([k, t]) => [k, { shape: [...t.shape], data: t.toArray().map((v) => v / 2 + 1) }]));
    const loaded = loadModel(r, saveModel(net, { swa: average }));
    expect(Object.keys(loaded.swa!).sort()).toEqual(Object.keys(net.params).sort());
    for (const k of Object.keys(average)) expectBits(loaded.swa![k].data, average[k].data, k);
    expect(loaded.ema).toBeUndefined();
    loaded.net.dispose();
    const { W1: _, ...noW1 } = average;
    const saves: Array<[object, ErrorConstructor, RegExp]> = [
      [{ swa: { ...average, runningMean1: { shape: [4], data: [0, 0, 0, 0] } } }, TypeError, /^saveModel: swa\['runningMean1'\] is no parameter of the net$/],
      [{ swa: noW1 }, TypeError, /^saveModel: swa\['W1'\] is missing \(swa holds every parameter of the net\)$/],
      [{ swa: { ...average, b1: { shape: [2, 2], data: [1, 2, 3, 4] } } }, RangeError, /^saveModel: swa\['b1'\] must have the shape \[4\] and 4 values$/],
      [{ swa: average, ema: average }, TypeError, /^saveModel: give ema or swa, not both \(a file holds one average of the parameters\)$/],
    ];
    for (const [options, type, message] of saves) expect(() => saveModel(net, options as never), String(message)).toThrow(type);
    for (const [options, , message] of saves) expect(() => saveModel(net, options as never)).toThrow(message);
    // files written tensor by tensor: the net's, then the averages given
    const file = (averages: Array<[string, string, { shape: number[]; data: ArrayLike<number> }]>) => {
      const tensors = [
        ...Object.entries({ ...net.params, ...net.state }).map(([name, t]) => ({ name, shape: [...t.shape], data: t.toArray() })),
        ...averages.map(([prefix, key, t]) => ({ name: `${prefix}${key}`, shape: t.shape, data: Float32Array.from(t.data) })),
      ];
      const parts = [encodeHeader(tensors, { 'simdnn.net': JSON.stringify(net.spec) }), ...tensors.map((t) => float32Bytes(t.data))];
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => { out.set(p, at); return at + p.length; }, 0);
      return out;
    };
    const all = (prefix: string, skip = '') => Object.entries(average).filter(([k]) => k !== skip).map(([k, t]) => [prefix, k, t] as [string, string, typeof t]);
    const whole = loadModel(r, file(all('swa.')));
    for (const k of Object.keys(average)) expectBits(whole.swa![k].data, average[k].data, `written by hand: ${k}`);
    whole.net.dispose();
    const cases: Array<[string, Uint8Array, string]> = [
      ['swa.b1 of another shape', file([...all('swa.', 'b1'), ['swa.', 'b1', { shape: [2, 2], data: [1, 2, 3, 4] }]]), "tensor 'swa.b1' has shape [2, 2], 'b1' has [4]"],
      ['no swa.W1', file(all('swa.', 'W1')), "the file has no tensor 'swa.W1' beside its other 'swa.' tensors (a checkpoint's stochastic weight average)"],
      ['swa.runningMean1', file([...all('swa.'), ['swa.', 'runningMean1', { shape: [4], data: [0, 0, 0, 0] }]]), "tensor 'swa.runningMean1' (a checkpoint's stochastic weight average) names no parameter of the net"],
      ['ema.<name> and swa.<name>', file([...all('ema.'), ...all('swa.')]), "the file has both 'ema.' and 'swa.' tensors; a checkpoint holds one average of the parameters (TrainerOptions.ema's or swa's)"],
    ];
    const used = r.memoryStats().used;
    for (const [what, bytes, message] of cases) {
      expect(() => loadModel(r, bytes), what).toThrow(new RegExp(`^loadModel: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
      expect(() => inspectModel(bytes), what).toThrow(`inspectModel: ${message}`);
    }
    expect(r.memoryStats().used, 'nothing left allocated').toBe(used);
    net.dispose(); r.dispose();
  });

  it('resume() refuses other averaging options and averages it cannot use, writing nothing', async () => {
    const { states } = await uninterrupted();
    const mid = states['step 20'].json;
    const probe: { plain?: TrainerState; ema?: TrainerState; mixup?: TrainerState } = {};
    for (const [key, extra] of [['plain', {}], ['ema', { ema: { decay: 0.9 } }], ['mixup', { mixup: { alpha: 0.4 } }]] as const) {
      const p = await setup({ ...extra, callbacks: { onStepEnd: (e) => { if (e.iter === 20) probe[key] = e.trainer.trainerState(); } } }, shape);
      p.trainer.train();
      p.end();
    }
    expect(probe.ema!.emaDecay).toBe(0.9);
    expect(probe.mixup!.mixupAlpha).toBe(0.4);
    const same = { ...options, lrSchedule: new StepLR({ stepSize: 1, gamma: 0.7 }) };
    const cases: Array<[string, TrainerBaseOptions, TrainerState | Uint8Array, RegExp]> = [
      ['swa, and no swa option', {}, mid, /^Trainer\.resume: the state's run has swa \{ start: 2, lr: 0\.01, annealEpochs: 2, annealStrategy: 'cos' \}, this Trainer none: a resumed run must train with the interrupted run's options$/],
      ['swa in a model file, and no swa option', {}, states['step 20'].bytes, /^Trainer\.resume: the state's run has swa \{ start: 2/],
      ['another start', { ...same, swa: { start: 3, lr: 0.01, annealEpochs: 2 } }, mid, /^Trainer\.resume: the state's run has swa\.start 2, this Trainer 3: /],
      ['another lr', { ...same, swa: { start: 2, lr: 0.02, annealEpochs: 2 } }, mid, /^Trainer\.resume: the state's run has swa\.lr 0\.01, this Trainer 0\.02: /],
      ['no lr', { ...same, swa: { start: 2 } }, mid, /^Trainer\.resume: the state's run has swa\.lr 0\.01, this Trainer none: /],
      ['another strategy', { ...same, swa: { start: 2, lr: 0.01, annealEpochs: 2, annealStrategy: 'linear' } }, mid, /^Trainer\.resume: the state's run has swa\.annealStrategy 'cos', this Trainer 'linear': /],
      ['no swa in the state, a swa option', same, probe.plain!, /^Trainer\.resume: the state's run has no swa option, this Trainer \{ start: 2, lr: 0\.01, annealEpochs: 2, annealStrategy: 'cos' \}/],
      ['another count', same, { ...mid, swa: { ...mid.swa!, models: 3 } }, /^Trainer\.resume: the state's swa\.models 3 is not the epochs averaged after epoch 3 with swa\.start 2 \(2\)$/],
      ['no average past start', same, { ...mid, swaAverage: null }, /^Trainer\.resume: this Trainer averages from epoch 2, and the state \(after epoch 3\) holds no swa average/],
      ['an average before start', same, { ...states['step 8'].json, swaAverage: mid.swaAverage }, /^Trainer\.resume: the state holds a swa average before epoch 2/],
      ['an unknown key', same, { ...mid, swaAverage: { ...mid.swaAverage, W9: mid.swaAverage!.W1 } }, /^Trainer\.resume: swa\['W9'\] is no tensor this Trainer keeps there/],
      ['the wrong shape', same, { ...mid, swaAverage: { ...mid.swaAverage, W1: { shape: [8, 2], data: mid.swaAverage!.W1.data } } }, /^Trainer\.resume: swa\['W1'\] must have the shape \[2, 8\], got \[8, 2\]$/],
      ['ema\'s decay changed', { ema: { decay: 0.99 } }, probe.ema!, /^Trainer\.resume: the state's run has ema\.decay 0\.9, this Trainer 0\.99: a resumed run must train with the interrupted run's options$/],
      ['mixup\'s alpha changed', { mixup: { alpha: 0.2 } }, probe.mixup!, /^Trainer\.resume: the state's run has mixup\.alpha 0\.4, this Trainer 0\.2: /],
      ['mixup dropped', {}, probe.mixup!, /^Trainer\.resume: the state's run has mixup\.alpha 0\.4, this Trainer none: /],
      ['mixup added', { mixup: { alpha: 0.4 } }, probe.plain!, /^Trainer\.resume: the state's run has mixup\.alpha none, this Trainer 0\.4: /],
    ];
    for (const [what, opts, state, error] of cases) {
      const s = await setup(opts, { ...shape, seed: 77 });
      s.trainer.train(); // a finished run: resume() must leave its parameters, statistics and average
      const params = paramsOf(s.net), statistics = stateOf(s.net), random = s.r.randomState, average = s.trainer.swaParams();
      expect(() => s.trainer.resume(state), what).toThrow(error);
      expectParams(paramsOf(s.net), params, `${what}: the parameters`);
      expectParams(stateOf(s.net), statistics, `${what}: the statistics`);
      expect(s.r.randomState, `${what}: the random stream`).toEqual(random);
      expect(s.trainer.swaParams(), `${what}: the average`).toEqual(average);
      s.end();
    }
    // options that differ in a state before its first step: a start, accepted
    const start = await setup({ mixup: { alpha: 0.4 }, callbacks: { onTrainBegin: (e) => { probe.plain = e.trainer.trainerState(); } } }, shape);
    start.trainer.train();
    const fresh = await setup({ mixup: { alpha: 0.2 }, ...same }, { ...shape, seed: 77 });
    fresh.trainer.resume(probe.plain!);
    start.end(); fresh.end();
  });
});

describe('the option', () => {
  it('refuses a bad swa option naming it, before it allocates; swa beside ema; swa.lr for an optimizer without lr', async () => {
    const r = await makeRuntime();
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(r, 20, 1);
    const used = r.memoryStats().used;
    const cases: Array<[TrainerBaseOptions, ErrorConstructor, RegExp]> = [
      [{ swa: 3 as never }, TypeError, /^Trainer: swa must be \{ start, lr\?, annealEpochs\?, annealStrategy\? \}, got number 3$/],
      [{ swa: {} as never }, TypeError, /^Trainer: swa\.start must be a positive integer \(the first epoch averaged, 1-based\), got undefined$/],
      [{ swa: { start: 0 } }, RangeError, /^Trainer: swa\.start must be a positive integer .*got 0$/],
      [{ swa: { start: 1.5 } }, RangeError, /^Trainer: swa\.start must be a positive integer .*got 1\.5$/],
      [{ swa: { start: 2, lr: 0 } }, RangeError, /^Trainer: swa\.lr must be a positive finite number \(SWALR's swa_lr\), got 0$/],
      [{ swa: { start: 2, lr: Infinity } }, RangeError, /^Trainer: swa\.lr must be a positive finite number/],
      [{ swa: { start: 2, annealEpochs: 5 } }, TypeError, /^Trainer: swa\.annealEpochs shapes SWALR's annealing to swa\.lr: give swa\.lr too$/],
      [{ swa: { start: 2, annealStrategy: 'linear' } }, TypeError, /^Trainer: swa\.annealStrategy shapes SWALR's annealing/],
      [{ swa: { start: 2, lr: 0.1, annealEpochs: -1 } }, RangeError, /^Trainer: swa\.annealEpochs must be a non-negative integer \(SWALR's anneal_epochs\), got -1$/],
      [{ swa: { start: 2, lr: 0.1, annealStrategy: 'cosine' as never } }, RangeError, /^Trainer: swa\.annealStrategy must be 'cos' or 'linear', got the string "cosine"$/],
      [{ swa: { start: 2, lr: 0.1, annealStrategy: null as never } }, TypeError, /^Trainer: swa\.annealStrategy must be 'cos' or 'linear', got null$/],
      [{ swa: { start: 2, lr: 0.1, annealEpochs: null as never } }, TypeError, /^Trainer: swa\.annealEpochs must be a non-negative integer/],
      [{ swa: { start: 2, swaStart: 1 } as never }, TypeError, /^Trainer: swa: unknown option 'swaStart' \(expected one of start, lr, annealEpochs, annealStrategy\)$/],
      [{ swa: { start: 2 }, ema: { decay: 0.9 } }, TypeError, /^Trainer: give ema or swa, not both: each writes its average over the parameters when the run ends$/],
    ];
    for (const [options, type, message] of cases) {
      const make = () => new Trainer(net, d.x, d.t, d.x, d.t, options);
      expect(make, JSON.stringify(options)).toThrow(type);
      expect(make, JSON.stringify(options)).toThrow(message);
      expect(r.memoryStats().used, 'nothing allocated').toBe(used);
    }
    const noLr: Optimizer = { name: 'no-lr', update() {} };
    expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { optimizer: noLr, swa: { start: 1, lr: 0.1 } })).toThrow(/^Trainer: swa\.lr needs an optimizer with an lr; no-lr has none$/);
    // without lr it averages whatever the optimizer
    new Trainer(net, d.x, d.t, d.x, d.t, { optimizer: noLr, swa: { start: 1 } }).dispose();
    expect(r.memoryStats().used, 'freed').toBe(used);
    net.dispose(); r.dispose();
  });

  it('memory running out while the Trainer is made (its average, then its scratch) leaves nothing allocated', async () => {
    const r = await makeRuntime({ memory: { initial: 64, maximum: 64 } });
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [128, 128], outputSize: 2 });
    const d = blobs(r, 40, 1);
    const base = r.memoryStats().used;
    let lo = 1, hi = 1 << 22; // the largest block the memory holds
    while (lo < hi) { const m = (lo + hi + 1) >> 1; try { r.tensor([m]).dispose(); lo = m; } catch { hi = m - 1; } }
    // leave 0, 4 KiB, 8 KiB, … beside the Trainer's first allocations until it is made: the average (16,898 floats)
    // and the scratch (16,384) each run out at some of these sizes
    let failures = 0, made = false;
    for (let free = 0; !made && free <= 2 * lo; free += 1024) {
      const hog = r.tensor([Math.max(1, lo - free)]), held = r.memoryStats().used;
      try {
        new Trainer(net, d.x, d.t, d.x, d.t, { swa: { start: 1 } }).dispose();
        made = true;
      } catch (e) {
        expect(e).toBeInstanceOf(OutOfMemoryError);
        failures++;
      }
      expect(r.memoryStats().used, `${free * 4} bytes free`).toBe(held);
      hog.dispose();
    }
    expect(made).toBe(true);
    expect(failures).toBeGreaterThan(8);
    expect(r.memoryStats().used).toBe(base);
    net.dispose(); r.dispose();
  });

  it('2 threads give 1 thread\'s bits (the steps and the statistics\' pass split)', async () => {
    async function run(threads: number) {
      const r = await makeRuntime({ seed: 21, threads, busyCores: 'split' }); // split even while other test files busy the cores
      await r.ready;
      const net = new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [256, 256], outputSize: 2, useBatchnorm: true, useDropout: true, dropoutRatio: 0.2 });
      const d = blobs(r, 96, 1);
      const adam = new Adam({ lr: 0.05 });
      const jobs = r.threadStats().jobs;
      const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 4, miniBatchSize: 48, adaptiveThreads: false, optimizer: adam, swa: { start: 2, lr: 0.01 } });
      trainer.train();
      const out = { params: paramsOf(net), state: stateOf(net), split: r.threadStats().jobs - jobs };
      trainer.dispose(); adam.dispose(); net.dispose(); r.dispose();
      return out;
    }
    const one = await run(1), two = await run(2);
    expect(two.split, 'calls split across the 2 threads').toBeGreaterThan(0);
    expectParams(two.params, one.params, 'the averaged parameters');
    expectParams(two.state, one.state, 'the recomputed statistics');
  });

  it('BatchNormalization\'s momentum, which update_bn sets per batch, is settable within [0, 1] only', async () => {
    const r = await makeRuntime();
    const layer = new BatchNormalization(r.tensor([3], [1, 1, 1]), r.tensor([3]));
    layer.momentum = 0.5;
    expect(layer.momentum).toBe(0.5);
    for (const bad of [1.5, -0.1, NaN]) expect(() => { layer.momentum = bad; }).toThrow(new RangeError(`BatchNormalization: momentum must be in [0, 1], got ${bad}`));
    expect(() => { layer.momentum = '0.5' as never; }).toThrow(TypeError);
    expect(layer.momentum).toBe(0.5);
    // the forward uses what was set: momentum 0 takes the batch's statistics whole
    layer.momentum = 0;
    layer.forward(r.tensor([2, 3], [1, 2, 3, 3, 4, 5]), true);
    expect(Array.from(layer.runningMean.toArray())).toEqual([2, 3, 4]);
    layer.dispose(); r.dispose();
  });

  it('allocates with the Trainer (the average and a scratch of the largest parameter), no epoch allocates; dispose() frees', async () => {
    const used: number[] = [];
    const s = await setup({ swa: { start: 1 }, callbacks: { onEpochBegin: (e) => { used.push(e.trainer.network.rt.memoryStats().used); } } });
    s.trainer.train();
    expect(new Set(used.slice(1)).size, used.join(', ')).toBe(1);
    const r = s.r, before = r.memoryStats().used;
    const sgd = new SGD({ lr: 0.1 });
    const plain = new Trainer(s.net, s.d.x, s.d.t, s.d.x, s.d.t, { optimizer: sgd });
    const plainBytes = r.memoryStats().used - before;
    plain.dispose();
    const swa = new Trainer(s.net, s.d.x, s.d.t, s.d.x, s.d.t, { optimizer: sgd, swa: { start: 1 } });
    const floats = Object.values(s.net.params).reduce((n, p) => n + p.size, 0), largest = Math.max(...Object.values(s.net.params).map((p) => p.size));
    const extra = r.memoryStats().used - before - plainBytes;
    expect(extra).toBeGreaterThanOrEqual((floats + largest) * 4);
    expect(extra).toBeLessThan((floats + largest) * 4 + 256);
    swa.dispose();
    expect(r.memoryStats().used, 'freed').toBe(before);
    expect(() => swa.swaParams()).toThrow(/^Trainer\.swaParams: used after dispose\(\)$/);
    sgd.dispose(); s.end();
  });
});
