// Node-side tests that kill mutants the search's other tests let through (session 68): localExecutor's worker
// killed mid-trial (its job rejects, the next runs on a new worker with the bits of a run without the fault),
// close() with a trial running, the default worker count; the results file's damaged last line that is whole
// (refused, not dropped as torn), a NaN metric stored as null, a refused file opened again once mended, and
// another machine's lock naming a pid that is not alive here; the queue (against a real redis-server): the
// coordinator's and the worker's default sizes, and a job BullMQ failed retried once before run() rejects.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { localExecutor, BOOK_SEARCH_DATA } from '../src/node/search/index.js';
import { ResultsFile } from '../src/node/search/results-file.js';
import { queueExecutor, runQueueWorker } from '../src/node/search/queue.js';
import { logUniform, trialJob, type TrialResult } from '../src/search/index.js';
import { freePort, startRedis, stopRedis } from './helpers/cli.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-mutants-search2-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

const job = (index: number, epochs: number) => trialJob({ space: { lr: logUniform(1e-3, 1e-1), hidden: [20] }, data: BOOK_SEARCH_DATA, seed: 3 }, index, epochs);
const strip = (r: TrialResult) => { const { worker: _w, seconds: _s, ...rest } = r; return rest; };

describe('localExecutor: a worker lost, close(), the default size', () => {
  it('a worker killed mid-trial rejects its job; the next job runs on a new worker with the bits of a run without the fault', async () => {
    const threads = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
    const Original = threads.Worker;
    const made: InstanceType<typeof Original>[] = [];
    threads.Worker = class extends Original {
      constructor(...args: ConstructorParameters<typeof Original>) { super(...args); made.push(this); }
    };
    const exec = localExecutor({ workers: 1 });
    try {
      const first = exec.run(job(0, 100_000)); // minutes of training: only the kill ends it
      expect(made).toHaveLength(1); // started as the job was given
      // killed once the trial has trained an epoch: mid-trial
      await new Promise<void>((resolve) => made[0].on('message', (m: { epoch?: unknown }) => { if (m?.epoch) resolve(); }));
      void made[0].terminate();
      await expect(first).rejects.toThrow(/^trial 0: worker thread-0 exited with code 1$/);
      const next = await exec.run(job(1, 1));
      expect(made).toHaveLength(2);
      expect(next.worker).toBe('thread-0');
      const fresh = localExecutor({ workers: 1 });
      try {
        expect(strip(next)).toEqual(strip(await fresh.run(job(1, 1))));
      } finally {
        await fresh.close();
      }
    } finally {
      threads.Worker = Original;
      await exec.close();
    }
  });

  it('close() with a trial running rejects it as closed', async () => {
    const exec = localExecutor({ workers: 1 });
    const running = exec.run(job(0, 100_000));
    const outcome = running.then(() => 'resolved', (e: Error) => e.message);
    await exec.close();
    expect(await outcome).toBe('trial 0: localExecutor closed');
  });

  it('runs one worker per core by default (started on first use)', async () => {
    const exec = localExecutor();
    expect(exec.concurrency).toBe(availableParallelism());
    await exec.close();
  });
});

const result = (index: number, valAcc: number | null = 0.5) => ({
  study: 's', index, seed: 1, settings: { lr: 0.1 }, epochs: 1, data: {}, status: 'ok',
  history: [{ epoch: 1, trainLoss: 1, trainAcc: 0.5, valLoss: 1, valAcc }], worker: 'w', seconds: 0,
});
const line = (index: number, valAcc: number | null = 0.5) => JSON.stringify(result(index, valAcc));

describe('results file: the cases the tests left open', () => {
  it("a whole last line (its newline written) that is not JSON is damage, refused naming it, not a torn line dropped", async () => {
    const file = path.join(tmp, 'whole-bad-last.jsonl');
    const text = `${line(0)}\n{"study":"s","index":1,"se\n`;
    await writeFile(file, text);
    await expect(ResultsFile.open(file)).rejects.toThrow(/line 2 is not JSON \(the file is left as it is\)/);
    expect(await readFile(file, 'utf8')).toBe(text);
  });

  it('a metric stored as null (a NaN: JSON has none) is a result', async () => {
    const file = path.join(tmp, 'null-metric.jsonl');
    await writeFile(file, `${line(0, null)}\n`);
    const f = await ResultsFile.open(file);
    await f.close();
    expect(f.results).toEqual([result(0, null)]);
  });

  it('a file refused as damaged opens once mended, in the same process (its lock was left claimed)', async () => {
    const file = path.join(tmp, 'mended.jsonl');
    await writeFile(file, `${line(0)}\nnot json\n`);
    await expect(ResultsFile.open(file)).rejects.toThrow(/line 2 is not JSON/);
    await writeFile(file, `${line(0)}\n`);
    const f = await ResultsFile.open(file);
    expect(f.results.map((r) => r.index)).toEqual([0]);
    await f.close();
  });

  it("another machine's lock is refused though its pid is not alive here (a shared disk: not ours to judge)", async () => {
    const file = path.join(tmp, 'other-host.jsonl');
    const other = `2147483646@not-${hostname()}`;
    await writeFile(`${file}.lock`, other);
    await expect(ResultsFile.open(file)).rejects.toThrow(`another simdnn search (pid@host ${other}) is writing to ${file}`);
    expect(await readFile(`${file}.lock`, 'utf8')).toBe(other);
  });
});

describe('the queue against a real redis-server', () => {
  let redis: ChildProcess | null = null;
  let url = '';
  beforeAll(async () => {
    const port = await freePort();
    redis = await startRedis(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp]);
    url = `redis://127.0.0.1:${port}`;
  });
  afterAll(async () => { await stopRedis(redis); });

  it("keeps 1024 jobs in flight by default (a search's every trial queued for the workers), and a worker runs one per core", async () => {
    const exec = await queueExecutor({ url });
    const worker = await runQueueWorker({ url });
    try {
      expect(exec.concurrency).toBe(1024);
      expect(worker.worker.concurrency).toBe(availableParallelism());
    } finally {
      await worker.close();
      await exec.close();
    }
  });

  it('a job BullMQ failed (its attempts used up) is given one more round before run() rejects naming it', async () => {
    const name = 'failing';
    const exec = await queueExecutor({ url, name, attempts: 1, pollMs: 20, auditMs: 50 });
    const started: string[] = [];
    const worker = await runQueueWorker({ url, name, threads: 1, onEvent: (e) => { if (e.kind === 'started') started.push(e.id); } });
    try {
      const bad = trialJob({ space: { lr: 0.1, hidden: [20] }, data: { source: '/nonexistent-dir' }, study: 'fails' }, 0, 1);
      await expect(exec.run(bad)).rejects.toThrow(/^job fails\.t0\.e1 failed in the queue: trial 0: loadIdx: cannot read the directory \/nonexistent-dir/);
      expect(started).toEqual(['fails.t0.e1', 'fails.t0.e1']); // its one attempt, then the coordinator's retry
    } finally {
      await worker.close();
      await exec.close();
    }
  });
});
