// Behaviour of the TypeScript facade that no other test pinned down, each found by a mutant that
// every other test let through (session 63): which keys weight decay reaches and where its terms
// are added (evaluate(), the 2-thread row chain), MultiLayerNetExtend's batch-norm momentum, the
// per-sample norms' gradients over repeated backward calls, a FrozenNet keeping each norm's eps, soft
// targets' sum tolerance, the nets' evaluation chunks, ReduceLROnPlateau's relative threshold in mode
// 'max', the Trainer's epoch loss and evaluation (a partial last chunk, evaluateSampleNumPerEpoch),
// Dataset.split's Keras count, seeded batches' order, and draws with replacement reaching the last row.
// Node and Chromium.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { makeRuntime, randomArray, randomInts, expectBits, expectClose } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import {
  Affine, BatchNormalization, Convolution, Dataset, Flatten, InstanceNormalization, LayerNormalization, MultiLayerNet, MultiLayerNetExtend,
  ReduceLROnPlateau, Relu, Sequential, SimpleConvNet, Trainer, type Layer,
} from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 63 }); });
afterAll(() => rt.dispose());

const tensor = (shape: number[], seed: number, lo = -1, hi = 1) => rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b, 1), seed, lo, hi));

/** A 5-4-3 stack on the given tensors (biases non-zero, so decaying them would show). */
function smallStack(p: Record<string, Tensor>, options: ConstructorParameters<typeof Sequential>[2] = {}): Sequential {
  return new Sequential(rt, [new Affine(p.W1, p.b1), new Relu(), new Affine(p.W2, p.b2)], options);
}

describe('weight decay: weights only, added once', () => {
  // the loss's decay term is a float64 sum (the two losses' cross-entropy parts are the same bits): measured
  // 6e-16 relative; the gradients are float32 sums of dW and λW: measured ≤ 1 ulp (6.4e-8 relative, 3.6e-8 absolute)
  const DECAY_LOSS = { rtol: 1e-12, atol: 1e-14 };
  const DECAY_GRAD = { rtol: 2e-7, atol: 1e-7 };

  it('loss adds ½λ₂ΣW² + λ₁Σ|W| over W keys only, and the gradients λ₂W + λ₁sign(W) (biases untouched: the book\'s)', () => {
    const p = { W1: tensor([5, 4], 1), b1: tensor([4], 2), W2: tensor([4, 3], 3), b2: tensor([3], 4) };
    const x = tensor([6, 5], 5), t = [0, 2, 1, 1, 0, 2];
    const plain = smallStack(p), decayed = smallStack(p, { weightDecayLambda: 0.3, l1Lambda: 0.2 });
    let expected = 0;
    for (const key of ['W1', 'W2']) for (const w of p[key as 'W1'].data) expected += 0.5 * 0.3 * w * w + 0.2 * Math.abs(w);
    const extra = decayed.loss(x, t) - plain.loss(x, t);
    expectClose([extra], [expected], DECAY_LOSS, 'loss with decay − loss without');
    const g0 = Object.fromEntries(Object.entries(plain.gradient(x, t)).map(([k, g]) => [k, g.toArray()]));
    const g1 = decayed.gradient(x, t);
    for (const key of ['b1', 'b2']) expectBits(g1[key].toArray(), g0[key], `${key}: no decay on biases`);
    for (const key of ['W1', 'W2']) {
      const w = p[key as 'W1'].data;
      expectClose(g1[key].toArray(), Float64Array.from(g0[key], (g, i) => g + 0.3 * w[i] + 0.2 * Math.sign(w[i])), DECAY_GRAD, key);
    }
    plain.dispose(); decayed.dispose();
    for (const v of [...Object.values(p), x]) v.dispose();
  });

  it('evaluate() and evaluateAsync() add the decay terms to the mean loss over chunks (10 rows in chunks of 4), as loss() does', async () => {
    const p = { W1: tensor([5, 4], 11), b1: tensor([4], 12), W2: tensor([4, 3], 13), b2: tensor([3], 14) };
    const x = tensor([10, 5], 15), t = Array.from(randomInts(10, 16, 3));
    const net = smallStack(p, { weightDecayLambda: 0.5, evalBatchSize: 4 });
    const whole = net.loss(x, t);
    // the same rows' losses summed in another order: float64 sums of float32 values, ~1e-16 apart
    expectClose([net.evaluate(x, t).loss], [whole], { rtol: 1e-12 }, 'evaluate');
    expectClose([(await net.evaluateAsync(x, t)).loss], [whole], { rtol: 1e-12 }, 'evaluateAsync');
    net.dispose();
    for (const v of [...Object.values(p), x]) v.dispose();
  });

  it('a step run as the 2-thread row chain reports the loss with its decay term, with the bits of one thread', async () => {
    // 784-[100, 37, 100]-10 at 23 rows: enough work a row that the runtime split for 2 threads runs the chain (threads.test.ts)
    const lastLoss = async (threads: number) => {
      const r = await makeRuntime({ threads, busyCores: 'split', seed: 21 });
      const net = new MultiLayerNet(r, { inputSize: 784, hiddenSizeList: [100, 37, 100], outputSize: 10, weightDecayLambda: 0.1 });
      const x = r.tensor([23, 784], randomArray(23 * 784, 23, -2, 2)), t = Array.from({ length: 23 }, (_, i) => (i * 7 + 3) % 10);
      const spy = vi.spyOn(r, 'runParts');
      net.gradient(x, t);
      const chained = spy.mock.calls.filter(([name]) => name === 'runChain').length;
      spy.mockRestore();
      const result = { loss: net.lastLoss, lossAgain: net.loss(x, t, true), chained };
      r.dispose();
      return result;
    };
    const one = await lastLoss(1), two = await lastLoss(2);
    expect(one.chained).toBe(0);
    expect(two.chained).toBeGreaterThan(0);
    expect(one.loss).toBe(one.lossAgain);
    expect(two.loss).toBe(one.loss);
  });
});

describe('normalisation layers', () => {
  it('MultiLayerNetExtend\'s batch norm keeps the book\'s momentum 0.9: one training pass from zero statistics leaves 0.1 · the batch\'s', () => {
    rt.reseed(5);
    const net = new MultiLayerNetExtend(rt, { inputSize: 6, hiddenSizeList: [5], outputSize: 3, useBatchnorm: true });
    const N = 8, x = tensor([N, 6], 21), W = net.params.W1.data, b = net.params.b1.data;
    net.loss(x, Array.from(randomInts(N, 22, 3)), true);
    const mean = new Float64Array(5), variance = new Float64Array(5);
    for (let j = 0; j < 5; j++) {
      const h = Array.from({ length: N }, (_, i) => { let s = b[j]; for (let d = 0; d < 6; d++) s += x.data[i * 6 + d] * W[d * 5 + j]; return s; });
      mean[j] = h.reduce((a, v) => a + v, 0) / N;
      variance[j] = h.reduce((a, v) => a + (v - mean[j]) ** 2, 0) / N;
    }
    const [bn] = net.batchNormLayers;
    expect(bn.momentum).toBe(0.9);
    // float32 GEMM and statistics against float64: measured 3e-7 relative, 8.4e-9 absolute (where a mean is near 0)
    expectClose(bn.runningMean.toArray(), mean.map((m) => 0.1 * m), { rtol: 1e-6, atol: 2e-8 }, 'runningMean');
    expectClose(bn.runningVar.toArray(), variance.map((v) => 0.1 * v), { rtol: 1e-6, atol: 2e-8 }, 'runningVar');
    net.dispose();
    x.dispose();
  });

  for (const kind of ['LayerNormalization', 'InstanceNormalization'] as const) {
    it(`${kind}: dgamma and dbeta are each backward's own (Σ dout·x̂, Σ dout against float64), not summed over calls`, () => {
      const [N, C, H, W] = [3, 4, 2, 3];
      const F = kind === 'LayerNormalization' ? C * H * W : C;
      const eps = 1e-5;
      const gamma = tensor([F], 31, 0.5, 1.5), beta = tensor([F], 32);
      const layer = kind === 'LayerNormalization' ? new LayerNormalization(gamma, beta, { eps }) : new InstanceNormalization(gamma, beta, { eps });
      // groups normalised together: a sample (layer norm) or a (sample, channel) plane (instance norm)
      const groups = kind === 'LayerNormalization' ? N : N * C, size = (N * C * H * W) / groups;
      const param = (g: number, i: number) => (kind === 'LayerNormalization' ? i : g % C);
      for (const seed of [33, 34]) {
        const xv = randomArray(N * C * H * W, seed, -1, 3), dv = randomArray(N * C * H * W, seed + 10);
        const x = rt.tensor([N, C, H, W], xv), dout = rt.tensor([N, C, H, W], dv);
        const dgamma = new Float64Array(F), dbeta = new Float64Array(F);
        for (let g = 0; g < groups; g++) {
          const row = Array.from(xv.subarray(g * size, (g + 1) * size));
          const mu = row.reduce((a, v) => a + v, 0) / size;
          const sd = Math.sqrt(row.reduce((a, v) => a + (v - mu) ** 2, 0) / size + eps);
          row.forEach((v, i) => { dgamma[param(g, i)] += dv[g * size + i] * ((v - mu) / sd); dbeta[param(g, i)] += dv[g * size + i]; });
        }
        layer.forward(x);
        for (const call of [1, 2]) {
          layer.backward(dout);
          // float32 sums of up to 18 O(1) terms against float64: measured worst 4.7e-7 absolute
          expectClose(layer.dgamma.toArray(), dgamma, { rtol: 2e-6, atol: 6e-7 }, `x seed ${seed}, backward ${call}: dgamma`);
          expectClose(layer.dbeta.toArray(), dbeta, { rtol: 2e-6, atol: 6e-7 }, `x seed ${seed}, backward ${call}: dbeta`);
        }
        x.dispose(); dout.dispose();
      }
      layer.dispose();
      gamma.dispose(); beta.dispose();
    });
  }

  it('a FrozenNet keeps each norm\'s eps (batch norm flat and spatial, layer and instance norm): the net\'s bits', () => {
    rt.reseed(8);
    const t = (shape: number[], std = 0.5) => rt.randn(rt.tensor(shape), std);
    const owned = [t([4, 2, 3, 3]), t([4]), t([4]), t([4]), t([4]), t([4]), t([1, 4, 3, 3]), t([1]), t([16, 16]), t([16]), t([16]), t([16]), t([16]), t([16]), t([16, 3]), t([3])];
    const [cW, cb, g1, b1, g2, b2, c2W, c2b, aW, ab, g3, b3, g4, b4, oW, ob] = owned;
    const runningVar = rt.uniform(rt.tensor([16]), 0.01, 0.05), runningMean = t([16]);
    const runningVar1 = rt.uniform(rt.tensor([4]), 0.01, 0.05), runningMean1 = t([4]);
    owned.push(runningVar, runningMean, runningVar1, runningMean1);
    // eps far from each default, of the size of the variances, so a copy with the default would move every output
    const layers: Layer[] = [
      new Convolution(cW, cb, 1, 1),
      new BatchNormalization(g1, b1, 0.9, { spatial: true, eps: 0.3, runningVar: runningVar1, runningMean: runningMean1 }),
      new InstanceNormalization(g2, b2, { eps: 0.2 }), new Relu(),
      new Convolution(c2W, c2b, 1, 0), new Flatten(),
      new Affine(aW, ab),
      new BatchNormalization(g3, b3, 0.9, { eps: 0.1, runningVar, runningMean }),
      new LayerNormalization(g4, b4, { eps: 0.4 }), new Relu(),
      new Affine(oW, ob),
    ];
    const net = new Sequential(rt, layers);
    const frozen = net.freeze();
    const x = rt.tensor([5, 2, 6, 6], randomArray(5 * 2 * 36, 41, -1, 1));
    expectBits(frozen.predict(x).toArray(), net.predict(x).toArray(), 'frozen against net');
    frozen.dispose();
    net.dispose();
    for (const v of [...owned, x]) v.dispose();
  });
});

describe('targets and chunks', () => {
  it('soft target rows must sum to 1 within 1e-3 (float32 rounding of soft labels passes, a row 0.5% off is refused)', () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 3 });
    const x = tensor([2, 3], 81);
    const rows = (second: number[]) => rt.tensor([2, 3], [0.2, 0.3, 0.5, ...second]);
    const near = rows([0.1, 0.2, 0.7 + 5e-4]), off = rows([0.1, 0.2, 0.705]);
    expect(Number.isFinite(net.loss(x, near))).toBe(true);
    expect(() => net.loss(x, off)).toThrow(/^SoftmaxWithLoss\.forward: t\[1\] sums to 1\.00\d*; target rows are probabilities/);
    for (const v of [x, near, off]) v.dispose();
    net.dispose();
  });

  it('evaluation chunks: 1,000 rows by default, 100 images for the conv nets', () => {
    const p = { W1: tensor([5, 4], 91), b1: tensor([4], 92), W2: tensor([4, 3], 93), b2: tensor([3], 94) };
    const net = smallStack(p), mlp = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [3], outputSize: 2 });
    const conv = new SimpleConvNet(rt, { inputDim: [1, 8, 8], convParam: { filterNum: 2, filterSize: 3 }, hiddenSize: 4, outputSize: 2 });
    expect([net.evalBatchSize, mlp.evalBatchSize, conv.evalBatchSize]).toEqual([1000, 1000, 100]);
    net.dispose(); mlp.dispose(); conv.dispose();
    for (const v of Object.values(p)) v.dispose();
  });
});

describe('schedules', () => {
  it('ReduceLROnPlateau mode \'max\' with a relative threshold needs a rise above best · (1 + threshold), as PyTorch\'s', () => {
    const s = new ReduceLROnPlateau({ mode: 'max', threshold: 0.1, patience: 0, factor: 0.5 });
    const lrs = [s.lrAt(0, 1)];
    // 10.5 is above 10 + 0.1 but not above 10 · 1.1: not an improvement; 11.6 is
    for (const metric of [10, 10.5, 11.6, 11.7]) { s.observe(metric); lrs.push(s.lrAt(0, 1)); }
    expect(lrs).toEqual([1, 1, 0.5, 0.5, 0.25]);
  });
});

describe('Trainer: epoch figures', () => {
  it('an epoch\'s trainLoss is the mean of its own steps\' losses, the partial last one\'s too (3, 3, then 1 step)', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const x = tensor([100, 2], 51), labels = rt.labels([100], randomInts(100, 52, 2));
    const trainer = new Trainer(net, x, labels, x, labels, { maxIterations: 7, miniBatchSize: 30, epochs: 99 });
    const r = trainer.train();
    expect(r.epochs.map((e) => e.steps)).toEqual([3, 3, 1]);
    let first = 0;
    for (const e of r.epochs) {
      let sum = 0;
      for (const loss of r.trainLossList.slice(first, first + e.steps)) sum += loss; // the Trainer's order
      expect(e.trainLoss, `epoch ${e.epoch}`).toBe(sum / e.steps);
      first += e.steps;
    }
    trainer.dispose();
    net.dispose();
    x.dispose(); labels.dispose();
  });

  /** A 2-4-2 stack evaluating in chunks of 4 rows, its tensors, and data with random labels (accuracies differ by rows). */
  function chunkedNet() {
    rt.reseed(9);
    const p = [rt.randn(rt.tensor([2, 4]), 0.5), rt.randn(rt.tensor([4]), 0.5), rt.randn(rt.tensor([4, 2]), 0.5), rt.randn(rt.tensor([2]), 0.5)];
    const net = new Sequential(rt, [new Affine(p[0], p[1]), new Relu(), new Affine(p[2], p[3])], { evalBatchSize: 4 });
    const x = tensor([40, 2], 61), t = rt.labels([40], randomInts(40, 62, 2));
    const xTest = tensor([10, 2], 63), tTest = Array.from(randomInts(10, 64, 2));
    return { net, x, t, xTest, tTest, free: () => { net.dispose(); for (const v of [...p, x, t, xTest]) v.dispose(); } };
  }

  it('evaluates the test set in the net\'s chunks weighting each by its rows (10 rows in chunks of 4, 4, 2): net.evaluate\'s figures', () => {
    const { net, x, t, xTest, tTest, free } = chunkedNet();
    const trainer = new Trainer(net, x, t, xTest, tTest, { epochs: 1, miniBatchSize: 10 });
    const [record] = trainer.train().epochs;
    const e = net.evaluate(xTest, tTest);
    // float64 sums of the same chunks' float32 losses, in another grouping
    expectClose([record.testLoss], [e.loss], { rtol: 1e-12 }, 'testLoss');
    expect(record.testAcc).toBe(e.accuracy);
    trainer.dispose();
    free();
  });

  it('evaluateSampleNumPerEpoch: the training and test figures are those of the first N rows of each set', () => {
    const { net, x, t, xTest, tTest, free } = chunkedNet();
    const trainer = new Trainer(net, x, t, xTest, tTest, { epochs: 1, miniBatchSize: 10, evaluateSampleNumPerEpoch: 6 });
    const [record] = trainer.train().epochs;
    const firstTest = net.evaluate(xTest.rows(0, 6), tTest.slice(0, 6)), wholeTest = net.evaluate(xTest, tTest);
    const firstTrain = net.accuracy(x.rows(0, 6), t.rows(0, 6)), wholeTrain = net.accuracy(x, t);
    // the data make the first rows' figures differ from the whole sets', so the test can tell them apart
    expect(firstTest.loss).not.toBeCloseTo(wholeTest.loss, 3);
    expect(firstTrain).not.toBe(wholeTrain);
    expectClose([record.testLoss], [firstTest.loss], { rtol: 1e-12 }, 'testLoss');
    expect(record.testAcc).toBe(firstTest.accuracy);
    expect(record.trainAcc).toBe(firstTrain);
    trainer.dispose();
    free();
  });
});

describe('data', () => {
  it('Dataset.split and the Trainer\'s validationSplit take Keras\'s N − ⌊N·(1 − rate)⌋ validation rows', () => {
    const x = tensor([10, 2], 71), t = rt.labels([10], [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
    const d = new Dataset(x, t);
    for (const [rate, nVal] of [[0.25, 3], [0.35, 4], [0.1, 1], [0.05, 1]] as const) {
      const { train, validation } = d.split(rate, 5);
      expect([train.length, validation.length], `rate ${rate}`).toEqual([10 - nVal, nVal]);
      train.dispose(); validation.dispose();
    }
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [3], outputSize: 2 });
    const trainer = new Trainer(net, x, t, x, t, { epochs: 1, miniBatchSize: 1, validationSplit: 0.25 });
    expect(trainer.iterPerEpoch).toBe(7); // one step a training row: 10 − 3
    trainer.dispose();
    net.dispose();
    d.dispose();
    x.dispose(); t.dispose();
  });

  it('batches with a seed come in the order shuffle(seed) gives, not in the rows\' order', () => {
    const x = rt.tensor([9, 1], Array.from({ length: 9 }, (_, i) => i)), t = rt.labels([9], Array.from({ length: 9 }, (_, i) => i % 3));
    const d = new Dataset(x, t);
    const shuffled = d.shuffle(2);
    const seen: number[] = [];
    for (const b of d.batches(4, { seed: 2 })) seen.push(...b.x.toArray());
    expect(seen).toEqual(Array.from(shuffled.x.toArray()));
    expect(seen).not.toEqual(Array.from({ length: 9 }, (_, i) => i));
    shuffled.dispose();
    d.dispose();
    x.dispose(); t.dispose();
  });

  it('randomChoice draws every row, the last included, about equally often (3 rows, 3,000 draws)', () => {
    const x = rt.tensor([3, 1], [0, 1, 2]), t = rt.labels([3], [0, 1, 2]);
    const d = new Dataset(x, t);
    const counts = [0, 0, 0];
    for (const row of d.randomChoice(3000).t.data) counts[row]++;
    // binomial(3000, 1/3): σ ≈ 25.8; ±5σ
    for (const [row, n] of counts.entries()) expect(Math.abs(n - 1000), `row ${row} drawn ${n} times`).toBeLessThan(130);
    d.dispose();
    x.dispose(); t.dispose();
  });
});
