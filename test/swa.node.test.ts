// `simdnn train --swa start[:lr=x,annealEpochs=n,annealStrategy=cos|linear]`: the run ends with the average (batch-norm
// statistics recomputed), its checkpoints keep it (swa.<name> tensors, which `simdnn info` names), --resume ends with the
// uninterrupted run's bits (from a checkpoint written the old way too, the average as ema.<name>), and the flag's bad
// values are usage errors named before anything loads.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TrainReport } from '../src/node/cli/index.js';
import { runCli } from './helpers/cli.js';
import { readModelFile, readModelInfo } from '../src/node/model-file.js';
import { createRuntime } from '../src/node/runtime.js';
import { disposeData, loadData } from '../src/node/cli/common.js';
import { expectBits } from './helpers/runtime.js';
import { saveModel } from '../src/io/model.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-swa-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

const SMALL = ['--train-rows', '300', '--test-rows', '100', '--hidden', '20', '--epochs', '3', '--optimizer', 'adam', '--lr', '0.01'];

describe('simdnn train --swa', () => {
  it('ends the run with the average and its batch-norm statistics (figures the raw ones\', `averaged` the saved model\'s); --resume keeps it to the same bits', async () => {
    const args = [...SMALL, '--net', 'mlp-extend', '--batchnorm'];
    const raw = path.join(tmp, 'raw.safetensors'), swa = path.join(tmp, 'swa.safetensors'), ck = path.join(tmp, 'swa-ck-{epoch}.safetensors');
    const a = await runCli(['train', '--json', '--quiet', ...args, '--save', raw]);
    const b = await runCli(['train', '--json', '--quiet', ...args, '--swa', '2:lr=0.005,annealEpochs=1', '--save', swa, '--checkpoint', ck, '--checkpoint-every', '1']);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const ra = JSON.parse(a.stdout) as TrainReport, rb = JSON.parse(b.stdout) as TrainReport;
    // the same first two epochs; the third at SWALR's rate (annealed to 0.005 in one epoch)
    expect(rb.history.slice(0, 2)).toEqual(ra.history.slice(0, 2).map((h) => ({ ...h, seconds: expect.any(Number) })));
    expect(rb.history.map((h) => h.lr)).toEqual([0.01, 0.01, 0.005]);
    const ck2 = ck.replace('{epoch}', '2');
    const info = readModelInfo(ck2);
    expect(info.tensors.filter((t) => t.name.startsWith('swa.')).map((t) => t.name).sort(), 'the checkpoint\'s average').toEqual(['swa.W1', 'swa.W2', 'swa.b1', 'swa.b2', 'swa.beta1', 'swa.gamma1']);
    expect(info.tensors.filter((t) => t.name.startsWith('ema.'))).toEqual([]);
    expect(info.average).toBe('swa');
    expect((await runCli(['info', ck2])).stdout).toMatch(/^average +swa: stochastic weight averaging's average of the parameters \(swa\.<name> tensors\)$/m);
    expect(JSON.parse(info.metadata['train.settings'])).toMatchObject({ swa: { start: 2, lr: 0.005, annealEpochs: 1 } });
    expect(JSON.parse(info.metadata['train.state'])).toMatchObject({ swa: { start: 2, models: 1 } });
    const resumed = path.join(tmp, 'swa-resumed.safetensors');
    const c = await runCli(['train', '--json', '--quiet', '--resume', ck2, '--save', resumed]);
    expect(c.code, c.stderr).toBe(0);
    const rt = await createRuntime({ threads: 1 });
    const x = readModelFile(rt, raw), y = readModelFile(rt, swa), z = readModelFile(rt, resumed);
    expect(Array.from(y.net.params.W1.toArray())).not.toEqual(Array.from(x.net.params.W1.toArray()));
    expect(Array.from(y.net.state.runningMean1.toArray()), 'statistics recomputed').not.toEqual(Array.from(x.net.state.runningMean1.toArray()));
    const test = await loadData(rt, 'mnist', { flatten: true, testRows: 100 });
    const figures = y.net.evaluate(test.xTest, test.tTest);
    expect(rb.averaged).toEqual({ testAcc: figures.accuracy, testLoss: figures.loss });
    expect(ra.averaged).toBeUndefined();
    disposeData(test);
    for (const [k, t] of Object.entries({ ...y.net.params, ...y.net.state })) expectBits(({ ...z.net.params, ...z.net.state } as Record<string, typeof t>)[k].toArray(), t.toArray(), `${k} resumed`);
    // the checkpoint as they were written before swa.<name> (the average as ema.<name> beside train.state's swa
    // record): info says whose it is, and --resume ends with the same bits
    const saved = readModelFile(rt, ck2), old = path.join(tmp, 'swa-ck-2-old.safetensors');
    await writeFile(old, saveModel(saved.net, { optimizer: saved.optimizer, ema: saved.swa, trainLoss: saved.trainLoss, metadata: saved.metadata }));
    expect(readModelInfo(old).tensors.filter((t) => t.name.startsWith('ema.'))).toHaveLength(6);
    expect((await runCli(['info', old])).stdout).toMatch(/^average +swa: stochastic weight averaging's average of the parameters \(ema\.<name> tensors, as checkpoints held it before swa\.<name>\)$/m);
    expect(JSON.parse((await runCli(['info', '--json', old])).stdout)).toMatchObject({ average: 'swa' });
    const resumedOld = path.join(tmp, 'swa-resumed-old.safetensors');
    const d = await runCli(['train', '--json', '--quiet', '--resume', old, '--save', resumedOld]);
    expect(d.code, d.stderr).toBe(0);
    const w = readModelFile(rt, resumedOld);
    for (const [k, t] of Object.entries({ ...y.net.params, ...y.net.state })) expectBits(({ ...w.net.params, ...w.net.state } as Record<string, typeof t>)[k].toArray(), t.toArray(), `${k} resumed the old way`);
    // an ema's average (no swa record beside it), and none
    const emaFile = path.join(tmp, 'ema-average.safetensors');
    await writeFile(emaFile, saveModel(saved.net, { ema: saved.swa }));
    expect((await runCli(['info', emaFile])).stdout).toMatch(/^average +ema: an exponential moving average of the parameters \(ema\.<name> tensors\)$/m);
    expect((await runCli(['info', raw])).stdout).toMatch(/^average +none$/m);
    expect(JSON.parse((await runCli(['info', '--json', raw])).stdout)).toMatchObject({ average: null });
    saved.optimizer?.dispose();
    for (const m of [x, y, z, w, saved]) m.net.dispose();
    await rt.dispose();
  });

  it('a run that ends before start reports no average', async () => {
    const r = await runCli(['train', '--json', '--quiet', ...SMALL, '--swa', '4']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as TrainReport).averaged).toBeUndefined();
  });

  it('is in the help; bad values and --ema beside it are usage errors', async () => {
    const help = await runCli(['train', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}--swa <start\[:k=v,\.\.\.\]> +stochastic weight averaging \(PyTorch's swa_utils\)/m);
    const cases: Array<[string[], RegExp]> = [
      [['--swa', '0'], /--swa: expected an integer >= 1, got '0'/],
      [['--swa', 'late'], /--swa: expected an integer >= 1, got 'late'/],
      [['--swa', '2:lr=0'], /--swa: lr must be a positive number, got 0/],
      [['--swa', '2:annealEpochs=3'], /--swa: annealEpochs shapes the annealing to lr: give lr=x too/],
      [['--swa', '2:lr=0.1,annealEpochs=1.5'], /--swa: annealEpochs must be an integer >= 0, got 1\.5/],
      [['--swa', '2:lr=0.1,annealStrategy=exp'], /--swa: annealStrategy must be cos or linear, got 'exp'/],
      [['--swa', '2:start=3'], /--swa: unknown key 'start' \(expected lr, annealEpochs, annealStrategy\)/],
      [['--swa', '2', '--ema', '0.9'], /--swa: give --swa or --ema, not both/],
    ];
    for (const [flags, message] of cases) {
      const r = await runCli(['train', '--quiet', ...flags]);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr, flags.join(' ')).toMatch(message);
    }
  });
});
