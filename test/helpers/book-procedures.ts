// Two of the book's chapter 6 procedures, rerun by hand as the experiments run them, for tests that check an
// experiment's tables against them: weight_init_activation_histogram.py (init-activations) and the gradient
// norms per layer that gradient-vanishing plots.
import type { Runtime } from '../../src/runtime/runtime.js';
import type { IntTensor, Tensor } from '../../src/runtime/tensor.js';
import { layerActivations, MultiLayerNet, SGD, type ActivationName, type WeightInit } from '../../src/index.js';
import { rng } from './runtime.js';

/**
 * Each of the 5 hidden layers' activations (after the activation function), as init-activations computes them: the
 * runtime reseeded with 1, a 100-[100×5]-1 net of `act` with `init`'s weights drawn, then 1,000 inputs of N(0, 1).
 */
export function bookActivations(rt: Runtime, act: ActivationName, init: WeightInit): number[][] {
  rt.reseed(1);
  const net = new MultiLayerNet(rt, { inputSize: 100, hiddenSizeList: [100, 100, 100, 100, 100], outputSize: 1, activation: act, weightInitStd: init });
  const x = rt.tensor([1000, 100]);
  try {
    rt.randn(x, 1);
    return layerActivations(net, x).filter((a) => a.layer.toLowerCase() === act).map((a) => Array.from(a.data));
  } finally {
    x.dispose();
    net.dispose();
  }
}

/** gradient-vanishing's small data set: 300 training and 10 test rows of 784 pixels in k/255 (rng(4)), labels (3i) mod 10. */
export function vanishingData(rt: Runtime): { xTrain: Tensor; tTrain: IntTensor; xTest: Tensor; tTest: IntTensor } {
  const next = rng(4);
  const x = (n: number) => rt.tensor([n, 784], Float32Array.from({ length: n * 784 }, () => Math.round(next() * 255) / 255));
  const t = (n: number) => rt.labels([n], Int32Array.from({ length: n }, (_, i) => (i * 3) % 10));
  return { xTrain: x(300), tTrain: t(300), xTest: x(10), tTest: t(10) };
}

/**
 * The gradient norms gradient-vanishing records, by hand: the runtime reseeded with 1, a 784-[100×6]-10 net of `act`
 * with `init`'s weights, SGD lr 0.1 on consecutive batches of 100 of the 300 rows (0–99, 100–199, 200–299, 0–99, …);
 * `norms[it][k]` is ‖∂L/∂W`depths[k]`‖ at iteration it + 1, before that iteration's update.
 */
export function vanishingNorms(rt: Runtime, xTrain: Tensor, tTrain: IntTensor, act: ActivationName, init: WeightInit, iterations: number, depths: readonly number[]): number[][] {
  rt.reseed(1);
  const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, activation: act, weightInitStd: init });
  const sgd = new SGD({ lr: 0.1 });
  try {
    const norms: number[][] = [];
    for (let it = 0; it < iterations; it++) {
      const start = (it * 100) % 201;
      const grads = net.gradient(xTrain.rows(start, start + 100), tTrain.rows(start, start + 100));
      norms.push(depths.map((l) => {
        const g = grads[`W${l}`].data;
        let s = 0;
        for (let i = 0; i < g.length; i++) s += g[i] * g[i];
        return Math.sqrt(s);
      }));
      sgd.update(net.params, grads);
    }
    return norms;
  } finally {
    sgd.dispose();
    net.dispose();
  }
}
