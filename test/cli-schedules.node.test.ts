// `simdnn train --lr-schedule` with OneCycleLR (onecycle) and CosineAnnealingWarmRestarts (cosine-restarts):
// their options from the command line (text and true/false among the numbers), the momentum an optimizer
// needs for cycleMomentum, and a short run's rate against the schedule's.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseTrainArgs, type TrainReport } from '../src/node/cli/index.js';
import { runCli } from './helpers/cli.js';
import { expectBits } from './helpers/runtime.js';
import { readModelFile } from '../src/node/model-file.js';
import { createRuntime } from '../src/node/runtime.js';
import { OneCycleLR, CyclicLR } from '../src/index.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-schedules-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

/** One epoch on 500 of the bundled digits at batch 16: 31 steps. */
const SHORT = ['--epochs', '1', '--train-rows', '500', '--test-rows', '200'];

describe('--lr-schedule onecycle and cosine-restarts', () => {
  it('parses their options: numbers, annealStrategy as text, cycleMomentum and threePhase as true or false', () => {
    expect(parseTrainArgs(['--optimizer', 'momentum', '--lr-schedule', 'onecycle:maxLr=0.1,totalSteps=100,annealStrategy=linear,threePhase=true,cycleMomentum=true,pctStart=0.25']).lrSchedule)
      .toEqual({ name: 'onecycle', options: { maxLr: 0.1, totalSteps: 100, annealStrategy: 'linear', threePhase: true, cycleMomentum: true, pctStart: 0.25 } });
    expect(parseTrainArgs(['--lr-schedule', 'onecycle:maxLr=0.1,epochs=3,stepsPerEpoch=10,cycleMomentum=false,interval=epoch']).lrSchedule)
      .toEqual({ name: 'onecycle', options: { maxLr: 0.1, epochs: 3, stepsPerEpoch: 10, cycleMomentum: false, interval: 'epoch' } });
    expect(parseTrainArgs(['--lr-schedule', 'cosine-restarts:t0=5,tMult=2,etaMin=0.001']).lrSchedule)
      .toEqual({ name: 'cosine-restarts', options: { t0: 5, tMult: 2, etaMin: 0.001 } });
    expect(parseTrainArgs(['--optimizer', 'adam', '--lr-schedule', 'OneCycle:maxLr=0.01,totalSteps=7']).lrSchedule).toEqual({ name: 'onecycle', options: { maxLr: 0.01, totalSteps: 7 } });
  });

  it('refuses bad values with the flag named, before any data loads (exit code 2)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--optimizer', 'momentum', '--lr-schedule', 'onecycle:maxLr=0.1,totalSteps=10,threePhase=yes'], /--lr-schedule: threePhase takes true or false, got 'yes'/],
      [['--optimizer', 'momentum', '--lr-schedule', 'onecycle:maxLr=0.1,totalSteps=10,cycleMomentum=1'], /--lr-schedule: cycleMomentum takes true or false, got '1'/],
      [['--optimizer', 'momentum', '--lr-schedule', 'onecycle:maxLr=0.1,totalSteps=10,annealStrategy=quad'], /--lr-schedule: OneCycleLR: annealStrategy must be 'cos' or 'linear', got quad/],
      [['--optimizer', 'momentum', '--lr-schedule', 'onecycle:maxLr=0.1'], /--lr-schedule: OneCycleLR: you must define either totalSteps OR \(epochs AND stepsPerEpoch\)/],
      [['--lr-schedule', 'onecycle:maxLr=0.1,totalSteps=10'], /--lr-schedule onecycle: cycles the momentum, which --optimizer sgd has none of: add cycleMomentum=false, or use --optimizer momentum, nesterov, adam or adamw/],
      [['--optimizer', 'rmsprop', '--lr-schedule', 'onecycle:maxLr=0.1,totalSteps=10'], /--optimizer rmsprop has none of/],
      [['--lr-schedule', 'cosine-restarts:t0=5,tMult=0'], /--lr-schedule: CosineAnnealingWarmRestarts: tMult must be an integer >= 1/],
      [['--lr-schedule', 'cosine-restarts:tMult=2'], /--lr-schedule: CosineAnnealingWarmRestarts: t0 must be a positive integer/],
    ];
    for (const [argv, message] of cases) {
      expect(() => parseTrainArgs(argv), argv.join(' ')).toThrow(message);
      const r = await runCli(['train', ...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(message);
    }
    // without momentum cycling an optimizer without momentum takes it
    expect(parseTrainArgs(['--lr-schedule', 'onecycle:maxLr=0.1,totalSteps=10,cycleMomentum=false']).lrSchedule?.options.cycleMomentum).toBe(false);
  });

  it('trains with the schedule\'s rate; a run longer than the cycle is a usage error before its first step', async () => {
    const r = await runCli(['train', '--json', '--quiet', ...SHORT, '--optimizer', 'momentum', '--lr-schedule', 'onecycle:maxLr=0.1,epochs=1,stepsPerEpoch=31']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as TrainReport;
    expect(report.steps).toBe(31);
    expect(report.history[0].lr).toBe(new OneCycleLR({ maxLr: 0.1, totalSteps: 31 }).lrAt(30, 0));
    const long = await runCli(['train', '--json', '--quiet', ...SHORT, '--optimizer', 'momentum', '--lr-schedule', 'onecycle:maxLr=0.1,totalSteps=30']);
    // a usage error (exit 2) once the training rows are known, before any step
    expect(long.code).toBe(2);
    expect(long.stdout).toBe('');
    expect(long.stderr).toMatch(/lrSchedule OneCycleLR defines 30 steps, and this run takes 31 steps/);
  });

  it('--resume from an epoch-1 checkpoint of a OneCycleLR run (its true/false options kept) ends with the uninterrupted run\'s bits', async () => {
    // 300 rows at batch 16: 18 steps an epoch
    const settings = ['--optimizer', 'adam', '--lr-schedule', 'onecycle:maxLr=0.01,epochs=3,stepsPerEpoch=18,annealStrategy=linear,threePhase=true',
      '--epochs', '3', '--train-rows', '300', '--test-rows', '100', '--hidden', '20'];
    const full = path.join(tmp, 'full.safetensors'), resumed = path.join(tmp, 'resumed.safetensors');
    const a = await runCli(['train', '--json', '--quiet', ...settings, '--save', full, '--checkpoint', path.join(tmp, 'ck-{epoch}.safetensors'), '--checkpoint-every', '1']);
    expect(a.code, a.stderr).toBe(0);
    const b = await runCli(['train', '--json', '--quiet', '--resume', path.join(tmp, 'ck-1.safetensors'), '--save', resumed]);
    expect(b.code, b.stderr).toBe(0);
    const ra = JSON.parse(a.stdout) as TrainReport, rb = JSON.parse(b.stdout) as TrainReport;
    const strip = (h: TrainReport['history']) => h.map(({ seconds: _, ...rest }) => rest);
    expect(strip(rb.history)).toEqual(strip(ra.history));
    // PyTorch's three linear phases over 54 steps (end_step 0.3·54 − 1, 2·0.3·54 − 2, 53) at each epoch's last step
    const [initial, max] = [0.01 / 25, 0.01], e1 = 0.3 * 54 - 1, e2 = 2 * 0.3 * 54 - 2;
    expect(ra.history.map((h) => h.lr)).toEqual([
      (initial - max) * ((17 - e1) / (e2 - e1)) + max,
      (initial / 1e4 - initial) * ((35 - e2) / (53 - e2)) + initial,
      (initial / 1e4 - initial) * ((53 - e2) / (53 - e2)) + initial, // not initial / 1e4: 3.999999999997929e-8
    ]);
    const rt = await createRuntime({ threads: 1 });
    const x = readModelFile(rt, full), y = readModelFile(rt, resumed);
    for (const [k, t] of Object.entries(x.net.params)) expectBits(y.net.params[k].toArray(), t.toArray(), k);
    x.net.dispose(); y.net.dispose();
    await rt.dispose();
  });
});

describe('--lr-schedule constant, polynomial and cyclic', () => {
  it('parses their options: numbers, mode and scaleMode as text, cycleMomentum as true or false', () => {
    expect(parseTrainArgs(['--lr-schedule', 'constant:factor=0.5,totalIters=3,interval=step']).lrSchedule)
      .toEqual({ name: 'constant', options: { factor: 0.5, totalIters: 3, interval: 'step' } });
    expect(parseTrainArgs(['--lr-schedule', 'polynomial:totalIters=10,power=2']).lrSchedule).toEqual({ name: 'polynomial', options: { totalIters: 10, power: 2 } });
    expect(parseTrainArgs(['--lr-schedule', 'constant']).lrSchedule).toEqual({ name: 'constant', options: {} });
    expect(parseTrainArgs(['--optimizer', 'momentum', '--lr-schedule', 'cyclic:baseLr=0.001,maxLr=0.1,stepSizeUp=5,stepSizeDown=3,mode=exp_range,gamma=0.99,scaleMode=iterations,baseMomentum=0.7,maxMomentum=0.95']).lrSchedule)
      .toEqual({ name: 'cyclic', options: { baseLr: 0.001, maxLr: 0.1, stepSizeUp: 5, stepSizeDown: 3, mode: 'exp_range', gamma: 0.99, scaleMode: 'iterations', baseMomentum: 0.7, maxMomentum: 0.95 } });
    expect(parseTrainArgs(['--lr-schedule', 'Cyclic:baseLr=0.001,maxLr=0.1,mode=triangular2,cycleMomentum=false,interval=epoch']).lrSchedule)
      .toEqual({ name: 'cyclic', options: { baseLr: 0.001, maxLr: 0.1, mode: 'triangular2', cycleMomentum: false, interval: 'epoch' } });
  });

  it('refuses bad values with the flag named, before any data loads (exit code 2)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--lr-schedule', 'constant:factor=0'], /--lr-schedule: ConstantLR: factor must be a number in \(0, 1\], got 0/],
      [['--lr-schedule', 'polynomial:power=-0.5'], /--lr-schedule: PolynomialLR: power must be a number >= 0, got -0.5/],
      [['--optimizer', 'adam', '--lr-schedule', 'cyclic:baseLr=0.001,maxLr=0.1,mode=exp'], /--lr-schedule: CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range', got exp/],
      [['--optimizer', 'adam', '--lr-schedule', 'cyclic:baseLr=0.001,maxLr=0.1,scaleMode=iterations'], /--lr-schedule: CyclicLR: scaleMode 'iterations' with mode 'triangular'/],
      [['--optimizer', 'adam', '--lr-schedule', 'cyclic:baseLr=0.001,maxLr=0.1,cycleMomentum=no'], /--lr-schedule: cycleMomentum takes true or false, got 'no'/],
      [['--optimizer', 'adam', '--lr-schedule', 'cyclic:maxLr=0.1'], /--lr-schedule: CyclicLR: baseLr must be a number >= 0, got undefined/],
      [['--lr-schedule', 'cyclic:baseLr=0.001,maxLr=0.1'], /--lr-schedule cyclic: cycles the momentum, which --optimizer sgd has none of: add cycleMomentum=false/],
    ];
    for (const [argv, message] of cases) {
      expect(() => parseTrainArgs(argv), argv.join(' ')).toThrow(message);
      const r = await runCli(['train', ...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(message);
    }
  });

  it('trains with CyclicLR\'s rate per step', async () => {
    const r = await runCli(['train', '--json', '--quiet', ...SHORT, '--optimizer', 'nesterov', '--lr-schedule', 'cyclic:baseLr=0.001,maxLr=0.1,stepSizeUp=4,stepSizeDown=9,mode=triangular2']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as TrainReport;
    expect(report.steps).toBe(31);
    expect(report.history[0].lr).toBe(new CyclicLR({ baseLr: 0.001, maxLr: 0.1, stepSizeUp: 4, stepSizeDown: 9, mode: 'triangular2' }).lrAt(30));
  });
});
