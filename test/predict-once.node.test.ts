// `simdnn predict --data labelled.csv --out f.csv` runs the net over the rows once: the report's scores come
// from the classes of the pass that writes each row's prediction (it ran the net a second time for them). Both
// are the library's to the bit: classificationMetrics of the net, and net.predict's first maximum and softmax,
// a row whose outputs hold NaN included (no class, counted wrong, in no column).
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from './helpers/cli.js';
import { rng } from './helpers/runtime.js';
import { createRuntime } from '../src/node/runtime.js';
import { writeModelFile } from '../src/node/model-file.js';
import { formatCsv } from '../src/data/csv/format.js';
import { float32Text } from '../src/data/csv/number.js';
import { classificationMetrics, metricsOfPredictions } from '../src/nets/metrics.js';
import { MultiLayerNet, Sequential, softmax } from '../src/index.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { PredictReport } from '../src/node/cli/index.js';

let tmp: string;
let rt: Runtime;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-predict-once-'));
  rt = await createRuntime({ threads: 1 });
});
afterAll(async () => {
  await rt.dispose();
  await rm(tmp, { recursive: true, force: true });
});

const CLASSES = ['p', 'q', 'r'];

/**
 * A 2-2-3 net whose classes vary over the rows, and whose outputs are NaN for a row of huge features: both hidden
 * units overflow to Infinity, and output 0 adds them with opposite signs.
 */
function net(): MultiLayerNet {
  const n = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [2], outputSize: 3 });
  n.params.W1.data.set([2, 2, 0.5, -0.5]);
  n.params.b1.data.set([0, 0]);
  n.params.W2.data.set([1, -1, 0.5, -1, 2, 0.3]);
  n.params.b2.data.set([0.1, 0, -0.1]);
  return n;
}

describe('simdnn predict on labelled rows with --out', () => {
  it("runs the net over the rows once; the report and the file are the library's (classificationMetrics, net.predict's first maximum and softmax), a NaN row included", async () => {
    const next = rng(3);
    const rows = Array.from({ length: 23 }, (_, i) => [Math.fround(4 * next() - 2), Math.fround(4 * next() - 2), i % 3]);
    rows.splice(7, 0, [3e38, 3e38, 1]); // outputs NaN
    const N = rows.length;
    const data = path.join(tmp, 'labelled.csv');
    await writeFile(data, formatCsv(['b', 'y', 'a'], rows.map(([a, b, c]) => [float32Text(b), CLASSES[c], float32Text(a)])));
    const model = path.join(tmp, 'model.safetensors');
    const own = net();
    const csv = JSON.stringify({ label: 'y', features: ['a', 'b'], classes: CLASSES, mean: [0, 0], scale: [1, 1] });
    await writeModelFile(model, own, { metadata: { csv } });

    // the library's figures of the same rows
    const x = rt.tensor([N, 2], rows.flatMap(([a, b]) => [a, b]));
    const labels = rows.map((row) => row[2]);
    const m = classificationMetrics(own, x, labels);
    const y = own.predict(x);
    x.dispose();
    own.dispose();
    const outputs = y.toArray();
    const predicted = Array.from({ length: N }, (_, i) => {
      const row = outputs.subarray(3 * i, 3 * i + 3);
      return row.some(Number.isNaN) ? -1 : row.indexOf(Math.max(...row));
    });
    softmax(y, { out: y });
    const probabilities = y.toArray();
    y.dispose();
    expect(m.invalid).toBe(1);
    expect(new Set(predicted)).toEqual(new Set([-1, 0, 1, 2]));
    expect(m.accuracy).toBeGreaterThan(0);
    expect(m.accuracy).toBeLessThan(1);
    expect(metricsOfPredictions(predicted, labels, 3)).toEqual(m);

    const out = path.join(tmp, 'predictions.csv');
    const forward = vi.spyOn(Sequential.prototype, 'predictBorrowed');
    let rowsRun = 0;
    const r = await runCli(['predict', model, '--data', data, '--out', out, '--json']).finally(() => {
      rowsRun = forward.mock.calls.reduce((n, [chunk]) => n + chunk.shape[0], 0);
      forward.mockRestore(); // which forgets the calls
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(rowsRun, 'rows run through the net').toBe(N);

    const report = JSON.parse(r.stdout) as PredictReport;
    expect(report.net).toMatch(/^mlp 2-2-3 /);
    expect(report).toEqual({
      model, net: report.net, data, rows: N, accuracy: m.accuracy, perClass: m.perClass.map((c) => (c.support === 0 ? null : c.recall)), precision: m.perClass.map((c) => c.precision),
      f1: m.perClass.map((c) => c.f1), macroF1: m.macro.f1, confusion: m.confusion, invalid: 1, classNames: CLASSES, out,
    });
    expect(await readFile(out, 'utf8')).toBe(formatCsv(['row', 'label', 'predicted', ...CLASSES],
      predicted.map((c, i) => [i + 1, CLASSES[labels[i]], c < 0 ? '' : CLASSES[c], ...probabilities.subarray(3 * i, 3 * i + 3)])));
  });
});

describe('metricsOfPredictions', () => {
  it('refuses, naming the argument, classes, rows, labels or predictions out of range', () => {
    expect(() => metricsOfPredictions([0], [0], 0)).toThrow(/^metricsOfPredictions: classes must be a positive integer, got 0$/);
    expect(() => metricsOfPredictions([0, 1], [0], 2)).toThrow(/^metricsOfPredictions: predicted and labels must have the same rows, at least one \(got 2 and 1\)$/);
    expect(() => metricsOfPredictions([], [], 2)).toThrow(/^metricsOfPredictions: predicted and labels must have the same rows, at least one \(got 0 and 0\)$/);
    expect(() => metricsOfPredictions([0, 1], [0, 2], 2)).toThrow(/^metricsOfPredictions: labels\[1\] must be a class in \[0, 2\), got 2$/);
    expect(() => metricsOfPredictions([0, -2], [0, 1], 2)).toThrow(/^metricsOfPredictions: predicted\[1\] must be a class in \[0, 2\) or -1 \(NaN outputs\), got -2$/);
  });
});
