// Behaviour of the runtime layer that no other test pinned down, each found by a mutant that every
// other test let through (session 64): the pool's handling of a worker exit it hears of only through
// its host, of a trap on the calling thread (which part), of dispose() before the workers are up, of
// quiet workers and of workers up (all of them, not one); a claimed row split whose groups do not
// divide the tiles; the least work of a GEMM part; the cap of threads at the cores; splitRange's
// ranges; take(0) while a run holds the stream, and take() at the end of the safe integers; the
// allocator's merging with the block before and its growth near the maximum; view() bounds;
// overlapOf between two written tensors; and the known-answer check's sums, tolerance and NaN fill.
// The pools here run on a ThreadHost whose workers never take a part (the calling thread runs every
// part, as it does while workers start), so what is tested is the pool's bookkeeping, on any host.
// Node and Chromium.
import { describe, it, expect } from 'vitest';
import { makeRuntime, wasmModule } from './helpers/runtime.js';
import type { Runtime, ThreadHost, WorkerInit } from '../src/runtime/runtime.js';
import { ConcurrentRunError } from '../src/runtime/errors.js';
import { overlapOf } from '../src/runtime/tensor.js';
import { GEMM_MIN_PART_WORK, gemmParts } from '../src/runtime/gemm-split.js';
import { knownAnswerFault, type KnownAnswerHost } from '../src/runtime/known-answers.js';
import type { Kernels } from '../build/kernels.js';

/** A host whose workers never come up to take parts: `exit(i, cause)` ends worker i as its host would report it. */
function idleHost(cores: number, { up = true } = {}) {
  const inits: WorkerInit[] = [];
  const exits: Array<(cause: string) => void> = [];
  const host: ThreadHost = {
    cores: () => cores,
    spawn(_body, init) {
      inits.push(init);
      let exit!: (cause: string) => void;
      const exited = new Promise<string>((resolve) => { exit = resolve; });
      exits.push(exit);
      return { ready: up ? Promise.resolve() : new Promise<void>(() => {}), exited, terminate: () => exit('terminated') };
    },
  };
  return { host, inits, exit: (i: number, cause: string) => exits[i](cause) };
}

/** C = A·B on fresh tensors (M×K by K×N, small integers), C first filled with NaN; returns C's values. */
function product(rt: Runtime, M: number, N: number, K: number, A?: number): Float32Array {
  const a = rt.tensor([M, K], Float32Array.from({ length: M * K }, (_, i) => (i % 7) - 3));
  const b = rt.tensor([K, N], Float32Array.from({ length: K * N }, (_, i) => (i % 5) - 2));
  const c = rt.tensor([M, N]);
  c.data.fill(Number.NaN);
  try {
    rt.unsafeGemm(0, 0, M, N, K, A ?? a.ptr, K, b.ptr, N, c.ptr, N);
    return c.toArray();
  } finally {
    a.dispose(); b.dispose(); c.dispose();
  }
}

/** The default lazy 'auto' pool on `threadHost` (the shared build given, as the browser helper gives the plain one). */
const lazyRuntime = async (threadHost: ThreadHost) => makeRuntime({ threads: undefined, threadHost, sharedWasm: await wasmModule('shared') });

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe('the thread pool', () => {
  it('a worker exit heard only through its host retires the pool at the next call, with the cause in the notes', async () => {
    const idle = idleHost(2);
    const rt = await makeRuntime({ threads: 2, maxThreads: 2, threadHost: idle.host });
    product(rt, 64, 64, 64);
    expect(rt.threadStats().jobs).toBe(1);
    idle.exit(0, 'killed by the host');
    await tick();
    const c = product(rt, 64, 64, 64);
    expect(rt.features.threads).toBe(1);
    expect(rt.features.notes).toEqual(['threads: a worker thread exited (killed by the host); running on 1 thread']);
    expect(rt.threadStats().jobs).toBe(0); // no pool any more
    expect(c.every(Number.isFinite)).toBe(true);
    await rt.dispose();
  });

  it('a trap on the calling thread names the first part that trapped, counted from 1', async () => {
    const rt = await makeRuntime({ threads: 2, maxThreads: 2, threadHost: idleHost(2).host });
    // A past the end of the memory: both parts trap, the calling thread running them in order
    expect(() => product(rt, 64, 64, 64, rt.memory.buffer.byteLength)).toThrow(/^gemm: part 1 of 2 on the calling thread: RuntimeError/);
    await rt.dispose();
  });

  it('rt.ready resolves when a lazy pool is disposed before its workers are up', async () => {
    const rt = await lazyRuntime(idleHost(2, { up: false }).host);
    expect(rt.features.threads).toBe(1);
    product(rt, 512, 512, 512); // 2^27 multiply-adds: starts the lazy pool
    expect(rt.features.threads).toBe(2);
    const ready = rt.ready;
    await rt.dispose();
    // settled by dispose(): its callbacks have run before the next macrotask
    expect(await Promise.race([ready.then(() => 'resolved'), tick().then(() => 'pending')])).toBe('resolved');
  });

  it('calls split while one worker of two is quiet, and run on the calling thread (counted) only when every one is', async () => {
    const idle = idleHost(3);
    const rt = await makeRuntime({ threads: 3, maxThreads: 3, threadHost: idle.host });
    // the control block's QUIET_NOW word (src/runtime/threads.ts): workers quiet now
    const quietNow = new Int32Array(rt.memory.buffer, idle.inits[0].control, 16).subarray(12, 13);
    quietNow[0] = 1;
    product(rt, 64, 64, 64);
    expect(rt.threadStats()).toMatchObject({ jobs: 1, quietCalls: 0 });
    quietNow[0] = 2;
    product(rt, 64, 64, 64);
    expect(rt.threadStats()).toMatchObject({ jobs: 1, quietCalls: 1 });
    await rt.dispose();
  });

  it('poolReady (a Trainer then measures split against unsplit steps) waits for every worker, not the first', async () => {
    const idle = idleHost(3);
    const rt = await makeRuntime({ threads: 3, maxThreads: 3, threadHost: idle.host, busyCores: 'split' });
    // the control block's READY word (src/runtime/threads.ts): workers that entered their loop
    const readyNow = new Int32Array(rt.memory.buffer, idle.inits[0].control, 16).subarray(6, 7);
    expect(rt.poolReady).toBe(false);
    readyNow[0] = 1;
    expect(rt.poolReady).toBe(false);
    readyNow[0] = 2;
    expect(rt.poolReady).toBe(true);
    await rt.dispose();
  });

  it('a claimed row split whose tiles do not fill the last group computes C\'s last rows (M 170,005 in groups of 2 tiles)', async () => {
    const rt = await makeRuntime({ threads: 2, maxThreads: 2, threadHost: idleHost(2).host });
    const one = await makeRuntime();
    const M = 170_005, N = 8, K = 1;
    expect(rt.gemmTileRows).toBe(5); // the plain build: 34,001 tiles, 2 a group (the claim word holds 2^15 − 1 groups)
    const split = product(rt, M, N, K);
    expect(rt.threadStats().jobs).toBe(1);
    const ref = product(one, M, N, K);
    expect(Array.from(split.subarray((M - 5) * N))).toEqual(Array.from(ref.subarray((M - 5) * N)));
    expect(split.findIndex((v, i) => !Object.is(v, ref[i]))).toBe(-1); // every element, bit for bit
    await rt.dispose();
  });
});

describe('threads and splits', () => {
  it('a GEMM splits only where each part gets GEMM_MIN_PART_WORK multiply-adds: 64·64·33 stays whole, 64³ splits in 2', () => {
    expect(64 * 64 * 33).toBeGreaterThan(GEMM_MIN_PART_WORK);
    expect(64 * 64 * 33).toBeLessThan(2 * GEMM_MIN_PART_WORK);
    expect(gemmParts(64, 64, 33, 2, 5)).toBe(1);
    expect(gemmParts(64, 64, 64, 2, 5)).toBe(2);
    expect(gemmParts(64, 64, 64, 4, 5)).toBe(2);
  });

  it('threads above the host\'s cores are capped at them, one more included', async () => {
    const rt = await makeRuntime({ threads: 3, threadHost: idleHost(2).host });
    expect(rt.features.threads).toBe(2);
    expect(rt.features.notes).toEqual(['threads: 3 requested, but this host has 2 cores; running on 2 (set maxThreads to run more)']);
    await rt.dispose();
  });

  it('splitRange cuts the units into ranges that cover each exactly once (7 units in 2 parts: [0, 3) and [3, 7))', async () => {
    // the default lazy pool, not started: the parts run in order on the calling thread
    const rt = await lazyRuntime(idleHost(2).host);
    const t = rt.tensor([7]);
    const ranges: number[][] = [];
    rt.splitRange('fill', 7, 1 << 16, (start, end, fill) => {
      ranges.push([start, end]);
      fill(t.ptr + 4 * start, ranges.length, end - start);
    });
    expect(ranges).toEqual([[0, 3], [3, 7]]);
    expect(Array.from(t.data)).toEqual([1, 1, 1, 2, 2, 2, 2]);
    await rt.dispose();
  });
});

describe('the random stream', () => {
  it('take(0) reads the position while a run holds the stream; a draw is refused', async () => {
    const rt = await makeRuntime({ seed: 3 });
    rt.take(5);
    const release = rt.holdStream('a test run');
    expect(rt.take(0)).toBe(5);
    expect(() => rt.take(1)).toThrow(ConcurrentRunError);
    release();
    expect(rt.take(1)).toBe(5);
  });

  it('take() refuses to pass 2^53 − 1, the last position randomState can hold', async () => {
    const rt = await makeRuntime({ seed: 3 });
    rt.randomState = { seed: 3, counter: 2 ** 53 - 3 };
    expect(() => rt.take(3)).toThrow(/^take: 3 counters from 9007199254740989 pass 2\^53 − 1/);
    expect(rt.randomState.counter).toBe(2 ** 53 - 3);
    expect(rt.take(2)).toBe(2 ** 53 - 3);
    expect(rt.randomState.counter).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('the allocator', () => {
  it('a freed block merges with a free block just before it: their joint size is reused in place', async () => {
    const rt = await makeRuntime();
    const a = rt.alloc(640), b = rt.alloc(640), guard = rt.alloc(64);
    const top = rt.memoryStats().top;
    rt.free(a);
    rt.free(b);
    expect(rt.alloc(1280)).toBe(a);
    expect(rt.memoryStats().top).toBe(top);
    rt.free(guard);
  });

  it('grows by an eighth of the memory at least, and by what is left below the maximum when an eighth would pass it', async () => {
    const PAGE = 65536;
    const rt = await makeRuntime({ memory: { initial: 64, maximum: 74 } });
    // 4 KiB blocks until the memory grows: the block that grows it needs one page more
    const growOnce = () => { const before = rt.memoryStats().memoryBytes; while (rt.memoryStats().memoryBytes === before) rt.alloc(4096); };
    expect(rt.memoryStats().memoryBytes).toBe(64 * PAGE);
    growOnce(); // an eighth: 8 pages
    expect(rt.memoryStats().memoryBytes).toBe(72 * PAGE);
    growOnce(); // an eighth (9 pages) would pass the maximum: the 2 left
    expect(rt.memoryStats().memoryBytes).toBe(74 * PAGE);
  });
});

describe('tensors', () => {
  it('view() refuses a view one element past the end', async () => {
    const rt = await makeRuntime();
    const t = rt.tensor([4], [1, 2, 3, 4]);
    expect(Array.from(t.view(1, [3]).data)).toEqual([2, 3, 4]);
    expect(() => t.view(1, [4])).toThrow(/^view\(1, \[4\]\): expected 0 <= offset and offset \+ 4 <= 4$/);
    expect(() => t.view(4, [1])).toThrow(RangeError);
  });

  it('overlapOf names two written tensors that overlap each other', async () => {
    const rt = await makeRuntime();
    const x = rt.tensor([4]), grads = rt.tensor([6]);
    const dW = grads.view(0, [4]), db = grads.view(3, [3]);
    expect(overlapOf({ x }, { dW, db })).toBe('dW overlaps db');
    expect(overlapOf({ x }, { dW, db: grads.view(4, [2]) })).toBeNull();
  });
});

describe('the known-answer check', () => {
  /** The runtime as a check's host, with some kernels replaced; its blocks come zeroed (as fresh memory). */
  async function hostWith(wrap: (k: Kernels, view: (ptr: number, n: number) => Float32Array) => Partial<Kernels>): Promise<KnownAnswerHost> {
    const rt = await makeRuntime();
    const view = (ptr: number, n: number) => new Float32Array(rt.memory.buffer, ptr, n);
    const k = rt.unsafeKernels;
    return {
      unsafeKernels: { ...k, ...wrap(k, view) } as Kernels,
      memory: rt.memory,
      unsafeGemmWork: rt.unsafeGemmWork,
      alloc: (bytes) => { const p = rt.alloc(bytes); new Uint8Array(rt.memory.buffer, p, bytes).fill(0); return p; },
      free: (p) => rt.free(p),
      borrowScratch: (bytes) => rt.borrowScratch(bytes),
    };
  }

  it('sees a GEMM whose output has the right sum but two elements swapped (the weighted sum differs)', async () => {
    const host = await hostWith((k, view) => ({
      gemm: (...args: Parameters<Kernels['gemm']>) => {
        k.gemm(...args);
        const c = view(args[9], args[2] * args[3]);
        const j = c.findIndex((v) => v !== c[0]);
        [c[0], c[j]] = [c[j], c[0]];
      },
    }));
    expect(knownAnswerFault(host, 'core')).toMatchObject({ kernel: 'gemm', output: 'C (transA 0, transB 0, K 300)' });
  });

  it('sees a softmax off by 1e-5 (its tolerance is 1e-6 relative)', async () => {
    const host = await hostWith((k, view) => ({
      softmaxCrossEntropyForward: (...args: Parameters<Kernels['softmaxCrossEntropyForward']>) => {
        const loss = k.softmaxCrossEntropyForward(...args);
        view(args[0], 1)[0] += 1e-5;
        return loss;
      },
    }));
    expect(knownAnswerFault(host, 'core')).toMatchObject({ kernel: 'softmaxCrossEntropyForward', output: 'y of [3, 10]', index: 0 });
  });

  it('sees a kernel that leaves an output element unwritten, even where the memory held its expected 0', async () => {
    const host = await hostWith((k) => ({
      reluForward: (y: number, x: number, n: number) => k.reluForward(y, x, n - 1),
    }));
    // the 19th input is −2: its ReLU is the 0 a zeroed block already holds
    expect(knownAnswerFault(host, 'core')).toMatchObject({ kernel: 'reluForward', index: 18, expected: [0] });
  });
});
