// The Trainer against what a user porting a PyTorch or Keras loop expects: the learning rate of every
// step (scheduler.step() after each epoch or each optimizer step; ReduceLROnPlateau.step(val_loss) after
// each epoch), and Keras's EarlyStopping (the stopping epoch, the best epoch, the weights restored), each
// computed here in float64 from the reference's own rules on the run's recorded figures.
import { describe, it, expect } from 'vitest';
import { makeRuntime, expectBits } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import {
  MultiLayerNet, Trainer, SGD, StepLR, CosineAnnealingLR, LinearLR, SequentialLR, ReduceLROnPlateau,
  type EpochRecord, type TrainerBaseOptions, type TrainResult,
} from '../src/index.js';

/** The optimizer's initial rate, which the references start from too. */
const base = 0.5;

/**
 * 2-[8]-2 on 40 rows of two overlapping blobs (10 steps an epoch at batch 4), SGD at `base`, validated on 30
 * more: the losses wander (new bests, runs of epochs without one).
 */
async function setup(options: TrainerBaseOptions, { seed = 5, validate = true } = {}) {
  const r = await makeRuntime({ seed });
  const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
  const d = blobs(r, 40, 1, { spread: 0.5 });
  const validation = validate ? { validation: blobs(r, 30, 3, { spread: 0.5 }) } : {};
  const opt = new SGD({ lr: base });
  const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { miniBatchSize: 4, optimizer: opt, ...validation, ...options });
  return { r, net, opt, trainer, end: () => { trainer.dispose(); r.dispose(); } };
}

// PyTorch's chainable updates (torch/optim/lr_scheduler.py get_lr) from lr = base, stepped after each period
const torchStep = (base: number, stepSize: number, gamma: number, n: number) => {
  const out = [base];
  for (let e = 1; e < n; e++) out.push(e % stepSize === 0 ? out[e - 1] * gamma : out[e - 1]);
  return out;
};
const torchCosine = (base: number, tMax: number, etaMin: number, n: number) => {
  const out = [base];
  for (let e = 1; e < n; e++) {
    const lr = out[e - 1];
    out.push((((e - 1 - tMax) % (2 * tMax)) + 2 * tMax) % (2 * tMax) === 0
      ? lr + (base - etaMin) * (1 - Math.cos(Math.PI / tMax)) / 2
      : (1 + Math.cos(Math.PI * e / tMax)) / (1 + Math.cos(Math.PI * (e - 1) / tMax)) * (lr - etaMin) + etaMin);
  }
  return out;
};
const torchLinear = (base: number, start: number, total: number, n: number) => {
  const out = [base * start];
  for (let e = 1; e < n; e++) out.push(e > total ? out[e - 1] : out[e - 1] * (1 + (1 - start) / (total * start + (e - 1) * (1 - start))));
  return out;
};

function expectLrs(got: number[], want: number[], base: number, what: string) {
  expect(got.length, what).toBe(want.length);
  got.forEach((lr, i) => { if (!(Math.abs(lr - want[i]) <= 1e-12 * base)) expect.fail(`${what}: step ${i + 1}: lr ${lr}, PyTorch's loop ${want[i]}`); });
}

describe('the learning rate of every step against PyTorch\'s loop', () => {
  it('per epoch (scheduler.step() after each epoch) and per step (after each optimizer.step()), 300 steps, the last epoch partial', async () => {
    const runs: Array<[string, TrainerBaseOptions, (n: number) => number[]]> = [
      // epochs of 10 steps; maxIterations 295: 30 epochs, the last of 5 steps
      ['StepLR per epoch', { lrSchedule: new StepLR({ stepSize: 4, gamma: 0.7 }) }, (n) => torchStep(base, 4, 0.7, Math.ceil(n / 10)).flatMap((lr) => Array(10).fill(lr)).slice(0, n)],
      ['CosineAnnealingLR per epoch, past tMax', { lrSchedule: new CosineAnnealingLR({ tMax: 12, etaMin: 0.002 }) }, (n) => torchCosine(base, 12, 0.002, Math.ceil(n / 10)).flatMap((lr) => Array(10).fill(lr)).slice(0, n)],
      ['CosineAnnealingLR per step, past tMax', { lrSchedule: new CosineAnnealingLR({ tMax: 70, interval: 'step' }) }, (n) => torchCosine(base, 70, 0, n)],
      ['LinearLR warm-up then cosine per step (SequentialLR)', {
        lrSchedule: new SequentialLR({ interval: 'step', milestones: [25], schedulers: [new LinearLR({ startFactor: 0.2, totalIters: 25, interval: 'step' }), new CosineAnnealingLR({ tMax: 270, interval: 'step' })] }),
      }, (n) => [...torchLinear(base, 0.2, 25, 25), ...torchCosine(base, 270, 0, n - 25)]],
    ];
    for (const [what, options, reference] of runs) {
      const lrs: number[] = [];
      const s = await setup({ maxIterations: 295, ...options, callbacks: { onStepEnd: () => { lrs.push(s.opt.lr); } } });
      const result = s.trainer.train();
      expect(result.steps).toBe(295);
      expectLrs(lrs, reference(295), base, what);
      // each epoch's record: the rate of its last step
      expect(result.epochs.map((e) => e.lr), what).toEqual(result.epochs.map((_, i) => lrs[Math.min(10 * i + 9, 294)]));
      s.end();
    }
  });
});

/** PyTorch's ReduceLROnPlateau.step(metrics) on its optimizer's lr (float64), as lr_scheduler.py has it. */
type PlateauOptions = { mode?: 'min' | 'max'; factor: number; patience: number; threshold: number; cooldown: number };
function torchPlateau(o: PlateauOptions, base: number) {
  const max = o.mode === 'max';
  let lr = base, best = max ? -Infinity : Infinity, bad = 0, cool = 0;
  return {
    get lr() { return lr; },
    step(metric: number) {
      if (max ? metric > best * (o.threshold + 1) : metric < best * (1 - o.threshold)) { best = metric; bad = 0; } else bad++;
      if (cool > 0) { cool--; bad = 0; }
      if (bad > o.patience) {
        const next = lr * o.factor;
        if (lr - next > 1e-8) lr = next;
        cool = o.cooldown;
        bad = 0;
      }
    },
  };
}

/** The schedule, recording each metric the Trainer shows it. */
function watched(schedule: ReduceLROnPlateau) {
  const seen: number[] = [];
  const observe = schedule.observe.bind(schedule);
  schedule.observe = (metric) => { seen.push(metric); observe(metric); };
  return { schedule, seen };
}

describe('ReduceLROnPlateau in the Trainer against PyTorch\'s scheduler.step(val_loss) after each epoch', () => {
  const cases = [
    {
      title: (set: string) => `on the ${set} loss: each epoch's rate is the one the epochs before it left`,
      options: (validate: boolean): PlateauOptions => ({ patience: 1, cooldown: 2, factor: 0.5, threshold: validate ? 0.01 : 0.05 }),
      metric: (e: EpochRecord, validate: boolean) => (validate ? e.valLoss! : e.trainLoss),
    },
    {
      // mode 'max' was shown the loss too: it never saw a rise while the net learnt, and cut the rate every other epoch
      title: (set: string) => `mode 'max' watches the ${set} accuracy, as scheduler.step(val_acc)`,
      options: (): PlateauOptions => ({ mode: 'max', patience: 1, cooldown: 0, factor: 0.5, threshold: 0 }),
      metric: (e: EpochRecord, validate: boolean) => (validate ? e.valAcc! : e.trainAcc),
    },
  ];
  for (const c of cases) for (const validate of [true, false]) it(c.title(validate ? 'validation' : 'training (no validation set)'), async () => {
    const options = c.options(validate);
    const { schedule, seen } = watched(new ReduceLROnPlateau(options));
    const s = await setup({ epochs: 40, lrSchedule: schedule }, { validate });
    const result = s.trainer.train();
    const ref = torchPlateau(options, base);
    for (const e of result.epochs) {
      expect(e.lr, `epoch ${e.epoch}`).toBe(ref.lr);
      ref.step(c.metric(e, validate));
    }
    expect(seen).toEqual(result.epochs.map((e) => c.metric(e, validate)));
    expect(new Set(result.epochs.map((e) => e.lr)).size, 'the rate was cut more than once').toBeGreaterThan(2);
    s.end();
  });
});

/**
 * Keras 3's EarlyStopping.on_epoch_end over a run's values of its monitor (mode 'min' for a loss, 'max' for an
 * accuracy): the epoch it stops at (null: it does not) and the epoch whose weights on_train_end restores (null:
 * none), 0-based.
 */
function kerasEarlyStopping(losses: number[], patience: number, minDelta: number, { baseline, startFromEpoch = 0, mode = 'min' }: { baseline?: number; startFromEpoch?: number; mode?: 'min' | 'max' } = {}) {
  // min mode: min_delta *= -1 and monitor_op less; max mode: greater (_is_improvement: op(current − min_delta, reference))
  const delta = mode === 'min' ? -Math.abs(minDelta) : Math.abs(minDelta);
  const improves = mode === 'min' ? (current: number, reference: number) => current - delta < reference : (current: number, reference: number) => current - delta > reference;
  let best = mode === 'min' ? Infinity : -Infinity, wait = 0, bestEpoch: number | null = null; // Keras's best None: anything improves
  for (let epoch = 0; epoch < losses.length; epoch++) {
    if (epoch < startFromEpoch) continue;
    bestEpoch ??= epoch; // best weights never set: the current ones are the best
    wait++;
    if (improves(losses[epoch], best)) {
      best = losses[epoch];
      bestEpoch = epoch;
      if (baseline === undefined || improves(losses[epoch], baseline)) wait = 0;
      continue;
    }
    if (wait >= patience && epoch > 0) return { stoppedEpoch: epoch, bestEpoch };
  }
  return { stoppedEpoch: null, bestEpoch };
}

/** A run of up to 40 epochs with early stopping: its record, the watched figures and the parameters at the end of every epoch. */
async function stoppingRun(earlyStopping: NonNullable<TrainerBaseOptions['earlyStopping']>, validate = true) {
  const snapshots: Array<Record<string, { data: Float32Array }>> = [];
  const s = await setup({ epochs: 40, earlyStopping, callbacks: { onEpochEnd: () => { snapshots.push(s.net.exportParams()); } } }, { validate });
  const result = s.trainer.train();
  return { s, result, snapshots, losses: result.epochs.map((e) => e[earlyStopping.monitor ?? 'valLoss']!) };
}

function expectParams(got: Record<string, { data: Float32Array }>, want: Record<string, { data: Float32Array }>, what: string) {
  for (const k of Object.keys(want)) expectBits(got[k].data, want[k].data, `${what}: ${k}`);
}

describe('early stopping against Keras\'s EarlyStopping(restore_best_weights=True)', () => {
  const cases: Array<NonNullable<TrainerBaseOptions['earlyStopping']>> = [
    ...[0, 1, 2, 3, 5].flatMap((patience) => [0, 0.002, 0.02].map((minDelta) => ({ patience, minDelta }))),
    // a baseline no epoch beats, one some epochs beat; a warm-up of epochs not watched
    { patience: 2, baseline: 0.1 }, { patience: 0, baseline: 0.1 }, { patience: 3, baseline: 0.5 }, { patience: 5, baseline: 0.54, minDelta: 0.002 },
    { patience: 1, startFromEpoch: 3 }, { patience: 2, startFromEpoch: 10, minDelta: 0.002 }, { patience: 1, startFromEpoch: 4, baseline: 0.55 },
  ];
  for (const es of cases) it(`stops at Keras's epoch and restores Keras's best epoch: ${JSON.stringify(es)}`, async () => {
    const { s, result, snapshots, losses } = await stoppingRun(es);
    const keras = kerasEarlyStopping(losses, es.patience, es.minDelta ?? 0, es);
    expect(keras.stoppedEpoch, 'Keras stops at the run\'s last epoch').toBe(result.stopReason === 'earlyStopping' ? losses.length - 1 : null);
    expect(result.bestEpoch).toBe(keras.bestEpoch === null ? undefined : keras.bestEpoch + 1);
    expectParams(s.net.exportParams(), snapshots[keras.bestEpoch ?? losses.length - 1], 'the parameters');
    s.end();
  });

  // Keras (and Lightning) test current + minDelta < best; best − minDelta rounds otherwise for some losses,
  // and the run stopped an epoch apart from Keras's on the same losses
  it('an improvement by minDelta is judged as Keras judges it (current + minDelta < best), to the last bit', async () => {
    const full = await stoppingRun({ patience: 40 }); // never stops: the losses of 40 epochs
    const v = full.losses;
    full.s.end();
    const j = v.findIndex((loss) => loss < v[0]);
    expect(j, 'a later epoch improves on the first').toBeGreaterThan(0);
    // a minDelta within a few ulps of the improvement, where the two forms part
    let minDelta = NaN;
    for (let i = -64, d0 = v[0] - v[j]; i <= 64 && Number.isNaN(minDelta); i++) {
      const d = d0 + i * Number.EPSILON * d0;
      if ((v[j] + d < v[0]) !== (v[j] < v[0] - d)) minDelta = d;
    }
    expect(minDelta, 'a minDelta where the forms part').not.toBeNaN();
    const keras = kerasEarlyStopping(v, j, minDelta);
    const { s, result, snapshots } = await stoppingRun({ patience: j, minDelta });
    expect(result.epochs.length - 1, 'the stopping epoch').toBe(keras.stoppedEpoch ?? 39);
    expect(result.bestEpoch).toBe(keras.bestEpoch! + 1);
    expectParams(s.net.exportParams(), snapshots[keras.bestEpoch!], 'the best epoch\'s parameters');
    s.end();
  });

  // the monitor's values: losses fall, accuracies rise (Keras's mode 'auto'); accuracies of 30 or 40 rows tie
  // often, and a tie is no improvement
  for (const [monitor, validate] of [['valAcc', true], ['trainLoss', false], ['trainAcc', false], ['trainLoss', true]] as const) {
    const mode = monitor.endsWith('Acc') ? 'max' : 'min';
    const cases: Array<NonNullable<TrainerBaseOptions['earlyStopping']>> = [
      { monitor, patience: 1 }, { monitor, patience: 3 }, { monitor, patience: 2, minDelta: mode === 'max' ? 0.02 : 0.002 },
      { monitor, patience: 2, baseline: mode === 'max' ? 0.9 : 0.5 }, { monitor, patience: 1, startFromEpoch: 3 },
    ];
    for (const es of cases) it(`monitor '${monitor}' (Keras's mode ${mode})${validate ? ', beside a validation set' : ', no validation set'}: Keras's epochs: ${JSON.stringify({ ...es, monitor: undefined })}`, async () => {
      const { s, result, snapshots, losses } = await stoppingRun(es, validate);
      const keras = kerasEarlyStopping(losses, es.patience, es.minDelta ?? 0, { ...es, mode });
      expect(keras.stoppedEpoch, 'Keras stops at the run\'s last epoch').toBe(result.stopReason === 'earlyStopping' ? losses.length - 1 : null);
      expect(result.bestEpoch).toBe(keras.bestEpoch === null ? undefined : keras.bestEpoch + 1);
      expectParams(s.net.exportParams(), snapshots[keras.bestEpoch ?? losses.length - 1], 'the parameters');
      s.end();
    });
  }

  it('watching an accuracy, the epochs Keras stops at differ from those of the loss: the monitor is what is watched', async () => {
    const byAcc = await stoppingRun({ monitor: 'valAcc', patience: 2 });
    const byLoss = await stoppingRun({ patience: 2 });
    expect([byAcc.result.epochs.length, byAcc.result.bestEpoch]).not.toEqual([byLoss.result.epochs.length, byLoss.result.bestEpoch]);
    byAcc.s.end(); byLoss.s.end();
  });

  it('a second train() starts early stopping afresh (Keras resets it in on_train_begin), from the restored parameters', async () => {
    const first = await stoppingRun({ patience: 2 });
    expect(first.result.stopReason).toBe('earlyStopping');
    const snapshots: Array<Record<string, { data: Float32Array }>> = [];
    const second = await first.s.trainer.fit({ callbacks: { onEpochEnd: () => { snapshots.push(first.s.net.exportParams()); } } });
    const losses = second.epochs.map((e) => e.valLoss!);
    const keras = kerasEarlyStopping(losses, 2, 0);
    expect(second.epochs[0].epoch).toBe(1);
    expect(keras.stoppedEpoch).toBe(second.stopReason === 'earlyStopping' ? losses.length - 1 : null);
    expect(second.bestEpoch).toBe(keras.bestEpoch! + 1);
    expectParams(first.s.net.exportParams(), snapshots[keras.bestEpoch!], 'second run');
    first.s.end();
  });

  it('a run stopped from a callback still restores the best epoch (Keras restores in on_train_end)', async () => {
    const { s, result, snapshots, losses } = await stoppingRun({ patience: 40 });
    s.end();
    const keras = kerasEarlyStopping(losses.slice(0, 12), 40, 0);
    const snaps: Array<Record<string, { data: Float32Array }>> = [];
    const again = await setup({ epochs: 40, earlyStopping: { patience: 40 }, callbacks: { onEpochEnd: (e) => { snaps.push(again.net.exportParams()); if (e.record.epoch === 12) e.stop(); } } });
    const stopped = again.trainer.train();
    expect(stopped.stopReason).toBe('callback');
    expect(stopped.epochs).toHaveLength(12);
    const best = keras.bestEpoch!;
    expect(stopped.bestEpoch).toBe(best + 1);
    expect(best, 'the best epoch is not the last').toBeLessThan(11);
    expectParams(again.net.exportParams(), snaps[best], 'stopped run');
    expectParams(snaps[best], snapshots[best], 'the same run up to its stop');
    expect(result.stopReason).toBe('completed');
    again.end();
  });
});

/** A run's record without its wall times, which no two runs share. */
const record = (result: TrainResult) => ({ ...result, seconds: 0, epochs: result.epochs.map((e) => ({ ...e, seconds: 0 })) });

describe('a callback that throws', () => {
  const options = (): TrainerBaseOptions => ({ epochs: 12, lrSchedule: new ReduceLROnPlateau({ patience: 1, factor: 0.5 }), earlyStopping: { patience: 4 } });
  for (const [hook, when] of [['onEpochEnd', 'after epoch 4 is recorded'], ['onStepEnd', 'within epoch 6'], ['onEpochBegin', 'before epoch 3']] as const) it(`${hook} (${when}): train() throws its error; the next train() goes on to the uninterrupted run's end (record, rate, early stopping, parameters)`, async () => {
    const want = await setup(options());
    const wantResult = want.trainer.train();
    let thrown = false;
    const boom = (at: boolean) => { if (at && !thrown) { thrown = true; throw new Error('boom'); } };
    const got = await setup({ ...options(), callbacks: {
      onEpochEnd: (e) => boom(hook === 'onEpochEnd' && e.record.epoch === 4),
      onStepEnd: (e) => boom(hook === 'onStepEnd' && e.iter === 53),
      onEpochBegin: (e) => boom(hook === 'onEpochBegin' && e.epoch === 3),
    } });
    expect(() => got.trainer.train()).toThrow(/^boom$/);
    const result = got.trainer.train();
    expect(record(result)).toEqual(record(wantResult));
    expect(got.opt.lr).toBe(want.opt.lr);
    expectParams(got.net.exportParams(), want.net.exportParams(), hook);
    expect(got.r.randomState).toEqual(want.r.randomState);
    want.end(); got.end();
  });
});

describe('early stopping with a baseline, resumed', () => {
  // a baseline no epoch beats: the count runs on through improvements, which Keras does not stop at
  it('from the checkpoint of every epoch, including those whose count passed the patience at an improvement: the uninterrupted run', async () => {
    const es = { patience: 1, baseline: 0.1 };
    const written: Uint8Array[] = [];
    const want = await setup({ epochs: 40, earlyStopping: es, checkpoint: { every: 1, write: (bytes) => { written.push(bytes); } } });
    const wantResult = want.trainer.train();
    const keras = kerasEarlyStopping(wantResult.epochs.map((e) => e.valLoss!), 1, 0, es);
    expect(keras.stoppedEpoch).toBe(wantResult.epochs.length - 1);
    expect(wantResult.epochs.length, 'improvements carried the run past its patience').toBeGreaterThan(2);
    for (const [i, bytes] of written.entries()) {
      const again = await setup({ epochs: 40, earlyStopping: es });
      again.trainer.resume(bytes);
      expect(again.trainer.atRunEnd, `epoch ${i + 1}'s checkpoint`).toBe(i === written.length - 1);
      expect(record(again.trainer.train()), `from epoch ${i + 1}`).toEqual(record(wantResult));
      expectParams(again.net.exportParams(), want.net.exportParams(), `from epoch ${i + 1}`);
      again.end();
    }
    want.end();
  });

  it('watching an accuracy (best none yet: −∞ until its first epoch), from the checkpoint of every epoch: the uninterrupted run', async () => {
    const es = { monitor: 'valAcc', patience: 2, startFromEpoch: 2 } as const;
    const written: Uint8Array[] = [];
    const want = await setup({ epochs: 40, earlyStopping: es, checkpoint: { every: 1, write: (bytes) => { written.push(bytes); } } });
    const wantResult = want.trainer.train();
    expect(wantResult.stopReason).toBe('earlyStopping');
    for (const [i, bytes] of written.entries()) {
      const again = await setup({ epochs: 40, earlyStopping: es });
      again.trainer.resume(bytes);
      expect(record(again.trainer.train()), `from epoch ${i + 1}`).toEqual(record(wantResult));
      expectParams(again.net.exportParams(), want.net.exportParams(), `from epoch ${i + 1}`);
      again.end();
    }
    want.end();
  });

  it('resume() refuses a state whose early stopping watched another figure, or whose record is not one, before it writes', async () => {
    const want = await setup({ epochs: 3, earlyStopping: { patience: 5 } });
    want.trainer.train();
    const state = want.trainer.trainerState();
    want.end();
    const again = await setup({ epochs: 3, earlyStopping: { monitor: 'valAcc', patience: 5 } });
    const before = again.net.exportParams();
    expect(() => again.trainer.resume(state)).toThrow(/^Trainer\.resume: the state's early stopping watched valLoss, this Trainer's watches valAcc$/);
    const old = { ...state, earlyStopping: { best: 0.5, wait: 0, bestEpoch: 1 } }; // written before the monitor was recorded: valLoss
    expect(() => again.trainer.resume(old)).toThrow(/watched valLoss, this Trainer's watches valAcc/);
    for (const [bad, shown] of [
      [{ best: '0.5', wait: 0, bestEpoch: 1 }, 'best: the string "0.5", wait: 0, bestEpoch: 1'],
      [{ best: 0.5, wait: -1, bestEpoch: 1 }, 'best: 0.5, wait: -1, bestEpoch: 1'],
      [{ best: 0.5, wait: 0, bestEpoch: 4 }, 'best: 0.5, wait: 0, bestEpoch: 4'],
    ] as const) {
      const s = { ...state, earlyStopping: { ...bad, monitor: 'valAcc' } } as never;
      expect(() => again.trainer.resume(s)).toThrow(`Trainer.resume: earlyStopping must be { best: a number or null, wait: a count, bestEpoch: an epoch done (0 to 3) }, got { ${shown} }`);
    }
    expectParams(again.net.exportParams(), before, 'after the refusals');
    again.end();
  });

  it('refuses a monitor that is none, and a validation figure without a validation set, naming it', async () => {
    const r = await makeRuntime({ seed: 1 });
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(r, 20, 1);
    expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { validationSplit: 0.5, earlyStopping: { patience: 1, monitor: 'val_loss' as never } }))
      .toThrow(/^Trainer: earlyStopping\.monitor must be one of valLoss, valAcc, trainLoss, trainAcc, got the string "val_loss"$/);
    for (const monitor of [undefined, 'valAcc'] as const) {
      expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { earlyStopping: { patience: 1, monitor } }))
        .toThrow(new TypeError(`Trainer: earlyStopping watches ${monitor ?? 'valLoss'}: give validationSplit or validation (or monitor 'trainLoss' or 'trainAcc')`));
    }
    new Trainer(net, d.x, d.t, d.x, d.t, { earlyStopping: { patience: 1, monitor: 'trainAcc' } }).dispose();
    r.dispose();
  });

  it('refuses a baseline or startFromEpoch that is not one, naming it', async () => {
    const r = await makeRuntime({ seed: 1 });
    const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(r, 20, 1);
    for (const [bad, message] of [
      [{ baseline: NaN }, /^Trainer: earlyStopping\.baseline must be a finite number, got NaN$/],
      [{ baseline: '0.5' }, /^Trainer: earlyStopping\.baseline must be a finite number, got the string "0\.5"$/],
      [{ startFromEpoch: -1 }, /^Trainer: earlyStopping\.startFromEpoch must be a non-negative integer, got -1$/],
      [{ startFromEpoch: 1.5 }, /^Trainer: earlyStopping\.startFromEpoch must be a non-negative integer, got 1\.5$/],
    ] as const) {
      expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { validationSplit: 0.5, earlyStopping: { patience: 1, ...bad } as never })).toThrow(message);
    }
    r.dispose();
  });
});
