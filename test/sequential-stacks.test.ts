// Sequential with layer stacks beyond the book's: two normalisations before one weight layer (their
// keys), a net whose last weight is a Convolution (its class count in the Trainer, its label checks).
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray, expectBits } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import {
  Sequential, Affine, Relu, BatchNormalization, LayerNormalization, InstanceNormalization, Convolution, GlobalAveragePooling,
  Flatten, Dropout, MultiLayerNetExtend, SimpleConvNet, Trainer, SGD, Adam, type Layer,
} from '../src/index.js';
import { classesOf } from '../src/train/targets.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 5 }); });

let seed = 100;
const rand = (shape: number[], scale = 0.5) => rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b, 1), seed++, -scale, scale));
const ones = (n: number) => rt.tensor([n], new Float32Array(n).fill(1));
const zeros = (n: number) => rt.tensor([n]);
const BN = (n: number, spatial = false) => new BatchNormalization(ones(n), zeros(n), 0.9, { spatial });
const LN = (n: number) => new LayerNormalization(ones(n), zeros(n));

/** A JSON round trip of exportParams(), as a checkpoint stores it. */
function viaJson(saved: Record<string, { shape: number[]; data: Float32Array }>) {
  const plain = Object.fromEntries(Object.entries(saved).map(([k, v]) => [k, { shape: v.shape, data: Array.from(v.data) }]));
  return JSON.parse(JSON.stringify(plain)) as Record<string, { shape: number[]; data: number[] }>;
}

describe('Sequential keys with two normalisations at one index', () => {
  // each stack, its input, and the keys of its norm layers in order
  const stacks: Array<{ name: string; make: () => Layer[]; x: number[]; params: string[]; state: string[]; norms: string[] }> = [
    {
      name: 'BN(input), Affine, BN, Relu, Affine', x: [6, 4],
      make: () => [BN(4), new Affine(rand([4, 5]), zeros(5)), BN(5), new Relu(), new Affine(rand([5, 3]), zeros(3))],
      params: ['gamma1', 'beta1', 'W1', 'b1', 'gamma1_2', 'beta1_2', 'W2', 'b2'],
      state: ['runningMean1', 'runningVar1', 'runningMean1_2', 'runningVar1_2'], norms: ['gamma1', 'gamma1_2'],
    },
    {
      name: 'LN, Affine, LN, Relu, Affine', x: [6, 4],
      make: () => [LN(4), new Affine(rand([4, 5]), zeros(5)), LN(5), new Relu(), new Affine(rand([5, 3]), zeros(3))],
      params: ['gamma1', 'beta1', 'W1', 'b1', 'gamma1_2', 'beta1_2', 'W2', 'b2'], state: [], norms: ['gamma1', 'gamma1_2'],
    },
    {
      name: 'Conv, BN (spatial), Relu, InstanceNormalization, Affine', x: [6, 1, 5, 5],
      make: () => [new Convolution(rand([2, 1, 3, 3]), zeros(2)), BN(2, true), new Relu(), new InstanceNormalization(ones(2), zeros(2)), new Affine(rand([18, 3]), zeros(3))],
      params: ['W1', 'b1', 'gamma1', 'beta1', 'gamma1_2', 'beta1_2', 'W2', 'b2'], state: ['runningMean1', 'runningVar1'], norms: ['gamma1', 'gamma1_2'],
    },
    {
      name: 'Affine, BN, Relu, LN, Affine', x: [6, 4],
      make: () => [new Affine(rand([4, 5]), zeros(5)), BN(5), new Relu(), LN(5), new Affine(rand([5, 3]), zeros(3))],
      params: ['W1', 'b1', 'gamma1', 'beta1', 'gamma1_2', 'beta1_2', 'W2', 'b2'], state: ['runningMean1', 'runningVar1'], norms: ['gamma1', 'gamma1_2'],
    },
  ];

  for (const s of stacks) {
    it(`${s.name}: builds with unique keys, trains each norm's own gamma, saves and loads through JSON`, () => {
      const net = new Sequential(rt, s.make());
      expect(Object.keys(net.params)).toEqual(s.params);
      expect(Object.keys(net.state)).toEqual(s.state);
      // each key is its own layer's tensor, in layer order
      const norms = net.layers.filter((l) => l.params.gamma && !l.params.W);
      expect(norms.map((l) => net.params[s.norms[norms.indexOf(l)]] === l.params.gamma && net.grads[s.norms[norms.indexOf(l)]] === l.grads.gamma)).toEqual([true, true]);

      const x = rand(s.x, 1);
      const before = norms.map((l) => l.params.gamma.toArray());
      new SGD({ lr: 0.5 }).update(net.params, net.gradient(x, [0, 1, 2, 0, 1, 2]));
      norms.forEach((l, i) => expect(l.params.gamma.toArray(), `${s.norms[i]} moved by its update`).not.toEqual(before[i]));

      const again = new Sequential(rt, s.make());
      again.importParams(viaJson(net.exportParams()));
      const saved = net.exportParams(), loaded = again.exportParams();
      expect(Object.keys(loaded)).toEqual(Object.keys(saved));
      for (const k of Object.keys(saved)) expectBits(loaded[k].data, saved[k].data, k);
      const y = net.predict(x), y2 = again.predict(x);
      expectBits(y2.data, y.data, 'predictions of the loaded net');
      for (const t of [x, y, y2]) t.dispose();
      net.dispose();
      again.dispose();
    });
  }

  it('keeps the keys every stack that built before gets: MultiLayerNetExtend, one input BN, the conv nets', () => {
    const ext = new MultiLayerNetExtend(rt, { inputSize: 4, hiddenSizeList: [5, 5], outputSize: 3, useBatchnorm: true });
    expect(Object.keys(ext.params)).toEqual(['W1', 'b1', 'gamma1', 'beta1', 'W2', 'b2', 'gamma2', 'beta2', 'W3', 'b3']);
    expect(Object.keys(ext.state)).toEqual(['runningMean1', 'runningVar1', 'runningMean2', 'runningVar2']);
    const inputBn = new Sequential(rt, [BN(4), new Affine(rand([4, 5]), zeros(5)), new Relu(), new Affine(rand([5, 3]), zeros(3))]);
    expect(Object.keys(inputBn.params)).toEqual(['gamma1', 'beta1', 'W1', 'b1', 'W2', 'b2']);
    expect(Object.keys(inputBn.state)).toEqual(['runningMean1', 'runningVar1']);
    const conv = new SimpleConvNet(rt, { inputDim: [1, 8, 8], convParam: { filterNum: 2, filterSize: 3, pad: 0, stride: 1 }, hiddenSize: 4, outputSize: 3 });
    expect(Object.keys(conv.params)).toEqual(['W1', 'b1', 'W2', 'b2', 'W3', 'b3']);
    for (const n of [ext, inputBn, conv]) n.dispose();
  });

  it('refuses a layer naming one key both as a parameter and as state', () => {
    const odd = { name: 'Odd', params: { a: ones(2) }, grads: { a: zeros(2) }, state: { a: zeros(2) }, forward: (x: Tensor) => x, backward: (d: Tensor) => d, dispose() {} };
    expect(() => new Sequential(rt, [odd])).toThrow("Sequential: layers[0] (Odd) has 'a' both in params and in state");
  });
});

/**
 * 3 classes of 1×4×4 images that a conv then global average pooling can tell apart: the left half
 * raised by 2, the right half raised by 2, everything lowered by 1; plus noise of scale 0.5.
 */
function halves(N: number, seedAt: number) {
  const x = randomArray(N * 16, seedAt, -0.5, 0.5);
  const t: number[] = [];
  for (let n = 0; n < N; n++) {
    const c = n % 3;
    t.push(c);
    for (let p = 0; p < 16; p++) {
      const col = p % 4;
      x[n * 16 + p] += c === 2 ? -1 : (c === 0) === (col < 2) ? 2 : 0;
    }
  }
  const oneHot = new Float32Array(N * 3);
  t.forEach((c, n) => { oneHot[n * 3 + c] = 1; });
  return { x: rt.tensor([N, 1, 4, 4], x), t: rt.labels([N], t), oneHot: rt.tensor([N, 3], oneHot) };
}

/**
 * Conv (3 filters of 2×2) → GlobalAveragePooling: the last weight is the Convolution's. With `zero`
 * weights every output ties, so each row's argmax is class 0 and the accuracy starts at exactly 1/3.
 */
const convHead = (zero = false) => new Sequential(rt, [new Convolution(zero ? rt.tensor([3, 1, 2, 2]) : rand([3, 1, 2, 2], 0.1), zeros(3)), new GlobalAveragePooling()]);

describe('a net whose last weight layer is a Convolution', () => {
  for (const labels of ['int labels', 'one-hot rows'] as const) {
    it(`trains in a Trainer with ${labels} (Conv → GlobalAveragePooling), its accuracy rising`, () => {
      const net = convHead(true);
      const train = halves(90, 1), test = halves(30, 2);
      const tt = labels === 'int labels' ? train.t : train.oneHot, te = labels === 'int labels' ? test.t : test.oneHot;
      const start = net.accuracy(test.x, te);
      const trainer = new Trainer(net, train.x, tt, test.x, te, { epochs: 10, miniBatchSize: 15, optimizer: new Adam({ lr: 0.01 }) });
      expect(trainer.classes).toBe(3);
      const result = trainer.train();
      expect(start).toBe(1 / 3);
      expect(result.testAccList[result.testAccList.length - 1]).toBeGreaterThanOrEqual(0.9);
      trainer.dispose();
      net.dispose();
      for (const t of [train.x, train.t, train.oneHot, test.x, test.t, test.oneHot]) t.dispose();
    });
  }

  it('whose width depends on the input (Conv → Flatten) is counted from one row run in inference mode, which moves no state', () => {
    // conv 3×4×4 on 4×4 images: [N, 3, 1, 1] flattened to 3 classes; batch norm and dropout before it
    const net = new Sequential(rt, [BN(16), new Dropout(0.3), new Convolution(rand([3, 1, 4, 4], 0.1), zeros(3)), new Flatten()], { inputShape: [1, 4, 4] });
    const { x, t } = halves(12, 3);
    const state = net.exportParams(), random = rt.randomState;
    expect(classesOf(net, x)).toBe(3);
    const after = net.exportParams();
    for (const k of Object.keys(state)) expectBits(after[k].data, state[k].data, k);
    expect(rt.randomState).toEqual(random);
    expect(() => net.accuracy(x, [...t.data].map((c, i) => (i === 5 ? 3 : c)))).toThrow('accuracy: label t[5] = 3 is outside [0, 3)');
    net.dispose();
    for (const v of [x, t]) v.dispose();
  });

  it('the Trainer still refuses a net without a weight, saying why', () => {
    const net = new Sequential(rt, [new Relu()]);
    const { x, t } = halves(6, 4);
    expect(() => new Trainer(net, x, t, x, t)).toThrow(/Trainer: the network has no weight .*nothing to learn/);
    net.dispose();
    for (const v of [x, t]) v.dispose();
  });
});

describe('labels outside [0, outputs) on a conv-head net', () => {
  it('are refused by every entry, naming it and the label, before anything is written', async () => {
    const net = convHead();
    const x = rand([4, 1, 4, 4], 1);
    net.gradient(x, [0, 1, 2, 1]); // grads to compare with after
    const params = net.exportParams(), grads = Object.fromEntries(Object.entries(net.grads).map(([k, g]) => [k, g.toArray()]));
    const bad = [0, 1, 2, 7], badInts = rt.labels([4], bad), badHot = rt.tensor([4, 4]);
    const refusals: Array<[string, () => unknown, string]> = [
      ['accuracy', () => net.accuracy(x, bad), 'accuracy: label t[3] = 7 is outside [0, 3)'],
      ['accuracy (IntTensor)', () => net.accuracy(x, badInts), 'accuracy: label t[3] = 7 is outside [0, 3)'],
      ['accuracy (one-hot of 4)', () => net.accuracy(x, badHot), 'accuracy: one-hot t must have 3 columns'],
      ['evaluate', () => net.evaluate(x, bad), 'evaluate: label t[3] = 7 is outside [0, 3)'],
      ['evaluate (IntTensor)', () => net.evaluate(x, badInts), 'evaluate: label t[3] = 7 is outside [0, 3)'],
      ['loss', () => net.loss(x, bad), 'label t[3] = 7 is outside [0, 3)'],
      ['gradient', () => net.gradient(x, badInts), 'label t[3] = 7 is outside [0, 3)'],
    ];
    for (const [name, call, message] of refusals) expect(call, name).toThrow(message);
    await expect(net.accuracyAsync(x, bad)).rejects.toThrow('accuracyAsync: label t[3] = 7 is outside [0, 3)');
    await expect(net.accuracyAsync(x, badInts)).rejects.toThrow('accuracyAsync: label t[3] = 7 is outside [0, 3)');
    await expect(net.evaluateAsync(x, bad)).rejects.toThrow('evaluateAsync: label t[3] = 7 is outside [0, 3)');
    const after = net.exportParams();
    for (const k of Object.keys(params)) expectBits(after[k].data, params[k].data, k);
    for (const [k, g] of Object.entries(net.grads)) expectBits(g.toArray(), grads[k], `grad ${k}`);
    expect(net.accuracy(x, [0, 1, 2, 2])).toBeGreaterThanOrEqual(0); // in range: accepted
    net.dispose();
    for (const v of [x, badInts, badHot]) v.dispose();
  });

  it('an IntTensor label outside the classes is refused on an Affine head too', () => {
    const net = new Sequential(rt, [new Affine(rand([16, 3]), zeros(3))]);
    const x = rand([4, 16], 1), t = rt.labels([4], [0, 1, 2, 3]);
    expect(() => net.accuracy(x, t)).toThrow('accuracy: label t[3] = 3 is outside [0, 3)');
    net.dispose();
    for (const v of [x, t]) v.dispose();
  });
});
