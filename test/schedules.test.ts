// Learning-rate schedules against PyTorch's formulas (torch.optim.lr_scheduler),
// at chosen periods k, and ReduceLROnPlateau's step(metrics) rules.
import { describe, it, expect } from 'vitest';
import {
  StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, SequentialLR, ReduceLROnPlateau, createSchedule,
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
    expect(() => createSchedule('warm')).toThrow(/unknown name 'warm'/);
    // a name of Object's prototype is no schedule (it returned the options object itself)
    expect(() => createSchedule('constructor', { stepSize: 1 })).toThrow(/^schedule: unknown name 'constructor'/);
    expect(() => createSchedule(null as never)).toThrow(/^schedule: unknown name null/);
    expect(createSchedule('cosine', { tMax: 4 }).lrAt(4, 1)).toBeCloseTo(0, 15);
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
