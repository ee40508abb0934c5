// The book's batch_norm_test.py: for 16 initial weight scales, training
// accuracy of a deep ReLU net on 1,000 digits with and without batch norm.
import { MultiLayerNetExtend, SGD } from '../index.js';
import { chart, field, firstRows, logspace, panels, seriesCount } from './spec.js';
import { bookLoopSteps, runSteps, stepsPerEpoch, trainRun } from './train-run.js';
import type { Experiment, Row } from './types.js';
import { experimentResult } from './result.js';

export const batchnorm: Experiment = {
  name: 'batchnorm',
  title: 'Batch normalisation across weight scales',
  needsData: true,
  async run(ctx) {
    const all = ctx.data();
    const scaleCount = ctx.quick ? 4 : 16;
    const trainRows = 1000, batchSize = 100, epochs = ctx.quick ? 8 : 20;
    const perEpoch = stepsPerEpoch(trainRows, batchSize); // the book's iter_per_epoch
    const iterations = bookLoopSteps(epochs, perEpoch);
    const settings = {
      net: 'MultiLayerNetExtend 784-[100, 100, 100, 100, 100]-10, ReLU',
      optimizer: 'SGD lr 0.01',
      batchSize,
      trainRows,
      epochs,
      iterations,
      weightScales: logspace(0, -4, scaleCount),
      sampling: "each batch drawn with replacement (the book's np.random.choice)",
      plotted: `training accuracy on the 1,000 training digits (network.accuracy: batch norm's running statistics) at each epoch, after iterations 1, ${1 + perEpoch}, …, ${iterations}: batch_norm_test.py's \`if i % iter_per_epoch == 0\` (${perEpoch} iterations an epoch) after each update, and its break at epoch ${epochs}`,
    };
    // accuracy is plotted on the training rows (the book's figure); the Trainer's test set is one row it must be given
    const data = firstRows(this.name, all, settings.trainRows, 1);
    ctx.plan(settings.weightScales.length * 2 * runSteps(settings.trainRows, settings));
    const curves: Row[] = [];
    const finalAccuracy: Record<string, { batchNorm: number; noBatchNorm: number }> = {};
    const order: string[] = [];
    for (const [i, w] of settings.weightScales.entries()) {
      const final = { batchNorm: NaN, noBatchNorm: NaN };
      const rows: Row[] = [];
      const diverged: string[] = [];
      for (const useBatchnorm of [true, false]) {
        const label = useBatchnorm ? 'batch norm' : 'no batch norm';
        ctx.reseed();
        const net = new MultiLayerNetExtend(ctx.rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100], outputSize: 10, weightInitStd: w, useBatchnorm });
        const optimizer = new SGD({ lr: 0.01 });
        try {
          const run = await trainRun(ctx, net, data, { optimizer, batchSize, iterations, measureAt: 'epochStart', phase: `w ${w.toExponential(1)}, ${label}` });
          for (const e of run.epochs) rows.push({ scale: w, normalisation: label, epoch: e.epoch, accuracy: e.trainAcc });
          if (run.divergedAt !== null) diverged.push(useBatchnorm ? 'BN: NaN' : 'no BN: NaN');
          const acc = run.epochs.length ? run.epochs[run.epochs.length - 1].trainAcc : NaN;
          if (useBatchnorm) final.batchNorm = acc; else final.noBatchNorm = acc;
        } finally {
          optimizer.dispose();
          net.dispose();
        }
      }
      // a run that overflowed to NaN draws no line: the panel's title says so (short: titles set the column width)
      const panel = `${i + 1}: w = ${w.toExponential(1)}${diverged.length ? ` (${diverged.join(', ')})` : ''}`;
      order.push(panel);
      for (const row of rows) curves.push({ panel, ...row });
      finalAccuracy[w.toExponential(3)] = final;
    }
    return experimentResult(this, ctx, {
      settings,
      conclusion: 'With batch normalisation the net learns quickly at almost every initial weight scale; without it, learning is slow, or does not happen at all, unless the scale is just right. Batch normalisation makes training fast and far less dependent on the initial weights.',
      summary: { finalTrainingAccuracy: finalAccuracy },
      tables: { curves },
      spec: chart(this.title, `784-[100×5]-10 ReLU, SGD 0.01, ${settings.trainRows} training digits, ${settings.epochs} epochs (${iterations} iterations); one panel per initial weight std w`, panels({
        table: 'curves', name: 'accuracy', panel: 'panel', panelTitle: 'initial weight std', panelSort: order, columns: Math.sqrt(scaleCount),
        x: field('epoch', 'quantitative', `epoch (${perEpoch} iterations)`),
        y: field('accuracy', 'quantitative', 'training accuracy', { scale: { domain: [0, 1] } }),
        color: field('normalisation', 'nominal', 'normalisation', { sort: ['batch norm', 'no batch norm'], scale: { range: ['#1f77b4', '#888888'] } }),
        width: 170, height: 110,
      })),
      marks: { accuracy: seriesCount(curves, ['panel', 'normalisation']) },
    });
  },
};
