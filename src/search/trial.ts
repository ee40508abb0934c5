// One trial of a search: a plain, serialisable job (settings, seed, trial
// index, epochs, data description) and runTrial, which trains it on a runtime
// and returns per-epoch validation and training accuracy and loss. The trial
// reseeds the runtime with its own seed first, so its initialisation and
// batches (and so every bit of its results) depend on the job alone.
import { badNumber, buildNet, checkRuntime, checkTensor, ConcurrentRunError, createOptimizer, describeValue, optimizerDefaults, optimizerNames, shown, Trainer, type ActivationName, type IntTensor, type NetSpec, type Optimizer, type OptimizerName, type Runtime, type Sequential, type Tensor, type WeightInit } from '../index.js';
import { isDimension, type SearchSpace, type Settings, type SettingValue } from './space.js';

/** Where a trial's data comes from: plain JSON that the executor's data loader understands. */
export type DataSpec = Readonly<Record<string, SettingValue>>;

/** A trial as a job: everything a worker anywhere needs to run it. */
export interface TrialJob {
  /** The study's name (part of the job's key in a queue). */
  study: string;
  /** Trial index in the study, from 0. */
  index: number;
  /** Seed of the trial's runtime stream (from the study seed and the index: trialSeed). */
  seed: number;
  settings: Settings;
  /** Train to this epoch (a scheduler's rung, or the whole budget). */
  epochs: number;
  data: DataSpec;
  /**
   * The trial's time limit in ms (SearchOptions.trialTimeoutMs), counted from when its worker starts it (its
   * data's loading included): the executor stops the trial there and resolves with status 'timeout'.
   */
  timeoutMs?: number;
}

/** The training and validation sets of a trial, on the trial's runtime (borrowed: runTrial never disposes them). */
export interface TrialData {
  xTrain: Tensor;
  tTrain: Tensor | IntTensor;
  xVal: Tensor;
  tVal: Tensor | IntTensor;
  /**
   * The net's outputs: the classes of the whole data set (a CSV table's, when its first `rows` lack one). Absent:
   * the one-hot width, or the largest label + 1. Integer labels need at least that many; one-hot rows exactly it.
   */
  classes?: number;
  /** Frees the four tensors (and whatever holds them); absent: each tensor is disposed. */
  dispose?(): void;
}

/** One epoch of a trial, from the Trainer's EpochRecord (the trial's validation data is the Trainer's test set). */
export interface EpochResult {
  /** The epoch (1-based). */
  epoch: number;
  /** Mean of the epoch's step losses. */
  trainLoss: number;
  /** Accuracy on the training data after the epoch. */
  trainAcc: number;
  /** Loss on the validation data after the epoch. */
  valLoss: number;
  /** Accuracy on the validation data after the epoch. */
  valAcc: number;
}

/** What a trial returns: plain JSON (numbers survive a JSON round trip bit for bit). */
export interface TrialResult {
  study: string;
  index: number;
  seed: number;
  settings: Settings;
  /** The epochs the job asked for. */
  epochs: number;
  /** The job's data (results stored before simdnn recorded it lack it, and a resumed study refuses them). */
  data: DataSpec;
  /**
   * 'failed': training threw (a diverging learning rate, bad settings); 'timeout': the executor stopped it at
   * its time limit (job.timeoutMs). `error` says why.
   */
  status: 'ok' | 'failed' | 'timeout';
  error?: string;
  /** One record per epoch trained (up to the failure or the time limit, for a failed or timed-out trial). */
  history: EpochResult[];
  /** Who ran it (executor-defined: a thread, a host and pid). */
  worker: string;
  /** Wall time of the trial, data loading excluded (included for a timed-out trial: the time its limit counted). */
  seconds: number;
  /** True when a stored result answered the job (resumeFrom): nothing was trained for it in this run. */
  stored?: boolean;
}

/**
 * The settings runTrial understands (the book's search varies lr and weightDecay):
 * - `lr`, `optimizer` (default 'sgd') and that optimizer's other parameters (`momentum`, `beta1`, …);
 * - `weightDecay`: the net's L2 λ (with adamw its decoupled decay instead, as `simdnn train` takes it); `hidden` (sizes) or `hiddenSize` × `hiddenLayers` (default 6 × 100);
 * - `activation`, `init` (the net's weightInitStd, default 'relu'), `batchSize` (default 100);
 * - `dropout` (ratio, 0 = none) and `batchnorm` (boolean): either one builds MultiLayerNetExtend;
 * - `labelSmoothing` (ε, default 0): the loss's, in the validation loss too (rank trials that differ in it by accuracy);
 * - `mixup` (α, 0 = none): the Trainer's mixup. (Not the Trainer's `ema`: a trial is judged by its epochs'
 *   records, which are the raw parameters', as Keras's history.)
 */
export const TRIAL_SETTINGS = ['lr', 'optimizer', 'weightDecay', 'hidden', 'hiddenSize', 'hiddenLayers', 'activation', 'init', 'batchSize', 'dropout', 'batchnorm',
  'labelSmoothing', 'mixup'] as const;

const DEFAULT_HIDDEN = [100, 100, 100, 100, 100, 100];

function num(s: Settings, key: string, fallback: number): number {
  const v = s[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`settings.${key}: expected a number, got ${describeValue(v)}`);
  return v;
}

function hiddenSizes(s: Settings): number[] {
  if (s.hidden !== undefined) {
    if (!Array.isArray(s.hidden)) throw new TypeError(`settings.hidden: expected an array of layer sizes, got ${JSON.stringify(s.hidden)}`);
    return s.hidden.map((h, i) => {
      if (typeof h !== 'number') throw new TypeError(`settings.hidden[${i}]: expected a number, got ${JSON.stringify(h)}`);
      return h;
    });
  }
  if (s.hiddenSize === undefined && s.hiddenLayers === undefined) return DEFAULT_HIDDEN;
  const layers = num(s, 'hiddenLayers', 6);
  if (!(Number.isInteger(layers) && layers >= 0)) throw new RangeError(`settings.hiddenLayers: expected a non-negative integer, got ${layers}`);
  return new Array<number>(layers).fill(num(s, 'hiddenSize', 100));
}

/** The Trainer's miniBatchSize, named as the setting when it is not a positive integer. */
function batchSize(s: Settings): number {
  const n = num(s, 'batchSize', 100);
  if (!(Number.isInteger(n) && n > 0)) throw new RangeError(`settings.batchSize: expected a positive integer, got ${n}`);
  return n;
}

/** The Trainer's mixup a trial's settings ask for (α > 0; 0 or absent: none). */
function trainerExtras(s: Settings): { mixup?: { alpha: number } } {
  const alpha = num(s, 'mixup', 0);
  if (!(alpha >= 0 && alpha < Infinity)) throw new RangeError(`settings.mixup: expected Beta(α, α)'s α >= 0 (0: no mixup), got ${alpha}`);
  return alpha > 0 ? { mixup: { alpha } } : {};
}

/** A setting's optimizer as createOptimizer takes it (any casing; default 'sgd'), not yet checked. */
function namedOptimizer(v: SettingValue | undefined): OptimizerName {
  return String(v ?? 'sgd').toLowerCase() as OptimizerName;
}

function optimizerName(v: SettingValue | undefined): OptimizerName {
  const optimizer = namedOptimizer(v);
  if (!optimizerNames.includes(optimizer)) throw new TypeError(`settings.optimizer: unknown name '${String(v)}' (expected one of ${optimizerNames.join(', ')})`);
  return optimizer;
}

/** Throws a TypeError naming the first of `keys` that is neither a trial setting nor a parameter of one of `optimizers`. */
function checkNames(keys: readonly string[], optimizers: readonly OptimizerName[]): void {
  const optimizerKeys = [...new Set(optimizers.flatMap((o) => Object.keys(optimizerDefaults[o])))];
  for (const key of keys) {
    if (!(TRIAL_SETTINGS as readonly string[]).includes(key) && !optimizerKeys.includes(key)) {
      if (key === 'net') throw new TypeError("settings.net: no such setting: a trial's net is an MLP (MultiLayerNet; MultiLayerNetExtend with dropout or batchnorm) of the data's features, images flattened; conv nets are not searched");
      throw new TypeError(`settings.${key}: unknown setting (expected one of ${[...TRIAL_SETTINGS, ...optimizerKeys.filter((k) => k !== 'lr')].join(', ')})`);
    }
  }
}

/** Checks the setting names (an unknown name is a TypeError naming it); values are checked by the net and optimizer. */
export function checkSettings(s: Settings): OptimizerName {
  if (s === null || typeof s !== 'object') throw new TypeError(`settings: expected an object of setting name → value, got ${describeValue(s)}`);
  const optimizer = optimizerName(s.optimizer);
  checkNames(Object.keys(s), [optimizer]);
  return optimizer;
}

/**
 * The settings a trial trains with, from those drawn for it: a parameter that another optimizer takes but the
 * trial's does not is left out. A space that draws `optimizer` may hold a parameter for the optimizers that
 * take it (`momentum` beside choice(['sgd', 'momentum'])); its other trials train without it, and their
 * results record the settings they trained with. An unknown optimizer keeps them all (runTrial fails it).
 */
export function trialSettings(drawn: Settings): Settings {
  const name = namedOptimizer(drawn.optimizer);
  if (!optimizerNames.includes(name)) return drawn;
  const takes = (o: OptimizerName, key: string) => Object.hasOwn(optimizerDefaults[o], key);
  const other = (key: string) => !(TRIAL_SETTINGS as readonly string[]).includes(key) && !takes(name, key) && optimizerNames.some((o) => takes(o, key));
  return Object.fromEntries(Object.entries(drawn).filter(([key]) => !other(key)));
}

/**
 * Checks a space against what runTrial accepts, before any job is issued: every setting name (an
 * optimizer's parameter needs that optimizer among those the space can give; trialSettings leaves it out
 * of the others' trials) and the fixed values (batch size, hidden sizes, optimizer parameters…); throws
 * naming the setting. A value drawn from a dimension is checked by its trial: an invalid one fails that trial.
 */
export function checkSpaceSettings(space: SearchSpace): void {
  if (space === null || typeof space !== 'object') throw new TypeError(`space: expected an object of setting name → dimension or value, got ${describeValue(space)}`);
  const opt = space.optimizer;
  const optimizers = !isDimension(opt) ? [optimizerName(opt)] : opt.kind === 'choice' ? opt.values.map(optimizerName) : optimizerNames;
  checkNames(Object.keys(space), optimizers);
  const fixed: Settings = {};
  for (const [name, d] of Object.entries(space)) if (!isDimension(d)) fixed[name] = d;
  if (isDimension(space.hidden)) fixed.hidden = []; // a drawn `hidden` overrides hiddenSize and hiddenLayers
  trialNetSpec(fixed, 1, 1);
  batchSize(fixed);
  trainerExtras(fixed);
  for (const o of optimizers) optimizerOf(fixed, o); // holds no memory until its first step
}

/** The net a trial's settings describe, as the registry builds it. */
export function trialNetSpec(s: Settings, inputSize: number, outputSize: number): NetSpec {
  const hiddenSizeList = hiddenSizes(s);
  hiddenSizeList.forEach((n, i) => {
    if (!(Number.isInteger(n) && n > 0)) throw new RangeError(`settings.${s.hidden !== undefined ? `hidden[${i}]` : 'hiddenSize'}: expected a positive integer, got ${n}`);
  });
  const labelSmoothing = num(s, 'labelSmoothing', 0);
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) throw new RangeError(`settings.labelSmoothing: expected a number in [0, 1], got ${labelSmoothing}`);
  const common = {
    inputSize,
    hiddenSizeList,
    outputSize,
    activation: (s.activation ?? 'relu') as ActivationName,
    weightInitStd: (s.init ?? 'relu') as WeightInit,
    // adamw takes `weightDecay` as its decoupled decay (optimizerOf), not as an L2 term besides it (simdnn train, PyTorch)
    weightDecayLambda: optimizerName(s.optimizer) === 'adamw' ? 0 : num(s, 'weightDecay', 0),
    // left out at 0, so a trial without it records the spec it always did
    ...(labelSmoothing !== 0 ? { labelSmoothing } : {}),
  };
  const dropout = num(s, 'dropout', 0);
  if (typeof (s.batchnorm ?? false) !== 'boolean') throw new TypeError(`settings.batchnorm: expected true or false, got ${JSON.stringify(s.batchnorm)}`);
  if (dropout === 0 && s.batchnorm !== true) return { kind: 'mlp', options: common };
  return { kind: 'mlp-extend', options: { ...common, useBatchnorm: s.batchnorm === true, useDropout: dropout !== 0, ...(dropout !== 0 ? { dropoutRatio: dropout } : {}) } };
}

function optimizerOf(s: Settings, name: OptimizerName): Optimizer {
  const params: Record<string, number> = {};
  for (const key of Object.keys(optimizerDefaults[name])) if (s[key] !== undefined) params[key] = num(s, key, 0);
  return createOptimizer(name, params);
}

/** The longest time limit a timer holds (2^31 − 1 ms, about 24.8 days): a longer one would fire at once. */
export const MAX_TRIAL_TIMEOUT_MS = 2 ** 31 - 1;

/** Throws a RangeError naming `name` unless `ms` is a time limit in (0, MAX_TRIAL_TIMEOUT_MS] ms. */
export function checkTrialTimeout(ms: unknown, name: string): void {
  if (!(typeof ms === 'number' && ms > 0 && ms <= MAX_TRIAL_TIMEOUT_MS)) {
    throw new RangeError(`${name} must be a number of milliseconds in (0, ${MAX_TRIAL_TIMEOUT_MS}] (about 24.8 days), got ${describeValue(ms)}`);
  }
}

function checkJob(job: TrialJob): void {
  if (typeof job !== 'object' || job === null) throw new TypeError('runTrial: job must be a TrialJob object');
  if (!(Number.isInteger(job.index) && job.index >= 0)) throw badNumber(job.index, `runTrial: job.index must be a non-negative integer, got ${shown(job.index)}`);
  if (!(Number.isInteger(job.epochs) && job.epochs > 0)) throw badNumber(job.epochs, `runTrial: job.epochs must be a positive integer, got ${shown(job.epochs)}`);
  if (!(Number.isInteger(job.seed) && job.seed >= 0 && job.seed <= 0xffffffff)) throw badNumber(job.seed, `runTrial: job.seed must be an integer in [0, 2^32), got ${shown(job.seed)}`);
  if (job.timeoutMs !== undefined) checkTrialTimeout(job.timeoutMs, 'runTrial: job.timeoutMs');
}

/**
 * Trains the job's net on `data` (borrowed) for job.epochs epochs (the book's
 * Trainer, validation set in the place of its test set) and resolves to its
 * per-epoch results. The runtime is reseeded with job.seed first. Training
 * errors (NaN/Inf from a diverging learning rate, bad setting values) do not
 * throw: they come back as status 'failed' with the message and the epochs
 * done. Everything the trial allocates is freed before it returns. Throws only
 * on a malformed job or data (TypeError/RangeError naming it), with the
 * signal's reason when it aborts (training stops between steps), and with a
 * ConcurrentRunError when another Trainer's run is in progress on `rt`. `onEpoch` gets each epoch's record as
 * it is trained (a worker streams them, so a trial stopped at its time limit keeps the epochs it completed).
 * job.timeoutMs is the executor's to enforce (see timedOutResult), not runTrial's.
 */
export async function runTrial(rt: Runtime, job: TrialJob, data: TrialData, worker = 'inline', signal?: AbortSignal, onEpoch?: (e: EpochResult) => void): Promise<TrialResult> {
  checkRuntime(rt, 'runTrial');
  checkJob(job);
  if (data === null || typeof data !== 'object') throw new TypeError(`runTrial: data must be { xTrain, tTrain, xVal, tVal } (tensors on rt), got ${describeValue(data)}`);
  checkTensor(rt, data.xTrain, 'runTrial: data.xTrain');
  checkTensor(rt, data.tTrain, 'runTrial: data.tTrain');
  checkTensor(rt, data.xVal, 'runTrial: data.xVal');
  checkTensor(rt, data.tVal, 'runTrial: data.tVal');
  const classes = classCount(data);
  const start = now();
  const history: EpochResult[] = [];
  const result = (status: 'ok' | 'failed', error?: string): TrialResult => ({
    study: job.study, index: job.index, seed: job.seed, settings: job.settings, epochs: job.epochs, data: job.data,
    status, ...(error !== undefined ? { error } : {}), history, worker, seconds: (now() - start) / 1000,
  });
  let net: Sequential | null = null;
  let trainer: Trainer | null = null;
  let optimizer: Optimizer | null = null;
  try {
    const name = checkSettings(job.settings);
    rt.reseed(job.seed);
    net = buildNet(rt, trialNetSpec(job.settings, data.xTrain.size / data.xTrain.shape[0], classes));
    optimizer = optimizerOf(job.settings, name);
    trainer = new Trainer(net, data.xTrain, data.tTrain, data.xVal, data.tVal, {
      epochs: job.epochs,
      miniBatchSize: batchSize(job.settings),
      optimizer,
      ...trainerExtras(job.settings),
      onProgress: (p) => {
        const r = p.record;
        if (!r) return;
        const e: EpochResult = { epoch: r.epoch, trainLoss: r.trainLoss, trainAcc: r.trainAcc, valLoss: r.testLoss, valAcc: r.testAcc };
        history.push(e);
        onEpoch?.(e);
      },
    });
    await trainer.fit({ signal }); // the same bits as train(), yielding to the event loop now and then
    return result('ok');
  } catch (e) {
    if (signal?.aborted) throw signal.reason; // stopped, not a trial that failed to train
    if (e instanceof ConcurrentRunError) throw e; // the runtime was busy: nothing about these settings
    return result('failed', e instanceof Error ? e.message : String(e));
  } finally {
    trainer?.dispose();
    (optimizer as { dispose?: () => void } | null)?.dispose?.();
    net?.dispose();
  }
}

/**
 * The result of `job` stopped by its executor at its time limit (job.timeoutMs) after the epochs in `history`,
 * `seconds` after its worker started it: status 'timeout', a final outcome like 'failed' (ranked with the
 * failed trials, never promoted by ASHA, and not run again by a resumed study).
 */
export function timedOutResult(job: TrialJob, history: readonly EpochResult[], worker: string, seconds: number): TrialResult {
  const error = `timed out: stopped at the trial time limit of ${(job.timeoutMs ?? 0) / 1000} s after ${history.length} of ${job.epochs} epochs`;
  return { study: job.study, index: job.index, seed: job.seed, settings: job.settings, epochs: job.epochs, data: job.data, status: 'timeout', error, history: [...history], worker, seconds };
}

/** The trial net's outputs: data.classes, checked against the labels, or what the labels need. */
function classCount(data: TrialData): number {
  const oneHot = data.tTrain.shape.length === 2;
  const needed = oneHot ? data.tTrain.shape[1] : Math.max(maxLabel(data.tTrain), maxLabel(data.tVal)) + 1;
  const { classes } = data;
  if (classes === undefined) return needed;
  if (!(Number.isInteger(classes) && (oneHot ? classes === needed : classes >= needed))) {
    throw badNumber(classes, `runTrial: data.classes must be ${oneHot ? `the one-hot width, ${needed}` : `an integer >= ${needed} (the largest label + 1)`}, got ${shown(classes)}`);
  }
  return classes;
}

function maxLabel(t: Tensor | IntTensor): number {
  let max = -1;
  for (const c of t.data) if (c > max) max = c;
  return max;
}

/** A clock in ms (performance.now where the host has it): the search's trial and study times. */
export function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
