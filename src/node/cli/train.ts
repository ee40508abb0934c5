// `simdnn train`: trains a net with the Trainer on the bundled digits (or an
// IDX directory), shows progress on stderr and ends with a summary (or one JSON
// object with --json). Nets come from the NETS table and options from the FLAGS
// table, which also writes the help text.
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DataSet } from '../../data/dataset.js';
import type { ActivationName } from '../../layers/activations.js';
import type { WeightInit } from '../../nets/init.js';
import { MultiLayerNet, type MultiLayerNetOptions } from '../../nets/multi-layer-net.js';
import { MultiLayerNetExtend, type MultiLayerNetExtendOptions } from '../../nets/multi-layer-net-extend.js';
import { SimpleConvNet, type SimpleConvNetOptions } from '../../nets/simple-conv-net.js';
import { DeepConvNet, type DeepConvNetOptions } from '../../nets/deep-conv-net.js';
import type { Sequential } from '../../nets/sequential.js';
import type { Optimizer } from '../../optim/optimizer.js';
import { createOptimizer, optimizerDefaults, optimizerNames } from '../../optim/registry.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { IntTensor } from '../../runtime/tensor.js';
import { Trainer, type EpochRecord, type TrainerProgress, type TrainResult } from '../../train/trainer.js';
import { loadIdx, loadMnist } from '../data.js';
import { createRuntime } from '../runtime.js';
import { intValue, numberValue, oneOf, parseOptions, UsageError, type Command, type CommandContext, type OptionSpec, type Output } from './command.js';

// ---- settings

const ACTIVATIONS: Record<ActivationName, true> = { relu: true, sigmoid: true, tanh: true };
const INITS: Record<Exclude<WeightInit, number>, string> = {
  he: 'sqrt(2/n)', relu: 'sqrt(2/n)', xavier: 'sqrt(1/n)', sigmoid: 'sqrt(1/n)',
};
/** Learning rates used when --lr is absent; other optimizers keep their own default. */
const DEFAULT_LR: Record<string, number> = { sgd: 0.1 };

export interface TrainSettings {
  net: string;
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
  /** Threads for the kernels (1: the calling thread only; 'auto': one per core, the runtime's lazy default). */
  threads: number | 'auto';
  epochs: number;
  batch: number;
  seed: number;
  data: string;
  trainRows?: number;
  testRows?: number;
  save?: string;
  json: boolean;
  quiet: boolean;
}

/** What a net is built from besides the command line: the data's sizes. */
interface DataShape {
  /** One sample's shape: [784] for rows, [1, 28, 28] for images. */
  inputShape: number[];
  classes: number;
}

interface NetKind<O extends object> {
  summary: string;
  /** The input the net takes: rows (flattened images) or [N, C, H, W]. */
  flatten: boolean;
  /** Constructor options, saved with the model so it can be rebuilt. */
  options(s: TrainSettings, data: DataShape): O;
  create(rt: Runtime, options: O): Sequential;
  /** A short description of the built net for the start line. */
  describe(options: O): string;
}

const mlp: NetKind<MultiLayerNetOptions> = {
  summary: "the book's MultiLayerNet: (Affine, activation) per hidden layer, Affine, softmax",
  flatten: true,
  options: (s, d) => ({
    inputSize: d.inputShape.reduce((a, b) => a * b, 1),
    hiddenSizeList: s.hidden,
    outputSize: d.classes,
    activation: s.activation,
    weightInitStd: s.init,
    ...(s.weightDecay ? { weightDecayLambda: s.weightDecay } : {}),
  }),
  create: (rt, o) => new MultiLayerNet(rt, o),
  describe: (o) => `mlp ${[o.inputSize, ...o.hiddenSizeList, o.outputSize].join('-')} ${o.activation} init ${o.weightInitStd}${o.weightDecayLambda ? ` L2 ${o.weightDecayLambda}` : ''}`,
};

const mlpExtend: NetKind<MultiLayerNetExtendOptions> = {
  summary: "the book's MultiLayerNetExtend: (Affine, [BatchNorm], activation, [Dropout]) per hidden layer, Affine, softmax; with --batchnorm, --dropout, --weight-decay, --l1",
  flatten: true,
  options: (s, d) => ({
    ...mlp.options(s, d),
    ...(s.l1 ? { l1Lambda: s.l1 } : {}),
    useBatchnorm: s.batchnorm,
    useDropout: s.dropout !== undefined,
    ...(s.dropout !== undefined ? { dropoutRatio: s.dropout } : {}),
  }),
  create: (rt, o) => new MultiLayerNetExtend(rt, o),
  describe: (o) => `mlp-extend ${[o.inputSize, ...o.hiddenSizeList, o.outputSize].join('-')} ${o.activation} init ${o.weightInitStd}` +
    `${o.useBatchnorm ? ' batchnorm' : ''}${o.useDropout ? ` dropout ${o.dropoutRatio}` : ''}` +
    `${o.weightDecayLambda ? ` L2 ${o.weightDecayLambda}` : ''}${o.l1Lambda ? ` L1 ${o.l1Lambda}` : ''}`,
};

const simpleConv: NetKind<SimpleConvNetOptions> = {
  summary: "the book's SimpleConvNet: Conv 30 5x5, ReLU, Pool 2x2, Affine (the first --hidden size), ReLU, Affine, softmax",
  flatten: false,
  options: (s, d) => ({ inputDim: d.inputShape, hiddenSize: s.hidden[0] ?? 100, outputSize: d.classes, weightInitStd: s.init }),
  create: (rt, o) => new SimpleConvNet(rt, o),
  describe: (o) => `simple-conv ${o.inputDim!.join('x')} conv 30x5x5 pool 2 affine ${o.hiddenSize}-${o.outputSize} init ${o.weightInitStd}`,
};

const deepConv: NetKind<DeepConvNetOptions> = {
  summary: "the book's DeepConvNet: 6 conv 3x3 (16,16,32,32,64,64) + ReLU, 3 pools, Affine 50, ReLU, dropout, Affine, dropout; He init (the book trains it with --optimizer adam --lr 0.001)",
  flatten: false,
  options: (_s, d) => ({ inputDim: d.inputShape, outputSize: d.classes }),
  create: (rt, o) => new DeepConvNet(rt, o),
  describe: (o) => `deep-conv ${o.inputDim!.join('x')} conv 16-16-32-32-64-64 affine 50-${o.outputSize}`,
};

/** The nets `--net` can name. A new one needs an entry here (and its flags below). */
const NETS: Record<string, NetKind<object>> = { mlp, 'mlp-extend': mlpExtend, 'simple-conv': simpleConv, 'deep-conv': deepConv };
/** Regularisation flags and the nets that take them. */
const TAKES: Record<string, readonly string[]> = {
  'weight-decay': ['mlp', 'mlp-extend'],
  l1: ['mlp-extend'],
  batchnorm: ['mlp-extend'],
  dropout: ['mlp-extend'],
};

interface Flag extends OptionSpec {
  /** The createOptimizer parameter this flag sets. */
  optimizerParam?: string;
}

/** A flag for an optimizer hyper-parameter; its help lists the optimizers that take it, with their defaults. */
function hyper(name: string, param: string, help: string): Flag {
  const users = Object.entries(optimizerDefaults)
    .filter(([, d]) => param in d)
    .map(([opt, d]) => `${opt} ${param === 'lr' ? DEFAULT_LR[opt] ?? d.lr : d[param]}`);
  return { name, value: 'x', optimizerParam: param, help: `${help} (default: ${users.join(', ')})` };
}

const FLAGS: readonly Flag[] = [
  { name: 'net', value: 'name', default: 'mlp', help: `network: ${Object.entries(NETS).map(([k, v]) => `${k} (${v.summary})`).join('; ')}` },
  { name: 'hidden', value: 'n,n,...', default: '100,100', help: 'hidden layer sizes' },
  { name: 'activation', value: 'name', default: 'relu', help: Object.keys(ACTIVATIONS).join(', ') },
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
  { name: 'epochs', value: 'n', default: '5', help: 'passes over the training set' },
  // 16, not the book's 100: on 8,000 digits, 5 epochs of 100 (400 steps) reach only ~0.92 test
  // accuracy with SGD lr 0.1; 5 epochs of 16 (2,500 steps) reach the 0.95 the defaults promise
  { name: 'batch', value: 'n', default: '16', help: 'mini-batch size' },
  { name: 'seed', value: 'n', default: '1', help: 'random seed of initialisation and shuffling (the data split is fixed)' },
  { name: 'data', value: 'mnist|dir', default: 'mnist', help: "'mnist': the bundled 10,000 digits split 8,000 train / 2,000 test; or a directory of MNIST-format IDX files (train-*, t10k-*, gzipped or not)" },
  { name: 'train-rows', value: 'n', help: 'train on the first n training rows only (default: all)' },
  { name: 'test-rows', value: 'n', help: 'test on the first n test rows only (default: all)' },
  { name: 'save', value: 'file', help: 'write the trained model as JSON: net name, constructor options, params' },
  { name: 'threads', value: 'n|auto', default: 'auto', help: "threads for the kernels ('auto': one per core, started once there is work to split); results are the same bits for any count" },
  { name: 'json', help: 'print one JSON object with the results on stdout' },
  { name: 'quiet', help: 'no progress or start line on stderr' },
];

/** Parses `simdnn train` arguments; throws a UsageError on anything wrong. */
export function parseTrainArgs(args: readonly string[]): TrainSettings {
  return trainSettings(parseOptions(trainCommand, args).values);
}

/** The settings from parsed option values; throws a UsageError on anything wrong. */
function trainSettings(values: CommandContext['values']): TrainSettings {
  const get = (name: string): string => {
    const v = values[name];
    return typeof v === 'string' ? v : FLAGS.find((f) => f.name === name)!.default!;
  };
  const optional = <T>(name: string, parse: (text: string) => T): T | undefined => {
    const v = values[name];
    return typeof v === 'string' ? parse(v) : undefined;
  };
  const optimizer = oneOf('optimizer', get('optimizer'), optimizerNames);
  const optimizerParams: Record<string, number> = {};
  for (const f of FLAGS) {
    if (!f.optimizerParam) continue;
    const v = optional(f.name, (text) => numberValue(f.name, text));
    if (v !== undefined) optimizerParams[f.optimizerParam] = v;
  }
  if (optimizerParams.lr === undefined && DEFAULT_LR[optimizer] !== undefined) optimizerParams.lr = DEFAULT_LR[optimizer];
  const net = oneOf('net', get('net'), Object.keys(NETS));
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
  const threadsText = get('threads');
  const threads = threadsText === 'auto' ? 'auto' as const : intValue('threads', threadsText, 1);
  const initText = get('init');
  const init: WeightInit = /^[\d.+-]/.test(initText) ? numberValue('init', initText) : oneOf('init', initText, Object.keys(INITS) as Array<keyof typeof INITS>);
  if (typeof init === 'number' && init < 0) throw new UsageError(`--init: a std must be non-negative, got ${init}`);
  return {
    net,
    weightDecay: decay !== undefined && optimizer !== 'adamw' ? decay : 0,
    l1,
    batchnorm: values.batchnorm === true,
    dropout,
    threads,
    hidden: get('hidden') === '' ? [] : get('hidden').split(',').map((n) => intValue('hidden', n.trim(), 1)),
    activation: oneOf('activation', get('activation'), Object.keys(ACTIVATIONS) as ActivationName[]),
    init,
    optimizer,
    optimizerParams,
    epochs: intValue('epochs', get('epochs'), 1),
    batch: intValue('batch', get('batch'), 1),
    seed: intValue('seed', get('seed'), 0, 0xffffffff),
    data: get('data'),
    trainRows: optional('train-rows', (t) => intValue('train-rows', t, 1)),
    testRows: optional('test-rows', (t) => intValue('test-rows', t, 1)),
    save: optional('save', (t) => t),
    json: values.json === true,
    quiet: values.quiet === true,
  };
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
    const acc = r ? ` | acc train ${r.trainAcc.toFixed(4)} test ${r.testAcc.toFixed(4)}` : '';
    return `epoch ${p.epoch}/${this.epochs} ${bar} loss ${loss.toFixed(4)}${acc}`;
  }
}

// ---- train

async function loadData(rt: Runtime, s: TrainSettings, flatten: boolean): Promise<DataSet<IntTensor>> {
  const options = { flatten, trainRows: s.trainRows, testRows: s.testRows };
  return s.data === 'mnist' ? loadMnist(rt, options) : loadIdx(rt, s.data, options);
}

async function checkPaths(s: TrainSettings): Promise<void> {
  const isDir = (p: string) => stat(p).then((st) => st.isDirectory(), () => false);
  if (s.data !== 'mnist' && !(await isDir(s.data))) throw new UsageError(`--data: '${s.data}' is neither 'mnist' nor a directory`);
  // fail before training, not after, when the model could not be written
  if (s.save !== undefined && !(await isDir(path.dirname(path.resolve(s.save))))) {
    throw new UsageError(`--save: the directory of '${s.save}' does not exist`);
  }
}

function makeOptimizer(s: TrainSettings): Optimizer {
  try {
    return createOptimizer(s.optimizer, s.optimizerParams);
  } catch (e) {
    throw new UsageError(`--optimizer ${s.optimizer}: ${(e as Error).message}`);
  }
}

function classesOf(...labels: IntTensor[]): number {
  let max = -1;
  for (const t of labels) for (const c of t.data) if (c > max) max = c;
  return max + 1;
}

export interface TrainReport {
  net: string;
  netOptions: object;
  optimizer: string;
  optimizerParams: Record<string, number>;
  data: string;
  trainRows: number;
  testRows: number;
  batch: number;
  seed: number;
  trainAcc: number;
  testAcc: number;
  trainLoss: number;
  testLoss: number;
  epochs: number;
  steps: number;
  /** Wall time of training, evaluations included. */
  seconds: number;
  /** Optimizer steps per second of stepping (evaluations excluded). */
  stepsPerSec: number;
  /** Time to load the data. */
  loadSeconds: number;
  history: EpochRecord[];
  saved: string | null;
}

function report(s: TrainSettings, netOptions: object, data: DataSet, result: TrainResult, loadSeconds: number): TrainReport {
  const last = result.epochs[result.epochs.length - 1];
  const stepSeconds = result.epochs.reduce((t, r) => t + r.seconds, 0);
  return {
    net: s.net,
    netOptions,
    optimizer: s.optimizer,
    optimizerParams: s.optimizerParams,
    data: s.data,
    trainRows: data.xTrain.shape[0],
    testRows: data.xTest.shape[0],
    batch: s.batch,
    seed: s.seed,
    trainAcc: last.trainAcc,
    testAcc: last.testAcc,
    trainLoss: last.trainLoss,
    testLoss: last.testLoss,
    epochs: result.epochs.length,
    steps: result.steps,
    seconds: result.seconds,
    stepsPerSec: result.steps / stepSeconds,
    loadSeconds,
    history: result.epochs,
    saved: s.save ?? null,
  };
}

/** The model file: enough to rebuild the net (NETS[net].create(rt, options)) and load its params. */
export interface SavedModel {
  format: 'simdnn-model';
  version: 1;
  net: string;
  options: object;
  /** How inputs were prepared: one sample's shape, pixels scaled to [0, 1]. */
  input: { shape: number[]; normalize: true };
  params: Record<string, { shape: number[]; data: number[] }>;
  training: Omit<TrainReport, 'history' | 'saved' | 'netOptions' | 'net'>;
}

async function saveModel(file: string, net: Sequential, r: TrainReport, inputShape: number[]): Promise<void> {
  const params: SavedModel['params'] = {};
  for (const [k, p] of Object.entries(net.exportParams())) params[k] = { shape: p.shape, data: Array.from(p.data) };
  const { history: _h, saved: _s, netOptions, net: name, ...training } = r;
  const model: SavedModel = { format: 'simdnn-model', version: 1, net: name, options: netOptions, input: { shape: inputShape, normalize: true }, params, training };
  try {
    await writeFile(file, JSON.stringify(model));
  } catch (e) {
    throw new Error(`--save: cannot write ${file} (${(e as Error).message})`);
  }
}

function fmtSummary(r: TrainReport): string {
  return `train acc ${r.trainAcc.toFixed(4)}  test acc ${r.testAcc.toFixed(4)}  epochs ${r.epochs}  ` +
    `${r.seconds.toFixed(2)} s  ${r.stepsPerSec.toFixed(1)} steps/s\n`;
}

async function train({ values, io }: CommandContext): Promise<number> {
  const s = trainSettings(values);
  const optimizer = makeOptimizer(s);
  await checkPaths(s);
  const kind = NETS[s.net];
  // 'auto' is the library's default: a lazy pool, so short runs start no workers
  const rt = await createRuntime({ seed: s.seed, ...(s.threads === 'auto' ? {} : { threads: s.threads }) });
  const loadStart = now();
  const data = await loadData(rt, s, kind.flatten);
  const loadSeconds = (now() - loadStart) / 1000;
  const disposers: Array<{ dispose(): void }> = [rt, ...Object.values(data)];
  try {
    const inputShape = data.xTrain.shape.slice(1);
    const netOptions = kind.options(s, { inputShape, classes: classesOf(data.tTrain, data.tTest) });
    const net = kind.create(rt, netOptions);
    disposers.push(net);
    const progress = new Progress(io.stderr, !s.quiet, s.epochs);
    const trainer = new Trainer(net, data.xTrain, data.tTrain, data.xTest, data.tTest, {
      epochs: s.epochs,
      miniBatchSize: s.batch,
      optimizer,
      onProgress: (p) => progress.update(p),
    });
    disposers.push(trainer);
    if (!s.quiet) {
      const params = Object.entries(s.optimizerParams).map(([k, v]) => ` ${k} ${v}`).join('');
      io.stderr.write(`simdnn: ${kind.describe(netOptions)}, ${s.optimizer}${params}, batch ${trainer.batchSize}, ` +
        `${s.epochs} epoch${s.epochs === 1 ? '' : 's'} x ${trainer.iterPerEpoch} steps, ${s.data} (${data.xTrain.shape[0]} train / ${data.xTest.shape[0]} test)\n`);
    }
    let result: TrainResult;
    try {
      result = trainer.train();
    } finally {
      progress.finish();
    }
    const r = report(s, netOptions, data, result, loadSeconds);
    if (s.save !== undefined) await saveModel(s.save, net, r, inputShape);
    io.stdout.write(s.json ? `${JSON.stringify(r)}\n` : fmtSummary(r));
    if (s.save !== undefined && !s.quiet) io.stderr.write(`simdnn: saved the model to ${s.save}\n`);
    return 0;
  } finally {
    for (const d of disposers.reverse()) d.dispose();
  }
}

/** `simdnn train`. */
export const trainCommand: Command = {
  name: 'train',
  summary: 'train a network on the bundled MNIST digits or IDX files',
  description: 'Trains a network with mini-batch gradient descent, printing progress on\nstderr and a summary (train/test accuracy, epochs, seconds, steps/s).',
  options: FLAGS,
  examples: [
    'simdnn train',
    'simdnn train --hidden 200,100 --optimizer adam --epochs 10 --save model.json',
    'simdnn train --data /usr/share/datasets/fashion-mnist --json',
  ],
  run: train,
};
