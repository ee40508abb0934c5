// The data of a search in Node, from a DataSpec: the bundled digits or an IDX
// directory, the first `rows` training rows, of which a `validation` share is
// held out at random, as the book's hyperparameter_optimization.py does (500
// rows, 20%): Dataset.split, seeded with `splitSeed`.
import { Dataset } from '../../data/tensors.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { DataSpec, TrialData } from '../../search/trial.js';
import { loadIdx, loadMnist } from '../data.js';

/** The data spec of the book's search: 500 training digits, 20% of them for validation. */
export const BOOK_SEARCH_DATA: DataSpec = Object.freeze({ source: 'mnist', rows: 500, validation: 0.2, splitSeed: 1 });

const KEYS = new Set(['source', 'rows', 'validation', 'splitSeed']);

/**
 * Loads `spec` onto `rt`: `source` 'mnist' (the bundled digits' training
 * part) or an IDX directory; its first `rows` training rows (default all);
 * `validation` the share held out (default 0.2), drawn by Dataset.split seeded
 * with `splitSeed` (default 1). The caller owns the result (dispose() frees
 * it). Throws naming a bad field.
 */
export async function loadSearchData(rt: Runtime, spec: DataSpec): Promise<TrialData> {
  for (const key of Object.keys(spec)) if (!KEYS.has(key)) throw new TypeError(`data.${key}: unknown field (expected ${[...KEYS].join(', ')})`);
  const { source = 'mnist', rows, validation = 0.2, splitSeed = 1 } = spec;
  if (typeof source !== 'string') throw new TypeError(`data.source: expected 'mnist' or an IDX directory, got ${JSON.stringify(source)}`);
  if (rows !== undefined && !(typeof rows === 'number' && Number.isInteger(rows) && rows >= 2)) throw new RangeError(`data.rows: expected an integer >= 2, got ${JSON.stringify(rows)}`);
  if (!(typeof validation === 'number' && validation > 0 && validation < 1)) throw new RangeError(`data.validation: expected a share in (0, 1), got ${JSON.stringify(validation)}`);
  if (!(typeof splitSeed === 'number' && Number.isInteger(splitSeed) && splitSeed >= 0)) throw new RangeError(`data.splitSeed: expected a non-negative integer, got ${JSON.stringify(splitSeed)}`);
  const options = { trainRows: rows as number | undefined, testRows: 1 };
  const all = source === 'mnist' ? await loadMnist(rt, options) : await loadIdx(rt, source, options);
  const full = new Dataset(all.xTrain, all.tTrain);
  try {
    const { train, validation: val } = full.split(validation, splitSeed);
    return {
      xTrain: train.x, tTrain: train.t, xVal: val.x, tVal: val.t,
      dispose: () => { train.dispose(); val.dispose(); },
    };
  } finally {
    full.dispose();
    for (const t of [all.xTrain, all.tTrain, all.xTest, all.tTest]) t.dispose();
  }
}
