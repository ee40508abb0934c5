// Tests that kill mutants of the chapter-6 experiments, their shared code and the search's chart (session 68):
// each pins a behaviour no other test could see change. The MNIST experiments run at full size with Trainer.fit
// replaced by a stand-in that reports a made-up loss per step and a made-up record per epoch, and the net's
// accuracyAsync (batchnorm's and overfit's measurements, at the book's updates 1, 1 + k, …) by made-up figures (the
// training is tested elsewhere; here, what each experiment does with what it is told): the tables plot those records
// (training accuracy for batchnorm, the test loss for normalization, the smoothed losses against the book's ylim), the
// summaries are their means and last values, the progress ends at its planned total, every run starts from
// the seed (the same initial weights for every optimizer, whatever drew from the stream before), and everything
// allocated is freed. The chart specs keep the book's panel order, axes and log scales; deepconvnet shows the
// test rows it gets wrong; the search shows the book's best 20 of 100 trials on a borrowed executor; the
// init-activations panels and the sigmoid net of gradient-vanishing not rerun before are rerun here.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { runExperiment, type ExperimentData, type ExperimentResult } from '../src/experiments/index.js';
import type { ExperimentName } from '../src/experiments/types.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { BatchNormalization, Sequential, smoothCurve, Trainer, type ActivationName, type EpochRecord, type FitOptions, type Targets, type Tensor, type WeightInit } from '../src/index.js';
import { bookActivations, vanishingData, vanishingNorms } from './helpers/book-procedures.js';
import { searchChart, type Executor, type SearchResult, type ScoredResult, type TrialJob, type TrialResult } from '../src/search/index.js';
import { makeRuntime, rng } from './helpers/runtime.js';

let rt: Runtime;
let data: ExperimentData;
beforeAll(async () => {
  rt = await makeRuntime({ seed: 1 });
  // 1,000 training and 2,000 test digits of noise: the most rows a full run takes of them
  const next = rng(21);
  const x = (n: number) => rt.tensor([n, 784], Float32Array.from({ length: n * 784 }, () => Math.round(next() * 255) / 255));
  // the two parts' labels differ row by row: a run given the other part's labels shows
  const t = (n: number, step: number) => rt.labels([n], Int32Array.from({ length: n }, (_, i) => (i * step) % 10));
  data = { xTrain: x(1000), tTrain: t(1000, 7), xTest: x(2000), tTest: t(2000, 3) };
});
afterAll(async () => {
  for (const t of [data.xTrain, data.tTrain, data.xTest, data.tTest]) t.dispose();
  await rt.dispose();
});

/** What one stand-in fit was given and what it reported. */
interface Fit {
  /** The net's parameters when fit was called (its initial weights): a digest of each one's bits. */
  initial: Record<string, string>;
  /** Its γ and β when it has them (normalization), copied. */
  gamma1?: Float32Array;
  beta1?: Float32Array;
  /** The net's layers, by class name. */
  layers: string[];
  /** The batch-norm layer's momentum and per-channel form, when the net has one. */
  batchnorm?: { momentum: number; spatial: boolean };
  /** Digests of the rows it was given: xTrain, tTrain, xTest, tTest. */
  rows: string[];
  maxIter: number;
  losses: number[];
  records: EpochRecord[];
  /** The accuracies it was measured at between steps (net.accuracyAsync, where the book's loops measure): after which step, on which rows. */
  measured: Measured[];
  /** The class each test row is given by the net as it stands (with `predict`). */
  predicted: number[];
}

/** One stand-in measurement of a fit's net: the step it followed, the rows (the Trainer's training or test rows), the figure given. */
interface Measured { iter: number; set: 'train' | 'test' | 'other rows'; accuracy: number }

/** The length and a hash of the bits of `a`: equal for equal bits (a digest, as the weights are many). */
function digest(a: Float32Array | Int32Array): string {
  const bits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  let h = 0x811c9dc5, s = 0;
  for (let i = 0; i < bits.length; i++) {
    h = Math.imul(h ^ bits[i], 16777619);
    s = (s + (bits[i] % 65521) * ((i % 65519) + 1)) % 4294967291;
  }
  return `${a.length}:${h >>> 0}:${s}`;
}

/** The made-up loss of step `iter` (1-based) of the `k`th fit: in [1, 2), varying from step to step. */
const lossOf = (k: number, iter: number) => 1 + ((iter * 37 + k * 101) % 997) / 997;

/** The made-up record of epoch `epoch` of the `k`th fit: every field different. */
const recordOf = (k: number, epoch: number, steps: number): EpochRecord => ({
  epoch, steps, seconds: 0,
  trainLoss: 1 + ((k + epoch) % 13) / 10,
  trainAcc: 0.4 + ((k * 7 + epoch * 3) % 50) / 100,
  testLoss: 1.5 + ((k * 3 + epoch) % 17) / 10,
  testAcc: 0.3 + ((k * 11 + epoch * 5) % 40) / 100,
});

/** The made-up accuracy of the `k`th fit's net measured after step `iter` on `set`: in [0.2, 0.9), varying. */
const accuracyOf = (k: number, iter: number, set: Measured['set']) => 0.2 + ((k * 13 + iter * 7 + (set === 'test' ? 31 : 0)) % 70) / 100;

/**
 * Runs `name` with Trainer.fit replaced: each fit reports lossOf per step and recordOf per epoch through the
 * callbacks, as many as the Trainer was set up for, and trains nothing; a net measured meanwhile (accuracyAsync)
 * is given accuracyOf. Returns the result, the fits and the progress reported.
 */
async function fakeRun(name: ExperimentName, options: { quick?: boolean; seed?: number; predict?: boolean } = {}) {
  const fits: Fit[] = [];
  const progress: Array<{ done: number; total: number }> = [];
  // the fit running and its last step, for the measurements between steps
  let current: { fit: Fit; k: number; trainer: Trainer; iter: number } | null = null;
  const measure = vi.spyOn(Sequential.prototype, 'accuracyAsync').mockImplementation(async function (this: Sequential, x: Tensor, t: Targets) {
    const { fit, k, trainer, iter } = current!;
    if (this !== trainer.network) throw new Error('measured another net than the one training');
    const set = x === trainer.xTrain && t === trainer.tTrain ? 'train' : x === trainer.xTest && t === trainer.tTest ? 'test' : 'other rows';
    const accuracy = accuracyOf(k, iter, set);
    fit.measured.push({ iter, set, accuracy });
    return accuracy;
  });
  const spy = vi.spyOn(Trainer.prototype, 'fit').mockImplementation(async function (this: Trainer, fitOptions: FitOptions = {}) {
    const k = fits.length;
    const params = this.network.params;
    const bn = this.network.layers.find((l): l is BatchNormalization => l instanceof BatchNormalization);
    const fit: Fit = {
      initial: Object.fromEntries(Object.keys(params).map((p) => [p, digest(params[p].data)])),
      ...(params.gamma1 ? { gamma1: Float32Array.from(params.gamma1.data), beta1: Float32Array.from(params.beta1.data) } : {}),
      layers: this.network.layers.map((l) => l.constructor.name),
      ...(bn ? { batchnorm: { momentum: bn.momentum, spatial: bn.spatial } } : {}),
      rows: [this.xTrain, this.tTrain, this.xTest, this.tTest].map((t) => digest((t as { data: Float32Array | Int32Array }).data)),
      maxIter: this.maxIter, losses: [], records: [], measured: [], predicted: [],
    };
    fits.push(fit);
    const running = { fit, k, trainer: this, iter: 0 };
    current = running;
    if (options.predict) {
      const scores = this.network.predict(this.xTest, false);
      const y = scores.toArray();
      scores.dispose();
      for (let i = 0; i < this.xTest.shape[0]; i++) {
        let best = 0;
        for (let c = 1; c < 10; c++) if (y[i * 10 + c] > y[i * 10 + best]) best = c;
        fit.predicted.push(best);
      }
    }
    const callbacks = fitOptions.callbacks ?? {};
    for (let iter = 0, epoch = 1; iter < this.maxIter; epoch++) {
      const steps = Math.min(this.iterPerEpoch, this.maxIter - iter);
      for (let s = 0; s < steps; s++) {
        iter++;
        running.iter = iter;
        fit.losses.push(lossOf(k, iter));
        await callbacks.onStepEnd?.({ loss: lossOf(k, iter), iter, epoch } as never);
      }
      const record = recordOf(k, epoch, steps);
      fit.records.push(record);
      await callbacks.onEpochEnd?.({ record, epoch, iter } as never);
    }
    return {} as never;
  });
  try {
    const result = await runExperiment(name, { rt, data, quick: options.quick ?? false, seed: options.seed ?? 1, onProgress: (p) => progress.push({ done: p.done, total: p.total }) });
    return { result, fits, progress };
  } finally {
    spy.mockRestore();
    measure.mockRestore();
  }
}

type Fake = Awaited<ReturnType<typeof fakeRun>>;
const runs = new Map<string, Fake>();
/** The full run of `name` (deepconvnet: quick) with the stand-in fit, made once for the tests that read it. */
async function full(name: ExperimentName): Promise<Fake> {
  if (!runs.has(name)) runs.set(name, await fakeRun(name, name === 'deepconvnet' ? { quick: true, predict: true } : {}));
  return runs.get(name)!;
}

const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;
/** A fit's measurements of `set` in order, as [point (1-based), accuracy]: what a chart of its points plots. */
const pointsOf = (fit: Fit, set: Measured['set']) => fit.measured.filter((m) => m.set === set).map((m, i) => [i + 1, m.accuracy]);
const TRAINED: ExperimentName[] = ['optimizer-mnist', 'optimizer-batchnorm', 'init-compare', 'batchnorm', 'overfit', 'normalization', 'deepconvnet'];

describe('what the MNIST experiments do with what their training reports', () => {
  it('optimizer-mnist plots every step\'s loss and its smooth_curve; the summary is the mean of the last 100', async () => {
    const { result, fits } = await full('optimizer-mnist');
    const labels = ['SGD', 'Momentum', 'AdaGrad', 'Adam', 'Nesterov', 'RMSprop', 'AdaDelta'];
    expect(fits).toHaveLength(7);
    const summary = (result.summary.meanLossOfLast100Steps as Record<string, { finalLoss: number; divergedAt: number | null }>);
    labels.forEach((label, k) => {
      const rows = result.tables.curves.filter((c) => c.optimizer === label);
      const losses = fits[k].losses;
      expect(losses).toHaveLength(2000);
      expect(rows.map((c) => c.iteration), label).toEqual(losses.map((_, i) => i + 1));
      expect(rows.map((c) => c.loss), label).toEqual(losses);
      expect(rows.map((c) => c.smoothed), label).toEqual(smoothCurve(losses));
      expect(summary[label], label).toEqual({ finalLoss: mean(losses.slice(-100)), divergedAt: null });
    });
  });

  it('init-compare: the deep nets\' smoothed losses and mean of the last 20; the grid\'s train and test accuracy per epoch', async () => {
    const { result, fits } = await full('init-compare');
    expect(fits).toHaveLength(9);
    const inits = ['std 0.01', 'Xavier', 'He'];
    const deepLoss = result.summary.deepNetMeanLossOfLast20Steps as Record<string, number>;
    inits.forEach((label, k) => {
      const rows = result.tables.losses.filter((c) => c.init === label);
      expect(rows.map((c) => c.loss), label).toEqual(fits[k].losses);
      expect(rows.map((c) => c.smoothed), label).toEqual(smoothCurve(fits[k].losses));
      expect(deepLoss[label], label).toBe(mean(fits[k].losses.slice(-20)));
    });
    const gridAcc = result.summary.gridFinalTestAccuracy as Record<string, number>;
    ['sigmoid', 'relu'].flatMap((a) => inits.map((i) => `${a}, ${i}`)).forEach((panel, j) => {
      const { records } = fits[3 + j];
      const rows = result.tables.accuracy.filter((c) => c.panel === panel);
      expect(rows.filter((c) => c.set === 'train').map((c) => [c.epoch, c.accuracy]), panel).toEqual(records.map((e) => [e.epoch, e.trainAcc]));
      expect(rows.filter((c) => c.set === 'test').map((c) => [c.epoch, c.accuracy]), panel).toEqual(records.map((e) => [e.epoch, e.testAcc]));
      expect(gridAcc[panel], panel).toBe(records.at(-1)!.testAcc);
    });
  });

  it('batchnorm plots training accuracy (its test set is one row) after the book\'s updates 1, 11, …, 191, each run under its own label, the final ones in the summary', async () => {
    const { result, fits } = await full('batchnorm');
    expect(fits).toHaveLength(32);
    const scales = result.settings.weightScales as number[];
    const final = result.summary.finalTrainingAccuracy as Record<string, { batchNorm: number; noBatchNorm: number }>;
    // batch_norm_test.py: `if i % iter_per_epoch == 0` after the update, 20 epochs of 10, and the break after the 20th
    const book = Array.from({ length: 20 }, (_, e) => 1 + 10 * e);
    for (const fit of fits) {
      expect(fit.maxIter).toBe(191);
      expect(fit.measured.map((m) => [m.iter, m.set])).toEqual(book.flatMap((i) => [[i, 'train'], [i, 'test']]));
    }
    scales.forEach((w, i) => {
      // the book's order: with batch norm, then without, for each scale
      const [bn, plain] = [fits[2 * i], fits[2 * i + 1]];
      const rows = result.tables.curves.filter((c) => c.scale === w);
      expect(rows.filter((c) => c.normalisation === 'batch norm').map((c) => [c.epoch, c.accuracy]), `w ${w}`).toEqual(pointsOf(bn, 'train'));
      expect(rows.filter((c) => c.normalisation === 'no batch norm').map((c) => [c.epoch, c.accuracy]), `w ${w}`).toEqual(pointsOf(plain, 'train'));
      expect(final[w.toExponential(3)], `w ${w}`).toEqual({ batchNorm: pointsOf(bn, 'train').at(-1)![1], noBatchNorm: pointsOf(plain, 'train').at(-1)![1] });
      // panels numbered as the book's subplots, the std in each title
      expect(new Set(rows.map((c) => c.panel)), `w ${w}`).toEqual(new Set([`${i + 1}: w = ${w.toExponential(1)}`]));
    });
  });

  it('optimizer-batchnorm plots train and test accuracy of each optimizer without and with batch norm; the summary its final test accuracy', async () => {
    const { result, fits } = await full('optimizer-batchnorm');
    const labels = ['SGD', 'Momentum', 'AdaGrad', 'RMSprop', 'Adam'];
    expect(fits).toHaveLength(10);
    const summary = result.summary as Record<string, Record<string, number>>;
    labels.forEach((label, o) => {
      ['no batch norm', 'batch norm'].forEach((norm, b) => {
        const { records } = fits[2 * o + b];
        const rows = result.tables.curves.filter((c) => c.optimizer === label && c.normalisation === norm);
        expect(rows.filter((c) => c.set === 'train').map((c) => [c.epoch, c.accuracy]), `${label}, ${norm}`).toEqual(records.map((e) => [e.epoch, e.trainAcc]));
        expect(rows.filter((c) => c.set === 'test').map((c) => [c.epoch, c.accuracy]), `${label}, ${norm}`).toEqual(records.map((e) => [e.epoch, e.testAcc]));
        expect(summary[label][`${norm}: final test accuracy`]).toBe(records.at(-1)!.testAcc);
      });
    });
  });

  it("overfit plots train and test accuracy of each variant in order, after the book's updates 1, 4, 7, …; its gaps over the last 10", async () => {
    const { result, fits } = await full('overfit');
    const variants = (result.settings.variants as Array<{ label: string }>).map((v) => v.label);
    const gaps = result.summary.lastTenEpochs as Record<string, { train: number; test: number; gap: number }>;
    expect(fits).toHaveLength(8);
    variants.forEach((variant, k) => {
      const fit = fits[k];
      // overfit_weight_decay.py breaks after measuring its 201st epoch; overfit_dropout.py's Trainer runs 301 × 3 updates
      const [epochs, steps] = variant === 'dropout 0.2' ? [301, 903] : [201, 601];
      expect(fit.maxIter, variant).toBe(steps);
      expect(fit.measured.map((m) => [m.iter, m.set]), variant).toEqual(Array.from({ length: epochs }, (_, e) => 1 + 3 * e).flatMap((i) => [[i, 'train'], [i, 'test']]));
      const rows = result.tables.curves.filter((c) => c.variant === variant);
      expect(rows.filter((c) => c.set === 'train').map((c) => [c.epoch, c.accuracy]), variant).toEqual(pointsOf(fit, 'train'));
      expect(rows.filter((c) => c.set === 'test').map((c) => [c.epoch, c.accuracy]), variant).toEqual(pointsOf(fit, 'test'));
      const train = mean(pointsOf(fit, 'train').slice(-10).map((p) => p[1])), test = mean(pointsOf(fit, 'test').slice(-10).map((p) => p[1]));
      expect(gaps[variant], variant).toEqual({ train, test, gap: train - test });
    });
  });

  it('normalization plots the validation (test part\'s) loss per epoch, and the last in the summary', async () => {
    const { result, fits } = await full('normalization');
    const labels = ['no normalisation', 'batch norm', 'layer norm', 'instance norm'];
    expect(fits).toHaveLength(4);
    const final = result.summary.lastEpoch as Record<string, { validationLoss: number; validationAccuracy: number }>;
    labels.forEach((label, k) => {
      const { records } = fits[k];
      expect(result.tables.curves.filter((c) => c.normalisation === label), label)
        .toEqual(records.map((e) => ({ normalisation: label, epoch: e.epoch, validationLoss: e.testLoss, validationAccuracy: e.testAcc, trainLoss: e.trainLoss })));
      expect(final[label], label).toEqual({ validationLoss: records.at(-1)!.testLoss, validationAccuracy: records.at(-1)!.testAcc });
    });
  });

  it("normalization's SimpleConvNet: the norm between the convolution and its ReLU, starting from γ = 1, β = 0", async () => {
    const { fits } = await full('normalization');
    const tail = ['Relu', 'Pooling', 'Affine', 'Relu', 'Affine'];
    expect(fits.map((f) => f.layers)).toEqual([
      ['Convolution', ...tail],
      ['Convolution', 'BatchNormalization', ...tail],
      ['Convolution', 'LayerNormalization', ...tail],
      ['Convolution', 'InstanceNormalization', ...tail],
    ]);
    // the book's BatchNormalization momentum, 0.9, per channel after a convolution
    expect(fits.map((f) => f.batchnorm)).toEqual([undefined, { momentum: 0.9, spatial: true }, undefined, undefined]);
    for (const f of fits.slice(1)) {
      expect(f.gamma1!.every((v) => v === 1)).toBe(true);
      expect(f.beta1!.every((v) => v === 0)).toBe(true);
      // one γ per filter, or (layer norm) one per value of the convolution's 30 × 24 × 24 output
      expect(f.gamma1!.length).toBe(f.layers[1] === 'LayerNormalization' ? 30 * 24 * 24 : 30);
    }
  });

  it("deepconvnet plots train and test accuracy and shows the first 20 test digits it gets wrong, each its own row's pixels", async () => {
    const { result, fits } = await full('deepconvnet');
    const [{ records, predicted }] = fits;
    expect(result.tables.curves).toEqual(records.flatMap((e) => [{ set: 'train', epoch: e.epoch, accuracy: e.trainAcc }, { set: 'test', epoch: e.epoch, accuracy: e.testAcc }]));
    expect(result.summary).toMatchObject({ finalTrainAccuracy: records.at(-1)!.trainAcc, finalTestAccuracy: records.at(-1)!.testAcc, testRows: 200 });
    const labels = data.tTest.toArray();
    const wrongRows = predicted.flatMap((p, i) => (p === labels[i] ? [] : [i]));
    expect(wrongRows.length, 'an untrained net gets more than 20 wrong').toBeGreaterThan(20);
    expect(result.summary.misclassified).toBe(wrongRows.length);
    const images = [...new Set(result.tables.pixels.map((p) => String(p.image)))];
    expect(images).toEqual(wrongRows.slice(0, 20).map((i) => `#${i}: true ${labels[i]}, predicted ${predicted[i]}`));
    wrongRows.slice(0, 20).forEach((row, n) => {
      const pixels = result.tables.pixels.filter((p) => p.image === images[n]);
      const expected: Array<[number, number, number]> = [];
      data.xTest.data.subarray(row * 784, (row + 1) * 784).forEach((v, p) => { if (v > 0.1) expected.push([Math.floor(p / 28), p % 28, v]); });
      expect(pixels.map((p) => [p.row, p.col, p.value]), images[n]).toEqual(expected);
      expect(new Set(pixels.map((p) => p.order)), images[n]).toEqual(new Set([n + 1]));
    });
  });
});

describe('every run of an experiment', () => {
  it('trains on the first rows of the digits, each with its own label', async () => {
    const first = (n: number, m: number) => [
      digest(data.xTrain.data.subarray(0, n * 784)), digest(data.tTrain.data.subarray(0, n)),
      digest(data.xTest.data.subarray(0, m * 784)), digest(data.tTest.data.subarray(0, m)),
    ];
    const rows: Array<[ExperimentName, number, number]> = [
      ['optimizer-mnist', 1000, 2000], ['optimizer-batchnorm', 1000, 2000], ['init-compare', 1000, 2000], ['batchnorm', 1000, 1],
      ['overfit', 300, 2000], ['normalization', 1000, 2000], ['deepconvnet', 300, 200],
    ];
    for (const [name, n, m] of rows) {
      for (const f of (await full(name)).fits) expect(f.rows, name).toEqual(first(n, m));
    }
  });


  it.each(TRAINED)('%s: reports progress up to its planned total, which is every step it trains', async (name) => {
    const { fits, progress } = await full(name);
    const steps = fits.reduce((n, f) => n + f.maxIter, 0) + (name === 'deepconvnet' ? 1 : 0); // its mistakes: one unit
    expect(progress.length).toBeGreaterThan(0);
    for (const p of progress) expect(p.total, name).toBe(steps);
    expect(progress.at(-1)!.done, name).toBe(steps);
    progress.slice(1).forEach((p, i) => expect(p.done, name).toBeGreaterThan(progress[i].done));
  });

  it("quick runs too: overfit (its epochs a quarter), batchnorm (4 scales, 8 epochs), on the book's schedule", async () => {
    // [updates, points measured (after updates 1, 1 + k, …)] of each run
    const schedules = {
      overfit: [[148, 50], [148, 50], [225, 75]], // 201 / 4 epochs as overfit_weight_decay.py, 301 / 4 as overfit_dropout.py
      batchnorm: Array.from({ length: 8 }, () => [71, 8]),
    };
    for (const name of ['overfit', 'batchnorm'] as const) {
      const { fits, progress } = await fakeRun(name, { quick: true });
      const steps = fits.reduce((n, f) => n + f.maxIter, 0);
      expect(progress.at(-1), name).toEqual({ done: steps, total: steps });
      const k = name === 'overfit' ? 3 : 10;
      expect(fits.map((f) => [f.maxIter, f.measured.length / 2]), name).toEqual(schedules[name]);
      for (const f of fits) expect(f.measured.filter((m) => m.set === 'train').map((m) => m.iter), name).toEqual(Array.from({ length: f.measured.length / 2 }, (_, e) => 1 + k * e));
    }
  });

  it.each(TRAINED)('%s: starts every net from the seed, whatever drew from the stream before (the same initial weights for each optimizer)', async (name) => {
    const { fits } = await full(name);
    rt.reseed(99);
    const other = rt.tensor([3]);
    rt.randn(other, 1); // the stream moved on, as another run would leave it
    other.dispose();
    const again = await fakeRun(name, name === 'deepconvnet' ? { quick: true } : {});
    expect(again.fits.length).toBe(fits.length);
    again.fits.forEach((f, k) => expect(f.initial, `${name}, run ${k + 1}`).toEqual(fits[k].initial));
    if (name === 'optimizer-mnist' || name === 'optimizer-batchnorm') {
      // the optimizers start from the same weights (optimizer-batchnorm: with and without batch norm apart)
      const step = name === 'optimizer-mnist' ? 1 : 2;
      for (let k = step; k < fits.length; k++) expect(fits[k].initial.W1, `run ${k + 1}`).toEqual(fits[k % step].initial.W1);
    }
  });

  it.each([...TRAINED, 'optimizer-naive', 'init-activations', 'gradient-vanishing'] as ExperimentName[])('%s: frees everything it allocates', async (name) => {
    await fakeRun(name, { quick: true }); // the first run may leave the runtime's own buffers grown
    const used = rt.memoryStats().used;
    await fakeRun(name, { quick: true });
    expect(rt.memoryStats().used, name).toBe(used);
  });
});

/** The object in `spec` with `name` (a mark's layer), and the facet around it (the nearest object with one), if any. */
function markOf(spec: unknown, name: string): { layer: Record<string, any>; facet?: Record<string, any>; panel?: Record<string, any> } {
  const walk = (node: unknown, panel?: Record<string, any>): ReturnType<typeof markOf> | undefined => {
    if (node === null || typeof node !== 'object') return undefined;
    const o = node as Record<string, any>;
    if (o.name === name && o.mark) return { layer: o, facet: panel?.facet, panel };
    const next = o.facet ? o : panel;
    for (const v of Object.values(o)) {
      const found = walk(v, next);
      if (found) return found;
    }
    return undefined;
  };
  const found = walk(spec);
  if (!found) throw new Error(`no mark '${name}'`);
  return found;
}

describe("the charts: the book's panels, axes and scales", () => {
  it("optimizer-mnist and init-compare draw the smoothed losses within the book's ylim (0, 1) and (0, 2.5)", async () => {
    for (const [name, top, colour] of [['optimizer-mnist', 1, 'optimizer'], ['init-compare', 2.5, 'init']] as const) {
      const { layer } = markOf((await full(name)).result.spec, 'loss');
      expect(layer.encoding.x.field, name).toBe('iteration');
      expect(layer.encoding.y.field, name).toBe('smoothed');
      expect(layer.encoding.y.scale.domain, name).toEqual([0, top]);
      expect(layer.encoding.color.field, name).toBe(colour);
    }
    expect(markOf((await full('optimizer-mnist')).result.spec, 'loss').layer.encoding.color.sort).toEqual(['SGD', 'Momentum', 'AdaGrad', 'Adam', 'Nesterov', 'RMSprop', 'AdaDelta']);
  });

  it("batchnorm's 16 panels in the book's 4 × 4 order, from w = 1 down to 1e-4, accuracy within (0, 1)", async () => {
    const { result } = await full('batchnorm');
    const { layer, panel } = markOf(result.spec, 'accuracy');
    const scales = result.settings.weightScales as number[];
    expect(panel!.columns).toBe(4);
    expect(panel!.facet.field).toBe('panel');
    expect(panel!.facet.sort).toEqual(scales.map((w, i) => `${i + 1}: w = ${w.toExponential(1)}`));
    expect(layer.encoding.y).toMatchObject({ field: 'accuracy', scale: { domain: [0, 1] } });
    expect(layer.encoding.color.field).toBe('normalisation');
  });

  it('overfit, optimizer-batchnorm, init-compare: their panels in the order they ran, not alphabetical', async () => {
    const overfit = (await full('overfit')).result;
    expect(markOf(overfit.spec, 'accuracy').facet!.sort).toEqual([...new Set(overfit.tables.curves.map((c) => c.panel))]);
    expect(markOf(overfit.spec, 'accuracy').layer.encoding.color.field).toBe('set');
    const ob = markOf((await full('optimizer-batchnorm')).result.spec, 'accuracy');
    expect(ob.facet).toMatchObject({ field: 'optimizer', sort: ['SGD', 'Momentum', 'AdaGrad', 'RMSprop', 'Adam'] });
    expect(ob.layer.encoding.color.field).toBe('normalisation');
    expect(ob.layer.encoding.strokeDash.field).toBe('set');
    const ic = markOf((await full('init-compare')).result.spec, 'accuracy');
    expect(ic.facet).toMatchObject({ field: 'panel', sort: ['sigmoid, std 0.01', 'sigmoid, Xavier', 'sigmoid, He', 'relu, std 0.01', 'relu, Xavier', 'relu, He'] });
  });

  it('normalization draws the validation loss; deepconvnet train and test accuracy and the mistakes in the order found', async () => {
    const norm = markOf((await full('normalization')).result.spec, 'loss').layer;
    expect(norm.encoding.y.field).toBe('validationLoss');
    expect(norm.encoding.color).toMatchObject({ field: 'normalisation', sort: ['no normalisation', 'batch norm', 'layer norm', 'instance norm'] });
    const deep = (await full('deepconvnet')).result.spec as { vconcat: Array<Record<string, any>> };
    expect(markOf(deep, 'accuracy').layer.encoding.y.field).toBe('accuracy');
    expect(deep.vconcat[1].facet).toMatchObject({ field: 'image', sort: { field: 'order' } });
    expect(deep.vconcat[1].spec.encoding).toMatchObject({ x: { field: 'col' }, y: { field: 'row' }, color: { field: 'value' } });
  });

  it('optimizer-naive: each panel draws its own optimizer\'s path over the contours, in the book\'s xlim (−10, 10)', async () => {
    const r = await runExperiment('optimizer-naive', { rt });
    const panels = (r.spec as { concat: Array<{ title: string; layer: Array<Record<string, any>> }> }).concat;
    const names = ['SGD', 'Momentum', 'AdaGrad', 'Adam', 'Nesterov', 'RMSprop', 'AdaDelta'];
    expect(panels.map((p) => p.title)).toEqual(names);
    panels.forEach((p, i) => {
      const path = p.layer.find((l) => l.name === `path_${names[i]}`)!;
      expect(path.data.name).toBe('path');
      expect(path.transform).toEqual([{ filter: { field: 'optimizer', equal: names[i] } }]);
      expect(path.encoding).toMatchObject({ x: { field: 'x', scale: { domain: [-10, 10] } }, y: { field: 'y' }, order: { field: 'step' } });
      expect(p.layer.find((l) => l.name === 'contours')!.encoding).toMatchObject({ detail: { field: 'level' }, order: { field: 'i' } });
    });
  });

  it('optimizer-naive: AdaDelta\'s path is its update rule (Zeiler\'s, lr times the step) with the rates its settings report', async () => {
    const r = await runExperiment('optimizer-naive', { rt });
    const o = (r.settings.optimizers as Array<Record<string, number | string | boolean>>).find((p) => p.name === 'AdaDelta')!;
    expect(o).toEqual({ name: 'AdaDelta', lr: 1, rho: 0.9, eps: 0.01, book: false });
    const { lr, rho, eps } = o as { lr: number; rho: number; eps: number };
    const p = { x: -7, y: 2 }, h = { x: 0, y: 0 }, d = { x: 0, y: 0 };
    const rows = r.tables.path.filter((q) => q.optimizer === 'AdaDelta');
    expect(rows).toHaveLength(31);
    for (let step = 0; step <= 30; step++) {
      expect(Math.abs((rows[step].x as number) - p.x), `x at step ${step}`).toBeLessThan(1e-4);
      expect(Math.abs((rows[step].y as number) - p.y), `y at step ${step}`).toBeLessThan(1e-4);
      const g = { x: p.x / 10, y: 2 * p.y };
      for (const k of ['x', 'y'] as const) {
        h[k] = rho * h[k] + (1 - rho) * g[k] ** 2;
        const delta = Math.sqrt(d[k] + eps) / Math.sqrt(h[k] + eps) * g[k];
        d[k] = rho * d[k] + (1 - rho) * delta ** 2;
        p[k] -= lr * delta;
      }
    }
  });

  it('init-activations: one row of panels per activation and initial weights, in order, a histogram per layer', async () => {
    const r = await runExperiment('init-activations', { rt });
    const spec = r.spec as { facet: { row: Record<string, unknown>; column: Record<string, unknown> } };
    expect(spec.facet.row).toMatchObject({ field: 'panel', sort: ['sigmoid', 'tanh', 'relu'].flatMap((a) => ['std 1', 'std 0.01', 'Xavier', 'He'].map((i) => `${a}, ${i}`)) });
    expect(spec.facet.column).toMatchObject({ field: 'layer' });
    expect(markOf(spec, 'hist').layer.encoding).toMatchObject({ x: { field: 'from' }, x2: { field: 'to' }, y: { field: 'count' } });
  });
});

describe("init-activations' other panels and gradient-vanishing's sigmoid net, rerun by the book's procedure", () => {
  it('the 9 panels not rerun before (std 1 among them): numpy\'s hist of each layer over its range, 30 bins', async () => {
    const r = await runExperiment('init-activations', { rt, seed: 1 });
    const inits: Array<[string, WeightInit]> = [['std 1', 1], ['std 0.01', 0.01], ['Xavier', 'xavier'], ['He', 'he']];
    const done = new Set(['tanh, He', 'sigmoid, std 0.01', 'relu, Xavier']); // test/mutants-misc.test.ts
    for (const act of ['sigmoid', 'tanh', 'relu'] as ActivationName[]) {
      for (const [label, init] of inits) {
        if (done.has(`${act}, ${label}`)) continue;
        const layers = bookActivations(rt, act, init);
        const [lo, hi] = act === 'tanh' ? [-1, 1] : [0, 1];
        layers.forEach((values, l) => {
          const counts = new Array<number>(30).fill(0);
          let sum = 0, sumSq = 0;
          for (const v of values) {
            sum += v;
            sumSq += v * v;
            if (v < lo || v > hi || (act === 'relu' && v === 0)) continue;
            counts[v === hi ? 29 : Math.floor((v - lo) / ((hi - lo) / 30))]++;
          }
          const panel = `${act}, ${label}`;
          const rows = r.tables.hist.filter((h) => h.panel === panel && h.layer === `layer ${l + 1}`);
          expect(rows.map((h) => h.count), `${panel}, layer ${l + 1}`).toEqual(counts);
          // the summary's spread: the standard deviation of every activation of the layer
          const spread = (r.summary.stdOfActivationsPerLayer as Record<string, number[]>)[panel][l];
          const m = sum / values.length;
          expect(Math.abs(spread - Math.sqrt(sumSq / values.length - m * m)), `${panel}, layer ${l + 1}`).toBeLessThan(1e-9);
        });
      }
    }
  });

  it("gradient-vanishing's sigmoid/Xavier net, and the full run's 50 iterations", async () => {
    const small = vanishingData(rt);
    try {
      const r = await runExperiment('gradient-vanishing', { rt, data: small, seed: 1 });
      expect(r.tables.norms.filter((n) => n.net === 'sigmoid, Xavier' && n.depth === 1).map((n) => n.iteration)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      const depths = [1, 2, 3, 4, 5, 6, 7];
      vanishingNorms(rt, small.xTrain, small.tTrain, 'sigmoid', 'xavier', 50, depths).forEach((byDepth, it) => depths.forEach((l, k) => {
        const row = r.tables.norms.find((n) => n.net === 'sigmoid, Xavier' && n.depth === l && n.iteration === it + 1)!;
        expect(row.gradientNorm, `iteration ${it + 1}, W${l}`).toBe(byDepth[k]);
      }));
      const { layer, facet } = markOf(r.spec, 'norm');
      expect(layer.encoding.y).toMatchObject({ field: 'gradientNorm', scale: { type: 'log' } });
      expect(layer.encoding.color).toMatchObject({ field: 'layer', sort: ['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7'] });
      expect(facet).toMatchObject({ field: 'net', sort: ['sigmoid, Xavier', 'ReLU, He'] });
    } finally {
      for (const v of Object.values(small)) v.dispose();
    }
  });
});

describe("hyperparameter-search on the caller's executor: the book's 100 trials, the best 20 shown", () => {
  /** An executor that trains nothing: trial i's accuracies rise over its epochs to a level set by its lr. */
  function stubExecutor() {
    const jobs: TrialJob[] = [];
    let closed = 0;
    const level = (lr: number) => (Math.log10(lr) + 6) / 4; // 0 at 1e-6, 1 at 1e-2
    const executor: Executor = {
      concurrency: 2,
      async run(job) {
        jobs.push(job);
        const q = level(job.settings.lr as number);
        const history = Array.from({ length: job.epochs }, (_, i) => {
          const f = (i + 1) / job.epochs;
          return { epoch: i + 1, trainLoss: 2 - f, trainAcc: 0.05 + 0.9 * q * f, valLoss: 2.1 - f, valAcc: 0.1 + 0.8 * q * f };
        });
        return { study: job.study, index: job.index, seed: job.seed, settings: job.settings, epochs: job.epochs, data: job.data, status: 'ok', history, worker: 'stub', seconds: 0 } satisfies TrialResult;
      },
      async close() { closed++; },
    };
    return { executor, jobs, closed: () => closed };
  }

  it('runs 100 trials of 50 epochs on the DataSpec of 500 digits, 20% held out; shows the best 20 by validation accuracy, and leaves the executor open', async () => {
    const stub = stubExecutor();
    const progress: number[] = [];
    const r: ExperimentResult = await runExperiment('hyperparameter-search', { rt, data, seed: 5, executor: stub.executor, onProgress: (p) => progress.push(p.done / p.total) });
    expect(stub.closed(), 'borrowed: not closed').toBe(0);
    expect(progress).toHaveLength(100);
    expect(progress.at(-1)).toBe(1);
    expect(stub.jobs).toHaveLength(100);
    for (const job of stub.jobs) {
      expect(job.epochs).toBe(50);
      expect(job.data).toEqual({ source: 'mnist', rows: 500, validation: 0.2, splitSeed: 5 });
      expect(job.settings).toMatchObject({ batchSize: 100, optimizer: 'sgd' });
    }
    const final = new Map(stub.jobs.map((j) => [j.index + 1, 0.1 + 0.8 * ((Math.log10(j.settings.lr as number) + 6) / 4)]));
    const ranked = [...stub.jobs].map((j) => j.index + 1).sort((a, b) => final.get(b)! - final.get(a)!);
    const best = r.summary.best as Array<{ rank: number; trial: number; lr: number; validationAccuracy: number }>;
    expect(best.map((b) => b.trial)).toEqual(ranked.slice(0, 20));
    const curves = r.tables.curves;
    expect(new Set(curves.map((c) => c.trial))).toEqual(new Set(ranked.slice(0, 20)));
    for (const [rank, trial] of ranked.slice(0, 20).entries()) {
      const job = stub.jobs.find((j) => j.index + 1 === trial)!;
      const q = (Math.log10(job.settings.lr as number) + 6) / 4;
      const rows = curves.filter((c) => c.trial === trial);
      expect(rows.filter((c) => c.set === 'validation').map((c) => c.accuracy)).toEqual(Array.from({ length: 50 }, (_, i) => 0.1 + 0.8 * q * ((i + 1) / 50)));
      expect(rows.filter((c) => c.set === 'train').map((c) => c.accuracy)).toEqual(Array.from({ length: 50 }, (_, i) => 0.05 + 0.9 * q * ((i + 1) / 50)));
      expect(new Set(rows.map((c) => c.panel))).toEqual(new Set([`Best-${rank + 1}: val ${best[rank].validationAccuracy.toFixed(2)}`]));
    }
    expect(r.tables.scatter.map((s) => [s.trial, s.lr, s.weightDecay, s.validationAccuracy]).sort((a, b) => (a[0] as number) - (b[0] as number)))
      .toEqual(stub.jobs.map((j) => [j.index + 1, j.settings.lr, j.settings.weightDecay, final.get(j.index + 1)]).sort((a, b) => (a[0] as number) - (b[0] as number)));
    // the book's figure: 5 columns of the best trials ranked, accuracy within (0, 1); the scatter on log axes
    const { layer, panel } = markOf(r.spec, 'accuracy');
    expect(panel).toMatchObject({ columns: 5, facet: { field: 'panel', sort: { field: 'rank' } } });
    expect(layer.encoding.y).toMatchObject({ field: 'accuracy', scale: { domain: [0, 1] } });
    const scatter = (r.spec as { vconcat: Array<Record<string, any>> }).vconcat[1];
    expect(scatter.data).toEqual({ name: 'scatter' });
    expect(scatter.encoding).toMatchObject({ x: { field: 'lr', scale: { type: 'log' } }, y: { field: 'weightDecay', scale: { type: 'log' } }, color: { field: 'validationAccuracy' } });
  });
});

describe('runExperiment\'s options at their edges', () => {
  it('an abort while the experiment yields stops it there, even before its last part (it ran that part and resolved)', async () => {
    const stop = new AbortController();
    const reason = new Error('stopped while it yielded');
    const phases: string[] = [];
    const run = runExperiment('optimizer-naive', {
      rt, signal: stop.signal,
      // after the sixth path, an abort that lands while the experiment yields before the seventh
      onProgress: (p) => { phases.push(p.phase); if (p.phase === 'RMSprop') setTimeout(() => stop.abort(reason), 0); },
    });
    await expect(run).rejects.toBe(reason);
    expect(phases).toEqual(['SGD', 'Momentum', 'AdaGrad', 'Adam', 'Nesterov', 'RMSprop']);
  });


  it('takes seeds 0 and 2^32 − 1, refuses 2^32 and 1.5', async () => {
    const a = await runExperiment('optimizer-naive', { rt, seed: 0 });
    expect(a.seed).toBe(0);
    expect((await runExperiment('optimizer-naive', { rt, seed: 0xffffffff })).seed).toBe(0xffffffff);
    for (const seed of [2 ** 32, 1.5]) await expect(runExperiment('optimizer-naive', { rt, seed })).rejects.toThrow(`runExperiment: seed must be an integer in [0, 2^32), got ${seed}`);
  });

  it('refuses digits that are not loadMnist\'s rows and labels, by name', async () => {
    const x = (shape: number[]) => rt.tensor(shape);
    const t = (shape: number[]) => rt.labels(shape);
    const cases: Array<[ExperimentData, RegExp]> = [
      [{ xTrain: x([4, 1, 28, 28]), tTrain: t([4]), xTest: x([2, 784]), tTest: t([2]) }, /^runExperiment\('overfit'\): data\.xTrain and data\.xTest must be flattened rows \[N, 784\]/],
      [{ xTrain: x([4, 784]), tTrain: t([4]), xTest: x([2, 783]), tTest: t([2]) }, /^runExperiment\('overfit'\): data\.xTest rows must hold 784 pixels \(28 × 28\), got 783$/],
      [{ xTrain: x([4, 784]), tTrain: t([3]), xTest: x([2, 784]), tTest: t([2]) }, /^runExperiment\('overfit'\): data\.tTrain\/tTest must be int labels \[N\] matching the rows/],
      [{ xTrain: x([4, 784]), tTrain: t([4]), xTest: x([2, 784]), tTest: t([2, 10]) } as never, /^runExperiment\('overfit'\): data\.tTrain\/tTest must be int labels \[N\] matching the rows/],
    ];
    for (const [bad, message] of cases) {
      try {
        await expect(runExperiment('overfit', { rt, data: bad, quick: true })).rejects.toThrow(message);
      } finally {
        for (const v of Object.values(bad)) v.dispose();
      }
    }
    await expect(runExperiment('optimizer-naive', { rt, quick: 1 as never })).rejects.toThrow(/quick/);
    await expect(runExperiment('optimizer-naive', { rt: {} as never })).rejects.toThrow(/^runExperiment: options\.rt must be a Runtime/);
    await expect(runExperiment('optimizer-naive', null as never)).rejects.toThrow(/^runExperiment: options must be an object, got null$/);
  });
});

describe('searchChart', () => {
  const trial = (index: number, settings: Record<string, number | string>, valAcc: number): ScoredResult => ({
    study: 's', index, seed: 1, settings, epochs: 1, data: {}, worker: 'w', seconds: 0, rung: 0,
    status: 'ok', history: [{ epoch: 1, trainLoss: 1, trainAcc: valAcc, valLoss: 1, valAcc }], objective: valAcc,
  });
  const study = (trials: ScoredResult[], extra: Partial<SearchResult> = {}): SearchResult =>
    ({ study: 's', seed: 1, trials, best: trials, jobs: trials, epochsSpent: trials.length, epochsStored: 0, failed: 0, timedOut: 0, seconds: 0, ...extra });

  it('refuses every one of its own fields as an axis', () => {
    const result = study([trial(0, { lr: 0.1, weightDecay: 1e-5 }, 0.5)]);
    for (const own of ['trial', 'validationAccuracy', 'epochs', 'status']) {
      expect(() => searchChart(result, { x: own }), own).toThrow(`searchChart: x '${own}' is one of the chart's own fields`);
    }
  });

  it('says how many trials timed out, and leaves out of the scatter a trial whose setting is not a number', () => {
    const result = study([trial(0, { lr: 0.1, optimizer: 'sgd' }, 0.5), trial(1, { lr: 0.2, optimizer: 'adam' }, 0.6)], { timedOut: 1 });
    const spec = searchChart(result, { y: 'optimizer' });
    expect(spec).toMatchObject({ title: { subtitle: '2 trials (0 failed, 1 timed out), 2 epochs trained, seed 1' } });
    const [progress, scatter] = spec.hconcat as Array<{ data: { values: unknown[] } }>;
    expect(progress.data.values).toHaveLength(2);
    expect(scatter.data.values).toEqual([]);
  });
});
