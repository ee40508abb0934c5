// The book's train_deepnet.py and misclassified_mnist.py: DeepConvNet's train
// and test accuracy per epoch, and the test digits it gets wrong.
import { Adam, DeepConvNet } from '../index.js';
import { chart, field, firstRows } from './spec.js';
import { runSteps, trainRun } from './train-run.js';
import type { Experiment, Row } from './types.js';
import { experimentResult } from './result.js';

const SIDE = 28;
const SHOWN = 20;
/** Pixels darker than this are left out of the image grid (they draw as background). */
const INK = 0.1;

export const deepconvnet: Experiment = {
  name: 'deepconvnet',
  title: 'DeepConvNet on the digits',
  needsData: true,
  async run(ctx) {
    const all = ctx.data();
    const settings = {
      net: 'DeepConvNet: (Conv3×3-ReLU-Conv3×3-ReLU-Pool) ×3 with 16, 16, 32, 32, 64, 64 filters, Affine(50)-ReLU-Dropout(0.5)-Affine(10)-Dropout(0.5), He init',
      optimizer: 'Adam lr 0.001',
      batchSize: 100,
      epochs: ctx.quick ? 2 : 20,
      sampling: "each batch drawn with replacement (the book's common/trainer.py: np.random.choice)",
      evaluation: "train and test accuracy after every epoch on all their rows (the book's train_deepnet.py on the first 1,000 of each, and on every test row once at the end)",
      trainRows: ctx.quick ? 300 : all.xTrain.shape[0],
      testRows: ctx.quick ? 200 : all.xTest.shape[0],
      shownMistakes: SHOWN,
    };
    const rows = firstRows(this.name, all, settings.trainRows, settings.testRows);
    const data = {
      xTrain: rows.xTrain.reshape([rows.xTrain.shape[0], 1, SIDE, SIDE]), tTrain: rows.tTrain,
      xTest: rows.xTest.reshape([rows.xTest.shape[0], 1, SIDE, SIDE]), tTest: rows.tTest,
    };
    ctx.plan(runSteps(settings.trainRows, settings) + 1);
    ctx.reseed();
    const net = new DeepConvNet(ctx.rt);
    const optimizer = new Adam({ lr: 0.001 });
    const curves: Row[] = [];
    const pixels: Row[] = [];
    let wrong = 0;
    try {
      const run = await trainRun(ctx, net, data, { optimizer, batchSize: settings.batchSize, epochs: settings.epochs, sampling: 'replacement', phase: 'DeepConvNet' });
      for (const e of run.epochs) {
        curves.push({ set: 'train', epoch: e.epoch, accuracy: e.trainAcc });
        curves.push({ set: 'test', epoch: e.epoch, accuracy: e.testAcc });
      }
      // predictions in chunks of 100 (the net's evaluation batch) to find the mistakes
      const n = data.xTest.shape[0];
      const labels = data.tTest.toArray(); // a copy: predict() may grow the memory, which empties a view
      for (let start = 0; start < n; start += 100) {
        await ctx.pause();
        const end = Math.min(n, start + 100);
        const scores = net.predict(data.xTest.rows(start, end), false);
        const y = scores.toArray();
        scores.dispose();
        for (let i = 0; i < end - start; i++) {
          let best = 0;
          for (let c = 1; c < 10; c++) if (y[i * 10 + c] > y[i * 10 + best]) best = c;
          const truth = labels[start + i];
          if (best === truth) continue;
          wrong++;
          if (wrong > SHOWN) continue;
          const image = rows.xTest.data.subarray((start + i) * SIDE * SIDE, (start + i + 1) * SIDE * SIDE);
          const title = `#${start + i}: true ${truth}, predicted ${best}`;
          image.forEach((v, p) => {
            if (v > INK) pixels.push({ image: title, order: wrong, row: Math.floor(p / SIDE), col: p % SIDE, value: v });
          });
        }
      }
      ctx.tick(1, 'mistakes');
      const last = run.epochs[run.epochs.length - 1];
      return experimentResult(this, ctx, {
        settings,
        conclusion: 'A deeper ConvNet of small 3×3 filters, trained with Adam (and dropout), reaches about 99% test accuracy on MNIST in the book; train and test accuracy stay close. The digits it still gets wrong are hard even for people: unusual strokes, digits that look like others.',
        summary: { finalTrainAccuracy: last?.trainAcc ?? null, finalTestAccuracy: last?.testAcc ?? null, misclassified: wrong, testRows: n, divergedAt: run.divergedAt },
        tables: { curves, pixels },
        spec: chart(this.title, `Adam 0.001, batch ${settings.batchSize}, ${settings.epochs} epochs on ${settings.trainRows} digits; ${wrong} of ${n} test digits misclassified`, {
          vconcat: [
            {
              data: { name: 'curves' },
              title: 'Accuracy per epoch',
              width: 420,
              height: 220,
              layer: [{
                name: 'accuracy',
                mark: { type: 'line', point: true, strokeWidth: 2 },
                encoding: {
                  x: field('epoch', 'quantitative', 'epoch', { axis: { tickMinStep: 1 } }),
                  y: field('accuracy', 'quantitative', 'accuracy (fraction correct)', { scale: { zero: false } }),
                  color: field('set', 'nominal', 'data', { sort: ['train', 'test'] }),
                },
              }],
            },
            {
              data: { name: 'pixels' },
              title: `Misclassified test digits (first ${Math.min(SHOWN, wrong)} of ${wrong})`,
              columns: 5,
              facet: { field: 'image', type: 'nominal', title: null, sort: { field: 'order' }, header: { labelFontSize: 10 } },
              spec: {
                width: 84,
                height: 84,
                mark: { type: 'rect' },
                encoding: {
                  x: { field: 'col', type: 'ordinal', axis: null, scale: { domain: Array.from({ length: SIDE }, (_, i) => i) } },
                  y: { field: 'row', type: 'ordinal', axis: null, scale: { domain: Array.from({ length: SIDE }, (_, i) => i) } },
                  color: { field: 'value', type: 'quantitative', title: 'pixel', scale: { scheme: 'greys', domain: [0, 1] }, legend: null },
                },
              },
            },
          ],
          resolve: { scale: { color: 'independent' } },
        }),
        marks: { accuracy: 2 },
      });
    } finally {
      optimizer.dispose();
      net.dispose();
    }
  },
};
