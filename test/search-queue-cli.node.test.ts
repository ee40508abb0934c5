// `simdnn search --queue` and `simdnn worker` (in this process, through main())
// against Redis that is not there, or that asks for a password:
//  - a closed port: both give up after --connect-timeout with a clear error,
//    the worker's retry log rate-limited; SIGINT/SIGTERM while connecting
//    stop them at once (130/143);
//  - redis-server --requirepass and an ACL user: the URL's password and user
//    reach the connection (and are never printed);
//  - a study name used again with another seed: the old study's results in
//    Redis are refused as the resume refuses another study's results.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, runCli, startRedis, stopRedis } from './helpers/cli.js';
import { redisConnection } from '../src/node/search/redis-connection.js';

const run = (argv: string[], signal?: AbortSignal) => runCli(argv, { signal });

const QUICK = ['--hidden', '20', '--rows', '100', '--epochs', '1', '--trials', '3'];
let tmp: string;
let redis: ChildProcess | null = null;

beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-queue-cli-')); });
afterAll(async () => {
  await stopRedis(redis);
  await rm(tmp, { recursive: true, force: true });
});

describe('search --queue and worker: connecting', () => {
  it('a closed port: both give up after --connect-timeout with a clear error; the worker logs the retries once', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const search = await run(['search', '--queue', url, '--connect-timeout', '1', '--out', path.join(tmp, 'closed.jsonl'), ...QUICK]);
    expect(search.code).toBe(1);
    expect(search.stderr).toMatch(new RegExp(`simdnn: error: cannot reach Redis at ${url} within 1 s \\(connect ECONNREFUSED`));
    const worker = await run(['worker', '--queue', url, '--connect-timeout', '2', '--threads', '1']);
    expect(worker.code).toBe(1);
    expect(worker.stderr).toMatch(new RegExp(`simdnn: error: cannot reach Redis at ${url} within 2 s \\(connect ECONNREFUSED`));
    expect(worker.stderr.match(/ECONNREFUSED.*\(retrying\)/g)).toHaveLength(1); // ioredis retried about 20 times
    await expect(stat(path.join(tmp, 'closed.jsonl'))).rejects.toThrow(); // nothing written
  });

  it('SIGINT/SIGTERM while connecting stop search (130) and worker (143) at once', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    for (const [argv, reason, code] of [
      [['search', '--queue', url, '--out', path.join(tmp, 'stopped.jsonl'), ...QUICK], 'SIGINT', 130],
      [['worker', '--queue', url, '--threads', '1'], 'SIGTERM', 143],
    ] as const) {
      const controller = new AbortController();
      setTimeout(() => controller.abort(reason), 300);
      const r = await run([...argv], controller.signal);
      expect(r.code, argv[0]).toBe(code);
      expect(r.stderr, argv[0]).toMatch(new RegExp(`stopped \\(${reason}\\) while connecting to ${url}`));
    }
  }, 20_000);

  it('takes a password and user from the URL (rediss:// asks for TLS)', () => {
    expect(redisConnection('redis://:s%40cret@h:1/2')).toEqual({ host: 'h', port: 1, db: 2, password: 's@cret', maxRetriesPerRequest: null });
    expect(redisConnection('rediss://alice:pw@h')).toEqual({ host: 'h', port: 6379, db: 0, username: 'alice', password: 'pw', tls: {}, maxRetriesPerRequest: null });
  });
});

describe('search --queue and worker on a redis-server with a password', () => {
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    const conf = path.join(tmp, 'redis.conf');
    await writeFile(conf, `port ${port}\nbind 127.0.0.1\ndir ${tmp}\nsave ""\nrequirepass secret\nuser alice on >wonder ~* &* +@all\n`);
    redis = await startRedis([conf]);
  });

  /** A worker (this process) logging in as alice, while `body` runs; stopped after it. */
  async function withWorker<T>(body: () => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const worker = run(['worker', '--queue', `redis://alice:wonder@127.0.0.1:${port}`, '--threads', '1'], controller.signal);
    try {
      return await body();
    } finally {
      controller.abort('SIGTERM');
      const w = await worker;
      expect(w.stderr).not.toMatch(/wonder/);
      expect(w.code).toBe(143);
    }
  }

  it("the URL's password and user reach Redis, and are not printed", async () => {
    const out = path.join(tmp, 'pw.jsonl');
    const r = await withWorker(() => run(['search', '--queue', `redis://:secret@127.0.0.1:${port}`, '--study', 'pw', '--out', out, ...QUICK]));
    expect(r.stderr).not.toMatch(/secret/);
    expect(r.stderr).toMatch(/queue redis:\/\/:\*\*\*@127\.0\.0\.1/);
    expect(r.code).toBe(0);
    expect((await readFile(out, 'utf8')).trim().split('\n')).toHaveLength(3);
    const wrong = await run(['search', '--queue', `redis://:guess@127.0.0.1:${port}`, '--connect-timeout', '1', '--study', 'pw', '--out', path.join(tmp, 'wrong.jsonl'), ...QUICK]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ within 1 s \(WRONGPASS/);
  });

  it("a study name used again with another seed: the old study's results in Redis are refused (exit 1), nothing stored", async () => {
    const url = `redis://:secret@127.0.0.1:${port}`;
    const first = await withWorker(() => run(['search', '--queue', url, '--study', 'again', '--out', path.join(tmp, 'again1.jsonl'), ...QUICK]));
    expect(first.code).toBe(0);
    const out = path.join(tmp, 'again2.jsonl');
    const second = await withWorker(() => run(['search', '--queue', url, '--study', 'again', '--seed', '2', '--out', out, ...QUICK]));
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/simdnn: error: stored result of trial \d \(1 epochs\) is not this study's: its study, seed or settings differ \(job again\.t\d\.e1 in Redis: give the study another name, or use another queue\)/);
    expect(await readFile(out, 'utf8').catch(() => '')).toBe('');
  });
});
