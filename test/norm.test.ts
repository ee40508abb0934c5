// assembly/norm.ts and the normalisation layers: every kernel against its
// scalar Ref over lengths around each multiple of the vector width (features
// for batch and layer norm, H·W for the spatial forms), sub-range calls giving
// the bits of whole calls, BatchNormalization against a float64 reference
// written from the book's formulas (training steps with running statistics,
// then inference), Layer/InstanceNormalization against float64 formulas, and
// numerical gradient checks of all three.
import { describe, it, expect, beforeAll } from 'vitest';
import type { TestKernels } from '../build/test/kernels-test.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { BatchNormalization, LayerNormalization, InstanceNormalization } from '../src/layers/index.js';
import { makeTestRuntime, lengths, randomArray, expectClose, expectBits, type TestRuntime } from './helpers/runtime.js';
import { layerGradients, gradError } from './reference/gradcheck.js';

let rt: TestRuntime;
let k: TestKernels;
beforeAll(async () => {
  rt = await makeTestRuntime();
  k = rt.unsafeKernels;
});

const SENTINEL = 12345.5;

/**
 * Runs `call` on fresh buffers: a number in `spec` is an output of that many
 * floats, an array an input (or in-out) holding those values. Each buffer has
 * 4 sentinels after it, checked afterwards. Returns every buffer's values.
 */
function run(spec: Record<string, number | Float32Array>, call: (p: Record<string, number>) => void): Record<string, Float32Array> {
  const bufs: Record<string, { t: Tensor; n: number }> = {};
  for (const [name, v] of Object.entries(spec)) {
    const n = typeof v === 'number' ? v : v.length;
    const t = rt.tensor([n + 4]);
    t.data.fill(SENTINEL);
    if (typeof v !== 'number') t.data.set(v);
    bufs[name] = { t, n };
  }
  call(Object.fromEntries(Object.entries(bufs).map(([name, b]) => [name, b.t.ptr])));
  const out: Record<string, Float32Array> = {};
  for (const [name, { t, n }] of Object.entries(bufs)) {
    expect(Array.from(t.data.subarray(n)), `${name}: wrote past element ${n}`).toEqual([SENTINEL, SENTINEL, SENTINEL, SENTINEL]);
    out[name] = t.data.slice(0, n);
    t.dispose();
  }
  return out;
}

/** Kernel against Ref: every buffer within the tolerance. */
function expectSame(a: Record<string, Float32Array>, b: Record<string, Float32Array>, tol: { rtol: number; atol: number }, what: string): void {
  for (const name of Object.keys(a)) expectClose(a[name], b[name], tol, `${what}: ${name}`);
}

// f32 kernels against f64-accumulating Refs: measured worst errors are 2 ulp
// relative on O(1) values and 5e-7 absolute where outputs cancel to near 0
// (xn near 0 in forward, dy - correction in backward).
const STATS = { rtol: 2e-6, atol: 1e-6 };
const GRADS = { rtol: 2e-6, atol: 2e-6 };
const EPS = 1e-6;

describe('batch norm kernels, [N, D]: SIMD across features vs Ref', () => {
  const R = 6;
  it.each(lengths)('D = %i', (D) => {
    const x = randomArray(R * D, D + 1, 1, 5);
    const stats = {
      mean: D, invStd: D, runningMean: randomArray(D, 2, -1, 1), runningVar: randomArray(D, 3, 0.5, 2), x,
    };
    const s1 = run(stats, (p) => k.batchNormStats(p.mean, p.invStd, p.runningMean, p.runningVar, p.x, R, D, D, 0.9, EPS));
    const s0 = run(stats, (p) => k.batchNormStatsRef(p.mean, p.invStd, p.runningMean, p.runningVar, p.x, R, D, D, 0.9, EPS));
    expectSame(s1, s0, STATS, 'batchNormStats');

    const common = { x, mean: s0.mean, invStd: s0.invStd, gamma: randomArray(D, 4, 0.5, 1.5) };
    const fwd = { ...common, y: R * D, beta: randomArray(D, 5) };
    const f1 = run(fwd, (p) => k.batchNormForward(p.y, p.x, p.mean, p.invStd, p.gamma, p.beta, R, D, D));
    const f0 = run(fwd, (p) => k.batchNormForwardRef(p.y, p.x, p.mean, p.invStd, p.gamma, p.beta, R, D, D));
    expectSame(f1, f0, STATS, 'batchNormForward');

    for (const frozen of [0, 1]) {
      const bwd = { ...common, dx: R * D, dgamma: D, dbeta: D, dy: randomArray(R * D, 6) };
      const b1 = run(bwd, (p) => k.batchNormBackward(p.dx, p.dgamma, p.dbeta, p.dy, p.x, p.mean, p.invStd, p.gamma, R, D, D, frozen));
      const b0 = run(bwd, (p) => k.batchNormBackwardRef(p.dx, p.dgamma, p.dbeta, p.dy, p.x, p.mean, p.invStd, p.gamma, R, D, D, frozen));
      expectSame(b1, b0, GRADS, `batchNormBackward frozen=${frozen}`);
    }

    const inv = { invStd: D, variance: randomArray(D, 7, 0, 3) };
    const i1 = run(inv, (p) => k.batchNormInvStd(p.invStd, p.variance, D, EPS));
    const i0 = run(inv, (p) => k.batchNormInvStdRef(p.invStd, p.variance, D, EPS));
    expectClose(i1.invStd, i0.invStd, { rtol: 2 ** -22 }, 'batchNormInvStd');
  });
});

describe('batch norm kernels, spatial [N, C, H·W]: SIMD across H·W vs Ref', () => {
  const N = 3, C = 2;
  it.each(lengths)('H·W = %i', (S) => {
    const x = randomArray(N * C * S, S + 11, -2, 4);
    const stats = {
      mean: C, invStd: C, runningMean: randomArray(C, 12, -1, 1), runningVar: randomArray(C, 13, 0.5, 2), x,
    };
    const s1 = run(stats, (p) => k.batchNormSpatialStats(p.mean, p.invStd, p.runningMean, p.runningVar, p.x, N, C, S, C * S, 0.9, EPS));
    const s0 = run(stats, (p) => k.batchNormSpatialStatsRef(p.mean, p.invStd, p.runningMean, p.runningVar, p.x, N, C, S, C * S, 0.9, EPS));
    expectSame(s1, s0, STATS, 'batchNormSpatialStats');

    const common = { x, mean: s0.mean, invStd: s0.invStd, gamma: randomArray(C, 14, 0.5, 1.5) };
    const fwd = { ...common, y: N * C * S, beta: randomArray(C, 15) };
    const f1 = run(fwd, (p) => k.batchNormSpatialForward(p.y, p.x, p.mean, p.invStd, p.gamma, p.beta, N, C, S, C * S));
    const f0 = run(fwd, (p) => k.batchNormSpatialForwardRef(p.y, p.x, p.mean, p.invStd, p.gamma, p.beta, N, C, S, C * S));
    expectSame(f1, f0, STATS, 'batchNormSpatialForward');

    for (const frozen of [0, 1]) {
      const bwd = { ...common, dx: N * C * S, dgamma: C, dbeta: C, dy: randomArray(N * C * S, 16) };
      const b1 = run(bwd, (p) => k.batchNormSpatialBackward(p.dx, p.dgamma, p.dbeta, p.dy, p.x, p.mean, p.invStd, p.gamma, N, C, S, C * S, frozen));
      const b0 = run(bwd, (p) => k.batchNormSpatialBackwardRef(p.dx, p.dgamma, p.dbeta, p.dy, p.x, p.mean, p.invStd, p.gamma, N, C, S, C * S, frozen));
      expectSame(b1, b0, GRADS, `batchNormSpatialBackward frozen=${frozen}`);
    }
  });
});

describe('layer norm kernels: SIMD across features vs Ref', () => {
  const R = 3;
  it.each(lengths)('features = %i', (F) => {
    const x = randomArray(R * F, F + 21, -1, 3);
    const gamma = randomArray(F, 22, 0.5, 1.5);
    const fwd = { y: R * F, mean: R, invStd: R, x, gamma, beta: randomArray(F, 23) };
    const f1 = run(fwd, (p) => k.layerNormForward(p.y, p.mean, p.invStd, p.x, p.gamma, p.beta, R, F, 1e-5));
    const f0 = run(fwd, (p) => k.layerNormForwardRef(p.y, p.mean, p.invStd, p.x, p.gamma, p.beta, R, F, 1e-5));
    expectSame(f1, f0, STATS, 'layerNormForward');

    // dgamma/dbeta start non-zero: the kernels accumulate into them
    const bwd = { dx: R * F, dgamma: randomArray(F, 24), dbeta: randomArray(F, 25), dy: randomArray(R * F, 26), x, mean: f0.mean, invStd: f0.invStd, gamma };
    const b1 = run(bwd, (p) => k.layerNormBackward(p.dx, p.dgamma, p.dbeta, p.dy, p.x, p.mean, p.invStd, p.gamma, R, F));
    const b0 = run(bwd, (p) => k.layerNormBackwardRef(p.dx, p.dgamma, p.dbeta, p.dy, p.x, p.mean, p.invStd, p.gamma, R, F));
    expectSame(b1, b0, GRADS, 'layerNormBackward');
  });
});

describe('instance norm kernels: SIMD across H·W vs Ref', () => {
  const N = 2, C = 3;
  it.each(lengths)('H·W = %i', (S) => {
    const x = randomArray(N * C * S, S + 31, -1, 3);
    const gamma = randomArray(C, 32, 0.5, 1.5);
    const fwd = { y: N * C * S, mean: N * C, invStd: N * C, x, gamma, beta: randomArray(C, 33) };
    const f1 = run(fwd, (p) => k.instanceNormForward(p.y, p.mean, p.invStd, p.x, p.gamma, p.beta, N, C, S, 1e-5));
    const f0 = run(fwd, (p) => k.instanceNormForwardRef(p.y, p.mean, p.invStd, p.x, p.gamma, p.beta, N, C, S, 1e-5));
    expectSame(f1, f0, STATS, 'instanceNormForward');

    const bwd = { dx: N * C * S, dgamma: randomArray(C, 34), dbeta: randomArray(C, 35), dy: randomArray(N * C * S, 36), x, mean: f0.mean, invStd: f0.invStd, gamma };
    const b1 = run(bwd, (p) => k.instanceNormBackward(p.dx, p.dgamma, p.dbeta, p.dy, p.x, p.mean, p.invStd, p.gamma, N, C, S));
    const b0 = run(bwd, (p) => k.instanceNormBackwardRef(p.dx, p.dgamma, p.dbeta, p.dy, p.x, p.mean, p.invStd, p.gamma, N, C, S));
    expectSame(b1, b0, GRADS, 'instanceNormBackward');
  });
});

describe('sub-range calls give the bits of one call', () => {
  /** Buffers as tensors, filled from the arrays (numbers: zero-filled outputs). */
  function tensors(spec: Record<string, number | Float32Array>): Record<string, Tensor> {
    return Object.fromEntries(Object.entries(spec).map(([name, v]) => [name, typeof v === 'number' ? rt.tensor([v]) : rt.tensor([v.length], v)]));
  }
  function expectAllBits(a: Record<string, Tensor>, b: Record<string, Tensor>): void {
    for (const name of Object.keys(a)) expectBits(a[name].toArray(), b[name].toArray(), name);
  }

  it('batch norm [N, D] split by features (5 | 18: a vector tail becomes a scalar tail)', () => {
    const N = 7, D = 23, cut = 5;
    const spec = {
      mean: D, invStd: D, runningMean: randomArray(D, 41), runningVar: randomArray(D, 42, 0.5, 2), x: randomArray(N * D, 43, -1, 3),
      y: N * D, gamma: randomArray(D, 44, 0.5, 1.5), beta: randomArray(D, 45), dy: randomArray(N * D, 46), dx: N * D, dgamma: D, dbeta: D,
    };
    const whole = tensors(spec), split = tensors(spec);
    const step = (b: Record<string, Tensor>, f0: number, cols: number) => {
      const pf = (t: Tensor) => t.ptr + 4 * f0;
      k.batchNormStats(pf(b.mean), pf(b.invStd), pf(b.runningMean), pf(b.runningVar), pf(b.x), N, cols, D, 0.9, EPS);
      k.batchNormForward(pf(b.y), pf(b.x), pf(b.mean), pf(b.invStd), pf(b.gamma), pf(b.beta), N, cols, D);
      k.batchNormBackward(pf(b.dx), pf(b.dgamma), pf(b.dbeta), pf(b.dy), pf(b.x), pf(b.mean), pf(b.invStd), pf(b.gamma), N, cols, D, 0);
    };
    step(whole, 0, D);
    step(split, 0, cut);
    step(split, cut, D - cut);
    expectAllBits(split, whole);
  });

  it('batch norm spatial split by channels', () => {
    const N = 3, C = 5, S = 9, cut = 2;
    const spec = {
      mean: C, invStd: C, runningMean: randomArray(C, 51), runningVar: randomArray(C, 52, 0.5, 2), x: randomArray(N * C * S, 53, -1, 3),
      y: N * C * S, gamma: randomArray(C, 54, 0.5, 1.5), beta: randomArray(C, 55), dy: randomArray(N * C * S, 56), dx: N * C * S, dgamma: C, dbeta: C,
    };
    const whole = tensors(spec), split = tensors(spec);
    const step = (b: Record<string, Tensor>, c0: number, channels: number) => {
      const pc = (t: Tensor) => t.ptr + 4 * c0;          // per-channel arrays
      const px = (t: Tensor) => t.ptr + 4 * c0 * S;      // data: the channel's plane in sample 0
      k.batchNormSpatialStats(pc(b.mean), pc(b.invStd), pc(b.runningMean), pc(b.runningVar), px(b.x), N, channels, S, C * S, 0.9, EPS);
      k.batchNormSpatialForward(px(b.y), px(b.x), pc(b.mean), pc(b.invStd), pc(b.gamma), pc(b.beta), N, channels, S, C * S);
      k.batchNormSpatialBackward(px(b.dx), pc(b.dgamma), pc(b.dbeta), px(b.dy), px(b.x), pc(b.mean), pc(b.invStd), pc(b.gamma), N, channels, S, C * S, 0);
    };
    step(whole, 0, C);
    step(split, 0, cut);
    step(split, cut, C - cut);
    expectAllBits(split, whole);
  });

  it('layer norm split by samples (dgamma/dbeta accumulate in sample order)', () => {
    const N = 5, F = 13, cut = 2;
    const spec = {
      y: N * F, mean: N, invStd: N, x: randomArray(N * F, 61, -1, 3), gamma: randomArray(F, 62, 0.5, 1.5), beta: randomArray(F, 63),
      dx: N * F, dgamma: F, dbeta: F, dy: randomArray(N * F, 64),
    };
    const whole = tensors(spec), split = tensors(spec);
    const step = (b: Record<string, Tensor>, r0: number, rows: number) => {
      const pr = (t: Tensor) => t.ptr + 4 * r0 * F;
      const ps = (t: Tensor) => t.ptr + 4 * r0;
      k.layerNormForward(pr(b.y), ps(b.mean), ps(b.invStd), pr(b.x), b.gamma.ptr, b.beta.ptr, rows, F, 1e-5);
      k.layerNormBackward(pr(b.dx), b.dgamma.ptr, b.dbeta.ptr, pr(b.dy), pr(b.x), ps(b.mean), ps(b.invStd), b.gamma.ptr, rows, F);
    };
    step(whole, 0, N);
    step(split, 0, cut);
    step(split, cut, N - cut);
    expectAllBits(split, whole);
  });

  it('instance norm split by samples', () => {
    const N = 4, C = 3, S = 10, cut = 1;
    const spec = {
      y: N * C * S, mean: N * C, invStd: N * C, x: randomArray(N * C * S, 71, -1, 3), gamma: randomArray(C, 72, 0.5, 1.5), beta: randomArray(C, 73),
      dx: N * C * S, dgamma: C, dbeta: C, dy: randomArray(N * C * S, 74),
    };
    const whole = tensors(spec), split = tensors(spec);
    const step = (b: Record<string, Tensor>, n0: number, batch: number) => {
      const pd = (t: Tensor) => t.ptr + 4 * n0 * C * S;
      const ps = (t: Tensor) => t.ptr + 4 * n0 * C;
      k.instanceNormForward(pd(b.y), ps(b.mean), ps(b.invStd), pd(b.x), b.gamma.ptr, b.beta.ptr, batch, C, S, 1e-5);
      k.instanceNormBackward(pd(b.dx), b.dgamma.ptr, b.dbeta.ptr, pd(b.dy), pd(b.x), ps(b.mean), ps(b.invStd), b.gamma.ptr, batch, C, S);
    };
    step(whole, 0, N);
    step(split, 0, cut);
    step(split, cut, N - cut);
    expectAllBits(split, whole);
  });
});

// ---- float64 references from the book's common/layers.py BatchNormalization

interface BookBN { runningMean: Float64Array; runningVar: Float64Array; xc?: Float64Array; xn?: Float64Array; std?: Float64Array }

/** The book's __forward on [N, D] (updates bn's running statistics in training mode). */
function bookBNForward(bn: BookBN, x: ArrayLike<number>, N: number, D: number, gamma: ArrayLike<number>, beta: ArrayLike<number>, train: boolean, momentum = 0.9): Float64Array {
  const out = new Float64Array(N * D);
  const xc = new Float64Array(N * D), xn = new Float64Array(N * D), std = new Float64Array(D);
  for (let j = 0; j < D; j++) {
    let mu: number, sd: number;
    if (train) {
      mu = 0;
      for (let i = 0; i < N; i++) mu += x[i * D + j];
      mu /= N;
      let v = 0;
      for (let i = 0; i < N; i++) v += (x[i * D + j] - mu) ** 2;
      v /= N;
      sd = Math.sqrt(v + 10e-7);
      bn.runningMean[j] = momentum * bn.runningMean[j] + (1 - momentum) * mu;
      bn.runningVar[j] = momentum * bn.runningVar[j] + (1 - momentum) * v;
    } else {
      mu = bn.runningMean[j];
      sd = Math.sqrt(bn.runningVar[j] + 10e-7);
    }
    std[j] = sd;
    for (let i = 0; i < N; i++) {
      const o = i * D + j;
      xc[o] = x[o] - mu;
      xn[o] = xc[o] / sd;
      out[o] = gamma[j] * xn[o] + beta[j];
    }
  }
  Object.assign(bn, { xc, xn, std });
  return out;
}

/** The book's __backward (training mode): dxn, dxc, dstd, dvar, dmu. */
function bookBNBackward(bn: BookBN, dout: ArrayLike<number>, N: number, D: number, gamma: ArrayLike<number>) {
  const { xc, xn, std } = bn as Required<BookBN>;
  const dx = new Float64Array(N * D), dgamma = new Float64Array(D), dbeta = new Float64Array(D);
  for (let j = 0; j < D; j++) {
    let dstd = 0;
    for (let i = 0; i < N; i++) {
      const o = i * D + j;
      dbeta[j] += dout[o];
      dgamma[j] += xn[o] * dout[o];
      dstd -= (gamma[j] * dout[o] * xc[o]) / (std[j] * std[j]);
    }
    const dvar = (0.5 * dstd) / std[j];
    const dxc = new Float64Array(N);
    let dmu = 0;
    for (let i = 0; i < N; i++) {
      const o = i * D + j;
      dxc[i] = (gamma[j] * dout[o]) / std[j] + (2 / N) * xc[o] * dvar;
      dmu += dxc[i];
    }
    for (let i = 0; i < N; i++) dx[i * D + j] = dxc[i] - dmu / N;
  }
  return { dx, dgamma, dbeta };
}

/** [N, C, S] -> [N·S, C] and back: the spatial form is the book's on the transposed data. */
function toRows(x: ArrayLike<number>, N: number, C: number, S: number): Float64Array {
  const out = new Float64Array(N * C * S);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) out[(n * S + s) * C + c] = x[(n * C + c) * S + s];
  return out;
}
function fromRows(r: ArrayLike<number>, N: number, C: number, S: number): Float64Array {
  const out = new Float64Array(N * C * S);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) out[(n * C + c) * S + s] = r[(n * S + s) * C + c];
  return out;
}

// Layer results against float64: y, dx, dgamma, dbeta are O(1) sums of f32
// terms (measured worst: 3.4e-7 absolute).
const LAYER = { rtol: 2e-6, atol: 2e-6 };

describe('BatchNormalization against the book (float64)', () => {
  const cases = [
    { name: '2-D [8, 10]', shape: [8, 10], spatial: false },
    { name: '4-D [4, 2, 3, 3] flattened as the book does', shape: [4, 2, 3, 3], spatial: false },
    { name: '4-D [4, 3, 5, 5] spatial (per channel)', shape: [4, 3, 5, 5], spatial: true },
  ];
  for (const c of cases) {
    it(`${c.name}: two training steps, backward, then inference and its backward`, () => {
      const N = c.shape[0];
      const size = c.shape.reduce((a, b) => a * b, 1);
      const C = c.spatial ? c.shape[1] : size / N;
      const S = c.spatial ? size / (N * C) : 1;
      // in the book's layout: rows of C features
      const rows = (v: ArrayLike<number>) => (c.spatial ? toRows(v, N, C, S) : Float64Array.from(v));
      const back = (v: ArrayLike<number>) => (c.spatial ? fromRows(v, N, C, S) : v);
      const gammaV = randomArray(C, 81, 0.5, 1.5), betaV = randomArray(C, 82);
      const gamma = rt.tensor([C], gammaV), beta = rt.tensor([C], betaV);
      const layer = new BatchNormalization(gamma, beta, 0.9, { spatial: c.spatial });
      const book: BookBN = { runningMean: new Float64Array(C), runningVar: new Float64Array(C) };
      for (const [step, seed] of [[1, 83], [2, 84]]) {
        const xv = randomArray(size, seed, -1, 3);
        const x = rt.tensor(c.shape, xv);
        const y = layer.forward(x, true);
        const ref = back(bookBNForward(book, rows(xv), N * S, C, gammaV, betaV, true));
        expectClose(y.data, ref, LAYER, `step ${step}: y`);
        expectClose(layer.runningMean.data, book.runningMean, STATS, `step ${step}: runningMean`);
        expectClose(layer.runningVar.data, book.runningVar, STATS, `step ${step}: runningVar`);
      }
      const doutV = randomArray(size, 85);
      const dx = layer.backward(rt.tensor(c.shape, doutV));
      const g = bookBNBackward(book, rows(doutV), N * S, C, gammaV);
      expectClose(dx.data, back(g.dx), LAYER, 'dx');
      expectClose(layer.dgamma.data, g.dgamma, LAYER, 'dgamma');
      expectClose(layer.dbeta.data, g.dbeta, LAYER, 'dbeta');
      expect(layer.grads.gamma).toBe(layer.dgamma);

      // inference: the running statistics, which it leaves alone
      const rm = layer.runningMean.toArray(), rv = layer.runningVar.toArray();
      const xv = randomArray(size, 86, -1, 3);
      const y = layer.forward(rt.tensor(c.shape, xv), false);
      expectClose(y.data, back(bookBNForward(book, rows(xv), N * S, C, gammaV, betaV, false)), LAYER, 'inference y');
      expectBits(layer.runningMean.toArray(), rm, 'runningMean after inference');
      expectBits(layer.runningVar.toArray(), rv, 'runningVar after inference');
      // inference backward: the statistics are constants, dx = gamma · dout / std
      const dxi = layer.backward(rt.tensor(c.shape, doutV));
      const dr = rows(doutV), xn = book.xn!;
      const dxRef = dr.map((d, o) => (gammaV[o % C] * d) / book.std![o % C]);
      const dgRef = new Float64Array(C), dbRef = new Float64Array(C);
      dr.forEach((d, o) => { dgRef[o % C] += d * xn[o]; dbRef[o % C] += d; });
      expectClose(dxi.data, back(dxRef), LAYER, 'inference dx');
      expectClose(layer.dgamma.data, dgRef, LAYER, 'inference dgamma');
      expectClose(layer.dbeta.data, dbRef, LAYER, 'inference dbeta');
      layer.dispose();
    });
  }

  it('starts from given running statistics and keeps its own eps', () => {
    const C = 4;
    const layer = new BatchNormalization(rt.tensor([C], [1, 2, 3, 4]), rt.tensor([C]), 0.5, {
      runningMean: rt.tensor([C], [1, 1, 1, 1]), runningVar: rt.tensor([C], [4, 4, 4, 4]), eps: 0.5,
    });
    const y = layer.forward(rt.tensor([1, C], [3, 3, 3, 3]), false);
    // gamma · (3 - 1) / sqrt(4 + 0.5)
    expectClose(y.data, [1, 2, 3, 4].map((g) => (g * 2) / Math.sqrt(4.5)), STATS, 'y');
    layer.forward(rt.tensor([2, C], [0, 0, 0, 0, 2, 2, 2, 2]), true);
    expectClose(layer.runningMean.data, [1, 1, 1, 1], STATS, 'runningMean: 0.5 · 1 + 0.5 · 1');
    expectClose(layer.runningVar.data, [2.5, 2.5, 2.5, 2.5], STATS, 'runningVar: 0.5 · 4 + 0.5 · 1');
  });

  it('exposes params, grads and state by the book\'s names', () => {
    const gamma = rt.tensor([3]), beta = rt.tensor([3]);
    const layer = new BatchNormalization(gamma, beta);
    expect(layer.params).toEqual({ gamma, beta });
    expect(layer.grads).toEqual({ gamma: layer.dgamma, beta: layer.dbeta });
    expect(layer.state).toEqual({ runningMean: layer.runningMean, runningVar: layer.runningVar });
    expect([...layer.runningMean.data, ...layer.runningVar.data]).toEqual([0, 0, 0, 0, 0, 0]);
    expect([layer.momentum, layer.eps, layer.spatial]).toEqual([0.9, 1e-6, false]);
  });

  it('rejects bad arguments with clear errors', () => {
    const g = rt.tensor([3]), b = rt.tensor([3]);
    expect(() => new BatchNormalization(g, b, 0.9, { bogus: 1 } as never)).toThrow(/unknown option 'bogus'/);
    expect(() => new BatchNormalization(g, b, 0.9, { spatial: 'yes' } as never)).toThrow(/^BatchNormalization: options\.spatial must be true or false, got the string "yes"$/);
    expect(() => new BatchNormalization(g, b, 1.5)).toThrow(/momentum must be in \[0, 1\], got 1.5/);
    expect(() => new BatchNormalization(g, b, 0.9, { eps: 0 })).toThrow(/eps must be a positive number/);
    // 1e-46 is 0 in float32: a constant feature's output was NaN
    expect(() => new BatchNormalization(g, b, 0.9, { eps: 1e-46 })).toThrow(/^BatchNormalization: eps must be a positive number a float32 holds, got 1e-46$/);
    expect(() => new LayerNormalization(g, b, { eps: 1e-46 })).toThrow(/^LayerNormalization: eps must be a positive number a float32 holds, got 1e-46$/);
    const perChannel = new BatchNormalization(g, b, 0.9, { spatial: true });
    // no value a channel: the running statistics became 0/0 = NaN for good
    expect(() => perChannel.forward(rt.tensor([2, 3, 0, 4]))).toThrow(/^BatchNormalization\.forward: training mode needs at least one value a feature, got x \[2, 3, 0, 4\]$/);
    expect(perChannel.runningVar.data.every((v) => Number.isFinite(v))).toBe(true);
    perChannel.dispose();
    expect(() => new BatchNormalization(g, rt.tensor([2]))).toThrow(/beta must have 3 elements like gamma/);
    expect(() => new BatchNormalization(g, b, 0.9, { runningVar: rt.tensor([4]) })).toThrow(/runningVar must have 3 elements/);
    const layer = new BatchNormalization(g, b);
    expect(() => layer.backward(rt.tensor([2, 3]))).toThrow(/call forward first/);
    expect(() => layer.forward(rt.tensor([2, 4]))).toThrow(/flatten to 3 features per sample/);
    expect(() => layer.forward(rt.tensor([0, 3]), true)).toThrow(/at least one value a feature, got x \[0, 3\]/);
    layer.forward(rt.tensor([2, 3], [1, 2, 3, 4, 5, 6]));
    expect(() => layer.backward(rt.tensor([3, 3]))).toThrow(/dout must be \[2, 3\]/);
    const spatial = new BatchNormalization(g, b, 0.9, { spatial: true });
    expect(() => spatial.forward(rt.tensor([2, 4, 2, 2]))).toThrow(/spatial form needs x of shape \[N, 3, H, W\]/);
  });
});

/** Float64 layer/instance norm forward: rows of `len` values, gamma/beta indexed by `param(row, i)`. */
function normRows(x: ArrayLike<number>, rows: number, len: number, eps: number, param: (row: number, i: number) => number, gamma: ArrayLike<number>, beta: ArrayLike<number>): Float64Array {
  const y = new Float64Array(rows * len);
  for (let r = 0; r < rows; r++) {
    let mu = 0;
    for (let i = 0; i < len; i++) mu += x[r * len + i];
    mu /= len;
    let v = 0;
    for (let i = 0; i < len; i++) v += (x[r * len + i] - mu) ** 2;
    v /= len;
    for (let i = 0; i < len; i++) {
      const p = param(r, i);
      y[r * len + i] = (gamma[p] * (x[r * len + i] - mu)) / Math.sqrt(v + eps) + beta[p];
    }
  }
  return y;
}

describe('LayerNormalization and InstanceNormalization against float64', () => {
  it('LayerNormalization normalises each sample over all its features (2-D and 4-D)', () => {
    for (const shape of [[5, 12], [3, 2, 3, 4]]) {
      const N = shape[0], size = shape.reduce((a, b) => a * b, 1), F = size / N;
      const gv = randomArray(F, 91, 0.5, 1.5), bv = randomArray(F, 92), xv = randomArray(size, 93, -1, 3);
      const layer = new LayerNormalization(rt.tensor([F], gv), rt.tensor([F], bv));
      const y = layer.forward(rt.tensor(shape, xv));
      expect(y.shape).toEqual(shape);
      expectClose(y.data, normRows(xv, N, F, 1e-5, (_r, i) => i, gv, bv), LAYER, `y ${shape}`);
      layer.dispose();
    }
  });

  it('InstanceNormalization normalises each (sample, channel) plane', () => {
    const [N, C, H, W] = [3, 4, 5, 3];
    const gv = randomArray(C, 94, 0.5, 1.5), bv = randomArray(C, 95), xv = randomArray(N * C * H * W, 96, -1, 3);
    const layer = new InstanceNormalization(rt.tensor([C], gv), rt.tensor([C], bv), { eps: 1e-3 });
    const y = layer.forward(rt.tensor([N, C, H, W], xv));
    expectClose(y.data, normRows(xv, N * C, H * W, 1e-3, (r) => r % C, gv, bv), LAYER, 'y');
    layer.dispose();
  });

  it('reject bad arguments with clear errors', () => {
    const g = rt.tensor([4]), b = rt.tensor([4]);
    expect(() => new LayerNormalization(g, b, { momentum: 1 } as never)).toThrow(/LayerNormalization: unknown option 'momentum'/);
    expect(() => new InstanceNormalization(g, b, { eps: -1 })).toThrow(/InstanceNormalization: eps must be a positive number/);
    expect(() => new LayerNormalization(g, rt.tensor([3]))).toThrow(/beta must have 4 elements like gamma/);
    expect(() => new LayerNormalization(g, b).forward(rt.tensor([2, 5]))).toThrow(/flatten to 4 features per sample/);
    expect(() => new InstanceNormalization(g, b).forward(rt.tensor([2, 4, 3]))).toThrow(/must be \[N, 4, H, W\]/);
    expect(() => new InstanceNormalization(g, b).backward(rt.tensor([2, 4, 1, 1]))).toThrow(/call forward first/);
  });
});

// Central differences of L = Σ g ⊙ y (float64 sum over f32 forwards), h = 1e-2:
// f32 rounding of L divided by h, plus O(h²) truncation; measured worst 4.4e-5.
const H = 1e-2;
const GRAD_BOUND = 2e-4;

describe('numerical gradient checks', () => {
  const cases: Array<{ name: string; make: () => { layer: BatchNormalization | LayerNormalization | InstanceNormalization; shape: number[] }; train: boolean }> = [
    { name: 'BatchNormalization 2-D, training', train: true, make: () => ({ layer: bn(6, false), shape: [5, 6] }) },
    { name: 'BatchNormalization 2-D, inference', train: false, make: () => ({ layer: bn(6, false, true), shape: [5, 6] }) },
    { name: 'BatchNormalization 4-D flattened, training', train: true, make: () => ({ layer: bn(12, false), shape: [4, 3, 2, 2] }) },
    { name: 'BatchNormalization 4-D spatial, training', train: true, make: () => ({ layer: bn(3, true), shape: [3, 3, 2, 3] }) },
    { name: 'BatchNormalization 4-D spatial, inference', train: false, make: () => ({ layer: bn(3, true, true), shape: [3, 3, 2, 3] }) },
    { name: 'LayerNormalization 2-D', train: true, make: () => ({ layer: new LayerNormalization(param(7, 101, 0.5, 1.5), param(7, 102)), shape: [4, 7] }) },
    { name: 'LayerNormalization 4-D', train: true, make: () => ({ layer: new LayerNormalization(param(12, 103, 0.5, 1.5), param(12, 104)), shape: [3, 3, 2, 2] }) },
    { name: 'InstanceNormalization 4-D', train: true, make: () => ({ layer: new InstanceNormalization(param(3, 105, 0.5, 1.5), param(3, 106)), shape: [2, 3, 3, 3] }) },
  ];
  function param(n: number, seed: number, lo = -1, hi = 1): Tensor {
    return rt.tensor([n], randomArray(n, seed, lo, hi));
  }
  /** Inference-mode cases get non-trivial running statistics. */
  function bn(C: number, spatial: boolean, withRunning = false): BatchNormalization {
    return new BatchNormalization(param(C, 107, 0.5, 1.5), param(C, 108), 0.9, {
      spatial, ...(withRunning ? { runningMean: param(C, 109), runningVar: param(C, 110, 0.5, 2) } : {}),
    });
  }
  for (const c of cases) {
    it(c.name, () => {
      const { layer, shape } = c.make();
      const size = shape.reduce((a, b) => a * b, 1);
      const x = rt.tensor(shape, randomArray(size, 111, -1, 3));
      const { analytic, numeric } = layerGradients(layer, x, H, 112, c.train);
      for (const key of ['x', 'gamma', 'beta']) expect(gradError(analytic[key], numeric[key]), key).toBeLessThan(GRAD_BOUND);
      layer.dispose();
    });
  }
});
