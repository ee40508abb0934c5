// simdnn/csv's table steps where a mutant got past csv.test.ts and playground-csv.node.test.ts (session 67's second
// CSV mutation run): testRowCount's Keras count where float rounding parts it from ⌈N·s⌉, splitTable's refusals of a
// seed that is no 32-bit number, of row counts that are not whole parts and of an x that is not rows, the parts freed
// when a test row standardizes beyond float32, csvModelMetadata's checks of a record's form, describeCsvInfo at
// exactly 8 names, a float64 whose float32 is −0 written '-0', and runTrial's data.classes against one-hot rows and a
// fraction.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime } from './helpers/runtime.js';
import { expectRefused, thrown } from './helpers/refused.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { stratifiedSplit } from '../src/index.js';
import { csvModelMetadata, describeCsvInfo, formatCsv, loadCsv, parseCsv, splitTable, testRowCount } from '../src/data/csv/index.js';
import { runTrial, type TrialData } from '../src/search/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime(); });

/** A table of `rows` rows, classes a and b in turn, one feature `v` (row i's value `value(i)`). */
function table(rows: number, value: (i: number) => string = (i) => String(i)): string {
  return `v,y\n${Array.from({ length: rows }, (_, i) => `${value(i)},${'ab'[i % 2]}`).join('\n')}\n`;
}

describe('testRowCount and splitTable: the cases the tests left open', () => {
  it("testRowCount is Keras's N − ⌊N·(1 − s)⌋, not ⌈N·s⌉ nor a rounding of N·(1 − s); splitTable holds out that many", () => {
    // 10·0.3 is 3.0000000000000004 in float64 (⌈⌉: 4); 10·0.75 is 7.5 and 7·0.5 is 3.5 (rounded: 8 and 4)
    expect([testRowCount(10, 0.3), testRowCount(10, 0.25), testRowCount(7, 0.5), testRowCount(3, 0.9)]).toEqual([3, 3, 4, 3]);
    const all = loadCsv(rt, table(10), { label: 'y' });
    const s = splitTable(all, { testSplit: 0.3, seed: 1 });
    expect([s.xTrain.shape[0], s.xTest.shape[0]]).toEqual([7, 3]);
    for (const t of [s.xTrain, s.tTrain, s.xTest, s.tTest, all.x, all.t]) t.dispose();
  });

  it('a seed that is no finite number, and row counts that are not whole parts (0, a fraction): refused naming the option', () => {
    const all = loadCsv(rt, table(40), { label: 'y' });
    const cases: Array<[object, new (m?: string) => Error, RegExp]> = [
      [{ testSplit: 0.25, seed: NaN }, TypeError, /^splitTable: options\.seed must be a number \(a 32-bit seed\), got number NaN$/],
      [{ testSplit: 0.25, seed: Infinity }, TypeError, /^splitTable: options\.seed must be a number \(a 32-bit seed\), got number Infinity$/],
      [{ testSplit: 0.25, seed: 1, testRows: 0 }, RangeError, /^splitTable: options\.testRows must be an integer in \[1, 10\] \(the part's rows\), got 0$/],
      [{ testSplit: 0.25, seed: 1, trainRows: 0 }, RangeError, /^splitTable: options\.trainRows must be an integer in \[1, 30\] \(the part's rows\), got 0$/],
      [{ testSplit: 0.25, seed: 1, trainRows: 2.5 }, RangeError, /^splitTable: options\.trainRows must be an integer in \[1, 30\] \(the part's rows\), got 2\.5$/],
      [{ testSplit: 0.25, seed: 1, testRows: '4' }, TypeError, /^splitTable: options\.testRows must be a count of rows, got the string "4"$/],
    ];
    for (const [options, cls, message] of cases) expectRefused(rt, () => splitTable(all, options as never), cls, message);
    all.x.dispose();
    all.t.dispose();
  });

  it('a set whose x is not rows of features: refused naming splitTable, as its t of another row count is', () => {
    const x = rt.tensor([4], [1, 2, 3, 4]), t = rt.labels([4], [0, 1, 0, 1]);
    expectRefused(rt, () => splitTable({ x, t }, { testSplit: 0.5, seed: 1 }), RangeError, /^splitTable: set\.x must be \[rows, features\] and set\.t \[rows\], got \[4\] and \[4\]$/);
    x.dispose();
    t.dispose();
  });

  it('a test row that standardizes beyond float32: the RangeError reaches the caller and both parts are freed', () => {
    // the training rows' spread is a thousandth; the one huge value is put on a row the split holds out
    const labels = Int32Array.from({ length: 20 }, (_, i) => i % 2);
    const huge = stratifiedSplit(labels, testRowCount(20, 0.25), 1).test[0];
    const all = loadCsv(rt, table(20, (i) => (i === huge ? '3e38' : String((i % 4) * 1e-3))), { label: 'y' });
    expect(Array.from(all.t.toArray())).toEqual(Array.from(labels));
    expectRefused(rt, () => splitTable(all, { testSplit: 0.25, seed: 1 }), RangeError, /^standardize: x\[0, 0\] = .* standardizes to .*, beyond float32's range$/);
    all.x.dispose();
    all.t.dispose();
  });
});

describe("csvModelMetadata and describeCsvInfo: the cases the tests left open", () => {
  const info = { label: 'y', features: ['a', 'b'], classes: ['n', 'p'], mean: [0.5, -2], scale: [1, 3] };

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['no features', { features: [], mean: [], scale: [] }, /\.features must be a non-empty array of names$/],
    ['no classes', { classes: [] }, /\.classes must be a non-empty array of names$/],
    ['a feature that is no name', { features: ['a', 2] }, /\.features must be a non-empty array of names$/],
    ['a label that is no name', { label: 3 }, /\.label must be the label column's name$/],
    ['no label', { label: undefined }, /\.label must be the label column's name$/],
    ['a mean short of the features', { mean: [0.5] }, /\.mean must be 2 finite numbers, one per feature$/],
    ['a scale too long', { scale: [1, 3, 1] }, /\.scale must be 2 positive finite numbers, one per feature$/],
    ['a negative scale', { scale: [1, -3] }, /\.scale must be 2 positive finite numbers, one per feature$/],
    ['a scale given as text', { scale: [1, '3'] }, /\.scale must be 2 positive finite numbers, one per feature$/],
  ])('refused: %s, naming the field', (_, edit, message) => {
    const e = thrown(() => csvModelMetadata({ ...info, ...edit } as never));
    expect(e.message).toMatch(/^csvModelMetadata: info: metadata 'csv' /);
    expect(e.message).toMatch(message);
  });

  it('describeCsvInfo shows lists of up to 8 names whole, and of 9 the first 8 and one more', () => {
    const names = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    const eight = { ...info, features: names(8, 'f'), classes: names(8, 'c'), mean: new Array(8).fill(0), scale: new Array(8).fill(1) };
    expect(describeCsvInfo(eight)).toBe("label 'y', 8 classes (c0, c1, c2, c3, c4, c5, c6, c7); 8 features, standardized (f0, f1, f2, f3, f4, f5, f6, f7)");
    const nine = { ...eight, classes: names(9, 'c') };
    expect(describeCsvInfo(nine)).toMatch(/^label 'y', 9 classes \(c0, c1, c2, c3, c4, c5, c6, c7, … \(1 more\)\); /);
  });
});

describe('formatCsv: a float64 whose float32 is a zero', () => {
  it("is written as that float32 reads back: '-0' for a negative one (its sign kept), '0' for a positive one", () => {
    const text = formatCsv(null, [[-1e-50, 1e-50, -(2 ** -151)]]);
    expect(text).toBe('-0,0,-0\n');
    expect(parseCsv(text, { header: false }).rows).toEqual([['-0', '0', '-0']]);
  });
});

describe("runTrial: data.classes, the cases the tests left open", () => {
  const job = { study: 's', index: 0, seed: 5, settings: { lr: 0.1, hidden: [4], batchSize: 3 }, epochs: 1, data: {} };

  /** Six rows of two features; labels 0, 1 in turn, as class indices or as one-hot rows of `width`. */
  function rows(oneHot: number | null): TrialData & { dispose(): void } {
    const x = () => rt.tensor([6, 2], [0, 1, 1, 0, 0, 2, 2, 0, 0, 3, 3, 0]);
    const t = () => (oneHot === null
      ? rt.labels([6], [0, 1, 0, 1, 0, 1])
      : rt.tensor([6, oneHot], Array.from({ length: 6 * oneHot }, (_, i) => (i % oneHot === Math.floor(i / oneHot) % 2 ? 1 : 0))));
    const d = { xTrain: x(), tTrain: t(), xVal: x(), tVal: t() };
    return { ...d, dispose: () => { for (const v of Object.values(d)) v.dispose(); } };
  }

  it('one-hot rows take exactly their width: more classes refused naming data.classes, before any training', async () => {
    const d = rows(3);
    try {
      await expect(runTrial(rt, job, { ...d, classes: 4 })).rejects.toThrow(/^runTrial: data\.classes must be the one-hot width, 3, got 4$/);
      await expect(runTrial(rt, job, { ...d, classes: 2 })).rejects.toThrow(/^runTrial: data\.classes must be the one-hot width, 3, got 2$/);
      expect((await runTrial(rt, job, { ...d, classes: 3 })).status).toBe('ok');
    } finally {
      d.dispose();
    }
  });

  it('a class count that is no integer: refused naming data.classes (not a trial that fails)', async () => {
    const d = rows(null);
    try {
      const e = await runTrial(rt, job, { ...d, classes: 2.5 }).then(() => null, (err: Error) => err);
      expect(e).toBeInstanceOf(RangeError);
      expect(e!.message).toBe('runTrial: data.classes must be an integer >= 2 (the largest label + 1), got 2.5');
    } finally {
      d.dispose();
    }
  });
});
