// The portable search: sampling from a space, the ASHA scheduler's decisions,
// and whole searches on the inline executor with a tiny synthetic data set
// (a failed trial recorded and the search going on; ASHA deterministic and
// cheaper than the full search).
import { describe, it, expect, beforeAll, vi } from 'vitest';
import { makeRuntime, randomArray, randomInts } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { AdamW, ConcurrentRunError, Momentum, MultiLayerNet, SGD, Trainer } from '../src/index.js';
import {
  AshaScheduler, ashaRungs, resumeFrom, type Executor, choice, hyperparameterSearch, inlineExecutor, int, logUniform, runTrial, sampleSettings, trialSeed,
  trialJob, uniform, checkSpace, checkSpaceSettings, searchChart, type DataLoader, type Dimension, type SearchSpace, type SettingValue, type TrialResult,
} from '../src/search/index.js';

/** A space of any names, as sampleSettings draws it (a search refuses the names no trial takes). */
type AnySpace = Record<string, Dimension | SettingValue>;

/** 60 train + 20 validation rows of 12 features, 3 classes: trials take milliseconds. */
const tinyData: DataLoader = (rt) => ({
  xTrain: rt.tensor([60, 12], randomArray(720, 1)),
  tTrain: rt.labels([60], randomInts(60, 2, 3)),
  xVal: rt.tensor([20, 12], randomArray(240, 3)),
  tVal: rt.labels([20], randomInts(20, 4, 3)),
});
const tinySpace: SearchSpace = { lr: logUniform(1e-3, 1), weightDecay: logUniform(1e-8, 1e-4), hidden: [8, 8], batchSize: 20 };

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime(); });

describe('space', () => {
  it('draws each dimension within its range, from (seed, index) alone', () => {
    const space: AnySpace = { lr: logUniform(1e-6, 1e-2), wd: uniform(-1, 1), n: int(2, 4), opt: choice(['sgd', 'adam']), fixed: [1, 2] };
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const s = sampleSettings(space, 7, i);
      expect(s.lr).toBeGreaterThanOrEqual(1e-6);
      expect(s.lr).toBeLessThan(1e-2);
      expect(s.wd).toBeGreaterThanOrEqual(-1);
      expect(s.wd).toBeLessThan(1);
      expect([2, 3, 4]).toContain(s.n);
      seen.add(s.n as number);
      expect(['sgd', 'adam']).toContain(s.opt);
      expect(s.fixed).toEqual([1, 2]);
      expect(sampleSettings(space, 7, i)).toEqual(s);
    }
    expect(seen.size).toBe(3);
    expect(sampleSettings(space, 8, 0)).not.toEqual(sampleSettings(space, 7, 0));
    // the book's exponent: log10(lr) spread over (−6, −2)
    const exps = Array.from({ length: 200 }, (_, i) => Math.log10(sampleSettings(space, 7, i).lr as number));
    expect(Math.min(...exps)).toBeLessThan(-5.8);
    expect(Math.max(...exps)).toBeGreaterThan(-2.2);
  });

  it('a degenerate range gives its bound exactly; uniform stays below high at large magnitudes and over the widest span', () => {
    for (const v of [3e-4, 0.07, 5e-5]) for (let i = 0; i < 20; i++) expect(sampleSettings({ x: logUniform(v, v) } as AnySpace, 1, i).x).toBe(v); // 10 ** log10(3e-4) is 3.0000000000000014e-4
    expect(sampleSettings({ x: uniform(0.3, 0.3) } as AnySpace, 1, 0).x).toBe(0.3);
    const space: AnySpace = { big: uniform(1e15, 1e15 + 1), wide: uniform(-1e308, 1e308) };
    for (let i = 0; i < 2000; i++) {
      const s = sampleSettings(space, 1, i);
      expect(s.big).toBeGreaterThanOrEqual(1e15);
      expect(s.big).toBeLessThan(1e15 + 1); // lo + (hi − lo)·u rounded up to hi for ~6% of these draws
      expect(Math.abs(s.wide as number)).toBeLessThanOrEqual(1e308); // high − low overflowed to Infinity
    }
  });

  it('an int range wider than 2^32 reaches every residue; the widest stays in range', () => {
    const residues = new Set<number>();
    let sum = 0;
    for (let i = 0; i < 2000; i++) {
      const { k, w } = sampleSettings({ k: int(0, 2 ** 40), w: int(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) } as AnySpace, 1, i) as { k: number; w: number };
      expect(Number.isInteger(k) && k >= 0 && k <= 2 ** 40).toBe(true);
      expect(Number.isSafeInteger(w)).toBe(true);
      residues.add(k % 256);
      sum += k / 2 ** 40;
    }
    expect(residues.size).toBeGreaterThan(240); // 32 bits scaled by 2^40 gave multiples of 256 only (1 residue); 2000 draws over 256 miss ~0
    expect(Math.abs(sum / 2000 - 0.5)).toBeLessThan(0.03); // the mean of U(0, 1): sd 0.0065 over 2000 draws
  });

  it("a known seed's settings are those drawn before the sampling edges were fixed (ranges up to 2^32 draw as they did)", () => {
    const space: AnySpace = { lr: logUniform(1e-6, 1e-2), weightDecay: logUniform(1e-8, 1e-4), dropout: uniform(0, 0.5), hidden: int(16, 256), wide: int(-(2 ** 31), 2 ** 31 - 1), opt: choice(['sgd', 'adam', 'momentum']), batch: 100 };
    // the log-uniform values are the nearest doubles (exactPow10); Node 20's `10 ** x` drew
    // 0.0007108324915607929 for the last lr, an ulp above (Chromium's was this one)
    const before: Array<[number, number, Record<string, unknown>]> = [
      [1, 0, { lr: 0.000537884279236594, weightDecay: 3.0834873316060977e-7, dropout: 0.4184250548714772, hidden: 208, wide: -35970298, opt: 'adam', batch: 100 }],
      [1, 7, { lr: 0.006188590943970977, weightDecay: 0.00006704533307189939, dropout: 0.17368594522122294, hidden: 153, wide: 2067044837, opt: 'momentum', batch: 100 }],
      [42, 3, { lr: 0.000497198493188939, weightDecay: 0.0000074069498327579205, dropout: 0.20981723989825696, hidden: 26, wide: 1752636225, opt: 'adam', batch: 100 }],
      [0xffffffff, 99, { lr: 0.0007108324915607928, weightDecay: 0.000050108169602411835, dropout: 0.14346804295200855, hidden: 256, wide: 203931259, opt: 'adam', batch: 100 }],
    ];
    for (const [seed, index, settings] of before) expect(sampleSettings(space, seed, index)).toEqual(settings);
  });

  it('rejects bad dimensions and names the setting', () => {
    expect(() => logUniform(0, 1)).toThrow(/logUniform: low must be > 0/);
    expect(() => int(1.5, 3)).toThrow(/int: low and high must be integers/);
    expect(() => uniform(2, 1)).toThrow(/low must be <= high/);
    expect(() => choice([])).toThrow(/non-empty/);
    const exec = inlineExecutor(rt, tinyData);
    const bad = { lr: { kind: 'logUniform', low: -1, high: 1 } } as unknown as SearchSpace;
    return expect(hyperparameterSearch({ space: bad, trials: 1, epochs: 1, data: {}, executor: exec })).rejects.toThrow(/space\.lr: logUniform: low must be > 0/);
  });
});

describe('ASHA scheduler', () => {
  it('rungs grow by the reduction factor and end at the full budget', () => {
    expect(ashaRungs(50, 1, 3)).toEqual([1, 3, 9, 27, 50]);
    expect(ashaRungs(9, 1, 3)).toEqual([1, 3, 9]);
    expect(ashaRungs(4, 4, 2)).toEqual([4]);
    expect(() => new AshaScheduler(4, 9, { reductionFactor: 1 })).toThrow(/asha.reductionFactor/);
  });

  it('promotes the top 1/η of a rung, best first, and never a failed trial', () => {
    const s = new AshaScheduler(6, 9, { reductionFactor: 3 });
    const jobs = [s.next()!, s.next()!, s.next()!];
    expect(jobs.map((j) => [j.index, j.epochs])).toEqual([[0, 1], [1, 1], [2, 1]]);
    s.record(jobs[0], 0.2);
    s.record(jobs[1], -Infinity);
    s.record(jobs[2], 0.5);
    expect(s.next()).toEqual({ index: 2, rung: 1, epochs: 3 }); // 3 results: the best 1 goes up
    expect(s.next()).toEqual({ index: 3, rung: 0, epochs: 1 }); // nothing else to promote: a new trial
  });
});

describe('search on the inline executor', () => {
  it('records a diverging trial as failed and goes on', async () => {
    const space: SearchSpace = { ...tinySpace, lr: choice([0.1, 1e30]) };
    const exec = inlineExecutor(rt, tinyData);
    const streamed: number[] = [];
    const r = await hyperparameterSearch({ space, trials: 6, epochs: 2, data: {}, executor: exec, onResult: (x) => streamed.push(x.index) });
    await exec.close();
    expect(r.trials).toHaveLength(6);
    expect(streamed.sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const failed = r.trials.filter((t) => t.settings.lr === 1e30);
    expect(failed.length).toBeGreaterThan(0);
    for (const t of failed) {
      expect(t.status).toBe('failed');
      expect(t.error).toMatch(/NaN/);
      expect(t.objective).toBe(-Infinity);
    }
    expect(r.failed).toBe(failed.length);
    const ok = r.trials.filter((t) => t.settings.lr === 0.1);
    for (const t of ok) expect(t.history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(r.best[0].status).toBe('ok');
    expect(r.best.at(-1)!.status).toBe('failed');
  });

  it('an abort mid-trial stops the trial between steps and rejects the search with the reason; nothing is committed', async () => {
    for (const scheduler of ['none', 'asha'] as const) {
      const exec = inlineExecutor(rt, tinyData);
      const controller = new AbortController();
      const real = rt.take.bind(rt);
      let epochs = 0;
      // a permutation per epoch: the third epoch of the first trial aborts
      const take = vi.spyOn(rt, 'take').mockImplementation((n: number) => {
        if (++epochs === 3) controller.abort(new Error(`stop ${scheduler}`));
        return real(n);
      });
      const committed: number[] = [];
      await expect(hyperparameterSearch({ space: tinySpace, trials: 4, epochs: 50, data: {}, executor: exec, scheduler, signal: controller.signal, onResult: (r) => committed.push(r.index) }))
        .rejects.toThrow(`stop ${scheduler}`);
      take.mockRestore();
      expect(epochs, scheduler).toBe(3); // no epoch began after the abort
      expect(committed, scheduler).toEqual([]);
      await exec.close();
    }
    // the runtime is as usable as before
    const exec = inlineExecutor(rt, tinyData);
    expect((await hyperparameterSearch({ space: tinySpace, trials: 1, epochs: 1, data: {}, executor: exec })).trials[0].status).toBe('ok');
    await exec.close();
  });

  it('a search on a runtime another Trainer is training on rejects with a ConcurrentRunError, recording no failed trial', async () => {
    const d = await tinyData(rt, {});
    const net = new MultiLayerNet(rt, { inputSize: 12, hiddenSizeList: [8], outputSize: 3 });
    const trainer = new Trainer(net, d.xTrain, d.tTrain, d.xVal, d.tVal, { epochs: 2, miniBatchSize: 20, optimizer: new SGD({ lr: 0.1 }), adaptiveThreads: false });
    const exec = inlineExecutor(rt, tinyData);
    const committed: number[] = [];
    let search = null as Promise<unknown> | null; // set in the callback: not narrowed to null
    await trainer.fit({ callbacks: { onStepEnd: async () => {
      if (search) return;
      search = hyperparameterSearch({ space: tinySpace, trials: 2, epochs: 1, data: {}, executor: exec, onResult: (r) => committed.push(r.index) })
        .then(() => 'ran', (e: unknown) => e);
      await search; // the run waits for its callback: the search's trial starts while it is in progress
    } } });
    const outcome = await search;
    expect(outcome).toBeInstanceOf(ConcurrentRunError);
    expect((outcome as Error).message).toMatch(/^reseed: a Trainer('s fit\(\) is using| is training on) this runtime/); // refused before the trial moved the run's stream
    expect(committed).toEqual([]);
    await exec.close();
    trainer.dispose();
    net.dispose();
    for (const t of [d.xTrain, d.tTrain, d.xVal, d.tVal]) t.dispose();
  });

  it('a trial gives the same bits run alone on a fresh runtime as inside a search', async () => {
    const exec = inlineExecutor(rt, tinyData);
    const r = await hyperparameterSearch({ space: tinySpace, trials: 3, epochs: 2, seed: 5, data: {}, executor: exec });
    await exec.close();
    const fresh = await makeRuntime();
    const job = trialJob({ space: tinySpace, data: {}, seed: 5 }, 2, 2);
    const alone = await runTrial(fresh, job, await tinyData(fresh, {}));
    expect(alone.history).toEqual(r.trials[2].history);
    expect(alone.settings).toEqual(r.trials[2].settings);
  });

  it('ASHA: same results twice for one seed, fewer epochs than the full search, the full search\'s result for trials it completes', async () => {
    const run = async (scheduler: 'asha' | 'none') => {
      const exec = inlineExecutor(rt, tinyData);
      try {
        return await hyperparameterSearch({ space: tinySpace, trials: 9, epochs: 9, seed: 3, data: {}, executor: exec, scheduler, ...(scheduler === 'asha' ? { asha: { parallel: 2 } } : {}) });
      } finally { await exec.close(); }
    };
    const a = await run('asha'), b = await run('asha'), full = await run('none');
    expect(b.jobs.map((j) => [j.index, j.epochs, j.objective])).toEqual(a.jobs.map((j) => [j.index, j.epochs, j.objective]));
    expect(full.epochsSpent).toBe(81);
    expect(a.epochsSpent).toBeLessThan(full.epochsSpent);
    const finished = a.trials.filter((t) => t.epochs === 9);
    expect(finished.length).toBeGreaterThan(0);
    for (const t of finished) expect(t.history).toEqual(full.trials[t.index].history);
    // every rung-0 result is a prefix of the full run's history
    for (const t of a.trials) expect(t.history).toEqual(full.trials[t.index].history.slice(0, t.history.length));
  });
});

describe('resuming a study', () => {
  it('stored results answer their jobs without running them; a foreign result is refused', async () => {
    const exec = inlineExecutor(rt, tinyData);
    const study = { space: tinySpace, trials: 4, epochs: 3, seed: 9, data: {}, scheduler: 'asha' as const, asha: { parallel: 2 } };
    const first = await hyperparameterSearch({ ...study, executor: exec });
    await exec.close();
    let ran = 0;
    const none: Executor = { concurrency: 2, run: async () => { ran++; throw new Error('nothing should run'); }, close: async () => undefined };
    const again = await hyperparameterSearch({ ...study, executor: resumeFrom(none, first.jobs) });
    expect(ran).toBe(0);
    expect(again.jobs.map((j) => [j.index, j.epochs, j.history])).toEqual(first.jobs.map((j) => [j.index, j.epochs, j.history]));
    const foreign = first.jobs.map((j) => (j.index === 1 ? { ...j, settings: { ...j.settings, lr: 0.5 } } : j));
    await expect(hyperparameterSearch({ ...study, executor: resumeFrom(none, foreign) })).rejects.toThrow(/stored result of trial 1 .* is not this study's/);
  });

  it('a result stored with a log-uniform value an ulp off (Node 20\'s 10 ** x) still answers its job; two ulps do not', async () => {
    const exec = inlineExecutor(rt, tinyData);
    const study = { space: tinySpace, trials: 2, epochs: 1, seed: 9, data: {} };
    const first = await hyperparameterSearch({ ...study, executor: exec });
    await exec.close();
    const none: Executor = { concurrency: 1, run: async () => { throw new Error('nothing should run'); }, close: async () => undefined };
    const up = (x: number, ulps: number) => { const v = new DataView(new ArrayBuffer(8)); v.setFloat64(0, x); v.setBigInt64(0, v.getBigInt64(0) + BigInt(ulps)); return v.getFloat64(0); };
    const shifted = (ulps: number) => first.jobs.map((j) => (j.index === 1 ? { ...j, settings: { ...j.settings, lr: up(j.settings.lr as number, ulps) } } : j));
    for (const ulps of [1, -1]) {
      const again = await hyperparameterSearch({ ...study, executor: resumeFrom(none, shifted(ulps)) });
      // answered by the stored result, with the value it trained with
      expect(again.trials[1].settings.lr).toBe(up(first.trials[1].settings.lr as number, ulps));
      expect(again.trials[1].history).toEqual(first.trials[1].history);
    }
    await expect(hyperparameterSearch({ ...study, executor: resumeFrom(none, shifted(2)) })).rejects.toThrow(/stored result of trial 1 .* is not this study's/);
    const reordered = first.jobs.map((j) => (j.index === 1 ? { ...j, settings: Object.fromEntries(Object.entries(j.settings).reverse()) } : j));
    await expect(hyperparameterSearch({ ...study, executor: resumeFrom(none, reordered) })).rejects.toThrow(/stored result of trial 1 .* is not this study's/);
  });

  it('sampleSettings and trialSeed refuse a seed or index that is not a 32-bit word (1.5 drew trial 1\'s settings, 2^32 trial 0\'s)', () => {
    const space = { lr: logUniform(1e-4, 1e-1) };
    for (const [f, who] of [[(s: number, i: number) => sampleSettings(space, s, i), 'sampleSettings'], [trialSeed, 'trialSeed']] as const) {
      expect(() => f(1.5, 0)).toThrow(new RangeError(`${who}: seed must be an integer in [0, 2^32), got 1.5`));
      expect(() => f(2 ** 32, 0)).toThrow(new RangeError(`${who}: seed must be an integer in [0, 2^32), got 4294967296`));
      expect(() => f('1' as never, 0)).toThrow(new TypeError(`${who}: seed must be an integer in [0, 2^32), got the string "1"`));
      expect(() => f(1, -1)).toThrow(new RangeError(`${who}: index must be an integer in [0, 2^32), got -1`));
      expect(() => f(1, 0.5)).toThrow(new RangeError(`${who}: index must be an integer in [0, 2^32), got 0.5`));
      expect(() => f(0xffffffff, 0xffffffff)).not.toThrow();
    }
  });

  it('resumeFrom refuses an inner that is no executor and stored results that are no list of results, by name', () => {
    const none: Executor = { concurrency: 1, run: async () => { throw new Error('nothing should run'); }, close: async () => undefined };
    expect(() => resumeFrom(null as never, [])).toThrow(/^resumeFrom: inner must be an executor \(run, concurrency, close\), got null$/);
    expect(() => resumeFrom(none, null as never)).toThrow(/^resumeFrom: stored must be an iterable of trial results \(an array\), got null$/);
    expect(() => resumeFrom(none, 5 as never)).toThrow(/^resumeFrom: stored must be an iterable of trial results \(an array\), got number 5$/);
    expect(() => resumeFrom(none, [null] as never)).toThrow(/^resumeFrom: stored\[0\] must be a trial result .*, got null$/);
  });

  it('a metric stored as JSON null (a NaN: JSON has none) is NaN again when it answers its job', async () => {
    const exec = inlineExecutor(rt, tinyData);
    const study = { space: tinySpace, trials: 3, epochs: 1, seed: 9, data: {}, objective: 'valLoss' as const };
    const first = await hyperparameterSearch({ ...study, executor: exec });
    await exec.close();
    const none: Executor = { concurrency: 1, run: async () => { throw new Error('nothing should run'); }, close: async () => undefined };
    const diverged = first.jobs.map((j) => (j.index === 0 ? { ...j, history: j.history.map((e) => ({ ...e, valLoss: NaN })) } : j));
    const stored = JSON.parse(JSON.stringify(diverged)) as typeof first.jobs;
    expect(stored.find((j) => j.index === 0)!.history[0].valLoss).toBeNull();
    const again = await hyperparameterSearch({ ...study, executor: resumeFrom(none, stored) });
    const t0 = again.trials[0];
    expect(t0.history[0].valLoss).toBeNaN();
    expect(t0.history[0].valAcc).toBe(first.trials[0].history[0].valAcc);
    expect(t0.objective).toBe(-Infinity);
    expect(again.best.at(-1)!.index).toBe(0);
    expect(again.trials.slice(1).map((t) => t.history)).toEqual(first.trials.slice(1).map((t) => t.history));
  });

  it('runTrial checks its data tensors and names them', async () => {
    const other = await makeRuntime();
    const data = await tinyData(other, {});
    const job = trialJob({ space: tinySpace, data: {} }, 0, 1);
    await expect(runTrial(rt, job, data)).rejects.toThrow(/runTrial: data\.xTrain/);
  });
});

/** An executor that trains nothing: trial i's valAcc is `acc(i)` each epoch; records the jobs it ran. */
function fakeExecutor(acc: (index: number) => number = (i) => i / 100) {
  const ran: string[] = [];
  const exec: Executor = {
    concurrency: 2,
    run: async (job) => {
      ran.push(`${job.index}@${job.epochs}`);
      const history = Array.from({ length: job.epochs }, (_, e) => ({ epoch: e + 1, trainLoss: 1, trainAcc: 0.5, valLoss: 1, valAcc: acc(job.index) }));
      return { study: job.study, index: job.index, seed: job.seed, settings: job.settings, epochs: job.epochs, data: job.data, status: 'ok', history, worker: 'fake', seconds: 0 };
    },
    close: async () => undefined,
  };
  return { exec, ran };
}
const noRun: Executor = { concurrency: 2, run: async (job) => { throw new Error(`trial ${job.index} should not run`); }, close: async () => undefined };

describe('resuming a study on other data', () => {
  const study = { space: tinySpace, trials: 3, epochs: 2, seed: 4, data: { source: 'a', rows: 100, validation: 0.2 } };

  it('each result records its data; a stored result of other data, or of none, is refused', async () => {
    const exec = inlineExecutor(rt, tinyData);
    const first = await hyperparameterSearch({ ...study, executor: exec });
    await exec.close();
    expect(first.jobs.every((j) => JSON.stringify(j.data) === JSON.stringify(study.data))).toBe(true);
    // the same data in another key order resumes
    const same = await hyperparameterSearch({ ...study, data: { validation: 0.2, rows: 100, source: 'a' }, executor: resumeFrom(noRun, first.jobs) });
    expect(same.jobs.map((j) => j.history)).toEqual(first.jobs.map((j) => j.history));
    await expect(hyperparameterSearch({ ...study, data: { ...study.data, rows: 400 }, executor: resumeFrom(noRun, first.jobs) }))
      .rejects.toThrow(/stored result of trial \d \(2 epochs\) is not this study's: it was trained on other data/);
    const old = first.jobs.map(({ data: _d, ...r }) => r) as unknown as TrialResult[];
    await expect(hyperparameterSearch({ ...study, executor: resumeFrom(noRun, old) }))
      .rejects.toThrow(/stored result of trial \d \(2 epochs\) does not record its data .*start a new study/);
  });

  it('epochsSpent counts only epochs trained in this run; epochsStored the stored ones', async () => {
    const { exec, ran } = fakeExecutor();
    const first = await hyperparameterSearch({ ...study, executor: exec });
    expect([first.epochsSpent, first.epochsStored]).toEqual([6, 0]);
    const again = await hyperparameterSearch({ ...study, executor: resumeFrom(noRun, first.jobs) });
    expect([again.epochsSpent, again.epochsStored]).toEqual([0, 6]);
    const more = await hyperparameterSearch({ ...study, trials: 5, executor: resumeFrom(exec, first.jobs) });
    expect([more.epochsSpent, more.epochsStored]).toEqual([4, 6]);
    expect(ran).toHaveLength(5);
  });
});

describe('objectives', () => {
  it('a NaN objective ranks last among the trials, a failed trial after it; the ranking is a total order', async () => {
    const { exec } = fakeExecutor((i) => i / 10);
    const r = await hyperparameterSearch({ space: tinySpace, trials: 6, epochs: 1, data: {}, executor: exec,
      objective: (h) => (h[0].valAcc === 0.2 || h[0].valAcc === 0.4 ? NaN : h[0].valAcc) });
    expect(r.best.map((t) => t.index)).toEqual([5, 3, 1, 0, 2, 4]);
    expect(r.trials[2].objective).toBe(-Infinity);
  });

  it('an objective that returns no number rejects the search, naming the trial', async () => {
    const { exec } = fakeExecutor();
    const objective = (() => '0.5') as unknown as (h: unknown) => number;
    await expect(hyperparameterSearch({ space: tinySpace, trials: 2, epochs: 1, data: {}, executor: exec, objective }))
      .rejects.toThrow(/hyperparameterSearch: trial 0 \(1 epochs\): objective: expected the function to return a number, got the string "0.5"/);
  });
});

describe('ASHA rungs and options', () => {
  it('rungs are strictly increasing from minEpochs to maxEpochs, for integer and fractional η', () => {
    expect(ashaRungs(10, 3, 3.2)).toEqual([3, 10]);
    const bad: string[] = [];
    for (let max = 1; max <= 60; max++) {
      for (let min = 1; min <= max; min++) {
        for (const eta of [2, 2.5, 3, 3.2, 4, 4.5, 7.9]) {
          const rungs = ashaRungs(max, min, eta);
          if (rungs[0] !== min || rungs.at(-1) !== max || rungs.some((e, k) => k > 0 && e <= rungs[k - 1])) bad.push(`(${max}, ${min}, ${eta}): ${rungs}`);
        }
      }
    }
    expect(bad).toEqual([]);
    expect(() => ashaRungs(10, 3, 1)).toThrow(/ashaRungs: eta must be a number >= 2, got 1/);
  });

  it('runs no (trial, epochs) job twice when the rounded milestone meets the budget', async () => {
    const { exec, ran } = fakeExecutor();
    await hyperparameterSearch({ space: tinySpace, trials: 12, epochs: 10, data: {}, scheduler: 'asha', asha: { minEpochs: 3, reductionFactor: 3.2 }, executor: exec });
    expect(new Set(ran).size).toBe(ran.length);
    expect(ran).toContain('11@3');
  });

  it('refuses unknown keys and a non-object, naming them, before any job', async () => {
    const base = { space: tinySpace, trials: 2, epochs: 3, data: {}, executor: noRun, scheduler: 'asha' as const };
    await expect(hyperparameterSearch({ ...base, asha: { eta: 2 } as never })).rejects.toThrow(/asha: unknown option 'eta' \(expected one of minEpochs, reductionFactor, parallel\)/);
    await expect(hyperparameterSearch({ ...base, asha: null as never })).rejects.toThrow(/asha: options must be an object, got null/);
    const step = { lr: { kind: 'logUniform', low: 1e-3, high: 1, step: 1 } } as unknown as SearchSpace;
    await expect(hyperparameterSearch({ ...base, space: step })).rejects.toThrow(/space\.lr: logUniform: unknown option 'step' \(expected one of kind, low, high\)/);
    const values = { opt: { kind: 'choice', values: ['sgd'], weights: [1] } } as unknown as SearchSpace;
    await expect(hyperparameterSearch({ ...base, space: values })).rejects.toThrow(/space\.opt: choice: unknown option 'weights'/);
  });
});

describe('settings checked before the first job', () => {
  const base = { trials: 2, epochs: 1, data: {}, executor: noRun };

  it('an unknown setting name, and a fixed value no trial accepts, throw naming the setting', async () => {
    await expect(hyperparameterSearch({ ...base, space: { learningRate: logUniform(1e-3, 1) } as never })).rejects.toThrow(/settings\.learningRate: unknown setting/);
    await expect(hyperparameterSearch({ ...base, space: { ...tinySpace, batchSize: 0 } })).rejects.toThrow(/settings\.batchSize: expected a positive integer, got 0/);
    await expect(hyperparameterSearch({ ...base, space: { hidden: [8, 0] } })).rejects.toThrow(/settings\.hidden\[1\]: expected a positive integer, got 0/);
    await expect(hyperparameterSearch({ ...base, space: { hiddenLayers: 2.5 } })).rejects.toThrow(/settings\.hiddenLayers: expected a non-negative integer, got 2\.5/);
    await expect(hyperparameterSearch({ ...base, space: { optimizer: 'adamm' } })).rejects.toThrow(/settings\.optimizer: unknown name 'adamm'/);
    await expect(hyperparameterSearch({ ...base, space: { optimizer: 'momentum', momentum: 1.5 } })).rejects.toThrow(/momentum must be/);
    // a parameter of one optimizer the space can choose is a known name
    const { exec } = fakeExecutor();
    const r = await hyperparameterSearch({ ...base, executor: exec, space: { optimizer: choice(['sgd', 'adam']), beta1: uniform(0.8, 0.95) } });
    expect(r.trials).toHaveLength(2);
    // a drawn `hidden` overrides hiddenLayers in every trial
    await hyperparameterSearch({ ...base, executor: exec, space: { hidden: choice([[8]]), hiddenLayers: 2.5 } });
  });

  it('a drawn value no trial accepts fails its trial, naming the setting', async () => {
    const exec = inlineExecutor(rt, tinyData);
    const r = await hyperparameterSearch({ ...base, trials: 4, executor: exec, space: { lr: 0.1, batchSize: 20, hiddenSize: 8, hiddenLayers: choice([1, 2.5]) } });
    await exec.close();
    const bad = r.trials.filter((t) => t.settings.hiddenLayers === 2.5);
    expect(bad.length).toBeGreaterThan(0);
    for (const t of bad) expect([t.status, t.error]).toEqual(['failed', 'settings.hiddenLayers: expected a non-negative integer, got 2.5']);
  });

  it("a parameter of some of the optimizers a space draws goes to their trials; the others train without it (they failed, 'unknown setting')", async () => {
    const space: SearchSpace = { ...tinySpace, lr: 0.1, optimizer: choice(['sgd', 'momentum']), momentum: uniform(0.5, 0.9) };
    const exec = inlineExecutor(rt, tinyData);
    const r = await hyperparameterSearch({ ...base, trials: 6, seed: 2, executor: exec, space });
    await exec.close();
    const sgd = r.trials.filter((t) => t.settings.optimizer === 'sgd'), momentum = r.trials.filter((t) => t.settings.optimizer === 'momentum');
    expect([sgd.length > 0, momentum.length > 0]).toEqual([true, true]);
    expect(r.trials.map((t) => [t.index, t.status, t.error])).toEqual(r.trials.map((t) => [t.index, 'ok', undefined]));
    for (const t of sgd) expect(t.settings).toEqual({ ...sampleSettings(space, 2, t.index), momentum: undefined });
    for (const t of sgd) expect(Object.keys(t.settings)).not.toContain('momentum');
    for (const t of momentum) expect(t.settings).toEqual(sampleSettings(space, 2, t.index));
  });

  it("weightDecay with adamw is its decoupled decay alone, as `simdnn train` and PyTorch take it (it was also the net's L2 λ)", async () => {
    const d = await tinyData(rt, {});
    const settings = { lr: 0.01, optimizer: 'adamw', weightDecay: 0.5, hidden: [8, 8], batchSize: 20 };
    const trial = await runTrial(rt, { study: 's', index: 0, seed: 7, settings, epochs: 3, data: {} }, d);
    // by hand: the net without an L2 term, AdamW with the decay; then with both, the old reading
    const byHand = async (lambda: number) => {
      rt.reseed(7);
      const net = new MultiLayerNet(rt, { inputSize: 12, hiddenSizeList: [8, 8], outputSize: 3, weightDecayLambda: lambda });
      const trainer = new Trainer(net, d.xTrain, d.tTrain, d.xVal, d.tVal, { epochs: 3, miniBatchSize: 20, optimizer: new AdamW({ lr: 0.01, weightDecay: 0.5 }) });
      try {
        return (await trainer.fit()).epochs.map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss, trainAcc: e.trainAcc, valLoss: e.testLoss, valAcc: e.testAcc }));
      } finally { trainer.dispose(); net.dispose(); }
    };
    expect(trial.status).toBe('ok');
    expect(trial.history).toEqual(await byHand(0));
    expect(trial.history).not.toEqual(await byHand(0.5));
    for (const t of [d.xTrain, d.tTrain, d.xVal, d.tVal]) t.dispose();
  });

  it('a mixup setting is the trial Trainer\'s (a hand-made run\'s bits), 0 none; a space\'s fixed value is checked, and ema is no setting', async () => {
    const d = await tinyData(rt, {});
    const base = { lr: 0.05, optimizer: 'momentum', hidden: [8, 8], batchSize: 20 };
    const run = async (extra: Record<string, number>) =>
      (await runTrial(rt, { study: 's', index: 0, seed: 7, settings: { ...base, ...extra }, epochs: 3, data: {} }, d)).history;
    const byHand = async (options: object) => {
      rt.reseed(7);
      const net = new MultiLayerNet(rt, { inputSize: 12, hiddenSizeList: [8, 8], outputSize: 3 });
      const trainer = new Trainer(net, d.xTrain, d.tTrain, d.xVal, d.tVal, { epochs: 3, miniBatchSize: 20, optimizer: new Momentum({ lr: 0.05 }), ...options });
      try {
        return (await trainer.fit()).epochs.map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss, trainAcc: e.trainAcc, valLoss: e.testLoss, valAcc: e.testAcc }));
      } finally { trainer.dispose(); net.dispose(); }
    };
    const plain = await run({});
    expect(plain).toEqual(await byHand({}));
    expect(await run({ mixup: 0 })).toEqual(plain);
    const mixed = await run({ mixup: 0.4 });
    expect(mixed).toEqual(await byHand({ mixup: { alpha: 0.4 } }));
    expect(mixed).not.toEqual(plain);
    expect(() => checkSpaceSettings({ lr: 0.1, mixup: -1 } as never)).toThrow(new RangeError("settings.mixup: expected Beta(α, α)'s α >= 0 (0: no mixup), got -1"));
    // a trial is judged by its epochs' records, the raw parameters' (as Keras's history): an EMA would change nothing there
    expect(() => checkSpaceSettings({ lr: 0.1, ema: 0.9 } as never)).toThrow(/ema/);
    for (const t of [d.xTrain, d.tTrain, d.xVal, d.tVal]) t.dispose();
  });

  it('a bound that is not a number says what it is', () => {
    expect(() => checkSpace({ lr: { kind: 'uniform', low: '0.1', high: 1 } } as unknown as SearchSpace)).toThrow(/space\.lr: uniform: low must be a finite number, got the string "0\.1"/);
  });
});

describe('searchChart', () => {
  it('refuses what is not a search result, unknown options, and axes named as the chart\'s own fields (a setting \'epochs\' was overwritten by the history length)', async () => {
    const rt = await makeRuntime({ seed: 1 });
    const executor = inlineExecutor(rt, tinyData);
    const result = await hyperparameterSearch({ space: tinySpace, trials: 2, epochs: 1, data: {}, executor });
    await executor.close();
    expect(searchChart(result)).toMatchObject({ hconcat: [{}, { title: 'lr × weightDecay, coloured by validation accuracy' }] });
    expect(() => searchChart(null as never)).toThrow(/^searchChart: expected what hyperparameterSearch returned$/);
    expect(() => searchChart(result, { z: 'lr' } as never)).toThrow(/^searchChart: unknown option 'z'/);
    expect(() => searchChart(result, { x: 'epochs' })).toThrow(/^searchChart: x 'epochs' is one of the chart's own fields/);
    expect(() => searchChart(result, { y: 3 } as never)).toThrow(/^searchChart: y must name a setting, got number 3$/);
    rt.dispose();
  });
});
