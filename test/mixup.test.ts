// TrainerOptions.mixup against timm's Mixup (timm/data/mixup.py, mode 'batch', cutmix off): λ ~ Beta(α, α) from
// the runtime's stream (its moments, reproducible from a position), the step's batch λ·x + (1 − λ)·x.flip(0) and
// targets λ·onehot(t) + (1 − λ)·onehot(t.flip(0)) recomputed here from the gathered batch in float32 as the kernels
// round (the two products, then their sum), the step's loss the net's on those rows; no allocation per step; a
// failed step's λ put back; a resumed run's bits; 1 and 2 threads (the MLP's row chain) alike; bad options.
import { describe, it, expect, beforeAll, vi } from 'vitest';
import { makeRuntime, randomArray, expectBits, expectClose } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { IntTensor, Tensor } from '../src/runtime/tensor.js';
import { drawBeta } from '../src/train/mixup.js';
import { MultiLayerNet, Trainer, type TrainerBaseOptions, type TrainerState, type TrainResult } from '../src/index.js';

const f32 = Math.fround;
let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 5 }); });

describe('drawBeta: λ ~ Beta(α, α) by Marsaglia–Tsang gamma variates from the runtime\'s stream', () => {
  for (const alpha of [0.2, 1, 4]) {
    it(`α = ${alpha}: mean 1/2 and variance 1/(4(2α + 1)) within 5 standard errors of 20,000 draws, all in [0, 1]`, () => {
      const scratch = rt.tensor([2]);
      const N = 20000;
      const draws = Float64Array.from({ length: N }, () => drawBeta(rt, alpha, scratch));
      scratch.dispose();
      expect(draws.every((l) => l >= 0 && l <= 1), 'in [0, 1]').toBe(true);
      const mean = draws.reduce((a, b) => a + b, 0) / N;
      const sq = draws.map((l) => (l - 0.5) ** 2);
      const variance = sq.reduce((a, b) => a + b, 0) / N;
      const sdSq = Math.sqrt(sq.reduce((a, b) => a + (b - variance) ** 2, 0) / (N - 1));
      const want = 1 / (4 * (2 * alpha + 1));
      expect(Math.abs(mean - 0.5), 'mean').toBeLessThan(5 * Math.sqrt(want / N));
      expect(Math.abs(variance - want), `variance (want ${want})`).toBeLessThan(5 * sdSq / Math.sqrt(N));
      if (alpha === 1) {
        // Beta(1, 1) is uniform: Kolmogorov–Smirnov distance under its 1% critical value 1.63/√N
        const sorted = Float64Array.from(draws).sort();
        let ks = 0;
        for (let i = 0; i < N; i++) ks = Math.max(ks, Math.abs(sorted[i] - i / N), Math.abs((i + 1) / N - sorted[i]));
        expect(ks).toBeLessThan(1.63 / Math.sqrt(N));
      }
    });
  }

  it('is a function of the stream\'s position: the same λs and the same counters taken from the same position', () => {
    const scratch = rt.tensor([2]);
    const at = { seed: 77, counter: 1234 };
    const run = (alpha: number) => {
      rt.randomState = at;
      const ls = Array.from({ length: 50 }, () => drawBeta(rt, alpha, scratch));
      return { ls, end: rt.take(0) };
    };
    for (const alpha of [0.2, 4]) {
      const a = run(alpha), b = run(alpha);
      expect(b).toEqual(a);
      expect(a.end, 'at least 6 counters a λ (two gammas of a normal pair and a uniform)').toBeGreaterThanOrEqual(at.counter + 50 * 6);
    }
    rt.randomState = { seed: 78, counter: 1234 };
    expect(drawBeta(rt, 1, scratch), 'another seed, another λ').not.toBe(run(1).ls[0]);
    scratch.dispose();
  });
});

/** Each element of a mixed batch as the kernels round it: scale's λ·a, then axpy's + (1 − λ)·a[reversed row]. */
function refMix(a: Float32Array, rows: number, lambda: number): Float32Array {
  const l = f32(lambda), m = f32(1 - lambda), len = a.length / rows;
  return a.map((v, i) => {
    const r = Math.floor(i / len), j = i - r * len;
    return f32(f32(l * v) + f32(m * a[(rows - 1 - r) * len + j]));
  });
}

function oneHot(labels: Int32Array, classes: number): Float32Array {
  const out = new Float32Array(labels.length * classes);
  labels.forEach((c, r) => { out[r * classes + c] = 1; });
  return out;
}

describe('a mixup step: the batch and targets mixed as timm mixes them, the loss the net\'s on them', () => {
  // one step of a 6-row batch (an even batch, as timm asserts) on 3 classes; labels, or their one-hot rows
  const rows = 6, classes = 3, n = 40, alpha = 0.4;
  function oneStep(dense: boolean, labelSmoothing = 0) {
    const r = rt;
    r.randomState = { seed: 14, counter: 0 };
    const net = new MultiLayerNet(r, { inputSize: 5, hiddenSizeList: [7], outputSize: classes, labelSmoothing });
    const initial = net.exportParams();
    const x = r.tensor([n, 5], randomArray(n * 5, 3, -2, 2));
    const labels = Int32Array.from({ length: n }, (_, i) => (i * 7 + 1) % classes);
    const t = dense ? r.tensor([n, classes], oneHot(labels, classes)) : r.labels([n], labels);
    let gathered: { x: Float32Array; t: Float32Array } | null = null;
    let given: { x: Float32Array; t: Float32Array } | null = null;
    let epochStart = -1;
    const gradient = net.gradient.bind(net);
    const spy = vi.spyOn(net, 'gradient').mockImplementation((gx, gt) => {
      given = { x: gx.toArray(), t: (gt as Tensor).toArray() };
      return gradient(gx, gt);
    });
    const trainer = new Trainer(net, x, t, x, t, {
      maxIterations: 1, miniBatchSize: rows, mixup: { alpha },
      // the augment hook sees the gathered batch; it changes nothing and draws nothing
      augment: (bx, bt) => {
        const tt = bt instanceof IntTensor ? oneHot(bt.toArray() as Int32Array, classes) : bt.toArray();
        gathered = { x: bx.toArray(), t: tt };
      },
      callbacks: { onEpochBegin: () => { epochStart = r.take(0); } },
    });
    const result = trainer.train();
    spy.mockRestore();
    // λ: the draw after the epoch's permutation (n counters), from the stream's position there
    const scratch = r.tensor([2]);
    r.randomState = { seed: r.seed, counter: epochStart + n };
    const lambda = drawBeta(r, alpha, scratch);
    net.importParams(initial);
    const refX = refMix(gathered!.x, rows, lambda), refT = refMix(gathered!.t, rows, lambda);
    const xt = r.tensor([rows, 5], refX), tt = r.tensor([rows, classes], refT);
    const byHand = net.loss(xt, tt);
    const out = { lambda, gathered: gathered!, given: given!, refX, refT, loss: result.trainLossList[0], byHand, net, rows: { xt, tt } };
    trainer.dispose(); scratch.dispose(); x.dispose(); t.dispose();
    return out;
  }

  for (const dense of [false, true]) {
    it(`${dense ? 'one-hot target rows' : 'integer labels (as one-hot rows)'}: x and t bit for bit, and the step's loss net.loss on them`, () => {
      const s = oneStep(dense);
      expect(s.lambda, 'a λ strictly inside (0, 1): both terms count').toBeGreaterThan(0.02);
      expect(s.lambda).toBeLessThan(0.98);
      expect(Array.from(s.refT), 'a batch whose reversed rows hold other labels: the targets change').not.toEqual(Array.from(s.gathered.t));
      expectBits(s.given.x, s.refX, 'mixed x');
      expectBits(s.given.t, s.refT, 'mixed t');
      // timm's formula in float64, to float32's rounding: the reference is the formula
      const l = s.lambda, g = s.gathered;
      expectClose(s.refT, g.t.map((v, i) => l * v + (1 - l) * g.t[(rows - 1 - Math.floor(i / classes)) * classes + (i % classes)]), { rtol: 1e-6, atol: 1e-7 }, 'timm\'s mixup_target');
      expect(s.loss).toBe(s.byHand);
      s.rows.xt.dispose(); s.rows.tt.dispose(); s.net.dispose();
    });
  }

  it('a net\'s label smoothing on the mixed rows is timm\'s smoothing of each one-hot before mixing', () => {
    const eps = 0.2;
    const s = oneStep(false, eps);
    expectBits(s.given.t, s.refT, 'the targets given to the net are the mixed one-hot rows');
    expect(s.loss).toBe(s.byHand);
    // timm: mixup_target(t, C, λ, smoothing) = λ·smooth(onehot(t)) + (1 − λ)·smooth(onehot(t.flip(0))), on a net without smoothing
    const off = eps / classes, on = 1 - eps + off, l = s.lambda;
    const smooth = s.gathered.t.map((v) => (v === 1 ? on : off));
    const timm = smooth.map((v, i) => l * v + (1 - l) * smooth[(rows - 1 - Math.floor(i / classes)) * classes + (i % classes)]);
    const plain = new MultiLayerNet(rt, { inputSize: 5, hiddenSizeList: [7], outputSize: classes });
    plain.importParams(s.net.exportParams());
    const tt = rt.tensor([rows, classes], timm);
    expectClose([s.loss], [plain.loss(s.rows.xt, tt)], { rtol: 1e-6 }, 'the smoothed loss');
    tt.dispose(); plain.dispose(); s.rows.xt.dispose(); s.rows.tt.dispose(); s.net.dispose();
  });
});

/** A run's record without its wall times. */
const record = (r: TrainResult) => ({ ...r, seconds: 0, epochs: r.epochs.map((e) => ({ ...e, seconds: 0 })) });

describe('a mixup run', () => {
  // 4 epochs of 5 steps of 8 rows; the net's seed and data fixed
  function setup(r: Runtime, extra: Pick<TrainerBaseOptions, 'callbacks' | 'mixup'> = {}) {
    r.randomState = { seed: 13, counter: 0 };
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [16], outputSize: 2 });
    const d = blobs(r, 40, 2);
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 4, miniBatchSize: 8, optimizer: 'adam', optimizerParams: { lr: 0.05 }, mixup: { alpha: 0.3 }, ...extra });
    const dispose = () => { trainer.dispose(); net.dispose(); d.x.dispose(); d.t.dispose(); };
    return { net, trainer, dispose };
  }
  const params = (net: MultiLayerNet) => Object.fromEntries(Object.entries(net.exportParams()).map(([k, v]) => [k, v.data]));

  it('changes the run (the steps\' losses), allocates nothing per step, and evaluates on the data unmixed', () => {
    const stats: string[] = [];
    const a = setup(rt, { callbacks: { onStepEnd: ({ iter }) => { if (iter > 5) stats.push(JSON.stringify(rt.memoryStats())); } } });
    const mixed = a.trainer.train();
    // from the second epoch (the first's evaluation planned its chunks' buffers)
    expect(new Set(stats).size, 'memory after every step of epochs 2–4').toBe(1);
    expect(stats.length).toBe(15);
    // the epoch's training accuracy and test loss are the net's on the unmixed rows
    const ev = a.net.evaluate(a.trainer.xTest, a.trainer.tTest);
    expect(mixed.epochs[3].testLoss).toBe(ev.loss);
    expect(mixed.epochs[3].testAcc).toBe(ev.accuracy);
    a.dispose();
    const b = setup(rt, { mixup: undefined });
    const plain = b.trainer.train();
    b.dispose();
    expect(mixed.trainLossList).not.toEqual(plain.trainLossList);
  });

  it('a step that fails puts back its draws (λ included): the run goes on with the uninterrupted run\'s bits', () => {
    const a = setup(rt);
    const want = a.trainer.train();
    const wantParams = params(a.net);
    a.dispose();
    const b = setup(rt);
    const gradient = b.net.gradient.bind(b.net);
    let calls = 0;
    // the 7th step fails after its batch, its λ and its mixing, before the forward pass
    const spy = vi.spyOn(b.net, 'gradient').mockImplementation((x, t) => {
      if (++calls === 7) throw new Error('a failed step');
      return gradient(x, t);
    });
    expect(() => b.trainer.train()).toThrow('a failed step');
    const got = b.trainer.train();
    spy.mockRestore();
    expect(record(got)).toEqual(record(want));
    for (const [k, v] of Object.entries(params(b.net))) expectBits(v, wantParams[k], k);
    b.dispose();
  });

  for (const where of ['mid-epoch', 'at an epoch end'] as const) {
    it(`resumed from a state taken ${where}, ends with the uninterrupted run's bits`, () => {
      let state: TrainerState | null = null;
      const a = setup(rt, {
        callbacks: where === 'mid-epoch'
          ? { onStepEnd: (e) => { if (e.iter === 8) state = e.trainer.trainerState(); } }
          : { onEpochEnd: (e) => { if (e.epoch === 2) state = e.trainer.trainerState(); } },
      });
      const want = a.trainer.train();
      const wantParams = params(a.net);
      a.dispose();
      rt.randomState = { seed: 99, counter: 5 }; // elsewhere: resume() puts the stream back
      const b = setup(rt);
      b.trainer.resume(state!);
      const got = b.trainer.train();
      expect(record(got)).toEqual(record(want));
      for (const [k, v] of Object.entries(params(b.net))) expectBits(v, wantParams[k], k);
      b.dispose();
    });
  }
});

describe('a mixup run on 1 and 2 threads', () => {
  it('has the same bits, and an MLP\'s mixed steps run its row chain on 2 threads', async () => {
    // 784-[100, 37, 100]-10 at 24 rows: the chain's size (test/threads.test.ts)
    const N = 72, B = 24;
    async function run(threads: number) {
      const r = await makeRuntime({ seed: 21, threads, busyCores: 'split' }); // split even while other test files busy the cores
      await r.ready;
      const net = new MultiLayerNet(r, { inputSize: 784, hiddenSizeList: [100, 37, 100], outputSize: 10 });
      const x = r.tensor([N, 784], randomArray(N * 784, 6, -1, 1));
      const t = r.labels([N], Array.from({ length: N }, (_, i) => (i * 7 + 3) % 10));
      const jobs = r.threadStats().jobs;
      const spy = vi.spyOn(r, 'runParts');
      const trainer = new Trainer(net, x, t, x, t, { epochs: 2, miniBatchSize: B, adaptiveThreads: false, optimizer: 'adam', mixup: { alpha: 0.5 } });
      const result = trainer.train();
      const chained = spy.mock.calls.filter(([name]) => name === 'runChain').length;
      spy.mockRestore();
      const out = { result, params: Object.fromEntries(Object.entries(net.exportParams()).map(([k, v]) => [k, v.data])), split: r.threadStats().jobs - jobs, chained };
      trainer.dispose(); net.dispose(); x.dispose(); t.dispose(); r.dispose();
      return out;
    }
    const one = await run(1), two = await run(2);
    expect(two.split, 'calls split across the 2 threads').toBeGreaterThan(0);
    expect(two.chained, 'each of the 6 steps ran its rows through the chain').toBeGreaterThanOrEqual(6);
    expect(record(two.result)).toEqual(record(one.result));
    for (const k of Object.keys(one.params)) expectBits(two.params[k], one.params[k], `${k} on 2 threads`);
  });
});

describe('TrainerOptions.mixup: bad values', () => {
  it('are refused naming mixup.alpha (or the unknown key) before anything is allocated', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(rt, 20, 1);
    const make = (mixup: unknown) => () => new Trainer(net, d.x, d.t, d.x, d.t, { mixup: mixup as never });
    for (const alpha of [0, -1, NaN, Infinity]) {
      expect(make({ alpha }), String(alpha)).toThrow(RangeError);
      expect(make({ alpha }), String(alpha)).toThrow(`Trainer: mixup.alpha must be a positive finite number (Beta(α, α)'s α, e.g. 0.2 or 1), got ${String(alpha)}`);
    }
    expect(make({ alpha: '1' })).toThrow(new TypeError('Trainer: mixup.alpha must be a positive finite number (Beta(α, α)\'s α, e.g. 0.2 or 1), got the string "1"'));
    expect(make({})).toThrow(/Trainer: mixup.alpha must be a positive finite number .*got undefined/);
    expect(make({ alpha: 1, beta: 2 })).toThrow(new TypeError("Trainer: mixup: unknown option 'beta' (expected one of alpha)"));
    expect(make(0.4)).toThrow(new TypeError('Trainer: mixup must be { alpha }, got number 0.4'));
    expect(make(null)).toThrow(/Trainer: mixup must be \{ alpha \}, got null/);
    const before = JSON.stringify(rt.memoryStats());
    expect(make({ alpha: 0 })).toThrow(RangeError);
    expect(JSON.stringify(rt.memoryStats()), 'nothing left allocated').toBe(before);
    net.dispose(); d.x.dispose(); d.t.dispose();
  });
});
