// Flush to zero (assembly/math.ts ftz): subnormal floats make x86 arithmetic
// take microcode assists (a 256³ GEMM with half of A subnormal ran 90× slower),
// and training makes them. GEMM flushes its operands as it packs them, softmax
// its probabilities and gradients, the optimizers their state. Checked here by
// value: what the kernels compute with and store is a normal float or 0, and
// NaN/Inf still pass.
import { describe, it, expect, beforeAll } from 'vitest';
import type { Kernels, Runtime } from '../src/runtime/runtime.js';
import { makeRuntime, randomArray, expectBits } from './helpers/runtime.js';
import { Convolution } from '../src/layers/index.js';

const FLT_MIN = 1.1754943508222875e-38;
const isSubnormal = (v: number) => v !== 0 && Math.abs(v) < FLT_MIN;

let rt: Runtime;
let k: Kernels;
beforeAll(async () => {
  rt = await makeRuntime();
  k = rt.unsafeKernels;
});

describe('GEMM', () => {
  it('treats subnormal operands as 0, in every transpose case and packing path, and passes NaN through', () => {
    // 13×9 output, K = 10: full and edge panels of A (6 rows) and B (8 columns)
    const [M, N, K] = [13, 9, 10];
    // op(A) rows 0 and 7 and op(B) column 3 wholly subnormal, more scattered:
    // unflushed, their products would leave subnormal sums in C where 0 belongs
    const opA = randomArray(M * K, 1).map((v, i) => (Math.floor(i / K) % 7 === 0 || i % 5 === 2 ? v * 1e-39 : v));
    const opB = randomArray(K * N, 2).map((v, i) => (i % N === 3 || i % 7 === 1 ? v * 1e-39 : v));
    expect(opA.some(isSubnormal) && opB.some(isSubnormal)).toBe(true);
    const zeroed = (x: Float32Array) => x.map((v) => (isSubnormal(v) ? 0 : v));
    /** op(X) [R, C] stored as X (trans 0) or Xᵀ (trans 1). */
    const layout = (op: Float32Array, R: number, C: number, trans: number) =>
      trans ? Float32Array.from({ length: R * C }, (_, i) => op[(i % R) * C + Math.floor(i / R)]) : op;
    for (const [tA, tB] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
      const run = (A: Float32Array, B: Float32Array) => {
        const At = rt.tensor([M * K], layout(A, M, K, tA)), Bt = rt.tensor([K * N], layout(B, K, N, tB)), C = rt.tensor([M * N]);
        rt.unsafeGemm(tA, tB, M, N, K, At.ptr, tA ? M : K, Bt.ptr, tB ? K : N, C.ptr, N);
        const out = C.toArray();
        for (const t of [At, Bt, C]) t.dispose();
        return out;
      };
      const got = run(opA, opB);
      expect(Array.from(got).filter(isSubnormal), `transA ${tA} transB ${tB}: no subnormal result`).toEqual([]);
      for (let j = 0; j < N; j++) expect(got[j] + got[7 * N + j], `rows 0 and 7, column ${j}`).toBe(0);
      for (let i = 0; i < M; i++) expect(got[i * N + 3], `column 3, row ${i}`).toBe(0);
      expectBits(got, run(zeroed(opA), zeroed(opB)), `transA ${tA} transB ${tB}`);
      const aNaN = Float32Array.from(opA);
      aNaN[1] = NaN;
      expect(Number.isNaN(run(aNaN, opB)[1]), 'NaN is not flushed').toBe(true);
    }
  });
});

describe('convolution backward', () => {
  it('flushes subnormal gradients as it packs dout, on both dW paths (ReLU zeros among them), and passes NaN through', () => {
    // [C, H, FN], pad 1: 13 wide takes dW with lanes over filters (dout packed 4 positions of 8 filters at a
    // time, then the last position and the partial block of 4 filters value by value), 18 wide lanes over
    // output columns (4-column chunks, then a 2-column tail value by value); dx runs direct for 4 channels,
    // in one-channel tiles for 1, through GEMM for 2 (each flushes dout its own way)
    for (const [C, H, FN] of [[4, 13, 12], [1, 18, 4], [2, 18, 4]]) {
      const N = 2, outSize = N * FN * H * H;
      const W = rt.tensor([FN, C, 3, 3], randomArray(FN * C * 9, 4)), b = rt.tensor([FN]);
      const conv = new Convolution(W, b, 1, 1);
      const x = rt.tensor([N, C, H, H], randomArray(N * C * H * H, 5));
      // a ReLU's gradient: zeros at random, a tenth of the rest subnormal, some -0; the last filter's wholly
      // subnormal (unflushed, its dW would be subnormal sums where 0 belongs)
      const last = (i: number) => Math.floor(i / (H * H)) % FN === FN - 1;
      const dout = randomArray(outSize, 6).map((v, i) => (last(i) ? (v || 1) * 1e-39 : v < 0 ? 0 : i % 10 === 3 ? v * 1e-39 : i % 17 === 5 ? -0 : v));
      expect(dout.some(isSubnormal)).toBe(true);
      const run = (d: Float32Array) => {
        const dt = rt.tensor([N, FN, H, H], d);
        conv.forward(x);
        const dx = conv.backward(dt).toArray();
        dt.dispose();
        return { dW: conv.dW.toArray(), dx };
      };
      const what = `[${C}, ${H}, ${H}] · ${FN}`;
      const got = run(dout);
      expect([...got.dW, ...got.dx].filter(isSubnormal), `${what}: no subnormal dW or dx`).toEqual([]);
      const zeroed = run(dout.map((v) => (isSubnormal(v) ? 0 : v)));
      expect(got.dW.slice((FN - 1) * C * 9).every((v) => v === 0), `${what}: the last filter's dW is 0`).toBe(true);
      expectBits(got.dW, zeroed.dW, `${what}: dW`);
      expectBits(got.dx, zeroed.dx, `${what}: dx`);
      const withNaN = Float32Array.from(dout);
      withNaN[H + 2] = NaN; // image 0, filter 0, row 1, column 2
      expect(run(withNaN).dW.slice(0, C * 9).some(Number.isNaN), `${what}: NaN is not flushed`).toBe(true);
      conv.dispose();
      for (const t of [W, b, x]) t.dispose();
    }
  });
});

describe('softmax with cross-entropy', () => {
  it('stores no subnormal probability or gradient: they become 0', () => {
    // logits 0 and -87: e^-87 = 1.6e-38 is normal, but divided by the row sum (> 1) and by the batch it is not
    const rows = 4, cols = 6;
    const x = rt.tensor([rows, cols], Array.from({ length: rows * cols }, (_, i) => (i % cols === 0 ? 0 : i % cols === 1 ? 0 : -87 + (i % 3) * 0.2)));
    const t = rt.labels(rows, [0, 1, 0, 1]);
    const y = rt.tensor([rows, cols]), dx = rt.tensor([rows, cols]);
    k.softmaxCrossEntropyForward(y.ptr, x.ptr, t.ptr, rows, cols);
    k.softmaxCrossEntropyBackward(dx.ptr, y.ptr, t.ptr, rows, cols, 1 / 100);
    expect(Array.from(y.data).filter(isSubnormal)).toEqual([]);
    expect(Array.from(dx.data).filter(isSubnormal)).toEqual([]);
    expect(Array.from(y.data).filter((v) => v === 0).length, 'tiny probabilities are flushed').toBeGreaterThan(0);
    expect(y.data[0]).toBeCloseTo(0.5, 6);
    for (const a of [x, t, y, dx]) a.dispose();
  });
});

describe('optimizer state', () => {
  it("Adam's moments of a parameter whose gradient stays 0 decay to exactly 0, never through subnormals", () => {
    const n = 7;
    const p = rt.tensor([n], randomArray(n, 3)), m = rt.tensor([n]), v = rt.tensor([n]), g = rt.tensor([n]);
    m.data.fill(1e-30);
    v.data.fill(1e-30);
    let sawZero = false;
    for (let step = 0; step < 2000; step++) {
      k.adamStep(p.ptr, m.ptr, v.ptr, g.ptr, n, 0.001, 0.1, 0.001, 1e-7);
      for (const s of [m.data, v.data]) expect(Array.from(s).filter(isSubnormal), `step ${step}`).toEqual([]);
      sawZero ||= m.data[0] === 0;
    }
    expect(sawZero, 'm reached 0').toBe(true);
    for (const a of [p, m, v, g]) a.dispose();
  });
});
