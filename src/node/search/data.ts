// The data of a search in Node, from a DataSpec: the bundled digits or an IDX
// directory, split as every host splits it (splitSearchData).
import { splitOptions, splitSearchData } from '../../search/data.js';
import type { DataSpec, TrialData } from '../../search/trial.js';
// through the Node entry: the search bundle shares the core bundle's loaders
import { loadIdx, loadMnist, type Runtime } from '../index.js';

/** The data spec of the book's search: 500 training digits, 20% of them for validation. */
export const BOOK_SEARCH_DATA: DataSpec = Object.freeze({ source: 'mnist', rows: 500, validation: 0.2, splitSeed: 1 });

const KEYS = new Set(['source', 'rows', 'validation', 'splitSeed']);

/**
 * Loads `spec` onto `rt`: `source` 'mnist' (the bundled digits' training
 * part) or an IDX directory's training files; its first `rows` rows (default
 * all); `validation` the share held out at random (default 0.2, seeded by
 * `splitSeed`, default 1). The caller owns the result (dispose() frees it).
 * Throws naming a bad field.
 */
export async function loadSearchData(rt: Runtime, spec: DataSpec): Promise<TrialData> {
  for (const key of Object.keys(spec)) if (!KEYS.has(key)) throw new TypeError(`data.${key}: unknown field (expected ${[...KEYS].join(', ')})`);
  const { source = 'mnist' } = spec;
  if (typeof source !== 'string') throw new TypeError(`data.source: expected 'mnist' or an IDX directory, got ${JSON.stringify(source)}`);
  const { rows } = splitOptions(spec);
  const options = { trainRows: rows, testRows: 1 };
  const all = source === 'mnist' ? await loadMnist(rt, options) : await loadIdx(rt, source, options);
  try {
    return splitSearchData(all.xTrain, all.tTrain, spec);
  } finally {
    for (const t of [all.xTrain, all.tTrain, all.xTest, all.tTest]) t.dispose();
  }
}
