// Search beyond one machine: trials as BullMQ jobs on Redis. The coordinator
// (queueExecutor) adds each job under a fixed id (study.trial.epochs), so
// adding it again is a no-op and a restarted coordinator finds the results
// already in Redis; workers (runQueueWorker) take jobs and train them on
// worker threads (localExecutor), so their event loop stays free to renew
// job locks. BullMQ delivers at least once: a job whose worker died, or went
// without CPU or Redis past its lock, goes back to the queue when the lock
// expires and runs again, to the same bits; a completion without the job's
// lock is refused, so a result is stored once. A trial's time limit travels in
// its job (timeoutMs, from the coordinator's trialTimeoutMs): the worker's
// thread pool enforces it, and a timed-out trial completes its job with a
// 'timeout' result, a final outcome that BullMQ does not retry.
import { availableParallelism, hostname } from 'node:os';
import type { Job, Queue, Worker } from 'bullmq';
import { revivedResult, storedMismatch } from '../../search/resume.js';
import { abortWatcher } from '../../search/abort-watch.js';
import type { Executor } from '../../search/search.js';
import type { TrialJob, TrialResult } from '../../search/trial.js';
import { importPackage } from '../import-package.js';
import { localExecutor } from './local.js';
import { ConnectErrors, drop, ioredisOptions, whileAnswering, type ConnectOptions, type Droppable } from './redis-connection.js';

/** The BullMQ queue every study and worker uses unless told otherwise. */
export const DEFAULT_QUEUE_NAME = 'simdnn-trials';

/** Where the queue is: a redis[s]://[USER:PASSWORD@]HOST:PORT[/DB] URL and the queue's name. */
export interface QueueLocation {
  url: string;
  /** Default DEFAULT_QUEUE_NAME. */
  name?: string;
}

/** A job's id: the study, the trial index and the epochs it trains to (BullMQ ids may not contain ':'). */
export function jobId(job: Pick<TrialJob, 'study' | 'index' | 'epochs'>): string {
  return `${job.study}.t${job.index}.e${job.epochs}`;
}

async function bullmq(): Promise<typeof import('bullmq')> {
  try {
    return await importPackage('bullmq', () => import('bullmq'));
  } catch (e) {
    throw new Error(`the queue needs the npm packages bullmq and ioredis (npm install bullmq ioredis): ${(e as Error).message}`);
  }
}

/** A BullMQ connection's client: the ioredis client it made from our options (BullMQ types it without ping). */
async function ioredisOf(client: Promise<unknown>): Promise<Droppable> {
  return (await client) as Droppable;
}

export interface QueueExecutorOptions extends QueueLocation, ConnectOptions {
  /** Jobs kept in flight by the search (ASHA's parallel; plain search keeps this many added). Default 1024. */
  concurrency?: number;
  /** How often to read the jobs completed since the last look. Default 250 ms. */
  pollMs?: number;
  /** How often to look for jobs that failed in BullMQ or vanished from Redis. Default 5000 ms. */
  auditMs?: number;
  /** Attempts BullMQ gives a job whose worker failed it (not a failed trial: that is a result). Default 3. */
  attempts?: number;
  /** Connection errors (ioredis retries them); default: ignored. */
  onError?: (e: Error) => void;
  /** Called when close() stops without waiting for Redis, which answered no PING within STOP_GRACE_MS. */
  onForcedStop?: () => void;
}

/**
 * Why the result job `id` holds in Redis cannot answer `job`, or null: the
 * search core's resume check, so a job left there under the same id by an
 * earlier study of the same name (another seed, space or data) is refused as
 * a stored result of another study is.
 */
function mismatch(job: TrialJob, id: string, value: unknown): string | null {
  const r = value as TrialResult;
  const why = typeof value !== 'object' || r.index !== job.index || r.epochs !== job.epochs
    ? `not a result of trial ${job.index} (${job.epochs} epochs)`
    : storedMismatch(job, r);
  return why && `${why} (job ${id} in Redis: give the study another name, or use another queue)`;
}

interface Waiter { job: TrialJob; resolve: (r: TrialResult) => void; reject: (e: Error) => void; retried: boolean }

/**
 * Completions are read from BullMQ's completed set by score (the finishing
 * worker's clock) with this much overlap; one a skewed clock puts earlier is
 * found by the audit.
 */
const OVERLAP_MS = 2000;

/**
 * The coordinator's side: run(job) adds the job (a no-op if its id exists) and
 * resolves with its result once a worker has completed it, at once for a job
 * completed before (a resumed study). One loop serves every waiting job: it
 * reads the ids completed since its last look (cost grows with the completion
 * rate, not the jobs waiting) and, less often, looks for jobs that vanished
 * (Redis restarted from an older state: added again) or that BullMQ failed
 * (attempts used up: retried once, then run() rejects). A result whose
 * study, seed, settings or data are not its job's (a job an earlier study of
 * the same name left under the id) rejects run(). close() disconnects; the jobs
 * stay in Redis. close() waits for Redis (the jobs withdrawn, the connection
 * quit) only while it answers: when it answers no PING within STOP_GRACE_MS
 * (down or frozen), close() drops the connections and resolves, the jobs not
 * yet withdrawn left in the queue. Rejects when Redis cannot be reached within
 * the connect timeout, or when the signal aborts first. run(job, signal)
 * rejects with the signal's reason when it aborts, at once (even while Redis
 * is away); the job leaves the queue unless a worker has taken it (then it
 * finishes, and its result is kept for a resumed study).
 */
export async function queueExecutor(options: QueueExecutorOptions): Promise<Executor & { queue: Queue }> {
  const { Queue } = await bullmq();
  const { Redis } = await importPackage('ioredis', () => import('ioredis'));
  const connection = await ioredisOptions(options.url);
  const queue = new Queue(options.name ?? DEFAULT_QUEUE_NAME, { connection });
  const redis = new Redis(connection);
  const errors = new ConnectErrors(options.url, options.onError);
  // ioredis reconnects by itself (a Redis restart); its errors must not be unhandled events
  queue.on('error', errors.record);
  redis.on('error', errors.record);
  try {
    await errors.until(queue.waitUntilReady(), options);
  } catch (e) {
    await queue.close();
    redis.disconnect();
    throw e;
  }
  const pollMs = options.pollMs ?? 250;
  const auditMs = options.auditMs ?? 5000;
  const attempts = options.attempts ?? 3;
  const waiting = new Map<string, Waiter>();
  const withdrawals = new Set<Promise<void>>(); // jobs being taken out of the queue: close() lets them finish
  let closed = false;
  let closing: Promise<void> | null = null;
  let since = 0;
  let lastAudit = Date.now();
  let loop: Promise<void> | null = null;
  const add = (job: TrialJob) => queue.add('trial', job, { jobId: jobId(job), attempts, removeOnComplete: false, removeOnFail: false });

  /** Settles the waiter of `id` if its job has completed (rejects it if the result is not its job's); true if it did. */
  const settle = async (id: string): Promise<boolean> => {
    const w = waiting.get(id);
    const found = w && ((await queue.getJob(id)) as Job | undefined);
    if (!w || !found || found.finishedOn === undefined || found.failedReason || found.returnvalue == null) return false;
    waiting.delete(id);
    const why = mismatch(w.job, id, found.returnvalue);
    if (why) w.reject(new Error(why));
    else w.resolve(revivedResult(found.returnvalue as TrialResult)); // BullMQ keeps results as JSON
    return true;
  };

  const audit = async (): Promise<void> => {
    const ids = [...waiting.keys()];
    const pipe = redis.pipeline();
    for (const id of ids) pipe.zscore(queue.toKey('failed'), id).exists(queue.toKey(id)).zscore(queue.toKey('completed'), id);
    const replies = (await pipe.exec()) ?? [];
    for (let i = 0; i < ids.length; i++) {
      const w = waiting.get(ids[i]);
      if (!w) continue;
      const [failed, exists, completed] = [1, 2, 3].map((k) => replies[3 * i + k - 1]?.[1]);
      if (completed !== null && completed !== undefined) await settle(ids[i]);
      else if (exists === 0) await add(w.job); // lost: add it again
      else if (failed !== null && failed !== undefined) {
        const job = (await queue.getJob(ids[i])) as Job | undefined;
        if (w.retried) { waiting.delete(ids[i]); w.reject(new Error(`job ${ids[i]} failed in the queue: ${job?.failedReason}`)); }
        else { w.retried = true; await job?.retry('failed'); }
      }
    }
  };

  /**
   * The search no longer waits for `id` (its signal aborted): its waiter rejects with `reason`, and the job
   * leaves the queue if no worker has taken it yet.
   */
  const withdraw = async (id: string, reason: unknown): Promise<void> => {
    const w = waiting.get(id);
    if (!w) return;
    waiting.delete(id);
    w.reject(reason as Error);
    await unqueue(id);
  };

  /**
   * Removes job `id` if it still waits for a worker. A running job finishes and its result stays in Redis for
   * a resumed study; BullMQ refuses to remove a job a worker holds the lock of, so that race is safe.
   */
  const unqueue = async (id: string): Promise<void> => {
    try {
      const job = (await queue.getJob(id)) as Job | undefined;
      const state = await job?.getState();
      if (state === 'waiting' || state === 'prioritized' || state === 'delayed') await job!.remove();
    } catch {
      // taken by a worker meanwhile (locked), or Redis away: the job runs and its result is kept
    }
  };

  /** Withdraws job `id` when `signal` aborts, until `result` settles. */
  const watchAbort = abortWatcher<string>((id, reason) => {
    const done = withdraw(id, reason);
    withdrawals.add(done);
    void done.then(() => withdrawals.delete(done));
  });
  const watch = (id: string, signal: AbortSignal, result: Promise<unknown>): void => {
    const unwatch = watchAbort(signal, id);
    result.then(unwatch, unwatch);
  };

  /** Reads completions while any job waits (startPolling runs it). */
  const poll = async (): Promise<void> => {
    while (waiting.size > 0 && !closed) {
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      try {
        const done = await redis.zrangebyscore(queue.toKey('completed'), since, '+inf', 'WITHSCORES');
        for (let i = 0; i < done.length; i += 2) {
          since = Math.max(since, Number(done[i + 1]) - OVERLAP_MS);
          if (waiting.has(done[i])) await settle(done[i]);
        }
        if (Date.now() - lastAudit >= auditMs) { lastAudit = Date.now(); await audit(); }
      } catch (e) {
        if (!closed) options.onError?.(e as Error); // Redis away: try again next round
      }
    }
  };

  /**
   * Starts the loop unless it runs or no job waits; a loop that ends starts again if a job came meanwhile.
   * Only this sets and clears `loop`: a poll() that cleared it itself, ending at once with nothing waiting (the
   * job just found completed), was then kept as the loop, and no later job was ever polled.
   */
  const startPolling = (): void => {
    if (loop || closed || waiting.size === 0) return;
    loop = poll().then(() => { loop = null; startPolling(); });
  };

  return {
    queue,
    concurrency: options.concurrency ?? 1024,
    async run(job: TrialJob, signal?: AbortSignal): Promise<TrialResult> {
      if (closed) throw new Error('queue executor closed');
      signal?.throwIfAborted();
      const id = jobId(job);
      const result = new Promise<TrialResult>((resolve, reject) => waiting.set(id, { job, resolve, reject, retried: false }));
      if (signal) watch(id, signal, result);
      const enqueue = async () => {
        await add(job);
        if (signal?.aborted) await unqueue(id); // aborted while the job was being added: its waiter has rejected
        await settle(id); // completed before (a resumed study)
        startPolling();
      };
      // an abort (or close()) rejects the waiter: run() rejects at once, even while Redis has not taken the job
      return Promise.race([enqueue().then(() => result), result]);
    },
    close() {
      closing ??= (async () => {
        closed = true;
        for (const [id, w] of waiting) w.reject(new Error(`queue executor closed while waiting for ${id}`));
        waiting.clear();
        const graceful = (async () => {
          await Promise.all(withdrawals);
          await loop;
          await queue.close();
        })();
        await whileAnswering(redis, graceful, async () => {
          errors.stop();
          options.onForcedStop?.();
          drop(await ioredisOf(queue.backend.client));
          drop(redis);
        });
        redis.disconnect();
      })();
      return closing;
    },
  };
}

export interface QueueWorkerOptions extends QueueLocation, ConnectOptions {
  /** Trials at once (worker threads). Default: one per core. */
  threads?: number;
  /** BullMQ lock duration (ms): a dead worker's job is taken over after about this long. Default 30000. */
  lockDuration?: number;
  /** How often this worker checks for stalled jobs (ms). Default 30000. */
  stalledInterval?: number;
  /** Times a job may stall (its worker die) before BullMQ fails it. Default 5. */
  maxStalledCount?: number;
  /** Connection errors (ioredis retries them), and a completion BullMQ refused (the job's lock was lost); default: ignored. */
  onError?: (e: Error) => void;
  /** Called when a job starts, when it ends, and when this worker finds a job stalled. */
  onEvent?: (e: QueueWorkerEvent) => void;
  /** Called when close() stops without waiting for Redis, which answered no PING within STOP_GRACE_MS. */
  onForcedStop?: () => void;
}

/** BullMQ's codes for a job this worker no longer holds: gone from Redis, lock missing, not active, another's lock. */
const NOT_HELD = new Set([-1, -2, -3, -6]);

/**
 * Whether `e` is BullMQ's refusal to end a job (moveToFinished) this worker
 * no longer holds: its lock expired and the job went back to the queue (or
 * another worker took it). BullMQ drops that run's result and does not retry
 * it; the run holding the job stores the trial's result.
 */
export function refusedFinish(e: Error): boolean {
  return NOT_HELD.has((e as { code?: unknown }).code as number) && /\bmoveToFinished\b/.test(e.message);
}

/**
 * What a queue worker reports: a job started, done (its result) or not run
 * (error); or `stalled`: this worker's stalled-job check found the job's lock
 * expired (its worker died, or was starved past its lock) and put it back in
 * the queue, so it starts again; the run that lost its lock, if alive, has its
 * completion refused.
 */
export type QueueWorkerEvent =
  | { kind: 'started' | 'done' | 'error'; id: string; job: TrialJob; result?: TrialResult; error?: string }
  | { kind: 'stalled'; id: string };

/**
 * A worker: takes trial jobs from the queue and runs `threads` at a time on
 * worker threads. A job with a time limit (timeoutMs in its data) still running
 * that long after its thread started it has the thread terminated (and
 * replaced) and completes with its 'timeout' result: the limit holds while this
 * process is alive and keeps renewing the job's lock, which only a dead or
 * starved worker loses. Resolves once connected (rejects as queueExecutor does when
 * Redis cannot be reached); close() stops taking jobs, waits for the running
 * ones and frees the threads. It waits only while Redis answers: when Redis
 * answers no PING within STOP_GRACE_MS (down or frozen), close() stops the
 * running trials and drops the connections; those jobs go back to the queue
 * when their locks expire.
 */
export async function runQueueWorker(options: QueueWorkerOptions): Promise<{ worker: Worker; close(): Promise<void> }> {
  const { Worker } = await bullmq();
  const connection = await ioredisOptions(options.url);
  const threads = options.threads ?? availableParallelism();
  const executor = localExecutor({ workers: threads, label: `${hostname()}:${process.pid}/thread` });
  const worker = new Worker(options.name ?? DEFAULT_QUEUE_NAME, async (job: Job) => {
    const data = job.data as TrialJob;
    options.onEvent?.({ kind: 'started', id: job.id!, job: data });
    try {
      const result = await executor.run(data);
      options.onEvent?.({ kind: 'done', id: job.id!, job: data, result });
      return result;
    } catch (e) {
      options.onEvent?.({ kind: 'error', id: job.id!, job: data, error: (e as Error).message });
      throw e;
    }
  }, {
    connection,
    concurrency: threads,
    lockDuration: options.lockDuration ?? 30_000,
    stalledInterval: options.stalledInterval ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 5,
  });
  const errors = new ConnectErrors(options.url, options.onError);
  // errors of the connection (Redis restarting) are retried by ioredis; they must not be unhandled events
  worker.on('error', errors.record);
  worker.on('stalled', (id: string) => options.onEvent?.({ kind: 'stalled', id }));
  try {
    await errors.until(worker.waitUntilReady(), options);
  } catch (e) {
    await worker.close(true); // true: close() would wait for a connection
    await executor.close();
    throw e;
  }
  const client = await ioredisOf(worker.backend.client);
  const blocking = worker.backend.blockingClient && await ioredisOf(worker.backend.blockingClient);
  let closing: Promise<void> | null = null;
  return {
    worker,
    close() {
      const graceful = async () => {
        await worker.close();
        await executor.close();
      };
      closing ??= whileAnswering(client, graceful(), async () => {
        errors.stop();
        options.onForcedStop?.();
        await executor.close(); // the running trials stop; their jobs go back to the queue when their locks expire
        drop(client);
        if (blocking) drop(blocking);
      });
      return closing;
    },
  };
}
