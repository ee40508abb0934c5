// scikit-learn's StandardScaler for a table's features: the statistics in float64, applied in place.
import { checkFloatTensor, describeValue, shown, Tensor } from '../../index.js';

/** The statistics of StandardScaler: each feature column's mean and scale (its standard deviation, 1 for a constant column). */
export interface Standardizer {
  mean: Float64Array;
  scale: Float64Array;
}

/**
 * Each column's mean and population standard deviation (ddof 0) over the rows of `x` [N, F], in float64, as
 * scikit-learn's StandardScaler fits them (the corrected two-pass variance); a column whose variance is within
 * the rounding error of that sum (scikit-learn's rule: var <= N·eps·var + (N·mean·eps)^2, which a constant column
 * meets) gets scale 1, so it standardizes to 0, not NaN. x must be a live float tensor with rows, and finite.
 */
export function fitStandardizer(x: Tensor): Standardizer {
  const [N, F] = matrixShape('fitStandardizer', x);
  if (N === 0) throw new RangeError('fitStandardizer: x has no rows to take statistics of');
  const data = x.data;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new RangeError(`fitStandardizer: x[${Math.floor(i / F)}, ${i % F}] is ${data[i]}: the statistics need finite values`);
  }
  const mean = new Float64Array(F), scale = new Float64Array(F);
  for (let j = 0; j < F; j++) {
    let sum = 0;
    for (let r = 0; r < N; r++) sum += data[r * F + j];
    const m = sum / N;
    let correction = 0, squares = 0;
    for (let r = 0; r < N; r++) {
      const d = data[r * F + j] - m;
      correction += d;
      squares += d * d;
    }
    const v = (squares - (correction * correction) / N) / N;
    const bound = N * Number.EPSILON * v + (N * m * Number.EPSILON) ** 2;
    mean[j] = m;
    scale[j] = v <= bound ? 1 : Math.sqrt(v);
  }
  return { mean, scale };
}

/**
 * Standardizes `x` [N, F] in place, (x − mean) / scale for each column, computed in float64 and rounded once to
 * float32; returns x. `stats` is fitStandardizer's (or the same numbers read back: arrays of F finite means and
 * F positive finite scales). A result beyond float32's range is refused, naming the element, before anything is written.
 */
export function standardize(x: Tensor, stats: { readonly mean: ArrayLike<number>; readonly scale: ArrayLike<number> }): Tensor {
  const [N, F] = matrixShape('standardize', x);
  if (stats === null || typeof stats !== 'object') throw new TypeError(`standardize: stats must be { mean, scale } (fitStandardizer's), got ${describeValue(stats)}`);
  const mean = statColumn('mean', stats.mean, F, (v) => Number.isFinite(v), 'finite');
  const scale = statColumn('scale', stats.scale, F, (v) => v > 0 && v < Infinity, 'positive and finite');
  const data = x.data;
  const out = new Float32Array(N * F);
  for (let i = 0; i < out.length; i++) {
    const j = i % F;
    if (!Number.isFinite(data[i])) throw new RangeError(`standardize: x[${Math.floor(i / F)}, ${j}] is ${data[i]}`);
    const v = Math.fround((data[i] - mean[j]) / scale[j]);
    if (!Number.isFinite(v)) throw new RangeError(`standardize: x[${Math.floor(i / F)}, ${j}] = ${data[i]} standardizes to ${(data[i] - mean[j]) / scale[j]}, beyond float32's range`);
    out[i] = v;
  }
  x.data.set(out);
  return x;
}

/** x's [rows, columns], after checking it is a live float tensor of rank 2. */
function matrixShape(who: string, x: Tensor): [number, number] {
  if (!(x instanceof Tensor)) throw new TypeError(`${who}: x must be a Tensor of rows of features, got ${describeValue(x)}`);
  checkFloatTensor(x.rt, x, `${who}: x`);
  if (x.shape.length !== 2) throw new RangeError(`${who}: x must be [rows, features], got [${x.shape.join(', ')}]`);
  return [x.shape[0], x.shape[1]];
}

/** One of the statistics, read once into a Float64Array and checked: F numbers each passing `ok`. */
function statColumn(what: string, values: unknown, F: number, ok: (v: number) => boolean, expected: string): Float64Array {
  const length = values !== null && typeof values === 'object' ? (values as ArrayLike<unknown>).length : undefined;
  if (typeof length !== 'number') throw new TypeError(`standardize: stats.${what} must be an array of numbers, got ${describeValue(values)}`);
  if (length !== F) throw new RangeError(`standardize: stats.${what} has ${length} values, x has ${F} columns`);
  const out = new Float64Array(F);
  for (let j = 0; j < F; j++) {
    const v: unknown = (values as ArrayLike<unknown>)[j];
    if (typeof v !== 'number' || !ok(v)) {
      const message = `standardize: stats.${what}[${j}] must be ${expected}, got ${shown(v)}`;
      throw typeof v === 'number' ? new RangeError(message) : new TypeError(message);
    }
    out[j] = v;
  }
  return out;
}
