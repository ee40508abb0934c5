// Gradient clipping between a step's backward pass and its update, as PyTorch's torch.nn.utils.clip_grad_norm_
// and clip_grad_value_ (and Keras's global_clipnorm and clipvalue): the Trainer's clipGradNorm and clipGradValue
// options call these, and a hand-written loop may call them on net.gradient()'s result.
import { sharedKeys, type Params } from '../optim/optimizer.js';
import type { Runtime } from '../runtime/runtime.js';
import { Tensor, badNumber, checkFloatTensor, describeValue, shown } from '../runtime/tensor.js';

/** PyTorch's clip_grad_norm_ adds this to the total norm before dividing (no division by zero). */
const NORM_EPS = 1e-6;

/**
 * Scales every gradient by `maxNorm / (total + 1e-6)` when that is below 1, where `total` is the 2-norm of all of
 * them as one vector (PyTorch's `clip_grad_norm_(parameters, max_norm)`): the gradients' direction kept, their
 * length at most `maxNorm`. Returns `total`, the norm before clipping (each float32 square summed in float64, the
 * tensors in key order). Gradients holding a NaN or an infinity give a total that is not finite and are left as
 * they are (the Trainer then refuses the step). Throws, writing nothing, for a `maxNorm` that is no positive finite
 * number, or gradients that are not live float tensors of one runtime or share memory.
 */
export function clipGradNorm(grads: Params, maxNorm: number): number {
  if (!(Number.isFinite(maxNorm) && maxNorm > 0)) throw badNumber(maxNorm, `clipGradNorm: maxNorm must be a positive finite number, got ${shown(maxNorm)}`);
  const list = checkGrads('clipGradNorm', grads);
  if (list.length === 0) return 0;
  const k = list[0].rt.unsafeKernels;
  let sum = 0;
  for (const g of list) sum += k.sumSquares(g.ptr, g.size);
  const total = Math.sqrt(sum);
  const coef = maxNorm / (total + NORM_EPS);
  if (coef < 1 && Number.isFinite(total)) for (const g of list) k.scale(g.ptr, g.ptr, coef, g.size);
  return total;
}

/**
 * Clamps every gradient element to [−clipValue, clipValue] (PyTorch's `clip_grad_value_`, Keras's `clipvalue`); a
 * NaN stays NaN. Throws, writing nothing, for a `clipValue` that is no positive finite number, or gradients that
 * are not live float tensors of one runtime or share memory.
 */
export function clipGradValue(grads: Params, clipValue: number): void {
  if (!(Number.isFinite(clipValue) && clipValue > 0)) throw badNumber(clipValue, `clipGradValue: clipValue must be a positive finite number, got ${shown(clipValue)}`);
  const list = checkGrads('clipGradValue', grads);
  for (const g of list) g.rt.unsafeKernels.clampRange(g.ptr, g.ptr, -clipValue, clipValue, g.size);
}

/** The gradients in key order, each read once and checked: live float tensors of one runtime, no two sharing memory (clipped twice). */
function checkGrads(who: string, grads: Params): Tensor[] {
  if (grads === null || typeof grads !== 'object') throw new TypeError(`${who}: grads must be an object of Tensors keyed by name (net.gradient()'s result), got ${describeValue(grads)}`);
  const keys = Object.keys(grads);
  const read: Record<string, Tensor> = {};
  let rt: Runtime | undefined;
  for (const key of keys) {
    const g = grads[key];
    rt ??= (g as Tensor | undefined)?.rt;
    checkFloatTensor(rt!, g, `${who}: grads['${key}']`);
    read[key] = g;
  }
  const shared = sharedKeys(keys, read);
  if (shared) throw new RangeError(`${who}: grads['${shared[0]}'] and grads['${shared[1]}'] share memory (a tensor given twice would be clipped twice)`);
  return keys.map((key) => read[key]);
}
