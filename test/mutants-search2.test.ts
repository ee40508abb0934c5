// Tests that kill mutants the search's other tests let through (session 68): ASHA's checks at the edges (η = 2,
// Optuna's and Ray Tune's smallest reduction factor; a rung beyond the last; minEpochs above the budget), what
// resumeFrom passes on to the executor it wraps (its concurrency, the signal, close()), the sampling edges
// (uniform below a high <= 0, over a span beyond the largest double; log-uniform below a high whose 10^log10 is
// an ulp above it; a non-finite fixed value or choice), the driver (an executor of unbounded concurrency, an
// executor error or an abort that ends the search, ASHA's parallel default and check, progress totals, the
// ranking of an ASHA study), the worker pools (a job whose signal has already aborted, a slot whose worker was
// lost or could not start), the inline executor (an abort of a timed trial, a failed load retried, the data freed on close) and the
// trial's edges (the book's batch of 100 by default, ε = 1, the longest time limit, a seed beyond 32 bits, a
// timed-out result's fields).
import { describe, it, expect, beforeAll, vi } from 'vitest';
import { makeRuntime, randomArray, randomInts } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import {
  AshaScheduler, choice, hyperparameterSearch, inlineExecutor, logUniform, resumeFrom, runTrial, sampleSettings, timedOutResult, trialJob, trialNetSpec, uniform,
  type DataLoader, type Executor, type SearchSpace, type TrialJob, type TrialResult,
} from '../src/search/index.js';
import { slotPoolExecutor, TrialSlotBase, type TrialSlot } from '../src/search/slot-pool.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime(); });

/** 60 train + 20 validation rows of 12 features, 3 classes: trials take milliseconds. */
const tinyData: DataLoader = (r) => ({
  xTrain: r.tensor([60, 12], randomArray(720, 1)),
  tTrain: r.labels([60], randomInts(60, 2, 3)),
  xVal: r.tensor([20, 12], randomArray(240, 3)),
  tVal: r.labels([20], randomInts(20, 4, 3)),
});
const tinySpace: SearchSpace = { lr: logUniform(1e-3, 1), weightDecay: logUniform(1e-8, 1e-4), hidden: [8, 8], batchSize: 20 };
const space: SearchSpace = { lr: logUniform(0.01, 1), hidden: [8], batchSize: 10 };

/** The largest double below x (x > 0 or x < 0). */
function below(x: number): number {
  const f = new Float64Array([x]);
  new BigInt64Array(f.buffer)[0] += x > 0 ? -1n : 1n;
  return f[0];
}

/** A result of `job` with valAcc `valAcc` at every epoch, as a scripted executor gives it. */
function resultOf(job: TrialJob, valAcc: number): TrialResult {
  const history = Array.from({ length: job.epochs }, (_, e) => ({ epoch: e + 1, trainLoss: 1, trainAcc: 0.5, valLoss: 1, valAcc }));
  return { study: job.study, index: job.index, seed: job.seed, settings: job.settings, epochs: job.epochs, data: job.data, status: 'ok', history, worker: 'fake', seconds: 0 };
}

/**
 * An executor that trains nothing: trial i scores (i·7 mod 10)/10, each job resolving a macrotask after it is
 * issued; `ran` lists the jobs issued ([index, epochs]), `maxInFlight` the most at once.
 */
function scripted(concurrency: number) {
  const ran: Array<[number, number]> = [];
  let inFlight = 0, maxInFlight = 0;
  const exec: Executor = {
    concurrency,
    run: async (job) => {
      ran.push([job.index, job.epochs]);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 0));
      inFlight--;
      return resultOf(job, ((job.index * 7) % 10) / 10);
    },
    close: async () => undefined,
  };
  return { exec, ran, maxInFlight: () => maxInFlight };
}

describe('ASHA: the edges of its options and of record()', () => {
  it('η = 2 is a reduction factor (the smallest Optuna and Ray Tune take): rungs double, a rung promotes half its results', () => {
    const s = new AshaScheduler(4, 8, { reductionFactor: 2 });
    expect(s.rungs).toEqual([1, 2, 4, 8]);
    const [a, b] = [s.next()!, s.next()!];
    s.record(a, 0.25);
    s.record(b, 0.75);
    expect(s.next()).toEqual({ index: 1, rung: 1, epochs: 2 });
  });

  it('minEpochs above the budget is refused naming asha.minEpochs (not the inner ashaRungs)', () => {
    expect(() => new AshaScheduler(4, 3, { minEpochs: 4 })).toThrow(/^asha\.minEpochs: expected an integer in \[1, epochs = 3\], got 4$/);
  });

  it('record() refuses a rung beyond the last with its RangeError (it failed deep inside with a TypeError)', () => {
    const s = new AshaScheduler(2, 9);
    s.next();
    expect(() => s.record({ index: 0, rung: 3, epochs: 27 }, 0.5)).toThrow(RangeError);
    expect(() => s.record({ index: 0, rung: 3, epochs: 27 }, 0.5)).toThrow(/rung in \[0, 3\), index in \[0, 1\)\), got rung 3, index 0/);
  });
});

describe('resumeFrom passes the rest on to the executor it wraps', () => {
  it('its concurrency (ASHA keeps that many jobs in flight: its decisions are those of the executor alone)', async () => {
    const plain = scripted(3);
    const direct = await hyperparameterSearch({ space, trials: 9, epochs: 9, data: {}, scheduler: 'asha', executor: plain.exec });
    const wrapped = scripted(3);
    const resumed = resumeFrom(wrapped.exec, []);
    expect(resumed.concurrency).toBe(3);
    const viaResume = await hyperparameterSearch({ space, trials: 9, epochs: 9, data: {}, scheduler: 'asha', executor: resumed });
    expect(wrapped.ran).toEqual(plain.ran);
    expect(viaResume.jobs.map((j) => [j.index, j.epochs, j.objective])).toEqual(direct.jobs.map((j) => [j.index, j.epochs, j.objective]));
  });

  it("the search's signal with each job it does not answer, and close()", async () => {
    const signals: Array<AbortSignal | undefined> = [];
    let closed = 0;
    const inner: Executor = {
      concurrency: 1,
      run: async (job, signal) => { signals.push(signal); return resultOf(job, 0.5); },
      close: async () => { closed++; },
    };
    const controller = new AbortController();
    const resumed = resumeFrom(inner, []);
    await resumed.run(trialJob({ space, data: {} }, 0, 1), controller.signal);
    expect(signals).toEqual([controller.signal]);
    await resumed.close();
    expect(closed).toBe(1);
  });
});

describe('sampling edges', () => {
  it('uniform stays below a high <= 0: an ulp below −1, and the smallest double below 0', () => {
    const low = below(-1);
    for (let i = 0; i < 200; i++) {
      const s = sampleSettings({ a: uniform(low, -1), b: uniform(-Number.MIN_VALUE, 0) } as unknown as SearchSpace, 1, i);
      // half the draws round low + span·u up to high: the double below it is low
      expect([s.a, s.b], `draw ${i}`).toEqual([low, -Number.MIN_VALUE]);
    }
  });

  it("a fixed value takes no draw: a dimension's values are the same with fixed values before it (a stored study resumes)", () => {
    for (let i = 0; i < 20; i++) {
      const alone = sampleSettings({ lr: logUniform(1e-6, 1e-2), dropout: uniform(0, 0.5) }, 1, i);
      expect(sampleSettings({ batchSize: 100, lr: logUniform(1e-6, 1e-2), hidden: [8], dropout: uniform(0, 0.5) }, 1, i)).toEqual({ batchSize: 100, hidden: [8], ...alone });
    }
  });

  it('uniform over a span beyond the largest double spreads over it (it gave the double below high every time)', () => {
    let negative = 0;
    for (let i = 0; i < 2000; i++) if ((sampleSettings({ w: uniform(-1e308, 1e308) } as unknown as SearchSpace, 1, i).w as number) < 0) negative++;
    expect(Math.abs(negative / 2000 - 0.5)).toBeLessThan(0.05); // sd 0.011 over 2000 draws
  });

  it('log-uniform never draws above high, where 10^log10(high) is an ulp above it (0.07)', () => {
    const low = below(0.07);
    const drawn = new Set<number>();
    for (let i = 0; i < 100; i++) drawn.add(sampleSettings({ x: logUniform(low, 0.07) } as unknown as SearchSpace, 1, i).x as number);
    expect([...drawn].sort()).toEqual([low, 0.07]);
  });

  it('a fixed value or a choice that is not a finite number is refused naming the setting, before any job', async () => {
    let ran = 0;
    const exec: Executor = { concurrency: 1, run: async (job) => { ran++; return resultOf(job, 0.5); }, close: async () => undefined };
    const search = (s: SearchSpace) => hyperparameterSearch({ space: s, trials: 1, epochs: 1, data: {}, executor: exec });
    await expect(search({ ...space, lr: choice([0.1, NaN]) })).rejects.toThrow(/^space\.lr: a number must be finite \(settings are JSON, which has no NaN or Infinity\), got NaN$/);
    await expect(search({ ...space, activation: Infinity } as unknown as SearchSpace)).rejects.toThrow(/^space\.activation: a number must be finite \(settings are JSON, which has no NaN or Infinity\), got Infinity$/);
    expect(ran).toBe(0);
  });
});

describe('the search driver', () => {
  it('an executor of unbounded concurrency runs every trial at once', async () => {
    const { exec, maxInFlight } = scripted(Infinity);
    const r = await hyperparameterSearch({ space, trials: 3, epochs: 1, data: {}, executor: exec });
    expect(r.trials.map((t) => t.index)).toEqual([0, 1, 2]);
    expect(maxInFlight()).toBe(3);
  });

  it('an executor error ends the search: no job is issued after it, with or without ASHA', async () => {
    for (const scheduler of ['none', 'asha'] as const) {
      const ran: number[] = [];
      const exec: Executor = {
        concurrency: 2,
        run: async (job) => {
          ran.push(job.index);
          if (job.index === 0) throw new Error('worker lost');
          await new Promise((resolve) => setTimeout(resolve, 0)); // trial 1 ends after trial 0's error
          return resultOf(job, 0.5);
        },
        close: async () => undefined,
      };
      const asha = scheduler === 'asha' ? { asha: { parallel: 1 } } : {};
      await expect(hyperparameterSearch({ space, trials: 6, epochs: 3, data: {}, executor: exec, scheduler, ...asha })).rejects.toThrow('worker lost');
      expect(ran, scheduler).toEqual(scheduler === 'asha' ? [0] : [0, 1]);
    }
  });

  it('an abort rejects the search with its reason once the jobs in flight are done, though their executor finished them', async () => {
    for (const scheduler of ['none', 'asha'] as const) {
      const controller = new AbortController();
      const ran: number[] = [];
      const committed: number[] = [];
      // an executor that does not stop on the signal (a queue's jobs run on elsewhere): its job resolves
      const exec: Executor = {
        concurrency: 1,
        run: async (job) => { ran.push(job.index); controller.abort(new Error(`stop ${scheduler}`)); return resultOf(job, 0.5); },
        close: async () => undefined,
      };
      await expect(hyperparameterSearch({ space, trials: 3, epochs: 1, data: {}, executor: exec, scheduler, signal: controller.signal, onResult: (r) => committed.push(r.index) }))
        .rejects.toThrow(`stop ${scheduler}`);
      expect([ran, committed], scheduler).toEqual([[0], [0]]);
    }
  });

  it("ASHA's default parallel is the executor's concurrency: its decisions are those of asha.parallel set to it", async () => {
    const byDefault = scripted(3);
    const r = await hyperparameterSearch({ space, trials: 9, epochs: 9, data: {}, scheduler: 'asha', executor: byDefault.exec });
    expect(byDefault.maxInFlight()).toBe(3);
    const explicit = scripted(1);
    await hyperparameterSearch({ space, trials: 9, epochs: 9, data: {}, scheduler: 'asha', asha: { parallel: 3 }, executor: explicit.exec });
    expect(byDefault.ran).toEqual(explicit.ran);
    // each trial ranked once, by its furthest result
    expect(r.best.map((t) => t.index).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(r.best.map((t) => t.epochs)).toEqual(r.best.map((t) => Math.max(...r.jobs.filter((j) => j.index === t.index).map((j) => j.epochs))));
    expect(r.jobs.length).toBeGreaterThan(9);
  });

  it('asha.parallel that is not a positive integer is refused naming it, before any job', async () => {
    for (const parallel of [1.5, Infinity, 0]) {
      const { exec, ran } = scripted(1);
      await expect(hyperparameterSearch({ space, trials: 3, epochs: 3, data: {}, scheduler: 'asha', asha: { parallel }, executor: exec }))
        .rejects.toThrow(`hyperparameterSearch: asha.parallel must be a positive integer, got ${parallel}`);
      expect(ran, String(parallel)).toEqual([]);
    }
  });

  it("onResult's progress counts the results committed out of the trials (no total under ASHA)", async () => {
    const progress: Array<{ done: number; total: number | null }> = [];
    await hyperparameterSearch({ space, trials: 3, epochs: 1, data: {}, executor: scripted(1).exec, onResult: (_r, p) => progress.push(p) });
    expect(progress).toEqual([{ done: 1, total: 3 }, { done: 2, total: 3 }, { done: 3, total: 3 }]);
    const asha: Array<number | null> = [];
    await hyperparameterSearch({ space, trials: 3, epochs: 3, data: {}, scheduler: 'asha', executor: scripted(1).exec, onResult: (_r, p) => asha.push(p.total) });
    expect(asha.length).toBeGreaterThan(0);
    expect(asha.every((t) => t === null)).toBe(true);
  });
});

describe('the worker pools (slotPoolExecutor, TrialSlotBase)', () => {
  const job = (index: number) => ({ study: 's', index, seed: index, settings: {}, epochs: 1, data: {} }) as TrialJob;

  it('a job whose signal has already aborted rejects with its reason and never runs (it ran, its abort unheard)', async () => {
    const ran: number[] = [];
    const exec = slotPoolExecutor('pool', 1, () => ({ run: (p) => { ran.push(p.job.index); p.resolve({ index: p.job.index } as never); }, abort: () => {} }) as TrialSlot, async () => {});
    const controller = new AbortController();
    controller.abort(new Error('already stopped'));
    await expect(exec.run(job(0), controller.signal)).rejects.toThrow('already stopped');
    expect(ran).toEqual([]);
    await expect(exec.run(job(1))).resolves.toEqual({ index: 1 });
    expect(ran).toEqual([1]);
    await exec.close();
  });

  it('a slot whose worker is lost rejects its job and runs the next one on a new worker (the slot was never handed back)', async () => {
    const posted: number[] = [];
    let started = 0;
    class Slot extends TrialSlotBase<{ postMessage(m: { id: number }): void }> {
      protected start() { started++; return Promise.resolve({ postMessage: (m: { id: number }) => { posted.push(m.id); } }); }
      protected kill(): void {}
      die(): void { this.lose('worker died'); }
      reply(index: number): void { this.settle({ result: { index } as never }); }
    }
    let slot!: Slot;
    const exec = slotPoolExecutor('pool', 1, (i, dispatch) => { slot = new Slot(`s-${i}`, () => dispatch(slot)); return slot; }, async () => {});
    const first = exec.run(job(0));
    await Promise.resolve(); // posted
    slot.die();
    await expect(first).rejects.toThrow('trial 0: worker died');
    const second = exec.run(job(1));
    await Promise.resolve();
    expect(posted).toEqual([0, 1]);
    slot.reply(1);
    await expect(second).resolves.toEqual({ index: 1 });
    expect(started).toBe(2);
    await exec.close();
  });
  it("a slot whose worker cannot start rejects that job and is free for the next (webWorkerExecutor's options.worker giving no Worker)", async () => {
    const posted: number[] = [];
    let starts = 0;
    class Slot extends TrialSlotBase<{ postMessage(m: { id: number }): void }> {
      protected start() {
        if (++starts === 1) return Promise.reject(new TypeError('no Worker'));
        return Promise.resolve({ postMessage: (m: { id: number }) => { posted.push(m.id); this.settle({ result: { index: m.id } as never }); } });
      }
      protected kill(): void {}
    }
    const exec = slotPoolExecutor('pool', 1, (i, dispatch) => { const slot: Slot = new Slot(`s-${i}`, () => dispatch(slot)); return slot; }, async () => {});
    await expect(exec.run(job(0))).rejects.toThrow('no Worker');
    await expect(exec.run(job(1))).resolves.toEqual({ index: 1 });
    expect(posted).toEqual([1]);
    await exec.close();
  });
});

describe('the inline executor', () => {
  it("an abort of a trial with a time limit rejects with the signal's reason (not a timed-out result), between steps", async () => {
    const exec = inlineExecutor(rt, tinyData);
    const controller = new AbortController();
    const real = rt.take.bind(rt);
    let epochs = 0;
    const take = vi.spyOn(rt, 'take').mockImplementation((n: number) => {
      if (++epochs === 3) controller.abort(new Error('stopped'));
      return real(n);
    });
    try {
      const job = trialJob({ space: tinySpace, data: {}, trialTimeoutMs: 600_000 }, 0, 50);
      await expect(exec.run(job, controller.signal)).rejects.toThrow('stopped');
      expect(epochs).toBe(3); // no epoch began after the abort
    } finally {
      take.mockRestore();
      await exec.close();
    }
  });

  it('a job whose signal has already aborted rejects with its reason, with or without a time limit, and loads nothing', async () => {
    let loads = 0;
    const exec = inlineExecutor(rt, (r, spec) => { loads++; return tinyData(r, spec); });
    const controller = new AbortController();
    controller.abort(new Error('already stopped'));
    for (const trialTimeoutMs of [undefined, 600_000]) {
      await expect(exec.run(trialJob({ space: tinySpace, data: {}, trialTimeoutMs }, 0, 1), controller.signal)).rejects.toThrow('already stopped');
    }
    expect(loads).toBe(0);
    await exec.close();
  });

  it("removes its listener from the search's signal after each timed trial", async () => {
    const controller = new AbortController();
    const listeners = new Set<unknown>();
    const { signal } = controller;
    const add = signal.addEventListener.bind(signal), remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((type: string, l: EventListener, o?: AddEventListenerOptions) => { listeners.add(l); add(type, l, o); }) as typeof signal.addEventListener;
    signal.removeEventListener = ((type: string, l: EventListener, o?: EventListenerOptions) => { listeners.delete(l); remove(type, l, o); }) as typeof signal.removeEventListener;
    const exec = inlineExecutor(rt, tinyData);
    const r = await hyperparameterSearch({ space: tinySpace, trials: 3, epochs: 1, data: {}, trialTimeoutMs: 600_000, executor: exec, signal });
    await exec.close();
    expect(r.trials.map((t) => t.status)).toEqual(['ok', 'ok', 'ok']);
    expect(listeners.size).toBe(0);
  });

  it('each DataSpec has its own data: a job of another spec is not trained on the data loaded first', async () => {
    const loaded: unknown[] = [];
    const exec = inlineExecutor(rt, (r, spec) => {
      loaded.push(spec);
      const d = tinyData(r, spec) as Awaited<ReturnType<DataLoader>>;
      const rows = spec.rows as number; // the first `rows` of the training set
      const xTrain = r.tensor([rows, 12], d.xTrain.toArray().slice(0, rows * 12)), tTrain = r.labels([rows], (d.tTrain.toArray() as Int32Array).slice(0, rows));
      d.xTrain.dispose();
      d.tTrain.dispose();
      return { ...d, xTrain, tTrain };
    });
    const run = async (rows: number) => (await exec.run(trialJob({ space: tinySpace, data: { rows } }, 0, 1))).history;
    try {
      const [a, b, again] = [await run(20), await run(60), await run(20)];
      expect(loaded).toEqual([{ rows: 20 }, { rows: 60 }]);
      expect(b).not.toEqual(a);
      expect(again).toEqual(a);
    } finally {
      await exec.close();
    }
  });

  it('a data set that failed to load is loaded again for the next job; close() frees the data it loaded', async () => {
    let loads = 0, freed = 0;
    const exec = inlineExecutor(rt, (r, spec) => {
      if (++loads === 1) throw new Error('disk busy');
      const d = tinyData(r, spec) as Awaited<ReturnType<DataLoader>>;
      return { ...d, dispose: () => { freed++; for (const t of [d.xTrain, d.tTrain, d.xVal, d.tVal]) t.dispose(); } };
    });
    const job = trialJob({ space: tinySpace, data: {} }, 0, 1);
    await expect(exec.run(job)).rejects.toThrow('disk busy');
    expect((await exec.run(job)).status).toBe('ok');
    expect((await exec.run(job)).status).toBe('ok'); // loaded once
    expect(loads).toBe(2);
    await exec.close();
    await new Promise((resolve) => setTimeout(resolve, 0)); // its dispose runs once the load's promise settles
    expect(freed).toBe(1);
  });
});

describe("a trial's edges", () => {
  it("trains in the book's batches of 100 rows when the settings give none", async () => {
    const data = {
      xTrain: rt.tensor([300, 12], randomArray(3600, 21)), tTrain: rt.labels([300], randomInts(300, 22, 3)),
      xVal: rt.tensor([20, 12], randomArray(240, 23)), tVal: rt.labels([20], randomInts(20, 24, 3)),
    };
    try {
      const run = async (settings: SearchSpace) => (await runTrial(rt, trialJob({ space: { lr: 0.1, hidden: [8], ...settings }, data: {} }, 0, 2), data)).history;
      const byDefault = await run({});
      expect(byDefault).toEqual(await run({ batchSize: 100 }));
      expect(byDefault).not.toEqual(await run({ batchSize: 128 }));
    } finally {
      for (const t of Object.values(data)) t.dispose();
    }
  });

  it('labelSmoothing takes ε = 1 (as the loss and PyTorch do), not above', () => {
    expect(trialNetSpec({ labelSmoothing: 1 }, 4, 3).options).toMatchObject({ labelSmoothing: 1 });
    expect(() => trialNetSpec({ labelSmoothing: 1.5 }, 4, 3)).toThrow(/^settings\.labelSmoothing: expected a number in \[0, 1\], got 1\.5$/);
  });

  it('trialTimeoutMs takes the longest limit a timer holds (2^31 − 1 ms), not a millisecond more', async () => {
    const { exec, ran } = scripted(1);
    const r = await hyperparameterSearch({ space, trials: 1, epochs: 1, data: {}, trialTimeoutMs: 2 ** 31 - 1, executor: exec });
    expect(r.trials[0].status).toBe('ok');
    await expect(hyperparameterSearch({ space, trials: 1, epochs: 1, data: {}, trialTimeoutMs: 2 ** 31, executor: exec })).rejects.toThrow(/trialTimeoutMs must be a number of milliseconds in \(0, 2147483647\]/);
    expect(ran).toHaveLength(1);
  });

  it('runTrial refuses a job seed beyond 32 bits, naming it, before it trains', async () => {
    const job = { ...trialJob({ space, data: {} }, 0, 1), seed: 2 ** 32 };
    await expect(runTrial(rt, job, await tinyData(rt, {}))).rejects.toThrow(/^runTrial: job\.seed must be an integer in \[0, 2\^32\), got 4294967296$/);
  });

  it("a timed-out result is the job's, with the epochs done and the seconds its limit counted", () => {
    const job = trialJob({ space, data: { rows: 10 }, study: 'q', trialTimeoutMs: 1500 }, 4, 9);
    const history = [{ epoch: 1, trainLoss: 1, trainAcc: 0.5, valLoss: 1, valAcc: 0.25 }];
    expect(timedOutResult(job, history, 'w-1', 1.75)).toEqual({
      study: 'q', index: 4, seed: job.seed, settings: job.settings, epochs: 9, data: { rows: 10 }, status: 'timeout',
      error: 'timed out: stopped at the trial time limit of 1.5 s after 1 of 9 epochs', history, worker: 'w-1', seconds: 1.75,
    });
  });
});
