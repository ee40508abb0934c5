// Inference and net plumbing where a mutant got past every other test (session 69): predictAsync into an out that
// overlaps x (x itself at its own width taken; an out inside x past its first row refused) and with x disposed while
// it yields (named as the caller gave it), a StateSnapshot saved after dispose(), a frozen Pooling's pad and
// non-square window, a frozen net's chain memory on 2 threads, net options that are no object, conv nets on images
// that are not square, the 2-thread row chain of a caller's Sequential (mixed activations, no gradient block), the
// CSV metadata's checks and key order, and splitTable's row counts and set.t. Node and Chromium.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { makeRuntime, expectBits, randomArray, randomInts } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';
import { expectRefused, thrown } from './helpers/refused.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { Yielder } from '../src/runtime/yield.js';
import {
  Affine, DeepConvNet, Flatten, MultiLayerNet, MultiLayerNetExtend, Pooling, Relu, Sequential, Sigmoid, SimpleConvNet, Tanh, type Layer,
} from '../src/index.js';
import { csvModelMetadata, loadCsv, readCsvModelInfo, splitTable } from '../src/data/csv/index.js';

let rt: Runtime;
const runtimes: Runtime[] = [];
beforeAll(async () => { rt = await makeRuntime({ seed: 69 }); });
afterAll(() => { rt.dispose(); for (const r of runtimes) r.dispose(); });

/** A runtime on `threads` threads that splits even when the machine's cores are busy (as test/threads.test.ts's). */
async function threaded(threads: number): Promise<Runtime> {
  const r = await makeRuntime({ threads, busyCores: 'split', seed: 69 });
  runtimes.push(r);
  await r.ready;
  return r;
}

/** A net of one Affine, `inputs` to `outputs` columns, predicting a row per chunk. */
function affineNet(inputs: number, outputs: number, seed: number): Sequential {
  const W = rt.tensor([inputs, outputs], randomArray(inputs * outputs, seed)), b = rt.tensor([outputs], randomArray(outputs, seed + 1));
  return new Sequential(rt, [new Affine(W, b)], { evalBatchSize: 1 });
}

/** Disposes a Sequential of the caller's tensors, then those tensors (its parameters; its gradients where it was given them). */
function disposeNet(net: Sequential): void {
  const tensors = [...Object.values(net.params), ...Object.values(net.grads)];
  net.dispose();
  for (const t of tensors) t.dispose(); // idempotent: the gradients an Affine made itself are gone already
}

const bits = (t: Tensor) => new Uint32Array(t.toArray().buffer);

describe('predictAsync into an out that overlaps x: the cases the tests left open', () => {
  it('x itself as out, its output rows as wide as its own: taken, with predict\'s bits (Sequential and FrozenNet)', async () => {
    const net = affineNet(3, 3, 5);
    const frozen = net.freeze();
    for (const [who, m] of [['Sequential', net], ['FrozenNet', frozen]] as const) {
      const x = rt.tensor([5, 3], randomArray(15, 7));
      const want = net.predict(x);
      expect(await m.predictAsync(x, { out: x }), who).toBe(x);
      expect(bits(x), who).toEqual(bits(want));
      x.dispose();
      want.dispose();
    }
    frozen.dispose();
    disposeNet(net);
  });

  it('an out that starts inside x after its first row, rows no wider than x\'s: refused before anything is written', async () => {
    const net = affineNet(3, 2, 9);
    const frozen = net.freeze();
    const big = rt.tensor([15], randomArray(15, 11));
    const x = big.view(0, [4, 3]), out = big.view(3, [4, 2]); // out's row 0 is x's row 1
    const before = bits(big);
    for (const [who, call] of [['predictAsync', () => net.predictAsync(x, { out })], ['FrozenNet.predictAsync', () => frozen.predictAsync(x, { out })]] as const) {
      await expect(call(), who).rejects.toThrow(new RegExp(`^${who.replace('.', '\\.')}: out overlaps x, whose rows a chunk's output would overwrite before they are read`));
      expect(bits(big), `${who}: nothing written`).toEqual(before);
    }
    frozen.dispose();
    disposeNet(net);
    big.dispose();
  });
});

describe('predictAsync with x disposed while it yields', () => {
  it('rejects naming the entry and the x it was given (its whole shape), not the row view that found it (Sequential and FrozenNet)', async () => {
    const net = affineNet(3, 2, 19);
    const frozen = net.freeze();
    const due = vi.spyOn(Yielder.prototype, 'due').mockReturnValue(true); // a yield before every chunk after the first
    try {
      for (const [who, m] of [['predictAsync', net], ['FrozenNet.predictAsync', frozen]] as const) {
        const x = rt.tensor([4, 3], randomArray(12, 21));
        const pending = m.predictAsync(x); // runs its first chunk, then awaits the yield
        x.dispose();
        await expect(pending, who).rejects.toThrow(new RegExp(`^${who.replace('.', '\\.')}: x: tensor \\[4, 3\\] used after dispose`));
      }
    } finally {
      due.mockRestore();
    }
    frozen.dispose();
    disposeNet(net);
  });
});

describe('StateSnapshot: the case the tests left open', () => {
  it('save() after dispose() throws and writes nothing into the block it freed', async () => {
    const r = await makeRuntime(); // a runtime of its own: the next tensor of the copy's size takes the block it freed
    const net = new MultiLayerNetExtend(r, { inputSize: 4, hiddenSizeList: [5, 5], outputSize: 2, useBatchnorm: true });
    const x = r.tensor([3, 4], randomArray(12, 13));
    net.loss(x, [0, 1, 0], true); // running statistics away from 0 and 1
    const snap = net.snapshotState();
    const copy = (snap as unknown as { block: Tensor }).block; // its one block: the 4 statistics' 20 floats
    expect(copy.size).toBe(20);
    const at = copy.ptr;
    snap.dispose();
    const next = r.tensor([20], randomArray(20, 14));
    expect(next.ptr, 'the next tensor of that size takes the freed block').toBe(at);
    const before = bits(next);
    expect(() => snap.save()).toThrow(/^StateSnapshot\.save: used after dispose\(\)$/);
    expect(bits(next)).toEqual(before);
    r.dispose();
  });
});

describe('frozen nets: the cases the tests left open', () => {
  it('a Pooling with a pad and a non-square window: the net\'s bits', () => {
    rt.reseed(15);
    const net = new Sequential(rt, [
      new Pooling(2, 3, 1, 1, { mode: 'avg' }), new Pooling(3, 2, 2, 1), new Flatten(),
      new Affine(rt.randn(rt.tensor([2 * 3 * 4, 5]), 0.3), rt.tensor([5])),
    ]);
    const frozen = net.freeze();
    const x = rt.tensor([3, 2, 5, 6], randomArray(3 * 2 * 5 * 6, 16));
    const want = net.predict(x), got = frozen.predict(x);
    expect(got.shape).toEqual([3, 5]);
    expectBits(got.toArray(), want.toArray(), 'frozen');
    for (const t of [x, want, got]) t.dispose();
    frozen.dispose();
    disposeNet(net);
  });

  it('on 2 threads: dispose() frees what its one-call chain made (the memory is as before freezing)', async () => {
    const two = await threaded(2);
    const net = new MultiLayerNet(two, { inputSize: 784, hiddenSizeList: [100, 100, 100], outputSize: 10 });
    const x = two.tensor([8, 784], randomArray(8 * 784, 17, 0, 1));
    const chained = () => {
      const spy = vi.spyOn(two, 'runParts');
      const frozen = net.freeze();
      frozen.predict(x).dispose();
      expect(spy.mock.calls.filter(([name]) => name === 'runChain').length, 'the chain ran').toBe(1);
      spy.mockRestore();
      return frozen;
    };
    chained().dispose(); // the runtime's per-part scratch, kept for later calls, grown once
    const used = two.memoryStats().used;
    chained().dispose();
    expect(two.memoryStats().used).toBe(used);
    x.dispose();
    net.dispose();
  });
});

describe('net constructors given options that are no object', () => {
  it('refused naming the net, before anything is allocated (not read as {}, the defaults)', () => {
    const cases: Array<[string, () => unknown]> = [
      ['SimpleConvNet', () => new SimpleConvNet(rt, null as never)],
      ['DeepConvNet', () => new DeepConvNet(rt, 5 as never)],
      ['MultiLayerNetExtend', () => new MultiLayerNetExtend(rt, true as never)],
    ];
    for (const [who, make] of cases) expectRefused(rt, make, TypeError, new RegExp(`^${who}: options must be an object, got (null|5|true)$`));
  });
});

describe('conv nets on images that are not square', () => {
  it('SimpleConvNet and DeepConvNet size each layer by the image\'s height and width apart, and predict', () => {
    // 8×12: a 3×3 convolution to 6×10, its 2×2 pooling to 3×5
    const simple = new SimpleConvNet(rt, { inputDim: [1, 8, 12], convParam: { filterNum: 2, filterSize: 3, pad: 0, stride: 1 }, hiddenSize: 4, outputSize: 3 });
    expect(simple.params.W2.shape).toEqual([2 * 3 * 5, 4]);
    // 8×16 through three blocks of two padded 3×3 convolutions (the fourth padded by 2) and a 2×2 pooling: 4×8, 3×5, 1×2
    const deep = new DeepConvNet(rt, { inputDim: [1, 8, 16], hiddenSize: 4, outputSize: 3 });
    expect(deep.params.W7.shape).toEqual([64 * 1 * 2, 4]);
    for (const [net, shape] of [[simple, [2, 1, 8, 12]], [deep, [2, 1, 8, 16]]] as Array<[Sequential, number[]]>) {
      const x = rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b, 1), 23));
      const y = net.predict(x);
      expect(y.shape).toEqual([2, 3]);
      for (const v of [x, y]) v.dispose();
      net.dispose();
    }
  });
});

describe('the row chain of a caller\'s Sequential on 2 threads', () => {
  // 784-[100, 37, 100]-10 with a different activation after each hidden layer, each Affine's gradients its own (no
  // gradient block) between canaries: 95,200 multiply-adds a row in the forward and input gradients, so 40 rows run the chain
  const sizes = [784, 100, 37, 100, 10];
  const build = (r: Runtime, canaries: Canaries): Sequential => {
    const layers: Layer[] = [];
    const acts = [new Relu(), new Tanh(), new Sigmoid()];
    for (let l = 0; l < 4; l++) {
      const [D, M] = [sizes[l], sizes[l + 1]];
      const W = r.tensor([D, M], randomArray(D * M, 20 + l, -0.2, 0.2)), b = r.tensor([M], randomArray(M, 30 + l, -0.1, 0.1));
      const dW = between(canaries, () => r.tensor([D, M])), db = between(canaries, () => r.tensor([M]));
      layers.push(new Affine(W, b, { dW, db }));
      if (l < 3) layers.push(acts[l]);
    }
    return new Sequential(r, layers);
  };

  it('a step: the bits of 1 thread (relu, tanh, sigmoid in turn), nothing written past a gradient; frozen, the net\'s predictions', async () => {
    const [one, two] = [rt, await threaded(2)];
    const N = 40;
    const xs = randomArray(N * 784, 40, 0, 1), t = Array.from(randomInts(N, 41, 10));
    const run = (r: Runtime) => {
      const canaries = new Canaries(r, 42);
      const net = build(r, canaries);
      const x = r.tensor([N, 784], xs);
      const spy = vi.spyOn(r, 'runParts');
      const grads = Object.fromEntries(Object.entries(net.gradient(x, t)).map(([k, g]) => [k, g.toArray()]));
      const chained = spy.mock.calls.filter(([name]) => name === 'runChain').length;
      spy.mockClear();
      const frozen = net.freeze();
      const y = frozen.predict(x), want = net.predict(x);
      const frozenChained = spy.mock.calls.filter(([name]) => name === 'runChain').length;
      spy.mockRestore();
      const out = { grads, loss: net.lastLoss, chained, frozenChained, y: y.toArray(), want: want.toArray(), changed: canaries.changed() };
      for (const v of [x, y, want]) v.dispose();
      frozen.dispose();
      disposeNet(net);
      canaries.dispose();
      return out;
    };
    const a = run(one), b = run(two);
    expect([a.chained, b.chained], 'chain calls: none on 1 thread, 2 on 2').toEqual([0, 2]);
    expect(b.frozenChained, 'the frozen net\'s chain call').toBe(1);
    expect(b.changed, 'canaries written').toBe(0);
    expect(b.loss).toBe(a.loss);
    for (const k of Object.keys(a.grads)) expectBits(b.grads[k], a.grads[k], k);
    expectBits(b.want, a.want, 'predict on 2 threads');
    expectBits(b.y, a.want, 'the frozen net on 2 threads');
  });
});

describe('CSV model metadata: the cases the tests left open', () => {
  const info = { label: 'y', features: ['a', 'b'], classes: ['n', 'p'], mean: [0.5, -2], scale: [1, 3] };
  const text = (edit: Record<string, unknown>) => JSON.stringify({ ...info, ...edit });

  it.each<[string, string, RegExp]>([
    ['a scale of 0 (a division by zero at predict)', text({ scale: [1, 0] }), /\.scale must be 2 positive finite numbers, one per feature$/],
    ['an infinite mean (1e999 reads as Infinity)', text({ mean: [0.5, 1] }).replace('[0.5,1]', '[0.5,1e999]'), /\.mean must be 2 finite numbers, one per feature$/],
    ['a feature named twice', text({ features: ['a', 'a'] }), /\.features names a column or class twice$/],
    ['a class named twice', text({ classes: ['n', 'n'] }), /\.classes names a column or class twice$/],
    ['an array', JSON.stringify([info]), /must be an object \{ label, features, classes, mean, scale \}$/],
  ])('refused: %s', (_, t, message) => {
    const e = thrown(() => readCsvModelInfo('model', t));
    expect(e.message).toMatch(/^model: metadata 'csv' /);
    expect(e.message).toMatch(message);
  });

  it('a class count other than the net\'s outputs: refused, as a feature count other than its inputs is', () => {
    expect(readCsvModelInfo('model', text({}), 2, 2)).toEqual(info);
    expect(() => readCsvModelInfo('model', text({}), 2, 3)).toThrow(/^model: metadata 'csv' names 2 classes, but the net has 3 outputs$/);
    expect(() => readCsvModelInfo('model', text({}), 3, 2)).toThrow(/^model: metadata 'csv' names 2 features, but the net takes 3 inputs$/);
  });

  it('csvModelMetadata writes the five keys in one order whatever the order given, and nothing else', () => {
    const expected = '{"label":"y","features":["a","b"],"classes":["n","p"],"mean":[0.5,-2],"scale":[1,3]}';
    expect(csvModelMetadata(info)).toEqual({ csv: expected });
    const reversed = { scale: info.scale, mean: info.mean, classes: info.classes, features: info.features, label: info.label, note: 'extra' };
    expect(csvModelMetadata(reversed)).toEqual({ csv: expected });
  });
});

describe('splitTable: the cases the tests left open', () => {
  const table = (rows: number) => `v,y\n${Array.from({ length: rows }, (_, i) => `${i},${'ab'[i % 2]}`).join('\n')}\n`;

  it('trainRows and testRows of a whole part are taken; fewer keep that many of each part', () => {
    const all = loadCsv(rt, table(40), { label: 'y' });
    const whole = splitTable(all, { testSplit: 0.25, seed: 1, trainRows: 30, testRows: 10 });
    expect([whole.xTrain.shape[0], whole.tTrain.shape[0], whole.xTest.shape[0], whole.tTest.shape[0]]).toEqual([30, 30, 10, 10]);
    const few = splitTable(all, { testSplit: 0.25, seed: 1, trainRows: 20, testRows: 4 });
    expect([few.xTrain.shape[0], few.tTrain.shape[0], few.xTest.shape[0], few.tTest.shape[0]]).toEqual([20, 20, 4, 4]);
    for (const s of [whole, few]) for (const v of [s.xTrain, s.tTrain, s.xTest, s.tTest]) v.dispose();
    all.x.dispose();
    all.t.dispose();
  });

  it('a set.t disposed or of another runtime: refused naming set.t, before anything is allocated', async () => {
    const other = await makeRuntime();
    const all = loadCsv(rt, table(4), { label: 'y' });
    const foreign = other.labels([4], [0, 1, 0, 1]);
    expectRefused(rt, () => splitTable({ x: all.x, t: foreign }, { testSplit: 0.5, seed: 1 }), TypeError, /^splitTable: set\.t: tensor \[4\] belongs to another runtime$/);
    all.t.dispose();
    expectRefused(rt, () => splitTable(all, { testSplit: 0.5, seed: 1 }), TypeError, /^splitTable: set\.t: tensor \[4\] used after dispose\(\)/);
    all.x.dispose();
    other.dispose();
  });

  it('a share that leaves no training rows: refused naming it, before anything is allocated', () => {
    const all = loadCsv(rt, table(3), { label: 'y' });
    expectRefused(rt, () => splitTable(all, { testSplit: 0.9, seed: 1 }), RangeError, /^splitTable: options\.testSplit 0\.9 of the 3 rows leaves no training rows$/);
    all.x.dispose();
    all.t.dispose();
  });
});
