// CSV files: loadCsvFile (gzipped or not, its errors naming the file), and the command line on a table:
// `simdnn train --data file.csv --label species` splits, standardizes and records the table's columns, classes
// and scaling in the model, `simdnn predict` applies them to another table whose columns come in another order
// (the same accuracy as train's test figure on the same rows), `simdnn info` shows them, and `simdnn lr-find`
// tries its rates on train's training rows.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, mkdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { runCli } from './helpers/cli.js';
import { rng } from './helpers/runtime.js';
import { createRuntime } from '../src/node/runtime.js';
import { readModelInfo, writeModelFile } from '../src/node/model-file.js';
import { CsvError, fitStandardizer, loadCsv, loadCsvFile, standardize } from '../src/node/csv/index.js';
import { MultiLayerNet, stratifiedSplit, Dataset, lrFinder, type LRFinderResult } from '../src/index.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { PredictReport, TrainReport } from '../src/node/cli/index.js';

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

  it('search, which reads no tables, names the file as no data set it takes', async () => {
    const r = await runCli(['search', '--data', file]);
    expect(r.stderr).toMatch(/^simdnn: --data: '.*small\.csv' is neither 'mnist' nor a directory \(a CSV file is read by simdnn train, lr-find and predict\)/);
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
