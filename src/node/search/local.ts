// The default executor in Node: trials on worker_threads, one trial per
// thread, each thread with its own single-threaded runtime. Results are the
// same bits for any number of workers (each trial reseeds its runtime).
import { os, workerThreads } from '../builtins.js';
import type { Worker } from 'node:worker_threads';
import type { Executor } from '../../search/search.js';
import { slotPoolExecutor, TrialSlotBase, type TrialReply } from '../../search/slot-pool.js';

/** Options of localExecutor (a bad worker count is a RangeError). */
export interface LocalExecutorOptions {
  /** Worker threads (trials at once). Default: one per core. */
  workers?: number;
  /** Prefix of each result's `worker` (the thread number is appended). Default 'thread'. */
  label?: string;
}

/**
 * The compiled worker module. Sources run by the tests (src/…/*.ts) use the
 * build in dist/; the bundles in dist/bundle/ (the CLI's, simdnn/search's) the
 * worker bundled beside them, which a thread loads ~0.1 s sooner than the
 * module graph of dist/node/search/.
 */
export function trialWorkerUrl(): URL {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return new URL('../../../dist/node/search/trial-worker.js', here);
  return new URL('./trial-worker.js', here);
}


class Slot extends TrialSlotBase<Worker> {
  private worker: Worker | null = null;
  private ready: Promise<Worker> | null = null;

  protected start(): Promise<Worker> {
    this.ready ??= new Promise<Worker>((resolve, reject) => {
      const worker = new (workerThreads().Worker)(trialWorkerUrl(), { workerData: { label: this.label } });
      this.worker = worker;
      worker.on('message', (m: 'ready' | TrialReply) => {
        if (m === 'ready') resolve(worker);
        // a reply already on its way from a worker killed since (its job aborted) is no answer to the next job
        else if (this.worker === worker) this.settle(m);
      });
      const lost = (why: string) => {
        this.worker = null;
        this.ready = null;
        reject(new Error(why));
        this.lose(why);
      };
      worker.on('error', (e) => lost(`worker ${this.label} failed: ${e.message}`));
      worker.on('exit', (code) => lost(`worker ${this.label} exited with code ${code}`));
    });
    return this.ready;
  }

  protected kill(): void {
    const w = this.worker;
    this.worker = null;
    this.ready = null;
    if (w) { w.removeAllListeners('exit'); w.removeAllListeners('error'); w.on('error', () => {}); void w.terminate(); }
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.cancel('localExecutor');
    if (w) { w.removeAllListeners('exit'); await w.terminate(); }
  }
}

/**
 * An executor on `workers` worker threads (started on first use). A worker
 * that dies rejects its job (and is replaced for the next one); a job whose
 * signal aborts has its worker terminated and rejects with the reason; a job
 * still running job.timeoutMs after it started has its worker terminated (and
 * replaced) and resolves as timed out; close() terminates them all. Throws a RangeError on a bad worker count.
 */
export function localExecutor(options: LocalExecutorOptions = {}): Executor {
  const workers = options.workers ?? os().availableParallelism();
  if (!(Number.isInteger(workers) && workers >= 1)) throw new RangeError(`localExecutor: workers must be a positive integer, got ${workers}`);
  return slotPoolExecutor<Slot>('localExecutor', workers, (i, dispatch) => {
    const slot: Slot = new Slot(`${options.label ?? 'thread'}-${i}`, () => dispatch(slot));
    return slot;
  },
    async (slots) => { await Promise.all(slots.map((s) => s.stop())); });
}
