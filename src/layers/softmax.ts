// Softmax over the last axis as a function: a classifier's probabilities from its logits (predict returns
// logits), computed by the wasm kernel SoftmaxWithLoss uses, so the bits are the same on every host (a
// softmax in JavaScript is not: Math.exp differs between V8 versions).
import { Tensor, checkFloatTensor, sharesMemory } from '../runtime/tensor.js';
import { checkOptions } from '../runtime/options.js';

const KEYS = new Set(['out']);

/** Options of softmax. */
export interface SoftmaxOptions {
  /** Where to write: a tensor of x's size on x's runtime (x itself: in place). Default: a new tensor the caller owns. */
  out?: Tensor;
}

/**
 * `softmax(x)` along x's last axis (each row of a [N, C] tensor of logits sums to 1), stable for any finite
 * logits (x − max, as the book's softmax); a probability below float32's smallest normal (1.2e-38) comes
 * out as 0 or, in a row whose exponentials sum to less than 2, as about that smallest normal. Returns `out`
 * or a new tensor of x's shape. Throws, writing nothing, for an x or out that is not a live float tensor of one
 * runtime, or an out of another size or partly overlapping x.
 */
export function softmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  checkFloatTensor(x instanceof Tensor ? x.rt : (null as never), x, 'softmax: x'); // not a Tensor: named as such
  checkOptions('softmax', options, KEYS);
  const { out } = options;
  if (out !== undefined) {
    checkFloatTensor(x.rt, out, 'softmax: options.out');
    if (out.size !== x.size) throw new RangeError(`softmax: options.out must have x's ${x.size} elements ([${x.shape.join(', ')}]), got [${out.shape.join(', ')}]`);
    if (out.ptr !== x.ptr && sharesMemory(out, x)) throw new RangeError('softmax: options.out overlaps x without being x (pass x itself to work in place)');
  }
  if (x.shape.length === 0) throw new RangeError('softmax: x must have at least one axis, got a scalar tensor');
  const cols = x.shape[x.shape.length - 1];
  const y = out ?? x.rt.tensor(x.shape);
  if (x.size > 0) x.rt.unsafeKernels.softmaxForward(y.ptr, x.ptr, x.size / cols, cols);
  return y;
}
