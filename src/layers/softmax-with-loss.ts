// Softmax followed by cross-entropy (the book's SoftmaxWithLoss), in one kernel.
import { Buffers } from './buffers.js';
import { IntTensor, Tensor, checkFloatTensor, checkTensor, describeValue } from '../runtime/tensor.js';
import { NonFiniteError } from '../runtime/errors.js';
import { checkOptions } from '../runtime/options.js';
import type { Runtime } from '../runtime/runtime.js';

/** Targets: a one-hot (or soft) Tensor like x, int labels in memory, or labels in a JS array. */
export type Targets = Tensor | IntTensor | ArrayLike<number>;

/**
 * @internal Refuses (naming `who`) one-hot or soft target rows that are not probabilities: a value NaN, ±Inf or
 * negative (the loss would be NaN, its error blaming x), or a row whose sum is not 1 (a row of zeros, what a
 * one-hot encoding of a missing label gives, has a loss of 0 and a gradient of y; with several 1s the gradient
 * y − t is not the loss's). Returns whether every row is one-hot (else some are soft: label smoothing).
 */
export function checkTargetRows(who: string, t: Tensor): boolean {
  const [N, C] = t.shape, v = t.data;
  let oneHot = true;
  for (let r = 0; r < N; r++) {
    let sum = 0, ones = 0;
    for (let c = 0; c < C; c++) {
      const a = v[r * C + c];
      if (!(a >= 0 && a < Infinity)) throw new RangeError(`${who}: t[${r}][${c}] is ${a}; target rows are probabilities (one-hot or soft)`);
      sum += a;
      if (a === 1) ones++;
    }
    if (!(Math.abs(sum - 1) <= 1e-3)) throw new RangeError(`${who}: t[${r}] sums to ${sum}; target rows are probabilities (one-hot or soft), which sum to 1${sum === 0 ? ' (a row of zeros names no class)' : ''}`);
    if (ones !== 1 || sum !== 1) oneHot = false;
  }
  return oneHot;
}

/**
 * @internal Targets given as an array: copied when it is a tensor's `data` (a view on the memory), which
 * an allocation before it is read (a forward pass's, at a new batch size) would empty on a non-shared
 * memory that grows.
 */
export function ownTargets(rt: Runtime, t: Targets): Targets {
  return t instanceof Tensor || t instanceof IntTensor || t === null || typeof t !== 'object' ? t : rt.detachSafe(t);
}

/** Options of SoftmaxWithLoss. */
export interface SoftmaxWithLossOptions {
  /**
   * Label smoothing ε in [0, 1] (PyTorch's and Keras's `label_smoothing`; default 0, the book's loss): the
   * targets become t·(1 − ε) + ε/classes, for labels as for one-hot or soft rows, in the loss and its gradient.
   */
  labelSmoothing?: number;
}

const OPTION_KEYS = new Set(['labelSmoothing']);

/** @internal Refuses (naming `who`) a label smoothing ε that is not a number in [0, 1]; returns it. */
export function checkLabelSmoothing(who: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`${who}: labelSmoothing must be a number in [0, 1], got ${describeValue(v)}`);
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${who}: labelSmoothing must be a number in [0, 1], got ${v}`);
  return v;
}

/** The last layer of a classifier: not a Layer, since forward takes targets and returns the loss. */
export class SoftmaxWithLoss {
  readonly name = 'SoftmaxWithLoss';
  /** Label smoothing ε (options.labelSmoothing); 0: the book's loss. */
  readonly labelSmoothing: number;
  /** Softmax output of the last forward. */
  y: Tensor | null = null;
  /** Loss of the last forward. */
  loss = NaN;
  private buffers: Buffers | null = null;
  private t: Tensor | IntTensor | null = null;
  private disposed = false;

  /**
   * The loss layer; `options.labelSmoothing` (default 0) smooths its targets.
   * @throws TypeError for options that are not an object, an unknown key or a labelSmoothing that is not a number; RangeError for one outside [0, 1].
   */
  constructor(options: SoftmaxWithLossOptions = {}) {
    checkOptions('SoftmaxWithLoss', options, OPTION_KEYS);
    // undefined is the default; null is refused as the nets refuse it
    this.labelSmoothing = checkLabelSmoothing('SoftmaxWithLoss', options.labelSmoothing === undefined ? 0 : options.labelSmoothing);
  }

  /** Returns the mean loss over the batch. */
  forward(x: Tensor, t: Targets): number {
    const [N, C] = this.checkInput(x, t);
    const rt = x.rt;
    t = ownTargets(rt, t); // before the buffers below are made: growing the memory would empty a tensor's data
    this.buffers ??= new Buffers(rt);
    const targets = this.smoothed(this.targets(t, N, C), N, C);
    // soft targets may be this layer's last y (distillation): the kernel reads each row of t after writing y's
    const y = targets instanceof Tensor ? this.buffers.apart('y', x.shape, targets) : this.buffers.get('y', x.shape);
    const k = rt.unsafeKernels;
    const total = targets instanceof Tensor
      ? k.softmaxCrossEntropyForwardDense(y.ptr, x.ptr, targets.ptr, N, C)
      : k.softmaxCrossEntropyForward(y.ptr, x.ptr, targets.ptr, N, C);
    this.y = y;
    this.t = targets;
    return this.setLoss(total, N);
  }

  /**
   * @internal for src/nets/row-chain.ts, which runs this layer's kernels itself: checks x and t as
   * forward(x, t) does and returns the buffers forward and backward write and the targets the kernels
   * read (labels in memory, or one-hot, soft or smoothed rows), keeping them as forward would.
   * Once the chain has written y, chainLoss() sums and records the loss.
   */
  chainBuffers(x: Tensor, t: Targets): { y: Tensor; dx: Tensor; targets: Tensor | IntTensor } {
    const [N, C] = this.checkInput(x, t);
    this.buffers ??= new Buffers(x.rt);
    const targets = this.smoothed(this.targets(t, N, C), N, C);
    // as forward(): soft targets may be this layer's last y, which the chain reads after writing y's rows
    this.y = targets instanceof Tensor ? this.buffers.apart('y', x.shape, targets) : this.buffers.get('y', x.shape);
    this.t = targets;
    return { y: this.y, dx: this.buffers.get('dx', x.shape), targets };
  }

  /**
   * @internal the loss of the chain's forward, from the y it wrote (the same sum, in the same
   * order, as forward()'s kernel); throws forward()'s RangeError when it is not finite.
   */
  chainLoss(): number {
    const y = this.y!, t = this.t!;
    const [N, C] = y.shape;
    const k = y.rt.unsafeKernels;
    return this.setLoss(t instanceof Tensor ? k.crossEntropyOfSoftmaxDense(y.ptr, t.ptr, N, C) : k.crossEntropyOfSoftmax(y.ptr, t.ptr, N, C), N);
  }

  /**
   * The targets the loss takes: with label smoothing ε, t·(1 − ε) + ε/classes in a buffer of the
   * layer's (labels as one-hot rows), which backward() then reads too; without, t itself.
   */
  private smoothed(t: Tensor | IntTensor, N: number, C: number): Tensor | IntTensor {
    const e = this.labelSmoothing;
    if (e === 0) return t;
    const out = this.buffers!.get('smoothed', [N, C]);
    const keep = Math.fround(1 - e), off = Math.fround(e / C);
    const k = out.rt.unsafeKernels;
    if (t instanceof Tensor) k.smoothTargets(out.ptr, t.ptr, N * C, keep, off);
    else k.smoothLabels(out.ptr, t.ptr, N, C, keep, off);
    return out;
  }

  /** Checks the layer, x ([batch, classes], alive, the layer's runtime) and that t is given; returns x's shape. */
  private checkInput(x: Tensor, t: Targets): [number, number] {
    if (this.disposed) throw new Error('SoftmaxWithLoss.forward: used after dispose()');
    checkFloatTensor(this.buffers?.rt ?? x?.rt, x, 'SoftmaxWithLoss.forward: x');
    if (t === undefined || t === null) throw new TypeError('SoftmaxWithLoss.forward(x, t): t (targets) is required');
    if (x.shape.length !== 2) throw new RangeError(`SoftmaxWithLoss.forward: x must be [batch, classes], got [${x.shape.join(', ')}]`);
    const [N, C] = x.shape;
    if (N === 0) throw new RangeError('SoftmaxWithLoss.forward: x has 0 rows; the mean loss of an empty batch is undefined');
    if (C === 0) throw new RangeError('SoftmaxWithLoss.forward: x has 0 classes (columns)');
    return [N, C];
  }

  private setLoss(total: number, rows: number): number {
    this.loss = total / rows;
    if (!Number.isFinite(this.loss)) {
      throw new NonFiniteError(`SoftmaxWithLoss: the loss is ${this.loss}; x holds NaN or Inf (training diverged? lower the learning rate)`);
    }
    return this.loss;
  }

  /**
   * The gradient of the loss with respect to the last forward's x, (y − t) · dout / N, in a
   * tensor the layer owns (valid until its next backward). `dout`: a number, or a tensor whose first value is used.
   * @throws Error after dispose() or before any forward; TypeError/RangeError if dout is a tensor that is not a live float tensor of the forward's runtime; RangeError if dout is not finite, or a label of the forward's t (in memory) is now outside [0, classes). Nothing is written then.
   */
  backward(dout: Tensor | number = 1): Tensor {
    const y = this.y, t = this.t;
    if (this.disposed) throw new Error('SoftmaxWithLoss.backward: used after dispose()');
    if (!y || !t || !this.buffers) throw new Error('SoftmaxWithLoss.backward: call forward first');
    if (typeof dout !== 'number') checkFloatTensor(y.rt, dout, 'SoftmaxWithLoss.backward: dout');
    const scale = typeof dout === 'number' ? dout : dout.data[0];
    if (!Number.isFinite(scale)) throw new RangeError(`SoftmaxWithLoss.backward: dout must be a finite number, got ${scale}`);
    checkTensor(y.rt, t, 'SoftmaxWithLoss.backward: the targets of the last forward');
    const [N, C] = y.shape;
    // labels in memory may have changed since forward checked them; the kernel writes at each
    if (t instanceof IntTensor) checkLabels('SoftmaxWithLoss.backward', t.data, C);
    const dx = this.buffers.get('dx', y.shape);
    const k = y.rt.unsafeKernels;
    if (t instanceof Tensor) k.softmaxCrossEntropyBackwardDense(dx.ptr, y.ptr, t.ptr, N, C, scale / N);
    else k.softmaxCrossEntropyBackward(dx.ptr, y.ptr, t.ptr, N, C, scale / N);
    return dx;
  }

  private targets(t: Targets, N: number, C: number): Tensor | IntTensor {
    if (t instanceof Tensor || t instanceof IntTensor) checkTensor(this.buffers!.rt, t, 'SoftmaxWithLoss.forward: t');
    if (t instanceof Tensor) {
      if (t.shape.length !== 2 || t.shape[0] !== N || t.shape[1] !== C) {
        throw new RangeError(`SoftmaxWithLoss.forward: one-hot t must be [${N}, ${C}] like x, got [${t.shape.join(', ')}]`);
      }
      checkTargetRows('SoftmaxWithLoss.forward', t);
      return t;
    }
    let labels: IntTensor;
    if (t instanceof IntTensor) {
      if (t.size !== N) throw new RangeError(`SoftmaxWithLoss.forward: t must hold ${N} labels, got ${t.size}`);
      labels = t;
    } else {
      if (typeof t !== 'object' || typeof t.length !== 'number') throw new TypeError(`SoftmaxWithLoss.forward: t must be a Tensor, an IntTensor or an array of labels, got ${typeof t}`);
      if (t.length !== N) throw new RangeError(`SoftmaxWithLoss.forward: t must hold ${N} labels, got ${t.length}`);
      // checked before they are copied: an int32 copy would truncate 1.5 to a label in range
      checkLabels('SoftmaxWithLoss.forward', t, C);
      labels = this.buffers!.labels('t', [N]);
      labels.data.set(t);
      return labels;
    }
    checkLabels('SoftmaxWithLoss.forward', labels.data, C);
    return labels;
  }

  /** Frees the layer's buffers (`y`, the gradient, labels it copied); the layer cannot be used afterwards. */
  dispose(): void {
    this.buffers?.dispose();
    this.y = null;
    this.t = null;
    this.disposed = true;
  }
}

/** Refuses (naming `who`) a label that is not an integer in [0, classes): the kernels index rows by it. */
export function checkLabels(who: string, t: ArrayLike<number>, classes: number): void {
  for (let i = 0; i < t.length; i++) {
    const v = t[i];
    if (!(Number.isInteger(v) && v >= 0 && v < classes)) throw badLabel(who, i, v, classes);
  }
}

/** The error for label t[i] = v that is not an integer in [0, classes). */
export function badLabel(who: string, i: number, v: unknown, classes: number | null): RangeError {
  const range = `[0, ${classes ?? 'classes'})`;
  return new RangeError(typeof v === 'number' && Number.isInteger(v)
    ? `${who}: label t[${i}] = ${v} is outside ${range}`
    : `${who}: label t[${i}] = ${String(v)} is not an integer class in ${range}`);
}
