// The study notes' point about vanishing gradients: sigmoid's derivative is at
// most 0.25, so in a deep sigmoid net the gradient shrinks layer by layer on
// its way back; ReLU (derivative 1 where active) with He weights keeps it.
// Gradient norms per layer over the first iterations, by the book's own loop
// (net.gradient, optimizer.update).
import { MultiLayerNet, SGD, type ActivationName, type WeightInit } from '../index.js';
import { chart, field, needRows, seriesCount } from './spec.js';
import type { Experiment, Row } from './types.js';
import { experimentResult } from './result.js';

const HIDDEN = [100, 100, 100, 100, 100, 100];
const NETS: ReadonlyArray<{ label: string; activation: ActivationName; init: WeightInit }> = [
  { label: 'sigmoid, Xavier', activation: 'sigmoid', init: 'xavier' },
  { label: 'ReLU, He', activation: 'relu', init: 'he' },
];

/** √(Σ v²) of a tensor's values. */
function norm(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] * values[i];
  return Math.sqrt(s);
}

export const gradientVanishing: Experiment = {
  name: 'gradient-vanishing',
  title: 'Vanishing gradients: sigmoid vs ReLU',
  needsData: true,
  async run(ctx) {
    const { rt } = ctx;
    const data = ctx.data();
    const settings = {
      net: `MultiLayerNet 784-[${HIDDEN.join(', ')}]-10`,
      nets: NETS.map((n) => n.label),
      optimizer: 'SGD lr 0.1',
      batchSize: 100,
      iterations: ctx.quick ? 10 : 50,
      batches: 'consecutive rows of the (shuffled) training digits',
      measured: '‖∂L/∂W‖ (Frobenius norm) of each layer, before that iteration\'s update',
    };
    const rows = data.xTrain.shape[0];
    needRows(this.name, 'xTrain', rows, settings.batchSize);
    const layers = HIDDEN.length + 1;
    ctx.plan(NETS.length * settings.iterations);
    const norms: Row[] = [];
    const ratio: Record<string, number> = {};
    for (const n of NETS) {
      ctx.reseed();
      const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: HIDDEN, outputSize: 10, activation: n.activation, weightInitStd: n.init });
      const optimizer = new SGD({ lr: 0.1 });
      const first: number[] = [], last: number[] = [];
      try {
        for (let it = 0; it < settings.iterations; it++) {
          if (it % 10 === 0) await ctx.pause();
          // batches of consecutive rows, wrapped so that each lies within the rows (100 rows: always rows 0–99)
          const start = (it * settings.batchSize) % (rows - settings.batchSize + 1);
          const grads = net.gradient(data.xTrain.rows(start, start + settings.batchSize), data.tTrain.rows(start, start + settings.batchSize));
          for (let l = 1; l <= layers; l++) {
            const g = norm(grads[`W${l}`].data);
            norms.push({ net: n.label, layer: `W${l}`, depth: l, iteration: it + 1, gradientNorm: g });
            if (l === 1) first.push(g);
            if (l === layers) last.push(g);
          }
          optimizer.update(net.params, grads);
          ctx.tick(1, n.label);
        }
      } finally {
        optimizer.dispose();
        net.dispose();
      }
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      ratio[n.label] = mean(first) / mean(last);
    }
    return experimentResult(this, ctx, {
      settings,
      conclusion: 'The derivative of the sigmoid is at most 0.25, so each sigmoid layer scales the gradient flowing back through it down by a factor of four or more: in a deep sigmoid net the first layers get gradients orders of magnitude smaller than the last and barely learn. ReLU passes the gradient unchanged where a unit is active, and with He initialisation the gradient keeps its size through every layer.',
      summary: { firstOverLastLayerGradientNorm: ratio },
      tables: { norms },
      spec: chart(this.title, `‖∂L/∂W‖ per layer over the first ${settings.iterations} iterations of ${settings.net} (SGD 0.1, batch ${settings.batchSize}); log scale`, {
        data: { name: 'norms' },
        columns: 2,
        facet: { field: 'net', type: 'nominal', title: null, sort: NETS.map((n) => n.label), header: { labelFontWeight: 'bold', labelFontSize: 13 } },
        spec: {
          width: 340,
          height: 260,
          layer: [{
            name: 'norm',
            mark: { type: 'line', strokeWidth: 1.5, clip: true },
            encoding: {
              x: field('iteration', 'quantitative', 'iteration'),
              y: field('gradientNorm', 'quantitative', 'gradient norm ‖∂L/∂W‖ (log scale)', { scale: { type: 'log' } }),
              color: field('layer', 'ordinal', 'layer (W1 = first)', { sort: Array.from({ length: layers }, (_, i) => `W${i + 1}`), scale: { scheme: 'viridis' } }),
            },
          }],
        },
      }),
      marks: { norm: seriesCount(norms, ['net', 'layer']) },
    });
  },
};
