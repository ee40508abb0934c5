// The book's weight-initialisation histograms need every hidden layer's
// output for one batch: one forward pass with an observer (Sequential.predictBorrowed's
// hook), each output copied out.
import { Sequential } from '../nets/sequential.js';
import { describeValue, otherCopyHint, type Tensor } from '../runtime/tensor.js';
import { checkFlag, checkOptions } from '../runtime/options.js';

const KEYS = new Set(['train']);
const NET_CLASSES = ['Sequential', 'MultiLayerNet', 'MultiLayerNetExtend', 'SimpleConvNet', 'DeepConvNet'];

/** One layer's output: a copy the caller owns. */
export interface LayerActivation {
  /** Index of the layer in net.layers. */
  index: number;
  /** The layer's name ('Affine', 'Relu', 'BatchNormalization', …). */
  layer: string;
  shape: number[];
  data: Float32Array;
}

/**
 * Every layer's output for `x` from one forward pass (inference mode unless `train`), copied
 * into plain arrays; e.g. the activations after each Sigmoid for the book's histograms:
 * `layerActivations(net, x).filter((a) => a.layer === 'Sigmoid')`. With `train: true` the pass is a
 * training pass, as `net.predict(x, true)`: batch normalization uses the batch's statistics and moves
 * its running ones, dropout draws its masks from the runtime's stream (net.snapshotState() and rt.randomState keep
 * them, to look without changing the net). A TypeError naming net when it is not one;
 * otherwise throws as net.predict does.
 */
export function layerActivations(net: Sequential, x: Tensor, options: { train?: boolean } = {}): LayerActivation[] {
  if (!(net instanceof Sequential)) {
    throw new TypeError(`layerActivations: net must be a net (MultiLayerNet, a Sequential, …), got ${describeValue(net)}${otherCopyHint(net, NET_CLASSES)}`);
  }
  checkOptions('layerActivations', options, KEYS);
  const { train = false } = options;
  checkFlag('layerActivations', 'train', train);
  const out: LayerActivation[] = [];
  net.predictBorrowed(x, train, 'layerActivations: x', (y, index, layer) => out.push({ index, layer: layer.name, shape: [...y.shape], data: y.toArray() }));
  return out;
}
