// The conv nets: SimpleConvNet (gradient vs central differences), DeepConvNet
// (the book's layout and init; a small one learns), AlexNet (torchvision's
// stack: parameter count, shapes, one forward/backward), and a user stack.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { SimpleConvNet, DeepConvNet, deepConvNetParams, alexNet, Sequential, Convolution, Tanh, Pooling, Flatten, Affine, Trainer, createOptimizer, Dropout } from '../src/index.js';
import { gradError } from './reference/gradcheck.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 5 }); });

const shapes = (net: Sequential) => Object.fromEntries(Object.entries(net.params).map(([k, p]) => [k, p.shape]));
const paramCount = (net: Sequential) => Object.values(net.params).reduce((n, p) => n + p.size, 0);
const std = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);

describe('SimpleConvNet', () => {
  it('has the book\'s layers, keys and shapes (ch07 defaults)', () => {
    const net = new SimpleConvNet(rt);
    expect(net.layers.map((l) => l.name)).toEqual(['Convolution', 'Relu', 'Pooling', 'Affine', 'Relu', 'Affine']);
    expect(shapes(net)).toEqual({ W1: [30, 1, 5, 5], b1: [30], W2: [30 * 12 * 12, 100], b2: [100], W3: [100, 10], b3: [10] });
    // weight_init_std 0.01 for every weight; 432,000 samples in W2
    expect(Math.abs(std(net.params.W2.data) / 0.01 - 1)).toBeLessThan(0.01);
    expect([...net.params.b1.data].every((v) => v === 0)).toBe(true);
    const y = net.predict(rt.tensor([3, 1, 28, 28], randomArray(3 * 784, 1, 0, 1)));
    expect(y.shape).toEqual([3, 10]);
    net.dispose();
  });

  it('gradient matches numericalGradient on [2, 1, 8, 8] input', () => {
    rt.reseed(5);
    const net = new SimpleConvNet(rt, {
      inputDim: [1, 8, 8], convParam: { filterNum: 3, filterSize: 3, pad: 1, stride: 1 },
      hiddenSize: 6, outputSize: 4, weightInitStd: 0.3,
    });
    const x = rt.tensor([2, 1, 8, 8], randomArray(128, 2));
    const t = [1, 3];
    // f32 loss: rounding ~1e-7·loss/h ≈ 1e-4 per entry; a small h keeps the
    // ReLU kinks and pooling switches out of reach (measured worst 2e-4)
    const num = net.numericalGradient(x, t, 1e-3);
    const grads = net.gradient(x, t);
    expect(Object.keys(grads)).toEqual(['W1', 'b1', 'W2', 'b2', 'W3', 'b3']);
    for (const key of Object.keys(grads)) expect(gradError(grads[key].data, num[key]), key).toBeLessThan(2e-3);
    net.dispose();
  });

  it('names the net, the option and the layer when the input is too small for the filter', () => {
    expect(() => new SimpleConvNet(rt, { inputDim: [1, 4, 4] })).toThrow(/SimpleConvNet: convParam \(layer 1\): a 5×5 filter with pad 0 does not fit a 4×4 input/);
    expect(() => new SimpleConvNet(rt, { inputDim: [1, 28] })).toThrow(/inputDim must be \[C, H, W\]/);
    expect(() => new SimpleConvNet(rt, { hidden: 10 } as object)).toThrow(/SimpleConvNet: unknown option 'hidden'/);
  });
});

describe('a conv net\'s input shape', () => {
  it('is checked by every entry before any layer runs: the error names the entry and the shape the net takes', () => {
    const net = new SimpleConvNet(rt, { inputDim: [1, 10, 10], convParam: { filterNum: 3, filterSize: 3 }, hiddenSize: 4, outputSize: 3 });
    expect(net.inputShape).toEqual([1, 10, 10]);
    const good = rt.tensor([2, 1, 10, 10], randomArray(200, 3, 0, 1));
    const t = [0, 2];
    const before = net.predict(good).toArray();
    const canaries = new Canaries(rt);
    const frozen = net.freeze();
    const bad = [[2, 1, 10, 9], [2, 1, 9, 10], [2, 2, 10, 10], [2, 100], [2, 1, 10, 10, 1], [200]].map((shape) => between(canaries, () => rt.tensor(shape)));
    const labels = new Map(bad.map((x) => [x, rt.labels([x.shape[0]])]));
    const stats = rt.memoryStats();
    for (const x of bad) {
      const got = `got \\[${x.shape.join(', ')}\\]`;
      for (const [what, call] of [
        ['predict', () => net.predict(x)], ['loss', () => net.loss(x, t)], ['accuracy', () => net.accuracy(x, t)],
        ['evaluate', () => net.evaluate(x, t)], ['gradient', () => net.gradient(x, t)], ['FrozenNet.predict', () => frozen.predict(x)],
      ] as const) {
        expect(call, `${what} ${x.shape}`).toThrow(new RegExp(`^${what}: x must be \\[N, 1, 10, 10\\] \\(the net's input\\), ${got}$`));
      }
      if (x.shape.length < 2) continue; // the Trainer asks for rows first
      expect(() => new Trainer(net, x, labels.get(x)!, good, t)).toThrow(new RegExp(`Trainer: xTrain must be \\[N, 1, 10, 10\\] .*${got}`));
      // t (plain labels, which tTrain does not take) is never read: xTest is refused first
      expect(() => new Trainer(net, good, t as never, x, labels.get(x)!)).toThrow(new RegExp(`Trainer: xTest must be \\[N, 1, 10, 10\\] .*${got}`));
    }
    expect(rt.memoryStats().blocks).toBe(stats.blocks);
    expect(canaries.changed()).toBe(0);
    expect(net.predict(good).toArray()).toEqual(before);
    expect(net.predict(rt.tensor([0, 1, 10, 10])).shape).toEqual([0, 3]);
    expect(() => new Sequential(rt, [], { inputShape: [1, 0] })).toThrow(/inputShape: expected one sample's dimensions as positive integers, got \[1,0\]/);
    frozen.dispose();
    net.dispose();
  });

  it('is the conv nets\' inputDim, and AlexNet\'s [3, 224, 224]; an MLP takes any x that flattens to its input', () => {
    const deep = new DeepConvNet(rt, { inputDim: [1, 12, 12], hiddenSize: 4, outputSize: 3 });
    expect(deep.inputShape).toEqual([1, 12, 12]);
    expect(() => deep.predict(rt.tensor([1, 1, 28, 28]))).toThrow(/^predict: x must be \[N, 1, 12, 12\] \(the net's input\), got \[1, 1, 28, 28\]$/);
    deep.dispose();
    const alex = alexNet(rt, { numClasses: 2, labelSmoothing: 0.1 });
    expect(alex.inputShape).toEqual([3, 224, 224]);
    expect(alex.lastLayer.labelSmoothing).toBe(0.1);
    alex.dispose();
    const mlp = new Sequential(rt, [new Affine(rt.tensor([4, 2]), rt.tensor([2]))]);
    expect(mlp.inputShape).toBe(null);
    expect(mlp.predict(rt.tensor([3, 1, 2, 2])).shape).toEqual([3, 2]);
    mlp.dispose();
  });
});

describe('DeepConvNet', () => {
  it('has the book\'s ch08 layout, keys, shapes and He init from each fan-in', () => {
    const net = new DeepConvNet(rt);
    const conv = ['Convolution', 'Relu'];
    expect(net.layers.map((l) => l.name)).toEqual([
      ...conv, ...conv, 'Pooling', ...conv, ...conv, 'Pooling', ...conv, ...conv, 'Pooling',
      'Affine', 'Relu', 'Dropout', 'Affine', 'Dropout',
    ]);
    expect(shapes(net)).toEqual({
      W1: [16, 1, 3, 3], b1: [16], W2: [16, 16, 3, 3], b2: [16], W3: [32, 16, 3, 3], b3: [32], W4: [32, 32, 3, 3], b4: [32],
      W5: [64, 32, 3, 3], b5: [64], W6: [64, 64, 3, 3], b6: [64], W7: [64 * 4 * 4, 50], b7: [50], W8: [50, 10], b8: [10],
    });
    expect(paramCount(net)).toBe(123552);
    // the book's pre_node_nums: 64·3·3 for W6 (36,864 samples), 64·4·4 for W7 (51,200)
    expect(Math.abs(std(net.params.W6.data) / Math.sqrt(2 / 576) - 1)).toBeLessThan(0.02);
    expect(Math.abs(std(net.params.W7.data) / Math.sqrt(2 / 1024) - 1)).toBeLessThan(0.02);
    expect(net.predict(rt.tensor([2, 1, 28, 28])).shape).toEqual([2, 10]);
    net.dispose();
  });

  it('a small one with Adam halves its loss on a tiny subset within 30 steps', () => {
    rt.reseed(11);
    const net = new DeepConvNet(rt, { inputDim: [1, 12, 12], outputSize: 4 });
    // 16 images in 4 classes: a bright 4×4 block in the class's quadrant over noise
    const N = 16;
    const labels = Array.from({ length: N }, (_, i) => i % 4);
    const pixels = randomArray(N * 144, 3, 0, 0.3);
    labels.forEach((c, i) => {
      const y0 = c < 2 ? 1 : 7, x0 = c % 2 === 0 ? 1 : 7;
      for (let y = y0; y < y0 + 4; y++) for (let x = x0; x < x0 + 4; x++) pixels[i * 144 + y * 12 + x] += 1;
    });
    const x = rt.tensor([N, 1, 12, 12], pixels);
    const optimizer = createOptimizer('adam', { lr: 0.003 });
    const before = net.loss(x, labels);
    for (let step = 0; step < 30; step++) {
      net.gradient(x, labels);
      optimizer.update(net.params, net.grads);
    }
    expect(net.loss(x, labels)).toBeLessThan(before / 2);
    expect(net.accuracy(x, labels)).toBe(1);
    net.dispose();
  });

  // predict() fuses each Convolution + Relu (and Affine + Relu) pair: bias and
  // ReLU run on each image's output right after its GEMM
  it('fused Convolution + ReLU: the bits of the layers run one by one, forward and backward', () => {
    const net = new DeepConvNet(rt, { inputDim: [1, 12, 12], outputSize: 10 });
    const x = rt.tensor([3, 1, 12, 12], randomArray(3 * 144, 31));
    const t = [1, 4, 7];
    rt.reseed(9);
    const fused = net.predict(x, true).toArray();
    rt.reseed(10);
    const grads = Object.fromEntries(Object.entries(net.gradient(x, t)).map(([key, g]) => [key, g.toArray()]));
    rt.reseed(9); // the same dropout masks
    let h = x;
    for (const layer of net.layers) h = layer.forward(h, true);
    expect(Array.from(h.toArray())).toEqual(Array.from(fused));
    rt.reseed(10);
    h = x;
    for (const layer of net.layers) h = layer.forward(h, true);
    net.lastLayer.forward(h, t);
    let d = net.lastLayer.backward();
    for (const layer of [...net.layers].reverse()) d = layer.backward(d);
    for (const [key, g] of Object.entries(net.grads)) expect(Array.from(g.toArray()), key).toEqual(Array.from(grads[key]));
    // gradient() took only dW and db from the first convolution: backward() gives the same and dx
    const conv1 = net.layers[0] as Convolution;
    expect(Array.from(conv1.dW.toArray())).toEqual(Array.from(grads.W1));
    let dd = net.lastLayer.backward();
    for (const layer of net.layers.slice(1).reverse()) dd = layer.backward(dd);
    expect(conv1.backward(dd).shape).toEqual([3, 1, 12, 12]);
    expect(() => (net.layers[0] as Convolution).forward(x, false, 'gelu' as 'relu')).toThrow(/Convolution.forward: act must be one of none, relu, sigmoid, tanh, got 'gelu'/);
    net.dispose();
    x.dispose();
  });

  it('rejects a wrong number of conv params and unknown options', () => {
    expect(() => new DeepConvNet(rt, { convParams: [] })).toThrow(/DeepConvNet: convParams must list 6 conv layers, got 0/);
    expect(() => new DeepConvNet(rt, { outputsize: 10 } as object)).toThrow(/DeepConvNet: unknown option 'outputsize'/);
  });
});

describe('alexNet', () => {
  // One net for both checks: its 61M parameters take seconds to initialise.
  it('builds torchvision\'s stack (61,100,840 parameters for 1000 classes) and runs forward and backward for a batch of 2', () => {
    const net = alexNet(rt, { numClasses: 1000 });
    expect(paramCount(net)).toBe(61100840);
    expect(shapes(net)).toEqual({
      W1: [64, 3, 11, 11], b1: [64], W2: [192, 64, 5, 5], b2: [192], W3: [384, 192, 3, 3], b3: [384],
      W4: [256, 384, 3, 3], b4: [256], W5: [256, 256, 3, 3], b5: [256],
      W6: [9216, 4096], b6: [4096], W7: [4096, 4096], b7: [4096], W8: [4096, 1000], b8: [1000],
    });
    // torchvision's classifier: Dropout(p=0.5) before each of the first two Linear layers
    expect(net.layers.filter((l) => l instanceof Dropout).map((l) => (l as Dropout).ratio)).toEqual([0.5, 0.5]);
    const x = rt.tensor([2, 3, 224, 224], randomArray(2 * 3 * 224 * 224, 4, 0, 1));
    const grads = net.gradient(x, [3, 777]);
    expect(Number.isFinite(net.lastLoss)).toBe(true);
    for (const key of ['W1', 'W5', 'W6', 'W8']) {
      const g = grads[key];
      expect(rt.unsafeKernels.hasNonFinite(g.ptr, g.size), key).toBe(0);
      expect(rt.unsafeKernels.sumSquares(g.ptr, g.size), key).toBeGreaterThan(0);
    }
    expect(net.predict(x).shape).toEqual([2, 1000]);
    x.dispose();
    net.dispose();
  });

  it('checks its options before allocating anything', () => {
    const before = rt.memoryStats().used;
    expect(() => alexNet(rt, { dropout: 1 })).toThrow(new RangeError('alexNet: dropout must be in [0, 1), got 1'));
    expect(() => alexNet(rt, { numClasses: 0 })).toThrow(new RangeError('alexNet: numClasses must be a positive integer, got 0'));
    expect(() => alexNet(rt, { classes: 10 } as object)).toThrow(/alexNet: unknown option 'classes'/);
    expect(rt.memoryStats().used).toBe(before);
  });
});

describe('the conv nets name the option a bad value came from, before allocating anything', () => {
  it.each([
    ['DeepConvNet outputSize', () => new DeepConvNet(rt, { outputSize: 0 }), 'DeepConvNet: outputSize must be a positive integer, got 0'],
    ['DeepConvNet hiddenSize', () => new DeepConvNet(rt, { hiddenSize: 1.5 }), 'DeepConvNet: hiddenSize must be a positive integer, got 1.5'],
    ['DeepConvNet convParams', () => new DeepConvNet(rt, { convParams: deepConvNetParams.map((p, i) => (i === 2 ? { ...p, filterNum: 0 } : p)) }),
      'DeepConvNet: convParams[2] (layer 6): filterNum must be a positive integer, got 0'],
    ['SimpleConvNet hiddenSize', () => new SimpleConvNet(rt, { hiddenSize: -1 }), 'SimpleConvNet: hiddenSize must be a positive integer, got -1'],
    ['SimpleConvNet outputSize', () => new SimpleConvNet(rt, { outputSize: 0 }), 'SimpleConvNet: outputSize must be a positive integer, got 0'],
    ['SimpleConvNet convParam', () => new SimpleConvNet(rt, { convParam: { filterNum: 0, filterSize: 5 } }), 'SimpleConvNet: convParam (layer 1): filterNum must be a positive integer, got 0'],
  ])('%s', (_, make, message) => {
    const before = rt.memoryStats().used;
    expect(make).toThrow(new RangeError(message));
    expect(rt.memoryStats().used).toBe(before);
  });
});

describe('Sequential of conv layers', () => {
  it('keys a user stack like the book and trains it through the same interface', () => {
    rt.reseed(6);
    const W1 = rt.randn(rt.tensor([4, 1, 3, 3]), 0.3), b1 = rt.tensor([4]);
    const W2 = rt.randn(rt.tensor([4 * 3 * 3, 3]), 0.3), b2 = rt.tensor([3]);
    const net = new Sequential(rt, [new Convolution(W1, b1, 1, 1), new Tanh(), new Pooling(2, 2, 2, 0, { mode: 'avg' }), new Flatten(), new Affine(W2, b2)]);
    expect(Object.keys(net.params)).toEqual(['W1', 'b1', 'W2', 'b2']);
    const x = rt.tensor([3, 1, 6, 6], randomArray(108, 6));
    const t = [0, 1, 2];
    // Tanh and average pooling make the loss smooth: no ReLU kink or max-pool
    // switch within h to upset central differences (measured worst 6e-4)
    const num = net.numericalGradient(x, t, 1e-3);
    const grads = net.gradient(x, t);
    for (const key of Object.keys(grads)) expect(gradError(grads[key].data, num[key]), key).toBeLessThan(2e-3);
    net.dispose();
  });
});
