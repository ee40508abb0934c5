// importOnnx: ONNX models as PyTorch's torch.onnx.export and tf2onnx write them (built here with onnx-proto,
// protobufjs generated from onnx.proto), run in ONNX Runtime Web (one thread) and compared with the imported
// net's predict; simdnn's own exports read back (bit for bit); an imported net trained further; and bytes
// that are not a model (truncated, flipped, lying lengths) or models simdnn cannot reproduce refused with an
// OnnxError naming the byte or the node, leaving the runtime's memory as it was.
// (.node: ONNX Runtime Web's loader in Node is what runs the models here.)
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { makeRuntime, randomArray, expectBits } from './helpers/runtime.js';
import * as ort from 'onnxruntime-web';
import {
  FLOAT, float, init, int, int64s, ints, maxDiff, model as buildModel, node, onnx, ortRun, str, type GraphSpec, type INode, type ITensor,
} from './helpers/onnx.js';
import { expectRefused } from './helpers/refused.js';
import {
  Affine, BatchNormalization, Convolution, DeepConvNet, Dropout, GlobalAveragePooling, InstanceNormalization, LayerNormalization, MultiLayerNet,
  MultiLayerNetExtend, OutOfMemoryError, Pooling, Relu, Sequential, Sigmoid, SimpleConvNet, Tanh, Trainer, softmax, Tensor, type Layer,
} from '../src/index.js';
import { exportOnnx, importOnnx, inspectOnnx, OnnxError } from '../src/io/onnx/index.js';
import { decodeOnnx } from '../src/io/onnx/decode.js';
import type { Runtime } from '../src/runtime/runtime.js';


let rt: Runtime;
beforeAll(async () => {
  rt = await makeRuntime({ seed: 3 });
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
});

/**
 * How far the imported net's predict may be from ONNX Runtime: 64 float32 ulps of the output's scale (the
 * largest |y|, at least 1), 2^-17 of it. Both compute the model's formulas in float32 but sum in other orders
 * (ORT's GEMM and conv kernels tile K otherwise, its batch norm folds the statistics into one scale and shift,
 * its average pooling divides where ours multiplies by 1/n), so outputs differ by a few ulps of their sums'
 * terms, grown over the layers. A mapping gone wrong (a weight not transposed, a bias or eps dropped,
 * padding counted otherwise) moves them by 1e-3 of the scale and more.
 */
const tolerance = (want: Float32Array) => 64 * 2 ** -23 * Math.max(1, ...Array.from(want, Math.abs));

// ---- building ONNX models as the exporters write them ---------------------------------------------------

const model = (g: GraphSpec) => buildModel({ producerVersion: '2.1.0', ...g });

let seed = 1000;
const rand = (n: number, lo = -1, hi = 1) => randomArray(n, seed++, lo, hi);

/** Imports `bytes`, runs predict and ORT on the same x and expects them within the tolerance; returns the import (net disposed). */
async function expectSameAsOrt(bytes: Uint8Array, dims: number[], lo = -1, hi = 1) {
  const imported = importOnnx(rt, bytes);
  try {
    const xs = rand(dims.reduce((a, b) => a * b, 1), lo, hi);
    const x = rt.tensor(dims, xs);
    const y = imported.net.predict(x);
    const got = imported.finalSoftmax === 'Softmax' ? softmax(y) : y;
    const ours = got.toArray();
    if (got !== y) got.dispose();
    y.dispose();
    x.dispose();
    const want = await ortRun(bytes, imported.inputName, xs, dims);
    const d = maxDiff(ours, want);
    expect(d, `max |predict − ORT| = ${d} over outputs up to ${Math.max(...Array.from(want, Math.abs))}`).toBeLessThanOrEqual(tolerance(want));
    return imported;
  } finally {
    imported.net.dispose();
  }
}

// ---- the exporters' graphs -------------------------------------------------------------------------------

/** An MLP as torch.onnx.export writes nn.Linear: Gemm with W as [out, in] and transB = 1. */
function torchMlp(sizes: number[], opts: { softmax?: boolean; form?: 'raw' | 'floats' } = {}): Uint8Array {
  const nodes: INode[] = [], inits: ITensor[] = [];
  let cur = 'input';
  for (let i = 1; i < sizes.length; i++) {
    inits.push(init(`fc${i}.weight`, [sizes[i], sizes[i - 1]], rand(sizes[i] * sizes[i - 1], -0.4, 0.4), opts.form), init(`fc${i}.bias`, [sizes[i]], rand(sizes[i]), opts.form));
    nodes.push(node('Gemm', [cur, `fc${i}.weight`, `fc${i}.bias`], [`/fc${i}/Gemm_output_0`], { alpha: float(1), beta: float(1), transB: int(1) }, `/fc${i}/Gemm`));
    cur = `/fc${i}/Gemm_output_0`;
    if (i < sizes.length - 1) {
      nodes.push(node('Relu', [cur], [`/relu${i}/Relu_output_0`], {}, `/relu${i}/Relu`));
      cur = `/relu${i}/Relu_output_0`;
    }
  }
  if (opts.softmax) {
    nodes.push(node('Softmax', [cur], ['probs'], { axis: int(1) }, '/softmax/Softmax'));
    cur = 'probs';
  }
  nodes[nodes.length - 1].output = ['output'];
  return model({ nodes, inits, input: ['input', ['batch_size', sizes[0]]], output: ['output', ['batch_size', sizes[sizes.length - 1]]] });
}

/** A conv net as torch exports it: Conv (bias), Relu, MaxPool, Flatten, Gemm (transB 1), Relu, Gemm. */
function torchConvNet(): Uint8Array {
  const inits = [
    init('conv1.weight', [4, 2, 3, 3], rand(72, -0.5, 0.5)), init('conv1.bias', [4], rand(4)),
    init('fc1.weight', [10, 4 * 4 * 4], rand(640, -0.3, 0.3)), init('fc1.bias', [10], rand(10)),
    init('fc2.weight', [3, 10], rand(30, -0.5, 0.5)), init('fc2.bias', [3], rand(3)),
  ];
  const nodes = [
    node('Conv', ['input', 'conv1.weight', 'conv1.bias'], ['c1'], { dilations: ints([1, 1]), group: int(1), kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([1, 1]) }, '/conv1/Conv'),
    node('Relu', ['c1'], ['r1']),
    node('MaxPool', ['r1'], ['p1'], { ceil_mode: int(0), kernel_shape: ints([2, 2]), pads: ints([0, 0, 0, 0]), strides: ints([2, 2]) }),
    node('Flatten', ['p1'], ['f1'], { axis: int(1) }),
    node('Gemm', ['f1', 'fc1.weight', 'fc1.bias'], ['g1'], { alpha: float(1), beta: float(1), transB: int(1) }),
    node('Relu', ['g1'], ['r2']),
    node('Gemm', ['r2', 'fc2.weight', 'fc2.bias'], ['output'], { alpha: float(1), beta: float(1), transB: int(1) }),
  ];
  return model({ nodes, inits, input: ['input', ['N', 2, 8, 8]], output: ['output', ['N', 3]] });
}

describe('PyTorch- and tf2onnx-style models, against ONNX Runtime', () => {
  it('an MLP as torch exports it (Gemm transB = 1, weights [out, in] transposed into ours)', async () => {
    const imported = await expectSameAsOrt(torchMlp([12, 9, 7, 4]), [5, 12]);
    expect(imported.inputShape).toEqual([12]);
    expect(imported.batch).toBe('batch_size');
    expect(imported.finalSoftmax).toBeNull();
    expect({ opset: imported.opset, producer: imported.producerName, input: imported.inputName, output: imported.outputName })
      .toEqual({ opset: 13, producer: 'pytorch', input: 'input', output: 'output' });
    expect(imported.nodes.map((n) => n.becomes)).toEqual(['Affine [12, 9]', 'Relu', 'Affine [9, 7]', 'Relu', 'Affine [7, 4]']);
    expect(imported.net.layers.map((l) => l.name)).toEqual(['Affine', 'Relu', 'Affine', 'Relu', 'Affine']);
  });

  it('inspectOnnx tells what importOnnx would make, allocating nothing; it refuses what importOnnx refuses', () => {
    const bytes = model({
      nodes: [node('Conv', ['x', 'W', 'b'], ['c'], { kernel_shape: ints([3, 3]) }), node('BatchNormalization', ['c', 'g', 'be', 'm', 'v'], ['n']),
        node('Relu', ['n'], ['r']), node('Flatten', ['r'], ['f']), node('Gemm', ['f', 'W2', 'b2'], ['s'], { transB: int(1) }), node('Softmax', ['s'], ['y'])],
      inits: [init('W', [2, 1, 3, 3], rand(18)), init('b', [2], rand(2)), ...['g', 'be', 'm', 'v'].map((n) => init(n, [2], rand(2, 0.5, 1))),
        init('W2', [3, 32], rand(96)), init('b2', [3], rand(3))],
      input: ['x', ['N', 1, 6, 6]], output: ['y', ['N', 3]],
    });
    const before = rt.memoryStats();
    const info = inspectOnnx(bytes);
    expect(rt.memoryStats()).toEqual(before);
    const { net, ...imported } = importOnnx(rt, bytes);
    expect(info).toEqual(imported);
    expect(info.layers).toEqual(net.layers.map((l) => l.name));
    expect(info.parameters, 'W, b, gamma, beta, W2, b2 (the running statistics are state)').toBe(Object.values(net.params).reduce((n, p) => n + p.size, 0));
    expect(info.parameters).toBe(18 + 2 + 2 + 2 + 96 + 3);
    expect(info.finalSoftmax).toBe('Softmax');
    net.dispose();
    expect(() => inspectOnnx(torchMlp([3, 2]).subarray(0, 20))).toThrow(OnnxError);
    expect(() => inspectOnnx(bytes, { inputShape: [2, 6, 6] })).toThrow(/^inspectOnnx: options.inputShape \[2, 6, 6\] does not fit/);
  });

  it('weights as float_data (the typed field) read as raw_data are', async () => {
    await expectSameAsOrt(torchMlp([6, 5, 3], { form: 'floats' }), [4, 6]);
  });

  it('a conv net: Conv (padded), Relu, MaxPool, Flatten, Gemm', async () => {
    const imported = await expectSameAsOrt(torchConvNet(), [3, 2, 8, 8]);
    expect(imported.inputShape).toEqual([2, 8, 8]);
    expect(imported.net.layers.map((l) => l.name)).toEqual(['Convolution', 'Relu', 'Pooling', 'Flatten', 'Affine', 'Relu', 'Affine']);
  });

  it('a final Softmax is left out and said: predict gives the scores, whose softmax is the model\'s output', async () => {
    const imported = await expectSameAsOrt(torchMlp([8, 6, 5], { softmax: true }), [3, 8]);
    expect(imported.finalSoftmax).toBe('Softmax');
    expect(imported.nodes.at(-1)!.becomes).toMatch(/left out/);
  });

  it('a final LogSoftmax likewise', async () => {
    const bytes = model({
      nodes: [node('Gemm', ['x', 'W', 'b'], ['s'], { transB: int(1) }), node('LogSoftmax', ['s'], ['y'], { axis: int(-1) })],
      inits: [init('W', [4, 6], rand(24)), init('b', [4], rand(4))], input: ['x', ['N', 6]], output: ['y', ['N', 4]],
    });
    const imported = importOnnx(rt, bytes);
    expect(imported.finalSoftmax).toBe('LogSoftmax');
    const x = rand(12);
    const xt = rt.tensor([2, 6], x);
    const y = imported.net.predict(xt);
    const logp = Array.from(y.toArray()).map((v, i, all) => {
      const row = all.slice(Math.floor(i / 4) * 4, Math.floor(i / 4) * 4 + 4);
      const m = Math.max(...row);
      return v - m - Math.log(row.reduce((s, r) => s + Math.exp(r - m), 0));
    });
    const want = await ortRun(bytes, 'x', x, [2, 6]);
    expect(maxDiff(Float32Array.from(logp), want)).toBeLessThanOrEqual(tolerance(want));
    for (const t of [xt, y]) t.dispose();
    imported.net.dispose();
  });

  it('batch normalization: per channel after a Conv (padded max pooling after a Relu, global average pooling), per feature after a Gemm', async () => {
    const bn = (p: string, C: number) => [init(`${p}.weight`, [C], rand(C, 0.5, 1.5)), init(`${p}.bias`, [C], rand(C)),
      init(`${p}.running_mean`, [C], rand(C)), init(`${p}.running_var`, [C], rand(C, 0.2, 2))];
    const bytes = model({
      nodes: [
        node('Conv', ['x', 'conv.weight', 'conv.bias'], ['c'], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([1, 1]) }),
        node('BatchNormalization', ['c', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var'], ['n'], { epsilon: float(1e-3), momentum: float(0.9) }),
        node('Relu', ['n'], ['r']),
        // padding of max pooling: ONNX's −∞, ours zeros; the same after a Relu
        node('MaxPool', ['r'], ['p'], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) }),
        node('GlobalAveragePool', ['p'], ['g']),
        node('Flatten', ['g'], ['f'], { axis: int(1) }),
        node('Gemm', ['f', 'fc1.weight', 'fc1.bias'], ['h'], { transB: int(1) }),
        node('BatchNormalization', ['h', 'bn2.weight', 'bn2.bias', 'bn2.running_mean', 'bn2.running_var'], ['hn'], { epsilon: float(1e-5) }),
        node('Sigmoid', ['hn'], ['hs']),
        node('Gemm', ['hs', 'fc2.weight', 'fc2.bias'], ['y'], { transB: int(1) }),
      ],
      inits: [init('conv.weight', [5, 3, 3, 3], rand(135, -0.5, 0.5)), init('conv.bias', [5], rand(5)), ...bn('bn1', 5),
        init('fc1.weight', [6, 5], rand(30)), init('fc1.bias', [6], rand(6)), ...bn('bn2', 6), init('fc2.weight', [3, 6], rand(18)), init('fc2.bias', [3], rand(3))],
      input: ['x', ['N', 3, 7, 7]], output: ['y', ['N', 3]],
    });
    const imported = await expectSameAsOrt(bytes, [4, 3, 7, 7], -2, 2);
    expect(imported.net.layers.map((l) => l.name)).toEqual(['Convolution', 'BatchNormalization', 'Relu', 'Pooling', 'GlobalAveragePooling',
      'Affine', 'BatchNormalization', 'Sigmoid', 'Affine']);
    const norms = imported.net.layers.filter((l): l is BatchNormalization => l instanceof BatchNormalization);
    expect(norms.map((l) => [l.spatial, l.eps])).toEqual([[true, Math.fround(1e-3)], [false, Math.fround(1e-5)]]);
  });

  it('Dropout (opset 13, a constant ratio) and Identity: the identity in predict, an inverted Dropout for training', async () => {
    const bytes = model({
      nodes: [
        node('Constant', [], ['ratio'], { value: { type: onnx.AttributeProto.AttributeType.TENSOR, t: init('', [], Float32Array.of(0.25)) } }),
        node('Gemm', ['x', 'W1', 'b1'], ['h'], { transB: int(1) }), node('Relu', ['h'], ['r']),
        node('Dropout', ['r', 'ratio'], ['d', 'mask']), node('Identity', ['d'], ['i']),
        node('Gemm', ['i', 'W2', 'b2'], ['y'], { transB: int(1) }),
      ],
      inits: [init('W1', [7, 5], rand(35)), init('b1', [7], rand(7)), init('W2', [2, 7], rand(14)), init('b2', [2], rand(2))],
      input: ['x', ['N', 5]], output: ['y', ['N', 2]],
    });
    const imported = await expectSameAsOrt(bytes, [3, 5]);
    const dropout = imported.net.layers.find((l): l is Dropout => l instanceof Dropout)!;
    expect([dropout.ratio, dropout.inverted]).toEqual([Math.fround(0.25), true]);
    expect(imported.nodes.find((n) => n.opType === 'Identity')!.becomes).toMatch(/dropped/);
  });

  it('a Reshape flatten with a Constant shape [0, -1] (torch) and an initializer [-1, k] (Keras)', async () => {
    for (const [shapeName, shape, constant] of [['s', [0, -1], true], ['s', [-1, 32], false]] as const) {
      const bytes = model({
        nodes: [
          ...(constant ? [node('Constant', [], [shapeName], { value: { type: onnx.AttributeProto.AttributeType.TENSOR, t: int64s('', [...shape]) } })] : []),
          node('Conv', ['x', 'W', 'b'], ['c'], { kernel_shape: ints([3, 3]) }), node('Tanh', ['c'], ['t']),
          node('Reshape', ['t', shapeName], ['f']), node('Gemm', ['f', 'W2', 'b2'], ['y'], { transB: int(1) }),
        ],
        inits: [init('W', [2, 1, 3, 3], rand(18)), init('b', [2], rand(2)), init('W2', [3, 32], rand(96, -0.3, 0.3)), init('b2', [3], rand(3)),
          ...(constant ? [] : [int64s(shapeName, [...shape])])],
        input: ['x', ['N', 1, 6, 6]], output: ['y', ['N', 3]],
      });
      const imported = await expectSameAsOrt(bytes, [2, 1, 6, 6]);
      expect(imported.net.layers.map((l) => l.name)).toEqual(['Convolution', 'Tanh', 'Flatten', 'Affine']);
    }
  });

  it('MatMul followed by an Add of its bias (tf2onnx\'s Dense), Sigmoid, and a Conv whose bias comes in an Add', async () => {
    const bytes = model({
      producer: 'tf2onnx',
      nodes: [
        node('Conv', ['x', 'W'], ['c'], { kernel_shape: ints([2, 2]), strides: ints([2, 2]), auto_pad: str('VALID') }),
        node('Add', ['c', 'cb'], ['cbias']), node('Relu', ['cbias'], ['r']),
        node('Reshape', ['r', 'shape'], ['f']),
        node('MatMul', ['f', 'dense/kernel'], ['m']), node('Add', ['dense/bias', 'm'], ['a']), node('Sigmoid', ['a'], ['s']),
        node('MatMul', ['s', 'out/kernel'], ['m2']), node('Add', ['m2', 'out/bias'], ['y']),
      ],
      inits: [init('W', [3, 2, 2, 2], rand(24)), init('cb', [1, 3, 1, 1], rand(3)), int64s('shape', [-1, 27]),
        init('dense/kernel', [27, 8], rand(216, -0.4, 0.4)), init('dense/bias', [8], rand(8)), init('out/kernel', [8, 4], rand(32)), init('out/bias', [4], rand(4))],
      input: ['x', ['unk__6', 2, 6, 6]], output: ['y', ['unk__7', 4]],
    });
    const imported = await expectSameAsOrt(bytes, [3, 2, 6, 6]);
    expect(imported.net.layers.map((l) => l.name)).toEqual(['Convolution', 'Relu', 'Flatten', 'Affine', 'Sigmoid', 'Affine']);
    expect(imported.nodes.filter((n) => n.opType === 'Add').map((n) => n.becomes)).toEqual(['the bias of the Convolution before', 'the bias of the Affine before', 'the bias of the Affine before']);
  });

  it('a Keras conv net through tf2onnx: a Transpose to channels last before the flatten, read as ours with the Dense rows reordered', async () => {
    const bytes = model({
      producer: 'tf2onnx',
      nodes: [
        node('Conv', ['x', 'W', 'b'], ['c'], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) }), node('Relu', ['c'], ['r']),
        node('MaxPool', ['r'], ['p'], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }),
        node('Transpose', ['p'], ['t'], { perm: ints([0, 2, 3, 1]) }, 'flatten/transpose'),
        node('Reshape', ['t', 'shape'], ['f']), node('MatMul', ['f', 'dense/kernel'], ['m']), node('Add', ['m', 'dense/bias'], ['y']),
      ],
      inits: [init('W', [3, 2, 3, 3], rand(54)), init('b', [3], rand(3)), int64s('shape', [-1, 3 * 3 * 2]),
        init('dense/kernel', [18, 4], rand(72)), init('dense/bias', [4], rand(4))],
      input: ['x', ['N', 2, 6, 4]], output: ['y', ['N', 4]],
    });
    const imported = await expectSameAsOrt(bytes, [3, 2, 6, 4]);
    expect(imported.net.layers.map((l) => l.name)).toEqual(['Convolution', 'Relu', 'Pooling', 'Flatten', 'Affine']);
    expect(imported.nodes.find((n) => n.opType === 'Transpose')!.becomes).toMatch(/reads its rows in that order/);
  });

  it('LayerNormalization (opset 17), InstanceNormalization, average pooling over padding counted (count_include_pad 1), SAME padding', async () => {
    const bytes = model({
      opset: 17,
      nodes: [
        node('Conv', ['x', 'W', 'b'], ['c'], { kernel_shape: ints([3, 3]), auto_pad: str('SAME_UPPER') }),
        node('InstanceNormalization', ['c', 'in.scale', 'in.bias'], ['i'], { epsilon: float(1e-4) }),
        node('AveragePool', ['i'], ['p'], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([2, 2]), count_include_pad: int(1) }),
        node('Flatten', ['p'], ['f']),
        node('LayerNormalization', ['f', 'ln.scale', 'ln.bias'], ['l'], { axis: int(-1), epsilon: float(1e-5) }),
        node('Gemm', ['l', 'W2', 'b2'], ['y']),
      ],
      inits: [init('W', [3, 2, 3, 3], rand(54)), init('b', [3], rand(3)), init('in.scale', [3], rand(3, 0.5, 1.5)), init('in.bias', [3], rand(3)),
        init('ln.scale', [27], rand(27, 0.5, 1.5)), init('ln.bias', [27], rand(27)), init('W2', [27, 4], rand(108, -0.3, 0.3)), init('b2', [4], rand(4))],
      input: ['x', ['N', 2, 5, 5]], output: ['y', ['N', 4]],
    });
    const imported = await expectSameAsOrt(bytes, [3, 2, 5, 5], -2, 2);
    expect(imported.net.layers.map((l) => l.name)).toEqual(['Convolution', 'InstanceNormalization', 'Pooling', 'Flatten', 'LayerNormalization', 'Affine']);
    expect((imported.net.layers[0] as Convolution).pad).toBe(1);
  });

  it('Gemm\'s alpha (a power of two, folded into W) and beta (folded into b)', async () => {
    const bytes = model({
      nodes: [node('Gemm', ['x', 'W', 'b'], ['h'], { alpha: float(0.25), beta: float(3), transB: int(1) }), node('Relu', ['h'], ['r']),
        node('Gemm', ['r', 'W2', 'b2'], ['y'], { alpha: float(-2) })],
      inits: [init('W', [5, 6], rand(30)), init('b', [5], rand(5)), init('W2', [5, 3], rand(15)), init('b2', [3], rand(3))],
      input: ['x', ['N', 6]], output: ['y', ['N', 3]],
    });
    await expectSameAsOrt(bytes, [4, 6]);
  });

  it('a padded MaxPool and a Max with 0 on its border windows (the book\'s zero padding, as exportOnnx writes it)', async () => {
    const floor = Float32Array.from({ length: 16 }, (_, i) => ([0, 3].includes(i % 4) || [0, 3].includes(Math.floor(i / 4)) ? 0 : -Infinity));
    const imported = await expectSameAsOrt(paddedMaxPool(floor), [3, 1, 6, 6], -2, 0.5);
    expect(imported.net.layers.map((l) => [l.name, (l as Pooling).pad])).toEqual([['Convolution', 1], ['Pooling', 1]]);
  });

  it('a Pad of zeros before a Conv and before an AveragePool: their padding', async () => {
    const pads = (p: number) => int64s(`pads${p}`, [0, 0, p, p, 0, 0, p, p]);
    const bytes = model({
      nodes: [
        node('Pad', ['x', 'pads1'], ['xp']), node('Conv', ['xp', 'W', 'b'], ['c'], { kernel_shape: ints([3, 3]) }), node('Tanh', ['c'], ['t']),
        node('Pad', ['t', 'pads2'], ['tp'], { mode: str('constant') }), node('AveragePool', ['tp'], ['p'], { kernel_shape: ints([3, 3]), strides: ints([2, 2]) }),
        node('Flatten', ['p'], ['y']),
      ],
      inits: [init('W', [2, 2, 3, 3], rand(36)), init('b', [2], rand(2)), pads(1), pads(2)], input: ['x', ['N', 2, 5, 5]], output: ['y', ['N', 2 * 4 * 4]],
    });
    const imported = await expectSameAsOrt(bytes, [2, 2, 5, 5]);
    expect(imported.net.layers.map((l) => [l.name, (l as Pooling).pad])).toEqual([['Convolution', 1], ['Tanh', undefined], ['Pooling', 2], ['Flatten', undefined]]);
  });

  it('a graph input with a symbolic image size takes options.inputShape', async () => {
    const bytes = model({
      nodes: [node('Conv', ['x', 'W', 'b'], ['c'], { kernel_shape: ints([3, 3]) }), node('GlobalAveragePool', ['c'], ['g']), node('Flatten', ['g'], ['y'])],
      inits: [init('W', [3, 1, 3, 3], rand(27)), init('b', [3], rand(3))], input: ['x', ['N', 1, 'H', 'W']], output: ['y', ['N', 3]],
    });
    expectRefused(rt, () => importOnnx(rt, bytes), OnnxError, /dimension 2 is not a size; give options.inputShape/);
    expectRefused(rt, () => importOnnx(rt, bytes, { inputShape: [2, 9, 9] }), RangeError, /inputShape \[2, 9, 9\] does not fit/);
    expectRefused(rt, () => importOnnx(rt, bytes, { inputShape: ['9'] as unknown as number[] }), TypeError, /inputShape must be one sample's dimensions/);
    expectRefused(rt, () => importOnnx(rt, bytes, { shape: [1] } as never), TypeError, /unknown option 'shape'/);
    const imported = importOnnx(rt, bytes, { inputShape: [1, 9, 9] });
    expect(imported.inputShape).toEqual([1, 9, 9]);
    imported.net.dispose();
  });
});

describe('weights in other float types', () => {
  /** A one-Gemm model whose weight is given as `W` ([2, 3], not transposed). */
  const gemmWith = (W: ITensor) => model({
    nodes: [node('Gemm', ['x', 'W', 'b'], ['y'], {}, '')], inits: [{ ...W, name: 'W', dims: [2, 3] }, init('b', [3], new Float32Array(3))],
    input: ['x', ['N', 2]], output: ['y', ['N', 3]],
  });
  const weightsOf = (bytes: Uint8Array) => {
    const imported = importOnnx(rt, bytes);
    const w = imported.net.params.W1.toArray();
    imported.net.dispose();
    return w;
  };

  it('float16 (int32_data bit patterns) and bfloat16 (raw_data) convert exactly', () => {
    // 1, -2, 0.5, 65504 (the largest half), 2^-24 (the smallest subnormal), -0
    const halves = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000];
    expectBits(weightsOf(gemmWith({ dataType: onnx.TensorProto.DataType.FLOAT16, int32Data: halves })), Float32Array.of(1, -2, 0.5, 65504, 2 ** -24, -0), 'float16');
    const bf = new Uint8Array(new Uint16Array([0x3f80, 0xc000, 0x3f00, 0x7f7f, 0x0001, 0x8000]).buffer);
    const want = new Float32Array(new Uint32Array([0x3f800000, 0xc0000000, 0x3f000000, 0x7f7f0000, 0x00010000, 0x80000000]).buffer);
    expectBits(weightsOf(gemmWith({ dataType: onnx.TensorProto.DataType.BFLOAT16, rawData: bf })), want, 'bfloat16');
  });

  it('float64 rounds to nearest float32; a value beyond float32\'s range is refused', () => {
    const doubles = [0.1, 1 / 3, -1e-30, 3e38, 1 + 2 ** -30, 0];
    expectBits(weightsOf(gemmWith({ dataType: onnx.TensorProto.DataType.DOUBLE, doubleData: doubles })), Float32Array.from(doubles), 'float64');
    const raw = new Uint8Array(new Float64Array(doubles).buffer);
    expectBits(weightsOf(gemmWith({ dataType: onnx.TensorProto.DataType.DOUBLE, rawData: raw })), Float32Array.from(doubles), 'float64 raw');
    expectRefused(rt, () => importOnnx(rt, gemmWith({ dataType: onnx.TensorProto.DataType.DOUBLE, doubleData: [1, 2, 1e39, 0, 0, 0] })), OnnxError,
      /node 0 \(Gemm\) has its weight B 'W' in float64 with a value float32 cannot hold/);
  });

  it('int8 weights (a quantized model) are refused by name', () => {
    expectRefused(rt, () => importOnnx(rt, gemmWith({ dataType: onnx.TensorProto.DataType.INT8, rawData: new Uint8Array(6) })), OnnxError,
      /weight B 'W' of int8; simdnn reads float32, float16, bfloat16 and float64 weights/);
  });
});

describe('round trips through exportOnnx', () => {
  /** Random biases and gammas (the constructors' zeros and ones would hide a mapping that drops them). */
  function randomizeParams(net: Sequential): void {
    for (const [key, p] of Object.entries(net.params)) {
      if (key.startsWith('gamma')) p.set(rand(p.size, 0.5, 1.5));
      else if (key.startsWith('b')) p.set(rand(p.size, -0.5, 0.5));
    }
  }

  /** Exports net, imports it back and expects predict's very bits on x. */
  function expectRoundTrip(net: Sequential, dims: number[]): string[] {
    const x = rt.tensor(dims, rand(dims.reduce((a, b) => a * b, 1), -1, 2));
    const imported = importOnnx(rt, exportOnnx(net));
    try {
      const want = net.predict(x), got = imported.net.predict(x);
      expectBits(got.toArray(), want.toArray(), `${net.constructor.name}: predict after the round trip`);
      want.dispose();
      got.dispose();
      expect(imported.producerName).toBe('simdnn');
      return imported.net.layers.map((l) => l.name);
    } finally {
      imported.net.dispose();
      x.dispose();
    }
  }

  it('MultiLayerNet, MultiLayerNetExtend (batch norm, the book\'s dropout), SimpleConvNet, DeepConvNet: the same layers, the same bits', () => {
    const mlp = new MultiLayerNet(rt, { inputSize: 10, hiddenSizeList: [8, 6], outputSize: 4, activation: 'tanh' });
    randomizeParams(mlp);
    expect(expectRoundTrip(mlp, [3, 10])).toEqual(mlp.layers.map((l) => l.name));
    mlp.dispose();
    const ext = new MultiLayerNetExtend(rt, { inputSize: 10, hiddenSizeList: [8], outputSize: 3, useBatchnorm: true, useDropout: true, dropoutRatio: 0.3 });
    randomizeParams(ext);
    for (let i = 0; i < 3; i++) { // running statistics away from their zeros
      const x = rt.tensor([8, 10], rand(80, -2, 3));
      ext.predict(x, true).dispose();
      x.dispose();
    }
    // the book's dropout (which scales by 1 − ratio in predict) comes back as that Dropout, from a model simdnn wrote
    expect(expectRoundTrip(ext, [4, 10])).toEqual(ext.layers.map((l) => l.name));
    ext.dispose();
    const conv = new SimpleConvNet(rt, { inputDim: [1, 10, 10], convParam: { filterNum: 4, filterSize: 3, pad: 1, stride: 1 }, hiddenSize: 12, outputSize: 3 });
    randomizeParams(conv);
    // the export flattens the images before the first Affine (which flattens by itself); the named net comes back,
    // without a Flatten layer (test/onnx-named.node.test.ts)
    expect(expectRoundTrip(conv, [2, 1, 10, 10])).toEqual(['Convolution', 'Relu', 'Pooling', 'Affine', 'Relu', 'Affine']);
    conv.dispose();
    const deep = new DeepConvNet(rt);
    randomizeParams(deep);
    expect(expectRoundTrip(deep, [1, 1, 28, 28])).toEqual(deep.layers.map((l) => l.name));
    deep.dispose();
  }, 60_000);

  it('a Sequential of every layer kind (padded max and average pooling, the norms, global average pooling, a batch norm per feature of images)', () => {
    const t = (shape: number[], lo = -1, hi = 1) => rt.tensor(shape, rand(shape.reduce((a, b) => a * b, 1), lo, hi));
    const owned: Tensor[] = [];
    const own = (x: Tensor) => (owned.push(x), x);
    const layers: Layer[] = [
      new Convolution(own(t([4, 2, 3, 3], -0.5, 0.5)), own(t([4])), 1, 1),
      new BatchNormalization(own(t([4], 0.5, 1.5)), own(t([4])), 0.9, { spatial: true, runningMean: own(t([4])), runningVar: own(t([4], 0.5, 2)), eps: 1e-3 }),
      new Tanh(),
      new Pooling(3, 3, 2, 1),
      new BatchNormalization(own(t([4 * 5 * 5], 0.5, 1.5)), own(t([4 * 5 * 5])), 0.9, { runningMean: own(t([100])), runningVar: own(t([100], 0.5, 2)) }),
      new Convolution(own(t([5, 4, 2, 2], -0.5, 0.5)), own(t([5])), 1, 0),
      new InstanceNormalization(own(t([5], 0.5, 1.5)), own(t([5])), { eps: 1e-4 }),
      new Sigmoid(),
      new Pooling(3, 3, 1, 1, { mode: 'avg' }),
      new LayerNormalization(own(t([5 * 4 * 4], 0.5, 1.5)), own(t([80]))),
      new Dropout(0.2, { inverted: true }),
      new GlobalAveragePooling(),
      new Affine(own(t([5, 3])), own(t([3]))),
      new Relu(),
    ];
    const net = new Sequential(rt, layers, { inputShape: [2, 9, 9] });
    expect(expectRoundTrip(net, [3, 2, 9, 9])).toEqual(['Convolution', 'BatchNormalization', 'Tanh', 'Pooling', 'BatchNormalization', 'Convolution',
      'InstanceNormalization', 'Sigmoid', 'Pooling', 'LayerNormalization', 'GlobalAveragePooling', 'Affine', 'Relu']);
    net.dispose();
    for (const x of owned) x.dispose();
  });
});

describe('an imported net trains further', () => {
  it('a few Trainer epochs lower the loss of an imported MLP with batch norm and dropout', () => {
    const bytes = model({
      nodes: [
        node('Gemm', ['x', 'W1', 'b1'], ['h'], { transB: int(1) }),
        node('BatchNormalization', ['h', 'g', 'be', 'm', 'v'], ['n']), node('Relu', ['n'], ['r']),
        node('Dropout', ['r'], ['d'], { ratio: float(0.1) }),
        node('Gemm', ['d', 'W2', 'b2'], ['s'], { transB: int(1) }), node('Softmax', ['s'], ['y'], { axis: int(1) }),
      ],
      inits: [init('W1', [16, 8], rand(128, -0.3, 0.3)), init('b1', [16], rand(16)), init('g', [16], rand(16, 0.5, 1.5)), init('be', [16], rand(16)),
        init('m', [16], rand(16)), init('v', [16], rand(16, 0.5, 1.5)), init('W2', [3, 16], rand(48, -0.3, 0.3)), init('b2', [3], rand(3))],
      input: ['x', ['N', 8]], output: ['y', ['N', 3]], opset: 11,
    });
    const { net } = importOnnx(rt, bytes);
    // labels a linear teacher gives (learnable, so the loss can fall well below its start)
    const xs = rand(960), teacher = rand(24);
    const labels = Array.from({ length: 120 }, (_, i) => {
      const scores = [0, 1, 2].map((c) => xs.slice(8 * i, 8 * i + 8).reduce((s, v, j) => s + v * teacher[3 * j + c], 0));
      return scores.indexOf(Math.max(...scores));
    });
    const x = rt.tensor([120, 8], xs);
    const t = rt.labels([120], labels);
    const before = net.loss(x, t);
    const trainer = new Trainer(net, x, t, x, t, { epochs: 8, miniBatchSize: 20, optimizer: 'adam', optimizerParams: { lr: 0.01 }, evaluateSampleNumPerEpoch: 20 });
    const result = trainer.train();
    const after = net.loss(x, t);
    expect(result.trainLossList.length).toBeGreaterThan(0);
    expect(after, `loss ${before} → ${after}`).toBeLessThan(0.8 * before);
    // the trained net saved as ONNX (saveModel takes named nets) and read back predicts the same bits
    const again = importOnnx(rt, exportOnnx(net));
    const want = net.predict(x), got = again.net.predict(x);
    expectBits(got.toArray(), want.toArray(), 'the fine-tuned net through exportOnnx and back');
    for (const v of [want, got]) v.dispose();
    again.net.dispose();
    trainer.dispose();
    for (const v of [x, t]) v.dispose();
    net.dispose();
  });
});

// ---- bytes that are not a model, and models simdnn cannot reproduce --------------------------------------

/** A few protobuf pieces, for bytes no encoder would write. */
const varint = (n: bigint): number[] => {
  const out: number[] = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const key = (field: number, wire: number) => varint(BigInt((field << 3) | wire));
const len = (field: number, body: number[]) => [...key(field, 2), ...varint(BigInt(body.length)), ...body];

describe('malformed bytes: an OnnxError naming the byte, nothing allocated', () => {
  const refusedBytes = (bytes: Uint8Array | number[], message: RegExp) => expectRefused(rt, () => importOnnx(rt, Uint8Array.from(bytes)), OnnxError, message);

  it('lying lengths, long varints, groups, wrong wire types, invalid UTF-8, no graph', () => {
    refusedBytes([...key(7, 2), ...varint(2n ** 40n), 1, 2, 3], /ModelProto: field 7's length 1099511627776 runs past the end of the message \(3 bytes left\) \(at byte 1\)/);
    refusedBytes([...key(1, 0), ...Array(10).fill(0xff), 1], /a varint longer than 10 bytes \(at byte 1\)/);
    refusedBytes([...key(1, 0), 0x80, 0x80], /a varint runs past the end/);
    refusedBytes([...key(1, 3)], /field 1 has wire type 3 \(group start\)/);
    refusedBytes([...key(1, 7)], /wire type 7 \(invalid\)/);
    refusedBytes([0], /field number 0/);
    refusedBytes([...key(7, 0), 1], /ModelProto.graph \(field 7\) has wire type 0 \(varint\), expected length-delimited/);
    refusedBytes(len(2, [0xc3, 0x28]), /producer_name is not valid UTF-8/);
    refusedBytes([...key(50, 5), 1, 2], /a 4-byte value runs past the end/);
    refusedBytes([], /the model has no graph \(0 bytes/);
    // a length within the model's bytes but past its own message's: 10 bytes left after 52 of an unknown field
    refusedBytes([...len(100, Array(50).fill(0)), ...key(7, 2), 20, ...Array(10).fill(0)], /field 7's length 20 runs past the end of the message \(10 bytes left\) \(at byte 54\)/);
    refusedBytes([...len(7, []), ...len(7, [])], /ModelProto: the model holds a second graph \(at byte 2\)/);
    refusedBytes(new TextEncoder().encode('{"not": "onnx"}'), /OnnxError|onnx: /);
    // a packed float_data of 7 bytes inside an initializer
    refusedBytes(len(7, len(5, len(4, [1, 2, 3, 4, 5, 6, 7]))), /GraphProto.initializer\[0\]: float_data holds 7 bytes, not a whole number of 4-byte values/);
    // a node's attribute whose length runs past the node
    refusedBytes(len(7, len(1, [...key(5, 2), 40, 1])), /GraphProto.node\[0\]: field 5's length 40 runs past the end/);
  });

  it('unknown fields are skipped by wire type, unpacked repeated fields read as packed ones, negative int64 as 10 bytes', () => {
    const good = onnx.ModelProto.decode(torchMlp([3, 2]));
    const bytes = new Uint8Array(onnx.ModelProto.encode(good).finish());
    // unknown fields of each wire type before the model's own
    const unknown = [...key(100, 0), ...varint(2n ** 63n), ...key(101, 1), 1, 2, 3, 4, 5, 6, 7, 8, ...len(102, [9, 9]), ...key(103, 5), 1, 2, 3, 4];
    const withUnknown = Uint8Array.from([...unknown, ...bytes]);
    const imported = importOnnx(rt, withUnknown);
    expect(imported.net.layers.map((l) => l.name)).toEqual(['Affine']);
    imported.net.dispose();
    // a tensor's dims unpacked (one varint field each) and a negative int64 (10 bytes) in int64_data
    const tensor = [...key(1, 0), 2, ...key(1, 0), 3, ...key(2, 0), 7, ...key(7, 0), ...varint(2n ** 64n - 1n), ...key(7, 0), 5, ...key(7, 0), 6,
      ...key(7, 0), 7, ...key(7, 0), 8, ...key(7, 0), 9, ...len(8, [...new TextEncoder().encode('t')])];
    const m = decodeOnnx(Uint8Array.from(len(7, len(5, tensor))));
    expect(m.graph.initializers[0]).toMatchObject({ name: 't', dims: [2, 3], dataType: 7, int64Data: [-1, 5, 6, 7, 8, 9] });
  });

  it('a valid model cut at every byte, or with a byte changed at every offset: an OnnxError or a net, nothing else, and memory as before', () => {
    const bytes = torchConvNet();
    const before = rt.memoryStats();
    const outcomes = { refused: 0, imported: 0 };
    const attempt = (b: Uint8Array) => {
      try {
        importOnnx(rt, b).net.dispose();
        outcomes.imported++;
      } catch (e) {
        if (!(e instanceof OnnxError)) throw new Error(`not an OnnxError: ${String(e)}`, { cause: e });
        outcomes.refused++;
      }
    };
    for (let n = 0; n < bytes.length; n++) attempt(bytes.subarray(0, n));
    expect(outcomes.imported, 'a model cut short is never whole').toBe(0);
    for (let i = 0; i < bytes.length; i++) {
      for (const flip of [0xff, 0x80, 0x01]) {
        const b = bytes.slice();
        b[i] ^= flip;
        attempt(b);
      }
    }
    expect(outcomes.refused).toBeGreaterThan(bytes.length);
    expect(outcomes.imported, 'changed weights still import').toBeGreaterThan(0);
    const after = rt.memoryStats();
    expect({ used: after.used, blocks: after.blocks }).toEqual({ used: before.used, blocks: before.blocks });
  }, 120_000);
});

/**
 * A Conv (pad 1) on 1×6×6 images, then a MaxPool 2×2 at stride 2 padded by 1 (4×4 windows), then a Max with
 * `floor` ([4, 4]): exportOnnx's form of the book's zero-padded max pooling when floor is 0 on the border windows.
 */
function paddedMaxPool(floor: Float32Array): Uint8Array {
  return model({
    nodes: [node('Conv', ['x', 'W', 'b'], ['c'], { pads: ints([1, 1, 1, 1]) }),
      node('MaxPool', ['c'], ['m'], { kernel_shape: ints([2, 2]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }, 'pool'), node('Max', ['m', 'floor'], ['y'], {}, 'max')],
    inits: [init('W', [2, 1, 3, 3], rand(18)), init('b', [2], rand(2)), init('floor', [4, 4], floor)],
    input: ['x', ['N', 1, 6, 6]], output: ['y', ['N', 2, 4, 4]],
  });
}

describe('models simdnn cannot reproduce: an OnnxError naming the node and why, nothing allocated', () => {
  const mlpWith = (nodes: INode[], extra: ITensor[] = [], opts: Partial<GraphSpec> = {}) => model({
    nodes, inits: [init('W', [4, 6], rand(24)), init('b', [4], rand(4)), ...extra], input: ['x', ['N', 6]], output: ['y', ['N', 4]], ...opts,
  });
  const convWith = (nodes: INode[]) => model({
    nodes, inits: [init('W', [2, 1, 3, 3], rand(18)), init('b', [2], rand(2))], input: ['x', ['N', 1, 6, 6]], output: ['y', ['N', 2, 3, 3]],
  });
  const refused = (bytes: Uint8Array, message: RegExp) => expectRefused(rt, () => importOnnx(rt, bytes), OnnxError, message);

  it('ops and attributes without a simdnn layer', () => {
    refused(mlpWith([node('Gemm', ['x', 'W', 'b'], ['h'], { transB: int(1) }), node('LeakyRelu', ['h'], ['y'], {}, 'act')]), /node 'act' \(LeakyRelu\) has no simdnn layer \(simdnn imports Gemm/);
    refused(mlpWith([node('Gemm', ['x', 'W', 'b'], ['y'], { transB: int(1), alpha: float(0.3) }, 'fc')]), /node 'fc' \(Gemm\) has alpha = 0\.30000001192092896; simdnn folds alpha into the weights only when that is exact/);
    refused(mlpWith([node('Gemm', ['x', 'W', 'b'], ['y'], { transA: int(1) }, 'fc')]), /node 'fc' \(Gemm\) has transA = 1/);
    refused(mlpWith([node('Gemm', ['x', 'W', 'b'], ['y'], { transB: int(1), foo: int(2) }, 'fc')]), /node 'fc' \(Gemm\) has attribute 'foo', which simdnn does not read for Gemm/);
    refused(mlpWith([node('Gemm', ['x', 'W', 'b'], ['y'], {}, 'fc')]), /node 'fc' \(Gemm\) has a weight B of \[4, 6\] for 6 features/);
    refused(mlpWith([node('Gemm', ['x', 'W', 'b'], ['h'], { transB: int(1) }), node('Mul', ['h', 'two'], ['y'], {}, 'scale')], [init('two', [], Float32Array.of(0.5))]),
      /node 'scale' \(Mul\) multiplies by a constant; simdnn has no layer for it/);
    refused(mlpWith([node('Gemm', ['x', 'W', 'b'], ['h'], { transB: int(1) }), node('Softmax', ['h'], ['s']), node('Identity', ['s'], ['y'], {}, 'after')]),
      /node 's' \(Softmax\) is not the graph's last node/);
    refused(convWith([node('Conv', ['x', 'W', 'b'], ['y'], { kernel_shape: ints([3, 3]), group: int(2), pads: ints([1, 1, 1, 1]) }, 'dw')]), /node 'dw' \(Conv\) has group = 2/);
    refused(model({
      nodes: [node('BatchNormalization', ['x', 'g', 'be', 'm', 'v'], ['y'], {}, 'bn1d')],
      inits: ['g', 'be', 'm', 'v'].map((n) => init(n, [4], rand(4, 0.5, 1))), input: ['x', ['N', 4, 5]], output: ['y', ['N', 4, 5]],
    }), /node 'bn1d' \(BatchNormalization\) takes \[N, 4, 5\]; simdnn reads it on \[N, C\] or \[N, C, H, W\]/);
    // a Mul in a model simdnn wrote is the book's Dropout when some ratio gives its factor exactly
    const scaled = (factor: number) => mlpWith([node('Gemm', ['x', 'W', 'b'], ['h'], { transB: int(1) }), node('Mul', ['h', 's'], ['y'], {}, 'scale')],
      [init('s', [], Float32Array.of(factor))], { producer: 'simdnn' });
    const book = importOnnx(rt, scaled(0.7));
    const dropout = book.net.layers[1] as Dropout;
    expect([dropout.inverted, Math.fround(1 - dropout.ratio)]).toEqual([false, Math.fround(0.7)]);
    book.net.dispose();
    refused(scaled(Math.fround(2 ** -45 * (1 + 2 ** -23))), /node 'scale' \(Mul\) multiplies by 2\.8\d*e-14, which no Dropout's 1 − ratio gives exactly/);
    refused(scaled(1.5), /node 'scale' \(Mul\) multiplies by 1\.5, which no Dropout's 1 − ratio gives exactly/);
    refused(convWith([node('Conv', ['x', 'W', 'b'], ['y'], { dilations: ints([2, 2]) }, 'c')]), /node 'c' \(Conv\) has dilations \[2, 2\]/);
    refused(convWith([node('Conv', ['x', 'W', 'b'], ['y'], { pads: ints([1, 1, 0, 0]) }, 'c')]), /node 'c' \(Conv\) has pads \[1, 1, 0, 0\]; simdnn pads every side of an image alike/);
    refused(convWith([node('Conv', ['x', 'W', 'b'], ['y'], { strides: ints([1, 2]) }, 'c')]), /has strides \[1, 2\]/);
    refused(convWith([node('Conv', ['x', 'W', 'b'], ['y'], { auto_pad: str('SAME_UPPER'), kernel_shape: ints([3, 3]), strides: ints([2, 2]) }, 'c')]), /auto_pad SAME_UPPER, which pads one side more/);
  });

  it('pooling whose padding or windows differ from ours', () => {
    const conv = node('Conv', ['x', 'W', 'b'], ['c'], { pads: ints([1, 1, 1, 1]) });
    refused(convWith([conv, node('MaxPool', ['c'], ['y'], { kernel_shape: ints([2, 2]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }, 'pool')]),
      /node 'pool' \(MaxPool\) pads with 1: ONNX pads max pooling with −∞ and simdnn with zeros, the same only on values ≥ 0/);
    refused(convWith([conv, node('AveragePool', ['c'], ['y'], { kernel_shape: ints([2, 2]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }, 'pool')]),
      /node 'pool' \(AveragePool\) pads with 1 and count_include_pad = 0/);
    refused(convWith([conv, node('MaxPool', ['c'], ['y'], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), ceil_mode: int(1) }, 'pool')]),
      /node 'pool' \(MaxPool\) has ceil_mode = 1, which gives a last partial window here/);
    // a Pad is the padding of the one Conv or pooling right after it
    const padNode = (name: string, input: string) => node('Pad', [input, 'pads'], [name], {}, name);
    const withPads = (nodes: INode[]) => model({
      nodes, inits: [init('W', [2, 1, 3, 3], rand(18)), init('b', [2], rand(2)), int64s('pads', [0, 0, 1, 1, 0, 0, 1, 1])],
      input: ['x', ['N', 1, 6, 6]], output: ['y', ['N', 2, 6, 6]],
    });
    refused(withPads([padNode('p1', 'x'), padNode('p2', 'p1'), node('Conv', ['p2', 'W', 'b'], ['y'])]), /node 'p2' \(Pad\) follows node 'p1' \(Pad\); simdnn reads one Pad/);
    refused(withPads([padNode('p1', 'x'), node('Relu', ['p1'], ['r'], {}, 'relu'), node('Conv', ['r', 'W', 'b'], ['y'])]), /node 'p1' \(Pad\) is followed by node 'relu' \(Relu\)/);
    // a padded MaxPool followed by a Max with other values than 0 on exactly its border windows
    refused(paddedMaxPool(new Float32Array(16).fill(-Infinity)), /node 'max' \(Max\) takes the maximum with values other than 0 on the border windows of node 'pool' \(MaxPool\)/);
    // ceil_mode with no partial window (6×6 by 2×2 windows at stride 2) reads as ours
    const ok = importOnnx(rt, convWith([node('Conv', ['x', 'W', 'b'], ['c'], { pads: ints([1, 1, 1, 1]) }), node('MaxPool', ['c'], ['y'], { kernel_shape: ints([2, 2]), strides: ints([2, 2]), ceil_mode: int(1) })]));
    ok.net.dispose();
  });

  it('branches, reshapes other than a flatten, two inputs, external data', () => {
    // a residual connection: the Relu's output feeds the Gemm and the Add
    refused(model({
      nodes: [node('Relu', ['x'], ['r']), node('Gemm', ['r', 'W', 'b'], ['h'], { transB: int(1) }), node('Add', ['h', 'r'], ['y'], {}, 'residual')],
      inits: [init('W', [6, 6], rand(36)), init('b', [6], rand(6))], input: ['x', ['N', 6]], output: ['y', ['N', 6]],
    }), /node 'h' \(Gemm\) takes 'r', which 2 nodes or outputs take: a branch/);
    refused(model({
      nodes: [node('Shape', ['x'], ['s'], {}, 'shape'), node('Reshape', ['x', 's'], ['y'])], inits: [], input: ['x', ['N', 6]], output: ['y', ['N', 6]],
    }), /node 'shape' \(Shape\) computes a shape from the data .*export with torch\.flatten\(x, 1\), or fold the shape with onnx-simplifier/);
    refused(model({
      nodes: [node('Reshape', ['x', 's'], ['y'], {}, 'r')], inits: [int64s('s', [0, 3, 2])], input: ['x', ['N', 6]], output: ['y', ['N', 3, 2]],
    }), /node 'r' \(Reshape\) reshapes \[N, 6\] to \[0, 3, 2\]; simdnn reads a Reshape only as a flatten/);
    refused(mlpWith([node('Gemm', ['x', 'W', 'b'], ['y'], { transB: int(1) })], [], { extraInputs: [['mask', ['N', 6]]] }), /the graph has 2 inputs \('x', 'mask'\)/);
    refused(model({
      nodes: [node('Gemm', ['x', 'W', 'b'], ['y'], { transB: int(1) }, 'fc')],
      inits: [{ name: 'W', dims: [4, 6], dataType: FLOAT, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: [{ key: 'location', value: 'w.bin' }] }, init('b', [4], rand(4))],
      input: ['x', ['N', 6]], output: ['y', ['N', 4]],
    }), /node 'fc' \(Gemm\) has its weight B 'W' in external data/);
    refused(mlpWith([node('Gemm', ['x', 'W', 'b'], ['y'], { transB: int(1) })], [], { opset: 6 }), /opset is 6; simdnn reads opset 7 and later/);
    // a Keras model's NHWC input, and a channels-last value that reaches a layer other than a flatten
    refused(model({
      nodes: [node('Transpose', ['x'], ['t'], { perm: ints([0, 3, 1, 2]) }, 'in'), node('Conv', ['t', 'W', 'b'], ['y'])],
      inits: [init('W', [2, 1, 3, 3], rand(18)), init('b', [2], rand(2))], input: ['x', ['N', 6, 6, 1]], output: ['y', ['N', 2, 4, 4]],
    }), /node 'in' \(Transpose\) turns channels-last images \(a Keras model's NHWC input\) into channels first/);
    refused(convWith([node('Conv', ['x', 'W', 'b'], ['c']), node('Transpose', ['c'], ['t'], { perm: ints([0, 2, 3, 1]) }, 'nhwc'), node('MaxPool', ['t'], ['y'], { kernel_shape: ints([2, 2]) }, 'pool')]),
      /node 'pool' \(MaxPool\) follows node 'nhwc' \(Transpose\), whose channels-last order simdnn reads only through elementwise ops/);
    refused(convWith([node('Conv', ['x', 'W', 'b'], ['c']), node('Transpose', ['c'], ['y'], { perm: ints([0, 2, 3, 1]) }, 'nhwc')]), /node 'nhwc' \(Transpose\) leaves the output in channels-last order/);
  });

  it('attributes that change what an op computes: axes, training modes, shapes a layer does not hold', () => {
    const gemm = node('Gemm', ['x', 'W', 'b'], ['h'], { transB: int(1) });
    const cases: Array<[string, INode[], ITensor[], RegExp]> = [
      ['Flatten from axis 0', [gemm, node('Flatten', ['h'], ['y'], { axis: int(0) }, 'f')], [], /node 'f' \(Flatten\) flattens from axis 0; simdnn flattens each sample \(axis 1\)/],
      ['Softmax over the batch', [gemm, node('Softmax', ['h'], ['y'], { axis: int(0) }, 's')], [], /node 's' \(Softmax\) runs over axis 0/],
      ['Dropout in training mode', [gemm, node('Dropout', ['h', 'r', 't'], ['y'], {}, 'd')], [init('r', [], Float32Array.of(0.5)), { name: 't', dims: [], dataType: onnx.TensorProto.DataType.BOOL, rawData: Uint8Array.of(1) }],
        /node 'd' \(Dropout\) has training_mode = true/],
      ['BatchNormalization in training mode', [gemm, node('BatchNormalization', ['h', 'g', 'g', 'g', 'g'], ['y'], { training_mode: int(1) }, 'bn')], [init('g', [4], Float32Array.of(1, 1, 1, 1))],
        /node 'bn' \(BatchNormalization\) has training_mode = 1/],
      ['a negative running variance', [gemm, node('BatchNormalization', ['h', 'g', 'g', 'g', 'v'], ['y'], {}, 'bn')], [init('g', [4], Float32Array.of(1, 1, 1, 1)), init('v', [4], Float32Array.of(1, -1, 1, 1))],
        /node 'bn' \(BatchNormalization\) has a running variance of -1 at index 1/],
      ['a bias of a batch\'s rows', [node('Gemm', ['x', 'W', 'bN'], ['y'], { transB: int(1) }, 'fc')], [init('bN', [2, 4], rand(8))], /node 'fc' \(Gemm\) has its bias C 'bN' of dims \[2, 4\]/],
      ['an Add after a layer that has a bias', [gemm, node('Add', ['h', 'c'], ['y'], {}, 'add')], [init('c', [4], rand(4))], /node 'add' \(Add\) adds a constant other than the bias/],
      ['a weight from a value computed in the graph', [node('Relu', ['x'], ['r']), node('Gemm', ['x', 'r', 'b'], ['y'], {}, 'fc')], [], /node 'r' \(Relu\) takes 'x', which 2 nodes or outputs take/],
      ['an unknown domain', [gemm, { ...node('Relu', ['h'], ['y'], {}, 'mine'), domain: 'com.example' }], [], /node 'mine' \(Relu\) is in domain 'com\.example'/],
      ['an attribute of the wrong type', [node('Gemm', ['x', 'W', 'b'], ['y'], { transB: float(1) }, 'fc')], [], /node 'fc' \(Gemm\) has attribute 'transB' of type 1, not int/],
    ];
    // each case named by what it tries (the first element), the model an MLP of mlpWith's
    for (const [, nodes, extra, message] of cases) refused(mlpWith(nodes, extra), message);
    refused(model({ nodes: [node('Gemm', ['x', 'W', 'b'], ['y'], { transB: int(1) })], inits: [init('W', [4, 6], rand(24)), init('b', [4], rand(4))], input: ['x', ['N', 6]], output: ['y', ['N', 5]] }),
      /the graph's output 'y' is declared \[N, 5\], but its nodes compute \[N, 4\]/);
    refused(model({
      opset: 17, nodes: [node('LayerNormalization', ['x', 's'], ['y'], { axis: int(-1) }, 'ln')], inits: [init('s', [6], rand(6))], input: ['x', ['N', 2, 3, 6]], output: ['y', ['N', 2, 3, 6]],
    }), /node 'ln' \(LayerNormalization\) normalizes from axis 3; simdnn's LayerNormalization normalizes each sample whole/);
    refused(model({
      nodes: [node('GlobalAveragePool', ['x'], ['g']), node('Conv', ['g', 'W', 'b'], ['y'], {}, 'c')], inits: [init('W', [2, 3, 1, 1], rand(6)), init('b', [2], rand(2))],
      input: ['x', ['N', 3, 4, 4]], output: ['y', ['N', 2, 1, 1]],
    }), /node 'c' \(Conv\) follows a GlobalAveragePool, whose \[N, C, 1, 1\] simdnn holds as \[N, C\]/);
  });

  it('a failure while the net is built (memory running out at any of its allocations, a write failing) leaves nothing allocated', () => {
    const bytes = model({
      nodes: [
        node('Conv', ['x', 'W', 'b'], ['c'], { kernel_shape: ints([3, 3]) }),
        node('BatchNormalization', ['c', 'g', 'be', 'm', 'v'], ['n']), node('Relu', ['n'], ['r']), node('Flatten', ['r'], ['f']),
        node('Gemm', ['f', 'W2', 'b2'], ['y'], { transB: int(1) }),
      ],
      inits: [init('W', [2, 1, 3, 3], rand(18)), init('b', [2], rand(2)), init('g', [2], rand(2)), init('be', [2], rand(2)), init('m', [2], rand(2)),
        init('v', [2], rand(2, 0.5, 1)), init('W2', [3, 32], rand(96)), init('b2', [3], rand(3))],
      input: ['x', ['N', 1, 6, 6]], output: ['y', ['N', 3]],
    });
    // rt.tensor made to run out after `budget` allocations: every allocation of the build fails once in turn
    const original = rt.tensor;
    let calls = 0, budget = 0;
    const failing = function (this: Runtime, ...args: Parameters<Runtime['tensor']>) {
      if (calls++ >= budget) throw new OutOfMemoryError('test: memory ran out');
      return original.apply(this, args);
    };
    Object.defineProperty(rt, 'tensor', { value: failing, configurable: true, writable: true });
    try {
      for (budget = 0; ; budget++) {
        calls = 0;
        const before = rt.memoryStats();
        let net: Sequential | null = null;
        try {
          net = importOnnx(rt, bytes).net;
        } catch (e) {
          expect(e).toBeInstanceOf(OutOfMemoryError);
        }
        if (net) {
          net.dispose();
          break;
        }
        const after = rt.memoryStats();
        expect({ used: after.used, blocks: after.blocks }, `failing at allocation ${budget}`).toEqual({ used: before.used, blocks: before.blocks });
      }
    } finally {
      delete (rt as unknown as Record<string, unknown>).tensor;
    }
    expect(budget, 'allocations the build makes: the parameter block and the gradient block').toBe(2);
    // and a failure while the weights are written into them (each write reads a tensor's data)
    const owner = (function find(o: object): object { return Object.hasOwn(o, 'data') ? o : find(Object.getPrototypeOf(o) as object); })(Tensor.prototype);
    const data = Object.getOwnPropertyDescriptor(owner, 'data')!;
    Object.defineProperty(owner, 'data', { ...data, get(this: Tensor) { if (calls++ >= budget) throw new Error('test: the write failed'); return data.get!.call(this); } });
    try {
      for (budget = 0; ; budget++) {
        calls = 0;
        const before = rt.memoryStats();
        try {
          importOnnx(rt, bytes).net.dispose();
          break;
        } catch (e) {
          expect((e as Error).message).toBe('test: the write failed');
        }
        const after = rt.memoryStats();
        expect({ used: after.used, blocks: after.blocks }, `failing at write ${budget}`).toEqual({ used: before.used, blocks: before.blocks });
      }
    } finally {
      Object.defineProperty(owner, 'data', data);
    }
    expect(budget, 'tensors written: W, b, gamma, beta, the running statistics, W2, b2').toBeGreaterThanOrEqual(8);
  });

  it('arguments: rt, bytes, options', () => {
    expect(() => importOnnx({} as Runtime, new Uint8Array(0))).toThrow(/importOnnx: rt must be a Runtime/);
    expect(() => importOnnx(rt, [1, 2] as unknown as Uint8Array)).toThrow(/importOnnx: bytes must be the model's bytes as a Uint8Array or an ArrayBuffer, got an Array/);
    const bytes = torchMlp([3, 2]);
    const imported = importOnnx(rt, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    imported.net.dispose();
    const sym = Symbol('s');
    expectRefused(rt, () => importOnnx(rt, bytes, null as never), TypeError, /^importOnnx: options must be an object, got null$/);
    expectRefused(rt, () => importOnnx(rt, bytes, { inputShape: [3, sym] as never }), TypeError,
      /^importOnnx: options\.inputShape must be one sample's dimensions as positive integers, got \[number 3, symbol Symbol\(s\)\]$/);
    expectRefused(rt, () => importOnnx(rt, bytes, { inputShape: [] }), RangeError, /got \[\]$/);
    expectRefused(rt, () => importOnnx(rt, bytes, { inputShape: [2] }), RangeError, /^importOnnx: options\.inputShape \[2\] does not fit the graph's input 'input' \[batch_size, 3\]$/);
  });
});

afterAll(() => rt?.dispose());
