// Dropout. The book's form (default): training keeps each input with
// probability 1 - ratio (y = x · mask, mask = U ≥ ratio, U on a 2^-24 grid) and inference scales
// by 1 - ratio. The inverted form scales the kept inputs by 1 / (1 - ratio)
// in training, and inference is the identity. Masks come from the runtime's
// seeded stream, so a seeded run is reproducible on every host.
import type { Layer } from './layer.js';
import { Buffers } from './buffers.js';
import { badNumber, checkFloatTensor, shown, type Tensor } from '../runtime/tensor.js';
import { checkFlag } from '../runtime/options.js';

/** Options of Dropout (an unknown key is a TypeError). */
export interface DropoutOptions {
  /** Scale kept inputs by 1 / (1 - ratio) in training instead of scaling by 1 - ratio in inference. */
  inverted?: boolean;
}

/**
 * Dropout with a drop probability `ratio` in [0, 1) (a RangeError otherwise), masks drawn from
 * the runtime's seeded stream; no parameters. The layer owns its outputs, gradients and masks (in the
 * inverted form's inference, forward returns x itself and backward dout).
 */
export class Dropout implements Layer {
  readonly name = 'Dropout';
  readonly params = {};
  readonly grads = {};
  readonly ratio: number;
  readonly inverted: boolean;
  /** The mask of the last training-mode forward: 0 for dropped inputs, the kept inputs' scale otherwise. */
  mask: Tensor | null = null;
  private fixed: Tensor | null = null;
  private buffers: Buffers | null = null;
  private lastTrain = true;
  /** Shape of the last forward's input: backward's dout must have it. */
  private lastShape: readonly number[] | null = null;
  private disposed = false;

  /**
   * Dropout dropping each input with probability `ratio` (default 0.5, in [0, 1)), in the book's form or, with
   * `options.inverted`, the inverted one. Holds no memory until its first forward; dispose() frees what it made.
   * @throws RangeError if ratio is not in [0, 1) (a TypeError if it is not a number); TypeError if options is
   * not an object, has an unknown key, or inverted is not a boolean.
   */
  constructor(ratio = 0.5, options: DropoutOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('Dropout: options must be an object');
    for (const key of Object.keys(options)) {
      if (key !== 'inverted') throw new TypeError(`Dropout: unknown option '${key}' (expected inverted)`);
    }
    if (!(Number.isFinite(ratio) && ratio >= 0 && ratio < 1)) throw badNumber(ratio, `Dropout: ratio must be in [0, 1), got ${shown(ratio)}`);
    const { inverted = false } = options;
    checkFlag('Dropout', 'options.inverted', inverted);
    this.ratio = ratio;
    this.inverted = inverted;
  }

  /** Scale of a kept input in training mode. */
  get keepScale(): number {
    return this.inverted ? 1 / (1 - this.ratio) : 1;
  }

  /**
   * Fixes the training-mode mask (1 = keep, 0 = drop, shaped like the input)
   * until setMask(null), e.g. for gradient checks; the layer applies its scale.
   */
  setMask(keep: Tensor | null): void {
    if (keep === null) {
      this.fixed?.dispose();
      this.fixed = null;
      return;
    }
    if (this.disposed) throw new Error('Dropout.setMask: used after dispose()');
    checkFloatTensor(this.buffers?.rt ?? keep?.rt, keep, 'Dropout.setMask: keep');
    const v = keep.data;
    for (let i = 0; i < v.length; i++) {
      if (v[i] !== 0 && v[i] !== 1) throw new RangeError(`Dropout.setMask: keep[${i}] = ${v[i]}; expected 0 (drop) or 1 (keep)`);
    }
    const fixed = keep.rt.tensor(keep.shape);
    keep.rt.unsafeKernels.scale(fixed.ptr, keep.ptr, this.keepScale, keep.size);
    this.fixed?.dispose();
    this.fixed = fixed;
  }

  /** `train` defaults to true, as the book's forward(x, train_flg=True). */
  forward(x: Tensor, train = true): Tensor {
    if (this.disposed) throw new Error('Dropout.forward: used after dispose()');
    checkFlag('Dropout.forward', 'train', train);
    checkFloatTensor(this.buffers?.rt ?? this.fixed?.rt ?? x?.rt, x, 'Dropout.forward: x');
    const rt = x.rt;
    const k = rt.unsafeKernels;
    this.buffers ??= new Buffers(rt);
    this.lastTrain = train;
    this.lastShape = x.shape;
    if (!train) {
      if (this.inverted) return x;
      const y = this.buffers.get('out', x.shape, x);
      k.scale(y.ptr, x.ptr, 1 - this.ratio, x.size);
      return y;
    }
    const y = this.buffers.get('out', x.shape, x);
    if (this.fixed) {
      if (this.fixed.size !== x.size) {
        throw new RangeError(`Dropout.forward: the mask fixed by setMask has shape [${this.fixed.shape.join(', ')}], x is [${x.shape.join(', ')}]`);
      }
      k.dropoutBackward(y.ptr, x.ptr, this.fixed.ptr, x.size); // y = x · mask
      this.mask = this.fixed;
    } else {
      const mask = this.buffers.get('mask', x.shape);
      k.dropoutForward(y.ptr, mask.ptr, x.ptr, x.size, this.ratio, this.keepScale, rt.seed >>> 0, rt.take(x.size));
      this.mask = mask;
    }
    return y;
  }

  /**
   * dx = dout · mask after a training forward, dout scaled like the forward after an inference
   * one; owned by the layer (in the inverted form's inference, `dout` itself is returned).
   * @throws Error after dispose() or before any forward; TypeError/RangeError if dout is not a live float tensor shaped like the last forward's x.
   */
  backward(dout: Tensor): Tensor {
    if (this.disposed) throw new Error('Dropout.backward: used after dispose()');
    if (!this.buffers) throw new Error('Dropout.backward: call forward first');
    checkFloatTensor(this.buffers.rt, dout, 'Dropout.backward: dout');
    const shape = this.lastShape!;
    if (dout.shape.length !== shape.length || dout.shape.some((d, i) => d !== shape[i])) {
      throw new RangeError(`Dropout.backward: dout must be [${shape.join(', ')}] like the last forward's x, got [${dout.shape.join(', ')}]`);
    }
    const k = dout.rt.unsafeKernels;
    if (!this.lastTrain) {
      if (this.inverted) return dout;
      const dx = this.buffers.get('dx', dout.shape);
      k.scale(dx.ptr, dout.ptr, 1 - this.ratio, dout.size);
      return dx;
    }
    const mask = this.mask;
    if (!mask) throw new Error('Dropout.backward: call forward first');
    checkFloatTensor(this.buffers.rt, mask, 'Dropout.backward: the mask of the last forward');
    if (dout.size !== mask.size) throw new RangeError(`Dropout.backward: dout must be [${mask.shape.join(', ')}], got [${dout.shape.join(', ')}]`);
    const dx = this.buffers.get('dx', dout.shape);
    k.dropoutBackward(dx.ptr, dout.ptr, mask.ptr, dout.size);
    return dx;
  }

  dispose(): void {
    this.buffers?.dispose();
    this.buffers = null;
    this.fixed?.dispose();
    this.fixed = null;
    this.mask = null;
    this.lastShape = null;
    this.disposed = true;
  }
}
