// Label smoothing (SoftmaxWithLoss's and every named net's `labelSmoothing`, PyTorch's and Keras's
// `label_smoothing`): the kernels against their scalar references with canaries around them; the loss and
// its gradient against a float64 reference of the targets t·(1 − ε) + ε/C; labels, one-hot rows and the
// smoothed rows given by hand agreeing bit for bit; ε = 0 the book's loss to the bit; bad values refused
// before anything is allocated; the nets' specs, model files and the search's trial setting.
// (Gradient checks: test/multi-layer-net-extend.test.ts; 2 threads: test/threads.test.ts; the CLI:
// test/cli-train.node.test.ts.)
import { describe, it, expect, beforeAll } from 'vitest';
import type { TestKernels } from '../build/test/kernels-test.js';
import { makeTestRuntime, lengths, randomArray, randomInts, expectClose, expectBits, rng, type TestRuntime } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';
import { SoftmaxWithLoss } from '../src/layers/softmax-with-loss.js';
import { DeepConvNet, MultiLayerNet, MultiLayerNetExtend, Sequential, SimpleConvNet, Affine, alexNet, buildNet, loadModel, saveModel, type NamedNet } from '../src/index.js';
import { checkSpaceSettings, trialNetSpec } from '../src/search/trial.js';
import { crossEntropy as crossEntropy64, softmax as softmax64 } from './reference/book.js';

const f32 = Math.fround;

let rt: TestRuntime;
let k: TestKernels;
beforeAll(async () => {
  rt = await makeTestRuntime();
  k = rt.unsafeKernels;
});

/** Rows of `cols` floats summing to 1: one-hot at `labels`, or soft (positive weights normalised). */
function oneHot(labels: readonly number[], cols: number): Float32Array {
  const t = new Float32Array(labels.length * cols);
  labels.forEach((c, r) => { t[r * cols + c] = 1; });
  return t;
}
function soft(rows: number, cols: number, seed: number): Float32Array {
  const next = rng(seed), t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += t[r * cols + j] = next();
    for (let j = 0; j < cols; j++) t[r * cols + j] /= s;
  }
  return t;
}

/** The smoothed targets in float64, as PyTorch and Keras define them: t·(1 − ε) + ε/C. */
function smoothed64(t: ArrayLike<number>, cols: number, e: number): Float64Array {
  return Float64Array.from(t, (v) => v * (1 - e) + e / cols);
}

describe('smoothTargets and smoothLabels (assembly/softmax.ts)', () => {
  it('match their scalar references bit for bit at every length (the vector body and every tail), writing nothing outside', () => {
    for (const e of [0.1, 0.3, 1]) {
      for (const n of lengths) {
        const cols = [1, 2, 3, 10, 17][n % 5], rows = Math.floor(n / cols);
        const size = rows * cols;
        const keep = f32(1 - e), off = f32(e / Math.max(cols, 1));
        const canaries = new Canaries(rt, n);
        const t = rt.tensor([Math.max(size, 1)], soft(1, Math.max(size, 1), n + 1));
        const out = between(canaries, () => rt.tensor([Math.max(size, 1)]));
        const ref = rt.tensor([Math.max(size, 1)]);
        k.smoothTargets(out.ptr, t.ptr, size, keep, off);
        k.smoothTargetsRef(ref.ptr, t.ptr, size, keep, off);
        expectBits(out.data.subarray(0, size), ref.data.subarray(0, size), `smoothTargets ε ${e}, n ${size}`);
        // the reference itself: t·keep + off in float32
        const want = Array.from(t.data.subarray(0, size), (v) => f32(f32(v * keep) + off));
        expectBits(ref.data.subarray(0, size), new Float32Array(want), 'the reference');
        const labels = rt.labels([Math.max(rows, 1)], randomInts(Math.max(rows, 1), n + 2, cols));
        k.smoothLabels(out.ptr, labels.ptr, rows, cols, keep, off);
        k.smoothLabelsRef(ref.ptr, labels.ptr, rows, cols, keep, off);
        expectBits(out.data.subarray(0, size), ref.data.subarray(0, size), `smoothLabels ε ${e}, ${rows}×${cols}`);
        expect(canaries.changed(), `canaries, ε ${e}, n ${size}`).toBe(0);
        // and smoothLabels' reference: off, and keep + off at each row's label
        const hot = Array.from({ length: size }, (_, i) => f32((i % cols === labels.data[Math.floor(i / cols)] ? keep : 0) + off));
        expectBits(ref.data.subarray(0, size), new Float32Array(hot), 'the labels\' reference');
        for (const tensor of [t, out, ref, labels]) tensor.dispose();
        canaries.dispose();
      }
    }
  });

  it('crossEntropyOfSoftmaxDense gives the loss softmaxCrossEntropyForwardDense returns, bit for bit', () => {
    for (const cols of [1, 3, 10, 17]) {
      const rows = 13;
      const x = rt.tensor([rows, cols], randomArray(rows * cols, cols, -8, 8));
      const t = rt.tensor([rows, cols], soft(rows, cols, cols));
      const y = rt.tensor([rows, cols]);
      const loss = k.softmaxCrossEntropyForwardDense(y.ptr, x.ptr, t.ptr, rows, cols);
      expect(k.crossEntropyOfSoftmaxDense(y.ptr, t.ptr, rows, cols), `${cols} classes`).toBe(loss);
      for (const tensor of [x, t, y]) tensor.dispose();
    }
  });
});

describe('SoftmaxWithLoss({ labelSmoothing })', () => {
  const ROWS = 9;
  // f32 softmax within ~1e-6 relative of float64 and keep, off rounded to f32 (6e-8 relative): the loss,
  // a sum of -t'·log(y + 1e-7), within 1e-6 relative; the gradient (y − t')/N within 2e-7 absolute
  const LOSS_TOL = { rtol: 1e-6, atol: 1e-6 };
  const DX_TOL = { rtol: 1e-6, atol: 2e-7 };

  it('loss and gradient are the float64 reference of the targets t·(1 − ε) + ε/C, for labels, one-hot and soft rows', () => {
    for (const e of [0.05, 0.1, 0.3, 1]) {
      for (const cols of [2, 3, 10, 17]) {
        const xs = randomArray(ROWS * cols, cols * 7, -6, 6);
        const labels = Array.from({ length: ROWS }, (_, r) => (r * 5 + 1) % cols);
        const y64 = softmax64(xs, ROWS, cols);
        for (const kind of ['labels', 'one-hot', 'soft'] as const) {
          const rows = kind === 'soft' ? soft(ROWS, cols, cols) : oneHot(labels, cols);
          const t64 = smoothed64(rows, cols, e);
          const loss64 = crossEntropy64(y64, t64, ROWS, cols);
          const layer = new SoftmaxWithLoss({ labelSmoothing: e });
          const x = rt.tensor([ROWS, cols], xs);
          const t = kind === 'labels' ? labels : rt.tensor([ROWS, cols], rows);
          const loss = layer.forward(x, t);
          const what = `ε ${e}, ${cols} classes, ${kind}`;
          expectClose([loss], [loss64], LOSS_TOL, `${what}: loss`);
          expectClose(layer.backward().data, Float64Array.from(y64, (v, i) => (v - t64[i]) / ROWS), DX_TOL, `${what}: dx`);
          layer.dispose();
          x.dispose();
          if (kind !== 'labels') (t as { dispose(): void }).dispose();
        }
      }
    }
  });

  it('labels as an array, an IntTensor or one-hot rows, and the smoothed rows given to an unsmoothed layer, give the same bits', () => {
    const cols = 10, e = 0.1;
    const labels = Array.from({ length: ROWS }, (_, r) => (r * 3) % cols);
    const xs = randomArray(ROWS * cols, 4, -5, 5);
    const run = (layer: SoftmaxWithLoss, t: Parameters<SoftmaxWithLoss['forward']>[1]) => {
      const x = rt.tensor([ROWS, cols], xs);
      const loss = layer.forward(x, t);
      const out = { loss, y: layer.y!.toArray(), dx: layer.backward(0.5).toArray() };
      layer.dispose();
      x.dispose();
      return out;
    };
    const keep = f32(1 - e), off = f32(e / cols);
    const byHand = (rows: Float32Array) => rt.tensor([ROWS, cols], Array.from(rows, (v) => f32(f32(v * keep) + off)));
    const want = run(new SoftmaxWithLoss({ labelSmoothing: e }), labels);
    const hot = rt.tensor([ROWS, cols], oneHot(labels, cols)), ints = rt.labels([ROWS], labels);
    for (const [what, got] of [
      ['an IntTensor', run(new SoftmaxWithLoss({ labelSmoothing: e }), ints)],
      ['one-hot rows', run(new SoftmaxWithLoss({ labelSmoothing: e }), hot)],
      ['smoothed one-hot rows, unsmoothed layer', run(new SoftmaxWithLoss(), byHand(oneHot(labels, cols)))],
    ] as const) {
      expect(got.loss, `${what}: loss`).toBe(want.loss);
      expectBits(got.y, want.y, `${what}: y`);
      expectBits(got.dx, want.dx, `${what}: dx`);
    }
    // soft rows: smoothing them in the layer is smoothing them by hand
    const s = soft(ROWS, cols, 3);
    const a = run(new SoftmaxWithLoss({ labelSmoothing: 0.25 }), rt.tensor([ROWS, cols], s));
    const keep4 = f32(0.75), off4 = f32(0.025);
    const b = run(new SoftmaxWithLoss(), rt.tensor([ROWS, cols], Array.from(s, (v) => f32(f32(v * keep4) + off4))));
    expect(a.loss).toBe(b.loss);
    expectBits(a.dx, b.dx, 'soft rows: dx');
    // the loss is larger than the unsmoothed one on confident rows (the point of smoothing: it penalises confidence)
    const confident = (layer: SoftmaxWithLoss) => run(layer, labels.map((c) => c)).loss;
    expect(confident(new SoftmaxWithLoss({ labelSmoothing: e }))).not.toBe(confident(new SoftmaxWithLoss()));
    hot.dispose();
    ints.dispose();
  });

  it('ε = 0 is the book\'s loss, bit for bit, and a layer\'s own last y may be its soft targets (distillation)', () => {
    const cols = 10;
    const xs = randomArray(ROWS * cols, 8, -5, 5);
    const labels = Array.from({ length: ROWS }, (_, r) => r % cols);
    for (const t of [labels, soft(ROWS, cols, 2)]) {
      const losses = [new SoftmaxWithLoss(), new SoftmaxWithLoss({ labelSmoothing: 0 }), new SoftmaxWithLoss({})].map((layer) => {
        const x = rt.tensor([ROWS, cols], xs);
        const tt = t instanceof Float32Array ? rt.tensor([ROWS, cols], t) : t;
        const out = { loss: layer.forward(x, tt), dx: layer.backward().toArray() };
        layer.dispose();
        return out;
      });
      for (const got of losses.slice(1)) {
        expect(got.loss).toBe(losses[0].loss);
        expectBits(got.dx, losses[0].dx, 'dx');
      }
    }
    // the smoothed copy is made before y is written: y as targets gives what a copy of y gives
    const layer = new SoftmaxWithLoss({ labelSmoothing: 0.2 }), twin = new SoftmaxWithLoss({ labelSmoothing: 0.2 });
    const x = rt.tensor([ROWS, cols], xs), x2 = rt.tensor([ROWS, cols], randomArray(ROWS * cols, 9, -5, 5));
    layer.forward(x, labels);
    const copy = rt.tensor([ROWS, cols], layer.y!.toArray());
    twin.forward(x, labels);
    const viaSelf = layer.forward(x2, layer.y!), viaCopy = twin.forward(x2, copy);
    expect(viaSelf).toBe(viaCopy);
    expectBits(layer.backward().toArray(), twin.backward().toArray(), 'dx');
    layer.dispose(); twin.dispose(); copy.dispose();
  });

  it('refuses a labelSmoothing that is not a number in [0, 1], or an unknown option, naming it', () => {
    for (const v of [-0.1, 1.5, NaN, Infinity]) {
      expect(() => new SoftmaxWithLoss({ labelSmoothing: v })).toThrow(new RangeError(`SoftmaxWithLoss: labelSmoothing must be a number in [0, 1], got ${v}`));
    }
    expect(() => new SoftmaxWithLoss({ labelSmoothing: '0.1' as unknown as number })).toThrow(TypeError);
    expect(() => new SoftmaxWithLoss({ labelSmoothing: null as unknown as number })).toThrow(/^SoftmaxWithLoss: labelSmoothing must be a number in \[0, 1\], got null$/);
    expect(() => new SoftmaxWithLoss({ labelSmoothing: '0.1' as unknown as number })).toThrow(/^SoftmaxWithLoss: labelSmoothing must be a number in \[0, 1\], got /);
    expect(() => new SoftmaxWithLoss({ smoothing: 0.1 } as object)).toThrow(TypeError);
    expect(() => new SoftmaxWithLoss({ smoothing: 0.1 } as object)).toThrow(/smoothing/);
  });
});

describe('nets: labelSmoothing', () => {
  const named = (): Array<[string, () => NamedNet]> => [
    ['MultiLayerNet', () => new MultiLayerNet(rt, { inputSize: 12, hiddenSizeList: [8], outputSize: 5, labelSmoothing: 0.1 })],
    ['MultiLayerNetExtend', () => new MultiLayerNetExtend(rt, { inputSize: 12, hiddenSizeList: [8], outputSize: 5, useBatchnorm: true, labelSmoothing: 0.1 })],
    ['SimpleConvNet', () => new SimpleConvNet(rt, { inputDim: [1, 6, 6], convParam: { filterNum: 2, filterSize: 3, pad: 0, stride: 1 }, hiddenSize: 4, outputSize: 5, labelSmoothing: 0.1 })],
    ['DeepConvNet', () => new DeepConvNet(rt, { inputDim: [1, 8, 8], hiddenSize: 4, outputSize: 5, labelSmoothing: 0.1 })],
  ];

  it('each named net smooths its loss, records ε in its spec, and a model file brings it back (the loaded net\'s loss to the bit)', () => {
    for (const [name, make] of named()) {
      rt.reseed(3);
      const net = make();
      expect(net.lastLayer.labelSmoothing, name).toBe(0.1);
      expect(net.spec.options, name).toMatchObject({ labelSmoothing: 0.1 });
      const shape = 'inputDim' in net ? [4, ...(net.inputDim as number[])] : [4, 12];
      const x = rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b), 5, -1, 1));
      const t = [0, 1, 2, 4];
      const loss = net.loss(x, t);
      // the same net unsmoothed (same seed, same weights) has another loss
      rt.reseed(3);
      const plain = buildNet(rt, { kind: net.spec.kind, options: { ...net.spec.options, labelSmoothing: 0 } } as NamedNet['spec']);
      expect(plain.loss(x, t), name).not.toBe(loss);
      plain.dispose();
      const loaded = loadModel(rt, saveModel(net)).net;
      expect(loaded.lastLayer.labelSmoothing, name).toBe(0.1);
      expect(loaded.loss(x, t), name).toBe(loss);
      loaded.dispose();
      net.dispose();
      x.dispose();
    }
    // a Sequential of the caller's layers takes it as an option too
    const W = rt.tensor([3, 2], [1, -1, 0.5, 0.25, -2, 1]), b = rt.tensor([2]);
    const seq = new Sequential(rt, [new Affine(W, b)], { labelSmoothing: 0.3 });
    expect(seq.lastLayer.labelSmoothing).toBe(0.3);
    seq.dispose(); W.dispose(); b.dispose();
  });

  it('refuses a bad labelSmoothing naming the net, before any memory is taken', () => {
    const cases: Array<[string, () => unknown]> = [
      ['MultiLayerNet', () => new MultiLayerNet(rt, { inputSize: 12, hiddenSizeList: [8], outputSize: 5, labelSmoothing: 2 })],
      ['MultiLayerNetExtend', () => new MultiLayerNetExtend(rt, { inputSize: 12, hiddenSizeList: [8], outputSize: 5, labelSmoothing: 2 })],
      ['SimpleConvNet', () => new SimpleConvNet(rt, { labelSmoothing: 2 })],
      ['DeepConvNet', () => new DeepConvNet(rt, { labelSmoothing: 2 })],
      ['alexNet', () => alexNet(rt, { labelSmoothing: 2 })],
      ['Sequential', () => new Sequential(rt, [], { labelSmoothing: 2 })],
    ];
    for (const [who, make] of cases) {
      const before = rt.memoryStats();
      expect(make, who).toThrow(new RangeError(`${who}: labelSmoothing must be a number in [0, 1], got 2`));
      expect(rt.memoryStats(), `${who}: memory`).toEqual(before);
    }
    expect(() => new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [], outputSize: 2, labelSmoothing: null as unknown as number })).toThrow(TypeError);
  });

  it('a search trial\'s labelSmoothing is its net\'s; a space may draw it; 0 leaves the spec as it always was', () => {
    expect(trialNetSpec({ lr: 0.1, labelSmoothing: 0.1 }, 4, 3).options).toMatchObject({ labelSmoothing: 0.1 });
    expect(trialNetSpec({ lr: 0.1, labelSmoothing: 0.1, dropout: 0.2 }, 4, 3)).toMatchObject({ kind: 'mlp-extend', options: { labelSmoothing: 0.1 } });
    expect(trialNetSpec({ lr: 0.1, labelSmoothing: 0 }, 4, 3).options).not.toHaveProperty('labelSmoothing');
    expect(trialNetSpec({ lr: 0.1 }, 4, 3).options).not.toHaveProperty('labelSmoothing');
    expect(() => checkSpaceSettings({ lr: 0.1, labelSmoothing: { kind: 'uniform', low: 0, high: 0.2 } } as never)).not.toThrow();
    expect(() => checkSpaceSettings({ lr: 0.1, labelSmoothing: 3 } as never)).toThrow(new RangeError('settings.labelSmoothing: expected a number in [0, 1], got 3'));
  });
});
