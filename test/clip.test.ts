// Gradient clipping (clipGradNorm, clipGradValue and the Trainer's options of those names) against PyTorch's
// clip_grad_norm_ and clip_grad_value_ computed here in float64 from the gradients as they were: the scale
// factor maxNorm / (‖g‖ + 1e-6) applied when below 1, the values clamped to ±v; a Trainer run with clipping has
// the bits of the loop a user would write (net.gradient, clip, optimizer.update), on 1 and 2 threads.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime, randomArray, expectBits, expectClose } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { MultiLayerNet, MultiLayerNetExtend, Trainer, Adam, clipGradNorm, clipGradValue, type Optimizer, type TrainResult } from '../src/index.js';

const f32 = Math.fround;
let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 3 }); });

/** Gradients of three shapes (sizes off the SIMD width: tails), values in ±scale. */
function grads(scale: number, seed = 1): Record<string, Tensor> {
  return {
    W1: rt.tensor([7, 5], randomArray(35, seed, -scale, scale)),
    b1: rt.tensor([5], randomArray(5, seed + 1, -scale, scale)),
    W2: rt.tensor([5, 3], randomArray(15, seed + 2, -scale, scale)),
  };
}
const copy = (g: Record<string, Tensor>) => Object.fromEntries(Object.entries(g).map(([k, t]) => [k, t.toArray()]));
const dispose = (g: Record<string, Tensor>) => { for (const t of Object.values(g)) t.dispose(); };

/** PyTorch's clip_grad_norm_ in float64: the total norm, and the factor applied (1: none). */
function torchClipNorm(g: Record<string, Float32Array>, maxNorm: number) {
  let sum = 0;
  for (const a of Object.values(g)) for (const v of a) sum += v * v;
  const total = Math.sqrt(sum);
  return { total, coef: Math.min(maxNorm / (total + 1e-6), 1) };
}

describe('clipGradNorm: PyTorch\'s clip_grad_norm_', () => {
  it('scales every gradient by maxNorm / (‖g‖ + 1e-6) when that is below 1, returning ‖g‖ before (float64 reference)', () => {
    for (const [scale, maxNorm] of [[1, 0.5], [1, 3], [1e-3, 1e-4], [30, 1]]) {
      const g = grads(scale);
      const before = copy(g);
      const ref = torchClipNorm(before, maxNorm);
      expect(ref.coef, 'the case clips').toBeLessThan(1);
      const total = clipGradNorm(g, maxNorm);
      // each square exact in float64, summed in another order: within a few ulps of float64
      expectClose([total], [ref.total], { rtol: 1e-15 }, 'the total norm');
      for (const k of Object.keys(g)) {
        // the factor goes to the kernel as a float32 (as PyTorch's float32 clip_coef), then one float32 product
        expectBits(g[k].toArray(), before[k].map((v) => f32(f32(ref.coef) * v)), `${k} at maxNorm ${maxNorm}`);
      }
      let after = 0;
      for (const t of Object.values(g)) for (const v of t.toArray()) after += v * v;
      expectClose([Math.sqrt(after)], [maxNorm * ref.total / (ref.total + 1e-6)], { rtol: 1e-6 }, 'the norm after');
      dispose(g);
    }
  });

  it('leaves gradients within maxNorm bit for bit, and non-finite ones as they are (total NaN or Infinity)', () => {
    const g = grads(0.01);
    const before = copy(g);
    const { total } = torchClipNorm(before, 1);
    expectClose([clipGradNorm(g, 1)], [total], { rtol: 1e-15 }, 'total');
    for (const k of Object.keys(g)) expectBits(g[k].toArray(), before[k], k);
    for (const bad of [NaN, Infinity]) {
      g.b1.data[2] = bad;
      const kept = copy(g);
      const t = clipGradNorm(g, 1e-3);
      expect(Number.isFinite(t), `a ${bad} gradient`).toBe(false);
      for (const k of Object.keys(g)) expectBits(g[k].toArray(), kept[k], `${k} beside a ${bad}`);
    }
    expect(clipGradNorm({}, 1)).toBe(0);
    dispose(g);
  });
});

describe('clipGradValue: PyTorch\'s clip_grad_value_', () => {
  it('clamps every element to [−v, v] (v as a float32), leaving the rest and NaN as they are', () => {
    const g = grads(2);
    g.W2.data[4] = NaN;
    const before = copy(g);
    const v = 0.3; // not a float32: the bound is its float32, as PyTorch's clamp on a float32 tensor
    clipGradValue(g, v);
    for (const k of Object.keys(g)) {
      const got = g[k].toArray(), want = before[k];
      for (let i = 0; i < want.length; i++) {
        const expected = Number.isNaN(want[i]) ? NaN : Math.min(Math.max(want[i], -f32(v)), f32(v));
        if (!Object.is(got[i], expected) && !(Number.isNaN(got[i]) && Number.isNaN(expected))) expect.fail(`${k}[${i}]: ${got[i]}, expected ${expected} from ${want[i]}`);
      }
    }
    expect(before.W1.some((x) => Math.abs(x) > v) && before.W1.some((x) => Math.abs(x) < v), 'W1 has values either side of v').toBe(true);
    dispose(g);
  });
});

describe('bad input: a named error, nothing written', () => {
  it('refuses a bound that is no positive finite number, and gradients that are not live float tensors of one runtime or share memory; the tensors around stay as they were', async () => {
    const g = grads(5);
    const canary = rt.tensor([9], randomArray(9, 50));
    const kept: Record<string, Float32Array> = { ...copy(g), canary: canary.toArray() };
    const other = await makeRuntime({ seed: 1 });
    const foreign = other.tensor([3], [9, 9, 9]);
    const dead = rt.tensor([3], [9, 9, 9]);
    dead.dispose();
    const view = g.W1.reshape([35]);
    for (const [fn, name] of [[clipGradNorm, 'maxNorm'], [clipGradValue, 'clipValue']] as const) {
      const who = fn === clipGradNorm ? 'clipGradNorm' : 'clipGradValue';
      for (const bad of [0, -1, NaN, Infinity]) expect(() => fn(g, bad)).toThrow(new RangeError(`${who}: ${name} must be a positive finite number, got ${bad}`));
      expect(() => fn(g, '1' as never)).toThrow(TypeError);
      expect(() => fn(null as never, 1)).toThrow(new TypeError(`${who}: grads must be an object of Tensors keyed by name (net.gradient()'s result), got null`));
      expect(() => fn({ ...g, x: foreign }, 1e-3)).toThrow(`${who}: grads['x']: tensor [3] belongs to another runtime`);
      expect(() => fn({ ...g, x: dead }, 1e-3)).toThrow(`${who}: grads['x']: tensor [3] used after dispose()`);
      expect(() => fn({ ...g, x: rt.labels([1], [0]) as never }, 1e-3)).toThrow(`${who}: grads['x']: expected a float32 Tensor, got an IntTensor`);
      expect(() => fn({ ...g, again: view }, 1e-3)).toThrow(`${who}: grads['W1'] and grads['again'] share memory (a tensor given twice would be clipped twice)`);
    }
    for (const k of Object.keys(g)) expectBits(g[k].toArray(), kept[k], k);
    expectBits(canary.toArray(), kept.canary, 'the canary');
    dispose(g); canary.dispose(); other.dispose();
  });

  it('the Trainer refuses a clipGradNorm or clipGradValue that is none, naming it', () => {
    const net = new MultiLayerNet(rt, { inputSize: 2, hiddenSizeList: [4], outputSize: 2 });
    const d = blobs(rt, 20, 1);
    for (const name of ['clipGradNorm', 'clipGradValue'] as const) {
      expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { [name]: 0 })).toThrow(new RangeError(`Trainer: ${name} must be a positive finite number, got 0`));
      expect(() => new Trainer(net, d.x, d.t, d.x, d.t, { [name]: '1' as never })).toThrow(new TypeError(`Trainer: ${name} must be a positive finite number, got the string "1"`));
    }
    net.dispose();
  });
});

/** A run's record without its wall times, which no two runs share. */
const record = (r: TrainResult) => ({ ...r, seconds: 0, epochs: r.epochs.map((e) => ({ ...e, seconds: 0 })) });

describe('the Trainer clips every step as a hand-written loop does', () => {
  // batch norm, dropout and weight decay (whose term the gradient holds, as Keras's regulariser's): the clip sees
  // the gradient the update would. The loop's clip runs in its optimizer's update, between net.gradient() and
  // Adam's step, as `clip_grad_norm_` between PyTorch's backward() and step().
  async function run(threads: number, options: { clipGradNorm?: number; clipGradValue?: number }, byHand: boolean) {
    const r = await makeRuntime({ seed: 21, threads, busyCores: 'split' }); // split even while other test files busy the cores
    await r.ready;
    // 256 × 256 weights at 48 rows: GEMMs big enough to split on 2 threads
    const net = new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [256, 256], outputSize: 2, useBatchnorm: true, useDropout: true, dropoutRatio: 0.1, weightDecayLambda: 1e-3 });
    const d = blobs(r, 96, 1);
    const adam = new Adam({ lr: 0.05 });
    const norms: number[] = [];
    const loop: Optimizer & { lr: number } = {
      name: 'clipped Adam',
      lr: adam.lr, // recorded per epoch
      update(params, grads) {
        if (options.clipGradValue !== undefined) clipGradValue(grads, options.clipGradValue);
        if (options.clipGradNorm !== undefined) norms.push(clipGradNorm(grads, options.clipGradNorm));
        adam.update(params, grads);
      },
    };
    const jobs = r.threadStats().jobs;
    // each step's event: the rate it used and, with clipGradNorm, the norm before clipping
    const events: Array<{ lr: number | null; gradNorm?: number }> = [];
    const trainer = new Trainer(net, d.x, d.t, d.x, d.t, {
      epochs: 6, miniBatchSize: 48, adaptiveThreads: false, ...(byHand ? { optimizer: loop } : { optimizer: adam, ...options }),
      callbacks: { onStepEnd: ({ lr, gradNorm }) => { events.push(gradNorm === undefined ? { lr } : { lr, gradNorm }); } },
    });
    const result = trainer.train();
    const params = net.exportParams();
    const split = r.threadStats().jobs - jobs;
    trainer.dispose(); adam.dispose(); net.dispose(); r.dispose();
    return { result, params, norms, split, events };
  }

  for (const clip of [{ clipGradNorm: 0.2 }, { clipGradValue: 0.05 }, { clipGradValue: 0.1, clipGradNorm: 0.15 }]) {
    it(`${JSON.stringify(clip)}: the loop's bits, on 1 and 2 threads (the values clamped first)`, async () => {
      const want = await run(1, clip, true);
      const plain = await run(1, {}, true);
      if (clip.clipGradNorm !== undefined) expect(want.norms.filter((n) => n > clip.clipGradNorm).length, 'steps the norm clipped').toBeGreaterThan(3);
      expect(record(plain.result), 'clipping changed the run').not.toEqual(record(want.result));
      for (const threads of [1, 2]) {
        const got = await run(threads, clip, false);
        if (threads === 2) expect(got.split, 'calls split across the 2 threads').toBeGreaterThan(0);
        expect(record(got.result), `${threads} threads`).toEqual(record(want.result));
        // StepEvent.gradNorm: the norm clipGradNorm returned in the loop, before clipping; absent without clipGradNorm
        expect(got.events, `${threads} threads: step events`).toEqual(want.events.map((_, i) => clip.clipGradNorm === undefined ? { lr: 0.05 } : { lr: 0.05, gradNorm: want.norms[i] }));
        for (const k of Object.keys(want.params)) expectBits(got.params[k].data, want.params[k].data, `${k} on ${threads} threads`);
      }
    });
  }
});
