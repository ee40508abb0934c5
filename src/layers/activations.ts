// Elementwise activations. Each keeps what its backward needs: ReLU its input
// (the book's mask is x <= 0), Sigmoid and Tanh their output.
import type { Layer } from './layer.js';
import { Buffers } from './buffers.js';
import type { Tensor } from '../runtime/tensor.js';
import type { FusedActivation, Kernels } from '../runtime/runtime.js';

type Unary = (out: number, x: number, n: number) => void;

/**
 * An activation that an Affine before it may compute in its GEMM's epilogue:
 * Sequential then hands the fused output to adoptFused() instead of calling
 * forward(), and backward() runs unchanged.
 */
export interface FusableActivation extends Layer {
  readonly fusedAs: Exclude<FusedActivation, 'none'>;
  /** Takes y = act(x) computed elsewhere as this layer's forward output (and keeps what backward needs). */
  adoptFused(y: Tensor): Tensor;
}

export function isFusableActivation(layer: Layer | undefined): layer is FusableActivation {
  return layer instanceof Activation;
}

abstract class Activation implements FusableActivation {
  abstract readonly name: string;
  abstract readonly fusedAs: Exclude<FusedActivation, 'none'>;
  readonly params = {};
  readonly grads = {};
  private buffers: Buffers | null = null;
  /** ReLU keeps x, the others y. */
  protected saved: Tensor | null = null;
  protected abstract forwardKernel(k: Kernels): Unary;
  protected abstract backwardKernel(k: Kernels): (dx: number, dy: number, saved: number, n: number) => void;
  protected abstract keepsInput: boolean;

  forward(x: Tensor, _train = false): Tensor {
    this.buffers ??= new Buffers(x.rt);
    const out = this.buffers.get('out', x.shape);
    this.forwardKernel(x.rt.kernels)(out.ptr, x.ptr, x.size);
    this.saved = this.keepsInput ? x : out;
    return out;
  }

  adoptFused(y: Tensor): Tensor {
    this.buffers ??= new Buffers(y.rt);
    // ReLU's mask needs x > 0, which is y > 0 for y = max(x, 0)
    this.saved = y;
    return y;
  }

  backward(dout: Tensor): Tensor {
    const s = this.saved;
    if (!s || !this.buffers) throw new Error(`${this.name}.backward: call forward first`);
    if (dout.size !== s.size) throw new RangeError(`${this.name}.backward: dout must be [${s.shape.join(', ')}], got [${dout.shape.join(', ')}]`);
    const dx = this.buffers.get('dx', s.shape);
    this.backwardKernel(s.rt.kernels)(dx.ptr, dout.ptr, s.ptr, s.size);
    return dx;
  }

  dispose(): void {
    this.buffers?.dispose();
    this.saved = null;
  }
}

export class Relu extends Activation {
  readonly name = 'Relu';
  readonly fusedAs = 'relu';
  protected keepsInput = true;
  protected forwardKernel(k: Kernels) { return k.reluForward; }
  protected backwardKernel(k: Kernels) { return k.reluBackward; }
}

export class Sigmoid extends Activation {
  readonly name = 'Sigmoid';
  readonly fusedAs = 'sigmoid';
  protected keepsInput = false;
  protected forwardKernel(k: Kernels) { return k.sigmoidForward; }
  protected backwardKernel(k: Kernels) { return k.sigmoidBackward; }
}

export class Tanh extends Activation {
  readonly name = 'Tanh';
  readonly fusedAs = 'tanh';
  protected keepsInput = false;
  protected forwardKernel(k: Kernels) { return k.tanhForward; }
  protected backwardKernel(k: Kernels) { return k.tanhBackward; }
}

export type ActivationName = 'relu' | 'sigmoid' | 'tanh';

export function activation(name: ActivationName): Layer {
  switch (name) {
    case 'relu': return new Relu();
    case 'sigmoid': return new Sigmoid();
    case 'tanh': return new Tanh();
    default: throw new TypeError(`activation: expected 'relu', 'sigmoid' or 'tanh', got '${String(name)}'`);
  }
}
