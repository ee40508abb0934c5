// Session 65's public entries in the bad-input sweeps: SoftmaxWithLoss with labelSmoothing (fuzzed x and t,
// canaries around them, a float64 reference where the inputs are tame), labelSmoothing on every named net,
// classificationMetrics(Async), net.summary and netSummary, lrFinder(Async), the Trainer's ema, mixup,
// clipGradNorm and cycling schedules, and the schedules' constructors and lrAt at the ends of k. Each bad
// input must get a TypeError/RangeError naming the entry and the argument, allocate nothing and change
// nothing; never a wasm trap, a changed canary or input, or a NaN returned silently. Seeded, bounded.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { makeRuntime, randomArray, rng } from './helpers/runtime.js';
import { Canaries } from './helpers/canaries.js';
import { expectRefused as refused, type ErrorClass } from './helpers/refused.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { IntTensor, Tensor } from '../src/runtime/tensor.js';
import { SoftmaxWithLoss } from '../src/layers/index.js';
import {
  DeepConvNet, MultiLayerNet, MultiLayerNetExtend, Sequential, SimpleConvNet, alexNet, classificationMetrics, classificationMetricsAsync,
} from '../src/nets/index.js';
import { netSummary, type NetSpec } from '../src/nets/registry.js';
import { CosineAnnealingWarmRestarts, ConstantLR, CyclicLR, OneCycleLR, PolynomialLR, SGD, Momentum, type LRSchedule } from '../src/optim/index.js';
import { Trainer, lrFinder, lrFinderAsync } from '../src/train/index.js';

const SEED = 20261207;
let rt: Runtime;
let other: Runtime;
beforeAll(async () => {
  rt = await makeRuntime({ seed: 3, memory: { initial: 64, maximum: 512 } });
  other = await makeRuntime();
});
afterAll(async () => { await rt.dispose(); await other.dispose(); });

const sym = Symbol('s');
const bits = (t: Tensor | IntTensor): Int32Array => new Int32Array(t.data.slice().buffer);
const expectRefused = (f: () => unknown, cls: ErrorClass, message: RegExp) => refused(rt, f, cls, message);
/** Values every numeric option is fuzzed with, beside the entry's own. */
const WILD: readonly unknown[] = [NaN, Infinity, -Infinity, -0.5, 1 + 2 ** -52, '0.1', '', null, true, sym, 1n, {}, [0.1]];

/** Not a trap, not a failure deep inside: an Error whose message starts with `who`. */
function expectClear(e: unknown, who: RegExp): void {
  expect(e).toBeInstanceOf(Error);
  expect(e instanceof WebAssembly.RuntimeError, String(e)).toBe(false);
  expect((e as Error).message).toMatch(who);
  expect((e as Error).message).not.toMatch(/Cannot read|of null|is not a function|is not iterable/);
}

describe('SoftmaxWithLoss({ labelSmoothing }) fuzzed', () => {
  /** float64 loss and gradient of softmax cross-entropy on the smoothed targets t·(1−ε)+ε/C. */
  function reference(x: Float32Array, t: Float64Array, N: number, C: number, eps: number, dout: number) {
    let loss = 0;
    const dx = new Float64Array(N * C);
    for (let r = 0; r < N; r++) {
      let m = -Infinity;
      for (let c = 0; c < C; c++) m = Math.max(m, x[r * C + c]);
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(x[r * C + c] - m);
      for (let c = 0; c < C; c++) {
        const target = t[r * C + c] * (1 - eps) + eps / C;
        const logY = x[r * C + c] - m - Math.log(s);
        loss -= target * logY;
        dx[r * C + c] = (Math.exp(logY) - target) * dout / N;
      }
    }
    return { loss: loss / N, dx };
  }

  it('400 seeded cases: a clear error naming SoftmaxWithLoss, or the float64 reference; canaries and inputs unchanged', () => {
    const next = rng(SEED);
    const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
    const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)];
    const wildValue = () => (next() < 0.85 ? next() * 6 - 3 : pick([NaN, Infinity, -Infinity, 1e-40, -1e-42, 0, -0, 3.4e38]));
    const canaries = new Canaries(rt, SEED);
    let checked = 0, refusedCount = 0;
    for (let i = 0; i < 400; i++) {
      const eps = pick([0, 0.1, 0.25, 1, 2 ** -30]);
      const layer = new SoftmaxWithLoss({ labelSmoothing: eps });
      const N = pick([0, 1, int(2, 5), 7]), C = pick([0, 1, int(2, 6), 9]);
      const wild = next() < 0.3;
      const owned: Array<Tensor | IntTensor> = [];
      canaries.place();
      const x = rt.tensor([N, C], Float32Array.from({ length: N * C }, () => (wild ? wildValue() : next() * 6 - 3)));
      owned.push(x);
      canaries.place();
      // targets: labels (IntTensor or array, some out of range), one-hot or soft rows (some not summing to 1), mismatched shapes
      const kind = pick(['ints', 'array', 'onehot', 'soft', 'badsum', 'mismatch', 'alias'] as const);
      const tN = next() < 0.1 ? N + 1 : N, N0C = C;
      let t: Tensor | IntTensor | number[];
      const labelsOf = () => Array.from({ length: tN }, () => (next() < 0.05 ? pick([-1, C, 2 ** 31 - 1]) : int(0, Math.max(0, C - 1))));
      const rows = (soft: boolean, badSum: boolean, C = N0C) => {
        const v = new Float32Array(tN * C);
        for (let r = 0; r < tN; r++) {
          if (soft) {
            let s = 0;
            for (let c = 0; c < C; c++) s += (v[r * C + c] = next() + 0.01);
            for (let c = 0; c < C; c++) v[r * C + c] /= badSum ? s / 1.5 : s;
          } else if (C > 0) v[r * C + int(0, C - 1)] = 1;
        }
        return v;
      };
      if (kind === 'ints') t = rt.labels([tN], Int32Array.from(labelsOf()));
      else if (kind === 'array') t = labelsOf();
      else if (kind === 'mismatch') t = rt.tensor([tN, C + 1], rows(false, false, C + 1));
      else if (kind === 'alias') t = rt.tensor([tN, C], rows(true, false)); // replaced by the layer's y below
      else t = rt.tensor([tN, C], rows(kind === 'soft', kind === 'badsum'));
      if (!Array.isArray(t)) { owned.push(t); canaries.place(); }
      const inputs = [x, ...(Array.isArray(t) ? [] : [t])].map((v) => ({ v, b: bits(v) }));
      let targets: Float64Array | null = null;
      try {
        if (kind === 'alias') {
          layer.forward(x, t); // a first pass: y is then the layer's own soft rows, given back as t
          t = layer.y!;
        }
        if (t instanceof IntTensor || Array.isArray(t)) {
          const labels = t instanceof IntTensor ? t.data : t;
          targets = new Float64Array(N * C);
          for (let r = 0; r < N; r++) targets[r * C + labels[r]] = 1;
        } else targets = Float64Array.from(t.data);
        const xs = x.toArray();
        const loss = layer.forward(x, t);
        const dout = pick([1, 0.5, 3]);
        const dx = layer.backward(dout);
        expect(dx.shape).toEqual([N, C]);
        const tame = xs.every((v) => Number.isFinite(v) && Math.abs(v) < 1e3 && (v === 0 || Math.abs(v) > 1e-30));
        if (tame) {
          const ref = reference(xs, targets, N, C, eps, dout);
          expect(Math.abs(loss - ref.loss), `case ${i}: loss ${loss} vs ${ref.loss}`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(ref.loss)));
          const got = dx.toArray();
          for (let j = 0; j < got.length; j++) expect(Math.abs(got[j] - ref.dx[j]), `case ${i}: dx[${j}]`).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(ref.dx[j]));
          checked++;
        } else {
          expect(Number.isFinite(loss), `case ${i}: a loss not finite is thrown, not returned`).toBe(true);
        }
      } catch (e) {
        expectClear(e, /^SoftmaxWithLoss/);
        refusedCount++;
      }
      for (const { v, b } of inputs) if (!v.disposed) expect(bits(v), `case ${i} (${kind}): an input changed`).toEqual(b);
      expect(canaries.changed(), `case ${i} (${kind})`).toBe(0);
      layer.dispose();
      for (const o of owned) o.dispose();
    }
    canaries.dispose();
    expect(checked, 'enough cases checked against the reference').toBeGreaterThan(80);
    expect(refusedCount, 'enough cases refused').toBeGreaterThan(40);
  });

  it('labelSmoothing fuzzed: refused naming SoftmaxWithLoss and labelSmoothing', () => {
    // null is taken as the default (options.labelSmoothing ?? 0), as the schedules take it; the named nets refuse it
    for (const v of [...WILD.filter((w) => w !== null), -0.001, 1.0000001, 2]) {
      const number = typeof v === 'number';
      expectRefused(() => new SoftmaxWithLoss({ labelSmoothing: v as number }), number ? RangeError : TypeError, /^SoftmaxWithLoss: labelSmoothing must be a number in \[0, 1\], got /);
    }
    expect(new SoftmaxWithLoss({ labelSmoothing: -0 }).labelSmoothing === 0, '−0 is 0, in range').toBe(true);
  });
});

describe('labelSmoothing on every named net', () => {
  const nets: Array<[string, (ls: unknown) => { dispose(): void }]> = [
    ['MultiLayerNet', (ls) => new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2, labelSmoothing: ls as number })],
    ['MultiLayerNetExtend', (ls) => new MultiLayerNetExtend(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2, labelSmoothing: ls as number })],
    ['SimpleConvNet', (ls) => new SimpleConvNet(rt, { inputDim: [1, 6, 6], labelSmoothing: ls as number })],
    ['DeepConvNet', (ls) => new DeepConvNet(rt, { labelSmoothing: ls as number })],
    ['alexNet', (ls) => alexNet(rt, { numClasses: 3, labelSmoothing: ls as number })],
    ['Sequential', (ls) => new Sequential(rt, [], { labelSmoothing: ls as number })],
  ];
  it.each(nets)('%s: a bad labelSmoothing is refused naming the net and the option, before any allocation', (name, make) => {
    for (const v of [...WILD, -0.001, 1.0000001, 1e308]) {
      expectRefused(() => make(v), typeof v === 'number' ? RangeError : TypeError, new RegExp(`^${name}: labelSmoothing must be a number in \\[0, 1\\], got `));
    }
  });
});

describe('classificationMetrics and classificationMetricsAsync fuzzed', () => {
  it('x, t and topK fuzzed: a clear error naming the entry and argument, nothing left allocated, canaries intact', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 3 });
    const x = rt.tensor([5, 3], randomArray(15, 2));
    const labels = rt.labels([5], [0, 1, 2, 1, 0]);
    const oneHot = rt.tensor([5, 3], Float32Array.from({ length: 15 }, (_, i) => (i % 3 === [0, 1, 2, 1, 0][Math.floor(i / 3)] ? 1 : 0)));
    const canaries = new Canaries(rt, 7);
    canaries.place();
    const dead = rt.tensor([5, 3]); dead.dispose();
    const foreign = other.tensor([5, 3]);
    const foreignLabels = other.labels([5], [0, 1, 2, 1, 0]);
    const narrow = rt.tensor([5, 2]), halves = rt.tensor([5, 3], new Float32Array(15).fill(0.5)), nans = rt.tensor([5, 3], new Float32Array(15).fill(NaN));
    const wide = rt.tensor([5, 4]), empty = rt.tensor([0, 3]);
    canaries.place();
    const xBits = bits(x), tBits = bits(oneHot);
    for (const [name, f] of [['classificationMetrics', classificationMetrics], ['classificationMetricsAsync', classificationMetricsAsync]] as const) {
      const call = async (xx: Tensor, t: unknown, topK?: unknown): Promise<unknown> =>
        f(net, xx, t as never, topK === undefined ? {} : { topK: topK as number });
      const bad: Array<[string, () => Promise<unknown>, ErrorClass, RegExp]> = [];
      for (const k of [0, -1, 1.5, NaN, Infinity, 4]) bad.push([`topK ${k}`, () => call(x, labels, k), RangeError, new RegExp(`^${name}: topK must be an integer in \\[1, (classes|3)\\]`)]);
      for (const k of ['2', null, sym, true]) bad.push([`topK ${String(k)}`, () => call(x, labels, k), TypeError, new RegExp(`^${name}: topK must be an integer`)]);
      bad.push(['labels out of range', () => call(x, [0, 1, 3, 1, 0]), RangeError, new RegExp(`^${name}: label t\\[2\\] = 3 is outside \\[0, 3\\)`)]);
      bad.push(['too few labels', () => call(x, [0, 1]), RangeError, new RegExp(`^${name}: t must hold 5 labels`)]);
      bad.push(['fractional label', () => call(x, [0, 1, 1.5, 1, 0]), RangeError, new RegExp(`^${name}: `)]);
      bad.push(['one-hot with a wrong width', () => call(x, narrow), RangeError, new RegExp(`^${name}: one-hot t must have 3 columns`)]);
      bad.push(['soft rows not summing to 1', () => call(x, halves), RangeError, new RegExp(`^${name}: t\\[0\\] sums to`)]);
      bad.push(['NaN in t', () => call(x, nans), RangeError, new RegExp(`^${name}: t\\[0\\]\\[0\\] is NaN`)]);
      bad.push(['a disposed t', () => call(x, dead), TypeError, new RegExp(`^${name}: t: `)]);
      bad.push(['another runtime\'s t', () => call(x, foreignLabels), Error, new RegExp(`^${name}: t: `)]);
      bad.push(['a disposed x', () => call(dead, labels), TypeError, new RegExp(`^${name}: x: `)]);
      bad.push(['another runtime\'s x', () => call(foreign, labels), Error, new RegExp(`^${name}: x: `)]);
      bad.push(['x of wrong width', () => call(wide, labels), RangeError, new RegExp(`^${name}: x`)]);
      bad.push(['x with 0 rows', () => call(empty, []), RangeError, new RegExp(`^${name}: x has 0 rows`)]);
      bad.push(['t a string', () => call(x, 'abc'), TypeError, new RegExp(`^${name}: t must be a Tensor, an IntTensor or an array of labels`)]);
      bad.push(['t null', () => call(x, null), TypeError, new RegExp(`^${name}: t must be a Tensor`)]);
      for (const [what, run, cls, message] of bad) {
        const before = rt.memoryStats();
        let error: unknown;
        try { await run(); } catch (e) { error = e; }
        expect(error, `${name}: ${what}`).toBeInstanceOf(cls);
        expect((error as Error).message, `${name}: ${what}`).toMatch(message);
        expectClear(error, new RegExp(`^${name}`));
        const after = rt.memoryStats();
        expect({ used: after.used, blocks: after.blocks }, `${name}: ${what}: nothing left allocated`).toEqual({ used: before.used, blocks: before.blocks });
      }
    }
    expect(bits(x)).toEqual(xBits);
    expect(bits(oneHot)).toEqual(tBits);
    expect(canaries.changed()).toBe(0);
    // the topK bounds: classes is taken, classes + 1 not
    expect(classificationMetrics(net, x, labels, { topK: 3 }).topK!.accuracy).toBe(1);
    const before = rt.memoryStats();
    expectRefused(() => classificationMetrics(net, x, labels, { topK: 4 }), RangeError, /^classificationMetrics: topK must be an integer in \[1, 3\] \(the net's classes\), got 4$/);
    expectRefused(() => classificationMetrics(net, x, labels, { topk: 2 } as never), TypeError, /^classificationMetrics: .*topk/);
    expect(rt.memoryStats().used).toBe(before.used);
    canaries.dispose();
    for (const t of [x, labels, oneHot, foreign, foreignLabels, narrow, halves, nans, wide, empty]) t.dispose();
    net.dispose();
  });
});

describe('net.summary(inputShape) and netSummary(spec) fuzzed', () => {
  it('shapes fuzzed: a result or a TypeError/RangeError naming summary: inputShape; never an allocation', () => {
    const nets = [
      new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 }),
      new SimpleConvNet(rt, { inputDim: [1, 8, 8] }),
    ];
    const next = rng(SEED + 1);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)];
    const net0Shapes = [[4]];
    const dims: readonly unknown[] = [0, 1, 2, 3, 4, 8, 9, -1, 1.5, NaN, Infinity, 2 ** 31, 2 ** 53, '4', null, sym, 1n, undefined];
    let taken = 0;
    for (let i = 0; i < 300; i++) {
      const net = pick(nets);
      const shape = next() < 0.1 ? pick([null, 'abc', 4, {}, sym, new Float32Array([4])]) : Array.from({ length: pick([0, 1, 2, 3, 4]) }, () => pick(dims));
      const before = rt.memoryStats();
      try {
        const s = net.summary(shape as number[]);
        expect(s.rows.length, `case ${i}`).toBeGreaterThan(0);
        expect(Number.isSafeInteger(s.total), `case ${i}`).toBe(true);
        taken++;
      } catch (e) {
        expect(e instanceof TypeError || e instanceof RangeError, `case ${i}: ${String(e)}`).toBe(true);
        expect((e as Error).message, `case ${i}`).toMatch(/^summary: inputShape/);
      }
      expect(rt.memoryStats(), `case ${i}`).toEqual(before);
    }
    expect(net0Shapes.map((sh) => nets[0].summary(sh).inputShape)).toEqual(net0Shapes);
    expect(taken, 'some fuzzed shapes are taken').toBeGreaterThan(0);
    for (const n of nets) n.dispose();
  });

  // netSummary's errors name `netSummary: spec` (the constructors' option checks re-prefixed with the option's path)
  it('specs fuzzed: a result or a TypeError/RangeError naming netSummary: spec', () => {
    const next = rng(SEED + 2);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)];
    const values: readonly unknown[] = [0, 1, 3, -1, 1.5, NaN, Infinity, '3', null, sym, [], [3], [1, 8, 8], [[1, 2]], {}, true, 0.1, 2 ** 40];
    const kinds = ['mlp', 'mlp-extend', 'simple-conv', 'deep-conv', 'alexNet', 'nope', null, 3];
    const keys = ['inputSize', 'hiddenSizeList', 'outputSize', 'inputDim', 'convParam', 'convParams', 'hiddenSize', 'numClasses', 'labelSmoothing', 'activation', 'useBatchnorm', 'bogus'];
    const VALID = [
      { kind: 'mlp', options: { inputSize: 4, hiddenSizeList: [3], outputSize: 2, labelSmoothing: 0.1 } },
      { kind: 'mlp-extend', options: { inputSize: 4, hiddenSizeList: [3, 3], outputSize: 2, useBatchnorm: true } },
      { kind: 'simple-conv', options: { inputDim: [1, 8, 8], hiddenSize: 5, outputSize: 3 } },
      { kind: 'deep-conv', options: { outputSize: 4 } },
    ] as const;
    let taken = 0;
    const before = rt.memoryStats();
    for (let i = 0; i < 300; i++) {
      const options: Record<string, unknown> = {};
      for (let j = Math.floor(next() * 4); j > 0; j--) options[pick(keys)] = pick(values);
      // a valid spec with one option fuzzed, a spec of random options, or not a spec
      const valid = pick(VALID);
      const r = next();
      const spec = r < 0.1 ? pick([null, 'x', [], { kind: 'MultiLayerNet' }, { kind: 'MultiLayerNet', options: {}, extra: 1 }])
        : r < 0.55 ? { kind: valid.kind, options: { ...valid.options, ...(next() < 0.8 ? { [pick(Object.keys(valid.options))]: pick(values) } : {}) } }
          : { kind: pick(kinds), options };
      try {
        const s = netSummary(spec as NetSpec);
        expect(s.rows.length, `case ${i}`).toBeGreaterThan(0);
        expect(Number.isSafeInteger(s.total), `case ${i}`).toBe(true);
        taken++;
      } catch (e) {
        expect(e instanceof TypeError || e instanceof RangeError, `case ${i}: ${String(e)}`).toBe(true);
        expect((e as Error).message, `case ${i}: ${JSON.stringify(spec, (_k, v) => (typeof v === 'symbol' || typeof v === 'bigint' ? String(v) : v))}`)
          .toMatch(/^netSummary: spec/);
        expect((e as Error).message).not.toMatch(/Cannot read|is not a function|is not iterable/);
      }
    }
    expect(rt.memoryStats()).toEqual(before);
    expect(taken, 'some fuzzed specs are taken').toBeGreaterThan(20);
  });
});

describe('lrFinder and lrFinderAsync fuzzed options', () => {
  it('bad options: refused naming the option, params, random stream and optimizer lr as they were, nothing allocated', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2 });
    const x = rt.tensor([8, 3], randomArray(24, 4));
    const t = rt.labels([8], [0, 1, 0, 1, 1, 0, 0, 1]);
    const sgd = new SGD({ lr: 0.05 });
    const params = () => Object.values(net.params).map(bits);
    const before = params(), state = rt.randomState;
    const cases: Array<[Record<string, unknown>, ErrorClass, string]> = [
      [{ startLr: 1, endLr: 1 }, RangeError, 'endLr must be a finite number above startLr'],
      [{ startLr: 2, endLr: 1 }, RangeError, 'endLr must be a finite number above startLr'],
      [{ startLr: 0 }, RangeError, 'startLr must be a positive finite number'],
      [{ startLr: -1e-3 }, RangeError, 'startLr must be a positive finite number'],
      [{ startLr: NaN }, RangeError, 'startLr must be a positive finite number'],
      [{ startLr: Infinity }, RangeError, 'startLr must be a positive finite number'],
      [{ startLr: '1e-7' }, TypeError, 'startLr must be a positive finite number'],
      [{ endLr: NaN }, RangeError, 'endLr must be'],
      [{ endLr: Infinity }, RangeError, 'endLr must be'],
      [{ endLr: sym }, TypeError, 'endLr must be'],
      [{ steps: 5 }, RangeError, 'steps must be an integer of at least 6'],
      [{ steps: 6.5 }, RangeError, 'steps must be an integer of at least 6'],
      [{ steps: 0 }, RangeError, 'steps must be'],
      [{ steps: -10 }, RangeError, 'steps must be'],
      [{ steps: NaN }, RangeError, 'steps must be'],
      [{ steps: 2 ** 53 }, RangeError, 'steps must be'],
      [{ steps: '10' }, TypeError, 'steps must be'],
      [{ batchSize: 0 }, RangeError, 'batchSize must be a positive integer'],
      [{ batchSize: 2.5 }, RangeError, 'batchSize must be a positive integer'],
      [{ stopDiv: 'yes' }, TypeError, 'stopDiv'],
      [{ onStep: 3 }, TypeError, 'onStep must be a function'],
      [{ bogus: 1 }, TypeError, 'bogus'],
      [{ stepz: 10 }, TypeError, 'stepz'],
      [{ optimizer: { name: 'NoLr', update() {} } }, TypeError, 'optimizer NoLr has no lr to sweep'],
      [{ optimizer: { name: 'NoState', lr: 0.1, update() {} } }, TypeError, 'optimizer NoState has no state\\(\\) and loadState\\(\\)'],
      [{ optimizer: sgd, optimizerParams: { lr: 1 } }, TypeError, 'optimizerParams configures an optimizer given by name'],
      [{ optimizer: 3 }, TypeError, 'options.optimizer must be an optimizer'],
    ];
    for (const [name, f] of [['lrFinder', lrFinder], ['lrFinderAsync', lrFinderAsync]] as const) {
      for (const [options, cls, message] of cases) {
        const what = `${name} ${JSON.stringify(options, (_k, v) => (typeof v === 'symbol' ? String(v) : v))}`;
        const m0 = rt.memoryStats();
        let error: unknown;
        try { await f(net, x, t, options as never); } catch (e) { error = e; }
        expect(error, what).toBeInstanceOf(cls);
        expect((error as Error).message, what).toMatch(new RegExp(`^${name}: .*${message}`));
        expect(params(), what).toEqual(before);
        expect(rt.randomState, what).toEqual(state);
        expect(sgd.lr, what).toBe(0.05);
        const m1 = rt.memoryStats();
        expect({ used: m1.used, blocks: m1.blocks }, what).toEqual({ used: m0.used, blocks: m0.blocks });
      }
      // bad data: refused naming x or t, nothing changed
      const dead = rt.tensor([8, 3]); dead.dispose();
      for (const [xx, tt, message] of [[dead, t, 'x'], [x, rt.labels([3], [0, 1, 0]), 't'], [x, [0, 1, 5, 0, 1, 0, 1, 0], 't']] as const) {
        let error: unknown;
        try { await f(net, xx, tt as IntTensor, { steps: 6 }); } catch (e) { error = e; }
        expectClear(error, new RegExp(`^${name}: .*\\b${message}\\b`));
        expect(params()).toEqual(before);
        expect(rt.randomState).toEqual(state);
      }
    }
    for (const v of [x, t]) v.dispose();
    net.dispose();
  });
});

describe('Trainer: ema, mixup, clipGradNorm and cycling schedules fuzzed', () => {
  it('bad values refused naming the option, nothing allocated left behind; gradNorm reported with clipGradNorm', () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2 });
    const x = rt.tensor([8, 3], randomArray(24, 6));
    const t = rt.labels([8], [0, 1, 0, 1, 1, 0, 0, 1]);
    const make = (o: Record<string, unknown>) => new Trainer(net, x, t, x, t, { epochs: 1, miniBatchSize: 4, ...o } as never);
    const cls = (v: unknown) => (typeof v === 'number' ? RangeError : TypeError);
    const notPositiveFinite = [...WILD.filter((v) => v !== 1 + 2 ** -52), 0, -0, -1, -Number.MIN_VALUE];
    for (const v of notPositiveFinite) {
      expectRefused(() => make({ clipGradNorm: v }), cls(v), /^Trainer: clipGradNorm must be a positive finite number, got /);
      expectRefused(() => make({ mixup: { alpha: v } }), cls(v), /^Trainer: mixup\.alpha must be a positive finite number/);
    }
    for (const v of [...WILD, -Number.MIN_VALUE, 2]) {
      expectRefused(() => make({ ema: { decay: v } }), cls(v), /^Trainer: ema\.decay must be a number in \[0, 1\]/);
    }
    for (const v of [null, 0.99, 'x', sym]) expectRefused(() => make({ ema: v }), TypeError, /^Trainer: ema must be \{ decay \}/);
    expectRefused(() => make({ ema: { decay: 0.9, momentum: 1 } }), TypeError, /^Trainer: ema: .*momentum/);
    for (const v of [null, 0.2, 'x']) expectRefused(() => make({ mixup: v }), TypeError, /^Trainer: mixup must be \{ alpha \}/);
    expectRefused(() => make({ mixup: { alpha: 0.2, cutmix: 1 } }), TypeError, /^Trainer: mixup.*cutmix/);
    // momentum cycling with SGD (no momentum, no beta1): refused naming the schedule and the optimizer
    for (const schedule of [new OneCycleLR({ maxLr: 0.1, totalSteps: 10 }), new CyclicLR({ baseLr: 0.01, maxLr: 0.1, stepSizeUp: 2 })]) {
      expectRefused(() => make({ lrSchedule: schedule, optimizer: 'sgd' }), TypeError, new RegExp(`^Trainer: lrSchedule ${schedule.name} cycles momentum, and SGD has neither momentum nor beta1`));
      expectRefused(() => make({ lrSchedule: schedule, optimizer: new SGD() }), TypeError, new RegExp(`^Trainer: lrSchedule ${schedule.name} cycles momentum`));
    }
    // OneCycleLR shorter than the run: refused before the first step, nothing left allocated
    expectRefused(() => make({ lrSchedule: new OneCycleLR({ maxLr: 0.1, totalSteps: 1, pctStart: 0.5 }), optimizer: 'momentum' }), RangeError, /OneCycleLR|totalSteps/);
    // gradNorm: present and finite with clipGradNorm, absent without
    const norms: Array<number | undefined> = [];
    const trainer = make({ clipGradNorm: 1, optimizer: new Momentum({ lr: 0.1 }), lrSchedule: new CyclicLR({ baseLr: 0.01, maxLr: 0.1, stepSizeUp: 2 }), callbacks: { onStepEnd: (e: { gradNorm?: number }) => norms.push(e.gradNorm) } });
    trainer.train();
    trainer.dispose();
    expect(norms.length).toBe(2);
    for (const n of norms) expect(Number.isFinite(n) && n! > 0).toBe(true);
    for (const v of [x, t]) v.dispose();
    net.dispose();
  });
});

describe('schedules: constructors fuzzed, lrAt at the ends of k', () => {
  const makers: Array<[string, (o: Record<string, unknown>) => LRSchedule, Record<string, unknown>]> = [
    ['OneCycleLR', (o) => new OneCycleLR(o as never), { maxLr: 0.1, totalSteps: 100 }],
    ['CyclicLR', (o) => new CyclicLR(o as never), { baseLr: 0.01, maxLr: 0.1 }],
    ['CosineAnnealingWarmRestarts', (o) => new CosineAnnealingWarmRestarts(o as never), { t0: 10 }],
    ['ConstantLR', (o) => new ConstantLR(o as never), {}],
    ['PolynomialLR', (o) => new PolynomialLR(o as never), {}],
  ];
  const numeric: Record<string, string[]> = {
    OneCycleLR: ['maxLr', 'totalSteps', 'pctStart', 'baseMomentum', 'maxMomentum', 'divFactor', 'finalDivFactor'],
    CyclicLR: ['baseLr', 'maxLr', 'stepSizeUp', 'stepSizeDown', 'gamma', 'baseMomentum', 'maxMomentum'],
    CosineAnnealingWarmRestarts: ['t0', 'tMult', 'etaMin'],
    ConstantLR: ['factor', 'totalIters'],
    PolynomialLR: ['totalIters', 'power'],
  };
  it.each(makers)('%s: every numeric option fuzzed is refused naming the option', (name, make, base) => {
    for (const key of numeric[name]) {
      for (const v of [NaN, Infinity, -Infinity, -1, '1', null, sym, 1n, {}, 2 ** 53 + 2]) {
        if (v === 2 ** 53 + 2 && !/totalSteps|stepSize|t0|tMult|totalIters/.test(key)) continue;
        let error: unknown;
        try { make({ ...base, [key]: v }); } catch (e) { error = e; }
        expect(error instanceof TypeError || error instanceof RangeError, `${name} ${key} ${String(v)}`).toBe(true);
        expect((error as Error).message, `${name} ${key} ${String(v)}`).toMatch(new RegExp(`^${name}: ${key} must be`));
      }
    }
    for (const o of [null, 3, 'x']) expect(() => make(o as never)).toThrow(new RegExp(`^${name}: options must be an object`));
    expect(() => make({ ...base, bogus: 1 })).toThrow(new RegExp(`^${name}: unknown option 'bogus'`));
    expect(() => make({ ...base, interval: 'batch' })).toThrow(new RegExp(`^${name}: interval must be 'epoch' or 'step'`));
  });

  it.each(makers)('%s: lrAt at k = 2^53 − 1 and past the end is a number or a clear RangeError, never NaN', (name, make, base) => {
    const variants = [base, ...(name === 'CyclicLR' ? [{ ...base, mode: 'triangular2' }, { ...base, mode: 'exp_range', gamma: 0.99 }] : []),
      ...(name === 'CosineAnnealingWarmRestarts' ? [{ t0: 3, tMult: 2 }] : []), ...(name === 'PolynomialLR' ? [{ power: 0.9 }] : [])];
    for (const o of variants) {
      const s = make(o);
      const ks = [0, 1, 99, 100, 101, 2 ** 31, Number.MAX_SAFE_INTEGER, ...(s.periods !== undefined ? [s.periods - 1, s.periods, s.periods + 1] : [])];
      for (const k of ks) {
        const what = `${name} ${JSON.stringify(o)} lrAt(${k})`;
        let lr: number | undefined, error: unknown;
        try { lr = s.lrAt(k, 0.1); } catch (e) { error = e; }
        if (error !== undefined) {
          expect(error, what).toBeInstanceOf(RangeError);
          expect((error as Error).message, what).toMatch(new RegExp(`^${name}: period ${k} is past`));
        } else {
          expect(Number.isFinite(lr), `${what} = ${lr}`).toBe(true);
          expect(lr!, what).toBeGreaterThanOrEqual(0);
        }
        if (s.momentumAt && error === undefined) expect(Number.isFinite(s.momentumAt(k)), `${what} momentum`).toBe(true);
      }
    }
  });

  it.each(makers)('%s: lrAt(k) for k not a period (NaN, −1, 1.5, ±Infinity): a clear RangeError or a number, never NaN silently', (name, make, base) => {
    const s = make(base);
    for (const k of [NaN, -1, 1.5, Infinity, -Infinity]) {
      let lr: number | undefined, error: unknown;
      try { lr = s.lrAt(k, 0.1); } catch (e) { error = e; }
      if (error === undefined) expect(Number.isNaN(lr), `${name}.lrAt(${k}) returned ${lr}`).toBe(false);
      else expect((error as Error).message, `${name}.lrAt(${k})`).toMatch(new RegExp(`^${name}: `));
    }
  });
});

describe('lrFinder: an optimizer name the Trainer refuses', () => {
  it('an unknown optimizer name: refused naming lrFinder and optimizer (it said "createOptimizer: …", naming neither), nothing changed', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2 });
    const x = rt.tensor([8, 3], randomArray(24, 8));
    const t = rt.labels([8], [0, 1, 0, 1, 1, 0, 0, 1]);
    const before = Object.values(net.params).map(bits), state = rt.randomState;
    for (const [name, f] of [['lrFinder', lrFinder], ['lrFinderAsync', lrFinderAsync]] as const) {
      let error: unknown;
      try { await f(net, x, t, { optimizer: 'nope' as never }); } catch (e) { error = e; }
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(new RegExp(`^${name}: optimizer: unknown name 'nope'`));
      expect(Object.values(net.params).map(bits)).toEqual(before);
      expect(rt.randomState).toEqual(state);
      error = undefined;
      try { await f(net, x, t, { optimizer: 'momentum', optimizerParams: { momentum: 2 } }); } catch (e) { error = e; }
      // an optimizerParams value is refused by the optimizer, as the Trainer's are: naming it and the option
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error).message).toMatch(/^Momentum: momentum must be a number in \[0, 1\), got 2$/);
      expect(Object.values(net.params).map(bits)).toEqual(before);
    }
    for (const v of [x, t]) v.dispose();
    net.dispose();
  });
});
