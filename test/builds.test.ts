// The shipped builds carry only what users call: the scalar references
// (xxxRef) live in the test build (build/test/simdnn-test.wasm), which the kernel
// tests load. scripts/build-wasm.mjs removes them from each shipped build and
// changes nothing else, so the shipped kernels are the ones the tests check.
import { describe, it, expect } from 'vitest';
import { expectBits, makeRuntime, makeTestRuntime, randomArray, wasmBytes, wasmModule } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';

const exportsOf = async (build: 'plain' | 'shared' | 'test') => WebAssembly.Module.exports(await wasmModule(build)).map((e) => e.name).sort();

describe('builds', () => {
  it('the shipped builds export every kernel of the test build but its scalar references', async () => {
    const all = await exportsOf('test');
    const refs = all.filter((n) => n.endsWith('Ref'));
    expect(refs.length).toBeGreaterThan(30);
    expect(refs).toContain('gemmRef');
    for (const build of ['plain', 'shared'] as const) {
      expect(await exportsOf(build), build).toEqual(all.filter((n) => !n.endsWith('Ref')));
      expect((await wasmBytes(build)).length, `${build} is smaller`).toBeLessThan((await wasmBytes('test')).length);
    }
  });

  it('a shipped kernel gives the bits of the same kernel in the test build', async () => {
    const product = (rt: Runtime) => {
      const [M, N, K] = [37, 29, 41];
      const A = rt.tensor([M, K], randomArray(M * K, 1)), B = rt.tensor([K, N], randomArray(K * N, 2)), C = rt.tensor([M, N]);
      rt.unsafeGemm(0, 0, M, N, K, A.ptr, K, B.ptr, N, C.ptr, N);
      return C.toArray();
    };
    expectBits(product(await makeRuntime()), product(await makeTestRuntime()), 'gemm');
  });
});
