// The portable search: sampling from a space, the ASHA scheduler's decisions,
// and whole searches on the inline executor with a tiny synthetic data set
// (a failed trial recorded and the search going on; ASHA deterministic and
// cheaper than the full search).
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray, randomInts } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import {
  AshaScheduler, ashaRungs, resumeFrom, type Executor, choice, hyperparameterSearch, inlineExecutor, int, logUniform, runTrial, sampleSettings,
  trialJob, uniform, type DataLoader, type SearchSpace,
} from '../src/search/index.js';

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
    const space: SearchSpace = { lr: logUniform(1e-6, 1e-2), wd: uniform(-1, 1), n: int(2, 4), opt: choice(['sgd', 'adam']), fixed: [1, 2] };
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const s = sampleSettings(space, 7, i);
      expect(s.lr).toBeGreaterThanOrEqual(1e-6 * (1 - 1e-12));
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

  it('runTrial checks its data tensors and names them', async () => {
    const other = await makeRuntime();
    const data = await tinyData(other, {});
    const job = trialJob({ space: tinySpace, data: {} }, 0, 1);
    await expect(runTrial(rt, job, data)).rejects.toThrow(/runTrial: data\.xTrain/);
  });
});
