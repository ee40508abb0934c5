// Random affine augmentation of image batches (rotation, scale, shift), on
// the runtime's seeded stream: the same seed gives the same transforms, and
// the same bits, on every host (assembly/augment.ts).
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { checkFloatTensor, describeValue, shown, type Tensor } from '../runtime/tensor.js';
import { Buffers } from '../layers/buffers.js';
import { checkOptions } from '../runtime/options.js';

/** Options of RandomAffine; the constructor throws a TypeError on an unknown key or a value that is not a number, and a RangeError naming a value out of range. */
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

  /**
   * An augmentation on `rt` drawing each image's rotation, scale and shift from `options` (RandomAffineOptions;
   * the defaults leave images as they are). The caller owns it: dispose() frees the output buffers it makes.
   * @throws TypeError if rt is not a Runtime, options has an unknown key or a value that is not a number (scale:
   * an array of two); RangeError naming a value out of range.
   */
  constructor(readonly rt: Runtime, options: RandomAffineOptions = {}) {
    checkRuntime(rt, 'RandomAffine');
    checkOptions('RandomAffine', options, KEYS);
    // each option read once; what is not a number is a TypeError naming it (a Symbol or a BigInt
    // would throw while its message was formatted, or in Math.fround)
    const { degrees = 0, scale = [1, 1], shift = 0 } = options as Record<string, unknown>;
    if (typeof degrees !== 'number') throw new TypeError(`RandomAffine: degrees must be a number in [0, 180], got ${describeValue(degrees)}`);
    if (!(Number.isFinite(degrees) && degrees >= 0 && degrees <= 180)) throw new RangeError(`RandomAffine: degrees must be in [0, 180], got ${degrees}`);
    const scaleExpected = "RandomAffine: scale must be [lo, hi] with 0 < lo <= hi in float32's range";
    if (!Array.isArray(scale)) throw new TypeError(`${scaleExpected}, got ${describeValue(scale)}`);
    const n = scale.length;
    if (n !== 2) throw new RangeError(`${scaleExpected}, got ${n <= 8 ? `[${Array.from({ length: n }, (_, i) => shown(scale[i])).join(',')}]` : describeValue(scale)}`);
    const lo: unknown = scale[0], hi: unknown = scale[1];
    if (typeof lo !== 'number' || typeof hi !== 'number') throw new TypeError(`${scaleExpected}, got [${shown(lo)},${shown(hi)}]`);
    // the kernel takes float32: 1e-50 would round to 0 and 1e39 to Infinity, and every image come out black
    if (!(Math.fround(lo) > 0 && hi >= lo && Number.isFinite(Math.fround(hi)))) throw new RangeError(`${scaleExpected}, got [${lo},${hi}]`);
    if (typeof shift !== 'number') throw new TypeError(`RandomAffine: shift must be a non-negative number of pixels in float32's range, got ${describeValue(shift)}`);
    if (!(Number.isFinite(Math.fround(shift)) && shift >= 0)) throw new RangeError(`RandomAffine: shift must be a non-negative number of pixels in float32's range, got ${shift}`);
    this.degrees = degrees;
    this.scale = [lo, hi];
    this.shift = shift;
    this.buffers = new Buffers(rt);
  }

  /**
   * A transformed copy of x [N, C, H, W], one random transform per image, owned by this RandomAffine
   * (valid until the next call; do not dispose it). x may be the last call's output (apply(apply(x))).
   * @throws TypeError if x is not a live float32 Tensor of this runtime; RangeError if x is not 4-D.
   */
  apply(x: Tensor): Tensor {
    if (this.isDisposed) throw new Error('RandomAffine.apply: used after dispose()');
    checkFloatTensor(this.rt, x, 'RandomAffine.apply: x');
    if (x.shape.length !== 4) throw new RangeError(`RandomAffine.apply: x must be [N, C, H, W], got [${x.shape.join(', ')}]`);
    const [N, C, H, W] = x.shape;
    const out = this.buffers.get('out', x.shape, x);
    // x may be (a view of) the last output: the kernel would read pixels it has already written
    let src = x;
    if (x.ptr < out.ptr + out.size * 4 && out.ptr < x.ptr + x.size * 4) {
      src = this.buffers.get('in', x.shape);
      this.rt.unsafeKernels.copy(src.ptr, x.ptr, x.size);
    }
    const u = this.rt.uniform(this.buffers.get('u', [Math.max(1, 4 * N)]));
    this.rt.unsafeKernels.randomAffineForward(out.ptr, src.ptr, u.ptr, N, C, H, W, this.degrees, this.scale[0], this.scale[1], this.shift);
    return out;
  }

  /** Frees the output buffers; a tensor apply() returned dies with them, and apply() then throws. */
  dispose(): void {
    this.isDisposed = true;
    this.buffers.dispose();
  }

  private isDisposed = false;
}
