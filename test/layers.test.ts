// Book layers: outputs against float64 references from the book's formulas,
// and numerical gradient checks.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { Affine, Relu, Sigmoid, Tanh, SoftmaxWithLoss, activation } from '../src/layers/index.js';
import * as book from './reference/book.js';
import { layerGradients, gradError, numeric } from './reference/gradcheck.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime(); });

// f32 forward math against float64: ~1e-5 relative, with an absolute floor
// for values that cancel to near zero.
const RTOL = 1e-5, ATOL = 1e-6;

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = RTOL, atol = ATOL) {
  const w = book.worst(actual, expected, rtol, atol);
  expect(w.ratio, `worst at [${w.index}]: ${actual[w.index]} vs ${expected[w.index]}`).toBeLessThanOrEqual(1);
}

describe('Affine', () => {
  const shapes: Array<[number, number, number]> = [[1, 1, 1], [3, 5, 7], [10, 33, 9], [100, 784, 100], [7, 100, 10]];
  for (const [N, D, M] of shapes) {
    it(`forward/backward match float64 for N=${N} D=${D} M=${M}`, () => {
      const x = rt.tensor([N, D], book.randomArray(N * D, 1));
      const W = rt.tensor([D, M], book.randomArray(D * M, 2, 0.1));
      const b = rt.tensor([M], book.randomArray(M, 3));
      const layer = new Affine(W, b);
      const y = layer.forward(x);
      expect(y.shape).toEqual([N, M]);
      // accumulation over D terms of size ~0.1: allow for f32 rounding growing with sqrt(D)
      expectClose(y.data, book.affine(x.data, W.data, b.data, N, D, M), 1e-5, 2e-6 * Math.sqrt(D));
      const dout = rt.tensor([N, M], book.randomArray(N * M, 4));
      const dx = layer.backward(dout);
      const ref = book.affineBackward(x.data, W.data, dout.data, N, D, M);
      expectClose(dx.data, ref.dx, 1e-5, 2e-6 * Math.sqrt(M));
      expectClose(layer.dW.data, ref.dW, 1e-5, 2e-6 * Math.sqrt(N));
      expectClose(layer.db.data, ref.db, 1e-5, 2e-6 * Math.sqrt(N));
      for (const t of [x, W, b, dout]) t.dispose();
      layer.dispose();
    });
  }

  it('flattens N-D input like the book and returns dx in the input shape', () => {
    const x = rt.tensor([2, 3, 2, 2], book.randomArray(24, 5));
    const W = rt.tensor([12, 4], book.randomArray(48, 6));
    const b = rt.tensor([4]);
    const layer = new Affine(W, b);
    const y = layer.forward(x);
    expectClose(y.data, book.affine(x.data, W.data, b.data, 2, 12, 4));
    const dx = layer.backward(rt.tensor([2, 4], book.randomArray(8, 7)));
    expect(dx.shape).toEqual([2, 3, 2, 2]);
  });

  it('passes a numerical gradient check', () => {
    const x = rt.tensor([4, 6], book.randomArray(24, 8));
    const layer = new Affine(rt.tensor([6, 5], book.randomArray(30, 9)), rt.tensor([5], book.randomArray(5, 10)));
    const { analytic, numeric: num } = layerGradients(layer, x, 1e-2);
    // Affine is linear: central differences are exact up to f32 rounding of the sums
    for (const k of ['x', 'W', 'b']) expect(gradError(analytic[k], num[k]), k).toBeLessThan(2e-3);
  });

  it('fed a view of its own older output as a ninth batch shape, keeps that output alive for the call (its buffers evict another)', () => {
    const W = rt.tensor([4, 4], book.randomArray(16, 11)), b = rt.tensor([4], book.randomArray(4, 12));
    const layer = new Affine(W, b);
    const first = layer.forward(rt.tensor([2, 4], book.randomArray(8, 13)));
    const kept = first.toArray();
    for (let n = 3; n <= 9; n++) layer.forward(rt.tensor([n, 4], book.randomArray(4 * n, n)));
    const view = first.rows(0, 1); // [1, 4]: a ninth shape, whose 'out' would evict the least recently used, first's
    const y = layer.forward(view);
    expect(view.disposed, 'the output x views is not the one evicted').toBe(false);
    expectClose(y.data, book.affine(kept.slice(0, 4), W.data, b.data, 1, 4, 4));
    layer.dispose();
  });

  it('rejects mismatched shapes with a clear message', () => {
    const W = rt.tensor([6, 5]);
    expect(() => new Affine(W, rt.tensor([4]))).toThrow(/b must have 5 elements/);
    expect(() => new Affine(rt.tensor([6]), rt.tensor([6]))).toThrow(/W must be 2-D/);
    const layer = new Affine(W, rt.tensor([5]));
    expect(() => layer.forward(rt.tensor([3, 7]))).toThrow(/W expects 6/);
    layer.forward(rt.tensor([3, 6]));
    expect(() => layer.backward(rt.tensor([3, 4]))).toThrow(/dout must be \[3, 5\]/);
  });
});

describe('activations', () => {
  const cases = [
    { name: 'relu', make: () => new Relu(), f: book.relu, back: (x: Float32Array, _y: Float32Array, d: Float32Array) => book.reluBackward(x, d) },
    { name: 'sigmoid', make: () => new Sigmoid(), f: book.sigmoid, back: (_x: Float32Array, y: Float32Array, d: Float32Array) => book.sigmoidBackward(y, d) },
    { name: 'tanh', make: () => new Tanh(), f: book.tanh, back: (_x: Float32Array, y: Float32Array, d: Float32Array) => book.tanhBackward(y, d) },
  ];
  for (const c of cases) {
    for (const n of [1, 3, 4, 5, 8, 17, 67, 1000]) {
      it(`${c.name} forward/backward match float64 (n=${n})`, () => {
        const x = rt.tensor([n], book.randomArray(n, n, 6));
        const layer = c.make();
        const y = layer.forward(x, true);
        expectClose(y.data, c.f(x.data), 2e-6, 1e-7);
        const d = rt.tensor([n], book.randomArray(n, n + 1));
        const dx = layer.backward(d);
        // backward uses the f32 output y, as the book's layers do
        expectClose(dx.data, c.back(x.data, y.data, d.data), 1e-6, 1e-7);
      });
    }
    it(`${c.name} passes a numerical gradient check`, () => {
      // keep inputs away from ReLU's kink so central differences are valid
      const v = book.randomArray(40, 11, 2).map((t) => (Math.abs(t) < 0.05 ? t + 0.1 : t));
      const { analytic, numeric: num } = layerGradients(c.make(), rt.tensor([5, 8], v), 1e-2);
      expect(gradError(analytic.x, num.x)).toBeLessThan(3e-3);
    });
  }
  it('activation() rejects unknown names', () => {
    expect(() => activation('gelu' as never)).toThrow(/expected 'relu', 'sigmoid' or 'tanh'/);
  });
});

describe('SoftmaxWithLoss', () => {
  const N = 13, C = 10;
  const labels = Array.from({ length: N }, (_, i) => (i * 7) % C);

  it('matches the book with int labels (array, Int32Array, IntTensor) and one-hot targets', () => {
    const x = rt.tensor([N, C], book.randomArray(N * C, 12, 5));
    const y64 = book.softmax(x.data, N, C);
    const t64 = book.oneHot(labels, C);
    const loss64 = book.crossEntropy(y64, t64, N, C);
    const dx64 = Float64Array.from(y64, (v, i) => (v - t64[i]) / N);
    for (const t of [labels, Int32Array.from(labels), rt.labels([N], labels), rt.tensor([N, C], t64)]) {
      const layer = new SoftmaxWithLoss();
      const loss = layer.forward(x, t);
      expect(Math.abs(loss - loss64) / loss64).toBeLessThan(1e-6);
      expectClose(layer.y!.data, y64, 1e-6, 1e-8);
      expectClose(layer.backward().data, dx64, 1e-5, 1e-8);
    }
  });

  it('handles soft targets and scales backward by dout', () => {
    const x = rt.tensor([N, C], book.randomArray(N * C, 13, 3));
    const raw = book.randomArray(N * C, 14, 0.5, 0.5);
    const soft = new Float64Array(N * C);
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let j = 0; j < C; j++) s += raw[i * C + j];
      for (let j = 0; j < C; j++) soft[i * C + j] = raw[i * C + j] / s;
    }
    const t = rt.tensor([N, C], soft);
    const layer = new SoftmaxWithLoss();
    const y64 = book.softmax(x.data, N, C);
    expect(Math.abs(layer.forward(x, t) - book.crossEntropy(y64, t.data, N, C))).toBeLessThan(1e-5);
    expectClose(layer.backward(2).data, Float64Array.from(y64, (v, i) => (2 * (v - t.data[i])) / N), 1e-5, 1e-8);
  });

  it('is stable for huge logits', () => {
    const x = rt.tensor([2, 3], [1000, 0, -1000, 88, 89, 90]);
    const layer = new SoftmaxWithLoss();
    const loss = layer.forward(x, [0, 2]);
    expect(Number.isFinite(loss)).toBe(true);
    expectClose(layer.y!.data, book.softmax(x.data, 2, 3), 1e-6, 1e-30);
  });

  it('passes a numerical gradient check', () => {
    const x = rt.tensor([4, 5], book.randomArray(20, 15, 2));
    const layer = new SoftmaxWithLoss();
    const t = [1, 4, 0, 2];
    layer.forward(x, t);
    const dx = layer.backward().toArray();
    const num = numeric(x, () => layer.forward(x, t), 1e-2);
    expect(gradError(dx, num)).toBeLessThan(5e-3);
  });

  it('rejects bad targets and non-finite input', () => {
    const x = rt.tensor([2, 3]);
    const layer = new SoftmaxWithLoss();
    expect(() => layer.forward(x, [0])).toThrow(/t must hold 2 labels/);
    expect(() => layer.forward(x, [0, 3])).toThrow(/label t\[1\] = 3 is outside \[0, 3\)/);
    expect(() => layer.forward(x, rt.tensor([2, 4]))).toThrow(/one-hot t must be \[2, 3\]/);
    expect(() => new SoftmaxWithLoss().backward()).toThrow(/call forward first/);
    x.data[1] = NaN;
    expect(() => layer.forward(x, [0, 1])).toThrow(/loss is NaN/);
  });
});
