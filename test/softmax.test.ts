// assembly/softmax.ts: softmax, cross-entropy forward/backward (integer labels
// and dense targets), argmax and accuracy, against float64 references from
// the book's formulas (softmax with the row max subtracted; cross_entropy_error
// with 1e-7 inside the log). The kernels return the loss summed over rows;
// the facade divides by the batch size.
import { describe, it, expect, beforeAll } from 'vitest';
import type { TestKernels } from '../build/test/kernels-test.js';
import { makeRuntime, makeTestRuntime, lengths, randomArray, randomInts, expectClose, expectBits, rng, type TestRuntime } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';
import { softmax } from '../src/layers/softmax.js';
import { SoftmaxWithLoss } from '../src/layers/softmax-with-loss.js';

const f32 = Math.fround;
const DELTA = 1e-7;
// f32 softmax against float64: exp within 1 ulp, then a sum and a division.
const Y_TOL = { rtol: 1e-6, atol: 1e-12 };
// -log(y + 1e-7) in f32: y's relative error becomes an absolute error of the same size.
const LOSS_TOL = { rtol: 1e-6, atol: 1e-6 };

let rt: TestRuntime;
let k: TestKernels;
beforeAll(async () => {
  rt = await makeTestRuntime();
  k = rt.unsafeKernels;
});

function softmax64(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, x[r * cols + j]);
    let s = 0;
    for (let j = 0; j < cols; j++) s += y[r * cols + j] = Math.exp(x[r * cols + j] - m);
    for (let j = 0; j < cols; j++) y[r * cols + j] /= s;
  }
  return y;
}

/** Summed over rows: -sum_j t[r, j] * log(y[r, j] + 1e-7). */
function crossEntropy64(y: ArrayLike<number>, t: ArrayLike<number>): number {
  let loss = 0;
  for (let i = 0; i < y.length; i++) if (t[i] !== 0) loss -= t[i] * Math.log(y[i] + DELTA);
  return loss;
}

function oneHot(labels: ArrayLike<number>, cols: number): Float32Array {
  const t = new Float32Array(labels.length * cols);
  for (let r = 0; r < labels.length; r++) t[r * cols + labels[r]] = 1;
  return t;
}

/** Rows of positive weights normalised to sum 1 (soft targets, label smoothing style). */
function softTargets(rows: number, cols: number, seed: number): Float32Array {
  const next = rng(seed);
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += t[r * cols + j] = next();
    for (let j = 0; j < cols; j++) t[r * cols + j] /= s;
  }
  return t;
}

function argmax64(x: ArrayLike<number>, rows: number, cols: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let j = 1; j < cols; j++) if (x[r * cols + j] > x[r * cols + best]) best = j;
    return best;
  });
}

const colsList = lengths.filter((c) => c > 0);
const ROWS = 7;

describe('softmax with cross-entropy, integer labels', () => {
  it('matches float64 softmax and loss, the scalar Ref, and plain softmaxForward, for every column count', () => {
    for (const cols of colsList) {
      const xs = randomArray(ROWS * cols, cols, -8, 8);
      const ls = randomInts(ROWS, 50 + cols, cols);
      const x = rt.tensor([ROWS, cols], xs);
      const t = rt.labels(ROWS, ls);
      const y = rt.tensor([ROWS, cols]);
      const loss = k.softmaxCrossEntropyForward(y.ptr, x.ptr, t.ptr, ROWS, cols);
      const y64 = softmax64(xs, ROWS, cols);
      expectClose(y.data, y64, Y_TOL, `softmax cols=${cols}`);
      expectClose([loss], [crossEntropy64(y64, oneHot(ls, cols))], LOSS_TOL, `loss cols=${cols}`);
      for (let r = 0; r < ROWS; r++) {
        const sum = y.data.subarray(r * cols, (r + 1) * cols).reduce((a, b) => a + b, 0);
        expectClose([sum], [1], { rtol: cols * 2 ** -24 + 1e-7 }, `row ${r} sums to 1, cols=${cols}`);
      }
      const yRef = rt.tensor([ROWS, cols]);
      const lossRef = k.softmaxCrossEntropyForwardRef(yRef.ptr, x.ptr, t.ptr, ROWS, cols);
      expectClose(y.data, yRef.data, Y_TOL, `vs Ref cols=${cols}`);
      expectClose([loss], [lossRef], LOSS_TOL, `loss vs Ref cols=${cols}`);
      const yPlain = rt.tensor([ROWS, cols]);
      k.softmaxForward(yPlain.ptr, x.ptr, ROWS, cols);
      expectBits(yPlain.data, y.data, `softmaxForward cols=${cols}`);
      for (const a of [x, t, y, yRef, yPlain]) a.dispose();
    }
  });

  it('backward: dx = (y - onehot(t)) * scale, exactly in f32 and close to float64', () => {
    for (const cols of colsList) {
      const xs = randomArray(ROWS * cols, 100 + cols, -4, 4);
      const ls = randomInts(ROWS, 150 + cols, cols);
      const x = rt.tensor([ROWS, cols], xs);
      const t = rt.labels(ROWS, ls);
      const y = rt.tensor([ROWS, cols]);
      const dx = rt.tensor([ROWS, cols]);
      k.softmaxCrossEntropyForward(y.ptr, x.ptr, t.ptr, ROWS, cols);
      const scale = f32(1 / ROWS);
      k.softmaxCrossEntropyBackward(dx.ptr, y.ptr, t.ptr, ROWS, cols, scale);
      const hot = oneHot(ls, cols);
      const ys = y.data;
      expectBits(dx.data, Float32Array.from(ys, (v, i) => f32((hot[i] ? f32(v - 1) : v) * scale)), `dx cols=${cols}`);
      const y64 = softmax64(xs, ROWS, cols);
      expectClose(dx.data, Float64Array.from(y64, (v, i) => (v - hot[i]) / ROWS), { rtol: 1e-6, atol: 1e-8 }, `dx vs float64 cols=${cols}`);
      for (const a of [x, t, y, dx]) a.dispose();
    }
  });

  it('on a sub-range of rows equals the matching slice of the whole call', () => {
    const cols = 10, rows = 9;
    const xs = randomArray(rows * cols, 3, -5, 5);
    const x = rt.tensor([rows, cols], xs);
    const t = rt.labels(rows, randomInts(rows, 4, cols));
    const y = rt.tensor([rows, cols]);
    const dx = rt.tensor([rows, cols]);
    const whole = k.softmaxCrossEntropyForward(y.ptr, x.ptr, t.ptr, rows, cols);
    k.softmaxCrossEntropyBackward(dx.ptr, y.ptr, t.ptr, rows, cols, 0.25);
    const yParts = rt.tensor([rows, cols]);
    const dxParts = rt.tensor([rows, cols]);
    let summed = 0;
    for (const [r0, r1] of [[0, 2], [2, 7], [7, 9]]) {
      const off = r0 * cols * 4;
      summed += k.softmaxCrossEntropyForward(yParts.ptr + off, x.ptr + off, t.ptr + r0 * 4, r1 - r0, cols);
      k.softmaxCrossEntropyBackward(dxParts.ptr + off, yParts.ptr + off, t.ptr + r0 * 4, r1 - r0, cols, 0.25);
    }
    expectBits(yParts.data, y.data, 'y by row blocks');
    expectBits(dxParts.data, dx.data, 'dx by row blocks');
    expectClose([summed], [whole], { rtol: 1e-14 }, 'loss by row blocks');
    // the row chain's loss: the same sum from the y the blocks wrote, bit for bit (src/nets/row-chain.ts)
    expect(k.crossEntropyOfSoftmax(yParts.ptr, t.ptr, rows, cols)).toBe(whole);
    for (const a of [x, t, y, dx, yParts, dxParts]) a.dispose();
  });

  it('crossEntropyOfSoftmax gives the loss softmaxCrossEntropyForward returned, bit for bit, for every column count and saturated rows', () => {
    for (const cols of colsList) {
      // logits up to ±60: some rows put ~0 on their label, where log(y + 1e-7) decides the loss
      const x = rt.tensor([ROWS, cols], randomArray(ROWS * cols, 300 + cols, -60, 60));
      const t = rt.labels(ROWS, randomInts(ROWS, 400 + cols, cols));
      const y = rt.tensor([ROWS, cols]);
      const loss = k.softmaxCrossEntropyForward(y.ptr, x.ptr, t.ptr, ROWS, cols);
      expect(k.crossEntropyOfSoftmax(y.ptr, t.ptr, ROWS, cols), `cols=${cols}`).toBe(loss);
      for (const a of [x, t, y]) a.dispose();
    }
  });
});

describe('softmax with cross-entropy, dense targets', () => {
  it('one-hot targets give the integer-label loss and gradient bit for bit', () => {
    for (const cols of colsList) {
      const xs = randomArray(ROWS * cols, 200 + cols, -6, 6);
      const ls = randomInts(ROWS, 250 + cols, cols);
      const x = rt.tensor([ROWS, cols], xs);
      const labels = rt.labels(ROWS, ls);
      const hot = rt.tensor([ROWS, cols], oneHot(ls, cols));
      const y1 = rt.tensor([ROWS, cols]), y2 = rt.tensor([ROWS, cols]);
      const d1 = rt.tensor([ROWS, cols]), d2 = rt.tensor([ROWS, cols]);
      const l1 = k.softmaxCrossEntropyForward(y1.ptr, x.ptr, labels.ptr, ROWS, cols);
      const l2 = k.softmaxCrossEntropyForwardDense(y2.ptr, x.ptr, hot.ptr, ROWS, cols);
      expect(l2, `cols=${cols}`).toBe(l1);
      expectBits(y2.data, y1.data, `y cols=${cols}`);
      k.softmaxCrossEntropyBackward(d1.ptr, y1.ptr, labels.ptr, ROWS, cols, f32(1 / ROWS));
      k.softmaxCrossEntropyBackwardDense(d2.ptr, y2.ptr, hot.ptr, ROWS, cols, f32(1 / ROWS));
      expectBits(d2.data, d1.data, `dx cols=${cols}`);
      for (const a of [x, labels, hot, y1, y2, d1, d2]) a.dispose();
    }
  });

  it('soft targets: loss -sum t log(y + 1e-7) and dx = (y - t) * scale against float64', () => {
    for (const cols of colsList) {
      const xs = randomArray(ROWS * cols, 300 + cols, -6, 6);
      const ts = softTargets(ROWS, cols, 350 + cols);
      const x = rt.tensor([ROWS, cols], xs);
      const t = rt.tensor([ROWS, cols], ts);
      const y = rt.tensor([ROWS, cols]);
      const dx = rt.tensor([ROWS, cols]);
      const loss = k.softmaxCrossEntropyForwardDense(y.ptr, x.ptr, t.ptr, ROWS, cols);
      const y64 = softmax64(xs, ROWS, cols);
      expectClose([loss], [crossEntropy64(y64, ts)], { rtol: 2e-6, atol: 1e-6 }, `loss cols=${cols}`);
      const scale = f32(0.5 / ROWS);
      k.softmaxCrossEntropyBackwardDense(dx.ptr, y.ptr, t.ptr, ROWS, cols, scale);
      const ys = y.data;
      expectBits(dx.data, Float32Array.from(ys, (v, i) => f32(f32(v - ts[i]) * scale)), `dx cols=${cols}`);
      expectClose(dx.data, Float64Array.from(y64, (v, i) => (v - ts[i]) * (0.5 / ROWS)), { rtol: 1e-5, atol: 1e-8 }, `dx vs float64 cols=${cols}`);
      // rows [3, 7) alone
      const dxPart = rt.tensor([ROWS, cols]);
      k.softmaxCrossEntropyBackwardDense(dxPart.ptr + 3 * cols * 4, y.ptr + 3 * cols * 4, t.ptr + 3 * cols * 4, 4, cols, scale);
      expectBits(dxPart.data.subarray(3 * cols), dx.data.subarray(3 * cols), `dx rows [3, 7) cols=${cols}`);
      for (const a of [x, t, y, dx, dxPart]) a.dispose();
    }
  });
});

describe('numerical stability', () => {
  it('handles huge logits (up to +-3.4e38) without overflow: finite outputs that match float64', () => {
    const cols = 5;
    const xs = [
      1e30, -1e30, 0, 2e30, 5,
      3.4e38, 3.4e38, 3.4e38, 3.4e38, 3.4e38,
      -3.4e38, -3.4e38, -3.4e38, -3.4e38, -3.4e38,
      3.4e38, -3.4e38, 0, 1e38, 3.4e38,
      88, 89, 90, 1000, 1001,
    ];
    const rows = xs.length / cols;
    const ls = [1, 0, 4, 2, 4];
    const x = rt.tensor([rows, cols], xs);
    const t = rt.labels(rows, ls);
    const y = rt.tensor([rows, cols]);
    const loss = k.softmaxCrossEntropyForward(y.ptr, x.ptr, t.ptr, rows, cols);
    expect(y.data.every(Number.isFinite)).toBe(true);
    // exp(-huge) is clamped at about 1.2e-38 instead of 0: an absolute error far below anything that matters
    const y64 = softmax64(x.data, rows, cols);
    expectClose(y.data, y64, { rtol: 1e-6, atol: 1e-37 }, 'softmax of huge logits');
    expect(Number.isFinite(loss)).toBe(true);
    expectClose([loss], [crossEntropy64(y64, oneHot(ls, cols))], LOSS_TOL, 'loss of huge logits');
    // the label of row 0 is a hopeless -1e30: its loss is the book's cap -log(1e-7)
    const row0 = k.softmaxCrossEntropyForward(y.ptr, x.ptr, t.ptr, 1, cols);
    expectClose([row0], [-Math.log(DELTA)], { rtol: 1e-6 }, 'capped loss');
    for (const a of [x, t, y]) a.dispose();
  });

  it('is shift invariant: x + 1024 gives the same bits as x (the row max is subtracted first)', () => {
    const cols = 13, rows = 4;
    const xs = Float32Array.from(randomInts(rows * cols, 9, 41), (v) => v - 20);
    const x = rt.tensor([rows, cols], xs);
    const shifted = rt.tensor([rows, cols], xs.map((v) => v + 1024));
    const y = rt.tensor([rows, cols]), ys = rt.tensor([rows, cols]);
    k.softmaxForward(y.ptr, x.ptr, rows, cols);
    k.softmaxForward(ys.ptr, shifted.ptr, rows, cols);
    expectBits(ys.data, y.data, 'shifted softmax');
    for (const a of [x, shifted, y, ys]) a.dispose();
  });
});

describe('argmaxRows and countCorrect', () => {
  it('argmax takes the first of tied maxima, like np.argmax', () => {
    const cols = 6;
    const xs = [
      1, 3, 3, 2, 0, 3,
      5, 5, 5, 5, 5, 5,
      -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity,
      -1, -2, -3, -4, -5, -1,
      0, -0, 0, 0, 0, 1,
    ];
    const rows = xs.length / cols;
    const x = rt.tensor([rows, cols], xs);
    const out = rt.labels(rows);
    k.argmaxRows(out.ptr, x.ptr, rows, cols);
    expect(Array.from(out.data)).toEqual([1, 0, 0, 0, 5]);
    x.dispose(); out.dispose();
  });

  it('match a float64 argmax for every column count, also on row sub-ranges', () => {
    for (const cols of colsList) {
      const rows = 11;
      // values from a small set, so ties are common
      const xs = Float32Array.from(randomInts(rows * cols, 400 + cols, 5));
      const x = rt.tensor([rows, cols], xs);
      const expected = argmax64(xs, rows, cols);
      const out = rt.labels(rows);
      k.argmaxRows(out.ptr, x.ptr, rows, cols);
      expect(Array.from(out.data), `cols=${cols}`).toEqual(expected);
      // labels: right on even rows, wrong on odd ones (when a wrong class exists)
      const ls = expected.map((a, r) => (r % 2 === 0 || cols === 1 ? a : (a + 1) % cols));
      const t = rt.labels(rows, ls);
      const correct = ls.filter((l, r) => l === expected[r]).length;
      expect(k.countCorrect(x.ptr, t.ptr, rows, cols), `cols=${cols}`).toBe(correct);
      expect(k.countCorrect(x.ptr, t.ptr, 4, cols) + k.countCorrect(x.ptr + 4 * cols * 4, t.ptr + 16, rows - 4, cols)).toBe(correct);
      const part = rt.labels(rows);
      k.argmaxRows(part.ptr + 16, x.ptr + 4 * cols * 4, rows - 4, cols);
      expect(Array.from(part.data.subarray(4)), `rows [4, ${rows}) cols=${cols}`).toEqual(expected.slice(4));
      for (const a of [x, out, t, part]) a.dispose();
    }
  });
});

describe('softmax(x): the public entry', () => {
  it('gives each row\'s probabilities within Y_TOL of float64, the bits SoftmaxWithLoss computes, in place or not', () => {
    for (const [rows, cols] of [[1, 1], [3, 10], [7, 13], [64, 4], [5, 1000]]) {
      const xs = randomArray(rows * cols, 900 + cols, -60, 60); // logits far apart: the max is subtracted first
      const x = rt.tensor([rows, cols], xs);
      const y = softmax(x);
      expect(y.shape).toEqual([rows, cols]);
      expectClose(y.data, softmax64(xs, rows, cols), Y_TOL, `softmax ${rows}x${cols}`);
      const layer = new SoftmaxWithLoss();
      layer.forward(x, Array.from({ length: rows }, () => 0));
      expectBits(y.data, layer.y!.data, `the loss layer's y ${rows}x${cols}`);
      const out = rt.tensor([rows * cols]);
      expect(softmax(x, { out })).toBe(out);
      expectBits(out.data, y.data, 'into out');
      expect(softmax(x, { out: x })).toBe(x);
      expectBits(x.data, y.data, 'in place');
      for (const t of [x, y, out]) t.dispose();
      layer.dispose();
    }
  });

  it('takes the last axis of any shape, and an empty batch', () => {
    const xs = randomArray(2 * 3 * 5, 950, -4, 4);
    const x = rt.tensor([2, 3, 5], xs);
    const y = softmax(x);
    expect(y.shape).toEqual([2, 3, 5]);
    expectClose(y.data, softmax64(xs, 6, 5), Y_TOL, '[2, 3, 5]');
    const empty = rt.tensor([0, 10]);
    expect(softmax(empty).shape).toEqual([0, 10]);
    for (const t of [x, y, empty]) t.dispose();
  });

  it('refuses a bad x or out with an error naming it, writing nothing (canaries, out bit for bit)', async () => {
    const other = await makeRuntime({ threads: 1 });
    const canaries = new Canaries(rt, 9);
    const x = between(canaries, () => rt.tensor([4, 10], randomArray(40, 960)));
    const out = between(canaries, () => rt.tensor([4, 10], randomArray(40, 961)));
    const outBits = out.data.slice();
    const dead = rt.tensor([4, 10]);
    dead.dispose();
    const foreign = other.tensor([4, 10]);
    const labels = rt.labels([4], [1, 2, 3, 4]);
    const cases: Array<[() => unknown, RegExp]> = [
      [() => softmax([1, 2, 3] as never), /softmax: x: expected a float32 Tensor, got an Array of length 3/],
      [() => softmax(labels as never), /softmax: x: expected a float32 Tensor, got an IntTensor/],
      [() => softmax(dead), /softmax: x: tensor \[4, 10\] used after dispose\(\)/],
      [() => softmax(x, { out: foreign }), /softmax: options.out: tensor \[4, 10\] belongs to another runtime/],
      [() => softmax(x, { out: dead }), /softmax: options.out: tensor \[4, 10\] used after dispose/],
      [() => softmax(x, { out: out.view(0, [39]) }), /softmax: options.out must have x's 40 elements \(\[4, 10\]\), got \[39\]/],
      [() => softmax(x, { out: x.view(4, [36]).reshape([36]) }), /options.out must have x's 40 elements/],
      [() => softmax(out.view(0, [30]), { out: out.view(4, [30]) }), /softmax: options.out overlaps x without being x/],
      [() => softmax(x, { into: out } as never), /softmax: unknown option 'into'/],
      [() => softmax(x, null as never), /softmax: options must be an object/],
    ];
    for (const [call, message] of cases) {
      expect(call, String(message)).toThrow(message);
      expectBits(out.data, outBits, `out after ${message}`);
    }
    expect(canaries.changed()).toBe(0);
    expect(softmax(foreign).rt).toBe(other); // a free function: x's runtime does the work
    for (const t of [x, out, foreign, labels]) t.dispose();
    canaries.dispose();
    other.dispose();
  });
});

describe('target rows: probabilities, one-hot or soft', () => {
  it('evaluate() takes soft rows\' loss as loss() does (it took their argmax label\'s), and every entry refuses rows that are not probabilities', async () => {
    const { MultiLayerNet } = await import('../src/nets/multi-layer-net.js');
    const r = await makeRuntime({ seed: 2 });
    const net = new MultiLayerNet(r, { inputSize: 3, hiddenSizeList: [4], outputSize: 3 });
    const x = r.tensor([4, 3], randomArray(12, 5, -1, 1));
    const soft = r.tensor([4, 3], [0.9, 0.05, 0.05, 0.05, 0.9, 0.05, 0.1, 0.1, 0.8, 0.4, 0.3, 0.3]);
    const loss = net.loss(x, soft);
    expect(net.evaluate(x, soft).loss).toBe(loss);
    expect((await net.evaluateAsync(x, soft)).loss).toBe(loss);
    // accuracy against each row's largest: the same as with those labels
    expect(net.evaluate(x, soft).accuracy).toBe(net.accuracy(x, [0, 1, 2, 0]));
    // one-hot rows keep the label's loss, bit for bit
    const oneHot = r.tensor([4, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]);
    expect(net.evaluate(x, oneHot).loss).toBe(net.evaluate(x, [0, 1, 2, 0]).loss);
    const bad: Array<[number[], RegExp]> = [
      [[0, 0, 0], /t\[1\] sums to 0; target rows are probabilities \(one-hot or soft\), which sum to 1 \(a row of zeros names no class\)/],
      [[0, 1, 1], /t\[1\] sums to 2/],
      [[NaN, 1, 0], /t\[1\]\[0\] is NaN; target rows are probabilities/],
      [[-0.5, 1.5, 0], /t\[1\]\[0\] is -0\.5/],
      [[Infinity, 0, 0], /t\[1\]\[0\] is Infinity/],
    ];
    for (const [row, message] of bad) {
      const t = r.tensor([4, 3], [1, 0, 0, ...row, 0, 0, 1, 1, 0, 0]);
      for (const [who, call] of [
        ['SoftmaxWithLoss.forward', () => net.loss(x, t)], ['SoftmaxWithLoss.forward', () => net.gradient(x, t)],
        ['evaluate', () => net.evaluate(x, t)], ['accuracy', () => net.accuracy(x, t)],
      ] as const) expect(call, `${who} ${row}`).toThrow(new RegExp(`^${who}: ${message.source}`));
      await expect(net.evaluateAsync(x, t)).rejects.toThrow(message);
      t.dispose();
    }
    r.dispose();
  });
});
