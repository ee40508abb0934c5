// Asynchronous successive halving (ASHA; Li et al. 2018, as Ray Tune's
// AsyncHyperBandScheduler and Optuna's SuccessiveHalvingPruner): trials train
// to rung milestones minEpochs·η^k (the last rung is the full budget); a
// trial in the top 1/η of the results recorded at its rung is promoted to the
// next rung, and a free slot with nothing to promote starts a new trial. The
// scheduler is a pure state machine: the same sequence of results gives the
// same decisions (the search driver feeds it results in issue order).
import { badNumber, checkOptions, shown } from '../index.js';

/** Options of ASHA (SearchOptions.asha); the scheduler throws a RangeError naming a bad value. */
export interface AshaOptions {
  /** Epochs of the first rung. Default 1. */
  minEpochs?: number;
  /** η: a rung keeps the top 1/η of its results, and the next rung trains η times longer. Default 3. */
  reductionFactor?: number;
  /**
   * Jobs kept in flight; a decision is taken once the results of all but this many
   * earlier jobs are in, so the decisions (and results) depend on the seed and this
   * number only, never on timing. Default: the executor's concurrency.
   */
  parallel?: number;
}

/** A decision: run trial `index` to `epochs` (its rung's milestone). */
export interface AshaJob {
  index: number;
  rung: number;
  epochs: number;
}

/**
 * Rung milestones, strictly increasing: minEpochs·η^k rounded, while below maxEpochs, then maxEpochs.
 * Throws a RangeError naming a bad argument.
 */
export function ashaRungs(maxEpochs: number, minEpochs: number, eta: number): number[] {
  if (!(Number.isInteger(maxEpochs) && maxEpochs >= 1)) throw badNumber(maxEpochs, `ashaRungs: maxEpochs must be a positive integer, got ${shown(maxEpochs)}`);
  if (!(Number.isInteger(minEpochs) && minEpochs >= 1 && minEpochs <= maxEpochs)) throw badNumber(minEpochs, `ashaRungs: minEpochs must be an integer in [1, maxEpochs = ${maxEpochs}], got ${shown(minEpochs)}`);
  if (!(Number.isFinite(eta) && eta >= 2)) throw badNumber(eta, `ashaRungs: eta must be a number >= 2, got ${shown(eta)}`);
  const rungs: number[] = [];
  // η >= 2 and e >= 1 keep the rounded milestones apart; only the last may round up to maxEpochs
  for (let e = minEpochs; Math.round(e) < maxEpochs; e *= eta) rungs.push(Math.round(e));
  rungs.push(maxEpochs);
  return rungs;
}

const KEYS = new Set(['minEpochs', 'reductionFactor', 'parallel']);

/**
 * ASHA's decisions as a pure state machine: next() gives the job to run, record() takes its
 * objective; the same results in the same order give the same decisions. Holds no resources.
 */
export class AshaScheduler {
  readonly rungs: number[];
  readonly eta: number;
  private started = 0;
  /** Per rung: recorded [index, objective] pairs. */
  private readonly recorded: Array<Array<[number, number]>>;
  /** Per rung: trials already promoted out of it. */
  private readonly promoted: Array<Set<number>>;

  /**
   * Throws a RangeError naming the option when minEpochs/reductionFactor/trials/maxEpochs are not valid,
   * a TypeError on options that are not an object or hold an unknown key.
   */
  constructor(readonly trials: number, maxEpochs: number, options: AshaOptions = {}) {
    checkOptions('asha', options, KEYS);
    if (!(Number.isInteger(trials) && trials >= 1)) throw badNumber(trials, `AshaScheduler: trials must be a positive integer, got ${shown(trials)}`);
    if (!(Number.isInteger(maxEpochs) && maxEpochs >= 1)) throw badNumber(maxEpochs, `AshaScheduler: maxEpochs must be a positive integer, got ${shown(maxEpochs)}`);
    const { minEpochs = 1, reductionFactor = 3 } = options;
    if (!(Number.isInteger(minEpochs) && minEpochs >= 1 && minEpochs <= maxEpochs)) throw badNumber(minEpochs, `asha.minEpochs: expected an integer in [1, epochs = ${maxEpochs}], got ${shown(minEpochs)}`);
    if (!(Number.isFinite(reductionFactor) && reductionFactor >= 2)) throw badNumber(reductionFactor, `asha.reductionFactor: expected a number >= 2, got ${shown(reductionFactor)}`);
    this.eta = reductionFactor;
    this.rungs = ashaRungs(maxEpochs, minEpochs, reductionFactor);
    this.recorded = this.rungs.map(() => []);
    this.promoted = this.rungs.map(() => new Set());
  }

  /** The next job: a promotion from the highest rung that has one, else a new trial; null when neither (wait, or done). */
  next(): AshaJob | null {
    for (let k = this.rungs.length - 2; k >= 0; k--) {
      const rung = this.recorded[k];
      const top = [...rung].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, Math.floor(rung.length / this.eta));
      const pick = top.find(([index, objective]) => objective > -Infinity && !this.promoted[k].has(index));
      if (pick) {
        this.promoted[k].add(pick[0]);
        return { index: pick[0], rung: k + 1, epochs: this.rungs[k + 1] };
      }
    }
    if (this.started < this.trials) return { index: this.started++, rung: 0, epochs: this.rungs[0] };
    return null;
  }

  /** Records a job's objective at its rung (−Infinity for a failed trial: never promoted). */
  record(job: AshaJob, objective: number): void {
    // a rung it does not have failed deep inside; a NaN objective made the promotions' sort order undefined
    const { rung, index } = (job ?? {}) as Partial<AshaJob>;
    if (!(Number.isInteger(rung) && rung! >= 0 && rung! < this.rungs.length && Number.isInteger(index) && index! >= 0 && index! < this.started)) {
      throw new RangeError(`AshaScheduler.record: job must be one next() gave (rung in [0, ${this.rungs.length}), index in [0, ${this.started})), got rung ${shown(rung)}, index ${shown(index)}`);
    }
    if (typeof objective !== 'number' || Number.isNaN(objective)) {
      throw badNumber(objective, `AshaScheduler.record: objective must be a number (−Infinity for a failed trial), got ${shown(objective)}`);
    }
    this.recorded[rung!].push([index!, objective]);
  }
}
