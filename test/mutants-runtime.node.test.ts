// The pool's fault text, found by a mutant that every other test let through (session 64): each call
// clears the cause recorded by the one before, so a worker's second trap is reported with its own
// cause, not the first's. Node (worker_threads, a patched worker).
import { describe, it, expect } from 'vitest';
import { createRuntime, nodeThreadHost } from '../src/node/runtime.js';
import { WorkerFault, type ThreadHost } from '../src/runtime/runtime.js';

// Worker code: every GEMM part a worker runs throws, numbered.
const throwingGemm = `
const realInstantiate = WebAssembly.instantiate;
let calls = 0;
WebAssembly.instantiate = async (module, imports) => {
  const instance = await realInstantiate(module, imports);
  const thrower = () => { throw new Error('worker trap ' + (++calls)); };
  return { exports: { ...instance.exports, gemm: thrower, gemmRowsClaimed: thrower } };
};`;

describe('a worker that traps twice', () => {
  it('each WorkerFault carries the cause of its own call', { timeout: 60_000 }, async () => {
    const host: ThreadHost = { cores: nodeThreadHost.cores, spawn: (body, init, options) => nodeThreadHost.spawn(`${body}\n${throwingGemm}`, init, options) };
    const rt = await createRuntime({ threads: 2, maxThreads: 2, busyCores: 'split', threadHost: host });
    await rt.ready;
    const N = 256; // 256³ multiply-adds: 2 parts, each long enough for a busy worker to claim one
    const A = rt.tensor([N, N]), B = rt.tensor([N, N]), C = rt.tensor([N, N]);
    const faults: string[] = [];
    // the calling thread may run both parts before the worker claims one: repeat until the worker ran two
    for (let attempt = 0; attempt < 2000 && faults.length < 2; attempt++) {
      try {
        rt.unsafeGemm(0, 0, N, N, N, A.ptr, N, B.ptr, N, C.ptr, N);
      } catch (e) {
        expect(e).toBeInstanceOf(WorkerFault);
        faults.push((e as Error).message);
      }
    }
    // which part the worker claimed depends on timing (the calling thread usually takes the first)
    expect(faults).toEqual([
      expect.stringMatching(/: part [12] of 2 in a worker thread: Error: worker trap 1$/),
      expect.stringMatching(/: part [12] of 2 in a worker thread: Error: worker trap 2$/),
    ]);
    await rt.dispose();
  });
});
