// The known-answer check createRuntime runs before it hands out a runtime: it passes on every
// build on every host this suite runs on, frees what it takes, touches nothing else, and its
// convolution shapes reach the paths it claims. (test/known-answers.node.test.ts breaks the
// builds' SIMD on purpose and sees each fault found.)
import { describe, it, expect } from 'vitest';
import {
  CONV_SHAPES, GEMM_CASES, GEMM_M, GEMM_N, KNOWN_SUMS, POOL, convInputs, convName, gemmInputs, gemmKernel, gemmOutput,
  KNOWN_ANSWER_FAMILIES, POOL_INPUT, knownAnswerFault, knownInts, knownSums, type ConvShape, type GemmCase,
} from '../src/runtime/known-answers.js';
import { affine, relu } from './reference/book.js';
import { convBackward, convForward, outSize, poolForward, type Geometry } from './reference/im2col.js';
import { MultiLayerNet, Trainer } from '../src/index.js';
import type { Kernels } from '../build/kernels.js';
import { makeRelaxedRuntime, makeRuntime, makeTestRuntime, randomArray } from './helpers/runtime.js';
import { Canaries } from './helpers/canaries.js';

/** a (rows × cols, row-major) transposed. */
const transpose = (a: ArrayLike<number>, rows: number, cols: number): Float64Array =>
  Float64Array.from({ length: rows * cols }, (_, i) => a[(i % rows) * cols + Math.floor(i / rows)]);

/** A GEMM case from the book's affine: op(A)·op(B) (+ C0), then + bias and ReLU for gemmBiasAct. */
function gemmReference(c: GemmCase, i: number): Float64Array {
  const inputs = gemmInputs(c, i);
  const A = knownInts(inputs.A), B = knownInts(inputs.B), C0 = inputs.C0 && knownInts(inputs.C0), bias = inputs.bias && knownInts(inputs.bias);
  const M = GEMM_M, N = GEMM_N;
  const opA = c.transA ? transpose(A, c.K, M) : A, opB = c.transB ? transpose(B, N, c.K) : B;
  const C = affine(opA, opB, bias ?? new Float64Array(N), M, c.K, N);
  return C.map((v, j) => (c.biasRelu ? Math.max(0, v) : v + (C0 ? C0[j] : 0)));
}

/** A convolution case from the book's im2col references: the forward with bias and ReLU, the backward with none. */
function convolution(s: ConvShape, i: number): { y: Float64Array; dW: Float64Array; db: Float64Array; dx: Float64Array } {
  const g: Geometry = { N: s.n, C: s.C, H: s.H, W: s.H, FH: 3, FW: 3, stride: s.stride, pad: s.pad };
  const inputs = convInputs(s, i);
  const x = knownInts(inputs.x), w = knownInts(inputs.w), bias = knownInts(inputs.bias), dout = knownInts(inputs.dout);
  return { y: relu(convForward(x, w, bias, s.FN, g)), ...convBackward(x, w, dout, s.FN, g) };
}

/** 2×2 max pooling, stride 2, from the book's; arg is the index in the plane of the window's arg-max. */
function maxPool(): { y: Float64Array; arg: Float64Array } {
  const { planes, H } = POOL;
  const g: Geometry = { N: 1, C: planes, H, W: H, FH: 2, FW: 2, stride: 2, pad: 0 };
  const { OW } = outSize(g);
  const { out, argMax } = poolForward(knownInts(POOL_INPUT), g, 'max');
  const arg = Float64Array.from(argMax, (j, r) => {
    const o = r % (OW * OW);
    return (2 * Math.floor(o / OW) + (j >> 1)) * H + 2 * (o % OW) + (j & 1);
  });
  return { y: out, arg };
}

describe('known answers', () => {
  it('kernel knownInts writes its reference\'s values bit for bit, in every build, and nothing around them', async () => {
    for (const rt of [await makeRuntime(), await makeRelaxedRuntime()]) {
      for (const n of [0, 1, 7, 143, 3300]) {
        for (const seed of [0, 11, 41, 2 ** 31, 2 ** 32 - 1]) {
          const canaries = new Canaries(rt, n + seed);
          canaries.place();
          const out = rt.tensor([n + 1], new Float32Array(n + 1).fill(NaN));
          canaries.place();
          rt.unsafeKernels.knownInts(out.ptr, n, seed);
          const want = knownInts({ n, seed });
          expect(new Uint32Array(out.data.buffer, out.data.byteOffset, n), `n ${n}, seed ${seed}`).toEqual(new Uint32Array(want.buffer));
          expect(out.data[n], `n ${n}, seed ${seed}: the float after`).toBeNaN();
          expect(canaries.changed()).toBe(0);
          if (n > 7) expect(new Set(want).size, 'all of -3..3').toBe(7);
          out.dispose();
          canaries.dispose();
        }
      }
      await rt.dispose();
    }
  });

  it('KNOWN_SUMS are the sums of float64 references on the check\'s inputs, every entry', () => {
    const sums: Record<string, [number, number]> = {};
    GEMM_CASES.forEach((c, i) => { sums[`${gemmKernel(c)}: ${gemmOutput(c)}`] = knownSums(gemmReference(c, i)); });
    CONV_SHAPES.forEach((s, i) => {
      const { y, dW, db, dx } = convolution(s, i);
      const name = convName(s);
      sums[`convForward: y of ${name} (bias, ReLU)`] = knownSums(y);
      sums[`convBackward: dW of ${name}`] = knownSums(dW);
      sums[`convBackward: db of ${name}`] = knownSums(db);
      sums[`convBackward: dx of ${name}`] = knownSums(dx);
    });
    const { y, arg } = maxPool();
    sums['maxPoolForward: y'] = knownSums(y);
    sums['maxPoolForward: arg'] = knownSums(arg);
    expect(KNOWN_SUMS).toEqual(sums);
    // the sums are exact in float64 (and the outputs' integers in float32)
    for (const [s, w] of Object.values(sums)) expect(Math.abs(w) < 2 ** 53 && Number.isInteger(s) && Number.isInteger(w)).toBe(true);
  });

  it('every build gives them on this host: plain, relaxed, shared (2 threads) and the test build', async () => {
    const runtimes = {
      plain: await makeRuntime(),
      relaxed: await makeRelaxedRuntime(),
      shared: await makeRuntime({ threads: 2 }),
      test: await makeTestRuntime(),
    };
    expect(runtimes.relaxed.features.relaxed).toBe(true);
    expect(runtimes.shared.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    for (const [build, rt] of Object.entries(runtimes)) {
      for (const family of KNOWN_ANSWER_FAMILIES) expect(knownAnswerFault(rt, family), `${build}: ${family}`).toBeNull();
      expect(rt.features.notes.filter((n) => /wrong answer/.test(n)), build).toEqual([]);
      await rt.dispose();
    }
  });

  it('frees what it allocates and leaves the tensors around its blocks bit for bit as they were', async () => {
    const rt = await makeRuntime();
    const canaries = new Canaries(rt, 7);
    canaries.place();
    const kept = rt.tensor([257], randomArray(257, 3));
    const before = Float32Array.from(kept.data);
    canaries.place();
    const stats = rt.memoryStats();
    for (const family of KNOWN_ANSWER_FAMILIES) expect(knownAnswerFault(rt, family)).toBeNull();
    const after = rt.memoryStats();
    expect(after.used).toBe(stats.used);
    expect(after.blocks).toBe(stats.blocks);
    expect(canaries.changed()).toBe(0);
    expect(kept.data).toEqual(before);
    // again: its blocks are reused, nothing grows
    for (const family of KNOWN_ANSWER_FAMILIES) expect(knownAnswerFault(rt, family)).toBeNull();
    expect(rt.memoryStats()).toEqual(after);
    expect(canaries.changed()).toBe(0);
  });

  it('the convolutions\' check uses the runtime\'s part scratch where it is large enough (mid-training), else its own', async () => {
    const rt = await makeRuntime();
    const own = rt.memoryStats();
    expect(knownAnswerFault(rt, 'convBackward')).toBeNull();
    expect(rt.memoryStats().top - own.top).toBeGreaterThan(rt.unsafeKernels.gemmWorkspaceBytes()); // took its own, and freed it
    rt.partScratch(1, 4 << 20); // as a convolution layer's would be
    const grown = rt.memoryStats();
    expect(knownAnswerFault(rt, 'convBackward')).toBeNull();
    expect(knownAnswerFault(rt, 'convForward')).toBeNull();
    expect(rt.memoryStats()).toEqual(grown);
  });

  it('a Trainer checks again after its first epoch, in the optimized code: a kernel wrong since then stops it', async () => {
    const rt = await makeRuntime();
    const k = rt.unsafeKernels;
    let checks = 0;
    let wrong = false;
    // the kernels as the runtime sees them: reluForward counts the checks (their ReLU has 19 elements),
    // gemm goes wrong on demand, as a host's optimized code might
    (rt as { unsafeKernels: Kernels }).unsafeKernels = {
      ...k,
      reluForward: (y: number, x: number, n: number) => { if (n === 19) checks++; k.reluForward(y, x, n); },
      gemm: (...args: Parameters<Kernels['gemm']>) => {
        k.gemm(...args);
        if (wrong) new Float32Array(rt.memory.buffer, args[9], 1)[0] += 1;
      },
    };
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [8], outputSize: 2 });
    const x = rt.tensor([40, 4], randomArray(160, 5)), t = rt.labels([40], Array.from({ length: 40 }, (_, i) => i % 2));
    const result = await new Trainer(net, x, t, x, t, { epochs: 3, miniBatchSize: 10 }).fit();
    expect(result.epochs.length).toBe(3);
    expect(checks).toBe(1); // once a run, after its first epoch
    wrong = true;
    await expect(new Trainer(net, x, t, x, t, { epochs: 3, miniBatchSize: 10 }).fit())
      .rejects.toThrow(/^Trainer: epoch 1: this host's WebAssembly SIMD gives wrong answers in code it optimized while training: gemm computed C \(transA 0, transB 0, K 300\) wrong/);
    expect(() => new Trainer(net, x, t, x, t, { epochs: 1, miniBatchSize: 10 }).train()).toThrow(/^Trainer: epoch 1: .* gemm computed/);
  });

  it('its convolution shapes take the direct forward (several channels and one) and the im2col one, and dx direct, by one channel and im2col (which dx by positions is checked on)', async () => {
    const k = (await makeRuntime()).unsafeKernels;
    // read from CONV_SHAPES itself, so the test follows the shapes if they change
    expect(CONV_SHAPES.map((s) => k.convForwardIsDirect(s.C, s.H, s.H, s.FN, 3, 3, s.stride, s.pad))).toEqual([1, 1, 1, 0]);
    expect(CONV_SHAPES.map((s) => s.C)).toEqual([4, 4, 1, 2]);
    expect(CONV_SHAPES.map((s) => k.convBackwardPaths(s.C, s.H, s.H, s.FN, 3, 3, s.stride, s.pad) & 6)).toEqual([2, 2, 4, 0]);
  });
});
