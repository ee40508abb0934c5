// Vector math shared by the kernel families. Deterministic: plain SIMD only,
// so every host computes the same bits.

// Cephes-style expf: exp(x) = 2^n * exp(r), |r| <= ln2/2, degree-6 polynomial.
// The input is clamped to [-87.3, 88]: below, the result is the smallest
// normal float instead of 0; above, 1.65e38 instead of +inf (never hit by
// softmax, which subtracts the row max, or by sigmoid, which saturates).
const EXP_LO: f32 = -87.33654;
const EXP_HI: f32 = 88.0;
const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;

// @ts-ignore: decorator
@inline
export function expv(x: v128): v128 {
  // pmax/pmin: one maxps/minps each under V8, where max/min's NaN and ±0 rules took 14 instructions
  // and two spilled registers; the same values, as the bounds are neither NaN nor zero
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
  const fx = f32x4.floor(f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(0.5)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(LN2_HI)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(LN2_LO)));
  const z = f32x4.mul(x, x);
  let y = f32x4.splat(P0);
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(P1));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(P2));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(P3));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(P4));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(P5));
  y = f32x4.add(f32x4.add(f32x4.mul(y, z), x), f32x4.splat(1.0));
  // 2^fx: fx is an integer in [-126, 127], so fx + 1.5·2^23 is exact and its bits are
  // 0x4B400000 + fx (an add where trunc_sat took ~6 instructions under V8)
  const pow2n = i32x4.shl(i32x4.add(f32x4.add(fx, f32x4.splat(12582912.0)), i32x4.splat(127 - 0x4B400000)), 23);
  return f32x4.mul(y, pow2n);
}

// The same algorithm on one lane, for loop tails: tails must give the same
// bits as the vector body so results do not depend on where a row starts.
// @ts-ignore: decorator
@inline
export function exps(x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0);
}

// tanh: Cephes odd polynomial for |x| < 0.625 (no cancellation near 0),
// otherwise sign(x) * (1 - e) / (1 + e) with e = exp(-2|x|).
// @ts-ignore: decorator
@inline
export function tanhv(x: v128): v128 {
  const ax = f32x4.abs(x);
  const e = expv(f32x4.mul(ax, f32x4.splat(-2.0)));
  const one = f32x4.splat(1.0);
  let big = f32x4.div(f32x4.sub(one, e), f32x4.add(one, e));
  // copy the sign of x onto the positive result
  big = v128.or(big, v128.and(x, i32x4.splat(0x80000000)));
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(-5.70498872745e-3);
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(2.06390887954e-2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-5.37397155531e-2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(1.33314422036e-1));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-3.33332819422e-1));
  const small = f32x4.add(f32x4.mul(f32x4.mul(p, z), x), x);
  return v128.bitselect(small, big, f32x4.lt(ax, f32x4.splat(0.625)));
}

// @ts-ignore: decorator
@inline
export function tanhs(x: f32): f32 {
  return f32x4.extract_lane(tanhv(f32x4.splat(x)), 0);
}

// 1 / (1 + exp(-x))
// @ts-ignore: decorator
@inline
export function sigmoidv(x: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, expv(f32x4.neg(x))));
}

// @ts-ignore: decorator
@inline
export function sigmoids(x: f32): f32 {
  return f32x4.extract_lane(sigmoidv(f32x4.splat(x)), 0);
}

// Horizontal sum in a fixed order: (l0 + l1) + (l2 + l3).
// @ts-ignore: decorator
@inline
export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) +
         (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// @ts-ignore: decorator
@inline
export function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)),
             max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

// ---- the activations that GEMM and convolution epilogues fuse, by code (the
// facade's ACTIVATION_CODES in src/runtime/runtime.ts mirrors them): 0 none,
// 1 ReLU, 2 sigmoid, 3 tanh. The same math as the elementwise kernels, so a
// fused epilogue gives their bits. ReLU is x < 0 ? 0 : x, wasm's pseudo-max
// f32x4.pmax(x, 0): one maxps under V8, where f32x4.max (IEEE max, ordered
// ±0 and NaN handling) takes 8 instructions, which counted in the direct
// convolution's epilogue (9 multiply-adds per output vector for a first
// layer). It keeps NaN and -0 (max gives +0 for -0); same bits on every host.
export const ACT_NONE = 0;
export const ACT_RELU = 1;
export const ACT_SIGMOID = 2;
export const ACT_TANH = 3;

// @ts-ignore: decorator
@inline
export function relu(v: v128): v128 {
  return f32x4.pmax(v, f32x4.splat(0));
}

// relu's lane: x < 0 ? 0 : x.
// @ts-ignore: decorator
@inline
export function relus(x: f32): f32 {
  return x < 0 ? 0 : x;
}

// @ts-ignore: decorator
@inline
export function activate(v: v128, act: i32): v128 {
  if (act == ACT_RELU) return relu(v);
  if (act == ACT_SIGMOID) return sigmoidv(v);
  if (act == ACT_TANH) return tanhv(v);
  return v;
}

// @ts-ignore: decorator
@inline
export function activateScalar(x: f32, act: i32): f32 {
  if (act == ACT_RELU) return relus(x);
  if (act == ACT_SIGMOID) return sigmoids(x);
  if (act == ACT_TANH) return tanhs(x);
  return x;
}

// Codes ACT_BACKWARD + 1..3 ask a GEMM for an activation's backward instead
// (gemmActBackward): dx = dout ⊙ act'(saved), where saved is what the activation layer
// keeps (ReLU its input or output: both are > 0 at the same places; sigmoid
// and tanh their output). The same math as reluBackward, sigmoidBackward and
// tanhBackward, which call these (through deactivateRange), so the fused call
// gives their bits.
export const ACT_BACKWARD = 4;

// @ts-ignore: decorator
@inline
export function deactivate(dy: v128, saved: v128, act: i32): v128 {
  if (act == ACT_RELU) return v128.and(dy, f32x4.gt(saved, f32x4.splat(0)));
  const one = f32x4.splat(1);
  if (act == ACT_SIGMOID) return f32x4.mul(f32x4.mul(dy, f32x4.sub(one, saved)), saved);
  return f32x4.mul(dy, f32x4.sub(one, f32x4.mul(saved, saved)));
}

// @ts-ignore: decorator
@inline
export function deactivateScalar(dy: f32, saved: f32, act: i32): f32 {
  if (act == ACT_RELU) return saved > 0 ? dy : 0;
  if (act == ACT_SIGMOID) return dy * (1 - saved) * saved;
  return dy * (1 - saved * saved);
}

// dx[i] = dy[i] ⊙ act'(saved[i]) for i < n (dx may be dy): the elementwise
// backward kernels, and gemmActBackward row by row. One loop per activation:
// with the code tested in the loop, V8 tested it for every vector (ReLU's
// backward in place 1.4× faster this way).
// @ts-ignore: decorator
@inline
export function deactivateRange(dx: usize, dy: usize, saved: usize, n: i32, act: i32): void {
  if (act == ACT_RELU) deactivateLoop(dx, dy, saved, n, ACT_RELU);
  else if (act == ACT_SIGMOID) deactivateLoop(dx, dy, saved, n, ACT_SIGMOID);
  else deactivateLoop(dx, dy, saved, n, ACT_TANH);
}

// @ts-ignore: decorator
@inline
function deactivateLoop(dx: usize, dy: usize, saved: usize, n: i32, act: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, deactivate(v128.load(dy + o), v128.load(saved + o), act));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, deactivateScalar(load<f32>(dy + o), load<f32>(saved + o), act));
  }
}

// p[i] = p[i] ⊙ act'(saved[i]) for i < n, as a call of its own (not inlined):
// convBackward's dx image by image and the pooling backward plane by plane,
// while each is in cache.
export function deactivateInPlace(p: usize, saved: usize, n: i32, act: i32): void {
  deactivateRange(p, p, saved, n, act);
}

// ---- flush to zero. WebAssembly keeps IEEE subnormals, and x86 CPUs take a
// microcode assist (~100 cycles) on every arithmetic operation that meets one:
// a 256³ GEMM with half its A subnormal runs 90× slower. Training makes them:
// a confident softmax leaves class probabilities of 1e-40, and backprop
// scales them down layer by layer. So the kernels that feed arithmetic flush
// values below the smallest normal float (1.18e-38) to zero where they are
// made or read: GEMM operands as they are packed, softmax outputs and
// gradients, optimizer state. NaN and ±Inf pass unchanged.
// @ts-ignore: decorator
@inline
export function ftz(v: v128): v128 {
  // |v| < 2^-126 (the smallest normal) exactly when v's exponent bits are
  // all 0 (±0 and the subnormals; both become +0, NaN and ±Inf have them all
  // 1). Tested on the bits rather than as f32x4.lt(f32x4.abs(v), 2^-126): V8
  // rebuilds abs's sign mask (pcmpeqd, psrld) at every use, 5 instructions
  // per flush against these 3 (and, pcmpeqd, andnot) with two constants it
  // keeps in registers.
  return v128.andnot(v, i32x4.eq(v128.and(v, i32x4.splat(0x7f800000)), i32x4.splat(0)));
}

// @ts-ignore: decorator
@inline
export function ftzs(x: f32): f32 {
  // ftz's test on one value's bits, its mask made by arithmetic. As a float
  // compare and select (|x| < 2^-126 ? 0 : x) V8 compiled a branch, which a
  // gradient's ReLU zeros mispredict: dW of [100, 16, 14, 14] · 32 (dout
  // packed value by value) took 1.64× as long with half of dout 0 at random,
  // 1.2× with a DeepConvNet's real dout, as with no zeros (AMD Zen 3).
  const bits = reinterpret<u32>(x);
  return reinterpret<f32>(bits & (0 - <u32>((bits & 0x7f800000) != 0)));
}
