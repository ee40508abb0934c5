// What loadCsv and loadCsvFeatures share: the source read as a table, the columns picked by name or index,
// and the feature cells, every one checked, read into float32 rows.
import { describeValue, MAX_ELEMENTS, shown } from '../../index.js';
import { checkDelimiter, CsvError, parseTable, type CsvOptions, type CsvTable } from './parse.js';
import { F32_MAX, float32Of, isNumber } from './number.js';

// by tag: bytes made in another realm (an iframe, a vm context) or a Node Buffer are Uint8Arrays too
const isBytes = (v: unknown): v is Uint8Array => Object.prototype.toString.call(v) === '[object Uint8Array]';

/** @internal parseCsv's options (delimiter, header) checked, before a file is read. */
export function checkParseOptions(who: string, { delimiter, header }: CsvOptions): CsvOptions {
  if (delimiter !== undefined && delimiter !== 'auto') checkDelimiter(who, delimiter);
  if (header !== undefined && header !== true && header !== false && header !== 'auto') throw new TypeError(`${who}: header must be true, false or 'auto', got ${describeValue(header)}`);
  return { delimiter, header };
}

/** @internal options.features checked: a non-empty array of column names or indices, read once. */
export function checkFeatureSpecs(who: string, features: unknown): Array<string | number> | undefined {
  return features === undefined ? undefined : checkList<string | number>(who, 'options.features', features, (v, what) => checkColumnSpec(who, what, v));
}

/** @internal The source (CSV text, or its UTF-8 bytes) parsed; a CsvError when it holds no table. */
export function openTable(who: string, source: string | Uint8Array, parseOptions: CsvOptions): CsvTable {
  const table = parseTable(who, textOf(who, source), parseOptions);
  if (table.rows.length === 0 && !table.columns?.length) throw new CsvError(`${who}: the text holds no table (no rows)`);
  return table;
}

/** @internal The table's column count (its header's, else its first row's). */
export function tableWidth(table: CsvTable): number {
  return table.columns?.length || table.rows[0]?.length || 0;
}

/**
 * @internal The feature columns: those `specs` names (by name or index, in that order), or every column but the
 * label's (`label`, or null for none) in the table's order; each distinct, none the label's, their names apart.
 */
export function featureColumns(who: string, table: CsvTable, specs: Array<string | number> | undefined, header: CsvOptions['header'], label: number | null): number[] {
  const width = tableWidth(table);
  const columns = specs === undefined
    ? Array.from({ length: width }, (_, j) => j).filter((j) => j !== label)
    : specs.map((spec, k) => columnIndex(who, `options.features[${k}]`, table, spec, header));
  const name = (j: number) => (table.columns ? JSON.stringify(table.columns[j]) : String(j));
  if (columns.length === 0) throw new CsvError(`${who}: no feature columns: the table's one column is the label`);
  const seen = new Map<number, number>();
  columns.forEach((j, k) => {
    if (j === label) throw new CsvError(`${who}: options.features[${k}] is the label's column (${name(j)})`);
    if (seen.has(j)) throw new CsvError(`${who}: options.features[${seen.get(j)}] and [${k}] are the same column (${name(j)})`);
    seen.set(j, k);
  });
  if (table.columns) {
    // featureNames must say which column each is: two of one name could not be told apart by a later table
    const names = new Map<string, number>();
    for (const j of columns) {
      const other = names.get(table.columns[j]);
      if (other !== undefined) throw new CsvError(`${who}: feature columns ${other} and ${j} are both named ${JSON.stringify(table.columns[j])}; rename one, or leave one out with options.features`);
      names.set(table.columns[j], j);
    }
  }
  return columns;
}

/** @internal The names of `columns` (their indices as text when the table has no header). */
export function columnNames(table: CsvTable, columns: number[]): string[] {
  return columns.map((j) => table.columns?.[j] ?? String(j));
}

/**
 * @internal The rows' cells in `columns` as float32 values [rows, columns.length], row-major: each the float32 nearest
 * its decimal, a cell that is no number in the strict form, or beyond float32's range, a CsvError naming its row,
 * line and column. A table without data rows, or more values than a tensor holds, is refused first.
 */
export function featureValues(who: string, table: CsvTable, columns: number[]): Float32Array {
  const N = table.rows.length, F = columns.length;
  if (N === 0) throw new CsvError(`${who}: the table has no data rows${table.columns ? ' (only a header)' : ''}`);
  if (N * F > MAX_ELEMENTS) throw new RangeError(`${who}: ${N} rows x ${F} features = ${N * F} values, more than the ${MAX_ELEMENTS} a tensor holds`);
  const values = new Float32Array(N * F);
  for (let r = 0; r < N; r++) {
    const row = table.rows[r];
    for (let k = 0; k < F; k++) {
      const cell = row[columns[k]];
      if (!isNumber(cell)) throw new CsvError(`${cellAt(who, table, r, columns[k])}: ${quoted(cell)} is not a number${notANumberHint(cell)}`, table.lines[r]);
      const v = float32Of(cell);
      if (!Number.isFinite(v)) throw new CsvError(`${cellAt(who, table, r, columns[k])}: ${quoted(cell).slice(1, -1)} is beyond float32's range (magnitudes up to ${F32_MAX})`, table.lines[r]);
      values[r * F + k] = v;
    }
  }
  return values;
}

/** @internal Where a cell is, for a message: 'loadCsv: row 2 (line 3), column 'w''. */
export function cellAt(who: string, table: CsvTable, r: number, j: number): string {
  return `${who}: row ${r + 1} (line ${table.lines[r]}), column ${table.columns ? `'${table.columns[j]}'` : j}`;
}

/** @internal A cell as a message shows it: quoted, and cut after 40 characters. */
export function quoted(cell: string): string {
  return JSON.stringify(cell.length > 40 ? `${cell.slice(0, 40)}…` : cell);
}

/** @internal The index of the column `spec` names (a header name or an index); a CsvError when the table has no such column. */
export function columnIndex(who: string, what: string, table: CsvTable, spec: string | number, header: CsvOptions['header']): number {
  const width = tableWidth(table);
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

/** @internal A column option (a header name, or an index from 0) checked. */
export function checkColumnSpec(who: string, what: string, v: unknown): asserts v is string | number {
  if (typeof v === 'string') return;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return;
  const expected = `${who}: ${what} must be a column's header name or its index (an integer >= 0), got ${shown(v)}`;
  throw typeof v === 'number' ? new RangeError(expected) : new TypeError(expected);
}

/** @internal An array option read once into a plain array, each element checked by `check`. */
export function checkList<T>(who: string, what: string, list: unknown, check: (v: unknown, what: string) => void): T[] {
  if (!Array.isArray(list)) throw new TypeError(`${who}: ${what} must be an array, got ${describeValue(list)}`);
  const items = Array.from(list as unknown[]);
  if (items.length === 0) throw new RangeError(`${who}: ${what} is empty`);
  items.forEach((v, k) => check(v, `${what}[${k}]`));
  return items as T[];
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
