// The book's overfit_weight_decay.py and overfit_dropout.py, with the study
// notes' other rates and L1 / Elastic Net: 300 training digits, a deep net,
// train vs test accuracy per epoch, measured where the book's loops measure it
// (after each epoch's first update); the train–test gap in each panel's title.
import { MultiLayerNetExtend, SGD, type MultiLayerNetExtendOptions } from '../index.js';
import { chart, field, firstRows, panels, seriesCount } from './spec.js';
import { bookLoopSteps, runSteps, stepsPerEpoch, trainRun } from './train-run.js';
import type { Experiment, Row } from './types.js';
import { experimentResult } from './result.js';

/**
 * The book's script whose loop a variant runs: overfit_weight_decay.py breaks right after measuring its last
 * epoch (1 + (E − 1)·k updates); overfit_dropout.py's common/trainer.py runs all of its E·k (max_iter), measuring
 * after updates 1, 1 + k, … as well.
 */
type Script = 'overfit_weight_decay.py' | 'overfit_dropout.py';

interface Variant { label: string; options: Partial<MultiLayerNetExtendOptions>; epochs: number; script: Script; quick: boolean }

const VARIANTS: readonly Variant[] = [
  { label: 'no regularisation', options: {}, epochs: 201, script: 'overfit_weight_decay.py', quick: true },
  { label: 'L2 λ 0.1', options: { weightDecayLambda: 0.1 }, epochs: 201, script: 'overfit_weight_decay.py', quick: true },
  { label: 'L2 λ 0.005', options: { weightDecayLambda: 0.005 }, epochs: 201, script: 'overfit_weight_decay.py', quick: false },
  { label: 'L2 λ 0.001', options: { weightDecayLambda: 0.001 }, epochs: 201, script: 'overfit_weight_decay.py', quick: false },
  { label: 'L1 λ 0.1', options: { l1Lambda: 0.1 }, epochs: 201, script: 'overfit_weight_decay.py', quick: false },
  { label: 'L1 λ 0.125', options: { l1Lambda: 0.125 }, epochs: 201, script: 'overfit_weight_decay.py', quick: false },
  { label: 'L1 + L2 λ 0.05', options: { l1Lambda: 0.05, weightDecayLambda: 0.05 }, epochs: 201, script: 'overfit_weight_decay.py', quick: false },
  { label: 'dropout 0.2', options: { useDropout: true, dropoutRatio: 0.2 }, epochs: 301, script: 'overfit_dropout.py', quick: true },
];

export const overfit: Experiment = {
  name: 'overfit',
  title: 'Overfitting and regularisation',
  needsData: true,
  async run(ctx) {
    const variants = VARIANTS.filter((v) => !ctx.quick || v.quick);
    const trainRows = 300, batchSize = 100;
    const perEpoch = stepsPerEpoch(trainRows, batchSize); // the book's iter_per_epoch
    const epochsOf = (v: Variant) => (ctx.quick ? Math.round(v.epochs / 4) : v.epochs);
    const iterationsOf = (v: Variant) => (v.script === 'overfit_dropout.py' ? epochsOf(v) * perEpoch : bookLoopSteps(epochsOf(v), perEpoch));
    const loopOf = (v: Variant) => (v.script === 'overfit_dropout.py'
      ? `overfit_dropout.py's Trainer: all ${epochsOf(v)} × ${perEpoch} iterations, the last epoch measured after iteration ${bookLoopSteps(epochsOf(v), perEpoch)}`
      : `overfit_weight_decay.py's loop: it breaks once epoch ${epochsOf(v)} is measured, after iteration ${iterationsOf(v)}`);
    const settings = {
      net: 'MultiLayerNetExtend 784-[100, 100, 100, 100, 100, 100]-10, ReLU, He init',
      optimizer: 'SGD lr 0.01',
      batchSize,
      sampling: `each batch drawn with replacement (the book's np.random.choice), epochs of ${perEpoch} iterations`,
      measured: `train and test accuracy on all their rows (network.accuracy: no dropout) at each epoch, after iterations 1, ${1 + perEpoch}, ${1 + 2 * perEpoch}, …: the book's \`if i % iter_per_epoch == 0\` after each update`,
      trainRows,
      testRows: ctx.quick ? 500 : ctx.data().xTest.shape[0],
      variants: variants.map((v) => ({ label: v.label, ...v.options, epochs: epochsOf(v), iterations: iterationsOf(v), loop: loopOf(v) })),
      gap: 'train accuracy − test accuracy, mean over the last 10 epochs',
    };
    const data = firstRows(this.name, ctx.data(), settings.trainRows, settings.testRows);
    ctx.plan(variants.reduce((n, v) => n + runSteps(trainRows, { batchSize, iterations: iterationsOf(v) }), 0));
    const curves: Row[] = [];
    const gaps: Record<string, { train: number; test: number; gap: number }> = {};
    const order: string[] = [];
    for (const v of variants) {
      ctx.reseed();
      const net = new MultiLayerNetExtend(ctx.rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, weightInitStd: 'he', ...v.options });
      const optimizer = new SGD({ lr: 0.01 });
      try {
        const run = await trainRun(ctx, net, data, { optimizer, batchSize, iterations: iterationsOf(v), measureAt: 'epochStart', phase: v.label });
        const tail = run.epochs.slice(-10);
        const mean = (f: (e: (typeof tail)[number]) => number) => tail.reduce((s, e) => s + f(e), 0) / tail.length;
        const train = mean((e) => e.trainAcc), test = mean((e) => e.testAcc);
        gaps[v.label] = { train, test, gap: train - test };
        const panel = `${v.label} (gap ${(train - test).toFixed(3)})`;
        order.push(panel);
        for (const e of run.epochs) {
          curves.push({ panel, variant: v.label, set: 'train', epoch: e.epoch, accuracy: e.trainAcc });
          curves.push({ panel, variant: v.label, set: 'test', epoch: e.epoch, accuracy: e.testAcc });
        }
      } finally {
        optimizer.dispose();
        net.dispose();
      }
    }
    return experimentResult(this, ctx, {
      settings,
      conclusion: 'Trained on only 300 digits, the deep net reaches 100% training accuracy while test accuracy stays far lower: it overfits. Weight decay (L2 λ 0.1) and dropout keep the weights from fitting the noise of the training set: training accuracy no longer reaches 100% and the train–test gap shrinks. Small λ (0.005, 0.001) barely helps. L1 pushes every weight toward zero by the same step: at the notes\' λ of 0.1 and 0.125 (and the Elastic Net L1 + L2 at 0.05 each) it zeroes the net within a few dozen epochs, so there is no gap left because nothing is learned — too strong a penalty underfits.',
      summary: { lastTenEpochs: gaps },
      tables: { curves },
      spec: chart(this.title, `784-[100×6]-10, ${settings.trainRows} training digits, SGD 0.01, batch ${settings.batchSize}; gap = train − test accuracy over the last 10 epochs`, panels({
        table: 'curves', name: 'accuracy', panel: 'panel', panelTitle: null, panelSort: order, columns: ctx.quick ? 3 : 4,
        x: field('epoch', 'quantitative', 'epoch'),
        y: field('accuracy', 'quantitative', 'accuracy (fraction correct)', { scale: { domain: [0, 1] } }),
        color: field('set', 'nominal', 'data', { sort: ['train', 'test'] }),
        width: 190, height: 130,
      })),
      marks: { accuracy: seriesCount(curves, ['panel', 'set']) },
    });
  },
};
