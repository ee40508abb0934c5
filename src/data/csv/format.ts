// A table as CSV text (formatCsv), the inverse of parseCsv: fields quoted where RFC 4180 asks, numbers as the
// shortest decimal of their float32, so what loadCsv reads back is the same float32.
import { checkOptions, describeValue } from '../../index.js';
import { checkDelimiter } from './parse.js';
import { F32_MAX, float32Text } from './number.js';

/** Options of formatCsv; all optional. */
export interface FormatCsvOptions {
  /** The field separator: one character, not a quote or a line break. Default ','. */
  delimiter?: string;
  /**
   * The line break after each record: '\n' (the default: a POSIX text file, which line tools such as cut, awk and
   * wc read without a stray CR in the last field; every CSV reader takes it) or '\r\n' (RFC 4180's, Excel's).
   */
  lineBreak?: '\n' | '\r\n';
}

const KEYS = new Set(['delimiter', 'lineBreak']);

/**
 * The table as CSV text: `columns` (the header's names; null for none) and `rows`, each as wide, of text or numbers;
 * each record ends with the line break. A field holding the delimiter, a quote, CR or LF is quoted (its quotes
 * written twice), and so is a record's lone empty field (an empty line, which readers skip) and a field that starts
 * with a BOM (which a reader drops at the text's start). A number is written as float32Text does: a safe integer
 * whole, any other as the shortest decimal that reads back as its float32 (NaN and ±Infinity as 'NaN', 'Infinity',
 * '-Infinity'); pass as text what is to be written otherwise. So `parseCsv(formatCsv(columns, rows, o), { header:
 * columns !== null, delimiter: o.delimiter })` gives back the columns and the rows' text, and loadCsv the same float32s.
 * @throws TypeError/RangeError naming the argument (a cell of another type, a finite number beyond float32's range,
 * a row of another width, no columns), before any text is made.
 */
export function formatCsv(columns: readonly string[] | null, rows: ReadonlyArray<ArrayLike<string | number>>, options: FormatCsvOptions = {}): string {
  const who = 'formatCsv';
  checkOptions(who, options, KEYS);
  const delimiter = options.delimiter === undefined ? ',' : checkDelimiter(who, options.delimiter, false);
  const { lineBreak = '\n' } = options;
  if (lineBreak !== '\n' && lineBreak !== '\r\n') throw new TypeError(`${who}: lineBreak must be '\\n' or '\\r\\n', got ${describeValue(lineBreak)}`);
  if (columns !== null && !Array.isArray(columns)) throw new TypeError(`${who}: columns must be an array of names, or null for no header row, got ${describeValue(columns)}`);
  if (!Array.isArray(rows)) throw new TypeError(`${who}: rows must be an array of rows (arrays of text or numbers), got ${describeValue(rows)}`);
  const header = columns === null ? null : Array.from(columns as unknown[]);
  header?.forEach((name, j) => {
    if (typeof name !== 'string') throw new TypeError(`${who}: columns[${j}] must be a name (a string), got ${describeValue(name)}`);
  });
  if (header?.length === 0) throw new RangeError(`${who}: columns is empty: a record has at least one field (null: no header row)`);
  const records: string[][] = header ? [header as string[]] : [];
  let width = header?.length;
  for (let r = 0; r < rows.length; r++) {
    const row: unknown = rows[r];
    const length = row !== null && typeof row === 'object' ? (row as ArrayLike<unknown>).length : undefined;
    if (typeof length !== 'number') throw new TypeError(`${who}: rows[${r}] must be an array of text or numbers, got ${describeValue(row)}`);
    width ??= length;
    if (width === 0) throw new RangeError(`${who}: rows[0] is empty: a record has at least one field`);
    if (length !== width) throw new RangeError(`${who}: rows[${r}] has ${length} field${length === 1 ? '' : 's'}, but ${header ? 'columns names' : 'rows[0] has'} ${width}`);
    records.push(Array.from({ length }, (_, j) => cellText(who, (row as ArrayLike<unknown>)[j], r, j)));
  }
  const quoted = (text: string, lone: boolean) => text.includes(delimiter) || text.includes('"') || text.includes('\r') || text.includes('\n') ||
    text.charCodeAt(0) === 0xfeff || (lone && text === '');
  try {
    return records.map((record) => record.map((text) => (quoted(text, record.length === 1) ? `"${text.replace(/"/g, '""')}"` : text)).join(delimiter) + lineBreak).join('');
  } catch (e) {
    throw e instanceof RangeError ? new RangeError(`${who}: the table's text is longer than this host's longest string`) : e;
  }
}

/** A cell's text: a string as it is, a number as float32Text writes it; anything else refused naming rows[r][j]. */
function cellText(who: string, cell: unknown, r: number, j: number): string {
  if (typeof cell === 'string') return cell;
  if (typeof cell !== 'number') throw new TypeError(`${who}: rows[${r}][${j}] must be text or a number, got ${describeValue(cell)}`);
  if (Number.isFinite(cell) && !Number.isFinite(Math.fround(cell))) {
    throw new RangeError(`${who}: rows[${r}][${j}] is ${cell}, beyond float32's range (magnitudes up to ${F32_MAX}): pass it as text to write it as it is`);
  }
  return float32Text(cell);
}
