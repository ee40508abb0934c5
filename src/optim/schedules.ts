// Learning-rate schedules with PyTorch's names and semantics
// (torch.optim.lr_scheduler). Each gives the rate as a closed form of the
// number of periods done, k (0 before the first period: the base rate), so a
// resumed run needs only k; ReduceLROnPlateau alone keeps state, exported by
// state(). The Trainer sets the optimizer's `lr` (and OneCycleLR's or CyclicLR's momentum)
// before each period; the optimizer kernels take them as arguments, so a
// schedule costs no extra pass.
import { badNumber, describeValue, shown } from '../runtime/tensor.js';
import { exactCosPiRatio, exactPow, exactPowInt } from '../runtime/exact-math.js';
import { checkFlag, optionOr } from '../runtime/options.js';

/** When a schedule advances: once per epoch (PyTorch's usual `scheduler.step()` per epoch) or once per optimizer step. */
export type ScheduleInterval = 'epoch' | 'step';

/** What every schedule shares: the Trainer calls `lrAt` before each period (epoch or step). */
export interface LRSchedule {
  /** PyTorch's class name ('StepLR', …). */
  readonly name: string;
  readonly interval: ScheduleInterval;
  /** The learning rate for period k (k periods done, 0-based) given the optimizer's base rate. */
  lrAt(k: number, baseLr: number): number;
  /**
   * The most periods the schedule defines (OneCycleLR's totalSteps; absent: no end): a Trainer refuses a run of
   * more periods before its first step, where PyTorch's scheduler raises part way through.
   */
  readonly periods?: number;
  /**
   * The momentum for period k (OneCycleLR, CyclicLR with cycleMomentum): the Trainer sets it with the rate, as the optimizer's
   * `momentum` (Momentum, Nesterov) or `beta1` (Adam, AdamW: PyTorch's betas[0]).
   */
  momentumAt?(k: number): number;
  /**
   * Reports the epoch's metric (ReduceLROnPlateau only). The Trainer passes the validation loss, else the training
   * loss; to a schedule whose `mode` is 'max', the validation accuracy, else the training accuracy.
   */
  observe?(metric: number): void;
  /** Plain-JSON state for checkpoints (stateful schedules only). */
  state?(): Record<string, number>;
  /** Restores what state() returned. */
  loadState?(state: Record<string, number>): void;
  /** Forgets what earlier runs observed (stateful schedules only): the Trainer calls it when a run starts from its first step. */
  reset?(): void;
}

/** The interval option every closed-form schedule takes. */
export interface IntervalOption {
  /** Advance per 'epoch' (default) or per optimizer 'step'. */
  interval?: ScheduleInterval;
}

/** A number option, finite and `ok`: a TypeError naming it for a value that is no number (null too), a RangeError for one out of range. */
function check(who: string, name: string, v: unknown, ok: (v: number) => boolean, expected: string): number {
  if (!(typeof v === 'number' && Number.isFinite(v) && ok(v))) throw badNumber(v, `${who}: ${name} must be ${expected}, got ${shown(v)}`);
  return v;
}

/** An optional number option: `fallback` when left out (undefined; null is refused, by optionOr), else checked as check() does. */
function checkOr(who: string, name: string, v: unknown, fallback: number, ok: (v: number) => boolean, expected: string): number {
  return check(who, name, optionOr(who, name, v, fallback), ok, expected);
}

/**
 * An optional string option, one of `choices`: `fallback` when left out (undefined; null is refused, by optionOr), a
 * TypeError naming it for a value that is no string, a RangeError for another string.
 */
function choiceOr<T extends string>(who: string, name: string, given: unknown, fallback: T, choices: readonly T[]): T {
  const v = optionOr(who, name, given, fallback);
  if (typeof v === 'string' && (choices as readonly string[]).includes(v)) return v as T;
  const quoted = choices.map((c) => `'${c}'`);
  const message = `${who}: ${name} must be ${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}, got ${typeof v === 'string' ? v : describeValue(v)}`;
  throw typeof v === 'string' ? new RangeError(message) : new TypeError(message);
}

/** Refuses (naming the schedule) a period that is not a finite number >= 0: a rate from NaN, ±Infinity or before the start is none. */
function checkPeriod(who: string, k: number): void {
  if (!(k >= 0 && k < Infinity)) throw new RangeError(`${who}: period ${String(k)} must be a finite number >= 0 (the periods done)`);
}

function checkKeys(who: string, options: object, keys: readonly string[]): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options must be an object, got ${String(options)}`);
  for (const key of Object.keys(options)) {
    if (!keys.includes(key) && key !== 'interval') throw new TypeError(`${who}: unknown option '${key}' (expected one of ${[...keys, 'interval'].join(', ')})`);
  }
}

function intervalOf(who: string, options: IntervalOption, fallback: ScheduleInterval = 'epoch'): ScheduleInterval {
  return choiceOr(who, 'interval', options.interval, fallback, ['epoch', 'step']);
}

// counts beyond 2^53 − 1 are not integers a double holds exactly (nor a cosine's period it can reduce)
const positiveInt = (v: number) => Number.isSafeInteger(v) && v > 0;
const nonNegativeInt = (v: number) => Number.isInteger(v) && v >= 0;

/** Number of sorted `milestones` <= k (Python's bisect_right). */
function bisectRight(milestones: readonly number[], k: number): number {
  let n = 0;
  while (n < milestones.length && milestones[n] <= k) n++;
  return n;
}

/** StepLR's options (PyTorch's arguments in camelCase). */
export interface StepLROptions extends IntervalOption { stepSize: number; gamma?: number }

/** StepLR: lr = base · gamma^⌊k / stepSize⌋ (gamma default 0.1). */
export class StepLR implements LRSchedule {
  readonly name = 'StepLR';
  readonly interval: ScheduleInterval;
  readonly stepSize: number;
  readonly gamma: number;
  /**
   * StepLR multiplying the rate by `gamma` (default 0.1) every `stepSize` periods (a positive integer), per
   * `interval` ('epoch' default, or 'step'). Holds no memory (nothing to dispose); give it to TrainerOptions.lrSchedule.
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default); RangeError naming a value out of range.
   */
  constructor(options: StepLROptions) {
    checkKeys('StepLR', options, ['stepSize', 'gamma']);
    this.stepSize = check('StepLR', 'stepSize', options.stepSize, positiveInt, 'a positive integer up to 2^53 − 1');
    this.gamma = checkOr('StepLR', 'gamma', options.gamma, 0.1, (v) => v > 0, 'a number > 0');
    this.interval = intervalOf('StepLR', options);
  }
  lrAt(k: number, baseLr: number): number {
    checkPeriod('StepLR', k);
    return baseLr * exactPowInt(this.gamma, Math.floor(k / this.stepSize));
  }
}

/** A list of values for a message (a hole as undefined; never throws, as JSON.stringify does on a BigInt). */
const shownList = (v: unknown): string => (Array.isArray(v) ? `[${Array.from(v, shown).join(', ')}]` : shown(v));

/** MultiStepLR's options (PyTorch's arguments in camelCase). */
export interface MultiStepLROptions extends IntervalOption { milestones: readonly number[]; gamma?: number }

/** MultiStepLR: lr = base · gamma^(milestones ≤ k) (gamma default 0.1; a repeated milestone counts twice, as PyTorch's Counter). */
export class MultiStepLR implements LRSchedule {
  readonly name = 'MultiStepLR';
  readonly interval: ScheduleInterval;
  readonly milestones: readonly number[];
  readonly gamma: number;
  /**
   * MultiStepLR multiplying the rate by `gamma` (default 0.1) at each of `milestones` (positive integers, in any
   * order: a copy is sorted), per `interval` ('epoch' default, or 'step'). Holds no memory (nothing to dispose); give it to TrainerOptions.lrSchedule.
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default); RangeError naming a value out of range
   * (milestones: not an array of positive integers).
   */
  constructor(options: MultiStepLROptions) {
    checkKeys('MultiStepLR', options, ['milestones', 'gamma']);
    // Array.from: a hole is undefined there (every() skips holes, and one was kept as a milestone)
    const m = Array.isArray(options.milestones) ? Array.from(options.milestones) : options.milestones;
    if (!Array.isArray(m) || !m.every((v) => Number.isInteger(v) && v > 0)) {
      const message = `MultiStepLR: milestones must be an array of positive integers, got ${shownList(m)}`;
      throw Array.isArray(m) ? new RangeError(message) : new TypeError(message);
    }
    this.milestones = m.sort((a, b) => a - b);
    this.gamma = checkOr('MultiStepLR', 'gamma', options.gamma, 0.1, (v) => v > 0, 'a number > 0');
    this.interval = intervalOf('MultiStepLR', options);
  }
  lrAt(k: number, baseLr: number): number {
    checkPeriod('MultiStepLR', k);
    return baseLr * exactPowInt(this.gamma, bisectRight(this.milestones, k));
  }
}

/** ExponentialLR's options (PyTorch's arguments in camelCase). */
export interface ExponentialLROptions extends IntervalOption { gamma: number }

/** ExponentialLR: lr = base · gamma^k. */
export class ExponentialLR implements LRSchedule {
  readonly name = 'ExponentialLR';
  readonly interval: ScheduleInterval;
  readonly gamma: number;
  /**
   * ExponentialLR multiplying the rate by `gamma` (> 0) every period, per `interval` ('epoch' default, or 'step').
   * Holds no memory (nothing to dispose); give it to TrainerOptions.lrSchedule.
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default); RangeError naming a value out of range.
   */
  constructor(options: ExponentialLROptions) {
    checkKeys('ExponentialLR', options, ['gamma']);
    this.gamma = check('ExponentialLR', 'gamma', options.gamma, (v) => v > 0, 'a number > 0');
    this.interval = intervalOf('ExponentialLR', options);
  }
  lrAt(k: number, baseLr: number): number {
    checkPeriod('ExponentialLR', k);
    return baseLr * exactPowInt(this.gamma, k);
  }
}

/** CosineAnnealingLR's options (PyTorch's arguments in camelCase). */
export interface CosineAnnealingLROptions extends IntervalOption { tMax: number; etaMin?: number }

/**
 * CosineAnnealingLR (PyTorch's closed form): lr = etaMin + (base − etaMin)·(1 + cos(π·k / tMax)) / 2 (etaMin default 0).
 * Past tMax the cosine goes on, as PyTorch's does: back up to the base rate at 2·tMax, down again at 3·tMax (it
 * neither stays at etaMin, as Keras's CosineDecay does, nor restarts): end the run at tMax periods for one descent.
 * Per step over a whole run, tMax is the Trainer's maxIter: epochs × ⌊rows / batch⌋ (it drops the partial batch
 * that PyTorch's DataLoader keeps by default, so epochs × len(loader) would stop short of etaMin).
 */
export class CosineAnnealingLR implements LRSchedule {
  readonly name = 'CosineAnnealingLR';
  readonly interval: ScheduleInterval;
  readonly tMax: number;
  readonly etaMin: number;
  /**
   * CosineAnnealingLR from the base rate down to `etaMin` (default 0) over `tMax` periods (a positive integer),
   * per `interval` ('epoch' default, or 'step'). Holds no memory (nothing to dispose); give it to TrainerOptions.lrSchedule.
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default); RangeError naming a value out of range.
   */
  constructor(options: CosineAnnealingLROptions) {
    checkKeys('CosineAnnealingLR', options, ['tMax', 'etaMin']);
    this.tMax = check('CosineAnnealingLR', 'tMax', options.tMax, positiveInt, 'a positive integer up to 2^53 − 1');
    this.etaMin = checkOr('CosineAnnealingLR', 'etaMin', options.etaMin, 0, (v) => v >= 0, 'a number >= 0');
    this.interval = intervalOf('CosineAnnealingLR', options);
  }
  lrAt(k: number, baseLr: number): number {
    checkPeriod('CosineAnnealingLR', k);
    return this.etaMin + (baseLr - this.etaMin) * (1 + exactCosPiRatio(k, this.tMax)) / 2;
  }
}

/** CosineAnnealingWarmRestarts' options (PyTorch's arguments in camelCase: T_0, T_mult, eta_min). */
export interface CosineAnnealingWarmRestartsOptions extends IntervalOption { t0: number; tMult?: number; etaMin?: number }

/**
 * CosineAnnealingWarmRestarts (SGDR), PyTorch's closed form (its step(epoch)): cycles of t0, t0·tMult, t0·tMult², …
 * periods, each a cosine from the base rate down towards etaMin that restarts at the base rate:
 * lr = etaMin + (base − etaMin)·(1 + cos(π·tCur / tI)) / 2, tCur the periods done of the current cycle, tI its length.
 * The cycle is found with integers (PyTorch's step(epoch) takes a floating logarithm for it). With tMult > 1 the
 * cycles grow until one is longer than 2^53 − 1 periods, which no double counts exactly: `periods` ends the
 * schedule at that cycle's start (2^53 − 1 for t0 1 and tMult 2; within a run's reach only for a tMult near
 * 2^53 / t0: t0 3 and tMult 2^52 end at period 3).
 */
export class CosineAnnealingWarmRestarts implements LRSchedule {
  readonly name = 'CosineAnnealingWarmRestarts';
  readonly interval: ScheduleInterval;
  readonly t0: number;
  readonly tMult: number;
  readonly etaMin: number;
  /** The periods before the first cycle longer than 2^53 − 1 (undefined: every period a double counts has its cycle). */
  readonly periods: number | undefined;
  /**
   * CosineAnnealingWarmRestarts from the base rate down to `etaMin` (default 0) over a first cycle of `t0` periods
   * (a positive integer), each next cycle `tMult` (an integer >= 1, default 1) times longer, per `interval`
   * ('epoch' default, or 'step'). Holds no memory (nothing to dispose); give it to TrainerOptions.lrSchedule.
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default); RangeError naming a value out of range.
   */
  constructor(options: CosineAnnealingWarmRestartsOptions) {
    const who = 'CosineAnnealingWarmRestarts';
    checkKeys(who, options, ['t0', 'tMult', 'etaMin']);
    this.t0 = check(who, 't0', options.t0, positiveInt, 'a positive integer up to 2^53 − 1');
    this.tMult = checkOr(who, 'tMult', options.tMult, 1, positiveInt, 'an integer >= 1 up to 2^53 − 1');
    this.etaMin = checkOr(who, 'etaMin', options.etaMin, 0, (v) => v >= 0, 'a number >= 0');
    this.interval = intervalOf(who, options);
    this.periods = this.tMult === 1 ? undefined : restartsEnd(this.t0, this.tMult);
  }
  /** @throws RangeError for k at or past `periods`. */
  lrAt(k: number, baseLr: number): number {
    checkPeriod('CosineAnnealingWarmRestarts', k);
    if (this.periods !== undefined && k >= this.periods) {
      throw new RangeError(`CosineAnnealingWarmRestarts: period ${k} is past the schedule's end (it defines ${this.periods} periods; the next cycle is longer than 2^53 − 1)`);
    }
    // the cycle k is in: its start and length tI (with tMult > 1, whole cycles while k is past them: tI grows at
    // most ~53 times, and stops once it passes what is left of k, a countable length below periods)
    let start = k - (k % this.t0), tI = this.t0;
    if (this.tMult > 1) {
      start = 0;
      while (k - start >= tI) { start += tI; tI *= this.tMult; }
    }
    const tCur = k - start;
    return this.etaMin + (baseLr - this.etaMin) * (1 + exactCosPiRatio(tCur, tI)) / 2;
  }
}

/**
 * Where cycles of t0·tMult^i (tMult > 1) stop being countable: the start of the first cycle longer than
 * 2^53 − 1, or undefined when a cycle of a countable length already reaches period 2^53 − 1.
 */
function restartsEnd(t0: number, tMult: number): number | undefined {
  let start = 0, length = t0;
  while (length <= Number.MAX_SAFE_INTEGER) {
    if (length > Number.MAX_SAFE_INTEGER - start) return undefined;
    start += length;
    length *= tMult; // past 2^53 − 1 it may round, but stays past it
  }
  return start;
}

/** LinearLR's options (PyTorch's arguments in camelCase). */
export interface LinearLROptions extends IntervalOption { startFactor?: number; endFactor?: number; totalIters?: number }

/**
 * LinearLR, the usual linear warm-up: lr = base · (startFactor + (endFactor − startFactor)·min(k, totalIters) / totalIters)
 * (defaults 1/3, 1, 5 as PyTorch's). Use interval 'step' to warm up over optimizer steps.
 */
export class LinearLR implements LRSchedule {
  readonly name = 'LinearLR';
  readonly interval: ScheduleInterval;
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;
  /**
   * LinearLR from startFactor (default 1/3) to endFactor (default 1) times the base rate over totalIters periods
   * (default 5), per `interval` ('epoch' default, or 'step'). Holds no memory (nothing to dispose); give it to TrainerOptions.lrSchedule.
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default); RangeError naming a value out of range.
   */
  constructor(options: LinearLROptions = {}) {
    checkKeys('LinearLR', options, ['startFactor', 'endFactor', 'totalIters']);
    this.startFactor = checkOr('LinearLR', 'startFactor', options.startFactor, 1 / 3, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
    this.endFactor = checkOr('LinearLR', 'endFactor', options.endFactor, 1, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
    this.totalIters = checkOr('LinearLR', 'totalIters', options.totalIters, 5, positiveInt, 'a positive integer up to 2^53 − 1');
    this.interval = intervalOf('LinearLR', options);
  }
  lrAt(k: number, baseLr: number): number {
    checkPeriod('LinearLR', k);
    return baseLr * (this.startFactor + (this.endFactor - this.startFactor) * Math.min(k, this.totalIters) / this.totalIters);
  }
}

/** OneCycleLR's options (PyTorch's arguments in camelCase): its length as totalSteps, or as epochs and stepsPerEpoch. */
export interface OneCycleLROptions {
  /** The peak rate (> 0); the cycle starts at maxLr / divFactor and ends at that / finalDivFactor. */
  maxLr: number;
  /** Periods in the cycle (a positive integer); or give epochs and stepsPerEpoch, whose product it then is. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** The share of the cycle spent raising the rate, in (0, 1) (default 0.3). */
  pctStart?: number;
  /** 'cos' (default) or 'linear' annealing within each phase. */
  annealStrategy?: 'cos' | 'linear';
  /** Cycle the optimizer's momentum or beta1 inversely to the rate, between maxMomentum and baseMomentum (default true). */
  cycleMomentum?: boolean;
  /** The momentum at the peak rate (default 0.85) and at the start and end (default 0.95), each in [0, 1). */
  baseMomentum?: number;
  maxMomentum?: number;
  /** initial rate = maxLr / divFactor (default 25); minimum rate = initial rate / finalDivFactor (default 1e4); each > 0. */
  divFactor?: number;
  finalDivFactor?: number;
  /** A third phase (the first two symmetric, then down to the minimum rate) instead of fastai's two (default false). */
  threePhase?: boolean;
  /** Advance per optimizer 'step' (default here: PyTorch's OneCycleLR is stepped after every batch), or per 'epoch'. */
  interval?: ScheduleInterval;
}

/** A phase of OneCycleLR: up to period `end` (a float, as PyTorch's end_step), from one rate and momentum to the next. */
interface OneCyclePhase { end: number; startLr: number; endLr: number; startMomentum: number; endMomentum: number }

/**
 * OneCycleLR, transcribed from PyTorch's (torch/optim/lr_scheduler.py, class OneCycleLR: its phases' end_step and
 * get_lr, as of pytorch/pytorch 008f727ece15): the rate rises from maxLr / divFactor to maxLr over the first pctStart of totalSteps periods, then falls
 * to maxLr / divFactor / finalDivFactor (threePhase: back to maxLr / divFactor, then down to that minimum), each
 * phase annealed by cosine or linearly; with cycleMomentum the momentum moves the other way (momentumAt). It sets
 * the rate itself, from maxLr: lrAt ignores the optimizer's base rate. It advances per optimizer step by default
 * (PyTorch's is stepped after every batch): a run of totalSteps steps at most, which a Trainer checks before it
 * starts (PyTorch raises once stepped past totalSteps); with interval 'epoch', totalSteps counts epochs.
 */
export class OneCycleLR implements LRSchedule {
  readonly name = 'OneCycleLR';
  readonly interval: ScheduleInterval;
  readonly maxLr: number;
  readonly totalSteps: number;
  readonly pctStart: number;
  readonly annealStrategy: 'cos' | 'linear';
  readonly cycleMomentum: boolean;
  readonly baseMomentum: number;
  readonly maxMomentum: number;
  readonly divFactor: number;
  readonly finalDivFactor: number;
  readonly threePhase: boolean;
  /** The momentum for period k, present with cycleMomentum (the Trainer then sets the optimizer's momentum or beta1). */
  readonly momentumAt?: (k: number) => number;
  private readonly phases: readonly OneCyclePhase[];

  /**
   * OneCycleLR with `options` (OneCycleLROptions: maxLr, and totalSteps or epochs and stepsPerEpoch; the rest
   * optional, defaults as PyTorch's). Holds no memory (nothing to dispose); give it to TrainerOptions.lrSchedule, with
   * an optimizer that has a momentum (Momentum, Nesterov) or beta1 (Adam, AdamW) unless cycleMomentum is false.
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default); RangeError naming a value out of range, for a length given neither or both ways, or a pctStart and
   * totalSteps that leave a phase no periods (pctStart·totalSteps = 1; with threePhase also 2·pctStart·totalSteps =
   * totalSteps + 1), where PyTorch divides by zero.
   */
  constructor(options: OneCycleLROptions) {
    const who = 'OneCycleLR';
    checkKeys(who, options, ['maxLr', 'totalSteps', 'epochs', 'stepsPerEpoch', 'pctStart', 'annealStrategy', 'cycleMomentum', 'baseMomentum',
      'maxMomentum', 'divFactor', 'finalDivFactor', 'threePhase']);
    this.maxLr = check(who, 'maxLr', options.maxLr, (v) => v > 0, 'a number > 0');
    this.totalSteps = oneCycleLength(options);
    const p = this.pctStart = checkOr(who, 'pctStart', options.pctStart, 0.3, (v) => v > 0 && v < 1, 'a number in (0, 1)');
    const annealStrategy = choiceOr(who, 'annealStrategy', options.annealStrategy, 'cos', ['cos', 'linear']);
    const cycleMomentum = optionOr(who, 'cycleMomentum', options.cycleMomentum, true), threePhase = optionOr(who, 'threePhase', options.threePhase, false);
    checkFlag(who, 'cycleMomentum', cycleMomentum);
    checkFlag(who, 'threePhase', threePhase);
    this.annealStrategy = annealStrategy;
    this.cycleMomentum = cycleMomentum;
    this.threePhase = threePhase;
    // what the optimizers take as momentum or beta1
    const unit = (v: number) => v >= 0 && v < 1;
    const base = this.baseMomentum = checkOr(who, 'baseMomentum', options.baseMomentum, 0.85, unit, 'a number in [0, 1)');
    const max = this.maxMomentum = checkOr(who, 'maxMomentum', options.maxMomentum, 0.95, unit, 'a number in [0, 1)');
    this.divFactor = checkOr(who, 'divFactor', options.divFactor, 25, (v) => v > 0, 'a number > 0');
    this.finalDivFactor = checkOr(who, 'finalDivFactor', options.finalDivFactor, 1e4, (v) => v > 0, 'a number > 0');
    const initialLr = this.maxLr / this.divFactor, minLr = initialLr / this.finalDivFactor;
    if (!Number.isFinite(minLr)) throw new RangeError(`${who}: maxLr / divFactor / finalDivFactor must be finite, got ${this.maxLr} / ${this.divFactor} / ${this.finalDivFactor}`);
    this.interval = intervalOf(who, options, 'step');
    const T = this.totalSteps;
    // PyTorch's _schedule_phases: end_step float(pct_start * total_steps) - 1, float(2 * pct_start * total_steps) - 2, total_steps - 1
    const up: OneCyclePhase = { end: p * T - 1, startLr: initialLr, endLr: this.maxLr, startMomentum: max, endMomentum: base };
    this.phases = threePhase
      ? [up, { end: 2 * p * T - 2, startLr: this.maxLr, endLr: initialLr, startMomentum: base, endMomentum: max }, { end: T - 1, startLr: initialLr, endLr: minLr, startMomentum: max, endMomentum: max }]
      : [up, { end: T - 1, startLr: this.maxLr, endLr: minLr, startMomentum: base, endMomentum: max }];
    // a phase reached with no length: PyTorch's pct is x / 0 there (a ZeroDivisionError), the first phase's at
    // period 0, the third's at period totalSteps (the other phases are never reached when empty)
    const last = this.phases.length - 1;
    if (this.phases[0].end === 0 || this.phases[last].end === this.phases[last - 1].end) {
      throw new RangeError(`${who}: pctStart ${p} with totalSteps ${T} leaves a phase no periods (pctStart·totalSteps = 1${threePhase ? ', or 2·pctStart·totalSteps = totalSteps + 1' : ''}), where PyTorch's OneCycleLR divides by zero: change pctStart or totalSteps`);
    }
    if (cycleMomentum) this.momentumAt = (k) => this.at(k, true);
  }

  /** The most periods the cycle defines: totalSteps. */
  get periods(): number {
    return this.totalSteps;
  }

  /** The rate for period k (0 to totalSteps, as PyTorch's get_lr); `_baseLr` is not used (the cycle is maxLr's). @throws RangeError past totalSteps. */
  lrAt(k: number, _baseLr?: number): number {
    return this.at(k, false);
  }

  /** PyTorch's get_lr for `step_num` k: the first phase whose end_step k does not pass (else the last), annealed at pct. */
  private at(k: number, momentum: boolean): number {
    checkPeriod('OneCycleLR', k);
    if (k > this.totalSteps) throw new RangeError(`OneCycleLR: period ${k} is past totalSteps ${this.totalSteps} (PyTorch's raises "Tried to step ${k} times")`);
    const phases = this.phases;
    let i = 0;
    while (i < phases.length - 1 && k > phases[i].end) i++;
    const start = i === 0 ? 0 : phases[i - 1].end;
    const pct = (k - start) / (phases[i].end - start);
    const phase = phases[i];
    if (!momentum) return this.anneal(phase.startLr, phase.endLr, pct);
    // the formula can round an ulp past the momenta it moves between (to 1 from 1 − 2^-53, which the optimizers
    // refuse part way through a run): kept between them
    const m = this.anneal(phase.startMomentum, phase.endMomentum, pct);
    return Math.min(Math.max(m, Math.min(this.baseMomentum, this.maxMomentum)), Math.max(this.baseMomentum, this.maxMomentum));
  }

  /** PyTorch's _annealing_cos (end + (start − end)/2·(cos(π·pct) + 1)) or _annealing_linear ((end − start)·pct + start). */
  private anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === 'linear') return (end - start) * pct + start;
    // cos(π·pct) with the same bits on every engine: pct is a double, not a ratio of integers, but with n = 1 every
    // reduction exactCosPiRatio makes (r % 2, 2 − r, 1 − r, 1 − 2r) is exact for any finite double (Sterbenz)
    const cosOut = exactCosPiRatio(Math.abs(pct), 1) + 1;
    return end + (start - end) / 2 * cosOut;
  }
}

/** OneCycleLR's totalSteps, given as such or as epochs × stepsPerEpoch (one way; PyTorch's errors otherwise). */
function oneCycleLength(options: OneCycleLROptions): number {
  const who = 'OneCycleLR';
  const totalSteps = optionOr(who, 'totalSteps', options.totalSteps, undefined);
  const epochs = optionOr(who, 'epochs', options.epochs, undefined), stepsPerEpoch = optionOr(who, 'stepsPerEpoch', options.stepsPerEpoch, undefined);
  const given = `got totalSteps ${String(totalSteps)}, epochs ${String(epochs)}, stepsPerEpoch ${String(stepsPerEpoch)}`;
  if (totalSteps !== undefined) {
    if (epochs !== undefined || stepsPerEpoch !== undefined) throw new RangeError(`${who}: give totalSteps, or epochs and stepsPerEpoch, not both ways; ${given}`);
    return check(who, 'totalSteps', totalSteps, positiveInt, 'a positive integer up to 2^53 − 1');
  }
  if (epochs === undefined || stepsPerEpoch === undefined) {
    throw new RangeError(`${who}: you must define either totalSteps OR (epochs AND stepsPerEpoch) (PyTorch's words); ${given}`);
  }
  check(who, 'epochs', epochs, positiveInt, 'a positive integer');
  check(who, 'stepsPerEpoch', stepsPerEpoch, positiveInt, 'a positive integer');
  if (!Number.isSafeInteger(epochs * stepsPerEpoch)) throw new RangeError(`${who}: epochs × stepsPerEpoch must be at most 2^53 − 1, got ${epochs} × ${stepsPerEpoch}`);
  return epochs * stepsPerEpoch;
}

/** ConstantLR's options (PyTorch's arguments in camelCase). */
export interface ConstantLROptions extends IntervalOption { factor?: number; totalIters?: number }

/**
 * ConstantLR, PyTorch's closed form (torch/optim/lr_scheduler.py, ConstantLR._get_closed_form_lr, as of
 * pytorch/pytorch 008f727ece15): lr = base · (factor + (k >= totalIters)·(1 − factor)): base · factor for the
 * first totalIters periods, then the base rate (factor + (1 − factor) is 1 exactly for any factor in (0, 1]).
 */
export class ConstantLR implements LRSchedule {
  readonly name = 'ConstantLR';
  readonly interval: ScheduleInterval;
  readonly factor: number;
  readonly totalIters: number;
  /**
   * ConstantLR multiplying the base rate by `factor` (default 1/3) for `totalIters` periods (default 5), per
   * `interval` ('epoch' default, or 'step'). Holds no memory (nothing to dispose); give it to TrainerOptions.lrSchedule.
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default); RangeError naming a value out of range
   * (factor 0, which PyTorch's constructor takes, is refused: its step() divides by the factor at totalIters).
   */
  constructor(options: ConstantLROptions = {}) {
    checkKeys('ConstantLR', options, ['factor', 'totalIters']);
    this.factor = checkOr('ConstantLR', 'factor', options.factor, 1 / 3, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
    this.totalIters = checkOr('ConstantLR', 'totalIters', options.totalIters, 5, positiveInt, 'a positive integer up to 2^53 − 1');
    this.interval = intervalOf('ConstantLR', options);
  }
  lrAt(k: number, baseLr: number): number {
    checkPeriod('ConstantLR', k);
    return baseLr * (this.factor + (k >= this.totalIters ? 1 - this.factor : 0));
  }
}

/** PolynomialLR's options (PyTorch's arguments in camelCase). */
export interface PolynomialLROptions extends IntervalOption { totalIters?: number; power?: number }

/**
 * PolynomialLR, PyTorch's closed form (PolynomialLR._get_closed_form_lr, as of pytorch/pytorch 008f727ece15):
 * lr = base · (1 − min(totalIters, k) / totalIters)^power, down to 0 at totalIters and 0 after it. x^power by
 * exactPowInt (an integer power) or exactPow (a fractional one, as the 0.9 of poly schedules), the same bits on
 * every engine: the double nearest the exact power, as a correctly rounded libm pow gives PyTorch.
 */
export class PolynomialLR implements LRSchedule {
  readonly name = 'PolynomialLR';
  readonly interval: ScheduleInterval;
  readonly totalIters: number;
  readonly power: number;
  /**
   * PolynomialLR from the base rate down to 0 over `totalIters` periods (default 5) along a polynomial of degree
   * `power` (a number >= 0, default 1: linear), per `interval` ('epoch' default, or 'step'). Holds no
   * memory (nothing to dispose); give it to TrainerOptions.lrSchedule.
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default); RangeError naming a value out of range.
   */
  constructor(options: PolynomialLROptions = {}) {
    checkKeys('PolynomialLR', options, ['totalIters', 'power']);
    this.totalIters = checkOr('PolynomialLR', 'totalIters', options.totalIters, 5, positiveInt, 'a positive integer up to 2^53 − 1');
    this.power = checkOr('PolynomialLR', 'power', options.power, 1, (v) => v >= 0, 'a number >= 0');
    this.interval = intervalOf('PolynomialLR', options);
  }
  lrAt(k: number, baseLr: number): number {
    checkPeriod('PolynomialLR', k);
    const x = 1 - Math.min(this.totalIters, k) / this.totalIters;
    return baseLr * (Number.isSafeInteger(this.power) ? exactPowInt(x, this.power) : exactPow(x, this.power));
  }
}

/** CyclicLR's policies (PyTorch's names): the amplitude constant, halved each cycle, or times gamma^k. */
export type CyclicLRMode = 'triangular' | 'triangular2' | 'exp_range';

/** CyclicLR's options (PyTorch's arguments in camelCase; no scale_fn: write an LRSchedule for a policy of your own). */
export interface CyclicLROptions {
  /** The rate at each cycle's start and end, and the peak rate (each >= 0; maxLr below baseLr cycles downwards). */
  baseLr: number;
  maxLr: number;
  /** Periods rising (a positive integer, default 2000) and falling (a non-negative integer, default stepSizeUp). */
  stepSizeUp?: number;
  stepSizeDown?: number;
  /** 'triangular' (default), 'triangular2' (the amplitude halved each cycle) or 'exp_range' (times gamma^k). */
  mode?: CyclicLRMode;
  /** exp_range's factor per period, in (0, 1] (default 1). */
  gamma?: number;
  /** What the mode's scale takes: 'cycle' (triangular, triangular2) or 'iterations' (exp_range), as PyTorch sets it. */
  scaleMode?: 'cycle' | 'iterations';
  /** Cycle the optimizer's momentum or beta1 inversely to the rate, between maxMomentum and baseMomentum (default true). */
  cycleMomentum?: boolean;
  /** The momentum at the peak rate (default 0.8) and at each cycle's start (default 0.9), each in [0, 1). */
  baseMomentum?: number;
  maxMomentum?: number;
  /** Advance per optimizer 'step' (default here: PyTorch's CyclicLR is stepped after every batch), or per 'epoch'. */
  interval?: ScheduleInterval;
}

/**
 * CyclicLR, transcribed from PyTorch's (torch/optim/lr_scheduler.py, class CyclicLR: __init__, _init_scale_fn, the
 * three scale functions and get_lr, as of pytorch/pytorch 008f727ece15): with T = stepSizeUp + stepSizeDown,
 * cycle = ⌊1 + k/T⌋, x = 1 + k/T − cycle, scale = x/r up to r = stepSizeUp/T, else (x − 1)/(r − 1);
 * lr = baseLr + (maxLr − baseLr)·scale·f, f = 1 (triangular), 1/2^(cycle − 1) (triangular2) or gamma^k
 * (exp_range; gamma^k by exactPowInt, within an ulp of PyTorch's libm pow). With cycleMomentum the momentum is
 * maxMomentum − (maxMomentum − baseMomentum)·scale·f (momentumAt). It sets the rate itself: lrAt ignores the
 * optimizer's base rate. It has no end; past cycle 1025 triangular2's f goes on to 2^-1024 and 0 (PyTorch's
 * 2.0 ** 1024 raises OverflowError there).
 */
export class CyclicLR implements LRSchedule {
  readonly name = 'CyclicLR';
  readonly interval: ScheduleInterval;
  readonly baseLr: number;
  readonly maxLr: number;
  readonly stepSizeUp: number;
  readonly stepSizeDown: number;
  readonly mode: CyclicLRMode;
  readonly gamma: number;
  readonly scaleMode: 'cycle' | 'iterations';
  readonly cycleMomentum: boolean;
  readonly baseMomentum: number;
  readonly maxMomentum: number;
  /** The momentum for period k, present with cycleMomentum (the Trainer then sets the optimizer's momentum or beta1). */
  readonly momentumAt?: (k: number) => number;
  private readonly totalSize: number;
  private readonly stepRatio: number;

  /**
   * CyclicLR with `options` (CyclicLROptions: baseLr and maxLr; the rest optional, defaults as PyTorch's). Holds no
   * memory (nothing to dispose); give it to TrainerOptions.lrSchedule, with an optimizer that has a momentum
   * (Momentum, Nesterov) or beta1 (Adam, AdamW) unless cycleMomentum is false.
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default); RangeError naming a value out of range, a gamma other than 1 for a
   * mode other than exp_range, or a scaleMode other than the mode's (PyTorch ignores both there: scale_mode applies
   * to a custom scale_fn only).
   */
  constructor(options: CyclicLROptions) {
    const who = 'CyclicLR';
    checkKeys(who, options, ['baseLr', 'maxLr', 'stepSizeUp', 'stepSizeDown', 'mode', 'gamma', 'scaleMode', 'cycleMomentum', 'baseMomentum', 'maxMomentum']);
    this.baseLr = check(who, 'baseLr', options.baseLr, (v) => v >= 0, 'a number >= 0');
    this.maxLr = check(who, 'maxLr', options.maxLr, (v) => v >= 0, 'a number >= 0');
    const up = this.stepSizeUp = checkOr(who, 'stepSizeUp', options.stepSizeUp, 2000, positiveInt, 'a positive integer up to 2^53 − 1');
    const down = this.stepSizeDown = checkOr(who, 'stepSizeDown', options.stepSizeDown, up, (v) => Number.isSafeInteger(v) && v >= 0, 'a non-negative integer up to 2^53 − 1');
    if (!Number.isSafeInteger(up + down)) throw new RangeError(`${who}: stepSizeUp + stepSizeDown must be at most 2^53 − 1, got ${up} + ${down}`);
    const mode = choiceOr(who, 'mode', options.mode, 'triangular', ['triangular', 'triangular2', 'exp_range']);
    const cycleMomentum = optionOr(who, 'cycleMomentum', options.cycleMomentum, true);
    this.mode = mode;
    this.gamma = checkOr(who, 'gamma', options.gamma, 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
    if (mode !== 'exp_range' && this.gamma !== 1) throw new RangeError(`${who}: gamma ${this.gamma} is used by mode 'exp_range' only, and the mode is '${mode}'`);
    const modeScale = mode === 'exp_range' ? 'iterations' : 'cycle';
    const scaleMode = choiceOr(who, 'scaleMode', options.scaleMode, modeScale, ['cycle', 'iterations']);
    if (scaleMode !== modeScale) {
      throw new RangeError(`${who}: scaleMode '${scaleMode}' with mode '${mode}': PyTorch's CyclicLR scales mode '${mode}' per ${modeScale} whatever scale_mode says (it applies to a custom scale_fn only)`);
    }
    this.scaleMode = scaleMode;
    checkFlag(who, 'cycleMomentum', cycleMomentum);
    this.cycleMomentum = cycleMomentum;
    // what the optimizers take as momentum or beta1
    const unit = (v: number) => v >= 0 && v < 1;
    this.baseMomentum = checkOr(who, 'baseMomentum', options.baseMomentum, 0.8, unit, 'a number in [0, 1)');
    this.maxMomentum = checkOr(who, 'maxMomentum', options.maxMomentum, 0.9, unit, 'a number in [0, 1)');
    this.interval = intervalOf(who, options, 'step');
    // PyTorch's float(step_size_up) + float(step_size_down), and step_size_up / total_size
    this.totalSize = up + down;
    this.stepRatio = up / this.totalSize;
    if (cycleMomentum) {
      const lo = Math.min(this.baseMomentum, this.maxMomentum), hi = Math.max(this.baseMomentum, this.maxMomentum);
      // kept between the momenta, as OneCycleLR's: the formula can round an ulp past them (to 1, which the optimizers refuse)
      this.momentumAt = (k) => {
        checkPeriod('CyclicLR', k);
        return Math.min(Math.max(this.maxMomentum - (this.maxMomentum - this.baseMomentum) * this.scaleFactor(k) * this.scale(k), lo), hi);
      };
    }
  }

  /** PyTorch's get_lr at last_epoch k: baseLr + base_height · scale_fn. `_baseLr` is not used (the cycle is baseLr's). */
  lrAt(k: number, _baseLr?: number): number {
    checkPeriod('CyclicLR', k);
    return this.baseLr + (this.maxLr - this.baseLr) * this.scaleFactor(k) * this.scale(k);
  }

  /** get_lr's scale_factor: where period k is in its cycle, 0 at the cycle's start, 1 at its peak. */
  private scaleFactor(k: number): number {
    const cycle = Math.floor(1 + k / this.totalSize);
    const x = 1 + k / this.totalSize - cycle;
    return x <= this.stepRatio ? x / this.stepRatio : (x - 1) / (this.stepRatio - 1);
  }

  /** The mode's scale_fn, of the cycle (triangular, triangular2) or of k (exp_range). */
  private scale(k: number): number {
    if (this.mode === 'triangular') return 1;
    // 1 / 2.0 ** (cycle − 1): a power of two, the same double as 0.5^(cycle − 1)
    if (this.mode === 'triangular2') return exactPowInt(0.5, Math.floor(1 + k / this.totalSize) - 1);
    return exactPowInt(this.gamma, k);
  }
}

/** SequentialLR's options (PyTorch's arguments in camelCase). */
export interface SequentialLROptions extends IntervalOption { schedulers: readonly LRSchedule[]; milestones: readonly number[] }

/**
 * SequentialLR: schedulers[i] from milestones[i−1] on, each restarted at its milestone
 * (k − milestones[i−1]), as PyTorch's (whose step runs the next schedule's period 0 at its milestone);
 * e.g. a LinearLR warm-up then CosineAnnealingLR. Every inner schedule must have this one's interval
 * and none may be ReduceLROnPlateau or cycle momentum. A milestone 0 is refused (PyTorch's SequentialLR runs schedulers[0]
 * at period 0 anyway, pytorch/pytorch#185872): leave out the schedule it would skip.
 */
export class SequentialLR implements LRSchedule {
  readonly name = 'SequentialLR';
  readonly interval: ScheduleInterval;
  readonly schedulers: readonly LRSchedule[];
  readonly milestones: readonly number[];
  /** The last schedule's periods after its milestone (undefined: no end). */
  readonly periods: number | undefined;
  /**
   * SequentialLR running `schedulers` one after another, switching at `milestones` (one fewer, increasing
   * positive integers). It keeps copies of both lists and the schedules themselves (by reference); it holds no
   * memory (nothing to dispose); give it to TrainerOptions.lrSchedule.
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default), or a schedule is not a closed-form one
   * (ReduceLROnPlateau) or cycles momentum (OneCycleLR, CyclicLR with cycleMomentum); RangeError for empty schedulers, bad
   * milestones, an interval other than 'epoch' or 'step', a schedule advancing per another interval than this one,
   * or one that defines fewer periods (OneCycleLR's totalSteps) than its part of the sequence.
   */
  constructor(options: SequentialLROptions) {
    checkKeys('SequentialLR', options, ['schedulers', 'milestones']);
    // Array.from: holes are undefined there (every() and forEach() skip them)
    const schedulers = Array.isArray(options.schedulers) ? Array.from(options.schedulers) : options.schedulers;
    const milestones = Array.isArray(options.milestones) ? Array.from(options.milestones) : options.milestones;
    this.interval = intervalOf('SequentialLR', options);
    if (!Array.isArray(schedulers) || schedulers.length === 0) {
      const message = `SequentialLR: schedulers must be a non-empty array of schedules, got ${describeValue(schedulers)}`;
      throw Array.isArray(schedulers) ? new RangeError(message) : new TypeError(message);
    }
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1 || !milestones.every((v, i) => Number.isInteger(v) && v > 0 && (i === 0 || v > milestones[i - 1]))) {
      const message = `SequentialLR: milestones must be ${schedulers.length - 1} increasing positive integers (one fewer than schedulers), got ${shownList(milestones)}`;
      throw Array.isArray(milestones) ? new RangeError(message) : new TypeError(message);
    }
    schedulers.forEach((s, i) => {
      if (typeof s?.lrAt !== 'function' || s.observe) throw new TypeError(`SequentialLR: schedulers[${i}] must be a closed-form schedule (not ReduceLROnPlateau)`);
      // the momentum of the periods of the schedules beside it would be whatever it left
      if (s.momentumAt) throw new TypeError(`SequentialLR: schedulers[${i}] cycles momentum (a ${s.name}): give it cycleMomentum: false`);
      if (s.interval !== this.interval) throw new RangeError(`SequentialLR: schedulers[${i}] advances per ${s.interval}, this one per ${this.interval}`);
      const span = i < milestones.length ? milestones[i] - (i > 0 ? milestones[i - 1] : 0) : 0;
      if (s.periods !== undefined && span > s.periods) {
        throw new RangeError(`SequentialLR: schedulers[${i}] (${s.name}) defines ${s.periods} periods, and its part (to milestone ${milestones[i]}) takes ${span}`);
      }
    });
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
    const last = schedulers[schedulers.length - 1].periods;
    this.periods = last === undefined ? undefined : (milestones[milestones.length - 1] ?? 0) + last;
  }
  lrAt(k: number, baseLr: number): number {
    checkPeriod('SequentialLR', k);
    const i = bisectRight(this.milestones, k);
    return this.schedulers[i].lrAt(k - (i > 0 ? this.milestones[i - 1] : 0), baseLr);
  }
}

/** ReduceLROnPlateau's options (PyTorch's arguments in camelCase). */
export interface ReduceLROnPlateauOptions {
  /** 'min' (default): watch for a fall (a Trainer shows it the loss); 'max': for a rise (a Trainer shows it the accuracy). */
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  minLr?: number;
  eps?: number;
}

/**
 * ReduceLROnPlateau (PyTorch's, per epoch): at the end of the (patience + 1)-th epoch in a row whose metric did
 * not improve on the best by `threshold` (relative: best·(1 ∓ threshold); absolute: best ∓ threshold; a NaN
 * never improves), lr ← max(lr·factor, minLr) from the next epoch on, then `cooldown` epochs without counting;
 * a change smaller than eps is skipped. PyTorch's count: patience 2 lets two such epochs pass and cuts after
 * the third (Keras's ReduceLROnPlateau cuts after the second; early stopping's patience counts as Keras's).
 * Defaults: min, 0.1, 10, 1e-4, rel, 0, 0, 1e-8.
 */
export class ReduceLROnPlateau implements LRSchedule {
  readonly name = 'ReduceLROnPlateau';
  readonly interval = 'epoch' as const;
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly minLr: number;
  readonly eps: number;
  private lr = NaN;
  private best: number;
  private numBadEpochs = 0;
  private cooldownCounter = 0;

  /**
   * ReduceLROnPlateau with `options` (ReduceLROnPlateauOptions, each optional; defaults as PyTorch's), per
   * epoch only. It keeps state (the best metric, counters; see state()), reset when a Trainer's run starts from
   * its first step; it holds no memory (nothing to dispose); give it to TrainerOptions.lrSchedule.
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default); RangeError for a mode or thresholdMode
   * other than the two allowed, an interval other than 'epoch', or a value out of range.
   */
  constructor(options: ReduceLROnPlateauOptions = {}) {
    const who = 'ReduceLROnPlateau';
    checkKeys(who, options, ['mode', 'factor', 'patience', 'threshold', 'thresholdMode', 'cooldown', 'minLr', 'eps']);
    const interval: unknown = optionOr(who, 'interval', (options as IntervalOption).interval, 'epoch');
    if (interval !== 'epoch') {
      throw typeof interval === 'string' ? new RangeError(`${who}: advances per epoch only`) : new TypeError(`${who}: interval must be 'epoch' (it advances per epoch only), got ${describeValue(interval)}`);
    }
    const mode = choiceOr(who, 'mode', options.mode, 'min', ['min', 'max']);
    const thresholdMode = choiceOr(who, 'thresholdMode', options.thresholdMode, 'rel', ['rel', 'abs']);
    this.mode = mode;
    this.thresholdMode = thresholdMode;
    this.factor = checkOr(who, 'factor', options.factor, 0.1, (v) => v > 0 && v < 1, 'a number in (0, 1)');
    this.patience = checkOr(who, 'patience', options.patience, 10, nonNegativeInt, 'a non-negative integer');
    this.threshold = checkOr(who, 'threshold', options.threshold, 1e-4, (v) => v >= 0, 'a number >= 0');
    this.cooldown = checkOr(who, 'cooldown', options.cooldown, 0, nonNegativeInt, 'a non-negative integer');
    this.minLr = checkOr(who, 'minLr', options.minLr, 0, (v) => v >= 0, 'a number >= 0');
    this.eps = checkOr(who, 'eps', options.eps, 1e-8, (v) => v >= 0, 'a number >= 0');
    this.best = mode === 'min' ? Infinity : -Infinity;
  }

  /** Back to the state after construction: the next lrAt takes its base rate again. */
  reset(): void {
    this.lr = NaN;
    this.best = this.mode === 'min' ? Infinity : -Infinity;
    this.numBadEpochs = 0;
    this.cooldownCounter = 0;
  }

  /** The current rate (the base rate until the first reduction). */
  lrAt(_k: number, baseLr: number): number {
    if (Number.isNaN(this.lr)) this.lr = baseLr;
    return this.lr;
  }

  /** The epoch's metric: counts bad epochs and reduces the rate as PyTorch's step(metrics). */
  observe(metric: number): void {
    if (Number.isNaN(this.lr)) throw new Error('ReduceLROnPlateau.observe: call lrAt first (the Trainer does)');
    if (typeof metric !== 'number') throw new TypeError(`ReduceLROnPlateau.observe: metric must be a number, got ${describeValue(metric)}`);
    if (this.isBetter(metric)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs++;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      const next = Math.max(this.lr * this.factor, this.minLr);
      if (this.lr - next > this.eps) this.lr = next;
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
  }

  state(): Record<string, number> {
    // JSON has no Infinity: hasBest 0 is the start's (none yet), 2 an infinite best whose sign `best` holds
    const unset = this.best === (this.mode === 'min' ? Infinity : -Infinity);
    const hasBest = unset ? 0 : Number.isFinite(this.best) ? 1 : 2;
    const best = hasBest === 1 ? this.best : hasBest === 2 ? Math.sign(this.best) : 0;
    return { lr: Number.isNaN(this.lr) ? -1 : this.lr, best, hasBest, numBadEpochs: this.numBadEpochs, cooldownCounter: this.cooldownCounter };
  }

  loadState(s: Record<string, number>): void {
    const who = 'ReduceLROnPlateau.loadState';
    for (const key of ['lr', 'best', 'hasBest', 'numBadEpochs', 'cooldownCounter']) {
      if (typeof s?.[key] !== 'number' || !Number.isFinite(s[key])) throw new RangeError(`${who}: ${key} must be a finite number, got ${String(s?.[key])}`);
    }
    if (![0, 1, 2].includes(s.hasBest)) throw new RangeError(`${who}: hasBest must be 0, 1 or 2, got ${s.hasBest}`);
    for (const key of ['numBadEpochs', 'cooldownCounter']) {
      if (!nonNegativeInt(s[key])) throw new RangeError(`${who}: ${key} must be a non-negative integer, got ${s[key]}`);
    }
    this.lr = s.lr < 0 ? NaN : s.lr;
    this.best = s.hasBest === 1 ? s.best : s.hasBest === 2 ? s.best * Infinity : (this.mode === 'min' ? Infinity : -Infinity);
    this.numBadEpochs = s.numBadEpochs;
    this.cooldownCounter = s.cooldownCounter;
  }

  private isBetter(a: number): boolean {
    const { best, threshold } = this;
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? a < best * (1 - threshold) : a < best - threshold;
    return this.thresholdMode === 'rel' ? a > best * (threshold + 1) : a > best + threshold;
  }
}

/**
 * The short names createSchedule takes: step (StepLR), multistep (MultiStepLR), exponential (ExponentialLR), cosine
 * (CosineAnnealingLR), cosine-restarts (CosineAnnealingWarmRestarts), linear (LinearLR), constant (ConstantLR), polynomial
 * (PolynomialLR), onecycle (OneCycleLR), cyclic (CyclicLR), plateau (ReduceLROnPlateau), swalr (SWALR).
 */
export type ScheduleName = 'step' | 'multistep' | 'exponential' | 'cosine' | 'cosine-restarts' | 'linear' | 'constant' | 'polynomial' | 'onecycle' | 'cyclic' | 'plateau' | 'swalr';

/** The options each schedule takes, by ScheduleName: createSchedule(name, options). */
export interface ScheduleOptionsMap {
  step: StepLROptions;
  multistep: MultiStepLROptions;
  exponential: ExponentialLROptions;
  cosine: CosineAnnealingLROptions;
  'cosine-restarts': CosineAnnealingWarmRestartsOptions;
  linear: LinearLROptions;
  constant: ConstantLROptions;
  polynomial: PolynomialLROptions;
  onecycle: OneCycleLROptions;
  cyclic: CyclicLROptions;
  plateau: ReduceLROnPlateauOptions;
  swalr: SWALROptions;
}

/** The ScheduleNames whose options are all optional (createSchedule may leave them out): linear, constant, polynomial and plateau. */
export type DefaultedScheduleName = { [N in ScheduleName]: {} extends ScheduleOptionsMap[N] ? N : never }[ScheduleName];

// every ScheduleName and no other, each taking its map entry's options (checked by the compiler)
const SCHEDULES = {
  step: (o: object) => new StepLR(o as StepLROptions),
  multistep: (o: object) => new MultiStepLR(o as MultiStepLROptions),
  exponential: (o: object) => new ExponentialLR(o as ExponentialLROptions),
  cosine: (o: object) => new CosineAnnealingLR(o as CosineAnnealingLROptions),
  'cosine-restarts': (o: object) => new CosineAnnealingWarmRestarts(o as CosineAnnealingWarmRestartsOptions),
  linear: (o: object) => new LinearLR(o as LinearLROptions),
  constant: (o: object) => new ConstantLR(o as ConstantLROptions),
  polynomial: (o: object) => new PolynomialLR(o as PolynomialLROptions),
  onecycle: (o: object) => new OneCycleLR(o as OneCycleLROptions),
  cyclic: (o: object) => new CyclicLR(o as CyclicLROptions),
  plateau: (o: object) => new ReduceLROnPlateau(o as ReduceLROnPlateauOptions),
  swalr: (o: object) => new SWALR(o as SWALROptions),
} as const satisfies { [N in ScheduleName]: (o: ScheduleOptionsMap[N]) => LRSchedule };

/** Every ScheduleName, in a fixed order. */
export const scheduleNames = Object.keys(SCHEDULES) as ScheduleName[];

/**
 * A schedule by short name with its options (ScheduleOptionsMap[name]: PyTorch's argument names in camelCase),
 * e.g. createSchedule('step', { stepSize: 1, gamma: 0.9 }). The type takes the lower-case names; at run time
 * the name is case-insensitive ('Cosine' works too: cast such a name to ScheduleName).
 * @throws TypeError for a name that is no schedule's, an options value that is not an object or an unknown
 * option key; RangeError naming an option whose value is out of range (as the schedule's constructor).
 */
export function createSchedule<N extends ScheduleName>(name: N, options: ScheduleOptionsMap[N]): LRSchedule;
/** A schedule whose options all have defaults (linear, constant, polynomial, plateau), with those defaults. */
export function createSchedule(name: DefaultedScheduleName): LRSchedule;
export function createSchedule(name: string, options: object = {}): LRSchedule {
  const key = typeof name === 'string' ? name.toLowerCase() : '';
  // own keys only: 'constructor' is no schedule
  if (!Object.hasOwn(SCHEDULES, key)) throw new TypeError(`schedule: unknown name ${typeof name === 'string' ? `'${name}'` : describeValue(name)} (expected one of ${scheduleNames.join(', ')})`);
  const make = SCHEDULES[key as ScheduleName] as (o: object) => LRSchedule;
  return make(options);
}

/** SWALR's options (PyTorch's arguments in camelCase: swa_lr, anneal_epochs, anneal_strategy). */
export interface SWALROptions extends IntervalOption {
  /** The rate the schedule anneals to and then keeps (> 0). */
  swaLr: number;
  /** Periods the annealing takes (a non-negative integer; default 10, PyTorch's). */
  annealEpochs?: number;
  /** 'cos' (default) or 'linear'. */
  annealStrategy?: 'cos' | 'linear';
}

/**
 * SWALR (stochastic weight averaging's schedule), transcribed from PyTorch's (torch/optim/swa_utils.py, class SWALR:
 * get_lr, _get_initial_lr, _cosine_anneal, _linear_anneal): from the base rate to swaLr over annealEpochs periods,
 * then swaLr. Each period's rate is PyTorch's recursion from the last one: with s = the periods done (s ≥ 1 when
 * annealEpochs is 0), α(t) = (1 − cos(π·t)) / 2 ('cos') or t ('linear'), t = clamp(s / max(1, annealEpochs), 0, 1) and
 * t′ the same of s − 1, the rate before the annealing is recovered as (lr − α(t′)·swaLr) / (1 − α(t′)) (swaLr where
 * α(t′) = 1), and lr = swaLr·α(t) + that·(1 − α(t)), in PyTorch's order of double operations (the cosine by
 * exactCosPiRatio: the same bits on every engine). Period 0 keeps the base rate (annealEpochs 0: swaLr at once, as PyTorch's constructor
 * sets it). TrainerOptions.swa's `lr` runs it from the epoch after swa.start, from the rate that epoch had; alone (this
 * class as lrSchedule) it anneals from the optimizer's base rate from the first period.
 */
export class SWALR implements LRSchedule {
  readonly name = 'SWALR';
  readonly interval: ScheduleInterval;
  readonly swaLr: number;
  readonly annealEpochs: number;
  readonly annealStrategy: 'cos' | 'linear';
  /**
   * SWALR annealing to `swaLr` (> 0) over `annealEpochs` periods (default 10) by `annealStrategy` ('cos' default,
   * or 'linear'), per `interval` ('epoch' default, or 'step'). Holds no memory (nothing to dispose).
   * @throws TypeError if options is not an object, has an unknown key or gives an option a value of another type (null
   * too: leave an option out for its default); RangeError naming a value out of range.
   */
  constructor(options: SWALROptions) {
    checkKeys('SWALR', options, ['swaLr', 'annealEpochs', 'annealStrategy']);
    this.swaLr = check('SWALR', 'swaLr', options.swaLr, (v) => v > 0, 'a number > 0');
    this.annealEpochs = checkOr('SWALR', 'annealEpochs', options.annealEpochs, 10, (v) => Number.isSafeInteger(v) && v >= 0, 'a non-negative integer up to 2^53 − 1');
    this.annealStrategy = choiceOr('SWALR', 'annealStrategy', options.annealStrategy, 'cos', ['cos', 'linear']);
    this.interval = intervalOf('SWALR', options);
  }
  lrAt(k: number, baseLr: number): number {
    checkPeriod('SWALR', k);
    // from the annealing's end (period annealEpochs + 1 on: α(t′) = 1) every rate is swaLr, to the bit
    const last = Math.min(Math.floor(k), this.annealEpochs + 1);
    let lr = baseLr;
    for (let s = 0; s <= last; s++) lr = this.next(lr, s);
    return lr;
  }
  /** PyTorch's get_lr at its step count s + 1 (s periods done), from the rate `lr` the last step left. */
  private next(lr: number, s: number): number {
    const step = this.annealEpochs === 0 ? Math.max(1, s) : s;
    const span = Math.max(1, this.annealEpochs);
    const prevAlpha = this.alpha(Math.max(0, Math.min(span, step - 1)), span);
    const prevLr = prevAlpha === 1 ? this.swaLr : (lr - prevAlpha * this.swaLr) / (1 - prevAlpha);
    const alpha = this.alpha(Math.max(0, Math.min(span, step)), span);
    return this.swaLr * alpha + prevLr * (1 - alpha);
  }
  /** The annealing function at t = i / n (0 ≤ i ≤ n, integers). */
  private alpha(i: number, n: number): number {
    return this.annealStrategy === 'linear' ? i / n : (1 - exactCosPiRatio(i, n)) / 2;
  }
}
