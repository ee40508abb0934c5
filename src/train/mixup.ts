// mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization") as timm applies it per batch
// (timm/data/mixup.py, huggingface/pytorch-image-models: class Mixup with mixup_alpha > 0, cutmix off, mode
// 'batch'): one λ ~ Beta(α, α) per batch, each row mixed with the batch's row in reverse order
// (`x.flip(0).mul_(1. - lam)`, `x.mul_(lam).add_(x_flipped)`) and the targets likewise
// (mixup_target: `y1 * lam + y2 * (1. - lam)` of the one-hot rows of t and t.flip(0)).
// λ is drawn from the runtime's one random stream, so a seeded run has the same bits on every host and thread count.
import type { Buffers } from '../layers/buffers.js';
import type { Runtime } from '../runtime/runtime.js';
import { IntTensor, Tensor, badNumber, describeValue, shown } from '../runtime/tensor.js';
import { checkOptions } from '../runtime/options.js';
import { exactExp, exactLn } from '../runtime/exact-math.js';

/** TrainerOptions.mixup: mix every training batch with its reversed rows by a λ ~ Beta(alpha, alpha). */
export interface MixupOptions {
  /** Beta(α, α)'s α (timm's mixup_alpha; 0.2–0.4 in the paper's ImageNet runs, 1 in its CIFAR-10 ones): > 0, finite. */
  alpha: number;
}

const MIXUP_KEYS = new Set(['alpha']);

/** Refuses a mixup option that is not { alpha: a positive finite number }, naming the field. */
export function checkMixup(mixup: unknown): void {
  if (mixup === null || typeof mixup !== 'object') throw new TypeError(`Trainer: mixup must be { alpha }, got ${describeValue(mixup)}`);
  checkOptions('Trainer: mixup', mixup, MIXUP_KEYS);
  const { alpha } = mixup as Partial<MixupOptions>;
  if (!(typeof alpha === 'number' && Number.isFinite(alpha) && alpha > 0)) {
    throw badNumber(alpha, `Trainer: mixup.alpha must be a positive finite number (Beta(α, α)'s α, e.g. 0.2 or 1), got ${shown(alpha)}`);
  }
}

/**
 * The log of a Gamma(a, 1) variate, by Marsaglia and Tsang's method ("A simple method for generating gamma
 * variables", ACM TOMS 26(3), 2000): d = a − 1/3, c = 1/√(9d); draw a standard normal x and v = (1 + cx)³ until
 * v > 0 and u < 1 − 0.0331x⁴ or log u < x²/2 + d(1 − v + log v), then d·v. For a < 1, their boost
 * Gamma(a) = Gamma(a + 1)·U^(1/a), taken in logs (with U in (0, 1]) so that a tiny variate does not underflow to 0.
 * Each try takes a normal (2 counters: rngNormal's Box–Muller pair) and a uniform (1), the boost one uniform more,
 * all through `rt.take`; the rest is float64 arithmetic in JavaScript (√ exact; log and exp by exactLn and exactExp,
 * the same bits on every engine, where Math.log and Math.exp may differ between V8 and JavaScriptCore).
 * `scratch`: at least 2 floats the kernels write the draws into.
 */
function logGamma(rt: Runtime, a: number, scratch: Tensor): number {
  const k = rt.unsafeKernels, seed = rt.seed >>> 0;
  const shape = a < 1 ? a + 1 : a;
  const d = shape - 1 / 3, c = 1 / Math.sqrt(9 * d);
  let logG: number;
  for (;;) {
    k.rngNormal(scratch.ptr, 1, 0, 1, seed, rt.take(2));
    k.rngUniform(scratch.ptr + 4, 1, 0, 1, seed, rt.take(1));
    const draws = scratch.data;
    const x = draws[0], u = draws[1];
    const w = 1 + c * x;
    if (w <= 0) continue;
    const v = w * w * w;
    const x2 = x * x;
    if (u < 1 - 0.0331 * x2 * x2 || exactLn(u) < 0.5 * x2 + d * (1 - v + exactLn(v))) {
      logG = exactLn(d * v);
      break;
    }
  }
  if (a < 1) {
    k.rngUniform(scratch.ptr, 1, 0, 1, seed, rt.take(1));
    logG += exactLn(1 - scratch.data[0]) / a; // 1 − U is in (0, 1]: its log is finite
  }
  return logG;
}

/**
 * λ ~ Beta(α, α) from the runtime's random stream: X / (X + Y) for X, Y ~ Gamma(α, 1) (drawn in that order),
 * computed as 1 / (1 + e^(log Y − log X)), in [0, 1] for any α. `scratch`: at least 2 floats of `rt`.
 */
export function drawBeta(rt: Runtime, alpha: number, scratch: Tensor): number {
  const lx = logGamma(rt, alpha, scratch);
  const ly = logGamma(rt, alpha, scratch);
  return 1 / (1 + exactExp(ly - lx));
}

/**
 * A Trainer's mixup: draws λ and mixes a gathered batch into buffers planned once per batch shape (a step
 * allocates nothing). Integer labels become their one-hot rows first (the loss takes soft rows as targets); a
 * net's label smoothing then applies to the mixed rows, which is timm's mixup_target (smoothing each one-hot
 * before mixing): λ(keep·a + off) + (1 − λ)(keep·b + off) = keep·(λa + (1 − λ)b) + off.
 */
export class Mixup {
  constructor(readonly alpha: number, private readonly buffers: Buffers, private readonly classes: number) {}

  /**
   * Draws λ, then returns λ·x + (1 − λ)·x[reversed rows] and the targets' rows mixed alike (new contents of the
   * Mixup's buffers; x and t are not written). x's first dimension is the batch; t holds its labels or target rows.
   */
  mix(x: Tensor, t: Tensor | IntTensor): { x: Tensor; t: Tensor } {
    const rt = this.buffers.rt, k = rt.unsafeKernels;
    const B = x.shape[0], C = this.classes;
    const lambda = drawBeta(rt, this.alpha, this.buffers.get('mixup.draws', [2]));
    // timm's reversed partner (x.flip(0)): row i with row B − 1 − i (an odd batch's middle row with itself)
    const reversed = this.buffers.labels('mixup.reversed', [B]);
    const order = reversed.data;
    for (let i = 0; i < B; i++) order[i] = B - 1 - i;
    let dense: Tensor;
    if (t instanceof IntTensor) {
      dense = this.buffers.get('mixup.onehot', [B, C]);
      k.smoothLabels(dense.ptr, t.ptr, B, C, 1, 0); // one-hot rows: 1·1 + 0 at the label, 0 elsewhere
    } else {
      dense = t;
    }
    return { x: this.blend(x, reversed, lambda, 'mixup.x'), t: this.blend(dense, reversed, lambda, 'mixup.t') };
  }

  /**
   * λ·a + (1 − λ)·a[reversed] in float32 as timm's in-place ops round it: the two products, then their sum
   * (λ and 1 − λ, computed in float64, reach the kernels as float32s).
   */
  private blend(a: Tensor, reversed: IntTensor, lambda: number, name: string): Tensor {
    const k = this.buffers.rt.unsafeKernels;
    const B = a.shape[0], rowLen = a.size / B;
    const flipped = this.buffers.get(`${name}.flipped`, a.shape);
    const out = this.buffers.get(name, a.shape);
    k.gatherRows(flipped.ptr, a.ptr, reversed.ptr, B, rowLen);
    k.scale(out.ptr, a.ptr, lambda, a.size);
    k.axpy(out.ptr, flipped.ptr, 1 - lambda, a.size);
    return out;
  }
}
