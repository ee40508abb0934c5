// Tests that kill mutants of the ONNX export and import (session 66): each pins a behaviour the
// onnx-export and onnx-import tests could not see change. Non-square filters and windows (their
// kernel_shape, output sizes and the border floor of padded max pooling, run in ONNX Runtime and read
// back), a 2-D sample flattened before its Gemm; the decoder's int64 varints past 2^28, a varint cut by
// its message's end, field numbers past 2^29 − 1, unpacked float_data, a dimension with neither size nor
// name, a type's denotation, metadata; on import, Gemm's alpha taking a weight below float32's precision,
// a broadcast bias, Transpose's default perm, the ≥ 0 tracking that lets a padded MaxPool through,
// ceil_mode per axis, the norms' default epsilon, BatchNormalization's momentum, Dropout's default
// ratio, a raw_data int64 shape, a shape of too few values, nodes out of order, a Pad of the channels or
// of non-zeros, a Softmax over images, an attribute given twice, 16-bit patterns, opset imports,
// initializers listed as inputs (IR < 4), Reshape's allowzero, SAME padding of a non-square kernel; the
// CLI's atomic write; a final Softmax after GlobalAveragePool over the classes only, batch norm's momentum
// written, options.inputShape's size. Then a sweep of odd but well-formed models and of bad options.
// (.node: ONNX Runtime Web's loader in Node is what runs the models here.)
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { link, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeRuntime, randomArray, expectBits } from './helpers/runtime.js';
import * as ort from 'onnxruntime-web';
import {
  FLOAT, INT64, float, init, int, int64s, ints, model, node, onnx, ortRun, str, valueInfo, type Dim, type GraphSpec, type IAttribute, type INode, type ITensor,
} from './helpers/onnx.js';
import { expectRefused, type ErrorClass } from './helpers/refused.js';
import { runCli } from './helpers/cli.js';
import { Affine, BatchNormalization, Convolution, Dropout, MultiLayerNet, Pooling, Sequential, Tanh } from '../src/index.js';
import { exportOnnx, importOnnx, inspectOnnx, OnnxError, type ExportOnnxOptions } from '../src/io/onnx/index.js';
import { decodeOnnx } from '../src/io/onnx/decode.js';
import { ProtoWriter } from '../src/io/onnx/encode.js';
import { GRAPH, MODEL, TENSOR } from '../src/io/onnx/fields.js';
import { writeModelFile } from '../src/node/model-file.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';


let rt: Runtime;
let tmp: string;
beforeAll(async () => {
  rt = await makeRuntime({ seed: 66 });
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-mut-onnx-'));
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
});
afterAll(async () => {
  for (const x of owned) x.dispose();
  rt?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

let seed = 6600;
const rand = (n: number, lo = -1, hi = 1) => randomArray(n, seed++, lo, hi);
const owned: Tensor[] = [];
const t = (shape: number[], lo = -1, hi = 1) => {
  const x = rt.tensor(shape, rand(shape.reduce((a, b) => a * b, 1), lo, hi));
  owned.push(x);
  return x;
};

// ---- models built with onnx-proto, as in onnx-import.node.test.ts ----------------------------------------

const refused = (bytes: Uint8Array, message: RegExp) => expectRefused(rt, () => importOnnx(rt, bytes), OnnxError, message);

/** 32 float32 ulps of the output's scale, as onnx-export.node.test.ts allows ORT (a mapping gone wrong moves outputs by 1e-3 of it and more). */
function expectNear(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const scale = Math.max(1, ...Array.from(want, Math.abs));
  let d = 0;
  for (let i = 0; i < want.length; i++) d = Math.max(d, Number.isNaN(got[i] - want[i]) ? Infinity : Math.abs(got[i] - want[i]));
  expect(d, `${what}: max |difference| over outputs up to ${scale}`).toBeLessThanOrEqual(32 * 2 ** -23 * scale);
}

/** Exports net; expects ORT to give net.predict(x) and the import to give its very bits; returns the bytes. */
async function expectExportRuns(net: Sequential, x: Tensor, options: ExportOnnxOptions = {}): Promise<Uint8Array> {
  const bytes = exportOnnx(net, options);
  const y = net.predict(x), want = y.toArray();
  y.dispose();
  expectNear(await ortRun(bytes, 'x', x.toArray(), [...x.shape]), want, 'ORT against predict');
  const back = importOnnx(rt, bytes, options.inputShape ? { inputShape: [...options.inputShape] } : {});
  const z = back.net.predict(x);
  expectBits(z.toArray(), want, 'predict after the round trip');
  z.dispose();
  back.net.dispose();
  return bytes;
}

const attrsOf = (bytes: Uint8Array, op: string) => {
  const n = decodeOnnx(bytes).graph.nodes.find((x) => x.opType === op)!;
  return Object.fromEntries(n.attributes.map((a) => [a.name, a.ints.length ? a.ints : a.i ?? a.f]));
};

describe('export: non-square filters and windows, in ONNX Runtime and back', () => {
  it('a 2×3 filter: kernel_shape [FH, FW] and the output width from FW', async () => {
    const net = new Sequential(rt, [new Convolution(t([3, 2, 2, 3], -0.5, 0.5), t([3]), 1, 1), new Tanh()], { inputShape: [2, 5, 7] });
    const bytes = await expectExportRuns(net, t([2, 2, 5, 7]));
    expect(attrsOf(bytes, 'Conv').kernel_shape).toEqual([2, 3]);
    expect(decodeOnnx(bytes).graph.outputs[0].shape, 'H 5 + 2 − 2 + 1, W 7 + 2 − 3 + 1').toEqual(['N', 3, 6, 7]);
    net.dispose();
  });

  it('padded max pooling of a 2×3 window on values < 0: the floor is 0 on exactly the windows that reach the padding, per axis', async () => {
    // negative values everywhere (a bias of −3 under tanh): a window's max is 0 exactly when it reaches the padding
    const b = rt.tensor([2], Float32Array.of(-3, -3));
    owned.push(b);
    const net = new Sequential(rt, [new Convolution(t([2, 1, 1, 1], 0.1, 0.2), b, 1, 0), new Tanh(), new Pooling(2, 3, 1, 1)], { inputShape: [1, 4, 6] });
    const x = t([2, 1, 4, 6]);
    const bytes = await expectExportRuns(net, x);
    const floor = decodeOnnx(bytes).graph.initializers.find((i) => i.name.endsWith('.padded'))!;
    expect(floor.dims).toEqual([5, 6]);
    // rows: windows start at o − 1 (height 2) on 4 rows: o = 0 and o = 4 reach the padding; columns: start o − 1 (width 3) on 6: o = 0 and o = 5
    const want = Float32Array.from({ length: 30 }, (_, i) => ([0, 4].includes(Math.floor(i / 6)) || [0, 5].includes(i % 6) ? 0 : -Infinity));
    expectBits(new Float32Array(floor.rawData!.slice().buffer), want, 'the Max floor');
    const y = net.predict(x);
    expect(Array.from(y.toArray()).filter((v) => v === 0).length, 'the border windows take the padded zeros').toBe(2 * 2 * (30 - 12));
    y.dispose();
    net.dispose();
  });

  it('a 2-D sample ([4, 4]) is flattened before its Gemm', async () => {
    const net = new Sequential(rt, [new Affine(t([16, 3]), t([3]))]);
    const bytes = await expectExportRuns(net, t([2, 4, 4]), { inputShape: [4, 4] });
    expect(decodeOnnx(bytes).graph.nodes.map((n) => n.opType)).toEqual(['Flatten', 'Gemm']);
    net.dispose();
  });
});

describe('decodeOnnx: the numbers as written', () => {
  it('int64 varints around 2^28 … 2^35 and negative ones, packed and not', () => {
    const values = [2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 + 5, 2 ** 34 + 3, 2 ** 35 - 1, 2 ** 49 + 7, -(2 ** 31), -(2 ** 32) - 1, -2];
    const bytes = onnx.ModelProto.encode({ graph: { initializer: [{ name: 't', dims: values, int64Data: values }] } }).finish();
    const got = decodeOnnx(new Uint8Array(bytes)).graph.initializers[0];
    expect(got.dims).toEqual(values);
    expect(got.int64Data).toEqual(values);
    // ProtoWriter's packed run of negative values: its length counts 10 bytes a value (a strict reader sees a lie)
    const tensor = ProtoWriter.encode((w) => w.message(MODEL.graph, (g) => g.message(GRAPH.initializer, (i) => { i.packedInts(TENSOR.dims, [-1, 3, -(2 ** 40)]); i.string(TENSOR.name, 'n'); })));
    expect(decodeOnnx(tensor).graph.initializers[0]).toMatchObject({ dims: [-1, 3, -(2 ** 40)], name: 'n' });
  });

  it('a varint cut by the end of its message is refused though bytes follow the message', () => {
    // opset_import { version: a varint whose last byte is missing }, then an empty graph
    expect(() => decodeOnnx(Uint8Array.of(0x42, 2, 0x10, 0x8d, 0x3a, 0)))
      .toThrow(/^onnx: ModelProto\.opset_import\[0\]: a varint runs past the end of the message \(1 bytes left\) \(at byte 3\)$/);
  });

  it('a field number beyond protobuf\'s 2^29 − 1 is refused, not skipped', () => {
    // key varint of field 2^29, wire type 0: (2^29 << 3) = 2^32, as 5 bytes; then a varint value
    expect(() => decodeOnnx(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x10, 0)))
      .toThrow(/^onnx: ModelProto: field number 536870912 is not a valid one \(at byte 0\)$/);
  });

  it('float_data in unpacked fields (one fixed32 each), several runs joined in order', () => {
    const f32 = (v: number) => Array.from(new Uint8Array(Float32Array.of(v).buffer));
    // TensorProto: float_data (4) as three unpacked values, then a packed run of two
    const tensorBytes = [0x25, ...f32(1.5), 0x25, ...f32(-2), 0x25, ...f32(0.25), 0x22, 8, ...f32(3), ...f32(-0)];
    const bytes = Uint8Array.from([0x3a, tensorBytes.length + 2, 0x2a, tensorBytes.length, ...tensorBytes]);
    expectBits(decodeOnnx(bytes).graph.initializers[0].floatData, Float32Array.of(1.5, -2, 0.25, 3, -0), 'float_data');
  });

  it('a dimension with neither dim_value nor dim_param is unknown: options.inputShape gives it', () => {
    const bytes = model({
      nodes: [node('Relu', ['x'], ['r']), node('Gemm', ['r', 'W', 'b'], ['y'], { transB: int(1) })],
      inits: [init('W', [2, 3], rand(6)), init('b', [2], rand(2))], input: ['x', [null, null]], output: ['y', [null, 2]],
    });
    expect(decodeOnnx(bytes).graph.inputs[0].shape).toEqual([null, null]);
    expectRefused(rt, () => importOnnx(rt, bytes), OnnxError, /the graph's input 'x' is \[\?, \?\]: dimension 1 is not a size; give options\.inputShape/);
    const info = inspectOnnx(bytes, { inputShape: [3] });
    expect([info.inputShape, info.batch]).toEqual([[3], null]);
  });

  it('a type\'s denotation beside its tensor_type leaves it a tensor', () => {
    const bytes = onnx.ModelProto.encode({
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        node: [node('Relu', ['x'], ['y'])],
        input: [{ name: 'x', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: 3 }] } }, denotation: 'TENSOR' } }],
        output: [valueInfo('y', ['N', 3])],
      },
    }).finish();
    expect(inspectOnnx(new Uint8Array(bytes)).inputShape).toEqual([3]);
  });

  it('metadata_props: each key with its value; a named net\'s spec comes back as it went', () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const info = inspectOnnx(exportOnnx(net));
    expect(Object.keys(info.metadata)).toEqual(['simdnn.net']);
    expect(JSON.parse(info.metadata['simdnn.net'])).toEqual(net.spec);
    net.dispose();
  });
});

describe('import: what the onnx-import tests left open', () => {
  const gemm = (attrs: Record<string, IAttribute>, W: Float32Array, b: ITensor, extra: Partial<GraphSpec> = {}) => model({
    nodes: [node('Gemm', ['x', 'W', 'b'], ['y'], attrs, 'fc')], inits: [init('W', [3, 2], W), b], input: ['x', ['N', 3]], output: ['y', ['N', 2]], ...extra,
  });

  it('Gemm alpha: a power of two that takes a weight below float32\'s precision is refused', () => {
    // 1.5 · 2^-140 is a subnormal float32 of 2^-149 steps (exact); 1 + 2^-20 times 2^-140 is not
    refused(gemm({ alpha: float(2 ** -140) }, Float32Array.of(1.5, 1, -1, 2, 0.5, 1 + 2 ** -20), init('b', [2], rand(2))),
      /node 'fc' \(Gemm\) has alpha = 7\.17\d*e-43, which takes weight 5 \(1\.00000095\d*\) beyond float32's range or precision/);
    refused(gemm({ alpha: float(2 ** 120) }, Float32Array.of(1, 2 ** 10, 1, 1, 1, 1), init('b', [2], rand(2))), /takes weight 1 \(1024\) beyond float32's range/);
  });

  it('a bias of one value ([1] or []) is broadcast to every output, times beta', () => {
    for (const dims of [[1], []]) {
      const imported = importOnnx(rt, gemm({ beta: float(2) }, rand(6), init('b', dims, Float32Array.of(0.75))));
      expectBits(imported.net.params.b1.toArray(), Float32Array.of(1.5, 1.5), `bias [${dims.join(', ')}]`);
      imported.net.dispose();
    }
  });

  it('a Transpose without perm reverses the axes: refused on images', () => {
    refused(model({
      nodes: [node('Transpose', ['x'], ['y'], {}, 'tr')], inits: [], input: ['x', ['N', 2, 3, 3]], output: ['y', [3, 3, 2, 'N']],
    }), /node 'tr' \(Transpose\) permutes \[N, 2, 3, 3\] by \[3, 2, 1, 0\]/);
  });

  it('a padded MaxPool after a Conv or a Tanh (values < 0 again) needs its Max of 0; after a Relu it does not', () => {
    const pool = node('MaxPool', ['a'], ['y'], { kernel_shape: ints([2, 2]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }, 'pool');
    const graph = (ops: string[]) => {
      const nodes: INode[] = [];
      let cur = 'x';
      ops.forEach((op, i) => {
        nodes.push(op === 'Conv' ? node('Conv', [cur, 'W', 'b'], [`v${i}`], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) }) : node(op, [cur], [`v${i}`]));
        cur = `v${i}`;
      });
      return model({ nodes: [...nodes, { ...pool, input: [cur] }], inits: [init('W', [2, 2, 3, 3], rand(36)), init('b', [2], rand(2))], input: ['x', ['N', 2, 6, 6]], output: ['y', ['N', 2, 4, 4]] });
    };
    const why = /node 'pool' \(MaxPool\) pads with 1: ONNX pads max pooling with −∞ and simdnn with zeros/;
    refused(graph(['Relu', 'Conv']), why);
    refused(graph(['Relu', 'Tanh']), why);
    importOnnx(rt, graph(['Conv', 'Sigmoid'])).net.dispose();
  });

  it('ceil_mode: a partial window along the width alone is refused', () => {
    refused(model({
      nodes: [node('MaxPool', ['x'], ['y'], { kernel_shape: ints([2, 2]), strides: ints([2, 2]), ceil_mode: int(1) }, 'pool')],
      inits: [], input: ['x', ['N', 1, 6, 7]], output: ['y', ['N', 1, 3, 4]],
    }), /node 'pool' \(MaxPool\) has ceil_mode = 1, which gives a last partial window here/);
  });

  it('non-square pooling windows and filters read as [height, width] (against ONNX Runtime)', async () => {
    const bytes = model({
      nodes: [node('Conv', ['x', 'W', 'b'], ['c'], { kernel_shape: ints([3, 1]), pads: ints([1, 1, 1, 1]) }),
        node('AveragePool', ['c'], ['y'], { kernel_shape: ints([1, 3]), strides: ints([2, 2]) })],
      inits: [init('W', [2, 1, 3, 1], rand(6)), init('b', [2], rand(2))], input: ['x', ['N', 1, 5, 6]], output: ['y', ['N', 2, 3, 3]],
    });
    const imported = importOnnx(rt, bytes);
    const x = rand(2 * 30), xt = rt.tensor([2, 1, 5, 6], x);
    const y = imported.net.predict(xt);
    expect(y.shape).toEqual([2, 2, 3, 3]);
    expectNear(y.toArray(), await ortRun(bytes, 'x', x, [2, 1, 5, 6]), 'predict against ORT');
    expect([(imported.net.layers[1] as Pooling).poolH, (imported.net.layers[1] as Pooling).poolW]).toEqual([1, 3]);
    for (const v of [y, xt]) v.dispose();
    imported.net.dispose();
  });

  it('BatchNormalization\'s momentum and Dropout\'s default ratio (opset 11: an attribute, 0.5 when absent)', () => {
    const imported = importOnnx(rt, model({
      opset: 11,
      nodes: [node('Gemm', ['x', 'W', 'b'], ['h'], { transB: int(1) }), node('BatchNormalization', ['h', 'g', 'g', 'g', 'g'], ['n'], { momentum: float(0.75) }),
        node('Dropout', ['n'], ['y'])],
      inits: [init('W', [2, 3], rand(6)), init('b', [2], rand(2)), init('g', [2], Float32Array.of(1, 1))], input: ['x', ['N', 3]], output: ['y', ['N', 2]],
    }));
    expect((imported.net.layers[1] as BatchNormalization).momentum).toBe(0.75);
    const dropout = imported.net.layers[2] as Dropout;
    expect([dropout.ratio, dropout.inverted]).toEqual([0.5, true]);
    imported.net.dispose();
  });

  it('a Reshape shape in raw_data (torch\'s Constant: int64 little-endian inside the model\'s bytes)', () => {
    const shape: ITensor = { name: 's', dims: [2], dataType: INT64, rawData: new Uint8Array(new BigInt64Array([0n, -1n]).buffer) };
    const imported = importOnnx(rt, model({
      nodes: [node('Reshape', ['x', 's'], ['f']), node('Gemm', ['f', 'W', 'b'], ['y'], { transB: int(1) })],
      inits: [shape, init('W', [2, 6], rand(12)), init('b', [2], rand(2))], input: ['x', ['N', 1, 2, 3]], output: ['y', ['N', 2]],
    }));
    expect(imported.net.layers.map((l) => l.name)).toEqual(['Flatten', 'Affine']);
    imported.net.dispose();
  });

  it('an int64 shape with fewer values than its dims say, and nodes out of order, are refused naming the fault', () => {
    refused(model({
      nodes: [node('Reshape', ['x', 's'], ['y'], {}, 'r')], inits: [{ name: 's', dims: [3], dataType: INT64, int64Data: [0, -1] }], input: ['x', ['N', 2, 3]], output: ['y', ['N', 6]],
    }), /^onnx: node 'r' \(Reshape\) has its shape 's' of 3 values, with 2 given$/);
    refused(model({ nodes: [node('Tanh', ['r'], ['y'], {}, 'tanh'), node('Relu', ['x'], ['r'])], inits: [], input: ['x', ['N', 3]], output: ['y', ['N', 3]] }),
      /^onnx: node 'tanh' \(Tanh\) takes 'r', which is not the output of the chain so far \('x'\): a branch, or nodes out of order$/);
  });

  it('a Pad of the batch or channel axes, or of a value other than 0, is refused', () => {
    const padded = (pads: number[], value: number | null) => model({
      nodes: [node('Pad', ['x', 'pads', ...(value === null ? [] : ['v'])], ['p'], {}, 'pad'), node('Conv', ['p', 'W', 'b'], ['y'], { kernel_shape: ints([3, 3]) })],
      inits: [int64s('pads', pads), init('W', [2, 1, 3, 3], rand(18)), init('b', [2], rand(2)), ...(value === null ? [] : [init('v', [], Float32Array.of(value))])],
      input: ['x', ['N', 1, 4, 4]], output: ['y', ['N', 2, 4, 4]],
    });
    importOnnx(rt, padded([0, 0, 1, 1, 0, 0, 1, 1], 0)).net.dispose();
    refused(padded([0, 1, 1, 1, 0, 0, 1, 1], null), /^onnx: node 'pad' \(Pad\) has pads \[0, 1, 1, 1, 0, 0, 1, 1\]; simdnn pads the images' four sides alike$/);
    refused(padded([0, 0, 1, 1, 0, 1, 1, 1], null), /node 'pad' \(Pad\) has pads \[0, 0, 1, 1, 0, 1, 1, 1\]/);
    refused(padded([0, 0, 1, 1, 0, 0, 1, 1], 1.5), /^onnx: node 'pad' \(Pad\) pads with 1\.5; simdnn pads with zeros$/);
  });

  it('a final Softmax after GlobalAveragePool ([C, 1, 1]) is read only where it runs over the classes, as ORT runs it', async () => {
    const graph = (axis: number, opset: number, op = 'Softmax') => model({
      nodes: [node('GlobalAveragePool', ['x'], ['g']), node(op, ['g'], ['y'], { axis: int(axis) }, 'sm')],
      inits: [], input: ['x', ['N', 3, 2, 2]], output: ['y', ['N', 3, 1, 1]], opset,
    });
    const x = Float32Array.from({ length: 12 }, (_, i) => i);
    // opset 13 runs over its one axis: axis 1 is the classes (torch.softmax(x, 1)); axis -1 a size-1 axis (all ones)
    const over = importOnnx(rt, graph(1, 13));
    expect(over.finalSoftmax).toBe('Softmax');
    const scores = over.net.predict(rt.tensor([1, 3, 2, 2], x)).toArray();
    const e = Array.from(scores, Math.exp), sum = e.reduce((a, b) => a + b, 0);
    expectNear(await ortRun(graph(1, 13), 'x', x, [1, 3, 2, 2]), Float32Array.from(e, (v) => v / sum), 'softmax of predict');
    over.net.dispose();
    expect(Array.from(await ortRun(graph(-1, 13), 'x', x, [1, 3, 2, 2]))).toEqual([1, 1, 1]);
    for (const op of ['Softmax', 'LogSoftmax']) {
      refused(graph(-1, 13, op), new RegExp(`^onnx: node 'sm' \\(${op}\\) runs over axis 3 of \\[N, 3, 1, 1\\] \\(opset 13\\), not over the classes`));
    }
    // before opset 13 it runs over the axes from `axis` on: axis 1 is the classes; axis 2 would be [1, 1] per class
    expect(inspectOnnx(graph(1, 11)).finalSoftmax).toBe('Softmax');
    refused(graph(2, 11), /^onnx: node 'sm' \(Softmax\) runs over axis 2 of \[N, 3, 1, 1\] \(opset 11\), not over the classes/);
  });

  it('exportOnnx writes batch norm\'s momentum, so an imported net fine-tunes with it; importOnnx checks options.inputShape\'s size', () => {
    const W = t([4, 3]), b = t([3]);
    const g = rt.tensor([3], [1, 2, 3]), be = rt.tensor([3], [0, 0.5, -0.5]);
    owned.push(g, be);
    const net = new Sequential(rt, [new Affine(W, b), new BatchNormalization(g, be, 0.5)]);
    const back = importOnnx(rt, exportOnnx(net)).net;
    expect((back.layers[1] as BatchNormalization).momentum).toBe(0.5);
    back.dispose(); net.dispose();
    // an input without a shape: options.inputShape gives it
    const shapeless = new Uint8Array(onnx.ModelProto.encode({
      irVersion: 8, opsetImport: [{ domain: '', version: 13 }],
      graph: { name: 'test', node: [node('Relu', ['x'], ['y'])], input: [{ name: 'x', type: { tensorType: { elemType: FLOAT } } }], output: [valueInfo('y', ['N', 4])] },
    }).finish());
    const relu = importOnnx(rt, shapeless, { inputShape: [4] });
    expect(relu.inputShape).toEqual([4]);
    relu.net.dispose();
    for (const inputShape of [[2 ** 70], [2 ** 53], [2 ** 20, 2 ** 20]]) {
      expectRefused(rt, () => importOnnx(rt, shapeless, { inputShape }), RangeError, /^importOnnx: options\.inputShape /);
    }
  });

  it('a Softmax over images, and an attribute given twice, are refused', () => {
    refused(model({
      nodes: [node('Conv', ['x', 'W', 'b'], ['c'], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) }), node('Softmax', ['c'], ['y'], { axis: int(-1) }, 'sm')],
      inits: [init('W', [2, 1, 3, 3], rand(18)), init('b', [2], rand(2))], input: ['x', ['N', 1, 4, 4]], output: ['y', ['N', 2, 4, 4]],
    }), /^onnx: node 'sm' \(Softmax\) takes \[N, 2, 4, 4\]; simdnn reads a final softmax over \[N, classes\]$/);
    const twice = node('Gemm', ['x', 'W', 'b'], ['y'], {}, 'fc');
    twice.attribute = [{ name: 'transB', ...int(1) }, { name: 'transB', ...int(0) }];
    refused(model({ nodes: [twice], inits: [init('W', [2, 3], rand(6)), init('b', [2], rand(2))], input: ['x', ['N', 3]], output: ['y', ['N', 2]] }),
      /^onnx: node 'fc' \(Gemm\) has attribute 'transB' twice$/);
  });

  it('the norms\' epsilon when absent: ONNX\'s 1e-5', () => {
    const imported = importOnnx(rt, model({
      opset: 17,
      nodes: [node('InstanceNormalization', ['x', 'g', 'z'], ['i']), node('BatchNormalization', ['i', 'g', 'z', 'z', 'g'], ['n']), node('Flatten', ['n'], ['f']),
        node('LayerNormalization', ['f', 'g8'], ['y'])],
      inits: [init('g', [2], Float32Array.of(1, 1)), init('z', [2], Float32Array.of(0, 0)), init('g8', [8], new Float32Array(8).fill(1))],
      input: ['x', ['N', 2, 2, 2]], output: ['y', ['N', 8]],
    }));
    expect(imported.net.layers.map((l) => [l.name, (l as unknown as { eps: number }).eps])).toEqual([
      ['InstanceNormalization', 1e-5], ['BatchNormalization', 1e-5], ['Flatten', undefined], ['LayerNormalization', 1e-5]]);
    imported.net.dispose();
  });

  it('float16 as int32_data: a value beyond 16 bits is refused, not cut to its low half', () => {
    refused(gemm({}, rand(6), { name: 'b', dims: [2], dataType: onnx.TensorProto.DataType.FLOAT16, int32Data: [0x3c00, 0x13c00] }),
      /node 'fc' \(Gemm\) has its bias C 'b' with 80896 in int32_data, not a 16-bit pattern/);
  });

  it('opset_import: the domain named \'ai.onnx\' is the default one; opset 7 is read', () => {
    for (const [domain, opset] of [['ai.onnx', 13], ['', 7]] as const) {
      const info = inspectOnnx(gemm({}, rand(6), init('b', [2], rand(2)), { opsetDomain: domain, opset }));
      expect(info.opset).toBe(opset);
    }
  });

  it('IR < 4: the initializers listed among the graph\'s inputs are weights, not inputs', () => {
    const info = inspectOnnx(gemm({}, rand(6), init('b', [2], rand(2)), { irVersion: 3, extraInputs: [['W', [3, 2]], ['b', [2]]] }));
    expect([info.inputName, info.layers]).toEqual(['x', ['Affine']]);
  });

  it('a Reshape after Flatten → BatchNormalization undoes the Flatten only to the very shape it flattened, and never with allowzero', () => {
    const bnAfterFlatten = (target: number[], allowzero?: number) => model({
      nodes: [node('Flatten', ['x'], ['f']), node('BatchNormalization', ['f', 'g', 'g', 'g', 'g'], ['n']),
        node('Reshape', ['n', 's'], ['y'], allowzero === undefined ? {} : { allowzero: int(allowzero) }, 'r')],
      inits: [init('g', [24], new Float32Array(24).fill(1)), int64s('s', target)], input: ['x', ['N', 2, 3, 4]], output: ['y', ['N', 'a', 'b', 'c']], opset: 14,
    });
    expect(inspectOnnx(bnAfterFlatten([0, 2, 3, 4])).layers).toEqual(['BatchNormalization']);
    refused(bnAfterFlatten([0, 4, 3, 2]), /node 'r' \(Reshape\) reshapes \[N, 24\] to \[0, 4, 3, 2\]; simdnn reads a Reshape only as a flatten/);
    refused(bnAfterFlatten([0, 2, 3, 4], 1), /node 'r' \(Reshape\) reshapes \[N, 24\] to \[0, 2, 3, 4\]/);
    refused(model({
      opset: 14, nodes: [node('Reshape', ['x', 's'], ['y'], { allowzero: int(1) }, 'r')], inits: [int64s('s', [0, -1])], input: ['x', ['N', 2, 3]], output: ['y', ['N', 6]],
    }), /node 'r' \(Reshape\) reshapes \[N, 2, 3\] to \[0, -1\]/);
  });

  it('storage_order, a window of padding only, a kernel_shape other than the weight\'s, spatial = 0 and SAME padding of a 3×1 kernel (one side more on one axis only) are refused', () => {
    const pool = (attrs: Record<string, IAttribute>) => model({ nodes: [node('MaxPool', ['x'], ['y'], { kernel_shape: ints([2, 2]), ...attrs }, 'p')], inits: [], input: ['x', ['N', 1, 4, 4]], output: ['y', ['N', 1, 3, 3]] });
    refused(pool({ storage_order: int(1) }), /node 'p' \(MaxPool\) has storage_order = 1/);
    refused(model({
      nodes: [node('Relu', ['x'], ['r']), node('MaxPool', ['r'], ['y'], { kernel_shape: ints([3, 1]), pads: ints([1, 1, 1, 1]) }, 'p')], inits: [],
      input: ['x', ['N', 1, 4, 4]], output: ['y', ['N', 1, 4, 6]],
    }), /node 'p' \(MaxPool\) pads 1 with a 3×1 window: a window may hold padding only/);
    refused(model({
      nodes: [node('Conv', ['x', 'W', 'b'], ['y'], { kernel_shape: ints([3, 2]) }, 'c')], inits: [init('W', [2, 1, 3, 3], rand(18)), init('b', [2], rand(2))],
      input: ['x', ['N', 1, 4, 4]], output: ['y', ['N', 2, 2, 2]],
    }), /node 'c' \(Conv\) has kernel_shape \[3, 2\] but a weight of \[2, 1, 3, 3\]/);
    refused(model({
      opset: 7, nodes: [node('BatchNormalization', ['x', 'g', 'g', 'g', 'g'], ['y'], { spatial: int(0) }, 'bn')], inits: [init('g', [2], Float32Array.of(1, 1))],
      input: ['x', ['N', 2, 3, 3]], output: ['y', ['N', 2, 3, 3]],
    }), /node 'bn' \(BatchNormalization\) has spatial = 0/);
    refused(model({
      nodes: [node('Conv', ['x', 'W', 'b'], ['y'], { kernel_shape: ints([3, 1]), auto_pad: str('SAME_UPPER') }, 'c')], inits: [init('W', [2, 1, 3, 1], rand(6)), init('b', [2], rand(2))],
      input: ['x', ['N', 1, 4, 4]], output: ['y', ['N', 2, 4, 4]],
    }), /node 'c' \(Conv\) has pads \[1, 0, 1, 0\]; simdnn pads every side of an image alike/);
  });
});

describe('simdnn export writes atomically', () => {
  it('OUT is replaced by a new file: another link to the old one keeps its bytes', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const file = path.join(tmp, 'm.safetensors'), out = path.join(tmp, 'm.onnx'), other = path.join(tmp, 'old.onnx');
    await writeModelFile(file, net);
    net.dispose();
    await writeFile(out, 'the old model');
    await link(out, other);
    const r = await runCli(['export', file, out]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(inspectOnnx(new Uint8Array(await readFile(out))).layers).toEqual(['Affine', 'Relu', 'Affine']);
    expect(await readFile(other, 'utf8')).toBe('the old model');
  });
});

describe('odd but well-formed models and bad options: an error naming the problem, or the net ONNX Runtime runs', () => {
  const W = init('W', [2, 3], Float32Array.of(1, 2, 3, 4, 5, 6)), b = init('b', [2], Float32Array.of(0.5, -0.5));
  const gemmOn = (input: Dim[], inits: ITensor[] = [W, b], inputs = ['x', 'W', 'b']) =>
    model({ nodes: [node('Gemm', inputs, ['y'], { transB: int(1) }, 'fc')], inits, input: ['x', input], output: ['y', ['N', 2]] });
  /** predict of the import against ORT on a [2, 3] batch; returns the layers. */
  async function expectAsOrt(bytes: Uint8Array): Promise<string[]> {
    const imported = importOnnx(rt, bytes);
    const x = rand(6), xt = rt.tensor([2, 3], x), y = imported.net.predict(xt);
    expectNear(y.toArray(), await ortRun(bytes, 'x', x, [2, 3]), 'predict against ORT');
    for (const v of [y, xt]) v.dispose();
    imported.net.dispose();
    return imported.layers;
  }

  it('a graph with no nodes; an input that is an initializer; a graph output in the middle of the chain', () => {
    const empty = (out: string) => model({ nodes: [], inits: [], input: ['x', ['N', 3]], output: [out, ['N', 3]] });
    refused(empty('y'), /^onnx: the graph's output 'y' is not the end of the chain of nodes \('x'\)$/);
    refused(empty('x'), /^onnx: the graph has no layer simdnn can hold/);
    refused(model({ nodes: [node('Relu', ['W'], ['y'])], inits: [W], input: ['W', [2, 3]], output: ['y', [2, 3]] }),
      /^onnx: the graph has 0 inputs \(none\) besides its weights; simdnn imports a net of one input$/);
    refused(model({ nodes: [node('Relu', ['x'], ['y']), node('Tanh', ['y'], ['z'])], inits: [], input: ['x', ['N', 3]], output: ['y', ['N', 3]] }),
      /node 'z' \(Tanh\) takes 'y', which 2 nodes or outputs take: a branch/);
  });

  it('duplicate initializer names: the last one, as ONNX Runtime takes it; an unused initializer is ignored', async () => {
    const again = init('W', [2, 3], Float32Array.of(-1, -2, -3, -4, -5, -6));
    expect(await expectAsOrt(gemmOn(['N', 3], [W, again, b, init('unused', [4], rand(4))]))).toEqual(['Affine']);
    const imported = importOnnx(rt, gemmOn(['N', 3], [W, again, b]));
    expectBits(imported.net.params.W1.toArray(), Float32Array.of(-1, -4, -2, -5, -3, -6), 'W (transposed)');
    imported.net.dispose();
  });

  it('an empty name for an optional input: no bias; Dropout without ratio or training_mode', async () => {
    expect(await expectAsOrt(gemmOn(['N', 3], [W], ['x', 'W', '']))).toEqual(['Affine']);
    expect(inspectOnnx(model({ nodes: [node('Dropout', ['x', '', ''], ['y'])], inits: [], input: ['x', ['N', 3]], output: ['y', ['N', 3]] })).layers).toEqual(['Dropout']);
  });

  it('input dimensions of 0, −1, 2^31, a name only, and a rank-1 input', () => {
    refused(gemmOn(['N', 0]), /^onnx: the graph's input 'x' has dimension 0; a sample's dimensions are positive$/);
    refused(gemmOn(['N', -1]), /^onnx: the graph's input 'x' has dimension -1; a sample's dimensions are positive$/);
    refused(gemmOn(['N', 2 ** 31]), /^onnx: the graph's input 'x': a sample of \[2147483648\] has 2147483648 values, more than a tensor holds/);
    refused(gemmOn(['N', 2 ** 16, 2 ** 16]), /a sample of \[65536, 65536\] has 4294967296 values/);
    refused(gemmOn(['N', 'C']), /^onnx: the graph's input 'x' is \[N, C\]: dimension 1 is not a size; give options\.inputShape/);
    refused(gemmOn(['N']), /^onnx: the graph's input 'x' is \[N\]; simdnn takes \[batch, \.\.\.sample\]$/);
  });

  it('initializers of dims with 0 or 2^31', () => {
    refused(gemmOn(['N', 3], [init('W', [0, 3], new Float32Array(0)), b]), /node 'fc' \(Gemm\) has a weight B of \[0, 3\]: no outputs/);
    refused(model({ nodes: [node('Gemm', ['x', 'W'], ['y'], {}, 'fc')], inits: [init('W', [3, 0], new Float32Array(0))], input: ['x', ['N', 3]], output: ['y', ['N', 0]] }),
      /node 'fc' \(Gemm\) has a weight B of \[3, 0\]: no outputs/);
    refused(model({ nodes: [node('Gemm', ['x', 'W'], ['y'], {}, 'fc')], inits: [init('W', [3, 2 ** 31], new Float32Array(0))], input: ['x', ['N', 3]], output: ['y', ['N', 2]] }),
      /node 'fc' \(Gemm\) has its weight B 'W' of dims \[3, 2147483648\], more values than a tensor holds/);
  });

  it('importOnnx\'s and inspectOnnx\'s arguments; the bytes as a view at an odd offset of a larger buffer', () => {
    const bytes = gemmOn(['N', 3]);
    const cases: Array<[unknown, unknown, ErrorClass, RegExp]> = [
      [new SharedArrayBuffer(8), {}, TypeError, /^importOnnx: bytes must be the model's bytes as a Uint8Array or an ArrayBuffer, got a SharedArrayBuffer$/],
      [new DataView(bytes.buffer), {}, TypeError, /bytes must be .* got a DataView$/],
      [bytes, { inputShape: [1.5] }, RangeError, /^importOnnx: options\.inputShape must be one sample's dimensions as positive integers, got \[1\.5\]$/],
      [bytes, { inputShape: [Infinity] }, RangeError, /got \[Infinity\]$/],
      // eslint-disable-next-line no-sparse-arrays
      [bytes, { inputShape: [, 3] }, TypeError, /got \[undefined, number 3\]$/],
      [bytes, { inputShape: '3' }, TypeError, /got the string "3"$/],
    ];
    for (const [b, o, cls, message] of cases) expectRefused(rt, () => importOnnx(rt, b as Uint8Array, o as object), cls, message);
    expect(() => inspectOnnx(bytes, { inputShape: [0] })).toThrow(/^inspectOnnx: options\.inputShape must be one sample's dimensions as positive integers, got \[0\]$/);
    const big = new Uint8Array(bytes.length + 8);
    big.set(bytes, 3);
    const imported = importOnnx(rt, big.subarray(3, 3 + bytes.length));
    expectBits(imported.net.params.W1.toArray(), Float32Array.of(1, 4, 2, 5, 3, 6), 'W read at its offset');
    imported.net.dispose();
  });

  it('exportOnnx\'s options: non-finite and unsafe numbers, names that are not strings', () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [2], outputSize: 2 });
    const cases: Array<[ExportOnnxOptions, ErrorClass, RegExp]> = [
      [{ batch: Infinity }, RangeError, /^exportOnnx: options\.batch must be a positive integer or a name, got Infinity$/],
      [{ batch: NaN }, RangeError, /options\.batch .* got NaN$/],
      [{ batch: 2 ** 53 }, RangeError, /options\.batch .* got 9007199254740992$/],
      [{ inputShape: [NaN] }, RangeError, /^exportOnnx: options\.inputShape: expected one sample's dimensions as positive integers, got \[NaN\]$/],
      [{ inputShape: [2 ** 53] }, RangeError, /options\.inputShape: .* got \[9007199254740992\]$/],
      [{ inputName: Symbol('q') as never }, TypeError, /^exportOnnx: options\.inputName must be a non-empty string, got symbol Symbol\(q\)$/],
    ];
    for (const [options, cls, message] of cases) expectRefused(rt, () => exportOnnx(net, options), cls, message);
    net.dispose();
  });
});
