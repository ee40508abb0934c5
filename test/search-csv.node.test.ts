// A search on a CSV table: loadSearchData reads the file (label by header name), takes `rows`, splits
// `validation` as splitSearchData splits every host's data and standardizes the features with the training
// part's statistics only (the same bits on every load); a search on worker threads (the trial worker reads the
// table) and `simdnn search --data file.csv --label COLUMN` run on it, its nets of the table's feature and class
// counts; a conv net in the space, a missing or wrong label are refused. The queue's workers run their trials
// on the same worker threads (runQueueWorker's localExecutor), so they read a table through this loader too.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from './helpers/cli.js';
import { rng } from './helpers/runtime.js';
import { createRuntime } from '../src/node/runtime.js';
import { hyperparameterSearch, inlineExecutor, loadSearchData, logUniform, runTrial, splitSearchData, type TrialData } from '../src/node/search/index.js';
import { fitStandardizer, loadCsv, standardize } from '../src/data/csv/index.js';
import type { Runtime } from '../src/runtime/runtime.js';

let tmp: string;
let rt: Runtime;
let file: string;
/** The table's text (header species,f1,f2,f3). */
let text: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-search-csv-'));
  rt = await createRuntime({ threads: 1 });
  text = tableText(150, 7);
  file = path.join(tmp, 'flowers.csv');
  await writeFile(file, text);
});
afterAll(async () => {
  await rt.dispose();
  await rm(tmp, { recursive: true, force: true });
});

const SPECIES = ['setosa', 'versicolor', 'virginica'];

/**
 * A seeded table of `n` rows of 3 classes in turn, the label first and 3 features on very different scales (f2
 * in thousands, f3 around 40 with a small spread): the classes' centres apart, so a net separates most rows.
 */
function tableText(n: number, seed: number): string {
  const next = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const lines = ['species,f1,f2,f3'];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    lines.push([SPECIES[c], (2 * c + normal()).toFixed(4), (1500 * c + 1000 * normal()).toFixed(1), (40 + 0.1 * c + 0.05 * normal()).toFixed(5)].join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** Each column's mean and population standard deviation over `rows` (corrected two-pass, in float64). */
function columnStats(values: Float32Array, rows: number, F: number): { mean: number[]; scale: number[] } {
  const mean: number[] = [], scale: number[] = [];
  for (let j = 0; j < F; j++) {
    let sum = 0;
    for (let r = 0; r < rows; r++) sum += values[r * F + j];
    const m = sum / rows;
    let c = 0, sq = 0;
    for (let r = 0; r < rows; r++) { const d = values[r * F + j] - m; c += d; sq += d * d; }
    mean.push(m);
    scale.push(Math.sqrt((sq - (c * c) / rows) / rows));
  }
  return { mean, scale };
}

const scaled = (values: Float32Array, F: number, s: { mean: number[]; scale: number[] }) =>
  Float32Array.from(values, (v, i) => (v - s.mean[i % F]) / s.scale[i % F]);

const free = (d: TrialData) => d.dispose!();

describe('loadSearchData on a CSV file', () => {
  it('is the table split by splitSearchData, its features standardized with the training rows\' statistics only (bits), the same on every load', async () => {
    const spec = { source: file, label: 'species', rows: 120, validation: 0.25, splitSeed: 3 };
    const data = await loadSearchData(rt, spec);
    const again = await loadSearchData(rt, spec);
    // the reference: the table read in this thread, split as every host splits rows, scaled by hand
    const table = loadCsv(rt, text, { label: 'species' });
    const ref = splitSearchData(table.x, table.t, spec);
    try {
      expect(data.xTrain.shape).toEqual([90, 3]);
      expect(data.xVal.shape).toEqual([30, 3]);
      expect(data.classes).toBe(3);
      const stats = columnStats(ref.xTrain.toArray(), 90, 3);
      expect(data.xTrain.toArray()).toEqual(scaled(ref.xTrain.toArray(), 3, stats));
      expect(data.xVal.toArray()).toEqual(scaled(ref.xVal.toArray(), 3, stats));
      expect(data.tTrain.toArray()).toEqual(ref.tTrain.toArray());
      expect(data.tVal.toArray()).toEqual(ref.tVal.toArray());
      // the training part is standardized (f2's thousands, f3's narrow spread), the validation part is not its own
      const trainStats = columnStats(data.xTrain.toArray(), 90, 3);
      for (let j = 0; j < 3; j++) {
        expect(Math.abs(trainStats.mean[j])).toBeLessThan(1e-6);
        expect(trainStats.scale[j]).toBeCloseTo(1, 5);
      }
      const valStats = columnStats(data.xVal.toArray(), 30, 3);
      expect(valStats.mean.some((m) => Math.abs(m) > 1e-3)).toBe(true);
      for (const k of ['xTrain', 'tTrain', 'xVal', 'tVal'] as const) expect(again[k].toArray(), k).toEqual(data[k].toArray());
    } finally {
      for (const d of [data, again, ref]) free(d);
      table.x.dispose();
      table.t.dispose();
    }
  });

  it('takes every row by default; `classes` is the table\'s even where the first `rows` lack a class', async () => {
    const sorted = path.join(tmp, 'sorted.csv');
    const [header, ...rows] = text.trim().split('\n');
    await writeFile(sorted, [header, ...rows.sort()].join('\n')); // setosa's rows first, virginica's last
    const all = await loadSearchData(rt, { source: sorted, label: 'species' });
    const first = await loadSearchData(rt, { source: sorted, label: 'species', rows: 60 });
    try {
      expect(all.xTrain.shape[0] + all.xVal.shape[0]).toBe(150);
      expect(Math.max(...first.tTrain.toArray(), ...first.tVal.toArray())).toBe(1);
      expect(first.classes).toBe(3);
      // the trial's net has the table's 3 outputs: its results differ from a net of the 2 the rows show
      const job = { study: 's', index: 0, seed: 5, settings: { lr: 0.1, hidden: [8], batchSize: 16 }, epochs: 1, data: {} };
      const three = await runTrial(rt, job, first);
      const two = await runTrial(rt, job, { ...first, classes: undefined });
      expect(three.status).toBe('ok');
      expect(three.history[0].valLoss).not.toBe(two.history[0].valLoss);
      await expect(runTrial(rt, job, { ...first, classes: 1 })).rejects.toThrow('runTrial: data.classes must be an integer >= 2 (the largest label + 1), got 1');
    } finally {
      free(all);
      free(first);
    }
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['no label', {}, /^data\.label: required: data\.source '.*flowers\.csv' is a file, read as a CSV table, and label names its column of class labels$/],
    ['a label that names no column', { label: 'kind' }, /^loadCsvFile: .*flowers\.csv: data\.label: no column is named "kind" \(the columns: "species", "f1", "f2", "f3"\)$/],
    ['a label that is no name', { label: 2 }, /^data\.label: expected the label column's header name, got 2$/],
    ['more rows than the table holds', { label: 'species', rows: 151 }, /^data\.rows: 151 is more than the 150 rows of .*flowers\.csv$/],
  ])('refuses %s, naming the field, and leaves nothing allocated', async (_, fields, message) => {
    const before = rt.memoryStats().used;
    await expect(loadSearchData(rt, { source: file, ...fields } as never)).rejects.toThrow(message);
    expect(rt.memoryStats().used).toBe(before);
  });

  it('refuses a label beside the digits or an IDX directory; a source that is neither a directory nor a file is read as the label says', async () => {
    await expect(loadSearchData(rt, { source: 'mnist', label: 'species' })).rejects.toThrow("data.label: only a CSV source takes it (data.source 'mnist' is the bundled digits, whose labels are their own)");
    await expect(loadSearchData(rt, { source: tmp, label: 'species' })).rejects.toThrow(/^data\.label: only a CSV source takes it \(data\.source '.*' is an IDX directory/);
    await expect(loadSearchData(rt, { source: path.join(tmp, 'nowhere') })).rejects.toThrow(/^loadIdx: cannot read the directory .*nowhere/);
    await expect(loadSearchData(rt, { source: path.join(tmp, 'nowhere.csv'), label: 'species' })).rejects.toThrow(/^loadCsvFile: cannot read .*nowhere\.csv: ENOENT/);
  });
});

describe('a search on a CSV table', () => {
  const space = { lr: logUniform(0.05, 0.3), hidden: [16], batchSize: 15 };
  const data = { source: '', label: 'species', validation: 0.2 };

  it('runs on worker threads (the trial worker reads the table) with the bits of the inline executor and of a page\'s loader of the table as tensors, and its best trial beats chance', async () => {
    const spec = { ...data, source: file };
    const options = { space, trials: 3, epochs: 4, data: spec, seed: 2 };
    const threaded = await hyperparameterSearch({ ...options, workers: 1 });
    const inline = inlineExecutor(rt, loadSearchData);
    let here;
    try {
      here = await hyperparameterSearch({ ...options, executor: inline });
    } finally {
      await inline.close();
    }
    // the portable way (a page's): the table as tensors, split and scaled by a loader of its own; the same bits
    const table = loadCsv(rt, text, { label: 'species' });
    const portable = inlineExecutor(rt, (_, s) => {
      const d = splitSearchData(table.x, table.t, s);
      const stats = fitStandardizer(d.xTrain);
      standardize(d.xTrain, stats);
      standardize(d.xVal, stats);
      return d;
    });
    let page;
    try {
      page = await hyperparameterSearch({ ...options, executor: portable });
    } finally {
      await portable.close();
      table.x.dispose();
      table.t.dispose();
    }
    expect(threaded.trials.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
    expect(threaded.trials.map((r) => r.history)).toEqual(here.trials.map((r) => r.history));
    expect(page.trials.map((r) => r.history)).toEqual(here.trials.map((r) => r.history));
    expect(threaded.best[0].history.at(-1)!.valAcc).toBeGreaterThan(0.7); // chance: 1/3
    expect(threaded.trials[0].data).toEqual(spec);
  });

  it('a conv net in the space is refused, naming it, before any trial', async () => {
    await expect(hyperparameterSearch({ space: { ...space, net: 'simple-conv' } as never, trials: 1, epochs: 1, data: { ...data, source: file }, workers: 1 }))
      .rejects.toThrow(/^settings\.net: no such setting: a trial's net is an MLP .* of the data's features, images flattened; conv nets are not searched$/);
  });
});

describe('simdnn search --data file.csv --label COLUMN', () => {
  it('prints the best trials, records the label with each result (all rows: no --rows), and a resumed study refuses another label', async () => {
    // the classes as numbers, so that another column can be the label and species a feature
    const coded = path.join(tmp, 'coded.csv');
    await writeFile(coded, SPECIES.reduce((t, name, c) => t.replaceAll(`${name},`, `${c},`), text));
    const tiny = (study: string) => ['search', '--data', coded, '--study', study, '--out', path.join(tmp, `${study}.jsonl`), '--trials', '2', '--epochs', '3',
      '--hidden', '16', '--lr', '0.05,0.3', '--batch', '15', '--workers', '1', '--quiet'];
    const first = await runCli([...tiny('table'), '--label', 'species']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const lines = first.stdout.split('\n');
    expect(lines[0]).toMatch(/^rank +trial +valAcc +trainAcc +valLoss +epochs +lr +weightDecay +worker$/);
    expect(Number(lines[1].split(/ +/)[2])).toBeGreaterThan(0.7);
    expect(lines[3]).toMatch(/^2 trials \(0 failed\), 6 epochs trained/);
    const stored = (await readFile(path.join(tmp, 'table.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(stored.map((r) => r.data)).toEqual([{ source: coded, validation: 0.2, splitSeed: 1, label: 'species' }, { source: coded, validation: 0.2, splitSeed: 1, label: 'species' }]);
    const again = await runCli([...tiny('table'), '--label', 'species']);
    expect(again.stdout.split('\n')[3]).toMatch(/^2 trials \(0 failed\), 0 epochs trained \(6 more stored\)/);
    const other = await runCli([...tiny('table'), '--label', 'f1']);
    expect(other.stderr).toMatch(/stored result of trial \d \(3 epochs\) is not this study's: it was trained on other data \(.*"label":"species".*this study's is .*"label":"f1"/);
    expect(other.code).toBe(1);
  });

  it('no --label, --label with the digits, a conv net in --space, --rows beyond the table: exit 2 before any trial; a --label naming no column is said at once', async () => {
    const space = path.join(tmp, 'conv-space.json');
    await writeFile(space, JSON.stringify({ net: 'simple-conv', lr: { kind: 'logUniform', low: 0.01, high: 0.1 } }));
    const common = ['search', '--study', 'refused', '--out', path.join(tmp, 'refused.jsonl'), '--trials', '1', '--epochs', '1', '--workers', '1'];
    for (const [argv, message] of [
      [['--data', file], /^simdnn: --label: required with a CSV --data: the column of class labels, by its header name/],
      [['--data', 'mnist', '--label', 'species'], /^simdnn: --label: only a CSV --data takes it/],
      [['--data', file, '--label', 'species', '--space', space], /^simdnn: --space: settings\.net: no such setting: a trial's net is an MLP/],
      [['--data', file, '--label', 'species', '--rows', '151'], /^simdnn: --rows: 151 is more than the 150 rows of '.*flowers\.csv'\n/],
    ] as Array<[string[], RegExp]>) {
      const r = await runCli([...common, ...argv]);
      expect(r.stderr, argv.join(' ')).toMatch(message);
      expect(r.code).toBe(2);
    }
    // as simdnn train says it (an error of the data, exit 1), before the trials' threads start
    const wrong = await runCli([...common, '--data', file, '--label', 'kind']);
    expect(wrong.stderr).toMatch(/^simdnn: error: --data: .*flowers\.csv: --label: no column is named "kind" \(the columns: "species", "f1", "f2", "f3"\)\n$/);
    expect(wrong.code).toBe(1);
    await expect(readFile(path.join(tmp, 'refused.jsonl'))).rejects.toThrow(/ENOENT/);
  });
});
