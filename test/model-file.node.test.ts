// Model files on disk (Node): atomic writes that never destroy the previous
// file, chunked reads, a 100M-parameter model written and read in bounded
// pieces, and interop with NumPy (a small reader/writer of the format written
// with numpy alone: the `safetensors` Python package cannot be installed here).
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRuntime } from '../src/node/runtime.js';
import { readModelFile, readModelInfo, writeFileAtomic, writeModelFile } from '../src/node/model-file.js';
import { buildNet, type NetSpec } from '../src/nets/registry.js';
import { saveModel, saveModelChunks } from '../src/io/model.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { expectBits, randomArray } from './helpers/runtime.js';

let tmp: string;
let rt: Runtime;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-model-'));
  rt = await createRuntime({ seed: 5, threads: 1 });
});
afterAll(async () => {
  rt.dispose();
  await rm(tmp, { recursive: true, force: true });
});

const bnSpec: NetSpec = { kind: 'mlp-extend', options: { inputSize: 6, hiddenSizeList: [5], outputSize: 3, useBatchnorm: true } };

describe('files', () => {
  it('write atomically: a failed write leaves the previous model and no temporary file', async () => {
    const file = path.join(tmp, 'atomic.safetensors');
    const net = buildNet(rt, bnSpec);
    await writeModelFile(file, net, { metadata: { run: 'first' } });
    const first = await readFile(file);
    expect(readModelInfo(file).metadata.run).toBe('first');
    // a net that cannot be saved fails before the disk is touched
    await expect(writeModelFile(file, { params: {}, state: {} } as never)).rejects.toThrow(/net must be a named net/);
    // a directory as the target is refused before anything is written
    const taken = path.join(tmp, 'taken');
    await mkdir(taken);
    await writeFile(path.join(taken, 'inside'), '');
    await expect(writeModelFile(taken, net)).rejects.toThrow(/cannot write the model to .*taken/);
    // the rename fails after the temporary file was written and flushed (another device, a full disk): it goes away
    const fsp = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises');
    const rename = vi.spyOn(fsp, 'rename').mockRejectedValueOnce(Object.assign(new Error('EXDEV: cross-device link not permitted'), { code: 'EXDEV' }));
    try {
      await expect(writeModelFile(file, net, { metadata: { run: 'second' } })).rejects.toThrow(/cannot write the model to .*atomic\.safetensors: EXDEV/);
      expect(rename).toHaveBeenCalledTimes(1);
    } finally {
      rename.mockRestore();
    }
    // the temporary file is flushed to disk before the rename: after a power loss the new name holds the new bytes
    const steps: string[] = [];
    const [openFile, renameFile] = [fsp.open.bind(fsp), fsp.rename.bind(fsp)];
    const opened = vi.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>) => {
      const handle = await openFile(...args);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => { steps.push('sync'); await sync(); };
      return handle;
    });
    const renamed = vi.spyOn(fsp, 'rename').mockImplementation(async (from, to) => { steps.push('rename'); await renameFile(from, to); });
    try {
      await writeModelFile(path.join(tmp, 'flushed.safetensors'), net);
      expect(steps).toEqual(['sync', 'rename']);
    } finally {
      opened.mockRestore();
      renamed.mockRestore();
    }
    await expect(writeModelFile(path.join(tmp, 'no-such-dir', 'm.safetensors'), net)).rejects.toThrow(/cannot write the model to .*no-such-dir.*ENOENT/);
    expect((await readdir(tmp)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(await readFile(file)).toEqual(first);
    const loaded = readModelFile(rt, file);
    for (const [k, t] of Object.entries({ ...net.params, ...net.state })) expectBits(({ ...loaded.net.params, ...loaded.net.state } as Record<string, typeof t>)[k].toArray(), t.toArray(), k);
    expect(() => readModelFile(rt, tmp)).toThrow(/is a directory, not a model file/);
    expect(() => readModelFile(rt, path.join(tmp, 'none.safetensors'))).toThrow(/cannot open .*none\.safetensors.*ENOENT/);
    loaded.net.dispose();
    net.dispose();
  });

  it('writeFileAtomic writes a Trainer checkpoint\'s bytes as writeModelFile writes a model: copied at the call, all or nothing', async () => {
    const { Trainer, SGD } = await import('../src/index.js');
    const net = buildNet(rt, { kind: 'mlp', options: { inputSize: 4, hiddenSizeList: [6], outputSize: 2 } });
    const x = rt.tensor([12, 4], randomArray(48, 3)), t = rt.labels([12], Array.from({ length: 12 }, (_, i) => i % 2));
    const file = path.join(tmp, 'checkpoint.safetensors');
    // fit() awaits each write before the next epoch
    const trainer = new Trainer(net, x, t, x, t, { epochs: 2, miniBatchSize: 4, optimizer: new SGD({ lr: 0.1 }), checkpoint: { every: 1, write: (bytes) => { const done = writeFileAtomic(file, bytes); bytes.fill(0); return done; } } });
    await trainer.fit();
    const loaded = readModelFile(rt, file); // epoch 2's, whole: the caller's bytes.fill(0) after the call reached nothing
    for (const [k, p] of Object.entries(net.params)) expectBits((loaded.net.params as Record<string, typeof p>)[k].toArray(), p.toArray(), k);
    expect(JSON.parse(loaded.metadata.trainer).epoch).toBe(2);
    loaded.net.dispose(); loaded.optimizer?.dispose();
    const before = await readFile(file);
    const taken = path.join(tmp, 'taken-bytes');
    await mkdir(taken);
    await expect(writeFileAtomic(taken, before)).rejects.toThrow(/cannot write the bytes to .*taken-bytes: it is a directory/);
    await expect(writeFileAtomic(path.join(tmp, 'no-dir', 'c.safetensors'), before)).rejects.toThrow(/cannot write the bytes to .*no-dir.*ENOENT/);
    await expect(writeFileAtomic(file, [1, 2, 3] as never)).rejects.toThrow(/writeFileAtomic: bytes must be a Uint8Array, got/);
    await expect(writeFileAtomic('', before)).rejects.toThrow(/writeFileAtomic: file must be a non-empty path/);
    expect(await readFile(file)).toEqual(before);
    expect((await readdir(tmp)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    trainer.dispose(); net.dispose(); x.dispose(); t.dispose();
  });

  it('writes the net as it was at the call, while training goes on (pieces read between awaits held several steps)', async () => {
    const file = path.join(tmp, 'moving.safetensors');
    const net = buildNet(rt, { kind: 'mlp', options: { inputSize: 200, hiddenSizeList: [100, 100], outputSize: 10 } });
    const atCall = saveModel(net);
    const writing = writeModelFile(file, net, { chunkBytes: 4096 });
    // every await of the write lets a step run: the parameters change under it
    let steps = 0;
    const stepping = (async () => {
      for (let done = false; !done; steps++) {
        for (const t of Object.values(net.params)) rt.unsafeKernels.scale(t.ptr, t.ptr, 1.5, t.size);
        done = await Promise.race([writing.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);
      }
    })();
    await writing;
    await stepping;
    expect(steps).toBeGreaterThan(1);
    // equals, not toEqual: a diff of two 400 KB arrays takes minutes to print
    expect((await readFile(file)).equals(atCall), 'the file is the net at the call').toBe(true);
    net.dispose();
  });

  it('writes through a symbolic link, keeps a file\'s permissions, and refuses an empty path', async () => {
    const net = buildNet(rt, bnSpec);
    const real = path.join(tmp, 'real.safetensors'), link = path.join(tmp, 'link.safetensors');
    await writeModelFile(real, net, { metadata: { run: 'first' } });
    await chmod(real, 0o600);
    await symlink(real, link);
    await writeModelFile(link, net, { metadata: { run: 'second' } });
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe(real);
    expect(readModelInfo(real).metadata.run).toBe('second');
    expect((await stat(real)).mode & 0o777).toBe(0o600);
    await expect(writeModelFile('', net)).rejects.toThrow(/^writeModelFile: file must be a non-empty path, got ""$/);
    // a FIFO blocked the thread in open() until a writer came (the CLI's Ctrl-C with it); a pipe read as 0 bytes
    const fifo = path.join(tmp, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(() => readModelInfo(fifo)).toThrow(/^readModelInfo: .*fifo is not a regular file \(a pipe or device has no length/);
    expect(() => readModelFile(rt, '/dev/null')).toThrow(/^readModelFile: \/dev\/null is not a regular file/);
    await rm(fifo);
    expect((await readdir(tmp)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    net.dispose();
  });

  it('refuses, before writing anything, a target that is a FIFO, a socket or a directory, also through a symbolic link (the rename would replace the node with a file)', async () => {
    const net = buildNet(rt, bnSpec);
    const dir = await mkdtemp(path.join(tmp, 'nodes-'));
    const fifo = path.join(dir, 'pipe'), link = path.join(dir, 'link-to-pipe'), empty = path.join(dir, 'empty-dir');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    await symlink(fifo, link);
    await mkdir(empty);
    const server = createServer();
    const sock = path.join(dir, 'sock');
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(sock, resolve); });
    try {
      await expect(writeModelFile(fifo, net)).rejects.toThrow(/^cannot write the model to .*pipe: it is a FIFO \(named pipe\), not a regular file \(nothing was written; give the path of a file\)$/);
      await expect(writeModelFile(link, net)).rejects.toThrow(/^cannot write the model to .*link-to-pipe: it links to .*pipe, which is a FIFO \(named pipe\), not a regular file/);
      await expect(writeModelFile(sock, net)).rejects.toThrow(/^cannot write the model to .*sock: it is a socket, not a regular file/);
      await expect(writeModelFile(empty, net)).rejects.toThrow(/^cannot write the model to .*empty-dir: it is a directory, not a regular file/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    // every node is what it was, the link still a link to the FIFO, and no temporary file was left
    expect((await lstat(fifo)).isFIFO()).toBe(true);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe(fifo);
    expect((await stat(link)).isFIFO()).toBe(true);
    expect((await lstat(empty)).isDirectory()).toBe(true);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // a regular file through a link is still written (see above); a path that does not exist yet is created
    await writeModelFile(path.join(dir, 'new.safetensors'), net);
    expect((await lstat(path.join(dir, 'new.safetensors'))).isFile()).toBe(true);
    net.dispose();
  });

  it('a 100M-parameter model is written and read in pieces of at most 4 MiB, bit for bit', async () => {
    const spec: NetSpec = { kind: 'mlp', options: { inputSize: 10_000, hiddenSizeList: [10_000], outputSize: 10 } };
    const big = await createRuntime({ seed: 1, threads: 1 });
    try {
      const file = path.join(tmp, 'big.safetensors');
      const net = buildNet(big, spec);
      const count = Object.values(net.params).reduce((n, t) => n + t.size, 0);
      expect(count).toBeGreaterThan(100_000_000);
      const digest = checksum(net.params.W1.data) ^ checksum(net.params.W2.data);
      const heapBefore = process.memoryUsage().heapUsed;
      let largest = 0, pieces = 0;
      const fd = openSync(file, 'w');
      for (const chunk of saveModelChunks(net)) {
        largest = Math.max(largest, chunk.length);
        pieces++;
        writeSync(fd, chunk);
      }
      closeSync(fd);
      expect(largest).toBeLessThanOrEqual(1 << 22);
      expect(pieces).toBeGreaterThan(95);
      // no JS string or array of the model's size was built
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 << 20);
      net.dispose();
      const info = readModelInfo(file);
      expect(info.parameterCount).toBe(count);
      expect(info.fileBytes).toBe((await stat(file)).size);
      const loaded = readModelFile(big, file);
      expect(checksum(loaded.net.params.W1.data) ^ checksum(loaded.net.params.W2.data)).toBe(digest);
      loaded.net.dispose();
      await rm(file);
    } finally {
      big.dispose();
    }
  });
});

/** FNV-1a over the float bits. */
function checksum(values: Float32Array): number {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < bits.length; i++) h = Math.imul(h ^ bits[i], 0x01000193);
  return h >>> 0;
}

// ---- NumPy interop: a reader and a writer of the format in NumPy alone

const NUMPY_IO = String.raw`
import json, struct, sys
import numpy as np
DT = {'F32': '<f4', 'F16': '<f2', 'F64': '<f8'}
def read(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop('__metadata__', {})
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        b, end = e['data_offsets']
        out[name] = np.frombuffer(data[b:end], dtype=DT[e['dtype']]).reshape(e['shape'])
    return out, meta
def write(path, tensors, meta, dtype):
    header, blobs, at = {'__metadata__': meta}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype=DT[dtype]).tobytes()
        header[name] = {'dtype': dtype, 'shape': list(a.shape), 'data_offsets': [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
`;

function python(script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('python3', ['-c', NUMPY_IO + script], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const hasNumpy = python('print(np.__version__)').status === 0;

describe.skipIf(!hasNumpy)('NumPy interop (python3 + numpy; the safetensors package itself is not installable here)', () => {
  it('NumPy reads what saveModel writes: every tensor, its shape and values, and the metadata', async () => {
    const file = path.join(tmp, 'for-numpy.safetensors');
    const net = buildNet(rt, bnSpec);
    net.state.runningMean1.set(randomArray(5, 3));
    await writeModelFile(file, net, { metadata: { note: 'from simdnn' } });
    const r = python(`
t, meta = read(${JSON.stringify(file)})
print(json.dumps({'meta': meta, 'tensors': {k: {'shape': list(v.shape), 'dtype': str(v.dtype), 'values': v.astype(np.float64).ravel().tolist()} for k, v in t.items()}}))
`);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { meta: Record<string, string>; tensors: Record<string, { shape: number[]; dtype: string; values: number[] }> };
    expect(out.meta.note).toBe('from simdnn');
    expect(JSON.parse(out.meta['simdnn.net'])).toEqual(bnSpec);
    const mine = { ...net.params, ...net.state };
    expect(Object.keys(out.tensors).sort()).toEqual(Object.keys(mine).sort());
    for (const [k, t] of Object.entries(mine)) {
      expect(out.tensors[k].shape, k).toEqual(t.shape);
      expect(out.tensors[k].dtype).toBe('float32');
      expect(out.tensors[k].values, k).toEqual(Array.from(t.toArray()));
    }
    net.dispose();
  });

  it('files NumPy writes in F32, F16 and F64 load, converted to float32', () => {
    const spec: NetSpec = { kind: 'mlp', options: { inputSize: 4, hiddenSizeList: [3], outputSize: 2 } };
    for (const dtype of ['F32', 'F16', 'F64']) {
      const file = path.join(tmp, `numpy-${dtype}.safetensors`);
      const r = python(`
rng = np.random.default_rng(7)
t = {'W1': rng.standard_normal((4, 3)), 'b1': rng.standard_normal(3), 'W2': rng.standard_normal((3, 2)), 'b2': rng.standard_normal(2)}
write(${JSON.stringify(file)}, t, {'simdnn.net': ${JSON.stringify(JSON.stringify(spec))}}, '${dtype}')
print(json.dumps({k: v.astype('${dtype === 'F32' ? '<f4' : dtype === 'F16' ? '<f2' : '<f8'}').astype(np.float32).astype(np.float64).ravel().tolist() for k, v in t.items()}))
`);
      expect(r.status, r.stderr).toBe(0);
      const want = JSON.parse(r.stdout) as Record<string, number[]>;
      const { net } = readModelFile(rt, file);
      for (const k of ['W1', 'b1', 'W2', 'b2']) expect(Array.from(net.params[k].toArray()), `${dtype} ${k}`).toEqual(want[k]);
      net.dispose();
    }
  });
});
