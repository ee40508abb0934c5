// Convolution: the im2col/col2im/bias kernels against their scalar references,
// and the layer against float64 references from the book's im2col formulation.
import { describe, it, expect, beforeAll, vi } from 'vitest';
import { makeRuntime, makeTestRuntime, lengths, randomArray, expectClose, expectBits, type TestRuntime } from './helpers/runtime.js';
import { Affine, Convolution, Flatten, Pooling, Relu, Sigmoid, Tanh, isFusableActivation } from '../src/layers/index.js';
import { forwardByPositions, inputGradByPositions } from '../src/layers/convolution.js';
import { Sequential } from '../src/nets/sequential.js';
import { convForward, convBackward, outSize, type Geometry } from './reference/im2col.js';
import { layerGradients, gradError } from './reference/gradcheck.js';

let rt: TestRuntime;
beforeAll(async () => { rt = await makeTestRuntime(); });

// Filter/stride/pad combinations for the kernels: square and not, 1×1,
// padding wider than the filter's reach, strides 1 to 4.
const kernelCases: Array<Pick<Geometry, 'FH' | 'FW' | 'stride' | 'pad'>> = [
  { FH: 3, FW: 3, stride: 1, pad: 1 },
  { FH: 3, FW: 3, stride: 1, pad: 0 },
  { FH: 1, FW: 1, stride: 1, pad: 0 },
  { FH: 2, FW: 3, stride: 1, pad: 2 },
  { FH: 3, FW: 2, stride: 2, pad: 1 },
  { FH: 5, FW: 5, stride: 3, pad: 2 },
  { FH: 4, FW: 1, stride: 4, pad: 0 },
];

describe('im2col kernels', () => {
  for (const c of kernelCases) {
    // row widths around every multiple of the vector width, wide enough for the filter
    const widths = lengths.filter((w) => w + 2 * c.pad >= c.FW);
    it(`im2colForward/Backward match their references bit for bit, filter ${c.FH}×${c.FW} stride ${c.stride} pad ${c.pad}, W in ${widths[0]}..${widths[widths.length - 1]}`, () => {
      const k = rt.unsafeKernels;
      for (const W of widths) {
        const g: Geometry = { N: 2, C: 2, H: Math.max(c.FH, 5), W, ...c };
        const { OH, OW } = outSize(g);
        const inSize = g.N * g.C * g.H * W, colSize = g.N * g.C * c.FH * c.FW * OH * OW;
        const x = rt.tensor([inSize], randomArray(inSize, W + 1));
        const col = rt.tensor([colSize]), colRef = rt.tensor([colSize]);
        k.fill(col.ptr, NaN, colSize); // every entry must be written, padding included
        k.im2colForward(col.ptr, x.ptr, g.N, g.C, g.H, W, c.FH, c.FW, c.stride, c.pad);
        k.im2colForwardRef(colRef.ptr, x.ptr, g.N, g.C, g.H, W, c.FH, c.FW, c.stride, c.pad);
        expectBits(col.data, colRef.data, `im2colForward W=${W}`);
        const dcol = rt.tensor([colSize], randomArray(colSize, W + 2));
        const dx = rt.tensor([inSize]), dxRef = rt.tensor([inSize]);
        k.fill(dx.ptr, NaN, inSize);
        k.im2colBackward(dx.ptr, dcol.ptr, g.N, g.C, g.H, W, c.FH, c.FW, c.stride, c.pad);
        k.im2colBackwardRef(dxRef.ptr, dcol.ptr, g.N, g.C, g.H, W, c.FH, c.FW, c.stride, c.pad);
        expectBits(dx.data, dxRef.data, `im2colBackward W=${W}`);
        for (const t of [x, col, colRef, dcol, dx, dxRef]) t.dispose();
      }
    });
  }

  it('writes only its own images (a call on a sub-range of the batch)', () => {
    const k = rt.unsafeKernels;
    const g = { C: 3, H: 6, W: 7, FH: 3, FW: 3, stride: 1, pad: 1 };
    const img = g.C * g.H * g.W, colImg = g.C * 9 * g.H * g.W;
    const x = rt.tensor([4 * img], randomArray(4 * img, 3));
    const whole = rt.tensor([4 * colImg]), parts = rt.tensor([4 * colImg]);
    k.im2colForward(whole.ptr, x.ptr, 4, g.C, g.H, g.W, g.FH, g.FW, g.stride, g.pad);
    k.im2colForward(parts.ptr, x.ptr, 1, g.C, g.H, g.W, g.FH, g.FW, g.stride, g.pad);
    k.im2colForward(parts.ptr + colImg * 4, x.ptr + img * 4, 3, g.C, g.H, g.W, g.FH, g.FW, g.stride, g.pad);
    expectBits(parts.data, whole.data, 'im2col split at image 1');
    const dxWhole = rt.tensor([4 * img]), dxParts = rt.tensor([4 * img]);
    k.im2colBackward(dxWhole.ptr, whole.ptr, 4, g.C, g.H, g.W, g.FH, g.FW, g.stride, g.pad);
    k.im2colBackward(dxParts.ptr, whole.ptr, 2, g.C, g.H, g.W, g.FH, g.FW, g.stride, g.pad);
    k.im2colBackward(dxParts.ptr + 2 * img * 4, whole.ptr + 2 * colImg * 4, 2, g.C, g.H, g.W, g.FH, g.FW, g.stride, g.pad);
    expectBits(dxParts.data, dxWhole.data, 'col2im split at image 2');
  });
});

describe('conv bias kernels', () => {
  it('convBiasForward matches its reference bit for bit; convBiasBackward within f32 summation error', () => {
    const k = rt.unsafeKernels;
    for (const P of lengths) {
      const n = 3, C = 5;
      const y = rt.tensor([n * C * P], randomArray(n * C * P, P + 1));
      const yRef = rt.tensor([n * C * P], y.data);
      const b = rt.tensor([C], randomArray(C, P + 2));
      k.convBiasForward(y.ptr, b.ptr, n, C, P);
      k.convBiasForwardRef(yRef.ptr, b.ptr, n, C, P);
      expectBits(y.data, yRef.data, `convBiasForward P=${P}`);
      const db = rt.tensor([C]), dbRef = rt.tensor([C]);
      k.convBiasBackward(db.ptr, y.ptr, n, C, P);
      k.convBiasBackwardRef(dbRef.ptr, y.ptr, n, C, P);
      // judged against the float64 sum with the worst-case bound for m f32
      // additions in any order: |error| <= m·2⁻²⁴·Σ|y|
      for (let c = 0; c < C; c++) {
        let s = 0, abs = 0;
        for (let i = 0; i < n; i++) for (let j = 0; j < P; j++) {
          const v = y.data[(i * C + c) * P + j];
          s += v; abs += Math.abs(v);
        }
        const bound = n * P * 2 ** -24 * abs;
        expect(Math.abs(db.data[c] - s), `convBiasBackward P=${P} c=${c}`).toBeLessThanOrEqual(bound);
        expect(Math.abs(dbRef.data[c] - s), `convBiasBackwardRef P=${P} c=${c}`).toBeLessThanOrEqual(bound);
      }
      for (const t of [y, yRef, b, db, dbRef]) t.dispose();
    }
  });
});

// Layer cases: [N, C, H, W], [FN, FH, FW], stride, pad.
const layerCases: Array<{ x: [number, number, number, number]; f: [number, number, number]; stride: number; pad: number }> = [
  { x: [2, 1, 8, 8], f: [3, 3, 3], stride: 1, pad: 1 },
  { x: [2, 3, 7, 9], f: [4, 3, 2], stride: 1, pad: 0 },   // non-square input and filter
  { x: [3, 2, 9, 7], f: [5, 3, 3], stride: 2, pad: 1 },
  { x: [1, 3, 11, 10], f: [2, 5, 4], stride: 3, pad: 2 },
  { x: [2, 4, 6, 6], f: [6, 1, 1], stride: 1, pad: 0 },   // 1×1
  { x: [2, 2, 5, 5], f: [3, 5, 5], stride: 1, pad: 2 },   // filter as large as the input
  { x: [1, 3, 23, 23], f: [4, 11, 11], stride: 4, pad: 2 }, // AlexNet's first layer, small
  { x: [40, 1, 28, 28], f: [2, 3, 3], stride: 1, pad: 1 }, // two im2col chunks (37 + 3 images)
  { x: [3, 16, 32, 32], f: [4, 3, 3], stride: 1, pad: 1 }, // one image per chunk
  { x: [2, 8, 7, 7], f: [40, 1, 1], stride: 1, pad: 0 },   // 1×1 on rows of 7: the forward by positions
  { x: [2, 8, 9, 9], f: [64, 3, 3], stride: 2, pad: 1 },   // few positions for the filters and K: the same
];

describe('Convolution', () => {
  for (const { x: xs, f: [FN, FH, FW], stride, pad } of layerCases) {
    const [N, C, H, W] = xs;
    it(`forward/backward match the book's im2col formulation: x [${xs.join(', ')}], W [${FN}, ${C}, ${FH}, ${FW}], stride ${stride}, pad ${pad}`, () => {
      const g: Geometry = { N, C, H, W, FH, FW, stride, pad };
      const { OH, OW } = outSize(g);
      const K = C * FH * FW;
      const x = rt.tensor(xs, randomArray(N * C * H * W, 1));
      const Wt = rt.tensor([FN, C, FH, FW], randomArray(FN * K, 2, -0.5, 0.5));
      const b = rt.tensor([FN], randomArray(FN, 3));
      const layer = new Convolution(Wt, b, stride, pad);
      const y = layer.forward(x);
      expect(y.shape).toEqual([N, FN, OH, OW]);
      // f32 sums of K products of size <= 0.5: rounding grows like sqrt(K)
      expectClose(y.data, convForward(x.data, Wt.data, b.data, FN, g), { rtol: 1e-5, atol: 1e-6 * Math.sqrt(K) }, 'out');
      const dout = rt.tensor(y.shape, randomArray(y.size, 4));
      const dx = layer.backward(dout);
      expect(dx.shape).toEqual(xs);
      const ref = convBackward(x.data, Wt.data, dout.data, FN, g);
      const terms = N * OH * OW; // summed into each dW and db entry
      expectClose(dx.data, ref.dx, { rtol: 1e-5, atol: 1e-6 * Math.sqrt(FN * FH * FW) }, 'dx');
      expectClose(layer.dW.data, ref.dW, { rtol: 1e-5, atol: 1e-6 * Math.sqrt(terms) }, 'dW');
      expectClose(layer.db.data, ref.db, { rtol: 1e-5, atol: 1e-6 * Math.sqrt(terms) }, 'db');
      for (const t of [x, Wt, b, dout]) t.dispose();
      layer.dispose();
    });
  }

  it("backwardThrough(dout, activation) has the bits of the activation's backward after backward(), and names what it refuses before writing", async () => {
    const x = rt.tensor([3, 4, 9, 8], randomArray(3 * 4 * 72, 30, -1, 1));
    const layer = new Convolution(rt.tensor([5, 4, 3, 3], randomArray(180, 31, -0.5, 0.5)), rt.tensor([5], randomArray(5, 32)), 1, 1);
    const dout = rt.tensor([3, 5, 9, 8], randomArray(3 * 5 * 72, 33));
    const activations = [new Relu(), new Sigmoid(), new Tanh()];
    for (const before of activations) {
      const input = before.forward(x);
      layer.forward(input);
      const want = before.backward(layer.backward(dout)).toArray();
      const dW = layer.dW.toArray(), db = layer.db.toArray();
      layer.dW.data.fill(7);
      expectBits(layer.backwardThrough(dout, before).toArray(), want, `${before.name}: dx`);
      expectBits(layer.dW.toArray(), dW, `${before.name}: dW`);
      expectBits(layer.db.toArray(), db, `${before.name}: db`);
    }
    layer.dW.data.fill(7);
    const refuse = (before: unknown, pattern: RegExp) => {
      expect(() => layer.backwardThrough(dout, before as Relu)).toThrow(pattern);
      expect(Array.from(layer.dW.data), 'nothing written by a refused call').toEqual(new Array(180).fill(7));
    };
    refuse(new Relu(), /Convolution.backwardThrough: call Relu.forward first/);
    refuse(layer, /Convolution.backwardThrough: before must be a Relu, Sigmoid or Tanh layer/);
    const small = new Relu();
    small.forward(rt.tensor([3, 4, 9, 7]));
    refuse(small, /Convolution.backwardThrough: Relu kept \[3, 4, 9, 7\], this layer's input was \[3, 4, 9, 8\]/);
    const gone = new Relu(), kept = rt.tensor([3, 4, 9, 8]);
    gone.forward(kept);
    kept.dispose();
    refuse(gone, /Convolution.backwardThrough: the tensor Relu.forward kept.*disposed/);
    const other = await makeRuntime({ seed: 4 });
    const foreign = new Relu();
    foreign.forward(other.tensor([3, 4, 9, 8]));
    refuse(foreign, /Convolution.backwardThrough: the tensor Relu kept: tensor \[3, 4, 9, 8\] belongs to another runtime/);
    // an activation that kept this layer's own dx: dx would be written over what it reads
    const dx = layer.backward(dout);
    const mine = new Relu();
    mine.forward(dx);
    layer.dW.data.fill(7);
    refuse(mine, /Convolution.backwardThrough: the tensor the activation before kept overlaps this layer's dx/);
    // and one that kept the layer's own dW (W [5, 4, 3, 3] has the size of an input [1, 4, 5, 9])
    const wide = new Convolution(rt.tensor([5, 4, 3, 3], randomArray(180, 34, -0.5, 0.5)), rt.tensor([5]), 1, 1);
    const onDW = new Relu();
    onDW.forward(wide.dW);
    wide.forward(rt.tensor([1, 4, 5, 9], randomArray(180, 35)));
    wide.db.data.fill(7);
    expect(() => wide.backwardThrough(rt.tensor([1, 5, 5, 9]), onDW)).toThrow(/Convolution.backwardThrough: the tensor the activation before kept overlaps this layer's dW/);
    expect(Array.from(wide.db.data), 'nothing written by a refused call').toEqual(new Array(5).fill(7));
    wide.dispose();
    onDW.dispose();
    for (const t of [x, dout]) t.dispose();
    for (const l of [layer, small, gone, foreign, mine, ...activations]) l.dispose();
  });

  it("a net's gradient() runs each activation before a Convolution or Pooling in that layer's backward, with the bits of the layers' own backward()", () => {
    const conv = (C: number, FN: number, F: number, stride: number, pad: number, seed: number) =>
      new Convolution(rt.tensor([FN, C, F, F], randomArray(FN * C * F * F, seed, -0.4, 0.4)), rt.tensor([FN], randomArray(FN, seed + 1)), stride, pad);
    // the layer after ReLU runs dx direct, after sigmoid im2col (stride 2), after tanh the one-channel dx
    // tiles (C = 1, from the 1-filter layer before)
    const net = new Sequential(rt, [
      conv(2, 6, 3, 1, 1, 40), new Relu(), conv(6, 4, 3, 1, 1, 42), new Sigmoid(), conv(4, 1, 3, 2, 1, 44), new Tanh(),
      conv(1, 3, 3, 1, 1, 46), new Relu(), new Pooling(2, 2, 2), new Flatten(),
      new Affine(rt.tensor([3 * 2 * 2, 4], randomArray(48, 48, -0.3, 0.3)), rt.tensor([4])),
    ]);
    const x = rt.tensor([5, 2, 9, 9], randomArray(5 * 162, 50, -1, 1));
    const t = rt.labels([5], Int32Array.from([0, 3, 1, 2, 3]));
    const spies = [vi.spyOn(Convolution.prototype, 'backwardThrough'), vi.spyOn(Pooling.prototype, 'backwardThrough')];
    const grads = Object.fromEntries(Object.entries(net.gradient(x, t)).map(([key, g]) => [key, g.toArray()]));
    expect(spies.map((s) => s.mock.calls.length), 'one fused call per activation before a Convolution or Pooling').toEqual(
      [Convolution, Pooling].map((kind) => net.layers.filter((l, i) => l instanceof kind && isFusableActivation(net.layers[i - 1])).length));
    expect(spies[1].mock.calls.length).toBe(1);
    for (const s of spies) s.mockRestore();
    net.loss(x, t, true);
    let d = net.lastLayer.backward();
    for (const layer of net.layers.slice(1).reverse()) d = layer.backward(d);
    (net.layers[0] as Convolution).backwardParams(d);
    for (const [key, g] of Object.entries(net.grads)) expectBits(g.toArray(), grads[key], key);
    net.dispose();
    x.dispose();
    t.dispose();
  });

  it('passes a numerical gradient check (stride 2, pad 1, non-square filter)', () => {
    const x = rt.tensor([2, 2, 6, 5], randomArray(120, 5));
    const layer = new Convolution(rt.tensor([3, 2, 3, 2], randomArray(36, 6)), rt.tensor([3], randomArray(3, 7)), 2, 1);
    const { analytic, numeric } = layerGradients(layer, x, 1e-2);
    // linear in each input: central differences are exact up to f32 rounding of the sums
    for (const key of ['x', 'W', 'b']) expect(gradError(analytic[key], numeric[key]), key).toBeLessThan(2e-3);
    layer.dispose();
  });

  it('keys its params W and b, and uses supplied gradient tensors', () => {
    const W = rt.tensor([2, 1, 3, 3]), b = rt.tensor([2]);
    const dW = rt.tensor([2, 1, 3, 3]), db = rt.tensor([2]);
    const layer = new Convolution(W, b, 1, 0, { dW, db });
    expect(layer.params).toEqual({ W, b });
    expect(layer.grads.W).toBe(dW);
    expect(layer.dW).toBe(dW);
    layer.forward(rt.tensor([1, 1, 4, 4], randomArray(16, 8)));
    layer.backward(rt.tensor([1, 2, 2, 2], randomArray(8, 9)));
    expect(dW.data.some((v) => v !== 0)).toBe(true);
    layer.dispose();
    expect(dW.disposed).toBe(false);
  });

  it('allocates nothing in a repeated step of a seen batch shape', () => {
    const layer = new Convolution(rt.tensor([4, 3, 3, 3], randomArray(108, 10)), rt.tensor([4]), 1, 1);
    const x = rt.tensor([5, 3, 8, 8], randomArray(960, 11));
    const dout = rt.tensor([5, 4, 8, 8], randomArray(1280, 12));
    layer.forward(x); layer.backward(dout);
    const before = rt.memoryStats();
    layer.forward(x); layer.backward(dout);
    expect(rt.memoryStats()).toEqual(before);
    layer.dispose();
  });

  it('rejects bad shapes and settings, naming the layer and the expected shape', () => {
    const W = rt.tensor([2, 3, 3, 3]);
    expect(() => new Convolution(rt.tensor([2, 27]), rt.tensor([2]))).toThrow(/Convolution: W must be 4-D \[FN, C, FH, FW\], got \[2, 27\]/);
    expect(() => new Convolution(W, rt.tensor([3]))).toThrow(/Convolution: b must have 2 elements/);
    expect(() => new Convolution(W, rt.tensor([2]), 0)).toThrow(/stride must be a positive integer, got 0/);
    expect(() => new Convolution(W, rt.tensor([2]), 1, -1)).toThrow(/pad must be a non-negative integer, got -1/);
    const layer = new Convolution(W, rt.tensor([2]), 1, 0);
    expect(() => layer.forward(rt.tensor([2, 1, 5, 5]))).toThrow(/Convolution.forward: x must be \[N, 3, H, W\], got \[2, 1, 5, 5\]/);
    expect(() => layer.forward(rt.tensor([2, 75]))).toThrow(/x must be \[N, 3, H, W\], got \[2, 75\]/);
    expect(() => layer.forward(rt.tensor([1, 3, 2, 5]))).toThrow(/a 3×3 filter with pad 0 does not fit a 2×5 input/);
    expect(() => new Convolution(W, rt.tensor([2])).backward(rt.tensor([1]))).toThrow(/call forward first/);
    layer.forward(rt.tensor([2, 3, 5, 5]));
    expect(() => layer.backward(rt.tensor([2, 2, 4, 3]))).toThrow(/Convolution.backward: dout must be \[2, 2, 3, 3\], got \[2, 2, 4, 3\]/);
    layer.dispose();
  });
});

// The layer's passes by positions (assembly/conv.ts convForwardIm2colPacked, convInputGradIm2colPacked:
// P × FN outputs on Wᵀ packed once, P × K of dcol on W packed once), where forwardByPositions and
// inputGradByPositions choose them: the bits of the convForward and convBackward kernels on the same
// operands, for every fused activation and through an activation's backward, on one thread and split
// by image groups over two (each group its own block of positions), and for a one-image forward,
// whose split by filters keeps the kernel's own path.
describe('Convolution by positions', () => {
  const shapes: Array<{ x: [number, number, number, number]; f: [number, number, number]; stride: number; pad: number }> = [
    { x: [9, 32, 7, 7], f: [40, 1, 1], stride: 1, pad: 0 },
    { x: [5, 34, 10, 10], f: [33, 1, 1], stride: 1, pad: 0 },
    { x: [9, 8, 9, 9], f: [64, 3, 3], stride: 2, pad: 1 },
    { x: [3, 30, 6, 6], f: [12, 3, 3], stride: 2, pad: 0 },
    { x: [1, 32, 7, 7], f: [40, 1, 1], stride: 1, pad: 0 },
  ];

  it('are chosen with at most half as many positions as filters and K (off the direct path), and for 1×1 filters on rows of 7, 10 or 14; not for DeepConvNet\'s layers', () => {
    const k = rt.unsafeKernels;
    for (const { x: [, C, H], f: [FN, F], stride, pad } of shapes) {
      const OW = Math.floor((H + 2 * pad - F) / stride) + 1, P = OW * OW, K = C * F * F;
      const direct = k.convForwardIsDirect(C, H, H, FN, F, F, stride, pad) === 1;
      expect(forwardByPositions(direct, F, F, OW, P, FN, K), `forward, [${C}, ${H}]·${FN}×${F} stride ${stride}`).toBe(true);
      const paths = k.convBackwardPaths(C, H, H, FN, F, F, stride, pad);
      expect(inputGradByPositions(paths, F, F, H, P, K, FN, C), `dx, [${C}, ${H}]·${FN}×${F} stride ${stride}`).toBe(true);
    }
    expect(forwardByPositions(true, 1, 1, 8, 64, 128, 64), '1×1 on rows of 8').toBe(false);
    expect(forwardByPositions(true, 1, 1, 7, 49, 16, 64), '1×1 with few filters').toBe(false);
    expect(forwardByPositions(false, 3, 3, 7, 49, 97, 576), 'fewer than twice as many filters as positions').toBe(false);
    expect(forwardByPositions(false, 3, 3, 7, 49, 98, 576), 'twice as many').toBe(true);
    expect(forwardByPositions(false, 3, 3, 7, 49, 64, 27), 'K below the positions').toBe(false);
    expect(inputGradByPositions(4, 3, 3, 28, 784, 9, 16, 1), 'one input channel').toBe(false);
    expect(inputGradByPositions(0, 3, 3, 16, 64, 288, 64, 32), 'as many filters as positions').toBe(false);
    expect(inputGradByPositions(2, 3, 3, 9, 49, 576, 512, 64), 'the direct dx of 3×3 filters').toBe(false);
    // DeepConvNet's layers (all 3×3, stride 1, direct) keep the direct kernels
    for (const [C, H, FN, pad] of [[1, 28, 16, 1], [16, 28, 16, 1], [16, 14, 32, 1], [32, 14, 32, 2], [32, 8, 64, 1], [64, 8, 64, 1]]) {
      const OW = H + 2 * pad - 2, P = OW * OW, K = C * 9;
      expect(forwardByPositions(k.convForwardIsDirect(C, H, H, FN, 3, 3, 1, pad) === 1, 3, 3, OW, P, FN, K), `DeepConvNet's [${C}, ${H}]·${FN}`).toBe(false);
      expect(inputGradByPositions(k.convBackwardPaths(C, H, H, FN, 3, 3, 1, pad), 3, 3, H, P, K, FN, C), `DeepConvNet's [${C}, ${H}]·${FN} dx`).toBe(false);
    }
  });

  const ACTS = ['none', 'relu', 'sigmoid', 'tanh'] as const;
  for (const threads of [1, 2]) {
    it(`give the convForward and convBackward kernels' bits, every fused activation and through an activation's backward, on ${threads} thread${threads > 1 ? 's' : ''}`, async () => {
      const r = threads === 1 ? rt : await makeRuntime({ threads: 2 });
      const k = r.unsafeKernels;
      let seed = 40;
      for (const { x: xs, f: [FN, FH, FW], stride, pad } of shapes) {
        const [N, C, H, W] = xs;
        const K = C * FH * FW, OH = Math.floor((H + 2 * pad - FH) / stride) + 1, OW = Math.floor((W + 2 * pad - FW) / stride) + 1;
        const what = `x [${xs.join(', ')}]·${FN}×${FH}×${FW} stride ${stride} pad ${pad}, ${threads} thread(s)`;
        const x = r.tensor(xs, randomArray(N * C * H * W, seed++));
        const w = r.tensor([FN, C, FH, FW], randomArray(FN * K, seed++, -0.5, 0.5));
        const b = r.tensor([FN], randomArray(FN, seed++));
        const dout = r.tensor([N, FN, OH, OW], randomArray(N * FN * OH * OW, seed++));
        const layer = new Convolution(w, b, stride, pad);
        const scratch = r.partScratch(1, k.convScratchBytes(C, H, W, FH, FW, stride, pad))[0];
        const want = r.tensor([N, FN, OH, OW]), dxWant = r.tensor(xs), dWWant = r.tensor([FN * K]), dbWant = r.tensor([FN]);
        for (const act of ACTS) {
          const jobs = r.threadStats().jobs;
          const y = layer.forward(x, false, act);
          if (threads > 1 && N > 1) expect(r.threadStats().jobs, `the forward ran split, ${what}`).toBe(jobs + 1);
          k.convForward(want.ptr, x.ptr, w.ptr, b.ptr, scratch, N, C, H, W, FN, FH, FW, stride, pad, ACTS.indexOf(act));
          expectBits(y.data, want.data, `forward ${act}, ${what}`);
        }
        // the backward, plain and through a sigmoid that kept x (its output, as the layer's input)
        const sigmoid = new Sigmoid();
        const xs2 = sigmoid.forward(x);
        layer.forward(xs2);
        for (const through of [false, true]) {
          const jobs = r.threadStats().jobs;
          const dx = through ? layer.backwardThrough(dout, sigmoid) : layer.backward(dout);
          if (threads > 1 && N > 1) expect(r.threadStats().jobs, `the backward ran split (dW and db, then dx), ${what}`).toBe(jobs + 2);
          k.convBackward(dxWant.ptr, dWWant.ptr, dbWant.ptr, xs2.ptr, dout.ptr, w.ptr, scratch, N, C, H, W, FN, FH, FW, stride, pad,
            through ? xs2.ptr : 0, through ? 2 : 0);
          expectBits(dx.data, dxWant.data, `dx${through ? ' through the sigmoid' : ''}, ${what}`);
          // dW and db as the layer sums them: each image group's (at most 8 groups) by the kernel, added in group order
          const groups = Math.min(N, 8), dWg = r.tensor([FN * K]), dbg = r.tensor([FN]);
          for (let g = 0; g < groups; g++) {
            const i0 = Math.floor((N * g) / groups), i1 = Math.floor((N * (g + 1)) / groups);
            k.convBackward(0, g === 0 ? dWWant.ptr : dWg.ptr, g === 0 ? dbWant.ptr : dbg.ptr, xs2.ptr + 4 * i0 * C * H * W,
              dout.ptr + 4 * i0 * FN * OH * OW, w.ptr, scratch, i1 - i0, C, H, W, FN, FH, FW, stride, pad, 0, 0);
            if (g > 0) { k.axpy(dWWant.ptr, dWg.ptr, 1, FN * K); k.axpy(dbWant.ptr, dbg.ptr, 1, FN); }
          }
          expectBits(layer.dW.data, dWWant.data, `dW, ${what}`);
          expectBits(layer.db.data, dbWant.data, `db, ${what}`);
          dWg.dispose(); dbg.dispose();
        }
        layer.dispose();
        for (const t of [x, w, b, dout, want, dxWant, dWWant, dbWant]) t.dispose();
      }
      if (threads > 1) await r.dispose();
    });
  }
});
