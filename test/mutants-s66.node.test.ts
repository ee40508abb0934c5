// The CLI's flags of session 66 where a mutant got past every other test (session 66's mutation run): --class-weights
// refusing a finite weight above float32's largest as a usage error, and --swa's annealStrategy reaching the run.
import { describe, it, expect } from 'vitest';
import type { TrainReport } from '../src/node/cli/index.js';
import { SWALR } from '../src/index.js';
import { runCli } from './helpers/cli.js';

const SMALL = ['--json', '--quiet', '--train-rows', '300', '--test-rows', '100', '--hidden', '20', '--epochs', '3', '--optimizer', 'adam', '--lr', '0.01'];

describe('simdnn train: session 66\'s flags', () => {
  it('--class-weights: a finite weight above float32\'s largest is a usage error before training', async () => {
    const r = await runCli(['train', ...SMALL, '--class-weights', ['1e39', ...new Array<string>(9).fill('1')].join(',')]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/--class-weights: each weight must be a finite number >= 0, got 1e\+39/);
  });

  it('--swa …,annealStrategy=linear anneals linearly (SWALR\'s rates from epoch 1\'s)', async () => {
    const r = await runCli(['train', ...SMALL, '--swa', '1:lr=0.005,annealEpochs=3,annealStrategy=linear']);
    expect(r.code, r.stderr).toBe(0);
    const swalr = new SWALR({ swaLr: 0.005, annealEpochs: 3, annealStrategy: 'linear' });
    const want = [0.01, swalr.lrAt(1, 0.01), swalr.lrAt(2, 0.01)];
    // cos anneals otherwise: 0.00875 after one of 3 periods where linear gives 0.008333…
    expect(want[1]).toBeCloseTo(0.01 - 0.005 / 3, 15);
    expect((JSON.parse(r.stdout) as TrainReport).history.map((h) => h.lr)).toEqual(want);
  });
});
