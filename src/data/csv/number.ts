// A feature cell's number: the strict decimal grammar loadCsv takes, the float32 nearest the decimal
// (correctly rounded, which Math.fround(Number(s)) is not always), and the shortest decimal of a float32 (formatCsv's).

/** The strict decimal form a feature cell takes: digits, an optional point, an optional exponent (no spaces, hex, Infinity or NaN). */
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** Whether `text` is a number in the strict form (NUMBER). */
export const isNumber = (text: string): boolean => NUMBER.test(text);

/** The largest finite float32. */
export const F32_MAX = 3.4028234663852886e38;
/** 2^128 − 2^103: halfway from F32_MAX to 2^128; a value from here up rounds to Infinity in float32. */
const F32_OVERFLOW = 3.4028235677973366e38;
const f32 = new Float32Array(1), f32Bits = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1), f64Bits = new BigUint64Array(f64.buffer);

/** The float32 adjacent to magnitude `a` (≥ 0) upward (step 1) or downward (step −1): F32_MAX's upward is Infinity. */
function adjacentF32(a: number, step: 1 | -1): number {
  f32[0] = a;
  f32Bits[0] += step;
  return f32[0];
}

/**
 * The float32 nearest the decimal `text` (which NUMBER matched), ties to even: ±Infinity beyond float32's range.
 * Math.fround(Number(text)) rounds twice (to float64, then to float32), and differs when the float64 lands exactly
 * halfway between two float32s while the decimal is not (1.0000000596046447753906250001 is above 1 + 2^-24, the
 * midpoint of 1 and 1 + 2^-23, and rounds up; its float64 is the midpoint, which rounds to even, down). So that case,
 * and a decimal of more than 20 significant digits (where ECMAScript lets Number() be off by an ulp), is settled
 * exactly: the decimal against the midpoints on either side of the float32 candidate, in integers.
 */
export function float32Of(text: string): number {
  const d = Number(text);
  const f = Math.fround(d);
  // far outside float32's range (or 0) a float32 is ±Infinity or ±0 whatever the last digits say
  if (!Number.isFinite(d) || Math.abs(d) < 2 ** -151) return f;
  const long = text.length > 20 && significantDigits(text) > 20;
  if (f === d) return long ? exactFloat32(text, f) : f;
  const other = Number.isFinite(f) ? 2 * d - f : NaN;
  const midpoint = Math.abs(d) === F32_OVERFLOW || (Math.fround(other) === other && (f + other) / 2 === d);
  return midpoint || long ? exactFloat32(text, f) : f;
}

/** Digits of the decimal's mantissa from its first nonzero one. */
function significantDigits(text: string): number {
  return text.replace(/[eE].*$/, '').replace(/\D/g, '').replace(/^0+/, '').length;
}

/** The float32 nearest the decimal `text`, given `f`, within one float32 of it: the decimal compared with the midpoints around f. */
function exactFloat32(text: string, f: number): number {
  const a = Math.abs(f);
  const sign = text.startsWith('-') ? -1 : 1;
  const above = a === Infinity ? null : adjacentF32(a, 1);
  const below = a === 0 ? null : adjacentF32(a, -1);
  const mid = (lo: number, hi: number) => (hi === Infinity ? F32_OVERFLOW : (lo + hi) / 2);
  const even = (lo: number, hi: number) => (hi === Infinity || lowBit(hi) === 0 ? hi : lo);
  if (above !== null) {
    const c = compareDecimal(text, mid(a, above));
    if (c > 0) return sign * above;
    if (c === 0) return sign * even(a, above);
  }
  if (below !== null) {
    const c = compareDecimal(text, mid(below, a));
    if (c < 0) return sign * below;
    if (c === 0) return sign * even(below, a);
  }
  return sign * a;
}

function lowBit(a: number): number {
  f32[0] = a;
  return f32Bits[0] & 1;
}

/** The sign of |decimal| − m, exactly (m a positive, finite, normal float64), in BigInt arithmetic. */
function compareDecimal(text: string, m: number): number {
  const [mantissa, exponent = '0'] = text.replace(/^[+-]/, '').split(/[eE]/);
  const [whole, fraction = ''] = mantissa.split('.');
  let lhs = BigInt((whole + fraction).replace(/^0+/, '') || '0');
  const e10 = Number(exponent) - fraction.length;
  f64[0] = m;
  const bits = f64Bits[0];
  let rhs = (bits & 0xfffffffffffffn) | 0x10000000000000n;
  const e2 = Number(bits >> 52n) - 1075;
  if (e10 >= 0) lhs *= 10n ** BigInt(e10);
  else rhs *= 10n ** BigInt(-e10);
  if (e2 >= 0) rhs <<= BigInt(e2);
  else lhs <<= BigInt(-e2);
  return lhs > rhs ? 1 : lhs < rhs ? -1 : 0;
}

/**
 * The text formatCsv writes for the number `v`: a safe integer whole (String(v): an id stays exact, and an integer
 * float32 in that range reads back as itself), any other number as the shortest decimal that reads back (float32Of)
 * as v's float32, `Math.fround(v)` (so a table of float32s round-trips); -0 as '-0', NaN and ±Infinity as
 * JavaScript writes them. toExponential(p − 1) gives the p-digit decimal nearest; where it reads back as another
 * float32, the p-digit decimal on v's other side may not at a power of two (whose neighbour below is half as far as
 * the one above), so there both are tried for each p; 9 digits tell every float32 apart.
 */
export function float32Text(v: number): string {
  if (Object.is(v, -0)) return '-0';
  if (Number.isSafeInteger(v) || !Number.isFinite(v)) return String(v);
  const f = Math.fround(v);
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  f32[0] = f;
  const powerOfTwo = (f32Bits[0] & 0x7fffff) === 0; // elsewhere the float32's neighbours are as far on either side
  for (let p = 1; p < 9; p++) {
    const nearest = f.toExponential(p - 1);
    if (float32Of(nearest) === f) return plainer(nearest, f);
    if (!powerOfTwo) continue;
    const other = otherSide(nearest, Number(nearest) < f ? 1 : -1);
    if (float32Of(other) === f) return plainer(other, f);
  }
  return plainer(f.toExponential(8), f);
}

/** The decimal `text` (toExponential's form '-d.ddde±x') one unit of its last digit toward larger values (1) or smaller (−1), with as many digits ('ddde±x'). */
function otherSide(text: string, step: 1 | -1): string {
  const [mantissa, exponent] = text.split('e');
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace(/[-.]/g, '');
  const p = digits.length;
  let m = Number(digits) + (sign ? -step : step);
  let e = Number(exponent) - (p - 1);
  if (m === 10 ** p) [m, e] = [10 ** (p - 1), e + 1]; // 9.99 up: 1.00 at the next power of ten
  else if (m < 10 ** (p - 1)) [m, e] = [10 ** p - 1, e - 1]; // 1.00 down: 9.99 at the power below
  return `${sign}${m}e${e}`;
}

/** JavaScript's own form of the decimal `text` (0.001, 120000, 1.5e-7: String of its float64) when that reads back as f too, else `text`. */
function plainer(text: string, f: number): string {
  const plain = String(Number(text));
  return float32Of(plain) === f ? plain : text;
}
