// Node-side tests that kill mutants the other tests let through (session 63):
// the results file (a whole last line without its newline, a torn line cut
// inside '{"study":', a damaged line before a torn one), `simdnn predict`'s
// confusion matrix, accuracy, argmax and per-class figures against the net
// run here, `simdnn train`'s --augment and simple-conv --hidden against the
// Trainer built by hand, `simdnn search`'s --weight-decay range, its progress
// line's best trial and its table's ranking, and the one-line net description.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseTrainArgs, type PredictReport, type TrainReport } from '../src/node/cli/index.js';
import { ResultsFile } from '../src/node/search/results-file.js';
import { writeModelFile } from '../src/node/model-file.js';
import { createRuntime } from '../src/node/runtime.js';
import { loadMnist } from '../src/node/data.js';
import { buildNet, type NamedNet } from '../src/nets/registry.js';
import { classificationMetrics } from '../src/nets/metrics.js';
import { createOptimizer } from '../src/optim/registry.js';
import { RandomAffine } from '../src/data/augment.js';
import { Trainer } from '../src/train/trainer.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { logUniform, type ScoredResult, type SearchResult, type TrialResult } from '../src/search/index.js';
import { bestTable } from '../src/node/cli/search.js';
import { describeNet } from '../src/node/cli/common.js';
import { runCli } from './helpers/cli.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-mutants-search-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

const result = (index: number): TrialResult => ({
  study: 's', index, seed: 1, settings: { lr: 0.1 }, epochs: 1, data: {}, status: 'ok',
  history: [{ epoch: 1, trainLoss: 1, trainAcc: 0.5, valLoss: 1, valAcc: 0.5 }], worker: 'w', seconds: 0,
});
const line = (index: number) => JSON.stringify(result(index));

describe('results file', () => {
  it('a whole last line without its newline gets one before the next result is appended', async () => {
    const file = path.join(tmp, 'no-newline.jsonl');
    await writeFile(file, `${line(0)}\n${line(1)}`);
    const f = await ResultsFile.open(file);
    expect(f.results.map((r) => r.index)).toEqual([0, 1]);
    await f.append(result(2));
    await f.close();
    expect(await readFile(file, 'utf8')).toBe(`${line(0)}\n${line(1)}\n${line(2)}\n`);
    const again = await ResultsFile.open(file);
    expect(again.results.map((r) => r.index)).toEqual([0, 1, 2]);
    await again.close();
  });

  it("a last line cut inside its opening '{\"study\":' is a torn line, dropped with a note", async () => {
    const file = path.join(tmp, 'torn-early.jsonl');
    await writeFile(file, `${line(0)}\n{"stu`);
    const f = await ResultsFile.open(file);
    await f.close();
    expect(f.results.map((r) => r.index)).toEqual([0]);
    expect(f.notes).toEqual([`dropped the last line of ${file}, cut short by a crash (5 bytes): its trial runs again`]);
    expect(await readFile(file, 'utf8')).toBe(`${line(0)}\n`);
  });

  it('a damaged line before a torn last line is refused naming it, and the file is left as it is', async () => {
    const file = path.join(tmp, 'damaged.jsonl');
    const text = `${line(0)}\nnot json\n${line(1)}\n{"study":"s","ind`;
    await writeFile(file, text);
    await expect(ResultsFile.open(file)).rejects.toThrow(/line 2 is not JSON \(the file is left as it is\)/);
    expect(await readFile(file, 'utf8')).toBe(text);
  });
});

/** Each row's first largest score (numpy's argmax; -1 for a row of NaN), as `simdnn predict` takes it. */
function argmax(scores: Float32Array, C: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < scores.length / C; i++) {
    let best = -1, max = -Infinity;
    for (let c = 0; c < C; c++) if (scores[i * C + c] > max) { max = scores[i * C + c]; best = c; }
    out.push(best);
  }
  return out;
}

describe('simdnn predict', () => {
  let rt: Runtime;
  let net: NamedNet;
  let x: import('../src/runtime/tensor.js').Tensor;
  let labels: Int32Array;
  const file = () => path.join(tmp, 'predict.safetensors');
  beforeAll(async () => {
    rt = await createRuntime({ seed: 5, threads: 1 });
    net = buildNet(rt, { kind: 'mlp', options: { inputSize: 784, hiddenSizeList: [16], outputSize: 10 } });
    const data = await loadMnist(rt, { testRows: 2000 });
    data.xTrain.dispose();
    data.tTrain.dispose();
    x = data.xTest;
    labels = data.tTest.toArray();
    data.tTest.dispose();
  });
  afterAll(async () => {
    x.dispose();
    net.dispose();
    await rt.dispose();
  });

  it('confusion[true][predicted] over all 2,000 rows (two chunks) is that of the net run here; accuracy its trace over the rows', async () => {
    await writeModelFile(file(), net);
    const r = await runCli(['predict', file(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as PredictReport;
    const want = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
    for (const [start, end] of [[0, 1000], [1000, 2000]]) {
      const y = net.predict(x.rows(start, end));
      argmax(y.toArray(), 10).forEach((pred, i) => want[labels[start + i]][pred]++);
      y.dispose();
    }
    expect(p.rows).toBe(2000);
    expect(p.invalid).toBe(0);
    expect(p.confusion).toEqual(want);
    const correct = want.reduce((n, row, c) => n + row[c], 0);
    expect(p.accuracy).toBe(correct / 2000);
    expect(p.perClass).toEqual(want.map((row, c) => row[c] / row.reduce((a, b) => a + b, 0)));
  });

  it('--json reports per-class precision and F1 and macro F1 as classificationMetrics (sklearn\'s formulas); the text its macro F1', async () => {
    await writeModelFile(file(), net);
    const p = JSON.parse((await runCli(['predict', file(), '--test-rows', '300', '--json'])).stdout) as PredictReport;
    const m = classificationMetrics(net, x.rows(0, 300), labels.subarray(0, 300));
    expect(p.confusion).toEqual(m.confusion);
    expect(p.precision).toEqual(m.perClass.map((c) => c.precision));
    expect(p.f1).toEqual(m.perClass.map((c) => c.f1));
    expect(p.macroF1).toBe(m.macro.f1);
    // sklearn's figures from the confusion matrix: a class never predicted has precision 0
    const predicted = p.confusion[0].map((_, c) => p.confusion.reduce((n, row) => n + row[c], 0));
    const support = p.confusion.map((row) => row.reduce((a, b) => a + b, 0));
    p.confusion.forEach((row, c) => {
      expect(p.precision[c], `class ${c}`).toBe(predicted[c] === 0 ? 0 : row[c] / predicted[c]);
      expect(p.f1[c], `class ${c}`).toBe(row[c] === 0 ? 0 : (2 * row[c]) / (support[c] + predicted[c]));
    });
    expect(p.macroF1).toBe(p.f1.reduce((a, b) => a + b, 0) / 10);
    const text = (await runCli(['predict', file(), '--test-rows', '300'])).stdout;
    expect(text).toMatch(new RegExp(`^accuracy ${p.accuracy.toFixed(4)}\\nmacro F1 ${p.macroF1.toFixed(4)}\\n\\ntrue`, 'm'));
  });

  it('a class with no rows has a per-class accuracy of null', async () => {
    await writeModelFile(file(), net);
    const p = JSON.parse((await runCli(['predict', file(), '--test-rows', '3', '--json'])).stdout) as PredictReport;
    const present = new Set(labels.subarray(0, 3));
    expect(present.size).toBeLessThan(10);
    p.perClass.forEach((acc, c) => {
      if (present.has(c)) expect(acc, `class ${c}`).not.toBeNull();
      else expect(acc, `class ${c}`).toBeNull();
    });
  });

  it('equal scores predict the first class (argmax); rows of NaN are invalid and count as wrong', async () => {
    const zeros = buildNet(rt, { kind: 'mlp', options: { inputSize: 784, hiddenSizeList: [4], outputSize: 10 } });
    try {
      for (const t of Object.values(zeros.params)) t.set(new Float32Array(t.size));
      await writeModelFile(file(), zeros);
      const p = JSON.parse((await runCli(['predict', file(), '--test-rows', '100', '--json'])).stdout) as PredictReport;
      const perLabel = Array.from({ length: 10 }, (_, c) => labels.subarray(0, 100).filter((l) => l === c).length);
      expect(p.confusion).toEqual(perLabel.map((n) => [n, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
      expect(p.accuracy).toBe(perLabel[0] / 100);
      for (const t of Object.values(zeros.params)) t.set(new Float32Array(t.size).fill(NaN));
      await writeModelFile(file(), zeros);
      const nan = JSON.parse((await runCli(['predict', file(), '--test-rows', '100', '--json'])).stdout) as PredictReport;
      expect(nan.invalid).toBe(100);
      expect(nan.accuracy).toBe(0);
      expect(nan.confusion.flat().every((n) => n === 0)).toBe(true);
    } finally {
      zeros.dispose();
    }
  });
});

describe('simdnn train', () => {
  it('--augment keeps shift, degrees and scale apart', () => {
    expect(parseTrainArgs(['--net', 'simple-conv', '--augment', 'shift=2,degrees=10,scale=0.1']).augment).toEqual({ shift: 2, degrees: 10, scale: 0.1 });
  });

  it('--checkpoint-every without --checkpoint writes beside --save, a safetensors file even when --save has no extension', () => {
    expect(parseTrainArgs(['--save', 'run/model.safetensors', '--checkpoint-every', '1']).checkpoint).toBe('run/model.checkpoint.safetensors');
    expect(parseTrainArgs(['--save', 'run/model', '--checkpoint-every', '1']).checkpoint).toBe('run/model.checkpoint.safetensors');
  });

  it('--augment scale=f draws the scale in [1/(1+f), 1+f]: the run is the Trainer built by hand with that RandomAffine', async () => {
    const args = ['train', '--json', '--quiet', '--net', 'simple-conv', '--hidden', '10', '--train-rows', '64', '--test-rows', '32', '--epochs', '1', '--threads', '1',
      '--augment', 'shift=2,degrees=10,scale=0.5'];
    const r = await runCli(args);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as TrainReport;
    expect(report.netOptions).toEqual({ inputDim: [1, 28, 28], hiddenSize: 10, outputSize: 10, weightInitStd: 'he' });
    // as `simdnn train` builds it: runtime seeded with --seed 1, data, net, optimizer, augmentation, Trainer
    const rt = await createRuntime({ seed: 1, threads: 1 });
    try {
      const data = await loadMnist(rt, { flatten: false, trainRows: 64, testRows: 32 });
      const net = buildNet(rt, { kind: 'simple-conv', options: { inputDim: [1, 28, 28], hiddenSize: 10, outputSize: 10, weightInitStd: 'he' } });
      const optimizer = createOptimizer('sgd', { lr: 0.1 });
      const augment = new RandomAffine(rt, { degrees: 10, scale: [1 / 1.5, 1.5], shift: 2 });
      const trainer = new Trainer(net, data.xTrain, data.tTrain, data.xTest, data.tTest, { epochs: 1, miniBatchSize: 16, optimizer, augment });
      const want = await trainer.fit();
      expect(report.trainLoss).toBe(want.epochs[0].trainLoss);
      expect(report.testAcc).toBe(want.epochs[0].testAcc);
      for (const o of [trainer, augment, optimizer, net, data.xTrain, data.tTrain, data.xTest, data.tTest]) o.dispose();
    } finally {
      await rt.dispose();
    }
  });
});

describe('simdnn search', () => {
  it('--weight-decay sets its own range; the progress line names the best trial so far', async () => {
    const out = path.join(tmp, 'ranges.jsonl');
    const r = await runCli(['search', '--study', 'ranges', '--trials', '3', '--epochs', '1', '--rows', '100', '--hidden', '20', '--workers', '1',
      '--lr', '0.05,0.05', '--weight-decay', '0.001,0.001', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as TrialResult);
    for (const l of lines) expect(l.settings).toMatchObject({ lr: 0.05, weightDecay: 0.001 }); // a degenerate range gives its bound
    // each progress line's best is the highest valAcc among the results so far (lowest index at a tie: the first seen)
    let best: TrialResult | null = null;
    const progress = r.stderr.split('\n').filter((l) => /\d+\/3 trial \d+ /.test(l));
    expect(progress).toHaveLength(3);
    progress.forEach((text) => {
      const index = Number(/trial (\d+) \(/.exec(text)![1]);
      const res = lines.find((l) => l.index === index)!;
      if (!best || res.history[0].valAcc > best.history[0].valAcc) best = res;
      expect(text).toContain(`| best ${best.history[0].valAcc.toFixed(4)} (trial ${best.index})`);
    });
  });

  it("the table lists the trials by rank (the result's best), not by index", () => {
    const trial = (index: number, valAcc: number): ScoredResult => ({
      study: 's', index, seed: 1, settings: { lr: 0.1 }, epochs: 1, data: {}, worker: 'w', seconds: 0, rung: 0,
      status: 'ok', history: [{ epoch: 1, trainLoss: 1, trainAcc: 0.5, valLoss: 1, valAcc }], objective: valAcc,
    });
    const trials = [trial(0, 0.25), trial(1, 0.75), trial(2, 0.5)];
    const result: SearchResult = { study: 's', seed: 1, trials, best: [trials[1], trials[2], trials[0]], jobs: trials, epochsSpent: 3, epochsStored: 0, failed: 0, timedOut: 0, seconds: 0 };
    const rows = bestTable(result, { lr: logUniform(0.01, 1) }, 2).trim().split('\n').slice(1);
    expect(rows.map((row) => row.split(/ +/).slice(0, 3))).toEqual([['1', '1', '0.7500'], ['2', '2', '0.5000']]);
  });
});

describe('describeNet', () => {
  it("names the L2 decay, and a dropout ratio left out as the net's default 0.5", () => {
    expect(describeNet({ kind: 'mlp', options: { inputSize: 784, hiddenSizeList: [100], outputSize: 10, weightDecayLambda: 0.01 } }))
      .toBe('mlp 784-100-10 relu init relu L2 0.01');
    expect(describeNet({ kind: 'mlp-extend', options: { inputSize: 4, hiddenSizeList: [3], outputSize: 2, useDropout: true } }))
      .toBe('mlp-extend 4-3-2 relu init relu dropout 0.5');
  });
});
