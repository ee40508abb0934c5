// hyperparameterSearch: random search over a space, optionally with ASHA,
// on any executor. The driver describes trials as jobs and hands them to an
// executor (inline, worker threads, a BullMQ queue...); the results depend on
// the jobs alone, so a study gives the same bits on every executor.
import { badNumber, describeValue, isAbortSignal, shown } from '../index.js';
import { AshaScheduler, type AshaJob, type AshaOptions } from './asha.js';
import { checkSpace, sampleSettings, trialSeed, type SearchSpace } from './space.js';
import { checkSpaceSettings, checkTrialTimeout, now, trialSettings, type DataSpec, type EpochResult, type TrialJob, type TrialResult } from './trial.js';

/** Runs trial jobs. The search keeps up to `concurrency` jobs in flight; `run` may queue more. */
export interface Executor {
  readonly concurrency: number;
  /**
   * The job's result; a trial that fails to train resolves with status 'failed' (rejecting is for infrastructure
   * errors). `signal`: the search's; an executor may stop the job when it aborts, rejecting with its reason
   * (inlineExecutor between steps; localExecutor and webWorkerExecutor terminate the job's worker; the queue's
   * jobs run on other machines and finish there). A job with `timeoutMs` still running that long after it
   * started resolves with status 'timeout' (timedOutResult), its work stopped: every executor here enforces it.
   */
  run(job: TrialJob, signal?: AbortSignal): Promise<TrialResult>;
  /** Frees what the executor holds (workers, connections). */
  close(): Promise<void>;
}

/**
 * What the search maximises: a metric of the last epoch trained, or a function of the history
 * (higher is better; NaN ranks last, as for the metrics; a value that is not a number rejects the search).
 */
export type Objective = 'valAcc' | 'valLoss' | 'trainAcc' | 'trainLoss' | ((history: readonly EpochResult[]) => number);

/**
 * Options of hyperparameterSearch; it throws a TypeError on an unknown key and a
 * TypeError/RangeError naming a bad value before it issues a job.
 */
export interface SearchOptions {
  /** The settings to sample (see SearchSpace). */
  space: SearchSpace;
  /** Trials (configurations sampled). */
  trials: number;
  /** Epochs of a full trial. */
  epochs: number;
  /** The data every trial trains and validates on, as the executor's loader understands it. */
  data: DataSpec;
  /** Default 'valAcc' (the book's: validation accuracy after the last epoch). Losses are minimised. */
  objective?: Objective;
  /** Study seed: trial i's settings and runtime stream depend on (seed, i) only. Default 1. */
  seed?: number;
  /** The study's name (a queue's job ids start with it). Default 'study'. */
  study?: string;
  /** 'none' (default): every trial runs all epochs. 'asha': asynchronous successive halving. */
  scheduler?: 'none' | 'asha';
  /** Options of the 'asha' scheduler (a TypeError without scheduler: 'asha'). */
  asha?: AshaOptions;
  /**
   * A time limit per trial (each ASHA rung's job apart), in ms from when a worker starts it: a trial still
   * running then is stopped (its worker terminated and replaced; the inline executor stops between steps) and
   * recorded with status 'timeout' and the epochs it completed; the search goes on. Default: none.
   */
  trialTimeoutMs?: number;
  /** Runs the jobs (inline, on local workers, or on a queue); the caller owns and closes it. */
  executor: Executor;
  /** Called with each job's result as it is committed (in issue order under ASHA, as they finish otherwise). */
  onResult?: (result: ScoredResult, progress: { done: number; total: number | null }) => void;
  /**
   * Stops issuing jobs; the search rejects with the signal's reason once the jobs in flight are done, or
   * stopped (the executor gets the signal with each job: see Executor.run).
   */
  signal?: AbortSignal;
}

/** A job's result with its objective (−Infinity for a failed or timed-out trial) and rung (0 without a scheduler). */
export interface ScoredResult extends TrialResult {
  objective: number;
  rung: number;
}

/** What hyperparameterSearch resolves to: plain JSON. */
export interface SearchResult {
  /** The study's name. */
  study: string;
  /** The study's seed. */
  seed: number;
  /** Each trial's furthest result, by trial index. */
  trials: ScoredResult[];
  /** Trials by objective, best first (at equal objectives failed and timed-out ones after the others, then by index). */
  best: ScoredResult[];
  /** Every job's result in the order they were committed (ASHA runs a trial once per rung it reaches). */
  jobs: ScoredResult[];
  /** Epochs trained in this run over all jobs (a promoted ASHA trial retrains from epoch 1, which is counted). */
  epochsSpent: number;
  /** Epochs of the jobs answered by stored results (a resumed study), not trained in this run. */
  epochsStored: number;
  /** Trials whose furthest result failed. */
  failed: number;
  /** Trials whose furthest result timed out (trialTimeoutMs). */
  timedOut: number;
  /** Wall-clock seconds of the search. */
  seconds: number;
}

const KEYS = new Set(['space', 'trials', 'epochs', 'data', 'objective', 'seed', 'study', 'scheduler', 'asha', 'trialTimeoutMs', 'executor', 'onResult', 'signal']);

/**
 * The objective of a history: higher is better; −Infinity when there is none or it is NaN.
 * Throws a TypeError when objective is neither a metric's name nor a function, or a function objective
 * returns something other than a number.
 */
export function score(objective: Objective, history: readonly EpochResult[]): number {
  checkObjective('score', objective); // another string was scored as trainLoss
  const last = history[history.length - 1];
  if (!last) return -Infinity;
  let v: number;
  if (typeof objective === 'function') {
    v = objective(history);
    if (typeof v !== 'number') throw new TypeError(`objective: expected the function to return a number, got ${describeValue(v)}`);
  } else {
    v = objective === 'valAcc' ? last.valAcc : objective === 'valLoss' ? -last.valLoss : objective === 'trainAcc' ? last.trainAcc : -last.trainLoss;
  }
  return Number.isNaN(v) ? -Infinity : v;
}

const METRICS: readonly unknown[] = ['valAcc', 'valLoss', 'trainAcc', 'trainLoss'];

/** Throws a TypeError naming `who` unless `objective` is one of the metrics or a function. */
function checkObjective(who: string, objective: unknown): void {
  if (typeof objective !== 'function' && !METRICS.includes(objective)) {
    throw new TypeError(`${who}: objective must be 'valAcc', 'valLoss', 'trainAcc', 'trainLoss' or a function, got ${typeof objective === 'string' ? `'${objective}'` : describeValue(objective)}`);
  }
}

/** Best first: higher objective, then an ok trial before a failed or timed-out one, then the lower index (objectives are never NaN). */
function rank(a: ScoredResult, b: ScoredResult): number {
  if (a.objective !== b.objective) return a.objective > b.objective ? -1 : 1;
  if ((a.status === 'ok') !== (b.status === 'ok')) return a.status === 'ok' ? -1 : 1;
  return a.index - b.index;
}

function check(o: SearchOptions): void {
  if (typeof o !== 'object' || o === null) throw new TypeError('hyperparameterSearch: expected an options object');
  for (const key of Object.keys(o)) if (!KEYS.has(key)) throw new TypeError(`hyperparameterSearch: unknown option '${key}' (expected one of ${[...KEYS].join(', ')})`);
  checkSpace(o.space);
  checkSpaceSettings(o.space);
  if (!(Number.isInteger(o.trials) && o.trials >= 1)) throw badNumber(o.trials, `hyperparameterSearch: trials must be a positive integer, got ${shown(o.trials)}`);
  if (!(Number.isInteger(o.epochs) && o.epochs >= 1)) throw badNumber(o.epochs, `hyperparameterSearch: epochs must be a positive integer, got ${shown(o.epochs)}`);
  const seed = o.seed ?? 1;
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw badNumber(seed, `hyperparameterSearch: seed must be an integer in [0, 2^32), got ${shown(seed)}`);
  if (o.scheduler !== undefined && o.scheduler !== 'none' && o.scheduler !== 'asha') throw new TypeError(`hyperparameterSearch: scheduler must be 'none' or 'asha', got '${String(o.scheduler)}'`);
  if (o.asha !== undefined && o.scheduler !== 'asha') throw new TypeError("hyperparameterSearch: asha options need scheduler: 'asha'");
  if (o.trialTimeoutMs !== undefined) checkTrialTimeout(o.trialTimeoutMs, 'hyperparameterSearch: trialTimeoutMs');
  const objective = o.objective ?? 'valAcc';
  checkObjective('hyperparameterSearch', objective);
  if (!o.executor || typeof o.executor.run !== 'function') throw new TypeError('hyperparameterSearch: executor must have run(job) and concurrency');
  // each read at a job or a result, deep inside: a concurrency that is not a number ran no lane (a search of no
  // trials, resolved), an onResult or signal of the wrong kind failed after the first trial had trained
  const concurrency: unknown = o.executor.concurrency;
  if (!(typeof concurrency === 'number' && concurrency >= 1 && (Number.isInteger(concurrency) || concurrency === Infinity))) {
    throw badNumber(concurrency, `hyperparameterSearch: executor.concurrency must be a positive integer (the jobs it runs at once), got ${shown(concurrency)}`);
  }
  if (o.onResult !== undefined && typeof o.onResult !== 'function') throw new TypeError(`hyperparameterSearch: onResult must be a function, got ${describeValue(o.onResult)}`);
  if (o.signal !== undefined && !isAbortSignal(o.signal)) throw new TypeError(`hyperparameterSearch: signal must be an AbortSignal, got ${describeValue(o.signal)}`);
  if (o.data === null || typeof o.data !== 'object') throw new TypeError(`hyperparameterSearch: data must be a DataSpec object, got ${describeValue(o.data)}`);
  if (typeof o.study !== 'undefined' && !(typeof o.study === 'string' && /^[\w.-]{1,100}$/.test(o.study))) {
    throw new (typeof o.study === 'string' ? RangeError : TypeError)(`hyperparameterSearch: study must be 1 to 100 letters, digits, '_', '.', '-', got ${typeof o.study === 'string' ? `'${o.study}'` : describeValue(o.study)}`);
  }
}

/** The job of trial `index` trained to `epochs` (its settings: trialSettings of those drawn). */
export function trialJob(o: Pick<SearchOptions, 'space' | 'data' | 'seed' | 'study' | 'trialTimeoutMs'>, index: number, epochs: number): TrialJob {
  const seed = o.seed ?? 1;
  const job: TrialJob = { study: o.study ?? 'study', index, seed: trialSeed(seed, index), settings: trialSettings(sampleSettings(o.space, seed, index)), epochs, data: o.data };
  return o.trialTimeoutMs === undefined ? job : { ...job, timeoutMs: o.trialTimeoutMs };
}

/**
 * Runs a study: samples `trials` settings from `space`, trains each on the
 * executor (all epochs, or ASHA's rungs) and returns every result with the
 * best first. Results stream through onResult. A trial that fails to train is
 * recorded (status 'failed', its error), as is one stopped at trialTimeoutMs
 * (status 'timeout'), and the search goes on; an executor
 * error (a lost worker the executor could not recover from) rejects.
 * Throws a TypeError/RangeError naming a bad option before any job is issued.
 * The executor stays the caller's.
 */
export async function hyperparameterSearch(options: SearchOptions): Promise<SearchResult> {
  check(options);
  const start = now();
  const objective = options.objective ?? 'valAcc';
  const jobs: ScoredResult[] = [];
  const latest = new Map<number, ScoredResult>();
  const commit = (r: TrialResult, rung: number, total: number | null): ScoredResult => {
    let value = -Infinity;
    if (r.status === 'ok') {
      try {
        value = score(objective, r.history);
      } catch (e) {
        throw new TypeError(`hyperparameterSearch: trial ${r.index} (${r.epochs} epochs): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    }
    const scored: ScoredResult = { ...r, objective: value, rung };
    jobs.push(scored);
    const prev = latest.get(r.index);
    if (!prev || prev.epochs < r.epochs) latest.set(r.index, scored);
    options.onResult?.(scored, { done: jobs.length, total });
    return scored;
  };
  if (options.scheduler === 'asha') await runAsha(options, commit);
  else await runAll(options, commit);
  const trials = [...latest.values()].sort((a, b) => a.index - b.index);
  return {
    study: options.study ?? 'study',
    seed: options.seed ?? 1,
    trials,
    best: [...trials].sort(rank),
    jobs,
    epochsSpent: jobs.reduce((n, r) => n + (r.stored ? 0 : r.history.length), 0),
    epochsStored: jobs.reduce((n, r) => n + (r.stored ? r.history.length : 0), 0),
    failed: trials.filter((r) => r.status === 'failed').length,
    timedOut: trials.filter((r) => r.status === 'timeout').length,
    seconds: (now() - start) / 1000,
  };
}

type Commit = (r: TrialResult, rung: number, total: number | null) => ScoredResult;

/** Every trial for all epochs, `concurrency` at a time, committed as they finish. */
async function runAll(o: SearchOptions, commit: Commit): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < o.trials && !o.signal?.aborted) {
      const job = trialJob(o, next++, o.epochs);
      try {
        commit(await o.executor.run(job, o.signal), 0, o.trials);
      } catch (e) {
        next = o.trials; // an executor error ends the search: issue nothing more
        throw e;
      }
    }
  };
  await settleAll(Array.from({ length: Math.max(1, Math.min(o.executor.concurrency, o.trials)) }, () => lane()));
  o.signal?.throwIfAborted();
}

/**
 * ASHA: up to `parallel` jobs in flight; results are committed to the
 * scheduler in issue order (a result that finishes early waits for the ones
 * issued before it), so each decision sees the same results on any executor.
 */
async function runAsha(o: SearchOptions, commit: Commit): Promise<void> {
  const scheduler = new AshaScheduler(o.trials, o.epochs, o.asha);
  const parallel = o.asha?.parallel ?? o.executor.concurrency;
  if (!(Number.isInteger(parallel) && parallel >= 1)) throw badNumber(parallel, `hyperparameterSearch: asha.parallel must be a positive integer, got ${shown(parallel)}`);
  const issued: Array<{ job: AshaJob; result: Promise<TrialResult> }> = [];
  let committed = 0;
  const fill = (): void => {
    while (!o.signal?.aborted && issued.length - committed < parallel) {
      const job = scheduler.next();
      if (!job) break;
      const result = o.executor.run(trialJob(o, job.index, job.epochs), o.signal);
      result.catch(() => undefined); // awaited in order below; an early rejection is not unhandled
      issued.push({ job, result });
    }
  };
  fill();
  let error: unknown = null;
  while (committed < issued.length) {
    const { job, result } = issued[committed];
    try {
      const scored = commit(await result, job.rung, null);
      scheduler.record(job, scored.objective);
    } catch (e) {
      error ??= e;
    }
    committed++;
    if (error === null) fill();
  }
  if (error !== null) throw error;
  o.signal?.throwIfAborted();
}

/** Waits for every promise, then rethrows the first rejection. */
async function settleAll(lanes: Array<Promise<void>>): Promise<void> {
  const settled = await Promise.allSettled(lanes);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
}
