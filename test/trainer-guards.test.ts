// The Trainer's guards: train() refuses a hook's or checkpoint write's promise (it cannot await it);
// a resumed run ends with the uninterrupted run's learning rate, finished or not; bad input (row widths,
// options of the wrong kind or misspelt, step() during a run, an augment's unusable result) is refused
// naming it, before anything is drawn or updated.
import { describe, it, expect } from 'vitest';
import { makeRuntime, randomArray, randomInts, expectBits, host } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import type { Runtime } from '../src/runtime/runtime.js';
import {
  MultiLayerNet, Trainer, Adam, SGD, ExponentialLR, StepLR, CosineAnnealingLR, LinearLR, ReduceLROnPlateau, saveModel,
  type LRSchedule, type TrainerBaseOptions, type TrainerOptions, type TrainerState, type TrainResult,
} from '../src/index.js';

/** 2-[8]-2 on 120 rows (6 steps an epoch at batch 20), Adam lr 0.01, on a runtime of its own. */
async function setup(options: TrainerBaseOptions = {}, seed = 11) {
  const r = await makeRuntime({ seed });
  const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
  const d = blobs(r, 120, 1), te = blobs(r, 40, 2);
  const opt = new Adam({ lr: 0.01 });
  const trainer = new Trainer(net, d.x, d.t, te.x, te.t, { epochs: 3, miniBatchSize: 20, optimizer: opt, ...options });
  return { r, net, d, opt, trainer, end: () => { trainer.dispose(); opt.dispose(); r.dispose(); } };
}

/** Rejections nobody handled while `run` and two macrotasks after it ran. */
async function unhandledDuring(run: () => void): Promise<unknown[]> {
  const seen: unknown[] = [];
  const g = globalThis as unknown as {
    process: { on(e: string, f: (reason: unknown) => void): void; off(e: string, f: (reason: unknown) => void): void };
    addEventListener(e: string, f: (e: PromiseRejectionEvent) => void): void;
    removeEventListener(e: string, f: (e: PromiseRejectionEvent) => void): void;
  };
  const onNode = (reason: unknown) => { seen.push(reason); };
  const onWeb = (e: PromiseRejectionEvent) => { seen.push(e.reason); e.preventDefault(); };
  if (host === 'node') g.process.on('unhandledRejection', onNode);
  else g.addEventListener('unhandledrejection', onWeb);
  try {
    run();
    for (let i = 0; i < 2; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  } finally {
    if (host === 'node') g.process.off('unhandledRejection', onNode);
    else g.removeEventListener('unhandledrejection', onWeb);
  }
  return seen;
}

describe('Trainer.train() and promises', () => {
  it('refuses an async checkpoint write naming it and fit(): nothing more trained, its rejection handled', async () => {
    const writes: number[] = [];
    const s = await setup({ checkpoint: { every: 1, write: (_bytes, epoch) => { writes.push(epoch); return Promise.reject(new Error('disk full')); } } });
    let error: unknown = null;
    const unhandled = await unhandledDuring(() => { try { s.trainer.train(); } catch (e) { error = e; } });
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/^Trainer\.train: checkpoint\.write returned a promise, which train\(\) cannot await; use fit\(\), which awaits it, or make checkpoint\.write synchronous\. Nothing more was trained: the run stopped after epoch 1 \(step 6\), which is complete; epoch 1's checkpoint write is still in flight$/);
    expect(unhandled).toEqual([]);
    expect(writes).toEqual([1]);
    expect(s.trainer.trainerState()).toMatchObject({ epoch: 1, iter: 6 });
    expect(s.opt.t).toBe(6);
    s.end();
  });

  const hooks: Array<[string, number, RegExp]> = [
    ['onTrainBegin', 0, /the run stopped before its first step$/],
    ['onEpochBegin', 0, /the run stopped before its first step$/],
    ['onStepEnd', 1, /the run stopped within epoch 1, after step 1$/],
    ['onEpochEnd', 6, /the run stopped after epoch 1 \(step 6\), which is complete$/],
    ['onTrainEnd', 18, /the run stopped at its end \(epoch 3, step 18\)$/],
  ];
  for (const [hook, steps, where] of hooks) it(`refuses an async callbacks.${hook} naming it, having trained ${steps} steps; the Trainer runs again after`, async () => {
    const s = await setup({ callbacks: { [hook]: async () => { await Promise.resolve(); } } });
    const before = s.net.exportParams();
    const refusal = new RegExp(`^Trainer\\.train: callbacks\\.${hook} returned a promise, which train\\(\\) cannot await; use fit\\(\\)`);
    expect(() => s.trainer.train()).toThrow(refusal);
    expect(() => s.trainer.train(), 'not "already training"').toThrow(refusal);
    s.trainer.dispose();
    const again = await setup({ callbacks: { [hook]: async () => { await Promise.resolve(); } } });
    expect(() => again.trainer.train()).toThrow(where);
    expect(again.opt.t).toBe(steps);
    if (steps === 0) for (const k of Object.keys(before)) expectBits(again.net.exportParams()[k].data, before[k].data, k);
    await expect(again.trainer.fit()).resolves.toMatchObject({ stopReason: 'completed' }); // fit() awaits the hook
    again.end();
    s.opt.dispose(); s.r.dispose();
  });
});

describe('Trainer resumed from a checkpoint: the optimizer\'s learning rate', () => {
  const schedules: Array<[string, () => LRSchedule, TrainerBaseOptions?]> = [
    ['ExponentialLR per epoch', () => new ExponentialLR({ gamma: 0.5 })],
    ['StepLR per step', () => new StepLR({ stepSize: 4, gamma: 0.5, interval: 'step' })],
    ['CosineAnnealingLR per step', () => new CosineAnnealingLR({ tMax: 18, etaMin: 0.001, interval: 'step' })],
    ['LinearLR per epoch', () => new LinearLR({ startFactor: 0.25, totalIters: 2 })],
    ['ReduceLROnPlateau, validation split', () => new ReduceLROnPlateau({ patience: 0, factor: 0.5, threshold: 0.5 }), { validationSplit: 0.25 }],
  ];
  for (const [name, schedule, extra] of schedules) it(`a finished run's checkpoint and mid-run states give the uninterrupted run's lr and model bytes (${name})`, async () => {
    const written: Array<{ bytes: Uint8Array; lr: number }> = [];
    let midState: TrainerState | null = null, midLr = NaN;
    const full = await setup({
      ...extra, lrSchedule: schedule(),
      checkpoint: { every: 1, write: (bytes) => { written.push({ bytes, lr: full.opt.lr }); } },
      callbacks: { onStepEnd: (e) => { if (e.iter === 8) { midState = e.trainer.trainerState(); midLr = full.opt.lr; } } },
    });
    const fullResult = full.trainer.train();
    const fullLr = full.opt.lr;
    const fullBytes = saveModel(full.net, { optimizer: full.opt });
    const lrs = fullResult.epochs.map((e) => e.lr);
    expect(new Set(lrs).size, 'the schedule changed the rate').toBeGreaterThan(1);
    expect(fullLr).not.toBe(lrs[0]);
    const starts: Array<[string, TrainerState | Uint8Array, number]> = [
      ...written.map(({ bytes, lr }, i): [string, Uint8Array, number] => [`epoch ${i + 1}'s checkpoint`, bytes, lr]),
      ['the state taken after step 8', midState!, midLr],
    ];
    const second = full.trainer.train().epochs.map((e) => e.lr); // a second run repeats the schedule
    expect(second).toEqual(lrs);
    for (const [what, from, lrThere] of starts) {
      const again = await setup({ ...extra, lrSchedule: schedule() });
      again.trainer.resume(from);
      expect(again.opt.lr, `${what}: lr after resume`).toBe(lrThere);
      const result: TrainResult = again.trainer.train();
      expect(result.trainLossList, what).toEqual(fullResult.trainLossList);
      expect(again.opt.lr, `${what}: lr at the end`).toBe(fullLr);
      expect(saveModel(again.net, { optimizer: again.opt }), what).toEqual(fullBytes);
      expect(again.trainer.train().epochs.map((e) => e.lr), `${what}: a second run`).toEqual(second);
      again.end();
    }
    full.end();
  });

  it('the checkpoint of the epoch where early stopping ended the run: the lr of the uninterrupted run', async () => {
    const make = async (checkpoint?: TrainerOptions['checkpoint']) => {
      const r = await makeRuntime({ seed: 21 });
      const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
      // random labels: the validation loss stops improving within a few epochs
      const x = r.tensor([120, 2], randomArray(240, 5)), t = r.labels([120], randomInts(120, 6, 2));
      const opt = new SGD({ lr: 0.1 });
      const trainer = new Trainer(net, x, t, x, t, {
        miniBatchSize: 20, epochs: 30, optimizer: opt, validationSplit: 0.3, earlyStopping: { patience: 2 },
        lrSchedule: new ReduceLROnPlateau({ patience: 0, factor: 0.5 }), checkpoint,
      });
      return { r, net, opt, trainer };
    };
    const written: Uint8Array[] = [];
    const full = await make({ every: 1, write: (bytes) => { written.push(bytes); } });
    const result = full.trainer.train();
    expect(result.stopReason).toBe('earlyStopping');
    expect(full.opt.lr).toBeLessThan(0.1);
    const again = await make();
    again.trainer.resume(written[written.length - 1]);
    expect(again.trainer.atRunEnd).toBe(true);
    again.trainer.train();
    expect(again.opt.lr).toBe(full.opt.lr);
    expect(saveModel(again.net, { optimizer: again.opt })).toEqual(saveModel(full.net, { optimizer: full.opt }));
    for (const s of [full, again]) { s.trainer.dispose(); s.r.dispose(); }
  });
});

describe('Trainer input checks before anything is drawn or updated', () => {
  it('refuses xTrain, xTest and validation.x rows of another width than the MLP takes, naming each', async () => {
    const s = await setup();
    const r = s.r;
    const wide = r.tensor([16, 5], randomArray(80, 3)), labels = r.labels([16], randomInts(16, 4, 2));
    const before = s.net.exportParams(), stream = r.randomState;
    const cases: Array<[string, () => Trainer]> = [
      ['xTrain', () => new Trainer(s.net, wide, labels, s.d.x, s.d.t, { epochs: 2 })],
      ['xTest', () => new Trainer(s.net, s.d.x, s.d.t, wide, labels, { epochs: 2 })],
      ['validation.x', () => new Trainer(s.net, s.d.x, s.d.t, s.d.x, s.d.t, { epochs: 2, validation: { x: wide, t: labels } })],
    ];
    for (const [name, make] of cases) {
      expect(make, name).toThrow(new RegExp(`^Trainer: ${name.replace('.', '\\.')} has rows of 5 features \\(\\[16, 5\\]\\), the net takes 2 \\(its first Affine's W is \\[2, 8\\]\\)$`));
    }
    for (const k of Object.keys(before)) expectBits(s.net.exportParams()[k].data, before[k].data, k);
    expect(r.randomState).toEqual(stream);
    // rows that flatten to the net's width are an Affine's input
    const images = r.tensor([120, 1, 2, 1], s.d.x.toArray());
    const t = new Trainer(s.net, images, s.d.t, images, s.d.t, { epochs: 1, miniBatchSize: 20 });
    expect(t.train().steps).toBe(6);
    t.dispose();
    s.end();
  });

  it('refuses an onProgress and schedule methods that are not functions, naming them', async () => {
    const s = await setup();
    const make = (options: TrainerOptions) => () => new Trainer(s.net, s.d.x, s.d.t, s.d.x, s.d.t, options);
    expect(make({ onProgress: 'log' as never })).toThrow(/^Trainer: onProgress must be a function of the progress, got the string "log"$/);
    const schedule = { name: 'mine', interval: 'epoch', lrAt: (_k: number, base: number) => base, observe: 5 } as unknown as LRSchedule;
    expect(make({ optimizer: new SGD({ lr: 0.1 }), lrSchedule: schedule })).toThrow(/^Trainer: lrSchedule\.observe must be a function, got number 5$/);
    s.end();
  });

  it('numeric options of another type are a TypeError showing the value (a Symbol threw while its message was formatted; a string read as its number)', async () => {
    const s = await setup();
    const make = (options: TrainerOptions) => () => new Trainer(s.net, s.d.x, s.d.t, s.d.x, s.d.t, options);
    const sym = Symbol('n');
    for (const key of ['epochs', 'maxIterations', 'miniBatchSize', 'evaluateSampleNumPerEpoch', 'validationSplit'] as const) {
      expect(make({ [key]: sym } as never), key).toThrow(new RegExp(`^Trainer: ${key} must be .*, got symbol Symbol\\(n\\)$`));
      expect(make({ [key]: '2' } as never), key).toThrow(TypeError);
      expect(make({ [key]: '2' } as never), key).toThrow(/, got the string "2"$/);
      expect(make({ [key]: -3 } as never), key).toThrow(RangeError);
    }
    expect(make({ sampling: sym as never })).toThrow(/^Trainer: sampling must be 'permutation' or 'replacement', got symbol Symbol\(n\)$/);
    s.end();
  });

  it('fit() refuses an unknown option before anything runs (it was ignored)', async () => {
    const s = await setup();
    const before = s.net.exportParams();
    await expect(s.trainer.fit({ signals: new AbortController().signal } as never)).rejects.toThrow(/^Trainer\.fit: unknown option 'signals' \(expected one of signal, callbacks\)$/);
    expect(s.net.exportParams()).toEqual(before);
    expect(s.trainer.trainerState().iter).toBe(0);
    s.end();
  });

  it('refuses unknown keys in earlyStopping, checkpoint and validation, naming the option', async () => {
    const s = await setup();
    const make = (options: TrainerOptions) => () => new Trainer(s.net, s.d.x, s.d.t, s.d.x, s.d.t, options);
    expect(make({ validationSplit: 0.2, earlyStopping: { patience: 1, restorebest: false } as never }))
      .toThrow(/^Trainer: earlyStopping: unknown option 'restorebest' \(expected one of patience, monitor, minDelta, restoreBest, baseline, startFromEpoch\)$/);
    expect(make({ checkpoint: { every: 1, write: () => {}, evry: 2 } as never }))
      .toThrow(/^Trainer: checkpoint: unknown option 'evry' \(expected one of every, write\)$/);
    expect(make({ validation: { x: s.d.x, t: s.d.t, weights: [] } as never }))
      .toThrow(/^Trainer: validation: unknown option 'weights' \(expected one of x, t\)$/);
    s.end();
  });
});

describe('Trainer.step() during a run', () => {
  it('is refused from a callback and while fit() awaits; the loop\'s own steps go on, and step() works after', async () => {
    const s = await setup();
    const x = s.d.x.rows(0, 20), t = s.d.t.rows(0, 20);
    const refused: unknown[] = [];
    const tryStep = () => { try { s.trainer.step(x, t); } catch (e) { refused.push(e); } };
    const result = await s.trainer.fit({ callbacks: {
      onStepEnd: (e) => { if (e.iter === 2) tryStep(); },
      onEpochEnd: () => Promise.resolve().then(tryStep),
    } });
    expect(refused).toHaveLength(4);
    for (const e of refused) expect((e as Error).message).toBe('Trainer.step: a run is in progress; step before train()/fit() or after it ends');
    expect(result.steps).toBe(18);
    expect(s.opt.t).toBe(18);
    expect(Number.isFinite(s.trainer.step(x, t))).toBe(true);
    expect(s.opt.t).toBe(19);
    s.end();
  });
});

describe('Trainer augment results', () => {
  it('a tensor of another runtime or a disposed one is reported naming augment, with nothing updated', async () => {
    const other = await makeRuntime({ seed: 1 });
    for (const [what, made, message] of [
      ['another runtime', (_r: Runtime) => other.tensor([20, 2]), /^Trainer: augment's result: tensor \[20, 2\] belongs to another runtime$/],
      ['disposed', (r: Runtime) => { const y = r.tensor([20, 2]); y.dispose(); return y; }, /^Trainer: augment's result: tensor \[20, 2\] used after dispose\(\)/],
    ] as const) {
      const s = await setup({ augment: () => made(s.r) });
      const before = s.net.exportParams();
      expect(() => s.trainer.train(), what).toThrow(message);
      expect(s.opt.t, what).toBe(0);
      for (const k of Object.keys(before)) expectBits(s.net.exportParams()[k].data, before[k].data, `${what}: ${k}`);
      s.end();
    }
    other.dispose();
  });
});
