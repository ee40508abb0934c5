// The runtime: one WebAssembly.Memory, the kernels instantiated on it, the
// allocator that owns it, the seeded random stream and, with `threads`, the
// pool of workers that share the memory. Host-agnostic: it touches no Node API
// (src/node/ supplies the packaged wasm bytes and worker_threads there).
import type { Kernels } from '../../build/kernels.js';
import { Allocator, type AllocatorStats } from './allocator.js';
import { compileSource, type WasmSource } from './source.js';
import { ConcurrentRunError, OutOfMemoryError } from './errors.js';
import { hasRelaxedSimd, hasSharedMemory, hasSimd } from './features.js';
import { KNOWN_ANSWER_FAMILIES, describeFault, knownAnswerFault, wrongAnswersMessage, type KnownAnswerFamily, type KnownAnswerFault } from './known-answers.js';
import { badNumber, IntTensor, Tensor, checkFloatTensor, checkedValues, describeValue, otherCopyHint, shapeSnapshot, shown, type Shape } from './tensor.js';
import { MAX_ARGS, MAX_CHUNKS, ThreadPool, WorkerFault, webThreadHost, type ThreadHost, type ThreadStats } from './threads.js';
import { forEachGemmPart, gemmParts, gemmRowClaims, type RowClaims } from './gemm-split.js';

export type { Kernels, ThreadHost, ThreadStats };
export { WorkerFault };
export type { SpawnOptions, WorkerHandle, WorkerInit } from './threads.js';

/** Options of createRuntime(); every key is optional and an unknown key is a TypeError. */
export interface RuntimeOptions {
  /** The plain SIMD build. Default: the packaged build/simdnn.wasm (read with fs in Node, fetched elsewhere). */
  wasm?: WasmSource;
  /** The relaxed-SIMD build, used when `relaxed` is set and the host accepts it. */
  relaxedWasm?: WasmSource;
  /** Opt in to relaxed SIMD (fused multiply-add in GEMM): faster, not bit-reproducible across CPUs. */
  relaxed?: boolean;
  /** Seed of the random stream (init, shuffling, dropout). Default 1. */
  seed?: number;
  /** Linear memory in 64 KiB pages: initial size and the most it may grow to. */
  memory?: { initial?: number; maximum?: number };
  /**
   * Threads that run the kernels, counting the calling thread: a number, or
   * 'auto' for the host's logical cores; createRuntime then resolves once the
   * workers are up. A number above the host's cores runs on the cores (and
   * `features.notes` says so) unless `maxThreads` is given. Where the host has
   * no shared memory or no workers it runs on one thread and `features.notes`
   * says why.
   * Default (unset): 'auto', started lazily — no worker starts until calls big
   * enough to split have done some milliseconds of work on the calling thread;
   * then the workers start and calls split at once, each worker taking parts
   * as soon as it is up (the calling thread runs the rest, with the same bits),
   * even in a synchronous loop that never yields; `rt.ready` resolves when all
   * are up. A runtime given its own `wasm` (or `relaxedWasm`) without the
   * matching shared build stays on one thread.
   */
  threads?: number | 'auto';
  /**
   * Upper bound on `threads`. Given, it also allows more threads than the host
   * has cores (up to itself). Default: the host's cores.
   */
  maxThreads?: number;
  /** The plain SIMD shared-memory build, used with threads. Default: the packaged build/simdnn-shared.wasm. */
  sharedWasm?: WasmSource;
  /** The relaxed-SIMD shared-memory build, used with threads and `relaxed`. */
  relaxedSharedWasm?: WasmSource;
  /** How to start workers. Default: Web Workers where the host has them; Node's createRuntime passes worker_threads. */
  threadHost?: ThreadHost;
  /**
   * What calls do while the cores are busy with other work. A worker waiting
   * for the next call spins for a moment (a wake-up costs more than a small
   * call); when another process keeps a core busy, that spinning takes the
   * calling thread's share of a core (the MLP step: 2.9–3.7 ms on 2 threads
   * against 1.6–1.8 ms on 1). So a worker that finds itself descheduled
   * while it spins (four pauses of 2 ms or more within 100 ms) sleeps at once
   * when idle, for 100 ms, doubling up to 3.2 s while the core stays busy
   * (pauses in a worker's first second up are not counted: V8's own compiler
   * threads cause them). 'yield' (the default): while every worker is so
   * quiet, calls run on the calling thread (the same bits), and split again
   * when the quiet ends.
   * 'split': calls split regardless (the pool's own tests, which check how
   * calls split).
   */
  busyCores?: 'yield' | 'split';
}

/** What a runtime runs with (`rt.features`), fixed when it is created except `threads` once a pool starts. */
export interface RuntimeFeatures {
  /** Always true: simdnn needs WebAssembly SIMD and createRuntime throws without it. */
  simd: true;
  /** True when the relaxed build is in use. */
  relaxed: boolean;
  /** Whether the host could run shared memory (threads). */
  sharedMemory: boolean;
  /** Threads in use, counting the calling thread (1 when the host cannot run more). */
  threads: number;
  /** Why a requested feature is off. */
  notes: string[];
}

const OPTION_KEYS = new Set(['wasm', 'relaxedWasm', 'relaxed', 'seed', 'memory', 'threads', 'maxThreads', 'sharedWasm', 'relaxedSharedWasm', 'threadHost', 'busyCores']);
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
/** Threads a pool may have: a call's parts (one per thread at most) must fit the claim word. */
const MAX_THREADS = MAX_CHUNKS;
/** Activations that gemmBiasAct and convForward fuse, and their codes in assembly/math.ts. */
export const ACTIVATION_CODES = { none: 0, relu: 1, sigmoid: 2, tanh: 3 } as const;
/** An activation a kernel can apply in the same pass as its product: 'none', 'relu', 'sigmoid' or 'tanh'. */
export type FusedActivation = keyof typeof ACTIVATION_CODES;

/** Added to an activation's code, it asks a GEMM for that activation's backward (assembly/math.ts ACT_BACKWARD). */
export const ACT_BACKWARD = 4;

/**
 * Stops the workers of a runtime dropped without dispose(): nothing can call it any more, and its pool's
 * threads (each with a heap of its own) would otherwise stay for the life of the process or page. The pool
 * holds nothing of its runtime, so the runtime can be collected. Absent where the host has no
 * FinalizationRegistry.
 */
const dropped = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry<ThreadPool>((pool) => { void pool.dispose(); }) : null;

/** Byte addresses of a pool's control block and of gemmRowsClaimed's claim words. */
interface PoolBlocks { control: number; claim: number }

/** The entry a splitGemm call stands for, as a failure names it. */
function gemmName(bias: number, act: number): string {
  return bias === 0 ? 'gemm' : act > ACT_BACKWARD ? 'gemmActBackward' : 'gemmBiasAct';
}

/** The kernel code of a fused activation; `who` names the caller in the error for anything else. */
export function activationCode(act: FusedActivation, who: string): number {
  if (!Object.hasOwn(ACTIVATION_CODES, act)) {
    throw new RangeError(`${who}: act must be one of ${Object.keys(ACTIVATION_CODES).join(', ')}, got '${String(act)}'`);
  }
  return ACTIVATION_CODES[act];
}

/**
 * Least work (elements touched) a part of splitRange() must have: a memory-bound
 * pass over 64K floats takes ~20 µs, several times a hand-off to a worker.
 */
const MIN_PART_WORK = 1 << 16;

/**
 * Work (multiply-adds) that calls big enough to split must have done on the
 * calling thread before a lazy pool starts: ~3 ms of GEMM, so a process that
 * does a few small products never pays for workers (~25 ms to start), and a
 * training run starts them within its first steps.
 */
const LAZY_START_WORK = 1 << 27;

/** The exports that are kernels (every one but the memory). */
export type KernelName = { [K in keyof Kernels]: Kernels[K] extends (...args: never[]) => unknown ? K : never }[keyof Kernels];

/**
 * Takes one part's arguments, typed as kernel K's parameters (build/kernels.d.ts,
 * generated from assembly/): a kernel whose signature changes fails to compile
 * where its parts are written, not at run time.
 */
export type PartArgs<K extends KernelName> = (...args: Parameters<Kernels[K]>) => void;

/** Most parts of one runParts() call (the pool's argument slots). */
export const MAX_SPLIT_PARTS = 64;

/**
 * One WebAssembly instance and the linear memory it owns: every tensor, layer,
 * net and optimizer lives in one runtime and cannot be used with another.
 * Made by createRuntime(); `dispose()` stops its worker threads.
 */
export class Runtime {
  /**
   * The raw kernels (typed from assembly/index.ts; the ABI is in ARCHITECTURE.md), for power users.
   * Unsafe: they take raw pointers and sizes and check nothing, so a wrong argument writes anywhere in
   * linear memory (other tensors, the allocator's blocks). Layers, nets and optimizers are the safe API.
   */
  readonly unsafeKernels: Kernels;
  /** @internal rows of the build's GEMM micro-tile (kernels.gemmTileRows()): split parts start on them */
  readonly gemmTileRows: number;
  private readonly allocator: Allocator;
  private counter = 0;
  private currentSeed: number;
  private pool: ThreadPool | null = null;
  private gemmFn = -1;
  private gemmBiasActFn = -1;
  private rowsClaimedFn = -1;
  private packedFn = -1;
  private packedClaimedFn = -1;
  private claim: { pool: ThreadPool; ptr: number; words: Int32Array } | null = null;
  /**
   * Scratch of each part of a split call (GEMM packing at the start of each),
   * made and grown when first needed and shared by every split call: calls
   * run one after another, so a training step allocates nothing after the first.
   */
  private readonly scratch: Array<{ ptr: number; bytes: number }> = [];
  /** Where setSlots writes: the pool's argument slots, at one part's offset. */
  private slots: Float64Array<ArrayBufferLike> = new Float64Array(MAX_ARGS);
  private slotOffset = 0;
  /** Threads a lazy pool will have, and the host to start it on (the default, 'auto'). */
  private deferred: { host: ThreadHost; threads: number; blocks: PoolBlocks } | null = null;
  private starting: Promise<void> = Promise.resolve();
  private stopped = false;
  private unsplitWork = 0;
  /** Whether calls run on the calling thread while every worker is quiet (RuntimeOptions.busyCores 'yield'). */
  private readonly yieldToBusy: boolean;
  /** Calls that would have split but ran on the calling thread, every worker being quiet. */
  private quietCalls = 0;
  /**
   * @internal while true every call runs on the calling thread, the pool staying up: a Trainer
   * sets it around the steps it has measured to run faster so (src/train/split-choice.ts).
   */
  holdSplits = false;
  /** Families of kernels that gave their known answers on this runtime. */
  private readonly answered = new Set<KnownAnswerFamily>();
  private readonly setSlots = (...args: number[]): void => {
    if (args.length > MAX_ARGS) throw new RangeError(`a split call's kernel takes at most ${MAX_ARGS} arguments, got ${args.length}`);
    this.slots.set(args, this.slotOffset);
    this.slots.fill(0, this.slotOffset + args.length, this.slotOffset + MAX_ARGS);
  };

  /** @internal use createRuntime() */
  constructor(
    readonly module: WebAssembly.Module,
    readonly memory: WebAssembly.Memory,
    kernels: Kernels,
    readonly features: RuntimeFeatures,
    seed: number,
    maxPages: number,
    busyCores: 'yield' | 'split' = 'yield',
  ) {
    checkSeed(seed);
    this.yieldToBusy = busyCores === 'yield';
    this.currentSeed = seed;
    this.unsafeKernels = kernels;
    this.gemmTileRows = kernels.gemmTileRows();
    this.allocator = new Allocator(memory, kernels.heapBase(), maxPages);
    this.partScratch(1, kernels.gemmWorkspaceBytes());
  }

  /** Seed of the random stream; setting it checks it (an integer in [0, 2^32)) and keeps the stream position. */
  get seed(): number {
    return this.currentSeed;
  }

  set seed(seed: number) {
    checkSeed(seed);
    if (seed !== this.currentSeed) this.checkStream('seed');
    this.currentSeed = seed;
  }

  /** GEMM packing space of the calling thread (gemmWorkspaceBytes() bytes) for direct kernel calls. */
  get unsafeGemmWork(): number {
    return this.scratch[0].ptr;
  }

  /**
   * Pointers to the scratch of parts 0..parts-1, each at least `bytes` bytes
   * (64-aligned). Valid until the next call that asks for more.
   */
  partScratch(parts: number, bytes: number): number[] {
    const ptrs: number[] = [];
    for (let p = 0; p < parts; p++) {
      let s = this.scratch[p];
      if (s === undefined || s.bytes < bytes) {
        const need = Math.max(bytes, s?.bytes ?? 0);
        const ptr = this.alloc(need); // throws before the old region is lost
        if (s !== undefined) this.free(s.ptr);
        s = this.scratch[p] = { ptr, bytes: need };
      }
      ptrs.push(s.ptr);
    }
    return ptrs;
  }

  /** @internal part 0's scratch where it holds at least `bytes` already, else null (src/runtime/known-answers.ts). */
  borrowScratch(bytes: number): number | null {
    const s = this.scratch[0];
    return s !== undefined && s.bytes >= bytes ? s.ptr : null;
  }

  /**
   * @internal starts the worker pool (createRuntime does this). If the workers
   * fail to start the runtime stays on one thread and `features.notes` says why.
   */
  startThreads(host: ThreadHost, threads: number, background = false, blocks = this.poolBlocks(threads)): Promise<void> {
    if (this.stopped) {
      this.freePoolBlocks(blocks);
      return Promise.resolve();
    }
    const slots = Math.max(threads, MAX_SPLIT_PARTS);
    const { control } = blocks;
    const names = WebAssembly.Module.exports(this.module).filter((e) => e.kind === 'function').map((e) => e.name);
    const failed = (e: unknown) => `threads: ${threads} requested, but starting worker threads failed (${e instanceof Error ? e.message : String(e)}); running on 1 thread`;
    let pool: ThreadPool;
    try {
      pool = ThreadPool.launch(host, threads, { module: this.module, memory: this.memory, control, slots, names }, this.unsafeKernels as unknown as Record<string, unknown>, background);
    } catch (e) {
      this.freePoolBlocks(blocks);
      this.features.notes.push(failed(e));
      return Promise.resolve();
    }
    // In use at once: calls split from now on, and workers take parts as they come up.
    this.pool = pool;
    dropped?.register(this, pool, pool);
    this.claim = { pool, ptr: blocks.claim, words: new Int32Array(this.memory.buffer, blocks.claim, 4) };
    this.gemmFn = pool.fn('gemm');
    this.gemmBiasActFn = pool.fn('gemmBiasAct');
    this.rowsClaimedFn = pool.fn('gemmRowsClaimed');
    this.packedFn = pool.fn('gemmPacked');
    this.packedClaimedFn = pool.fn('gemmPackedClaimed');
    this.features.threads = threads;
    return pool.ready.then(() => undefined, (e: unknown) => this.retire(pool, failed(e)));
  }

  /**
   * Stops `pool` (if it is still this runtime's) and falls back to one thread,
   * with `note` in features.notes; resolves when its workers have exited and
   * its control block and part scratch are freed (not before: a worker may
   * still read them).
   */
  private retire(pool: ThreadPool, note: string): Promise<void> {
    if (this.pool !== pool) return Promise.resolve();
    this.pool = null;
    dropped?.unregister(pool);
    this.features.threads = 1;
    if (note) this.features.notes.push(note);
    const scratch = this.scratch.splice(1);
    if (this.claim !== null && this.claim.pool === pool) scratch.push({ ptr: this.claim.ptr, bytes: 64 });
    this.claim = null;
    return pool.dispose().then(() => {
      this.free(pool.control);
      for (const s of scratch) this.free(s.ptr);
    });
  }

  /** The pool to split a call on, or null; a pool that lost a worker is retired here. */
  private livePool(): ThreadPool | null {
    const pool = this.pool;
    if (pool !== null && pool.broken) {
      void this.retire(pool, `threads: a worker thread exited (${pool.fault || 'no cause reported'}); running on 1 thread`);
      return null;
    }
    return pool;
  }

  /** The pool to split a call on now: livePool(), but null while splits are held, or every worker is quiet (busy cores) and the runtime yields. */
  private splitPool(): ThreadPool | null {
    if (this.holdSplits) return null;
    const pool = this.livePool();
    if (pool !== null && this.yieldToBusy && pool.allQuiet) {
      this.quietCalls++;
      return null;
    }
    return pool;
  }

  // Runs a published split call; a worker that died during it retires the pool.
  private runPool(pool: ThreadPool, fn: number, parts: number, kernel: string): void {
    try {
      pool.run(fn, parts, kernel);
    } catch (e) {
      if (pool.broken) this.livePool();
      throw e;
    }
  }

  /**
   * @internal a pool of `threads` started by the first call big enough to split (the default). Its
   * memory (control block, claim words, each part's GEMM workspace) is taken now, so that the
   * training step that starts it allocates nothing.
   */
  deferThreads(host: ThreadHost, threads: number): void {
    const blocks = this.poolBlocks(threads);
    try {
      this.partScratch(threads, this.unsafeKernels.gemmWorkspaceBytes());
    } catch (e) {
      this.freePoolBlocks(blocks); // no pool planned: the runtime stays on one thread
      throw e;
    }
    this.deferred = { host, threads, blocks };
  }

  /** A pool's control block and gemmRowsClaimed's claim words (on a cache line of their own); freed with the pool. */
  private poolBlocks(threads: number): PoolBlocks {
    const control = this.alloc(ThreadPool.controlBytes(Math.max(threads, MAX_SPLIT_PARTS), threads - 1));
    return { control, claim: this.alloc(64) };
  }

  private freePoolBlocks(blocks: PoolBlocks): void {
    this.free(blocks.control);
    this.free(blocks.claim);
  }

  /**
   * Resolves when every worker of the pool is up (at once without one, or
   * before a lazy pool has been started). Calls need not wait: they use the
   * workers that are up.
   */
  get ready(): Promise<void> {
    return this.starting;
  }

  /** @internal threads this runtime's calls are split for: the pool's, or the lazy pool's to be (1 without). */
  get splitThreads(): number {
    return this.plannedThreads;
  }

  /**
   * @internal whether a split call made now would go to the pool: one is up (not a lazy pool yet to
   * start, not a broken one), splits are not held and not every worker is quiet.
   */
  get splitsNow(): boolean {
    const pool = this.pool;
    return pool !== null && !pool.broken && !this.holdSplits && !(this.yieldToBusy && pool.allQuiet);
  }

  /** @internal splitsNow, and every worker of the pool has come up (a new pool's calls run partly on the calling thread until then). */
  get poolReady(): boolean {
    return this.splitsNow && this.pool!.allUp;
  }

  /** Threads this runtime's calls are split for: the pool's, or the lazy pool's to be. */
  private get plannedThreads(): number {
    return this.pool ? this.pool.size : this.deferred ? this.deferred.threads : 1;
  }

  // A call that would split has run on this thread: once such calls add up to
  // LAZY_START_WORK, start the lazy pool. It is in use at once: the workers
  // count themselves in through the shared memory as they come up, so even a
  // synchronous training loop that never yields gets them within its first steps.
  private wake(work: number): void {
    const d = this.deferred;
    if (d === null) return;
    this.unsplitWork += work;
    if (this.unsplitWork < LAZY_START_WORK) return;
    this.deferred = null;
    this.starting = this.startThreads(d.host, d.threads, true, d.blocks);
  }

  /**
   * C = op(A)·op(B) + beta·C on raw pointers (see assembly/gemm.ts). Unsafe: pointers and leading
   * dimensions are not checked, so a wrong one writes anywhere in linear memory. Layers call
   * this rather than the kernel: with threads it splits C across the pool when
   * the call is big enough to gain, with the same bits as one thread.
   */
  unsafeGemm(transA: 0 | 1, transB: 0 | 1, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number, C: number, ldc: number, beta = 0): void {
    this.splitGemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, beta, 0, 0);
  }

  /**
   * Splits `units` independent units of work (planes, elements: no unit's
   * result depends on another's, so any split gives the same bits) into one
   * range per thread, and runs kernel `name` on each: `write(start, end, args)`
   * passes the part's arguments to `args` (typed as the kernel's). One part (a plain call) without
   * threads, or when a part would get fewer than MIN_PART_WORK of `workPerUnit`
   * each: handing a part to a worker costs microseconds. One range per
   * thread, not more: the calling thread takes the first, so the same thread
   * touches the same range on every step (optimizer state, a layer's rows)
   * and keeps it in its cache. Smaller ranges, claimed as threads come free,
   * let the ranges wander between the two vCPUs of a VM, where a cache line
   * takes ~0.4 µs to cross (Adam's update on 2 threads at 8 ranges: 79 µs on
   * 1 thread, 141 µs on 2).
   */
  splitRange<K extends KernelName>(name: K, units: number, workPerUnit: number, write: (start: number, end: number, args: PartArgs<K>) => void): void {
    const parts = this.splitParts(units, workPerUnit);
    this.runParts(name, parts, (p, args) => write(Math.floor((units * p) / parts), Math.floor((units * (p + 1)) / parts), args), units * workPerUnit);
  }

  /**
   * The parts splitRange() splits `units` units of `workPerUnit` each into:
   * at most one per thread (of the pool, or of the lazy pool to be), each
   * with MIN_PART_WORK at least; 1 without threads. For callers that need a
   * part's index (its scratch) as well as its range.
   */
  splitParts(units: number, workPerUnit: number): number {
    return Math.max(1, Math.min(this.plannedThreads, MAX_SPLIT_PARTS, units, Math.floor((units * workPerUnit) / MIN_PART_WORK)));
  }

  /**
   * Runs kernel `name` once per part, with the arguments `write(p, args)`
   * passes to `args` (typed as the kernel's parameters: on one thread it is
   * the kernel itself, with threads it fills the part's argument slots). `work` (multiply-adds or
   * elements, roughly) counts towards starting a lazy pool. Parts must not share output:
   * with threads they run concurrently, in any order; on one thread in order.
   * Where parts' results are combined (a sum over parts), callers fix the
   * parts from the problem alone, never from the thread count, so results
   * have the same bits on any number of threads.
   */
  runParts<K extends KernelName>(name: K, parts: number, write: (p: number, args: PartArgs<K>) => void, work = 0): void {
    if (!(Number.isInteger(parts) && parts >= 1 && parts <= MAX_SPLIT_PARTS)) {
      throw new RangeError(`runParts(${name}): parts must be an integer in [1, ${MAX_SPLIT_PARTS}], got ${parts}`);
    }
    const pool = parts < 2 ? null : this.splitPool();
    this.timedPool = pool;
    if (pool === null) {
      if (parts > 1) this.wake(work);
      const kernel = this.unsafeKernels[name] as PartArgs<K>;
      for (let p = 0; p < parts; p++) write(p, kernel);
      return;
    }
    for (let p = 0; p < parts; p++) write(p, this.partArgs<K>(pool, p));
    this.runPool(pool, pool.fn(name), parts, name);
  }

  /** The pool that ran the last runParts() call, or null if it ran on the calling thread alone. */
  private timedPool: ThreadPool | null = null;

  /**
   * @internal milliseconds part p of the last runParts() call took on the thread that ran it, or
   * null when that call ran on the calling thread alone (no pool, one part, or every worker quiet).
   */
  lastPartMs(p: number): number | null {
    return this.timedPool ? this.timedPool.chunkMs(p) : null;
  }

  /**
   * C = act(op(A)·op(B) + bias) with bias a row vector of N floats: an affine
   * layer's forward with its activation fused into the GEMM's epilogue (the
   * same bits as gemm, then biasAddForward, then the activation's kernel).
   */
  unsafeGemmBiasAct(transA: 0 | 1, transB: 0 | 1, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number, C: number, ldc: number,
    bias: number, act: FusedActivation): void {
    this.splitGemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, 0, bias, activationCode(act, 'gemmBiasAct'));
  }

  /**
   * C = op(A)·op(B) ⊙ act'(saved): a layer's input gradient and the backward of the activation
   * before the layer in one call, each thread applying it to the rows it computed (the same bits
   * as gemm, then reluBackward, sigmoidBackward or tanhBackward). `saved` is what the activation
   * kept (M×N, row stride ldc). Unsafe like unsafeGemm.
   * @throws RangeError for an activation other than 'relu', 'sigmoid' or 'tanh', or if saved's
   * M×N block overlaps C's (saved is read after C's rows are written).
   */
  unsafeGemmActBackward(transA: 0 | 1, transB: 0 | 1, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number, C: number, ldc: number,
    saved: number, act: Exclude<FusedActivation, 'none'>): void {
    const code = activationCode(act, 'gemmActBackward');
    if (code === ACTIVATION_CODES.none) throw new RangeError("gemmActBackward: act must be one of relu, sigmoid, tanh, got 'none'");
    if (M <= 0 || N <= 0) return;
    const span = 4 * ((M - 1) * ldc + N);
    if (saved < C + span && C < saved + span) {
      throw new RangeError(`gemmActBackward: saved (bytes ${saved}..${saved + span}) overlaps C (bytes ${C}..${C + span})`);
    }
    // the kernels' encoding (assembly/gemm.ts gemmActBackward): a backward code, and saved − C in bias's place
    this.splitGemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, 0, (saved - C) >>> 0, ACT_BACKWARD + code);
  }

  // gemm (bias 0), gemmBiasAct or gemmActBackward (act > ACT_BACKWARD, bias = saved − C),
  // on this thread or split across the pool.
  private splitGemm(transA: 0 | 1, transB: 0 | 1, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number, C: number, ldc: number,
    beta: number, bias: number, act: number): void {
    const parts = gemmParts(M, N, K, this.plannedThreads, this.gemmTileRows);
    const pool = parts < 2 ? null : this.splitPool();
    if (pool === null) {
      if (parts > 1) this.wake(M * N * K);
      if (bias === 0) this.unsafeKernels.gemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, beta, this.unsafeGemmWork);
      else this.unsafeKernels.gemmBiasAct(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, bias, act, this.unsafeGemmWork);
      return;
    }
    const claims = gemmRowClaims(M, N, K, parts, this.gemmTileRows);
    if (claims !== null) {
      this.splitClaimedRows(pool, claims, parts, transA, transB, M, N, K, A, lda, B, ldb, C, ldc, beta, bias, act);
      return;
    }
    const work = this.partScratch(parts, this.unsafeKernels.gemmWorkspaceBytes());
    if (bias === 0) {
      forEachGemmPart(parts, this.gemmTileRows, transA, transB, M, N, A, lda, B, ldb, C, ldc, 0, (p, m, n, a, b, c) => {
        this.partArgs<'gemm'>(pool, p)(transA, transB, m, n, K, a, lda, b, ldb, c, ldc, beta, work[p]);
      });
      this.runPool(pool, this.gemmFn, parts, 'gemm');
    } else {
      // a bias moves with a column split; saved − C does not
      const backward = act > ACT_BACKWARD;
      forEachGemmPart(parts, this.gemmTileRows, transA, transB, M, N, A, lda, B, ldb, C, ldc, backward ? 0 : bias, (p, m, n, a, b, c, partBias) => {
        this.partArgs<'gemmBiasAct'>(pool, p)(transA, transB, m, n, K, a, lda, b, ldb, c, ldc, backward ? bias : partBias, act, work[p]);
      });
      this.runPool(pool, this.gemmBiasActFn, parts, gemmName(bias, act));
    }
  }

  /**
   * C = act(A·B + bias) (bias 0: A·B, act ignored) with A M×K row-major (row stride lda) and B
   * packed once by unsafeKernels.packBPanels(0 or 1, N, K, …) into packedBFloats(N, K) floats at
   * Bp: a frozen net's Affine forward. The same bits as unsafeGemmBiasAct(0, transB, …) on the B that
   * was packed, on any thread count. Unsafe like unsafeGemm.
   */
  unsafeGemmPacked(M: number, N: number, K: number, A: number, lda: number, Bp: number, C: number, ldc: number,
    bias: number, act: FusedActivation): void {
    const code = activationCode(act, 'gemmPacked');
    const parts = gemmParts(M, N, K, this.plannedThreads, this.gemmTileRows);
    const pool = parts < 2 ? null : this.splitPool();
    if (pool === null) {
      if (parts > 1) this.wake(M * N * K);
      this.unsafeKernels.gemmPacked(M, N, K, A, lda, Bp, C, ldc, bias, code, this.unsafeGemmWork);
      return;
    }
    const work = this.partScratch(parts, this.unsafeKernels.gemmWorkspaceBytes());
    const claims = gemmRowClaims(M, N, K, parts, this.gemmTileRows, true);
    if (claims !== null) {
      const claim = this.claimWords(pool);
      claim.set([claims.groups << 16, claims.groupRows, claims.divisor, claims.least]);
      for (let p = 0; p < parts; p++) {
        this.partArgs<'gemmPackedClaimed'>(pool, p)(M, N, K, A, lda, Bp, C, ldc, bias, code, work[p], claim.byteOffset, p % 2);
      }
      this.runPool(pool, this.packedClaimedFn, parts, 'gemmPacked');
      return;
    }
    // by columns: a packed B's column j starts 4·j·K bytes in, where a B stored N×K (transB 1, ldb K) has it
    forEachGemmPart(parts, this.gemmTileRows, 0, 1, M, N, A, lda, Bp, K, C, ldc, bias, (p, m, n, a, b, c, partBias) => {
      this.partArgs<'gemmPacked'>(pool, p)(m, n, K, a, lda, b, c, ldc, partBias, code, work[p]);
    });
    this.runPool(pool, this.packedFn, parts, 'gemmPacked');
  }

  // A row split in chunks that the `parts` threads claim as they run
  // (assembly/gemm.ts gemmRowsClaimed): every part is the whole call, on its own workspace.
  private splitClaimedRows(pool: ThreadPool, claims: RowClaims, parts: number, transA: 0 | 1, transB: 0 | 1, M: number, N: number, K: number,
    A: number, lda: number, B: number, ldb: number, C: number, ldc: number, beta: number, bias: number, act: number): void {
    const work = this.partScratch(parts, this.unsafeKernels.gemmWorkspaceBytes());
    const claim = this.claimWords(pool);
    claim.set([claims.groups << 16, claims.groupRows, claims.divisor, claims.least]); // groups [0, groups) unclaimed
    for (let p = 0; p < parts; p++) {
      // the pool's calling thread claims parts from the front (part 0) and workers from the back:
      // even parts claim rows from the first on, odd parts from the last back
      this.partArgs<'gemmRowsClaimed'>(pool, p)(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, beta, bias, act, work[p], claim.byteOffset, p % 2);
    }
    this.runPool(pool, this.rowsClaimedFn, parts, gemmName(bias, act));
  }

  // gemmRowsClaimed's claim words (made with the pool).
  private claimWords(pool: ThreadPool): Int32Array {
    if (this.claim === null || this.claim.pool !== pool) throw new Error('runtime: the claim words are not this pool\'s');
    return this.claim.words;
  }

  // The one place a split call's arguments are written: part p's slots of the
  // pool, through a function typed as kernel K's parameters.
  private partArgs<K extends KernelName>(pool: ThreadPool, p: number): PartArgs<K> {
    this.slots = pool.args;
    this.slotOffset = p * MAX_ARGS;
    return this.setSlots as unknown as PartArgs<K>;
  }

  /** Work split across threads so far (zeros on one thread). */
  threadStats(): ThreadStats {
    const quietCalls = this.quietCalls;
    return this.pool ? { ...this.pool.stats(), quietCalls } : { jobs: 0, chunks: 0, workerChunks: 0, workerQuiets: 0, quietCalls };
  }

  /**
   * Terminates the worker threads (an idle pool never keeps a Node process
   * alive, but a test or a page may want them gone). The runtime stays usable
   * on the calling thread at once; the returned promise resolves when every
   * worker has exited and the memory they shared (the pool's control block,
   * the parts' scratch) is freed for reuse.
   */
  dispose(): Promise<void> {
    this.stopped = true;
    if (this.deferred) {
      // a lazy pool that never started: its memory goes as a started pool's does (retire)
      this.freePoolBlocks(this.deferred.blocks);
      for (const s of this.scratch.splice(1)) this.free(s.ptr);
    }
    this.deferred = null;
    return this.pool ? this.retire(this.pool, '') : Promise.resolve();
  }

  /** Allocates raw bytes (64-byte aligned). Prefer tensor(). */
  alloc(bytes: number): number {
    return this.allocator.alloc(bytes);
  }

  /**
   * Frees a block from alloc(). Prefer a tensor's dispose().
   * @throws Error if `ptr` is not a live allocation (freed twice, or never allocated).
   */
  free(ptr: number): void {
    this.allocator.release(ptr);
  }

  /**
   * A float32 tensor of the given shape, zero-filled or copied from `data`
   * (any array-like, including a view on this runtime's memory such as another
   * tensor's `data`). The caller owns it: dispose() frees it.
   */
  tensor(shape: Shape, data?: ArrayLike<number>): Tensor {
    const { dims, size } = shapeSnapshot(shape, 'tensor');
    const source = data === undefined ? undefined : this.detachSafe(checkedValues('tensor', dims, size, data, false));
    const t = Tensor.own(this, this.alloc(size * 4), dims);
    if (source === undefined) this.unsafeKernels.fill(t.ptr, 0, size);
    else t.data.set(source);
    return t;
  }

  /** An int32 tensor (labels, indices), zero-filled or copied from `data`; the caller owns it. */
  labels(shape: Shape | number, data?: ArrayLike<number>): IntTensor {
    const { dims, size } = shapeSnapshot(typeof shape === 'number' ? [shape] : shape, 'labels');
    const source = data === undefined ? undefined : this.detachSafe(checkedValues('labels', dims, size, data, true));
    const t = IntTensor.own(this, this.alloc(size * 4), dims);
    if (source === undefined) t.data.fill(0);
    else t.data.set(source);
    return t;
  }

  /**
   * @internal `data`, copied first when it is a view on this runtime's memory (a
   * tensor's `data`): an allocation before it is read may grow a non-shared
   * memory, which detaches it (length 0).
   */
  detachSafe<T extends ArrayLike<number>>(data: T): T {
    return ArrayBuffer.isView(data) && data.buffer === this.memory.buffer ? (data as unknown as Float32Array).slice() as unknown as T : data;
  }

  /** Fills `t` with N(mean, std²) from the seeded stream. */
  randn(t: Tensor, std = 1, mean = 0): Tensor {
    checkFloatTensor(this, t, 'randn: t');
    if (!(typeof std === 'number' && Number.isFinite(std) && std >= 0)) throw new RangeError(`randn: std must be a finite number >= 0, got ${String(std)}`);
    if (!(typeof mean === 'number' && Number.isFinite(mean))) throw new RangeError(`randn: mean must be a finite number, got ${String(mean)}`);
    this.unsafeKernels.rngNormal(t.ptr, t.size, mean, std, this.seed >>> 0, this.take(t.size + (t.size & 1)));
    return t;
  }

  /** Fills `t` with U[lo, hi) from the seeded stream. */
  uniform(t: Tensor, lo = 0, hi = 1): Tensor {
    checkFloatTensor(this, t, 'uniform: t');
    if (!(typeof lo === 'number' && Number.isFinite(lo) && typeof hi === 'number' && Number.isFinite(hi))) {
      throw new RangeError(`uniform: lo and hi must be finite numbers, got ${String(lo)} and ${String(hi)}`);
    }
    this.unsafeKernels.rngUniform(t.ptr, t.size, lo, hi, this.seed >>> 0, this.take(t.size));
    return t;
  }

  /** Reserves `n` counters of the random stream and returns the first (take(0) reads the position). */
  take(n: number): number {
    // a negative, fractional or non-number n would move the stream back, off the integers or to NaN (a
    // string concatenated): every later draw would repeat or lose its counters without a word
    if (!(Number.isSafeInteger(n) && n >= 0)) throw badNumber(n, `take: n must be a non-negative integer, got ${shown(n)}`);
    if (!Number.isSafeInteger(this.counter + n)) throw new RangeError(`take: ${n} counters from ${this.counter} pass 2^53 − 1, the last position randomState can hold`);
    if (n > 0 && this.streamHolder !== null) this.checkStream('a draw from the random stream (building a net, randn, dropout, a batch)');
    const c = this.counter;
    this.counter += n;
    return c;
  }

  /** Position in the random stream (save it with the seed to resume a run bit-identically). */
  get randomState(): { seed: number; counter: number } {
    return { seed: this.seed, counter: this.counter };
  }

  set randomState(s: { seed: number; counter: number }) {
    if (s === null || typeof s !== 'object') throw new TypeError(`randomState: expected { seed, counter } (a value read from randomState), got ${describeValue(s)}`);
    checkSeed(s.seed);
    if (!Number.isSafeInteger(s.counter) || s.counter < 0) throw new RangeError(`randomState.counter: expected a non-negative safe integer, got ${String(s.counter)}`);
    if (s.seed !== this.currentSeed || s.counter !== this.counter) this.checkStream('randomState');
    this.currentSeed = s.seed;
    this.counter = s.counter;
  }

  /**
   * @internal Holds the random stream for `who` (a Trainer's fit(), an experiment) while it awaits, when other
   * code runs: a draw, a reseed or a new position meanwhile would change its bits, and throws
   * ConcurrentRunError instead. Returns the release. The run's own draws come between its awaits.
   */
  holdStream(who: string): () => void {
    const before = this.streamHolder;
    this.streamHolder = who;
    return () => { this.streamHolder = before; };
  }

  /**
   * @internal Runs `f`, which may draw from the stream, and puts the stream where it was (seed and counter):
   * allowed while a run holds it, which finds it unchanged (loadModel's net draws initial weights the file replaces).
   */
  drawsUndone<T>(f: () => T): T {
    const holder = this.streamHolder, seed = this.currentSeed, counter = this.counter;
    this.streamHolder = null;
    try {
      return f();
    } finally {
      this.currentSeed = seed;
      this.counter = counter;
      this.streamHolder = holder;
    }
  }

  private streamHolder: string | null = null;

  /** @internal True while a Trainer's run is in progress (one at a time: Trainer.run); reseed() is refused meanwhile. */
  trainerRunning = false;

  private checkStream(what: string): void {
    if (this.streamHolder !== null) {
      throw new ConcurrentRunError(`${what}: ${this.streamHolder} is using this runtime's random stream (it is awaiting); drawing from it now would change that run's bits: wait for it, or give this work its own runtime`);
    }
  }

  /** Restarts the random stream at `seed`. */
  reseed(seed: number): void {
    checkSeed(seed);
    this.checkStream('reseed');
    // a search's trial or an experiment started from a run's callback: refused before it moves the run's stream
    if (this.trainerRunning) throw new ConcurrentRunError('reseed: a Trainer is training on this runtime; restarting its random stream would change that run\'s bits: wait for it, or give this work its own runtime');
    this.currentSeed = seed;
    this.counter = 0;
  }

  /**
   * @internal the first of `families` whose kernels this host computes wrong (src/runtime/known-answers.ts),
   * or null; each family is checked until it passes once.
   */
  knownAnswers(families: readonly KnownAnswerFamily[]): KnownAnswerFault | null {
    for (const family of families) {
      if (this.answered.has(family)) continue;
      const fault = knownAnswerFault(this, family);
      if (fault !== null) return fault;
      this.answered.add(family);
    }
    return null;
  }

  /** @internal throws, naming `who`, before a layer first runs a family of kernels this host computes wrong. */
  checkKnownAnswers(family: KnownAnswerFamily, who: string): void {
    if (this.answered.has(family)) return;
    const fault = this.knownAnswers([family]);
    if (fault !== null) throw new Error(wrongAnswersMessage(who, fault));
  }

  /**
   * @internal runs again every family that gave its answers, and throws, naming `who`, where one
   * no longer does: a Trainer calls it after its first epoch, when the kernels it ran are in the
   * host's optimized code, which the first checks (run in its baseline code) did not see.
   */
  recheckKnownAnswers(who: string): void {
    for (const family of this.answered) {
      const fault = knownAnswerFault(this, family);
      if (fault !== null) throw new Error(wrongAnswersMessage(who, fault, true));
    }
  }

  /** A snapshot of the allocator: live bytes and blocks, high-water mark, memory size (a new plain object each call). */
  memoryStats(): AllocatorStats {
    return this.allocator.stats();
  }
}

/** Throws a TypeError naming `who` unless `rt` is a Runtime (from createRuntime): a constructor's first check, before it allocates. */
export function checkRuntime(rt: unknown, who: string): asserts rt is Runtime {
  if (!(rt instanceof Runtime)) throw new TypeError(`${who}: rt must be a Runtime (from createRuntime), got ${describeValue(rt)}${otherCopyHint(rt, ['Runtime'])}`);
}

function checkSeed(seed: number): void {
  if (typeof seed !== 'number') throw new TypeError(`seed: expected an integer in [0, 2^32), got ${describeValue(seed)}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed: expected an integer in [0, 2^32), got ${String(seed)}`);
}

/**
 * Default wasm locations, next to the package's build output. Each is resolved
 * when read, not when the module loads: some hosts (workerd) give modules no
 * URL, and there the wasm must be passed in (`options.wasm`). Bundlers (Vite,
 * webpack) find each `new URL('…', import.meta.url)` and emit the file.
 */
export const defaultWasmUrls = {
  get plain(): URL { checkModuleUrl(); return new URL('../../build/simdnn.wasm', import.meta.url); },
  get relaxed(): URL { checkModuleUrl(); return new URL('../../build/simdnn-relaxed.wasm', import.meta.url); },
  get shared(): URL { checkModuleUrl(); return new URL('../../build/simdnn-shared.wasm', import.meta.url); },
  get relaxedShared(): URL { checkModuleUrl(); return new URL('../../build/simdnn-relaxed-shared.wasm', import.meta.url); },
};

function checkModuleUrl(): void {
  const url: unknown = import.meta.url;
  if (typeof url !== 'string' || !URL.canParse(url)) {
    throw new TypeError(`createRuntime: this host gives modules no URL (import.meta.url is ${String(url)}), so the packaged wasm cannot be located; pass it as options.wasm (edge runtimes: import wasm from 'simdnn/wasm/simdnn.wasm')`);
  }
}

/**
 * Loads one of the default builds (a defaultWasmUrls entry) when the options
 * give none: fetched here, read from disk in src/node. `what` names the option
 * for errors.
 */
export type DefaultWasmLoader = (url: URL, what: string) => Promise<WebAssembly.Module>;

// The default builds are fetched and compiled once per realm.
const defaultModules = new Map<string, Promise<WebAssembly.Module>>();

const fetchDefault: DefaultWasmLoader = (url, what) => {
  let m = defaultModules.get(url.href);
  if (!m) {
    m = compileSource(url, what);
    defaultModules.set(url.href, m);
    m.catch(() => defaultModules.delete(url.href));
  }
  return m;
};

/**
 * Threads to run on: the option resolved against the host, and why it had to
 * be 1 (only when threads were asked for: the default just adapts).
 */
function resolveThreads(options: RuntimeOptions, host: ThreadHost | null, relaxed: boolean): { threads: number; note?: string } {
  const { threads: asked = 'auto', maxThreads = MAX_THREADS } = options;
  const byDefault = options.threads === undefined;
  const capped = options.maxThreads === undefined;
  if (!(Number.isInteger(maxThreads) && maxThreads >= 1 && maxThreads <= MAX_THREADS)) {
    throw badNumber(maxThreads, `options.maxThreads: expected an integer in [1, ${MAX_THREADS}], got ${shown(maxThreads)}`);
  }
  if (asked !== 'auto' && !(Number.isInteger(asked) && asked >= 1)) {
    throw new RangeError(`options.threads: expected a positive integer or 'auto', got ${String(asked)}`);
  }
  const wanted = Math.min(asked === 'auto' ? (host?.cores() ?? 1) : asked, maxThreads);
  // a count asked for and capped by the caller's own maxThreads is said, as a cap by the cores is
  const cappedNote = asked !== 'auto' && asked > maxThreads ? `threads: ${asked} requested, maxThreads is ${maxThreads}; running on ${maxThreads}` : undefined;
  if (wanted === 1) return cappedNote ? { threads: 1, note: cappedNote } : { threads: 1 };
  if (byDefault) {
    // a build the caller chose is used as given: no shared build of ours behind its back
    const own = relaxed ? options.relaxedWasm !== undefined && options.relaxedSharedWasm === undefined
      : options.wasm !== undefined && options.sharedWasm === undefined;
    return { threads: own || !hasSharedMemory() || !host ? 1 : wanted };
  }
  const why = `threads: ${wanted} requested, but`;
  if (!hasSharedMemory()) {
    return { threads: 1, note: `${why} this host has no shared WebAssembly memory (SharedArrayBuffer; a page needs cross-origin isolation, the COOP/COEP headers); running on 1 thread` };
  }
  if (!host) return { threads: 1, note: `${why} this host cannot start workers (no Worker API); running on 1 thread` };
  // more threads than cores only slow a call down (and each costs a worker's start): only maxThreads allows them
  const cores = Math.max(1, host.cores());
  if (capped && wanted > cores) return { threads: cores, note: `${why} this host has ${cores} core${cores > 1 ? 's' : ''}; running on ${cores} (set maxThreads to run more)` };
  return cappedNote ? { threads: wanted, note: cappedNote } : { threads: wanted };
}

/**
 * Compiles and instantiates simdnn's wasm and returns a runtime; the caller owns
 * it (`await rt.dispose()` stops its workers). With `threads` given it resolves
 * once the workers are up; by default the pool starts lazily (see
 * {@link RuntimeOptions.threads}).
 * @throws TypeError on an unknown option; RangeError on a bad `seed`, `memory`,
 * `threads` or `maxThreads`; Error if the host lacks WebAssembly SIMD, or if a
 * build cannot be loaded or compiled (or, with `threads` given, the shared build).
 */
export function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  return createRuntimeWith(options, fetchDefault);
}

/**
 * @internal createRuntime with another loader of the default builds (src/node
 * reads them from disk). It asks for the one build the runtime will use, so a
 * host compiles nothing it does not need.
 */
export async function createRuntimeWith(options: RuntimeOptions, loadDefault: DefaultWasmLoader): Promise<Runtime> {
  const compile = async (source: WasmSource | undefined, fallback: keyof typeof defaultWasmUrls, what: string): Promise<Build> => {
    const module = await (source !== undefined ? compileSource(source, what) : loadDefault(defaultWasmUrls[fallback], `${what} not given, the default build`));
    checkBuild(module, what);
    return { module, what, shared: fallback === 'shared' || fallback === 'relaxedShared' };
  };
  if (options === null || typeof options !== 'object') throw new TypeError(`createRuntime: options must be an object, got ${options === null ? 'null' : typeof options}`);
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`createRuntime: unknown option '${key}' (expected one of ${[...OPTION_KEYS].join(', ')})`);
  }
  if (options.relaxed !== undefined && typeof options.relaxed !== 'boolean') throw new TypeError(`options.relaxed: expected true or false, got ${JSON.stringify(options.relaxed)}`);
  const seed = options.seed ?? 1;
  checkSeed(seed);
  const busyCores = options.busyCores === undefined ? 'yield' : options.busyCores;
  if (busyCores !== 'yield' && busyCores !== 'split') {
    throw new RangeError(`options.busyCores: expected 'yield' or 'split', got ${String(busyCores)}`);
  }
  if (!hasSimd()) throw new Error('createRuntime: this host lacks WebAssembly SIMD (fixed-width 128-bit), which simdnn requires');
  const memoryOption: unknown = options.memory;
  if (memoryOption !== undefined) {
    if (memoryOption === null || typeof memoryOption !== 'object') throw new TypeError(`options.memory: expected { initial?, maximum? } in 64 KiB pages, got ${describeValue(memoryOption)}`);
    for (const key of Object.keys(memoryOption)) {
      if (key !== 'initial' && key !== 'maximum') throw new TypeError(`options.memory: unknown key '${key}' (expected initial, maximum: 64 KiB pages)`);
    }
  }
  const maximum = options.memory?.maximum ?? MAX_PAGES;
  const initial = options.memory?.initial ?? 64;
  for (const [key, v] of [['initial', initial], ['maximum', maximum]] as const) {
    if (typeof v !== 'number') throw new TypeError(`options.memory.${key}: expected a number of 64 KiB pages, got ${describeValue(v)}`);
  }
  if (!Number.isInteger(initial) || !Number.isInteger(maximum) || initial < 1 || maximum < initial || maximum > MAX_PAGES) {
    throw new RangeError(`options.memory: expected integers 1 <= initial <= maximum <= ${MAX_PAGES} (64 KiB pages), got initial ${initial}, maximum ${maximum}`);
  }
  const notes: string[] = [];
  let relaxed = options.relaxed === true && hasRelaxedSimd();
  if (options.relaxed && !relaxed) {
    notes.push('relaxed SIMD requested but this host rejects it (Node 20 needs --experimental-wasm-relaxed-simd); using the plain SIMD build');
  }
  const given: unknown = options.threadHost;
  if (given !== undefined && !(given !== null && typeof given === 'object' && typeof (given as ThreadHost).cores === 'function' && typeof (given as ThreadHost).spawn === 'function')) {
    throw new TypeError(`options.threadHost: expected { cores(), spawn(body, init, options) } (a ThreadHost), got ${describeValue(given)}`);
  }
  const host = options.threadHost ?? webThreadHost();
  const { threads, note } = resolveThreads(options, host, relaxed);
  if (note) notes.push(note);
  // One thread keeps the plain (non-shared) memory; threads need the shared build.
  let shared = threads > 1;
  const single = () => (relaxed
    ? compile(options.relaxedWasm, 'relaxed', 'options.relaxedWasm')
    : compile(options.wasm, 'plain', 'options.wasm'));
  // the build `relaxed` names now (it turns false if the relaxed build gives a wrong answer)
  const load = async (): Promise<Linked> => {
    if (!shared) return link(await single());
    try {
      return link(await (relaxed
        ? compile(options.relaxedSharedWasm, 'relaxedShared', 'options.relaxedSharedWasm')
        : compile(options.sharedWasm, 'shared', 'options.sharedWasm')));
    } catch (e) {
      // threads asked for: the error stands; by default, one thread on the single-threaded build
      if (options.threads !== undefined) throw e;
      notes.push(`threads: the shared-memory build could not be loaded (${e instanceof Error ? e.message : String(e)}); running on 1 thread`);
      shared = false;
      return link(await single());
    }
  };
  const link = (build: Build): Linked => linkBuild(build, initial, maximum);
  // The builds import nothing but the memory, and the kernels are called
  // through the raw exports, so no loader: @assemblyscript/loader's wrapping of
  // every export cost ~1.5 ms of a cold start. Synchronous, on the module
  // compiled above: instantiating a compiled ~60 KB module is allowed on a
  // browser's main thread (the limit is on 8 MB modules).
  const instantiate = async (): Promise<Runtime> => {
    const { module, memory, instance } = await load();
    const features: RuntimeFeatures = { simd: true, relaxed, sharedMemory: hasSharedMemory(), threads: 1, notes };
    return new Runtime(module, memory, instance.exports as unknown as Kernels, features, seed, maximum, busyCores);
  };
  // A host can validate SIMD and still compute it wrong: the core kernels must give known answers
  // first; the relaxed build's every family, so that it can still fall back to the plain one.
  let rt = await instantiate();
  let fault = rt.knownAnswers(relaxed ? KNOWN_ANSWER_FAMILIES : ['core']);
  if (fault !== null && relaxed) {
    notes.push(`relaxed SIMD gave a wrong answer on this host (${describeFault(fault)}); using the plain SIMD build`);
    relaxed = false;
    rt = await instantiate();
    fault = rt.knownAnswers(['core']);
  }
  if (fault !== null) throw new Error(wrongAnswersMessage('createRuntime', fault));
  if (shared && options.threads === undefined) {
    try {
      rt.deferThreads(host!, threads);
    } catch (e) {
      if (!(e instanceof OutOfMemoryError)) throw e;
      // the default adapts: a memory.maximum too small for the pool's scratch keeps one thread
      notes.push(`threads: the pool's scratch (${threads} parts) does not fit options.memory.maximum (${maximum} pages); running on 1 thread`);
    }
  } else if (shared) await rt.startThreads(host!, threads);
  return rt;
}

/** A compiled build, the option it came from, and whether it is to import a shared memory. */
interface Build { module: WebAssembly.Module; what: string; shared: boolean }

/** A build instantiated on its own memory. */
interface Linked { module: WebAssembly.Module; memory: WebAssembly.Memory; instance: WebAssembly.Instance }

/** Exports every simdnn build has, and that another module is unlikely to: what tells a simdnn build apart. */
const BUILD_EXPORTS = ['heapBase', 'gemmTileRows', 'gemmWorkspaceBytes', 'softmaxForward'];

/**
 * Refuses a module that is not a simdnn build (another program's wasm given as an option), naming the option:
 * it would fail later as "kernels.x is not a function" or a link error.
 */
function checkBuild(module: WebAssembly.Module, what: string): void {
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const imports = WebAssembly.Module.imports(module);
  const missing = BUILD_EXPORTS.filter((name) => !exported.has(name));
  const importsOk = imports.length === 1 && imports[0].module === 'env' && imports[0].name === 'memory' && imports[0].kind === 'memory';
  if (missing.length > 0 || !importsOk) {
    const why = missing.length > 0 ? `it lacks the exports ${missing.join(', ')}` : `it imports ${imports.map((i) => `${i.module}.${i.name} (${i.kind})`).join(', ') || 'nothing'}, not only env.memory`;
    throw new Error(`${what}: not a simdnn build (${why}); pass one of the package's wasm builds (simdnn/wasm/…)`);
  }
}

/**
 * Instantiates `build` on a new memory, shared if the build is to be: a build of the other kind (the plain
 * build given as the shared one, or the reverse) fails to link, and the error names the option.
 */
function linkBuild(build: Build, initial: number, maximum: number): Linked {
  const memory = new WebAssembly.Memory({ initial, maximum, shared: build.shared });
  try {
    return { module: build.module, memory, instance: new WebAssembly.Instance(build.module, { env: { memory } }) };
  } catch (e) {
    if (!(e instanceof WebAssembly.LinkError)) throw e;
    const wanted = build.shared
      ? 'threads need a build on shared memory (simdnn-shared.wasm, simdnn-relaxed-shared.wasm with relaxed)'
      : 'one thread needs a build on unshared memory (simdnn.wasm, simdnn-relaxed.wasm with relaxed)';
    throw new Error(`${build.what}: the wrong build for it (${e.message}): ${wanted}`, { cause: e });
  }
}
