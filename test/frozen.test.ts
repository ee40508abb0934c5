// net.freeze(): a FrozenNet predicts with the net's bits at the moment of
// freezing (each Affine's W packed once, every other layer a twin on copies),
// for every built-in layer and every batch path of the packed GEMM; it is a
// snapshot (training or writes to the weights after freezing do not reach
// it); it owns its memory (no gradient copies, nothing leaked, nothing
// allocated per call at a planned shape); and bad input is refused, naming
// the argument, before `out` is written.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray, randomInts, expectBits } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import {
  Affine, BatchNormalization, Convolution, Dropout, Flatten, GlobalAveragePooling, InstanceNormalization, LayerNormalization, Pooling, Relu, Sigmoid, Tanh, type Layer,
} from '../src/layers/index.js';
import { forwardByPositions } from '../src/layers/convolution.js';
import { DeepConvNet, FrozenNet, MultiLayerNet, MultiLayerNetExtend, Sequential, SimpleConvNet } from '../src/nets/index.js';
import { SGD } from '../src/optim/index.js';

let rt: Runtime, other: Runtime; // `other`: for tensors of another runtime
beforeAll(async () => {
  [rt, other] = await Promise.all([makeRuntime(), makeRuntime()]);
});

/** Batches that reach every path of the packed GEMM: 1–2 rows (packed row kernels), 3–8 (4-row tiles), 13 (6-row tiles and an edge). */
const BATCHES = [1, 2, 3, 5, 8, 13];

const input = (shape: readonly number[], batch: number, seed: number): Tensor => rt.tensor([batch, ...shape], randomArray(batch * shape.reduce((a, b) => a * b, 1), seed));

/** net.predict and frozen.predict on the same input give the same bits at every batch. */
function expectSameBits(net: Sequential, frozen: FrozenNet, shape: readonly number[], what: string, seed = 1): void {
  for (const batch of BATCHES) {
    const x = input(shape, batch, seed + batch);
    const want = net.predict(x), got = frozen.predict(x);
    expectBits(got.toArray(), want.toArray(), `${what}, batch ${batch}`);
    for (const t of [x, want, got]) t.dispose();
  }
}

/** A few SGD steps, so batch-norm statistics and weights are not their initial values. */
function train(net: Sequential, shape: readonly number[], classes: number, steps = 3): void {
  const opt = new SGD({ lr: 0.05 });
  for (let s = 0; s < steps; s++) {
    const x = input(shape, 16, 100 + s), t = rt.labels([16], randomInts(16, 200 + s, classes));
    opt.update(net.params, net.gradient(x, t));
    x.dispose(); t.dispose();
  }
}

/**
 * Conv, spatial batch norm with running statistics, InstanceNorm, average and global pooling,
 * Flatten, LayerNorm, inverted dropout, sigmoid and tanh: the layers the book's nets do not use.
 */
function otherLayersNet(): Sequential {
  rt.reseed(7);
  const t = (shape: number[], std = 0.3) => rt.randn(rt.tensor(shape), std);
  const runningVar = rt.uniform(rt.tensor([4]), 0.5, 2);
  return new Sequential(rt, [
    new Convolution(t([4, 2, 3, 3]), t([4]), 1, 1), new Tanh(), // fused
    new BatchNormalization(t([4]), t([4]), 0.9, { spatial: true, runningMean: t([4]), runningVar }),
    new Pooling(2, 2, 2, 0, { mode: 'avg' }),
    new Convolution(t([6, 4, 3, 3]), t([6]), 1, 0),
    new InstanceNormalization(t([6]), t([6])), new Sigmoid(), // not fused
    new GlobalAveragePooling(),
    new Flatten(),
    new Affine(t([6, 17]), t([17])),
    new LayerNormalization(t([17]), t([17])), new Relu(),
    new Dropout(0.2, { inverted: true }),
    new Affine(t([17, 9]), t([9])), new Tanh(), // fused
    new Affine(t([9, 5]), t([5])),
  ]);
}

describe('FrozenNet: the net\'s bits', () => {
  it('MultiLayerNet with ReLU, sigmoid and tanh, on widths around the 8-column panels and K past one K block', () => {
    for (const activation of ['relu', 'sigmoid', 'tanh'] as const) {
      rt.reseed(3);
      const net = new MultiLayerNet(rt, { inputSize: 300, hiddenSizeList: [100, 37, 16, 9], outputSize: 10, activation, weightInitStd: 0.1 });
      const frozen = net.freeze();
      expectSameBits(net, frozen, [300], activation);
      frozen.dispose();
      net.dispose();
    }
  });

  it('MultiLayerNetExtend with batch norm and dropout, after training (running statistics, inference scaling)', () => {
    rt.reseed(4);
    const net = new MultiLayerNetExtend(rt, { inputSize: 20, hiddenSizeList: [30, 30], outputSize: 4, useBatchnorm: true, useDropout: true, dropoutRatio: 0.3 });
    train(net, [20], 4);
    const frozen = net.freeze();
    expectSameBits(net, frozen, [20], 'MultiLayerNetExtend');
    frozen.dispose();
    net.dispose();
  });

  it('SimpleConvNet and DeepConvNet (convolutions, max pooling, dropout), after training', () => {
    rt.reseed(5);
    const simple = new SimpleConvNet(rt, { inputDim: [1, 12, 12], convParam: { filterNum: 5, filterSize: 3, pad: 0, stride: 1 }, hiddenSize: 20, outputSize: 10 });
    train(simple, [1, 12, 12], 10);
    const f1 = simple.freeze();
    expectSameBits(simple, f1, [1, 12, 12], 'SimpleConvNet');
    f1.dispose();
    simple.dispose();
    rt.reseed(6);
    const deep = new DeepConvNet(rt);
    const f2 = deep.freeze();
    for (const batch of [1, 8]) {
      const x = input([1, 28, 28], batch, 60 + batch);
      const want = deep.predict(x), got = f2.predict(x);
      expectBits(got.toArray(), want.toArray(), `DeepConvNet, batch ${batch}`);
      for (const t of [x, want, got]) t.dispose();
    }
    f2.dispose();
    deep.dispose();
  });

  it('convolution, instance and layer norm, average and global pooling, flatten, with activations fused and not', () => {
    const net = otherLayersNet();
    const frozen = net.freeze();
    expectSameBits(net, frozen, [2, 8, 8], 'custom stack');
    frozen.dispose();
    net.dispose();
  });
});

describe('FrozenNet: a snapshot', () => {
  it('training and writes to the weights after freezing do not reach it; freezing again follows the net', () => {
    rt.reseed(8);
    const net = new MultiLayerNet(rt, { inputSize: 50, hiddenSizeList: [40], outputSize: 10 });
    const x = input([50], 8, 80);
    const before = net.predict(x);
    const frozen = net.freeze();
    train(net, [50], 10);
    net.params.W1.data[0] += 1;
    net.params.b2.data[3] -= 1;
    const after = net.predict(x);
    expect(after.toArray().some((v, i) => v !== before.toArray()[i]), 'the net changed').toBe(true);
    expectBits(frozen.predict(x).toArray(), before.toArray(), 'the frozen net did not');
    const again = net.freeze();
    expectBits(again.predict(x).toArray(), after.toArray(), 'frozen again: the trained net');
    for (const t of [x, before, after]) t.dispose();
    frozen.dispose(); again.dispose(); net.dispose();
  });

  it('outlives its net, and disposing it leaves the net usable', () => {
    rt.reseed(9);
    const net = new MultiLayerNet(rt, { inputSize: 30, hiddenSizeList: [20], outputSize: 5 });
    const x = input([30], 4, 90);
    const want = net.predict(x);
    const a = net.freeze(), b = net.freeze();
    a.dispose();
    expect(a.disposed).toBe(true);
    expect(() => a.predict(x)).toThrow(/FrozenNet: used after dispose\(\)/);
    a.dispose(); // idempotent
    expectBits(net.predict(x).toArray(), want.toArray(), 'the net after its frozen copy was disposed');
    net.dispose();
    expect(() => net.freeze()).toThrow(/used after dispose/);
    expectBits(b.predict(x).toArray(), want.toArray(), 'the frozen copy after its net was disposed');
    b.dispose(); x.dispose(); want.dispose();
  });
});

describe('FrozenNet: memory', () => {
  it('holds the parameters once (packed W padded to whole panels), no gradients; frees all of it; allocates nothing per call at a planned shape', () => {
    rt.reseed(10);
    const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100], outputSize: 10 });
    const x = input([784], 8, 101), out = rt.tensor([8, 10]);
    net.predict(x, false, out);
    const base = rt.memoryStats();
    const frozen = net.freeze();
    const held = rt.memoryStats().used - base.used;
    const paramBytes = Object.values(net.params).reduce((s, t) => s + 4 * t.size, 0);
    // W1 784×100 packed as 784×104, W2 100×100 as 100×104, W3 100×10 as 100×16; 64-byte alignment of each of the 6 blocks
    const packedBytes = 4 * (784 * 104 + 100 * 104 + 100 * 16 + 100 + 100 + 10);
    expect(held, 'bytes a frozen MLP holds').toBeGreaterThanOrEqual(packedBytes);
    expect(held, 'no gradient memory').toBeLessThanOrEqual(packedBytes + 6 * 64);
    expect(held).toBeLessThan(1.1 * paramBytes);
    frozen.predict(x, out); // plans its buffers for batch 8
    const planned = rt.memoryStats();
    for (let i = 0; i < 5; i++) frozen.predict(x, out);
    expect(rt.memoryStats().used, 'no allocation per call').toBe(planned.used);
    expect(rt.memoryStats().blocks).toBe(planned.blocks);
    frozen.dispose();
    expect(rt.memoryStats().used, 'dispose frees every byte').toBe(base.used);
    const conv = otherLayersNet();
    const convBase = rt.memoryStats().used;
    conv.freeze().dispose();
    expect(rt.memoryStats().used, 'every twin and copy freed').toBe(convBase);
    conv.dispose(); net.dispose(); x.dispose(); out.dispose();
  });
});

describe('FrozenNet: memory of a conv net', () => {
  it('holds each Convolution\'s W twice (its copy and its filter panels, packed once), no gradients; allocates nothing per call at a planned shape; frees all of it', () => {
    rt.reseed(11);
    const net = new DeepConvNet(rt);
    const x1 = input([1, 28, 28], 1, 102), x8 = input([1, 28, 28], 8, 103);
    const base = rt.memoryStats();
    const frozen = net.freeze();
    const held = rt.memoryStats().used - base.used;
    const convs = net.layers.filter((l): l is Convolution => l instanceof Convolution);
    expect(convs.length).toBe(6);
    // the copy of W and b, and W in panels of 4 filters (DeepConvNet's filter counts are multiples of 4)
    const convBytes = convs.reduce((s, l) => s + 4 * (2 * l.W.size + l.b.size), 0);
    // the Affines' W packed in panels of 8 columns (1024×50 as 1024×56, 50×10 as 50×16), and their b
    const affineBytes = 4 * (1024 * 56 + 50 + 50 * 16 + 10);
    expect(held, 'the conv layers\' copies and panels').toBeGreaterThanOrEqual(convBytes + affineBytes);
    // 6 × 3 conv blocks and 2 × 2 affine blocks, each aligned to 64 bytes
    expect(held, 'no gradient memory').toBeLessThanOrEqual(convBytes + affineBytes + 22 * 64);
    for (const x of [x1, x8]) frozen.predict(x).dispose(); // plans its buffers for batches 1 and 8
    const planned = rt.memoryStats();
    for (let i = 0; i < 3; i++) for (const x of [x1, x8]) frozen.predictBorrowed(x);
    expect(rt.memoryStats().used, 'no allocation per call').toBe(planned.used);
    expect(rt.memoryStats().blocks).toBe(planned.blocks);
    frozen.dispose();
    expect(rt.memoryStats().used, 'dispose frees every byte, the panels too').toBe(base.used);
    for (const t of [x1, x8]) t.dispose();
    net.dispose();
  });
});

describe('FrozenNet: convolutions by positions', () => {
  /** A 1×1 layer on 7×7 and a stride-2 one down to 4×4, both run by positions. */
  function positionsNet(): Sequential {
    rt.reseed(12);
    const t = (shape: number[], std = 0.2) => rt.randn(rt.tensor(shape), std);
    const k = rt.unsafeKernels;
    expect(forwardByPositions(k.convForwardIsDirect(8, 7, 7, 40, 1, 1, 1, 0) === 1, 1, 1, 7, 49, 40, 8), 'the 1×1 layer').toBe(true);
    expect(forwardByPositions(k.convForwardIsDirect(40, 7, 7, 36, 3, 3, 2, 1) === 1, 3, 3, 4, 16, 36, 360), 'the stride-2 layer').toBe(true);
    return new Sequential(rt, [
      new Convolution(t([40, 8, 1, 1]), t([40]), 1, 0), new Relu(),
      new Convolution(t([36, 40, 3, 3]), t([36]), 2, 1), new Relu(),
      new Flatten(), new Affine(t([36 * 16, 10]), t([10])),
    ]);
  }

  it('a 1×1 layer on 7×7 and a stride-2 one down to 4×4: the net\'s bits at every batch', () => {
    const net = positionsNet();
    const frozen = net.freeze();
    expectSameBits(net, frozen, [8, 7, 7], 'convolutions by positions');
    frozen.dispose();
    net.dispose();
  });

  it('keeps each layer\'s Wᵀ panels from its first call: no allocation per call at a planned shape; frees all of it', () => {
    const net = positionsNet();
    const x1 = input([8, 7, 7], 1, 300), x5 = input([8, 7, 7], 5, 301);
    const base = rt.memoryStats();
    const frozen = net.freeze();
    for (const x of [x1, x5]) frozen.predict(x).dispose();
    const planned = rt.memoryStats();
    for (let i = 0; i < 3; i++) for (const x of [x1, x5]) frozen.predictBorrowed(x);
    expect(rt.memoryStats().used, 'no allocation per call: Wᵀ packed once').toBe(planned.used);
    expect(rt.memoryStats().blocks).toBe(planned.blocks);
    frozen.dispose();
    expect(rt.memoryStats().used, 'dispose frees every byte, the kept Wᵀ panels too').toBe(base.used);
    for (const x of [x1, x5]) x.dispose();
    net.dispose();
  });
});

describe('FrozenNet: bad input', () => {
  it('names x or out (another runtime, disposed, wrong shape, wrong size) and leaves out and its neighbours untouched', () => {
    rt.reseed(11);
    const net = new MultiLayerNet(rt, { inputSize: 12, hiddenSizeList: [8], outputSize: 3 });
    const frozen = net.freeze();
    const canaries = new Canaries(rt, 11);
    const out = between(canaries, () => rt.tensor([2, 3], [1, 2, 3, 4, 5, 6]));
    const outBits = out.toArray();
    const x = input([12], 2, 110);
    const foreign = other.tensor([2, 12]);
    const dead = input([12], 2, 111);
    dead.dispose();
    const cases: Array<[() => unknown, RegExp, ErrorConstructor]> = [
      [() => frozen.predict(foreign, out), /FrozenNet\.predict: x: tensor \[2, 12\] belongs to another runtime/, TypeError],
      [() => frozen.predict(dead, out), /FrozenNet\.predict: x: tensor \[2, 12\] used after dispose/, TypeError],
      [() => frozen.predict(x, other.tensor([2, 3])), /FrozenNet\.predict: out: tensor \[2, 3\] belongs to another runtime/, TypeError],
      [() => frozen.predict(input([11], 2, 112), out), /^FrozenNet\.predict: x has rows of 11 features \(\[2, 11\]\), the net takes 12/, RangeError],
      [() => frozen.predict(x, rt.tensor([2, 4])), /FrozenNet\.predict: out must have shape \[2, 3\], got \[2, 4\]/, RangeError],
      [() => frozen.predict(input([12], 3, 113), out), /FrozenNet\.predict: out must have shape \[3, 3\], got \[2, 3\]/, RangeError],
      [() => frozen.predictBorrowed('x' as never), /FrozenNet\.predictBorrowed: x: expected a float32 Tensor, got the string "x"/, TypeError],
    ];
    for (const [call, message, kind] of cases) {
      expect(call).toThrow(message);
      expect(call).toThrow(kind);
      expectBits(out.toArray(), outBits, `out after ${message}`);
      expect(canaries.changed(), `canaries after ${message}`).toBe(0);
    }
    frozen.predict(x, out);
    expectBits(out.toArray(), net.predict(x).toArray(), 'then a good call');
    canaries.dispose();
    frozen.dispose(); net.dispose(); x.dispose(); out.dispose(); foreign.dispose();
  });

  it('refuses a net with a layer it does not know, naming it, and keeps nothing', () => {
    const custom: Layer = { name: 'Scale2', params: {}, grads: {}, forward: (x) => x, backward: (d) => d, dispose: () => {} };
    const W = rt.tensor([4, 4]), b = rt.tensor([4]);
    const net = new Sequential(rt, [new Affine(W, b), new Relu(), custom]);
    const before = rt.memoryStats();
    expect(() => net.freeze()).toThrow(/freeze: layer 2 \(Scale2\) is not one of simdnn's layers/);
    expect(rt.memoryStats().used, 'the Affine packed before the refusal is freed').toBe(before.used);
    expect(rt.memoryStats().blocks).toBe(before.blocks);
    net.dispose(); W.dispose(); b.dispose();
  });

  it('refuses a net whose parameters were disposed, naming the layer', () => {
    const W = rt.tensor([4, 4]), b = rt.tensor([4]);
    const net = new Sequential(rt, [new Relu(), new Affine(W, b)]);
    W.dispose();
    expect(() => net.freeze()).toThrow(/freeze: layer 1 \(Affine\) W: tensor \[4, 4\] used after dispose/);
    net.dispose(); b.dispose();
  });
});
