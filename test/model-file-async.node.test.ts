// loadModelAsync and inspectModelAsync against the real things a Node program
// reads a model from: a file's read stream, and fetch() of a local HTTP server
// that sends the file in pieces (plain, gzip-encoded, missing, cut off by the
// server, stalled until the caller aborts). An abort or inspectModelAsync's
// early stop closes the connection: the server sends no more.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createReadStream, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { runInNewContext } from 'node:vm';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { Runtime } from '../src/runtime/runtime.js';
import { buildNet } from '../src/nets/registry.js';
import { createOptimizer } from '../src/optim/registry.js';
import { inspectModel, loadModel, saveModel } from '../src/io/model.js';
import { inspectModelAsync, loadModelAsync } from '../src/io/model-async.js';
import { readModelFile, readModelFileAsync, readModelInfo, readModelInfoAsync } from '../src/node/model-file.js';
import { expectBits, makeRuntime, randomArray, randomInts } from './helpers/runtime.js';

let rt: Runtime;
let server: Server;
let base: string;
let bytes: Uint8Array;
/** Bytes the server wrote and whether the client closed the connection, per request path. */
const served = new Map<string, { written: number; closed: boolean }>();
const PIECE = 64 * 1024;

/** Writes `body` in pieces of PIECE bytes, one per timer turn, stopping after `limit` bytes (then `after`). */
function sendSlowly(res: ServerResponse, path: string, body: Uint8Array, limit: number, after: 'end' | 'stall' | 'destroy'): void {
  const log = { written: 0, closed: false };
  served.set(path, log);
  res.on('close', () => { log.closed = true; });
  const next = () => {
    if (log.closed) return;
    if (log.written >= limit) {
      if (after === 'end') res.end();
      else if (after === 'destroy') res.destroy();
      return; // 'stall': the connection stays open, sending nothing
    }
    const piece = body.subarray(log.written, Math.min(limit, log.written + PIECE));
    log.written += piece.length;
    res.write(piece, () => setTimeout(next, 1));
  };
  next();
}

beforeAll(async () => {
  rt = await makeRuntime({ seed: 9 });
  // DeepConvNet on 28×28 digits with its Adam state: ~4.2 MB, many pieces
  const net = buildNet(rt, { kind: 'deep-conv', options: {} });
  const opt = createOptimizer('adam', { lr: 0.001 });
  const x = rt.tensor([2, 1, 28, 28], randomArray(2 * 784, 1, 0, 1));
  opt.update(net.params, net.gradient(x, Array.from(randomInts(2, 2, 10))));
  bytes = saveModel(net, { optimizer: opt, metadata: { source: 'http' } });
  for (const d of [x, net, opt]) d.dispose();
  const gzipped = gzipSync(bytes);
  server = createServer((req, res) => {
    const path = req.url ?? '';
    if (path === '/model') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      sendSlowly(res, path, bytes, bytes.length, 'end');
    } else if (path === '/model.gz') {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': gzipped.length });
      sendSlowly(res, path, gzipped, gzipped.length, 'end');
    } else if (path.startsWith('/stall')) {
      res.writeHead(200, { 'content-length': bytes.length });
      sendSlowly(res, path, bytes, bytes.length >> 1, 'stall');
    } else if (path === '/cut') {
      res.writeHead(200, { 'content-length': bytes.length });
      sendSlowly(res, path, bytes, 3 * PIECE, 'destroy');
    } else {
      res.writeHead(404).end('no such model');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('loadModelAsync over HTTP and from files', () => {
  it('fetch() of a model served in pieces, plain or gzip-encoded, and a file\'s read stream load loadModel\'s bits', async () => {
    const expected = loadModel(rt, bytes);
    const dir = mkdtempSync(join(tmpdir(), 'simdnn-async-'));
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, bytes);
    try {
      for (const [what, source, total] of [
        ['fetch', () => fetch(`${base}/model`), bytes.length],
        ['fetch, gzip', () => fetch(`${base}/model.gz`), undefined], // the Content-Length is the encoded body's
        ['a read stream', () => createReadStream(file, { highWaterMark: 10_007 }), undefined],
      ] as const) {
        let last: [number, number | undefined] = [0, undefined];
        const got = await loadModelAsync(rt, source(), { onProgress: (n, of) => { last = [n, of]; } });
        expect(last, what).toEqual([bytes.length, total]);
        for (const [k, t] of Object.entries(expected.net.params)) expectBits(got.net.params[k].toArray(), t.toArray(), `${what}: ${k}`);
        expectBits(got.optimizer!.state().params.W1.m as unknown as Float32Array, expected.optimizer!.state().params.W1.m as unknown as Float32Array, `${what}: m.W1`);
        expect(got.metadata).toEqual({ source: 'http' });
        got.net.dispose();
        got.optimizer!.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expected.net.dispose();
    expected.optimizer!.dispose();
  });

  it('an abort mid-download closes the connection and frees the net; a server that cuts off or has no model gives an error naming it', async () => {
    const used = rt.memoryStats().used;
    const reason = new Error('cancelled by the user');
    const controller = new AbortController();
    let halfway = false;
    const pending = loadModelAsync(rt, fetch(`${base}/stall`, { signal: controller.signal }), {
      signal: controller.signal,
      onProgress: (n) => { if (!halfway && n >= bytes.length >> 1) { halfway = true; setTimeout(() => controller.abort(reason), 20); } },
    });
    await expect(pending).rejects.toBe(reason);
    expect(rt.memoryStats().used, 'the net and optimizer built from the header are freed').toBe(used);
    await until(() => served.get('/stall')!.closed); // the server stalls: only the client closes

    const cut = await loadModelAsync(rt, fetch(`${base}/cut`)).catch((e: Error) => e);
    expect((cut as Error).message).toMatch(/^loadModelAsync: reading the source failed after \d+ bytes \(/);
    expect(rt.memoryStats().used).toBe(used);
    await expect(loadModelAsync(rt, fetch(`${base}/missing`))).rejects.toThrow(`loadModelAsync: fetching ${base}/missing failed with HTTP 404`);
  });

  it('inspectModelAsync reads the header of a download and closes the connection, which the server would hold open', async () => {
    expect(await inspectModelAsync(fetch(`${base}/stall-inspect`))).toEqual(inspectModel(bytes));
    await until(() => served.get('/stall-inspect')!.closed);
  });
});

describe('bytes from another realm', () => {
  it('a vm context\'s Uint8Array, whole or in chunks, loads as this realm\'s does (sync and async)', async () => {
    const foreign = runInNewContext('new Uint8Array(n)', { n: bytes.length }) as Uint8Array;
    foreign.set(bytes);
    expect(foreign instanceof Uint8Array).toBe(false);
    const expected = loadModel(rt, bytes);
    const pieces = [foreign.subarray(0, 1000), foreign.subarray(1000)];
    for (const got of [loadModel(rt, foreign), loadModel(rt, pieces), await loadModelAsync(rt, foreign), await loadModelAsync(rt, pieces)]) {
      for (const [k, t] of Object.entries(expected.net.params)) expectBits(got.net.params[k].toArray(), t.toArray(), k);
      got.net.dispose();
      got.optimizer!.dispose();
    }
    expected.net.dispose();
    expected.optimizer!.dispose();
  });
});

describe('readModelFileAsync and readModelInfoAsync', () => {
  it('read readModelFile\'s bits and readModelInfo\'s header from disk, the length known up front; refuse what is no regular file; an abort closes the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'simdnn-async-'));
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, bytes);
    const openFiles = () => readdirSync('/proc/self/fd').length;
    try {
      const expected = readModelFile(rt, file);
      const fds = openFiles();
      let last: [number, number | undefined] = [0, undefined];
      const got = await readModelFileAsync(rt, file, { onProgress: (n, of) => { last = [n, of]; } });
      expect(last).toEqual([bytes.length, bytes.length]);
      for (const [k, t] of Object.entries(expected.net.params)) expectBits(got.net.params[k].toArray(), t.toArray(), k);
      expect(await readModelInfoAsync(file)).toEqual(readModelInfo(file));
      expect(openFiles(), 'the file is closed').toBe(fds);
      for (const m of [got, expected]) { m.net.dispose(); m.optimizer!.dispose(); }

      const used = rt.memoryStats().used;
      const reason = new Error('stop');
      const controller = new AbortController();
      const pending = readModelFileAsync(rt, file, { signal: controller.signal, onProgress: () => controller.abort(reason) });
      await expect(pending).rejects.toBe(reason);
      expect(rt.memoryStats().used).toBe(used);
      expect(openFiles(), 'closed after an abort too').toBe(fds);

      const fifo = join(dir, 'fifo');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      await expect(readModelFileAsync(rt, fifo)).rejects.toThrow(/^readModelFileAsync: .*fifo is not a regular file \(a pipe or device has no length/);
      await expect(readModelInfoAsync(dir)).rejects.toThrow(/^readModelInfoAsync: .* is a directory, not a model file$/);
      await expect(readModelFileAsync(rt, join(dir, 'none'))).rejects.toThrow(/^readModelFileAsync: cannot open .*none: ENOENT/);
      await expect(readModelFileAsync(rt, '')).rejects.toThrow(/^readModelFileAsync: file must be a non-empty path, got ""$/);
      await expect(readModelFileAsync(rt, file, { byteLength: 3 } as never)).rejects.toThrow(/^readModelFileAsync: unknown option 'byteLength' \(expected one of spec, signal, onProgress\)$/);
      await expect(readModelInfoAsync(file, { spec: {} } as never)).rejects.toThrow(/^readModelInfoAsync: unknown option 'spec' \(expected one of signal\)$/);
      await expect(readModelFileAsync({} as Runtime, file)).rejects.toThrow(/^readModelFileAsync: rt must be a Runtime/);
      expect(openFiles()).toBe(fds);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Resolves once `done()` holds (the server sees a closed connection a moment after the client closes it). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
}
