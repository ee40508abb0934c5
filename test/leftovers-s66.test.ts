// Gaps left by session 65, closed in session 66: a frozen net's summary (its net's at freezing, computed from what
// it keeps) and its classification metrics (the net's figures, bit for bit); the schedules refusing null for every
// option as the rest of the library does (an option left out takes its default; null is no value); netSummary's
// option errors naming netSummary and the option, from a spec read once.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray, randomInts } from './helpers/runtime.js';
import { expectRefused, type ErrorClass } from './helpers/refused.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import {
  Affine, BatchNormalization, Convolution, DeepConvNet, Flatten, GlobalAveragePooling, InstanceNormalization, LayerNormalization,
  MultiLayerNet, MultiLayerNetExtend, Pooling, Relu, Sequential, SimpleConvNet, Tanh, buildNet, classificationMetrics,
  classificationMetricsAsync, createSchedule, netSummary, netTensorShapes, scheduleNames, LinearLR, ExponentialLR, SequentialLR,
  type NetSpec,
} from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 11 }); });

/** The named nets, each with options off their defaults (batch norm and dropout, label smoothing, a strided padded conv). */
function namedNets(): Sequential[] {
  return [
    new MultiLayerNet(rt, { inputSize: 12, hiddenSizeList: [7, 5], outputSize: 3, activation: 'tanh', labelSmoothing: 0.1 }),
    new MultiLayerNetExtend(rt, { inputSize: 12, hiddenSizeList: [6, 4], outputSize: 4, useBatchnorm: true, useDropout: true }),
    new SimpleConvNet(rt, { inputDim: [2, 9, 9], convParam: { filterNum: 3, filterSize: 3, pad: 1, stride: 2 }, hiddenSize: 5, outputSize: 4 }),
    new DeepConvNet(rt, { inputDim: [1, 12, 12], hiddenSize: 6, outputSize: 3 }),
  ];
}

/** Random tensors of these shapes (the caller disposes them). */
const tensors = (shapes: number[][], seed: number): Tensor[] =>
  shapes.map((shape, i) => rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b, 1), seed + i, -0.5, 0.5)));

/**
 * Stacks of every layer kind a net can be frozen with, each fixing its input: a conv, instance norm, ReLU, average
 * pooling, spatial batch norm, Flatten, layer norm, tanh and Affine; and a 1×1 conv then global average pooling.
 */
function everyKindNets(): { nets: Sequential[]; dispose: () => void } {
  const owned = tensors([[4, 2, 3, 3], [4], [4], [4], [4], [4], [36], [36], [36, 3], [3], [3, 4, 1, 1], [3]], 20);
  const [W1, b1, g1, be1, g2, be2, g3, be3, W2, b2, W3, b3] = owned;
  const stack = new Sequential(rt, [
    new Convolution(W1, b1, 1, 1), new InstanceNormalization(g1, be1), new Relu(), new Pooling(2, 2, 2, 0, { mode: 'avg' }),
    new BatchNormalization(g2, be2, 0.9, { spatial: true }), new Flatten(), new LayerNormalization(g3, be3), new Tanh(), new Affine(W2, b2),
  ], { inputShape: [2, 6, 6], labelSmoothing: 0.2 });
  const gap = new Sequential(rt, [new Convolution(W3, b3, 1, 0), new GlobalAveragePooling()], { inputShape: [4, 5, 5] });
  return { nets: [stack, gap], dispose: () => { stack.dispose(); gap.dispose(); for (const t of owned) t.dispose(); } };
}

describe('FrozenNet.summary(): its net\'s summary at freezing', () => {
  it('equals the net\'s summary for every named net, allocating nothing, and still after the net is disposed', () => {
    for (const net of namedNets()) {
      const what = net.constructor.name;
      const frozen = net.freeze();
      // an input shape given is checked and followed as the net's summary does: an image's for the MLPs
      const shape = net.inputShape ? [...net.inputShape] : [3, 4];
      const want = net.summary(), wantGiven = net.summary(shape);
      const before = rt.memoryStats();
      expect(frozen.summary(), what).toEqual(want);
      expect(frozen.summary(shape), `${what} given [${shape}]`).toEqual(wantGiven);
      expect(rt.memoryStats(), `${what}: nothing allocated`).toEqual(before);
      net.dispose();
      expect(frozen.summary(), `${what}: the net disposed`).toEqual(want);
      expect(frozen.summary(shape), `${what}: the net disposed, given [${shape}]`).toEqual(wantGiven);
      frozen.dispose();
    }
  });

  it('stacks of every kind of layer: the same rows, shapes and notes; a given input it does not take is refused as the net refuses it', () => {
    const { nets, dispose } = everyKindNets();
    const frozen = nets.map((net) => net.freeze());
    const want = nets.map((net) => net.summary());
    frozen.forEach((f, i) => expect(f.summary(), `net ${i}`).toEqual(want[i]));
    expect(want[0].rows.map((r) => r.outputShape)).toEqual([
      [null, 4, 6, 6], [null, 4, 6, 6], [null, 4, 6, 6], [null, 4, 3, 3], [null, 4, 3, 3], [null, 36], [null, 36], [null, 36], [null, 3], [],
    ]);
    expect(want[0].rows.at(-1)!.note).toBe('labelSmoothing 0.2');
    expect(want[1].rows.map((r) => r.outputShape)).toEqual([[null, 3, 5, 5], [null, 3], []]);
    expectRefused(rt, () => frozen[0].summary([2, 5, 5]), RangeError, /^summary: inputShape must be \[2, 6, 6\] \(the net's input\), got \[2, 5, 5\]$/);
    expectRefused(rt, () => frozen[0].summary([0]), RangeError, /^summary: inputShape: expected one sample's dimensions as positive integers, got \[0\]$/);
    dispose();
    frozen.forEach((f, i) => expect(f.summary(), `net ${i}, disposed`).toEqual(want[i]));
    for (const f of frozen) f.dispose();
  });

  it('a summary returned is the caller\'s (editing it changes no later one); a disposed frozen net refuses', () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 6, hiddenSizeList: [5], outputSize: 2, useBatchnorm: true });
    const frozen = net.freeze();
    const want = frozen.summary();
    const s = frozen.summary();
    s.rows[0].keys.push('tampered'); // the result is the caller's: editing it does not reach the next one
    (s.inputShape as number[])[0] = 99;
    expect(frozen.summary()).toEqual(want);
    frozen.dispose();
    expect(() => frozen.summary()).toThrow(/^FrozenNet: used after dispose\(\)$/);
    net.dispose();
  });
});

/** Labels for `rows` rows of `classes` classes. */
const labelsFor = (rows: number, classes: number, seed: number) => rt.labels([rows], randomInts(rows, seed, classes));

describe('classificationMetrics of a FrozenNet: its net\'s figures', () => {
  it('equals the net\'s for an MLP, a conv net and batch norm with dropout: labels and one-hot rows, topK, several chunks, sync and async', async () => {
    const mlpParams = tensors([[12, 9], [9], [9, 5], [5]], 30);
    const cases: Array<[Sequential, number[], number, number]> = [
      // a user stack with chunks of 7 rows, so 23 rows run as 4 chunks
      [new Sequential(rt, [new Affine(mlpParams[0], mlpParams[1]), new Relu(), new Affine(mlpParams[2], mlpParams[3])], { evalBatchSize: 7 }), [12], 5, 23],
      // the conv nets' chunks are 100 rows: 230 rows run as 3
      [new SimpleConvNet(rt, { inputDim: [1, 8, 8], convParam: { filterNum: 3, filterSize: 3 }, hiddenSize: 6, outputSize: 4 }), [1, 8, 8], 4, 230],
      [new MultiLayerNetExtend(rt, { inputSize: 12, hiddenSizeList: [8], outputSize: 3, useBatchnorm: true, useDropout: true }), [12], 3, 23],
    ];
    for (const [net, sample, C, rows] of cases) {
      const what = net.constructor.name;
      const x = rt.tensor([rows, ...sample], randomArray(rows * sample.reduce((a, b) => a * b, 1), 3, -2, 2));
      const t = labelsFor(rows, C, 4);
      const oneHot = rt.tensor([rows, C]);
      t.data.forEach((c, r) => { oneHot.data[r * C + c] = 1; });
      const frozen = net.freeze();
      const want = classificationMetrics(net, x, t, { topK: 2 });
      expect(want.rows).toBe(rows);
      expect(classificationMetrics(frozen, x, t, { topK: 2 }), what).toEqual(want);
      expect(await classificationMetricsAsync(frozen, x, t, { topK: 2 }), `${what} async`).toEqual(want);
      expect(classificationMetrics(frozen, x, oneHot), `${what} one-hot`).toEqual(classificationMetrics(net, x, oneHot));
      // the frozen net counts its classes without running a row: a second call allocates nothing
      const before = rt.memoryStats();
      classificationMetrics(frozen, x, t);
      expect(rt.memoryStats(), `${what}: memory`).toEqual(before);
      net.dispose();
      expect(classificationMetrics(frozen, x, t, { topK: 2 }), `${what}: the net disposed`).toEqual(want);
      for (const v of [x, t, oneHot]) v.dispose();
      frozen.dispose();
    }
    for (const p of mlpParams) p.dispose();
  });

  it('refuses a disposed frozen net, bad x and t naming them, and what is no net', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const frozen = net.freeze();
    const x = rt.tensor([5, 4], randomArray(20, 1)), t = labelsFor(5, 2, 2), wide = rt.tensor([5, 6]), empty = rt.tensor([0, 4]);
    expectRefused(rt, () => classificationMetrics(frozen, wide, t), RangeError, /^classificationMetrics: x has rows of 6 features/);
    expectRefused(rt, () => classificationMetrics(frozen, empty, t), RangeError, /^classificationMetrics: x has 0 rows/);
    expectRefused(rt, () => classificationMetrics(frozen, x, [0, 1, 2, 0, 1]), RangeError, /^classificationMetrics: /);
    expectRefused(rt, () => classificationMetrics(frozen, x, t, { topK: 3 }), RangeError, /^classificationMetrics: topK must be an integer in \[1, 2\]/);
    expectRefused(rt, () => classificationMetrics({} as never, x, t), TypeError, /^classificationMetrics: net must be a net \(MultiLayerNet, a Sequential, …\) or a FrozenNet, got an Object$/);
    expectRefused(rt, () => classificationMetrics(null as never, x, t), TypeError, /^classificationMetrics: net must be a net .* or a FrozenNet, got null$/);
    frozen.dispose();
    expectRefused(rt, () => classificationMetrics(frozen, x, t), Error, /^FrozenNet: used after dispose\(\)$/);
    await expect(classificationMetricsAsync(frozen, x, t)).rejects.toThrow(/^FrozenNet: used after dispose\(\)$/);
    for (const v of [x, t, wide, empty]) v.dispose();
    net.dispose();
  });

  it('a conv net frozen without an input shape: x whose images do not fit is refused naming x, before a chunk runs', () => {
    const W = rt.tensor([2, 1, 3, 3], randomArray(18, 1)), b = rt.tensor([2]);
    const net = new Sequential(rt, [new Convolution(W, b, 1, 0), new Relu(), new GlobalAveragePooling()]);
    const frozen = net.freeze();
    const x = rt.tensor([4, 1, 6, 6], randomArray(144, 2)), t = labelsFor(4, 2, 3), small = rt.tensor([4, 1, 2, 2]), three = rt.tensor([4, 3, 6, 6]);
    expect(classificationMetrics(frozen, x, t)).toEqual(classificationMetrics(net, x, t));
    expectRefused(rt, () => classificationMetrics(frozen, small, t), RangeError, /^classificationMetrics: x \[4, 1, 2, 2\] does not fit the net: layers\[0\] \(Convolution\) a 3×3 filter with pad 0 does not fit a 2×2 input$/);
    expectRefused(rt, () => classificationMetrics(frozen, three, t), RangeError, /^classificationMetrics: x \[4, 3, 6, 6\] does not fit the net: layers\[0\] \(Convolution\) takes \[N, 1, H, W\] input/);
    for (const v of [x, t, small, three, W, b]) v.dispose();
    frozen.dispose();
    net.dispose();
  });
});

describe('schedules: null is no value for any option (left out, an option takes its default)', () => {
  // every schedule by short name: options that make it, and its options (required and optional)
  const SCHEDULES: Record<string, { base: Record<string, unknown>; options: string[] }> = {
    step: { base: { stepSize: 2 }, options: ['stepSize', 'gamma', 'interval'] },
    multistep: { base: { milestones: [2, 4] }, options: ['milestones', 'gamma', 'interval'] },
    exponential: { base: { gamma: 0.9 }, options: ['gamma', 'interval'] },
    cosine: { base: { tMax: 10 }, options: ['tMax', 'etaMin', 'interval'] },
    'cosine-restarts': { base: { t0: 5 }, options: ['t0', 'tMult', 'etaMin', 'interval'] },
    linear: { base: {}, options: ['startFactor', 'endFactor', 'totalIters', 'interval'] },
    constant: { base: {}, options: ['factor', 'totalIters', 'interval'] },
    polynomial: { base: {}, options: ['totalIters', 'power', 'interval'] },
    onecycle: {
      base: { maxLr: 0.1, totalSteps: 100 },
      options: ['maxLr', 'totalSteps', 'epochs', 'stepsPerEpoch', 'pctStart', 'annealStrategy', 'cycleMomentum', 'baseMomentum', 'maxMomentum', 'divFactor', 'finalDivFactor', 'threePhase', 'interval'],
    },
    cyclic: {
      base: { baseLr: 0.01, maxLr: 0.1 },
      options: ['baseLr', 'maxLr', 'stepSizeUp', 'stepSizeDown', 'mode', 'gamma', 'scaleMode', 'cycleMomentum', 'baseMomentum', 'maxMomentum', 'interval'],
    },
    plateau: { base: {}, options: ['mode', 'factor', 'patience', 'threshold', 'thresholdMode', 'cooldown', 'minLr', 'eps', 'interval'] },
    swalr: { base: { swaLr: 0.05 }, options: ['swaLr', 'annealEpochs', 'annealStrategy', 'interval'] },
  };

  it('every schedule refuses null for each option, a TypeError naming the schedule and the option', () => {
    for (const name of scheduleNames) {
      const entry = SCHEDULES[name];
      expect(entry, `a table entry for schedule '${name}'`).toBeDefined();
      const made = createSchedule(name, entry.base as never);
      for (const key of entry.options) {
        const what = `${name} { ${key}: null }`;
        let error: unknown;
        try { createSchedule(name, { ...entry.base, [key]: null } as never); } catch (e) { error = e; }
        expect(error, what).toBeInstanceOf(TypeError);
        expect((error as Error).message, what).toMatch(new RegExp(`^${made.name}: (${key} must be|advances per epoch only)`));
      }
    }
  });

  it('an optional option left out (or undefined) still takes its default; a wrong type is a TypeError, a value out of range a RangeError', () => {
    expect(createSchedule('step', { stepSize: 2, gamma: undefined }).lrAt(2, 1)).toBe(0.1);
    expect(createSchedule('cyclic', { baseLr: 0.01, maxLr: 0.1, mode: undefined, interval: undefined }).interval).toBe('step');
    expect(() => createSchedule('step', { stepSize: 2, gamma: '0.5' as never })).toThrow(new TypeError('StepLR: gamma must be a number > 0, got the string "0.5"'));
    expect(() => createSchedule('step', { stepSize: 2, gamma: -1 })).toThrow(new RangeError('StepLR: gamma must be a number > 0, got -1'));
    expect(() => createSchedule('step', { stepSize: 2, gamma: null as never })).toThrow(new TypeError('StepLR: gamma must be a value or left out (for its default, 0.1), got null'));
    expect(() => createSchedule('cosine', { tMax: 4, interval: null as never })).toThrow(new TypeError("CosineAnnealingLR: interval must be a value or left out (for its default, 'epoch'), got null"));
    expect(() => createSchedule('onecycle', { maxLr: 0.1, totalSteps: null, epochs: 2, stepsPerEpoch: 5 } as never)).toThrow(new TypeError('OneCycleLR: totalSteps must be a value or left out, got null'));
    expect(() => createSchedule('cyclic', { baseLr: 0.01, maxLr: 0.1, mode: 3 as never })).toThrow(new TypeError("CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range', got number 3"));
    expect(() => createSchedule('cyclic', { baseLr: 0.01, maxLr: 0.1, mode: 'exp' as never })).toThrow(new RangeError("CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range', got exp"));
    expect(() => createSchedule('plateau', { interval: 'step' } as never)).toThrow(new RangeError('ReduceLROnPlateau: advances per epoch only'));
    expect(() => createSchedule('multistep', { milestones: null as never })).toThrow(new TypeError('MultiStepLR: milestones must be an array of positive integers, got null'));
  });

  it('SequentialLR: null schedulers, milestones or interval are TypeErrors naming them', () => {
    const two = () => [new LinearLR(), new ExponentialLR({ gamma: 0.5 })];
    expect(() => new SequentialLR({ schedulers: null as never, milestones: [2] })).toThrow(new TypeError('SequentialLR: schedulers must be a non-empty array of schedules, got null'));
    expect(() => new SequentialLR({ schedulers: two(), milestones: null as never })).toThrow(new TypeError('SequentialLR: milestones must be 1 increasing positive integers (one fewer than schedulers), got null'));
    expect(() => new SequentialLR({ schedulers: two(), milestones: [2], interval: null as never })).toThrow(TypeError);
    expect(() => new SequentialLR({ schedulers: [], milestones: [] })).toThrow(RangeError);
  });
});

describe('netSummary(spec): errors name netSummary and the option', () => {
  it('an option refused by the constructor\'s checks or the registry\'s is said as netSummary: spec.options; the constructors keep their words', () => {
    const cases: Array<[NetSpec, ErrorClass, RegExp, RegExp]> = [
      [{ kind: 'mlp', options: { inputSize: 4, hiddenSizeList: [0], outputSize: 2 } }, RangeError,
        /^netSummary: spec\.options: hiddenSizeList\[0\] must be a positive integer, got 0$/, /^MultiLayerNet: hiddenSizeList\[0\] must be a positive integer, got 0$/],
      [{ kind: 'mlp', options: { inputSize: 4, hiddenSizeList: 3, outputSize: 2 } } as never, TypeError,
        /^netSummary: spec\.options: hiddenSizeList must be an array, got 3$/, /^mlp: hiddenSizeList must be an array, got 3$/],
      [{ kind: 'mlp-extend', options: { inputSize: 4, hiddenSizeList: [3], outputSize: 2, useBatchnorm: 1 } } as never, TypeError,
        /^netSummary: spec\.options: useBatchnorm must be true or false, got number 1$/, /^MultiLayerNetExtend: useBatchnorm must be true or false/],
      [{ kind: 'simple-conv', options: { hiddenSize: 4, foo: 1 } } as never, TypeError,
        /^netSummary: spec\.options: unknown option 'foo'/, /^SimpleConvNet: unknown option 'foo'/],
      [{ kind: 'simple-conv', options: { inputDim: [1, 3, 3], convParam: { filterNum: 2, filterSize: 5 } } }, RangeError,
        /^netSummary: spec\.options: conv 1 \(5×5, pad 0\) does not fit a 3×3 input$/, /^simple-conv: conv 1 \(5×5, pad 0\) does not fit a 3×3 input$/],
      [{ kind: 'deep-conv', options: { hiddenSize: NaN } }, RangeError,
        /^netSummary: spec\.options: hiddenSize must be a positive integer, got NaN$/, /^DeepConvNet: hiddenSize must be a positive integer, got NaN$/],
      [{ kind: 'deep-conv', options: { labelSmoothing: null } } as never, TypeError,
        /^netSummary: spec\.options: labelSmoothing must be a number in \[0, 1\], got null$/, /^DeepConvNet: labelSmoothing must be a number in \[0, 1\], got null$/],
    ];
    for (const [spec, cls, summaryMessage, constructorMessage] of cases) {
      expectRefused(rt, () => netSummary(spec), cls, summaryMessage);
      expectRefused(rt, () => netTensorShapes(spec), cls, constructorMessage);
      if (constructorMessage.source.startsWith('^mlp') || constructorMessage.source.startsWith('^simple-conv')) continue; // the registry's own check
      expectRefused(rt, () => buildNet(rt, spec), cls, constructorMessage);
    }
    // the spec's own form: named as before
    expectRefused(rt, () => netSummary({ kind: 'rnn', options: {} } as never), TypeError, /^netSummary: spec\.kind: expected one of/);
  });

  it('reads the spec once: options whose getter changes between reads are summarized as first read', () => {
    let reads = 0;
    const spec = {
      kind: 'mlp',
      get options() { reads++; return reads === 1 ? { inputSize: 4, hiddenSizeList: [3], outputSize: 2 } : { inputSize: 4, hiddenSizeList: [3, 3], outputSize: 2 }; },
    };
    const s = netSummary(spec as NetSpec);
    expect(reads).toBe(1);
    expect(s).toEqual(netSummary({ kind: 'mlp', options: { inputSize: 4, hiddenSizeList: [3], outputSize: 2 } }));
  });
});
