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
  /**
   * One weight per class, each finite and ≥ 0, not all 0 (PyTorch's `CrossEntropyLoss(weight)`, Keras's
   * `class_weight`): a plain array, a Float32Array or a Float64Array, kept as float32. Default: none (every
   * class weighs 1, the book's loss, to the bit). Each target's terms are weighted by their class's weight;
   * labels give the mean Σ w[tᵢ]·lossᵢ / Σ w[tᵢ], and one-hot or soft rows −Σ w_c·t_c·log y_c / N (PyTorch's
   * two reductions: rows are not normalised by the weights), label smoothing applied to the targets first.
   * A batch of labels that all weigh 0 has nothing to learn from: its loss and gradient are 0 (Keras's
   * `class_weight` gives the same; PyTorch's mean is 0/0, NaN, which would end a run whose random batches
   * may all be of classes weighing 0). A whole set of them has no mean loss: a net's evaluate() refuses it.
   */
  classWeights?: readonly number[] | Float32Array | Float64Array;
}

const OPTION_KEYS = new Set(['labelSmoothing', 'classWeights']);

/** @internal Refuses (naming `who`) a label smoothing ε that is not a number in [0, 1]; returns it. */
export function checkLabelSmoothing(who: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`${who}: labelSmoothing must be a number in [0, 1], got ${describeValue(v)}`);
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${who}: labelSmoothing must be a number in [0, 1], got ${v}`);
  return v;
}

/** The largest float32: a weight above it would be Infinity in the kernels. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * @internal Refuses (naming `who`) classWeights that are not a plain array, a Float32Array or a Float64Array of
 * finite numbers ≥ 0 (as float32) with at least one above 0, or, when `classes` is given, not `classes` of them
 * (`classesName` says where that count comes from); returns a plain copy of the values (each element read once).
 */
export function checkClassWeights(who: string, v: unknown, classes?: number, classesName = 'the classes'): number[] {
  const expected = `${who}: classWeights must be an array of one weight per class (finite, ≥ 0, not all 0)`;
  if (!Array.isArray(v) && !(v instanceof Float32Array) && !(v instanceof Float64Array)) throw new TypeError(`${expected}, got ${describeValue(v)}`);
  const n = v.length;
  if (n === 0) throw new RangeError(`${expected}, got none`);
  if (classes !== undefined && n !== classes) throw new RangeError(`${who}: classWeights must hold ${classes} weights (one per class: ${classesName}), got ${n}`);
  const w: number[] = [];
  for (let i = 0; i < n; i++) {
    const e: unknown = v[i];
    if (typeof e !== 'number') throw new TypeError(`${who}: classWeights[${i}] must be a finite number ≥ 0, got ${describeValue(e)}`);
    if (!(e >= 0 && e <= FLOAT32_MAX)) throw new RangeError(`${who}: classWeights[${i}] must be a finite number ≥ 0 (at most ${FLOAT32_MAX}, float32's largest), got ${e}`);
    w.push(e === 0 ? 0 : e); // −0 as 0
  }
  if (w.every((e) => Math.fround(e) === 0)) throw new RangeError(`${who}: classWeights are all 0${w.some((e) => e > 0) ? ' in float32' : ''}; at least one class must weigh more`);
  return w;
}

/** classWeights in a message: up to 8 of them, else the first 6 and the count. */
export function shownClassWeights(w: readonly number[]): string {
  return w.length <= 8 ? `[${w.join(', ')}]` : `[${w.slice(0, 6).join(', ')}, … (${w.length} weights)]`;
}

/** The last layer of a classifier: not a Layer, since forward takes targets and returns the loss. */
export class SoftmaxWithLoss {
  readonly name = 'SoftmaxWithLoss';
  /** Label smoothing ε (options.labelSmoothing); 0: the book's loss. */
  readonly labelSmoothing: number;
  /** The weight of each class (options.classWeights, a frozen copy); null: unweighted, the book's loss. */
  readonly classWeights: readonly number[] | null;
  /** classWeights as the kernels take them. */
  private readonly weights32: Float32Array | null;
  /** What the last forward's loss was divided by: its rows, or with classWeights and labels Σ w[tᵢ] (for backward). */
  private divisor = NaN;
  /** Softmax output of the last forward. */
  y: Tensor | null = null;
  /** Loss of the last forward. */
  loss = NaN;
  private buffers: Buffers | null = null;
  private t: Tensor | IntTensor | null = null;
  private disposed = false;

  /**
   * The loss layer; `options.labelSmoothing` (default 0) smooths its targets, `options.classWeights` weights them.
   * @throws TypeError for options that are not an object, an unknown key, a labelSmoothing that is not a number or
   * classWeights that are not an array of numbers; RangeError for a labelSmoothing outside [0, 1], or a weight
   * negative, not finite (in float32), or all of them 0.
   */
  constructor(options: SoftmaxWithLossOptions = {}) {
    checkOptions('SoftmaxWithLoss', options, OPTION_KEYS);
    // each option read once; undefined is the default; null is refused as the nets refuse it
    const { labelSmoothing, classWeights } = options;
    this.labelSmoothing = checkLabelSmoothing('SoftmaxWithLoss', labelSmoothing === undefined ? 0 : labelSmoothing);
    const weights = classWeights === undefined ? null : checkClassWeights('SoftmaxWithLoss', classWeights);
    this.classWeights = weights && Object.freeze(weights);
    this.weights32 = weights && Float32Array.from(weights);
  }

  /** Returns the mean loss over the batch (0 for a batch of labels that all weigh 0 under classWeights). */
  forward(x: Tensor, t: Targets): number {
    const total = this.forwardTotal(x, t);
    if (this.divisor === 0) return (this.loss = 0); // labels that all weigh 0: nothing to learn from
    return this.setLoss(total, this.divisor);
  }

  /**
   * @internal for a net's evaluate(), which takes a set's loss in chunks: forward(x, t) times what its mean
   * was divided by (the rows, or with classWeights and labels Σ w[tᵢ]), and that weight; a chunk of labels
   * that all weigh 0 gives { sum: 0, weight: 0 }.
   */
  weightedLoss(x: Tensor, t: Targets): { sum: number; weight: number } {
    const total = this.forwardTotal(x, t), weight = this.divisor;
    if (weight === 0) {
      this.loss = 0;
      return { sum: 0, weight: 0 };
    }
    return { sum: this.setLoss(total, weight) * weight, weight };
  }

  /** forward()'s checks and kernels: writes y and returns the loss's sum, its divisor in this.divisor. */
  private forwardTotal(x: Tensor, t: Targets): number {
    const [N, C] = this.checkInput(x, t);
    const rt = x.rt;
    t = ownTargets(rt, t); // before the buffers below are made: growing the memory would empty a tensor's data
    this.buffers ??= new Buffers(rt);
    const given = this.targets(t, N, C);
    if (this.weights32 !== null) return this.weightedForward(x, given, N, C);
    this.divisor = N;
    const targets = this.smoothed(given, N, C);
    // soft targets may be this layer's last y (distillation): the kernel reads each row of t after writing y's
    const y = targets instanceof Tensor ? this.buffers.apart('y', x.shape, targets) : this.buffers.get('y', x.shape);
    const k = rt.unsafeKernels;
    const total = targets instanceof Tensor
      ? k.softmaxCrossEntropyForwardDense(y.ptr, x.ptr, targets.ptr, N, C)
      : k.softmaxCrossEntropyForward(y.ptr, x.ptr, targets.ptr, N, C);
    this.y = y;
    this.t = targets;
    return total;
  }

  /**
   * The weighted loss's sum (PyTorch's cross_entropy with `weight`), from the kernels of the unweighted
   * dense loss: u = w_c·t'_c, the (smoothed) targets with each class's column scaled by its weight
   * (batchNormForward with mean 0, invStd 1, beta 0), then −Σ u·log(y + 1e-7) on u. Its divisor: Σ w[tᵢ]
   * over the batch for labels, the rows for one-hot or soft rows. backward() reads u.
   */
  private weightedForward(x: Tensor, given: Tensor | IntTensor, N: number, C: number): number {
    const w = this.weights32!;
    let divisor = N;
    if (given instanceof IntTensor) {
      const labels = given.data;
      divisor = 0;
      for (let i = 0; i < N; i++) divisor += w[labels[i]];
    }
    const buffers = this.buffers!, k = x.rt.unsafeKernels;
    // labels as one-hot rows (smoothLabels: keep 1, off 0) where smoothing has not made them rows already
    const dense = given instanceof IntTensor && this.labelSmoothing === 0 ? buffers.get('one-hot', [N, C]) : null;
    if (dense !== null) k.smoothLabels(dense.ptr, given.ptr, N, C, 1, 0);
    const targets = dense ?? (this.smoothed(given, N, C) as Tensor);
    const u = buffers.get('weighted', [N, C]), weights = buffers.get('classWeights', [C]);
    const zeros = this.filled(0, C), ones = this.filled(1, C);
    weights.data.set(w);
    k.batchNormForward(u.ptr, targets.ptr, zeros.ptr, ones.ptr, weights.ptr, zeros.ptr, N, C, C);
    // u is the layer's own buffer: y may be the targets given (this layer's last y, distillation), read above
    const y = buffers.get('y', x.shape);
    const total = k.softmaxCrossEntropyForwardDense(y.ptr, x.ptr, u.ptr, N, C);
    this.y = y;
    this.t = u;
    this.divisor = divisor;
    return total;
  }

  /** A buffer of n zeros or ones: the means, inverse deviations and betas that make the norm kernels scale. */
  private filled(value: 0 | 1, n: number): Tensor {
    const t = this.buffers!.get(value === 0 ? 'zeros' : 'ones', [n]);
    t.rt.unsafeKernels.fill(t.ptr, value, n);
    return t;
  }

  /**
   * @internal for src/nets/row-chain.ts, which runs this layer's kernels itself: checks x and t as
   * forward(x, t) does and returns the buffers forward and backward write and the targets the kernels
   * read (labels in memory, or one-hot, soft or smoothed rows), keeping them as forward would.
   * Once the chain has written y, chainLoss() sums and records the loss.
   */
  chainBuffers(x: Tensor, t: Targets): { y: Tensor; dx: Tensor; targets: Tensor | IntTensor } {
    if (this.weights32 !== null) throw new Error('SoftmaxWithLoss.chainBuffers: a weighted loss takes the layer path (row-chain.ts)');
    const [N, C] = this.checkInput(x, t);
    this.buffers ??= new Buffers(x.rt);
    const targets = this.smoothed(this.targets(t, N, C), N, C);
    // as forward(): soft targets may be this layer's last y, which the chain reads after writing y's rows
    this.y = targets instanceof Tensor ? this.buffers.apart('y', x.shape, targets) : this.buffers.get('y', x.shape);
    this.t = targets;
    this.divisor = N;
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
    const w = this.classWeights;
    if (w !== null && w.length !== C) throw new RangeError(`SoftmaxWithLoss.forward: classWeights holds ${w.length} weights, one per class, but x has ${C} classes (columns)`);
    return [N, C];
  }

  private setLoss(total: number, divisor: number): number {
    this.loss = total / divisor;
    if (!Number.isFinite(this.loss)) {
      const weights = this.classWeights !== null ? ', or classWeights too large for float32 sums' : '';
      throw new NonFiniteError(`SoftmaxWithLoss: the loss is ${this.loss}; x holds NaN or Inf (training diverged? lower the learning rate)${weights}`);
    }
    return this.loss;
  }

  /**
   * The gradient of the loss with respect to the last forward's x, (y − t) · dout / N, in a
   * tensor the layer owns (valid until its next backward); with classWeights (aᵢ·y − u) · dout / divisor,
   * u the weighted targets and aᵢ their row's sum (see weightedBackward). `dout`: a number, or a tensor whose first value is used.
   * The gradient of a batch of labels that all weigh 0 is 0.
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
    if (this.divisor === 0) k.fill(dx.ptr, 0, dx.size); // labels that all weigh 0: a loss of 0 whatever x is
    else if (this.weights32 !== null) this.weightedBackward(dx, y, t as Tensor, scale / this.divisor);
    else if (t instanceof Tensor) k.softmaxCrossEntropyBackwardDense(dx.ptr, y.ptr, t.ptr, N, C, scale / N);
    else k.softmaxCrossEntropyBackward(dx.ptr, y.ptr, t.ptr, N, C, scale / N);
    return dx;
  }

  /**
   * The weighted loss's gradient, exactly the derivative of −Σ u·log y / divisor with y = softmax(x):
   * dx = (aᵢ·y − u) · scale, aᵢ = Σ_c u_ic the row's weighted target mass (w[tᵢ] for a one-hot row, so
   * w[tᵢ]·(y − t)). aᵢ is u times a column of ones (GEMM), y scaled by it row by row in dx (the spatial
   * batch norm with the rows as its channels), then softmaxCrossEntropyBackwardDense's (dx − u)·scale in place.
   */
  private weightedBackward(dx: Tensor, y: Tensor, u: Tensor, scale: number): void {
    const [N, C] = y.shape;
    const rt = y.rt, k = rt.unsafeKernels;
    const mass = this.buffers!.get('row weights', [N]);
    const zeros = this.filled(0, N), ones = this.filled(1, Math.max(N, C)); // ones: GEMM's column of C, the rows' N
    rt.unsafeGemm(0, 0, N, 1, C, u.ptr, C, ones.ptr, 1, mass.ptr, 1);
    k.batchNormSpatialForward(dx.ptr, y.ptr, zeros.ptr, ones.ptr, mass.ptr, zeros.ptr, 1, N, C, N * C);
    k.softmaxCrossEntropyBackwardDense(dx.ptr, dx.ptr, u.ptr, N, C, scale);
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
