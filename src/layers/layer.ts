// The book's layer contract: forward(x, train) / backward(dout), with the
// layer owning its outputs (valid until its next call) and exposing its
// parameters and gradients by name.
import type { Tensor } from '../runtime/tensor.js';
import type { FusedActivation } from '../runtime/runtime.js';
import type { FusableActivation } from './activations.js';

/**
 * What Sequential runs: a layer owns its outputs and gradients (valid until its next
 * forward/backward; never dispose them), and the parameters it was given stay the giver's.
 */
export interface Layer {
  /** For error messages and Sequential keys, e.g. 'Affine'. */
  readonly name: string;
  /** Learnable parameters by the layer's own names (W, b, gamma, beta); empty if none. */
  readonly params: Readonly<Record<string, Tensor>>;
  /** Gradients, keyed like params; filled by backward. */
  readonly grads: Readonly<Record<string, Tensor>>;
  /** Non-learned state saved with the model (batch-norm running statistics); not given to optimizers. */
  readonly state?: Readonly<Record<string, Tensor>>;
  /**
   * The layer's output for input `x` (`train` true while training: dropout drops, batch norm uses
   * the batch's statistics). The layer owns the result; it may keep `x` for backward.
   */
  forward(x: Tensor, train?: boolean): Tensor;
  /** The gradient of the loss with respect to the last forward's input, given dout = ∂L/∂output; fills `grads`. The layer owns the result. */
  backward(dout: Tensor): Tensor;
  /**
   * backward() without the input gradient: fills `grads` only. Sequential
   * calls it on its first layer with parameters, whose input needs no gradient
   * (an Affine first layer's dx is a fifth of an MLP step's work).
   */
  backwardParams?(dout: Tensor): void;
  /** Frees the layer's own buffers (not the parameters it was given). */
  dispose(): void;
}

/**
 * A layer that can apply the activation following it in its own epilogue
 * (Affine's GEMM, Convolution's per-image pass): forward(x, train, act)
 * returns act(output). Sequential pairs it with a FusableActivation.
 */
export interface ActivationFusingLayer extends Layer {
  readonly fusesActivation: true;
  /** forward(), then `act` applied in the same pass (default 'none'). */
  forward(x: Tensor, train?: boolean, act?: FusedActivation): Tensor;
}

/** Whether `layer` can apply the following activation itself (an ActivationFusingLayer). */
export function fusesActivation(layer: Layer): layer is ActivationFusingLayer {
  return (layer as Partial<ActivationFusingLayer>).fusesActivation === true;
}

/**
 * A layer whose input gradient can go through the backward of the activation
 * before it in the same call (Affine's dx GEMM). Sequential pairs it with that
 * FusableActivation in gradient().
 */
export interface ActivationBackwardFusingLayer extends Layer {
  readonly fusesActivationBackward: true;
  /** before.backward(this.backward(dout)) in one call, with its bits; the layer owns the result. */
  backwardThrough(dout: Tensor, before: FusableActivation): Tensor;
}

/** Whether `layer` can run the backward of the activation before it (an ActivationBackwardFusingLayer). */
export function fusesActivationBackward(layer: Layer): layer is ActivationBackwardFusingLayer {
  return (layer as Partial<ActivationBackwardFusingLayer>).fusesActivationBackward === true;
}
