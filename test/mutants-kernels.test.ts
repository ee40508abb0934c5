// Kernel behaviour the other tests left unpinned (session 63's mutation
// testing of assembly/: for each case below, a small bug in a kernel, and in
// its reference where the test build shares the code, passed every other test):
// - average pooling whose windows hang past the bottom edge: the padding
//   rows there count as zeros (avgWindow's row bound is shared by the kernel's
//   edge windows and by avgPoolForwardRef, and the float64 layer cases never
//   reached it);
// - the flush to zero stops at the smallest normal float: ±FLT_MIN and the
//   rest of the lowest binade are kept (ftz/ftzs are shared by the kernels and
//   the bit-exact references, which only met subnormals);
// - ReLU keeps -0 (and NaN) in the loops' scalar tails as pmax does in the
//   vector body, so a value's bits do not depend on its position;
// - rngNormal with an odd n writes n floats, not the pair's second;
// - the guarded update flags a state slot the step made infinite in every
//   slot, not only the first (Adam's and AdamW's v is the second).
import { describe, it, expect, beforeAll } from 'vitest';
import { Pooling } from '../src/layers/index.js';
import { GUARDED_OPS } from '../src/optim/optimizer.js';
import { makeTestRuntime, randomArray, expectBits, expectClose, type TestRuntime } from './helpers/runtime.js';
import { outSize, poolForward, type Geometry } from './reference/im2col.js';

let rt: TestRuntime;
beforeAll(async () => { rt = await makeTestRuntime(); });

const SENTINEL = 12345.5;
const FLT_MIN = 2 ** -126;

describe('pooling windows that hang past the bottom edge (padding rows there are zeros)', () => {
  // [N, C, H, W], window, stride, pad: each has output rows whose window reaches row H or beyond
  const cases: Array<{ x: [number, number, number, number]; pool: number; stride: number; pad: number }> = [
    { x: [2, 3, 6, 5], pool: 3, stride: 1, pad: 1 },  // "same" 3×3 pooling: the last row's window takes row H
    { x: [2, 2, 6, 6], pool: 2, stride: 2, pad: 1 },  // the last window is row 5 and padding row 6
    { x: [1, 3, 7, 8], pool: 3, stride: 2, pad: 1 },  // widths ≥ 4 outputs: the vector kernels' edge rows
    { x: [1, 2, 9, 13], pool: 3, stride: 1, pad: 2 }, // two padding rows below
  ];
  for (const mode of ['avg', 'max'] as const) {
    for (const { x: xs, pool, stride, pad } of cases) {
      it(`${mode}: x [${xs.join(', ')}], pool ${pool}×${pool}, stride ${stride}, pad ${pad}: the book's im2col formulation`, () => {
        const [N, C, H, W] = xs;
        const g: Geometry = { N, C, H, W, FH: pool, FW: pool, stride, pad };
        const { OH } = outSize(g);
        expect((OH - 1) * stride - pad + pool, 'the last window passes the bottom edge').toBeGreaterThan(H);
        // positive values: a row read past the plane (the next plane's first row) cannot cancel out
        const x = rt.tensor(xs, randomArray(N * C * H * W, 7 * H + W, 1, 2));
        const layer = new Pooling(pool, pool, stride, pad, { mode });
        const y = layer.forward(x);
        // a mean is one f32 sum of pool² terms and a scaling; a max is exact
        expectClose(y.data, poolForward(x.data, g, mode).out, { rtol: mode === 'max' ? 0 : 1e-6, atol: mode === 'max' ? 0 : 1e-7 }, `${mode} pooling`);
        layer.dispose();
        x.dispose();
      });
    }
  }
});

describe('flush to zero keeps the smallest normal floats', () => {
  // the lowest binade [2^-126, 2^-125) (its ends, its middle, negatives), 2^-125; and (flushed) the largest subnormal
  const lowest = [FLT_MIN, -FLT_MIN, 1.5 * FLT_MIN, -(2 ** -125) * (1 - 2 ** -24), 2 ** -125];
  const subnormal = FLT_MIN * (1 - 2 ** -23);

  it('GEMM operands: FLT_MIN · 2^100 is 2^-26 exactly, from A or from B, on the few-row and the blocked paths, in every transpose case', () => {
    const K = 9, N = 6; // K: the kernels' 4-k steps and a tail
    const small = (i: number) => [...lowest, subnormal][i % (lowest.length + 1)];
    const flushed = (v: number) => (Math.abs(v) < FLT_MIN ? 0 : v);
    const stored = (op: Float32Array, R: number, Cn: number, trans: number) =>
      trans ? Float32Array.from({ length: R * Cn }, (_, q) => op[(q % R) * Cn + Math.floor(q / R)]) : op;
    for (const M of [1, 13]) {
      for (const side of ['A', 'B'] as const) {
        // one non-zero term per output: row i of op(A) holds small(i) at k = i mod K (op(B) all 2^100), or column j
        // of op(B) holds small(j) at k = j mod K (op(A) all 2^100)
        const opA = new Float32Array(M * K).fill(side === 'A' ? 0 : 2 ** 100), opB = new Float32Array(K * N).fill(side === 'B' ? 0 : 2 ** 100);
        if (side === 'A') for (let i = 0; i < M; i++) opA[i * K + (i % K)] = small(i);
        else for (let j = 0; j < N; j++) opB[(j % K) * N + j] = small(j);
        const want = Float32Array.from({ length: M * N }, (_, q) => flushed(small(side === 'A' ? Math.floor(q / N) : q % N)) * 2 ** 100);
        for (const [tA, tB] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
          const A = rt.tensor([M * K], stored(opA, M, K, tA)), B = rt.tensor([K * N], stored(opB, K, N, tB)), C = rt.tensor([M * N]);
          rt.unsafeGemm(tA, tB, M, N, K, A.ptr, tA ? M : K, B.ptr, tB ? K : N, C.ptr, N);
          expectBits(C.toArray(), want, `M=${M}, the lowest binade in ${side}, transA ${tA} transB ${tB}`);
          for (const t of [A, B, C]) t.dispose();
        }
      }
    }
  });

  it('optimizer state: a momentum of 1 with no gradient keeps v in the lowest binade, in the vector body and the tail', () => {
    const n = 7;
    const vs = Float32Array.from({ length: n }, (_, i) => lowest[i % lowest.length]);
    const v = rt.tensor([n], vs), p = rt.tensor([n]), g = rt.tensor([n]);
    rt.unsafeKernels.momentumStep(p.ptr, v.ptr, g.ptr, n, 0.1, 1);
    expectBits(v.toArray(), vs, 'v = 1·v − 0.1·0');
    expectBits(p.toArray(), vs, 'p = 0 + v');
    for (const t of [v, p, g]) t.dispose();
  });
});

describe('ReLU keeps -0 and NaN wherever they sit', () => {
  it('reluForward gives -0 for -0 and NaN for NaN in the vector body and in the scalar tail, as reluForwardRef', () => {
    const k = rt.unsafeKernels;
    for (let n = 1; n <= 11; n++) {
      const xs = Float32Array.from({ length: n }, (_, i) => (i % 3 === 2 ? NaN : i % 3 === 1 ? -1 : -0));
      const x = rt.tensor([n], xs), y = rt.tensor([n]), ref = rt.tensor([n]);
      k.reluForward(y.ptr, x.ptr, n);
      k.reluForwardRef(ref.ptr, x.ptr, n);
      const want = xs.map((v) => (v === -1 ? 0 : v));
      expectBits(ref.toArray(), want, `reluForwardRef n=${n}`);
      expectBits(y.toArray(), want, `reluForward n=${n}`);
      for (const t of [x, y, ref]) t.dispose();
    }
  });
});

describe('rngNormal', () => {
  it('with an odd n writes n floats (the last pair\'s sine is drawn, not stored), also from an odd offset', () => {
    const k = rt.unsafeKernels;
    for (const n of [1, 3, 5, 7, 9, 67]) {
      for (const at of [0, 1]) {
        const t = rt.tensor([n + at + 4]);
        t.data.fill(SENTINEL);
        k.rngNormal(t.ptr + 4 * at, n, 0, 1, 5, 2 * n);
        const out = t.toArray();
        expect(out.subarray(at, at + n).every((v) => Number.isFinite(v) && v !== SENTINEL), `n=${n}: every float written`).toBe(true);
        expect(Array.from(out.subarray(0, at)).concat(Array.from(out.subarray(at + n))), `n=${n} at ${at}: nothing written outside`).toEqual(Array(at + 4).fill(SENTINEL));
        t.dispose();
      }
    }
  });
});

describe('guardedStep', () => {
  // A gradient of 1e21 is finite, but its square (Adam: g·g; AdamW, RMSprop: k·g·g) passes float32's range: the
  // slot that sums squares becomes +Inf while m, the other slot and the params stay finite (the step is
  // m / (√Inf + eps) = 0), and every later step of that weight would be 0. The part must report it (flag 2).
  const cases: Array<{ name: keyof typeof GUARDED_OPS; slots: number; scalars: number[]; infSlot: number }> = [
    { name: 'adagradStep', slots: 1, scalars: [0.1, 1e-7], infSlot: 0 },
    { name: 'rmspropStep', slots: 1, scalars: [0.01, 0.99, 0.01, 1e-7], infSlot: 0 },
    { name: 'adadeltaStep', slots: 2, scalars: [1, 0.95, 0.05, 1e-6], infSlot: 0 },
    { name: 'adamStep', slots: 2, scalars: [0.003, 0.1, 0.001, 1e-7], infSlot: 1 },
    { name: 'adamwStep', slots: 2, scalars: [0.999, 0.01, 0.05, 0.1, 0.999, 0.001, 1e-8], infSlot: 1 },
  ];
  it.each(cases)('$name: a step that leaves state slot $infSlot infinite with finite params is flagged (2), in the vector body and the tail', ({ name, slots, scalars, infSlot }) => {
    const n = 7;
    for (const at of [1, 5]) {
      const params = rt.tensor([n], randomArray(n, 40 + at)), g = rt.tensor([n], randomArray(n, 50 + at));
      g.data[at] = 1e21;
      const state = rt.tensor([slots * n], randomArray(slots * n, 60 + at, 0, 0.5));
      const pSaved = rt.tensor([n]), sSaved = rt.tensor([slots * n]), d = rt.tensor([48]);
      const slot = (s: number) => state.ptr + 4 * n * s;
      const args = [params.ptr, ...Array.from({ length: slots }, (_, s) => slot(s)), g.ptr, n, ...scalars];
      // flag, p, s, slotBytes, slots, g, n, pDst, sDst, then the kernel's own arguments (assembly/guarded.ts)
      new Float64Array(rt.memory.buffer, d.ptr, 24).set([-1, params.ptr, state.ptr, 4 * n, slots, g.ptr, n, pSaved.ptr, sSaved.ptr, ...args]);
      rt.unsafeKernels.guardedStep(GUARDED_OPS[name]!, d.ptr);
      const [flag, saved] = new Int32Array(rt.memory.buffer, d.ptr, 2);
      const what = `${name}, gradient 1e21 at ${at}`;
      expect(params.data.every(Number.isFinite), `${what}: the params stay finite`).toBe(true);
      expect(state.data[infSlot * n + at], `${what}: slot ${infSlot}`).toBe(Infinity);
      expect(saved, `${what}: floats saved`).toBe(n);
      expect(flag, `${what}: flag`).toBe(2);
      for (const t of [params, g, state, pSaved, sSaved, d]) t.dispose();
    }
  });
});
