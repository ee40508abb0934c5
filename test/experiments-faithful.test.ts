// The experiments run with the settings their results report, on the data they document: digits
// with fewer rows than an experiment uses, or pixels outside [0, 1], are refused by name before any
// training (they ran on whatever was there, under settings that described another run).
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { runExperiment, type ExperimentData } from '../src/experiments/index.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { Trainer } from '../src/index.js';
import { makeRuntime, rng } from './helpers/runtime.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 1 }); });
afterAll(async () => { await rt.dispose(); });

/** `train` and `test` rows of random pixels in [0, 1] (times `scale`) with labels 0–9. */
function digits(train: number, test: number, scale = 1): ExperimentData {
  const next = rng(5);
  const x = (n: number) => rt.tensor([n, 784], Float32Array.from({ length: n * 784 }, () => Math.round(next() * 255) / 255 * scale));
  const t = (n: number) => rt.labels([n], Int32Array.from({ length: n }, (_, i) => i % 10));
  return { xTrain: x(train), tTrain: t(train), xTest: x(test), tTest: t(test) };
}

function dispose(d: ExperimentData): void {
  for (const t of [d.xTrain, d.tTrain, d.xTest, d.tTest]) t.dispose();
}

describe('the data an experiment runs on', () => {
  it('refuses fewer rows than it uses: overfit said 300 training digits on 200, batchnorm and gradient-vanishing failed in rows()', async () => {
    const data = digits(200, 100);
    try {
      const cases: Array<[Parameters<typeof runExperiment>[0], RegExp]> = [
        ['overfit', /^runExperiment\('overfit'\): options\.data\.xTrain holds 200 rows, fewer than the 300 this experiment uses$/],
        ['optimizer-batchnorm', /^runExperiment\('optimizer-batchnorm'\): options\.data\.xTrain holds 200 rows, fewer than the 1000 this experiment uses$/],
        ['batchnorm', /^runExperiment\('batchnorm'\): options\.data\.xTrain holds 200 rows, fewer than the 1000 this experiment uses$/],
        ['hyperparameter-search', /^runExperiment\('hyperparameter-search'\): options\.data\.xTrain holds 200 rows, fewer than the 500 this experiment uses$/],
        ['normalization', /^runExperiment\('normalization'\): options\.data\.xTrain holds 200 rows, fewer than the 300 this experiment uses$/],
      ];
      for (const [name, message] of cases) {
        const progress: number[] = [];
        await expect(runExperiment(name, { rt, data, quick: true, onProgress: (p) => progress.push(p.done) }), name).rejects.toThrow(message);
        expect(progress, name).toEqual([]); // refused before any step
      }
    } finally {
      dispose(data);
    }
    const few = digits(60, 10);
    try {
      await expect(runExperiment('gradient-vanishing', { rt, data: few, quick: true })).rejects.toThrow(/^runExperiment\('gradient-vanishing'\): options\.data\.xTrain holds 60 rows, fewer than the 100 this experiment uses$/);
    } finally {
      dispose(few);
    }
  });

  it('gradient-vanishing runs on exactly one batch of rows (its batch start was NaN: a modulo by 0)', async () => {
    const data = digits(100, 10);
    try {
      const r = await runExperiment('gradient-vanishing', { rt, data, quick: true });
      expect(r.tables.norms).toHaveLength(2 * 10 * 7);
      for (const row of r.tables.norms) expect(Number.isFinite(row.gradientNorm)).toBe(true);
    } finally {
      dispose(data);
    }
  });

  it('refuses pixels outside [0, 1]: on raw bytes the overfit runs stayed at chance and the chart said so without a word', async () => {
    const raw = digits(300, 500, 255);
    try {
      await expect(runExperiment('overfit', { rt, data: raw, quick: true })).rejects.toThrow(/^runExperiment\('overfit'\): options\.data\.xTrain must hold pixels in \[0, 1\] \(loadMnist's normalize, the default\), got [\d.]+ in row 0$/);
    } finally {
      dispose(raw);
    }
    const fine = digits(300, 500);
    fine.xTest.data[784 * 3 + 5] = -0.5;
    try {
      await expect(runExperiment('overfit', { rt, data: fine, quick: true })).rejects.toThrow(/options\.data\.xTest must hold pixels in \[0, 1\] .*got -0\.5 in row 3$/);
    } finally {
      dispose(fine);
    }
  });
});

describe('how the book\'s loops draw their batches', () => {
  it('batchnorm, overfit and deepconvnet draw each batch with replacement, as the book\'s np.random.choice', async () => {
    // the book's batch_norm_test.py, overfit_*.py and common/trainer.py (train_deepnet.py) all sample with
    // replacement; every epoch's batches were a permutation here
    const data = digits(1000, 500);
    const fit = Trainer.prototype.fit;
    const drawn: string[] = [];
    const spy = vi.spyOn(Trainer.prototype, 'fit').mockImplementation(function (this: Trainer, ...args: Parameters<Trainer['fit']>) {
      drawn.push(this.sampling);
      return fit.apply(this, args);
    });
    try {
      for (const name of ['batchnorm', 'overfit', 'deepconvnet'] as const) {
        drawn.length = 0;
        const r = await runExperiment(name, { rt, data, quick: true });
        expect(drawn.length, name).toBeGreaterThan(0);
        expect(new Set(drawn), name).toEqual(new Set(['replacement']));
        expect(r.settings.sampling, name).toMatch(/with replacement/);
        if (name === 'deepconvnet') expect(r.settings.evaluation).toMatch(/^train and test accuracy after every epoch on all their rows/);
      }
      // the search's trials shuffle each epoch, and the settings say so where the book draws with replacement
      drawn.length = 0;
      const r = await runExperiment('hyperparameter-search', { rt, data, quick: true });
      expect(new Set(drawn)).toEqual(new Set(['permutation']));
      expect(r.settings.sampling).toMatch(/^a seeded permutation per epoch, every row once/);
    } finally {
      spy.mockRestore();
      dispose(data);
    }
  }, 120_000);
});
