// Bit-identical runs and exact resume at a run's awkward points: every optimizer resumed within an epoch
// and from a checkpoint on another thread count; a state resume() refuses part way (its best epoch, stream,
// schedule or record) leaves the Trainer as it was; a state of another batch size, row count or sampling is
// refused; a step that runs out of memory changes nothing, its draws included, so the run goes on (memory
// freed) with the uninterrupted run's bits.
import { describe, it, expect } from 'vitest';
import { makeRuntime, expectBits, randomArray } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import { OutOfMemoryError } from '../src/runtime/errors.js';
import {
  MultiLayerNet, MultiLayerNetExtend, Trainer, createOptimizer, optimizerNames, StepLR, CosineAnnealingLR, ReduceLROnPlateau,
  type OptimizerName, type TrainerBaseOptions, type TrainerOptions, type TrainResult, type TrainerState,
} from '../src/index.js';

/** A run's record without its wall times, which no two runs share. */
const record = (r: TrainResult) => ({ ...r, seconds: 0, epochs: r.epochs.map((e) => ({ ...e, seconds: 0 })) });

const LR: Record<OptimizerName, number> = { sgd: 0.1, momentum: 0.05, nesterov: 0.05, adagrad: 0.05, rmsprop: 0.005, adadelta: 1, adam: 0.005, adamw: 0.005 };

describe('every optimizer resumes to the uninterrupted run\'s bits', () => {
  /** Batch norm, dropout, elastic decay, a schedule, a validation split and early stopping: 4 epochs of 4 steps. */
  async function setup(name: OptimizerName, threads: number, extra: TrainerBaseOptions = {}) {
    const rt = await makeRuntime({ seed: 11, threads });
    await rt.ready;
    const net = new MultiLayerNetExtend(rt, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2, useBatchnorm: true, useDropout: true, dropoutRatio: 0.2, weightDecayLambda: 1e-3, l1Lambda: 1e-3 });
    const d = blobs(rt, 120, 1), te = blobs(rt, 40, 2);
    const lrSchedule = name.startsWith('ada') ? new CosineAnnealingLR({ tMax: 16, interval: 'step' }) : new StepLR({ stepSize: 1, gamma: 0.7 });
    const trainer = new Trainer(net, d.x, d.t, te.x, te.t, {
      epochs: 4, miniBatchSize: 20, optimizer: createOptimizer(name, { lr: LR[name] }), lrSchedule, validationSplit: 0.25, earlyStopping: { patience: 3 }, ...extra,
    });
    return { rt, net, trainer };
  }
  type Run = Awaited<ReturnType<typeof setup>>;
  const end = (r: Run, result: TrainResult) => ({ result: record(result), params: r.net.exportParams(), optimizer: (r.trainer.optimizer as ReturnType<typeof createOptimizer>).state(), random: r.rt.randomState });
  function expectSame(got: ReturnType<typeof end>, want: ReturnType<typeof end>, what: string) {
    expect(got.result, what).toEqual(want.result);
    for (const k of Object.keys(want.params)) expectBits(got.params[k].data, want.params[k].data, `${what}: ${k}`);
    expect(got.optimizer, what).toEqual(want.optimizer);
    expect(got.random, what).toEqual(want.random);
  }

  for (const name of optimizerNames) it(`${name}: fit() on 2 threads, and resumed on 2 threads from a state within epoch 2 and from epoch 1's checkpoint`, async () => {
    const base = await setup(name, 1);
    const want = end(base, base.trainer.train());
    let state: TrainerState | null = null;
    const written: Uint8Array[] = [];
    const taken = await setup(name, 2, { checkpoint: { every: 1, write: (b) => { written.push(b); } } });
    const result = await taken.trainer.fit({ callbacks: { onStepEnd: (e) => { if (e.iter === 6) state = JSON.parse(JSON.stringify(taken.trainer.trainerState())); } } });
    expectSame(end(taken, result), want, `${name}: fit() on 2 threads`);
    for (const [how, from] of [['state at step 6', state!], ['checkpoint of epoch 1', written[0]]] as const) {
      const again = await setup(name, 2);
      again.rt.reseed(77); // the stream comes from the state
      again.trainer.resume(from);
      expectSame(end(again, again.trainer.train()), want, `${name}: ${how}`);
      again.trainer.dispose(); again.rt.dispose();
    }
    for (const r of [base, taken]) { r.trainer.dispose(); r.rt.dispose(); }
  });
});

describe('Trainer.resume refusing a state part way', () => {
  /** A run of 3 epochs, and another run's state at its epoch 1 (other optimizer state, stream, schedule and best epoch). */
  async function setup() {
    const rt = await makeRuntime({ seed: 3 });
    const net = new MultiLayerNetExtend(rt, { inputSize: 2, hiddenSizeList: [8], outputSize: 2, useBatchnorm: true });
    const d = blobs(rt, 80, 1);
    const options = (): TrainerOptions => ({
      epochs: 3, miniBatchSize: 20, optimizer: createOptimizer('adam', { lr: 0.01 }), lrSchedule: new ReduceLROnPlateau({ patience: 0 }), validationSplit: 0.25, earlyStopping: { patience: 5 },
    });
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, options());
    trainer.train();
    const other = new Trainer(net, d.x, d.t, d.x, d.t, options());
    const params = net.exportParams(), random = rt.randomState;
    let atEpoch1: TrainerState | null = null, atStart: TrainerState | null = null;
    await other.fit({ callbacks: {
      onEpochBegin: (e) => { if (e.epoch === 1) atStart = JSON.parse(JSON.stringify(other.trainerState())); },
      onEpochEnd: (e) => { if (e.epoch === 1) atEpoch1 = JSON.parse(JSON.stringify(other.trainerState())); },
    } });
    net.importParams(params);
    rt.randomState = random;
    return { rt, trainer, atEpoch1: atEpoch1!, atStart: atStart! };
  }

  const spoilt: Array<[string, (s: Record<string, any>) => void, RegExp]> = [
    ['a best epoch of the wrong size', (s) => { s.best.W1 = { shape: [2, 8], data: [1] }; }, /^Trainer\.resume: best\['W1'\] must hold 16 values$/],
    ['a schedule state its loadState refuses', (s) => { s.schedule.numBadEpochs = -1; }, /^ReduceLROnPlateau\.loadState: numBadEpochs must be a non-negative integer, got -1$/],
    ['a stream position the runtime refuses', (s) => { s.random = { seed: -1, counter: s.random.counter }; }, /^Trainer\.resume: random must be \{ seed: an integer in \[0, 2\^32\), counter: a non-negative integer \} \(the runtime's randomState\), got \{ seed: -1, counter: \d+ \}$/],
    ['an optimizer state its loadState refuses', (s) => { s.optimizer.params.W1.v[0] = -1; }, /^Adam\.loadState: params\['W1'\]\.v\[0\] is -1; v is a running sum of squares, never negative$/],
    ['no record', (s) => { delete s.result; }, /^Trainer\.resume: result must be the run's record so far \(epochs, trainLossList, trainAccList, testAccList, valAccList: arrays\), got undefined$/],
  ];
  for (const [what, spoil, message] of spoilt) it(`${what}: throws naming it, with the Trainer, net, optimizer, schedule and stream as they were`, async () => {
    const { rt, trainer, atEpoch1 } = await setup();
    const before = JSON.parse(JSON.stringify(trainer.trainerState()));
    const state = structuredClone(atEpoch1);
    spoil(state);
    expect(() => trainer.resume(state as TrainerState)).toThrow(message);
    expect(JSON.parse(JSON.stringify(trainer.trainerState()))).toEqual(before);
    trainer.dispose(); rt.dispose();
  });

  it('a state from before the first epoch\'s end keeps no best epoch (not the one an earlier run kept)', async () => {
    const { rt, trainer, atStart } = await setup();
    expect(trainer.trainerState().best).not.toBeNull();
    trainer.resume(atStart);
    expect(trainer.trainerState().best).toBeNull();
    trainer.dispose(); rt.dispose();
  });
});

describe('Trainer.resume into a Trainer that steps otherwise', () => {
  it('refuses another batch size, row count or sampling, naming it (the position counts steps of the run\'s)', async () => {
    const rt = await makeRuntime({ seed: 3 });
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
    const d = blobs(rt, 80, 1);
    let state: TrainerState | null = null;
    const trainer: Trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 3, miniBatchSize: 20, callbacks: { onStepEnd: (e) => { if (e.iter === 5) state = trainer.trainerState(); } } });
    trainer.train();
    expect(state).toMatchObject({ batchSize: 20, trainingRows: 80, sampling: 'permutation' });
    const other = (rows: number, options: TrainerOptions) => new Trainer(net, d.x.rows(0, rows), d.t.rows(0, rows), d.x, d.t, { epochs: 3, ...options });
    expect(() => other(80, { miniBatchSize: 10 }).resume(state!)).toThrow(/^Trainer\.resume: the state's run has batchSize 20, this Trainer 10: a resumed run must step as the interrupted one did$/);
    expect(() => other(60, { miniBatchSize: 20 }).resume(state!)).toThrow(/the state's run has trainingRows 80, this Trainer 60/);
    expect(() => other(80, { miniBatchSize: 20, sampling: 'replacement' }).resume(state!)).toThrow(/the state's run has sampling permutation, this Trainer replacement/);
    // a state written before they were recorded is taken as it is
    const { batchSize, trainingRows, sampling, ...older } = state!;
    expect([batchSize, trainingRows, sampling]).toEqual([20, 80, 'permutation']);
    expect(() => other(80, { miniBatchSize: 20 }).resume(older)).not.toThrow();
    rt.dispose();
  });
});

describe('a Trainer step that runs out of memory', () => {
  // Memory filled so that train() fails at each allocation its first step (or, resumed, its first step after
  // the resume) makes, a little further each time: the loop's buffers, the guard's block, the optimizer's state
  // and the block that saves it, the layers' buffers; each failure must leave nothing of the step, its draws
  // from the stream included (the batch drawn with replacement, dropout's masks, the epoch's permutation).
  for (const sampling of ['permutation', 'replacement'] as const) for (const resumed of [false, true]) {
    it(`changes nothing, and the run goes on with the uninterrupted run's bits (${sampling}${resumed ? ', resumed within an epoch' : ''})`, async () => {
      let mid: TrainerState | null = null;
      const make = async (memory?: { initial: number; maximum: number }) => {
        const rt = await makeRuntime({ seed: 3, ...(memory ? { memory } : {}) });
        const net = new MultiLayerNetExtend(rt, { inputSize: 64, hiddenSizeList: [64, 64], outputSize: 10, useBatchnorm: true, useDropout: true, dropoutRatio: 0.2 });
        const x = rt.tensor([60, 64], randomArray(60 * 64, 5)), t = rt.labels([60], Array.from({ length: 60 }, (_, i) => i % 10));
        const trainer: Trainer = new Trainer(net, x, t, x.rows(0, 20), t.rows(0, 20), {
          epochs: 2, miniBatchSize: 20, sampling, optimizer: createOptimizer('adam', { lr: 0.01 }),
          callbacks: { onStepEnd: (e) => { if (e.iter === 2 && !memory) mid = trainer.trainerState(); } },
        });
        return { rt, net, trainer };
      };
      const twin = await make();
      const want = twin.trainer.train();
      const small = await make({ initial: 64, maximum: 64 });
      if (resumed) small.trainer.resume(mid!);
      let failures = 0, result: TrainResult | null = null;
      for (let free = 0; result === null; free += 1024) {
        let lo = 1, hi = 1 << 20; // the largest block the memory holds, less `free` bytes, held while train() runs
        while (lo < hi) { const m = (lo + hi + 1) >> 1; try { small.rt.tensor([m]).dispose(); lo = m; } catch { hi = m - 1; } }
        const hog = small.rt.tensor([Math.max(1, lo - free / 4)]);
        try { result = small.trainer.train(); } catch (e) { expect(e).toBeInstanceOf(OutOfMemoryError); failures++; }
        hog.dispose();
      }
      expect(failures).toBeGreaterThan(20);
      expect(record(result)).toEqual(record(want));
      const a = small.net.exportParams(), b = twin.net.exportParams();
      for (const k of Object.keys(b)) expectBits(a[k].data, b[k].data, k);
      expect(small.rt.randomState).toEqual(twin.rt.randomState);
      for (const r of [small, twin]) { r.trainer.dispose(); r.rt.dispose(); }
    });
  }
});
