// assembly/conv.ts convForward: the direct (implicit-GEMM) path for stride 1
// against convForwardRef (each output summed in GEMM's order, in blocks of
// 256 values of k), bit for bit; the reference against im2col + gemm + the
// bias pass, bit for bit, so the direct path keeps the bits the im2col path
// gave. Sizes around the 4-filter × 8-column tile (and rows whose last 1–4
// columns share a tile with the next row's, or with none on an odd last row;
// rows whose last 5 or 6 columns run, all rows' together, as one row of
// positions, on both sides of the scratch bound that allows it),
// K across the 256 block,
// every padding the filter allows, every fused activation (bias and ReLU in
// the tiles, sigmoid and tanh after each row), one filter (3 output rows per
// tile instead of 4 filters), subnormal inputs, canaries
// around the output and the scratch, and a call on a sub-range of the batch.
// convForwardPacked (W packed once by convPackFilters, as a frozen net does):
// the same bits, for all filters and from a later panel on, and nothing
// written where the direct path does not run.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeTestRuntime, makeRelaxedRuntime, randomArray, expectBits, type TestRuntime } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { Canaries, between, scratchBetween } from './helpers/canaries.js';

let rt: TestRuntime;
beforeAll(async () => { rt = await makeTestRuntime(); });

interface Case { N: number; C: number; H: number; W: number; FN: number; FH: number; FW: number; stride: number; pad: number }

const outSize = (size: number, f: number, stride: number, pad: number) => Math.floor((size + 2 * pad - f) / stride) + 1;

/** W [FN, K] in panels of 4 filters ([panel][k][4]), 0 past FN, subnormals flushed: what convPackFilters writes. */
function packedPanels(w: Float32Array, FN: number, K: number): Float32Array {
  const panels = Math.ceil(FN / 4), out = new Float32Array(panels * 4 * K);
  for (let f = 0; f < FN; f++) for (let k = 0; k < K; k++) {
    const v = w[f * K + k];
    out[((f >> 2) * K + k) * 4 + (f & 3)] = Math.abs(v) < 2 ** -126 ? 0 * Math.sign(v) : v;
  }
  return out;
}

/** Runs the case; returns convForwardIsDirect for it. */
function runBoth(c: Case, act: number, seed: number, subnormal = false): number {
  const k = rt.unsafeKernels;
  const OH = outSize(c.H, c.FH, c.stride, c.pad), OW = outSize(c.W, c.FW, c.stride, c.pad);
  const K = c.C * c.FH * c.FW, outSize1 = c.FN * OH * OW;
  const xs = randomArray(c.N * c.C * c.H * c.W, seed);
  if (subnormal) for (let i = 0; i < xs.length; i += 3) xs[i] = 1e-39 * (i % 2 ? 1 : -1);
  const x = rt.tensor([xs.length], xs);
  const w = rt.tensor([c.FN * K], randomArray(c.FN * K, seed + 1, -0.5, 0.5));
  const b = rt.tensor([c.FN], randomArray(c.FN, seed + 2));
  const canaries = new Canaries(rt, seed);
  const out = between(canaries, () => rt.tensor([c.N * outSize1])), ref = rt.tensor([c.N * outSize1]);
  const scratchT = scratchBetween(canaries, rt, k.convScratchBytes(c.C, c.H, c.W, c.FH, c.FW, c.stride, c.pad)), scratch = scratchT.ptr;
  k.fill(out.ptr, NaN, out.size); // every output must be written
  const what = `N=${c.N} C=${c.C} ${c.H}×${c.W} FN=${c.FN} ${c.FH}×${c.FW} stride ${c.stride} pad ${c.pad} act ${act}${subnormal ? ' subnormal x' : ''}`;
  k.convForward(out.ptr, x.ptr, w.ptr, b.ptr, scratch, c.N, c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad, act);
  k.convForwardRef(ref.ptr, x.ptr, w.ptr, b.ptr, c.N, c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad, act);
  expectBits(out.data, ref.data, `convForward vs convForwardRef, ${what}`);
  // W packed once (a frozen net's): the bits of convForward, for the whole and for filters from a panel on
  const direct = k.convForwardIsDirect(c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad);
  if (c.stride !== 1) expect(direct, `convForwardIsDirect, ${what}`).toBe(0);
  if (c.stride === 1 && c.FH === 3 && c.FW === 3) expect(direct, `convForwardIsDirect, ${what}`).toBe(1);
  const packed = between(canaries, () => rt.tensor([Math.ceil(c.FN / 4) * 4 * K]));
  k.convPackFilters(packed.ptr, w.ptr, c.FN, K);
  expect(Array.from(packed.data), `packed panels, ${what}`).toEqual(Array.from(packedPanels(w.data, c.FN, K)));
  const viaPacked = between(canaries, () => rt.tensor([c.N * outSize1]));
  k.fill(viaPacked.ptr, NaN, viaPacked.size);
  // (it takes no stride: stride 1 is its contract)
  if (c.stride === 1) k.convForwardPacked(viaPacked.ptr, x.ptr, packed.ptr, b.ptr, scratch, c.N, c.C, c.H, c.W, c.FN, c.FH, c.FW, c.pad, act);
  if (direct === 0) {
    expect(viaPacked.data.every(Number.isNaN), `convForwardPacked writes nothing off the direct path, ${what}`).toBe(true);
  } else {
    expectBits(viaPacked.data, ref.data, `convForwardPacked vs convForwardRef, ${what}`);
    if (c.FN > 4) {
      // filters [4, FN) of image 0 from the second panel on, as a thread's part of a one-image forward
      const P = OH * OW;
      k.fill(viaPacked.ptr, NaN, viaPacked.size);
      k.convForwardPacked(viaPacked.ptr + 16 * P, x.ptr, packed.ptr + 16 * K, b.ptr + 16, scratch, 1, c.C, c.H, c.W, c.FN - 4, c.FH, c.FW, c.pad, act);
      expectBits(viaPacked.data.subarray(4 * P, outSize1), ref.data.subarray(4 * P, outSize1), `convForwardPacked on filters 4.., ${what}`);
      expect(viaPacked.data.subarray(0, 4 * P).every(Number.isNaN), `filters 0–3 untouched, ${what}`).toBe(true);
    }
  }
  // by positions on Wᵀ packed once (convForwardIm2colPacked, any shape and stride): the reference's bits
  const P1 = OH * OW;
  const Wt = between(canaries, () => rt.tensor([K * Math.ceil(c.FN / 8) * 8]));
  k.packBPanels(1, c.FN, K, w.ptr, K, Wt.ptr);
  const yt = between(canaries, () => rt.tensor([P1 * c.FN]));
  const byPositions = between(canaries, () => rt.tensor([c.N * outSize1]));
  k.fill(byPositions.ptr, NaN, byPositions.size);
  k.convForwardIm2colPacked(byPositions.ptr, x.ptr, Wt.ptr, b.ptr, scratch, yt.ptr, c.N, c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad, act);
  expectBits(byPositions.data, ref.data, `convForwardIm2colPacked vs convForwardRef, ${what}`);
  expect(canaries.changed(), `canaries around out, the packed filters, Wᵀ's panels, the positions' block and the scratch, ${what}`).toBe(0);
  canaries.dispose();
  packed.dispose(); viaPacked.dispose(); Wt.dispose(); yt.dispose(); byPositions.dispose();
  if (act === 0) {
    // the reference has the im2col path's bits: im2col, gemm, then the bias pass
    const P = OH * OW, col = rt.tensor([K * P]), y = rt.tensor([c.N * outSize1]);
    for (let i = 0; i < c.N; i++) {
      k.im2colForward(col.ptr, x.ptr + 4 * i * c.C * c.H * c.W, 1, c.C, c.H, c.W, c.FH, c.FW, c.stride, c.pad);
      k.gemm(0, 0, c.FN, P, K, w.ptr, K, col.ptr, P, y.ptr + 4 * i * outSize1, P, 0, rt.unsafeGemmWork);
    }
    k.convBiasForward(y.ptr, b.ptr, c.N, c.FN, P);
    expectBits(ref.data, y.data, `convForwardRef vs im2col + gemm + bias, ${what}`);
    col.dispose(); y.dispose();
  }
  for (const t of [x, w, b, out, ref, scratchT]) t.dispose();
  return direct;
}

describe('convForward, direct path (stride 1)', () => {
  it('gives the bits of its reference and of im2col + gemm: tile edges in filters and columns, pads 0-2, non-square filters, rows of 3 taps and of 2, 4, 5', () => {
    let seed = 1, directOtherRows = 0;
    for (const FN of [1, 5, 6, 7, 13, 16]) {
      for (const W of [3, 6, 8, 9, 12, 17]) {
        for (const [FH, FW, pad] of [[3, 3, 1], [3, 3, 0], [2, 3, 2], [1, 3, 1], [5, 5, 2], [3, 4, 1], [2, 2, 0]]) {
          if (W + 2 * pad < FW) continue;
          const direct = runBoth({ N: 2, C: 2, H: 5, W, FN, FH, FW, stride: 1, pad }, 0, seed++);
          if (FW !== 3) directOtherRows += direct;
        }
      }
    }
    // the tiles' k loop takes 3-tap rows as a unit: other rows must run the direct path too
    expect(directOtherRows).toBeGreaterThan(0);
  });

  it('one input channel (K = 9, a first layer) and K across the 256 block (K = 261, 270, 576: blocks that start and end inside a 3-tap filter row), with and without ReLU', () => {
    for (const act of [0, 1]) {
      runBoth({ N: 3, C: 1, H: 28, W: 28, FN: 16, FH: 3, FW: 3, stride: 1, pad: 1 }, act, 50);
      runBoth({ N: 1, C: 29, H: 6, W: 10, FN: 7, FH: 3, FW: 3, stride: 1, pad: 1 }, act, 51);
      runBoth({ N: 1, C: 30, H: 4, W: 8, FN: 13, FH: 3, FW: 3, stride: 1, pad: 2 }, act, 52);
      runBoth({ N: 2, C: 64, H: 4, W: 4, FN: 9, FH: 3, FW: 3, stride: 1, pad: 1 }, act, 53);
    }
  });

  it('one filter (3-row one-channel tiles): rows 1 to 3 of the last tile, columns past a tile, K across the 256 block, every activation', () => {
    let seed = 80;
    for (const act of [0, 1, 2, 3]) {
      for (const [C, H, W] of [[2, 5, 13], [1, 6, 9], [3, 7, 4], [30, 8, 10]]) runBoth({ N: 2, C, H, W, FN: 1, FH: 3, FW: 3, stride: 1, pad: 1 }, act, seed++);
    }
  });

  it('every fused activation, and subnormal inputs flushed as GEMM flushes them', () => {
    for (const act of [0, 1, 2, 3]) runBoth({ N: 2, C: 3, H: 7, W: 11, FN: 9, FH: 3, FW: 3, stride: 1, pad: 1 }, act, 60 + act);
    runBoth({ N: 2, C: 2, H: 6, W: 9, FN: 8, FH: 3, FW: 3, stride: 1, pad: 1 }, 0, 70, true);
  });

  it('rows ending with 5 or 6 columns, all rows\' as one row of positions: K across the 256 block, every activation, a partial last panel, one output row', () => {
    let seed = 100;
    for (const act of [0, 1, 2, 3]) {
      runBoth({ N: 2, C: 30, H: 5, W: 14, FN: 13, FH: 3, FW: 3, stride: 1, pad: 1 }, act, seed++); // 6 columns past 8, K = 270
      runBoth({ N: 1, C: 3, H: 9, W: 13, FN: 9, FH: 3, FW: 3, stride: 1, pad: 1 }, act, seed++); // 5 past 8
      runBoth({ N: 2, C: 2, H: 1, W: 8, FN: 8, FH: 1, FW: 3, stride: 1, pad: 0 }, act, seed++); // one row of 6
      runBoth({ N: 1, C: 4, H: 7, W: 7, FN: 6, FH: 3, FW: 3, stride: 1, pad: 0 }, act, seed++); // 5 columns alone
    }
  });

  it('runs the rows\' last columns as one row only where the scratch holds its buffers: filters on both sides of that bound keep the bits and the scratch\'s canaries', () => {
    const k = rt.unsafeKernels;
    // bytes of the direct path (convForwardIsDirect's bound) and of the remainder's buffers, as conv.ts computes them
    const C = 16, H = 6, W = 6, pad = 1, K = C * 9, PH = H + 2 * pad, PW = W + 2 * pad + 8, OH = H, rem = 6;
    const direct = (FN: number) => (Math.ceil(FN / 4) * 4 * K + 2 * K + 32 + C * PH * PW + 3) * 4;
    const remainder = (4 * Math.ceil((OH * rem) / 8) * 8 + K + 3 * C * PH * rem + 16) * 4;
    const room = k.convScratchBytes(C, H, W, 3, 3, 1, pad);
    // fits: the most filters (in whole panels) whose remainder fits; most: the most the direct path takes, whose
    // remainder would overrun the scratch by kilobytes, so it runs 8-column tiles
    let fits = 4, most = 4;
    while (direct(fits + 4) + remainder <= room) fits += 4;
    while (direct(most + 4) <= room) most += 4;
    expect(direct(most) + remainder - room, 'the remainder overruns at `most`').toBeGreaterThan(4096);
    expect(k.convForwardIsDirect(C, H, W, most, 3, 3, 1, pad)).toBe(1);
    expect(k.convForwardIsDirect(C, H, W, most + 4, 3, 3, 1, pad)).toBe(0);
    runBoth({ N: 1, C, H, W, FN: fits, FH: 3, FW: 3, stride: 1, pad }, 1, 120);
    runBoth({ N: 1, C, H, W, FN: most, FH: 3, FW: 3, stride: 1, pad }, 1, 121);
  });

  it('the im2col path (stride 2, 1×1 filters) keeps the reference\'s bits too', () => {
    runBoth({ N: 2, C: 3, H: 9, W: 7, FN: 5, FH: 3, FW: 3, stride: 2, pad: 1 }, 1, 80);
    runBoth({ N: 2, C: 4, H: 6, W: 6, FN: 6, FH: 1, FW: 1, stride: 1, pad: 0 }, 0, 81);
  });

  it('a call on a sub-range of the batch writes the same bits as the whole call', () => {
    const k = rt.unsafeKernels;
    const c = { N: 4, C: 3, H: 9, W: 10, FN: 7, FH: 3, FW: 3, pad: 1 };
    const img = c.C * c.H * c.W, outImg = c.FN * c.H * c.W;
    const x = rt.tensor([c.N * img], randomArray(c.N * img, 90));
    const w = rt.tensor([c.FN * c.C * 9], randomArray(c.FN * c.C * 9, 91));
    const b = rt.tensor([c.FN], randomArray(c.FN, 92));
    const whole = rt.tensor([c.N * outImg]), parts = rt.tensor([c.N * outImg]);
    const s = rt.partScratch(1, k.convScratchBytes(c.C, c.H, c.W, 3, 3, 1, 1))[0];
    k.convForward(whole.ptr, x.ptr, w.ptr, b.ptr, s, 4, c.C, c.H, c.W, c.FN, 3, 3, 1, 1, 1);
    k.convForward(parts.ptr, x.ptr, w.ptr, b.ptr, s, 1, c.C, c.H, c.W, c.FN, 3, 3, 1, 1, 1);
    k.convForward(parts.ptr + 4 * outImg, x.ptr + 4 * img, w.ptr, b.ptr, s, 3, c.C, c.H, c.W, c.FN, 3, 3, 1, 1, 1);
    expectBits(parts.data, whole.data, 'convForward split at image 1');
    for (const t of [x, w, b, whole, parts]) t.dispose();
  });
});

describe('convForward, relaxed build: tiles of 5 filters', () => {
  let relaxed: Runtime;
  beforeAll(async () => { relaxed = await makeRelaxedRuntime(); });

  it('give, filter for filter, the bits of calls on 4 filters at a time (4-filter tiles only), as a one-image forward split by filters needs', () => {
    expect(relaxed.features.relaxed).toBe(true);
    const k = relaxed.unsafeKernels;
    let seed = 700;
    // FN = 20, 24, 32, 37, 64: 1, 1, 1, 1 and 3 spare panels (37: a partial last panel); FN = 8, 16: none.
    // Widths 14 (the last 6 columns in an 8-column tile), 12 and 28 (4-column tails two rows to a tile),
    // 8 and 5; K = 288 crosses the 256 block 2 taps into a filter row, K = 540 the 512 block 1 tap in
    // (the tiles' k loop takes a filter row an iteration, from there); filters 3 wide and 5 tall; 5×5
    // filters, whose rows the tiles take one tap at a time
    for (const c of [
      { C: 3, H: 14, W: 14, FN: 20, pad: 1 }, { C: 32, H: 8, W: 8, FN: 64, pad: 1 }, { C: 32, H: 12, W: 12, FN: 37, pad: 2 },
      { C: 4, H: 28, W: 28, FN: 24, pad: 1 }, { C: 16, H: 7, W: 5, FN: 32, pad: 1 }, { C: 5, H: 9, W: 12, FN: 16, pad: 0 },
      { C: 2, H: 6, W: 10, FN: 8, pad: 1 }, { C: 60, H: 6, W: 9, FN: 20, pad: 1 },
      { C: 7, H: 11, W: 13, FN: 21, pad: 1, FH: 5 }, { C: 12, H: 9, W: 15, FN: 24, pad: 2, FH: 5, FW: 5 },
    ]) {
      const FH = c.FH ?? 3, FW = c.FW ?? 3;
      const OH = outSize(c.H, FH, 1, c.pad), OW = outSize(c.W, FW, 1, c.pad), P = OH * OW, K = c.C * FH * FW;
      const x = relaxed.tensor([c.C * c.H * c.W], randomArray(c.C * c.H * c.W, seed++));
      const w = relaxed.tensor([c.FN * K], randomArray(c.FN * K, seed++, -0.5, 0.5));
      const b = relaxed.tensor([c.FN], randomArray(c.FN, seed++));
      const canaries = new Canaries(relaxed, seed);
      const whole = between(canaries, () => relaxed.tensor([c.FN * P])), parts = between(canaries, () => relaxed.tensor([c.FN * P]));
      const scratchT = scratchBetween(canaries, relaxed, k.convScratchBytes(c.C, c.H, c.W, FH, FW, 1, c.pad)), scratch = scratchT.ptr;
      expect(k.convForwardIsDirect(c.C, c.H, c.W, c.FN, FH, FW, 1, c.pad)).toBe(1);
      for (let act = 0; act <= 3; act++) {
        const what = `relaxed, C=${c.C} ${c.H}×${c.W} FN=${c.FN} ${FH}×${FW} pad ${c.pad} act ${act}`;
        k.fill(whole.ptr, NaN, whole.size);
        k.fill(parts.ptr, NaN, parts.size);
        k.convForward(whole.ptr, x.ptr, w.ptr, b.ptr, scratch, 1, c.C, c.H, c.W, c.FN, FH, FW, 1, c.pad, act);
        for (let f = 0; f < c.FN; f += 4) {
          const n = Math.min(4, c.FN - f);
          k.convForward(parts.ptr + 4 * f * P, x.ptr, w.ptr + 4 * f * K, b.ptr + 4 * f, scratch, 1, c.C, c.H, c.W, n, FH, FW, 1, c.pad, act);
        }
        expectBits(whole.data, parts.data, `whole call vs 4 filters a call, ${what}`);
        expect(canaries.changed(), `canaries, ${what}`).toBe(0);
      }
      canaries.dispose();
      for (const t of [x, w, b, whole, parts, scratchT]) t.dispose();
    }
  });
});

// convForwardIm2colPacked (each image's outputs by positions, P × FN on Wᵀ packed once, then
// transposed into NCHW): convForward's bits in both builds, for every path convForward would take
// (direct, one-channel, im2col), K across one and two 256 blocks, positions and filters on and off
// the tiles' and the transpose's edges (P = 1, 4, 15, 16, 49, 50, 64; FN = 1, 3, 8, 13, 36), every
// activation, with canaries around the output, Wᵀ's panels, the positions' block and the scratch.
describe('convForwardIm2colPacked: convForward by positions on Wᵀ packed once', () => {
  const cases: Case[] = [
    { N: 2, C: 16, H: 7, W: 7, FN: 36, FH: 1, FW: 1, stride: 1, pad: 0 },
    { N: 1, C: 30, H: 10, W: 5, FN: 13, FH: 1, FW: 1, stride: 1, pad: 0 },
    { N: 2, C: 40, H: 14, W: 14, FN: 8, FH: 3, FW: 3, stride: 2, pad: 1 },
    { N: 1, C: 60, H: 9, W: 9, FN: 3, FH: 3, FW: 3, stride: 2, pad: 0 },
    { N: 2, C: 3, H: 8, W: 8, FN: 36, FH: 3, FW: 3, stride: 1, pad: 1 },
    { N: 1, C: 1, H: 5, W: 3, FN: 1, FH: 3, FW: 3, stride: 1, pad: 1 },
    { N: 1, C: 2, H: 3, W: 3, FN: 13, FH: 3, FW: 3, stride: 2, pad: 1 },
    { N: 1, C: 5, H: 4, W: 4, FN: 8, FH: 4, FW: 4, stride: 1, pad: 0 },
  ];
  for (const build of ['plain', 'relaxed'] as const) {
    it(`gives convForward's bits (${build} build)`, async () => {
      const r = build === 'plain' ? rt : await makeRelaxedRuntime();
      expect(r.features.relaxed).toBe(build === 'relaxed');
      const k = r.unsafeKernels;
      let seed = 900;
      for (const c of cases) {
        const OH = outSize(c.H, c.FH, c.stride, c.pad), OW = outSize(c.W, c.FW, c.stride, c.pad), P = OH * OW, K = c.C * c.FH * c.FW;
        const x = r.tensor([c.N * c.C * c.H * c.W], randomArray(c.N * c.C * c.H * c.W, seed++));
        const w = r.tensor([c.FN * K], randomArray(c.FN * K, seed++, -0.5, 0.5));
        const b = r.tensor([c.FN], randomArray(c.FN, seed++));
        const canaries = new Canaries(r, seed);
        const Wt = between(canaries, () => r.tensor([K * Math.ceil(c.FN / 8) * 8]));
        const yt = between(canaries, () => r.tensor([P * c.FN]));
        const want = between(canaries, () => r.tensor([c.N * c.FN * P])), got = between(canaries, () => r.tensor([c.N * c.FN * P]));
        const scratchT = scratchBetween(canaries, r, k.convScratchBytes(c.C, c.H, c.W, c.FH, c.FW, c.stride, c.pad));
        k.packBPanels(1, c.FN, K, w.ptr, K, Wt.ptr);
        for (let act = 0; act <= 3; act++) {
          const what = `${build}, N=${c.N} C=${c.C} ${c.H}×${c.W} FN=${c.FN} ${c.FH}×${c.FW} stride ${c.stride} pad ${c.pad} (P = ${P}, K = ${K}) act ${act}`;
          k.fill(got.ptr, NaN, got.size);
          k.convForward(want.ptr, x.ptr, w.ptr, b.ptr, scratchT.ptr, c.N, c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad, act);
          k.convForwardIm2colPacked(got.ptr, x.ptr, Wt.ptr, b.ptr, scratchT.ptr, yt.ptr, c.N, c.C, c.H, c.W, c.FN, c.FH, c.FW, c.stride, c.pad, act);
          expectBits(got.data, want.data, `convForwardIm2colPacked vs convForward, ${what}`);
          expect(canaries.changed(), `canaries, ${what}`).toBe(0);
        }
        canaries.dispose();
        for (const t of [x, w, b, Wt, yt, want, got, scratchT]) t.dispose();
      }
    });
  }
});
