// Training runs for the experiments, on the library's Trainer: one epoch per
// train() call, with a pause between epochs so a page stays responsive and an
// AbortSignal can stop the run. (trainer.fit() with maxIterations replaces
// this loop once it lands.)
import type { Sequential } from '../nets/sequential.js';
import type { Optimizer } from '../optim/optimizer.js';
import { Trainer, type EpochRecord } from '../train/trainer.js';
import type { IntTensor, Tensor } from '../runtime/tensor.js';
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
  /** Whole epochs to run… */
  epochs?: number;
  /** …or a number of steps (the last epoch is cut short in the record: its later losses are dropped). */
  iterations?: number;
  /** Evaluate train and test accuracy and loss after every epoch. Default true. */
  evaluate?: boolean;
  /** Progress label. */
  phase: string;
}

export interface RunRecord {
  /** Loss of every step (at most `iterations`). */
  losses: number[];
  /** One record per epoch (empty when `evaluate` is false). */
  epochs: EpochRecord[];
  /** Set when training stopped on a NaN/Inf loss or gradient (the step it failed at, 1-based). */
  divergedAt: number | null;
}

/** Steps per epoch for `n` training rows, as the Trainer counts them. */
export function stepsPerEpoch(n: number, batchSize: number): number {
  return Math.max(Math.floor(n / Math.min(batchSize, n)), 1);
}

/** Units a run will report through ctx.tick: its steps. */
export function runSteps(n: number, s: Pick<RunSettings, 'batchSize' | 'epochs' | 'iterations'>): number {
  return s.iterations ?? (s.epochs ?? 0) * stepsPerEpoch(n, s.batchSize);
}

/** Trains `net` (the caller owns and disposes it and the optimizer); a diverging run stops early and says where. */
export async function trainRun(ctx: ExperimentContext, net: Sequential, data: RunData, s: RunSettings): Promise<RunRecord> {
  const evaluate = s.evaluate ?? true;
  const total = runSteps(data.xTrain.shape[0], s);
  let ticked = 0;
  const trainer = new Trainer(net, data.xTrain, data.tTrain, data.xTest, data.tTest, {
    epochs: 1,
    miniBatchSize: s.batchSize,
    optimizer: s.optimizer,
    // the Trainer always evaluates; one row is the least it can be asked to look at
    evaluateSampleNumPerEpoch: evaluate ? null : 1,
    onProgress: (p) => {
      if (p.kind === 'step' && ticked < total) { ticked++; ctx.tick(1, s.phase); }
    },
  });
  const record: RunRecord = { losses: [], epochs: [], divergedAt: null };
  try {
    for (let epoch = 1; record.losses.length < total; epoch++) {
      await ctx.pause();
      let result;
      try {
        result = trainer.train();
      } catch (e) {
        // the Trainer's NaN/Inf check, or the loss layer's when an evaluation meets overflowed activations
        if (!(e instanceof RangeError && /NaN/.test(e.message))) throw e;
        record.divergedAt = ticked + 1;
        break;
      }
      record.losses.push(...result.trainLossList.slice(0, total - record.losses.length));
      if (evaluate) record.epochs.push({ ...result.epochs[0], epoch });
    }
  } finally {
    trainer.dispose();
  }
  ctx.tick(total - ticked, s.phase); // steps a diverged run did not take
  return record;
}
