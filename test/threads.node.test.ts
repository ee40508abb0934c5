// Node-only, in child processes on the runtime's sources (transpiled: Node 20 cannot
// run .ts): a runtime with threads, never disposed, must not keep the process
// alive (the workers are unref'd once ready), and the workers must be ready
// when createRuntime resolves. In this process: the default pool starts, and
// is used, while the calling thread never yields (a synchronous train()); and
// with the cores busy, calls stop splitting and then split again.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { removeTranspiled, transpileRuntime } from './helpers/transpiled.js';
import { expectBits } from './helpers/runtime.js';

let dir = '';
beforeAll(async () => { dir = await transpileRuntime(); });
afterAll(() => removeTranspiled(dir));

describe('threads in a Node process', () => {
  it('an idle pool lets the process exit without dispose()', () => {
    const script = `
      import { createRuntime } from './src/node/runtime.js';
      const rt = await createRuntime({ threads: 2 });
      const n = 256;
      const a = rt.tensor([n, n]), c = rt.tensor([n, n]);
      rt.uniform(a, -1, 1);
      rt.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
      console.log(JSON.stringify({ threads: rt.features.threads, notes: rt.features.notes, jobs: rt.threadStats().jobs, c0: c.data[0] }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(child.error, 'the process did not exit by itself').toBeUndefined();
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const out = JSON.parse(child.stdout);
    expect(out).toMatchObject({ threads: 2, notes: [], jobs: 1 });
    expect(out.c0).toBeGreaterThan(0); // row 0 of a·aᵀ at (0, 0) is a sum of squares
  });

  it('the workers of runtimes dropped without dispose() exit once the runtimes are collected', () => {
    const script = `
      import { readFileSync } from 'node:fs';
      import { createRuntime } from './src/node/runtime.js';
      const osThreads = () => Number(readFileSync('/proc/self/status', 'utf8').match(/^Threads:\\s+(\\d+)/m)[1]);
      // a runtime used and dropped inside a function (a top-level block's last binding may stay reachable)
      async function useAndDrop() {
        const rt = await createRuntime({ threads: 2 });
        const a = rt.tensor([256, 256]), c = rt.tensor([256, 256]);
        rt.unsafeGemm(0, 1, 256, 256, 256, a.ptr, 256, a.ptr, 256, c.ptr, 256);
      }
      const before = osThreads();
      for (let i = 0; i < 4; i++) await useAndDrop();
      const held = osThreads();
      for (let i = 0; i < 100 && osThreads() > before; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); }
      console.log(JSON.stringify({ before, held, after: osThreads() }));
    `;
    const child = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const { before, held, after } = JSON.parse(child.stdout);
    expect(held, 'a worker thread per runtime').toBeGreaterThanOrEqual(before + 4);
    expect(after, 'every dropped runtime\'s worker exited').toBeLessThanOrEqual(before);
  });

  it('the default lazy pool: a process that starts it (in the background) still exits by itself, and the pool comes up', () => {
    const script = `
      import { createRuntime } from './src/node/runtime.js';
      const rt = await createRuntime();
      const n = 256;
      const a = rt.tensor([n, n]), c = rt.tensor([n, n]);
      rt.uniform(a, -1, 1);
      // 2^24 multiply-adds a call: 8 of them start the pool (2^27), all run here
      for (let i = 0; i < 8; i++) rt.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
      const before = rt.threadStats().jobs;
      await rt.ready;
      rt.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
      console.log(JSON.stringify({ before, threads: rt.features.threads, notes: rt.features.notes, jobs: rt.threadStats().jobs }));
      rt.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(child.error, 'the process did not exit by itself').toBeUndefined();
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const cores = os.availableParallelism();
    expect(JSON.parse(child.stdout)).toEqual({ before: 0, threads: cores, notes: [], jobs: cores > 1 ? 1 : 0 });
  });

  it('await rt.dispose() at the top level resolves once the workers have exited (the process does not end first)', () => {
    const script = `
      import { createRuntime } from './src/node/runtime.js';
      const rt = await createRuntime({ threads: 2 });
      await rt.dispose();
      // and a lazy pool started by calls that never yielded: its workers' 'ready' is read only after dispose()
      const lazy = await createRuntime();
      const n = 256, a = lazy.tensor([n, n]), c = lazy.tensor([n, n]);
      for (let i = 0; i < 3000 && lazy.threadStats().workerChunks === 0; i++) lazy.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
      await lazy.dispose();
      console.log(JSON.stringify({ threads: rt.features.threads, blocks: rt.memoryStats().blocks }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(child.stderr).toBe('');
    expect(child.status, 'exit code (13: a top-level await never settled)').toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ threads: 1, blocks: 1 });
  });

  it('the default lazy pool, not started by a little work: the process exits, with no worker', () => {
    const script = `
      import { createRuntime } from './src/node/runtime.js';
      const rt = await createRuntime();
      const n = 256; // big enough to split, too little work to start the pool
      const a = rt.tensor([n, n]), c = rt.tensor([n, n]);
      rt.unsafeGemm(0, 0, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
      await rt.ready;
      console.log(JSON.stringify({ threads: rt.features.threads, shared: rt.memory.buffer instanceof SharedArrayBuffer }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ threads: 1, shared: os.availableParallelism() > 1 });
  });

  it('the packaged build is the one the thread host calls for: a host of 1 core gets the single-threaded build', async () => {
    // Node's createRuntime once guessed the build from os cores, not the host's: this host made it load the wrong one
    const { createRuntime, nodeThreadHost } = await import('../src/node/runtime.js');
    const rt = await createRuntime({ threadHost: { ...nodeThreadHost, cores: () => 1 } });
    try {
      expect(rt.features).toMatchObject({ threads: 1, notes: [] });
      expect(rt.memory.buffer instanceof SharedArrayBuffer).toBe(false);
      const a = rt.tensor([2, 2], [1, 2, 3, 4]), c = rt.tensor([2, 2]);
      rt.unsafeGemm(0, 0, 2, 2, 2, a.ptr, 2, a.ptr, 2, c.ptr, 2);
      expect([...c.data]).toEqual([7, 10, 15, 22]);
    } finally {
      rt.dispose();
    }
  });
});

describe('the default pool during synchronous work', () => {
  // Trainer.train() never yields: the pool must start, and be used, while the calling thread is busy.
  it('a synchronous Trainer.train() on the default runtime splits its calls, with the bits of one thread', { timeout: 120_000 }, async () => {
    const { createRuntime } = await import('../src/node/runtime.js');
    const { MultiLayerNet, Trainer } = await import('../src/index.js');
    const { randomArray, randomInts, expectBits } = await import('./helpers/runtime.js');
    const train = async (options: { threads?: number }) => {
      const rt = await createRuntime({ seed: 3, ...options });
      const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [512, 512], outputSize: 10 });
      const x = rt.tensor([300, 784], randomArray(300 * 784, 1, 0, 1));
      const t = rt.labels([300], randomInts(300, 2, 10));
      const trainer = new Trainer(net, x, t, x, t, { epochs: 2, miniBatchSize: 100, evaluateSampleNumPerEpoch: 100 });
      trainer.train();
      const result = { stats: rt.threadStats(), threads: rt.features.threads, params: Object.fromEntries(Object.entries(net.params).map(([k, p]) => [k, p.toArray()])) };
      await rt.dispose();
      return result;
    };
    const one = await train({ threads: 1 });
    const auto = await train({});
    const cores = os.availableParallelism();
    expect(auto.threads).toBe(cores);
    if (cores > 1) expect(auto.stats.jobs, 'calls split across the pool during train()').toBeGreaterThan(0);
    for (const key of Object.keys(one.params)) expectBits(auto.params[key], one.params[key], key);
  });

  it('workers that come up while the calling thread never yields take parts of its calls (their readiness is in the shared memory)', { timeout: 60_000 }, async () => {
    const { createRuntime } = await import('../src/node/runtime.js');
    const rt = await createRuntime({ busyCores: 'split' });
    try {
      const n = 256;
      const a = rt.tensor([n, n]), c = rt.tensor([n, n]);
      rt.uniform(a, -1, 1);
      // no await from here: 8 calls of 2^24 multiply-adds start the pool, later calls find its workers up
      let calls = 0;
      while (rt.threadStats().workerChunks === 0 && calls < 3_000) {
        rt.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
        calls++;
      }
      if (os.availableParallelism() > 1) expect(rt.threadStats().workerChunks, `parts run by workers within ${calls} calls`).toBeGreaterThan(0);
    } finally {
      await rt.dispose();
    }
  });

  it('with the cores busy (more spinning threads than cores), the worker stops spinning, after its first second up, and calls run on the calling thread with the same bits; they split again once its quiet ends', { timeout: 60_000 }, async () => {
    const { createRuntime } = await import('../src/node/runtime.js');
    const { Worker } = await import('node:worker_threads');
    const n = 128;
    const solo = await createRuntime({ threads: 1 });
    const start = performance.now(); // before the worker's first second up begins
    const rt = await createRuntime({ threads: 2 });
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const busy: InstanceType<typeof Worker>[] = [];
    try {
      const product = (r: typeof rt) => {
        const a = r.tensor([n, n]), c = r.tensor([n, n]);
        r.seed = 9;
        r.uniform(a, -1, 1);
        r.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
        return { a, c };
      };
      const expected = product(solo).c.toArray();
      const { a, c } = product(rt);
      // one busy thread per core, besides this one and the pool's worker
      const cores = os.availableParallelism();
      for (let i = 0; i < cores; i++) {
        busy.push(new Worker('const f = new Int32Array(require("node:worker_threads").workerData); while (Atomics.load(f, 0) === 0) {}', { eval: true, workerData: stop.buffer }));
      }
      // calls with pauses between them (as a training step's other work), in which the worker spins idle
      let calls = 0;
      const deadline = Date.now() + 20_000;
      while (rt.threadStats().quietCalls === 0 && Date.now() < deadline) {
        rt.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
        calls++;
        expectBits(c.data, expected, `call ${calls}`);
        const pause = performance.now() + 0.5;
        while (performance.now() < pause) { /* this thread's own work */ }
      }
      const firstQuiet = performance.now() - start;
      const busyStats = rt.threadStats();
      expect(busyStats.workerQuiets, `the worker went quiet within ${calls} calls`).toBeGreaterThan(0);
      // deschedules in the worker's first second are V8's compiler threads, not counted (threads.ts STARTUP_GRACE_MS)
      expect(firstQuiet, 'ms from createRuntime to the first quiet call').toBeGreaterThanOrEqual(1000);
      expect(busyStats.quietCalls, 'calls run on the calling thread').toBeGreaterThan(0);
      expectBits(c.data, expected, 'a call on the calling thread');
      Atomics.store(stop, 0, 1);
      await Promise.all(busy.map((w) => w.terminate()));
      busy.length = 0;
      // the longest quiet (3.2 s) ends by its timeout; the worker then spins again and the next call splits
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      rt.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
      expect(rt.threadStats().jobs, 'split again').toBe(busyStats.jobs + 1);
      expectBits(c.data, expected, 'the split call after');
    } finally {
      Atomics.store(stop, 0, 1);
      await Promise.all(busy.map((w) => w.terminate()));
      await rt.dispose();
      await solo.dispose();
    }
  });
});
