// exportOnnx and `simdnn export`: every named net and a user Sequential of each layer kind exported, run
// in ONNX Runtime Web (one thread) and compared with net.predict on the same input; the bytes decoded by
// an independent decoder (onnx-proto, protobufjs generated from onnx.proto); bad input refused before
// anything is encoded; the command line's file → ONNX file, and its usage errors (exit 2).
// (.node: ONNX Runtime Web's loader in Node is what runs the models here.)
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import onnxProto from 'onnx-proto';
import { makeRuntime, randomArray } from './helpers/runtime.js';
import { maxDiff, ortOutput as ortRun } from './helpers/onnx.js';
import { expectRefused as refused, type ErrorClass } from './helpers/refused.js';
import { runCli } from './helpers/cli.js';
import {
  Affine, BatchNormalization, Convolution, DeepConvNet, Dropout, Flatten, GlobalAveragePooling, InstanceNormalization, LayerNormalization,
  MultiLayerNet, MultiLayerNetExtend, Pooling, Relu, Sequential, Sigmoid, SimpleConvNet, Tanh, alexNet, softmax, type Layer,
} from '../src/index.js';
import { exportOnnx, type ExportOnnxOptions } from '../src/io/onnx/index.js';
import { writeModelFile } from '../src/node/model-file.js';
import { ProtoWriter } from '../src/io/onnx/encode.js';
import { ATTRIBUTE, TENSOR } from '../src/io/onnx/fields.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';

const { onnx } = onnxProto;

let rt: Runtime;
let tmp: string;
beforeAll(async () => {
  rt = await makeRuntime({ seed: 7 });
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-onnx-'));
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
});
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

/**
 * How far ONNX Runtime may be from net.predict: 32 float32 ulps of the output's scale (the largest |y|, at
 * least 1), 2^-18 of it. The two compute the same formulas in float32 but sum in other orders (ORT's GEMM
 * and conv tile K otherwise; its batch norm folds the statistics into one scale and shift, its layer norm
 * takes the variance as E[x²] − E[x]², its averages divide where ours multiply by 1/n), so an output differs
 * by the rounding of its sums, grown over the layers: measured 0–1.3 ulps on the MLPs and the user nets,
 * 4.5 on DeepConvNet, 8.5 on alexNet (9,216-long sums). A mapping that is wrong (a bias or a scale left out,
 * another eps, padding counted otherwise) moves the outputs by far more: 1e-3 of the scale and up in the
 * tests run with the mapping broken.
 */
const ULPS = 32;
const tolerance = (want: Float32Array) => ULPS * 2 ** -23 * Math.max(1, ...Array.from(want, Math.abs));

/** Exports `net`, runs the model in ORT on x and expects net.predict(x) (or its softmax) within the tolerance. */
async function expectOrtMatches(net: Sequential, x: Tensor, options: ExportOnnxOptions = {}): Promise<Uint8Array> {
  const bytes = exportOnnx(net, options);
  const y = net.predict(x);
  const want = options.probabilities ? softmax(y) : y;
  const expected = want.toArray(), shape = y.shape;
  if (want !== y) want.dispose();
  y.dispose();
  const got = await ortRun(bytes, x.toArray(), x.shape, { input: options.inputName ?? 'x', output: options.outputName ?? 'y' });
  expect(got.dims, 'ONNX output shape').toEqual(shape);
  const d = maxDiff(got.data, expected);
  expect(d, `max |ORT − predict| = ${d} over outputs up to ${Math.max(...Array.from(expected, Math.abs))}`).toBeLessThanOrEqual(tolerance(expected));
  return bytes;
}

/** A float tensor of `shape` with values uniform in [lo, hi) from `seed`; the caller disposes it (see `owned`). */
const owned: Tensor[] = [];
function tensor(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  const t = rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b, 1), seed, lo, hi));
  owned.push(t);
  return t;
}
afterAll(() => { for (const t of owned) t.dispose(); });

/** The biases, gammas and betas of `net` set to random values (the constructors make them 0 and 1, which would hide a mapping that drops them). */
function randomizeParams(net: Sequential, seed: number): void {
  for (const [key, p] of Object.entries(net.params)) {
    if (key.startsWith('gamma')) p.set(randomArray(p.size, seed++, 0.5, 1.5));
    else if (key.startsWith('b')) p.set(randomArray(p.size, seed++, -0.5, 0.5));
  }
}

/** Training-mode forwards on random batches: batch norm's running statistics move away from their zeros. */
function trainForwards(net: Sequential, shape: number[], seed: number): void {
  for (let i = 0; i < 5; i++) {
    const x = rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b, 1), seed + i, -2, 3));
    net.predict(x, true).dispose();
    x.dispose();
  }
}

const decode = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes);
/** An int64 field as onnx-proto gives it (a Long, or a number), as a number. */
const num = (v: unknown): number => (typeof v === 'number' ? v : (v as { toNumber(): number }).toNumber());
/** A decoded value info's dimensions: a number, or the symbolic name. */
const dimsOf = (v: onnxProto.onnx.IValueInfoProto) => v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : num(d.dimValue)));
const opsOf = (bytes: Uint8Array) => decode(bytes).graph!.node!.map((n) => n.opType);

describe('the named nets in ONNX Runtime', () => {
  it('MultiLayerNet (relu, sigmoid, tanh: the activations simdnn fuses into the Affine)', async () => {
    for (const [i, activation] of (['relu', 'sigmoid', 'tanh'] as const).entries()) {
      const net = new MultiLayerNet(rt, { inputSize: 20, hiddenSizeList: [16, 12], outputSize: 5, activation });
      randomizeParams(net, 10 * i);
      const x = tensor([7, 20], 100 + i);
      const bytes = await expectOrtMatches(net, x);
      const op = activation[0].toUpperCase() + activation.slice(1);
      expect(opsOf(bytes)).toEqual(['Gemm', op, 'Gemm', op, 'Gemm']);
      net.dispose();
    }
  });

  it('MultiLayerNetExtend with batch norm (running statistics after training forwards) and the book\'s dropout', async () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 12, hiddenSizeList: [10, 8], outputSize: 4, useBatchnorm: true, useDropout: true, dropoutRatio: 0.3 });
    randomizeParams(net, 20);
    trainForwards(net, [16, 12], 30);
    expect(Array.from(net.state.runningVar1.toArray()).every((v) => v > 0.05)).toBe(true);
    const bytes = await expectOrtMatches(net, tensor([6, 12], 40, -2, 3));
    expect(opsOf(bytes)).toEqual(['Gemm', 'BatchNormalization', 'Relu', 'Mul', 'Gemm', 'BatchNormalization', 'Relu', 'Mul', 'Gemm']);
    net.dispose();
  });

  it('SimpleConvNet', async () => {
    const net = new SimpleConvNet(rt, { inputDim: [2, 12, 12], convParam: { filterNum: 6, filterSize: 3, pad: 1, stride: 1 }, hiddenSize: 20, outputSize: 4 });
    randomizeParams(net, 50);
    const bytes = await expectOrtMatches(net, tensor([3, 2, 12, 12], 60));
    expect(opsOf(bytes)).toEqual(['Conv', 'Relu', 'MaxPool', 'Flatten', 'Gemm', 'Relu', 'Gemm']);
    net.dispose();
  });

  it('DeepConvNet (the book\'s, 28×28: padded convs, pools, both dropouts scaled)', async () => {
    const net = new DeepConvNet(rt);
    randomizeParams(net, 70);
    const bytes = await expectOrtMatches(net, tensor([2, 1, 28, 28], 80, 0, 1));
    expect(opsOf(bytes).filter((op) => op === 'Mul')).toHaveLength(2);
    net.dispose();
  });

  it('alexNet (3×224×224, 11×11 stride-4 conv, overlapping 3×3 pools, an explicit Flatten)', async () => {
    const net = alexNet(rt, { numClasses: 10 });
    const bytes = await expectOrtMatches(net, tensor([1, 3, 224, 224], 90, 0, 1));
    expect(opsOf(bytes).slice(0, 3)).toEqual(['Conv', 'Relu', 'MaxPool']);
    expect(decode(bytes).metadataProps, 'alexNet is no named net: no spec').toEqual([]);
    net.dispose();
  }, 180_000);
});

describe('user Sequentials of every layer kind in ONNX Runtime', () => {
  it('conv, spatial batch norm, max pooling over zero padding, instance norm, average pooling with padding, global average pooling', async () => {
    const layers: Layer[] = [
      new Convolution(tensor([4, 2, 3, 3], 1, -0.5, 0.5), tensor([4], 2), 1, 1),
      new BatchNormalization(tensor([4], 3, 0.5, 1.5), tensor([4], 4), 0.9, { spatial: true, runningMean: tensor([4], 5), runningVar: tensor([4], 6, 0.5, 2), eps: 1e-3 }),
      new Tanh(),
      // after Tanh half the inputs are negative: the book's padded zeros win the border windows' max
      new Pooling(3, 3, 2, 1),
      new Convolution(tensor([5, 4, 2, 2], 7, -0.5, 0.5), tensor([5], 8), 1, 0),
      new InstanceNormalization(tensor([5], 9, 0.5, 1.5), tensor([5], 10), { eps: 1e-4 }),
      new Sigmoid(),
      new Pooling(3, 3, 1, 1, { mode: 'avg' }),
      new GlobalAveragePooling(),
      new Affine(tensor([5, 3], 11), tensor([3], 12)),
    ];
    const net = new Sequential(rt, layers, { inputShape: [2, 9, 9] });
    const bytes = await expectOrtMatches(net, tensor([3, 2, 9, 9], 13, -2, 2));
    expect(opsOf(bytes)).toEqual(['Conv', 'BatchNormalization', 'Tanh', 'MaxPool', 'Max', 'Conv', 'InstanceNormalization', 'Sigmoid', 'AveragePool',
      'GlobalAveragePool', 'Flatten', 'Gemm']);
    expect(num(decode(bytes).opsetImport![0].version)).toBe(13);
    net.dispose();
  });

  it('max pooling with padding on negative inputs: the padded zeros are the border maxima', async () => {
    const net = new Sequential(rt, [new Pooling(2, 2, 2, 1), new Flatten()], { inputShape: [1, 4, 4] });
    const x = tensor([2, 1, 4, 4], 14, -2, -1);
    await expectOrtMatches(net, x);
    const y = net.predict(x);
    expect(y.toArray()[0], 'the corner window holds one input and three zeros').toBe(0);
    y.dispose();
    net.dispose();
  });

  it('layer norm, inverted dropout, book dropout, per-feature batch norm on rows: opset 17', async () => {
    const layers: Layer[] = [
      new Affine(tensor([6, 8], 15), tensor([8], 16)),
      new LayerNormalization(tensor([8], 17, 0.5, 1.5), tensor([8], 18), { eps: 1e-3 }),
      new Relu(),
      new Dropout(0.4, { inverted: true }),
      new Affine(tensor([8, 7], 19), tensor([7], 20)),
      new BatchNormalization(tensor([7], 21, 0.5, 1.5), tensor([7], 22), 0.9, { runningMean: tensor([7], 23), runningVar: tensor([7], 24, 0.5, 2) }),
      new Dropout(0.25),
      new Affine(tensor([7, 3], 25), tensor([3], 26)),
    ];
    const net = new Sequential(rt, layers);
    const bytes = await expectOrtMatches(net, tensor([5, 6], 27, -2, 2));
    expect(opsOf(bytes)).toEqual(['Gemm', 'LayerNormalization', 'Relu', 'Gemm', 'BatchNormalization', 'Mul', 'Gemm']);
    expect(num(decode(bytes).opsetImport![0].version)).toBe(17);
    net.dispose();
  });

  it('per-feature batch norm and layer norm on images (Flatten → BatchNormalization → Reshape; layer norm over C·H·W), then Flatten', async () => {
    const F = 3 * 4 * 4;
    const layers: Layer[] = [
      new Convolution(tensor([3, 1, 3, 3], 28), tensor([3], 29), 1, 1),
      new BatchNormalization(tensor([F], 30, 0.5, 1.5), tensor([F], 31), 0.9, { runningMean: tensor([F], 32), runningVar: tensor([F], 33, 0.5, 2) }),
      new LayerNormalization(tensor([F], 34, 0.5, 1.5), tensor([F], 35)),
      new Flatten(),
      new Affine(tensor([F, 4], 36), tensor([4], 37)),
    ];
    const net = new Sequential(rt, layers, { inputShape: [1, 4, 4] });
    const bytes = await expectOrtMatches(net, tensor([2, 1, 4, 4], 38, -2, 2));
    expect(opsOf(bytes)).toEqual(['Conv', 'Flatten', 'BatchNormalization', 'Reshape', 'LayerNormalization', 'Flatten', 'Gemm']);
    const ln = decode(bytes).graph!.initializer!.find((t) => t.name === 'gamma1_2')!;
    expect(ln.dims!.map(num), 'layer norm\'s scale has the sample\'s shape').toEqual([3, 4, 4]);
    net.dispose();
  });

  it('a net after SGD steps: the predictions of its weights as they are at the call', async () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 8, hiddenSizeList: [6], outputSize: 3, useBatchnorm: true });
    const x = tensor([10, 8], 39);
    for (let step = 0; step < 5; step++) {
      const grads = net.gradient(x, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
      for (const [key, p] of Object.entries(net.params)) {
        const g = grads[key].toArray(), v = p.toArray();
        p.set(v.map((w, i) => w - 0.5 * g[i]));
      }
    }
    await expectOrtMatches(net, x);
    net.dispose();
  });
});

describe('options', () => {
  it('probabilities: a Softmax over the last axis, the softmax of predict', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 10, hiddenSizeList: [8], outputSize: 6 });
    randomizeParams(net, 41);
    const x = tensor([4, 10], 42, -3, 3);
    const bytes = await expectOrtMatches(net, x, { probabilities: true });
    const softmaxNode = decode(bytes).graph!.node!.at(-1)!;
    expect(softmaxNode.opType).toBe('Softmax');
    expect(num(softmaxNode.attribute![0].i), 'axis −1, a negative int64').toBe(-1);
    net.dispose();
  });

  it('a fixed batch: the input and output dimension, and ORT refuses another batch', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 5, hiddenSizeList: [4], outputSize: 2 });
    const x = tensor([3, 5], 43);
    const bytes = await expectOrtMatches(net, x, { batch: 3 });
    const g = decode(bytes).graph!;
    expect(dimsOf(g.input![0])).toEqual([3, 5]);
    expect(dimsOf(g.output![0])).toEqual([3, 2]);
    await expect(ortRun(bytes, new Float32Array(10), [2, 5])).rejects.toThrow(/dim|shape|Got: 2/i);
    const named = decode(exportOnnx(net, { batch: 'batch_size' })).graph!;
    expect(dimsOf(named.input![0])).toEqual(['batch_size', 5]);
    net.dispose();
  });

  it('custom input and output names; a name an initializer has (W1) leaves the initializer another', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 5, hiddenSizeList: [4], outputSize: 2 });
    const x = tensor([2, 5], 44);
    let bytes = await expectOrtMatches(net, x, { inputName: 'images', outputName: 'scores' });
    let g = decode(bytes).graph!;
    expect([g.input![0].name, g.output![0].name]).toEqual(['images', 'scores']);
    bytes = await expectOrtMatches(net, x, { inputName: 'W1', outputName: 'b2' });
    g = decode(bytes).graph!;
    expect(g.initializer!.map((t) => t.name)).toEqual(['W1_2', 'b1', 'W2', 'b2_2']);
    net.dispose();
  });

  it('inputShape: a net of rows exported for images that flatten to its rows', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 16, hiddenSizeList: [4], outputSize: 2 });
    const x = tensor([2, 1, 4, 4], 45);
    const bytes = await expectOrtMatches(net, x, { inputShape: [1, 4, 4] });
    expect(opsOf(bytes)[0]).toBe('Flatten');
    net.dispose();
  });

  it('a net without layers: an Identity', async () => {
    const net = new Sequential(rt, [], { inputShape: [3] });
    const bytes = await expectOrtMatches(net, tensor([2, 3], 46));
    expect(opsOf(bytes)).toEqual(['Identity']);
    net.dispose();
  });
});

describe('ProtoWriter, read by onnx-proto', () => {
  it('varints around every 7-bit boundary, int64 two\'s complement, UTF-8 strings, bytes, floats; the exact size', () => {
    const dims = [0, 1, 127, 128, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 53 - 1, -1, -128, -(2 ** 32), -(2 ** 53 - 1)];
    const raw = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 255);
    const bytes = ProtoWriter.encode((w) => {
      w.packedInts(TENSOR.dims, dims);
      w.int(TENSOR.dataType, 7);
      w.string(TENSOR.name, 'gamma1 — μ ✓');
      w.bytes(TENSOR.rawData, raw);
    });
    const t = onnx.TensorProto.decode(bytes);
    expect(t.dims!.map((d) => BigInt((d as { toString(): string }).toString()))).toEqual(dims.map(BigInt));
    expect([t.dataType, t.name]).toEqual([7, 'gamma1 — μ ✓']);
    expect(Array.from(t.rawData!)).toEqual(Array.from(raw));
    expect(bytes.buffer.byteLength, 'one buffer of the message\'s size').toBe(bytes.length);
    const a = onnx.AttributeProto.decode(ProtoWriter.encode((w) => { w.float(ATTRIBUTE.f, 0.1); w.int(ATTRIBUTE.i, -2); w.packedInts(ATTRIBUTE.ints, []); }));
    expect([a.f, num(a.i), a.ints]).toEqual([Math.fround(0.1), -2, []]);
    expect(() => ProtoWriter.encode((w) => w.int(1, 2 ** 53))).toThrow(/a varint must be a safe integer, got 9007199254740992/);
  });
});

describe('the bytes, read by onnx-proto', () => {
  it('IR version, opset, producer, input and output with the symbolic batch, initializers as the net\'s keys and bytes, the spec', () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 6, hiddenSizeList: [5], outputSize: 3, useBatchnorm: true, activation: 'tanh' });
    randomizeParams(net, 47);
    trainForwards(net, [8, 6], 48);
    const m = decode(exportOnnx(net, { producerVersion: '1.2.3' }));
    expect(num(m.irVersion)).toBe(8);
    expect(m.opsetImport!.map((o) => [o.domain, num(o.version)])).toEqual([['', 13]]);
    expect([m.producerName, m.producerVersion]).toEqual(['simdnn', '1.2.3']);
    const g = m.graph!;
    expect(g.input!.map((v) => [v.name, v.type!.tensorType!.elemType, dimsOf(v)])).toEqual([['x', 1, ['N', 6]]]);
    expect(g.output!.map((v) => [v.name, v.type!.tensorType!.elemType, dimsOf(v)])).toEqual([['y', 1, ['N', 3]]]);
    const all = { ...net.params, ...net.state };
    expect(g.initializer!.map((t) => t.name).sort()).toEqual(Object.keys(all).sort());
    for (const t of g.initializer!) {
      const p = all[t.name!];
      expect(t.dims!.map(num), t.name!).toEqual(p.shape);
      expect(t.dataType, t.name!).toBe(1);
      expect(Array.from(new Float32Array(t.rawData!.slice().buffer)), t.name!).toEqual(Array.from(p.toArray()));
    }
    const bn = g.node!.find((n) => n.opType === 'BatchNormalization')!;
    expect(bn.input).toEqual(['layers.0.gemm', 'gamma1', 'beta1', 'runningMean1', 'runningVar1']);
    expect(bn.attribute!.map((a) => [a.name, a.f, a.type])).toEqual([['epsilon', Math.fround(1e-6), 1], ['momentum', Math.fround(0.9), 1]]);
    expect(m.metadataProps!.map((e) => [e.key, JSON.parse(e.value!)])).toEqual([['simdnn.net', net.spec]]);
    net.dispose();
  });

  it('conv and pooling attributes; a user Sequential carries no spec', () => {
    const net = new Sequential(rt, [new Convolution(tensor([2, 1, 3, 3], 49), tensor([2], 50), 2, 1), new Pooling(2, 3, 1, 0, { mode: 'avg' })], { inputShape: [1, 7, 7] });
    const m = decode(exportOnnx(net));
    const attrs = (n: number) => Object.fromEntries(m.graph!.node![n].attribute!.map((a) => [a.name, a.ints!.length ? a.ints!.map(num) : num(a.i)]));
    expect(attrs(0)).toEqual({ kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] });
    expect(attrs(1)).toEqual({ kernel_shape: [2, 3], strides: [1, 1], pads: [0, 0, 0, 0], count_include_pad: 1 });
    expect(dimsOf(m.graph!.output![0])).toEqual(['N', 2, 3, 2]);
    expect(m.metadataProps).toEqual([]);
    // options.metadata: the caller's strings, before a named net's spec
    const meta = decode(exportOnnx(net, { metadata: { trainedOn: 'digits', testAcc: '0.9585' } }));
    expect(meta.metadataProps!.map((e) => [e.key, e.value])).toEqual([['trainedOn', 'digits'], ['testAcc', '0.9585']]);
    net.dispose();
  });

  it('a weight two layers share is one initializer', () => {
    const W = tensor([4, 4], 51), b = tensor([4], 52);
    const net = new Sequential(rt, [new Affine(W, b), new Relu(), new Affine(W, b)]);
    const g = decode(exportOnnx(net)).graph!;
    expect(g.initializer!.map((t) => t.name)).toEqual(['W1', 'b1']);
    expect(g.node!.filter((n) => n.opType === 'Gemm').map((n) => n.input!.slice(1))).toEqual([['W1', 'b1'], ['W1', 'b1']]);
    net.dispose();
  });
});

describe('bad input: refused naming the argument, nothing allocated', () => {
  const expectRefused = (f: () => unknown, cls: ErrorClass, message: RegExp) => refused(rt, f, cls, message);
  const mlp = () => new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });

  it('a disposed net, a disposed parameter, a net that is no Sequential (a frozen one: the hint)', () => {
    const net = mlp();
    const frozen = net.freeze();
    expectRefused(() => exportOnnx(frozen as never), TypeError, /^exportOnnx: net must be a Sequential .*got a FrozenNet \(export the net it was frozen from\)$/);
    expectRefused(() => exportOnnx(null as never), TypeError, /^exportOnnx: net must be a Sequential .*got null$/);
    frozen.dispose();
    net.dispose();
    expectRefused(() => exportOnnx(net), TypeError, /^exportOnnx: net used after dispose\(\)$/);
    const W = rt.tensor([3, 2]), b = rt.tensor([2]);
    const user = new Sequential(rt, [new Relu(), new Affine(W, b)]);
    b.dispose();
    expectRefused(() => exportOnnx(user), TypeError, /^exportOnnx: net\.layers\[1\] \(Affine\) b: tensor \[2\] used after dispose\(\)/);
    user.dispose();
    W.dispose();
  });

  it('a layer ONNX has no mapping for: its index and name', () => {
    const mine: Layer = { name: 'Mine', params: {}, grads: {}, forward: (x) => x, backward: (d) => d, dispose: () => {} };
    const net = new Sequential(rt, [new Relu(), mine], { inputShape: [2] });
    expectRefused(() => exportOnnx(net), TypeError, /^exportOnnx: net\.layers\[1\] \(Mine\) has no ONNX mapping \(exportOnnx maps simdnn's layers: Affine, /);
    net.dispose();
  });

  it('options: not an object, an unknown key, a bad batch, names, probabilities or producerVersion', () => {
    const net = mlp();
    const cases: Array<[unknown, ErrorClass, RegExp]> = [
      [null, TypeError, /^exportOnnx: options must be an object, got null$/],
      [{ batchSize: 2 }, TypeError, /^exportOnnx: unknown option 'batchSize' \(expected one of inputShape, batch, /],
      [{ batch: 0 }, RangeError, /^exportOnnx: options\.batch must be a positive integer or a name, got 0$/],
      [{ batch: 1.5 }, RangeError, /options\.batch must be a positive integer or a name, got 1\.5$/],
      [{ batch: -2 }, RangeError, /options\.batch .* got -2$/],
      [{ batch: '' }, TypeError, /options\.batch must be a positive integer or a name \(a non-empty string\), got the string ""$/],
      [{ batch: Symbol('b') }, TypeError, /options\.batch .* got symbol Symbol\(b\)$/],
      [{ inputName: '' }, TypeError, /^exportOnnx: options\.inputName must be a non-empty string, got the string ""$/],
      [{ outputName: 3 }, TypeError, /^exportOnnx: options\.outputName must be a non-empty string, got number 3$/],
      [{ inputName: 'z', outputName: 'z' }, TypeError, /^exportOnnx: options\.inputName and options\.outputName are both 'z'/],
      [{ probabilities: 'yes' }, TypeError, /^exportOnnx: options\.probabilities must be true or false, got the string "yes"$/],
      [{ producerVersion: 1 }, TypeError, /^exportOnnx: options\.producerVersion must be a string, got number 1$/],
      [{ metadata: null }, TypeError, /^exportOnnx: metadata must be an object of strings, got null$/],
      [{ metadata: { 'simdnn.net': '{}' } }, TypeError, /^exportOnnx: metadata key 'simdnn\.net' is reserved/],
      [{ metadata: { epochs: 3 } }, TypeError, /^exportOnnx: metadata\['epochs'\] must be a string \(ONNX metadata_props hold strings\), got number$/],
      [{ inputShape: 4 }, TypeError, /^exportOnnx: options\.inputShape: expected one sample's dimensions as positive integers, got number 4$/],
      [{ inputShape: [] }, RangeError, /options\.inputShape: .* got \[\]$/],
      [{ inputShape: [2, 0] }, RangeError, /options\.inputShape: .* got \[2, 0\]$/],
      [{ inputShape: ['4'] }, TypeError, /options\.inputShape: .* got \[the string "4"\]$/],
      [{ inputShape: [5] }, RangeError, /^exportOnnx: net\.layers\[0\] \(Affine\) takes 4 features a sample, its input samples are \[5\] \(see options\.inputShape\)$/],
    ];
    for (const [options, cls, message] of cases) expectRefused(() => exportOnnx(net, options as ExportOnnxOptions), cls, message);
    net.dispose();
  });

  it('a conv net\'s input shape: needed where the net does not fix it, the net\'s where it does, one its layers fit; pooling pads ONNX Runtime cannot take', () => {
    const pool = new Sequential(rt, [new Pooling(2, 3, 2, 2)], { inputShape: [1, 6, 6] });
    expectRefused(() => exportOnnx(pool), RangeError, /^exportOnnx: net\.layers\[0\] \(Pooling\) pads by 2, as much as its 2×3 window or more: ONNX Runtime's pooling takes pads smaller than the window$/);
    pool.dispose();
    const user = new Sequential(rt, [new Convolution(tensor([2, 1, 3, 3], 53), tensor([2], 54))]);
    expectRefused(() => exportOnnx(user), TypeError, /^exportOnnx: options\.inputShape is needed: the net does not fix one sample's shape/);
    expectRefused(() => exportOnnx(user, { inputShape: [2, 5, 5] }), RangeError, /^exportOnnx: net\.layers\[0\] \(Convolution\) takes images \[1, H, W\], its input samples are \[2, 5, 5\]/);
    expectRefused(() => exportOnnx(user, { inputShape: [1, 2, 2] }), RangeError, /^exportOnnx: net\.layers\[0\] \(Convolution\) takes a 3×3 filter with pad 0, which needs larger images/);
    expect(exportOnnx(user, { inputShape: [1, 3, 3] }).length).toBeGreaterThan(0);
    user.dispose();
    const conv = new SimpleConvNet(rt, { inputDim: [1, 10, 10], hiddenSize: 4, outputSize: 2 });
    expectRefused(() => exportOnnx(conv, { inputShape: [1, 12, 12] }), RangeError, /^exportOnnx: options\.inputShape \[1, 12, 12\] is not the net's input shape \[1, 10, 10\]$/);
    conv.dispose();
  });
});

describe('simdnn export', () => {
  it('a model file → an ONNX file ORT runs with the model\'s predictions; --probabilities --batch --json', async () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 784, hiddenSizeList: [20], outputSize: 10, useBatchnorm: true, useDropout: true });
    randomizeParams(net, 55);
    trainForwards(net, [8, 784], 56);
    const model = path.join(tmp, 'model.safetensors'), out = path.join(tmp, 'model.onnx');
    await writeModelFile(model, net, { metadata: { trainedOn: 'digits' } });
    const r = await runCli(['export', model, out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const bytes = new Uint8Array(await readFile(out));
    expect(r.stdout).toMatch(new RegExp(`^wrote ${out.replace(/[.\\/]/g, '\\$&')} \\(${bytes.length.toLocaleString('en-US')} bytes\\): ONNX opset 13\n`));
    expect(r.stdout).toMatch(/ {2}input {3}'x' float32 \[N, 784\]\n {2}output {2}'y' float32 \[N, 10\] \(logits, as predict gives them\)\n$/);
    const x = tensor([3, 784], 57, 0, 1);
    const y = net.predict(x), expected = y.toArray();
    y.dispose();
    const got = await ortRun(bytes, x.toArray(), [3, 784]);
    expect(maxDiff(got.data, expected)).toBeLessThanOrEqual(tolerance(expected));
    expect(decode(bytes).producerVersion, 'the package version').toMatch(/^\d+\.\d+\.\d+/);
    // the model file's metadata travels with it, before the spec
    expect(decode(bytes).metadataProps!.map((e) => e.key)).toEqual(['trainedOn', 'simdnn.net']);
    expect(decode(bytes).metadataProps![0].value).toBe('digits');

    const r2 = await runCli(['export', model, out, '--probabilities', '--batch', '3', '--json']);
    expect(r2.code).toBe(0);
    const report = JSON.parse(r2.stdout);
    expect(report).toMatchObject({ model, out, opset: 13, probabilities: true, input: { name: 'x', shape: [3, 784] }, output: { name: 'y', shape: [3, 10] } });
    const probs = await ortRun(new Uint8Array(await readFile(out)), x.toArray(), [3, 784]);
    expect(report.bytes).toBe((await readFile(out)).length);
    const p = softmax(net.predict(x));
    expect(maxDiff(probs.data, p.toArray())).toBeLessThanOrEqual(tolerance(p.toArray()));
    p.dispose();
    net.dispose();
  });

  it('bad command lines exit 2 naming the argument, and write nothing', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const model = path.join(tmp, 'small.safetensors'), out = path.join(tmp, 'small.onnx');
    await writeModelFile(model, net);
    net.dispose();
    await writeFile(path.join(tmp, 'not-a-model.safetensors'), 'nonsense');
    const cases: Array<[string[], RegExp]> = [
      [['export'], /^simdnn: expected a model file and the ONNX file to write, got 0 arguments\nRun 'simdnn export --help' for usage\.\n$/],
      [['export', model], /got 1 argument\n/],
      [['export', model, out, 'more'], /got 3 arguments\n/],
      [['export', model, out, '--batch', '0'], /--batch: expected an integer >= 1, got '0'/],
      [['export', model, out, '--batch', 'n'], /--batch: expected an integer >= 1, got 'n'/],
      [['export', model, out, '--batches', '2'], /Unknown option '--batches'/],
      [['export', path.join(tmp, 'missing.safetensors'), out], /export FILE: '.*missing\.safetensors' does not exist/],
      [['export', model, path.join(tmp, 'no-dir', 'x.onnx')], /export OUT: the directory of '.*no-dir\/x\.onnx' does not exist/],
      [['export', model, tmp], /export OUT: '.*' is a directory/],
      [['export', model, model], /export OUT: '.*small\.safetensors' is the model file itself; writing it would replace the model/],
    ];
    for (const [argv, message] of cases) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(message);
      expect(r.stdout).toBe('');
    }
    const bad = await runCli(['export', path.join(tmp, 'not-a-model.safetensors'), out]);
    expect(bad.code, 'a file that is no model: an error, exit 1').toBe(1);
    expect(bad.stderr).toMatch(/^simdnn: error: export FILE: '.*not-a-model\.safetensors': /);
    await expect(readFile(out), 'nothing written').rejects.toThrow(/ENOENT/);
    const help = await runCli(['export', '--help']);
    expect(help.stdout).toMatch(/^Usage: simdnn export \[options\] FILE OUT\n/);
    expect(help.stdout).toMatch(/--probabilities/);
    expect(help.stdout).toMatch(/--batch <n>/);
  });
});
