// Elementwise kernels: activations (forward/backward) and vector arithmetic.
// Every SIMD kernel processes 4 lanes per step and finishes the tail with the
// same math on one lane, so a call on any sub-range gives the same bits.
// `xxxRef` functions are plain scalar references written from the formulas.
import { expv, exps, tanhv, tanhs, sigmoidv, sigmoids, hsum, relu, relus, deactivateRange, ACT_RELU, ACT_SIGMOID, ACT_TANH } from "./math";

// ---- ReLU: y = x < 0 ? 0 : x (math.ts relu: NaN and -0 pass unchanged);
// dx = dy where x > 0 else 0 (the book's mask x <= 0, and NaN: no gradient
// where the output is not positive, so the mask of x and of y agree)
export function reluForward(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, relu(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, relus(load<f32>(x + o)));
  }
}

export function reluForwardRef(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    store<f32>(y + (<usize>i << 2), v < 0 ? 0 : v);
  }
}

export function reluBackward(dx: usize, dy: usize, x: usize, n: i32): void {
  deactivateRange(dx, dy, x, n, ACT_RELU);
}

export function reluBackwardRef(dx: usize, dy: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(x + o) > 0 ? load<f32>(dy + o) : 0);
  }
}

// ---- Sigmoid: y = 1 / (1 + exp(-x)); dx = dy * (1 - y) * y
export function sigmoidForward(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, sigmoidv(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, sigmoids(load<f32>(x + o)));
  }
}

export function sigmoidForwardRef(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, 1.0 / (1.0 + Mathf.exp(-load<f32>(x + o))));
  }
}

export function sigmoidBackward(dx: usize, dy: usize, y: usize, n: i32): void {
  deactivateRange(dx, dy, y, n, ACT_SIGMOID);
}

export function sigmoidBackwardRef(dx: usize, dy: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const yv = load<f32>(y + o);
    store<f32>(dx + o, load<f32>(dy + o) * (1 - yv) * yv);
  }
}

// ---- Tanh: y = tanh(x); dx = dy * (1 - y^2)
export function tanhForward(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, tanhv(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, tanhs(load<f32>(x + o)));
  }
}

export function tanhForwardRef(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, <f32>Math.tanh(<f64>load<f32>(x + o)));
  }
}

export function tanhBackward(dx: usize, dy: usize, y: usize, n: i32): void {
  deactivateRange(dx, dy, y, n, ACT_TANH);
}

export function tanhBackwardRef(dx: usize, dy: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const yv = load<f32>(y + o);
    store<f32>(dx + o, load<f32>(dy + o) * (1 - yv * yv));
  }
}

// ---- exp over a vector (used by tests to pin the polynomial against Math.exp)
export function expForward(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, expv(v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, exps(load<f32>(x + o)));
  }
}

// ---- vector arithmetic
// y += a * x
export function axpy(y: usize, x: usize, a: f32, n: i32): void {
  const av = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(av, v128.load(x + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + a * load<f32>(x + o));
  }
}

export function axpyRef(y: usize, x: usize, a: f32, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + a * load<f32>(x + o));
  }
}

// y = a * x (y may alias x)
export function scale(y: usize, x: usize, a: f32, n: i32): void {
  const av = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.mul(av, v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, a * load<f32>(x + o));
  }
}

// y = min(max(x, lo), hi) (y may alias x): a NaN stays NaN, as PyTorch's clamp (gradient clipping by value)
export function clampRange(y: usize, x: usize, lo: f32, hi: f32, n: i32): void {
  const l = f32x4.splat(lo);
  const h = f32x4.splat(hi);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.min(f32x4.max(v128.load(x + o), l), h));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, min<f32>(max<f32>(load<f32>(x + o), lo), hi));
  }
}

export function clampRangeRef(y: usize, x: usize, lo: f32, hi: f32, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, min<f32>(max<f32>(load<f32>(x + o), lo), hi));
  }
}

export function fill(y: usize, value: f32, n: i32): void {
  const v = f32x4.splat(value);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), v);
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), value);
}

export function copy(y: usize, x: usize, n: i32): void {
  memory.copy(y, x, <usize>n << 2);
}

// Sum of squares, in f64 lanes: each square of an f32 is exact in f64, so the sum keeps its precision at any
// size (f32 lane sums lost 1e-2 relative at 38M elements: the weight-decay term of a wide net's loss).
export function sumSquares(x: usize, n: i32): f64 {
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    const a = f64x2.promote_low_f32x4(v);
    const b = f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 2, 3));
    lo = f64x2.add(lo, f64x2.mul(a, a));
    hi = f64x2.add(hi, f64x2.mul(b, b));
  }
  let s = f64x2.extract_lane(lo, 0) + f64x2.extract_lane(lo, 1) + f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1);
  for (; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    s += v * v;
  }
  return s;
}

export function sumSquaresRef(x: usize, n: i32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    s += v * v;
  }
  return s;
}

// Sum of absolute values, in f64 lanes as sumSquares.
export function sumAbs(x: usize, n: i32): f64 {
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = f32x4.abs(v128.load(x + (<usize>i << 2)));
    lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
    hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 2, 3)));
  }
  let s = f64x2.extract_lane(lo, 0) + f64x2.extract_lane(lo, 1) + f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1);
  for (; i < n; i++) s += Math.abs(<f64>load<f32>(x + (<usize>i << 2)));
  return s;
}

export function sumAbsRef(x: usize, n: i32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += Math.abs(<f64>load<f32>(x + (<usize>i << 2)));
  return s;
}

// 1 if any element is NaN or +-Inf, else 0. x - x is 0 for finite x, NaN
// otherwise. Four sums over 16 floats a step: one chain of adds waits on each
// add's latency (the Trainer checks every gradient and parameter each step:
// 517 KB of the MLP 784-[100×6]-10 took 22–24 µs on one chain).
export function hasNonFinite(x: usize, n: i32): i32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = x + (<usize>i << 2);
    let v = v128.load(p);
    a0 = f32x4.add(a0, f32x4.sub(v, v));
    v = v128.load(p, 16);
    a1 = f32x4.add(a1, f32x4.sub(v, v));
    v = v128.load(p, 32);
    a2 = f32x4.add(a2, f32x4.sub(v, v));
    v = v128.load(p, 48);
    a3 = f32x4.add(a3, f32x4.sub(v, v));
  }
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    a0 = f32x4.add(a0, f32x4.sub(v, v));
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    s += v - v;
  }
  return s != s ? 1 : 0;
}

// Copy whole rows by index: dst[r] = src[idx[r]], rows of `rowLen` floats (or
// int32s: the copy is bitwise). Used to gather mini-batches in place.
export function gatherRows(dst: usize, src: usize, idx: usize, count: i32, rowLen: i32): void {
  const bytes = <usize>rowLen << 2;
  for (let r = 0; r < count; r++) {
    const s = <usize>load<i32>(idx + (<usize>r << 2));
    memory.copy(dst + <usize>r * bytes, src + s * bytes, bytes);
  }
}

// L1 weight-decay gradient: g += lambda * sign(w), sign(0) = 0 as numpy's.
export function l1Gradient(g: usize, w: usize, lambda: f32, n: i32): void {
  const lv = f32x4.splat(lambda);
  const nl = f32x4.splat(-lambda);
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const wv = v128.load(w + o);
    const s = v128.or(v128.and(lv, f32x4.gt(wv, zero)), v128.and(nl, f32x4.lt(wv, zero)));
    v128.store(g + o, f32x4.add(v128.load(g + o), s));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const wv = load<f32>(w + o);
    store<f32>(g + o, load<f32>(g + o) + (wv > 0 ? lambda : (wv < 0 ? -lambda : 0)));
  }
}

export function l1GradientRef(g: usize, w: usize, lambda: f32, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const wv = load<f32>(w + o);
    const s: f32 = wv > 0 ? 1 : (wv < 0 ? -1 : 0);
    store<f32>(g + o, load<f32>(g + o) + lambda * s);
  }
}
