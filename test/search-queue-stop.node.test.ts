// Stopping the queue's coordinator and workers, against a real redis-server
// (each case its own, on a free loopback port):
//  - Redis frozen (SIGSTOP) or killed mid-study: one SIGINT stops
//    `simdnn search --queue` (130) and one SIGTERM `simdnn worker` (143), each
//    saying it stops without waiting for Redis; before, both waited for Redis
//    for ever (every command waits through an outage);
//  - Redis up: a stopped worker still finishes its trial in progress, however
//    much longer than STOP_GRACE_MS it takes;
//  - queueExecutor's close() with Redis frozen resolves, idle or after the
//    search's signal aborted;
//  - a study with more jobs in flight than Node's listener limit (10) puts one
//    abort listener on the search's signal, not one per job (which printed
//    MaxListenersExceededWarning on every `simdnn search --queue` of 11 trials
//    or more), and that one withdraws every job;
//  - a completion BullMQ refused (the job's lock gone) is logged as dropped and
//    not retried, a connection error as retrying.
// Time limits here are ceilings for a hang (tens of seconds against a 3 s grace), not timings.
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Queue } from 'bullmq';
import { retryReporter } from '../src/node/cli/search.js';
import { queueExecutor, runQueueWorker, type QueueWorkerEvent } from '../src/node/search/queue.js';
import { STOP_GRACE_MS } from '../src/node/search/redis-connection.js';
import { hyperparameterSearch, logUniform } from '../src/search/index.js';
import { Capture, freePort, startCollecting, startRedis, type Proc, within as withinMs } from './helpers/cli.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, 'dist/node/cli.cjs');
const HANG_MS = 60_000;
const children = new Set<ChildProcess>();
let tmp: string;

beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-queue-stop-')); });
afterAll(async () => {
  for (const c of children) { c.kill('SIGCONT'); c.kill('SIGKILL'); }
  await rm(tmp, { recursive: true, force: true });
});

const start = (command: string, args: string[]): Proc => startCollecting(children, command, args);

function exited(p: Proc, timeoutMs = HANG_MS): Promise<number | null> {
  const { child } = p;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still running ${timeoutMs} ms after the signal:\n${p.lines.join('\n')}`)), timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
  });
}

/** `promise`, or a rejection naming `what` after HANG_MS. */
const within = <T>(what: string, promise: Promise<T>): Promise<T> => withinMs(what, promise, HANG_MS);

async function waitFor(what: string, test: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + HANG_MS;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A redis-server of its own (no persistence) and its URL; stopped, thawed first, by `end()`. */
async function redisServer(): Promise<{ redis: ChildProcess; port: number; url: string; end: () => void }> {
  const port = await freePort();
  const redis = await startRedis(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp]);
  children.add(redis);
  redis.once('exit', () => children.delete(redis));
  return { redis, port, url: `redis://127.0.0.1:${port}`, end: () => { redis.kill('SIGCONT'); redis.kill('SIGKILL'); } };
}

const worker = (url: string, ...args: string[]) => start(process.execPath, [cli, 'worker', '--queue', url, '--threads', '1', ...args]);
const started = (p: Proc) => p.lines.some((l) => l.includes('worker: started'));
const NOT_ANSWERING = /is not answering: stopping without waiting for it/;

describe('stopping while Redis is away', () => {
  for (const outage of ['SIGSTOP', 'SIGKILL'] as const) {
    it(`Redis ${outage === 'SIGSTOP' ? 'frozen' : 'killed'} mid-study: one SIGINT stops search (130), one SIGTERM the worker (143)`, async () => {
      const { redis, url, end } = await redisServer();
      const w = worker(url);
      await waitFor('the worker to connect', () => w.lines.some((l) => l.includes('taking jobs')));
      // trials of 100,000 epochs: the worker holds one for the whole test, the other jobs wait
      const s = start(process.execPath, [cli, 'search', '--queue', url, '--study', `away-${outage}`, '--out', path.join(tmp, `away-${outage}.jsonl`),
        '--trials', '4', '--epochs', '100000', '--hidden', '20', '--rows', '100']);
      await waitFor('the worker to start a trial', () => started(w));
      redis.kill(outage);
      s.child.kill('SIGINT');
      w.child.kill('SIGTERM');
      expect(await exited(s)).toBe(130);
      expect(await exited(w)).toBe(143);
      expect(s.lines.join('\n')).toMatch(NOT_ANSWERING);
      expect(s.lines.join('\n')).toMatch(/stopped \(SIGINT\); 0 results in .*; run the same command to resume/);
      expect(w.lines.join('\n')).toMatch(NOT_ANSWERING);
      end();
    }, 2 * HANG_MS + 30_000);
  }

  it('Redis up: a stopped worker finishes its trial in progress, even one longer than STOP_GRACE_MS', async () => {
    const { url, end } = await redisServer();
    const w = worker(url);
    await waitFor('the worker to connect', () => w.lines.some((l) => l.includes('taking jobs')));
    const s = start(process.execPath, [cli, 'search', '--queue', url, '--study', 'up', '--out', path.join(tmp, 'up.jsonl'),
      // 1,000 epochs: ~7 s on session 60's Zen 5 guest, where 400 took 2.98 s, under the grace this case needs it to pass
      '--trials', '1', '--epochs', '1000', '--rows', '500', '--quiet']);
    await waitFor('the worker to start the trial', () => started(w));
    w.child.kill('SIGTERM');
    expect(await exited(w, 5 * HANG_MS)).toBe(143);
    const done = w.lines.find((l) => l.includes('worker: done up.t0.e1000 ok'));
    expect(done, w.lines.join('\n')).toBeDefined();
    // the case means something only if the trial outlasted the grace: a stop on a timer would have cut it short
    expect(Number(/ ([\d.]+) s$/.exec(done!)![1])).toBeGreaterThan(STOP_GRACE_MS / 1000);
    expect(w.lines.join('\n')).not.toMatch(NOT_ANSWERING);
    expect(await exited(s)).toBe(0); // its result reached Redis, and the coordinator
    end();
  }, 7 * HANG_MS);

  it("queueExecutor's close() with Redis frozen resolves, idle or after the search's signal aborted", async () => {
    const { redis, url, end } = await redisServer();
    const idle = await queueExecutor({ url });
    let forced = 0;
    const busy = await queueExecutor({ url, onForcedStop: () => forced++ });
    const halt = new AbortController();
    const search = hyperparameterSearch({
      study: 'frozen', trials: 3, epochs: 1, seed: 1, data: { source: 'mnist', rows: 100, validation: 0.2, splitSeed: 1 }, executor: busy, signal: halt.signal,
      space: { lr: logUniform(1e-3, 1e-1), hidden: [20], optimizer: 'sgd', batchSize: 10 },
    });
    await waitFor('the jobs to be added', async () => (await busy.queue.getJobCounts('waiting')).waiting === 3);
    redis.kill('SIGSTOP');
    halt.abort(new Error('stopped by the test'));
    await expect(within('the search', search)).rejects.toThrow('stopped by the test');
    await within('close() of the aborted executor', busy.close());
    await within('close() of the idle executor', idle.close());
    expect(forced).toBe(1);
    end();
  }, 3 * HANG_MS);
});

describe('one abort listener per search', () => {
  it('12 jobs in flight: one listener on the signal, no warning, and the abort withdraws all 12', async () => {
    const { url, end } = await redisServer();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    let executor: Awaited<ReturnType<typeof queueExecutor>> | null = null;
    try {
      executor = await queueExecutor({ url });
      const queue: Queue = executor.queue;
      const halt = new AbortController();
      const search = hyperparameterSearch({
        study: 'many', trials: 12, epochs: 1, seed: 1, data: { source: 'mnist', rows: 100, validation: 0.2, splitSeed: 1 }, executor, signal: halt.signal,
        space: { lr: logUniform(1e-3, 1e-1), hidden: [20], optimizer: 'sgd', batchSize: 10 },
      });
      await waitFor('the 12 jobs to be added', async () => (await queue.getJobCounts('waiting')).waiting === 12);
      expect(getEventListeners(halt.signal, 'abort')).toHaveLength(1);
      halt.abort(new Error('stopped by the test'));
      await expect(search).rejects.toThrow('stopped by the test');
      await executor.close();
      executor = null;
      const { Queue: QueueClass } = await import('bullmq');
      const look = new QueueClass('simdnn-trials', { connection: { host: '127.0.0.1', port: Number(new URL(url).port) } });
      expect(await look.getJobCounts('waiting', 'active')).toEqual({ waiting: 0, active: 0 }); // every job withdrawn
      await look.close();
      await new Promise((r) => setImmediate(r)); // a warning is emitted on the next tick
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await executor?.close();
      end();
    }
  }, 2 * HANG_MS);

  it('`simdnn search --queue` of 12 trials prints no MaxListenersExceededWarning', async () => {
    const { url, end } = await redisServer();
    const w = worker(url, '--quiet');
    const s = start(process.execPath, [cli, 'search', '--queue', url, '--study', 'twelve', '--out', path.join(tmp, 'twelve.jsonl'),
      '--trials', '12', '--epochs', '1', '--hidden', '20', '--rows', '100', '--quiet', '--top', '0']);
    expect(await exited(s, 3 * HANG_MS)).toBe(0);
    expect(s.lines.join('\n')).toMatch(/12 trials \(0 failed\)/);
    expect(s.lines.join('\n')).not.toMatch(/MaxListenersExceededWarning|memory leak/);
    w.child.kill('SIGKILL');
    end();
  }, 4 * HANG_MS);
});

describe("a worker's log of a completion BullMQ refused", () => {
  it("a job whose lock is gone when its trial ends: logged as dropped, not retried; a connection error as retrying", async () => {
    const { port, url, end } = await redisServer();
    const errors: Error[] = [];
    const events: QueueWorkerEvent[] = [];
    const running = await runQueueWorker({ url, threads: 1, onError: (e) => errors.push(e), onEvent: (e) => events.push(e) });
    const executor = await queueExecutor({ url });
    const halt = new AbortController();
    try {
      const search = hyperparameterSearch({
        study: 'lock', trials: 1, epochs: 30, seed: 1, data: { source: 'mnist', rows: 500, validation: 0.2, splitSeed: 1 }, executor, signal: halt.signal,
        space: { lr: logUniform(1e-3, 1e-1), hidden: [100, 100], optimizer: 'sgd', batchSize: 100 },
      });
      search.catch(() => {});
      await waitFor('the worker to start the trial', () => events.some((e) => e.kind === 'started'));
      // what BullMQ's stalled-job check does to a lock that expired: the worker can no longer complete the job
      execFileSync('redis-cli', ['-p', String(port), 'DEL', 'bull:simdnn-trials:lock.t0.e30:lock']);
      await waitFor('the trial to end', () => events.some((e) => e.kind === 'done'));
      await waitFor("BullMQ's refusal", () => errors.some((e) => e.message.includes('Missing lock for job lock.t0.e30')));
      halt.abort(new Error('stopped by the test'));
      const out = new Capture();
      const report = retryReporter(out, 'simdnn worker');
      report(errors.find((e) => e.message.includes('Missing lock'))!);
      report(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }));
      expect(out.text).toBe(
        "simdnn worker: queue: Missing lock for job lock.t0.e30. moveToFinished (this run's result is dropped, not retried: the job's lock had expired and the job went back to the queue; the run holding it stores the trial's result)\n" +
        'simdnn worker: queue: connect ECONNREFUSED 127.0.0.1:1 (retrying)\n');
    } finally {
      halt.abort(new Error('stopped by the test'));
      await executor.close();
      await running.close();
      end();
    }
  }, 3 * HANG_MS);
});
