// The data of a search in Node, from a DataSpec: the bundled digits, an IDX
// directory or a CSV file, split as every host splits it (splitSearchData). A
// table's features are standardized with statistics of the training rows only,
// so the validation rows are scaled as unseen rows would be.
import { splitOptions, splitSearchData } from '../../search/data.js';
import type { DataSpec, TrialData } from '../../search/trial.js';
import { fsPromises } from '../builtins.js';
// through the Node entries: the search bundle shares the core bundle's and the csv bundle's loaders
import { loadIdx, loadIdxPart, loadMnist, type Runtime } from '../index.js';
import { fitStandardizer, loadCsvFile, standardize, type CsvDataSet } from '../csv/index.js';

/** The data spec of the book's search: 500 training digits, 20% of them for validation. */
export const BOOK_SEARCH_DATA: DataSpec = Object.freeze({ source: 'mnist', rows: 500, validation: 0.2, splitSeed: 1 });

const KEYS = new Set(['source', 'rows', 'validation', 'splitSeed', 'label']);

/** What a data source names: the bundled digits, an IDX directory, or a CSV table (gzipped or not). */
export type DataSourceKind = 'mnist' | 'idx' | 'csv';

/**
 * The one rule for what a `source` (`--data`) names: 'mnist', else a directory is IDX files and a regular file
 * a CSV table; null when it is none of them (nothing there, a device or a pipe).
 */
export async function dataSourceKind(source: string): Promise<DataSourceKind | null> {
  if (source === 'mnist') return 'mnist';
  const st = await fsPromises().stat(source).catch(() => null);
  return st?.isDirectory() ? 'idx' : st?.isFile() ? 'csv' : null;
}

/**
 * Loads `spec` onto `rt`: `source` 'mnist' (the bundled digits' training
 * part), an IDX directory's training files, or a CSV file (dataSourceKind; a
 * path that is neither is read as `label` says, so its loader's error says why
 * not), whose `label` names the column of class labels (required there,
 * refused elsewhere; a header row names the columns, the delimiter is sniffed,
 * as `simdnn train` reads a table); its first `rows` rows (default all; more than
 * the training part or the table holds is refused); `validation` the share held out at random
 * (default 0.2, seeded by `splitSeed`, default 1). A table's features are
 * standardized with the statistics of the training part (fitStandardizer),
 * and `classes` is the table's class count. The caller owns the result
 * (dispose() frees it). Throws naming a bad field.
 */
export async function loadSearchData(rt: Runtime, spec: DataSpec): Promise<TrialData> {
  const { rows } = splitOptions(spec);
  for (const key of Object.keys(spec)) if (!KEYS.has(key)) throw new TypeError(`data.${key}: unknown field (expected ${[...KEYS].join(', ')})`);
  const { source = 'mnist', label } = spec;
  if (typeof source !== 'string') throw new TypeError(`data.source: expected 'mnist', an IDX directory or a CSV file, got ${JSON.stringify(source)}`);
  if (label !== undefined && !(typeof label === 'string' && label !== '')) throw new TypeError(`data.label: expected the label column's header name, got ${JSON.stringify(label)}`);
  // a path that is neither (missing, unreadable, a pipe) goes to the loader `label` asks for, which says why it cannot read it
  const kind = (await dataSourceKind(source)) ?? (label !== undefined ? 'csv' : 'idx');
  if (kind === 'csv') {
    if (label === undefined) throw new TypeError(`data.label: required: data.source '${source}' is a file, read as a CSV table, and label names its column of class labels`);
    return loadTable(rt, source, label, spec, rows);
  }
  if (label !== undefined) throw new TypeError(`data.label: only a CSV source takes it (data.source '${source}' is ${kind === 'mnist' ? 'the bundled digits' : 'an IDX directory'}, whose labels are their own)`);
  const options = { trainRows: rows, testRows: 1 };
  const all = kind === 'mnist' ? await loadMnist(rt, options) : await loadIdx(rt, source, options);
  try {
    // the loaders keep at most trainRows: fewer is all the part holds
    const held = all.xTrain.shape[0];
    if (rows !== undefined && held < rows) throw new RangeError(`data.rows: ${rowsBeyond(rows, held, kind, source)}`);
    return splitSearchData(all.xTrain, all.tTrain, spec);
  } finally {
    for (const t of [all.xTrain, all.tTrain, all.xTest, all.tTest]) t.dispose();
  }
}

/**
 * How many rows the training part of the bundled digits (`kind` 'mnist') or of the IDX directory `source` holds,
 * counted up to `rows`: the loaders read the part's files but keep no more than that, so a count below `rows`
 * is all the part holds (rowsBeyond says so). For a check before the trials (`simdnn search`); keeps nothing on `rt`.
 */
export async function trainingRowsUpTo(rt: Runtime, kind: 'mnist' | 'idx', source: string, rows: number): Promise<number> {
  if (kind === 'mnist') {
    const all = await loadMnist(rt, { trainRows: rows, testRows: 1 });
    const held = all.xTrain.shape[0];
    for (const t of [all.xTrain, all.tTrain, all.xTest, all.tTest]) t.dispose();
    return held;
  }
  const part = await loadIdxPart(rt, source, 'train', { rows }); // the t10k files are not read
  const held = part.x.shape[0];
  part.x.dispose();
  part.t.dispose();
  return held;
}

/** Why `rows` asked of a training part that holds `held` is refused (after 'data.rows: ' or '--rows: '). */
export function rowsBeyond(rows: number, held: number, kind: 'mnist' | 'idx', source: string): string {
  return `${rows} is more than the ${held} rows of ${kind === 'mnist' ? "the bundled digits'" : `IDX directory ${source}'s`} training part`;
}

/** A CSV file's trial data: its first `rows` rows split, the features standardized by the training part's statistics. */
async function loadTable(rt: Runtime, file: string, label: string, spec: DataSpec, rows: number | undefined): Promise<TrialData> {
  let table: CsvDataSet;
  try {
    table = await loadCsvFile(rt, file, { label, header: true, delimiter: 'auto' });
  } catch (e) {
    if (e instanceof Error) e.message = e.message.replace(/\boptions\.label\b/, 'data.label');
    throw e;
  }
  try {
    const N = table.x.shape[0];
    if (rows !== undefined && rows > N) throw new RangeError(`data.rows: ${rows} is more than the ${N} rows of ${file}`);
    const data = splitSearchData(table.x, table.t, spec);
    try {
      const stats = fitStandardizer(data.xTrain);
      standardize(data.xTrain, stats);
      standardize(data.xVal, stats);
    } catch (e) {
      data.dispose!();
      throw e;
    }
    return { ...data, classes: table.classNames.length };
  } finally {
    table.x.dispose();
    table.t.dispose();
  }
}
