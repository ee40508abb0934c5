// Where simdnn's defaults and constants are the book's (common/layers.py, common/functions.py,
// common/optimizer.py), at inputs where the book's choice is visible: pooling's default stride,
// the optimizers' 1e-7 added to √h (and Adam's bias correction folded into lr_t) with gradients at
// the scale of eps, batch norm's 10e-7 inside the square root with a variance at its scale, and the
// 1e-7 inside the log of cross_entropy_error for a label the softmax gives ~0.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, expectClose } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { AdaGrad, Adam, BatchNormalization, Pooling, RMSprop, SoftmaxWithLoss, type ElementwiseOptimizer } from '../src/index.js';
import * as book from './reference/book.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime(); });

describe('Pooling', () => {
  it('moves its window by the book\'s default stride, 2', () => {
    const x = rt.tensor([1, 1, 5, 5], Array.from({ length: 25 }, (_, i) => i));
    const pool2 = new Pooling(2, 2);
    expect(pool2.stride).toBe(2);
    const y2 = pool2.forward(x);
    expect(y2.shape).toEqual([1, 1, 2, 2]);
    expect([...y2.data]).toEqual([6, 8, 16, 18]);
    const pool3 = new Pooling(3, 3);
    const y3 = pool3.forward(x); // windows at rows and columns 0 and 2
    expect(y3.shape).toEqual([1, 1, 2, 2]);
    expect([...y3.data]).toEqual([12, 14, 22, 24]);
    [pool2, pool3, x].forEach((o) => o.dispose());
  });
});

describe('the optimizers\' eps (the book\'s 1e-7) where it counts: gradients of its size', () => {
  const EPS = 1e-7, N = 9, STEPS = 8;
  type State = { h: Float64Array; m: Float64Array; v: Float64Array };
  // common/optimizer.py, one step on float64 arrays; t is the new step count
  const steps: Record<string, (p: Float64Array, g: ArrayLike<number>, s: State, t: number) => void> = {
    AdaGrad: (p, g, s) => p.forEach((_, i) => {
      s.h[i] += g[i] * g[i];
      p[i] -= 0.01 * g[i] / (Math.sqrt(s.h[i]) + EPS);
    }),
    RMSprop: (p, g, s) => p.forEach((_, i) => {
      s.h[i] = s.h[i] * 0.99 + (1 - 0.99) * g[i] * g[i];
      p[i] -= 0.01 * g[i] / (Math.sqrt(s.h[i]) + EPS);
    }),
    Adam: (p, g, s, t) => {
      const lrT = 0.001 * Math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t);
      p.forEach((_, i) => {
        s.m[i] += (1 - 0.9) * (g[i] - s.m[i]);
        s.v[i] += (1 - 0.999) * (g[i] ** 2 - s.v[i]);
        p[i] -= lrT * s.m[i] / (Math.sqrt(s.v[i]) + EPS);
      });
    },
  };
  const make: Record<string, () => ElementwiseOptimizer> = { AdaGrad: () => new AdaGrad(), RMSprop: () => new RMSprop(), Adam: () => new Adam() };

  for (const name of Object.keys(steps)) {
    it(`${name} with its defaults follows the book's float64 steps`, () => {
      // from 0, so the comparison is relative to the steps themselves; a zero gradient in each step
      const p = rt.tensor([N]), g = rt.tensor([N]);
      const ref = new Float64Array(N), s: State = { h: new Float64Array(N), m: new Float64Array(N), v: new Float64Array(N) };
      const opt = make[name]();
      for (let t = 1; t <= STEPS; t++) {
        const gt = book.randomArray(N, 40 + t, 3e-7);
        gt[t % N] = 0;
        g.set(gt);
        opt.update({ p }, { p: g });
        steps[name](ref, gt, s, t);
        // float32 steps: a few roundings each; the other placements of eps, or PyTorch's Adam, are off by 10% and more
        expectClose(p.data, ref, { rtol: 1e-5, atol: 1e-12 }, `${name} step ${t}`);
      }
      opt.dispose();
      p.dispose();
      g.dispose();
    });
  }
});

describe('BatchNormalization\'s eps (the book\'s 10e-7) inside the square root, with a variance of its size', () => {
  it('trains and infers as the book, from zero running statistics', () => {
    const N = 8, D = 5;
    const xv = book.randomArray(N * D, 51, 1e-3); // variance ~3e-7
    const gv = book.randomArray(D, 52, 0.5, 1), bv = book.randomArray(D, 53);
    const gamma = rt.tensor([D], gv), beta = rt.tensor([D], bv), x = rt.tensor([N, D], xv);
    const layer = new BatchNormalization(gamma, beta);
    const ref = book.batchNormTrain(xv, N, D, gv, bv);
    expectClose(layer.forward(x, true).data, ref.y, { rtol: 1e-4, atol: 1e-6 }, 'training y');
    // running statistics: 0.9·0 + 0.1·batch's; inference: (x − μ_run) / √(σ²_run + 10e-7)
    const infer = Float64Array.from(xv, (v, o) => {
      const j = o % D;
      return (gv[j] * (v - 0.1 * ref.mean[j])) / Math.sqrt(0.1 * ref.variance[j] + 10e-7) + bv[j];
    });
    expectClose(layer.forward(x, false).data, infer, { rtol: 1e-4, atol: 1e-6 }, 'inference y');
    layer.dispose();
    [gamma, beta, x].forEach((t) => t.dispose());
  });
});

describe('SoftmaxWithLoss: the book\'s 1e-7 inside the log', () => {
  it('a label the softmax gives ~1e-22 costs −log(1e-7), with labels and with one-hot rows', () => {
    const N = 2, C = 3;
    const x = rt.tensor([N, C], [0, -50, 0, 3, 1, 2]);
    const labels = [1, 0];
    const t = book.oneHot(labels, C);
    const expected = book.crossEntropy(book.softmax(x.data, N, C), t, N, C); // (16.118 + 0.408) / 2
    const oneHot = rt.tensor([N, C], t);
    for (const targets of [labels, oneHot]) {
      const layer = new SoftmaxWithLoss();
      expect(Math.abs(layer.forward(x, targets) / expected - 1)).toBeLessThan(1e-6);
      layer.dispose();
    }
    [x, oneHot].forEach((o) => o.dispose());
  });
});
