// Elementwise activations. Each keeps what its backward needs: ReLU its input
// (the book's mask is x <= 0), Sigmoid and Tanh their output.
import type { Layer } from './layer.js';
import { Buffers } from './buffers.js';
import { checkFloatTensor, type Tensor } from '../runtime/tensor.js';
import type { FusedActivation } from '../runtime/runtime.js';

/** Kernels (y, x, n) and (dx, dy, saved, n). */
type ForwardKernel = 'reluForward' | 'sigmoidForward' | 'tanhForward';
type BackwardKernel = 'reluBackward' | 'sigmoidBackward' | 'tanhBackward';

/**
 * An activation that the Affine or Convolution before it may compute in its
 * epilogue: Sequential then hands the fused output to adoptFused() instead of
 * calling forward(), and backward() runs unchanged.
 */
export interface FusableActivation extends Layer {
  readonly fusedAs: Exclude<FusedActivation, 'none'>;
  /** Takes y = act(x) computed elsewhere as this layer's forward output (and keeps what backward needs). */
  adoptFused(y: Tensor): Tensor;
  /**
   * What backward() reads besides dout (ReLU its input or output, the others their output), for a
   * layer after it that runs this backward in its own call (ActivationBackwardFusingLayer).
   * @throws Error before any forward; TypeError if that tensor was disposed. `who` names the caller.
   */
  savedForBackward(who: string): Tensor;
}

/** Whether `layer` is one of simdnn's activations (Relu, Sigmoid, Tanh), which an Affine or Convolution before it can fuse. */
export function isFusableActivation(layer: Layer | undefined): layer is FusableActivation {
  return layer instanceof Activation;
}

/**
 * For a layer's backwardThrough (`who`): what `before` kept, checked to be a live float tensor on the
 * runtime of `input`, the layer's last forward input, and of its size (both checks skipped while the
 * layer has none: its own check then names the missing forward).
 * @throws TypeError if `before` is not a Relu, Sigmoid or Tanh layer or what it kept is disposed or on
 * another runtime; Error if it has not run forward; RangeError for another size.
 */
export function keptForBackward(before: FusableActivation, who: string, input: Tensor | null): Tensor {
  if (!isFusableActivation(before)) throw new TypeError(`${who}: before must be a Relu, Sigmoid or Tanh layer, got ${String(before)}`);
  const saved = before.savedForBackward(who);
  if (input) {
    checkFloatTensor(input.rt, saved, `${who}: the tensor ${before.name} kept`);
    if (saved.size !== input.size) {
      throw new RangeError(`${who}: ${before.name} kept [${saved.shape.join(', ')}], this layer's input was [${input.shape.join(', ')}]`);
    }
  }
  return saved;
}

/** What Relu, Sigmoid and Tanh share: an elementwise layer that can run fused into the layer before it. */
export abstract class Activation implements FusableActivation {
  abstract readonly name: string;
  abstract readonly fusedAs: Exclude<FusedActivation, 'none'>;
  readonly params = {};
  readonly grads = {};
  private buffers: Buffers | null = null;
  private disposed = false;
  /** @internal What backward reads: ReLU keeps x, the others y. */
  protected saved: Tensor | null = null;
  /** @internal The kernel (y, x, n): elementwise, so split across threads by ranges. Relu, Sigmoid and Tanh are the only subclasses. */
  protected abstract readonly forwardKernel: ForwardKernel;
  /** @internal The kernel (dx, dy, saved, n). */
  protected abstract readonly backwardKernel: BackwardKernel;
  /** @internal Whether backward reads the input (ReLU) rather than the output. */
  protected abstract keepsInput: boolean;

  /**
   * act(x), elementwise, in a tensor of x's shape that the layer owns (valid until its next
   * forward; do not dispose it). Relu keeps `x` itself for backward: leave it unchanged until then.
   * @throws Error after dispose(); TypeError/RangeError if x is not a live float tensor of the runtime of the first call.
   */
  forward(x: Tensor, _train = false): Tensor {
    const buffers = this.buffersFor(x, 'forward: x');
    const out = buffers.get('out', x.shape, x);
    x.rt.splitRange(this.forwardKernel, x.size, 1, (i0, i1, args) => args(out.ptr + 4 * i0, x.ptr + 4 * i0, i1 - i0));
    this.saved = this.keepsInput ? x : out;
    return out;
  }

  adoptFused(y: Tensor): Tensor {
    this.buffersFor(y, 'adoptFused: y');
    // ReLU's mask needs x > 0, which is y > 0 for y = x < 0 ? 0 : x
    this.saved = y;
    return y;
  }

  /**
   * dx = dout · act'(x) for the last forward (or adoptFused), in a tensor the layer owns (valid until its next backward).
   * @throws Error before any forward; TypeError/RangeError if dout is not a live float tensor of the forward's shape and runtime.
   */
  backward(dout: Tensor): Tensor {
    const s = this.savedForBackward(`${this.name}.backward`);
    checkFloatTensor(s.rt, dout, `${this.name}.backward: dout`);
    if (dout.size !== s.size) throw new RangeError(`${this.name}.backward: dout must be [${s.shape.join(', ')}], got [${dout.shape.join(', ')}]`);
    const dx = this.buffers!.get('dx', s.shape);
    s.rt.splitRange(this.backwardKernel, s.size, 1, (i0, i1, args) => args(dx.ptr + 4 * i0, dout.ptr + 4 * i0, s.ptr + 4 * i0, i1 - i0));
    return dx;
  }

  savedForBackward(who: string): Tensor {
    const s = this.saved;
    if (this.disposed) throw new Error(`${who}: ${this.name} used after dispose()`);
    if (!s || !this.buffers) throw new Error(`${who}: call ${this.name}.forward first`);
    checkFloatTensor(s.rt, s, `${who}: the tensor ${this.name}.forward kept`);
    return s;
  }

  dispose(): void {
    this.buffers?.dispose();
    this.saved = null;
    this.disposed = true;
  }

  /** Checks x (alive, on the runtime of the first call) and returns the buffers. */
  private buffersFor(x: Tensor, what: string): Buffers {
    if (this.disposed) throw new Error(`${this.name}: used after dispose()`);
    checkFloatTensor(this.buffers?.rt ?? x?.rt, x, `${this.name}.${what}`);
    return (this.buffers ??= new Buffers(x.rt));
  }
}

/** ReLU, x < 0 ? 0 : x (the book's Relu, keeping NaN and -0); no parameters. */
export class Relu extends Activation {
  readonly name = 'Relu';
  readonly fusedAs = 'relu';
  /** @internal */
  protected keepsInput = true;
  /** @internal */
  protected readonly forwardKernel = 'reluForward';
  /** @internal */
  protected readonly backwardKernel = 'reluBackward';
}

/** The logistic sigmoid, 1 / (1 + e^−x); no parameters. */
export class Sigmoid extends Activation {
  readonly name = 'Sigmoid';
  readonly fusedAs = 'sigmoid';
  /** @internal */
  protected keepsInput = false;
  /** @internal */
  protected readonly forwardKernel = 'sigmoidForward';
  /** @internal */
  protected readonly backwardKernel = 'sigmoidBackward';
}

/** The hyperbolic tangent; no parameters. */
export class Tanh extends Activation {
  readonly name = 'Tanh';
  readonly fusedAs = 'tanh';
  /** @internal */
  protected keepsInput = false;
  /** @internal */
  protected readonly forwardKernel = 'tanhForward';
  /** @internal */
  protected readonly backwardKernel = 'tanhBackward';
}

/** Names activation() accepts. */
export type ActivationName = 'relu' | 'sigmoid' | 'tanh';

/**
 * A new activation layer by name; the caller owns it (dispose() frees its buffers).
 * @throws TypeError for a name other than 'relu', 'sigmoid' or 'tanh'.
 */
export function activation(name: ActivationName): Activation {
  switch (name) {
    case 'relu': return new Relu();
    case 'sigmoid': return new Sigmoid();
    case 'tanh': return new Tanh();
    default: throw new TypeError(`activation: expected 'relu', 'sigmoid' or 'tanh', got '${String(name)}'`);
  }
}
