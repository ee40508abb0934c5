// A table's rows as features alone (loadCsvFeatures): the rows to predict, whose labels are unknown. The same
// columns, cells and checks as loadCsv (table.ts), without a label column.
import { checkOptions, checkRuntime, describeValue, type Runtime, type Tensor } from '../../index.js';
import type { CsvOptions, CsvTable } from './parse.js';
import { checkFeatureSpecs, checkParseOptions, columnNames, featureColumns, featureValues, openTable } from './table.js';

/** Options of loadCsvFeatures: which columns, and how to parse (parseCsv's options). */
export interface LoadCsvFeaturesOptions extends CsvOptions {
  /** The feature columns, by header name or index (from 0), in the order x takes them; default: every column, in the table's order. */
  features?: ReadonlyArray<string | number>;
}

/** What loadCsvFeatures returns: the features (the caller owns the tensor) and the names of their columns. */
export interface CsvFeatures {
  /** The features, [rows, features], float32. */
  x: Tensor;
  /** The feature columns' names, in x's column order (their indices as text when the table has no header). */
  featureNames: string[];
}

const FEATURE_KEYS = new Set(['features', 'delimiter', 'header']);

/**
 * A table's rows as features on `rt`, for rows whose labels are unknown (a model's new rows): `source` CSV text,
 * or its bytes (UTF-8). The columns `features` names (default: every column), each cell read as loadCsv reads a
 * feature cell (a decimal in the strict form 1, -0.5, 1e-3, as the float32 nearest it; anything else a CsvError
 * naming the row, the line and the column). Everything is checked before the tensor is allocated.
 */
export function loadCsvFeatures(rt: Runtime, source: string | Uint8Array, options: LoadCsvFeaturesOptions = {}): CsvFeatures {
  return loadCsvFeaturesAs('loadCsvFeatures', rt, source, options);
}

/** @internal loadCsvFeatures with the name its errors give (loadCsvFeaturesFile's). */
export function loadCsvFeaturesAs(who: string, rt: Runtime, source: string | Uint8Array, options: LoadCsvFeaturesOptions): CsvFeatures {
  checkRuntime(rt, who);
  const checked = checkLoadCsvFeaturesOptions(who, options);
  return csvFeaturesOf(who, rt, openTable(who, source, checked.parseOptions), checked);
}

/** loadCsvFeatures' options as checkLoadCsvFeaturesOptions reads them. */
type CheckedFeaturesOptions = ReturnType<typeof checkLoadCsvFeaturesOptions>;

/** @internal loadCsvFeatures on a table parsed already (the command line's, which looks at its columns first), options checked. */
export function csvFeaturesOf(who: string, rt: Runtime, table: CsvTable, checked: CheckedFeaturesOptions): CsvFeatures {
  const columns = featureColumns(who, table, checked.featureSpecs, checked.parseOptions.header, null);
  const x = rt.tensor([table.rows.length, columns.length], featureValues(who, table, columns));
  return { x, featureNames: columnNames(table, columns) };
}

/** @internal loadCsvFeatures' options checked (before a file is read), read once. */
export function checkLoadCsvFeaturesOptions(who: string, options: LoadCsvFeaturesOptions): { featureSpecs?: Array<string | number>; parseOptions: CsvOptions } {
  if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options must be an object ({ features, delimiter, header }, all optional), got ${describeValue(options)}`);
  checkOptions(who, options, FEATURE_KEYS);
  return { featureSpecs: checkFeatureSpecs(who, options.features), parseOptions: checkParseOptions(who, options) };
}
