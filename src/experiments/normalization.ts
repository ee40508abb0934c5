// SimpleConvNet (the book's Conv-ReLU-Pool-Affine-ReLU-Affine) with nothing,
// batch, layer or instance normalisation after the convolution; validation
// loss after each epoch.
import { Adam, Affine, BatchNormalization, Convolution, InstanceNormalization, LayerNormalization, ParameterSet, Pooling, Relu, Sequential, type Layer, type Runtime } from '../index.js';
import { chart, field, firstRows, seriesCount } from './spec.js';
import { runSteps, trainRun } from './train-run.js';
import type { Experiment, Row } from './types.js';
import { experimentResult } from './result.js';

type Norm = 'none' | 'batch' | 'layer' | 'instance';
const NORMS: ReadonlyArray<{ norm: Norm; label: string }> = [
  { norm: 'none', label: 'no normalisation' },
  { norm: 'batch', label: 'batch norm' },
  { norm: 'layer', label: 'layer norm' },
  { norm: 'instance', label: 'instance norm' },
];
const FILTERS = 30, FILTER = 5, HIDDEN = 100, SIDE = 28;
const CONV_SIDE = SIDE - FILTER + 1; // 24
const POOLED = CONV_SIDE / 2; // 12

/** SimpleConvNet's layers (weights N(0, 0.01²) as the book), with `norm` between the convolution and its ReLU. */
function simpleConvNet(rt: Runtime, norm: Norm): Sequential {
  const normShape = norm === 'layer' ? [FILTERS * CONV_SIDE * CONV_SIDE] : [FILTERS];
  const set = new ParameterSet(rt, [
    ['W1', [FILTERS, 1, FILTER, FILTER]], ['b1', [FILTERS]],
    ...(norm === 'none' ? [] : [['gamma1', normShape], ['beta1', normShape]] as Array<[string, number[]]>),
    ['W2', [FILTERS * POOLED * POOLED, HIDDEN]], ['b2', [HIDDEN]],
    ['W3', [HIDDEN, 10]], ['b3', [10]],
  ]);
  for (const w of ['W1', 'W2', 'W3']) rt.randn(set.params[w], 0.01);
  const { params: p, grads: g } = set;
  const layers: Layer[] = [new Convolution(p.W1, p.b1, 1, 0, { dW: g.W1, db: g.b1 })];
  if (norm !== 'none') {
    p.gamma1.data.fill(1);
    const grads = { dgamma: g.gamma1, dbeta: g.beta1 };
    layers.push(norm === 'batch' ? new BatchNormalization(p.gamma1, p.beta1, 0.9, { spatial: true, ...grads })
      : norm === 'layer' ? new LayerNormalization(p.gamma1, p.beta1, grads)
        : new InstanceNormalization(p.gamma1, p.beta1, grads));
  }
  layers.push(new Relu(), new Pooling(2, 2, 2), new Affine(p.W2, p.b2, { dW: g.W2, db: g.b2 }), new Relu(), new Affine(p.W3, p.b3, { dW: g.W3, db: g.b3 }));
  return new Sequential(rt, layers, { parameterSet: set, evalBatchSize: 100 });
}

export const normalization: Experiment = {
  name: 'normalization',
  title: 'Batch, layer and instance normalisation in a ConvNet',
  needsData: true,
  async run(ctx) {
    const all = ctx.data();
    const settings = {
      net: 'SimpleConvNet: Conv(30 filters 5×5) - [norm] - ReLU - Pool(2×2) - Affine(100) - ReLU - Affine(10); weights N(0, 0.01²)',
      optimizer: 'Adam lr 0.001',
      batchSize: 100,
      epochs: ctx.quick ? 3 : 10,
      trainRows: ctx.quick ? 300 : all.xTrain.shape[0],
      validationRows: ctx.quick ? 200 : all.xTest.shape[0],
      validation: "the digits' held-out test part",
      norms: NORMS.map((n) => n.label),
    };
    const rows = firstRows(this.name, all, settings.trainRows, settings.validationRows);
    const data = {
      xTrain: rows.xTrain.reshape([rows.xTrain.shape[0], 1, SIDE, SIDE]), tTrain: rows.tTrain,
      xTest: rows.xTest.reshape([rows.xTest.shape[0], 1, SIDE, SIDE]), tTest: rows.tTest,
    };
    ctx.plan(NORMS.length * runSteps(settings.trainRows, settings));
    const curves: Row[] = [];
    const final: Record<string, { validationLoss: number; validationAccuracy: number }> = {};
    for (const { norm, label } of NORMS) {
      ctx.reseed();
      const net = simpleConvNet(ctx.rt, norm);
      const optimizer = new Adam({ lr: 0.001 });
      try {
        const run = await trainRun(ctx, net, data, { optimizer, batchSize: settings.batchSize, epochs: settings.epochs, phase: label });
        for (const e of run.epochs) curves.push({ normalisation: label, epoch: e.epoch, validationLoss: e.testLoss, validationAccuracy: e.testAcc, trainLoss: e.trainLoss });
        const last = run.epochs[run.epochs.length - 1];
        final[label] = { validationLoss: last?.testLoss ?? NaN, validationAccuracy: last?.testAcc ?? NaN };
      } finally {
        optimizer.dispose();
        net.dispose();
      }
    }
    return experimentResult(this, ctx, {
      settings,
      conclusion: 'Normalising the convolution\'s output speeds up training of the ConvNet: with batch, layer or instance normalisation the validation loss falls faster than without. Batch norm uses statistics over the mini-batch (and running averages at inference); layer and instance norm normalise each sample on its own, so they behave the same in training and inference and do not depend on the batch size.',
      summary: { lastEpoch: final },
      tables: { curves },
      spec: chart(this.title, `SimpleConvNet with the normalisation after the convolution; Adam 0.001, batch ${settings.batchSize}, ${settings.trainRows} training digits`, {
        data: { name: 'curves' },
        width: 560,
        height: 340,
        layer: [{
          name: 'loss',
          mark: { type: 'line', point: true, strokeWidth: 2, clip: true },
          encoding: {
            x: field('epoch', 'quantitative', 'epoch', { axis: { tickMinStep: 1 } }),
            y: field('validationLoss', 'quantitative', 'validation loss (cross-entropy)', { scale: { zero: true } }),
            color: field('normalisation', 'nominal', 'normalisation', { sort: NORMS.map((n) => n.label) }),
          },
        }],
      }),
      marks: { loss: seriesCount(curves, ['normalisation']) },
    });
  },
};
