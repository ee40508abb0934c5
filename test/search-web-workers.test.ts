// The browser's parallel search executor: trials on 2 module Web Workers give
// the same bits as the inline executor on this thread, a diverging trial is
// recorded as failed, and close() terminates every worker; the package bundle
// runs the same way (its workers import the bundle), stops on abort and rejects
// a job it cannot run; a trial past its time limit has its worker terminated
// and is recorded as timed out, the others keeping their bits; a page full of dropped wasm memories still
// starts its workers. Chromium only (Node has no Web Workers: there the executor must refuse clearly, and a
// stand-in Worker whose runtime finds no room is started up to 3 more times, then names the limit).
import { describe, it, expect, vi, afterEach } from 'vitest';
import { makeRuntime, randomArray, randomInts, wasmModule } from './helpers/runtime.js';
import { choice, hyperparameterSearch, inlineExecutor, logUniform, splitSearchData, webWorkerExecutor, type Executor, type SearchRows, type SearchSpace } from '../src/search/index.js';

const hasWebWorkers = typeof Worker !== 'undefined' && typeof window !== 'undefined';

/** 100 rows of 12 features, 3 classes: a trial takes milliseconds. */
const rows: SearchRows = { x: randomArray(1200, 7), xShape: [100, 12], t: randomInts(100, 8, 3), tShape: [100] };
const data = { rows: 100, validation: 0.2, splitSeed: 3 };
// lr 1e30 diverges: those trials must come back failed, the others trained
const space: SearchSpace = { lr: choice([0.05, 1e30]), weightDecay: logUniform(1e-8, 1e-4), hidden: [8, 8], batchSize: 20 };

afterEach(() => { vi.restoreAllMocks(); });

describe('webWorkerExecutor', () => {
  it.runIf(hasWebWorkers)('copies rows given as tensors\' data: the memory growing before a worker starts leaves them whole', async () => {
    const rt = await makeRuntime({ threads: 1 });
    const x = rt.tensor([...rows.xShape], rows.x);
    const t = rt.labels([...rows.tShape], rows.t);
    const exec = webWorkerExecutor({ data: { x: x.data, xShape: rows.xShape, t: t.data, tShape: rows.tShape }, workers: 1, wasm: await wasmModule() });
    rt.memory.grow(1); // before the first trial, as a page that goes on allocating would (it emptied the views)
    try {
      const got = await hyperparameterSearch({ space: { ...space, lr: 0.05 }, trials: 1, epochs: 1, data, seed: 5, executor: exec });
      expect(got.trials[0].status).toBe('ok');
    } finally {
      await exec.close();
      await rt.dispose();
    }
  });

  it.runIf(hasWebWorkers)('gives inlineExecutor\'s bits on 2 workers, records a diverging trial as failed, and terminates its workers', async () => {
    const rt = await makeRuntime({ threads: 1 });
    const x = rt.tensor([...rows.xShape], rows.x);
    const t = rt.labels([...rows.tShape], rows.t);
    const inline = inlineExecutor(rt, (_, spec) => splitSearchData(x, t, spec));
    const expected = await hyperparameterSearch({ space, trials: 6, epochs: 2, data, seed: 5, executor: inline });
    await inline.close();
    x.dispose();
    t.dispose();
    await rt.dispose();

    const terminate = vi.spyOn(Worker.prototype, 'terminate');
    const exec = webWorkerExecutor({ data: rows, workers: 2, wasm: await wasmModule() });
    expect(exec.concurrency).toBe(2);
    let got;
    try {
      got = await hyperparameterSearch({ space, trials: 6, epochs: 2, data, seed: 5, executor: exec });
    } finally {
      await exec.close();
    }
    expect(terminate).toHaveBeenCalledTimes(2);
    await expect(exec.run({ study: 'study', index: 0, seed: 1, settings: {}, epochs: 1, data })).rejects.toThrow(/closed/);

    // every trial ran on a worker, both workers were used
    expect(new Set(got.trials.map((r) => r.worker))).toEqual(new Set(['web-worker-0', 'web-worker-1']));
    const strip = (rs: typeof got.trials) => rs.map(({ worker: _w, seconds: _s, ...r }) => r);
    expect(strip(got.trials)).toEqual(strip(expected.trials));
    for (const [i, r] of got.trials.entries()) {
      for (const [e, h] of r.history.entries()) {
        const want = expected.trials[i].history[e];
        // bit for bit, NaN included (toEqual already does; Object.is says so explicitly)
        for (const k of ['trainLoss', 'trainAcc', 'valLoss', 'valAcc'] as const) expect(Object.is(h[k], want[k])).toBe(true);
      }
    }
    const failed = got.trials.filter((r) => r.settings.lr === 1e30);
    const ok = got.trials.filter((r) => r.settings.lr === 0.05);
    expect(failed.length).toBeGreaterThan(0);
    expect(ok.length).toBeGreaterThan(0);
    for (const r of failed) { expect(r.status).toBe('failed'); expect(r.error).toMatch(/NaN/); }
    for (const r of ok) { expect(r.status).toBe('ok'); expect(r.history.map((h) => h.epoch)).toEqual([1, 2]); }
    expect(got.failed).toBe(failed.length);
  });

  it.runIf(hasWebWorkers)('starts its workers where the page\'s dropped memories fill the browser\'s room for wasm memories: the page collects them, and the trials run', async () => {
    // Chromium holds ~124 wasm memories at once in a page and its workers; a worker whose runtime finds no
    // room collects only its own heap, so without the executor's collection in the page every start fails
    let made = 0;
    (() => {
      const keep: WebAssembly.Memory[] = [];
      try { for (; made < 2000; made++) keep.push(new WebAssembly.Memory({ initial: 1 })); } catch { /* the browser's limit */ }
    })();
    expect(made, 'the page reached the browser\'s limit').toBeLessThan(2000);
    const exec = webWorkerExecutor({ data: rows, workers: 2, wasm: await wasmModule() });
    try {
      const got = await hyperparameterSearch({ space: { ...space, lr: 0.05 }, trials: 2, epochs: 1, data, seed: 5, executor: exec });
      expect(got.trials.map((r) => r.status)).toEqual(['ok', 'ok']);
    } finally {
      await exec.close();
    }
  });

  it.runIf(hasWebWorkers)('runs its trials on workers the caller makes (options.worker: a bundled app\'s own worker file), with the bits of the default workers', async () => {
    // what an app's trial-worker.js holds, as a bundler would serve it: an import of simdnn/search and one call
    const bundleUrl = new URL('../dist/bundle/search.js', import.meta.url).href;
    const file = URL.createObjectURL(new Blob([`import { startWebTrialWorker } from ${JSON.stringify(bundleUrl)};\nstartWebTrialWorker(self);\n`], { type: 'text/javascript' }));
    const wasm = await wasmModule();
    let made = 0;
    const own = webWorkerExecutor({ data: rows, workers: 2, wasm, worker: () => { made++; return new Worker(file, { type: 'module' }); } });
    const standard = webWorkerExecutor({ data: rows, workers: 2, wasm });
    try {
      const got = await hyperparameterSearch({ space, trials: 4, epochs: 1, data, seed: 5, executor: own });
      const want = await hyperparameterSearch({ space, trials: 4, epochs: 1, data, seed: 5, executor: standard });
      expect(made).toBe(2);
      const strip = (rs: typeof got.trials) => rs.map(({ worker: _w, seconds: _s, ...r }) => r);
      expect(strip(got.trials)).toEqual(strip(want.trials));
    } finally {
      await own.close();
      await standard.close();
      URL.revokeObjectURL(file);
    }
    expect(() => webWorkerExecutor({ data: rows, worker: 'trial-worker.js' as never })).toThrow(/^webWorkerExecutor: options\.worker must be a function that returns a Worker, got /);
    const bad = webWorkerExecutor({ data: rows, workers: 1, wasm, worker: () => ({}) as never });
    try {
      await expect(hyperparameterSearch({ space, trials: 1, epochs: 1, data, seed: 5, executor: bad })).rejects.toThrow(/options\.worker must return a Worker/);
    } finally {
      await bad.close();
    }
  });

  it.runIf(hasWebWorkers)('works from the package bundle, stops on abort, rejects a job it cannot run, and terminates its workers', async () => {
    // the executor of dist/bundle/search.js (simdnn/search): its workers import
    // that bundle by its own URL, and it imports the core bundle beside it
    const bundleUrl = new URL('../dist/bundle/search.js', import.meta.url).href;
    const bundle = (await import(/* @vite-ignore */ bundleUrl)) as typeof import('../src/search/index.js');
    const terminate = vi.spyOn(Worker.prototype, 'terminate');
    const exec = bundle.webWorkerExecutor({ data: rows, workers: 2, wasm: await wasmModule() });
    try {
      await expect(exec.run({ study: 'study', index: 0, seed: 1, settings: {}, epochs: 1, data: { rows: 1 } })).rejects.toThrow(/trial 0: data\.rows: expected an integer >= 2/);
      const stop = new AbortController();
      const streamed: number[] = [];
      const search = bundle.hyperparameterSearch({
        space, trials: 20, epochs: 1, data, seed: 5, executor: exec, signal: stop.signal,
        onResult: (r) => { streamed.push(r.index); stop.abort(new Error('enough')); },
      });
      await expect(search).rejects.toThrow('enough');
      // the other job in flight when it stopped is stopped, or had finished; nothing more is issued
      expect(streamed.length).toBeGreaterThanOrEqual(1);
      expect(streamed.length).toBeLessThanOrEqual(2);
      // trials of 100,000 epochs: only terminating their workers ends this search within the test's time
      const long = new AbortController();
      const stopped = bundle.hyperparameterSearch({ space: { ...space, lr: 0.05 }, trials: 2, epochs: 100_000, data, seed: 5, executor: exec, signal: long.signal });
      setTimeout(() => long.abort(new Error('long enough')), 500);
      await expect(stopped).rejects.toThrow('long enough');
      const after = await bundle.hyperparameterSearch({ space, trials: 2, epochs: 1, data, seed: 5, executor: exec });
      // the executor goes on: each slot starts a new worker for its next job
      expect(after.trials).toHaveLength(2);
      for (const r of after.trials) expect(r.status === 'failed' ? r.error : r.history.length).toEqual(r.status === 'failed' ? expect.stringMatching(/NaN/) : 1);
    } finally {
      await exec.close();
    }
    expect(terminate.mock.calls.length).toBeGreaterThanOrEqual(4); // the two long trials' workers, then close()'s
  });

  it.runIf(hasWebWorkers)('stops a trial past trialTimeoutMs by terminating its worker, records it as timed out with its epochs, and runs the rest on a new worker with their bits', async () => {
    const exec = webWorkerExecutor({ data: rows, workers: 1, wasm: await wasmModule() });
    // trial 1 asks for 10,000,000 epochs (many minutes even of these tiny ones): only the limit ends it
    const slow: Executor = { concurrency: 1, run: (job, signal) => exec.run(job.index === 1 ? { ...job, epochs: 10_000_000 } : job, signal), close: () => exec.close() };
    const study = { space: { ...space, lr: 0.05 }, trials: 4, epochs: 2, data, seed: 5 };
    try {
      const terminate = vi.spyOn(Worker.prototype, 'terminate');
      const got = await hyperparameterSearch({ ...study, executor: slow, trialTimeoutMs: 5000 });
      expect(terminate).toHaveBeenCalledTimes(1); // the timed-out trial's worker; trials 2 and 3 ran on its successor
      const plain = await hyperparameterSearch({ ...study, executor: exec });
      const t = got.trials[1];
      expect([t.status, t.epochs, t.worker]).toEqual(['timeout', 10_000_000, 'web-worker-0']);
      expect(t.history.length).toBeGreaterThan(0);
      expect(t.history.map((e) => e.epoch)).toEqual(t.history.map((_, i) => i + 1));
      expect(t.history.slice(0, 2)).toEqual(plain.trials[1].history.slice(0, t.history.length));
      expect(t.error).toBe(`timed out: stopped at the trial time limit of 5 s after ${t.history.length} of 10000000 epochs`);
      expect(got.timedOut).toBe(1);
      const strip = (r: typeof t) => { const { worker: _w, seconds: _s, ...rest } = r; return rest; };
      for (const i of [0, 2, 3]) expect(strip(got.trials[i])).toEqual(strip(plain.trials[i]));
    } finally {
      await exec.close();
    }
  });

  it.runIf(hasWebWorkers)('rejects bad options naming them, before starting a worker', () => {
    expect(() => webWorkerExecutor({ data: rows, workers: 0 })).toThrow(/workers must be a positive integer/);
    expect(() => webWorkerExecutor({ data: { ...rows, xShape: [99, 12] } })).toThrow(/data\.x has 1200 values/);
    expect(() => webWorkerExecutor({ data: { ...rows, tShape: [50] } })).toThrow(/data\.t has 100 values/);
    expect(() => webWorkerExecutor({ data: rows, threads: 2 } as never)).toThrow(/unknown option 'threads'/);
  });

  it.runIf(!hasWebWorkers)('starts a worker that found no room for its memory up to 3 more times, waiting between, and then says which limit it met (a stand-in Worker)', async () => {
    const started: string[] = [];
    const replies: unknown[] = [];
    /** A worker whose runtime fails as `replies` says, in order, then starts. */
    class StandInWorker {
      onmessage: ((e: { data: unknown }) => void) | null = null;
      onerror: ((e: unknown) => void) | null = null;
      constructor(_url: string, o: { name: string }) { started.push(o.name); }
      postMessage(): void {
        const reply = replies.shift() ?? { id: -1, error: 'RangeError: WebAssembly.Memory(): could not allocate memory' };
        queueMicrotask(() => this.onmessage?.({ data: reply }));
      }
      terminate(): void { /* nothing runs */ }
    }
    vi.stubGlobal('Worker', StandInWorker);
    try {
      const job = { study: 'study', index: 0, seed: 1, settings: {}, epochs: 1, data: { rows: 100 } };
      const exec = webWorkerExecutor({ data: rows, workers: 1, wasm: await wasmModule() });
      const timeout = vi.spyOn(globalThis, 'setTimeout');
      await expect(exec.run(job)).rejects.toThrow(/^trial 0: worker web-worker-0 failed to start \(4 tries\): RangeError: WebAssembly\.Memory\(\): could not allocate memory \(the browser holds a limited number of wasm memories in a page and its workers, ~124 in Chromium/);
      expect(started, 'started 4 times: the page collected between').toEqual(Array(4).fill('web-worker-0'));
      // the waits between starts give a terminated worker's thread time to end
      expect(timeout.mock.calls.map((c) => c[1])).toEqual([50, 250, 1000]);
      timeout.mockRestore();
      await exec.close();
      // found room at the third start: the job runs there
      started.length = 0;
      const full = { id: -1, error: 'RangeError: WebAssembly.Memory(): could not allocate memory' };
      replies.push(full, full, 'ready', { id: 0, result: { index: 0, worker: 'stand-in' } });
      const third = webWorkerExecutor({ data: rows, workers: 1, wasm: await wasmModule() });
      expect(await third.run(job)).toEqual({ index: 0, worker: 'stand-in' });
      expect(started).toHaveLength(3);
      await third.close();
      // closed while it waits to start again: no further start, the job rejected as closed
      started.length = 0;
      replies.length = 0;
      const closing = webWorkerExecutor({ data: rows, workers: 1, wasm: await wasmModule() });
      const pending = closing.run(job);
      await vi.waitFor(() => expect(started).toHaveLength(1));
      await closing.close();
      await expect(pending).rejects.toThrow(/closed/);
      await new Promise((r) => setTimeout(r, 100));
      expect(started, 'no start after close').toHaveLength(1);
      // any other failure: no second start, no hint
      started.length = 0;
      replies.push({ id: -1, error: 'Error: something else' });
      const other = webWorkerExecutor({ data: rows, workers: 1, wasm: await wasmModule() });
      await expect(other.run(job)).rejects.toThrow(/^trial 0: worker web-worker-0 failed to start: Error: something else$/);
      expect(started).toEqual(['web-worker-0']);
      await other.close();
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it.runIf(!hasWebWorkers)('refuses clearly where there are no Web Workers', () => {
    expect(() => webWorkerExecutor({ data: rows })).toThrow(/no Web Workers/);
  });
});
