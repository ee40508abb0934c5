// The job queue both worker-backed executors share (Node's localExecutor on
// worker_threads, webWorkerExecutor on Web Workers): jobs wait in arrival
// order, each slot (one worker) runs one at a time and hands itself back
// through `dispatch` when free, and close() rejects what still waits.
import type { Executor } from './search.js';
import type { TrialJob, TrialResult } from './trial.js';

/** A job waiting for, or running on, a slot. */
export interface PendingTrial { job: TrialJob; resolve: (r: TrialResult) => void; reject: (e: Error) => void }

/** One worker of a pool: runs a job, then calls the dispatch it was made with. */
export interface TrialSlot { run(p: PendingTrial): void }

/**
 * An executor over `count` slots made by `makeSlot(i, dispatch)`; `stop`
 * ends them on close(). `who` names the executor in errors.
 */
export function slotPoolExecutor<S extends TrialSlot>(
  who: string, count: number, makeSlot: (i: number, dispatch: (slot: S) => void) => S, stop: (slots: S[]) => Promise<void>,
): Executor {
  const waiting: PendingTrial[] = [];
  const idle: S[] = [];
  const dispatch = (slot: S) => {
    const p = waiting.shift();
    if (p) slot.run(p);
    else idle.push(slot);
  };
  const slots = Array.from({ length: count }, (_, i) => makeSlot(i, dispatch));
  idle.push(...slots);
  let closed = false;
  return {
    concurrency: count,
    run(job) {
      if (closed) return Promise.reject(new Error(`${who}: closed`));
      return new Promise<TrialResult>((resolve, reject) => {
        waiting.push({ job, resolve, reject });
        const slot = idle.shift();
        if (slot) dispatch(slot);
      });
    },
    async close() {
      closed = true;
      for (const p of waiting.splice(0)) p.reject(new Error(`${who}: closed`));
      await stop(slots);
    },
  };
}
