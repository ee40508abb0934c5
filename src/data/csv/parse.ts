// CSV text (RFC 4180) as a table of string cells: the record reader, which keeps the line each record
// starts on for its errors, the delimiter's sniffing and the rule that tells a header row from data.
import { checkOptions, describeValue } from '../../index.js';
import { isNumber } from './number.js';

/** A table CSV text cannot give or a load cannot use: an open quote, a ragged row, a cell that is not a number. */
export class CsvError extends Error {
  override name = 'CsvError';
  /** The line (1-based, of the text) where the record at fault starts, when one is. */
  readonly line?: number;
  constructor(message?: string, line?: number) {
    super(message);
    if (line !== undefined) this.line = line;
  }
}

/** How parseCsv reads the text; all optional. */
export interface CsvOptions {
  /**
   * The field separator: one character (not a quote or a line break), or 'auto' to take the one of
   * , ; tab | that occurs most often (outside quotes) in the first line (ties in that order; none: ','). Default ','.
   */
  delimiter?: string;
  /**
   * Whether the first row names the columns. 'auto' (the default): it does when some column holds a
   * non-number there and a number in the second row (a name over numeric data); in a table of one row,
   * when any of its fields is not a number. A table of text only ('name,city') needs `header: true`.
   */
  header?: boolean | 'auto';
}

/** What parseCsv returns. */
export interface CsvTable {
  /** The header's names, or null when the first row is data. */
  columns: string[] | null;
  /** The data rows, each as wide as the header (or the first row). */
  rows: string[][];
  /** The line (1-based) each row starts on: a quoted field may hold line breaks. */
  lines: number[];
}

const QUOTE = 0x22, LF = 0x0a, CR = 0x0d;
const SNIFFED = [',', ';', '\t', '|'];
const PARSE_KEYS = new Set(['delimiter', 'header']);

/**
 * Parses CSV text by RFC 4180: fields separated by the delimiter, records by CRLF, LF or CR; a field that
 * starts with a quote is quoted (it may hold delimiters, line breaks and quotes written twice, `""`), and
 * must end at its closing quote; a quote inside an unquoted field is an ordinary character. A leading BOM
 * and a final line break are dropped, and so are empty lines; spaces are part of a field. Every row must
 * have the first row's number of fields: a ragged row or a quote left open is a CsvError naming the line
 * (1-based) where its record starts. An empty text is an empty table.
 */
export function parseCsv(text: string, options: CsvOptions = {}): CsvTable {
  return parseTable('parseCsv', text, options);
}

/** @internal parseCsv with the name its errors give (loadCsv's, loadCsvFile's). */
export function parseTable(who: string, text: string, options: CsvOptions): CsvTable {
  if (typeof text !== 'string') throw new TypeError(`${who}: text must be a string, got ${describeValue(text)}`);
  checkOptions(who, options, PARSE_KEYS);
  const { delimiter = ',', header = 'auto' } = options;
  if (header !== true && header !== false && header !== 'auto') throw new TypeError(`${who}: header must be true, false or 'auto', got ${describeValue(header)}`);
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const delim = delimiter === 'auto' ? sniffDelimiter(text, start) : checkDelimiter(who, delimiter);
  const { rows, lines } = records(who, text, start, delim);
  const named = header === 'auto' ? looksLikeHeader(rows) : header && rows.length > 0;
  if (!named) return { columns: header === true ? [] : null, rows, lines };
  return { columns: rows[0], rows: rows.slice(1), lines: lines.slice(1) };
}

/** @internal the delimiter option checked (one character, not a quote or a line break); `auto`: the reader's, which may also be 'auto'. */
export function checkDelimiter(who: string, delimiter: unknown, auto = true): string {
  if (typeof delimiter !== 'string' || delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new TypeError(`${who}: delimiter must be one character other than a quote or a line break${auto ? ", or 'auto'" : ''}, got ${describeValue(delimiter)}`);
  }
  return delimiter;
}

/** The one of , ; tab | that occurs most often outside quotes in the first line (ties in that order; none: ','). */
function sniffDelimiter(text: string, start: number): string {
  const counts = SNIFFED.map(() => 0);
  let quoted = false, content = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) quoted = !quoted; // a doubled quote toggles twice
    if (!quoted && (c === LF || c === CR)) {
      if (content) break; // the first line with anything on it decides
      continue;
    }
    content = true;
    const k = quoted ? -1 : SNIFFED.indexOf(text[i]);
    if (k >= 0) counts[k]++;
  }
  const best = counts.indexOf(Math.max(...counts));
  return counts[best] > 0 ? SNIFFED[best] : ',';
}

/** The records of the text, each with the line it starts on; a ragged one or an open quote is a CsvError. */
function records(who: string, text: string, start: number, delimiter: string): { rows: string[][]; lines: number[] } {
  const d = delimiter.charCodeAt(0);
  const n = text.length;
  const rows: string[][] = [], lines: number[] = [];
  let row: string[] = [];
  let line = 1, rowLine = 1;
  let i = start;
  const endRow = () => {
    if (rows.length > 0 && row.length !== rows[0].length) {
      throw new CsvError(`${who}: line ${rowLine}: ${row.length} field${row.length === 1 ? '' : 's'}, but the first row has ${rows[0].length}`, rowLine);
    }
    rows.push(row);
    lines.push(rowLine);
    row = [];
  };
  for (;;) {
    // at the start of a field
    if (i >= n && row.length === 0) break;
    const c = text.charCodeAt(i);
    if (row.length === 0 && (c === LF || c === CR)) { // an empty line
      i += c === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
      rowLine = ++line;
      continue;
    }
    if (c === QUOTE) {
      const opened = line;
      let field = '';
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) throw new CsvError(`${who}: line ${opened}: a quoted field opens here and is never closed`, opened);
        line += lineBreaks(text, j, q);
        if (text.charCodeAt(q + 1) === QUOTE) {
          field += text.slice(j, q + 1);
          j = q + 2;
        } else {
          field += text.slice(j, q);
          i = q + 1;
          break;
        }
      }
      const after = text.charCodeAt(i);
      if (i < n && after !== d && after !== LF && after !== CR) {
        throw new CsvError(`${who}: line ${line}: ${JSON.stringify(text[i])} follows a quoted field's closing quote, where the delimiter or the line's end belongs (a quote inside a quoted field is written twice: "")`, line);
      }
      row.push(field);
    } else {
      let j = i;
      for (; j < n; j++) {
        const e = text.charCodeAt(j);
        if (e === d || e === LF || e === CR) break;
      }
      row.push(text.slice(i, j));
      i = j;
    }
    // at a delimiter, a line break or the end
    if (i < n && text.charCodeAt(i) === d) {
      i++;
      continue; // a delimiter at the very end is followed by an empty field
    }
    endRow();
    if (i < n) {
      i += text.charCodeAt(i) === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
      line++;
    }
    rowLine = line;
  }
  return { rows, lines };
}

/** Line breaks (CRLF, LF or a lone CR) in text[from, to). */
function lineBreaks(text: string, from: number, to: number): number {
  let count = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === LF || (c === CR && text.charCodeAt(i + 1) !== LF)) count++;
  }
  return count;
}

/** header 'auto': a column with a non-number over a number; a lone row when any field is not a number. */
function looksLikeHeader(rows: string[][]): boolean {
  if (rows.length === 0) return false;
  const [first, second] = rows;
  if (second === undefined) return first.some((f) => !isNumber(f));
  return first.some((f, j) => !isNumber(f) && isNumber(second[j]));
}
