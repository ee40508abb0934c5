// Pooling over NCHW planes: max (with arg-max for backward), average, and
// global average. Padding follows the book's im2col formulation: padded
// positions hold 0 and take part in the window (a max can be a padding 0, whose
// gradient is dropped; an average divides by PH·PW).
//
// Kernels work on `planes` whole planes of H×W (planes = N·C): a call on planes
// [p0, p1) needs only pointers offset to p0, so threads can split a batch.
// The SIMD bodies compute four adjacent outputs of a row in the lanes (max
// pooling's in four planes at once: independent chains that overlap), each lane visiting
// its window in the same (ky, kx) order as the scalar code, so vector and
// scalar outputs are bit-identical.
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
  const v = v128.load32_lane(p + s, v128.load32_zero(p), 1);
  return v128.load32_lane(p + 3 * s, v128.load32_lane(p + 2 * s, v, 2), 3);
}

// p[at[l]] in lane l.
// @ts-ignore: decorator
@inline
function gather(p: usize, at: v128): v128 {
  let v = v128.load32_zero(p + (<usize>i32x4.extract_lane(at, 0) << 2));
  v = v128.load32_lane(p + (<usize>i32x4.extract_lane(at, 1) << 2), v, 1);
  v = v128.load32_lane(p + (<usize>i32x4.extract_lane(at, 2) << 2), v, 2);
  return v128.load32_lane(p + (<usize>i32x4.extract_lane(at, 3) << 2), v, 3);
}

// A tap of four windows in a row inside the plane: the inputs at plane index
// i (lane 0; the others `stride` apart) when all four columns are inside the
// row (full), else those at `at` (the columns clamped into the row) masked to
// +0 (the book's padding) outside it (inRow). Reads only inside the plane.
// @ts-ignore: decorator
@inline
function tapAt(xp: usize, i: i32, full: bool, at: v128, inRow: v128, stride: i32): v128 {
  return full ? loadStrided(xp + (<usize>i << 2), stride) : v128.and(gather(xp, at), inRow);
}

// The clamped plane indices and mask of tapAt for columns ix of row iy.
// @ts-ignore: decorator
@inline
function clampedAt(iy: i32, ix: v128, W: i32): v128 {
  return i32x4.add(i32x4.splat(iy * W), i32x4.min_s(i32x4.max_s(ix, i32x4.splat(0)), i32x4.splat(W - 1)));
}

// Outputs ox in [lo, hi) have windows fully inside the row [0, W) (rows: oy in [lo, rhi)).
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
//
// The vector kernels fold each window in that order too, four windows of a
// row in the lanes, in four planes at once.
// A later tap replaces the best when `takes` (the scalar test); the tap's
// code (ky·W + kx inside the plane, ky << sh | kx at its edges) grows along
// the fold, so the arg of the last replacement is max(at, mask & code). A
// plane without NaN (most) uses the same test as `gt`, and pmax as the pick.

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

// Whether the plane may hold a NaN: its sum is NaN then (and when it holds
// +Inf and -Inf: the exact fold runs, with the same bits).
// @ts-ignore: decorator
@inline
function mayHoldNaN(p: usize, n: i32): bool {
  let s0 = f32x4.splat(0), s1 = s0;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 = f32x4.add(s0, v128.load(p + (<usize>i << 2)));
    s1 = f32x4.add(s1, v128.load(p + (<usize>i << 2), 16));
  }
  for (; i < n; i++) s0 = f32x4.add(s0, f32x4.splat(load<f32>(p + (<usize>i << 2))));
  s0 = f32x4.add(s0, s1);
  return v128.any_true(f32x4.ne(s0, s0));
}

// @ts-ignore: decorator
@inline
function better(v: v128, best: v128, exact: bool): v128 {
  return exact ? takes(v, best) : f32x4.gt(v, best);
}

// best after a tap v whose mask is m; without NaN, pmax(best, v) = v > best ? v : best.
// @ts-ignore: decorator
@inline
function pick(v: v128, best: v128, m: v128, exact: bool): v128 {
  return exact ? v128.bitselect(v, best, m) : f32x4.pmax(best, v);
}

// The plane index of each lane's tap code a (ky << sh | kx) of a window at
// row iy0, columns ix0 (lanes); -1 for padding.
// @ts-ignore: decorator
@inline
function edgeArg(a: v128, iy0: i32, ix0: v128, sh: i32, H: i32, W: i32): v128 {
  const iy = i32x4.add(i32x4.splat(iy0), i32x4.shr_u(a, sh));
  const ix = i32x4.add(ix0, v128.and(a, i32x4.splat((1 << sh) - 1)));
  const ok = v128.and(i32x4.lt_u(iy, i32x4.splat(H)), i32x4.lt_u(ix, i32x4.splat(W)));
  return v128.bitselect(i32x4.add(i32x4.mul(iy, i32x4.splat(W)), ix), i32x4.splat(-1), ok);
}

// Max pool of outputs ox..ox+3 of output row oy in four planes (x0..x3, their
// outputs at offsets d0..d3 from y and arg; a plane may repeat). inside: every
// window lies in the plane; exact: a plane may hold a NaN.
// @ts-ignore: decorator
@inline
function maxVectors(inside: bool, exact: bool, x0: usize, x1: usize, x2: usize, x3: usize, y: usize, arg: usize,
  d0: usize, d1: usize, d2: usize, d3: usize, oy: i32, ox: i32, H: i32, W: i32, OW: i32, PH: i32, PW: i32, stride: i32, pad: i32): void {
  const iy0 = oy * stride - pad, c0 = ox * stride - pad;
  const ix0 = i32x4.add(i32x4.splat(c0), i32x4(0, stride, 2 * stride, 3 * stride));
  const sh = 32 - clz<i32>(PW - 1);
  const rowCode = inside ? W : 1 << sh;
  // inside: the fold starts at tap (0, 0); at the edges from -Inf with tap (0, 0) in the
  // loop (it always takes, or is -Inf itself: the same bits), for a smaller kernel
  const i0 = iy0 * W + c0, none = i32x4.splat(0);
  let b0 = inside ? tapAt(x0, i0, true, none, none, stride) : f32x4.splat(-Infinity);
  let b1 = inside ? tapAt(x1, i0, true, none, none, stride) : b0;
  let b2 = inside ? tapAt(x2, i0, true, none, none, stride) : b0;
  let b3 = inside ? tapAt(x3, i0, true, none, none, stride) : b0;
  let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  for (let ky = 0; ky < PH; ky++) {
    const iy = iy0 + ky;
    // a row of padding is +0 (index -1) in every tap: its first (code ky << sh) stands for all (the others tie)
    const pads = !inside && <u32>iy >= <u32>H;
    const kxEnd = pads ? 1 : PW;
    for (let kx = inside && ky == 0 ? 1 : 0; kx < kxEnd; kx++) {
      const c = c0 + kx, i = iy * W + c, ix = i32x4.add(ix0, i32x4.splat(kx));
      const full = inside || (c >= 0 && c + 3 * stride < W);
      const at = clampedAt(iy, ix, W), inRow = i32x4.lt_u(ix, i32x4.splat(W));
      const code = i32x4.splat(ky * rowCode + kx);
      // each vector's tap loaded just before its update: fewer live registers
      let v = pads ? f32x4.splat(0) : tapAt(x0, i, full, at, inRow, stride);
      let m = better(v, b0, exact);
      a0 = i32x4.max_s(a0, v128.and(m, code));
      b0 = pick(v, b0, m, exact);
      v = pads ? f32x4.splat(0) : tapAt(x1, i, full, at, inRow, stride);
      m = better(v, b1, exact);
      a1 = i32x4.max_s(a1, v128.and(m, code));
      b1 = pick(v, b1, m, exact);
      v = pads ? f32x4.splat(0) : tapAt(x2, i, full, at, inRow, stride);
      m = better(v, b2, exact);
      a2 = i32x4.max_s(a2, v128.and(m, code));
      b2 = pick(v, b2, m, exact);
      v = pads ? f32x4.splat(0) : tapAt(x3, i, full, at, inRow, stride);
      m = better(v, b3, exact);
      a3 = i32x4.max_s(a3, v128.and(m, code));
      b3 = pick(v, b3, m, exact);
    }
  }
  const o = <usize>(oy * OW + ox) << 2;
  v128.store(y + d0 + o, b0);
  v128.store(y + d1 + o, b1);
  v128.store(y + d2 + o, b2);
  v128.store(y + d3 + o, b3);
  const base = i32x4.add(ix0, i32x4.splat(iy0 * W));
  v128.store(arg + d0 + o, inside ? i32x4.add(a0, base) : edgeArg(a0, iy0, ix0, sh, H, W));
  v128.store(arg + d1 + o, inside ? i32x4.add(a1, base) : edgeArg(a1, iy0, ix0, sh, H, W));
  v128.store(arg + d2 + o, inside ? i32x4.add(a2, base) : edgeArg(a2, iy0, ix0, sh, H, W));
  v128.store(arg + d3 + o, inside ? i32x4.add(a3, base) : edgeArg(a3, iy0, ix0, sh, H, W));
}

// Pools four planes at a time (the last group repeats its last plane: outputs
// computed again have the same bits), the same four outputs of a row in each:
// four chains that overlap. Vectors of outputs whose windows are inside
// planes without NaN run the inside kernel (the last one moved back to end at
// hi); the others the kernel that takes any window. (A kernel more, e.g. one
// for a constant stride, costs ~0.5–0.8 KB of wasm; the builds stay under
// 100 KB.) Rows under 4 outputs take the scalar windows.
// @ts-ignore: decorator
@inline
function maxPoolPlanes(y: usize, arg: usize, x: usize, planes: i32, H: i32, W: i32, PH: i32, PW: i32, stride: i32, pad: i32): void {
  const OH = outSize(H, PH, stride, pad);
  const OW = outSize(W, PW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const lo = insideLo(stride, pad), hi = insideHi(W, PW, stride, pad, OW), rhi = insideHi(H, PH, stride, pad, OH);
  const inPlane = <usize>(H * W) << 2, outPlane = <usize>(OH * OW) << 2;
  if (OW < 4) {
    for (let p = 0; p < planes; p++) {
      const xp = x + <usize>p * inPlane, o = <usize>p * outPlane;
      for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
        const q = o + (<usize>(oy * OW + ox) << 2);
        maxWindow(xp, H, W, oy * stride - pad, ox * stride - pad, PH, PW, y + q, arg + q);
      }
    }
    return;
  }
  for (let p = 0; p < planes; p += 4) {
    const d0 = <usize>p * outPlane, d1 = <usize>min(p + 1, planes - 1) * outPlane;
    const d2 = <usize>min(p + 2, planes - 1) * outPlane, d3 = <usize>min(p + 3, planes - 1) * outPlane;
    const x0 = x + <usize>p * inPlane, x1 = x + <usize>min(p + 1, planes - 1) * inPlane;
    const x2 = x + <usize>min(p + 2, planes - 1) * inPlane, x3 = x + <usize>min(p + 3, planes - 1) * inPlane;
    const exact = (mayHoldNaN(x0, H * W) || mayHoldNaN(x1, H * W) || mayHoldNaN(x2, H * W) || mayHoldNaN(x3, H * W));
    for (let oy = 0; oy < OH; oy++) {
      const rowInside = oy >= lo && oy < rhi && hi - lo >= 4;
      let ox = 0;
      while (ox < OW) {
        const inside = rowInside && ox >= lo && ox < hi;
        const start = inside ? min(ox, hi - 4) : min(ox, OW - 4);
        // the inside kernel for a constant stride 2: no load branches in its tap loop
        if (inside && !exact) maxVectors(true, false, x0, x1, x2, x3, y, arg, d0, d1, d2, d3, oy, start, H, W, OW, PH, PW, stride, pad);
        else maxVectors(false, exact, x0, x1, x2, x3, y, arg, d0, d1, d2, d3, oy, start, H, W, OW, PH, PW, stride, pad);
        ox = start + 4;
      }
    }
  }
}

export function maxPoolForward(y: usize, arg: usize, x: usize, planes: i32, H: i32, W: i32, PH: i32, PW: i32, stride: i32, pad: i32): void {
  maxPoolPlanes(y, arg, x, planes, H, W, PH, PW, stride, pad);
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

// Start of the vector of 4 outputs that covers ox with every window inside:
// ox itself, or hi − 4 for the last 1–3 of the inside run (up to 3 outputs
// computed again, with the same bits); -1 where ox needs the scalar window.
// (Average pooling's kernel: four planes at once as max pooling's measured
// 0.9–1.3× this, and one more kernel would take the wasm past 100 KB.)
// @ts-ignore: decorator
@inline
function vectorAt(ox: i32, lo: i32, hi: i32, rowInside: bool): i32 {
  if (!rowInside || ox < lo || ox >= hi || hi - lo < 4) return -1;
  return min(ox, hi - 4);
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
