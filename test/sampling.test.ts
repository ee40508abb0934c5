// TrainerOptions.sampleWeights: batches drawn with replacement in proportion to a weight per training row
// (PyTorch's WeightedRandomSampler(weights, num_samples, replacement=True)) or 'balanced' (1 / the rows of each
// row's class). The draws' frequencies match the weights (chi-square on a seeded stream: the same counts on
// every host, which the table pins), a row of weight 0 is never drawn, weights all 1 draw plain replacement's
// rows, 'balanced' draws each class about equally (labels and one-hot rows alike, after validationSplit too),
// the bits are the same on 1 and 2 threads, a state taken mid-epoch resumes to the uninterrupted run's bits,
// resume() refuses other weights, and bad weights are refused naming sampleWeights with nothing allocated and
// the random stream unmoved.
import { describe, it, expect } from 'vitest';
import { makeRuntime, expectBits, randomArray } from './helpers/runtime.js';
import { expectRefused } from './helpers/refused.js';
import {
  MultiLayerNet, MultiLayerNetExtend, Trainer, SGD, Tensor, IntTensor,
  type TrainerOptions, type TrainerBaseOptions, type TrainResult, type TrainerState,
} from '../src/index.js';

/** Chi-square's upper 0.001 points for the degrees of freedom the tests use (a seeded stream: no test is flaky). */
const CHI2_999: Record<number, number> = { 2: 13.816, 7: 24.322, 69: 111.055 };

/** Pearson's chi-square of `counts` against `expected` (cells expected 0 must be drawn 0 times: checked apart). */
function chiSquare(counts: number[], expected: number[]): number {
  let chi2 = 0;
  counts.forEach((c, i) => { if (expected[i] > 0) chi2 += (c - expected[i]) ** 2 / expected[i]; });
  return chi2;
}

/** Draws of a run: N rows whose first input is the row's index, stepped with lr 0 (the draws alone matter), recorded by augment. */
async function drawsOf(labels: number[], classes: number, options: TrainerOptions, { seed = 7, oneHot = false, epochs = 1, batch = labels.length } = {}) {
  const rt = await makeRuntime({ seed });
  const N = labels.length;
  const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: classes });
  const x = rt.tensor([N, 2], labels.flatMap((_, i) => [i, 0]));
  const t = oneHot ? rt.tensor([N, classes], labels.flatMap((c) => Array.from({ length: classes }, (_, k) => (k === c ? 1 : 0)))) : rt.labels([N], labels);
  const drawn: number[] = [];
  const trainer = new Trainer(net, x, t, x, t, {
    epochs, miniBatchSize: batch, optimizer: new SGD({ lr: 0 }), adaptiveThreads: false,
    augment: (xb) => { const d = xb.data; for (let r = 0; r < xb.shape[0]; r++) drawn.push(d[2 * r]); },
    ...options,
  } as TrainerOptions);
  const sampling = trainer.sampling, trainingRows = trainer.trainingRows;
  trainer.train();
  const random = rt.randomState;
  trainer.dispose(); net.dispose(); rt.dispose();
  return { drawn, sampling, trainingRows, random };
}

/** How often each of `n` values occurs in `drawn`. */
function countsOf(drawn: number[], n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const i of drawn) c[i]++;
  return c;
}

describe('Trainer sampleWeights: the draws', () => {
  const W = [1, 2, 3, 4, 0, 5, 1, 0, 2, 2]; // Σ 20
  const labels10 = W.map((_, i) => i % 2);

  it('draws each row in proportion to its weight (chi-square, p 0.001), never a row of weight 0; the counts are the same on every host', async () => {
    const { drawn, sampling } = await drawsOf(labels10, 2, { sampleWeights: W }, { epochs: 400 });
    expect(sampling).toBe('replacement');
    expect(drawn.length).toBe(4000);
    const counts = countsOf(drawn, W.length);
    expect(counts[4]).toBe(0);
    expect(counts[7]).toBe(0);
    const chi2 = chiSquare(counts, W.map((w) => (4000 * w) / 20));
    expect(chi2).toBeLessThan(CHI2_999[7]); // 8 rows of positive weight: 7 degrees of freedom
    // uniform draws (the weights ignored) would be far out: a bound that the draws can fail
    expect(chiSquare(countsOf(drawn.map((_, k) => k % 10), 10), W.map((w) => (4000 * w) / 20))).toBeGreaterThan(CHI2_999[7]);
    // the stream's draws and the search are IEEE arithmetic only: these counts on Node and in Chromium alike
    expect(counts).toEqual(COUNTS_W);
  });

  it('a Float32Array or Float64Array draws as the array of the same values; weights all 1 draw plain replacement\'s rows', async () => {
    const plain = await drawsOf(labels10, 2, { sampleWeights: W }, { epochs: 20 });
    for (const typed of [Float32Array.from(W), Float64Array.from(W)]) {
      expect((await drawsOf(labels10, 2, { sampleWeights: typed }, { epochs: 20 })).drawn).toEqual(plain.drawn);
    }
    const ones = await drawsOf(labels10, 2, { sampleWeights: new Array(10).fill(1) }, { epochs: 20, batch: 4 });
    const replacement = await drawsOf(labels10, 2, { sampling: 'replacement' }, { epochs: 20, batch: 4 });
    expect(ones.drawn).toEqual(replacement.drawn);
    expect(ones.random).toEqual(replacement.random);
  });

  it('never draws a row of weight 0: at either end, between, and when the weights are subnormal', async () => {
    const labels = new Array(12).fill(0).map((_, i) => i % 3);
    const only = (positive: Record<number, number>) => labels.map((_, i) => positive[i] ?? 0);
    const cases: Array<[number[], number[]]> = [
      [only({ 3: 1, 7: 3 }), [3, 7]],
      [only({ 0: 2 }), [0]],
      [only({ 11: 0.5 }), [11]],
      [only({ 5: 1e-300, 6: 1e-300 }), [5, 6]],
      // Σ w is the smallest subnormal: f·Σw rounds to Σw itself for about half the draws, past every cumulative sum
      [only({ 4: 5e-324 }), [4]],
    ];
    for (const [w, allowed] of cases) {
      const { drawn } = await drawsOf(labels, 3, { sampleWeights: w }, { epochs: 20 });
      expect(drawn.length).toBe(240);
      expect([...new Set(drawn)].sort((a, b) => a - b), `weights ${w}`).toEqual(allowed);
    }
  });

  it('copies the weights: changing the array after the Trainer was made changes no draw', async () => {
    const rt = await makeRuntime({ seed: 7 });
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const x = rt.tensor([10, 2], labels10.flatMap((_, i) => [i, 0])), t = rt.labels([10], labels10);
    const w = [...W], drawn: number[] = [];
    const trainer = new Trainer(net, x, t, x, t, {
      epochs: 20, miniBatchSize: 10, optimizer: new SGD({ lr: 0 }), sampleWeights: w,
      augment: (xb) => { for (let r = 0; r < 10; r++) drawn.push(xb.data[2 * r]); },
    });
    w.fill(0); w[4] = 1; // only row 4, which weighed 0
    trainer.train();
    expect(drawn).toEqual((await drawsOf(labels10, 2, { sampleWeights: W }, { epochs: 20 })).drawn);
    trainer.dispose(); net.dispose(); rt.dispose();
  });
});

/** The counts of the first test's 4,000 draws (seed 7): what this stream gives on every host. */
const COUNTS_W = [205, 385, 553, 796, 0, 1047, 202, 0, 404, 408];

describe("Trainer sampleWeights 'balanced'", () => {
  // 70 / 20 / 10 rows of classes 0, 1, 2
  const labels = Array.from({ length: 100 }, (_, i) => (i < 70 ? 0 : i < 90 ? 1 : 2));
  const classCounts = (drawn: number[]) => countsOf(drawn.map((i) => labels[i]), 3);

  it('draws each class about equally often (chi-square, p 0.001), and the rows of a class alike; plain replacement keeps 70/20/10', async () => {
    const { drawn } = await drawsOf(labels, 3, { sampleWeights: 'balanced' }, { epochs: 100, batch: 50 });
    expect(drawn.length).toBe(10_000);
    expect(chiSquare(classCounts(drawn), [10_000 / 3, 10_000 / 3, 10_000 / 3])).toBeLessThan(CHI2_999[2]);
    // within class 0, its 70 rows uniformly
    const rows0 = countsOf(drawn.filter((i) => i < 70), 70);
    const drawn0 = rows0.reduce((a, b) => a + b, 0);
    expect(chiSquare(rows0, new Array(70).fill(drawn0 / 70))).toBeLessThan(CHI2_999[69]);
    const plain = await drawsOf(labels, 3, { sampling: 'replacement' }, { epochs: 100, batch: 50 });
    expect(chiSquare(classCounts(plain.drawn), [10_000 / 3, 10_000 / 3, 10_000 / 3])).toBeGreaterThan(1000);
    expect(chiSquare(classCounts(plain.drawn), [7000, 2000, 1000])).toBeLessThan(CHI2_999[2]);
  });

  it('takes a one-hot row\'s class as its label: the same draws', async () => {
    const byLabel = await drawsOf(labels, 3, { sampleWeights: 'balanced' }, { epochs: 5, batch: 50 });
    const byRow = await drawsOf(labels, 3, { sampleWeights: 'balanced' }, { epochs: 5, batch: 50, oneHot: true });
    expect(byRow.drawn).toEqual(byLabel.drawn);
  });

  it('with validationSplit, weighs the training rows the split leaves', async () => {
    const { drawn, trainingRows } = await drawsOf(labels, 3, { sampleWeights: 'balanced', validationSplit: 0.3 }, { epochs: 100, batch: 35 });
    expect(trainingRows).toBe(70);
    expect(drawn.length).toBe(7000);
    expect(chiSquare(classCounts(drawn), [7000 / 3, 7000 / 3, 7000 / 3])).toBeLessThan(CHI2_999[2]);
  });
});

describe('Trainer sampleWeights: bits', () => {
  it('trains to the same bits on 1 and 2 threads', async () => {
    const run = async (threads: number) => {
      const rt = await makeRuntime({ seed: 11, threads, busyCores: 'split' });
      await rt.ready;
      const N = 300;
      const net = new MultiLayerNet(rt, { inputSize: 61, hiddenSizeList: [100, 100], outputSize: 4 });
      const x = rt.tensor([N, 61], randomArray(N * 61, 3)), t = rt.labels([N], Array.from({ length: N }, (_, i) => (i % 7 === 0 ? 1 : i % 11 === 0 ? 2 : i % 13 === 0 ? 3 : 0)));
      const trainer = new Trainer(net, x, t, x, t, { epochs: 2, miniBatchSize: 100, optimizer: new SGD({ lr: 0.05 }), adaptiveThreads: false, sampleWeights: 'balanced' });
      const result = trainer.train();
      const params = Object.fromEntries(Object.entries(net.exportParams()).map(([k, v]) => [k, v.data]));
      const random = rt.randomState, jobs = rt.threadStats().jobs;
      trainer.dispose(); net.dispose(); x.dispose(); t.dispose(); rt.dispose();
      return { losses: result.trainLossList, params, random, jobs };
    };
    const one = await run(1), two = await run(2);
    expect(two.jobs, 'calls split across the 2 threads').toBeGreaterThan(0);
    expect(two.losses).toEqual(one.losses);
    expect(two.random).toEqual(one.random);
    for (const k of Object.keys(one.params)) expectBits(two.params[k], one.params[k], k);
  });
});

describe('Trainer sampleWeights: a state taken within an epoch', () => {
  /** A batch-norm and dropout net on 120 rows of 3 imbalanced classes, 6 steps an epoch at batch 20. */
  async function setup(seed: number, options: TrainerBaseOptions) {
    const r = await makeRuntime({ seed });
    const net = new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 3, useBatchnorm: true, useDropout: true, dropoutRatio: 0.2 });
    const x = r.tensor([120, 2], randomArray(240, 5)), t = r.labels([120], Array.from({ length: 120 }, (_, i) => (i % 10 === 0 ? 2 : i % 3 === 0 ? 1 : 0)));
    const trainer = new Trainer(net, x, t, x, t, { epochs: 4, miniBatchSize: 20, optimizer: new SGD({ lr: 0.1 }), ...options });
    return { r, net, trainer };
  }
  const record = (result: TrainResult) => ({ ...result, seconds: 0, epochs: result.epochs.map((e) => ({ ...e, seconds: 0 })) });
  const given = Array.from(randomArray(120, 9, 0, 1), (v, i) => (i % 17 === 0 ? 0 : v));
  const variants: Array<[string, TrainerBaseOptions]> = [['given weights', { sampleWeights: given }], ["'balanced', validationSplit", { sampleWeights: 'balanced', validationSplit: 0.25 }]];

  for (const [name, options] of variants) it(`resumes to the uninterrupted run's bits, from trainerState() and checkpointBytes() (${name})`, async () => {
    const want = await setup(13, options);
    const wantResult = want.trainer.train();
    for (const at of [1, 8, wantResult.steps - 1]) {
      const taken = await setup(13, options);
      let state: TrainerState | null = null, bytes: Uint8Array | null = null;
      await taken.trainer.fit({ callbacks: { onStepEnd: (e) => { if (e.iter === at) { state = JSON.parse(JSON.stringify(taken.trainer.trainerState())) as TrainerState; bytes = taken.trainer.checkpointBytes(); } } } });
      expect(state!.sampleWeights).toMatchObject({ kind: name === 'given weights' ? 'given' : 'balanced', digest: expect.stringMatching(/^[0-9a-f]{8}$/) });
      for (const [how, from] of [['state', state!], ['bytes', bytes!]] as const) {
        const again = await setup(13, options); // the seed its validationSplit was drawn with
        again.r.reseed(77); // the position and stream come from the state
        again.trainer.resume(from);
        const result = again.trainer.train();
        expect(record(result), `${name}, step ${at} (${how})`).toEqual(record(wantResult));
        const a = again.net.exportParams(), b = want.net.exportParams();
        for (const k of Object.keys(b)) expectBits(a[k].data, b[k].data, `${name}, step ${at} (${how}): ${k}`);
        expect(again.r.randomState).toEqual(want.r.randomState);
        again.trainer.dispose(); again.r.dispose();
      }
      taken.trainer.dispose(); taken.r.dispose();
    }
    want.trainer.dispose(); want.r.dispose();
  });

  it('resume() refuses a state drawn with other weights (or none), before it writes; a state written before they were recorded passes', async () => {
    const from = await setup(13, { sampleWeights: given });
    let state: TrainerState | null = null;
    await from.trainer.fit({ callbacks: { onStepEnd: (e) => { if (e.iter === 8) state = from.trainer.trainerState(); } } });
    const other = given.map((v, i) => (i === 3 ? v + 1 : v));
    const cases: Array<[TrainerBaseOptions, RegExp]> = [
      [{ sampleWeights: other }, /^Trainer\.resume: the state's run drew its batches with sampleWeights given weights \(digest [0-9a-f]{8}\), this Trainer with given weights \(digest [0-9a-f]{8}\): a resumed run must draw as the interrupted one did$/],
      [{ sampleWeights: 'balanced' }, /sampleWeights given weights \(digest [0-9a-f]{8}\), this Trainer with 'balanced' \(digest [0-9a-f]{8}\)/],
      [{ sampling: 'replacement' }, /sampleWeights given weights \(digest [0-9a-f]{8}\), this Trainer with none/],
    ];
    for (const [options, message] of cases) {
      const to = await setup(13, options);
      const params = to.net.exportParams(), random = to.r.randomState;
      expect(() => to.trainer.resume(state!)).toThrow(message);
      for (const k of Object.keys(params)) expectBits(to.net.exportParams()[k].data, params[k].data, k);
      expect(to.r.randomState).toEqual(random);
      to.trainer.dispose(); to.r.dispose();
    }
    // a run without weights refuses a weighted Trainer's resume likewise (with replacement: the sampling matches)
    const plain = await setup(13, { sampling: 'replacement' });
    const plainState = plain.trainer.trainerState();
    expect(plainState.sampleWeights).toBeNull();
    const weighted = await setup(13, { sampleWeights: given });
    expect(() => weighted.trainer.resume(plainState)).toThrow(/sampleWeights none, this Trainer with given weights/);
    const { sampleWeights, ...older } = state!;
    expect(sampleWeights).not.toBeNull();
    expect(() => weighted.trainer.resume(older)).not.toThrow();
    for (const s of [from, plain, weighted]) { s.trainer.dispose(); s.r.dispose(); }
  });
});

describe('Trainer sampleWeights: refusals', () => {
  it('refuses bad weights and conflicting options naming sampleWeights, with nothing allocated and the random stream unmoved', async () => {
    const rt = await makeRuntime({ seed: 3 });
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const x = rt.tensor([6, 2], randomArray(12, 1)), t = rt.labels([6], [0, 1, 0, 1, 0, 1]);
    const make = (options: Record<string, unknown>) => new Trainer(net, x, t, x, t, options as TrainerOptions);
    const random = rt.randomState;
    const cases: Array<[unknown, Record<string, unknown>, new (m?: string) => Error, RegExp]> = [
      [42, {}, TypeError, /^Trainer: sampleWeights must be 'balanced' or an array of one weight per training row \(a plain array, Float32Array or Float64Array\), got number 42$/],
      [null, {}, TypeError, /^Trainer: sampleWeights must be 'balanced' or an array .*, got null$/],
      [Int32Array.from([1, 1, 1, 1, 1, 1]), {}, TypeError, /^Trainer: sampleWeights must be .*, got an Int32Array$/],
      ['uniform', {}, RangeError, /^Trainer: sampleWeights must be 'balanced' or one weight per training row, got 'uniform'$/],
      [[1, 1, 1, 1, 1], {}, RangeError, /^Trainer: sampleWeights must hold one weight per training row \(6\), got 5$/],
      [[1, 1, -1, 1, 1, 1], {}, RangeError, /^Trainer: sampleWeights\[2\] must be a finite number ≥ 0, got -1$/],
      [[1, 1, 1, NaN, 1, 1], {}, RangeError, /^Trainer: sampleWeights\[3\] must be a finite number ≥ 0, got NaN$/],
      [Float64Array.from([1, 1, 1, 1, Infinity, 1]), {}, RangeError, /^Trainer: sampleWeights\[4\] must be a finite number ≥ 0, got Infinity$/],
      [['1', 1, 1, 1, 1, 1], {}, TypeError, /^Trainer: sampleWeights\[0\] must be a finite number ≥ 0, got the string "1"$/],
      [[1, 1, 1, 1, 1, , ], {}, TypeError, /^Trainer: sampleWeights\[5\] must be a finite number ≥ 0, got undefined$/],
      [new Float32Array(6), {}, RangeError, /^Trainer: sampleWeights are all 0; at least one row must weigh more$/],
      [[1e308, 1e308, 0, 0, 0, 0], {}, RangeError, /^Trainer: sampleWeights sum past float64's range/],
      [[1, 1, 1, 1, 1, 1], { sampling: 'permutation' }, TypeError, /^Trainer: sampleWeights draws batches with replacement, and sampling is 'permutation'/],
      ['balanced', { sampling: 'permutation' }, TypeError, /^Trainer: sampleWeights draws batches with replacement, and sampling is 'permutation'/],
      [[1, 1, 1, 1, 1, 1], { validationSplit: 0.5 }, TypeError, /^Trainer: sampleWeights as an array weighs xTrain's rows, and validationSplit holds some of them out/],
    ];
    for (const [weights, more, cls, message] of cases) {
      expectRefused(rt, () => make({ sampleWeights: weights, ...more }), cls, message);
      expect(rt.randomState, String(message)).toEqual(random);
    }
    // what is accepted: sampling 'replacement' beside the weights, and 'balanced' beside validationSplit
    for (const options of [{ sampleWeights: [0, 1, 0, 1, 0, 1], sampling: 'replacement' }, { sampleWeights: 'balanced', validationSplit: 0.5 }]) {
      const trainer = make(options);
      expect(trainer.sampling).toBe('replacement');
      trainer.dispose();
    }
    net.dispose(); x.dispose(); t.dispose(); rt.dispose();
  });
});

// the types a caller meets: a Tensor is no weight array, and 'balanced' the one name
void ((net: MultiLayerNet, x: Tensor, t: IntTensor) => {
  // @ts-expect-error a tensor of weights is not taken
  void new Trainer(net, x, t, x, t, { sampleWeights: x });
  // @ts-expect-error only 'balanced' names weights
  void new Trainer(net, x, t, x, t, { sampleWeights: 'uniform' });
});
