// Learning-rate schedules with PyTorch's names and semantics
// (torch.optim.lr_scheduler). Each gives the rate as a closed form of the
// number of periods done, k (0 before the first period: the base rate), so a
// resumed run needs only k; ReduceLROnPlateau alone keeps state, exported by
// state(). The Trainer sets the optimizer's `lr` before each period; the
// optimizer kernels take lr as an argument, so a schedule costs no extra pass.
import { describeValue, shown } from '../runtime/tensor.js';
import { exactCosPiRatio, exactPowInt } from '../runtime/exact-math.js';

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

function check(who: string, name: string, v: unknown, ok: (v: number) => boolean, expected: string): number {
  if (!(typeof v === 'number' && Number.isFinite(v) && ok(v))) throw new RangeError(`${who}: ${name} must be ${expected}, got ${String(v)}`);
  return v;
}

function checkKeys(who: string, options: object, keys: readonly string[]): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options must be an object, got ${String(options)}`);
  for (const key of Object.keys(options)) {
    if (!keys.includes(key) && key !== 'interval') throw new TypeError(`${who}: unknown option '${key}' (expected one of ${[...keys, 'interval'].join(', ')})`);
  }
}

function intervalOf(who: string, options: IntervalOption): ScheduleInterval {
  const v = options.interval ?? 'epoch';
  if (v !== 'epoch' && v !== 'step') throw new RangeError(`${who}: interval must be 'epoch' or 'step', got ${String(v)}`);
  return v;
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
   * @throws TypeError if options is not an object or has an unknown key; RangeError naming a value out of range.
   */
  constructor(options: StepLROptions) {
    checkKeys('StepLR', options, ['stepSize', 'gamma']);
    this.stepSize = check('StepLR', 'stepSize', options.stepSize, positiveInt, 'a positive integer up to 2^53 − 1');
    this.gamma = check('StepLR', 'gamma', options.gamma ?? 0.1, (v) => v > 0, 'a number > 0');
    this.interval = intervalOf('StepLR', options);
  }
  lrAt(k: number, baseLr: number): number {
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
   * @throws TypeError if options is not an object or has an unknown key; RangeError naming a value out of range
   * (milestones: not an array of positive integers).
   */
  constructor(options: MultiStepLROptions) {
    checkKeys('MultiStepLR', options, ['milestones', 'gamma']);
    // Array.from: a hole is undefined there (every() skips holes, and one was kept as a milestone)
    const m = Array.isArray(options.milestones) ? Array.from(options.milestones) : options.milestones;
    if (!Array.isArray(m) || !m.every((v) => Number.isInteger(v) && v > 0)) {
      throw new RangeError(`MultiStepLR: milestones must be an array of positive integers, got ${shownList(m)}`);
    }
    this.milestones = m.sort((a, b) => a - b);
    this.gamma = check('MultiStepLR', 'gamma', options.gamma ?? 0.1, (v) => v > 0, 'a number > 0');
    this.interval = intervalOf('MultiStepLR', options);
  }
  lrAt(k: number, baseLr: number): number {
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
   * @throws TypeError if options is not an object or has an unknown key; RangeError naming a value out of range.
   */
  constructor(options: ExponentialLROptions) {
    checkKeys('ExponentialLR', options, ['gamma']);
    this.gamma = check('ExponentialLR', 'gamma', options.gamma, (v) => v > 0, 'a number > 0');
    this.interval = intervalOf('ExponentialLR', options);
  }
  lrAt(k: number, baseLr: number): number {
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
   * @throws TypeError if options is not an object or has an unknown key; RangeError naming a value out of range.
   */
  constructor(options: CosineAnnealingLROptions) {
    checkKeys('CosineAnnealingLR', options, ['tMax', 'etaMin']);
    this.tMax = check('CosineAnnealingLR', 'tMax', options.tMax, positiveInt, 'a positive integer up to 2^53 − 1');
    this.etaMin = check('CosineAnnealingLR', 'etaMin', options.etaMin ?? 0, (v) => v >= 0, 'a number >= 0');
    this.interval = intervalOf('CosineAnnealingLR', options);
  }
  lrAt(k: number, baseLr: number): number {
    return this.etaMin + (baseLr - this.etaMin) * (1 + exactCosPiRatio(k, this.tMax)) / 2;
  }
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
   * @throws TypeError if options is not an object or has an unknown key; RangeError naming a value out of range.
   */
  constructor(options: LinearLROptions = {}) {
    checkKeys('LinearLR', options, ['startFactor', 'endFactor', 'totalIters']);
    this.startFactor = check('LinearLR', 'startFactor', options.startFactor ?? 1 / 3, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
    this.endFactor = check('LinearLR', 'endFactor', options.endFactor ?? 1, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
    this.totalIters = check('LinearLR', 'totalIters', options.totalIters ?? 5, positiveInt, 'a positive integer up to 2^53 − 1');
    this.interval = intervalOf('LinearLR', options);
  }
  lrAt(k: number, baseLr: number): number {
    return baseLr * (this.startFactor + (this.endFactor - this.startFactor) * Math.min(k, this.totalIters) / this.totalIters);
  }
}

/** SequentialLR's options (PyTorch's arguments in camelCase). */
export interface SequentialLROptions extends IntervalOption { schedulers: readonly LRSchedule[]; milestones: readonly number[] }

/**
 * SequentialLR: schedulers[i] from milestones[i−1] on, each restarted at its milestone
 * (k − milestones[i−1]), as PyTorch's (whose step runs the next schedule's period 0 at its milestone);
 * e.g. a LinearLR warm-up then CosineAnnealingLR. Every inner schedule must have this one's interval
 * and none may be ReduceLROnPlateau. A milestone 0 is refused (PyTorch's SequentialLR runs schedulers[0]
 * at period 0 anyway, pytorch/pytorch#185872): leave out the schedule it would skip.
 */
export class SequentialLR implements LRSchedule {
  readonly name = 'SequentialLR';
  readonly interval: ScheduleInterval;
  readonly schedulers: readonly LRSchedule[];
  readonly milestones: readonly number[];
  /**
   * SequentialLR running `schedulers` one after another, switching at `milestones` (one fewer, increasing
   * positive integers). It keeps copies of both lists and the schedules themselves (by reference); it holds no
   * memory (nothing to dispose); give it to TrainerOptions.lrSchedule.
   * @throws TypeError if options is not an object or has an unknown key, or a schedule is not a closed-form one
   * (ReduceLROnPlateau); RangeError for empty schedulers, bad milestones, an interval other than 'epoch' or
   * 'step', or a schedule advancing per another interval than this one.
   */
  constructor(options: SequentialLROptions) {
    checkKeys('SequentialLR', options, ['schedulers', 'milestones']);
    // Array.from: holes are undefined there (every() and forEach() skip them)
    const schedulers = Array.isArray(options.schedulers) ? Array.from(options.schedulers) : options.schedulers;
    const milestones = Array.isArray(options.milestones) ? Array.from(options.milestones) : options.milestones;
    this.interval = intervalOf('SequentialLR', options);
    if (!Array.isArray(schedulers) || schedulers.length === 0) throw new RangeError('SequentialLR: schedulers must be a non-empty array of schedules');
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1 || !milestones.every((v, i) => Number.isInteger(v) && v > 0 && (i === 0 || v > milestones[i - 1]))) {
      throw new RangeError(`SequentialLR: milestones must be ${schedulers.length - 1} increasing positive integers (one fewer than schedulers), got ${shownList(milestones)}`);
    }
    schedulers.forEach((s, i) => {
      if (typeof s?.lrAt !== 'function' || s.observe) throw new TypeError(`SequentialLR: schedulers[${i}] must be a closed-form schedule (not ReduceLROnPlateau)`);
      if (s.interval !== this.interval) throw new RangeError(`SequentialLR: schedulers[${i}] advances per ${s.interval}, this one per ${this.interval}`);
    });
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
  }
  lrAt(k: number, baseLr: number): number {
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
   * @throws TypeError if options is not an object or has an unknown key; RangeError for a mode or thresholdMode
   * other than the two allowed, an interval other than 'epoch', or a value out of range.
   */
  constructor(options: ReduceLROnPlateauOptions = {}) {
    const who = 'ReduceLROnPlateau';
    checkKeys(who, options, ['mode', 'factor', 'patience', 'threshold', 'thresholdMode', 'cooldown', 'minLr', 'eps']);
    if ((options as IntervalOption).interval !== undefined && (options as IntervalOption).interval !== 'epoch') throw new RangeError(`${who}: advances per epoch only`);
    const { mode = 'min', thresholdMode = 'rel' } = options;
    if (mode !== 'min' && mode !== 'max') throw new RangeError(`${who}: mode must be 'min' or 'max', got ${String(mode)}`);
    if (thresholdMode !== 'rel' && thresholdMode !== 'abs') throw new RangeError(`${who}: thresholdMode must be 'rel' or 'abs', got ${String(thresholdMode)}`);
    this.mode = mode;
    this.thresholdMode = thresholdMode;
    this.factor = check(who, 'factor', options.factor ?? 0.1, (v) => v > 0 && v < 1, 'a number in (0, 1)');
    this.patience = check(who, 'patience', options.patience ?? 10, nonNegativeInt, 'a non-negative integer');
    this.threshold = check(who, 'threshold', options.threshold ?? 1e-4, (v) => v >= 0, 'a number >= 0');
    this.cooldown = check(who, 'cooldown', options.cooldown ?? 0, nonNegativeInt, 'a non-negative integer');
    this.minLr = check(who, 'minLr', options.minLr ?? 0, (v) => v >= 0, 'a number >= 0');
    this.eps = check(who, 'eps', options.eps ?? 1e-8, (v) => v >= 0, 'a number >= 0');
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

/** The short names createSchedule takes: step (StepLR), multistep (MultiStepLR), exponential (ExponentialLR), cosine (CosineAnnealingLR), linear (LinearLR), plateau (ReduceLROnPlateau). */
export type ScheduleName = 'step' | 'multistep' | 'exponential' | 'cosine' | 'linear' | 'plateau';

/** The options each schedule takes, by ScheduleName: createSchedule(name, options). */
export interface ScheduleOptionsMap {
  step: StepLROptions;
  multistep: MultiStepLROptions;
  exponential: ExponentialLROptions;
  cosine: CosineAnnealingLROptions;
  linear: LinearLROptions;
  plateau: ReduceLROnPlateauOptions;
}

/** The ScheduleNames whose options are all optional (createSchedule may leave them out): linear and plateau. */
export type DefaultedScheduleName = { [N in ScheduleName]: {} extends ScheduleOptionsMap[N] ? N : never }[ScheduleName];

// every ScheduleName and no other, each taking its map entry's options (checked by the compiler)
const SCHEDULES = {
  step: (o: object) => new StepLR(o as StepLROptions),
  multistep: (o: object) => new MultiStepLR(o as MultiStepLROptions),
  exponential: (o: object) => new ExponentialLR(o as ExponentialLROptions),
  cosine: (o: object) => new CosineAnnealingLR(o as CosineAnnealingLROptions),
  linear: (o: object) => new LinearLR(o as LinearLROptions),
  plateau: (o: object) => new ReduceLROnPlateau(o as ReduceLROnPlateauOptions),
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
/** A schedule whose options all have defaults (linear, plateau), with those defaults. */
export function createSchedule(name: DefaultedScheduleName): LRSchedule;
export function createSchedule(name: string, options: object = {}): LRSchedule {
  const key = typeof name === 'string' ? name.toLowerCase() : '';
  // own keys only: 'constructor' is no schedule
  if (!Object.hasOwn(SCHEDULES, key)) throw new TypeError(`schedule: unknown name ${typeof name === 'string' ? `'${name}'` : describeValue(name)} (expected one of ${scheduleNames.join(', ')})`);
  const make = SCHEDULES[key as ScheduleName] as (o: object) => LRSchedule;
  return make(options);
}
