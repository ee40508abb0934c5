// Command-line guards: options that would be ignored, or fail only after the
// work, are refused up front (exit 2, naming the flag); a model file's
// argument is checked the same way in train, predict and info, and a file
// whose content is wrong is an error (exit 1) naming the argument. Every
// command line here is small, so a guard that is gone costs a short run.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main } from '../src/node/cli/index.js';
import { Capture, runCli, exists } from './helpers/cli.js';

const run = (argv: string[]) => runCli(argv);
/** `text` as a regular expression matching it literally. */
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A search of one small trial on one thread, its results in tmp. */
const tinySearch = (study: string) => ['search', '--study', study, '--trials', '1', '--epochs', '1', '--rows', '100', '--workers', '1', '--out', path.join(tmp, `${study}.jsonl`)];
/** A train run of a few rows and one epoch. */
const TINY_TRAIN = ['train', '--quiet', '--train-rows', '100', '--test-rows', '50', '--epochs', '1'];

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-guards-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

/** Runs each command line and expects exit 2, `message` on stderr, and no work done. */
async function refused(cases: Array<[string[], RegExp]>): Promise<void> {
  for (const [argv, message] of cases) {
    const r = await run(argv);
    expect(r.code, argv.join(' ')).toBe(2);
    expect(r.stdout, argv.join(' ')).toBe('');
    expect(r.stderr, argv.join(' ')).toMatch(message);
    expect(r.stderr, argv.join(' ')).not.toMatch(/trial 0|epoch 1/);
  }
}

describe('search --chart', () => {
  it('a path that cannot take the chart, or a name that is neither .svg nor .json, exits 2 before any trial', async () => {
    const dir = path.join(tmp, 'chart-dir.svg');
    await mkdir(dir);
    const device = path.join(tmp, 'device.svg');
    await symlink('/dev/full', device);
    await refused([
      [[...tinySearch('chart-a'), '--chart', dir], /^simdnn: --chart: '.*chart-dir\.svg' is a directory/],
      [[...tinySearch('chart-b'), '--chart', '/dev/full'], /^simdnn: --chart: expected a file ending in \.svg .* or \.json .*, got '\/dev\/full'/],
      [[...tinySearch('chart-c'), '--chart', device], /^simdnn: --chart: '.*device\.svg' is not a regular file/],
      [[...tinySearch('chart-d'), '--chart', ''], /^simdnn: --chart: expected a file ending in \.svg .* or \.json/],
      [[...tinySearch('chart-e'), '--chart', path.join(tmp, 'chart.png')], /^simdnn: --chart: expected a file ending in \.svg \(the charts\) or \.json \(their Vega-Lite spec\), got '.*chart\.png'/],
    ]);
    expect(await exists(path.join(tmp, 'chart.png'))).toBe(false);
  });

  it('a chart that cannot be written after the trials still prints the results, and the error names --chart (exit 1)', async () => {
    const chart = path.join(tmp, 'late.json');
    const stdout = new Capture(), stderr = new Capture();
    const write = stderr.write.bind(stderr);
    stderr.write = (text: string) => {
      write(text);
      // the first result is in: a directory takes the chart's place
      if (/ trial 0 \(1 epochs\)/.test(text)) mkdirSync(chart);
    };
    const code = await main([...tinySearch('late'), '--hidden', '5', '--chart', chart], { stdout, stderr });
    expect(code).toBe(1);
    expect(stdout.text).toMatch(/^rank +trial +valAcc/);
    expect(stdout.text).toMatch(/^1 trials \(0 failed\)/m);
    expect(stderr.text).toMatch(/simdnn: error: --chart: cannot write '.*late\.json' \(EISDIR[^)]*\); the results are in .*late\.jsonl\n$/);
  });
});

describe('search options that only some settings take', () => {
  it('--eta and --min-epochs without --scheduler asha exit 2, as --parallel does', async () => {
    await refused([
      [[...tinySearch('eta'), '--eta', '3'], /^simdnn: --eta: only with --scheduler asha/],
      [[...tinySearch('min-epochs'), '--min-epochs', '0'], /^simdnn: --min-epochs: only with --scheduler asha/],
      [[...tinySearch('min-epochs-1'), '--min-epochs', '1'], /^simdnn: --min-epochs: only with --scheduler asha/],
    ]);
  });

  it('--lr, --weight-decay, --hidden, --optimizer and --batch with --space exit 2 (the space replaces them)', async () => {
    const space = path.join(tmp, 'space.json');
    await writeFile(space, JSON.stringify({ lr: { kind: 'logUniform', low: 0.01, high: 0.1 }, hidden: [5] }));
    await refused([
      [[...tinySearch('space-lr'), '--space', space, '--lr', '1e-3,1e-2'], /^simdnn: --lr: not with --space/],
      [[...tinySearch('space-wd'), '--space', space, '--weight-decay', '1e-6,1e-5'], /^simdnn: --weight-decay: not with --space/],
      [[...tinySearch('space-hidden'), '--space', space, '--hidden', '7'], /^simdnn: --hidden: not with --space/],
      [[...tinySearch('space-optimizer'), '--space', space, '--optimizer', 'adam'], /^simdnn: --optimizer: not with --space/],
      [[...tinySearch('space-batch'), '--space', space, '--batch', '10'], /^simdnn: --batch: not with --space/],
    ]);
  });

  it('--data that is neither mnist nor a directory exits 2 before any trial, as train does', async () => {
    await refused([[[...tinySearch('data'), '--hidden', '5', '--data', path.join(tmp, 'nowhere')], /^simdnn: --data: '.*nowhere' is neither 'mnist' nor a directory/]]);
    expect(await exists(path.join(tmp, 'data.jsonl'))).toBe(false);
  });
});

describe('train options that would be ignored or named wrongly', () => {
  it('--batchnorm, --dropout and --activation with --hidden none exit 2 (no hidden layer for them)', async () => {
    await refused([
      [[...TINY_TRAIN, '--net', 'mlp-extend', '--hidden', 'none', '--batchnorm'], /^simdnn: --batchnorm: acts on hidden layers, and --hidden none has none/],
      [[...TINY_TRAIN, '--net', 'mlp-extend', '--hidden', 'none', '--dropout', '0.5'], /^simdnn: --dropout: acts on hidden layers, and --hidden none has none/],
      [[...TINY_TRAIN, '--hidden', 'none', '--activation', 'tanh'], /^simdnn: --activation: acts on hidden layers, and --hidden none has none/],
    ]);
  });

  it('optimizer options name the flag typed and the flags the optimizer takes', async () => {
    await refused([
      [[...TINY_TRAIN, '--optimizer', 'rmsprop', '--rho', '0.9'], /^simdnn: --rho: --optimizer rmsprop has no such option \(its options: --lr, --decay-rate, --eps\)\n/],
      [[...TINY_TRAIN, '--optimizer', 'adam', '--decay-rate', '0.9'], /^simdnn: --decay-rate: --optimizer adam has no such option \(its options: --lr, --beta1, --beta2, --eps\)\n/],
      [[...TINY_TRAIN, '--momentum', '0.9'], /^simdnn: --momentum: --optimizer sgd has no such option \(its options: --lr\)\n/],
      [[...TINY_TRAIN, '--lr=-1'], /^simdnn: --lr: expected a finite number >= 0, got -1 \(--optimizer sgd\)\n/],
      [[...TINY_TRAIN, '--optimizer', 'adam', '--beta1', '1'], /^simdnn: --beta1: expected a number in \[0, 1\), got 1 \(--optimizer adam\)\n/],
    ]);
  });

  it("an empty --augment exits 2, as an empty --hidden does", async () => {
    await refused([[[...TINY_TRAIN, '--net', 'simple-conv', '--hidden', '5', '--augment', ''], /^simdnn: --augment: expected k=v,\.\.\. such as shift=2,degrees=10,scale=0\.1; got ''/]]);
  });

  it('a --val-split that leaves no training or no validation row names --val-split (exit 2)', async () => {
    const r = await run([...TINY_TRAIN, '--val-split', '0.999']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^simdnn: --val-split: Dataset\.split: a rate of 0\.999 on 100 rows leaves an empty part/);
  });
});

describe('row counts above the data', () => {
  it('--train-rows and --test-rows above what the data holds exit 2 naming the flag (the loaders took the first n: a run used fewer rows than asked)', async () => {
    await refused([
      [['train', '--quiet', '--train-rows', '8001', '--test-rows', '50', '--epochs', '1'], /^simdnn: --train-rows: 8001 is more than the 8,000 training rows of the bundled digits/],
      [['train', '--quiet', '--train-rows', '100', '--test-rows', '2001', '--epochs', '1'], /^simdnn: --test-rows: 2001 is more than the 2,000 test rows of the bundled digits/],
    ]);
    const model = path.join(tmp, 'rows-model.safetensors');
    expect((await run([...TINY_TRAIN, '--save', model])).code).toBe(0);
    await refused([[['predict', model, '--test-rows', '2001'], /^simdnn: --test-rows: 2001 is more than the 2,000 test rows of the bundled digits/]]);
    // all the rows there are is no error
    const all = await run(['predict', model, '--test-rows', '2000', '--json']);
    expect(all.code, all.stderr).toBe(0);
  });
});

describe('model file arguments', () => {
  /** Each command line naming a model file `file`, with the argument its errors name. */
  const withModel = (file: string): Array<[string[], string]> => [
    [['train', '--resume', file], '--resume'],
    [['predict', file], 'predict FILE'],
    [['predict', '--model', file], '--model'],
    [['info', file], 'info FILE'],
  ];

  it('a path that does not exist or is not a regular file exits 2 naming the argument, in train, predict and info', async () => {
    const missing = path.join(tmp, 'missing.safetensors');
    for (const [file, what] of [[missing, 'does not exist'], [tmp, 'is a directory, not a model file'], ['/dev/null', 'is not a regular file']]) {
      for (const [line, arg] of withModel(file)) {
        const r = await run(line);
        expect(r.code, line.join(' ')).toBe(2);
        expect(r.stderr, line.join(' ')).toContain(`simdnn: ${arg}: '${file}' ${what}`);
      }
    }
  });

  it('a file whose content is not a model is an error (exit 1) naming the argument and the file', async () => {
    const garbage = path.join(tmp, 'garbage.safetensors');
    await writeFile(garbage, Buffer.alloc(64, 0xff));
    for (const [argv, arg] of withModel(garbage)) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.stderr, argv.join(' ')).toMatch(new RegExp(`^simdnn: error: ${arg}: '${literally(garbage)}': safetensors: `));
    }
  });

  it('a checkpoint whose tensors hold what no model holds is an error (exit 1) naming --resume', async () => {
    const ck = path.join(tmp, 'ck.safetensors');
    const a = await run([...TINY_TRAIN, '--net', 'mlp-extend', '--batchnorm', '--hidden', '5', '--checkpoint', ck, '--checkpoint-every', '1']);
    expect(a.code, a.stderr).toBe(0);
    // a negative running variance: the header is whole, the model is not (found when the tensors are read)
    const bytes = await readFile(ck);
    const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, headerEnd).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
    bytes.writeFloatLE(-1, headerEnd + header.runningVar1.data_offsets[0]);
    const bad = path.join(tmp, 'ck-bad.safetensors');
    await writeFile(bad, bytes);
    const r = await run(['train', '--quiet', '--resume', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^simdnn: error: --resume: '${literally(bad)}': loadModel: tensor 'runningVar1' holds -1`));
  });
});
