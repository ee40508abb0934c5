// The book's hyperparameter_optimization.py: random search of the learning
// rate and weight decay on 500 digits (20% held out for validation), the best
// 20 trials' accuracy curves and every trial on an lr × weight-decay scatter.
// Trials run one after another here (a plain loop); the search API of
// src/search can spread them over every core.
import { seededRandom } from '../data/split.js';
import { MultiLayerNet } from '../nets/multi-layer-net.js';
import { SGD } from '../optim/sgd.js';
import type { IntTensor, Tensor } from '../runtime/tensor.js';
import type { Runtime } from '../runtime/runtime.js';
import { chart, field, seriesCount } from './spec.js';
import { runSteps, trainRun } from './train-run.js';
import type { Experiment, Row } from './types.js';

const ROWS = 500;
const VALIDATION_RATE = 0.2;

/** Rows `order[from..to)` of x and t, copied into new tensors (the caller disposes them). */
function gather(rt: Runtime, x: Tensor, t: IntTensor, order: readonly number[]): { x: Tensor; t: IntTensor } {
  const width = x.shape[1];
  const xs = new Float32Array(order.length * width);
  const ts = new Int32Array(order.length);
  const xd = x.data, td = t.data;
  order.forEach((r, i) => {
    xs.set(xd.subarray(r * width, (r + 1) * width), i * width);
    ts[i] = td[r];
  });
  return { x: rt.tensor([order.length, width], xs), t: rt.labels([order.length], ts) };
}

export const hyperparameterSearch: Experiment = {
  name: 'hyperparameter-search',
  title: 'Random search of learning rate and weight decay',
  needsData: true,
  async run(ctx) {
    const { rt } = ctx;
    const all = ctx.data();
    const settings = {
      net: 'MultiLayerNet 784-[100, 100, 100, 100, 100, 100]-10, ReLU, He init',
      optimizer: 'SGD',
      batchSize: 100,
      rows: ROWS,
      validationRate: VALIDATION_RATE,
      trials: ctx.quick ? 6 : 100,
      epochs: ctx.quick ? 8 : 50,
      learningRate: '10^U(-6, -2)',
      weightDecay: '10^U(-8, -4)',
      shown: 20,
      ranking: 'validation accuracy after the last epoch',
      executor: 'one trial after another on this runtime (the search API of src/search runs them on every core)',
    };
    // the first 500 training digits, shuffled with the seed; the first 20% of them validate
    const next = seededRandom(ctx.seed);
    const order = Array.from({ length: Math.min(ROWS, all.xTrain.shape[0]) }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const nVal = Math.round(order.length * VALIDATION_RATE);
    const val = gather(rt, all.xTrain, all.tTrain, order.slice(0, nVal));
    const train = gather(rt, all.xTrain, all.tTrain, order.slice(nVal));
    const data = { xTrain: train.x, tTrain: train.t, xTest: val.x, tTest: val.t };
    const trials: Array<{ trial: number; lr: number; weightDecay: number; validation: number; train: number; curves: Row[] }> = [];
    ctx.plan(settings.trials * runSteps(order.length - nVal, settings));
    try {
      for (let trial = 1; trial <= settings.trials; trial++) {
        const weightDecay = 10 ** (-8 + 4 * next());
        const lr = 10 ** (-6 + 4 * next());
        ctx.reseed();
        const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, weightInitStd: 'he', weightDecayLambda: weightDecay });
        const optimizer = new SGD({ lr });
        try {
          const run = await trainRun(ctx, net, data, { optimizer, batchSize: settings.batchSize, epochs: settings.epochs, phase: `trial ${trial}/${settings.trials}` });
          const last = run.epochs[run.epochs.length - 1];
          const curves = run.epochs.flatMap((e): Row[] => [
            { trial, set: 'validation', epoch: e.epoch, accuracy: e.testAcc },
            { trial, set: 'train', epoch: e.epoch, accuracy: e.trainAcc },
          ]);
          trials.push({ trial, lr, weightDecay, validation: last?.testAcc ?? NaN, train: last?.trainAcc ?? NaN, curves });
        } finally {
          optimizer.dispose();
          net.dispose();
        }
      }
    } finally {
      for (const t of [val.x, val.t, train.x, train.t]) t.dispose();
    }
    const ranked = [...trials].sort((a, b) => (b.validation || 0) - (a.validation || 0) || a.trial - b.trial);
    const best = ranked.slice(0, settings.shown);
    const curves: Row[] = best.flatMap((t, rank) => t.curves.map((c) => ({
      ...c, rank: rank + 1, panel: `Best-${rank + 1}: val ${t.validation.toFixed(2)}`,
    })));
    const scatter: Row[] = trials.map((t) => ({ trial: t.trial, lr: t.lr, weightDecay: t.weightDecay, validationAccuracy: t.validation, trainAccuracy: t.train }));
    return {
      name: this.name,
      title: this.title,
      quick: ctx.quick,
      seed: ctx.seed,
      settings,
      conclusion: 'The good learning rates lie around 10^-3 to 10^-2 and the good weight decays around 10^-8 to 10^-6; rates below 10^-4 barely learn in 50 epochs, and weight decay matters much less than the learning rate at these sizes. Random search finds the good region with few trials; the next step is to narrow the ranges and search again.',
      summary: {
        best: best.map((t, rank) => ({ rank: rank + 1, trial: t.trial, lr: t.lr, weightDecay: t.weightDecay, validationAccuracy: t.validation, trainAccuracy: t.train })),
      },
      tables: { curves, scatter },
      spec: chart(this.title, `${settings.trials} trials × ${settings.epochs} epochs on ${order.length - nVal} digits, validated on ${nVal}; lr = 10^U(−6, −2), weight decay = 10^U(−8, −4)`, {
        vconcat: [
          {
            data: { name: 'curves' },
            title: `The best ${best.length} trials (validation and training accuracy)`,
            columns: 5,
            facet: { field: 'panel', type: 'nominal', title: null, sort: { field: 'rank' }, header: { labelFontWeight: 'bold' } },
            spec: {
              width: 150,
              height: 90,
              layer: [{
                name: 'accuracy',
                mark: { type: 'line', strokeWidth: 1.5, clip: true },
                encoding: {
                  x: field('epoch', 'quantitative', 'epoch'),
                  y: field('accuracy', 'quantitative', 'accuracy', { scale: { domain: [0, 1] } }),
                  color: field('set', 'nominal', 'data', { sort: ['validation', 'train'], scale: { range: ['#1f77b4', '#ff7f0e'] } }),
                },
              }],
            },
          },
          {
            data: { name: 'scatter' },
            title: 'Every trial: learning rate × weight decay',
            width: 420,
            height: 300,
            mark: { type: 'point', filled: true, size: 70, stroke: '#333', strokeWidth: 0.5 },
            encoding: {
              x: field('lr', 'quantitative', 'learning rate (log scale)', { scale: { type: 'log' }, axis: { format: '.0e' } }),
              y: field('weightDecay', 'quantitative', 'weight decay λ (log scale)', { scale: { type: 'log' }, axis: { format: '.0e' } }),
              color: field('validationAccuracy', 'quantitative', 'validation accuracy', { scale: { scheme: 'viridis', domain: [0, 1] } }),
              tooltip: [{ field: 'trial' }, { field: 'lr' }, { field: 'weightDecay' }, { field: 'validationAccuracy' }],
            },
          },
        ],
        resolve: { scale: { color: 'independent' } },
      }),
      marks: { accuracy: seriesCount(curves, ['rank', 'set']) },
    };
  },
};
