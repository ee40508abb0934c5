// Learning-rate schedules against PyTorch's formulas (torch.optim.lr_scheduler),
// at chosen periods k, and ReduceLROnPlateau's step(metrics) rules.
import { describe, it, expect } from 'vitest';
import {
  StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, SequentialLR, ReduceLROnPlateau, createSchedule, CosineAnnealingWarmRestarts,
  ConstantLR, PolynomialLR, OneCycleLR, CyclicLR, type LRSchedule,
} from '../src/index.js';

const base = 0.1;

describe('closed-form schedules', () => {
  it('StepLR: base · gamma^⌊k / step_size⌋', () => {
    const s = new StepLR({ stepSize: 3, gamma: 0.5 });
    expect([0, 2, 3, 5, 6, 10].map((k) => s.lrAt(k, base))).toEqual([0.1, 0.1, 0.05, 0.05, 0.025, 0.1 * 0.5 ** 3]);
    expect(new StepLR({ stepSize: 1 }).lrAt(2, 1)).toBeCloseTo(0.01, 15);
  });

  it('MultiStepLR: base · gamma^(number of milestones ≤ k), repeated milestones counted twice', () => {
    const s = new MultiStepLR({ milestones: [5, 2], gamma: 0.1 });
    expect([0, 1, 2, 4, 5, 100].map((k) => s.lrAt(k, 1))).toEqual([1, 1, 0.1, 0.1, 0.1 ** 2, 0.1 ** 2]);
    expect(new MultiStepLR({ milestones: [2, 2], gamma: 0.5 }).lrAt(2, 1)).toBe(0.25);
  });

  it('ExponentialLR: base · gamma^k', () => {
    const s = new ExponentialLR({ gamma: 0.9 });
    for (const k of [0, 1, 7, 30]) expect(s.lrAt(k, base)).toBe(base * 0.9 ** k);
  });

  it('CosineAnnealingLR: eta_min + (base − eta_min)(1 + cos(πk / T_max)) / 2', () => {
    const s = new CosineAnnealingLR({ tMax: 10, etaMin: 0.001 });
    expect(s.lrAt(0, base)).toBe(base);
    expect(s.lrAt(5, base)).toBeCloseTo((base + 0.001) / 2, 15);
    expect(s.lrAt(10, base)).toBeCloseTo(0.001, 15);
    expect(s.lrAt(3, base)).toBe(0.001 + (base - 0.001) * (1 + Math.cos(Math.PI * 3 / 10)) / 2);
  });

  it('LinearLR: base · (start + (end − start) · min(k, total) / total), PyTorch\'s defaults 1/3, 1, 5', () => {
    const s = new LinearLR();
    expect(s.lrAt(0, 0.3)).toBeCloseTo(0.1, 15);
    expect(s.lrAt(5, 0.3)).toBe(0.3);
    expect(s.lrAt(50, 0.3)).toBe(0.3);
    expect(s.lrAt(2, 0.3)).toBeCloseTo(0.3 * (1 / 3 + (2 / 3) * 2 / 5), 15);
  });

  it('SequentialLR: a warm-up, then the next schedule restarted at its milestone', () => {
    const s = new SequentialLR({ schedulers: [new LinearLR({ startFactor: 0.5, totalIters: 2 }), new ExponentialLR({ gamma: 0.5 })], milestones: [2] });
    expect([0, 1, 2, 3, 4].map((k) => s.lrAt(k, 1))).toEqual([0.5, 0.75, 1, 0.5, 0.25]);
    expect(() => new SequentialLR({ schedulers: [new LinearLR()], milestones: [1] })).toThrow(/milestones must be 0 increasing/);
  });

  it('rejects bad options by name, and unknown names', () => {
    expect(() => new StepLR({ stepSize: 0 })).toThrow(/StepLR: stepSize must be a positive integer up to 2\^53 − 1, got 0/);
    // a period beyond 2^53 − 1 has no exact double multiples to reduce by (cos gave NaN at 9e307)
    expect(() => new CosineAnnealingLR({ tMax: 9e307 })).toThrow(/CosineAnnealingLR: tMax must be a positive integer up to 2\^53 − 1, got 9e\+307/);
    expect(() => new ExponentialLR({ gamma: -1 })).toThrow(/gamma must be a number > 0/);
    expect(() => new CosineAnnealingLR({ tMax: 5, eta: 1 } as never)).toThrow(/unknown option 'eta'/);
    expect(() => new LinearLR({ interval: 'batch' } as never)).toThrow(/interval must be 'epoch' or 'step'/);
    expect(() => createSchedule('warm' as never)).toThrow(/unknown name 'warm'/);
    // holes in a list (every() skips them): one was kept as a milestone, undefined
    // eslint-disable-next-line no-sparse-arrays
    expect(() => new MultiStepLR({ milestones: [1, , 3] as never })).toThrow(/^MultiStepLR: milestones must be an array of positive integers, got \[1, undefined, 3\]$/);
    // eslint-disable-next-line no-sparse-arrays
    expect(() => new SequentialLR({ schedulers: [new LinearLR(), new ExponentialLR({ gamma: 0.5 })], milestones: [, ] as never })).toThrow(/^SequentialLR: milestones must be 1 increasing positive integers .*, got \[undefined\]$/);
    // eslint-disable-next-line no-sparse-arrays
    expect(() => new SequentialLR({ schedulers: [new LinearLR(), , new ExponentialLR({ gamma: 0.5 })] as never, milestones: [2, 4] })).toThrow(/^SequentialLR: schedulers\[1\] must be a closed-form schedule/);
    expect(() => new MultiStepLR({ milestones: [1, 2n] as never })).toThrow(/got \[1, bigint 2\]$/);
    // a name of Object's prototype is no schedule (it returned the options object itself)
    expect(() => createSchedule('constructor' as never, { stepSize: 1 } as never)).toThrow(/^schedule: unknown name 'constructor'/);
    expect(() => createSchedule(null as never)).toThrow(/^schedule: unknown name null/);
    expect(createSchedule('cosine', { tMax: 4 }).lrAt(4, 1)).toBeCloseTo(0, 15);
  });
});

describe('a period that is none', () => {
  it('every closed-form schedule refuses NaN, ±Infinity and a negative period, naming itself (lrAt and momentumAt)', () => {
    const schedules: LRSchedule[] = [
      new StepLR({ stepSize: 2 }), new MultiStepLR({ milestones: [2] }), new ExponentialLR({ gamma: 0.9 }), new CosineAnnealingLR({ tMax: 4 }),
      new LinearLR(), new CosineAnnealingWarmRestarts({ t0: 3 }), new ConstantLR(), new PolynomialLR({ power: 0.9 }),
      new OneCycleLR({ maxLr: 0.1, totalSteps: 10 }), new CyclicLR({ baseLr: 0.01, maxLr: 0.1 }),
      new SequentialLR({ schedulers: [new LinearLR(), new StepLR({ stepSize: 2 })], milestones: [5] }),
    ];
    for (const s of schedules) {
      for (const k of [NaN, Infinity, -Infinity, -1, -0.5]) {
        expect(() => s.lrAt(k, 0.1), `${s.name}.lrAt(${k})`).toThrow(new RangeError(`${s.name}: period ${k} must be a finite number >= 0 (the periods done)`));
        if (s.momentumAt) expect(() => s.momentumAt!(k), `${s.name}.momentumAt(${k})`).toThrow(RangeError);
      }
      expect(Number.isFinite(s.lrAt(0, 0.1)), s.name).toBe(true);
    }
  });
});

describe('ReduceLROnPlateau', () => {
  it('reduces after more than `patience` epochs without a relative improvement, then cools down', () => {
    const s = new ReduceLROnPlateau({ factor: 0.5, patience: 1, threshold: 0.1, cooldown: 1 });
    expect(s.lrAt(0, 1)).toBe(1);
    const lrs: number[] = [];
    // 1.0 best; 0.95 is not below 1.0·(1 − 0.1): bad 1; 0.95 again: bad 2 > patience: halve, cooldown 1
    for (const m of [1.0, 0.95, 0.95, 0.95, 0.95, 0.95, 0.5]) { s.observe(m); lrs.push(s.lrAt(0, 1)); }
    // after the reduction: cooldown resets the count once, then two more bad epochs reduce again
    expect(lrs).toEqual([1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]);
    const st = s.state();
    const t = new ReduceLROnPlateau({ factor: 0.5, patience: 1, threshold: 0.1, cooldown: 1 });
    t.loadState(JSON.parse(JSON.stringify(st)));
    expect(t.lrAt(0, 1)).toBe(0.25);
    expect(t.state()).toEqual(st);
  });

  it('mode max with an absolute threshold, and never below minLr', () => {
    const s = new ReduceLROnPlateau({ mode: 'max', thresholdMode: 'abs', threshold: 0.01, patience: 0, factor: 0.1, minLr: 0.005 });
    s.lrAt(0, 0.1);
    s.observe(0.5); // best
    s.observe(0.505); // not above 0.5 + 0.01: bad 1 > 0: reduce to 0.01
    expect(s.lrAt(0, 0.1)).toBeCloseTo(0.01, 15);
    s.observe(0.4); // reduce to max(0.001, 0.005)
    expect(s.lrAt(0, 0.1)).toBe(0.005);
  });

  it('reset() forgets a run: the next lrAt takes its base rate again (a Trainer resets it when a run starts)', () => {
    const s = new ReduceLROnPlateau({ factor: 0.1, patience: 0 });
    s.lrAt(0, 0.5);
    s.observe(1);
    s.observe(2);
    expect(s.lrAt(1, 0.5)).toBeCloseTo(0.05, 15);
    s.reset();
    expect(s.lrAt(0, 0.001)).toBe(0.001);
    expect(s.state()).toEqual({ lr: 0.001, best: 0, hasBest: 0, numBadEpochs: 0, cooldownCounter: 0 });
  });

  it('refuses a metric that is not a number and a state with counts that are not counts; an infinite best survives a checkpoint', () => {
    const s = new ReduceLROnPlateau({ patience: 0 });
    s.lrAt(0, 1);
    expect(() => s.observe('abc' as never)).toThrow(/^ReduceLROnPlateau\.observe: metric must be a number, got the string "abc"$/);
    expect(() => s.loadState({ ...s.state(), numBadEpochs: -5 })).toThrow(/numBadEpochs must be a non-negative integer, got -5/);
    expect(() => s.loadState({ ...s.state(), cooldownCounter: 0.5 })).toThrow(/cooldownCounter must be a non-negative integer, got 0\.5/);
    s.observe(-Infinity); // best −Infinity in min mode: every later metric is a bad epoch
    const t = new ReduceLROnPlateau({ patience: 0 });
    t.loadState(JSON.parse(JSON.stringify(s.state())));
    s.observe(0);
    t.observe(0);
    expect(t.lrAt(2, 1)).toBe(s.lrAt(2, 1));
    expect(s.lrAt(2, 1)).toBeCloseTo(0.1, 15);
  });
});

// PyTorch's chainable forms (what scheduler.step() after each period applies to the optimizer's lr,
// torch/optim/lr_scheduler.py get_lr), run in float64 from lr = base: the reference for hundreds of
// periods, independent of our closed forms. Each `next` takes the lr so far and the scheduler's
// last_epoch after its increment (1, 2, …); `first` is the lr its constructor's initial step sets.
interface TorchChainable { first(base: number): number; next(lr: number, e: number, base: number): number }
const torch = {
  step: (stepSize: number, gamma: number): TorchChainable => ({ first: (b) => b, next: (lr, e) => (e % stepSize === 0 ? lr * gamma : lr) }),
  multiStep: (milestones: number[], gamma: number): TorchChainable => {
    const count = new Map<number, number>();
    for (const m of milestones) count.set(m, (count.get(m) ?? 0) + 1); // collections.Counter
    return { first: (b) => b, next: (lr, e) => (count.has(e) ? lr * gamma ** count.get(e)! : lr) };
  },
  exponential: (gamma: number): TorchChainable => ({ first: (b) => b, next: (lr) => lr * gamma }),
  cosine: (tMax: number, etaMin: number): TorchChainable => ({
    first: (b) => b,
    next: (lr, e, base) => ((((e - 1 - tMax) % (2 * tMax)) + 2 * tMax) % (2 * tMax) === 0 // Python's %
      ? lr + (base - etaMin) * (1 - Math.cos(Math.PI / tMax)) / 2
      : (1 + Math.cos(Math.PI * e / tMax)) / (1 + Math.cos(Math.PI * (e - 1) / tMax)) * (lr - etaMin) + etaMin),
  }),
  linear: (start: number, end: number, total: number): TorchChainable => ({
    first: (b) => b * start,
    next: (lr, e) => (e > total ? lr : lr * (1 + (end - start) / (total * start + (e - 1) * (end - start)))),
  }),
};

/** The lr of periods 0 … n−1 of a chainable scheduler stepped once after each period. */
function torchSequence(s: TorchChainable, base: number, n: number): number[] {
  const out = [s.first(base)];
  for (let e = 1; e < n; e++) out.push(s.next(out[e - 1], e, base));
  return out;
}

/**
 * SequentialLR.step(): last_epoch + 1; the scheduler bisect_right(milestones) picks; at its milestone
 * `_update_lr(0)` (its closed form at 0, which is its constructor's first lr), else its own step().
 */
function torchSequential(parts: TorchChainable[], milestones: number[], base: number, n: number): number[] {
  const out = [parts[0].first(base)];
  let local = 0;
  for (let e = 1; e < n; e++) {
    let idx = 0;
    while (idx < milestones.length && milestones[idx] <= e) idx++;
    if (idx > 0 && milestones[idx - 1] === e) { local = 0; out.push(parts[idx].first(base)); } else out.push(parts[idx].next(out[e - 1], ++local, base));
  }
  return out;
}

/** Every period's lr within 1e-12 of the base rate of the reference's (float64 rounding of the chainable products). */
function expectSequence(s: { lrAt(k: number, base: number): number }, want: number[], base: number, what: string) {
  want.forEach((lr, k) => {
    const got = s.lrAt(k, base);
    if (!(Math.abs(got - lr) <= 1e-12 * base)) expect.fail(`${what}: period ${k}: lr ${got}, PyTorch's chainable form ${lr}`);
  });
}

describe('schedules against PyTorch\'s chainable forms over 400 periods', () => {
  const n = 400, base = 0.1;
  it('StepLR, MultiStepLR (unsorted, repeated milestones), ExponentialLR (gamma 1 included)', () => {
    expectSequence(new StepLR({ stepSize: 7, gamma: 0.8 }), torchSequence(torch.step(7, 0.8), base, n), base, 'StepLR 7, 0.8');
    expectSequence(new StepLR({ stepSize: 1, gamma: 1 }), torchSequence(torch.step(1, 1), base, n), base, 'StepLR gamma 1');
    const milestones = [300, 30, 120, 30, 399, 1];
    expectSequence(new MultiStepLR({ milestones, gamma: 0.5 }), torchSequence(torch.multiStep(milestones, 0.5), base, n), base, 'MultiStepLR');
    expectSequence(new MultiStepLR({ milestones: [], gamma: 0.5 }), torchSequence(torch.multiStep([], 0.5), base, n), base, 'MultiStepLR, no milestones');
    expectSequence(new ExponentialLR({ gamma: 0.99 }), torchSequence(torch.exponential(0.99), base, n), base, 'ExponentialLR 0.99');
    expectSequence(new ExponentialLR({ gamma: 1 }), torchSequence(torch.exponential(1), base, n), base, 'ExponentialLR gamma 1');
  });

  it('CosineAnnealingLR through tMax and past it: back up to the base rate over the next tMax periods, and again', () => {
    for (const [tMax, etaMin] of [[50, 0], [37, 0.001], [1, 0.01], [400, 0], [3, 0]] as const) {
      const s = new CosineAnnealingLR({ tMax, etaMin });
      const want = torchSequence(torch.cosine(tMax, etaMin), base, n);
      expectSequence(s, want, base, `CosineAnnealingLR tMax ${tMax}, etaMin ${etaMin}`);
      if (2 * tMax < n) {
        expect(s.lrAt(tMax, base)).toBeCloseTo(etaMin, 15);
        expect(s.lrAt(2 * tMax, base), 'a whole period after the start: the base rate again').toBeCloseTo(base, 15);
      }
    }
  });

  it('LinearLR warm-up and decay, before and after totalIters', () => {
    for (const [start, end, total] of [[1 / 3, 1, 5], [0.01, 1, 100], [1, 0.1, 250], [0.5, 0.5, 3]] as const) {
      expectSequence(new LinearLR({ startFactor: start, endFactor: end, totalIters: total }), torchSequence(torch.linear(start, end, total), base, n), base, `LinearLR ${start} → ${end} over ${total}`);
    }
  });

  it('SequentialLR: schedulers[0] from the first period (no step skipped), each next one from its own period 0 at its milestone', () => {
    const make = () => [new LinearLR({ startFactor: 0.1, totalIters: 10 }), new CosineAnnealingLR({ tMax: 90, etaMin: 0.001 }), new StepLR({ stepSize: 25, gamma: 0.5 })];
    const s = new SequentialLR({ schedulers: make(), milestones: [10, 190] });
    const want = torchSequential([torch.linear(0.1, 1, 10), torch.cosine(90, 0.001), torch.step(25, 0.5)], [10, 190], base, n);
    expectSequence(s, want, base, 'SequentialLR warm-up, cosine (past its tMax), step');
    expect(s.lrAt(0, base)).toBeCloseTo(0.1 * base, 15); // LinearLR's first value, not its second
    expect(s.lrAt(10, base)).toBeCloseTo(base, 15); // the cosine's period 0 at its milestone
    expect(s.lrAt(190, base)).toBe(base); // StepLR's period 0
    // a warm-up shorter than its milestone holds its end rate until the switch
    const held = new SequentialLR({ schedulers: [new LinearLR({ startFactor: 0.5, totalIters: 3 }), new ExponentialLR({ gamma: 0.9 })], milestones: [8] });
    expectSequence(held, torchSequential([torch.linear(0.5, 1, 3), torch.exponential(0.9)], [8], base, n), base, 'SequentialLR, warm-up held');
  });
});

/** PyTorch's ReduceLROnPlateau.step(metrics) on its optimizer's lr (float64), as lr_scheduler.py has it. */
function torchPlateau(o: { mode?: 'min' | 'max'; factor?: number; patience?: number; threshold?: number; thresholdMode?: 'rel' | 'abs'; cooldown?: number; minLr?: number; eps?: number }, base: number) {
  const { mode = 'min', factor = 0.1, patience = 10, threshold = 1e-4, thresholdMode = 'rel', cooldown = 0, minLr = 0, eps = 1e-8 } = o;
  let lr = base, best = mode === 'min' ? Infinity : -Infinity, bad = 0, cool = 0;
  const better = (a: number) => (mode === 'min'
    ? (thresholdMode === 'rel' ? a < best * (1 - threshold) : a < best - threshold)
    : (thresholdMode === 'rel' ? a > best * (threshold + 1) : a > best + threshold));
  return {
    get lr() { return lr; },
    step(metric: number) {
      if (better(metric)) { best = metric; bad = 0; } else bad++;
      if (cool > 0) { cool--; bad = 0; }
      if (bad > patience) {
        const next = Math.max(lr * factor, minLr);
        if (lr - next > eps) lr = next;
        cool = cooldown;
        bad = 0;
      }
    },
  };
}

describe('ReduceLROnPlateau against PyTorch\'s step(metrics) over 300 epochs', () => {
  // a noisy metric with plateaus, NaNs, infinities and exact repeats
  const metrics = Array.from({ length: 300 }, (_, i) => {
    if (i % 37 === 5) return NaN;
    if (i === 77) return Infinity;
    if (i % 23 === 0) return 0.5;
    return 1 / (1 + Math.floor(i / 40)) + 0.05 * Math.sin(i * 1.7);
  });
  const cases: Array<ConstructorParameters<typeof ReduceLROnPlateau>[0]> = [
    {},
    { patience: 0, factor: 0.5 },
    { patience: 2, cooldown: 3, factor: 0.7 }, // a cooldown longer than the patience
    { patience: 3, cooldown: 3, factor: 0.5, threshold: 0.05 },
    { patience: 1, cooldown: 1, thresholdMode: 'abs', threshold: 0.01, minLr: 0.004, factor: 0.5 },
    { mode: 'max', patience: 1, factor: 0.8, threshold: 0.02 },
    { mode: 'max', thresholdMode: 'abs', threshold: 0, patience: 0, factor: 0.9, eps: 1e-3 }, // eps stops the cuts below 1e-3
  ];
  for (const options of cases) it(`${JSON.stringify(options)}`, () => {
    const s = new ReduceLROnPlateau(options), ref = torchPlateau(options!, base);
    expect(s.lrAt(0, base)).toBe(base);
    metrics.forEach((m, epoch) => {
      s.observe(m);
      ref.step(m);
      expect(s.lrAt(epoch + 1, base), `after epoch ${epoch} (metric ${m})`).toBe(ref.lr);
    });
  });
});
