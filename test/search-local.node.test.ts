// The default executor: trials on worker threads, each with its own runtime.
// The same study gives the same bits on 1 and 2 workers and inline on the
// calling thread; the worker that ran each trial is recorded.
import { describe, it, expect, afterAll } from 'vitest';
import { getEventListeners } from 'node:events';
import { createRequire } from 'node:module';
import { hyperparameterSearch, localExecutor, loadSearchData, BOOK_SEARCH_DATA } from '../src/node/search/index.js';
import { inlineExecutor, logUniform, choice, type Executor, type SearchResult, type SearchSpace } from '../src/search/index.js';
import { createRuntime } from '../src/node/runtime.js';
import type { PendingTrial } from '../src/search/slot-pool.js';
import type { TrialJob } from '../src/search/trial.js';

const space: SearchSpace = { lr: logUniform(1e-3, 1e-1), weightDecay: logUniform(1e-8, 1e-4), hidden: choice([[20], [20, 20]]) };
const study = { space, trials: 4, epochs: 2, seed: 11, data: BOOK_SEARCH_DATA };
const bits = (r: Awaited<ReturnType<typeof hyperparameterSearch>>) => r.trials.map((t) => ({ i: t.index, s: t.settings, h: t.history, st: t.status }));

const opened: Array<{ close(): Promise<void> }> = [];
afterAll(async () => { await Promise.all(opened.map((e) => e.close())); });

describe('local executor', () => {
  it('gives the same results on 1 and 2 worker threads and inline', async () => {
    const one = await hyperparameterSearch({ ...study, workers: 1 });
    const two = await hyperparameterSearch({ ...study, workers: 2 });
    const rt = await createRuntime({ threads: 1 });
    const inline = inlineExecutor(rt, loadSearchData);
    opened.push(inline);
    const here = await hyperparameterSearch({ ...study, executor: inline });
    expect(bits(two)).toEqual(bits(one));
    expect(bits(here)).toEqual(bits(one));
    expect(one.trials.every((t) => t.status === 'ok' && t.history.length === 2)).toBe(true);
    expect(new Set(one.trials.map((t) => t.worker))).toEqual(new Set(['thread-0']));
    expect(new Set(two.trials.map((t) => t.worker))).toEqual(new Set(['thread-0', 'thread-1']));
  });

  it('an abort terminates the trials in flight and rejects the search with the reason; the executor runs the next job with the same bits', async () => {
    const exec = localExecutor({ workers: 2 });
    opened.push(exec);
    const controller = new AbortController();
    // 2 trials of 100,000 epochs: only stopping them ends the search within the test's time
    const long = hyperparameterSearch({ ...study, trials: 2, epochs: 100_000, executor: exec, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stopped by the test')), 1000);
    await expect(long).rejects.toThrow('stopped by the test');
    const again = await hyperparameterSearch({ ...study, trials: 1, executor: exec });
    const alone = await hyperparameterSearch({ ...study, trials: 1, workers: 1 });
    expect(bits(again)).toEqual(bits(alone));
  });

  it('rejects a job whose data cannot load, and keeps working', async () => {
    const exec = localExecutor({ workers: 1 });
    opened.push(exec);
    const bad = hyperparameterSearch({ ...study, trials: 1, data: { source: '/nonexistent-dir' }, executor: exec });
    await expect(bad).rejects.toThrow(/trial 0: loadIdx: cannot read the directory \/nonexistent-dir/);
    const ok = await hyperparameterSearch({ ...study, trials: 1, executor: exec });
    expect(ok.trials[0].status).toBe('ok');
  });
});

describe('worker pools (slotPoolExecutor, under localExecutor and webWorkerExecutor)', () => {
  it('keep one abort listener per signal for all the jobs in flight (a listener a job warned past 10), and an abort stops them all', async () => {
    const { slotPoolExecutor } = await import('../src/search/slot-pool.js');
    const warnings: Error[] = [];
    const onWarning = (w: Error) => { warnings.push(w); };
    process.on('warning', onWarning);
    const aborted: number[] = [];
    // 12 slots whose jobs never end on their own: only the abort settles them
    const exec = slotPoolExecutor('pool', 12, () => {
      let current: PendingTrial | null = null;
      return { run: (p: PendingTrial) => { current = p; }, abort: (p: PendingTrial, reason: unknown) => { if (current === p) { aborted.push(p.job.index); current = null; p.reject(reason as Error); } } };
    }, async () => {});
    const controller = new AbortController();
    const job = (index: number) => ({ study: 's', index, seed: index, settings: {}, epochs: 1, data: { source: 'mnist' } }) as unknown as TrialJob;
    const runs = Array.from({ length: 14 }, (_, i) => exec.run(job(i), controller.signal)); // 12 run, 2 wait
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort(new Error('stop'));
    const settled = await Promise.allSettled(runs);
    expect(settled.map((s) => (s.status === 'rejected' ? (s.reason as Error).message : 'resolved'))).toEqual(Array(14).fill('stop'));
    expect(aborted.sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    // a job that settles takes its place off the signal: the listener goes with the last
    const other = new AbortController();
    let finish: PendingTrial | null = null;
    const one = slotPoolExecutor('pool', 1, () => ({ run: (p: PendingTrial) => { finish = p; }, abort: () => {} }), async () => {});
    const r = one.run(job(0), other.signal);
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(1);
    finish!.resolve({ index: 0 } as never);
    await r;
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 10));
    process.off('warning', onWarning);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});

describe('a reply that arrives after its job was aborted', () => {
  it('is dropped: no uncaught exception, the pool goes on with the next job', async () => {
    const { slotPoolExecutor, TrialSlotBase } = await import('../src/search/slot-pool.js');
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => { uncaught.push(e); };
    process.on('uncaughtException', onUncaught);
    // a worker whose reply to a job is already posted when the job is aborted (killing it does not recall the reply)
    class LateSlot extends TrialSlotBase<{ postMessage(m: { id: number }): void }> {
      protected start() {
        return Promise.resolve({ postMessage: (m: { id: number }) => { setTimeout(() => this.settle({ result: { index: m.id } as never }), 5); } });
      }
      protected kill(): void {}
    }
    const exec = slotPoolExecutor('late', 1, (i, dispatch) => { const s: LateSlot = new LateSlot(`late-${i}`, () => dispatch(s)); return s; }, async () => {});
    const job = (index: number) => ({ study: 's', index, seed: index, settings: {}, epochs: 1, data: { source: 'mnist' } }) as unknown as TrialJob;
    const controller = new AbortController();
    const first = exec.run(job(0), controller.signal);
    await Promise.resolve(); // the job is posted
    controller.abort(new Error('stop'));
    await expect(first).rejects.toThrow('stop');
    await new Promise((resolve) => setTimeout(resolve, 20)); // the late reply lands with no job running
    process.off('uncaughtException', onUncaught);
    expect(uncaught).toEqual([]);
    await expect(exec.run(job(1))).resolves.toEqual({ index: 1 });
  });
});

/** `inner` with trial 1 asking for 100,000 epochs (minutes of training): only a time limit ends it in a test's time. */
const withSlowTrial = (inner: Executor): Executor => ({
  concurrency: inner.concurrency,
  run: (job, signal) => inner.run(job.index === 1 ? { ...job, epochs: 100_000 } : job, signal),
  close: () => inner.close(),
});
const strip = (r: SearchResult['trials'][number]) => { const { worker: _w, seconds: _s, ...rest } = r; return rest; };

/** Trial 1 recorded as timed out after whole epochs; the others as in `plain`, the search without the limit. */
function expectTimedOut(got: SearchResult, plain: SearchResult, limitS: number): void {
  const slow = got.trials[1];
  expect(slow.status).toBe('timeout');
  expect(slow.epochs).toBe(100_000);
  expect(slow.history.length).toBeGreaterThan(0); // a 784-20-10 epoch on 400 rows takes milliseconds
  expect(slow.history.map((e) => e.epoch)).toEqual(slow.history.map((_, i) => i + 1));
  // its epochs are the trial's own: the first ones equal the same trial trained to 2 epochs (trials share no state)
  expect(slow.history.slice(0, 2)).toEqual(plain.trials[1].history.slice(0, slow.history.length));
  expect(slow.error).toBe(`timed out: stopped at the trial time limit of ${limitS} s after ${slow.history.length} of 100000 epochs`);
  expect([got.timedOut, got.failed]).toEqual([1, 0]);
  expect(got.best.at(-1)!.index).toBe(1); // ranked after every trial that finished
  for (const i of [0, 2, 3]) expect(strip(got.trials[i])).toEqual(strip(plain.trials[i]));
}

describe('trialTimeoutMs', () => {
  it('local workers: a trial past the limit has its worker terminated and replaced, and is recorded as timed out; the others keep their bits', async () => {
    // every worker thread the executor makes, and which of them have exited
    const threads = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
    const Original = threads.Worker;
    const made: InstanceType<typeof Original>[] = [];
    const exited = new Set<unknown>();
    threads.Worker = class extends Original {
      constructor(...args: ConstructorParameters<typeof Original>) { super(...args); made.push(this); }
      emit(event: string | symbol, ...rest: unknown[]): boolean { if (event === 'exit') exited.add(this); return super.emit(event, ...rest); }
    };
    let got: SearchResult;
    const exec = localExecutor({ workers: 1 });
    try {
      got = await hyperparameterSearch({ ...study, executor: withSlowTrial(exec), trialTimeoutMs: 5000 });
      // one slot: trials 0 and 1 on its first worker, then 2 and 3 on the one started after the first was terminated
      expect(made).toHaveLength(2);
      for (let t = 0; !exited.has(made[0]); t++) {
        if (t > 200) throw new Error('the timed-out trial\'s worker thread is still running');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(exited.has(made[1])).toBe(false);
    } finally {
      threads.Worker = Original;
      await exec.close();
    }
    expect(exited.has(made[1])).toBe(true);
    expect(got.trials.map((t) => t.worker)).toEqual(['thread-0', 'thread-0', 'thread-0', 'thread-0']);
    const plain = await hyperparameterSearch({ ...study, workers: 1 });
    expectTimedOut(got, plain, 5);
  });

  it('inline: a trial past the limit stops between steps and is recorded as timed out; the others keep their bits', async () => {
    const rt = await createRuntime({ threads: 1 });
    const exec = inlineExecutor(rt, loadSearchData);
    opened.push(exec);
    const got = await hyperparameterSearch({ ...study, executor: withSlowTrial(exec), trialTimeoutMs: 5000 });
    const plain = await hyperparameterSearch({ ...study, executor: exec });
    expectTimedOut(got, plain, 5);
    expect(got.trials[1].worker).toBe('inline');
  });

  it('rejects a limit that is not a positive number of ms a timer can hold, naming the option, before any job', async () => {
    let ran = 0;
    const exec: Executor = { concurrency: 1, run: () => { ran++; return Promise.reject(new Error('ran')); }, close: async () => {} };
    for (const bad of [0, -1, NaN, Infinity, 2 ** 31, '5000']) {
      await expect(hyperparameterSearch({ ...study, executor: exec, trialTimeoutMs: bad as number }))
        .rejects.toThrow(/^hyperparameterSearch: trialTimeoutMs must be a number of milliseconds in \(0, 2147483647\]/);
    }
    expect(ran).toBe(0);
  });
});
