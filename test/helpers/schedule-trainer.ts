// The Trainer the schedule tests run their schedules in: a 2-[8]-2 MultiLayerNet on 40 rows of two blobs,
// 10 steps an epoch at batch 4, and the two optimizers whose momentum a cycling schedule sets.
import { expect } from 'vitest';
import { expectBits, makeRuntime } from './runtime.js';
import { blobs } from './blobs.js';
import { Adam, Momentum, MultiLayerNet, Trainer, type Optimizer, type TrainerBaseOptions, type TrainerState } from '../../src/index.js';

/** The net, its Trainer with `optimizer` and `options`, on a runtime of its own; end() frees them. */
export async function scheduleTrainer(optimizer: Optimizer, options: TrainerBaseOptions, seed = 5) {
  const r = await makeRuntime({ seed });
  const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
  const d = blobs(r, 40, 1, { spread: 0.5 });
  const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { miniBatchSize: 4, optimizer, ...options });
  return { r, net, trainer, end: () => { trainer.dispose(); r.dispose(); } };
}

/** The option a cycling schedule sets: Adam's beta1, or Momentum's momentum. */
export const momentumOf = (opt: Optimizer): number => (opt as { beta1?: number }).beta1 ?? (opt as { momentum?: number }).momentum!;

/** An optimizer of each kind whose momentum a schedule cycles, with rates the schedules then replace. */
export const cyclingOptimizers: Array<[string, () => Optimizer]> = [
  ['Momentum', () => new Momentum({ lr: 0.3, momentum: 0.5 })],
  ['Adam', () => new Adam({ lr: 0.3, beta1: 0.5 })],
];

/**
 * A run resumed from the state taken after each step of `at` (through JSON, on a runtime whose stream was moved
 * meanwhile) has the uninterrupted run's rate and momentum before its first step, the same ones at every later
 * step, the same epoch rates and the same final parameters, bit for bit. `options()` makes a fresh schedule.
 */
export async function expectResumesAsUninterrupted(name: string, make: () => Optimizer, options: () => TrainerBaseOptions, at: readonly number[]): Promise<void> {
  const seenBy = (opt: Optimizer, seen: number[][]) => ({ onStepEnd: () => { seen.push([(opt as Momentum).lr, momentumOf(opt)]); } });
  const wantOpt = make();
  const wantSeen: number[][] = [];
  const want = await scheduleTrainer(wantOpt, { ...options(), callbacks: seenBy(wantOpt, wantSeen) });
  const wantResult = want.trainer.train();
  for (const step of at) {
    const taken = await scheduleTrainer(make(), options());
    let state: TrainerState | null = null;
    await taken.trainer.fit({ callbacks: { onStepEnd: (e) => { if (e.iter === step) state = JSON.parse(JSON.stringify(taken.trainer.trainerState())) as TrainerState; } } });
    taken.end();
    const opt = make();
    const seen: number[][] = [];
    const again = await scheduleTrainer(opt, { ...options(), callbacks: seenBy(opt, seen) });
    again.r.reseed(77);
    again.trainer.resume(state!);
    // before any step: the optimizer's rate and momentum the uninterrupted run's after step `step`
    expect([(opt as Momentum).lr, momentumOf(opt)], `${name}, resumed at ${step}`).toEqual(wantSeen[step - 1]);
    const result = again.trainer.train();
    expect(seen, `${name}, resumed at ${step}`).toEqual(wantSeen.slice(step));
    expect(result.epochs.map((e) => e.lr)).toEqual(wantResult.epochs.map((e) => e.lr));
    const a = again.net.exportParams(), b = want.net.exportParams();
    for (const k of Object.keys(b)) expectBits(a[k].data, b[k].data, `${name}, resumed at ${step}: ${k}`);
    again.end();
  }
  want.end();
}

/**
 * The state of a run of `optimizer` and `options` taken (through JSON) at `at`: 'epoch N' after epoch N's end, or
 * 'step N' after step N.
 */
export async function stateTakenAt(optimizer: Optimizer, options: TrainerBaseOptions, at: string): Promise<TrainerState> {
  let state: TrainerState | null = null;
  const take = (key: string) => { if (key === at) state = JSON.parse(JSON.stringify(taken.trainer.trainerState())) as TrainerState; };
  const taken = await scheduleTrainer(optimizer, { ...options, callbacks: { onEpochEnd: (e) => take(`epoch ${e.epoch}`), onStepEnd: (e) => take(`step ${e.iter}`) } });
  taken.trainer.train();
  taken.end();
  if (state === null) throw new Error(`the run never reached ${at}`);
  return state;
}
