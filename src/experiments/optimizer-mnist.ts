// The book's optimizer_compare_mnist.py: a 784-[100×4]-10 ReLU net trained by
// each optimizer from the same initial weights; smoothed training-loss curves.
import { createOptimizer, MultiLayerNet, smoothCurve, type OptimizerName, type OptimizerOptions } from '../index.js';
import { chart, field, tailMean } from './spec.js';
import { runSteps, trainRun } from './train-run.js';
import type { Experiment, Row } from './types.js';
import { experimentResult } from './result.js';

/** The book's rates (SGD, Momentum, AdaGrad 0.01; Adam 0.001), then the other optimizers at their usual rates. */
const OPTIMIZERS: ReadonlyArray<{ label: string; name: OptimizerName; params: OptimizerOptions }> = [
  { label: 'SGD', name: 'sgd', params: { lr: 0.01 } },
  { label: 'Momentum', name: 'momentum', params: { lr: 0.01 } },
  { label: 'AdaGrad', name: 'adagrad', params: { lr: 0.01 } },
  { label: 'Adam', name: 'adam', params: { lr: 0.001 } },
  { label: 'Nesterov', name: 'nesterov', params: { lr: 0.01 } },
  { label: 'RMSprop', name: 'rmsprop', params: { lr: 0.001 } },
  { label: 'AdaDelta', name: 'adadelta', params: { lr: 1 } },
];

export const optimizerMnist: Experiment = {
  name: 'optimizer-mnist',
  title: 'Optimizers on MNIST',
  needsData: true,
  async run(ctx) {
    const { rt } = ctx;
    const data = ctx.data();
    const settings = {
      net: 'MultiLayerNet 784-[100, 100, 100, 100]-10, ReLU, He init',
      batchSize: 128,
      iterations: ctx.quick ? 100 : 2000,
      trainRows: data.xTrain.shape[0],
      sampling: "each batch drawn with replacement (the book's np.random.choice)",
      smoothing: "the book's smooth_curve (Kaiser window of 11, beta 2)",
      optimizers: OPTIMIZERS.map((o) => ({ name: o.label, ...o.params })),
    };
    const steps = runSteps(data.xTrain.shape[0], settings);
    ctx.plan(OPTIMIZERS.length * steps);
    const curves: Row[] = [];
    const summary: Record<string, { finalLoss: number | null; divergedAt: number | null }> = {};
    for (const o of OPTIMIZERS) {
      ctx.reseed();
      const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100], outputSize: 10, activation: 'relu', weightInitStd: 'he' });
      const optimizer = createOptimizer(o.name, o.params);
      try {
        const run = await trainRun(ctx, net, data, { optimizer, batchSize: settings.batchSize, iterations: settings.iterations, evaluate: false, phase: o.label });
        const smooth = smoothCurve(run.losses);
        run.losses.forEach((loss, i) => curves.push({ optimizer: o.label, iteration: i + 1, loss, smoothed: smooth[i] }));
        summary[o.label] = { finalLoss: run.losses.length ? tailMean(run.losses, 100) : null, divergedAt: run.divergedAt };
      } finally {
        optimizer.dispose();
        net.dispose();
      }
    }
    return experimentResult(this, ctx, {
      settings,
      conclusion: 'SGD learns slowest; Momentum, AdaGrad and Adam all drive the training loss down faster, AdaGrad often fastest early on. The ranking depends on the learning rates and the network, and no method is best for every problem, but the adaptive and momentum methods usually beat plain SGD.',
      summary: { meanLossOfLast100Steps: summary },
      tables: { curves },
      spec: chart(this.title, `784-[100×4]-10 ReLU, batch ${settings.batchSize}, ${settings.iterations} iterations, same initial weights for every optimizer`, {
        data: { name: 'curves' },
        width: 640,
        height: 380,
        layer: [{
          name: 'loss',
          mark: { type: 'line', strokeWidth: 1.5, clip: true },
          encoding: {
            x: field('iteration', 'quantitative', 'iteration (mini-batches of 128)'),
            y: field('smoothed', 'quantitative', 'training loss (cross-entropy, smoothed)', { scale: { domain: [0, 1] } }),
            color: field('optimizer', 'nominal', 'optimizer', { sort: OPTIMIZERS.map((o) => o.label) }),
          },
        }],
      }),
      marks: { loss: OPTIMIZERS.length },
    });
  },
};
