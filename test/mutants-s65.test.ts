// Behaviour of session 65's new code that no other test pinned down, each found by a mutant that every
// other test let through (session 65's mutation run): classificationMetrics' NaN rows and top-k count
// over every column, mixup of the augmented batch, mixup's λ as the documented Marsaglia–Tsang draws (a rejected try with 1 + cx ≤ 0,
// X / (X + Y) in draw order), OneCycleLR at a phase's integer end (PyTorch's step_num <= end_step), a
// resumed cycling schedule's momentum after the first period, the ema's averages in trainerState() and
// resume() at and right after step 0, summary's width check and tensor-size limit, lrFinder's minimum at
// the first of equal smoothed losses (torch.argmin), and exactExp just above half the smallest subnormal.
// Node and Chromium.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { makeRuntime } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import { scheduleTrainer, stateTakenAt } from './helpers/schedule-trainer.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { drawBeta } from '../src/train/mixup.js';
import { exactExp, exactLn } from '../src/runtime/exact-math.js';
import { MAX_ELEMENTS } from '../src/runtime/tensor.js';
import {
  Adam, Affine, Convolution, Flatten, MultiLayerNet, Nesterov, OneCycleLR, Sequential, Trainer, classificationMetrics, lrFinderSuggestions, type TrainerBaseOptions, type TrainerState,
} from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 65 }); });
afterAll(() => rt.dispose());

/** A net whose outputs are x + b (an identity Affine, exact in float32). */
function shiftNet(C: number, bias: number[]) {
  const W = rt.tensor([C, C]);
  for (let i = 0; i < C; i++) W.data[i * C + i] = 1;
  const b = rt.tensor([C], Float32Array.from(bias));
  const net = new Sequential(rt, [new Affine(W, b)]);
  return { net, dispose: () => { net.dispose(); W.dispose(); b.dispose(); } };
}

describe('classificationMetrics: every column counts', () => {
  it('a row whose NaN is in its first column only is invalid (not predicted as class 0)', () => {
    // the bias puts NaN in column 0 of every output row and nowhere else
    const { net, dispose } = shiftNet(3, [NaN, 0, 0]);
    const x = rt.tensor([4, 3], Float32Array.from([1, 2, 3, /**/ 3, 2, 1, /**/ 0, 0, 5, /**/ 1, 1, 1]));
    const m = classificationMetrics(net, x, [0, 0, 2, 1]);
    expect(m.invalid).toBe(4);
    expect(m.confusion).toEqual([[0, 0, 0], [0, 0, 0], [0, 0, 0]]);
    expect(m.accuracy).toBe(0);
    x.dispose();
    dispose();
  });

  it('top-k counts a higher score in the last column against the true class', () => {
    const { net, dispose } = shiftNet(3, [0, 0, 0]);
    // the true class 0 is third: classes 1 and 2 (the last column) score higher
    const x = rt.tensor([2, 3], Float32Array.from([0, 1, 2, /**/ 0, 2, 1]));
    const m = classificationMetrics(net, x, [0, 2], { topK: 2 });
    expect(m.topK).toEqual({ k: 2, accuracy: 1 / 2 }); // row 0 out (2 higher), row 1 in (1 higher)
    x.dispose();
    dispose();
  });
});

describe('drawBeta: the documented draws', () => {
  /** log Gamma(a, 1) by Marsaglia and Tsang as the doc states it, from the public randn/uniform draws (2 and 1 counters). */
  function refLogGamma(a: number, n: Tensor, u: Tensor, rejected: { w: number }): number {
    const d = (a < 1 ? a + 1 : a) - 1 / 3, c = 1 / Math.sqrt(9 * d);
    let logG: number;
    for (;;) {
      const x = rt.randn(n).data[0], uu = rt.uniform(u).data[0];
      const w = 1 + c * x;
      if (w <= 0) { rejected.w++; continue; }
      const v = w * w * w;
      if (uu < 1 - 0.0331 * x ** 4 || exactLn(uu) < 0.5 * x * x + d * (1 - v + exactLn(v))) { logG = exactLn(d * v); break; }
    }
    if (a < 1) logG += exactLn(1 - rt.uniform(u).data[0]) / a;
    return logG;
  }

  it('α = 0.2 over 5,000 λs: X / (X + Y) of X, Y drawn in that order, a try with 1 + cx ≤ 0 drawn again', () => {
    const scratch = rt.tensor([2]), n = rt.tensor([1]), u = rt.tensor([1]);
    const at = { seed: 65, counter: 0 };
    rt.randomState = at;
    const got = Array.from({ length: 5000 }, () => drawBeta(rt, 0.2, scratch));
    const end = rt.take(0);
    rt.randomState = at;
    const rejected = { w: 0 };
    const want = Array.from({ length: 5000 }, () => {
      const lx = refLogGamma(0.2, n, u, rejected), ly = refLogGamma(0.2, n, u, rejected);
      return 1 / (1 + exactExp(ly - lx));
    });
    expect(rejected.w, 'the draws include tries with 1 + cx ≤ 0').toBeGreaterThan(0);
    expect(rt.take(0)).toBe(end);
    expect(got).toEqual(want); // every λ to the bit
    scratch.dispose(); n.dispose(); u.dispose();
  });
});

describe('OneCycleLR at a phase\'s integer end', () => {
  it('computes the phase ending there (PyTorch\'s step_num <= end_step): its linear end value as PyTorch rounds it', () => {
    // three phases ending at 1, 2, 9: period 2 is phase 2 at pct 1, (0.004 − 0.1)·1 + 0.1, not phase 3's start 0.004
    const s = new OneCycleLR({ maxLr: 0.1, totalSteps: 10, pctStart: 0.2, annealStrategy: 'linear', threePhase: true });
    expect(s.lrAt(2)).toBe((0.004 - 0.1) * 1 + 0.1);
    expect(s.lrAt(2)).toBe(0.0040000000000000036);
  });
});

describe('a cycling schedule resumed after its first period', () => {
  for (const interval of ['step', 'epoch'] as const) {
    it(`per ${interval}: the optimizer gets period 0's momentum, as the uninterrupted run's had`, async () => {
      const at = interval === 'step' ? 'step 1' : 'epoch 1';
      const options = (): TrainerBaseOptions => ({ epochs: 5, lrSchedule: new OneCycleLR({ maxLr: 0.4, totalSteps: interval === 'step' ? 50 : 5, pctStart: 0.5, interval }) });
      const wantOpt = new Nesterov({ lr: 0.1 });
      let want: number[] = [];
      const note = (key: string) => { if (key === at) want = [wantOpt.lr, wantOpt.momentum]; };
      const w = await scheduleTrainer(wantOpt, { ...options(), callbacks: { onEpochEnd: (e) => note(`epoch ${e.epoch}`), onStepEnd: (e) => note(`step ${e.iter}`) } });
      w.trainer.train();
      w.end();
      const state = await stateTakenAt(new Nesterov({ lr: 0.1 }), options(), at);
      const opt = new Nesterov({ lr: 0.1, momentum: 0.5 });
      const again = await scheduleTrainer(opt, options());
      again.trainer.resume(state);
      expect(want[1], 'period 0\'s momentum is not the optimizer\'s own').not.toBe(0.5);
      expect([opt.lr, opt.momentum]).toEqual(want);
      again.end();
    });
  }
});

describe('summary: where a layer does not fit', () => {
  it('refuses a filter that fits the height but not the width', () => {
    const t = (shape: number[]) => rt.tensor(shape);
    const free = new Sequential(rt, [new Convolution(t([2, 1, 3, 3]), t([2])), new Flatten()]);
    expect(() => free.summary([1, 9, 2])).toThrow(new RangeError('summary: inputShape [1, 9, 2] does not fit layers[0] (Convolution): a 3×3 filter with pad 0 does not fit a 9×2 input'));
    free.dispose();
  });

  it('takes an output of exactly the elements a tensor holds, and refuses one above (not only far above)', () => {
    const t = (shape: number[]) => rt.tensor(shape);
    // 536870896 = 16 · 18631 · 1801
    expect(16 * 18631 * 1801).toBe(MAX_ELEMENTS);
    const exact = new Sequential(rt, [new Convolution(t([16, 1, 1, 1]), t([16])), new Flatten()]);
    expect(exact.summary([1, 18631, 1801]).rows[0].outputShape).toEqual([null, 16, 18631, 1801]);
    exact.dispose();
    // 9 · 8192² is 1.125 times the limit
    const over = new Sequential(rt, [new Convolution(t([9, 1, 1, 1]), t([9])), new Flatten()]);
    expect(() => over.summary([1, 8192, 8192])).toThrow(new RangeError(
      `summary: inputShape [1, 8192, 8192] does not fit layers[0] (Convolution): its output (None, 9, 8192, 8192) holds more than the ${MAX_ELEMENTS} elements a tensor holds`));
    over.dispose();
  });
});

describe('exactExp near the smallest subnormal', () => {
  it('rounds e^y above half of 2^-1074 up to it (mpmath: e^-745.13, e^-745.1 > 2^-1075 > e^-745.14)', () => {
    expect([exactExp(-745.1), exactExp(-745.12), exactExp(-745.13), exactExp(-745.14), exactExp(-745.2)]).toEqual([5e-324, 5e-324, 5e-324, 0, 0]);
  });
});

describe('TrainerOptions.ema at the run\'s start', () => {
  /** A 2-[8]-2 net's Trainer on 60 rows of two blobs, 3 steps an epoch, on a runtime of its own. */
  async function emaTrainer(options: TrainerBaseOptions) {
    const r = await makeRuntime({ seed: 9 });
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
    const d = blobs(r, 60, 1);
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 2, miniBatchSize: 20, optimizer: new Adam({ lr: 0.05 }), ...options });
    return { trainer, end: () => { trainer.dispose(); r.dispose(); } };
  }

  it('a state taken before the first step holds no averages, and resuming one drops the averages a finished run had', async () => {
    const s = await emaTrainer({ ema: { decay: 0.9 } });
    const start = s.trainer.trainerState();
    expect(start.ema).toBeNull();
    s.trainer.train();
    expect(s.trainer.emaParams()).not.toBeNull();
    s.trainer.resume(start);
    expect(s.trainer.emaParams(), 'back at step 0: no averages yet').toBeNull();
    s.end();
  });

  it('refuses a state after step 1 of a run without ema', async () => {
    let after1: TrainerState | null = null;
    const plain = await emaTrainer({ callbacks: { onStepEnd: (e) => { if (e.iter === 1) after1 = e.trainer.trainerState(); } } });
    plain.trainer.train();
    plain.end();
    const s = await emaTrainer({ ema: { decay: 0.9 } });
    expect(() => s.trainer.resume(after1!)).toThrow(/^Trainer\.resume: this Trainer keeps an ema of the parameters, and the state \(after step 1\) holds none/);
    s.end();
  });
});

describe('lrFinderSuggestions: minimum', () => {
  it('takes the first of equal smoothed minima, as fastai\'s lrs[losses.argmin()] (torch.argmin: the first)', () => {
    const lrs = Array.from({ length: 20 }, (_, i) => 2 ** i);
    // steps 20: fastai reads points 2 … 14; the minimum 0.5 at points 5 and 9
    const smoothed = lrs.map((_, i) => (i === 5 || i === 9 ? 0.5 : 1 + i / 100));
    expect(lrFinderSuggestions(lrs, smoothed, 20).minimum).toBe(2 ** 5 / 10);
  });
});

describe('mixup after augmentation', () => {
  it('mixes the batch an augment function returned, not the gathered one', async () => {
    const r = await makeRuntime({ seed: 11 });
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(r, 30, 1);
    // every row of the augmented batch is (7, −3): mixed with itself it stays within float32 rounding of it
    const aug = r.tensor([6, 2], Float32Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? 7 : -3)));
    const seen: Float32Array[] = [];
    const gradient = net.gradient.bind(net);
    const spy = vi.spyOn(net, 'gradient').mockImplementation((gx, gt) => { seen.push(gx.toArray()); return gradient(gx, gt); });
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { maxIterations: 2, miniBatchSize: 6, mixup: { alpha: 0.4 }, augment: () => aug });
    trainer.train();
    spy.mockRestore();
    expect(seen.length).toBe(2);
    for (const gx of seen) gx.forEach((v, i) => expect(Math.abs(v - (i % 2 === 0 ? 7 : -3)), `element ${i}`).toBeLessThan(1e-5));
    trainer.dispose(); aug.dispose(); r.dispose();
  });
});
