// Random affine augmentation of image batches (rotation, scale, shift), on
// the runtime's seeded stream: the same seed gives the same transforms, and
// the same bits, on every host (assembly/augment.ts).
import type { Runtime } from '../runtime/runtime.js';
import { checkFloatTensor, type Tensor } from '../runtime/tensor.js';
import { Buffers } from '../layers/buffers.js';

/** Options of RandomAffine; the constructor throws a TypeError on an unknown key and a RangeError naming a value out of range. */
export interface RandomAffineOptions {
  /** Rotation drawn uniformly from [−degrees, degrees], degrees in [0, 180]. Default 0. */
  degrees?: number;
  /** Scale factor drawn uniformly from [lo, hi] (both > 0). Default [1, 1]. */
  scale?: readonly [number, number];
  /** Shift drawn uniformly from [−shift, shift] pixels on each axis. Default 0. */
  shift?: number;
}

const KEYS = new Set(['degrees', 'scale', 'shift']);

/**
 * Random affine augmentation of [N, C, H, W] image batches (rotation, scale, shift), one transform
 * per image drawn from the runtime's seeded stream, so a seed gives the same bits on every host.
 * Give it to TrainerOptions.augment. The caller owns it: dispose() frees its buffers.
 */
export class RandomAffine {
  readonly degrees: number;
  readonly scale: readonly [number, number];
  readonly shift: number;
  private readonly buffers: Buffers;

  constructor(readonly rt: Runtime, options: RandomAffineOptions = {}) {
    for (const key of Object.keys(options)) {
      if (!KEYS.has(key)) throw new TypeError(`RandomAffine: unknown option '${key}' (expected ${[...KEYS].join(', ')})`);
    }
    const { degrees = 0, scale = [1, 1], shift = 0 } = options;
    if (!(Number.isFinite(degrees) && degrees >= 0 && degrees <= 180)) throw new RangeError(`RandomAffine: degrees must be in [0, 180], got ${degrees}`);
    if (!(Array.isArray(scale) && scale.length === 2 && scale[0] > 0 && scale[1] >= scale[0] && Number.isFinite(scale[1]))) {
      throw new RangeError(`RandomAffine: scale must be [lo, hi] with 0 < lo <= hi, got ${JSON.stringify(scale)}`);
    }
    if (!(Number.isFinite(shift) && shift >= 0)) throw new RangeError(`RandomAffine: shift must be a non-negative number of pixels, got ${shift}`);
    this.degrees = degrees;
    this.scale = [scale[0], scale[1]];
    this.shift = shift;
    this.buffers = new Buffers(rt);
  }

  /**
   * A transformed copy of x [N, C, H, W], one random transform per image, owned by this RandomAffine
   * (valid until the next call; do not dispose it).
   * @throws TypeError if x is not a live float32 Tensor of this runtime; RangeError if x is not 4-D.
   */
  apply(x: Tensor): Tensor {
    if (this.isDisposed) throw new Error('RandomAffine.apply: used after dispose()');
    checkFloatTensor(this.rt, x, 'RandomAffine.apply: x');
    if (x.shape.length !== 4) throw new RangeError(`RandomAffine.apply: x must be [N, C, H, W], got [${x.shape.join(', ')}]`);
    const [N, C, H, W] = x.shape;
    const out = this.buffers.get('out', x.shape);
    const u = this.rt.uniform(this.buffers.get('u', [Math.max(1, 4 * N)]));
    this.rt.unsafeKernels.randomAffineForward(out.ptr, x.ptr, u.ptr, N, C, H, W, this.degrees, this.scale[0], this.scale[1], this.shift);
    return out;
  }

  /** Frees the output buffers; a tensor apply() returned dies with them, and apply() then throws. */
  dispose(): void {
    this.isDisposed = true;
    this.buffers.dispose();
  }

  private isDisposed = false;
}
