// Bad arguments get an error that names the entry and the argument (a TypeError
// or RangeError), never a raw JavaScript error (`x.join is not a function`,
// `Cannot convert a Symbol value to a string`, `Do not know how to serialize a
// BigInt`), and before anything is allocated. And the nets read their options
// once: what a net records as its spec is what it built. Node and Chromium.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime } from './helpers/runtime.js';
import { expectRefused as refused, type ErrorClass } from './helpers/refused.js';
import type { Runtime } from '../src/runtime/runtime.js';
import {
  DeepConvNet, MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, buildNet, createOptimizer,
  encodeIdx, kaiserWindow, loadModel, parseIdx, saveModel, seededRandom, stratifiedSplit,
  type NamedNet, type OptimizerName, type Sequential,
} from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 3 }); });

/** `f` is refused with `cls` and `message`, allocating nothing on the suite's runtime. */
const expectRefused = (f: () => unknown, cls: ErrorClass, message: RegExp) => refused(rt, f, cls, message);

const sym = Symbol('s');
const NAMES = 'sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, adamw';

describe('createOptimizer', () => {
  it('refuses a name that is not a string, naming createOptimizer and name', () => {
    for (const [name, got] of [[5, 'number 5'], [sym, 'symbol Symbol\\(s\\)'], [3n, 'bigint 3'], [null, 'null'], [{}, 'an Object']] as const) {
      expectRefused(() => createOptimizer(name as never), TypeError, new RegExp(`^createOptimizer: name must be a string \\(expected one of ${NAMES}\\), got ${got}$`));
    }
  });

  it('refuses an unknown name, and the names every object has (constructor, __proto__)', () => {
    expectRefused(() => createOptimizer('adamax' as never), TypeError, new RegExp(`^createOptimizer: unknown name 'adamax' \\(expected one of ${NAMES}\\)$`));
    expectRefused(() => createOptimizer('constructor' as never), TypeError, /^createOptimizer: unknown name 'constructor'/);
    expectRefused(() => createOptimizer('__proto__' as never), TypeError, /^createOptimizer: unknown name '__proto__'/);
    const adam = createOptimizer('ADAM' as OptimizerName, { lr: 0.01 });
    expect(adam.name).toBe('Adam');
    adam.dispose();
  });
});

describe('the nets refuse bad options by name, whatever their type', () => {
  const mlp = { inputSize: 4, hiddenSizeList: [3], outputSize: 2 };
  const conv = { inputDim: [1, 8, 8], convParam: { filterNum: 2, filterSize: 3 }, hiddenSize: 4, outputSize: 3 };

  it('SimpleConvNet and DeepConvNet: inputDim that is not an array, or holds what is not a number', () => {
    expectRefused(() => new SimpleConvNet(rt, { inputDim: 5 as never }), TypeError, /^SimpleConvNet: inputDim must be \[C, H, W\] of positive integers, got number 5$/);
    expectRefused(() => new DeepConvNet(rt, { inputDim: 5 as never }), TypeError, /^DeepConvNet: inputDim must be \[C, H, W\] of positive integers, got number 5$/);
    expectRefused(() => new DeepConvNet(rt, { inputDim: 'abc' as never }), TypeError, /^DeepConvNet: inputDim must be \[C, H, W\] of positive integers, got the string "abc"$/);
    expectRefused(() => new SimpleConvNet(rt, { inputDim: { length: 3 } as never }), TypeError, /^SimpleConvNet: inputDim must be .*, got an Object$/);
    expectRefused(() => new SimpleConvNet(rt, { inputDim: [1, sym, 8] as never }), TypeError, /^SimpleConvNet: inputDim must be \[C, H, W\] of positive integers, got \[1, symbol Symbol\(s\), 8\]$/);
    expectRefused(() => new DeepConvNet(rt, { inputDim: [1, 28n, 28] as never }), TypeError, /^DeepConvNet: inputDim must be .*, got \[1, bigint 28, 28\]$/);
    expectRefused(() => new SimpleConvNet(rt, { inputDim: [1, 0, 8] }), RangeError, /^SimpleConvNet: inputDim must be \[C, H, W\] of positive integers, got \[1, 0, 8\]$/);
    expectRefused(() => new SimpleConvNet(rt, { inputDim: [1, 28] }), RangeError, /^SimpleConvNet: inputDim must be \[C, H, W\] of positive integers, got \[1, 28\]$/);
  });

  it('SimpleConvNet and DeepConvNet: conv params that are not objects of numbers', () => {
    expectRefused(() => new SimpleConvNet(rt, { ...conv, convParam: 5 as never }), TypeError, /^SimpleConvNet: convParam must be \{ filterNum, filterSize, pad\?, stride\? \}, got number 5$/);
    expectRefused(() => new SimpleConvNet(rt, { ...conv, convParam: { filterNum: 3n, filterSize: 3 } as never }), TypeError, /^SimpleConvNet: convParam\.filterNum must be a positive integer, got bigint 3$/);
    expectRefused(() => new SimpleConvNet(rt, { ...conv, convParam: { filterNum: 2, filterSize: 3, pad: sym } as never }), TypeError, /^SimpleConvNet: convParam\.pad must be a non-negative integer, got symbol Symbol\(s\)$/);
    expectRefused(() => new SimpleConvNet(rt, { ...conv, convParam: { filterNum: 2, filterSize: 3, strides: 1 } as never }), TypeError, /^SimpleConvNet: convParam: unknown option 'strides'/);
    expectRefused(() => new DeepConvNet(rt, { convParams: 5 as never }), TypeError, /^DeepConvNet: convParams must be an array of 6 conv layers' params, got number 5$/);
    const six = Array.from({ length: 6 }, () => ({ filterNum: 2, filterSize: 3, pad: 1 }));
    expectRefused(() => new DeepConvNet(rt, { convParams: six.map((p, i) => (i === 4 ? { ...p, stride: '1' } : p)) as never }), TypeError, /^DeepConvNet: convParams\[4\]\.stride must be a positive integer, got the string "1"$/);
    expectRefused(() => new DeepConvNet(rt, { convParams: six.map((p, i) => (i === 2 ? null : p)) as never }), TypeError, /^DeepConvNet: convParams\[2\] must be \{ filterNum, filterSize, pad\?, stride\? \}, got null$/);
  });

  it('sizes, rates, names and flags that are Symbols or BigInts: a message, not a failure to format one', () => {
    expectRefused(() => new MultiLayerNet(rt, { ...mlp, inputSize: sym as never }), TypeError, /^MultiLayerNet: inputSize must be a positive integer, got symbol Symbol\(s\)$/);
    expectRefused(() => new MultiLayerNet(rt, { ...mlp, hiddenSizeList: [3, sym] as never }), TypeError, /^MultiLayerNet: hiddenSizeList\[1\] must be a positive integer, got symbol Symbol\(s\)$/);
    expectRefused(() => new MultiLayerNet(rt, { ...mlp, hiddenSizeList: sym as never }), TypeError, /^MultiLayerNet: hiddenSizeList must be an array of positive integers, got symbol Symbol\(s\)$/);
    expectRefused(() => new MultiLayerNet(rt, { ...mlp, outputSize: 2n as never }), TypeError, /^MultiLayerNet: outputSize must be a positive integer, got bigint 2$/);
    expectRefused(() => new MultiLayerNet(rt, { ...mlp, weightDecayLambda: 1n as never }), TypeError, /^MultiLayerNet: weightDecayLambda: expected a non-negative number, got bigint 1$/);
    expectRefused(() => new MultiLayerNet(rt, { ...mlp, activation: sym as never }), TypeError, /^MultiLayerNet: activation: expected 'relu', 'sigmoid' or 'tanh', got symbol Symbol\(s\)$/);
    expectRefused(() => new MultiLayerNet(rt, { ...mlp, weightInitStd: 1n as never }), TypeError, /^MultiLayerNet: weightInitStd: expected a number, 'xavier', 'sigmoid', 'he' or 'relu', got bigint 1$/);
    expectRefused(() => new MultiLayerNetExtend(rt, { ...mlp, useDropout: true, dropoutRatio: sym as never }), TypeError, /^MultiLayerNetExtend: dropoutRatio: expected a number in \[0, 1\), got symbol Symbol\(s\)$/);
    expectRefused(() => new MultiLayerNetExtend(rt, { ...mlp, l1Lambda: 1n as never }), TypeError, /^MultiLayerNetExtend: l1Lambda: expected a non-negative number, got bigint 1$/);
    expectRefused(() => new MultiLayerNetExtend(rt, { ...mlp, dropoutRatio: NaN }), RangeError, /^MultiLayerNetExtend: dropoutRatio must be in \[0, 1\), got NaN$/);
    expectRefused(() => new SimpleConvNet(rt, { ...conv, hiddenSize: sym as never }), TypeError, /^SimpleConvNet: hiddenSize must be a positive integer, got symbol Symbol\(s\)$/);
    expectRefused(() => new SimpleConvNet(rt, { ...conv, weightInitStd: sym as never }), TypeError, /^SimpleConvNet: weightInitStd: expected a number, 'xavier', 'sigmoid', 'he' or 'relu', got symbol Symbol\(s\)$/);
    expectRefused(() => new DeepConvNet(rt, { outputSize: 10n as never }), TypeError, /^DeepConvNet: outputSize must be a positive integer, got bigint 10$/);
    // the numbers' own messages are as before
    expectRefused(() => new DeepConvNet(rt, { hiddenSize: 1.5 }), RangeError, /^DeepConvNet: hiddenSize must be a positive integer, got 1\.5$/);
  });
});

/** An options object whose `key` is a getter: `values[0]` on the first read, `values[1]` after; `reads` counts them. */
function flaky<T extends object>(base: T, key: string, values: readonly unknown[]): { options: T; reads: () => number } {
  let n = 0;
  const options = { ...base };
  Object.defineProperty(options, key, { enumerable: true, configurable: true, get: () => values[Math.min(n++, values.length - 1)] });
  return { options, reads: () => n };
}

/** An array whose element `i` is a getter: `values[0]` on the first read, `values[1]` after. */
function flakyArray(base: readonly unknown[], i: number, values: readonly unknown[]): { array: unknown[]; reads: () => number } {
  let n = 0;
  const array = [...base];
  Object.defineProperty(array, i, { enumerable: true, configurable: true, get: () => values[Math.min(n++, values.length - 1)] });
  return { array, reads: () => n };
}

/** The net rebuilds from its spec and from its saved file into the same tensors. */
function expectRoundTrip(net: NamedNet): void {
  const rebuilt = buildNet(rt, net.spec);
  const shapes = (n: Sequential) => Object.fromEntries(Object.entries(n.params).map(([k, v]) => [k, v.shape]));
  expect(shapes(rebuilt)).toEqual(shapes(net));
  rebuilt.dispose();
  const loaded = loadModel(rt, saveModel(net)).net;
  expect(shapes(loaded)).toEqual(shapes(net));
  loaded.dispose();
}

describe('the nets read their options once: what they record is what they built', () => {
  const mlp = { inputSize: 4, hiddenSizeList: [3], outputSize: 2 };
  const conv = { inputDim: [1, 8, 8], convParam: { filterNum: 2, filterSize: 3 }, hiddenSize: 4, outputSize: 3 };

  it('an option whose getter changes between reads: the net and its spec agree, and the saved file loads', () => {
    const cases: Array<[string, () => NamedNet, () => number, (net: NamedNet) => void]> = [];
    {
      const f = flaky(mlp, 'hiddenSizeList', [[5], [7]]);
      cases.push(['MultiLayerNet hiddenSizeList', () => new MultiLayerNet(rt, f.options), f.reads, (net) => {
        expect(net.params.W1.shape).toEqual([4, 5]);
        expect(net.spec.options).toEqual({ ...mlp, hiddenSizeList: [5] });
      }]);
    }
    {
      const f = flaky({ ...mlp, useBatchnorm: true }, 'outputSize', [3, 6]);
      cases.push(['MultiLayerNetExtend outputSize', () => new MultiLayerNetExtend(rt, f.options), f.reads, (net) => {
        expect(net.params.W2.shape).toEqual([3, 3]);
        expect(net.spec.options).toEqual({ ...mlp, useBatchnorm: true, outputSize: 3 });
      }]);
    }
    {
      const f = flaky(conv, 'hiddenSize', [4, 9]);
      cases.push(['SimpleConvNet hiddenSize', () => new SimpleConvNet(rt, f.options), f.reads, (net) => {
        expect(net.params.W2.shape).toEqual([2 * 3 * 3, 4]);
        expect(net.spec.options).toEqual(conv);
      }]);
    }
    {
      const f = flaky({ inputDim: [1, 8, 8], hiddenSize: 4 }, 'outputSize', [3, 5]);
      cases.push(['DeepConvNet outputSize', () => new DeepConvNet(rt, f.options), f.reads, (net) => {
        expect(net.params.W8.shape).toEqual([4, 3]);
        expect(net.spec.options).toEqual({ inputDim: [1, 8, 8], hiddenSize: 4, outputSize: 3 });
      }]);
    }
    for (const [name, build, reads, check] of cases) {
      const net = build();
      expect(reads(), `${name}: reads`).toBe(1);
      check(net);
      expectRoundTrip(net);
      net.dispose();
    }
  });

  it('an element of an array option whose getter changes between reads: read once too', () => {
    const hidden = flakyArray([3, 3], 1, [5, 7]);
    const mlpNet = new MultiLayerNet(rt, { ...mlp, hiddenSizeList: hidden.array as number[] });
    expect(hidden.reads()).toBe(1);
    expect(mlpNet.params.W2.shape).toEqual([3, 5]);
    expect(mlpNet.spec.options).toEqual({ ...mlp, hiddenSizeList: [3, 5] });
    expectRoundTrip(mlpNet);
    mlpNet.dispose();
    const dim = flakyArray([1, 8, 8], 2, [8, 10]);
    const convNet = new SimpleConvNet(rt, { ...conv, inputDim: dim.array as number[] });
    expect(dim.reads()).toBe(1);
    expect(convNet.inputDim).toEqual([1, 8, 8]);
    expect(convNet.spec.options).toEqual(conv);
    expectRoundTrip(convNet);
    convNet.dispose();
    const filter = flaky({ filterNum: 2 }, 'filterSize', [3, 5]);
    const convParamNet = new SimpleConvNet(rt, { ...conv, convParam: filter.options as never });
    expect(filter.reads()).toBe(1);
    expect(convParamNet.params.W1.shape).toEqual([2, 1, 3, 3]);
    expect(convParamNet.spec.options).toEqual(conv);
    convParamNet.dispose();
  });

  it('a getter that throws or gives a BigInt on its second read: the net is built from the first, and nothing leaks', () => {
    const before = rt.memoryStats();
    let reads = 0;
    const boom = { inputDim: [1, 8, 8], outputSize: 3, get hiddenSize() { if (reads++ > 0) throw new Error('second read'); return 4; } };
    const deep = new DeepConvNet(rt, boom);
    expect(reads).toBe(1);
    expect(deep.spec.options).toEqual({ inputDim: [1, 8, 8], outputSize: 3, hiddenSize: 4 });
    deep.dispose();
    const big = flaky({ ...mlp, useDropout: true }, 'dropoutRatio', [0.25, 1n]);
    const ext = new MultiLayerNetExtend(rt, big.options);
    expect(big.reads()).toBe(1);
    expect(ext.dropoutRatio).toBe(0.25);
    expect(ext.spec.options).toEqual({ ...mlp, useDropout: true, dropoutRatio: 0.25 });
    ext.dispose();
    const after = rt.memoryStats();
    expect({ used: after.used, blocks: after.blocks }).toEqual({ used: before.used, blocks: before.blocks });
  });

  it('a Proxy of options is asked for its keys and each value once', () => {
    const asked: string[] = [];
    const options = new Proxy({ ...mlp }, {
      ownKeys(target) { asked.push('ownKeys'); return Reflect.ownKeys(target); },
      get(target, key, receiver) { if (typeof key === 'string') asked.push(key); return Reflect.get(target, key, receiver); },
    });
    const net = new MultiLayerNet(rt, options);
    expect(asked.filter((k) => k === 'ownKeys')).toHaveLength(1);
    for (const key of Object.keys(mlp)) expect(asked.filter((k) => k === key), key).toHaveLength(1);
    net.dispose();
  });
});

describe('the async entries take an AbortSignal, not an object that has `aborted`', () => {
  const fakes: Array<[string, unknown]> = [
    ['{ aborted: false }', { aborted: false }],
    ['{ aborted: true }', { aborted: true }],
    ['no addEventListener', { aborted: false, throwIfAborted() {} }],
    ['aborted not a boolean', { aborted: 'no', throwIfAborted() {}, addEventListener() {} }],
  ];

  it('evaluateAsync, accuracyAsync, predictAsync and FrozenNet.predictAsync refuse a fake signal, naming signal', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const frozen = net.freeze();
    const x = rt.tensor([5, 4]);
    const labels = [0, 1, 0, 1, 0];
    const before = rt.memoryStats();
    for (const [name, signal] of fakes) {
      const options = { signal: signal as AbortSignal };
      await expect(net.evaluateAsync(x, labels, options), name).rejects.toThrow(new TypeError('evaluateAsync: signal must be an AbortSignal'));
      await expect(net.accuracyAsync(x, labels, options), name).rejects.toThrow(new TypeError('accuracyAsync: signal must be an AbortSignal'));
      await expect(net.predictAsync(x, options), name).rejects.toThrow(new TypeError('predictAsync: signal must be an AbortSignal'));
      await expect(frozen.predictAsync(x, options), name).rejects.toThrow(new TypeError('FrozenNet.predictAsync: signal must be an AbortSignal'));
      await expect(net.predictAsync(x, options)).rejects.toBeInstanceOf(TypeError);
    }
    const after = rt.memoryStats();
    expect({ used: after.used, blocks: after.blocks }).toEqual({ used: before.used, blocks: before.blocks });
    // an AbortSignal, and an object that behaves as one, are taken
    const y = await net.predictAsync(x, { signal: new AbortController().signal });
    expect(y.shape).toEqual([5, 2]);
    y.dispose();
    const like = { aborted: false, reason: undefined, throwIfAborted() {}, addEventListener() {}, removeEventListener() {} };
    expect(await net.accuracyAsync(x, labels, { signal: like as unknown as AbortSignal })).toBe(net.accuracy(x, labels));
    frozen.dispose();
    x.dispose();
    net.dispose();
  });

  it('predictAsync reads options.signal once: the signal it checked is the one it uses', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const x = rt.tensor([5, 4]);
    const real = new AbortController().signal;
    const f = flaky({}, 'signal', [real, { aborted: false }]);
    const y = await net.predictAsync(x, f.options as { signal: AbortSignal });
    expect(f.reads()).toBe(1);
    y.dispose();
    x.dispose();
    net.dispose();
  });
});

describe('the data functions name their bad arguments', () => {
  it('encodeIdx: dims that are not an array of numbers, data that is not a Uint8Array', () => {
    expectRefused(() => encodeIdx(5 as never, new Uint8Array(4)), TypeError, /^encodeIdx: dims must be 1 to 255 integers in \[0, 2\^32\), got number 5$/);
    expectRefused(() => encodeIdx(null as never, new Uint8Array(4)), TypeError, /^encodeIdx: dims must be .*, got null$/);
    expectRefused(() => encodeIdx([2, sym] as never, new Uint8Array(4)), TypeError, /^encodeIdx: dims must be .*, got \[2, symbol Symbol\(s\)\]$/);
    expectRefused(() => encodeIdx([2, 2n] as never, new Uint8Array(4)), TypeError, /^encodeIdx: dims must be .*, got \[2, bigint 2\]$/);
    expectRefused(() => encodeIdx([], new Uint8Array(0)), RangeError, /^encodeIdx: dims must be 1 to 255 integers in \[0, 2\^32\), got \[\]$/);
    expectRefused(() => encodeIdx([2, -1], new Uint8Array(4)), RangeError, /^encodeIdx: dims must be .*, got \[2, -1\]$/);
    expectRefused(() => encodeIdx([2, 2], 5 as never), TypeError, /^encodeIdx: data must be a Uint8Array, got number 5$/);
    expectRefused(() => encodeIdx([2, 2], [1, 2, 3, 4] as never), TypeError, /^encodeIdx: data must be a Uint8Array, got an Array of length 4$/);
    expect(parseIdx(encodeIdx([2, 2], new Uint8Array([1, 2, 3, 4])), 'x').dims).toEqual([2, 2]);
  });

  it('parseIdx: bytes that are not a Uint8Array, a file name that is not a string', () => {
    expectRefused(() => parseIdx(5 as never, 'f'), TypeError, /^parseIdx: bytes must be a Uint8Array \(the file's bytes\), got number 5$/);
    expectRefused(() => parseIdx(undefined as never, 'f'), TypeError, /^parseIdx: bytes must be a Uint8Array .*, got undefined$/);
    expectRefused(() => parseIdx([0, 0, 8, 1, 0, 0, 0, 1, 3] as never, 'f'), TypeError, /^parseIdx: bytes must be a Uint8Array .*, got an Array of length 9$/);
    expectRefused(() => parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 3]), sym as never), TypeError, /^parseIdx: file must be a string .*, got symbol Symbol\(s\)$/);
    // the file's own faults are named by the file, as before
    expectRefused(() => parseIdx(new Uint8Array([0, 0, 8]), 'f.idx'), Error, /^f\.idx: too short for an IDX header/);
  });

  it('stratifiedSplit and seededRandom: labels that are no array, counts, labels and seeds that are not numbers', () => {
    expectRefused(() => stratifiedSplit(null as never, 2, 1), TypeError, /^stratifiedSplit: labels must be an array \(or typed array\) of class labels, got null$/);
    expectRefused(() => stratifiedSplit(5 as never, 2, 1), TypeError, /^stratifiedSplit: labels must be .*, got number 5$/);
    expectRefused(() => stratifiedSplit({ length: -1 } as never, 0, 1), TypeError, /^stratifiedSplit: labels must be .*, got an Object$/);
    expectRefused(() => stratifiedSplit([0, 1], sym as never, 1), TypeError, /^stratifiedSplit: testCount must be an integer in \[0, 2\], got symbol Symbol\(s\)$/);
    expectRefused(() => stratifiedSplit([0, sym] as never, 1, 1), TypeError, /^stratifiedSplit: labels\[1\] is symbol Symbol\(s\), expected a non-negative integer$/);
    expectRefused(() => stratifiedSplit([0, 1], 1, 3n as never), TypeError, /^stratifiedSplit: seed must be a number \(a 32-bit seed\), got bigint 3$/);
    expectRefused(() => seededRandom(sym as never), TypeError, /^seededRandom: seed must be a number \(a 32-bit seed\), got symbol Symbol\(s\)$/);
    expectRefused(() => stratifiedSplit([0, 1.5], 1, 1), RangeError, /^stratifiedSplit: labels\[1\] is 1\.5, expected a non-negative integer$/);
    expect(stratifiedSplit(new Int32Array([0, 1, 0, 1]), 2, 7).test).toHaveLength(2);
  });

  it('kaiserWindow: at most 2^20 points, a RangeError beyond (a long window would end the process, not throw)', () => {
    expect(kaiserWindow(2 ** 20, 2)).toHaveLength(2 ** 20);
    expectRefused(() => kaiserWindow(2 ** 20 + 1, 2), RangeError, /^kaiserWindow: m must be at most 1048576 \(2\^20 points\), got number 1048577$/);
    expectRefused(() => kaiserWindow(Number.MAX_SAFE_INTEGER, 2), RangeError, /^kaiserWindow: m must be at most 1048576 \(2\^20 points\), got number 9007199254740991$/);
    expectRefused(() => kaiserWindow(sym as never, 2), TypeError, /^kaiserWindow: m must be a non-negative integer, got symbol Symbol\(s\)$/);
    expectRefused(() => kaiserWindow(5, 2n as never), TypeError, /^kaiserWindow: beta must be a number in \[-700, 700\], got bigint 2$/);
  });
});
