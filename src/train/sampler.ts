// Weighted sampling of the training rows with replacement (TrainerOptions.sampleWeights): PyTorch's
// WeightedRandomSampler(weights, num_samples, replacement=True), whose torch.multinomial draws row i with
// probability wᵢ / Σ w. Each draw takes two 24-bit uniforms from the runtime's counter-based stream (as
// drawIndices does for uniform draws) and maps their 48-bit fraction to a row by a binary search of the
// weights' cumulative sums in float64. Additions, one product and comparisons are rounded alike by every engine
// (IEEE 754; no Math function is involved), so a seeded run draws the same rows on every host and thread count.
// A cumulative table rather than Walker's alias table: a row of weight 0 adds nothing to the sums, so no
// fraction can land on it (an alias table's cut-offs are computed with rounding, and Vose's construction sets
// the rows left over by rounding to probability 1, which can give a row of weight 0 a share), and the search's
// log2(rows) comparisons a draw (16 for 60,000 rows) cost nothing beside a step.
import type { Runtime } from '../runtime/runtime.js';
import { IntTensor, Tensor, describeValue } from '../runtime/tensor.js';

/**
 * TrainerOptions.sampleWeights: one weight per training row (a plain array, a Float32Array or a Float64Array of
 * finite numbers ≥ 0, not all 0), or 'balanced': each row weighted 1 / (the rows of its class).
 */
export type SampleWeights = 'balanced' | readonly number[] | Float32Array | Float64Array;

/** What a TrainerState records of the weights a run drew its batches with: their kind and a digest of their bits. */
export interface SampleWeightsRecord {
  kind: 'balanced' | 'given';
  /** FNV-1a (32 bits, hex) of the weights' float64 bits, little-endian, row by row. */
  digest: string;
}

/**
 * Refuses, naming TrainerOptions.sampleWeights, a value that is not 'balanced' or `rows` weights (each a finite
 * number ≥ 0, not all 0, whose sum is finite). Returns 'balanced' or a float64 copy of the weights, each element
 * read once (what was checked is what is drawn with).
 */
export function checkSampleWeights(v: unknown, rows: number): 'balanced' | Float64Array {
  const who = 'Trainer: sampleWeights';
  if (typeof v === 'string') {
    if (v === 'balanced') return v;
    throw new RangeError(`${who} must be 'balanced' or one weight per training row, got '${v.slice(0, 40)}'`);
  }
  if (!Array.isArray(v) && !(v instanceof Float32Array) && !(v instanceof Float64Array)) {
    throw new TypeError(`${who} must be 'balanced' or an array of one weight per training row (a plain array, Float32Array or Float64Array), got ${describeValue(v)}`);
  }
  if (v.length !== rows) throw new RangeError(`${who} must hold one weight per training row (${rows}), got ${v.length}`);
  const w = new Float64Array(rows);
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const e: unknown = v[i];
    if (typeof e !== 'number') throw new TypeError(`${who}[${i}] must be a finite number ≥ 0, got ${describeValue(e)}`);
    if (!(e >= 0 && e <= Number.MAX_VALUE)) throw new RangeError(`${who}[${i}] must be a finite number ≥ 0, got ${e}`);
    w[i] = e === 0 ? 0 : e; // −0 as 0 (the digest sees the bits)
    total += e;
  }
  if (total === 0) throw new RangeError(`${who} are all 0; at least one row must weigh more`);
  if (total === Infinity) throw new RangeError(`${who} sum past float64's range (each is finite, their sum is not): scale them down`);
  return w;
}

/**
 * 'balanced' sampleWeights for the first `rows` targets `t` (int labels, or one-hot rows of `classes` columns whose
 * class is the first maximum, as accuracy() takes it): each row weighs 1 / (the rows of its class), so each class
 * present is drawn equally often (scikit-learn's compute_sample_weight('balanced') up to a constant factor, which
 * the draws do not see).
 */
export function balancedWeights(t: Tensor | IntTensor, rows: number, classes: number): Float64Array {
  const label = new Int32Array(rows);
  if (t instanceof IntTensor) {
    label.set(t.data.subarray(0, rows));
  } else {
    const v = t.data;
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (v[r * classes + c] > v[r * classes + best]) best = c;
      label[r] = best;
    }
  }
  const count = new Float64Array(classes);
  for (let r = 0; r < rows; r++) count[label[r]]++;
  const w = new Float64Array(rows);
  for (let r = 0; r < rows; r++) w[r] = 1 / count[label[r]];
  return w;
}

/** Draws row indices with replacement in proportion to fixed weights (see the file's comment). */
export class WeightedSampler {
  /** cumulative[i] = w₀ + … + wᵢ, summed in row order in float64. */
  private readonly cumulative: Float64Array;
  private readonly total: number;
  /** The last row of positive weight: the search's upper end, so a row of weight 0 is never the answer. */
  private readonly last: number;
  /** The weights' kind and digest, as a TrainerState records them. */
  readonly record: SampleWeightsRecord;

  /** `weights`: checkSampleWeights' copy or balancedWeights' (finite, ≥ 0, a positive finite sum). */
  constructor(weights: Float64Array, kind: SampleWeightsRecord['kind']) {
    const n = weights.length;
    this.cumulative = new Float64Array(n);
    let sum = 0, last = 0;
    for (let i = 0; i < n; i++) {
      sum += weights[i];
      this.cumulative[i] = sum;
      if (weights[i] > 0) last = i;
    }
    this.total = sum;
    this.last = last;
    this.record = { kind, digest: digestOf(weights) };
  }

  /**
   * Writes `count` rows into `out` (an int tensor of at least `count` elements), drawing 2·count uniforms from
   * the runtime's stream into `u` (a tensor of at least 2·count floats): the row of each is the first whose
   * cumulative sum exceeds f·Σw, f the draw's 48-bit fraction in [0, 1).
   */
  draw(rt: Runtime, out: IntTensor, u: Tensor, count: number): void {
    rt.unsafeKernels.rngUniform(u.ptr, 2 * count, 0, 1, rt.seed >>> 0, rt.take(2 * count));
    const uv = u.data, iv = out.data, cumulative = this.cumulative;
    for (let i = 0; i < count; i++) {
      // uv holds k/2^24 exactly; (hi·2^24 + lo)/2^48 is a uniform 48-bit fraction, below 1 by 2^-48 at most
      const f = (uv[2 * i] * 16777216 + uv[2 * i + 1]) / 16777216;
      // f·total < total for any normal total (it is at least 2^-48·total below it, past half an ulp); a total of
      // subnormal weights could round up to it, and the search then ends at the last row of positive weight
      const r = f * this.total;
      let lo = 0, hi = this.last;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cumulative[mid] > r) hi = mid;
        else lo = mid + 1;
      }
      iv[i] = lo;
    }
  }
}

/** FNV-1a (32 bits) of the weights' float64 bits, little-endian on every host, as 8 hex digits. */
function digestOf(weights: Float64Array): string {
  const view = new DataView(new ArrayBuffer(8));
  let h = 0x811c9dc5;
  for (let i = 0; i < weights.length; i++) {
    view.setFloat64(0, weights[i], true);
    for (let b = 0; b < 8; b++) h = Math.imul(h ^ view.getUint8(b), 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
