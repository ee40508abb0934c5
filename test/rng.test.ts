// assembly/rng.ts: counter-based random numbers (SplitMix64 over seed and
// counter), shuffling and dropout. Element i of a call depends only on
// (seed, counter + i), so the same seed gives the same bits on every host: the
// golden values below are checked by this same file in Node and in Chromium.
import { describe, it, expect, beforeAll } from 'vitest';
import type { Kernels, Runtime } from '../src/runtime/runtime.js';
import { makeRuntime, randomArray, expectClose, expectBits } from './helpers/runtime.js';

const f32 = Math.fround;
const N = 100_000;

let rt: Runtime;
let k: Kernels;
beforeAll(async () => {
  rt = await makeRuntime();
  k = rt.unsafeKernels;
});

// ---- an independent float64/BigInt reference of the generator, from the algorithm
const U64 = (1n << 64n) - 1n;
function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & U64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & U64;
  return z ^ (z >> 31n);
}
const streamKey = (seed: number) => mix64((BigInt(seed) * 0xd1b54a32d192ed03n + 0x8cb92ba72f3d8dd7n) & U64);
const bits64 = (key: bigint, c: number) => mix64((key + (BigInt(c) + 1n) * 0x9e3779b97f4a7c15n) & U64);
/** U[0, 1) with 24 random bits. */
const unit = (key: bigint, c: number) => Number(bits64(key, c) >> 40n) / 2 ** 24;

function uniform(n: number, seed: number, counter: number, lo = 0, hi = 1): Float32Array {
  const t = rt.tensor([n]);
  k.rngUniform(t.ptr, n, lo, hi, seed, counter);
  const out = t.toArray();
  t.dispose();
  return out;
}

function normal(n: number, seed: number, counter: number, mean = 0, std = 1): Float32Array {
  const t = rt.tensor([n]);
  k.rngNormal(t.ptr, n, mean, std, seed, counter);
  const out = t.toArray();
  t.dispose();
  return out;
}

function shuffle(n: number, seed: number, counter: number): number[] {
  const t = rt.labels(n);
  k.shuffleIndices(t.ptr, n, seed, counter);
  const out = Array.from(t.data);
  t.dispose();
  return out;
}

function meanVar(xs: Float32Array): { mean: number; variance: number } {
  let s = 0;
  for (const v of xs) s += v;
  const mean = s / xs.length;
  let q = 0;
  for (const v of xs) q += (v - mean) ** 2;
  return { mean, variance: q / (xs.length - 1) };
}

describe('golden values (seed 1, counter 0): every host must produce these bits', () => {
  it('rngUniform', () => {
    const ticks = [616943, 3912837, 13708707, 11451807, 12695078, 6555308, 3802476, 13123871];
    expect(Array.from(uniform(8, 1, 0))).toEqual(ticks.map((t) => t / 2 ** 24));
  });

  it('rngNormal', () => {
    expect(Array.from(normal(8, 1, 0))).toEqual([
      0.028801528736948967, 0.2722170650959015, -0.7576798796653748, -1.6803514957427979,
      -1.300351858139038, 1.0657799243927002, 0.14425989985466003, -0.7022989988327026,
    ]);
  });
});

describe('rngUniform', () => {
  it('equals the BigInt reference of SplitMix64 for several seeds and counters (up to 2^40)', () => {
    for (const seed of [0, 1, 7, 2 ** 32 - 1]) {
      for (const counter of [0, 1, 1000, 2 ** 40 + 12345]) {
        const key = streamKey(seed);
        const got = uniform(64, seed, counter);
        expectBits(got, Float32Array.from({ length: 64 }, (_, i) => unit(key, counter + i)), `seed ${seed} counter ${counter}`);
      }
    }
  });

  it('is a pure function of (seed, counter): repeats exactly, shifts with the counter, changes with either', () => {
    const a = uniform(1000, 3, 500);
    expectBits(uniform(1000, 3, 500), a, 'same seed and counter');
    expectBits(uniform(999, 3, 501), a.subarray(1), 'counter + 1 is the stream shifted by one');
    const otherCounter = uniform(1000, 3, 10_000);
    const otherSeed = uniform(1000, 4, 500);
    expect(a.filter((v, i) => v === otherCounter[i]).length, 'equal elements at another counter').toBeLessThan(3);
    expect(a.filter((v, i) => v === otherSeed[i]).length, 'equal elements with another seed').toBeLessThan(3);
  });

  it('a call on a sub-range (pointer + i, counter + i) equals the slice of the whole call', () => {
    const n = 37;
    const whole = uniform(n, 9, 77);
    const t = rt.tensor([n]);
    k.rngUniform(t.ptr, 10, 0, 1, 9, 77);
    k.rngUniform(t.ptr + 10 * 4, n - 10, 0, 1, 9, 77 + 10);
    expectBits(t.data, whole, 'two calls');
    t.dispose();
  });

  it('maps to [lo, hi) as lo + (hi - lo) * u in f32', () => {
    const u = uniform(1000, 5, 0);
    const lo = f32(-2.5), hi = f32(0.75);
    const span = f32(hi - lo);
    const v = uniform(1000, 5, 0, lo, hi);
    expectBits(v, u.map((x) => f32(lo + f32(span * x))), 'scaled');
    expect(v.every((x) => x >= lo && x < hi)).toBe(true);
  });

  it(`has mean 1/2 and variance 1/12 within 5 standard errors over ${N} samples`, () => {
    const u = uniform(N, 11, 0);
    expect(u.every((x) => x >= 0 && x < 1)).toBe(true);
    const { mean, variance } = meanVar(u);
    // se(mean) = sqrt(1/12 / N); se(variance) = sqrt((1/80 - 1/144) / N)
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / N));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(5 * Math.sqrt((1 / 80 - 1 / 144) / N));
  });
});

describe('rngNormal', () => {
  it('is Box-Muller on counter pairs: close to a float64 reference', () => {
    const key = streamKey(21);
    const expected = new Float64Array(64);
    for (let i = 0; i < 64; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - unit(key, 100 + i)));
      const a = 2 * Math.PI * unit(key, 101 + i);
      expected[i] = r * Math.cos(a);
      expected[i + 1] = r * Math.sin(a);
    }
    // f32 rounding of float64 math computed by AssemblyScript's own libm
    expectClose(normal(64, 21, 100), expected, { rtol: 2 ** -23, atol: 1e-7 }, 'normal vs float64');
  });

  it('odd lengths and sub-ranges starting at an even element match the whole call; mean/std are applied in f32', () => {
    const whole = normal(40, 8, 6);
    expectBits(normal(7, 8, 6), whole.subarray(0, 7), 'odd length');
    const t = rt.tensor([40]);
    k.rngNormal(t.ptr, 12, 0, 1, 8, 6);
    k.rngNormal(t.ptr + 12 * 4, 28, 0, 1, 8, 6 + 12);
    expectBits(t.data, whole, 'two calls');
    t.dispose();
    const mean = f32(1.5), std = f32(0.25);
    expectBits(normal(40, 8, 6, mean, std), whole.map((z) => f32(mean + f32(std * z))), 'mean + std * z');
  });

  it(`has mean 0 and standard deviation 1 within 5 standard errors over ${N} samples`, () => {
    const z = normal(N, 12, 0);
    expect(z.every(Number.isFinite)).toBe(true);
    const { mean, variance } = meanVar(z);
    // se(mean) = 1/sqrt(N); se(std) ~ 1/sqrt(2N)
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(N));
    expect(Math.abs(Math.sqrt(variance) - 1)).toBeLessThan(5 / Math.sqrt(2 * N));
    // tails: P(|z| > 2) = 4.55%, se = sqrt(p(1-p)/N)
    const tail = z.filter((v) => Math.abs(v) > 2).length / N;
    expect(Math.abs(tail - 0.0455)).toBeLessThan(5 * Math.sqrt(0.0455 * 0.9545 / N));
  });
});

describe('shuffleIndices', () => {
  it('gives a permutation of 0..n-1 for every n up to 67, equal to Fisher-Yates on the reference stream', () => {
    for (let n = 0; n <= 67; n++) {
      const p = shuffle(n, 13, 5 * n);
      expect([...p].sort((a, b) => a - b), `n=${n}`).toEqual(Array.from({ length: n }, (_, i) => i));
      const key = streamKey(13);
      const ref = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = Number(((bits64(key, 5 * n + i) >> 32n) * BigInt(i + 1)) >> 32n);
        [ref[i], ref[j]] = [ref[j], ref[i]];
      }
      expect(p, `n=${n}`).toEqual(ref);
    }
  });

  it('depends on the seed and the counter, and repeats for the same pair', () => {
    const a = shuffle(100, 1, 0);
    expect(shuffle(100, 1, 0)).toEqual(a);
    expect(shuffle(100, 2, 0)).not.toEqual(a);
    expect(shuffle(100, 1, 100)).not.toEqual(a);
  });

  it('draws all 24 orders of 4 items uniformly (chi-square over 24,000 shuffles)', () => {
    const trials = 24_000;
    const counts = new Map<string, number>();
    const t = rt.labels(4);
    for (let c = 0; c < trials; c++) {
      k.shuffleIndices(t.ptr, 4, 17, 4 * c);
      const key = t.data.join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    t.dispose();
    expect(counts.size).toBe(24);
    const expected = trials / 24;
    let chi2 = 0;
    for (const n of counts.values()) chi2 += (n - expected) ** 2 / expected;
    // 23 degrees of freedom: P(chi2 > 71.2) = 1e-6
    expect(chi2).toBeLessThan(71.2);
  });
});

describe('dropout', () => {
  it('forward: mask = (u >= ratio) ? scale : 0 on the uniform stream, y = x * mask', () => {
    const n = 1001, ratio = f32(0.3), scale = f32(1 / (1 - 0.3));
    const xs = randomArray(n, 1);
    const x = rt.tensor([n], xs);
    const y = rt.tensor([n]);
    const mask = rt.tensor([n]);
    k.dropoutForward(y.ptr, mask.ptr, x.ptr, n, ratio, scale, 4, 900);
    const u = uniform(n, 4, 900);
    const expectedMask = u.map((v) => (v >= ratio ? scale : 0));
    expectBits(mask.data, expectedMask, 'mask');
    expectBits(y.data, xs.map((v, i) => f32(v * expectedMask[i])), 'y');
    const kept = expectedMask.filter((m) => m !== 0).length / n;
    expect(Math.abs(kept - 0.7)).toBeLessThan(5 * Math.sqrt(0.21 / n));
    // the book's form (scale 1) keeps x as is; a sub-range call matches the slice
    const part = rt.tensor([n]);
    const partMask = rt.tensor([n]);
    k.dropoutForward(y.ptr, mask.ptr, x.ptr, n, ratio, 1, 4, 900);
    k.dropoutForward(part.ptr + 40, partMask.ptr + 40, x.ptr + 40, n - 10, ratio, 1, 4, 910);
    expectBits(y.data, xs.map((v, i) => v * (u[i] >= ratio ? 1 : 0)), 'book dropout (x * 0 keeps the sign: -0)');
    expectBits(part.data.subarray(10), y.data.subarray(10), 'sub-range y');
    expectBits(partMask.data.subarray(10), mask.data.subarray(10), 'sub-range mask');
    for (const t of [x, y, mask, part, partMask]) t.dispose();
  });

  it('ratio 0 keeps every unit, the stream\'s u = 0 too (u > 0 dropped one unit in 2^24)', () => {
    const at = 676704; // seed 4's first u of exactly 0
    expect(uniform(3, 4, at - 1)[1]).toBe(0);
    const x = rt.tensor([3], [1, 2, 3]), y = rt.tensor([3]), mask = rt.tensor([3]);
    k.dropoutForward(y.ptr, mask.ptr, x.ptr, 3, 0, 1, 4, at - 1);
    expect(Array.from(mask.data)).toEqual([1, 1, 1]);
    for (const t of [x, y, mask]) t.dispose();
  });

  it('keeps a unit iff u >= ratio for ratios on, beside and off the 2^-24 grid (the kernel tests 24-bit integers)', () => {
    // Counters where the stream's u takes known grid values, and ratios at those
    // values, one ulp either side, and off the grid: the integer threshold
    // ceil(ratio·2^24) must decide every unit as u >= ratio does.
    const n = 4099, seed = 11, counter = 2 ** 33 + 5;
    const key = streamKey(seed);
    const us = Array.from({ length: n }, (_, i) => unit(key, counter + i));
    const ratios = [0, -0, 1e-45, 2 ** -25, 2 ** -24, f32(1.5 * 2 ** -24), f32(1 - 2 ** -24), f32(1 - 2 ** -25), 1, 1.5, -0.25, NaN];
    for (const u of us.slice(0, 40)) {
      const above = f32(u + 2 ** -26), below = f32(u - 2 ** -26);
      ratios.push(u, above, below);
    }
    const x = rt.tensor([n], randomArray(n, 3)), y = rt.tensor([n]), mask = rt.tensor([n]);
    for (const ratio of ratios) {
      k.dropoutForward(y.ptr, mask.ptr, x.ptr, n, ratio, 2, seed, counter);
      const expected = Float32Array.from(us, (u) => (u >= ratio ? 2 : 0));
      expectBits(mask.data, expected, `mask at ratio ${ratio}`);
    }
    for (const t of [x, y, mask]) t.dispose();
  });

  it('backward: dx = dy * mask, in place and on sub-ranges', () => {
    for (const n of [0, 1, 3, 4, 5, 17, 67]) {
      const dys = randomArray(n, 2 + n), masks = uniform(n, 6, 0).map((v) => (v > 0.5 ? 2 : 0));
      const expected = dys.map((v, i) => f32(v * masks[i]));
      const dy = rt.tensor([n], dys);
      const mask = rt.tensor([n], masks);
      const dx = rt.tensor([n]);
      k.dropoutBackward(dx.ptr, dy.ptr, mask.ptr, n);
      expectBits(dx.data, expected, `dx n=${n}`);
      if (n > 1) {
        const part = rt.tensor([n]);
        k.dropoutBackward(part.ptr + 4, dy.ptr + 4, mask.ptr + 4, n - 1);
        expectBits(part.data.subarray(1), expected.subarray(1), `dx [1, ${n})`);
        part.dispose();
      }
      k.dropoutBackward(dy.ptr, dy.ptr, mask.ptr, n);
      expectBits(dy.data, expected, `dx in place n=${n}`);
      for (const t of [dy, mask, dx]) t.dispose();
    }
  });
});
