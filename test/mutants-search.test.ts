// Tests that kill mutants the search's other tests let through (session 63):
// each pins a behaviour a user relies on that no test checked — a trial's
// runtime seed depends on its index, a choice is uniform, ASHA promotes the
// best of a rung (lowest index at a tie) from the highest rung first and
// rounds its milestones, the ranking puts an ok trial before a failed one at
// equal objectives, the metric objectives, epochsSpent of a failed trial, the
// trial settings' defaults, a stored result of another study, the search
// data's rows and validation share, and the chart's best-so-far line.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray, randomInts } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import {
  AshaScheduler, ashaRungs, choice, hyperparameterSearch, runTrial, sampleSettings, score, searchChart, splitSearchData, storedMismatch,
  trialJob, trialNetSpec, type EpochResult, type Executor, type ScoredResult, type SearchResult, type SearchSpace, type TrialResult,
} from '../src/search/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime(); });

const space: SearchSpace = { lr: 0.1, hidden: [8], batchSize: 10 };

describe('trial seeds and choices', () => {
  it("a trial's runtime seed is mixed from the study seed and its index (a stored study's results carry these seeds)", () => {
    // murmur3-mixed (seed, index, 1): the values stored results hold, so a resumed study must draw them again
    const known: Array<[number, number, number]> = [[1, 0, 4022320667], [1, 1, 3432330646], [1, 7, 3935328426], [42, 3, 1402657956], [0xffffffff, 99, 804479773]];
    for (const [seed, index, want] of known) expect(trialJob({ space, data: {}, seed }, index, 1).seed, `(${seed}, ${index})`).toBe(want);
    const seeds = new Set(Array.from({ length: 100 }, (_, i) => trialJob({ space, data: {} }, i, 1).seed));
    expect(seeds.size).toBe(100); // one seed for every trial: each trial initialised and shuffled alike
  });

  it('a choice draws each of its values equally often', () => {
    const counts = new Map<string, number>();
    const n = 3000;
    for (let i = 0; i < n; i++) {
      const v = sampleSettings({ opt: choice(['sgd', 'adam', 'momentum']) } as unknown as SearchSpace, 5, i).opt as string;
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    // each share is 1/3 with sd sqrt(1/3 · 2/3 / 3000) = 0.0086: ±0.04 is 4.6 sd (rounding u·2 gave 1/4, 1/2, 1/4)
    for (const v of ['sgd', 'adam', 'momentum']) expect(Math.abs(counts.get(v)! / n - 1 / 3), v).toBeLessThan(0.04);
  });
});

describe('ASHA decisions', () => {
  it('milestones are minEpochs·η^k rounded to the nearest integer (not down)', () => {
    expect(ashaRungs(20, 1, 2.5)).toEqual([1, 3, 6, 16, 20]); // 1, 2.5, 6.25, 15.625
    expect(ashaRungs(30, 2, 2.2)).toEqual([2, 4, 10, 21, 30]); // 2, 4.4, 9.68, 21.296
  });

  it('a rung promotes ⌊n/η⌋ of its n results: none of 2 with η = 3', () => {
    const s = new AshaScheduler(5, 9, { reductionFactor: 3 });
    const [a, b] = [s.next()!, s.next()!];
    s.record(a, 0.9);
    s.record(b, 0.1);
    expect(s.next()).toEqual({ index: 2, rung: 0, epochs: 1 });
  });

  it('at equal objectives the lower index is promoted; a rung of failed trials promotes none', () => {
    const s = new AshaScheduler(6, 9, { reductionFactor: 3 });
    const jobs = [s.next()!, s.next()!, s.next()!];
    for (const j of jobs) s.record(j, 0.5);
    expect(s.next()).toEqual({ index: 0, rung: 1, epochs: 3 });
    const failed = new AshaScheduler(6, 9, { reductionFactor: 3 });
    const more = [failed.next()!, failed.next()!, failed.next()!];
    for (const j of more) failed.record(j, -Infinity);
    expect(failed.next()).toEqual({ index: 3, rung: 0, epochs: 1 });
  });

  it('promotes from the highest rung that has a trial to promote', () => {
    const s = new AshaScheduler(20, 9, { reductionFactor: 3 });
    const first = Array.from({ length: 9 }, () => s.next()!);
    first.forEach((j) => s.record(j, j.index / 10));
    const up = [s.next()!, s.next()!, s.next()!];
    expect(up.map((j) => [j.index, j.rung])).toEqual([[8, 1], [7, 1], [6, 1]]);
    const late = s.next()!; // rung 0's top 3 are promoted: a new trial, which then tops rung 0
    expect(late).toEqual({ index: 9, rung: 0, epochs: 1 });
    up.forEach((j) => s.record(j, j.index / 10));
    s.record(late, 0.95);
    // rung 1 (trial 8) and rung 0 (trial 9) both have one to promote: rung 1's goes first
    expect(s.next()).toEqual({ index: 8, rung: 2, epochs: 9 });
    expect(s.next()).toEqual({ index: 9, rung: 1, epochs: 3 });
  });

  it('record refuses a trial index next() has not given', () => {
    const s = new AshaScheduler(5, 9);
    s.next();
    s.next();
    expect(() => s.record({ index: 2, rung: 0, epochs: 1 }, 0.5)).toThrow(/AshaScheduler\.record: job must be one next\(\) gave \(rung in \[0, 3\), index in \[0, 2\)\), got rung 0, index 2/);
  });
});

/** An executor that trains nothing: trial i's result is `make(i)`'s status and per-epoch valAcc, for `epochs(i)` epochs. */
function scriptedExecutor(make: (index: number) => { status: 'ok' | 'failed'; valAcc: number; epochs: number }): Executor {
  return {
    concurrency: 1,
    run: async (job) => {
      const { status, valAcc, epochs } = make(job.index);
      const history = Array.from({ length: epochs }, (_, e) => ({ epoch: e + 1, trainLoss: 1, trainAcc: 0.5, valLoss: 1, valAcc }));
      return { study: job.study, index: job.index, seed: job.seed, settings: job.settings, epochs: job.epochs, data: job.data, status, ...(status === 'failed' ? { error: 'NaN loss' } : {}), history, worker: 'fake', seconds: 0 };
    },
    close: async () => undefined,
  };
}

describe('ranking, objectives and epochs', () => {
  it('at an equal objective an ok trial (NaN objective) ranks before a failed one of lower index', async () => {
    const exec = scriptedExecutor((i) => (i === 0 ? { status: 'failed', valAcc: 0, epochs: 1 } : { status: 'ok', valAcc: i === 1 ? NaN : 0.5, epochs: 3 }));
    const r = await hyperparameterSearch({ space, trials: 3, epochs: 3, data: {}, executor: exec });
    expect(r.best.map((t) => [t.index, t.status, t.objective])).toEqual([[2, 'ok', 0.5], [1, 'ok', -Infinity], [0, 'failed', -Infinity]]);
    // the failed trial trained 1 of its 3 epochs: epochsSpent counts what was trained
    expect(r.epochsSpent).toBe(3 + 3 + 1);
    expect(r.failed).toBe(1);
  });

  it('each metric objective scores the last epoch: accuracies as they are, losses negated', () => {
    const h: EpochResult[] = [
      { epoch: 1, trainLoss: 9, trainAcc: 0.01, valLoss: 8, valAcc: 0.02 },
      { epoch: 2, trainLoss: 0.25, trainAcc: 0.75, valLoss: 0.5, valAcc: 0.625 },
    ];
    expect([score('valAcc', h), score('valLoss', h), score('trainAcc', h), score('trainLoss', h)]).toEqual([0.625, -0.5, 0.75, -0.25]);
  });
});

describe('trial settings', () => {
  it("hiddenSize and hiddenLayers each default to the other's book value (6 × 100); dropout keeps its ratio", () => {
    expect(trialNetSpec({ hiddenSize: 10 }, 4, 3).options).toMatchObject({ hiddenSizeList: [10, 10, 10, 10, 10, 10] });
    expect(trialNetSpec({ hiddenLayers: 2 }, 4, 3).options).toMatchObject({ hiddenSizeList: [100, 100] });
    expect(trialNetSpec({}, 4, 3).options).toMatchObject({ hiddenSizeList: [100, 100, 100, 100, 100, 100] });
    expect(trialNetSpec({ hidden: [5], dropout: 0.2 }, 4, 3)).toEqual({
      kind: 'mlp-extend',
      options: { inputSize: 4, hiddenSizeList: [5], outputSize: 3, activation: 'relu', weightInitStd: 'relu', weightDecayLambda: 0, useBatchnorm: false, useDropout: true, dropoutRatio: 0.2 },
    });
  });

  it('the class count takes the validation labels too (a class only the validation rows hold)', async () => {
    const data = {
      xTrain: rt.tensor([30, 4], randomArray(120, 11)), tTrain: rt.labels([30], randomInts(30, 12, 3)),
      xVal: rt.tensor([10, 4], randomArray(40, 13)), tVal: rt.labels([10], Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])),
    };
    try {
      const r = await runTrial(rt, trialJob({ space, data: {} }, 0, 1), data);
      expect(r.error).toBeUndefined();
      expect(r.status).toBe('ok');
      expect(r.history).toHaveLength(1);
      expect(Number.isFinite(r.history[0].valLoss)).toBe(true);
    } finally {
      for (const t of Object.values(data)) t.dispose();
    }
  });
});

describe('resuming', () => {
  it("a stored result of another study's name is refused", () => {
    const job = trialJob({ space, data: {}, study: 'a' }, 0, 1);
    const r: TrialResult = { ...job, status: 'ok', history: [], worker: 'w', seconds: 0 };
    expect(storedMismatch(job, r)).toBeNull();
    expect(storedMismatch(job, { ...r, study: 'b' })).toBe("stored result of trial 0 (1 epochs) is not this study's: its study, seed or settings differ");
  });
});

describe('search data', () => {
  it("takes the spec's first rows and holds out its validation share (default 0.2, Keras's count)", () => {
    const x = rt.tensor([10, 1], Float32Array.from({ length: 10 }, (_, i) => i));
    const t = rt.labels([10], Int32Array.from({ length: 10 }, (_, i) => i % 3));
    const rowsOf = (d: { xTrain: { toArray(): Float32Array }; xVal: { toArray(): Float32Array } }) =>
      [[...d.xTrain.toArray()], [...d.xVal.toArray()]];
    try {
      const six = splitSearchData(x, t, { rows: 6 });
      const [train6, val6] = rowsOf(six);
      six.dispose?.();
      expect([train6.length, val6.length]).toEqual([4, 2]); // 6 − ⌊6 · 0.8⌋ = 2 held out
      expect([...train6, ...val6].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
      const all = splitSearchData(x, t, {});
      const [train, val] = rowsOf(all);
      all.dispose?.();
      expect([train.length, val.length]).toEqual([8, 2]);
      const quarter = splitSearchData(x, t, { validation: 0.25 });
      expect([quarter.xTrain.shape[0], quarter.xVal.shape[0]]).toEqual([7, 3]);
      quarter.dispose?.();
    } finally {
      x.dispose();
      t.dispose();
    }
  });
});

describe('searchChart', () => {
  it('the best-so-far line is the running maximum of the validation accuracies', () => {
    const trial = (index: number, valAcc: number): ScoredResult => ({
      study: 's', index, seed: 1, settings: { lr: 0.1, weightDecay: 0.01 }, epochs: 1, data: {}, worker: 'w', seconds: 0, rung: 0,
      status: 'ok', history: [{ epoch: 1, trainLoss: 1, trainAcc: valAcc, valLoss: 1, valAcc }], objective: valAcc,
    });
    const trials = [trial(0, 0.5), trial(1, 0.25), trial(2, 0.75), trial(3, 0.625)];
    const result: SearchResult = { study: 's', seed: 1, trials, best: trials, jobs: trials, epochsSpent: 4, epochsStored: 0, failed: 0, timedOut: 0, seconds: 0 };
    const progress = ((searchChart(result).hconcat as Array<{ data: { values: Array<{ bestSoFar: number }> } }>)[0]).data.values;
    expect(progress.map((p) => p.bestSoFar)).toEqual([0.5, 0.5, 0.75, 0.75]);
  });
});
