// The data of a search in Node, from a DataSpec: the bundled digits or an IDX
// directory, the first `rows` training rows, of which a `validation` share is
// held out, as the book's hyperparameter_optimization.py does (500 rows, 20%).
import { stratifiedSplit } from '../../data/split.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { IntTensor, Tensor } from '../../runtime/tensor.js';
import type { DataSpec, TrialData } from '../../search/trial.js';
import { loadIdx, loadMnist } from '../data.js';

/** The data spec of the book's search: 500 training digits, 20% of them for validation. */
export const BOOK_SEARCH_DATA: DataSpec = Object.freeze({ source: 'mnist', rows: 500, validation: 0.2, splitSeed: 1 });

const KEYS = new Set(['source', 'rows', 'validation', 'splitSeed']);

/**
 * Loads `spec` onto `rt`: `source` 'mnist' (the bundled digits) or an IDX
 * directory; the first `rows` training rows (default all); `validation` the
 * share held out (default 0.2), chosen by a stratified split seeded with
 * `splitSeed` (default 1). The caller owns the four tensors. Throws naming a bad field.
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
  try {
    const n = all.xTrain.shape[0];
    const valCount = Math.floor(n * validation);
    if (valCount < 1 || valCount >= n) throw new RangeError(`data.validation: ${validation} of ${n} rows leaves no ${valCount < 1 ? 'validation' : 'training'} rows`);
    const split = stratifiedSplit(all.tTrain.data, valCount, splitSeed);
    return {
      xTrain: gather(rt, all.xTrain, split.train),
      tTrain: gatherLabels(rt, all.tTrain, split.train),
      xVal: gather(rt, all.xTrain, split.test),
      tVal: gatherLabels(rt, all.tTrain, split.test),
    };
  } finally {
    for (const t of [all.xTrain, all.tTrain, all.xTest, all.tTest]) t.dispose();
  }
}

function gather(rt: Runtime, x: Tensor, rows: Int32Array): Tensor {
  const width = x.size / x.shape[0];
  const out = rt.tensor([rows.length, ...x.shape.slice(1)]);
  const src = x.data, dst = out.data;
  rows.forEach((r, i) => dst.set(src.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

function gatherLabels(rt: Runtime, t: IntTensor, rows: Int32Array): IntTensor {
  const src = t.data;
  return rt.labels([rows.length], Array.from(rows, (r) => src[r]));
}
