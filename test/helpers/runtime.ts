// Cross-host test helpers: the same test file runs in Node and in Chromium.
// In Node the runtime comes from src/node (packaged wasm read from disk); in
// the browser the wasm is fetched from the Vite server and handed, compiled,
// to the portable createRuntime.
import { expect } from 'vitest';
import { createRuntime as createCore, type Runtime, type RuntimeOptions } from '../../src/runtime/runtime.js';
import { hasRelaxedSimd } from '../../src/runtime/features.js';
import type { TestKernels } from '../../build/test/kernels-test.js';

export const host: 'node' | 'browser' = typeof window !== 'undefined' && typeof document !== 'undefined' ? 'browser' : 'node';

const wasmUrls = {
  plain: new URL('../../build/simdnn.wasm', import.meta.url),
  relaxed: new URL('../../build/simdnn-relaxed.wasm', import.meta.url),
  shared: new URL('../../build/simdnn-shared.wasm', import.meta.url),
  /** The plain build with the scalar references (xxxRef), which the shipped builds leave out. */
  test: new URL('../../build/test/simdnn-test.wasm', import.meta.url),
};

export type WasmBuild = keyof typeof wasmUrls;

/** The raw bytes of a build (read from disk in Node, fetched in the browser). */
export async function wasmBytes(build: WasmBuild = 'plain'): Promise<Uint8Array<ArrayBuffer>> {
  if (host === 'node') {
    const { readFile } = await import('node:fs/promises');
    const file = await readFile(wasmUrls[build]);
    return new Uint8Array(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength));
  }
  const response = await fetch(wasmUrls[build]);
  if (!response.ok) throw new Error(`fetching ${wasmUrls[build].href}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

const modules = new Map<WasmBuild, Promise<WebAssembly.Module>>();

/** A compiled build, compiled once per test file. */
export function wasmModule(build: WasmBuild = 'plain'): Promise<WebAssembly.Module> {
  let m = modules.get(build);
  if (!m) {
    m = wasmBytes(build).then((bytes) => WebAssembly.compile(bytes));
    modules.set(build, m);
  }
  return m;
}

/**
 * A runtime on this host, with the packaged wasm unless options name another;
 * on one thread unless `threads` is given (`threads: undefined` gives the
 * library's default, a lazy 'auto' pool).
 */
export async function makeRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  if (!('threads' in options)) options = { ...options, threads: 1 };
  if (host === 'node') {
    const { createRuntime } = await import('../../src/node/runtime.js');
    return createRuntime(options);
  }
  return createCore({
    ...options,
    wasm: options.wasm ?? (await wasmModule('plain')),
    relaxedWasm: options.relaxedWasm ?? (options.relaxed && hasRelaxedSimd() ? await wasmModule('relaxed') : undefined),
  });
}

/**
 * A one-thread runtime on the relaxed build, on every host this suite runs on: Node 20 validates
 * relaxed SIMD only behind a V8 flag, turned on just long enough to compile the build (instances
 * keep working after).
 */
export async function makeRelaxedRuntime(): Promise<Runtime> {
  if (host === 'browser' || hasRelaxedSimd()) return makeRuntime({ relaxed: true });
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  try {
    return await makeRuntime({ relaxed: true });
  } finally {
    v8.setFlagsFromString('--no-experimental-wasm-relaxed-simd');
  }
}

/** A runtime on the test build: `unsafeKernels` also has every SIMD kernel's scalar reference. */
export type TestRuntime = Runtime & { readonly unsafeKernels: TestKernels };

/** A one-thread runtime on the test build (build/test/simdnn-test.wasm), for comparing kernels with their references. */
export async function makeTestRuntime(options: RuntimeOptions = {}): Promise<TestRuntime> {
  return (await makeRuntime({ ...options, wasm: await wasmModule('test') })) as TestRuntime;
}

/** Kernel test lengths: 0, 1 and m-1, m, m+1 for every multiple m of the vector width (4) up to 64, and 67. */
export const lengths: readonly number[] = [0, 1, ...Array.from({ length: 16 }, (_, k) => [4 * k + 3, 4 * k + 4, 4 * k + 5]).flat(), 67];

/** A seeded generator of uniform numbers in [0, 1) (mulberry32): test data identical on every host. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n float32 values uniform in [lo, hi), reproducible from `seed`. */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * next());
}

/** n int32 values uniform in [0, max), reproducible from `seed`. */
export function randomInts(n: number, seed: number, max: number): Int32Array {
  const next = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(next() * max));
}

export interface Tolerance {
  /** Allowed error relative to |expected|. */
  rtol?: number;
  /** Allowed absolute error (the floor for expected values near 0). */
  atol?: number;
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| elementwise (NaN
 * matches only NaN, infinities only themselves) and reports the worst index.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, { rtol = 1e-5, atol = 0 }: Tolerance = {}, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    let ratio: number;
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) ratio = 0;
    else if (!Number.isFinite(a) || !Number.isFinite(e)) ratio = Infinity;
    else ratio = Math.abs(a - e) / (atol + rtol * Math.abs(e));
    if (ratio > worstRatio) { worstRatio = ratio; worst = i; }
  }
  if (worst >= 0 && worstRatio > 1) {
    const a = actual[worst], e = expected[worst];
    expect.fail(`${what}: worst at [${worst}] of ${expected.length}: got ${a}, expected ${e} ` +
      `(|diff| ${Math.abs(a - e)} > atol ${atol} + rtol ${rtol} * |expected|, ${worstRatio.toPrecision(3)}x the allowance)`);
  }
}

/** Asserts bit-identical float32 arrays (so -0 differs from 0 and NaN payloads count). */
export function expectBits(actual: Float32Array, expected: Float32Array, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) expect.fail(`${what}: first difference at [${i}] of ${e.length}: got ${actual[i]}, expected ${expected[i]} (bits 0x${a[i].toString(16)} vs 0x${e[i].toString(16)})`);
  }
}
