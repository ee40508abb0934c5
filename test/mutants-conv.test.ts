// Behaviour of the spatial layers and the conv nets that no other test pinned down, each found by a
// mutant that every other test let through (session 64): a training Convolution's forward by
// positions reading the W of this call (not of its first), each thread's image group having its own
// output block and scratch in the passes by positions, convScratchBytes holding the kernels' two
// columns, Flatten's views following the tensor given (and an empty batch), Dropout's forward training
// by default (the book's train_flg=True) and its masks depending on the seed, the conv nets' gradients
// living in their parameter block, DeepConvNet's dropout ratios and He std from each conv's input
// channels, and AlexNet's layer order and dropout option. Node and Chromium.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { makeRuntime, randomArray, expectBits } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import {
  Affine, Convolution, DeepConvNet, Dropout, Flatten, Pooling, Sequential, SimpleConvNet, alexNet,
} from '../src/index.js';
import { convScratchBytes, forwardByPositions, inputGradByPositions } from '../src/layers/convolution.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 64 }); });
afterAll(() => rt.dispose());

const tensor = (shape: number[], seed: number, lo = -1, hi = 1) => rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b, 1), seed, lo, hi));
const std = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);

describe('Convolution: the forward by positions of a layer that trains', () => {
  // both shapes run by positions (conv.test.ts): im2col at stride 2 with 2·25 positions ≤ min(64 filters, K 72),
  // and the direct path's 1 × 1 filters on rows of 7 with 40 filters
  for (const { x, f, stride, pad, direct } of [
    { x: [2, 8, 9, 9], f: [64, 8, 3, 3], stride: 2, pad: 1, direct: false },
    { x: [2, 8, 7, 7], f: [40, 8, 1, 1], stride: 1, pad: 0, direct: true },
  ]) {
    it(`x [${x.join(', ')}], W [${f.join(', ')}], stride ${stride}: a forward after W changed reads the new W (a fresh layer's bits)`, () => {
      const [FN, C, FH, FW] = f, OH = (x[2] + 2 * pad - FH) / stride + 1, OW = (x[3] + 2 * pad - FW) / stride + 1;
      expect(forwardByPositions(direct, FH, FW, OW, OH * OW, FN, C * FH * FW)).toBe(true);
      const W = tensor(f, 1), b = tensor([FN], 2), input = tensor(x, 3);
      const layer = new Convolution(W, b, stride, pad);
      layer.forward(input);
      W.set(randomArray(W.size, 4)); // an optimizer's step writes W in place
      const fresh = new Convolution(W, b, stride, pad);
      const expected = fresh.forward(input).toArray();
      expect(expected.some((v) => v !== 0)).toBe(true);
      expectBits(layer.forward(input).toArray(), expected, 'second forward against a fresh layer on the new W');
      layer.dispose(); fresh.dispose();
      for (const v of [W, b, input]) v.dispose();
    });
  }
});

describe('Convolution by positions on 2 threads', () => {
  it('each image group has a block and scratch of its own: 32 images of 64 × 196 outputs, forward and dx, the bits of one thread', async () => {
    // both threads run the GEMM into their block and scratch and transpose it out image by image, 16 images each,
    // concurrently (a shared block is a race each call loses with high probability, not certainty: several calls)
    const r2 = await makeRuntime({ threads: 2, busyCores: 'split' }); // split even while other test files busy the cores
    await r2.ready;
    const xs = [32, 64, 14, 14], fs = [64, 64, 1, 1];
    const paths = rt.unsafeKernels.convBackwardPaths(64, 14, 14, 64, 1, 1, 1, 0);
    expect(forwardByPositions(true, 1, 1, 14, 196, 64, 64)).toBe(true);
    expect(inputGradByPositions(paths, 1, 1, 14, 196, 64, 64, 64)).toBe(true);
    const x = randomArray(32 * 64 * 196, 31), w = randomArray(64 * 64, 32), bias = randomArray(64, 33), d = randomArray(32 * 64 * 196, 34);
    const [x1, w1, b1, d1] = [rt.tensor(xs, x), rt.tensor(fs, w), rt.tensor([64], bias), rt.tensor(xs, d)];
    const [x2, w2, b2, d2] = [r2.tensor(xs, x), r2.tensor(fs, w), r2.tensor([64], bias), r2.tensor(xs, d)];
    const one = new Convolution(w1, b1), two = new Convolution(w2, b2);
    const want = one.forward(x1, false, 'relu').toArray(), dxWant = one.backward(d1).toArray();
    for (let call = 0; call < 16; call++) {
      const jobs = r2.threadStats().jobs;
      expectBits(two.forward(x2, false, 'relu').toArray(), want, `forward ${call + 1} on 2 threads against 1`);
      expectBits(two.backward(d2).toArray(), dxWant, `dx ${call + 1} on 2 threads against 1`);
      expect(r2.threadStats().jobs, 'the forward, dW and db, and dx ran split').toBe(jobs + 3);
    }
    one.dispose(); two.dispose();
    for (const v of [x1, w1, b1, d1]) v.dispose();
    await r2.dispose();
  });
});

describe('Convolution: its scratch', () => {
  it('convScratchBytes asks for what the kernels use (assembly/conv.ts convScratchBytes: GEMM space and two columns, dcolᵀ and dcol)', () => {
    const k = rt.unsafeKernels;
    for (const [C, H, W, FH, FW, stride, pad] of [[8, 9, 9, 3, 3, 2, 1], [3, 11, 10, 5, 4, 3, 2], [64, 14, 14, 1, 1, 1, 0], [1, 28, 28, 5, 5, 1, 0]]) {
      const OH = Math.floor((H + 2 * pad - FH) / stride) + 1, OW = Math.floor((W + 2 * pad - FW) / stride) + 1;
      expect(convScratchBytes('test', rt, C, FH, FW, OH, OW), `[${C}, ${H}, ${W}]·${FH}×${FW} stride ${stride} pad ${pad}`)
        .toBe(k.convScratchBytes(C, H, W, FH, FW, stride, pad));
    }
  });
});

describe('Flatten', () => {
  it('a forward (and a backward) on another tensor of the same shape views that tensor, not the last one', () => {
    const f = new Flatten();
    const x1 = tensor([2, 3, 2, 2], 11), x2 = tensor([2, 3, 2, 2], 12);
    f.forward(x1);
    const y = f.forward(x2);
    expect(y.shape).toEqual([2, 12]);
    expect(y.ptr).toBe(x2.ptr);
    expectBits(y.toArray(), x2.toArray(), 'forward(x2)');
    const d1 = tensor([2, 12], 13), d2 = tensor([2, 12], 14);
    f.backward(d1);
    const dx = f.backward(d2);
    expect(dx.shape).toEqual([2, 3, 2, 2]);
    expect(dx.ptr).toBe(d2.ptr);
    expectBits(dx.toArray(), d2.toArray(), 'backward(d2)');
    f.dispose();
    for (const v of [x1, x2, d1, d2]) v.dispose();
  });

  it('an empty batch flattens to [0, d1·d2·…] (no throw), and a net with a Flatten predicts [0, classes] for it', () => {
    const x = rt.tensor([0, 2, 3, 3]), W = tensor([18, 4], 15), b = tensor([4], 16);
    const y = new Flatten().forward(x);
    expect(y.shape).toEqual([0, 18]);
    const net = new Sequential(rt, [new Flatten(), new Affine(W, b)]);
    expect(net.predict(x).shape).toEqual([0, 4]);
    net.dispose();
    for (const v of [x, W, b]) v.dispose();
  });
});

describe('Dropout', () => {
  for (const inverted of [false, true]) {
    it(`(inverted: ${inverted}) forward(x) trains, as the book's forward(x, train_flg=True): forward(x, true)'s mask and bits`, () => {
      const d = new Dropout(0.5, { inverted }), x = tensor([4, 50], 21, 0.5, 1.5);
      rt.reseed(7);
      const byDefault = d.forward(x).toArray();
      rt.reseed(7);
      const training = d.forward(x, true).toArray();
      expectBits(byDefault, training, 'forward(x) against forward(x, true)');
      expect(byDefault.some((v) => v === 0)).toBe(true); // a mask dropped some (all x are ≥ 0.5)
      d.dispose();
      x.dispose();
    });
  }
});

describe('Dropout masks', () => {
  it('depend on the runtime\'s seed: runtimes seeded 1 and 2 at the same stream position draw different masks; two seeded 1 the same', async () => {
    const masks: Float32Array[] = [];
    for (const seed of [1, 2, 1]) {
      const r = await makeRuntime({ seed });
      const d = new Dropout(0.5), x = r.tensor([256], randomArray(256, 51, 0.5, 1.5));
      r.reseed(seed);
      d.forward(x, true);
      masks.push(d.mask!.toArray());
      d.dispose(); x.dispose();
      await r.dispose();
    }
    expectBits(masks[2], masks[0], 'seed 1 twice');
    expect(Array.from(masks[1])).not.toEqual(Array.from(masks[0]));
  });
});

describe('the conv nets', () => {
  it('SimpleConvNet and DeepConvNet: every gradient is its parameter\'s slot of the net\'s gradient block (the Trainer checks that block for NaN)', () => {
    for (const net of [new SimpleConvNet(rt, { inputDim: [1, 8, 8], hiddenSize: 5, outputSize: 3 }), new DeepConvNet(rt, { inputDim: [1, 12, 12] })]) {
      const set = net.parameterSet!;
      for (const [key, p] of Object.entries(net.params)) {
        const g = net.grads[key];
        expect(g.ptr - set.gradPtr, key).toBe(p.ptr - set.paramPtr);
        expect(g.size, key).toBe(p.size);
      }
      net.dispose();
    }
  });

  it('DeepConvNet: Dropout(0.5) twice; He std √(2 / C·3·3) from each conv\'s input channels, not its filters', () => {
    rt.reseed(3);
    const net = new DeepConvNet(rt);
    expect(net.layers.filter((l) => l instanceof Dropout).map((l) => (l as Dropout).ratio)).toEqual([0.5, 0.5]);
    // W3 [32, 16, 3, 3] (4,608 samples) and W5 [64, 32, 3, 3] (18,432): their sample std within ~1% and 0.5% (1σ);
    // filters in place of channels would give 1/√2 of it
    expect(Math.abs(std(net.params.W3.data) / Math.sqrt(2 / 144) - 1)).toBeLessThan(0.04);
    expect(Math.abs(std(net.params.W5.data) / Math.sqrt(2 / 288) - 1)).toBeLessThan(0.02);
    net.dispose();
  });

  it('alexNet: torchvision\'s layer order, each conv\'s stride and pad, each pool\'s window, and options.dropout in both Dropouts', () => {
    const net: Sequential = alexNet(rt, { numClasses: 10, dropout: 0.3 });
    const described = net.layers.map((l) => {
      if (l instanceof Convolution) return `conv ${l.W.shape[0]} ${l.W.shape[2]}/${l.stride}/${l.pad}`;
      if (l instanceof Pooling) return `pool ${l.poolH}×${l.poolW}/${l.stride}/${l.pad}`;
      if (l instanceof Dropout) return `dropout ${l.ratio}`;
      return l.name;
    });
    expect(described).toEqual([
      'conv 64 11/4/2', 'Relu', 'pool 3×3/2/0',
      'conv 192 5/1/2', 'Relu', 'pool 3×3/2/0',
      'conv 384 3/1/1', 'Relu', 'conv 256 3/1/1', 'Relu', 'conv 256 3/1/1', 'Relu', 'pool 3×3/2/0',
      'Flatten',
      'dropout 0.3', 'Affine', 'Relu',
      'dropout 0.3', 'Affine', 'Relu',
      'Affine',
    ]);
    net.dispose();
  });
});
