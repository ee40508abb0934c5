// Convolution support: im2col / col2im and the per-channel bias.
//
// Layout (Caffe's, not the book's): for each image, col is [C·FH·FW, OH·OW],
// row r = (c, ky, kx), column = (oy, ox). Then W[FN, C·FH·FW] · col gives the
// image's output [FN, OH·OW] in NCHW order with no transpose, and a row of col
// is OW-long runs of one input row: contiguous when stride is 1, so SIMD copies.
// OH = (H + 2·pad − FH) / stride + 1 (integer division, as the book's int()).
//
// Every kernel works on `n` whole images: a call on images [i0, i1) needs only
// pointers offset to i0, so threads can split a batch.
import { activate, activateScalar, hsum } from "./math";
import { gemm, gemmWorkspaceBytes } from "./gemm";

// @ts-ignore: decorator
@inline
function outSize(size: i32, filter: i32, stride: i32, pad: i32): i32 {
  return (size + 2 * pad - filter) / stride + 1;
}

// First output column whose input column ox·stride + off is >= 0.
// @ts-ignore: decorator
@inline
function firstInside(off: i32, stride: i32): i32 {
  return off >= 0 ? 0 : (stride - 1 - off) / stride;
}

// One past the last output column whose input column ox·stride + off is < W.
// @ts-ignore: decorator
@inline
function endInside(off: i32, stride: i32, W: i32, OW: i32): i32 {
  if (W - off <= 0) return 0;
  return min(OW, (W - off + stride - 1) / stride);
}

// @ts-ignore: decorator
@inline
function zeros(dst: usize, n: i32): void {
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), z);
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), 0);
}

// dst[ox] = src[ox·stride + off] for ox in [0, OW), where [lo, hi) are the ox
// whose source is inside the row (rowRange): 0 outside it.
// @ts-ignore: decorator
@inline
function gatherRow(dst: usize, src: usize, OW: i32, off: i32, stride: i32, lo: i32, hi: i32): void {
  zeros(dst, lo);
  if (stride == 1) {
    const d = dst + (<usize>lo << 2);
    const s = src + (<usize>(lo + off) << 2);
    const n = hi - lo;
    let i = 0;
    for (; i + 4 <= n; i += 4) v128.store(d + (<usize>i << 2), v128.load(s + (<usize>i << 2)));
    for (; i < n; i++) store<f32>(d + (<usize>i << 2), load<f32>(s + (<usize>i << 2)));
  } else {
    for (let ox = lo; ox < hi; ox++) {
      store<f32>(dst + (<usize>ox << 2), load<f32>(src + (<usize>(ox * stride + off) << 2)));
    }
  }
  zeros(dst + (<usize>hi << 2), OW - hi);
}

// dst[ox·stride + off] += src[ox] for ox in [lo, hi) (rowRange).
// @ts-ignore: decorator
@inline
function scatterAddRow(dst: usize, src: usize, off: i32, stride: i32, lo: i32, hi: i32): void {
  if (stride == 1) {
    const d = dst + (<usize>(lo + off) << 2);
    const s = src + (<usize>lo << 2);
    const n = hi - lo;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(d + o, f32x4.add(v128.load(d + o), v128.load(s + o)));
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      store<f32>(d + o, load<f32>(d + o) + load<f32>(s + o));
    }
  } else {
    for (let ox = lo; ox < hi; ox++) {
      const p = dst + (<usize>(ox * stride + off) << 2);
      store<f32>(p, load<f32>(p) + load<f32>(src + (<usize>ox << 2)));
    }
  }
}

// ---- im2col: col[i] = unfold(x[i]) for n images of [C, H, W], zero padding.
export function im2colForward(col: usize, x: usize, n: i32, C: i32, H: i32, W: i32, FH: i32, FW: i32, stride: i32, pad: i32): void {
  const OH = outSize(H, FH, stride, pad);
  const OW = outSize(W, FW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const plane = <usize>(H * W) << 2;
  let dst = col;
  for (let i = 0; i < n; i++) {
    const img = x + <usize>(i * C) * plane;
    for (let c = 0; c < C; c++) {
      const xc = img + <usize>c * plane;
      for (let ky = 0; ky < FH; ky++) {
        for (let kx = 0; kx < FW; kx++) {
          // the columns inside the row depend on kx only: computed once per oy sweep
          const off = kx - pad;
          const lo = min(OW, firstInside(off, stride));
          const hi = max(lo, endInside(off, stride, W, OW));
          for (let oy = 0; oy < OH; oy++) {
            const iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= H) zeros(dst, OW);
            else gatherRow(dst, xc + (<usize>(iy * W) << 2), OW, off, stride, lo, hi);
            dst += <usize>OW << 2;
          }
        }
      }
    }
  }
}

export function im2colForwardRef(col: usize, x: usize, n: i32, C: i32, H: i32, W: i32, FH: i32, FW: i32, stride: i32, pad: i32): void {
  const OH = outSize(H, FH, stride, pad);
  const OW = outSize(W, FW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const K = C * FH * FW;
  const P = OH * OW;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) for (let ky = 0; ky < FH; ky++) for (let kx = 0; kx < FW; kx++) {
      const r = (c * FH + ky) * FW + kx;
      for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
        const iy = oy * stride - pad + ky;
        const ix = ox * stride - pad + kx;
        const v: f32 = iy >= 0 && iy < H && ix >= 0 && ix < W ? load<f32>(x + (<usize>(((i * C + c) * H + iy) * W + ix) << 2)) : 0;
        store<f32>(col + (<usize>((i * K + r) * P + oy * OW + ox) << 2), v);
      }
    }
  }
}

// ---- col2im (im2col's adjoint): dx[i] = Σ of dcol[i] over every place each
// input element was copied to; padding positions are dropped. dx is overwritten.
// Each dx element receives its terms in (ky, kx) order, as the book's col2im.
export function im2colBackward(dx: usize, dcol: usize, n: i32, C: i32, H: i32, W: i32, FH: i32, FW: i32, stride: i32, pad: i32): void {
  zeros(dx, n * C * H * W);
  const OH = outSize(H, FH, stride, pad);
  const OW = outSize(W, FW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const plane = <usize>(H * W) << 2;
  let src = dcol;
  for (let i = 0; i < n; i++) {
    const img = dx + <usize>(i * C) * plane;
    for (let c = 0; c < C; c++) {
      const dc = img + <usize>c * plane;
      for (let ky = 0; ky < FH; ky++) {
        for (let kx = 0; kx < FW; kx++) {
          const off = kx - pad;
          const lo = firstInside(off, stride);
          const hi = endInside(off, stride, W, OW);
          for (let oy = 0; oy < OH; oy++) {
            const iy = oy * stride - pad + ky;
            if (iy >= 0 && iy < H) scatterAddRow(dc + (<usize>(iy * W) << 2), src, off, stride, lo, hi);
            src += <usize>OW << 2;
          }
        }
      }
    }
  }
}

export function im2colBackwardRef(dx: usize, dcol: usize, n: i32, C: i32, H: i32, W: i32, FH: i32, FW: i32, stride: i32, pad: i32): void {
  for (let i = 0; i < n * C * H * W; i++) store<f32>(dx + (<usize>i << 2), 0);
  const OH = outSize(H, FH, stride, pad);
  const OW = outSize(W, FW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const K = C * FH * FW;
  const P = OH * OW;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) for (let ky = 0; ky < FH; ky++) for (let kx = 0; kx < FW; kx++) {
      const r = (c * FH + ky) * FW + kx;
      for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
        const iy = oy * stride - pad + ky;
        const ix = ox * stride - pad + kx;
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
        const p = dx + (<usize>(((i * C + c) * H + iy) * W + ix) << 2);
        store<f32>(p, load<f32>(p) + load<f32>(dcol + (<usize>((i * K + r) * P + oy * OW + ox) << 2)));
      }
    }
  }
}

// ---- per-channel bias on NCHW data, P = H·W values per channel
// y[i, c, :] += b[c]
export function convBiasForward(y: usize, b: usize, n: i32, C: i32, P: i32): void {
  const image = <usize>(C * P) << 2;
  for (let i = 0; i < n; i++) biasAct(y + <usize>i * image, b, C, P, 0);
}

export function convBiasForwardRef(y: usize, b: usize, n: i32, C: i32, P: i32): void {
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) for (let j = 0; j < P; j++) {
    const q = y + (<usize>((i * C + c) * P + j) << 2);
    store<f32>(q, load<f32>(q) + load<f32>(b + (<usize>c << 2)));
  }
}

// db[c] = Σ_i Σ_p dy[i, c, p]: four lane-wise partial sums per channel, and
// the tails (P mod 4 per image) in a scalar, added at the end.
export function convBiasBackward(db: usize, dy: usize, n: i32, C: i32, P: i32): void {
  const imageBytes = <usize>(C * P) << 2;
  for (let c = 0; c < C; c++) {
    let acc = f32x4.splat(0);
    let tail: f32 = 0;
    let row = dy + (<usize>(c * P) << 2);
    for (let i = 0; i < n; i++) {
      let j = 0;
      for (; j + 4 <= P; j += 4) acc = f32x4.add(acc, v128.load(row + (<usize>j << 2)));
      for (; j < P; j++) tail += load<f32>(row + (<usize>j << 2));
      row += imageBytes;
    }
    store<f32>(db + (<usize>c << 2), hsum(acc) + tail);
  }
}

export function convBiasBackwardRef(db: usize, dy: usize, n: i32, C: i32, P: i32): void {
  for (let c = 0; c < C; c++) {
    let s: f32 = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < P; j++) s += load<f32>(dy + (<usize>((i * C + c) * P + j) << 2));
    store<f32>(db + (<usize>c << 2), s);
  }
}

// ---- the layer's passes over a group of n images, one image at a time, so
// the col matrix is one image's (it stays in cache) and a batch splits across
// threads by groups of images. scratch holds, 16-aligned: the GEMM workspace
// (gemmWorkspaceBytes), col [K, P] and, in backward, dcol [K, P]; see
// convScratchBytes. K = C·FH·FW, P = OH·OW.

export function convScratchBytes(C: i32, H: i32, W: i32, FH: i32, FW: i32, stride: i32, pad: i32): i32 {
  const P = outSize(H, FH, stride, pad) * outSize(W, FW, stride, pad);
  return gemmWorkspaceBytes() + 2 * colBytes(C * FH * FW, P);
}

// @ts-ignore: decorator
@inline
function colBytes(K: i32, P: i32): i32 {
  return ((K * P) << 2) + 15 & ~15;
}

// out[i] = act(W[FN, K] · col(x[i]) + b) for the n images of x, act coded as
// in math.ts (0: none). Bias and activation run on each image's output right
// after its GEMM, while it is in cache, with convBiasForward's and the
// activation kernel's math (the same bits as those passes).
export function convForward(
  out: usize, x: usize, w: usize, b: usize, scratch: usize,
  n: i32, C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, stride: i32, pad: i32, act: i32,
): void {
  const OH = outSize(H, FH, stride, pad);
  const OW = outSize(W, FW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const K = C * FH * FW, P = OH * OW;
  const col = scratch + <usize>gemmWorkspaceBytes();
  const inImage = <usize>(C * H * W) << 2, outImage = <usize>(FN * P) << 2;
  for (let i = 0; i < n; i++) {
    im2colForward(col, x + <usize>i * inImage, 1, C, H, W, FH, FW, stride, pad);
    const y = out + <usize>i * outImage;
    gemm(0, 0, FN, P, K, w, K, col, P, y, P, 0, scratch);
    biasAct(y, b, FN, P, act);
  }
}

// y[c, :] = act(y[c, :] + b[c]) for one image's C channels of P values.
function biasAct(y: usize, b: usize, C: i32, P: i32, act: i32): void {
  let row = y;
  for (let c = 0; c < C; c++) {
    const bs = load<f32>(b + (<usize>c << 2));
    const bv = f32x4.splat(bs);
    let j = 0;
    for (; j + 4 <= P; j += 4) {
      const o = <usize>j << 2;
      v128.store(row + o, activate(f32x4.add(v128.load(row + o), bv), act));
    }
    for (; j < P; j++) {
      const o = <usize>j << 2;
      store<f32>(row + o, activateScalar(load<f32>(row + o) + bs, act));
    }
    row += <usize>P << 2;
  }
}

// For the n images of x and dout: dx[i] = col2im(Wᵀ · dout[i]) and
// dW = Σ_i dout[i] · col(x[i])ᵀ, summed in image order (dW is overwritten;
// zero for n = 0). dx = 0 skips dx (a first layer's input needs no gradient).
export function convBackward(
  dx: usize, dW: usize, x: usize, dout: usize, w: usize, scratch: usize,
  n: i32, C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, stride: i32, pad: i32,
): void {
  const OH = outSize(H, FH, stride, pad);
  const OW = outSize(W, FW, stride, pad);
  const K = C * FH * FW, P = max(0, OH) * max(0, OW);
  if (n <= 0 || P == 0) {
    zeros(dW, FN * K);
    if (dx != 0) zeros(dx, n * C * H * W);
    return;
  }
  const col = scratch + <usize>gemmWorkspaceBytes();
  const dcol = col + <usize>colBytes(K, P);
  const inImage = <usize>(C * H * W) << 2, outImage = <usize>(FN * P) << 2;
  for (let i = 0; i < n; i++) {
    const dy = dout + <usize>i * outImage;
    im2colForward(col, x + <usize>i * inImage, 1, C, H, W, FH, FW, stride, pad);
    gemm(0, 1, FN, K, P, dy, P, col, P, dW, K, i == 0 ? 0 : 1, scratch);
    if (dx == 0) continue;
    gemm(1, 0, K, P, FN, w, K, dy, P, dcol, P, 0, scratch);
    im2colBackward(dx + <usize>i * inImage, dcol, 1, C, H, W, FH, FW, stride, pad);
  }
}
