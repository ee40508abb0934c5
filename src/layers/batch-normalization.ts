// The book's BatchNormalization. Training mode normalises with the batch's
// statistics and updates the running ones; inference mode uses the running
// statistics. 4-D input is flattened to [N, C·H·W] as in the book, unless
// `spatial` asks for the per-channel form CNNs use (statistics over N, H, W).
import type { Layer } from './layer.js';
import { Buffers } from './buffers.js';
import { badNumber, checkFloatTensor, overlapOf, shown, type Tensor } from '../runtime/tensor.js';
import { checkFlag } from '../runtime/options.js';

/**
 * Options of BatchNormalization; the constructor throws a TypeError on an unknown key and a
 * RangeError on a bad eps or a tensor not sized like gamma. Tensors given stay the giver's.
 */
export interface BatchNormalizationOptions {
  /** Running statistics to start from (shape of gamma); default zeros, as in the book. */
  runningMean?: Tensor;
  /** Running variance to start from (shape of gamma); default zeros. */
  runningVar?: Tensor;
  /** Per-channel statistics over N, H, W for [N, C, H, W] input; gamma then has C elements. */
  spatial?: boolean;
  /** Added to the variance inside the square root; default 1e-6 (the book's 10e-7). */
  eps?: number;
  /** Gradient tensors to fill (e.g. views on a net's gradient arena); default: the layer's own. */
  dgamma?: Tensor;
  /** Gradient tensor for beta, given with dgamma; default: the layer's own. */
  dbeta?: Tensor;
}

const OPTION_KEYS = new Set(['runningMean', 'runningVar', 'spatial', 'eps', 'dgamma', 'dbeta']);

/** What backward needs from the last forward. */
interface Saved { x: Tensor; mean: Tensor; invStd: Tensor; train: boolean; batch: number; spatialSize: number }

/**
 * The book's batch normalization: y = gamma · (x − mean) / √(var + eps) + beta, with the batch's
 * statistics in training (updating the running ones by `momentum`) and the running ones in
 * inference. gamma and beta (and any tensor given in options) stay the caller's; the layer owns
 * its outputs, and the running statistics and gradients it made (freed by dispose()).
 */
export class BatchNormalization implements Layer {
  readonly name = 'BatchNormalization';
  readonly params: Readonly<Record<string, Tensor>>;
  readonly grads: Readonly<Record<string, Tensor>>;
  /** Running statistics: saved with a model, never touched by optimizers. */
  readonly state: Readonly<Record<string, Tensor>>;
  readonly dgamma: Tensor;
  readonly dbeta: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  /**
   * The weight of the running statistics' old values in a training-mode forward, in [0, 1]; settable (as Keras's
   * layer attribute): the Trainer's swa sets a cumulative average's per batch, as PyTorch's update_bn does.
   */
  get momentum(): number {
    return this.runningWeight;
  }
  set momentum(v: number) {
    if (!(Number.isFinite(v) && v >= 0 && v <= 1)) throw badNumber(v, `BatchNormalization: momentum must be in [0, 1], got ${shown(v)}`);
    this.runningWeight = v;
  }
  private runningWeight: number;
  readonly eps: number;
  readonly spatial: boolean;
  /** Outputs and saved statistics, and the state and gradient tensors not given (made zeroed, freed with the layer). */
  private readonly buffers: Buffers;
  private saved: Saved | null = null;
  private disposed = false;
  /** Where the running statistics given overlap another tensor given ('runningMean overlaps gamma'), or null. */
  private readonly statsOverlap: string | null;
  /** Where the gradients given overlap another tensor given, or null. */
  private readonly gradsOverlap: string | null;

  /**
   * Batch normalization with scale `gamma` and shift `beta` (live float tensors of one runtime, one value a
   * feature, or a channel with `options.spatial`), kept by reference: they stay the caller's, as do the tensors
   * given in options. `momentum` (default 0.9, in [0, 1]) weighs the running statistics' old values. The
   * running statistics and gradients not given are made zero-filled, owned by the layer: dispose() frees them.
   * @throws TypeError if gamma, beta or a tensor in options is not a live float tensor of gamma's runtime, options
   * is not an object or has an unknown key, spatial is not a boolean, or momentum or eps is not a number; RangeError
   * for a momentum or eps out of range, or beta or a tensor in options not sized like gamma. Running statistics
   * or gradients given that overlap another tensor given are refused by a training-mode forward or by backward.
   */
  constructor(readonly gamma: Tensor, readonly beta: Tensor, momentum = 0.9, options: BatchNormalizationOptions = {}) {
    checkFloatTensor(gamma?.rt, gamma, 'BatchNormalization: gamma');
    checkFloatTensor(gamma.rt, beta, 'BatchNormalization: beta');
    if (options === null || typeof options !== 'object') throw new TypeError('BatchNormalization: options must be an object');
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.has(key)) throw new TypeError(`BatchNormalization: unknown option '${key}' (expected one of ${[...OPTION_KEYS].join(', ')})`);
    }
    if (!(Number.isFinite(momentum) && momentum >= 0 && momentum <= 1)) throw badNumber(momentum, `BatchNormalization: momentum must be in [0, 1], got ${shown(momentum)}`);
    const eps = options.eps ?? 1e-6;
    // the kernels take eps as a float32: below ~7e-46 it is 0, and a constant feature's 1/√0 NaN
    if (!(Number.isFinite(eps) && Math.fround(eps) > 0)) throw badNumber(eps, `BatchNormalization: eps must be a positive number a float32 holds, got ${shown(eps)}`);
    const { runningMean, runningVar, dgamma, dbeta, spatial = false } = options;
    checkFlag('BatchNormalization', 'options.spatial', spatial);
    const given = { beta, runningMean, runningVar, dgamma, dbeta };
    for (const [what, t] of Object.entries(given)) {
      if (t !== undefined) checkFloatTensor(gamma.rt, t, `BatchNormalization: ${what}`);
      if (t && t.size !== gamma.size) throw new RangeError(`BatchNormalization: ${what} must have ${gamma.size} elements like gamma, got [${t.shape.join(', ')}]`);
    }
    // a training forward writes the running statistics and backward the gradients while they read gamma (a frozen
    // net's forward-only twin gives gamma and beta as its gradients: frozen.ts), so each refuses tensors that overlap
    this.statsOverlap = overlapOf({ gamma, beta, dgamma, dbeta }, { runningMean, runningVar });
    this.gradsOverlap = overlapOf({ gamma, beta, runningMean, runningVar }, { dgamma, dbeta });
    this.buffers = new Buffers(gamma.rt);
    this.runningWeight = momentum;
    this.eps = eps;
    this.spatial = spatial;
    try {
      this.runningMean = runningMean ?? this.buffers.get('runningMean', gamma.shape);
      this.runningVar = runningVar ?? this.buffers.get('runningVar', gamma.shape);
      this.dgamma = dgamma ?? this.buffers.get('dgamma', gamma.shape);
      this.dbeta = dbeta ?? this.buffers.get('dbeta', gamma.shape);
    } catch (e) {
      this.buffers.dispose(); // out of memory part way: the layer is not made, so nothing else would free what was
      throw e;
    }
    this.params = { gamma, beta };
    this.grads = { gamma: this.dgamma, beta: this.dbeta };
    this.state = { runningMean: this.runningMean, runningVar: this.runningVar };
  }

  /** `train` defaults to true, as the book's forward(x, train_flg=True). */
  forward(x: Tensor, train = true): Tensor {
    this.checkAlive('forward');
    checkFlag('BatchNormalization.forward', 'train', train);
    checkFloatTensor(this.gamma.rt, x, 'BatchNormalization.forward: x');
    const { batch, features, spatialSize } = this.layout(x);
    // (spatial: N·H·W values a channel; [N, C, 0, W] would make the running statistics 0/0)
    if (train && batch * spatialSize === 0) throw new RangeError(`BatchNormalization.forward: training mode needs at least one value a feature, got x [${x.shape.join(', ')}]`);
    if (train && this.statsOverlap) throw new RangeError(`BatchNormalization.forward: the tensors given overlap (${this.statsOverlap}); training mode would write the running statistics while it reads them`);
    const rt = x.rt;
    const k = rt.unsafeKernels;
    const y = this.buffers.get('out', x.shape, x);
    const invStd = this.buffers.get('invStd', [features]);
    let mean = this.runningMean;
    if (train) {
      mean = this.buffers.get('mean', [features]);
      if (this.spatial) {
        k.batchNormSpatialStats(mean.ptr, invStd.ptr, this.runningMean.ptr, this.runningVar.ptr, x.ptr,
          batch, features, spatialSize, features * spatialSize, this.momentum, this.eps);
      } else {
        k.batchNormStats(mean.ptr, invStd.ptr, this.runningMean.ptr, this.runningVar.ptr, x.ptr,
          batch, features, features, this.momentum, this.eps);
      }
    } else {
      k.batchNormInvStd(invStd.ptr, this.runningVar.ptr, features, this.eps);
    }
    if (this.spatial) {
      k.batchNormSpatialForward(y.ptr, x.ptr, mean.ptr, invStd.ptr, this.gamma.ptr, this.beta.ptr,
        batch, features, spatialSize, features * spatialSize);
    } else {
      k.batchNormForward(y.ptr, x.ptr, mean.ptr, invStd.ptr, this.gamma.ptr, this.beta.ptr, batch, features, features);
    }
    this.saved = { x, mean, invStd, train, batch, spatialSize };
    return y;
  }

  /** Gradients of the last forward; after an inference-mode forward the statistics count as constants. */
  backward(dout: Tensor): Tensor {
    const s = this.saved;
    this.checkAlive('backward');
    if (!s) throw new Error('BatchNormalization.backward: call forward first');
    const { x, mean, invStd, batch, spatialSize } = s;
    checkFloatTensor(x.rt, dout, 'BatchNormalization.backward: dout');
    checkFloatTensor(x.rt, x, 'BatchNormalization.backward: the forward input x');
    if (dout.size !== x.size) throw new RangeError(`BatchNormalization.backward: dout must be [${x.shape.join(', ')}], got [${dout.shape.join(', ')}]`);
    if (this.gradsOverlap) throw new RangeError(`BatchNormalization.backward: the tensors given overlap (${this.gradsOverlap}); it would write the gradients while it reads gamma`);
    const k = x.rt.unsafeKernels;
    const dx = this.buffers.get('dx', x.shape);
    const C = this.gamma.size;
    const frozen = s.train ? 0 : 1;
    if (this.spatial) {
      k.batchNormSpatialBackward(dx.ptr, this.dgamma.ptr, this.dbeta.ptr, dout.ptr, x.ptr, mean.ptr, invStd.ptr, this.gamma.ptr,
        batch, C, spatialSize, C * spatialSize, frozen);
    } else {
      k.batchNormBackward(dx.ptr, this.dgamma.ptr, this.dbeta.ptr, dout.ptr, x.ptr, mean.ptr, invStd.ptr, this.gamma.ptr,
        batch, C, C, frozen);
    }
    return dx;
  }

  dispose(): void {
    this.buffers.dispose();
    this.saved = null;
    this.disposed = true;
  }

  /** The layer, and every tensor it was given (read, or written: running statistics, gradients), must still be alive. */
  private checkAlive(who: string): void {
    if (this.disposed) throw new Error(`BatchNormalization.${who}: used after dispose()`);
    const rt = this.gamma.rt;
    for (const [what, t] of Object.entries({ gamma: this.gamma, beta: this.beta, runningMean: this.runningMean, runningVar: this.runningVar, dgamma: this.dgamma, dbeta: this.dbeta })) {
      checkFloatTensor(rt, t, `BatchNormalization.${who}: ${what}`);
    }
  }

  private layout(x: Tensor): { batch: number; features: number; spatialSize: number } {
    const C = this.gamma.size;
    const batch = x.shape[0];
    if (this.spatial) {
      if (x.shape.length !== 4 || x.shape[1] !== C) {
        throw new RangeError(`BatchNormalization.forward: spatial form needs x of shape [N, ${C}, H, W] (gamma has ${C} channels), got [${x.shape.join(', ')}]`);
      }
      return { batch, features: C, spatialSize: x.shape[2] * x.shape[3] };
    }
    if (x.shape.length < 2 || x.size !== batch * C) {
      throw new RangeError(`BatchNormalization.forward: x must be [N, ${C}] or flatten to ${C} features per sample (gamma's size), got [${x.shape.join(', ')}]`);
    }
    return { batch, features: C, spatialSize: 1 };
  }
}
