// The book's weight_init_activation_histogram.py, rerun as the init-activations experiment runs it: the runtime
// reseeded with 1, a 100-[100×5]-1 net of the activation and the weights' init drawn, then 1,000 inputs of N(0, 1).
import type { Runtime } from '../../src/runtime/runtime.js';
import { layerActivations, MultiLayerNet, type ActivationName, type WeightInit } from '../../src/index.js';

/** Each of the 5 hidden layers' activations (after the activation function), as the experiment computes them. */
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
