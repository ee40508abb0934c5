// Counter-based random numbers (SplitMix64 over (seed, counter)) and dropout.
// Element i of a call is a pure function of (seed, counter + i): no hidden
// state, so any sub-range can be computed alone (threads) and a seeded run is
// bit-identical on every host. The facade advances the counter between calls.
// Counters are passed as f64 (exact up to 2^53) so JS can pass plain numbers.

// @ts-ignore: decorator
@inline
function mix64(z: u64): u64 {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
  return z ^ (z >> 31);
}

// @ts-ignore: decorator
@inline
function key(seed: u32): u64 {
  return mix64(<u64>seed * 0xD1B54A32D192ED03 + 0x8CB92BA72F3D8DD7);
}

const GAMMA: u64 = 0x9E3779B97F4A7C15;

// What counter c of the stream mixes: k + (c + 1)·γ (mod 2^64). Counter c + 1's
// is this + γ, so the loops below step it by an add: the bits are those of
// mix64(at(k, c + i)) for every i, with no multiply for the counter or the key in
// the loop (V8 recomputed the key inside a loop that used it, three multiplies
// a unit).
// @ts-ignore: decorator
@inline
function at(k: u64, c: u64): u64 {
  return k + (c + 1) * GAMMA;
}

// Uniform in [0, 1) with 24 random bits, from a mixed value: exactly
// representable in f32 (< 2^24, so the signed conversion is exact and one instruction).
// @ts-ignore: decorator
@inline
function unit(bits: u64): f32 {
  return <f32><i32>(bits >> 40) * (1.0 / 16777216.0);
}

// out[i] = lo + (hi - lo) * U[0,1), consuming counters [counter, counter + n).
export function rngUniform(out: usize, n: i32, lo: f32, hi: f32, seed: u32, counter: f64): void {
  let z = at(key(seed), <u64>counter);
  const span = hi - lo;
  for (let i = 0; i < n; i++) {
    store<f32>(out + (<usize>i << 2), lo + span * unit(mix64(z)));
    z += GAMMA;
  }
}

// out[i] ~ N(mean, std^2) by Box-Muller on counter pairs: elements 2m and 2m+1
// share the pair (counter + 2m, counter + 2m + 1). Consumes n rounded up to even.
export function rngNormal(out: usize, n: i32, mean: f32, std: f32, seed: u32, counter: f64): void {
  let z = at(key(seed), <u64>counter);
  for (let i = 0; i < n; i += 2) {
    // 1 - u is in (0, 1], so the log is finite.
    const u1 = 1.0 - <f64>unit(mix64(z));
    const u2 = <f64>unit(mix64(z + GAMMA));
    z += GAMMA + GAMMA;
    const r = Math.sqrt(-2.0 * Math.log(u1));
    const a = 2.0 * Math.PI * u2;
    store<f32>(out + (<usize>i << 2), mean + std * <f32>(r * Math.cos(a)));
    if (i + 1 < n) store<f32>(out + (<usize>(i + 1) << 2), mean + std * <f32>(r * Math.sin(a)));
  }
}

// idx = a uniformly random permutation of 0..n-1 (Fisher-Yates, Lemire's
// multiply-shift for the bounded draw), consuming counters [counter, counter + n).
export function shuffleIndices(idx: usize, n: i32, seed: u32, counter: f64): void {
  for (let i = 0; i < n; i++) store<i32>(idx + (<usize>i << 2), i);
  let z = at(key(seed), <u64>counter + <u64>(n - 1)); // i runs down from n - 1
  for (let i = n - 1; i > 0; i--) {
    const r = <u32>(mix64(z) >> 32);
    z -= GAMMA;
    const j = <i32>((<u64>r * <u64>(i + 1)) >> 32);
    const pi = idx + (<usize>i << 2);
    const pj = idx + (<usize>j << 2);
    const t = load<i32>(pi);
    store<i32>(pi, load<i32>(pj));
    store<i32>(pj, t);
  }
}

// Dropout, forward in training mode: mask[i] = (U >= ratio) ? scale : 0 and
// y = x * mask. The book's form uses scale = 1; inverted dropout 1 / (1 - ratio).
// U is a multiple of 2^-24 in [0, 1): with >= a unit is kept with probability
// exactly 1 - ratio for a ratio on that grid, and ratio 0 keeps every unit (the
// book's rand() > ratio, on 53 bits, drops one in 2^53 there; > on 24 bits
// dropped one unit in 2^24).
// The test runs on U's 24 bits as integers: U >= ratio iff u24 >= ceil(ratio·2^24)
// (ratio·2^24 is exact in f64), and the mask is scale's bits ANDed with the test,
// so the loop has no branch on the random bits (a mispredicted one a unit at
// ratio 0.5 cost 3.5× the random numbers themselves).
export function dropoutForward(y: usize, mask: usize, x: usize, n: i32, ratio: f32, scale: f32, seed: u32, counter: f64): void {
  let z = at(key(seed), <u64>counter);
  const r = <f64>ratio;
  // ratio <= 0 keeps all; above 1 or NaN (U >= NaN is false) drops all.
  const threshold: u64 = r <= 0 ? 0 : r <= 1 ? <u64>Math.ceil(r * 16777216.0) : 16777216;
  const scaleBits = reinterpret<u32>(scale);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const keep = <u32>((mix64(z) >> 40) >= threshold);
    z += GAMMA;
    const m = reinterpret<f32>(scaleBits & (0 - keep));
    store<f32>(mask + o, m);
    store<f32>(y + o, load<f32>(x + o) * m);
  }
}

// y = x * mask (dropout backward, and forward with a fixed mask).
export function dropoutBackward(dx: usize, dy: usize, mask: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), v128.load(mask + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(dy + o) * load<f32>(mask + o));
  }
}
