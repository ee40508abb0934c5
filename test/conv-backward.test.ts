// assembly/conv.ts convBackward: the direct kernels of stride 1 (dW by 4-filter
// × 2-tap tiles summed in 4 lanes and a 1-tap tile for an odd K's last tap,
// or for small images with the filters in the lanes, by tiles of 8 filters ×
// 4 filter rows (one tap of each) and 8 × 6 or 8 × 3 taps for the rows left,
// db summed as dout is packed, dx as a forward convolution of dout with
// the flipped filters, or for one input channel and 3-row filters by tiles
// of 4 dx rows, dW and dx then image by image with dout packed once for
// both) and the im2col + GEMM path elsewhere, and db, against
// convBackwardRef (each path's per-element order, scalar) bit for bit and
// against a float64 reference within f32 summation error. Shapes around the
// tiles (W not a multiple of 4, FN not a multiple of 4, odd K, K across the
// 256 block, many small images), pads 0 to 2 and beyond the filter, C = 1 to
// 16, FH ≠ FW, tiny images, 1×1 filters, stride 2; subnormal operands;
// canaries around dx, dW and db; a dx call on a sub-range of the batch; the
// layer's gradient check. The relaxed build (fused multiply-adds) against
// float64 on every dW and dx path.
import { describe, it, expect, beforeAll } from 'vitest';
import type { Runtime } from '../src/runtime/runtime.js';
import { makeRelaxedRuntime, makeTestRuntime, randomArray, expectBits, expectClose, type TestRuntime } from './helpers/runtime.js';
import { Canaries, between, scratchBetween } from './helpers/canaries.js';
import { Convolution } from '../src/layers/index.js';
import { convBackward as convBackward64, outSize, type Geometry } from './reference/im2col.js';
import { layerGradients, gradError } from './reference/gradcheck.js';

let rt: TestRuntime;
beforeAll(async () => { rt = await makeTestRuntime(); });

interface Case { N: number; C: number; H: number; W: number; FN: number; FH: number; FW: number; stride: number; pad: number }

/**
 * subnormal: every third x and every fourth dout subnormal (products too small to move an O(1) sum);
 * subnormalPlanes: all of image 0's x and image 1's dout of filter 1 subnormal, so each product in
 * dW[1, :] has a subnormal operand: 0 exactly when both are flushed, ~1e-37 if either is not.
 */
function check(c: Case, seed: number, opts: { subnormal?: boolean; subnormalPlanes?: boolean; noDx?: boolean } = {}): void {
  const k = rt.unsafeKernels;
  const g: Geometry = { N: c.N, C: c.C, H: c.H, W: c.W, FH: c.FH, FW: c.FW, stride: c.stride, pad: c.pad };
  const { OH, OW } = outSize(g);
  const K = c.C * c.FH * c.FW, inSize = c.N * c.C * c.H * c.W, outSize1 = c.N * c.FN * OH * OW;
  const xs = randomArray(inSize, seed), ds = randomArray(outSize1, seed + 1);
  if (opts.subnormal) {
    for (let i = 0; i < xs.length; i += 3) xs[i] = 1e-39 * (i % 2 ? 1 : -1);
    for (let i = 1; i < ds.length; i += 4) ds[i] = -2e-39;
  }
  if (opts.subnormalPlanes) {
    const image = c.C * c.H * c.W, outPlane = OH * OW;
    for (let j = 0; j < image; j++) xs[j] = j % 3 ? 1e-39 : -3e-39;
    for (let j = 0; j < outPlane; j++) ds[(c.FN + 1) * outPlane + j] = j % 5 ? -2e-39 : 4e-39;
  }
  const canaries = new Canaries(rt, seed);
  const x = rt.tensor([inSize], xs), dout = rt.tensor([outSize1], ds);
  const w = rt.tensor([c.FN * K], randomArray(c.FN * K, seed + 2, -0.5, 0.5));
  const dx = between(canaries, () => rt.tensor([Math.max(1, inSize)]));
  const dW = between(canaries, () => rt.tensor([c.FN * K]));
  const db = between(canaries, () => rt.tensor([Math.max(1, c.FN)]));
  const dxRef = rt.tensor([Math.max(1, inSize)]), dWRef = rt.tensor([c.FN * K]), dbRef = rt.tensor([Math.max(1, c.FN)]);
  const scratchT = scratchBetween(canaries, rt, k.convScratchBytes(c.C, c.H, c.W, c.FH, c.FW, c.stride, c.pad)), scratch = scratchT.ptr;
  k.fill(dx.ptr, NaN, dx.size); // every element must be written
  k.fill(dW.ptr, NaN, dW.size);
  k.fill(db.ptr, NaN, db.size);
  const what = `N=${c.N} C=${c.C} ${c.H}×${c.W} FN=${c.FN} ${c.FH}×${c.FW} stride ${c.stride} pad ${c.pad}${opts.subnormal ? ' subnormal' : ''}${opts.subnormalPlanes ? ' subnormal planes' : ''}`;
  k.convBackward(opts.noDx ? 0 : dx.ptr, dW.ptr, db.ptr, x.ptr, dout.ptr, w.ptr, scratch, c.N, c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad, 0, 0);
  k.convBackwardRef(dxRef.ptr, dWRef.ptr, dbRef.ptr, x.ptr, dout.ptr, w.ptr, c.N, c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad);
  expectBits(dW.data, dWRef.data, `dW vs convBackwardRef, ${what}`);
  expectBits(db.data.subarray(0, c.FN), dbRef.data.subarray(0, c.FN), `db vs convBackwardRef, ${what}`);
  // the direct dW path sums db as it packs dout: convBiasBackward's bits either way
  const dbAlone = rt.tensor([Math.max(1, c.FN)]);
  k.convBiasBackward(dbAlone.ptr, dout.ptr, c.N, c.FN, OH * OW);
  expectBits(db.data.subarray(0, c.FN), dbAlone.data.subarray(0, c.FN), `db vs convBiasBackward, ${what}`);
  dbAlone.dispose();
  if (opts.noDx) expect(dx.data.every(Number.isNaN), `dx untouched with dx = 0, ${what}`).toBe(true);
  else expectBits(dx.data.subarray(0, inSize), dxRef.data.subarray(0, inSize), `dx vs convBackwardRef, ${what}`);
  expect(canaries.changed(), `canaries around dx, dW, db and the scratch, ${what}`).toBe(0);
  if (opts.subnormalPlanes) {
    expect(Array.from(dW.data.subarray(K, 2 * K)), `dW[1, :] flushed to 0, ${what}`).toEqual(new Array(K).fill(0));
  }
  if (!opts.subnormal && !opts.subnormalPlanes) {
    // f32 sums (in any order) of products of values within 1 and 0.5: rounding grows like sqrt(terms)
    const ref = convBackward64(xs, w.data, ds, c.FN, g);
    expectClose(dW.data, ref.dW, { rtol: 1e-5, atol: 2e-7 * Math.sqrt(c.N * OH * OW) }, `dW vs float64, ${what}`);
    expectClose(db.data.subarray(0, c.FN), ref.db, { rtol: 1e-5, atol: 2e-7 * Math.sqrt(c.N * OH * OW) }, `db vs float64, ${what}`);
    if (!opts.noDx) expectClose(dx.data.subarray(0, inSize), ref.dx, { rtol: 1e-5, atol: 2e-7 * Math.sqrt(c.FN * c.FH * c.FW) }, `dx vs float64, ${what}`);
  }
  canaries.dispose();
  for (const t of [x, dout, w, dx, dW, db, dxRef, dWRef, dbRef, scratchT]) t.dispose();
}

describe('convBackward, direct paths (stride 1) and im2col + GEMM', () => {
  it('DeepConvNet\'s shapes (C = 1, 16, 32; 28×28 to 8×8; pads 1 and 2) give their reference\'s bits and float64\'s values', () => {
    check({ N: 3, C: 1, H: 28, W: 28, FN: 16, FH: 3, FW: 3, stride: 1, pad: 1 }, 1);
    check({ N: 2, C: 16, H: 14, W: 14, FN: 32, FH: 3, FW: 3, stride: 1, pad: 1 }, 2);
    check({ N: 2, C: 32, H: 14, W: 14, FN: 32, FH: 3, FW: 3, stride: 1, pad: 2 }, 3);
    check({ N: 2, C: 32, H: 8, W: 8, FN: 64, FH: 3, FW: 3, stride: 1, pad: 1 }, 4);
  });

  it('tile edges: filters 1 to 9, widths 1 to 13, channels 1 to 5, pads 0 to 2, non-square filters', () => {
    let seed = 10;
    for (const FN of [1, 3, 4, 6, 9]) {
      for (const [H, W] of [[6, 1], [5, 3], [7, 5], [4, 8], [9, 13]]) {
        // C = 1 with 3 filter rows runs dx on the 4-row one-channel tiles (any FW, pads 0 to 2); with 5 on the 3-row ones
        for (const [C, FH, FW, pad] of [[1, 3, 3, 1], [1, 3, 2, 0], [1, 3, 5, 2], [1, 5, 3, 2], [3, 3, 3, 0], [4, 2, 3, 2], [5, 1, 3, 1], [4, 3, 1, 0]]) {
          if (W + 2 * pad < FW || H + 2 * pad < FH) continue;
          check({ N: 2, C, H, W, FN, FH, FW, stride: 1, pad }, seed++);
        }
      }
    }
  });

  it('dW by filter lanes (3-wide filters, at least 8 filters, at most 8 output columns or 9–15 not a multiple of 4): filters past a multiple of 8, an odd count of filter rows, pads 0 to 2, many images', () => {
    let seed = 90;
    for (const FN of [8, 12, 17]) {
      // output widths 6, 8, 3, 5, 1, 8, 10, 14, and 12 (lanes over columns)
      for (const [C, H, W, FH, pad] of [[1, 6, 6, 3, 1], [2, 8, 8, 3, 1], [3, 7, 5, 3, 0], [5, 4, 3, 3, 2], [2, 9, 1, 2, 1], [4, 6, 8, 1, 0], [2, 4, 10, 3, 1], [1, 3, 14, 3, 1], [2, 3, 12, 3, 1]]) {
        check({ N: 5, C, H, W, FN, FH, FW: 3, stride: 1, pad }, seed++);
      }
    }
    check({ N: 3, C: 7, H: 7, W: 7, FN: 16, FH: 3, FW: 3, stride: 1, pad: 1 }, seed++, { noDx: true });
    check({ N: 2, C: 3, H: 8, W: 6, FN: 9, FH: 3, FW: 3, stride: 1, pad: 1 }, seed++, { subnormal: true });
  });

  it('K across the 256 block in dW (C = 30) and in dx (FN = 33: 297 terms), 1×1 filters, tiny images', () => {
    check({ N: 2, C: 30, H: 9, W: 10, FN: 7, FH: 3, FW: 3, stride: 1, pad: 1 }, 40);
    check({ N: 2, C: 6, H: 11, W: 9, FN: 33, FH: 3, FW: 3, stride: 1, pad: 1 }, 41);
    check({ N: 2, C: 1, H: 8, W: 10, FN: 33, FH: 3, FW: 3, stride: 1, pad: 1 }, 45); // one channel: dx on one-channel tiles
    // many small images: dW's lanes carried from image to image
    check({ N: 11, C: 3, H: 6, W: 7, FN: 5, FH: 3, FW: 3, stride: 1, pad: 1 }, 46);
    check({ N: 3, C: 8, H: 15, W: 9, FN: 5, FH: 1, FW: 1, stride: 1, pad: 0 }, 42);
    check({ N: 2, C: 4, H: 2, W: 2, FN: 5, FH: 3, FW: 3, stride: 1, pad: 1 }, 43);
    check({ N: 1, C: 4, H: 1, W: 1, FN: 4, FH: 1, FW: 1, stride: 1, pad: 0 }, 44);
  });

  it('pads beyond the filter, stride 2 and 3 (im2col + GEMM), a batch of 0, and dx = 0 (dW only)', () => {
    check({ N: 2, C: 4, H: 6, W: 7, FN: 5, FH: 3, FW: 3, stride: 1, pad: 3 }, 50);
    check({ N: 2, C: 3, H: 9, W: 7, FN: 5, FH: 3, FW: 3, stride: 2, pad: 1 }, 51);
    check({ N: 2, C: 5, H: 11, W: 10, FN: 6, FH: 5, FW: 4, stride: 3, pad: 2 }, 52);
    check({ N: 0, C: 4, H: 8, W: 8, FN: 5, FH: 3, FW: 3, stride: 1, pad: 1 }, 53);
    check({ N: 3, C: 1, H: 28, W: 28, FN: 16, FH: 3, FW: 3, stride: 1, pad: 1 }, 54, { noDx: true });
    check({ N: 2, C: 8, H: 9, W: 11, FN: 6, FH: 3, FW: 3, stride: 1, pad: 1 }, 55, { noDx: true });
  });

  it('subnormal x and dout are flushed as the forward and GEMM flush them', () => {
    check({ N: 2, C: 1, H: 12, W: 13, FN: 5, FH: 3, FW: 3, stride: 1, pad: 1 }, 60, { subnormal: true });
    check({ N: 2, C: 6, H: 9, W: 9, FN: 7, FH: 3, FW: 3, stride: 1, pad: 1 }, 61, { subnormal: true });
    // every dW path: 4-filter blocks (whole and partial, widths 28 and 13), filter lanes, im2col + GEMM
    check({ N: 2, C: 1, H: 28, W: 28, FN: 16, FH: 3, FW: 3, stride: 1, pad: 1 }, 62, { subnormalPlanes: true });
    check({ N: 2, C: 1, H: 12, W: 13, FN: 6, FH: 3, FW: 3, stride: 1, pad: 1 }, 63, { subnormalPlanes: true });
    check({ N: 2, C: 3, H: 8, W: 6, FN: 9, FH: 3, FW: 3, stride: 1, pad: 1 }, 64, { subnormalPlanes: true });
    check({ N: 2, C: 3, H: 9, W: 7, FN: 5, FH: 3, FW: 3, stride: 2, pad: 1 }, 65, { subnormalPlanes: true });
  });

  it('dx of a call on a sub-range of the batch has the bits of the whole call', () => {
    const k = rt.unsafeKernels;
    const c = { N: 4, C: 5, H: 9, W: 10, FN: 7 };
    const img = c.C * c.H * c.W, outImg = c.FN * c.H * c.W;
    const x = rt.tensor([c.N * img], randomArray(c.N * img, 70));
    const dout = rt.tensor([c.N * outImg], randomArray(c.N * outImg, 71));
    const w = rt.tensor([c.FN * c.C * 9], randomArray(c.FN * c.C * 9, 72));
    const whole = rt.tensor([c.N * img]), parts = rt.tensor([c.N * img]), dW = rt.tensor([c.FN * c.C * 9]);
    const s = rt.partScratch(1, k.convScratchBytes(c.C, c.H, c.W, 3, 3, 1, 1))[0];
    k.convBackward(whole.ptr, dW.ptr, 0, x.ptr, dout.ptr, w.ptr, s, 4, c.C, c.H, c.W, c.FN, 3, 3, 1, 1, 0, 0);
    k.convBackward(parts.ptr, dW.ptr, 0, x.ptr, dout.ptr, w.ptr, s, 1, c.C, c.H, c.W, c.FN, 3, 3, 1, 1, 0, 0);
    k.convBackward(parts.ptr + 4 * img, dW.ptr, 0, x.ptr + 4 * img, dout.ptr + 4 * outImg, w.ptr, s, 3, c.C, c.H, c.W, c.FN, 3, 3, 1, 1, 0, 0);
    expectBits(parts.data, whole.data, 'convBackward dx split at image 1');
    for (const t of [x, dout, w, whole, parts, dW]) t.dispose();
  });

  it("an activation's backward on each image's dx (act 1–3) gives the bits of convBackward, then the elementwise backward kernel, on every dx path", () => {
    const k = rt.unsafeKernels;
    const cases: Case[] = [
      { N: 3, C: 16, H: 10, W: 9, FN: 8, FH: 3, FW: 3, stride: 1, pad: 1 }, // dx direct: the flipped filters' 4×8 tiles
      { N: 3, C: 1, H: 12, W: 13, FN: 5, FH: 3, FW: 3, stride: 1, pad: 1 }, // the one-channel 4-row dx tiles
      { N: 2, C: 1, H: 7, W: 9, FN: 3, FH: 5, FW: 3, stride: 1, pad: 2 }, // dx direct with one channel out (3-row tiles)
      { N: 3, C: 3, H: 9, W: 7, FN: 5, FH: 3, FW: 3, stride: 2, pad: 1 }, // im2col + GEMM + col2im
      { N: 2, C: 4, H: 6, W: 7, FN: 5, FH: 3, FW: 3, stride: 1, pad: 3 }, // pad past the filter: im2col too
    ];
    const kernels = { 1: 'reluBackward', 2: 'sigmoidBackward', 3: 'tanhBackward' } as const;
    let seed = 200;
    for (const c of cases) {
      const { OH, OW } = outSize({ N: c.N, C: c.C, H: c.H, W: c.W, FH: c.FH, FW: c.FW, stride: c.stride, pad: c.pad });
      const K = c.C * c.FH * c.FW, inSize = c.N * c.C * c.H * c.W;
      const x = rt.tensor([inSize], randomArray(inSize, seed++));
      const dout = rt.tensor([c.N * c.FN * OH * OW], randomArray(c.N * c.FN * OH * OW, seed++));
      const w = rt.tensor([c.FN * K], randomArray(c.FN * K, seed++, -0.5, 0.5));
      const scratch = rt.partScratch(1, k.convScratchBytes(c.C, c.H, c.W, c.FH, c.FW, c.stride, c.pad))[0];
      const plain = rt.tensor([inSize]), want = rt.tensor([inSize]), dWPlain = rt.tensor([c.FN * K]), dbPlain = rt.tensor([c.FN]);
      k.convBackward(plain.ptr, dWPlain.ptr, dbPlain.ptr, x.ptr, dout.ptr, w.ptr, scratch, c.N, c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad, 0, 0);
      for (const act of [1, 2, 3] as const) {
        // ReLU's saved with zeros and both signs; sigmoid's in (0, 1); tanh's in (−1, 1)
        const values = randomArray(inSize, seed++, act === 2 ? 0 : -1, 1);
        if (act === 1) for (let i = 0; i < inSize; i += 7) values[i] = 0;
        const saved = rt.tensor([inSize], values);
        k[kernels[act]](want.ptr, plain.ptr, saved.ptr, inSize);
        const canaries = new Canaries(rt, seed);
        const dx = between(canaries, () => rt.tensor([inSize]));
        const dW = between(canaries, () => rt.tensor([c.FN * K])), db = between(canaries, () => rt.tensor([c.FN]));
        const what = `act ${act}, C=${c.C} ${c.H}×${c.W} FN=${c.FN} ${c.FH}×${c.FW} stride ${c.stride} pad ${c.pad}`;
        k.convBackward(dx.ptr, dW.ptr, db.ptr, x.ptr, dout.ptr, w.ptr, scratch, c.N, c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad, saved.ptr, act);
        expectBits(dx.data, want.data, `dx through the activation's backward, ${what}`);
        expectBits(dW.data, dWPlain.data, `dW, ${what}`);
        expectBits(db.data, dbPlain.data, `db, ${what}`);
        expect(Array.from(saved.data), `saved unchanged, ${what}`).toEqual(Array.from(new Float32Array(values)));
        expect(canaries.changed(), `canaries, ${what}`).toBe(0);
        canaries.dispose();
        for (const t of [saved, dx, dW, db]) t.dispose();
      }
      for (const t of [x, dout, w, plain, want, dWPlain, dbPlain]) t.dispose();
    }
  });

  it('the layer passes a numerical gradient check on the direct paths (stride 1: C = 1, and C = 4 with dx direct)', () => {
    for (const [C, FN, pad, seed] of [[1, 3, 1, 80], [4, 5, 2, 81]]) {
      const x = rt.tensor([2, C, 7, 9], randomArray(2 * C * 63, seed));
      const layer = new Convolution(rt.tensor([FN, C, 3, 2], randomArray(FN * C * 6, seed + 1)), rt.tensor([FN], randomArray(FN, seed + 2)), 1, pad);
      const { analytic, numeric } = layerGradients(layer, x, 1e-2);
      // linear in each input: central differences are exact up to f32 rounding of the sums
      for (const key of ['x', 'W', 'b']) expect(gradError(analytic[key], numeric[key]), `${key}, C = ${C}`).toBeLessThan(2e-3);
      layer.dispose();
    }
  });
});

describe('convBackward, relaxed build (fused multiply-adds)', () => {
  let relaxed: Runtime;
  beforeAll(async () => { relaxed = await makeRelaxedRuntime(); });

  it('every dW and dx path stays within float64\'s bound, writes only dx, dW and db, and fills them all', () => {
    expect(relaxed.features.relaxed).toBe(true);
    const k = relaxed.unsafeKernels;
    let seed = 300;
    // filter lanes: 4-row tiles alone (C = 32, DeepConvNet's 8×8 layer; FH = 2, 4 rows), with the 6-tap tile after
    // (C = 2) and the 3-tap one (C = 3, 5); lanes over columns (14×14 pad 2, widths 28 and 13); one input channel
    for (const c of [
      { N: 3, C: 32, H: 8, W: 8, FN: 64, FH: 3, pad: 1 }, { N: 5, C: 2, H: 9, W: 1, FN: 12, FH: 2, pad: 1 },
      { N: 4, C: 2, H: 8, W: 8, FN: 17, FH: 3, pad: 1 }, { N: 2, C: 3, H: 7, W: 5, FN: 9, FH: 3, pad: 0 },
      { N: 2, C: 5, H: 4, W: 3, FN: 8, FH: 3, pad: 2 }, { N: 2, C: 32, H: 14, W: 14, FN: 32, FH: 3, pad: 2 },
      { N: 2, C: 4, H: 28, W: 13, FN: 6, FH: 3, pad: 1 }, { N: 2, C: 1, H: 28, W: 28, FN: 16, FH: 3, pad: 1 },
    ]) {
      const g: Geometry = { N: c.N, C: c.C, H: c.H, W: c.W, FH: c.FH, FW: 3, stride: 1, pad: c.pad };
      const { OH, OW } = outSize(g);
      const K = c.C * c.FH * 3, inSize = c.N * c.C * c.H * c.W, outSize1 = c.N * c.FN * OH * OW;
      const xs = randomArray(inSize, seed++), ds = randomArray(outSize1, seed++), ws = randomArray(c.FN * K, seed++, -0.5, 0.5);
      const canaries = new Canaries(relaxed, seed);
      const x = relaxed.tensor([inSize], xs), dout = relaxed.tensor([outSize1], ds), w = relaxed.tensor([c.FN * K], ws);
      const dx = between(canaries, () => relaxed.tensor([inSize]));
      const dW = between(canaries, () => relaxed.tensor([c.FN * K]));
      const db = between(canaries, () => relaxed.tensor([c.FN]));
      const scratchT = scratchBetween(canaries, relaxed, k.convScratchBytes(c.C, c.H, c.W, c.FH, 3, 1, c.pad)), scratch = scratchT.ptr;
      for (const t of [dx, dW, db]) k.fill(t.ptr, NaN, t.size);
      k.convBackward(dx.ptr, dW.ptr, db.ptr, x.ptr, dout.ptr, w.ptr, scratch, c.N, c.C, c.H, c.W, c.FN, c.FH, 3, 1, c.pad, 0, 0);
      const what = `relaxed, N=${c.N} C=${c.C} ${c.H}×${c.W} FN=${c.FN} ${c.FH}×3 pad ${c.pad}`;
      const ref = convBackward64(xs, ws, ds, c.FN, g);
      // 1.5× the plain tests' allowance: on the first case, 18,432 sums of 192 terms, the worst element lies
      // 1.13× past 2e-7·√terms in the plain build too (the same element, the same error to 1%)
      const atol = 3e-7 * Math.sqrt(c.N * OH * OW);
      expectClose(dW.data, ref.dW, { rtol: 1e-5, atol }, `dW vs float64, ${what}`);
      expectClose(db.data, ref.db, { rtol: 1e-5, atol }, `db vs float64, ${what}`);
      expectClose(dx.data, ref.dx, { rtol: 1e-5, atol: 3e-7 * Math.sqrt(c.FN * c.FH * 3) }, `dx vs float64, ${what}`);
      expect(canaries.changed(), `canaries around dx, dW, db and the scratch, ${what}`).toBe(0);
      canaries.dispose();
      for (const t of [x, dout, w, dx, dW, db, scratchT]) t.dispose();
    }
  });

  it('dW by filter lanes has the same bits whichever tile sums a weight (5-tap tiles of row pairs, their leftover taps, 4-row tiles): channels reversed', () => {
    const k = relaxed.unsafeKernels;
    let seed = 400;
    // R = C·FH filter rows: C = 4, FH = 3: rows 0–7 in pairs of 5 taps and one 4-row tile of the pairs' last taps,
    // rows 8–11 in 4-row tiles; reversed, channel 3's rows go from the latter to the former. C = 8, FH = 2: all pairs.
    // N = 5: a batch of 4 images, then 1
    for (const c of [{ N: 5, C: 4, H: 8, W: 8, FN: 16, FH: 3, pad: 1 }, { N: 3, C: 8, H: 7, W: 6, FN: 12, FH: 2, pad: 1 }]) {
      const g: Geometry = { N: c.N, C: c.C, H: c.H, W: c.W, FH: c.FH, FW: 3, stride: 1, pad: c.pad };
      const { OH, OW } = outSize(g);
      const plane = c.H * c.W, image = c.C * plane, K = c.C * c.FH * 3;
      const xs = randomArray(c.N * image, seed++), ds = randomArray(c.N * c.FN * OH * OW, seed++);
      const reversed = new Float32Array(xs.length);
      for (let i = 0; i < c.N; i++) for (let ch = 0; ch < c.C; ch++) {
        reversed.set(xs.subarray(i * image + ch * plane, i * image + (ch + 1) * plane), i * image + (c.C - 1 - ch) * plane);
      }
      const dout = relaxed.tensor([ds.length], ds), w = relaxed.tensor([c.FN * K]);
      const scratch = relaxed.partScratch(1, k.convScratchBytes(c.C, c.H, c.W, c.FH, 3, 1, c.pad))[0];
      const dWs = [xs, reversed].map((values) => {
        const x = relaxed.tensor([values.length], values), dW = relaxed.tensor([c.FN * K]), db = relaxed.tensor([c.FN]);
        k.convBackward(0, dW.ptr, db.ptr, x.ptr, dout.ptr, w.ptr, scratch, c.N, c.C, c.H, c.W, c.FN, c.FH, 3, 1, c.pad, 0, 0);
        const out = dW.toArray();
        for (const t of [x, dW, db]) t.dispose();
        return out;
      });
      const taps = c.FH * 3, back = new Float32Array(dWs[1].length);
      for (let f = 0; f < c.FN; f++) for (let ch = 0; ch < c.C; ch++) {
        back.set(dWs[1].subarray(f * K + ch * taps, f * K + (ch + 1) * taps), f * K + (c.C - 1 - ch) * taps);
      }
      expectBits(back, dWs[0], `relaxed dW, channels reversed, N=${c.N} C=${c.C} ${c.H}×${c.W} FN=${c.FN} ${c.FH}×3`);
      for (const t of [dout, w]) t.dispose();
    }
  });
});

// convInputGradIm2colPacked (dx by positions: each image's dcolᵀ = doutᵀ · W on W packed once,
// transposed, then col2im and the activation's backward): convBackward's dx bit for bit in both
// builds where convBackward's dx runs im2col, or direct with 1×1 filters (one tap: the same sums; the
// direct dx of larger filters sums each element's taps in another order, and the layer keeps it
// there), with the filters across one and two 256 blocks (FN = 300), positions and K on and off the
// tiles' and the transpose's edges, plain and through each activation's backward, with canaries
// around dx, W's panels and the scratch.
describe('convInputGradIm2colPacked: convBackward\'s dx by positions on W packed once', () => {
  const cases = [
    { N: 2, C: 36, H: 7, W: 7, FN: 40, FH: 1, FW: 1, stride: 1, pad: 0 },
    { N: 1, C: 9, H: 10, W: 5, FN: 13, FH: 1, FW: 1, stride: 1, pad: 0 },
    { N: 2, C: 5, H: 14, W: 14, FN: 300, FH: 3, FW: 3, stride: 2, pad: 1 },
    { N: 1, C: 6, H: 9, W: 9, FN: 3, FH: 3, FW: 3, stride: 2, pad: 0 },
    { N: 1, C: 3, H: 11, W: 10, FN: 7, FH: 5, FW: 4, stride: 3, pad: 2 },
    { N: 3, C: 2, H: 6, W: 7, FN: 5, FH: 2, FW: 2, stride: 2, pad: 0 },
  ];
  for (const build of ['plain', 'relaxed'] as const) {
    it(`gives convBackward's dx (${build} build)`, async () => {
      const r: Runtime = build === 'plain' ? rt : await makeRelaxedRuntime();
      expect(r.features.relaxed).toBe(build === 'relaxed');
      const k = r.unsafeKernels;
      let seed = 950;
      const paths = new Set<number>();
      for (const c of cases) {
        const OH = Math.floor((c.H + 2 * c.pad - c.FH) / c.stride) + 1, OW = Math.floor((c.W + 2 * c.pad - c.FW) / c.stride) + 1;
        const K = c.C * c.FH * c.FW, inSize = c.N * c.C * c.H * c.W, outSize1 = c.N * c.FN * OH * OW;
        paths.add(k.convBackwardPaths(c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad) & 6);
        const x = r.tensor([inSize], randomArray(inSize, seed++));
        const w = r.tensor([c.FN * K], randomArray(c.FN * K, seed++, -0.5, 0.5));
        const dout = r.tensor([outSize1], randomArray(outSize1, seed++));
        const saved = r.tensor([inSize], randomArray(inSize, seed++, -2, 2));
        const dW = r.tensor([c.FN * K]), db = r.tensor([c.FN]);
        const canaries = new Canaries(r, seed);
        const Wp = between(canaries, () => r.tensor([c.FN * Math.ceil(K / 8) * 8]));
        const want = between(canaries, () => r.tensor([inSize])), got = between(canaries, () => r.tensor([inSize]));
        const scratchT = scratchBetween(canaries, r, k.convScratchBytes(c.C, c.H, c.W, c.FH, c.FW, c.stride, c.pad));
        k.packBPanels(0, K, c.FN, w.ptr, K, Wp.ptr);
        for (let act = 0; act <= 3; act++) {
          const what = `${build}, N=${c.N} C=${c.C} ${c.H}×${c.W} FN=${c.FN} ${c.FH}×${c.FW} stride ${c.stride} pad ${c.pad} act ${act}`;
          k.fill(got.ptr, NaN, got.size);
          k.convBackward(want.ptr, dW.ptr, db.ptr, x.ptr, dout.ptr, w.ptr, scratchT.ptr, c.N, c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad, act ? saved.ptr : 0, act);
          k.convInputGradIm2colPacked(got.ptr, dout.ptr, Wp.ptr, scratchT.ptr, c.N, c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad, act ? saved.ptr : 0, act);
          expectBits(got.data, want.data, `convInputGradIm2colPacked vs convBackward's dx, ${what}`);
          expect(canaries.changed(), `canaries, ${what}`).toBe(0);
        }
        canaries.dispose();
        for (const t of [x, w, dout, saved, dW, db, Wp, want, got, scratchT]) t.dispose();
      }
      // convBackward's dx ran im2col (0) and direct (2, the 1×1 cases)
      expect([...paths].sort()).toEqual([0, 2]);
    });
  }
});
