// The Trainer's position between and within epochs: a state taken mid-epoch (in onStepEnd, or after fit()
// was aborted) resumes to the uninterrupted run's bits; a stop before an epoch's first step records no
// epoch; a second run takes a rate the user set as its schedule's base; early stopping's best epoch rides
// in a checkpoint as tensors (its JSON form made the header of a 5.6M-parameter net's checkpoint 118 MB).
import { describe, it, expect } from 'vitest';
import { makeRuntime, expectBits } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import type { Runtime } from '../src/runtime/runtime.js';
import {
  MultiLayerNet, MultiLayerNetExtend, Trainer, SGD, Adam, StepLR, ReduceLROnPlateau, CosineAnnealingLR, loadModel, inspectModel, saveModel,
  type TrainerOptions, type TrainResult, type TrainerState,
} from '../src/index.js';

/** A batch-norm and dropout net on 120 rows, 6 steps an epoch at batch 20. */
async function setup(seed: number, options: () => TrainerOptions) {
  const r = await makeRuntime({ seed });
  const net = new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2, useBatchnorm: true, useDropout: true, dropoutRatio: 0.2 });
  const d = blobs(r, 120, 1), te = blobs(r, 40, 2);
  const trainer = new Trainer(net, d.x, d.t, te.x, te.t, { miniBatchSize: 20, ...options() });
  return { r, net, trainer };
}

/** A run's record without its wall times, which no two runs share. */
const record = (result: TrainResult) => ({ ...result, seconds: 0, epochs: result.epochs.map((e) => ({ ...e, seconds: 0 })) });

function expectSameRun(got: { r: Runtime; net: MultiLayerNetExtend }, gotResult: TrainResult, want: { r: Runtime; net: MultiLayerNetExtend }, wantResult: TrainResult, what: string) {
  expect(record(gotResult), what).toEqual(record(wantResult));
  const a = got.net.exportParams(), b = want.net.exportParams();
  for (const k of Object.keys(b)) expectBits(a[k].data, b[k].data, `${what}: ${k}`);
  expect(got.r.randomState, what).toEqual(want.r.randomState);
}

const variants: Array<[string, () => TrainerOptions]> = [
  ['Adam, StepLR per epoch, permutation', () => ({ epochs: 4, optimizer: new Adam({ lr: 0.01 }), lrSchedule: new StepLR({ stepSize: 1, gamma: 0.7 }) })],
  ['SGD, cosine per step, replacement, maxIterations 21', () => ({ maxIterations: 21, optimizer: new SGD({ lr: 0.1 }), sampling: 'replacement', lrSchedule: new CosineAnnealingLR({ tMax: 21, interval: 'step' }) })],
  ['plateau, validation split, early stopping', () => ({ epochs: 5, optimizer: new SGD({ lr: 0.2 }), validationSplit: 0.25, lrSchedule: new ReduceLROnPlateau({ patience: 0, factor: 0.5 }), earlyStopping: { patience: 3 } })],
];

describe('Trainer state taken within an epoch', () => {
  for (const [name, options] of variants) it(`resumes to the uninterrupted run's bits, from trainerState() and from checkpointBytes() (${name})`, async () => {
    const want = await setup(13, options);
    const wantResult = want.trainer.train();
    const steps = wantResult.steps;
    // after the first step, one within epoch 2, the last but one; and in onEpochBegin of epoch 3 (at = -3)
    for (const at of [1, 8, steps - 1, -3]) {
      const taken = await setup(13, options);
      let state: TrainerState | null = null, bytes: Uint8Array | null = null;
      const take = () => { state = JSON.parse(JSON.stringify(taken.trainer.trainerState())); bytes = taken.trainer.checkpointBytes(); };
      await taken.trainer.fit({ callbacks: {
        onStepEnd: (e) => { if (e.iter === at) take(); },
        onEpochBegin: (e) => { if (e.epoch === -at) take(); },
      } });
      expect(state!.iter).toBe(at > 0 ? at : wantResult.epochs.slice(0, -at - 1).reduce((n, e) => n + e.steps, 0));
      for (const [how, from] of [['state', state!], ['bytes', bytes!]] as const) {
        const again = await setup(13, options); // the seed its validationSplit was drawn with
        again.r.reseed(77); // the position, the stream and all come from the state
        again.trainer.resume(from);
        const result = again.trainer.train();
        expectSameRun(again, result, want, wantResult, `${name}, step ${at} (${how})`);
        again.trainer.dispose(); again.r.dispose();
      }
      taken.trainer.dispose(); taken.r.dispose();
    }
    want.trainer.dispose(); want.r.dispose();
  });

  it('fit() aborted within an epoch, then resumed from its trainerState(), gives the uninterrupted run (the epoch goes on, not again)', async () => {
    const [, options] = variants[0];
    const want = await setup(5, options);
    const wantResult = want.trainer.train();
    const got = await setup(5, options);
    const controller = new AbortController();
    await expect(got.trainer.fit({ signal: controller.signal, callbacks: { onStepEnd: (e) => { if (e.iter === 9) controller.abort(); } } })).rejects.toThrow();
    const state = got.trainer.trainerState();
    expect(state).toMatchObject({ epoch: 1, iter: 9, epochStep: 3 });
    got.trainer.resume(state); // without it, the next fit() starts a new run from these parameters
    const result = await got.trainer.fit();
    expectSameRun(got, result, want, wantResult, 'aborted at step 9');
    expect(result.epochs.map((e) => e.steps)).toEqual([6, 6, 6, 6]);
    for (const x of [want, got]) { x.trainer.dispose(); x.r.dispose(); }
  });

  it('resume refuses an epochStep outside an epoch and an epochCounter past the stream, before changing anything', async () => {
    const s = await setup(5, variants[0][1]);
    s.trainer.train();
    const state = s.trainer.trainerState();
    const before = s.net.exportParams();
    expect(() => s.trainer.resume({ ...state, epoch: 1, iter: 8, epochStep: 7 })).toThrow(/Trainer\.resume: epochStep 7 is no step of epoch 2 of this run \(6 steps an epoch\)/);
    expect(() => s.trainer.resume({ ...state, epoch: 1, iter: 8, epochStep: 2.5 })).toThrow(/epochStep 2\.5/);
    expect(() => s.trainer.resume({ ...state, epoch: 1, iter: 8, epochStep: 2, epochCounter: state.random.counter + 1 })).toThrow(/epochCounter \d+ is no position of the state's random stream/);
    const after = s.net.exportParams();
    for (const k of Object.keys(before)) expectBits(after[k].data, before[k].data, k);
    s.trainer.dispose(); s.r.dispose();
  });
});

describe('Trainer stopped before an epoch\'s first step', () => {
  for (const [name, options] of variants.slice(2)) it(`records no epoch of no steps, and going on gives the uninterrupted run's bits (${name})`, async () => {
    const want = await setup(9, options);
    const wantResult = want.trainer.train();
    const got = await setup(9, options);
    const first = await got.trainer.fit({ callbacks: { onEpochBegin: (e) => { if (e.epoch === 3) e.stop(); } } });
    expect(first.stopReason).toBe('callback');
    // no third epoch of 0 steps, whose loss of 0 fed the schedule and early stopping
    expect(first.epochs.map((e) => e.steps)).toEqual(wantResult.epochs.slice(0, 2).map((e) => e.steps));
    got.trainer.resume(got.trainer.trainerState()); // as from its checkpoint; without it, the next fit() starts a new run
    const result = await got.trainer.fit();
    expectSameRun(got, result, want, wantResult, name);
    for (const x of [want, got]) { x.trainer.dispose(); x.r.dispose(); }
  });
});

describe('Trainer run again with a schedule', () => {
  it('takes a rate the user set on the optimizer as the schedule\'s base; an untouched rate repeats the schedule', async () => {
    const r = await makeRuntime({ seed: 2 });
    const d = blobs(r, 60, 3);
    for (const schedule of [new StepLR({ stepSize: 1, gamma: 0.5 }), new CosineAnnealingLR({ tMax: 3 }), new ReduceLROnPlateau({ patience: 0 })]) {
      const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
      const opt = new SGD({ lr: 0.1 });
      const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 3, miniBatchSize: 20, optimizer: opt, lrSchedule: schedule });
      const lrs = () => trainer.train().epochs.map((e) => e.lr);
      const first = lrs();
      expect(first[0]).toBe(0.1);
      expect(lrs(), `${schedule.constructor.name}: untouched`).toEqual(first);
      opt.lr = 0.001; // fine-tune at a hundredth of the rate: the schedule kept 0.1 as its base
      const fine = lrs();
      fine.forEach((lr, i) => expect(lr! / first[i]!, `${schedule.constructor.name}: lr set, epoch ${i + 1}`).toBeCloseTo(0.01, 12));
      trainer.dispose(); net.dispose();
    }
    r.dispose();
  });
});

describe('Trainer checkpoints with early stopping', () => {
  /** 2-[300, 300]-2: 91,502 parameters, whose best epoch as JSON numbers made a header of ~2 MB. */
  async function esRun(seed: number, checkpoint?: TrainerOptions['checkpoint']) {
    const r = await makeRuntime({ seed });
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [300, 300], outputSize: 2 });
    const d = blobs(r, 120, 4);
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 4, miniBatchSize: 20, optimizer: new SGD({ lr: 0.05 }), validationSplit: 0.25, earlyStopping: { patience: 10 }, checkpoint });
    return { r, net, trainer };
  }

  it('keep the best epoch as best.<name> tensors (the header stays small) and resume restores it bit for bit', async () => {
    const written: Uint8Array[] = [];
    const full = await esRun(3, { every: 1, write: (b) => { written.push(b); } });
    const fullResult = full.trainer.train();
    const cp = written[1]; // epoch 2: a best epoch is kept
    const info = inspectModel(cp);
    const headerBytes = Number(new DataView(cp.buffer, cp.byteOffset).getBigUint64(0, true));
    expect(headerBytes).toBeLessThan(16384);
    const names = Object.keys(full.net.params);
    expect(info.tensors.filter((t) => t.name.startsWith('best.')).map((t) => t.name).sort()).toEqual(names.map((k) => `best.${k}`).sort());
    expect(info.parameterCount).toBe(Object.values(full.net.params).reduce((n, p) => n + p.size, 0)); // the net's alone
    const loaded = loadModel(full.r, cp);
    const state = full.trainer.trainerState(); // at the run's end: the best epoch kept is epoch 2's or later
    expect(Object.keys(loaded.best!).sort()).toEqual(names.sort());
    loaded.net.dispose(); loaded.optimizer?.dispose();
    // resumed from the file, and from a checkpoint of the former kind (the best epoch as JSON in the metadata)
    const position = JSON.parse(loadModel(full.r, cp).metadata.trainer);
    const withJsonBest = (() => {
      const m = loadModel(full.r, cp);
      position.result.trainLossList = Array.from(m.trainLoss!); // the former kind kept the losses in the JSON too
      const best = Object.fromEntries(Object.entries(m.best!).map(([k, v]) => [k, { shape: v.shape, data: Array.from(v.data) }]));
      const bytes = saveModel(m.net, { optimizer: m.optimizer, metadata: { trainer: JSON.stringify({ ...position, best }) } });
      m.net.dispose(); m.optimizer?.dispose();
      return bytes;
    })();
    expect(inspectModel(withJsonBest).tensors.some((t) => t.name.startsWith('best.'))).toBe(false);
    for (const [how, bytes] of [['tensors', cp], ['JSON', withJsonBest]] as const) {
      const again = await esRun(3);
      again.r.reseed(50);
      again.trainer.resume(bytes);
      const result = again.trainer.train();
      expect(record(result), how).toEqual(record(fullResult));
      const a = again.net.exportParams(), b = full.net.exportParams();
      for (const k of Object.keys(b)) expectBits(a[k].data, b[k].data, `${how}: ${k}`);
      again.trainer.dispose(); again.r.dispose();
    }
    expect(state.best).not.toBeNull();
    full.trainer.dispose(); full.r.dispose();
  });

  it('keep the loss of every step as an F64 tensor: the header does not grow with the run, and the losses come back exactly', async () => {
    // 120 steps an epoch (batch 1): as JSON numbers in the header, the losses grew it ~20 bytes a step
    const written: Uint8Array[] = [];
    const r = await makeRuntime({ seed: 5 });
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2, weightDecayLambda: 1e-3 });
    const d = blobs(r, 120, 6);
    const options: TrainerOptions = { epochs: 4, miniBatchSize: 1, optimizer: new SGD({ lr: 0.05 }), checkpoint: { every: 1, write: (b) => { written.push(b); } } };
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, options);
    const result = trainer.train();
    const headerBytes = (b: Uint8Array) => Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
    expect(written.length).toBe(4);
    // the position's numbers (steps, counters, the epochs' records) add a little an epoch; 120 losses added ~2,400 bytes
    for (let i = 1; i < 4; i++) expect(headerBytes(written[i]) - headerBytes(written[i - 1])).toBeLessThan(400);
    const info = inspectModel(written[3]);
    expect(info.tensors.find((t) => t.name === 'trainer.trainLoss')).toEqual({ name: 'trainer.trainLoss', dtype: 'F64', shape: [480] });
    expect(info.parameterCount).toBe(Object.values(net.params).reduce((n, p) => n + p.size, 0));
    const loaded = loadModel(r, written[1]);
    expect(Array.from(loaded.trainLoss!)).toEqual(result.trainLossList.slice(0, 240)); // doubles, exactly
    expect(JSON.parse(loaded.metadata.trainer).result.trainLossList).toEqual([]);
    // resumed from epoch 2's file: the uninterrupted run's record, every loss included
    const again = new Trainer(net, d.x, d.t, d.x, d.t, { ...options, checkpoint: undefined });
    again.resume(written[1]);
    expect(record(again.train())).toEqual(record(result));
    // a file whose losses do not match its position is refused before anything changes
    const position = JSON.parse(loaded.metadata.trainer);
    const short = saveModel(loaded.net, { trainLoss: loaded.trainLoss!.subarray(1), metadata: { trainer: JSON.stringify(position) } });
    expect(() => again.resume(short)).toThrow(/holds 239 losses for the 240 steps/);
    loaded.net.dispose();
    for (const t of [trainer, again]) t.dispose();
    r.dispose();
  });
});
