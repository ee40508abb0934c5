// Guards against writes outside a buffer, aliased operands and state moved before an error:
// labels changed between a loss layer's forward and backward, an optimizer's layout reused over
// new tensors or padding that no longer is zero, an Affine fed its own output, a net's training-mode
// loss refusing its targets, and options netTensorShapes must refuse as the constructors do.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { SoftmaxWithLoss } from '../src/layers/softmax-with-loss.js';
import { Affine } from '../src/layers/affine.js';
import { Relu } from '../src/layers/activations.js';
import { SGD } from '../src/optim/sgd.js';
import { Adam } from '../src/optim/adam.js';
import { AdamW } from '../src/optim/adamw.js';
import { MultiLayerNet } from '../src/nets/multi-layer-net.js';
import { MultiLayerNetExtend } from '../src/nets/multi-layer-net-extend.js';
import { buildNet, netTensorShapes, type NetSpec } from '../src/nets/registry.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await makeRuntime();
});

const bits = (t: Tensor): Int32Array => new Int32Array(t.toArray().buffer);

describe('SoftmaxWithLoss.backward after its labels changed', () => {
  it('refuses a label outside [0, classes) with a RangeError naming it, and writes nothing', () => {
    const canaries = new Canaries(rt, 11);
    const swl = new SoftmaxWithLoss();
    const x = between(canaries, () => rt.tensor([2, 3], [1, 2, 3, 4, 5, 6]));
    const t = between(canaries, () => rt.labels([2], [0, 1]));
    swl.forward(x, t);
    const dx = swl.backward(1);
    const before = bits(dx);
    const after = between(canaries, () => rt.tensor([16]));
    after.data.fill(42);
    for (const bad of [16, -5, 3]) {
      t.data[1] = bad;
      expect(() => swl.backward(1)).toThrow(RangeError);
      expect(() => swl.backward(1)).toThrow(new RegExp(`^SoftmaxWithLoss\\.backward: label t\\[1\\] = ${bad} is outside \\[0, 3\\)`));
      expect(bits(dx)).toEqual(before);
      expect(Array.from(after.data)).toEqual(Array(16).fill(42));
      expect(canaries.changed()).toBe(0);
    }
    t.data[1] = 2; // back in range: backward runs again
    expect(Array.from(swl.backward(1).data)).toHaveLength(6);
    swl.dispose();
    for (const v of [x, t, after]) v.dispose();
    canaries.dispose();
  });
});

describe('SoftmaxWithLoss with its own y as soft targets', () => {
  it('gives the loss and gradient of a copy of them', () => {
    const x1 = rt.tensor([3, 4], randomArray(12, 13)), x2 = rt.tensor([3, 4], randomArray(12, 14));
    const swl = new SoftmaxWithLoss(), ref = new SoftmaxWithLoss();
    swl.forward(x1, [0, 1, 2]);
    const soft = rt.tensor([3, 4], swl.y!.data);
    const expected = ref.forward(x2, soft);
    const expectedDx = ref.backward(1);
    expect(swl.forward(x2, swl.y!)).toBe(expected);
    expect(bits(swl.backward(1))).toEqual(bits(expectedDx));
    for (const v of [swl, ref, x1, x2, soft]) v.dispose();
  });
});

describe('optimizer layouts over memory that changed', () => {
  /** a = [10], b = [16] and their grads, each pair in one block (as a net's ParameterSet): 6 floats of zero padding after a. */
  function block(): { P: Tensor; G: Tensor; a: Tensor; b: Tensor; ga: Tensor; gb: Tensor } {
    const P = rt.tensor([32]), G = rt.tensor([32]);
    return { P, G, a: P.view(0, [10]), b: P.view(16, [16]), ga: G.view(0, [10]), gb: G.view(16, [16]) };
  }

  it('new views at the addresses of disposed params do not reuse a layout whose padding they hold values in', () => {
    const canaries = new Canaries(rt, 12);
    canaries.place();
    const { P, G, a, b, ga, gb } = block();
    canaries.place();
    const sgd = new SGD({ lr: 1 });
    sgd.update({ a, b }, { a: ga, b: gb });
    expect(sgd.contiguous).toBe(true);
    const [pa, pga] = [a.ptr, ga.ptr];
    P.dispose();
    G.dispose();
    const big = rt.tensor([32]), gbig = rt.tensor([32]);
    expect([big.ptr, gbig.ptr]).toEqual([pa, pga]); // the layout's addresses, now inside new tensors
    big.data.fill(5);
    gbig.data.fill(1);
    sgd.update({ a: big.view(0, [10]), b: big.view(16, [16]) }, { a: gbig.view(0, [10]), b: gbig.view(16, [16]) });
    const v = big.toArray();
    expect(Array.from(v.subarray(0, 10))).toEqual(Array(10).fill(4));
    expect(Array.from(v.subarray(10, 16))).toEqual(Array(6).fill(5)); // no parameter covers these
    expect(Array.from(v.subarray(16))).toEqual(Array(16).fill(4));
    expect(canaries.changed()).toBe(0);
    sgd.dispose();
    big.dispose();
    gbig.dispose();
    canaries.dispose();
  });

  it('the same tensors after padding between them was written: the padding is left alone', () => {
    for (const opt of [new SGD({ lr: 1 }), new Adam(), new AdamW({ lr: 0.1, weightDecay: 0.5 })]) {
      const { P: big, G: gbig, a, b, ga, gb } = block();
      const params = { a, b }, grads = { a: ga, b: gb };
      ga.data.fill(1);
      gb.data.fill(-1);
      // padding still zero: the one-call layout, kept from step to step
      for (let i = 0; i < 3; i++) opt.update(params, grads);
      expect(opt.contiguous, opt.name).toBe(true);
      big.data.fill(7, 10, 16);
      gbig.data.fill(1, 10, 16);
      opt.update(params, grads);
      expect(Array.from(big.data.subarray(10, 16)), opt.name).toEqual(Array(6).fill(7));
      expect(opt.contiguous, opt.name).toBe(false);
      opt.dispose();
      big.dispose();
      gbig.dispose();
    }
  });

  it('loadState names the parameter whose shape is too large', () => {
    const adam = new Adam();
    expect(() => adam.loadState({ optimizer: 'Adam', t: 1, params: { W1: { shape: [2 ** 31], m: [], v: [] } } })).toThrow(
      /^Adam\.loadState: params\['W1'\]\.shape: \[2147483648\] has 2147483648 elements; a tensor holds at most/);
    adam.dispose();
  });
});

describe('Affine fed its own buffers', () => {
  const D = 600, N = 10;

  function affinePair(): { a: Affine; ref: Affine; W: Tensor; b: Tensor } {
    const W = rt.tensor([D, D], randomArray(D * D, 21, -0.05, 0.05)), b = rt.tensor([D], randomArray(D, 22));
    return { a: new Affine(W, b), ref: new Affine(W, b), W, b };
  }

  it('forward of its own output (shared weights applied twice) gives the bits of two layers', () => {
    const { a, ref, W, b } = affinePair();
    const x = rt.tensor([N, D], randomArray(N * D, 23));
    const once = ref.forward(x, false, 'relu');
    const copy = rt.tensor([N, D], once.data);
    const expected = ref.forward(copy, false, 'relu').toArray();
    const got = a.forward(a.forward(x, false, 'relu'), false, 'relu');
    expect(bits(got)).toEqual(new Int32Array(expected.buffer));
    // and its backward takes that second input: dW = yᵀ · dout
    const dout = rt.tensor([N, D], randomArray(N * D, 24));
    ref.backward(dout);
    a.backward(dout);
    expect(bits(a.dW)).toEqual(bits(ref.dW));
    for (const v of [a, ref, W, b, x, copy, dout]) v.dispose();
  });

  it('backward of its own input gradient gives the bits of two layers, and backwardThrough too', () => {
    const { a, ref, W, b } = affinePair();
    const x = rt.tensor([N, D], randomArray(N * D, 25));
    const dout = rt.tensor([N, D], randomArray(N * D, 26));
    a.forward(x);
    ref.forward(x);
    const dx1 = ref.backward(dout);
    const copy = rt.tensor([N, D], dx1.data);
    const expected = ref.backward(copy).toArray();
    expect(bits(a.backward(a.backward(dout)))).toEqual(new Int32Array(expected.buffer));
    const relu = new Relu();
    relu.forward(x);
    const throughRef = ref.backwardThrough(copy, relu).toArray();
    a.backward(dout);
    expect(bits(a.backwardThrough(a.backward(dout), relu))).toEqual(new Int32Array(throughRef.buffer));
    for (const v of [a, ref, relu, W, b, x, dout, copy]) v.dispose();
  });

  it('refuses dout or x overlapping dW or db before writing anything', () => {
    const W = rt.tensor([4, 4], randomArray(16, 27)), b = rt.tensor([4], randomArray(4, 28));
    const dW = rt.tensor([4, 4], randomArray(16, 29)), db = rt.tensor([4], randomArray(4, 30));
    const a = new Affine(W, b, { dW, db });
    const x = rt.tensor([4, 4], randomArray(16, 31));
    a.forward(x);
    const [dWBits, dbBits] = [bits(dW), bits(db)];
    expect(() => a.backward(dW)).toThrow(/^Affine\.backward: dout overlaps dW/);
    a.forward(dW);
    expect(() => a.backward(x)).toThrow(/^Affine\.backward: the forward input x overlaps dW/);
    const relu = new Relu();
    relu.forward(db.reshape([1, 4])); // backwardThrough would read what it kept after writing db
    a.forward(x.rows(0, 1));
    expect(() => a.backwardThrough(x.rows(1, 2), relu)).toThrow(/^Affine\.backwardThrough: the tensor the activation before kept overlaps db/);
    expect([bits(dW), bits(db)]).toEqual([dWBits, dbBits]);
    expect(() => new Affine(W, b, { dW: W, db })).toThrow(/^Affine: grads\.dW overlaps W/);
    for (const v of [a, relu, W, b, dW, db, x]) v.dispose();
  });

  it('forward names its own act argument', () => {
    const W = rt.tensor([2, 2]), b = rt.tensor([2]), x = rt.tensor([1, 2]);
    const a = new Affine(W, b);
    expect(() => a.forward(x, false, 'gelu' as 'relu')).toThrow(/^Affine\.forward: act must be one of none, relu, sigmoid, tanh, got 'gelu'$/);
    for (const v of [a, W, b, x]) v.dispose();
  });

  it('a one-layer net predicts from its own borrowed output as from a copy', () => {
    const net = new MultiLayerNet(rt, { inputSize: D, hiddenSizeList: [], outputSize: D });
    const x = rt.tensor([N, D], randomArray(N * D, 32));
    const copy = net.predict(x);
    const expected = net.predict(copy);
    expect(bits(net.predictBorrowed(net.predictBorrowed(x)))).toEqual(bits(expected));
    for (const v of [net, x, copy, expected]) v.dispose();
  });

  it('trains on its own borrowed output as on a copy (gradient, loss): the pass would overwrite x before its backward reads it', async () => {
    for (const threads of [1, 2]) {
      const r = threads === 1 ? rt : await makeRuntime({ seed: 5, threads: 2 });
      await r.ready;
      const net = new MultiLayerNet(r, { inputSize: 8, hiddenSizeList: [8], outputSize: 8 });
      const x = r.tensor([6, 8], randomArray(48, 34)), t = r.labels([6], [0, 1, 2, 3, 4, 5]);
      const copy = net.predict(x);
      const want = Object.fromEntries(Object.entries(net.gradient(copy, t)).map(([k, g]) => [k, bits(g)]));
      const wantLoss = net.loss(copy, t, true);
      const lent = net.predictBorrowed(x);
      const got = net.gradient(lent, t);
      for (const [k, g] of Object.entries(got)) expect(bits(g), `${threads} threads: ${k}`).toEqual(want[k]);
      expect(net.loss(net.predictBorrowed(x), t, true), `${threads} threads: loss`).toBe(wantLoss);
      for (const v of [net, x, t, copy]) v.dispose();
      if (r !== rt) await r.dispose();
    }
  });
});

describe('Sequential.loss in training mode with targets it refuses', () => {
  it('leaves the batch-norm statistics and the random stream as they were; evaluate and accuracy too', () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 4, hiddenSizeList: [5], outputSize: 3, useBatchnorm: true, useDropout: true });
    const x = rt.tensor([6, 4], randomArray(24, 33));
    const good = rt.labels([6], [0, 1, 2, 0, 1, 2]), bad = rt.labels([6], [0, 1, 2, 0, 1, 9]);
    net.loss(x, good, true); // running statistics no longer zero
    const mean = bits(net.state.runningMean1), variance = bits(net.state.runningVar1), stream = rt.randomState;
    expect(() => net.loss(x, bad, true)).toThrow(/label t\[5\] = 9 is outside \[0, 3\)/);
    expect(() => net.loss(x, [0, 1, 2, 0, 1, 3], true)).toThrow(/label t\[5\] = 3 is outside \[0, 3\)/);
    expect(() => net.evaluate(x, bad)).toThrow(/label t\[5\] = 9 is outside \[0, 3\)/);
    expect(() => net.accuracy(x, bad)).toThrow(/label t\[5\] = 9 is outside \[0, 3\)/);
    expect(bits(net.state.runningMean1)).toEqual(mean);
    expect(bits(net.state.runningVar1)).toEqual(variance);
    expect(rt.randomState).toEqual(stream);
    for (const v of [net, x, good, bad]) v.dispose();
  });
});

describe('net options without hidden layers, and netTensorShapes', () => {
  it('an unknown activation is refused with no hidden layers', () => {
    for (const make of [
      () => new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [], outputSize: 2, activation: 'gelu' as 'relu' }),
      () => new MultiLayerNetExtend(rt, { inputSize: 3, hiddenSizeList: [], outputSize: 2, activation: 'gelu' as 'relu' }),
    ]) {
      expect(make).toThrow(TypeError);
      expect(make).toThrow(/^MultiLayerNet(Extend)?: activation: expected 'relu', 'sigmoid' or 'tanh', got 'gelu'$/);
    }
  });

  it('netTensorShapes refuses what the constructor refuses', () => {
    const mlp = { inputSize: 3, hiddenSizeList: [4], outputSize: 2 };
    const cases: Array<[NetSpec, ErrorConstructor, RegExp]> = [
      [{ kind: 'mlp', options: { inputSize: 2 ** 20, hiddenSizeList: [2 ** 20], outputSize: 2 } }, RangeError, /^MultiLayerNet: W1: \[1048576, 1048576\] has 1099511627776 elements/],
      [{ kind: 'mlp', options: { inputSize: 2 ** 14, hiddenSizeList: [2 ** 14], outputSize: 2 ** 14 } }, RangeError, /^MultiLayerNet: the parameters take \d+ floats/],
      [{ kind: 'mlp', options: { ...mlp, foo: 1 } as never }, TypeError, /^MultiLayerNet: unknown option 'foo'/],
      [{ kind: 'mlp', options: { ...mlp, hiddenSizeList: [], activation: 'gelu' as 'relu' } }, TypeError, /^MultiLayerNet: activation: expected/],
      [{ kind: 'mlp', options: { ...mlp, weightInitStd: -1 } }, RangeError, /^MultiLayerNet: weightInitStd: expected a non-negative number, got -1$/],
      [{ kind: 'mlp', options: { ...mlp, weightDecayLambda: -1 } }, RangeError, /^MultiLayerNet: weightDecayLambda: expected a non-negative number, got -1$/],
      [{ kind: 'mlp-extend', options: { ...mlp, useBatchnorm: 1 as never } }, TypeError, /^MultiLayerNetExtend: useBatchnorm must be true or false, got number 1$/],
      [{ kind: 'mlp-extend', options: { ...mlp, useDropout: true, dropoutRatio: 1 } }, RangeError, /Dropout: ratio must be in \[0, 1\), got 1$/],
      [{ kind: 'mlp-extend', options: { ...mlp, dropoutRatio: -1 } }, RangeError, /^MultiLayerNetExtend: dropoutRatio must be in \[0, 1\), got -1$/],
      [{ kind: 'mlp-extend', options: { ...mlp, l1Lambda: 'x' as never } }, TypeError, /^MultiLayerNetExtend: l1Lambda: expected a non-negative number/],
      [{ kind: 'mlp-extend', options: { ...mlp, bar: 1 } as never }, TypeError, /^MultiLayerNetExtend: unknown option 'bar'/],
    ];
    for (const [spec, type, message] of cases) {
      const shapes = () => netTensorShapes(spec);
      expect(shapes, message.source).toThrow(type);
      expect(shapes, message.source).toThrow(message);
      const before = rt.memoryStats().used;
      expect(() => buildNet(rt, spec), message.source).toThrow(message);
      expect(rt.memoryStats().used).toBe(before);
    }
    expect(netTensorShapes({ kind: 'mlp-extend', options: { ...mlp, useBatchnorm: true } })).toEqual({
      W1: [3, 4], b1: [4], W2: [4, 2], b2: [2], gamma1: [4], beta1: [4], runningMean1: [4], runningVar1: [4],
    });
  });
});
