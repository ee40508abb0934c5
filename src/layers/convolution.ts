// The book's Convolution layer on im2col + GEMM, one image at a time:
// out[i] = W[FN, C·FH·FW] · col[i][C·FH·FW, OH·OW] writes NCHW directly.
// The col matrix is built for a chunk of images at a time (about 1 MiB, so it
// stays in cache and a big batch never needs a full-batch col), and rebuilt
// in backward rather than kept: im2col is a copy, cheap next to the products.
import type { Layer } from './layer.js';
import { Buffers } from './buffers.js';
import type { Tensor } from '../runtime/tensor.js';

export interface ConvolutionGrads { dW?: Tensor; db?: Tensor }

/** Floats of col built per chunk of images (1 MiB). */
const COL_CHUNK_FLOATS = 1 << 18;

/** Output size along one axis, as the book: 1 + floor((size + 2·pad − filter) / stride). */
export function convOutputSize(size: number, filter: number, stride: number, pad: number): number {
  return 1 + Math.floor((size + 2 * pad - filter) / stride);
}

export function checkStridePad(who: string, stride: number, pad: number): void {
  if (!(Number.isInteger(stride) && stride > 0)) throw new RangeError(`${who}: stride must be a positive integer, got ${stride}`);
  if (!(Number.isInteger(pad) && pad >= 0)) throw new RangeError(`${who}: pad must be a non-negative integer, got ${pad}`);
}

/** Validates a 4-D NCHW input and returns [N, C, H, W]. */
export function checkImages(who: string, x: Tensor, channels?: number): [number, number, number, number] {
  if (x.shape.length !== 4 || (channels !== undefined && x.shape[1] !== channels)) {
    throw new RangeError(`${who}: x must be [N, ${channels ?? 'C'}, H, W], got [${x.shape.join(', ')}]`);
  }
  return x.shape as [number, number, number, number];
}

export class Convolution implements Layer {
  readonly name = 'Convolution';
  readonly dW: Tensor;
  readonly db: Tensor;
  readonly params: Readonly<Record<string, Tensor>>;
  readonly grads: Readonly<Record<string, Tensor>>;
  private readonly buffers: Buffers;
  private readonly ownsGrads: boolean;
  private x: Tensor | null = null;

  /** W: [FN, C, FH, FW], b: [FN]. Gradient tensors may be supplied (e.g. views on a net's gradient block). */
  constructor(readonly W: Tensor, readonly b: Tensor, readonly stride = 1, readonly pad = 0, grads: ConvolutionGrads = {}) {
    if (W.shape.length !== 4) throw new RangeError(`Convolution: W must be 4-D [FN, C, FH, FW], got [${W.shape.join(', ')}]`);
    if (b.size !== W.shape[0]) throw new RangeError(`Convolution: b must have ${W.shape[0]} elements (W's filters), got [${b.shape.join(', ')}]`);
    checkStridePad('Convolution', stride, pad);
    const rt = W.rt;
    this.buffers = new Buffers(rt);
    this.ownsGrads = !grads.dW;
    this.dW = grads.dW ?? rt.tensor(W.shape);
    this.db = grads.db ?? rt.tensor(b.shape);
    if (this.dW.size !== W.size || this.db.size !== b.size) throw new RangeError('Convolution: dW/db must match W/b in size');
    this.params = { W, b };
    this.grads = { W: this.dW, b: this.db };
  }

  /** Output shape for an input shape [N, C, H, W]. */
  outputShape(x: readonly number[]): [number, number, number, number] {
    const [FN, , FH, FW] = this.W.shape;
    return [x[0], FN, convOutputSize(x[2], FH, this.stride, this.pad), convOutputSize(x[3], FW, this.stride, this.pad)];
  }

  forward(x: Tensor, _train = false): Tensor {
    const [FN, C, FH, FW] = this.W.shape;
    const [N, , H, W] = checkImages('Convolution.forward', x, C);
    const [, , OH, OW] = this.outputShape(x.shape);
    if (OH < 1 || OW < 1) {
      throw new RangeError(`Convolution.forward: a ${FH}×${FW} filter with pad ${this.pad} does not fit a ${H}×${W} input (x is [${x.shape.join(', ')}])`);
    }
    const rt = x.rt, k = rt.kernels;
    const K = C * FH * FW, P = OH * OW;
    const out = this.buffers.get('out', [N, FN, OH, OW]);
    const chunk = this.chunkSize(N, K * P);
    const col = this.buffers.get('col', [chunk, K, P]);
    const inImage = C * H * W * 4, outImage = FN * P * 4, colImage = K * P * 4;
    for (let n0 = 0; n0 < N; n0 += chunk) {
      const nb = Math.min(chunk, N - n0);
      k.im2colForward(col.ptr, x.ptr + n0 * inImage, nb, C, H, W, FH, FW, this.stride, this.pad);
      for (let i = 0; i < nb; i++) {
        rt.gemm(0, 0, FN, P, K, this.W.ptr, K, col.ptr + i * colImage, P, out.ptr + (n0 + i) * outImage, P);
      }
      k.convBiasForward(out.ptr + n0 * outImage, this.b.ptr, nb, FN, P);
    }
    this.x = x;
    return out;
  }

  backward(dout: Tensor): Tensor {
    const x = this.x;
    if (!x) throw new Error('Convolution.backward: call forward first');
    const [FN, C, FH, FW] = this.W.shape;
    const [N, , H, W] = x.shape;
    const outShape = this.outputShape(x.shape);
    if (dout.size !== outShape.reduce((a, b) => a * b)) {
      throw new RangeError(`Convolution.backward: dout must be [${outShape.join(', ')}], got [${dout.shape.join(', ')}]`);
    }
    const [, , OH, OW] = outShape;
    const rt = x.rt, k = rt.kernels;
    const K = C * FH * FW, P = OH * OW;
    const dx = this.buffers.get('dx', x.shape);
    const chunk = this.chunkSize(N, K * P);
    const col = this.buffers.get('col', [chunk, K, P]);
    const dcol = this.buffers.get('dcol', [chunk, K, P]);
    const inImage = C * H * W * 4, outImage = FN * P * 4, colImage = K * P * 4;
    for (let n0 = 0; n0 < N; n0 += chunk) {
      const nb = Math.min(chunk, N - n0);
      k.im2colForward(col.ptr, x.ptr + n0 * inImage, nb, C, H, W, FH, FW, this.stride, this.pad);
      for (let i = 0; i < nb; i++) {
        const dy = dout.ptr + (n0 + i) * outImage;
        // dW (+)= dy[FN, P] · colᵀ[P, K]
        rt.gemm(0, 1, FN, K, P, dy, P, col.ptr + i * colImage, P, this.dW.ptr, K, n0 + i === 0 ? 0 : 1);
        // dcol = Wᵀ[K, FN] · dy[FN, P]
        rt.gemm(1, 0, K, P, FN, this.W.ptr, K, dy, P, dcol.ptr + i * colImage, P);
      }
      k.im2colBackward(dx.ptr + n0 * inImage, dcol.ptr, nb, C, H, W, FH, FW, this.stride, this.pad);
    }
    if (N === 0) k.fill(this.dW.ptr, 0, this.dW.size);
    k.convBiasBackward(this.db.ptr, dout.ptr, N, FN, P);
    return dx;
  }

  /** Images per im2col chunk: as many as fit the chunk budget, at least one. */
  private chunkSize(N: number, colFloatsPerImage: number): number {
    return Math.max(1, Math.min(N, Math.floor(COL_CHUNK_FLOATS / colFloatsPerImage)));
  }

  dispose(): void {
    this.buffers.dispose();
    if (this.ownsGrads) { this.dW.dispose(); this.db.dispose(); }
    this.x = null;
  }
}
