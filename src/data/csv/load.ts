// A table's rows as features and class labels on the runtime (loadCsv): the columns picked by name or index,
// every cell checked and read before anything is allocated, labels mapped to class indices.
import { checkOptions, checkRuntime, describeValue, type IntTensor, type Runtime } from '../../index.js';
import { CsvError, type CsvOptions, type CsvTable } from './parse.js';
import type { CsvFeatures, LoadCsvFeaturesOptions } from './features.js';
import {
  cellAt, checkColumnSpec, checkFeatureSpecs, checkList, checkParseOptions, columnIndex, columnNames, featureColumns, featureValues, openTable, quoted,
} from './table.js';

/** Options of loadCsv: which columns, how labels map to classes, and how to parse (parseCsv's options). */
export interface LoadCsvOptions extends LoadCsvFeaturesOptions {
  /** The column of class labels: its header name, or its index (from 0). Required. */
  label: string | number;
  /** The feature columns, by name or index, in the order x takes them; default: every column but the label's, in the table's order. */
  features?: ReadonlyArray<string | number>;
  /**
   * The class names, in the order of their indices: every label must be one of them. Default: the distinct labels,
   * sorted — numerically when all are integers ('10' after '9'), else by Unicode code point.
   */
  classes?: readonly string[];
}

/** What loadCsv returns: the tensors (the caller owns them) and the names behind their columns and labels. */
export interface CsvDataSet extends CsvFeatures {
  /** Each row's class index into classNames, [rows]. */
  t: IntTensor;
  /** The class of each index. */
  classNames: string[];
}

const LOAD_KEYS = new Set(['label', 'features', 'classes', 'delimiter', 'header']);

/**
 * A table's rows as features and class labels on `rt`: `source` CSV text, or its bytes (UTF-8). Each feature cell
 * must be a decimal number in the strict form 1, -0.5, 1e-3 (no spaces, empty cells, hex, NaN or Infinity: a
 * CsvError names the row, the line and the column), read as the float32 nearest it; labels are text, mapped to
 * class indices by `classes` or in sorted order. Everything is checked before the tensors are allocated.
 */
export function loadCsv(rt: Runtime, source: string | Uint8Array, options: LoadCsvOptions): CsvDataSet {
  return loadCsvAs('loadCsv', rt, source, options);
}

/** @internal loadCsv with the name its errors give (loadCsvFile's). */
export function loadCsvAs(who: string, rt: Runtime, source: string | Uint8Array, options: LoadCsvOptions): CsvDataSet {
  checkRuntime(rt, who);
  const checked = checkLoadCsvOptions(who, options);
  return csvDataSetOf(who, rt, openTable(who, source, checked.parseOptions), checked);
}

/** loadCsv's options as checkLoadCsvOptions reads them. */
type CheckedLoadCsvOptions = ReturnType<typeof checkLoadCsvOptions>;

/** @internal loadCsv on a table parsed already (the command line's, which looks at its columns first), options checked. */
export function csvDataSetOf(who: string, rt: Runtime, table: CsvTable, checked: CheckedLoadCsvOptions): CsvDataSet {
  const { label, featureSpecs, classList, parseOptions } = checked;
  const labelColumn = columnIndex(who, 'options.label', table, label, parseOptions.header);
  const columns = featureColumns(who, table, featureSpecs, parseOptions.header, labelColumn);
  const values = featureValues(who, table, columns);
  const N = table.rows.length;
  const classNames = classList ?? sortedClasses(table.rows.map((row) => row[labelColumn]));
  const index = new Map(classNames.map((c, i) => [c, i]));
  const labels = new Int32Array(N);
  for (let r = 0; r < N; r++) {
    const value = table.rows[r][labelColumn];
    if (value === '') throw new CsvError(`${cellAt(who, table, r, labelColumn)}: the label is empty (rows without a label are yours to drop before loading)`, table.lines[r]);
    const c = index.get(value);
    if (c === undefined) throw new CsvError(`${cellAt(who, table, r, labelColumn)}: label ${quoted(value)} is none of options.classes (${classNames.map(quoted).join(', ')})`, table.lines[r]);
    labels[r] = c;
  }
  const x = rt.tensor([N, columns.length], values);
  let t: IntTensor;
  try {
    t = rt.labels([N], labels);
  } catch (e) {
    x.dispose();
    throw e;
  }
  return { x, t, featureNames: columnNames(table, columns), classNames };
}

/** @internal loadCsv's options checked (before a file is read), read once: the columns, the classes and parseCsv's options. */
export function checkLoadCsvOptions(who: string, options: LoadCsvOptions): {
  label: string | number; featureSpecs?: Array<string | number>; classList?: string[]; parseOptions: CsvOptions;
} {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${who}: options must be an object with label (the column of class labels, by name or index), got ${describeValue(options)}`);
  }
  checkOptions(who, options, LOAD_KEYS);
  const { label, features, classes } = options;
  if (label === undefined) throw new TypeError(`${who}: options.label is required: the column of class labels, by its header name or its index (from 0)`);
  checkColumnSpec(who, 'options.label', label);
  const featureSpecs = checkFeatureSpecs(who, features);
  const classList = classes === undefined ? undefined : checkClasses(who, classes);
  return { label, featureSpecs, classList, parseOptions: checkParseOptions(who, options) };
}

function checkClasses(who: string, classes: unknown): string[] {
  const names = checkList<string>(who, 'options.classes', classes, (v, what) => {
    if (typeof v !== 'string') throw new TypeError(`${who}: ${what} must be a class name (a string), got ${describeValue(v)}`);
  });
  const seen = new Set<string>();
  for (const c of names) {
    if (seen.has(c)) throw new RangeError(`${who}: options.classes names ${JSON.stringify(c)} twice`);
    seen.add(c);
  }
  return names;
}

/** The distinct labels sorted: by value when all are integers ('10' after '9'; '07' and '7' are two classes, '07' first), else by code point. */
function sortedClasses(labels: string[]): string[] {
  const distinct = [...new Set(labels)].filter((c) => c !== '');
  if (distinct.length > 0 && distinct.every((c) => /^[+-]?\d+$/.test(c))) {
    return distinct.sort((a, b) => {
      const x = BigInt(a), y = BigInt(b);
      return x < y ? -1 : x > y ? 1 : byCodePoint(a, b);
    });
  }
  return distinct.sort(byCodePoint);
}

/** Unicode code point order (Python's and NumPy's; JavaScript's sort compares UTF-16 units, which differ past U+FFFF). */
function byCodePoint(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length) {
    const x = a.codePointAt(i)!, y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}
