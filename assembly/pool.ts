// Pooling over NCHW planes: max (with arg-max for backward), average, and
// global average. Padding follows the book's im2col formulation: padded
// positions hold 0 and take part in the window (a max can be a padding 0, whose
// gradient is dropped; an average divides by PH·PW).
//
// Kernels work on `planes` whole planes of H×W (planes = N·C): a call on planes
// [p0, p1) needs only pointers offset to p0, so threads can split a batch.
// The SIMD bodies compute four adjacent outputs of a row in the lanes, each
// lane visiting its window in the same (ky, kx) order as the scalar code, so
// vector and scalar outputs are bit-identical.
import { deactivateInPlace, hsum } from "./math";

// @ts-ignore: decorator
@inline
function outSize(size: i32, filter: i32, stride: i32, pad: i32): i32 {
  return (size + 2 * pad - filter) / stride + 1;
}

// Four inputs `stride` apart starting at p. Stride 2 (the usual 2×2 pool)
// takes lanes 0, 2 of p[0..4) and 1, 3 of p[3..7): two loads and one shufps
// instead of four scalar loads and three inserts, reading nothing past p[6].
// @ts-ignore: decorator
@inline
function loadStrided(p: usize, stride: i32): v128 {
  if (stride == 1) return v128.load(p);
  if (stride == 2) return v128.shuffle<f32>(v128.load(p), v128.load(p, 12), 0, 2, 5, 7);
  const s = <usize>stride << 2;
  return f32x4(load<f32>(p), load<f32>(p + s), load<f32>(p + 2 * s), load<f32>(p + 3 * s));
}

// Outputs ox in [lo, hi) have windows fully inside the row [0, W).
// @ts-ignore: decorator
@inline
function insideLo(stride: i32, pad: i32): i32 {
  return (pad + stride - 1) / stride;
}

// @ts-ignore: decorator
@inline
function insideHi(W: i32, PW: i32, stride: i32, pad: i32, OW: i32): i32 {
  return W + pad - PW < 0 ? 0 : min(OW, (W + pad - PW) / stride + 1);
}

// Start of the vector of 4 outputs that covers ox with every window inside:
// ox itself, or hi − 4 for the last 1–3 of the inside run (up to 3 outputs
// computed again, with the same bits; a scalar window's data-dependent
// branches cost ~25 ns, ten times a vector output); -1 where ox needs the
// scalar window.
// @ts-ignore: decorator
@inline
function vectorAt(ox: i32, lo: i32, hi: i32, rowInside: bool): i32 {
  if (!rowInside || ox < lo || ox >= hi || hi - lo < 4) return -1;
  return min(ox, hi - 4);
}

// @ts-ignore: decorator
@inline
function zeros(dst: usize, n: i32): void {
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), z);
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), 0);
}

// ---- max pooling: y = window max, arg = its index in the plane (iy·W + ix),
// the first one in (ky, kx) order on ties as np.argmax; -1 if it is padding.
// A NaN in the window is its max, as np.max has it (the first NaN's index:
// np.argmax's), so a diverging net's NaN is not hidden between layers.

// v takes best's place: greater, or the window's first NaN.
// @ts-ignore: decorator
@inline
function takes(v: v128, best: v128): v128 {
  return v128.or(f32x4.gt(v, best), v128.andnot(f32x4.ne(v, v), f32x4.ne(best, best)));
}

// One window, scalar: out-of-range positions count as 0 with index -1.
// @ts-ignore: decorator
@inline
function maxWindow(xp: usize, H: i32, W: i32, iy0: i32, ix0: i32, PH: i32, PW: i32, y: usize, arg: usize): void {
  let best: f32 = 0;
  let at = -1;
  for (let ky = 0; ky < PH; ky++) {
    const iy = iy0 + ky;
    for (let kx = 0; kx < PW; kx++) {
      const ix = ix0 + kx;
      const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
      const v: f32 = inside ? load<f32>(xp + (<usize>(iy * W + ix) << 2)) : 0;
      if ((ky == 0 && kx == 0) || v > best || (v != v && best == best)) {
        best = v;
        at = inside ? iy * W + ix : -1;
      }
    }
  }
  store<f32>(y, best);
  store<i32>(arg, at);
}

export function maxPoolForward(y: usize, arg: usize, x: usize, planes: i32, H: i32, W: i32, PH: i32, PW: i32, stride: i32, pad: i32): void {
  const OH = outSize(H, PH, stride, pad);
  const OW = outSize(W, PW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const lo = insideLo(stride, pad);
  const hi = insideHi(W, PW, stride, pad, OW);
  const lanes = i32x4(0, stride, 2 * stride, 3 * stride);
  for (let p = 0; p < planes; p++) {
    const xp = x + (<usize>(p * H * W) << 2);
    const yp = y + (<usize>(p * OH * OW) << 2);
    const ap = arg + (<usize>(p * OH * OW) << 2);
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * stride - pad;
      const rowInside = iy0 >= 0 && iy0 + PH <= H;
      let ox = 0;
      while (ox < OW) {
        const start = vectorAt(ox, lo, hi, rowInside);
        if (start >= 0) {
          const o = <usize>(oy * OW + start) << 2;
          const idx0 = iy0 * W + start * stride - pad;
          let best = loadStrided(xp + (<usize>idx0 << 2), stride);
          let at = i32x4.add(i32x4.splat(idx0), lanes);
          if (PH == 2 && PW == 2 && stride == 2) {
            // the nets' 2×2 pool, unrolled: the loop below's taps in its order
            const r0 = xp + (<usize>idx0 << 2), r1 = r0 + (<usize>W << 2);
            let v = loadStrided(r0 + 4, 2);
            let m = takes(v, best);
            best = v128.bitselect(v, best, m);
            at = v128.bitselect(i32x4.add(i32x4.splat(idx0 + 1), lanes), at, m);
            v = loadStrided(r1, 2);
            m = takes(v, best);
            best = v128.bitselect(v, best, m);
            at = v128.bitselect(i32x4.add(i32x4.splat(idx0 + W), lanes), at, m);
            v = loadStrided(r1 + 4, 2);
            m = takes(v, best);
            best = v128.bitselect(v, best, m);
            at = v128.bitselect(i32x4.add(i32x4.splat(idx0 + W + 1), lanes), at, m);
          } else {
            for (let ky = 0; ky < PH; ky++) {
              for (let kx = 0; kx < PW; kx++) {
                if (ky == 0 && kx == 0) continue;
                const idx = idx0 + ky * W + kx;
                const v = loadStrided(xp + (<usize>idx << 2), stride);
                const m = takes(v, best);
                best = v128.bitselect(v, best, m);
                at = v128.bitselect(i32x4.add(i32x4.splat(idx), lanes), at, m);
              }
            }
          }
          v128.store(yp + o, best);
          v128.store(ap + o, at);
          ox = start + 4;
        } else {
          const o = <usize>(oy * OW + ox) << 2;
          maxWindow(xp, H, W, iy0, ox * stride - pad, PH, PW, yp + o, ap + o);
          ox++;
        }
      }
    }
  }
}

export function maxPoolForwardRef(y: usize, arg: usize, x: usize, planes: i32, H: i32, W: i32, PH: i32, PW: i32, stride: i32, pad: i32): void {
  const OH = outSize(H, PH, stride, pad);
  const OW = outSize(W, PW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  for (let p = 0; p < planes; p++) {
    for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
      const o = <usize>((p * OH + oy) * OW + ox) << 2;
      maxWindow(x + (<usize>(p * H * W) << 2), H, W, oy * stride - pad, ox * stride - pad, PH, PW, y + o, arg + o);
    }
  }
}

// dx = 0, then dx[arg] += dy for every output (the book routes each output's
// gradient to its arg-max). A scatter: wasm SIMD has no scatter store, so this
// is scalar after the vector zero fill; the test checks it against the book.
// act (1–3: ReLU, sigmoid, tanh; 0 none) then runs that activation's backward
// on each plane of dx with `saved` (laid out as dx: what the activation layer
// before the pooling kept), plane by plane while it is in cache: the bits of
// the elementwise backward kernel after this one.
export function maxPoolBackward(dx: usize, dy: usize, arg: usize, planes: i32, HW: i32, P: i32, saved: usize, act: i32): void {
  for (let p = 0; p < planes; p++) {
    const dxp = dx + (<usize>(p * HW) << 2);
    zeros(dxp, HW);
    const base = <usize>(p * P) << 2;
    for (let j = 0; j < P; j++) {
      const o = base + (<usize>j << 2);
      const a = load<i32>(arg + o);
      if (a >= 0) {
        const q = dxp + (<usize>a << 2);
        store<f32>(q, load<f32>(q) + load<f32>(dy + o));
      }
    }
    if (act != 0) deactivateInPlace(dxp, saved + (<usize>(p * HW) << 2), HW, act);
  }
}

// ---- average pooling: y = Σ window / (PH·PW), padding counted as zeros.
export function avgPoolForward(y: usize, x: usize, planes: i32, H: i32, W: i32, PH: i32, PW: i32, stride: i32, pad: i32): void {
  const OH = outSize(H, PH, stride, pad);
  const OW = outSize(W, PW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const inv: f32 = <f32>1 / <f32>(PH * PW);
  const invv = f32x4.splat(inv);
  const lo = insideLo(stride, pad);
  const hi = insideHi(W, PW, stride, pad, OW);
  for (let p = 0; p < planes; p++) {
    const xp = x + (<usize>(p * H * W) << 2);
    const yp = y + (<usize>(p * OH * OW) << 2);
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * stride - pad;
      const rowInside = iy0 >= 0 && iy0 + PH <= H;
      let ox = 0;
      while (ox < OW) {
        const start = vectorAt(ox, lo, hi, rowInside);
        if (start >= 0) {
          const o = <usize>(oy * OW + start) << 2;
          const ix0 = start * stride - pad;
          let s = f32x4.splat(0);
          for (let ky = 0; ky < PH; ky++) {
            for (let kx = 0; kx < PW; kx++) {
              s = f32x4.add(s, loadStrided(xp + (<usize>((iy0 + ky) * W + ix0 + kx) << 2), stride));
            }
          }
          v128.store(yp + o, f32x4.mul(s, invv));
          ox = start + 4;
        } else {
          store<f32>(yp + (<usize>(oy * OW + ox) << 2), avgWindow(xp, H, W, iy0, ox * stride - pad, PH, PW) * inv);
          ox++;
        }
      }
    }
  }
}

// Σ of the window's inside values, in (ky, kx) order.
// @ts-ignore: decorator
@inline
function avgWindow(xp: usize, H: i32, W: i32, iy0: i32, ix0: i32, PH: i32, PW: i32): f32 {
  let s: f32 = 0;
  for (let ky = 0; ky < PH; ky++) {
    const iy = iy0 + ky;
    if (iy < 0 || iy >= H) continue;
    for (let kx = 0; kx < PW; kx++) {
      const ix = ix0 + kx;
      if (ix >= 0 && ix < W) s += load<f32>(xp + (<usize>(iy * W + ix) << 2));
    }
  }
  return s;
}

export function avgPoolForwardRef(y: usize, x: usize, planes: i32, H: i32, W: i32, PH: i32, PW: i32, stride: i32, pad: i32): void {
  const OH = outSize(H, PH, stride, pad);
  const OW = outSize(W, PW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const inv: f32 = <f32>1 / <f32>(PH * PW);
  for (let p = 0; p < planes; p++) {
    for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
      const s = avgWindow(x + (<usize>(p * H * W) << 2), H, W, oy * stride - pad, ox * stride - pad, PH, PW);
      store<f32>(y + (<usize>((p * OH + oy) * OW + ox) << 2), s * inv);
    }
  }
}

// dx = Σ over the windows holding each input of dy / (PH·PW); dx is
// overwritten. Terms arrive in (oy, ky, kx, ox) order; with stride 1 a run of
// outputs adds to a contiguous run of inputs (SIMD). act and saved as in
// maxPoolBackward.
export function avgPoolBackward(dx: usize, dy: usize, planes: i32, H: i32, W: i32, PH: i32, PW: i32, stride: i32, pad: i32, saved: usize, act: i32): void {
  const OH = outSize(H, PH, stride, pad);
  const OW = outSize(W, PW, stride, pad);
  if (OH <= 0 || OW <= 0) {
    zeros(dx, planes * H * W);
    return;
  }
  const inv: f32 = <f32>1 / <f32>(PH * PW);
  const invv = f32x4.splat(inv);
  for (let p = 0; p < planes; p++) {
    const dxp = dx + (<usize>(p * H * W) << 2);
    const dyp = dy + (<usize>(p * OH * OW) << 2);
    zeros(dxp, H * W);
    for (let oy = 0; oy < OH; oy++) {
      const g = dyp + (<usize>(oy * OW) << 2);
      for (let ky = 0; ky < PH; ky++) {
        const iy = oy * stride - pad + ky;
        if (iy < 0 || iy >= H) continue;
        const row = dxp + (<usize>(iy * W) << 2);
        for (let kx = 0; kx < PW; kx++) {
          const off = kx - pad;
          // outputs whose input column ox·stride + off lies in [0, W)
          const lo = off >= 0 ? 0 : (stride - 1 - off) / stride;
          const hi = W - off <= 0 ? 0 : min(OW, (W - off + stride - 1) / stride);
          let ox = lo;
          if (stride == 1) {
            for (; ox + 4 <= hi; ox += 4) {
              const d = row + (<usize>(ox + off) << 2);
              v128.store(d, f32x4.add(v128.load(d), f32x4.mul(v128.load(g + (<usize>ox << 2)), invv)));
            }
          }
          for (; ox < hi; ox++) {
            const d = row + (<usize>(ox * stride + off) << 2);
            store<f32>(d, load<f32>(d) + load<f32>(g + (<usize>ox << 2)) * inv);
          }
        }
      }
    }
    if (act != 0) deactivateInPlace(dxp, saved + (<usize>(p * H * W) << 2), H * W, act);
  }
}

export function avgPoolBackwardRef(dx: usize, dy: usize, planes: i32, H: i32, W: i32, PH: i32, PW: i32, stride: i32, pad: i32): void {
  for (let i = 0; i < planes * H * W; i++) store<f32>(dx + (<usize>i << 2), 0);
  const OH = outSize(H, PH, stride, pad);
  const OW = outSize(W, PW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const inv: f32 = <f32>1 / <f32>(PH * PW);
  for (let p = 0; p < planes; p++) {
    for (let oy = 0; oy < OH; oy++) for (let ky = 0; ky < PH; ky++) for (let kx = 0; kx < PW; kx++) {
      for (let ox = 0; ox < OW; ox++) {
        const iy = oy * stride - pad + ky;
        const ix = ox * stride - pad + kx;
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
        const d = dx + (<usize>((p * H + iy) * W + ix) << 2);
        store<f32>(d, load<f32>(d) + load<f32>(dy + (<usize>((p * OH + oy) * OW + ox) << 2)) * inv);
      }
    }
  }
}

// ---- global average pooling: y[p] = mean of plane p (P values); four
// lane-wise partial sums plus a scalar tail.
export function globalAvgPoolForward(y: usize, x: usize, planes: i32, P: i32): void {
  const inv: f32 = <f32>1 / <f32>P;
  for (let p = 0; p < planes; p++) {
    const xp = x + (<usize>(p * P) << 2);
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= P; j += 4) acc = f32x4.add(acc, v128.load(xp + (<usize>j << 2)));
    let tail: f32 = 0;
    for (; j < P; j++) tail += load<f32>(xp + (<usize>j << 2));
    store<f32>(y + (<usize>p << 2), (hsum(acc) + tail) * inv);
  }
}

export function globalAvgPoolForwardRef(y: usize, x: usize, planes: i32, P: i32): void {
  for (let p = 0; p < planes; p++) {
    let s: f32 = 0;
    for (let j = 0; j < P; j++) s += load<f32>(x + (<usize>(p * P + j) << 2));
    store<f32>(y + (<usize>p << 2), s / <f32>P);
  }
}

// dx[p, :] = dy[p] / P
export function globalAvgPoolBackward(dx: usize, dy: usize, planes: i32, P: i32): void {
  const inv: f32 = <f32>1 / <f32>P;
  for (let p = 0; p < planes; p++) {
    const g: f32 = load<f32>(dy + (<usize>p << 2)) * inv;
    const gv = f32x4.splat(g);
    const dp = dx + (<usize>(p * P) << 2);
    let j = 0;
    for (; j + 4 <= P; j += 4) v128.store(dp + (<usize>j << 2), gv);
    for (; j < P; j++) store<f32>(dp + (<usize>j << 2), g);
  }
}

export function globalAvgPoolBackwardRef(dx: usize, dy: usize, planes: i32, P: i32): void {
  for (let p = 0; p < planes; p++) {
    const g: f32 = load<f32>(dy + (<usize>p << 2)) * (<f32>1 / <f32>P);
    for (let j = 0; j < P; j++) store<f32>(dx + (<usize>(p * P + j) << 2), g);
  }
}
