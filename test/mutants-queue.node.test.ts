// Tests that kill mutants of the queue's Redis connection (session 69) the other queue tests let through:
//  - a URL's IPv6 host, an escaped user name, a negative database and an empty host (redisConnection), and the
//    URL as messages show it (shownUrl);
//  - the wait for the first connection (ConnectErrors.until): its 30 s default, a signal aborted before the
//    wait, every certificate error Node gives for a server certificate it refuses, the scheme hint of a
//    rediss:// URL, and the errors after the wait (passed on once connected, whatever the timer or the signal
//    do then; dropped once the wait has failed or the stop has begun);
//  - the stop (whileAnswering), against a real redis-server: Redis that answers and then freezes mid-stop;
//  - queueExecutor's and runQueueWorker's close() (in this process, through src): with Redis up, no forced
//    stop and no connection left on the server; with Redis frozen, the queue's connection ended; with Redis
//    killed, a forced stop reported once, the running trial stopped, no error passed on after it, and every
//    connection ended (none comes back when Redis does);
//  - a connection that never came up (the connect timeout): closed, so none reaches a Redis started later.
// Time limits here are ceilings for a hang, not timings.
import { describe, it, expect, beforeAll, afterAll, afterEach, vi } from 'vitest';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { queueExecutor, runQueueWorker, type QueueWorkerEvent } from '../src/node/search/queue.js';
import { ConnectErrors, redisConnection, shownUrl, whileAnswering } from '../src/node/search/redis-connection.js';
import { trialJob } from '../src/search/index.js';
import { BOOK_SEARCH_DATA } from '../src/node/search/index.js';
import { freePort, startRedis, within } from './helpers/cli.js';

const HANG_MS = 60_000;

describe('redisConnection and shownUrl', () => {
  it('an IPv6 host loses its brackets; a user name is unescaped as the password is', () => {
    expect(redisConnection('redis://[::1]:7000/3')).toEqual({ host: '::1', port: 7000, db: 3, maxRetriesPerRequest: null });
    expect(redisConnection('redis://a%40b:p%3Aw@h:1')).toEqual({ host: 'h', port: 1, db: 0, username: 'a@b', password: 'p:w', maxRetriesPerRequest: null });
  });

  it('refuses a negative database and a URL without a host, the password starred', () => {
    expect(() => redisConnection('redis://:pw@h/-1')).toThrow(new RangeError("queue: bad database number in 'redis://:***@h/-1'"));
    expect(() => redisConnection('redis:///2')).toThrow(/^queue: expected redis:\/\/\[USER:PASSWORD@\]HOST:PORT\[\/DB\] \(or rediss:\/\/ for TLS\), got 'redis:\/\/\/2'$/);
  });

  it('shows the URL with its password starred and no slash added; a URL that does not parse as it is', () => {
    expect(shownUrl('rediss://u:pw@h:1/2')).toBe('rediss://u:***@h:1/2');
    expect(shownUrl('redis://h:1')).toBe('redis://h:1');
    expect(shownUrl('nope')).toBe('nope');
  });
});

const never = new Promise<never>(() => {});
const coded = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('ConnectErrors: the wait for the first connection', () => {
  afterEach(() => { vi.useRealTimers(); });

  it('gives up after 30 s by default (not before), naming the URL and the last error', async () => {
    vi.useFakeTimers();
    const errors = new ConnectErrors('redis://:pw@h:1');
    const outcome = errors.until(never, {}).then(() => 'resolved', (e: Error) => e.message);
    errors.record(coded('connect ECONNREFUSED h:1', 'ECONNREFUSED'));
    let settled = false;
    void outcome.then(() => { settled = true; });
    await vi.advanceTimersByTimeAsync(29_999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toBe('cannot reach Redis at redis://:***@h:1 within 30 s (connect ECONNREFUSED h:1)');
  });

  it('a signal aborted before the wait rejects it with its reason, though Redis is ready', async () => {
    const errors = new ConnectErrors('redis://h:1');
    await expect(errors.until(Promise.resolve(), { signal: AbortSignal.abort(new Error('stopped first')) })).rejects.toThrow('stopped first');
  });

  it("stops at Node's first certificate error of each kind, naming the URL and what to do; the error is not passed on as a retry", async () => {
    const cases: Array<[string, RegExp]> = [
      ['DEPTH_ZERO_SELF_SIGNED_CERT', /: to trust a private CA, start Node with NODE_EXTRA_CA_CERTS=/],
      ['SELF_SIGNED_CERT_IN_CHAIN', /: to trust a private CA/],
      ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', /: to trust a private CA/],
      ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', /: to trust a private CA/],
      ['CERT_HAS_EXPIRED', /: to trust a private CA/],
      ['ERR_TLS_CERT_ALTNAME_INVALID', /: connect to the name or address its certificate is for$/],
    ];
    for (const [code, what] of cases) {
      const passed: Error[] = [];
      const errors = new ConnectErrors('rediss://:pw@h:1', (e) => passed.push(e));
      const wait = errors.until(never, { connectTimeoutMs: HANG_MS });
      errors.record(coded(`refused (${code})`, code));
      const message = await within(code, wait.then(() => 'resolved', (e: Error) => e.message), 5000);
      expect(message, code).toMatch(new RegExp(`^Redis at rediss://:\\*\\*\\*@h:1: its TLS certificate is not accepted \\(refused \\(${code}\\)\\)`));
      expect(message, code).toMatch(what);
      expect(passed, code).toEqual([]);
    }
  });

  it('a rediss:// URL whose connection failed before any handshake (refused, or reset) gets no scheme hint', async () => {
    vi.useFakeTimers();
    for (const code of ['ECONNREFUSED', 'ECONNRESET']) {
      const errors = new ConnectErrors('rediss://h:1');
      const outcome = errors.until(never, { connectTimeoutMs: 1000 }).then(() => 'resolved', (e: Error) => e.message);
      errors.record(coded(`connect ${code} h:1`, code));
      await vi.advanceTimersByTimeAsync(1000);
      expect(await outcome).toBe(`cannot reach Redis at rediss://h:1 within 1 s (connect ${code} h:1)`);
    }
  });

  it('once connected, every error goes on to onError (a reconnect retried): after the timeout would have passed, after the signal aborts, a certificate error too', async () => {
    vi.useFakeTimers();
    const passed: Error[] = [];
    const errors = new ConnectErrors('rediss://h:1', (e) => passed.push(e));
    const signal = new AbortController();
    await errors.until(Promise.resolve(), { connectTimeoutMs: 1000, signal: signal.signal });
    expect(getEventListeners(signal.signal, 'abort')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(2000);
    signal.abort(new Error('the search stopped'));
    const later = [coded('connect ECONNREFUSED h:1', 'ECONNREFUSED'), coded('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT')];
    for (const e of later) errors.record(e);
    expect(passed).toEqual(later);
  });

  it('passes on no error once the wait has failed, or once stop() was called (the connections being dropped)', async () => {
    vi.useFakeTimers();
    const passed: Error[] = [];
    const failed = new ConnectErrors('redis://h:1', (e) => passed.push(e));
    const outcome = failed.until(never, { connectTimeoutMs: 1000 }).catch(() => {});
    await vi.advanceTimersByTimeAsync(1000);
    await outcome;
    failed.record(new Error('Connection is closed.'));
    const stopped = new ConnectErrors('redis://h:1', (e) => passed.push(e));
    await stopped.until(Promise.resolve(), {});
    stopped.stop();
    stopped.record(new Error('connect ECONNREFUSED h:1'));
    expect(passed).toEqual([]);
  });
});

describe('stopping against a real redis-server', () => {
  let tmp: string;
  const servers = new Set<ChildProcess>();
  beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-mutants-queue-')); });
  afterAll(async () => {
    for (const s of servers) { s.kill('SIGCONT'); s.kill('SIGKILL'); }
    await rm(tmp, { recursive: true, force: true });
  });

  async function redisServer(port?: number): Promise<{ redis: ChildProcess; port: number; url: string }> {
    port ??= await freePort();
    const redis = await startRedis(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp]);
    servers.add(redis);
    redis.once('exit', () => servers.delete(redis));
    return { redis, port, url: `redis://127.0.0.1:${port}` };
  }

  async function waitFor(what: string, test: () => boolean | Promise<boolean>, ms = HANG_MS): Promise<void> {
    const end = Date.now() + ms;
    while (!(await test())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Longer than ioredis's longest wait between reconnects (2 s): a connection left retrying is back on the server by then. */
  const RECONNECT_MS = 3000;
  const afterReconnects = () => new Promise((r) => setTimeout(r, RECONNECT_MS));

  /** The clients connected to the server at `port` other than the redis-cli asking. */
  const clients = (port: number): number =>
    execFileSync('redis-cli', ['-p', String(port), 'CLIENT', 'LIST'], { encoding: 'utf8' }).trim().split('\n').filter((l) => !/ cmd=client\|list /.test(l)).length;

  it('Redis that answered and then freezes while a stop waits: the stop goes on without it, once', async () => {
    const { redis, port } = await redisServer();
    const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null });
    client.on('error', () => {});
    let pings = 0, answered = 0, forced = 0;
    const watched = { ping: () => { pings++; return client.ping().then((r) => { answered++; return r; }); } };
    try {
      const stop = whileAnswering(watched, never, async () => { forced++; });
      // a second PING sent after the first was answered: Redis is watched for the whole stop, not only at its start
      await waitFor('a second PING', () => pings >= 2 && answered >= 1);
      expect(forced).toBe(0);
      redis.kill('SIGSTOP');
      await within('the stop', stop, HANG_MS);
      expect(forced).toBe(1);
    } finally {
      client.disconnect();
      redis.kill('SIGCONT');
      redis.kill('SIGKILL');
    }
  }, 2 * HANG_MS);

  it("whileAnswering: a stop that ends while Redis answers is not forced; one that fails rejects, not forced", async () => {
    const { redis, port } = await redisServer();
    const client = new Redis({ host: '127.0.0.1', port });
    let forced = 0;
    try {
      await whileAnswering(client, client.ping().then(() => {}), async () => { forced++; });
      await expect(whileAnswering(client, Promise.reject(new Error('the stop failed')), async () => { forced++; })).rejects.toThrow('the stop failed');
      expect(forced).toBe(0);
    } finally {
      client.disconnect();
      redis.kill('SIGKILL');
    }
  });

  it("close() with Redis up: the coordinator's and the worker's stops are not forced, and leave no connection on the server", async () => {
    const { redis, port, url } = await redisServer();
    let forced = 0;
    try {
      const exec = await queueExecutor({ url, onForcedStop: () => forced++ });
      const worker = await runQueueWorker({ url, threads: 1, onForcedStop: () => forced++ });
      expect(clients(port)).toBeGreaterThan(0);
      await within('close() of the executor', exec.close(), HANG_MS);
      await within('close() of the worker', worker.close(), HANG_MS);
      expect(forced).toBe(0);
      await waitFor('every connection to close', () => clients(port) === 0, 10_000);
    } finally {
      redis.kill('SIGKILL');
    }
  }, 2 * HANG_MS);

  it("the coordinator's close() with Redis frozen ends its queue's connection (not left waiting for Redis)", async () => {
    const { redis, url } = await redisServer();
    const exec = await queueExecutor({ url });
    try {
      redis.kill('SIGSTOP');
      await within('close()', exec.close(), HANG_MS);
      const client = (await exec.queue.backend.client) as { status: string };
      await waitFor("the queue's connection to end", () => client.status === 'end', 10_000); // its socket destroyed after ioredis's disconnectTimeout
    } finally {
      redis.kill('SIGCONT');
      redis.kill('SIGKILL');
    }
  }, 2 * HANG_MS);

  it('a connection that never came up is closed when the wait fails: none reaches a Redis started there afterwards', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    await expect(queueExecutor({ url, connectTimeoutMs: 500 })).rejects.toThrow(/^cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ within 0\.5 s/);
    await expect(runQueueWorker({ url, connectTimeoutMs: 500, threads: 1 })).rejects.toThrow(/^cannot reach Redis/);
    const { redis } = await redisServer(port);
    try {
      await afterReconnects();
      expect(clients(port)).toBe(0);
    } finally {
      redis.kill('SIGKILL');
    }
  }, 2 * HANG_MS);

  it('close() with Redis killed: a forced stop each, reported once; the running trial stops; every connection ends', async () => {
    const { redis, port, url } = await redisServer();
    let execForced = 0, workerForced = 0;
    const events: QueueWorkerEvent[] = [];
    const late: Error[] = []; // errors passed on after a forced stop: those of the connections it dropped
    const exec = await queueExecutor({ url, onForcedStop: () => execForced++, onError: (e) => { if (execForced) late.push(e); } });
    const running = await runQueueWorker({
      url, threads: 1, onForcedStop: () => workerForced++, onEvent: (e) => events.push(e), onError: (e) => { if (workerForced) late.push(e); },
    });
    // minutes of training: only the stop ends it
    const result = exec.run(trialJob({ space: { lr: 0.1, hidden: [20] }, data: BOOK_SEARCH_DATA, seed: 3, study: 'killed' }, 0, 100_000));
    const outcome = result.then(() => 'resolved', (e: Error) => e.message);
    await waitFor('the worker to start the trial', () => events.some((e) => e.kind === 'started'));
    redis.kill('SIGKILL');
    await within('close() of the executor', exec.close(), HANG_MS);
    await within('close() of the worker', running.close(), HANG_MS);
    expect([execForced, workerForced]).toEqual([1, 1]);
    expect(late).toEqual([]);
    expect(await outcome).toBe('queue executor closed while waiting for killed.t0.e100000');
    expect(events.map((e) => e.kind)).toEqual(['started', 'error']);
    expect(events[1]).toMatchObject({ error: 'trial 0: localExecutor closed' });
    const { worker } = running;
    const connections = [await exec.queue.backend.client, await worker.backend.client, await worker.backend.blockingClient!];
    await waitFor('every connection to end', () => connections.every((c) => (c as { status: string }).status === 'end'), 10_000);
    // none left retrying (the coordinator's own connection among them): none comes back when Redis does
    const again = await redisServer(port);
    try {
      await afterReconnects();
      expect(clients(port)).toBe(0);
    } finally {
      again.redis.kill('SIGKILL');
    }
  }, 3 * HANG_MS);
});
