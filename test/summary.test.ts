// net.summary() and formatSummary: every named net's rows (output shapes as the book and torchvision
// give them, parameter keys and counts), batch norm's running statistics as non-trainable, every layer
// kind's shape rule, a layer of the caller's (unknown, no throw), the input shape given or refused, no
// allocation, and the table's text.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import {
  Affine, BatchNormalization, Convolution, DeepConvNet, Flatten, GlobalAveragePooling, InstanceNormalization, LayerNormalization,
  MultiLayerNet, MultiLayerNetExtend, Pooling, Relu, Sequential, SimpleConvNet, Tanh, alexNet, formatSummary, netSummary,
  type Layer, type NetSummary, type SummaryRow, type Tensor,
} from '../src/index.js';
import { layerPlans, summarizePlans } from '../src/nets/summary.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 3 }); });

type Row = [layer: string, outputShape: (number | null)[] | null, params: number, keys: string[], state?: number, note?: string];

/** The rows as [layer, outputShape, params, keys, state, note] (state 0 and no note left out). */
const rowsOf = (s: NetSummary): Row[] => s.rows.map((r: SummaryRow) => {
  const row: Row = [r.layer, r.outputShape, r.params, r.keys];
  if (r.state !== 0 || r.note !== undefined) row.push(r.state);
  if (r.note !== undefined) row.push(r.note);
  return row;
});
const N = null;
const sizeOf = (tensors: Readonly<Record<string, Tensor>>) => Object.values(tensors).reduce((n, t) => n + t.size, 0);
const loss: Row = ['SoftmaxWithLoss', [], 0, []];

/** The summary's totals are the net's own sizes: params trainable, state not. */
function expectTotals(net: Sequential, s: NetSummary): void {
  expect(s.trainable).toBe(sizeOf(net.params));
  expect(s.nonTrainable).toBe(sizeOf(net.state));
  expect(s.total).toBe(s.trainable + s.nonTrainable);
  expect(s.rows.reduce((n, r) => n + r.params, 0)).toBe(s.trainable);
}

describe('net.summary() of the named nets', () => {
  it('MultiLayerNet: Affine [N, M] from W, activations keep the shape', () => {
    const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [50, 30], outputSize: 10, activation: 'sigmoid' });
    const s = net.summary();
    expect(s.inputShape).toEqual([784]);
    expect(rowsOf(s)).toEqual([
      ['Affine', [N, 50], 39250, ['W1', 'b1']], ['Sigmoid', [N, 50], 0, []],
      ['Affine', [N, 30], 1530, ['W2', 'b2']], ['Sigmoid', [N, 30], 0, []],
      ['Affine', [N, 10], 310, ['W3', 'b3']], loss,
    ]);
    expect(s).toMatchObject({ total: 41090, trainable: 41090, nonTrainable: 0 });
    expectTotals(net, s);
    // an image's shape, which the first Affine flattens
    expect(net.summary([1, 28, 28]).rows[0].outputShape).toEqual([N, 50]);
    expect(net.summary([1, 28, 28]).inputShape).toEqual([1, 28, 28]);
    net.dispose();
  });

  it('MultiLayerNetExtend with batch norm and dropout: running statistics are non-trainable, label smoothing in the loss row', () => {
    const net = new MultiLayerNetExtend(rt, {
      inputSize: 20, hiddenSizeList: [8, 6], outputSize: 3, useBatchnorm: true, useDropout: true, dropoutRatio: 0.2, labelSmoothing: 0.1,
    });
    const s = net.summary();
    expect(rowsOf(s)).toEqual([
      ['Affine', [N, 8], 168, ['W1', 'b1']], ['BatchNormalization', [N, 8], 16, ['gamma1', 'beta1', 'runningMean1', 'runningVar1'], 16],
      ['Relu', [N, 8], 0, []], ['Dropout', [N, 8], 0, []],
      ['Affine', [N, 6], 54, ['W2', 'b2']], ['BatchNormalization', [N, 6], 12, ['gamma2', 'beta2', 'runningMean2', 'runningVar2'], 12],
      ['Relu', [N, 6], 0, []], ['Dropout', [N, 6], 0, []],
      ['Affine', [N, 3], 21, ['W3', 'b3']], ['SoftmaxWithLoss', [], 0, [], 0, 'labelSmoothing 0.1'],
    ]);
    expect(s).toMatchObject({ total: 299, trainable: 271, nonTrainable: 28 });
    expectTotals(net, s);
    net.dispose();
  });

  it('SimpleConvNet (ch07 defaults): conv 30×24×24, pool 30×12×12', () => {
    const net = new SimpleConvNet(rt);
    const s = net.summary();
    expect(s.inputShape).toEqual([1, 28, 28]);
    expect(rowsOf(s)).toEqual([
      ['Convolution', [N, 30, 24, 24], 780, ['W1', 'b1']], ['Relu', [N, 30, 24, 24], 0, []], ['Pooling', [N, 30, 12, 12], 0, []],
      ['Affine', [N, 100], 432100, ['W2', 'b2']], ['Relu', [N, 100], 0, []], ['Affine', [N, 10], 1010, ['W3', 'b3']], loss,
    ]);
    expect(s.total).toBe(433890);
    expectTotals(net, s);
    net.dispose();
  });

  it('DeepConvNet (ch08) on [1, 28, 28]: the 4th conv\'s pad 2 makes 16×16', () => {
    const net = new DeepConvNet(rt);
    const s = net.summary();
    const conv = (c: number, h: number, params: number, i: number): Row[] => [['Convolution', [N, c, h, h], params, [`W${i}`, `b${i}`]], ['Relu', [N, c, h, h], 0, []]];
    expect(rowsOf(s)).toEqual([
      ...conv(16, 28, 160, 1), ...conv(16, 28, 2320, 2), ['Pooling', [N, 16, 14, 14], 0, []],
      ...conv(32, 14, 4640, 3), ...conv(32, 16, 9248, 4), ['Pooling', [N, 32, 8, 8], 0, []],
      ...conv(64, 8, 18496, 5), ...conv(64, 8, 36928, 6), ['Pooling', [N, 64, 4, 4], 0, []],
      ['Affine', [N, 50], 51250, ['W7', 'b7']], ['Relu', [N, 50], 0, []], ['Dropout', [N, 50], 0, []],
      ['Affine', [N, 10], 510, ['W8', 'b8']], ['Dropout', [N, 10], 0, []], loss,
    ]);
    expect(s.total).toBe(123552);
    expectTotals(net, s);
    net.dispose();
  });

  it('alexNet: torchvision\'s shapes, and Keras\'s 61,100,840 parameters for 1000 classes', () => {
    const net = alexNet(rt, { numClasses: 2 }); // ~460 MB: built once
    try {
      const s = net.summary();
      const relu = (shape: number[]): Row => ['Relu', [N, ...shape], 0, []];
      expect(rowsOf(s)).toEqual([
        ['Convolution', [N, 64, 55, 55], 23296, ['W1', 'b1']], relu([64, 55, 55]), ['Pooling', [N, 64, 27, 27], 0, []],
        ['Convolution', [N, 192, 27, 27], 307392, ['W2', 'b2']], relu([192, 27, 27]), ['Pooling', [N, 192, 13, 13], 0, []],
        ['Convolution', [N, 384, 13, 13], 663936, ['W3', 'b3']], relu([384, 13, 13]),
        ['Convolution', [N, 256, 13, 13], 884992, ['W4', 'b4']], relu([256, 13, 13]),
        ['Convolution', [N, 256, 13, 13], 590080, ['W5', 'b5']], relu([256, 13, 13]), ['Pooling', [N, 256, 6, 6], 0, []],
        ['Flatten', [N, 9216], 0, []], ['Dropout', [N, 9216], 0, []],
        ['Affine', [N, 4096], 37752832, ['W6', 'b6']], relu([4096]), ['Dropout', [N, 4096], 0, []],
        ['Affine', [N, 4096], 16781312, ['W7', 'b7']], relu([4096]),
        ['Affine', [N, 2], 8194, ['W8', 'b8']], loss,
      ]);
      expectTotals(net, s);
      // the 1000-class net's plan: its layers with the last Affine 4096 → 1000, summarized without building it
      const plans = layerPlans(net);
      plans[plans.length - 1] = { ...plans[plans.length - 1], rule: { kind: 'affine', inputs: 4096, outputs: 1000 }, params: [['W8', [4096, 1000]], ['b8', [1000]]] };
      const keras = summarizePlans(plans, { shape: [3, 224, 224], given: false }, 0);
      expect(keras).toMatchObject({ total: 61_100_840, trainable: 61_100_840, nonTrainable: 0 });
      expect(keras.rows.at(-2)).toMatchObject({ outputShape: [N, 1000], params: 4_097_000 });
      expect(formatSummary(keras)).toContain('\nTotal params: 61,100,840\nTrainable params: 61,100,840\nNon-trainable params: 0\n');
    } finally {
      net.dispose();
    }
  });
});

describe('netSummary(spec): a named net\'s summary from its spec, building nothing', () => {
  it('equals the built net\'s summary for every kind (options off their defaults), allocating nothing; a bad spec is refused naming netSummary', () => {
    const nets = [
      new MultiLayerNet(rt, { inputSize: 12, hiddenSizeList: [7, 5], outputSize: 3, activation: 'tanh', labelSmoothing: 0.1 }),
      new MultiLayerNetExtend(rt, { inputSize: 12, hiddenSizeList: [6], outputSize: 4, useBatchnorm: true, useDropout: true }),
      new SimpleConvNet(rt, { inputDim: [2, 9, 9], convParam: { filterNum: 3, filterSize: 3, pad: 1, stride: 2 }, hiddenSize: 5, outputSize: 4 }),
      new DeepConvNet(rt, { inputDim: [1, 12, 12], hiddenSize: 6, outputSize: 3 }),
    ];
    for (const net of nets) {
      const before = rt.memoryStats();
      expect(netSummary(net.spec), net.spec.kind).toEqual(net.summary());
      expect(rt.memoryStats(), `${net.spec.kind}: memory`).toEqual(before);
      net.dispose();
    }
    expect(() => netSummary({ kind: 'mlp', options: { inputSize: 0, hiddenSizeList: [], outputSize: 2 } })).toThrow(RangeError);
    expect(() => netSummary({ kind: 'rnn' } as never)).toThrow(/^netSummary: spec/);
  });
});

describe('net.summary() of a Sequential', () => {
  const t = (shape: number[]) => rt.tensor(shape);

  it('follows every layer kind\'s shape rule from the net\'s inputShape, allocating nothing', () => {
    const a = new Sequential(rt, [
      new Convolution(t([4, 2, 3, 3]), t([4]), 1, 1), new InstanceNormalization(t([4]), t([4])),
      new BatchNormalization(t([4]), t([4]), 0.9, { spatial: true }), new Pooling(2, 2, 2, 0, { mode: 'avg' }),
      new LayerNormalization(t([36]), t([36])), new Tanh(), new GlobalAveragePooling(), new Affine(t([4, 3]), t([3])),
    ], { inputShape: [2, 6, 6] });
    const b = new Sequential(rt, [
      new Convolution(t([3, 2, 3, 3]), t([3]), 2, 0), new Relu(), new Pooling(3, 3, 1, 1), new Flatten(),
      new BatchNormalization(t([36]), t([36])), new Affine(t([36, 5]), t([5])),
    ]);
    const before = rt.memoryStats();
    const sa = a.summary(), sb = b.summary([2, 9, 7]);
    formatSummary(sa);
    expect(rt.memoryStats()).toEqual(before);
    expect(rowsOf(sa)).toEqual([
      ['Convolution', [N, 4, 6, 6], 76, ['W1', 'b1']], ['InstanceNormalization', [N, 4, 6, 6], 8, ['gamma1', 'beta1']],
      ['BatchNormalization', [N, 4, 6, 6], 8, ['gamma1_2', 'beta1_2', 'runningMean1_2', 'runningVar1_2'], 8],
      ['Pooling', [N, 4, 3, 3], 0, []], ['LayerNormalization', [N, 4, 3, 3], 72, ['gamma1_3', 'beta1_3']], ['Tanh', [N, 4, 3, 3], 0, []],
      ['GlobalAveragePooling', [N, 4], 0, []], ['Affine', [N, 3], 15, ['W2', 'b2']], loss,
    ]);
    expectTotals(a, sa);
    // stride 2 on 9×7: 4×3; a 3×3 window at stride 1 with pad 1 keeps it
    expect(rowsOf(sb)).toEqual([
      ['Convolution', [N, 3, 4, 3], 57, ['W1', 'b1']], ['Relu', [N, 3, 4, 3], 0, []], ['Pooling', [N, 3, 4, 3], 0, []],
      ['Flatten', [N, 36], 0, []], ['BatchNormalization', [N, 36], 72, ['gamma1', 'beta1', 'runningMean1', 'runningVar1'], 72],
      ['Affine', [N, 5], 185, ['W2', 'b2']], loss,
    ]);
    expect(sb.inputShape).toEqual([2, 9, 7]);
    // without an input shape a conv net's shapes are unknown, its counts known
    const unknown = b.summary();
    expect(unknown.inputShape).toBe(null);
    expect(unknown.rows.map((r) => r.outputShape)).toEqual(Array(7).fill(null));
    expect(unknown.total).toBe(sb.total);
    a.dispose();
    b.dispose();
  });

  it('a layer of the caller\'s: its shape and every later one unknown, with a note; no throw', () => {
    const custom: Layer = { name: 'Scale2', params: {}, grads: {}, forward: (x) => x, backward: (d) => d, dispose: () => {} };
    const net = new Sequential(rt, [new Affine(t([4, 5]), t([5])), custom, new Relu(), new Affine(t([5, 3]), t([3]))]);
    for (const s of [net.summary(), net.summary([4]), net.summary([2, 2])]) {
      expect(rowsOf(s)).toEqual([
        ['Affine', [N, 5], 25, ['W1', 'b1']], ['Scale2', null, 0, [], 0, 'unknown layer kind: output shape not computed'],
        ['Relu', null, 0, []], ['Affine', null, 18, ['W2', 'b2']], ['SoftmaxWithLoss', null, 0, []],
      ]);
    }
    expect(formatSummary(net.summary())).toContain('\nScale2 (unknown layer kind: output shape not computed)   ?');
    net.dispose();
  });

  it('tied weights: each layer given one W gets its own key, as the net keys them', () => {
    const W = t([4, 4]);
    const net = new Sequential(rt, [new Affine(W, t([4])), new Tanh(), new Affine(W, t([4]))]);
    expect(Object.keys(net.params)).toEqual(['W1', 'b1', 'W2', 'b2']);
    expect(rowsOf(net.summary())).toEqual([['Affine', [N, 4], 20, ['W1', 'b1']], ['Tanh', [N, 4], 0, []], ['Affine', [N, 4], 20, ['W2', 'b2']], loss]);
    net.dispose();
  });

  it('a net whose own input does not fit a later layer says so in that row (the caller gave no shape to blame)', () => {
    const net = new Sequential(rt, [new Affine(t([4, 5]), t([5])), new Affine(t([6, 3]), t([3]))]);
    expect(rowsOf(net.summary())).toEqual([
      ['Affine', [N, 5], 25, ['W1', 'b1']], ['Affine', null, 21, ['W2', 'b2'], 0, 'takes 6 features a sample, gets 5 ((None, 5))'],
      ['SoftmaxWithLoss', null, 0, []],
    ]);
    net.dispose();
    const images = new Sequential(rt, [new Convolution(t([2, 1, 3, 3]), t([2]))], { inputShape: [1, 5, 5] });
    expect(images.summary().rows.at(-1)).toEqual({ layer: 'SoftmaxWithLoss', outputShape: null, params: 0, keys: [], state: 0, note: 'takes [N, classes] input, gets (None, 2, 3, 3)' });
    images.dispose();
  });

  it('refuses a bad inputShape naming it: not positive integers, not the net\'s input, not fitting a layer', () => {
    const mlp = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [5], outputSize: 3 });
    const expected = "summary: inputShape: expected one sample's dimensions as positive integers, got";
    const cases: Array<[unknown, ErrorConstructor, string]> = [
      ['x', TypeError, `${expected} the string "x"`], [null, TypeError, `${expected} null`], [784, TypeError, `${expected} number 784`],
      [[], RangeError, `${expected} []`], [[0], RangeError, `${expected} [0]`], [[7.5], RangeError, `${expected} [7.5]`],
      [[-1, 2], RangeError, `${expected} [-1,2]`], [[NaN], RangeError, `${expected} [NaN]`], [['784'], TypeError, `${expected} [the string "784"]`],
      [[10], RangeError, 'summary: inputShape [10] does not fit layers[0] (Affine): takes 784 features a sample, gets 10 ((None, 10))'],
      [[2 ** 20, 2 ** 20], RangeError, 'summary: inputShape: [1048576, 1048576] has 1099511627776 elements; a tensor holds at most'],
    ];
    for (const [shape, type, message] of cases) {
      expect(() => mlp.summary(shape as number[]), String(shape)).toThrow(type);
      expect(() => mlp.summary(shape as number[])).toThrow(message);
    }
    mlp.dispose();

    const conv = new SimpleConvNet(rt, { inputDim: [1, 8, 8], convParam: { filterNum: 2, filterSize: 3 }, hiddenSize: 4, outputSize: 2 });
    expect(conv.summary([1, 8, 8]).rows[0].outputShape).toEqual([N, 2, 6, 6]);
    expect(() => conv.summary([3, 8, 8])).toThrow(new RangeError('summary: inputShape must be [1, 8, 8] (the net\'s input), got [3, 8, 8]'));
    conv.dispose();

    const free = new Sequential(rt, [new Convolution(t([2, 1, 3, 3]), t([2])), new Pooling(2, 2, 2), new Affine(t([8, 2]), t([2]))]);
    expect(() => free.summary([3, 6, 6])).toThrow(new RangeError('summary: inputShape [3, 6, 6] does not fit layers[0] (Convolution): takes [N, 1, H, W] input, gets (None, 3, 6, 6)'));
    expect(() => free.summary([1, 2, 9])).toThrow(new RangeError('summary: inputShape [1, 2, 9] does not fit layers[0] (Convolution): a 3×3 filter with pad 0 does not fit a 2×9 input'));
    expect(() => free.summary([1, 3, 9])).toThrow(new RangeError('summary: inputShape [1, 3, 9] does not fit layers[1] (Pooling): a 2×2 window with pad 0 does not fit a 1×7 input'));
    expect(() => free.summary([1, 8, 8])).toThrow(new RangeError('summary: inputShape [1, 8, 8] does not fit layers[2] (Affine): takes 8 features a sample, gets 18 ((None, 2, 3, 3))'));
    expect(() => free.summary([1, 49])).toThrow(new RangeError('summary: inputShape [1, 49] does not fit layers[0] (Convolution): takes [N, 1, H, W] input, gets (None, 1, 49)'));
    expect(free.summary([1, 6, 6]).rows.at(-2)!.outputShape).toEqual([N, 2]);
    free.dispose();

    const norms = new Sequential(rt, [new LayerNormalization(t([8]), t([8])), new InstanceNormalization(t([2]), t([2])), new GlobalAveragePooling()]);
    expect(() => norms.summary([2, 4])).toThrow(new RangeError('summary: inputShape [2, 4] does not fit layers[1] (InstanceNormalization): takes [N, 2, H, W] input, gets (None, 2, 4)'));
    expect(() => norms.summary([8])).toThrow(new RangeError('summary: inputShape [8] does not fit layers[1] (InstanceNormalization): takes [N, 2, H, W] input, gets (None, 8)'));
    expect(() => norms.summary([2, 2, 3])).toThrow(new RangeError('summary: inputShape [2, 2, 3] does not fit layers[0] (LayerNormalization): takes 8 features a sample, gets 12 ((None, 2, 2, 3))'));
    expect(norms.summary([2, 2, 2]).rows.map((r) => r.outputShape)).toEqual([[N, 2, 2, 2], [N, 2, 2, 2], [N, 2], []]);
    norms.dispose();

    // an output no tensor could hold (64 filters over 2^26 positions) would make the sizes inexact
    const wide = new Sequential(rt, [new Convolution(t([64, 1, 1, 1]), t([64]))]);
    expect(() => wide.summary([1, 8192, 8192])).toThrow(new RangeError(
      'summary: inputShape [1, 8192, 8192] does not fit layers[0] (Convolution): its output (None, 64, 8192, 8192) holds more than the 536870896 elements a tensor holds'));
    wide.dispose();

    const noClasses = new Sequential(rt, [new Relu()]);
    expect(() => noClasses.summary([2, 3])).toThrow(new RangeError('summary: inputShape [2, 3] does not fit the loss (SoftmaxWithLoss): takes [N, classes] input, gets (None, 2, 3)'));
    expect(noClasses.summary().inputShape).toBe(null);
    noClasses.dispose();
  });

  it('refuses a call after dispose() as the other entries do', () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    net.dispose();
    expect(() => net.summary()).toThrow(new Error('MultiLayerNet: used after dispose()'));
  });
});

describe('formatSummary', () => {
  it('prints a Keras-like table: type and keys, output shape, parameters right-aligned with separators, then the totals', () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    expect(formatSummary(net.summary())).toBe([
      'Input shape: (None, 4)',
      '________________________________________',
      'Layer (type)      Output Shape   Param #',
      '========================================',
      'Affine [W1, b1]   (None, 3)           15',
      'Relu              (None, 3)            0',
      'Affine [W2, b2]   (None, 2)            8',
      'SoftmaxWithLoss   ()                   0',
      '========================================',
      'Total params: 23',
      'Trainable params: 23',
      'Non-trainable params: 0',
      '________________________________________',
    ].join('\n'));
    net.dispose();
  });

  it('counts batch norm\'s four vectors in its row as Keras does, the statistics as non-trainable, with thousands separators', () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 784, hiddenSizeList: [1000], outputSize: 10, useBatchnorm: true, labelSmoothing: 0.1 });
    expect(formatSummary(net.summary())).toBe([
      'Input shape: (None, 784)',
      '______________________________________________________________________________________',
      'Layer (type)                                                    Output Shape   Param #',
      '======================================================================================',
      'Affine [W1, b1]                                                 (None, 1000)   785,000',
      'BatchNormalization [gamma1, beta1, runningMean1, runningVar1]   (None, 1000)     4,000',
      'Relu                                                            (None, 1000)         0',
      'Affine [W2, b2]                                                 (None, 10)      10,010',
      'SoftmaxWithLoss (labelSmoothing 0.1)                            ()                   0',
      '======================================================================================',
      'Total params: 799,010',
      'Trainable params: 797,010',
      'Non-trainable params: 2,000',
      '______________________________________________________________________________________',
    ].join('\n'));
    net.dispose();
  });

  it('says when the input shape is unknown, and refuses what is not a summary', () => {
    const net = new Sequential(rt, [new Convolution(t([2, 1, 3, 3]), t([2]))]);
    expect(formatSummary(net.summary())).toMatch(/^Input shape: unknown \(net\.summary\(inputShape\) gives the output shapes\)\n[^]*\nConvolution \[W1, b1\] +\? +20\n/);
    net.dispose();
    expect(() => formatSummary(null as unknown as NetSummary)).toThrow(new TypeError('formatSummary: s must be a NetSummary (what net.summary() returns), got null'));
    expect(() => formatSummary({} as NetSummary)).toThrow(TypeError);
  });

  function t(shape: number[]) { return rt.tensor(shape); }
});
