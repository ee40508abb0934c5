// Optimizers: assembly/optim.ts kernels against their scalar Refs, every
// optimizer against float64 references written from the book's
// common/optimizer.py (AdaDelta: Zeiler 2012 / PyTorch; AdamW: PyTorch), the
// book's f(x, y) = x²/20 + y² comparison, the one-call contiguous step, state
// export/restore, and errors.
import { describe, it, expect, beforeAll } from 'vitest';
import type { TestKernels } from '../build/test/kernels-test.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { ParameterSet } from '../src/nets/parameters.js';
import { slotPlacement } from '../src/optim/state.js';
import { GUARDED_OPS } from '../src/optim/optimizer.js';
import {
  AdaDelta, AdaGrad, Adam, AdamW, Momentum, Nesterov, RMSprop, SGD,
  createOptimizer, optimizerDefaults, optimizerNames, type ElementwiseOptimizer, type OptimizerName,
} from '../src/index.js';
import { makeTestRuntime, lengths, randomArray, expectBits, expectClose, type TestRuntime } from './helpers/runtime.js';

let rt: TestRuntime;
beforeAll(async () => { rt = await makeTestRuntime(); });

type Kernel = (...args: number[]) => void;
const kernel = (k: TestKernels, name: string): Kernel => (k as unknown as Record<string, Kernel>)[name];

// ---- kernels: SIMD vs scalar Ref, bit for bit

interface KernelCase { name: string; slots: number; scalars: number[] }
const kernelCases: KernelCase[] = [
  { name: 'momentumStep', slots: 1, scalars: [0.05, 0.9] },
  { name: 'nesterovStep', slots: 1, scalars: [0.05, 0.9] },
  { name: 'adagradStep', slots: 1, scalars: [0.1, 1e-7] },
  { name: 'rmspropStep', slots: 1, scalars: [0.01, 0.99, 0.01, 1e-7] },
  { name: 'adadeltaStep', slots: 2, scalars: [1, 0.95, 0.05, 1e-6] },
  { name: 'adamStep', slots: 2, scalars: [0.003, 0.1, 0.001, 1e-7] },
  { name: 'adamwStep', slots: 2, scalars: [0.999, 0.01, 0.05, 0.1, 0.999, 0.001, 1e-8] },
];
const SENTINEL = 4242.5;

describe.each(kernelCases)('$name', ({ name, slots, scalars }) => {
  it('equals its scalar Ref bit for bit at every length, and writes nothing past n', () => {
    for (const n of lengths) {
      // param, state slots (non-zero: a later step), grad; each followed by 4 sentinels
      const init = [randomArray(n, n + 1), ...Array.from({ length: slots }, (_, s) => randomArray(n, 100 + s + n, 0, 0.5))];
      const g = rt.tensor([n], randomArray(n, 7 * n + 3));
      const run = (which: string) => {
        const ts = init.map((values) => {
          const t = rt.tensor([n + 4]);
          t.data.fill(SENTINEL);
          t.data.set(values);
          return t;
        });
        kernel(rt.unsafeKernels, which)(...ts.map((t) => t.ptr), g.ptr, n, ...scalars);
        kernel(rt.unsafeKernels, which)(...ts.map((t) => t.ptr), g.ptr, n, ...scalars);
        const out = ts.map((t) => t.toArray());
        ts.forEach((t) => t.dispose());
        return out;
      };
      const simd = run(name);
      const ref = run(`${name}Ref`);
      simd.forEach((a, i) => {
        expectBits(a, ref[i], `${name} n=${n} output ${i}`);
        expect(Array.from(a.subarray(n)), `${name} n=${n} output ${i} past the end`).toEqual([SENTINEL, SENTINEL, SENTINEL, SENTINEL]);
      });
      g.dispose();
    }
  });
});

// ---- the Trainer's guarded update of one range (assembly/guarded.ts): save, check, step, check

describe('guardedStep', () => {
  const cases: KernelCase[] = [{ name: 'axpy', slots: 0, scalars: [-0.05] }, ...kernelCases];
  /** The kernel's own arguments, in its order: axpy(y, x, a, n), the others (param, state slots…, grad, n, scalars…). */
  const argsOf = (c: KernelCase, p: number, state: number[], g: number, n: number) =>
    c.name === 'axpy' ? [p, g, c.scalars[0], n] : [p, ...state, g, n, ...c.scalars];
  /** A range of n params with its state slots (slotBytes apart), gradients and backups, each followed by 4 sentinels. */
  const range = (c: KernelCase, n: number, g: ArrayLike<number>, seed: number) => {
    const pad = n + 4;
    const params = rt.tensor([pad]), grads = rt.tensor([pad]), state = rt.tensor([Math.max(1, c.slots) * pad]);
    const pSaved = rt.tensor([pad]), sSaved = rt.tensor([Math.max(1, c.slots) * pad]);
    for (const t of [params, grads, state, pSaved, sSaved]) t.data.fill(SENTINEL);
    params.data.set(randomArray(n, seed));
    grads.data.set(g);
    for (let s = 0; s < c.slots; s++) state.data.set(randomArray(n, seed + 1 + s, 0, 0.5), s * pad);
    const slot = (s: number) => state.ptr + 4 * pad * s;
    return { pad, params, grads, state, pSaved, sSaved, slot, all: [params, grads, state, pSaved, sSaved] };
  };
  // flag, p, s, slotBytes, slots, g, n, pDst, sDst, then the kernel's arguments (`g`: where they read the gradients)
  const guardedCall = (c: KernelCase, r: ReturnType<typeof range>, n: number, g = r.grads.ptr): { flag: number; saved: number } => {
    const d = rt.tensor([48]);
    try {
      const f64 = new Float64Array(rt.memory.buffer, d.ptr, 24);
      const state = Array.from({ length: c.slots }, (_, s) => r.slot(s));
      f64.set([-1, r.params.ptr, r.state.ptr, 4 * r.pad, c.slots, g, n, r.pSaved.ptr, r.sSaved.ptr, ...argsOf(c, r.params.ptr, state, g, n)]);
      try {
        rt.unsafeKernels.guardedStep(GUARDED_OPS[c.name as keyof typeof GUARDED_OPS]!, d.ptr);
      } catch (e) {
        throw Object.assign(e as Error, { saved: new Int32Array(rt.memory.buffer, d.ptr, 2)[1] });
      }
      const [flag, saved] = new Int32Array(rt.memory.buffer, d.ptr, 2);
      return { flag, saved };
    } finally {
      d.dispose();
    }
  };
  const guarded = (c: KernelCase, r: ReturnType<typeof range>, n: number): number => {
    const { flag, saved } = guardedCall(c, r, n);
    expect(saved, `${c.name} n=${n}: floats saved`).toBe(n);
    return flag;
  };

  it.each(cases)('$name: saves the range, steps it with the bits of the kernel called alone, flags nothing; writes nothing past n', (c) => {
    for (const n of lengths) {
      const g = randomArray(n, 5 * n + 1);
      const direct = range(c, n, g, n + 11);
      const initial = { params: direct.params.toArray(), state: direct.state.toArray() };
      kernel(rt.unsafeKernels, c.name)(...argsOf(c, direct.params.ptr, Array.from({ length: c.slots }, (_, s) => direct.slot(s)), direct.grads.ptr, n));
      const r = range(c, n, g, n + 11);
      expect(guarded(c, r, n), `${c.name} n=${n}: flag`).toBe(0);
      expectBits(r.params.toArray(), direct.params.toArray(), `${c.name} n=${n}: params`);
      expectBits(r.state.toArray(), direct.state.toArray(), `${c.name} n=${n}: state`);
      expectBits(r.pSaved.toArray().subarray(0, n), initial.params.subarray(0, n), `${c.name} n=${n}: saved params`);
      for (let s = 0; s < c.slots; s++) {
        const at = s * r.pad;
        expectBits(r.sSaved.toArray().subarray(at, at + n), initial.state.subarray(at, at + n), `${c.name} n=${n}: saved slot ${s}`);
      }
      expect(Array.from(r.pSaved.toArray().subarray(n, n + 4)), `${c.name} n=${n}: past the saved params`).toEqual([SENTINEL, SENTINEL, SENTINEL, SENTINEL]);
      for (const t of [...direct.all, ...r.all]) t.dispose();
    }
  });

  it.each(cases)('$name: NaN/Inf gradients are flagged (1) and the range is saved but not stepped; a parameter left ±Inf by the step is flagged (2)', (c) => {
    for (const n of [1, 7, 67]) {
      for (const [at, bad] of [[0, NaN], [n - 1, Infinity], [n >> 1, -Infinity]] as const) {
        const g = randomArray(n, 3 * n + at);
        g[at] = bad;
        const r = range(c, n, g, n + 5);
        const before = { params: r.params.toArray(), state: r.state.toArray() };
        expect(guarded(c, r, n), `${c.name} n=${n}: ${bad} gradient at ${at}`).toBe(1);
        expectBits(r.params.toArray(), before.params, `${c.name} n=${n}: params not stepped`);
        expectBits(r.state.toArray(), before.state, `${c.name} n=${n}: state not stepped`);
        expectBits(r.pSaved.toArray().subarray(0, n), before.params.subarray(0, n), `${c.name} n=${n}: saved anyway`);
        r.all.forEach((t) => t.dispose());
      }
      const r = range(c, n, randomArray(n, 9 * n), n + 6);
      r.params.data[n - 1] = Infinity;
      expect(guarded(c, r, n), `${c.name} n=${n}: an infinite parameter after the step`).toBe(2);
      r.all.forEach((t) => t.dispose());
    }
  });

  // assembly/guarded.ts CHUNK: a range goes through in chunks of this many floats
  const CHUNK = 32768;
  const N = 2 * CHUNK + 37;
  /** The kernel alone on a copy of r's first `m` params and their state: the params and state it leaves. */
  const alone = (c: KernelCase, g: Float32Array, seed: number, m: number) => {
    const r = range(c, m, g.slice(0, m), seed);
    kernel(rt.unsafeKernels, c.name)(...argsOf(c, r.params.ptr, Array.from({ length: c.slots }, (_, s) => r.slot(s)), r.grads.ptr, m));
    const out = { params: r.params.toArray().subarray(0, m), state: Array.from({ length: c.slots }, (_, s) => r.state.toArray().subarray(s * r.pad, s * r.pad + m)) };
    r.all.forEach((t) => t.dispose());
    return out;
  };
  /** Params [from, to) and each slot's, from a range's tensors. */
  const part = (r: ReturnType<typeof range>, c: KernelCase, from: number, to: number) => ({
    params: r.params.toArray().subarray(from, to),
    state: Array.from({ length: c.slots }, (_, s) => r.state.toArray().subarray(s * r.pad + from, s * r.pad + to)),
  });

  it.each(cases)('$name: a range of several chunks gives the bits of the kernel alone; a bad gradient stops the stepping at its chunk, and the whole range is saved', (c) => {
    const g = randomArray(N, 31);
    const r = range(c, N, g, 32);
    const initial = part(r, c, 0, N);
    const copy = { params: initial.params.slice(), state: initial.state.map((a) => a.slice()) };
    expect(guarded(c, r, N), `${c.name}: flag`).toBe(0);
    const whole = alone(c, g, 32, N);
    expectBits(part(r, c, 0, N).params, whole.params, `${c.name}: params`);
    part(r, c, 0, N).state.forEach((a, s) => expectBits(a, whole.state[s], `${c.name}: slot ${s}`));
    expectBits(r.pSaved.toArray().subarray(0, N), copy.params, `${c.name}: saved params`);
    copy.state.forEach((a, s) => expectBits(r.sSaved.toArray().subarray(s * r.pad, s * r.pad + N), a, `${c.name}: saved slot ${s}`));
    r.all.forEach((t) => t.dispose());
    // a NaN in the second chunk: the first chunk stepped, the rest not, all saved (the caller restores from the backup)
    const bad = g.slice();
    bad[CHUNK + 5] = NaN;
    const r2 = range(c, N, bad, 32);
    expect(guarded(c, r2, N), `${c.name}: NaN gradient in chunk 1`).toBe(1);
    const first = alone(c, g, 32, CHUNK);
    expectBits(part(r2, c, 0, CHUNK).params, first.params, `${c.name}: chunk 0 stepped`);
    part(r2, c, 0, CHUNK).state.forEach((a, s) => expectBits(a, first.state[s], `${c.name}: chunk 0's slot ${s} stepped`));
    expectBits(part(r2, c, CHUNK, N).params, copy.params.subarray(CHUNK), `${c.name}: the rest not stepped`);
    part(r2, c, CHUNK, N).state.forEach((a, s) => expectBits(a, copy.state[s].subarray(CHUNK), `${c.name}: the rest's slot ${s} not stepped`));
    expectBits(r2.pSaved.toArray().subarray(0, N), copy.params, `${c.name}: all saved`);
    copy.state.forEach((a, s) => expectBits(r2.sSaved.toArray().subarray(s * r2.pad, s * r2.pad + N), a, `${c.name}: slot ${s} all saved`));
    r2.all.forEach((t) => t.dispose());
    // an infinite parameter in the first chunk: flagged after it, nothing after it stepped
    const r3 = range(c, N, g, 32);
    r3.params.data[7] = Infinity;
    expect(guarded(c, r3, N), `${c.name}: infinite parameter in chunk 0`).toBe(2);
    expectBits(part(r3, c, CHUNK, N).params, copy.params.subarray(CHUNK), `${c.name}: after the overflow, not stepped`);
    r3.all.forEach((t) => t.dispose());
  });

  it.each(cases)('$name: a trap mid-range leaves the count of floats saved, which hold every float stepped', (c) => {
    // the gradients' second chunk past the end of memory: the first chunk reads (zeroed) free memory and is
    // stepped, the second is saved and its check traps
    const end = rt.memory.buffer.byteLength;
    const g = end - 4 * CHUNK;
    const r = range(c, N, [], 33);
    expect(rt.memoryStats().top, 'the last chunk of memory is free').toBeLessThanOrEqual(g);
    new Float32Array(rt.memory.buffer, g, CHUNK).fill(0);
    const initial = part(r, c, 0, N);
    const copy = { params: initial.params.slice(), state: initial.state.map((a) => a.slice()) };
    let error: (Error & { saved?: number }) | undefined;
    try { guardedCall(c, r, N, g); } catch (e) { error = e as Error & { saved?: number }; }
    expect(error?.message).toMatch(/memory access out of bounds/);
    expect(error!.saved, `${c.name}: floats saved`).toBe(2 * CHUNK);
    expectBits(r.pSaved.toArray().subarray(0, 2 * CHUNK), copy.params.subarray(0, 2 * CHUNK), `${c.name}: saved params`);
    copy.state.forEach((a, s) => expectBits(r.sSaved.toArray().subarray(s * r.pad, s * r.pad + 2 * CHUNK), a.subarray(0, 2 * CHUNK), `${c.name}: saved slot ${s}`));
    expectBits(part(r, c, CHUNK, N).params, copy.params.subarray(CHUNK), `${c.name}: nothing stepped past the first chunk`);
    part(r, c, CHUNK, N).state.forEach((a, s) => expectBits(a, copy.state[s].subarray(CHUNK), `${c.name}: slot ${s} past the first chunk`));
    r.all.forEach((t) => t.dispose());
  });
});

// ---- float64 references from the formulas

type F64 = Float64Array;
type Hyper = Record<string, number>;
interface RefState { v: F64; h: F64; d: F64; m: F64 }

/** One step of `name` on float64 arrays, in place; t is the new step count. */
function referenceStep(name: OptimizerName, o: Hyper, t: number, p: F64, g: ArrayLike<number>, s: RefState): void {
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    switch (name) {
      case 'sgd':
        p[i] -= o.lr * gi;
        break;
      case 'momentum':
        s.v[i] = o.momentum * s.v[i] - o.lr * gi;
        p[i] += s.v[i];
        break;
      case 'nesterov':
        // the book's common/optimizer.py since its 2021 fix: the step uses the old v
        p[i] += o.momentum * o.momentum * s.v[i] - (1 + o.momentum) * o.lr * gi;
        s.v[i] = o.momentum * s.v[i] - o.lr * gi;
        break;
      case 'adagrad':
        s.h[i] += gi * gi;
        p[i] -= o.lr * gi / (Math.sqrt(s.h[i]) + o.eps);
        break;
      case 'rmsprop':
        s.h[i] = o.decayRate * s.h[i] + (1 - o.decayRate) * gi * gi;
        p[i] -= o.lr * gi / (Math.sqrt(s.h[i]) + o.eps);
        break;
      case 'adadelta': {
        s.h[i] = o.rho * s.h[i] + (1 - o.rho) * gi * gi;
        const delta = Math.sqrt(s.d[i] + o.eps) / Math.sqrt(s.h[i] + o.eps) * gi;
        s.d[i] = o.rho * s.d[i] + (1 - o.rho) * delta * delta;
        p[i] -= o.lr * delta;
        break;
      }
      case 'adam': {
        const lrT = o.lr * Math.sqrt(1 - o.beta2 ** t) / (1 - o.beta1 ** t);
        s.m[i] += (1 - o.beta1) * (gi - s.m[i]);
        s.v[i] += (1 - o.beta2) * (gi * gi - s.v[i]);
        p[i] -= lrT * s.m[i] / (Math.sqrt(s.v[i]) + o.eps);
        break;
      }
      case 'adamw': {
        p[i] *= 1 - o.lr * o.weightDecay;
        s.m[i] = o.beta1 * s.m[i] + (1 - o.beta1) * gi;
        s.v[i] = o.beta2 * s.v[i] + (1 - o.beta2) * gi * gi;
        const denom = Math.sqrt(s.v[i]) / Math.sqrt(1 - o.beta2 ** t) + o.eps;
        p[i] -= (o.lr / (1 - o.beta1 ** t)) * s.m[i] / denom;
        break;
      }
    }
  }
}

const refState = (n: number): RefState => ({ v: new Float64Array(n), h: new Float64Array(n), d: new Float64Array(n), m: new Float64Array(n) });

/** Which reference arrays each optimizer's state() slots correspond to. */
const slotsOf: Record<OptimizerName, Array<keyof RefState>> = {
  sgd: [], momentum: ['v'], nesterov: ['v'], adagrad: ['h'], rmsprop: ['h'], adadelta: ['h', 'd'], adam: ['m', 'v'], adamw: ['m', 'v'],
};

// Two settings each: the defaults, and another with every hyper-parameter moved.
const settings: Record<OptimizerName, Hyper[]> = {
  sgd: [{}, { lr: 0.3 }],
  momentum: [{}, { lr: 0.1, momentum: 0.5 }],
  nesterov: [{}, { lr: 0.05, momentum: 0.7 }],
  adagrad: [{}, { lr: 0.5, eps: 1e-4 }],
  rmsprop: [{}, { lr: 0.002, decayRate: 0.9, eps: 1e-5 }],
  adadelta: [{}, { lr: 0.5, rho: 0.9, eps: 1e-4 }],
  adam: [{}, { lr: 0.2, beta1: 0.5, beta2: 0.9, eps: 1e-5 }],
  adamw: [{}, { lr: 0.05, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 }],
};

// Several shapes, most sizes not multiples of 4.
const SHAPES: Array<[string, number[]]> = [['W1', [5, 7]], ['b1', [7]], ['W2', [7, 3]], ['b2', [3]], ['gamma', [1]], ['K', [2, 3, 5]], ['E', [4, 4]]];
const STEPS = 6;
const RTOL = 2e-4;

const initial = (i: number, n: number) => randomArray(n, 1000 + i);
/** The grads of step `step` (1-based): a fresh draw each step, a few exact zeros. */
const gradAt = (step: number, i: number, n: number) => {
  const g = randomArray(n, 31 * step + i, -2, 2);
  for (let j = step % 3; j < n; j += 11) g[j] = 0;
  return g;
};

interface Model { params: Record<string, Tensor>; grads: Record<string, Tensor>; dispose(): void }

/** Params in one ParameterSet: the contiguous layout. */
function blockModel(): Model {
  const set = new ParameterSet(rt, SHAPES);
  SHAPES.forEach(([k], i) => set.params[k].set(initial(i, set.params[k].size)));
  return { params: set.params, grads: set.grads, dispose: () => set.dispose() };
}

/** Params and grads allocated interleaved (param, grad, param, …): not a block, one kernel call per key. */
function separateModel(): Model {
  const params: Record<string, Tensor> = {};
  const grads: Record<string, Tensor> = {};
  SHAPES.forEach(([k, shape], i) => {
    params[k] = rt.tensor(shape, initial(i, shape.reduce((a, b) => a * b, 1)));
    grads[k] = rt.tensor(shape);
  });
  const all = [...Object.values(params), ...Object.values(grads)];
  return { params, grads, dispose: () => all.forEach((t) => t.dispose()) };
}

function setGrads(m: Model, step: number): void {
  SHAPES.forEach(([k], i) => m.grads[k].set(gradAt(step, i, m.grads[k].size)));
}

const layouts = { block: blockModel, separate: separateModel };

describe.each(optimizerNames)('%s against the float64 formulas', (name) => {
  for (const [layout, make] of Object.entries(layouts)) {
    it.each(settings[name])(`${layout} params, options %o: ${STEPS} steps within rtol ${RTOL}`, (options) => {
      const model = make();
      const opt = createOptimizer(name, options);
      const hyper = { ...optimizerDefaults[name], ...options };
      const ref = SHAPES.map(([k]) => ({ p: Float64Array.from(model.params[k].data), s: refState(model.params[k].size) }));
      for (let step = 1; step <= STEPS; step++) {
        setGrads(model, step);
        opt.update(model.params, model.grads);
        SHAPES.forEach(([k], i) => {
          referenceStep(name, hyper, step, ref[i].p, model.grads[k].data, ref[i].s);
          expectClose(model.params[k].data, ref[i].p, { rtol: RTOL }, `${name} ${k} step ${step}`);
        });
      }
      expect(opt.contiguous).toBe(layout === 'block');
      const state = opt.state();
      expect(state.t).toBe(STEPS);
      SHAPES.forEach(([k, shape], i) => {
        expect(state.params[k].shape).toEqual(shape);
        for (const slot of slotsOf[name]) expectClose(state.params[k][slot], ref[i].s[slot], { rtol: RTOL }, `${name} state ${k}.${slot}`);
      });
      opt.dispose();
      model.dispose();
    });
  }
});

// ---- the book's comparison: f(x, y) = x²/20 + y² from (-7, 2), 30 steps

describe('the book\'s f(x, y) = x²/20 + y² from (-7, 2)', () => {
  const cases: Array<[OptimizerName, number]> = [['sgd', 0.95], ['momentum', 0.1], ['adagrad', 1.5], ['adam', 0.3]];
  it.each(cases)('%s(lr %f) follows the float64 trajectory for 30 steps', (name, lr) => {
    const x = rt.tensor([1], [-7]), y = rt.tensor([1], [2]);
    const dx = rt.tensor([1]), dy = rt.tensor([1]);
    const opt = createOptimizer(name, { lr });
    const hyper = { ...optimizerDefaults[name], lr };
    const p = Float64Array.of(-7, 2);
    const s = refState(2);
    const ours: number[] = [], theirs: number[] = [];
    for (let step = 1; step <= 30; step++) {
      // df(x, y) = (x / 10, 2y), at the current position of each side
      dx.data[0] = x.data[0] / 10;
      dy.data[0] = 2 * y.data[0];
      opt.update({ x, y }, { x: dx, y: dy });
      referenceStep(name, hyper, step, p, [p[0] / 10, 2 * p[1]], s);
      ours.push(x.data[0], y.data[0]);
      theirs.push(p[0], p[1]);
    }
    expectClose(ours, theirs, { rtol: RTOL }, `${name} trajectory`);
    // and they do descend: f at the end is below f at the start (f(-7, 2) = 6.45)
    expect(p[0] ** 2 / 20 + p[1] ** 2).toBeLessThan(6.45 / 2);
    [x, y, dx, dy].forEach((t) => t.dispose());
    opt.dispose();
  });
});

// ---- layout: one kernel call over a ParameterSet, padding untouched

/** Counts calls of each kernel on rt while fn runs. */
function countCalls(fn: () => void): Record<string, number> {
  const real = rt.unsafeKernels;
  const counts: Record<string, number> = {};
  // the exports object is frozen, so the spy is a copy with counting wrappers
  const spy = Object.fromEntries(Object.entries(real).map(([key, value]) => [key, typeof value !== 'function' ? value
    : (...args: number[]) => { counts[key] = (counts[key] ?? 0) + 1; return (value as Kernel)(...args); }]));
  Object.defineProperty(rt, 'unsafeKernels', { value: spy, configurable: true });
  try { fn(); } finally { Object.defineProperty(rt, 'unsafeKernels', { value: real, configurable: true }); }
  return counts;
}

const kernelOf: Record<OptimizerName, string> = {
  sgd: 'axpy', momentum: 'momentumStep', nesterov: 'nesterovStep', adagrad: 'adagradStep', rmsprop: 'rmspropStep',
  adadelta: 'adadeltaStep', adam: 'adamStep', adamw: 'adamwStep',
};

describe.each(optimizerNames)('%s on a ParameterSet', (name) => {
  it('steps the whole block in one kernel call, bit-identical to per-key calls, and leaves the padding zero', () => {
    const block = blockModel();
    const separate = separateModel();
    const a = createOptimizer(name), b = createOptimizer(name);
    for (let step = 1; step <= 3; step++) {
      setGrads(block, step);
      setGrads(separate, step);
      const calls = countCalls(() => a.update(block.params, block.grads));
      expect(calls[kernelOf[name]], 'kernel calls per step').toBe(1);
      expect(countCalls(() => b.update(separate.params, separate.grads))[kernelOf[name]], 'per-key calls').toBe(SHAPES.length);
    }
    expect([a.contiguous, b.contiguous]).toEqual([true, false]);
    for (const [k] of SHAPES) expectBits(block.params[k].data, separate.params[k].data, `${name} ${k}`);
    expect(a.state()).toEqual(b.state());
    // the padding floats after each tensor are still zero
    const memory = new Float32Array(rt.memory.buffer);
    for (const [k] of SHAPES) {
      const p = block.params[k];
      const pad = Array.from(memory.subarray(p.ptr / 4 + p.size, p.ptr / 4 + Math.ceil(p.size / 16) * 16));
      expect(pad.every((v) => v === 0), `${name} padding after ${k}`).toBe(true);
    }
    [a, b].forEach((o) => o.dispose());
    block.dispose();
    separate.dispose();
  });
});

describe('contiguity detection', () => {
  it('falls back to per-key calls when a padding float is not zero', () => {
    const model = blockModel();
    const p = model.grads.b1;
    new Float32Array(rt.memory.buffer)[p.ptr / 4 + p.size] = 1; // garbage after b1 in the grad block
    const opt = new Adam();
    setGrads(model, 1);
    const calls = countCalls(() => opt.update(model.params, model.grads));
    expect(opt.contiguous).toBe(false);
    expect(calls.adamStep).toBe(SHAPES.length);
    opt.dispose();
    model.dispose();
  });
});

// ---- where a contiguous layout's slot regions go within a 4 KiB page (src/optim/state.ts)

const lineInPage = (ptr: number, from: number): number => ((((ptr - from) % 4096) + 4096) % 4096) / 64;

/** The lines of a page (of 64) in order of distance from line 0: 63, 1, 62, 2, …; the first `count` not in `taken`. */
function nearestFreeLines(taken: number[], count: number): number[] {
  const order = Array.from({ length: 126 }, (_, i) => ((i % 2 ? 1 : -1) * (1 + (i >> 1)) + 64) % 64);
  const free: number[] = [];
  for (const line of order) if (free.length < count && !taken.includes(line) && !free.includes(line)) free.push(line);
  return free;
}

describe('slot placement', () => {
  it('puts region s on the s-th nearest line of the page, from the param block, that neither block nor an earlier region takes', () => {
    let seed = 7;
    const next = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
    for (let trial = 0; trial < 300; trial++) {
      const param = 64 * (1 + next(1 << 16)), grad = 64 * (1 + next(1 << 16)), arena = 64 * (1 + next(1 << 16));
      const regionBytes = 64 * (1 + next(5000)), slots = 1 + next(3);
      const { start, pad } = slotPlacement(arena, param, grad, regionBytes, slots);
      // inside the page of slack per region the arena is given
      expect(start % 64 === 0 && pad % 64 === 0 && start < 4096 && pad < 4096).toBe(true);
      expect(start + (slots - 1) * pad + slots * regionBytes).toBeLessThanOrEqual(slots * (regionBytes + 4096));
      const lines = Array.from({ length: slots }, (_, r) => lineInPage(arena + start + r * (regionBytes + pad), param));
      // the first two are placed exactly; a third falls where the pad puts it
      expect(lines.slice(0, 2)).toEqual(nearestFreeLines([0, lineInPage(grad, param)], Math.min(slots, 2)));
    }
  });

  it.each(['adam', 'adamw', 'adadelta', 'momentum'] as const)('%s keeps its slot regions of a ParameterSet off the param and grad blocks\' lines', (name) => {
    const model = blockModel();
    const opt = createOptimizer(name);
    setGrads(model, 1);
    const first = Object.values(model.params)[0], grad = Object.values(model.grads)[0];
    const seen: number[][] = [];
    const real = rt.unsafeKernels;
    const spy = { ...real, [kernelOf[name]]: (...args: number[]) => { seen.push(args); return (real as unknown as Record<string, Kernel>)[kernelOf[name]](...args); } };
    Object.defineProperty(rt, 'unsafeKernels', { value: spy, configurable: true });
    try { opt.update(model.params, model.grads); } finally { Object.defineProperty(rt, 'unsafeKernels', { value: real, configurable: true }); }
    expect(seen).toHaveLength(1);
    // the state pointers each kernel takes after the param pointer: adam (p, m, v, g), momentum (p, v, g), adadelta (p, h, u, g)
    const slots = name === 'momentum' ? 1 : 2;
    const regions = seen[0].slice(1, 1 + slots);
    const lines = regions.map((r) => lineInPage(r, first.ptr));
    expect(lines).toEqual(nearestFreeLines([0, lineInPage(grad.ptr, first.ptr)], slots));
    opt.dispose();
    model.dispose();
  });
});

// ---- state: lazy, keyed by name, shape changes refused, export and restore

describe('optimizer state', () => {
  it('is created at the first update and a step allocates nothing after it', () => {
    const model = blockModel();
    const opt = new Adam();
    expect(opt.state()).toEqual({ optimizer: 'Adam', t: 0, params: {} });
    const before = rt.memoryStats();
    setGrads(model, 1);
    opt.update(model.params, model.grads);
    const after = rt.memoryStats();
    expect(after.blocks).toBe(before.blocks + 1); // one arena for m and v of every key
    for (let step = 2; step <= 20; step++) opt.update(model.params, model.grads);
    expect(rt.memoryStats()).toEqual(after);
    opt.dispose();
    expect(rt.memoryStats().blocks).toBe(before.blocks);
    expect(() => opt.update(model.params, model.grads)).toThrow(/used after dispose/);
    model.dispose();
  });

  it('refuses a parameter whose shape changed under the same key, writing nothing', () => {
    const opt = new Momentum();
    const w = rt.tensor([2, 3], [1, 2, 3, 4, 5, 6]), dw = rt.tensor([2, 3], [1, 1, 1, 1, 1, 1]);
    opt.update({ W: w }, { W: dw });
    const saved = opt.state();
    const w2 = rt.tensor([3, 2], [1, 2, 3, 4, 5, 6]), dw2 = rt.tensor([3, 2], [1, 1, 1, 1, 1, 1]);
    expect(() => opt.update({ W: w2 }, { W: dw2 })).toThrow(RangeError);
    expect(() => opt.update({ W: w2 }, { W: dw2 })).toThrow(/params\['W'\] has shape \[3, 2\], but the optimizer's state for 'W' has shape \[2, 3\]/);
    expect(Array.from(w2.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(opt.state()).toEqual(saved);
    [w, dw, w2, dw2].forEach((t) => t.dispose());
    opt.dispose();
  });

  it('keeps the state of keys an update leaves out (the book updates only the keys it is given)', () => {
    const a = rt.tensor([5], [1, 2, 3, 4, 5]), b = rt.tensor([3], [1, 1, 1]);
    const da = rt.tensor([5], [1, -1, 1, -1, 1]), db = rt.tensor([3], [0.5, 0.5, 0.5]);
    const opt = new Momentum({ lr: 0.1, momentum: 0.5 });
    opt.update({ a, b }, { a: da, b: db });
    opt.update({ a }, { a: da });
    opt.update({ a, b }, { a: da, b: db });
    // b saw two steps: v = -0.05, then 0.5·(-0.05) - 0.05 = -0.075; b = 1 - 0.05 - 0.075
    expectClose(b.data, [0.875, 0.875, 0.875], { rtol: 1e-6 }, 'b');
    expectClose(opt.state().params.b.v, [-0.075, -0.075, -0.075], { rtol: 1e-6 }, 'b.v');
    // a saw three: v = -0.1, -0.15, -0.175 (times the sign of da)
    expectClose(a.data, [1 - 0.425, 2 + 0.425, 3 - 0.425, 4 + 0.425, 5 - 0.425], { rtol: 1e-6 }, 'a');
    [a, b, da, db].forEach((t) => t.dispose());
    opt.dispose();
  });

  describe.each(optimizerNames)('%s', (name) => {
    const options = settings[name][1];
    for (const [layout, make] of Object.entries(layouts)) {
      it(`resumes bit-identically from state() through JSON (${layout} params): 6 steps = 3 + loadState + 3`, () => {
        const whole = make(), resumed = make();
        const straight = createOptimizer(name, options);
        const first = createOptimizer(name, options);
        for (let step = 1; step <= 6; step++) {
          setGrads(whole, step);
          straight.update(whole.params, whole.grads);
        }
        for (let step = 1; step <= 3; step++) {
          setGrads(resumed, step);
          first.update(resumed.params, resumed.grads);
        }
        const saved = JSON.parse(JSON.stringify(first.state()));
        first.dispose();
        const second = createOptimizer(name, options);
        second.loadState(saved);
        expect(second.state()).toEqual(saved);
        for (let step = 4; step <= 6; step++) {
          setGrads(resumed, step);
          second.update(resumed.params, resumed.grads);
        }
        for (const [k] of SHAPES) expectBits(resumed.params[k].data, whole.params[k].data, `${name} ${k}`);
        expect(second.state()).toEqual(straight.state());
        [straight, second].forEach((o) => o.dispose());
        whole.dispose();
        resumed.dispose();
      });
    }
  });

  it('loadState validates everything before replacing the state', () => {
    const model = blockModel();
    const opt = new Adam();
    setGrads(model, 1);
    opt.update(model.params, model.grads);
    const good = opt.state();
    const bad = (change: (s: typeof good) => void) => {
      const s = structuredClone(good);
      change(s);
      return s;
    };
    expect(() => new Momentum().loadState(good)).toThrow(/the state is Adam's, not Momentum's/);
    expect(() => opt.loadState(bad((s) => { s.t = -1; }))).toThrow(/t must be a non-negative integer/);
    expect(() => opt.loadState(bad((s) => { s.params.W1.m = s.params.W1.m.slice(1); }))).toThrow(/params\['W1'\]\.m must hold 35 numbers/);
    expect(() => opt.loadState(bad((s) => { s.params.b1.v[2] = NaN; }))).toThrow(/params\['b1'\]\.v\[2\] is NaN/);
    expect(() => opt.loadState(bad((s) => { s.params.b1.velocity = [0]; }))).toThrow(/unknown state 'velocity'/);
    expect(() => opt.loadState(bad((s) => { s.params.b1.shape = [-7]; }))).toThrow(/shape must be an array of non-negative integers/);
    expect(opt.state()).toEqual(good);
    opt.dispose();
    model.dispose();
  });
});

// ---- options and the registry

describe('options', () => {
  it('has the book\'s defaults (AdaDelta: Zeiler\'s; AdamW: PyTorch\'s)', () => {
    expect(optimizerNames).toEqual(['sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adadelta', 'adam', 'adamw']);
    expect(optimizerDefaults).toEqual({
      sgd: { lr: 0.01 },
      momentum: { lr: 0.01, momentum: 0.9 },
      nesterov: { lr: 0.01, momentum: 0.9 },
      adagrad: { lr: 0.01, eps: 1e-7 },
      rmsprop: { lr: 0.01, decayRate: 0.99, eps: 1e-7 },
      adadelta: { lr: 1.0, rho: 0.95, eps: 1e-6 },
      adam: { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-7 },
      adamw: { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
    });
    const adam = new Adam({ lr: 0.3 });
    expect([adam.name, adam.lr, adam.beta1, adam.beta2, adam.eps]).toEqual(['Adam', 0.3, 0.9, 0.999, 1e-7]);
  });

  it('the registry builds each class by name (any case) with its options', () => {
    const classes = [SGD, Momentum, Nesterov, AdaGrad, RMSprop, AdaDelta, Adam, AdamW];
    optimizerNames.forEach((name, i) => expect(createOptimizer(name.toUpperCase() as OptimizerName)).toBeInstanceOf(classes[i]));
    expect((createOptimizer('rmsprop', { decayRate: 0.9 }) as RMSprop).decayRate).toBe(0.9);
    expect(() => createOptimizer('adamax' as never)).toThrow(TypeError);
    expect(() => createOptimizer('adamax' as never)).toThrow(/unknown name 'adamax'/);
  });

  it('rejects unknown keys with a TypeError and bad values with a RangeError, naming them', () => {
    expect(() => new Adam({ beta3: 0.9 } as never)).toThrow(TypeError);
    expect(() => new Adam({ beta3: 0.9 } as never)).toThrow(/Adam: unknown option 'beta3'/);
    expect(() => createOptimizer('sgd', { momentum: 0.9 } as never)).toThrow(/SGD: unknown option 'momentum' \(expected one of lr\)/);
    const bad: Array<[() => ElementwiseOptimizer, RegExp]> = [
      [() => new SGD({ lr: -1 }), /SGD: lr must be a finite number >= 0, got -1/],
      [() => new SGD({ lr: NaN }), /lr must be/],
      [() => new SGD({ lr: '0.1' as never }), /lr must be a finite number >= 0, got '0.1'/],
      [() => new Momentum({ momentum: 1 }), /momentum must be a number in \[0, 1\)/],
      [() => new Nesterov({ momentum: -0.1 }), /momentum must be/],
      [() => new AdaGrad({ eps: 0 }), /eps must be a finite number > 0/],
      [() => new RMSprop({ decayRate: 1.5 }), /decayRate must be/],
      [() => new AdaDelta({ rho: 1.01 }), /rho must be a number in \[0, 1\]/],
      [() => new Adam({ beta1: 1 }), /beta1 must be/],
      [() => new Adam({ beta2: Infinity }), /beta2 must be/],
      [() => new AdamW({ weightDecay: -0.01 }), /weightDecay must be/],
    ];
    for (const [make, message] of bad) {
      expect(make).toThrow(RangeError);
      expect(make).toThrow(message);
    }
  });

  it('update checks that grads match params', () => {
    const w = rt.tensor([2, 2]), dw = rt.tensor([3]);
    expect(() => new Adam().update({ W: w }, {})).toThrow(new TypeError("Adam.update: grads has no 'W' (params has keys W)"));
    expect(() => new Adam().update({ W: w }, { W: dw })).toThrow(/grads\['W'\] has shape \[3\], expected \[2, 2\]/);
    [w, dw].forEach((t) => t.dispose());
  });
});
