// The playground trains on a user's CSV table (web/, built and driven in headless Chromium as
// playground.node.test.ts drives it): the Data choice shows the table's fields and limits the nets to the MLPs
// (the conv nets disabled, saying why); a synthetic 3-class table uploaded, its label column picked, an MLP trains
// past chance and the test set's metrics show the class names, to the bit of what the library gives in Node on the
// rows `simdnn train` holds out; the saved model records the table exactly as `simdnn train` records it (the same
// split and statistics) and `simdnn predict --data` reads it; Download ONNX carries the same record; loading the
// model restores table mode without the table; a bad cell and a ragged row are refused naming where they are. And
// the two library steps the page shares with simdnn train: splitTable and the model's record (csvModelMetadata).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { classificationMetrics, Dataset, inspectModel, loadModel, MultiLayerNet, saveModel, seededRandom, stratifiedSplit } from '../../src/index.js';
import { inspectOnnx } from '../../src/io/onnx/index.js';
import {
  CSV_KEY, csvModelMetadata, describeCsvInfo, fitStandardizer, loadCsv, readCsvModelInfo, splitTable, standardize, testRowCount,
} from '../../src/data/csv/index.js';
import { createRuntime } from '../../src/node/runtime.js';
import { runCli } from '../helpers/cli.js';
import { startPlayground, type Playground, unlabelledControls, unreachedByTab } from '../helpers/playground.js';

const CLASSES = ['versicolor', 'setosa', 'virginica']; // not in sorted order: the classes are the sorted labels
const FEATURES = ['sepal', 'petal', 'width', 'noise'];

/** A seeded table of three Gaussian clusters in four features (the label column first, so a run must pick it). */
function syntheticTable(rows: number, seed: number): string {
  const next = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const lines = [['species', ...FEATURES].join(',')];
  for (let r = 0; r < rows; r++) {
    const c = r % 3;
    const centre = [c * 2, 5 - c * 1.5, 10 + (c === 1 ? 3 : 0), 0];
    lines.push([CLASSES[c], ...centre.map((m, j) => (m + gauss() * (j === 3 ? 5 : 1.6)).toFixed(3))].join(','));
  }
  return lines.join('\n') + '\n';
}

let pg: Playground;
let page: Page;
let dir = '';
const problems: string[] = [];
const files = { table: '', bad: '', ragged: '' };

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'simdnn-web-csv-'));
  files.table = path.join(dir, 'flowers.csv');
  files.bad = path.join(dir, 'bad.csv');
  files.ragged = path.join(dir, 'ragged.csv');
  await writeFile(files.table, syntheticTable(150, 7));
  await writeFile(files.bad, 'species,a,b\nx,1,2\ny,3,4\nx,5,abc\ny,7,8\n');
  await writeFile(files.ragged, 'species,a,b\nx,1,2\ny,3,4\nx,5,6\ny,7\n');
  pg = await startPlayground();
  page = await pg.browser.newPage({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page: ${e}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`); });
  await page.goto(`${pg.server.url}/index.html`);
  await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
}, 300_000);

afterAll(async () => {
  await pg?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Clicks Start and waits for the run to be listed (a form the browser finds invalid starts none); its number. */
async function start(p: Page): Promise<number> {
  const n = await p.locator('#runs li').count() + 1;
  await p.click('#start');
  await p.locator(`#runs li:nth-child(${n})`).waitFor({ timeout: 10_000 });
  return n;
}

/** Waits for run `n` to end; its state. */
async function ended(p: Page, n: number): Promise<string | null> {
  const li = p.locator(`#runs li:nth-child(${n})[data-state]`);
  await li.waitFor({ timeout: 180_000 });
  return li.getAttribute('data-state');
}

/** The bytes of the file a click on `button` downloads. */
async function downloaded(p: Page, button: string): Promise<Buffer> {
  const [download] = await Promise.all([p.waitForEvent('download', { timeout: 30_000 }), p.click(button)]);
  return readFile((await download.path())!);
}

/** Waits for `#error` to say something; what. */
async function errorShown(p: Page): Promise<string> {
  await p.waitForFunction(() => document.querySelector('#error')!.textContent !== '', null, { timeout: 60_000 });
  return (await p.textContent('#error'))!;
}

describe('the playground on a CSV table', { timeout: 300_000 }, () => {
  const saved = { safetensors: '', onnx: '', metrics: { accuracy: NaN, confusion: [] as number[][] } };

  it('the Data choice shows the table\'s fields, disables the conv nets saying why, and keeps every control labelled and reachable by keyboard', async () => {
    await page.selectOption('#net', 'simple-conv');
    expect(await page.isVisible('#table')).toBe(false);
    await page.selectOption('#data', 'csv');
    expect(await page.isVisible('#table')).toBe(true);
    expect(await page.isVisible('#draw'), 'the digit pad').toBe(false);
    expect(await page.inputValue('#net'), 'a conv net chosen before gives way to the MLP').toBe('mlp');
    for (const net of ['simple-conv', 'deep-conv']) {
      const option = page.locator(`#net option[value=${net}]`);
      expect(await option.isDisabled(), net).toBe(true);
      expect(await option.getAttribute('title'), net).toMatch(/rows of features, not 28×28 images/);
    }
    for (const net of ['mlp', 'mlp-extend']) expect(await page.locator(`#net option[value=${net}]`).isEnabled(), net).toBe(true);
    expect(await page.textContent('#data-note')).toMatch(/seed 1, simdnn train's default --seed/);
    expect(await unlabelledControls(page, '#config :is(input, select, button), section :is(input, button)')).toEqual([]);
    const controls = await page.$$eval('#config :is(input, select, button):not([disabled]), section :is(input, select, button):not([disabled])', (els) => els
      .filter((el) => el.checkVisibility()).map((el) => el.id));
    expect(controls).toEqual(expect.arrayContaining(['data', 'table', 'testSplit']));
    expect(await unreachedByTab(page, controls)).toEqual([]);
    // back to the digits: the conv nets are there again
    await page.selectOption('#data', 'digits');
    expect(await page.locator('#net option[value=simple-conv]').isEnabled()).toBe(true);
    expect(await page.isVisible('#draw')).toBe(true);
  });

  it('trains an MLP on an uploaded table past chance, and shows the test rows\' metrics with the class names: the library\'s in Node, on the rows simdnn train holds out', async () => {
    await page.selectOption('#data', 'csv');
    await page.setInputFiles('#table', files.table);
    await page.waitForFunction(() => document.querySelector('#status')!.textContent!.startsWith('Table flowers.csv'), null, { timeout: 30_000 });
    expect(await page.textContent('#status')).toBe('Table flowers.csv: 150 rows, 5 columns. Choose the label column, then Start.');
    expect(await page.$$eval('#label option', (os) => os.map((o) => o.textContent))).toEqual(['species', ...FEATURES]);
    await page.selectOption('#label', 'species');
    await page.selectOption('#net', 'mlp');
    await page.fill('#hidden', '20');
    await page.fill('#lr', '0.01');
    await page.fill('#batchSize', '10');
    await page.fill('#epochs', '10');
    expect(await start(page)).toBe(1);
    expect(await ended(page, 1)).toBe('done');
    expect(await page.textContent('#runs li:nth-child(1)')).toMatch(/^#1: mlp 20 relu, .*, batch 10, on flowers\.csv \(label species, test share 0\.2\)/);
    expect(await page.textContent('#error')).toBe('');
    await page.locator('#class-metrics').waitFor({ timeout: 30_000 });
    const accuracy = Number(await page.getAttribute('#metrics', 'data-accuracy'));
    expect(accuracy, 'three classes: chance is 1/3').toBeGreaterThan(0.6);
    expect(accuracy, 'overlapping classes: another split would score otherwise').toBeLessThan(1);
    // the classes by name, in the model's order (the sorted labels), in both tables
    const classRows = await page.$$eval('#class-metrics tbody th', (ths) => ths.map((th) => th.textContent));
    expect(classRows).toEqual([...CLASSES].sort());
    expect(await page.$$eval('#confusion thead th', (ths) => ths.map((th) => th.textContent))).toEqual(['', ...[...CLASSES].sort()]);
    const confusion = await page.$$eval('#confusion tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => Number(td.textContent))));
    expect(confusion.flat().reduce((a, b) => a + b, 0), 'the 30 held-out rows').toBe(30);
    expect(await page.textContent('#metrics-status')).toBe(`Run #1 on 30 test rows: accuracy ${accuracy.toFixed(4)}.`);
    saved.metrics = { accuracy, confusion };
    saved.safetensors = path.join(dir, 'page.safetensors');
    await writeFile(saved.safetensors, await downloaded(page, '#save'));
    // the page's model on the test rows `simdnn train --data flowers.csv --label species` holds out (seed 1, 0.2),
    // read and standardized by simdnn/csv in Node: the same figures, to the bit
    const rt = await createRuntime({ seed: 1 });
    try {
      const { net } = loadModel(rt, await readFile(saved.safetensors));
      const all = loadCsv(rt, await readFile(files.table, 'utf8'), { label: 'species', header: true, delimiter: 'auto' });
      const split = splitTable(all, { testSplit: 0.2, seed: 1 });
      const m = classificationMetrics(net, split.xTest, split.tTest);
      expect(m.accuracy).toBe(accuracy);
      expect(m.confusion).toEqual(confusion);
    } finally {
      await rt.dispose();
    }
  });

  it('the saved model records the table as simdnn train records it (the same split and statistics, to the bit), simdnn predict --data reads it, and Download ONNX carries the same record', async () => {
    const cliModel = path.join(dir, 'cli.safetensors');
    const trained = await runCli(['train', '--data', files.table, '--label', 'species', '--net', 'mlp', '--hidden', '20', '--epochs', '1', '--save', cliModel]);
    expect(trained.code, trained.stderr).toBe(0);
    const cli = inspectModel(await readFile(cliModel)).metadata[CSV_KEY];
    const fromPage = inspectModel(await readFile(saved.safetensors)).metadata[CSV_KEY];
    expect(JSON.parse(cli)).toMatchObject({ label: 'species', features: FEATURES, classes: [...CLASSES].sort() });
    expect(JSON.parse(fromPage)).toEqual(JSON.parse(cli)); // toEqual on numbers: the float64 means and scales to the bit
    expect(fromPage, 'the same text, key for key').toBe(cli);
    const predicted = await runCli(['predict', saved.safetensors, '--data', files.table]);
    expect(predicted.code, predicted.stderr).toBe(0);
    const onnxBytes = await downloaded(page, '#save-onnx');
    expect(inspectOnnx(onnxBytes).metadata[CSV_KEY]).toBe(cli);
    saved.onnx = path.join(dir, 'page.onnx');
    await writeFile(saved.onnx, onnxBytes);
  });

  it('a model trained on a table loads back into table mode, with its classes, without the table; saved again, it keeps its record', async () => {
    const p = await pg.browser.newPage({ acceptDownloads: true });
    await p.goto(`${pg.server.url}/index.html`);
    await p.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
    expect(await p.inputValue('#data')).toBe('digits');
    await p.setInputFiles('#load', saved.safetensors);
    await p.waitForFunction(() => document.querySelector('#status')!.textContent!.startsWith('Loaded'), null, { timeout: 30_000 });
    expect(await p.textContent('#status')).toMatch(/^Loaded page\.safetensors: mlp 20, \d+ parameters; trained on a table: label 'species', 3 classes \(setosa, versicolor, virginica\)/);
    expect(await p.inputValue('#data')).toBe('csv');
    expect(await p.isVisible('#draw')).toBe(false);
    expect(await p.locator('#net option[value=deep-conv]').isDisabled()).toBe(true);
    expect(await p.textContent('#metrics-status')).toMatch(/classes setosa, versicolor, virginica; features sepal, petal, width, noise/);
    expect(await p.textContent('#error')).toBe('');
    const again = await downloaded(p, '#save');
    expect(inspectModel(again).metadata[CSV_KEY]).toBe(inspectModel(await readFile(saved.safetensors)).metadata[CSV_KEY]);
    // a digits model brings the digits back; the ONNX download of the table's model, table mode again
    const rt = await createRuntime({ seed: 1 });
    const digitsModel = path.join(dir, 'digits.safetensors');
    try {
      const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [8], outputSize: 10 });
      await writeFile(digitsModel, saveModel(net));
      net.dispose();
    } finally {
      await rt.dispose();
    }
    await p.setInputFiles('#load', digitsModel);
    await p.waitForFunction(() => document.querySelector('#status')!.textContent!.startsWith('Loaded digits.safetensors'), null, { timeout: 30_000 });
    expect(await p.inputValue('#data')).toBe('digits');
    expect(await p.isVisible('#draw')).toBe(true);
    await p.setInputFiles('#load', saved.onnx);
    await p.waitForFunction(() => document.querySelector('#status')!.textContent!.startsWith('Loaded page.onnx'), null, { timeout: 30_000 });
    expect(await p.textContent('#status')).toMatch(/^Loaded page\.onnx: ONNX from simdnn, Affine Relu Affine, \d+ parameters; trained on a table: label 'species', 3 classes/);
    expect(await p.inputValue('#data')).toBe('csv');
    expect(await p.textContent('#error')).toBe('');
    await p.close();
  });

  it('a table with a bad cell fails the run naming the row and the column; a ragged row is refused naming its line', async () => {
    await page.setInputFiles('#table', files.bad);
    await page.waitForFunction(() => document.querySelector('#status')!.textContent!.startsWith('Table bad.csv'), null, { timeout: 30_000 });
    await page.selectOption('#label', 'species');
    const n = await start(page);
    expect(await ended(page, n)).toBe('failed');
    expect(await page.textContent('#error')).toBe('Run failed: bad.csv: row 3 (line 4), column \'b\': "abc" is not a number');
    expect(await page.isEnabled('#start'), 'the page takes a new run').toBe(true);
    await page.setInputFiles('#table', files.ragged);
    expect(await errorShown(page)).toBe('ragged.csv: line 5: 2 fields, but the first row has 3');
    // no table now: Start says so rather than training on the last one
    expect(await page.$$eval('#label option', (os) => os.length)).toBe(0);
    await page.click('#start');
    expect(await page.textContent('#error')).toMatch(/^Choose a CSV table to train on first/);
    expect(await page.locator('#runs li').count()).toBe(n);
  });

  it('had no console error and no failed request', () => {
    expect(problems).toEqual([]);
    expect(pg.server.missing).toEqual([]);
  });
});

// The library steps the page shares with simdnn train (simdnn/csv): the split and scaling, and the model's record.
describe('splitTable and csvModelMetadata', () => {
  it('splitTable: stratifiedSplit\'s rows, the first trainRows / testRows kept, both standardized with the training part\'s statistics; the table left as it was', async () => {
    const rt = await createRuntime({ seed: 1, threads: 1 });
    try {
      const all = loadCsv(rt, syntheticTable(40, 3), { label: 'species' });
      const before = all.x.toArray();
      const s = splitTable(all, { testSplit: 0.25, seed: 9, trainRows: 20, testRows: 8 });
      const split = stratifiedSplit(all.t.toArray(), testRowCount(40, 0.25), 9);
      expect(testRowCount(40, 0.25)).toBe(10);
      const whole = new Dataset(all.x, all.t);
      const train = whole.select(split.train.subarray(0, 20)), test = whole.select(split.test.subarray(0, 8));
      const stats = fitStandardizer(train.x);
      expect(s.standardizer).toEqual(stats);
      expect(s.xTrain.toArray()).toEqual(standardize(train.x, stats).toArray());
      expect(s.xTest.toArray()).toEqual(standardize(test.x, stats).toArray());
      expect(s.tTrain.toArray()).toEqual(train.t.toArray());
      expect(s.tTest.toArray()).toEqual(test.t.toArray());
      expect(all.x.toArray(), 'the table\'s tensors are borrowed').toEqual(before);
      const refusals: Array<[unknown, RegExp]> = [
        [{ testSplit: 1, seed: 1 }, /^splitTable: options\.testSplit must be a share of the rows in \(0, 1\), got 1$/],
        [{ testSplit: '0.2', seed: 1 }, /^splitTable: options\.testSplit must be a share of the rows in \(0, 1\), got the string "0\.2"$/],
        [{ testSplit: 0.99, seed: 1 }, /^splitTable: options\.testSplit 0\.99 of the 40 rows leaves no training rows$/],
        [{ testSplit: 0.25, seed: 1, testRows: 11 }, /^splitTable: options\.testRows must be an integer in \[1, 10\] \(the part's rows\), got 11$/],
        [{ testSplit: 0.25 }, /^splitTable: options\.seed must be a number/],
        [{ testSplit: 0.25, seed: 1, shuffle: true }, /shuffle/],
      ];
      for (const [options, message] of refusals) expect(() => splitTable(all, options as never), JSON.stringify(options)).toThrow(message);
      expect(() => splitTable({ x: all.x, t: s.tTest }, { testSplit: 0.25, seed: 1 })).toThrow(/^splitTable: set\.x must be \[rows, features\] and set\.t \[rows\], got \[40, 4\] and \[8\]$/);
      for (const t of [whole, train, test]) t.dispose();
      for (const t of [s.xTrain, s.tTrain, s.xTest, s.tTest]) t.dispose();
      all.t.dispose();
      expect(() => splitTable(all, { testSplit: 0.25, seed: 1 })).toThrow(/^splitTable: set\.t: tensor \[40\] used after/);
      all.x.dispose();
    } finally {
      await rt.dispose();
    }
  });

  it('csvModelMetadata: the record under CSV_KEY, keys in one order whatever the object\'s, read back by readCsvModelInfo; a bad record refused naming what is wrong', () => {
    const info = { label: 'y', features: ['a', 'b'], classes: ['n', 'p'], mean: [0.1, -2], scale: [1, 3.5] };
    const shuffled = { scale: info.scale, classes: info.classes, mean: info.mean, label: info.label, features: info.features };
    const metadata = csvModelMetadata(shuffled);
    expect(Object.keys(metadata)).toEqual([CSV_KEY]);
    expect(metadata[CSV_KEY]).toBe(JSON.stringify(info));
    expect(readCsvModelInfo('m', metadata[CSV_KEY], 2, 2)).toEqual(info);
    expect(() => readCsvModelInfo('m', metadata[CSV_KEY], 3)).toThrow("m: metadata 'csv' names 2 features, but the net takes 3 inputs");
    expect(() => csvModelMetadata({ ...info, mean: [0, NaN] })).toThrow("csvModelMetadata: info: metadata 'csv' .mean must be 2 finite numbers, one per feature");
    expect(() => csvModelMetadata({ ...info, classes: ['n', 'n'] })).toThrow(/\.classes names a column or class twice/);
    expect(() => csvModelMetadata(null as never)).toThrow(/^csvModelMetadata: info must be \{ label, features, classes, mean, scale \}, got null$/);
    expect(describeCsvInfo(info)).toBe("label 'y', 2 classes (n, p); 2 features, standardized (a, b)");
  });
});
