// Node-only: a worker that dies or traps in the middle of a call turns the
// call into a WorkerFault naming the kernel, with the worker's own cause, in
// bounded time; the runtime then goes on (on one thread after a death, with a
// note), and a Trainer's step runs again on the calling thread with the bits
// it would have had. dispose() keeps the pool's memory until every worker has
// exited.
// Workers here are real worker_threads started by test hosts built on
// nodeThreadHost; every test has a timeout, so a hang fails instead of stalling.
import { describe, it, expect, afterEach, beforeAll, afterAll } from 'vitest';
import { createRuntime, nodeThreadHost } from '../src/node/runtime.js';
import { WorkerFault, type Runtime, type RuntimeOptions, type ThreadHost } from '../src/runtime/runtime.js';
import { expectBits, randomArray } from './helpers/runtime.js';
import { removeTranspiled, runScript, transpileRuntime } from './helpers/transpiled.js';

const N = 192; // 192³ multiply-adds: split in two parts of 2^21
const TIMEOUT = { timeout: 60_000 };

/** The worker_threads script nodeThreadHost runs, with `patch` (worker code) evaluated before the worker starts. */
function workerScript(body: string, patch: string): string {
  return `${body}\n${patch}\nimport('node:worker_threads').then(({ workerData, parentPort }) => {
  globalThis.testData = workerData;
  simdnnWorker(workerData.init, (m) => parentPort.postMessage(m));
});\n`;
}

/**
 * Worker code that wraps the GEMM exports a split runs (`gemm`, and
 * `gemmRowsClaimed` for row splits): `onCall(n)` runs before the worker's n-th part of either.
 */
function wrapGemm(onCall: string): string {
  return `
const realInstantiate = WebAssembly.instantiate;
let gemmCalls = 0;
WebAssembly.instantiate = async (module, imports) => {
  const instance = await realInstantiate(module, imports);
  const wrap = (name) => (...args) => { const n = ++gemmCalls; ${onCall}; return instance.exports[name](...args); };
  return { exports: { ...instance.exports, gemm: wrap('gemm'), gemmRowsClaimed: wrap('gemmRowsClaimed') } };
};`;
}

const runtimes: Runtime[] = [];
async function runtime(options: RuntimeOptions): Promise<Runtime> {
  const rt = await createRuntime({ threads: 2, maxThreads: 2, busyCores: 'split', ...options });
  runtimes.push(rt);
  return rt;
}
afterEach(async () => { await Promise.all(runtimes.splice(0).map((rt) => rt.dispose())); });

/** C = A·B on `rt` for seeded A, B (N×N); returns C. */
function product(rt: Runtime): Float32Array {
  const A = rt.tensor([N, N], randomArray(N * N, 1)), B = rt.tensor([N, N], randomArray(N * N, 2)), C = rt.tensor([N, N]);
  try {
    rt.unsafeGemm(0, 0, N, N, N, A.ptr, N, B.ptr, N, C.ptr, N);
    return C.toArray();
  } finally {
    for (const t of [A, B, C]) t.dispose();
  }
}

async function oneThread(): Promise<Float32Array> {
  const rt = await runtime({ threads: 1 });
  return product(rt);
}

// The scenarios where a worker dies run in a child process: were the pool to
// wait forever again, the child's timeout ends it (a vitest timeout cannot
// stop a thread blocked in Atomics.wait).
let dir = '';
beforeAll(async () => { dir = await transpileRuntime(); });
afterAll(() => removeTranspiled(dir));

/**
 * Runs, in a child process, products on a 2-thread runtime whose pool is
 * started by `host` (a ThreadHost expression; the module has nodeThreadHost,
 * workerScript and wrapGemm in scope) until a call fails; returns what it saw.
 */
function dieScenario(host: string): { message: string; fault: string; workerDied: boolean; cause: string; threads: number; notes: string[]; sameBits: boolean } {
  const script = `
    import { Worker } from 'node:worker_threads';
    import { createRuntime, nodeThreadHost } from './src/node/runtime.js';
    const workerScript = ${workerScript.toString()};
    const wrapGemm = ${wrapGemm.toString()};
    const N = ${N};
    const product = (rt) => {
      const A = rt.tensor([N, N]), B = rt.tensor([N, N]), C = rt.tensor([N, N]);
      A.data.forEach((_, i) => { A.data[i] = ((i * 7919) % 1009) / 1009 - 0.5; B.data[i] = ((i * 104729) % 1013) / 1013 - 0.5; });
      rt.unsafeGemm(0, 0, N, N, N, A.ptr, N, B.ptr, N, C.ptr, N);
      const out = new Uint32Array(C.toArray().buffer);
      for (const t of [A, B, C]) t.dispose();
      return out;
    };
    const expected = product(await createRuntime({ threads: 1 }));
    const rt = await createRuntime({ threads: 2, maxThreads: 2, threadHost: ${host}, busyCores: 'split' });
    await rt.ready;
    let error = null;
    for (let call = 0; call < 3000 && !error; call++) { try { product(rt); } catch (e) { error = e; } }
    const after = product(rt);
    console.log(JSON.stringify({ message: error?.message, fault: error?.name, workerDied: error?.workerDied, cause: error?.cause?.message, threads: rt.features.threads, notes: rt.features.notes,
      sameBits: after.every((v, i) => v === expected[i]) }));
    await rt.dispose();
  `;
  return childResult(dir, script, 'the call');
}

/** Runs `script` in a child process in `dir` (at most 60 s) and parses the JSON it printed; fails if it hung, wrote to stderr or exited non-zero. */
function childResult<T>(dir: string, script: string, what: string): T {
  const child = runScript(dir, script, 60_000);
  expect(child.error, `the child process did not finish: ${what} hung`).toBeUndefined();
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  return JSON.parse(child.stdout) as T;
}

describe('a worker that dies mid-call', () => {
  it('exits by itself on its 3rd part: the call fails naming the kernel and the exit; later calls run on 1 thread, right', TIMEOUT, () => {
    const seen = dieScenario(`{ cores: nodeThreadHost.cores, spawn: (body, init, o) => nodeThreadHost.spawn(body + wrapGemm('if (n === 3) process.exit(3)'), init, o) }`);
    expect(seen).toEqual({
      message: 'gemm: a worker thread died running its part of the call (the worker exited with code 3)',
      fault: 'WorkerFault',
      workerDied: true,
      cause: 'the worker exited with code 3',
      threads: 1,
      notes: ['threads: a worker thread exited (the worker exited with code 3); running on 1 thread'],
      sameBits: true,
    });
  });

  it('is terminated by its parent thread while it runs a part: the call fails naming the kernel and the cause the host reported', TIMEOUT, () => {
    // Each pool worker is the child of a parent thread; on its 3rd part the
    // child raises a flag and keeps running (a long kernel), and the parent
    // terminates it and reports the exit through the shared memory, as the
    // ThreadHost contract asks: the calling thread, blocked in the call, hears of it there.
    const killingHost = `{
      cores: nodeThreadHost.cores,
      spawn(body, init) {
        const child = workerScript(body, wrapGemm('if (n === 3) { const f = new Int32Array(testData.flag); Atomics.store(f, 0, 1); Atomics.notify(f, 0); for (;;); }'));
        const parent = new Worker(body + \`
          import('node:worker_threads').then(({ Worker, workerData, parentPort }) => {
            const { init, child, flag } = workerData;
            const worker = new Worker(child, { eval: true, workerData: { init, flag } });
            worker.on('message', (m) => parentPort.postMessage(m));
            Atomics.waitAsync(new Int32Array(flag), 0, 0).value
              .then(() => worker.terminate())
              .then(() => simdnnWorkerGone(init, 'terminated by its parent thread'));
          });\`, { eval: true, workerData: { init, child, flag: new SharedArrayBuffer(4) } });
        parent.unref();
        const ready = new Promise((resolve, reject) => { parent.on('message', (m) => { if (m === 'ready') resolve(); }); parent.on('error', reject); });
        const exited = new Promise((resolve) => parent.on('exit', (code) => resolve('parent exited with code ' + code)));
        return { ready, exited, terminate: () => { void parent.terminate(); } };
      },
    }`;
    const seen = dieScenario(killingHost);
    expect(seen).toEqual({
      message: 'gemm: a worker thread died running its part of the call (terminated by its parent thread)',
      fault: 'WorkerFault',
      workerDied: true,
      cause: 'terminated by its parent thread',
      threads: 1,
      notes: ['threads: a worker thread exited (terminated by its parent thread); running on 1 thread'],
      sameBits: true,
    });
  });
});

describe('a worker that dies or traps in a Trainer step', () => {
  // the whole library, transpiled: the scenario trains a net in a child process
  let all = '';
  beforeAll(async () => { all = await transpileRuntime(true); });
  afterAll(() => removeTranspiled(all));

  // assembly/guarded.ts CHUNK: a guarded update's part goes through its range in chunks of this many floats
  const GUARD_CHUNK = 32768;

  /**
   * Worker code that wraps export `name`: on the worker's `k`-th part of it, the worker exits
   * (before running the part or after), throws the trap session 38's bench met once (before
   * running the part), or ('trap mid', guardedStep only) runs the part with its gradients moved
   * so that its second chunk lies past the end of memory: the first chunk, in free (zeroed)
   * memory, is saved and stepped, the second saved, and its check traps (a part of one chunk
   * traps in its check, after its save).
   */
  function faultIn(name: string, k: number, fault: 'exit before' | 'exit after' | 'trap' | 'trap mid'): string {
    return `
const realInstantiate = WebAssembly.instantiate;
let calls = 0;
WebAssembly.instantiate = async (module, imports) => {
  const instance = await realInstantiate(module, imports);
  const real = instance.exports.${name};
  const wrapped = (...args) => {
    const n = ++calls;
    if (n === ${k} && ${fault === 'exit before'}) process.exit(3);
    if (n === ${k} && ${fault === 'trap'}) throw new WebAssembly.RuntimeError('memory access out of bounds');
    if (n === ${k} && ${fault === 'trap mid'}) {
      // the descriptor (assembly/guarded.ts): the range's gradients at slot 5, its length at 6, Adam's (p, m, v, g, n, …) from 9
      const d = new Float64Array(imports.env.memory.buffer, args[1], 24);
      const end = imports.env.memory.buffer.byteLength;
      const g = d[6] > ${GUARD_CHUNK} ? end - 4 * ${GUARD_CHUNK} : end - 4 * (d[6] - 4);
      d[5] = g;
      d[12] = g;
    }
    const result = real(...args);
    if (n === ${k} && ${fault === 'exit after'}) process.exit(3);
    return result;
  };
  return { exports: { ...instance.exports, ${name}: wrapped } };
};`;
  }

  /**
   * Trains a 784-[100]-10 MultiLayerNetExtend with dropout and Adam on 2 threads, whose worker
   * faults as `patch` says, until a step records a fault (`fresh`: each attempt a new net and
   * Trainer from the same seed, so every step is a first update, which the worker may or may not
   * take a part of); then two more steps. Returns the faults the Trainer recorded, any error a
   * step threw, and whether the run ends with the bits of a 1-thread run of as many steps.
   */
  function trainScenario(patch: string, fresh: boolean): { faults: unknown[]; error: string | null; threads: number; sameBits: boolean; good: number } {
    // 32 MiB of memory: its last chunk is free (zeros) for 'trap mid'
    const script = `
      import { createRuntime, nodeThreadHost } from './src/node/runtime.js';
      import { MultiLayerNetExtend } from './src/nets/multi-layer-net-extend.js';
      import { Trainer } from './src/train/trainer.js';
      const workerScript = ${workerScript.toString()};
      const setup = (rt) => {
        const net = new MultiLayerNetExtend(rt, { inputSize: 784, hiddenSizeList: [100], outputSize: 10, useDropout: true, dropoutRatio: 0.1 });
        const x = rt.tensor([50, 784]), t = rt.labels([50]);
        x.data.forEach((_, i) => { x.data[i] = ((i * 7919) % 1009) / 1009; });
        t.data.forEach((_, i) => { t.data[i] = (i * 7) % 10; });
        const trainer = new Trainer(net, x, t, x, t, { epochs: 1, miniBatchSize: 50, optimizer: 'adam' });
        const state = () => JSON.stringify({
          params: Object.values(net.exportParams()).map((p) => Array.from(new Uint32Array(p.data.buffer, p.data.byteOffset, p.data.length))),
          optimizer: trainer.optimizer.state(),
          random: rt.randomState,
        });
        const dispose = () => { trainer.dispose(); net.dispose(); x.dispose(); t.dispose(); };
        return { step: () => trainer.step(x, t), faults: () => trainer.workerFaults, state, dispose };
      };
      const rt = await createRuntime({ threads: 2, maxThreads: 2, seed: 5, busyCores: 'split', memory: { initial: 512 },
        threadHost: { cores: nodeThreadHost.cores, spawn: (body, init, o) => nodeThreadHost.spawn(body + ${JSON.stringify(patch)}, init, o) } });
      await rt.ready;
      let run = null, error = null, good = 0;
      for (let i = 0; i < 300 && !error && !(run && run.faults().length > 0); i++) {
        if (run === null || ${fresh}) { run?.dispose(); rt.reseed(5); run = setup(rt); good = 0; }
        try { run.step(); good++; } catch (e) { error = e; }
      }
      for (let i = 0; i < 2 && !error; i++) { run.step(); good++; }
      const ref = setup(await createRuntime({ threads: 1, seed: 5 }));
      for (let i = 0; i < good; i++) ref.step();
      console.log(JSON.stringify({ faults: run.faults(), error: error && error.message, threads: rt.features.threads, sameBits: run.state() === ref.state(), good }));
      await rt.dispose();
    `;
    return childResult(all, script, 'the step');
  }

  const died = (kernel: string) => `${kernel}: a worker thread died running its part of the call (the worker exited with code 3)`;
  it.each([
    ['dies before running its part of the guarded update: the calling thread\'s range, updated, is put back', 'guardedStep', 'exit before', 2, died('guardedStep'), 1],
    ['dies after updating its range in the guarded update: both ranges are put back', 'guardedStep', 'exit after', 2, died('guardedStep'), 1],
    ['dies in the first update (unguarded: it makes the optimizer\'s state): everything saveParams() copied is put back', 'adamStep', 'exit after', 1, died('adamStep'), 1],
    ['traps in its part of the guarded update: the pool goes on', 'guardedStep', 'trap', 2,
      // the worker's second part: of the first call (the worker claims part 2, then part 1 when the calling thread has not yet) or of the next
      /^guardedStep: 1 of 2 parts failed: part [12] of 2 in a worker thread: RuntimeError: memory access out of bounds$/, 2],
    ['traps in the second chunk of its part of the guarded update, the first stepped: what it saved is put back', 'guardedStep', 'trap mid', 2,
      /^guardedStep: 1 of 2 parts failed: part [12] of 2 in a worker thread: RuntimeError: memory access out of bounds$/, 2],
  ] as const)('%s; the step runs again on the calling thread and training goes on, with the bits of one thread', TIMEOUT, (_, kernel, fault, k, message, threads) => {
    const seen = trainScenario(faultIn(kernel, k, fault), kernel === 'adamStep');
    expect(seen.error, 'no step threw').toBeNull();
    expect(seen.faults).toEqual([{ step: 1, during: 'step', message: typeof message === 'string' ? message : expect.stringMatching(message) }]);
    expect(seen.threads).toBe(threads);
    expect(seen.sameBits, 'the run has the bits of one thread, dropout masks and all').toBe(true);
    expect(seen.good).toBeGreaterThanOrEqual(kernel === 'adamStep' ? 3 : 4);
  });
});

describe('a kernel that traps in a worker', () => {
  it('fails the call with an Error naming the kernel and carrying the trap; the pool goes on', TIMEOUT, async () => {
    const expected = await oneThread();
    const rt = await runtime({});
    await rt.ready;
    const big = rt.tensor([1 << 22]);
    const beyond = rt.memory.buffer.byteLength + 4096; // past the end of memory: a store there traps
    // Part 1 fills 4M floats (the calling thread usually takes it: it claims
    // first); part 2 writes past the end of memory. Repeat until a worker ran part 2.
    let inWorker: Error | undefined;
    for (let attempt = 0; attempt < 200 && !inWorker; attempt++) {
      let error: Error | undefined;
      try {
        rt.runParts('fill', 2, (p, args) => args(p === 0 ? big.ptr : beyond, 1, p === 0 ? big.size : 16));
      } catch (e) { error = e as Error; }
      expect(error?.message, `attempt ${attempt}`).toMatch(/^fill: /);
      expect(error!.message, `attempt ${attempt}`).toMatch(/RuntimeError: memory access out of bounds$/);
      expect(String((error!.cause as Error).message), `attempt ${attempt}: the cause`).toMatch(/memory access out of bounds$/);
      // a worker's trap is a WorkerFault (the work may run again on the calling thread), the calling thread's a plain Error
      expect(error instanceof WorkerFault, `attempt ${attempt}: ${error!.message}`).toBe(/in a worker thread/.test(error!.message));
      if (/in a worker thread/.test(error!.message)) inWorker = error;
    }
    expect(inWorker?.message).toBe('fill: 1 of 2 parts failed: part 2 of 2 in a worker thread: RuntimeError: memory access out of bounds');
    expect((inWorker as WorkerFault).workerDied, 'the worker trapped and lives').toBe(false);
    expect(rt.features.threads).toBe(2);
    expect(rt.features.notes).toEqual([]);
    const before = rt.threadStats().jobs;
    expectBits(product(rt), expected, 'after the trap');
    expect(rt.threadStats().jobs, 'still split').toBe(before + 1);
  });
});

describe('dispose()', () => {
  it('keeps the pool\'s control block and part scratch until every worker has exited', TIMEOUT, async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    // the real workers, whose exit the test holds back: as if they took long to stop
    const slowToExit: ThreadHost = {
      cores: nodeThreadHost.cores,
      spawn(body, init, options) {
        const handle = nodeThreadHost.spawn(body, init, options);
        return { ready: handle.ready, terminate: () => handle.terminate(), exited: handle.exited!.then(async (cause) => { await gate; return cause; }) };
      },
    };
    const rt = await runtime({ threadHost: slowToExit });
    product(rt);
    const blocks = rt.memoryStats().blocks; // workspaces of both parts, the control block, the row split's claim counter
    const disposed = rt.dispose();
    expect(rt.features.threads).toBe(1);
    const t = rt.tensor([16]);
    expect(rt.memoryStats().blocks, 'nothing freed while workers may still run').toBe(blocks + 1);
    release();
    await disposed;
    expect(rt.memoryStats().blocks, 'control block, the second part\'s workspace and the claim counter freed').toBe(blocks + 1 - 3);
    t.dispose();
  });
});
