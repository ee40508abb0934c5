// classificationMetrics / classificationMetricsAsync against a float64 reference of scikit-learn's
// formulas (confusion_matrix, precision_recall_fscore_support with zero_division's default 0, macro and
// weighted means) and Keras's in_top_k; chunking, async and abort, allocation, bad input.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray, randomInts } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import type { Layer } from '../src/layers/layer.js';
import { Affine } from '../src/layers/affine.js';
import { Relu } from '../src/layers/activations.js';
import { Sequential, classificationMetrics, classificationMetricsAsync, type ClassificationMetrics } from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 3 }); });

/** A layer passing x through, counting its forward passes (and running `onForward`). */
function spyLayer(onForward: () => void = () => {}): Layer & { calls: number } {
  const layer = {
    name: 'Spy', params: {}, grads: {}, calls: 0,
    forward(x: Tensor) { layer.calls++; onForward(); return x; },
    backward(d: Tensor) { return d; },
    dispose() {},
  };
  return layer;
}

/** A net whose outputs are its inputs (an identity Affine, exact in float32), so a test writes the scores; then a spy. */
function scoreNet(C: number, evalBatchSize = 1000, onForward?: () => void) {
  const W = rt.tensor([C, C]);
  for (let i = 0; i < C; i++) W.data[i * C + i] = 1;
  const b = rt.tensor([C]);
  const spy = spyLayer(onForward);
  const net = new Sequential(rt, [new Affine(W, b), spy], { evalBatchSize });
  return { net, spy, dispose: () => { net.dispose(); W.dispose(); b.dispose(); } };
}

/** W1, b1, W2, b2 of a random two-layer net (the caller disposes them). */
function mlpParams(inputs: number, hidden: number, C: number, seed: number): Tensor[] {
  return [[inputs, hidden], [hidden], [hidden, C], [C]].map((shape, i) => rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b), seed + i)));
}

/** A user stack, Affine–Relu–Affine, on those parameters. */
function mlp([W1, b1, W2, b2]: Tensor[], evalBatchSize: number): Sequential {
  return new Sequential(rt, [new Affine(W1, b1), new Relu(), new Affine(W2, b2)], { evalBatchSize });
}

/** sklearn's formulas in float64, from true and predicted classes (-1: no prediction, a NaN row). */
function reference(truth: ArrayLike<number>, pred: ArrayLike<number>, C: number) {
  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  const support = new Array<number>(C).fill(0), predicted = new Array<number>(C).fill(0);
  let correct = 0;
  for (let i = 0; i < truth.length; i++) {
    support[truth[i]]++;
    if (pred[i] < 0) continue;
    confusion[truth[i]][pred[i]]++;
    predicted[pred[i]]++;
    if (pred[i] === truth[i]) correct++;
  }
  const div = (a: number, b: number) => (b === 0 ? 0 : a / b); // zero_division='warn' → 0
  const perClass = confusion.map((row, c) => ({
    precision: div(row[c], predicted[c]), recall: div(row[c], support[c]), f1: div(2 * row[c], support[c] + predicted[c]), support: support[c],
  }));
  const N = truth.length;
  const avg = (w: (c: number) => number, d: number) => ({
    precision: perClass.reduce((s, p, c) => s + p.precision * w(c), 0) / d,
    recall: perClass.reduce((s, p, c) => s + p.recall * w(c), 0) / d,
    f1: perClass.reduce((s, p, c) => s + p.f1 * w(c), 0) / d,
  });
  return { confusion, accuracy: correct / N, perClass, macro: avg(() => 1, C), weighted: avg((c) => support[c], N) };
}

/** numpy's argmax of each row (first maximum), -1 for a row holding NaN. */
function argmaxRows(v: ArrayLike<number>, C: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < v.length / C; r++) {
    let best = 0;
    let nan = false;
    for (let j = 0; j < C; j++) {
      if (Number.isNaN(v[r * C + j])) nan = true;
      if (v[r * C + j] > v[r * C + best]) best = j;
    }
    out.push(nan ? -1 : best);
  }
  return out;
}

/** Keras's in_top_k as its torch backend writes it: the true class's score ≥ the k-th largest. */
function inTopK(v: ArrayLike<number>, C: number, truth: ArrayLike<number>, k: number): number {
  let n = 0;
  for (let r = 0; r < truth.length; r++) {
    const row = Array.from({ length: C }, (_, j) => v[r * C + j]);
    if (row.some(Number.isNaN)) continue;
    const kth = [...row].sort((a, b) => b - a)[k - 1];
    if (row[truth[r]] >= kth) n++;
  }
  return n / truth.length;
}

/** net.predict(x) as a plain array. */
function scoresOf(net: Sequential, x: Tensor): Float32Array {
  const y = net.predict(x);
  const v = y.toArray();
  y.dispose();
  return v;
}

const oneHotScores = (pred: number[], C: number) => Float32Array.from(pred.flatMap((p) => Array.from({ length: C }, (_, j) => (j === p ? 1 : 0))));

describe('classificationMetrics', () => {
  it('is sklearn\'s confusion matrix, precision, recall, F1, macro and weighted means, with a class never predicted and one never present', () => {
    // true classes and the predicted ones: class 3 is never predicted, class 2 never present
    const truth = [0, 0, 0, 1, 1, 3, 3, 3], pred = [0, 0, 1, 1, 2, 0, 1, 2];
    const { net, spy, dispose } = scoreNet(4);
    const x = rt.tensor([8, 4], oneHotScores(pred, 4));
    const m = classificationMetrics(net, x, truth);
    expect(m.confusion).toEqual([[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0], [1, 1, 1, 0]]);
    expect(m.classes).toBe(4);
    expect(m.rows).toBe(8);
    expect(m.invalid).toBe(0);
    expect(spy.calls, 'one chunk, no probe').toBe(1);
    expect(m.accuracy).toBe(net.accuracy(x, truth));
    expect(m.accuracy).toBe(3 / 8);
    // sklearn's figures for these labels, by hand
    const hand = [[2 / 3, 2 / 3, 2 / 3, 3], [1 / 3, 1 / 2, 2 / 5, 2], [0, 0, 0, 0], [0, 0, 0, 3]];
    m.perClass.forEach((s, c) => {
      expect([s.precision, s.recall, s.f1, s.support]).toEqual(hand[c]);
      // F1 is the harmonic mean where it is not 0
      if (s.f1 > 0) expect(s.f1).toBeCloseTo((2 * s.precision * s.recall) / (s.precision + s.recall), 15);
    });
    expect(m.macro.precision).toBeCloseTo(1 / 4, 15);
    expect(m.macro.recall).toBeCloseTo(7 / 24, 15);
    expect(m.macro.f1).toBeCloseTo(4 / 15, 15);
    expect(m.weighted.precision).toBeCloseTo(1 / 3, 15);
    expect(m.weighted.recall).toBeCloseTo(3 / 8, 15);
    expect(m.weighted.f1).toBeCloseTo(0.35, 15);
    expect(m.topK).toBeUndefined();
    // and the reference's bits
    expect(m).toEqual({ classes: 4, rows: 8, invalid: 0, ...reference(truth, pred, 4) });
    x.dispose();
    dispose();
  });

  it('gives the reference\'s bits on a random net, for labels as an array, an IntTensor or one-hot rows, and the same in chunks of 1, 7 or all rows', () => {
    const N = 50, C = 5;
    const labels = Array.from(randomInts(N, 4, C));
    const x = rt.tensor([N, 6], randomArray(N * 6, 5));
    const ints = rt.labels([N], labels);
    const oneHot = rt.tensor([N, C], Float32Array.from(labels.flatMap((l) => Array.from({ length: C }, (_, j) => (j === l ? 1 : 0)))));
    const params = mlpParams(6, 8, C, 6);
    let first: ClassificationMetrics | null = null;
    for (const evalBatchSize of [1, 7, N]) {
      const net = mlp(params, evalBatchSize);
      const y = net.predict(x);
      const pred = argmaxRows(y.toArray(), C);
      y.dispose();
      for (const t of [labels, ints, oneHot]) {
        const m = classificationMetrics(net, x, t, { topK: 2 });
        const { topK, ...rest } = m;
        expect(rest).toEqual({ classes: C, rows: N, invalid: 0, ...reference(labels, pred, C) });
        expect(m.accuracy).toBe(net.accuracy(x, t));
        expect(topK).toEqual({ k: 2, accuracy: inTopK(scoresOf(net, x), C, labels, 2) });
        first ??= m;
        expect(m, `evalBatchSize ${evalBatchSize}`).toEqual(first);
      }
      net.dispose();
    }
    x.dispose();
    ints.dispose();
    oneHot.dispose();
    params.forEach((p) => p.dispose());
  });

  it('predicts the first of equal scores (argmax), takes soft rows\' first maximum as the true class, and leaves NaN rows in no column', () => {
    const C = 3;
    const { net, dispose } = scoreNet(C, 2);
    const scores = Float32Array.from([0.5, 0.5, 0, /**/ 0, 1, 1, /**/ 2, 2, 2, /**/ NaN, 1, 0, /**/ 0, 0, 1]);
    const x = rt.tensor([5, C], scores);
    // soft rows: a tie between classes 0 and 1 is class 0; one-hot; a 0.2/0.3/0.5 row is class 2
    const soft = rt.tensor([5, C], Float32Array.from([0.4, 0.4, 0.2, /**/ 0, 1, 0, /**/ 0.1, 0.6, 0.3, /**/ 1, 0, 0, /**/ 0.2, 0.3, 0.5]));
    const truth = [0, 1, 1, 0, 2];
    const m = classificationMetrics(net, x, soft);
    expect(m.confusion).toEqual([[1, 0, 0], [1, 1, 0], [0, 0, 1]]);
    expect(m.invalid).toBe(1);
    expect(m.accuracy).toBe(net.accuracy(x, soft));
    expect(m.accuracy).toBe(3 / 5);
    expect(m).toEqual({ classes: C, rows: 5, invalid: 1, ...reference(truth, [0, 1, 0, -1, 2], C) });
    // the NaN row is in class 0's support, its recall's denominator, and no class's precision
    expect(m.perClass[0]).toEqual({ precision: 1 / 2, recall: 1 / 2, f1: 2 / 4, support: 2 });
    expect(classificationMetrics(net, x, truth)).toEqual(m);
    x.dispose();
    soft.dispose();
    dispose();
  });

  it('counts top-k as Keras\'s in_top_k: a tie at the k-th score is in', () => {
    const C = 4;
    const { net, dispose } = scoreNet(C, 3);
    const rows = [[3, 2, 2, 1], [3, 2, 2, 1], [3, 2, 2, 1], [1, 1, 1, 1], [0, 5, 5, 5], [NaN, 0, 0, 0], [4, 3, 2, 1]];
    const truth = [2, 1, 3, 3, 1, 0, 3];
    const scores = Float32Array.from(rows.flat());
    const x = rt.tensor([rows.length, C], scores);
    // rows in the top 1 / 2 / 3 / 4
    const want = [[3, 4], [0, 1, 3, 4], [0, 1, 3, 4], [0, 1, 2, 3, 4, 6]];
    for (let k = 1; k <= C; k++) {
      const m = classificationMetrics(net, x, truth, { topK: k });
      expect(m.topK, `k ${k}`).toEqual({ k, accuracy: want[k - 1].length / rows.length });
      expect(m.topK!.accuracy).toBe(inTopK(scores, C, truth, k));
    }
    // with ties, top-1 counts every row whose class shares the maximum (rows 3 and 4); accuracy the first maximum's (row 4)
    const m = classificationMetrics(net, x, truth, { topK: 1 });
    expect(m.accuracy).toBe(1 / 7);
    x.dispose();
    dispose();
  });

  it('allocates nothing that outlives the call, and refuses bad input before a chunk runs, naming the argument', async () => {
    const C = 3;
    const { net, spy, dispose } = scoreNet(C, 2);
    const x = rt.tensor([4, C], randomArray(4 * C, 8));
    const t = [0, 1, 2, 0];
    classificationMetrics(net, x, t); // the net's buffers for these chunks, made once
    const used = rt.memoryStats();
    spy.calls = 0;
    classificationMetrics(net, x, t, { topK: 2 });
    await classificationMetricsAsync(net, x, t, { topK: 3 });
    expect(spy.calls).toBe(4);
    expect(rt.memoryStats()).toEqual(used);

    spy.calls = 0;
    const other = await makeRuntime();
    const foreign = other.tensor([4, C]);
    const dead = rt.tensor([4, C]);
    dead.dispose();
    const ints = rt.labels([4], t);
    const wide = rt.tensor([4, 4]);
    const notRows = rt.tensor([4, C]); // rows of zeros name no class
    const intX = rt.labels([4, C]);
    const bad: Array<[() => unknown, RegExp]> = [
      [() => classificationMetrics(net, dead, t), /classificationMetrics: x.*dispose/],
      [() => classificationMetrics(net, foreign, t), /classificationMetrics: x/],
      [() => classificationMetrics(net, intX as unknown as Tensor, t), /classificationMetrics: x/],
      [() => classificationMetrics(net, wide, t), /classificationMetrics: x has rows of 4 features/],
      [() => classificationMetrics(net, x.rows(0, 0), []), /classificationMetrics: x has 0 rows/],
      [() => classificationMetrics(net, x, [0, 1, 2]), /classificationMetrics: t must hold 4 labels, got 3/],
      [() => classificationMetrics(net, x, [0, 1, 3, 0]), /classificationMetrics: label t\[2\] = 3 is outside \[0, 3\)/],
      [() => classificationMetrics(net, x, [0, 1, 0.5, 0]), /classificationMetrics: label t\[2\] = 0.5 is not an integer/],
      [() => classificationMetrics(net, x, ints.rows(0, 3)), /classificationMetrics: t must hold 4 labels, a row each/],
      [() => classificationMetrics(net, x, wide), /classificationMetrics: one-hot t must have 3 columns/],
      [() => classificationMetrics(net, x, notRows), /classificationMetrics: t\[0\] sums to 0/],
      [() => classificationMetrics(net, x, null as unknown as number[]), /classificationMetrics: t must be a Tensor, an IntTensor or an array/],
      [() => classificationMetrics(net, x, t, { topK: 0 }), /classificationMetrics: topK must be an integer in \[1, classes\], got 0/],
      [() => classificationMetrics(net, x, t, { topK: 1.5 }), /classificationMetrics: topK must be an integer in \[1, classes\], got 1.5/],
      [() => classificationMetrics(net, x, t, { topK: 4 }), /classificationMetrics: topK must be an integer in \[1, 3\] \(the net's classes\), got 4/],
      [() => classificationMetrics(net, x, t, { topK: '2' as unknown as number }), /classificationMetrics: topK must be an integer in \[1, classes\], got/],
      [() => classificationMetrics(net, x, t, { k: 2 } as object), /classificationMetrics: unknown option 'k'/],
      [() => classificationMetrics(net, x, t, { signal: new AbortController().signal } as object), /classificationMetrics: unknown option 'signal'/],
    ];
    for (const [call, message] of bad) {
      expect(call).toThrow(message);
      expect(spy.calls, String(message)).toBe(0);
    }
    await expect(classificationMetricsAsync(net, x, t, { out: x } as object)).rejects.toThrow(/classificationMetricsAsync: unknown option 'out'/);
    await expect(classificationMetricsAsync(net, x, t, { signal: { aborted: false } as AbortSignal })).rejects.toThrow(/classificationMetricsAsync: signal must be an AbortSignal/);
    await expect(classificationMetricsAsync(net, x, [0, 9, 0, 0])).rejects.toThrow(/classificationMetricsAsync: label t\[1\] = 9/);
    await expect(classificationMetricsAsync(net, x, t, { topK: 7 })).rejects.toThrow(/classificationMetricsAsync: topK/);
    expect(spy.calls).toBe(0);
    for (const tensor of [foreign, ints, wide, notRows, intX]) tensor.dispose();
    expect(rt.memoryStats().used, 'nothing left by the refused calls').toBe(used.used);
    await other.dispose();
    dispose();
    expect(() => classificationMetrics(net, x, t)).toThrow(/Sequential: used after dispose\(\)/);
    x.dispose();
  });
  it('refuses a net whose output is not as wide as its layers tell (a layer of the caller\'s after the last Affine)', () => {
    const W = rt.tensor([3, 3]), b = rt.tensor([3]), narrow = rt.tensor([4, 2]);
    const squeeze: Layer = { name: 'Squeeze', params: {}, grads: {}, forward: () => narrow, backward: (d) => d, dispose() {} };
    const net = new Sequential(rt, [new Affine(W, b), squeeze]);
    const x = rt.tensor([4, 3]);
    expect(() => classificationMetrics(net, x, [0, 1, 2, 0])).toThrow(/^classificationMetrics: the net's output is \[4, 2\], not \[rows, 3\] \(its classes\)$/);
    net.dispose();
    for (const tensor of [W, b, narrow, x]) tensor.dispose();
  });
});

describe('classificationMetricsAsync', () => {
  it('gives the sync result in the same chunks', async () => {
    const N = 30, C = 4;
    const params = mlpParams(5, 6, C, 20);
    const net = mlp(params, 7);
    const x = rt.tensor([N, 5], randomArray(N * 5, 21));
    const labels = Array.from(randomInts(N, 22, C));
    const sync = classificationMetrics(net, x, labels, { topK: 2 });
    expect(await classificationMetricsAsync(net, x, labels, { topK: 2 })).toEqual(sync);
    expect(await classificationMetricsAsync(net, x, labels, { signal: new AbortController().signal })).toEqual(classificationMetrics(net, x, labels));
    x.dispose();
    net.dispose();
  });

  it('stops at an abort between chunks, and at x disposed meanwhile, leaving nothing allocated', async () => {
    const C = 3;
    const controller = new AbortController();
    const reason = new Error('stop');
    let aborting = true;
    const { net, spy, dispose } = scoreNet(C, 2, () => { if (aborting) controller.abort(reason); });
    const x = rt.tensor([6, C], randomArray(6 * C, 30));
    aborting = false;
    const sync = classificationMetrics(net, x, [0, 1, 2, 0, 1, 2]); // the net's buffers for these chunks, made once
    expect(await classificationMetricsAsync(net, x, [0, 1, 2, 0, 1, 2])).toEqual(sync);
    aborting = true;
    spy.calls = 0;
    const used = rt.memoryStats().used;
    await expect(classificationMetricsAsync(net, x, [0, 1, 2, 0, 1, 2], { signal: controller.signal })).rejects.toBe(reason);
    expect(spy.calls, 'the first chunk ran, the second did not').toBe(1);
    expect(rt.memoryStats().used).toBe(used);
    spy.calls = 0;
    await expect(classificationMetricsAsync(net, x, [0, 1, 2, 0, 1, 2], { signal: controller.signal })).rejects.toBe(reason);
    expect(spy.calls, 'aborted before the first chunk').toBe(0);
    // x disposed during the first chunk: the next one refuses it
    aborting = false;
    const x2 = rt.tensor([6, C], randomArray(6 * C, 31));
    const { net: net2, spy: spy2, dispose: dispose2 } = scoreNet(C, 2, () => x2.dispose());
    await expect(classificationMetricsAsync(net2, x2, [0, 1, 2, 0, 1, 2])).rejects.toThrow(/classificationMetricsAsync: x.*dispose/);
    expect(spy2.calls).toBe(1);
    x.dispose();
    dispose();
    dispose2();
  });
});
