// The book's smooth_curve (common/util.py): a Kaiser window of 11 (beta 2)
// over the curve, mirrored at both ends, so a curve keeps its length.
// (Replaced by the data module's smoothCurve once that lands.)

const WINDOW = 11;
const BETA = 2;

/** Modified Bessel function of the first kind, order 0 (series; converges fast for the small arguments a window uses). */
function besselI0(x: number): number {
  let sum = 1, term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return sum;
}

const weights = (() => {
  const w = Array.from({ length: WINDOW }, (_, n) => {
    const r = (2 * n) / (WINDOW - 1) - 1;
    return besselI0(BETA * Math.sqrt(1 - r * r)) / besselI0(BETA);
  });
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / total);
})();

/** The smoothed curve, as long as `x` (curves shorter than the window come back unchanged). */
export function smoothCurve(x: readonly number[]): number[] {
  const half = (WINDOW - 1) / 2;
  if (x.length < WINDOW) return [...x];
  const n = x.length;
  // reflect without repeating the end sample, as np.r_[x[w-1:0:-1], x, x[-1:-w:-1]]
  const at = (i: number) => x[i < 0 ? -i : i >= n ? 2 * n - 2 - i : i];
  return x.map((_, i) => {
    let s = 0;
    for (let k = 0; k < WINDOW; k++) s += weights[k] * at(i + k - half);
    return s;
  });
}
