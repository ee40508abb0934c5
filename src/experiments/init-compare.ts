// The book's weight_init_compare.py (std 0.01 vs Xavier vs He on a deep ReLU
// net: training-loss curves) and the study notes' grid of activation × initial
// weights on a small net (accuracy curves).
import { MultiLayerNet, SGD, smoothCurve, type ActivationName, type WeightInit } from '../index.js';
import { chart, field, firstRows, seriesCount, tailMean } from './spec.js';
import { runSteps, trainRun } from './train-run.js';
import type { Experiment, Row } from './types.js';
import { experimentResult } from './result.js';

const INITS: ReadonlyArray<{ label: string; init: WeightInit }> = [
  { label: 'std 0.01', init: 0.01 },
  { label: 'Xavier', init: 'xavier' },
  { label: 'He', init: 'he' },
];
const GRID_ACTIVATIONS: readonly ActivationName[] = ['sigmoid', 'relu'];

export const initCompare: Experiment = {
  name: 'init-compare',
  title: 'Weight initialisation on MNIST',
  needsData: true,
  async run(ctx) {
    const { rt } = ctx;
    const all = ctx.data();
    const deep = { net: 'MultiLayerNet 784-[100, 100, 100, 100]-10, ReLU', optimizer: 'SGD lr 0.01', batchSize: 128, iterations: ctx.quick ? 100 : 2000, trainRows: all.xTrain.shape[0] };
    const grid = {
      net: 'MultiLayerNet 784-[40, 20]-10', optimizer: 'SGD lr 0.1', batchSize: 100,
      iterations: ctx.quick ? 100 : 2000, trainRows: ctx.quick ? 1000 : all.xTrain.shape[0], testRows: ctx.quick ? 500 : all.xTest.shape[0],
    };
    const gridData = firstRows(this.name, all, grid.trainRows, grid.testRows);
    ctx.plan(INITS.length * runSteps(deep.trainRows, deep) + GRID_ACTIVATIONS.length * INITS.length * runSteps(grid.trainRows, grid));
    const losses: Row[] = [];
    const accuracy: Row[] = [];
    const finalLoss: Record<string, number> = {};
    const finalTestAccuracy: Record<string, number> = {};
    for (const { label, init } of INITS) {
      ctx.reseed();
      const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100], outputSize: 10, activation: 'relu', weightInitStd: init });
      const optimizer = new SGD({ lr: 0.01 });
      try {
        const run = await trainRun(ctx, net, all, { optimizer, batchSize: deep.batchSize, iterations: deep.iterations, evaluate: false, phase: `deep net, ${label}` });
        const smooth = smoothCurve(run.losses);
        run.losses.forEach((loss, i) => losses.push({ init: label, iteration: i + 1, loss, smoothed: smooth[i] }));
        finalLoss[label] = tailMean(run.losses, 20);
      } finally {
        optimizer.dispose();
        net.dispose();
      }
    }
    for (const act of GRID_ACTIVATIONS) {
      for (const { label, init } of INITS) {
        const panel = `${act}, ${label}`;
        ctx.reseed();
        const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [40, 20], outputSize: 10, activation: act, weightInitStd: init });
        const optimizer = new SGD({ lr: 0.1 });
        try {
          const run = await trainRun(ctx, net, gridData, { optimizer, batchSize: grid.batchSize, iterations: grid.iterations, phase: panel });
          for (const e of run.epochs) {
            accuracy.push({ panel, activation: act, init: label, set: 'train', epoch: e.epoch, accuracy: e.trainAcc });
            accuracy.push({ panel, activation: act, init: label, set: 'test', epoch: e.epoch, accuracy: e.testAcc });
          }
          finalTestAccuracy[panel] = run.epochs.length ? run.epochs[run.epochs.length - 1].testAcc : NaN;
        } finally {
          optimizer.dispose();
          net.dispose();
        }
      }
    }
    const panelOrder = GRID_ACTIVATIONS.flatMap((a) => INITS.map((i) => `${a}, ${i.label}`));
    return experimentResult(this, ctx, {
      settings: { deepNet: deep, grid: { ...grid, activations: [...GRID_ACTIVATIONS] }, inits: INITS.map((i) => i.label), evaluatedEvery: 'epoch' },
      conclusion: 'With std 0.01 the deep ReLU net does not learn at all (the signal and the gradients shrink layer by layer, the loss stays at ln 10 ≈ 2.30); Xavier and He both learn, He fastest, as He initialisation is derived for ReLU. In the small grid, sigmoid learns with Xavier and ReLU with He; a too-small Gaussian slows both.',
      summary: { deepNetMeanLossOfLast20Steps: finalLoss, gridFinalTestAccuracy: finalTestAccuracy },
      tables: { losses, accuracy },
      spec: chart(this.title, 'Left: training loss of 784-[100×4]-10 ReLU (SGD 0.01, batch 128). Right: accuracy of 784-[40, 20]-10 (SGD 0.1), activation × initial weights', {
        hconcat: [
          {
            data: { name: 'losses' },
            title: 'Deep ReLU net: training loss',
            width: 360,
            height: 300,
            layer: [{
              name: 'loss',
              mark: { type: 'line', strokeWidth: 1.5, clip: true },
              encoding: {
                x: field('iteration', 'quantitative', 'iteration (mini-batches of 128)'),
                y: field('smoothed', 'quantitative', 'training loss (cross-entropy, smoothed)', { scale: { domain: [0, 2.5] } }),
                color: field('init', 'nominal', 'initial weights', { sort: INITS.map((i) => i.label) }),
              },
            }],
          },
          {
            data: { name: 'accuracy' },
            title: 'Activation × initial weights: accuracy',
            columns: 3,
            facet: { field: 'panel', type: 'nominal', title: null, sort: panelOrder, header: { labelFontWeight: 'bold' } },
            spec: {
              width: 150,
              height: 110,
              layer: [{
                name: 'accuracy',
                mark: { type: 'line', strokeWidth: 1.5, clip: true },
                encoding: {
                  x: field('epoch', 'quantitative', 'epoch'),
                  y: field('accuracy', 'quantitative', 'accuracy (fraction correct)', { scale: { domain: [0, 1] } }),
                  color: field('set', 'nominal', 'data', { sort: ['train', 'test'], scale: { range: ['#1f77b4', '#ff7f0e'] } }),
                },
              }],
            },
          },
        ],
        resolve: { scale: { color: 'independent' } },
      }),
      marks: { loss: INITS.length, accuracy: seriesCount(accuracy, ['panel', 'set']) },
    });
  },
};
