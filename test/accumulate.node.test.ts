// `simdnn train --accumulate k`: in the help; the run updates once every k batches (TrainerOptions.accumulateSteps),
// the report (JSON and summary) and the model file's settings record it, 1 is the run without it to the bit, a
// checkpoint written within a group resumes to the uninterrupted run's bits, and bad values are usage errors.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TrainReport } from '../src/node/cli/index.js';
import { readModelInfo } from '../src/node/model-file.js';
import { runCli as run } from './helpers/cli.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-accumulate-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

// 300 rows in batches of 16: 18 an epoch, so groups of 4 run across the epoch's end (2 batches of a group pending)
const SMALL = ['--json', '--quiet', '--train-rows', '300', '--test-rows', '100', '--hidden', '20', '--epochs', '2'];

async function train(...flags: string[]): Promise<TrainReport> {
  const r = await run(['train', ...SMALL, ...flags]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as TrainReport;
}

describe('simdnn train --accumulate', () => {
  it('is in the help of train', async () => {
    const r = await run(['train', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}--accumulate <k> +gradient accumulation: update once every k batches/m);
  });

  it('records the setting (report, summary, model file); 1 is the run without it; a checkpoint within a group resumes to the same bits', async () => {
    const plain = await train();
    expect(plain).toMatchObject({ accumulateSteps: 1, updates: 36, steps: 36 });
    const one = await train('--accumulate', '1');
    expect(one.history).toEqual(plain.history.map((h) => ({ ...h, seconds: expect.any(Number) })));
    const file = path.join(tmp, 'acc.safetensors'), ck = path.join(tmp, 'acc-{epoch}.safetensors');
    const acc = await train('--accumulate', '4', '--save', file, '--checkpoint', ck, '--checkpoint-every', '1');
    expect(acc).toMatchObject({ accumulateSteps: 4, updates: 9, steps: 36 });
    expect(acc.history.map((h) => h.trainLoss)).not.toEqual(plain.history.map((h) => h.trainLoss));
    const stored = JSON.parse(readModelInfo(file).metadata['train.settings']) as { accumulate?: number };
    expect(stored.accumulate).toBe(4);
    // epoch 1 ended 2 batches into a group: the checkpoint holds their sums, as tensors (not in the position's JSON)
    const info = readModelInfo(ck.replace('{epoch}', '1'));
    const position = JSON.parse(info.metadata['train.state']) as Record<string, unknown>;
    expect(position).toMatchObject({ accumulateSteps: 4, accumulated: 2 });
    expect(position).not.toHaveProperty('accum');
    expect(info.tensors.filter((t) => t.name.startsWith('accum.')).map(({ name, shape }) => ({ name, shape }))).toEqual([
      { name: 'accum.W1', shape: [784, 20] }, { name: 'accum.b1', shape: [20] }, { name: 'accum.W2', shape: [20, 10] }, { name: 'accum.b2', shape: [10] },
    ]);
    const resumed = await run(['train', '--json', '--quiet', '--resume', ck.replace('{epoch}', '1')]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((JSON.parse(resumed.stdout) as TrainReport).history).toEqual(acc.history.map((h) => ({ ...h, seconds: expect.any(Number) })));
    const summary = await run(['train', ...SMALL.filter((f) => f !== '--json'), '--accumulate', '4']);
    expect(summary.code, summary.stderr).toBe(0);
    expect(summary.stdout).toMatch(/ epochs 2 {2}9 updates of 4 batches {2}/);
  });

  it('refuses values that are not an integer >= 1, and a change on --resume, as usage errors', async () => {
    for (const value of ['0', '1.5', '-2', 'two', '']) {
      const r = await run(['train', ...SMALL, `--accumulate=${value}`]);
      expect(r.code, value).toBe(2);
      expect(r.stderr, value).toMatch(/--accumulate: expected an integer >= 1/);
    }
    const ck = path.join(tmp, 'plain-{epoch}.safetensors');
    const first = await run(['train', '--json', '--quiet', '--train-rows', '300', '--test-rows', '100', '--hidden', '20', '--epochs', '1', '--checkpoint', ck, '--checkpoint-every', '1']);
    expect(first.code, first.stderr).toBe(0);
    const r = await run(['train', '--json', '--quiet', '--resume', ck.replace('{epoch}', '1'), '--accumulate', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--accumulate/);
  });
});
