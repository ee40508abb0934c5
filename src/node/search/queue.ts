// Search beyond one machine: trials as BullMQ jobs on Redis. The coordinator
// (queueExecutor) adds each job under a fixed id (study.trial.epochs), so
// adding it again is a no-op and a restarted coordinator finds the results
// already in Redis; workers (runQueueWorker) take jobs and train them on
// worker threads (localExecutor), so their event loop stays free to renew
// job locks. BullMQ delivers at least once: a job whose worker died, or went
// without CPU or Redis past its lock, goes back to the queue when the lock
// expires and runs again, to the same bits; a completion without the job's
// lock is refused, so a result is stored once.
import { hostname } from 'node:os';
import type { Job, Queue, Worker } from 'bullmq';
import { storedMismatch } from '../../search/resume.js';
import type { Executor } from '../../search/search.js';
import type { TrialJob, TrialResult } from '../../search/trial.js';
import { localExecutor } from './local.js';

/** The BullMQ queue every study and worker uses unless told otherwise. */
export const DEFAULT_QUEUE_NAME = 'simdnn-trials';

/** Where the queue is: a redis[s]://[USER:PASSWORD@]HOST:PORT[/DB] URL and the queue's name. */
export interface QueueLocation {
  url: string;
  /** Default DEFAULT_QUEUE_NAME. */
  name?: string;
}

/** ioredis options of a queue URL. */
export interface RedisConnection {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  /** rediss://: TLS, the server's certificate checked against the host name. */
  tls?: Record<string, never>;
  maxRetriesPerRequest: null;
}

const URL_FORM = 'redis://[USER:PASSWORD@]HOST:PORT[/DB] (or rediss:// for TLS)';

/** `url` with its password starred, for messages. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href.replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** `redis[s]://[user:password@]host:port[/db]` → ioredis options; throws a RangeError naming the URL otherwise. */
export function redisConnection(url: string): RedisConnection {
  let u: URL;
  try { u = new URL(url); } catch { throw new RangeError(`queue: expected ${URL_FORM}, got '${url}'`); }
  if ((u.protocol !== 'redis:' && u.protocol !== 'rediss:') || !u.hostname) throw new RangeError(`queue: expected ${URL_FORM}, got '${shownUrl(url)}'`);
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new RangeError(`queue: bad database number in '${shownUrl(url)}'`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || 6379),
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // null: a command waits through a Redis restart instead of failing after 20 retries
    maxRetriesPerRequest: null,
  };
}

/** How long a closing connection's socket may take to close before it is destroyed. */
const DISCONNECT_MS = 100;

/**
 * ioredis's options for `url` (redisConnection's), with a connector for
 * rediss:// whose sockets always have an error listener. ioredis listens for
 * one error a socket; a socket it closes while its TLS handshake is under way
 * (a retry in flight when a connection gives up) can fail twice (the
 * handshake, then the server's alert at the close), and the second error,
 * with no listener, ended the process. ioredis still gets the first.
 */
async function ioredisOptions(url: string): Promise<RedisConnection & Pick<import('ioredis').RedisOptions, 'Connector' | 'disconnectTimeout'>> {
  // ioredis waits this long for a socket to close once it has ended it, keeping the process up for it:
  // a connection that never came up (its socket closed already) kept a failed command 2 s (the default)
  const connection = { ...redisConnection(url), disconnectTimeout: DISCONNECT_MS };
  if (!connection.tls) return connection;
  const { AbstractConnector } = await import('ioredis');
  const { connect } = await import('node:tls');
  type Options = { host: string; port: number; tls: object; disconnectTimeout: number };
  class TlsConnector extends AbstractConnector {
    private readonly options: Options;

    constructor(options: unknown) {
      super((options as Options).disconnectTimeout);
      this.options = options as Options;
    }

    connect(): Promise<import('node:tls').TLSSocket> {
      this.connecting = true;
      const { host, port, tls } = this.options;
      // a new tick, as ioredis's own connector: the caller attaches its listeners first
      return new Promise((resolve, reject) => process.nextTick(() => {
        if (!this.connecting) return reject(new Error('Connection is closed.'));
        const stream = connect({ host, port, ...tls });
        stream.on('error', () => {});
        this.stream = stream;
        resolve(stream);
      }));
    }
  }
  return { ...connection, Connector: TlsConnector };
}

const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/** How long to wait for Redis at the start, and a signal to stop waiting. */
export interface ConnectOptions {
  /** Give up when Redis cannot be reached for this long at the start (later outages are waited out). Default 30000. */
  connectTimeoutMs?: number;
  /** Stops waiting for the connection: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Node's codes for a server certificate it does not accept. Waiting cannot
 * mend these (unlike a Redis that is restarting), so the first one ends the
 * connection's wait.
 */
const CERTIFICATE_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_UNTRUSTED', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const isCertificateError = (e: Error): boolean => CERTIFICATE_CODES.has((e as NodeJS.ErrnoException).code ?? '');

/** Why the server's certificate was refused, and what to do about it. */
function certificateMessage(url: string, e: Error): string {
  const what = (e as NodeJS.ErrnoException).code === 'ERR_TLS_CERT_ALTNAME_INVALID'
    ? 'connect to the name or address its certificate is for'
    : 'to trust a private CA, start Node with NODE_EXTRA_CA_CERTS=<its certificate, PEM>';
  return `Redis at ${shownUrl(url)}: its TLS certificate is not accepted (${e.message}): ${what}`;
}

/** What the connection's last error (or none) suggests about the URL's scheme. */
function schemeHint(url: string, last: Error | null): string {
  const tls = url.startsWith('rediss:');
  if (tls && !last) return '; no TLS handshake completed: if the server does not take TLS, use redis://';
  if (!tls && (last as NodeJS.ErrnoException | null)?.code === 'ECONNRESET') return '; if the server takes TLS only, use rediss://';
  return '';
}

/**
 * A connection's errors: passed on to `onError` (ioredis retries them), the
 * last one kept for the connect timeout's message, a certificate error while
 * starting failed at once; none passed on once starting has failed (those of
 * closing the connection).
 */
class ConnectErrors {
  last: Error | null = null;
  private fail: ((e: Error) => void) | null = null;
  private failed = false;

  constructor(private readonly url: string, private readonly onError?: (e: Error) => void) {}

  readonly record = (e: Error): void => {
    if (this.failed) return;
    this.last = e;
    if (isCertificateError(e) && this.fail) this.fail(new Error(certificateMessage(this.url, e)));
    else this.onError?.(e);
  };

  /**
   * Resolves when `ready` does; rejects with the signal's reason when it aborts,
   * at the first certificate error, or after the connect timeout, naming the URL
   * and the last connection error.
   */
  until(ready: Promise<unknown>, options: ConnectOptions): Promise<void> {
    const ms = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const signal = options.signal;
    return new Promise<void>((resolve, reject) => {
      const end = (error: unknown | null) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.fail = null;
        if (error === null) return resolve();
        this.failed = true;
        reject(error);
      };
      const onAbort = () => end(signal!.reason);
      const timer = setTimeout(() => {
        const last = this.last;
        end(new Error(`cannot reach Redis at ${shownUrl(this.url)} within ${ms / 1000} s${last ? ` (${last.message})` : ''}${schemeHint(this.url, last)}`));
      }, ms);
      this.fail = end;
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      ready.then(() => end(null), end);
    });
  }
}

/** A job's id: the study, the trial index and the epochs it trains to (BullMQ ids may not contain ':'). */
export function jobId(job: Pick<TrialJob, 'study' | 'index' | 'epochs'>): string {
  return `${job.study}.t${job.index}.e${job.epochs}`;
}

async function bullmq(): Promise<typeof import('bullmq')> {
  try {
    return await import('bullmq');
  } catch (e) {
    throw new Error(`the queue needs the npm packages bullmq and ioredis (npm install bullmq ioredis): ${(e as Error).message}`);
  }
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
 * stay in Redis. Rejects when Redis cannot be reached within the connect
 * timeout, or when the signal aborts first.
 */
export async function queueExecutor(options: QueueExecutorOptions): Promise<Executor & { queue: Queue }> {
  const { Queue } = await bullmq();
  const { Redis } = await import('ioredis');
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
  let closed = false;
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
    else w.resolve(found.returnvalue as TrialResult);
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
        options.onError?.(e as Error); // Redis away: try again next round
      }
    }
    loop = null;
  };

  return {
    queue,
    concurrency: options.concurrency ?? 1024,
    async run(job: TrialJob): Promise<TrialResult> {
      if (closed) throw new Error('queue executor closed');
      const id = jobId(job);
      const result = new Promise<TrialResult>((resolve, reject) => waiting.set(id, { job, resolve, reject, retried: false }));
      await add(job);
      await settle(id); // completed before (a resumed study)
      loop ??= poll();
      return result;
    },
    async close() {
      closed = true;
      for (const [id, w] of waiting) w.reject(new Error(`queue executor closed while waiting for ${id}`));
      waiting.clear();
      await loop;
      await queue.close();
      redis.disconnect();
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
 * worker threads. Resolves once connected (rejects as queueExecutor does when
 * Redis cannot be reached); close() stops taking jobs, waits for the running
 * ones and frees the threads.
 */
export async function runQueueWorker(options: QueueWorkerOptions): Promise<{ worker: Worker; close(): Promise<void> }> {
  const { Worker } = await bullmq();
  const connection = await ioredisOptions(options.url);
  const threads = options.threads ?? (await import('node:os')).availableParallelism();
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
  return {
    worker,
    async close() {
      await worker.close();
      await executor.close();
    },
  };
}
