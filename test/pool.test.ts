// Pooling: the max/avg/global-average kernels against their scalar
// references, and the layers against float64 references from the book's
// im2col formulation; Flatten.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, makeTestRuntime, lengths, randomArray, randomInts, expectClose, expectBits, type TestRuntime } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';
import { Pooling, GlobalAveragePooling, Flatten, Relu, Sigmoid, Tanh } from '../src/layers/index.js';
import { outSize, poolForward, poolBackward, type Geometry } from './reference/im2col.js';
import { layerGradients, gradError } from './reference/gradcheck.js';

let rt: TestRuntime;
beforeAll(async () => { rt = await makeTestRuntime(); });

// Window/stride/pad combinations: the nets' 2×2/2 and 3×3/2 (overlapping),
// stride 1, non-square windows, padding (whose zeros take part, as the book's).
const kernelCases: Array<Pick<Geometry, 'FH' | 'FW' | 'stride' | 'pad'>> = [
  { FH: 2, FW: 2, stride: 2, pad: 0 },
  { FH: 3, FW: 3, stride: 2, pad: 0 },
  { FH: 2, FW: 2, stride: 1, pad: 0 },
  { FH: 3, FW: 2, stride: 1, pad: 1 },
  { FH: 2, FW: 3, stride: 3, pad: 1 },
  { FH: 1, FW: 1, stride: 1, pad: 0 },
];

/** Inputs with many exact ties (small integers, negatives included) to pin the first-arg-max rule. */
const tiedInputs = (n: number, seed: number) => Float32Array.from(randomInts(n, seed, 7), (v) => v - 4);
/** Tied inputs with about one value in eight NaN (a diverging net's activations). */
const nanInputs = (n: number, seed: number) => Float32Array.from(randomInts(n, seed, 8), (v) => (v === 7 ? NaN : v - 4));

describe('pooling kernels', () => {
  for (const c of kernelCases) {
    const widths = lengths.filter((w) => w + 2 * c.pad >= c.FW);
    it(`max/avg pool forward and avg backward match their references bit for bit, window ${c.FH}×${c.FW} stride ${c.stride} pad ${c.pad}`, () => {
      const k = rt.unsafeKernels;
      for (const W of widths) {
        const planes = 3, H = c.FH + 3;
        const { OH, OW } = outSize({ N: 1, C: planes, H, W, ...c });
        const inSize = planes * H * W, outN = planes * OH * OW;
        for (const [label, values] of [['random', randomArray(inSize, W + 1)], ['tied', tiedInputs(inSize, W + 2)], ['nan', nanInputs(inSize, W + 3)]] as const) {
          const x = rt.tensor([inSize], values);
          const y = rt.tensor([outN]), yRef = rt.tensor([outN]);
          const arg = rt.labels([outN]), argRef = rt.labels([outN]);
          k.maxPoolForward(y.ptr, arg.ptr, x.ptr, planes, H, W, c.FH, c.FW, c.stride, c.pad);
          k.maxPoolForwardRef(yRef.ptr, argRef.ptr, x.ptr, planes, H, W, c.FH, c.FW, c.stride, c.pad);
          expectBits(y.data, yRef.data, `maxPoolForward ${label} W=${W}`);
          expect([...arg.data], `maxPoolForward arg ${label} W=${W}`).toEqual([...argRef.data]);
          k.avgPoolForward(y.ptr, x.ptr, planes, H, W, c.FH, c.FW, c.stride, c.pad);
          k.avgPoolForwardRef(yRef.ptr, x.ptr, planes, H, W, c.FH, c.FW, c.stride, c.pad);
          expectBits(y.data, yRef.data, `avgPoolForward ${label} W=${W}`);
          const dx = rt.tensor([inSize]), dxRef = rt.tensor([inSize]);
          k.fill(dx.ptr, NaN, inSize);
          k.avgPoolBackward(dx.ptr, y.ptr, planes, H, W, c.FH, c.FW, c.stride, c.pad, 0, 0);
          k.avgPoolBackwardRef(dxRef.ptr, y.ptr, planes, H, W, c.FH, c.FW, c.stride, c.pad);
          expectBits(dx.data, dxRef.data, `avgPoolBackward ${label} W=${W}`);
          for (const t of [x, y, yRef, arg, argRef, dx, dxRef]) t.dispose();
        }
      }
    });
  }

  it('max pool: a NaN in a window is its max, at the first NaN\'s index (np.max, np.argmax), wherever it sits in the window', () => {
    const k = rt.unsafeKernels;
    for (const c of kernelCases) {
      const planes = 2, H = c.FH + 4, W = 13;
      const { OH, OW } = outSize({ N: 1, C: planes, H, W, ...c });
      const inSize = planes * H * W, outN = planes * OH * OW;
      const values = nanInputs(inSize, 41 + c.FH);
      const x = rt.tensor([inSize], values), y = rt.tensor([outN]), arg = rt.labels([outN]);
      k.maxPoolForward(y.ptr, arg.ptr, x.ptr, planes, H, W, c.FH, c.FW, c.stride, c.pad);
      let windowsWithNaN = 0;
      for (let p = 0; p < planes; p++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
        let first = -1;
        for (let ky = 0; ky < c.FH && first < 0; ky++) for (let kx = 0; kx < c.FW && first < 0; kx++) {
          const iy = oy * c.stride - c.pad + ky, ix = ox * c.stride - c.pad + kx;
          if (iy >= 0 && iy < H && ix >= 0 && ix < W && Number.isNaN(values[p * H * W + iy * W + ix])) first = iy * W + ix;
        }
        const o = (p * OH + oy) * OW + ox;
        if (first < 0) continue;
        windowsWithNaN++;
        expect(Number.isNaN(y.data[o]), `window ${o} ${c.FH}×${c.FW}/${c.stride}`).toBe(true);
        expect(arg.data[o], `window ${o}'s index`).toBe(first);
      }
      expect(windowsWithNaN).toBeGreaterThan(3);
      for (const t of [x, y, arg]) t.dispose();
    }
  });

  it("max and avg backward with an activation's backward (act 1–3) on each plane give the bits of the plain call, then the elementwise backward kernel", () => {
    const k = rt.unsafeKernels;
    const kernels = { 1: 'reluBackward', 2: 'sigmoidBackward', 3: 'tanhBackward' } as const;
    let seed = 300;
    for (const c of [kernelCases[0], kernelCases[1], kernelCases[3]]) {
      const planes = 5, H = 9, W = 11;
      const { OH, OW } = outSize({ N: 1, C: planes, H, W, ...c });
      const inSize = planes * H * W, outN = planes * OH * OW;
      const x = rt.tensor([inSize], tiedInputs(inSize, seed++));
      const y = rt.tensor([outN]), arg = rt.labels([outN]);
      k.maxPoolForward(y.ptr, arg.ptr, x.ptr, planes, H, W, c.FH, c.FW, c.stride, c.pad);
      const dy = rt.tensor([outN], randomArray(outN, seed++));
      const plainMax = rt.tensor([inSize]), plainAvg = rt.tensor([inSize]), want = rt.tensor([inSize]);
      k.maxPoolBackward(plainMax.ptr, dy.ptr, arg.ptr, planes, H * W, OH * OW, 0, 0);
      k.avgPoolBackward(plainAvg.ptr, dy.ptr, planes, H, W, c.FH, c.FW, c.stride, c.pad, 0, 0);
      for (const act of [1, 2, 3] as const) {
        const values = randomArray(inSize, seed++, act === 2 ? 0 : -1, 1);
        if (act === 1) for (let i = 0; i < inSize; i += 5) values[i] = 0;
        const saved = rt.tensor([inSize], values);
        const canaries = new Canaries(rt, seed);
        const dx = between(canaries, () => rt.tensor([inSize]));
        const what = `act ${act}, window ${c.FH}×${c.FW} stride ${c.stride} pad ${c.pad}`;
        k.fill(dx.ptr, NaN, inSize);
        k.maxPoolBackward(dx.ptr, dy.ptr, arg.ptr, planes, H * W, OH * OW, saved.ptr, act);
        k[kernels[act]](want.ptr, plainMax.ptr, saved.ptr, inSize);
        expectBits(dx.data, want.data, `maxPoolBackward, ${what}`);
        k.fill(dx.ptr, NaN, inSize);
        k.avgPoolBackward(dx.ptr, dy.ptr, planes, H, W, c.FH, c.FW, c.stride, c.pad, saved.ptr, act);
        k[kernels[act]](want.ptr, plainAvg.ptr, saved.ptr, inSize);
        expectBits(dx.data, want.data, `avgPoolBackward, ${what}`);
        expect(Array.from(saved.data), `saved unchanged, ${what}`).toEqual(Array.from(new Float32Array(values)));
        expect(canaries.changed(), `canaries, ${what}`).toBe(0);
        canaries.dispose();
        saved.dispose();
        dx.dispose();
      }
      for (const t of [x, y, arg, dy, plainMax, plainAvg, want]) t.dispose();
    }
  });

  it('globalAvgPoolForward is within f32 summation error of its reference; backward matches bit for bit', () => {
    const k = rt.unsafeKernels;
    for (const P of lengths.filter((p) => p > 0)) {
      const planes = 4;
      const x = rt.tensor([planes * P], randomArray(planes * P, P));
      const y = rt.tensor([planes]), yRef = rt.tensor([planes]);
      k.globalAvgPoolForward(y.ptr, x.ptr, planes, P);
      k.globalAvgPoolForwardRef(yRef.ptr, x.ptr, planes, P);
      for (let p = 0; p < planes; p++) {
        let s = 0, abs = 0;
        for (let j = 0; j < P; j++) { s += x.data[p * P + j]; abs += Math.abs(x.data[p * P + j]); }
        // P f32 additions in any order plus one rounding of the scaling
        const bound = (P * 2 ** -24 * abs) / P + 2 ** -24 * Math.abs(s / P);
        expect(Math.abs(y.data[p] - s / P), `globalAvgPoolForward P=${P}`).toBeLessThanOrEqual(bound);
        expect(Math.abs(yRef.data[p] - s / P), `globalAvgPoolForwardRef P=${P}`).toBeLessThanOrEqual(bound);
      }
      const dx = rt.tensor([planes * P]), dxRef = rt.tensor([planes * P]);
      k.globalAvgPoolBackward(dx.ptr, y.ptr, planes, P);
      k.globalAvgPoolBackwardRef(dxRef.ptr, y.ptr, planes, P);
      expectBits(dx.data, dxRef.data, `globalAvgPoolBackward P=${P}`);
      for (const t of [x, y, yRef, dx, dxRef]) t.dispose();
    }
  });
});

const layerCases: Array<{ x: [number, number, number, number]; pool: [number, number]; stride: number; pad: number }> = [
  { x: [2, 3, 8, 8], pool: [2, 2], stride: 2, pad: 0 },
  { x: [2, 2, 13, 13], pool: [3, 3], stride: 2, pad: 0 },  // overlapping windows (AlexNet's)
  { x: [1, 3, 7, 10], pool: [2, 3], stride: 1, pad: 0 },   // non-square window and input
  { x: [2, 2, 6, 5], pool: [3, 3], stride: 2, pad: 1 },    // padding
  { x: [3, 4, 9, 9], pool: [2, 2], stride: 3, pad: 0 },    // gaps between windows
];

describe('Pooling', () => {
  for (const mode of ['max', 'avg'] as const) {
    for (const { x: xs, pool: [PH, PW], stride, pad } of layerCases) {
      const [N, C, H, W] = xs;
      it(`${mode}: forward/backward match the book's im2col formulation, x [${xs.join(', ')}], pool ${PH}×${PW}, stride ${stride}, pad ${pad}`, () => {
        const g: Geometry = { N, C, H, W, FH: PH, FW: PW, stride, pad };
        const { OH, OW } = outSize(g);
        const size = N * C * H * W;
        for (const values of [randomArray(size, 1), tiedInputs(size, 2)]) {
          const x = rt.tensor(xs, values);
          const layer = new Pooling(PH, PW, stride, pad, { mode });
          const y = layer.forward(x);
          expect(y.shape).toEqual([N, C, OH, OW]);
          const ref = poolForward(x.data, g, mode);
          // a max is exact; a mean is one f32 sum of PH·PW terms and a scaling
          expectClose(y.data, ref.out, { rtol: mode === 'max' ? 0 : 1e-6, atol: mode === 'max' ? 0 : 1e-7 }, 'out');
          const dout = rt.tensor(y.shape, randomArray(y.size, 3));
          const dx = layer.backward(dout);
          expect(dx.shape).toEqual(xs);
          // each input sums at most ceil(P/stride)² window terms
          expectClose(dx.data, poolBackward(x.data, dout.data, g, mode), { rtol: 1e-6, atol: 1e-7 }, 'dx');
          x.dispose(); dout.dispose();
          layer.dispose();
        }
      });
    }

    it(`${mode}: passes a numerical gradient check`, () => {
      // distinct values 0.1 apart and none within h of the padding zeros, so no arg-max changes under ±h
      const values = Float32Array.from({ length: 2 * 2 * 6 * 6 }, (_, i) => ((i * 37) % 144) / 10 - 7.05);
      const x = rt.tensor([2, 2, 6, 6], values);
      const layer = new Pooling(3, 3, 2, 1, { mode });
      const { analytic, numeric } = layerGradients(layer, x, 1e-2);
      expect(gradError(analytic.x, numeric.x)).toBeLessThan(1e-3);
      layer.dispose();
    });
  }

  it('routes a tie to the first arg-max, and a padded maximum nowhere (as the book)', () => {
    // window 2×2 stride 2 pad 1 on 2×2: each window holds one input and three padding zeros
    const x = rt.tensor([1, 1, 2, 2], [-1, 5, 0, -3]);
    const layer = new Pooling(2, 2, 2, 1);
    const y = layer.forward(x);
    expect([...y.data]).toEqual([0, 5, 0, 0]); // padding 0 beats -1 and -3; the 0 input ties with padding met first
    const dx = layer.backward(rt.tensor([1, 1, 2, 2], [1, 2, 3, 4]));
    expect([...dx.data]).toEqual([0, 2, 0, 0]);
    const tie = new Pooling(2, 2, 2, 0);
    tie.forward(rt.tensor([1, 1, 2, 2], [1, 7, 7, 7]));
    expect([...tie.backward(rt.tensor([1, 1, 1, 1], [1])).data]).toEqual([0, 1, 0, 0]);
    layer.dispose(); tie.dispose();
  });

  it("backwardThrough(dout, activation) has the bits of the activation's backward after backward(), max and avg, and names what it refuses before writing", async () => {
    const x = rt.tensor([2, 3, 8, 7], randomArray(2 * 3 * 56, 20, -1, 1));
    const dout = rt.tensor([2, 3, 4, 3], randomArray(2 * 3 * 12, 21));
    const activations = [new Relu(), new Sigmoid(), new Tanh()];
    for (const mode of ['max', 'avg'] as const) {
      const pool = new Pooling(2, 2, 2, 0, { mode });
      for (const before of activations) {
        pool.forward(before.forward(x));
        const want = before.backward(pool.backward(dout)).toArray();
        expectBits(pool.backwardThrough(dout, before).toArray(), want, `${mode} after ${before.name}`);
      }
      pool.dispose();
    }
    const pool = new Pooling(2, 2, 2);
    pool.forward(activations[0].forward(x));
    const dx = pool.backward(dout);
    dx.data.fill(7);
    const refuse = (before: unknown, pattern: RegExp) => {
      expect(() => pool.backwardThrough(dout, before as Relu)).toThrow(pattern);
      expect(dx.data.every((v) => v === 7), 'nothing written by a refused call').toBe(true);
    };
    refuse(new Relu(), /Pooling.backwardThrough: call Relu.forward first/);
    refuse(pool, /Pooling.backwardThrough: before must be a Relu, Sigmoid or Tanh layer/);
    const small = new Relu();
    small.forward(rt.tensor([2, 3, 8, 6]));
    refuse(small, /Pooling.backwardThrough: Relu kept \[2, 3, 8, 6\], this layer's input was \[2, 3, 8, 7\]/);
    const other = await makeRuntime({ seed: 4 });
    const foreign = new Relu();
    foreign.forward(other.tensor([2, 3, 8, 7]));
    refuse(foreign, /Pooling.backwardThrough: the tensor Relu kept: tensor \[2, 3, 8, 7\] belongs to another runtime/);
    const mine = new Relu();
    mine.forward(dx);
    refuse(mine, /Pooling.backwardThrough: the tensor the activation before kept overlaps this layer's dx/);
    expect(() => pool.backwardThrough(rt.tensor([2, 3, 4, 4]), activations[0])).toThrow(/Pooling.backwardThrough: dout must be \[2, 3, 4, 3\]/);
    for (const l of [pool, small, foreign, mine, ...activations]) l.dispose();
    x.dispose();
    dout.dispose();
  });

  it('has no params, takes a mode, and rejects bad settings and shapes naming the layer', () => {
    const layer = new Pooling(2, 2, 2);
    expect(layer.params).toEqual({});
    expect(layer.mode).toBe('max');
    expect(new Pooling(2, 2, 2, 0, { mode: 'avg' }).mode).toBe('avg');
    expect(() => new Pooling(2, 2, 2, 0, { mode: 'min' as 'max' })).toThrow(/mode must be 'max' or 'avg', got 'min'/);
    expect(() => new Pooling(2, 2, 2, 0, { kind: 'max' } as object)).toThrow(/unknown option 'kind'/);
    expect(() => new Pooling(0, 2)).toThrow(/poolH must be a positive integer, got 0/);
    // the kernels' 32-bit area: a 46341×46341 mean came out negative, 65536×65536 Infinity
    expect(() => new Pooling(46341, 46341, 46341, 46340, { mode: 'avg' })).toThrow(/^Pooling: the window poolH × poolW = 46341 × 46341 holds 2147488281 values, more than 16777216$/);
    expect(new Pooling(4096, 4096).poolH).toBe(4096);
    expect(() => new Pooling(2, 2, 1.5)).toThrow(/stride must be a positive integer, got 1.5/);
    expect(() => layer.forward(rt.tensor([2, 8]))).toThrow(/Pooling.forward: x must be \[N, C, H, W\], got \[2, 8\]/);
    expect(() => new Pooling(3, 3).forward(rt.tensor([1, 1, 2, 4]))).toThrow(/a 3×3 window with pad 0 does not fit a 2×4 input/);
    layer.forward(rt.tensor([2, 3, 4, 4]));
    expect(() => layer.backward(rt.tensor([2, 3, 4, 4]))).toThrow(/Pooling.backward: dout must be \[2, 3, 2, 2\], got \[2, 3, 4, 4\]/);
    layer.dispose();
  });
});

describe('GlobalAveragePooling', () => {
  it('averages each plane, spreads the gradient evenly, and passes a numerical gradient check', () => {
    const x = rt.tensor([2, 3, 5, 7], randomArray(210, 4));
    const layer = new GlobalAveragePooling();
    const y = layer.forward(x);
    expect(y.shape).toEqual([2, 3]);
    const mean = Array.from({ length: 6 }, (_, p) => x.data.slice(p * 35, p * 35 + 35).reduce((a, b) => a + b, 0) / 35);
    expectClose(y.data, mean, { rtol: 1e-6, atol: 1e-7 });
    const dx = layer.backward(rt.tensor([2, 3], [1, 2, 3, 4, 5, 6]));
    expect(dx.shape).toEqual([2, 3, 5, 7]);
    expectClose(dx.data, Array.from({ length: 210 }, (_, i) => (Math.floor(i / 35) + 1) / 35), { rtol: 1e-7 });
    const { analytic, numeric } = layerGradients(layer, x, 1e-2);
    expect(gradError(analytic.x, numeric.x)).toBeLessThan(1e-3);
    expect(() => layer.backward(rt.tensor([3, 3]))).toThrow(/GlobalAveragePooling.backward: dout must be \[2, 3\], got \[3, 3\]/);
    expect(() => layer.forward(rt.tensor([2, 3]))).toThrow(/GlobalAveragePooling.forward: x must be \[N, C, H, W\]/);
    layer.dispose();
  });
});

describe('Flatten', () => {
  it('views [N, …] as [N, D] without copying and reshapes the gradient back', () => {
    const x = rt.tensor([2, 3, 2, 2], randomArray(24, 5));
    const layer = new Flatten();
    const y = layer.forward(x);
    expect(y.shape).toEqual([2, 12]);
    expect(y.ptr).toBe(x.ptr);
    expect(layer.forward(x)).toBe(y); // the same view while the same buffer comes back
    const dout = rt.tensor([2, 12], randomArray(24, 6));
    const dx = layer.backward(dout);
    expect(dx.shape).toEqual([2, 3, 2, 2]);
    expectBits(dx.data, dout.data);
    expect(() => layer.backward(rt.tensor([2, 11]))).toThrow(/Flatten.backward: dout must be \[2, 12\], got \[2, 11\]/);
    expect(() => new Flatten().backward(dout)).toThrow(/call forward first/);
    layer.dispose();
  });
});
