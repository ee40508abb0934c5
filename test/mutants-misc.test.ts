// Tests that kill mutants of the chapter-6 experiments and the code around them (session 64): each pins a
// behaviour no other test could see change. The optimizers' paths down x²/20 + y² against the book's update
// rules (common/optimizer.py) in float64, the contour lines on their level sets, the zig-zag count; every
// MNIST experiment's training runs (net, initial weights, optimizer and rate, batch, iterations or epochs,
// sampling, rows, evaluation) against the book's ch06 scripts (optimizer_compare_mnist.py,
// weight_init_compare.py, batch_norm_test.py, overfit_weight_decay.py, overfit_dropout.py,
// hyperparameter_optimization.py) and ch08's train_deepnet.py, read from each Trainer as it is asked to fit
// (fit itself not run: the settings, not the training, are under test); init-activations' histograms and
// gradient-vanishing's norms rerun here; the search's best trials and deepconvnet's mistakes; a diverging
// run's step and progress; loadModel on chunks (empty ones at the end, an iterator that throws);
// loadModelAsync's failed response and progress; the worker pools' queue (order, aborts, close); a web
// worker's one-hot targets and a terminated worker's late reply; search data of one row, failed trials in
// the charts; an empty digit file, and Dataset.select out of memory; overfit's gaps and normalization's initial weights.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { runExperiment, type ExperimentData } from '../src/experiments/index.js';
import type { Experiment, ExperimentName } from '../src/experiments/types.js';
import { createContext } from '../src/experiments/context.js';
import { trainRun } from '../src/experiments/train-run.js';
import { tailMean } from '../src/experiments/spec.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { Dataset, MultiLayerNet, SGD, Trainer, type ActivationName, type WeightInit } from '../src/index.js';
import { bookActivations, vanishingData, vanishingNorms } from './helpers/book-procedures.js';
import { parseDigitJson } from '../src/data/digit-json.js';
import { loadModel, saveModel } from '../src/io/model.js';
import { loadModelAsync } from '../src/io/model-async.js';
import { slotPoolExecutor, type PendingTrial, type TrialSlot } from '../src/search/slot-pool.js';
import type { TrialJob } from '../src/search/trial.js';
import { inlineExecutor, searchChart, splitSearchData, webWorkerExecutor, type ScoredResult, type SearchResult } from '../src/search/index.js';
import { startWebTrialWorker } from '../src/search/web-workers.js';
import { makeRuntime, rng, wasmModule } from './helpers/runtime.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 1 }); });
afterAll(async () => { await rt.dispose(); });

type Point = { x: number; y: number };
type Update = (p: Point, g: Point) => void;

/** The book's optimizers (common/optimizer.py) on the two scalars, in float64. */
const bookOptimizers: Record<string, () => Update> = {
  SGD: () => (p, g) => { p.x -= 0.95 * g.x; p.y -= 0.95 * g.y; },
  Momentum: () => {
    const v = { x: 0, y: 0 };
    return (p, g) => {
      for (const k of ['x', 'y'] as const) { v[k] = 0.9 * v[k] - 0.1 * g[k]; p[k] += v[k]; }
    };
  },
  AdaGrad: () => {
    const h = { x: 0, y: 0 };
    return (p, g) => {
      for (const k of ['x', 'y'] as const) { h[k] += g[k] * g[k]; p[k] -= 1.5 * g[k] / (Math.sqrt(h[k]) + 1e-7); }
    };
  },
  Adam: () => {
    const m = { x: 0, y: 0 }, v = { x: 0, y: 0 };
    let iter = 0;
    return (p, g) => {
      iter++;
      const lrT = 0.3 * Math.sqrt(1 - 0.999 ** iter) / (1 - 0.9 ** iter);
      for (const k of ['x', 'y'] as const) {
        m[k] += (1 - 0.9) * (g[k] - m[k]);
        v[k] += (1 - 0.999) * (g[k] ** 2 - v[k]);
        p[k] -= lrT * m[k] / (Math.sqrt(v[k]) + 1e-7);
      }
    };
  },
  Nesterov: () => {
    const v = { x: 0, y: 0 };
    return (p, g) => {
      for (const k of ['x', 'y'] as const) {
        // as common/optimizer.py since its 2021 fix: the step with the velocity before its update
        p[k] += 0.9 * 0.9 * v[k] - (1 + 0.9) * 0.1 * g[k];
        v[k] = 0.9 * v[k] - 0.1 * g[k];
      }
    };
  },
  RMSprop: () => {
    const h = { x: 0, y: 0 };
    return (p, g) => {
      for (const k of ['x', 'y'] as const) { h[k] = 0.99 * h[k] + (1 - 0.99) * g[k] * g[k]; p[k] -= 0.1 * g[k] / (Math.sqrt(h[k]) + 1e-7); }
    };
  },
};

/** The path from (−7, 2): the start, then the point after each of `steps` updates with ∇f = (x/10, 2y). */
function bookPath(update: Update, steps: number): Point[] {
  const p = { x: -7, y: 2 };
  const path = [{ ...p }];
  for (let i = 0; i < steps; i++) {
    update(p, { x: p.x / 10, y: 2 * p.y });
    path.push({ ...p });
  }
  return path;
}

/** Sign changes of the y-steps, zero steps skipped (written independently of directionChanges). */
function zigZags(ys: number[]): number {
  const signs = ys.slice(1).map((y, i) => Math.sign(y - ys[i])).filter((s) => s !== 0);
  return signs.slice(1).filter((s, i) => s !== signs[i]).length;
}

describe("optimizer-naive: the book's optimizer_compare_naive.py", () => {
  it('each path is the book\'s update rule from (−7, 2) over 30 steps, its zig-zags counted, and the contours lie on f = c', async () => {
    const r = await runExperiment('optimizer-naive', { rt });
    for (const [name, make] of Object.entries(bookOptimizers)) {
      const rows = r.tables.path.filter((p) => p.optimizer === name);
      const expected = bookPath(make(), 30);
      expect(rows.map((p) => p.step), name).toEqual(expected.map((_, i) => i));
      // float32 parameters against float64: the paths stay within 1e-4 of the book's (a rate off by 5% moves them by > 0.01)
      rows.forEach((p, i) => {
        expect(Math.abs((p.x as number) - expected[i].x), `${name} x at step ${i}`).toBeLessThan(1e-4);
        expect(Math.abs((p.y as number) - expected[i].y), `${name} y at step ${i}`).toBeLessThan(1e-4);
        expect(p.f as number, `${name} f at step ${i}`).toBeCloseTo((p.x as number) ** 2 / 20 + (p.y as number) ** 2, 12);
      });
      const s = (r.summary as Record<string, { directionChangesY: number; final: number[] }>)[name];
      expect(s.directionChangesY, name).toBe(zigZags(rows.map((p) => p.y as number)));
      expect(s.final, name).toEqual([rows[30].x, rows[30].y]);
    }
    // SGD's y flips at every step (y ← y − 0.95·2y = −0.9y): 29 changes in its 30 steps
    expect((r.summary as Record<string, { directionChangesY: number }>).SGD.directionChangesY).toBe(29);
    for (const c of r.tables.contours) {
      expect((c.x as number) ** 2 / 20 + (c.y as number) ** 2, `level ${c.level}, point ${c.i}`).toBeCloseTo(c.level as number, 12);
    }
    // each ellipse closed, drawn from angle 0 (x > 0, y = 0) counter-clockwise through (0, √c) at i = 18
    for (const level of [0.5, 1, 2, 3, 5, 8, 12, 17, 23]) {
      const ring = r.tables.contours.filter((c) => c.level === level);
      expect(ring.map((c) => c.i)).toEqual(Array.from({ length: 73 }, (_, i) => i));
      expect([ring[0].x, ring[0].y]).toEqual([Math.sqrt(20 * level), 0]);
      expect([ring[18].x, ring[18].y]).toEqual([0, Math.sqrt(level)]);
      expect([ring[72].x, ring[72].y]).toEqual([ring[0].x, ring[0].y]);
    }
  });
});

/** What a Trainer was asked to fit with. */
interface Run {
  net: unknown;
  optimizer: string;
  lr: number;
  momentum?: number;
  batchSize: number;
  maxIter: number;
  /** Steps an epoch (evaluations come after each). */
  iterPerEpoch: number;
  sampling: string;
  trainRows: number;
  testRows: number;
  /** Rows each evaluation looks at: null for all of them. */
  evaluated: number | null;
}

/** The Trainers `name`'s full (not quick) run makes, fit run for none, and the settings its result reports. */
async function trainersOf(name: ExperimentName, data: ExperimentData): Promise<{ runs: Run[]; settings: Record<string, unknown> }> {
  const runs: Run[] = [];
  const spy = vi.spyOn(Trainer.prototype, 'fit').mockImplementation(async function (this: Trainer) {
    const o = this.optimizer as unknown as { constructor: { name: string }; lr: number; momentum?: number };
    runs.push({
      net: (this.network as unknown as { spec?: unknown }).spec ?? null,
      optimizer: o.constructor.name, lr: o.lr, ...(o.momentum !== undefined ? { momentum: o.momentum } : {}),
      batchSize: this.batchSize, maxIter: this.maxIter, iterPerEpoch: this.iterPerEpoch, sampling: this.sampling,
      trainRows: this.xTrain.shape[0], testRows: this.xTest.shape[0],
      // the Trainer keeps evaluateSampleNumPerEpoch to itself
      evaluated: (this as unknown as { evalN: number | null }).evalN,
    });
    return {} as never;
  });
  try {
    return { runs, settings: (await runExperiment(name, { rt, data, quick: false })).settings };
  } finally {
    spy.mockRestore();
  }
}

describe("the MNIST experiments train with the book's settings", () => {
  // 1,000 training and 2,000 test digits of noise: the most rows a full run takes of them
  let data: ExperimentData;
  beforeAll(() => {
    const next = rng(5);
    const x = (n: number) => rt.tensor([n, 784], Float32Array.from({ length: n * 784 }, () => Math.round(next() * 255) / 255));
    const t = (n: number) => rt.labels([n], Int32Array.from({ length: n }, (_, i) => i % 10));
    data = { xTrain: x(1000), tTrain: t(1000), xTest: x(2000), tTest: t(2000) };
  });
  afterAll(() => { for (const t of [data.xTrain, data.tTrain, data.xTest, data.tTest]) t.dispose(); });

  const mlp = (hiddenSizeList: number[], activation: string, weightInitStd: number | string) =>
    ({ kind: 'mlp', options: { inputSize: 784, hiddenSizeList, outputSize: 10, activation, weightInitStd } });
  const steps = (batchSize: number, maxIter: number, trainRows: number) =>
    ({ batchSize, maxIter, iterPerEpoch: Math.floor(trainRows / batchSize), sampling: 'replacement', trainRows });

  it('optimizer-mnist: 784-[100×4]-10 ReLU/He, batch 128, 2,000 iterations; SGD, Momentum, AdaGrad 0.01, Adam 0.001', async () => {
    const { runs } = await trainersOf('optimizer-mnist', data);
    const common = { net: mlp([100, 100, 100, 100], 'relu', 'he'), ...steps(128, 2000, 1000), testRows: 2000, evaluated: 1 };
    expect(runs).toEqual([
      { ...common, optimizer: 'SGD', lr: 0.01 },
      { ...common, optimizer: 'Momentum', lr: 0.01, momentum: 0.9 },
      { ...common, optimizer: 'AdaGrad', lr: 0.01 },
      { ...common, optimizer: 'Adam', lr: 0.001 },
      { ...common, optimizer: 'Nesterov', lr: 0.01, momentum: 0.9 },
      { ...common, optimizer: 'RMSprop', lr: 0.001 },
      { ...common, optimizer: 'AdaDelta', lr: 1 },
    ]);
  });

  it('init-compare: std 0.01, Xavier, He on 784-[100×4]-10 ReLU with SGD 0.01, batch 128, 2,000 iterations; then the grid', async () => {
    const { runs } = await trainersOf('init-compare', data);
    const deep = { ...steps(128, 2000, 1000), testRows: 2000, evaluated: 1, optimizer: 'SGD', lr: 0.01 };
    const grid = { ...steps(100, 2000, 1000), testRows: 2000, evaluated: null, optimizer: 'SGD', lr: 0.1 };
    const inits = [0.01, 'xavier', 'he'];
    expect(runs).toEqual([
      ...inits.map((init) => ({ ...deep, net: mlp([100, 100, 100, 100], 'relu', init) })),
      ...['sigmoid', 'relu'].flatMap((act) => inits.map((init) => ({ ...grid, net: mlp([40, 20], act, init) }))),
    ]);
  });

  it('batchnorm: 16 weight scales logspace(0, −4), each with and without batch norm, 784-[100×5]-10, SGD 0.01, batches of 100 on 1,000 digits to the 20th epoch of 10 (191 updates)', async () => {
    const { runs } = await trainersOf('batchnorm', data);
    const scales = Array.from({ length: 16 }, (_, i) => 10 ** (-4 * i / 15));
    expect(runs).toHaveLength(32);
    runs.forEach((run, k) => {
      const { net, ...rest } = run;
      const { options } = net as { options: { weightInitStd: number; useBatchnorm: boolean; hiddenSizeList: number[]; activation?: string } };
      expect(options.weightInitStd, `run ${k}`).toBeCloseTo(scales[k >> 1], 14);
      expect(options.useBatchnorm, `run ${k}`).toBe(k % 2 === 0);
      expect(options.hiddenSizeList).toEqual([100, 100, 100, 100, 100]);
      expect(options.activation ?? 'relu').toBe('relu');
      // batch_norm_test.py breaks after measuring epoch 20 at update 191; trainRun measures (the Trainer's own evaluation: one row)
      expect(rest).toEqual({ optimizer: 'SGD', lr: 0.01, batchSize: 100, maxIter: 191, iterPerEpoch: 10, sampling: 'replacement', trainRows: 1000, testRows: 1, evaluated: 1 });
    });
  });

  it('overfit: 300 digits, 784-[100×6]-10 He, SGD 0.01, batch 100, 201 epochs (dropout 0.2: 301); L2 λ 0.1 as the book, the notes\' other rates', async () => {
    const { runs } = await trainersOf('overfit', data);
    // trainRun measures where the book does (the Trainer's own evaluation: one row)
    const common = { optimizer: 'SGD', lr: 0.01, batchSize: 100, sampling: 'replacement', trainRows: 300, testRows: 2000, evaluated: 1 };
    const net = (extra: Record<string, unknown>) => ({ kind: 'mlp-extend', options: { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, weightInitStd: 'he', ...extra } });
    // overfit_weight_decay.py breaks after measuring epoch 201, at update 601; overfit_dropout.py's Trainer runs 301 × 3
    const e201 = { iterPerEpoch: 3, maxIter: 601 };
    expect(runs).toEqual([
      { ...common, ...e201, net: net({}) },
      { ...common, ...e201, net: net({ weightDecayLambda: 0.1 }) },
      { ...common, ...e201, net: net({ weightDecayLambda: 0.005 }) },
      { ...common, ...e201, net: net({ weightDecayLambda: 0.001 }) },
      { ...common, ...e201, net: net({ l1Lambda: 0.1 }) },
      { ...common, ...e201, net: net({ l1Lambda: 0.125 }) },
      { ...common, ...e201, net: net({ l1Lambda: 0.05, weightDecayLambda: 0.05 }) },
      { ...common, iterPerEpoch: 3, maxIter: 903, net: net({ useDropout: true, dropoutRatio: 0.2 }) },
    ]);
  });

  it('hyperparameter-search: 100 trials of 50 epochs on 400 + 100 of 500 digits, SGD, batch 100, lr 10^U(−6, −2), weight decay 10^U(−8, −4)', async () => {
    const { runs } = await trainersOf('hyperparameter-search', data);
    expect(runs).toHaveLength(100);
    const lrs: number[] = [], decays: number[] = [];
    for (const run of runs) {
      const { net, lr, ...rest } = run;
      const { options } = net as { options: Record<string, unknown> };
      const { weightDecayLambda, ...shape } = options;
      expect(shape).toEqual({ inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, activation: 'relu', weightInitStd: 'relu' });
      expect(rest).toMatchObject({ optimizer: 'SGD', batchSize: 100, iterPerEpoch: 4, maxIter: 200, trainRows: 400, testRows: 100, evaluated: null });
      lrs.push(Math.log10(lr));
      decays.push(Math.log10(weightDecayLambda as number));
    }
    // 100 draws over 4 decades each: all inside, and both ends within half a decade
    for (const [logs, lo, hi] of [[lrs, -6, -2], [decays, -8, -4]] as const) {
      expect(Math.min(...logs)).toBeGreaterThanOrEqual(lo);
      expect(Math.max(...logs)).toBeLessThanOrEqual(hi);
      expect(Math.min(...logs)).toBeLessThan(lo + 0.5);
      expect(Math.max(...logs)).toBeGreaterThan(hi - 0.5);
    }
  });

  it("deepconvnet: Adam 0.001, batch 100, 20 epochs drawn with replacement (ch08's train_deepnet.py)", async () => {
    const { runs } = await trainersOf('deepconvnet', data);
    expect(runs.map(({ net: _, ...rest }) => rest)).toEqual([
      { optimizer: 'Adam', lr: 0.001, batchSize: 100, iterPerEpoch: 10, maxIter: 200, sampling: 'replacement', trainRows: 1000, testRows: 2000, evaluated: null },
    ]);
  });

  it('the notes\' experiments run what their settings report: optimizer-batchnorm and normalization', async () => {
    const ob = await trainersOf('optimizer-batchnorm', data);
    const s = ob.settings as { batchSize: number; iterations: number; trainRows: number; testRows: number; optimizers: Array<{ name: string; lr: number }> };
    expect(ob.runs).toEqual(s.optimizers.flatMap((o) => [false, true].map((useBatchnorm) => ({
      net: { kind: 'mlp-extend', options: { inputSize: 784, hiddenSizeList: [40, 20], outputSize: 10, activation: 'sigmoid', weightInitStd: 0.01, useBatchnorm } },
      optimizer: o.name, lr: o.lr, ...(o.name === 'Momentum' ? { momentum: 0.9 } : {}),
      batchSize: s.batchSize, maxIter: s.iterations, iterPerEpoch: s.trainRows / s.batchSize, sampling: 'replacement', trainRows: s.trainRows, testRows: s.testRows, evaluated: null,
    }))));
    const norm = await trainersOf('normalization', data);
    const n = norm.settings as { batchSize: number; epochs: number; trainRows: number; validationRows: number };
    expect(norm.runs.map(({ net: _, ...rest }) => rest)).toEqual(Array(4).fill({
      optimizer: 'Adam', lr: 0.001, batchSize: n.batchSize, iterPerEpoch: n.trainRows / n.batchSize, maxIter: n.epochs * (n.trainRows / n.batchSize), sampling: 'permutation', trainRows: n.trainRows, testRows: n.validationRows, evaluated: null,
    }));
  });
});

/** A small net's file. */
function modelFile(): Uint8Array {
  const net = new MultiLayerNet(rt, { inputSize: 6, hiddenSizeList: [5], outputSize: 3 });
  try {
    return saveModel(net);
  } finally {
    net.dispose();
  }
}

describe('loadModel on chunks (chunk-reader.ts)', () => {

  it('empty chunks after the last tensor are no bytes after it (the end was looked for in one chunk only)', () => {
    const bytes = modelFile();
    const used = rt.memoryStats().used;
    const { net } = loadModel(rt, [bytes.subarray(0, 100), bytes.subarray(100), new Uint8Array(0), new Uint8Array(0)]);
    expect(saveModel(net), 'the same file back').toEqual(bytes);
    net.dispose();
    expect(() => loadModel(rt, [bytes, new Uint8Array(0), new Uint8Array([0])])).toThrow(/^safetensors: bytes after the last tensor \(at byte \d+\)$/);
    expect(rt.memoryStats().used).toBe(used);
  });

  it("an iterator that throws mid-file: its error, and the net built from the header freed (it was left to the reading code's catch, which never ran)", () => {
    const bytes = modelFile();
    const used = rt.memoryStats().used;
    function* failing(): Generator<Uint8Array> {
      yield bytes.subarray(0, bytes.length - 40); // the header and most tensors: the net is built
      throw new Error('the disk went away');
    }
    expect(() => loadModel(rt, failing())).toThrow(/^the disk went away$/);
    expect(rt.memoryStats().used, 'nothing left behind').toBe(used);
  });
});

describe('search data and charts', () => {
  it("a DataSpec of fewer than 2 rows is refused by name (it reached Dataset.split's 'empty part' instead)", () => {
    const x = rt.tensor([10, 3], Float32Array.from({ length: 30 }, (_, i) => i / 30));
    const t = rt.labels([10], Int32Array.from({ length: 10 }, (_, i) => i % 2));
    try {
      expect(() => splitSearchData(x, t, { rows: 1 })).toThrow(/^data\.rows: expected an integer >= 2, got 1$/);
      const two = splitSearchData(x, t, { rows: 2, validation: 0.5 });
      expect([two.xTrain.shape[0], two.xVal.shape[0]]).toEqual([1, 1]);
      two.dispose?.();
    } finally {
      x.dispose();
      t.dispose();
    }
  });

  it('a failed or timed-out trial has no validation accuracy in the charts, whatever epochs it trained before it stopped', () => {
    const trial = (index: number, status: ScoredResult['status'], valAcc: number): ScoredResult => ({
      study: 's', index, seed: 1, settings: { lr: 0.1, weightDecay: 0.01 }, epochs: 2, data: {}, worker: 'w', seconds: 0, rung: 0,
      status, history: [{ epoch: 1, trainLoss: 1, trainAcc: valAcc, valLoss: 1, valAcc }], objective: valAcc,
    });
    const trials = [trial(0, 'ok', 0.5), trial(1, 'failed', 0.9), trial(2, 'timeout', 0.8)];
    const result: SearchResult = { study: 's', seed: 1, trials, best: [trials[0]], jobs: trials, epochsSpent: 3, epochsStored: 0, failed: 1, timedOut: 1, seconds: 0 };
    const [progress, scatter] = searchChart(result).hconcat as Array<{ title: string; data: { values: Array<Record<string, unknown>> } }>;
    expect(progress.data.values.map((p) => [p.validationAccuracy, p.bestSoFar])).toEqual([[0.5, 0.5], [null, 0.5], [null, 0.5]]);
    expect(scatter.data.values.map((p) => p.validationAccuracy)).toEqual([0.5, null, null]);
    expect(scatter.title).toMatch(/\(grey: failed\)$/);
  });
});

describe('the worker pools\' queue (slot-pool.ts, abort-watch.ts)', () => {
  const job = (index: number) => ({ study: 's', index, seed: index, settings: {}, epochs: 1, data: { source: 'mnist' } }) as unknown as TrialJob;

  /** A pool of `count` slots whose jobs end when the test says (finish); `ran` and `aborted` list job indices in order. */
  function pool(count: number) {
    const ran: number[] = [], aborted: number[] = [];
    const active = new Map<number, PendingTrial>();
    const free = new Map<number, () => void>();
    const exec = slotPoolExecutor('pool', count, (_i, dispatch) => {
      const slot: TrialSlot = {
        run: (p) => { ran.push(p.job.index); active.set(p.job.index, p); free.set(p.job.index, () => dispatch(slot)); },
        abort: (p, reason) => {
          if (active.get(p.job.index) !== p) return;
          active.delete(p.job.index);
          aborted.push(p.job.index);
          p.reject(reason as Error);
          free.get(p.job.index)!();
        },
      };
      return slot;
    }, async () => {});
    const finish = (index: number) => {
      const p = active.get(index)!;
      active.delete(index);
      p.resolve({ index } as never);
      free.get(index)!();
    };
    return { exec, ran, aborted, finish };
  }

  it('runs the waiting jobs in the order they came', async () => {
    const { exec, ran, finish } = pool(1);
    const runs = [0, 1, 2, 3].map((i) => exec.run(job(i)));
    for (let k = 0; k < 4; k++) finish(ran[ran.length - 1]); // the job that runs now
    await Promise.all(runs);
    expect(ran).toEqual([0, 1, 2, 3]);
    await exec.close();
  });

  it('a waiting job whose signal aborts is taken off the queue: it rejects and never runs', async () => {
    const { exec, ran, finish } = pool(1);
    const first = exec.run(job(0));
    const controller = new AbortController();
    const waiting = exec.run(job(1), controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    finish(0);
    await first;
    const next = exec.run(job(2));
    finish(2);
    await next;
    expect(ran).toEqual([0, 2]);
    await exec.close();
  });

  it('close() rejects the jobs still waiting (they were left pending for ever), and refuses new ones', async () => {
    const { exec } = pool(1);
    void exec.run(job(0)).catch(() => {}); // runs on: the stand-in slots have no worker to stop
    const outcomes: string[] = [];
    const outcome = (promise: Promise<unknown>) => promise.then(() => outcomes.push('resolved'), (e: Error) => outcomes.push(e.message));
    void outcome(exec.run(job(1)));
    await exec.close();
    void outcome(exec.run(job(2)));
    await new Promise((resolve) => setTimeout(resolve, 0)); // every settled promise's handlers have run
    expect(outcomes).toEqual(['pool: closed', 'pool: closed']);
  });

  it('an abort reaches every job still in flight under the signal after another has settled (its listener went with the first)', async () => {
    const { exec, aborted, finish } = pool(2);
    const controller = new AbortController();
    const a = exec.run(job(0), controller.signal);
    const b = exec.run(job(1), controller.signal);
    finish(0);
    await a;
    controller.abort(new Error('stop'));
    expect(aborted).toEqual([1]);
    await expect(b).rejects.toThrow('stop');
    await exec.close();
  });
});

describe('the digits (digit-json.ts, Dataset)', () => {
  it('a digit file of no images is refused, as any count that is not a whole number of images', () => {
    const bytes = (text: string) => new TextEncoder().encode(text);
    for (const text of ['{"data":[]}', '{ "data": [ ] }']) {
      expect(() => parseDigitJson(bytes(text), 'empty.json'), text).toThrow(/^loadMnist: empty\.json: holds 0 values, not a whole number of 784-pixel images$/);
    }
  });

  it("select frees its inputs' copy when the targets' copy cannot be made", () => {
    const x = rt.tensor([4, 3], Float32Array.from({ length: 12 }, (_, i) => i));
    const t = rt.tensor([4, 2], Float32Array.from({ length: 8 }, (_, i) => i % 2));
    const data = new Dataset(x, t);
    const used = rt.memoryStats().used;
    const tensor = rt.tensor.bind(rt);
    let calls = 0;
    // the second tensor select makes (the one-hot rows) finds no memory
    const spy = vi.spyOn(rt, 'tensor').mockImplementation((...args: Parameters<Runtime['tensor']>) => {
      if (++calls === 2) throw new RangeError('out of memory');
      return tensor(...args);
    });
    try {
      expect(() => data.select([0, 2])).toThrow('out of memory');
    } finally {
      spy.mockRestore();
    }
    expect(calls).toBe(2);
    expect(rt.memoryStats().used, 'nothing left behind').toBe(used);
    data.dispose();
    x.dispose();
    t.dispose();
  });
});

describe("the experiments' helpers (context.ts, train-run.ts, spec.ts)", () => {
  const stub: Experiment = { name: 'optimizer-mnist', title: 'stub', needsData: false, run: () => Promise.reject(new Error('not run')) };

  it('a diverging run records the step it failed at (one past the losses it kept) and counts the steps it will not run as done', async () => {
    const progress: number[] = [];
    const ctx = createContext(stub, { rt, onProgress: (p) => progress.push(p.done) });
    ctx.plan(30);
    const next = rng(3);
    const x = (n: number) => rt.tensor([n, 4], Float32Array.from({ length: 4 * n }, () => 1e6 * (next() - 0.5)));
    const t = (n: number) => rt.labels([n], Int32Array.from({ length: n }, (_, i) => i % 3));
    const data = { xTrain: x(20), tTrain: t(20), xTest: x(5), tTest: t(5) };
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [5], outputSize: 3 });
    const optimizer = new SGD({ lr: 1e30 }); // an update overflows the weights: Inf − Inf in the softmax
    try {
      const run = await trainRun(ctx, net, data, { optimizer, batchSize: 10, iterations: 30, evaluate: false, phase: 'p' });
      expect(run.losses.length).toBeGreaterThan(0);
      expect(run.losses.length).toBeLessThan(30);
      expect(run.losses.every(Number.isFinite)).toBe(true);
      expect(run.divergedAt).toBe(run.losses.length + 1);
      expect(progress.at(-1), 'the run ends at its planned total').toBe(30);
    } finally {
      optimizer.dispose();
      net.dispose();
      for (const v of Object.values(data)) v.dispose();
    }
  });

  it('refuses NaN pixels as it refuses any outside [0, 1]', () => {
    const x = (n: number) => rt.tensor([n, 784], new Float32Array(n * 784).fill(0.5));
    const t = (n: number) => rt.labels([n], new Int32Array(n));
    const data = { xTrain: x(2), tTrain: t(2), xTest: x(2), tTest: t(2) };
    data.xTrain.data[784 + 7] = Number.NaN;
    try {
      expect(() => createContext({ ...stub, needsData: true }, { rt, data })).toThrow(/^runExperiment\('optimizer-mnist'\): options\.data\.xTrain must hold pixels in \[0, 1\] .*got NaN in row 1$/);
    } finally {
      for (const v of Object.values(data)) v.dispose();
    }
  });

  it('tailMean (the summaries\' mean loss of the last steps) is the mean of the last n values, all of them when fewer', () => {
    expect(tailMean([1, 2, 3, 4], 2)).toBe(3.5);
    expect(tailMean([1, 2, 3, 4], 1)).toBe(4);
    expect(tailMean([2, 4], 100)).toBe(3);
  });
});

describe('webWorkerExecutor and its workers (web-workers.ts), with stand-in Workers where the host has none', () => {
  const job = (index: number) => ({ study: 'study', index, seed: index + 1, settings: { lr: 0.1, hidden: [6], batchSize: 10 }, epochs: 2, data: { rows: 40, validation: 0.25, splitSeed: 3 } }) as unknown as TrialJob;
  const next = rng(9);
  const x = Float32Array.from({ length: 40 * 5 }, () => next());
  const labels = Int32Array.from({ length: 40 }, (_, i) => (i * 7) % 3);

  it('a worker takes Float32Array targets as one-hot rows: the bits of inlineExecutor on the same rows', async () => {
    const oneHot = new Float32Array(40 * 3);
    labels.forEach((c, i) => { oneHot[i * 3 + c] = 1; });
    const messages: unknown[] = [];
    let answered: () => void = () => {};
    const scope = { onmessage: null as ((e: MessageEvent) => void) | null, postMessage: (m: unknown) => { messages.push(m); answered(); } };
    startWebTrialWorker(scope);
    const reply = (test: (m: unknown) => boolean) => new Promise<void>((resolve) => { answered = () => { if (messages.some(test)) resolve(); }; answered(); });
    scope.onmessage!({ data: { module: await wasmModule(), data: { x, xShape: [40, 5], t: oneHot, tShape: [40, 3] }, label: 'w-0' } } as MessageEvent);
    await reply((m) => m === 'ready');
    scope.onmessage!({ data: { id: 7, job: job(0) } } as MessageEvent);
    // its answer, or why it could not run the job (or start: id −1)
    const isAnswer = (m: unknown) => typeof m === 'object' && m !== null && ('result' in m || 'error' in m);
    await reply(isAnswer);
    const got = messages.find(isAnswer) as { id: number; result?: { status: string; history: unknown[] }; error?: string };
    expect(got.error).toBeUndefined();
    expect(got.id).toBe(7);

    const own = await makeRuntime({ threads: 1 });
    const xs = own.tensor([40, 5], x), ts = own.tensor([40, 3], oneHot);
    const exec = inlineExecutor(own, (_rt, spec) => splitSearchData(xs, ts, spec), 'w-0');
    try {
      const expected = await exec.run(job(0));
      expect(expected.history).toHaveLength(2);
      expect(got.result!.status).toBe('ok');
      expect(got.result!.history).toEqual(expected.history);
    } finally {
      await exec.close();
      await own.dispose();
    }
  });

  /** A stand-in Worker that says 'ready' to its Init and answers a job when the test calls reply(). */
  class StandInWorker {
    static made: StandInWorker[] = [];
    onmessage: ((e: { data: unknown }) => void) | null = null;
    onerror: ((e: unknown) => void) | null = null;
    jobs: number[] = [];
    terminated = false;
    constructor() { StandInWorker.made.push(this); }
    postMessage(m: { job?: TrialJob }): void {
      if (m.job) this.jobs.push(m.job.index);
      else queueMicrotask(() => this.onmessage?.({ data: 'ready' }));
    }
    reply(index: number): void { this.onmessage?.({ data: { id: index, result: { index, worker: 'stand-in' } } }); }
    terminate(): void { this.terminated = true; }
  }
  /** Lets the executor's promise chains (compile, start, post) run to their end. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

  it('refuses rows whose x and t counts differ, before any worker starts', async () => {
    StandInWorker.made = [];
    vi.stubGlobal('Worker', StandInWorker);
    try {
      const wasm = await wasmModule();
      expect(() => webWorkerExecutor({ data: { x, xShape: [40, 5], t: labels.subarray(0, 39), tShape: [39] }, workers: 1, wasm }))
        .toThrow(/^webWorkerExecutor: data\.x has 40 rows, data\.t 39$/);
      expect(StandInWorker.made).toEqual([]);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("a reply from a worker terminated since (its job aborted) is not taken for the next job's answer", async () => {
    StandInWorker.made = [];
    vi.stubGlobal('Worker', StandInWorker);
    const exec = webWorkerExecutor({ data: { x, xShape: [40, 5], t: labels, tShape: [40] }, workers: 1, wasm: await wasmModule() });
    try {
      const controller = new AbortController();
      const first = exec.run(job(0), controller.signal);
      for (let k = 0; k < 20 && !StandInWorker.made[0]?.jobs.length; k++) await settle();
      expect(StandInWorker.made[0].jobs).toEqual([0]);
      controller.abort(new Error('stop'));
      await expect(first).rejects.toThrow('stop');
      expect(StandInWorker.made[0].terminated).toBe(true);
      const second = exec.run(job(1));
      for (let k = 0; k < 20 && !StandInWorker.made[1]?.jobs.length; k++) await settle();
      expect(StandInWorker.made[1].jobs).toEqual([1]);
      StandInWorker.made[0].reply(0); // on its way when the first worker was terminated
      StandInWorker.made[1].reply(1);
      expect(await second).toEqual({ index: 1, worker: 'stand-in' });
    } finally {
      await exec.close();
      vi.unstubAllGlobals();
    }
  });
});

describe('loadModelAsync (model-async.ts)', () => {

  it('a failed HTTP response is refused and its unread body cancelled (it held its connection)', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({ pull: () => {}, cancel: () => { cancelled = true; } });
    await expect(loadModelAsync(rt, new Response(body, { status: 404 }))).rejects.toThrow(/^loadModelAsync: the response failed with HTTP 404$/);
    expect(cancelled).toBe(true);
  });

  it('onProgress hears of each chunk with bytes, not of an empty one', async () => {
    const bytes = modelFile();
    const seen: number[] = [];
    const { net } = await loadModelAsync(rt, [bytes.subarray(0, 50), new Uint8Array(0), bytes.subarray(50)], { onProgress: (n) => seen.push(n) });
    net.dispose();
    expect(seen).toEqual([50, bytes.length]);
  });
});

describe("init-activations and gradient-vanishing against the book's procedure, rerun here", () => {
  it("init-activations: each panel's histogram is numpy's hist of that layer's activations over (0, 1) or, for tanh, (−1, 1), 30 bins", async () => {
    const r = await runExperiment('init-activations', { rt, seed: 1 });
    const panels: Array<[ActivationName, string, WeightInit]> = [['tanh', 'He', 'he'], ['sigmoid', 'std 0.01', 0.01], ['relu', 'Xavier', 'xavier']];
    for (const [act, label, init] of panels) {
      const layers = bookActivations(rt, act, init);
      expect(layers).toHaveLength(5);
      const [lo, hi] = act === 'tanh' ? [-1, 1] : [0, 1];
      layers.forEach((values, l) => {
        const counts = new Array<number>(30).fill(0);
        for (const v of values) {
          if (v < lo || v > hi || (act === 'relu' && v === 0)) continue; // ReLU's zeros left out, as the experiment says
          counts[v === hi ? 29 : Math.floor((v - lo) / ((hi - lo) / 30))]++; // numpy: the last bin holds its right edge
        }
        const rows = r.tables.hist.filter((h) => h.panel === `${act}, ${label}` && h.layer === `layer ${l + 1}`);
        expect(rows.map((h) => h.count), `${act}, ${label}, layer ${l + 1}`).toEqual(counts);
        expect(rows[0].from).toBe(lo);
        expect(rows[29].to).toBe(hi);
      });
    }
  });

  it('gradient-vanishing: SGD 0.1 on consecutive batches of 100, and the ratio is of the mean norms over the iterations', async () => {
    const data = vanishingData(rt);
    try {
      const r = await runExperiment('gradient-vanishing', { rt, data, quick: true, seed: 1 });
      const norms = r.tables.norms;
      // ReLU, He by hand: batches rows 0–99, 100–199, 200–299, 0–99, …, each after the last update of SGD lr 0.1
      vanishingNorms(rt, data.xTrain, data.tTrain, 'relu', 'he', 10, [1, 7]).forEach((byDepth, it) => [1, 7].forEach((l, k) => {
        const row = norms.find((n) => n.net === 'ReLU, He' && n.depth === l && n.iteration === it + 1)!;
        expect(row.gradientNorm, `iteration ${it + 1}, W${l}`).toBe(byDepth[k]);
      }));
      const ratio = r.summary.firstOverLastLayerGradientNorm as Record<string, number>;
      for (const label of ['sigmoid, Xavier', 'ReLU, He']) {
        const mean = (depth: number) => {
          const v = norms.filter((n) => n.net === label && n.depth === depth).map((n) => n.gradientNorm as number);
          expect(v).toHaveLength(10);
          return v.reduce((a, b) => a + b, 0) / v.length;
        };
        expect(ratio[label], label).toBe(mean(1) / mean(7));
      }
    } finally {
      for (const v of Object.values(data)) v.dispose();
    }
  });
});

/**
 * Digits whose label is written in their first pixels: row i's pixel (i·step) % 10 is 1, the rest noise in
 * [0, noise) from a seeded stream; its label (i·step) % 10. Makers of x and t rows (the stream shared, in call order).
 */
function labelledDigits(seed: number, step: number, noise: number) {
  const next = rng(seed);
  return {
    x: (n: number) => rt.tensor([n, 784], Float32Array.from({ length: n * 784 }, (_, k) => (k % 784 === (Math.floor(k / 784) * step) % 10 ? 1 : noise * next()))),
    t: (n: number) => rt.labels([n], Int32Array.from({ length: n }, (_, i) => (i * step) % 10)),
  };
}

describe('overfit and normalization: what they report and build', () => {
  it("overfit's gaps are the means over each variant's last 10 epochs of the accuracies it plots", async () => {
    const { x, t } = labelledDigits(12, 3, 0.3);
    const data = { xTrain: x(300), tTrain: t(300), xTest: x(500), tTest: t(500) };
    try {
      const r = await runExperiment('overfit', { rt, data, quick: true, seed: 1 });
      const gaps = r.summary.lastTenEpochs as Record<string, { train: number; test: number; gap: number }>;
      expect(Object.keys(gaps)).toEqual(['no regularisation', 'L2 λ 0.1', 'dropout 0.2']);
      for (const [variant, g] of Object.entries(gaps)) {
        const mean = (set: string) => {
          const v = r.tables.curves.filter((c) => c.variant === variant && c.set === set).map((c) => c.accuracy as number).slice(-10);
          expect(v).toHaveLength(10);
          return v.reduce((a, b) => a + b, 0) / 10;
        };
        expect(g.train, variant).toBe(mean('train'));
        expect(g.test, variant).toBe(mean('test'));
        expect(g.gap, variant).toBe(g.train - g.test);
      }
      // the curves move in their last epochs: a window one epoch off gives other means
      const test = r.tables.curves.filter((c) => c.variant === 'no regularisation' && c.set === 'test').map((c) => c.accuracy as number);
      expect(new Set(test.slice(-11)).size).toBeGreaterThan(1);
    } finally {
      for (const v of Object.values(data)) v.dispose();
    }
  });

  it("normalization's SimpleConvNet starts from weights N(0, 0.01²), as the book's weight_init_std", async () => {
    const next = rng(13);
    const x = (n: number) => rt.tensor([n, 784], Float32Array.from({ length: n * 784 }, () => next()));
    const t = (n: number) => rt.labels([n], Int32Array.from({ length: n }, (_, i) => i % 10));
    const data = { xTrain: x(300), tTrain: t(300), xTest: x(200), tTest: t(200) };
    const spreads: number[][] = [];
    const spy = vi.spyOn(Trainer.prototype, 'fit').mockImplementation(async function (this: Trainer) {
      spreads.push(['W1', 'W2', 'W3'].map((w) => {
        const v = this.network.params[w].data;
        let s = 0;
        for (let i = 0; i < v.length; i++) s += v[i] * v[i];
        return Math.sqrt(s / v.length);
      }));
      return {} as never;
    });
    try {
      await runExperiment('normalization', { rt, data, quick: true });
    } finally {
      spy.mockRestore();
      for (const v of Object.values(data)) v.dispose();
    }
    expect(spreads).toHaveLength(4);
    // 750, 432,000 and 1,000 draws: within 10% of 0.01
    for (const s of spreads) for (const v of s) expect(Math.abs(v - 0.01)).toBeLessThan(0.001);
  });
});

describe('hyperparameter-search: what it shows', () => {
  it('the best trials shown are the best by validation accuracy, in order (not the first trials run)', async () => {
    // digits whose label is written in their first pixels: the good rates learn them, the small ones do not
    const { x, t } = labelledDigits(6, 7, 0.2);
    const data = { xTrain: x(500), tTrain: t(500), xTest: x(10), tTest: t(10) };
    try {
      const r = await runExperiment('hyperparameter-search', { rt, data, quick: true, seed: 3 });
      const scatter = r.tables.scatter.map((s) => s.validationAccuracy as number);
      const best = (r.summary.best as Array<{ trial: number; validationAccuracy: number }>);
      expect(best).toHaveLength(6);
      expect(new Set(scatter).size, 'the trials differ').toBeGreaterThan(2);
      expect(best.map((b) => b.validationAccuracy)).toEqual([...scatter].sort((a, b) => b - a));
      for (const b of best) expect(b.validationAccuracy).toBe(scatter[b.trial - 1]);
    } finally {
      for (const v of Object.values(data)) v.dispose();
    }
  });
});

describe('deepconvnet: the mistakes it counts', () => {
  it("are the test rows its final test accuracy gets wrong (every class a prediction, 9 included)", async () => {
    // a bright 4×4 square whose place says the label: learnt within the quick run's 2 epochs
    const next = rng(8);
    const image = (label: number) => {
      const px = Float32Array.from({ length: 784 }, () => 0.1 * next());
      const r0 = 4 + 8 * Math.floor(label / 4), c0 = 2 + 6 * (label % 4);
      for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) px[(r0 + r) * 28 + c0 + c] = 1;
      return px;
    };
    const label = (i: number) => (i * 7) % 10;
    const x = (n: number) => { const a = new Float32Array(n * 784); for (let i = 0; i < n; i++) a.set(image(label(i)), i * 784); return rt.tensor([n, 784], a); };
    const t = (n: number) => rt.labels([n], Int32Array.from({ length: n }, (_, i) => label(i)));
    const data = { xTrain: x(300), tTrain: t(300), xTest: x(200), tTest: t(200) };
    try {
      const r = await runExperiment('deepconvnet', { rt, data, quick: true, seed: 1 });
      const s = r.summary as { finalTestAccuracy: number; misclassified: number; testRows: number };
      expect(s.testRows).toBe(200);
      expect(s.misclassified).toBe(200 - Math.round(s.finalTestAccuracy * 200));
      expect(s.misclassified, 'some rows right, some wrong').toBeGreaterThan(0);
      expect(s.misclassified).toBeLessThan(200);
    } finally {
      for (const v of Object.values(data)) v.dispose();
    }
  });
});
