// Dropout: the book's form and the inverted form, each in training and
// inference mode, forward and backward; masks from the seeded stream
// (reproducible, advancing the counter); fixed masks and a gradient check.
import { describe, it, expect, beforeAll } from 'vitest';
import type { Runtime } from '../src/runtime/runtime.js';
import { Dropout } from '../src/layers/index.js';
import { makeRuntime, randomArray, expectBits } from './helpers/runtime.js';
import { layerGradients, gradError } from './reference/gradcheck.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 5 }); });

const f32 = Math.fround;

describe.each([false, true])('Dropout (inverted: %s)', (inverted) => {
  const ratio = 0.3;
  const scale = inverted ? f32(1 / (1 - ratio)) : 1;

  it('training: y = x · mask with mask in {0, scale}, about 1 - ratio of the inputs kept', () => {
    const n = 100_000;
    const xv = randomArray(n, 1, -2, 2);
    const layer = new Dropout(ratio, { inverted });
    const y = layer.forward(rt.tensor([n / 100, 100], xv), true).toArray();
    const mask = layer.mask!.toArray();
    let kept = 0;
    for (let i = 0; i < n; i++) {
      expect(mask[i] === 0 || mask[i] === scale, `mask[${i}] = ${mask[i]}`).toBe(true);
      if (mask[i] !== 0) kept++;
    }
    expectBits(y, xv.map((v, i) => f32(v * mask[i])), 'y');
    // binomial: sd of the kept fraction is sqrt(0.21 / 1e5) = 0.0015; 0.01 is 6.9 sd
    expect(Math.abs(kept / n - (1 - ratio))).toBeLessThan(0.01);
  });

  it('training: backward is dout · mask', () => {
    const layer = new Dropout(ratio, { inverted });
    layer.forward(rt.tensor([4, 25], randomArray(100, 2)), true);
    const dv = randomArray(100, 3);
    const dx = layer.backward(rt.tensor([4, 25], dv)).toArray();
    const mask = layer.mask!.toArray();
    expectBits(dx, dv.map((v, i) => f32(v * mask[i])), 'dx');
  });

  it(inverted ? 'inference: identity, forward and backward' : 'inference: y = x · (1 - ratio), dx = dout · (1 - ratio)', () => {
    const layer = new Dropout(ratio, { inverted });
    const xv = randomArray(30, 4), dv = randomArray(30, 5);
    const counter = rt.randomState.counter;
    const y = layer.forward(rt.tensor([3, 10], xv), false).toArray();
    const dx = layer.backward(rt.tensor([3, 10], dv)).toArray();
    const keep = f32(1 - ratio);
    expectBits(y, inverted ? xv : xv.map((v) => f32(v * keep)), 'y');
    expectBits(dx, inverted ? dv : dv.map((v) => f32(v * keep)), 'dx');
    expect(rt.randomState.counter, 'inference draws no random numbers').toBe(counter);
  });

  it('the training-mode mean matches the inference output in expectation', () => {
    const n = 100_000;
    const layer = new Dropout(ratio, { inverted });
    const x = rt.tensor([n], new Float32Array(n).fill(1));
    const train = layer.forward(x, true).toArray().reduce((s, v) => s + v, 0) / n;
    const infer = layer.forward(x, false).toArray()[0];
    // E[y] = (1 - ratio) · scale; sd of the mean ≤ 0.0021, 0.015 is over 7 sd
    expect(Math.abs(train - infer)).toBeLessThan(0.015);
  });

  it('gradient check with a fixed mask', () => {
    const layer = new Dropout(ratio, { inverted });
    const keep = rt.tensor([4, 6], randomArray(24, 6, 0, 1).map((u) => (u > ratio ? 1 : 0)));
    layer.setMask(keep);
    const { analytic, numeric } = layerGradients(layer, rt.tensor([4, 6], randomArray(24, 7)), 1e-2);
    // linear in x: only the f32 rounding of x ± h and of y remains (measured 2.2e-6)
    expect(gradError(analytic.x, numeric.x)).toBeLessThan(1e-5);
    expectBits(layer.mask!.toArray(), keep.toArray().map((k) => k * scale), 'mask = keep · scale');
  });
});

describe('Dropout masks', () => {
  it('come from the seeded stream: reproducible after reseed, new on every call, same draws for both forms', () => {
    const x = rt.tensor([8, 50], randomArray(400, 8));
    const book = new Dropout(0.5), inv = new Dropout(0.5, { inverted: true });
    const draw = (layer: Dropout) => {
      layer.forward(x, true);
      return layer.mask!.toArray();
    };
    rt.reseed(11);
    const m1 = draw(book);
    expect(rt.randomState.counter, 'one counter per element').toBe(400);
    const m2 = draw(book);
    rt.reseed(11);
    const again = draw(book);
    rt.reseed(11);
    const invMask = draw(inv);
    expectBits(again, m1, 'mask after reseed');
    expect(Array.from(m2)).not.toEqual(Array.from(m1));
    expect(Array.from(invMask, (v) => (v === 0 ? 0 : 1))).toEqual(Array.from(m1));
  });

  it('setMask(null) returns to drawing masks', () => {
    const layer = new Dropout(0.5);
    const x = rt.tensor([2, 100], new Float32Array(200).fill(1));
    layer.setMask(rt.tensor([2, 100], new Float32Array(200).fill(1)));
    expect(layer.forward(x, true).toArray().every((v) => v === 1)).toBe(true);
    layer.setMask(null);
    expect(layer.forward(x, true).toArray().some((v) => v === 0)).toBe(true);
  });

  it('ratio 0 keeps everything in both modes', () => {
    const xv = randomArray(40, 9);
    const layer = new Dropout(0);
    expectBits(layer.forward(rt.tensor([40], xv), true).toArray(), xv, 'train');
    expectBits(layer.forward(rt.tensor([40], xv), false).toArray(), xv, 'inference');
  });

  it('rejects bad arguments with clear errors', () => {
    expect(() => new Dropout(1)).toThrow(/ratio must be in \[0, 1\), got 1/);
    expect(() => new Dropout(-0.1)).toThrow(/ratio must be in \[0, 1\)/);
    expect(() => new Dropout(0.5, { scale: 2 } as never)).toThrow(/unknown option 'scale'/);
    expect(() => new Dropout(0.5, { inverted: 1 } as never)).toThrow(/^Dropout: options\.inverted must be true or false, got number 1$/);
    const layer = new Dropout();
    expect(() => layer.backward(rt.tensor([2, 2]))).toThrow(/call forward first/);
    expect(() => layer.setMask(rt.tensor([2], [1, 0.5]))).toThrow(/keep\[1\] = 0.5; expected 0 \(drop\) or 1 \(keep\)/);
    layer.setMask(rt.tensor([2, 3]));
    expect(() => layer.forward(rt.tensor([2, 4]), true)).toThrow(/the mask fixed by setMask has shape \[2, 3\], x is \[2, 4\]/);
    layer.forward(rt.tensor([2, 3]), true);
    expect(() => layer.backward(rt.tensor([2, 2]))).toThrow(/dout must be \[2, 3\]/);
  });
});
