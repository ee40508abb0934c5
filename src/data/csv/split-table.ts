// A loaded table as a training run's data (splitTable): the rows split into training and test rows, stratified and
// seeded, and the features standardized with the training rows' statistics. One function, so the command line
// (simdnn train --data t.csv) and the playground split and scale a table the same way, to the bit.
import { checkFloatTensor, checkOptions, checkTensor, describeValue, Dataset, IntTensor, stratifiedSplit, Tensor } from '../../index.js';
import { fitStandardizer, standardize, type Standardizer } from './standardize.js';

/** Options of splitTable. */
export interface SplitTableOptions {
  /** The share of rows held out for testing, in (0, 1): Keras's count of them, N − ⌊N·(1 − testSplit)⌋. */
  testSplit: number;
  /** The split's seed (stratifiedSplit's: a number taken modulo 2^32); simdnn train passes --seed (default 1). */
  seed: number;
  /** Keep only the first trainRows of the (shuffled) training rows, before the statistics are fitted. Default: all. */
  trainRows?: number;
  /** Keep only the first testRows of the (shuffled) test rows. Default: all. */
  testRows?: number;
}

/** What splitTable returns: the two parts (the caller owns the tensors) and the statistics both were standardized with. */
export interface SplitTable {
  xTrain: Tensor;
  tTrain: IntTensor;
  xTest: Tensor;
  tTest: IntTensor;
  /** fitStandardizer's statistics of the training rows (a model's CsvModelInfo records them). */
  standardizer: Standardizer;
}

const KEYS = new Set(['testSplit', 'seed', 'trainRows', 'testRows']);

/** How many of `rows` rows `testSplit` holds out for testing: N − ⌊N·(1 − testSplit)⌋ (Keras's validation_split count). */
export function testRowCount(rows: number, testSplit: number): number {
  return rows - Math.floor(rows * (1 - testSplit));
}

/**
 * The rows of a table (loadCsv's x and t: borrowed, left as they are) split by stratifiedSplit of the labels into
 * training and test rows (testRowCount of them for testing, each class in the same share, seeded), the first
 * trainRows / testRows of each kept when given, and the features of both parts standardized (x − mean) / scale with
 * fitStandardizer's statistics of the training part only. The caller owns the four tensors returned.
 * @throws TypeError/RangeError naming the option (a split that leaves a part empty, more rows asked than a part
 * holds), or the tensors, before anything is allocated.
 */
export function splitTable(set: { x: Tensor; t: IntTensor }, options: SplitTableOptions): SplitTable {
  const who = 'splitTable';
  if (set === null || typeof set !== 'object') throw new TypeError(`${who}: set must be { x, t } (loadCsv's), got ${describeValue(set)}`);
  const { x, t } = set;
  if (!(x instanceof Tensor)) throw new TypeError(`${who}: set.x must be a float Tensor of rows of features, got ${describeValue(x)}`);
  if (!(t instanceof IntTensor)) throw new TypeError(`${who}: set.t must be an IntTensor of class indices, got ${describeValue(t)}`);
  checkFloatTensor(x.rt, x, `${who}: set.x`);
  checkTensor(x.rt, t, `${who}: set.t`); // alive, and on x's runtime
  if (x.shape.length !== 2 || t.shape.length !== 1 || t.shape[0] !== x.shape[0]) {
    throw new RangeError(`${who}: set.x must be [rows, features] and set.t [rows], got [${x.shape.join(', ')}] and [${t.shape.join(', ')}]`);
  }
  if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options must be { testSplit, seed }, got ${describeValue(options)}`);
  checkOptions(who, options, KEYS);
  const { testSplit, seed, trainRows, testRows } = options;
  if (typeof testSplit !== 'number') throw new TypeError(`${who}: options.testSplit must be a share of the rows in (0, 1), got ${describeValue(testSplit)}`);
  if (!(testSplit > 0 && testSplit < 1)) throw new RangeError(`${who}: options.testSplit must be a share of the rows in (0, 1), got ${testSplit}`);
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new TypeError(`${who}: options.seed must be a number (a 32-bit seed), got ${describeValue(seed)}`);
  const N = x.shape[0], testCount = testRowCount(N, testSplit);
  if (testCount === 0 || testCount === N) throw new RangeError(`${who}: options.testSplit ${testSplit} of the ${N} rows leaves ${testCount === 0 ? 'no test rows' : 'no training rows'}`);
  const keepTrain = keptRows(who, 'trainRows', trainRows, N - testCount), keepTest = keptRows(who, 'testRows', testRows, testCount);
  const split = stratifiedSplit(t.toArray(), testCount, seed);
  const whole = new Dataset(x, t);
  const parts: Array<Dataset<IntTensor>> = [];
  try {
    parts.push(whole.select(split.train.subarray(0, keepTrain)));
    parts.push(whole.select(split.test.subarray(0, keepTest)));
    const standardizer = fitStandardizer(parts[0].x);
    for (const part of parts) standardize(part.x, standardizer);
    const [train, test] = parts;
    return { xTrain: train.x, tTrain: train.t, xTest: test.x, tTest: test.t, standardizer };
  } catch (e) {
    for (const part of parts) part.dispose();
    throw e;
  } finally {
    whole.dispose();
  }
}

/** How many rows of a part of `held` rows to keep: `asked` (an integer in [1, held]) or all of them. */
function keptRows(who: string, name: string, asked: unknown, held: number): number {
  if (asked === undefined) return held;
  if (typeof asked !== 'number') throw new TypeError(`${who}: options.${name} must be a count of rows, got ${describeValue(asked)}`);
  if (!(Number.isInteger(asked) && asked >= 1 && asked <= held)) throw new RangeError(`${who}: options.${name} must be an integer in [1, ${held}] (the part's rows), got ${asked}`);
  return asked;
}
