// Behaviour of TrainerOptions.sampleWeights that test/sampling.test.ts left open, each found by a mutant every
// other test let through (session 66): a draw's 48-bit fraction (its low 24 bits decide a row near a boundary,
// which the seeded counts never meet), the weights' digest as its comment defines it (FNV-1a of each weight's
// float64 bits, little-endian, every byte of every row: the value a checkpoint stores, so it must not drift),
// −0 weighed as 0, a state's record a copy, 'balanced' taking a one-hot row's first maximum and the first `rows`
// labels, and resume() refusing a state whose sampleWeights record is malformed. Node and Chromium.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { makeRuntime, randomArray } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { MultiLayerNet, SGD, Trainer, type TrainerState } from '../src/index.js';
import { WeightedSampler, balancedWeights, checkSampleWeights } from '../src/train/sampler.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 66 }); });
afterAll(() => rt.dispose());

/** The rows WeightedSampler draws for `weights` when the stream gives `uniforms` (pairs hi, lo of k/2^24 each). */
function rowsFor(weights: number[], uniforms: number[]): number[] {
  const sampler = new WeightedSampler(Float64Array.from(weights), 'given');
  const count = uniforms.length / 2;
  const out = rt.labels([count], new Array<number>(count).fill(0)), u = rt.tensor([2 * count], new Array<number>(2 * count).fill(0));
  // a runtime whose stream gives exactly these uniforms
  const stub = { seed: 0, take: () => 0, unsafeKernels: { rngUniform: () => { u.data.set(uniforms); } } } as unknown as Runtime;
  sampler.draw(stub, out, u, count);
  const rows = Array.from(out.data.subarray(0, count));
  out.dispose();
  u.dispose();
  return rows;
}

describe('WeightedSampler: a draw\'s 48-bit fraction', () => {
  it('the low 24 bits decide the row where the high ones land on a boundary; f = 0 and f just below 1 stay on rows of positive weight', () => {
    // weights [1, 2]: row 1 from f = 1/3. hi = 5592405/2^24 is 2^-24/3 below it; lo adds lo·2^-24: past 1/3 for lo > 1/3
    // (f·3 is 1 + 2^-25 for lo = 0.5, exact in float64; 1 − 2^-26 for lo = 0.25)
    const hi = 5592405 / 16777216;
    expect(rowsFor([1, 2], [hi, 0.5, hi, 0.25, hi, 0])).toEqual([1, 0, 0]);
    const below1 = 16777215 / 16777216;
    expect(rowsFor([0, 1, 0], [0, 0, below1, below1])).toEqual([1, 1]);
    expect(rowsFor([3, 1, 0, 0], [below1, below1, 0.75, 0, 0.75, 1 / 16777216])).toEqual([1, 1, 1]);
    expect(rowsFor([3, 1, 0, 0], [0.75 - 1 / 16777216, 0.999])).toEqual([0]);
  });
});

describe('sampleWeights\' digest: FNV-1a of each weight\'s float64 bits, little-endian', () => {
  // the values below computed apart (Python: struct.pack('<d', w), FNV-1a 32 bits)
  const cases: Array<[number[], string]> = [
    [[1], '8c6a9878'],
    [[0, 1], '9bcdaa18'],
    [[1, 2, 3, 4, 0, 5, 1, 0, 2, 2], '835de629'],
    [[1, 1], '73b4b925'],
    [[1, 1 + 2 ** -52], 'db162804'], // the last bit of the last row's mantissa: in the first byte written
  ];
  it('is the stated hash of the weights themselves, every byte of every row', () => {
    for (const [w, digest] of cases) expect(new WeightedSampler(Float64Array.from(w), 'given').record.digest, `weights ${w}`).toBe(digest);
  });

  it('weighs −0 as 0 (the same weights, the same digest), and a Trainer\'s state records that digest', () => {
    const w = checkSampleWeights([-0, 1], 2);
    expect(Object.is(w[0], 0)).toBe(true);
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [3], outputSize: 2 });
    const x = rt.tensor([2, 2], [0, 1, 1, 0]), t = rt.labels([2], [0, 1]);
    const trainer = new Trainer(net, x, t, x, t, { epochs: 1, miniBatchSize: 2, optimizer: new SGD({ lr: 0 }), sampleWeights: [-0, 1] });
    expect(trainer.trainerState().sampleWeights).toEqual({ kind: 'given', digest: '9bcdaa18' });
    // a copy: a caller writing into a state it was given changes neither the next state nor what resume() checks
    const given = trainer.trainerState();
    given.sampleWeights!.digest = 'ffffffff';
    expect(trainer.trainerState().sampleWeights).toEqual({ kind: 'given', digest: '9bcdaa18' });
    trainer.dispose(); net.dispose(); x.dispose(); t.dispose();
  });
});

describe("balancedWeights: each row's class", () => {
  it("takes a one-hot (or soft) row's first maximum, as accuracy() does, and the first `rows` labels of an int tensor", () => {
    const soft = rt.tensor([3, 3], [0.5, 0.5, 0, 0, 0, 1, 1, 0, 0]); // classes 0 (tied with 1: the first), 2, 0
    expect(Array.from(balancedWeights(soft, 3, 3))).toEqual([0.5, 1, 0.5]);
    const labels = rt.labels([5], [0, 0, 1, 2, 2]); // the first 3 rows: classes 0, 0, 1
    expect(Array.from(balancedWeights(labels, 3, 3))).toEqual([0.5, 0.5, 1]);
    soft.dispose(); labels.dispose();
  });
});

describe('resume(): a malformed sampleWeights record', () => {
  it('is refused, not taken for none', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [3], outputSize: 2 });
    const x = rt.tensor([6, 2], randomArray(12, 661)), t = rt.labels([6], [0, 1, 0, 1, 0, 1]);
    const trainer = new Trainer(net, x, t, x, t, { epochs: 1, miniBatchSize: 2, optimizer: new SGD({ lr: 0.1 }), sampling: 'replacement' });
    const state = trainer.trainerState();
    expect(state.sampleWeights).toBeNull();
    for (const bad of [42, 'abc']) {
      const odd = { ...state, sampleWeights: bad } as unknown as TrainerState;
      expect(() => trainer.resume(odd), String(bad)).toThrow(/^Trainer\.resume: the state's run drew its batches with sampleWeights given weights \(digest (42|abc)\), this Trainer with none/);
    }
    trainer.dispose(); net.dispose(); x.dispose(); t.dispose();
  });
});
