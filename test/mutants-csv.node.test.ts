// CSV files and the command line on tables where a mutant got past test/csv.node.test.ts (session 67's mutation
// run): loadCsvFile's checks before it reads (the runtime, the path, the options), a FIFO and a file too long for
// a string refused by their stat, gzip known by both its magic bytes; train reading a table's first row as its
// header and sniffing its delimiter, --train-rows and --test-rows on a table's split; predict's --test-rows on a
// table, its checks of a model's csv metadata, and info's short form of long column lists.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { constants as bufferConstants } from 'node:buffer';
import { runCli, within } from './helpers/cli.js';
import { createRuntime } from '../src/node/runtime.js';
import { readModelInfo, writeModelFile } from '../src/node/model-file.js';
import { fitStandardizer, loadCsv, loadCsvFile } from '../src/node/csv/index.js';
import { Dataset, MultiLayerNet, stratifiedSplit } from '../src/index.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { PredictReport, TrainReport } from '../src/node/cli/index.js';

let tmp: string;
let rt: Runtime;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-mutants-csv-'));
  rt = await createRuntime({ threads: 1 });
});
afterAll(async () => {
  await rt.dispose();
  await rm(tmp, { recursive: true, force: true });
});

/** A table of 30 rows, 3 classes (a, b, c in turn), 2 features; `delimiter` between its fields. */
function smallTable(names: [string, string, string] = ['f1', 'f2', 'species'], delimiter = ','): string {
  const rows = Array.from({ length: 30 }, (_, i) => [(i % 7) / 4 + (i % 3), (i % 5) * 0.3 - (i % 3), 'abc'[i % 3]].join(delimiter));
  return `${names.join(delimiter)}\n${rows.join('\n')}\n`;
}

describe('loadCsvFile: its checks before it reads, and gzip known by its magic bytes', () => {
  const missing = () => path.join(tmp, 'no-such.csv');

  it('the runtime, the path and every option: refused naming them, not the missing file', async () => {
    await expect(loadCsvFile({} as never, missing(), { label: 'a' })).rejects.toThrow(/^loadCsvFile: rt must be a Runtime/);
    await expect(loadCsvFile(rt, '', { label: 'a' })).rejects.toThrow(/^loadCsvFile: file must be a path, got the string ""$/);
    await expect(loadCsvFile(rt, missing(), { label: 'a', delimiter: ';;' })).rejects.toThrow(/^loadCsvFile: delimiter must be one character/);
    await expect(loadCsvFile(rt, missing(), { label: 'a', header: 'yes' as never })).rejects.toThrow(/^loadCsvFile: header must be true, false or 'auto', got the string "yes"$/);
  });

  it('a FIFO: refused by its stat, not opened (a read would wait for a writer)', async () => {
    const fifo = path.join(tmp, 'table.fifo');
    execFileSync('mkfifo', [fifo]);
    try {
      await expect(within('loadCsvFile on a FIFO', loadCsvFile(rt, fifo, { label: 'a' }), 5000)).rejects.toThrow(
        `loadCsvFile: cannot read ${fifo}: it is not a regular file (a pipe or device: save the table to a file first)`);
    } finally {
      // a reader left waiting (the refusal missed) gets its end of file; with none, the open fails (ENXIO)
      await open(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK).then((h) => h.close(), () => {});
    }
  });

  it('a file of more bytes than the longest string: refused by its size (a sparse file: nothing is read)', async () => {
    const big = path.join(tmp, 'big.csv');
    const limit = bufferConstants.MAX_STRING_LENGTH;
    await writeFile(big, '');
    await truncate(big, limit + 1);
    await expect(loadCsvFile(rt, big, { label: 'a' })).rejects.toThrow(
      `loadCsvFile: cannot read ${big}: it is ${limit + 1} bytes, more than the ${limit} of the longest text this host holds (the table is parsed whole)`);
    await rm(big);
  });

  it("gzip is known by both its magic bytes: a text starting with 0x1f alone is read as text", async () => {
    const file = path.join(tmp, 'unit-separator.csv');
    await writeFile(file, '\x1f,s\n1,a\n2,b\n');
    const set = await loadCsvFile(rt, file, { label: 's' });
    expect(set.featureNames).toEqual(['\x1f']);
    expect(Array.from(set.x.toArray())).toEqual([1, 2]);
    set.x.dispose();
    set.t.dispose();
  });
});

describe('simdnn train on a table: its header, its delimiter, its row counts', () => {
  const TRAIN = ['--label', 'species', '--hidden', '4', '--epochs', '1', '--seed', '2', '--threads', '1', '--quiet'];

  it('the first row is the header even when its feature names are numbers; the delimiter is sniffed (;)', async () => {
    const file = path.join(tmp, 'numbered.csv');
    await writeFile(file, smallTable(['0', '1', 'species'], ';'));
    const model = path.join(tmp, 'numbered.safetensors');
    const r = await runCli(['train', '--data', file, ...TRAIN, '--save', model]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(readModelInfo(model).metadata.csv)).toMatchObject({ label: 'species', features: ['0', '1'], classes: ['a', 'b', 'c'] });
  });

  it('--train-rows and --test-rows take the first rows of each side of the split, and the standardizer is fitted on those training rows', async () => {
    const file = path.join(tmp, 'rows.csv');
    const text = smallTable();
    await writeFile(file, text);
    const model = path.join(tmp, 'rows.safetensors');
    const r = await runCli(['train', '--data', file, ...TRAIN, '--train-rows', '20', '--test-rows', '4', '--save', model, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as TrainReport;
    expect([report.trainRows, report.testRows]).toEqual([20, 4]);
    // the reference: 6 of the 30 rows held out (0.2), the first 20 of the other 24 fitted
    const all = loadCsv(rt, text, { label: 'species' });
    const whole = new Dataset(all.x, all.t);
    const train = whole.select(stratifiedSplit(all.t.toArray(), 6, 2).train.subarray(0, 20));
    const stats = fitStandardizer(train.x);
    const csv = JSON.parse(readModelInfo(model).metadata.csv) as { mean: number[]; scale: number[] };
    expect(csv.mean).toEqual(Array.from(stats.mean));
    expect(csv.scale).toEqual(Array.from(stats.scale));
    train.dispose();
    whole.dispose();
    all.x.dispose();
    all.t.dispose();
  });

  it('--test-rows past the split\'s test rows: a usage error naming them', async () => {
    const file = path.join(tmp, 'rows.csv');
    await writeFile(file, smallTable());
    const r = await runCli(['train', '--data', file, ...TRAIN, '--test-rows', '7']);
    expect(r.stderr).toMatch(/^simdnn: --test-rows: 7 is more than the 6 test rows of '.*rows\.csv'/);
    expect(r.code).toBe(2);
  });
});

describe('simdnn predict and info on a model of a table', () => {
  /** A model file of an MLP 2-3-`outputs` whose csv metadata is `csv` (defaults: features f1, f2, classes a, b, c, no scaling). */
  async function modelWith(name: string, csv: Record<string, unknown> = {}, outputs = 3, inputs = 2): Promise<string> {
    const file = path.join(tmp, `${name}.safetensors`);
    const net = new MultiLayerNet(rt, { inputSize: inputs, hiddenSizeList: [3], outputSize: outputs });
    const info = { label: 'species', features: ['f1', 'f2'], classes: ['a', 'b', 'c'], mean: [0, 0], scale: [1, 1], ...csv };
    await writeModelFile(file, net, { metadata: { csv: JSON.stringify(info) } });
    net.dispose();
    return file;
  }
  let table: string;
  beforeAll(async () => {
    table = path.join(tmp, 'predict.csv');
    await writeFile(table, smallTable());
  });

  it('--test-rows n scores the first n rows (as a table of those rows); more than the table holds is a usage error', async () => {
    const model = await modelWith('plain');
    const r = await runCli(['predict', model, '--data', table, '--test-rows', '10', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as PredictReport;
    expect(p.rows).toBe(10);
    const first = path.join(tmp, 'first10.csv');
    await writeFile(first, smallTable().split('\n').slice(0, 11).join('\n'));
    const whole = JSON.parse((await runCli(['predict', model, '--data', first, '--json'])).stdout) as PredictReport;
    expect(p.confusion).toEqual(whole.confusion);
    const over = await runCli(['predict', model, '--data', table, '--test-rows', '31']);
    expect(over.stderr).toMatch(/^simdnn: --test-rows: 31 is more than the 30 test rows of '.*predict\.csv'/);
    expect(over.code).toBe(2);
  });

  it.each<[string, Record<string, unknown>, number, RegExp]>([
    ['a feature named twice', { features: ['f1', 'f1'] }, 3, /metadata 'csv' \.features names a column or class twice\n$/],
    ['a scale of 0', { scale: [1, 0] }, 3, /metadata 'csv' \.scale must be 2 positive finite numbers, one per feature\n$/],
    ['fewer classes than the net has outputs', { classes: ['a', 'b', 'c'] }, 4, /metadata 'csv' names 3 classes, but the net has 4 outputs\n$/],
  ])('a model whose csv metadata was edited: %s, refused naming the key (exit 1)', async (name, csv, outputs, message) => {
    const model = await modelWith(name.replace(/\W+/g, '-'), csv, outputs);
    const r = await runCli(['predict', model, '--data', table]);
    expect(r.stderr).toMatch(/^simdnn: error: /);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(1);
  });

  it('info: lists of more than 8 names show the first 8 and how many more', async () => {
    const names = (prefix: string) => Array.from({ length: 10 }, (_, i) => `${prefix}${i}`);
    const model = await modelWith('wide', { features: names('f'), classes: names('c'), mean: new Array(10).fill(0), scale: new Array(10).fill(1) }, 10, 10);
    const r = await runCli(['info', model]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^csv {11}label 'species', 10 classes \(c0, c1, c2, c3, c4, c5, c6, c7, … \(2 more\)\); 10 features, standardized \(f0, f1, f2, f3, f4, f5, f6, f7, … \(2 more\)\)$/m);
  });
});
