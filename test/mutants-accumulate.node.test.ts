// `simdnn train --accumulate` behaviour that test/accumulate.node.test.ts did not pin down, each found by a mutant
// every other test let through (session 67's mutation run): the updates of a run whose steps are no multiple of k
// (the report and the summary), a run without accumulation neither reporting updates nor recording the setting
// (--accumulate 1 included), and a checkpoint whose stored accumulate is no positive integer refused naming it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TrainReport } from '../src/node/cli/index.js';
import { readModelFile, readModelInfo, writeModelFile } from '../src/node/model-file.js';
import { createRuntime } from '../src/node/runtime.js';
import { runCli as run } from './helpers/cli.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-mutants-accumulate-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

// 300 rows in batches of 16: 18 steps an epoch
const SMALL = ['--quiet', '--train-rows', '300', '--test-rows', '100', '--hidden', '20'];

describe('simdnn train --accumulate: the updates reported, the setting recorded', () => {
  it('30 steps of groups of 4 make 7 updates (the 2 batches of the last group none), in the report and the summary', async () => {
    const json = await run(['train', '--json', ...SMALL, '--iterations', '30', '--accumulate', '4']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout) as TrainReport).toMatchObject({ accumulateSteps: 4, steps: 30, updates: 7 });
    const summary = await run(['train', ...SMALL, '--iterations', '30', '--accumulate', '4']);
    expect(summary.code, summary.stderr).toBe(0);
    expect(summary.stdout).toMatch(/ {2}7 updates of 4 batches {2}/);
  });

  it('--accumulate 1 is no accumulation: the summary names no updates, the model file records no accumulate', async () => {
    const file = path.join(tmp, 'one.safetensors');
    const r = await run(['train', ...SMALL, '--epochs', '1', '--accumulate', '1', '--save', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ epochs 1 {2}/);
    expect(r.stdout).not.toMatch(/updates/);
    const settings = JSON.parse(readModelInfo(file).metadata['train.settings']) as Record<string, unknown>;
    expect(settings).toMatchObject({ epochs: 1 });
    expect(settings).not.toHaveProperty('accumulate');
  });

  it('a checkpoint whose stored accumulate is no positive integer is refused naming train.settings.accumulate (exit 2)', async () => {
    const ck = path.join(tmp, 'acc-{epoch}.safetensors');
    const a = await run(['train', ...SMALL, '--epochs', '1', '--accumulate', '4', '--checkpoint', ck, '--checkpoint-every', '1']);
    expect(a.code, a.stderr).toBe(0);
    const rt = await createRuntime({ threads: 1 });
    const { net, optimizer, metadata } = readModelFile(rt, ck.replace('{epoch}', '1'));
    const settings = JSON.parse(metadata['train.settings']) as Record<string, unknown>;
    expect(settings.accumulate).toBe(4);
    const damaged = path.join(tmp, 'damaged.safetensors');
    for (const value of [0, 1.5, -4, '4']) {
      await writeModelFile(damaged, net, { optimizer, metadata: { ...metadata, 'train.settings': JSON.stringify({ ...settings, accumulate: value }) } });
      const r = await run(['train', '--resume', damaged]);
      expect(r.code, String(value)).toBe(2);
      expect(r.stderr, String(value)).toMatch(new RegExp(`train\\.settings\\.accumulate must be a positive integer, got ${JSON.stringify(value).replace('.', '\\.')}`));
    }
    net.dispose();
    optimizer!.dispose();
    await rt.dispose();
  });
});
