// Behaviour of session 66's new code that no other test pinned down, each found by a mutant that every other
// test let through (session 66's mutation run): SoftmaxWithLoss after a net's evaluation whose last chunk's labels
// all weigh 0, a weight of −0 kept as 0, the classWeights hint of a loss that overflows; swa's average still held
// after a run that recomputed batch norm's statistics, a second run's and a resumed state's count and average,
// resume() comparing annealEpochs, the defaults a state records, the rate record SWALR anneals from and the rate it
// puts back without lrSchedule, a Trainer or training rows disposed during update_bn's pass; a frozen net whose
// output is not [rows, classes], and its evalBatchSize chunks; netSummary's errors keeping the constructor's as
// their cause. Node and Chromium.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { makeRuntime, randomArray, expectBits } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { NonFiniteError } from '../src/runtime/errors.js';
import { SoftmaxWithLoss } from '../src/layers/softmax-with-loss.js';
import {
  Adam, Affine, Convolution, MultiLayerNet, MultiLayerNetExtend, Relu, Sequential, SimpleConvNet, Trainer, classificationMetrics, loadModel, netSummary, saveModel,
  type TrainerBaseOptions, type TrainerState,
} from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 66 }); });
afterAll(() => rt.dispose());

type Params = Record<string, Float32Array>;
const paramsOf = (net: Sequential): Params => Object.fromEntries(Object.entries(net.params).map(([k, t]) => [k, t.toArray()]));
const stateOf = (net: Sequential): Params => Object.fromEntries(Object.entries(net.state).map(([k, t]) => [k, t.toArray()]));

function expectParams(got: Params | null, want: Params, what: string): void {
  expect(got, what).not.toBeNull();
  expect(Object.keys(got!).sort(), `${what}: keys`).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) expectBits(got![k], want[k], `${what}: ${k}`);
}

describe('SoftmaxWithLoss({ classWeights }): what a net\'s evaluation leaves, and the weights kept', () => {
  it('after evaluate() whose last chunk\'s labels all weigh 0: the layer\'s loss is 0 and backward() gives zeros', () => {
    const W = rt.tensor([4, 3], randomArray(12, 1, -1, 1)), b = rt.tensor([3]);
    const net = new Sequential(rt, [new Affine(W, b)], { classWeights: [0, 1, 2], evalBatchSize: 4 });
    const x = rt.tensor([8, 4], randomArray(32, 2, -2, 2));
    const { loss } = net.evaluate(x, [1, 2, 1, 2, 0, 0, 0, 0]);
    expect(Number.isFinite(loss)).toBe(true);
    expect(net.lastLayer.loss).toBe(0);
    expect(Array.from(net.lastLayer.backward().data)).toEqual(new Array(12).fill(0));
    net.dispose(); x.dispose(); W.dispose(); b.dispose();
  });

  it('a weight of −0 is kept as 0: the net\'s weights are what its model file gives back', () => {
    const layer = new SoftmaxWithLoss({ classWeights: [-0, 1] });
    expect(Object.is(layer.classWeights![0], 0)).toBe(true);
    layer.dispose();
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 3, classWeights: [1, -0, 2] });
    expect(Object.is(net.lastLayer.classWeights![1], 0)).toBe(true);
    const loaded = loadModel(rt, saveModel(net)).net;
    expect(loaded.lastLayer.classWeights).toEqual(net.lastLayer.classWeights);
    loaded.dispose(); net.dispose();
  });

  it('a weighted loss that overflows float32 names classWeights as a cause (x is finite)', () => {
    const layer = new SoftmaxWithLoss({ classWeights: [3e38, 3e38] });
    const x = rt.tensor([2, 2], [20, -20, -20, 20]);
    let error: unknown;
    try { layer.forward(x, [1, 0]); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(NonFiniteError);
    expect((error as Error).message).toBe('SoftmaxWithLoss: the loss is Infinity; x holds NaN or Inf (training diverged? lower the learning rate), or classWeights too large for float32 sums');
    layer.dispose(); x.dispose();
  });
});

/** A 2-[8, 8]-2 net (with batch norm when asked) on 120 rows of blobs, batch 20, Adam 0.05, 5 epochs, on a runtime of its own. */
async function swaSetup(options: TrainerBaseOptions, { batchnorm = false, seed = 5 } = {}) {
  const r = await makeRuntime({ seed });
  const net = batchnorm
    ? new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2, useBatchnorm: true })
    : new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2 });
  const d = blobs(r, 120, 1), te = blobs(r, 40, 2);
  const opt = new Adam({ lr: 0.05 });
  const trainer = new Trainer(net, d.x, d.t, te.x, te.t, { epochs: 5, miniBatchSize: 20, optimizer: opt, ...options });
  return { r, net, d, opt, trainer, end: () => { trainer.dispose(); opt.dispose(); r.dispose(); } };
}

describe('swa: the average and its count the Trainer holds', () => {
  it('after a run that recomputed batch norm\'s statistics, swaParams() and trainerState() give the average the net ended with', async () => {
    const s = await swaSetup({ swa: { start: 2 } }, { batchnorm: true });
    expect(s.trainer.train().swaModels).toBe(4);
    const ended = paramsOf(s.net);
    expectParams(s.trainer.swaParams(), ended, 'swaParams()');
    const average = s.trainer.trainerState().swaAverage!;
    expectParams(Object.fromEntries(Object.entries(average).map(([k, v]) => [k, Float32Array.from(v.data)])), ended, 'trainerState().swaAverage');
    s.end();
  });

  it('a second run counts its own epochs from 0: its state before start records none and resumes', async () => {
    let state: TrainerState | null = null;
    const s = await swaSetup({ swa: { start: 3 } });
    s.trainer.train();
    await s.trainer.fit({ callbacks: { onStepEnd: (e) => { if (e.iter === 8) state = JSON.parse(JSON.stringify(e.trainer.trainerState())) as TrainerState; } } });
    expect(state!.swa).toEqual({ start: 3, lr: null, annealEpochs: 10, annealStrategy: 'cos', models: 0 });
    const t = await swaSetup({ swa: { start: 3 } }, { seed: 77 });
    t.trainer.resume(state!);
    t.trainer.train();
    expectParams(paramsOf(t.net), paramsOf(s.net), 'resumed in the second run\'s epoch 2');
    s.end(); t.end();
  });

  it('resumed before start by a Trainer that averaged a run: its old average is dropped (swaParams() null), the run ends as the uninterrupted one', async () => {
    let state: TrainerState | null = null;
    const want = await swaSetup({ swa: { start: 3 }, callbacks: { onStepEnd: (e) => { if (e.iter === 8) state = e.trainer.trainerState(); } } });
    want.trainer.train();
    const s = await swaSetup({ swa: { start: 3 } }, { seed: 77 });
    s.trainer.train();
    expect(s.trainer.swaParams()).not.toBeNull();
    s.trainer.resume(state!);
    expect(s.trainer.swaParams()).toBeNull();
    expect(s.trainer.trainerState().swaAverage).toBeNull();
    expect(s.trainer.train().swaModels).toBe(3);
    expectParams(paramsOf(s.net), paramsOf(want.net), 'the resumed run');
    want.end(); s.end();
  });
});

describe('swa: resume() and the options a state records', () => {
  /** The state after step 20 (epoch 4 of 5, two epochs averaged) of a run with `swa`. */
  async function midRun(swa: TrainerBaseOptions['swa']): Promise<TrainerState> {
    let state: TrainerState | null = null;
    const s = await swaSetup({ swa, callbacks: { onStepEnd: (e) => { if (e.iter === 20) state = JSON.parse(JSON.stringify(e.trainer.trainerState())) as TrainerState; } } });
    s.trainer.train();
    s.end();
    return state!;
  }

  it('refuses another annealEpochs, writing nothing', async () => {
    const state = await midRun({ start: 2, lr: 0.01, annealEpochs: 2 });
    const s = await swaSetup({ swa: { start: 2, lr: 0.01, annealEpochs: 3 } }, { seed: 77 });
    const params = paramsOf(s.net);
    expect(() => s.trainer.resume(state)).toThrow(/^Trainer\.resume: the state's run has swa\.annealEpochs 2, this Trainer 3: a resumed run must train with the interrupted run's options$/);
    expectParams(paramsOf(s.net), params, 'the parameters');
    expect(s.trainer.swaParams()).toBeNull();
    s.end();
  });

  it('records SWALR\'s defaults (annealEpochs 10, cos): a Trainer giving them resumes a state whose run left them out, and the reverse', async () => {
    const implicit = await midRun({ start: 2, lr: 0.01 }), explicit = await midRun({ start: 2, lr: 0.01, annealEpochs: 10, annealStrategy: 'cos' });
    expect(implicit.swa).toEqual({ start: 2, lr: 0.01, annealEpochs: 10, annealStrategy: 'cos', models: 2 });
    for (const [state, swa] of [[implicit, { start: 2, lr: 0.01, annealEpochs: 10, annealStrategy: 'cos' }], [explicit, { start: 2, lr: 0.01 }]] as const) {
      const s = await swaSetup({ swa }, { seed: 77 });
      s.trainer.resume(state);
      s.end();
    }
  });

  it('swa.lr without lrSchedule, resumed mid-epoch past start: the optimizer has the uninterrupted run\'s rate at the position', async () => {
    let state: TrainerState | null = null, lr = NaN;
    const s = await swaSetup({ swa: { start: 2, lr: 0.2, annealEpochs: 4 }, callbacks: { onStepEnd: (e) => { if (e.iter === 20) { state = e.trainer.trainerState(); lr = s.opt.lr; } } } });
    s.trainer.train();
    const t = await swaSetup({ swa: { start: 2, lr: 0.2, annealEpochs: 4 } }, { seed: 77 });
    expect(lr).not.toBe(t.opt.lr);
    t.trainer.resume(state!);
    expect(t.opt.lr).toBe(lr);
    s.end(); t.end();
  });

  it('a Trainer without swa refuses a state of a run without it that holds a swa average, writing nothing', async () => {
    const average = (await midRun({ start: 2 })).swaAverage!;
    let plain: TrainerState | null = null;
    const p = await swaSetup({ callbacks: { onStepEnd: (e) => { if (e.iter === 20) plain = JSON.parse(JSON.stringify(e.trainer.trainerState())) as TrainerState; } } });
    p.trainer.train();
    p.end();
    expect(plain!.swa).toBeNull();
    const s = await swaSetup({}, { seed: 77 });
    const params = paramsOf(s.net);
    expect(() => s.trainer.resume({ ...plain!, swaAverage: average })).toThrow(/^Trainer\.resume: the state holds a swa average of the parameters, and this Trainer has no swa option/);
    expectParams(paramsOf(s.net), params, 'the parameters');
    s.end();
  });

  it('refuses a state whose record lacks the rate epoch start ended with (SWALR anneals from it), writing nothing', async () => {
    const state = await midRun({ start: 2, lr: 0.01 });
    const epochs = state.result.epochs.map((e, i) => (i === 1 ? { ...e, lr: undefined } : e));
    const s = await swaSetup({ swa: { start: 2, lr: 0.01 } }, { seed: 77 });
    const params = paramsOf(s.net);
    expect(() => s.trainer.resume({ ...state, result: { ...state.result, epochs } })).toThrow(/^Trainer\.resume: result\.epochs\[1\] must record the rate epoch 2 ended with \(SWALR anneals from it\)$/);
    expectParams(paramsOf(s.net), params, 'the parameters');
    s.end();
  });
});

describe('swa: disposed during update_bn\'s pass over the training rows', () => {
  it('the Trainer disposed: the run stops with its error, the raw parameters and statistics put back', async () => {
    let raw: { params: Params; state: Params } | null = null;
    const s = await swaSetup({ swa: { start: 2 }, callbacks: { onEpochEnd: (e) => { if (e.epoch === 5) { inPass = true; raw = { params: paramsOf(s.net), state: stateOf(s.net) }; } } } }, { batchnorm: true });
    let inPass = false;
    const forward = s.net.predictBorrowed.bind(s.net);
    vi.spyOn(s.net, 'predictBorrowed').mockImplementation((...args: Parameters<Sequential['predictBorrowed']>) => {
      const y = forward(...args);
      if (inPass && args[1] === true) { inPass = false; s.trainer.dispose(); }
      return y;
    });
    expect(() => s.trainer.train()).toThrow(/^Trainer: disposed during training; the run stopped after epoch 5, step 30$/);
    expectParams(paramsOf(s.net), raw!.params, 'the raw parameters');
    expectParams(stateOf(s.net), raw!.state, 'the raw statistics');
    s.end();
  });

  it('the training rows disposed: the run stops naming xTrain', async () => {
    const s = await swaSetup({ swa: { start: 2 }, callbacks: { onEpochEnd: (e) => { if (e.epoch === 5) inPass = true; } } }, { batchnorm: true });
    let inPass = false;
    const forward = s.net.predictBorrowed.bind(s.net);
    vi.spyOn(s.net, 'predictBorrowed').mockImplementation((...args: Parameters<Sequential['predictBorrowed']>) => {
      const y = forward(...args);
      if (inPass && args[1] === true) { inPass = false; s.d.x.dispose(); }
      return y;
    });
    expect(() => s.trainer.train()).toThrow(/^Trainer: xTrain: tensor \[120, 2\] used after dispose/);
    s.end();
  });
});

describe('classificationMetrics of a FrozenNet whose output is not [rows, classes]', () => {
  it('is refused naming it, as for the net, before a chunk runs', () => {
    const W = rt.tensor([2, 1, 3, 3], randomArray(18, 7)), b = rt.tensor([2]);
    const net = new Sequential(rt, [new Convolution(W, b, 1, 0), new Relu()]);
    const frozen = net.freeze();
    const x = rt.tensor([4, 1, 5, 5], randomArray(100, 8)), t = rt.labels([4], [0, 1, 1, 0]);
    const spy = vi.spyOn(frozen, 'predictBorrowed');
    expect(() => classificationMetrics(frozen, x, t)).toThrow(new RangeError('classificationMetrics: the net\'s output for a row of x is [1, 2, 3, 3], not [rows, classes]'));
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
    for (const v of [x, t, W, b]) v.dispose();
    frozen.dispose(); net.dispose();
  });
});

describe('classificationMetrics of a FrozenNet: chunks of the net\'s evalBatchSize', () => {
  it('runs x in chunks of the evalBatchSize the net had at freezing (a conv net\'s 100 rows)', () => {
    const net = new SimpleConvNet(rt, { inputDim: [1, 6, 6], convParam: { filterNum: 2, filterSize: 3 }, hiddenSize: 4, outputSize: 3 });
    const frozen = net.freeze();
    expect(frozen.evalBatchSize).toBe(100);
    const x = rt.tensor([230, 1, 6, 6], randomArray(230 * 36, 9)), t = rt.labels([230], Array.from({ length: 230 }, (_, i) => i % 3));
    const spy = vi.spyOn(frozen, 'predictBorrowed');
    classificationMetrics(frozen, x, t);
    expect(spy.mock.calls.map(([chunk]) => chunk.shape[0])).toEqual([100, 100, 30]);
    spy.mockRestore();
    x.dispose(); t.dispose(); frozen.dispose(); net.dispose();
  });
});

describe('netSummary(spec): an option error keeps the constructor\'s as its cause', () => {
  it('the cause is the error the constructor\'s checks threw, of the same class', () => {
    let error: unknown;
    try { netSummary({ kind: 'mlp', options: { inputSize: 4, hiddenSizeList: [0], outputSize: 2 } }); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe('netSummary: spec.options: hiddenSizeList[0] must be a positive integer, got 0');
    const cause = (error as Error).cause;
    expect(cause).toBeInstanceOf(RangeError);
    expect((cause as Error).message).toBe('MultiLayerNet: hiddenSizeList[0] must be a positive integer, got 0');
  });
});
