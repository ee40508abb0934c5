// The book's overfit_weight_decay.py and overfit_dropout.py, with the study
// notes' other rates and L1 / Elastic Net: 300 training digits, a deep net,
// train vs test accuracy per epoch; the train–test gap in each panel's title.
import { MultiLayerNetExtend, SGD, type MultiLayerNetExtendOptions } from '../index.js';
import { chart, field, firstRows, panels, seriesCount } from './spec.js';
import { runSteps, trainRun } from './train-run.js';
import type { Experiment, Row } from './types.js';
import { experimentResult } from './result.js';

interface Variant { label: string; options: Partial<MultiLayerNetExtendOptions>; epochs: number; quick: boolean }

const VARIANTS: readonly Variant[] = [
  { label: 'no regularisation', options: {}, epochs: 201, quick: true },
  { label: 'L2 λ 0.1', options: { weightDecayLambda: 0.1 }, epochs: 201, quick: true },
  { label: 'L2 λ 0.005', options: { weightDecayLambda: 0.005 }, epochs: 201, quick: false },
  { label: 'L2 λ 0.001', options: { weightDecayLambda: 0.001 }, epochs: 201, quick: false },
  { label: 'L1 λ 0.1', options: { l1Lambda: 0.1 }, epochs: 201, quick: false },
  { label: 'L1 λ 0.125', options: { l1Lambda: 0.125 }, epochs: 201, quick: false },
  { label: 'L1 + L2 λ 0.05', options: { l1Lambda: 0.05, weightDecayLambda: 0.05 }, epochs: 201, quick: false },
  { label: 'dropout 0.2', options: { useDropout: true, dropoutRatio: 0.2 }, epochs: 301, quick: true },
];

export const overfit: Experiment = {
  name: 'overfit',
  title: 'Overfitting and regularisation',
  needsData: true,
  async run(ctx) {
    const variants = VARIANTS.filter((v) => !ctx.quick || v.quick);
    const epochsOf = (v: Variant) => (ctx.quick ? Math.round(v.epochs / 4) : v.epochs);
    const settings = {
      net: 'MultiLayerNetExtend 784-[100, 100, 100, 100, 100, 100]-10, ReLU, He init',
      optimizer: 'SGD lr 0.01',
      batchSize: 100,
      sampling: "each batch drawn with replacement (the book's np.random.choice), epochs of 3 iterations",
      trainRows: 300,
      testRows: ctx.quick ? 500 : ctx.data().xTest.shape[0],
      variants: variants.map((v) => ({ label: v.label, ...v.options, epochs: epochsOf(v) })),
      gap: 'train accuracy − test accuracy, mean over the last 10 epochs',
    };
    const data = firstRows(this.name, ctx.data(), settings.trainRows, settings.testRows);
    ctx.plan(variants.reduce((n, v) => n + runSteps(settings.trainRows, { batchSize: settings.batchSize, epochs: epochsOf(v) }), 0));
    const curves: Row[] = [];
    const gaps: Record<string, { train: number; test: number; gap: number }> = {};
    const order: string[] = [];
    for (const v of variants) {
      ctx.reseed();
      const net = new MultiLayerNetExtend(ctx.rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, weightInitStd: 'he', ...v.options });
      const optimizer = new SGD({ lr: 0.01 });
      try {
        const run = await trainRun(ctx, net, data, { optimizer, batchSize: settings.batchSize, epochs: epochsOf(v), sampling: 'replacement', phase: v.label });
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
