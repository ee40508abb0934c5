// Behaviour of the dense and normalisation layers' TypeScript that no other test pinned down, each found by
// a mutant that every other test let through (session 64): Affine's checks on the gradients it is given (dW
// overlapping db, db's size) and leaving them alive at dispose(), backwardThrough when the activation kept the
// layer's own dx buffer, an activation's dout of another size, spatial batch norm's momentum and a disposed
// forward input, LayerNormalization's own eps, SoftmaxWithLoss's tensor dout and its label and row counts, a
// nearly-one-hot target row counted as soft, a non-finite dout, InstanceNormalization's statistics per plane,
// softmax of a scalar, the layers' scratch keeping eight shapes by last use, and
// MultiLayerNet recording the hiddenSizeList it read. Node and Chromium.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { makeRuntime, randomArray, expectBits, expectClose } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import {
  Affine, BatchNormalization, InstanceNormalization, IntTensor, LayerNormalization, MultiLayerNet, Relu, Sigmoid, SoftmaxWithLoss, Tanh,
} from '../src/index.js';
import { Buffers } from '../src/layers/buffers.js';
import { softmax } from '../src/layers/softmax.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 64 }); });
afterAll(() => rt.dispose());

const tensor = (shape: number[], seed: number, lo = -1, hi = 1) => rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b, 1), seed, lo, hi));

describe('Affine: the gradients it is given', () => {
  it('refuses a dW overlapping db, and a db not of b\'s size (biasBackward would write past it), before anything is made', () => {
    const [D, M] = [5, 3];
    const W = tensor([D, M], 1), b = tensor([M], 2);
    const block = rt.tensor([D * M + M]);
    const dW = block.view(0, [D, M]);
    expect(() => new Affine(W, b, { dW, db: block.view(D * M - 1, [M]) })).toThrow(/^Affine: grads\.dW overlaps grads\.db$/);
    expect(() => new Affine(W, b, { dW, db: block.view(D * M, [M - 1]) })).toThrow(/^Affine: dW\/db must match W\/b in size$/);
    // side by side they are accepted, and filled
    const a = new Affine(W, b, { dW, db: block.view(D * M, [M]) });
    a.forward(tensor([2, D], 3));
    a.backward(tensor([2, M], 4));
    expect(a.db.toArray().some((v) => v !== 0)).toBe(true);
    a.dispose();
    for (const t of [W, b, block]) t.dispose();
  });

  it('dispose() leaves the dW and db it was given alive (they stay the giver\'s) and frees the ones it made', () => {
    const W = tensor([4, 3], 5), b = tensor([3], 6), dW = rt.tensor([4, 3]), db = rt.tensor([3]);
    const given = new Affine(W, b, { dW, db }), own = new Affine(W, b);
    const [ownDW, ownDb] = [own.dW, own.db];
    given.dispose();
    own.dispose();
    expect([dW.alive, db.alive, W.alive, b.alive]).toEqual([true, true, true, true]);
    expect([ownDW.alive, ownDb.alive]).toEqual([false, false]);
    for (const t of [W, b, dW, db]) t.dispose();
  });
});

describe('Affine.backwardThrough when the activation kept the layer\'s own dx buffer', () => {
  it('gives the bits of a copy: dx is written apart from what the activation reads', () => {
    const [N, D, M] = [10, 64, 48];
    const W = tensor([D, M], 7, -0.2, 0.2), b = tensor([M], 8);
    const a = new Affine(W, b), ref = new Affine(W, b);
    const dout = tensor([N, M], 9);
    a.forward(tensor([N, D], 10));
    const dx0 = a.backward(dout); // a's dx buffer, which the Relu below keeps as its input
    const copy = rt.tensor([N, D], dx0.data);
    const relu = new Relu(), reluRef = new Relu();
    a.forward(relu.forward(dx0));
    ref.forward(reluRef.forward(copy));
    const expected = ref.backwardThrough(dout, reluRef).toArray();
    const got = a.backwardThrough(dout, relu);
    expectBits(got.toArray(), expected, 'dx');
    expectBits(a.dW.toArray(), ref.dW.toArray(), 'dW');
    for (const v of [a, ref, relu, reluRef, W, b, dout, copy]) v.dispose();
  });
});

describe('activations', () => {
  it('Relu, Sigmoid and Tanh refuse a dout larger than the forward\'s x, as a smaller one', () => {
    for (const layer of [new Relu(), new Sigmoid(), new Tanh()]) {
      layer.forward(tensor([2, 3], 11));
      for (const shape of [[2, 4], [2, 2]]) {
        const dout = rt.tensor(shape);
        expect(() => layer.backward(dout), `${layer.name} ${shape}`).toThrow(new RegExp(`^${layer.name}\\.backward: dout must be \\[2, 3\\], got \\[${shape.join(', ')}\\]$`));
        dout.dispose();
      }
      layer.dispose();
    }
  });
});

describe('normalisation layers', () => {
  it('spatial BatchNormalization updates its running statistics by its own momentum (0.5: half the batch\'s biased per-channel statistics)', () => {
    const [N, C, H, W] = [2, 2, 2, 3];
    const xv = randomArray(N * C * H * W, 12, -1, 3);
    const layer = new BatchNormalization(rt.tensor([C], [1, 1]), rt.tensor([C]), 0.5, { spatial: true });
    layer.forward(rt.tensor([N, C, H, W], xv), true);
    const mean: number[] = [], variance: number[] = [];
    for (let c = 0; c < C; c++) {
      const v: number[] = [];
      for (let n = 0; n < N; n++) for (let i = 0; i < H * W; i++) v.push(xv[(n * C + c) * H * W + i]);
      const m = v.reduce((s, a) => s + a, 0) / v.length;
      mean.push(m);
      variance.push(v.reduce((s, a) => s + (a - m) ** 2, 0) / v.length);
    }
    expectClose(layer.runningMean.data, mean.map((m) => 0.5 * m), { rtol: 2e-6, atol: 1e-6 }, 'runningMean');
    expectClose(layer.runningVar.data, variance.map((v) => 0.5 * v), { rtol: 2e-6, atol: 1e-6 }, 'runningVar');
    layer.dispose();
  });

  it('BatchNormalization.backward refuses a forward input disposed since, naming it, and writes nothing', () => {
    for (const spatial of [false, true]) {
      const layer = new BatchNormalization(rt.tensor([2], [1, 1]), rt.tensor([2]), 0.9, { spatial });
      const x = tensor([3, 2, 1, 1], 13);
      layer.forward(spatial ? x : x.view(0, [3, 2]));
      const before = layer.dgamma.toArray();
      x.dispose();
      const dout = tensor([3, 2, 1, 1], 14);
      expect(() => layer.backward(spatial ? dout : dout.view(0, [3, 2]))).toThrow(/^BatchNormalization\.backward: the forward input x: .*used after dispose/);
      expectBits(layer.dgamma.toArray(), before, 'dgamma');
      dout.dispose();
      layer.dispose();
    }
  });

  it('LayerNormalization uses the eps it is given (0.5) inside the square root, against float64', () => {
    const [N, F] = [3, 4];
    const xv = randomArray(N * F, 15, -1, 1), gv = randomArray(F, 16, 0.5, 1.5), bv = randomArray(F, 17);
    const layer = new LayerNormalization(rt.tensor([F], gv), rt.tensor([F], bv), { eps: 0.5 });
    const y = layer.forward(rt.tensor([N, F], xv));
    const expected: number[] = [];
    for (let r = 0; r < N; r++) {
      const row = Array.from(xv.subarray(r * F, r * F + F));
      const m = row.reduce((s, a) => s + a, 0) / F;
      const v = row.reduce((s, a) => s + (a - m) ** 2, 0) / F;
      row.forEach((a, i) => expected.push(gv[i] * (a - m) / Math.sqrt(v + 0.5) + bv[i]));
    }
    expectClose(y.data, expected, { rtol: 1e-5, atol: 1e-6 }, 'y');
    layer.dispose();
  });
});

describe('InstanceNormalization: one statistic per (sample, channel) plane', () => {
  it('backward with 3 × 8 planes (more than one padded block of statistics) against float64', () => {
    const [N, C, H, W] = [3, 8, 2, 2], m = H * W;
    const xv = randomArray(N * C * m, 22, -1, 3), gv = randomArray(C, 23, 0.5, 1.5), dv = randomArray(N * C * m, 24);
    const layer = new InstanceNormalization(rt.tensor([C], gv), rt.tensor([C]));
    layer.forward(rt.tensor([N, C, H, W], xv));
    const dx = layer.backward(rt.tensor([N, C, H, W], dv));
    const expected = new Float64Array(N * C * m);
    for (let p = 0; p < N * C; p++) {
      const x = Array.from(xv.subarray(p * m, p * m + m)), g = gv[p % C];
      const mean = x.reduce((s, a) => s + a, 0) / m;
      const inv = 1 / Math.sqrt(x.reduce((s, a) => s + (a - mean) ** 2, 0) / m + 1e-5);
      const xhat = x.map((a) => (a - mean) * inv), dxhat = x.map((_, i) => dv[p * m + i] * g);
      const s1 = dxhat.reduce((s, a) => s + a, 0), s2 = dxhat.reduce((s, a, i) => s + a * xhat[i], 0);
      for (let i = 0; i < m; i++) expected[p * m + i] = (inv / m) * (m * dxhat[i] - s1 - xhat[i] * s2);
    }
    expectClose(dx.data, expected, { rtol: 1e-4, atol: 1e-5 }, 'dx');
    layer.dispose();
  });
});

describe('SoftmaxWithLoss', () => {
  it('backward(dout tensor) scales by its first value, as backward(that number)', () => {
    const layer = new SoftmaxWithLoss();
    const x = tensor([3, 4], 18), dout = rt.tensor([1], [2.5]);
    layer.forward(x, [0, 3, 1]);
    const byNumber = layer.backward(2.5).toArray();
    expect(byNumber.some((v, i) => v !== layer.backward(1).data[i])).toBe(true);
    expectBits(layer.backward(dout).toArray(), byNumber, 'dx');
    for (const v of [layer, x, dout]) v.dispose();
  });

  it('backward refuses a dout that is not finite, as a number or a tensor\'s first value, and writes nothing', () => {
    const layer = new SoftmaxWithLoss();
    const x = tensor([2, 3], 21);
    layer.forward(x, [2, 0]);
    const dx = layer.backward(1).toArray();
    for (const bad of [NaN, Infinity, -Infinity]) {
      const t = rt.tensor([1], [bad]);
      for (const dout of [bad, t]) expect(() => layer.backward(dout), String(bad)).toThrow(new RegExp(`^SoftmaxWithLoss\\.backward: dout must be a finite number, got ${bad}$`));
      t.dispose();
    }
    expectBits(layer.backward(1).toArray(), dx, 'dx');
    for (const v of [layer, x]) v.dispose();
  });

  it('refuses an IntTensor of labels not one a row, and an x of no rows, naming them', () => {
    const layer = new SoftmaxWithLoss();
    const x = tensor([2, 3], 19);
    for (const n of [1, 3]) {
      const t = rt.labels([n]);
      expect(t).toBeInstanceOf(IntTensor);
      expect(() => layer.forward(x, t)).toThrow(new RegExp(`^SoftmaxWithLoss\\.forward: t must hold 2 labels, got ${n}$`));
      t.dispose();
    }
    const empty = rt.tensor([0, 3]);
    expect(() => layer.forward(empty, [])).toThrow(/^SoftmaxWithLoss\.forward: x has 0 rows; the mean loss of an empty batch is undefined$/);
    for (const v of [layer, x, empty]) v.dispose();
  });

  it('a row with one 1 and a little mass elsewhere (sum within 1e-3 of 1) is soft: evaluate() gives loss()\'s figure', () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 3 });
    const x = tensor([2, 3], 20);
    const t = rt.tensor([2, 3], [1, 0.0008, 0, 0, 1, 0]);
    const loss = net.loss(x, t);
    expect(loss).not.toBe(net.loss(x, [0, 1]));
    expect(net.evaluate(x, t).loss).toBe(loss);
    for (const v of [net, x, t]) v.dispose();
  });
});

describe('softmax(x)', () => {
  it('refuses a scalar tensor (no axis to take), naming it', () => {
    const x = rt.tensor([], [3]);
    expect(x.size).toBe(1);
    expect(() => softmax(x)).toThrow(/^softmax: x must have at least one axis, got a scalar tensor$/);
    x.dispose();
  });
});

describe('Buffers: eight shapes a name, by last use', () => {
  it('keeps the last 8 shapes of a name; a shape asked for again is the newest, so a ninth evicts the least recently used', () => {
    const buffers = new Buffers(rt);
    const made = Array.from({ length: 8 }, (_, k) => buffers.get('out', [k + 1]));
    made.forEach((t, k) => expect(buffers.get('out', [k + 1]), `shape ${k + 1}`).toBe(t));
    expect(made.every((t) => t.alive)).toBe(true);
    buffers.get('out', [1]); // now the most recent; [2] the least
    buffers.get('out', [9]);
    expect(made[0].alive).toBe(true);
    expect(made[1].alive).toBe(false);
    expect(made.slice(2).every((t) => t.alive)).toBe(true);
    expect(buffers.get('out', [1])).toBe(made[0]);
    buffers.dispose();
  });

  it('dispose() frees the int tensors (labels) it made as well as the float ones', () => {
    const buffers = new Buffers(rt);
    const labels = buffers.labels('t', [3]), floats = buffers.get('y', [3]);
    buffers.dispose();
    expect([labels.alive, floats.alive]).toEqual([false, false]);
  });
});

describe('MultiLayerNet records the options it read', () => {
  it('hiddenSizeList\'s elements are read once: the spec holds the sizes the net was built with', () => {
    let reads = 0;
    const list: number[] = [];
    Object.defineProperty(list, 0, { get: () => (reads++ === 0 ? 4 : 7), enumerable: true });
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: list, outputSize: 2 });
    expect(reads).toBe(1);
    expect(net.hiddenSizeList).toEqual([4]);
    expect((net.spec.options as { hiddenSizeList: number[] }).hiddenSizeList).toEqual([4]);
    net.dispose();
  });
});
