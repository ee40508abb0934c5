// Convolution: the layer's passes (convForward, convBackward), im2col /
// col2im and the per-channel bias. At stride 1 the passes run direct kernels
// (no im2col): the forward's 4-filter × 8-column tiles (a row's last ≤ 4
// columns two rows to a tile, its last 5 or 6 those of all rows as one row)
// read a zero-padded copy of the image in place;
// the backward's dW tiles of 4 filters × 2 taps sum in vector lanes, and dx
// is that forward on dout with the flipped filters.
// Elsewhere (and where a direct kernel loses, see convBackwardPaths) it is
// im2col + GEMM per image. Where an image has few output positions for its
// filters, the layer runs the forward and the im2col dx by positions instead
// (convForwardIm2colPacked, convInputGradIm2colPacked: colᵀ · Wᵀ and doutᵀ ·
// W on weights packed once per call, then transposed), with the same bits.
//
// Layout (Caffe's, not the book's): for each image, col is [C·FH·FW, OH·OW],
// row r = (c, ky, kx), column = (oy, ox). Then W[FN, C·FH·FW] · col gives the
// image's output [FN, OH·OW] in NCHW order with no transpose, and a row of col
// is OW-long runs of one input row: contiguous when stride is 1, so SIMD copies.
// OH = (H + 2·pad − FH) / stride + 1 (integer division, as the book's int()).
//
// Every kernel works on `n` whole images: a call on images [i0, i1) needs only
// pointers offset to i0, so threads can split a batch. convBackward gives the
// group's dx, dW and db; the layer adds the groups' dW and db in group order.
import { ACT_RELU, activate, activateScalar, deactivateInPlace, ftz, ftzs, hsum, relu, relus } from "./math";
import { gemm, gemmPackedBlocks, gemmWorkspaceBytes } from "./gemm";
import { madd, storeRow } from "./tile";

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
    // 4 columns a store (the scalar loop stored each value on its own: im2col 1.3–1.5× faster at strides 2 and 4)
    const sb = <usize>stride << 2;
    let ox = lo;
    for (; ox + 4 <= hi; ox += 4) {
      const s = src + (<usize>(ox * stride + off) << 2);
      let v = v128.load32_zero(s);
      v = f32x4.replace_lane(v, 1, load<f32>(s + sb));
      v = f32x4.replace_lane(v, 2, load<f32>(s + 2 * sb));
      v = f32x4.replace_lane(v, 3, load<f32>(s + 3 * sb));
      v128.store(dst + (<usize>ox << 2), v);
    }
    for (; ox < hi; ox++) {
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

// db[c] = Σ_i Σ_p dy[i, c, p]: each image's channelSum, added in image order
// to a sum that starts at 0.
export function convBiasBackward(db: usize, dy: usize, n: i32, C: i32, P: i32): void {
  const imageBytes = <usize>(C * P) << 2;
  for (let c = 0; c < C; c++) {
    let s: f32 = 0;
    let row = dy + (<usize>(c * P) << 2);
    for (let i = 0; i < n; i++) {
      s += channelSum(row, P);
      row += imageBytes;
    }
    store<f32>(db + (<usize>c << 2), s);
  }
}

// The sum of P values at row: vector v = ⌊p/4⌋ (p < P − P mod 4) adds into
// accumulator v mod 4, then hsum((a0 + a1) + (a2 + a3)) + the last P mod 4
// values summed in order. Four chains: with one, each add waited for the
// last (0.19 ms of a first layer's [100, 16, 784] db, against 0.09).
// @ts-ignore: decorator
@inline
function channelSum(row: usize, P: i32): f32 {
  const body = P & ~3, body16 = P & ~15;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let j = 0;
  for (; j < body16; j += 16) {
    const q = row + (<usize>j << 2);
    a0 = f32x4.add(a0, v128.load(q));
    a1 = f32x4.add(a1, v128.load(q, 16));
    a2 = f32x4.add(a2, v128.load(q, 32));
    a3 = f32x4.add(a3, v128.load(q, 48));
  }
  // the last 1–3 vectors, in accumulators 0, 1, 2 (v mod 4)
  if (j < body) { a0 = f32x4.add(a0, v128.load(row + (<usize>j << 2))); j += 4; }
  if (j < body) { a1 = f32x4.add(a1, v128.load(row + (<usize>j << 2))); j += 4; }
  if (j < body) { a2 = f32x4.add(a2, v128.load(row + (<usize>j << 2))); j += 4; }
  let tail: f32 = 0;
  for (; j < P; j++) tail += load<f32>(row + (<usize>j << 2));
  return hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3))) + tail;
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
// activation kernel's math (the same bits as those passes). Stride 1 runs the
// direct kernel below when its buffers fit the scratch (they do for 3×3
// filters and larger); both paths give the same bits.
export function convForward(
  out: usize, x: usize, w: usize, b: usize, scratch: usize,
  n: i32, C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, stride: i32, pad: i32, act: i32,
): void {
  const OH = outSize(H, FH, stride, pad);
  const OW = outSize(W, FW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const K = C * FH * FW, P = OH * OW;
  if (convForwardIsDirect(C, H, W, FN, FH, FW, stride, pad) != 0) {
    convForwardDirect(out, x, w, 0, b, scratch, convScratchBytes(C, H, W, FH, FW, 1, pad), n, C, H, W, FN, FH, FW, pad, pad, act, 0, 0);
    return;
  }
  const col = scratch + <usize>gemmWorkspaceBytes();
  const inImage = <usize>(C * H * W) << 2, outImage = <usize>(FN * P) << 2;
  for (let i = 0; i < n; i++) {
    im2colForward(col, x + <usize>i * inImage, 1, C, H, W, FH, FW, stride, pad);
    const y = out + <usize>i * outImage;
    gemm(0, 0, FN, P, K, w, K, col, P, y, P, 0, scratch);
    biasAct(y, b, FN, P, act);
  }
}

// 1 if convForward runs the direct kernel for this shape (stride 1, its
// buffers within convScratchBytes: they are for 3×3 filters and larger), else 0.
export function convForwardIsDirect(C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, stride: i32, pad: i32): i32 {
  if (stride != 1 || outSize(H, FH, stride, pad) <= 0 || outSize(W, FW, stride, pad) <= 0) return 0;
  return directScratchBytes(C, H, W, FN, C * FH * FW, pad, pad) <= convScratchBytes(C, H, W, FH, FW, stride, pad) ? 1 : 0;
}

// Wp = W[FN, K] in the direct kernel's panels (⌈FN/DMR⌉·DMR·K floats, which
// the facade sizes): panel t holds, for each k, the DMR floats
// W[t·DMR .. t·DMR + DMR, k], flushed, 0 past FN. The panels of
// filters [4·t0, …) start at Wp + 4·t0·K floats, where W's rows do.
export function convPackFilters(Wp: usize, w: usize, FN: i32, K: i32): void {
  const panels = (FN + DMR - 1) / DMR;
  for (let t = 0; t < panels; t++) {
    for (let k = 0; k < K; k++) {
      for (let r = 0; r < DMR; r++) {
        const f = t * DMR + r;
        store<f32>(Wp + (<usize>((t * K + k) * DMR + r) << 2), f < FN ? ftzs(load<f32>(w + (<usize>(f * K + k) << 2))) : 0);
      }
    }
  }
}

// convForward on filters packed once by convPackFilters (a frozen net's, whose
// W never changes), where convForwardIsDirect: the direct kernel without its
// packing of W per call (a frozen DeepConvNet's one-image predict 1.17×
// faster), with the same bits. Writes nothing for a shape convForwardIsDirect refuses.
export function convForwardPacked(
  out: usize, x: usize, Wp: usize, b: usize, scratch: usize,
  n: i32, C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, pad: i32, act: i32,
): void {
  if (convForwardIsDirect(C, H, W, FN, FH, FW, 1, pad) == 0) return;
  convForwardDirect(out, x, 0, Wp, b, scratch, convScratchBytes(C, H, W, FH, FW, 1, pad), n, C, H, W, FN, FH, FW, pad, pad, act, 0, 0);
}

// convForward's im2col path on Wᵀ packed once (Wt: packBPanels(1, FN, K, w,
// K, Wt), K·⌈FN/8⌉·8 floats), for outputs of few positions: each image's
// outputs as yt = act(col(x[i])ᵀ · Wᵀ + b) (P × FN, gemmPackedBlocks), then
// transposed into out[i]. gemm(W, col) packs W, its A operand, again for every
// image (4 floats a value in the plain build), and at 7 × 7 positions each
// packed value serves 49 columns: W · col of 512 filters over 49 positions and
// K = 2304 1.3× faster this way (K = 128–256: 1.2×), 196 positions the same
// (docs/BENCHMARKS.md, session 56). Every element is the same products summed
// in the same K blocks and k order, and the bias and activation are the
// epilogue's math: convForward's bits, for any shape and stride. yt: P·FN
// floats of the caller's (not in scratch, which holds the GEMM workspace and
// col as for convForward).
export function convForwardIm2colPacked(
  out: usize, x: usize, Wt: usize, b: usize, scratch: usize, yt: usize,
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
    gemmPackedBlocks(1, P, FN, K, col, P, Wt, yt, FN, b, act, scratch);
    transposeRows(out + <usize>i * outImage, yt, P, FN);
  }
}

// dst[j, i] = src[i, j] for src rows × cols (rows and cols floats a row), the
// values as they are (no flush): 4 × 4 blocks in registers, the edges value
// by value.
function transposeRows(dst: usize, src: usize, rows: i32, cols: i32): void {
  const srcRow = <usize>cols << 2, dstRow = <usize>rows << 2;
  const r4 = rows & ~3, c4 = cols & ~3;
  for (let i = 0; i < r4; i += 4) {
    const s = src + <usize>i * srcRow, d = dst + (<usize>i << 2);
    for (let j = 0; j < c4; j += 4) {
      const o = <usize>j << 2;
      const a0 = v128.load(s + o), a1 = v128.load(s + srcRow + o);
      const a2 = v128.load(s + 2 * srcRow + o), a3 = v128.load(s + 3 * srcRow + o);
      const t0 = i32x4.shuffle(a0, a1, 0, 4, 1, 5), t1 = i32x4.shuffle(a0, a1, 2, 6, 3, 7);
      const t2 = i32x4.shuffle(a2, a3, 0, 4, 1, 5), t3 = i32x4.shuffle(a2, a3, 2, 6, 3, 7);
      const e = d + <usize>j * dstRow;
      v128.store(e, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
      v128.store(e + dstRow, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
      v128.store(e + 2 * dstRow, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
      v128.store(e + 3 * dstRow, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
    }
  }
  for (let i = 0; i < rows; i++) {
    const s = src + <usize>i * srcRow, d = dst + (<usize>i << 2);
    for (let j = i < r4 ? c4 : 0; j < cols; j++) store<u32>(d + <usize>j * dstRow, load<u32>(s + (<usize>j << 2)));
  }
}

// ---- Direct convolution, stride 1 (an implicit GEMM): out[f, oy, ox..ox+8)
// is a 4×8 tile of W[FN, K] · col with the col rows read in place from a
// zero-padded copy of the image, xpad [C, H + 2·pad, W + 2·pad + 8]: row
// k = (c, ky, kx) of the tile's 8 columns is 8 consecutive floats at
// xpad[c, oy + ky, ox + kx] (tables of offsets and steps find it). No im2col
// and no packing of col, which for few channels (K = 9 in a first layer)
// cost more than the products. Each output element is summed in GEMM's
// order (k from 0 in blocks of KC, each block's sum added to the previous
// ones), operands flushed as GEMM packs them, so the bits equal the im2col
// path's. The 8 columns past a row's end read the padding (never out of xpad).
// With 3-tap filter rows (3×3 filters), the 4×8 tile's k loop takes a row an
// iteration (directRowTiles). The relaxed build runs most whole panels as 5×8
// tiles (fiveTiles), with each element's sum unchanged.
const DMR = 4;
const DNR = 8;
const KC = 256; // gemm.ts's K block: the same per-element order

// @ts-ignore: decorator
@inline
function paddedWidth(W: i32, pad: i32): i32 {
  return W + 2 * pad + DNR;
}

// Scratch of the direct path: the packed filters (panels of DMR rows, zero
// past FN), the filter rows' offsets (at most K), the steps between consecutive
// k (K), an edge row of 8 floats (T) and xpad, 16-aligned.
function directScratchBytes(C: i32, H: i32, W: i32, FN: i32, K: i32, padH: i32, padW: i32): i32 {
  const panels = (FN + DMR - 1) / DMR;
  return (panels * DMR * K + 2 * K + DMR * DNR + C * (H + 2 * padH) * paddedWidth(W, padW) + 3) << 2;
}

// Scratch of the rows' last 5 or 6 columns (see remainderTiles), after
// directScratchBytes: the panel's outputs there ([DMR, npad], npad their
// count rounded up to 8), the steps between consecutive k (K) and the
// columns' operands for each kx ([FW, C, PH, rem] and 8 floats read past).
// @ts-ignore: decorator
@inline
function remainderBytes(C: i32, K: i32, PH: i32, OH: i32, FW: i32, rem: i32): i64 {
  const npad = (<i64>OH * rem + DNR - 1) & ~(DNR - 1);
  return (<i64>DMR * npad + <i64>K + <i64>FW * C * PH * rem + DNR + 8) << 2;
}

// With dact (an activation code), each image's output then goes through that
// activation's backward with `saved` (deactivateInPlace): convBackward's dx.
// packed: W already in panels (convPackFilters), or 0 to pack w into scratch.
// room: the bytes at scratch, which decide whether rows ending with 5 or 6
// columns run them as remainderTiles (else in an 8-column tile each).
function convForwardDirect(
  out: usize, x: usize, w: usize, packed: usize, b: usize, scratch: usize, room: i64,
  n: i32, C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, padH: i32, padW: i32, act: i32,
  saved: usize, dact: i32,
): void {
  const OH = H + 2 * padH - FH + 1, OW = W + 2 * padW - FW + 1;
  const K = C * FH * FW, P = OH * OW;
  const PH = H + 2 * padH, PW = paddedWidth(W, padW);
  const panels = (FN + DMR - 1) / DMR;
  const Wp = packed != 0 ? packed : scratch;
  const rows = scratch + (<usize>(panels * DMR * K) << 2);
  const steps = rows + (<usize>(C * FH) << 2);
  const T = (steps + (<usize>K << 2) + 15) & ~15;
  const xpad = T + (DMR * DNR << 2);
  if (packed == 0) convPackFilters(Wp, w, FN, K);
  for (let r = 0; r < C * FH; r++) store<i32>(rows + (<usize>r << 2), ((r / FH * PH + r % FH) * PW) << 2);
  for (let k = 0; k < K; k++) {
    const r = k / FW, next = k + 1 < K ? load<i32>(rows + (<usize>((k + 1) / FW) << 2)) + ((k + 1) % FW << 2) : 0;
    store<i32>(steps + (<usize>k << 2), next - load<i32>(rows + (<usize>r << 2)) - (k % FW << 2));
  }
  zeros(xpad, C * PH * PW);
  const inImage = <usize>(C * H * W) << 2, outImage = <usize>(FN * P) << 2;
  // a row's last OW mod 8 columns, when at most 4, go two rows to a tile after the panel's rows (panelTails);
  // when 5 or 6, all rows' in remainderTiles where the scratch holds their operands (else, and for 7, where
  // the remainder would save at most 1 tile in 8, in 8-column tiles)
  const tail = OW % DNR <= DNR / 2 ? OW % DNR : 0;
  const last = OW % DNR;
  const rem = (last == 5 || last == 6) && FN > 1
    && <i64>directScratchBytes(C, H, W, FN, K, padH, padW) + remainderBytes(C, K, PH, OH, FW, last) <= room ? last : 0;
  const wide = OW - tail - rem;
  // the remainder's buffers (remainderBytes) past xpad, and its steps (xr's layout: k = (c, ky, kx) at
  // [kx, c, ky, ·] rows of rem floats)
  const Yr = (xpad + (<usize>(C * PH * PW) << 2) + 15) & ~15;
  const npad = (OH * rem + DNR - 1) & ~(DNR - 1);
  const stepsR = Yr + (<usize>(DMR * npad) << 2);
  const xr = (stepsR + (<usize>K << 2) + 15) & ~15;
  if (rem != 0) for (let k = 0; k < K; k++) {
    store<i32>(stepsR + (<usize>k << 2), (remainderOffset(k + 1, C, FH, FW, PH, rem) - remainderOffset(k, C, FH, FW, PH, rem)) << 2);
  }
  for (let i = 0; i < n; i++) {
    padImage(xpad, x + <usize>i * inImage, C, H, W, padH, padW, PH, PW);
    if (rem != 0) remainderOperands(xr, xpad + (<usize>wide << 2), C, PH, PW, FW, rem);
    const y = out + <usize>i * outImage;
    if (FN == 1) {
      oneChannel(y, Wp, b, rows, steps, xpad, K, FW, OH, OW, PW, act, T);
      if (dact != 0) deactivateInPlace(y, saved + <usize>i * outImage, FN * P, dact);
      continue;
    }
    // bias and ReLU (or none) in the last K block's tiles; sigmoid and
    // tanh after, on the rows written (their constants, in the tiles,
    // made V8 spill the accumulators)
    const fused = act == 0 || act == ACT_RELU;
    // the relaxed build: each of the first `five` whole panels with one filter of the last `spare` whole
    // panels as 5-filter tiles (fiveRows); the spare panels then run only their tails
    const full = FN / DMR, spare = ASC_FEATURE_RELAXED_SIMD ? full / 5 : 0, five = DMR * spare;
    for (let t = 0; t < panels; t++) {
      const mr = min(DMR, FN - t * DMR);
      const a = Wp + (<usize>(t * K * DMR) << 2);
      const panelOut = y + (<usize>(t * DMR * P) << 2);
      const bt: usize = b == 0 ? <usize>0 : b + (<usize>(t * DMR) << 2);
      const bl: usize = fused ? bt : 0;
      if (ASC_FEATURE_RELAXED_SIMD && t < five) {
        const f5 = DMR * (full - spare) + t; // the tile's fifth filter: lane t mod 4 of spare panel t / 4
        const a5 = Wp + (<usize>((full - spare + t / DMR) * K * DMR + t % DMR) << 2);
        fiveRows(a, a5, panelOut, y + (<usize>(f5 * P) << 2), rows, steps, xpad, bt, b == 0 ? 0 : b + (<usize>f5 << 2),
          K, FW, OH, OW, wide, P, PW, act, tail, T);
      } else if (t < full - spare || t >= full) {
        // the first K block over all rows, then the others added to it (two call sites:
        // Binaryen inlines a function called once, and inlined here the
        // tiles' k loop would share V8's registers with these loops and spill)
        directTiles(0, min(KC, K), <usize>load<i32>(rows), a, steps, xpad, panelOut, wide, P, 0, K <= KC ? bl : 0, act, mr, T, OH, PW, OW, FW == 3);
        for (let k0 = KC; k0 < K; k0 += KC) {
          const start = <usize>load<i32>(rows + (<usize>(k0 / FW) << 2)) + (<usize>(k0 % FW) << 2);
          directTiles(k0, min(K, k0 + KC), start, a + (<usize>(k0 * DMR) << 2), steps, xpad, panelOut, wide, P, 1, k0 + KC >= K ? bl : 0, act, mr, T, OH, PW, OW, FW == 3);
        }
        if (bt != 0 && !fused && tail == 0) for (let oy = 0; oy < OH; oy++) rowsBiasAct(panelOut + (<usize>(oy * OW) << 2), P, mr, wide, bt, act, T);
      }
      if (tail != 0) panelTails(xpad + (<usize>wide << 2), rows, steps, a, panelOut, bt, K, FW, OH, OW, PW, act, mr, tail, T);
      if (rem != 0) remainderTiles(a, panelOut + (<usize>wide << 2), Yr, stepsR, xr, bt, C, K, FH, FW, OH, OW, PH, act, mr, rem, T);
    }
    if (dact != 0) deactivateInPlace(y, saved + <usize>i * outImage, FN * P, dact);
  }
}

// A whole panel (a, out) and a fifth filter (lane 0 at a5, a panel's k step
// apart; out5) of the relaxed build, each output row's wide columns as
// 5-filter tiles (fiveTiles) by K blocks as directTiles, the bias bt (b5 for
// the fifth; 0 for none) and ReLU in the last block, and for sigmoid and tanh
// without a tail after the row. Each element is directTiles' sum in
// directTiles' order: the same bits whichever tile computes it.
function fiveRows(a: usize, a5: usize, out: usize, out5: usize, rows: usize, steps: usize, xpad: usize, bt: usize, b5: usize,
  K: i32, FW: i32, OH: i32, OW: i32, wide: i32, P: i32, PW: i32, act: i32, tail: i32, T: usize): void {
  const fused = act == 0 || act == ACT_RELU;
  const bl: usize = fused ? bt : 0, bl5: usize = fused ? b5 : 0;
  const last = K <= KC;
  fiveTiles(0, min(KC, K), <usize>load<i32>(rows), a, a5, steps, xpad, out, out5, wide, P, 0, last ? bl : 0, last ? bl5 : 0, act, T, OH, PW, OW, FW == 3);
  for (let k0 = KC; k0 < K; k0 += KC) {
    const start = <usize>load<i32>(rows + (<usize>(k0 / FW) << 2)) + (<usize>(k0 % FW) << 2);
    const o = <usize>(k0 * DMR) << 2, end = k0 + KC >= K;
    fiveTiles(k0, min(K, k0 + KC), start, a + o, a5 + o, steps, xpad, out, out5, wide, P, 1, end ? bl : 0, end ? bl5 : 0, act, T, OH, PW, OW, FW == 3);
  }
  if (bt != 0 && !fused && tail == 0) {
    for (let oy = 0; oy < OH; oy++) {
      rowsBiasAct(out + (<usize>(oy * OW) << 2), P, DMR, wide, bt, act, T);
      rowsBiasAct(out5 + (<usize>(oy * OW) << 2), P, 1, wide, b5, act, T);
    }
  }
}

// directTiles with a fifth filter (10 accumulators, 10 chains: the relaxed
// build's fused multiply-add waits 4 cycles on its chain, so directTiles' 8
// leave AMD Zen 5's two FMA pipes no slack: 89% of a 12-chain loop). The
// panel's 4 weights of a step are one vector, broadcast lane by lane with a
// shuffle next to its multiply-adds; the fifth is a broadcast load. V8 loads
// everything a step reads before its first multiply-add, so 10 accumulators,
// 2 B vectors, the weights vector, the fifth broadcast and a shuffled one
// fill its 15 XMM registers (12 chains need 16: a 6-filter tile with
// broadcast loads spilled 6 accumulators). The relaxed DeepConvNet step
// 1.02× faster on 1 thread (Zen 5: 118.5–118.8 against 120.9–121.3 ms). Rows
// 0–3 are written at crow (ldc floats apart), row 4 at crow5; b5: the fifth
// filter's bias in the last K block, or 0. All nrows output rows in one call,
// as directTiles; rows3: 3-tap filter rows (then a row of taps an iteration,
// see fiveRowTiles).
function fiveTiles(k0: i32, k1: i32, start: usize, a0: usize, a5: usize, steps: usize, x0: usize, c0: usize, c50: usize,
  OW: i32, ldc: i32, beta: f32, b: usize, b5: usize, act: i32, T: usize, nrows: i32, xstride: i32, cstride: i32, rows3: bool): void {
  const doRelu = act == ACT_RELU;
  const rowBytes = <usize>ldc << 2;
  // head and aEnd as directTiles'; the fifth filter's weights are a fixed step on from the panel's
  const head = rows3 ? min(k1, k0 + (3 - k0 % 3) % 3) : k1;
  const aEnd = a0 + (<usize>(k1 - k0) << 4);
  const fifth = a5 - a0;
  for (let r = 0; r < nrows; r++) {
    const xrow = x0 + (<usize>(r * xstride) << 2);
    const crow = c0 + (<usize>(r * cstride) << 2), crow5 = c50 + (<usize>(r * cstride) << 2);
    fiveRowTiles(k0, head, start, a0, aEnd, fifth, steps, xrow, crow, crow5, OW, rowBytes, beta, b, b5, doRelu, T);
  }
}

// fiveTiles' tiles of one output row, their k loop as directRowTiles': one k
// at a time up to head, then a filter row of 3 taps an iteration with an exit
// after each tap. One k an iteration, V8's loop (unrolled twice) ran 57
// instructions per 20 multiply-adds (its counter, bound and table step every
// k, a reloaded interrupt check every other); 72 per 30 now.
// @ts-ignore: decorator
@inline
function fiveRowTiles(k0: i32, head: i32, start: usize, a0: usize, aEnd: usize, fifth: usize, steps: usize, xrow: usize, crow: usize,
  crow5: usize, OW: i32, rowBytes: usize, beta: f32, b: usize, b5: usize, doRelu: bool, T: usize): void {
  for (let ox = 0; ox < OW; ox += DNR) {
    const nr = min(DNR, OW - ox);
    const c = crow + (<usize>ox << 2), c5 = crow5 + (<usize>ox << 2);
    let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
    let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
    let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
    let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
    let p = xrow + (<usize>ox << 2) + start;
    let d = steps + (<usize>k0 << 2);
    let a = a0;
    let b0: v128, b1: v128, w: v128, w4: v128, av: v128;
    for (let k = k0; k < head; k++) {
      b0 = v128.load(p);
      b1 = v128.load(p, 16);
      w = v128.load(a);
      w4 = v128.load32_splat(a + fifth);
      av = i32x4.shuffle(w, w, 0, 0, 0, 0);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = i32x4.shuffle(w, w, 1, 1, 1, 1);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = i32x4.shuffle(w, w, 2, 2, 2, 2);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = i32x4.shuffle(w, w, 3, 3, 3, 3);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      c40 = madd(w4, b0, c40); c41 = madd(w4, b1, c41);
      a += DMR << 2;
      p += <usize>load<i32>(d);
      d += 4;
    }
    if (a != aEnd) do {
      b0 = v128.load(p);
      b1 = v128.load(p, 16);
      w = v128.load(a);
      w4 = v128.load32_splat(a + fifth);
      av = i32x4.shuffle(w, w, 0, 0, 0, 0);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = i32x4.shuffle(w, w, 1, 1, 1, 1);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = i32x4.shuffle(w, w, 2, 2, 2, 2);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = i32x4.shuffle(w, w, 3, 3, 3, 3);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      c40 = madd(w4, b0, c40); c41 = madd(w4, b1, c41);
      a += DMR << 2;
      if (a == aEnd) break;
      b0 = v128.load(p, 4);
      b1 = v128.load(p, 20);
      w = v128.load(a);
      w4 = v128.load32_splat(a + fifth);
      av = i32x4.shuffle(w, w, 0, 0, 0, 0);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = i32x4.shuffle(w, w, 1, 1, 1, 1);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = i32x4.shuffle(w, w, 2, 2, 2, 2);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = i32x4.shuffle(w, w, 3, 3, 3, 3);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      c40 = madd(w4, b0, c40); c41 = madd(w4, b1, c41);
      a += DMR << 2;
      if (a == aEnd) break;
      b0 = v128.load(p, 8);
      b1 = v128.load(p, 24);
      w = v128.load(a);
      w4 = v128.load32_splat(a + fifth);
      av = i32x4.shuffle(w, w, 0, 0, 0, 0);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = i32x4.shuffle(w, w, 1, 1, 1, 1);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = i32x4.shuffle(w, w, 2, 2, 2, 2);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = i32x4.shuffle(w, w, 3, 3, 3, 3);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      c40 = madd(w4, b0, c40); c41 = madd(w4, b1, c41);
      a += DMR << 2;
      p += <usize>(load<i32>(d, 8) + 8);
      d += 12;
    } while (a != aEnd);
    if (nr == DNR) {
      wholeTile(c, rowBytes, c00, c01, c10, c11, c20, c21, c30, c31, beta, b, doRelu);
      directRow(c5, c40, c41, beta, b5, doRelu, DNR, T);
      continue;
    }
    partialRow(c, c00, c01, beta, b, doRelu, nr, T);
    partialRow(c + rowBytes, c10, c11, beta, b == 0 ? 0 : b + 4, doRelu, nr, T);
    partialRow(c + 2 * rowBytes, c20, c21, beta, b == 0 ? 0 : b + 8, doRelu, nr, T);
    partialRow(c + 3 * rowBytes, c30, c31, beta, b == 0 ? 0 : b + 12, doRelu, nr, T);
    partialRow(c5, c40, c41, beta, b5, doRelu, nr, T);
  }
}

// directRow as a call, for fiveTiles' rows of fewer than 8 columns (a row's
// last, where OW mod 8 is 7 or neither a remainder nor a tail takes them):
// its five inlined copies made the relaxed wasm 1.4 KB larger.
function partialRow(p: usize, v0: v128, v1: v128, beta: f32, bias: usize, doRelu: bool, nr: i32, T: usize): void {
  directRow(p, v0, v1, beta, bias, doRelu, nr, T);
}

// One output channel (FN = 1, as dx of a 1-channel first layer is): a 4×8
// filter tile would compute 3 zero filters for every real one, so the tiles
// are 3 output rows × 8 columns of the one channel (oneChannelTiles), by
// rows of tiles; the same arithmetic per element, so the same bits.
function oneChannel(y: usize, Wp: usize, b: usize, rows: usize, steps: usize, xpad: usize,
  K: i32, FW: i32, OH: i32, OW: i32, PW: i32, act: i32, T: usize): void {
  const fused = act == 0 || act == ACT_RELU;
  const bl: usize = fused ? b : 0;
  for (let oy = 0; oy < OH; oy += ROWS1) {
    const mr = min(ROWS1, OH - oy);
    const xrow = xpad + (<usize>(oy * PW) << 2);
    const crow = y + (<usize>(oy * OW) << 2);
    // rows past mr re-read the last valid one (never past xpad), and are not written
    const s1 = mr > 1 ? <usize>PW << 2 : 0, s2 = mr > 2 ? <usize>(2 * PW) << 2 : s1;
    oneChannelTiles(0, min(KC, K), <usize>load<i32>(rows), Wp, steps, xrow, s1, s2, crow, OW, 0, K <= KC ? bl : 0, act, mr, T);
    for (let k0 = KC; k0 < K; k0 += KC) {
      const start = <usize>load<i32>(rows + (<usize>(k0 / FW) << 2)) + (<usize>(k0 % FW) << 2);
      oneChannelTiles(k0, min(K, k0 + KC), start, Wp + (<usize>(k0 * DMR) << 2), steps, xrow, s1, s2, crow, OW, 1, k0 + KC >= K ? bl : 0, act, mr, T);
    }
    if (b != 0 && !fused) for (let r = 0; r < mr; r++) rowsBiasAct(crow + (<usize>(r * OW) << 2), OW, 1, OW, b, act, T);
  }
}

const ROWS1 = 3;

// directTiles for one output channel: 3 output rows × 8 columns, rows 1 and 2
// reading xpad s1 and s2 bytes below row 0, all sharing each k's weight
// (lane 0 of the packed panel, DMR floats per k). 6 accumulators, 6 B
// vectors, a broadcast and a product: 14 registers even if V8 loads them all
// before the first multiply.
function oneChannelTiles(k0: i32, k1: i32, start: usize, a0: usize, steps: usize, xrow: usize, s1: usize, s2: usize,
  crow: usize, OW: i32, beta: f32, b: usize, act: i32, mr: i32, T: usize): void {
  const doRelu = act == ACT_RELU;
  const rowBytes = <usize>OW << 2;
  for (let ox = 0; ox < OW; ox += DNR) {
    const nr = min(DNR, OW - ox);
    const c = crow + (<usize>ox << 2);
    let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
    let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
    let p = xrow + (<usize>ox << 2) + start;
    let d = steps + (<usize>k0 << 2);
    let a = a0;
    for (let k = k0; k < k1; k++) {
      const av = v128.load32_splat(a);
      c00 = madd(av, v128.load(p), c00); c01 = madd(av, v128.load(p, 16), c01);
      c10 = madd(av, v128.load(p + s1), c10); c11 = madd(av, v128.load(p + s1, 16), c11);
      c20 = madd(av, v128.load(p + s2), c20); c21 = madd(av, v128.load(p + s2, 16), c21);
      a += DMR << 2;
      p += <usize>load<i32>(d);
      d += 4;
    }
    if (nr == DNR && mr == ROWS1) {
      if (beta != 0) {
        c00 = f32x4.add(v128.load(c), c00); c01 = f32x4.add(v128.load(c, 16), c01);
        c10 = f32x4.add(v128.load(c + rowBytes), c10); c11 = f32x4.add(v128.load(c + rowBytes, 16), c11);
        c20 = f32x4.add(v128.load(c + 2 * rowBytes), c20); c21 = f32x4.add(v128.load(c + 2 * rowBytes, 16), c21);
      }
      if (b != 0) {
        const bv = v128.load32_splat(b);
        c00 = f32x4.add(c00, bv); c01 = f32x4.add(c01, bv);
        c10 = f32x4.add(c10, bv); c11 = f32x4.add(c11, bv);
        c20 = f32x4.add(c20, bv); c21 = f32x4.add(c21, bv);
        if (doRelu) {
          c00 = relu(c00); c01 = relu(c01); c10 = relu(c10); c11 = relu(c11); c20 = relu(c20); c21 = relu(c21);
        }
      }
      v128.store(c, c00); v128.store(c, c01, 16);
      v128.store(c + rowBytes, c10); v128.store(c + rowBytes, c11, 16);
      v128.store(c + 2 * rowBytes, c20); v128.store(c + 2 * rowBytes, c21, 16);
      continue;
    }
    directRow(c, c00, c01, beta, b, doRelu, nr, T);
    if (mr > 1) directRow(c + rowBytes, c10, c11, beta, b, doRelu, nr, T);
    if (mr > 2) directRow(c + 2 * rowBytes, c20, c21, beta, b, doRelu, nr, T);
  }
}

// c[r, :OW] = act(c[r, :OW] + b[r]) for the mr rows (ldc floats apart) a row
// of tiles has just written, still in L1: the bias and activation kernels'
// math, once per row rather than in each tile, whose accumulators V8 spilled
// to make room for the activation's constants.
function rowsBiasAct(c: usize, ldc: i32, mr: i32, OW: i32, b: usize, act: i32, T: usize): void {
  for (let r = 0; r < mr; r++) {
    const row = c + (<usize>(r * ldc) << 2);
    const bv = v128.load32_splat(b + (<usize>r << 2));
    let j = 0;
    if (act == ACT_RELU) {
      for (; j + 4 <= OW; j += 4) {
        const o = <usize>j << 2;
        v128.store(row + o, relu(f32x4.add(v128.load(row + o), bv)));
      }
    } else {
      for (; j + 4 <= OW; j += 4) {
        const o = <usize>j << 2;
        v128.store(row + o, activate(f32x4.add(v128.load(row + o), bv), act));
      }
    }
    if (j < OW) {
      // the last OW mod 4 values as one vector through T (the same bits as
      // the scalar activation; T's other lanes are computed and dropped)
      const n = OW - j, o = <usize>j << 2;
      for (let q = 0; q < n; q++) store<f32>(T + (<usize>q << 2), load<f32>(row + o + (<usize>q << 2)));
      v128.store(T, activate(f32x4.add(v128.load(T), bv), act));
      for (let q = 0; q < n; q++) store<f32>(row + o + (<usize>q << 2), load<f32>(T + (<usize>q << 2)));
    }
  }
}

// xpad[c, padH + iy, padW + ix] = ftz(x[c, iy, ix]); the rest of xpad stays zero.
// A row of 4 or more floats that is not a multiple of 4 ends with one vector
// that overlaps the last whole one (the same values written twice) rather
// than value by value, and the pointers step row by row: the rows here are
// short (8–28 floats), and the per-row work was most of a copy that took
// 1.1–2 cycles a float.
function padImage(xpad: usize, x: usize, C: i32, H: i32, W: i32, padH: i32, padW: i32, PH: i32, PW: i32): void {
  const rowBytes = <usize>W << 2, whole = rowBytes & ~15, dstRow = <usize>PW << 2;
  const last = rowBytes - 16;
  let src = x;
  for (let c = 0; c < C; c++) {
    let dst = xpad + (<usize>((c * PH + padH) * PW + padW) << 2);
    for (let iy = 0; iy < H; iy++) {
      for (let j: usize = 0; j < whole; j += 16) v128.store(dst + j, ftz(v128.load(src + j)));
      if (whole != rowBytes) {
        if (W >= 4) v128.store(dst + last, ftz(v128.load(src + last)));
        else for (let j = whole; j < rowBytes; j += 4) store<f32>(dst + j, ftzs(load<f32>(src + j)));
      }
      src += rowBytes;
      dst += dstRow;
    }
  }
}

// The 4×8 tiles of nrows output rows (OW columns each; row r's operands from
// x0 + r·xstride floats, its outputs at c0 + r·cstride floats), over k in
// [k0, k1) (row k0 of the tile's operand at the row's operands + start): C
// tile = beta·C + Σ_k a[k] ⊗ x[row of k], beta 0 or 1, the valid mr rows and
// columns written; with a bias pointer b (the last K block), then + b[row]
// and, for act = ReLU, relu(·). All rows in one call per K block: a call per
// row cost up to 5% of a conv layer's pass on AMD Zen 3 (K = 576 on 8×8
// images: 3 calls per 8-column row). Each element's sum is unchanged.
function directTiles(k0: i32, k1: i32, start: usize, a0: usize, steps: usize, x0: usize, c0: usize, OW: i32,
  ldc: i32, beta: f32, b: usize, act: i32, mr: i32, T: usize, nrows: i32, xstride: i32, cstride: i32, rows3: bool): void {
  const doRelu = act == ACT_RELU;
  const rowBytes = <usize>ldc << 2;
  // What depends only on the call is computed here, once: inside the row's
  // tiles V8 recomputed it in every tile (two divisions by 3 among them), and
  // at K = 9 a quarter of a tile is its prologue and epilogue (the first
  // layer's forward 1.05× on AMD Zen 3). head: the k of the first filter
  // row's start (for 3-tap rows), up to which the tiles go one k at a time;
  // the tiles before wholeEnd have all 8 columns and 4 filters.
  const head = rows3 ? min(k1, k0 + (3 - k0 % 3) % 3) : k1;
  const wholeEnd = mr == DMR ? OW & ~(DNR - 1) : 0;
  const aEnd = a0 + (<usize>(k1 - k0) << 4);
  for (let r = 0; r < nrows; r++) {
    const xrow = x0 + (<usize>(r * xstride) << 2), crow = c0 + (<usize>(r * cstride) << 2);
    directRowTiles(k0, head, start, a0, aEnd, steps, xrow, crow, OW, wholeEnd, rowBytes, beta, b, doRelu, mr, T);
  }
}

// directTiles' tiles of one output row (operands from xrow, outputs at crow).
// @ts-ignore: decorator
@inline
function directRowTiles(k0: i32, head: i32, start: usize, a0: usize, aEnd: usize, steps: usize, xrow: usize, crow: usize, OW: i32,
  wholeEnd: i32, rowBytes: usize, beta: f32, b: usize, doRelu: bool, mr: i32, T: usize): void {
  for (let ox = 0; ox < OW; ox += DNR) {
    const c = crow + (<usize>ox << 2);
    let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
    let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
    let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
    // B row k is at p, which steps by steps[k] bytes to row k + 1 (one float
    // along a filter row, a jump to the next one). 8 accumulators, 2 B vectors,
    // 4 broadcasts and a product: 15 registers even if V8 loads everything
    // before the first multiply (it does here; a 6×8 tile spilled)
    let p = xrow + (<usize>ox << 2) + start;
    let d = steps + (<usize>k0 << 2);
    let a = a0;
    // one k at a time up to head (all of them but for 3-tap filter rows)
    for (let k = k0; k < head; k++) {
      const b0 = v128.load(p);
      const b1 = v128.load(p, 16);
      let av = v128.load32_splat(a);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = v128.load32_splat(a, 4);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = v128.load32_splat(a, 8);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = v128.load32_splat(a, 12);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      a += DMR << 2;
      p += <usize>load<i32>(d);
      d += 4;
    }
    // then a filter row of 3 taps an iteration: its operands 1 float apart at
    // offsets V8 folds into the loads, one step from the table a row (the
    // block may end inside a row). 41 instructions per 12 multiply-add pairs
    // in V8's code, against 47 one k at a time (whose table step, counter and
    // loop checks come every k); conv forward 1.01–1.06× on AMD Zen 3. The
    // exits after each tap keep V8 from loading all three taps' operands
    // before the first multiply (that spilled 12 registers). Each element's
    // sum runs in the same k order: the same bits. The weights end at aEnd.
    if (a != aEnd) do {
      let b0: v128, b1: v128, av: v128;
      b0 = v128.load(p);
      b1 = v128.load(p, 16);
      av = v128.load32_splat(a);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = v128.load32_splat(a, 4);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = v128.load32_splat(a, 8);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = v128.load32_splat(a, 12);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      a += DMR << 2;
      if (a == aEnd) break;
      b0 = v128.load(p, 4);
      b1 = v128.load(p, 20);
      av = v128.load32_splat(a);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = v128.load32_splat(a, 4);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = v128.load32_splat(a, 8);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = v128.load32_splat(a, 12);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      a += DMR << 2;
      if (a == aEnd) break;
      b0 = v128.load(p, 8);
      b1 = v128.load(p, 24);
      av = v128.load32_splat(a);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = v128.load32_splat(a, 4);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = v128.load32_splat(a, 8);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = v128.load32_splat(a, 12);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      a += DMR << 2;
      p += <usize>(load<i32>(d, 8) + 8);
      d += 12;
    } while (a != aEnd);
    if (ox < wholeEnd) {
      wholeTile(c, rowBytes, c00, c01, c10, c11, c20, c21, c30, c31, beta, b, doRelu);
      continue;
    }
    // rows past mr are the zero filters of the last panel: not written
    const nr = min(DNR, OW - ox);
    directRow(c, c00, c01, beta, b, doRelu, nr, T);
    if (mr > 1) directRow(c + rowBytes, c10, c11, beta, b == 0 ? 0 : b + 4, doRelu, nr, T);
    if (mr > 2) directRow(c + 2 * rowBytes, c20, c21, beta, b == 0 ? 0 : b + 8, doRelu, nr, T);
    if (mr > 3) directRow(c + 3 * rowBytes, c30, c31, beta, b == 0 ? 0 : b + 12, doRelu, nr, T);
  }
}

// Offset in floats of k = (c, ky, kx)'s operand row in remainderOperands' layout.
// @ts-ignore: decorator
@inline
function remainderOffset(k: i32, C: i32, FH: i32, FW: i32, PH: i32, rem: i32): i32 {
  const c = k / (FH * FW), ky = k / FW % FH, kx = k % FW;
  return ((kx * C + c) * PH + ky) * rem;
}

// xr[kx, c, row, 0..rem) = xpad[c, row, wide + kx .. + rem) (xtail = xpad's
// column `wide`) for rem of 5 or 6: the operands of the rows' last rem columns
// laid out so that, for each k = (c, ky, kx), those columns of all output
// rows are consecutive floats from row ky (output row oy, column j at
// [(oy + ky)·rem + j]), as an 8-column tile reads them.
function remainderOperands(xr: usize, xtail: usize, C: i32, PH: i32, PW: i32, FW: i32, rem: i32): void {
  const back = <usize>(rem - 4) << 2;
  let dst = xr;
  for (let kx = 0; kx < FW; kx++) {
    for (let r = 0; r < C * PH; r++) {
      copyShortRow(dst, xtail + (<usize>(r * PW + kx) << 2), back);
      dst += <usize>rem << 2;
    }
  }
}

// The last rem (5 or 6) columns of every output row of a panel (a, output at
// out + its row's first such column), which an 8-column tile of one row ran
// at the cost of 8 (a 14-wide layer's 14 columns at the cost of 16): all
// rows' as one row of OH·rem positions in directTiles over xr
// (remainderOperands, steps stepsR), by K blocks into Yr [mr, npad], so each
// element is directTiles' sum in directTiles' order (the same bits); then for
// sigmoid and tanh the bias and activation, and the rows' columns copied out.
function remainderTiles(a: usize, out: usize, Yr: usize, stepsR: usize, xr: usize, bt: usize,
  C: i32, K: i32, FH: i32, FW: i32, OH: i32, OW: i32, PH: i32, act: i32, mr: i32, rem: i32, T: usize): void {
  const fused = act == 0 || act == ACT_RELU;
  const bl: usize = fused ? bt : 0;
  const n = OH * rem, npad = (n + DNR - 1) & ~(DNR - 1);
  directTiles(0, min(KC, K), 0, a, stepsR, xr, Yr, n, npad, 0, K <= KC ? bl : 0, act, mr, T, 1, 0, 0, false);
  for (let k0 = KC; k0 < K; k0 += KC) {
    const start = <usize>remainderOffset(k0, C, FH, FW, PH, rem) << 2;
    directTiles(k0, min(K, k0 + KC), start, a + (<usize>(k0 * DMR) << 2), stepsR, xr, Yr, n, npad, 1, k0 + KC >= K ? bl : 0, act, mr, T, 1, 0, 0, false);
  }
  if (bt != 0 && !fused) rowsBiasAct(Yr, npad, mr, n, bt, act, T);
  const back = <usize>(rem - 4) << 2, P = OH * OW;
  for (let r = 0; r < mr; r++) {
    for (let oy = 0; oy < OH; oy++) {
      copyShortRow(out + (<usize>(r * P + oy * OW) << 2), Yr + (<usize>(r * npad + oy * rem) << 2), back);
    }
  }
}

// dst[0..n) = src[0..n) for 4 < n ≤ 8 floats (back = (n − 4)·4 bytes): two
// vectors, the second overlapping the first, reading and writing nothing past n.
// @ts-ignore: decorator
@inline
function copyShortRow(dst: usize, src: usize, back: usize): void {
  v128.store(dst, v128.load(src));
  v128.store(dst + back, v128.load(src + back));
}

// The last nr ≤ 4 columns of every output row of a panel, two rows to a tile
// (tailTiles, all row pairs in one call per K block, as directTiles); then, for
// sigmoid and tanh, the bias and activation on the panel's rows (which
// directTiles left to them: see convForwardDirect). 28-wide rows end with 4
// columns, which an 8-column tile of one row ran at the cost of 8: a [16, 28,
// 28] → 16 forward took 32/28 of the time of a 32-wide one per output (a
// 4-column tile of 4 chains waits on the adds' latency and costs as much).
// Two rows' tails fill the tile. Each element is directTiles' sum in
// directTiles' order: the same bits.
function panelTails(xtail: usize, rows: usize, steps: usize, a: usize, out: usize, bt: usize,
  K: i32, FW: i32, OH: i32, OW: i32, PW: i32, act: i32, mr: i32, nr: i32, T: usize): void {
  const P = OH * OW;
  const fused = act == 0 || act == ACT_RELU;
  const b: usize = fused ? bt : 0;
  const c = out + (<usize>(OW - nr) << 2);
  // two call sites, as directTiles'
  tailTiles(0, min(KC, K), xtail + <usize>load<i32>(rows), a, steps, c, P, 0, K <= KC ? b : 0, act, mr, nr, T, OH, PW, OW, FW == 3);
  for (let k0 = KC; k0 < K; k0 += KC) {
    const start = <usize>load<i32>(rows + (<usize>(k0 / FW) << 2)) + (<usize>(k0 % FW) << 2);
    tailTiles(k0, min(K, k0 + KC), xtail + start, a + (<usize>(k0 * DMR) << 2), steps, c, P, 1, k0 + KC >= K ? b : 0, act, mr, nr, T, OH, PW, OW, FW == 3);
  }
  if (bt != 0 && !fused) for (let oy = 0; oy < OH; oy++) rowsBiasAct(out + (<usize>(oy * OW) << 2), P, mr, OW, bt, act, T);
}

// panelTails' tiles over k in [k0, k1): for each pair of output rows (the
// last row alone when OH is odd), 4 filters × (nr columns of the first row,
// nr of the second), operands from x0 (+ PW floats a row), outputs at c0 (+
// OW floats a row); directTiles' registers, k loop and epilogue, with the
// second operand a row on (at q) where directTiles' is 4 floats on: a copy
// rather than a shared loop, so that directTiles keeps its immediate offset
// of 16 and its V8 code unchanged.
function tailTiles(k0: i32, k1: i32, x0: usize, a0: usize, steps: usize, c0: usize,
  ldc: i32, beta: f32, b: usize, act: i32, mr: i32, nr: i32, T: usize, OH: i32, PW: i32, OW: i32, rows3: bool): void {
  const doRelu = act == ACT_RELU;
  const rowBytes = <usize>ldc << 2;
  const head3 = (3 - k0 % 3) % 3;
  const head = rows3 ? min(k1, k0 + head3) : k1;
  const aEnd = a0 + (<usize>(k1 - k0) << 4);
  for (let oy = 0; oy < OH; oy += 2) {
    const two = oy + 1 < OH;
    const s1: usize = two ? <usize>PW << 2 : 0;
    const c = c0 + (<usize>(oy * OW) << 2);
    let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
    let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
    let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
    let p = x0 + (<usize>(oy * PW) << 2);
    let d = steps + (<usize>k0 << 2);
    let a = a0;
    for (let k = k0; k < head; k++) {
      const b0 = v128.load(p);
      const b1 = v128.load(p + s1);
      let av = v128.load32_splat(a);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = v128.load32_splat(a, 4);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = v128.load32_splat(a, 8);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = v128.load32_splat(a, 12);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      a += DMR << 2;
      p += <usize>load<i32>(d);
      d += 4;
    }
    if (a != aEnd) do {
      const q = p + s1;
      let b0: v128, b1: v128, av: v128;
      b0 = v128.load(p);
      b1 = v128.load(q);
      av = v128.load32_splat(a);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = v128.load32_splat(a, 4);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = v128.load32_splat(a, 8);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = v128.load32_splat(a, 12);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      a += DMR << 2;
      if (a == aEnd) break;
      b0 = v128.load(p, 4);
      b1 = v128.load(q, 4);
      av = v128.load32_splat(a);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = v128.load32_splat(a, 4);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = v128.load32_splat(a, 8);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = v128.load32_splat(a, 12);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      a += DMR << 2;
      if (a == aEnd) break;
      b0 = v128.load(p, 8);
      b1 = v128.load(q, 8);
      av = v128.load32_splat(a);
      c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
      av = v128.load32_splat(a, 4);
      c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
      av = v128.load32_splat(a, 8);
      c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
      av = v128.load32_splat(a, 12);
      c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
      a += DMR << 2;
      p += <usize>(load<i32>(d, 8) + 8);
      d += 12;
    } while (a != aEnd);
    tailRows(c, rowBytes, c00, c10, c20, c30, beta, b, doRelu, mr, nr, T);
    if (two) tailRows(c + (<usize>OW << 2), rowBytes, c01, c11, c21, c31, beta, b, doRelu, mr, nr, T);
  }
}

// One output row's tail of tailTiles: nr ≤ 4 values of each of the mr filters
// (rowBytes apart), as directRow. A tail of 4 (28-wide rows) is written
// whole, past directRow's copy of the lanes to T for nr < 8: the first
// layer's forward 1.04–1.05× on AMD Zen 3 (the same shortcut inside
// directRow, after its vector store, gained half of that).
// @ts-ignore: decorator
@inline
function tailRows(c: usize, rowBytes: usize, v0: v128, v1: v128, v2: v128, v3: v128,
  beta: f32, b: usize, doRelu: bool, mr: i32, nr: i32, T: usize): void {
  if (nr == 4) {
    v128.store(c, epilogue4(c, v0, beta, b, doRelu));
    if (mr > 1) v128.store(c + rowBytes, epilogue4(c + rowBytes, v1, beta, b == 0 ? 0 : b + 4, doRelu));
    if (mr > 2) v128.store(c + 2 * rowBytes, epilogue4(c + 2 * rowBytes, v2, beta, b == 0 ? 0 : b + 8, doRelu));
    if (mr > 3) v128.store(c + 3 * rowBytes, epilogue4(c + 3 * rowBytes, v3, beta, b == 0 ? 0 : b + 12, doRelu));
    return;
  }
  const zero = f32x4.splat(0);
  directRow(c, v0, zero, beta, b, doRelu, nr, T);
  if (mr > 1) directRow(c + rowBytes, v1, zero, beta, b == 0 ? 0 : b + 4, doRelu, nr, T);
  if (mr > 2) directRow(c + 2 * rowBytes, v2, zero, beta, b == 0 ? 0 : b + 8, doRelu, nr, T);
  if (mr > 3) directRow(c + 3 * rowBytes, v3, zero, beta, b == 0 ? 0 : b + 12, doRelu, nr, T);
}

// A whole 4×8 tile of directTiles (rows rowBytes apart at c, bias b[0..4)
// or none): directRow's math with each test once per tile, not per vector
// (with K = 9 the per-vector tests cost as much as the multiply-adds).
// @ts-ignore: decorator
@inline
function wholeTile(c: usize, rowBytes: usize, c00: v128, c01: v128, c10: v128, c11: v128,
  c20: v128, c21: v128, c30: v128, c31: v128, beta: f32, b: usize, doRelu: bool): void {
  if (beta != 0) {
    c00 = f32x4.add(v128.load(c), c00); c01 = f32x4.add(v128.load(c, 16), c01);
    c10 = f32x4.add(v128.load(c + rowBytes), c10); c11 = f32x4.add(v128.load(c + rowBytes, 16), c11);
    c20 = f32x4.add(v128.load(c + 2 * rowBytes), c20); c21 = f32x4.add(v128.load(c + 2 * rowBytes, 16), c21);
    c30 = f32x4.add(v128.load(c + 3 * rowBytes), c30); c31 = f32x4.add(v128.load(c + 3 * rowBytes, 16), c31);
  }
  if (b != 0) {
    let bv = v128.load32_splat(b);
    c00 = f32x4.add(c00, bv); c01 = f32x4.add(c01, bv);
    bv = v128.load32_splat(b, 4);
    c10 = f32x4.add(c10, bv); c11 = f32x4.add(c11, bv);
    bv = v128.load32_splat(b, 8);
    c20 = f32x4.add(c20, bv); c21 = f32x4.add(c21, bv);
    bv = v128.load32_splat(b, 12);
    c30 = f32x4.add(c30, bv); c31 = f32x4.add(c31, bv);
    if (doRelu) {
      c00 = relu(c00); c01 = relu(c01); c10 = relu(c10); c11 = relu(c11);
      c20 = relu(c20); c21 = relu(c21); c30 = relu(c30); c31 = relu(c31);
    }
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(c + rowBytes, c10); v128.store(c + rowBytes, c11, 16);
  v128.store(c + 2 * rowBytes, c20); v128.store(c + 2 * rowBytes, c21, 16);
  v128.store(c + 3 * rowBytes, c30); v128.store(c + 3 * rowBytes, c31, 16);
}

// Writes nr ≤ 8 values of one tile row: beta·p + (v0, v1) as storeRow, and
// with a bias pointer (the last K block) then · + bias[0] and, if doRelu,
// relu(·): the bias and ReLU kernels' math. Whole groups of 4 use vectors,
// the rest goes lane by lane through T (reading nothing of C past nr; the
// same bits).
// @ts-ignore: decorator
@inline
function directRow(p: usize, v0: v128, v1: v128, beta: f32, bias: usize, doRelu: bool, nr: i32, T: usize): void {
  if (nr == DNR) {
    v128.store(p, epilogue4(p, v0, beta, bias, doRelu));
    v128.store(p, epilogue4(p + 16, v1, beta, bias, doRelu), 16);
    return;
  }
  v128.store(T, v0);
  v128.store(T, v1, 16);
  let j = 0;
  if (nr >= 4) {
    v128.store(p, epilogue4(p, v0, beta, bias, doRelu));
    j = 4;
  }
  for (; j < nr; j++) {
    const q = p + (<usize>j << 2);
    let v = load<f32>(T + (<usize>j << 2));
    if (beta != 0) v = load<f32>(q) + v;
    if (bias != 0) {
      v = v + load<f32>(bias);
      if (doRelu) v = relus(v);
    }
    store<f32>(q, v);
  }
}

// directRow's arithmetic on 4 values at p.
// @ts-ignore: decorator
@inline
function epilogue4(p: usize, v: v128, beta: f32, bias: usize, doRelu: bool): v128 {
  if (beta != 0) v = f32x4.add(v128.load(p), v);
  if (bias != 0) {
    v = f32x4.add(v, v128.load32_splat(bias));
    if (doRelu) v = relu(v);
  }
  return v;
}

// Scalar reference of convForward: each output summed in GEMM's order (k =
// (c, ky, kx) from 0, in blocks of KC), operands flushed, then bias and act.
export function convForwardRef(
  out: usize, x: usize, w: usize, b: usize,
  n: i32, C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, stride: i32, pad: i32, act: i32,
): void {
  const OH = outSize(H, FH, stride, pad);
  const OW = outSize(W, FW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const K = C * FH * FW;
  for (let i = 0; i < n; i++) for (let f = 0; f < FN; f++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    let v: f32 = 0;
    for (let k0 = 0; k0 < K; k0 += KC) {
      let s: f32 = 0;
      for (let k = k0; k < min(K, k0 + KC); k++) {
        const c = k / (FH * FW), ky = k / FW % FH, kx = k % FW;
        const iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
        const xv: f32 = iy >= 0 && iy < H && ix >= 0 && ix < W ? ftzs(load<f32>(x + (<usize>(((i * C + c) * H + iy) * W + ix) << 2))) : 0;
        s += ftzs(load<f32>(w + (<usize>(f * K + k) << 2))) * xv;
      }
      v = k0 == 0 ? s : v + s;
    }
    store<f32>(out + (<usize>(((i * FN + f) * OH + oy) * OW + ox) << 2), activateScalar(v + load<f32>(b + (<usize>f << 2)), act));
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

// For the n images of x and dout: dx[i] = ∂L/∂x[i], dW = Σ_i dout[i] ⊗ x[i]
// and db = Σ_i Σ_p dout[i, :, p] (convBiasBackward's order) (dW and db are
// overwritten; zero for n = 0). dx = 0 skips dx (a first layer's input needs
// no gradient), db = 0 skips db. Stride 1 runs the direct kernels below where
// they apply (convBackwardPaths); the rest is im2col + GEMM per image: dW +=
// dout[i] · col(x[i])ᵀ, summed in image order, and dx[i] = col2im(Wᵀ ·
// dout[i]). dx has the same bits wherever the batch is split; dW and db are
// sums over the call's n images (the layer adds its groups' sums in order).
// act (1–3: ReLU, sigmoid, tanh; 0 none) runs that activation's backward on
// each image's dx as soon as it is written, with `saved` (laid out as dx:
// what the activation layer before this one kept), so dx is what that
// layer's backward would return, with its bits.
export function convBackward(
  dx: usize, dW: usize, db: usize, x: usize, dout: usize, w: usize, scratch: usize,
  n: i32, C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, stride: i32, pad: i32,
  saved: usize, act: i32,
): void {
  const OH = outSize(H, FH, stride, pad);
  const OW = outSize(W, FW, stride, pad);
  const K = C * FH * FW, P = max(0, OH) * max(0, OW);
  if (n <= 0 || P == 0) {
    zeros(dW, FN * K);
    if (db != 0) zeros(db, FN);
    if (dx != 0) zeros(dx, n * C * H * W);
    return;
  }
  const paths = convBackwardPaths(C, H, W, FN, FH, FW, stride, pad);
  const inImage = <usize>(C * H * W) << 2, outImage = <usize>(FN * P) << 2;
  // one channel's dW and dx image by image, when both scratches fit side by side
  if (dx != 0 && (paths & 5) == 5
    && oneChannelBackwardBytes(H, W, FN, FW, pad) <= <i64>convScratchBytes(C, H, W, FH, FW, stride, pad)) {
    oneChannelBackward(dx, dW, db, x, dout, w, scratch, n, H, W, FN, FW, pad, saved, act);
    return;
  }
  // the direct dW paths sum db too, from each image's dout as it is packed (in L1)
  if (paths & 8) {
    convWeightsByFilters(dW, db, x, dout, scratch, n, C, H, W, FN, FH, pad);
  } else if (paths & 1) {
    convWeightsDirect(dW, db, x, dout, scratch, n, C, H, W, FN, FH, FW, pad);
  } else {
    if (db != 0) convBiasBackward(db, dout, n, FN, P);
    const col = scratch + <usize>gemmWorkspaceBytes();
    for (let i = 0; i < n; i++) {
      im2colForward(col, x + <usize>i * inImage, 1, C, H, W, FH, FW, stride, pad);
      gemm(0, 1, FN, K, P, dout + <usize>i * outImage, P, col, P, dW, K, i == 0 ? 0 : 1, scratch);
    }
  }
  if (dx == 0) return;
  if (paths & 4) {
    oneChannelInputGrad(dx, dout, w, scratch, n, H, W, FN, FW, pad, saved, act);
    return;
  }
  if (paths & 2) {
    // dx is the 'full' correlation of dout with the flipped filters, channels
    // and filters swapped: a forward convolution (pad FH−1−pad, FW−1−pad) of
    // dout with Wt[c, f, ky, kx] = W[f, c, FH−1−ky, FW−1−kx], no bias
    const Wt = scratch;
    flipFilters(Wt, w, C, FN, FH, FW);
    const rest = (Wt + (<usize>(C * FN * FH * FW) << 2) + 15) & ~15;
    const room = <i64>convScratchBytes(C, H, W, FH, FW, stride, pad) - <i64>(rest - scratch);
    convForwardDirect(dx, dout, Wt, 0, 0, rest, room, n, FN, OH, OW, C, FH, FW, FH - 1 - pad, FW - 1 - pad, 0, saved, act);
    return;
  }
  const dcol = scratch + <usize>gemmWorkspaceBytes();
  for (let i = 0; i < n; i++) {
    gemm(1, 0, K, P, FN, w, K, dout + <usize>i * outImage, P, dcol, P, 0, scratch);
    im2colBackward(dx + <usize>i * inImage, dcol, 1, C, H, W, FH, FW, stride, pad);
    if (act != 0) deactivateInPlace(dx + <usize>i * inImage, saved + <usize>i * inImage, C * H * W, act);
  }
}

// dx of convBackward's im2col path by positions, on W packed once (Wp:
// packBPanels(0, K, FN, w, K, Wp), FN·⌈K/8⌉·8 floats): each image's dcolᵀ =
// dout[i]ᵀ · W (P × K), transposed into dcol, both in the scratch's two
// columns, and added back into dx[i] by col2im, then
// through the backward of the activation that kept `saved` (act, as
// convBackward). As convForwardIm2colPacked for the forward: W packed once
// rather than Wᵀ for every image, faster where each image has few positions
// for its K = C·FH·FW columns; every element the same sum in the same blocks
// of filters and order as convBackward's im2col dx, so its bits, and those
// of its direct dx for 1 × 1 filters (one tap; with more, the direct dx sums
// each element's taps in another order). Writes dx only (convBackward with
// dx = 0 gives dW and db).
export function convInputGradIm2colPacked(
  dx: usize, dout: usize, Wp: usize, scratch: usize,
  n: i32, C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, stride: i32, pad: i32, saved: usize, act: i32,
): void {
  const OH = outSize(H, FH, stride, pad);
  const OW = outSize(W, FW, stride, pad);
  const K = C * FH * FW, P = max(0, OH) * max(0, OW);
  if (P == 0) {
    zeros(dx, n * C * H * W);
    return;
  }
  // the scratch's two columns (convScratchBytes): dcolᵀ, then dcol
  const dcolT = scratch + <usize>gemmWorkspaceBytes(), dcol = dcolT + <usize>colBytes(K, P);
  const inImage = <usize>(C * H * W) << 2, outImage = <usize>(FN * P) << 2;
  for (let i = 0; i < n; i++) {
    gemmPackedBlocks(1, P, K, FN, dout + <usize>i * outImage, P, Wp, dcolT, K, 0, 0, scratch);
    transposeRows(dcol, dcolT, P, K);
    im2colBackward(dx + <usize>i * inImage, dcol, 1, C, H, W, FH, FW, stride, pad);
    if (act != 0) deactivateInPlace(dx + <usize>i * inImage, saved + <usize>i * inImage, C * H * W, act);
  }
}

// Which passes of convBackward run direct: bit 1 dW, bit 8 dW by filter lanes
// (convWeightsByFilters), bit 2 dx, bit 4 dx of one input channel and 3-row
// filters (oneChannelInputGrad), each when stride is 1, its buffers fit the
// scratch (convScratchBytes) and it is the faster one: dW by filter lanes for
// 3-wide filters, at least 8 of them, and at most 8 output columns or fewer
// than 16 that are not a multiple of 4 (dW+db of [100, 32, H, H]·64 against
// the lanes over columns, paired: 12–14% faster at 8 and 9 columns, 25% at
// 7, 8% at 11, 1–5% at 13–15; 4% slower at 12, 13% at 16, 27% at 28; and
// 24–44% faster than im2col + GEMM at 1 to 4); else dW for images of at
// least DW_MIN_CHUNKS 4-column chunks (on smaller ones a tile's fixed cost
// outweighs its few steps), dx for at least
// DX_MIN_C input channels (its tile computes 4 channels at a time) or for one
// (3 rows of the one channel at a time: convForwardDirect's FN = 1), and pads
// within the filter (the full correlation's pad FH−1−pad is not negative).
export function convBackwardPaths(C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, stride: i32, pad: i32): i32 {
  if (stride != 1) return 0;
  const OH = outSize(H, FH, stride, pad), OW = outSize(W, FW, stride, pad);
  if (OH <= 0 || OW <= 0) return 0;
  const have = <i64>convScratchBytes(C, H, W, FH, FW, stride, pad);
  const K = <i64>(C * FH * FW);
  let paths = 0;
  if (FW == 3 && FN >= 8 && (OW <= 8 || (OW < 16 && (OW & 3) != 0)) && byFiltersScratchBytes(C, H, W, FN, K, pad) <= have) paths |= 8;
  else if (<i64>OH * <i64>((OW + 3) >> 2) >= <i64>DW_MIN_CHUNKS && weightsScratchBytes(C, H, W, FN, K, pad) <= have) paths |= 1;
  if (C == 1 && FH == 3 && pad < FH && pad < FW && oneChannelGradBytes(H, W, FN, FW, pad) <= have) return paths | 4;
  if ((C >= DX_MIN_C || C == 1) && pad < FH && pad < FW) {
    const Kt = <i64>FN * FH * FW;
    const panels = <i64>((C + DMR - 1) / DMR);
    const need = ((<i64>C * Kt + 3) << 2) + ((panels * DMR * Kt + 2 * Kt + DMR * DNR
      + <i64>FN * (OH + 2 * (FH - 1 - pad)) * <i64>paddedWidth(OW, FW - 1 - pad) + 3) << 2);
    if (need <= have) paths |= 2;
  }
  return paths;
}

const DW_MIN_CHUNKS = 8;
const DX_MIN_C = 4;

// ---- dx of one input channel, 3-row filters, stride 1: dx[y, x] = Σ over
// taps (f, kx) of Σ_ky W[f, 0, 2 − ky, FW − 1 − kx] · dpad[f, y + ky, x + kx],
// dpad being dout zero-padded by (2 − pad, FW − 1 − pad). One channel out
// leaves no filter to share an input load with, so the tiles share it between
// output rows instead: 4 rows × 4 columns, each of the tap's 6 input rows
// loaded once and multiplied by the up to 3 weights that reach an output row
// (12 products for 6 loads and 3 broadcasts, against 6 loads for 6 products in
// the forward's one-channel tile). Each element is one sum in (f, kx, ky)
// order. Scratch (oneChannelGradBytes): the flushed weights, 4 floats a tap
// (ky = 0, 1, 2, then a zero), the steps between taps' input rows, an edge row of
// 4 floats, and dpad [FN, H + 2, W + FW + 7] with 3 zero rows more at the
// end, which the bottom tile's rows past H read.
// dpad's row width in oneChannelInputGrad's scratch: dout's OW columns padded
// by FW − 1 − pad on each side, and 8 more.
// @ts-ignore: decorator
@inline
function oneChannelGradWidth(W: i32, FW: i32, pad: i32): i32 {
  return paddedWidth(W + 2 * pad - FW + 1, FW - 1 - pad);
}

// @ts-ignore: decorator
@inline
function oneChannelGradBytes(H: i32, W: i32, FN: i32, FW: i32, pad: i32): i64 {
  const OW = <i64>W + 2 * pad - FW + 1, PW = OW + 2 * (FW - 1 - pad) + DNR;
  const taps = <i64>FN * FW;
  return (taps << 4) + (taps << 2) + 32 + ((<i64>FN * (H + 2) * PW + 3 * PW) << 2);
}

function oneChannelInputGrad(dx: usize, dout: usize, w: usize, scratch: usize, n: i32, H: i32, W: i32, FN: i32, FW: i32, pad: i32, saved: usize, act: i32): void {
  oneChannelGradInit(w, scratch, H, W, FN, FW, pad);
  const OH = H + 2 * pad - 2, OW = W + 2 * pad - FW + 1;
  const inImage = <usize>(H * W) << 2, outImage = <usize>(FN * OH * OW) << 2;
  for (let i = 0; i < n; i++) {
    oneChannelGradImage(dx + <usize>i * inImage, dout + <usize>i * outImage, saved + <usize>i * inImage, scratch, H, W, FN, FW, pad, act);
  }
}

// dpad in oneChannelInputGrad's scratch (after the weights, the steps and T).
// @ts-ignore: decorator
@inline
function oneChannelGradPad(scratch: usize, FN: i32, FW: i32): usize {
  const taps = <usize>(FN * FW);
  return ((scratch + (taps << 4) + (taps << 2) + 15) & ~15) + 16;
}

// oneChannelInputGrad's scratch before the images: the flushed weights, the
// steps between taps' input rows, and dpad zeroed.
function oneChannelGradInit(w: usize, scratch: usize, H: i32, W: i32, FN: i32, FW: i32, pad: i32): void {
  const PH = H + 2, PW = oneChannelGradWidth(W, FW, pad);
  const wq = scratch, steps = wq + (<usize>(FN * FW) << 4);
  for (let f = 0; f < FN; f++) for (let kx = 0; kx < FW; kx++) {
    const t = f * FW + kx;
    for (let ky = 0; ky < 3; ky++) {
      store<f32>(wq + (<usize>(t * 4 + ky) << 2), ftzs(load<f32>(w + (<usize>((f * 3 + 2 - ky) * FW + FW - 1 - kx) << 2))));
    }
    store<f32>(wq + (<usize>(t * 4 + 3) << 2), 0);
    store<i32>(steps + (<usize>t << 2), kx + 1 < FW ? 4 : (PH * PW - FW + 1) << 2);
  }
  zeros(oneChannelGradPad(scratch, FN, FW), FN * PH * PW + 3 * PW);
}

// One image's dx at out: its dout padded into dpad (dout 0: packDout has
// written it there), the tiles, then the activation's backward with saved.
function oneChannelGradImage(out: usize, dout: usize, saved: usize, scratch: usize, H: i32, W: i32, FN: i32, FW: i32, pad: i32, act: i32): void {
  const OH = H + 2 * pad - 2, OW = W + 2 * pad - FW + 1;
  const PH = H + 2, PW = oneChannelGradWidth(W, FW, pad);
  const taps = FN * FW;
  const steps = scratch + (<usize>taps << 4);
  const dpad = oneChannelGradPad(scratch, FN, FW), T = dpad - 16;
  if (dout != 0) padImage(dpad, dout, FN, OH, OW, 2 - pad, FW - 1 - pad, PH, PW);
  for (let y = 0; y < H; y += 4) {
    oneChannelGradTiles(out + (<usize>(y * W) << 2), scratch, steps, taps, dpad + (<usize>(y * PW) << 2), <usize>PW << 2, W, min(4, H - y), T);
  }
  if (act != 0) deactivateInPlace(out, saved, H * W, act);
}

// dW and dx of a one-channel layer with 3-row filters (convWeightsDirect's and
// oneChannelInputGrad's passes) image by image, so each image's dout is read
// and flushed once: packDout writes dx's padded copy beside dW's blocks (the
// copy alone was a quarter of dx at a first layer's shape on AMD Zen 3).
// Scratch (oneChannelBackwardBytes): convWeightsDirect's, then
// oneChannelInputGrad's. Each element is summed as in the two passes: the same bits.
// @ts-ignore: decorator
@inline
function oneChannelBackwardBytes(H: i32, W: i32, FN: i32, FW: i32, pad: i32): i64 {
  return ((weightsScratchBytes(1, H, W, FN, 3 * FW, pad) + 15) & ~15) + oneChannelGradBytes(H, W, FN, FW, pad);
}

function oneChannelBackward(dx: usize, dW: usize, db: usize, x: usize, dout: usize, w: usize, scratch: usize,
  n: i32, H: i32, W: i32, FN: i32, FW: i32, pad: i32, saved: usize, act: i32): void {
  const K = 3 * FW;
  const grad = (scratch + <usize>weightsScratchBytes(1, H, W, FN, K, pad) + 15) & ~15;
  weightsInit(db, scratch, 1, H, W, FN, 3, FW, pad);
  oneChannelGradInit(w, grad, H, W, FN, FW, pad);
  const OH = H + 2 * pad - 2, OW = W + 2 * pad - FW + 1;
  const PH = H + 2, PW = oneChannelGradWidth(W, FW, pad);
  // dout[f, oy, ox] goes to dpad[f, oy + 2 − pad, ox + FW − 1 − pad] (oneChannelGradImage's padImage)
  const xd = oneChannelGradPad(grad, FN, FW) + (<usize>((2 - pad) * PW + FW - 1 - pad) << 2);
  const inImage = <usize>(H * W) << 2, outImage = <usize>(FN * OH * OW) << 2;
  for (let i = 0; i < n; i++) {
    weightsImage(i == 0, x + <usize>i * inImage, dout + <usize>i * outImage, db, scratch, 1, H, W, FN, 3, FW, pad,
      xd, <usize>PW << 2, <usize>(PH * PW) << 2);
    oneChannelGradImage(dx + <usize>i * inImage, 0, saved + <usize>i * inImage, grad, H, W, FN, FW, pad, act);
  }
  weightsFinish(dW, scratch, FN, K);
}

// One row of oneChannelInputGrad's tiles: dx rows [0, mr) at c (W floats
// each) from dpad rows at xrow, rowBytes apart. 4 accumulators, 3 weights, 6
// input vectors and a product: 14 registers even if V8 loads all 6 rows
// before the first multiply. 8 columns (8 accumulators) spilled. A product
// then a sum in the relaxed build too (mulAdd): fused, each step's 12
// multiply-adds would wait on 4 chains, 3 deep (the relaxed first layer's
// backward 1.13–1.14× faster unfused on AMD Zen 5).
function oneChannelGradTiles(c: usize, a0: usize, steps: usize, taps: i32, xrow: usize, rowBytes: usize, W: i32, mr: i32, T: usize): void {
  const outRow = <usize>W << 2;
  for (let ox = 0; ox < W; ox += 4) {
    let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
    let p = xrow + (<usize>ox << 2);
    let a = a0, d = steps;
    for (let t = 0; t < taps; t++) {
      const w0 = v128.load32_splat(a), w1 = v128.load32_splat(a, 4), w2 = v128.load32_splat(a, 8);
      const q = p + rowBytes * 3;
      const v0 = v128.load(p), v1 = v128.load(p + rowBytes), v2 = v128.load(p + rowBytes * 2);
      const v3 = v128.load(q), v4 = v128.load(q + rowBytes), v5 = v128.load(q + rowBytes * 2);
      c0 = mulAdd(w0, v0, c0); c1 = mulAdd(w0, v1, c1); c2 = mulAdd(w0, v2, c2); c3 = mulAdd(w0, v3, c3);
      c0 = mulAdd(w1, v1, c0); c1 = mulAdd(w1, v2, c1); c2 = mulAdd(w1, v3, c2); c3 = mulAdd(w1, v4, c3);
      c0 = mulAdd(w2, v2, c0); c1 = mulAdd(w2, v3, c1); c2 = mulAdd(w2, v4, c2); c3 = mulAdd(w2, v5, c3);
      a += 16;
      p += <usize>load<i32>(d);
      d += 4;
    }
    const o = c + (<usize>ox << 2);
    if (mr == 4 && ox + 4 <= W) {
      v128.store(o, c0); v128.store(o + outRow, c1); v128.store(o + outRow * 2, c2); v128.store(o + outRow * 3, c3);
      continue;
    }
    const nr = min(4, W - ox);
    for (let r = 0; r < mr; r++) {
      v128.store(T, r == 0 ? c0 : r == 1 ? c1 : r == 2 ? c2 : c3);
      for (let j = 0; j < nr; j++) store<f32>(o + outRow * r + (<usize>j << 2), load<f32>(T + (<usize>j << 2)));
    }
  }
}

// Wt[c, f, ky, kx] = W[f, c, FH − 1 − ky, FW − 1 − kx]
function flipFilters(Wt: usize, w: usize, C: i32, FN: i32, FH: i32, FW: i32): void {
  const T = FH * FW;
  for (let c = 0; c < C; c++) for (let f = 0; f < FN; f++) for (let t = 0; t < T; t++) {
    store<f32>(Wt + (<usize>((c * FN + f) * T + t) << 2), load<f32>(w + (<usize>((f * C + c) * T + T - 1 - t) << 2)));
  }
}

// ---- dW direct, stride 1: dW[f, k] for k = (c, ky, kx) is the dot product,
// over the group's images and output positions, of dout[f, oy, ox] and
// xpad[c, oy + ky, ox + kx]. A tile of 4 filters × 2 taps keeps 8 vector
// accumulators over one image's rows, lane j summing the positions with ox ≡ j
// (mod 4), in (image, oy, ox) order; between images the lanes wait in acc, and
// at the end dW = (l0 + l1) + (l2 + l3). Each image's dout is copied, flushed,
// into dpad [filter blocks of 4][OH][OW/4 chunks][4 filters][4 lanes], zero past
// FN and OW, so a chunk's 4 filter vectors are 64 consecutive bytes and the
// lanes past a row's end add zero products. Scratch (weightsScratchBytes): acc
// [blocks][K taps][4 filters][4 lanes], dpad, xpad as the forward's, and the
// taps' offsets in xpad. An odd K's last tap runs a 1-tap tile.
// @ts-ignore: decorator
@inline
function weightsScratchBytes(C: i32, H: i32, W: i32, FN: i32, K: i64, pad: i32): i64 {
  const OH = <i64>(H + 2 * pad), PW = <i64>paddedWidth(W, pad);
  const blocks = <i64>((FN + 3) >> 2);
  const chunks = <i64>((W + 2 * pad + 3) >> 2); // ≥ the output's: OW ≤ W + 2·pad
  return (blocks * K << 6) + (blocks * OH * chunks << 6) + (<i64>C * OH * PW << 2) + (K << 2);
}

function convWeightsDirect(
  dW: usize, db: usize, x: usize, dout: usize, scratch: usize,
  n: i32, C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, pad: i32,
): void {
  weightsInit(db, scratch, C, H, W, FN, FH, FW, pad);
  const OH = H + 2 * pad - FH + 1, OW = W + 2 * pad - FW + 1;
  const inImage = <usize>(C * H * W) << 2, outImage = <usize>(FN * OH * OW) << 2;
  for (let i = 0; i < n; i++) {
    weightsImage(i == 0, x + <usize>i * inImage, dout + <usize>i * outImage, db, scratch, C, H, W, FN, FH, FW, pad, 0, 0, 0);
  }
  weightsFinish(dW, scratch, FN, C * FH * FW);
}

// convWeightsDirect's scratch layout (weightsScratchBytes): acc, then dpad
// (blocks of OH·chunks 64-byte chunks), then xpad, then the taps' offsets.
// @ts-ignore: decorator
@inline
function weightsDpad(scratch: usize, blocks: i32, K: i32): usize {
  return scratch + (<usize>(blocks * K) << 6);
}

// @ts-ignore: decorator
@inline
function weightsXpad(dpad: usize, blocks: i32, OH: i32, chunks: i32): usize {
  return dpad + <usize>blocks * (<usize>(OH * chunks) << 6);
}

// @ts-ignore: decorator
@inline
function weightsOffs(xpad: usize, C: i32, PH: i32, PW: i32): usize {
  return xpad + (<usize>(C * PH * PW) << 2);
}

// convWeightsDirect's scratch before the images: the taps' offsets in xpad,
// dpad, db and xpad zeroed.
function weightsInit(db: usize, scratch: usize, C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, pad: i32): void {
  const OH = H + 2 * pad - FH + 1, OW = W + 2 * pad - FW + 1;
  const K = C * FH * FW;
  const blocks = (FN + 3) >> 2, chunks = (OW + 3) >> 2;
  const PH = H + 2 * pad, PW = paddedWidth(W, pad);
  const dpad = weightsDpad(scratch, blocks, K);
  const xpad = weightsXpad(dpad, blocks, OH, chunks);
  const offs = weightsOffs(xpad, C, PH, PW);
  for (let k = 0; k < K; k++) {
    const c = k / (FH * FW), ky = k / FW % FH, kx = k % FW;
    store<i32>(offs + (<usize>k << 2), ((c * PH + ky) * PW + kx) << 2);
  }
  zeros(dpad, blocks * OH * chunks << 4);
  if (db != 0) zeros(db, FN);
  zeros(xpad, C * PH * PW);
}

// One image's part of convWeightsDirect (x and dout the image's; first: the
// first image, whose tiles start from zero): x padded, dout packed (and, with
// xd, also padded for dx: see packDout), the tiles.
function weightsImage(first: bool, x: usize, dout: usize, db: usize, scratch: usize, C: i32, H: i32, W: i32,
  FN: i32, FH: i32, FW: i32, pad: i32, xd: usize, xdRow: usize, xdPlane: usize): void {
  const OH = H + 2 * pad - FH + 1, OW = W + 2 * pad - FW + 1;
  const K = C * FH * FW;
  const blocks = (FN + 3) >> 2, chunks = (OW + 3) >> 2;
  const PH = H + 2 * pad, PW = paddedWidth(W, pad);
  const acc = scratch;
  const dpad = weightsDpad(scratch, blocks, K);
  const blockBytes = <usize>(OH * chunks) << 6;
  const xpad = weightsXpad(dpad, blocks, OH, chunks);
  const offs = weightsOffs(xpad, C, PH, PW);
  const xRow = <usize>PW << 2;
  padImage(xpad, x, C, H, W, pad, pad, PH, PW);
  packDout(dpad, db, dout, FN, OH, OW, chunks, xd, xdRow, xdPlane);
  for (let fb = 0; fb < blocks; fb++) {
    const d = dpad + <usize>fb * blockBytes;
    const a = acc + (<usize>(fb * K) << 6);
    for (let k = 0; k + 1 < K; k += 2) {
      const x0 = xpad + <usize>load<i32>(offs + (<usize>k << 2));
      const x1 = xpad + <usize>load<i32>(offs + (<usize>k << 2), 4);
      // two call sites, so that Binaryen keeps the tile a function of its
      // own (inlined here, its loop shared V8's registers and spilled)
      if (first) weightsTile(a + (<usize>k << 6), d, x0, x1, OH, chunks, xRow, true);
      else weightsTile(a + (<usize>k << 6), d, x0, x1, OH, chunks, xRow, false);
    }
    if (K & 1) {
      // the odd last tap alone (a 2-tap tile would compute a tap for nothing:
      // a tenth of the work for K = 9)
      const x0 = xpad + <usize>load<i32>(offs + (<usize>(K - 1) << 2));
      if (first) weightsTile1(a + (<usize>(K - 1) << 6), d, x0, OH, chunks, xRow, true);
      else weightsTile1(a + (<usize>(K - 1) << 6), d, x0, OH, chunks, xRow, false);
    }
  }
}

// dW from convWeightsDirect's lanes: dW = (l0 + l1) + (l2 + l3).
function weightsFinish(dW: usize, acc: usize, FN: i32, K: i32): void {
  for (let f = 0; f < FN; f++) {
    const a = acc + (<usize>((f >> 2) * K) << 6) + (<usize>(f & 3) << 4);
    for (let k = 0; k < K; k++) store<f32>(dW + (<usize>(f * K + k) << 2), hsum(v128.load(a + (<usize>k << 6))));
  }
}

// dpad's block layout of one image's dout (see convWeightsDirect), flushed;
// the lanes past OW and the filters past FN are left as they are (zero).
// Written in dpad's order, a block's 4 filters a chunk at a time, so each
// 64-byte line is written whole at once (filter by filter, dpad's lines were
// each written 4 times, a channel apart, and an image's dpad is larger than
// L1). With db, db[f] += the image's channelSum (convBiasBackward's order).
// With xd, each flushed value dout[f, oy, ox] also goes to xd + f·xdPlane +
// oy·xdRow + 4·ox bytes (oneChannelBackward: dx's padded copy).
function packDout(dpad: usize, db: usize, dout: usize, FN: i32, OH: i32, OW: i32, chunks: i32, xd: usize, xdRow: usize, xdPlane: usize): void {
  const P = OH * OW, channel = <usize>P << 2;
  if (db != 0) for (let f = 0; f < FN; f++) addChannelSum(db, f, dout + <usize>f * channel, P);
  const full = OW >> 2;
  let dst = dpad;
  for (let f0 = 0; f0 < FN; f0 += 4) {
    const rows = min(4, FN - f0);
    let src = dout + <usize>f0 * channel;
    for (let oy = 0; oy < OH; oy++) {
      const xrow = xd + <usize>f0 * xdPlane + <usize>oy * xdRow;
      if (rows == 4 && xd != 0) {
        for (let j = 0; j < full; j++) {
          const s = src + (<usize>j << 4), o = dst + (<usize>j << 6), q = xrow + (<usize>j << 4);
          const v0 = ftz(v128.load(s)), v1 = ftz(v128.load(s + channel));
          const v2 = ftz(v128.load(s + (channel << 1))), v3 = ftz(v128.load(s + channel * 3));
          v128.store(o, v0); v128.store(o, v1, 16); v128.store(o, v2, 32); v128.store(o, v3, 48);
          v128.store(q, v0); v128.store(q + xdPlane, v1); v128.store(q + (xdPlane << 1), v2); v128.store(q + xdPlane * 3, v3);
        }
      } else if (rows == 4) {
        for (let j = 0; j < full; j++) {
          const s = src + (<usize>j << 4), o = dst + (<usize>j << 6);
          v128.store(o, ftz(v128.load(s)));
          v128.store(o, ftz(v128.load(s + channel)), 16);
          v128.store(o, ftz(v128.load(s + (channel << 1))), 32);
          v128.store(o, ftz(v128.load(s + channel * 3)), 48);
        }
      } else {
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < full; j++) {
            const v = ftz(v128.load(src + <usize>r * channel + (<usize>j << 4)));
            v128.store(dst + (<usize>j << 6) + (<usize>r << 4), v);
            if (xd != 0) v128.store(xrow + <usize>r * xdPlane + (<usize>j << 4), v);
          }
        }
      }
      for (let r = 0; r < rows; r++) {
        for (let ox = full << 2; ox < OW; ox++) {
          const v = ftzs(load<f32>(src + <usize>r * channel + (<usize>ox << 2)));
          store<f32>(dst + (<usize>(ox >> 2) << 6) + (<usize>r << 4) + (<usize>(ox & 3) << 2), v);
          if (xd != 0) store<f32>(xrow + <usize>r * xdPlane + (<usize>ox << 2), v);
        }
      }
      dst += <usize>chunks << 6;
      src += <usize>OW << 2;
    }
  }
}

// db[f] += channelSum of one image's channel f of dout (convBiasBackward's order).
// @ts-ignore: decorator
@inline
function addChannelSum(db: usize, f: i32, src: usize, P: i32): void {
  const q = db + (<usize>f << 2);
  store<f32>(q, load<f32>(q) + channelSum(src, P));
}

// acc[tap t][filter r] (lanes) += Σ over the image's rows and chunks of
// dpad[r] · x_t, for 4 filters and the taps at x0, x1 (start = 0 on an
// image's first pass, which starts from zero). 8 accumulators, 2 x vectors,
// the dout vector and a product: 12 registers, and 15 if V8 loads the 4
// dout vectors ahead.
function weightsTile(acc: usize, d: usize, x0: usize, x1: usize, OH: i32, chunks: i32, xRow: usize, first: bool): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  if (!first) {
    a00 = v128.load(acc); a10 = v128.load(acc, 16); a20 = v128.load(acc, 32); a30 = v128.load(acc, 48);
    a01 = v128.load(acc, 64); a11 = v128.load(acc, 80); a21 = v128.load(acc, 96); a31 = v128.load(acc, 112);
  }
  for (let oy = 0; oy < OH; oy++) {
    let p0 = x0, p1 = x1;
    for (let j = 0; j < chunks; j++) {
      const v0 = v128.load(p0), v1 = v128.load(p1);
      let dv = v128.load(d);
      a00 = madd(dv, v0, a00); a01 = madd(dv, v1, a01);
      dv = v128.load(d, 16);
      a10 = madd(dv, v0, a10); a11 = madd(dv, v1, a11);
      dv = v128.load(d, 32);
      a20 = madd(dv, v0, a20); a21 = madd(dv, v1, a21);
      dv = v128.load(d, 48);
      a30 = madd(dv, v0, a30); a31 = madd(dv, v1, a31);
      d += 64; p0 += 16; p1 += 16;
    }
    x0 += xRow; x1 += xRow;
  }
  v128.store(acc, a00); v128.store(acc, a10, 16); v128.store(acc, a20, 32); v128.store(acc, a30, 48);
  v128.store(acc, a01, 64); v128.store(acc, a11, 80); v128.store(acc, a21, 96); v128.store(acc, a31, 112);
}

// weightsTile for one tap: acc[filter r] += Σ dpad[r] · x_t, 4 accumulators.
function weightsTile1(acc: usize, d: usize, x0: usize, OH: i32, chunks: i32, xRow: usize, first: bool): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  if (!first) {
    a0 = v128.load(acc); a1 = v128.load(acc, 16); a2 = v128.load(acc, 32); a3 = v128.load(acc, 48);
  }
  for (let oy = 0; oy < OH; oy++) {
    let p0 = x0;
    for (let j = 0; j < chunks; j++) {
      const v0 = v128.load(p0);
      a0 = madd(v128.load(d), v0, a0);
      a1 = madd(v128.load(d, 16), v0, a1);
      a2 = madd(v128.load(d, 32), v0, a2);
      a3 = madd(v128.load(d, 48), v0, a3);
      d += 64; p0 += 16;
    }
    x0 += xRow;
  }
  v128.store(acc, a0); v128.store(acc, a1, 16); v128.store(acc, a2, 32); v128.store(acc, a3, 48);
}

// ---- dW direct with lanes over filters, stride 1, 3-wide filters (bit 8 of
// convBackwardPaths), for small images: there the tiles above (lanes over
// output columns) run a loop of a few steps per row, and a row of 7 outputs
// leaves a lane in 8 idle. Here a lane is a filter: the tile is 8 filters ×
// one tap (kx) of each of 4 filter rows (c, ky), 8 accumulators over every
// output position of the image, each position one step: 2 vectors of dout
// (8 filters) and 4 broadcast x values (no lane idle but the filters past
// FN). The rows left over a multiple of 4 run as 8 filters × the 6 taps of
// two rows, then × the 3 of one. Each element dW[f, k] is one chain over
// (image, oy, ox), from 0. The images go in batches of nb (byFiltersImages),
// the 4-row tiles running over a batch's positions in one call: each image's
// dout is copied, flushed, into dT [FN/8 blocks][nb images][P positions][8]
// (zero past FN: a tile streams its block's 32 bytes a position, contiguous),
// and db[f] += its channelSum (convBiasBackward's order); x into xpad
// [nb images][C][H + 2·pad][W + 2·pad]. Scratch: acc [FN/8 blocks][K][8], dT,
// xpad (byFiltersScratchBytes: for one image) and 16 bytes that filterTile5's
// vector loads may read past xpad's last row.
// @ts-ignore: decorator
@inline
function byFiltersScratchBytes(C: i32, H: i32, W: i32, FN: i32, K: i64, pad: i32): i64 {
  const FN8 = <i64>((FN + 7) & ~7);
  const PH = <i64>(H + 2 * pad), PW = <i64>(W + 2 * pad);
  const P = PH * PW; // ≥ the output's positions
  return (FN8 * K << 2) + (P * FN8 << 2) + (<i64>C * PH * PW << 2) + 16;
}

function convWeightsByFilters(
  dW: usize, db: usize, x: usize, dout: usize, scratch: usize,
  n: i32, C: i32, H: i32, W: i32, FN: i32, FH: i32, pad: i32,
): void {
  const OH = H + 2 * pad - FH + 1, OW = W + 2 * pad - 2, P = OH * OW;
  const K = C * FH * 3, R = C * FH;
  const FN8 = (FN + 7) & ~7, blocks = FN8 >> 3;
  const PH = H + 2 * pad, PW = W + 2 * pad;
  const nb = byFiltersImages(n, C, PH, PW, FN8, K, P, <i64>convScratchBytes(C, H, W, FH, 3, 1, pad));
  const acc = scratch;
  const dT = acc + (<usize>(FN8 * K) << 2);
  const blockBytes = <usize>(nb * P) << 5;
  const xpad = dT + <usize>blocks * blockBytes;
  const imageBytes = <usize>(C * PH * PW) << 2;
  zeros(dT, nb * P * FN8);
  if (db != 0) zeros(db, FN);
  zeros(xpad, nb * C * PH * PW);
  const inImage = <usize>(C * H * W) << 2, outImage = <usize>(FN * P) << 2;
  const xRow = <usize>PW << 2;
  // from an image's row OH − 1 of taps to the next image's row 0
  const jump = imageBytes - <usize>OH * xRow;
  for (let i0 = 0; i0 < n; i0 += nb) {
    const m = min(nb, n - i0), first = i0 == 0;
    for (let j = 0; j < m; j++) {
      padImage(xpad + <usize>j * imageBytes, x + <usize>(i0 + j) * inImage, C, H, W, pad, pad, PH, PW);
      packDoutByPosition(dT + (<usize>(j * P) << 5), blockBytes, db, dout + <usize>(i0 + j) * outImage, FN, P);
    }
    for (let fb = 0; fb < blocks; fb++) {
      const d = dT + <usize>fb * blockBytes;
      const a = acc + (<usize>(fb * K) << 5);
      let r = 0;
      if (ASC_FEATURE_RELAXED_SIMD) {
        // 8 rows as 4 pairs of 5 taps (the pair's first row's 3, its second's first 2), then the pairs'
        // last taps as one 4-row tile (its accumulators 6 taps apart)
        for (; r + 7 < R; r += 8) {
          for (let j = r; j < r + 8; j += 2) {
            const xa = xpad + rowOffset(j, FH, PH, PW), ob = xpad + rowOffset(j + 1, FH, PH, PW) - xa;
            if (first) filterTile5(a + (<usize>(3 * j) << 5), d, xa, ob, m, OH, OW, xRow, jump, true);
            else filterTile5(a + (<usize>(3 * j) << 5), d, xa, ob, m, OH, OW, xRow, jump, false);
          }
          const x0 = xpad + rowOffset(r + 1, FH, PH, PW);
          const o1 = xpad + rowOffset(r + 3, FH, PH, PW) - x0;
          const o2 = xpad + rowOffset(r + 5, FH, PH, PW) - x0;
          const o3 = xpad + rowOffset(r + 7, FH, PH, PW) - x0;
          const t = a + (<usize>(3 * r + 5) << 5);
          if (first) filterTile4(t, 192, d, x0 + 8, o1, o2, o3, m, OH, OW, xRow, jump, true);
          else filterTile4(t, 192, d, x0 + 8, o1, o2, o3, m, OH, OW, xRow, jump, false);
        }
      }
      for (; r + 3 < R; r += 4) {
        const x0 = xpad + rowOffset(r, FH, PH, PW);
        const o1 = xpad + rowOffset(r + 1, FH, PH, PW) - x0;
        const o2 = xpad + rowOffset(r + 2, FH, PH, PW) - x0;
        const o3 = xpad + rowOffset(r + 3, FH, PH, PW) - x0;
        for (let kx = 0; kx < 3; kx++) {
          const t = a + (<usize>(3 * r + kx) << 5);
          if (first) filterTile4(t, 96, d, x0 + (<usize>kx << 2), o1, o2, o3, m, OH, OW, xRow, jump, true);
          else filterTile4(t, 96, d, x0 + (<usize>kx << 2), o1, o2, o3, m, OH, OW, xRow, jump, false);
        }
      }
      // the rows left over, image by image (over several images, V8 spilled filterTile6's accumulators)
      for (let j = 0; j < m; j++) {
        const dj = d + (<usize>(j * P) << 5), xj = xpad + <usize>j * imageBytes;
        let q = r;
        for (; q + 1 < R; q += 2) {
          const x0 = xj + rowOffset(q, FH, PH, PW);
          const x1 = xj + rowOffset(q + 1, FH, PH, PW);
          // two call sites, so that Binaryen keeps the tile a function of its own
          if (first && j == 0) filterTile6(a + (<usize>(3 * q) << 5), dj, x0, x0, x1, OH, OW, xRow, true);
          else filterTile6(a + (<usize>(3 * q) << 5), dj, x0, x0, x1, OH, OW, xRow, false);
        }
        if (q < R) {
          const x0 = xj + rowOffset(q, FH, PH, PW);
          if (first && j == 0) filterTile3(a + (<usize>(3 * q) << 5), dj, x0, OH, OW, xRow, true);
          else filterTile3(a + (<usize>(3 * q) << 5), dj, x0, OH, OW, xRow, false);
        }
      }
    }
  }
  for (let f = 0; f < FN; f++) {
    const a = acc + (<usize>((f >> 3) * K) << 5) + (<usize>(f & 7) << 2);
    for (let k = 0; k < K; k++) store<f32>(dW + (<usize>(f * K + k) << 2), load<f32>(a + (<usize>k << 5)));
  }
}

// Images per batch of convWeightsByFilters: as many as the scratch holds (at
// least 1: byFiltersScratchBytes fits), at most BY_FILTERS_IMAGES. A 4-row
// tile's call then runs over several images, so on 8×8 images its fixed part
// (loading and storing 8 accumulators, 64 positions an image) is paid once a
// batch: dW+db of [100, 32, 8, 8]·64 and [100, 64, 8, 8]·64 1.08× faster in
// the plain build (1 image against 4; 8 gained 1% more), 1.00–1.02× in the
// relaxed one, whose fused multiply-adds wait on their 8 chains instead.
function byFiltersImages(n: i32, C: i32, PH: i32, PW: i32, FN8: i32, K: i32, P: i32, have: i64): i32 {
  const perImage = (<i64>P * FN8 + <i64>C * PH * PW) << 2;
  const fits = (have - (<i64>FN8 * K << 2) - 16) / perImage;
  return <i32>max(<i64>1, min(fits, <i64>min(n, BY_FILTERS_IMAGES)));
}

const BY_FILTERS_IMAGES = 4;

// dT[f / 8, p, f % 8] = ftz(dout[f, p]) for one image, blocks of 8 filters
// blockBytes apart; with db, db[f] += channelSum(dout[f]). Whole blocks go 4
// positions at a time as two 4 × 4 transposes; the positions past the last 4
// and a last partial block, value by value.
function packDoutByPosition(dT: usize, blockBytes: usize, db: usize, dout: usize, FN: i32, P: i32): void {
  const channel = <usize>P << 2;
  if (db != 0) for (let f = 0; f < FN; f++) addChannelSum(db, f, dout + <usize>f * channel, P);
  const full = FN & ~7, body = P & ~3;
  for (let f0 = 0; f0 < full; f0 += 8) {
    const src = dout + <usize>f0 * channel, dst = dT + <usize>(f0 >> 3) * blockBytes;
    for (let p = 0; p < body; p += 4) {
      const s = src + (<usize>p << 2), d = dst + (<usize>p << 5);
      transposeFour(d, s, channel);
      transposeFour(d + 16, s + (channel << 2), channel);
    }
  }
  for (let f = 0; f < FN; f++) {
    const p0 = f < full ? body : 0;
    const src = dout + <usize>f * channel;
    let dst = dT + <usize>(f >> 3) * blockBytes + (<usize>(f & 7) << 2) + (<usize>p0 << 5);
    for (let p = p0; p < P; p++) {
      store<f32>(dst, ftzs(load<f32>(src + (<usize>p << 2))));
      dst += 32;
    }
  }
}

// dst[32·j + 4·r] = ftz(src[r·channel + 4·j]) for r, j < 4: 4 positions of 4
// filters, from a row per filter to a 32-byte row per position.
// @ts-ignore: decorator
@inline
function transposeFour(dst: usize, src: usize, channel: usize): void {
  const r0 = ftz(v128.load(src)), r1 = ftz(v128.load(src + channel));
  const r2 = ftz(v128.load(src + 2 * channel)), r3 = ftz(v128.load(src + 3 * channel));
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5), t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(dst, i32x4.shuffle(t0, t2, 2, 3, 6, 7), 32);
  v128.store(dst, i32x4.shuffle(t1, t3, 0, 1, 4, 5), 64);
  v128.store(dst, i32x4.shuffle(t1, t3, 2, 3, 6, 7), 96);
}

// acc[tap t][8 filters] += Σ over the image's positions of dT[p] · x_t[p], for
// the taps kx = 0, 1, 2 of the rows at x0 and x1 (first: start from zero),
// position by position along each of the OH rows of OW outputs (xRow bytes
// apart in xpad). As GEMM's micro6x8 (plain build), each x value is
// broadcast once per dout vector, the second time through x0b − x0 added to
// the address (x0b is x0, passed twice: Binaryen would merge the same load
// twice, and cannot see that the difference is 0), so the product is computed
// in the broadcast's register: 12 accumulators + 2 dout + 1 broadcast = 15
// XMM registers (bench/spill-check.mjs checks it). One offset rather than a
// second pair of row pointers leaves V8 the general registers to keep the
// row loop's pointers out of the stack (dW+db of [100, 64, 8, 8]·64 3.7%
// faster). A product then a sum in the relaxed build too: with relaxed_madd
// V8 loaded all twelve broadcasts ahead of the multiply-adds and spilled
// accumulators (one broadcast for both dout vectors did the same), so the
// rows this tile takes (two left over the 4-row tiles) have the plain build's
// bits there.
function filterTile6(acc: usize, d: usize, x0: usize, x0b: usize, x1: usize,
  OH: i32, OW: i32, xRow: usize, first: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0), c50 = f32x4.splat(0), c51 = f32x4.splat(0);
  if (!first) {
    c00 = v128.load(acc); c01 = v128.load(acc, 16); c10 = v128.load(acc, 32); c11 = v128.load(acc, 48);
    c20 = v128.load(acc, 64); c21 = v128.load(acc, 80); c30 = v128.load(acc, 96); c31 = v128.load(acc, 112);
    c40 = v128.load(acc, 128); c41 = v128.load(acc, 144); c50 = v128.load(acc, 160); c51 = v128.load(acc, 176);
  }
  const rowBytes = <usize>OW << 2, z = x0b - x0;
  for (let oy = 0; oy < OH; oy++) {
    let a = x0, b = x1;
    const end = a + rowBytes;
    do {
      const d0 = v128.load(d), d1 = v128.load(d, 16);
      const a2 = a + z, b2 = b + z;
      c00 = mulAdd(v128.load32_splat(a), d0, c00); c01 = mulAdd(v128.load32_splat(a2), d1, c01);
      c10 = mulAdd(v128.load32_splat(a, 4), d0, c10); c11 = mulAdd(v128.load32_splat(a2, 4), d1, c11);
      c20 = mulAdd(v128.load32_splat(a, 8), d0, c20); c21 = mulAdd(v128.load32_splat(a2, 8), d1, c21);
      c30 = mulAdd(v128.load32_splat(b), d0, c30); c31 = mulAdd(v128.load32_splat(b2), d1, c31);
      c40 = mulAdd(v128.load32_splat(b, 4), d0, c40); c41 = mulAdd(v128.load32_splat(b2, 4), d1, c41);
      c50 = mulAdd(v128.load32_splat(b, 8), d0, c50); c51 = mulAdd(v128.load32_splat(b2, 8), d1, c51);
      a += 4; b += 4; d += 32;
    } while (a < end);
    x0 += xRow; x1 += xRow;
  }
  v128.store(acc, c00); v128.store(acc, c01, 16); v128.store(acc, c10, 32); v128.store(acc, c11, 48);
  v128.store(acc, c20, 64); v128.store(acc, c21, 80); v128.store(acc, c30, 96); v128.store(acc, c31, 112);
  v128.store(acc, c40, 128); v128.store(acc, c41, 144); v128.store(acc, c50, 160); v128.store(acc, c51, 176);
}

// Byte offset in xpad of filter row r = (c, ky): xpad[c, ky, 0].
// @ts-ignore: decorator
@inline
function rowOffset(r: i32, FH: i32, PH: i32, PW: i32): usize {
  return <usize>(((r / FH) * PH + r % FH) * PW) << 2;
}

// acc[tap][8 filters] += Σ over the positions of `images` images of dT[p] ·
// x_t[p] for 4 taps of one kx: the filter rows at x0, x0 + o1, x0 + o2 and
// x0 + o3 (then jump bytes on from an image's last output row to the next
// image's first), whose accumulators lie step bytes apart (3 taps, 96, or for
// the relaxed build's leftover taps 6, 192). 8 accumulators, 2 dout vectors
// and 4 broadcasts: 14 XMM registers even with every load of a step hoisted
// ahead of its multiply-adds, so the build's own madd never spills (the
// relaxed build's fused one included); 6 loads for 8 multiply-adds, against
// filterTile6's 14 for 12. dW+db of 12 images, old build against new in
// alternating blocks: plain [32, 8, 8]·64, [64, 8, 8]·64 and [16, 14, 14]·32
// 1.08–1.14× (faster in 28–30 of 30), relaxed 1.19–1.20× on a calm host and
// 1.31–1.39× in its slow phases; lanes over columns stay at 12 and 16 columns
// (this path 1.01–1.02× there, within what a rebuild alone moves).
function filterTile4(acc: usize, step: usize, d: usize, x0: usize, o1: usize, o2: usize, o3: usize,
  images: i32, OH: i32, OW: i32, xRow: usize, jump: usize, first: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  if (!first) {
    c00 = v128.load(acc); c01 = v128.load(acc, 16); c10 = v128.load(acc + step); c11 = v128.load(acc + step, 16);
    c20 = v128.load(acc + 2 * step); c21 = v128.load(acc + 2 * step, 16); c30 = v128.load(acc + 3 * step); c31 = v128.load(acc + 3 * step, 16);
  }
  const rowBytes = <usize>OW << 2;
  for (let img = 0; img < images; img++) {
    for (let oy = 0; oy < OH; oy++) {
      let a = x0;
      const end = a + rowBytes;
      do {
        const d0 = v128.load(d), d1 = v128.load(d, 16);
        const v0 = v128.load32_splat(a), v1 = v128.load32_splat(a + o1);
        const v2 = v128.load32_splat(a + o2), v3 = v128.load32_splat(a + o3);
        c00 = madd(v0, d0, c00); c01 = madd(v0, d1, c01);
        c10 = madd(v1, d0, c10); c11 = madd(v1, d1, c11);
        c20 = madd(v2, d0, c20); c21 = madd(v2, d1, c21);
        c30 = madd(v3, d0, c30); c31 = madd(v3, d1, c31);
        a += 4; d += 32;
      } while (a < end);
      x0 += xRow;
    }
    x0 += jump;
  }
  v128.store(acc, c00); v128.store(acc, c01, 16); v128.store(acc + step, c10); v128.store(acc + step, c11, 16);
  v128.store(acc + 2 * step, c20); v128.store(acc + 2 * step, c21, 16); v128.store(acc + 3 * step, c30); v128.store(acc + 3 * step, c31, 16);
}

// The relaxed build's acc[tap][8 filters] += Σ over the positions of
// `images` images of dT[p] · x_t[p] for 5 taps: kx = 0, 1, 2 of the filter
// row at xa and kx = 0, 1 of the row ob bytes on (accumulators consecutive).
// Each row's 3 taps are one vector load of x (4 floats from the position on:
// the scratch has 16 bytes past xpad for the last), broadcast lane by lane
// with a shuffle next to its multiply-adds: 10 accumulators, 2 dout vectors,
// 2 x vectors and a shuffled one, 15 XMM registers with every load of a step
// hoisted (as V8 does), where broadcast loads of 5 taps would need 18. 10
// fused multiply-add chains, where filterTile4's 8 leave Zen 5's FMA pipes no
// slack; each element's chain as in filterTile4, so the same bits.
function filterTile5(acc: usize, d: usize, xa: usize, ob: usize,
  images: i32, OH: i32, OW: i32, xRow: usize, jump: usize, first: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  if (!first) {
    c00 = v128.load(acc); c01 = v128.load(acc, 16); c10 = v128.load(acc, 32); c11 = v128.load(acc, 48);
    c20 = v128.load(acc, 64); c21 = v128.load(acc, 80); c30 = v128.load(acc, 96); c31 = v128.load(acc, 112);
    c40 = v128.load(acc, 128); c41 = v128.load(acc, 144);
  }
  const rowBytes = <usize>OW << 2;
  for (let img = 0; img < images; img++) {
    for (let oy = 0; oy < OH; oy++) {
      let a = xa;
      const end = a + rowBytes;
      do {
        const d0 = v128.load(d), d1 = v128.load(d, 16);
        const va = v128.load(a), vb = v128.load(a + ob);
        let v = i32x4.shuffle(va, va, 0, 0, 0, 0);
        c00 = madd(v, d0, c00); c01 = madd(v, d1, c01);
        v = i32x4.shuffle(va, va, 1, 1, 1, 1);
        c10 = madd(v, d0, c10); c11 = madd(v, d1, c11);
        v = i32x4.shuffle(va, va, 2, 2, 2, 2);
        c20 = madd(v, d0, c20); c21 = madd(v, d1, c21);
        v = i32x4.shuffle(vb, vb, 0, 0, 0, 0);
        c30 = madd(v, d0, c30); c31 = madd(v, d1, c31);
        v = i32x4.shuffle(vb, vb, 1, 1, 1, 1);
        c40 = madd(v, d0, c40); c41 = madd(v, d1, c41);
        a += 4; d += 32;
      } while (a < end);
      xa += xRow;
    }
    xa += jump;
  }
  v128.store(acc, c00); v128.store(acc, c01, 16); v128.store(acc, c10, 32); v128.store(acc, c11, 48);
  v128.store(acc, c20, 64); v128.store(acc, c21, 80); v128.store(acc, c30, 96); v128.store(acc, c31, 112);
  v128.store(acc, c40, 128); v128.store(acc, c41, 144);
}

// a·b + c as two rounded operations in every build (see filterTile6).
// @ts-ignore: decorator
@inline
function mulAdd(a: v128, b: v128, c: v128): v128 {
  return f32x4.add(f32x4.mul(a, b), c);
}

// filterTile6 for the 3 taps of one filter row: 6 accumulators.
function filterTile3(acc: usize, d: usize, x0: usize, OH: i32, OW: i32, xRow: usize, first: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  if (!first) {
    c00 = v128.load(acc); c01 = v128.load(acc, 16); c10 = v128.load(acc, 32); c11 = v128.load(acc, 48);
    c20 = v128.load(acc, 64); c21 = v128.load(acc, 80);
  }
  const rowBytes = <usize>OW << 2;
  for (let oy = 0; oy < OH; oy++) {
    let a = x0;
    const end = a + rowBytes;
    do {
      const d0 = v128.load(d), d1 = v128.load(d, 16);
      let v = v128.load32_splat(a);
      c00 = madd(v, d0, c00); c01 = madd(v, d1, c01);
      v = v128.load32_splat(a, 4);
      c10 = madd(v, d0, c10); c11 = madd(v, d1, c11);
      v = v128.load32_splat(a, 8);
      c20 = madd(v, d0, c20); c21 = madd(v, d1, c21);
      a += 4; d += 32;
    } while (a < end);
    x0 += xRow;
  }
  v128.store(acc, c00); v128.store(acc, c01, 16); v128.store(acc, c10, 32); v128.store(acc, c11, 48);
  v128.store(acc, c20, 64); v128.store(acc, c21, 80);
}

// Scalar reference of convBackward, path for path (convBackwardPaths), each
// element summed in its kernel's order with its operands flushed (db's as
// they are, as convBiasBackward reads them): dW by filter lanes in one chain
// over (image, oy, ox); dW direct in 4 lanes (ox mod 4) over (image, oy, ox),
// then (l0 + l1) + (l2 + l3); dW by GEMM per image in
// blocks of KC positions added to the previous sum; dx of one channel and
// 3-row filters in (f, kx, ky) order; dx direct as convForwardRef over the
// flipped filters; dx by GEMM (Wᵀ · dout in blocks of
// KC filters) then col2im's adds in (ky, kx) order; db in convBiasBackward's.
export function convBackwardRef(
  dx: usize, dW: usize, db: usize, x: usize, dout: usize, w: usize,
  n: i32, C: i32, H: i32, W: i32, FN: i32, FH: i32, FW: i32, stride: i32, pad: i32,
): void {
  const OH = outSize(H, FH, stride, pad), OW = outSize(W, FW, stride, pad);
  const K = C * FH * FW, T = FH * FW;
  if (n <= 0 || OH <= 0 || OW <= 0) {
    for (let j = 0; j < FN * K; j++) store<f32>(dW + (<usize>j << 2), 0);
    if (db != 0) for (let f = 0; f < FN; f++) store<f32>(db + (<usize>f << 2), 0);
    if (dx != 0) for (let j = 0; j < n * C * H * W; j++) store<f32>(dx + (<usize>j << 2), 0);
    return;
  }
  // db as convBiasBackward: per image, s[r] sums the positions p ≡ r (mod 16)
  // of the first P − P mod 4 in order, lane j = (s[j] + s[4 + j]) + (s[8 + j]
  // + s[12 + j]), (lane 0 + lane 1) + (lane 2 + lane 3) + the others' sum in
  // order; the images' sums added in order to 0
  const P = OH * OW;
  if (db != 0) for (let f = 0; f < FN; f++) {
    let total: f32 = 0;
    for (let i = 0; i < n; i++) {
      const row = dout + (<usize>((i * FN + f) * P) << 2);
      let tail: f32 = 0;
      for (let p = P & ~3; p < P; p++) tail += load<f32>(row + (<usize>p << 2));
      const l0 = dbLane(row, P, 0), l1 = dbLane(row, P, 1), l2 = dbLane(row, P, 2), l3 = dbLane(row, P, 3);
      total += ((l0 + l1) + (l2 + l3)) + tail;
    }
    store<f32>(db + (<usize>f << 2), total);
  }
  const paths = convBackwardPaths(C, H, W, FN, FH, FW, stride, pad);
  for (let f = 0; f < FN; f++) for (let k = 0; k < K; k++) {
    const c = k / T, ky = k / FW % FH, kx = k % FW;
    let l0: f32 = 0, l1: f32 = 0, l2: f32 = 0, l3: f32 = 0, v: f32 = 0;
    for (let i = 0; i < n; i++) {
      let s: f32 = 0;
      for (let p = 0; p < OH * OW; p++) {
        const oy = p / OW, ox = p % OW;
        const t = refAt(dout, i * FN + f, OH, OW, oy, ox) * refAt(x, i * C + c, H, W, oy * stride - pad + ky, ox * stride - pad + kx);
        if (paths & 8) {
          v += t;
        } else if (paths & 1) {
          const lane = ox & 3;
          if (lane == 0) l0 += t; else if (lane == 1) l1 += t; else if (lane == 2) l2 += t; else l3 += t;
        } else {
          s += t;
          if ((p + 1) % KC == 0 || p + 1 == OH * OW) { v = i == 0 && p < KC ? s : v + s; s = 0; }
        }
      }
    }
    store<f32>(dW + (<usize>(f * K + k) << 2), paths & 1 ? (l0 + l1) + (l2 + l3) : v);
  }
  if (dx == 0) return;
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) for (let iy = 0; iy < H; iy++) for (let ix = 0; ix < W; ix++) {
    let v: f32 = 0;
    if (paths & 4) {
      for (let f = 0; f < FN; f++) for (let kx = 0; kx < FW; kx++) for (let ky = 0; ky < 3; ky++) {
        const wt = ftzs(load<f32>(w + (<usize>((f * 3 + 2 - ky) * FW + FW - 1 - kx) << 2)));
        v += wt * refAt(dout, i * FN + f, OH, OW, iy + ky - (2 - pad), ix + kx - (FW - 1 - pad));
      }
    } else if (paths & 2) {
      const Kt = FN * T;
      for (let k0 = 0; k0 < Kt; k0 += KC) {
        let s: f32 = 0;
        for (let k = k0; k < min(Kt, k0 + KC); k++) {
          const f = k / T, ky = k / FW % FH, kx = k % FW;
          const wt = ftzs(load<f32>(w + (<usize>((f * C + c) * T + T - 1 - ky * FW - kx) << 2)));
          s += wt * refAt(dout, i * FN + f, OH, OW, iy + ky - (FH - 1 - pad), ix + kx - (FW - 1 - pad));
        }
        v = k0 == 0 ? s : v + s;
      }
    } else {
      for (let ky = 0; ky < FH; ky++) for (let kx = 0; kx < FW; kx++) {
        const ry = iy + pad - ky, rx = ix + pad - kx;
        if (ry < 0 || rx < 0 || ry % stride != 0 || rx % stride != 0 || ry / stride >= OH || rx / stride >= OW) continue;
        let col: f32 = 0;
        for (let f0 = 0; f0 < FN; f0 += KC) {
          let s: f32 = 0;
          for (let f = f0; f < min(FN, f0 + KC); f++) {
            s += ftzs(load<f32>(w + (<usize>(f * K + (c * FH + ky) * FW + kx) << 2))) * refAt(dout, i * FN + f, OH, OW, ry / stride, rx / stride);
          }
          col = f0 == 0 ? s : col + s;
        }
        v += col;
      }
    }
    store<f32>(dx + (<usize>(((i * C + c) * H + iy) * W + ix) << 2), v);
  }
}

// Lane j of channelSum's (a0 + a1) + (a2 + a3) for the P values at row.
function dbLane(row: usize, P: i32, j: i32): f32 {
  return (dbPartial(row, P, j) + dbPartial(row, P, 4 + j)) + (dbPartial(row, P, 8 + j) + dbPartial(row, P, 12 + j));
}

// Σ row[p] in order over p ≡ r (mod 16), p < P − P mod 4.
function dbPartial(row: usize, P: i32, r: i32): f32 {
  let s: f32 = 0;
  for (let p = r; p < (P & ~3); p += 16) s += load<f32>(row + (<usize>p << 2));
  return s;
}

// ftz(plane[y, x]) of a [rows, cols] plane, 0 outside it.
function refAt(base: usize, plane: i32, rows: i32, cols: i32, y: i32, x: i32): f32 {
  if (y < 0 || y >= rows || x < 0 || x >= cols) return 0;
  return ftzs(load<f32>(base + (<usize>((plane * rows + y) * cols + x) << 2)));
}
