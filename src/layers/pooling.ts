// The book's Pooling layer (max, or average) and GlobalAveragePooling, on NCHW
// input. Padding is the book's: padded positions are zeros inside the window.
import type { ActivationBackwardFusingLayer, Layer } from './layer.js';
import { keptForBackward, type FusableActivation } from './activations.js';
import { activationCode } from '../runtime/runtime.js';
import { Buffers } from './buffers.js';
import { badNumber, checkFloatTensor, sharesMemory, shown, type IntTensor, type Tensor } from '../runtime/tensor.js';
import { MAX_WINDOW, checkImages, checkStridePad, convOutputSize } from './convolution.js';

/** How Pooling reduces a window: its maximum or its mean. */
export type PoolingMode = 'max' | 'avg';

/** Options of Pooling (an unknown key or mode is a TypeError). */
export interface PoolingOptions {
  /** 'max' (the book's; the gradient goes to the first arg-max) or 'avg'. Default 'max'. */
  mode?: PoolingMode;
}

/**
 * The book's Pooling over poolH × poolW windows of NCHW input, max or average; no parameters.
 * The constructor throws a RangeError for a window size, stride or pad out of range. The layer
 * owns its outputs and gradients.
 */
export class Pooling implements ActivationBackwardFusingLayer {
  readonly name = 'Pooling';
  readonly fusesActivationBackward = true;
  readonly params = {};
  readonly grads = {};
  readonly mode: PoolingMode;
  private buffers: Buffers | null = null;
  private x: Tensor | null = null;
  private argMax: IntTensor | null = null;
  private disposed = false;

  /**
   * Pooling over poolH × poolW windows (positive integers whose product is at most MAX_WINDOW) moved by
   * `stride` (default 2, as the book's `Pooling(pool_h, pool_w, stride=2, pad=0)`) over the input zero-padded by
   * `pad` (default 0); `options.mode` 'max' (default) or 'avg'. Holds no memory until its first forward; dispose()
   * frees what it made.
   * @throws TypeError if options is not an object, has an unknown key or an unknown mode, or a window size, stride
   * or pad is not a number; RangeError for one that is not a positive (pad: non-negative) integer within MAX_WINDOW.
   */
  constructor(readonly poolH: number, readonly poolW: number, readonly stride = 2, readonly pad = 0, options: PoolingOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('Pooling: options must be an object');
    for (const key of Object.keys(options)) {
      if (key !== 'mode') throw new TypeError(`Pooling: unknown option '${key}' (expected mode)`);
    }
    const mode = options.mode ?? 'max';
    if (mode !== 'max' && mode !== 'avg') throw new TypeError(`Pooling: mode must be 'max' or 'avg', got '${String(mode)}'`);
    for (const [what, v] of [['poolH', poolH], ['poolW', poolW]] as const) {
      if (!(Number.isInteger(v) && v > 0 && v <= MAX_WINDOW)) throw badNumber(v, `Pooling: ${what} must be a positive integer, got ${shown(v)} (at most ${MAX_WINDOW})`);
    }
    // the kernels take the area as a 32-bit integer (the mean's 1 / (poolH·poolW)), and each output scans it
    if (poolH * poolW > MAX_WINDOW) throw new RangeError(`Pooling: the window poolH × poolW = ${poolH} × ${poolW} holds ${poolH * poolW} values, more than ${MAX_WINDOW}`);
    checkStridePad('Pooling', stride, pad);
    this.mode = mode;
  }

  /** Output shape for an input shape [N, C, H, W]. */
  outputShape(x: readonly number[]): [number, number, number, number] {
    return [x[0], x[1], convOutputSize(x[2], this.poolH, this.stride, this.pad), convOutputSize(x[3], this.poolW, this.stride, this.pad)];
  }

  /**
   * The pooled [N, C, OH, OW] output (owned by the layer, valid until its next forward); keeps x for backward.
   * @throws Error after dispose(); TypeError/RangeError if x is not a live 4-D float tensor (of the runtime of earlier calls) the window fits.
   */
  forward(x: Tensor, _train = false): Tensor {
    if (this.disposed) throw new Error('Pooling.forward: used after dispose()');
    checkFloatTensor(this.buffers?.rt ?? x?.rt, x, 'Pooling.forward: x');
    const [N, C, H, W] = checkImages(`${this.name}.forward`, x);
    const shape = this.outputShape(x.shape);
    if (shape[2] < 1 || shape[3] < 1) {
      throw new RangeError(`${this.name}.forward: a ${this.poolH}×${this.poolW} window with pad ${this.pad} does not fit a ${H}×${W} input (x is [${x.shape.join(', ')}])`);
    }
    const rt = x.rt;
    if (this.mode === 'max') rt.checkKnownAnswers('pool', `${this.name}.forward`);
    this.buffers ??= new Buffers(rt);
    const out = this.buffers.get('out', shape, x);
    const inPlane = H * W * 4, outPlane = shape[2] * shape[3] * 4;
    const work = shape[2] * shape[3] * this.poolH * this.poolW;
    // planes are independent: split across threads by planes
    if (this.mode === 'max') {
      const arg = this.argMax = this.buffers.labels('argMax', shape);
      rt.splitRange('maxPoolForward', N * C, work, (p0, p1, args) => args(out.ptr + p0 * outPlane, arg.ptr + p0 * outPlane, x.ptr + p0 * inPlane, p1 - p0,
        H, W, this.poolH, this.poolW, this.stride, this.pad));
    } else {
      rt.splitRange('avgPoolForward', N * C, work, (p0, p1, args) => args(out.ptr + p0 * outPlane, x.ptr + p0 * inPlane, p1 - p0,
        H, W, this.poolH, this.poolW, this.stride, this.pad));
    }
    this.x = x;
    return out;
  }

  /**
   * dx, shaped like the last forward's x (owned by the layer): max mode routes each gradient to its window's first arg-max, avg spreads it evenly.
   * @throws Error after dispose() or before any forward; TypeError/RangeError if dout is not a live float tensor of the output's size, or x was disposed.
   */
  backward(dout: Tensor): Tensor {
    return this.backwardPass(dout, 'backward');
  }

  /**
   * before.backward(this.backward(dout)) in one call: each plane of dx goes through `before`'s
   * backward as soon as it is written, while it is in cache, with the bits of the two calls.
   * `before` is the activation whose output this layer's last forward took.
   * @throws like backward(); TypeError if `before` is not a Relu, Sigmoid or Tanh layer or what it kept is on
   * another runtime or disposed; Error if it has not run forward; RangeError if what it kept is not x's size
   * or overlaps this layer's dx. Nothing is written then.
   */
  backwardThrough(dout: Tensor, before: FusableActivation): Tensor {
    const saved = keptForBackward(before, 'Pooling.backwardThrough', this.x);
    return this.backwardPass(dout, 'backwardThrough', saved, activationCode(before.fusedAs, 'Pooling.backwardThrough'));
  }

  /** dx, through the backward of the activation (code act) that kept `saved`. */
  private backwardPass(dout: Tensor, who: string, saved: Tensor | null = null, act = 0): Tensor {
    const x = this.x;
    if (this.disposed) throw new Error(`Pooling.${who}: used after dispose()`);
    if (!x || !this.buffers) throw new Error(`${this.name}.${who}: call forward first`);
    checkFloatTensor(x.rt, dout, `Pooling.${who}: dout`);
    checkFloatTensor(x.rt, x, `Pooling.${who}: the forward input x`);
    const [N, C, H, W] = x.shape;
    const shape = this.outputShape(x.shape);
    if (dout.size !== shape.reduce((a, b) => a * b)) {
      throw new RangeError(`${this.name}.${who}: dout must be [${shape.join(', ')}], got [${dout.shape.join(', ')}]`);
    }
    const rt = x.rt;
    const dx = this.buffers.get('dx', x.shape);
    if (saved && sharesMemory(saved, dx)) {
      throw new RangeError(`Pooling.${who}: the tensor the activation before kept overlaps this layer's dx`);
    }
    const P = shape[2] * shape[3], inPlane = H * W * 4, outPlane = P * 4;
    if (this.mode === 'max') {
      const arg = this.argMax!;
      rt.splitRange('maxPoolBackward', N * C, H * W, (p0, p1, args) => args(dx.ptr + p0 * inPlane, dout.ptr + p0 * outPlane, arg.ptr + p0 * outPlane, p1 - p0,
        H * W, P, saved ? saved.ptr + p0 * inPlane : 0, act));
    } else {
      rt.splitRange('avgPoolBackward', N * C, H * W + P * this.poolH * this.poolW, (p0, p1, args) => args(dx.ptr + p0 * inPlane, dout.ptr + p0 * outPlane, p1 - p0,
        H, W, this.poolH, this.poolW, this.stride, this.pad, saved ? saved.ptr + p0 * inPlane : 0, act));
    }
    return dx;
  }

  dispose(): void {
    this.buffers?.dispose();
    this.x = null;
    this.argMax = null;
    this.disposed = true;
  }
}

/** Mean over each channel's H×W plane: [N, C, H, W] -> [N, C]. */
export class GlobalAveragePooling implements Layer {
  readonly name = 'GlobalAveragePooling';
  readonly params = {};
  readonly grads = {};
  private buffers: Buffers | null = null;
  private x: Tensor | null = null;
  private disposed = false;

  /**
   * The [N, C] plane means (owned by the layer, valid until its next forward); keeps x for backward.
   * @throws Error after dispose(); TypeError/RangeError if x is not a live 4-D float tensor with non-empty planes.
   */
  forward(x: Tensor, _train = false): Tensor {
    if (this.disposed) throw new Error('GlobalAveragePooling.forward: used after dispose()');
    checkFloatTensor(this.buffers?.rt ?? x?.rt, x, 'GlobalAveragePooling.forward: x');
    const [N, C, H, W] = checkImages('GlobalAveragePooling.forward', x);
    if (H * W === 0) throw new RangeError(`GlobalAveragePooling.forward: x has empty planes [${x.shape.join(', ')}]; their mean is undefined`);
    this.buffers ??= new Buffers(x.rt);
    const out = this.buffers.get('out', [N, C], x);
    x.rt.unsafeKernels.globalAvgPoolForward(out.ptr, x.ptr, N * C, H * W);
    this.x = x;
    return out;
  }

  /**
   * dx, shaped like the last forward's x (each plane gets its dout / (H·W)); owned by the layer.
   * @throws Error after dispose() or before any forward; TypeError/RangeError if dout is not a live float [N, C] tensor, or x was disposed.
   */
  backward(dout: Tensor): Tensor {
    const x = this.x;
    if (this.disposed) throw new Error('GlobalAveragePooling.backward: used after dispose()');
    if (!x || !this.buffers) throw new Error('GlobalAveragePooling.backward: call forward first');
    checkFloatTensor(x.rt, dout, 'GlobalAveragePooling.backward: dout');
    checkFloatTensor(x.rt, x, 'GlobalAveragePooling.backward: the forward input x');
    const [N, C, H, W] = x.shape;
    if (dout.size !== N * C) throw new RangeError(`GlobalAveragePooling.backward: dout must be [${N}, ${C}], got [${dout.shape.join(', ')}]`);
    const dx = this.buffers.get('dx', x.shape);
    x.rt.unsafeKernels.globalAvgPoolBackward(dx.ptr, dout.ptr, N * C, H * W);
    return dx;
  }

  dispose(): void {
    this.buffers?.dispose();
    this.x = null;
    this.disposed = true;
  }
}
