// The study notes' comparison: each optimizer on a sigmoid net with tiny
// initial weights (std 0.01), with and without batch normalisation.
import { createOptimizer, MultiLayerNetExtend, type OptimizerName, type OptimizerOptions } from '../index.js';
import { chart, field, firstRows, panels, seriesCount } from './spec.js';
import { runSteps, trainRun } from './train-run.js';
import type { Experiment, Row } from './types.js';
import { experimentResult } from './result.js';

const OPTIMIZERS: ReadonlyArray<{ label: string; name: OptimizerName; params: OptimizerOptions }> = [
  { label: 'SGD', name: 'sgd', params: { lr: 0.1 } },
  { label: 'Momentum', name: 'momentum', params: { lr: 0.1 } },
  { label: 'AdaGrad', name: 'adagrad', params: { lr: 0.1 } },
  { label: 'RMSprop', name: 'rmsprop', params: { lr: 0.01 } },
  { label: 'Adam', name: 'adam', params: { lr: 0.01 } },
];

export const optimizerBatchnorm: Experiment = {
  name: 'optimizer-batchnorm',
  title: 'Optimizers with and without batch normalisation',
  needsData: true,
  async run(ctx) {
    const settings = {
      net: 'MultiLayerNetExtend 784-[40, 20]-10, sigmoid, weight std 0.01',
      batchSize: 100,
      iterations: ctx.quick ? 150 : 1000,
      trainRows: 1000,
      testRows: ctx.quick ? 500 : 2000,
      evaluatedEvery: 'epoch (10 iterations)',
      optimizers: OPTIMIZERS.map((o) => ({ name: o.label, ...o.params })),
      note: "The study notes' settings; learning rates are ours (SGD-like methods 0.1, RMSprop and Adam 0.01).",
    };
    const data = firstRows(this.name, ctx.data(), settings.trainRows, settings.testRows);
    ctx.plan(OPTIMIZERS.length * 2 * runSteps(settings.trainRows, settings));
    const curves: Row[] = [];
    const summary: Record<string, Record<string, number>> = {};
    for (const o of OPTIMIZERS) {
      summary[o.label] = {};
      for (const useBatchnorm of [false, true]) {
        const norm = useBatchnorm ? 'batch norm' : 'no batch norm';
        ctx.reseed();
        const net = new MultiLayerNetExtend(ctx.rt, { inputSize: 784, hiddenSizeList: [40, 20], outputSize: 10, activation: 'sigmoid', weightInitStd: 0.01, useBatchnorm });
        const optimizer = createOptimizer(o.name, o.params);
        try {
          const run = await trainRun(ctx, net, data, { optimizer, batchSize: settings.batchSize, iterations: settings.iterations, phase: `${o.label}, ${norm}` });
          for (const e of run.epochs) {
            curves.push({ optimizer: o.label, normalisation: norm, set: 'train', epoch: e.epoch, accuracy: e.trainAcc });
            curves.push({ optimizer: o.label, normalisation: norm, set: 'test', epoch: e.epoch, accuracy: e.testAcc });
          }
          const last = run.epochs[run.epochs.length - 1];
          summary[o.label][`${norm}: final test accuracy`] = last ? last.testAcc : NaN;
        } finally {
          optimizer.dispose();
          net.dispose();
        }
      }
    }
    return experimentResult(this, ctx, {
      settings,
      conclusion: 'With weights this small a sigmoid net barely learns: the activations collapse and the gradients vanish, so without batch normalisation most optimizers stay near chance for many iterations. Batch normalisation re-centres and re-scales each layer\'s inputs, so every optimizer learns quickly and the choice of optimizer matters much less.',
      summary,
      tables: { curves },
      spec: chart(this.title, `784-[40, 20]-10 sigmoid, std 0.01, batch ${settings.batchSize}, ${settings.iterations} iterations on ${settings.trainRows} digits`, panels({
        table: 'curves', name: 'accuracy', panel: 'optimizer', panelTitle: 'optimizer', panelSort: OPTIMIZERS.map((o) => o.label), columns: 5,
        x: field('epoch', 'quantitative', 'epoch (10 iterations)'),
        y: field('accuracy', 'quantitative', 'accuracy (fraction correct)', { scale: { domain: [0, 1] } }),
        color: field('normalisation', 'nominal', 'normalisation', { sort: ['batch norm', 'no batch norm'] }),
        dash: field('set', 'nominal', 'data', { sort: ['train', 'test'] }),
        width: 170,
      })),
      marks: { accuracy: seriesCount(curves, ['optimizer', 'normalisation', 'set']) },
    });
  },
};
