// `simdnn train --class-weights w0,w1,…`: in the help; the weights reach the net's loss (the report's net options,
// the model file's spec, the losses), all 1 is the unweighted run to the bit, --resume keeps them to the same
// bits; bad values, and a count other than the data's classes, are usage errors (exit 2) before training.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TrainReport } from '../src/node/cli/index.js';
import { readModelInfo } from '../src/node/model-file.js';
import { runCli as run } from './helpers/cli.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-class-weights-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

const SMALL = ['--json', '--quiet', '--train-rows', '300', '--test-rows', '100', '--hidden', '20', '--epochs', '2'];
const WEIGHTS = [1, 1, 1, 0.5, 1, 1, 2, 1, 1, 3];

async function train(...flags: string[]): Promise<TrainReport> {
  const r = await run(['train', ...SMALL, ...flags]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as TrainReport;
}

describe('simdnn train --class-weights', () => {
  it('is in the help of train', async () => {
    const r = await run(['train', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}--class-weights <w0,w1,\.\.\.> +one weight per class of the loss/m);
  });

  it('weights the loss (net options, model file, losses); all 1 is the unweighted run to the bit; --resume keeps them', async () => {
    const plain = await train();
    const ones = await train('--class-weights', new Array(10).fill('1').join(','));
    expect(ones.netOptions).toMatchObject({ classWeights: new Array(10).fill(1) });
    expect(ones.history).toEqual(plain.history.map((h) => ({ ...h, seconds: expect.any(Number) })));
    const file = path.join(tmp, 'weighted.safetensors'), ck = path.join(tmp, 'weighted-{epoch}.safetensors');
    const weighted = await train('--class-weights', WEIGHTS.join(','), '--save', file, '--checkpoint', ck, '--checkpoint-every', '1');
    expect(weighted.netOptions).toMatchObject({ classWeights: WEIGHTS });
    expect(readModelInfo(file).spec).toMatchObject({ kind: 'mlp', options: { classWeights: WEIGHTS } });
    expect(weighted.history.map((h) => h.trainLoss)).not.toEqual(plain.history.map((h) => h.trainLoss));
    // the checkpoint records them with the run's settings
    const stored = JSON.parse(readModelInfo(ck.replace('{epoch}', '1')).metadata['train.settings']) as { classWeights?: number[] };
    expect(stored.classWeights).toEqual(WEIGHTS);
    const resumed = await run(['train', '--json', '--quiet', '--resume', ck.replace('{epoch}', '1')]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((JSON.parse(resumed.stdout) as TrainReport).history).toEqual(weighted.history.map((h) => ({ ...h, seconds: expect.any(Number) })));
  });

  it('refuses bad weights, and a count other than the data\'s classes, as usage errors before training', async () => {
    const cases: Array<[string, RegExp]> = [
      ['1,-1', /--class-weights: each weight must be a finite number >= 0, got -1/],
      ['0,0,0', /--class-weights: the weights are all 0; at least one class must weigh more/],
      ['1,a', /--class-weights: expected a number, got 'a'/],
      ['1,,2', /--class-weights: expected a number, got ''/],
      ['1e999', /--class-weights: 1e999 is out of range/],
      ['1,2', /--class-weights: expected 10 weights \(one per class of the data\), got 2/],
    ];
    for (const [value, message] of cases) {
      const r = await run(['train', ...SMALL, '--class-weights', value]);
      expect(r.code, value).toBe(2);
      expect(r.stdout, value).toBe('');
      expect(r.stderr, value).toMatch(message);
    }
  });
});
