// createRuntime({ threads }): GEMM split across workers on one shared memory
// gives the same bits as one thread; memory growth with shared memory; a
// training run is bit-identical for 1 and 2 threads; the fallbacks say why.
// Runs in Node (worker_threads) and in Chromium (Web Workers; the page is
// cross-origin isolated by vitest.config.ts, so SharedArrayBuffer exists).
import { describe, it, expect, beforeAll, afterAll, afterEach, vi } from 'vitest';
import { createRuntime as createCore, type Runtime, type RuntimeOptions, type ThreadHost } from '../src/runtime/runtime.js';
import { webThreadHost } from '../src/runtime/threads.js';
import { CLAIMED_B_FLOATS, GEMM_MIN_CHUNK_WORK, GEMM_MIN_PART_WORK, MAX_CLAIM_GROUPS, gemmParts, gemmRowClaims, packedBFloats } from '../src/runtime/gemm-split.js';
import { Adam, Convolution, DeepConvNet, Momentum, MultiLayerNet, optimizerNames, Pooling, Relu, SGD, Sequential, Sigmoid, Tensor, Trainer, createOptimizer, type Layer, type OptimizerName } from '../src/index.js';
import { CONV_IMAGE_GROUPS } from '../src/layers/convolution.js';
import { CHAIN_MIN_PART_WORK, CHAIN_MIN_ROWS, splitRows, type RowChain } from '../src/nets/row-chain.js';
import { BLOCK_STEPS, FIRST_INTERVAL, PROBE_BLOCKS, SplitChoice, WARMUP_STEPS } from '../src/train/split-choice.js';
import { expectBits, expectClose, host, makeRuntime, randomArray, wasmModule } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';
import { convBackward as convBackward64, outSize } from './reference/im2col.js';

/** This host's worker starter (Node: worker_threads, browser: Web Workers). */
async function hostThreads(): Promise<ThreadHost> {
  if (host === 'node') return (await import('../src/node/runtime.js')).nodeThreadHost;
  return webThreadHost()!;
}

type Trans = 0 | 1;
interface Case { transA: Trans; transB: Trans; M: number; N: number; K: number; pad: number; beta: number }

// Odd sizes, both split axes (rows when M >= N, columns otherwise), leading
// dimensions wider than the matrices (pad), and beta != 0; each is big enough
// (M·N·K >= 3 parts' worth of work) to be split three ways.
const cases: Case[] = [];
for (const [transA, transB] of [[0, 0], [0, 1], [1, 0]] as const) {
  cases.push(
    { transA, transB, M: 203, N: 161, K: 131, pad: 0, beta: 0 },
    { transA, transB, M: 37, N: 301, K: 293, pad: 3, beta: 0 },
    { transA, transB, M: 1001, N: 7, K: 523, pad: 5, beta: 0.5 },
    { transA, transB, M: 5, N: 1003, K: 701, pad: 0, beta: 1 },
  );
}
// A row split whose packed op(B) (1930 × 136 floats) is too big for claimed
// row chunks: it splits into one equal part per thread.
cases.push({ transA: 0, transB: 1, M: 131, N: 130, K: 1930, pad: 1, beta: 0 });
const small: Case = { transA: 0, transB: 1, M: 13, N: 11, K: 9, pad: 1, beta: 0 };

/** Runs one case on `rt` with inputs seeded by the case's index; returns C (with its padding columns). */
function runCase(rt: Runtime, c: Case, seed: number): Float32Array {
  const { transA, transB, M, N, K, pad, beta } = c;
  const [ar, ac] = transA ? [K, M] : [M, K];
  const [br, bc] = transB ? [N, K] : [K, N];
  const lda = ac + pad, ldb = bc + pad, ldc = N + pad;
  const A = rt.tensor([ar, lda], randomArray(ar * lda, seed));
  const B = rt.tensor([br, ldb], randomArray(br * ldb, seed + 1));
  const C = rt.tensor([M, ldc], randomArray(M * ldc, seed + 2));
  rt.unsafeGemm(transA, transB, M, N, K, A.ptr, lda, B.ptr, ldb, C.ptr, ldc, beta);
  const out = C.toArray();
  for (const t of [A, B, C]) t.dispose();
  return out;
}

/** Float64 op(A)·op(B) + beta·C from the same seeded inputs. */
function reference(c: Case, seed: number): Float64Array {
  const { transA, transB, M, N, K, pad, beta } = c;
  const lda = (transA ? M : K) + pad, ldb = (transB ? K : N) + pad, ldc = N + pad;
  const A = randomArray((transA ? K : M) * lda, seed);
  const B = randomArray((transB ? N : K) * ldb, seed + 1);
  const C = Float64Array.from(randomArray(M * ldc, seed + 2));
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A[transA ? k * lda + i : i * lda + k] * B[transB ? j * ldb + k : k * ldb + j];
      C[i * ldc + j] = s + (beta === 0 ? 0 : beta * C[i * ldc + j]);
    }
  }
  return C;
}

/**
 * The calling thread takes every part no worker has claimed yet, so which
 * thread ran what varies with scheduling. Repeats cases[0] (beta = 0, inputs
 * in place, calls back to back so a woken worker stays awake) until workers
 * have run parts, checking the bits every time.
 */
function expectWorkersTakePart(rt: Runtime): void {
  const { transA, transB, M, N, K } = cases[0];
  const A = rt.tensor([M, K], randomArray(M * K, 0));
  const B = rt.tensor([K, N], randomArray(K * N, 1));
  const C = rt.tensor([M, N]);
  for (let call = 0; call < 500 && rt.threadStats().workerChunks === 0; call++) {
    rt.unsafeGemm(transA, transB, M, N, K, A.ptr, K, B.ptr, N, C.ptr, N);
    expectBits(C.data, one[0], `call ${call}`);
  }
  expect(rt.threadStats().workerChunks, 'parts run by workers').toBeGreaterThan(0);
  for (const t of [A, B, C]) t.dispose();
}

const runtimes: Runtime[] = [];
// These tests check how calls split: they split even if the machine's cores
// are busy (RuntimeOptions.busyCores; test/threads.node.test.ts tests 'yield').
async function threaded(options: RuntimeOptions): Promise<Runtime> {
  const rt = await makeRuntime({ busyCores: 'split', ...options });
  runtimes.push(rt);
  return rt;
}
afterAll(() => { for (const rt of runtimes) rt.dispose(); });

// Every case on one thread: the bits the threaded runs must reproduce.
const one: Float32Array[] = [];
beforeAll(async () => {
  const rt = await threaded({ threads: 1 });
  cases.forEach((c, i) => one.push(runCase(rt, c, 10 * i)));
});

describe('threads: GEMM split across workers', () => {
  it('one thread matches a float64 reference (so the bit comparisons below compare right answers)', () => {
    cases.forEach((c, i) => {
      // K up to 701 products of values in [-1, 1): f32 accumulation error well under 1e-3
      expectClose(one[i], reference(c, 10 * i), { rtol: 1e-4, atol: 1e-3 }, `case ${i} ${JSON.stringify(c)}`);
    });
  });

  for (const threads of [2, 3]) {
    it(`${threads} threads: the same bits as one thread, every transpose case and split axis`, async () => {
      // maxThreads: more threads than a 2-core host has, on purpose
      const rt = await threaded({ threads, maxThreads: threads });
      expect(rt.features.threads).toBe(threads);
      expect(rt.features.notes).toEqual([]);
      expect(rt.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
      cases.forEach((c, i) => {
        const before = rt.threadStats();
        expectBits(runCase(rt, c, 10 * i), one[i], `case ${i} ${JSON.stringify(c)}`);
        const after = rt.threadStats();
        expect(after.jobs - before.jobs, `case ${i} was split`).toBe(1);
        expect(after.chunks - before.chunks, `case ${i} parts`).toBe(threads);
      });
      expectWorkersTakePart(rt);
    });
  }

  it('row splits go out in claimed chunks when op(B) fits one workspace, else in equal parts; the claim words cover every row', () => {
    // tiles of 5 rows (the plain build) and 6 (the relaxed one)
    for (const [M, N, K] of [[100, 100, 100], [100, 100, 784], [784, 100, 100], [203, 161, 131], [1001, 7, 523], [13, 12, 2000], [60, 10, 4000], [600_000, 8, 3]]) {
      for (const threads of [2, 3, 8]) for (const tileRows of [5, 6]) {
        const parts = gemmParts(M, N, K, threads, tileRows);
        const c = gemmRowClaims(M, N, K, parts, tileRows);
        const what = `${M}×${N}×${K} on ${threads} threads, tiles of ${tileRows} rows`;
        expect(c, what).not.toBeNull();
        expect(c!.groupRows % tileRows, `${what}: groups of whole tile rows`).toBe(0);
        expect(c!.groups, `${what}: groups fit the claim word`).toBeLessThanOrEqual(MAX_CLAIM_GROUPS);
        expect((c!.groups - 1) * c!.groupRows < M && c!.groups * c!.groupRows >= M, `${what}: the groups cover M rows`).toBe(true);
        expect(c!.divisor, `${what}: a claim takes a share of what is left per part`).toBeGreaterThanOrEqual(parts);
        expect(c!.least * c!.groupRows * N * K, `${what}: work per claim`).toBeGreaterThanOrEqual(Math.min(GEMM_MIN_CHUNK_WORK, M * N * K));
        expect((c!.least - 1) * c!.groupRows * N * K, `${what}: no more than that`).toBeLessThan(GEMM_MIN_CHUNK_WORK);
      }
    }
    expect(gemmRowClaims(100, 101, 100, 2, 5), 'a column split').toBeNull();
    expect(packedBFloats(130, 1930)).toBeGreaterThan(CLAIMED_B_FLOATS);
    expect(gemmRowClaims(131, 130, 1930, 2, 5), 'op(B) too big').toBeNull();
    expect(packedBFloats(1024, 256)).toBe(CLAIMED_B_FLOATS);
    expect(gemmRowClaims(2048, 1024, 256, 2, 5), 'op(B) exactly one workspace').not.toBeNull();
  });

  let splitPair: Promise<Runtime[]> | null = null;
  /** `call` on a 1-thread and a 2-thread runtime (one pair for these tests), at each [M, N, K]: the same bits, and each 2-thread call one split job. */
  async function expectSplitLikeOne(shapes: ReadonlyArray<readonly [number, number, number]>, call: (r: Runtime, M: number, N: number, K: number) => Float32Array, what = ''): Promise<void> {
    const [solo, rt] = await (splitPair ??= Promise.all([threaded({ threads: 1 }), threaded({ threads: 2 })]));
    for (const [M, N, K] of shapes) {
      const before = rt.threadStats().jobs;
      expectBits(call(rt, M, N, K), call(solo, M, N, K), `${what}${M}×${N}×${K}`);
      expect(rt.threadStats().jobs, `${what}${M}×${N}×${K} split`).toBe(before + 1);
    }
  }

  it('gemmBiasAct splits too (the bias moves with a column split): the same bits as one thread', async () => {
    await expectSplitLikeOne([[301, 67, 97], [37, 401, 131]], (r, M, N, K) => {
      const A = r.tensor([M, K], randomArray(M * K, M)), B = r.tensor([K, N], randomArray(K * N, N));
      const b = r.tensor([N], randomArray(N, K)), C = r.tensor([M, N]);
      r.unsafeGemmBiasAct(0, 0, M, N, K, A.ptr, K, B.ptr, N, C.ptr, N, b.ptr, 'relu');
      const out = C.toArray();
      for (const t of [A, B, b, C]) t.dispose();
      return out;
    });
  });

  it('gemmActBackward splits too (rows claimed, or columns with saved moving like C): the same bits as one thread', async () => {
    for (const act of ['relu', 'sigmoid', 'tanh'] as const) {
      await expectSplitLikeOne([[301, 67, 97], [37, 401, 131]], (r, M, N, K) => {
        const dout = r.tensor([M, K], randomArray(M * K, M)), W = r.tensor([N, K], randomArray(K * N, N));
        const saved = r.tensor([M, N], randomArray(M * N, K)), C = r.tensor([M, N]);
        r.unsafeGemmActBackward(0, 1, M, N, K, dout.ptr, K, W.ptr, K, C.ptr, N, saved.ptr, act);
        const out = C.toArray();
        for (const t of [dout, W, saved, C]) t.dispose();
        return out;
      }, `${act} `);
    }
  });

  it('gemmPacked (weights packed once) splits: rows claimed over the one packed B, or columns from a panel boundary; the same bits as one thread', async () => {
    // rows claimed (M >= N), with op(B) past one workspace's B block, which only a packed B can claim over; columns (M < N)
    expect(packedBFloats(300, 1000)).toBeGreaterThan(CLAIMED_B_FLOATS);
    await expectSplitLikeOne([[301, 67, 97], [700, 300, 1000], [37, 401, 131], [8, 100, 784]], (r, M, N, K) => {
      const A = r.tensor([M, K], randomArray(M * K, M)), B = r.tensor([K, N], randomArray(K * N, N));
      const b = r.tensor([N], randomArray(N, K)), C = r.tensor([M, N]);
      const Bp = r.tensor([packedBFloats(N, K)]);
      r.unsafeKernels.packBPanels(0, N, K, B.ptr, N, Bp.ptr);
      r.unsafeGemmPacked(M, N, K, A.ptr, K, Bp.ptr, C.ptr, N, b.ptr, 'tanh');
      const out = C.toArray();
      for (const t of [A, B, b, C, Bp]) t.dispose();
      return out;
    });
  });

  /** A net built by `make` on 1 thread and, frozen, on 2, from the same seed: the same bits at each batch, with split calls. */
  async function expectFrozenOnTwo(seed: number, make: (r: Runtime) => Sequential, sample: number[], batches: number[]): Promise<void> {
    const solo = await threaded({ threads: 1, seed });
    const rt = await threaded({ threads: 2, seed });
    const net1 = make(solo), frozen2 = make(rt).freeze();
    const jobs = rt.threadStats().jobs;
    const size = sample.reduce((a, b) => a * b, 1);
    for (const batch of batches) {
      const x1 = solo.tensor([batch, ...sample], randomArray(batch * size, seed + batch, 0, 1)), x2 = rt.tensor([batch, ...sample], x1.data);
      const want = net1.predict(x1), got = frozen2.predict(x2);
      expectBits(got.toArray(), want.toArray(), `batch ${batch}`);
      for (const t of [x1, x2, want, got]) t.dispose();
    }
    expect(rt.threadStats().jobs - jobs, 'split calls').toBeGreaterThanOrEqual(2);
    frozen2.dispose();
    net1.dispose();
  }

  it('a frozen net on 2 threads predicts with the bits of the net on one', async () => {
    // batch 1 on one thread; batches 8 and 100 in one split call of both parts' rows through every layer (below)
    await expectFrozenOnTwo(12, (r) => new MultiLayerNet(r, { inputSize: 784, hiddenSizeList: [100, 100, 100], outputSize: 10 }), [784], [1, 8, 100]);
  });

  it('a frozen MLP on 2 threads runs each part\'s rows through every layer in one split call (runChain), with the bits of the net on one thread; fewer than 6 rows, or over 2^18 weights at fewer than 24, take the layer path', async () => {
    const solo = await threaded({ threads: 1 });
    const two = await threaded({ threads: 2 });
    const chains = vi.spyOn(two, 'runParts');
    const cases = [
      { hidden: [100, 100, 100], chained: [6, 7, 8, 13, 24, 100], layered: [1, 2, 5] },
      // 784·400 + 400·400 + 400·10 weights, past the 2^18 each part reads whole
      { hidden: [400, 400], chained: [24, 31], layered: [6, 12, 23] },
    ];
    for (const activation of ['relu', 'sigmoid', 'tanh'] as const) {
      for (const { hidden, chained, layered } of cases) {
        solo.seed = two.seed = 21;
        const net1 = new MultiLayerNet(solo, { inputSize: 784, hiddenSizeList: hidden, outputSize: 10, activation });
        const frozen = new MultiLayerNet(two, { inputSize: 784, hiddenSizeList: hidden, outputSize: 10, activation }).freeze();
        for (const batch of [...chained, ...layered]) {
          const x1 = solo.tensor([batch, 784], randomArray(batch * 784, batch, 0, 1)), x2 = two.tensor([batch, 784], x1.data);
          chains.mockClear();
          const want = net1.predict(x1), got = frozen.predict(x2);
          const what = `${activation} [${hidden.join(', ')}] batch ${batch}`;
          expect(chains.mock.calls.filter(([name]) => name === 'runChain').length, `${what}: chain calls`).toBe(chained.includes(batch) ? 1 : 0);
          expectBits(got.toArray(), want.toArray(), what);
          for (const t of [x1, x2, want, got]) t.dispose();
        }
        frozen.dispose();
        net1.dispose();
      }
    }
  });

  it('a frozen DeepConvNet (filters packed once) on 2 threads predicts with the bits of the net on one', async () => {
    // batch 1 splits each convolution's packed filters by panels, batch 8 its images
    await expectFrozenOnTwo(13, (r) => new DeepConvNet(r), [1, 28, 28], [1, 8]);
  });

  it('relaxed SIMD (where the host runs it): 2 threads give the same bits as relaxed on one thread', async () => {
    const solo = await threaded({ relaxed: true });
    const rt = await threaded({ relaxed: true, threads: 2 });
    expect(rt.features.threads).toBe(2);
    expect(rt.features.relaxed).toBe(solo.features.relaxed);
    cases.forEach((c, i) => expectBits(runCase(rt, c, 10 * i), runCase(solo, c, 10 * i), `case ${i} ${JSON.stringify(c)}`));
  });

  it('runs calls below the split threshold on the calling thread', async () => {
    const rt = await threaded({ threads: 2 });
    expect(small.M * small.N * small.K).toBeLessThan(2 * GEMM_MIN_PART_WORK);
    const before = rt.threadStats();
    const solo = await threaded({ threads: 1 });
    expectBits(runCase(rt, small, 7), runCase(solo, small, 7), 'small case');
    expect(rt.threadStats()).toEqual(before);
  });

  it('keeps working on memory grown after the workers started (shared buffers grow, views stay valid)', async () => {
    const rt = await threaded({ threads: 2, memory: { initial: 64, maximum: 1024 } });
    const old = rt.tensor([1000], randomArray(1000, 3));
    const staleView = old.data;
    const bytesBefore = rt.memory.buffer.byteLength;
    const big = rt.tensor([bytesBefore / 4 + 1024]);
    expect(rt.memory.buffer.byteLength).toBeGreaterThan(bytesBefore);
    // a shared buffer is never detached: the old view still aliases the memory, at its old size
    expect(staleView.length).toBe(1000);
    expect(old.data).not.toBe(staleView);
    expect(old.data.buffer.byteLength).toBe(rt.memory.buffer.byteLength);
    staleView[0] = 42;
    expect(old.data[0]).toBe(42);
    big.data[big.size - 1] = 5;
    expect(big.data[big.size - 1]).toBe(5);
    // the workers compute on tensors above the old end of memory
    const before = rt.threadStats();
    const c = cases[0];
    expectBits(runCase(rt, c, 0), one[0], 'after growth');
    expect(rt.threadStats().jobs).toBe(before.jobs + 1);
    old.dispose();
    big.dispose();
  });
});

describe('threads: training', () => {
  it('a MultiLayerNet trained with SGD on 1 and 2 threads ends with bit-identical parameters', async () => {
    const train = async (threads: number) => {
      const rt = await threaded({ threads, seed: 11 });
      const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100], outputSize: 10 });
      const x = rt.tensor([100, 784], randomArray(100 * 784, 5, 0, 1));
      const t = Array.from({ length: 100 }, (_, i) => (i * 7) % 10);
      const sgd = new SGD({ lr: 0.1 });
      for (let step = 0; step < 5; step++) sgd.update(net.params, net.gradient(x, t));
      const params = Object.fromEntries(Object.entries(net.params).map(([k, p]) => [k, p.toArray()]));
      return { params, loss: net.lastLoss, stats: rt.threadStats() };
    };
    const a = await train(1);
    const b = await train(2);
    // 784×100 (and 100×784) products of a batch of 100 are split
    expect(b.stats.jobs).toBeGreaterThan(0);
    expect(Number.isFinite(a.loss)).toBe(true);
    expect(b.loss).toBe(a.loss);
    for (const key of Object.keys(a.params)) expectBits(b.params[key], a.params[key], key);
  });
});

/** Records each runParts call's kernel and each part's arguments, then runs it. */
function recordParts(rt: Runtime): Array<{ name: string; parts: unknown[][] }> {
  const calls: Array<{ name: string; parts: unknown[][] }> = [];
  const run = rt.runParts.bind(rt);
  vi.spyOn(rt, 'runParts').mockImplementation((name, parts, write, work) => {
    const args: unknown[][] = [];
    for (let p = 0; p < parts; p++) write(p, ((...a: unknown[]) => { args.push(a); }) as never);
    calls.push({ name, parts: args });
    run(name, parts, write, work);
  });
  return calls;
}

describe('threads: a MultiLayerNet step in two split calls (src/nets/row-chain.ts)', () => {
  // the net with its private row chain in view (Omit keeps the public members: the class itself & a public `chain` is never)
  type Net = Omit<MultiLayerNet, never> & { chain: RowChain };
  interface Run { grads: Record<string, Float32Array>; loss: number; jobs: number; chained: number; dlogits: Float32Array; kept: Float32Array[] }
  /** A gradient on a net of the given shape (same seed on every runtime), what the layers kept, and the split calls it made. */
  // 784-[100, 37, 100]-10: 95,200 multiply-adds a row in the forward and input gradients, so batches of 23 rows and up run the chain
  const INPUTS = 784;
  const step = (rt: Runtime, activation: 'relu' | 'sigmoid' | 'tanh', rows: number, share?: number, gradShare?: number): Run => {
    rt.seed = 21;
    const net = new MultiLayerNet(rt, { inputSize: INPUTS, hiddenSizeList: [100, 37, 100], outputSize: 10, activation }) as unknown as Net;
    if (share !== undefined) net.chain.share = share;
    if (gradShare !== undefined) net.chain.gradShare = gradShare;
    const x = rt.tensor([rows, INPUTS], randomArray(rows * INPUTS, rows, -2, 2));
    const t = Array.from({ length: rows }, (_, i) => (i * 7 + 3) % 10);
    const jobs = rt.threadStats().jobs;
    const spy = vi.spyOn(rt, 'runParts');
    const grads = Object.fromEntries(Object.entries(net.gradient(x, t)).map(([k, g]) => [k, g.toArray()]));
    const chained = spy.mock.calls.filter(([name]) => name === 'runChain').length;
    spy.mockRestore();
    const run = {
      grads, loss: net.lastLoss, jobs: rt.threadStats().jobs - jobs, chained,
      // the softmax's state and what each activation kept, as the layer path leaves them
      dlogits: net.lastLayer.backward(1).toArray(),
      kept: net.layers.filter((l): l is Relu => 'savedForBackward' in l).map((l) => l.savedForBackward('test').toArray()),
    };
    net.dispose();
    x.dispose();
    return run;
  };
  const expectSame = (b: Run, a: Run, what: string) => {
    expect(b.loss, `${what}: loss`).toBe(a.loss);
    for (const k of Object.keys(a.grads)) expectBits(b.grads[k], a.grads[k], `${what}: ${k}`);
    expectBits(b.dlogits, a.dlogits, `${what}: the softmax's gradient`);
    a.kept.forEach((kept, i) => expectBits(b.kept[i], kept, `${what}: activation ${i} kept`));
  };

  it('runs a step in 2 split calls with the bits of 1 thread: ReLU, sigmoid, tanh; batches of 23 to 301 rows', async () => {
    const one = await threaded({ threads: 1 });
    const two = await threaded({ threads: 2 });
    expect((22 / 2) * 95_200).toBeLessThan(CHAIN_MIN_PART_WORK);
    expect((23 / 2) * 95_200).toBeGreaterThanOrEqual(CHAIN_MIN_PART_WORK);
    for (const activation of ['relu', 'sigmoid', 'tanh'] as const) {
      for (const rows of [23, 24, 47, 100, 301]) {
        const a = step(one, activation, rows), b = step(two, activation, rows);
        expect(b.jobs, `${activation} ${rows} rows: split calls`).toBe(2);
        expect(b.chained, `${activation} ${rows} rows: chain calls`).toBe(2);
        expectSame(b, a, `${activation}, ${rows} rows`);
      }
    }
    // each part's time, for the balance; none on one thread
    expect(two.lastPartMs(0)).toBeGreaterThan(0);
    expect(two.lastPartMs(1)).toBeGreaterThan(0);
    expect(one.lastPartMs(0)).toBeNull();
  });

  it('refuses an x that overlaps the first layer\'s dW on the chain\'s path too, before anything is written (the layer path refuses it as well)', async () => {
    const two = await threaded({ threads: 2 });
    two.seed = 21;
    const net = new MultiLayerNet(two, { inputSize: INPUTS, hiddenSizeList: [100, 37, 100], outputSize: 10 });
    const dW1 = net.grads.W1; // [784, 100]: 100 rows of 784 viewed as an x, a batch the chain takes
    dW1.data.set(randomArray(dW1.size, 3, -1, 1));
    const before = Object.fromEntries(Object.entries(net.grads).map(([k, g]) => [k, g.toArray()]));
    const params = net.exportParams();
    const spy = vi.spyOn(two, 'runParts');
    expect(() => net.gradient(dW1.reshape([100, INPUTS]), Array.from({ length: 100 }, (_, i) => i % 10))).toThrow(/^Affine\.backward: the forward input x overlaps dW$/);
    expect(spy.mock.calls.length, 'no split call ran').toBe(0);
    spy.mockRestore();
    for (const [k, g] of Object.entries(net.grads)) expectBits(g.toArray(), before[k], `grads.${k}`);
    for (const [k, p] of Object.entries(net.exportParams())) expectBits(p.data, params[k].data, k);
    net.dispose();
  });

  it('gives the same bits wherever the rows and the gradient block are split between the threads', async () => {
    const one = await threaded({ threads: 1 });
    const two = await threaded({ threads: 2 });
    // each runtime's random stream moves on with every net made, so each share has its own reference
    for (const rows of [25, 100]) {
      for (const [share, gradShare] of [[0.1, 0.9], [0.3, 0.3], [0.77, 0.1], [0.9, 0.5], [0.5, 0.9008]]) {
        expectSame(step(two, 'relu', rows, share, gradShare), step(one, 'relu', rows), `${rows} rows, share ${share}, gradShare ${gradShare}`);
      }
    }
  });

  it('cuts the gradient block once, at a tile row of a dW near gradShare, for the dW call, with the bits of 1 thread', async () => {
    const one = await threaded({ threads: 1 });
    const two = await threaded({ threads: 2 });
    const ROWS = 100;
    const train = (rt: Runtime, gradShare?: number) => {
      rt.seed = 21;
      const net = new MultiLayerNet(rt, { inputSize: INPUTS, hiddenSizeList: [100, 37, 100], outputSize: 10 }) as unknown as Net;
      const x = rt.tensor([ROWS, INPUTS], randomArray(ROWS * INPUTS, ROWS, -2, 2));
      const t = Array.from({ length: ROWS }, (_, i) => (i * 7 + 3) % 10);
      const sgd = new SGD({ lr: 0.1 });
      if (gradShare !== undefined) net.chain.gradShare = gradShare;
      const calls = recordParts(rt);
      sgd.update(net.params, net.gradient(x, t));
      vi.restoreAllMocks();
      const { gradPtr, size } = net.parameterSet!;
      // the floats of the block each part of the dW call wrote, read from its table (assembly/chain.ts:
      // 16 slots an entry; GEMM (op 1): rows in slot 3, columns in slot 4, C in slot 10;
      // BIAS_BACKWARD (op 3): db in slot 1, its floats in slot 4)
      const written: Array<Array<[number, number]>> = [];
      const chain = calls.filter((c) => c.name === 'runChain');
      if (chain.length === 2) {
        for (const [table, ops] of chain[1].parts as number[][]) {
          const d = new Int32Array(rt.memory.buffer, table, ops * 16);
          const ranges: Array<[number, number]> = [];
          for (let e = 0; e < d.length; e += 16) {
            expect([1, 3]).toContain(d[e]);
            const [at, floats] = d[e] === 1 ? [d[e + 10], d[e + 3] * d[e + 4]] : [d[e + 1], d[e + 4]];
            ranges.push([(at - gradPtr) / 4, (at - gradPtr) / 4 + floats]);
          }
          written.push(ranges);
        }
      }
      const out = { params: Object.values(net.params).map((p) => p.toArray()), written, size };
      net.dispose();
      x.dispose();
      return out;
    };
    // 784-[100, 37, 100]-10's block: W1 (78,400 floats), b1, W2 (3,700) from float 78,512, …; 0.9008 falls in b1's
    // padding; at 0 and 1 each part keeps a tile row
    for (const gradShare of [0, 0.1, 0.5, 0.9, 0.9008, 0.95, 1]) {
      // each runtime's random stream moves on with every net made, so each share has its own reference
      const a = train(one), b = train(two, gradShare);
      expect(a.written, 'one thread: no chain').toHaveLength(0);
      a.params.forEach((p, i) => expectBits(b.params[i], p, `gradShare ${gradShare}: params[${i}]`));
      const [part0, part1] = b.written;
      // each part at least a tile row of a dW, whatever the share
      expect(part0.length, `gradShare ${gradShare}: part 0's dW`).toBeGreaterThan(0);
      expect(part1.length, `gradShare ${gradShare}: part 1's dW`).toBeGreaterThan(0);
      const end0 = Math.max(0, ...part0.map(([, end]) => end)), start1 = Math.min(b.size, ...part1.map(([start]) => start));
      expect(start1, `gradShare ${gradShare}: part 1 writes after part 0`).toBeGreaterThanOrEqual(end0);
      const floats = [...part0, ...part1].reduce((sum, [start, end]) => sum + end - start, 0);
      expect(floats, `gradShare ${gradShare}: every dW and db once`).toBe(784 * 100 + 100 + 100 * 37 + 37 + 37 * 100 + 100 + 100 * 10 + 10);
      // the cut: on a tile row of a dW (or a dW's first row), near the share
      expect(Math.abs(start1 / b.size - gradShare), `gradShare ${gradShare}: the cut`).toBeLessThanOrEqual((two.gemmTileRows * 100) / b.size);
      if (gradShare === 0.9008) expect(start1, 'in b1\'s padding: part 1 starts at W2').toBe(78_512);
    }
  });

  it('moves the rows, and the gradient block\'s cut, towards the faster thread, within [0.1, 0.9]', async () => {
    const two = await threaded({ threads: 2 });
    rtSeed(two);
    const net = new MultiLayerNet(two, { inputSize: 61, hiddenSizeList: [100, 100], outputSize: 10 }) as unknown as Net;
    const x = two.tensor([100, 61], randomArray(100 * 61, 3));
    const t = Array.from({ length: 100 }, (_, i) => i % 10);
    // the calling thread's part ran 3 times as fast per row as the worker's, then the other way round
    const spy = vi.spyOn(two, 'lastPartMs');
    spy.mockImplementation((p) => (p === 0 ? 1 : 3) * (p === 0 ? splitRows(100, net.chain.share, two.gemmTileRows) : 100 - splitRows(100, net.chain.share, two.gemmTileRows)));
    for (let i = 0; i < 12; i++) net.gradient(x, t);
    expect(net.chain.share).toBeCloseTo(0.75, 2);
    spy.mockImplementation((p) => (p === 0 ? 10 : 1)); // the calling thread's part took 10 times the worker's
    for (let i = 0; i < 12; i++) net.gradient(x, t);
    expect(net.chain.share).toBeCloseTo(0.1, 5);
    // the gradient block's cut follows the dW call's own timings
    expect(net.chain.gradShare).toBeCloseTo(0.1, 5);
    spy.mockImplementation((p) => (p === 0 ? 1 : 10));
    for (let i = 0; i < 12; i++) net.gradient(x, t);
    expect(net.chain.gradShare).toBeCloseTo(0.9, 5);
    spy.mockImplementation((p) => (p === 0 ? 10 : 1));
    for (let i = 0; i < 12; i++) net.gradient(x, t);
    spy.mockImplementation(() => null); // ran on the calling thread alone: no change
    net.gradient(x, t);
    expect(net.chain.share).toBeCloseTo(0.1, 5);
    expect(net.chain.gradShare).toBeCloseTo(0.1, 5);
    spy.mockRestore();
    net.dispose();
    x.dispose();
  });

  it('splits rows on tile boundaries, each part at least one tile', () => {
    for (const tileRows of [5, 6]) {
      for (const n of [12, 13, 17, 100, 301, 5000]) {
        for (const share of [0, 0.1, 0.5, 0.77, 0.9, 1]) {
          const split = splitRows(n, share, tileRows);
          expect(split % tileRows).toBe(0);
          expect(split).toBeGreaterThanOrEqual(tileRows);
          expect(n - split).toBeGreaterThan(0);
          expect(Math.abs(split / n - share)).toBeLessThan(share === 0 || share === 1 ? 1 : tileRows / n + 0.01);
        }
      }
      expect(splitRows(tileRows, 0.5, tileRows)).toBe(0); // one tile: all to part 1 (dW of a layer with that many inputs)
    }
  });

  it('takes the layer path for batches too small for the chain to pay, with the same bits', async () => {
    const one = await threaded({ threads: 1 });
    const two = await threaded({ threads: 2 });
    for (const rows of [CHAIN_MIN_ROWS - 1, 22]) {
      const a = step(one, 'relu', rows), b = step(two, 'relu', rows);
      expect(b.chained, `${rows} rows: chain calls`).toBe(0);
      expectSame(b, a, `${rows} rows`);
    }
    // a wide enough net runs the chain on the fewest rows it takes
    const wide = (rt: Runtime) => {
      rt.seed = 8;
      const net = new MultiLayerNet(rt, { inputSize: 100_000, hiddenSizeList: [20], outputSize: 10 });
      const x = rt.tensor([CHAIN_MIN_ROWS, 100_000], randomArray(CHAIN_MIN_ROWS * 100_000, 6));
      const jobs = rt.threadStats().jobs;
      const g = Object.values(net.gradient(x, Array.from({ length: CHAIN_MIN_ROWS }, (_, i) => i % 10))).map((v) => v.toArray());
      const out = { g, loss: net.lastLoss, jobs: rt.threadStats().jobs - jobs };
      net.dispose(); x.dispose();
      return out;
    };
    const wa = wide(one), wb = wide(two);
    expect(wb.jobs).toBe(2);
    expect(wb.loss).toBe(wa.loss);
    wa.g.forEach((g, i) => expectBits(wb.g[i], g, `12 rows of 100,000 inputs: grad ${i}`));
  });

  it('runs one-hot, soft and label-smoothed targets through the chain too (its dense softmax op), with the bits of 1 thread', async () => {
    const one = await threaded({ threads: 1 });
    const two = await threaded({ threads: 2 });
    const ROWS = 100;
    // every row a distribution over 10 classes: one-hot, or soft (a teacher's: 3/4 and 1/4, sums exactly 1)
    const labels = Array.from({ length: ROWS }, (_, r) => (r * 3) % 10);
    const hot = new Array<number>(ROWS * 10).fill(0), soft = new Array<number>(ROWS * 10).fill(0);
    labels.forEach((c, r) => {
      hot[r * 10 + c] = 1;
      soft[r * 10 + c] += 0.75;
      soft[r * 10 + ((r * 7 + 1) % 10)] += 0.25;
    });
    const gradient = (rt: Runtime, targets: 'hot' | 'soft' | 'labels', labelSmoothing: number) => {
      rt.reseed(5);
      const net = new MultiLayerNet(rt, { inputSize: 61, hiddenSizeList: [100, 100], outputSize: 10, labelSmoothing });
      const x = rt.tensor([ROWS, 61], randomArray(ROWS * 61, 9));
      const t = targets === 'labels' ? labels : rt.tensor([ROWS, 10], targets === 'hot' ? hot : soft);
      const spy = vi.spyOn(rt, 'runParts');
      const g = Object.values(net.gradient(x, t)).map((v) => v.toArray());
      const chained = spy.mock.calls.filter(([name]) => name === 'runChain').length;
      spy.mockRestore();
      const out = { g, loss: net.lastLoss, chained, dlogits: net.lastLayer.backward(1).toArray() };
      net.dispose(); x.dispose();
      if (t instanceof Tensor) t.dispose();
      return out;
    };
    for (const [targets, labelSmoothing] of [['hot', 0], ['soft', 0], ['labels', 0.1], ['hot', 0.1], ['soft', 0.2]] as const) {
      const what = `${targets}, label smoothing ${labelSmoothing}`;
      const a = gradient(one, targets, labelSmoothing), b = gradient(two, targets, labelSmoothing);
      expect(b.chained, `${what}: chain calls`).toBe(2);
      expect(b.loss, `${what}: loss`).toBe(a.loss);
      a.g.forEach((g, i) => expectBits(b.g[i], g, `${what}: grad ${i}`));
      expectBits(b.dlogits, a.dlogits, `${what}: the softmax's gradient`);
    }
    // smoothed labels are smoothed one-hot rows: the same bits on the chain
    const fromLabels = gradient(two, 'labels', 0.1), fromHot = gradient(two, 'hot', 0.1);
    expect(fromLabels.loss).toBe(fromHot.loss);
    fromHot.g.forEach((g, i) => expectBits(fromLabels.g[i], g, `labels and one-hot rows, smoothed: grad ${i}`));
    // the net's own last softmax as its soft targets (self-distillation): the chain writes y apart from them, as the layer path does
    const distilled = (rt: Runtime) => {
      rt.reseed(6);
      const net = new MultiLayerNet(rt, { inputSize: 61, hiddenSizeList: [100, 100], outputSize: 10 });
      const x = rt.tensor([ROWS, 61], randomArray(ROWS * 61, 10));
      const x2 = rt.tensor([ROWS, 61], randomArray(ROWS * 61, 11));
      net.gradient(x2, labels);
      const spy = vi.spyOn(rt, 'runParts');
      const g = Object.values(net.gradient(x, net.lastLayer.y!)).map((v) => v.toArray());
      const chained = spy.mock.calls.filter(([name]) => name === 'runChain').length;
      spy.mockRestore();
      const out = { g, loss: net.lastLoss, chained };
      net.dispose(); x.dispose(); x2.dispose();
      return out;
    };
    const da = distilled(one), db = distilled(two);
    expect(db.chained, 'self-distillation: chain calls').toBe(2);
    expect(db.loss).toBe(da.loss);
    da.g.forEach((g, i) => expectBits(db.g[i], g, `self-distillation: grad ${i}`));
    expect(Math.max(...da.g[0].map(Math.abs)), 'a gradient that is not zero').toBeGreaterThan(0);
  });

  it('allocates nothing per step: memory and allocator state are stable across 200 chained steps', async () => {
    const two = await threaded({ threads: 2 });
    rtSeed(two);
    const net = new MultiLayerNet(two, { inputSize: 784, hiddenSizeList: [100, 100], outputSize: 10 });
    const x = two.tensor([100, 784], randomArray(78400, 3));
    const t = two.labels([100], Array.from({ length: 100 }, (_, i) => i % 10));
    const opt = new Adam();
    opt.update(net.params, net.gradient(x, t));
    const before = two.memoryStats();
    const spy = vi.spyOn(two, 'runParts');
    for (let i = 0; i < 200; i++) opt.update(net.params, net.gradient(x, t));
    expect(spy.mock.calls.filter(([name]) => name === 'runChain')).toHaveLength(400);
    spy.mockRestore();
    expect(two.memoryStats()).toEqual(before);
    net.dispose();
    x.dispose();
    t.dispose();
  });

  it('a lazy pool disposed before it started frees the memory taken for it, as a started pool does', async () => {
    const one = await threaded({ threads: 1 });
    const lazy = await threaded({ threads: undefined, ...(host === 'browser' ? { sharedWasm: await wasmModule('shared') } : {}) });
    expect(lazy.splitThreads, 'a lazy pool of 2 threads planned (2 cores)').toBe(2);
    expect(lazy.memoryStats().blocks).toBeGreaterThan(one.memoryStats().blocks);
    await lazy.dispose();
    expect(lazy.features.threads).toBe(1);
    const { used, blocks } = one.memoryStats();
    expect(lazy.memoryStats()).toMatchObject({ used, blocks });
  });

  it('a lazy pool starts in a training loop without an allocation: its memory was taken when the runtime was made', async () => {
    const lazy = await threaded({ threads: undefined, ...(host === 'browser' ? { sharedWasm: await wasmModule('shared') } : {}) });
    rtSeed(lazy);
    expect(lazy.splitThreads, 'a lazy pool of 2 threads planned (2 cores)').toBe(2);
    const net = new MultiLayerNet(lazy, { inputSize: 784, hiddenSizeList: [100, 100], outputSize: 10 });
    const x = lazy.tensor([100, 784], randomArray(78400, 3));
    const t = lazy.labels([100], Array.from({ length: 100 }, (_, i) => i % 10));
    const opt = new Adam();
    opt.update(net.params, net.gradient(x, t)); // the first step at this shape plans its buffers
    const before = lazy.memoryStats();
    const alloc = vi.spyOn(lazy, 'alloc');
    const parts = vi.spyOn(lazy, 'runParts');
    // synchronous steps, as a plain training loop: the layer path's GEMMs start the pool, then the chain runs
    for (let i = 0; i < 200 && parts.mock.calls.filter(([name]) => name === 'runChain').length < 20; i++) {
      opt.update(net.params, net.gradient(x, t));
    }
    expect(lazy.features.threads, 'the pool started').toBe(2);
    expect(parts.mock.calls.filter(([name]) => name === 'runChain').length, 'the chain ran on it').toBeGreaterThanOrEqual(20);
    expect(alloc).not.toHaveBeenCalled();
    expect(lazy.memoryStats()).toEqual(before);
    alloc.mockRestore();
    parts.mockRestore();
    net.dispose();
    x.dispose();
    t.dispose();
    opt.dispose();
  });

  it('takes the layer path while a lazy pool has not started, and the chain once it is up (on 2 cores)', async () => {
    const one = await threaded({ threads: 1 });
    const lazy = await threaded({ threads: undefined, ...(host === 'browser' ? { sharedWasm: await wasmModule('shared') } : {}) });
    const before = step(lazy, 'relu', 100);
    expect(before.chained).toBe(0);
    expectSame(before, step(one, 'relu', 100), 'before the pool');
    // the layer path's splits woke the pool (the first layer's GEMMs pass 2^27 multiply-adds in a few steps)
    for (let i = 0; i < 40 && lazy.features.threads === 1; i++) step(lazy, 'relu', 100), step(one, 'relu', 100);
    await lazy.ready;
    const up = step(lazy, 'relu', 100);
    expect(up.chained).toBe(lazy.features.threads === 2 ? 2 : 0);
    expectSame(up, step(one, 'relu', 100), 'on the pool');
  });

  it('refuses what the layer path refuses, before it writes a gradient: a bad label, a NaN loss, x of another width or disposed', async () => {
    const two = await threaded({ threads: 2 });
    rtSeed(two);
    const net = new MultiLayerNet(two, { inputSize: 61, hiddenSizeList: [100, 100], outputSize: 10 });
    const x = two.tensor([100, 61], randomArray(100 * 61, 4));
    const t = Array.from({ length: 100 }, (_, i) => i % 10);
    net.gradient(x, t);
    const before = Object.values(net.grads).map((g) => g.toArray());
    const unchanged = (what: string) => Object.values(net.grads).forEach((g, i) => expectBits(g.toArray(), before[i], `${what}: grad ${i}`));
    const bad = [...t];
    bad[3] = 10;
    expect(() => net.gradient(x, bad)).toThrow('SoftmaxWithLoss.forward: label t[3] = 10 is outside [0, 10)');
    unchanged('bad label');
    const w = net.params.W2.data[7];
    net.params.W2.data[7] = NaN;
    expect(() => net.gradient(x, t)).toThrow(/the loss is NaN/);
    unchanged('NaN loss');
    net.params.W2.data[7] = w;
    const wide = two.tensor([100, 62]);
    expect(() => net.gradient(wide, t)).toThrow(/^gradient: x has rows of 62 features \(\[100, 62\]\), the net takes 61/);
    unchanged('x of another width');
    wide.dispose();
    const gone = two.tensor([100, 61]);
    gone.dispose();
    expect(() => net.gradient(gone, t)).toThrow(TypeError);
    unchanged('disposed x');
    net.dispose();
    x.dispose();
  });
});

function rtSeed(rt: Runtime): void {
  rt.seed = 17;
}

describe('threads: convolution split by groups of images', () => {
  // DeepConvNet's six convolutions (pads 1 and 2, 1 to 64 channels) over a
  // batch of 13: groups of 1 and 2 images, more groups than threads.
  it.each([2, 3])('a DeepConvNet trained with Adam on 1 and %i threads ends with bit-identical parameters', async (threads) => {
    // Steps run until a worker has taken a part (workers may lose every claim to the calling
    // thread on a busy machine), at most 20; the 1-thread run then takes as many steps.
    const train = async (n: number, steps?: number) => {
      const rt = await threaded({ threads: n, maxThreads: n, seed: 5 });
      const net = new DeepConvNet(rt, { inputDim: [1, 16, 16], outputSize: 10 });
      const x = rt.tensor([13, 1, 16, 16], randomArray(13 * 256, 3, 0, 1));
      const t = Array.from({ length: 13 }, (_, i) => (i * 3) % 10);
      const adam = new Adam({ lr: 0.001 });
      let done = 0;
      while (steps === undefined ? done < 3 || (rt.threadStats().workerChunks === 0 && done < 20) : done < steps) {
        adam.update(net.params, net.gradient(x, t));
        done++;
      }
      const params = Object.fromEntries(Object.entries(net.params).map(([k, p]) => [k, p.toArray()]));
      const result = { params, loss: net.lastLoss, stats: rt.threadStats(), steps: done };
      net.dispose();
      x.dispose();
      return result;
    };
    const b = await train(threads);
    const a = await train(1, b.steps);
    expect(b.stats.workerChunks, 'parts run by workers').toBeGreaterThan(0);
    expect(Number.isFinite(a.loss)).toBe(true);
    expect(b.loss).toBe(a.loss);
    for (const key of Object.keys(a.params)) expectBits(b.params[key], a.params[key], key);
  });
});

describe('threads: a Convolution\'s backward split by groups of images', () => {
  // Batch 13 (8 groups of 1 or 2 images): the first layer (C = 1, dx by col2im),
  // a direct dx (C = 16) and stride 2 (im2col + GEMM).
  const shapes = [
    { C: 1, H: 28, FN: 16, stride: 1, pad: 1 },
    { C: 16, H: 14, FN: 32, stride: 1, pad: 1 },
    { C: 3, H: 31, FN: 8, stride: 2, pad: 1 },
  ];
  const N = 13;

  /**
   * dx, dW and db of one backward on `threads` threads (repeated until a worker has taken a part, at most 500
   * times: with 3 threads on 2 busy cores, 50 were once not enough in Chromium).
   */
  async function backward(threads: number, c: typeof shapes[number], seed: number) {
    const rt = await threaded({ threads, maxThreads: threads });
    await rt.ready;
    const { OH, OW } = outSize({ N, C: c.C, H: c.H, W: c.H, FH: 3, FW: 3, stride: c.stride, pad: c.pad });
    const canaries = new Canaries(rt, seed);
    const W = rt.tensor([c.FN, c.C, 3, 3], randomArray(c.FN * c.C * 9, seed, -0.5, 0.5));
    const b = rt.tensor([c.FN], randomArray(c.FN, seed + 1));
    const dW = between(canaries, () => rt.tensor(W.shape)), db = between(canaries, () => rt.tensor([c.FN]));
    const layer = new Convolution(W, b, c.stride, c.pad, { dW, db });
    const x = rt.tensor([N, c.C, c.H, c.H], randomArray(N * c.C * c.H * c.H, seed + 2));
    const dout = rt.tensor([N, c.FN, OH, OW], randomArray(N * c.FN * OH * OW, seed + 3));
    layer.forward(x, true);
    let dx = layer.backward(dout);
    for (let i = 1; threads > 1 && rt.threadStats().workerChunks === 0 && i < 500; i++) dx = layer.backward(dout);
    const out = { dx: dx.toArray(), dW: dW.toArray(), db: db.toArray(), workerChunks: rt.threadStats().workerChunks, changed: canaries.changed() };
    // db as the contract says: each group's convBiasBackward, the sums added in group order
    const groups = Math.min(N, CONV_IMAGE_GROUPS), P = OH * OW, part = rt.tensor([c.FN]);
    const model = new Float32Array(c.FN);
    for (let g = 0; g < groups; g++) {
      const i0 = Math.floor((N * g) / groups), i1 = Math.floor((N * (g + 1)) / groups);
      rt.unsafeKernels.convBiasBackward(part.ptr, dout.ptr + 4 * i0 * c.FN * P, i1 - i0, c.FN, P);
      for (let f = 0; f < c.FN; f++) model[f] = g === 0 ? part.data[f] : Math.fround(model[f] + part.data[f]);
    }
    const ref = convBackward64(x.toArray(), W.toArray(), dout.toArray(), c.FN, { N, C: c.C, H: c.H, W: c.H, FH: 3, FW: 3, stride: c.stride, pad: c.pad });
    layer.dispose();
    canaries.dispose();
    for (const t of [W, b, dW, db, x, dout, part]) t.dispose();
    return { ...out, model, ref, P };
  }

  it.each([2, 3])('dx, dW and db on %i threads have the bits of one; db is the groups\' sums in group order, within f32 error of float64', async (threads) => {
    let seed = 60;
    for (const c of shapes) {
      const what = `[${N}, ${c.C}, ${c.H}, ${c.H}] * ${c.FN} stride ${c.stride}`;
      const one = await backward(1, c, seed);
      const many = await backward(threads, c, seed);
      seed += 10;
      expect(many.workerChunks, `parts run by workers, ${what}`).toBeGreaterThan(0);
      expect(one.changed + many.changed, `canaries around dW and db, ${what}`).toBe(0);
      expectBits(many.dx, one.dx, `dx, ${what}`);
      expectBits(many.dW, one.dW, `dW, ${what}`);
      expectBits(many.db, one.db, `db, ${what}`);
      expectBits(one.db, one.model, `db as the groups' sums, ${what}`);
      // f32 sums of N·P values within 1: rounding grows like sqrt(terms)
      expectClose(one.db, one.ref.db, { rtol: 1e-5, atol: 2e-7 * Math.sqrt(N * one.P) }, `db vs float64, ${what}`);
    }
  });
});

describe('threads: a Convolution\'s forward of one image split by filters', () => {
  // FN = 33: the last part ends past a whole 4-filter block; sigmoid runs after the tiles, ReLU in them;
  // the first layer's one image is too little work to split
  const shapes = [
    { C: 16, H: 14, FN: 32, act: 'relu', split: true },
    { C: 3, H: 23, FN: 33, act: 'sigmoid', split: true },
    { C: 1, H: 28, FN: 16, act: 'none', split: false },
  ] as const;

  async function forward(threads: number, c: typeof shapes[number], seed: number) {
    const rt = await threaded({ threads, maxThreads: threads });
    await rt.ready;
    const canaries = new Canaries(rt, seed);
    const layer = new Convolution(rt.tensor([c.FN, c.C, 3, 3], randomArray(c.FN * c.C * 9, seed, -0.5, 0.5)), rt.tensor([c.FN], randomArray(c.FN, seed + 1)), 1, 1);
    const x = between(canaries, () => rt.tensor([1, c.C, c.H, c.H], randomArray(c.C * c.H * c.H, seed + 2)));
    const jobs = rt.threadStats().jobs;
    // the first call allocates the layer's output (and the parts' scratch) between canaries
    let y = between(canaries, () => layer.forward(x, false, c.act));
    const split = rt.threadStats().jobs - jobs;
    // repeated until a worker has taken a part (a call is short: on a busy machine the calling thread can
    // finish every part first, many times over)
    const deadline = Date.now() + 20_000;
    while (threads > 1 && c.split && rt.threadStats().workerChunks === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      y = layer.forward(x, false, c.act);
    }
    const out = { y: y.toArray(), split, workerChunks: rt.threadStats().workerChunks, changed: canaries.changed() };
    layer.dispose();
    canaries.dispose();
    return out;
  }

  it.each([2, 3])('on %i threads the output has the bits of one thread', { timeout: 60_000 }, async (threads) => {
    let seed = 90;
    for (const c of shapes) {
      const what = `[1, ${c.C}, ${c.H}, ${c.H}] * ${c.FN}, ${c.act}`;
      const one = await forward(1, c, seed);
      const many = await forward(threads, c, seed);
      seed += 10;
      expect(one.changed + many.changed, `canaries around x and the output, ${what}`).toBe(0);
      expectBits(many.y, one.y, `output, ${what}`);
      expect(many.split, `calls split, ${what}`).toBe(c.split ? 1 : 0);
      if (c.split) expect(many.workerChunks, `parts run by workers, ${what}`).toBeGreaterThan(0);
    }
  });
});

describe('threads: elementwise and pooling layers split by ranges', () => {
  it('Relu, Sigmoid, max and average Pooling: forward and backward give the bits of one thread, split across workers', async () => {
    const run = async (threads: number) => {
      const rt = await threaded({ threads });
      const layers: Layer[] = [new Relu(), new Sigmoid(), new Pooling(2, 2, 2), new Pooling(3, 3, 2, 1, { mode: 'avg' })];
      const x = rt.tensor([20, 16, 28, 28], randomArray(20 * 16 * 784, 21)); // 250,880 elements: 2 parts of >= 2^16
      const outs: Float32Array[] = [];
      for (const layer of layers) {
        const y = layer.forward(x, true);
        outs.push(y.toArray(), layer.backward(rt.tensor(y.shape, randomArray(y.size, 22))).toArray());
      }
      return { outs, stats: rt.threadStats() };
    };
    const one = await run(1);
    const two = await run(2);
    expect(two.stats.jobs, 'every pass was split').toBe(8);
    one.outs.forEach((o, i) => expectBits(two.outs[i], o, `output ${i}`));
  });
});

describe('threads: optimizer updates split by ranges', () => {
  it('every optimizer, on one block and on separate tensors of odd sizes: 2 threads give the bits of one, split across workers', async () => {
    // 100,003 and 70,001 floats: two parts of >= 2^16 floats touched each, and a scalar tail.
    // Allocated back to back they are one block (one kernel call a step); a tensor between them makes two.
    const run = async (threads: number, separate: boolean) => {
      const rt = await threaded({ threads });
      const out: Record<string, Float32Array[]> = {};
      const jobs: Record<string, number> = {};
      for (const name of optimizerNames) {
        const W = rt.tensor([100_003], randomArray(100_003, 31));
        const gap = separate ? rt.tensor([16]) : null;
        const b = rt.tensor([70_001], randomArray(70_001, 32));
        const dW = rt.tensor([100_003], randomArray(100_003, 33));
        const db = rt.tensor([70_001], randomArray(70_001, 34));
        const optimizer = createOptimizer(name, { lr: 0.01 });
        const before = rt.threadStats().jobs;
        for (let step = 0; step < 3; step++) optimizer.update({ W, b }, { W: dW, b: db });
        jobs[name] = rt.threadStats().jobs - before;
        out[name] = [W.toArray(), b.toArray()];
        for (const t of [W, b, dW, db, gap]) t?.dispose();
        optimizer.dispose();
      }
      return { out, jobs };
    };
    for (const separate of [false, true]) {
      const one = await run(1, separate);
      const two = await run(2, separate);
      for (const name of optimizerNames) {
        expect(two.jobs[name], `${name}: every kernel call of the 3 steps was split`).toBe(separate ? 6 : 3);
        one.out[name].forEach((p, i) => expectBits(two.out[name][i], p, `${name}, tensor ${i}${separate ? ', separate' : ''}`));
      }
    }
  });

  it('moves a 2-thread update\'s split towards the faster thread, within [0.1, 0.9]; any split gives the bits of one thread', async () => {
    const SIZE = 200_003;
    const one = await threaded({ threads: 1 });
    const two = await threaded({ threads: 2 });
    const make = (rt: Runtime) => ({
      W: rt.tensor([SIZE], randomArray(SIZE, 41)), dW: rt.tensor([SIZE], randomArray(SIZE, 42)), adam: new Adam({ lr: 0.01 }),
    });
    const a = make(one), b = make(two);
    const update = (s: typeof a) => s.adam.update({ W: s.W }, { W: s.dW });
    // records each adamStep part's floats (its argument n), then runs the call
    const floats: number[][] = [];
    const run = two.runParts.bind(two);
    vi.spyOn(two, 'runParts').mockImplementation((name, parts, write, work) => {
      const n: number[] = [];
      for (let p = 0; p < parts; p++) write(p, ((...args: number[]) => { n.push(args[4]); }) as never);
      floats.push(n);
      run(name, parts, write, work);
    });
    update(a); update(b); // the first update makes the state
    // any split, the same bits: forced shares, on the worker's real timings
    for (const share of [0.1, 0.77, 0.9]) {
      b.adam.splitShare = share;
      update(a); update(b);
      const [n0, n1] = floats.at(-1)!;
      expect(n0 + n1, `share ${share}: the parts cover the block`).toBe(SIZE);
      expect(Math.abs(n0 / SIZE - share), `share ${share}: part 0's floats`).toBeLessThan(1e-3);
      expectBits(b.W.toArray(), a.W.toArray(), `share ${share}`);
    }
    // the calling thread's part ran 3 times as fast per float as the worker's, then took 10 times the worker's time
    const ms = vi.spyOn(two, 'lastPartMs');
    b.adam.splitShare = 0.5;
    ms.mockImplementation((p) => (p === 0 ? 1 : 3) * floats.at(-1)![p]);
    for (let i = 0; i < 30; i++) update(b);
    expect(b.adam.splitShare).toBeCloseTo(0.75, 2);
    ms.mockImplementation((p) => (p === 0 ? 10 : 1));
    for (let i = 0; i < 30; i++) update(b);
    expect(b.adam.splitShare).toBeCloseTo(0.1, 5);
    ms.mockImplementation(() => null); // ran on the calling thread alone: no change
    update(b);
    expect(b.adam.splitShare).toBeCloseTo(0.1, 5);
    vi.restoreAllMocks();
    for (const s of [a, b]) { s.W.dispose(); s.dW.dispose(); s.adam.dispose(); }
  });
});

describe('threads: the Trainer\'s guarded step (src/train/rollback.ts)', () => {
  const MLP = { inputSize: 784, hiddenSizeList: [64], outputSize: 10 };

  /** The descriptors (assembly/guarded.ts) of a guardedStep call's parts, as they are in memory: flag, p, s, slotBytes, slots, g, n, pDst, sDst, the kernel's arguments. */
  const descriptors = (rt: Runtime, call: { parts: unknown[][] }) => call.parts.map((args) => {
    const ptr = args[1] as number;
    return { flag: new Int32Array(rt.memory.buffer, ptr, 1)[0], slots: Array.from(new Float64Array(rt.memory.buffer, ptr, 21)) };
  });

  it('every optimizer: one split call whose parts each save, check and update one range of the parameter block, with the bits of one thread', async () => {
    const SHARE = 0.3;
    // plain: net.gradient and optimizer.update, the unguarded path, for the bits the guarded one must give
    const train = async (threads: number, name: OptimizerName, plain = false) => {
      const rt = await threaded({ threads, seed: 21 });
      // 79,510 params: two parts even for SGD's two floats touched per param
      const net = new MultiLayerNet(rt, { ...MLP, hiddenSizeList: [100] });
      const x = rt.tensor([50, 784], randomArray(50 * 784, 22, 0, 1));
      const t = rt.labels([50], Array.from({ length: 50 }, (_, i) => (i * 3) % 10));
      const optimizer = createOptimizer(name, { lr: 0.01 });
      const trainer = new Trainer(net, x, t, x, t, { epochs: 1, miniBatchSize: 50, optimizer });
      const step = plain ? () => { net.gradient(x, t); optimizer.update(net.params, net.grads); } : () => trainer.step(x, t);
      step(); // the first update makes the state: the unsplit path
      // an uneven cut (the measured speeds move it from there: the parts are checked in the last step)
      if (threads === 2) (optimizer as unknown as { splitShare: number }).splitShare = SHARE;
      const calls = recordParts(rt);
      const lastGuarded = () => descriptors(rt, calls.filter((c) => c.name === 'guardedStep').at(-1) ?? { parts: [] });
      step();
      const firstParts = lastGuarded(); // cut at SHARE
      for (let i = 0; i < 2; i++) step();
      vi.restoreAllMocks();
      const set = { paramPtr: net.parameterSet!.paramPtr, gradPtr: net.parameterSet!.gradPtr, size: net.parameterSet!.size };
      const guarded = calls.filter((c) => c.name === 'guardedStep');
      const parts = lastGuarded();
      const kernel = (optimizer as unknown as { kernel: string }).kernel;
      const result = { params: Object.values(net.params).map((p) => p.toArray()), state: optimizer.state(), calls, guarded, firstParts, parts, set, kernel };
      trainer.dispose();
      await rt.dispose(); // its workers stop spinning before the next optimizer's start
      return result;
    };
    for (const name of optimizerNames) {
      const plain = await train(1, name, true);
      const one = await train(1, name);
      const two = await train(2, name);
      for (const run of [one, two]) {
        plain.params.forEach((p, i) => expectBits(run.params[i], p, `${name}: params[${i}]`));
        expect(run.state, name).toEqual(plain.state);
      }
      for (const run of [one, two]) {
        expect(run.guarded.length, `${name}: a guarded update per step`).toBe(3);
        const apart = run.calls.filter((c) => c.name === run.kernel);
        expect(apart.map((c) => c.name), `${name}: no update of its own`).toEqual([]);
      }
      expect(two.guarded.map((c) => c.parts.length), `${name}: split in 2`).toEqual([2, 2, 2]);
      // part p: flag, p, s, slotBytes, slots, g, n, pDst, sDst, then the kernel's arguments from the range's param on
      let next = two.set.paramPtr;
      let saved = two.parts[0].slots[7];
      for (const [p, { flag, slots: d }] of two.parts.entries()) {
        const [, from, , , , grad, n, pDst] = d;
        expect(flag, `${name}: part ${p} passed`).toBe(0);
        expect(from, `${name}: part ${p} starts where the last ended`).toBe(next);
        expect(grad - two.set.gradPtr, `${name}: part ${p}'s gradients`).toBe(from - two.set.paramPtr);
        expect(pDst, `${name}: part ${p} saved after the last`).toBe(saved);
        expect(d[9], `${name}: the kernel's part ${p}`).toBe(from);
        expect(d.slice(9).includes(n), `${name}: the kernel's length`).toBe(true);
        next = from + 4 * n;
        saved = pDst + 4 * n;
      }
      expect(next, `${name}: the parts cover the block`).toBe(two.set.paramPtr + 4 * two.set.size);
      const first = two.firstParts[0].slots[6];
      expect(Math.abs(first / two.set.size - SHARE), `${name}: part 0 takes the share's floats`).toBeLessThan(16 / two.set.size + 1e-9);
    }
  });

  it('rolls back on 2 threads when the worker\'s range fails: NaN/Inf gradients, then an overflowing update', async () => {
    const rt = await threaded({ threads: 2, seed: 23 });
    const net = new MultiLayerNet(rt, { ...MLP, weightDecayLambda: 10 });
    const x = rt.tensor([50, 784], randomArray(50 * 784, 24, 0, 1));
    const t = rt.labels([50], Array.from({ length: 50 }, (_, i) => (i * 7) % 10));
    const optimizer = new Momentum({ lr: 0.01 });
    const trainer = new Trainer(net, x, t, x, t, { epochs: 1, miniBatchSize: 50, optimizer });
    trainer.step(x, t);
    trainer.step(x, t);
    const calls = recordParts(rt);
    const snapshot = () => ({ params: net.exportParams(), state: optimizer.state() });
    const expectUnchanged = (was: ReturnType<typeof snapshot>, what: string) => {
      const now = snapshot();
      for (const k of Object.keys(was.params)) expectBits(now.params[k].data, was.params[k].data, `${what}: ${k}`);
      expect(now.state, what).toEqual(was.state);
    };
    // input 700 at 3.4e38 with W1's row 700 at 0 keeps the forward pass finite, and with W2
    // scaled by 1000 its row of dW1 overflows: in the back half of the block (the worker's part)
    const bad = rt.tensor([50, 784], x.toArray());
    for (let n = 0; n < 50; n++) bad.data[n * 784 + 700] = 3.4e38;
    net.params.W1.data.fill(0, 700 * 64, 701 * 64);
    for (let i = 0; i < net.params.W2.size; i++) net.params.W2.data[i] *= 1000;
    const beforeNaN = snapshot();
    expect(() => trainer.step(bad, t, 2)).toThrow(/step 3 produced NaN\/Inf gradients/);
    expectUnchanged(beforeNaN, 'NaN gradients');
    // the worker's part found the gradients; the calling thread's part updated its range, which was put back
    const failed = calls.at(-1)!;
    expect(failed.name).toBe('guardedStep');
    const [mine, worker] = descriptors(rt, failed);
    expect([mine.flag, worker.flag], 'part flags: updated, bad gradients').toEqual([0, 1]);
    const [, from, , , , , n] = worker.slots;
    expect(from < net.params.W1.ptr + 4 * 700 * 64 && from + 4 * n > net.params.W1.ptr + 4 * 701 * 64, 'W1\'s row 700 in the worker\'s part').toBe(true);
    bad.dispose();
    // hidden activations of 1e37 and lr 100: finite gradients whose update overflows W2
    for (let i = 0; i < net.params.W2.size; i++) net.params.W2.data[i] /= 1000;
    net.params.b1.data.fill(1e37);
    optimizer.lr = 100;
    const beforeOverflow = snapshot();
    expect(() => trainer.step(x, t, 2)).toThrow(/step 3 overflowed the parameters/);
    expectUnchanged(beforeOverflow, 'overflow');
    const overflowed = calls.at(-1)!;
    expect(overflowed.name).toBe('guardedStep');
    expect(descriptors(rt, overflowed).map((d) => d.flag), 'the worker\'s part (W2) overflowed').toEqual([0, 2]);
    vi.restoreAllMocks();
    // and training goes on from there
    net.params.b1.data.fill(0);
    optimizer.lr = 0.01;
    expect(Number.isFinite(trainer.step(x, t, 2))).toBe(true);
    expect(optimizer.t).toBe(3);
    trainer.dispose();
  });
});

describe('threads: a Trainer\'s steps on the pool or on the calling thread (src/train/split-choice.ts)', () => {
  const MLP = { inputSize: 784, hiddenSizeList: [100, 100], outputSize: 10 };
  const ROWS = 1000, BATCH = 50; // 20 steps an epoch, every step's first-layer products split

  /** Trains 2 epochs on `rt` from seed 31; `choose` (optional) replaces the Trainer's SplitChoice. Per step: held, pool jobs during it. */
  const train = (rt: Runtime, options: { adaptiveThreads?: boolean; choose?: (rt: Runtime) => SplitChoice; augment?: () => void } = {}) => {
    rt.reseed(31);
    const net = new MultiLayerNet(rt, MLP);
    const x = rt.tensor([ROWS, 784], randomArray(ROWS * 784, 32, 0, 1));
    const t = rt.labels([ROWS], Array.from({ length: ROWS }, (_, i) => (i * 7) % 10));
    const steps: Array<{ held: boolean; jobs: number }> = [];
    let jobs = 0, held = false;
    const trainer = new Trainer(net, x, t, x, t, {
      epochs: 2, miniBatchSize: BATCH, optimizer: 'adam', optimizerParams: { lr: 0.001 },
      ...(options.adaptiveThreads === undefined ? {} : { adaptiveThreads: options.adaptiveThreads }),
      // runs inside the step's hold: sees whether it is held and the jobs before the step's calls
      augment: () => { held = rt.holdSplits; jobs = rt.threadStats().jobs; options.augment?.(); },
      callbacks: { onStepEnd: () => { steps.push({ held, jobs: rt.threadStats().jobs - jobs }); } },
    });
    if (options.choose) trainer.splitChoice = options.choose(rt);
    let error: unknown = null;
    try {
      trainer.train();
    } catch (e) {
      error = e;
    }
    const result = { params: Object.values(net.params).map((p) => p.toArray()), steps, use: trainer.threadUse, error, holdAfter: rt.holdSplits };
    trainer.dispose();
    net.dispose();
    x.dispose();
    t.dispose();
    return result;
  };
  // a clock by which a step takes 1 ms held and 2 ms split: the calling thread wins each probe clearly
  const serialFaster = (rt: Runtime) => {
    let clock = 0;
    return new SplitChoice(rt, () => (clock += rt.holdSplits ? 1 : 2));
  };

  it('steps the calling thread measured faster with the pool\'s splits held (no pool job in them), the others split; the bits of 1 thread either way', async () => {
    const one = train(await threaded({ threads: 1 }));
    const rt = await threaded({ threads: 2 });
    await rt.ready;
    expect(rt.poolReady, 'every worker up').toBe(true);
    const always = train(rt, { adaptiveThreads: false });
    const chosen = train(rt, { choose: serialFaster });
    for (const run of [always, chosen]) one.params.forEach((p, i) => expectBits(run.params[i], p, `params[${i}]`));
    expect(always.use).toEqual({ pool: true, poolStepMs: null, serialStepMs: null, probes: 0 });
    expect(always.steps.every((s) => !s.held && s.jobs > 0), 'adaptiveThreads false: every step split').toBe(true);
    // warm-up steps, half a probe (a clear choice), then held up to the next probe
    const half = PROBE_BLOCKS.slice(0, 2).map((p) => (p ? 'P' : 'S').repeat(BLOCK_STEPS)).join('');
    const ways = chosen.steps.map((s) => (s.held ? 'S' : 'P')).join('');
    expect(ways).toBe(('P'.repeat(WARMUP_STEPS - 1) + half).padEnd(40, 'S'));
    expect(40 - (WARMUP_STEPS - 1 + half.length), 'no second probe in these steps').toBeLessThan(FIRST_INTERVAL);
    chosen.steps.forEach((s, i) => expect(s.jobs === 0, `step ${i} (${s.held ? 'held' : 'split'}): no pool job iff held`).toBe(s.held));
    expect(chosen.use).toEqual({ pool: false, poolStepMs: 2, serialStepMs: 1, probes: 1 });
    expect(chosen.holdAfter, 'released after the run').toBe(false);
    // the evaluation after each epoch still splits: the hold is the steps' alone
    const before = rt.threadStats().jobs;
    const ev = new MultiLayerNet(rt, MLP);
    const xs = rt.tensor([ROWS, 784], randomArray(ROWS * 784, 33, 0, 1));
    ev.predict(xs);
    expect(rt.threadStats().jobs).toBeGreaterThan(before);
    ev.dispose();
    xs.dispose();
  });

  it('a step that throws in its hold releases it (the runtime splits again) and the error goes on', async () => {
    const rt = await threaded({ threads: 2 });
    let calls = 0;
    const failing = train(rt, { choose: serialFaster, augment: () => { if (++calls === 25) throw new Error('augment failed'); } });
    expect((failing.error as Error).message).toBe('augment failed');
    expect(failing.steps.length).toBe(24);
    expect(failing.steps.at(-1)!.held, 'the steps before it were held').toBe(true);
    expect(failing.holdAfter).toBe(false);
    expect(rt.splitsNow).toBe(true);
  });

  it('on one thread there is nothing to choose: no hold, no probe', async () => {
    const one = train(await threaded({ threads: 1 }));
    expect(one.steps.every((s) => !s.held)).toBe(true);
    expect(one.use).toEqual({ pool: false, poolStepMs: null, serialStepMs: null, probes: 0 });
  });
});

describe('threads: the default, a lazy \'auto\' pool', () => {
  // makeRuntime gives the packaged plain build in the browser: the shared one goes with it
  const lazyOptions = async (): Promise<RuntimeOptions> => ({ threads: undefined, ...(host === 'browser' ? { sharedWasm: await wasmModule('shared') } : {}) });

  it('starts no worker until calls that would split add up to 2^27 multiply-adds, then starts them in the background; the bits never change', async () => {
    const cores = (await hostThreads()).cores();
    const rt = await threaded(await lazyOptions());
    expect(rt.features.threads).toBe(1);
    expect(rt.features.notes).toEqual([]);
    expect(rt.memory.buffer instanceof SharedArrayBuffer).toBe(cores > 1);
    runCase(rt, small, 0);
    await rt.ready;
    expect(rt.features.threads, 'a call too small to split starts nothing').toBe(1);
    // 4.3M multiply-adds a call: 32 calls pass the 2^27 that start the pool; all run here
    for (let call = 0; call < 32; call++) expectBits(runCase(rt, cases[0], 0), one[0], `call ${call}, before the pool`);
    expect(rt.threadStats().jobs).toBe(0);
    expect(rt.poolReady, 'workers still starting (a Trainer waits for them before it times its steps)').toBe(false);
    await rt.ready;
    expect(rt.features.threads).toBe(cores);
    expect(rt.poolReady, 'every worker up').toBe(cores > 1);
    expectBits(runCase(rt, cases[0], 0), one[0], 'on the pool');
    expect(rt.threadStats().jobs).toBe(cores > 1 ? 1 : 0);
  });

  it('stays on one thread, with the build it was given, when given a wasm without its shared build', async () => {
    const rt = await threaded({ threads: undefined, wasm: await wasmModule('plain') });
    expectBits(runCase(rt, cases[0], 0), one[0], 'result');
    await rt.ready;
    expect(rt.features.threads).toBe(1);
    expect(rt.features.notes).toEqual([]);
    expect(rt.memory.buffer).not.toBeInstanceOf(SharedArrayBuffer);
  });

  it('falls back to one thread, and says why, when the shared build cannot be loaded', async () => {
    // not a wasm module: compiling it fails, as a missing or broken file would
    const rt = await threaded({ threads: undefined, wasm: await wasmModule('plain'), sharedWasm: new Uint8Array([0, 97, 115, 109, 9, 9, 9, 9]) });
    expect(rt.features.threads).toBe(1);
    expect(rt.memory.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expect(rt.features.notes).toEqual([expect.stringMatching(/threads: the shared-memory build could not be loaded \(.+\); running on 1 thread/)]);
    expectBits(runCase(rt, cases[0], 0), one[0], 'result');
  });

  it('dispose() before the pool is up leaves no pool behind', async () => {
    const rt = await threaded(await lazyOptions());
    for (let call = 0; call < 32; call++) runCase(rt, cases[0], 0);
    rt.dispose();
    await rt.ready;
    expect(rt.features.threads).toBe(1);
    expectBits(runCase(rt, cases[0], 0), one[0], 'after dispose');
    expect(rt.threadStats().jobs).toBe(0);
  });
});

describe('threads: options, fallbacks, dispose', () => {
  afterEach(() => { vi.unstubAllGlobals(); });

  it('rejects thread counts that are not positive integers, and busyCores other than yield or split', async () => {
    for (const threads of [0, -2, 1.5, Number.NaN, 'all']) {
      await expect(makeRuntime({ threads } as RuntimeOptions), String(threads)).rejects.toThrow(/options\.threads: expected a positive integer or 'auto'/);
    }
    for (const maxThreads of [0, 2.5, 5000]) {
      await expect(makeRuntime({ threads: 2, maxThreads }), String(maxThreads)).rejects.toThrow(/options\.maxThreads: expected an integer in \[1, 4095\]/);
    }
    for (const busyCores of ['wait', '', null, true]) {
      await expect(makeRuntime({ threads: 2, busyCores } as unknown as RuntimeOptions), String(busyCores)).rejects.toThrow(/options\.busyCores: expected 'yield' or 'split'/);
    }
  });

  it("'auto' takes the host's core count, capped by maxThreads", async () => {
    const real = await hostThreads();
    const threeCores: ThreadHost = { ...real, cores: () => 3 };
    expect((await threaded({ threads: 'auto', threadHost: threeCores })).features.threads).toBe(3);
    expect((await threaded({ threads: 'auto', maxThreads: 2, threadHost: threeCores })).features.threads).toBe(2);
    expect((await threaded({ threads: 4, maxThreads: 1 })).features.threads).toBe(1);
  });

  it("caps threads at the host's cores unless maxThreads allows more, and says so", { timeout: 60_000 }, async () => {
    const twoCores: ThreadHost = { ...(await hostThreads()), cores: () => 2 };
    // once 1000 workers started (a minute, gigabytes): now 2
    const rt = await threaded({ threads: 1000, threadHost: twoCores });
    expect(rt.features.threads).toBe(2);
    expect(rt.features.notes).toEqual(['threads: 1000 requested, but this host has 2 cores; running on 2 (set maxThreads to run more)']);
    expectBits(runCase(rt, cases[0], 0), one[0], 'on the capped pool');
    expect(rt.threadStats().chunks).toBe(2);
    const insisted = await threaded({ threads: 3, maxThreads: 3, threadHost: twoCores });
    expect(insisted.features.threads).toBe(3);
    expect(insisted.features.notes).toEqual([]);
  });

  it('runs on one thread, and says why, without shared memory (a page that is not cross-origin isolated)', async () => {
    vi.stubGlobal('SharedArrayBuffer', undefined);
    const rt = await makeRuntime({ threads: 2 });
    vi.unstubAllGlobals();
    expect(rt.features.threads).toBe(1);
    expect(rt.features.sharedMemory).toBe(false);
    expect(rt.features.notes).toEqual([expect.stringMatching(/threads: 2 requested, but this host has no shared WebAssembly memory .*cross-origin isolation.*; running on 1 thread/)]);
    expect(rt.memory.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expectBits(runCase(rt, cases[0], 0), runCase(await makeRuntime(), cases[0], 0), 'fallback result');
  });

  it('runs on one thread, and says why, where there is no Worker API (edge runtimes)', async () => {
    vi.stubGlobal('Worker', undefined);
    // the portable entry with no threadHost: only the global Worker could start threads
    const rt = await createCore({ wasm: await wasmModule('plain'), threads: 2 });
    expect(rt.features.threads).toBe(1);
    expect(rt.features.notes).toEqual([expect.stringMatching(/threads: 2 requested, but this host cannot start workers \(no Worker API\); running on 1 thread/)]);
    expect(rt.threadStats()).toEqual({ jobs: 0, chunks: 0, workerChunks: 0, workerQuiets: 0, quietCalls: 0 });
  });

  it('runs on one thread, and says why, when workers fail to start (e.g. a CSP forbidding blob: workers)', async () => {
    let terminated = 0;
    const failing: ThreadHost = {
      cores: () => 2,
      spawn: () => ({ ready: Promise.reject(new Error('blocked by Content-Security-Policy')), terminate: () => { terminated++; } }),
    };
    const rt = await makeRuntime({ threads: 3, maxThreads: 3, threadHost: failing });
    expect(terminated).toBe(2);
    expect(rt.features.threads).toBe(1);
    expect(rt.features.notes).toEqual(['threads: 3 requested, but starting worker threads failed (blocked by Content-Security-Policy); running on 1 thread']);
    const stats = rt.memoryStats();
    expect(stats.blocks, 'the control block was freed').toBe(1);
    expectBits(runCase(rt, cases[1], 10), one[1], 'result on the fallback');
  });

  it('dispose() stops a worker caught between its last look at STOP and its sleep (the wake-up is not lost)', { timeout: 40_000 }, async () => {
    // the worker's code with that moment widened to 300 ms once it has run a part: dispose() comes inside it,
    // so its notify reaches no sleeper; a Web Worker then waits for its next call forever unless the word it
    // waits on changed
    const base = await hostThreads();
    const sleep = 'Atomics.wait(ctl, CLAIM, word);';
    const widened: ThreadHost = {
      cores: base.cores,
      spawn(body, init, options) {
        expect(body, 'the worker\'s untimed sleep').toContain(sleep);
        const widen = 'if (Atomics.load(ctl, WORKER_CHUNKS) > 0) { const until = Date.now() + 300; while (Date.now() < until) {} }';
        return base.spawn(body.replace(sleep, `${widen} ${sleep}`), init, options);
      },
    };
    const rt = await makeRuntime({ threads: 2, maxThreads: 2, threadHost: widened, busyCores: 'split' });
    // calls until the worker, asleep between them, takes a part (on a busy machine it can be late for several)
    const deadline = Date.now() + 20_000;
    for (let i = 0; rt.threadStats().workerChunks === 0 && Date.now() < deadline; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      expectBits(runCase(rt, cases[1], 10), one[1], `split call ${i}`);
    }
    expect(rt.threadStats().workerChunks, 'the worker took a part').toBeGreaterThan(0);
    // after its part it spins 2 ms, then enters the widened moment: dispose() comes inside it
    await new Promise((resolve) => setTimeout(resolve, 60));
    const outcome = await Promise.race([
      rt.dispose().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5_000)),
    ]);
    expect(outcome).toBe('stopped');
  });

  it('dispose() stops the workers; the runtime keeps working on the calling thread', async () => {
    const rt = await makeRuntime({ threads: 2 });
    expectBits(runCase(rt, cases[1], 10), one[1], 'before dispose');
    const stats = rt.threadStats();
    expect(stats.jobs).toBe(1);
    expect(rt.memoryStats().blocks, 'gemm workspaces of both parts, the control block and the claim words').toBe(4);
    const disposed = rt.dispose();
    await rt.dispose();
    await disposed;
    expect(rt.features.threads).toBe(1);
    expect(rt.memoryStats().blocks, 'only the calling thread\'s gemm workspace is left').toBe(1);
    expectBits(runCase(rt, cases[1], 10), one[1], 'after dispose');
    expect(rt.threadStats()).toEqual({ jobs: 0, chunks: 0, workerChunks: 0, workerQuiets: 0, quietCalls: 0 });
  });
});
