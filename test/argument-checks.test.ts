// Arguments the data helpers, layerActivations, rows(), tensor shapes, initStd and convOutputSize
// took without a word or refused with the engine's own error: each now throws a TypeError (wrong
// type) or RangeError (out of range) naming the entry and the argument, allocating nothing.
// Node and Chromium.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime } from './helpers/runtime.js';
import { expectRefused as refused, type ErrorClass } from './helpers/refused.js';
import type { Runtime } from '../src/runtime/runtime.js';
import {
  Dataset, MultiLayerNet, classCount, convOutputSize, firstRows, imagesTensor, initStd, layerActivations, selectRows, toDataSet,
  type RawImages,
} from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 6 }); });

/** `f` is refused with `cls` and `message`, allocating nothing on the suite's runtime. */
const expectRefused = (f: () => unknown, cls: ErrorClass, message: RegExp) => refused(rt, f, cls, message);

/** n images of 2 x 3 pixels, labels 0, 1, 2, 0, … */
function images(n: number): RawImages {
  return { pixels: Uint8Array.from({ length: 6 * n }, (_, i) => i), labels: Uint8Array.from({ length: n }, (_, i) => i % 3), rows: 2, cols: 3 };
}

describe('the data helpers refuse unknown option keys', () => {
  it('toDataSet: a misspelt oneHotLabel is refused, naming the key and listing the expected ones', () => {
    expectRefused(() => toDataSet(rt, images(4), images(2), { oneHot: true } as never), TypeError,
      /^toDataSet: unknown option 'oneHot' \(expected one of normalize, flatten, oneHotLabel, numClasses\)$/);
    expectRefused(() => toDataSet(rt, images(4), images(2), null as never), TypeError, /^toDataSet: options must be an object, got null$/);
    const d = toDataSet(rt, images(4), images(2), { oneHotLabel: true, numClasses: 3 });
    expect(d.tTrain.shape).toEqual([4, 3]);
    for (const t of Object.values(d)) t.dispose();
  });

  it('imagesTensor: normalise (for normalize) is refused; oneHotLabel, a TensorOptions key, is taken', () => {
    expectRefused(() => imagesTensor(rt, images(2), { normalise: true } as never), TypeError,
      /^imagesTensor: unknown option 'normalise' \(expected one of normalize, flatten, oneHotLabel\)$/);
    expectRefused(() => imagesTensor(rt, images(2), { oneHotLabel: 1 } as never), TypeError, /^imagesTensor: oneHotLabel must be true or false, got number 1$/);
    const x = imagesTensor(rt, images(2), { normalize: false, flatten: false, oneHotLabel: true });
    expect(x.shape).toEqual([2, 1, 2, 3]);
    expect(x.data[5]).toBe(5);
    x.dispose();
  });
});

describe('null, undefined and wrong-type arguments name the entry and the argument', () => {
  it('layerActivations: net', () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [2], outputSize: 2 });
    const x = rt.tensor([1, 3]);
    expectRefused(() => layerActivations(null as never, x), TypeError, /^layerActivations: net must be a net \(MultiLayerNet, a Sequential, …\), got null$/);
    expectRefused(() => layerActivations({} as never, x), TypeError, /^layerActivations: net must be a net .*, got an Object$/);
    expect(layerActivations(net, x)).toHaveLength(3);
    x.dispose();
    net.dispose();
  });

  it('imagesTensor and toDataSet: rt, the images and their fields', () => {
    expectRefused(() => imagesTensor(null as never, images(2)), TypeError, /^imagesTensor: rt must be a Runtime \(from createRuntime\), got null$/);
    expectRefused(() => imagesTensor(rt, null as never), TypeError, /^imagesTensor: images must be \{ pixels, labels, rows, cols \}, got null$/);
    expectRefused(() => imagesTensor(rt, { ...images(2), pixels: [0, 1] } as never), TypeError, /^imagesTensor: images\.pixels must be a Uint8Array, got an Array of length 2$/);
    expectRefused(() => imagesTensor(rt, { ...images(2), labels: undefined } as never), TypeError, /^imagesTensor: images\.labels must be a Uint8Array, got undefined$/);
    expectRefused(() => imagesTensor(rt, { ...images(2), rows: '2' } as never), TypeError,
      /^imagesTensor: images: rows and cols must be positive integers, got the string "2" x 3$/);
    expectRefused(() => toDataSet(undefined as never, images(2), images(2)), TypeError, /^toDataSet: rt must be a Runtime \(from createRuntime\), got undefined$/);
    expectRefused(() => toDataSet(rt, null as never, images(2)), TypeError, /^toDataSet: train must be \{ pixels, labels, rows, cols \}, got null$/);
    expectRefused(() => toDataSet(rt, images(2), undefined as never), TypeError, /^toDataSet: test must be \{ pixels, labels, rows, cols \}, got undefined$/);
  });

  it('selectRows, firstRows and classCount', () => {
    expect(() => selectRows(null as never, [0])).toThrow(TypeError);
    expect(() => selectRows(null as never, [0])).toThrow(/^selectRows: images must be \{ pixels, labels, rows, cols \}, got null$/);
    expect(() => selectRows(images(3), null as never)).toThrow(/^selectRows: indices must be an array of row numbers, got null$/);
    expect(() => selectRows(images(3), [1, '2'] as never)).toThrow(TypeError);
    expect(() => selectRows(images(3), [1, '2'] as never)).toThrow(/^selectRows: indices\[1\] is the string "2", expected an integer in \[0, 3\)$/);
    expect(Array.from(selectRows(images(3), [2, 0]).labels)).toEqual([2, 0]);
    expect(() => firstRows(undefined as never, 1)).toThrow(/^firstRows: images must be \{ pixels, labels, rows, cols \}, got undefined$/);
    expect(() => firstRows(images(3), '2' as never)).toThrow(TypeError);
    expect(() => firstRows(images(3), '2' as never)).toThrow(/^firstRows: n: expected a positive integer, got the string "2"$/);
    expect(() => classCount(null as never)).toThrow(TypeError);
    expect(() => classCount(null as never)).toThrow(/^classCount: argument 1 must be a Uint8Array of labels, got null$/);
    expect(() => classCount(new Uint8Array([1]), [4] as never)).toThrow(/^classCount: argument 2 must be a Uint8Array of labels, got an Array of length 1$/);
    expect(classCount(new Uint8Array([1]), new Uint8Array([4]))).toBe(5);
  });

  it('Dataset: batchSize, size, seed and validationRate that are not numbers are TypeErrors', () => {
    const d = new Dataset(rt.tensor([4, 2]), rt.labels([4]));
    expect(() => d.batches('2' as never).next()).toThrow(TypeError);
    expect(() => d.batches('2' as never).next()).toThrow(/^Dataset\.batches: batchSize must be a positive integer, got the string "2"$/);
    expect(() => d.randomChoice(null as never)).toThrow(TypeError);
    expect(() => d.randomChoice(null as never)).toThrow(/^Dataset\.randomChoice: size must be a positive integer, got null$/);
    expect(() => d.shuffle('1' as never)).toThrow(TypeError);
    expect(() => d.shuffle('1' as never)).toThrow(/^Dataset\.shuffle: seed must be an integer in \[0, 2\^32\), got the string "1"$/);
    expect(() => d.split('0.5' as never, 1)).toThrow(TypeError);
    expect(() => d.split('0.5' as never, 1)).toThrow(/^Dataset\.split: validationRate must be a number in \(0, 1\), got the string "0\.5"$/);
    // numbers out of range stay RangeErrors
    expect(() => d.batches(0).next()).toThrow(RangeError);
    expect(() => d.split(1, 1)).toThrow(RangeError);
    d.x.dispose();
    d.t.dispose();
    d.dispose();
  });
});

describe('rows() of a scalar', () => {
  it('a rank-0 tensor has no rows: a RangeError saying so', () => {
    const s = rt.tensor([], [3]);
    const i = rt.labels([], [3]);
    expectRefused(() => s.rows(0, 0), RangeError, /^rows: the tensor has no rows \(rank 0\)$/);
    expectRefused(() => i.rows(0, 1), RangeError, /^rows: the tensor has no rows \(rank 0\)$/);
    s.dispose();
    i.dispose();
  });
});

describe('the dimensions of an empty tensor are limited as a full one\'s', () => {
  const limit = /the dimensions other than 0 multiply to more than 536870896, the most elements a tensor holds/;

  it('rt.tensor, rt.labels and reshape refuse [2^40, 0] and the like', () => {
    expectRefused(() => rt.tensor([2 ** 40, 0]), RangeError, new RegExp(`^tensor: \\[1099511627776, 0\\]: ${limit.source}`));
    expectRefused(() => rt.labels([0, 2 ** 31, 2 ** 31]), RangeError, new RegExp(`^labels: \\[0, 2147483648, 2147483648\\]: ${limit.source}`));
    expectRefused(() => rt.tensor([0, 2 ** 60]), RangeError, limit);
    const empty = rt.tensor([0, 784]);
    expectRefused(() => empty.reshape([0, 2 ** 53]), RangeError, new RegExp(`^reshape: \\[0, 9007199254740992\\]: ${limit.source}`));
    expect(empty.reshape([784, 0]).shape).toEqual([784, 0]);
    empty.dispose();
    const most = rt.tensor([536870896, 0]);
    expect(most.size).toBe(0);
    most.dispose();
  });

  it('imagesTensor of no images of 2^31 x 2^31 pixels: a RangeError naming images, rows and cols', () => {
    const none = { pixels: new Uint8Array(0), labels: new Uint8Array(0), rows: 2 ** 31, cols: 2 ** 31 };
    expectRefused(() => imagesTensor(rt, none), RangeError,
      /^imagesTensor: images: rows x cols = 2147483648 x 2147483648 is more than the 536870896 pixels an image can hold/);
    const x = imagesTensor(rt, { ...none, rows: 28, cols: 28 });
    expect(x.shape).toEqual([0, 784]);
    x.dispose();
  });
});

describe('initStd and convOutputSize', () => {
  it('initStd: a fanIn that is not a positive integer', () => {
    for (const fanIn of [0, -4, 1.5, NaN, Infinity]) {
      expect(() => initStd('he', fanIn), String(fanIn)).toThrow(RangeError);
      expect(() => initStd('he', fanIn), String(fanIn)).toThrow(new RegExp(`^initStd: fanIn must be a positive integer, got ${fanIn}$`));
    }
    expect(() => initStd('xavier', '4' as never)).toThrow(TypeError);
    expect(() => initStd('xavier', '4' as never)).toThrow(/^initStd: fanIn must be a positive integer, got the string "4"$/);
    expect(initStd('he', 8)).toBe(0.5);
    expect(initStd('xavier', 4)).toBe(0.5);
    expect(initStd(0.01, 3)).toBe(0.01);
  });

  it('convOutputSize: a stride that is not a positive integer, and the other arguments out of range', () => {
    const cases: Array<[number[], ErrorClass, RegExp]> = [
      [[1, 5, 0, 0], RangeError, /^convOutputSize: stride must be a positive integer \(at most 2\^53 − 1\), got 0$/],
      [[5, 3, -1, 0], RangeError, /^convOutputSize: stride must be a positive integer .*, got -1$/],
      [[5, 3, 1.5, 0], RangeError, /^convOutputSize: stride must be a positive integer .*, got 1\.5$/],
      [[-1, 3, 1, 0], RangeError, /^convOutputSize: size must be a non-negative integer .*, got -1$/],
      [[NaN, 3, 1, 0], RangeError, /^convOutputSize: size must be a non-negative integer .*, got NaN$/],
      [[5, 0, 1, 0], RangeError, /^convOutputSize: filter must be a positive integer .*, got 0$/],
      [[5, 3, 1, -1], RangeError, /^convOutputSize: pad must be a non-negative integer .*, got -1$/],
      [[5, 3, 1, 2 ** 53], RangeError, /^convOutputSize: pad must be a non-negative integer .*, got 9007199254740992$/],
      [[2 ** 52, 3, 1, 2 ** 51], RangeError, /^convOutputSize: size \+ 2·pad must be at most 2\^53 − 1, got 4503599627370496 \+ 2·2251799813685248$/],
      [['5', 3, 1, 0] as never, TypeError, /^convOutputSize: size must be a non-negative integer .*, got string$/],
      [[5, 3, null, 0] as never, TypeError, /^convOutputSize: stride must be a positive integer .*, got null$/],
    ];
    for (const [[size, filter, stride, pad], cls, message] of cases) {
      const call = () => convOutputSize(size, filter, stride, pad);
      expect(call, String(message)).toThrow(cls);
      expect(call, String(message)).toThrow(message);
    }
    expect(convOutputSize(28, 5, 1, 0)).toBe(24);
    expect(convOutputSize(7, 3, 2, 1)).toBe(4);
    expect(convOutputSize(4, 5, 1, 0)).toBe(0); // does not fit: the callers say so
  });
});
