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
const TWO_28 = 268435456;
const TWO_MINUS_28 = 3.725290298461914e-9;
const TWO_996 = 6.696928794914171e299;
const MIN_NORMAL = 2.2250738585072014e-308;
const MIN_SUBNORMAL = 5e-324;

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

/** Dekker's split of a into two 26-bit halves, scaled down first where SPLITTER · a would overflow. */
function split(a: number): DD {
  if (Math.abs(a) > TWO_996) {
    const s = a * TWO_MINUS_28;
    const c = SPLITTER * s, h = c - (c - s);
    return [h * TWO_28, (s - h) * TWO_28];
  }
  const c = SPLITTER * a, h = c - (c - a);
  return [h, a - h];
}

/** a · b exactly as a double-double (no fused multiply-add: Dekker's product); ±Infinity as [±Infinity, 0]. */
function twoProd(a: number, b: number): DD {
  const p = a * b;
  if (!Number.isFinite(p)) return [p, 0];
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
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
  if (!Number.isFinite(p)) return [p, 0]; // overflow: the low part would be Infinity − Infinity
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

/**
 * v · 2^k for k in [-2044, 2046]: in two steps where 2^k is not a double, the one that can round (into the
 * subnormal range) last, so v is rounded once.
 */
function scale(v: number, k: number): number {
  if (k > 1023) return v * powerOfTwo(k - 1023) * powerOfTwo(1023);
  if (k < -1022) return v * powerOfTwo(k + 1022) * powerOfTwo(-1022);
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
  const m = scale(v[0], k);
  if (m >= MIN_NORMAL) return m; // Infinity included
  // a subnormal (or zero) result: v[0] was rounded to 53 bits before m to the subnormal grid, so the
  // low part may move the nearest value by a step of 2^-1074; decide with what v[0] lost to m and v[1]
  const lost = add([v[0] - scale(m, -k), 0], [v[1], 0])[0]; // v[0] − m·2^-k is exact (Sterbenz)
  const half = powerOfTwo(-1075 - k); // half a subnormal step, at v's scale
  const odd = (m / MIN_SUBNORMAL) % 2 === 1;
  if (lost > half || (lost === half && odd)) return m + MIN_SUBNORMAL;
  if (lost < -half || (lost === -half && odd)) return m - MIN_SUBNORMAL;
  return m;
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

/**
 * cos(π·k/n) for integers 0 ≤ k, 0 < n ≤ 2^53 − 1 (a cosine schedule), the same bits on every engine; also for
 * n = 1 and any double k in [0, 2] (OneCycleLR's phase fraction), where every reduction below is exact (Sterbenz).
 */
export function exactCosPiRatio(k: number, n: number): number {
  // cos(π·x), x = (k mod 2n)/n in [0, 2): by symmetry to x in [0, 1/2], then to [0, 1/4]
  let r = k % (2 * n);
  if (r > n) r = 2 * n - r; // cos(π(2 − x)) = cos(πx)
  const sign = 2 * r > n ? -1 : 1; // cos(π(1 − x)) = −cos(πx)
  if (sign < 0) r = n - r;
  if (4 * r > n) return sign * cosOrSin(mul(PI, div([n - 2 * r, 0], [2 * n, 0])), true); // cos(πx) = sin(π(1/2 − x))
  return sign * cosOrSin(mul(PI, div([r, 0], [n, 0])), false);
}

/**
 * x^p for a finite x ≥ 0 and a finite p (0^p: 0 for p > 0, 1 for p = 0, Infinity for p < 0, as Python's
 * float power without its errors), as e^(p·ln x) in double-double: the same bits on every engine, the double
 * nearest the exact power (PolynomialLR's fractional powers).
 */
export function exactPow(x: number, p: number): number {
  if (x === 0) return p > 0 ? 0 : p === 0 ? 1 : Infinity;
  return expDD(mulNumber(lnDD(x), p));
}

/** ln x for a finite x ≥ 0 (ln 0 = −Infinity), the same bits on every engine (mixup's gamma draws). */
export function exactLn(x: number): number {
  if (x === 0) return -Infinity;
  const v = lnDD(x);
  return v[0] + v[1];
}

/** e^y for a finite y, the same bits on every engine (mixup's λ from two log-gammas). */
export function exactExp(y: number): number {
  return expDD([y, 0]);
}

/** log10 x for a finite x > 0, the same bits on every engine. */
export function exactLog10(x: number): number {
  return div(lnDD(x), LN10)[0];
}

/** 10^x for a finite x, the same bits on every engine. */
export function exactPow10(x: number): number {
  return expDD(mulNumber(LN10, x));
}
