// The portable data helpers: IDX parsing, tensors from bytes (normalize,
// flatten, one-hot), the seeded stratified split, on small synthetic bytes.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, expectClose, rng } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { IntTensor, Tensor } from '../src/runtime/tensor.js';
import {
  parseIdx, encodeIdx, stratifiedSplit, imagesTensor, oneHot, selectRows, firstRows, classCount, toDataSet, type RawImages,
} from '../src/data/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 5 }); });

/** n images of rows x cols with random bytes and labels cycling through `classes`. */
function synthetic(n: number, rows: number, cols: number, classes: number, seed: number): RawImages {
  const next = rng(seed);
  return {
    pixels: Uint8Array.from({ length: n * rows * cols }, () => Math.floor(next() * 256)),
    labels: Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) % classes),
    rows,
    cols,
  };
}

/** A hand-written IDX header: big-endian, type 0x08. */
function header(dims: number[]): number[] {
  return [0, 0, 0x08, dims.length, ...dims.flatMap((d) => [(d >>> 24) & 255, (d >>> 16) & 255, (d >>> 8) & 255, d & 255])];
}

describe('parseIdx', () => {
  it('reads the big-endian header and returns the bytes after it', () => {
    const pixels = Array.from({ length: 2 * 2 * 3 }, (_, i) => i * 20);
    const idx = parseIdx(new Uint8Array([...header([2, 2, 3]), ...pixels]), 'images.idx3');
    expect(idx.dims).toEqual([2, 2, 3]);
    expect([...idx.data]).toEqual(pixels);
    const labels = parseIdx(new Uint8Array([...header([300]), ...new Array(300).fill(7)]), 'labels.idx1');
    expect(labels.dims).toEqual([300]); // 300 = 0x0000012c checks byte order
    expect(labels.data.length).toBe(300);
  });

  it('round-trips encodeIdx', () => {
    const data = Uint8Array.from({ length: 4 * 5 * 6 }, (_, i) => (i * 37) & 255);
    const bytes = encodeIdx([4, 5, 6], data);
    expect([...bytes.subarray(0, 16)]).toEqual(header([4, 5, 6]));
    const idx = parseIdx(bytes, 'x');
    expect(idx.dims).toEqual([4, 5, 6]);
    expect([...idx.data]).toEqual([...data]);
    expect(() => encodeIdx([2, 2], new Uint8Array(3))).toThrow(/dims \[2, 2\] need 4 bytes, got 3/);
  });

  it('names the file and what is wrong in malformed input', () => {
    const ok = [...header([2, 3]), 1, 2, 3, 4, 5, 6];
    const cases: Array<[number[], RegExp]> = [
      [[0, 0, 8], /f\.idx: too short for an IDX header \(3 bytes/],
      [[0x1f, 0x8b, 8, 0, 0, 0], /f\.idx: is gzip-compressed; decompress it/],
      [[0x50, 0x4b, 3, 4, 0, 0], /f\.idx: not an IDX file: magic 0x504b0304/],
      [[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], /element type 0x0d \(float32\) is not supported/],
      [[0, 0, 8, 0], /rank 0/],
      [[0, 0, 8, 3, 0, 0, 0, 2, 0, 0], /truncated header: rank 3 needs 16 header bytes, the file has 10/],
      [ok.slice(0, -2), /f\.idx: truncated: the header says 2x3 = 6 bytes of data, the file has 4/],
      [[...ok, 9, 9], /f\.idx: malformed: 2 bytes follow the 2x3 = 6 bytes/],
    ];
    for (const [bytes, message] of cases) expect(() => parseIdx(new Uint8Array(bytes), 'f.idx')).toThrow(message);
    expect(parseIdx(new Uint8Array(ok), 'f.idx').dims).toEqual([2, 3]);
  });
});

describe('imagesTensor', () => {
  const images = synthetic(5, 3, 4, 3, 1);

  it('flattens to [N, rows*cols] and normalizes to pixel/255 (within 1 ulp)', () => {
    const x = imagesTensor(rt, images);
    expect(x).toBeInstanceOf(Tensor);
    expect(x.shape).toEqual([5, 12]);
    expectClose(x.data, Array.from(images.pixels, (p) => p / 255), { rtol: 1.2e-7 }, 'normalized pixels');
    x.dispose();
  });

  it('keeps [N, 1, rows, cols] and raw 0..255 values when asked', () => {
    const x = imagesTensor(rt, images, { flatten: false, normalize: false });
    expect(x.shape).toEqual([5, 1, 3, 4]);
    expect([...x.data]).toEqual([...images.pixels]);
    x.dispose();
  });

  it('normalizes every byte value: 0 -> 0, 255 -> 1', () => {
    const all = { pixels: Uint8Array.from({ length: 256 }, (_, i) => i), labels: new Uint8Array(16), rows: 4, cols: 4 };
    const x = imagesTensor(rt, all);
    expect(x.data[0]).toBe(0);
    expect(x.data[255]).toBe(1);
    expectClose(x.data, Array.from({ length: 256 }, (_, i) => i / 255), { rtol: 1.2e-7 }, 'pixel/255');
    x.dispose();
  });

  it('rejects pixel counts that do not match the labels', () => {
    expect(() => imagesTensor(rt, { ...images, pixels: images.pixels.subarray(1) })).toThrow(/5 labels need 60 pixels of 3 x 4, got 59/);
    expect(() => imagesTensor(rt, { ...images, rows: 0 })).toThrow(/rows and cols must be positive integers/);
  });

  it('refuses flags that are not booleans (a truthy \'no\' flattened)', () => {
    expect(() => imagesTensor(rt, images, { flatten: 'no' } as never)).toThrow(/^imagesTensor: flatten must be true or false, got the string "no"$/);
    expect(() => imagesTensor(rt, images, { normalize: 0 } as never)).toThrow(/^imagesTensor: normalize must be true or false, got number 0$/);
  });
});

describe('oneHot', () => {
  it('puts a single 1 per row at the label', () => {
    const labels = [2, 0, 1, 2, 3];
    const t = oneHot(rt, labels, 4);
    expect(t.shape).toEqual([5, 4]);
    const expected = labels.flatMap((c) => [0, 1, 2, 3].map((j) => (j === c ? 1 : 0)));
    expect([...t.data]).toEqual(expected);
    t.dispose();
  });

  it('rejects labels outside [0, numClasses) and a bad width', () => {
    const before = rt.memoryStats().blocks;
    expect(() => oneHot(rt, [0, 4], 4)).toThrow(/labels\[1\] is 4, expected an integer in \[0, 4\)/);
    expect(() => oneHot(rt, [0, -1], 4)).toThrow(/labels\[1\] is -1/);
    expect(() => oneHot(rt, [0], 0)).toThrow(/numClasses must be a positive integer, got 0/);
    expect(rt.memoryStats().blocks).toBe(before);
  });
});

describe('selectRows / firstRows / classCount', () => {
  const images = synthetic(6, 2, 2, 3, 2);

  it('copies the chosen rows with their labels, in order', () => {
    const s = selectRows(images, [4, 1, 4]);
    expect(s.labels).toEqual(Uint8Array.from([images.labels[4], images.labels[1], images.labels[4]]));
    expect([...s.pixels]).toEqual([...images.pixels.subarray(16, 20), ...images.pixels.subarray(4, 8), ...images.pixels.subarray(16, 20)]);
    expect(() => selectRows(images, [0, 6])).toThrow(/indices\[1\] is 6, expected an integer in \[0, 6\)/);
  });

  it('takes a prefix view, all rows when n is undefined or too large', () => {
    expect(firstRows(images, undefined)).toBe(images);
    const head = firstRows(images, 2);
    expect(head.labels.length).toBe(2);
    expect(head.pixels.length).toBe(8);
    expect(head.pixels.buffer).toBe(images.pixels.buffer);
    expect(firstRows(images, 100).labels.length).toBe(6);
    expect(() => firstRows(images, 0, 'trainRows')).toThrow(/trainRows: expected a positive integer, got number 0/);
    expect(() => firstRows(images, '2' as never, 'testRows')).toThrow(/testRows: expected a positive integer, got the string "2"/);
  });

  it('counts classes as the largest label + 1', () => {
    expect(classCount(Uint8Array.from([0, 3, 1]), Uint8Array.from([5]))).toBe(6);
    expect(classCount(new Uint8Array(0))).toBe(0);
  });
});

describe('stratifiedSplit', () => {
  /** Per-class counts of the rows in `idx`. */
  function counts(labels: ArrayLike<number>, idx: Int32Array, classes: number): number[] {
    const c = new Array(classes).fill(0);
    for (const i of idx) c[labels[i]]++;
    return c;
  }

  it('keeps each class\'s share, rounding by largest remainder so the sizes are exact', () => {
    // classes of 5, 3, 2 rows; 3 test rows: exact shares 1.5, 0.9, 0.6 -> floors 1, 0, 0, the two leftover rows go to the largest remainders (0.9, 0.6)
    const labels = [0, 0, 0, 0, 0, 1, 1, 1, 2, 2];
    const { train, test } = stratifiedSplit(labels, 3, 7);
    expect(counts(labels, test, 3)).toEqual([1, 1, 1]);
    expect(counts(labels, train, 3)).toEqual([4, 2, 1]);
  });

  it('breaks equal remainders toward the smaller label', () => {
    // three classes of 2, one test row: each share is 2/3, so class 0 gets it
    const labels = [2, 1, 0, 2, 1, 0];
    expect(counts(labels, stratifiedSplit(labels, 1, 3).test, 3)).toEqual([1, 0, 0]);
  });

  it('partitions the rows, interleaves classes, and depends only on its seed', () => {
    const labels = Array.from({ length: 1000 }, (_, i) => (i * i) % 10);
    const a = stratifiedSplit(labels, 200, 42);
    expect(a.train.length).toBe(800);
    expect(a.test.length).toBe(200);
    const all = [...a.train, ...a.test].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    const perClass = counts(labels, new Int32Array(all), 10);
    const testCounts = counts(labels, a.test, 10);
    testCounts.forEach((c, k) => expect(Math.abs(c - perClass[k] / 5)).toBeLessThan(1));
    // shuffled: the first 50 training rows are not one class
    expect(new Set(Array.from(a.train.subarray(0, 50), (i) => labels[i])).size).toBeGreaterThan(3);
    const b = stratifiedSplit(labels, 200, 42);
    expect([...b.train]).toEqual([...a.train]);
    expect([...b.test]).toEqual([...a.test]);
    expect([...stratifiedSplit(labels, 200, 43).test]).not.toEqual([...a.test]);
  });

  it('rejects a bad test size or labels', () => {
    expect(() => stratifiedSplit([0, 1], 3, 1)).toThrow(/testCount must be an integer in \[0, 2\], got 3/);
    expect(() => stratifiedSplit([0, 1.5], 1, 1)).toThrow(/labels\[1\] is 1.5/);
  });
});

describe('toDataSet', () => {
  it('builds the four tensors with int labels by default', () => {
    const train = synthetic(6, 2, 3, 3, 3), test = synthetic(4, 2, 3, 3, 4);
    const ds = toDataSet(rt, train, test);
    expect(ds.xTrain.shape).toEqual([6, 6]);
    expect(ds.xTest.shape).toEqual([4, 6]);
    expect(ds.tTrain).toBeInstanceOf(IntTensor);
    expect([...ds.tTrain.data]).toEqual([...train.labels]);
    expect([...ds.tTest.data]).toEqual([...test.labels]);
    for (const t of Object.values(ds)) t.dispose();
  });

  it('makes one-hot rows numClasses wide (default: largest label + 1)', () => {
    const train = synthetic(6, 2, 2, 3, 3), test = synthetic(2, 2, 2, 3, 4);
    const ds = toDataSet(rt, train, test, { oneHotLabel: true, flatten: false });
    expect(ds.tTrain.shape).toEqual([6, classCount(train.labels, test.labels)]);
    expect(ds.xTrain.shape).toEqual([6, 1, 2, 2]);
    for (const t of Object.values(ds)) t.dispose();
    const wide = toDataSet(rt, train, test, { oneHotLabel: true, numClasses: 10 });
    expect(wide.tTest.shape).toEqual([2, 10]);
    for (const t of Object.values(wide)) t.dispose();
  });

  it('frees what it made when it fails', () => {
    const before = rt.memoryStats().blocks;
    const train = synthetic(3, 2, 2, 3, 3);
    expect(() => toDataSet(rt, train, synthetic(2, 2, 2, 3, 4), { oneHotLabel: true, numClasses: 2 })).toThrow(/expected an integer in \[0, 2\)/);
    expect(() => toDataSet(rt, train, synthetic(2, 3, 2, 3, 4))).toThrow(/train images are 2 x 2, test images 3 x 2/);
    expect(() => toDataSet(rt, train, train, { oneHotLabel: 1 } as never)).toThrow(/^toDataSet: oneHotLabel must be true or false, got number 1$/);
    expect(rt.memoryStats().blocks).toBe(before);
  });
});
