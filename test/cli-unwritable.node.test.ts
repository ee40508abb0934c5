// The command line's refusal of targets a user cannot write, met for real: a read-only file ("cannot be
// replaced (EACCES)") and a directory where no file can be created ("cannot create a file in … (EACCES)"),
// refused with exit 2 before anything runs; and a model saved at the end of a run whose directory became
// read-only while it trained, which goes to the working directory, else the temporary directory, and says where.
// Root passes every mode check through its capabilities, and the tests (and CI, `.ci/run`) run as root: there
// the built bin runs under setpriv (util-linux) without CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER —
// still root, so it reads the checkout wherever it is, but refused by the modes as any user is; as any other
// user, as that user. The first test checks that the child really is refused by the modes, and fails (never
// skips) where it is not.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readModelInfo, writeModelFile } from '../src/node/model-file.js';
import { createRuntime } from '../src/node/runtime.js';
import { MultiLayerNet } from '../src/index.js';
import { runWatchingStderr, type ChildRun } from './helpers/cli.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bin = path.join(root, 'dist', 'node', 'cli.cjs');

/** The capabilities that let root pass mode checks, which a child of root runs without. */
const DAC_CAPS = '-dac_override,-dac_read_search,-fowner';
const asRoot = process.getuid?.() === 0;

/** The program and arguments that run `node <args>` refused by the modes: under setpriv without DAC_CAPS as root. */
function nodeCommand(args: string[]): [string, string[]] {
  return asRoot ? ['setpriv', ['--inh-caps', DAC_CAPS, '--bounding-set', DAC_CAPS, '--', process.execPath, ...args]] : [process.execPath, args];
}

/** `text` as a regular expression matching it literally. */
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let tmp: string;
/** Directories chmod'ed read-only, made writable again before they are removed (a user other than root could not empty them). */
const locked: string[] = [];

/** A directory in tmp, owned by this process's user (the children's), with `mode`. */
async function userDir(name: string, mode = 0o755): Promise<string> {
  const dir = path.join(tmp, name);
  await mkdir(dir);
  await lock(dir, mode);
  return dir;
}

/** Sets `dir`'s mode, keeping it for afterAll when that takes the owner's write permission away. */
async function lock(dir: string, mode: number): Promise<void> {
  await chmod(dir, mode);
  if ((mode & 0o200) === 0) locked.push(dir);
}

type Ran = ChildRun;

/**
 * `node <args>` refused by the modes (nodeCommand), in `cwd`, with `tempDir` as its TMPDIR (where a model goes when neither its
 * place nor the working directory takes it, and the bin keeps its code cache); `onLine` sees each line of
 * stderr. Killed after 60 s whatever happens.
 */
function runAs(args: string[], o: { cwd: string; tempDir: string; onLine?: (line: string, child: ChildProcess) => void }): Promise<Ran> {
  const [program, programArgs] = nodeCommand(args);
  return runWatchingStderr(program, programArgs, { cwd: o.cwd, env: { ...process.env, TMPDIR: o.tempDir }, onLine: o.onLine });
}

// Layout: tmp (0755) holds inputs/ (a model, readable), rw/ (the user's, writable) with a read-only file of each
// kind a command writes, ro/ (0555: nothing can be created in it), and home/ and tmp/ (the user's:
// the child's working and temporary directories).
let inputs: string, rw: string, ro: string, home: string, userTmp: string, model: string;
const READ_ONLY = ['old.safetensors', 'old.csv', 'old.jsonl', 'old.onnx'];
const roFile = (name: string) => path.join(rw, name);
const contentOf = (name: string) => `what was in ${name} before\n`;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-unwritable-'));
  await chmod(tmp, 0o755);
  inputs = path.join(tmp, 'inputs');
  await mkdir(inputs);
  await chmod(inputs, 0o755);
  model = path.join(inputs, 'digits.safetensors');
  const rt = await createRuntime({ seed: 1 });
  const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [12], outputSize: 10 });
  await writeModelFile(model, net);
  net.dispose();
  await rt.dispose();
  await chmod(model, 0o644);
  rw = await userDir('rw');
  for (const name of READ_ONLY) {
    await writeFile(roFile(name), contentOf(name));
    await chmod(roFile(name), 0o444);
  }
  ro = path.join(tmp, 'ro');
  await mkdir(ro);
  await lock(ro, 0o555);
  home = await userDir('home');
  userTmp = await userDir('tmp', 0o700);
});

afterAll(async () => {
  for (const dir of locked) await chmod(dir, 0o755).catch(() => {});
  await rm(tmp, { recursive: true, force: true });
});

/** What the CLI writes on stderr when it refuses a command line: the message, then where usage is. */
const refusal = (command: string, message: string) => `simdnn: ${message}\nRun 'simdnn ${command} --help' for usage.\n`;

describe('the child process', () => {
  it('is refused by the modes (as root: without the capabilities that pass them), and runs the bin', async () => {
    expect(existsSync(bin), `${bin} is missing: run npm run build:ts first`).toBe(true);
    // what a model's write would meet: a read-only file opened for writing, a file made in a read-only directory
    const probe = `const fs = require('node:fs');
      const code = (f) => { try { f(); return 'written'; } catch (e) { return e.code; } };
      console.log(JSON.stringify({ file: code(() => fs.openSync(${JSON.stringify(roFile('old.safetensors'))}, 'r+')), dir: code(() => fs.writeFileSync(${JSON.stringify(path.join(ro, 'probe'))}, '')) }));`;
    let r: Ran;
    try {
      r = await runAs(['-e', probe], { cwd: home, tempDir: userTmp });
    } catch (e) {
      throw new Error(`cannot start ${nodeCommand([])[0]} (${(e as Error).message}): as root these tests need setpriv (util-linux)`, { cause: e });
    }
    expect(r.code, r.stderr).toBe(0);
    const seen = JSON.parse(r.stdout) as { file: string; dir: string };
    expect(seen, 'the child can write what the modes forbid (a capability such as CAP_DAC_OVERRIDE?): nothing here could be refused').toMatchObject({ file: 'EACCES', dir: 'EACCES' });
    const help = await runAs([bin, '--help'], { cwd: home, tempDir: userTmp });
    expect(help.code, `the bin does not run: ${help.stderr}`).toBe(0);
    expect(help.stdout).toMatch(/^Usage: simdnn <command>/);
  });
});

describe('a target the user cannot write is refused before anything runs (exit 2, the flag named)', () => {
  const TRAIN = ['train', '--epochs', '1', '--train-rows', '300', '--test-rows', '100', '--hidden', '20'];
  const SEARCH = ['search', '--trials', '1', '--epochs', '1', '--rows', '100', '--hidden', '8', '--workers', '1'];
  const cannotReplace = (flag: string, file: string) => `${flag}: '${file}' cannot be replaced (EACCES)`;
  const cannotCreate = (flag: string) => `${flag}: cannot create a file in '${ro}' (EACCES)`;
  // [what, the command line, the command, its message]; a function: the paths exist only once beforeAll has run
  const cases: Array<[string, () => [string[], string, string]]> = [
    ['train --save READ_ONLY_FILE', () => [[...TRAIN, '--save', roFile('old.safetensors')], 'train', cannotReplace('--save', roFile('old.safetensors'))]],
    ['train --save READ_ONLY_DIR/m.safetensors', () => [[...TRAIN, '--save', path.join(ro, 'm.safetensors')], 'train', cannotCreate('--save')]],
    ['train --checkpoint READ_ONLY_DIR/ck-{epoch}.safetensors (its --save writable)', () => [
      [...TRAIN, '--save', path.join(rw, 'm.safetensors'), '--checkpoint', path.join(ro, 'ck-{epoch}.safetensors'), '--checkpoint-every', '1'], 'train', cannotCreate('--checkpoint')]],
    ['predict MODEL --out READ_ONLY_DIR/p.csv', () => [['predict', model, '--test-rows', '7', '--out', path.join(ro, 'p.csv')], 'predict', cannotCreate('--out')]],
    ['predict MODEL --out READ_ONLY_FILE.csv', () => [['predict', model, '--test-rows', '7', '--out', roFile('old.csv')], 'predict', cannotReplace('--out', roFile('old.csv'))]],
    ['lr-find --chart READ_ONLY_DIR/x.svg', () => [['lr-find', '--train-rows', '300', '--hidden', '20', '--steps', '20', '--chart', path.join(ro, 'x.svg')], 'lr-find', cannotCreate('--chart')]],
    ['search --chart READ_ONLY_DIR/x.json (its --out writable)', () => [[...SEARCH, '--out', path.join(rw, 's.jsonl'), '--chart', path.join(ro, 'x.json')], 'search', cannotCreate('--chart')]],
    ['search --out READ_ONLY_DIR/s.jsonl', () => [[...SEARCH, '--out', path.join(ro, 's.jsonl')], 'search', `--out: cannot create its lock file ${path.join(ro, 's.jsonl.lock')} (EACCES)`]],
    ['search --out READ_ONLY_FILE.jsonl', () => [[...SEARCH, '--out', roFile('old.jsonl')], 'search', `--out: cannot write to '${roFile('old.jsonl')}' (EACCES)`]],
    ['export MODEL READ_ONLY_DIR/m.onnx', () => [['export', model, path.join(ro, 'm.onnx')], 'export', cannotCreate('export OUT')]],
    ['export MODEL READ_ONLY_FILE.onnx', () => [['export', model, roFile('old.onnx')], 'export', cannotReplace('export OUT', roFile('old.onnx'))]],
  ];
  for (const [what, make] of cases) {
    it(what, async () => {
      const [args, command, message] = make();
      const r = await runAs([bin, ...args], { cwd: home, tempDir: userTmp });
      // the whole of stderr: no epoch line, no step, nothing but the refusal; nothing on stdout
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: refusal(command, message) });
      expect(r.stdout).toBe('');
      // nothing written: no target, no probe or temporary file left, no results or lock file; the read-only files as they were
      expect(await readdir(ro)).toEqual([]);
      expect((await readdir(rw)).sort()).toEqual([...READ_ONLY].sort());
      expect(await readdir(home)).toEqual([]);
      for (const name of READ_ONLY) {
        expect(await readFile(roFile(name), 'utf8'), name).toBe(contentOf(name));
        expect((await stat(roFile(name))).mode & 0o777, name).toBe(0o444);
      }
    });
  }
});

describe('a model whose directory became read-only during the run is saved elsewhere, and the command says where (exit 1)', () => {
  const SMALL = ['--train-rows', '300', '--test-rows', '100', '--hidden', '20'];
  // 199 epochs after the one whose end makes the directory read-only (~2 ms each here): a wide margin for this
  // process to act before the run ends (with 1, the child once finished and saved first: cli-train's test)
  const EPOCHS = 200;

  /**
   * `simdnn train --json --save <dir>/m.safetensors` of EPOCHS epochs (nodeCommand), in `cwd` with `tempDir`
   * as TMPDIR; `dir` is made read-only as epoch 1 ends, after the check at the start passed.
   */
  async function trainIntoLockedDir(dir: string, cwd: string, tempDir: string): Promise<Ran & { file: string }> {
    const file = path.join(dir, 'm.safetensors');
    let locking: Promise<void> | null = null;
    const r = await runAs([bin, 'train', '--json', '--epochs', String(EPOCHS), ...SMALL, '--save', file], {
      cwd, tempDir, onLine: (line) => { if (!locking && line.startsWith(`epoch 1/${EPOCHS}`)) locking = lock(dir, 0o555); },
    });
    expect(locking, r.stderr).not.toBeNull();
    await locking;
    return { ...r, file };
  }

  /** The model a fallback file holds was the run's: an mlp trained all EPOCHS epochs. */
  function expectTrainedModel(file: string): void {
    const info = readModelInfo(file);
    expect(info.spec).toMatchObject({ kind: 'mlp' });
    expect(JSON.parse(info.metadata['train.result']).epochs).toBe(EPOCHS);
  }

  const failedWrite = (file: string) => `simdnn: error: cannot write the model to ${file}: EACCES: permission denied`;

  /**
   * The run exited 1 naming the write that failed, and its model, trained all EPOCHS epochs, went to a new file in
   * `place`, which stderr and the report's `saved` name. Returns that file.
   */
  function expectSavedIn(r: Ran & { file: string }, place: string): string {
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(failedWrite(r.file));
    const m = new RegExp(`^simdnn: saved the model to (${literally(place)}/simdnn-model-[^/]*\\.safetensors) instead$`, 'm').exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(JSON.parse(r.stdout).saved).toBe(m![1]);
    expectTrainedModel(m![1]);
    return m![1];
  }

  it('to a new file in the working directory', async () => {
    const dir = await userDir('becomes-read-only-1'), cwd = await userDir('cwd-1'), tempDir = await userDir('tmp-1', 0o700);
    const saved = expectSavedIn(await trainIntoLockedDir(dir, cwd, tempDir), cwd);
    expect(await readdir(dir)).toEqual([]);
    expect(await readdir(cwd)).toEqual([path.basename(saved)]);
  });

  it('to the temporary directory when the working directory is read-only too', async () => {
    const dir = await userDir('becomes-read-only-2'), cwd = await userDir('cwd-2', 0o555), tempDir = await userDir('tmp-2', 0o700);
    expectSavedIn(await trainIntoLockedDir(dir, cwd, tempDir), tempDir);
    expect(await readdir(dir)).toEqual([]);
    expect(await readdir(cwd)).toEqual([]);
  });

  it('nowhere when the temporary directory is read-only as well: an error naming every place tried, and the run\'s report still printed', async () => {
    const dir = await userDir('becomes-read-only-3'), cwd = await userDir('cwd-3', 0o555), tempDir = await userDir('tmp-3', 0o555);
    const r = await trainIntoLockedDir(dir, cwd, tempDir);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${literally(failedWrite(r.file))}, open '[^']*'; writing it to the working directory and to ${literally(tempDir)} failed too\nsimdnn: the model was not saved\n$`, 'm'));
    expect(r.stderr).not.toMatch(/saved the model/);
    // the report went out (it was lost with the model): the run's figures, and nowhere saved
    expect(JSON.parse(r.stdout)).toMatchObject({ epochs: EPOCHS, saved: null });
    for (const d of [dir, cwd, tempDir]) expect(await readdir(d), d).toEqual([]);
  });

  it('nowhere, stopped by SIGINT: the stop and its exit code still said, the model said lost', async () => {
    const dir = await userDir('becomes-read-only-4'), cwd = await userDir('cwd-4', 0o555), tempDir = await userDir('tmp-4', 0o555);
    const file = path.join(dir, 'm.safetensors');
    let stopping: Promise<boolean> | null = null;
    const r = await runAs([bin, 'train', '--json', '--epochs', String(EPOCHS), ...SMALL, '--save', file], {
      cwd, tempDir, onLine: (line, child) => { if (!stopping && line.startsWith(`epoch 1/${EPOCHS}`)) stopping = lock(dir, 0o555).then(() => child.kill('SIGINT')); },
    });
    expect(await stopping, r.stderr).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(new RegExp(`^${literally(failedWrite(file))}, open '[^']*'; writing it to the working directory and to ${literally(tempDir)} failed too\nsimdnn: interrupted \\(SIGINT\\); the model of epoch \\d+ could not be saved anywhere\n$`, 'm'));
    for (const d of [dir, cwd, tempDir]) expect(await readdir(d), d).toEqual([]);
  });
});
