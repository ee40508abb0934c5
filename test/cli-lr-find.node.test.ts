// `simdnn lr-find`: the table and suggestions, --json with the whole result (the library's lrFinder on the same net,
// data and seed gives the same bits; with --class-weights and --balanced too), the chart files, and bad command lines
// (exit 2, before anything runs).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli, exists } from './helpers/cli.js';
import { createRuntime } from '../src/node/runtime.js';
import { loadMnist } from '../src/node/data.js';
import { MultiLayerNet, lrFinder, lrFinderRate, type LRFinderResult } from '../src/index.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-lr-find-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

const SMALL = ['--train-rows', '300', '--hidden', '20', '--threads', '1', '--quiet'];

describe('simdnn lr-find', () => {
  it('prints every few steps\' rate, loss and smoothed loss, why it stopped and the three suggestions', async () => {
    const r = await runCli(['lr-find', ...SMALL, '--steps', '40', '--start-lr', '1e-4', '--end-lr', '100']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0].trim().split(/\s+/)).toEqual(['step', 'lr', 'loss', 'smoothed']);
    const rows = lines.filter((l) => /^\s*\d+\s/.test(l)).map((l) => l.trim().split(/\s+/));
    // every 2nd step (⌈40/20⌉) from the first, and the last
    expect(rows[0][0]).toBe('1');
    expect(rows[1][0]).toBe('3');
    expect(Number(rows[0][1])).toBe(1e-4);
    expect(Number(rows[1][1])).toBeCloseTo(lrFinderRate(1e-4, 100, 2, 40), 6);
    expect(r.stdout).toMatch(/suggested learning rates:\n {2}valley {3}\d\.\d{3}e[-+]\d+\n {2}steep {4}\d\.\d{3}e[-+]\d+\n {2}minimum {2}\d\.\d{3}e[-+]\d+\n$/);
    expect(r.stdout).toMatch(/\n(40 steps|stopped at step \d+ of 40: .*)\n/);
    // the suggestions shown are the result's
    const j = JSON.parse((await runCli(['lr-find', ...SMALL, '--steps', '40', '--start-lr', '1e-4', '--end-lr', '100', '--json'])).stdout) as LRFinderResult;
    const shown = (k: 'valley' | 'steep' | 'minimum') => r.stdout.match(new RegExp(`\n  ${k} +(\\S+)\n`))![1];
    for (const k of ['valley', 'steep', 'minimum'] as const) expect(shown(k), k).toBe(j.suggestions[k]!.toExponential(3));
    const start = await runCli(['lr-find', ...SMALL.filter((a) => a !== '--quiet'), '--steps', '6']);
    expect(start.stderr).toMatch(/^simdnn: lr-find: mlp 784-20-10.*, sgd, batch 16, 6 steps from 1e-7 to 10, mnist \(300 train\)\n$/);
  });

  it('--json prints the whole result: the library\'s lrFinder on the same net, rows and seed, bit for bit', async () => {
    const r = await runCli(['lr-find', ...SMALL, '--steps', '30', '--batch', '20', '--seed', '3', '--optimizer', 'momentum', '--momentum', '0.8', '--json']);
    expect(r.code).toBe(0);
    const got = JSON.parse(r.stdout) as LRFinderResult & Record<string, unknown>;
    expect(got).toMatchObject({ net: 'mlp', optimizer: 'momentum', batch: 20, startLr: 1e-7, endLr: 10, steps: 30, stopDiv: true });
    // a --batch past the training rows runs on them all, and --json says the batch it ran
    const capped = await runCli(['lr-find', ...SMALL, '--steps', '6', '--batch', '100000', '--json']);
    expect(JSON.parse(capped.stdout).batch).toBe(300);
    const rt = await createRuntime({ seed: 3, threads: 1 });
    const data = await loadMnist(rt, { flatten: true, trainRows: 300 });
    const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [20], outputSize: 10, weightInitStd: 'he' });
    const want = lrFinder(net, data.xTrain, data.tTrain, { optimizer: 'momentum', optimizerParams: { lr: 0.01, momentum: 0.8 }, steps: 30, batchSize: 20 });
    await rt.dispose();
    const nulls = (a: number[]) => a.map((v) => (Number.isFinite(v) ? v : null));
    expect({ lrs: got.lrs, losses: got.losses, smoothed: got.smoothed, suggestions: got.suggestions, stopReason: got.stopReason })
      .toEqual({ ...want, losses: nulls(want.losses), smoothed: nulls(want.smoothed) });
  });

  it('--class-weights weights the loss as simdnn train\'s does: the library\'s lrFinder on a net with those weights, bit for bit', async () => {
    const weights = [1, 2, 0.5, 1, 1, 3, 1, 1, 0.25, 1];
    const r = await runCli(['lr-find', ...SMALL, '--steps', '12', '--seed', '3', '--class-weights', weights.join(','), '--json']);
    expect(r.stderr).toBe('');
    const got = JSON.parse(r.stdout) as LRFinderResult;
    const rt = await createRuntime({ seed: 3, threads: 1 });
    const data = await loadMnist(rt, { flatten: true, trainRows: 300 });
    const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [20], outputSize: 10, weightInitStd: 'he', classWeights: weights });
    const want = lrFinder(net, data.xTrain, data.tTrain, { optimizer: 'sgd', optimizerParams: { lr: 0.01 }, steps: 12, batchSize: 16 });
    await rt.dispose();
    expect(got.losses).toEqual(want.losses);
    const plain = JSON.parse((await runCli(['lr-find', ...SMALL, '--steps', '12', '--seed', '3', '--json'])).stdout) as LRFinderResult;
    expect(plain.losses[0]).not.toBe(got.losses[0]);
  });

  it('--balanced draws class-balanced batches as simdnn train\'s does: the library\'s lrFinder with sampleWeights \'balanced\', bit for bit', async () => {
    const args = ['lr-find', ...SMALL, '--steps', '12', '--seed', '3', '--json'];
    const r = await runCli([...args, '--balanced']);
    expect(r.stderr).toBe('');
    const got = JSON.parse(r.stdout) as LRFinderResult & { balanced: boolean };
    expect(got.balanced).toBe(true);
    const rt = await createRuntime({ seed: 3, threads: 1 });
    const data = await loadMnist(rt, { flatten: true, trainRows: 300 });
    const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [20], outputSize: 10, weightInitStd: 'he' });
    const options = { optimizer: 'sgd', optimizerParams: { lr: 0.01 }, steps: 12, batchSize: 16 } as const;
    const want = lrFinder(net, data.xTrain, data.tTrain, { ...options, sampleWeights: 'balanced' });
    // uniform draws with replacement: what the flag changes is the rows' weights, not only the way of drawing
    const uniform = lrFinder(net, data.xTrain, data.tTrain, { ...options, sampleWeights: new Array<number>(300).fill(1) });
    // bad weights: refused as the Trainer refuses them, said as lrFinder's, the stream as it was
    const state = rt.randomState;
    expect(() => lrFinder(net, data.xTrain, data.tTrain, { ...options, sampleWeights: 'even' as 'balanced' })).toThrow(/^lrFinder: sampleWeights must be 'balanced' or one weight per training row, got 'even'$/);
    expect(() => lrFinder(net, data.xTrain, data.tTrain, { ...options, sampleWeights: [1, 2] })).toThrow(/^lrFinder: sampleWeights must hold one weight per training row \(300\), got 2$/);
    expect(rt.randomState).toEqual(state);
    await rt.dispose();
    expect(got.losses).toEqual(want.losses);
    expect(got.losses).not.toEqual(uniform.losses);
    const plain = JSON.parse((await runCli(args)).stdout) as LRFinderResult & { balanced: boolean };
    expect(plain.balanced).toBe(false);
    expect(plain.losses).not.toEqual(got.losses);
    const start = await runCli(['lr-find', ...SMALL.filter((a) => a !== '--quiet'), '--steps', '6', '--balanced']);
    expect(start.stderr).toMatch(/^simdnn: lr-find: mlp 784-20-10.*, sgd, batch 16 \(class-balanced\), 6 steps from/);
  });

  it('stops once the smoothed loss passes 4 times its best, and with --no-stop-div runs on', async () => {
    const args = ['lr-find', ...SMALL, '--steps', '100', '--start-lr', '1e-2', '--end-lr', '1e4', '--json'];
    const stopped = JSON.parse((await runCli(args)).stdout) as LRFinderResult & { stopDiv: boolean };
    expect(stopped.stopDiv).toBe(true);
    expect(stopped.stopReason).toBe('diverged');
    expect(stopped.lrs.length).toBeLessThan(100);
    const on = JSON.parse((await runCli([...args, '--no-stop-div'])).stdout) as LRFinderResult & { stopDiv: boolean };
    expect(on.stopDiv).toBe(false);
    expect(on.stopReason).not.toBe('diverged');
    expect(on.lrs.length).toBeGreaterThan(stopped.lrs.length);
    expect(on.lrs.slice(0, stopped.lrs.length)).toEqual(stopped.lrs);
  });

  it('--chart writes the smoothed loss against the rate on a log axis, as .json, .html (and .svg with vega)', async () => {
    const json = path.join(tmp, 'lr.json'), html = path.join(tmp, 'lr.html');
    const r = await runCli(['lr-find', ...SMALL, '--steps', '20', '--json', '--chart', json]);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as LRFinderResult;
    const spec = JSON.parse(await readFile(json, 'utf8'));
    expect(spec.$schema).toMatch(/vega-lite/);
    const [line, rules] = spec.layer;
    expect(line.mark).toBe('line');
    expect(line.encoding.x).toMatchObject({ field: 'lr', scale: { type: 'log' } });
    expect(line.encoding.y.field).toBe('smoothed');
    // fastai's plot leaves the last 5 steps out
    expect(line.data.values.map((p: { lr: number }) => p.lr)).toEqual(result.lrs.slice(0, -5));
    expect(line.data.values.map((p: { smoothed: number }) => p.smoothed)).toEqual(result.smoothed.slice(0, -5));
    expect(rules.data.values).toEqual(Object.entries(result.suggestions).filter(([, v]) => v !== null).map(([suggestion, lr]) => ({ suggestion, lr })));
    expect((await runCli(['lr-find', ...SMALL, '--steps', '20', '--chart', html])).code).toBe(0);
    const page = await readFile(html, 'utf8');
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('vegaEmbed(\'#chart\', {"$schema"');
    expect(page).toContain('"scale":{"type":"log"}');
    const hasVega = await import('vega').then(() => true, () => false);
    if (hasVega) {
      const svg = path.join(tmp, 'lr.svg');
      expect((await runCli(['lr-find', ...SMALL, '--steps', '20', '--chart', svg])).code).toBe(0);
      expect(await readFile(svg, 'utf8')).toMatch(/^<svg/);
    }
  });

  it('refuses bad flags with exit 2 before anything runs', async () => {
    const bad: Array<[string[], RegExp]> = [
      [['--start-lr', '0'], /--start-lr: expected a positive number/],
      [['--start-lr', 'x'], /--start-lr: expected a number/],
      [['--end-lr', '1e-8'], /--end-lr: expected a number above --start-lr/],
      [['--steps', '5'], /--steps: expected an integer >= 6/],
      [['--chart', path.join(tmp, 'lr.png')], /--chart: expected a file ending in .html, .svg or .json/],
      [['--chart', path.join(tmp, 'no-such-dir', 'lr.json')], /--chart/],
      [['--optimizer', 'nope'], /--optimizer: unknown name 'nope'/],
      [['--lr', '0.1'], /Unknown option '--lr'/],
      [['--epochs', '3'], /Unknown option '--epochs'/],
      [['--momentum', '0.9'], /--momentum: --optimizer sgd has no such option/],
      [['--data', path.join(tmp, 'missing')], /--data/],
      [['--class-weights', '1,2,3'], /--class-weights: expected 10 weights \(one per class of the data\), got 3/],
      [['--class-weights', '1,-2'], /--class-weights: each weight must be a finite number >= 0/],
    ];
    for (const [args, message] of bad) {
      const r = await runCli(['lr-find', ...SMALL, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).toMatch(/Run 'simdnn lr-find --help' for usage/);
      expect(r.stdout).toBe('');
    }
    expect(await exists(path.join(tmp, 'lr.png'))).toBe(false);
  });

  it('has help with its options and examples, and is listed', async () => {
    const r = await runCli(['lr-find', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--start-lr', '--end-lr', '--steps', '--no-stop-div', '--chart', '--json', '--net', '--optimizer', '--batch', '--data', '--seed', '--class-weights']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toMatch(/^ {2}--balanced +class-balanced batches, as `simdnn train --balanced` draws them/m);
    expect(r.stdout).toMatch(/Examples:\n {2}simdnn lr-find\n/);
    expect((await runCli(['--help'])).stdout).toMatch(/\n {2}lr-find +learning-rate range test/);
  });
});

