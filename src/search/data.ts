// A search's training and validation sets from loaded rows, as a DataSpec
// describes them: the first `rows` rows (more than there are is refused), a
// `validation` share held out at random by Dataset.split seeded with
// `splitSeed` (the book: 500 rows, 20%).
// Every loader (Node's files, an experiment's digits, a page's fetch) goes
// through here, so one DataSpec means the same rows everywhere.
import { Dataset, checkFloatTensor, checkTensor, describeValue, type IntTensor, type Tensor } from '../index.js';
import type { DataSpec, TrialData } from './trial.js';

/** The fields of a DataSpec this module reads, with their defaults applied; throws naming a bad one. */
export function splitOptions(spec: DataSpec): { rows: number | undefined; validation: number; splitSeed: number } {
  if (spec === null || typeof spec !== 'object') throw new TypeError(`data: expected a DataSpec object, got ${describeValue(spec)}`);
  const { rows, validation = 0.2, splitSeed = 1 } = spec;
  if (rows !== undefined && !(typeof rows === 'number' && Number.isInteger(rows) && rows >= 2)) throw new RangeError(`data.rows: expected an integer >= 2, got ${JSON.stringify(rows)}`);
  if (!(typeof validation === 'number' && validation > 0 && validation < 1)) throw new RangeError(`data.validation: expected a share in (0, 1), got ${JSON.stringify(validation)}`);
  if (!(typeof splitSeed === 'number' && Number.isInteger(splitSeed) && splitSeed >= 0)) throw new RangeError(`data.splitSeed: expected a non-negative integer, got ${JSON.stringify(splitSeed)}`);
  return { rows: rows as number | undefined, validation, splitSeed };
}

/**
 * The trial data of `spec` from rows `x`, `t` (borrowed; only copies are kept):
 * the first spec.rows rows (all when absent), split into training and
 * validation parts. The caller owns the result (dispose() frees it).
 * @throws RangeError naming data.rows when it asks for more rows than x holds (a search on fewer rows than
 * its DataSpec records would be another study under its name), before anything is allocated.
 */
export function splitSearchData(x: Tensor, t: Tensor | IntTensor, spec: DataSpec): TrialData {
  checkFloatTensor(x?.rt, x, 'splitSearchData: x');
  checkTensor(x.rt, t, 'splitSearchData: t');
  if (x.shape.length === 0 || t.shape.length === 0 || t.shape[0] !== x.shape[0]) {
    throw new RangeError(`splitSearchData: x [${x.shape.join(', ')}] and t [${t.shape.join(', ')}] must have the same number of rows`);
  }
  const { rows, validation, splitSeed } = splitOptions(spec);
  if (rows !== undefined && rows > x.shape[0]) throw new RangeError(`data.rows: ${rows} is more than the ${x.shape[0]} rows given`);
  const n = rows ?? x.shape[0];
  const full = new Dataset(x.rows(0, n), t.rows(0, n));
  try {
    const { train, validation: val } = full.split(validation, splitSeed);
    return { xTrain: train.x, tTrain: train.t, xVal: val.x, tVal: val.t, dispose: () => { train.dispose(); val.dispose(); } };
  } finally {
    full.dispose();
  }
}
