// Memory ownership: tensor checks at every public entry (alive, on this
// runtime), views that die with their owner, results the caller owns, stale
// `.data` after growth, sizes that cannot overflow, constructors that validate
// before allocating. Canaries around the tensors under test catch stray writes.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray, wasmModule, host } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { Tensor, checkTensor } from '../src/runtime/tensor.js';
import {
  Affine, BatchNormalization, Convolution, Dropout, Flatten, GlobalAveragePooling, InstanceNormalization,
  LayerNormalization, Pooling, Relu, Sigmoid, SoftmaxWithLoss, Tanh,
} from '../src/layers/index.js';
import { DeepConvNet, MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, Sequential } from '../src/nets/index.js';
import { AdaDelta, AdaGrad, Adam, AdamW, Momentum, Nesterov, RMSprop, SGD } from '../src/optim/index.js';

let rt: Runtime;
let other: Runtime;
beforeAll(async () => {
  rt = await makeRuntime();
  other = await makeRuntime();
});

describe('checkTensor', () => {
  it('passes a live tensor of this runtime and names the argument otherwise', () => {
    const t = rt.tensor([2, 3]);
    const labels = rt.labels([2]);
    expect(() => checkTensor(rt, t, 'f: x')).not.toThrow();
    expect(() => checkTensor(rt, labels, 'f: t')).not.toThrow();
    expect(() => checkTensor(rt, [1, 2], 'f: x')).toThrow(/^f: x: expected a Tensor, got an Array of length 2$/);
    expect(() => checkTensor(rt, null, 'f: x')).toThrow(TypeError);
    expect(() => checkTensor(rt, { ptr: t.ptr, shape: [2, 3] }, 'f: x')).toThrow(/f: x: expected a Tensor/);
    const foreign = other.tensor([2, 3]);
    expect(() => checkTensor(rt, foreign, 'f: x')).toThrow(/f: x: tensor \[2, 3\] belongs to another runtime/);
    t.dispose();
    expect(() => checkTensor(rt, t, 'f: x')).toThrow(/f: x: tensor \[2, 3\] used after dispose/);
    labels.dispose();
    foreign.dispose();
  });

  it('kills reshape(), rows() and view() views with their owner, and refuses views of a disposed tensor', () => {
    const x = rt.tensor([4, 3], randomArray(12, 1));
    const views = [x.reshape([12]), x.rows(1, 3), x.view(3, [3]), x.reshape([3, 4]).rows(0, 1)];
    for (const v of views) expect(v.alive).toBe(true);
    views[0].dispose(); // a view's dispose ends only the view
    expect(x.alive).toBe(true);
    expect(views[1].data).toEqual(x.data.subarray(3, 9));
    x.dispose();
    for (const v of views) {
      expect(v.disposed).toBe(true);
      expect(() => v.data).toThrow(/used after dispose/);
      expect(() => checkTensor(rt, v, 'g: x')).toThrow(/g: x: .*used after dispose/);
    }
    expect(() => x.reshape([12])).toThrow(/reshape: tensor used after dispose/);
    expect(() => x.rows(0, 1)).toThrow(/rows: tensor used after dispose/);
    const labels = rt.labels([4]);
    const part = labels.rows(1, 2);
    labels.dispose();
    expect(() => part.data).toThrow(/used after dispose/);
  });

  it('is checked by every layer entry: another runtime, disposed input, a view of a disposed owner', () => {
    const canaries = new Canaries(rt, 2);
    const W = rt.tensor([3, 2], randomArray(6, 2));
    const b = rt.tensor([2]);
    const layers: Array<[string, { forward(x: Tensor, train?: boolean): Tensor; backward(d: Tensor): Tensor }, number[]]> = [
      ['Affine', new Affine(W, b), [2, 3]],
      ['Relu', new Relu(), [2, 3]],
      ['Sigmoid', new Sigmoid(), [2, 3]],
      ['Tanh', new Tanh(), [2, 3]],
      ['BatchNormalization', new BatchNormalization(rt.tensor([3], [1, 1, 1]), rt.tensor([3])), [2, 3]],
      ['LayerNormalization', new LayerNormalization(rt.tensor([3], [1, 1, 1]), rt.tensor([3])), [2, 3]],
      ['InstanceNormalization', new InstanceNormalization(rt.tensor([1], [1]), rt.tensor([1])), [2, 1, 3, 3]],
      ['Dropout', new Dropout(0.5), [2, 3]],
      ['Convolution', new Convolution(rt.tensor([2, 1, 2, 2], randomArray(8, 3)), rt.tensor([2])), [2, 1, 3, 3]],
      ['Pooling', new Pooling(2, 2), [2, 1, 3, 3]],
      ['GlobalAveragePooling', new GlobalAveragePooling(), [2, 1, 3, 3]],
      ['Flatten', new Flatten(), [2, 3]],
    ];
    for (const [name, layer, shape] of layers) {
      // a layer without parameters takes its runtime from its first input; then another runtime's tensor is refused
      const x = between(canaries, () => rt.tensor(shape, randomArray(shape.reduce((a, c) => a * c), 4)));
      const y = layer.forward(x, true);
      const foreign = other.tensor(shape, x.toArray());
      expect(() => layer.forward(foreign, true), name).toThrow(new RegExp(`${name}.forward: x: .*another runtime`));
      expect(() => layer.backward(other.tensor(y.shape)), name).toThrow(new RegExp(`${name}.backward: dout: .*another runtime`));
      expect(() => layer.backward([1, 2] as unknown as Tensor), name).toThrow(new RegExp(`${name}.backward: dout: expected a`));
      const dout = rt.tensor(y.shape);
      dout.dispose();
      expect(() => layer.backward(dout), name).toThrow(new RegExp(`${name}.backward: dout: .*used after dispose`));
      const owner = rt.tensor([2, ...shape.slice(1)]);
      const view = owner.rows(0, 2);
      owner.dispose();
      expect(() => layer.forward(view, true), name).toThrow(new RegExp(`${name}.forward: x: .*used after dispose`));
      foreign.dispose();
    }
    expect(canaries.changed()).toBe(0);
    canaries.dispose();
  });

  it('checks the tensors a layer was given (parameters, gradients, running statistics) at forward and backward: the block of one the caller disposed is neither read nor written', () => {
    const t = (shape: number[], seed: number) => rt.tensor(shape, randomArray(shape.reduce((a, c) => a * c), seed));
    const cases: Array<[string, number[], () => { layer: { forward(x: Tensor, train?: boolean): Tensor; backward(d: Tensor): Tensor }; given: Record<string, Tensor> }]> = [
      ['Affine', [2, 3], () => { const given = { W: t([3, 2], 1), b: t([2], 2), dW: t([3, 2], 3), db: t([2], 4) }; return { layer: new Affine(given.W, given.b, { dW: given.dW, db: given.db }), given }; }],
      ['Convolution', [2, 1, 3, 3], () => { const given = { W: t([2, 1, 2, 2], 1), b: t([2], 2), dW: t([2, 1, 2, 2], 3), db: t([2], 4) }; return { layer: new Convolution(given.W, given.b, 1, 0, { dW: given.dW, db: given.db }), given }; }],
      ['BatchNormalization', [2, 3], () => {
        const given = { gamma: t([3], 1), beta: t([3], 2), runningMean: t([3], 3), runningVar: rt.tensor([3], [1, 1, 1]), dgamma: t([3], 4), dbeta: t([3], 5) };
        const { gamma, beta, ...options } = given;
        return { layer: new BatchNormalization(gamma, beta, 0.9, options), given };
      }],
      ['LayerNormalization', [2, 3], () => { const given = { gamma: t([3], 1), beta: t([3], 2), dgamma: t([3], 3), dbeta: t([3], 4) }; return { layer: new LayerNormalization(given.gamma, given.beta, { dgamma: given.dgamma, dbeta: given.dbeta }), given }; }],
      ['InstanceNormalization', [2, 1, 3, 3], () => { const given = { gamma: t([1], 1), beta: t([1], 2), dgamma: t([1], 3), dbeta: t([1], 4) }; return { layer: new InstanceNormalization(given.gamma, given.beta, { dgamma: given.dgamma, dbeta: given.dbeta }), given }; }],
    ];
    for (const [name, shape, make] of cases) {
      for (const what of Object.keys(make().given)) {
        const { layer, given } = make();
        const x = t(shape, 9);
        const y = layer.forward(x, true);
        const dout = rt.tensor(y.shape);
        given[what].dispose();
        // a tensor made now takes the freed block: a stray read or write would meet it
        const reuse = rt.tensor(given[what].shape, new Float32Array(given[what].size).fill(1234));
        expect(() => layer.backward(dout), `${name} ${what}`).toThrow(new RegExp(`^${name}\\.backward: ${what}: tensor .*used after dispose`));
        expect(() => layer.forward(x, true), `${name} ${what}`).toThrow(new RegExp(`^${name}\\.forward: ${what}: tensor .*used after dispose`));
        expect(Array.from(reuse.data).every((v) => v === 1234), `${name} ${what}: the block's new owner untouched`).toBe(true);
        reuse.dispose();
      }
    }
    expect(() => new Affine(t([3, 2], 1), t([2], 2), { W: t([3, 2], 3) } as never)).toThrow(/^Affine: unknown grads key 'W' \(expected dW, db\)$/);
    expect(() => new Convolution(t([1, 1, 2, 2], 1), t([1], 2), 1, 0, { dw: t([1, 1, 2, 2], 3) } as never)).toThrow(/^Convolution: unknown grads key 'dw'/);
  });

  it('refuses the backward of a layer whose forward input was disposed since (it would read freed memory)', () => {
    const layer = new Affine(rt.tensor([3, 2], randomArray(6, 5)), rt.tensor([2]));
    const x = rt.tensor([2, 3], randomArray(6, 6));
    layer.forward(x);
    x.dispose();
    expect(() => layer.backward(rt.tensor([2, 2]))).toThrow(/Affine.backward: the forward input x: .*used after dispose/);
  });

  it('is checked by SoftmaxWithLoss, the net entries and the optimizers', () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [5], outputSize: 3 });
    const x = rt.tensor([2, 4], randomArray(8, 7));
    const foreign = other.tensor([2, 4]);
    const t = [0, 2];
    for (const [what, call] of [
      ['predict', () => net.predict(foreign)], ['loss', () => net.loss(foreign, t)], ['accuracy', () => net.accuracy(foreign, t)],
      ['evaluate', () => net.evaluate(foreign, t)], ['gradient', () => net.gradient(foreign, t)],
    ] as const) {
      expect(call, what).toThrow(new RegExp(`${what}: x: .*another runtime`));
    }
    expect(() => net.accuracy(x, other.labels([2]))).toThrow(/accuracy: t: .*another runtime/);
    const loss = new SoftmaxWithLoss();
    loss.forward(rt.tensor([2, 3]), t);
    expect(() => loss.forward(other.tensor([2, 3]), t)).toThrow(/SoftmaxWithLoss.forward: x: .*another runtime/);
    expect(() => loss.forward(rt.tensor([2, 3]), other.labels([2]))).toThrow(/SoftmaxWithLoss.forward: t: .*another runtime/);
    const grads = net.gradient(x, t);
    for (const opt of [new SGD(), new Momentum(), new Nesterov(), new AdaGrad(), new RMSprop(), new AdaDelta(), new Adam(), new AdamW()]) {
      const dead = rt.tensor(net.params.W1.shape);
      dead.dispose();
      expect(() => opt.update({ ...net.params, W1: dead }, grads), opt.name).toThrow(new RegExp(`${opt.name}.update: params\\['W1'\\]: .*used after dispose`));
      expect(() => opt.update(net.params, { ...grads, b1: other.tensor(net.params.b1.shape) }), opt.name).toThrow(new RegExp(`${opt.name}.update: grads\\['b1'\\]: .*another runtime`));
      expect(() => opt.update(net.params, { ...grads, b1: [0, 0, 0, 0, 0] as unknown as Tensor }), opt.name).toThrow(/grads\['b1'\]: expected a float32 Tensor/);
    }
    foreign.dispose();
    net.dispose();
  });

  it('makes a disposed net throw on every entry, and a layer after dispose()', () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [5], outputSize: 3 });
    const x = rt.tensor([2, 4], randomArray(8, 8));
    expect(net.disposed).toBe(false);
    net.dispose();
    expect(net.disposed).toBe(true);
    net.dispose(); // a second dispose is a no-op
    for (const [what, call] of [
      ['predict', () => net.predict(x)], ['loss', () => net.loss(x, [0, 1])], ['accuracy', () => net.accuracy(x, [0, 1])],
      ['evaluate', () => net.evaluate(x, [0, 1])], ['gradient', () => net.gradient(x, [0, 1])], ['exportParams', () => net.exportParams()],
    ] as const) {
      expect(call, what).toThrow(/MultiLayerNet: used after dispose/);
    }
    const layer = new Relu();
    layer.forward(x);
    layer.dispose();
    expect(() => layer.forward(x)).toThrow(/Relu: used after dispose/);
  });
});

describe('a runtime where one is expected', () => {
  it('every constructor that takes one refuses anything else by name (was "Cannot read properties of undefined")', () => {
    const mlp = { inputSize: 2, hiddenSizeList: [3], outputSize: 2 };
    const cases: Array<[string, (rt: unknown) => unknown]> = [
      ['MultiLayerNet', (r) => new MultiLayerNet(r as Runtime, mlp)], ['MultiLayerNetExtend', (r) => new MultiLayerNetExtend(r as Runtime, mlp)],
      ['SimpleConvNet', (r) => new SimpleConvNet(r as Runtime)], ['DeepConvNet', (r) => new DeepConvNet(r as Runtime)], ['Sequential', (r) => new Sequential(r as Runtime, [])],
    ];
    const tensor = rt.tensor([1]);
    for (const [who, make] of cases) {
      for (const [value, got] of [[undefined, 'undefined'], [{}, 'an Object'], [tensor, 'a Tensor']] as const) {
        expect(() => make(value), `${who}(${got})`).toThrow(new RegExp(`^${who}: rt must be a Runtime \\(from createRuntime\\), got ${got}$`));
      }
    }
    tensor.dispose();
  });
});

describe('results the caller owns', () => {
  it('predict returns a new tensor per call that survives later calls of any batch shape', () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [6], outputSize: 3 });
    const x1 = rt.tensor([2, 4], randomArray(8, 9));
    const x2 = rt.tensor([2, 4], randomArray(8, 10));
    const y1 = net.predict(x1);
    const expected = y1.toArray();
    const y2 = net.predict(x2);
    expect(y2).not.toBe(y1);
    expect(y1.toArray()).toEqual(expected);
    for (const n of [1, 3, 5, 7, 9]) net.predict(rt.tensor([n, 4], randomArray(4 * n, n))).dispose();
    expect(y1.alive).toBe(true);
    expect(y1.toArray()).toEqual(expected);
    const before = rt.memoryStats();
    y1.dispose();
    y2.dispose();
    expect(rt.memoryStats().used).toBeLessThan(before.used);
    net.dispose();
  });

  it('writes into an explicit out, checked like any argument', () => {
    const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [6], outputSize: 3 });
    const x = rt.tensor([2, 4], randomArray(8, 11));
    const out = rt.tensor([2, 3]);
    expect(net.predict(x, false, out)).toBe(out);
    expect(out.toArray()).toEqual(net.predict(x).toArray());
    expect(() => net.predict(x, false, rt.tensor([3, 3]))).toThrow(/predict: out must have shape \[2, 3\]/);
    expect(() => net.predict(x, false, other.tensor([2, 3]))).toThrow(/predict: out: .*another runtime/);
    net.dispose();
  });
});

describe('stale .data after memory growth', () => {
  async function sharedRuntime(): Promise<Runtime> {
    // the default runtime plans a lazy pool on the shared-memory build; no worker starts for small work
    return host === 'node'
      ? makeRuntime({ threads: undefined, maxThreads: 2 })
      : makeRuntime({ threads: undefined, maxThreads: 2, sharedWasm: await wasmModule('shared') });
  }

  /** Allocates the rest of the memory (a fresh runtime has no free spans below its top), so the next allocation must grow it. */
  function fillToEnd(r: Runtime): Tensor | null {
    const { memoryBytes, top } = r.memoryStats();
    return memoryBytes > top ? r.tensor([(memoryBytes - top) / 4]) : null;
  }

  for (const kind of ['non-shared', 'shared'] as const) {
    it(`on ${kind} memory: toArray() copies and fresh .data stay right; tensor(shape, other.data) copies across growth`, async () => {
      const r = kind === 'shared' ? await sharedRuntime() : await makeRuntime();
      expect(r.memory.buffer instanceof SharedArrayBuffer).toBe(kind === 'shared');
      const values = randomArray(1000, 12);
      const t = r.tensor([1000], values);
      const held = t.data;
      const copy = t.toArray();
      const bytes = r.memory.buffer.byteLength;
      const big = r.tensor([bytes / 4 + 1024]);
      expect(r.memory.buffer.byteLength).toBeGreaterThan(bytes);
      // a kept .data is a transient view (README): emptied by growth on a non-shared memory, intact on a shared one
      expect(held.length).toBe(kind === 'shared' ? 1000 : 0);
      expect(copy).toEqual(values);
      expect(t.data).toEqual(values);
      // the allocation inside tensor(shape, t.data) grows the memory, which detaches t.data on a non-shared memory
      const fill = fillToEnd(r);
      const grown = r.memory.buffer.byteLength;
      const dup = r.tensor([1000], t.data);
      expect(r.memory.buffer.byteLength).toBeGreaterThan(grown);
      expect(dup.toArray()).toEqual(values);
      const labels = r.labels([3], [2, 0, 1]);
      const fill2 = fillToEnd(r);
      const labelsGrown = r.memory.buffer.byteLength;
      const dupLabels = r.labels([3], labels.data);
      expect(r.memory.buffer.byteLength).toBeGreaterThan(labelsGrown);
      expect(Array.from(dupLabels.data)).toEqual([2, 0, 1]);
      for (const x of [t, big, fill, dup, labels, fill2, dupLabels]) x?.dispose();
      await r.dispose();
    });
  }
});

describe('sizes computed in float64, checked before anything is written', () => {
  it('Convolution on [1, 64, 700, 700]: a clear error where it cannot fit, canaries intact, nothing allocated', async () => {
    // 256 MiB of memory: the input fits, the im2col scratch (2 × 64·3·3 × 700·700 floats = 2.26 GB) does not
    const r = await makeRuntime({ memory: { initial: 64, maximum: 4096 } });
    const canaries = new Canaries(r, 3);
    const layer = new Convolution(r.tensor([64, 64, 3, 3], randomArray(64 * 9 * 64, 14, -0.05, 0.05)), r.tensor([64]), 1, 1);
    const x = between(canaries, () => r.tensor([1, 64, 700, 700]));
    const before = r.memoryStats();
    expect(() => layer.forward(x)).toThrow(/out of memory: a 22\d{8}-byte allocation/);
    expect(canaries.changed()).toBe(0);
    expect(r.memoryStats().used).toBe(before.used);
    layer.dispose();
    x.dispose();
    canaries.dispose();
  });

  it('Convolution whose im2col column passes 2 GiB: refused before any allocation, whatever the memory', () => {
    const canaries = new Canaries(rt, 4);
    // K = 64·11·11 = 7744 rows × P = 300·300 columns × 4 bytes = 2.8 GB for one image
    const layer = new Convolution(rt.tensor([1, 64, 11, 11]), rt.tensor([1]), 1, 5);
    const x = between(canaries, () => rt.tensor([1, 64, 300, 300]));
    const before = rt.memoryStats();
    expect(() => layer.forward(x)).toThrow(/Convolution.forward: an im2col column \(64·11·11 × 300·300 floats\) in bytes is 2787840000, more than the 2147483584 a kernel can address/);
    expect(rt.memoryStats()).toEqual(before);
    expect(canaries.changed()).toBe(0);
    layer.dispose();
    x.dispose();
    canaries.dispose();
  });

  it('refuses tensors past 2 GiB, strides, pads and windows past 2^24, before allocating', () => {
    const [W, b] = [rt.tensor([1, 1, 1, 1]), rt.tensor([1])];
    expect(() => new Convolution(W, b, 2 ** 32)).toThrow(/Convolution: stride must be a positive integer, got 4294967296 \(at most 16777216\)/);
    const before = rt.memoryStats();
    expect(() => rt.tensor([2 ** 15, 2 ** 15])).toThrow(/tensor: \[32768, 32768\] has 1073741824 elements; a tensor holds at most 536870896/);
    expect(() => rt.tensor([2 ** 40, 2 ** 40])).toThrow(/tensor: .* elements; a tensor holds at most/);
    expect(() => rt.labels([2 ** 31])).toThrow(/labels: \[2147483648\] has/);
    expect(() => new Pooling(2 ** 31, 2)).toThrow(/Pooling: poolH must be a positive integer, got 2147483648 \(at most 16777216\)/);
    expect(() => new Pooling(2, 2, 1, 2 ** 31)).toThrow(/Pooling: pad must be a non-negative integer, got 2147483648 \(at most 16777216\)/);
    expect(rt.memoryStats()).toEqual(before);
    W.dispose();
    b.dispose();
  });
});

describe('shapes and indices are read once', () => {
  /** An array whose first element reads `first` once and `later` after (a getter; a Proxy does the same). */
  const flaky = (first: number, later: number, rest: number[] = []): number[] => {
    const a = [first, ...rest];
    let reads = 0;
    Object.defineProperty(a, 0, { get: () => (reads++ === 0 ? first : later), enumerable: true });
    return a;
  };

  it('a tensor\'s shape is frozen: editing it in place cannot make a view or a layer reach past the tensor', () => {
    const x = rt.tensor([4, 3]);
    expect(Object.isFrozen(x.shape)).toBe(true);
    expect(() => { (x.shape as number[])[0] = 200; }).toThrow(TypeError); // modules run in strict mode
    expect(x.shape).toEqual([4, 3]);
    for (const v of [x.reshape([3, 4]), x.rows(1, 3), x.view(2, [5])]) expect(Object.isFrozen(v.shape)).toBe(true);
    expect(Object.isFrozen(rt.labels(5).shape)).toBe(true);
    x.dispose();
  });

  it('rt.tensor, rt.labels, reshape and view size and describe a tensor by one reading of its shape', () => {
    const canaries = new Canaries(rt, 21);
    const t = between(canaries, () => rt.tensor(flaky(1, 10_000)));
    const l = between(canaries, () => rt.labels(flaky(2, 10_000)));
    expect([t.size, t.shape, l.size, l.shape]).toEqual([1, [1], 2, [2]]);
    t.data.fill(1);
    l.data.fill(1);
    const x = between(canaries, () => rt.tensor([2, 6]));
    expect(x.reshape(flaky(3, 300, [4])).shape).toEqual([3, 4]);
    expect(x.view(0, flaky(6, 600)).size).toBe(6);
    expect(canaries.changed()).toBe(0);
    for (const v of [t, l, x]) v.dispose();
    canaries.dispose();
  });

  it('Dataset.select gathers the rows it checked (an index that changes after the check was read out of bounds)', async () => {
    const { Dataset } = await import('../src/data/tensors.js');
    const x = rt.tensor([4, 3], Float32Array.from({ length: 12 }, (_, i) => i));
    const t = rt.labels([4], [0, 1, 2, 0]);
    const d = new Dataset(x, t);
    for (const later of [3, 1000, 2 ** 24, -5]) {
      const s = d.select(flaky(1, later));
      expect(Array.from(s.x.toArray()), `then ${later}`).toEqual([3, 4, 5]);
      expect(Array.from(s.t.toArray())).toEqual([1]);
      s.dispose();
    }
    expect(() => d.select(5 as never)).toThrow(/^Dataset\.select: indices must be an array of row numbers, got number 5$/);
    expect(() => d.select([Symbol('r')] as never)).toThrow(/^Dataset\.select: indices\[0\] is Symbol\(r\), expected an integer in \[0, 4\)$/);
    d.dispose();
    x.dispose();
    t.dispose();
  });
});
