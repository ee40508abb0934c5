// The default executor in Node: trials on worker_threads, one trial per
// thread, each thread with its own single-threaded runtime. Results are the
// same bits for any number of workers (each trial reseeds its runtime).
import { os, workerThreads } from '../builtins.js';
import type { Worker } from 'node:worker_threads';
import type { Executor } from '../../search/search.js';
import { slotPoolExecutor, type PendingTrial as Pending } from '../../search/slot-pool.js';
import type { TrialResult } from '../../search/trial.js';

/** Options of localExecutor (a bad worker count is a RangeError). */
export interface LocalExecutorOptions {
  /** Worker threads (trials at once). Default: one per core. */
  workers?: number;
  /** Prefix of each result's `worker` (the thread number is appended). Default 'thread'. */
  label?: string;
}

/**
 * The compiled worker module. Sources run by the tests (src/…/*.ts) use the
 * build in dist/; the bundles in dist/bundle/ use dist/node/search/.
 */
export function trialWorkerUrl(): URL {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return new URL('../../../dist/node/search/trial-worker.js', here);
  if (/\/dist\/bundle\/[^/]+$/.test(here)) return new URL('../node/search/trial-worker.js', here);
  return new URL('./trial-worker.js', here);
}


class Slot {
  private worker: Worker | null = null;
  private ready: Promise<Worker> | null = null;
  current: Pending | null = null;

  constructor(readonly label: string, private readonly done: (slot: Slot) => void) {}

  private start(): Promise<Worker> {
    this.ready ??= new Promise<Worker>((resolve, reject) => {
      const worker = new (workerThreads().Worker)(trialWorkerUrl(), { workerData: { label: this.label } });
      this.worker = worker;
      worker.on('message', (m: 'ready' | { result?: TrialResult; error?: string }) => {
        if (m === 'ready') { resolve(worker); return; }
        const p = this.current!;
        this.current = null;
        if (m.result) p.resolve(m.result);
        else p.reject(new Error(`trial ${p.job.index}: ${m.error}`));
        this.done(this);
      });
      const lost = (why: string) => {
        this.worker = null;
        this.ready = null;
        reject(new Error(why));
        const p = this.current;
        this.current = null;
        if (p) { p.reject(new Error(`trial ${p.job.index}: ${why}`)); this.done(this); }
      };
      worker.on('error', (e) => lost(`worker ${this.label} failed: ${e.message}`));
      worker.on('exit', (code) => lost(`worker ${this.label} exited with code ${code}`));
    });
    return this.ready;
  }

  run(p: Pending): void {
    this.current = p;
    this.start().then((w) => w.postMessage({ id: p.job.index, job: p.job }), (e: Error) => {
      if (this.current === p) { this.current = null; p.reject(e); this.done(this); }
    });
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    const p = this.current;
    this.current = null;
    p?.reject(new Error(`trial ${p.job.index}: localExecutor closed`));
    if (w) { w.removeAllListeners('exit'); await w.terminate(); }
  }
}

/**
 * An executor on `workers` worker threads (started on first use). A worker
 * that dies rejects its job (and is replaced for the next one); close()
 * terminates them all. Throws a RangeError on a bad worker count.
 */
export function localExecutor(options: LocalExecutorOptions = {}): Executor {
  const workers = options.workers ?? os().availableParallelism();
  if (!(Number.isInteger(workers) && workers >= 1)) throw new RangeError(`localExecutor: workers must be a positive integer, got ${workers}`);
  return slotPoolExecutor<Slot>('localExecutor', workers, (i, dispatch) => new Slot(`${options.label ?? 'thread'}-${i}`, dispatch),
    async (slots) => { await Promise.all(slots.map((s) => s.stop())); });
}
