// The runtime: one WebAssembly.Memory, the kernels instantiated on it, the
// allocator that owns it, and the seeded random stream. Host-agnostic: it
// touches no Node API (src/node/ supplies the packaged wasm bytes there).
import { instantiate } from '@assemblyscript/loader';
import type { Kernels } from '../../build/kernels.js';
import { Allocator, type AllocatorStats } from './allocator.js';
import { compileSource, type WasmSource } from './source.js';
import { hasRelaxedSimd, hasSharedMemory, hasSimd } from './features.js';
import { IntTensor, Tensor, shapeSize, type Shape } from './tensor.js';

export type { Kernels };

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
}

export interface RuntimeFeatures {
  simd: true;
  /** True when the relaxed build is in use. */
  relaxed: boolean;
  /** Whether the host could run shared memory (threads); the runtime itself is single-threaded. */
  sharedMemory: boolean;
  /** Why a requested feature is off. */
  notes: string[];
}

const OPTION_KEYS = new Set(['wasm', 'relaxedWasm', 'relaxed', 'seed', 'memory']);
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit

export class Runtime {
  /** The raw kernels (typed from assembly/index.ts); see ARCHITECTURE.md for the ABI. */
  readonly kernels: Kernels;
  private readonly allocator: Allocator;
  private counter = 0;
  /** Scratch space for GEMM packing. */
  readonly gemmWork: number;

  /** @internal use createRuntime() */
  constructor(
    readonly module: WebAssembly.Module,
    readonly memory: WebAssembly.Memory,
    kernels: Kernels,
    readonly features: RuntimeFeatures,
    public seed: number,
    maxPages: number,
  ) {
    this.kernels = kernels;
    this.allocator = new Allocator(memory, kernels.heapBase(), maxPages);
    this.gemmWork = this.alloc(kernels.gemmWorkspaceBytes());
  }

  /**
   * C = op(A)·op(B) + beta·C on raw pointers (see assembly/gemm.ts). Layers call
   * this rather than the kernel so the runtime can split the work across threads.
   */
  gemm(transA: 0 | 1, transB: 0 | 1, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number, C: number, ldc: number, beta = 0): void {
    this.kernels.gemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, beta, this.gemmWork);
  }

  /** Allocates raw bytes (64-byte aligned). Prefer tensor(). */
  alloc(bytes: number): number {
    return this.allocator.alloc(bytes);
  }

  free(ptr: number): void {
    this.allocator.release(ptr);
  }

  /** A float32 tensor of the given shape, zero-filled or copied from `data`. */
  tensor(shape: Shape, data?: ArrayLike<number>): Tensor {
    const size = shapeSize(shape, 'tensor');
    if (data !== undefined && data.length !== size) {
      throw new RangeError(`tensor: shape [${shape.join(', ')}] needs ${size} values, got ${data.length}`);
    }
    const t = new Tensor(this, this.alloc(size * 4), shape, true);
    if (data === undefined) this.kernels.fill(t.ptr, 0, size);
    else t.data.set(data);
    return t;
  }

  /** An int32 tensor (labels, indices), zero-filled or copied from `data`. */
  labels(shape: Shape | number, data?: ArrayLike<number>): IntTensor {
    const s = typeof shape === 'number' ? [shape] : shape;
    const size = shapeSize(s, 'labels');
    if (data !== undefined && data.length !== size) {
      throw new RangeError(`labels: shape [${s.join(', ')}] needs ${size} values, got ${data.length}`);
    }
    const t = new IntTensor(this, this.alloc(size * 4), s, true);
    if (data === undefined) t.data.fill(0);
    else t.data.set(data);
    return t;
  }

  /** Fills `t` with N(mean, std²) from the seeded stream. */
  randn(t: Tensor, std = 1, mean = 0): Tensor {
    this.kernels.rngNormal(t.ptr, t.size, mean, std, this.seed >>> 0, this.take(t.size + (t.size & 1)));
    return t;
  }

  /** Fills `t` with U[lo, hi) from the seeded stream. */
  uniform(t: Tensor, lo = 0, hi = 1): Tensor {
    this.kernels.rngUniform(t.ptr, t.size, lo, hi, this.seed >>> 0, this.take(t.size));
    return t;
  }

  /** Reserves `n` counters of the random stream and returns the first. */
  take(n: number): number {
    const c = this.counter;
    this.counter += n;
    return c;
  }

  /** Position in the random stream (save it with the seed to resume a run bit-identically). */
  get randomState(): { seed: number; counter: number } {
    return { seed: this.seed, counter: this.counter };
  }

  set randomState(s: { seed: number; counter: number }) {
    checkSeed(s.seed);
    if (!Number.isSafeInteger(s.counter) || s.counter < 0) throw new RangeError(`randomState.counter: expected a non-negative safe integer, got ${s.counter}`);
    this.seed = s.seed;
    this.counter = s.counter;
  }

  /** Restarts the random stream at `seed`. */
  reseed(seed: number): void {
    checkSeed(seed);
    this.seed = seed;
    this.counter = 0;
  }

  memoryStats(): AllocatorStats {
    return this.allocator.stats();
  }
}

function checkSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed: expected an integer in [0, 2^32), got ${seed}`);
}

/** Default wasm locations, next to the package's build output. */
export const defaultWasmUrls = {
  plain: new URL('../../build/simdnn.wasm', import.meta.url),
  relaxed: new URL('../../build/simdnn-relaxed.wasm', import.meta.url),
};

export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`createRuntime: unknown option '${key}' (expected one of ${[...OPTION_KEYS].join(', ')})`);
  }
  const seed = options.seed ?? 1;
  checkSeed(seed);
  if (!hasSimd()) throw new Error('createRuntime: this host lacks WebAssembly SIMD (fixed-width 128-bit), which simdnn requires');
  const notes: string[] = [];
  let relaxed = false;
  let source: WasmSource = options.wasm ?? defaultWasmUrls.plain;
  if (options.relaxed) {
    if (hasRelaxedSimd()) {
      relaxed = true;
      source = options.relaxedWasm ?? defaultWasmUrls.relaxed;
    } else {
      notes.push('relaxed SIMD requested but this host rejects it (Node 20 needs --experimental-wasm-relaxed-simd); using the plain SIMD build');
    }
  }
  const module = await compileSource(source, relaxed ? 'options.relaxedWasm' : 'options.wasm');
  const maximum = options.memory?.maximum ?? MAX_PAGES;
  const initial = options.memory?.initial ?? 64;
  if (!Number.isInteger(initial) || !Number.isInteger(maximum) || initial < 1 || maximum < initial || maximum > MAX_PAGES) {
    throw new RangeError(`options.memory: expected integers 1 <= initial <= maximum <= ${MAX_PAGES} (64 KiB pages), got initial ${initial}, maximum ${maximum}`);
  }
  const memory = new WebAssembly.Memory({ initial, maximum });
  // The loader instantiates (and supplies the env imports); the kernels are then
  // called through the raw instance exports, skipping its per-call wrappers.
  const { instance } = await instantiate(module, { env: { memory } });
  const features: RuntimeFeatures = { simd: true, relaxed, sharedMemory: hasSharedMemory(), notes };
  return new Runtime(module, memory, instance.exports as unknown as Kernels, features, seed, maximum);
}
