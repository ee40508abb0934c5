// The command line's behaviour that the other tests did not pin down, each found by a mutant every other test let
// through (session 68's mutation run over src/node/cli): what --early-stop-monitor val-acc watches, which epochs
// --checkpoint-every n writes, the progress for --iterations and its percentages, the ends of the flags' ranges,
// flags a net would ignore, what the report, a checkpoint and a model file record, the model a signal saves (and
// its exit code), lr-find's table, batch and chart, info's lines, and experiment's defaults and exit codes.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main, parseTrainArgs, type TrainReport } from '../src/node/cli/index.js';
import { readModelFile, readModelInfo, writeModelFile } from '../src/node/model-file.js';
import { MultiLayerNet } from '../src/index.js';
import { createRuntime } from '../src/node/runtime.js';
import { Capture, exists, runCli as run } from './helpers/cli.js';
import { expectBits } from './helpers/runtime.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-mutants-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

// 300 rows in batches of 16: 18 steps an epoch
const SMALL = ['--train-rows', '300', '--test-rows', '100', '--hidden', '20'];

/** The epoch (1-based) of the first best value: a loss's lowest, an accuracy's highest (Keras: an improvement is strict). */
const firstBest = (values: number[], mode: 'min' | 'max') => values.indexOf(mode === 'min' ? Math.min(...values) : Math.max(...values)) + 1;

describe('simdnn train: early stopping and checkpoints', () => {
  it('--early-stop-monitor val-acc keeps the epoch of the best validation accuracy, not of the lowest validation loss', async () => {
    // lr 0.5 on these rows: the accuracy peaks at another epoch than the loss bottoms out (a run that watched the loss
    // would keep another epoch and stop at another)
    const r = await run(['train', '--json', '--quiet', ...SMALL, '--lr', '0.5', '--val-split', '0.3', '--early-stop', '2', '--early-stop-monitor', 'val-acc', '--epochs', '30']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as TrainReport;
    expect(report.stopReason).toBe('earlyStopping');
    const best = firstBest(report.history.map((h) => h.valAcc!), 'max');
    expect(best, 'the validation loss bottoms out at another epoch (else the case tells nothing)').not.toBe(firstBest(report.history.map((h) => h.valLoss!), 'min'));
    expect(report.bestEpoch).toBe(best);
    expect(report.epochs).toBe(best + 2);
    expect(report.valAcc).toBe(report.history[best - 1].valAcc);
  });

  it('--checkpoint-every 2 writes the checkpoints of epochs 2 and 4 of 5, and no other', async () => {
    const ck = path.join(tmp, 'every-2', 'ck-{epoch}.safetensors');
    await mkdir(path.dirname(ck));
    const r = await run(['train', '--quiet', ...SMALL, '--epochs', '5', '--checkpoint', ck, '--checkpoint-every', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(path.dirname(ck))).sort()).toEqual(['ck-2.safetensors', 'ck-4.safetensors']);
    expect(JSON.parse(readModelInfo(ck.replace('{epoch}', '4')).metadata['train.state'])).toMatchObject({ epoch: 4 });
  });
});

describe('simdnn train: what the report, the summary and the files say', () => {
  it('--val-split: the rows each side in the start line and the report, the validation accuracy in the summary and the model file', async () => {
    const file = path.join(tmp, 'val.safetensors');
    const args = [...SMALL, '--epochs', '1', '--val-split', '0.3'];
    const json = await run(['train', '--json', '--quiet', ...args]);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as TrainReport;
    expect(report).toMatchObject({ trainRows: 210, valRows: 90, testRows: 100 });
    const text = await run(['train', ...args, '--save', file]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr.split('\n')[0]).toMatch(/, mnist \(210 train \/ 90 validation \/ 100 test\)$/);
    expect(text.stdout).toMatch(new RegExp(`^train acc ${report.trainAcc.toFixed(4)} {2}val acc ${report.valAcc!.toFixed(4)} {2}test acc ${report.testAcc.toFixed(4)} {2}epochs 1 {2}`));
    expect(JSON.parse(readModelInfo(file).metadata['train.result'])).toEqual({ epochs: 1, steps: report.steps, trainAcc: report.trainAcc, testAcc: report.testAcc, valAcc: report.valAcc });
  });

  it('--ema with --early-stop: the best epoch\'s parameters win, so no averaged figures are reported', async () => {
    const r = await run(['train', '--json', '--quiet', ...SMALL, '--epochs', '2', '--ema', '0.9', '--val-split', '0.3', '--early-stop', '5']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as TrainReport;
    expect(report.bestEpoch).toBeDefined();
    expect(report).not.toHaveProperty('averaged');
  });

  it('--clip-grad-norm is stored in a checkpoint, and --resume clips as the uninterrupted run does', async () => {
    const ck = path.join(tmp, 'clip-{epoch}.safetensors');
    const args = [...SMALL, '--epochs', '2', '--clip-grad-norm', '0.05'];
    const whole = await run(['train', '--json', '--quiet', ...args, '--checkpoint', ck, '--checkpoint-every', '1']);
    expect(whole.code, whole.stderr).toBe(0);
    const ck1 = ck.replace('{epoch}', '1');
    expect(JSON.parse(readModelInfo(ck1).metadata['train.settings'])).toMatchObject({ clipGradNorm: 0.05 });
    // the flags that change nothing in the numbers are taken beside --resume
    const resumed = await run(['train', '--json', '--quiet', '--resume', ck1, '--threads', '1']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((JSON.parse(resumed.stdout) as TrainReport).history).toEqual((JSON.parse(whole.stdout) as TrainReport).history.map((h) => ({ ...h, seconds: expect.any(Number) })));
  });
});

describe('simdnn train: the progress on stderr', () => {
  it('--iterations 25 of 18 steps an epoch shows 2 epochs (the last one part way): epoch 1/2 and 2/2', async () => {
    const r = await run(['train', ...SMALL, '--iterations', '25']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/, 25 steps, mnist \(300 train \/ 100 test\)$/);
    expect(lines.slice(1).map((l) => /^epoch (\d+\/\d+) /.exec(l)?.[1])).toEqual(['1/2', '2/2']);
  });

  it('each epoch\'s line: the share of the steps done, rounded down (2 of 3 epochs: 66%, not 67%)', async () => {
    const r = await run(['train', ...SMALL, '--epochs', '3']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.trim().split('\n').slice(1).map((l) => /^epoch \d\/3 (\[[#.]{16}\] +\d+%) /.exec(l)?.[1])).toEqual(['[#####...........]  33%', '[###########.....]  66%', '[################] 100%']);
  });
});

describe('simdnn train: the ends of each range are values the flag takes', () => {
  it('--dropout 0, --label-smoothing 0 and 1, --ema 0 and 1, --seed 0 and 2^32 − 1, --augment degrees=180, --early-stop 1; adamw\'s --weight-decay on any net', () => {
    expect(parseTrainArgs(['--net', 'mlp-extend', '--dropout', '0']).dropout).toBe(0);
    for (const e of [0, 1]) {
      expect(parseTrainArgs(['--label-smoothing', String(e)]).labelSmoothing).toBe(e);
      expect(parseTrainArgs(['--ema', String(e)]).ema).toBe(e);
    }
    for (const seed of [0, 4294967295]) expect(parseTrainArgs(['--seed', String(seed)]).seed).toBe(seed);
    expect(parseTrainArgs(['--net', 'simple-conv', '--augment', 'degrees=180']).augment).toEqual({ shift: 0, degrees: 180, scale: 0 });
    expect(parseTrainArgs(['--val-split', '0.1', '--early-stop', '1'])).toMatchObject({ valSplit: 0.1, earlyStop: 1 });
    // adamw's decoupled decay acts on any net's parameters: not refused where the net has no L2 term of its own
    for (const net of ['simple-conv', 'deep-conv']) {
      expect(parseTrainArgs(['--net', net, '--optimizer', 'adamw', '--weight-decay', '0.05'])).toMatchObject({ optimizerParams: { weightDecay: 0.05 }, weightDecay: 0 });
    }
  });
});

describe('simdnn train: values and flags refused before data loads (exit 2, naming the flag)', () => {
  it('--val-split, --early-stop, --checkpoint-every or --train-rows 0, --l1 or --dropout with a net that has no such option (the run would ignore them), a key of k=v,... given twice', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--val-split', '0'], /^simdnn: --val-split: expected a ratio in \(0, 1\), got 0\n/],
      [['--l1', '0.001'], /^simdnn: --l1: --net mlp has no such option \(use --net mlp-extend\)\n/],
      [['--net', 'simple-conv', '--l1', '0.001'], /^simdnn: --l1: --net simple-conv has no such option/],
      [['--dropout', '0.2'], /^simdnn: --dropout: --net mlp has no such option \(use --net mlp-extend\)\n/],
      [['--net', 'deep-conv', '--dropout', '0.2'], /^simdnn: --dropout: --net deep-conv has no such option/],
      // 0 is no patience (the Trainer's minimum is 1) and no checkpoint interval (epoch % 0 is NaN: none would be written)
      [['--val-split', '0.1', '--early-stop', '0'], /^simdnn: --early-stop: expected an integer >= 1, got '0'\n/],
      [['--save', path.join(tmp, 'never.safetensors'), '--checkpoint-every', '0'], /^simdnn: --checkpoint-every: expected an integer >= 1, got '0'\n/],
      [['--train-rows', '0'], /^simdnn: --train-rows: expected an integer >= 1, got '0'\n/],
      // a key given twice is refused, not the last one taken
      [['--lr-schedule', 'step:stepSize=2,stepSize=3'], /^simdnn: --lr-schedule: 'stepSize' is given twice\n/],
      [['--net', 'simple-conv', '--augment', 'shift=1,shift=2'], /^simdnn: --augment: 'shift' is given twice\n/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(['train', '--quiet', ...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stdout, argv.join(' ')).toBe('');
      expect(r.stderr, argv.join(' ')).toMatch(message);
    }
  });
});

describe('simdnn train: a signal during training', () => {
  it('before the first epoch ends: nothing saved and --save not written (exit 130 for SIGINT); without --save, nothing saved either', async () => {
    const file = path.join(tmp, 'sigint-at-once.safetensors');
    for (const save of [['--save', file], []]) {
      const controller = new AbortController();
      controller.abort('SIGINT');
      const stdout = new Capture(), stderr = new Capture();
      const code = await main(['train', '--quiet', ...SMALL, ...save], { stdout, stderr }, { signal: controller.signal });
      expect(code, stderr.text).toBe(130);
      expect(stderr.text).toBe(save.length ? 'simdnn: interrupted (SIGINT) before the first epoch of this run ended; no model saved\n' : 'simdnn: interrupted (SIGINT); nothing saved (no --save)\n');
      expect(stdout.text).toBe('');
      expect(await exists(file)).toBe(false);
    }
  });

  it('SIGTERM part way through an epoch saves the last completed epoch\'s model (its bits, not the later steps\') and exits 143', async () => {
    const file = path.join(tmp, 'sigterm.safetensors'), ref = path.join(tmp, 'sigterm-ref.safetensors');
    const args = ['--epochs', '3', ...SMALL];
    const controller = new AbortController();
    // a clock that runs 20 s a reading: the progress writes a line after every step (a plain stderr writes one
    // at most every 10 s), so the first line of epoch 2 is written after its first step, and the signal comes then
    let clock = 0;
    const now = vi.spyOn(performance, 'now').mockImplementation(() => (clock += 20_000));
    const stderr = new Capture(), stdout = new Capture();
    stderr.write = (s: string) => {
      stderr.text += s;
      if (s.startsWith('epoch 2/') && !controller.signal.aborted) controller.abort('SIGTERM');
    };
    let code: number;
    try {
      code = await main(['train', ...args, '--save', file], { stdout, stderr }, { signal: controller.signal });
    } finally {
      now.mockRestore();
    }
    expect(code, stderr.text).toBe(143);
    expect(stderr.text).toContain(`simdnn: interrupted (SIGTERM); saved the model of epoch 1 to ${file}\n`);
    expect(JSON.parse(readModelInfo(file).metadata['train.result'])).toEqual({ epochs: 1, interrupted: 'SIGTERM' });
    const r = await run(['train', '--quiet', ...SMALL, '--epochs', '1', '--save', ref]);
    expect(r.code, r.stderr).toBe(0);
    const rt = await createRuntime({ threads: 1 });
    const x = readModelFile(rt, ref), y = readModelFile(rt, file);
    for (const [k, t] of Object.entries(x.net.params)) expectBits((y.net.params as Record<string, typeof t>)[k].toArray(), t.toArray(), k);
    x.net.dispose(); y.net.dispose();
    await rt.dispose();
  });
});

describe('simdnn lr-find', () => {
  const ROWS = ['--train-rows', '300', '--hidden', '20'];
  it('its table: every ⌈30/20⌉ = 2nd step from the first, and the last; an --end-lr equal to --start-lr is refused (exit 2)', async () => {
    const r = await run(['lr-find', '--quiet', ...ROWS, '--steps', '30', '--start-lr', '1e-4', '--end-lr', '0.1', '--no-stop-div']);
    expect(r.code, r.stderr).toBe(0);
    const steps = r.stdout.split('\n').filter((l) => /^\s*\d+ +\d\.\d{3}e[-+]\d+ /.test(l)).map((l) => Number(l.trim().split(/\s+/)[0]));
    expect(steps).toEqual([...Array.from({ length: 15 }, (_, i) => 2 * i + 1), 30]);
    expect(r.stdout).toContain('\n30 steps\n');
    const same = await run(['lr-find', '--quiet', ...ROWS, '--start-lr', '0.001', '--end-lr', '0.001']);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/^simdnn: --end-lr: expected a number above --start-lr \(0\.001\), got 0\.001\n/);
  });

  it('a --batch above the training rows takes them all, as train does; a chart of a run whose loss went non-finite leaves that step out', async () => {
    const big = await run(['lr-find', ...ROWS, '--steps', '6', '--batch', '100000']);
    expect(big.code, big.stderr).toBe(0);
    expect(big.stderr).toMatch(/^simdnn: lr-find: mlp 784-20-10 relu init he, sgd, batch 300, 6 steps from 1e-7 to 10, mnist \(300 train\)\n$/);
    // rates of 1e10 and more: the loss is no longer finite by the third step, within the 5 steps the chart would leave out of a longer run
    const chart = path.join(tmp, 'non-finite.json');
    const r = await run(['lr-find', '--quiet', ...ROWS, '--steps', '6', '--start-lr', '1e10', '--end-lr', '1e20', '--no-stop-div', '--json', '--chart', chart]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { stopReason: string; lrs: number[]; smoothed: Array<number | null> };
    expect(result.stopReason).toBe('nonFinite');
    expect(result.smoothed.at(-1)).toBeNull();
    const points = (JSON.parse(await readFile(chart, 'utf8')) as { layer: Array<{ data: { values: Array<{ lr: number; smoothed: number }> } }> }).layer[0].data.values;
    expect(points.map((p) => p.lr)).toEqual(result.lrs.slice(0, -1));
    expect(points.map((p) => p.smoothed)).toEqual(result.smoothed.slice(0, -1));
  });
});

describe('simdnn info', () => {
  it('of a checkpoint: the net\'s parameters and tensors, the optimizer\'s steps; a metadata value over 200 characters is cut, saying its length; one model file only', async () => {
    const ck = path.join(tmp, 'info-{epoch}.safetensors');
    const r = await run(['train', '--quiet', ...SMALL, '--epochs', '1', '--checkpoint', ck, '--checkpoint-every', '1']);
    expect(r.code, r.stderr).toBe(0);
    const info = await run(['info', ck.replace('{epoch}', '1')]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/^optimizer +sgd lr 0\.1, 18 steps$/m);
    // the net's tensors only (a checkpoint holds the optimizer's beside them)
    expect(info.stdout).toMatch(/^parameters +15,910 in 4 tensors$/m);
    const rt = await createRuntime({ threads: 1 });
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const file = path.join(tmp, 'long-metadata.safetensors');
    await writeModelFile(file, net, { metadata: { note: 'ab'.repeat(150), short: 'x'.repeat(200) } });
    net.dispose();
    await rt.dispose();
    const long = await run(['info', file]);
    expect(long.code, long.stderr).toBe(0);
    expect(long.stdout).toContain(`\n  note: ${'ab'.repeat(100)}… (300 characters)\n  short: ${'x'.repeat(200)}\n`);
    const two = await run(['info', file, file]);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/^simdnn: expected one model file, got 2\n/);
    expect(two.stdout).toBe('');
  });
});

describe('simdnn experiment', () => {
  it('one experiment without --out or --seed: its two files in ./experiments, seed 1, and no index.html (the page of several)', async () => {
    const dir = path.join(tmp, 'experiment-cwd');
    await mkdir(dir);
    const cwd = process.cwd();
    process.chdir(dir);
    let r: Awaited<ReturnType<typeof run>>;
    try {
      r = await run(['experiment', 'optimizer-naive', '--quick', '--quiet']);
    } finally {
      process.chdir(cwd);
    }
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${path.join('experiments', 'optimizer-naive.json')}\n${path.join('experiments', 'optimizer-naive.svg')}\n`);
    const out = path.join(dir, 'experiments');
    expect((JSON.parse(await readFile(path.join(out, 'optimizer-naive.json'), 'utf8')) as { seed: number }).seed).toBe(1);
    expect((await readdir(out)).sort()).toEqual(['optimizer-naive.json', 'optimizer-naive.svg']);
  });

  it('stopped by SIGTERM: exit 143 (SIGINT: 130), saying so', async () => {
    for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
      const controller = new AbortController();
      controller.abort(signal);
      const stdout = new Capture(), stderr = new Capture();
      const got = await main(['experiment', 'optimizer-naive', '--quick', '--quiet', '--out', path.join(tmp, `experiment-${signal}`)], { stdout, stderr }, { signal: controller.signal });
      expect(got, stderr.text).toBe(code);
      expect(stderr.text).toBe(`simdnn: experiment interrupted (${signal})\n`);
      expect(stdout.text).toBe('');
    }
  });
});
