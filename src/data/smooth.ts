// The book's smooth_curve (common/util.py), for loss curves: the series is
// mirrored by 10 points at each end, convolved with a normalised Kaiser window
// of 11 points (beta 2, numpy.kaiser), and trimmed back to its length.
import { badNumber, describeValue } from '../runtime/tensor.js';

const WINDOW = 11;
const BETA = 2;

/** The modified Bessel function of the first kind, order 0 (numpy.i0), by its power series. */
function besselI0(x: number): number {
  let sum = 1, term = 1;
  const q = (x * x) / 4;
  // terms grow until k ≈ x/2, then fall: enough of them for x up to MAX_BETA
  for (let k = 1; k < 2000; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/** The largest |beta| whose I0 a float64 holds (I0(713) ≈ 1.7e308). */
const MAX_BETA = 700;

/**
 * The most points kaiserWindow gives: 2^20 (1,048,576), far more than a training curve's smoothing
 * needs (smoothCurve takes 11); a longer window would only be a mistake, and an array of many millions
 * of numbers can end the process (V8 aborts on an array it cannot allocate: no error to catch).
 */
const MAX_KAISER_POINTS = 2 ** 20;

/**
 * numpy.kaiser(m, beta): I0(beta·√(1 − (2n/(m−1) − 1)²)) / I0(beta), for m points (an integer
 * in [0, MAX_KAISER_POINTS = 2^20]; 0 gives []) and |beta| <= 700 (beyond it I0 overflows a float64).
 * Throws a RangeError (a TypeError for a non-number) naming m or beta otherwise.
 */
export function kaiserWindow(m: number, beta: number): number[] {
  if (!(Number.isSafeInteger(m) && m >= 0)) throw badNumber(m, `kaiserWindow: m must be a non-negative integer, got ${describeValue(m)}`);
  if (m > MAX_KAISER_POINTS) throw new RangeError(`kaiserWindow: m must be at most ${MAX_KAISER_POINTS} (2^20 points), got ${describeValue(m)}`);
  if (!(typeof beta === 'number' && Math.abs(beta) <= MAX_BETA)) throw badNumber(beta, `kaiserWindow: beta must be a number in [-${MAX_BETA}, ${MAX_BETA}], got ${describeValue(beta)}`);
  if (m === 1) return [1];
  const denominator = besselI0(beta);
  return Array.from({ length: m }, (_, n) => {
    const r = (2 * n) / (m - 1) - 1;
    return besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / denominator;
  });
}

/**
 * The book's smooth_curve(x): s = x[10:0:-1] ++ x ++ x[-1:-11:-1] (Python slices, so a
 * series shorter than 11 points mirrors what it has), y = convolve(w / Σw, s, 'valid')
 * with w = kaiser(11, 2), and returns y[5 : len(y) − 5] as a new array (float64).
 */
export function smoothCurve(x: ArrayLike<number>): number[] {
  const n = x?.length;
  if (typeof x !== 'object' || typeof n !== 'number') throw new TypeError(`smoothCurve: x must be an array of numbers, got ${describeValue(x)}`);
  for (let i = 0; i < n; i++) {
    if (typeof x[i] !== 'number') throw new TypeError(`smoothCurve: x[${i}] is ${describeValue(x[i])}, not a number`);
  }
  const head: number[] = [];
  for (let i = Math.min(WINDOW - 1, n - 1); i > 0; i--) head.push(x[i]); // x[10:0:-1]
  const tail: number[] = [];
  for (let i = n - 1; i > n - WINDOW && i >= 0; i--) tail.push(x[i]); // x[-1:-11:-1]
  const s = [...head, ...Array.from(x), ...tail];
  const w = kaiserWindow(WINDOW, BETA);
  const total = w.reduce((a, b) => a + b, 0);
  const y: number[] = [];
  // 'valid' convolution: y[j] = Σ_k w[k]·s[j + WINDOW − 1 − k] (the window is symmetric)
  for (let j = 0; j + WINDOW <= s.length; j++) {
    let acc = 0;
    for (let k = 0; k < WINDOW; k++) acc += (w[k] / total) * s[j + WINDOW - 1 - k];
    y.push(acc);
  }
  return y.slice(5, Math.max(5, y.length - 5));
}
