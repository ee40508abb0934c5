// The `simdnn` command: help, option errors (exit 2), short training runs
// through main(argv, io), the saved model, and one spawn of the built bin.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTrainArgs, type PredictReport, type TrainReport } from '../src/node/cli/index.js';
import { runCli } from './helpers/cli.js';
import { readModelFile, writeModelFile } from '../src/node/model-file.js';
import { DeepConvNet, MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, formatSummary, type NamedNet } from '../src/index.js';
import { createRuntime } from '../src/node/runtime.js';
import { loadMnist } from '../src/node/data.js';
import { encodeIdx } from '../src/data/idx.js';
import { rng } from './helpers/runtime.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

const run = (argv: string[], tty = false) => runCli(argv, { tty });

/** A short run on the bundled digits: 1 epoch, 500 train / 200 test rows. */
const SHORT = ['--epochs', '1', '--train-rows', '500', '--test-rows', '200'];

describe('help', () => {
  const flags = ['net', 'hidden', 'activation', 'init', 'optimizer', 'lr', 'momentum', 'decay-rate', 'beta1', 'beta2', 'rho', 'eps',
    'weight-decay', 'l1', 'batchnorm', 'dropout', 'epochs', 'iterations', 'batch', 'seed', 'data', 'train-rows', 'test-rows', 'lr-schedule', 'augment',
    'val-split', 'early-stop', 'early-stop-monitor', 'clip-grad-norm', 'clip-grad-value', 'label-smoothing', 'ema', 'mixup', 'save',
    'checkpoint', 'checkpoint-every', 'resume', 'threads', 'relaxed', 'json', 'quiet', 'help'];

  it('documents every option of train, with its default', async () => {
    for (const argv of [['train', '--help'], ['train', '-h']]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      for (const f of flags) expect(r.stdout, `--${f} in the help of ${argv.join(' ')}`).toMatch(new RegExp(`^  (-h, )?--${f}\\b`, 'm'));
      for (const d of ['mlp', '100,100', 'relu', 'he', 'sgd', '5', '16', '1', 'mnist']) expect(r.stdout).toContain(`(default: ${d})`);
      expect(r.stdout).toMatch(/--lr <x> +learning rate \(default: sgd 0\.1, momentum 0\.01/);
      // small defaults are all written as 1e-n (adadelta's eps showed as 0.000001 beside the others' 1e-7)
      const eps = /--eps <x> +([^]*?)\n {2}--/.exec(r.stdout)![1].replace(/\s+/g, ' ');
      expect(eps).toMatch(/adagrad 1e-7, rmsprop 1e-7, adadelta 1e-6, adam 1e-7, adamw 1e-8\)$/);
      expect(r.stdout).not.toMatch(/0\.0000/);
    }
    for (const argv of [['--help'], ['-h']]) {
      expect((await run(argv)).stdout).toMatch(/Commands:\n {2}train +train a network.*\n {2}lr-find +.*\n {2}predict +evaluate a saved model.*\n {2}info +show a model file/);
    }
    for (const command of ['predict', 'info']) expect((await run([command, '--help'])).stdout).toMatch(new RegExp(`^Usage: simdnn ${command} \\[options\\]`));
    expect((await run(['help', 'predict'])).stdout).toBe((await run(['predict', '--help'])).stdout);
    expect((await run(['help', 'nope'])).stderr).toMatch(/help: unknown command 'nope'/);
  });

  it('parses the defaults the help shows', () => {
    expect(parseTrainArgs([])).toEqual({
      net: 'mlp', hidden: [100, 100], activation: 'relu', init: 'he', optimizer: 'sgd', optimizerParams: { lr: 0.1 },
      weightDecay: 0, l1: 0, batchnorm: false, dropout: undefined, threads: 'auto',
      epochs: 5, batch: 16, seed: 1, data: 'mnist', trainRows: undefined, testRows: undefined, save: undefined,
      relaxed: false, json: false, quiet: false,
    });
  });
});

describe('bad options', () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /no command given/],
    [['fit'], /unknown command 'fit'/],
    [['train', '--bogus'], /Unknown option '--bogus'/],
    [['train', 'extra'], /Unexpected argument 'extra'/],
    [['train', '--lr'], /'--lr <value>' argument missing/],
    [['train', '--lr', 'fast'], /--lr: expected a number, got 'fast'/],
    [['train', '--lr', '1e'], /--lr: expected a number, got '1e'/],
    [['train', '--epochs', '0'], /--epochs: expected an integer >= 1, got '0'/],
    [['train', '--batch', '2.5'], /--batch: expected an integer >= 1, got '2.5'/],
    [['train', '--seed', '4294967296'], /--seed: expected an integer in \[0, 4294967295\]/],
    [['train', '--hidden', '100,x'], /--hidden: expected an integer >= 1, got 'x'/],
    [['train', '--optimizer', 'lbfgs'], /--optimizer: unknown name 'lbfgs' \(expected one of sgd, momentum, .*adam/],
    [['train', '--activation', 'gelu'], /--activation: unknown name 'gelu' \(expected one of relu, sigmoid, tanh\)/],
    [['train', '--init', 'glorot'], /--init: unknown name 'glorot' \(expected one of he, relu, xavier, sigmoid\)/],
    [['train', '--init', '-0.1'], /--init' argument is ambiguous/],
    [['train', '--init=-0.1'], /--init: a std must be non-negative/],
    [['train', '--net', 'resnet'], /--net: unknown name 'resnet' \(expected one of mlp/],
    [['train', '--lr=-1'], /--lr: expected a finite number >= 0, got -1 \(--optimizer sgd\)/],
    [['train', '--momentum', '0.9'], /--momentum: --optimizer sgd has no such option \(its options: --lr\)/],
    [['train', '--batchnorm'], /--batchnorm: --net mlp has no such option \(use --net mlp-extend\)/],
    [['train', '--net', 'deep-conv', '--weight-decay', '0.1'], /--weight-decay: --net deep-conv has no such option/],
    [['train', '--net', 'mlp-extend', '--dropout', '1'], /--dropout: expected a ratio in \[0, 1\), got 1/],
    [['train', '--net', 'mlp-extend', '--l1=-1'], /--l1: expected a non-negative number/],
    [['train', '--threads', '0'], /--threads: expected an integer >= 1, got '0'/],
    [['train', '--data', path.join(root, 'no-such-dir')], /--data: '.*no-such-dir' is neither 'mnist' nor a directory/],
    [['train', '--save', path.join(root, 'no-such-dir', 'm.json')], /--save: the directory of '.*' does not exist/],
    [['train', '--lr-schedule', 'multistep:milestones=3/'], /--lr-schedule: milestones: a list of numbers separated by '\/' has an empty item in '3\/' \(write e\.g\. milestones=3\/6, or milestones=3 for one\)/],
    [['train', '--lr-schedule', 'multistep:milestones=3//6'], /--lr-schedule: milestones: .*empty item in '3\/\/6'/],
    [['train', '--lr-schedule', 'step:stepSize=2/3'], /--lr-schedule: stepSize takes one number, not a list, got '2\/3' \(lists: milestones\)/],
    [['train', '--lr-schedule', 'multistep:milestones=0'], /--lr-schedule: MultiStepLR: milestones must be an array of positive integers/],
  ];

  it('exit with code 2 and a clear message on stderr', async () => {
    for (const [argv, message] of cases) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stdout, argv.join(' ')).toBe('');
      expect(r.stderr, argv.join(' ')).toMatch(message);
      expect(r.stderr).toMatch(/Run 'simdnn (train )?--help' for usage\.\n$/);
    }
  });
});

describe('train', () => {
  it('--json prints exactly one JSON object with the results; a seeded run repeats exactly', async () => {
    const a = await run(['train', '--json', '--quiet', ...SHORT]);
    expect(a.code).toBe(0);
    expect(a.stderr).toBe('');
    expect(a.stdout.trim().split('\n')).toHaveLength(1);
    const r = JSON.parse(a.stdout) as TrainReport;
    expect(r).toMatchObject({ net: 'mlp', optimizer: 'sgd', optimizerParams: { lr: 0.1 }, data: 'mnist', trainRows: 500, testRows: 200, epochs: 1, batch: 16, seed: 1 });
    expect(r.netOptions).toEqual({ inputSize: 784, hiddenSizeList: [100, 100], outputSize: 10, activation: 'relu', weightInitStd: 'he' });
    expect(r.steps).toBe(Math.floor(500 / 16));
    expect(r.history).toHaveLength(1);
    expect(r.testAcc).toBe(r.history[0].testAcc);
    expect(r.trainAcc).toBe(r.history[0].trainAcc);
    expect(r.testAcc).toBeGreaterThan(0.6); // chance is 0.1
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.stepsPerSec).toBeGreaterThan(0);
    expect(r.workerFaults).toEqual([]);
    const b = JSON.parse((await run(['train', '--json', '--quiet', ...SHORT])).stdout) as TrainReport;
    expect(b.history.map(({ seconds: _, ...rest }) => rest)).toEqual(r.history.map(({ seconds: _, ...rest }) => rest));
  });

  it('--lr-schedule takes a list with \'/\' and one milestone as a list of one', async () => {
    expect(parseTrainArgs(['--lr-schedule', 'multistep:milestones=3']).lrSchedule).toEqual({ name: 'multistep', options: { milestones: [3] } });
    expect(parseTrainArgs(['--lr-schedule', 'multistep:milestones=3/6,gamma=0.5']).lrSchedule).toEqual({ name: 'multistep', options: { milestones: [3, 6], gamma: 0.5 } });
    const r = await run(['train', '--json', '--quiet', ...SHORT.slice(2), '--epochs', '3', '--lr-schedule', 'multistep:milestones=2,gamma=0.5']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as TrainReport).history.map((h) => h.lr)).toEqual([0.1, 0.1, 0.05]);
  });

  it('passes optimizer hyper-parameters through by their createOptimizer names', async () => {
    const adam = JSON.parse((await run(['train', '--json', '--quiet', ...SHORT, '--optimizer', 'adam', '--lr', '0.002', '--beta1', '0.8', '--eps', '1e-6'])).stdout) as TrainReport;
    expect(adam.optimizer).toBe('adam');
    expect(adam.optimizerParams).toEqual({ lr: 0.002, beta1: 0.8, eps: 1e-6 });
    const momentum = JSON.parse((await run(['train', '--json', '--quiet', ...SHORT, '--optimizer', 'Momentum', '--momentum', '0.5'])).stdout) as TrainReport;
    expect(momentum.optimizer).toBe('momentum');
    expect(momentum.optimizerParams).toEqual({ momentum: 0.5 }); // lr: the optimizer's own default
  });

  it('--weight-decay is the net\'s L2 decay, except with adamw where it is the decoupled decay', async () => {
    const l2 = JSON.parse((await run(['train', '--json', '--quiet', ...SHORT, '--weight-decay', '0.01'])).stdout) as TrainReport;
    expect(l2.netOptions).toMatchObject({ weightDecayLambda: 0.01 });
    expect(l2.optimizerParams).toEqual({ lr: 0.1 });
    const adamw = JSON.parse((await run(['train', '--json', '--quiet', ...SHORT, '--optimizer', 'adamw', '--weight-decay', '0.05'])).stdout) as TrainReport;
    expect(adamw.optimizerParams).toEqual({ weightDecay: 0.05 });
    expect(adamw.netOptions).not.toHaveProperty('weightDecayLambda');
  });

  it('trains MultiLayerNetExtend with batch norm, dropout, L2 and L1 (--net mlp-extend)', async () => {
    const r = JSON.parse((await run(['train', '--json', '--quiet', ...SHORT, '--net', 'mlp-extend', '--batchnorm', '--dropout', '0.1',
      '--weight-decay', '0.001', '--l1', '0.0001'])).stdout) as TrainReport;
    expect(r.netOptions).toEqual({ inputSize: 784, hiddenSizeList: [100, 100], outputSize: 10, activation: 'relu', weightInitStd: 'he',
      weightDecayLambda: 0.001, l1Lambda: 0.0001, useBatchnorm: true, useDropout: true, dropoutRatio: 0.1 });
    expect(r.testAcc).toBeGreaterThan(0.6);
  });

  it('gives the same result on 2 threads as on 1', async () => {
    const one = JSON.parse((await run(['train', '--json', '--quiet', ...SHORT])).stdout) as TrainReport;
    const two = JSON.parse((await run(['train', '--json', '--quiet', ...SHORT, '--threads', '2'])).stdout) as TrainReport;
    expect(two.history.map(({ seconds: _, ...rest }) => rest)).toEqual(one.history.map(({ seconds: _, ...rest }) => rest));
    // how the steps used the pool (whether they were timed both ways depends on the machine's load)
    expect(Object.keys(two.threadUse).sort()).toEqual(['pool', 'poolStepMs', 'probes', 'serialStepMs']);
    expect(two.threadUse.probes === 0 || (two.threadUse.poolStepMs! > 0 && two.threadUse.serialStepMs! > 0)).toBe(true);
  });

  it('prints progress lines on a plain stderr and a summary line on stdout', async () => {
    const r = await run(['train', '--epochs', '2', '--train-rows', '500', '--test-rows', '200', '--hidden', '20']);
    expect(r.code).toBe(0);
    // and, when the Trainer timed its steps both ways, which way they ran
    expect(r.stdout).toMatch(/^train acc 0\.\d{4} {2}test acc 0\.\d{4} {2}epochs 2 {2}\d+\.\d\d s {2}\d+\.\d steps\/s( {2}steps (split across threads|on one thread) \(\d+\.\d\d ms against \d+\.\d\d (on one|split)\))?\n$/);
    expect(r.stderr).not.toContain('\r');
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^simdnn: mlp 784-20-10 relu init he, sgd lr 0\.1, batch 16, 2 epochs x 31 steps, mnist \(500 train \/ 200 test\)$/);
    expect(lines[1]).toMatch(/^epoch 1\/2 \[########\.{8}\]  50% loss \d\.\d{4} \| acc train 0\.\d{4} test 0\.\d{4}$/);
    expect(lines[2]).toMatch(/^epoch 2\/2 \[#{16}\] 100% loss/);
  });

  it('redraws one bar in place on a TTY, within its width', async () => {
    const r = await run(['train', ...SHORT, '--hidden', '20'], true);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('\r');
    const drawn = r.stderr.split(/[\r\n]/).map((s) => s.replace('\x1b[K', '')).filter((s) => s.startsWith('epoch'));
    expect(drawn.length).toBeGreaterThan(0);
    for (const line of drawn) expect(line.length).toBeLessThanOrEqual(59);
    expect(r.stderr).toMatch(/epoch 1\/1 \[#{16}\] 100%.*\x1b\[K\n$/);
  });

  it('--quiet keeps stderr empty', async () => {
    const r = await run(['train', '--quiet', ...SHORT, '--hidden', '20']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^train acc/);
  });

  it('--save writes a safetensors model that info describes, predict evaluates and readModelFile rebuilds with the same accuracy', async () => {
    const file = path.join(tmp, 'model.safetensors');
    const r = await run(['train', '--json', ...SHORT, '--hidden', '30,20', '--activation', 'tanh', '--save', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`saved the model to ${file}`);
    const report = JSON.parse(r.stdout) as TrainReport;
    expect(report.saved).toBe(file);
    const rt = await createRuntime({ seed: 77 });
    const { net, metadata } = readModelFile(rt, file);
    expect(net.spec).toEqual({ kind: 'mlp', options: report.netOptions });
    expect(Object.keys(net.params)).toEqual(['W1', 'b1', 'W2', 'b2', 'W3', 'b3']);
    expect(JSON.parse(metadata['train.result'])).toMatchObject({ epochs: 1, testAcc: report.testAcc });
    const data = await loadMnist(rt, { trainRows: 500, testRows: 200 });
    expect(net.accuracy(data.xTest, data.tTest)).toBe(report.testAcc);
    expect(net.accuracy(data.xTrain, data.tTrain)).toBe(report.trainAcc);
    net.dispose();
    await rt.dispose();

    const info = await run(['info', file]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/architecture +mlp 784-30-20-10 tanh init he/);
    expect(info.stdout).toMatch(/parameters +24,380 in 6 tensors/);
    expect(info.stdout).toMatch(/^ {2}W1 +F32 +\[784, 30\]$/m);
    expect(info.stdout).toMatch(/optimizer +none saved/);
    expect(JSON.parse((await run(['info', '--json', file])).stdout)).toMatchObject({ parameterCount: 24380, spec: { kind: 'mlp' } });

    const predicted = await run(['predict', '--model', file, '--test-rows', '200', '--json']);
    expect(predicted.code, predicted.stderr).toBe(0);
    const p = JSON.parse(predicted.stdout) as PredictReport;
    expect(p.accuracy).toBe(report.testAcc);
    expect(p.rows).toBe(200);
    expect(p.confusion.flat().reduce((a, b) => a + b, 0)).toBe(200);
    expect(p.confusion.reduce((n, row, c) => n + row[c], 0) / 200).toBe(report.testAcc);
    p.perClass.forEach((acc, c) => expect(acc).toBe(p.confusion[c][c] / p.confusion[c].reduce((a, b) => a + b, 0)));
    const text = await run(['predict', '--model', file, '--test-rows', '200']);
    expect(text.stdout).toMatch(new RegExp(`^accuracy ${report.testAcc.toFixed(4)}$`, 'm'));
    expect(text.stdout).toMatch(/^true\\pred +0 +1 .* 9 +accuracy$/m);
    // the model as the argument, as info takes it; once
    expect((await run(['predict', file, '--test-rows', '200'])).stdout).toBe(text.stdout);
    expect((await run(['predict', '--model', file, file, '--test-rows', '200'])).stdout).toBe(text.stdout);
    const twice = await run(['predict', '--model', file, path.join(tmp, 'other.safetensors')]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain(`two model files: --model ${file} and ${path.join(tmp, 'other.safetensors')}; give one`);
    expect((await run(['predict', file, file])).stderr).toMatch(/expected one model file, got 2/);

    expect((await run(['info', path.join(tmp, 'none.safetensors')])).stderr).toMatch(/simdnn: info FILE: '.*none\.safetensors' does not exist/);
    expect((await run(['predict'])).stderr).toMatch(/--model: required/);
    expect((await run(['info'])).code).toBe(2);
  });

  it('--data trains on an IDX directory, sizing the output layer by its labels', async () => {
    const dir = path.join(tmp, 'idx');
    await mkdir(dir);
    const next = rng(5);
    const part = async (name: string, n: number) => {
      await writeFile(path.join(dir, `${name}-images-idx3-ubyte`), encodeIdx([n, 6, 5], Uint8Array.from({ length: n * 30 }, () => Math.floor(next() * 256))));
      await writeFile(path.join(dir, `${name}-labels-idx1-ubyte`), encodeIdx([n], Uint8Array.from({ length: n }, (_, i) => i % 3)));
    };
    await part('train', 40);
    await part('t10k', 10);
    const model = path.join(tmp, 'idx.safetensors');
    const r = await run(['train', '--json', '--quiet', '--epochs', '1', '--data', dir, '--save', model]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as TrainReport;
    expect(report).toMatchObject({ data: dir, trainRows: 40, testRows: 10, steps: 2 });
    expect(report.netOptions).toMatchObject({ inputSize: 30, outputSize: 3 });
    // predict reads the t10k files only: a directory without the training files will do
    for (const kind of ['images-idx3', 'labels-idx1']) await rm(path.join(dir, `train-${kind}-ubyte`));
    const p = await run(['predict', '--json', '--model', model, '--data', dir]);
    expect(p.code, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout)).toMatchObject({ rows: 10, accuracy: report.testAcc });
  });

  it('reports a broken data directory as an error (exit 1) naming the file', async () => {
    const dir = path.join(tmp, 'broken');
    await mkdir(dir);
    const r = await run(['train', '--data', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^simdnn: error: loadIdx: .*broken has no train-images-idx3-ubyte\[\.gz\]/);
  });
});

describe('the built bin (npm run build:ts)', () => {
  const bin = path.join(root, 'dist', 'node', 'cli.cjs');

  it('runs under node with a shebang, exit codes 0 and 2, and a --json run', async () => {
    expect(existsSync(bin), `${bin} is missing: run npm run build:ts first`).toBe(true);
    expect((await readFile(bin, 'utf8')).split('\n')[0]).toBe('#!/usr/bin/env node');
    const node = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: tmp });
    const help = node(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: simdnn <command>/);
    const bad = node(['train', '--lr', 'fast']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--lr: expected a number, got 'fast'/);
    const short = node(['train', '--json', ...SHORT]);
    expect(short.status, short.stderr).toBe(0);
    expect(short.stderr).toMatch(/epoch 1\/1/);
    expect(JSON.parse(short.stdout)).toMatchObject({ epochs: 1, trainRows: 500, testRows: 200 });
  });
});

describe('info prints the summary of the model\'s net', () => {
  it('computed from the recorded architecture: the net\'s own summary, for every kind of named net; in --json under summary', async () => {
    const rt = await createRuntime({ seed: 3 });
    const nets: NamedNet[] = [
      new MultiLayerNet(rt, { inputSize: 12, hiddenSizeList: [7, 5], outputSize: 3, activation: 'tanh', labelSmoothing: 0.05 }),
      new MultiLayerNetExtend(rt, { inputSize: 12, hiddenSizeList: [6, 4], outputSize: 3, activation: 'sigmoid', useBatchnorm: true, useDropout: true }),
      new SimpleConvNet(rt, { inputDim: [2, 9, 9], convParam: { filterNum: 3, filterSize: 3, pad: 1, stride: 2 }, hiddenSize: 6, outputSize: 4 }),
      new DeepConvNet(rt, { inputDim: [1, 20, 20], convParams: [{ filterNum: 4, filterSize: 3, pad: 1, stride: 2 }, ...Array(5).fill({ filterNum: 4, filterSize: 3, pad: 1 })] }),
    ];
    for (const [i, net] of nets.entries()) {
      const file = path.join(tmp, `summary-${i}.safetensors`);
      await writeModelFile(file, net);
      const expected = net.summary();
      expect(expected.rows.every((r) => r.outputShape !== null), net.spec.kind).toBe(true);
      const json = await run(['info', '--json', file]);
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout).summary, net.spec.kind).toEqual(expected);
      const text = await run(['info', file]);
      expect(text.stdout.endsWith(`\nsummary\n${formatSummary(expected).split('\n').map((l) => `  ${l}`).join('\n')}\n`), text.stdout).toBe(true);
      net.dispose();
    }
    await rt.dispose();
  });

  it('of a file with no architecture recorded: none', async () => {
    const header = new TextEncoder().encode(JSON.stringify({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }));
    const bytes = new Uint8Array(8 + header.length + 4);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    const file = path.join(tmp, 'foreign.safetensors');
    await writeFile(file, bytes);
    const text = await run(['info', file]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/architecture +none recorded/);
    expect(text.stdout).not.toMatch(/^summary$/m);
    expect(JSON.parse((await run(['info', '--json', file])).stdout)).toMatchObject({ spec: null, summary: null });
  });
});
