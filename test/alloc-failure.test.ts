// Memory running out part way through a constructor or factory: each allocation it makes
// fails in turn (rt.alloc, which tensor() and labels() go through, throws an OutOfMemoryError
// at its k-th call, for k = 0, 1, …), and each failure must reach the caller as that error and
// leave the runtime's memory as it was: the blocks made before the failing one freed, not lost.
// The last round (no failure) counts the allocations, so a test cannot pass by failing none.
import { describe, it, expect, beforeAll, vi } from 'vitest';
import { makeRuntime, randomArray } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { OutOfMemoryError } from '../src/runtime/errors.js';
import type { Tensor } from '../src/runtime/tensor.js';
import {
  Affine, BatchNormalization, Convolution, Dropout, Flatten, InstanceNormalization, LayerNormalization, Pooling, Relu, Tanh,
} from '../src/layers/index.js';
import { DeepConvNet, MultiLayerNet, MultiLayerNetExtend, ParameterSet, Sequential, SimpleConvNet, alexNet } from '../src/nets/index.js';
import { buildNet } from '../src/nets/registry.js';
import { AdaDelta, AdaGrad, Adam, AdamW, Momentum, Nesterov, RMSprop, SGD } from '../src/optim/index.js';
import type { ElementwiseOptimizer } from '../src/optim/optimizer.js';

let rt: Runtime;
/** Two threads: an MLP's Sequential makes its row chain's table when it is built. */
let rt2: Runtime;
beforeAll(async () => {
  rt = await makeRuntime({ seed: 7 });
  rt2 = await makeRuntime({ seed: 7, threads: 2 });
});

/** Live bytes and blocks: what a lost allocation changes (the high-water mark may rise and stay). */
function live(r: Runtime): { used: number; blocks: number } {
  const { used, blocks } = r.memoryStats();
  return { used, blocks };
}

/**
 * Runs `build` with r's allocation number k failing, for k = 0, 1, … until it succeeds: each failure must
 * throw the very OutOfMemoryError raised and leave r's live memory as before. `release` frees what the
 * successful build made (which must leave the memory as before too). Returns the allocations it makes.
 */
function failEachAllocation<T>(r: Runtime, build: () => T, release: (made: T) => void): number {
  const alloc = r.alloc;
  let calls = 0, budget = 0;
  const spy = vi.spyOn(r, 'alloc').mockImplementation((bytes: number) => {
    if (calls++ >= budget) throw new OutOfMemoryError(`test: allocation ${budget} fails`);
    return alloc.call(r, bytes);
  });
  try {
    for (budget = 0; budget < 1000; budget++) {
      calls = 0;
      const before = live(r);
      let made: { value: T } | null = null;
      let error: unknown = null;
      try {
        made = { value: build() };
      } catch (e) {
        error = e;
      }
      if (made) {
        release(made.value);
        expect(live(r), 'after the build that succeeded was released').toEqual(before);
        return budget;
      }
      expect(error, `failing at allocation ${budget}`).toBeInstanceOf(OutOfMemoryError);
      expect((error as Error).message).toBe(`test: allocation ${budget} fails`);
      expect(live(r), `failing at allocation ${budget}`).toEqual(before);
    }
    throw new Error('the build never succeeded');
  } finally {
    spy.mockRestore();
  }
}

const randn = (r: Runtime, shape: number[], seed: number): Tensor => r.tensor(shape, randomArray(shape.reduce((a, b) => a * b, 1), seed));

describe('a layer constructor that runs out of memory part way frees what it made', () => {
  it('Affine, making its own dW and db', () => {
    const W = randn(rt, [6, 4], 1), b = randn(rt, [4], 2);
    expect(failEachAllocation(rt, () => new Affine(W, b), (l) => l.dispose())).toBe(2);
    // given its gradients, it allocates nothing
    const dW = rt.tensor([6, 4]), db = rt.tensor([4]);
    expect(failEachAllocation(rt, () => new Affine(W, b, { dW, db }), (l) => l.dispose())).toBe(0);
    for (const t of [W, b, dW, db]) t.dispose();
  });

  it('Convolution, making its own dW and db', () => {
    const W = randn(rt, [3, 2, 3, 3], 3), b = randn(rt, [3], 4);
    expect(failEachAllocation(rt, () => new Convolution(W, b, 1, 1), (l) => l.dispose())).toBe(2);
    W.dispose();
    b.dispose();
  });

  it('BatchNormalization, making its running statistics and gradients', () => {
    const gamma = rt.tensor([5], [1, 1, 1, 1, 1]), beta = rt.tensor([5]);
    expect(failEachAllocation(rt, () => new BatchNormalization(gamma, beta), (l) => l.dispose())).toBe(4);
    expect(failEachAllocation(rt, () => new BatchNormalization(gamma, beta, 0.9, { spatial: true }), (l) => l.dispose())).toBe(4);
    // the running statistics given: the gradients only
    const runningMean = rt.tensor([5]), runningVar = rt.tensor([5]);
    expect(failEachAllocation(rt, () => new BatchNormalization(gamma, beta, 0.9, { runningMean, runningVar }), (l) => l.dispose())).toBe(2);
    for (const t of [gamma, beta, runningMean, runningVar]) t.dispose();
  });

  it('LayerNormalization and InstanceNormalization, making their gradients', () => {
    const gamma = rt.tensor([4], [1, 1, 1, 1]), beta = rt.tensor([4]);
    expect(failEachAllocation(rt, () => new LayerNormalization(gamma, beta), (l) => l.dispose())).toBe(2);
    expect(failEachAllocation(rt, () => new InstanceNormalization(gamma, beta), (l) => l.dispose())).toBe(2);
    gamma.dispose();
    beta.dispose();
  });
});

describe('a net or factory that runs out of memory part way frees what it made', () => {
  it('ParameterSet (its parameter block, then its gradient block)', () => {
    expect(failEachAllocation(rt, () => new ParameterSet(rt, [['W', [3, 4]], ['b', [4]]]), (s) => s.dispose())).toBe(2);
  });

  it('MultiLayerNet (its parameter set; on two threads its row chain\'s table too)', () => {
    const options = { inputSize: 6, hiddenSizeList: [5, 4], outputSize: 3 };
    expect(failEachAllocation(rt, () => new MultiLayerNet(rt, options), (n) => n.dispose())).toBe(2);
    expect(failEachAllocation(rt2, () => new MultiLayerNet(rt2, options), (n) => n.dispose())).toBe(3);
  });

  it('MultiLayerNetExtend (its parameter set, then each batch norm\'s running statistics), and through buildNet', () => {
    const options = { inputSize: 6, hiddenSizeList: [5, 4], outputSize: 3, useBatchnorm: true, useDropout: true, dropoutRatio: 0.2 };
    expect(failEachAllocation(rt, () => new MultiLayerNetExtend(rt, options), (n) => n.dispose())).toBe(2 + 2 * 2);
    expect(failEachAllocation(rt, () => buildNet(rt, { kind: 'mlp-extend', options }), (n) => n.dispose())).toBe(2 + 2 * 2);
  });

  it('MultiLayerNetExtend without batch norm or dropout on two threads (its parameter set, then the row chain\'s table)', () => {
    const options = { inputSize: 6, hiddenSizeList: [5, 4], outputSize: 3 };
    expect(failEachAllocation(rt2, () => new MultiLayerNetExtend(rt2, options), (n) => n.dispose())).toBe(3);
  });

  it('SimpleConvNet, DeepConvNet and alexNet (their parameter sets)', () => {
    const simple = { inputDim: [1, 8, 8], convParam: { filterNum: 2, filterSize: 3, pad: 0, stride: 1 }, hiddenSize: 5, outputSize: 3 };
    expect(failEachAllocation(rt, () => new SimpleConvNet(rt, simple), (n) => n.dispose())).toBe(2);
    expect(failEachAllocation(rt2, () => new SimpleConvNet(rt2, simple), (n) => n.dispose())).toBe(2);
    const deep = { inputDim: [1, 8, 8], convParams: Array.from({ length: 6 }, () => ({ filterNum: 2, filterSize: 3, pad: 1, stride: 1 })), hiddenSize: 5, outputSize: 3 };
    expect(failEachAllocation(rt, () => new DeepConvNet(rt, deep), (n) => n.dispose())).toBe(2);
    expect(failEachAllocation(rt, () => alexNet(rt, { numClasses: 2 }), (n) => n.dispose())).toBe(2);
  });

  it('Sequential over the caller\'s layers (on two threads, its row chain\'s table), which a failure leaves the caller\'s', () => {
    const given = [randn(rt2, [6, 5], 5), rt2.tensor([5]), rt2.tensor([6, 5]), rt2.tensor([5]), randn(rt2, [5, 3], 6), rt2.tensor([3]), rt2.tensor([5, 3]), rt2.tensor([3])];
    const [W1, b1, dW1, db1, W2, b2, dW2, db2] = given;
    const layers = [new Affine(W1, b1, { dW: dW1, db: db1 }), new Tanh(), new Affine(W2, b2, { dW: dW2, db: db2 })];
    // the last round builds on the same layers: a failed one neither disposed nor kept them
    expect(failEachAllocation(rt2, () => new Sequential(rt2, layers), (n) => n.dispose())).toBe(1);
    const x = rt2.tensor([1, 6]);
    expect(() => layers[0].forward(x)).toThrow(/^Affine.forward: used after dispose\(\)$/); // the net took the layers, and disposed them with itself
    for (const t of [...given, x]) t.dispose();
    // on one thread, no chain: nothing allocated
    const W = randn(rt, [6, 3], 7), b = rt.tensor([3]), dW = rt.tensor([6, 3]), db = rt.tensor([3]);
    expect(failEachAllocation(rt, () => new Sequential(rt, [new Affine(W, b, { dW, db })]), (n) => n.dispose())).toBe(0);
    for (const t of [W, b, dW, db]) t.dispose();
  });

  it('net.snapshotState() (one block for the copy)', () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 6, hiddenSizeList: [5, 4], outputSize: 3, useBatchnorm: true });
    expect(failEachAllocation(rt, () => net.snapshotState(), (s) => s.dispose())).toBe(1);
    net.dispose();
  });

  it('net.freeze() (each layer\'s copies, packed weights and biases)', () => {
    const conv = new Convolution(randn(rt, [2, 1, 3, 3], 8), randn(rt, [2], 9), 1, 1);
    const bn = new BatchNormalization(rt.tensor([2], [1, 1]), rt.tensor([2]), 0.9, { spatial: true });
    const affine = new Affine(randn(rt, [2 * 3 * 3, 4], 10), randn(rt, [4], 11));
    const ln = new LayerNormalization(rt.tensor([4], [1, 1, 1, 1]), rt.tensor([4]));
    const last = new Affine(randn(rt, [4, 3], 12), rt.tensor([3]));
    const given = [conv.W, conv.b, bn.gamma, bn.beta, affine.W, affine.b, ln.gamma, ln.beta, last.W, last.b];
    const net = new Sequential(rt, [conv, bn, new Relu(), new Pooling(2, 2, 2), new Flatten(), affine, new Relu(), ln, new Dropout(0.5), last], { inputShape: [1, 6, 6] });
    // the convolution's W and b and its packed filters, the batch norm's 4 tensors, 2 packed Affines' W and b, the layer norm's 2
    expect(failEachAllocation(rt, () => net.freeze(), (f) => f.dispose())).toBe(3 + 4 + 2 * 2 + 2);
    net.dispose();
    for (const t of given) t.dispose();
  });

  it('an optimizer\'s first update (its state) leaves the parameters and the step count as they were', () => {
    const net = new MultiLayerNet(rt, { inputSize: 6, hiddenSizeList: [5], outputSize: 3 });
    const x = randn(rt, [4, 6], 13), t = rt.labels([4], [0, 1, 2, 1]);
    net.gradient(x, t);
    const params = Object.values(net.params).map((p) => p.toArray());
    const optimizers: Array<[ElementwiseOptimizer, number]> = [
      [new SGD(), 0], [new Momentum(), 1], [new Nesterov(), 1], [new AdaGrad(), 1], [new RMSprop(), 1], [new AdaDelta(), 1], [new Adam(), 1], [new AdamW(), 1],
    ];
    for (const [optimizer, allocations] of optimizers) {
      // a failed update wrote nothing: the retry is the optimizer's first step, on the net's parameters as they were
      let failures = 0;
      const made = failEachAllocation(rt, () => {
        if (optimizer.t > 0) throw new Error('a failed update counted a step');
        Object.values(net.params).forEach((p, i) => expect(p.toArray(), `${optimizer.name}: ${i}`).toEqual(params[i]));
        try {
          optimizer.update(net.params, net.grads);
        } catch (e) {
          failures++;
          throw e;
        }
        return optimizer;
      }, (o) => {
        o.dispose();
        Object.values(net.params).forEach((p, i) => p.data.set(params[i])); // the next optimizer starts from the same weights
      });
      expect(made, optimizer.name).toBe(allocations);
      expect(failures).toBe(allocations);
    }
    net.dispose();
    x.dispose();
    t.dispose();
  });
});
