// The job queue and the per-worker job bookkeeping both worker-backed executors share (Node's localExecutor on
// worker_threads, webWorkerExecutor on Web Workers): jobs wait in arrival
// order, each slot (one worker) runs one at a time and hands itself back
// through `dispatch` when free, and close() rejects what still waits. A job
// whose signal aborts is dropped if it waits, or its worker is terminated if it
// runs (the slot starts a new one for its next job), and rejects with the reason;
// a job that outlives its time limit (job.timeoutMs) has its worker terminated
// the same way and resolves as timed out.
import type { Executor } from './search.js';
import { now, timedOutResult, type EpochResult, type TrialJob, type TrialResult } from './trial.js';
import { abortWatcher } from './abort-watch.js';

/** A job waiting for, or running on, a slot. */
export interface PendingTrial { job: TrialJob; resolve: (r: TrialResult) => void; reject: (e: Error) => void }

/** One worker of a pool: runs a job, then calls the dispatch it was made with; abort() stops the job it runs. */
export interface TrialSlot {
  run(p: PendingTrial): void;
  abort(p: PendingTrial, reason: unknown): void;
}

/**
 * An executor over `count` slots made by `makeSlot(i, dispatch)`; `stop`
 * ends them on close(). `who` names the executor in errors.
 */
export function slotPoolExecutor<S extends TrialSlot>(
  who: string, count: number, makeSlot: (i: number, dispatch: (slot: S) => void) => S, stop: (slots: S[]) => Promise<void>,
): Executor {
  const waiting: PendingTrial[] = [];
  const idle: S[] = [];
  const running = new Map<PendingTrial, S>();
  const dispatch = (slot: S) => {
    const p = waiting.shift();
    if (p) { running.set(p, slot); slot.run(p); } else idle.push(slot);
  };
  const slots = Array.from({ length: count }, (_, i) => makeSlot(i, dispatch));
  idle.push(...slots);
  // a job whose signal aborts: its worker stopped if it runs, dropped if it waits
  const watchAbort = abortWatcher<PendingTrial>((p, reason) => {
    const slot = running.get(p);
    if (slot) slot.abort(p, reason);
    else if (waiting.includes(p)) { waiting.splice(waiting.indexOf(p), 1); p.reject(reason as Error); }
  });
  let closed = false;
  return {
    concurrency: count,
    run(job, signal) {
      if (closed) return Promise.reject(new Error(`${who}: closed`));
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<TrialResult>((resolve, reject) => {
        let unwatch = () => {};
        const settled = () => { running.delete(p); unwatch(); };
        const p: PendingTrial = {
          job,
          resolve: (r) => { settled(); resolve(r); },
          reject: (e) => { settled(); reject(e); },
        };
        if (signal) unwatch = watchAbort(signal, p);
        waiting.push(p);
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

/** What a trial worker posts back: an epoch the trial has trained (streamed), its result, or why it could not run. */
export interface TrialReply { epoch?: EpochResult; result?: TrialResult; error?: string }

/**
 * The job bookkeeping of one worker, the same on every host: the job it
 * runs, settled by the worker's reply, by the worker's loss or by the job's
 * time limit (job.timeoutMs: the worker is terminated, since a trial stuck in
 * a synchronous wasm call cannot be stopped any other way, and the job
 * resolves as timed out with the epochs the worker streamed), after which
 * the slot hands itself back (`free`). A host's slot starts its worker.
 */
export abstract class TrialSlotBase<W extends { postMessage(message: unknown): void }> implements TrialSlot {
  private current: PendingTrial | null = null;
  /** The running job's epochs so far, as its worker streams them. */
  private history: EpochResult[] = [];
  private limit: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly label: string, private readonly free: () => void) {}

  /** The slot's worker, started on first use (and again after a loss). */
  protected abstract start(): Promise<W>;

  /** Terminates the slot's worker, if any, with no loss reported: the next job starts another. */
  protected abstract kill(): void;

  /** Stops the job `p` if it runs here: its worker is terminated and `p` rejects with `reason`; the slot is free. */
  abort(p: PendingTrial, reason: unknown): void {
    if (this.current !== p) return;
    this.end();
    this.kill();
    p.reject(reason as Error);
    this.free();
  }

  run(p: PendingTrial): void {
    this.current = p;
    this.history = [];
    this.start().then((w) => {
      if (this.current !== p) return; // aborted while its worker started
      w.postMessage({ id: p.job.index, job: p.job });
      const ms = p.job.timeoutMs;
      if (ms !== undefined) {
        const begun = now();
        this.limit = setTimeout(() => {
          if (this.current !== p) return;
          const history = this.history;
          this.end();
          this.kill();
          p.resolve(timedOutResult(p.job, history, this.label, (now() - begun) / 1000));
          this.free();
        }, ms);
      }
    }, (e: Error) => {
      if (this.current === p) { this.end(); p.reject(e); this.free(); }
    });
  }

  /**
   * The worker answered the running job: an epoch trained, or its end. A reply with no job running (the job
   * aborted or the executor closed while the reply was on its way) is dropped: it threw in the message
   * handler, an uncaught exception.
   */
  protected settle(m: TrialReply): void {
    const p = this.current;
    if (!p) return;
    if (m.epoch) { this.history.push(m.epoch); return; }
    this.end();
    if (m.result) p.resolve(m.result);
    else p.reject(new Error(`trial ${p.job.index}: ${m.error}`));
    this.free();
  }

  /** The worker is gone (`why`): the running job, if any, fails and the slot is free for the next. */
  protected lose(why: string): void {
    const p = this.end();
    if (p) { p.reject(new Error(`trial ${p.job.index}: ${why}`)); this.free(); }
  }

  /** On close: the running job, if any, fails as closed by `who`; the slot is not handed back. */
  protected cancel(who: string): void {
    const p = this.end();
    p?.reject(new Error(`trial ${p.job.index}: ${who} closed`));
  }

  /** Takes the running job off the slot (its time limit cleared) and returns it. */
  private end(): PendingTrial | null {
    const p = this.current;
    this.current = null;
    this.history = [];
    clearTimeout(this.limit);
    this.limit = undefined;
    return p;
  }
}
