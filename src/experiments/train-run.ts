// Training runs for the experiments: the library's Trainer.fit (async, yields
// to the host, stops on the AbortSignal), with each step counted for progress,
// accuracy measured after each epoch or where the book's loops measure it, and
// a diverging run (NaN/Inf) recorded up to where it failed.
import { NonFiniteError, Trainer, type EpochRecord, type IntTensor, type Optimizer, type Sequential, type Tensor } from '../index.js';
import type { ExperimentContext } from './types.js';

export interface RunData {
  xTrain: Tensor;
  tTrain: IntTensor;
  xTest: Tensor;
  tTest: IntTensor;
}

export interface RunSettings {
  optimizer: Optimizer;
  batchSize: number;
  /** Whole epochs to run, of ⌊N / batch⌋ steps each… */
  epochs?: number;
  /** …or a number of steps, each batch drawn with replacement as the book's np.random.choice. */
  iterations?: number;
  /**
   * How an epochs run draws its batches: 'permutation' (default: a seeded shuffle per epoch) or 'replacement'
   * (the book's np.random.choice per batch, as its own loops and common/trainer.py do).
   */
  sampling?: 'permutation' | 'replacement';
  /** Measure train and test accuracy (a point of the run's curves). Default true. */
  evaluate?: boolean;
  /**
   * When the points are measured, with epochs of k = ⌊N / batch⌋ steps (the book's iter_per_epoch):
   * - 'epochEnd' (default): after each epoch's last update, by the Trainer (accuracy and loss, EpochRecord);
   * - 'epochStart': after each epoch's first update, the updates 1, 1 + k, 1 + 2k, … — where the book's loops
   *   measure (batch_norm_test.py, overfit_*.py and common/trainer.py test `i % iter_per_epoch == 0` after their
   *   update) — with the net's accuracy on all the training and test rows (inference mode: batch norm's running
   *   statistics, no dropout), as the book's `network.accuracy(x, t)`; it draws nothing from the random stream,
   *   so the run's batches are those of a run that measures nothing.
   */
  measureAt?: 'epochEnd' | 'epochStart';
  /** Progress label. */
  phase: string;
}

/** What a run measured at one point. */
export interface RunPoint {
  /** The point's index (1-based): its epoch, as the book's epoch_cnt counts them. */
  epoch: number;
  /** Updates done when it was measured. */
  updates: number;
  trainAcc: number;
  testAcc: number;
}

/** A point measured at an epoch's end: the Trainer's record of the epoch too (its losses, steps and seconds). */
export type EpochPoint = RunPoint & EpochRecord;

export interface RunRecord<P extends RunPoint = RunPoint> {
  /** Loss of every step (before its update). */
  losses: number[];
  /** The points measured, in order (none when `evaluate` is false). */
  epochs: P[];
  /** Set when training stopped on a NaN/Inf loss or gradient: the 1-based step it failed at. */
  divergedAt: number | null;
}

/** Steps per epoch for `n` training rows, as the Trainer counts them. */
export function stepsPerEpoch(n: number, batchSize: number): number {
  return Math.max(Math.floor(n / Math.min(batchSize, n)), 1);
}

/**
 * Steps of the book's own loops (batch_norm_test.py, overfit_weight_decay.py): they `break` right after
 * measuring their `epochs`th point, at update 1 + (epochs − 1) · k.
 */
export function bookLoopSteps(epochs: number, k: number): number {
  return 1 + (epochs - 1) * k;
}

/** Units a run reports through ctx.tick: its steps. */
export function runSteps(n: number, s: Pick<RunSettings, 'batchSize' | 'epochs' | 'iterations'>): number {
  return s.iterations ?? (s.epochs ?? 0) * stepsPerEpoch(n, s.batchSize);
}

/** Trains `net` (the caller owns and disposes it and the optimizer); a diverging run stops early and says where. */
export function trainRun(ctx: ExperimentContext, net: Sequential, data: RunData, s: RunSettings & { measureAt: 'epochStart' }): Promise<RunRecord>;
export function trainRun(ctx: ExperimentContext, net: Sequential, data: RunData, s: RunSettings & { measureAt?: 'epochEnd' }): Promise<RunRecord<EpochPoint>>;
export async function trainRun(ctx: ExperimentContext, net: Sequential, data: RunData, s: RunSettings): Promise<RunRecord> {
  const evaluate = s.evaluate ?? true;
  const atStart = evaluate && s.measureAt === 'epochStart';
  const n = data.xTrain.shape[0];
  const total = runSteps(n, s);
  const k = stepsPerEpoch(n, s.batchSize);
  const trainer = new Trainer(net, data.xTrain, data.tTrain, data.xTest, data.tTest, {
    ...(s.iterations !== undefined ? { maxIterations: s.iterations, sampling: 'replacement' as const } : { epochs: s.epochs ?? 0, sampling: s.sampling ?? 'permutation' }),
    miniBatchSize: s.batchSize,
    optimizer: s.optimizer,
    // the Trainer always evaluates; one row is the least it can be asked to look at
    evaluateSampleNumPerEpoch: evaluate && !atStart ? null : 1,
  });
  const record: RunRecord = { losses: [], epochs: [], divergedAt: null };
  // accuracy alone, as the book's: a loss would throw on activations that overflowed, where the book goes on
  const measure = async (updates: number) => {
    const options = { signal: ctx.signal };
    const trainAcc = await net.accuracyAsync(data.xTrain, data.tTrain, options);
    const testAcc = await net.accuracyAsync(data.xTest, data.tTest, options);
    record.epochs.push({ epoch: record.epochs.length + 1, updates, trainAcc, testAcc });
  };
  try {
    await trainer.fit({
      signal: ctx.signal,
      callbacks: {
        // after the step's update; a promise only where it measures (fit awaits it before the next step)
        onStepEnd: (e) => {
          record.losses.push(e.loss);
          ctx.tick(1, s.phase);
          if (atStart && (e.iter - 1) % k === 0) return measure(e.iter);
        },
        onEpochEnd: (e) => { if (evaluate && !atStart) record.epochs.push({ ...e.record, updates: e.iter }); },
      },
    });
  } catch (e) {
    // the Trainer's NaN/Inf check, or the loss layer's when an evaluation meets overflowed activations
    if (!(e instanceof NonFiniteError)) throw e;
    record.divergedAt = record.losses.length + 1;
    ctx.tick(total - record.losses.length, s.phase); // the steps that will not run
  } finally {
    trainer.dispose();
  }
  return record;
}
