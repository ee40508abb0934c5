// `simdnn info URL` and `simdnn predict URL`: a model read over HTTP from a
// local server, as from its file. info needs the header only: a server that
// sends the header and then holds the connection open still gets an answer
// (and sees the connection closed). A 404, a refused connection, a signal
// while the model downloads and a server that stops sending (--read-timeout)
// each end with a clear message and exit code.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { PredictReport } from '../src/node/cli/index.js';
import { freePort, runCli } from './helpers/cli.js';

let tmp: string;
let file: string;
let bytes: Buffer;
let server: Server;
let base: string;
const closed = new Set<string>();

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-url-'));
  file = path.join(tmp, 'model.safetensors');
  const r = await runCli(['train', '--epochs', '1', '--train-rows', '500', '--test-rows', '200', '--hidden', '30', '--optimizer', 'adam', '--quiet', '--save', file]);
  expect(r.code, r.stderr).toBe(0);
  bytes = await readFile(file);
  const headerEnd = 8 + bytes.readUInt32LE(0);
  server = createServer((req, res) => {
    const url = req.url ?? '';
    res.on('close', () => closed.add(url));
    if (url === '/model') res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
    else if (url === '/header-then-nothing' || url === '/half-then-nothing') {
      // the rest never comes: only a client that stops reading ends this response
      res.writeHead(200, { 'content-length': bytes.length }).write(bytes.subarray(0, url === '/half-then-nothing' ? bytes.length >> 1 : headerEnd));
    } else if (url === '/headers-then-nothing') {
      res.writeHead(200, { 'content-length': bytes.length }).flushHeaders();
    } else if (url === '/slow') {
      // the model in 10 pieces 100 ms apart: a second in all, never 0.3 s without a byte
      res.writeHead(200, { 'content-length': bytes.length });
      const piece = Math.ceil(bytes.length / 10);
      let at = 0;
      const next = () => {
        if (res.destroyed) return;
        res.write(bytes.subarray(at, at + piece));
        at += piece;
        if (at >= bytes.length) res.end();
        else setTimeout(next, 100);
      };
      next();
    } else if (url === '/silent') {
      // no status line, no headers: the request is never answered
    } else res.writeHead(404).end('no such model');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(tmp, { recursive: true, force: true });
});

describe('the command line reads a model from an http(s) URL', () => {
  it('info prints what it prints for the file; of a server that sends the header and stops, it reads that and closes the connection', async () => {
    const fromFile = await runCli(['info', file]);
    for (const url of [`${base}/model`, `${base}/header-then-nothing`]) {
      const r = await runCli(['info', url]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.replace(url, file)).toBe(fromFile.stdout);
      expect(JSON.parse((await runCli(['info', '--json', url])).stdout)).toEqual({ ...JSON.parse((await runCli(['info', '--json', file])).stdout), file: url });
    }
    await until(() => closed.has('/header-then-nothing'));
  });

  it('predict gives the file\'s report; a 404, a refused connection and a signal mid-download end clearly', async () => {
    const fromFile = JSON.parse((await runCli(['predict', file, '--test-rows', '200', '--json'])).stdout) as PredictReport;
    const r = await runCli(['predict', `${base}/model`, '--test-rows', '200', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ...fromFile, model: `${base}/model` });

    const missing = await runCli(['predict', `${base}/missing`]);
    expect([missing.code, missing.stderr]).toEqual([1, `simdnn: error: loadModelAsync: fetching ${base}/missing failed with HTTP 404\n`]);
    const port = await freePort();
    const refused = await runCli(['info', `http://127.0.0.1:${port}/model`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`simdnn: error: cannot fetch http://127.0.0.1:${port}/model: connect ECONNREFUSED 127.0.0.1:${port}\n`);

    const controller = new AbortController();
    const pending = runCli(['predict', `${base}/half-then-nothing`], { signal: controller.signal });
    setTimeout(() => controller.abort('SIGINT'), 200);
    const stopped = await pending;
    expect([stopped.code, stopped.stderr]).toEqual([130, `simdnn: stopped (SIGINT) while reading ${base}/half-then-nothing\n`]);
    await until(() => closed.has('/half-then-nothing'));
  });
});

describe('a server that stops sending', () => {
  it('ends the command after --read-timeout seconds without a byte, saying how much came; a bad --read-timeout is a usage error', async () => {
    const cases: Array<[string[], string, number]> = [
      [['info'], '/silent', 0],
      [['info'], '/headers-then-nothing', 0],
      [['predict', '--test-rows', '10'], '/half-then-nothing', bytes.length >> 1],
    ];
    for (const [command, route, received] of cases) {
      const r = await runCli([...command, `${base}${route}`, '--read-timeout', '0.3']);
      expect([r.code, r.stderr], route).toEqual([1, `simdnn: error: ${base}${route} sent nothing for 0.3 s (${received} bytes received; --read-timeout)\n`]);
    }
    // a slow server that keeps sending is waited for
    const slow = await runCli(['predict', `${base}/slow`, '--test-rows', '200', '--json', '--read-timeout', '0.3']);
    expect(slow.code, slow.stderr).toBe(0);
    expect(JSON.parse(slow.stdout).model).toBe(`${base}/slow`);
    for (const bad of ['0', '-1', 'soon', '3e9']) {
      const r = await runCli(['info', `${base}/model`, `--read-timeout=${bad}`]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr, bad).toMatch(/^simdnn: --read-timeout: expected a number/);
    }
  });
});

/** Resolves once `done()` holds (the server sees a closed connection a moment after the client closes it). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
}
