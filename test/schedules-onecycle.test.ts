// OneCycleLR and CosineAnnealingWarmRestarts against float64 transcriptions of PyTorch's
// (torch/optim/lr_scheduler.py: OneCycleLR.__init__'s phases and get_lr; CosineAnnealingWarmRestarts'
// step() without an epoch), every period over several phases and cycles; and a Trainer running
// OneCycleLR: the rate and the momentum (or Adam's beta1) of every step, a run longer than the
// cycle refused before its first step, and a resumed run's bits.
import { describe, it, expect } from 'vitest';
import { makeRuntime, expectBits } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import { cyclingOptimizers, expectResumesAsUninterrupted, momentumOf, scheduleTrainer, stateTakenAt } from './helpers/schedule-trainer.js';
import {
  MultiLayerNet, Trainer, SGD, Momentum, Nesterov, AdamW, OneCycleLR, CosineAnnealingWarmRestarts, CosineAnnealingLR,
  SequentialLR, LinearLR, createSchedule, type OneCycleLROptions, type TrainerBaseOptions,
} from '../src/index.js';
import { exactCosPiRatio } from '../src/runtime/exact-math.js';

/** PyTorch's OneCycleLR in float64 (Math.cos for math.cos): its lr and momentum at step_num k. */
function torchOneCycle(o: OneCycleLROptions & { totalSteps: number }) {
  const { maxLr, totalSteps, pctStart = 0.3, annealStrategy = 'cos', baseMomentum = 0.85, maxMomentum = 0.95, divFactor = 25, finalDivFactor = 1e4, threePhase = false } = o;
  const group: Record<string, number> = { initial_lr: maxLr / divFactor, max_lr: maxLr };
  group.min_lr = group.initial_lr / finalDivFactor;
  group.max_momentum = maxMomentum;
  group.base_momentum = baseMomentum;
  const phases = threePhase
    ? [
      { end_step: pctStart * totalSteps - 1, start_lr: 'initial_lr', end_lr: 'max_lr', start_momentum: 'max_momentum', end_momentum: 'base_momentum' },
      { end_step: 2 * pctStart * totalSteps - 2, start_lr: 'max_lr', end_lr: 'initial_lr', start_momentum: 'base_momentum', end_momentum: 'max_momentum' },
      { end_step: totalSteps - 1, start_lr: 'initial_lr', end_lr: 'min_lr', start_momentum: 'max_momentum', end_momentum: 'max_momentum' },
    ]
    : [
      { end_step: pctStart * totalSteps - 1, start_lr: 'initial_lr', end_lr: 'max_lr', start_momentum: 'max_momentum', end_momentum: 'base_momentum' },
      { end_step: totalSteps - 1, start_lr: 'max_lr', end_lr: 'min_lr', start_momentum: 'base_momentum', end_momentum: 'max_momentum' },
    ];
  const anneal = annealStrategy === 'cos'
    ? (start: number, end: number, pct: number) => end + (start - end) / 2.0 * (Math.cos(Math.PI * pct) + 1)
    : (start: number, end: number, pct: number) => (end - start) * pct + start;
  return (stepNum: number): { lr: number; momentum: number } => {
    if (stepNum > totalSteps) throw new Error(`Tried to step ${stepNum} times. The specified number of total steps is ${totalSteps}`);
    let startStep = 0.0;
    for (let i = 0; i < phases.length; i++) {
      const phase = phases[i];
      const endStep = phase.end_step;
      if (stepNum <= endStep || i === phases.length - 1) {
        const pct = (stepNum - startStep) / (endStep - startStep);
        return { lr: anneal(group[phase.start_lr], group[phase.end_lr], pct), momentum: anneal(group[phase.start_momentum], group[phase.end_momentum], pct) };
      }
      startStep = phase.end_step;
    }
    throw new Error('unreachable');
  };
}

/**
 * PyTorch's CosineAnnealingWarmRestarts stepped once per period (step() with no epoch: T_cur + 1, and at T_i
 * T_cur mod T_i, T_i · T_mult), in float64: the lr of periods 0 … n−1.
 */
function torchWarmRestarts(t0: number, tMult: number, etaMin: number, base: number, n: number): number[] {
  const out: number[] = [];
  let tCur = 0, tI = t0;
  for (let e = 0; e < n; e++) {
    if (e > 0) {
      tCur += 1;
      if (tCur >= tI) { tCur = tCur % tI; tI = tI * tMult; }
    }
    out.push(etaMin + (base - etaMin) * (1 + Math.cos(Math.PI * tCur / tI)) / 2);
  }
  return out;
}

/**
 * Math.cos(Math.PI·x) against the cosine of the exact product (the same bits on every engine): a few ulps of the
 * rates involved. The rates and momenta here are at most 1, so 2^-50 (4.5 ulps of 1) bounds the difference.
 */
const COS_TOLERANCE = 2 ** -50;

function expectClose(got: number, want: number, scale: number, what: string) {
  if (!(Math.abs(got - want) <= COS_TOLERANCE * scale)) expect.fail(`${what}: ${got}, PyTorch's ${want} (difference ${Math.abs(got - want)})`);
}

describe('OneCycleLR against PyTorch\'s phases and get_lr', () => {
  const cases: Array<OneCycleLROptions & { totalSteps: number }> = [
    { maxLr: 0.1, totalSteps: 100 },
    { maxLr: 0.1, totalSteps: 100, annealStrategy: 'linear' },
    { maxLr: 1, totalSteps: 97, pctStart: 0.25, threePhase: true },
    { maxLr: 1, totalSteps: 97, pctStart: 0.25, threePhase: true, annealStrategy: 'linear' },
    // phase ends that are not integers, a short first phase, other factors and momenta
    { maxLr: 0.37, totalSteps: 313, pctStart: 0.123, divFactor: 7, finalDivFactor: 300, baseMomentum: 0.5, maxMomentum: 0.99 },
    { maxLr: 0.37, totalSteps: 313, pctStart: 0.123, divFactor: 7, finalDivFactor: 300, threePhase: true, annealStrategy: 'linear' },
    // pctStart·totalSteps < 1: the first phase is never reached (end_step < 0); momenta the wrong way round
    { maxLr: 0.5, totalSteps: 10, pctStart: 0.05, baseMomentum: 0.9, maxMomentum: 0.8 },
    { maxLr: 0.5, totalSteps: 10, pctStart: 0.05, threePhase: true },
    // three phases whose second ends past the third's end (pctStart > 1/2): the second runs to the last period
    { maxLr: 0.2, totalSteps: 40, pctStart: 0.8, threePhase: true },
    { maxLr: 0.2, totalSteps: 1, pctStart: 0.5 },
  ];
  for (const o of cases) it(JSON.stringify(o), () => {
    const s = new OneCycleLR(o), ref = torchOneCycle(o);
    expect(s.periods).toBe(o.totalSteps);
    expect(s.interval).toBe('step');
    // every step of the cycle and PyTorch's last call (step_num = totalSteps, after the last batch, where its
    // linear momentum goes on past the momenta: ours is kept between them, as an optimizer needs it in [0, 1))
    const [lo, hi] = [Math.min(s.baseMomentum, s.maxMomentum), Math.max(s.baseMomentum, s.maxMomentum)];
    for (let k = 0; k <= o.totalSteps; k++) {
      const want = ref(k);
      const momentum = k < o.totalSteps ? want.momentum : Math.min(Math.max(want.momentum, lo), hi);
      if (o.annealStrategy === 'linear') {
        expect(s.lrAt(k, 123), `lr at ${k}`).toBe(want.lr);
        expect(s.momentumAt!(k), `momentum at ${k}`).toBe(momentum);
      } else {
        expectClose(s.lrAt(k, 123), want.lr, o.maxLr, `lr at ${k}`);
        expectClose(s.momentumAt!(k), momentum, 1, `momentum at ${k}`);
      }
    }
    expect(() => s.lrAt(o.totalSteps + 1, 1)).toThrow(new RegExp(`^OneCycleLR: period ${o.totalSteps + 1} is past totalSteps ${o.totalSteps}`));
    expect(() => s.momentumAt!(o.totalSteps + 1)).toThrow(RangeError);
  });

  it('reaches its peak, its minimum and its momenta exactly where PyTorch\'s phases end', () => {
    const s = new OneCycleLR({ maxLr: 0.8, totalSteps: 100 }); // the first phase ends at step 29, the second at 99
    expect(s.lrAt(0, 0)).toBe(torchOneCycle({ maxLr: 0.8, totalSteps: 100 })(0).lr); // 0.8 + (0.032 − 0.8): 0.03200000000000003
    expect(s.lrAt(0, 0)).toBeCloseTo(0.8 / 25, 16);
    expect(s.lrAt(29, 0)).toBe(0.8);
    expect(s.momentumAt!(29)).toBe(0.85);
    expect(s.lrAt(99, 0)).toBe(0.8 / 25 / 1e4);
    expect(s.momentumAt!(99)).toBe(0.95);
    const three = new OneCycleLR({ maxLr: 0.8, totalSteps: 100, threePhase: true }); // 29, 58, 99
    expect(three.lrAt(29, 0)).toBe(0.8);
    expect(three.lrAt(58, 0)).toBe(0.8 / 25);
    expect(three.momentumAt!(58)).toBe(0.95);
    expect(three.momentumAt!(80)).toBe(0.95);
    expect(three.lrAt(99, 0)).toBe(0.8 / 25 / 1e4);
    // the length as epochs × stepsPerEpoch, as PyTorch infers it
    const e = new OneCycleLR({ maxLr: 0.8, epochs: 10, stepsPerEpoch: 10 });
    expect(e.totalSteps).toBe(100);
    for (const k of [0, 17, 29, 64, 100]) expect(e.lrAt(k, 0)).toBe(s.lrAt(k, 0));
    // created by name; per epoch when asked; no momentumAt without cycleMomentum
    expect(createSchedule('onecycle', { maxLr: 0.8, totalSteps: 100 }).lrAt(40, 0)).toBe(s.lrAt(40, 0));
    expect(new OneCycleLR({ maxLr: 1, totalSteps: 5, interval: 'epoch' }).interval).toBe('epoch');
    expect(new OneCycleLR({ maxLr: 1, totalSteps: 5, cycleMomentum: false }).momentumAt).toBeUndefined();
  });

  it('keeps the momentum between baseMomentum and maxMomentum where PyTorch\'s formula rounds past them (to 1, which an optimizer refuses)', () => {
    const o = { maxLr: 1, totalSteps: 10, baseMomentum: 0.25 + 3 * 2 ** -54, maxMomentum: 1 - 2 ** -53 };
    expect(torchOneCycle(o)(0).momentum).toBe(1);
    expect(torchOneCycle({ ...o, annealStrategy: 'linear' })(9).momentum).toBe(1);
    expect(new OneCycleLR(o).momentumAt!(0)).toBe(1 - 2 ** -53);
    expect(new OneCycleLR({ ...o, annealStrategy: 'linear' }).momentumAt!(9)).toBe(1 - 2 ** -53);
  });

  it('refuses bad options by name', () => {
    const ok = { maxLr: 0.1, totalSteps: 100 };
    const bad: Array<[object, RegExp]> = [
      [{ ...ok, maxLr: 0 }, /^OneCycleLR: maxLr must be a number > 0, got 0$/],
      [{ totalSteps: 100 }, /^OneCycleLR: maxLr must be a number > 0, got undefined$/],
      [{ ...ok, totalSteps: 2.5 }, /^OneCycleLR: totalSteps must be a positive integer up to 2\^53 − 1, got 2\.5$/],
      [{ maxLr: 0.1 }, /^OneCycleLR: you must define either totalSteps OR \(epochs AND stepsPerEpoch\)/],
      [{ maxLr: 0.1, epochs: 3 }, /^OneCycleLR: you must define either totalSteps OR \(epochs AND stepsPerEpoch\).*stepsPerEpoch undefined$/],
      [{ ...ok, epochs: 3, stepsPerEpoch: 4 }, /^OneCycleLR: give totalSteps, or epochs and stepsPerEpoch, not both ways/],
      [{ maxLr: 0.1, epochs: 0, stepsPerEpoch: 4 }, /^OneCycleLR: epochs must be a positive integer, got 0$/],
      [{ maxLr: 0.1, epochs: 3, stepsPerEpoch: -1 }, /^OneCycleLR: stepsPerEpoch must be a positive integer, got -1$/],
      [{ maxLr: 0.1, epochs: 2 ** 30, stepsPerEpoch: 2 ** 30 }, /^OneCycleLR: epochs × stepsPerEpoch must be at most 2\^53 − 1/],
      [{ ...ok, pctStart: 1 }, /^OneCycleLR: pctStart must be a number in \(0, 1\), got 1$/],
      [{ ...ok, pctStart: 0 }, /^OneCycleLR: pctStart must be a number in \(0, 1\), got 0$/],
      [{ ...ok, annealStrategy: 'cosine' }, /^OneCycleLR: annealStrategy must be 'cos' or 'linear', got cosine$/],
      [{ ...ok, cycleMomentum: 'false' }, /^OneCycleLR: cycleMomentum must be true or false/],
      [{ ...ok, threePhase: 1 }, /^OneCycleLR: threePhase must be true or false/],
      [{ ...ok, baseMomentum: 1 }, /^OneCycleLR: baseMomentum must be a number in \[0, 1\), got 1$/],
      [{ ...ok, maxMomentum: -0.1 }, /^OneCycleLR: maxMomentum must be a number in \[0, 1\), got -0\.1$/],
      [{ ...ok, divFactor: 0 }, /^OneCycleLR: divFactor must be a number > 0, got 0$/],
      [{ ...ok, finalDivFactor: Infinity }, /^OneCycleLR: finalDivFactor must be a number > 0, got Infinity$/],
      [{ ...ok, maxLr: 1e300, divFactor: 1e-10 }, /^OneCycleLR: maxLr \/ divFactor \/ finalDivFactor must be finite/],
      [{ ...ok, interval: 'batch' }, /^OneCycleLR: interval must be 'epoch' or 'step', got batch$/],
      [{ ...ok, maxMomentum2: 0.9 }, /^OneCycleLR: unknown option 'maxMomentum2'/],
      // a phase of no length, where PyTorch divides by zero: the first at step 0 (0.1·10 = 1), the third at step 3
      // (2·(2/3)·3 = 4 = 3 + 1)
      [{ maxLr: 0.1, totalSteps: 10, pctStart: 0.1 }, /^OneCycleLR: pctStart 0\.1 with totalSteps 10 leaves a phase no periods/],
      [{ maxLr: 0.1, totalSteps: 3, pctStart: 2 / 3, threePhase: true }, /^OneCycleLR: pctStart 0\.6+ with totalSteps 3 leaves a phase no periods/],
    ];
    for (const [options, message] of bad) expect(() => new OneCycleLR(options as OneCycleLROptions), JSON.stringify(options)).toThrow(message);
    expect(() => new OneCycleLR({ ...ok, cycleMomentum: 'false' } as never)).toThrow(TypeError);
    expect(() => new OneCycleLR({ maxLr: 0.1 } as never)).toThrow(RangeError);
    // the same pctStart and totalSteps with two phases: the second phase is not empty
    expect(new OneCycleLR({ maxLr: 0.1, totalSteps: 3, pctStart: 2 / 3 }).lrAt(3, 0)).toBeGreaterThan(0);
  });
});

describe('CosineAnnealingWarmRestarts against PyTorch\'s step()', () => {
  const base = 0.1, n = 700;
  for (const [t0, tMult, etaMin] of [[10, 1, 0], [7, 1, 0.001], [1, 1, 0], [5, 2, 0], [3, 2, 0.002], [4, 3, 0], [1, 3, 0.01], [1, 2, 0], [600, 2, 0]] as const) {
    it(`t0 ${t0}, tMult ${tMult}, etaMin ${etaMin}`, () => {
      const s = new CosineAnnealingWarmRestarts({ t0, tMult, etaMin });
      expect(s.interval).toBe('epoch');
      const want = torchWarmRestarts(t0, tMult, etaMin, base, n);
      want.forEach((lr, k) => expectClose(s.lrAt(k, base), lr, base, `period ${k}`));
      // the restarts: back to the base rate at 0, t0, t0 + t0·tMult, …
      for (let start = 0, length = t0; start < n; start += length, length *= tMult) {
        expect(s.lrAt(start, base), `restart at ${start}`).toBeCloseTo(base, 15);
        if (start > 0 && length > tMult) expect(s.lrAt(start - 1, base), `the end of the cycle before ${start}`).toBeLessThan(s.lrAt(start, base));
      }
    });
  }

  it('finds the cycle with integers up to period 2^53 − 1, and ends before a cycle no double counts', () => {
    // cycles 1, 2, 4, …, 2^52: the last starts at 2^52 − 1 and ends at 2^53 − 2; the next (2^53) is past 2^53 − 1
    const s = new CosineAnnealingWarmRestarts({ t0: 1, tMult: 2 });
    expect(s.periods).toBe(2 ** 53 - 1);
    expect(s.lrAt(2 ** 52 - 1, 1)).toBe(1);
    expect(s.lrAt(2 ** 52 - 2, 1)).toBe((1 + exactCosPiRatio(2 ** 51 - 1, 2 ** 51)) / 2);
    expect(s.lrAt(2 ** 53 - 2, 1)).toBe((1 + exactCosPiRatio(2 ** 52 - 1, 2 ** 52)) / 2);
    expect(() => s.lrAt(2 ** 53 - 1, 1)).toThrow(/^CosineAnnealingWarmRestarts: period 9007199254740991 is past the schedule's end \(it defines 9007199254740991 periods/);
    // tMult 3 from 5: cycle 32 (5·3^32 periods) is longer than 2^53 − 1, and starts at 5·(3^32 − 1)/2
    const t = new CosineAnnealingWarmRestarts({ t0: 5, tMult: 3 });
    const cycleStart = (i: bigint) => Number(5n * (3n ** i - 1n) / 2n);
    expect(t.periods).toBe(cycleStart(32n));
    // the cycles of large periods found by BigInt, against lrAt's
    for (const k of [cycleStart(32n) - 1, 2 ** 52 + 12345, cycleStart(30n), cycleStart(30n) - 1]) {
      let start = 0n, length = 5n;
      while (BigInt(k) - start >= length) { start += length; length *= 3n; }
      expect(t.lrAt(k, 1), `period ${k}`).toBe((1 + exactCosPiRatio(k - Number(start), Number(length))) / 2);
    }
    expect(t.lrAt(cycleStart(30n), 1)).toBe(1); // a restart
    expect(() => t.lrAt(cycleStart(32n), 1)).toThrow(RangeError);
    // a second cycle that reaches period 2^53 − 1 (3·2^50 + 3·2^51 > 2^53) never ends; one past 2^53 − 1 ends the
    // schedule at the first's end
    expect(new CosineAnnealingWarmRestarts({ t0: 3 * 2 ** 50, tMult: 2 }).periods).toBeUndefined();
    expect(new CosineAnnealingWarmRestarts({ t0: 3 * 2 ** 50, tMult: 2 }).lrAt(2 ** 53 - 1, 1)).toBe((1 + exactCosPiRatio(2 ** 53 - 1 - 3 * 2 ** 50, 3 * 2 ** 51)) / 2);
    expect(new CosineAnnealingWarmRestarts({ t0: 2 ** 53 - 1, tMult: 2 }).periods).toBe(2 ** 53 - 1);
    expect(new CosineAnnealingWarmRestarts({ t0: 3, tMult: 2 ** 52 }).periods).toBe(3);
    expect(new CosineAnnealingWarmRestarts({ t0: 3 }).periods).toBeUndefined();
    expect(new CosineAnnealingWarmRestarts({ t0: 3 }).lrAt(2 ** 53 - 1, 1)).toBe((1 + exactCosPiRatio((2 ** 53 - 1) % 3, 3)) / 2);
  });

  it('refuses bad options by name; created by name as cosine-restarts', () => {
    expect(() => new CosineAnnealingWarmRestarts({ t0: 0 })).toThrow(/^CosineAnnealingWarmRestarts: t0 must be a positive integer up to 2\^53 − 1, got 0$/);
    expect(() => new CosineAnnealingWarmRestarts({} as never)).toThrow(/^CosineAnnealingWarmRestarts: t0 must be .*, got undefined$/);
    expect(() => new CosineAnnealingWarmRestarts({ t0: 2, tMult: 0 })).toThrow(/^CosineAnnealingWarmRestarts: tMult must be an integer >= 1 up to 2\^53 − 1, got 0$/);
    expect(() => new CosineAnnealingWarmRestarts({ t0: 2, tMult: 1.5 })).toThrow(/tMult must be an integer >= 1/);
    expect(() => new CosineAnnealingWarmRestarts({ t0: 2, etaMin: -1 })).toThrow(/^CosineAnnealingWarmRestarts: etaMin must be a number >= 0, got -1$/);
    expect(() => new CosineAnnealingWarmRestarts({ t0: 2, tmult: 2 } as never)).toThrow(/^CosineAnnealingWarmRestarts: unknown option 'tmult'/);
    expect(() => new CosineAnnealingWarmRestarts({ t0: 2, interval: 'iteration' } as never)).toThrow(/interval must be 'epoch' or 'step'/);
    const s = createSchedule('cosine-restarts', { t0: 4, tMult: 2, etaMin: 0.01, interval: 'step' });
    expect(s.name).toBe('CosineAnnealingWarmRestarts');
    expect(s.interval).toBe('step');
    expect(s.lrAt(5, 1)).toBe(new CosineAnnealingWarmRestarts({ t0: 4, tMult: 2, etaMin: 0.01 }).lrAt(5, 1));
  });
});

describe('SequentialLR with a schedule of limited periods', () => {
  it('ends where its last schedule ends, refuses a part longer than a schedule defines, and a schedule cycling momentum', () => {
    const cycle = () => new OneCycleLR({ maxLr: 1, totalSteps: 20, cycleMomentum: false });
    const s = new SequentialLR({ interval: 'step', milestones: [5], schedulers: [new LinearLR({ interval: 'step' }), cycle()] });
    expect(s.periods).toBe(25);
    expect(s.lrAt(24, 1)).toBe(cycle().lrAt(19, 1));
    expect(new SequentialLR({ interval: 'step', milestones: [20], schedulers: [cycle(), new LinearLR({ interval: 'step' })] }).periods).toBeUndefined();
    expect(() => new SequentialLR({ interval: 'step', milestones: [21], schedulers: [cycle(), new LinearLR({ interval: 'step' })] }))
      .toThrow(/^SequentialLR: schedulers\[0\] \(OneCycleLR\) defines 20 periods, and its part \(to milestone 21\) takes 21$/);
    expect(() => new SequentialLR({ interval: 'step', milestones: [5], schedulers: [new LinearLR({ interval: 'step' }), new OneCycleLR({ maxLr: 1, totalSteps: 20 })] }))
      .toThrow(/^SequentialLR: schedulers\[1\] cycles momentum \(a OneCycleLR\): give it cycleMomentum: false$/);
    expect(new SequentialLR({ schedulers: [new CosineAnnealingLR({ tMax: 3 })], milestones: [] }).periods).toBeUndefined();
  });
});

// ---- the Trainer

describe('a Trainer with OneCycleLR', () => {
  for (const [name, make] of cyclingOptimizers) it(`sets the rate and ${name === 'Adam' ? 'beta1' : 'the momentum'} of every step as PyTorch's scheduler.step() after each batch (${name})`, async () => {
    const o = { maxLr: 0.4, totalSteps: 60, pctStart: 0.25 };
    const opt = make();
    const seen: Array<{ lr: number; momentum: number }> = [];
    const s = await scheduleTrainer(opt, { epochs: 6, lrSchedule: new OneCycleLR(o), callbacks: { onStepEnd: (e) => {
      seen.push({ lr: (opt as Momentum).lr, momentum: momentumOf(opt) });
      expect(e.lr, `step ${e.iter}: StepEvent.lr is the rate the step used`).toBe((opt as Momentum).lr);
    } } });
    const result = s.trainer.train();
    expect(result.steps).toBe(60);
    const ref = torchOneCycle(o), schedule = new OneCycleLR(o);
    seen.forEach((got, k) => {
      expectClose(got.lr, ref(k).lr, o.maxLr, `${name}: step ${k + 1}: lr`);
      expectClose(got.momentum, ref(k).momentum, 1, `${name}: step ${k + 1}: momentum`);
      expect(got.lr).toBe(schedule.lrAt(k, 0));
      expect(got.momentum).toBe(schedule.momentumAt!(k));
    });
    expect(seen[59].lr).toBe(0.4 / 25 / 1e4);
    expect(result.epochs.map((e) => e.lr)).toEqual([9, 19, 29, 39, 49, 59].map((k) => seen[k].lr));
    s.end();
  });

  it('per epoch (interval \'epoch\'): the rate and momentum of each epoch\'s steps are the epoch\'s', async () => {
    const o = { maxLr: 0.4, totalSteps: 6, pctStart: 0.4, interval: 'epoch' as const };
    const opt = new Nesterov({ lr: 0.1 });
    const seen: number[][] = [];
    const s = await scheduleTrainer(opt, { epochs: 6, lrSchedule: new OneCycleLR(o), callbacks: { onStepEnd: (e) => { seen.push([e.epoch, opt.lr, opt.momentum]); } } });
    s.trainer.train();
    const ref = torchOneCycle(o);
    expect(seen).toHaveLength(60);
    for (const [epoch, lr, momentum] of seen) {
      expectClose(lr, ref(epoch - 1).lr, o.maxLr, `epoch ${epoch}: lr`);
      expectClose(momentum, ref(epoch - 1).momentum, 1, `epoch ${epoch}: momentum`);
    }
    s.end();
  });

  it('refuses, when made, a run longer than the cycle, freeing what it made: the parameters keep their bits', async () => {
    for (const [what, options, message] of [
      ['60 steps for 59', { epochs: 6, lrSchedule: new OneCycleLR({ maxLr: 0.4, totalSteps: 59 }) }, /^Trainer: lrSchedule OneCycleLR defines 59 steps, and this run takes 60 steps/],
      ['maxIterations 35 for 34', { maxIterations: 35, lrSchedule: new OneCycleLR({ maxLr: 0.4, totalSteps: 34 }) }, /^Trainer: lrSchedule OneCycleLR defines 34 steps, and this run takes 35 steps/],
      ['6 epochs for 5', { epochs: 6, lrSchedule: new OneCycleLR({ maxLr: 0.4, totalSteps: 5, interval: 'epoch' }) }, /^Trainer: lrSchedule OneCycleLR defines 5 epochs, and this run takes 6 epochs/],
      ['maxIterations 51: 6 epochs for 5', { maxIterations: 51, lrSchedule: new OneCycleLR({ maxLr: 0.4, totalSteps: 5, interval: 'epoch' }) }, /defines 5 epochs, and this run takes 6 epochs/],
      ['within a SequentialLR', { epochs: 6, lrSchedule: new SequentialLR({ interval: 'step', milestones: [10], schedulers: [new LinearLR({ interval: 'step' }), new OneCycleLR({ maxLr: 0.4, totalSteps: 49, cycleMomentum: false })] }) }, /lrSchedule SequentialLR defines 59 steps, and this run takes 60/],
      // with a validation split (its copies made before the run's length is known) and an ema's block: freed too
      ['a validation split and an ema', { epochs: 6, validationSplit: 0.2, ema: { decay: 0.9 }, lrSchedule: new OneCycleLR({ maxLr: 0.4, totalSteps: 47 }) }, /defines 47 steps, and this run takes 48 steps/],
    ] as const) {
      const opt = new Momentum({ lr: 0.3, momentum: 0.5 });
      const r = await makeRuntime({ seed: 5 });
      const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
      const d = blobs(r, 40, 1, { spread: 0.5 });
      const before = net.exportParams(), memory = r.memoryStats();
      expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { miniBatchSize: 4, optimizer: opt, ...options }), what).toThrow(RangeError);
      expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { miniBatchSize: 4, optimizer: opt, ...options }), what).toThrow(message);
      expect(r.memoryStats(), `${what}: what the constructor made is freed`).toEqual(memory);
      const after = net.exportParams();
      for (const k of Object.keys(before)) expectBits(after[k].data, before[k].data, `${what}: ${k}`);
      expect(opt.lr, what).toBe(0.3);
      expect(opt.momentum, what).toBe(0.5);
      expect(opt.t, what).toBe(0);
      r.dispose();
    }
    // exactly as long as the cycle: trained
    const fits = await scheduleTrainer(new Momentum(), { maxIterations: 34, lrSchedule: new OneCycleLR({ maxLr: 0.4, totalSteps: 34 }) });
    expect(fits.trainer.train().steps).toBe(34);
    fits.end();
  });

  it('refuses, when made, cycleMomentum with an optimizer that has neither momentum nor beta1', async () => {
    for (const optimizer of [new SGD(), 'adagrad', 'rmsprop', 'adadelta'] as const) {
      const r = await makeRuntime({ seed: 1 });
      const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
      const d = blobs(r, 40, 1);
      const make = (cycleMomentum: boolean) => new Trainer(net, d.x, d.t, d.x, d.t, {
        miniBatchSize: 4, epochs: 1, optimizer: optimizer as never, lrSchedule: new OneCycleLR({ maxLr: 0.1, totalSteps: 10, cycleMomentum }),
      });
      expect(() => make(true), String(optimizer)).toThrow(TypeError);
      expect(() => make(true), String(optimizer)).toThrow(/^Trainer: lrSchedule OneCycleLR cycles momentum, and \w+ has neither momentum nor beta1: pass cycleMomentum: false to the schedule/);
      const t = make(false);
      expect(t.train().steps).toBe(10);
      t.dispose();
      r.dispose();
    }
    // AdamW's beta1 is cycled like Adam's
    const opt = new AdamW({ lr: 0.01 });
    const s = await scheduleTrainer(opt, { maxIterations: 7, lrSchedule: new OneCycleLR({ maxLr: 0.1, totalSteps: 7 }) });
    s.trainer.train();
    expect(opt.beta1).toBe(new OneCycleLR({ maxLr: 0.1, totalSteps: 7 }).momentumAt!(6));
    s.end();
  });

  for (const [name, make] of cyclingOptimizers) it(`resumed from a state taken mid-run: the rate, ${name === 'Adam' ? 'beta1' : 'the momentum'} and parameters of the uninterrupted run, bit for bit (${name})`, async () => {
    const options = (): TrainerBaseOptions => ({ epochs: 5, lrSchedule: new OneCycleLR({ maxLr: 0.4, totalSteps: 50, pctStart: 0.35 }) });
    await expectResumesAsUninterrupted(name, make, options, [7, 23, 30, 50]);
    // a Trainer for a run too long for the schedule is refused when made: no state reaches it
    await expect(scheduleTrainer(make(), { epochs: 5, lrSchedule: new OneCycleLR({ maxLr: 0.4, totalSteps: 49, pctStart: 0.35 }) })).rejects.toThrow(/^Trainer: lrSchedule OneCycleLR defines 49 steps, and this run takes 50 steps/);
  });
  it('per epoch, resumed at an epoch\'s end and within an epoch: the momentum of the uninterrupted run', async () => {
    const options = (): TrainerBaseOptions => ({ epochs: 5, lrSchedule: new OneCycleLR({ maxLr: 0.4, totalSteps: 5, pctStart: 0.5, interval: 'epoch' }) });
    const wantOpt = new Nesterov({ lr: 0.1 });
    const after = new Map<string, number[]>();
    const note = (key: string) => { after.set(key, [wantOpt.lr, wantOpt.momentum]); };
    const want = await scheduleTrainer(wantOpt, { ...options(), callbacks: { onEpochEnd: (e) => note(`epoch ${e.epoch}`), onStepEnd: (e) => note(`step ${e.iter}`) } });
    want.trainer.train();
    for (const at of ['epoch 2', 'step 23', 'epoch 5']) {
      const state = await stateTakenAt(new Nesterov({ lr: 0.1 }), options(), at);
      const opt = new Nesterov({ lr: 0.1, momentum: 0.5 });
      const again = await scheduleTrainer(opt, options());
      again.trainer.resume(state);
      expect([opt.lr, opt.momentum], `resumed at ${at}`).toEqual(after.get(at));
      again.trainer.train();
      const a = again.net.exportParams(), b = want.net.exportParams();
      for (const k of Object.keys(b)) expectBits(a[k].data, b[k].data, `resumed at ${at}: ${k}`);
      again.end();
    }
    want.end();
  });
});
