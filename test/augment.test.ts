// RandomAffine (assembly/augment.ts): the kernel against a float64 reference
// of its formula (inverse map about the centre, bilinear, zeros outside) for
// rotations, scales and shifts; exact cases (identity, integer shift, 90°
// rotation); seeded and reproducible; options checked by name.
import { describe, it, expect, beforeAll } from 'vitest';
import type { Runtime } from '../src/runtime/runtime.js';
import { RandomAffine } from '../src/data/index.js';
import { makeRuntime, randomArray, expectBits, expectClose } from './helpers/runtime.js';
import { affineReference as reference, type AffineRange } from './reference/augment.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 7 }); });

/** The kernel on x with the given uniforms. */
function warp(x: Float32Array, u: number[], N: number, C: number, H: number, W: number, r: AffineRange): Float32Array {
  const xt = rt.tensor([N, C, H, W], x), ut = rt.tensor([4 * N], u), out = rt.tensor([N, C, H, W]);
  rt.unsafeKernels.randomAffineForward(out.ptr, xt.ptr, ut.ptr, N, C, H, W, r.degrees, r.lo, r.hi, r.shift);
  const result = out.toArray();
  for (const t of [xt, ut, out]) t.dispose();
  return result;
}

describe('randomAffineForward', () => {
  it('matches the float64 reference for random rotations, scales and shifts (non-square, 2 channels)', () => {
    const [N, C, H, W] = [6, 2, 11, 9];
    const x = randomArray(N * C * H * W, 1, 0, 1);
    const u = Array.from(randomArray(4 * N, 2, 0, 1));
    const r = { degrees: 25, lo: 0.8, hi: 1.2, shift: 2.5 };
    const got = warp(x, u, N, C, H, W, r);
    // f64 inside, one f32 rounding at the end: 1e-6 absolute on values in [0, 1]
    expectClose(got, reference(x, Float32Array.from(u), N, C, H, W, r), { rtol: 0, atol: 1e-6 });
    expect(got.some((v) => v === 0), 'corners leave the image').toBe(true);
  });

  it('is exact for the identity, integer shifts and a 90° turn', () => {
    const [H, W] = [5, 5];
    const x = randomArray(H * W, 3, 0, 1);
    const r0 = { degrees: 0, lo: 1, hi: 1, shift: 0 };
    expectBits(warp(x, [0.5, 0, 0.5, 0.5], 1, 1, H, W, r0), x, 'identity');
    // u2 = 1/4 with shift 2: tx = −1, so out(ox) = x(ox + 1); u3 = 3/4: ty = +1, out(oy) = x(oy − 1)
    const shifted = warp(x, [0.5, 0, 0.25, 0.75], 1, 1, H, W, { ...r0, shift: 2 });
    for (let oy = 0; oy < H; oy++) for (let ox = 0; ox < W; ox++) {
      const want = ox + 1 < W && oy - 1 >= 0 ? x[(oy - 1) * W + ox + 1] : 0;
      expect(shifted[oy * W + ox], `(${ox}, ${oy})`).toBe(want);
    }
    // u0 = 3/4 with 180 degrees: +90°; out(ox, oy) samples x at (c + (oy − c), c − (ox − c))
    const turned = warp(x, [0.75, 0, 0.5, 0.5], 1, 1, H, W, { ...r0, degrees: 180 });
    for (let oy = 0; oy < H; oy++) for (let ox = 0; ox < W; ox++) {
      expect(turned[oy * W + ox]).toBeCloseTo(x[(W - 1 - ox) * W + oy], 6);
    }
  });
});

describe('RandomAffine', () => {
  it('draws one transform per image from the seeded stream: the same seed, the same bits', () => {
    const x = rt.tensor([4, 1, 12, 12], randomArray(4 * 144, 4, 0, 1));
    const aug = new RandomAffine(rt, { degrees: 15, scale: [0.9, 1.1], shift: 2 });
    rt.reseed(3);
    const a = aug.apply(x).toArray();
    const b = aug.apply(x).toArray();
    rt.reseed(3);
    expectBits(aug.apply(x).toArray(), a, 'replayed');
    expect(Array.from(b)).not.toEqual(Array.from(a));
    // every image moved, each differently
    const images = [0, 1, 2, 3].map((i) => Array.from(a.subarray(i * 144, (i + 1) * 144)));
    images.forEach((img, i) => expect(img, `image ${i}`).not.toEqual(Array.from(x.data.subarray(i * 144, (i + 1) * 144))));
    expect(rt.randomState.counter).toBe(16);
    aug.dispose();
    x.dispose();
  });

  it('applied to its own last output (apply(apply(x))), gives what it gives a copy of it', () => {
    const x = rt.tensor([3, 1, 12, 12], randomArray(3 * 144, 8, 0, 1));
    const aug = new RandomAffine(rt, { degrees: 20, scale: [0.8, 1.2], shift: 2 });
    rt.reseed(5);
    const once = aug.apply(x);
    const copy = rt.tensor(once.shape, once.data);
    const state = rt.randomState;
    const twice = aug.apply(once).toArray(); // the output buffer in, the output buffer out
    rt.randomState = state;
    expectBits(twice, aug.apply(copy).toArray(), 'chained');
    for (const t of [x, copy]) t.dispose();
    aug.dispose();
  });

  it('given a view of an older output of another shape, as a ninth shape: keeps that output alive for the call, and gives what it gives a copy', () => {
    // the ninth shape evicts the least recently used output, here the one x views: it must evict another
    const aug = new RandomAffine(rt, { degrees: 20, scale: [0.8, 1.2], shift: 2 });
    const first = aug.apply(rt.tensor([2, 1, 8, 8], randomArray(128, 9, 0, 1)));
    const kept = first.toArray();
    for (let n = 3; n <= 9; n++) aug.apply(rt.tensor([n, 1, 8, 8], randomArray(n * 64, n, 0, 1)));
    const view = first.reshape([1, 2, 8, 8]);
    const copy = rt.tensor([1, 2, 8, 8], kept);
    const state = rt.randomState;
    const got = aug.apply(view).toArray();
    expect(view.disposed, 'the output x views is not the one evicted').toBe(false);
    expectBits(first.toArray(), kept, 'x unchanged');
    rt.randomState = state;
    expectBits(got, aug.apply(copy).toArray(), 'as of a copy');
    copy.dispose();
    aug.dispose();
  });

  it('checks its options and input by name', () => {
    const aug2 = new RandomAffine(rt, { degrees: 5 });
    const gone = rt.tensor([1, 1, 4, 4]);
    gone.dispose();
    expect(() => aug2.apply(gone)).toThrow(/RandomAffine\.apply: x/);
    const ints = rt.labels([1, 1, 4, 4]);
    expect(() => aug2.apply(ints as never)).toThrow(/RandomAffine\.apply: x/);
    ints.dispose();
    aug2.dispose();
    expect(() => aug2.apply(rt.tensor([1, 1, 4, 4]))).toThrow(/^RandomAffine\.apply: used after dispose\(\)$/);
    expect(() => new RandomAffine(rt, { rotate: 3 } as never)).toThrow(/RandomAffine: unknown option 'rotate' \(expected one of degrees, scale, shift\)/);
    expect(() => new RandomAffine(rt, null as never)).toThrow(/^RandomAffine: options must be an object, got null$/);
    expect(() => new RandomAffine(undefined as never)).toThrow(/^RandomAffine: rt must be a Runtime \(from createRuntime\), got undefined$/);
    expect(() => new RandomAffine(rt, { degrees: -1 })).toThrow(/degrees must be in \[0, 180\], got -1/);
    expect(() => new RandomAffine(rt, { scale: [1.2, 0.8] })).toThrow(/scale must be \[lo, hi\] with 0 < lo <= hi in float32's range, got \[1.2,0.8\]/);
    // values float32 cannot hold: every image came out black
    expect(() => new RandomAffine(rt, { scale: [1e-50, 1e-50] })).toThrow(/scale must be \[lo, hi\] with 0 < lo <= hi in float32's range/);
    expect(() => new RandomAffine(rt, { scale: [1, 1e39] })).toThrow(/scale must be \[lo, hi\] with 0 < lo <= hi in float32's range/);
    expect(() => new RandomAffine(rt, { shift: 1e39 })).toThrow(/shift must be a non-negative number of pixels in float32's range, got 1e\+39/);
    expect(() => new RandomAffine(rt, { shift: NaN })).toThrow(/shift must be a non-negative number of pixels in float32's range, got NaN/);
    expect(() => new RandomAffine(rt).apply(rt.tensor([2, 784]))).toThrow(/RandomAffine.apply: x must be \[N, C, H, W\], got \[2, 784\]/);
  });
});
