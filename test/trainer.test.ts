// The Trainer's loops: fit() against train(), yielding, abort, callbacks,
// iterations and sampling, schedules in the loop, augmentation, validation,
// early stopping, checkpoints and resume, the failed-step guarantee and
// target validation. Small nets and few steps throughout.
import { describe, it, expect, beforeAll, vi } from 'vitest';
import { makeRuntime, randomArray, randomInts, expectBits } from './helpers/runtime.js';
import { blobs as twoBlobs } from './helpers/blobs.js';
import type { Runtime } from '../src/runtime/runtime.js';
import {
  MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, Trainer, SGD, Momentum, Adam, AdaGrad, NonFiniteError, StepLR, ReduceLROnPlateau, ExponentialLR, LinearLR, RandomAffine, Sequential, Affine, Relu, loadModel,
  WorkerFault, type TrainerBaseOptions, type TrainerOptions, type TrainResult,
} from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 3 }); });

/** The blobs 2 apart; `flip` swaps the labels. */
const blobs = (r: Runtime, N: number, seed: number, flip = false) => twoBlobs(r, N, seed, { spread: 2, flip });

async function run(seed: number, options: TrainerOptions, how: 'train' | 'fit', extend = false) {
  const r = await makeRuntime({ seed });
  const net = extend
    ? new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2, useBatchnorm: true, useDropout: true, dropoutRatio: 0.1 })
    : new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
  const d = blobs(r, 120, 1), te = blobs(r, 40, 2);
  const trainer = new Trainer(net, d.x, d.t, te.x, te.t, { miniBatchSize: 20, ...options });
  const result = how === 'train' ? trainer.train() : await trainer.fit();
  return { r, net, trainer, result, params: net.exportParams() };
}

const bits = (a: TrainResult) => new Float64Array(a.trainLossList);

describe('Trainer.fit', () => {
  it('gives the bits of train() for the same seed (permutation and replacement, schedule, batch norm and dropout)', async () => {
    for (const sampling of ['permutation', 'replacement'] as const) {
      const options: TrainerOptions = { epochs: 3, sampling, optimizer: new Adam({ lr: 0.01 }), lrSchedule: new StepLR({ stepSize: 1, gamma: 0.5 }) };
      const a = await run(7, { ...options, optimizer: new Adam({ lr: 0.01 }) }, 'train', true);
      const b = await run(7, { ...options, optimizer: new Adam({ lr: 0.01 }) }, 'fit', true);
      expect(b.result.trainLossList).toEqual(a.result.trainLossList);
      expect(b.result.testAccList).toEqual(a.result.testAccList);
      for (const k of Object.keys(a.params)) expectBits(b.params[k].data, a.params[k].data, `${sampling} ${k}`);
      expect(b.result.steps).toBe(18);
      for (const x of [a, b]) { x.trainer.dispose(); x.r.dispose(); }
    }
  });

  it('yields to the event loop between steps (a timer set before fit() fires during it)', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(rt, 40, 3);
    let timerFired = false;
    let firedAtStep = -1;
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 2, miniBatchSize: 10 });
    setTimeout(() => { timerFired = true; }, 0);
    await trainer.fit({
      callbacks: {
        onStepEnd: (e) => {
          if (timerFired && firedAtStep < 0) firedAtStep = e.iter;
          // make each step outlast the slice, so fit() must yield after it
          const until = performance.now() + 10;
          while (performance.now() < until) { /* spin */ }
        },
      },
    });
    // without yields the timer could only fire after fit() resolved; when exactly it fires
    // during the run depends on the host's timer granularity and load
    expect(firedAtStep).toBeGreaterThan(0);
    expect(firedAtStep).toBeLessThan(trainer.maxIter);
    trainer.dispose();
  });

  it('stops within one step of an abort and rejects with the signal\'s reason', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(rt, 40, 4);
    const optimizer = new SGD({ lr: 0.1 });
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 5, miniBatchSize: 10, optimizer });
    const controller = new AbortController();
    const p = trainer.fit({ signal: controller.signal, callbacks: { onStepEnd: (e) => { if (e.iter === 3) controller.abort(); } } });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(optimizer.t).toBe(3);
    // an already-aborted signal: no step at all
    const before = optimizer.t;
    await expect(trainer.fit({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(optimizer.t).toBe(before);
    trainer.dispose();
  });

  it('calls the Keras-like callbacks in order, awaits their promises, and any can stop training', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(rt, 40, 5);
    const seen: string[] = [];
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 5, miniBatchSize: 20 });
    const result = await trainer.fit({
      callbacks: {
        onTrainBegin: () => { seen.push('begin'); },
        onEpochBegin: (e) => { seen.push(`e${e.epoch}`); },
        onStepEnd: async (e) => { await Promise.resolve(); seen.push(`s${e.iter}`); },
        onEpochEnd: (e) => { seen.push(`E${e.record.epoch}`); if (e.record.epoch === 2) e.stop(); },
        onTrainEnd: (e) => { seen.push(`end:${e.result.stopReason}`); },
      },
    });
    expect(seen).toEqual(['begin', 'e1', 's1', 's2', 'E1', 'e2', 's3', 's4', 'E2', 'end:callback']);
    expect(result.epochs).toHaveLength(2);
    expect(result.stopReason).toBe('callback');
    // a stop from onStepEnd ends after that step; the partial epoch is recorded
    const r2 = await trainer.fit({ callbacks: { onStepEnd: (e) => { if (e.iter === 3) e.stop(); } } });
    expect(r2.steps).toBe(3);
    expect(r2.epochs.map((e) => e.steps)).toEqual([2, 1]);
    // one run at a time
    const running = trainer.fit({ callbacks: { onTrainBegin: () => new Promise((resolve) => setTimeout(resolve, 1)) } });
    expect(() => trainer.train()).toThrow(/already training/);
    await running;
    trainer.dispose();
  });
});

describe('Trainer evaluation chunks', () => {
  it('evaluates in the net\'s chunks (1,000 rows of an MLP, 100 images of a conv net), pausing after each', () => {
    const conv = new SimpleConvNet(rt, { inputDim: [1, 6, 6], convParam: { filterNum: 2, filterSize: 3 }, hiddenSize: 4, outputSize: 2 });
    const mlp = new MultiLayerNet(rt, { inputSize: 36, hiddenSizeList: [4], outputSize: 2 });
    for (const [net, chunks] of [[conv, [100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 50]], [mlp, [1000, 250]]] as const) {
      const x = rt.tensor(net === conv ? [1250, 1, 6, 6] : [1250, 36], randomArray(1250 * 36, 8));
      const t = rt.labels([1250], Array.from({ length: 1250 }, (_, i) => i % 2));
      const seen: number[] = [];
      const evaluate = net.evaluateSums.bind(net);
      net.evaluateSums = (xs, ts) => { seen.push(xs.shape[0]); return evaluate(xs, ts); };
      const trainer = new Trainer(net, x.rows(0, 100), t.rows(0, 100), x, t, { epochs: 1, miniBatchSize: 100, adaptiveThreads: false });
      let pauses = 0;
      const run = trainer['run']([]) as Generator<unknown>;
      for (let r = run.next(); !r.done; r = run.next()) pauses++;
      expect(seen, net.constructor.name).toEqual([100, ...chunks]); // the training rows' evaluation, then the test set's
      expect(pauses, 'a pause after the step and after each chunk').toBe(1 + 1 + chunks.length);
      trainer.dispose();
      x.dispose();
      t.dispose();
      net.dispose();
    }
  });
});

describe('Trainer loop shapes', () => {
  it('gives each StepEvent the rate its update used (a schedule\'s per step), null for an optimizer without an lr, and no gradNorm without clipGradNorm', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(rt, 60, 6);
    const seen: Array<[number | null, boolean]> = [];
    const onStepEnd = (e: { lr: number | null; gradNorm?: number }) => { seen.push([e.lr, 'gradNorm' in e]); };
    const sgd = new SGD({ lr: 0.5 });
    const scheduled = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 2, miniBatchSize: 20, optimizer: sgd, lrSchedule: new ExponentialLR({ gamma: 0.5, interval: 'step' }), callbacks: { onStepEnd } });
    scheduled.train();
    expect(seen).toEqual([0, 1, 2, 3, 4, 5].map((k) => [0.5 * 0.5 ** k, false]));
    scheduled.dispose();
    seen.length = 0;
    const noRate = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 1, miniBatchSize: 20, optimizer: { name: 'by hand', update() {} }, callbacks: { onStepEnd } });
    noRate.train();
    expect(seen).toEqual([[null, false], [null, false], [null, false]]);
    noRate.dispose();
    net.dispose();
  });

  it('runs maxIterations steps (the book\'s iters_num) in epochs of ⌊N / batch⌋ steps, the last partial', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(rt, 100, 6);
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { maxIterations: 7, miniBatchSize: 30, epochs: 99 });
    expect(trainer.iterPerEpoch).toBe(3);
    const r = trainer.train();
    expect(r.steps).toBe(7);
    expect(r.trainLossList).toHaveLength(7);
    expect(r.epochs.map((e) => e.steps)).toEqual([3, 3, 1]);
    trainer.dispose();
  });

  it('samples with replacement from the seeded stream: reproducible, and not the permutation\'s batches', async () => {
    const a = await run(9, { epochs: 2, sampling: 'replacement' }, 'train');
    const b = await run(9, { epochs: 2, sampling: 'replacement' }, 'train');
    const c = await run(9, { epochs: 2, sampling: 'permutation' }, 'train');
    expect(bits(b.result)).toEqual(bits(a.result));
    expect(bits(c.result)).not.toEqual(bits(a.result));
    for (const x of [a, b, c]) { x.trainer.dispose(); x.r.dispose(); }
  });

  it('sets the optimizer\'s lr from the schedule per epoch or per step', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(rt, 40, 7);
    const optimizer = new SGD({ lr: 0.2 });
    const perEpoch = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 3, miniBatchSize: 20, optimizer, lrSchedule: new ExponentialLR({ gamma: 0.5 }) });
    const r = perEpoch.train();
    expect(r.epochs.map((e) => e.lr)).toEqual([0.2, 0.1, 0.05]);
    const lrs: number[] = [];
    const opt2 = new SGD({ lr: 0.3 });
    const perStep = new Trainer(net, d.x, d.t, d.x, d.t, {
      epochs: 2, miniBatchSize: 10, optimizer: opt2, lrSchedule: new LinearLR({ startFactor: 0.25, totalIters: 4, interval: 'step' }),
      callbacks: { onStepEnd: () => { lrs.push(opt2.lr); } },
    });
    perStep.train();
    expect(lrs).toEqual(Array.from({ length: 8 }, (_, k) => 0.3 * (0.25 + (1 - 0.25) * Math.min(k, 4) / 4)));
    perEpoch.dispose();
    perStep.dispose();
  });

  it('augments every gathered batch: a function in place, a RandomAffine on images; a wrong shape is an error', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(rt, 40, 8);
    let calls = 0;
    const zeroing = new Trainer(net, d.x, d.t, d.x, d.t, {
      epochs: 1, miniBatchSize: 10, optimizer: new SGD({ lr: 0 }),
      augment: (x) => { calls++; x.data.fill(0); },
    });
    const r = zeroing.train();
    // zero inputs through a net with zero biases: the logits are 0, the loss ln 2
    expect(calls).toBe(4);
    for (const loss of r.trainLossList) expect(loss).toBeCloseTo(Math.LN2, 6);
    const wrong = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 1, miniBatchSize: 10, augment: () => rt.tensor([3, 2]) });
    expect(() => wrong.train()).toThrow(/augment must change the batch in place or return a Tensor of its shape \[10, 2\]/);
    // images [N, 1, 4, 4] through a RandomAffine (its output is trained on)
    const imgs = rt.tensor([20, 1, 4, 4], randomArray(320, 9, 0, 1));
    const labels = rt.labels([20], Array.from({ length: 20 }, (_, i) => i % 2));
    const conv = new MultiLayerNet(rt, { inputSize: 16, hiddenSizeList: [4], outputSize: 2 });
    const flat = (t: typeof imgs) => t.reshape([t.shape[0], 16]);
    const affine = new RandomAffine(rt, { degrees: 10, shift: 1 });
    const withAffine = new Trainer(conv, flat(imgs), labels, flat(imgs), labels, {
      epochs: 1, miniBatchSize: 10, optimizer: new SGD({ lr: 0 }),
      augment: (x) => flat(affine.apply(x.reshape([x.shape[0], 1, 4, 4]))),
    });
    const plain = new Trainer(conv, flat(imgs), labels, flat(imgs), labels, { epochs: 1, miniBatchSize: 10, optimizer: new SGD({ lr: 0 }) });
    expect(withAffine.train().trainLossList).not.toEqual(plain.train().trainLossList);
    const direct = new Trainer(conv, flat(imgs), labels, flat(imgs), labels, { epochs: 1, miniBatchSize: 10, augment: affine });
    expect(() => direct.train()).toThrow(/RandomAffine.apply: x must be \[N, C, H, W\]/);
    for (const t of [zeroing, wrong, withAffine, plain, direct]) t.dispose();
    affine.dispose();
  });
});

describe('Trainer validation, early stopping, checkpoints', () => {
  it('holds out a seeded validationSplit and records validation loss and accuracy', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(rt, 50, 10);
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 2, miniBatchSize: 10, validationSplit: 0.2, optimizerParams: { lr: 0.1 } });
    expect(trainer.trainingRows).toBe(40);
    const r = trainer.train();
    expect(r.steps).toBe(8);
    expect(r.valAccList).toHaveLength(2);
    expect(r.epochs[1].valLoss).toBeGreaterThan(0);
    trainer.dispose();
  });

  it('resume refuses a state whose validationSplit chose other rows (a Trainer made on a runtime of another seed)', async () => {
    const make = async (seed: number, split = true) => {
      const r = await makeRuntime({ seed });
      const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
      const d = blobs(r, 60, 23);
      return { r, net, trainer: new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 2, miniBatchSize: 10, ...(split ? { validationSplit: 0.2 } : {}) }) };
    };
    const a = await make(3);
    a.trainer.train();
    const state = a.trainer.trainerState();
    expect(state.splitSeed).toBe(3);
    const other = await make(4);
    const before = other.net.exportParams();
    expect(() => other.trainer.resume(state)).toThrow(/^Trainer\.resume: the state's run held out its validation rows with seed 3, this Trainer with seed 4 \(the runtime's seed when it was made\)/);
    expect(other.net.exportParams(), 'nothing changed').toEqual(before);
    const none = await make(3, false);
    expect(() => none.trainer.resume(state)).toThrow(/held out its validation rows with seed 3, this Trainer with none/);
    const same = await make(3);
    same.trainer.resume(state);
    for (const x of [a, other, none, same]) { x.trainer.dispose(); x.net.dispose(); x.r.dispose(); }
  });

  it('a plateau schedule starts each run from its optimizer\'s base rate (it kept the first run\'s, up to 500× the rate asked for)', () => {
    const schedule = new ReduceLROnPlateau({ factor: 0.1, patience: 0 });
    const d = blobs(rt, 40, 21), flipped = blobs(rt, 20, 22, true);
    const lrs = (lr: number) => {
      const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
      const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 3, miniBatchSize: 10, optimizer: new SGD({ lr }), lrSchedule: schedule, validation: flipped });
      const r = trainer.train().epochs.map((e) => e.lr);
      trainer.dispose();
      net.dispose();
      return r;
    };
    expect(lrs(0.5)[0]).toBe(0.5);
    const second = lrs(0.001);
    expect(second[0]).toBe(0.001);
    expect(second.every((lr) => lr! <= 0.001)).toBe(true);
  });

  // Keras's count: patience 1 stopped one epoch late (wait > patience)
  for (const patience of [1, 2]) it(`early stopping on the validation loss stops after \`patience\` (${patience}) bad epochs and restores the best epoch's parameters`, () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
    const d = blobs(rt, 80, 11);
    const flipped = blobs(rt, 40, 12, true); // learning the task makes this set's loss worse
    const snapshots: Record<number, Float32Array> = {};
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, {
      epochs: 10, miniBatchSize: 10, optimizerParams: { lr: 0.1 }, validation: flipped, earlyStopping: { patience },
      callbacks: { onEpochEnd: (e) => { snapshots[e.record.epoch] = net.params.W1.toArray(); } },
    });
    const r = trainer.train();
    expect(r.stopReason).toBe('earlyStopping');
    const best = r.epochs.reduce((a, b) => (b.valLoss! < a.valLoss! ? b : a));
    expect(r.bestEpoch).toBe(best.epoch);
    expect(r.epochs).toHaveLength(best.epoch + patience);
    expectBits(net.params.W1.toArray(), snapshots[best.epoch], 'W1 restored');
    trainer.dispose();
  });

  // SGD keeps no state tensors: its checkpoint once loaded with no parameter's state, and the next update was refused
  for (const [name, optimizer] of [['Adam', () => new Adam({ lr: 0.01 })], ['SGD', () => new SGD({ lr: 0.1 })]] as const) it(`resumes from a checkpoint bit for bit (${name}, schedule, batch norm, dropout, replacement sampling)`, async () => {
    const options = () => ({ epochs: 4, optimizer: optimizer(), sampling: 'replacement' as const, lrSchedule: new StepLR({ stepSize: 1, gamma: 0.7 }) });
    const written: Array<[number, Uint8Array]> = [];
    const full = await run(13, { ...options(), checkpoint: { every: 2, write: (bytes, epoch) => { written.push([epoch, bytes]); } } }, 'fit', true);
    expect(written.map(([e]) => e)).toEqual([2, 4]);
    // a named net's checkpoint is a model file: loadModel reads it, the position rides in its metadata
    const model = loadModel(full.r, written[0][1]);
    expect(JSON.parse(model.metadata.trainer)).toMatchObject({ format: 'simdnn.trainer/1', epoch: 2, iter: 12 });
    expect(model.optimizer?.t).toBe(12);
    model.net.dispose();
    model.optimizer?.dispose();
    // a fresh runtime with another seed: everything comes from the checkpoint
    const r = await makeRuntime({ seed: 99 });
    const net = new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2, useBatchnorm: true, useDropout: true, dropoutRatio: 0.1 });
    const d = blobs(r, 120, 1), te = blobs(r, 40, 2);
    const trainer = new Trainer(net, d.x, d.t, te.x, te.t, { miniBatchSize: 20, ...options() });
    trainer.resume(written[0][1]);
    const result = trainer.train();
    expect(result.trainLossList).toEqual(full.result.trainLossList);
    expect(result.testAccList).toEqual(full.result.testAccList);
    const params = net.exportParams();
    for (const k of Object.keys(full.params)) expectBits(params[k].data, full.params[k].data, k);
    expect(r.randomState).toEqual(full.r.randomState);
    expect(() => trainer.resume({ ...trainer.trainerState(), format: 'x' } as never)).toThrow(/not a trainer state/);
    for (const x of [full.trainer, trainer]) x.dispose();
    full.r.dispose();
    r.dispose();
  });
});

describe('Trainer resumed where early stopping ended its run', () => {
  it('trains nothing more: the record, the stop reason and the best epoch\'s parameters of the uninterrupted run', async () => {
    // random labels: the validation loss stops improving within a few epochs
    const make = async (checkpoint?: TrainerOptions['checkpoint']) => {
      const r = await makeRuntime({ seed: 21 });
      const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
      const x = r.tensor([120, 2], randomArray(240, 5)), t = r.labels([120], randomInts(120, 6, 2));
      const trainer = new Trainer(net, x, t, x, t, {
        miniBatchSize: 20, epochs: 30, optimizer: new SGD({ lr: 0.1 }), validationSplit: 0.3, earlyStopping: { patience: 1 }, checkpoint,
      });
      return { r, net, trainer };
    };
    const written: Array<[number, Uint8Array]> = [];
    const full = await make({ every: 1, write: (bytes, epoch) => { written.push([epoch, bytes]); } });
    const expected = await full.trainer.fit();
    expect(expected.stopReason).toBe('earlyStopping');
    const stoppedAt = expected.epochs.length;
    expect(stoppedAt).toBeLessThan(30);
    expect(expected.bestEpoch).toBeLessThan(stoppedAt); // the kept parameters are an earlier epoch's
    const params = full.net.exportParams();
    for (const [epoch, bytes] of written.slice(-2)) { // the epoch before the stop, and the stop's
      const again = await make();
      again.trainer.resume(bytes);
      expect(again.trainer.atRunEnd, `epoch ${epoch}`).toBe(epoch === stoppedAt);
      const result = await again.trainer.fit();
      expect(result.stopReason, `epoch ${epoch}`).toBe('earlyStopping');
      expect(result.epochs.length, `epoch ${epoch}`).toBe(stoppedAt);
      expect(result.bestEpoch, `epoch ${epoch}`).toBe(expected.bestEpoch);
      expect(result.trainLossList, `epoch ${epoch}`).toEqual(expected.trainLossList);
      const got = again.net.exportParams();
      for (const k of Object.keys(params)) expectBits(got[k].data, params[k].data, `epoch ${epoch}: ${k}`);
      again.trainer.dispose();
      again.r.dispose();
    }
    full.trainer.dispose();
    full.r.dispose();
  });
});

describe('Trainer checkpoints of user-composed nets', () => {
  it('are JSON trainer states and resume bit for bit too', async () => {
    const build = async () => {
      const r = await makeRuntime({ seed: 17 });
      const W1 = r.randn(r.tensor([2, 6]), 0.5), W2 = r.randn(r.tensor([6, 2]), 0.5);
      const net = new Sequential(r, [new Affine(W1, r.tensor([6])), new Relu(), new Affine(W2, r.tensor([2]))]);
      const d = blobs(r, 60, 3);
      return { r, net, d };
    };
    const a = await build();
    let bytes: Uint8Array | null = null;
    const ta = new Trainer(a.net, a.d.x, a.d.t, a.d.x, a.d.t, { epochs: 3, miniBatchSize: 10, optimizer: new Momentum({ lr: 0.05 }), checkpoint: { every: 1, write: (b, e) => { if (e === 1) bytes = b; } } });
    ta.train();
    expect(bytes![0]).toBe(0x7b); // '{'
    const b = await build();
    const tb = new Trainer(b.net, b.d.x, b.d.t, b.d.x, b.d.t, { epochs: 3, miniBatchSize: 10, optimizer: new Momentum({ lr: 0.05 }) });
    b.r.reseed(5); // the checkpoint brings the stream back
    tb.resume(bytes!);
    tb.train();
    for (const k of ['W1', 'W2', 'b1', 'b2']) expectBits(b.net.params[k].toArray(), a.net.params[k].toArray(), k);
    ta.dispose(); tb.dispose(); a.r.dispose(); b.r.dispose();
  });
});

describe('Trainer failed steps (issue 12)', () => {
  it('a NaN loss leaves batch-norm running statistics as they were', () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2, useBatchnorm: true });
    const d = blobs(rt, 20, 14);
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 1, miniBatchSize: 10 });
    trainer.step(d.x.rows(0, 10), d.t.rows(0, 10));
    const before = net.exportParams();
    const bad = rt.tensor([10, 2], new Array(20).fill(Infinity));
    expect(() => trainer.step(bad, d.t.rows(0, 10))).toThrow(/loss is NaN/);
    const after = net.exportParams();
    expect(Object.keys(after)).toContain('runningMean1');
    for (const k of Object.keys(before)) expectBits(after[k].data, before[k].data, k);
    trainer.dispose();
  });

  it('an update that overflows finite parameters to ±Inf is rolled back: parameters, optimizer state and step count', () => {
    // hidden activations of 1e37 (a huge b1) keep the forward pass finite (softmax shifts by the
    // row max) and make dW2 = ±5e36: finite gradients whose update by lr 100 overflows
    const huge = (net: MultiLayerNet) => net.params.b1.data.fill(1e37);
    const d = blobs(rt, 20, 15);
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const optimizer = new Momentum({ lr: 0.1 });
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 1, miniBatchSize: 10, optimizer });
    // the first update overflows: the optimizer has no state yet
    huge(net);
    const first = net.exportParams();
    optimizer.lr = 100;
    expect(() => trainer.step(d.x.rows(0, 10), d.t.rows(0, 10))).toThrow(/step 1 overflowed the parameters/);
    for (const k of Object.keys(first)) expectBits(net.exportParams()[k].data, first[k].data, `first ${k}`);
    expect(optimizer.state()).toEqual({ optimizer: 'Momentum', t: 0, params: {} });
    // a good step, then an overflowing one
    net.params.b1.data.fill(0);
    optimizer.lr = 0.1;
    trainer.step(d.x.rows(0, 10), d.t.rows(0, 10));
    huge(net);
    const good = net.exportParams();
    const state = optimizer.state();
    expect(state.t).toBe(1);
    optimizer.lr = 100;
    expect(() => trainer.step(d.x.rows(10, 20), d.t.rows(10, 20), 1)).toThrow(/step 2 overflowed/);
    const after = net.exportParams();
    for (const k of Object.keys(good)) expectBits(after[k].data, good[k].data, k);
    expect(optimizer.state()).toEqual(state);
    // and training goes on from there
    net.params.b1.data.fill(0);
    optimizer.lr = 0.01;
    expect(Number.isFinite(trainer.step(d.x.rows(10, 20), d.t.rows(10, 20), 1))).toBe(true);
    expect(optimizer.t).toBe(2);
    trainer.dispose();
  });
});

describe('Trainer steps whose gradient squares past float32 (issue 12)', () => {
  // a feature holding 1e20 (a missing-value code in unprepared data) gives gradients of ~1e20: AdaGrad's and
  // Adam's g² is Inf with the parameters still finite; AdaGrad then froze the weight for good, Adam made it NaN
  // a step later, and the rollback through loadState refused the Inf the state held
  for (const [name, make] of [['AdaGrad', () => new AdaGrad({ lr: 0.01 })], ['Adam', () => new Adam({ lr: 0.001 })]] as const) {
    it(`${name}: a NonFiniteError at the step, the state as after the last good step, and the run resumable`, async () => {
      for (const at of [0, 2]) { // the first update (which makes the state), and a later one
        const r = await makeRuntime({ seed: 1 });
        const xs = randomArray(40 * 3, 9), ts = randomInts(40, 10, 2);
        for (let i = 0; i < 10; i++) xs[(at * 10 + i) * 3] = 1e20; // the rows of step `at` + 1
        const x = r.tensor([40, 3], xs), t = r.labels([40], ts);
        const net = new MultiLayerNet(r, { inputSize: 3, hiddenSizeList: [], outputSize: 2 });
        const optimizer = make();
        const trainer = new Trainer(net, x, t, x, t, { epochs: 1, miniBatchSize: 10, optimizer });
        for (let i = 0; i < at; i++) trainer.step(x.rows(i * 10, i * 10 + 10), t.rows(i * 10, i * 10 + 10), i);
        const params = net.exportParams(), state = optimizer.state();
        let error: unknown;
        try { trainer.step(x.rows(at * 10, at * 10 + 10), t.rows(at * 10, at * 10 + 10), at); } catch (e) { error = e; }
        expect(error, `step ${at + 1}`).toBeInstanceOf(NonFiniteError);
        expect((error as Error).message).toMatch(new RegExp(`step ${at + 1} overflowed the parameters or the optimizer's state to NaN/Inf`));
        expect(optimizer.state(), `step ${at + 1}`).toEqual(state);
        for (const k of Object.keys(params)) expectBits(net.exportParams()[k].data, params[k].data, k);
        trainer.resume(trainer.trainerState()); // its state holds nothing loadState refuses
        trainer.dispose(); r.dispose();
      }
    });
  }
});

describe('Trainer after a worker thread\'s fault', () => {
  // The faults are thrown here as the thread pool throws them (test/threads-failures.node.test.ts
  // causes them in real worker threads): after the net's real work, so dropout has drawn its masks
  // and batch norm has moved its running statistics.
  const fault = () => new WorkerFault('gemm: 1 of 2 parts failed: part 2 of 2 in a worker thread: RuntimeError: memory access out of bounds', false, { cause: new Error('trap') });

  /** fit() of the batch-norm and dropout net; `patch` may wrap its gradient() and evaluate(). */
  async function faulted(patch: (net: MultiLayerNetExtend) => void) {
    const r = await makeRuntime({ seed: 8 });
    const net = new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2, useBatchnorm: true, useDropout: true, dropoutRatio: 0.2 });
    patch(net);
    const d = blobs(r, 120, 1), te = blobs(r, 40, 2);
    const trainer = new Trainer(net, d.x, d.t, te.x, te.t, { miniBatchSize: 20, epochs: 3, optimizer: new Adam({ lr: 0.01 }) });
    try {
      return { result: await trainer.fit(), params: net.exportParams(), faults: trainer.workerFaults, random: r.randomState };
    } finally {
      trainer.dispose();
    }
  }

  it('a step is put back and run again from the same point of the random stream: the run has the bits of one without the faults', async () => {
    const clean = await faulted(() => {});
    let calls = 0;
    const seen = await faulted((net) => {
      const real = net.gradient.bind(net);
      net.gradient = (x, t) => {
        const grads = real(x, t);
        if (++calls === 3 || calls === 8) throw fault();
        return grads;
      };
    });
    expect(calls, 'two steps ran twice').toBe(18 + 2);
    expect(seen.faults).toEqual([
      { step: 3, during: 'step', message: fault().message },
      { step: 7, during: 'step', message: fault().message },
    ]);
    expect(seen.random).toEqual(clean.random);
    expect(bits(seen.result), 'losses').toEqual(bits(clean.result));
    for (const k of Object.keys(clean.params)) expectBits(seen.params[k].data, clean.params[k].data, k);
    expect(seen.result.testAccList).toEqual(clean.result.testAccList);
  });

  it('an evaluation is run again too; an error on the calling thread is not (the run fails with it)', async () => {
    const clean = await faulted(() => {});
    let evaluations = 0;
    const seen = await faulted((net) => {
      const real = net.evaluateSums.bind(net);
      net.evaluateSums = (x, t) => {
        if (++evaluations === 2) throw fault();
        return real(x, t);
      };
    });
    expect(seen.faults).toEqual([{ step: 6, during: 'evaluation', message: fault().message }]);
    expect(seen.result.epochs.map(({ seconds: _, ...e }) => e)).toEqual(clean.result.epochs.map(({ seconds: _, ...e }) => e));
    let calls = 0;
    await expect(faulted((net) => {
      const real = net.gradient.bind(net);
      net.gradient = (x, t) => {
        if (++calls === 3) throw new Error('gemm: part 1 of 2 on the calling thread: RuntimeError: memory access out of bounds');
        return real(x, t);
      };
    })).rejects.toThrow(/on the calling thread/);
    expect(calls, 'not run again').toBe(3);
  });
});

describe('Trainer memory', () => {
  it('a step allocates nothing after the first (which makes the backup); dispose frees the backup, its flags and the optimizer\'s state', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(rt, 20, 16);
    net.gradient(d.x.rows(0, 10), d.t.rows(0, 10)); // the net's buffers for this batch shape
    const base = rt.memoryStats();
    const optimizer = new Adam({ lr: 0.01 });
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 1, miniBatchSize: 10, optimizer });
    trainer.step(d.x.rows(0, 10), d.t.rows(0, 10)); // the optimizer's state, the backup block and the guarded update's flags
    const planned = rt.memoryStats();
    for (let i = 1; i < 40; i++) trainer.step(d.x.rows(10 * (i % 2), 10 * (i % 2) + 10), d.t.rows(10 * (i % 2), 10 * (i % 2) + 10), i);
    expect(rt.memoryStats(), 'no allocation per step').toEqual(planned);
    trainer.dispose();
    optimizer.dispose();
    expect(rt.memoryStats().used, 'every byte freed').toBe(base.used);
  });
});

describe('Trainer memory in a whole run', () => {
  it('a Trainer with validationSplit and an optimizer given by name frees all it made (its split copies, their index lists and the optimizer)', () => {
    const d = blobs(rt, 60, 41);
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    let base = rt.memoryStats();
    for (let i = 0; i < 4; i++) {
      const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 1, miniBatchSize: 10, optimizer: 'adam', validationSplit: 0.2, adaptiveThreads: false });
      trainer.train();
      const optimizer = trainer.optimizer;
      trainer.dispose();
      expect(() => optimizer.update(net.params, net.grads), 'the named optimizer is freed with its Trainer').toThrow(/after dispose/);
      // the first run also made the net's own buffers for its batch shapes, which the net keeps
      if (i === 0) base = rt.memoryStats();
      else expect(rt.memoryStats().used, `round ${i}`).toBe(base.used);
    }
    net.dispose();
    d.x.dispose();
    d.t.dispose();
  });

  it('refuses a second run on the runtime while one is in progress (they would share its random stream), and runs it after', async () => {
    const make = () => {
      const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
      const d = blobs(rt, 40, 42);
      const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 2, miniBatchSize: 10, optimizer: new SGD({ lr: 0.1 }), adaptiveThreads: false });
      return { trainer, end: () => { trainer.dispose(); net.dispose(); d.x.dispose(); d.t.dispose(); } };
    };
    const a = make(), b = make();
    let refused: unknown = null, second: Promise<unknown> | null = null;
    await a.trainer.fit({ callbacks: { onStepEnd: () => {
      if (second !== null) return;
      second = b.trainer.fit().then(() => 'ran', (e: Error) => e.message);
      try { b.trainer.train(); } catch (e) { refused = e; }
    } } });
    expect(await second).toMatch(/^Trainer: another Trainer is training on this runtime; runs on one runtime share its random stream/);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/another Trainer is training on this runtime/);
    expect((await b.trainer.fit()).epochs).toHaveLength(2); // once the other has ended
    a.end();
    b.end();
  });

  it('no step allocates after the first epoch, with five batch shapes in use (training batch, evaluation chunk, three remainders)', () => {
    const r = rt;
    const net = new SimpleConvNet(r, { inputDim: [1, 6, 6], convParam: { filterNum: 4, filterSize: 3, pad: 0, stride: 1 }, hiddenSize: 8, outputSize: 2 });
    const data = (N: number, seed: number) => ({ x: r.tensor([N, 1, 6, 6], randomArray(N * 36, seed)), t: r.labels([N], Array.from({ length: N }, (_, i) => i % 2)) });
    // 120 rows: 102 to train on (evaluated as 100 + 2) and 18 to validate; 40 test rows; evaluation chunks of 100
    const train = data(120, 31), test = data(40, 32);
    const alloc = vi.spyOn(r, 'alloc');
    const late: string[] = [];
    let seen = 0;
    const trainer = new Trainer(net, train.x, train.t, test.x, test.t, {
      epochs: 4, miniBatchSize: 16, optimizer: new Momentum({ lr: 0.01 }), validationSplit: 0.15, adaptiveThreads: false,
      callbacks: { onStepEnd: (e) => {
        const calls = alloc.mock.calls.length;
        if (e.epoch > 1 && calls > seen) late.push(`epoch ${e.epoch}, batch ${e.batch}: ${calls - seen} allocations`);
        seen = calls;
      }, onEpochEnd: () => { seen = alloc.mock.calls.length; } }, // an evaluation shape's first use may allocate
    });
    const result = trainer.train();
    alloc.mockRestore();
    expect(result.trainLossList).toHaveLength(4 * 6);
    expect(late).toEqual([]);
    trainer.dispose();
    net.dispose();
    for (const d of [train, test]) { d.x.dispose(); d.t.dispose(); }
  });
});

describe('Trainer.dispose', () => {
  const made = (options: TrainerBaseOptions = {}) => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(rt, 40, 17);
    net.gradient(d.x.rows(0, 10), d.t.rows(0, 10)); // the net's buffers for the batch
    net.evaluate(d.x, d.t); // and for the epochs' evaluation
    const optimizer = new Adam({ lr: 0.01 });
    const base = rt.memoryStats();
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 3, miniBatchSize: 10, optimizer, adaptiveThreads: false, ...options });
    const end = () => { net.dispose(); d.x.dispose(); d.t.dispose(); };
    return { d, base, trainer, optimizer, end };
  };
  /** A canary allocated where freed blocks would be reused; `intact` checks it bit for bit. */
  const canary = () => rt.labels([64], new Int32Array(64).fill(0x5a5a5a5a));
  const intact = (c: { data: Int32Array }) => c.data.every((v) => v === 0x5a5a5a5a);

  it('makes every entry throw, frees what the Trainer allocated, and is idempotent', async () => {
    const { d, base, trainer, optimizer, end } = made();
    trainer.train();
    trainer.dispose();
    optimizer.dispose();
    expect(trainer.disposed).toBe(true);
    expect(rt.memoryStats().used, 'every byte freed').toBe(base.used);
    const c = canary();
    const state = { format: 'simdnn.trainer/1' } as never;
    for (const [entry, call] of [
      ['train', () => trainer.train()], ['step', () => trainer.step(d.x.rows(0, 10), d.t.rows(0, 10))],
      ['trainerState', () => trainer.trainerState()], ['checkpointBytes', () => trainer.checkpointBytes()], ['resume', () => trainer.resume(state)],
    ] as const) {
      expect(call, entry).toThrow(new RegExp(`^Trainer\\.${entry}: used after dispose\\(\\)$`));
    }
    await expect(trainer.fit()).rejects.toThrow(/^Trainer\.fit: used after dispose\(\)$/);
    trainer.dispose();
    expect(intact(c), 'nothing wrote the freed blocks').toBe(true);
    c.dispose();
    end();
  });

  it('during train(), from a callback: the run stops before its next step and frees once it has unwound, writing nothing freed', () => {
    let c: ReturnType<typeof canary> | null = null;
    const { base, trainer, optimizer, end } = made({
      callbacks: { onEpochEnd: () => { trainer.dispose(); c = canary(); } },
    });
    expect(() => trainer.train()).toThrow(/^Trainer: disposed during training; the run stopped after epoch 1, step 4$/);
    expect(intact(c!), 'the canary made after dispose() is intact').toBe(true);
    c!.dispose();
    optimizer.dispose();
    expect(rt.memoryStats().used, 'the Trainer\'s blocks freed after the run').toBe(base.used);
    end();
  });

  it('while fit() awaits: fit() rejects, and nothing freed is written', async () => {
    let c: ReturnType<typeof canary> | null = null;
    const { base, trainer, optimizer, end } = made({
      callbacks: { onStepEnd: (e) => (e.iter === 2 ? Promise.resolve().then(() => { trainer.dispose(); c = canary(); }) : undefined) },
    });
    await expect(trainer.fit()).rejects.toThrow(/^Trainer: disposed during training; the run stopped after epoch 0, step 2$/);
    expect(intact(c!)).toBe(true);
    c!.dispose();
    optimizer.dispose();
    expect(rt.memoryStats().used).toBe(base.used);
    end();
  });

  it('training rows the caller disposes during a run end it at the next step: no step reads them freed', async () => {
    let reuse: { dispose(): void } | null = null;
    const { d, trainer, optimizer, end } = made({
      callbacks: { onStepEnd: (e) => (e.iter === 2 ? Promise.resolve().then(() => { d.x.dispose(); reuse = rt.tensor([40, 2], new Float32Array(80).fill(7)); }) : undefined) },
    });
    const x = d.x;
    let steps = 0;
    await expect(trainer.fit({ callbacks: { onStepEnd: () => { steps++; } } })).rejects.toThrow(/^Trainer: xTrain: tensor \[40, 2\] used after dispose/);
    expect(steps).toBe(2);
    expect(x.alive).toBe(false);
    reuse!.dispose();
    trainer.dispose();
    optimizer.dispose();
    end();
  });

  it('a net disposed in the last epoch\'s callback ends the run: the best epoch is not written back into its freed memory', async () => {
    const canaries: Array<ReturnType<typeof canary>> = [];
    const { d, trainer, optimizer } = made({
      validationSplit: 0.25, earlyStopping: { patience: 5, minDelta: 1e9 }, // epoch 1 stays the best: restored at the end
      callbacks: { onEpochEnd: (e) => { if (e.record.epoch === 3) { net.dispose(); for (let i = 0; i < 8; i++) canaries.push(canary()); } } },
    });
    const net = trainer.network;
    await expect(trainer.fit()).rejects.toThrow(/^Trainer: the network was disposed during training; the run stopped after epoch 3, step \d+$/);
    expect(canaries.filter((c) => !intact(c)).length, 'canaries written').toBe(0);
    for (const c of canaries) c.dispose();
    trainer.dispose();
    optimizer.dispose();
    d.x.dispose(); d.t.dispose();
  });

  it('test rows the caller disposes during a run end it at the next evaluation chunk, naming xTest', async () => {
    const { d, trainer, optimizer } = made();
    const xTest = rt.tensor([40, 2], d.x.toArray());
    const tTest = rt.labels([40], d.t.toArray());
    const t2 = new Trainer(trainer.network, d.x, d.t, xTest, tTest, { epochs: 3, miniBatchSize: 10, optimizer, adaptiveThreads: false });
    await expect(t2.fit({ callbacks: { onStepEnd: (e) => (e.iter === 2 ? Promise.resolve().then(() => xTest.dispose()) : undefined) } }))
      .rejects.toThrow(/^Trainer: xTest: tensor \[40, 2\] used after dispose/);
    t2.dispose(); trainer.dispose(); optimizer.dispose(); tTest.dispose();
    trainer.network.dispose(); d.x.dispose(); d.t.dispose();
  });

  it('refuses an optimizer that is not one, and a signal that is not an AbortSignal, naming them', async () => {
    const { d, trainer, optimizer } = made();
    for (const bad of [{}, { update: 1 }, null, 5]) {
      expect(() => new Trainer(trainer.network, d.x, d.t, d.x, d.t, { optimizer: bad as never }), String(bad))
        .toThrow(/^Trainer: options\.optimizer must be an optimizer \(with update\(params, grads\)\) or a name \(sgd, /);
    }
    for (const bad of [{ aborted: false }, { aborted: false, throwIfAborted: 1 }, 'stop']) {
      await expect(trainer.fit({ signal: bad as never })).rejects.toThrow(/^Trainer\.fit: signal must be an AbortSignal, got /);
    }
    trainer.dispose(); optimizer.dispose();
    trainer.network.dispose(); d.x.dispose(); d.t.dispose();
  });

  it('resume() is refused during a run (it would move the run\'s position under it)', () => {
    const { trainer, end } = made({ callbacks: { onEpochEnd: () => trainer.resume(trainer.trainerState()) } });
    expect(() => trainer.train()).toThrow(/^Trainer\.resume: a run is in progress; resume before train\(\)\/fit\(\) or after it ends$/);
    trainer.dispose();
    end();
  });
});

describe('Trainer target checks (issue 12)', () => {
  it('rejects labels of the wrong shape, non-integers, NaN/Inf, out of range and nested arrays, before allocating', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 3 });
    const x = rt.tensor([4, 2]);
    const make = (t: unknown, tTest: unknown = [0, 1, 2, 0]) => () => new Trainer(net, x, t as never, x, tTest as never, { epochs: 1 });
    const wide = rt.labels([4, 2]), big = rt.labels([4], [0, 1, 3, 0]), negative = rt.labels([4], [0, -1, 2, 0]);
    const narrow = rt.tensor([4, 2]);
    const half = rt.tensor([4, 3], [1, 0, 0, 0, 0.5, 0.5, 0, 0, 1, 1, 0, 0]);
    const empty = rt.tensor([4, 3], [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0]);
    const labels = rt.labels([4], [0, 1, 2, 0]);
    const before = rt.memoryStats();
    expect(make(wide)).toThrow(/tTrain must be int labels of shape \[4\], got \[4, 2\]/);
    expect(make(big)).toThrow(/tTrain\[2\] is 3, expected an integer label in \[0, 3\)/);
    expect(make(negative)).toThrow(/tTrain\[1\] is -1/);
    expect(make(narrow)).toThrow(/one-hot rows of shape \[4, 3\]/);
    expect(make(half)).toThrow(/tTrain\[1\]\[1\] is 0.5/);
    expect(make(empty)).toThrow(/tTrain\[1\] has 0 ones/);
    for (const [bad, shown] of [[1.5, '1.5'], [NaN, 'NaN'], [Infinity, 'Infinity'], [2 ** 32 + 1, '4294967297'], [-1, '-1']] as const) {
      expect(make(labels, [0, bad, 2, 0])).toThrow(new RegExp(`tTest\\[1\\] is ${shown}`));
    }
    expect(make(labels, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])).toThrow(/nested one-hot arrays: use a Tensor/);
    expect(make(labels, [0, 1])).toThrow(/tTest must hold 4 labels, got 2/);
    // nothing was allocated before the errors
    expect(rt.memoryStats()).toEqual(before);
    const ok = new Trainer(net, x, labels, x, rt.tensor([4, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]), { epochs: 1, miniBatchSize: 2 });
    expect(ok.train().steps).toBe(2);
    ok.dispose();
  });
});
