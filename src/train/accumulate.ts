// Gradient accumulation (TrainerOptions.accumulateSteps): the optimizer updates once every k batches, with the
// mean of their gradients, as Keras 3's optimizer `gradient_accumulation_steps` does
// (keras/src/optimizers/base_optimizer.py, BaseOptimizer._backend_apply_gradients, `iterations` counting every batch):
//   is_update_step = (iterations + 1) % steps == 0
//   update step: grads = (g + acc) / steps; clip; update; acc = 0      otherwise: acc = g + acc
// and PyTorch's idiom, `(loss / k).backward()` over k batches, then clip_grad_norm_, optimizer.step(), zero_grad().
// The sums are float32, each addition rounded once as Keras's `g + acc_g`. No kernel divides by a scalar, so the
// quotient is the product with float32's 1/k (`scale`): the same bits as Keras's division when k is a power of two,
// else at most one rounding of the quotient apart (SwaAverage's 1/(n + 1) likewise). The accumulators are one
// block allocated when the Trainer is made (a step allocates nothing): with the net's contiguous ParameterSet, the
// gradient block's layout (its zero padding included), so each pass is one kernel call over it; else the gradients
// one after another. Every pass runs on the calling thread (elementwise: the same bits whatever the thread count).
import type { Sequential } from '../nets/sequential.js';
import { badNumber, describeValue, shown, type Tensor } from '../runtime/tensor.js';

/** The largest finite float32. */
const FLT_MAX = 3.4028234663852886e38;

/** A gradient's floats and where its accumulator starts in the block (in floats). */
interface Slot { key: string; grad: Tensor; at: number }

/** Throws, naming options.accumulateSteps, unless `k` is an integer ≥ 1 (a number: '2' is refused). */
export function checkAccumulateSteps(k: unknown): asserts k is number {
  if (!(Number.isSafeInteger(k) && (k as number) >= 1)) throw badNumber(k, `Trainer: options.accumulateSteps must be an integer >= 1 (batches whose mean gradient each update takes), got ${shown(k)}`);
}

export class GradientAccumulator {
  /** Batches added since the last update (0 to steps − 1). */
  pending = 0;
  private readonly slots: Slot[];
  /** The block's spans over the net's gradients: one for a ParameterSet (the whole gradient block), else one per slot. */
  private readonly spans: Array<{ grad: number; at: number; size: number }>;
  private readonly block: Tensor;
  /** float32's 1/steps: the mean is the sum times this. */
  private readonly factor: number;

  /** Accumulators for `net`'s gradients (zeros); `steps` was checked (checkAccumulateSteps). Allocates the block. */
  constructor(private readonly net: Sequential, readonly steps: number) {
    this.factor = Math.fround(1 / steps);
    const set = net.parameterSet;
    let floats = 0;
    this.slots = Object.entries(net.grads).map(([key, grad]) => {
      const at = set ? (grad.ptr - set.gradPtr) / 4 : floats;
      floats += grad.size;
      return { key, grad, at };
    });
    this.spans = set ? [{ grad: set.gradPtr, at: 0, size: set.size }] : this.slots.map((s) => ({ grad: s.grad.ptr, at: s.at, size: s.grad.size }));
    this.block = net.rt.tensor([Math.max(1, set ? set.size : floats)]);
  }

  /** Whether the next batch's gradients complete a group (its step updates the parameters). */
  get completes(): boolean {
    return this.pending === this.steps - 1;
  }

  /**
   * Whether the net's gradients may be added: finite, and no sum of a group can overflow float32 (their 2-norm, in
   * float64, at most FLT_MAX / steps bounds every element, so k of them sum to at most FLT_MAX). A sum that overflowed
   * could not be taken back, and every retry of the group's update would meet it. 'nonFinite' for NaN or ±Inf.
   */
  checkGradients(): 'ok' | 'nonFinite' | 'tooLarge' {
    const k = this.net.rt.unsafeKernels;
    let sum = 0;
    for (const s of this.spans) sum += k.sumSquares(s.grad, s.size);
    if (!Number.isFinite(sum)) return 'nonFinite';
    return Math.sqrt(sum) <= FLT_MAX / this.steps ? 'ok' : 'tooLarge';
  }

  /** A batch that does not complete its group: acc = g + acc (its gradients passed checkGradients). */
  add(): void {
    const k = this.net.rt.unsafeKernels, base = this.block.ptr;
    for (const s of this.spans) k.axpy(base + s.at * 4, s.grad, 1, s.size); // 1·g is exact: one rounding, as g + acc
    this.pending++;
  }

  /**
   * The group's last batch: writes (g + acc)·fround(1/steps) over the net's gradients, for the update (clipping first).
   * The accumulators are left as they are until clear(): an update that fails leaves the group's sum to the retry.
   */
  writeMean(): void {
    const k = this.net.rt.unsafeKernels, base = this.block.ptr;
    for (const s of this.spans) {
      k.axpy(s.grad, base + s.at * 4, 1, s.size);
      k.scale(s.grad, s.grad, this.factor, s.size);
    }
  }

  /** After the update succeeded, or for a new run: accumulators zeroed, no batch pending. */
  clear(): void {
    this.net.rt.unsafeKernels.fill(this.block.ptr, 0, this.block.size);
    this.pending = 0;
  }

  /** The accumulated sums keyed like net.grads (new arrays). */
  export(): Record<string, { shape: number[]; data: Float32Array }> {
    const data = this.block.data;
    return Object.fromEntries(this.slots.map((s) => [s.key, { shape: [...s.grad.shape], data: data.slice(s.at, s.at + s.grad.size) }]));
  }

  /** Throws a RangeError naming the first key of `saved` that load() would refuse (missing, unknown, the wrong shape or size). */
  check(saved: unknown): void {
    if (saved === null || typeof saved !== 'object') throw new TypeError(`Trainer.resume: accum must be an object of { shape, data } keyed like the net's parameters, got ${describeValue(saved)}`);
    const given = saved as Record<string, { shape?: unknown; data?: ArrayLike<number> } | undefined>;
    for (const s of this.slots) {
      const t = Object.hasOwn(given, s.key) ? given[s.key] : undefined;
      const shape = t?.shape;
      if (t?.data?.length !== s.grad.size || !Array.isArray(shape) || shape.length !== s.grad.shape.length || shape.some((d, i) => d !== s.grad.shape[i])) {
        throw new RangeError(`Trainer.resume: accum['${s.key}'] must have the shape [${s.grad.shape.join(', ')}] and ${s.grad.size} values`);
      }
    }
    const known = new Set(this.slots.map((s) => s.key));
    for (const key of Object.keys(given)) if (!known.has(key)) throw new RangeError(`Trainer.resume: accum['${key}'] is no parameter of the net (${[...known].join(', ')})`);
    // sums of gradients that were checked finite (JSON writes NaN as null, which would load as 0)
    for (const s of this.slots) {
      const data = given[s.key]!.data!;
      for (let i = 0; i < data.length; i++) {
        if (typeof data[i] !== 'number' || !Number.isFinite(data[i])) throw new RangeError(`Trainer.resume: accum['${s.key}'][${i}] must be a finite number, got ${shown(data[i])}`);
      }
    }
  }

  /** Loads a state's sums of `pending` batches (checked: see check()); the padding between a ParameterSet's tensors stays 0. */
  load(saved: Record<string, { shape: readonly number[]; data: ArrayLike<number> }>, pending: number): void {
    this.check(saved);
    this.clear();
    const data = this.block.data;
    for (const s of this.slots) data.set(saved[s.key].data, s.at);
    this.pending = pending;
  }

  dispose(): void {
    this.block.dispose();
  }
}
