// layerActivations (one forward pass, every layer's output) and
// optimizeScalars (the book's 2-D optimizer comparison on plain numbers).
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray, expectBits, expectClose } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { MultiLayerNet, SGD, Adam, layerActivations, optimizeScalars } from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 8 }); });

describe('layerActivations', () => {
  it('gives every layer\'s output from one pass, the last with the bits of predict (fused)', () => {
    const net = new MultiLayerNet(rt, { inputSize: 20, hiddenSizeList: [16, 12], outputSize: 3, activation: 'sigmoid' });
    const x = rt.tensor([5, 20], randomArray(100, 2));
    const acts = layerActivations(net, x);
    expect(acts.map((a) => a.layer)).toEqual(['Affine', 'Sigmoid', 'Affine', 'Sigmoid', 'Affine']);
    expect(acts.map((a) => a.shape)).toEqual([[5, 16], [5, 16], [5, 12], [5, 12], [5, 3]]);
    for (const a of acts.filter((a) => a.layer === 'Sigmoid')) expect(a.data.every((v) => v > 0 && v < 1)).toBe(true);
    expectBits(acts[4].data, net.predict(x).toArray(), 'last output');
    expectClose(acts[1].data, Array.from(acts[0].data, (v) => 1 / (1 + Math.exp(-v))), { rtol: 1e-6 }, 'sigmoid of the affine output');
    expect(() => layerActivations(net, x, { training: true } as never)).toThrow(/^layerActivations: unknown option 'training' \(expected one of train\)$/);
    expect(() => layerActivations(net, x, { train: 1 } as never)).toThrow(/^layerActivations: train must be true or false, got number 1$/);
    net.dispose();
  });
});

describe('optimizeScalars', () => {
  const grad = ({ x, y }: Record<string, number>) => ({ x: x / 10, y: 2 * y });

  it('follows SGD on f(x, y) = x²/20 + y² step by step, in float32', () => {
    const path = optimizeScalars(rt, new SGD({ lr: 0.95 }), { x: -7, y: 2 }, grad, 30);
    expect(path).toHaveLength(31);
    expect(path[0]).toEqual({ x: -7, y: 2 });
    let x = -7, y = 2;
    for (let i = 1; i <= 30; i++) {
      // axpy in f32: p + (−lr)·g
      const gx = Math.fround(x / 10), gy = Math.fround(2 * y);
      x = Math.fround(x + Math.fround(Math.fround(-0.95) * gx));
      y = Math.fround(y + Math.fround(Math.fround(-0.95) * gy));
      expect(path[i]).toEqual({ x, y });
    }
  });

  it('moves Adam toward the minimum and frees its tensors; a bad gradient is an error', () => {
    const before = rt.memoryStats().used;
    const adam = new Adam({ lr: 0.3 });
    const path = optimizeScalars(rt, adam, { x: -7, y: 2 }, grad, 30);
    adam.dispose(); // the optimizer's state is its own
    expect(Math.hypot(path[30].x, path[30].y)).toBeLessThan(Math.hypot(-7, 2));
    expect(() => optimizeScalars(rt, new SGD(), { x: 1 }, () => ({ x: NaN }), 3)).toThrow(/gradient\(\)\.x must be a finite number, got NaN/);
    expect(rt.memoryStats().used).toBe(before);
  });
});
