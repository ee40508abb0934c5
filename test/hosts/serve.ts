// Test plumbing for the host tests: a loopback static server with the
// cross-origin isolation headers, headless Debian Chromium, and child
// processes that are always stopped (timeout or not).
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.cjs': 'text/javascript',
  '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.map': 'application/json',
};

/** Headers that make a page cross-origin isolated (SharedArrayBuffer, threads). */
export const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export interface StaticServer {
  url: string;
  /** Paths answered 404, in order. */
  missing: string[];
  close(): Promise<void>;
}

/** Serves `root` on 127.0.0.1 (a free port), with COOP/COEP unless `isolate` is false. */
export async function serveStatic(root: string, { isolate = true } = {}): Promise<StaticServer> {
  const missing: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let file = path.join(root, decodeURIComponent(url.pathname));
    if (!file.startsWith(root)) { res.writeHead(403).end(); return; }
    try {
      if ((await stat(file)).isDirectory()) file = path.join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', ...(isolate ? ISOLATION : {}) });
      res.end(body);
    } catch {
      missing.push(url.pathname);
      res.writeHead(404, isolate ? ISOLATION : {}).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    missing,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** A free TCP port on 127.0.0.1 (for servers that cannot be told to pick one). */
export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Headless Debian Chromium (never a downloaded one): /usr/bin/chromium or $CHROMIUM_PATH. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 30_000,
  });
}

export interface RunResult { code: number | null; stdout: string; stderr: string }

/** Runs a command to completion; kills it (and fails) after `timeoutMs`. */
export function run(cmd: string, args: string[], { cwd, timeoutMs = 60_000, env }: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} took over ${timeoutMs} ms and was killed\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

export interface Service { child: ChildProcess; output: () => string; stop(): Promise<void> }

/**
 * Starts a long-running server process and resolves once `url` answers (any
 * status), or kills it and rejects after `timeoutMs`. `stop()` kills it by pid
 * and waits for it to exit.
 */
export async function startService(cmd: string, args: string[], url: string, { cwd, timeoutMs = 30_000 }: { cwd?: string; timeoutMs?: number } = {}): Promise<Service> {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${cmd} exited with ${child.exitCode} before serving:\n${out}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(2_000) });
      return { child, output: () => out, stop };
    } catch {
      if (Date.now() > deadline) { await stop(); throw new Error(`${cmd} did not answer ${url} within ${timeoutMs} ms:\n${out}`); }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
