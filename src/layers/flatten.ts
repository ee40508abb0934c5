// Flatten: [N, d1, d2, …] -> [N, d1·d2·…] as a view (no copy); backward
// reshapes the gradient back. Affine flattens by itself; this is for stacks
// that want the 2-D shape explicit (e.g. AlexNet's classifier).
import type { Layer } from './layer.js';
import { checkFloatTensor, type Tensor } from '../runtime/tensor.js';

/** Reshapes [N, d1, d2, …] to [N, d1·d2·…] without copying; no parameters and no memory of its own. */
export class Flatten implements Layer {
  readonly name = 'Flatten';
  readonly params = {};
  readonly grads = {};
  private inShape: readonly number[] | null = null;
  // the last views handed out, reused while the same buffer comes back
  private out: Tensor | null = null;
  private dx: Tensor | null = null;

  /**
   * A [N, d1·d2·…] view of x (shares x's memory and dies with x's owner; do not dispose it).
   * @throws TypeError if x is not a live float tensor (of the runtime of earlier calls); RangeError for a scalar shape.
   */
  forward(x: Tensor, _train = false): Tensor {
    checkFloatTensor(this.out?.rt ?? x?.rt, x, 'Flatten.forward: x');
    if (x.shape.length < 1) throw new RangeError('Flatten.forward: x must have a batch dimension, got a scalar shape []');
    const shape = [x.shape[0], x.shape.slice(1).reduce((a, b) => a * b, 1)]; // [0, d1·d2·…] for an empty batch too
    this.inShape = x.shape;
    this.out = reuse(this.out, x, shape);
    return this.out;
  }

  /**
   * A view of dout with the last forward's input shape (shares dout's memory).
   * @throws Error before any forward; TypeError/RangeError if dout is not a live float tensor of the forward output's size.
   */
  backward(dout: Tensor): Tensor {
    const shape = this.inShape;
    if (!shape || !this.out) throw new Error('Flatten.backward: call forward first');
    checkFloatTensor(this.out.rt, dout, 'Flatten.backward: dout');
    if (dout.size !== this.out.size) throw new RangeError(`Flatten.backward: dout must be [${this.out.shape.join(', ')}], got [${dout.shape.join(', ')}]`);
    this.dx = reuse(this.dx, dout, shape);
    return this.dx;
  }

  dispose(): void {
    this.inShape = null;
    this.out = null;
    this.dx = null;
  }
}

function reuse(view: Tensor | null, src: Tensor, shape: readonly number[]): Tensor {
  if (view && view.alive && view.ptr === src.ptr && view.rt === src.rt && view.shape.length === shape.length && view.shape.every((d, i) => d === shape[i])) return view;
  return src.reshape(shape);
}
