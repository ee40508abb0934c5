// loadModelAsync and inspectModelAsync: a model file that arrives over time
// (a Response, a ReadableStream, a Blob, an async iterable, chunks or bytes)
// loads with loadModel's bits; sizes are known up front where the source
// gives them; the event loop gets turns; an abort, a failing or short source,
// a bad chunk or a throwing onProgress frees what was built and stops the
// source; memory grown by other code between chunks does not lose a value.
// Runs in Node and in Chromium (a real HTTP server: model-file-async.node.test.ts).
import { describe, it, expect, beforeAll } from 'vitest';
import type { Runtime } from '../src/runtime/runtime.js';
import { buildNet, type NamedNet, type NetSpec } from '../src/nets/registry.js';
import { createOptimizer } from '../src/optim/registry.js';
import { inspectModel, loadModel, saveModel, type LoadedModel } from '../src/io/model.js';
import { inspectModelAsync, loadModelAsync } from '../src/io/model-async.js';
import { SafetensorsError } from '../src/io/safetensors.js';
import { OutOfMemoryError } from '../src/runtime/errors.js';
import { expectBits, makeRuntime, randomArray, randomInts, rng } from './helpers/runtime.js';
import { Canaries } from './helpers/canaries.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 5 }); });

const mlp: NetSpec = { kind: 'mlp-extend', options: { inputSize: 20, hiddenSizeList: [16, 12], outputSize: 5, useBatchnorm: true } };
const conv: NetSpec = { kind: 'deep-conv', options: { inputDim: [1, 12, 12], hiddenSize: 10, outputSize: 4 } };

/** A net moved off its initial values by a few Adam steps (batch-norm running statistics too), and its optimizer. */
function trained(spec: NetSpec, inputs: number[]): { net: NamedNet; opt: ReturnType<typeof createOptimizer> } {
  const net = buildNet(rt, spec);
  const opt = createOptimizer('adam', { lr: 0.01 });
  const x = rt.tensor([6, ...inputs], randomArray(6 * inputs.reduce((a, b) => a * b, 1), 1));
  const t = Array.from(randomInts(6, 2, 4));
  for (let i = 0; i < 3; i++) opt.update(net.params, net.gradient(x, t));
  x.dispose();
  return { net, opt };
}

/** Pieces of `bytes` of the given sizes, cycling. */
function cut(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    out.push(bytes.slice(at, at + sizes[i % sizes.length]));
    at += sizes[i % sizes.length];
  }
  return out;
}

/** A stream of `chunks` that records its cancel; `between(i)` runs before chunk i is given. */
function streamOf(chunks: unknown[], hooks: { between?: (i: number) => void | Promise<void>; stallAt?: number; failAt?: number } = {}) {
  const log = { cancelled: false as boolean, reason: undefined as unknown, pulls: 0 };
  let i = 0;
  const stream = new ReadableStream({
    async pull(controller) {
      log.pulls++;
      if (i === hooks.stallAt) return new Promise<void>(() => {}); // a network that stops sending
      if (i === hooks.failAt) throw new Error('connection reset');
      await hooks.between?.(i);
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
    cancel(reason) { log.cancelled = true; log.reason = reason; },
  }, { highWaterMark: 0 });
  return { stream, log };
}

async function* asyncChunks(chunks: Uint8Array[]) {
  for (const c of chunks) {
    await null;
    yield c;
  }
}

function expectSameModel(got: LoadedModel, expected: LoadedModel, what: string): void {
  expect(got.net.spec, what).toEqual(expected.net.spec);
  expect(got.metadata, what).toEqual(expected.metadata);
  for (const [k, t] of Object.entries({ ...expected.net.params, ...expected.net.state })) {
    expectBits(({ ...got.net.params, ...got.net.state } as Record<string, typeof t>)[k].toArray(), t.toArray(), `${what}: ${k}`);
  }
  expect(got.optimizer?.name, what).toBe(expected.optimizer?.name);
  const a = got.optimizer?.state(), b = expected.optimizer?.state();
  expect(a?.t, what).toBe(b?.t);
  for (const [key, slots] of Object.entries(b?.params ?? {})) {
    for (const [slot, values] of Object.entries(slots)) {
      if (values instanceof Float32Array) expectBits((a!.params[key] as unknown as Record<string, Float32Array>)[slot], values, `${what}: ${slot}.${key}`);
    }
  }
}

function disposeModel(m: LoadedModel): void {
  m.net.dispose();
  m.optimizer?.dispose();
}

describe('loadModelAsync', () => {
  it('loads loadModel\'s bits from every kind of source, chunks cut at odd places, sizes known up front where the source gives them', async () => {
    for (const [spec, inputs] of [[mlp, [20]], [conv, [1, 12, 12]]] as const) {
      const { net, opt } = trained(spec, [...inputs]);
      const bytes = saveModel(net, { optimizer: opt, metadata: { note: 'é ✓' } });
      const expected = loadModel(rt, bytes);
      const pieces = cut(bytes, [1, 7, 1013, 3, 4093]);
      const sources: Array<[string, () => Parameters<typeof loadModelAsync>[1], number | undefined]> = [
        ['bytes', () => bytes, bytes.length],
        ['chunks', () => pieces, undefined],
        ['an async iterable', () => asyncChunks(pieces), undefined],
        ['a ReadableStream', () => streamOf(pieces).stream, undefined],
        ['a Blob', () => new Blob(pieces as BlobPart[]), bytes.length],
        ['a Response', () => new Response(streamOf(pieces).stream), undefined],
        ['a Response with its Content-Length', () => new Response(bytes, { headers: { 'content-length': String(bytes.length) } }), bytes.length],
        ['a gzip Response: its Content-Length is not the file\'s', () => new Response(bytes, { headers: { 'content-length': '12', 'content-encoding': 'gzip' } }), undefined],
        ['a promise of a Response', () => Promise.resolve(new Response(bytes)), undefined],
      ];
      for (const [what, source, total] of sources) {
        const random = rt.randomState;
        const progress: Array<[number, number | undefined]> = [];
        const got = await loadModelAsync(rt, source(), { onProgress: (n, of) => progress.push([n, of]) });
        expect(rt.randomState, `${what}: the random stream is left alone`).toEqual(random);
        expectSameModel(got, expected, `${spec.kind}, ${what}`);
        expect(progress.at(-1), `${what}: the last progress is the whole file`).toEqual([bytes.length, total]);
        expect(progress.every(([n], i) => i === 0 || n > progress[i - 1][0]), `${what}: progress grows`).toBe(true);
        disposeModel(got);
      }
      disposeModel(expected);
      net.dispose();
      opt.dispose();
    }
  });

  it('reads a chunk larger than 1 MiB in slices and yields to the event loop while it decodes', async () => {
    // 8M F16 weights (16 MB): converting them takes well over the ~8 ms of work between two yields on any machine
    const spec: NetSpec = { kind: 'mlp', options: { inputSize: 4000, hiddenSizeList: [2000], outputSize: 2, weightInitStd: 0.01 } };
    const shapes: Array<[string, number[]]> = [['W1', [4000, 2000]], ['b1', [2000]], ['W2', [2000, 2]], ['b2', [2]]];
    const header: Record<string, unknown> = { __metadata__: { 'simdnn.net': JSON.stringify(spec) } };
    let at = 0;
    for (const [name, shape] of shapes) {
      const n = 2 * shape.reduce((a, b) => a * b, 1);
      header[name] = { dtype: 'F16', shape, data_offsets: [at, at + n] };
      at += n;
    }
    const json = new TextEncoder().encode(JSON.stringify(header));
    const bytes = new Uint8Array(8 + json.length + at);
    new DataView(bytes.buffer).setUint32(0, json.length, true);
    bytes.set(json, 8);
    const halves = new Uint16Array(at / 2).map((_, i) => 0x3c00 | (i & 0x3ff)); // 1 + (i mod 1024) / 1024: exact in float32
    bytes.set(new Uint8Array(halves.buffer), 8 + json.length);

    let fired = false;
    setTimeout(() => { fired = true; }, 0);
    const seen: number[] = [];
    const got = await loadModelAsync(rt, bytes, { onProgress: (n) => seen.push(n) });
    expect(fired, 'a timer set before the call fires before it resolves').toBe(true);
    const pieces = seen.map((n, i) => n - (i > 0 ? seen[i - 1] : 0));
    expect(Math.max(...pieces), 'read in slices of 1 MiB').toBe(1 << 20);
    expect(seen.at(-1)).toBe(bytes.length);
    const W1 = got.net.params.W1.data;
    expect([W1[0], W1[1], W1[1023], W1[1024], W1[7_999_999]]).toEqual([1, 1 + 1 / 1024, 1 + 1023 / 1024, 1, 1 + (7_999_999 & 0x3ff) / 1024]);
    const sync = loadModel(rt, bytes);
    expectBits(got.net.params.W1.toArray(), sync.net.params.W1.toArray(), 'W1 as loadModel reads it');
    sync.net.dispose();
    got.net.dispose();
  });

  it('writes through views taken afresh: memory grown between chunks by other code loses no value, and the tensors around stay as they were', async () => {
    const { net, opt } = trained(mlp, [20]);
    const bytes = saveModel(net);
    const expected = loadModel(rt, bytes);
    const canaries = new Canaries(rt, 7);
    canaries.place();
    let grown: ReturnType<typeof rt.tensor> | null = null;
    const before = rt.memoryStats().memoryBytes;
    // the header and 400 bytes of W1 (1,280 bytes), then 64 bytes a chunk: the memory grows while W1 is read
    const headerBytes = 8 + new DataView(bytes.buffer).getUint32(0, true);
    const { stream } = streamOf(cut(bytes, [headerBytes + 400, ...Array(200).fill(64)]), {
      between: (i) => {
        if (i === 1) canaries.place(); // after the header: the net was built between the two canaries
        if (i === 2) grown = rt.tensor([before / 4 + (1 << 20)]); // the runtime's memory has to grow for it
      },
    });
    const got = await loadModelAsync(rt, stream);
    expect(rt.memoryStats().memoryBytes, 'the memory grew while the file arrived').toBeGreaterThan(before);
    expectSameModel(got, expected, 'after growth');
    expect(canaries.changed()).toBe(0);
    grown!.dispose();
    canaries.dispose();
    for (const d of [got.net, expected.net, net, opt]) d.dispose();
  });

  it('an abort stops at once, even while a chunk is awaited: it rejects with the reason, frees the net and cancels the source', async () => {
    const { net, opt } = trained(conv, [1, 12, 12]);
    const bytes = saveModel(net, { optimizer: opt });
    const used = rt.memoryStats().used;
    const reason = new Error('the user left the page');
    // a network that stops sending after two chunks: the net is built, half filled
    const stalled = streamOf(cut(bytes, [bytes.length >> 1]), { stallAt: 2 });
    const controller = new AbortController();
    const pending = loadModelAsync(rt, stalled.stream, { signal: controller.signal, onProgress: (n) => { if (n === bytes.length >> 1 << 1) setTimeout(() => controller.abort(reason), 0); } });
    await expect(pending).rejects.toBe(reason);
    expect(rt.memoryStats().used, 'the net and optimizer freed').toBe(used);
    expect(stalled.log.cancelled && stalled.log.reason).toBe(reason);
    // aborted before the call: nothing read
    const early = streamOf([bytes]);
    await expect(loadModelAsync(rt, early.stream, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(early.log.pulls).toBe(0);
    // an abort while a promise of a Response is awaited
    const late = new AbortController();
    const never = loadModelAsync(rt, new Promise<Response>(() => {}), { signal: late.signal });
    late.abort(reason);
    await expect(never).rejects.toBe(reason);
    expect(rt.memoryStats().used).toBe(used);
    net.dispose();
    opt.dispose();
  });

  it('a source that fails, ends early, runs on or gives no bytes, and a throwing onProgress: a clear error, the net freed, the source stopped', async () => {
    const { net, opt } = trained(mlp, [20]);
    const bytes = saveModel(net, { optimizer: opt });
    const used = rt.memoryStats().used;
    const failing = streamOf(cut(bytes, [1000]), { failAt: 2 });
    const error = await loadModelAsync(rt, failing.stream).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('loadModelAsync: reading the source failed after 2000 bytes (connection reset)');
    expect(((error as Error).cause as Error).message).toBe('connection reset');
    expect(rt.memoryStats().used).toBe(used);

    await expect(loadModelAsync(rt, streamOf(cut(bytes.slice(0, -5), [700])).stream)).rejects.toThrow(/^safetensors: the file ends at byte \d+, inside tensor '\S+' \(5 bytes short\)$/);
    await expect(loadModelAsync(rt, new Blob([bytes.slice(0, -5)]))).rejects.toThrow(SafetensorsError); // the size is known: refused from the header
    await expect(loadModelAsync(rt, asyncChunks([bytes, new Uint8Array(3)]))).rejects.toThrow(/^safetensors: bytes after the last tensor/);
    await expect(loadModelAsync(rt, streamOf([bytes.slice(0, 100), 'text']).stream)).rejects.toThrow(/^loadModelAsync: every chunk must be a Uint8Array, got \[object String\]$/);
    const thrown = new Error('progress bar gone');
    const stopped = streamOf(cut(bytes, [900]));
    await expect(loadModelAsync(rt, stopped.stream, { onProgress: (n) => { if (n > 2000) throw thrown; } })).rejects.toBe(thrown);
    expect(stopped.log.cancelled && stopped.log.reason).toBe(thrown);
    expect(rt.memoryStats().used, 'every failure freed what it built').toBe(used);
    await expect(loadModelAsync(rt, new Response(null))).rejects.toThrow(/fewer than the 8 of the header length|the file ends at byte 0/);
    net.dispose();
    opt.dispose();
  });

  it('refuses a bad source or options before reading anything, each error naming what is wrong', async () => {
    const net = trainedOnce();
    const bytes = saveModel(net);
    const used = rt.memoryStats().used;
    const read = new Response(bytes);
    await read.arrayBuffer();
    const locked = new ReadableStream();
    locked.getReader();
    const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
      ['a runtime', () => loadModelAsync({} as Runtime, bytes), /^loadModelAsync: rt must be a Runtime/],
      ['a string', () => loadModelAsync(rt, 'model.safetensors' as never), /^loadModelAsync: source must be a Response, a ReadableStream, a Blob, an \(async\) iterable of Uint8Array chunks or a Uint8Array, got \[object String\]$/],
      ['null', () => loadModelAsync(rt, null as never), /source must be a Response.*got \[object Null\]$/],
      ['a 404', () => loadModelAsync(rt, new Response('not here', { status: 404 })), /^loadModelAsync: the response failed with HTTP 404$/],
      ['a read body', () => loadModelAsync(rt, read), /^loadModelAsync: the response: its body was already read$/],
      ['a locked stream', () => loadModelAsync(rt, locked), /^loadModelAsync: source's stream cannot be read .*: is it locked, or already read\?$/],
      ['a promise that rejects', () => loadModelAsync(rt, Promise.reject(new TypeError('fetch failed'))), /^loadModelAsync: source, a promise of a Response, rejected \(fetch failed\)$/],
      ['a promise of something else', () => loadModelAsync(rt, Promise.resolve(bytes) as never), /^loadModelAsync: source is a promise of \[object Uint8Array\], not of a Response$/],
      ['an unknown option', () => loadModelAsync(rt, bytes, { progress: () => {} } as never), /^loadModelAsync: unknown option 'progress' \(expected one of byteLength, spec, signal, onProgress\)$/],
      ['onProgress', () => loadModelAsync(rt, bytes, { onProgress: 1 as never }), /^loadModelAsync: onProgress must be a function, got \[object Number\]$/],
      ['signal', () => loadModelAsync(rt, bytes, { signal: {} as never }), /^loadModelAsync: signal must be an AbortSignal$/],
      ['byteLength', () => loadModelAsync(rt, [bytes], { byteLength: -1 }), /^loadModelAsync: byteLength must be a non-negative integer, got -1$/],
      ['a spec JSON cannot hold', () => loadModelAsync(rt, bytes, { spec: { kind: 'mlp', options: { n: 1n } } as never }), /^loadModelAsync: spec must be a net's spec, \{ kind, options \} as JSON holds it/],
      ['inspect: an unknown option', () => inspectModelAsync(bytes, { spec: mlp } as never), /^inspectModelAsync: unknown option 'spec' \(expected one of byteLength, signal\)$/],
      ['inspect: a number', () => inspectModelAsync(7 as never), /^inspectModelAsync: source must be a Response/],
    ];
    for (const [what, call, message] of cases) await expect(call(), what).rejects.toThrow(message);
    expect(rt.memoryStats().used).toBe(used);
    net.dispose();
  });

  it('takes the spec as it was at the call, not as the caller changed it while the file arrived', async () => {
    const net = buildNet(rt, mlp);
    const bytes = saveModel(net);
    const header = new Uint8Array(bytes.subarray(0, 8 + new DataView(bytes.buffer).getUint32(0, true)));
    const json = JSON.parse(new TextDecoder().decode(header.subarray(8)));
    delete json.__metadata__['simdnn.net']; // a file of another tool: the spec comes from the caller
    const foreign = new TextEncoder().encode(JSON.stringify(json));
    const file = new Uint8Array(8 + foreign.length + bytes.length - header.length);
    new DataView(file.buffer).setUint32(0, foreign.length, true);
    file.set(foreign, 8);
    file.set(bytes.subarray(header.length), 8 + foreign.length);
    const spec = structuredClone(mlp) as NetSpec & { options: { outputSize: number } };
    const got = await loadModelAsync(rt, streamOf([file.subarray(0, 4), file.subarray(4)], { between: () => { spec.options.outputSize = 7; } }).stream, { spec });
    expect(got.net.spec).toEqual(mlp);
    got.net.dispose();
    net.dispose();
  });
});

describe('loadModelAsync on a runtime too small for the file\'s net', () => {
  it('rejects with OutOfMemoryError (not a SafetensorsError, which would blame the file), keeps nothing and cancels the download', async () => {
    const net = buildNet(rt, { kind: 'mlp', options: { inputSize: 784, hiddenSizeList: [1000, 1000], outputSize: 10 } });
    const bytes = saveModel(net);
    net.dispose();
    const small = await makeRuntime({ memory: { initial: 16, maximum: 32 } }); // 2 MiB: the net's 7 MB do not fit
    const before = small.memoryStats().used;
    const { stream, log } = streamOf(cut(bytes, [64 * 1024]));
    const error = await loadModelAsync(small, stream).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutOfMemoryError);
    expect(error).not.toBeInstanceOf(SafetensorsError);
    expect((error as Error).message).toMatch(/^out of memory: a \d+-byte allocation needs/);
    expect(small.memoryStats().used).toBe(before);
    expect(log.cancelled, 'the rest of the file is not downloaded').toBe(true);
    expect(log.pulls).toBeLessThan(5);
    small.dispose();
  });
});

describe('loadModelAsync against loadModel, fuzzed', () => {
  it('any bytes, in any chunks, give loadModel\'s result or its error, and a failure leaves no memory behind', async () => {
    const { net, opt } = trained(mlp, [20]);
    const good = saveModel(net, { optimizer: opt });
    const headerBytes = 8 + new DataView(good.buffer).getUint32(0, true);
    const next = rng(11);
    const pick = (n: number) => Math.floor(next() * n);
    const used = rt.memoryStats().used;
    let failures = 0;
    for (let trial = 0; trial < 300; trial++) {
      let bytes = good.slice();
      const kind = trial % 4;
      if (kind === 0) for (let k = 0; k < 1 + pick(3); k++) bytes[pick(headerBytes)] = pick(256); // the header's text
      else if (kind === 1) bytes[headerBytes + pick(bytes.length - headerBytes)] ^= 1 << pick(8); // a value (may make a variance negative)
      else if (kind === 2) bytes = bytes.slice(0, pick(bytes.length)); // cut short
      else bytes = Uint8Array.from([...bytes, ...Array(1 + pick(9)).fill(0)]); // bytes after the end
      const sizes = Array.from({ length: 4 }, () => 1 + pick(kind === 0 ? 64 : 2048));
      let expected: LoadedModel | Error;
      try {
        expected = loadModel(rt, bytes);
      } catch (e) {
        expected = e as Error;
      }
      const got = await loadModelAsync(rt, streamOf(cut(bytes, sizes)).stream, { byteLength: trial % 8 < 4 ? bytes.length : undefined }).catch((e: Error) => e);
      if (expected instanceof Error) {
        failures++;
        expect(got, `trial ${trial}`).toBeInstanceOf(Error);
        // with the length unknown, checks against it are made while reading: the same class of error, its own message
        if (trial % 8 < 4 || kind === 1) expect((got as Error).message.replace('loadModelAsync', 'loadModel'), `trial ${trial}`).toBe(expected.message);
        else expect((got as Error).name, `trial ${trial}`).toBe(expected.name);
      } else {
        expectSameModel(got as LoadedModel, expected, `trial ${trial}`);
        disposeModel(got as LoadedModel);
        disposeModel(expected);
      }
      expect(rt.memoryStats().used, `trial ${trial}: nothing left behind`).toBe(used);
    }
    expect(failures, 'most trials break the file').toBeGreaterThan(150);
    net.dispose();
    opt.dispose();
  });
});

describe('inspectModelAsync', () => {
  it('reads the header only and cancels the rest of the source: inspectModel\'s result', async () => {
    const { net, opt } = trained(conv, [1, 12, 12]);
    const bytes = saveModel(net, { optimizer: opt, metadata: { epoch: '3' } });
    const expected = inspectModel(bytes);
    const { stream, log } = streamOf(cut(bytes, [512]));
    expect(await inspectModelAsync(stream)).toEqual(expected);
    expect(log.cancelled, 'the rest of the file is not read').toBe(true);
    expect(log.pulls).toBeLessThan(Math.ceil(bytes.length / 512));
    expect(await inspectModelAsync(new Response(bytes))).toEqual(expected);
    expect(await inspectModelAsync(new Blob([bytes]))).toEqual(expected);
    await expect(inspectModelAsync(new Blob([bytes.subarray(0, 20)]))).rejects.toThrow(SafetensorsError);
    net.dispose();
    opt.dispose();
  });
});

function trainedOnce(): NamedNet {
  const { net, opt } = trained(mlp, [20]);
  opt.dispose();
  return net;
}
