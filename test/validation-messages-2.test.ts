// More entries whose bad arguments got a raw JavaScript error, or an error thrown while its own
// message was formatted (a Symbol in a template literal, a BigInt in JSON.stringify), found by the
// seeded fuzzer: each now throws a TypeError/RangeError naming the entry and the argument, before
// anything is allocated, and reads an argument once where a getter could change it between reads.
// The messages of shared checks (weightInitStd, the Sequential options) start with the entry's name.
// Node and Chromium.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime } from './helpers/runtime.js';
import { expectRefused as refused, type ErrorClass } from './helpers/refused.js';
import type { Runtime } from '../src/runtime/runtime.js';
import {
  Affine, MultiLayerNet, RandomAffine, SGD, Sequential, SimpleConvNet, alexNet, buildNet,
  decodeFloats, netTensorShapes, oneHot, optimizeScalars, parseHeader, readHeaderLength, saveModel, MultiLayerNetExtend, softmax,
  type NetSpec,
} from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 3 }); });

/** `f` is refused with `cls` and `message`, allocating nothing on the suite's runtime. */
const expectRefused = (f: () => unknown, cls: ErrorClass, message: RegExp) => refused(rt, f, cls, message);

/** An object whose `key` is a getter: `values[0]` on the first read, `values[1]` after. */
function flaky<T extends object>(base: T, key: string, values: readonly unknown[]): T {
  let n = 0;
  const o = { ...base };
  Object.defineProperty(o, key, { enumerable: true, configurable: true, get: () => values[Math.min(n++, values.length - 1)] });
  return o;
}

const sym = Symbol('s');
const KINDS = 'mlp, mlp-extend, simple-conv, deep-conv';

describe('alexNet', () => {
  it('refuses numClasses and dropout that are Symbols or BigInts by name, and an rt that is no Runtime', () => {
    expectRefused(() => alexNet(rt, { numClasses: sym as never }), TypeError, /^alexNet: numClasses must be a positive integer, got symbol Symbol\(s\)$/);
    expectRefused(() => alexNet(rt, { numClasses: 10n as never }), TypeError, /^alexNet: numClasses must be a positive integer, got bigint 10$/);
    expectRefused(() => alexNet(rt, { dropout: sym as never }), TypeError, /^alexNet: dropout must be a number in \[0, 1\), got symbol Symbol\(s\)$/);
    expectRefused(() => alexNet(rt, { dropout: 1n as never }), TypeError, /^alexNet: dropout must be a number in \[0, 1\), got bigint 1$/);
    expectRefused(() => alexNet(undefined as never), TypeError, /^alexNet: rt must be a Runtime \(from createRuntime\), got undefined$/);
    // the numbers' messages are as before
    expectRefused(() => alexNet(rt, { dropout: 1 }), RangeError, /^alexNet: dropout must be in \[0, 1\), got 1$/);
    expectRefused(() => alexNet(rt, { numClasses: 0 }), RangeError, /^alexNet: numClasses must be a positive integer, got 0$/);
  });
});

describe('the conv stack names the net in weightInitStd messages', () => {
  const conv = { inputDim: [1, 8, 8], convParam: { filterNum: 2, filterSize: 3 }, hiddenSize: 4, outputSize: 3 };

  it('a weightInitStd number out of range, or an unknown name: the message starts with the net', () => {
    expectRefused(() => new SimpleConvNet(rt, { ...conv, weightInitStd: NaN }), RangeError, /^SimpleConvNet: weightInitStd: expected a non-negative number, got NaN$/);
    expectRefused(() => new SimpleConvNet(rt, { ...conv, weightInitStd: -1 }), RangeError, /^SimpleConvNet: weightInitStd: expected a non-negative number, got -1$/);
    expectRefused(() => new SimpleConvNet(rt, { ...conv, weightInitStd: 'glorot' as never }), TypeError,
      /^SimpleConvNet: weightInitStd: expected a number, 'xavier', 'sigmoid', 'he' or 'relu', got 'glorot'$/);
    const net = new SimpleConvNet(rt, { ...conv, weightInitStd: 'xavier' });
    expect(net.params.W1.shape).toEqual([2, 1, 3, 3]);
    net.dispose();
  });
});

describe('buildNet and netTensorShapes', () => {
  it('a spec, kind or options that is a BigInt or a Symbol: a TypeError naming the entry and spec', () => {
    expectRefused(() => buildNet(rt, 5n as never), TypeError, /^buildNet: spec: expected \{ kind, options \}, got bigint 5$/);
    expectRefused(() => buildNet(rt, sym as never), TypeError, /^buildNet: spec: expected \{ kind, options \}, got symbol Symbol\(s\)$/);
    expectRefused(() => buildNet(rt, { kind: 1n, options: {} } as never), TypeError, new RegExp(`^buildNet: spec\\.kind: expected one of ${KINDS}, got bigint 1$`));
    expectRefused(() => buildNet(rt, { kind: sym, options: {} } as never), TypeError, new RegExp(`^buildNet: spec\\.kind: expected one of ${KINDS}, got symbol Symbol\\(s\\)$`));
    expectRefused(() => buildNet(rt, { kind: 'mlp', options: 2n } as never), TypeError, /^buildNet: spec\.options: expected an object of constructor options, got bigint 2$/);
    expectRefused(() => netTensorShapes({ kind: 'mlp', options: 3n } as never), TypeError, /^netTensorShapes: spec\.options: expected an object of constructor options, got bigint 3$/);
    // a string is still shown as JSON
    expectRefused(() => buildNet(rt, { kind: 'resnet', options: {} } as never), TypeError, new RegExp(`^buildNet: spec\\.kind: expected one of ${KINDS}, got "resnet"$`));
  });

  it('netTensorShapes: options that are BigInts or Symbols, and conv params that are not numbers', () => {
    expectRefused(() => netTensorShapes({ kind: 'mlp', options: { inputSize: 4, hiddenSizeList: 3n, outputSize: 2 } } as never), TypeError,
      /^mlp: hiddenSizeList must be an array, got bigint 3$/);
    // the conv kinds' options: the constructor's own checks and messages (buildNet shows them)
    const six = Array.from({ length: 6 }, (_, i) => (i === 2 ? null : { filterNum: 2, filterSize: 3, pad: 1 }));
    const conv: Array<[unknown, ErrorClass, RegExp]> = [
      [{ kind: 'simple-conv', options: { inputDim: [1, sym, 8] } }, TypeError, /^SimpleConvNet: inputDim must be \[C, H, W\] of positive integers, got \[1, symbol Symbol\(s\), 8\]$/],
      [{ kind: 'deep-conv', options: { inputDim: 5 } }, TypeError, /^DeepConvNet: inputDim must be \[C, H, W\] of positive integers, got number 5$/],
      [{ kind: 'simple-conv', options: { convParam: { filterNum: 2n, filterSize: 3 } } }, TypeError, /^SimpleConvNet: convParam\.filterNum must be a positive integer, got bigint 2$/],
      [{ kind: 'simple-conv', options: { convParam: { filterNum: 2, filterSize: 3, stride: sym } } }, TypeError, /^SimpleConvNet: convParam\.stride must be a positive integer, got symbol Symbol\(s\)$/],
      [{ kind: 'simple-conv', options: { convParam: { filterNum: 2, filterSize: 3, pad: 1n } } }, TypeError, /^SimpleConvNet: convParam\.pad must be a non-negative integer, got bigint 1$/],
      [{ kind: 'simple-conv', options: { convParam: 5 } }, TypeError, /^SimpleConvNet: convParam must be \{ filterNum, filterSize, pad\?, stride\? \}, got number 5$/],
      [{ kind: 'deep-conv', options: { inputDim: [1, 8, 8], convParams: six } }, TypeError, /^DeepConvNet: convParams\[2\] must be \{ filterNum, filterSize, pad\?, stride\? \}, got null$/],
      [{ kind: 'deep-conv', options: { hiddenSize: 1n } }, TypeError, /^DeepConvNet: hiddenSize must be a positive integer, got bigint 1$/],
      [{ kind: 'deep-conv', options: { hiddenSize: NaN } }, RangeError, /^DeepConvNet: hiddenSize must be a positive integer, got NaN$/],
      [{ kind: 'simple-conv', options: { hiddenSize: 4, foo: 1 } }, TypeError, /^SimpleConvNet: unknown option 'foo'/],
      [{ kind: 'simple-conv', options: { weightInitStd: 'gaussian' } }, TypeError, /^SimpleConvNet: weightInitStd/],
      [{ kind: 'deep-conv', options: { dropout: 0.3 } }, TypeError, /^DeepConvNet: unknown option 'dropout'/],
    ];
    for (const [spec, cls, message] of conv) {
      expectRefused(() => netTensorShapes(spec as never), cls, message);
      expectRefused(() => buildNet(rt, spec as never), cls, message);
    }
    // a layer that does not fit: the registry's own check, by layer
    expectRefused(() => netTensorShapes({ kind: 'simple-conv', options: { inputDim: [1, 3, 3], convParam: { filterNum: 2, filterSize: 5 } } }), RangeError, /^simple-conv: conv 1/);
  });

  it('reads the spec and its options once: a getter that changes between reads does not change what is built', () => {
    const spec = flaky({ kind: 'mlp', options: { inputSize: 4, hiddenSizeList: [3], outputSize: 2 } }, 'kind', ['mlp', 'resnet']);
    const net = buildNet(rt, spec as NetSpec);
    expect(net).toBeInstanceOf(MultiLayerNet);
    net.dispose();
    const options = flaky({ inputDim: [1, 8, 8], convParam: { filterNum: 2, filterSize: 3 }, outputSize: 10 }, 'hiddenSize', [4, 5]);
    const shapes = netTensorShapes({ kind: 'simple-conv', options } as NetSpec);
    expect(shapes.W2[1]).toBe(4);
    expect(shapes.W3).toEqual([4, 10]);
  });
});

describe('RandomAffine', () => {
  it('degrees, scale and shift that are not numbers: a TypeError naming the option, never a failure to format it', () => {
    const scaleMsg = "RandomAffine: scale must be \\[lo, hi\\] with 0 < lo <= hi in float32's range";
    expectRefused(() => new RandomAffine(rt, { degrees: sym as never }), TypeError, /^RandomAffine: degrees must be a number in \[0, 180\], got symbol Symbol\(s\)$/);
    expectRefused(() => new RandomAffine(rt, { degrees: 10n as never }), TypeError, /^RandomAffine: degrees must be a number in \[0, 180\], got bigint 10$/);
    expectRefused(() => new RandomAffine(rt, { scale: [1n, 2] as never }), TypeError, new RegExp(`^${scaleMsg}, got \\[bigint 1,2\\]$`));
    expectRefused(() => new RandomAffine(rt, { scale: [0.9, sym] as never }), TypeError, new RegExp(`^${scaleMsg}, got \\[0\\.9,symbol Symbol\\(s\\)\\]$`));
    expectRefused(() => new RandomAffine(rt, { scale: 5 as never }), TypeError, new RegExp(`^${scaleMsg}, got number 5$`));
    expectRefused(() => new RandomAffine(rt, { scale: [1, 2, 3] as never }), RangeError, new RegExp(`^${scaleMsg}, got \\[1,2,3\\]$`));
    expectRefused(() => new RandomAffine(rt, { shift: sym as never }), TypeError, /^RandomAffine: shift must be a non-negative number of pixels in float32's range, got symbol Symbol\(s\)$/);
    expectRefused(() => new RandomAffine(rt, { shift: 2n as never }), TypeError, /^RandomAffine: shift must be a non-negative number of pixels in float32's range, got bigint 2$/);
    // the numbers' messages are as before
    expectRefused(() => new RandomAffine(rt, { scale: [1.2, 0.8] }), RangeError, new RegExp(`^${scaleMsg}, got \\[1\\.2,0\\.8\\]$`));
  });

  it('reads each scale bound once: what is checked is what is kept', () => {
    let reads = 0;
    const scale = [0.9, 1.1];
    Object.defineProperty(scale, 0, { enumerable: true, get: () => (reads++ < 1 ? 0.9 : 1e-50) });
    const a = new RandomAffine(rt, { scale: scale as unknown as [number, number] });
    expect(a.scale).toEqual([0.9, 1.1]);
    a.dispose();
  });
});

describe('optimizeScalars', () => {
  const grad = ({ x, y }: Record<string, number>) => ({ x: x / 10, y: 2 * y });

  it('refuses start, its values, steps and gradient() values that are not what it needs, by name', () => {
    expectRefused(() => optimizeScalars(rt, new SGD(), null as never, grad, 3), TypeError, /^optimizeScalars: start must be an object of named numbers \(\{ x: -7, y: 2 \}\), got null$/);
    expectRefused(() => optimizeScalars(rt, new SGD(), { x: sym } as never, grad, 3), TypeError, /^optimizeScalars: start\.x must be a finite number, got symbol Symbol\(s\)$/);
    expectRefused(() => optimizeScalars(rt, new SGD(), { x: 1, y: 2n } as never, grad, 3), TypeError, /^optimizeScalars: start\.y must be a finite number, got bigint 2$/);
    expectRefused(() => optimizeScalars(rt, new SGD(), { x: 1, y: 2 }, grad, sym as never), TypeError, /^optimizeScalars: steps must be a non-negative integer, got symbol Symbol\(s\)$/);
    // a path of 2^40 points grew until V8's heap gave out, minutes later
    expectRefused(() => optimizeScalars(rt, new SGD(), { x: 1, y: 2 }, grad, 2 ** 40), RangeError, /^optimizeScalars: steps must be a non-negative integer, at most 16777216, got 1099511627776$/);
    expectRefused(() => optimizeScalars(rt, new SGD(), { x: 1, y: 2 }, 5 as never, 3), TypeError, /^optimizeScalars: gradient must be a function of the point, got number 5$/);
    expectRefused(() => optimizeScalars(rt, new SGD(), { x: 1, y: 2 }, () => ({ x: 1, y: sym }) as never, 3), TypeError,
      /^optimizeScalars: gradient\(\)\.y must be a finite number, got symbol Symbol\(s\)$/);
    expectRefused(() => optimizeScalars(rt, new SGD(), { x: 1 }, () => null as never, 3), TypeError, /^optimizeScalars: gradient\(\) must return an object of named numbers, got null$/);
    expectRefused(() => optimizeScalars(undefined as never, new SGD(), { x: 1 }, grad, 3), TypeError, /^optimizeScalars: rt must be a Runtime/);
    // the numbers' messages are as before
    expectRefused(() => optimizeScalars(rt, new SGD(), { x: 1 }, () => ({ x: NaN }), 3), RangeError, /^optimizeScalars: gradient\(\)\.x must be a finite number, got NaN$/);
  });

  it('reads each start value and gradient value once', () => {
    const start = flaky({ y: 2 }, 'x', [-7, 3n]);
    const path = optimizeScalars(rt, new SGD({ lr: 0.5 }), start, () => flaky({ y: 0 }, 'x', [1, sym]), 1);
    expect(path).toEqual([{ x: -7, y: 2 }, { x: -7.5, y: 2 }]);
  });
});

describe('Sequential options', () => {
  it('inputShape, evalBatchSize and the weight decays that are Symbols or BigInts: a TypeError naming Sequential and the option', () => {
    const shapeMsg = "^Sequential: inputShape: expected one sample's dimensions as positive integers";
    expectRefused(() => new Sequential(rt, [], { inputShape: [sym] as never }), TypeError, new RegExp(`${shapeMsg}, got \\[symbol Symbol\\(s\\)\\]$`));
    expectRefused(() => new Sequential(rt, [], { inputShape: [1, 2n] as never }), TypeError, new RegExp(`${shapeMsg}, got \\[1,bigint 2\\]$`));
    expectRefused(() => new Sequential(rt, [], { inputShape: 3n as never }), TypeError, new RegExp(`${shapeMsg}, got bigint 3$`));
    expectRefused(() => new Sequential(rt, [], { evalBatchSize: sym as never }), TypeError, /^Sequential: evalBatchSize: expected a positive integer, got symbol Symbol\(s\)$/);
    expectRefused(() => new Sequential(rt, [], { weightDecayLambda: 1n as never }), TypeError, /^Sequential: weightDecayLambda: expected a non-negative number, got bigint 1$/);
    expectRefused(() => new Sequential(rt, [], { l1Lambda: sym as never }), TypeError, /^Sequential: l1Lambda: expected a non-negative number, got symbol Symbol\(s\)$/);
    // numbers: RangeErrors, now naming Sequential too
    expectRefused(() => new Sequential(rt, [], { weightDecayLambda: -1 }), RangeError, /^Sequential: weightDecayLambda: expected a non-negative number, got -1$/);
    expectRefused(() => new Sequential(rt, [], { inputShape: [1, 0] }), RangeError, new RegExp(`${shapeMsg}, got \\[1,0\\]$`));
    // a net that checks its options through the shared check keeps its own form
    expectRefused(() => new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2, weightDecayLambda: -1 }), RangeError, /weightDecayLambda: expected a non-negative number, got -1$/);
  });

  it('reads its options once: an inputShape getter that changes after the check does not reach the net', () => {
    const W = rt.tensor([3, 2]), b = rt.tensor([2]);
    const options = flaky({}, 'inputShape', [[3], 5]);
    const net = new Sequential(rt, [new Affine(W, b)], options);
    expect(net.inputShape).toEqual([3]);
    const shape = [3];
    let reads = 0;
    Object.defineProperty(shape, 0, { enumerable: true, get: () => (reads++ < 1 ? 3 : sym) });
    const net2 = new Sequential(rt, [], { inputShape: shape });
    expect(net2.inputShape).toEqual([3]);
    net2.dispose();
    net.dispose();
    W.dispose();
    b.dispose();
  });
});

describe('the safetensors functions name their bad arguments', () => {
  const header = new TextEncoder().encode(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }));

  it('decodeFloats: a dtype, bytes, out or outIndex of the wrong type', () => {
    const out = new Float32Array(2);
    expectRefused(() => decodeFloats(sym as never, new Uint8Array(8), out, 0), TypeError, /^decodeFloats: dtype must be a string \(F32, F16, BF16 or F64\), got symbol Symbol\(s\)$/);
    expectRefused(() => decodeFloats('F32', null as never, out, 0), TypeError, /^decodeFloats: bytes must be a Uint8Array, got null$/);
    expectRefused(() => decodeFloats('F32', new Uint8Array(8), undefined as never, 0), TypeError, /^decodeFloats: out must be a Float32Array, got undefined$/);
    expectRefused(() => decodeFloats('F32', new Uint8Array(8), [0, 0] as never, 0), TypeError, /^decodeFloats: out must be a Float32Array, got an Array of length 2$/);
    expectRefused(() => decodeFloats('F32', new Uint8Array(8), out, 0n as never), TypeError, /^decodeFloats: outIndex must be a non-negative integer, got bigint 0$/);
    expect(out).toEqual(new Float32Array(2)); // nothing written
  });

  it('parseHeader and readHeaderLength: bytes that are not a Uint8Array, a fileBytes that is not a length', () => {
    expectRefused(() => parseHeader(5 as never), TypeError, /^parseHeader: json must be the header's bytes as a Uint8Array, got number 5$/);
    expectRefused(() => parseHeader(header, 1n as never), TypeError, /^parseHeader: fileBytes must be the file's length in bytes \(or undefined\), got bigint 1$/);
    expectRefused(() => parseHeader(header, sym as never), TypeError, /^parseHeader: fileBytes must be .*, got symbol Symbol\(s\)$/);
    expectRefused(() => parseHeader(header, -1), RangeError, /^parseHeader: fileBytes must be the file's length in bytes \(a non-negative integer\), got -1$/);
    const first = new Uint8Array(8);
    first[0] = 16;
    expectRefused(() => readHeaderLength(first, 100n as never), TypeError, /^readHeaderLength: fileBytes must be the file's length in bytes \(or undefined\), got bigint 100$/);
    expect(parseHeader(header, 8 + header.length + 8).tensors.map((t) => t.name)).toEqual(['a']);
    expect(readHeaderLength(first, 100)).toBe(16);
  });
});

describe('oneHot', () => {
  it('labels that are no array, labels and numClasses that are not numbers, an rt that is no Runtime', () => {
    expectRefused(() => oneHot(rt, null as never, 3), TypeError, /^oneHot: labels must be an array \(or typed array\) of class labels, got null$/);
    expectRefused(() => oneHot(rt, undefined as never, 3), TypeError, /^oneHot: labels must be .*, got undefined$/);
    expectRefused(() => oneHot(rt, [0, sym] as never, 3), TypeError, /^oneHot: labels\[1\] is symbol Symbol\(s\), expected an integer in \[0, 3\)$/);
    expectRefused(() => oneHot(rt, [0, 1n] as never, 3), TypeError, /^oneHot: labels\[1\] is bigint 1, expected an integer in \[0, 3\)$/);
    expectRefused(() => oneHot(rt, [0, 1], 3n as never), TypeError, /^oneHot: numClasses must be a positive integer, got bigint 3$/);
    expectRefused(() => oneHot(undefined as never, [0], 3), TypeError, /^oneHot: rt must be a Runtime/);
    // the numbers' messages are as before
    expectRefused(() => oneHot(rt, [0, 1.5], 3), RangeError, /^oneHot: labels\[1\] is 1\.5, expected an integer in \[0, 3\)$/);
  });

  it('reads each label once: the label checked is the label written', () => {
    let reads = 0;
    const labels = [0, 1];
    Object.defineProperty(labels, 0, { enumerable: true, get: () => (reads++ < 1 ? 2 : 7) });
    const t = oneHot(rt, labels, 3);
    expect(Array.from(t.toArray())).toEqual([0, 0, 1, 0, 1, 0]);
    t.dispose();
  });
});

describe('Tensor.rows and view', () => {
  it('a start, end or offset that is not a number: a TypeError naming the argument and what it got', () => {
    const x = rt.tensor([4, 2]);
    const l = rt.labels([4], [0, 1, 2, 3]);
    expectRefused(() => x.rows(sym as never, 1), TypeError, /^rows: start must be an integer in \[0, 4\], got symbol Symbol\(s\)$/);
    expectRefused(() => x.rows(0, new Date(0) as never), TypeError, /^rows: end must be an integer in \[0, 4\], got a Date$/);
    expectRefused(() => x.rows((() => 1) as never, 2), TypeError, /^rows: start must be an integer in \[0, 4\], got function /);
    expectRefused(() => l.rows(0, 2n as never), TypeError, /^rows: end must be an integer in \[0, 4\], got bigint 2$/);
    expectRefused(() => x.view(sym as never, [1]), TypeError, /^view: offset must be a non-negative integer, got symbol Symbol\(s\)$/);
    expectRefused(() => x.view({} as never, [1]), TypeError, /^view: offset must be a non-negative integer, got an Object$/);
    // numbers: RangeErrors in the range form (the offset as written)
    expectRefused(() => x.rows(2, 1), RangeError, /^rows\(2, 1\): expected 0 <= start <= end <= 4$/);
    expectRefused(() => x.view(1.5, [1]), RangeError, /^view\(1\.5, \[1\]\): expected 0 <= offset and offset \+ 1 <= 8$/);
    x.dispose();
    l.dispose();
  });
});

describe('the MLPs name themselves in the weight-decay messages; saveModel names a bad metadata', () => {
  it('MultiLayerNet and MultiLayerNetExtend', () => {
    expectRefused(() => new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2, weightDecayLambda: -1 }), RangeError, /^MultiLayerNet: weightDecayLambda/);
    expectRefused(() => new MultiLayerNetExtend(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2, l1Lambda: -1 }), RangeError, /^MultiLayerNetExtend: l1Lambda/);
  });

  it('saveModel', () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    expectRefused(() => saveModel(net, { metadata: null as never }), TypeError, /^saveModel: metadata must be an object of strings, got null$/);
    expectRefused(() => saveModel(net, { chunkBytes: sym as never }), RangeError, /^saveModel: chunkBytes must be an integer >= 4, got symbol Symbol\(s\)$/);
    net.dispose();
  });
});

describe('a message never throws while naming a hostile value', () => {
  it('a constructor whose name is a Symbol, or a constructor getter that throws', () => {
    const symbolName = { constructor: { name: sym } };
    const throwing = { get constructor(): never { throw new Error('hostile'); } };
    for (const v of [symbolName, throwing]) {
      expectRefused(() => softmax(v as never), TypeError, /^softmax: x: expected a float32 Tensor, got an object$/);
      expectRefused(() => new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: v as never, outputSize: 2 }), TypeError, /^MultiLayerNet: hiddenSizeList must be an array of positive integers, got an object$/);
    }
  });
});
