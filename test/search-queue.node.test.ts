// The BullMQ executor against a real redis-server (Debian's), each case with
// its own server on a free loopback port, a temp dir and append-only
// persistence, and `simdnn search` / `simdnn worker` as real processes:
//  - a worker killed in the middle of a trial: another worker takes the trial
//    over, and the study's results equal a run with no fault, bit for bit;
//  - a worker stopped (SIGSTOP) past its lock in the middle of a trial: BullMQ
//    runs the trial again, and the study's results are still each stored once,
//    bit for bit the no-fault run's;
//  - Redis restarted in the middle of a study: the study completes, nothing lost;
//  - a worker started before the coordinator, and the coordinator killed and
//    started again: the study completes, each result stored once, and no trial
//    starts again unless BullMQ's stalled-job recovery put it back in the queue;
//  - a search whose signal aborts (a program's AbortController, the coordinator's
//    Ctrl-C) while a worker runs a long trial: it stops waiting at once, the jobs
//    no worker took leave the queue, the running one is left to finish.
//  - a study with a per-trial time limit and a trial that would run for minutes on
//    a live worker (which keeps renewing its lock): the worker stops it at the
//    limit, its job completes as timed out (not failed, not retried), the other
//    trials keep the no-fault bits, and the worker exits cleanly when stopped.
// Short locks (1 s) make BullMQ notice a dead worker quickly; on a starved
// machine they also expire under a live worker, and BullMQ runs that trial
// again (at-least-once): the guarantee is the record (each trial once, the
// no-fault run's bits), not the number of runs.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime } from '../src/node/runtime.js';
import { loadSearchData } from '../src/node/search/data.js';
import { queueExecutor } from '../src/node/search/queue.js';
import { hyperparameterSearch, inlineExecutor, logUniform, type Executor, type SearchResult, type TrialResult } from '../src/search/index.js';
import { freePort, startCollecting, type Proc } from './helpers/cli.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, 'dist/node/cli.cjs');
const children = new Set<ChildProcess>();
let tmp: string;

/** The study every case runs: the book's net and data, 6 trials of 3 epochs (a trial takes a few tenths of a second). */
const TRIALS = 6;
const STUDY_ARGS = ['--trials', String(TRIALS), '--epochs', '3', '--lr', '1e-3,1e-1', '--seed', '4', '--quiet'];
const WORKER_ARGS = ['--threads', '1', '--lock-duration', '1000', '--stalled-interval', '500'];
let reference: SearchResult;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-queue-'));
  // the same study with no queue and no fault, inline on this thread
  const rt = await createRuntime({ threads: 1 });
  const exec = inlineExecutor(rt, loadSearchData);
  reference = await hyperparameterSearch({
    study: 'ref', trials: TRIALS, epochs: 3, seed: 4, data: { source: 'mnist', rows: 500, validation: 0.2, splitSeed: 1 }, executor: exec,
    space: { lr: logUniform(1e-3, 1e-1), weightDecay: logUniform(1e-8, 1e-4), hidden: [100, 100, 100, 100, 100, 100], optimizer: 'sgd', batchSize: 100 },
  });
  await exec.close();
}, 120_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all([...children].map((c) => exited(c, 5000).catch(() => undefined)));
  await rm(tmp, { recursive: true, force: true });
});

const start = (command: string, args: string[]): Proc => startCollecting(children, command, args);

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} still running after ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
  });
}

async function waitFor(what: string, test: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startRedis(dir: string, port: number): Promise<Proc> {
  const redis = start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--daemonize', 'no']);
  await waitFor('redis-server to accept connections', () => redis.lines.some((l) => l.includes('Ready to accept connections')), 20_000);
  return redis;
}

async function stopRedis(redis: Proc): Promise<void> {
  redis.child.kill('SIGTERM'); // a restart: redis-server flushes its append-only file and exits
  await exited(redis.child, 20_000);
}

const worker = (url: string, args = WORKER_ARGS) => start(process.execPath, [cli, 'worker', '--queue', url, ...args]);
const coordinator = (url: string, study: string, out: string) => start(process.execPath, [cli, 'search', '--queue', url, '--study', study, '--out', out, ...STUDY_ARGS]);

/** The results file: checks each trial is stored once and equals the no-fault run; returns the trials lost. */
async function check(out: string): Promise<{ lost: number; results: TrialResult[] }> {
  const results = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as TrialResult);
  expect(results.map((r) => r.index).sort()).toEqual([...new Set(results.map((r) => r.index))].sort()); // each stored once
  for (const r of results) {
    const ref = reference.trials[r.index];
    expect(r.status).toBe('ok');
    expect(r.settings).toEqual(ref.settings);
    expect(r.history, `trial ${r.index}`).toEqual(ref.history); // bit for bit: JSON keeps every double exactly
  }
  return { lost: TRIALS - results.length, results };
}

const started = (p: Proc) => p.lines.filter((l) => l.includes('worker: started')).map((l) => l.split('started ')[1]);
const done = (p: Proc) => p.lines.filter((l) => l.includes('worker: done')).map((l) => l.split(' ')[3]);

/**
 * A worker's starts of a job it had started before with no `stalled` line for
 * that job in between (BullMQ's stalled-job recovery, the one way a job goes
 * back to the queue here); and how many starts were such recoveries.
 */
function restarts(p: Proc): { unexplained: string[]; recovered: number } {
  const stalledSinceStart = new Map<string, boolean>();
  const unexplained: string[] = [];
  let recovered = 0;
  for (const line of p.lines) {
    const m = /^simdnn worker: (started|stalled) ([\w.-]+)/.exec(line);
    if (!m) continue;
    const [, kind, id] = m;
    if (kind === 'stalled') { stalledSinceStart.set(id, true); continue; }
    if (stalledSinceStart.has(id)) {
      if (stalledSinceStart.get(id)) recovered++;
      else unexplained.push(id);
    }
    stalledSinceStart.set(id, false);
  }
  return { unexplained, recovered };
}

describe('search on BullMQ + redis-server', () => {
  it('a worker killed mid-trial: another takes the trial over; results equal the no-fault run', async () => {
    const dir = await mkdtemp(path.join(tmp, 'kill-'));
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const redis = await startRedis(dir, port);
    const a = worker(url);
    await waitFor('worker A to connect', () => a.lines.some((l) => l.includes('taking jobs')));
    const out = path.join(dir, 'kill.jsonl');
    const c = coordinator(url, 'kill', out);
    // A's first job is still loading its thread's runtime and data when it says it started
    await waitFor('worker A to start a trial', () => started(a).length > 0);
    a.child.kill('SIGKILL');
    await exited(a.child, 10_000);
    const interrupted = started(a).filter((id) => !done(a).includes(id));
    expect(interrupted.length).toBeGreaterThan(0);
    const b = worker(url);
    expect(await exited(c.child, 90_000)).toBe(0);
    const { lost, results } = await check(out);
    expect(lost).toBe(0);
    for (const id of interrupted) {
      const index = Number(/\.t(\d+)\./.exec(id)![1]);
      expect(results.find((r) => r.index === index)!.worker).toContain(`:${b.child.pid}/`);
    }
    b.child.kill('SIGKILL');
    await stopRedis(redis);
  }, 120_000);

  it('a worker starved past its lock mid-trial: BullMQ runs the trial again; it is stored once, with the no-fault bits', async () => {
    const dir = await mkdtemp(path.join(tmp, 'starve-'));
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const redis = await startRedis(dir, port);
    const w = worker(url);
    await waitFor('the worker to connect', () => w.lines.some((l) => l.includes('taking jobs')));
    const out = path.join(dir, 'starve.jsonl');
    const c = coordinator(url, 'starve', out);
    // as a loaded machine does to a process, but longer than the lock for certain: stopped, the worker cannot
    // renew it, so it expires (its first job is still loading its thread's runtime and data, as above)
    await waitFor('the worker to start a trial', () => started(w).length > 0);
    const [first] = started(w);
    w.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 2000));
    w.child.kill('SIGCONT');
    expect(await exited(c.child, 90_000)).toBe(0);
    expect((await check(out)).lost).toBe(0); // each trial stored once, with the no-fault run's bits
    const { unexplained, recovered } = restarts(w);
    expect(unexplained, w.lines.join('\n')).toEqual([]);
    expect(recovered).toBeGreaterThan(0);
    expect(started(w).filter((id) => id === first).length, w.lines.join('\n')).toBe(2); // the stalled trial ran again
    w.child.kill('SIGKILL');
    await stopRedis(redis);
  }, 120_000);

  it('Redis restarted mid-study (append-only file on): the study completes, nothing lost', async () => {
    const dir = await mkdtemp(path.join(tmp, 'restart-'));
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let redis = await startRedis(dir, port);
    const w = worker(url);
    const out = path.join(dir, 'restart.jsonl');
    const c = coordinator(url, 'restart', out);
    await waitFor('a first trial to finish', () => done(w).length > 0);
    // the worker held while Redis goes down, so the study is mid-way on any machine (on a fast one its trials,
    // a tenth of a second each, had all finished before Redis had stopped); it then runs on against no Redis
    w.child.kill('SIGSTOP');
    await stopRedis(redis);
    const doneBefore = done(w).length;
    expect(doneBefore).toBeLessThan(TRIALS); // mid-study
    w.child.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 300));
    redis = await startRedis(dir, port);
    expect(await exited(c.child, 90_000)).toBe(0);
    expect(done(w).length).toBeGreaterThan(doneBefore); // the worker carried on after the restart
    expect((await check(out)).lost).toBe(0);
    w.child.kill('SIGKILL');
    await stopRedis(redis);
  }, 120_000);

  it('a worker started before the coordinator, and the coordinator restarted mid-study: both carry on', async () => {
    const dir = await mkdtemp(path.join(tmp, 'resume-'));
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const redis = await startRedis(dir, port);
    const w = worker(url);
    await waitFor('the worker to connect', () => w.lines.some((l) => l.includes('taking jobs')));
    const out = path.join(dir, 'resume.jsonl');
    const c1 = coordinator(url, 'resume', out);
    await waitFor('two trials to finish', () => done(w).length >= 2);
    c1.child.kill('SIGKILL');
    await exited(c1.child, 10_000);
    expect(c1.child.exitCode).toBe(null); // killed, not finished
    const c2 = coordinator(url, 'resume', out);
    expect(await exited(c2.child, 90_000)).toBe(0);
    expect((await check(out)).lost).toBe(0); // each trial stored once, with the no-fault run's bits
    // completed trials are not run again, and the restarted coordinator re-adds nothing: every job started
    // once, or again only after BullMQ found its lock expired (the worker starved by a loaded machine)
    expect(new Set(started(w)).size).toBe(TRIALS);
    const { unexplained, recovered } = restarts(w);
    expect(unexplained, w.lines.join('\n')).toEqual([]);
    expect(started(w).length).toBe(TRIALS + recovered);
    w.child.kill('SIGKILL');
    await stopRedis(redis);
  }, 120_000);

  it('a search aborted while a worker runs a long trial stops waiting; the jobs no worker took leave the queue', async () => {
    const dir = await mkdtemp(path.join(tmp, 'abort-'));
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const redis = await startRedis(dir, port);
    const w = worker(url);
    await waitFor('the worker to connect', () => w.lines.some((l) => l.includes('taking jobs')));
    const { Queue } = await import('bullmq');
    const queue = new Queue('simdnn-trials', { connection: { host: '127.0.0.1', port } });
    // trials of 100,000 epochs (minutes each): a search that waited for the one running would time the test out
    const executor = await queueExecutor({ url, pollMs: 50 });
    const halt = new AbortController();
    const search = hyperparameterSearch({
      study: 'abort', trials: 4, epochs: 100_000, seed: 4, data: { source: 'mnist', rows: 500, validation: 0.2, splitSeed: 1 }, executor, signal: halt.signal,
      space: { lr: logUniform(1e-3, 1e-1), hidden: [100], optimizer: 'sgd', batchSize: 100 },
    });
    await waitFor('the worker to start a trial', () => started(w).length > 0);
    halt.abort(new Error('stopped by the test'));
    await expect(search).rejects.toThrow('stopped by the test');
    await executor.close();
    // the worker (one thread) holds one job; the other three were waiting and are gone
    expect(await queue.getJobCounts('waiting', 'active')).toEqual({ waiting: 0, active: 1 });
    expect((await queue.getJobs(['active'])).map((j) => j.id)).toEqual([started(w)[0]]);

    // the coordinator's Ctrl-C does the same: its four jobs wait behind the busy worker, and leave with it
    const out = path.join(dir, 'abort.jsonl');
    const c = start(process.execPath, [cli, 'search', '--queue', url, '--study', 'abort-cli', '--out', out, '--trials', '4', '--epochs', '100000', '--seed', '4']);
    await waitFor('the coordinator to add its jobs', () => c.lines.some((l) => l.includes("study 'abort-cli'")));
    const counts = async () => queue.getJobCounts('waiting', 'active');
    const end = Date.now() + 30_000;
    while ((await counts()).waiting < 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(await counts()).toEqual({ waiting: 4, active: 1 });
    c.child.kill('SIGINT');
    expect(await exited(c.child, 30_000)).toBe(130);
    expect(await counts()).toEqual({ waiting: 0, active: 1 });
    await queue.close();
    w.child.kill('SIGKILL');
    await stopRedis(redis);
  }, 90_000);

  it('a trial past its time limit on a live worker: stopped there, its job completed as timed out once; the others keep their bits', async () => {
    const dir = await mkdtemp(path.join(tmp, 'timeout-'));
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const redis = await startRedis(dir, port);
    // the default 30 s lock: the worker renews it all along, so only the time limit can end the long trial
    const w = worker(url, ['--threads', '1']);
    await waitFor('the worker to connect', () => w.lines.some((l) => l.includes('taking jobs')));
    const { Queue } = await import('bullmq');
    const queue = new Queue('simdnn-trials', { connection: { host: '127.0.0.1', port } });
    const inner = await queueExecutor({ url, pollMs: 50 });
    // trial 1 asks for 100,000 epochs (minutes of training): the study ends within the test only if the limit holds
    const executor: Executor = { concurrency: inner.concurrency, run: (job, signal) => inner.run(job.index === 1 ? { ...job, epochs: 100_000 } : job, signal), close: () => inner.close() };
    let got: SearchResult;
    try {
      got = await hyperparameterSearch({
        study: 'timeout', trials: 4, epochs: 3, seed: 4, data: { source: 'mnist', rows: 500, validation: 0.2, splitSeed: 1 }, executor, trialTimeoutMs: 8000,
        space: { lr: logUniform(1e-3, 1e-1), weightDecay: logUniform(1e-8, 1e-4), hidden: [100, 100, 100, 100, 100, 100], optimizer: 'sgd', batchSize: 100 },
      });
    } finally {
      await executor.close();
    }
    const slow = got.trials[1];
    expect(slow.status).toBe('timeout');
    expect(slow.error).toBe(`timed out: stopped at the trial time limit of 8 s after ${slow.history.length} of 100000 epochs`);
    expect(slow.history.length).toBeGreaterThan(0); // the 784-[100×6]-10 epoch on 400 rows takes a fraction of a second
    expect(slow.history.slice(0, 3)).toEqual(reference.trials[1].history.slice(0, slow.history.length)); // its own epochs
    expect([got.timedOut, got.failed]).toEqual([1, 0]);
    for (const i of [0, 2, 3]) {
      expect(got.trials[i].status).toBe('ok');
      expect(got.trials[i].history, `trial ${i}`).toEqual(reference.trials[i].history); // bit for bit
    }
    // one thread: the trials after trial 1 ran on the thread started in place of the one terminated
    for (const r of got.trials) expect(r.worker).toMatch(new RegExp(`:${w.child.pid}/thread-0$`));
    // the timed-out job completed (a final outcome), once: not failed, not retried, nothing left in the queue
    expect(await queue.getJobCounts('waiting', 'active', 'failed', 'completed')).toEqual({ waiting: 0, active: 0, failed: 0, completed: 4 });
    const job = await queue.getJob('timeout.t1.e100000');
    expect([job?.attemptsMade, (job?.returnvalue as TrialResult).status]).toEqual([1, 'timeout']);
    expect(started(w).sort()).toEqual(['timeout.t0.e3', 'timeout.t1.e100000', 'timeout.t2.e3', 'timeout.t3.e3']);
    expect(w.lines.some((l) => /^simdnn worker: done timeout\.t1\.e100000 timeout /.test(l))).toBe(true);
    // stopped, the worker finishes nothing more and exits: no thread of the long trial holds it
    w.child.kill('SIGTERM');
    expect(await exited(w.child, 30_000)).toBe(143);
    await queue.close();
    await stopRedis(redis);
  }, 120_000);
});
