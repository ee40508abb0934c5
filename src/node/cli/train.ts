// `simdnn train`: trains a named net with the Trainer's async fit() on the
// bundled digits (or an IDX directory, or a CSV table), shows progress on stderr and ends with
// a summary (or one JSON object with --json). The model goes to a safetensors
// file (--save), checked before training and written atomically, with a
// fallback file when the write fails; SIGINT/SIGTERM, or an error that ends
// training, save the last completed epoch. Checkpoints (--checkpoint-every) are model files with the optimizer's
// state and the Trainer's position in their metadata; --resume continues one
// bit-identically. Nets come from the registry, options from the FLAGS table
// (which also writes the help).
import path from 'node:path';
import type { ActivationName } from '../../layers/activations.js';
import { RandomAffine } from '../../data/augment.js';
import type { WeightInit } from '../../nets/init.js';
import { buildNet, NET_KINDS, type NamedNet, type NetKind, type NetSpec } from '../../nets/registry.js';
import type { Sequential } from '../../nets/sequential.js';
import type { ElementwiseOptimizer } from '../../optim/optimizer.js';
import { createOptimizer, optimizerDefaults, optimizerNames, type OptimizerName } from '../../optim/registry.js';
import { createSchedule, scheduleNames, type LRSchedule, type ScheduleName, type ScheduleOptionsMap } from '../../optim/schedules.js';
import { NetCopy } from '../../train/rollback.js';
import type { ThreadUse } from '../../train/split-choice.js';
import { Trainer, checkpointAverages, putBackTrainLoss, type EarlyStoppingMonitor, type EpochRecord, type SwaOptions, type TrainerOptions, type TrainerProgress, type TrainerState, type TrainResult, type WorkerFaultRecord } from '../../train/trainer.js';
import type { LoadedDataSet } from '../data.js';
import { readModelFile, readModelInfo } from '../model-file.js';
import type { SaveModelOptions } from '../../io/model.js';
import { createRuntime, usableThreads } from '../runtime.js';
import { intValue, numberValue, oneOf, parseOptions, UsageError, type Command, type CommandContext, type OptionSpec, type Output } from './command.js';
import { csvModelMetadata } from '../../data/csv/model-metadata.js';
import { checkCsvFlags, checkDataArg, checkModelFile, checkWritable, CSV_KEY, describeNet, disposeData, fromModelFile, loadData, saveWithFallback, takesRows } from './common.js';

// ---- settings

const ACTIVATIONS: readonly ActivationName[] = ['relu', 'sigmoid', 'tanh'];
/** --early-stop-monitor's names and the Trainer's monitor each stands for. */
const MONITORS = { 'val-loss': 'valLoss', 'val-acc': 'valAcc', 'train-loss': 'trainLoss', 'train-acc': 'trainAcc' } as const satisfies Record<string, EarlyStoppingMonitor>;
type MonitorFlag = keyof typeof MONITORS;
const MONITOR_FLAGS = Object.keys(MONITORS) as MonitorFlag[];
const INITS: Record<Exclude<WeightInit, number>, string> = {
  he: 'sqrt(2/n)', relu: 'sqrt(2/n)', xavier: 'sqrt(1/n)', sigmoid: 'sqrt(1/n)',
};
/** Learning rates used when --lr is absent; other optimizers keep their own default. */
const DEFAULT_LR: Record<string, number> = { sgd: 0.1 };

/** Everything `simdnn train` was asked for. */
export interface TrainSettings {
  net: NetKind;
  hidden: number[];
  activation: ActivationName;
  init: WeightInit;
  optimizer: string;
  /** Hyper-parameters given on the command line, named as createOptimizer takes them. */
  optimizerParams: Record<string, number>;
  /** The net's L2 weight decay λ (--weight-decay with any optimizer but adamw). */
  weightDecay: number;
  /** The net's L1 weight decay λ. */
  l1: number;
  batchnorm: boolean;
  /** Dropout ratio after each hidden activation; absent: no dropout. */
  dropout?: number;
  /** Label smoothing ε of the net's loss; absent: none. */
  labelSmoothing?: number;
  /** One weight per class of the net's loss (SoftmaxWithLossOptions.classWeights); absent: unweighted. */
  classWeights?: number[];
  /** Class-balanced batches: TrainerOptions.sampleWeights 'balanced' (absent: uniform draws). */
  balanced?: true;
  /** Threads for the kernels (1: the calling thread only; 'auto': one per core, the runtime's lazy default). */
  threads: number | 'auto';
  epochs: number;
  /** Optimizer steps in all, instead of epochs (the book's iters_num). */
  iterations?: number;
  batch: number;
  seed: number;
  data: string;
  trainRows?: number;
  testRows?: number;
  /** A CSV --data's label column (its header name). */
  label?: string;
  /** A CSV --data's share of rows held out for testing (absent: 0.2). */
  testSplit?: number;
  /** What the data adds to each model file written (a CSV's columns, classes and scaling); not a setting of the run. */
  dataMetadata?: Record<string, string>;
  /** A learning-rate schedule: createSchedule's name and options. */
  lrSchedule?: { name: string; options: Record<string, number | string | boolean | number[]> };
  /** Random affine augmentation of the training images. */
  augment?: { shift: number; degrees: number; scale: number };
  /** Fraction of the training rows held out for validation. */
  valSplit?: number;
  /** Early-stopping patience in epochs (needs valSplit, unless it watches a training figure). */
  earlyStop?: number;
  /** What early stopping watches (--early-stop-monitor's name; default val-loss). */
  earlyStopMonitor?: MonitorFlag;
  /** Gradient clipping before each update: the 2-norm over all gradients, and each element's magnitude. */
  clipGradNorm?: number;
  clipGradValue?: number;
  /** Batches whose mean gradient each update takes (TrainerOptions.accumulateSteps; absent: 1). */
  accumulate?: number;
  /** The decay of a moving average of the parameters, which the run ends with (TrainerOptions.ema). */
  ema?: number;
  /** mixup's α: each training batch mixed with its reversed rows by λ ~ Beta(α, α) (TrainerOptions.mixup). */
  mixup?: number;
  /** Stochastic weight averaging from this epoch on, with SWALR's settings (TrainerOptions.swa). */
  swa?: SwaOptions;
  save?: string;
  /** Checkpoint path; `{epoch}` in it is replaced by the epoch. */
  checkpoint?: string;
  checkpointEvery?: number;
  /** Checkpoint to continue from. */
  resume?: string;
  /** Use the relaxed-SIMD build where the host has it. */
  relaxed: boolean;
  json: boolean;
  quiet: boolean;
}

/** The settings that define a run (stored in checkpoints; --resume takes them from there). */
const RUN_KEYS = ['net', 'hidden', 'activation', 'init', 'optimizer', 'optimizerParams', 'weightDecay', 'l1', 'batchnorm', 'dropout', 'labelSmoothing', 'classWeights', 'balanced',
  'epochs', 'iterations', 'batch', 'seed', 'data', 'trainRows', 'testRows', 'label', 'testSplit', 'lrSchedule', 'augment', 'valSplit', 'earlyStop', 'earlyStopMonitor',
  'clipGradNorm', 'clipGradValue', 'ema', 'mixup', 'swa', 'accumulate'] as const;
/** Flags that may be given with --resume (they do not change the run's numbers). */
const RESUME_FLAGS = new Set(['resume', 'save', 'checkpoint', 'checkpoint-every', 'threads', 'relaxed', 'json', 'quiet', 'help']);

const NET_SUMMARIES: Record<NetKind, string> = {
  mlp: "the book's MultiLayerNet: (Affine, activation) per hidden layer, Affine, softmax",
  'mlp-extend': "the book's MultiLayerNetExtend: (Affine, [BatchNorm], activation, [Dropout]) per hidden layer, Affine, softmax; with --batchnorm, --dropout, --weight-decay, --l1",
  'simple-conv': "the book's SimpleConvNet: Conv 30 5x5, ReLU, Pool 2x2, Affine (the --hidden size), ReLU, Affine, softmax",
  'deep-conv': "the book's DeepConvNet: 6 conv 3x3 (16,16,32,32,64,64) + ReLU, 3 pools, Affine 50, ReLU, dropout, Affine, dropout; He init (the book trains it with --optimizer adam --lr 0.001)",
};
/** Flags that only some nets take; any other net refuses them. */
const TAKES: Record<string, readonly NetKind[]> = {
  hidden: ['mlp', 'mlp-extend', 'simple-conv'],
  activation: ['mlp', 'mlp-extend'],
  init: ['mlp', 'mlp-extend', 'simple-conv'],
  'weight-decay': ['mlp', 'mlp-extend'],
  l1: ['mlp-extend'],
  batchnorm: ['mlp-extend'],
  dropout: ['mlp-extend'],
  augment: ['simple-conv', 'deep-conv'],
};

export interface Flag extends OptionSpec {
  /** The createOptimizer parameter this flag sets. */
  optimizerParam?: string;
}

/** A flag for an optimizer hyper-parameter; its help lists the optimizers that take it, with their defaults. */
function hyper(name: string, param: string, help: string): Flag {
  const users = Object.entries(optimizerDefaults)
    .filter(([, d]) => param in d)
    .map(([opt, d]) => `${opt} ${fmtDefault(param === 'lr' ? DEFAULT_LR[opt] ?? d.lr : d[param])}`);
  return { name, value: 'x', optimizerParam: param, help: `${help} (default: ${users.join(', ')})` };
}

/** A default as the help writes it: 0.001, 0.9, and small ones as 1e-6, 1e-7 (JavaScript would write 0.000001 beside 1e-7). */
function fmtDefault(v: number): string {
  return v !== 0 && Math.abs(v) < 1e-4 ? v.toExponential() : String(v);
}

export const FLAGS: readonly Flag[] = [
  { name: 'net', value: 'name', default: 'mlp', help: `network: ${NET_KINDS.map((k) => `${k} (${NET_SUMMARIES[k]})`).join('; ')}` },
  { name: 'hidden', value: 'n,n,...', default: '100,100', help: "hidden layer sizes (simple-conv: one size, default 100); 'none' for no hidden layer (softmax regression)" },
  { name: 'activation', value: 'name', default: 'relu', help: ACTIVATIONS.join(', ') },
  { name: 'init', value: 'name|std', default: 'he', help: `weight init std: ${Object.entries(INITS).map(([k, v]) => `${k} ${v}`).join(', ')} (n = fan-in), or a number` },
  { name: 'optimizer', value: 'name', default: 'sgd', help: optimizerNames.join(', ') },
  hyper('lr', 'lr', 'learning rate'),
  hyper('momentum', 'momentum', 'momentum'),
  hyper('decay-rate', 'decayRate', 'decay rate of the squared-gradient average'),
  hyper('beta1', 'beta1', 'first-moment decay'),
  hyper('beta2', 'beta2', 'second-moment decay'),
  hyper('rho', 'rho', 'decay of the running averages'),
  hyper('eps', 'eps', 'term that keeps the adaptive step finite'),
  { name: 'weight-decay', value: 'x', help: 'weight decay λ: with adamw its decoupled decay (default 0.01), as PyTorch; with any other optimizer the net\'s L2 decay, loss += ½λΣW² (the book\'s weight_decay_lambda; default 0)' },
  { name: 'l1', value: 'x', help: 'L1 weight decay λ, loss += λΣ|W| (with --weight-decay: Elastic Net; mlp-extend)' },
  { name: 'batchnorm', help: 'batch normalisation after each hidden Affine (mlp-extend)' },
  { name: 'dropout', value: 'ratio', help: "dropout after each hidden activation, the book's form (mlp-extend)" },
  { name: 'label-smoothing', value: 'x', help: "label smoothing ε in [0, 1] of the loss: targets t·(1 − ε) + ε/classes (PyTorch's and Keras's label_smoothing; the reported losses include it)" },
  { name: 'class-weights', value: 'w0,w1,...', help: "one weight per class of the loss, each a finite number >= 0, not all 0 (PyTorch's CrossEntropyLoss weight, Keras's class_weight): the mean loss is sum w[t]*loss / sum w[t]; the reported losses include them" },
  { name: 'balanced', help: "class-balanced batches: each drawn with replacement, each training row weighted 1/(the rows of its class), so every class is drawn about equally often (PyTorch's WeightedRandomSampler with those weights; with --val-split, over the rows it leaves); an epoch is as many steps as without. --class-weights weights the loss instead" },
  { name: 'epochs', value: 'n', default: '5', help: 'passes over the training set' },
  { name: 'iterations', value: 'n', help: "optimizer steps in all instead of --epochs (the book's iters_num)" },
  // 16, not the book's 100: on 8,000 digits, 5 epochs of 100 (400 steps) reach only ~0.92 test
  // accuracy with SGD lr 0.1; 5 epochs of 16 (2,500 steps) reach the 0.95 the defaults promise
  { name: 'batch', value: 'n', default: '16', help: 'mini-batch size' },
  { name: 'seed', value: 'n', default: '1', help: "random seed of initialisation, shuffling, dropout, augmentation, --val-split's held-out rows and a CSV's train/test split (the digits' and IDX files' split is fixed)" },
  { name: 'data', value: 'mnist|dir|file', default: 'mnist', help: "'mnist': the bundled 10,000 digits split 8,000 train / 2,000 test; or a directory of MNIST-format IDX files (train-*, t10k-*, gzipped or not); or a CSV file (gzipped or not) with a header row naming its columns, a label column (--label) and numeric features, split by --test-split and standardized (an mlp or mlp-extend)" },
  { name: 'label', value: 'column', help: "a CSV --data's column of class labels, by its header name (the other columns are the features)" },
  { name: 'test-split', value: 'ratio', help: "a CSV --data's share of rows held out for testing, stratified by class and seeded by --seed (default 0.2)" },
  { name: 'train-rows', value: 'n', help: 'train on the first n training rows only (default: all; more than the data holds is an error)' },
  { name: 'test-rows', value: 'n', help: 'test on the first n test rows only (default: all; more than the data holds is an error)' },
  { name: 'lr-schedule', value: 'name[:k=v,...]', help: `learning-rate schedule with PyTorch's semantics: ${scheduleNames.join(', ')}; options by PyTorch's names in camelCase, lists (milestones) with '/', flags as true or false, e.g. step:stepSize=2,gamma=0.5 or multistep:milestones=3/6 (one: milestones=3) or cosine:tMax=10 (interval=step to advance per step) or cosine-restarts:t0=5,tMult=2 or onecycle:maxLr=0.1,totalSteps=2500 (per step by default; annealStrategy=linear, threePhase=true, cycleMomentum=false for an optimizer without momentum or beta1) or cyclic:baseLr=0.001,maxLr=0.1,stepSizeUp=500,mode=triangular2 (per step by default; mode=exp_range,gamma=0.9999) or constant:factor=0.5,totalIters=3 or polynomial:totalIters=10,power=2` },
  { name: 'augment', value: 'k=v,...', help: 'random affine augmentation of each training batch: shift=px, degrees=d, scale=f (a factor in [1/(1+f), 1+f]), e.g. shift=2,degrees=10,scale=0.1 (simple-conv, deep-conv)' },
  { name: 'val-split', value: 'ratio', help: 'hold out this fraction of the training rows for validation (reported per epoch)' },
  { name: 'early-stop', value: 'patience', help: 'stop when the validation loss (or --early-stop-monitor\'s figure) has not improved for this many epochs, and keep the best epoch\'s parameters (needs --val-split, unless it watches the training set)' },
  { name: 'early-stop-monitor', value: 'figure', default: 'val-loss', help: `what --early-stop watches, as Keras's monitor: ${MONITOR_FLAGS.join(', ')} (a loss must fall, an accuracy rise; train-loss is the mean of the epoch's step losses)` },
  { name: 'clip-grad-norm', value: 'x', help: "clip each step's gradients to this 2-norm over all of them before the update (PyTorch's clip_grad_norm_)" },
  { name: 'clip-grad-value', value: 'x', help: "clamp each step's gradient elements to [-x, x] before the update (PyTorch's clip_grad_value_; before --clip-grad-norm)" },
  { name: 'accumulate', value: 'k', help: "gradient accumulation: update once every k batches with the mean of their gradients (Keras's gradient_accumulation_steps), so k batches of --batch train as one of k times --batch in the memory of one; clipping acts on the mean; per-step schedules and --ema advance per update; steps, --iterations and progress still count batches" },
  { name: 'ema', value: 'decay', help: "keep a moving average of the parameters (decay in [0, 1], e.g. 0.99: Keras's use_ema, ema_momentum) and end the run with it; --early-stop's best epoch wins over it, and the figures shown are the raw parameters'" },
  { name: 'mixup', value: 'alpha', help: "mixup (Zhang et al. 2018) as timm's Mixup per batch: each training batch becomes λ·x + (1-λ)·x with its rows reversed, its targets mixed alike, λ ~ Beta(alpha, alpha) drawn per step (alpha > 0, e.g. 0.2 or 1); after --augment; the figures per epoch are on unmixed data" },
  { name: 'swa', value: 'start[:k=v,...]', help: "stochastic weight averaging (PyTorch's swa_utils): average the parameters at the end of epoch start (1-based) and of every later one, and end the run with the average (batch-norm statistics recomputed over the training rows, as update_bn); lr=x anneals the rate to x from the next epoch on (SWALR, instead of --lr-schedule) over annealEpochs=n epochs (default 10), annealStrategy=cos or linear, e.g. 15 or 15:lr=0.05,annealEpochs=5; not with --ema; --early-stop's best epoch wins over it" },
  { name: 'save', value: 'file', help: 'write the trained model to this safetensors file (checked before training; written atomically; SIGINT/SIGTERM or an error that ends training save the last completed epoch)' },
  { name: 'checkpoint', value: 'file', help: "checkpoint file ('{epoch}' is replaced by the epoch; default: the --save name with .checkpoint before its extension)" },
  { name: 'checkpoint-every', value: 'n', help: 'write a checkpoint (model, optimizer state, position, random stream) every n epochs' },
  { name: 'resume', value: 'checkpoint', help: 'continue the run a checkpoint holds, with its settings (beside it only --save, --checkpoint, --checkpoint-every, --threads, --relaxed, --json, --quiet); the result is the same bits as the uninterrupted run' },
  { name: 'threads', value: 'n|auto', default: 'auto', help: "threads for the kernels ('auto': one per core); results are the same bits for any count; steps run on one thread where the Trainer measures that faster (the summary says)" },
  { name: 'relaxed', help: 'relaxed-SIMD build (fused multiply-add: faster, results differ by CPU; Node 20 needs --experimental-wasm-relaxed-simd)' },
  { name: 'json', help: 'print one JSON object with the results on stdout' },
  { name: 'quiet', help: 'no progress or start line on stderr' },
];

/**
 * `k=v,k=v` into an object; values are numbers, except the keys in `strings`
 * (text), in `booleans` (true or false) and in `lists` (a list of numbers
 * written with '/', e.g. 3/6; one number, 3, is a list of one).
 */
function keyValues(flag: string, text: string, { strings = [], booleans = [], lists = [] }: { strings?: readonly string[]; booleans?: readonly string[]; lists?: readonly string[] } = {}): Record<string, number | string | boolean | number[]> {
  const out: Record<string, number | string | boolean | number[]> = {};
  if (text === '') return out;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${flag}: expected key=value, got '${part}'`);
    const key = part.slice(0, eq).trim(), value = part.slice(eq + 1).trim();
    if (key in out) throw new UsageError(`--${flag}: '${key}' is given twice`);
    if (strings.includes(key)) {
      out[key] = value;
    } else if (booleans.includes(key)) {
      if (value !== 'true' && value !== 'false') throw new UsageError(`--${flag}: ${key} takes true or false, got '${value}'`);
      out[key] = value === 'true';
    } else if (lists.includes(key)) {
      const items = value.split('/').map((v) => v.trim());
      if (items.includes('')) throw new UsageError(`--${flag}: ${key}: a list of numbers separated by '/' has an empty item in '${value}' (write e.g. ${key}=3/6, or ${key}=3 for one)`);
      out[key] = items.map((v) => numberValue(flag, v));
    } else {
      if (value.includes('/')) throw new UsageError(`--${flag}: ${key} takes one number, not a list, got '${value}'${lists.length > 0 ? ` (lists: ${lists.join(', ')})` : ''}`);
      out[key] = numberValue(flag, value);
    }
  }
  return out;
}

/** --lr-schedule options that are text, those that are true or false, and those that are lists of numbers. */
const SCHEDULE_STRINGS = ['interval', 'mode', 'thresholdMode', 'annealStrategy', 'scaleMode'], SCHEDULE_BOOLEANS = ['cycleMomentum', 'threePhase'], SCHEDULE_LISTS = ['milestones'];

/** --lr-schedule's name and options, checked now (before data loads), with the optimizer a schedule cycling momentum needs. */
function parseSchedule(text: string, optimizer: OptimizerName): TrainSettings['lrSchedule'] {
  const colon = text.indexOf(':');
  const name = oneOf('lr-schedule', colon < 0 ? text : text.slice(0, colon), scheduleNames);
  const options = keyValues('lr-schedule', colon < 0 ? '' : text.slice(colon + 1), { strings: SCHEDULE_STRINGS, booleans: SCHEDULE_BOOLEANS, lists: SCHEDULE_LISTS });
  const schedule = makeSchedule({ name, options });
  const defaults = optimizerDefaults[optimizer];
  if (schedule.momentumAt && !('momentum' in defaults || 'beta1' in defaults)) {
    throw new UsageError(`--lr-schedule ${name}: cycles the momentum, which --optimizer ${optimizer} has none of: add cycleMomentum=false, or use --optimizer momentum, nesterov, adam or adamw`);
  }
  return { name, options };
}

/** A UsageError naming `flag` when `optimizer` refuses `value` for `param` (the library's message names its own key). */
function checkOptimizerValue(optimizer: string, flag: string, param: string, value: number): void {
  try {
    // a name and key from the flags: createOptimizer checks them at run time, and its message is the point here
    createOptimizer(optimizer as OptimizerName, { [param]: value }).dispose();
  } catch (e) {
    // 'SGD: lr must be a finite number >= 0, got -1' -> 'expected a finite number >= 0, got -1'
    throw new UsageError(`--${flag}: ${(e as Error).message.replace(/^\w+: \w+ must be /, 'expected ')} (--optimizer ${optimizer})`);
  }
}

export function makeOptimizer(s: TrainSettings): ElementwiseOptimizer {
  try {
    return createOptimizer(s.optimizer as OptimizerName, s.optimizerParams); // checked at run time (a UsageError below)
  } catch (e) {
    throw new UsageError(`--optimizer ${s.optimizer}: ${(e as Error).message}`);
  }
}

function makeSchedule(spec: NonNullable<TrainSettings['lrSchedule']>): LRSchedule {
  try {
    // a name and options parsed from --lr-schedule: createSchedule checks them at run time (a UsageError below)
    return createSchedule(spec.name as ScheduleName, spec.options as ScheduleOptionsMap[ScheduleName]);
  } catch (e) {
    throw new UsageError(`--lr-schedule: ${(e as Error).message}`);
  }
}

/** --swa's `start[:k=v,...]`: the first epoch averaged, then SWALR's lr, annealEpochs and annealStrategy. */
function parseSwa(text: string): SwaOptions {
  const colon = text.indexOf(':');
  const start = intValue('swa', colon < 0 ? text : text.slice(0, colon), 1);
  const o = keyValues('swa', colon < 0 ? '' : text.slice(colon + 1), { strings: ['annealStrategy'] });
  for (const key of Object.keys(o)) {
    if (!['lr', 'annealEpochs', 'annealStrategy'].includes(key)) throw new UsageError(`--swa: unknown key '${key}' (expected lr, annealEpochs, annealStrategy)`);
    if (key !== 'lr' && o.lr === undefined) throw new UsageError(`--swa: ${key} shapes the annealing to lr: give lr=x too`);
  }
  const { lr, annealEpochs, annealStrategy } = o as { lr?: number; annealEpochs?: number; annealStrategy?: string };
  if (lr !== undefined && !(lr > 0 && Number.isFinite(lr))) throw new UsageError(`--swa: lr must be a positive number, got ${lr}`);
  if (annealEpochs !== undefined && !(Number.isSafeInteger(annealEpochs) && annealEpochs >= 0)) throw new UsageError(`--swa: annealEpochs must be an integer >= 0, got ${annealEpochs}`);
  if (annealStrategy !== undefined && annealStrategy !== 'cos' && annealStrategy !== 'linear') throw new UsageError(`--swa: annealStrategy must be cos or linear, got '${annealStrategy}'`);
  return { start, ...(lr !== undefined ? { lr } : {}), ...(annealEpochs !== undefined ? { annealEpochs } : {}), ...(annealStrategy !== undefined ? { annealStrategy } : {}) };
}

function parseAugment(text: string): TrainSettings['augment'] {
  // an empty value (an unset shell variable) is refused, not taken as no augmentation
  if (text.trim() === '') throw new UsageError("--augment: expected k=v,... such as shift=2,degrees=10,scale=0.1; got ''");
  const o = keyValues('augment', text);
  for (const key of Object.keys(o)) {
    if (!['shift', 'degrees', 'scale'].includes(key)) throw new UsageError(`--augment: unknown key '${key}' (expected shift, degrees, scale)`);
    if (typeof o[key] !== 'number' || (o[key] as number) < 0) throw new UsageError(`--augment: ${key} must be a non-negative number`);
  }
  const a = { shift: (o.shift as number) ?? 0, degrees: (o.degrees as number) ?? 0, scale: (o.scale as number) ?? 0 };
  if (a.degrees > 180) throw new UsageError(`--augment: degrees must be at most 180, got ${a.degrees}`);
  return a;
}

/** Parses `simdnn train` arguments; throws a UsageError on anything wrong. */
export function parseTrainArgs(args: readonly string[]): TrainSettings {
  return trainSettings(parseOptions(trainCommand, args).values);
}

/** The settings from parsed option values; throws a UsageError on anything wrong. */
export function trainSettings(values: CommandContext['values']): TrainSettings {
  const get = (name: string): string => {
    const v = values[name];
    return typeof v === 'string' ? v : FLAGS.find((f) => f.name === name)!.default!;
  };
  const optional = <T>(name: string, parse: (text: string) => T): T | undefined => {
    const v = values[name];
    return typeof v === 'string' ? parse(v) : undefined;
  };
  if (values.resume !== undefined) {
    const extra = Object.keys(values).filter((k) => values[k] !== undefined && !RESUME_FLAGS.has(k));
    if (extra.length > 0) throw new UsageError(`--${extra[0]}: cannot be given with --resume (the run's settings come from the checkpoint)`);
  }
  const optimizer = oneOf('optimizer', get('optimizer'), optimizerNames);
  const optimizerParams: Record<string, number> = {};
  const takes = FLAGS.filter((f) => f.optimizerParam !== undefined && f.optimizerParam in optimizerDefaults[optimizer]);
  for (const f of FLAGS) {
    if (!f.optimizerParam) continue;
    const v = optional(f.name, (text) => numberValue(f.name, text));
    if (v === undefined) continue;
    if (!takes.includes(f)) throw new UsageError(`--${f.name}: --optimizer ${optimizer} has no such option (its options: ${takes.map((t) => `--${t.name}`).join(', ')})`);
    checkOptimizerValue(optimizer, f.name, f.optimizerParam, v);
    optimizerParams[f.optimizerParam] = v;
  }
  if (optimizerParams.lr === undefined && DEFAULT_LR[optimizer] !== undefined) optimizerParams.lr = DEFAULT_LR[optimizer];
  const net = oneOf('net', get('net'), NET_KINDS);
  for (const [flag, nets] of Object.entries(TAKES)) {
    if (values[flag] !== undefined && !(flag === 'weight-decay' && optimizer === 'adamw') && !nets.includes(net)) {
      throw new UsageError(`--${flag}: --net ${net} has no such option (use --net ${nets.join(' or --net ')})`);
    }
  }
  const decay = optional('weight-decay', (t) => numberValue('weight-decay', t));
  if (decay !== undefined && decay < 0) throw new UsageError(`--weight-decay: expected a non-negative number, got ${decay}`);
  if (decay !== undefined && optimizer === 'adamw') optimizerParams.weightDecay = decay;
  const l1 = optional('l1', (t) => numberValue('l1', t)) ?? 0;
  if (l1 < 0) throw new UsageError(`--l1: expected a non-negative number, got ${l1}`);
  const dropout = optional('dropout', (t) => numberValue('dropout', t));
  if (dropout !== undefined && !(dropout >= 0 && dropout < 1)) throw new UsageError(`--dropout: expected a ratio in [0, 1), got ${dropout}`);
  const labelSmoothing = optional('label-smoothing', (t) => numberValue('label-smoothing', t));
  if (labelSmoothing !== undefined && !(labelSmoothing >= 0 && labelSmoothing <= 1)) throw new UsageError(`--label-smoothing: expected a number in [0, 1], got ${labelSmoothing}`);
  const classWeights = optional('class-weights', parseClassWeights);
  const threadsText = get('threads');
  const threads = threadsText === 'auto' ? 'auto' as const : intValue('threads', threadsText, 1);
  if (typeof threads === 'number' && threads > usableThreads()) {
    throw new UsageError(`--threads: this host can use at most ${usableThreads()} (one per core), got ${threads}`);
  }
  const initText = get('init');
  const init: WeightInit = /^[\d.+-]/.test(initText) ? numberValue('init', initText) : oneOf('init', initText, Object.keys(INITS) as Array<keyof typeof INITS>);
  if (typeof init === 'number' && init < 0) throw new UsageError(`--init: a std must be non-negative, got ${init}`);
  // an empty value (an unset shell variable) is refused, not taken as no hidden layer
  if (get('hidden').trim() === '') throw new UsageError("--hidden: expected sizes such as 100,100, or 'none' for no hidden layer; got ''");
  const hidden = get('hidden') === 'none' ? [] : get('hidden').split(',').map((n) => intValue('hidden', n.trim(), 1));
  if (net === 'simple-conv' && values.hidden !== undefined && hidden.length !== 1) throw new UsageError(`--hidden: --net simple-conv takes one hidden size, got ${hidden.length}`);
  for (const flag of ['activation', 'batchnorm', 'dropout']) {
    if (hidden.length === 0 && values[flag] !== undefined) throw new UsageError(`--${flag}: acts on hidden layers, and --hidden none has none`);
  }
  if (values.epochs !== undefined && values.iterations !== undefined) throw new UsageError('--iterations: give either --epochs or --iterations');
  const valSplit = optional('val-split', (t) => numberValue('val-split', t));
  if (valSplit !== undefined && !(valSplit > 0 && valSplit < 1)) throw new UsageError(`--val-split: expected a ratio in (0, 1), got ${valSplit}`);
  const earlyStop = optional('early-stop', (t) => intValue('early-stop', t, 1));
  const earlyStopMonitor = optional('early-stop-monitor', (t) => oneOf('early-stop-monitor', t, MONITOR_FLAGS));
  if (earlyStopMonitor !== undefined && earlyStop === undefined) throw new UsageError('--early-stop-monitor: needs --early-stop (the patience)');
  if (earlyStop !== undefined && valSplit === undefined && !earlyStopMonitor?.startsWith('train-')) {
    throw new UsageError(`--early-stop: needs --val-split (it watches the validation ${earlyStopMonitor === 'val-acc' ? 'accuracy' : 'loss'}; --early-stop-monitor train-loss or train-acc watch the training set's)`);
  }
  const [clipGradNorm, clipGradValue] = (['clip-grad-norm', 'clip-grad-value'] as const).map((flag) => optional(flag, (t) => {
    const v = numberValue(flag, t);
    if (!(v > 0)) throw new UsageError(`--${flag}: expected a positive number, got ${t}`);
    return v;
  }));
  const accumulate = optional('accumulate', (t) => intValue('accumulate', t, 1));
  const ema = optional('ema', (t) => {
    const v = numberValue('ema', t);
    if (!(v >= 0 && v <= 1)) throw new UsageError(`--ema: expected a decay in [0, 1] (e.g. 0.99), got ${t}`);
    return v;
  });
  const mixup = optional('mixup', (t) => {
    const v = numberValue('mixup', t);
    if (!(v > 0)) throw new UsageError(`--mixup: expected a positive alpha (Beta(alpha, alpha), e.g. 0.2 or 1), got ${t}`);
    return v;
  });
  const swa = optional('swa', parseSwa);
  if (swa !== undefined && ema !== undefined) throw new UsageError('--swa: give --swa or --ema, not both (each ends the run with its average of the parameters)');
  const save = optional('save', (t) => t);
  const checkpointEvery = optional('checkpoint-every', (t) => intValue('checkpoint-every', t, 1));
  let checkpoint = optional('checkpoint', (t) => t);
  if (checkpoint !== undefined && checkpointEvery === undefined) throw new UsageError('--checkpoint: needs --checkpoint-every');
  if (checkpointEvery !== undefined && checkpoint === undefined) {
    if (save === undefined) throw new UsageError('--checkpoint-every: needs --checkpoint FILE (or --save, beside which it goes)');
    checkpoint = save.replace(/(\.[^./\\]*)?$/, (ext) => `.checkpoint${ext || '.safetensors'}`);
  }
  return {
    net,
    weightDecay: decay !== undefined && optimizer !== 'adamw' ? decay : 0,
    l1,
    batchnorm: values.batchnorm === true,
    dropout,
    labelSmoothing,
    classWeights,
    balanced: values.balanced === true ? true : undefined,
    threads,
    hidden,
    activation: oneOf('activation', get('activation'), ACTIVATIONS),
    init,
    optimizer,
    optimizerParams,
    epochs: intValue('epochs', get('epochs'), 1),
    iterations: optional('iterations', (t) => intValue('iterations', t, 1)),
    batch: intValue('batch', get('batch'), 1),
    seed: intValue('seed', get('seed'), 0, 0xffffffff),
    data: get('data'),
    trainRows: optional('train-rows', (t) => intValue('train-rows', t, 1)),
    testRows: optional('test-rows', (t) => intValue('test-rows', t, 1)),
    label: optional('label', (t) => {
      if (t === '') throw new UsageError("--label: expected a column's name, got ''");
      return t;
    }),
    testSplit: optional('test-split', (t) => {
      const v = numberValue('test-split', t);
      if (!(v > 0 && v < 1)) throw new UsageError(`--test-split: expected a ratio in (0, 1), got ${t}`);
      return v;
    }),
    lrSchedule: optional('lr-schedule', (text) => parseSchedule(text, optimizer)),
    augment: optional('augment', parseAugment),
    valSplit,
    earlyStop,
    earlyStopMonitor,
    clipGradNorm,
    clipGradValue,
    // 1 is no accumulation: left out, as the runs before the flag recorded nothing
    accumulate: accumulate === 1 ? undefined : accumulate,
    ema,
    mixup,
    swa,
    save,
    checkpoint,
    checkpointEvery,
    resume: optional('resume', (t) => t),
    relaxed: values.relaxed === true,
    json: values.json === true,
    quiet: values.quiet === true,
  };
}

/** Refuses --class-weights of another count than the data's classes (known once the data is loaded). */
export function checkClassWeightCount(s: Pick<TrainSettings, 'classWeights'>, classes: number): void {
  if (s.classWeights && s.classWeights.length !== classes) {
    throw new UsageError(`--class-weights: expected ${classes} weights (one per class of the data), got ${s.classWeights.length}`);
  }
}

/** --class-weights' value: comma-separated weights, each finite and >= 0, not all 0 (their count is checked against the data's classes). */
function parseClassWeights(text: string): number[] {
  const weights = text.split(',').map((w) => numberValue('class-weights', w.trim()));
  const bad = weights.find((w) => !(w >= 0 && w <= 3.4028234663852886e38));
  if (bad !== undefined) throw new UsageError(`--class-weights: each weight must be a finite number >= 0, got ${bad}`);
  if (weights.every((w) => Math.fround(w) === 0)) throw new UsageError(`--class-weights: the weights are all 0; at least one class must weigh more`);
  return weights;
}

/** The spec of the net the settings describe, for data of this shape and class count. */
export function netSpec(s: TrainSettings, inputShape: number[], classes: number): NetSpec {
  const lossOptions = { ...(s.labelSmoothing ? { labelSmoothing: s.labelSmoothing } : {}), ...(s.classWeights ? { classWeights: s.classWeights } : {}) };
  const mlp = {
    inputSize: inputShape.reduce((a, b) => a * b, 1),
    hiddenSizeList: s.hidden,
    outputSize: classes,
    activation: s.activation,
    weightInitStd: s.init,
    ...(s.weightDecay ? { weightDecayLambda: s.weightDecay } : {}),
    ...lossOptions,
  };
  switch (s.net) {
    case 'mlp': return { kind: 'mlp', options: mlp };
    case 'mlp-extend': return {
      kind: 'mlp-extend',
      options: { ...mlp, ...(s.l1 ? { l1Lambda: s.l1 } : {}), useBatchnorm: s.batchnorm, useDropout: s.dropout !== undefined, ...(s.dropout !== undefined ? { dropoutRatio: s.dropout } : {}) },
    };
    case 'simple-conv': return { kind: 'simple-conv', options: { inputDim: inputShape, hiddenSize: s.hidden[0] ?? 100, outputSize: classes, weightInitStd: s.init, ...lossOptions } };
    case 'deep-conv': return { kind: 'deep-conv', options: { inputDim: inputShape, outputSize: classes, ...lossOptions } };
  }
}

// ---- progress

function now(): number {
  return performance.now();
}

/**
 * Progress on stderr: on a TTY a bar redrawn in place (each epoch's final line
 * stays), otherwise a plain line per epoch and one every 10 s in between.
 * The loss shown is the mean over the epoch so far.
 */
class Progress {
  private record: EpochRecord | null = null;
  private lossSum = 0;
  private steps = 0;
  private last: number;
  private partial = false;

  constructor(private readonly out: Output, private readonly enabled: boolean, private readonly epochs: number) {
    this.last = out.isTTY ? -Infinity : now();
  }

  update(p: TrainerProgress): void {
    if (!this.enabled) return;
    if (p.record) this.record = p.record;
    else { this.lossSum += p.loss; this.steps++; }
    const t = now();
    if (p.kind === 'step' && t - this.last < (this.out.isTTY ? 100 : 10_000)) return;
    this.last = t;
    const text = this.line(p);
    if (this.out.isTTY) {
      this.out.write(`\r${text.slice(0, (this.out.columns || 80) - 1)}\x1b[K${p.kind === 'epoch' ? '\n' : ''}`);
      this.partial = p.kind === 'step';
    } else {
      this.out.write(`${text}\n`);
    }
    if (p.kind === 'epoch') { this.lossSum = 0; this.steps = 0; }
  }

  /** Ends a half-drawn line (training stopped mid-epoch). */
  finish(): void {
    if (this.partial) this.out.write('\n');
    this.partial = false;
  }

  private line(p: TrainerProgress): string {
    const width = 16;
    const done = Math.round((width * p.iter) / p.maxIter);
    const bar = `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${String(Math.floor((100 * p.iter) / p.maxIter)).padStart(3)}%`;
    const loss = p.record ? p.record.trainLoss : this.lossSum / this.steps;
    const r = this.record;
    const acc = r ? ` | acc train ${r.trainAcc.toFixed(4)}${r.valAcc !== undefined ? ` val ${r.valAcc.toFixed(4)}` : ''} test ${r.testAcc.toFixed(4)}` : '';
    return `epoch ${p.epoch}/${this.epochs} ${bar} loss ${loss.toFixed(4)}${acc}`;
  }
}

// ---- the report

/** What `simdnn train --json` prints. */
export interface TrainReport {
  net: NetKind;
  netOptions: object;
  optimizer: string;
  optimizerParams: Record<string, number>;
  data: string;
  trainRows: number;
  testRows: number;
  /** Rows held out for validation (0 without --val-split). */
  valRows: number;
  batch: number;
  /** Batches whose mean gradient each update took (--accumulate; 1: every batch updated). */
  accumulateSteps: number;
  /** Updates the run made: steps / accumulateSteps, rounded down. */
  updates: number;
  seed: number;
  trainAcc: number;
  testAcc: number;
  trainLoss: number;
  testLoss: number;
  valAcc?: number;
  valLoss?: number;
  epochs: number;
  steps: number;
  stopReason: TrainResult['stopReason'];
  /** The epoch whose parameters early stopping kept. */
  bestEpoch?: number;
  /**
   * With --ema (and no --early-stop, whose best epoch's raw parameters win), or --swa once an epoch was averaged (and
   * no best epoch won): the test figures of the parameters the run ended with and saved, the average; the figures
   * above are the last epoch's raw parameters', as Keras's history.
   */
  averaged?: { testAcc: number; testLoss: number };
  /** Wall time of this process's training, evaluations included. */
  seconds: number;
  /** Optimizer steps per second of stepping (evaluations excluded). */
  stepsPerSec: number;
  /** Time to load the data. */
  loadSeconds: number;
  /** Whether the steps ran split across the thread pool or on the calling thread, and the step times that chose it. */
  threadUse: ThreadUse;
  /** Steps and evaluations a worker thread failed, each run again on the calling thread (empty on a healthy machine). */
  workerFaults: WorkerFaultRecord[];
  history: EpochRecord[];
  /** Where the model went (null without --save; another file when --save could not be written). */
  saved: string | null;
  /** The checkpoint this run continued, if any. */
  resumedFrom: string | null;
  /** True when --resume found the run already finished: nothing trained, the figures and model are the checkpoint's (seconds is ~0; stepsPerSec is the run's, from its history). */
  alreadyFinished: boolean;
}

function report(s: TrainSettings, spec: NetSpec, data: LoadedDataSet, trainer: Trainer, result: TrainResult, loadSeconds: number, seconds: number, alreadyFinished: boolean): TrainReport {
  // the figures of the parameters the run ends with: the best epoch's when early stopping kept them
  const kept = result.epochs.find((r) => r.epoch === result.bestEpoch) ?? result.epochs[result.epochs.length - 1];
  const stepSeconds = result.epochs.reduce((t, r) => t + r.seconds, 0);
  return {
    net: s.net,
    netOptions: spec.options,
    optimizer: s.optimizer,
    optimizerParams: s.optimizerParams,
    data: s.data,
    trainRows: trainer.trainingRows,
    testRows: data.xTest.shape[0],
    valRows: data.xTrain.shape[0] - trainer.trainingRows,
    batch: trainer.batchSize,
    accumulateSteps: s.accumulate ?? 1,
    updates: Math.floor(result.steps / (s.accumulate ?? 1)),
    seed: s.seed,
    trainAcc: kept.trainAcc,
    testAcc: kept.testAcc,
    trainLoss: kept.trainLoss,
    testLoss: kept.testLoss,
    ...(kept.valAcc !== undefined ? { valAcc: kept.valAcc, valLoss: kept.valLoss } : {}),
    epochs: result.epochs.length,
    steps: result.steps,
    stopReason: result.stopReason,
    ...(result.bestEpoch !== undefined ? { bestEpoch: result.bestEpoch } : {}),
    ...((s.ema !== undefined && s.earlyStop === undefined) || (result.swaModels ?? 0) > 0 ? { averaged: averagedFigures(trainer.network, data) } : {}),
    seconds,
    stepsPerSec: result.steps / stepSeconds,
    loadSeconds,
    threadUse: trainer.threadUse,
    workerFaults: [...trainer.workerFaults],
    history: result.epochs,
    saved: null,
    resumedFrom: s.resume ?? null,
    alreadyFinished,
  };
}

/** The test figures of the net as the run left it (with --ema or --swa, the averaged parameters it saves). */
function averagedFigures(net: Sequential, data: LoadedDataSet): { testAcc: number; testLoss: number } {
  const { accuracy, loss } = net.evaluate(data.xTest, data.tTest);
  return { testAcc: accuracy, testLoss: loss };
}

function fmtSummary(r: TrainReport): string {
  const kept = r.bestEpoch !== undefined && r.bestEpoch !== r.epochs ? ` (the figures of epoch ${r.bestEpoch}, the best, whose parameters were kept)` : '';
  // a run --resume found finished trained nothing here: no time or rate of this process to show
  const timing = r.alreadyFinished ? `already finished in ${r.resumedFrom}, nothing trained` : `${r.seconds.toFixed(2)} s  ${r.stepsPerSec.toFixed(1)} steps/s${fmtThreadUse(r.threadUse)}`;
  const averaged = r.averaged ? `  averaged test acc ${r.averaged.testAcc.toFixed(4)}` : '';
  const updates = r.accumulateSteps > 1 ? `  ${r.updates} updates of ${r.accumulateSteps} batches` : '';
  return `train acc ${r.trainAcc.toFixed(4)}  ${r.valAcc !== undefined ? `val acc ${r.valAcc.toFixed(4)}  ` : ''}test acc ${r.testAcc.toFixed(4)}${averaged}  epochs ${r.epochs}${kept}${updates}  ${timing}\n`;
}

/** Which way the steps ran, when the Trainer timed both (nothing without a pool). */
function fmtThreadUse(u: ThreadUse): string {
  if (u.poolStepMs === null || u.serialStepMs === null) return '';
  const [way, ms, other, otherMs] = u.pool ? ['split across threads', u.poolStepMs, 'on one', u.serialStepMs] : ['on one thread', u.serialStepMs, 'split', u.poolStepMs];
  return `  steps ${way} (${ms.toFixed(2)} ms against ${otherMs.toFixed(2)} ${other})`;
}

// ---- checkpoints

const SETTINGS_KEY = 'train.settings';
const TRAINER_KEY = 'train.state';

/** What every model file of the run records: its settings, and what the data adds (a CSV's columns, classes and scaling). */
function settingsMetadata(s: TrainSettings): Record<string, string> {
  return { ...s.dataMetadata, [SETTINGS_KEY]: JSON.stringify(runSettings(s)) };
}

/** The run's settings as a checkpoint stores them. */
function runSettings(s: TrainSettings): Partial<TrainSettings> {
  return Object.fromEntries(RUN_KEYS.filter((k) => s[k] !== undefined).map((k) => [k, s[k]]));
}

/** The settings of the run a checkpoint holds, with the flags that may change on resume from `s`. */
function resumeSettings(s: TrainSettings): TrainSettings {
  const file = s.resume!;
  const info = fromModelFile('--resume', file, () => readModelInfo(file));
  if (info.metadata[SETTINGS_KEY] === undefined || info.metadata[TRAINER_KEY] === undefined) {
    throw new UsageError(`--resume: '${file}' is not a checkpoint of simdnn train (it has no trainer state; write one with --checkpoint-every)`);
  }
  storedTrainerState(file, info.metadata[TRAINER_KEY]);
  return { ...s, ...storedSettings(file, info.metadata[SETTINGS_KEY]) };
}

/** A checkpoint's trainer position, without the tensors the file holds (the Trainer checks its fields on resume). */
function storedTrainerState(file: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--resume: '${file}': ${TRAINER_KEY} is not valid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`--resume: '${file}': ${TRAINER_KEY} must be an object (the Trainer's position), got ${JSON.stringify(value)}`);
  return value as Record<string, unknown>;
}

/** The JSON type of each setting a checkpoint stores ('count': a positive integer). */
const STORED_KINDS: Record<(typeof RUN_KEYS)[number], string> = {
  net: 'string', hidden: 'array', activation: 'string', init: 'string|number', optimizer: 'string', optimizerParams: 'object', weightDecay: 'number',
  l1: 'number', batchnorm: 'boolean', dropout: 'number', labelSmoothing: 'number', classWeights: 'array', balanced: 'boolean', epochs: 'count', iterations: 'count', batch: 'count', seed: 'number', data: 'string',
  trainRows: 'count', testRows: 'count', label: 'string', testSplit: 'number', lrSchedule: 'object', augment: 'object', valSplit: 'number', earlyStop: 'count',
  earlyStopMonitor: 'string', clipGradNorm: 'number', clipGradValue: 'number', ema: 'number', mixup: 'number', swa: 'object', accumulate: 'count',
};

/**
 * The run's settings a checkpoint stores, checked as far as their form: a
 * damaged or edited file is refused naming the key, before data loads (the
 * values' ranges are checked where the flags' are).
 */
function storedSettings(file: string, text: string): Partial<TrainSettings> {
  const where = `--resume: '${file}': ${SETTINGS_KEY}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${where} is not valid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${where} must be an object of the run's settings, got ${JSON.stringify(value)}`);
  for (const [key, v] of Object.entries(value)) {
    if (!Object.hasOwn(STORED_KINDS, key)) throw new UsageError(`${where} has an unknown setting '${key}'`);
    const want = STORED_KINDS[key as keyof typeof STORED_KINDS];
    const kind = Array.isArray(v) ? 'array' : v === null ? 'null' : want === 'count' && Number.isSafeInteger(v) && (v as number) >= 1 ? 'count' : typeof v;
    const article = /^[ao]/.test(want) ? 'an' : 'a';
    if (!want.split('|').includes(kind)) throw new UsageError(`${where}.${key} must be ${want === 'count' ? 'a positive integer' : `${article} ${want.replace('|', ' or ')}`}, got ${JSON.stringify(v)}`);
  }
  const monitor = (value as Partial<TrainSettings>).earlyStopMonitor;
  if (monitor !== undefined && !MONITOR_FLAGS.includes(monitor)) throw new UsageError(`${where}.earlyStopMonitor must be one of ${MONITOR_FLAGS.join(', ')}, got ${JSON.stringify(monitor)}`);
  return value as Partial<TrainSettings>;
}

// ---- train

/** Exit codes of a run stopped by a signal (128 + its number, as shells report it). */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

async function train({ values, io, signal }: CommandContext): Promise<number> {
  let s = trainSettings(values);
  if (s.resume !== undefined) {
    await checkModelFile('--resume', s.resume);
    s = resumeSettings(s);
  }
  // everything a bad command line can get wrong is found before data loads or training starts
  if (s.lrSchedule) makeSchedule(s.lrSchedule);
  makeOptimizer(s).dispose();
  const dataKind = await checkDataArg(s.data);
  checkCsvFlags(dataKind, s.net, s.label, s.testSplit);
  if (s.save !== undefined) await checkWritable('save', s.save);
  if (s.checkpoint !== undefined) {
    // one directory, checked now: an epoch's own directory would not exist until that epoch
    if (path.dirname(s.checkpoint).includes('{epoch}')) throw new UsageError(`--checkpoint: '{epoch}' may only be in the file's name, not in its directory ('${s.checkpoint}')`);
    await checkWritable('checkpoint', s.checkpoint.replaceAll('{epoch}', '0'));
  }

  // 'auto' is the library's default: a lazy pool, so short runs start no workers
  const rt = await createRuntime({ seed: s.seed, ...(s.threads === 'auto' ? {} : { threads: s.threads }), ...(s.relaxed ? { relaxed: true } : {}) });
  if (s.relaxed && !rt.features.relaxed && !s.quiet) io.stderr.write(`simdnn: note: ${rt.features.notes.join('; ')}\n`);
  const owned: Array<{ dispose(): unknown }> = [];
  try {
    const loadStart = now();
    const csv = dataKind === 'csv' ? { label: s.label!, testSplit: s.testSplit ?? 0.2, seed: s.seed } : undefined;
    const data = await loadData(rt, s.data, { flatten: takesRows(s.net), trainRows: s.trainRows, testRows: s.testRows, csv });
    owned.push({ dispose: () => disposeData(data) });
    if (data.csv) s.dataMetadata = csvModelMetadata(data.csv);
    checkClassWeightCount(s, data.classes);
    const loadSeconds = (now() - loadStart) / 1000;
    let net: NamedNet;
    let optimizer: ElementwiseOptimizer;
    let state: TrainerState | null = null;
    if (s.resume !== undefined) {
      const loaded = fromModelFile('--resume', s.resume, () => readModelFile(rt, s.resume!));
      net = loaded.net;
      owned.push(net);
      if (loaded.metadata[CSV_KEY] !== s.dataMetadata?.[CSV_KEY]) {
        throw new Error(`--resume: '${s.resume}' was trained on ${loaded.metadata[CSV_KEY] === undefined ? 'no CSV table' : 'another table'}: '${s.data}' gives other columns, classes or scaling`);
      }
      if (!loaded.optimizer) throw new Error(`--resume: '${s.resume}' holds no optimizer state`);
      optimizer = loaded.optimizer;
      // the parameters as Float32Arrays where the state's JSON form has number[]: Trainer.resume takes either
      const stored = storedTrainerState(s.resume, loaded.metadata[TRAINER_KEY]);
      putBackTrainLoss(stored, loaded.trainLoss, `--resume: '${s.resume}'`); // the steps' losses, kept as a tensor
      // early stopping's best epoch: tensors, or in the JSON of a checkpoint written before they were kept so
      state = { ...stored, params: net.exportParams(), optimizer: optimizer.state(), best: loaded.best ?? stored.best ?? null, ...checkpointAverages(stored, loaded), accum: loaded.accum ?? null } as unknown as TrainerState;
    } else {
      net = buildNet(rt, netSpec(s, data.xTrain.shape.slice(1), data.classes));
      owned.push(net);
      optimizer = makeOptimizer(s);
    }
    owned.push(optimizer);
    const augment = s.augment ? new RandomAffine(rt, { degrees: s.augment.degrees, scale: [1 / (1 + s.augment.scale), 1 + s.augment.scale], shift: s.augment.shift }) : undefined;
    if (augment) owned.push(augment);
    const epochsLabel = s.iterations !== undefined ? Math.ceil(s.iterations / Math.max(1, Math.floor((data.xTrain.shape[0] * (1 - (s.valSplit ?? 0))) / s.batch))) : s.epochs;
    const progress = new Progress(io.stderr, !s.quiet, epochsLabel);
    // the last completed epoch's parameters and layer state, saved when a signal or an error stops training
    const lastEpoch = s.save !== undefined ? new NetCopy(net) : null;
    if (lastEpoch) owned.push(lastEpoch);
    let epochsDone = 0;
    let checkpointing = false; // a failure then comes after epochsDone's end, from its checkpoint
    let trainer: Trainer;
    const checkpoints: string[] = [];
    const options: TrainerOptions = {
      ...(s.iterations !== undefined ? { maxIterations: s.iterations } : { epochs: s.epochs }),
      miniBatchSize: s.batch,
      optimizer,
      ...(s.lrSchedule ? { lrSchedule: makeSchedule(s.lrSchedule) } : {}),
      ...(augment ? { augment } : {}),
      ...(s.valSplit !== undefined ? { validationSplit: s.valSplit } : {}),
      ...(s.balanced ? { sampleWeights: 'balanced' as const } : {}),
      ...(s.clipGradNorm !== undefined ? { clipGradNorm: s.clipGradNorm } : {}),
      ...(s.clipGradValue !== undefined ? { clipGradValue: s.clipGradValue } : {}),
      ...(s.accumulate !== undefined ? { accumulateSteps: s.accumulate } : {}),
      ...(s.ema !== undefined ? { ema: { decay: s.ema } } : {}),
      ...(s.mixup !== undefined ? { mixup: { alpha: s.mixup } } : {}),
      ...(s.swa !== undefined ? { swa: s.swa } : {}),
      ...(s.earlyStop !== undefined ? { earlyStopping: { patience: s.earlyStop, monitor: MONITORS[s.earlyStopMonitor ?? 'val-loss'], restoreBest: true } } : {}),
      onProgress: (p) => progress.update(p),
      callbacks: {
        onEpochEnd: async ({ epoch }) => {
          epochsDone = epoch;
          lastEpoch?.save();
          if (s.checkpoint !== undefined && s.checkpointEvery !== undefined && epoch % s.checkpointEvery === 0) {
            const file = s.checkpoint.replaceAll('{epoch}', String(epoch));
            checkpointing = true;
            await saveCheckpoint(file, trainer, net, s);
            checkpointing = false;
            checkpoints.push(file);
          }
        },
      },
    };
    try {
      trainer = new Trainer(net, data.xTrain, data.tTrain, data.xTest, data.tTest, options);
    } catch (e) {
      // whether --val-split leaves rows on both sides is known only now, from the rows loaded
      throw new UsageError(`${/^Dataset\.split:/.test((e as Error).message) ? '--val-split: ' : ''}${(e as Error).message}`);
    }
    owned.push(trainer);
    if (state) trainer.resume(state);
    // a checkpoint of the run's last epoch (or of the one early stopping ended it at): fit() trains nothing and
    // returns the run's record (the model is the checkpoint's, or its best epoch's when early stopping kept it)
    const alreadyFinished = state !== null && trainer.atRunEnd;
    if (!s.quiet) {
      const params = Object.entries(s.optimizerParams).map(([k, v]) => ` ${k} ${v}`).join('');
      const length = s.iterations !== undefined ? `${s.iterations} steps` : `${s.epochs} epoch${s.epochs === 1 ? '' : 's'} x ${trainer.iterPerEpoch} steps`;
      const accumulated = s.accumulate !== undefined ? ` (an update every ${s.accumulate} batches)` : '';
      io.stderr.write(`simdnn: ${describeNet(net.spec)}, ${s.optimizer}${params}, batch ${trainer.batchSize}${s.balanced ? ' (class-balanced)' : ''}${accumulated}, ${length}, ` +
        `${s.data} (${trainer.trainingRows} train${s.valSplit !== undefined ? ` / ${data.xTrain.shape[0] - trainer.trainingRows} validation` : ''} / ${data.xTest.shape[0]} test)` +
        `${s.resume !== undefined ? `, resumed from ${s.resume}` : ''}\n`);
    }
    const start = now();
    let result: TrainResult;
    try {
      result = await trainer.fit({ signal });
    } catch (e) {
      progress.finish();
      if (!signal.aborted) {
        const where = checkpointing ? `after epoch ${epochsDone} (writing its checkpoint failed)` : `in epoch ${epochsDone + 1}`;
        return await failed(e as Error, s, net, lastEpoch, epochsDone, where, io.stderr);
      }
      return await interrupted(String(signal.reason), s, net, lastEpoch, epochsDone, io.stderr);
    }
    progress.finish();
    if (alreadyFinished) {
      const where = state!.iter >= trainer.maxIter ? `epoch ${state!.epoch}, step ${state!.iter} of ${trainer.maxIter}` : `early stopping ended it at epoch ${state!.epoch}`;
      io.stderr.write(`simdnn: note: the run in '${s.resume}' had already finished (${where}); nothing trained, the result is the checkpoint's model\n`);
    }
    for (const f of trainer.workerFaults) {
      io.stderr.write(`simdnn: note: ${f.during === 'step' ? `step ${f.step}` : `the evaluation after step ${f.step}`}: ${f.message}; ran again on the calling thread\n`);
    }
    const r = report(s, net.spec, data, trainer, result, loadSeconds, (now() - start) / 1000, alreadyFinished);
    if (s.save !== undefined) {
      const { saved, failure } = await saveSomewhere(s.save, net, { metadata: modelMetadata(s, r) });
      r.saved = saved;
      io.stdout.write(s.json ? `${JSON.stringify(r)}\n` : fmtSummary(r));
      if (failure) {
        io.stderr.write(`simdnn: error: ${failure}\nsimdnn: ${saved === null ? 'the model was not saved' : `saved the model to ${saved} instead`}\n`);
        return 1;
      }
      if (!s.quiet) io.stderr.write(`simdnn: saved the model to ${saved}\n`);
      return 0;
    }
    io.stdout.write(s.json ? `${JSON.stringify(r)}\n` : fmtSummary(r));
    return 0;
  } finally {
    for (const d of owned.reverse()) d.dispose();
    await rt.dispose();
  }
}

/**
 * saveWithFallback, where every place failing is a failure with nowhere saved rather than a throw: the run's
 * report, the stop's message and its exit code still go out.
 */
async function saveSomewhere(file: string, net: NamedNet, options: SaveModelOptions): Promise<{ saved: string | null; failure?: string }> {
  try {
    return await saveWithFallback(file, net, options);
  } catch (e) {
    return { saved: null, failure: (e as Error).message };
  }
}

/** Metadata of a saved model: the run's settings and its final figures. */
function modelMetadata(s: TrainSettings, r: TrainReport): Record<string, string> {
  return {
    ...settingsMetadata(s),
    'train.result': JSON.stringify({
      epochs: r.epochs, steps: r.steps, trainAcc: r.trainAcc, testAcc: r.testAcc, ...(r.valAcc !== undefined ? { valAcc: r.valAcc } : {}), ...(r.bestEpoch !== undefined ? { bestEpoch: r.bestEpoch } : {}),
      ...(r.averaged ? { averagedTestAcc: r.averaged.testAcc } : {}),
    }),
  };
}

async function saveCheckpoint(file: string, trainer: Trainer, net: NamedNet, s: TrainSettings): Promise<void> {
  // the Trainer's checkpoint (the optimizer's state, early stopping's best epoch and the ema's or swa's average as tensors, the position) with the run's settings
  const { optimizer, best, ema, swa, accum, trainLoss, position } = trainer.checkpointParts();
  const { saved, failure } = await saveWithFallback(file, net, {
    optimizer, best, ema, swa, accum, trainLoss,
    metadata: { ...settingsMetadata(s), [TRAINER_KEY]: position },
  });
  if (failure) throw new Error(`${failure} (the checkpoint went to ${saved})`);
}

/**
 * Training failed (a step diverged past what the Trainer puts back, memory ran out, a fault the
 * calling thread hit too): with --save and an epoch done, saves the last completed epoch and
 * exits 1 after saying so; with --save and no epoch done, says that nothing was saved (exit 1);
 * without --save the error stands.
 */
async function failed(error: Error, s: TrainSettings, net: NamedNet, lastEpoch: NetCopy | null, epochsDone: number, where: string, err: Output): Promise<number> {
  if (s.save === undefined || !lastEpoch) throw error;
  err.write(`simdnn: error: ${error.message}\n`);
  if (epochsDone === 0) {
    const kept = s.resume !== undefined ? ` (the run is where --resume '${s.resume}' left it)` : '';
    err.write(`simdnn: training stopped before the first epoch of this run ended; no model saved, '${s.save}' not written${kept}\n`);
    return 1;
  }
  lastEpoch.restore();
  const { saved, failure } = await saveSomewhere(s.save, net, {
    metadata: { ...settingsMetadata(s), 'train.result': JSON.stringify({ epochs: epochsDone, failed: error.message }) },
  });
  if (failure) err.write(`simdnn: error: ${failure}\n`);
  err.write(`simdnn: training stopped ${where}; ${savedEpoch(saved, epochsDone)}\n`);
  return 1;
}

/** What became of the last completed epoch's model: where it went, or that it went nowhere. */
function savedEpoch(saved: string | null, epoch: number): string {
  return saved === null ? `the model of epoch ${epoch} could not be saved anywhere` : `saved the model of epoch ${epoch} to ${saved}`;
}

/** SIGINT/SIGTERM: saves the last completed epoch when --save was given; the exit code says which signal. */
async function interrupted(reason: string, s: TrainSettings, net: NamedNet, lastEpoch: NetCopy | null, epochsDone: number, err: Output): Promise<number> {
  const code = SIGNAL_EXIT[reason] ?? 130;
  if (s.save === undefined || !lastEpoch) {
    err.write(`simdnn: interrupted (${reason}); nothing saved (no --save)\n`);
    return code;
  }
  if (epochsDone === 0) {
    const kept = s.resume !== undefined ? ` (the run is where --resume '${s.resume}' left it)` : '';
    err.write(`simdnn: interrupted (${reason}) before the first epoch of this run ended; no model saved${kept}\n`);
    return code;
  }
  lastEpoch.restore();
  const { saved, failure } = await saveSomewhere(s.save, net, {
    metadata: { ...settingsMetadata(s), 'train.result': JSON.stringify({ epochs: epochsDone, interrupted: reason }) },
  });
  if (failure) err.write(`simdnn: error: ${failure}\n`);
  err.write(`simdnn: interrupted (${reason}); ${savedEpoch(saved, epochsDone)}\n`);
  return code;
}

/** `simdnn train`. */
export const trainCommand: Command = {
  name: 'train',
  summary: 'train a network on the bundled MNIST digits, IDX files or a CSV table',
  description: 'Trains a network with mini-batch gradient descent, printing progress on\nstderr and a summary (train/test accuracy, epochs, seconds, steps/s).',
  options: FLAGS,
  examples: [
    'simdnn train',
    'simdnn train --hidden 200,100 --optimizer adam --epochs 10 --save model.safetensors',
    'simdnn train --net deep-conv --optimizer adam --lr 0.001 --batch 100 --epochs 20 --lr-schedule exponential:gamma=0.9 --augment shift=2,degrees=10,scale=0.1',
    'simdnn train --val-split 0.1 --early-stop 3 --checkpoint-every 1 --save model.safetensors',
    'simdnn train --resume model.checkpoint.safetensors --save model.safetensors',
    'simdnn train --data /usr/share/datasets/fashion-mnist --json',
    'simdnn train --data iris.csv --label species --test-split 0.2 --hidden 16 --epochs 50 --save iris.safetensors',
  ],
  run: train,
};
