// Behaviour of the training helpers and data utilities that no other test pinned down, each found by a mutant
// that every other test let through (session 68's mutation run over src/train, src/data and the schedules):
// lrFinder's own defaults (fastai's start_lr 1e-7, end_lr 10, num_it 100, and batches of 100 rows) and its
// optimizerParams for the default SGD, stopDiv's best loss counting the first step, the +Infinity loss of a
// step whose weight-decay term overflowed, suggestions that keep an infinite loss (fastai cuts at the first
// NaN only), early stopping resumed from a warm-up epoch's checkpoint with patience 0, numpy.kaiser(1, β), the
// book's smooth_curve on 8 to 10 points (its slices mirror what the series has), Keras's count of validation
// rows where ⌈N·rate⌉ differs, firstRows' rows, an image of exactly MAX_ELEMENTS pixels, optimizeScalars of 0
// steps, and the checks of a one-hot row of two ones and of RandomAffine's degrees and shift. Node and Chromium.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { makeRuntime, expectClose } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { MAX_ELEMENTS } from '../src/runtime/tensor.js';
import {
  Dataset, MultiLayerNet, RandomAffine, SGD, Trainer, firstRows, kaiserWindow, lrFinder, lrFinderSuggestions, optimizeScalars, smoothCurve,
  type TrainResult,
} from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 68 }); });
afterAll(() => rt.dispose());

describe('lrFinder: its defaults', () => {
  it('are fastai\'s lr_find range and length (1e-7 to 10 over 100 steps), stopDiv on, batches of 100 rows', () => {
    const { x, t } = blobs(rt, 250, 68);
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
    const given = lrFinder(net, x, t, { optimizer: 'sgd', startLr: 1e-7, endLr: 10, steps: 100, batchSize: 100, stopDiv: true });
    const defaults = lrFinder(net, x, t, { optimizer: 'sgd' });
    expect(defaults).toEqual(given);
    expect(defaults.lrs[0]).toBe(1e-7);
    net.dispose(); x.dispose(); t.dispose();
  });

  it('optimizerParams without an optimizer configure the default SGD, as the Trainer\'s: one it does not take is refused, naming it', () => {
    const { x, t } = blobs(rt, 40, 71);
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const before = net.exportParams();
    expect(() => lrFinder(net, x, t, { steps: 6, batchSize: 10, optimizerParams: { momentum: 0.9 } as never })).toThrow(/^SGD: unknown option 'momentum'/);
    expect(net.exportParams()).toEqual(before);
    net.dispose(); x.dispose(); t.dispose();
  });
});

describe('lrFinder: stopDiv', () => {
  it('counts the first step\'s smoothed loss as the best so far: a test whose loss rises from there stops once past 4× it', () => {
    const { x, t } = blobs(rt, 200, 70);
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [16], outputSize: 2 });
    // trained first, so that the loss can only rise at the test's high rates
    const trainer = new Trainer(net, x, t, x, t, { epochs: 20, miniBatchSize: 20, optimizerParams: { lr: 0.3 } });
    trainer.train();
    trainer.dispose();
    const r = lrFinder(net, x, t, { optimizer: 'sgd', startLr: 20, endLr: 1e6, steps: 100, batchSize: 50 });
    expect(r.stopReason).toBe('diverged');
    // fastai's after_batch: best_loss from inf, lowered by every smoothed loss (the first's too), then the 4× test
    let best = Infinity, stop = -1;
    for (const [k, v] of r.smoothed.entries()) {
      best = Math.min(best, v);
      if (v > 4 * best) { stop = k; break; }
    }
    expect(stop, 'the step the test stops at').toBe(r.smoothed.length - 1);
    expect(Math.min(...r.smoothed.slice(0, -1)), 'the best before the stop is the first step\'s').toBe(r.smoothed[0]);
    net.dispose(); x.dispose(); t.dispose();
  });
});

describe('lrFinderSuggestions: a smoothed loss of +Infinity', () => {
  it('is kept, as fastai keeps it (it cuts the points at the first NaN only)', () => {
    const lrs = Array.from({ length: 11 }, (_, i) => 2 ** i);
    // steps 6: fastai reads points 0 … 5: [5, 4, ∞, 1, 3, 3]. minimum: the 1 at point 3; steep: the fall from ∞
    // (−∞) at point 2; valley: 5, 4, 1 (lds 3 ending at point 3, max_start 0, idx 0 + 1 + 0)
    const smoothed = [5, 4, Infinity, 1, 3, 3, 3, 3, 3, 3, 3];
    expect(lrFinderSuggestions(lrs, smoothed, 6)).toEqual({ valley: 2, steep: 4, minimum: 0.8 });
  });
});

describe('lrFinder: a step whose weight-decay term overflows', () => {
  it('is recorded with its loss +Infinity (the term overflowed a double), not NaN, and ends the test', () => {
    const { x, t } = blobs(rt, 40, 69);
    // ½·λ·ΣW² past 1.8e308 at the first step; its gradients λ·W overflow float32 too
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [8], outputSize: 2, weightInitStd: 1, weightDecayLambda: 1e308 });
    const r = lrFinder(net, x, t, { steps: 10, batchSize: 20 });
    expect(r.stopReason).toBe('nonFinite');
    expect(r.losses).toEqual([Infinity]);
    net.dispose(); x.dispose(); t.dispose();
  });
});

describe('kaiserWindow', () => {
  it('of one point is [1], as numpy.kaiser(1, beta) (its formula divides 0 by 0 there)', () => {
    expect(kaiserWindow(1, 2)).toEqual([1]);
    expect(kaiserWindow(1, 0)).toEqual([1]);
  });
});

describe('smoothCurve on 8 to 10 points', () => {
  /** numpy.kaiser(11, 2), as data-tensors.test.ts has it from NumPy. */
  const kaiser11 = [0.4386762798370488, 0.6113943543616491, 0.7676749968275236, 0.8921614338542881, 0.9723298008693713, 1,
    0.9723298008693713, 0.8921614338542881, 0.7676749968275236, 0.6113943543616491, 0.4386762798370488];

  /** The book's smooth_curve with Python's slices written out: x[10:0:-1], x, x[-1:-11:-1]; convolve 'valid'; y[5:len(y)-5]. */
  function bookSmooth(x: number[]): number[] {
    const n = x.length;
    const head: number[] = [];
    for (let i = Math.min(10, n - 1); i >= 1; i--) head.push(x[i]);
    const tail: number[] = [];
    for (let i = n - 1; i >= Math.max(0, n - 10); i--) tail.push(x[i]);
    const s = [...head, ...x, ...tail];
    const total = kaiser11.reduce((a, b) => a + b, 0);
    const y: number[] = [];
    for (let j = 0; j + 11 <= s.length; j++) {
      let acc = 0;
      for (let k = 0; k < 11; k++) acc += (kaiser11[10 - k] / total) * s[j + k];
      y.push(acc);
    }
    return y.slice(5, Math.max(5, y.length - 5));
  }

  it('mirrors what the series has, as the book\'s slices do: 3n − 21 points (3, 6, 9), not NaN', () => {
    for (const n of [8, 9, 10]) {
      const x = Array.from({ length: n }, (_, i) => ((i * 7) % 13) / 3 + i * 0.1);
      const want = bookSmooth(x);
      expect(want, `${n} points`).toHaveLength(3 * n - 21);
      expectClose(smoothCurve(x), want, { rtol: 1e-13 }, `${n} points`);
    }
  });
});

describe('early stopping resumed from a warm-up epoch\'s checkpoint', () => {
  /** A run's record without its wall times, which no two runs share. */
  const record = (r: TrainResult) => ({ ...r, seconds: 0, epochs: r.epochs.map((e) => ({ ...e, seconds: 0 })) });

  it('with patience 0 goes on to the uninterrupted run\'s end (no epoch watched yet: nothing said stop)', async () => {
    const run = async (checkpoints: Uint8Array[] | null) => {
      const r = await makeRuntime({ seed: 5 });
      const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
      const d = blobs(r, 40, 1, { spread: 0.5 });
      const trainer = new Trainer(net, d.x, d.t, d.x, d.t, {
        epochs: 12, miniBatchSize: 4, optimizer: new SGD({ lr: 0.5 }), validation: blobs(r, 30, 3, { spread: 0.5 }),
        earlyStopping: { patience: 0, startFromEpoch: 3 },
        ...(checkpoints ? { checkpoint: { every: 1, write: (bytes: Uint8Array) => { checkpoints.push(bytes); } } } : {}),
      });
      return { r, trainer };
    };
    const written: Uint8Array[] = [];
    const want = await run(written);
    const wantResult = want.trainer.train();
    expect(wantResult.stopReason).toBe('earlyStopping');
    expect(wantResult.epochs.length, 'the run goes past its warm-up').toBeGreaterThan(3);
    for (const epoch of [1, 2, 3]) {
      const again = await run(null);
      again.trainer.resume(written[epoch - 1]);
      expect(again.trainer.atRunEnd, `epoch ${epoch}'s checkpoint`).toBe(false);
      expect(record(again.trainer.train()), `from epoch ${epoch}`).toEqual(record(wantResult));
      again.trainer.dispose(); again.r.dispose();
    }
    want.trainer.dispose(); want.r.dispose();
  });
});

describe('Dataset.split', () => {
  it('holds out Keras\'s N − ⌊N·(1 − rate)⌋ rows where ⌈N·rate⌉ is one more: 7 of 100 at 0.07 (100 · 0.07 is 7.000000000000001)', () => {
    const x = rt.tensor([100, 1]), t = rt.labels([100], new Array<number>(100).fill(0));
    const d = new Dataset(x, t);
    const { train, validation } = d.split(0.07, 1);
    expect([train.length, validation.length]).toEqual([93, 7]);
    train.dispose(); validation.dispose(); d.dispose(); x.dispose(); t.dispose();
  });
});

describe('firstRows and the images\' size', () => {
  const images = { pixels: Uint8Array.from({ length: 24 }, (_, i) => i), labels: Uint8Array.from([5, 6, 7, 8, 9, 4]), rows: 2, cols: 2 };

  it('takes the first rows\' pixels and labels', () => {
    const head = firstRows(images, 2);
    expect(Array.from(head.labels)).toEqual([5, 6]);
    expect(Array.from(head.pixels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('an image of exactly MAX_ELEMENTS pixels (a tensor\'s most elements) is taken, one more refused', () => {
    const none = { pixels: new Uint8Array(0), labels: new Uint8Array(0), cols: 1 };
    expect(firstRows({ ...none, rows: MAX_ELEMENTS }, 1).labels).toHaveLength(0);
    expect(() => firstRows({ ...none, rows: MAX_ELEMENTS + 1 }, 1)).toThrow(/^firstRows: images: rows x cols = \d+ x 1 is more than the \d+ pixels an image can hold/);
  });
});

describe('optimizeScalars', () => {
  it('of 0 steps (a non-negative integer) is the start alone', () => {
    const before = rt.memoryStats().used;
    expect(optimizeScalars(rt, new SGD(), { x: -7, y: 2 }, () => ({ x: 1, y: 1 }), 0)).toEqual([{ x: -7, y: 2 }]);
    expect(rt.memoryStats().used).toBe(before);
  });
});

describe('the Trainer\'s one-hot targets', () => {
  it('refuses a row of two ones, naming it (a one-hot row has exactly one)', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 3 });
    const x = rt.tensor([3, 2]);
    const two = rt.tensor([3, 3], [1, 0, 0, 0, 1, 1, 0, 0, 1]);
    expect(() => new Trainer(net, x, two, x, two, { epochs: 1 })).toThrow(/^Trainer: tTrain\[1\] has 2 ones: a one-hot row has exactly one$/);
    net.dispose(); x.dispose(); two.dispose();
  });
});

describe('RandomAffine\'s options', () => {
  it('takes degrees up to 180 (a turn either way), refuses more, and refuses a negative shift', () => {
    new RandomAffine(rt, { degrees: 180 }).dispose();
    expect(() => new RandomAffine(rt, { degrees: 180.5 })).toThrow(/^RandomAffine: degrees must be in \[0, 180\], got 180\.5$/);
    expect(() => new RandomAffine(rt, { degrees: 360 })).toThrow(/^RandomAffine: degrees must be in \[0, 180\], got 360$/);
    expect(() => new RandomAffine(rt, { shift: -1 })).toThrow(/^RandomAffine: shift must be a non-negative number of pixels in float32's range, got -1$/);
  });
});
