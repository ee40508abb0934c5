// MultiLayerNet and the Trainer: gradients against central differences,
// initialisation, weight decay, the allocation-free step, errors.
import { describe, it, expect, beforeAll, vi } from 'vitest';
import { makeRuntime } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { MultiLayerNet, MultiLayerNetExtend, NonFiniteError, Trainer, SGD, Sequential, Affine, Relu, Sigmoid, SoftmaxWithLoss, Dropout, BatchNormalization, isFusableActivation } from '../src/index.js';
import { expectBits } from './helpers/runtime.js';
import { randomArray } from './reference/book.js';
import { gradError } from './reference/gradcheck.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 3 }); });

function smallData(N: number, D: number, C: number, seed: number) {
  const x = rt.tensor([N, D], randomArray(N * D, seed));
  const t = Array.from({ length: N }, (_, i) => (i * 3 + seed) % C);
  return { x, t };
}

describe('MultiLayerNet', () => {
  it('keys params like the book and shapes them from the sizes', () => {
    const net = new MultiLayerNet(rt, { inputSize: 6, hiddenSizeList: [5, 4], outputSize: 3 });
    expect(Object.keys(net.params)).toEqual(['W1', 'b1', 'W2', 'b2', 'W3', 'b3']);
    expect(net.params.W1.shape).toEqual([6, 5]);
    expect(net.params.W3.shape).toEqual([4, 3]);
    expect(Object.keys(net.grads)).toEqual(Object.keys(net.params));
    expect([...net.params.b2.data]).toEqual([0, 0, 0, 0]);
    net.dispose();
  });

  it('initialises weights with the book\'s std: number, xavier/sigmoid sqrt(1/n), he/relu sqrt(2/n)', () => {
    const std = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    for (const [init, expected] of [[0.01, 0.01], ['xavier', Math.sqrt(1 / 400)], ['sigmoid', Math.sqrt(1 / 400)], ['he', Math.sqrt(2 / 400)], ['relu', Math.sqrt(2 / 400)]] as const) {
      const net = new MultiLayerNet(rt, { inputSize: 400, hiddenSizeList: [300], outputSize: 2, weightInitStd: init });
      // 120,000 samples: the sample std is within 1% of sigma with overwhelming probability
      expect(Math.abs(std(net.params.W1.data) / expected - 1)).toBeLessThan(0.01);
      net.dispose();
    }
  });

  for (const act of ['relu', 'sigmoid', 'tanh'] as const) {
    for (const lambda of [0, 0.1]) {
      // f32 loss: rounding error ~1e-7/h, truncation O(h²); h = 3e-3 balances them
      const H = 3e-3;
      it(`gradient matches numericalGradient (${act}, weightDecayLambda ${lambda})`, () => {
        const net = new MultiLayerNet(rt, { inputSize: 7, hiddenSizeList: [6, 5], outputSize: 4, activation: act, weightInitStd: 0.5, weightDecayLambda: lambda });
        const { x, t } = smallData(5, 7, 4, 2);
        const num = net.numericalGradient(x, t, H);
        const grads = net.gradient(x, t);
        for (const key of Object.keys(net.params)) {
          // measured worst errors are ~3x below these bounds
          expect(gradError(grads[key].data, num[key]), key).toBeLessThan(act === 'relu' ? 1e-2 : 3e-3);
        }
        net.dispose();
      });
    }
  }

  it('adds ½λΣW² to the loss and λW to dW (weights only)', () => {
    const opts = { inputSize: 4, hiddenSizeList: [3], outputSize: 2, weightInitStd: 1 } as const;
    rt.reseed(9);
    const plain = new MultiLayerNet(rt, opts);
    rt.reseed(9);
    const decayed = new MultiLayerNet(rt, { ...opts, weightDecayLambda: 0.3 });
    const { x, t } = smallData(3, 4, 2, 4);
    let sq = 0;
    for (const k of ['W1', 'W2']) for (const v of plain.params[k].data) sq += v * v;
    expect(decayed.loss(x, t) - plain.loss(x, t)).toBeCloseTo(0.5 * 0.3 * sq, 5);
    const g0 = Object.fromEntries(Object.entries(plain.gradient(x, t)).map(([k, g]) => [k, g.toArray()]));
    const g1 = decayed.gradient(x, t);
    for (let i = 0; i < 12; i++) expect(g1.W1.data[i]).toBeCloseTo(g0.W1[i] + 0.3 * plain.params.W1.data[i], 5);
    expect([...g1.b1.data]).toEqual([...g0.b1]);
  });

  it('accuracy runs in chunks in inference mode and accepts labels or one-hot', () => {
    const net = new MultiLayerNet(rt, { inputSize: 5, hiddenSizeList: [4], outputSize: 3 });
    const { x, t } = smallData(2500, 5, 3, 1);
    const y = net.predict(x).toArray();
    let correct = 0;
    for (let i = 0; i < 2500; i++) {
      const row = y.subarray(i * 3, i * 3 + 3);
      let best = 0;
      for (let j = 1; j < 3; j++) if (row[j] > row[best]) best = j;
      if (best === t[i]) correct++;
    }
    expect(net.accuracy(x, t)).toBe(correct / 2500);
    const oneHot = rt.tensor([2500, 3]);
    t.forEach((c, i) => { oneHot.data[i * 3 + c] = 1; });
    expect(net.accuracy(x, oneHot)).toBe(correct / 2500);
  });

  it('saves and restores parameters, refusing mismatched shapes without writing anything', () => {
    const a = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const b = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    b.importParams(a.exportParams());
    expect(b.params.W1.toArray()).toEqual(a.params.W1.toArray());
    const c = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [5], outputSize: 2 });
    const before = c.params.b2.toArray();
    expect(() => c.importParams(a.exportParams())).toThrow(/'W1' has shape \[4, 3\], the net expects \[4, 5\]/);
    expect(c.params.b2.toArray()).toEqual(before);
  });

  it('rejects unknown options and bad sizes by name', () => {
    expect(() => new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2, hidenSize: 3 } as never)).toThrow(/unknown option 'hidenSize'/);
    expect(() => new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3, 0], outputSize: 2 })).toThrow(/hiddenSizeList\[1\] must be a positive integer/);
    expect(() => new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2, weightInitStd: 'glorot' as never })).toThrow(/weightInitStd/);
    expect(() => new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2, activation: 'elu' as never })).toThrow(/activation/);
    expect(() => new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2, weightDecayLambda: -1 })).toThrow(/weightDecayLambda/);
  });

  it('a training step allocates nothing: memory and allocator state are stable across 1,000 steps', () => {
    const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100], outputSize: 10 });
    const x = rt.tensor([100, 784], randomArray(78400, 3));
    const t = rt.labels([100], Array.from({ length: 100 }, (_, i) => i % 10));
    const opt = new SGD({ lr: 0.01 });
    opt.update(net.params, net.gradient(x, t));
    const before = rt.memoryStats();
    for (let i = 0; i < 1000; i++) opt.update(net.params, net.gradient(x, t));
    expect(rt.memoryStats()).toEqual(before);
    expect(Number.isFinite(net.lastLoss)).toBe(true);
  });
});

describe('Sequential', () => {
  it('numbers user-composed layers like the book', () => {
    const l1 = new Affine(rt.tensor([3, 2]), rt.tensor([2]));
    const l2 = new Affine(rt.tensor([2, 2]), rt.tensor([2]));
    const net = new Sequential(rt, [l1, new Relu(), l2]);
    expect(Object.keys(net.params)).toEqual(['W1', 'b1', 'W2', 'b2']);
    expect(net.params.W2).toBe(l2.W);
    expect(() => new Sequential(rt, [l1], { lr: 1 } as never)).toThrow(/unknown option 'lr'/);
  });

  it('refuses a layer placed twice, the loss layer, what is not a layer and parameters of another runtime, naming the place', async () => {
    const other = await makeRuntime();
    const affine = () => new Affine(rt.tensor([2, 2]), rt.tensor([2]));
    const a = affine(), relu = new Relu();
    expect(() => new Sequential(rt, [a, new Relu(), a])).toThrow(/^Sequential: layers\[2\] is the same Affine as layers\[0\]; a layer keeps its last forward's input for its backward/);
    expect(() => new Sequential(rt, [affine(), relu, affine(), relu, affine()])).toThrow(/^Sequential: layers\[3\] is the same Relu as layers\[1\]/);
    expect(() => new Sequential(rt, [a, new SoftmaxWithLoss()] as never)).toThrow(/^Sequential: layers\[1\] is a SoftmaxWithLoss; a Sequential ends in its own \(net.lastLayer\)/);
    expect(() => new Sequential(rt, [a, null] as never)).toThrow(/^Sequential: layers\[1\] must be a layer \(params, grads, forward, backward, dispose\), got null$/);
    expect(() => new Sequential(rt, [{ forward() {} }] as never)).toThrow(/^Sequential: layers\[0\] must be a layer .*got an object with keys \["forward"\]$/);
    expect(() => new Sequential(rt, ['Relu'] as never)).toThrow(/^Sequential: layers\[0\] must be a layer .*got the string "Relu"$/);
    const foreign = new Affine(other.tensor([2, 2]), other.tensor([2]));
    expect(() => new Sequential(rt, [a, new Relu(), foreign])).toThrow(/^Sequential: layers\[2\] \(Affine\) params.W: tensor \[2, 2\] belongs to another runtime/);
    const dead = affine();
    dead.params.b.dispose();
    expect(() => new Sequential(rt, [dead])).toThrow(/^Sequential: layers\[0\] \(Affine\) params.b: .*used after dispose/);
    // two layers of the same kind are fine
    expect(Object.keys(new Sequential(rt, [a, new Relu(), affine(), new Relu()]).params)).toEqual(['W1', 'b1', 'W2', 'b2']);
    await other.dispose();
  });

  it('predict, loss and predictBorrowed take train as true or false: an options object there would run dropout in training mode', () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 4, hiddenSizeList: [8], outputSize: 2, useDropout: true, dropoutRatio: 0.5 });
    const x = rt.tensor([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
    const out = rt.tensor([2, 2]);
    expect(() => net.predict(x, { out } as never)).toThrow(/^predict: train must be true or false, got an Object \(predict\(x, train\?, …\) takes positional arguments; predictAsync takes \{ out, signal \}\)$/);
    expect(() => net.loss(x, [0, 1], 'train' as never)).toThrow(/^loss: train must be true or false, got the string "train"/);
    expect(() => net.predictBorrowed(x, 1 as never)).toThrow(/^predictBorrowed: train must be true or false, got number 1/);
    expect(Array.from(out.data)).toEqual([0, 0, 0, 0]);
    expect(net.predict(x, false, out)).toBe(out);
    // the layers whose forward it changes, used on their own
    expect(() => new Dropout(0.5).forward(x, {} as never)).toThrow(/^Dropout\.forward: train must be true or false, got an Object$/);
    expect(() => new BatchNormalization(rt.tensor([4], [1, 1, 1, 1]), rt.tensor([4])).forward(x, 'no' as never)).toThrow(/^BatchNormalization\.forward: train must be true or false, got the string "no"$/);
    net.dispose();
  });

  it('gradient() asks the first layer for its parameter gradients only (no input gradient), with the bits of backward()', () => {
    const net = new MultiLayerNet(rt, { inputSize: 37, hiddenSizeList: [29], outputSize: 5 });
    const { x, t } = smallData(11, 37, 5, 12);
    const first = net.layers[0] as Affine;
    const full = () => { throw new Error('backward() called on the first layer'); };
    const original = first.backward.bind(first);
    first.backward = full;
    const grads = Object.fromEntries(Object.entries(net.gradient(x, t)).map(([key, g]) => [key, g.toArray()]));
    first.backward = original;
    // backward() on the same dout gives the same dW and db, plus dx
    let d = net.lastLayer.backward();
    for (const layer of net.layers.slice(1).reverse()) d = layer.backward(d);
    const dx = first.backward(d);
    expect(dx.shape).toEqual([11, 37]);
    expect(Array.from(first.dW.toArray())).toEqual(Array.from(grads.W1));
    expect(Array.from(first.db.toArray())).toEqual(Array.from(grads.b1));
    expect(() => new Affine(rt.tensor([2, 2]), rt.tensor([2])).backwardParams(rt.tensor([1, 2]))).toThrow(/Affine.backwardParams: call forward first/);
    net.dispose();
    x.dispose();
  });

  it('gradient() runs an activation\'s backward in the dx GEMM of the Affine after it, with the bits of the layers\' own backward()', () => {
    const nets = [
      ...(['relu', 'sigmoid', 'tanh'] as const).map((activation) => new MultiLayerNet(rt, { inputSize: 37, hiddenSizeList: [29, 13, 8], outputSize: 5, activation })),
      // Affine → BatchNorm → ReLU: the ReLU kept its input, not a fused output
      new MultiLayerNetExtend(rt, { inputSize: 37, hiddenSizeList: [29, 13], outputSize: 5, useBatchnorm: true }),
    ];
    const { x, t } = smallData(11, 37, 5, 14);
    for (const net of nets) {
      const spy = vi.spyOn(rt, 'unsafeGemmActBackward');
      const grads = Object.fromEntries(Object.entries(net.gradient(x, t)).map(([key, g]) => [key, g.toArray()]));
      const fusedCalls = spy.mock.calls.length;
      spy.mockRestore();
      expect(fusedCalls, `${net.layers.map((l) => l.name).join('-')}: one fused call per activation before an Affine`).toBe(net.layers.filter((l, i) => l instanceof Affine && isFusableActivation(net.layers[i - 1])).length);
      expect(fusedCalls).toBeGreaterThan(0);
      net.loss(x, t, true);
      let d = net.lastLayer.backward();
      for (const layer of net.layers.slice(1).reverse()) d = layer.backward(d);
      (net.layers[0] as Affine).backwardParams(d);
      for (const [key, g] of Object.entries(net.grads)) expectBits(g.toArray(), grads[key], `${net.layers.map((l) => l.name).join('-')}: ${key}`);
      net.dispose();
    }
    x.dispose();
  });

  it('Affine.backwardThrough names an activation that has not run forward, or kept a tensor of another size or runtime', async () => {
    const a = new Affine(rt.tensor([3, 2], [1, 2, 3, 4, 5, 6]), rt.tensor([2]));
    const x = rt.tensor([4, 3], randomArray(12, 3)), dout = rt.tensor([4, 2], randomArray(8, 4));
    a.forward(x);
    expect(() => a.backwardThrough(dout, new Relu())).toThrow(/Affine.backwardThrough: call Relu.forward first/);
    const relu = new Relu();
    relu.forward(rt.tensor([4, 4]));
    a.dW.data.fill(7);
    expect(() => a.backwardThrough(dout, relu)).toThrow(/Affine.backwardThrough: Relu kept \[4, 4\], this layer's input was \[4, 3\]/);
    expect(() => a.backwardThrough(dout, a as never)).toThrow(/Affine.backwardThrough: before must be a Relu, Sigmoid or Tanh layer/);
    expect(Array.from(a.dW.data), 'nothing written by the refused calls').toEqual(new Array(6).fill(7));
    const other = await makeRuntime({ seed: 4 });
    const foreign = new Relu();
    foreign.forward(other.tensor([4, 3]));
    expect(() => a.backwardThrough(dout, foreign)).toThrow(/Affine.backwardThrough: the tensor Relu kept: tensor \[4, 3\] belongs to another runtime/);
    foreign.dispose();
    const sig = new Sigmoid();
    sig.forward(x);
    const want = sig.backward(a.backward(dout)).toArray();
    expectBits(a.backwardThrough(dout, sig).toArray(), want, 'sigmoid');
    a.dispose(); relu.dispose(); sig.dispose(); x.dispose(); dout.dispose();
  });

  // The GEMM picks its path by the number of rows (a batch of 1-4 reads the
  // weights in place, larger ones pack them, 7-8 rows run as two 4-row
  // tiles); every path has the same reduction order, so a sample's logits do
  // not depend on the batch it comes in.
  it('predict: each sample of a batch of 1, 2, 3, 4, 7 or 8 gets the bits of its row in a batch of 100 (MLP 784-[100×6]-10)', () => {
    const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, activation: 'relu', weightInitStd: 'relu' });
    const all = randomArray(100 * 784, 31, 1).map(Math.abs);
    const x100 = rt.tensor([100, 784], all);
    const bits = (v: Float32Array) => Array.from(new Uint32Array(Float32Array.from(v).buffer));
    const want = bits(net.predict(x100, false).toArray());
    for (const batch of [1, 2, 3, 4, 7, 8]) {
      for (const first of [0, 37, 100 - batch]) {
        const x = rt.tensor([batch, 784], all.subarray(first * 784, (first + batch) * 784));
        const out = rt.tensor([batch, 10]);
        net.predict(x, false, out);
        expect(bits(out.toArray()), `batch ${batch} from sample ${first}`).toEqual(want.slice(first * 10, (first + batch) * 10));
        x.dispose();
        out.dispose();
      }
    }
    net.dispose();
    x100.dispose();
  });

  // predict() fuses each Affine + activation pair into one GEMM epilogue
  it.each(['relu', 'sigmoid', 'tanh'] as const)('fused Affine + %s: the bits of the layers run one by one, forward and backward', (activation) => {
    const net = new MultiLayerNet(rt, { inputSize: 37, hiddenSizeList: [29, 13], outputSize: 5, activation, weightInitStd: 0.5 });
    const { x, t } = smallData(11, 37, 5, 8);
    const fused = net.predict(x, true).toArray();
    const grads = Object.fromEntries(Object.entries(net.gradient(x, t)).map(([key, g]) => [key, g.toArray()]));
    // unfused: each layer's own forward (Affine's bias add alone, then the activation's kernel)
    let h = x;
    for (const layer of net.layers) h = layer.forward(h, true);
    expect(Array.from(h.toArray())).toEqual(Array.from(fused));
    net.lastLayer.forward(h, t);
    let d = net.lastLayer.backward();
    for (const layer of [...net.layers].reverse()) d = layer.backward(d);
    for (const [key, g] of Object.entries(net.grads)) expect(Array.from(g.toArray()), key).toEqual(Array.from(grads[key]));
    net.dispose();
    x.dispose();
  });
});

describe('Trainer', () => {
  function separable(N: number) {
    // two Gaussian blobs: linearly separable, so a small net must fit them
    const xs = randomArray(N * 2, 21, 0.5);
    const t: number[] = [];
    for (let i = 0; i < N; i++) { const c = i % 2; t.push(c); xs[i * 2] += c ? 2 : -2; }
    return { x: rt.tensor([N, 2], xs), t: rt.labels([N], t) };
  }

  it('trains, records per-epoch loss and accuracy, and reports progress', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
    const tr = separable(400), te = separable(100);
    const seen: string[] = [];
    const trainer = new Trainer(net, tr.x, tr.t, te.x, te.t, {
      epochs: 3, miniBatchSize: 50, optimizer: 'sgd', optimizerParams: { lr: 0.1 },
      onProgress: (p) => { if (p.kind === 'epoch') seen.push(`e${p.epoch}:${p.iter}/${p.maxIter}`); },
    });
    const r = trainer.train();
    expect(seen).toEqual(['e1:8/24', 'e2:16/24', 'e3:24/24']);
    expect(r.steps).toBe(24);
    expect(r.trainLossList).toHaveLength(24);
    expect(r.epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(r.testAccList[2]).toBeGreaterThan(0.95);
    expect(r.epochs[2].trainLoss).toBeLessThan(r.epochs[0].trainLoss);
  });

  it('is reproducible bit for bit from the seed', async () => {
    const run = async () => {
      const r2 = await makeRuntime({ seed: 5 });
      const net = new MultiLayerNet(r2, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
      const xs = randomArray(400, 1), ts = Array.from({ length: 200 }, (_, i) => i % 2);
      const x = r2.tensor([200, 2], xs), t = r2.labels([200], ts);
      new Trainer(net, x, t, x, t, { epochs: 2, miniBatchSize: 20, optimizerParams: { lr: 0.1 } }).train();
      return net.params.W1.toArray();
    };
    expect(await run()).toEqual(await run());
  });

  it('stops on NaN/Inf gradients and leaves the parameters unchanged', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const tr = separable(40);
    const trainer = new Trainer(net, tr.x, tr.t, tr.x, tr.t, { epochs: 1, miniBatchSize: 10 });
    // a huge but finite weight from a hidden unit held at 0 (W1's column and b1 make it ReLU(−1)):
    // the forward pass stays finite whatever the initial weights, λW overflows dW to Inf
    const decayed = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2, weightDecayLambda: 10 });
    decayed.params.W1.data[0] = 0;
    decayed.params.W1.data[4] = 0;
    decayed.params.b1.data[0] = -1;
    decayed.params.W2.data[0] = 1e38;
    const before = decayed.exportParams();
    const t2 = new Trainer(decayed, tr.x, tr.t, tr.x, tr.t, { epochs: 1, miniBatchSize: 10 });
    expect(() => t2.step(tr.x.rows(0, 10), tr.t.rows(0, 10))).toThrow(/step 1 produced NaN\/Inf/);
    // a class of its own, so a sweep tells divergence from other RangeErrors; still a RangeError
    expect(() => t2.step(tr.x.rows(0, 10), tr.t.rows(0, 10))).toThrow(NonFiniteError);
    expect(() => t2.step(tr.x.rows(0, 10), tr.t.rows(0, 10))).toThrow(RangeError);
    expect(decayed.exportParams()).toEqual(before);
    // an Inf input makes the loss NaN: caught before backward
    const w1 = net.params.W1.toArray();
    const x = rt.tensor([10, 2], new Array(20).fill(Infinity));
    expect(() => trainer.step(x, tr.t.rows(0, 10))).toThrow(/loss is NaN/);
    expect(net.params.W1.toArray()).toEqual(w1);
  });

  it('rejects bad options by name', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = separable(10);
    expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { epoch: 3 } as never)).toThrow(/unknown option 'epoch'/);
    expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { optimizer: 'adamax' as never })).toThrow(/^Trainer: optimizer: unknown name 'adamax' \(expected one of sgd, /);
    expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { miniBatchSize: 0 })).toThrow(/miniBatchSize/);
    expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { adaptiveThreads: 'yes' as never })).toThrow(/Trainer: adaptiveThreads must be true or false, got the string "yes"/);
    expect(() => new Trainer(net, d.x, d.t.rows(0, 5), d.x, d.t)).toThrow(/tTrain must be int labels of shape \[10\], got \[5\]/);
    // options that would be ignored without a word
    expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { optimizer: new SGD(), optimizerParams: { lr: 1 } as never }))
      .toThrow(/^Trainer: optimizerParams configures an optimizer given by name; set them on the optimizer instance given$/);
    const hooks = 'onTrainBegin, onEpochBegin, onStepEnd, onEpochEnd, onTrainEnd';
    expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { callbacks: { onEpochEnds() {} } as never }))
      .toThrow(new RegExp(`^Trainer: callbacks: unknown hook 'onEpochEnds' \\(expected ${hooks}\\)$`));
    expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { callbacks: { onStepEnd: 'log' } as never })).toThrow(/^Trainer: callbacks\.onStepEnd must be a function, got string$/);
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { epochs: 1, callbacks: { best: 0, seen: [] } as never }); // a class's own state passes
    return expect(trainer.fit({ callbacks: { onBatchEnd() {} } as never })).rejects.toThrow(/^Trainer\.fit: callbacks: unknown hook 'onBatchEnd'/);
  });
});
