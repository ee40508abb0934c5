// The nets' async entries (evaluateAsync, accuracyAsync, predictAsync): the
// sync entries' bits, yielding to the event loop between chunks, abort, calls
// interleaved with others on the same net, and tensors or the net disposed
// while they wait. Node and Chromium.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray, randomInts, expectBits } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { MultiLayerNet, SimpleConvNet } from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 9 }); });

/** An MLP and 2,500 rows: three chunks of evalBatchSize 1000. */
function mlpSet(seed = 1) {
  const net = new MultiLayerNet(rt, { inputSize: 20, hiddenSizeList: [16], outputSize: 4 });
  const N = 2500;
  const x = rt.tensor([N, 20], randomArray(N * 20, seed));
  const labels = Array.from(randomInts(N, seed + 1, 4));
  return { net, x, labels, N };
}

const bitsOf = (v: number) => new Float64Array([v]);

describe('evaluateAsync, accuracyAsync, predictAsync', () => {
  it('give the bits of evaluate, accuracy and predict, for labels as an array, an IntTensor or one-hot rows', async () => {
    const { net, x, labels, N } = mlpSet();
    const ints = rt.labels([N], labels);
    const oneHot = rt.tensor([N, 4]);
    const d = oneHot.data;
    labels.forEach((c, i) => { d[i * 4 + c] = 1; });
    for (const t of [labels, ints, oneHot]) {
      const sync = net.evaluate(x, t);
      const got = await net.evaluateAsync(x, t);
      expect(bitsOf(got.loss)).toEqual(bitsOf(sync.loss));
      expect(got.accuracy).toBe(sync.accuracy);
      expect(await net.accuracyAsync(x, t)).toBe(net.accuracy(x, t));
    }
    const y = net.predict(x);
    const yAsync = await net.predictAsync(x);
    expect(yAsync.shape).toEqual([N, 4]);
    expectBits(yAsync.toArray(), y.toArray(), 'predictAsync');
    const out = rt.tensor([N, 4]);
    expect(await net.predictAsync(x, { out })).toBe(out);
    expectBits(out.toArray(), y.toArray(), 'predictAsync into out');
    const empty = await net.predictAsync(rt.tensor([0, 20]));
    expect(empty.shape).toEqual([0, 4]);
    for (const t of [ints, oneHot, x, y, yAsync, out, empty]) t.dispose();
    net.dispose();
  });

  it('a conv net\'s predictAsync in chunks of 100 images has predict\'s bits, and its input shape is checked', async () => {
    const net = new SimpleConvNet(rt, { inputDim: [1, 8, 8], convParam: { filterNum: 3, filterSize: 3 }, hiddenSize: 8, outputSize: 3 });
    const x = rt.tensor([250, 1, 8, 8], randomArray(250 * 64, 5, 0, 1));
    expectBits((await net.predictAsync(x)).toArray(), net.predict(x).toArray(), 'SimpleConvNet');
    await expect(net.predictAsync(rt.tensor([2, 64]))).rejects.toThrow(/^predictAsync: x must be \[N, 1, 8, 8\] \(the net's input\), got \[2, 64\]$/);
    net.dispose();
  });

  it('yield to the event loop between chunks: a timer set before the call fires before it resolves', async () => {
    // about 1.7 GFLOP in 10 chunks: well over the ~8 ms of work between two yields on any machine
    const net = new SimpleConvNet(rt);
    const x = rt.tensor([1000, 1, 28, 28], randomArray(784_000, 3, 0, 1));
    for (const call of [() => net.evaluateAsync(x, Array(1000).fill(1)), () => net.predictAsync(x)]) {
      let fired = false;
      setTimeout(() => { fired = true; }, 0);
      let firedBeforeEnd = false;
      await call().then((r) => { firedBeforeEnd = fired; if (typeof r === 'object' && 'dispose' in r) r.dispose(); });
      expect(firedBeforeEnd).toBe(true);
    }
    x.dispose();
    net.dispose();
  });

  it('keep their labels and results apart from other calls on the same net meanwhile, sync or async', async () => {
    const a = mlpSet(11);
    const other = rt.tensor([2500, 20], randomArray(50_000, 21));
    const otherLabels = Array.from(randomInts(2500, 22, 4));
    const expected = a.net.evaluate(a.x, a.labels);
    const expectedOther = a.net.evaluate(other, otherLabels);
    // a sync call with other labels of the same count between the async call's chunks
    const timer = setInterval(() => a.net.accuracy(other, otherLabels), 0);
    const [got, gotOther] = await Promise.all([a.net.evaluateAsync(a.x, a.labels), a.net.evaluateAsync(other, otherLabels)]);
    clearInterval(timer);
    expect(bitsOf(got.loss)).toEqual(bitsOf(expected.loss));
    expect(got.accuracy).toBe(expected.accuracy);
    expect(bitsOf(gotOther.loss)).toEqual(bitsOf(expectedOther.loss));
    other.dispose();
    a.x.dispose();
    a.net.dispose();
  });

  it('stop at an abort, and at the net, x, t or out disposed while they wait, freeing what they made', async () => {
    const net = new SimpleConvNet(rt);
    const x = rt.tensor([1000, 1, 28, 28], randomArray(784_000, 4, 0, 1));
    const labels = rt.labels([1000], randomInts(1000, 5, 10));
    net.evaluate(x, labels); // the net's buffers for these shapes
    const used = rt.memoryStats().used;
    const reason = new Error('stop now');
    const aborted = (signal: AbortSignal) => [
      () => net.evaluateAsync(x, Array.from(labels.data), { signal }), () => net.accuracyAsync(x, labels, { signal }), () => net.predictAsync(x, { signal }),
    ];
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const call = aborted(controller.signal)[i]();
      setTimeout(() => controller.abort(reason), 0);
      await expect(call).rejects.toBe(reason);
      expect(rt.memoryStats().used, 'the labels copy or the output freed').toBe(used);
    }
    const gone = new AbortController();
    gone.abort(reason);
    await expect(net.predictAsync(x, { signal: gone.signal })).rejects.toBe(reason);

    const x2 = rt.tensor(x.shape, x.data);
    const t2 = rt.labels([1000], labels.data);
    const out = rt.tensor([1000, 10]);
    const cases: Array<[RegExp, () => Promise<unknown>, () => void]> = [
      [/^evaluateAsync: x: tensor \[1000, 1, 28, 28\] used after dispose/, () => net.evaluateAsync(x2, labels), () => x2.dispose()],
      [/^accuracyAsync: t: tensor \[1000\] used after dispose/, () => net.accuracyAsync(x, t2), () => t2.dispose()],
      [/^predictAsync: out: tensor \[1000, 10\] used after dispose/, () => net.predictAsync(x, { out }), () => out.dispose()],
    ];
    for (const [message, call, dispose] of cases) {
      const pending = call();
      setTimeout(dispose, 0);
      await expect(pending).rejects.toThrow(message);
    }
    const pending = net.predictAsync(x);
    setTimeout(() => net.dispose(), 0);
    await expect(pending).rejects.toThrow(/^SimpleConvNet: used after dispose\(\)$/);
    x.dispose();
    labels.dispose();
  });

  it('check their options and arguments before anything is written, and free what they made', async () => {
    const { net, x, labels } = mlpSet();
    const narrow = rt.tensor([2500, 3]);
    net.evaluate(x, labels); // the net's buffers for both chunk sizes
    const used = rt.memoryStats().used;
    await expect(net.evaluateAsync(x, labels, { sigal: 1 } as never)).rejects.toThrow(/^evaluateAsync: unknown option 'sigal' \(expected one of signal\)$/);
    await expect(net.accuracyAsync(x, labels, { out: x } as never)).rejects.toThrow(/^accuracyAsync: unknown option 'out'/);
    await expect(net.predictAsync(x, { signal: 'now' } as never)).rejects.toThrow(/^predictAsync: signal must be an AbortSignal$/);
    await expect(net.evaluateAsync(x, [...labels.slice(1), 7])).rejects.toThrow(/^evaluateAsync: label t\[2499\] = 7 is outside \[0, 4\)/);
    await expect(net.accuracyAsync(x, labels.slice(1))).rejects.toThrow(/^accuracyAsync: t must hold 2500 labels, got 2499$/);
    await expect(net.predictAsync(x, { out: narrow })).rejects.toThrow(/^predictAsync: out must have shape \[2500, 4\], got \[2500, 3\]$/);
    expect(narrow.data.every((v) => v === 0), 'out not written').toBe(true);
    expect(rt.memoryStats().used).toBe(used);
    narrow.dispose();
    x.dispose();
    net.dispose();
  });
});


describe('FrozenNet.predictAsync', () => {
  it('gives predict\'s bits in chunks of the net\'s evalBatchSize, into out too; refuses what predictAsync refuses; stops when the frozen net is disposed', async () => {
    const net = new SimpleConvNet(rt, { inputDim: [1, 8, 8], convParam: { filterNum: 3, filterSize: 3 }, hiddenSize: 8, outputSize: 3 });
    const frozen = net.freeze();
    const x = rt.tensor([250, 1, 8, 8], randomArray(250 * 64, 5, 0, 1));
    const y = frozen.predict(x);
    const yAsync = await frozen.predictAsync(x);
    expectBits(yAsync.toArray(), y.toArray(), 'FrozenNet.predictAsync');
    expectBits(yAsync.toArray(), net.predict(x).toArray(), 'the net\'s predict');
    const out = rt.tensor([250, 3]);
    expect(await frozen.predictAsync(x, { out })).toBe(out);
    expectBits(out.toArray(), y.toArray(), 'into out');
    expect((await frozen.predictAsync(rt.tensor([0, 1, 8, 8]))).shape).toEqual([0, 3]);
    await expect(frozen.predictAsync(x, { signal: 1 } as never)).rejects.toThrow(/^FrozenNet\.predictAsync: signal must be an AbortSignal$/);
    await expect(frozen.predictAsync(x, { train: false } as never)).rejects.toThrow(/^FrozenNet\.predictAsync: unknown option 'train'/);
    await expect(frozen.predictAsync(rt.tensor([2, 64]))).rejects.toThrow(/^FrozenNet\.predictAsync: x must be \[N, 1, 8, 8\]/);
    const aborted = new AbortController();
    aborted.abort(new Error('stop'));
    await expect(frozen.predictAsync(x, { signal: aborted.signal })).rejects.toThrow(/^stop$/);
    // ~1.7 GFLOP in 10 chunks (as the yield test above): it yields, and the dispose lands between chunks
    const heavy = new SimpleConvNet(rt);
    const heavyFrozen = heavy.freeze();
    const big = rt.tensor([1000, 1, 28, 28], randomArray(784_000, 6, 0, 1));
    const pending = heavyFrozen.predictAsync(big);
    setTimeout(() => heavyFrozen.dispose(), 0);
    await expect(pending).rejects.toThrow(/^FrozenNet: used after dispose\(\)$/);
    for (const t of [x, y, yAsync, out, big]) t.dispose();
    for (const n of [net, frozen, heavy]) n.dispose();
  });
});

describe('a wrong x is named as the caller gave it, not as the chunk that found it', () => {
  it('predictAsync, evaluateAsync and a frozen net\'s predictAsync quote the whole x, up front', async () => {
    const mlp = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [8], outputSize: 10 });
    const cnn = new SimpleConvNet(rt, { inputDim: [1, 28, 28], convParam: { filterNum: 2, filterSize: 5, pad: 0, stride: 1 }, hiddenSize: 4, outputSize: 10 });
    const [frozenMlp, frozenCnn] = [mlp.freeze(), cnn.freeze()];
    const wide = rt.tensor([2500, 783]), flat = rt.tensor([250, 28, 28]), t = rt.labels([2500]);
    const widthError = (who: string) => new RegExp(`^${who}: x has rows of 783 features \\(\\[2500, 783\\]\\), the net takes 784 \\(its first Affine's W is \\[784, 8\\]\\)$`);
    await expect(mlp.predictAsync(wide)).rejects.toThrow(widthError('predictAsync'));
    await expect(mlp.evaluateAsync(wide, t)).rejects.toThrow(widthError('evaluateAsync'));
    await expect(frozenMlp.predictAsync(wide)).rejects.toThrow(widthError('FrozenNet\\.predictAsync'));
    expect(() => mlp.predict(wide)).toThrow(widthError('predict'));
    await expect(cnn.predictAsync(flat)).rejects.toThrow(/^predictAsync: x must be \[N, 1, 28, 28\] \(the net's input\), got \[250, 28, 28\]$/);
    await expect(frozenCnn.predictAsync(flat)).rejects.toThrow(/^FrozenNet\.predictAsync: x must be \[N, 1, 28, 28\] \(the net's input\), got \[250, 28, 28\]$/);
    // no rows: named by the entry called
    const none = rt.tensor([0, 783]);
    await expect(mlp.predictAsync(none)).rejects.toThrow(/^predictAsync: x has rows of 783 features/);
    const empty = rt.tensor([0, 784]);
    expect((await mlp.predictAsync(empty)).shape).toEqual([0, 10]);
    for (const d of [mlp, cnn, frozenMlp, frozenCnn, wide, flat, t, none, empty]) d.dispose();
  });
});
