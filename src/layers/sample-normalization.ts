// What Layer and Instance normalisation share: per-sample statistics (no
// running statistics, so training and inference behave the same), gamma/beta
// with their gradients, and a kernel pair that saves mean and 1/std.
import type { Layer } from './layer.js';
import { Buffers } from './buffers.js';
import { badNumber, checkFloatTensor, overlapOf, shown, type Tensor } from '../runtime/tensor.js';

/**
 * Options of LayerNormalization and InstanceNormalization; the constructor throws a TypeError on
 * an unknown key and a RangeError on a bad eps or a tensor not sized like gamma. Tensors given stay the giver's.
 */
export interface NormalizationOptions {
  /** Added to the variance inside the square root; default 1e-5. */
  eps?: number;
  /** Gradient tensors to fill (e.g. views on a net's gradient arena); default: the layer's own. */
  dgamma?: Tensor;
  /** Gradient tensor for beta, given with dgamma; default: the layer's own. */
  dbeta?: Tensor;
}

interface Saved { x: Tensor; mean: Tensor; invStd: Tensor }

/** What LayerNormalization and InstanceNormalization share: normalizing each sample over its own features, with gamma and beta. */
export abstract class SampleNormalization implements Layer {
  abstract readonly name: string;
  readonly params: Readonly<Record<string, Tensor>>;
  readonly grads: Readonly<Record<string, Tensor>>;
  readonly dgamma: Tensor;
  readonly dbeta: Tensor;
  readonly eps: number;
  /** Outputs and saved statistics, and the gradient tensors not given (made zeroed, freed with the layer). */
  private readonly buffers: Buffers;
  private saved: Saved | null = null;
  private disposed = false;
  /** Where the gradients given overlap gamma, beta or each other ('dgamma overlaps gamma'), or null: backward refuses then. */
  private readonly gradsOverlap: string | null;

  constructor(who: string, readonly gamma: Tensor, readonly beta: Tensor, options: NormalizationOptions) {
    checkFloatTensor(gamma?.rt, gamma, `${who}: gamma`);
    checkFloatTensor(gamma.rt, beta, `${who}: beta`);
    if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options must be an object`);
    for (const key of Object.keys(options)) {
      if (key !== 'eps' && key !== 'dgamma' && key !== 'dbeta') throw new TypeError(`${who}: unknown option '${key}' (expected one of eps, dgamma, dbeta)`);
    }
    const { eps = 1e-5, dgamma, dbeta } = options;
    // the kernels take eps as a float32: below ~7e-46 it is 0, and a constant sample's 1/√0 NaN
    if (!(Number.isFinite(eps) && Math.fround(eps) > 0)) throw badNumber(eps, `${who}: eps must be a positive number a float32 holds, got ${shown(eps)}`);
    for (const [what, t] of Object.entries({ beta, dgamma, dbeta })) {
      if (t !== undefined) checkFloatTensor(gamma.rt, t, `${who}: ${what}`);
      if (t && t.size !== gamma.size) throw new RangeError(`${who}: ${what} must have ${gamma.size} elements like gamma, got [${t.shape.join(', ')}]`);
    }
    // backward zeroes the gradients, then reads gamma (a frozen net's forward-only twin gives gamma and beta as its gradients)
    this.gradsOverlap = overlapOf({ gamma, beta }, { dgamma, dbeta });
    this.eps = eps;
    this.buffers = new Buffers(gamma.rt);
    try {
      this.dgamma = dgamma ?? this.buffers.get('dgamma', gamma.shape);
      this.dbeta = dbeta ?? this.buffers.get('dbeta', gamma.shape);
    } catch (e) {
      this.buffers.dispose(); // out of memory part way: the layer is not made, so nothing else would free what was
      throw e;
    }
    this.params = { gamma, beta };
    this.grads = { gamma: this.dgamma, beta: this.dbeta };
  }

  // the subclasses' kernels (LayerNormalization, InstanceNormalization: the only ones; the class is exported as a type only)
  /** @internal Checks x's shape and returns the shape of its statistics (one per normalised group). */
  protected abstract statsShape(x: Tensor): number[];
  /** @internal Writes y = gamma · (x − mean) · invStd + beta, and each group's mean and 1/std into `mean` and `invStd`. */
  protected abstract runForward(y: Tensor, mean: Tensor, invStd: Tensor, x: Tensor): void;
  /** @internal Accumulates into dgamma/dbeta (zeroed before the call), so sample ranges can be split. */
  protected abstract runBackward(dx: Tensor, dout: Tensor, s: Saved): void;

  /**
   * x normalised per sample (training and inference alike), scaled by gamma and shifted by beta; the
   * output is owned by the layer (valid until its next forward), and x is kept for backward.
   * @throws Error after dispose(); TypeError if x is not a live float tensor on gamma's runtime; RangeError if its shape does not fit gamma.
   */
  forward(x: Tensor, _train = false): Tensor {
    this.checkAlive('forward');
    checkFloatTensor(this.gamma.rt, x, `${this.name}.forward: x`);
    const stats = this.statsShape(x);
    const y = this.buffers.get('out', x.shape, x);
    const mean = this.buffers.get('mean', stats);
    const invStd = this.buffers.get('invStd', stats);
    this.runForward(y, mean, invStd, x);
    this.saved = { x, mean, invStd };
    return y;
  }

  /**
   * Fills dgamma and dbeta and returns dx, shaped like the last forward's x (owned by the layer).
   * @throws Error after dispose() or before any forward; TypeError/RangeError if dout is not a live float tensor of x's size, or x was disposed;
   * RangeError if the dgamma or dbeta given overlap gamma, beta or each other.
   */
  backward(dout: Tensor): Tensor {
    const s = this.saved;
    this.checkAlive('backward');
    if (!s) throw new Error(`${this.name}.backward: call forward first`);
    checkFloatTensor(s.x.rt, dout, `${this.name}.backward: dout`);
    checkFloatTensor(s.x.rt, s.x, `${this.name}.backward: the forward input x`);
    if (dout.size !== s.x.size) throw new RangeError(`${this.name}.backward: dout must be [${s.x.shape.join(', ')}], got [${dout.shape.join(', ')}]`);
    if (this.gradsOverlap) throw new RangeError(`${this.name}.backward: the tensors given overlap (${this.gradsOverlap}); it would write the gradients while it reads gamma`);
    const k = s.x.rt.unsafeKernels;
    const dx = this.buffers.get('dx', s.x.shape);
    k.fill(this.dgamma.ptr, 0, this.gamma.size);
    k.fill(this.dbeta.ptr, 0, this.gamma.size);
    this.runBackward(dx, dout, s);
    return dx;
  }

  dispose(): void {
    this.buffers.dispose();
    this.saved = null;
    this.disposed = true;
  }

  /** The layer, and every tensor it was given (read, or written: the gradients), must still be alive. */
  private checkAlive(who: string): void {
    if (this.disposed) throw new Error(`${this.name}.${who}: used after dispose()`);
    const rt = this.gamma.rt;
    for (const [what, t] of Object.entries({ gamma: this.gamma, beta: this.beta, dgamma: this.dgamma, dbeta: this.dbeta })) {
      checkFloatTensor(rt, t, `${this.name}.${who}: ${what}`);
    }
  }
}
