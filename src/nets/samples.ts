// What a net's samples must be, checked up front so an error names the caller's x (not a chunk of it
// cut by an async entry, nor a layer deep in the net): the sample shape a net fixes (inputShape), or
// else the row width of its first Affine.
import { Affine } from '../layers/affine.js';
import { isFusableActivation } from '../layers/activations.js';
import { BatchNormalization } from '../layers/batch-normalization.js';
import { Dropout } from '../layers/dropout.js';
import { Flatten } from '../layers/flatten.js';
import type { Layer } from '../layers/layer.js';
import { SampleNormalization } from '../layers/sample-normalization.js';
import { checkSampleShape, type Tensor } from '../runtime/tensor.js';

/** Whether the layer's output has its input's shape (activations, dropout, the normalizations). */
export function keepsShape(layer: Layer): boolean {
  return isFusableActivation(layer) || layer instanceof Dropout || layer instanceof BatchNormalization || layer instanceof SampleNormalization;
}

/**
 * The shape of the first Affine's W when only layers that keep a row's size (those that keep its shape,
 * and Flatten) come before it; null otherwise (a convolution first: its own checks hold).
 */
export function firstAffineW(layers: readonly Layer[]): readonly number[] | null {
  for (const layer of layers) {
    if (layer instanceof Affine) return [...layer.W.shape];
    if (!(keepsShape(layer) || layer instanceof Flatten)) return null;
  }
  return null;
}

/**
 * Refuses (a RangeError naming `what`) an x whose samples the net does not take: not [N, ...inputShape]
 * when the net fixes its input, or, with rows ([N, …]), rows of another size than its first Affine
 * takes (`firstW`, from firstAffineW).
 */
export function checkSamples(inputShape: readonly number[] | null, firstW: readonly number[] | null, x: Tensor, what: string): void {
  checkSampleShape(inputShape, x, what);
  if (inputShape !== null || firstW === null || x.shape.length < 2) return;
  let features = 1;
  for (let i = 1; i < x.shape.length; i++) features *= x.shape[i];
  if (features !== firstW[0]) {
    throw new RangeError(`${what} has rows of ${features} features ([${x.shape.join(', ')}]), the net takes ${firstW[0]} (its first Affine's W is [${firstW.join(', ')}])`);
  }
}
