export type { Layer } from './layer.js';
export { Buffers } from './buffers.js';
export { Affine, type AffineGrads } from './affine.js';
export { Relu, Sigmoid, Tanh, activation, type ActivationName } from './activations.js';
export { SoftmaxWithLoss, type Targets } from './softmax-with-loss.js';
