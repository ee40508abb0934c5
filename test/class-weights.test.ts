// Class weights (SoftmaxWithLoss's and every named net's `classWeights`; PyTorch's CrossEntropyLoss(weight),
// Keras's class_weight): the loss and its gradient against float64 references written from PyTorch's formulas,
// for labels, one-hot and soft rows, with and without label smoothing; the gradient formula against a float64
// numerical gradient of that reference, and a net's gradient against its numericalGradient; weights all 1 and
// the unweighted loss; a batch of labels that all weigh 0 a loss and gradient of 0, and evaluate() over chunks of them; the nets'
// specs, model files and summaries; 2 threads (the row chain's fallback); a Trainer's evaluations (net.evaluate's
// losses, sets of weightless labels refused when it is made, unweighted records' bits kept); bad values refused
// naming them, with canaries around the loss's buffers. (The CLI flag: test/cli-class-weights.node.test.ts.)
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { makeRuntime, randomArray, expectClose, expectBits, rng } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';
import { expectRefused } from './helpers/refused.js';
import { gradError } from './reference/gradcheck.js';
import { softmax as softmax64 } from './reference/book.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { IntTensor, Tensor } from '../src/runtime/tensor.js';
import { SoftmaxWithLoss } from '../src/layers/softmax-with-loss.js';
import {
  Affine, DeepConvNet, MultiLayerNet, MultiLayerNetExtend, Relu, SGD, Sequential, SimpleConvNet, Trainer, alexNet, buildNet, loadModel, netSummary, saveModel,
  type EpochRecord, type NamedNet, type TrainerBaseOptions,
} from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 4 }); });
afterAll(() => rt.dispose());

type Target = { labels: readonly number[] } | { rows: ArrayLike<number> };

/**
 * The targets t' as rows: one-hot rows of the labels, or the rows given, smoothed by ε as PyTorch does,
 * t·(1 − ε) + ε/C (cross_entropy_loss_prob_target; for labels the same weights come out of
 * cross_entropy_loss_label_smoothing's (1 − ε)·nll + ε/C·smooth_loss, see torchLoss).
 */
function smoothedRows(target: Target, N: number, C: number, eps: number): Float64Array {
  const t = new Float64Array(N * C);
  if ('labels' in target) target.labels.forEach((c, r) => { t[r * C + c] = 1; });
  else t.set(Float64Array.from(target.rows));
  return t.map((v) => v * (1 - eps) + eps / C);
}

/**
 * PyTorch's F.cross_entropy(x, target, weight=w, label_smoothing=ε) with reduction 'mean', in float64, transcribed from
 * aten/src/ATen/native/LossNLL.cpp (pytorch/pytorch@0321fa774888a7c86501b3cb31ed6b4fc1010230):
 * - class-index targets (labels), cross_entropy_loss_label_smoothing: nll = nll_loss's mean, Σᵢ w[tᵢ]·(−log p[i][tᵢ]) / Σᵢ w[tᵢ];
 *   smooth_loss = −Σ_c w_c·log p[i][c] per row, summed and divided by the same Σᵢ w[tᵢ] ("normalized by the weights to be
 *   consistent with nll_loss_nd"); the loss is (1 − ε)·nll + ret·(ε / C). (ε = 0: nll_loss_nd alone, the same.)
 * - probability targets (rows), cross_entropy_loss_prob_target: target = t·(1 − ε) + ε/C, then
 *   −(input · target · weight).sum() / (input.numel() / n_classes): divided by the rows N, not by the weights.
 * log p is log(softmax(x) + delta): delta 1e-7 is the book's cross_entropy_error (the loss simdnn reports); 0 is log_softmax.
 */
function torchLoss(x: ArrayLike<number>, N: number, C: number, w: readonly number[], target: Target, eps: number, delta: number): number {
  const p = softmax64(x, N, C);
  const logp = (i: number, c: number) => Math.log(p[i * C + c] + delta);
  if ('labels' in target) {
    let nll = 0, smooth = 0, weightSum = 0;
    target.labels.forEach((label, i) => {
      nll -= w[label] * logp(i, label);
      weightSum += w[label];
      for (let c = 0; c < C; c++) smooth -= w[c] * logp(i, c);
    });
    // labels that all weigh 0: PyTorch's 0/0 (NaN); ours is Keras's 0, nothing to learn from
    if (weightSum === 0) return 0;
    return (1 - eps) * (nll / weightSum) + (smooth / weightSum) * (eps / C);
  }
  const t = smoothedRows(target, N, C, eps);
  let sum = 0;
  for (let i = 0; i < N; i++) for (let c = 0; c < C; c++) sum -= logp(i, c) * t[i * C + c] * w[c];
  return sum / N;
}

/**
 * The gradient of torchLoss (delta 0) with respect to x, · dout: with u = w_c·t'_ic (t' = smoothedRows; for labels
 * torchLoss is Σᵢ Σ_c u_ic·(−log p_ic) / Σᵢ w[tᵢ], its two terms folded) and d(−log p_ic)/dx_ij = p_ij − [c = j],
 * dL/dx_ij = (aᵢ·p_ij − u_ij) / D, aᵢ = Σ_c u_ic, D = Σᵢ w[tᵢ] for labels and N for rows.
 */
function torchGradient(x: ArrayLike<number>, N: number, C: number, w: readonly number[], target: Target, eps: number, dout: number): Float64Array {
  const p = softmax64(x, N, C), t = smoothedRows(target, N, C, eps);
  const D = 'labels' in target ? target.labels.reduce((s, c) => s + w[c], 0) : N;
  const dx = new Float64Array(N * C);
  if (D === 0) return dx; // labels that all weigh 0: a loss of 0 (torchLoss)
  for (let i = 0; i < N; i++) {
    let a = 0;
    for (let c = 0; c < C; c++) a += w[c] * t[i * C + c];
    for (let j = 0; j < C; j++) dx[i * C + j] = ((a * p[i * C + j] - w[j] * t[i * C + j]) / D) * dout;
  }
  return dx;
}

/** Rows of `cols` positive values summing to 1 (a teacher's soft targets). */
function softRows(rows: number, cols: number, seed: number): Float32Array {
  const next = rng(seed), t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += t[r * cols + j] = next() + 0.05;
    for (let j = 0; j < cols; j++) t[r * cols + j] /= s;
  }
  return t;
}
function oneHotRows(labels: readonly number[], cols: number): Float32Array {
  const t = new Float32Array(labels.length * cols);
  labels.forEach((c, r) => { t[r * cols + c] = 1; });
  return t;
}
/** Weights in [0.25, 2.75], every fourth class (from the second) 0. */
function someWeights(cols: number, seed: number): number[] {
  const next = rng(seed);
  return Array.from({ length: cols }, (_, c) => (c % 4 === 1 ? 0 : Math.fround(0.25 + 2.5 * next())));
}

type Kind = 'labels' | 'one-hot' | 'soft';
const ROWS = 9;

/** The layer's loss, y and gradient (dout given) on x for targets of `kind`. */
function runLayer(layer: SoftmaxWithLoss, xs: Float32Array, cols: number, kind: Kind | 'ints', labels: readonly number[], soft: Float32Array, dout = 1) {
  const x = rt.tensor([ROWS, cols], xs);
  const t = kind === 'labels' ? labels : kind === 'ints' ? rt.labels([ROWS], labels) : rt.tensor([ROWS, cols], kind === 'soft' ? soft : oneHotRows(labels, cols));
  const loss = layer.forward(x, t);
  const out = { loss, y: layer.y!.toArray(), dx: layer.backward(dout).toArray() };
  layer.dispose();
  x.dispose();
  if (t instanceof Tensor || t instanceof IntTensor) t.dispose();
  return out;
}

describe('SoftmaxWithLoss({ classWeights }): PyTorch\'s weighted cross-entropy', () => {
  // The loss: an f32 softmax and log summed in f64, weights exact in f32, u = w·t' rounded once: within
  // 5e-7 relative + 1e-7 (measured worst 0.19 of that). The gradient (aᵢ·y − u)·dout/D: y's rounding times
  // aᵢ ≤ 2.75 over D, then aᵢ·y, its difference with u and the scaling each rounded once: within 1e-6
  // relative + 5e-8 absolute (measured worst 0.14 of that).
  const LOSS_TOL = { rtol: 5e-7, atol: 1e-7 };
  const DX_TOL = { rtol: 1e-6, atol: 5e-8 };

  it('loss and gradient are PyTorch\'s, in float64, for labels, one-hot and soft rows, with and without label smoothing', () => {
    for (const eps of [0, 0.1, 1]) {
      for (const cols of [2, 3, 10, 17]) {
        const xs = randomArray(ROWS * cols, cols * 7 + 1, -6, 6);
        const w = someWeights(cols, cols);
        const labels = Array.from({ length: ROWS }, (_, r) => (r * 5 + 2) % cols);
        const soft = softRows(ROWS, cols, cols + 3);
        for (const kind of ['labels', 'one-hot', 'soft'] as const) {
          const target: Target = kind === 'labels' ? { labels } : { rows: kind === 'soft' ? soft : oneHotRows(labels, cols) };
          const what = `ε ${eps}, ${cols} classes, ${kind}`;
          const got = runLayer(new SoftmaxWithLoss({ classWeights: w, labelSmoothing: eps }), xs, cols, kind, labels, soft, 0.5);
          expectClose([got.loss], [torchLoss(xs, ROWS, cols, w, target, eps, 1e-7)], LOSS_TOL, `${what}: loss`);
          expectClose(got.dx, torchGradient(xs, ROWS, cols, w, target, eps, 0.5), DX_TOL, `${what}: dx`);
          expectClose(got.y, softmax64(xs, ROWS, cols), { rtol: 1e-5, atol: 1e-7 }, `${what}: y`);
        }
      }
    }
  });

  it('the gradient formula is the derivative of PyTorch\'s loss: a float64 numerical gradient agrees', () => {
    // central differences in float64, h = 1e-5: truncation O(h²)·L''' ~1e-10, rounding ~1e-16/h ~1e-11
    const h = 1e-5;
    for (const eps of [0, 0.2]) {
      for (const cols of [3, 6]) {
        const x = Array.from(randomArray(ROWS * cols, cols + 40, -3, 3));
        const w = someWeights(cols, cols + 1);
        const labels = Array.from({ length: ROWS }, (_, r) => (r * 2) % cols);
        for (const target of [{ labels }, { rows: softRows(ROWS, cols, 5) }, { rows: oneHotRows(labels, cols) }] as Target[]) {
          const numeric = x.map((v, i) => {
            const at = (d: number) => torchLoss(x.map((u, j) => (j === i ? v + d : u)), ROWS, cols, w, target, eps, 0);
            return (at(h) - at(-h)) / (2 * h);
          });
          expectClose(torchGradient(x, ROWS, cols, w, target, eps, 1), numeric, { rtol: 1e-6, atol: 1e-9 }, `ε ${eps}, ${cols} classes, ${'labels' in target ? 'labels' : 'rows'}`);
        }
      }
    }
  });

  it('weights all 1 are the unweighted loss: to the bit for labels and one-hot rows, within float32 rounding of Σ t\' when smoothed or soft', () => {
    const cols = 10;
    const xs = randomArray(ROWS * cols, 8, -5, 5);
    const labels = Array.from({ length: ROWS }, (_, r) => (r * 3) % cols);
    const soft = softRows(ROWS, cols, 2);
    const ones = new Array<number>(cols).fill(1);
    for (const kind of ['labels', 'ints', 'one-hot'] as const) {
      const want = runLayer(new SoftmaxWithLoss(), xs, cols, kind, labels, soft, 0.5);
      for (const classWeights of [ones, Float32Array.from(ones), Float64Array.from(ones)]) {
        const got = runLayer(new SoftmaxWithLoss({ classWeights }), xs, cols, kind, labels, soft, 0.5);
        const what = `${kind}, ${classWeights.constructor.name}`;
        expect(got.loss, `${what}: loss`).toBe(want.loss);
        expectBits(got.y, want.y, `${what}: y`);
        expectBits(got.dx, want.dx, `${what}: dx`);
      }
    }
    // smoothed or soft: aᵢ = Σ_c t'_ic is 1 within float32 rounding, so the gradient (aᵢ·y − t')/N within a few ulps
    for (const [kind, eps] of [['labels', 0.1], ['soft', 0], ['soft', 0.2]] as const) {
      const want = runLayer(new SoftmaxWithLoss({ labelSmoothing: eps }), xs, cols, kind, labels, soft);
      const got = runLayer(new SoftmaxWithLoss({ labelSmoothing: eps, classWeights: ones }), xs, cols, kind, labels, soft);
      expect(got.loss, `${kind}, ε ${eps}: loss`).toBe(want.loss);
      expectClose(got.dx, want.dx, { rtol: 1e-6, atol: 1e-8 }, `${kind}, ε ${eps}: dx`);
    }
  });

  it('labels as an array or an IntTensor give the same bits; one-hot rows are divided by the rows, labels by their weights (PyTorch\'s two reductions)', () => {
    const cols = 5;
    const xs = randomArray(ROWS * cols, 3, -4, 4);
    const w = [0.5, 2, 0, 1.25, 3];
    const labels = [0, 1, 3, 4, 4, 1, 0, 2, 1];
    const weightSum = labels.reduce((s, c) => s + w[c], 0);
    for (const eps of [0, 0.1]) {
      const array = runLayer(new SoftmaxWithLoss({ classWeights: w, labelSmoothing: eps }), xs, cols, 'labels', labels, new Float32Array(0));
      const ints = runLayer(new SoftmaxWithLoss({ classWeights: w, labelSmoothing: eps }), xs, cols, 'ints', labels, new Float32Array(0));
      expect(ints.loss).toBe(array.loss);
      expectBits(ints.dx, array.dx, `ε ${eps}: dx`);
      const rows = runLayer(new SoftmaxWithLoss({ classWeights: w, labelSmoothing: eps }), xs, cols, 'one-hot', labels, new Float32Array(0));
      expectClose([rows.loss * ROWS], [array.loss * weightSum], { rtol: 1e-6 }, `ε ${eps}: loss·N = loss·Σw`);
      expectClose(Array.from(rows.dx, (v) => v * ROWS), Array.from(array.dx, (v) => v * weightSum), { rtol: 1e-5, atol: 1e-7 }, `ε ${eps}: dx·N = dx·Σw`);
    }
  });

  it('a layer\'s own last y may be its soft targets (distillation): what a copy of y gives', () => {
    const cols = 6, w = [1, 0.5, 2, 0, 1, 3];
    const xs = randomArray(ROWS * cols, 12, -5, 5), xs2 = randomArray(ROWS * cols, 13, -5, 5);
    const labels = Array.from({ length: ROWS }, (_, r) => r % cols);
    const layer = new SoftmaxWithLoss({ classWeights: w }), twin = new SoftmaxWithLoss({ classWeights: w });
    const x = rt.tensor([ROWS, cols], xs), x2 = rt.tensor([ROWS, cols], xs2);
    layer.forward(x, labels);
    twin.forward(x, labels);
    const copy = rt.tensor([ROWS, cols], layer.y!.toArray());
    expect(layer.forward(x2, layer.y!)).toBe(twin.forward(x2, copy));
    expectBits(layer.backward().toArray(), twin.backward().toArray(), 'dx');
    layer.dispose(); twin.dispose(); copy.dispose(); x.dispose(); x2.dispose();
  });
});

describe('classWeights: labels that all weigh 0', () => {
  it('a batch of labels that all weigh 0 has a loss and gradient of 0 (Keras\'s figure, where PyTorch\'s 0/0 is NaN), as do target rows that weigh 0', () => {
    const w = [0, 1, 2];
    const layer = new SoftmaxWithLoss({ classWeights: w });
    const canaries = new Canaries(rt, 3);
    const x = between(canaries, () => rt.tensor([4, 3], randomArray(12, 1, -2, 2)));
    const xBits = x.toArray();
    // a weighted batch first, so the zeros below are written over its gradient, not left from nothing
    expect(layer.forward(x, [1, 0, 2, 0])).toBeGreaterThan(0);
    expect(Array.from(layer.backward(2).data).some((v) => v !== 0)).toBe(true);
    const ints = between(canaries, () => rt.labels([4], [0, 0, 0, 0]));
    for (const t of [[0, 0, 0, 0], ints]) {
      expect(layer.forward(x, t)).toBe(0);
      expect(layer.loss).toBe(0);
      expect(Array.from(layer.backward(2).data)).toEqual(new Array(12).fill(0));
    }
    // y is the batch's softmax all the same
    const e = xBits.map(Math.exp);
    for (let i = 0; i < 4; i++) {
      const sum = e[3 * i] + e[3 * i + 1] + e[3 * i + 2];
      expectClose(layer.y!.toArray().slice(3 * i, 3 * i + 3), [e[3 * i] / sum, e[3 * i + 1] / sum, e[3 * i + 2] / sum], { rtol: 1e-6 }, `y row ${i}`);
    }
    expectBits(x.toArray(), xBits, 'x');
    expect(canaries.changed()).toBe(0);
    // as rows (divided by the rows): every target on class 0, weight 0, is a loss of 0 and a gradient of 0
    const hot = rt.tensor([4, 3], oneHotRows([0, 0, 0, 0], 3));
    expect(layer.forward(x, hot)).toBe(0);
    expect(Array.from(layer.backward().data).every((v) => v === 0)).toBe(true);
    layer.dispose(); x.dispose(); ints.dispose(); hot.dispose(); canaries.dispose();
  });

  it('a Trainer whose random batches may all be of a class weighing 0 runs to its end, those steps with a loss of 0', () => {
    const W = rt.tensor([4, 3], randomArray(12, 7, -1, 1)), b = rt.tensor([3]);
    const net = new Sequential(rt, [new Affine(W, b)], { classWeights: [1, 0, 0] });
    const N = 40;
    const x = rt.tensor([N, 4], randomArray(N * 4, 8, -2, 2));
    const labels = rt.labels([N], Array.from({ length: N }, (_, i) => (i % 8 === 0 ? 0 : 1 + (i % 2)))); // 1 in 8 of weight 1
    const trainer = new Trainer(net, x, labels, x, labels, { epochs: 3, miniBatchSize: 2, optimizer: 'sgd', optimizerParams: { lr: 0.1 } });
    const result = trainer.train();
    expect(result.epochs).toHaveLength(3);
    expect(result.trainLossList).toHaveLength(60);
    expect(result.trainLossList.some((l) => l === 0), 'some batches hold no label of weight 1').toBe(true);
    expect(result.trainLossList.every((l) => Number.isFinite(l))).toBe(true);
    trainer.dispose(); net.dispose(); x.dispose(); labels.dispose(); W.dispose(); b.dispose();
  });

  it('evaluate() and evaluateAsync() divide a set by Σ w[tᵢ] over all its chunks, a chunk of weightless labels among them; a weightless set is refused', async () => {
    const W = rt.tensor([4, 3], randomArray(12, 5, -1, 1)), b = rt.tensor([3], [0.1, -0.2, 0.3]);
    const w = [0, 1, 2.5];
    const net = new Sequential(rt, [new Affine(W, b)], { classWeights: w, evalBatchSize: 4 });
    const N = 10;
    const x = rt.tensor([N, 4], randomArray(N * 4, 6, -2, 2));
    const labels = [0, 0, 0, 0, 1, 2, 0, 1, 2, 2]; // the first chunk of 4 weighs 0
    const scores = net.predict(x);
    const want = torchLoss(scores.toArray(), N, 3, w, { labels }, 0, 1e-7);
    scores.dispose();
    const { loss } = net.evaluate(x, labels);
    expectClose([loss], [want], { rtol: 1e-6 }, 'evaluate');
    expect((await net.evaluateAsync(x, labels)).loss).toBe(loss);
    // the one-chunk loss is the same mean
    expectClose([net.loss(x, labels)], [want], { rtol: 1e-6 }, 'loss');
    const zero = new Array<number>(N).fill(0);
    expect(() => net.evaluate(x, zero)).toThrow(new RangeError('evaluate: every label of t has class weight 0 (classWeights), so the weighted mean loss is 0/0; the set needs a label of positive weight'));
    await expect(net.evaluateAsync(x, zero)).rejects.toThrow(/^evaluateAsync: every label of t has class weight 0/);
    net.dispose(); x.dispose(); W.dispose(); b.dispose();
  });

  it('without classWeights evaluate() keeps its bits: each chunk\'s mean times its rows, over the rows', () => {
    const W = rt.tensor([4, 3], randomArray(12, 7, -1, 1)), b = rt.tensor([3]);
    // chunks of 3 rows: each chunk's mean times its rows, as before the weights were summed (not the chunks' raw sums,
    // which the running sum cannot tell apart here: this pins the formula, as the Trainer's evaluateSet relies on it)
    const net = new Sequential(rt, [new Affine(W, b)], { evalBatchSize: 3 });
    const N = 200;
    const x = rt.tensor([N, 4], randomArray(N * 4, 8, -2, 2));
    const labels = Array.from({ length: N }, (_, i) => (i * 7) % 3);
    let sum = 0;
    for (let s = 0; s < N; s += 3) sum += net.loss(x.rows(s, Math.min(N, s + 3)), labels.slice(s, s + 3)) * (Math.min(N, s + 3) - s);
    expect(net.evaluate(x, labels).loss).toBe(sum / N);
    net.dispose(); x.dispose(); W.dispose(); b.dispose();
  });
});

describe('nets: classWeights', () => {
  const weights = Float32Array.from([0.5, 2, 1, 0, 1.5]);
  const named = (classWeights: unknown): Array<[string, () => NamedNet]> => {
    const o = { classWeights } as { classWeights: number[] };
    return [
      ['MultiLayerNet', () => new MultiLayerNet(rt, { inputSize: 12, hiddenSizeList: [8], outputSize: 5, ...o })],
      ['MultiLayerNetExtend', () => new MultiLayerNetExtend(rt, { inputSize: 12, hiddenSizeList: [8], outputSize: 5, useBatchnorm: true, ...o })],
      ['SimpleConvNet', () => new SimpleConvNet(rt, { inputDim: [1, 6, 6], convParam: { filterNum: 2, filterSize: 3, pad: 0, stride: 1 }, hiddenSize: 4, outputSize: 5, ...o })],
      ['DeepConvNet', () => new DeepConvNet(rt, { inputDim: [1, 8, 8], hiddenSize: 4, outputSize: 5, ...o })],
    ];
  };

  it('each named net weights its loss, records the weights in its spec as plain JSON, and a model file brings them back (the loss to the bit); summaries show them', () => {
    const plainWeights = Array.from(weights);
    for (const [name, make] of named(weights)) {
      rt.reseed(3);
      const net = make();
      expect(net.lastLayer.classWeights, name).toEqual(plainWeights);
      expect(Array.isArray(net.spec.options.classWeights), `${name}: a plain array in the spec`).toBe(true);
      expect(JSON.parse(JSON.stringify(net.spec)), name).toEqual(net.spec);
      expect(net.spec.options, name).toMatchObject({ classWeights: plainWeights });
      const shape = 'inputDim' in net ? [4, ...(net.inputDim as number[])] : [4, 12];
      const x = rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b), 5, -1, 1));
      const t = [0, 1, 2, 4];
      const loss = net.loss(x, t);
      rt.reseed(3);
      const unweighted: Record<string, unknown> = { ...net.spec.options };
      delete unweighted.classWeights;
      const plain = buildNet(rt, { kind: net.spec.kind, options: unweighted } as NamedNet['spec']);
      expect(plain.loss(x, t), `${name}: the unweighted twin`).not.toBe(loss);
      plain.dispose();
      const loaded = loadModel(rt, saveModel(net)).net;
      expect(loaded.lastLayer.classWeights, name).toEqual(plainWeights);
      expect(loaded.loss(x, t), name).toBe(loss);
      const note = `classWeights [${plainWeights.join(', ')}]`;
      expect(netSummary(net.spec).rows.at(-1)!.note, `${name}: netSummary`).toBe(note);
      expect(net.summary().rows.at(-1)!.note, `${name}: summary`).toBe(note);
      loaded.dispose();
      net.dispose();
      x.dispose();
    }
    // a Sequential of the caller's layers, and alexNet, take them too; a long list is shortened in the note
    const W = rt.tensor([3, 12], randomArray(36, 2)), b = rt.tensor([12]);
    const many = Array.from({ length: 12 }, (_, i) => i + 1);
    const seq = new Sequential(rt, [new Affine(W, b)], { classWeights: many, labelSmoothing: 0.1 });
    expect(seq.lastLayer.classWeights).toEqual(many);
    expect(seq.summary().rows.at(-1)!.note).toBe('labelSmoothing 0.1; classWeights [1, 2, 3, 4, 5, 6, … (12 weights)]');
    seq.dispose(); W.dispose(); b.dispose();
    const alex = alexNet(rt, { numClasses: 3, classWeights: [1, 2, 3] });
    expect(alex.lastLayer.classWeights).toEqual([1, 2, 3]);
    alex.dispose();
  });

  it('a net\'s gradient with classWeights and label smoothing matches its numericalGradient', () => {
    // f32 loss: rounding ~1e-7/h against O(h²) truncation (as test/multi-layer-net-extend.test.ts)
    const H = 3e-3;
    rt.reseed(21);
    const net = new MultiLayerNet(rt, { inputSize: 6, hiddenSizeList: [7], outputSize: 4, activation: 'tanh', classWeights: [0.5, 2, 0, 1.25], labelSmoothing: 0.1 });
    const x = rt.tensor([6, 6], randomArray(36, 3, -1, 1));
    for (const t of [[0, 1, 3, 3, 2, 1], rt.tensor([6, 4], softRows(6, 4, 9))]) {
      const num = net.numericalGradient(x, t, H);
      const grads = net.gradient(x, t);
      for (const key of Object.keys(net.params)) expect(gradError(grads[key].data, num[key]), key).toBeLessThan(1e-3);
      if (t instanceof Tensor) t.dispose();
    }
    net.dispose(); x.dispose();
  });

  it('on 2 threads the net takes the layer path (not the row chain) with the bits of 1 thread', async () => {
    const one = await makeRuntime({ threads: 1, busyCores: 'split' });
    const two = await makeRuntime({ threads: 2, busyCores: 'split' });
    await two.ready; // the workers up: split calls (and the chain) run on both threads from the first step
    try {
      const N = 100, cols = 10;
      const labels = Array.from({ length: N }, (_, r) => (r * 3) % cols);
      const soft = softRows(N, cols, 4);
      const w = someWeights(cols, 7);
      const gradient = (r: Runtime, kind: 'labels' | 'soft', eps: number, classWeights?: number[]) => {
        r.reseed(5);
        const net = new MultiLayerNet(r, { inputSize: 61, hiddenSizeList: [100, 100], outputSize: cols, labelSmoothing: eps, ...(classWeights && { classWeights }) });
        const x = r.tensor([N, 61], randomArray(N * 61, 9));
        const t = kind === 'labels' ? labels : r.tensor([N, cols], soft);
        const spy = vi.spyOn(r, 'runParts');
        const g = Object.values(net.gradient(x, t)).map((v) => v.toArray());
        const chained = spy.mock.calls.filter(([name]) => name === 'runChain').length;
        spy.mockRestore();
        const out = { g, loss: net.lastLoss, chained };
        net.dispose(); x.dispose();
        if (t instanceof Tensor) t.dispose();
        return out;
      };
      // the unweighted net runs the chain on this runtime: the weighted one could, and does not
      expect(gradient(two, 'labels', 0).chained, 'unweighted: chain calls').toBe(2);
      for (const [kind, eps] of [['labels', 0], ['labels', 0.1], ['soft', 0], ['soft', 0.2]] as const) {
        const what = `${kind}, ε ${eps}`;
        const a = gradient(one, kind, eps, w), b = gradient(two, kind, eps, w);
        expect(b.chained, `${what}: chain calls`).toBe(0);
        expect(b.loss, `${what}: loss`).toBe(a.loss);
        a.g.forEach((g, i) => expectBits(b.g[i], g, `${what}: grad ${i}`));
      }
    } finally {
      one.dispose();
      two.dispose();
    }
  });
});

describe('Trainer: its evaluations with classWeights', () => {
  /** N rows of 2 inputs in [-1, 1] labelled 2 where the first is > 0.3, else 1 where the second is > 0, else 0; `sorted`: rows in label order. */
  function threeClasses(r: Runtime, N: number, seed: number, sorted = false) {
    const xs = randomArray(N * 2, seed);
    const label = (i: number) => (xs[2 * i] > 0.3 ? 2 : xs[2 * i + 1] > 0 ? 1 : 0);
    const order = Array.from({ length: N }, (_, i) => i);
    if (sorted) order.sort((a, b) => label(a) - label(b) || a - b);
    return { x: r.tensor([N, 2], order.flatMap((i) => [xs[2 * i], xs[2 * i + 1]])), labels: order.map(label) };
  }

  /** Each chunk's mean loss times its rows, over the rows: the per-chunk figure a Trainer's evaluation took before it summed the weights. */
  function rowWeighted(net: Sequential, x: Tensor, labels: number[]): number {
    let sum = 0;
    for (let s = 0; s < labels.length; s += net.evalBatchSize) {
      const e = Math.min(labels.length, s + net.evalBatchSize);
      sum += net.evaluate(x.rows(s, e), labels.slice(s, e)).loss * (e - s);
    }
    return sum / labels.length;
  }

  /**
   * 2-6-3 (Affine, ReLU, Affine; weight decay, whose terms each chunk's mean held; evalBatchSize 7, so the 50 test rows
   * and 30 validation rows are 8 and 5 chunks) trained 2 epochs on 60 rows (SGD lr 0.2, batch 10) on a runtime of its
   * own; at each epoch's end `seen` gets the record, and net.evaluate and rowWeighted of the test and validation sets as
   * the net is then (`sortTest`: the test rows in label order); make(extra) makes a Trainer with `extra` over those
   * options (its callbacks in place of that one).
   */
  async function setup(classWeights: number[] | undefined, { sortTest = false } = {}) {
    const r = await makeRuntime({ seed: 9 });
    const layers = [new Affine(r.tensor([2, 6], randomArray(12, 31)), r.tensor([6])), new Relu(), new Affine(r.tensor([6, 3], randomArray(18, 32)), r.tensor([3]))];
    const net = new Sequential(r, layers, { evalBatchSize: 7, weightDecayLambda: 0.05, ...(classWeights && { classWeights }) });
    const train = threeClasses(r, 60, 33), test = threeClasses(r, 50, 34, sortTest), val = threeClasses(r, 30, 35);
    const seen: Array<{ record: EpochRecord; test: { loss: number; accuracy: number }; val: { loss: number; accuracy: number }; testRows: number; valRows: number }> = [];
    const sgd = new SGD({ lr: 0.2 });
    const tTrain = r.labels([60], train.labels);
    const make = (extra: TrainerBaseOptions = {}) => new Trainer(net, train.x, tTrain, test.x, test.labels, {
      epochs: 2, miniBatchSize: 10, optimizer: sgd, validation: { x: val.x, t: val.labels },
      callbacks: {
        onEpochEnd: ({ record }) => {
          // (sorted, the test set's first chunks weigh 0: they have no mean)
          const testRows = sortTest ? NaN : rowWeighted(net, test.x, test.labels);
          seen.push({ record, test: net.evaluate(test.x, test.labels), val: net.evaluate(val.x, val.labels), testRows, valRows: rowWeighted(net, val.x, val.labels) });
        },
      },
      ...extra,
    });
    return { r, net, train, tTrain, test, val, seen, make };
  }
  const figures = (records: EpochRecord[]) => records.map(({ trainAcc, testLoss, testAcc, valLoss, valAcc }) => ({ trainAcc, testLoss, testAcc, valLoss, valAcc }));

  it('without classWeights every record keeps its bits (each chunk\'s mean times its rows, over the rows: figures of the code before the weights were summed)', async () => {
    const s = await setup(undefined);
    const result = s.make().train();
    expect(figures(result.epochs)).toEqual([
      { trainAcc: 0.4166666666666667, testLoss: 1.1661755129623825, testAcc: 0.42, valLoss: 1.258588747871758, valAcc: 0.2 },
      { trainAcc: 0.6, testLoss: 1.0542497001823392, testAcc: 0.58, valLoss: 1.1275623077885915, valAcc: 0.5 },
    ]);
    for (const { record, testRows, valRows } of s.seen) {
      expect(record.testLoss).toBe(testRows);
      expect(record.valLoss).toBe(valRows);
    }
    s.r.dispose();
  });

  it('with classWeights testLoss and valLoss are net.evaluate\'s to the bit (Σ w[tᵢ]·lossᵢ / Σ w[tᵢ] over the set, not the chunks\' means by rows)', async () => {
    const s = await setup([0.5, 2, 1.25]);
    const result = s.make().train();
    expect(s.seen).toHaveLength(2);
    for (const { record, test, val, testRows, valRows } of s.seen) {
      expect(record.testLoss, `epoch ${record.epoch}: testLoss`).toBe(test.loss);
      expect(record.valLoss, `epoch ${record.epoch}: valLoss`).toBe(val.loss);
      expect([record.testAcc, record.valAcc]).toEqual([test.accuracy, val.accuracy]);
      // what the chunks' means weighted by their rows give: another figure
      expect(Math.abs(record.testLoss - testRows), `epoch ${record.epoch}: not the rows' weighting`).toBeGreaterThan(1e-3);
      expect(Math.abs(record.valLoss! - valRows)).toBeGreaterThan(1e-3);
    }
    expect(result.epochs).toEqual(s.seen.map((e) => e.record));
    s.r.dispose();
  });

  it('a test set sorted by class whose first chunks all weigh 0 evaluates (evaluateSampleNumPerEpoch\'s rows too); a set that all weighs 0 is refused when the Trainer is made, naming it', async () => {
    const s = await setup([0, 1, 2], { sortTest: true });
    const zeros = s.test.labels.filter((c) => c === 0).length;
    expect(zeros, 'the chunks of 7 rows that hold only labels 0').toBeGreaterThan(14);
    s.make().train();
    for (const { record, test } of s.seen) expect(record.testLoss, `epoch ${record.epoch}`).toBe(test.loss);
    // the first 30 rows hold a label of weight 1: evaluated alone, they are net.evaluate's on those rows
    const partial: number[] = [];
    const t = s.make({ evaluateSampleNumPerEpoch: 30, callbacks: { onEpochEnd: () => { partial.push(s.net.evaluate(s.test.x.rows(0, 30), s.test.labels.slice(0, 30)).loss); } } });
    const r30 = t.train();
    expect(r30.epochs.map((e) => e.testLoss)).toEqual(partial);
    t.dispose();
    // the validation rows' x stays the caller's (labels given as an array are the Trainer's copy)
    expect(s.val.x.disposed, 'validation.x after trainer.dispose()').toBe(false);
    const x = s.test.x, n = s.test.labels.length;
    const { tTrain } = s, zeros60 = s.r.labels([60], new Array<number>(60).fill(0));
    const oneOf60 = s.r.labels([60], s.train.labels.map((_, i) => (i === 59 ? 1 : 0)));
    const cases: Array<[string, () => Trainer, RegExp]> = [
      ['tTest', () => new Trainer(s.net, s.train.x, tTrain, x, new Array<number>(n).fill(0)), /^Trainer: every label of tTest has class weight 0 \(classWeights \[0, 1, 2\]\), so its weighted mean loss Σ w\[tᵢ\]·lossᵢ \/ Σ w\[tᵢ\] is 0\/0; the set needs a label of positive weight$/],
      ['the evaluated rows', () => s.make({ evaluateSampleNumPerEpoch: 10 }), /^Trainer: every label of tTest's first 10 rows \(evaluateSampleNumPerEpoch\) has class weight 0 /],
      ['validation.t', () => new Trainer(s.net, s.train.x, tTrain, x, s.test.labels, { validation: { x: s.val.x, t: new Array<number>(30).fill(0) } }), /^Trainer: every label of validation\.t has class weight 0 /],
      ['tTrain', () => new Trainer(s.net, s.train.x, zeros60, x, s.test.labels), /^Trainer: every label of tTrain has class weight 0 /],
      ['a validation split', () => new Trainer(s.net, s.train.x, oneOf60, x, s.test.labels, { validationSplit: 0.5 }), /^Trainer: every label of the validation rows \(validationSplit's\) has class weight 0 /],
    ];
    for (const [, make, message] of cases) expectRefused(s.r, make, RangeError, message);
    s.r.dispose();
  });

  it('labels written over to weigh 0 after the Trainer was made: a RangeError naming the set at the epoch\'s end, before the epoch is recorded', async () => {
    const s = await setup([0, 1, 2]);
    const tTest = s.r.labels([50], s.test.labels);
    const records: EpochRecord[] = [];
    const trainer = new Trainer(s.net, s.train.x, s.tTrain, s.test.x, tTest, {
      epochs: 2, miniBatchSize: 10, optimizer: new SGD({ lr: 0.2 }), callbacks: { onEpochEnd: ({ record }) => { records.push(record); } },
    });
    tTest.data.fill(0);
    expect(() => trainer.train()).toThrow(/^Trainer: epoch 1: every label of tTest has class weight 0 \(classWeights \[0, 1, 2\]\), .* \(its labels were written over after the Trainer was made\)$/);
    expect(records).toEqual([]);
    expect(trainer.trainerState().result.epochs).toEqual([]);
    s.r.dispose();
  });
});

describe('classWeights refused', () => {
  it('SoftmaxWithLoss refuses weights that are not an array of finite numbers ≥ 0 (in float32), not all 0, naming them', () => {
    const range = (v: unknown, message: string) => expect(() => new SoftmaxWithLoss({ classWeights: v as number[] })).toThrow(new RangeError(`SoftmaxWithLoss: ${message}`));
    const type = (v: unknown, message: RegExp) => {
      expect(() => new SoftmaxWithLoss({ classWeights: v as number[] })).toThrow(TypeError);
      expect(() => new SoftmaxWithLoss({ classWeights: v as number[] })).toThrow(message);
    };
    for (const v of [-1, NaN, Infinity, -Infinity, 1e39]) range([1, v], `classWeights[1] must be a finite number ≥ 0 (at most 3.4028234663852886e+38, float32's largest), got ${v}`);
    range([], 'classWeights must be an array of one weight per class (finite, ≥ 0, not all 0), got none');
    range([0, -0, 0], 'classWeights are all 0; at least one class must weigh more');
    range([1e-46, 0], 'classWeights are all 0 in float32; at least one class must weigh more');
    for (const v of [null, 1, '1,2', { 0: 1, length: 1 }, Int32Array.from([1, 2]), new Set([1])]) type(v, /^SoftmaxWithLoss: classWeights must be an array of one weight per class \(finite, ≥ 0, not all 0\), got /);
    type([1, '2'], /^SoftmaxWithLoss: classWeights\[1\] must be a finite number ≥ 0, got the string "2"$/);
    type([1, , 2], /^SoftmaxWithLoss: classWeights\[1\] must be a finite number ≥ 0, got undefined$/);
    // the layer keeps a copy: the caller's array changed later changes nothing
    const given = [1, 2, 3];
    const layer = new SoftmaxWithLoss({ classWeights: given });
    given[0] = 100;
    expect(layer.classWeights).toEqual([1, 2, 3]);
    expect(Object.isFrozen(layer.classWeights)).toBe(true);
    layer.dispose();
    // each weight read once, where the option is checked: an element whose getter changes after that changes nothing
    for (const make of [(w: number[]) => new Sequential(rt, [], { classWeights: w }), (w: number[]) => new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [], outputSize: 2, classWeights: w })]) {
      let reads = 0;
      const fickle = [0, 2];
      Object.defineProperty(fickle, 0, { get: () => (reads++ === 0 ? 1 : -1) });
      const net = make(fickle);
      expect(net.lastLayer.classWeights).toEqual([1, 2]);
      expect(reads).toBe(1);
      net.dispose();
    }
  });

  it('a weight count other than the classes: the named nets refuse it naming outputSize before any memory is taken; a forward refuses it before anything is written', () => {
    for (const [name, make] of [
      ['MultiLayerNet', () => new MultiLayerNet(rt, { inputSize: 12, hiddenSizeList: [8], outputSize: 5, classWeights: [1, 2, 3] })],
      ['MultiLayerNetExtend', () => new MultiLayerNetExtend(rt, { inputSize: 12, hiddenSizeList: [8], outputSize: 5, classWeights: [1, 2, 3] })],
      ['SimpleConvNet', () => new SimpleConvNet(rt, { inputDim: [1, 6, 6], outputSize: 5, classWeights: [1, 2, 3] })],
      ['DeepConvNet', () => new DeepConvNet(rt, { outputSize: 5, classWeights: [1, 2, 3] })],
    ] as const) {
      expectRefused(rt, make, RangeError, new RegExp(`^${name}: classWeights must hold 5 weights \\(one per class: outputSize 5\\), got 3$`));
    }
    expectRefused(rt, () => alexNet(rt, { numClasses: 4, classWeights: [1, 2, 3] }), RangeError, /^alexNet: classWeights must hold 4 weights \(one per class: numClasses 4\), got 3$/);
    expectRefused(rt, () => buildNet(rt, { kind: 'mlp', options: { inputSize: 2, hiddenSizeList: [], outputSize: 2, classWeights: [1, -2] } }), RangeError, /^MultiLayerNet: classWeights\[1\] must be a finite number ≥ 0/);
    expectRefused(rt, () => new Sequential(rt, [], { classWeights: [0, 0] }), RangeError, /^Sequential: classWeights are all 0/);
    expectRefused(rt, () => new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [], outputSize: 2, classWeights: null as unknown as number[] }), TypeError, /^MultiLayerNet: classWeights must be an array/);
    expect(() => netSummary({ kind: 'mlp', options: { inputSize: 2, hiddenSizeList: [], outputSize: 3, classWeights: [1, 2] } })).toThrow(/classWeights must hold 3 weights/);
    // the caller's layers: the classes are known at the first forward, which refuses the mismatch before writing
    const W = rt.tensor([4, 3], randomArray(12, 9)), b = rt.tensor([3]);
    const net = new Sequential(rt, [new Affine(W, b)], { classWeights: [1, 2] });
    const x = rt.tensor([5, 4], randomArray(20, 10));
    net.predict(x).dispose(); // the layers' buffers made: the refused call below allocates nothing
    expectRefused(rt, () => net.loss(x, [0, 1, 2, 0, 1]), RangeError, /^SoftmaxWithLoss\.forward: classWeights holds 2 weights, one per class, but x has 3 classes \(columns\)$/);
    net.dispose(); x.dispose(); W.dispose(); b.dispose();
    const layer = new SoftmaxWithLoss({ classWeights: [1, 2, 3] });
    const canaries = new Canaries(rt, 5);
    const x3 = between(canaries, () => rt.tensor([4, 3], randomArray(12, 11, -3, 3)));
    const x2 = between(canaries, () => rt.tensor([4, 2], randomArray(8, 12, -3, 3)));
    const t2 = between(canaries, () => rt.tensor([4, 2], oneHotRows([0, 1, 1, 0], 2)));
    const loss = layer.forward(x3, [0, 1, 2, 2]);
    const y = layer.y!.toArray(), dx = layer.backward().toArray();
    const inputs = [x3, x2, t2].map((v) => v.toArray());
    for (const t of [[0, 1, 1, 0], t2]) expect(() => layer.forward(x2, t)).toThrow(/^SoftmaxWithLoss\.forward: classWeights holds 3 weights, one per class, but x has 2 classes/);
    expect(layer.loss).toBe(loss);
    expectBits(layer.y!.toArray(), y, 'y');
    expectBits(layer.backward().toArray(), dx, 'dx');
    [x3, x2, t2].forEach((v, i) => expectBits(v.toArray(), inputs[i], `input ${i}`));
    expect(canaries.changed()).toBe(0);
    layer.dispose(); canaries.dispose(); x3.dispose(); x2.dispose(); t2.dispose();
  });
});

describe('SoftmaxWithLoss({ classWeights }) fuzzed', () => {
  it('300 seeded cases: a clear error naming SoftmaxWithLoss, or PyTorch\'s loss and gradient in float64; canaries and inputs unchanged', () => {
    const next = rng(20261207);
    const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
    const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)];
    const canaries = new Canaries(rt, 77);
    const bits = (t: Tensor | IntTensor) => new Int32Array(t.data.slice().buffer);
    let checked = 0, refused = 0;
    for (let i = 0; i < 300; i++) {
      const N = pick([1, int(2, 6), 9]), C = pick([1, int(2, 5), 8]);
      // weights: one per class (some 0, in [0.25, 3] else: the gradient's scale w/Σw at most 12), or a count other than C
      const count = next() < 0.1 ? C + pick([-1, 1]) : C;
      const w: number[] = Array.from({ length: Math.max(1, count) }, () => (next() < 0.3 ? 0 : Math.fround(0.25 + next() * 2.75)));
      if (!w.some((v) => v > 0)) w[int(0, w.length - 1)] = 1;
      const eps = pick([0, 0, 0.1, 1]);
      const layer = new SoftmaxWithLoss({ classWeights: w, labelSmoothing: eps });
      const owned: Array<Tensor | IntTensor> = [];
      const x = between(canaries, () => rt.tensor([N, C], Float32Array.from({ length: N * C }, () => next() * 8 - 4)));
      owned.push(x);
      const kind = pick(['ints', 'array', 'onehot', 'soft', 'weightless'] as const);
      const zero = w.findIndex((v, c) => v === 0 && c < C); // labels that all weigh 0, where a class does
      const labels = Array.from({ length: N }, () => (kind === 'weightless' && zero >= 0 ? zero : int(0, C - 1)));
      let t: Tensor | IntTensor | number[];
      if (kind === 'ints') t = between(canaries, () => rt.labels([N], labels));
      else if (kind === 'onehot') t = between(canaries, () => rt.tensor([N, C], oneHotRows(labels, C)));
      else if (kind === 'soft') t = between(canaries, () => rt.tensor([N, C], softRows(N, C, i)));
      else t = labels;
      if (!Array.isArray(t)) owned.push(t);
      const inputs = owned.map((v) => ({ v, b: bits(v) }));
      const dout = pick([1, 0.5, -2]);
      try {
        const loss = layer.forward(x, t);
        const dx = layer.backward(dout).toArray();
        const target: Target = t instanceof Tensor ? { rows: t.toArray() } : { labels };
        const xs = x.toArray();
        // the loss within 1e-6 relative + 1e-7 (measured worst 0.52 of that); the gradient's terms, up to 12·|dout|,
        // rounded in f32 and cancelling: within 1e-5 relative + 1e-6 (measured worst 0.08 of that)
        expectClose([loss], [torchLoss(xs, N, C, w, target, eps, 1e-7)], { rtol: 1e-6, atol: 1e-7 }, `case ${i}: loss`);
        expectClose(dx, torchGradient(xs, N, C, w, target, eps, dout), { rtol: 1e-5, atol: 1e-6 }, `case ${i}: dx`);
        checked++;
      } catch (e) {
        expect(e, `case ${i}`).toBeInstanceOf(RangeError);
        expect((e as Error).message, `case ${i}`).toMatch(/^SoftmaxWithLoss\.forward: classWeights holds/);
        refused++;
      }
      for (const { v, b } of inputs) expect(bits(v), `case ${i} (${kind}): an input changed`).toEqual(b);
      expect(canaries.changed(), `case ${i} (${kind})`).toBe(0);
      layer.dispose();
      for (const o of owned) o.dispose();
    }
    canaries.dispose();
    expect(checked, 'enough cases checked against the reference').toBeGreaterThan(150);
    expect(refused, 'enough cases refused').toBeGreaterThan(30);
  });
});
