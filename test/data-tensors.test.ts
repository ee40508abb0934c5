// Dataset on tensors (select, shuffle, split, randomChoice, batches) and the
// book's smooth_curve.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, expectClose } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { Dataset, smoothCurve, kaiserWindow } from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 4 }); });

/** Row i of x is [i, 10·i]; label i mod 3. */
function numbered(N: number) {
  const x = rt.tensor([N, 2], Array.from({ length: 2 * N }, (_, j) => (j % 2 ? 10 : 1) * Math.floor(j / 2)));
  const t = rt.labels([N], Array.from({ length: N }, (_, i) => i % 3));
  return new Dataset(x, t);
}

const rowsOf = (d: { x: { toArray(): Float32Array } }) => Array.from(d.x.toArray()).filter((_, j) => j % 2 === 0);

describe('Dataset', () => {
  it('select copies the rows in order into tensors the new Dataset owns', () => {
    const d = numbered(10);
    const s = d.select([7, 2, 2]);
    expect(Array.from(s.x.toArray())).toEqual([7, 70, 2, 20, 2, 20]);
    expect(Array.from(s.t.toArray())).toEqual([1, 2, 2]);
    expect(() => d.select([10])).toThrow(/indices\[0\] is 10, expected an integer in \[0, 10\)/);
    s.dispose();
    expect(s.x.disposed).toBe(true);
    d.dispose();
    expect(d.x.disposed).toBe(false); // borrowed
  });

  it('select, shuffle and split leave nothing in the Dataset they copy from: disposing what they return frees all they made', () => {
    const d = numbered(40);
    const base = rt.memoryStats();
    for (let i = 0; i < 3; i++) {
      const { train, validation } = d.split(0.25, i);
      const s = d.select([3, 1]), sh = d.shuffle(i);
      for (const part of [train, validation, s, sh]) part.dispose();
      expect(rt.memoryStats(), `round ${i}`).toEqual(base);
    }
    d.x.dispose();
    d.t.dispose();
    d.dispose();
  });

  it('shuffle is a seeded permutation; split is seeded, disjoint, complete and keeps row order', () => {
    const d = numbered(20);
    const a = d.shuffle(5), b = d.shuffle(5), c = d.shuffle(6);
    expect(rowsOf(a)).toEqual(rowsOf(b));
    expect(rowsOf(a)).not.toEqual(rowsOf(c));
    expect([...rowsOf(a)].sort((p, q) => p - q)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const { train, validation } = d.split(0.25, 1);
    expect(validation.length).toBe(5);
    expect(train.length).toBe(15);
    const tr = rowsOf(train), va = rowsOf(validation);
    expect([...tr, ...va].sort((p, q) => p - q)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(tr).toEqual([...tr].sort((p, q) => p - q));
    expect(Array.from(validation.t.toArray())).toEqual(va.map((i) => i % 3));
    expect(() => d.split(1, 1)).toThrow(/validationRate must be a number in \(0, 1\)/);
    for (const x of [a, b, c, train, validation, d]) x.dispose();
  });

  it('randomChoice draws rows with replacement from the runtime\'s seeded stream, x and t together', async () => {
    const d = numbered(50);
    const r2 = await makeRuntime({ seed: 4 });
    const counter = rt.randomState.counter;
    const batch = d.randomChoice(200);
    const rows = rowsOf(batch);
    expect(rows.every((i) => Number.isInteger(i) && i >= 0 && i < 50)).toBe(true);
    expect(new Set(rows).size).toBeLessThan(50); // 200 draws of 50: repeats
    expect(Array.from(batch.t.toArray())).toEqual(rows.map((i) => i % 3));
    expect(rt.randomState.counter).toBe(counter + 400);
    // the same draws from the same stream position
    r2.randomState = { seed: 4, counter };
    const d2 = new Dataset(r2.tensor([50, 2], d.x.toArray()), r2.labels([50], d.t.toArray()));
    expect(rowsOf(d2.randomChoice(200))).toEqual(rows);
    d.dispose();
    r2.dispose();
  });

  it('randomChoice refuses a Dataset with no rows (it gave a batch of whatever its buffer held)', () => {
    const d = numbered(6);
    const empty = d.select([]);
    expect(empty.length).toBe(0);
    expect(() => empty.randomChoice(3)).toThrow(/^Dataset\.randomChoice: the Dataset has no rows to draw from$/);
    for (const x of [empty, d]) x.dispose();
  });

  it('batches in order or seeded order, the last one smaller unless dropLast', () => {
    const d = numbered(7);
    expect([...d.batches(3)].length).toBe(3);
    const seen: number[] = [];
    for (const b of d.batches(3, { seed: 2 })) seen.push(...rowsOf(b));
    expect([...seen].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect([...d.batches(3, { dropLast: true })].map((b) => b.x.shape[0])).toEqual([3, 3]);
    expect(() => d.batches(3, { seeds: 2 } as never).next()).toThrow(/^Dataset\.batches: unknown option 'seeds' \(expected one of seed, dropLast\)$/);
    expect(() => d.batches(3, { dropLast: 1 } as never).next()).toThrow(/^Dataset\.batches: dropLast must be true or false, got number 1$/);
    d.dispose();
  });

  it('refuses every entry once its borrowed x or t is disposed, or itself: the kernels would read freed memory (another tensor\'s)', () => {
    const entries = (d: Dataset) => [
      ['select', () => d.select([0])], ['shuffle', () => d.shuffle(1)], ['split', () => d.split(0.5, 1)],
      ['randomChoice', () => d.randomChoice(2)], ['batches', () => d.batches(2).next()],
    ] as const;
    for (const gone of ['x', 't'] as const) {
      const d = numbered(6);
      d[gone].dispose();
      const reuse = rt.tensor([6, 2], new Float32Array(12).fill(123)); // takes the freed block
      for (const [entry, call] of entries(d)) {
        expect(call, `${gone} ${entry}`).toThrow(new RegExp(`^Dataset\\.${entry}: ${gone}: tensor .*used after dispose`));
      }
      reuse.dispose();
      d.dispose();
      d.x.dispose();
      d.t.dispose();
    }
    const d = numbered(6);
    const batches = d.batches(2);
    expect(rowsOf(batches.next().value!)).toEqual([0, 1]);
    d.x.dispose(); // between two batches
    expect(() => batches.next()).toThrow(/^Dataset\.batches: x: tensor \[6, 2\] used after dispose/);
    d.t.dispose();
    const owned = numbered(6).select([5, 4]);
    owned.dispose();
    owned.dispose(); // idempotent
    for (const [entry, call] of entries(owned)) expect(call, entry).toThrow(new RegExp(`^Dataset\\.${entry}: used after dispose\\(\\)$`));
    expect(owned.x.alive).toBe(false);
  });
});

describe('smoothCurve', () => {
  // reference values from the book's common/util.py smooth_curve run with NumPy 2.4.6
  const series = (n: number) => Array.from({ length: n }, (_, i) => ((i * 7) % 13) / 3 + i * 0.1);

  it('refuses what is not an array of numbers (a string\'s length, or a string in the series, gave [] or NaN)', () => {
    expect(() => smoothCurve('abcdefghijkl' as never)).toThrow(/^smoothCurve: x must be an array of numbers, got the string "abcdefghijkl"$/);
    expect(() => smoothCurve([...series(11), '2'] as never)).toThrow(/^smoothCurve: x\[11\] is the string "2", not a number$/);
    expect(smoothCurve([Number.NaN, ...series(11)]), 'NaN is a number: a diverged loss').toHaveLength(12);
  });

  it('numpy.kaiser(11, 2)', () => {
    expectClose(kaiserWindow(11, 2), [0.4386762798370488, 0.6113943543616491, 0.7676749968275236, 0.8921614338542881, 0.9723298008693713, 1,
      0.9723298008693713, 0.8921614338542881, 0.7676749968275236, 0.6113943543616491, 0.4386762798370488], { rtol: 1e-14 });
    // large beta: the series ran 50 terms (3.6e-130 at beta 800, where I0 overflows)
    expectClose(kaiserWindow(5, 50), [3.409997134604562e-21, 0.0013249058037932944, 1, 0.0013249058037932944, 3.409997134604562e-21], { rtol: 1e-12 });
    expectClose(kaiserWindow(5, 600), [1.6269936722628168e-259, 1.3200549055940048e-35, 1, 1.3200549055940048e-35, 1.6269936722628168e-259], { rtol: 1e-10 });
    expect(kaiserWindow(0, 2)).toEqual([]);
    expect(() => kaiserWindow(2.5, 2)).toThrow(/^kaiserWindow: m must be a non-negative integer, got number 2\.5$/);
    expect(() => kaiserWindow('3' as never, 2)).toThrow(/m must be a non-negative integer, got the string "3"/);
    expect(() => kaiserWindow(5, 800)).toThrow(/^kaiserWindow: beta must be a number in \[-700, 700\], got number 800$/);
    expect(() => kaiserWindow(5, NaN)).toThrow(/beta must be a number in \[-700, 700\], got number NaN/);
  });

  it('matches the book\'s smooth_curve on 30, 12 and 11 points, and is empty below 8 as the book\'s slices make it (3n − 21 points for n in 8…10)', () => {
    expectClose(smoothCurve(series(30)), [1.7470982545281366, 1.6882529998421083, 1.872857418929472, 1.9328953548787566, 2.223333819810497,
      2.371303606295426, 2.728696393704574, 2.9046369396287592, 3.034767306593949, 3.1212288232771153, 3.170395804010151, 3.1923653700420167,
      3.1999999999999997, 3.2076346299579823, 3.2296041959898494, 3.2787711767228847, 3.365232693406051, 3.4953630603712407, 3.671303606295426,
      4.028696393704574, 4.2046369396287595, 4.334767306593949, 4.421228823277115, 4.470395804010151, 4.492365370042017, 4.599645830502351,
      4.490926223900533, 4.530840712423791, 4.358534790616587, 4.339102811613178], { rtol: 1e-13 });
    expectClose(smoothCurve(series(12)), [1.7470982545281366, 1.6882529998421083, 1.872857418929472, 1.9328953548787566, 2.223333819810497,
      2.371303606295426, 2.728696393704574, 3.0042827701311103, 3.245321320980457, 3.4392067893960343, 3.5751266742649435, 3.645173724502553], { rtol: 1e-13 });
    expectClose(smoothCurve(series(11)), [1.7470982545281366, 1.6882529998421083, 1.872857418929472, 1.9328953548787566, 2.223333819810497,
      2.371303606295426, 2.6010798037629668, 2.7984495043302893, 2.9550404367957372, 3.0637629069634764, 3.1194750211272027], { rtol: 1e-13 });
    expect(smoothCurve(series(5))).toEqual([]);
    // a constant stays constant
    expectClose(smoothCurve(new Array(40).fill(2.5)), new Array(40).fill(2.5), { rtol: 1e-14 });
  });
});
