// Where batchnorm and overfit measure their points: the book's own loops (batch_norm_test.py,
// overfit_weight_decay.py; common/trainer.py for overfit_dropout.py) update, then test
// `if i % iter_per_epoch == 0` (i from 0) and take network.accuracy on all the rows: after updates 1, 1 + k,
// 1 + 2k, …. trainRun's measureAt 'epochStart' against that loop written out here with the public API
// (Dataset.randomChoice for np.random.choice, net.gradient, optimizer.update, net.accuracy), bit for bit;
// its measurements draw nothing (the run's batches and dropout masks are those of a run that measures
// nothing), and a run that diverges keeps the points before it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createContext } from '../src/experiments/context.js';
import { trainRun, type RunData, type RunPoint } from '../src/experiments/train-run.js';
import type { Experiment } from '../src/experiments/types.js';
import { Dataset, MultiLayerNetExtend, SGD, type MultiLayerNetExtendOptions } from '../src/index.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { makeRuntime, rng } from './helpers/runtime.js';

const SEED = 7, ROWS = 30, BATCH = 10, K = 3; // the book's iter_per_epoch: 30 / 10
// batch norm and dropout: the measurement must use the running statistics and no dropout, and draw no mask
const NET: MultiLayerNetExtendOptions = { inputSize: 4, hiddenSizeList: [8, 8], outputSize: 3, weightInitStd: 'he', useBatchnorm: true, useDropout: true, dropoutRatio: 0.2 };
const LR = 0.3;

let rt: Runtime;
let data: RunData;
beforeAll(async () => {
  rt = await makeRuntime({ seed: 1 });
  // three noisy clusters: a few updates move the accuracy
  const next = rng(11);
  const x = (labels: number[]) => rt.tensor([labels.length, 4], Float32Array.from({ length: labels.length * 4 }, (_, k) => (k % 4 === labels[Math.floor(k / 4)] ? 1 : 0) + 0.8 * (next() - 0.5)));
  const labels = (n: number) => Array.from({ length: n }, (_, i) => (i * 7) % 3);
  const train = labels(ROWS), test = labels(12);
  data = { xTrain: x(train), tTrain: rt.labels([ROWS], train), xTest: x(test), tTest: rt.labels([12], test) };
});
afterAll(async () => {
  for (const t of Object.values(data)) t.dispose();
  await rt.dispose();
});

const stub: Experiment = { name: 'overfit', title: 'stub', needsData: false, run: () => Promise.reject(new Error('not run')) };

/** The net's parameters and its inference-mode outputs on the training rows (batch norm's running statistics in them). */
function snapshot(net: MultiLayerNetExtend): Record<string, number[]> {
  const out: Record<string, number[]> = Object.fromEntries(Object.entries(net.params).map(([k, p]) => [k, Array.from(p.data)]));
  const y = net.predict(data.xTrain);
  out.predicted = Array.from(y.data);
  y.dispose();
  return out;
}

/** trainRun's run of `steps` steps from the seed, with `measureAt`, and where the net ended. */
async function run(steps: number, measureAt: 'epochStart' | 'epochEnd', progress?: (done: number) => void) {
  const ctx = createContext(stub, { rt, seed: SEED, onProgress: (p) => progress?.(p.done) });
  ctx.plan(steps);
  ctx.reseed();
  const net = new MultiLayerNetExtend(rt, NET);
  const optimizer = new SGD({ lr: LR });
  try {
    const record = measureAt === 'epochStart'
      ? await trainRun(ctx, net, data, { optimizer, batchSize: BATCH, iterations: steps, measureAt, phase: 'p' })
      : await trainRun(ctx, net, data, { optimizer, batchSize: BATCH, iterations: steps, evaluate: false, phase: 'p' });
    return { record, net: snapshot(net) };
  } finally {
    optimizer.dispose();
    net.dispose();
  }
}

/** The book's loop, written out: a batch drawn with replacement, the gradient, the update; every K updates from the first, the two accuracies. */
function bookLoop(steps: number): { points: RunPoint[]; after: Array<[number, number]>; net: Record<string, number[]> } {
  rt.reseed(SEED);
  const net = new MultiLayerNetExtend(rt, NET);
  const optimizer = new SGD({ lr: LR });
  const train = new Dataset(data.xTrain, data.tTrain);
  const points: RunPoint[] = [];
  const after: Array<[number, number]> = []; // both accuracies after every update, to show the schedule matters
  try {
    for (let i = 0; i < steps; i++) {
      const batch = train.randomChoice(BATCH); // np.random.choice(train_size, batch_size)
      optimizer.update(net.params, net.gradient(batch.x, batch.t));
      const accuracies: [number, number] = [net.accuracy(data.xTrain, data.tTrain), net.accuracy(data.xTest, data.tTest)];
      after.push(accuracies);
      if (i % K === 0) points.push({ epoch: points.length + 1, updates: i + 1, trainAcc: accuracies[0], testAcc: accuracies[1] });
    }
    return { points, after, net: snapshot(net) };
  } finally {
    train.dispose();
    optimizer.dispose();
    net.dispose();
  }
}

describe("trainRun's measureAt 'epochStart': the book's loops' points", () => {
  it.each([
    ['overfit_weight_decay.py (it breaks after measuring its 3rd epoch)', 1 + 2 * K],
    ["overfit_dropout.py's Trainer (3 epochs: all 9 updates)", 3 * K],
  ])('%s: after updates 1, 4, 7, each network.accuracy on all the rows, to the bit', async (_, steps) => {
    const book = bookLoop(steps);
    // measured a step later or two (after each epoch's last update, as before), the points differ
    const at = (updates: number[]) => updates.map((u) => book.after[u - 1]);
    expect(at([1, 4]), 'the data make the schedule visible').not.toEqual(at([3, 6]));
    expect(at([1, 4])).not.toEqual(at([2, 5]));
    const ours = await run(steps, 'epochStart');
    expect(ours.record.epochs.map((p) => p.updates)).toEqual([1, 4, 7]);
    expect(ours.record.epochs).toEqual(book.points);
    expect(ours.record.losses).toHaveLength(steps);
    expect(ours.record.divergedAt).toBeNull();
    // the same batches and dropout masks to the end: the same parameters and running statistics
    expect(ours.net).toEqual(book.net);
  });

  it('measuring draws nothing: the run ends where the same run that does not measure ends, its losses the same', async () => {
    const measured = await run(3 * K, 'epochStart');
    const plain = await run(3 * K, 'epochEnd');
    expect(measured.record.epochs.map((p) => [p.epoch, p.updates])).toEqual([[1, 1], [2, 4], [3, 7]]);
    expect(plain.record.epochs).toEqual([]);
    expect(measured.record.losses).toEqual(plain.record.losses);
    expect(measured.net).toEqual(plain.net);
  });

  it('a run that diverges keeps the points before the failed step, says where it failed, and counts the steps left as done', async () => {
    const pixels = Float32Array.from(data.xTrain.data);
    const done: number[] = [];
    let result: Awaited<ReturnType<typeof run>>;
    try {
      // NaN pixels in every row from step 6 on: its loss is NaN, and the Trainer stops there
      result = await run(3 * K, 'epochStart', (d) => {
        done.push(d);
        if (d === 5) data.xTrain.data.fill(Number.NaN);
      });
    } finally {
      data.xTrain.data.set(pixels);
    }
    expect(result.record.divergedAt).toBe(6);
    expect(result.record.losses).toHaveLength(5);
    expect(result.record.epochs.map((p) => p.updates)).toEqual([1, 4]);
    expect(result.record.epochs).toEqual(bookLoop(5).points);
    expect(done.at(-1), 'the progress reaches its planned total').toBe(3 * K);
  });
});
