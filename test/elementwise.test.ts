// assembly/elementwise.ts: every kernel against its scalar Ref and against
// float64 formulas, over lengths around each multiple of the vector width.
// Also: in-place calls, calls on a sub-range (the tail must compute the same
// bits as the vector body), and no writes past the end of the range.
import { describe, it, expect, beforeAll } from 'vitest';
import type { TestKernels } from '../build/test/kernels-test.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { makeTestRuntime, lengths, randomArray, randomInts, expectClose, expectBits, type TestRuntime } from './helpers/runtime.js';

const f32 = Math.fround;
const SENTINEL = 12345.5;
const ULP = 2 ** -23; // float32 machine epsilon: 1 ulp relative, at most

let rt: TestRuntime;
let k: TestKernels;
beforeAll(async () => {
  rt = await makeTestRuntime();
  k = rt.unsafeKernels;
});

/** A tensor holding `values` followed by 4 sentinels, to catch writes past the end. */
function padded(values: ArrayLike<number>): Tensor {
  const t = rt.tensor([values.length + 4]);
  t.data.fill(SENTINEL);
  t.data.set(values);
  return t;
}

function expectSentinels(t: Tensor, n: number, what: string): void {
  expect(Array.from(t.data.subarray(n)), `${what}: wrote past element ${n}`).toEqual([SENTINEL, SENTINEL, SENTINEL, SENTINEL]);
}

/** Inputs in [lo, hi) with exact zeros sprinkled in (the ReLU/sign edge). */
function inputs(n: number, seed: number, lo: number, hi: number): Float32Array {
  const x = randomArray(n, seed, lo, hi);
  for (let i = 0; i < n; i += 5) x[i] = 0;
  return x;
}

// ---- y = f(x)
interface Unary {
  name: 'reluForward' | 'sigmoidForward' | 'tanhForward' | 'expForward';
  ref?: 'reluForwardRef' | 'sigmoidForwardRef' | 'tanhForwardRef';
  f64: (x: number) => number;
  /** Inputs drawn from [lo, hi). */
  lo: number; hi: number;
  /** Relative tolerance against float64 and against the Ref; 0 = bit-exact (after rounding to f32). */
  rtol: number;
}

// Tolerances: measured worst errors over dense grids are 0.95 ulp (exp), 1.5 ulp (tanh)
// and 2.4 ulp (sigmoid, whose Ref, using Mathf.exp, shows the same 2.4 ulp).
const unaries: Unary[] = [
  { name: 'reluForward', ref: 'reluForwardRef', f64: (x) => (x < 0 ? 0 : x), lo: -2, hi: 2, rtol: 0 },
  { name: 'sigmoidForward', ref: 'sigmoidForwardRef', f64: (x) => 1 / (1 + Math.exp(-x)), lo: -20, hi: 20, rtol: 3 * ULP },
  { name: 'tanhForward', ref: 'tanhForwardRef', f64: Math.tanh, lo: -5, hi: 5, rtol: 2 * ULP },
  { name: 'expForward', f64: Math.exp, lo: -20, hi: 20, rtol: 2 * ULP },
];

describe.each(unaries)('$name', ({ name, ref, f64, lo, hi, rtol }) => {
  it('matches the float64 formula and the scalar Ref at every length', () => {
    for (const n of lengths) {
      const xs = inputs(n, n + 1, lo, hi);
      const x = rt.tensor([n], xs);
      const y = padded(new Float32Array(n));
      const yRef = padded(new Float32Array(n));
      k[name](y.ptr, x.ptr, n);
      const expected = Float32Array.from(xs, (v) => f32(f64(v)));
      if (rtol === 0) expectBits(y.data.subarray(0, n), expected, `${name} n=${n}`);
      else expectClose(y.data.subarray(0, n), expected, { rtol }, `${name} n=${n}`);
      expectSentinels(y, n, name);
      if (ref) {
        k[ref](yRef.ptr, x.ptr, n);
        if (rtol === 0) expectBits(y.data.subarray(0, n), yRef.data.subarray(0, n), `${name} vs ${ref} n=${n}`);
        else expectClose(y.data.subarray(0, n), yRef.data.subarray(0, n), { rtol: 2 * rtol }, `${name} vs ${ref} n=${n}`);
      }
      for (const t of [x, y, yRef]) t.dispose();
    }
  });

  it('gives the same bits in place and on any sub-range', () => {
    for (const n of lengths) {
      const xs = inputs(n, 100 + n, lo, hi);
      const x = rt.tensor([n], xs);
      const whole = rt.tensor([n]);
      k[name](whole.ptr, x.ptr, n);
      const inPlace = padded(xs);
      k[name](inPlace.ptr, inPlace.ptr, n);
      expectBits(inPlace.data.subarray(0, n), whole.data, `${name} in place n=${n}`);
      expectSentinels(inPlace, n, `${name} in place`);
      for (let start = 1; start <= 3 && start < n; start++) {
        const part = padded(new Float32Array(n).fill(SENTINEL));
        k[name](part.ptr + 4 * start, x.ptr + 4 * start, n - start);
        expect(part.data[start - 1], `${name} wrote before its range`).toBe(SENTINEL);
        expectBits(part.data.subarray(start, n), whole.data.subarray(start), `${name} rows [${start}, ${n})`);
        expectSentinels(part, n, name);
        part.dispose();
      }
      for (const t of [x, whole, inPlace]) t.dispose();
    }
  });
});

describe('expForward over its whole range', () => {
  it('stays within 2 ulp of Math.exp on [-87.33, 88]', () => {
    const n = 20001;
    const xs = Float32Array.from({ length: n }, (_, i) => -87.33 + (88 + 87.33) * (i / (n - 1)));
    const x = rt.tensor([n], xs);
    const y = rt.tensor([n]);
    k.expForward(y.ptr, x.ptr, n);
    expectClose(y.data, Float32Array.from(xs, (v) => f32(Math.exp(v))), { rtol: 2 * ULP }, 'exp');
    x.dispose(); y.dispose();
  });

  it('is exact at 0, clamps outside [-87.34, 88] to finite values, and propagates NaN', () => {
    const xs = [0, -87.5, -100, -1e30, -Infinity, 88.5, 100, Infinity, Number.NaN];
    const x = rt.tensor([xs.length], xs);
    const y = rt.tensor([xs.length]);
    k.expForward(y.ptr, x.ptr, xs.length);
    const [one, ...rest] = y.toArray();
    expect(one).toBe(1);
    // below: about the smallest normal float (2^-126), never 0 or denormal; above: about exp(88), never +inf
    expectClose(rest.slice(0, 4), [2 ** -126, 2 ** -126, 2 ** -126, 2 ** -126], { rtol: 1e-5 }, 'exp below the clamp');
    expectClose(rest.slice(4, 7), [Math.exp(88), Math.exp(88), Math.exp(88)], { rtol: 2 * ULP }, 'exp above the clamp');
    expect(rest[7]).toBeNaN();
    x.dispose(); y.dispose();
  });
});

describe('tanhForward and sigmoidForward accuracy', () => {
  it('tanh keeps 2 ulp relative accuracy near 0 (|x| from 1e-30 to 0.6) and saturates to +-1', () => {
    const n = 4001;
    const xs = Float32Array.from({ length: n }, (_, i) => (i % 2 ? -1 : 1) * 10 ** (-30 + 29.8 * (i / (n - 1))));
    const x = rt.tensor([n], xs);
    const y = rt.tensor([n]);
    k.tanhForward(y.ptr, x.ptr, n);
    expectClose(y.data, Float32Array.from(xs, (v) => f32(Math.tanh(v))), { rtol: 2 * ULP }, 'tanh near 0');
    x.set(Float32Array.from({ length: n }, (_, i) => (i % 2 ? -1 : 1) * (9 + i)));
    k.tanhForward(y.ptr, x.ptr, n);
    expect(y.data.every((v, i) => v === (i % 2 ? -1 : 1))).toBe(true);
    x.dispose(); y.dispose();
  });

  it('sigmoid is 0.5 at 0, 1 for large x, and tiny but non-negative for very negative x', () => {
    const xs = [0, 20, 100, Infinity, -20, -87, -100, -Infinity];
    const x = rt.tensor([xs.length], xs);
    const y = rt.tensor([xs.length]);
    k.sigmoidForward(y.ptr, x.ptr, xs.length);
    const ys = y.toArray();
    expect(Array.from(ys.slice(0, 4))).toEqual([0.5, 1, 1, 1]);
    // below x = -87.3 the exp clamp bounds the result at about 6e-39 instead of 0
    expectClose(ys.slice(4), xs.slice(4).map((v) => 1 / (1 + Math.exp(-v))), { rtol: 3 * ULP, atol: 1e-38 }, 'sigmoid tail');
    expect(ys.slice(4).every((v) => v >= 0)).toBe(true);
    x.dispose(); y.dispose();
  });
});

describe('ReLU on special values', () => {
  /** -0, NaNs (payloads and sign), ±Inf, ±subnormals, ±0 and the float32 extremes, in every lane and in the tail. */
  function specials(n: number): Float32Array {
    const bits = [0x80000000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7f800000, 0xff800000, 0x00000001, 0x80000001,
      0x007fffff, 0x807fffff, 0x00000000, 0x7f7fffff, 0xff7fffff, 0x3f800000, 0xbf800000];
    const x = new Float32Array(n);
    const u = new Uint32Array(x.buffer);
    for (let i = 0; i < n; i++) u[i] = bits[i % bits.length];
    return x;
  }

  it('forward: x < 0 ? 0 : x bit for bit (-0 and NaN pass unchanged, -Inf and negative subnormals give +0), equal to the Ref', () => {
    for (const n of [15, 16, 17, 45, 67]) {
      const xs = specials(n);
      const x = rt.tensor([n], xs);
      const y = padded(new Float32Array(n));
      const yRef = rt.tensor([n]);
      k.reluForward(y.ptr, x.ptr, n);
      k.reluForwardRef(yRef.ptr, x.ptr, n);
      const expected = new Float32Array(n);
      const eu = new Uint32Array(expected.buffer), xu = new Uint32Array(xs.buffer);
      for (let i = 0; i < n; i++) eu[i] = xs[i] < 0 ? 0 : xu[i];
      expectBits(y.data.subarray(0, n), expected, `reluForward n=${n}`);
      expectBits(yRef.data, expected, `reluForwardRef n=${n}`);
      expectSentinels(y, n, 'reluForward');
      expect(Object.is(y.data[0], -0), '-0 stays -0').toBe(true);
      for (const t of [x, y, yRef]) t.dispose();
    }
  });

  it('backward: dy where x > 0, else 0 (NaN and -0 included), the same from the input and from the output; equal to the Ref', () => {
    for (const n of [15, 16, 17, 45, 67]) {
      const xs = specials(n);
      const dys = randomArray(n, 40 + n, 0.5, 3);
      const x = rt.tensor([n], xs), dy = rt.tensor([n], dys), y = rt.tensor([n]);
      const dx = rt.tensor([n]), dxRef = rt.tensor([n]), dxOut = rt.tensor([n]);
      k.reluForward(y.ptr, x.ptr, n);
      k.reluBackward(dx.ptr, dy.ptr, x.ptr, n);
      k.reluBackwardRef(dxRef.ptr, dy.ptr, x.ptr, n);
      k.reluBackward(dxOut.ptr, dy.ptr, y.ptr, n);
      const expected = Float32Array.from(dys, (v, i) => (xs[i] > 0 ? v : 0));
      expectBits(dx.data, expected, `reluBackward n=${n}`);
      expectBits(dxRef.data, expected, `reluBackwardRef n=${n}`);
      expectBits(dxOut.data, expected, `reluBackward from the output n=${n}`);
      for (const t of [x, dy, y, dx, dxRef, dxOut]) t.dispose();
    }
  });
});

// ---- dx = f(dy, saved): backward kernels, bit-exact against the float64
// formula rounded to f32 after each operation (what f32 arithmetic does).
interface Backward {
  name: 'reluBackward' | 'sigmoidBackward' | 'tanhBackward';
  ref: 'reluBackwardRef' | 'sigmoidBackwardRef' | 'tanhBackwardRef';
  saved: (n: number, seed: number) => Float32Array;
  f64: (dy: number, s: number) => number;
}

const backwards: Backward[] = [
  { name: 'reluBackward', ref: 'reluBackwardRef', saved: (n, s) => inputs(n, s, -2, 2), f64: (dy, x) => (x > 0 ? dy : 0) },
  { name: 'sigmoidBackward', ref: 'sigmoidBackwardRef', saved: (n, s) => randomArray(n, s, 0, 1), f64: (dy, y) => f32(f32(dy * f32(1 - y)) * y) },
  { name: 'tanhBackward', ref: 'tanhBackwardRef', saved: (n, s) => randomArray(n, s, -1, 1), f64: (dy, y) => f32(dy * f32(1 - f32(y * y))) },
];

describe.each(backwards)('$name', ({ name, ref, saved, f64 }) => {
  it('equals the formula and the Ref bit for bit, in place (dx = dy) and on sub-ranges', () => {
    for (const n of lengths) {
      const dys = randomArray(n, 200 + n, -3, 3);
      const ss = saved(n, 300 + n);
      const dy = rt.tensor([n], dys);
      const s = rt.tensor([n], ss);
      const dx = padded(new Float32Array(n));
      const dxRef = rt.tensor([n]);
      k[name](dx.ptr, dy.ptr, s.ptr, n);
      const expected = Float32Array.from(dys, (v, i) => f64(v, ss[i]));
      expectBits(dx.data.subarray(0, n), expected, `${name} n=${n}`);
      expectSentinels(dx, n, name);
      k[ref](dxRef.ptr, dy.ptr, s.ptr, n);
      expectBits(dxRef.data, expected, `${ref} n=${n}`);
      for (let start = 1; start <= 3 && start < n; start++) {
        const part = padded(new Float32Array(n));
        k[name](part.ptr + 4 * start, dy.ptr + 4 * start, s.ptr + 4 * start, n - start);
        expectBits(part.data.subarray(start, n), expected.subarray(start), `${name} [${start}, ${n})`);
        expectSentinels(part, n, name);
        part.dispose();
      }
      k[name](dy.ptr, dy.ptr, s.ptr, n);
      expectBits(dy.data, expected, `${name} in place n=${n}`);
      for (const t of [dy, s, dx, dxRef]) t.dispose();
    }
  });
});

// ---- vector arithmetic
describe('axpy, scale, fill, copy', () => {
  it('axpy: y += a*x, equal to the Ref and to fround(y + fround(a*x)), also with x = y and on sub-ranges', () => {
    const a = f32(-0.7);
    for (const n of lengths) {
      const xs = randomArray(n, 400 + n), ys = randomArray(n, 500 + n);
      const expected = Float32Array.from(ys, (v, i) => f32(v + f32(a * xs[i])));
      const x = rt.tensor([n], xs);
      const y = padded(ys);
      k.axpy(y.ptr, x.ptr, a, n);
      expectBits(y.data.subarray(0, n), expected, `axpy n=${n}`);
      expectSentinels(y, n, 'axpy');
      const yRef = rt.tensor([n], ys);
      k.axpyRef(yRef.ptr, x.ptr, a, n);
      expectBits(yRef.data, expected, `axpyRef n=${n}`);
      const part = rt.tensor([n], ys);
      const start = Math.min(3, n);
      k.axpy(part.ptr + 4 * start, x.ptr + 4 * start, a, n - start);
      expectBits(part.data, Float32Array.from([...ys.subarray(0, start), ...expected.subarray(start)]), `axpy [${start}, ${n})`);
      const self = rt.tensor([n], ys);
      k.axpy(self.ptr, self.ptr, a, n);
      expectBits(self.data, Float32Array.from(ys, (v) => f32(v + f32(a * v))), `axpy x = y n=${n}`);
      for (const t of [x, y, yRef, part, self]) t.dispose();
    }
  });

  it('scale: y = a*x, out of place and in place, exact', () => {
    const a = f32(1.3);
    for (const n of lengths) {
      const xs = randomArray(n, 600 + n);
      const expected = Float32Array.from(xs, (v) => f32(a * v));
      const x = padded(xs);
      const y = padded(new Float32Array(n));
      k.scale(y.ptr, x.ptr, a, n);
      expectBits(y.data.subarray(0, n), expected, `scale n=${n}`);
      expectSentinels(y, n, 'scale');
      k.scale(x.ptr, x.ptr, a, n);
      expectBits(x.data.subarray(0, n), expected, `scale in place n=${n}`);
      expectSentinels(x, n, 'scale in place');
      x.dispose(); y.dispose();
    }
  });

  it('clampRange: y = min(max(x, lo), hi), out of place and in place, exact; NaN stays NaN, -0 stays -0', () => {
    const [lo, hi] = [f32(-0.7), f32(0.7)];
    const clamp = (v: number) => (Number.isNaN(v) ? NaN : Math.min(Math.max(v, lo), hi));
    // a NaN's sign and payload are the host's (Wasm: an arithmetic NaN); every other value to the bit
    const expectClamped = (got: Float32Array, want: Float32Array, what: string) => {
      const nan = Array.from(want, Number.isNaN);
      expect(Array.from(got, Number.isNaN), `${what}: NaN positions`).toEqual(nan);
      expectBits(got.filter((_, i) => !nan[i]), want.filter((_, i) => !nan[i]), what);
    };
    for (const n of lengths) {
      const xs = randomArray(n, 650 + n, -2, 2);
      for (let i = 0; i < n; i += 7) xs[i] = i % 2 === 0 ? NaN : -0;
      const expected = Float32Array.from(xs, clamp);
      for (const kernel of ['clampRange', 'clampRangeRef'] as const) {
        const x = padded(xs);
        const y = padded(new Float32Array(n));
        k[kernel](y.ptr, x.ptr, lo, hi, n);
        expectClamped(y.data.subarray(0, n), expected, `${kernel} n=${n}`);
        expectSentinels(y, n, kernel);
        k[kernel](x.ptr, x.ptr, lo, hi, n);
        expectClamped(x.data.subarray(0, n), expected, `${kernel} in place n=${n}`);
        expectSentinels(x, n, `${kernel} in place`);
        x.dispose(); y.dispose();
      }
    }
  });

  it('fill writes exactly n values; copy moves bits (NaN payloads, -0) exactly', () => {
    for (const n of lengths) {
      const y = padded(new Float32Array(n));
      k.fill(y.ptr, -2.5, n);
      expect(y.data.subarray(0, n).every((v) => v === -2.5), `fill n=${n}`).toBe(true);
      expectSentinels(y, n, 'fill');
      const bits = Uint32Array.from(randomInts(n, 700 + n, 2 ** 31), (v, i) => (i % 3 === 0 ? 0x7fc00000 + i : i % 3 === 1 ? 0x80000000 : v));
      const src = rt.tensor([n], new Float32Array(bits.buffer));
      k.copy(y.ptr, src.ptr, n);
      expect(Array.from(new Uint32Array(y.data.slice(0, n).buffer)), `copy n=${n}`).toEqual(Array.from(bits));
      expectSentinels(y, n, 'copy');
      y.dispose(); src.dispose();
    }
  });
});

describe('sumSquares and sumAbs', () => {
  // Float64 lane sums of exact float64 terms (an f32's square or magnitude), all positive: relative error
  // below (n/4 + 2) * 2^-53.
  it('match the Ref and float64 sums', () => {
    for (const n of lengths) {
      const xs = randomArray(n, 800 + n, -3, 3);
      const x = rt.tensor([n], xs);
      let sq = 0, ab = 0;
      for (const v of xs) { sq += v * v; ab += Math.abs(v); }
      const rtol = (n / 4 + 2) * 2 ** -53;
      // the Refs accumulate exact float64 terms in order, as the loop above
      expect(k.sumSquaresRef(x.ptr, n), `sumSquaresRef n=${n}`).toBe(sq);
      expect(k.sumAbsRef(x.ptr, n), `sumAbsRef n=${n}`).toBe(ab);
      expectClose([k.sumSquares(x.ptr, n)], [sq], { rtol }, `sumSquares n=${n}`);
      expectClose([k.sumAbs(x.ptr, n)], [ab], { rtol }, `sumAbs n=${n}`);
      x.dispose();
    }
  });

  it('keep their precision over a wide net\'s weights (8M elements; float32 lane sums were 1e-3 off)', () => {
    const n = 8 << 20;
    const xs = randomArray(n, 812, -0.05, 0.05);
    const x = rt.tensor([n], xs);
    let sq = 0, ab = 0;
    for (const v of xs) { sq += v * v; ab += Math.abs(v); }
    expectClose([k.sumSquares(x.ptr, n)], [sq], { rtol: 1e-12 }, 'sumSquares');
    expectClose([k.sumAbs(x.ptr, n)], [ab], { rtol: 1e-12 }, 'sumAbs');
    x.dispose();
  });
});

describe('hasNonFinite', () => {
  it('finds NaN, +Inf and -Inf at every position of short vectors (16-float blocks, 4-float steps and the scalar tail)', () => {
    for (let n = 1; n <= 37; n++) {
      const x = rt.tensor([n], randomArray(n, 900 + n, -1, 1));
      for (let p = 0; p < n; p++) {
        for (const bad of [Number.NaN, Infinity, -Infinity]) {
          const keep = x.data[p];
          x.data[p] = bad;
          expect(k.hasNonFinite(x.ptr, n), `n=${n} ${bad} at ${p}`).toBe(1);
          x.data[p] = keep;
        }
      }
      expect(k.hasNonFinite(x.ptr, n), `n=${n} all finite`).toBe(0);
      x.dispose();
    }
  });

  it('reports 0 for finite extremes and empty vectors, and only looks at its range', () => {
    const x = rt.tensor([9], [3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -0, 0, 3.4e38, 3.4e38, 3.4e38, Number.NaN]);
    expect(k.hasNonFinite(x.ptr, 8)).toBe(0);
    expect(k.hasNonFinite(x.ptr, 0)).toBe(0);
    expect(k.hasNonFinite(x.ptr + 4, 8)).toBe(1);
    x.dispose();
  });
});

describe('l1Gradient', () => {
  it('g += lambda * sign(w) with sign(+-0) = 0, equal to the Ref and the formula, on sub-ranges too', () => {
    const lambda = f32(0.01);
    for (const n of lengths) {
      const ws = inputs(n, 1000 + n, -1, 1);
      for (let i = 2; i < n; i += 7) ws[i] = -0;
      const gs = randomArray(n, 1100 + n);
      const expected = Float32Array.from(gs, (g, i) => f32(g + (ws[i] > 0 ? lambda : ws[i] < 0 ? -lambda : 0)));
      const w = rt.tensor([n], ws);
      const g = padded(gs);
      k.l1Gradient(g.ptr, w.ptr, lambda, n);
      expectBits(g.data.subarray(0, n), expected, `l1Gradient n=${n}`);
      expectSentinels(g, n, 'l1Gradient');
      const gRef = rt.tensor([n], gs);
      k.l1GradientRef(gRef.ptr, w.ptr, lambda, n);
      expectBits(gRef.data, expected, `l1GradientRef n=${n}`);
      const part = rt.tensor([n], gs);
      const start = Math.min(1, n);
      k.l1Gradient(part.ptr + 4 * start, w.ptr + 4 * start, lambda, n - start);
      expectBits(part.data, Float32Array.from([...gs.subarray(0, start), ...expected.subarray(start)]), `l1Gradient [${start}, ${n})`);
      for (const t of [w, g, gRef, part]) t.dispose();
    }
  });
});

describe('gatherRows', () => {
  it('copies rows by index (repeats allowed) for float and int32 rows, and on a sub-range of the output', () => {
    const rows = 10, count = 13;
    for (const rowLen of [1, 3, 4, 5, 16, 17, 67]) {
      const srcValues = randomArray(rows * rowLen, 1200 + rowLen);
      const idxValues = randomInts(count, 1300 + rowLen, rows);
      const src = rt.tensor([rows, rowLen], srcValues);
      const idx = rt.labels(count, idxValues);
      const dst = padded(new Float32Array(count * rowLen));
      k.gatherRows(dst.ptr, src.ptr, idx.ptr, count, rowLen);
      const expected = new Float32Array(count * rowLen);
      idxValues.forEach((s, r) => expected.set(srcValues.subarray(s * rowLen, (s + 1) * rowLen), r * rowLen));
      expectBits(dst.data.subarray(0, count * rowLen), expected, `gatherRows rowLen=${rowLen}`);
      expectSentinels(dst, count * rowLen, 'gatherRows');
      // rows [4, 9) of the output alone: offset dst and idx by 4 rows
      const part = rt.tensor([count * rowLen]);
      k.gatherRows(part.ptr + 4 * 4 * rowLen, src.ptr, idx.ptr + 4 * 4, 5, rowLen);
      expectBits(part.data.subarray(4 * rowLen, 9 * rowLen), expected.subarray(4 * rowLen, 9 * rowLen), `gatherRows rows [4, 9) rowLen=${rowLen}`);
      expect(part.data.subarray(0, 4 * rowLen).every((v) => v === 0) && part.data.subarray(9 * rowLen).every((v) => v === 0)).toBe(true);
      // int32 rows (labels) are copied bitwise too
      const labels = rt.labels(rows * rowLen, randomInts(rows * rowLen, 1400 + rowLen, 1000));
      const out = rt.labels(count * rowLen);
      k.gatherRows(out.ptr, labels.ptr, idx.ptr, count, rowLen);
      const lab = labels.toArray();
      expect(Array.from(out.data)).toEqual(Array.from(idxValues).flatMap((s) => Array.from(lab.subarray(s * rowLen, (s + 1) * rowLen))));
      k.gatherRows(out.ptr, src.ptr, idx.ptr, 0, rowLen);
      expect(Array.from(out.data.subarray(0, rowLen)), 'count 0 copies nothing').toEqual(Array.from(lab.subarray(idxValues[0] * rowLen, (idxValues[0] + 1) * rowLen)));
      for (const t of [src, idx, dst, part, labels, out]) t.dispose();
    }
  });
});
