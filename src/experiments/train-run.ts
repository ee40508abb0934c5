// Training runs for the experiments: the library's Trainer.fit (async, yields
// to the host, stops on the AbortSignal), with each step counted for progress
// and a diverging run (NaN/Inf) recorded up to where it failed.
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
  /** Evaluate train and test accuracy and loss after every epoch. Default true. */
  evaluate?: boolean;
  /** Progress label. */
  phase: string;
}

export interface RunRecord {
  /** Loss of every step (before its update). */
  losses: number[];
  /** One record per epoch (empty when `evaluate` is false). */
  epochs: EpochRecord[];
  /** Set when training stopped on a NaN/Inf loss or gradient: the 1-based step it failed at. */
  divergedAt: number | null;
}

/** Steps per epoch for `n` training rows, as the Trainer counts them. */
export function stepsPerEpoch(n: number, batchSize: number): number {
  return Math.max(Math.floor(n / Math.min(batchSize, n)), 1);
}

/** Units a run reports through ctx.tick: its steps. */
export function runSteps(n: number, s: Pick<RunSettings, 'batchSize' | 'epochs' | 'iterations'>): number {
  return s.iterations ?? (s.epochs ?? 0) * stepsPerEpoch(n, s.batchSize);
}

/** Trains `net` (the caller owns and disposes it and the optimizer); a diverging run stops early and says where. */
export async function trainRun(ctx: ExperimentContext, net: Sequential, data: RunData, s: RunSettings): Promise<RunRecord> {
  const evaluate = s.evaluate ?? true;
  const total = runSteps(data.xTrain.shape[0], s);
  const trainer = new Trainer(net, data.xTrain, data.tTrain, data.xTest, data.tTest, {
    ...(s.iterations !== undefined ? { maxIterations: s.iterations, sampling: 'replacement' as const } : { epochs: s.epochs ?? 0, sampling: s.sampling ?? 'permutation' }),
    miniBatchSize: s.batchSize,
    optimizer: s.optimizer,
    // the Trainer always evaluates; one row is the least it can be asked to look at
    evaluateSampleNumPerEpoch: evaluate ? null : 1,
  });
  const record: RunRecord = { losses: [], epochs: [], divergedAt: null };
  try {
    await trainer.fit({
      signal: ctx.signal,
      callbacks: {
        onStepEnd: (e) => { record.losses.push(e.loss); ctx.tick(1, s.phase); },
        onEpochEnd: (e) => { if (evaluate) record.epochs.push(e.record); },
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
