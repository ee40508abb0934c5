// Model files (safetensors): round trips predict bit-identically for every
// named net, in one piece and through chunks cut at odd places; the optimizer's
// state resumes exactly; F16/BF16/F64 files load converted; every malformed
// file is refused with a clear error before anything is allocated. The net
// registry: buildNet from net.spec, and netTensorShapes equal to the built net's.
import { describe, it, expect, beforeAll } from 'vitest';
import type { Runtime } from '../src/runtime/runtime.js';
import { buildNet, netTensorShapes, NET_KINDS, type NamedNet, type NetSpec } from '../src/nets/registry.js';
import { MultiLayerNet } from '../src/nets/multi-layer-net.js';
import { MultiLayerNetExtend } from '../src/nets/multi-layer-net-extend.js';
import { SimpleConvNet } from '../src/nets/simple-conv-net.js';
import { DeepConvNet } from '../src/nets/deep-conv-net.js';
import { Sequential } from '../src/nets/sequential.js';
import { Affine } from '../src/layers/affine.js';
import { createOptimizer } from '../src/optim/registry.js';
import { inspectModel, loadModel, saveModel, saveModelChunks } from '../src/io/model.js';
import { MAX_HEADER_BYTES, SafetensorsError, decodeFloats, encodeHeader, parseHeader, readHeaderLength } from '../src/io/safetensors.js';
import { expectBits, makeRuntime, randomArray, randomInts } from './helpers/runtime.js';
import { OutOfMemoryError } from '../src/runtime/errors.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 3 }); });

const SPECS: Record<(typeof NET_KINDS)[number], NetSpec> = {
  mlp: { kind: 'mlp', options: { inputSize: 12, hiddenSizeList: [9, 7], outputSize: 4, activation: 'tanh', weightInitStd: 'xavier', weightDecayLambda: 0.01 } },
  'mlp-extend': { kind: 'mlp-extend', options: { inputSize: 12, hiddenSizeList: [8, 6], outputSize: 4, useBatchnorm: true, useDropout: true, dropoutRatio: 0.2 } },
  'simple-conv': { kind: 'simple-conv', options: { inputDim: [1, 10, 10], convParam: { filterNum: 3, filterSize: 3, pad: 1, stride: 1 }, hiddenSize: 8, outputSize: 4, weightInitStd: 'he' } },
  'deep-conv': { kind: 'deep-conv', options: { inputDim: [1, 12, 12], hiddenSize: 10, outputSize: 4 } },
};

function inputOf(net: NamedNet, n: number, seed: number) {
  const o = net.spec.options as { inputSize?: number; inputDim?: number[] };
  const shape = o.inputDim ? [n, ...o.inputDim] : [n, o.inputSize!];
  return rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b, 1), seed));
}

/** A net of `spec` moved off its initial values by a few Adam steps (batch-norm running stats too). */
function trained(spec: NetSpec) {
  const net = buildNet(rt, spec);
  const opt = createOptimizer('adam', { lr: 0.01 });
  const x = inputOf(net, 6, 1);
  const t = Array.from(randomInts(6, 2, 4));
  for (let i = 0; i < 3; i++) opt.update(net.params, net.gradient(x, t));
  x.dispose();
  return { net, opt };
}

/** Cuts bytes into pieces of the given sizes, cycling. */
function* cut(bytes: Uint8Array, sizes: number[]): Generator<Uint8Array> {
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    yield bytes.slice(at, at + n);
    at += n;
  }
}

function predictBits(net: NamedNet, seed: number): Float32Array {
  const x = inputOf(net, 5, seed);
  const out = net.predict(x, false);
  const y = out.toArray();
  out.dispose();
  x.dispose();
  return y;
}

describe('net registry', () => {
  it('every named net carries a spec that buildNet rebuilds, and netTensorShapes lists its tensors without building it', () => {
    for (const kind of NET_KINDS) {
      const net = buildNet(rt, SPECS[kind]);
      expect(net.spec).toEqual(SPECS[kind]);
      expect(JSON.parse(JSON.stringify(net.spec))).toEqual(net.spec);
      const shapes = Object.fromEntries(Object.entries({ ...net.params, ...net.state }).map(([k, t]) => [k, [...t.shape]]));
      expect(netTensorShapes(net.spec), kind).toEqual(shapes);
      net.dispose();
    }
    const direct = [new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [], outputSize: 2 }), new MultiLayerNetExtend(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2 }),
      new SimpleConvNet(rt), new DeepConvNet(rt)];
    expect(direct.map((n) => n.spec.kind)).toEqual(['mlp', 'mlp-extend', 'simple-conv', 'deep-conv']);
    for (const n of direct) {
      expect(netTensorShapes(n.spec)).toEqual(Object.fromEntries(Object.entries({ ...n.params, ...n.state }).map(([k, t]) => [k, [...t.shape]])));
      n.dispose();
    }
  });

  it('refuses unknown kinds and malformed specs with an error naming the field', () => {
    expect(() => buildNet(rt, { kind: 'resnet', options: {} } as unknown as NetSpec)).toThrow(/kind: expected one of mlp, mlp-extend, simple-conv, deep-conv, got "resnet"/);
    expect(() => buildNet(rt, { kind: 'mlp' } as unknown as NetSpec)).toThrow(/options: expected an object/);
    expect(() => netTensorShapes({ kind: 'mlp', options: { inputSize: 3, hiddenSizeList: [0], outputSize: 2 } })).toThrow(/hiddenSizeList\[0\] must be a positive integer/);
    expect(() => netTensorShapes({ kind: 'simple-conv', options: { inputDim: [1, 2, 2] } })).toThrow(/does not fit a 2×2 input/);
  });
});

describe('round trips', () => {
  it('predict bit-identically for every named net, in one piece and through chunks cut at odd places', () => {
    for (const kind of NET_KINDS) {
      const { net, opt } = trained(SPECS[kind]);
      const bytes = saveModel(net, { metadata: { note: 'é ✓' } });
      const chunked = [...saveModelChunks(net, { metadata: { note: 'é ✓' }, chunkBytes: 1020 })];
      expect(chunked.length).toBeGreaterThan(3);
      expect(chunked.every((c) => c.length <= 1020 || c === chunked[0])).toBe(true);
      const joined = new Uint8Array(bytes.length);
      let at = 0;
      for (const c of chunked) { joined.set(c, at); at += c.length; }
      expect(at).toBe(bytes.length);
      expect(joined.every((v, i) => v === bytes[i]), 'the chunks are the bytes').toBe(true);
      const expected = predictBits(net, 9);
      for (const source of [bytes, cut(bytes, [1, 7, 1013, 3, 4093])]) {
        const before = rt.randomState;
        const loaded = loadModel(rt, source, { byteLength: bytes.length });
        expect(rt.randomState, 'loading leaves the random stream alone').toEqual(before);
        expect(loaded.net.spec).toEqual(net.spec);
        expect(loaded.metadata).toEqual({ note: 'é ✓' });
        expect(loaded.optimizer).toBeUndefined();
        for (const [k, t] of Object.entries({ ...net.params, ...net.state })) {
          expectBits(({ ...loaded.net.params, ...loaded.net.state } as Record<string, typeof t>)[k].toArray(), t.toArray(), `${kind} ${k}`);
        }
        expectBits(predictBits(loaded.net, 9), expected, `${kind} predict`);
        loaded.net.dispose();
      }
      if (kind === 'mlp-extend') {
        // the book's names; the batch-norm running statistics are saved too
        expect(inspectModel(bytes).tensors.map((t) => t.name)).toEqual(['W1', 'b1', 'gamma1', 'beta1', 'W2', 'b2', 'gamma2', 'beta2', 'W3', 'b3',
          'runningMean1', 'runningVar1', 'runningMean2', 'runningVar2']);
        expect(Array.from(net.state.runningMean1.toArray()).some((v) => v !== 0)).toBe(true);
      }
      net.dispose();
      opt.dispose();
    }
  });

  it('saves the optimizer state; the loaded pair continues bit-identically', () => {
    for (const name of ['adam', 'momentum', 'adadelta'] as const) {
      const { net } = trained(SPECS['mlp-extend']);
      const opt = createOptimizer(name, { lr: 0.02 });
      const x = inputOf(net, 6, 4);
      const t = Array.from(randomInts(6, 5, 4));
      for (let i = 0; i < 2; i++) opt.update(net.params, net.gradient(x, t));
      const bytes = saveModel(net, { optimizer: opt });
      const info = inspectModel(bytes);
      expect(info.optimizer).toMatchObject({ name, t: 2, options: { lr: 0.02 } });
      const loaded = loadModel(rt, bytes);
      expect(loaded.optimizer!.name).toBe(opt.name);
      expect(loaded.optimizer!.state()).toEqual(opt.state());
      // dropout masks come from the stream: both runs draw the same ones from the same position
      const random = rt.randomState;
      opt.update(net.params, net.gradient(x, t));
      rt.randomState = random;
      loaded.optimizer!.update(loaded.net.params, loaded.net.gradient(x, t));
      for (const [k, p] of Object.entries(net.params)) expectBits(loaded.net.params[k].toArray(), p.toArray(), `${name} ${k} after a step`);
      x.dispose();
      for (const d of [net, opt, loaded.net, loaded.optimizer!]) d.dispose();
    }
  });

  it('an SGD run saved after its steps resumes: SGD keeps no state tensors, so every parameter has its empty state', () => {
    const { net } = trained(SPECS.mlp);
    const opt = createOptimizer('sgd', { lr: 0.1 });
    const x = inputOf(net, 6, 4);
    const t = Array.from(randomInts(6, 5, 4));
    for (let i = 0; i < 2; i++) opt.update(net.params, net.gradient(x, t));
    const loaded = loadModel(rt, saveModel(net, { optimizer: opt }));
    expect(loaded.optimizer!.state()).toEqual(opt.state());
    opt.update(net.params, net.gradient(x, t));
    loaded.optimizer!.update(loaded.net.params, loaded.net.gradient(x, t));
    for (const [k, p] of Object.entries(net.params)) expectBits(loaded.net.params[k].toArray(), p.toArray(), `sgd ${k} after a step`);
    x.dispose();
    for (const d of [net, opt, loaded.net, loaded.optimizer!]) d.dispose();
  });

  it('refuses nets it cannot rebuild, foreign optimizers and reserved or non-string metadata', () => {
    const W = rt.tensor([2, 2]), b = rt.tensor([2]);
    const plain = new Sequential(rt, [new Affine(W, b)]);
    expect(() => saveModel(plain as never)).toThrow(/saveModel: net must be a named net/);
    const net = buildNet(rt, SPECS.mlp);
    expect(() => saveModel(net, { optimizer: { name: 'Mine', update() {} } })).toThrow(/optimizer must be one of simdnn's/);
    expect(() => saveModel(net, { metadata: { 'simdnn.net': 'x' } })).toThrow(/metadata key 'simdnn.net' is reserved/);
    expect(() => saveModel(net, { metadata: { epochs: 3 as unknown as string } })).toThrow(/metadata\['epochs'\] must be a string/);
    // a misspelt option would be ignored without a word: the optimizer's state not saved
    expect(() => saveModel(net, { optimiser: createOptimizer('adam') } as never)).toThrow(/^saveModel: unknown option 'optimiser' \(expected one of optimizer, metadata, chunkBytes, best, ema, swa, accum, trainLoss\)$/);
    expect(() => saveModel(net, null as never)).toThrow(/^saveModel: options must be an object, got null$/);
    expect(() => loadModel(rt, saveModel(net), { specs: SPECS.mlp } as never)).toThrow(/^loadModel: unknown option 'specs' \(expected one of byteLength, spec\)$/);
    net.dispose();
    expect(() => saveModel(net)).toThrow(/saveModel: net used after dispose\(\)/);
    W.dispose(); b.dispose();
  });

  it('refuses an optimizer whose state is for another net\'s parameters (loadModel would refuse the file)', () => {
    const net = buildNet(rt, SPECS.mlp);
    const [rows, cols] = net.params.W1.shape;
    const other = buildNet(rt, { ...SPECS.mlp, options: { ...SPECS.mlp.options, inputSize: rows + 1 } } as typeof SPECS.mlp);
    // the net's three weights and one more: W1..W3 match, W4 is no parameter of the net
    const stray = new Sequential(rt, [...Object.values(net.params).filter((_, i) => i % 2 === 0).map((W) => new Affine(rt.tensor(W.shape), rt.tensor([W.shape[1]]))),
      new Affine(rt.tensor([4, 4]), rt.tensor([4]))]);
    for (const [from, message] of [
      [other, new RegExp(`^saveModel: the optimizer's state for 'W1' is \\[${rows + 1}, ${cols}\\], the net's 'W1' is \\[${rows}, ${cols}\\] \\(an optimizer of another net\\?\\)$`)],
      [stray, /^saveModel: the optimizer holds state for 'W4', which is no parameter of the net/],
    ] as const) {
      const optimizer = createOptimizer('adam');
      optimizer.update(from.params, from.params); // any gradients: the state is made for from's parameters
      expect(() => saveModel(net, { optimizer }), String(message)).toThrow(message);
      optimizer.dispose();
    }
    // state for a subset of the parameters (layers kept frozen) loads, so it saves
    const subset = createOptimizer('adam');
    subset.update({ W1: net.params.W1 }, { W1: net.grads.W1 });
    const loaded = loadModel(rt, saveModel(net, { optimizer: subset }));
    expect(Object.keys(loaded.optimizer!.state().params)).toEqual(['W1']);
    loaded.net.dispose();
    loaded.optimizer!.dispose();
    subset.dispose();
    for (const n of [net, other, stray]) n.dispose();
  });
});

// ---- files written by hand: dtypes and malformed headers

type Entry = { dtype: string; shape: number[]; data_offsets: [number, number] };

/** A safetensors file from a header object and a data section, exactly as given (no checks). */
function file(header: Record<string, unknown> | string, data: Uint8Array, headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength ?? json.length, true);
  view.setUint32(4, headerLength === undefined ? 0 : Math.floor(headerLength / 2 ** 32), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const tinySpec: NetSpec = { kind: 'mlp', options: { inputSize: 3, hiddenSizeList: [], outputSize: 2 } };
const tinyMeta = { __metadata__: { 'simdnn.net': JSON.stringify(tinySpec) } };

function encode(dtype: string, values: number[]): Uint8Array {
  const size = { F32: 4, F64: 8, F16: 2, BF16: 2 }[dtype]!;
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (dtype === 'F32') view.setFloat32(i * size, v, true);
    else if (dtype === 'F64') view.setFloat64(i * size, v, true);
    else if (dtype === 'BF16') view.setUint16(i * size, new Uint32Array(new Float32Array([v]).buffer)[0] >>> 16, true);
    else view.setUint16(i * size, f16(v), true);
  });
  return out;
}

/** float -> IEEE half for values exactly representable in it (the test's). */
function f16(v: number): number {
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  if (v === 0) return sign;
  if (!Number.isFinite(v)) return sign | 0x7c00;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  if (e < -14) return sign | Math.round(a / 2 ** -24);
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}

/** The tiny net's W1 [3, 2] and b1 [2] in `dtype`. */
function tinyFile(dtype: string, W: number[], b: number[], extra: Record<string, unknown> = {}): Uint8Array {
  const w = encode(dtype, W), bb = encode(dtype, b);
  const data = new Uint8Array(w.length + bb.length);
  data.set(w);
  data.set(bb, w.length);
  return file({ ...tinyMeta, W1: { dtype, shape: [3, 2], data_offsets: [0, w.length] }, b1: { dtype, shape: [2], data_offsets: [w.length, data.length] }, ...extra }, data);
}

describe('dtypes', () => {
  it('loads F32, F64, F16 and BF16 files, converting to float32', () => {
    const W = [0.5, -1.25, 2, 0.0009765625, -3.5, 65504], b = [0.25, -0.125];
    for (const dtype of ['F32', 'F64', 'F16', 'BF16']) {
      const { net } = loadModel(rt, tinyFile(dtype, W, b));
      const wantW = dtype === 'BF16' ? W.map((v) => new Float32Array(new Uint32Array([(new Uint32Array(new Float32Array([v]).buffer)[0] >>> 16) << 16]).buffer)[0]) : W;
      expect(Array.from(net.params.W1.toArray()), dtype).toEqual(wantW);
      expect(Array.from(net.params.b1.toArray()), dtype).toEqual(b);
      net.dispose();
    }
    // F64 rounds to the nearest float32; F16 subnormals and infinities are exact
    const { net } = loadModel(rt, tinyFile('F64', [0.1, 1 / 3, 1e-50, -2, 2 ** -20, 7], [1, 2]));
    expect(Array.from(net.params.W1.toArray())).toEqual(Array.from(Float32Array.from([0.1, 1 / 3, 1e-50, -2, 2 ** -20, 7])));
    net.dispose();
    const h = loadModel(rt, tinyFile('F16', [2 ** -24, -(2 ** -20), Infinity, -Infinity, 0, -0], [1, 2]));
    expect(Array.from(h.net.params.W1.toArray())).toEqual([2 ** -24, -(2 ** -20), Infinity, -Infinity, 0, -0]);
    h.net.dispose();
  });

  it('loads a file without simdnn metadata when the architecture is given', () => {
    const bytes = tinyFile('F32', [1, 2, 3, 4, 5, 6], [7, 8], { __metadata__: { format: 'np' } });
    expect(() => loadModel(rt, bytes)).toThrow(/has no 'simdnn.net' \(the architecture\); pass options.spec/);
    const { net, metadata } = loadModel(rt, bytes, { spec: tinySpec });
    expect(Array.from(net.params.b1.toArray())).toEqual([7, 8]);
    expect(metadata).toEqual({ format: 'np' });
    net.dispose();
  });
});

describe('malformed files', () => {
  const good = tinyFile('F32', [1, 2, 3, 4, 5, 6], [7, 8]);
  const w = (offsets: [number, number], shape = [3, 2], dtype = 'F32'): Entry => ({ dtype, shape, data_offsets: offsets });
  const data32 = new Uint8Array(32);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['fewer than 8 bytes', good.slice(0, 5), /fewer than the 8 of the header length/],
    ['header length past the end', file(tinyMeta, new Uint8Array(0), 5000), /header length is 5000 bytes, past the end of the \d+-byte file/],
    ['header length over 100 MB', file(tinyMeta, new Uint8Array(0), MAX_HEADER_BYTES + 1), /over the 100000000-byte limit/],
    ['header length of 2^40', file(tinyMeta, new Uint8Array(0), 2 ** 40), /1099511627776 bytes, over the 100000000-byte limit/],
    ['invalid JSON', file('{"W1": {', data32), /the header is not valid JSON/],
    ['not an object', file('[1, 2, 3]', data32), /the header must be a JSON object/],
    ['invalid UTF-8', (() => { const f = file('{"a":1}', data32); f[10] = 0xff; return f; })(), /not valid UTF-8/],
    ['metadata value not a string', file({ __metadata__: { epochs: 3 } }, new Uint8Array(0)), /__metadata__.epochs must be a string, got 3/],
    ['unknown dtype', file({ ...tinyMeta, W1: w([0, 24], [3, 2], 'F17'), b1: w([24, 32], [2]) }, data32), /tensor 'W1': unknown dtype "F17"/],
    ['a dtype simdnn does not read', file({ ...tinyMeta, W1: w([0, 24], [3, 2], 'I32'), b1: w([24, 32], [2]) }, data32), /tensor 'W1' has dtype I32; simdnn reads F32, F16, BF16 and F64/],
    ['offsets outside the data', file({ ...tinyMeta, W1: w([0, 24]), b1: w([24, 32], [2]) }, new Uint8Array(28)), /tensor 'b1' \[24, 32\) lies outside the data \(28 bytes\)/],
    ['overlapping offsets', file({ ...tinyMeta, W1: w([0, 24]), b1: w([16, 24], [2]) }, new Uint8Array(24)), /tensor 'b1' \[16, 24\) overlaps tensor 'W1'/],
    ['a gap between tensors', file({ ...tinyMeta, W1: w([0, 24]), b1: w([28, 36], [2]) }, new Uint8Array(36)), /starts at 28, leaving a gap after byte 24/],
    ['bytes after the last tensor', file({ ...tinyMeta, W1: w([0, 24]), b1: w([24, 32], [2]) }, new Uint8Array(40)), /8 bytes after the last tensor/],
    ['reversed offsets', file({ ...tinyMeta, W1: w([24, 0]), b1: w([24, 32], [2]) }, data32), /data_offsets must be \[begin, end\] with 0 <= begin <= end/],
    ['shape product not the byte length', file({ ...tinyMeta, W1: w([0, 24], [3, 3]), b1: w([24, 32], [2]) }, data32), /shape \[3, 3\] of F32 needs 36 bytes, data_offsets give 24/],
    ['absurd shape', file({ ...tinyMeta, W1: w([0, 24], [2 ** 40, 2 ** 40]), b1: w([24, 32], [2]) }, data32), /more elements than any file can hold/],
    ['negative dimension', file({ ...tinyMeta, W1: w([0, 24], [-3, -2]), b1: w([24, 32], [2]) }, data32), /shape \[-3, -2\] must hold non-negative integers/],
    ['fractional dimension', file({ ...tinyMeta, W1: w([0, 24], [1.5, 4]), b1: w([24, 32], [2]) }, data32), /must hold non-negative integers/],
    ['a tensor missing for the architecture', file({ ...tinyMeta, W1: w([0, 24]) }, new Uint8Array(24)), /the file has no tensor 'b1' for the architecture/],
    ['a tensor of the wrong shape', file({ ...tinyMeta, W1: w([0, 24], [2, 3]), b1: w([24, 32], [2]) }, data32), /tensor 'W1' has shape \[2, 3\], the architecture needs \[3, 2\]/],
    ['a tensor not in the architecture', file({ ...tinyMeta, W1: w([0, 24]), b1: w([24, 32], [2]), W9: w([32, 32], [0]) }, data32), /tensor 'W9' is not part of the architecture/],
    ['an architecture of absurd size', file({ __metadata__: { 'simdnn.net': JSON.stringify({ kind: 'mlp', options: { inputSize: 1e6, hiddenSizeList: [1e6, 1e6], outputSize: 10 } }) } }, new Uint8Array(0)),
      /the architecture in the file is not usable \(MultiLayerNet: W1: \[1000000, 1000000\] has 1000000000000 elements/],
    ['a conv net option the constructor refuses', file({ __metadata__: { 'simdnn.net': JSON.stringify({ kind: 'simple-conv', options: { foo: 1 } }) } }, new Uint8Array(0)),
      /the architecture in the file is not usable \(SimpleConvNet: unknown option 'foo'/],
    ['an unknown net kind', file({ __metadata__: { 'simdnn.net': '{"kind":"resnet","options":{}}' } }, new Uint8Array(0)), /architecture in the file is not usable .*kind: expected one of mlp/],
    ['an architecture that is not JSON', file({ __metadata__: { 'simdnn.net': 'mlp 784-100-10' } }, new Uint8Array(0)), /'simdnn.net'\] is not valid JSON/],
  ];

  // a header of F32 zeros laid out in order: [name, shape] per tensor
  const laidOut = (metadata: Record<string, string>, tensors: Array<[string, number[]]>): Uint8Array => {
    const header: Record<string, unknown> = { __metadata__: metadata };
    let at = 0;
    for (const [name, shape] of tensors) {
      const bytes = 4 * shape.reduce((a, b) => a * b, 1);
      header[name] = { dtype: 'F32', shape, data_offsets: [at, at + bytes] };
      at += bytes;
    }
    return file(header, new Uint8Array(at));
  };
  const adamMeta = { ...tinyMeta.__metadata__, 'simdnn.optimizer': JSON.stringify({ name: 'adam', options: {}, t: 3 }) };
  const tinyParams: Array<[string, number[]]> = [['W1', [3, 2]], ['b1', [2]]];
  const bnSpec: NetSpec = { kind: 'mlp-extend', options: { inputSize: 3, hiddenSizeList: [2], outputSize: 2, useBatchnorm: true } };
  const bnParams: Array<[string, number[]]> = [['W1', [3, 2]], ['b1', [2]], ['gamma1', [2]], ['beta1', [2]], ['W2', [2, 2]], ['b2', [2]], ['runningMean1', [2]], ['runningVar1', [2]]];
  cases.push(
    ['a tensor named as an Object member', laidOut(tinyMeta.__metadata__, [...tinyParams, ['constructor', [1]]]), /tensor 'constructor' is not part of the architecture/],
    ['optimizer state named as an Object member', laidOut(adamMeta, [...tinyParams, ['optimizer.m.__proto__', [1]]]), /optimizer tensor 'optimizer\.m\.__proto__' names no parameter of the net/],
    ['optimizer state for layer state', laidOut({ 'simdnn.net': JSON.stringify(bnSpec), 'simdnn.optimizer': adamMeta['simdnn.optimizer'] }, [...bnParams, ['optimizer.m.runningMean1', [2]], ['optimizer.v.runningMean1', [2]]]),
      /optimizer tensor 'optimizer\.m\.runningMean1' names no parameter of the net/],
    ['optimizer state the optimizer does not keep', laidOut(adamMeta, [...tinyParams, ['optimizer.z.b1', [2]]]), /optimizer tensor 'optimizer\.z\.b1' is no state of the saved optimizer \(it keeps m, v\)/],
    ['a parameter\'s optimizer state in part', laidOut(adamMeta, [...tinyParams, ['optimizer.m.b1', [2]]]), /the file has no tensor 'optimizer\.v\.b1' beside the saved optimizer's other state for 'b1'/],
    ['constructor options the net refuses', file({ __metadata__: { 'simdnn.net': JSON.stringify({ kind: 'mlp', options: { ...tinySpec.options, foo: 1 } }) }, W1: w([0, 24]), b1: w([24, 32], [2]) }, data32),
      /the architecture in the file is not usable \(MultiLayerNet: unknown option 'foo'/],
  );

  // the same header as text, with W1's entry spelled out: a repeated key is only seen in the text
  const entry = (offsets: [number, number], shape = [3, 2]) => JSON.stringify(w(offsets, shape));
  const meta = JSON.stringify(tinyMeta.__metadata__);
  const text = (...members: string[]) => file(`{${members.join(',')}}`, data32);
  cases.push(
    ['a tensor named twice', text(`"__metadata__":${meta}`, `"W1":${entry([0, 24])}`, `"b1":${entry([24, 32], [2])}`, `"b1":${entry([32, 40], [2])}`),
      /^safetensors: the header holds tensor 'b1' twice \(a reader would keep one of them\)$/],
    ['a tensor named twice, once with an escape', text(`"__metadata__":${meta}`, `"W1":${entry([0, 24])}`, `"b1":${entry([24, 32], [2])}`, `"b\\u0031":${entry([24, 32], [2])}`),
      /the header holds tensor 'b1' twice/],
    ['__metadata__ twice', text(`"__metadata__":${meta}`, `"W1":${entry([0, 24])}`, `"__metadata__":{"a":"b"}`, `"b1":${entry([24, 32], [2])}`),
      /^safetensors: the header holds '__metadata__' twice/],
    ['a metadata key twice', text(`"__metadata__":{"note":"x","simdnn.net":${JSON.stringify(JSON.stringify(tinySpec))},"note":"y"}`, `"W1":${entry([0, 24])}`, `"b1":${entry([24, 32], [2])}`),
      /^safetensors: the header repeats the key 'note' in '__metadata__'$/],
    ['a tensor entry\'s field twice', text(`"__metadata__":${meta}`, `"W1":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24],"dtype":"F16"}`, `"b1":${entry([24, 32], [2])}`),
      /^safetensors: the header repeats the key 'dtype' in 'W1'$/],
  );

  it('each gets a clear error before anything is allocated', () => {
    const random = rt.randomState;
    for (const [what, bytes, message] of cases) {
      const before = rt.memoryStats();
      expect(() => loadModel(rt, bytes), what).toThrow(message);
      expect(() => loadModel(rt, bytes), what).toThrow(SafetensorsError);
      expect(rt.memoryStats(), `${what}: nothing allocated`).toEqual(before);
    }
    expect(rt.randomState).toEqual(random);
  });

  it('values read that the net cannot use are refused, and free the net: a negative running variance, an F64 beyond float32, optimizer state out of range', () => {
    const before = rt.memoryStats();
    const bn = buildNet(rt, { kind: 'mlp-extend', options: { inputSize: 3, hiddenSizeList: [2], outputSize: 2, useBatchnorm: true } });
    bn.state.runningVar1.data[1] = -0.5;
    expect(() => loadModel(rt, saveModel(bn))).toThrow(/^loadModel: tensor 'runningVar1' holds -0\.5 at index 1; a running variance is never negative or NaN$/);
    bn.state.runningVar1.data[1] = NaN;
    expect(() => loadModel(rt, saveModel(bn))).toThrow(/tensor 'runningVar1' holds NaN at index 1/);
    bn.dispose();
    expect(() => loadModel(rt, tinyFile('F64', [1, 2, 3e38, 4e38, 5, 6], [7, 8]))).toThrow(/^loadModel: tensor 'W1': an F64 value 4e\+38 is beyond float32's range \(it would become Infinity\)$/);
    expect(() => loadModel(rt, cut(tinyFile('F64', [1, 2, 3, 4, 5, 6], [7, -1e39]), [3, 5]))).toThrow(/^loadModel: tensor 'b1': an F64 value -1e\+39 is beyond float32's range \(it would become -Infinity\)$/);
    const opt = createOptimizer('adam');
    const net = buildNet(rt, tinySpec);
    opt.update(net.params, net.params);
    const bytes = saveModel(net, { optimizer: opt });
    // v is a running sum of squares: a file with v = −1 is refused by the optimizer's own check, as a SafetensorsError
    const json = new TextDecoder().decode(bytes.subarray(8, 8 + new DataView(bytes.buffer).getUint32(0, true)));
    const vAt = 8 + json.length + JSON.parse(json)['optimizer.v.b1'].data_offsets[0];
    new DataView(bytes.buffer).setFloat32(vAt, -1, true);
    expect(() => loadModel(rt, bytes)).toThrow(SafetensorsError);
    expect(() => loadModel(rt, bytes)).toThrow(/^loadModel: the saved optimizer's state is not usable \(Adam\.loadState: params\['b1'\]\.v\[0\] is -1; v is a running sum of squares, never negative\)$/);
    for (const d of [net, opt]) d.dispose();
    expect(rt.memoryStats().used).toBe(before.used);
  });

  it('inspectModel refuses each as loadModel does', () => {
    for (const [what, bytes, message] of cases) {
      expect(() => inspectModel(bytes), what).toThrow(SafetensorsError);
      expect(() => inspectModel(bytes), what).toThrow(new RegExp(message.source.replace(/^\^loadModel/, '^inspectModel')));
    }
    const badOptions = file({ ...tinyMeta, __metadata__: { ...adamMeta, 'simdnn.optimizer': JSON.stringify({ name: 'adam', options: { beta1: 2 }, t: 3 }) }, W1: w([0, 24]), b1: w([24, 32], [2]) }, data32);
    expect(() => inspectModel(badOptions)).toThrow(/^inspectModel: the saved optimizer cannot be rebuilt \(.*beta1/);
    expect(() => loadModel(rt, badOptions)).toThrow(/^loadModel: the saved optimizer cannot be rebuilt \(.*beta1/);
  });

  it('keys are repeated only within one object: quotes, braces and colons inside strings, and the same field in every tensor, are no repeat', () => {
    const odd = { 'simdnn.net': JSON.stringify(tinySpec), '': '"{"a":1}"', 'a\\":{': 'b1', 'b1': '}]:"b1":' };
    const bytes = tinyFile('F32', [1, 2, 3, 4, 5, 6], [7, 8], { __metadata__: odd });
    const { net, metadata } = loadModel(rt, bytes);
    expect(metadata).toEqual({ '': '"{"a":1}"', 'a\\":{': 'b1', 'b1': '}]:"b1":' });
    net.dispose();
    expect(inspectModel(bytes).metadata).toEqual(odd);
  });

  it('inspectModel refuses an architecture loadModel could not build, as a SafetensorsError; the exported decoders check their arguments', () => {
    const resnet = file({ __metadata__: { 'simdnn.net': '{"kind":"resnet","options":{}}' } }, new Uint8Array(0));
    expect(() => inspectModel(resnet)).toThrow(SafetensorsError);
    expect(() => inspectModel(resnet)).toThrow(/^inspectModel: the architecture in the file is not usable \(architecture\.kind: expected one of mlp/);
    const huge = file({ __metadata__: { 'simdnn.net': JSON.stringify({ kind: 'mlp', options: { inputSize: 3, hiddenSizeList: [0], outputSize: 2 } }) } }, new Uint8Array(0));
    expect(() => inspectModel(huge)).toThrow(/inspectModel: the architecture in the file is not usable \(.*hiddenSizeList\[0\] must be a positive integer/);
    expect(() => readHeaderLength([1, 0, 0, 0, 0, 0, 0, 0] as never)).toThrow(/^readHeaderLength: expected the file's first bytes as a Uint8Array, got \[object Array\]$/);
    const max = new Uint8Array(8).fill(0xff);
    max[7] = 0x7f;
    expect(() => readHeaderLength(max)).toThrow(/the header length is 9223372036854775807 bytes/);
    const out = new Float32Array(2);
    expect(() => decodeFloats('F32', new Uint8Array(12), out, 0)).toThrow(/^decodeFloats: 12 bytes of F32 \(4-byte elements\) do not fit a Float32Array of 2 from index 0$/);
    expect(() => decodeFloats('F16', new Uint8Array(3), out, 0)).toThrow(/3 bytes of F16 \(2-byte elements\) do not fit/);
    expect(() => decodeFloats('toString', new Uint8Array(4), out, 0)).toThrow(/dtype toString is not a float type simdnn reads/);
    // an F64 beyond float32 is found before anything is written
    out.fill(7);
    expect(() => decodeFloats('F64', encode('F64', [1, 1e39]), out, 0)).toThrow(/an F64 value 1e\+39 is beyond float32's range/);
    expect(Array.from(out)).toEqual([7, 7]);
    expect(() => encodeHeader([{ name: 'W', shape: [2], dtype: 'I32' as 'F32' }], {})).toThrow(/^safetensors: tensor 'W': simdnn writes F32 or F64, got "I32"$/);
    expect(() => encodeHeader([{ name: 'W', shape: [-2, 0.5] }], {})).toThrow(/^safetensors: tensor 'W': shape \[-2, 0\.5\] must hold non-negative integers$/);
    expect(() => encodeHeader([{ name: 'W', shape: [2] }, { name: 'W', shape: [3] }], {})).toThrow(/tensor name 'W' is reserved or repeated/);
    // names of Object's members are tensors like any other
    const names = encodeHeader([{ name: 'constructor', shape: [1] }, { name: '__proto__', shape: [2] }], { note: 'x' });
    const json = names.subarray(8, 8 + readHeaderLength(names));
    expect(parseHeader(json).tensors.map((t) => [t.name, t.begin, t.end])).toEqual([['constructor', 0, 4], ['__proto__', 4, 12]]);
  });

  it('a file that ends early in chunks without a known length frees the net it built', () => {
    const before = rt.memoryStats();
    expect(() => loadModel(rt, cut(good.slice(0, good.length - 3), [10]))).toThrow(/the file ends at byte \d+, inside tensor 'b1' \(3 bytes short\)/);
    expect(rt.memoryStats().used).toBe(before.used);
    expect(() => loadModel(rt, cut(good.slice(0, good.length - 3), [10]), { byteLength: good.length - 3 })).toThrow(/lies outside the data/);
    expect(() => loadModel(rt, [good, new Uint8Array(4)])).toThrow(/bytes after the last tensor/);
    expect(rt.memoryStats().used).toBe(before.used);
    expect(() => loadModel(rt, 'model' as unknown as Uint8Array)).toThrow(/source must be a Uint8Array or an iterable of Uint8Array chunks/);
  });
});

describe('a runtime too small for the file\'s net', () => {
  it('loadModel throws OutOfMemoryError (a RangeError), not a SafetensorsError that would blame the file, and keeps nothing', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [1000, 1000], outputSize: 10 });
    const bytes = saveModel(net);
    net.dispose();
    const small = await makeRuntime({ memory: { initial: 16, maximum: 32 } }); // 2 MiB: the net's 7 MB do not fit
    const before = small.memoryStats().used;
    let error: unknown;
    try { loadModel(small, bytes); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(OutOfMemoryError);
    expect(error).toBeInstanceOf(RangeError);
    expect(error).not.toBeInstanceOf(SafetensorsError);
    expect((error as Error).message).toMatch(/^out of memory: a \d+-byte allocation needs/);
    expect(small.memoryStats().used).toBe(before);
    small.dispose();
  });
});

describe('a checkpoint\'s best epoch (best.<name> tensors)', () => {
  it('saves and loads every parameter and state of the net, and refuses a partial, misshapen or foreign one', () => {
    const { net, opt } = trained(SPECS['mlp-extend']);
    opt.dispose();
    const exported = net.exportParams();
    const best = Object.fromEntries(Object.entries(exported).map(([k, v]) => [k, { shape: v.shape, data: v.data.map((x) => x * 2) }]));
    const bytes = saveModel(net, { best });
    const loaded = loadModel(rt, bytes);
    expect(Object.keys(loaded.best!).sort()).toEqual(Object.keys(exported).sort());
    for (const [k, v] of Object.entries(best)) expectBits(loaded.best![k].data, v.data, k);
    expect(inspectModel(bytes).parameterCount).toBe(Object.values(exported).reduce((n, p) => n + p.data.length, 0));
    expect(loadModel(rt, saveModel(net)).best).toBeUndefined();
    loaded.net.dispose();
    const { W1: _w1, ...partial } = best;
    expect(() => saveModel(net, { best: partial })).toThrow(/saveModel: best\['W1'\] is missing \(best holds every parameter and state of the net\)/);
    expect(() => saveModel(net, { best: { ...best, W9: best.W1 } })).toThrow(/saveModel: best\['W9'\] is no parameter or state of the net/);
    expect(() => saveModel(net, { best: { ...best, b1: { shape: [3], data: new Float32Array(3) } } })).toThrow(/saveModel: best\['b1'\] must have the shape \[8\] and 8 values/);
    expect(() => saveModel(net, { best: 5 as never })).toThrow(/saveModel: best must be an object/);
    // files with a part of a best epoch, a misshapen or a foreign one; a negative running variance among them
    const W = [1, 2, 3, 4, 5, 6], b = [0.5, -0.5];
    const data = new Uint8Array([...encode('F32', W), ...encode('F32', b), ...encode('F32', W)]);
    const withBest = (name: string, shape: number[]) => file({
      ...tinyMeta, W1: { dtype: 'F32', shape: [3, 2], data_offsets: [0, 24] }, b1: { dtype: 'F32', shape: [2], data_offsets: [24, 32] },
      [name]: { dtype: 'F32', shape, data_offsets: [32, 56] },
    }, data);
    expect(() => loadModel(rt, withBest('best.W1', [3, 2]))).toThrow(/loadModel: the file has no tensor 'best\.b1' beside its other 'best\.' tensors \(a checkpoint's best epoch\)/);
    expect(() => loadModel(rt, withBest('best.W1', [2, 3]))).toThrow(/loadModel: tensor 'best\.W1' has shape \[2, 3\], 'W1' has \[3, 2\]/);
    expect(() => loadModel(rt, withBest('best.W7', [3, 2]))).toThrow(/loadModel: tensor 'best\.W7' \(a checkpoint's best epoch\) names no parameter or state of the net/);
    const used = rt.memoryStats().used;
    const negative = saveModel(net, { best: { ...best, runningVar1: { shape: best.runningVar1.shape, data: best.runningVar1.data.map(() => -1) } } });
    expect(() => loadModel(rt, negative)).toThrow(/loadModel: tensor 'best\.runningVar1' holds -1 at index 0; a running variance is never negative or NaN/);
    expect(rt.memoryStats().used).toBe(used);
    net.dispose();
  });
});
