// CSV files: loadCsvFile and loadCsvFeaturesFile (gzipped or not, their errors naming the file), and the command line
// on a table: `simdnn train --data file.csv --label species` splits, standardizes and records the table's columns,
// classes and scaling in the model, `simdnn predict` applies them to another table whose columns come in another
// order (the same accuracy as train's test figure on the same rows) or predicts a table without labels (each row's
// class and probabilities, the library's to the bit, as CSV on stdout or in --out), `simdnn info` shows them, and
// `simdnn lr-find` tries its rates on train's training rows.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { link, mkdtemp, mkdir, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { runCli } from './helpers/cli.js';
import { rng } from './helpers/runtime.js';
import { createRuntime } from '../src/node/runtime.js';
import { readModelFile, readModelInfo, writeModelFile } from '../src/node/model-file.js';
import { loadMnist } from '../src/node/data.js';
import { CsvError, fitStandardizer, loadCsv, loadCsvFeatures, loadCsvFeaturesFile, loadCsvFile, parseCsv, standardize } from '../src/node/csv/index.js';
import { float32Text } from '../src/data/csv/number.js';
import { MultiLayerNet, stratifiedSplit, Dataset, lrFinder, softmax, type LRFinderResult } from '../src/index.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { PredictionsReport, PredictReport, TrainReport } from '../src/node/cli/index.js';

let tmp: string;
let rt: Runtime;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-csv-'));
  rt = await createRuntime({ threads: 1 });
});
afterAll(async () => {
  await rt.dispose();
  await rm(tmp, { recursive: true, force: true });
});

const COLUMNS = ['f1', 'f2', 'species', 'f3', 'f4'];
/** Class names whose sorted order (alpha, beta, gamma) is not the order they first appear in. */
const SPECIES = ['gamma', 'alpha', 'beta'];

/**
 * A seeded table of 3 classes, 80 rows each, in 4 features of very different scales (f3 in thousands,
 * f4 around 500): the classes' centres apart, their spreads overlapping, so a net separates most rows, not all.
 */
function syntheticRows(seed: number): string[][] {
  const next = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const rows: string[][] = [];
  for (let i = 0; i < 240; i++) {
    const c = i % 3;
    const f1 = c * 1.2 + normal(), f2 = -c * 0.8 + normal(), f3 = 1000 * (c + 1.5 * normal()), f4 = 500 + 0.02 * (c === 1 ? 1 : 0) + 0.05 * normal();
    rows.push([f1.toFixed(4), f2.toFixed(4), SPECIES[c], f3.toFixed(1), f4.toFixed(5)]);
  }
  return rows;
}

/** The rows as CSV with the columns in `order` (names from COLUMNS). */
function csvText(rows: string[][], order: string[] = COLUMNS): string {
  const at = order.map((name) => COLUMNS.indexOf(name));
  return `${order.join(',')}\r\n${rows.map((r) => at.map((j) => r[j]).join(',')).join('\r\n')}\r\n`;
}

describe('loadCsvFile', () => {
  it('reads a file, and the same file gzipped (by its bytes, whatever its name)', async () => {
    const text = 'a,b,label\n1,2,x\n3,4,y\n';
    await writeFile(path.join(tmp, 'plain.csv'), text);
    await writeFile(path.join(tmp, 'packed.csv'), gzipSync(Buffer.from(text)));
    for (const name of ['plain.csv', 'packed.csv']) {
      const set = await loadCsvFile(rt, path.join(tmp, name), { label: 'label' });
      expect(Array.from(set.x.toArray()), name).toEqual([1, 2, 3, 4]);
      expect(Array.from(set.t.toArray()), name).toEqual([0, 1]);
      expect(set.classNames).toEqual(['x', 'y']);
      set.x.dispose();
      set.t.dispose();
    }
  });

  it('its errors name the file: a bad cell, a directory, no file, a corrupt gzip stream; options are checked before the file is read', async () => {
    const bad = path.join(tmp, 'bad.csv');
    await writeFile(bad, 'a,b,label\n1,2,x\n3,,y\n');
    const before = rt.memoryStats().used;
    await expect(loadCsvFile(rt, bad, { label: 'label' })).rejects.toThrow(new CsvError(`loadCsvFile: ${bad}: row 2 (line 3), column 'b': "" is not a number (an empty cell: missing values are yours to fill, e.g. with the column's mean, or to drop, before loading)`, 3));
    expect(rt.memoryStats().used).toBe(before);
    await expect(loadCsvFile(rt, tmp, { label: 'label' })).rejects.toThrow(`loadCsvFile: cannot read ${tmp}: it is a directory, not a file`);
    await expect(loadCsvFile(rt, path.join(tmp, 'none.csv'), { label: 'label' })).rejects.toThrow(/^loadCsvFile: cannot read .*none\.csv: ENOENT/);
    const corrupt = path.join(tmp, 'corrupt.csv.gz');
    await writeFile(corrupt, gzipSync(Buffer.from('a,b\n1,2\n')).subarray(0, 15));
    await expect(loadCsvFile(rt, corrupt, { label: 'b' })).rejects.toThrow(/^loadCsvFile: .*corrupt\.csv\.gz: a corrupt gzip stream/);
    await expect(loadCsvFile(rt, path.join(tmp, 'none.csv'), {} as never)).rejects.toThrow(/^loadCsvFile: options\.label is required/);
  });
  it('loadCsvFeaturesFile: the rows of a file, gzipped or not, as features; its errors name it and the file', async () => {
    const text = 'b,a\n1,2\n3,4.5\n';
    await writeFile(path.join(tmp, 'rows.csv'), text);
    await writeFile(path.join(tmp, 'rows.csv.gz'), gzipSync(Buffer.from(text)));
    for (const name of ['rows.csv', 'rows.csv.gz']) {
      const set = await loadCsvFeaturesFile(rt, path.join(tmp, name), { features: ['a', 'b'] });
      expect([Array.from(set.x.toArray()), set.featureNames], name).toEqual([[2, 1, 4.5, 3], ['a', 'b']]);
      set.x.dispose();
    }
    const all = await loadCsvFeaturesFile(rt, path.join(tmp, 'rows.csv'));
    expect(all.featureNames).toEqual(['b', 'a']);
    all.x.dispose();
    const bad = path.join(tmp, 'rows-bad.csv');
    await writeFile(bad, 'a\n1\nx\n');
    const before = rt.memoryStats().used;
    await expect(loadCsvFeaturesFile(rt, bad)).rejects.toThrow(new CsvError(`loadCsvFeaturesFile: ${bad}: row 2 (line 3), column 'a': "x" is not a number`, 3));
    expect(rt.memoryStats().used).toBe(before);
    await expect(loadCsvFeaturesFile(rt, tmp)).rejects.toThrow(`loadCsvFeaturesFile: cannot read ${tmp}: it is a directory, not a file`);
    await expect(loadCsvFeaturesFile(rt, path.join(tmp, 'none.csv'), { label: 'a' } as never)).rejects.toThrow(/^loadCsvFeaturesFile: unknown option 'label'/);
  });
});

describe('simdnn train and predict on a CSV table', () => {
  let rows: string[][];
  let trainFile: string, model: string;
  let report: TrainReport;
  beforeAll(async () => {
    rows = syntheticRows(5);
    trainFile = path.join(tmp, 'flowers.csv');
    model = path.join(tmp, 'flowers.safetensors');
    await writeFile(trainFile, csvText(rows));
    const r = await runCli(['train', '--data', trainFile, '--label', 'species', '--test-split', '0.25', '--hidden', '16', '--epochs', '20', '--seed', '3',
      '--threads', '1', '--save', model, '--json', '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    report = JSON.parse(r.stdout) as TrainReport;
  });

  /** The rows train held out for testing: stratifiedSplit of the class indices (sorted names), seeded by --seed. */
  function testRows(): string[][] {
    const labels = Int32Array.from(rows, (r) => ['alpha', 'beta', 'gamma'].indexOf(r[2]));
    return Array.from(stratifiedSplit(labels, 60, 3).test, (i) => rows[i]);
  }

  it('an MLP of the feature count and the class count, trained on the split rows (a quarter held out, stratified)', () => {
    expect(report.netOptions).toMatchObject({ inputSize: 4, outputSize: 3, hiddenSizeList: [16] });
    expect([report.trainRows, report.testRows]).toEqual([180, 60]);
    // learned, though the classes overlap
    expect(report.testAcc).toBeGreaterThan(0.7);
  });

  it("the model records the columns, the classes and the standardizer fitted on the training rows only", async () => {
    const info = readModelInfo(model);
    const csv = JSON.parse(info.metadata.csv) as { label: string; features: string[]; classes: string[]; mean: number[]; scale: number[] };
    expect(csv).toMatchObject({ label: 'species', features: ['f1', 'f2', 'f3', 'f4'], classes: ['alpha', 'beta', 'gamma'] });
    // the reference: the training rows (those the test split left) through loadCsv and fitStandardizer
    const all = loadCsv(rt, csvText(rows), { label: 'species' });
    const labels = all.t.toArray();
    const whole = new Dataset(all.x, all.t);
    const train = whole.select(stratifiedSplit(labels, 60, 3).train);
    const stats = fitStandardizer(train.x);
    expect(csv.mean).toEqual(Array.from(stats.mean));
    expect(csv.scale).toEqual(Array.from(stats.scale));
    train.dispose();
    whole.dispose();
    all.x.dispose();
    all.t.dispose();
  });

  it("predict on the held-out rows with the columns in another order: train's test accuracy, the classes by name", async () => {
    const held = testRows();
    const reordered = path.join(tmp, 'held-reordered.csv');
    await writeFile(reordered, csvText(held, ['f4', 'species', 'f2', 'f1', 'f3']));
    const r = await runCli(['predict', model, '--data', reordered, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout) as PredictReport;
    expect(p.rows).toBe(60);
    expect(p.accuracy).toBe(report.testAcc);
    expect(p.classNames).toEqual(['alpha', 'beta', 'gamma']);
    // the same rows in the training table's order: the same confusion matrix
    const ordered = path.join(tmp, 'held.csv');
    await writeFile(ordered, csvText(held));
    const same = JSON.parse((await runCli(['predict', model, '--data', ordered, '--json'])).stdout) as PredictReport;
    expect(same.confusion).toEqual(p.confusion);
    // the table printed with the class names
    const text = (await runCli(['predict', model, '--data', reordered])).stdout;
    expect(text).toMatch(new RegExp(`accuracy ${report.testAcc.toFixed(4)}`));
    expect(text).toMatch(/^true\\pred +alpha +beta +gamma +accuracy$/m);
    expect(text).toMatch(/^ +gamma +\d+ +\d+ +\d+ +[\d.]+$/m);
  });

  it('predict: a label column under another name (--label); a missing feature column named; a label the model does not know', async () => {
    const renamed = path.join(tmp, 'renamed.csv');
    await writeFile(renamed, csvText(testRows()).replace('species', 'kind'));
    const r = await runCli(['predict', model, '--data', renamed, '--label', 'kind', '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as PredictReport).accuracy).toBe(report.testAcc);
    const missing = path.join(tmp, 'missing.csv');
    await writeFile(missing, csvText(testRows(), ['f1', 'f2', 'species', 'f4']));
    const m = await runCli(['predict', model, '--data', missing]);
    expect(m.code).toBe(1);
    expect(m.stderr).toBe(`simdnn: error: --data: ${missing}: the model's feature 3: no column is named "f3" (the columns: "f1", "f2", "species", "f4")\n`);
    const unknown = path.join(tmp, 'unknown.csv');
    await writeFile(unknown, `${COLUMNS.join(',')}\n1,2,delta,3,4\n`);
    const u = await runCli(['predict', model, '--data', unknown]);
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/^simdnn: error: --data: .*unknown\.csv: row 1 \(line 2\), column 'species': label "delta" is none of the model's classes \("alpha", "beta", "gamma"\)\n$/);
  });

  it('the model exported as ONNX carries the table with it: predict scores the same rows alike', async () => {
    const onnx = path.join(tmp, 'flowers.onnx');
    expect((await runCli(['export', model, onnx])).code).toBe(0);
    const reordered = path.join(tmp, 'held-reordered-onnx.csv');
    await writeFile(reordered, csvText(testRows(), ['f3', 'f1', 'species', 'f4', 'f2']));
    const r = await runCli(['predict', onnx, '--data', reordered, '--json']);
    expect(r.stderr).toBe('');
    expect((JSON.parse(r.stdout) as PredictReport).accuracy).toBe(report.testAcc);
  });

  it('predict without a CSV --data: refused, saying which table the model takes', async () => {
    const r = await runCli(['predict', model]);
    expect(r.stderr).toMatch(/^simdnn: error: predict FILE: '.*flowers\.safetensors' was trained on a CSV table \(label 'species', 3 classes \(alpha, beta, gamma\); 4 features, standardized \(f1, f2, f3, f4\)\): give --data a CSV file with those columns\n$/);
    expect(r.code).toBe(1);
  });

  /**
   * What predict must give for the rows of `text`: the library's own path, loadCsvFeatures of the model's columns,
   * standardized by its statistics, net.predict, the first maximum of each row and the kernel's softmax.
   */
  function reference(text: string): { predicted: string[]; probabilities: Float32Array } {
    const info = JSON.parse(readModelInfo(model).metadata.csv) as { features: string[]; classes: string[]; mean: number[]; scale: number[] };
    const { net } = readModelFile(rt, model);
    const { x } = loadCsvFeatures(rt, text, { features: info.features });
    standardize(x, info);
    const y = net.predict(x);
    const p = softmax(y);
    const v = y.toArray(), C = info.classes.length;
    const predicted = Array.from({ length: x.shape[0] }, (_, r) => {
      let best = 0;
      for (let j = 1; j < C; j++) if (v[r * C + j] > v[r * C + best]) best = j;
      return info.classes[best];
    });
    const probabilities = p.toArray();
    for (const t of [x, y, p]) t.dispose();
    net.dispose();
    return { predicted, probabilities };
  }

  /** A predictions CSV read back: its columns, each row's cells, and the probability columns as the float32s loadCsvFeatures reads. */
  function readPredictions(text: string, classes: string[]) {
    const table = parseCsv(text, { header: true });
    const { x } = loadCsvFeatures(rt, text, { features: classes, header: true });
    const probabilities = x.toArray();
    x.dispose();
    return { columns: table.columns, rows: table.rows, probabilities };
  }

  it("a table without the label column is predicted: one CSV row per input row on stdout, the classes of net.predict's first maximum and the library's softmax to the bit; the counts on stderr", async () => {
    const held = testRows();
    const text = csvText(held, ['f3', 'f1', 'f4', 'f2']);
    const file = path.join(tmp, 'unlabelled.csv');
    await writeFile(file, text);
    const r = await runCli(['predict', model, '--data', file]);
    expect(r.code).toBe(0);
    const want = reference(text);
    const got = readPredictions(r.stdout, ['alpha', 'beta', 'gamma']);
    expect(got.columns).toEqual(['row', 'predicted', 'alpha', 'beta', 'gamma']);
    expect(got.rows.map((row) => row[0])).toEqual(held.map((_, i) => String(i + 1)));
    expect(got.rows.map((row) => row[1])).toEqual(want.predicted);
    expect(got.probabilities).toEqual(want.probabilities);
    // the same rows labelled: predicted alike (the confusion matrix's columns are the counts)
    const labelled = path.join(tmp, 'held-labelled.csv');
    await writeFile(labelled, csvText(held));
    const scored = JSON.parse((await runCli(['predict', model, '--data', labelled, '--json'])).stdout) as PredictReport;
    const counts = [0, 1, 2].map((c) => scored.confusion.reduce((n, row) => n + row[c], 0));
    expect(['alpha', 'beta', 'gamma'].map((c) => want.predicted.filter((p) => p === c).length)).toEqual(counts);
    expect(r.stderr).toMatch(/^mlp 4-16-3 relu init he on /);
    expect(r.stderr.replace(/^.*? on /, '')).toBe(`${file}: 60 rows predicted (the table has no 'species' column to score them by)\n` +
      `  alpha  ${counts[0]}\n  beta   ${counts[1]}\n  gamma  ${counts[2]}\n`);
  });

  it('--out writes the same CSV (atomically: no file left beside it), the counts on stdout; --json: the counts and every row\'s prediction', async () => {
    const text = csvText(testRows(), ['f1', 'f2', 'f3', 'f4']);
    const file = path.join(tmp, 'unlabelled-out.csv');
    await writeFile(file, text);
    const plain = await runCli(['predict', model, '--data', file]);
    await mkdir(path.join(tmp, 'out'), { recursive: true });
    const out = path.join(tmp, 'out', 'predictions.csv');
    await writeFile(out, 'an older file');
    const r = await runCli(['predict', model, '--data', file, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(await readFile(out, 'utf8')).toBe(plain.stdout);
    expect(await readdir(path.join(tmp, 'out'))).toEqual(['predictions.csv']);
    expect(r.stdout).toBe(`${plain.stderr}wrote ${out}\n`);
    const j = await runCli(['predict', model, '--data', file, '--json']);
    expect(j.stderr).toBe('');
    const json = JSON.parse(j.stdout) as PredictionsReport;
    const want = reference(text);
    expect(json).toMatchObject({ model, data: file, rows: 60, classNames: ['alpha', 'beta', 'gamma'], invalid: 0 });
    expect(json.counts).toEqual(['alpha', 'beta', 'gamma'].map((c) => want.predicted.filter((p) => p === c).length));
    expect(json.predictions.map((p) => p.row)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(json.predictions.map((p) => p.predicted)).toEqual(want.predicted);
    expect(Float32Array.from(json.predictions.flatMap((p) => p.probabilities))).toEqual(want.probabilities);
    expect(json.out).toBeUndefined();
    const both = JSON.parse((await runCli(['predict', model, '--data', file, '--json', '--out', out])).stdout) as PredictionsReport;
    expect(both).toEqual({ ...json, out });
  });

  it('a labelled table with --out: the usual report, and each row\'s prediction with its label beside it', async () => {
    const held = testRows();
    const file = path.join(tmp, 'held.csv');
    await writeFile(file, csvText(held));
    const out = path.join(tmp, 'held-predictions.csv');
    const plain = await runCli(['predict', model, '--data', file]);
    const r = await runCli(['predict', model, '--data', file, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${plain.stdout}\nwrote the predictions of each row to ${out}\n`);
    const written = await readFile(out, 'utf8');
    const got = readPredictions(written, ['alpha', 'beta', 'gamma']);
    expect(got.columns).toEqual(['row', 'label', 'predicted', 'alpha', 'beta', 'gamma']);
    expect(got.rows.map((row) => row[1])).toEqual(held.map((row) => row[2]));
    const want = reference(csvText(held, ['f1', 'f2', 'f3', 'f4']));
    expect(got.rows.map((row) => row[2])).toEqual(want.predicted);
    expect(got.probabilities).toEqual(want.probabilities);
    expect(got.rows.filter((row) => row[1] === row[2]).length / 60).toBe(report.testAcc);
    const json = JSON.parse((await runCli(['predict', model, '--data', file, '--out', out, '--json'])).stdout) as PredictReport;
    expect(json.out).toBe(out);
    expect(json.accuracy).toBe(report.testAcc);
    expect(await readFile(out, 'utf8')).toBe(written);
  });

  it('--test-rows: the first rows only (the cells past them not read); --out refused before anything is read when it is the data, the model, not .csv or not writable', async () => {
    const held = testRows();
    const file = path.join(tmp, 'unlabelled-bad-tail.csv');
    await writeFile(file, `${csvText(held.slice(0, 5), ['f1', 'f2', 'f3', 'f4'])}1,2,x,4\r\n`);
    const r = await runCli(['predict', model, '--data', file, '--test-rows', '5']);
    expect(r.code).toBe(0);
    expect(parseCsv(r.stdout, { header: true }).rows.map((row) => row[0])).toEqual(['1', '2', '3', '4', '5']);
    const all = await runCli(['predict', model, '--data', file]);
    expect(all.stderr).toMatch(/^simdnn: error: --data: .*unlabelled-bad-tail\.csv: row 6 \(line 7\), column 'f3': "x" is not a number\n$/);
    expect(all.code).toBe(1);
    const many = await runCli(['predict', model, '--data', file, '--test-rows', '7']);
    expect(many.stderr).toMatch(/^simdnn: --test-rows: 7 is more than the 6 test rows of '.*'/);
    const before = await readFile(file, 'utf8');
    for (const [out, message] of [
      [file, /^simdnn: --out: '.*unlabelled-bad-tail\.csv' is the --data file; writing it would replace it\n/],
      [path.join(tmp, 'predictions.json'), /^simdnn: --out: '.*predictions\.json': the predictions are written as CSV; name the file \.csv\n/],
      [path.join(tmp, 'no-such-dir', 'p.csv'), /^simdnn: --out: the directory of '.*p\.csv' does not exist\n/],
    ] as const) {
      const refused = await runCli(['predict', model, '--data', file, '--out', out]);
      expect(refused.stderr).toMatch(message);
      expect(refused.code).toBe(2);
    }
    // a hard link to the table is the table
    const linked = path.join(tmp, 'linked.csv');
    await link(file, linked);
    const overLink = await runCli(['predict', model, '--data', file, '--out', linked]);
    expect(overLink.stderr).toMatch(/^simdnn: --out: '.*linked\.csv' is the --data file; writing it would replace it\n/);
    expect(overLink.code).toBe(2);
    const copy = path.join(tmp, 'model-copy.csv');
    await writeFile(copy, await readFile(model));
    const overModel = await runCli(['predict', copy, '--data', file, '--out', copy]);
    expect(overModel.stderr).toMatch(/^simdnn: --out: '.*model-copy\.csv' is the model file; writing it would replace it\n/);
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it('outputs that tie go to the first class (np.argmax); a row whose outputs hold NaN gets no class and is counted apart', async () => {
    const csv = JSON.stringify({ label: 'y', features: ['a', 'b'], classes: ['p', 'q', 'r'], mean: [0, 0], scale: [1, 1] });
    const data = path.join(tmp, 'ties.csv');
    await writeFile(data, 'b,a\n1,2\n-3,4\n');
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [3], outputSize: 3 });
    net.params.W2.data.fill(0);
    net.params.b2.data.fill(0.5);
    const tied = path.join(tmp, 'ties.safetensors');
    await writeModelFile(tied, net, { metadata: { csv } });
    const r = await runCli(['predict', tied, '--data', data]);
    expect(r.code).toBe(0);
    const third = float32Text(Math.fround(1 / 3));
    expect(r.stdout).toBe(`row,predicted,p,q,r\n1,p,${third},${third},${third}\n2,p,${third},${third},${third}\n`);
    net.params.b2.data[1] = NaN;
    const broken = path.join(tmp, 'nan.safetensors');
    await writeModelFile(broken, net, { metadata: { csv } });
    net.dispose();
    const n = await runCli(['predict', broken, '--data', data]);
    expect(n.code).toBe(0);
    expect(n.stdout).toBe('row,predicted,p,q,r\n1,,NaN,NaN,NaN\n2,,NaN,NaN,NaN\n');
    expect(n.stderr).toMatch(/: 2 rows predicted \(the table has no 'y' column to score them by\)\n {2}p {2}0\n {2}q {2}0\n {2}r {2}0\n {2}\(2 rows with NaN outputs: no class\)\n$/);
    const json = JSON.parse((await runCli(['predict', broken, '--data', data, '--json'])).stdout) as PredictionsReport;
    expect(json).toMatchObject({ counts: [0, 0, 0], invalid: 2 });
    expect(json.predictions[0]).toEqual({ row: 1, predicted: null, probabilities: [null, null, null] });
  });

  it('an ONNX model trained on a table predicts its rows alike: the same CSV, to the bit', async () => {
    const onnx = path.join(tmp, 'flowers-predict.onnx');
    expect((await runCli(['export', model, onnx])).code).toBe(0);
    const file = path.join(tmp, 'unlabelled-onnx.csv');
    await writeFile(file, csvText(testRows(), ['f2', 'f4', 'f1', 'f3']));
    const own = await runCli(['predict', model, '--data', file]);
    const r = await runCli(['predict', onnx, '--data', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(own.stdout);
    expect(r.stderr).toMatch(/^ONNX \(simdnn .*\) mlp 4-16-3 .* 60 rows predicted/);
  });

  it("lr-find tries the rates on train's training rows, standardized as train standardizes them: the library's lrFinder, bit for bit", async () => {
    const r = await runCli(['lr-find', '--data', trainFile, '--label', 'species', '--test-split', '0.25', '--hidden', '16', '--steps', '12', '--seed', '3',
      '--threads', '1', '--json', '--quiet']);
    expect(r.stderr).toBe('');
    const got = JSON.parse(r.stdout) as LRFinderResult;
    const own = await createRuntime({ seed: 3, threads: 1 });
    const all = loadCsv(own, csvText(rows), { label: 'species' });
    const whole = new Dataset(all.x, all.t);
    const train = whole.select(stratifiedSplit(all.t.toArray(), 60, 3).train);
    standardize(train.x, fitStandardizer(train.x));
    const net = new MultiLayerNet(own, { inputSize: 4, hiddenSizeList: [16], outputSize: 3, weightInitStd: 'he' });
    const want = lrFinder(net, train.x, train.t, { optimizer: 'sgd', optimizerParams: { lr: 0.01 }, steps: 12, batchSize: 16 });
    await own.dispose();
    expect(got.losses).toEqual(want.losses);
    expect(got.lrs).toEqual(want.lrs);
  });

  it('info shows the CSV metadata in a line', async () => {
    const r = await runCli(['info', model]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^csv {11}label 'species', 3 classes \(alpha, beta, gamma\); 4 features, standardized \(f1, f2, f3, f4\)$/m);
    expect(r.stdout).not.toMatch(/^ {2}csv: /m);
  });

  it('a checkpoint resumes on the same table, and refuses a table that changed', async () => {
    const file = path.join(tmp, 'resume.csv');
    await writeFile(file, csvText(rows));
    const checkpoint = path.join(tmp, 'resume.checkpoint.safetensors');
    const args = ['--data', file, '--label', 'species', '--hidden', '8', '--epochs', '2', '--threads', '1', '--quiet'];
    expect((await runCli(['train', ...args, '--checkpoint', checkpoint, '--checkpoint-every', '1'])).code).toBe(0);
    expect(JSON.parse(readModelInfo(checkpoint).metadata.csv)).toMatchObject({ features: ['f1', 'f2', 'f3', 'f4'] });
    const again = await runCli(['train', '--resume', checkpoint, '--quiet']);
    expect(again.stderr).toMatch(/already finished/);
    expect(again.code).toBe(0);
    await writeFile(file, csvText(rows).replace(rows[0][0], '99'));
    const changed = await runCli(['train', '--resume', checkpoint, '--quiet']);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/^simdnn: error: --resume: '.*' was trained on another table: '.*resume\.csv' gives other columns, classes or scaling\n$/);
  });
});

describe('simdnn predict --out on the digits', () => {
  it("each test image's prediction with its label, the classes named 0 to 9, the probabilities the library's softmax; the report as without --out", async () => {
    const file = path.join(tmp, 'digits.safetensors');
    const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [12], outputSize: 10 });
    await writeModelFile(file, net);
    const out = path.join(tmp, 'digits.csv');
    const plain = await runCli(['predict', file, '--test-rows', '7']);
    const r = await runCli(['predict', file, '--test-rows', '7', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${plain.stdout}\nwrote the predictions of each row to ${out}\n`);
    const names = Array.from({ length: 10 }, (_, c) => String(c));
    const text = await readFile(out, 'utf8');
    const table = parseCsv(text, { header: true });
    expect(table.columns).toEqual(['row', 'label', 'predicted', ...names]);
    const set = await loadMnist(rt, { flatten: true, testRows: 7 });
    const y = net.predict(set.xTest), p = softmax(y);
    const v = y.toArray();
    expect(table.rows.map((row) => row[0])).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    expect(table.rows.map((row) => row[1])).toEqual(Array.from(set.tTest.toArray(), String));
    expect(table.rows.map((row) => row[2])).toEqual(Array.from({ length: 7 }, (_, r) => String(v.subarray(r * 10, r * 10 + 10).indexOf(Math.max(...v.subarray(r * 10, r * 10 + 10))))));
    const { x } = loadCsvFeatures(rt, text, { features: names });
    expect(x.toArray()).toEqual(p.toArray());
    for (const t of [x, y, p, set.xTrain, set.tTrain, set.xTest, set.tTest]) t.dispose();
    net.dispose();
  });
});

describe('the command line refuses, before any work', () => {
  let file: string;
  beforeAll(async () => {
    file = path.join(tmp, 'small.csv');
    await writeFile(file, csvText(syntheticRows(9).slice(0, 30)));
  });

  it.each<[string, string[], RegExp]>([
    ['a conv net', ['train', '--label', 'species', '--net', 'deep-conv'], /^simdnn: --net deep-conv needs images; a CSV gives rows of features/],
    ['no --label', ['train'], /^simdnn: --label: required with a CSV --data: the column of class labels/],
    ['--test-split out of range', ['train', '--label', 'species', '--test-split', '1'], /^simdnn: --test-split: expected a ratio in \(0, 1\), got 1/],
    ['a --test-split that leaves no test rows', ['train', '--label', 'species', '--test-split', '1e-17'], /^simdnn: --test-split: 1e-17 of the 30 rows of '.*' leaves no test rows/],
    ['a --test-split that leaves no training rows', ['train', '--label', 'species', '--test-split', '0.99'], /^simdnn: --test-split: 0\.99 of the 30 rows of '.*' leaves no training rows/],
    ['--train-rows past the split', ['train', '--label', 'species', '--train-rows', '25'], /^simdnn: --train-rows: 25 is more than the 24 training rows/],
  ])('train with a CSV: %s (exit 2)', async (_, argv, message) => {
    const r = await runCli([...argv.slice(0, 1), '--data', file, ...argv.slice(1), '--quiet']);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
  });

  it.each<[string, string[], RegExp]>([
    ['--label with the digits', ['train', '--label', 'species'], /^simdnn: --label: only a CSV --data takes it/],
    ['--test-split with the digits', ['train', '--test-split', '0.2'], /^simdnn: --test-split: only a CSV --data takes it/],
    ['--label to predict with the digits', ['predict', 'nothing.safetensors', '--label', 'species'], /^simdnn: --label: only a CSV --data takes it/],
  ])('%s (exit 2)', async (_, argv, message) => {
    const r = await runCli(argv);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
  });

  it('search with a CSV and no --label: exit 2, asking for the label column', async () => {
    const r = await runCli(['search', '--data', file]);
    expect(r.stderr).toMatch(/^simdnn: --label: required with a CSV --data/);
    expect(r.code).toBe(2);
  });

  it.each<[string, string[], RegExp]>([
    ['no --label', [], /^simdnn: --label: required with a CSV --data/],
    ['a conv net', ['--label', 'species', '--net', 'simple-conv'], /^simdnn: --net simple-conv needs images; a CSV gives rows of features/],
  ])('lr-find with a CSV: %s (exit 2)', async (_, argv, message) => {
    const r = await runCli(['lr-find', '--data', file, ...argv, '--quiet']);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
  });

  it('a label column the table lacks, a cell that is not a number: exit 1, naming them', async () => {
    const r = await runCli(['train', '--data', file, '--label', 'kind', '--quiet']);
    expect(r.stderr).toMatch(/^simdnn: error: --data: .*small\.csv: --label: no column is named "kind" \(the columns: "f1", "f2", "species", "f3", "f4"\)\n$/);
    expect(r.code).toBe(1);
    const holes = path.join(tmp, 'holes.csv');
    await writeFile(holes, (await readFile(file, 'utf8')).replace(/\r\n([^,]*),/, '\r\n,'));
    const h = await runCli(['train', '--data', holes, '--label', 'species', '--quiet']);
    expect(h.stderr).toMatch(/^simdnn: error: --data: .*holes\.csv: row 1 \(line 2\), column 'f1': "" is not a number \(an empty cell/);
    expect(h.code).toBe(1);
  });

  it('predict with a CSV and a model not trained on one: exit 1, saying so', async () => {
    const plain = path.join(tmp, 'plain.safetensors');
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 3 });
    await writeModelFile(plain, net);
    net.dispose();
    const r = await runCli(['predict', plain, '--data', file]);
    expect(r.stderr).toMatch(/^simdnn: error: predict FILE: '.*plain\.safetensors' was not trained on a CSV table \(its metadata has no 'csv'/);
    expect(r.code).toBe(1);
  });

  it('a model whose csv metadata was edited: refused naming the key', async () => {
    await mkdir(path.join(tmp, 'edited'), { recursive: true });
    const edited = path.join(tmp, 'edited', 'model.safetensors');
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 3 });
    await writeModelFile(edited, net, { metadata: { csv: JSON.stringify({ label: 'species', features: ['f1', 'f2', 'f3'], classes: ['a', 'b', 'c'], mean: [0, 0, 0], scale: [1, 1, 1] }) } });
    net.dispose();
    const r = await runCli(['predict', edited, '--data', file]);
    expect(r.stderr).toMatch(/^simdnn: error: predict FILE: '.*model\.safetensors': metadata 'csv' names 3 features, but the net takes 4 inputs\n$/);
    expect(r.code).toBe(1);
  });
});
