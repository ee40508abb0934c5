// ConstantLR, PolynomialLR and CyclicLR against float64 transcriptions of PyTorch's (torch/optim/lr_scheduler.py
// as of pytorch/pytorch 008f727ece15: ConstantLR's and PolynomialLR's _get_closed_form_lr; CyclicLR's __init__,
// _init_scale_fn, scale functions and get_lr), every period over several cycles; and a Trainer running CyclicLR:
// the rate and the momentum (or Adam's beta1) of every step, and a resumed run's bits.
import { exactPow } from '../src/runtime/exact-math.js';
import { describe, it, expect } from 'vitest';
import { makeRuntime } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import { cyclingOptimizers, expectResumesAsUninterrupted, momentumOf, scheduleTrainer } from './helpers/schedule-trainer.js';
import {
  MultiLayerNet, Trainer, SGD, Momentum, ConstantLR, PolynomialLR, CyclicLR, SequentialLR, LinearLR, createSchedule,
  scheduleNames, type CyclicLROptions, type LRSchedule, type TrainerBaseOptions,
} from '../src/index.js';

/** PyTorch's ConstantLR._get_closed_form_lr: base_lr * (factor + (last_epoch >= total_iters) * (1 - factor)). */
const torchConstant = (factor: number, totalIters: number) => (k: number, base: number) => base * (factor + Number(k >= totalIters) * (1 - factor));

/** PyTorch's PolynomialLR._get_closed_form_lr: base_lr * (1.0 - min(total_iters, last_epoch) / total_iters) ** power. */
const torchPolynomial = (totalIters: number, power: number) => (k: number, base: number) => base * (1.0 - Math.min(totalIters, k) / totalIters) ** power;

/** PyTorch's CyclicLR in float64 (`**` for Python's float pow): its lr and momentum at last_epoch k. */
function torchCyclic(o: CyclicLROptions) {
  const { baseLr, maxLr, stepSizeUp = 2000, stepSizeDown, mode = 'triangular', gamma = 1.0, baseMomentum = 0.8, maxMomentum = 0.9 } = o;
  const up = stepSizeUp, down = stepSizeDown ?? up;
  const totalSize = up + down;
  const stepRatio = up / totalSize;
  // _init_scale_fn: without a scale_fn, the mode sets scale_mode
  const scaleFn = mode === 'triangular' ? () => 1.0 : mode === 'triangular2' ? (x: number) => 1 / (2.0 ** (x - 1)) : (x: number) => gamma ** x;
  const scaleMode = mode === 'exp_range' ? 'iterations' : 'cycle';
  return (lastEpoch: number): { lr: number; momentum: number } => {
    const cycle = Math.floor(1 + lastEpoch / totalSize);
    const x = 1.0 + lastEpoch / totalSize - cycle;
    const scaleFactor = x <= stepRatio ? x / stepRatio : (x - 1) / (stepRatio - 1);
    const arg = scaleMode === 'cycle' ? cycle : lastEpoch;
    const lrHeight = (maxLr - baseLr) * scaleFactor;
    const momentumHeight = (maxMomentum - baseMomentum) * scaleFactor;
    return { lr: baseLr + lrHeight * scaleFn(arg), momentum: maxMomentum - momentumHeight * scaleFn(arg) };
  };
}

/**
 * Python's float pow (libm's) against exactPowInt (the same bits on every engine): they differ by an ulp at most
 * of the power, so by a few ulps of the rates involved: 2^-50 of the amplitude bounds it.
 */
const POW_TOLERANCE = 2 ** -50;

function expectClose(got: number, want: number, scale: number, what: string) {
  if (!(Math.abs(got - want) <= POW_TOLERANCE * scale)) expect.fail(`${what}: ${got}, PyTorch's ${want} (difference ${Math.abs(got - want)})`);
}

describe('ConstantLR against PyTorch\'s closed form', () => {
  for (const [factor, totalIters] of [[1 / 3, 5], [0.5, 1], [0.1, 20], [1, 3], [0.7000000000000001, 7], [1e-300, 4]] as const) {
    it(`factor ${factor}, totalIters ${totalIters}`, () => {
      const s = new ConstantLR({ factor, totalIters });
      const ref = torchConstant(factor, totalIters);
      for (const base of [0.1, 1, 3e-4]) {
        for (let k = 0; k < 3 * totalIters + 5; k++) expect(s.lrAt(k, base), `base ${base}, period ${k}`).toBe(ref(k, base));
        // base · factor, then the base rate itself
        expect(s.lrAt(totalIters - 1, base)).toBe(base * factor);
        expect(s.lrAt(totalIters, base)).toBe(base);
      }
    });
  }

  it('takes PyTorch\'s defaults; refuses bad options by name; created by name as constant', () => {
    const s = new ConstantLR();
    expect([s.factor, s.totalIters, s.interval]).toEqual([1 / 3, 5, 'epoch']);
    expect(s.lrAt(4, 0.3)).toBe(0.3 * (1 / 3));
    expect(s.lrAt(5, 0.3)).toBe(0.3);
    const bad: Array<[object, RegExp]> = [
      [{ factor: 0 }, /^ConstantLR: factor must be a number in \(0, 1\], got 0$/],
      [{ factor: 1.5 }, /^ConstantLR: factor must be a number in \(0, 1\], got 1\.5$/],
      [{ factor: NaN }, /^ConstantLR: factor must be a number in \(0, 1\], got NaN$/],
      [{ totalIters: 0 }, /^ConstantLR: totalIters must be a positive integer up to 2\^53 − 1, got 0$/],
      [{ totalIters: 2.5 }, /^ConstantLR: totalIters must be a positive integer/],
      [{ interval: 'batch' }, /^ConstantLR: interval must be 'epoch' or 'step', got batch$/],
      [{ total_iters: 3 }, /^ConstantLR: unknown option 'total_iters'/],
    ];
    for (const [options, message] of bad) expect(() => new ConstantLR(options), JSON.stringify(options)).toThrow(message);
    const c = createSchedule('constant', { factor: 0.25, totalIters: 2, interval: 'step' });
    expect([c.name, c.interval, c.lrAt(1, 2), c.lrAt(2, 2)]).toEqual(['ConstantLR', 'step', 0.5, 2]);
    expect(createSchedule('constant').lrAt(0, 3)).toBe(1);
  });
});

describe('PolynomialLR against PyTorch\'s closed form', () => {
  for (const [totalIters, power] of [[5, 1], [10, 2], [7, 3], [50, 1], [13, 0], [97, 5], [30, 0.9], [12, 2.5]] as const) {
    it(`totalIters ${totalIters}, power ${power}`, () => {
      const s = new PolynomialLR({ totalIters, power });
      const ref = torchPolynomial(totalIters, power);
      for (const base of [0.1, 1, 3e-4]) {
        for (let k = 0; k < 2 * totalIters + 3; k++) {
          // a power of 0 or 1 is exact in both; any other libm's pow against exactPowInt or exactPow
          if (power === 0 || power === 1) expect(s.lrAt(k, base), `base ${base}, period ${k}`).toBe(ref(k, base));
          else expectClose(s.lrAt(k, base), ref(k, base), base, `base ${base}, period ${k}`);
        }
        expect(s.lrAt(0, base)).toBe(base);
        expect(s.lrAt(totalIters, base)).toBe(power === 0 ? base : 0);
        expect(s.lrAt(totalIters + 9, base)).toBe(power === 0 ? base : 0);
      }
    });
  }

  it('takes PyTorch\'s defaults; refuses bad options by name; created by name as polynomial', () => {
    const s = new PolynomialLR();
    expect([s.totalIters, s.power, s.interval]).toEqual([5, 1, 'epoch']);
    expect([0, 1, 2, 3, 4, 5, 6].map((k) => s.lrAt(k, 0.5))).toEqual([0.5, 0.4, 0.3, 0.2, 0.09999999999999998, 0, 0]);
    const bad: Array<[object, RegExp]> = [
      [{ power: -0.5 }, /^PolynomialLR: power must be a number >= 0, got -0\.5$/],
      [{ power: Infinity }, /^PolynomialLR: power must be a number >= 0, got Infinity$/],
      [{ totalIters: 0 }, /^PolynomialLR: totalIters must be a positive integer up to 2\^53 − 1, got 0$/],
      [{ totalIters: 2 ** 53 }, /^PolynomialLR: totalIters must be a positive integer up to 2\^53 − 1/],
      [{ interval: 'iteration' }, /^PolynomialLR: interval must be 'epoch' or 'step'/],
      [{ powr: 2 }, /^PolynomialLR: unknown option 'powr' \(expected one of totalIters, power, interval\)$/],
    ];
    for (const [options, message] of bad) expect(() => new PolynomialLR(options), JSON.stringify(options)).toThrow(message);
    const p = createSchedule('polynomial', { totalIters: 4, power: 2, interval: 'step' });
    expect([p.name, p.interval, p.lrAt(2, 1)]).toEqual(['PolynomialLR', 'step', 0.25]);
    expect(createSchedule('polynomial').lrAt(1, 1)).toBe(0.8);
    // a fractional power: exactPow's bits (the nearest double of the exact power, on every engine)
    expect(new PolynomialLR({ totalIters: 10, power: 0.9 }).lrAt(3, 2)).toBe(2 * exactPow(0.7, 0.9));
    // where V8's ** misses the nearest double (Python's decimal at 110 digits: test/fixtures/exact-math-table.ts)
    expect(new PolynomialLR({ totalIters: 7, power: 1.5 }).lrAt(2, 1)).toBe(0.603681610520369);
    expect(new PolynomialLR({ totalIters: 7, power: 0.9 }).lrAt(5, 1)).toBe(0.3238461661916278);
  });
});

describe('CyclicLR against PyTorch\'s get_lr', () => {
  const cases: CyclicLROptions[] = [
    { baseLr: 0.001, maxLr: 0.1, stepSizeUp: 10 },
    { baseLr: 0.001, maxLr: 0.1, stepSizeUp: 4, stepSizeDown: 7, mode: 'triangular' },
    { baseLr: 0.001, maxLr: 0.1, stepSizeUp: 5, mode: 'triangular2' },
    { baseLr: 0.01, maxLr: 0.3, stepSizeUp: 3, stepSizeDown: 8, mode: 'triangular2', baseMomentum: 0.5, maxMomentum: 0.95 },
    { baseLr: 0.001, maxLr: 0.1, stepSizeUp: 6, mode: 'exp_range', gamma: 0.97 },
    { baseLr: 0.002, maxLr: 0.05, stepSizeUp: 9, stepSizeDown: 4, mode: 'exp_range', gamma: 0.999, scaleMode: 'iterations' },
    { baseLr: 0.001, maxLr: 0.1, stepSizeUp: 5, mode: 'triangular2', scaleMode: 'cycle' },
    // a sawtooth (no descent), a cycle downwards from the base, momenta the wrong way round, a step of 1
    { baseLr: 0.001, maxLr: 0.1, stepSizeUp: 6, stepSizeDown: 0 },
    { baseLr: 0.2, maxLr: 0.02, stepSizeUp: 3, stepSizeDown: 5, baseMomentum: 0.95, maxMomentum: 0.6 },
    { baseLr: 0, maxLr: 1, stepSizeUp: 1, mode: 'triangular2', baseMomentum: 0, maxMomentum: 0.99 },
  ];
  for (const o of cases) it(JSON.stringify(o), () => {
    const s = new CyclicLR(o), ref = torchCyclic(o);
    expect(s.interval).toBe('step');
    expect((s as LRSchedule).periods).toBeUndefined();
    expect(s.scaleMode).toBe(o.mode === 'exp_range' ? 'iterations' : 'cycle');
    const total = o.stepSizeUp! + (o.stepSizeDown ?? o.stepSizeUp!);
    const amplitude = Math.max(o.baseLr, o.maxLr);
    // six cycles, every period: the rate (the optimizer's base rate ignored) and the momentum
    for (let k = 0; k < 6 * total + 3; k++) {
      const want = ref(k);
      if (o.mode === 'exp_range') {
        expectClose(s.lrAt(k, 123), want.lr, amplitude, `lr at ${k}`);
        expectClose(s.momentumAt!(k), want.momentum, 1, `momentum at ${k}`);
      } else {
        expect(s.lrAt(k, 123), `lr at ${k}`).toBe(want.lr);
        expect(s.momentumAt!(k), `momentum at ${k}`).toBe(want.momentum);
      }
    }
    // each cycle starts at baseLr and maxMomentum
    for (let c = 0; c < 6; c++) {
      expect(s.lrAt(c * total, 1), `cycle ${c + 1}'s start`).toBe(o.baseLr);
      expect(s.momentumAt!(c * total), `cycle ${c + 1}'s start`).toBe(o.maxMomentum ?? 0.9);
    }
  });

  it('peaks at maxLr and baseMomentum (triangular, within PyTorch\'s rounding), at an amplitude halved each cycle (triangular2), times gamma^k (exp_range)', () => {
    const t = new CyclicLR({ baseLr: 0.25, maxLr: 1, stepSizeUp: 4, stepSizeDown: 6 });
    [0.25, 0.4375, 0.625, 0.8125, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25].forEach((lr, k) => expect(t.lrAt(k, 0), `period ${k}`).toBeCloseTo(lr, 15));
    // the peaks as PyTorch's: its x = 1 + k/T − cycle rounds (1 + 0.4 − 1 = 0.3999999999999999, not 0.4), so
    // maxLr is missed by an ulp; with T a power of two it is exact
    for (const peak of [4, 14, 24, 104]) {
      expect(t.lrAt(peak, 0), `peak ${peak}`).toBe(torchCyclic({ baseLr: 0.25, maxLr: 1, stepSizeUp: 4, stepSizeDown: 6 })(peak).lr);
      expect(t.lrAt(peak, 0), `peak ${peak}`).toBeCloseTo(1, 15);
      expect(t.momentumAt!(peak), `peak ${peak}`).toBeCloseTo(0.8, 15);
    }
    const t2 = new CyclicLR({ baseLr: 0.25, maxLr: 1, stepSizeUp: 4, stepSizeDown: 6, mode: 'triangular2' });
    [1, 0.25 + 0.75 / 2, 0.25 + 0.75 / 4, 0.25 + 0.75 / 8].forEach((lr, c) => expect(t2.lrAt(4 + 10 * c, 0), `cycle ${c + 1}'s peak`).toBeCloseTo(lr, 15));
    const exact = new CyclicLR({ baseLr: 0.25, maxLr: 1, stepSizeUp: 4 });
    for (const peak of [4, 12, 20]) expect([exact.lrAt(peak, 0), exact.momentumAt!(peak)]).toEqual([1, 0.8]);
    const e = new CyclicLR({ baseLr: 0.25, maxLr: 1, stepSizeUp: 4, mode: 'exp_range', gamma: 0.5 });
    expect([4, 12].map((k) => e.lrAt(k, 0))).toEqual([0.25 + 0.75 / 16, 0.25 + 0.75 / 4096]);
    // cycles past 1025, where PyTorch's 2.0 ** 1024 overflows: the amplitude is 2^-(cycle − 1), then gone
    const long = new CyclicLR({ baseLr: 0, maxLr: 1, stepSizeUp: 1, mode: 'triangular2', cycleMomentum: false });
    expect(long.lrAt(2 * 1023 + 1, 0)).toBe(torchCyclic({ baseLr: 0, maxLr: 1, stepSizeUp: 1, mode: 'triangular2' })(2 * 1023 + 1).lr);
    expect(long.lrAt(2 * 1024 + 1, 0)).toBe(2 ** -1024);
    expect(long.lrAt(2 * 1074 + 1, 0)).toBe(2 ** -1074);
    expect(long.lrAt(2 * 1075 + 1, 0)).toBe(0);
    // defaults: PyTorch's
    const d = new CyclicLR({ baseLr: 0.001, maxLr: 0.006 });
    expect([d.stepSizeUp, d.stepSizeDown, d.mode, d.gamma, d.scaleMode, d.cycleMomentum, d.baseMomentum, d.maxMomentum, d.interval])
      .toEqual([2000, 2000, 'triangular', 1, 'cycle', true, 0.8, 0.9, 'step']);
    expect(d.lrAt(2000, 0)).toBe(0.006);
    expect(new CyclicLR({ baseLr: 0.001, maxLr: 0.006, cycleMomentum: false }).momentumAt).toBeUndefined();
    expect(new CyclicLR({ baseLr: 0.001, maxLr: 0.006, interval: 'epoch' }).interval).toBe('epoch');
    const c = createSchedule('cyclic', { baseLr: 0.25, maxLr: 1, stepSizeUp: 4, stepSizeDown: 6 });
    expect([c.name, c.lrAt(3, 9), c.momentumAt!(3)]).toEqual(['CyclicLR', t.lrAt(3, 0), t.momentumAt!(3)]);
    expect(scheduleNames).toEqual(expect.arrayContaining(['constant', 'polynomial', 'cyclic']));
  });

  it('keeps the momentum between baseMomentum and maxMomentum where PyTorch\'s formula rounds past them (to 1, which an optimizer refuses)', () => {
    const o = { baseLr: 0.1, maxLr: 1, stepSizeUp: 1, baseMomentum: 1 - 2 ** -53, maxMomentum: 0.25 + 3 * 2 ** -54 };
    expect(torchCyclic(o)(1).momentum).toBe(1);
    expect(new CyclicLR(o).momentumAt!(1)).toBe(1 - 2 ** -53);
  });

  it('refuses bad options by name', () => {
    const ok = { baseLr: 0.001, maxLr: 0.1 };
    const bad: Array<[object, RegExp]> = [
      [{ maxLr: 0.1 }, /^CyclicLR: baseLr must be a number >= 0, got undefined$/],
      [{ ...ok, baseLr: -0.1 }, /^CyclicLR: baseLr must be a number >= 0, got -0\.1$/],
      [{ ...ok, maxLr: Infinity }, /^CyclicLR: maxLr must be a number >= 0, got Infinity$/],
      [{ ...ok, stepSizeUp: 0 }, /^CyclicLR: stepSizeUp must be a positive integer up to 2\^53 − 1, got 0$/],
      [{ ...ok, stepSizeUp: 2.5 }, /^CyclicLR: stepSizeUp must be a positive integer/],
      [{ ...ok, stepSizeDown: -1 }, /^CyclicLR: stepSizeDown must be a non-negative integer up to 2\^53 − 1, got -1$/],
      [{ ...ok, stepSizeUp: 2 ** 52, stepSizeDown: 2 ** 52 }, /^CyclicLR: stepSizeUp \+ stepSizeDown must be at most 2\^53 − 1/],
      [{ ...ok, mode: 'exp' }, /^CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range', got exp$/],
      [{ ...ok, mode: 'exp_range', gamma: 1.01 }, /^CyclicLR: gamma must be a number in \(0, 1\], got 1\.01$/],
      [{ ...ok, mode: 'exp_range', gamma: 0 }, /^CyclicLR: gamma must be a number in \(0, 1\], got 0$/],
      [{ ...ok, gamma: 0.9 }, /^CyclicLR: gamma 0\.9 is used by mode 'exp_range' only, and the mode is 'triangular'$/],
      [{ ...ok, scaleMode: 'cycles' }, /^CyclicLR: scaleMode must be 'cycle' or 'iterations', got cycles$/],
      [{ ...ok, scaleMode: 'iterations' }, /^CyclicLR: scaleMode 'iterations' with mode 'triangular': PyTorch's CyclicLR scales mode 'triangular' per cycle whatever scale_mode says/],
      [{ ...ok, mode: 'exp_range', scaleMode: 'cycle' }, /^CyclicLR: scaleMode 'cycle' with mode 'exp_range'/],
      [{ ...ok, cycleMomentum: 'true' }, /^CyclicLR: cycleMomentum must be true or false/],
      [{ ...ok, baseMomentum: 1 }, /^CyclicLR: baseMomentum must be a number in \[0, 1\), got 1$/],
      [{ ...ok, maxMomentum: -0.5 }, /^CyclicLR: maxMomentum must be a number in \[0, 1\), got -0\.5$/],
      [{ ...ok, interval: 'batch' }, /^CyclicLR: interval must be 'epoch' or 'step', got batch$/],
      [{ ...ok, scaleFn: 1 }, /^CyclicLR: unknown option 'scaleFn'/],
    ];
    for (const [options, message] of bad) expect(() => new CyclicLR(options as CyclicLROptions), JSON.stringify(options)).toThrow(message);
    expect(() => new CyclicLR({ ...ok, cycleMomentum: 'true' } as never)).toThrow(TypeError);
    expect(() => new CyclicLR({ ...ok, mode: 'exp' } as never)).toThrow(RangeError);
    expect(() => createSchedule('cyclic', null as never)).toThrow(/^CyclicLR: options must be an object/);
    // gamma 1 (the default) with any mode is no contradiction
    expect(new CyclicLR({ ...ok, mode: 'triangular2', gamma: 1 }).gamma).toBe(1);
  });

  it('is refused by SequentialLR while it cycles momentum, taken without', () => {
    const cyclic = (cycleMomentum: boolean) => new CyclicLR({ baseLr: 0.01, maxLr: 0.1, stepSizeUp: 3, cycleMomentum });
    expect(() => new SequentialLR({ interval: 'step', milestones: [5], schedulers: [new LinearLR({ interval: 'step' }), cyclic(true)] }))
      .toThrow(/^SequentialLR: schedulers\[1\] cycles momentum \(a CyclicLR\): give it cycleMomentum: false$/);
    const s = new SequentialLR({ interval: 'step', milestones: [5], schedulers: [new LinearLR({ interval: 'step' }), cyclic(false)] });
    expect(s.periods).toBeUndefined();
    expect(s.lrAt(9, 1)).toBe(cyclic(false).lrAt(4, 1));
  });
});

// ---- the Trainer

describe('a Trainer with CyclicLR', () => {
  const o: CyclicLROptions = { baseLr: 0.01, maxLr: 0.2, stepSizeUp: 4, stepSizeDown: 7, mode: 'triangular2', baseMomentum: 0.6, maxMomentum: 0.85 };

  for (const [name, make] of cyclingOptimizers) it(`sets the rate and ${name === 'Adam' ? 'beta1' : 'the momentum'} of every step as PyTorch's scheduler.step() after each batch (${name})`, async () => {
    const opt = make();
    const seen: Array<{ lr: number; momentum: number }> = [];
    const s = await scheduleTrainer(opt, { epochs: 6, lrSchedule: new CyclicLR(o), callbacks: { onStepEnd: (e) => {
      seen.push({ lr: (opt as Momentum).lr, momentum: momentumOf(opt) });
      expect(e.lr, `step ${e.iter}: StepEvent.lr is the rate the step used`).toBe((opt as Momentum).lr);
    } } });
    const result = s.trainer.train();
    expect(result.steps).toBe(60);
    expect(seen).toEqual(Array.from({ length: 60 }, (_, k) => torchCyclic(o)(k)));
    expect(result.epochs.map((e) => e.lr)).toEqual([9, 19, 29, 39, 49, 59].map((k) => seen[k].lr));
    s.end();
  });

  it('refuses, when made, cycleMomentum with an optimizer that has neither momentum nor beta1', async () => {
    const r = await makeRuntime({ seed: 1 });
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
    const d = blobs(r, 40, 1);
    const make = (cycleMomentum: boolean) => new Trainer(net, d.x, d.t, d.x, d.t, { miniBatchSize: 4, epochs: 1, optimizer: new SGD(), lrSchedule: new CyclicLR({ ...o, cycleMomentum }) });
    expect(() => make(true)).toThrow(/^Trainer: lrSchedule CyclicLR cycles momentum, and SGD has neither momentum nor beta1: pass cycleMomentum: false to the schedule/);
    const t = make(false);
    expect(t.train().epochs[0].lr).toBe(torchCyclic(o)(9).lr);
    t.dispose();
    r.dispose();
  });

  for (const [name, make] of cyclingOptimizers) it(`resumed from a state taken mid-run: the rate, ${name === 'Adam' ? 'beta1' : 'the momentum'} and parameters of the uninterrupted run, bit for bit (${name})`, async () => {
    const options = (): TrainerBaseOptions => ({ epochs: 5, lrSchedule: new CyclicLR({ ...o, mode: 'exp_range', gamma: 0.98 }) });
    await expectResumesAsUninterrupted(name, make, options, [7, 23, 30, 50]);
  });

  it('per epoch with ConstantLR then PolynomialLR in a SequentialLR: each epoch\'s steps at the epoch\'s rate', async () => {
    const opt = new Momentum({ lr: 0.4 });
    const seen: number[][] = [];
    const lrSchedule = new SequentialLR({ milestones: [2], schedulers: [new ConstantLR({ factor: 0.25, totalIters: 2 }), new PolynomialLR({ totalIters: 4, power: 2 })] });
    const s = await scheduleTrainer(opt, { epochs: 6, lrSchedule, callbacks: { onStepEnd: (e) => { seen.push([e.epoch, opt.lr]); } } });
    s.trainer.train();
    const want = [0.1, 0.1, 0.4, 0.4 * 0.5625, 0.4 * 0.25, 0.4 * 0.0625];
    expect(seen).toEqual(seen.map(([epoch]) => [epoch, want[epoch - 1]]));
    expect(seen).toHaveLength(60);
    s.end();
  });
});
