// Classification metrics of a net over a labelled set, as scikit-learn's confusion_matrix and
// precision_recall_fscore_support (zero_division's default: 0) and Keras's
// top_k_categorical_accuracy compute them: the set is predicted in the net's evalBatchSize chunks in
// inference mode, as accuracy() runs it (no whole-set output), and only counts are kept. A net or a
// net frozen from it (FrozenNet: the same outputs, bit for bit) gives the same figures.
import { IntTensor, Tensor, badNumber, describeValue, otherCopyHint, shown } from '../runtime/tensor.js';
import { ownTargets, type Targets } from '../layers/softmax-with-loss.js';
import { checkOptions } from '../runtime/options.js';
import { Yielder } from '../runtime/yield.js';
import { checkAsyncOptions, type AsyncOptions } from './async-predict.js';
import { FrozenNet } from './frozen.js';
import { Sequential, checkClassTargets } from './sequential.js';

/** What classificationMetrics scores: a net (a Sequential, any named net) or a FrozenNet. */
type Classifier = Sequential | FrozenNet;

/** Options of classificationMetrics. */
export interface ClassificationMetricsOptions {
  /** Also report the top-k accuracy for this k (an integer in [1, classes]); see ClassificationMetrics.topK. */
  topK?: number;
}

/** Precision, recall and F1 of one class (each 0 where its denominator is 0, as sklearn's zero_division default). */
export interface ClassScores {
  /** Rows predicted as the class that are of it: tp / predicted (0 for a class never predicted). */
  precision: number;
  /** Rows of the class predicted as it: tp / support (0 for a class with no rows). */
  recall: number;
  /** 2·tp / (support + predicted), sklearn's F1 (the harmonic mean of the two; 0 when both are 0). */
  f1: number;
}

/** What classificationMetrics returns. */
export interface ClassificationMetrics {
  /** The net's output width: the classes are 0 … classes − 1. */
  classes: number;
  /** Rows of the set. */
  rows: number;
  /** confusion[true][predicted]: row counts (sklearn's orientation). A row whose outputs hold NaN is in no column. */
  confusion: number[][];
  /** Rows right over all rows, the bits of net.accuracy(x, t). */
  accuracy: number;
  /** Rows whose outputs hold NaN: no class predicted, counted wrong (in their class's support, in no precision). */
  invalid: number;
  /** Per class: its scores and its support (rows whose true class it is). */
  perClass: Array<ClassScores & { support: number }>;
  /** The unweighted mean of the classes' scores, over every class (sklearn's average='macro', labels=range(classes)). */
  macro: ClassScores;
  /** The classes' scores weighted by their support: Σ score·support / rows (sklearn's average='weighted'). */
  weighted: ClassScores;
  /**
   * With options.topK: the share of rows whose true class is among the k highest outputs, ties at the boundary
   * counted in (tf.math.in_top_k, which Keras's top_k_categorical_accuracy uses: fewer than k classes score
   * strictly higher than the true one). A row whose outputs hold NaN is out.
   */
  topK?: { k: number; accuracy: number };
}

const KEYS = new Set(['topK']), ASYNC_KEYS = new Set(['topK', 'signal']);
/** The classes a net of another copy of simdnn may be of (its error says so). */
const NET_CLASSES = ['Sequential', 'MultiLayerNet', 'MultiLayerNetExtend', 'SimpleConvNet', 'DeepConvNet', 'FrozenNet'];

/**
 * Confusion matrix, accuracy, per-class precision, recall, F1 and support, their macro and weighted means, and
 * optionally the top-k accuracy of `net` (a net, or a FrozenNet: the figures of the net it was frozen from, at
 * freezing) on x against t: labels (an IntTensor or an array of integer classes) or one-hot or soft target rows
 * (their first maximum is the true class, as accuracy() takes them). Predicted classes are each output row's first
 * maximum (np.argmax, the book's). Runs x in the net's evalBatchSize chunks in inference mode, allocating nothing on
 * the runtime beyond what accuracy() uses.
 * @throws like net.accuracy(x, t) (naming `classificationMetrics: x` / `: t`; Error for a net or frozen net used
 * after dispose()); TypeError for a net that is neither or an unknown option;
 * TypeError/RangeError naming topK unless it is an integer in [1, classes]. Everything is checked before
 * the first chunk runs.
 */
export function classificationMetrics(net: Sequential | FrozenNet, x: Tensor, t: Targets, options: ClassificationMetricsOptions = {}): ClassificationMetrics {
  const who = 'classificationMetrics';
  checkOptions(who, options, KEYS);
  const tally = prepare(net, x, t, options.topK, who);
  const rows = x.shape[0];
  for (let start = 0; start < rows; start += net.evalBatchSize) {
    const end = Math.min(rows, start + net.evalBatchSize);
    tally.add(predictChunk(net, x.rows(start, end), `${who}: x`), start, who);
  }
  return tally.result();
}

/**
 * classificationMetrics() without blocking: the same chunks and the same result, yielding to the event loop
 * whenever ~8 ms of them have run (as net.evaluateAsync does). The labels are read into memory of the call's own
 * first, so other calls meanwhile cannot change them; the net and x are checked again at every chunk.
 * @throws like classificationMetrics(); rejects with `signal.reason` once `options.signal` aborts (checked before every chunk).
 */
export async function classificationMetricsAsync(
  net: Sequential | FrozenNet, x: Tensor, t: Targets, options: ClassificationMetricsOptions & AsyncOptions = {},
): Promise<ClassificationMetrics> {
  const who = 'classificationMetricsAsync';
  checkOptions(who, options, ASYNC_KEYS);
  const { topK } = options;
  const { signal } = checkAsyncOptions(who, { signal: options.signal }, false);
  const tally = prepare(net, x, t, topK, who);
  const rows = x.shape[0];
  const yielder = new Yielder();
  try {
    for (let start = 0; start < rows; start += net.evalBatchSize) {
      signal?.throwIfAborted();
      if (start > 0 && yielder.due()) await yielder.yieldNow();
      signal?.throwIfAborted();
      net.rowsOf(x, who); // the net or x may have been disposed while the call waited
      const end = Math.min(rows, start + net.evalBatchSize);
      tally.add(predictChunk(net, x.rows(start, end), `${who}: x`), start, who);
    }
  } finally {
    yielder.close();
  }
  return tally.result();
}

/** The outputs of a chunk of x (borrowed from the net), in inference mode; `what` names x in an error. */
function predictChunk(net: Classifier, chunk: Tensor, what: string): Tensor {
  return net instanceof FrozenNet ? net.predictBorrowed(chunk, what) : net.predictBorrowed(chunk, false, what);
}

/** Every check of the arguments, before a chunk runs; the true classes read into an array of the call's own. */
function prepare(net: Classifier, x: Tensor, t: Targets, topK: unknown, who: string): Tally {
  if (!(net instanceof Sequential || net instanceof FrozenNet)) {
    throw new TypeError(`${who}: net must be a net (MultiLayerNet, a Sequential, …) or a FrozenNet, got ${describeValue(net)}${otherCopyHint(net, NET_CLASSES)}`);
  }
  if (topK !== undefined) {
    if (typeof topK !== 'number') throw new TypeError(`${who}: topK must be an integer in [1, classes], got ${describeValue(topK)}`);
    if (!(Number.isInteger(topK) && topK >= 1)) throw new RangeError(`${who}: topK must be an integer in [1, classes], got ${topK}`);
  }
  const rows = net.rowsOf(x, who);
  // the class count as accuracy() finds it (a net whose layers do not tell it runs x's first row)
  const classes = net.outputColumns(x, who);
  if (topK !== undefined && (topK as number) > classes) throw new RangeError(`${who}: topK must be an integer in [1, ${classes}] (the net's classes), got ${topK}`);
  return new Tally(classes, trueClasses(net, t, rows, classes, who), (topK as number | undefined) ?? null);
}

/** The true class of each row, checked as net.accuracy() checks t: labels in [0, classes), or target rows' first maximum. */
function trueClasses(net: Classifier, t: Targets, rows: number, classes: number, who: string): Int32Array {
  t = ownTargets(net.rt, t);
  checkClassTargets(net.rt, t, rows, classes, who);
  if (t instanceof IntTensor) return t.data.slice();
  if (t instanceof Tensor) {
    const v = t.data, labels = new Int32Array(rows);
    for (let r = 0; r < rows; r++) labels[r] = firstMaximum(v, r * classes, classes);
    return labels;
  }
  return Int32Array.from(t);
}

/** The index of the first maximum of v[at … at + n) (the kernels' argmaxRow; NaN is never greater). */
function firstMaximum(v: ArrayLike<number>, at: number, n: number): number {
  let best = 0, m = v[at];
  for (let j = 1; j < n; j++) if (v[at + j] > m) { m = v[at + j]; best = j; }
  return best;
}

/** A metrics call's predicted classes and top-k count, chunk by chunk. */
class Tally {
  /** Each row's predicted class, −1 where its outputs hold NaN (metricsOfPredictions' input). */
  private readonly predicted: Int32Array;
  private inTopK = 0;

  /** `labels`: every row's true class; `k`: the top-k count's k, or null for none. */
  constructor(private readonly classes: number, private readonly labels: Int32Array, private readonly k: number | null) {
    this.predicted = new Int32Array(labels.length);
  }

  /** Counts the output y (borrowed) of the rows from `start` on (`who`: the entry, for an error). */
  add(y: Tensor, start: number, who: string): void {
    const C = this.classes, n = y.shape[0], k = this.k;
    // a layer of the caller's after the last Affine could change the width the net reports
    if (y.shape.length !== 2 || y.shape[1] !== C) throw new RangeError(`${who}: the net's output is [${y.shape.join(', ')}], not [rows, ${C}] (its classes)`);
    const v = y.data;
    for (let r = 0; r < n; r++) {
      const at = r * C, label = this.labels[start + r];
      let nan = false;
      for (let j = 0; j < C; j++) if (Number.isNaN(v[at + j])) nan = true;
      if (nan) { this.predicted[start + r] = -1; continue; }
      this.predicted[start + r] = firstMaximum(v, at, C);
      if (k !== null) {
        // in_top_k: in when fewer than k classes score strictly higher than the true one
        const target = v[at + label];
        let higher = 0;
        for (let j = 0; j < C; j++) if (v[at + j] > target) higher++;
        if (higher < k) this.inTopK++;
      }
    }
  }

  result(): ClassificationMetrics {
    const out = metricsOfPredictions(this.predicted, this.labels, this.classes);
    if (this.k !== null) out.topK = { k: this.k, accuracy: this.inTopK / out.rows };
    return out;
  }
}

/**
 * classificationMetrics' figures (all but topK, which needs the outputs) from each row's predicted class and its
 * true class, for a caller that has run the net itself (`simdnn predict --out` writes each row's prediction and
 * scores them from the one pass): `predicted[r]` the first maximum of row r's outputs, or −1 where they hold NaN
 * (counted wrong, in no column of the confusion matrix: `invalid`); `labels[r]` its true class; `classes` the
 * net's output width. The same bits as classificationMetrics of outputs giving those classes.
 * @throws RangeError (TypeError for a value that is no number) unless classes is a positive integer, both have the
 * same rows (at least one), every label is a class in [0, classes) and every prediction one or −1.
 */
export function metricsOfPredictions(predicted: ArrayLike<number>, labels: ArrayLike<number>, classes: number): ClassificationMetrics {
  const who = 'metricsOfPredictions';
  if (!(Number.isInteger(classes) && classes >= 1)) throw badNumber(classes, `${who}: classes must be a positive integer, got ${shown(classes)}`);
  const rows = labels?.length;
  if (!(rows >= 1 && predicted?.length === rows)) throw new RangeError(`${who}: predicted and labels must have the same rows, at least one (got ${predicted?.length} and ${rows})`);
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  /** Rows per true class (sklearn's support). */
  const support = new Array<number>(classes).fill(0);
  let invalid = 0;
  for (let r = 0; r < rows; r++) {
    const label = labels[r], c = predicted[r];
    if (!(Number.isInteger(label) && label >= 0 && label < classes)) throw badNumber(label, `${who}: labels[${r}] must be a class in [0, ${classes}), got ${shown(label)}`);
    if (!(Number.isInteger(c) && c >= -1 && c < classes)) throw badNumber(c, `${who}: predicted[${r}] must be a class in [0, ${classes}) or -1 (NaN outputs), got ${shown(c)}`);
    support[label]++;
    if (c < 0) invalid++;
    else confusion[label][c]++;
  }
  const predictedCount = new Array<number>(classes).fill(0);
  for (const row of confusion) row.forEach((n, c) => { predictedCount[c] += n; });
  let correct = 0;
  const perClass = confusion.map((row, c) => {
    const tp = row[c];
    correct += tp;
    return {
      precision: predictedCount[c] === 0 ? 0 : tp / predictedCount[c],
      recall: support[c] === 0 ? 0 : tp / support[c],
      // sklearn's form, (1 + β²)·tp / (β²·support + predicted); 0 when tp is 0
      f1: tp === 0 ? 0 : (2 * tp) / (support[c] + predictedCount[c]),
      support: support[c],
    };
  });
  // in class order: Σ score / classes, Σ score·support / rows
  const mean = (score: keyof ClassScores, weighted: boolean) =>
    perClass.reduce((sum, s) => sum + (weighted ? s[score] * s.support : s[score]), 0) / (weighted ? rows : classes);
  const average = (weighted: boolean): ClassScores => ({ precision: mean('precision', weighted), recall: mean('recall', weighted), f1: mean('f1', weighted) });
  return { classes, rows, confusion, accuracy: correct / rows, invalid, perClass, macro: average(false), weighted: average(true) };
}
