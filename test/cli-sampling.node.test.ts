// `simdnn train --balanced`: in the help; draws class-balanced batches (TrainerOptions.sampleWeights 'balanced':
// the start line says so, the checkpoint's position records it, the run differs from the plain one), recorded with
// the run's settings in checkpoints and the model, so --resume keeps it to the same bits; not beside --resume.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TrainReport } from '../src/node/cli/index.js';
import { readModelInfo } from '../src/node/model-file.js';
import { runCli as run } from './helpers/cli.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-sampling-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

const SMALL = ['--json', '--train-rows', '300', '--test-rows', '100', '--hidden', '20', '--epochs', '2', '--val-split', '0.2'];

async function train(...flags: string[]): Promise<{ report: TrainReport; stderr: string }> {
  const r = await run(['train', ...SMALL, ...flags]);
  expect(r.code, r.stderr).toBe(0);
  return { report: JSON.parse(r.stdout) as TrainReport, stderr: r.stderr };
}

describe('simdnn train --balanced', () => {
  it('is in the help of train', async () => {
    const r = await run(['train', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}--balanced +class-balanced batches: each drawn with replacement, each training\n +row weighted 1\/\(the rows of its class\)/m);
  });

  it('draws class-balanced batches, recorded in the checkpoint (settings and position) and the model; --resume keeps them to the same bits', async () => {
    const plain = await train('--quiet');
    const file = path.join(tmp, 'balanced.safetensors'), ck = path.join(tmp, 'balanced-{epoch}.safetensors');
    const balanced = await train('--balanced', '--save', file, '--checkpoint', ck, '--checkpoint-every', '1');
    expect(balanced.stderr).toMatch(/^simdnn: .*, batch 16 \(class-balanced\), 2 epochs x 15 steps, mnist \(240 train \/ 60 validation \/ 100 test\)$/m);
    expect(plain.stderr).not.toMatch(/class-balanced/);
    expect(balanced.report.history.map((h) => h.trainLoss)).not.toEqual(plain.report.history.map((h) => h.trainLoss));
    const first = ck.replace('{epoch}', '1');
    const info = readModelInfo(first);
    expect(JSON.parse(info.metadata['train.settings'])).toMatchObject({ balanced: true });
    expect(JSON.parse(info.metadata['train.state'])).toMatchObject({ sampling: 'replacement', sampleWeights: { kind: 'balanced', digest: expect.stringMatching(/^[0-9a-f]{8}$/) } });
    expect(JSON.parse(readModelInfo(file).metadata['train.settings'])).toMatchObject({ balanced: true });
    // a plain run stores no such setting
    const plainFile = path.join(tmp, 'plain.safetensors');
    await train('--quiet', '--save', plainFile);
    expect(JSON.parse(readModelInfo(plainFile).metadata['train.settings'])).not.toHaveProperty('balanced');
    const resumed = await run(['train', '--json', '--quiet', '--resume', first]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((JSON.parse(resumed.stdout) as TrainReport).history).toEqual(balanced.report.history.map((h) => ({ ...h, seconds: expect.any(Number) })));
    // the run's settings come from the checkpoint: the flag beside --resume is a usage error
    const beside = await run(['train', '--json', '--quiet', '--resume', first, '--balanced']);
    expect(beside.code).toBe(2);
    expect(beside.stderr).toMatch(/--balanced: cannot be given with --resume/);
  });
});
