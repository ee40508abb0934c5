// `simdnn train` beyond the basics: a model is never lost (the save path is
// checked before training, a failed write falls back to the working directory,
// SIGINT/SIGTERM — real child processes — and a run that fails save the last
// completed epoch), a resumed checkpoint ends with the same bits as the
// uninterrupted run, the Trainer options (schedule, augmentation, validation,
// early stop, iterations), and the command-line edges of issue 12.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainReport } from '../src/node/cli/index.js';
import { runCli, runWatchingStderr, type ChildRun } from './helpers/cli.js';
import { readModelFile, readModelInfo, writeModelFile } from '../src/node/model-file.js';
import { createRuntime, usableThreads } from '../src/node/runtime.js';
import { encodeIdx } from '../src/data/idx.js';
import { disposeData, loadData } from '../src/node/cli/common.js';
import { expectBits, rng } from './helpers/runtime.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bin = path.join(root, 'dist', 'node', 'cli.cjs');
let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-train-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

const run = (argv: string[]) => runCli(argv);

const SMALL = ['--train-rows', '300', '--test-rows', '100', '--hidden', '20'];

/** An IDX directory with `train` rows of 6x5 images labelled by `label(i)` and `test` rows labelled i % 5. */
async function idxDir(name: string, train: number, test: number, label: (i: number) => number): Promise<string> {
  const dir = path.join(tmp, name);
  await mkdir(dir);
  const next = rng(11);
  const part = async (part: string, n: number, lab: (i: number) => number) => {
    await writeFile(path.join(dir, `${part}-images-idx3-ubyte`), encodeIdx([n, 6, 5], Uint8Array.from({ length: n * 30 }, () => Math.floor(next() * 256))));
    await writeFile(path.join(dir, `${part}-labels-idx1-ubyte`), encodeIdx([n], Uint8Array.from({ length: n }, (_, i) => lab(i))));
  };
  await part('train', train, label);
  await part('t10k', test, (i) => i % 5);
  return dir;
}

/** Runs the built bin; `onLine` sees each stderr line and may signal the child. Stops it after 60 s whatever happens. */
function child(args: string[], onLine?: (line: string, kill: (signal: NodeJS.Signals) => void) => void, nodeFlags: string[] = []): Promise<ChildRun> {
  return runWatchingStderr(process.execPath, [...nodeFlags, bin, ...args], { cwd: tmp, onLine: onLine && ((line, p) => onLine(line, (s) => p.kill(s))) });
}

describe('saving never loses a model', () => {
  it('a path that cannot take the model fails before training, with exit 2', async () => {
    await mkdir(path.join(tmp, 'a-dir'));
    const cases: Array<[string, RegExp]> = [
      ['/dev/full', /--save: '\/dev\/full' is not a regular file/],
      [path.join(tmp, 'a-dir'), /--save: '.*a-dir' is a directory/],
      ['/proc/simdnn-model.safetensors', /--save: cannot create a file in '\/proc'/],
      ['', /--save: the path is empty/],
      [path.join(tmp, 'missing', 'm.safetensors'), /--save: the directory of '.*' does not exist/],
    ];
    for (const [file, message] of cases) {
      const r = await run(['train', ...SMALL, '--save', file]);
      expect(r.code, file).toBe(2);
      expect(r.stderr, file).toMatch(message);
      expect(r.stderr, `${file}: no training`).not.toMatch(/epoch/);
    }
    expect((await readdir(tmp)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a write that fails after training falls back to a file in the working directory and says where (child process)', async () => {
    expect(existsSync(bin), `${bin} is missing: run npm run build:ts first`).toBe(true);
    const dir = path.join(tmp, 'vanishing');
    await mkdir(dir);
    let removed = false;
    // the directory goes away while training runs, after the check: at once when epoch 1 ends, with 39 more
    // epochs to go (with 1, the child once finished and saved before the directory was gone)
    const r = await child(['train', '--epochs', '40', ...SMALL, '--save', path.join(dir, 'm.safetensors')], (line) => {
      if (!removed && line.startsWith('epoch 1/40')) { removed = true; rmSync(dir, { recursive: true, force: true }); }
    });
    expect(removed).toBe(true);
    expect(r.code, r.stderr).toBe(1);
    const m = /saved the model to (.*simdnn-model-.*\.safetensors) instead/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(path.dirname(m![1])).toBe(tmp);
    expect(r.stderr).toMatch(/error: cannot write the model to .*vanishing.*m\.safetensors/);
    expect(readModelInfo(m![1]).spec).toMatchObject({ kind: 'mlp' });
  });

  it('a checkpoint that cannot be written ends the run after its epoch, and the message names that epoch (child process)', async () => {
    const dir = path.join(tmp, 'vanishing-checkpoints');
    await mkdir(dir);
    const file = path.join(tmp, 'after-checkpoint.safetensors');
    let removed = false;
    const r = await child(['train', '--epochs', '40', ...SMALL, '--save', file, '--checkpoint', path.join(dir, 'ck-{epoch}.safetensors'), '--checkpoint-every', '1'], (line) => {
      if (!removed && line.startsWith('epoch 1/40')) { removed = true; rmSync(dir, { recursive: true, force: true }); }
    });
    expect(removed).toBe(true);
    expect(r.code, r.stderr).toBe(1);
    // the epoch whose checkpoint failed had ended: its model is saved, and no epoch past the run's is named
    const m = /simdnn: training stopped after epoch (\d+) \(writing its checkpoint failed\); saved the model of epoch (\d+) to (.*)\n/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(m![1]).toBe(m![2]);
    expect(m![3]).toBe(file);
    expect(JSON.parse(readModelInfo(file).metadata['train.result']).epochs).toBe(Number(m![1]));
    for (const f of (await readdir(tmp)).filter((n) => n.startsWith('simdnn-model-'))) rmSync(path.join(tmp, f)); // the checkpoint's fallback
  });

  it('a run that fails after an epoch saves the last completed epoch and exits 1; without --save the error stands', async () => {
    // epoch 2's learning rate (0.1 · 1e37) sends the activations to Inf: the loss is NaN
    const diverging = ['--epochs', '5', '--lr', '0.1', '--lr-schedule', 'exponential:gamma=1e37', ...SMALL];
    const file = path.join(tmp, 'failed.safetensors'), ref = path.join(tmp, 'epoch-1.safetensors');
    const r = await run(['train', ...diverging, '--save', file]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/simdnn: error: SoftmaxWithLoss: the loss is NaN/);
    expect(r.stderr).toContain(`simdnn: training stopped in epoch 2; saved the model of epoch 1 to ${file}\n`);
    const result = JSON.parse(readModelInfo(file).metadata['train.result']) as { epochs: number; failed: string };
    expect(result.epochs).toBe(1);
    expect(result.failed).toMatch(/^SoftmaxWithLoss: the loss is NaN/);
    // the saved model is epoch 1's: the same bits as a run of that one epoch
    expect((await run(['train', '--quiet', ...diverging.slice(2), '--epochs', '1', '--save', ref])).code).toBe(0);
    const rt = await createRuntime({ threads: 1 });
    const x = readModelFile(rt, ref), y = readModelFile(rt, file);
    for (const [k, t] of Object.entries(x.net.params)) expectBits((y.net.params as Record<string, typeof t>)[k].toArray(), t.toArray(), k);
    x.net.dispose(); y.net.dispose();
    await rt.dispose();
    const bare = await run(['train', ...diverging]);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/simdnn: error: SoftmaxWithLoss: the loss is NaN/);
    expect(bare.stderr).not.toMatch(/saved/);
  });

  it('a run that diverges in its first epoch saves nothing and says so (exit 1); a file already at --save is left as it was', async () => {
    const file = path.join(tmp, 'diverged-at-once.safetensors');
    await writeFile(file, 'an older model');
    const r = await run(['train', ...SMALL, '--lr', '1e30', '--save', file]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/simdnn: error: .*(NaN|Inf).*lower the learning rate/);
    expect(r.stderr).toContain(`simdnn: training stopped before the first epoch of this run ended; no model saved, '${file}' not written\n`);
    expect(r.stdout).toBe('');
    expect(await readFile(file, 'utf8')).toBe('an older model');
    expect((await readdir(tmp)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a part a worker thread trapped in runs again on the calling thread: a note, and the model of the run without the fault (child process)', async () => {
    // preloaded in the worker threads too (--require): a worker's first part of any call traps. Which
    // call that is depends on when the workers come up; a loaded machine may leave every part of a run
    // to the calling thread, so the run is repeated (at most 5 times) until a worker took one.
    const trap = path.join(tmp, 'trap-in-worker.cjs');
    await writeFile(trap, `const { isMainThread } = require('node:worker_threads');
if (!isMainThread) {
  const realInstantiate = WebAssembly.instantiate;
  let calls = 0;
  WebAssembly.instantiate = async (module, imports) => {
    const instance = await realInstantiate(module, imports);
    const exports = {};
    for (const [name, value] of Object.entries(instance.exports)) {
      exports[name] = typeof value !== 'function' ? value
        : (...args) => { if (++calls === 1) throw new WebAssembly.RuntimeError('memory access out of bounds'); return value(...args); };
    }
    return { exports };
  };
}
`);
    const args = ['train', '--json', '--threads', '2', '--hidden', '100', '--batch', '100', '--train-rows', '2000', '--test-rows', '200', '--epochs', '2', '--optimizer', 'adam', '--lr', '0.01'];
    const faulted = path.join(tmp, 'faulted.safetensors'), clean = path.join(tmp, 'clean.safetensors');
    const note = /simdnn: note: (step \d+|the evaluation after step \d+): \w+: 1 of \d+ parts failed: part \d+ of \d+ in a worker thread: RuntimeError: memory access out of bounds; ran again on the calling thread\n/;
    let a = { code: null as number | null, stdout: '', stderr: '' };
    for (let attempt = 0; attempt < 5 && !note.test(a.stderr); attempt++) {
      a = await child([...args, '--save', faulted], undefined, ['--require', trap]);
      expect(a.code, a.stderr).toBe(0);
    }
    expect(a.stderr).toMatch(note);
    const faults = (JSON.parse(a.stdout) as TrainReport).workerFaults;
    expect(faults).toHaveLength(1);
    expect(a.stderr).toContain(`${faults[0].message}; ran again on the calling thread\n`);
    const b = await child([...args, '--save', clean]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).not.toMatch(/note: /);
    const strip = (r: TrainReport) => r.history.map(({ seconds: _, ...rest }) => rest);
    expect(strip(JSON.parse(a.stdout) as TrainReport)).toEqual(strip(JSON.parse(b.stdout) as TrainReport));
    const rt = await createRuntime({ threads: 1 });
    const x = readModelFile(rt, clean), y = readModelFile(rt, faulted);
    for (const [k, t] of Object.entries(x.net.params)) expectBits((y.net.params as Record<string, typeof t>)[k].toArray(), t.toArray(), k);
    x.net.dispose(); y.net.dispose();
    await rt.dispose();
  });

  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} during training saves the last completed epoch and exits ${code} (child process)`, async () => {
      const file = path.join(tmp, `${signal}.safetensors`);
      let sent = false;
      const r = await child(['train', '--epochs', '200', ...SMALL, '--save', file], (line, kill) => {
        if (!sent && line.startsWith('epoch 2/200')) { sent = true; kill(signal); }
      });
      expect(sent, r.stderr).toBe(true);
      expect(r.code, r.stderr).toBe(code);
      const m = new RegExp(`interrupted \\(${signal}\\); saved the model of epoch (\\d+) to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).exec(r.stderr);
      expect(m, r.stderr).not.toBeNull();
      const epoch = Number(m![1]);
      expect(epoch).toBeGreaterThanOrEqual(2);
      expect(epoch).toBeLessThan(200);
      expect(JSON.parse(readModelInfo(file).metadata['train.result'])).toEqual({ epochs: epoch, interrupted: signal });
    });
  }
});

describe('checkpoints and resume', () => {
  it('--resume from an epoch-1 checkpoint ends with the same bits as the uninterrupted run (schedule, validation, Adam, batch norm)', async () => {
    const run3 = ['--net', 'mlp-extend', '--batchnorm', '--dropout', '0.1', '--optimizer', 'adam', '--lr', '0.01', '--lr-schedule', 'step:stepSize=1,gamma=0.5',
      '--val-split', '0.2', '--epochs', '3', ...SMALL];
    const full = path.join(tmp, 'full.safetensors');
    const a = await run(['train', '--json', '--quiet', ...run3, '--save', full, '--checkpoint', path.join(tmp, 'ck-{epoch}.safetensors'), '--checkpoint-every', '1']);
    expect(a.code, a.stderr).toBe(0);
    for (const e of [1, 2, 3]) expect(existsSync(path.join(tmp, `ck-${e}.safetensors`))).toBe(true);
    const ck = readModelInfo(path.join(tmp, 'ck-1.safetensors'));
    expect(ck.optimizer).toMatchObject({ name: 'adam' });
    expect(ck.tensors.some((t) => t.name === 'optimizer.m.W1')).toBe(true);
    // flags that change the run are refused with --resume
    expect((await run(['train', '--resume', path.join(tmp, 'ck-1.safetensors'), '--lr', '0.1'])).stderr).toMatch(/--lr: cannot be given with --resume/);
    expect((await run(['train', '--resume', full])).stderr).toMatch(/--resume: '.*full\.safetensors' is not a checkpoint of simdnn train/);
    const resumed = path.join(tmp, 'resumed.safetensors');
    const b = await run(['train', '--json', '--quiet', '--resume', path.join(tmp, 'ck-1.safetensors'), '--save', resumed,
      '--checkpoint', path.join(tmp, 'rk-{epoch}.safetensors'), '--checkpoint-every', '1']);
    expect(b.code, b.stderr).toBe(0);
    const ra = JSON.parse(a.stdout) as TrainReport, rb = JSON.parse(b.stdout) as TrainReport;
    expect(rb.resumedFrom).toMatch(/ck-1\.safetensors$/);
    const strip = (h: TrainReport['history']) => h.map(({ seconds: _, ...rest }) => rest);
    expect(strip(rb.history)).toEqual(strip(ra.history));
    expect(ra.history.map((h) => h.lr)).toEqual([0.01, 0.005, 0.0025]);
    expect(ra.valRows).toBe(60);
    const rt = await createRuntime({ threads: 1 });
    const x = readModelFile(rt, full), y = readModelFile(rt, resumed);
    for (const [k, t] of Object.entries({ ...x.net.params, ...x.net.state })) {
      expectBits(({ ...y.net.params, ...y.net.state } as Record<string, typeof t>)[k].toArray(), t.toArray(), k);
    }
    x.net.dispose(); y.net.dispose();
    // the resumed run's checkpoint keeps every step's loss, those before the resume included (it kept only its own)
    const ca = readModelFile(rt, path.join(tmp, 'ck-3.safetensors')), cb = readModelFile(rt, path.join(tmp, 'rk-3.safetensors'));
    expect(ca.trainLoss?.length).toBe(ra.steps);
    expect(Array.from(cb.trainLoss ?? []), 'trainer.trainLoss').toEqual(Array.from(ca.trainLoss!));
    for (const c of [ca, cb]) { c.net.dispose(); c.optimizer?.dispose(); }
    await rt.dispose();
  });

  it('--resume from the checkpoint of a run that had finished trains nothing, says so and exits 0 with the checkpoint\'s model (no time or rate of zero steps)', async () => {
    const args = ['--epochs', '2', ...SMALL];
    const full = path.join(tmp, 'finished.safetensors'), ck = path.join(tmp, 'finished-ck-{epoch}.safetensors');
    const a = await run(['train', '--json', '--quiet', ...args, '--save', full, '--checkpoint', ck, '--checkpoint-every', '1']);
    expect(a.code, a.stderr).toBe(0);
    const last = ck.replace('{epoch}', '2'), again = path.join(tmp, 'finished-again.safetensors');
    const b = await run(['train', '--resume', last, '--save', again]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain(`simdnn: note: the run in '${last}' had already finished (epoch 2, step 36 of 36); nothing trained, the result is the checkpoint's model\n`);
    expect(b.stderr).toContain(`simdnn: saved the model to ${again}\n`);
    expect(b.stderr).not.toMatch(/^epoch /m);
    const ra = JSON.parse(a.stdout) as TrainReport;
    expect(b.stdout).toBe(`train acc ${ra.trainAcc.toFixed(4)}  test acc ${ra.testAcc.toFixed(4)}  epochs 2  already finished in ${last}, nothing trained\n`);
    expect(b.stdout).not.toMatch(/steps\/s| s /);
    const rt = await createRuntime({ threads: 1 });
    const x = readModelFile(rt, full), y = readModelFile(rt, again);
    for (const [k, t] of Object.entries(x.net.params)) expectBits((y.net.params as Record<string, typeof t>)[k].toArray(), t.toArray(), k);
    x.net.dispose(); y.net.dispose();
    await rt.dispose();
    const j = await run(['train', '--json', '--quiet', '--resume', last]);
    expect(j.code, j.stderr).toBe(0);
    const rj = JSON.parse(j.stdout) as TrainReport;
    expect(rj).toMatchObject({ alreadyFinished: true, resumedFrom: last, epochs: 2, steps: 36, trainAcc: ra.trainAcc, testAcc: ra.testAcc });
    expect(ra.alreadyFinished).toBe(false);
    // a checkpoint with an epoch to go trains it, as before
    const c = await run(['train', '--json', '--quiet', '--resume', ck.replace('{epoch}', '1')]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toBe('');
    expect(JSON.parse(c.stdout) as TrainReport).toMatchObject({ alreadyFinished: false, epochs: 2, testAcc: ra.testAcc });
  });

  it('--resume from the checkpoint of the epoch where early stopping ended the run trains nothing: the run\'s model (its best epoch\'s)', async () => {
    const args = ['--epochs', '30', '--lr', '3', '--val-split', '0.3', '--early-stop', '1', ...SMALL];
    const full = path.join(tmp, 'stopped.safetensors'), ck = path.join(tmp, 'stopped-ck-{epoch}.safetensors');
    const a = await run(['train', '--json', '--quiet', ...args, '--save', full, '--checkpoint', ck, '--checkpoint-every', '1']);
    expect(a.code, a.stderr).toBe(0);
    const ra = JSON.parse(a.stdout) as TrainReport;
    expect(ra.epochs).toBeLessThan(30); // early stopping ended it
    const last = ck.replace('{epoch}', String(ra.epochs)), again = path.join(tmp, 'stopped-again.safetensors');
    const b = await run(['train', '--json', '--resume', last, '--save', again]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain(`simdnn: note: the run in '${last}' had already finished (early stopping ended it at epoch ${ra.epochs}); nothing trained`);
    expect(JSON.parse(b.stdout) as TrainReport).toMatchObject({ alreadyFinished: true, epochs: ra.epochs, bestEpoch: ra.bestEpoch, valAcc: ra.valAcc, testAcc: ra.testAcc });
    const rt = await createRuntime({ threads: 1 });
    const x = readModelFile(rt, full), y = readModelFile(rt, again);
    for (const [k, t] of Object.entries(x.net.params)) expectBits((y.net.params as Record<string, typeof t>)[k].toArray(), t.toArray(), k);
    x.net.dispose(); y.net.dispose();
    await rt.dispose();
  });

  it('a checkpoint whose stored settings or position are damaged is refused naming the key (exit 2, before data loads)', async () => {
    const ck = path.join(tmp, 'damaged-{epoch}.safetensors');
    const a = await run(['train', '--quiet', ...SMALL, '--epochs', '1', '--checkpoint', ck, '--checkpoint-every', '1']);
    expect(a.code, a.stderr).toBe(0);
    const rt = await createRuntime({ threads: 1 });
    const { net, optimizer, metadata } = readModelFile(rt, ck.replace('{epoch}', '1'));
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ 'train.settings': '{"epochs": 2,' }, /--resume: '.*damaged\.safetensors': train\.settings is not valid JSON/],
      [{ 'train.settings': 'null' }, /train\.settings must be an object of the run's settings, got null/],
      [{ 'train.settings': '{"epochs": -5}' }, /train\.settings\.epochs must be a positive integer, got -5/],
      [{ 'train.settings': '{"lr": 0.1}' }, /train\.settings has an unknown setting 'lr'/],
      [{ 'train.settings': '{"hidden": "100"}' }, /train\.settings\.hidden must be an array, got "100"/],
      [{ 'train.settings': '{"earlyStop": 2, "earlyStopMonitor": "valAcc"}' }, /train\.settings\.earlyStopMonitor must be one of val-loss, val-acc, train-loss, train-acc, got "valAcc"/],
      [{ 'train.state': '[1]' }, /train\.state must be an object \(the Trainer's position\), got \[1\]/],
    ];
    const damaged = path.join(tmp, 'damaged.safetensors');
    for (const [edit, message] of cases) {
      await writeModelFile(damaged, net, { optimizer, metadata: { ...metadata, ...edit } });
      const r = await run(['train', '--resume', damaged]);
      expect(r.code, JSON.stringify(edit)).toBe(2);
      expect(r.stderr, JSON.stringify(edit)).toMatch(message);
    }
    net.dispose();
    optimizer!.dispose();
    await rt.dispose();
  });
});

describe('Trainer options on the command line', () => {
  it('--iterations, --early-stop and --augment reach the Trainer', async () => {
    const it = JSON.parse((await run(['train', '--json', '--quiet', ...SMALL, '--iterations', '25'])).stdout) as TrainReport;
    expect(it.steps).toBe(25);
    // a batch larger than the training rows is the rows, as trained (the report gave the flag's 100000)
    expect(JSON.parse((await run(['train', '--json', '--quiet', ...SMALL, '--iterations', '1', '--batch', '100000'])).stdout)).toMatchObject({ batch: 300, trainRows: 300 });
    expect(JSON.parse((await run(['train', '--json', '--quiet', '--train-rows', '300', '--test-rows', '100', '--hidden', 'none', '--iterations', '1'])).stdout)).toMatchObject({ netOptions: { hiddenSizeList: [] } });
    expect(it.history.map((h) => h.steps)).toEqual([18, 7]);
    const kept = path.join(tmp, 'early.safetensors');
    const es = await run(['train', '--json', '--quiet', ...SMALL, '--lr', '3', '--val-split', '0.3', '--early-stop', '1', '--epochs', '30', '--save', kept]);
    expect(es.code, es.stderr).toBe(0);
    const r = JSON.parse(es.stdout) as TrainReport;
    expect(r.stopReason).toBe('earlyStopping');
    expect(r.epochs).toBe(r.bestEpoch! + 1);
    // the figures are those of the parameters kept (the best epoch's), in the report and in the file
    const best = r.history[r.bestEpoch! - 1];
    expect([r.trainAcc, r.testAcc, r.valAcc]).toEqual([best.trainAcc, best.testAcc, best.valAcc]);
    expect(JSON.parse(readModelInfo(kept).metadata['train.result'])).toMatchObject({ epochs: r.epochs, bestEpoch: r.bestEpoch, testAcc: best.testAcc });
    const text = await run(['train', '--quiet', ...SMALL, '--lr', '3', '--val-split', '0.3', '--early-stop', '1', '--epochs', '30']);
    expect(text.stdout).toContain(`epochs ${r.epochs} (the figures of epoch ${r.bestEpoch}, the best, whose parameters were kept)`);
    // --early-stop-monitor: the epoch of the best training accuracy is kept (no validation set needed), and a run
    // resumed from its checkpoints watches it too
    const ck = path.join(tmp, 'by-acc-{epoch}.safetensors');
    const byAcc = await run(['train', '--json', '--quiet', ...SMALL, '--lr', '3', '--early-stop', '2', '--early-stop-monitor', 'train-acc', '--epochs', '30',
      '--checkpoint', ck, '--checkpoint-every', '1']);
    expect(byAcc.code, byAcc.stderr).toBe(0);
    const ra = JSON.parse(byAcc.stdout) as TrainReport;
    expect(ra.stopReason).toBe('earlyStopping');
    const accs = ra.history.map((h) => h.trainAcc);
    const firstMax = accs.indexOf(Math.max(...accs)) + 1;
    expect(ra.bestEpoch).toBe(firstMax);
    expect(ra.epochs).toBe(firstMax + 2);
    const resumed = await run(['train', '--json', '--quiet', '--resume', ck.replace('{epoch}', '1')]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout) as TrainReport).toMatchObject({ epochs: ra.epochs, bestEpoch: ra.bestEpoch, trainAcc: ra.trainAcc, testAcc: ra.testAcc });
    // --clip-grad-norm and --clip-grad-value reach the Trainer: a bound no step reaches leaves the run's bits, a small one changes them
    const clipRun = async (...flags: string[]) => {
      const c = await run(['train', '--json', '--quiet', ...SMALL, '--epochs', '2', ...flags]);
      expect(c.code, c.stderr).toBe(0);
      return (JSON.parse(c.stdout) as TrainReport).history;
    };
    const unclipped = await clipRun();
    for (const flag of ['--clip-grad-norm', '--clip-grad-value']) {
      expect(await clipRun(flag, '1e30'), `${flag} 1e30`).toEqual(unclipped.map((h) => ({ ...h, seconds: expect.any(Number) })));
      expect((await clipRun(flag, '0.001')).map((h) => h.trainLoss), `${flag} 0.001`).not.toEqual(unclipped.map((h) => h.trainLoss));
    }
    // --label-smoothing reaches the net's loss (the report's net options, the model file's spec, the losses), and --resume keeps it
    const sck = path.join(tmp, 'smooth-{epoch}.safetensors'), smoothFile = path.join(tmp, 'smooth.safetensors');
    const smooth = await run(['train', '--json', '--quiet', ...SMALL, '--epochs', '2', '--label-smoothing', '0.1', '--save', smoothFile, '--checkpoint', sck, '--checkpoint-every', '1']);
    expect(smooth.code, smooth.stderr).toBe(0);
    const rs = JSON.parse(smooth.stdout) as TrainReport;
    expect(rs.netOptions).toMatchObject({ labelSmoothing: 0.1 });
    expect(readModelInfo(smoothFile).spec).toMatchObject({ kind: 'mlp', options: { labelSmoothing: 0.1 } });
    expect(rs.history.map((h) => h.trainLoss)).not.toEqual(unclipped.map((h) => h.trainLoss));
    const smoothResumed = await run(['train', '--json', '--quiet', '--resume', sck.replace('{epoch}', '1')]);
    expect(smoothResumed.code, smoothResumed.stderr).toBe(0);
    expect((JSON.parse(smoothResumed.stdout) as TrainReport).history).toEqual(rs.history.map((h) => ({ ...h, seconds: expect.any(Number) })));
    const aug = await run(['train', '--json', '--quiet', '--net', 'simple-conv', '--hidden', '10', '--train-rows', '64', '--test-rows', '32', '--epochs', '1',
      '--augment', 'shift=2,degrees=10,scale=0.1', '--label-smoothing', '0.2']);
    expect((JSON.parse(aug.stdout) as TrainReport).netOptions).toMatchObject({ labelSmoothing: 0.2 });
    const deep = await run(['train', '--json', '--quiet', '--net', 'deep-conv', '--train-rows', '16', '--test-rows', '8', '--iterations', '1', '--batch', '8', '--label-smoothing', '0.3']);
    expect(deep.code, deep.stderr).toBe(0);
    expect((JSON.parse(deep.stdout) as TrainReport).netOptions).toMatchObject({ labelSmoothing: 0.3 });
    expect(aug.code, aug.stderr).toBe(0);
    const plain = await run(['train', '--json', '--quiet', '--net', 'simple-conv', '--hidden', '10', '--train-rows', '64', '--test-rows', '32', '--epochs', '1']);
    expect((JSON.parse(aug.stdout) as TrainReport).trainLoss).not.toBe((JSON.parse(plain.stdout) as TrainReport).trainLoss);
  });

  it('--ema ends the run with the averaged parameters (the figures stay the raw ones\'), and --resume keeps it to the same bits', async () => {
    const args = ['--epochs', '2', '--optimizer', 'adam', '--lr', '0.01', ...SMALL];
    const files = (name: string) => ({ model: path.join(tmp, `${name}.safetensors`), ck: path.join(tmp, `${name}-ck-{epoch}.safetensors`) });
    const raw = files('no-ema'), ema = files('ema');
    const a = await run(['train', '--json', '--quiet', ...args, '--save', raw.model]);
    const b = await run(['train', '--json', '--quiet', ...args, '--ema', '0.9', '--save', ema.model, '--checkpoint', ema.ck, '--checkpoint-every', '1']);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const ra = JSON.parse(a.stdout) as TrainReport, rb = JSON.parse(b.stdout) as TrainReport;
    expect(rb.history).toEqual(ra.history.map((h) => ({ ...h, seconds: expect.any(Number) })));
    const ck1 = ema.ck.replace('{epoch}', '1');
    const info = readModelInfo(ck1);
    expect(info.tensors.filter((t) => t.name.startsWith('ema.')).map((t) => t.name).sort()).toEqual(['ema.W1', 'ema.W2', 'ema.b1', 'ema.b2']);
    expect(JSON.parse(info.metadata['train.settings'])).toMatchObject({ ema: 0.9 });
    const resumed = path.join(tmp, 'ema-resumed.safetensors');
    const c = await run(['train', '--json', '--quiet', '--resume', ck1, '--save', resumed]);
    expect(c.code, c.stderr).toBe(0);
    const rt = await createRuntime({ threads: 1 });
    const x = readModelFile(rt, raw.model), y = readModelFile(rt, ema.model), z = readModelFile(rt, resumed);
    expect(Array.from(y.net.params.W1.toArray()), 'the averages, not the last step\'s parameters').not.toEqual(Array.from(x.net.params.W1.toArray()));
    // the report's `averaged`: the saved (averaged) model's test figures, as evaluating the file gives them; none without --ema
    const test = await loadData(rt, 'mnist', { flatten: true, testRows: 100 });
    const figures = y.net.evaluate(test.xTest, test.tTest);
    expect(rb.averaged).toEqual({ testAcc: figures.accuracy, testLoss: figures.loss });
    expect(JSON.parse(readModelInfo(ema.model).metadata['train.result'])).toMatchObject({ averagedTestAcc: figures.accuracy });
    expect(ra.averaged).toBeUndefined();
    disposeData(test);
    for (const [k, t] of Object.entries(y.net.params)) expectBits((z.net.params as Record<string, typeof t>)[k].toArray(), t.toArray(), `${k} resumed`);
    for (const m of [x, y, z]) m.net.dispose();
    await rt.dispose();
  });
});

describe('--mixup', () => {
  it('is in the help of train', async () => {
    const r = await run(['train', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}--mixup <alpha> +mixup \(Zhang et al\. 2018\) as timm's Mixup per batch/m);
  });

  it('mixes each training batch (another loss, the same evaluation code), is stored in checkpoints, and --resume keeps it to the same bits', async () => {
    const args = ['--epochs', '2', '--optimizer', 'adam', '--lr', '0.01', ...SMALL];
    const files = (name: string) => ({ model: path.join(tmp, `${name}.safetensors`), ck: path.join(tmp, `${name}-ck-{epoch}.safetensors`) });
    const plain = files('no-mixup'), mixed = files('mixup');
    const a = await run(['train', '--json', '--quiet', ...args, '--save', plain.model]);
    const b = await run(['train', '--json', '--quiet', ...args, '--mixup', '0.4', '--save', mixed.model, '--checkpoint', mixed.ck, '--checkpoint-every', '1']);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const ra = JSON.parse(a.stdout) as TrainReport, rb = JSON.parse(b.stdout) as TrainReport;
    expect(rb.history.map((h) => h.trainLoss), 'the steps\' losses are the mixed batches\'').not.toEqual(ra.history.map((h) => h.trainLoss));
    const ck1 = mixed.ck.replace('{epoch}', '1');
    expect(JSON.parse(readModelInfo(ck1).metadata['train.settings'])).toMatchObject({ mixup: 0.4 });
    const resumed = path.join(tmp, 'mixup-resumed.safetensors');
    const c = await run(['train', '--json', '--quiet', '--resume', ck1, '--save', resumed]);
    expect(c.code, c.stderr).toBe(0);
    expect((JSON.parse(c.stdout) as TrainReport).history).toEqual(rb.history.map((h) => ({ ...h, seconds: expect.any(Number) })));
    const rt = await createRuntime({ threads: 1 });
    const y = readModelFile(rt, mixed.model), z = readModelFile(rt, resumed);
    for (const [k, t] of Object.entries(y.net.params)) expectBits((z.net.params as Record<string, typeof t>)[k].toArray(), t.toArray(), `${k} resumed`);
    for (const m of [y, z]) m.net.dispose();
    await rt.dispose();
  });
});

describe('command-line edges', () => {
  it('bad values and flags the net ignores exit 2 naming the option, before data loads', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--epochs', '2', '--epochs', '3'], /--epochs is given 2 times/],
      [['--net', 'deep-conv', '--hidden', '50'], /--hidden: --net deep-conv has no such option/],
      [['--net', 'deep-conv', '--init', 'he'], /--init: --net deep-conv has no such option/],
      [['--net', 'simple-conv', '--activation', 'tanh'], /--activation: --net simple-conv has no such option/],
      [['--net', 'simple-conv', '--hidden', '10,10'], /--hidden: --net simple-conv takes one hidden size/],
      [['--augment', 'shift=2'], /--augment: --net mlp has no such option/],
      [['--init', '1e400'], /--init: 1e400 is out of range/],
      [['--lr', '1e400'], /--lr: 1e400 is out of range/],
      [['--lr-schedule', 'warp'], /--lr-schedule: unknown name 'warp'/],
      [['--lr-schedule', 'step:gamma=0.5'], /--lr-schedule: .*stepSize/],
      [['--early-stop', '2'], /--early-stop: needs --val-split \(it watches the validation loss; /],
      [['--early-stop', '2', '--early-stop-monitor', 'val-acc'], /--early-stop: needs --val-split \(it watches the validation accuracy; /],
      [['--early-stop-monitor', 'train-acc'], /--early-stop-monitor: needs --early-stop \(the patience\)/],
      [['--early-stop', '2', '--early-stop-monitor', 'val_loss'], /--early-stop-monitor: unknown name 'val_loss' \(expected one of val-loss, val-acc, train-loss, train-acc\)/],
      [['--val-split', '1'], /--val-split: expected a ratio in \(0, 1\)/],
      [['--clip-grad-norm', '0'], /--clip-grad-norm: expected a positive number, got 0/],
      [['--clip-grad-value=-1'], /--clip-grad-value: expected a positive number, got -1/],
      [['--ema', '1.5'], /--ema: expected a decay in \[0, 1\] \(e\.g\. 0\.99\), got 1\.5/],
      [['--ema=-0.1'], /--ema: expected a decay in \[0, 1\] \(e\.g\. 0\.99\), got -0\.1/],
      [['--ema', 'high'], /--ema: expected a number, got 'high'/],
      [['--mixup', '0'], /--mixup: expected a positive alpha \(Beta\(alpha, alpha\), e\.g\. 0\.2 or 1\), got 0/],
      [['--mixup=-0.5'], /--mixup: expected a positive alpha .*got -0\.5/],
      [['--mixup', '1e400'], /--mixup: 1e400 is out of range/],
      [['--label-smoothing', '1.5'], /--label-smoothing: expected a number in \[0, 1\], got 1.5/],
      [['--label-smoothing=-0.1'], /--label-smoothing: expected a number in \[0, 1\], got -0.1/],
      [['--epochs', '2', '--iterations', '5'], /give either --epochs or --iterations/],
      [['--checkpoint-every', '1'], /--checkpoint-every: needs --checkpoint FILE/],
      [['--hidden', ''], /--hidden: expected sizes such as 100,100, or 'none' for no hidden layer; got ''/],
      [['--net', 'simple-conv', '--hidden', 'none'], /--hidden: --net simple-conv takes one hidden size, got 0/],
      [['--checkpoint-every', '1', '--checkpoint', path.join(tmp, 'ck-{epoch}', 'c.safetensors')], /--checkpoint: '\{epoch\}' may only be in the file's name, not in its directory/],
      [['--threads', String(usableThreads() + 1)], new RegExp(`--threads: this host can use at most ${usableThreads()}`)],
      [['--data', path.join(tmp, 'nowhere')], /--data: '.*nowhere' is neither 'mnist' nor a directory/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(['train', ...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(message);
    }
  });

  it('the class count comes from the whole data set, not the rows loaded', async () => {
    const dir = await idxDir('classes', 40, 10, (i) => (i < 2 ? i : 4 - (i % 3)));
    const r = await run(['train', '--json', '--quiet', '--data', dir, '--train-rows', '2', '--test-rows', '2', '--batch', '2', '--epochs', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as TrainReport).netOptions).toMatchObject({ outputSize: 5 });
  });

  it('an empty test set and a directory where a file should be are errors naming them', async () => {
    const empty = await idxDir('empty-test', 20, 0, (i) => i % 5);
    const r = await run(['train', '--data', empty]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/loadIdx: .*empty-test\/t10k-images-idx3-ubyte holds no images \(0x6x5\)/);
    const dirAsFile = await idxDir('dir-as-file', 20, 5, (i) => i % 5);
    await rm(path.join(dirAsFile, 't10k-labels-idx1-ubyte'));
    await mkdir(path.join(dirAsFile, 't10k-labels-idx1-ubyte'));
    const d = await run(['train', '--data', dirAsFile]);
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/loadIdx: cannot read .*dir-as-file\/t10k-labels-idx1-ubyte: it is a directory, not a file/);
  });

  it('main() frees its runtime and workers on every exit path: 20 failing runs leak no worker', async () => {
    const broken = path.join(tmp, 'broken');
    await mkdir(broken);
    const threads = String(Math.min(2, usableThreads()));
    const workers = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;
    await run(['train', '--data', broken, '--threads', threads]); // warm up module caches
    const before = { workers: workers(), rss: process.memoryUsage().rss };
    for (let i = 0; i < 20; i++) {
      const r = await run(['train', '--data', broken, '--threads', threads]);
      expect(r.code).toBe(1);
    }
    expect(workers()).toBe(before.workers);
    expect(process.memoryUsage().rss - before.rss).toBeLessThan(100 << 20);
  });
});
