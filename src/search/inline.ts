// The simplest executor: trials one after another on a runtime the caller
// gives, on the calling thread (any host: browsers, edge workers, Node).
import { checkRuntime, describeValue, type Runtime } from '../index.js';
import type { Executor } from './search.js';
import { now, runTrial, timedOutResult, type DataSpec, type EpochResult, type TrialData, type TrialJob, type TrialResult } from './trial.js';

/** Loads the tensors a DataSpec describes onto `rt` (the executor owns and disposes them). */
export type DataLoader = (rt: Runtime, spec: DataSpec) => TrialData | Promise<TrialData>;

/**
 * Runs jobs on `rt` (borrowed), one at a time (training yields to the event
 * loop now and then). Data is loaded once per distinct DataSpec and freed by close().
 * A job whose signal aborts stops between steps (or before it starts) and rejects with the signal's reason;
 * one still running job.timeoutMs after it started (its data's loading included) stops between steps and
 * resolves as timed out (a synchronous call in progress, one step, runs to its end first).
 */
export function inlineExecutor(rt: Runtime, load: DataLoader, worker = 'inline'): Executor {
  checkLoader('inlineExecutor', rt, load);
  const cache = new DataCache(rt, load);
  let queue: Promise<unknown> = Promise.resolve();
  return {
    concurrency: 1,
    run(job: TrialJob, signal?: AbortSignal): Promise<TrialResult> {
      const result = queue.then(async () => {
        signal?.throwIfAborted();
        if (job.timeoutMs === undefined) return runTrial(rt, job, await cache.get(job.data), worker, signal);
        return runTimed(rt, job, () => cache.get(job.data), worker, signal);
      });
      queue = result.catch(() => undefined);
      return result;
    },
    async close() {
      await queue;
      cache.dispose();
    },
  };
}

/** runTrial under job.timeoutMs: a timer stops it between steps, and its result is the epochs done by then. */
async function runTimed(rt: Runtime, job: TrialJob, data: () => Promise<TrialData>, worker: string, signal?: AbortSignal): Promise<TrialResult> {
  const begun = now();
  const stop = new AbortController();
  const expired = new Error('trial time limit');
  const timer = setTimeout(() => stop.abort(expired), job.timeoutMs);
  // the executor runs one job at a time: this is the one listener it adds to the search's signal
  const forward = () => stop.abort(signal!.reason);
  signal?.addEventListener('abort', forward, { once: true });
  const history: EpochResult[] = [];
  try {
    return await runTrial(rt, job, await data(), worker, stop.signal, (e) => history.push(e));
  } catch (e) {
    if (stop.signal.reason === expired) return timedOutResult(job, history, worker, (now() - begun) / 1000);
    throw e;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', forward);
  }
}

/** Loaded data by DataSpec (its JSON), owned until dispose(). */
export class DataCache {
  private readonly loaded = new Map<string, Promise<TrialData>>();

  /** A cache loading each DataSpec's data with `load` on `rt` at its first get(); it loads nothing before. */
  constructor(private readonly rt: Runtime, private readonly load: DataLoader) {
    checkLoader('DataCache', rt, load);
  }

  /** The data of `spec`, loaded on first use (a failed load is retried next time). */
  get(spec: DataSpec): Promise<TrialData> {
    const key = JSON.stringify(spec);
    let data = this.loaded.get(key);
    if (!data) {
      data = Promise.resolve().then(() => this.load(this.rt, spec));
      data.catch(() => this.loaded.delete(key));
      this.loaded.set(key, data);
    }
    return data;
  }

  /** Disposes every loaded data set (its own dispose(), else its four tensors) once its load settles, and forgets them. */
  dispose(): void {
    for (const data of this.loaded.values()) {
      data.then((d) => {
        if (d.dispose) d.dispose();
        else for (const t of [d.xTrain, d.tTrain, d.xVal, d.tVal]) t.dispose();
      }, () => undefined);
    }
    this.loaded.clear();
  }
}

/** Refuses, naming `who`, an rt that is not a Runtime or a load that is not a function (each failed only at the first job, deep inside). */
function checkLoader(who: string, rt: unknown, load: unknown): void {
  checkRuntime(rt, who);
  if (typeof load !== 'function') throw new TypeError(`${who}: load must be a function (rt, spec) => data, got ${describeValue(load)}`);
}
