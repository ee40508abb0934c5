// The book's ch06/weight_init_activation_histogram.py: 1000 random inputs
// through 5 layers of 100 nodes; the histogram of each layer's activations
// for weights with std 1, 0.01, Xavier's sqrt(1/n) and He's sqrt(2/n), with
// sigmoid, tanh and ReLU.
// Run: node examples/book/weight_init_activation_histogram.mjs [--small]
import { createRuntime, Affine, Sigmoid, Tanh, Relu } from 'simdnn';

const small = process.argv.includes('--small');
const rows = small ? 100 : 1000, nodeNum = 100, hiddenLayerSize = 5;
const rt = await createRuntime({ seed: 0, threads: 1 });
const x = rt.randn(rt.tensor([rows, nodeNum]));
const cases = [
  ['std 1, sigmoid', 1, () => new Sigmoid()],
  ['std 0.01, sigmoid', 0.01, () => new Sigmoid()],
  ['Xavier, sigmoid', Math.sqrt(1 / nodeNum), () => new Sigmoid()],
  ['Xavier, tanh', Math.sqrt(1 / nodeNum), () => new Tanh()],
  ['He, ReLU', Math.sqrt(2 / nodeNum), () => new Relu()],
];

/** Counts of values in 30 equal bins over (0, 1), as the book's plt.hist(a.flatten(), 30, range=(0, 1)). */
function histogram(values) {
  const bins = new Array(30).fill(0);
  for (const v of values) if (v >= 0 && v <= 1) bins[Math.min(29, Math.floor(v * 30))]++;
  return bins;
}

for (const [name, std, makeActivation] of cases) {
  console.log(`== ${name}`);
  let input = x;
  const layers = [];
  for (let i = 0; i < hiddenLayerSize; i++) {
    const W = rt.randn(rt.tensor([nodeNum, nodeNum]), std);
    const b = rt.tensor([nodeNum]);
    const affine = new Affine(W, b), act = makeActivation();
    layers.push(affine, act, W, b);
    input = act.forward(affine.forward(input));
    const bins = histogram(input.toArray());
    const peak = Math.max(...bins);
    console.log(`layer ${i + 1}: ${bins.map((n) => ' ▁▂▃▄▅▆▇█'[Math.round((8 * n) / peak)]).join('')}  (peak bin ${bins.indexOf(peak)}/30)`);
  }
  for (const l of layers) l.dispose();
}
x.dispose();
rt.dispose(); // stops the worker threads, if any started; the process may exit before they have
