// Tables from CSV text (simdnn/csv) where a mutant got past test/csv.test.ts (session 67's mutation run): the
// delimiter's sniffing outside quotes, line counts past a lone CR inside quotes, a quoted field at the text's very
// end, the header rule of a lone row and of an empty text with header: true, the overflow threshold's float64
// reached by a short decimal, class names that are prefixes of others, the hints and cut of a bad cell's message,
// the features freed when the labels cannot be allocated, and an all-zero column's scale.
import { describe, it, expect, beforeAll, vi } from 'vitest';
import { thrown } from './helpers/refused.js';
import { makeRuntime } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { OutOfMemoryError } from '../src/runtime/errors.js';
import { CsvError, fitStandardizer, loadCsv, parseCsv, standardize } from '../src/data/csv/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime(); });


/** The float32 loadCsv reads from one cell. */
function cell(text: string): number {
  const set = loadCsv(rt, `x,y\n${text},a\n`, { label: 'y' });
  const v = set.x.toArray()[0];
  set.x.dispose();
  set.t.dispose();
  return v;
}

describe('parseCsv: the cases csv.test.ts left open', () => {
  it("delimiter 'auto' counts only outside quotes, and a line break inside quotes does not end the first line", () => {
    // two semicolons inside the quotes, one comma outside: the comma
    expect(parseCsv('"x;y;z",a\n1,2\n', { delimiter: 'auto' })).toEqual({ columns: ['x;y;z', 'a'], rows: [['1', '2']], lines: [2] });
    // the first line runs on past the quoted line break to its semicolon
    expect(parseCsv('"a\nb";c\n1;2\n', { delimiter: 'auto' })).toEqual({ columns: ['a\nb', 'c'], rows: [['1', '2']], lines: [3] });
  });

  it('a lone CR inside a quoted field counts as a line break (old Mac text), and a CRLF as one', () => {
    expect(parseCsv('a,b\r"1\r2",3\r4,5\r')).toEqual({ columns: ['a', 'b'], rows: [['1\r2', '3'], ['4', '5']], lines: [2, 4] });
    expect(thrown(() => parseCsv('a,b\r"1\r\r2",3\r4\r')).message).toBe('parseCsv: line 5: 1 field, but the first row has 2');
  });

  it('a quoted field may close at the very end of the text (no final line break)', () => {
    expect(parseCsv('a,b\n1,"2"')).toEqual({ columns: ['a', 'b'], rows: [['1', '2']], lines: [2] });
    expect(parseCsv('"a"', { header: false }).rows).toEqual([['a']]);
  });

  it("header 'auto' on a lone row: a header when any field is not a number (not only when none is)", () => {
    expect(parseCsv('a,1\n')).toEqual({ columns: ['a', '1'], rows: [], lines: [] });
  });

  it('header: true on a text of no rows: a header of no names ([]), not null (which says the first row is data)', () => {
    expect(parseCsv('', { header: true })).toEqual({ columns: [], rows: [], lines: [] });
    expect(parseCsv('\r\n\n', { header: true })).toEqual({ columns: [], rows: [], lines: [] });
    expect(parseCsv('', { header: false }).columns).toBeNull();
  });
});

describe('loadCsv: the cases csv.test.ts left open', () => {
  it("a short decimal whose float64 is the overflow threshold 2^128 − 2^103 but which lies below it: float32's largest, not refused", () => {
    // 3.4028235677973366e38 < 340282356779733661637539395458142568448 (the threshold), and Number() rounds it up to it
    expect(Number('3.4028235677973366e38')).toBe(2 ** 128 - 2 ** 103);
    expect(Math.fround(Number('3.4028235677973366e38'))).toBe(Infinity);
    expect(cell('3.4028235677973366e38')).toBe(3.4028234663852886e38);
    expect(cell('-3.4028235677973366e38')).toBe(-3.4028234663852886e38);
  });

  it('class names that begin others sort first (code point order: "cat" before "cats")', () => {
    const set = loadCsv(rt, 'v,s\n1,cats\n2,cat\n3,ca\n', { label: 's' });
    expect(set.classNames).toEqual(['ca', 'cat', 'cats']);
    expect(Array.from(set.t.toArray())).toEqual([2, 1, 0]);
    set.x.dispose();
    set.t.dispose();
  });

  it("a bad cell's message: a decimal comma hinted at, and a long cell cut after 40 characters", () => {
    const comma = thrown(() => loadCsv(rt, 'w;s\n1,5;a\n', { label: 's', delimiter: ';', header: true }));
    expect(comma).toBeInstanceOf(CsvError);
    expect(comma.message).toBe(
      "loadCsv: row 1 (line 2), column 'w': \"1,5\" is not a number (a decimal comma? write a point)");
    const long = `${'1'.repeat(38)}abcdef`;
    expect(thrown(() => loadCsv(rt, `w,s\n${long},a\n`, { label: 's', header: true })).message).toBe(
      `loadCsv: row 1 (line 2), column 'w': "${'1'.repeat(38)}ab…" is not a number`);
  });

  it('the labels cannot be allocated: the features, allocated first, are freed and the OutOfMemoryError reaches the caller', () => {
    const before = rt.memoryStats();
    const alloc = rt.alloc;
    let calls = 0;
    const failure = new OutOfMemoryError('test: the second allocation fails');
    const spy = vi.spyOn(rt, 'alloc').mockImplementation((bytes: number) => {
      if (calls++ === 1) throw failure;
      return alloc.call(rt, bytes);
    });
    try {
      expect(thrown(() => loadCsv(rt, 'a,b,s\n1,2,x\n3,4,y\n', { label: 's' }))).toBe(failure);
    } finally {
      spy.mockRestore();
    }
    expect(calls).toBe(2);
    const after = rt.memoryStats();
    expect({ used: after.used, blocks: after.blocks }).toEqual({ used: before.used, blocks: before.blocks });
  });
});

describe('Standardizer: the cases csv.test.ts left open', () => {
  it('a column of zeros (variance 0, and a bound of 0): scale 1, standardized to 0, as scikit-learn does', () => {
    const x = rt.tensor([4, 2], [0, 1, 0, 2, 0, 3, 0, 4]);
    const stats = fitStandardizer(x);
    expect(Array.from(stats.mean)).toEqual([0, 2.5]);
    expect(Array.from(stats.scale)).toEqual([1, Math.sqrt(1.25)]);
    standardize(x, stats);
    const v = x.toArray();
    expect([v[0], v[2], v[4], v[6]]).toEqual([0, 0, 0, 0]);
    x.dispose();
  });
});

