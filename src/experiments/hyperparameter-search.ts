// The book's hyperparameter_optimization.py: random search of the learning
// rate and weight decay on 500 digits (20% held out for validation), the best
// 20 trials' accuracy curves and every trial on an lr × weight-decay scatter.
// Trials run through the search API (src/search): on the executor the caller
// gives (the CLI: worker threads, one per core), else one after another on
// this runtime. Every trial's bits depend on its job alone, whatever runs it.
import { hyperparameterSearch as search, inlineExecutor, logUniform, splitSearchData, type DataSpec, type TrialData } from '../search/index.js';
import { chart, field, needRows, seriesCount } from './spec.js';
import type { Experiment, ExperimentContext, Row } from './types.js';
import { experimentResult } from './result.js';

const ROWS = 500;
const VALIDATION_RATE = 0.2;
const SHOWN = 20;

/** The search's data from the experiment's digits, split as Node's loader splits the same DataSpec. */
function searchData(ctx: ExperimentContext, spec: DataSpec): TrialData {
  const all = ctx.data();
  return splitSearchData(all.xTrain, all.tTrain, spec);
}

export const hyperparameterSearch: Experiment = {
  name: 'hyperparameter-search',
  title: 'Random search of learning rate and weight decay',
  needsData: true,
  async run(ctx) {
    const settings = {
      net: 'MultiLayerNet 784-[100, 100, 100, 100, 100, 100]-10, ReLU, He init (the search API\'s trial defaults)',
      optimizer: 'SGD',
      batchSize: 100,
      sampling: "a seeded permutation per epoch, every row once (the search's trials; the book's common/trainer.py draws each batch with replacement)",
      // the inline executor splits the caller's digits; a caller's executor loads the DataSpec's own (Node's: the bundled mnist)
      data: { source: ctx.executor ? 'mnist' : 'options.data', rows: ROWS, validation: VALIDATION_RATE, splitSeed: ctx.seed },
      trials: ctx.quick ? 6 : 100,
      epochs: ctx.quick ? 8 : 50,
      learningRate: '10^U(-6, -2)',
      weightDecay: '10^U(-8, -4)',
      shown: SHOWN,
      ranking: 'validation accuracy after the last epoch',
      executor: ctx.executor ? 'the caller\'s executor' : 'inline: one trial after another on this runtime',
    };
    needRows(this.name, 'xTrain', ctx.data().xTrain.shape[0], ROWS);
    ctx.plan(settings.trials);
    const executor = ctx.executor ?? inlineExecutor(ctx.rt, (_rt, spec) => searchData(ctx, spec));
    let result;
    try {
      result = await search({
        space: { lr: logUniform(1e-6, 1e-2), weightDecay: logUniform(1e-8, 1e-4), batchSize: settings.batchSize, optimizer: 'sgd' },
        trials: settings.trials,
        epochs: settings.epochs,
        data: settings.data,
        seed: ctx.seed,
        study: 'hyperparameter-search',
        executor,
        signal: ctx.signal,
        onResult: (r) => ctx.tick(1, `trial ${r.index + 1}/${settings.trials}`),
      });
    } finally {
      if (!ctx.executor) await executor.close();
    }
    const trials = result.trials.map((t) => {
      const last = t.history[t.history.length - 1];
      return { trial: t.index + 1, lr: t.settings.lr as number, weightDecay: t.settings.weightDecay as number, validation: last?.valAcc ?? NaN, train: last?.trainAcc ?? NaN, failed: t.status === 'failed', history: t.history };
    });
    const best = result.best.slice(0, SHOWN).map((b) => trials[b.index]);
    const curves: Row[] = best.flatMap((t, rank) => t.history.flatMap((e): Row[] => [
      { rank: rank + 1, trial: t.trial, panel: `Best-${rank + 1}: val ${t.validation.toFixed(2)}`, set: 'validation', epoch: e.epoch, accuracy: e.valAcc },
      { rank: rank + 1, trial: t.trial, panel: `Best-${rank + 1}: val ${t.validation.toFixed(2)}`, set: 'train', epoch: e.epoch, accuracy: e.trainAcc },
    ]));
    const scatter: Row[] = trials.map((t) => ({ trial: t.trial, lr: t.lr, weightDecay: t.weightDecay, validationAccuracy: Number.isFinite(t.validation) ? t.validation : null, trainAccuracy: Number.isFinite(t.train) ? t.train : null }));
    return experimentResult(this, ctx, {
      settings,
      conclusion: 'The good learning rates lie around 10^-3 to 10^-2 and the good weight decays around 10^-8 to 10^-6; rates below 10^-4 barely learn in 50 epochs, and weight decay matters much less than the learning rate at these sizes. Random search finds the good region with few trials; the next step is to narrow the ranges and search again.',
      summary: {
        best: best.map((t, rank) => ({ rank: rank + 1, trial: t.trial, lr: t.lr, weightDecay: t.weightDecay, validationAccuracy: t.validation, trainAccuracy: t.train })),
        failedTrials: result.failed,
      },
      tables: { curves, scatter },
      spec: chart(this.title, `${settings.trials} trials × ${settings.epochs} epochs on ${ROWS} digits, ${VALIDATION_RATE * 100}% held out for validation; lr = 10^U(−6, −2), weight decay = 10^U(−8, −4)`, {
        vconcat: [
          {
            data: { name: 'curves' },
            title: `The best ${best.length} trials: validation and training accuracy`,
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
            },
          },
        ],
        resolve: { scale: { color: 'independent' } },
      }),
      marks: { accuracy: seriesCount(curves, ['rank', 'set']) },
    });
  },
};
