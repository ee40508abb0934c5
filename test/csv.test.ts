// Tables from CSV text (simdnn/csv, src/data/csv/): RFC 4180 parsing with line numbers in its errors, the strict number
// grammar and the correctly rounded float32 of each cell, labels to class indices, rows without labels
// (loadCsvFeatures), the standardizer (scikit-learn's StandardScaler) against a float64 reference and scikit-learn's
// rule for constant columns, and formatCsv, parseCsv's inverse, with each float32 as its shortest decimal.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, rng } from './helpers/runtime.js';
import { expectRefused, thrown } from './helpers/refused.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { CsvError, fitStandardizer, formatCsv, loadCsv, loadCsvFeatures, parseCsv, standardize, type CsvTable } from '../src/data/csv/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime(); });


/** loadCsv's x and t as plain arrays, the tensors freed. */
function loaded(text: string | Uint8Array, options: Parameters<typeof loadCsv>[2]) {
  const set = loadCsv(rt, text, options);
  const out = { x: Array.from(set.x.toArray()), shape: set.x.shape, t: Array.from(set.t.toArray()), featureNames: set.featureNames, classNames: set.classNames };
  set.x.dispose();
  set.t.dispose();
  return out;
}

/** The float32 loadCsv reads from one cell. */
const cell = (text: string): number => loaded(`x,y\n${text},a\n`, { label: 'y' }).x[0];

describe('parseCsv: RFC 4180', () => {
  it("the RFC's records: CRLF breaks, a final break or none, the same table", () => {
    const expected: CsvTable = { columns: null, rows: [['aaa', 'bbb', 'ccc'], ['zzz', 'yyy', 'xxx']], lines: [1, 2] };
    expect(parseCsv('aaa,bbb,ccc\r\nzzz,yyy,xxx\r\n', { header: false })).toEqual(expected);
    expect(parseCsv('aaa,bbb,ccc\r\nzzz,yyy,xxx', { header: false })).toEqual(expected);
    expect(parseCsv('aaa,bbb,ccc\nzzz,yyy,xxx\n', { header: false })).toEqual(expected);
    expect(parseCsv('aaa,bbb,ccc\rzzz,yyy,xxx\r', { header: false })).toEqual(expected);
  });

  it('quoted fields: delimiters, doubled quotes and line breaks inside; the lines each record starts on', () => {
    const text = 'name,note,n\r\n"a,b","say ""hi""","two\r\nlines"\r\nplain,"",3\n"x\ny\nz",w,4\n';
    expect(parseCsv(text, { header: true })).toEqual({
      columns: ['name', 'note', 'n'],
      rows: [['a,b', 'say "hi"', 'two\r\nlines'], ['plain', '', '3'], ['x\ny\nz', 'w', '4']],
      lines: [2, 4, 5],
    });
  });

  it('a BOM is dropped; empty lines are skipped (and counted); a delimiter at the end is an empty last field; spaces and a quote inside an unquoted field are kept', () => {
    expect(parseCsv('\uFEFFid,v\n1,2\n')).toEqual({ columns: ['id', 'v'], rows: [['1', '2']], lines: [2] });
    expect(parseCsv('a,b\n\n1,2\r\n\r\n3,4\n\n')).toEqual({ columns: ['a', 'b'], rows: [['1', '2'], ['3', '4']], lines: [3, 5] });
    expect(parseCsv('a,b,\n1,2,', { header: true })).toEqual({ columns: ['a', 'b', ''], rows: [['1', '2', '']], lines: [2] });
    expect(parseCsv('h,w\n 5\'10", x \n', { header: true }).rows).toEqual([[' 5\'10"', ' x ']]);
    expect(parseCsv('')).toEqual({ columns: null, rows: [], lines: [] });
  });

  it('a ragged row: a CsvError naming the line its record starts on (after a record of three lines)', () => {
    const e = thrown(() => parseCsv('a,b\n"1\n2\n3",4\n5\n6,7\n'));
    expect(e).toBeInstanceOf(CsvError);
    expect(e.message).toBe('parseCsv: line 5: 1 field, but the first row has 2');
    expect((e as CsvError).line).toBe(5);
    expect(thrown(() => parseCsv('a,b\n1,2,3\n')).message).toBe('parseCsv: line 2: 3 fields, but the first row has 2');
    // the line a record starts on, not the one it ends on
    expect(thrown(() => parseCsv('a,b\n1,"x\ny",3\n')).message).toBe('parseCsv: line 2: 3 fields, but the first row has 2');
  });

  it('a quote left open names the line it opens on; text after a closing quote names its line', () => {
    const open = thrown(() => parseCsv('a,b\n1,2\n3,"4\n5,6\n'));
    expect(open).toBeInstanceOf(CsvError);
    expect(open.message).toBe('parseCsv: line 3: a quoted field opens here and is never closed');
    expect((open as CsvError).line).toBe(3);
    const after = thrown(() => parseCsv('a,b\n"1\n2"x,3\n'));
    expect(after.message).toMatch(/^parseCsv: line 3: "x" follows a quoted field's closing quote/);
    expect((after as CsvError).line).toBe(3);
  });

  it("header 'auto': a name over a number makes the first row a header; text over text, numbers over numbers do not; a lone row is one when it holds a non-number", () => {
    expect(parseCsv('x,label\n1.5,cat\n').columns).toEqual(['x', 'label']);
    expect(parseCsv('1.5,cat\n2,dog\n').columns).toBeNull();
    expect(parseCsv('name,city\nbob,paris\n').columns).toBeNull();
    expect(parseCsv('name,city\nbob,paris\n', { header: true }).columns).toEqual(['name', 'city']);
    expect(parseCsv('x,y\n1,2\n', { header: false })).toEqual({ columns: null, rows: [['x', 'y'], ['1', '2']], lines: [1, 2] });
    expect(parseCsv('a,b\n').columns).toEqual(['a', 'b']);
    expect(parseCsv('1,2\n').columns).toBeNull();
    // an empty name (pandas' index column) over a number
    expect(parseCsv(',v\n0,1\n').columns).toEqual(['', 'v']);
  });

  it("delimiters: one given, or 'auto' from the first line with content (outside quotes; ties in the order , ; tab |)", () => {
    expect(parseCsv('a;b\n1;2', { delimiter: ';' }).rows).toEqual([['1', '2']]);
    expect(parseCsv('"x,y";b;c\n1;2;3', { delimiter: 'auto' })).toEqual({ columns: ['x,y', 'b', 'c'], rows: [['1', '2', '3']], lines: [2] });
    expect(parseCsv('\n\na\tb\n1\t2', { delimiter: 'auto' }).columns).toEqual(['a', 'b']);
    expect(parseCsv('a|b\n1|2', { delimiter: 'auto' }).rows).toEqual([['1', '2']]);
    expect(parseCsv('a,b;c\n1,2;3', { delimiter: 'auto' }).columns).toEqual(['a', 'b;c']);
    expect(parseCsv('single\n1\n', { delimiter: 'auto' }).columns).toEqual(['single']);
  });

  it('bad arguments: TypeErrors naming parseCsv and the option', () => {
    for (const delimiter of ['', ';;', '"', '\n', '\r', 5]) {
      expect(() => parseCsv('a', { delimiter: delimiter as string })).toThrow(/^parseCsv: delimiter must be one character other than a quote or a line break, or 'auto'/);
    }
    expect(() => parseCsv('a', { header: 'yes' as never })).toThrow(/^parseCsv: header must be true, false or 'auto', got the string "yes"$/);
    expect(() => parseCsv('a', { headers: true } as never)).toThrow(TypeError);
    expect(() => parseCsv(new Uint8Array(2) as never)).toThrow(/^parseCsv: text must be a string, got an? Uint8Array$/);
  });
});

describe('loadCsv: features', () => {
  it('every lax form Number() takes is refused, naming the row, its line and the column; missing values are the user\'s to fill', () => {
    const lax = ['', ' 1', '1 ', '0x1A', 'Infinity', '-Infinity', 'NaN', '1e', 'e5', '.', '+', '1,5', '1_000', '0b1', '١', '- 1', '1.2.3'];
    for (const bad of lax) {
      const text = `"petal_width",species\n1,a\n"${bad}",b\n`;
      expectRefused(rt, () => loadCsv(rt, text, { label: 'species' }), CsvError, new RegExp(`^loadCsv: row 2 \\(line 3\\), column 'petal_width': ${JSON.stringify(bad).replace(/[.+]/g, '\\$&')} is not a number`));
    }
    expect(thrown(() => loadCsv(rt, 'w,s\n1,a\n\n,a\n', { label: 's' })).message).toBe(
      "loadCsv: row 2 (line 4), column 'w': \"\" is not a number (an empty cell: missing values are yours to fill, e.g. with the column's mean, or to drop, before loading)");
    expect(thrown(() => loadCsv(rt, 'w,s\n1,a\n 1,b\n', { label: 's' })).message).toMatch(/spaces around a number are not taken/);
    expect(thrown(() => loadCsv(rt, '1,a\n2,b\nNaN,a\n', { label: 1 })).message).toMatch(/^loadCsv: row 3 \(line 3\), column 0: "NaN" is not a number \(NaN and Infinity/);
  });

  it('beyond float32: refused (1e39, and 1e400, which is Infinity as a float64)', () => {
    expect(thrown(() => cell('1e39'))).toBeInstanceOf(CsvError);
    expect(thrown(() => cell('1e39')).message).toMatch(/^loadCsv: row 1 \(line 2\), column 'x': 1e39 is beyond float32's range/);
    expect(thrown(() => cell('-1e400')).message).toMatch(/-1e400 is beyond float32's range/);
  });

  it('the strict forms are read: signs, a point at either end, exponents, leading zeros', () => {
    const { x } = loaded('a,b,c,d,e,f,g,h,y\n1,-0.5,+2,.5,5.,1e-3,1E+3,007,k\n', { label: 'y' });
    expect(x).toEqual([1, -0.5, 2, 0.5, 5, Math.fround(1e-3), 1000, 7]);
  });

  it('each cell is the correctly rounded float32 of its decimal, where Math.fround(Number(s)) rounds twice', () => {
    // 1 + 2^-24 is halfway from 1 to 1 + 2^-23: a decimal just above rounds up, its float64 (the midpoint) to even, down
    const up = '1.0000000596046447753906250001';
    expect(Math.fround(Number(up))).toBe(1);
    expect(cell(up)).toBe(1 + 2 ** -23);
    // 1 + 3·2^-24 is halfway from 1 + 2^-23 to 1 + 2^-22: just below rounds down, its float64 to even, up
    const down = '1.0000001788139343261718749999';
    expect(Math.fround(Number(down))).toBe(1 + 2 ** -22);
    expect(cell(down)).toBe(1 + 2 ** -23);
    // at most 20 significant digits (Number() must round them correctly), whose float64 is the midpoint of two float32s
    expect(Math.fround(Number('1.0000000596046448'))).toBe(1);
    expect(cell('1.0000000596046448')).toBe(1 + 2 ** -23);
    expect(cell('1.0000000596046447754')).toBe(1 + 2 ** -23);
    expect(Math.fround(Number('16777217.000000001'))).toBe(16777216);
    expect(cell('16777217.000000001')).toBe(16777218);
    expect(cell('16777216.999999999')).toBe(16777216);
    // exactly halfway: to even
    expect(cell('16777217')).toBe(16777216);
    expect(cell('16777219')).toBe(16777220);
    expect(cell('1.000000059604644775390625')).toBe(1);
    expect(cell('-1.000000178813934326171875')).toBe(-(1 + 2 ** -22));
    // the smallest subnormal's midpoint, 2^-150 (exact below), and a decimal a hair above it
    const half = '7.00649232162408535461864791644958065640130970938257885878534141944895541342930300743319094181060791015625e-46';
    expect(cell(half)).toBe(0);
    const above = half.replace('015625e', '0156251e');
    expect(Math.fround(Number(above))).toBe(0);
    expect(cell(above)).toBe(2 ** -149);
    // just under the overflow threshold 2^128 − 2^103: float32's largest, where the float64 (the threshold) gives Infinity
    const under = '340282356779733661637539395458142568447.99';
    expect(Math.fround(Number(under))).toBe(Infinity);
    expect(cell(under)).toBe(3.4028234663852886e38);
    expect(thrown(() => cell('340282356779733661637539395458142568448')).message).toMatch(/beyond float32's range/);
  });

  it('decimals near the midpoints of random float32s: the float32 nearest each (ties to even), by an exact reference', () => {
    const next = rng(7);
    const f32 = new Float32Array(1), bits = new Uint32Array(f32.buffer);
    for (let k = 0; k < 300; k++) {
      bits[0] = 0x00800000 + Math.floor(next() * 0x7e000000); // a normal float32
      const a = f32[0];
      bits[0]++;
      const b = f32[0];
      const mid = exactDecimal((a + b) / 2);
      // the midpoint itself, and decimals a hair above and below it
      const fractional = mid.includes('.');
      for (const text of [mid, fractional ? `${mid}1` : `${mid}.1`, fractional ? lessByOneInLastPlace(mid) : `${BigInt(mid) - 1n}.9`]) {
        expect(cell(text), text).toBe(nearestFloat32(text, [a, b]));
      }
    }
  });

  it('features by name or index, in the order given; featureNames; a headerless table names them by index', () => {
    const text = 'a,b,label,c\n1,2,x,3\n4,5,y,6\n';
    expect(loaded(text, { label: 'label' })).toMatchObject({ x: [1, 2, 3, 4, 5, 6], shape: [2, 3], featureNames: ['a', 'b', 'c'] });
    expect(loaded(text, { label: 2, features: ['c', 0] })).toMatchObject({ x: [3, 1, 6, 4], shape: [2, 2], featureNames: ['c', 'a'] });
    expect(loaded('1,x,2\n3,y,4\n', { label: 1 })).toMatchObject({ x: [1, 2, 3, 4], featureNames: ['0', '2'] });
  });

  it('text or its UTF-8 bytes (a BOM dropped); bytes that are not UTF-8 refused', () => {
    const bytes = new TextEncoder().encode('\uFEFFé,s\n1,ü\n');
    expect(loaded(bytes, { label: 's' })).toMatchObject({ x: [1], featureNames: ['é'], classNames: ['ü'] });
    expectRefused(rt, () => loadCsv(rt, Uint8Array.of(0x61, 0x2c, 0x62, 0x0a, 0x31, 0x2c, 0xff), { label: 'b' }), CsvError, /^loadCsv: the bytes are not UTF-8/);
  });
});

describe('loadCsv: labels', () => {
  it('distinct labels in sorted order by default (Unicode code points, not UTF-16 units)', () => {
    expect(loaded('v,s\n1,b\n2,a\n3,c\n4,a\n', { label: 's' })).toMatchObject({ t: [1, 0, 2, 0], classNames: ['a', 'b', 'c'] });
    // U+FFFD sorts before U+1F600 by code point; JavaScript's sort (UTF-16 units: 0xD83D < 0xFFFD) puts it after
    expect(['\u{1F600}', '\uFFFD'].sort()).toEqual(['\u{1F600}', '\uFFFD']);
    expect(loaded('v,s\n1,\u{1F600}\n2,\uFFFD\n3,z\n4,é\n', { label: 's' }).classNames).toEqual(['z', 'é', '\uFFFD', '\u{1F600}']);
  });

  it("integer labels sort numerically ('10' after '9'; '07' and '7' are two classes)", () => {
    expect(loaded('v,s\n1,10\n2,9\n3,-1\n4,2\n', { label: 's' })).toMatchObject({ t: [3, 2, 0, 1], classNames: ['-1', '2', '9', '10'] });
    expect(loaded('v,s\n1,7\n2,07\n', { label: 's' }).classNames).toEqual(['07', '7']);
    // not all integers: by code point
    expect(loaded('v,s\n1,10\n2,9.5\n', { label: 's' }).classNames).toEqual(['10', '9.5']);
  });

  it('classes given: their order; a label outside them refused naming the row and the value', () => {
    expect(loaded('v,s\n1,b\n2,a\n', { label: 's', classes: ['b', 'c', 'a'] })).toMatchObject({ t: [0, 2], classNames: ['b', 'c', 'a'] });
    expectRefused(rt, () => loadCsv(rt, 'v,s\n1,b\n2,d\n', { label: 's', classes: ['a', 'b'] }), CsvError,
      /^loadCsv: row 2 \(line 3\), column 's': label "d" is none of options\.classes \("a", "b"\)$/);
    expectRefused(rt, () => loadCsv(rt, 'v,s\n1,b\n2,\n', { label: 's' }), CsvError, /^loadCsv: row 2 \(line 3\), column 's': the label is empty/);
    expect(() => loadCsv(rt, 'v,s\n1,b\n', { label: 's', classes: ['b', 'b'] })).toThrow(/^loadCsv: options\.classes names "b" twice$/);
    expect(() => loadCsv(rt, 'v,s\n1,b\n', { label: 's', classes: [] })).toThrow(/^loadCsv: options\.classes is empty$/);
    expect(() => loadCsv(rt, 'v,s\n1,b\n', { label: 's', classes: ['b', 1 as never] })).toThrow(/^loadCsv: options\.classes\[1\] must be a class name \(a string\), got number 1$/);
  });
});

describe('loadCsv: bad input, refused before anything is allocated', () => {
  const text = 'a,b,s\n1,2,x\n';
  it.each<[string, () => unknown, new (m?: string) => Error, RegExp]>([
    ['no label', () => loadCsv(rt, text, {} as never), TypeError, /^loadCsv: options\.label is required: the column of class labels/],
    ['no options', () => loadCsv(rt, text, undefined as never), TypeError, /^loadCsv: options must be an object with label/],
    ['a label of another type', () => loadCsv(rt, text, { label: true as never }), TypeError, /^loadCsv: options\.label must be a column's header name or its index/],
    ['a negative index', () => loadCsv(rt, text, { label: -1 }), RangeError, /^loadCsv: options\.label must be .* got -1$/],
    ['an index past the columns', () => loadCsv(rt, text, { label: 3 }), CsvError, /^loadCsv: options\.label is 3, but the table has 3 columns \(indices 0 to 2\)$/],
    ['a name no column has', () => loadCsv(rt, text, { label: 'species' }), CsvError, /^loadCsv: options\.label: no column is named "species" \(the columns: "a", "b", "s"\)$/],
    ['a name without a header', () => loadCsv(rt, '1,2,x\n3,4,y\n', { label: 's' }), CsvError, /^loadCsv: options\.label is "s", a column's name, but the table has no header row: the first row reads as data/],
    ['a name two columns have', () => loadCsv(rt, 'a,a,s\n1,2,x\n', { label: 'a' }), CsvError, /^loadCsv: options\.label: columns 0 and 1 are both named "a"/],
    ['two features of one name', () => loadCsv(rt, 'a,a,s\n1,2,x\n', { label: 's' }), CsvError, /^loadCsv: feature columns 0 and 1 are both named "a"/],
    ['the label among the features', () => loadCsv(rt, text, { label: 's', features: ['a', 's'] }), CsvError, /^loadCsv: options\.features\[1\] is the label's column \("s"\)$/],
    ['a feature twice', () => loadCsv(rt, text, { label: 's', features: ['a', 0] }), CsvError, /^loadCsv: options\.features\[0\] and \[1\] are the same column \("a"\)$/],
    ['features not an array', () => loadCsv(rt, text, { label: 's', features: 'a' as never }), TypeError, /^loadCsv: options\.features must be an array, got the string "a"$/],
    ['no feature column', () => loadCsv(rt, 's\nx\n', { label: 's', header: true }), CsvError, /^loadCsv: no feature columns: the table's one column is the label$/],
    ['a header only', () => loadCsv(rt, 'a,s\n', { label: 's' }), CsvError, /^loadCsv: the table has no data rows \(only a header\)$/],
    ['no text', () => loadCsv(rt, '\n\n', { label: 0 }), CsvError, /^loadCsv: the text holds no table/],
    ['a source of another type', () => loadCsv(rt, [1, 2] as never, { label: 0 }), TypeError, /^loadCsv: source must be CSV text \(a string\) or its bytes/],
    ['an unknown option', () => loadCsv(rt, text, { label: 's', classNames: [] } as never), TypeError, /^loadCsv: unknown option 'classNames'/],
    ['a bad delimiter', () => loadCsv(rt, text, { label: 's', delimiter: '""' }), TypeError, /^loadCsv: delimiter must be one character/],
  ])('%s', (_, f, cls, message) => expectRefused(rt, f, cls, message));

  it('a runtime that is not one: refused naming loadCsv', () => {
    expect(() => loadCsv({} as never, text, { label: 's' })).toThrow(/loadCsv/);
  });
});

describe('loadCsvFeatures: rows without labels', () => {
  /** loadCsvFeatures' x as a plain array, the tensor freed. */
  function features(text: string | Uint8Array, options?: Parameters<typeof loadCsvFeatures>[2]) {
    const set = loadCsvFeatures(rt, text, options);
    const out = { x: Array.from(set.x.toArray()), shape: set.x.shape, featureNames: set.featureNames };
    set.x.dispose();
    return out;
  }

  it("every column by default, in the table's order; features by name or index in the order given; a headerless table's names are indices", () => {
    const text = 'a,b,c\n1,2,3\n4,5,-6e-1\n';
    expect(features(text)).toEqual({ x: [1, 2, 3, 4, 5, Math.fround(-0.6)], shape: [2, 3], featureNames: ['a', 'b', 'c'] });
    expect(features(text, { features: ['c', 0] })).toEqual({ x: [3, 1, Math.fround(-0.6), 4], shape: [2, 2], featureNames: ['c', 'a'] });
    expect(features('1;2\n3;4\n', { delimiter: ';' })).toEqual({ x: [1, 2, 3, 4], shape: [2, 2], featureNames: ['0', '1'] });
    // its bytes, as loadCsv takes them; a column of text left out by features
    expect(features(new TextEncoder().encode('\uFEFFid,w\nrose,1.5\n'), { features: ['w'] })).toEqual({ x: [1.5], shape: [1, 1], featureNames: ['w'] });
  });

  it("the same cells as loadCsv's features, to the bit (the correctly rounded float32 of each decimal)", () => {
    const cells = ['1.0000000596046447753906250001', '16777217.000000001', '-0', '7e-46', '340282356779733661637539395458142568447.99', '0.1'];
    const text = `${cells.map((_, j) => `f${j}`).join(',')},y\n${cells.join(',')},a\n`;
    const got = features(text, { features: cells.map((_, j) => `f${j}`) }).x;
    expect(got).toEqual(loaded(text, { label: 'y' }).x);
    expect(got[0]).toBe(1 + 2 ** -23);
    expect(Object.is(got[2], -0)).toBe(true);
  });

  it.each<[string, () => unknown, new (m?: string) => Error, RegExp]>([
    ['a cell that is not a number', () => loadCsvFeatures(rt, 'a,b\n1,2\n3,x\n'), CsvError, /^loadCsvFeatures: row 2 \(line 3\), column 'b': "x" is not a number$/],
    ['an empty cell', () => loadCsvFeatures(rt, 'a,b\n1,\n'), CsvError, /^loadCsvFeatures: row 1 \(line 2\), column 'b': "" is not a number \(an empty cell/],
    ['a cell beyond float32', () => loadCsvFeatures(rt, 'a\n1e39\n', { header: true }), CsvError, /^loadCsvFeatures: row 1 \(line 2\), column 'a': 1e39 is beyond float32's range/],
    ['a label column left in', () => loadCsvFeatures(rt, 'w,species\n1,setosa\n'), CsvError, /^loadCsvFeatures: row 1 \(line 2\), column 'species': "setosa" is not a number$/],
    ['a name no column has', () => loadCsvFeatures(rt, 'a,b\n1,2\n', { features: ['a', 'c'] }), CsvError, /^loadCsvFeatures: options\.features\[1\]: no column is named "c" \(the columns: "a", "b"\)$/],
    ['an index past the columns', () => loadCsvFeatures(rt, 'a,b\n1,2\n', { features: [2] }), CsvError, /^loadCsvFeatures: options\.features\[0\] is 2, but the table has 2 columns/],
    ['a feature twice', () => loadCsvFeatures(rt, 'a,b\n1,2\n', { features: ['b', 1] }), CsvError, /^loadCsvFeatures: options\.features\[0\] and \[1\] are the same column \("b"\)$/],
    ['two columns of one name', () => loadCsvFeatures(rt, 'a,a\n1,2\n'), CsvError, /^loadCsvFeatures: feature columns 0 and 1 are both named "a"/],
    ['a name without a header', () => loadCsvFeatures(rt, '1,2\n', { features: ['a'] }), CsvError, /^loadCsvFeatures: options\.features\[0\] is "a", a column's name, but the table has no header row/],
    ['a header only', () => loadCsvFeatures(rt, 'a,b\n'), CsvError, /^loadCsvFeatures: the table has no data rows \(only a header\)$/],
    ['no text', () => loadCsvFeatures(rt, ''), CsvError, /^loadCsvFeatures: the text holds no table/],
    ['bytes that are not UTF-8', () => loadCsvFeatures(rt, Uint8Array.of(0x31, 0xff)), CsvError, /^loadCsvFeatures: the bytes are not UTF-8/],
    ['a source of another type', () => loadCsvFeatures(rt, 5 as never), TypeError, /^loadCsvFeatures: source must be CSV text/],
    ['features empty', () => loadCsvFeatures(rt, 'a\n1\n', { features: [] }), RangeError, /^loadCsvFeatures: options\.features is empty$/],
    ['a negative index', () => loadCsvFeatures(rt, 'a\n1\n', { features: [-1] }), RangeError, /^loadCsvFeatures: options\.features\[0\] must be a column's header name or its index \(an integer >= 0\), got -1$/],
    ['a label option (loadCsv takes it)', () => loadCsvFeatures(rt, 'a\n1\n', { label: 'a' } as never), TypeError, /^loadCsvFeatures: unknown option 'label'/],
    ['options of another type', () => loadCsvFeatures(rt, 'a\n1\n', 'a' as never), TypeError, /^loadCsvFeatures: options must be an object/],
    ['a bad delimiter', () => loadCsvFeatures(rt, 'a\n1\n', { delimiter: '\n' }), TypeError, /^loadCsvFeatures: delimiter must be one character/],
    ['a bad header', () => loadCsvFeatures(rt, 'a\n1\n', { header: 1 as never }), TypeError, /^loadCsvFeatures: header must be true, false or 'auto'/],
  ])('refused before anything is allocated: %s', (_, f, cls, message) => expectRefused(rt, f, cls, message));

  it('a runtime that is not one: refused naming loadCsvFeatures', () => {
    expect(() => loadCsvFeatures({} as never, 'a\n1\n')).toThrow(/loadCsvFeatures/);
  });
});

describe("formatCsv: parseCsv's inverse", () => {
  const f32 = new Float32Array(1), bits32 = new Uint32Array(f32.buffer);
  const ofBits = (b: number) => { bits32[0] = b; return f32[0]; };
  const bitsOf = (v: number) => { f32[0] = v; return bits32[0]; };

  it('random float32s (normal and subnormal, both signs), ±0 and the extremes: loadCsvFeatures reads back every bit', () => {
    const next = rng(11);
    const values: number[] = [0, -0, 2 ** -149, -(2 ** -149), 2 ** -126, 2 ** -126 - 2 ** -149, 3.4028234663852886e38, -3.4028234663852886e38, 1, 1 - 2 ** -24, 1 + 2 ** -23, 16777216, 2 ** 90, 2 ** -96];
    while (values.length < 3000) {
      const b = Math.floor(next() * 2 ** 32);
      const v = ofBits(values.length % 3 === 0 ? b & 0x807fffff : b); // a third subnormal (exponent bits 0)
      if (Number.isFinite(v)) values.push(v);
    }
    const F = 6;
    const rows = Array.from({ length: values.length / F }, (_, r) => Float32Array.from(values.slice(r * F, (r + 1) * F)));
    const text = formatCsv(['a', 'b', 'c', 'd', 'e', 'f'], rows);
    const set = loadCsvFeatures(rt, text);
    expect(Array.from(set.x.toArray(), bitsOf)).toEqual(values.map(bitsOf));
    set.x.dispose();
    // as text, each cell is a plain decimal of at most 9 significant digits (a safe integer aside), never quoted
    for (const row of parseCsv(text, { header: true }).rows) {
      for (const cell of row) {
        expect(cell).toMatch(/^-?\d+(\.\d+)?(e[+-]\d+)?$/);
        if (!Number.isSafeInteger(Number(cell))) expect(significant(cell), cell).toBeLessThanOrEqual(9);
      }
    }
  });

  it("each float32 as its shortest decimal (numpy's repr); no decimal of fewer digits reads back as it", () => {
    const shortest: Array<[number, string]> = [
      [Math.fround(0.1), '0.1'], [Math.fround(1 / 3), '0.33333334'], [2 ** -149, '1e-45'], [-(2 ** -149), '-1e-45'], [2 ** -126, '1.1754944e-38'],
      [3.4028234663852886e38, '3.4028235e+38'], [Math.fround(1e-7), '1e-7'], [Math.fround(123.456), '123.456'], [1.5, '1.5'], [-0, '-0'], [0, '0'],
      // powers of two whose nearest 8-digit decimal reads back as another float32, where the one on their other side does not
      // (the neighbour below is half as far as the one above): a loop over toPrecision(1…9) writes 9 digits
      [2 ** 90, '1.2379401e+27'], [2 ** -96, '1.2621775e-29'], [2 ** 87, '1.5474251e+26'],
      // safe integers whole, the float32 or not (an id stays exact); NaN and the infinities as JavaScript writes them
      [16777216, '16777216'], [123456789, '123456789'], [-(2 ** 53 - 1), '-9007199254740991'], [2 ** 100, '1.2676506e+30'],
      [NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity'],
    ];
    expect(formatCsv(null, shortest.map(([v]) => [v])).split('\n').slice(0, -1)).toEqual(shortest.map(([, text]) => text));
    expect((2 ** 90).toPrecision(8)).toBe('1.2379400e+27'); // what the naive loop meets at 8 digits
    expect(cell('1.2379400e+27')).not.toBe(2 ** 90);
    expect(cell('1.2379401e+27')).toBe(2 ** 90);
    const next = rng(12);
    for (let k = 0; k < 150; k++) {
      const v = ofBits(Math.floor(next() * 0x7f000000) | (k % 2 ? 0x80000000 : 0));
      if (Number.isSafeInteger(v)) continue;
      const text = formatCsv(null, [[v]]).slice(0, -1);
      expect(cell(text), text).toBe(v);
      for (const fewer of fewerDigits(v, significant(text))) expect(cell(fewer), `${text}: ${fewer}`).not.toBe(v);
    }
  });

  it('quoting: a field holding the delimiter, a quote, CR or LF is quoted with its quotes doubled; a lone empty field and a leading BOM too; nothing else', () => {
    const columns = ['a,b', 'say "hi"', 'two\nlines', 'cr\rhere', 'crlf\r\n', '', ' spaced ', "it's", 'é;x'];
    expect(formatCsv(columns, [[1, 2, 3, 4, 5, 6, 7, 8, 9]])).toBe(
      '"a,b","say ""hi""","two\nlines","cr\rhere","crlf\r\n",, spaced ,it\'s,é;x\n1,2,3,4,5,6,7,8,9\n');
    // another delimiter: its own character quoted, a comma not
    expect(formatCsv(['a,b', 'c;d'], [['x', 'y']], { delimiter: ';' })).toBe('a,b;"c;d"\nx;y\n');
    expect(formatCsv(['a\tb', 'c'], [[1, 'x y']], { delimiter: '\t' })).toBe('"a\tb"\tc\n1\tx y\n');
    // a record of one empty field is "" (a bare empty line is skipped by readers); of two, a bare delimiter
    expect(formatCsv(['v'], [[''], ['a'], ['']])).toBe('v\n""\na\n""\n');
    expect(parseCsv(formatCsv(['v'], [[''], ['a']]), { header: true }).rows).toEqual([[''], ['a']]);
    expect(formatCsv(null, [['', '']])).toBe(',\n');
    // a BOM at the text's start would be dropped as one
    expect(formatCsv(null, [['\uFEFFx', 'y']])).toBe('"\uFEFFx",y\n');
    expect(parseCsv(formatCsv(null, [['\uFEFFx', 'y']]), { header: false }).rows).toEqual([['\uFEFFx', 'y']]);
    // RFC 4180's line breaks when asked; no rows: the header alone; nothing at all: the empty text
    expect(formatCsv(['a', 'b'], [[1, 'x\r\ny']], { lineBreak: '\r\n' })).toBe('a,b\r\n1,"x\r\ny"\r\n');
    expect(formatCsv(['a', 'b'], [])).toBe('a,b\n');
    expect(formatCsv(null, [])).toBe('');
  });

  it('random tables of every special character: parseCsv gives back the columns and the rows', () => {
    const next = rng(13);
    const alphabet = [',', ';', '"', '""', '\r', '\n', '\r\n', 'a', ' ', '\uFEFF', 'é', '\u{1F600}', '1', 'e', '-', '.', '\t'];
    const text = () => Array.from({ length: Math.floor(next() * 5) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
    for (let k = 0; k < 200; k++) {
      const width = 1 + Math.floor(next() * 4), height = Math.floor(next() * 5);
      const columns = Array.from({ length: width }, text);
      const rows = Array.from({ length: height }, () => Array.from({ length: width }, text));
      for (const delimiter of [',', ';', '\t']) {
        for (const lineBreak of ['\n', '\r\n'] as const) {
          const written = formatCsv(columns, rows, { delimiter, lineBreak });
          const back = parseCsv(written, { header: true, delimiter });
          expect([back.columns, back.rows], JSON.stringify(written)).toEqual([columns, rows]);
          expect(parseCsv(formatCsv(null, rows, { delimiter, lineBreak }), { header: false, delimiter }).rows).toEqual(rows);
        }
      }
    }
  });

  it.each<[string, () => unknown, new (m?: string) => Error, RegExp]>([
    ['a row of another width', () => formatCsv(['a', 'b'], [[1, 2], [3]]), RangeError, /^formatCsv: rows\[1\] has 1 field, but columns names 2$/],
    ['a row of another width (no header)', () => formatCsv(null, [[1], [2, 3]]), RangeError, /^formatCsv: rows\[1\] has 2 fields, but rows\[0\] has 1$/],
    ['a cell of another type', () => formatCsv(['a'], [[true as never]]), TypeError, /^formatCsv: rows\[0\]\[0\] must be text or a number, got boolean true$/],
    ['an empty cell slot', () => formatCsv(['a', 'b'], [[1, undefined as never]]), TypeError, /^formatCsv: rows\[0\]\[1\] must be text or a number, got undefined$/],
    ['a number beyond float32', () => formatCsv(['a'], [[-1e39]]), RangeError, /^formatCsv: rows\[0\]\[0\] is -1e\+39, beyond float32's range .*: pass it as text/],
    ['a row that is no array', () => formatCsv(['a'], ['x' as never]), TypeError, /^formatCsv: rows\[0\] must be an array of text or numbers, got the string "x"$/],
    ['rows that are no array', () => formatCsv(['a'], 'x' as never), TypeError, /^formatCsv: rows must be an array of rows/],
    ['columns empty', () => formatCsv([], []), RangeError, /^formatCsv: columns is empty/],
    ['a row of no fields', () => formatCsv(null, [[]]), RangeError, /^formatCsv: rows\[0\] is empty/],
    ['a column name of another type', () => formatCsv(['a', 2 as never], []), TypeError, /^formatCsv: columns\[1\] must be a name \(a string\), got number 2$/],
    ['columns of another type', () => formatCsv('a' as never, []), TypeError, /^formatCsv: columns must be an array of names, or null/],
    ['the delimiter auto', () => formatCsv(['a'], [], { delimiter: 'auto' }), TypeError, /^formatCsv: delimiter must be one character other than a quote or a line break, got the string "auto"$/],
    ['a quote for the delimiter', () => formatCsv(['a'], [], { delimiter: '"' }), TypeError, /^formatCsv: delimiter must be one character/],
    ['a bare CR for a line break', () => formatCsv(['a'], [], { lineBreak: '\r' as never }), TypeError, /^formatCsv: lineBreak must be '\\n' or '\\r\\n'/],
    ['an unknown option', () => formatCsv(['a'], [], { header: true } as never), TypeError, /^formatCsv: unknown option 'header'/],
  ])('refused: %s', (_, f, cls, message) => {
    const e = thrown(f);
    expect(e).toBeInstanceOf(cls);
    expect(e.message).toMatch(message);
  });
});

describe('Standardizer', () => {
  /** A [N, F] tensor of columns with their own centres and spreads (and a constant column at index 2). */
  function table(N: number, F: number, seed: number) {
    const next = rng(seed);
    const v = new Float32Array(N * F);
    for (let r = 0; r < N; r++) for (let j = 0; j < F; j++) v[r * F + j] = j === 2 ? 7.25 : (j * 100 - 50) + (next() - 0.3) * 10 ** (j - 1);
    return rt.tensor([N, F], v);
  }

  it('mean and population std (ddof 0) in float64; the result (x − mean) / scale rounded once to float32, in place', () => {
    const N = 37, F = 5;
    const x = table(N, F, 3);
    const before = x.toArray();
    const stats = fitStandardizer(x);
    for (let j = 0; j < F; j++) {
      let sum = 0;
      for (let r = 0; r < N; r++) sum += before[r * F + j];
      const mean = sum / N;
      let sq = 0;
      for (let r = 0; r < N; r++) sq += (before[r * F + j] - mean) ** 2;
      const std = Math.sqrt(sq / N);
      expect(Math.abs(stats.mean[j] - mean), `mean ${j}`).toBeLessThanOrEqual(1e-13 * Math.abs(mean));
      if (j === 2) expect(stats.scale[j]).toBe(1);
      else expect(Math.abs(stats.scale[j] - std), `scale ${j}`).toBeLessThanOrEqual(1e-12 * std);
    }
    expect(standardize(x, stats)).toBe(x);
    const after = x.toArray();
    for (let i = 0; i < N * F; i++) expect(after[i], `x[${i}]`).toBe(Math.fround((before[i] - stats.mean[i % F]) / stats.scale[i % F]));
    // standardized: each column's mean ~0, and its std ~1 (the constant column all 0)
    for (let j = 0; j < F; j++) {
      const col = Array.from({ length: N }, (_, r) => after[r * F + j]);
      const m = col.reduce((a, b) => a + b, 0) / N;
      expect(Math.abs(m)).toBeLessThan(1e-6);
      expect(Math.sqrt(col.reduce((a, b) => a + (b - m) ** 2, 0) / N)).toBeCloseTo(j === 2 ? 0 : 1, 5);
    }
    x.dispose();
  });

  it("scikit-learn's constant columns: one whose variance is within the sum's rounding error gets scale 1, not 1/sqrt(var)", () => {
    // 2^20 ones and one 1 + 2^-23: var ≈ 2^-66, under the bound (N·mean·eps)^2 ≈ 2^-64
    const N = 2 ** 20;
    const v = new Float32Array(N).fill(1);
    v[5] = 1 + 2 ** -23;
    const x = rt.tensor([N, 1], v);
    const stats = fitStandardizer(x);
    expect(stats.scale[0]).toBe(1);
    // nine such values: a variance of ~9·2^-66, over the bound
    v.fill(1 + 2 ** -23, 0, 9);
    x.data.set(v);
    expect(fitStandardizer(x).scale[0]).toBeGreaterThan(0);
    expect(fitStandardizer(x).scale[0]).toBeLessThan(1e-8);
    x.dispose();
  });

  it('bad input: a dead tensor, an IntTensor, a tensor not of rows, a width that does not match, statistics that would divide by 0 or give Infinity', () => {
    const x = rt.tensor([3, 2], [1, 2, 3, 4, 5, 6]);
    const stats = fitStandardizer(x);
    const dead = rt.tensor([3, 2]);
    dead.dispose();
    expect(() => fitStandardizer(dead)).toThrow(/^fitStandardizer: x: tensor \[3, 2\] used after dispose/);
    expect(() => standardize(dead, stats)).toThrow(/^standardize: x: tensor \[3, 2\] used after dispose/);
    const labels = rt.labels([3, 2]);
    expect(() => fitStandardizer(labels as never)).toThrow(/^fitStandardizer: x must be a Tensor of rows of features, got an IntTensor$/);
    labels.dispose();
    const flat = rt.tensor([6]);
    expect(() => fitStandardizer(flat)).toThrow(/^fitStandardizer: x must be \[rows, features\], got \[6\]$/);
    flat.dispose();
    const empty = rt.tensor([0, 2]);
    expect(() => fitStandardizer(empty)).toThrow(/^fitStandardizer: x has no rows/);
    empty.dispose();
    const wide = rt.tensor([3, 3]);
    expect(() => standardize(wide, stats)).toThrow(/^standardize: stats\.mean has 2 values, x has 3 columns$/);
    wide.dispose();
    const before = x.toArray();
    expect(() => standardize(x, { mean: stats.mean, scale: Float64Array.of(1, 0) })).toThrow(/^standardize: stats\.scale\[1\] must be positive and finite, got 0$/);
    expect(() => standardize(x, { mean: Float64Array.of(NaN, 0), scale: stats.scale })).toThrow(/^standardize: stats\.mean\[0\] must be finite, got NaN$/);
    expect(() => standardize(x, { mean: [0, '1'], scale: stats.scale } as never)).toThrow(/^standardize: stats\.mean\[1\] must be finite, got the string "1"$/);
    expect(() => standardize(x, null as never)).toThrow(/^standardize: stats must be \{ mean, scale \}/);
    // a result beyond float32: refused, x as it was
    expect(() => standardize(x, { mean: Float64Array.of(0, 0), scale: Float64Array.of(1, 1e-38) })).toThrow(/^standardize: x\[1, 1\] = 4 standardizes to [\d.]+e\+38, beyond float32's range$/);
    expect(() => standardize(x, { mean: Float64Array.of(0, 0), scale: Float64Array.of(1, 1e-39) })).toThrow(/^standardize: x\[0, 1\] = 2 standardizes to [\d.]+e\+39, beyond float32's range$/);
    expect(x.toArray()).toEqual(before);
    x.data[3] = NaN;
    expect(() => fitStandardizer(x)).toThrow(/^fitStandardizer: x\[1, 1\] is NaN: the statistics need finite values$/);
    x.dispose();
  });
});

// ---- the exact reference of the random test: decimals as BigInt fractions

/** A float64's exact decimal expansion (every binary fraction is a finite decimal), without trailing zeros. */
function exactDecimal(v: number): string {
  const f64 = new Float64Array([v]);
  const b = new BigUint64Array(f64.buffer)[0];
  const e = Number((b >> 52n) & 0x7ffn);
  const mant = (b & 0xfffffffffffffn) | (e === 0 ? 0n : 0x10000000000000n);
  const e2 = (e === 0 ? 1 : e) - 1075;
  if (e2 >= 0) return String(mant << BigInt(e2));
  const digits = String(mant * 5n ** BigInt(-e2)).padStart(-e2 + 1, '0');
  const fraction = digits.slice(digits.length + e2).replace(/0+$/, '');
  return fraction === '' ? digits.slice(0, digits.length + e2) : `${digits.slice(0, digits.length + e2)}.${fraction}`;
}

/** The decimal one unit less in its last digit (a binary fraction's expansion, which ends in 5). */
function lessByOneInLastPlace(text: string): string {
  return `${text.slice(0, -1)}${Number(text[text.length - 1]) - 1}`;
}

/** A positive decimal as a fraction [numerator, denominator] of BigInts. */
function fraction(text: string): [bigint, bigint] {
  const [whole, frac = ''] = text.split('.');
  return [BigInt(whole + frac), 10n ** BigInt(frac.length)];
}

/** Of the candidate float32s (positive), the nearest the decimal, ties to the one whose last bit is 0. */
function nearestFloat32(text: string, candidates: number[]): number {
  const [n, d] = fraction(text);
  const distance = (c: number): [bigint, bigint] => {
    const [cn, cd] = fraction(exactDecimal(c));
    const num = n * cd - cn * d;
    return [num < 0n ? -num : num, d * cd];
  };
  const lastBit = (c: number) => new Uint32Array(new Float32Array([c]).buffer)[0] & 1;
  return candidates.reduce((best, c) => {
    const [a, ad] = distance(c), [b, bd] = distance(best);
    const cmp = a * bd - b * ad;
    return cmp < 0n || (cmp === 0n && lastBit(c) === 0) ? c : best;
  });
}

// ---- the shortest-decimal reference: the decimals of fewer digits nearest a float32

/** Significant digits of a decimal (its mantissa's, from the first nonzero one; trailing zeros of an integer not counted). */
function significant(text: string): number {
  return text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;
}

/** The decimals of `digits` − 1 significant digits on either side of v's magnitude, exactly: any such decimal that reads back as v is one of them. */
function fewerDigits(v: number, digits: number): string[] {
  if (digits <= 1) return [];
  const [whole, frac = ''] = exactDecimal(Math.abs(v)).split('.');
  const all = whole + frac;
  const zeros = all.length - all.replace(/^0+/, '').length;
  const e10 = whole.length - 1 - zeros; // the power of ten of the first significant digit
  const q = digits - 1;
  const head = all.slice(zeros, zeros + q).padEnd(q, '0');
  const sign = v < 0 ? '-' : '';
  return [`${sign}${head}e${e10 - q + 1}`, `${sign}${BigInt(head) + 1n}e${e10 - q + 1}`];
}
