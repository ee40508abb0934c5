// The Node entry's model files: a path that is no string, or holds a NUL byte,
// gets an error naming the entry and `file` (not Node's own words, nor a
// failure to format the value), before anything is read or written.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRuntime } from '../src/node/runtime.js';
import { readModelFile, readModelInfo, writeModelFile } from '../src/node/model-file.js';
import { MultiLayerNet } from '../src/nets/multi-layer-net.js';
import type { Runtime } from '../src/runtime/runtime.js';

let tmp: string;
let rt: Runtime;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-messages-'));
  rt = await createRuntime({ seed: 5, threads: 1 });
});
afterAll(async () => {
  rt.dispose();
  await rm(tmp, { recursive: true, force: true });
});

describe('model files: bad paths are named by the entry', () => {
  it('writeModelFile refuses a path with a NUL byte, with its prefix, and writes nothing (no temporary file either)', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const file = path.join(tmp, 'm\0.safetensors');
    const error = await writeModelFile(file, net).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(`writeModelFile: file must be a path without NUL bytes (\\0), got ${JSON.stringify(file)}`);
    expect(await readdir(tmp)).toEqual([]);
    net.dispose();
  });

  it('writeModelFile, readModelFile and readModelInfo: a file that is a BigInt, a Symbol or no string', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    for (const [file, got] of [[3n, 'bigint 3'], [Symbol('s'), 'symbol Symbol\\(s\\)'], [5, 'number 5'], [null, 'null'], [{}, 'an Object']] as const) {
      await expect(writeModelFile(file as never, net)).rejects.toThrow(new RegExp(`^writeModelFile: file must be a non-empty path, got ${got}$`));
      await expect(writeModelFile(file as never, net)).rejects.toBeInstanceOf(TypeError);
      expect(() => readModelFile(rt, file as never)).toThrow(new RegExp(`^readModelFile: file must be a non-empty path, got ${got}$`));
      expect(() => readModelInfo(file as never)).toThrow(new RegExp(`^readModelInfo: file must be a non-empty path, got ${got}$`));
    }
    const nul = path.join(tmp, 'x\0y');
    expect(() => readModelFile(rt, nul)).toThrow(new TypeError(`readModelFile: file must be a path without NUL bytes (\\0), got ${JSON.stringify(nul)}`));
    expect(() => readModelInfo(nul)).toThrow(new TypeError(`readModelInfo: file must be a path without NUL bytes (\\0), got ${JSON.stringify(nul)}`));
    // as before: the empty path, and a good one
    await expect(writeModelFile('', net)).rejects.toThrow(/^writeModelFile: file must be a non-empty path, got ""$/);
    const file = path.join(tmp, 'ok.safetensors');
    await writeModelFile(file, net);
    expect(readModelInfo(file).spec).toEqual(net.spec);
    await rm(file);
    expect(await readdir(tmp)).toEqual([]);
    net.dispose();
  });
});
