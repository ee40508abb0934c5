// The learning-rate range test (lrFinder, lrFinderAsync): its rates against the formula, its smoothing and
// suggestions against a float64 transcription of fastai's code (fastai/fastai 0a049e8a, callback/schedule.py and
// learner.py) written here, a run whose valley trains the net, and everything it touches put back bit for bit however
// it ends.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, rng } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import { expectRefused } from './helpers/refused.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { IntTensor, Tensor } from '../src/runtime/tensor.js';
import { exactPow, exactPowInt } from '../src/runtime/exact-math.js';
import {
  Adam, MultiLayerNet, MultiLayerNetExtend, SGD, Trainer, lrFinder, lrFinderAsync, lrFinderRate, lrFinderSuggestions, smoothLosses,
  type Optimizer, type OptimizerState, type Sequential,
} from '../src/index.js';
import { ConcurrentRunError, NonFiniteError } from '../src/runtime/errors.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 7 }); });

// ---- fastai's code, transcribed in float64 (Python semantics: negative indices, slices, int() truncation)

/** Python's seq[i] for i in [-len, len). */
const pyAt = <T>(a: readonly T[], i: number): T => {
  if (i < -a.length || i >= a.length) throw new RangeError(`IndexError ${i}`);
  return a[i < 0 ? a.length + i : i];
};

/**
 * Python's `0.98 ** count`: glibc's pow, correctly rounded, which exactPowInt is too and V8's `**` is not always
 * (0.98 ** 11: Python 0.8007313507497958, V8 0.8007313507497957); checked against Python's values below.
 */
const pyPow98 = (n: number) => exactPowInt(0.98, n);

/** Recorder's AvgSmoothLoss: val = torch.lerp(loss, val, beta); value = val / (1 - beta**count). */
function fastaiSmooth(losses: number[]): number[] {
  const beta = 0.98;
  let val = 0, count = 0;
  return losses.map((loss) => {
    count += 1;
    val = loss + beta * (val - loss);
    return val / (1 - pyPow98(count));
  });
}

function fastaiValley(lrs: number[], losses: number[]): number {
  const n = losses.length;
  let maxStart = 0, maxEnd = 0;
  const lds = Array(n).fill(1) as number[];
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i] < losses[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
      if (lds[maxEnd] < lds[i]) { maxEnd = i; maxStart = maxEnd - lds[maxEnd]; }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  const idx = maxStart + Math.trunc(sections) + Math.trunc(sections / 2);
  return pyAt(lrs, idx);
}

function fastaiSteep(lrs: number[], losses: number[]): number {
  const grads = losses.slice(1).map((l, i) => (l - losses[i]) / (Math.log(lrs[i + 1]) - Math.log(lrs[i])));
  if (grads.length === 0) throw new RangeError('argmin of an empty tensor');
  let arg = 0;
  grads.forEach((g, i) => { if (g < grads[arg]) arg = i; });
  return lrs[arg];
}

function fastaiMinimum(lrs: number[], losses: number[]): number {
  if (losses.length === 0) throw new RangeError('argmin of an empty tensor');
  let arg = 0;
  losses.forEach((l, i) => { if (l < losses[arg]) arg = i; });
  return lrs[arg] / 10;
}

/** lr_find's tail: lrs and losses [num_it//10 : -5], cut at the first NaN, then each function (null where it raises). */
function fastaiSuggestions(lrs: number[], losses: number[], numIt: number) {
  const cut = (a: number[]) => a.slice(Math.floor(numIt / 10), Math.max(0, a.length - 5));
  let l = cut(lrs), s = cut(losses);
  const nan = s.findIndex(Number.isNaN);
  if (nan >= 0) { l = l.slice(0, nan); s = s.slice(0, nan); }
  const attempt = (f: (a: number[], b: number[]) => number) => { try { return f(l, s); } catch { return null; } };
  return { valley: attempt(fastaiValley), steep: attempt(fastaiSteep), minimum: attempt(fastaiMinimum) };
}

/** Rates of an n-step test from 1e-7 to 10 (what lrFinder records). */
const ratesOf = (n: number) => Array.from({ length: n }, (_, i) => lrFinderRate(1e-7, 10, i, n));

/** Fixed loss curves: a noisy U, one that turns NaN, one that diverges, and short ones for the edge cases. */
function curves(): Record<string, { losses: number[]; numIt: number }> {
  const r = rng(11);
  const u = Array.from({ length: 100 }, (_, i) => 2.3 - 2 * Math.sin((Math.PI * Math.min(i, 80)) / 100) + (i > 80 ? (i - 80) * 0.3 : 0) + 0.05 * r());
  const withNaN = u.map((v, i) => (i >= 61 ? NaN : v));
  const diverging = Array.from({ length: 57 }, (_, i) => (i < 40 ? 2.3 - i * 0.04 + 0.01 * r() : 0.7 * Math.exp((i - 40) * 0.5)));
  return {
    u: { losses: u, numIt: 100 },
    withNaN: { losses: withNaN, numIt: 100 },
    // stopped early by stopDiv: 57 points of 100 asked for
    diverging: { losses: diverging, numIt: 100 },
    // falling throughout: the valley starts at index -1 (Python reads lrs[-1], the last, for a 2-point valley)
    falling2: { losses: [5, 4, 3, 2, 1, 0.5, 0.25], numIt: 6 },
    falling: { losses: Array.from({ length: 20 }, (_, i) => 10 - i * 0.3), numIt: 20 },
    // too short for any suggestion (fastai raises): nothing left after the slices
    short: { losses: [3, 2, 1, 0.5, 0.25], numIt: 6 },
    // one point left: valley and minimum, no steep
    onePoint: { losses: [3, 2, 1, 0.5, 0.25, 0.2], numIt: 6 },
    nanFirst: { losses: [NaN, 2, 1, 0.5, 0.25, 0.2, 0.1, 0.1, 0.1], numIt: 9 },
  };
}

describe('lrFinder: fastai\'s smoothing and suggestions', () => {
  it('smoothLosses is AvgSmoothLoss (beta 0.98, debiased), exactly, NaN staying NaN', () => {
    // python3 -c "print([repr(0.98**n) for n in (4,10,11,38,39,77)])"
    expect([4, 10, 11, 38, 39, 77].map(pyPow98)).toEqual([0.9223681599999999, 0.8170728068875467, 0.8007313507497958, 0.46407788832877, 0.45479633056219465, 0.21106092070697655]);
    for (const [name, { losses }] of Object.entries(curves())) {
      expect(smoothLosses(losses), name).toEqual(fastaiSmooth(losses));
    }
    expect(smoothLosses([1, NaN, 1]).map(Number.isNaN)).toEqual([false, true, true]);
  });

  it('valley, steep and minimum are fastai\'s on the smoothed curves, exactly (null where fastai raises)', () => {
    const seen = new Set<string>();
    for (const [name, { losses, numIt }] of Object.entries(curves())) {
      const lrs = ratesOf(Math.max(numIt, losses.length)).slice(0, losses.length);
      const smoothed = fastaiSmooth(losses);
      const ours = lrFinderSuggestions(lrs, smoothed, numIt);
      expect(ours, name).toEqual(fastaiSuggestions(lrs, smoothed, numIt));
      for (const [k, v] of Object.entries(ours)) seen.add(`${k}:${v === null ? 'null' : 'value'}`);
    }
    // the curves reach every branch: each suggestion made, and each refused
    expect([...seen].sort()).toEqual(['minimum:null', 'minimum:value', 'steep:null', 'steep:value', 'valley:null', 'valley:value']);
    // the U's valley lies on its falling side, its minimum's rate a tenth of the bottom's
    const { losses, numIt } = curves().u;
    const s = lrFinderSuggestions(ratesOf(numIt), fastaiSmooth(losses), numIt);
    expect(s.valley!).toBeLessThan(ratesOf(numIt)[60]);
    expect(s.valley!).toBeGreaterThan(ratesOf(numIt)[10]);
  });

  it('of two equally long valleys, valley keeps the first, as fastai\'s strict comparison does', () => {
    const curve = [3, 2, 1, 6, 5, 4.5, 9, 9, 9, 9, 9];
    const lrs = curve.map((_, i) => 2 ** i);
    expect(lrFinderSuggestions(lrs, curve, 6)).toEqual(fastaiSuggestions(lrs, curve, 6));
    // the first 6 points: lds [1, 2, 3, 1, 2, 3], so max_end 2, max_start −1, idx 0 (the later valley's: lrs[3])
    expect(lrFinderSuggestions(lrs, curve, 6).valley).toBe(1);
  });

  it('the 2-point falling valley reads the last rate, as Python\'s lrs[-1]', () => {
    const lrs = [1, 2, 3, 4, 5, 6, 7];
    expect(lrFinderSuggestions(lrs, [5, 4, 3, 2, 1, 0.5, 0.25], 6).valley).toBe(2);
    // [0:2] of 7 points is [5, 4]: max_start -1, sections 2/3, idx -1: the last of the two
  });
});

// ---- runs

function mlp(r: Runtime = rt, hidden = [16]): MultiLayerNet {
  return new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: hidden, outputSize: 2 });
}

/** The parameters' and layer state's bits. */
function bitsOf(net: Sequential): Record<string, number[]> {
  return Object.fromEntries(Object.entries(net.exportParams()).map(([k, v]) => [k, Array.from(new Uint32Array(Float32Array.from(v.data).buffer))]));
}

/**
 * A first pass of `net` over batches of `batch` rows (and the Trainer's one-row evaluation) makes the layers' buffers
 * for those shapes, which the net keeps, as after any training; the memory is compared from the second test on.
 */
function warm(net: Sequential, x: Tensor, t: IntTensor, batch: number): void {
  lrFinder(net, x, t, { steps: 6, batchSize: batch, stopDiv: false });
}

/** Everything a test must leave as it was. */
function everything(net: Sequential, opt?: Optimizer & { lr: number; state(): OptimizerState }) {
  const m = net.rt.memoryStats();
  return {
    params: bitsOf(net), random: net.rt.randomState, memory: { used: m.used, blocks: m.blocks },
    ...(opt ? { lr: opt.lr, optimizer: JSON.stringify(opt.state()) } : {}),
  };
}

describe('lrFinder: runs', () => {
  it('records one rate per step, equal to startLr·(endLr/startLr)^(i/(steps−1)) in exact math, and the Trainer\'s losses', () => {
    const { x, t } = blobs(rt, 120, 1);
    const net = mlp();
    const r = lrFinder(net, x, t, { startLr: 1e-5, endLr: 3, steps: 40, batchSize: 30, stopDiv: false, optimizerParams: { lr: 0.5 } });
    expect(r.stopReason).toBe('completed');
    expect(r.lrs).toHaveLength(40);
    r.lrs.forEach((lr, i) => expect(lr, `step ${i}`).toBe(1e-5 * exactPow(3 / 1e-5, i / 39)));
    expect(r.lrs[0]).toBe(1e-5);
    expect(r.lrs[39]).toBeCloseTo(3, 12);
    expect(r.smoothed).toEqual(fastaiSmooth(r.losses));
    expect(r.suggestions).toEqual(fastaiSuggestions(r.lrs, r.smoothed, 40));
    // the steps are a Trainer's with those rates on the same seeded stream (permutation batches of 30 rows)
    const rates = { name: 'rates', interval: 'step' as const, lrAt: (k: number) => r.lrs[k] };
    const trainer = new Trainer(net, x, t, x, t, { maxIterations: 40, miniBatchSize: 30, lrSchedule: rates, evaluateSampleNumPerEpoch: 1 });
    const state = everything(net);
    expect(trainer.train().trainLossList).toEqual(r.losses);
    trainer.dispose();
    net.importParams(Object.fromEntries(Object.entries(state.params).map(([k, v]) => [k, { shape: net.params[k]?.shape ?? net.state[k].shape, data: new Float32Array(new Uint32Array(v).buffer) }])));
    rt.randomState = state.random;
    // a second test from the same state gives the same bits
    expect(lrFinder(net, x, t, { startLr: 1e-5, endLr: 3, steps: 40, batchSize: 30, stopDiv: false, optimizerParams: { lr: 0.5 } })).toEqual(r);
    net.dispose(); x.dispose(); t.dispose();
  });

  it('suggests a valley rate at which SGD trains the net, where 100 times it does far worse', async () => {
    const rt = await makeRuntime({ seed: 7 });
    const { x, t } = blobs(rt, 400, 2);
    const net = mlp(rt, [32, 32]);
    const r = lrFinder(net, x, t, { optimizer: 'sgd', startLr: 1e-5, endLr: 1e3, steps: 100, batchSize: 40 });
    const valley = r.suggestions.valley!;
    expect(valley).toBeGreaterThan(1e-3);
    const run = (lr: number): number => {
      const copy = mlp(rt, [32, 32]);
      copy.importParams(net.exportParams());
      const tr = new Trainer(copy, x, t, x, t, { maxIterations: 100, miniBatchSize: 40, optimizerParams: { lr }, evaluateSampleNumPerEpoch: 1 });
      let last: number;
      try {
        const losses = tr.train().trainLossList;
        last = losses.slice(-10).reduce((a, b) => a + b, 0) / 10;
      } catch (e) {
        expect(e).toBeInstanceOf(NonFiniteError); // diverged to NaN/Inf
        last = Infinity;
      } finally {
        tr.dispose();
        copy.dispose();
      }
      return last;
    };
    const first = r.losses[0];
    const atValley = run(valley), at100 = run(valley * 100);
    expect(atValley).toBeLessThan(first * 0.5);
    expect(at100).toBeGreaterThan(atValley * 3);
    await rt.dispose();
  });

  it('stopDiv ends the test once the smoothed loss passes 4× its best; the NaN of a run without it ends it too', () => {
    const { x, t } = blobs(rt, 200, 3);
    const net = mlp();
    warm(net, x, t, 50);
    const before = everything(net);
    const r = lrFinder(net, x, t, { startLr: 1e-3, endLr: 1e7, steps: 100, batchSize: 50 });
    expect(r.stopReason).toBe('diverged');
    expect(r.lrs.length).toBeLessThan(100);
    const last = r.smoothed.length - 1;
    const best = (k: number) => Math.min(...r.smoothed.slice(0, k + 1));
    expect(r.smoothed[last]).toBeGreaterThan(4 * best(last));
    for (let k = 0; k < last; k++) expect(r.smoothed[k] > 4 * best(k), `step ${k}`).toBe(false);
    expect(r.suggestions).toEqual(fastaiSuggestions(r.lrs, r.smoothed, 100));
    expect(everything(net)).toEqual(before);
    const n = lrFinder(net, x, t, { startLr: 1e-3, endLr: 1e30, steps: 100, batchSize: 50, stopDiv: false });
    expect(n.stopReason).toBe('nonFinite');
    expect(n.lrs.length).toBeLessThan(100);
    // the last step's loss not finite (NaN where only its gradients overflowed, as the next loss would be)
    expect(Number.isFinite(n.losses.at(-1))).toBe(false);
    expect(Number.isFinite(n.smoothed.at(-1))).toBe(false);
    expect(n.losses.slice(0, -1).every(Number.isFinite)).toBe(true);
    expect(n.lrs.at(-1)).toBe(lrFinderRate(1e-3, 1e30, n.lrs.length - 1, 100));
    expect(n.suggestions).toEqual(fastaiSuggestions(n.lrs, n.smoothed, 100));
    expect(everything(net)).toEqual(before);
    net.dispose(); x.dispose(); t.dispose();
  });
});

describe('lrFinder: everything put back', () => {
  /** A batch-norm net and an Adam that has stepped (state in its arena), or a fresh one. */
  function setup(stepped: boolean) {
    const { x, t } = blobs(rt, 100, 4);
    const net = new MultiLayerNetExtend(rt, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2, useBatchnorm: true });
    const adam = new Adam({ lr: 0.0123 });
    if (stepped) {
      const tr = new Trainer(net, x, t, x, t, { maxIterations: 3, miniBatchSize: 20, optimizer: adam });
      tr.train();
      tr.dispose();
    }
    warm(net, x, t, 20);
    return { x, t, net, adam, free: () => { net.dispose(); adam.dispose(); x.dispose(); t.dispose(); } };
  }

  for (const stepped of [true, false]) {
    it(`after a run, a divergence, a NaN, a throwing onStep and a throwing optimizer (Adam ${stepped ? 'stepped' : 'fresh'})`, () => {
      const { x, t, net, adam, free } = setup(stepped);
      const before = everything(net, adam);
      lrFinder(net, x, t, { optimizer: adam, steps: 20, batchSize: 20 });
      expect(everything(net, adam), 'a run').toEqual(before);
      expect(lrFinder(net, x, t, { optimizer: adam, startLr: 1, endLr: 1e9, steps: 50, batchSize: 20 }).stopReason).toBe('diverged');
      expect(everything(net, adam), 'a divergence').toEqual(before);
      expect(lrFinder(net, x, t, { optimizer: adam, startLr: 1, endLr: 1e38, steps: 50, batchSize: 20, stopDiv: false }).stopReason).toBe('nonFinite');
      expect(everything(net, adam), 'a NaN').toEqual(before);
      const boom = new Error('boom');
      expect(() => lrFinder(net, x, t, { optimizer: adam, steps: 20, batchSize: 20, onStep: ({ step }) => { if (step === 5) throw boom; } })).toThrow(boom);
      expect(everything(net, adam), 'a throw').toEqual(before);
      free();
    });

    it(`after an abort part way (Adam ${stepped ? 'stepped' : 'fresh'})`, async () => {
      const { x, t, net, adam, free } = setup(stepped);
      const before = everything(net, adam);
      const ac = new AbortController();
      let steps = 0;
      await expect(lrFinderAsync(net, x, t, { optimizer: adam, steps: 30, batchSize: 20, signal: ac.signal, onStep: () => { if (++steps === 7) ac.abort('stop'); } })).rejects.toBe('stop');
      expect(steps).toBe(7);
      expect(everything(net, adam)).toEqual(before);
      // and unaborted, the async test gives the sync one's bits
      const a = await lrFinderAsync(net, x, t, { optimizer: adam, steps: 30, batchSize: 20 });
      expect(everything(net, adam)).toEqual(before);
      expect(lrFinder(net, x, t, { optimizer: adam, steps: 30, batchSize: 20 })).toEqual(a);
      free();
    });
  }

  it('after an optimizer that throws part way (its lr and state put back)', () => {
    const { x, t } = blobs(rt, 100, 5);
    const net = mlp();
    let updates = 0, kept = { t: 0 };
    const foreign = {
      name: 'Foreign', lr: 0.25,
      update(params: Record<string, { size: number }>) { if (++updates === 4) throw new Error('update failed'); kept = { t: kept.t + 1 }; void params; },
      state: () => ({ optimizer: 'Foreign', t: kept.t, params: {} }) as OptimizerState,
      loadState: (s: OptimizerState) => { kept = { t: s.t }; },
    } as unknown as Optimizer & { lr: number; state(): OptimizerState };
    warm(net, x, t, 10);
    const before = everything(net, foreign);
    expect(() => lrFinder(net, x, t, { optimizer: foreign, steps: 10, batchSize: 10 })).toThrow('update failed');
    expect(everything(net, foreign)).toEqual(before);
    net.dispose(); x.dispose(); t.dispose();
  });

  it('refuses bad options, naming them, before anything changes', async () => {
    const { x, t } = blobs(rt, 50, 6);
    const net = mlp();
    const sgd = new SGD({ lr: 0.1 });
    const before = everything(net, sgd);
    const bad: Array<[object, RegExp]> = [
      [{ startLr: 0 }, /startLr must be a positive finite number, got 0/],
      [{ startLr: NaN }, /startLr/],
      [{ startLr: '1' }, /startLr/],
      [{ endLr: 1e-7 }, /endLr must be a finite number above startLr/],
      [{ endLr: Infinity }, /endLr/],
      [{ steps: 5 }, /steps must be an integer of at least 6/],
      [{ steps: 10.5 }, /steps/],
      [{ batchSize: 0 }, /batchSize must be a positive integer/],
      [{ stopDiv: 'yes' }, /stopDiv must be true or false/],
      [{ onStep: 3 }, /onStep must be a function/],
      [{ epochs: 3 }, /unknown option 'epochs'/],
      [{ optimizer: sgd, optimizerParams: { lr: 1 } }, /optimizerParams configures an optimizer given by name/],
      [{ optimizer: {} }, /optimizer must be an optimizer/],
      [{ optimizer: { name: 'NoLr', update() {} } }, /optimizer NoLr has no lr/],
      [{ optimizer: { name: 'NoState', lr: 1, update() {} } }, /optimizer NoState has no state\(\) and loadState\(\)/],
      [{ optimizer: 'sgdd' }, /sgdd/],
    ];
    for (const [options, message] of bad) {
      expectRefused(rt, () => lrFinder(net, x, t, { optimizer: sgd, ...options } as never), Error, message);
      expect(everything(net, sgd), String(message)).toEqual(before);
    }
    await expect(lrFinderAsync(net, x, t, { signal: 'x' as never })).rejects.toThrow(/signal must be an AbortSignal/);
    expect(() => lrFinder(net, x, t, { signal: new AbortController().signal } as never)).toThrow(/unknown option 'signal'/);
    expect(() => lrFinder({} as never, x, t)).toThrow(/net must be a net/);
    // the data, as the Trainer checks its training set, named as this function's arguments
    const short = rt.labels([49], new Int32Array(49));
    expectRefused(rt, () => lrFinder(net, x, short), RangeError, /^lrFinder: t /);
    const wide = rt.tensor([50, 3]);
    expectRefused(rt, () => lrFinder(net, wide, t), Error, /^lrFinder: x /);
    short.dispose(); wide.dispose();
    expect(everything(net, sgd)).toEqual(before);
    net.dispose(); sgd.dispose(); x.dispose(); t.dispose();
  });

  it('is refused from a running Trainer\'s callback, the run\'s parameters and stream left to it', () => {
    const { x, t } = blobs(rt, 50, 8);
    const net = mlp();
    const sgd = new SGD({ lr: 0.1 });
    let refused: unknown;
    const tr = new Trainer(net, x, t, x, t, { maxIterations: 2, miniBatchSize: 10, optimizer: sgd, callbacks: { onStepEnd: () => {
      const inRun = everything(net, sgd);
      try { lrFinder(net, x, t); } catch (e) { refused = e; }
      expect(everything(net, sgd)).toEqual(inRun);
    } } });
    tr.train();
    tr.dispose();
    expect(refused).toBeInstanceOf(ConcurrentRunError);
    expect((refused as Error).message).toMatch(/^lrFinder: a Trainer is training on this runtime/);
    net.dispose(); sgd.dispose(); x.dispose(); t.dispose();
  });
});
