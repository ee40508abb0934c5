// The Trainer's promise for a failed step: the parameters, the layers' state
// (batch-norm running statistics) and the optimizer's state are those of the
// last good step. A step mutates the layer state in its forward pass (before
// the loss can be checked) and the parameters and optimizer state in its
// update (which can overflow to ±Inf from finite gradients), so the guard
// copies all three into one preallocated block first (bulk memory copies) and
// copies them back when the step fails. For our optimizers the parameters' and
// the state's copy, and the NaN/Inf checks, run in the update's own split call
// (guardedUpdate), each range on the thread that updates it.
import type { Sequential } from '../nets/sequential.js';
import { ElementwiseOptimizer, GUARD_TABLE_FLOATS, type GuardedUpdate, type Optimizer, type OptimizerState } from '../optim/optimizer.js';
import { describeValue, type Tensor } from '../runtime/tensor.js';

interface Span { ptr: number; size: number }

export class StepGuard {
  private readonly stateSpans: Span[];
  private readonly paramSpans: Span[];
  private readonly stateFloats: number;
  private readonly paramFloats: number;
  private block: Tensor | null = null;
  /** The optimizer arena copied before the last update (null: none existed). */
  private savedArena: Tensor | null = null;
  /** The optimizer's state as plain data, before its first update (its arena is made by that update). */
  private initialState: OptimizerState | null = null;
  private savedSteps = 0;
  /** The parts' descriptors of a guarded update (guardedUpdate). */
  private table: Tensor | null = null;

  constructor(private readonly net: Sequential, private readonly optimizer: Optimizer) {
    this.stateSpans = Object.values(net.state).map((t) => ({ ptr: t.ptr, size: t.size }));
    const set = net.parameterSet;
    this.paramSpans = set ? [{ ptr: set.paramPtr, size: set.size }] : Object.values(net.params).map((t) => ({ ptr: t.ptr, size: t.size }));
    this.stateFloats = this.stateSpans.reduce((n, s) => n + s.size, 0);
    this.paramFloats = this.paramSpans.reduce((n, s) => n + s.size, 0);
  }

  /** Before the forward pass: copies the layers' state. */
  saveLayerState(): void {
    this.copy(this.stateSpans, 0, true);
  }

  /** Before the update: copies the parameters and the optimizer's state. */
  saveParams(): void {
    this.copy(this.paramSpans, this.stateFloats, true);
    const opt = this.optimizer;
    if (!(opt instanceof ElementwiseOptimizer)) return;
    const arena = opt.unsafeStateTensor;
    this.savedSteps = opt.t;
    this.savedArena = arena;
    if (arena === null) {
      this.initialState = opt.state();
    } else {
      this.ensure(arena.size);
      this.net.rt.unsafeKernels.copy(this.block!.ptr + (this.stateFloats + this.paramFloats) * 4, arena.ptr, arena.size);
    }
  }

  /**
   * The update with the backup and checks in its own split call (ElementwiseOptimizer.guardedUpdate),
   * for an optimizer of ours stepping the net's one parameter block; null, with nothing done, otherwise
   * (the caller then checks the gradients, calls saveParams(), updates and checks the parameters).
   * 'gradients' and 'parameters' leave the backup for restoreAll().
   */
  guardedUpdate(grads: Readonly<Record<string, Tensor>>): GuardedUpdate | null {
    const opt = this.optimizer;
    // the first update makes the optimizer's state, which a failed one must leave unmade (saveParams)
    if (!(opt instanceof ElementwiseOptimizer) || opt.t === 0 || this.paramSpans.length !== 1) return null;
    const span = this.paramSpans[0];
    return opt.guardedUpdate(this.net.params, grads, (param, size, arena) => {
      if (param !== span.ptr || size !== span.size) return null;
      // allocations first: one that fails (memory full) leaves what a restore reads as it was
      const block = this.ensure(arena?.size ?? 0);
      this.table ??= this.net.rt.tensor([GUARD_TABLE_FLOATS]);
      this.savedSteps = opt.t;
      this.savedArena = arena;
      this.initialState = null;
      return { params: block.ptr + this.stateFloats * 4, arena: block.ptr + (this.stateFloats + this.paramFloats) * 4, table: this.table };
    });
  }

  /**
   * After an update that succeeded: makes the block and the descriptor table the next step's guarded
   * update needs, now that the optimizer's state exists (its first update makes it), so that no later
   * step allocates.
   */
  prepareNext(): void {
    const opt = this.optimizer;
    if (!(opt instanceof ElementwiseOptimizer)) return;
    this.ensure(opt.unsafeStateTensor?.size ?? 0);
    if (this.paramSpans.length === 1) this.table ??= this.net.rt.tensor([GUARD_TABLE_FLOATS]);
  }

  /**
   * Whether every parameter, and the state of one of our optimizers, is finite (after an update the
   * guarded one did not check: the first, which makes the state, or a foreign optimizer's).
   */
  paramsFinite(): boolean {
    const k = this.net.rt.unsafeKernels;
    for (const s of this.paramSpans) if (k.hasNonFinite(s.ptr, s.size) !== 0) return false;
    const arena = this.optimizer instanceof ElementwiseOptimizer ? this.optimizer.unsafeStateTensor : null;
    return arena === null || k.hasNonFinite(arena.ptr, arena.size) === 0;
  }

  /** After a failed forward/backward: puts the layers' state back. */
  restoreLayerState(): void {
    this.copy(this.stateSpans, 0, false);
  }

  /** After a failed update: puts the layers' state, the parameters and the optimizer's state back. */
  restoreAll(): void {
    this.restoreLayerState();
    this.copy(this.paramSpans, this.stateFloats, false);
    const opt = this.optimizer;
    if (!(opt instanceof ElementwiseOptimizer)) return;
    const arena = opt.unsafeStateTensor;
    if (this.savedArena === null && this.initialState !== null) {
      opt.loadState(this.initialState);
      return;
    }
    if (this.savedArena !== null) {
      if (arena !== this.savedArena) return;
      this.net.rt.unsafeKernels.copy(arena.ptr, this.block!.ptr + (this.stateFloats + this.paramFloats) * 4, arena.size);
    }
    // the step count goes back too (Adam's bias correction depends on it); not through loadState, which
    // copies the whole state out and back and refuses what a failed update left in it (NaN, Inf)
    opt.rewindSteps(this.savedSteps);
  }

  dispose(): void {
    this.block?.dispose();
    this.block = null;
    this.table?.dispose();
    this.table = null;
  }

  /** Grows the block to hold the layer state, the parameters and `optFloats` of optimizer state (only when the layout changes). */
  private ensure(optFloats: number): Tensor {
    const need = Math.max(1, this.stateFloats + this.paramFloats + optFloats);
    if (this.block === null || this.block.size < need) {
      const old = this.block;
      const block = this.net.rt.tensor([need]);
      if (old) { this.net.rt.unsafeKernels.copy(block.ptr, old.ptr, old.size); old.dispose(); }
      this.block = block;
    }
    return this.block;
  }

  private copy(spans: Span[], offset: number, save: boolean): void {
    if (spans.length === 0) return;
    const block = this.ensure(this.savedArena?.size ?? 0);
    const k = this.net.rt.unsafeKernels;
    let at = block.ptr + offset * 4;
    for (const s of spans) {
      if (save) k.copy(at, s.ptr, s.size);
      else k.copy(s.ptr, at, s.size);
      at += s.size * 4;
    }
  }
}

/**
 * A copy of a net's parameters and layer state in one block (made at the first
 * save): early stopping keeps the best epoch's here and puts it back. `what`
 * names the copy in resume()'s errors; `tensors` (default: the parameters and
 * the layer state) are the net's tensors it copies.
 */
export class NetCopy {
  protected readonly tensors: Array<[string, Tensor]>;
  private readonly floats: number;
  protected block: Tensor | null = null;
  saved = false;

  constructor(protected readonly net: Sequential, tensors: Readonly<Record<string, Tensor>> = { ...net.params, ...net.state }, private readonly what = 'best') {
    this.tensors = Object.entries(tensors);
    this.floats = this.tensors.reduce((n, [, t]) => n + t.size, 0);
  }

  save(): void {
    this.allocate();
    this.each((t, at) => this.net.rt.unsafeKernels.copy(at, t.ptr, t.size));
    this.saved = true;
  }

  restore(): void {
    if (!this.saved) return;
    // the tensors' memory is another's once the net is disposed: never write it
    if (this.net.disposed) throw new Error('NetCopy.restore: the network was disposed');
    this.each((t, at) => this.net.rt.unsafeKernels.copy(t.ptr, at, t.size));
  }

  clear(): void {
    this.saved = false;
  }

  /** The saved values as new arrays keyed like the tensors copied, the caller's (null before a save). */
  copies(): Record<string, Float32Array> | null {
    if (!this.saved) return null;
    return Object.fromEntries(Object.entries(this.export()).map(([k, v]) => [k, v.data]));
  }

  /** The saved values keyed like exportParams. */
  export(): Record<string, { shape: number[]; data: Float32Array }> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    const data = this.block!.data;
    let at = 0;
    for (const [k, t] of this.tensors) { out[k] = { shape: [...t.shape], data: data.slice(at, at + t.size) }; at += t.size; }
    return out;
  }

  /** Throws a RangeError naming the first key of `saved` that import() would refuse (missing, unknown, or the wrong shape). */
  check(saved: Record<string, { shape: readonly number[]; data: ArrayLike<number> }>): void {
    if (saved === null || typeof saved !== 'object') throw new TypeError(`Trainer.resume: ${this.what} must be an object of { shape, data } keyed like the net's tensors`);
    for (const [k, t] of this.tensors) {
      const s = Object.hasOwn(saved, k) ? saved[k] : undefined;
      if (s?.data?.length !== t.size) throw new RangeError(`Trainer.resume: ${this.what}['${k}'] must hold ${t.size} values`);
      const shape: unknown = s.shape;
      if (!Array.isArray(shape) || shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i])) {
        throw new RangeError(`Trainer.resume: ${this.what}['${k}'] must have the shape [${t.shape.join(', ')}], got ${Array.isArray(shape) ? `[${shape.map(String).join(', ')}]` : describeValue(shape)}`);
      }
    }
    const known = new Set(this.tensors.map(([k]) => k));
    for (const k of Object.keys(saved)) if (!known.has(k)) throw new RangeError(`Trainer.resume: ${this.what}['${k}'] is no tensor this Trainer keeps there (${[...known].join(', ')})`);
  }

  /** Loads values keyed like exportParams (every key, right shapes: see check()) as the saved copy. */
  import(saved: Record<string, { shape: readonly number[]; data: ArrayLike<number> }>): void {
    this.check(saved);
    const data = this.allocate().data;
    let at = 0;
    for (const [k, t] of this.tensors) { data.set(saved[k].data, at); at += t.size; }
    this.saved = true;
  }

  dispose(): void {
    this.block?.dispose();
    this.block = null;
  }

  /** The block, made at the first call. */
  protected allocate(): Tensor {
    this.block ??= this.net.rt.tensor([Math.max(1, this.floats)]);
    return this.block;
  }

  protected each(f: (t: Tensor, at: number) => void): void {
    let at = this.block!.ptr;
    for (const [, t] of this.tensors) { f(t, at); at += t.size * 4; }
  }
}

/**
 * The exponential moving average of a net's parameters (TrainerOptions.ema), Keras 3's optimizer `use_ema=True`
 * (keras/src/optimizers/base_optimizer.py, `_update_model_variables_moving_average`, called after every
 * update_step while `iterations` still counts the updates before it):
 *   momentum = (iterations != 0) · ema_momentum;  average = momentum · average + (1 − momentum) · variable
 * in the variables' float32: the first update copies the parameters (as PyTorch's AveragedModel's first
 * update_parameters does), each later one is float32's `fround(d·avg) + fround((1 − d)·w)` with d and 1 − d the
 * float32 Keras computes (1 − d subtracted in float32 from d's float32). Only the learned parameters (Keras averages
 * trainable variables; batch-norm's running statistics are not). restore() is Keras's finalize_variable_values.
 * The block is made here, once, so that no step allocates; `saved` says whether averages exist (an update done).
 */
export class ParamAverage extends NetCopy {
  /** The kernels' factors, as Keras's float32 ops compute them. */
  private readonly keep: number;
  private readonly take: number;

  constructor(net: Sequential, decay: number) {
    super(net, net.params, 'ema');
    this.keep = Math.fround(decay);
    this.take = Math.fround(1 - this.keep);
    this.allocate();
  }

  /** After a step's update succeeded: the first of a run copies the parameters, the others average them in. */
  update(): void {
    if (!this.saved) {
      this.save();
      return;
    }
    const k = this.net.rt.unsafeKernels;
    // no kernel computes y = a·y + b·x in one pass: scale, then axpy, each one float32 rounding as Keras's ops
    // (the calling thread's raw kernels: elementwise, so the same bits whatever the thread count)
    this.each((t, at) => {
      k.scale(at, at, this.keep, t.size);
      k.axpy(at, t.ptr, this.take, t.size);
    });
  }
}

/**
 * Stochastic weight averaging's equal-weight average of the parameters (TrainerOptions.swa), PyTorch's AveragedModel
 * with its default average (torch/optim/swa_utils.py: AveragedModel.update_parameters, get_swa_avg_fn): the first
 * update copies the parameters, each later one, `models` the count averaged so far, computes
 *   average = average + (parameter − average) / (models + 1)
 * in float32, each operation rounded once as PyTorch's are, but for the quotient: no kernel divides, so it is the
 * product with float32's 1/(models + 1) (the form torch.lerp takes for a weight below 1/2, which PyTorch's CUDA path,
 * get_swa_multi_avg_fn, runs); the same bits where models + 1 is a power of two, else at most one rounding of the
 * quotient apart.
 * Three kernel passes per tensor (copy, two axpys) through a scratch the size of the largest parameter. Only the
 * learned parameters (AveragedModel's use_buffers=False); `models` is 0 until the first update.
 */
export class SwaAverage extends NetCopy {
  models = 0;
  /** The parameter minus the average, one tensor at a time (made with the block: no epoch allocates). */
  private scratch: Tensor | null;

  constructor(net: Sequential) {
    super(net, net.params, 'swa');
    this.allocate();
    try {
      this.scratch = net.rt.tensor([Math.max(1, ...Object.values(net.params).map((t) => t.size))]);
    } catch (e) {
      super.dispose(); // memory full: the Trainer never holds this object, so the block would be lost
      throw e;
    }
  }

  /** At an averaged epoch's end: the first copies the parameters, the others average them in. */
  update(): void {
    if (!this.saved) {
      this.save();
      this.models = 1;
      return;
    }
    const k = this.net.rt.unsafeKernels, d = this.scratch!.ptr;
    const weight = Math.fround(1 / (this.models + 1));
    this.each((t, at) => {
      k.copy(d, t.ptr, t.size);
      k.axpy(d, at, -1, t.size); // parameter − average, rounded once (−1·average is exact)
      k.axpy(at, d, weight, t.size);
    });
    this.models++;
  }

  /**
   * Exchanges the average and the parameters: the parameters become the average and the block holds the raw ones
   * (a second call puts both back), so that a pass over the averaged net stopped part way can be undone.
   */
  swap(): void {
    const k = this.net.rt.unsafeKernels, d = this.scratch!.ptr;
    this.each((t, at) => {
      k.copy(d, t.ptr, t.size);
      k.copy(t.ptr, at, t.size);
      k.copy(at, d, t.size);
    });
  }

  /** Loads a checkpoint's average of `models` epochs (checked: see NetCopy.check). */
  load(saved: Record<string, { shape: readonly number[]; data: ArrayLike<number> }>, models: number): void {
    this.import(saved);
    this.models = models;
  }

  override clear(): void {
    super.clear();
    this.models = 0;
  }

  override dispose(): void {
    this.scratch?.dispose();
    this.scratch = null;
    super.dispose();
  }
}
