// assembly/gemm.ts: gemm for every transpose case against a float64 reference
// (within a proven f32 error bound), against an f32 emulation of the kernel's
// reduction order (bit for bit: the plain build is the reproducible
// reference), and against gemmRef; sizes around the 5×8 and 6×8 tiles, K around the KC
// block, strided operands, beta 0 / 1 / other. Calls on blocks of rows or
// columns give the same bits as the whole call (threads split C that way).
// The relaxed build (fused multiply-add) stays within the bound. Also the
// Affine epilogue helpers (biasAddForward, biasBackward) and the fused
// bias + activation epilogue (gemmBiasAct).
import { describe, it, expect, beforeAll } from 'vitest';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import type { TestKernels } from '../build/test/kernels-test.js';
import { makeRelaxedRuntime, makeTestRuntime, lengths, randomArray, rng, expectBits, type TestRuntime } from './helpers/runtime.js';

const f32 = Math.fround;
const U = 2 ** -24; // unit roundoff of float32
const KC = 256; // assembly/gemm.ts's K block: partial sums over each block are added to C in order
const SENTINEL = 12345.5;

type Trans = 0 | 1;
const CASES: ReadonlyArray<readonly [string, Trans, Trans]> = [['A·B', 0, 0], ['A·Bᵀ', 0, 1], ['Aᵀ·B', 1, 0], ['Aᵀ·Bᵀ', 1, 1]];

let rt: TestRuntime;
let k: TestKernels;
beforeAll(async () => {
  rt = await makeTestRuntime();
  k = rt.unsafeKernels;
});

/** One problem: op(A) is M×K, op(B) is K×N, C is M×N; stored with row strides lda, ldb, ldc (≥ the row length). */
interface Problem {
  tA: Trans; tB: Trans; M: number; N: number; K: number; beta: number;
  lda: number; ldb: number; ldc: number;
  A: Float32Array; B: Float32Array; C0: Float32Array;
}

function problem(tA: Trans, tB: Trans, M: number, N: number, K: number, beta: number, seed: number, pad = 0): Problem {
  const lda = (tA ? M : K) + pad, ldb = (tB ? K : N) + pad, ldc = N + pad;
  const C0 = randomArray(M * ldc, seed + 2);
  for (let i = 0; i < M; i++) C0.fill(SENTINEL, i * ldc + N, (i + 1) * ldc); // padding must survive
  return { tA, tB, M, N, K, beta, lda, ldb, ldc, A: randomArray((tA ? K : M) * lda, seed), B: randomArray((tB ? N : K) * ldb, seed + 1), C0 };
}

const aAt = (p: Problem, i: number, kk: number): number => (p.tA ? p.A[kk * p.lda + i] : p.A[i * p.lda + kk]);
const bAt = (p: Problem, kk: number, j: number): number => (p.tB ? p.B[j * p.ldb + kk] : p.B[kk * p.ldb + j]);

/** The kernel on `p` (through runtime `r`), optionally on the block rows [r0, r1) × columns [c0, c1) of C. */
function run(r: Runtime, p: Problem, rows: [number, number] = [0, p.M], cols: [number, number] = [0, p.N]): Float32Array {
  const A = tensorOf(r, p.A), B = tensorOf(r, p.B), C = tensorOf(r, p.C0);
  const [r0, r1] = rows, [c0, c1] = cols;
  const aOff = p.tA ? r0 : r0 * p.lda; // row i of op(A): A + i·lda, or column i of the stored K×M A
  const bOff = p.tB ? c0 * p.ldb : c0;
  r.unsafeKernels.gemm(p.tA, p.tB, r1 - r0, c1 - c0, p.K, A.ptr + 4 * aOff, p.lda, B.ptr + 4 * bOff, p.ldb,
    C.ptr + 4 * (r0 * p.ldc + c0), p.ldc, p.beta, r.unsafeGemmWork);
  const out = C.toArray().subarray(0, p.C0.length);
  A.dispose(); B.dispose(); C.dispose();
  return out;
}

/** A tensor holding `values` (one spare float when there are none, as a K = 0 operand). */
const tensorOf = (r: Runtime, values: Float32Array) => r.tensor([Math.max(values.length, 1)], values.length ? values : [0]);

/** float64 result and the error bound of any f32 evaluation: (K + 2)·u·(Σ|a·b| + |beta·c|) (Higham, §3.1). */
function reference64(p: Problem): { C: Float64Array; bound: Float64Array } {
  const C = Float64Array.from(p.C0), bound = new Float64Array(p.C0.length);
  for (let i = 0; i < p.M; i++) {
    for (let j = 0; j < p.N; j++) {
      let s = 0, abs = 0;
      for (let kk = 0; kk < p.K; kk++) {
        const t = aAt(p, i, kk) * bAt(p, kk, j);
        s += t;
        abs += Math.abs(t);
      }
      const c = p.C0[i * p.ldc + j];
      const bc = p.beta === 0 ? 0 : p.beta * c;
      C[i * p.ldc + j] = bc + s;
      bound[i * p.ldc + j] = (p.K + 2) * U * (abs + Math.abs(bc));
    }
  }
  return { C, bound };
}

/**
 * The plain build's arithmetic in f32: per K block, s += a·b (rounded product,
 * rounded sum) in k order from 0; the first block gives beta·C + s (C itself
 * when beta = 1, s alone when beta = 0), each later block C + s.
 */
function emulate(p: Problem): Float32Array {
  const C = Float32Array.from(p.C0);
  for (let i = 0; i < p.M; i++) {
    for (let j = 0; j < p.N; j++) {
      let c = C[i * p.ldc + j];
      if (p.K === 0) c = p.beta === 0 ? 0 : f32(p.beta * c);
      for (let k0 = 0; k0 < p.K; k0 += KC) {
        let s = 0;
        for (let kk = k0; kk < Math.min(p.K, k0 + KC); kk++) s = f32(s + f32(aAt(p, i, kk) * bAt(p, kk, j)));
        if (k0 > 0 || p.beta === 1) c = f32(c + s);
        else c = p.beta === 0 ? s : f32(f32(p.beta * c) + s);
      }
      C[i * p.ldc + j] = c;
    }
  }
  return C;
}

function expectWithinBound(got: Float32Array, ref: { C: Float64Array; bound: Float64Array }, what: string): void {
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - ref.C[i]);
    if (!(err <= ref.bound[i])) expect.fail(`${what}: [${i}] got ${got[i]}, float64 ${ref.C[i]}, |err| ${err} > bound ${ref.bound[i]}`);
  }
}

const label = (p: Problem): string => `${CASES.find(([, a, b]) => a === p.tA && b === p.tB)![0]} M=${p.M} N=${p.N} K=${p.K} beta=${p.beta} lda=${p.lda} ldb=${p.ldb} ldc=${p.ldc}`;

describe('gemm', () => {
  // sizes at and around multiples of the plain build's tile (5 rows, 8 columns) and of the K block;
  // 6–8 rows left run as two 4-row tiles
  const Ms = [1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16];
  const Ns = [1, 3, 4, 5, 8, 9, 16, 17];
  const Ks = [1, 3, 8, KC - 1, KC, KC + 1];

  for (const [name, tA, tB] of CASES) {
    it(`${name}: every tile edge, K around the block, beta 0 / 1 / 0.5: bits of the kernel's reduction order, within the f32 bound of float64`, () => {
      let seed = 1;
      for (const M of Ms) for (const N of Ns) for (const K of Ks) {
        const beta = [0, 1, 0.5][seed % 3];
        const p = problem(tA, tB, M, N, K, beta, seed++, seed % 2);
        const got = run(rt, p);
        expectBits(got, emulate(p), label(p));
        expectWithinBound(got, reference64(p), label(p));
      }
    });
  }

  it('many A panels, NC columns and several K blocks, strided, every transpose case and beta', () => {
    let seed = 100;
    for (const [, tA, tB] of CASES) {
      for (const [M, N, K] of [[100, 1030, 3], [50, 20, 2 * KC + 88], [97, 33, KC + 1]]) {
        for (const beta of [0, 1, -0.75]) {
          const p = problem(tA, tB, M, N, K, beta, seed++, 3);
          const got = run(rt, p);
          expectBits(got, emulate(p), label(p));
          expectWithinBound(got, reference64(p), label(p));
        }
      }
    }
  });

  it('matches gemmRef: bit for bit within one K block, within the f32 bound beyond it', () => {
    let seed = 200;
    for (const [, tA, tB] of CASES) {
      for (const K of [7, KC, KC + 9]) {
        const p = problem(tA, tB, 11, 19, K, 0.5, seed++, 2);
        const got = run(rt, p);
        const A = tensorOf(rt, p.A), B = tensorOf(rt, p.B), C = tensorOf(rt, p.C0);
        k.gemmRef(tA, tB, p.M, p.N, p.K, A.ptr, p.lda, B.ptr, p.ldb, C.ptr, p.ldc, p.beta);
        const ref = C.toArray();
        A.dispose(); B.dispose(); C.dispose();
        if (K <= KC) expectBits(got, ref, `gemmRef ${label(p)}`);
        else {
          const r64 = reference64(p);
          expectWithinBound(ref, r64, `gemmRef ${label(p)}`);
          for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThanOrEqual(2 * r64.bound[i]);
        }
      }
    }
  });

  it('a call on any block of rows or columns gives the bits of the whole call', () => {
    let seed = 300;
    for (const [name, tA, tB] of CASES) {
      const p = problem(tA, tB, 53, 45, KC + 44, 1, seed++, 1);
      const whole = run(rt, p);
      // splits off the 6-row / 8-column grid, so tiles (and edge kernels) fall differently
      for (const [r0, r1] of [[0, 7], [7, 29], [29, 53]] as const) {
        const part = run(rt, p, [r0, r1]);
        expectBits(part.subarray(r0 * p.ldc, r1 * p.ldc), whole.subarray(r0 * p.ldc, r1 * p.ldc), `${name} rows ${r0}..${r1}`);
      }
      for (const [c0, c1] of [[0, 13], [13, 42], [42, 45]] as const) {
        const part = run(rt, p, [0, p.M], [c0, c1]);
        for (let i = 0; i < p.M; i++) {
          expectBits(part.subarray(i * p.ldc + c0, i * p.ldc + c1), whole.subarray(i * p.ldc + c0, i * p.ldc + c1), `${name} columns ${c0}..${c1}, row ${i}`);
        }
      }
    }
  });

  it('beta 0 never reads C (NaN there is overwritten); K = 0 scales C by beta; M or N = 0 writes nothing', () => {
    const p = problem(0, 1, 9, 10, 5, 0, 400);
    p.C0.fill(NaN);
    const got = run(rt, p);
    expect(got.every(Number.isFinite)).toBe(true);
    expectBits(got, emulate({ ...p, C0: new Float32Array(p.C0.length) }), 'beta 0 over NaN');

    for (const beta of [0, 1, 2.5]) {
      const q = problem(1, 0, 7, 9, 0, beta, 401, 2);
      const want = Float32Array.from(q.C0);
      for (let i = 0; i < q.M; i++) for (let j = 0; j < q.N; j++) want[i * q.ldc + j] = beta === 0 ? 0 : f32(beta * q.C0[i * q.ldc + j]);
      expectBits(run(rt, q), want, `K = 0, beta ${beta}`);
    }
    for (const [M, N] of [[0, 5], [5, 0]]) {
      const q = problem(0, 0, Math.max(M, 1), Math.max(N, 1), 4, 0, 402);
      expectBits(run(rt, q, [0, M], [0, N]), q.C0, `M=${M} N=${N}`);
    }
  });
});

/** Subnormals, ±0 and ±FLT_MIN (the smallest normal: kept, never flushed). */
const SMALL_SPECIAL = [1e-39, -3e-42, 2 ** -130, -(2 ** -149), -0, 0, 1.1754943508222875e-38, -1.1754943508222875e-38];

/**
 * Seeded special values in op(A) (M×K, element (i, k) at A[aAt(i, k)]) and op(B) (K×N, at B[bAt(k, j)]), placed so
 * every sum stays finite and shows them. At k ≡ 5 (mod 16) op(A)'s column holds ±2^120 and op(B)'s row small
 * specials: a subnormal contributes 2^120 · 2^-130 = 2^-10 unflushed, 0 flushed; FLT_MIN 2^-6, always. At k ≡ 11
 * the operands swap roles. Elsewhere a tenth of the values are small specials. (Huge values at random spots, as
 * this helper placed them before, meet normal ones: over K ≥ 256 most outputs were infinite or past 1e15, where a
 * wrong sum of the normal terms gives the same bits.)
 */
function sprinkleOperands(M: number, N: number, K: number, A: Float32Array, aAt: (i: number, kk: number) => number,
  B: Float32Array, bAt: (kk: number, j: number) => number, seed: number): void {
  const r = rng(seed);
  const small = () => SMALL_SPECIAL[Math.floor(r() * SMALL_SPECIAL.length)];
  const huge = () => (r() < 0.5 ? -1 : 1) * 2 ** 120;
  for (let kk = 0; kk < K; kk++) {
    const probe = kk % 16 === 5 ? 'A' : kk % 16 === 11 ? 'B' : null;
    for (let i = 0; i < M; i++) {
      if (probe) A[aAt(i, kk)] = probe === 'A' ? huge() : small();
      else if (r() < 0.1) A[aAt(i, kk)] = small();
    }
    for (let j = 0; j < N; j++) {
      if (probe) B[bAt(kk, j)] = probe === 'B' ? huge() : small();
      else if (r() < 0.1) B[bAt(kk, j)] = small();
    }
  }
}

/** sprinkleOperands on a problem's operands, as their transposes and strides lay them out. */
function sprinkle(p: Problem, seed: number): void {
  sprinkleOperands(p.M, p.N, p.K, p.A, (i, kk) => (p.tA ? kk * p.lda + i : i * p.lda + kk), p.B, (kk, j) => (p.tB ? j * p.ldb + kk : kk * p.ldb + j), seed);
}

describe('gemm with few rows (inference batches): the rows path (A·B, M ≤ 4) and 4-row tiles (7 or 8 rows)', () => {
  const GUARD = 8; // canary floats before and after C

  /** gemm or gemmBlockedRef on p (A·B only), C with canaries around it; returns C and the canaries. */
  function call(p: Problem, rows: [number, number], ref: boolean): { C: Float32Array; guards: Float32Array } {
    const [r0, r1] = rows;
    const A = tensorOf(rt, p.A), B = tensorOf(rt, p.B);
    const C = rt.tensor([p.C0.length + 2 * GUARD]);
    const init = new Float32Array(p.C0.length + 2 * GUARD).fill(SENTINEL);
    init.set(p.C0, GUARD);
    C.data.set(init);
    const args = [0, 0, r1 - r0, p.N, p.K, A.ptr + 4 * r0 * p.lda, p.lda, B.ptr, p.ldb, C.ptr + 4 * (GUARD + r0 * p.ldc), p.ldc, p.beta] as const;
    if (ref) k.gemmBlockedRef(...args);
    else k.gemm(...args, rt.unsafeGemmWork);
    const out = C.toArray();
    A.dispose(); B.dispose(); C.dispose();
    return { C: out.subarray(GUARD, GUARD + p.C0.length), guards: Float32Array.from([...out.subarray(0, GUARD), ...out.subarray(GUARD + p.C0.length)]) };
  }

  it('M = 1..9, odd N, K past one and two K blocks, beta 0 / 1 / 0.5, subnormal operands: the bits of gemmBlockedRef and of the same rows in a 13-row call; C\'s padding and canaries untouched', () => {
    let seed = 2000;
    for (const N of [1, 3, 13, 37, 101]) {
      for (const K of [KC + 1, 2 * KC + 3]) {
        const beta = [0, 1, 0.5][seed % 3];
        const p = problem(0, 0, 13, N, K, beta, seed++, seed % 2);
        sprinkle(p, seed++);
        const whole = call(p, [0, 13], false);
        expectBits(whole.C, call(p, [0, 13], true).C, `13 rows, N=${N} K=${K}`);
        for (let M = 1; M <= 9; M++) {
          for (const r0 of [0, 13 - M]) {
            const what = `rows ${r0}..${r0 + M} N=${N} K=${K} beta=${beta} ldc=${p.ldc}`;
            const got = call(p, [r0, r0 + M], false);
            const want = call(p, [r0, r0 + M], true);
            expectBits(got.C, want.C, what);
            expectBits(got.C.subarray(r0 * p.ldc, (r0 + M) * p.ldc), whole.C.subarray(r0 * p.ldc, (r0 + M) * p.ldc), `${what} vs the 13-row call`);
            // rows outside the call, padding columns and canaries keep their values
            expectBits(got.C.subarray(0, r0 * p.ldc), p.C0.subarray(0, r0 * p.ldc), `${what}: rows before`);
            expectBits(got.C.subarray((r0 + M) * p.ldc), p.C0.subarray((r0 + M) * p.ldc), `${what}: rows after`);
            for (let i = r0; i < r0 + M; i++) for (let j = N; j < p.ldc; j++) expect(got.C[i * p.ldc + j], `${what}: padding`).toBe(SENTINEL);
            expect(got.guards.every((v) => v === SENTINEL), `${what}: canaries`).toBe(true);
          }
        }
      }
    }
  });

  it('flushes subnormal operands as packing does: 2^100 · 2^-130 contributes 0 (2^-30 unflushed), from A or from B, for M = 1..9', () => {
    for (let M = 1; M <= 9; M++) {
      for (const subnormalIn of ['A', 'B'] as const) {
        const p = problem(0, 0, M, 37, KC + 2, 0, 2100 + M);
        p.A.fill(subnormalIn === 'A' ? 2 ** -130 : 2 ** 100);
        p.B.fill(subnormalIn === 'A' ? 2 ** 100 : 2 ** -130);
        // with B subnormal, one normal product in column 2 (k = 3): 2^100 exactly, as the flushed rest adds 0
        if (subnormalIn === 'B') p.B[3 * p.ldb + 2] = 1;
        const got = run(rt, p);
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < 37; j++) {
            const want = subnormalIn === 'B' && j === 2 ? 2 ** 100 : 0;
            if (got[i * p.ldc + j] !== want) expect.fail(`M=${M}, subnormal ${subnormalIn}: C[${i}, ${j}] = ${got[i * p.ldc + j]}, want ${want}`);
          }
        }
      }
    }
  });
});

describe('gemm with 1–4 rows on wide or tall B, and 5–8 on large B (the rows path\'s sweeps of B)', () => {
  const GUARD = 8; // canary floats before and after C
  // B's widths and heights across the 4-float vector, the 8- and 16-column strips, the K block (KC) and the
  // 1024-column chunk of a sweep; sweeps read 8 rows of B at a time (more when B is narrow)
  const EDGES = [1, 3, 4, 15, 16, 17, 255, 256, 257, 1000, 1023, 1024, 1025, 4096];

  /** `kernel` on rows [r0, r1) × columns [c0, c1) of p (A·B), C with canaries around it; C and whether the canaries held. */
  function call(p: Problem, kernel: 'gemm' | 'gemmBlockedRef', rows: [number, number] = [0, p.M], cols: [number, number] = [0, p.N]): { C: Float32Array; guards: boolean } {
    const [r0, r1] = rows, [c0, c1] = cols;
    const A = tensorOf(rt, p.A), B = tensorOf(rt, p.B);
    const C = rt.tensor([p.C0.length + 2 * GUARD]);
    const init = new Float32Array(p.C0.length + 2 * GUARD).fill(SENTINEL);
    init.set(p.C0, GUARD);
    C.data.set(init);
    const args = [0, 0, r1 - r0, c1 - c0, p.K, A.ptr + 4 * r0 * p.lda, p.lda, B.ptr + 4 * c0, p.ldb, C.ptr + 4 * (GUARD + r0 * p.ldc + c0), p.ldc, p.beta] as const;
    if (kernel === 'gemm') k.gemm(...args, rt.unsafeGemmWork);
    else k.gemmBlockedRef(...args);
    const out = C.toArray();
    A.dispose(); B.dispose(); C.dispose();
    const guards = out.subarray(0, GUARD).every((v) => v === SENTINEL) && out.subarray(GUARD + p.C0.length).every((v) => v === SENTINEL);
    return { C: out.subarray(GUARD, GUARD + p.C0.length), guards };
  }

  it('random M = 1..8, N and K across the strip, chunk and K-block edges, strided operands (row strides of 1024 floats too), beta 0 / 1 / 0.5 / -0.75, subnormal operands: the bits of gemmBlockedRef; C\'s padding and canaries untouched; column parts on 8-column boundaries (a thread\'s part) give the whole call\'s bits', () => {
    const next = rng(4000);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
    let seed = 4000, tried = 0;
    while (tried < 60) {
      const N = pick(EDGES), K = pick(EDGES);
      if (N * K > 1 << 20) continue; // the scalar reference's time; 4096 wide runs with K ≤ 256, 4096 tall with N ≤ 256
      tried++;
      const M = 1 + Math.floor(next() * 8), beta = pick([0, 1, 0.5, -0.75]);
      const p = problem(0, 0, M, N, K, beta, seed++, Math.floor(next() * 3));
      if (next() < 0.3) { // B's row stride a multiple of 4 KiB, as a 1024- or 4096-wide weight has
        const ldb = Math.ceil((N + 1) / 1024) * 1024, B = new Float32Array(K * ldb).fill(SENTINEL);
        for (let kk = 0; kk < K; kk++) B.set(p.B.subarray(kk * p.ldb, kk * p.ldb + N), kk * ldb);
        Object.assign(p, { B, ldb });
      }
      sprinkle(p, seed++);
      const what = `M=${M} N=${N} K=${K} beta=${beta} lda=${p.lda} ldb=${p.ldb} ldc=${p.ldc}`;
      const got = call(p, 'gemm');
      expectBits(got.C, call(p, 'gemmBlockedRef').C, what);
      for (let i = 0; i < M; i++) for (let j = N; j < p.ldc; j++) expect(got.C[i * p.ldc + j], `${what}: padding`).toBe(SENTINEL);
      expect(got.guards, `${what}: canaries`).toBe(true);
      if (N > 8) {
        const cut = 8 * (1 + Math.floor(next() * Math.floor((N - 1) / 8))); // in [8, N)
        const left = call(p, 'gemm', [0, M], [0, cut]), right = call(p, 'gemm', [0, M], [cut, N]);
        for (let i = 0; i < M; i++) {
          expectBits(left.C.subarray(i * p.ldc, i * p.ldc + cut), got.C.subarray(i * p.ldc, i * p.ldc + cut), `${what}: columns 0..${cut}, row ${i}`);
          expectBits(right.C.subarray(i * p.ldc + cut, i * p.ldc + N), got.C.subarray(i * p.ldc + cut, i * p.ldc + N), `${what}: columns ${cut}..${N}, row ${i}`);
        }
      }
    }
  });

  it('5–8 rows on B of at least 2^21 floats and 768 columns (sweeps), and just below either bound (packed): strided B, beta 0 / 1 / 0.5, subnormal operands: the bits of gemmBlockedRef; canaries untouched; column parts give the whole call\'s bits', () => {
    let seed = 4100;
    // [M, N, K]: at the bounds (2^21 floats, 768 columns), past them, just below each; 7 rows run as 4 + 2 + 1
    const shapes = [[5, 1024, 2048], [6, 768, 2731], [7, 1025, 2047], [8, 2048, 1024], [8, 767, 2735], [8, 1024, 2047]] as const;
    for (const [M, N, K] of shapes) {
      const beta = [0, 1, 0.5][seed % 3];
      const p = problem(0, 0, M, N, K, beta, seed++);
      if (N % 2 === 0) { // B's row stride a multiple of 4 KiB, as a 1024- or 4096-wide weight has
        const ldb = Math.ceil((N + 1) / 1024) * 1024, B = new Float32Array(K * ldb).fill(SENTINEL);
        for (let kk = 0; kk < K; kk++) B.set(p.B.subarray(kk * p.ldb, kk * p.ldb + N), kk * ldb);
        Object.assign(p, { B, ldb });
      }
      sprinkle(p, seed++);
      const what = `M=${M} N=${N} K=${K} beta=${beta} ldb=${p.ldb}`;
      const got = call(p, 'gemm');
      expectBits(got.C, call(p, 'gemmBlockedRef').C, what);
      expect(got.guards, `${what}: canaries`).toBe(true);
      const cut = 8 * Math.floor(N / 16); // a 2-thread column split
      const left = call(p, 'gemm', [0, M], [0, cut]), right = call(p, 'gemm', [0, M], [cut, N]);
      for (let i = 0; i < M; i++) {
        expectBits(left.C.subarray(i * p.ldc, i * p.ldc + cut), got.C.subarray(i * p.ldc, i * p.ldc + cut), `${what}: columns 0..${cut}, row ${i}`);
        expectBits(right.C.subarray(i * p.ldc + cut, i * p.ldc + N), got.C.subarray(i * p.ldc + cut, i * p.ldc + N), `${what}: columns ${cut}..${N}, row ${i}`);
      }
    }
  });

  it('gemmBiasAct and gemmActBackward on 1–4 rows (5–8 on large B) give the bits of the frozen path (gemmPacked) and of gemm then the activation\'s backward, across the chunk and K-block edges', () => {
    let seed = 4200;
    for (const [N, K] of [[1025, 257], [4096, 17], [1000, 784], [17, 4096], [100, 100], [1024, 2048]] as const) {
      for (const M of N * K >= 1 << 21 ? [5, 6, 7, 8] : [1, 2, 3, 4]) {
        const a = randomArray(M * K, seed++), bv = randomArray(K * N, seed++);
        sprinkleOperands(M, N, K, a, (i, kk) => i * K + kk, bv, (kk, j) => kk * N + j, seed++);
        const A = rt.tensor([M, K], a), B = rt.tensor([K, N], bv);
        const b = rt.tensor([N], randomArray(N, seed++)), saved = rt.tensor([M, N], randomArray(M * N, seed++));
        const C1 = rt.tensor([M, N]), C2 = rt.tensor([M, N]), Bp = rt.tensor([K * Math.ceil(N / 8) * 8]);
        k.packBPanels(0, N, K, B.ptr, N, Bp.ptr);
        for (const act of [0, 1, 2, 3]) {
          k.gemmBiasAct(0, 0, M, N, K, A.ptr, K, B.ptr, N, C1.ptr, N, b.ptr, act, rt.unsafeGemmWork);
          k.gemmPacked(M, N, K, A.ptr, K, Bp.ptr, C2.ptr, N, b.ptr, act, rt.unsafeGemmWork);
          expectBits(C1.toArray(), C2.toArray(), `gemmBiasAct ${M}×${N}×${K} act ${act}`);
          if (act === 0) continue;
          k.gemmActBackward(0, 0, M, N, K, A.ptr, K, B.ptr, N, C1.ptr, N, saved.ptr, act, rt.unsafeGemmWork);
          k.gemm(0, 0, M, N, K, A.ptr, K, B.ptr, N, C2.ptr, N, 0, rt.unsafeGemmWork);
          const backward = (['reluBackward', 'sigmoidBackward', 'tanhBackward'] as const)[act - 1];
          k[backward](C2.ptr, C2.ptr, saved.ptr, M * N);
          expectBits(C1.toArray(), C2.toArray(), `gemmActBackward ${M}×${N}×${K} act ${act}`);
        }
        for (const t of [A, B, b, saved, C1, C2, Bp]) t.dispose();
      }
    }
  });
});

describe('gemm, relaxed build (fused multiply-add)', () => {
  let relaxed: Runtime;
  beforeAll(async () => { relaxed = await makeRelaxedRuntime(); });

  it('runs the relaxed build, whose tiles have 6 rows (the plain build\'s 5)', () => {
    expect(relaxed.features.relaxed).toBe(true);
    expect(relaxed.gemmTileRows).toBe(6);
    expect(rt.gemmTileRows).toBe(5);
  });

  it('stays within the f32 bound of float64 for every transpose case, and splits by rows and columns bit-identically', () => {
    let seed = 500;
    for (const [name, tA, tB] of CASES) {
      for (const [M, N, K] of [[13, 17, KC + 1], [100, 1030, 3], [6, 8, 2 * KC + 5]]) {
        const p = problem(tA, tB, M, N, K, 0.5, seed++, 1);
        const got = run(relaxed, p);
        expectWithinBound(got, reference64(p), `relaxed ${label(p)}`);
        const [r0, r1] = [Math.floor(M / 3), M];
        expectBits(run(relaxed, p, [r0, r1]).subarray(r0 * p.ldc), got.subarray(r0 * p.ldc), `relaxed ${name} rows ${r0}..${r1}`);
        const [c0, c1] = [0, Math.ceil(N / 2) + 1];
        const part = run(relaxed, p, [0, M], [c0, Math.min(c1, N)]);
        for (let i = 0; i < M; i++) {
          expectBits(part.subarray(i * p.ldc, i * p.ldc + Math.min(c1, N)), got.subarray(i * p.ldc, i * p.ldc + Math.min(c1, N)), `relaxed ${name} columns, row ${i}`);
        }
      }
    }
  });

  it('gemmPacked gives the bits of gemmBiasAct in the relaxed build too (the same fused multiply-adds in the same order; 5–8 rows on large B: sweeps against packed B)', () => {
    let seed = 550;
    for (const [M, N, K] of [[1, 37, KC + 3], [2, 16, 9], [5, 100, 784], [13, 45, 2 * KC + 1], [1, 1025, 257], [2, 1000, 300], [3, 4096, 17], [4, 1023, KC + 9], [5, 1024, 2048], [7, 1025, 2047], [8, 768, 2731], [8, 37, KC + 3], [7, 13, 9]]) {
      const A = relaxed.tensor([M, K], randomArray(M * K, seed++)), B = relaxed.tensor([K, N], randomArray(K * N, seed++));
      const b = relaxed.tensor([N], randomArray(N, seed++)), C1 = relaxed.tensor([M, N]), C2 = relaxed.tensor([M, N]);
      const Bp = relaxed.tensor([K * Math.ceil(N / 8) * 8]);
      relaxed.unsafeKernels.gemmBiasAct(0, 0, M, N, K, A.ptr, K, B.ptr, N, C1.ptr, N, b.ptr, 1, relaxed.unsafeGemmWork);
      relaxed.unsafeKernels.packBPanels(0, N, K, B.ptr, N, Bp.ptr);
      relaxed.unsafeKernels.gemmPacked(M, N, K, A.ptr, K, Bp.ptr, C2.ptr, N, b.ptr, 1, relaxed.unsafeGemmWork);
      expectBits(C2.toArray(), C1.toArray(), `relaxed ${M}×${N}×${K}`);
      for (const t of [A, B, b, C1, C2, Bp]) t.dispose();
    }
  });
});

describe('biasAddForward / biasBackward', () => {
  it('biasAddForward adds b to every row: one f32 rounding per element', () => {
    for (const cols of lengths) {
      for (const rows of [1, 3]) {
        const y0 = randomArray(rows * cols + 4, cols + rows);
        y0.fill(SENTINEL, rows * cols);
        const b = randomArray(cols, 7 * cols + 1);
        const y = rt.tensor([y0.length], y0), bt = rt.tensor([Math.max(cols, 1)], cols ? b : [0]);
        k.biasAddForward(y.ptr, bt.ptr, rows, cols);
        const want = Float32Array.from(y0, (v, i) => (i < rows * cols ? f32(v + b[i % cols]) : v));
        expectBits(y.toArray(), want, `rows=${rows} cols=${cols}`);
        y.dispose(); bt.dispose();
      }
    }
  });

  it('biasBackward sums the rows of dy in order, as biasBackwardRef and float64 do', () => {
    for (const cols of lengths) {
      for (const rows of [1, 5, 100]) {
        const dy = rt.tensor([Math.max(rows * cols, 1)], rows * cols ? randomArray(rows * cols, 3 * cols + rows) : [0]);
        const db = rt.tensor([cols + 4]), dbRef = rt.tensor([cols + 4]);
        db.data.fill(SENTINEL);
        dbRef.data.fill(SENTINEL);
        k.biasBackward(db.ptr, dy.ptr, rows, cols);
        k.biasBackwardRef(dbRef.ptr, dy.ptr, rows, cols);
        expectBits(db.toArray(), dbRef.toArray(), `rows=${rows} cols=${cols}`);
        const d = dy.data;
        for (let j = 0; j < cols; j++) {
          let s = 0, abs = 0;
          for (let r = 0; r < rows; r++) { s += d[r * cols + j]; abs += Math.abs(d[r * cols + j]); }
          expect(Math.abs(db.data[j] - s), `column ${j} of ${cols}, ${rows} rows`).toBeLessThanOrEqual(rows * U * abs);
        }
        dy.dispose(); db.dispose(); dbRef.dispose();
      }
    }
  });
});

describe('gemmRowsClaimed (row chunks claimed by the threads that run the call)', () => {
  /** How the claims go: groups of `rows` rows, each claim ⌈left / divisor⌉ groups, at least `least`. */
  interface Claims { rows: number; divisor: number; least: number }
  const groups = (M: number, c: Claims) => Math.ceil(M / c.rows);

  /**
   * Runs the kernel on `p` with groups [front, back) unclaimed, claiming from the
   * front or the back (bias 0: beta·C + A·B; else act(A·B + bias)). Returns C and the claim words after.
   */
  function claimed(p: Problem, c: Claims, front: number, back: number, fromBack: number, bias: Float32Array | null = null, act = 0): { C: Float32Array; claim: Int32Array } {
    const A = tensorOf(rt, p.A), B = tensorOf(rt, p.B), C = tensorOf(rt, p.C0);
    const b = bias ? tensorOf(rt, bias) : null;
    const claim = rt.tensor([4]);
    new Int32Array(rt.memory.buffer, claim.ptr, 4).set([front | (back << 16), c.rows, c.divisor, c.least]);
    k.gemmRowsClaimed(p.tA, p.tB, p.M, p.N, p.K, A.ptr, p.lda, B.ptr, p.ldb, C.ptr, p.ldc, p.beta, b ? b.ptr : 0, act, rt.unsafeGemmWork, claim.ptr, fromBack);
    const out = { C: C.toArray().subarray(0, p.C0.length), claim: new Int32Array(rt.memory.buffer, claim.ptr, 4).slice() };
    for (const t of [A, B, C, claim, b]) t?.dispose();
    return out;
  }

  it('claiming every group, from the front or the back, gives the bits of gemm: every transpose case, group size, claim size, edge tile, K block and beta', () => {
    let seed = 1500;
    for (const [, tA, tB] of CASES) {
      for (const [M, N, K] of [[6, 8, 5], [13, 21, 7], [53, 45, KC + 44], [100, 100, 2 * KC + 1], [101, 3, 9]] as const) {
        for (const c of [{ rows: 6, divisor: 1, least: 1 }, { rows: 6, divisor: 4, least: 1 }, { rows: 12, divisor: 3, least: 2 }, { rows: 18, divisor: 64, least: 1 }, { rows: 6 * Math.ceil(M / 6), divisor: 2, least: 1 }]) {
          const p = problem(tA, tB, M, N, K, [0, 1, 0.5][seed % 3], seed++, 2);
          const want = run(rt, p);
          for (const fromBack of [0, 1]) {
            const got = claimed(p, c, 0, groups(M, c), fromBack);
            expectBits(got.C, want, `${tA}${tB} ${M}×${N}×${K} beta ${p.beta}, ${JSON.stringify(c)} from the ${fromBack ? 'back' : 'front'}`);
            expect(got.claim[0] & 0xffff, 'none left').toBe(got.claim[0] >>> 16);
          }
        }
      }
    }
  });

  it('computes only the groups left to claim, and leaves the others\' rows (and the padding) untouched', () => {
    const p = problem(0, 1, 100, 45, KC + 3, 0, 1600, 3);
    const want = run(rt, p);
    const c = { rows: 18, divisor: 3, least: 1 }; // 6 groups, the last of rows 90..99
    for (const [front, back] of [[2, 5], [0, 1], [5, 6], [3, 3]] as const) {
      const got = claimed(p, c, front, back, front % 2);
      const r0 = front * c.rows, r1 = Math.min(p.M, back * c.rows);
      expectBits(got.C.subarray(r0 * p.ldc, r1 * p.ldc), want.subarray(r0 * p.ldc, r1 * p.ldc), `groups ${front}..${back}: computed`);
      expectBits(got.C.subarray(0, r0 * p.ldc), p.C0.subarray(0, r0 * p.ldc), `groups ${front}..${back}: rows before untouched`);
      expectBits(got.C.subarray(r1 * p.ldc), p.C0.subarray(r1 * p.ldc), `groups ${front}..${back}: rows after untouched`);
      expect(got.claim[0] & 0xffff, 'claimed all').toBe(got.claim[0] >>> 16);
      expect([front, back], 'claimed within the window').toContain(got.claim[0] & 0xffff);
    }
  });

  it('with a bias, gives the bits of gemmBiasAct for every activation', () => {
    let seed = 1700;
    for (const act of [0, 1, 2, 3]) {
      const p = problem(1, 0, 61, 37, KC + 9, 0, seed++, 1);
      const bias = randomArray(p.N, seed++);
      const A = tensorOf(rt, p.A), B = tensorOf(rt, p.B), C = tensorOf(rt, p.C0), b = tensorOf(rt, bias);
      k.gemmBiasAct(p.tA, p.tB, p.M, p.N, p.K, A.ptr, p.lda, B.ptr, p.ldb, C.ptr, p.ldc, b.ptr, act, rt.unsafeGemmWork);
      const want = C.toArray().subarray(0, p.C0.length);
      for (const t of [A, B, C, b]) t.dispose();
      expectBits(claimed(p, { rows: 12, divisor: 2, least: 1 }, 0, 6, act % 2, bias, act).C, want, `act ${act}`);
    }
  });
});

describe('gemmBiasAct (bias + activation fused in the epilogue)', () => {
  const ACTS = [['none', 0, null], ['relu', 1, 'reluForward'], ['sigmoid', 2, 'sigmoidForward'], ['tanh', 3, 'tanhForward']] as const;

  /** The fused call on `p` (beta ignored: the epilogue's C is overwritten) on rows [r0, r1) × columns [c0, c1). */
  function fused(p: Problem, bias: Float32Array, act: number, rows: [number, number] = [0, p.M], cols: [number, number] = [0, p.N]): Float32Array {
    const A = tensorOf(rt, p.A), B = tensorOf(rt, p.B), C = tensorOf(rt, p.C0), b = tensorOf(rt, bias);
    const [r0, r1] = rows, [c0, c1] = cols;
    const aOff = p.tA ? r0 : r0 * p.lda, bOff = p.tB ? c0 * p.ldb : c0;
    k.gemmBiasAct(p.tA, p.tB, r1 - r0, c1 - c0, p.K, A.ptr + 4 * aOff, p.lda, B.ptr + 4 * bOff, p.ldb,
      C.ptr + 4 * (r0 * p.ldc + c0), p.ldc, b.ptr + 4 * c0, act, rt.unsafeGemmWork);
    const out = C.toArray().subarray(0, p.C0.length);
    for (const t of [A, B, C, b]) t.dispose();
    return out;
  }

  /** gemm (beta 0), then biasAddForward and the activation's kernel row by row (ldc may exceed N). */
  function unfused(p: Problem, bias: Float32Array, kernel: string | null): Float32Array {
    const C = run(rt, { ...p, beta: 0 });
    const row = rt.tensor([Math.max(p.N, 1)]), b = tensorOf(rt, bias);
    for (let i = 0; i < p.M; i++) {
      row.data.set(C.subarray(i * p.ldc, i * p.ldc + p.N));
      k.biasAddForward(row.ptr, b.ptr, 1, p.N);
      if (kernel) (k[kernel as 'reluForward'])(row.ptr, row.ptr, p.N);
      C.set(row.data.subarray(0, p.N), i * p.ldc);
    }
    row.dispose(); b.dispose();
    return C;
  }

  it('gives the bits of gemm, then biasAddForward, then the activation kernel: every activation, transpose case, edge tile and K block', () => {
    let seed = 700;
    for (const [name, act, kernel] of ACTS) {
      for (const [, tA, tB] of CASES) {
        for (const [M, N, K] of [[1, 1, 1], [1, 37, KC + 3], [2, 21, 2 * KC + 1], [3, 13, 7], [4, 101, 300], [6, 8, 5], [8, 21, KC + 1], [13, 21, 7], [53, 45, KC + 44], [100, 100, 784]] as const) {
          const p = problem(tA, tB, M, N, K, 0, seed++, 3);
          const bias = randomArray(N, seed++);
          const got = fused(p, bias, act);
          expectBits(got, unfused(p, bias, kernel), `${name} ${tA}${tB} ${M}×${N}×${K}`);
          if (name === 'relu' && M * N > 40) expect(got.filter((_v, i) => i % p.ldc < N).some((v) => v === 0), 'relu clips').toBe(true);
        }
      }
    }
  });

  it('a call on a block of rows or columns (bias offset with the columns) gives the bits of the whole call', () => {
    const p = problem(0, 1, 53, 45, KC + 44, 0, 800, 1);
    const bias = randomArray(45, 801);
    const whole = fused(p, bias, 1);
    for (const [r0, r1] of [[0, 7], [7, 53]] as const) {
      expectBits(fused(p, bias, 1, [r0, r1]).subarray(r0 * p.ldc, r1 * p.ldc), whole.subarray(r0 * p.ldc, r1 * p.ldc), `rows ${r0}..${r1}`);
    }
    for (const [c0, c1] of [[0, 13], [13, 45]] as const) {
      const part = fused(p, bias, 1, [0, p.M], [c0, c1]);
      for (let i = 0; i < p.M; i++) expectBits(part.subarray(i * p.ldc + c0, i * p.ldc + c1), whole.subarray(i * p.ldc + c0, i * p.ldc + c1), `columns ${c0}..${c1}`);
    }
  });

  it('ReLU on special values (NaN, ±Inf, ±subnormal, -0 in the bias) gives the bits of the unfused kernels', () => {
    const bias = new Float32Array(14);
    new Uint32Array(bias.buffer).set([0x7fc00000, 0xffc00001, 0x7f800000, 0xff800000, 0x00000001, 0x80000001, 0x80000000,
      0x007fffff, 0x807fffff, 0, 0x7f7fffff, 0xff7fffff, 0x3f800000, 0xbf800000]);
    // 5 rows: edge tiles (the epilogue over memory); 12 × 16 and K past a K block: full tiles (in registers)
    for (const [M, K] of [[5, 0], [5, 3], [12, 3], [12, KC + 2]]) {
      const p = problem(0, 0, M, 16, K, 0, 950 + K);
      const b16 = Float32Array.from({ length: 16 }, (_, j) => bias[j % 14]);
      const got = fused(p, b16, 1);
      expectBits(got, unfused(p, b16, 'reluForward'), `${M} rows, K=${K}`);
      for (let i = 0; i < p.M; i++) expect(got[i * p.ldc], `NaN stays NaN, row ${i}`).toBeNaN();
    }
  });

  it('K = 0 gives act(bias) in every row; rt.unsafeGemmBiasAct names an unknown activation', () => {
    const p = problem(0, 0, 3, 5, 0, 0, 900);
    const bias = Float32Array.from([-2, -0.5, 0, 0.5, 2]);
    const got = fused(p, bias, 1);
    for (let i = 0; i < 3; i++) expect(Array.from(got.subarray(i * p.ldc, i * p.ldc + 5))).toEqual([0, 0, 0, 0.5, 2]);
    expect(() => rt.unsafeGemmBiasAct(0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 'gelu' as 'relu')).toThrow(/gemmBiasAct: act must be one of none, relu, sigmoid, tanh, got 'gelu'/);
  });
});

describe('gemmActBackward (an activation\'s backward in the dx GEMM)', () => {
  const ACTS = [['relu', 1, 'reluBackward'], ['sigmoid', 2, 'sigmoidBackward'], ['tanh', 3, 'tanhBackward']] as const;
  const ACT_BACKWARD = 4; // assembly/math.ts: the code passed on is this + act, with bias = saved − C

  /** What the activation kept, in C's layout: random values, some ≤ 0, and special values for ReLU's mask. */
  function savedFor(p: Problem, seed: number): Float32Array {
    const s = randomArray(p.M * p.ldc, seed);
    const specials = new Uint32Array([0x7fc00000, 0xffc00001, 0x7f800000, 0xff800000, 0x00000001, 0x80000001, 0x80000000, 0, 0x007fffff]);
    for (let i = 0; i < s.length; i += 7) new Uint32Array(s.buffer, 4 * i, 1)[0] = specials[(i / 7) % specials.length];
    return s;
  }

  /** The kernel on `p` (beta ignored) on rows [r0, r1) × columns [c0, c1); returns C and saved after. */
  function fused(p: Problem, saved: Float32Array, act: number, rows: [number, number] = [0, p.M], cols: [number, number] = [0, p.N]): { C: Float32Array; saved: Float32Array } {
    const A = tensorOf(rt, p.A), B = tensorOf(rt, p.B), C = tensorOf(rt, p.C0), S = tensorOf(rt, saved);
    const [r0, r1] = rows, [c0, c1] = cols;
    const aOff = p.tA ? r0 : r0 * p.lda, bOff = p.tB ? c0 * p.ldb : c0, cOff = r0 * p.ldc + c0;
    k.gemmActBackward(p.tA, p.tB, r1 - r0, c1 - c0, p.K, A.ptr + 4 * aOff, p.lda, B.ptr + 4 * bOff, p.ldb,
      C.ptr + 4 * cOff, p.ldc, S.ptr + 4 * cOff, act, rt.unsafeGemmWork);
    const out = { C: C.toArray().subarray(0, p.C0.length), saved: S.toArray().subarray(0, saved.length) };
    for (const t of [A, B, C, S]) t.dispose();
    return out;
  }

  /** gemm (beta 0), then the activation's backward kernel row by row (ldc may exceed N). */
  function unfused(p: Problem, saved: Float32Array, kernel: string): Float32Array {
    const C = run(rt, { ...p, beta: 0 });
    const row = rt.tensor([Math.max(p.N, 1)]), s = rt.tensor([Math.max(p.N, 1)]);
    for (let i = 0; i < p.M; i++) {
      row.data.set(C.subarray(i * p.ldc, i * p.ldc + p.N));
      s.data.set(saved.subarray(i * p.ldc, i * p.ldc + p.N));
      (k[kernel as 'reluBackward'])(row.ptr, row.ptr, s.ptr, p.N);
      C.set(row.data.subarray(0, p.N), i * p.ldc);
    }
    row.dispose(); s.dispose();
    return C;
  }

  it('gives the bits of gemm, then the activation\'s backward kernel: every activation, transpose case, edge tile and K block; saved and the padding untouched', () => {
    let seed = 2100;
    for (const [name, act, kernel] of ACTS) {
      for (const [, tA, tB] of CASES) {
        for (const [M, N, K] of [[1, 1, 1], [1, 37, KC + 3], [3, 13, 7], [4, 101, 300], [6, 8, 5], [8, 21, KC + 1], [13, 21, 0], [53, 45, KC + 44], [100, 100, 100]] as const) {
          const p = problem(tA, tB, M, N, K, 0, seed++, 3);
          const saved = savedFor(p, seed++);
          const got = fused(p, saved, act);
          expectBits(got.C, unfused(p, saved, kernel), `${name} ${tA}${tB} ${M}×${N}×${K}`);
          expectBits(got.saved, saved, `${name} ${tA}${tB} ${M}×${N}×${K}: saved`);
          if (name === 'relu' && M * N > 40 && K > 0) {
            expect(got.C.some((v, i) => i % p.ldc < N && v === 0 && saved[i] <= 0), 'the mask zeroes').toBe(true);
          }
        }
      }
    }
  });

  it('a call on a block of rows or columns (saved offset like C) gives the bits of the whole call', () => {
    const p = problem(0, 1, 53, 45, KC + 44, 0, 2300, 1);
    const saved = savedFor(p, 2301);
    for (const [, act] of ACTS) {
      const whole = fused(p, saved, act).C;
      for (const [r0, r1] of [[0, 7], [7, 53]] as const) {
        expectBits(fused(p, saved, act, [r0, r1]).C.subarray(r0 * p.ldc, r1 * p.ldc), whole.subarray(r0 * p.ldc, r1 * p.ldc), `act ${act} rows ${r0}..${r1}`);
      }
      for (const [c0, c1] of [[0, 13], [13, 45]] as const) {
        const part = fused(p, saved, act, [0, p.M], [c0, c1]).C;
        for (let i = 0; i < p.M; i++) expectBits(part.subarray(i * p.ldc + c0, i * p.ldc + c1), whole.subarray(i * p.ldc + c0, i * p.ldc + c1), `act ${act} columns ${c0}..${c1}`);
      }
    }
  });

  it('gemmRowsClaimed with the backward code (bias = saved − C) gives the bits of the whole call on the groups it claims, and nothing else', () => {
    const p = problem(0, 1, 100, 45, KC + 3, 0, 2400, 3);
    const saved = savedFor(p, 2401);
    for (const [name, act] of ACTS) {
      const want = fused(p, saved, act).C;
      for (const [front, back, rows, divisor] of [[0, 17, 6, 4], [2, 5, 18, 3], [0, 1, 102, 1], [3, 3, 18, 2]] as const) {
        for (const fromBack of [0, 1]) {
          const A = tensorOf(rt, p.A), B = tensorOf(rt, p.B), C = tensorOf(rt, p.C0), S = tensorOf(rt, saved), claim = rt.tensor([4]);
          new Int32Array(rt.memory.buffer, claim.ptr, 4).set([front | (back << 16), rows, divisor, 1]);
          k.gemmRowsClaimed(p.tA, p.tB, p.M, p.N, p.K, A.ptr, p.lda, B.ptr, p.ldb, C.ptr, p.ldc, 0, (S.ptr - C.ptr) >>> 0, ACT_BACKWARD + act, rt.unsafeGemmWork, claim.ptr, fromBack);
          const got = C.toArray().subarray(0, p.C0.length);
          const r0 = Math.min(p.M, front * rows), r1 = Math.min(p.M, back * rows), what = `${name} groups ${front}..${back} of ${rows} rows from the ${fromBack ? 'back' : 'front'}`;
          expectBits(got.subarray(r0 * p.ldc, r1 * p.ldc), want.subarray(r0 * p.ldc, r1 * p.ldc), `${what}: computed`);
          expectBits(got.subarray(0, r0 * p.ldc), p.C0.subarray(0, r0 * p.ldc), `${what}: rows before untouched`);
          expectBits(got.subarray(r1 * p.ldc), p.C0.subarray(r1 * p.ldc), `${what}: rows after untouched`);
          expectBits(S.toArray().subarray(0, saved.length), saved, `${what}: saved untouched`);
          for (const t of [A, B, C, S, claim]) t.dispose();
        }
      }
    }
  });

  it('rt.unsafeGemmActBackward: the kernel\'s bits; names a bad activation or a saved block that overlaps C, before writing', () => {
    const p = problem(0, 1, 13, 21, 9, 0, 2500);
    const saved = savedFor(p, 2501);
    const A = tensorOf(rt, p.A), B = tensorOf(rt, p.B), C = tensorOf(rt, p.C0), S = tensorOf(rt, saved);
    rt.unsafeGemmActBackward(0, 1, p.M, p.N, p.K, A.ptr, p.lda, B.ptr, p.ldb, C.ptr, p.ldc, S.ptr, 'sigmoid');
    expectBits(C.toArray(), fused(p, saved, 2).C, 'sigmoid');
    C.data.set(p.C0);
    expect(() => rt.unsafeGemmActBackward(0, 1, p.M, p.N, p.K, A.ptr, p.lda, B.ptr, p.ldb, C.ptr, p.ldc, S.ptr, 'none' as 'relu')).toThrow(/gemmActBackward: act must be one of relu, sigmoid, tanh, got 'none'/);
    expect(() => rt.unsafeGemmActBackward(0, 1, p.M, p.N, p.K, A.ptr, p.lda, B.ptr, p.ldb, C.ptr, p.ldc, S.ptr, 'gelu' as 'relu')).toThrow(/gemmActBackward: act must be one of none, relu, sigmoid, tanh, got 'gelu'/);
    for (const at of [C.ptr, C.ptr + 4 * (p.M * p.ldc - 1), C.ptr - 4 * (p.M - 1) * p.ldc - 4 * (p.N - 1)]) {
      expect(() => rt.unsafeGemmActBackward(0, 1, p.M, p.N, p.K, A.ptr, p.lda, B.ptr, p.ldb, C.ptr, p.ldc, at, 'relu')).toThrow(/gemmActBackward: saved \(bytes \d+\.\.\d+\) overlaps C/);
    }
    expectBits(C.toArray(), p.C0, 'C untouched by the refused calls');
    rt.unsafeGemmActBackward(0, 1, 0, p.N, p.K, A.ptr, p.lda, B.ptr, p.ldb, C.ptr, p.ldc, C.ptr, 'relu');
    expectBits(C.toArray(), p.C0, 'M = 0: nothing to do');
    for (const t of [A, B, C, S]) t.dispose();
  });
});

describe('packBPanels / gemmPacked / gemmPackedClaimed (weights packed once: a frozen net\'s Affine)', () => {
  const GUARD = 16; // canary floats before and after the packed B and C
  const NR = 8;
  const packedFloats = (N: number, K: number) => K * Math.ceil(N / NR) * NR;

  /** op(B) of p packed by packBPanels into a buffer with canaries around it. */
  function pack(p: Problem): { buf: Tensor; Bp: number; guardsIntact: () => boolean } {
    const B = tensorOf(rt, p.B);
    const n = packedFloats(p.N, p.K);
    const buf = rt.tensor([n + 2 * GUARD]);
    buf.data.fill(SENTINEL);
    k.packBPanels(p.tB, p.N, p.K, B.ptr, p.ldb, buf.ptr + 4 * GUARD);
    B.dispose();
    const guardsIntact = () => {
      const d = buf.data;
      for (let i = 0; i < GUARD; i++) if (d[i] !== SENTINEL || d[GUARD + n + i] !== SENTINEL) return false;
      return true;
    };
    return { buf, Bp: buf.ptr + 4 * GUARD, guardsIntact };
  }

  /** gemmPacked on rows [r0, r1) × columns [c0, c1) of p's C (beta ignored; bias null: A·B), C with canaries around it. */
  function packedCall(p: Problem, Bp: number, bias: Float32Array | null, act: number, rows: [number, number] = [0, p.M], cols: [number, number] = [0, p.N]): { C: Float32Array; guards: boolean } {
    const [r0, r1] = rows, [c0, c1] = cols;
    const A = tensorOf(rt, p.A), b = bias ? tensorOf(rt, bias) : null;
    const C = rt.tensor([p.C0.length + 2 * GUARD]);
    const init = new Float32Array(p.C0.length + 2 * GUARD).fill(SENTINEL);
    init.set(p.C0, GUARD);
    C.data.set(init);
    k.gemmPacked(r1 - r0, c1 - c0, p.K, A.ptr + 4 * r0 * p.lda, p.lda, Bp + 4 * c0 * p.K, C.ptr + 4 * (GUARD + r0 * p.ldc + c0), p.ldc,
      b ? b.ptr + 4 * c0 : 0, act, rt.unsafeGemmWork);
    const out = C.toArray();
    for (const t of [A, C, b]) t?.dispose();
    const guards = out.subarray(0, GUARD).every((v) => v === SENTINEL) && out.subarray(GUARD + p.C0.length).every((v) => v === SENTINEL);
    return { C: out.subarray(GUARD, GUARD + p.C0.length), guards };
  }

  /** What the unpacked kernels give: gemmBiasAct with a bias, gemm (beta 0) without. */
  function unpacked(p: Problem, bias: Float32Array | null, act: number): Float32Array {
    if (!bias) return run(rt, { ...p, beta: 0 });
    const A = tensorOf(rt, p.A), B = tensorOf(rt, p.B), C = tensorOf(rt, p.C0), b = tensorOf(rt, bias);
    k.gemmBiasAct(0, p.tB, p.M, p.N, p.K, A.ptr, p.lda, B.ptr, p.ldb, C.ptr, p.ldc, b.ptr, act, rt.unsafeGemmWork);
    const out = C.toArray().subarray(0, p.C0.length);
    for (const t of [A, B, C, b]) t.dispose();
    return out;
  }

  it('gives the bits of gemm / gemmBiasAct on the unpacked B: M = 1..9, 13, 53, 100; B or Bᵀ; tile edges; K past one and two K blocks; every activation; subnormal operands; C\'s padding and the canaries untouched', () => {
    let seed = 3000;
    for (const tB of [0, 1] as const) {
      for (const [N, K] of [[1, 1], [3, 7], [8, KC], [13, KC + 1], [16, 5], [17, 2 * KC + 3], [37, 9], [100, 784]] as const) {
        const p = problem(0, tB, 100, N, K, 0, seed++, seed % 2);
        sprinkle(p, seed++);
        const packed = pack(p);
        for (const M of [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 53, 100]) {
          const q = { ...p, M, A: p.A.subarray(0, M * p.lda), C0: p.C0.subarray(0, M * p.ldc) };
          for (const act of [-1, 0, 1, 2, 3]) {
            const bias = act < 0 ? null : randomArray(N, seed++);
            const what = `${tB ? 'Bᵀ' : 'B'} ${M}×${N}×${K} act ${act < 0 ? 'no bias' : act} ldc=${p.ldc}`;
            const got = packedCall(q, packed.Bp, bias, Math.max(act, 0));
            expectBits(got.C, unpacked(q, bias, Math.max(act, 0)), what);
            for (let i = 0; i < M; i++) for (let j = N; j < p.ldc; j++) expect(got.C[i * p.ldc + j], `${what}: padding`).toBe(SENTINEL);
            expect(got.guards, `${what}: C's canaries`).toBe(true);
          }
        }
        expect(packed.guardsIntact(), `${tB} ${N}×${K}: packBPanels wrote only its ${packedFloats(N, K)} floats`).toBe(true);
        packed.buf.dispose();
      }
    }
  });

  it('1–8 rows with K past the spans of A that the workspace holds (2^16 k for 1–4 rows, 2^15 for two groups of 4): the bits of gemm / gemmBiasAct on the unpacked B', () => {
    let seed = 3050;
    for (const N of [8, 17]) {
      const p = problem(0, 0, 8, N, (1 << 16) + KC + 3, 0, seed++);
      sprinkle(p, seed++);
      const packed = pack(p);
      for (const M of [1, 2, 3, 4, 5, 6, 7, 8]) {
        const q = { ...p, M, A: p.A.subarray(0, M * p.lda), C0: p.C0.subarray(0, M * p.ldc) };
        for (const act of [-1, 1]) {
          const bias = act < 0 ? null : randomArray(N, seed++);
          const what = `${M}×${N}×${p.K} act ${act < 0 ? 'no bias' : act}`;
          const got = packedCall(q, packed.Bp, bias, Math.max(act, 0));
          expectBits(got.C, unpacked(q, bias, Math.max(act, 0)), what);
          expect(got.guards, `${what}: C's canaries`).toBe(true);
        }
      }
      packed.buf.dispose();
    }
  });

  it('packs op(B) flushed, K rows per panel of 8 columns, the last panel\'s missing columns zero', () => {
    const p = problem(0, 1, 1, 13, 5, 0, 3100);
    p.B[2 * p.ldb + 3] = 1e-40; // column 2, k 3: subnormal
    const packed = pack(p);
    const d = packed.buf.data.subarray(GUARD);
    for (let j = 0; j < 16; j++) {
      for (let kk = 0; kk < p.K; kk++) {
        const at = Math.floor(j / NR) * p.K * NR + kk * NR + (j % NR);
        const want = j >= p.N || (j === 2 && kk === 3) ? 0 : bAt(p, kk, j);
        expect(d[at], `column ${j}, k ${kk}`).toBe(want);
      }
    }
    packed.buf.dispose();
  });

  it('a column part from a panel boundary (B + 4·j·K bytes, bias + 4·j) and a block of rows give the bits of the whole call; K = 0 gives act(bias)', () => {
    const p = problem(0, 0, 53, 45, KC + 44, 0, 3200, 2);
    const bias = randomArray(45, 3201);
    const packed = pack(p);
    const whole = packedCall(p, packed.Bp, bias, 1).C;
    // all 53 rows (the blocks), and 8 of them (two 4-row groups on each panel)
    for (const [r0, r1] of [[0, 53], [45, 53]] as const) {
      for (const [c0, c1] of [[0, 16], [16, 45], [40, 45]] as const) {
        const part = packedCall(p, packed.Bp, bias, 1, [r0, r1], [c0, c1]).C;
        for (let i = r0; i < r1; i++) expectBits(part.subarray(i * p.ldc + c0, i * p.ldc + c1), whole.subarray(i * p.ldc + c0, i * p.ldc + c1), `rows ${r0}..${r1}, columns ${c0}..${c1}, row ${i}`);
      }
    }
    for (const [r0, r1] of [[0, 1], [1, 3], [45, 51], [45, 53], [7, 53]] as const) {
      expectBits(packedCall(p, packed.Bp, bias, 1, [r0, r1]).C.subarray(r0 * p.ldc, r1 * p.ldc), whole.subarray(r0 * p.ldc, r1 * p.ldc), `rows ${r0}..${r1}`);
    }
    packed.buf.dispose();
    const z = problem(0, 0, 3, 5, 0, 0, 3202);
    const zb = Float32Array.from([-2, -0.5, 0, 0.5, 2]);
    const got = packedCall(z, rt.unsafeGemmWork, zb, 1).C;
    for (let i = 0; i < 3; i++) expect([...got.subarray(i * z.ldc, i * z.ldc + 5)]).toEqual([0, 0, 0, 0.5, 2]);
  });

  it('gemmPackedClaimed computes the groups it claims, from the front or the back, with the bits of gemmPacked, and nothing else', () => {
    let seed = 3300;
    for (const [M, N, K, rows, divisor] of [[100, 100, 784, 12, 4], [61, 37, KC + 9, 6, 1], [13, 21, 7, 18, 2]] as const) {
      const p = problem(0, (seed % 2) as Trans, M, N, K, 0, seed++, 1);
      const bias = randomArray(N, seed++);
      const packed = pack(p);
      const want = packedCall(p, packed.Bp, bias, 2).C;
      const groups = Math.ceil(M / rows);
      for (const [front, back, fromBack] of [[0, groups, 0], [0, groups, 1], [1, Math.max(1, groups - 1), 1]] as const) {
        const A = tensorOf(rt, p.A), C = tensorOf(rt, p.C0), b = tensorOf(rt, bias);
        const claim = rt.tensor([4]);
        new Int32Array(rt.memory.buffer, claim.ptr, 4).set([front | (back << 16), rows, divisor, 1]);
        k.gemmPackedClaimed(M, N, K, A.ptr, p.lda, packed.Bp, C.ptr, p.ldc, b.ptr, 2, rt.unsafeGemmWork, claim.ptr, fromBack);
        const got = C.toArray().subarray(0, p.C0.length);
        const words = new Int32Array(rt.memory.buffer, claim.ptr, 4).slice();
        for (const t of [A, C, b, claim]) t.dispose();
        const r0 = front * rows, r1 = Math.min(M, back * rows);
        const what = `${M}×${N}×${K} groups ${front}..${back} from the ${fromBack ? 'back' : 'front'}`;
        expectBits(got.subarray(r0 * p.ldc, r1 * p.ldc), want.subarray(r0 * p.ldc, r1 * p.ldc), what);
        expectBits(got.subarray(0, r0 * p.ldc), p.C0.subarray(0, r0 * p.ldc), `${what}: rows before untouched`);
        expectBits(got.subarray(r1 * p.ldc), p.C0.subarray(r1 * p.ldc), `${what}: rows after untouched`);
        expect(words[0] & 0xffff, `${what}: none left`).toBe(words[0] >>> 16);
      }
      expect(packed.guardsIntact()).toBe(true);
      packed.buf.dispose();
    }
  });
});

// gemmPackedBlocks: gemmPacked's blocks and tiles on a packed B for any M, with op(A) = A or Aᵀ (the
// convolution by positions' colᵀ · Wᵀ and doutᵀ · W): gemmBiasAct's bits on the same operands in both
// builds, every activation and none, M from 1 past the relaxed build's 48-row A block, K across one and two
// 256 blocks, N off the 8-column panels; C's canaries untouched.
describe('gemmPackedBlocks (op(A) on a packed B)', () => {
  for (const build of ['plain', 'relaxed'] as const) {
    it(`gives gemmBiasAct's bits for A and Aᵀ (${build} build)`, async () => {
      const r = build === 'plain' ? rt : await makeRelaxedRuntime();
      const kk = r.unsafeKernels;
      let seed = 1300;
      for (const [M, N, K] of [[1, 9, 5], [3, 16, 300], [49, 37, 2 * KC + 7], [50, 64, KC], [100, 13, 45], [7, 100, 9]]) {
        for (const transA of [0, 1]) {
          const A = r.tensor([M * K], randomArray(M * K, seed++)), B = r.tensor([K * N], randomArray(K * N, seed++));
          const b = r.tensor([N], randomArray(N, seed++)), Bp = r.tensor([K * Math.ceil(N / 8) * 8]);
          const want = r.tensor([M * N]), got = r.tensor([M * N + 8]);
          kk.packBPanels(0, N, K, B.ptr, N, Bp.ptr);
          const lda = transA ? M : K;
          for (let act = 0; act <= 3; act++) {
            const what = `${build} ${M}×${N}×${K} transA ${transA} act ${act}`;
            got.data.fill(SENTINEL);
            kk.gemmBiasAct(transA, 0, M, N, K, A.ptr, lda, B.ptr, N, want.ptr, N, b.ptr, act, r.unsafeGemmWork);
            kk.gemmPackedBlocks(transA, M, N, K, A.ptr, lda, Bp.ptr, got.ptr, N, b.ptr, act, r.unsafeGemmWork);
            expectBits(got.toArray().subarray(0, M * N), want.toArray(), what);
            expect(got.toArray().subarray(M * N).every((v) => Object.is(v, SENTINEL)), `C's canaries, ${what}`).toBe(true);
          }
          for (const t of [A, B, b, Bp, want, got]) t.dispose();
        }
      }
    });
  }
});
