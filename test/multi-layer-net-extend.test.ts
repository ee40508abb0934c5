// MultiLayerNetExtend: layout and keys as the book's, gradients against
// central differences with batch norm, dropout (fixed masks), L2, L1 and both,
// the weight-decay terms of loss and gradient, explicit training/inference
// behaviour, saving the running statistics, and errors.
import { describe, it, expect, beforeAll } from 'vitest';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { MultiLayerNetExtend, type MultiLayerNetExtendOptions, SGD } from '../src/index.js';
import { makeRuntime, randomArray, expectBits, expectClose } from './helpers/runtime.js';
import { gradError } from './reference/gradcheck.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 4 }); });

const base = { inputSize: 7, hiddenSizeList: [6, 5], outputSize: 4, weightInitStd: 0.5 } as const;

function smallData(N: number, seed: number) {
  const x = rt.tensor([N, base.inputSize], randomArray(N * base.inputSize, seed, -1, 1));
  const t = Array.from({ length: N }, (_, i) => (i * 3 + seed) % base.outputSize);
  return { x, t };
}

/** Fixes every dropout layer's mask (keep with probability 1 - ratio), for batches of N. */
function fixMasks(net: MultiLayerNetExtend, N: number, seed: number): void {
  net.dropoutLayers.forEach((layer, i) => {
    const h = net.hiddenSizeList[i];
    layer.setMask(rt.tensor([N, h], randomArray(N * h, seed + i, 0, 1).map((u) => (u > layer.ratio ? 1 : 0))));
  });
}

/** Moves weights off the L1 kink: central differences across |w| < h are not the derivative. */
function weightsAwayFromZero(net: MultiLayerNetExtend, margin: number): void {
  for (const [key, w] of Object.entries(net.params)) {
    if (!key.startsWith('W')) continue;
    const d = w.data;
    for (let i = 0; i < d.length; i++) if (Math.abs(d[i]) < margin) d[i] = d[i] < 0 ? -margin : margin;
  }
}

describe('MultiLayerNetExtend', () => {
  it('stacks Affine -> BatchNorm -> activation -> Dropout per hidden layer and keys params like the book', () => {
    const net = new MultiLayerNetExtend(rt, { ...base, useBatchnorm: true, useDropout: true });
    expect(net.layers.map((l) => l.name)).toEqual([
      'Affine', 'BatchNormalization', 'Relu', 'Dropout', 'Affine', 'BatchNormalization', 'Relu', 'Dropout', 'Affine']);
    expect(Object.keys(net.params)).toEqual(['W1', 'b1', 'gamma1', 'beta1', 'W2', 'b2', 'gamma2', 'beta2', 'W3', 'b3']);
    expect(Object.keys(net.grads)).toEqual(Object.keys(net.params));
    expect(Object.keys(net.state)).toEqual(['runningMean1', 'runningVar1', 'runningMean2', 'runningVar2']);
    expect([...net.params.gamma2.data]).toEqual([1, 1, 1, 1, 1]);
    expect([...net.params.beta1.data]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(net.dropoutLayers.map((d) => [d.ratio, d.inverted])).toEqual([[0.5, false], [0.5, false]]);
    // params and grads live in the net's two arenas (one optimizer call each); running statistics do not
    const set = net.parameterSet!;
    const inside = (t: Tensor, ptr: number) => t.ptr >= ptr && t.ptr + 4 * t.size <= ptr + 4 * set.size;
    for (const key of Object.keys(net.params)) {
      expect(inside(net.params[key], set.paramPtr), key).toBe(true);
      expect(inside(net.grads[key], set.gradPtr), `grad ${key}`).toBe(true);
    }
    for (const [key, t] of Object.entries(net.state)) expect(inside(t, set.paramPtr) || inside(t, set.gradPtr), key).toBe(false);
    net.dispose();
  });

  it('without batch norm or dropout it is the plain MultiLayerNet layout', () => {
    const net = new MultiLayerNetExtend(rt, { ...base, activation: 'sigmoid' });
    expect(net.layers.map((l) => l.name)).toEqual(['Affine', 'Sigmoid', 'Affine', 'Sigmoid', 'Affine']);
    expect(Object.keys(net.params)).toEqual(['W1', 'b1', 'W2', 'b2', 'W3', 'b3']);
    expect(net.state).toEqual({});
    net.dispose();
  });

  // f32 loss: rounding ~1e-7/h against O(h²) truncation; measured worst 1.6e-4.
  const H = 3e-3;
  const BOUND = 1e-3;
  const cases: Array<{ name: string; options: Partial<MultiLayerNetExtendOptions> }> = [
    { name: 'batch norm (relu)', options: { useBatchnorm: true } },
    { name: 'batch norm (tanh)', options: { useBatchnorm: true, activation: 'tanh' } },
    { name: 'dropout 0.3, fixed masks', options: { useDropout: true, dropoutRatio: 0.3 } },
    { name: 'L2 0.1', options: { weightDecayLambda: 0.1 } },
    { name: 'L1 0.1', options: { l1Lambda: 0.1 } },
    { name: 'L1 0.05 + L2 0.1 (Elastic Net)', options: { l1Lambda: 0.05, weightDecayLambda: 0.1 } },
    { name: 'batch norm + dropout + L1 + L2', options: { useBatchnorm: true, useDropout: true, dropoutRatio: 0.2, l1Lambda: 0.05, weightDecayLambda: 0.1 } },
    { name: 'label smoothing 0.1 + batch norm', options: { useBatchnorm: true, labelSmoothing: 0.1 } },
    { name: 'label smoothing 1 (uniform targets) + L2', options: { labelSmoothing: 1, weightDecayLambda: 0.1 } },
  ];
  const maxAbs = (v: ArrayLike<number>) => Math.max(...Array.from(v, Math.abs));
  for (const c of cases) {
    it(`gradient matches numericalGradient: ${c.name}`, () => {
      rt.reseed(21);
      const net = new MultiLayerNetExtend(rt, { ...base, ...c.options });
      const N = 6;
      const { x, t } = smallData(N, 3);
      fixMasks(net, N, 30);
      weightsAwayFromZero(net, 10 * H);
      const num = net.numericalGradient(x, t, H);
      const grads = net.gradient(x, t);
      for (const key of Object.keys(net.params)) {
        const index = /^b(\d+)$/.exec(key);
        if (net.useBatchnorm && index && Number(index[1]) <= net.hiddenSizeList.length) {
          // a bias followed by batch norm cancels in the batch mean: its gradient is 0
          // (measured: 4.5e-8 from backprop, 6.6e-6 of f32 noise in the differences)
          expect(maxAbs(grads[key].data), key).toBeLessThan(1e-6);
          expect(maxAbs(num[key]), key).toBeLessThan(3e-5);
        } else {
          expect(gradError(grads[key].data, num[key]), key).toBeLessThan(BOUND);
        }
      }
      net.dispose();
    });
  }

  it('adds ½λ₂ΣW² + λ₁Σ|W| to the loss and λ₂W + λ₁sign(W) to dW only', () => {
    const l2 = 0.2, l1 = 0.07;
    const opts = { ...base, useBatchnorm: true };
    rt.reseed(9);
    const plain = new MultiLayerNetExtend(rt, opts);
    rt.reseed(9);
    const decayed = new MultiLayerNetExtend(rt, { ...opts, weightDecayLambda: l2, l1Lambda: l1 });
    const { x, t } = smallData(5, 4);
    let sq = 0, abs = 0;
    for (const key of ['W1', 'W2', 'W3']) for (const v of plain.params[key].data) { sq += v * v; abs += Math.abs(v); }
    expect(decayed.loss(x, t) - plain.loss(x, t)).toBeCloseTo(0.5 * l2 * sq + l1 * abs, 5);
    const g0 = Object.fromEntries(Object.entries(plain.gradient(x, t)).map(([key, g]) => [key, g.toArray()]));
    const g1 = decayed.gradient(x, t);
    for (const key of Object.keys(g0)) {
      if (key.startsWith('W')) {
        const w = plain.params[key].data;
        const expected = Array.from(g0[key], (g, i) => g + l2 * w[i] + l1 * Math.sign(w[i]));
        expectClose(g1[key].data, expected, { rtol: 1e-6, atol: 1e-7 }, key);
      } else {
        expectBits(g1[key].toArray(), g0[key], `${key} is not decayed`);
      }
    }
    plain.dispose();
    decayed.dispose();
  });

  it('keeps training and inference explicit: inference leaves running statistics and the random stream alone', () => {
    const net = new MultiLayerNetExtend(rt, { ...base, useBatchnorm: true, useDropout: true });
    const { x, t } = smallData(8, 5);
    net.gradient(x, t); // one training-mode pass: running statistics move off zero
    const state = () => Object.values(net.state).map((s) => s.toArray());
    const before = state();
    const counter = rt.randomState.counter;
    const y1 = net.predict(x, false).toArray();
    const y2 = net.predict(x, false).toArray();
    const acc = net.accuracy(x, t);
    expectBits(y2, y1, 'inference is deterministic');
    state().forEach((s, i) => expectBits(s, before[i], `state ${i} after inference`));
    expect(rt.randomState.counter, 'no dropout draws in inference').toBe(counter);
    let correct = 0;
    for (let i = 0; i < 8; i++) {
      const row = Array.from(y1.subarray(i * 4, i * 4 + 4));
      if (row.indexOf(Math.max(...row)) === t[i]) correct++;
    }
    expect(acc, 'accuracy = argmax of the inference-mode predict').toBe(correct / 8);
    net.predict(x, true);
    expect(rt.randomState.counter, 'training mode draws a mask per dropout input').toBe(counter + 8 * (6 + 5));
    expect(state()[0]).not.toEqual(before[0]);
    net.dispose();
  });

  it('exportParams saves the running statistics and importParams restores them', () => {
    const opts = { ...base, useBatchnorm: true };
    const a = new MultiLayerNetExtend(rt, opts);
    const { x, t } = smallData(8, 6);
    new SGD({ lr: 0.1 }).update(a.params, a.gradient(x, t));
    const saved = a.exportParams();
    expect(Object.keys(saved)).toEqual([...Object.keys(a.params), ...Object.keys(a.state)]);
    const b = new MultiLayerNetExtend(rt, opts);
    b.importParams(saved);
    expectBits(b.predict(x, false).toArray(), a.predict(x, false).toArray(), 'inference after import');
    const { runningVar2: _dropped, ...partial } = saved;
    expect(() => b.importParams(partial)).toThrow(/missing parameter 'runningVar2'/);
    a.dispose();
    b.dispose();
  });

  it('trains with batch norm and dropout: the loss falls on a learnable task', () => {
    rt.reseed(13);
    const net = new MultiLayerNetExtend(rt, { ...base, useBatchnorm: true, useDropout: true, dropoutRatio: 0.1 });
    const N = 40;
    const xv = randomArray(N * base.inputSize, 14, -1, 1);
    // class = which quarter of the line the first two features' sum falls in
    const t = Array.from({ length: N }, (_, i) => Math.min(3, Math.floor((xv[i * 7] + xv[i * 7 + 1] + 2) * 1)));
    const x = rt.tensor([N, base.inputSize], xv);
    const sgd = new SGD({ lr: 0.1 });
    const first = net.loss(x, t, true);
    for (let i = 0; i < 200; i++) sgd.update(net.params, net.gradient(x, t));
    // measured: training-mode loss 1.73 -> 0.54; inference loss 0.43, accuracy 0.8 (chance: ln 4 = 1.39, 0.25)
    expect(net.loss(x, t, true)).toBeLessThan(first / 2);
    expect(net.loss(x, t)).toBeLessThan(0.7);
    expect(net.accuracy(x, t)).toBeGreaterThanOrEqual(0.7);
    net.dispose();
  });

  it('rejects bad options with clear errors', () => {
    expect(() => new MultiLayerNetExtend(rt, { ...base, useBatchNorm: true } as never)).toThrow(/MultiLayerNetExtend: unknown option 'useBatchNorm'/);
    // a truthy 1 built batch norm, which the net's spec (=== true) left out: a saved file loadModel refused
    expect(() => new MultiLayerNetExtend(rt, { ...base, useBatchnorm: 1 } as never)).toThrow(/^MultiLayerNetExtend: useBatchnorm must be true or false, got number 1$/);
    expect(() => new MultiLayerNetExtend(rt, { ...base, useDropout: 'yes' } as never)).toThrow(/^MultiLayerNetExtend: useDropout must be true or false, got the string "yes"$/);
    expect(() => new MultiLayerNetExtend(rt, { ...base, hiddenSizeList: [6, 0] })).toThrow(/hiddenSizeList\[1\] must be a positive integer, got 0/);
    expect(() => new MultiLayerNetExtend(rt, { ...base, useDropout: true, dropoutRatio: 1 })).toThrow(/Dropout: ratio must be in \[0, 1\), got 1/);
    expect(() => new MultiLayerNetExtend(rt, { ...base, l1Lambda: -1 })).toThrow(/l1Lambda: expected a non-negative number, got -1/);
  });
});

describe('a training-mode pass that fails part way', () => {
  // Memory filled so that gradient() at a new batch shape runs out part way: after the first batch norm moved
  // its running statistics (the forward allocates layer by layer) or in the backward pass.
  it('leaves the running statistics and the random stream as they were, and the call again gives the bits of one that never failed', async () => {
    const { OutOfMemoryError } = await import('../src/runtime/errors.js');
    const small = await makeRuntime({ seed: 3, threads: 1, memory: { initial: 64, maximum: 64 } });
    const options = { inputSize: 64, hiddenSizeList: [64, 64], outputSize: 10, useBatchnorm: true, useDropout: true, dropoutRatio: 0.2 };
    const net = new MultiLayerNetExtend(small, options);
    const x = small.tensor([50, 64], randomArray(50 * 64, 5, -1, 1));
    const t = small.labels([50], Array.from({ length: 50 }, (_, i) => i % 10));
    net.gradient(x.rows(0, 10), t.rows(0, 10));
    const state = () => Object.values(net.state).map((s) => s.toArray());
    const stateBefore = state(), randomBefore = small.randomState;
    let failures = 0;
    for (let free = 0; ; free += 1024) {
      let lo = 1, hi = 1 << 20; // the largest block the memory holds, less `free` bytes, held while gradient() runs
      while (lo < hi) { const mid = (lo + hi + 1) >> 1; try { small.tensor([mid]).dispose(); lo = mid; } catch { hi = mid - 1; } }
      const hog = small.tensor([Math.max(1, lo - free / 4)]);
      let error: unknown = null;
      try { net.gradient(x, t); } catch (e) { error = e; }
      hog.dispose();
      if (error === null) break;
      expect(error).toBeInstanceOf(OutOfMemoryError);
      failures++;
      state().forEach((s, i) => expectBits(s, stateBefore[i]));
      expect(small.randomState).toEqual(randomBefore);
    }
    expect(failures).toBeGreaterThan(8); // the sweep met failures in the forward and in the backward pass
    // a twin on a memory with room: the same seed, net and first call, then the call that failed above
    const twinRt = await makeRuntime({ seed: 3, threads: 1 });
    const twin = new MultiLayerNetExtend(twinRt, options);
    const tx = twinRt.tensor([50, 64], x.toArray()), tt = twinRt.labels([50], t.toArray());
    twin.gradient(tx.rows(0, 10), tt.rows(0, 10));
    twin.gradient(tx, tt);
    for (const [k, g] of Object.entries(twin.grads)) expectBits(net.grads[k].toArray(), g.toArray(), k);
    for (const [k, s] of Object.entries(twin.state)) expectBits(net.state[k].toArray(), s.toArray(), k);
    expect(small.randomState).toEqual(twinRt.randomState);
    net.dispose(); twin.dispose(); small.dispose(); twinRt.dispose();
  });
});
