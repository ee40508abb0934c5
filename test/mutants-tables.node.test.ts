// Tables in Node where a mutant got past csv.node.test.ts, search-csv.node.test.ts and playground-csv.node.test.ts
// (session 67's second CSV mutation run): simdnn predict on more rows than one evaluation chunk (1,000), class names
// that are also the predictions file's own columns, --json's probabilities as each float32's shortest decimal, a
// --out named .CSV, a ragged table and a --label the table lacks; bytes made in another realm and
// loadCsvFeaturesFile's checks before it reads; a search reading a table as simdnn train does (a header of numbers,
// the delimiter sniffed), every row of it, an empty label; simdnn search's checks of a CSV --data here, and not here
// with --queue (the path is the workers'); and the playground's table mode: a table of one column refused as it is
// chosen, the last column the label by default (and the digit on the pad not predicted by a table's model), the test
// share honoured (and one that leaves no training rows refused in the page's terms), each class's scores in their
// columns, the metrics of a stopped run, and a loaded model's page without the last run's metrics.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runInNewContext } from 'node:vm';
import { runCli } from './helpers/cli.js';
import { createRuntime } from '../src/node/runtime.js';
import { readModelFile, writeModelFile } from '../src/node/model-file.js';
import { loadCsv, loadCsvFeatures, loadCsvFeaturesFile, parseCsv, splitTable, standardize, type CsvModelInfo } from '../src/node/csv/index.js';
import { loadSearchData } from '../src/node/search/index.js';
import { classificationMetrics, loadModel, MultiLayerNet, seededRandom, softmax } from '../src/index.js';
import { startPlayground, type Playground } from './helpers/playground.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { PredictionsReport, PredictReport } from '../src/node/cli/index.js';

let tmp: string;
let rt: Runtime;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-mutants-tables-'));
  rt = await createRuntime({ threads: 1 });
});
afterAll(async () => {
  await rt.dispose();
  await rm(tmp, { recursive: true, force: true });
});

/** A model file of an MLP 2-5-3 (random weights, or every output 0.5 with `tied`) recording `csv` (defaults: features a, b, classes p, q, r). */
async function modelWith(name: string, csv: Partial<CsvModelInfo> = {}, tied = false): Promise<{ file: string; info: CsvModelInfo }> {
  const file = path.join(tmp, `${name}.safetensors`);
  const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [5], outputSize: 3 });
  if (tied) {
    net.params.W2.data.fill(0);
    net.params.b2.data.fill(0.5);
  }
  const info: CsvModelInfo = { label: 'y', features: ['a', 'b'], classes: ['p', 'q', 'r'], mean: [0.25, -1], scale: [1.5, 2], ...csv };
  await writeModelFile(file, net, { metadata: { csv: JSON.stringify(info) } });
  net.dispose();
  return { file, info };
}

/** `rows` rows of features a and b (b first), and a label column y of p, q, r in turn when `labelled`. */
function rowsText(rows: number, labelled = false): string {
  const lines = Array.from({ length: rows }, (_, i) => `${((i % 11) * 0.7 - 3).toFixed(1)},${((i % 17) / 4 - 2).toFixed(2)}${labelled ? `,${'pqr'[i % 3]}` : ''}`);
  return `b,a${labelled ? ',y' : ''}\n${lines.join('\n')}\n`;
}

describe('simdnn predict: the cases the tests left open', () => {
  it("more rows than one evaluation chunk (1,000): each row's class and probabilities in its own place, the library's to the bit", async () => {
    const { file: model, info } = await modelWith('chunks');
    const text = rowsText(2300);
    const data = path.join(tmp, 'many.csv');
    await writeFile(data, text);
    const r = await runCli(['predict', model, '--data', data]);
    expect(r.code, r.stderr).toBe(0);
    // the reference: every row at once
    const { net } = readModelFile(rt, model);
    const { x } = loadCsvFeatures(rt, text, { features: info.features });
    standardize(x, info);
    const y = net.predict(x), p = softmax(y);
    const v = y.toArray();
    const predicted = Array.from({ length: 2300 }, (_, row) => {
      let best = 0;
      for (let j = 1; j < 3; j++) if (v[row * 3 + j] > v[row * 3 + best]) best = j;
      return info.classes[best];
    });
    const table = parseCsv(r.stdout, { header: true });
    expect(table.rows.map((row) => row[0])).toEqual(Array.from({ length: 2300 }, (_, i) => String(i + 1)));
    expect(new Set(predicted.slice(1000)).size, 'the rows past the first chunk are of more than one class').toBeGreaterThan(1);
    expect(table.rows.map((row) => row[1])).toEqual(predicted);
    const read = loadCsvFeatures(rt, r.stdout, { features: info.classes, header: true });
    expect(read.x.toArray()).toEqual(p.toArray());
    for (const t of [x, y, p, read.x]) t.dispose();
    net.dispose();
  });

  it("classes named as the predictions file's own columns get 'p_' before them, as many times as it takes for a name of its own", async () => {
    const { file: model } = await modelWith('columns', { classes: ['p_row', 'row', 'predicted'] }, true);
    const data = path.join(tmp, 'columns.csv');
    await writeFile(data, rowsText(2));
    const r = await runCli(['predict', model, '--data', data]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseCsv(r.stdout, { header: true }).columns).toEqual(['row', 'predicted', 'p_row', 'p_p_row', 'p_predicted']);
    // a labelled table: the label column's name too
    const labelled = await modelWith('label-column', { classes: ['label', 'q', 'r'] }, true);
    const scored = path.join(tmp, 'columns-labelled.csv');
    await writeFile(scored, 'b,a,y\n1,2,q\n3,4,label\n');
    const out = path.join(tmp, 'columns-labelled-predictions.csv');
    const s = await runCli(['predict', labelled.file, '--data', scored, '--out', out]);
    expect(s.code, s.stderr).toBe(0);
    expect(parseCsv(await readFile(out, 'utf8'), { header: true }).columns).toEqual(['row', 'label', 'predicted', 'p_label', 'q', 'r']);
  });

  it("--json: each probability as its float32's shortest decimal (0.33333334, not 0.3333333432674408)", async () => {
    const { file: model } = await modelWith('thirds', {}, true);
    const data = path.join(tmp, 'thirds.csv');
    await writeFile(data, rowsText(2));
    const r = await runCli(['predict', model, '--data', data, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"probabilities":[0.33333334,0.33333334,0.33333334]');
    const json = JSON.parse(r.stdout) as PredictionsReport;
    expect(json.predictions[1]).toEqual({ row: 2, predicted: 'p', probabilities: [0.33333334, 0.33333334, 0.33333334] });
  });

  it('--out takes a name ending in .CSV (any case); a ragged table and a --label the table lacks are errors naming them (not rows predicted without labels)', async () => {
    const { file: model } = await modelWith('out-case');
    const data = path.join(tmp, 'labelled.csv');
    await writeFile(data, rowsText(6, true));
    const out = path.join(tmp, 'PREDICTIONS.CSV');
    const r = await runCli(['predict', model, '--data', data, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as PredictReport).rows).toBe(6);
    expect(parseCsv(await readFile(out, 'utf8'), { header: true }).columns).toEqual(['row', 'label', 'predicted', 'p', 'q', 'r']);
    // a table the reader refuses as text (a ragged row) is named too
    const ragged = path.join(tmp, 'ragged.csv');
    await writeFile(ragged, 'b,a\n1,2\n3\n');
    const bad = await runCli(['predict', model, '--data', ragged]);
    expect(bad.stderr).toBe(`simdnn: error: --data: ${ragged}: line 3: 1 field, but the first row has 2\n`);
    expect(bad.code).toBe(1);
    const missing = await runCli(['predict', model, '--data', data, '--label', 'kind']);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/^simdnn: error: --data: .*labelled\.csv: --label: no column is named "kind" \(the columns: "b", "a", "y"\)\n$/);
    expect(missing.code).toBe(1);
  });
});

describe('loadCsv, loadCsvFeatures and loadCsvFeaturesFile: the cases the tests left open', () => {
  it('bytes made in another realm (a vm context, an iframe) are bytes', () => {
    const bytes = (text: string) => runInNewContext('Uint8Array.from(a)', { a: Array.from(new TextEncoder().encode(text)) }) as Uint8Array;
    expect(bytes('x') instanceof Uint8Array).toBe(false);
    const f = loadCsvFeatures(rt, bytes('a,b\n1,2\n'));
    expect([Array.from(f.x.toArray()), f.featureNames]).toEqual([[1, 2], ['a', 'b']]);
    f.x.dispose();
    const set = loadCsv(rt, bytes('a,y\n1.5,k\n'), { label: 'y' });
    expect([Array.from(set.x.toArray()), set.classNames]).toEqual([[1.5], ['k']]);
    set.x.dispose();
    set.t.dispose();
  });

  it('loadCsvFeaturesFile checks the runtime and the path before it reads', async () => {
    const missing = path.join(tmp, 'no-such.csv');
    await expect(loadCsvFeaturesFile({} as never, missing)).rejects.toThrow(/^loadCsvFeaturesFile: rt must be a Runtime/);
    await expect(loadCsvFeaturesFile(rt, '')).rejects.toThrow(/^loadCsvFeaturesFile: file must be a path, got the string ""$/);
    await expect(loadCsvFeaturesFile(rt, missing, { header: 'yes' as never })).rejects.toThrow(/^loadCsvFeaturesFile: header must be true, false or 'auto'/);
  });
});

describe('a search on a table: the cases the tests left open', () => {
  /** 30 rows of classes a, b, c in turn, `;` between the fields, the features named 0 and 1 (numbers: a header only when told). */
  const text = `species;0;1\n${Array.from({ length: 30 }, (_, i) => `${'abc'[i % 3]};${(i % 7) / 4 + (i % 3)};${(i % 5) * 0.3 - (i % 3)}`).join('\n')}\n`;
  let file: string;
  beforeAll(async () => {
    file = path.join(tmp, 'numbered.csv');
    await writeFile(file, text);
  });

  it('loadSearchData reads the table as simdnn train does: a header row of names whatever they are, the delimiter sniffed; every row of it by rows', async () => {
    const data = await loadSearchData(rt, { source: file, label: 'species', rows: 30 });
    try {
      expect(data.xTrain.shape[0] + data.xVal.shape[0]).toBe(30);
      expect(data.xTrain.shape[1]).toBe(2);
      expect(data.classes).toBe(3);
    } finally {
      data.dispose!();
    }
  });

  it('an empty label: refused naming data.label', async () => {
    await expect(loadSearchData(rt, { source: file, label: '' })).rejects.toThrow(/^data\.label: expected the label column's header name, got ""$/);
  });

  it('simdnn search: --rows of every row of the table and a --label checked here; an empty --label refused (exit 2)', async () => {
    const nowhere = path.join(tmp, 'no-such-dir', 'study.jsonl');
    // the --out refusal comes after the data's checks: it shows they passed
    const all = await runCli(['search', '--data', file, '--label', 'species', '--rows', '30', '--out', nowhere]);
    expect(all.stderr).toMatch(/^simdnn: --out: the directory of '.*study\.jsonl' does not exist\n/);
    expect(all.code).toBe(2);
    const empty = await runCli(['search', '--data', file, '--label', '', '--out', nowhere]);
    expect(empty.stderr).toMatch(/^simdnn: --label: the column name is empty\n/);
    expect(empty.code).toBe(2);
  });

  it("simdnn search --queue: --data is a path on the workers' machines, not looked at here (a file there with --label, a directory without)", async () => {
    const nowhere = path.join(tmp, 'no-such-dir', 'study.jsonl');
    const queue = ['search', '--queue', 'redis://127.0.0.1:1', '--out', nowhere];
    for (const data of [['--data', '/srv/tables/flowers.csv', '--label', 'species'], ['--data', '/srv/fashion-mnist']]) {
      const r = await runCli([...queue, ...data]);
      expect(r.stderr, data.join(' ')).toMatch(/^simdnn: --out: the directory of '.*study\.jsonl' does not exist\n/);
      expect(r.code).toBe(2);
    }
  });
});

describe("the playground's table mode: the cases playground-csv.node.test.ts left open", { timeout: 300_000 }, () => {
  let pg: Playground;
  let page: Page;
  const problems: string[] = [];
  const files = { table: '', one: '', tiny: '' };

  beforeAll(async () => {
    // three Gaussian clusters in four features, the label column last (where the page looks for it first)
    const next = seededRandom(11);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    const lines = Array.from({ length: 150 }, (_, r) => [0, 1, 2, 3].map((j) => ((r % 3) * (j === 3 ? 0 : 2) + gauss()).toFixed(3)).concat(['xyz'[r % 3]]).join(','));
    files.table = path.join(tmp, 'last.csv');
    files.one = path.join(tmp, 'one.csv');
    await writeFile(files.table, `w,x,y,noise,kind\n${lines.join('\n')}\n`);
    await writeFile(files.one, 'kind\na\nb\n');
    files.tiny = path.join(tmp, 'tiny.csv');
    await writeFile(files.tiny, 'a,kind\n1,x\n2,y\n3,x\n4,y\n');
    pg = await startPlayground();
    page = await pg.browser.newPage({ acceptDownloads: true });
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page: ${e}`));
    await page.goto(`${pg.server.url}/index.html`);
    await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
  }, 300_000);
  afterAll(async () => { await pg?.close(); });

  /** Waits for run `n` (from 1) to end; its state. */
  async function ended(n: number): Promise<string | null> {
    const li = page.locator(`#runs li:nth-child(${n})[data-state]`);
    await li.waitFor({ timeout: 180_000 });
    return li.getAttribute('data-state');
  }

  it('a table of one column is refused as it is chosen, saying what a table to train on needs', async () => {
    await page.selectOption('#data', 'csv');
    await page.setInputFiles('#table', files.one);
    await page.waitForFunction(() => document.querySelector('#error')!.textContent !== '', null, { timeout: 30_000 });
    expect(await page.textContent('#error')).toBe('one.csv: a table to train on needs a header row naming its columns (a label and at least one feature) and rows of data');
    expect(await page.$$eval('#label option', (os) => os.length)).toBe(0);
  });

  it('the last column is the label unless another is chosen; the test share is the one given (0.3 of 150 rows: 45)', async () => {
    // a digit on the pad, from the digits' mode: a table's model is not asked to predict it when its run ends
    await page.selectOption('#data', 'digits');
    await page.click('#sample');
    await page.waitForFunction(() => document.querySelector('#prediction')!.textContent!.startsWith('A test digit labelled'), null, { timeout: 30_000 });
    await page.selectOption('#data', 'csv');
    await page.setInputFiles('#table', files.table);
    await page.waitForFunction(() => document.querySelector('#status')!.textContent!.startsWith('Table last.csv'), null, { timeout: 30_000 });
    expect(await page.inputValue('#label')).toBe('kind');
    await page.fill('#hidden', '10');
    await page.fill('#lr', '0.01');
    await page.fill('#batchSize', '10');
    await page.fill('#epochs', '2');
    await page.fill('#testSplit', '0.3');
    await page.click('#start');
    expect(await ended(1)).toBe('done');
    expect(await page.textContent('#runs li:nth-child(1)')).toMatch(/, on last\.csv \(label kind, test share 0\.3\)/);
    expect(await page.textContent('#metrics-status')).toMatch(/^Run #1 on 45 test rows: accuracy [\d.]+\.$/);
    const confusion = await page.$$eval('#confusion tbody td', (tds) => tds.map((td) => Number(td.textContent)));
    expect(confusion.reduce((a, b) => a + b, 0)).toBe(45);
    // each class's precision, recall, F1 and support in their columns: the library's, in Node, of the page's model on those rows
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.click('#save')]);
    const bytes = await readFile((await download.path())!);
    const own = await createRuntime({ seed: 1, threads: 1 });
    try {
      const { net } = loadModel(own, bytes);
      const all = loadCsv(own, await readFile(files.table, 'utf8'), { label: 'kind', header: true, delimiter: 'auto' });
      const split = splitTable(all, { testSplit: 0.3, seed: 1 });
      const m = classificationMetrics(net, split.xTest, split.tTest);
      const f = (v: number) => (Number.isNaN(v) ? '–' : v.toFixed(3));
      const shown = await page.$$eval('#class-metrics tbody tr', (trs) => trs.map((tr) => Array.from(tr.children, (td) => td.textContent)));
      expect(shown).toEqual(m.perClass.map((c, k) => ['xyz'[k], f(c.precision), f(c.recall), f(c.f1), String(c.support)]));
      expect(m.perClass.some((c) => f(c.precision) !== f(c.recall)), 'a class whose precision and recall differ').toBe(true);
    } finally {
      await own.dispose();
    }
    // the worker answers in order: the download came after whatever the run's end asked of it
    expect(await page.textContent('#error')).toBe('');
  });

  it("a run stopped shows its model's metrics as it stands; a model loaded after clears the last run's", async () => {
    // 105 steps an epoch of two layers of 1,000: a hundred epochs take far longer than the first
    await page.fill('#hidden', '1000,1000');
    await page.fill('#batchSize', '1');
    await page.fill('#epochs', '100');
    await page.click('#start');
    await page.waitForFunction(() => /^Run #2, epoch \d+/.test(document.querySelector('#status')!.textContent!), null, { timeout: 60_000 });
    await page.click('#stop');
    expect(await ended(2)).toBe('stopped');
    expect(await page.textContent('#metrics-status')).toMatch(/^Run #2 on 45 test rows: accuracy [\d.]+\.$/);
    expect(await page.locator('#class-metrics tbody tr').count()).toBe(3);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.click('#save')]);
    const saved = path.join(tmp, 'stopped.safetensors');
    await writeFile(saved, await readFile((await download.path())!));
    await page.setInputFiles('#load', saved);
    await page.waitForFunction(() => document.querySelector('#status')!.textContent!.startsWith('Loaded stopped.safetensors'), null, { timeout: 30_000 });
    expect(await page.$$eval('#metrics > *', (els) => els.length)).toBe(0);
    expect(await page.getAttribute('#metrics', 'data-accuracy')).toBeNull();
    expect(await page.textContent('#metrics-status')).toMatch(/^Loaded stopped\.safetensors, trained on a table: label 'kind', classes x, y, z; features w, x, y, noise\./);
  });

  it("a test share that leaves no training rows fails the run in the page's terms (the test share, the table's name)", async () => {
    await page.selectOption('#data', 'csv');
    await page.setInputFiles('#table', files.tiny);
    await page.waitForFunction(() => document.querySelector('#status')!.textContent!.startsWith('Table tiny.csv'), null, { timeout: 30_000 });
    await page.fill('#hidden', '4');
    await page.fill('#batchSize', '2');
    await page.fill('#testSplit', '0.99');
    await page.click('#start');
    expect(await ended(3)).toBe('failed');
    expect(await page.textContent('#error')).toBe('Run failed: tiny.csv: the test share 0.99 of the 4 rows leaves no training rows');
  });

  it('had no console error', () => {
    expect(problems).toEqual([]);
  });
});
