// Constructors that validate before they allocate, and training state that
// cannot be corrupted: accuracy without the loss, empty sets, optimizer state
// and hyper-parameters, the runtime's seed, batch-norm running statistics.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { Affine, BatchNormalization, Convolution, Dropout, GlobalAveragePooling, LayerNormalization, Pooling } from '../src/layers/index.js';
import { DeepConvNet, MultiLayerNet, MultiLayerNetExtend, Sequential, SimpleConvNet, alexNet } from '../src/nets/index.js';
import { AdaDelta, AdaGrad, Adam, AdamW, Momentum, Nesterov, RMSprop, SGD, createOptimizer, optimizerNames } from '../src/optim/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime(); });

/** Runs `build`, expects it to throw `error`, and that it left the memory as it found it. */
function expectNoLeak(build: () => unknown, error: RegExp): void {
  const before = rt.memoryStats();
  expect(build).toThrow(error);
  const after = rt.memoryStats();
  expect({ used: after.used, blocks: after.blocks }, String(error)).toEqual({ used: before.used, blocks: before.blocks });
}

describe('constructors validate before they allocate', () => {
  const mlp = { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10 };
  it('MultiLayerNet and MultiLayerNetExtend: bad activation, init, decay or ratio leak nothing', () => {
    expectNoLeak(() => new MultiLayerNet(rt, { ...mlp, activation: 'gelu' as 'relu' }), /activation: expected 'relu', 'sigmoid' or 'tanh', got 'gelu'/);
    expectNoLeak(() => new MultiLayerNet(rt, { ...mlp, weightInitStd: NaN }), /weightInitStd: expected a non-negative number, got NaN/);
    expectNoLeak(() => new MultiLayerNet(rt, { ...mlp, weightInitStd: 'glorot' as 'he' }), /weightInitStd: expected a number, 'xavier'/);
    expectNoLeak(() => new MultiLayerNet(rt, { ...mlp, weightDecayLambda: -1 }), /weightDecayLambda: expected a non-negative number, got -1/);
    expectNoLeak(() => new MultiLayerNet(rt, { ...mlp, hiddenSizeList: 100 as unknown as number[] }), /hiddenSizeList must be an array/);
    expectNoLeak(() => new MultiLayerNetExtend(rt, { ...mlp, activation: 'gelu' as 'relu', useBatchnorm: true }), /got 'gelu'/);
    expectNoLeak(() => new MultiLayerNetExtend(rt, { ...mlp, weightInitStd: -1 }), /weightInitStd/);
    expectNoLeak(() => new MultiLayerNetExtend(rt, { ...mlp, l1Lambda: Infinity }), /l1Lambda: expected a non-negative number/);
    expectNoLeak(() => new MultiLayerNetExtend(rt, { ...mlp, weightDecayLambda: NaN }), /weightDecayLambda/);
    expectNoLeak(() => new MultiLayerNetExtend(rt, { ...mlp, useDropout: true, dropoutRatio: 1 }), /Dropout: ratio must be in \[0, 1\)/);
  });

  it('conv nets: bad init, shapes or sizes leak nothing', () => {
    expectNoLeak(() => new SimpleConvNet(rt, { weightInitStd: NaN }), /weightInitStd/);
    expectNoLeak(() => new SimpleConvNet(rt, { convParam: { filterNum: 30, filterSize: 5, stride: 0 } }), /stride must be a positive integer/);
    expectNoLeak(() => new SimpleConvNet(rt, { hiddenSize: 0 }), /SimpleConvNet: hiddenSize must be a positive integer/);
    expectNoLeak(() => new DeepConvNet(rt, { inputDim: [1, 1, 1] }), /does not fit/);
    expectNoLeak(() => new DeepConvNet(rt, { outputSize: -1 }), /DeepConvNet: outputSize must be a positive integer/);
    expectNoLeak(() => alexNet(rt, { dropout: 2 }), /alexNet: dropout must be in \[0, 1\)/);
    expectNoLeak(() => alexNet(rt, { numClasses: 0 }), /alexNet: numClasses must be a positive integer/);
  });

  it('layers: mismatched or dead tensors leak nothing', () => {
    const [W, b, dW, b3, g3, W4] = [rt.tensor([3, 2]), rt.tensor([2]), rt.tensor([3, 2]), rt.tensor([3]), rt.tensor([3]), rt.tensor([2, 1, 3, 3])];
    const dead = rt.tensor([3, 2]);
    dead.dispose();
    expectNoLeak(() => new Affine(W, b, { dW }), /give both grads.dW and grads.db/);
    expectNoLeak(() => new Affine(W, b, { dW: dead, db: b }), /Affine: grads.dW: .*used after dispose/);
    expectNoLeak(() => new Affine(W, b3), /b must have 2 elements/);
    expectNoLeak(() => new Affine(W, b, { dW: b3, db: b }), /dW\/db must match W\/b in size/);
    expectNoLeak(() => new Convolution(W4, b, 1, -1), /pad must be a non-negative integer/);
    expectNoLeak(() => new Convolution(W4, b, 1, 0, { dW: W4, db: b3 }), /dW\/db must match W\/b in size/);
    expectNoLeak(() => new BatchNormalization(g3, b3, 2), /momentum must be in \[0, 1\]/);
    expectNoLeak(() => new BatchNormalization(g3, b3, 0.9, { runningMean: dead }), /runningMean: .*used after dispose/);
    expectNoLeak(() => new LayerNormalization(g3, b3, { eps: 0 }), /eps must be a positive number/);
    expectNoLeak(() => new Pooling(2, 2, 1, 0, { mode: 'min' as 'max' }), /mode must be 'max' or 'avg'/);
    expectNoLeak(() => new Dropout(NaN), /ratio must be in \[0, 1\)/);
    for (const t of [W, b, dW, b3, g3, W4]) t.dispose();
  });
});

describe('accuracy, loss and evaluate', () => {
  it('accuracy needs no loss: NaN rows count as wrong, the others are scored', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [], outputSize: 3 });
    // identity-like weights: class = argmax of the first two inputs, or class 2 where both are negative
    net.importParams({ W1: { shape: [2, 3], data: [1, 0, 0, 0, 1, 0] }, b1: { shape: [3], data: [0, 0, -0.5] } });
    const x = rt.tensor([4, 2], [2, 0, 0, 3, NaN, 1, -1, -1]);
    expect(net.accuracy(x, [0, 1, 0, 2])).toBe(0.75); // row 2 (NaN) is wrong even though argmax would say 0
    expect(net.accuracy(x, [0, 0, 0, 2])).toBe(0.5);
    expect(() => net.loss(x, [0, 1, 0, 2])).toThrow(/the loss is NaN/);
    net.dispose();
  });

  it('loss, accuracy, evaluate and gradient on 0 rows: a clear error, not NaN', () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const empty = rt.tensor([0, 4]);
    for (const [what, call] of [
      ['loss', () => net.loss(empty, [])], ['accuracy', () => net.accuracy(empty, [])],
      ['evaluate', () => net.evaluate(empty, [])], ['gradient', () => net.gradient(empty, [])],
    ] as const) {
      expect(call, what).toThrow(new RegExp(`${what}: x has 0 rows`));
    }
    net.dispose();
  });

  it('checks plain-array labels: integers in [0, classes)', () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const x = rt.tensor([2, 4], randomArray(8, 1));
    expect(() => net.accuracy(x, [0, 1.5])).toThrow(/accuracy: label t\[1\] = 1.5 is not an integer class in \[0, 2\)/);
    expect(() => net.accuracy(x, [0, 2])).toThrow(/accuracy: label t\[1\] = 2 is outside \[0, 2\)/);
    expect(() => net.loss(x, [NaN, 0])).toThrow(/label t\[0\] = NaN is not an integer class/);
    expect(() => net.evaluate(x, rt.tensor([2, 3]))).toThrow(/evaluate: one-hot t must have 2 columns/);
    net.dispose();
  });
});

describe('optimizer state and hyper-parameters', () => {
  function trained(opt: { update: (p: Record<string, Tensor>, g: Record<string, Tensor>) => void }): MultiLayerNet {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const x = rt.tensor([2, 4], randomArray(8, 2));
    for (let i = 0; i < 3; i++) opt.update(net.params, net.gradient(x, [0, 1]));
    return net;
  }

  it('loadState refuses a state missing a parameter, at load when known and at the next update otherwise', () => {
    for (const name of optimizerNames) {
      const opt = createOptimizer(name);
      const net = trained(opt);
      const state = opt.state();
      const { W1: _dropped, ...rest } = state.params;
      // the optimizer has stepped W1: refused at once, and the old state is kept
      expect(() => opt.loadState({ ...state, params: rest }), name).toThrow(new RegExp(`${opt.name}.loadState: the state has no 'W1'`));
      expect(opt.state(), name).toEqual(state);
      // a fresh optimizer cannot know: its next update refuses before writing anything
      const fresh = createOptimizer(name);
      fresh.loadState({ ...state, params: rest });
      const before = net.exportParams();
      expect(() => fresh.update(net.params, net.grads), name).toThrow(new RegExp(`${opt.name}.update: the state given to loadState has no 'W1'`));
      expect(net.exportParams(), name).toEqual(before);
      expect(fresh.t, name).toBe(state.t);
      net.dispose();
    }
  });

  it('loadState refuses negative running sums of squares and non-finite values', () => {
    for (const [opt, slot] of [[new Adam(), 'v'], [new AdamW(), 'v'], [new AdaGrad(), 'h'], [new RMSprop(), 'h'], [new AdaDelta(), 'd']] as const) {
      const net = trained(opt);
      const state = opt.state();
      const bad = structuredClone(state);
      bad.params.b1[slot][0] = -1e-3;
      expect(() => opt.loadState(bad), opt.name).toThrow(new RegExp(`params\\['b1'\\]\\.${slot}\\[0\\] is -0.001; ${slot} is a running sum of squares`));
      bad.params.b1[slot][0] = 1e39; // not a float32
      expect(() => opt.loadState(bad), opt.name).toThrow(/expected a finite float32 number/);
      expect(opt.state()).toEqual(state);
      net.dispose();
    }
    const m = new Momentum();
    const net = trained(m);
    const s = m.state();
    s.params.W1.v[0] = -1; // a velocity may be negative
    expect(() => m.loadState(s)).not.toThrow();
    net.dispose();
  });

  it('validates hyper-parameters on set (opt.lr = NaN throws) and keeps the old value', () => {
    const cases = [
      [new SGD(), 'lr', NaN], [new Momentum(), 'momentum', 1], [new Nesterov(), 'lr', -1], [new AdaGrad(), 'eps', 0],
      [new RMSprop(), 'decayRate', Infinity], [new AdaDelta(), 'rho', 1.5], [new Adam(), 'beta2', 1], [new AdamW(), 'weightDecay', '0.1'],
    ] as const;
    for (const [opt, key, value] of cases) {
      const o = opt as unknown as Record<string, unknown>;
      const old = o[key];
      expect(() => { o[key] = value; }, `${opt.name}.${key}`).toThrow(new RegExp(`${opt.name}: ${key} must be`));
      expect(o[key]).toBe(old);
      o.lr = 0.5; // a valid value is taken (schedules set lr between steps)
      expect(o.lr).toBe(0.5);
    }
    expect(Object.keys(new Adam())).toEqual(expect.arrayContaining(['lr', 'beta1', 'beta2', 'eps']));
  });

  it('validates rt.seed on set', () => {
    const seed = rt.seed;
    for (const bad of [1.5, -1, 2 ** 32, NaN]) expect(() => { rt.seed = bad; }).toThrow(/seed: expected an integer in \[0, 2\^32\)/);
    expect(rt.seed).toBe(seed);
    rt.seed = 7;
    expect(rt.randomState.seed).toBe(7);
    rt.seed = seed;
  });
});

describe('batch-norm running statistics', () => {
  it('snapshotState saves and restores the running statistics without allocating', () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 4, hiddenSizeList: [5, 5], outputSize: 2, useBatchnorm: true });
    const x = rt.tensor([3, 4], randomArray(12, 3));
    expect(Object.keys(net.state)).toEqual(['runningMean1', 'runningVar1', 'runningMean2', 'runningVar2']);
    net.gradient(x, [0, 1, 0]);
    const snap = net.snapshotState();
    snap.save();
    const good = Object.fromEntries(Object.entries(net.state).map(([k, t]) => [k, t.toArray()]));
    const used = rt.memoryStats().used;
    const bad = rt.tensor([3, 4], [NaN, ...randomArray(11, 4)]);
    expect(() => net.gradient(bad, [0, 1, 0])).toThrow(/the loss is NaN/);
    for (const [k, t] of Object.entries(net.state)) expect(t.toArray(), k).toEqual(good[k]); // a failed pass puts them back itself
    net.predict(bad, true).dispose(); // a training-mode forward that succeeds moves them
    expect(Number.isNaN(net.state.runningMean1.data[0])).toBe(true);
    snap.restore();
    for (const [k, t] of Object.entries(net.state)) expect(t.toArray(), k).toEqual(good[k]);
    bad.dispose();
    expect(rt.memoryStats().used).toBe(used);
    snap.dispose();
    expect(() => snap.restore()).toThrow(/StateSnapshot.restore: used after dispose/);
    net.dispose();
  });

  it('a restore or save with a state tensor the caller disposed writes nothing', () => {
    const t = (values: number[]) => rt.tensor([2], values);
    const given = [t([1, 2]), t([3, 4]), t([5, 6]), t([7, 8])];
    const bn = (i: number) => new BatchNormalization(t([1, 1]), t([0, 0]), 0.9, { runningMean: given[i], runningVar: given[i + 1] });
    const net = new Sequential(rt, [new Affine(rt.tensor([2, 2]), rt.tensor([2])), bn(0), new Affine(rt.tensor([2, 2]), rt.tensor([2])), bn(2)]);
    const snap = net.snapshotState();
    snap.save();
    given[0].set([9, 9]);
    given[3].dispose();
    expect(() => snap.restore()).toThrow(/^StateSnapshot\.restore: state 'runningVar2': .*used after dispose/);
    expect(Array.from(given[0].data), 'the first entry kept its value: nothing was written').toEqual([9, 9]);
    expect(() => snap.save()).toThrow(/^StateSnapshot\.save: state 'runningVar2'/);
    snap.dispose();
    net.dispose();
  });
});

describe('entries outside layers and nets', () => {
  it('a Trainer refuses a disposed net; rt.randn/uniform refuse dead or foreign tensors', async () => {
    const { Trainer } = await import('../src/train/index.js');
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const x = rt.tensor([4, 4]), t = rt.labels([4]);
    net.dispose();
    expect(() => new Trainer(net, x, t, x, t)).toThrow(/Trainer: network used after dispose/);
    const dead = rt.tensor([3]);
    dead.dispose();
    expect(() => rt.randn(dead)).toThrow(/randn: t: .*used after dispose/);
    const other = await makeRuntime();
    expect(() => rt.uniform(other.tensor([3]))).toThrow(/uniform: t: .*another runtime/);
    await other.dispose();
    // numpy.random.normal refuses a negative scale; NaN or ±Inf would fill the tensor with NaN
    const t3 = rt.tensor([3], [5, 5, 5]);
    for (const [call, message] of [
      [() => rt.randn(t3, -1), /^randn: std must be a finite number >= 0, got -1$/], [() => rt.randn(t3, NaN), /^randn: std must be a finite number >= 0, got NaN$/],
      [() => rt.randn(t3, 1, Infinity), /^randn: mean must be a finite number, got Infinity$/],
      [() => rt.uniform(t3, 0, Infinity), /^uniform: lo and hi must be finite numbers, got 0 and Infinity$/],
    ] as const) {
      expect(call).toThrow(message);
    }
    expect(Array.from(t3.data), 'nothing written').toEqual([5, 5, 5]);
    t3.dispose();
  });
});

describe('edge cases the fuzz test found', () => {
  it('GlobalAveragePooling refuses empty planes (their mean is undefined) instead of returning NaN', () => {
    expect(() => new GlobalAveragePooling().forward(rt.tensor([2, 3, 0, 4]))).toThrow(/GlobalAveragePooling.forward: x has empty planes \[2, 3, 0, 4\]/);
  });

  it('Dropout.backward refuses a dout shaped unlike the last forward input, in inference mode too', () => {
    for (const inverted of [false, true]) {
      const layer = new Dropout(0.5, { inverted });
      layer.forward(rt.tensor([2, 3]), false);
      expect(() => layer.backward(rt.tensor([5]))).toThrow(/Dropout.backward: dout must be \[2, 3\] like the last forward's x, got \[5\]/);
      layer.forward(rt.tensor([2, 3]), true);
      expect(() => layer.backward(rt.tensor([3, 2]))).toThrow(/dout must be \[2, 3\]/);
      layer.dispose();
    }
  });

  it('optimizer state() after updating empty parameters', () => {
    for (const name of optimizerNames) {
      const opt = createOptimizer(name);
      const p = { a: rt.tensor([0, 3]), b: rt.tensor([2, 0]) };
      opt.update(p, { a: rt.tensor([0, 3]), b: rt.tensor([2, 0]) });
      const state = opt.state();
      expect(state.t, name).toBe(1);
      expect(state.params.a.shape, name).toEqual([0, 3]);
      opt.dispose();
    }
  });
});
