// Powers, logarithms and cosines with the same bits on every JavaScript
// engine. Math.cos, Math.log10 and `**` are not specified to the bit, and
// engines differ: Node 20 and Chromium 156 disagree on `0.999 ** t` for ~10% of
// t (Adam's bias correction each step), on `10 ** x` for ~10% of the book's lr
// draws, on cos(π·k/n) for ~3% of a cosine schedule's epochs; the float32 the
// kernels take hides most such ulps, not all. These use only +, −, ×, ÷ and
// exact scalings, which IEEE 754 fixes on every host, in double-double
// arithmetic (~106 bits): each result is the double nearest the exact value
// but where that lies within ~2^-100 of a rounding boundary.

/** A double-double: the unevaluated sum hi + lo, |lo| ≤ ulp(hi)/2. */
type DD = readonly [number, number];

const LN2: DD = [0.6931471805599453, 2.3190468138462996e-17];
const LN10: DD = [2.302585092994046, -2.1707562233822494e-16];
const SPLITTER = 134217729; // 2^27 + 1: Dekker's split of a double into two 26-bit halves
const SQRT2 = 1.4142135623730951;
const TWO_54 = 18014398509481984;

function twoSum(a: number, b: number): DD {
  const s = a + b;
  const v = s - a;
  return [s, (a - (s - v)) + (b - v)];
}

/** a + b where |a| ≥ |b|. */
function quickTwoSum(a: number, b: number): DD {
  const s = a + b;
  return [s, b - (s - a)];
}

/** a · b exactly as a double-double (no fused multiply-add: Dekker's product). */
function twoProd(a: number, b: number): DD {
  const p = a * b;
  const ca = SPLITTER * a, ah = ca - (ca - a), al = a - ah;
  const cb = SPLITTER * b, bh = cb - (cb - b), bl = b - bh;
  return [p, ((ah * bh - p) + ah * bl + al * bh) + al * bl];
}

function add(x: DD, y: DD): DD {
  const [s, e] = twoSum(x[0], y[0]);
  const [t, f] = twoSum(x[1], y[1]);
  const [h, l] = quickTwoSum(s, e + t);
  return quickTwoSum(h, l + f);
}

const neg = (x: DD): DD => [-x[0], -x[1]];

function mul(x: DD, y: DD): DD {
  const [p, e] = twoProd(x[0], y[0]);
  return quickTwoSum(p, e + (x[0] * y[1] + x[1] * y[0]));
}

function mulNumber(x: DD, b: number): DD {
  const [p, e] = twoProd(x[0], b);
  return quickTwoSum(p, e + x[1] * b);
}

/** x / y: three quotient digits, each from the remainder left by the last. */
function div(x: DD, y: DD): DD {
  const q1 = x[0] / y[0];
  let r = add(x, neg(mulNumber(y, q1)));
  const q2 = r[0] / y[0];
  r = add(r, neg(mulNumber(y, q2)));
  const q3 = r[0] / y[0];
  return add(quickTwoSum(q1, q2), [q3, 0]);
}

const bits = new DataView(new ArrayBuffer(8));

/** 2^k for an integer k in [-1022, 1023], from its bits. */
function powerOfTwo(k: number): number {
  bits.setUint32(0, (k + 1023) << 20);
  bits.setUint32(4, 0);
  return bits.getFloat64(0);
}

/** v · 2^k, in steps that stay in the normal range. */
function scale(v: number, k: number): number {
  for (; k > 1023; k -= 1023) v *= powerOfTwo(1023);
  for (; k < -1022; k += 1022) v *= powerOfTwo(-1022);
  return v * powerOfTwo(k);
}

/** ln x for a finite x > 0: x = m·2^e, m in [√2/2, √2], ln m = 2·atanh((m − 1)/(m + 1)). */
function lnDD(x: number): DD {
  let e = 0;
  if (x < powerOfTwo(-1022)) { x *= TWO_54; e = -54; } // subnormal: exactly into the normal range
  bits.setFloat64(0, x);
  const high = bits.getUint32(0);
  e += ((high >>> 20) & 0x7ff) - 1023;
  bits.setUint32(0, (high & 0x000fffff) | 0x3ff00000);
  let m = bits.getFloat64(0); // in [1, 2)
  if (m > SQRT2) { m /= 2; e += 1; }
  // m − 1 is exact for m in [1/2, 2] (Sterbenz); m + 1 as a double-double
  const s = div([m - 1, 0], twoSum(m, 1));
  const s2 = mul(s, s);
  // |s| ≤ 0.172: the 22 terms s^(2n+1)/(2n+1) after the first reach 2^-113
  let term = s;
  let sum = s;
  for (let n = 3; n <= 45; n += 2) {
    term = mul(term, s2);
    sum = add(sum, div(term, [n, 0]));
  }
  return add(mulNumber(LN2, e), [2 * sum[0], 2 * sum[1]]);
}

/** e^y for a double-double y: y = k·ln 2 + r, e^r as (e^(r/1024))^1024 kept as e^r − 1. */
function expDD(y: DD): number {
  if (y[0] > 709.8) return Infinity;
  if (y[0] < -745.2) return 0;
  const k = Math.round(y[0] / LN2[0]);
  const r = add(y, neg(mulNumber(LN2, k)));
  const t: DD = [r[0] / 1024, r[1] / 1024]; // |t| ≤ 3.4e-4
  // e^t − 1 = t + t²/2! + … + t^9/9! (the next term is below 2^-120 of it)
  let term = t;
  let em1 = t;
  for (let n = 2; n <= 9; n++) {
    term = div(mul(term, t), [n, 0]);
    em1 = add(em1, term);
  }
  // (1 + a)² − 1 = 2a + a², ten times
  for (let i = 0; i < 10; i++) em1 = add([2 * em1[0], 2 * em1[1]], mul(em1, em1));
  const v = add([1, 0], em1);
  return scale(v[0], k);
}

/** b^n for an integer n ≥ 0 (binary powering in double-double), the same bits on every engine. */
export function exactPowInt(b: number, n: number): number {
  let result: DD = [1, 0];
  let square: DD = [b, 0];
  for (let k = n; k > 0; k = Math.floor(k / 2)) {
    if (k % 2 === 1) result = mul(result, square);
    if (k > 1) square = mul(square, square);
  }
  return result[0] + result[1];
}

const PI: DD = [3.141592653589793, 1.2246467991473532e-16];

/** cos θ (sine = false) or sin θ for a double-double |θ| ≤ π/4: Taylor series to 2^-110. */
function cosOrSin(theta: DD, sine: boolean): number {
  const t2 = mul(theta, theta);
  let term: DD = sine ? theta : [1, 0];
  let sum = term;
  for (let n = sine ? 2 : 1; n <= 30; n += 2) {
    // term · (−θ²) / (n (n + 1)): the next odd or even power
    term = div(mul(term, neg(t2)), [n * (n + 1), 0]);
    sum = add(sum, term);
  }
  return sum[0] + sum[1];
}

/** cos(π·k/n) for integers k ≥ 0, n > 0 (a cosine schedule), the same bits on every engine. */
export function exactCosPiRatio(k: number, n: number): number {
  // cos(π·x), x = (k mod 2n)/n in [0, 2): by symmetry to x in [0, 1/2], then to [0, 1/4]
  let r = k % (2 * n);
  if (r > n) r = 2 * n - r; // cos(π(2 − x)) = cos(πx)
  const sign = 2 * r > n ? -1 : 1; // cos(π(1 − x)) = −cos(πx)
  if (sign < 0) r = n - r;
  if (4 * r > n) return sign * cosOrSin(mul(PI, div([n - 2 * r, 0], [2 * n, 0])), true); // cos(πx) = sin(π(1/2 − x))
  return sign * cosOrSin(mul(PI, div([r, 0], [n, 0])), false);
}

/** log10 x for a finite x > 0, the same bits on every engine. */
export function exactLog10(x: number): number {
  return div(lnDD(x), LN10)[0];
}

/** 10^x for a finite x, the same bits on every engine. */
export function exactPow10(x: number): number {
  return expDD(mulNumber(LN10, x));
}
