// A table's rows as features and class labels on the runtime (loadCsv): the columns picked by name or index,
// every cell checked and read before anything is allocated, labels mapped to class indices.
import { checkOptions, checkRuntime, describeValue, MAX_ELEMENTS, shown, type IntTensor, type Runtime, type Tensor } from '../../index.js';
import { checkDelimiter, CsvError, parseTable, type CsvOptions, type CsvTable } from './parse.js';
import { F32_MAX, float32Of, isNumber } from './number.js';

/** Options of loadCsv: which columns, how labels map to classes, and how to parse (parseCsv's options). */
export interface LoadCsvOptions extends CsvOptions {
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
export interface CsvDataSet {
  /** The features, [rows, features], float32. */
  x: Tensor;
  /** Each row's class index into classNames, [rows]. */
  t: IntTensor;
  /** The feature columns' names, in x's column order (their indices as text when the table has no header). */
  featureNames: string[];
  /** The class of each index. */
  classNames: string[];
}

const LOAD_KEYS = new Set(['label', 'features', 'classes', 'delimiter', 'header']);

// by tag: bytes made in another realm (an iframe, a vm context) or a Node Buffer are Uint8Arrays too
const isBytes = (v: unknown): v is Uint8Array => Object.prototype.toString.call(v) === '[object Uint8Array]';

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
  const { label, featureSpecs, classList, parseOptions } = checkLoadCsvOptions(who, options);
  const table = parseTable(who, textOf(who, source), parseOptions);
  if (table.rows.length === 0 && !table.columns?.length) throw new CsvError(`${who}: the text holds no table (no rows)`);
  const width = table.columns?.length || table.rows[0]?.length || 0;
  const labelColumn = columnIndex(who, 'options.label', table, width, label, parseOptions.header);
  const featureColumns = featureSpecs === undefined
    ? Array.from({ length: width }, (_, j) => j).filter((j) => j !== labelColumn)
    : featureSpecs.map((spec, k) => columnIndex(who, `options.features[${k}]`, table, width, spec, parseOptions.header));
  checkColumns(who, table, labelColumn, featureColumns);
  const N = table.rows.length, F = featureColumns.length;
  if (N === 0) throw new CsvError(`${who}: the table has no data rows${table.columns ? ' (only a header)' : ''}`);
  if (N * F > MAX_ELEMENTS) throw new RangeError(`${who}: ${N} rows x ${F} features = ${N * F} values, more than the ${MAX_ELEMENTS} a tensor holds`);
  const name = (j: number) => (table.columns ? `'${table.columns[j]}'` : `${j}`);
  const where = (r: number, j: number) => `${who}: row ${r + 1} (line ${table.lines[r]}), column ${name(j)}`;
  const values = new Float32Array(N * F);
  for (let r = 0; r < N; r++) {
    const row = table.rows[r];
    for (let k = 0; k < F; k++) {
      const cell = row[featureColumns[k]];
      if (!isNumber(cell)) throw new CsvError(`${where(r, featureColumns[k])}: ${quoted(cell)} is not a number${notANumberHint(cell)}`, table.lines[r]);
      const v = float32Of(cell);
      if (!Number.isFinite(v)) throw new CsvError(`${where(r, featureColumns[k])}: ${quoted(cell).slice(1, -1)} is beyond float32's range (magnitudes up to ${F32_MAX})`, table.lines[r]);
      values[r * F + k] = v;
    }
  }
  const classNames = classList ?? sortedClasses(table.rows.map((row) => row[labelColumn]));
  const index = new Map(classNames.map((c, i) => [c, i]));
  const labels = new Int32Array(N);
  for (let r = 0; r < N; r++) {
    const value = table.rows[r][labelColumn];
    if (value === '') throw new CsvError(`${where(r, labelColumn)}: the label is empty (rows without a label are yours to drop before loading)`, table.lines[r]);
    const c = index.get(value);
    if (c === undefined) throw new CsvError(`${where(r, labelColumn)}: label ${quoted(value)} is none of options.classes (${classNames.map(quoted).join(', ')})`, table.lines[r]);
    labels[r] = c;
  }
  const x = rt.tensor([N, F], values);
  let t: IntTensor;
  try {
    t = rt.labels([N], labels);
  } catch (e) {
    x.dispose();
    throw e;
  }
  return { x, t, featureNames: featureColumns.map((j) => table.columns?.[j] ?? String(j)), classNames };
}

/** @internal loadCsv's options checked (before a file is read), read once: the columns, the classes and parseCsv's options. */
export function checkLoadCsvOptions(who: string, options: LoadCsvOptions): {
  label: string | number; featureSpecs?: Array<string | number>; classList?: string[]; parseOptions: CsvOptions;
} {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${who}: options must be an object with label (the column of class labels, by name or index), got ${describeValue(options)}`);
  }
  checkOptions(who, options, LOAD_KEYS);
  const { label, features, classes, delimiter, header } = options;
  if (label === undefined) throw new TypeError(`${who}: options.label is required: the column of class labels, by its header name or its index (from 0)`);
  checkColumnSpec(who, 'options.label', label);
  const featureSpecs = features === undefined ? undefined : checkList<string | number>(who, 'options.features', features, (v, what) => checkColumnSpec(who, what, v));
  const classList = classes === undefined ? undefined : checkClasses(who, classes);
  if (delimiter !== undefined && delimiter !== 'auto') checkDelimiter(who, delimiter);
  if (header !== undefined && header !== true && header !== false && header !== 'auto') throw new TypeError(`${who}: header must be true, false or 'auto', got ${describeValue(header)}`);
  return { label, featureSpecs, classList, parseOptions: { delimiter, header } };
}

/** A cell as a message shows it: quoted, and cut after 40 characters. */
function quoted(cell: string): string {
  return JSON.stringify(cell.length > 40 ? `${cell.slice(0, 40)}…` : cell);
}

/** Why a cell is not a number, for the message: the forms people meet. */
function notANumberHint(cell: string): string {
  if (cell === '') return ' (an empty cell: missing values are yours to fill, e.g. with the column\'s mean, or to drop, before loading)';
  if (isNumber(cell.trim())) return ' (spaces around a number are not taken: strip them)';
  if (/^[+-]?(nan|inf|infinity)$/i.test(cell.trim())) return ' (NaN and Infinity are not taken: missing or unbounded values are yours to fill or drop)';
  if (/^[+-]?\d+,\d+$/.test(cell)) return ' (a decimal comma? write a point)';
  return '';
}

/** The source as text: a string as it is, bytes decoded as UTF-8 (a BOM dropped; bytes that are not UTF-8 refused). */
function textOf(who: string, source: unknown): string {
  if (typeof source === 'string') return source;
  if (!isBytes(source)) throw new TypeError(`${who}: source must be CSV text (a string) or its bytes (a Uint8Array of UTF-8), got ${describeValue(source)}`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(source);
  } catch (e) {
    if (e instanceof TypeError) throw new CsvError(`${who}: the bytes are not UTF-8 (decode them yourself, e.g. new TextDecoder('windows-1252').decode(bytes), and pass the text)`);
    throw new RangeError(`${who}: ${source.length} bytes of text are more than this host's longest string`);
  }
}

function checkColumnSpec(who: string, what: string, v: unknown): asserts v is string | number {
  if (typeof v === 'string') return;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return;
  const expected = `${who}: ${what} must be a column's header name or its index (an integer >= 0), got ${shown(v)}`;
  throw typeof v === 'number' ? new RangeError(expected) : new TypeError(expected);
}

/** An array option read once into a plain array, each element checked by `check`. */
function checkList<T>(who: string, what: string, list: unknown, check: (v: unknown, what: string) => void): T[] {
  if (!Array.isArray(list)) throw new TypeError(`${who}: ${what} must be an array, got ${describeValue(list)}`);
  const items = Array.from(list as unknown[]);
  if (items.length === 0) throw new RangeError(`${who}: ${what} is empty`);
  items.forEach((v, k) => check(v, `${what}[${k}]`));
  return items as T[];
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

/** The index of the column `spec` names (a header name or an index); a CsvError when the table has no such column. */
function columnIndex(who: string, what: string, table: CsvTable, width: number, spec: string | number, header: CsvOptions['header']): number {
  if (typeof spec === 'number') {
    if (spec >= width) throw new CsvError(`${who}: ${what} is ${spec}, but the table has ${width} column${width === 1 ? '' : 's'}${width > 0 ? ` (indices 0 to ${width - 1})` : ''}`);
    return spec;
  }
  if (table.columns === null) {
    const why = header === false ? 'header: false' : "the first row reads as data (header 'auto' takes it for names only when a column has a name over a number; pass header: true)";
    throw new CsvError(`${who}: ${what} is ${JSON.stringify(spec)}, a column's name, but the table has no header row: ${why}`);
  }
  const at = table.columns.flatMap((c, j) => (c === spec ? [j] : []));
  if (at.length === 0) throw new CsvError(`${who}: ${what}: no column is named ${JSON.stringify(spec)} (the columns: ${table.columns.map((c) => JSON.stringify(c)).join(', ')})`);
  if (at.length > 1) throw new CsvError(`${who}: ${what}: columns ${at.join(' and ')} are both named ${JSON.stringify(spec)}; name the one you mean by its index`);
  return at[0];
}

/** The label and features: distinct columns, at least one feature, names that tell them apart. */
function checkColumns(who: string, table: CsvTable, label: number, features: number[]): void {
  if (features.length === 0) throw new CsvError(`${who}: no feature columns: the table's one column is the label`);
  const seen = new Map<number, number>();
  features.forEach((j, k) => {
    if (j === label) throw new CsvError(`${who}: options.features[${k}] is the label's column (${table.columns ? JSON.stringify(table.columns[j]) : j})`);
    if (seen.has(j)) throw new CsvError(`${who}: options.features[${seen.get(j)}] and [${k}] are the same column (${table.columns ? JSON.stringify(table.columns[j]) : j})`);
    seen.set(j, k);
  });
  if (table.columns) {
    // featureNames must say which column each is: two of one name could not be told apart by a later table
    const names = new Map<string, number>();
    for (const j of features) {
      const other = names.get(table.columns[j]);
      if (other !== undefined) throw new CsvError(`${who}: feature columns ${other} and ${j} are both named ${JSON.stringify(table.columns[j])}; rename one, or leave one out with options.features`);
      names.set(table.columns[j], j);
    }
  }
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
