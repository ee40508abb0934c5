// Softmax followed by cross-entropy (the book's SoftmaxWithLoss), in one kernel.
import { Buffers } from './buffers.js';
import { IntTensor, Tensor } from '../runtime/tensor.js';

/** Targets: a one-hot (or soft) Tensor like x, int labels in memory, or labels in a JS array. */
export type Targets = Tensor | IntTensor | ArrayLike<number>;

/** The last layer of a classifier: not a Layer, since forward takes targets and returns the loss. */
export class SoftmaxWithLoss {
  readonly name = 'SoftmaxWithLoss';
  /** Softmax output of the last forward. */
  y: Tensor | null = null;
  /** Loss of the last forward. */
  loss = NaN;
  private buffers: Buffers | null = null;
  private t: Tensor | IntTensor | null = null;

  /** Returns the mean loss over the batch. */
  forward(x: Tensor, t: Targets): number {
    if (t === undefined || t === null) throw new TypeError('SoftmaxWithLoss.forward(x, t): t (targets) is required');
    if (x.shape.length !== 2) throw new RangeError(`SoftmaxWithLoss.forward: x must be [batch, classes], got [${x.shape.join(', ')}]`);
    const [N, C] = x.shape;
    const rt = x.rt;
    this.buffers ??= new Buffers(rt);
    const y = this.buffers.get('y', x.shape);
    const k = rt.unsafeKernels;
    let total: number;
    const targets = this.targets(t, N, C);
    if (targets instanceof Tensor) total = k.softmaxCrossEntropyForwardDense(y.ptr, x.ptr, targets.ptr, N, C);
    else total = k.softmaxCrossEntropyForward(y.ptr, x.ptr, targets.ptr, N, C);
    this.y = y;
    this.t = targets;
    this.loss = total / N;
    if (!Number.isFinite(this.loss)) {
      throw new RangeError(`SoftmaxWithLoss: the loss is ${this.loss}; x holds NaN or Inf (training diverged? lower the learning rate)`);
    }
    return this.loss;
  }

  backward(dout: Tensor | number = 1): Tensor {
    const y = this.y, t = this.t;
    if (!y || !t || !this.buffers) throw new Error('SoftmaxWithLoss.backward: call forward first');
    const scale = typeof dout === 'number' ? dout : dout.data[0];
    const [N, C] = y.shape;
    const dx = this.buffers.get('dx', y.shape);
    const k = y.rt.unsafeKernels;
    if (t instanceof Tensor) k.softmaxCrossEntropyBackwardDense(dx.ptr, y.ptr, t.ptr, N, C, scale / N);
    else k.softmaxCrossEntropyBackward(dx.ptr, y.ptr, t.ptr, N, C, scale / N);
    return dx;
  }

  private targets(t: Targets, N: number, C: number): Tensor | IntTensor {
    if (t instanceof Tensor) {
      if (t.shape.length !== 2 || t.shape[0] !== N || t.shape[1] !== C) {
        throw new RangeError(`SoftmaxWithLoss.forward: one-hot t must be [${N}, ${C}] like x, got [${t.shape.join(', ')}]`);
      }
      return t;
    }
    let labels: IntTensor;
    if (t instanceof IntTensor) {
      if (t.size !== N) throw new RangeError(`SoftmaxWithLoss.forward: t must hold ${N} labels, got ${t.size}`);
      labels = t;
    } else {
      if (t.length !== N) throw new RangeError(`SoftmaxWithLoss.forward: t must hold ${N} labels, got ${t.length}`);
      labels = this.buffers!.labels('t', [N]);
      labels.data.set(t);
    }
    const v = labels.data;
    for (let i = 0; i < N; i++) {
      if (!(v[i] >= 0 && v[i] < C)) throw new RangeError(`SoftmaxWithLoss.forward: label t[${i}] = ${v[i]} is outside [0, ${C})`);
    }
    return labels;
  }

  dispose(): void {
    this.buffers?.dispose();
    this.y = null;
    this.t = null;
  }
}
