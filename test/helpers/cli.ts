// The command line run in this process with its output captured, and a free
// loopback port for the servers (redis-server) the tests start.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { stat } from 'node:fs/promises';
import { main, type Output } from '../../src/node/cli/index.js';

/** An Output that keeps what is written; a TTY `columns` wide when asked (progress redraws then). */
export class Capture implements Output {
  text = '';
  constructor(readonly isTTY = false, readonly columns?: number) {}
  write(s: string): void { this.text += s; }
}

/** `simdnn <argv>` in this process: its exit code and what it wrote (stderr a 60-column TTY with `tty`). */
export async function runCli(argv: string[], options: { signal?: AbortSignal; tty?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture(), stderr = new Capture(options.tty ?? false, 60);
  const code = await main(argv, { stdout, stderr }, { signal: options.signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** `promise`, or a rejection naming `what` once it has been pending `ms` (a ceiling for a hang, not a timing). */
export function within<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const hang = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms); });
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer));
}

/** Whether `file` exists (a file or a directory). */
export const exists = (file: string): Promise<boolean> => stat(file).then(() => true, () => false);

/** A loopback port nothing listens on (as the kernel picked it a moment ago). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** redis-server with `args` (a config file, or options), once it accepts connections. */
export async function startRedis(args: string[], cwd?: string): Promise<ChildProcess> {
  const redis = spawn('redis-server', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  redis.stdout!.on('data', (chunk: Buffer) => { log += chunk.toString(); });
  const end = Date.now() + 20_000;
  while (!log.includes('Ready to accept connections')) {
    if (Date.now() > end || redis.exitCode !== null) {
      redis.kill('SIGKILL');
      throw new Error(`redis-server did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return redis;
}

/** Stops a redis-server startRedis gave (if it still runs) and waits for it to exit. */
export async function stopRedis(redis: ChildProcess | null): Promise<void> {
  if (!redis || redis.exitCode !== null || redis.signalCode !== null) return;
  const exited = new Promise((r) => redis.once('exit', r));
  redis.kill('SIGTERM');
  await exited;
}

/** A child process and the lines it has written so far (stdout and stderr, in arrival order). */
export interface Proc { child: ChildProcess; lines: string[] }

/** Spawns `command`, keeps it in `children` until it exits (for afterAll to kill), and collects its lines. */
export function startCollecting(children: Set<ChildProcess>, command: string, args: string[]): Proc {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop()!;
      lines.push(...parts);
    });
  }
  return { child, lines };
}

/** How a child process ended, and what it wrote. */
export interface ChildRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/**
 * Runs `command` to its end, `onLine` seeing each line of its stderr as it arrives with the child (to signal it);
 * killed after 60 s whatever happens (a ceiling for a hang, not a timing).
 */
export function runWatchingStderr(command: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; onLine?: (line: string, child: ChildProcess) => void } = {}): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(command, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', pending = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.stdout.on('data', (d: Buffer) => { stdout += d; });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d;
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) o.onLine?.(line, p);
    });
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}
