// Behaviour of the Trainer and the nets' plumbing that no other test pinned down, each found by a mutant
// that every other test let through (session 64): what the hooks and onProgress are given (a step's batch
// index and epoch, an epoch's last loss) and in which order fit() calls two sets of callbacks, a batch
// capped at the training rows, a validation set evaluated in full whatever evaluateSampleNumPerEpoch says,
// a second run starting early stopping afresh (its count and its best epoch), fit() aborted then run again
// starting afresh, a failed update rolled back on a net with layer state (batch norm) by a Trainer whose
// optimizer already had state; the argmax of rows holding ±Inf, He's fan-in for convolutions, a weight std
// of 0, predictAsync aborted while it yields, a StateSnapshot restored before any save, a spec's unknown
// key, and layerActivations' inference default. Node and Chromium.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { makeRuntime, expectBits, randomArray } from './helpers/runtime.js';
import { blobs as twoBlobs } from './helpers/blobs.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { Yielder } from '../src/runtime/yield.js';
import {
  Affine, DeepConvNet, Momentum, MultiLayerNet, MultiLayerNetExtend, Sequential, Trainer, buildNet, layerActivations,
  type NetSpec, type TrainerProgress,
} from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 64 }); });
afterAll(() => rt.dispose());

const blobs = (N: number, seed: number) => twoBlobs(rt, N, seed, { spread: 2 });

/** A 2-4-2 MLP, 30 training rows (3 steps of 10 an epoch), 10 test rows and 20 validation rows; free() disposes all of it. */
function setup() {
  rt.reseed(64);
  const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
  const d = blobs(30, 1), te = blobs(10, 2), va = blobs(20, 3);
  const free = () => { net.dispose(); for (const v of [d.x, d.t, te.x, te.t, va.x, va.t]) v.dispose(); };
  return { net, d, te, va, free };
}

describe('Trainer: what the hooks and onProgress are given', () => {
  it('onStepEnd: the epoch in progress (1-based) and the step\'s index within it; onProgress\'s epoch event: the last step\'s loss', () => {
    const { net, d, te, free } = setup();
    const steps: Array<[number, number, number]> = [];
    const progress: TrainerProgress[] = [];
    const trainer = new Trainer(net, d.x, d.t, te.x, te.t, {
      epochs: 2, miniBatchSize: 10,
      callbacks: { onStepEnd: (e) => { steps.push([e.epoch, e.batch, e.iter]); } },
      onProgress: (p) => { progress.push(p); },
    });
    const r = trainer.train();
    expect(steps).toEqual([[1, 0, 1], [1, 1, 2], [1, 2, 3], [2, 0, 4], [2, 1, 5], [2, 2, 6]]);
    const epochs = progress.filter((p) => p.kind === 'epoch');
    expect(epochs.map((p) => [p.epoch, p.iter])).toEqual([[1, 3], [2, 6]]);
    // the losses differ step to step, so a neighbour's would show
    expect(new Set(r.trainLossList).size).toBe(6);
    expect(epochs.map((p) => p.loss)).toEqual([r.trainLossList[2], r.trainLossList[5]]);
    expect(progress.filter((p) => p.kind === 'step').map((p) => p.loss)).toEqual(r.trainLossList);
    trainer.dispose();
    free();
  });

  it('fit() calls the Trainer\'s own callbacks first, then fit()\'s, at every hook', async () => {
    const { net, d, te, free } = setup();
    const log: string[] = [];
    const hooks = (who: string) => ({
      onTrainBegin: () => { log.push(`${who} trainBegin`); },
      onEpochBegin: () => { log.push(`${who} epochBegin`); },
      onStepEnd: () => { log.push(`${who} stepEnd`); },
      onEpochEnd: () => { log.push(`${who} epochEnd`); },
      onTrainEnd: () => { log.push(`${who} trainEnd`); },
    });
    const trainer = new Trainer(net, d.x, d.t, te.x, te.t, { epochs: 1, maxIterations: 1, miniBatchSize: 10, callbacks: hooks('own') });
    await trainer.fit({ callbacks: hooks('fit') });
    expect(log).toEqual(['trainBegin', 'epochBegin', 'stepEnd', 'epochEnd', 'trainEnd'].flatMap((h) => [`own ${h}`, `fit ${h}`]));
    trainer.dispose();
    free();
  });
});

describe('Trainer: validation', () => {
  it('a validation set is evaluated on all its rows, whatever evaluateSampleNumPerEpoch says (the training and test sets on their first N)', () => {
    const { net, d, te, va, free } = setup();
    const trainer = new Trainer(net, d.x, d.t, te.x, te.t, { epochs: 1, miniBatchSize: 10, evaluateSampleNumPerEpoch: 5, validation: { x: va.x, t: va.t } });
    const [record] = trainer.train().epochs;
    const full = net.evaluate(va.x, va.t), first = net.evaluate(va.x.rows(0, 5), va.t.rows(0, 5));
    expect(full.loss).not.toBe(first.loss); // the two would be told apart
    // the Trainer's chunk sum is the net's (one chunk of 20 rows): the same float64 operations
    expect(record.valLoss).toBe(full.loss);
    expect(record.valAcc).toBe(full.accuracy);
    trainer.dispose();
    free();
  });
});

describe('Trainer: batches', () => {
  it('a miniBatchSize over the training rows is capped at them: one step an epoch, on every row', () => {
    const { net, d, te, free } = setup();
    const whole = net.loss(d.x, d.t, true);
    const trainer = new Trainer(net, d.x, d.t, te.x, te.t, { epochs: 2, miniBatchSize: 100 });
    expect([trainer.batchSize, trainer.iterPerEpoch, trainer.maxIter]).toEqual([30, 1, 2]);
    const r = trainer.train();
    // the first step's loss is the mean over all 30 rows, in another order: float32 sums (measured equal; an ulp allowed)
    expect(Math.abs(r.trainLossList[0] - whole)).toBeLessThanOrEqual(2e-7 * whole);
    expect(r.epochs.map((e) => e.steps)).toEqual([1, 1]);
    trainer.dispose();
    free();
  });
});

describe('Trainer: a second run starts afresh', () => {
  it('early stopping\'s count starts again at 0 (a baseline never beaten counts every epoch: 1 after the new run\'s first)', () => {
    const { net, d, te, va, free } = setup();
    const waits: number[] = [];
    const trainer = new Trainer(net, d.x, d.t, te.x, te.t, {
      epochs: 3, miniBatchSize: 10, validation: { x: va.x, t: va.t }, earlyStopping: { patience: 10, baseline: -1 },
      callbacks: { onEpochEnd: (e) => { waits.push(e.trainer.trainerState().earlyStopping!.wait); } },
    });
    trainer.train();
    trainer.train(); // finished: a new run from these parameters
    expect(waits).toEqual([1, 2, 3, 1, 2, 3]);
    trainer.dispose();
    free();
  });

  it('a new run that records no epoch keeps no best epoch of the run before (no bestEpoch, no best in its state)', async () => {
    const { net, d, te, va, free } = setup();
    const trainer = new Trainer(net, d.x, d.t, te.x, te.t, { epochs: 2, miniBatchSize: 10, validation: { x: va.x, t: va.t }, earlyStopping: { patience: 5 } });
    expect(trainer.train().bestEpoch).toBe(2);
    expect(trainer.trainerState().best).not.toBeNull();
    // stopped before its first step: nothing of it is recorded, so it has no best epoch either
    const r = await trainer.fit({ callbacks: { onEpochBegin: (e) => e.stop() } });
    expect(r.epochs).toEqual([]);
    expect(r.bestEpoch).toBeUndefined();
    expect(trainer.trainerState().best).toBeNull();
    trainer.dispose();
    free();
  });

  it('after fit() was aborted, the next train() is a new run of every step (not the aborted run\'s rest)', async () => {
    const { net, d, te, free } = setup();
    const controller = new AbortController();
    const trainer = new Trainer(net, d.x, d.t, te.x, te.t, { epochs: 2, miniBatchSize: 10 });
    await expect(trainer.fit({ signal: controller.signal, callbacks: { onStepEnd: (e) => { if (e.iter === 2) controller.abort(new Error('stop here')); } } })).rejects.toThrow('stop here');
    const seen: number[] = [];
    const r = await trainer.fit({ callbacks: { onStepEnd: (e) => { seen.push(e.iter); } } });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.steps).toBe(6);
    expect(r.epochs.map((e) => e.steps)).toEqual([3, 3]);
    trainer.dispose();
    free();
  });
});

describe('Trainer: a failed update on a net with layer state', () => {
  it('an update overflowing the parameters of a batch-norm net puts back the parameters and the running statistics, bit for bit (a Trainer\'s first step, its optimizer stepped before)', () => {
    rt.reseed(65);
    const net = new MultiLayerNetExtend(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2, useBatchnorm: true });
    const d = blobs(20, 15);
    const optimizer = new Momentum({ lr: 0.1 });
    // a good step by another Trainer: the optimizer has state, so this one's first update is the guarded one,
    // which grows the backup block made by the layer state's save before it
    const first = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 1, miniBatchSize: 10, optimizer });
    first.step(d.x.rows(0, 10), d.t.rows(0, 10));
    first.dispose();
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 1, miniBatchSize: 10, optimizer });
    // a batch norm shift of 1e37 keeps the forward pass finite (softmax shifts by the row max) and makes
    // dW2 ≈ ±1e36: finite gradients whose update by lr 100 overflows
    net.params.beta1.data.fill(1e37);
    const good = net.exportParams();
    expect(Object.keys(good)).toContain('runningMean1');
    const state = optimizer.state();
    optimizer.lr = 100;
    expect(() => trainer.step(d.x.rows(10, 20), d.t.rows(10, 20), 1)).toThrow(/step 2 overflowed/);
    const after = net.exportParams();
    for (const k of Object.keys(good)) expectBits(after[k].data, good[k].data, k);
    expect(optimizer.state()).toEqual(state);
    trainer.dispose();
    net.dispose();
    d.x.dispose(); d.t.dispose();
  });
});

describe('nets: scoring, initialisation, inference entries', () => {
  it('accuracy scores rows holding ±Inf by their first maximum, as the kernel scores finite rows (ties included)', () => {
    // W of ones: a row [a, b] gives [a + b, a + b], a tie, whose first maximum is class 0; [Inf, 1] gives [Inf, Inf]
    const W = rt.tensor([2, 2], [1, 1, 1, 1]), b = rt.tensor([2]);
    const net = new Sequential(rt, [new Affine(W, b)]);
    const finite = rt.tensor([1, 2], [1, 1]), mixed = rt.tensor([2, 2], [Infinity, 1, 1, 1]);
    expect(net.accuracy(finite, [0])).toBe(1);
    expect(net.accuracy(finite, [1])).toBe(0);
    // a chunk holding a non-finite value is scored in JavaScript: the same first maximum
    expect(net.accuracy(mixed, [0, 0])).toBe(1);
    expect(net.accuracy(mixed, [1, 1])).toBe(0);
    net.dispose();
    for (const v of [W, b, finite, mixed]) v.dispose();
  });

  it('He\'s init for a conv net takes each layer\'s fan-in (a convolution\'s C·FH·FW, an Affine\'s input size), as the book\'s DeepConvNet', () => {
    rt.reseed(66);
    const net = new DeepConvNet(rt);
    rt.reseed(66);
    // the weights are drawn in order, W1 first, each N(0, 2 / fan-in)
    for (let i = 1; i <= 8; i++) {
      const W = net.params[`W${i}`];
      const fanIn = W.shape.length === 4 ? W.shape[1] * W.shape[2] * W.shape[3] : W.shape[0];
      const expected = rt.randn(rt.tensor(W.shape), Math.sqrt(2 / fanIn));
      expectBits(W.toArray(), expected.toArray(), `W${i} (fan-in ${fanIn})`);
      expected.dispose();
    }
    net.dispose();
  });

  it('a weight std of 0 is taken (a non-negative number): the weights are zeros', () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2, weightInitStd: 0 });
    for (const key of ['W1', 'W2']) expect(net.params[key].toArray().every((v) => v === 0), key).toBe(true);
    net.dispose();
  });

  it('predictAsync aborted while it yields before its last chunk rejects with the reason (it does not run the chunk and resolve)', async () => {
    rt.reseed(69);
    const net = new Sequential(rt, [new Affine(rt.randn(rt.tensor([3, 2]), 1), rt.tensor([2]))], { evalBatchSize: 2 });
    const x = rt.tensor([4, 3], randomArray(12, 70));
    const frozen = net.freeze();
    // a yield before every chunk after the first (as after 8 ms of work), without a clock
    const due = vi.spyOn(Yielder.prototype, 'due').mockReturnValue(true);
    try {
      for (const m of [net, frozen]) {
        const controller = new AbortController(), reason = new Error('stop now');
        const pending = m.predictAsync(x, { signal: controller.signal }); // runs its first chunk, then awaits the yield
        controller.abort(reason);
        await expect(pending).rejects.toBe(reason);
      }
    } finally {
      due.mockRestore();
    }
    frozen.dispose();
    for (const t of [...Object.values(net.params), x]) t.dispose();
    net.dispose();
  });

  it('a StateSnapshot restored before any save() throws and leaves the net\'s running statistics as they were', () => {
    rt.reseed(71);
    const net = new MultiLayerNetExtend(rt, { inputSize: 2, hiddenSizeList: [3], outputSize: 2, useBatchnorm: true });
    const x = blobs(8, 72);
    net.loss(x.x, x.t, true); // running statistics away from their start
    const before = net.exportParams();
    const snap = net.snapshotState();
    expect(() => snap.restore()).toThrow(/^StateSnapshot\.restore: nothing saved yet/);
    const after = net.exportParams();
    for (const k of ['runningMean1', 'runningVar1']) expectBits(after[k].data, before[k].data, k);
    snap.dispose();
    net.dispose();
    x.x.dispose(); x.t.dispose();
  });

  it('buildNet refuses a spec with a key besides kind and options, naming it', () => {
    const spec = { kind: 'mlp', options: { inputSize: 2, hiddenSizeList: [3], outputSize: 2 }, weightInitStd: 'he' };
    expect(() => buildNet(rt, spec as NetSpec)).toThrow(/^buildNet: spec: unknown key 'weightInitStd' \(expected kind, options\)$/);
  });

  it('layerActivations runs in inference mode unless told: the last output is predict(x)\'s, the running statistics untouched', () => {
    rt.reseed(73);
    const net = new MultiLayerNetExtend(rt, { inputSize: 2, hiddenSizeList: [3], outputSize: 2, useBatchnorm: true, useDropout: true, dropoutRatio: 0.5 });
    const x = blobs(6, 74);
    net.loss(x.x, x.t, true); // running statistics away from their start
    const before = net.exportParams();
    const expected = net.predict(x.x);
    const activations = layerActivations(net, x.x);
    expectBits(activations[activations.length - 1].data, expected.toArray(), 'the last layer\'s output');
    const after = net.exportParams();
    for (const k of ['runningMean1', 'runningVar1']) expectBits(after[k].data, before[k].data, k);
    expected.dispose();
    net.dispose();
    x.x.dispose(); x.t.dispose();
  });
});
