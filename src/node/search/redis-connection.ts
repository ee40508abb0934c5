// A queue's connection to Redis: its URL (credentials, database, TLS) as
// ioredis options, the wait for the first connection (the connect timeout,
// the caller's signal, and a certificate error, which no retry mends), and a
// stop that waits for Redis only while it answers.
import { tls } from '../builtins.js';
import { importPackage } from '../import-package.js';

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
export async function ioredisOptions(url: string): Promise<RedisConnection & Pick<import('ioredis').RedisOptions, 'Connector' | 'disconnectTimeout'>> {
  // ioredis waits this long for a socket to close once it has ended it, keeping the process up for it:
  // a connection that never came up (its socket closed already) kept a failed command 2 s (the default)
  const connection = { ...redisConnection(url), disconnectTimeout: DISCONNECT_MS };
  if (!connection.tls) return connection;
  const { AbstractConnector } = await importPackage('ioredis', () => import('ioredis'));
  const { connect } = tls();
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
export class ConnectErrors {
  last: Error | null = null;
  private fail: ((e: Error) => void) | null = null;
  private failed = false;
  private stopped = false;

  constructor(private readonly url: string, private readonly onError?: (e: Error) => void) {}

  readonly record = (e: Error): void => {
    if (this.failed || this.stopped) return;
    this.last = e;
    if (isCertificateError(e) && this.fail) this.fail(new Error(certificateMessage(this.url, e)));
    else this.onError?.(e);
  };

  /** Passes on no more errors: those of connections dropped by a stop that did not wait for Redis. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Resolves when `ready` does; rejects with the signal's reason when it aborts,
   * at the first certificate error, or after the connect timeout, naming the URL
   * and the last connection error.
   */
  until(ready: Promise<unknown>, options: ConnectOptions): Promise<void> {
    const ms = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const signal = options.signal;
    return new Promise<void>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.fail = null;
      };
      const fail = (error: unknown) => {
        settle();
        this.failed = true;
        reject(error);
      };
      const onAbort = () => fail(signal!.reason);
      const timer = setTimeout(() => {
        const last = this.last;
        fail(new Error(`cannot reach Redis at ${shownUrl(this.url)} within ${ms / 1000} s${last ? ` (${last.message})` : ''}${schemeHint(this.url, last)}`));
      }, ms);
      this.fail = fail;
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      ready.then(() => { settle(); resolve(); }, fail);
    });
  }
}

/**
 * How long a stop waits for Redis to answer (a queue executor's close(), a
 * worker's close()): a PING unanswered this long means Redis is down or frozen,
 * which the connections would otherwise wait out for ever, so the stop goes on
 * without it.
 */
export const STOP_GRACE_MS = 3000;

/** The part of an ioredis connection a stop uses. */
export interface Droppable {
  status: string;
  ping(): Promise<unknown>;
  connect(): Promise<void>;
  disconnect(): void;
}

/**
 * Closes an ioredis connection at once: its pending commands reject
 * ("Connection is closed.") and it ends. disconnect() alone leaves a
 * connection waiting to reconnect (Redis down) in that state, its commands
 * pending for ever; a connection attempt closed before it opens (the second
 * disconnect) ends it.
 */
export function drop(client: Droppable): void {
  client.disconnect();
  if (client.status !== 'reconnecting') return;
  client.connect().catch(() => {});
  client.disconnect();
}

/**
 * Waits for `graceful` (a stop that needs Redis) while Redis answers: `client`
 * gets a PING at once and then every STOP_GRACE_MS. When one goes unanswered
 * for STOP_GRACE_MS, calls `force` instead and returns once it has, without
 * waiting for `graceful` (which rejects or ends with the connections `force`
 * drops). Rejects if `graceful` does first.
 */
export async function whileAnswering(client: Pick<Droppable, 'ping'>, graceful: Promise<void>, force: () => Promise<void>): Promise<void> {
  let done = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const unanswered = new Promise<true>((resolve) => {
    const ping = (): void => {
      if (done) return;
      timer = setTimeout(() => resolve(true), STOP_GRACE_MS);
      client.ping().then(() => {
        clearTimeout(timer);
        if (!done) timer = setTimeout(ping, STOP_GRACE_MS);
      }, () => {}); // a connection error: the timer decides
    };
    ping();
  });
  let forced: boolean;
  try {
    forced = await Promise.race([graceful.then(() => false), unanswered]);
  } finally {
    done = true;
    clearTimeout(timer);
  }
  if (!forced) return;
  // graceful's rejection after this needs no handler of its own: the race above handles the promise it feeds
  await force();
}
