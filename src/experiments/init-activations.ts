// The book's weight_init_activation_histogram.py: 1,000 Gaussian inputs of
// 100 values through 5 layers of 100 units; the histogram of each layer's
// activations for several initial weight scales and activations.
import { layerActivations, MultiLayerNet, type ActivationName, type WeightInit } from '../index.js';
import { chart, field } from './spec.js';
import type { Experiment, Row } from './types.js';
import { experimentResult } from './result.js';

const INITS: ReadonlyArray<{ label: string; init: WeightInit }> = [
  { label: 'std 1', init: 1 },
  { label: 'std 0.01', init: 0.01 },
  { label: 'Xavier', init: 'xavier' },
  { label: 'He', init: 'he' },
];
const ACTIVATIONS: readonly ActivationName[] = ['sigmoid', 'tanh', 'relu'];
/** Histogram range per activation: the book's (0, 1) for sigmoid and ReLU, (−1, 1) for tanh. */
const RANGE: Record<ActivationName, [number, number]> = { sigmoid: [0, 1], tanh: [-1, 1], relu: [0, 1] };
const BINS = 30;
const LAYERS = 5;
const NODES = 100;
const SAMPLES = 1000;

export const initActivations: Experiment = {
  name: 'init-activations',
  title: 'Activation distributions by weight initialisation',
  needsData: false,
  async run(ctx) {
    const { rt } = ctx;
    ctx.plan(INITS.length * ACTIVATIONS.length * LAYERS);
    const hist: Row[] = [];
    const summary: Record<string, number[]> = {};
    for (const act of ACTIVATIONS) {
      for (const { label, init } of INITS) {
        await ctx.pause();
        ctx.reseed();
        const panel = `${act}, ${label}`;
        // 5 hidden layers of 100 (biases 0); the output layer after them is not looked at
        const net = new MultiLayerNet(rt, { inputSize: NODES, hiddenSizeList: Array(LAYERS).fill(NODES), outputSize: 1, activation: act, weightInitStd: init });
        const x = rt.tensor([SAMPLES, NODES]);
        const spread: number[] = [];
        let outputs;
        try {
          rt.randn(x, 1);
          outputs = layerActivations(net, x).filter((a) => a.layer.toLowerCase() === act);
        } finally {
          x.dispose();
          net.dispose();
        }
        outputs.forEach(({ data: values }, i) => {
          const layer = i + 1;
          const [lo, hi] = RANGE[act];
          const counts = new Array<number>(BINS).fill(0);
          let sum = 0, sumSq = 0;
          for (let k = 0; k < values.length; k++) {
            const v = values[k];
            sum += v; sumSq += v * v;
            // ReLU's zeros (about half the units) would dwarf the rest: the histogram shows the positive values
            if (v < lo || v > hi || (act === 'relu' && v === 0)) continue;
            counts[Math.min(BINS - 1, Math.floor(((v - lo) / (hi - lo)) * BINS))]++;
          }
          const mean = sum / values.length;
          spread.push(Math.sqrt(Math.max(0, sumSq / values.length - mean * mean)));
          counts.forEach((count, bin) => hist.push({
            panel, activation: act, init: label, layer: `layer ${layer}`,
            from: lo + ((hi - lo) * bin) / BINS, to: lo + ((hi - lo) * (bin + 1)) / BINS, count,
          }));
          ctx.tick(1, panel);
        });
        summary[panel] = spread;
      }
    }
    const panels = ACTIVATIONS.flatMap((a) => INITS.map((i) => `${a}, ${i.label}`));
    return experimentResult(this, ctx, {
      settings: {
        input: `${SAMPLES} × ${NODES} standard Gaussian`, layers: LAYERS, nodes: NODES, bins: BINS,
        inits: INITS.map((i) => i.label), activations: [...ACTIVATIONS],
        ranges: RANGE,
        note: 'Cheap: quick mode is the same run. Values outside the range are not counted (as the book\'s hist(range=(0, 1))), nor ReLU\'s zeros.',
      },
      conclusion: 'With std 1 the sigmoid outputs pile up at 0 and 1, where its gradient vanishes; with std 0.01 they all sit near 0.5, so every unit says the same thing (limited expressiveness). Xavier (std √(1/n)) keeps a broad spread through every layer for sigmoid and tanh; for ReLU, He (std √(2/n)) keeps the spread equal from layer to layer while Xavier lets it shrink.',
      summary: { stdOfActivationsPerLayer: summary },
      tables: { hist },
      spec: chart(this.title, `${SAMPLES} × ${NODES} Gaussian input through ${LAYERS} layers of ${NODES} units; rows: activation and initial weights, columns: layer`, {
        data: { name: 'hist' },
        facet: {
          row: { field: 'panel', type: 'nominal', title: null, sort: panels, header: { labelAngle: 0, labelAlign: 'left', labelFontWeight: 'bold' } },
          column: { field: 'layer', type: 'nominal', title: null, header: { labelFontWeight: 'bold' } },
        },
        resolve: { scale: { x: 'independent', y: 'independent' } },
        spec: {
          width: 140,
          height: 55,
          layer: [{
            name: 'hist',
            mark: { type: 'rect', color: '#4c78a8' },
            encoding: {
              x: field('from', 'quantitative', 'activation value', { axis: { tickCount: 3 } }),
              x2: { field: 'to' },
              y: field('count', 'quantitative', 'count', { axis: { tickCount: 2 } }),
            },
          }],
        },
      }),
      marks: { hist: panels.length * LAYERS },
    });
  },
};
