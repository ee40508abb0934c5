// Behaviour of the optimizers and schedules (src/optim) that no other test pinned down, each found by a
// mutant that every other test let through (session 64): which gradient tensors a reused layout reads (and
// every state slot carried into a new layout), a parameter block whose gradients are a block laid out otherwise, a
// non-zero float anywhere in a block's padding, each optimizer's eps reaching its kernel, a second loadState
// keeping the first's keys, the step count of an update of no parameters, the guarded update declining what
// is not one span, its undo after a trap (the step count and every state slot) and its answer when two parts
// fail differently; params on another runtime, option and optimizer names of Object.prototype's;
// ReduceLROnPlateau's eps and threshold bounds, a checkpoint before the first lrAt, reset() and its checks;
// SequentialLR's and ReduceLROnPlateau's interval checks and milestone order, MultiStepLR's default gamma,
// LinearLR ending at 0, createSchedule's case-insensitive names.
// Node and Chromium.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { makeRuntime, randomArray, expectBits, expectClose } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { ParameterSet } from '../src/nets/parameters.js';
import { GUARD_TABLE_FLOATS } from '../src/optim/optimizer.js';
import {
  Adam, CosineAnnealingLR, ExponentialLR, LinearLR, Momentum, MultiStepLR, ReduceLROnPlateau, SequentialLR, StepLR,
  createOptimizer, createSchedule, optimizerDefaults, optimizerNames, type OptimizerName,
} from '../src/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 64 }); });
afterAll(() => rt.dispose());

const SHAPES: Array<[string, number[]]> = [['W1', [5, 7]], ['b1', [7]], ['W2', [7, 3]], ['b2', [3]]];
const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const initial = (i: number, n: number) => randomArray(n, 640 + i);
const gradAt = (step: number, i: number, n: number) => randomArray(n, 64 * step + i, -2, 2);

/** Tensors of SHAPES allocated with a spacer after each (so not one block: one kernel call per key), filled by `values`. */
function scattered(values: (i: number, n: number) => Float32Array): Record<string, Tensor> {
  return Object.fromEntries(SHAPES.map(([k, shape], i) => {
    const t = rt.tensor(shape, values(i, sizeOf(shape)));
    spacers.push(rt.tensor([1]));
    return [k, t];
  }));
}
const spacers: Tensor[] = [];
afterAll(() => spacers.forEach((t) => t.dispose()));

/** Params as separate tensors (one kernel call per key), holding the initial values. */
const separateParams = () => scattered(initial);

/** Fresh gradient tensors of step `step`, allocated one by one with spacers. */
const separateGrads = (step: number) => scattered((i, n) => gradAt(step, i, n));

const disposeAll = (...sets: Array<Record<string, Tensor>>) => sets.forEach((s) => Object.values(s).forEach((t) => t.dispose()));

describe('which gradients an update reads', () => {
  it.each(optimizerNames)('%s: the same params with new gradient tensors read the new ones (the layout is planned again, not reused)', (name) => {
    // the reference steps one set of grads tensors, refilled; ours gets new tensors each step, the old ones
    // kept alive with other values (a layout kept for the old pointers would read those)
    const ours = separateParams(), theirs = separateParams();
    const a = createOptimizer(name), b = createOptimizer(name);
    const refGrads = separateGrads(1);
    const kept: Array<Record<string, Tensor>> = [];
    for (let step = 1; step <= 3; step++) {
      const grads = separateGrads(step);
      a.update(ours, grads);
      SHAPES.forEach(([k], i) => refGrads[k].set(gradAt(step, i, refGrads[k].size)));
      b.update(theirs, refGrads);
      for (const g of Object.values(grads)) g.data.fill(1e3); // stale values a wrong layout would step with
      kept.push(grads);
    }
    for (const [k] of SHAPES) expectBits(ours[k].data, theirs[k].data, `${name} ${k}`);
    expect(a.state()).toEqual(b.state());
    [a, b].forEach((o) => o.dispose());
    disposeAll(ours, theirs, refGrads, ...kept);
  });

  it.each(optimizerNames)('%s: params in one block with gradients in another block laid out in another order are stepped per key, each with its own gradient', (name) => {
    const set = new ParameterSet(rt, SHAPES);
    SHAPES.forEach(([k], i) => set.params[k].set(initial(i, set.params[k].size)));
    const theirs = separateParams();
    // the gradients of a ParameterSet with b1 first: zero padding (a block), but W1's gradient after b1's
    const gradSet = new ParameterSet(rt, [SHAPES[1], SHAPES[0], SHAPES[2], SHAPES[3]]);
    const grads = gradSet.grads;
    expect(grads.b1.ptr).toBeLessThan(grads.W1.ptr);
    const a = createOptimizer(name), b = createOptimizer(name);
    for (let step = 1; step <= 3; step++) {
      SHAPES.forEach(([k], i) => grads[k].set(gradAt(step, i, grads[k].size)));
      a.update(set.params, grads);
      b.update(theirs, grads);
    }
    expect(a.contiguous).toBe(false);
    for (const [k] of SHAPES) expectBits(set.params[k].data, theirs[k].data, `${name} ${k}`);
    expect(a.state()).toEqual(b.state());
    [a, b].forEach((o) => o.dispose());
    [set, gradSet].forEach((x) => x.dispose());
    disposeAll(theirs);
  });
});

describe('a block\'s padding', () => {
  it.each([0, 8])('a non-zero gradient padding float (at %i of b1\'s 9) makes the update per key, leaving the params\' padding zero', (at) => {
    const set = new ParameterSet(rt, SHAPES);
    SHAPES.forEach(([k], i) => { set.params[k].set(initial(i, set.params[k].size)); set.grads[k].set(gradAt(1, i, set.grads[k].size)); });
    const b1 = set.grads.b1, pad = 16 - b1.size; // b1: 7 floats, padded to 16
    expect(at).toBeLessThan(pad);
    const memory = new Float32Array(rt.memory.buffer);
    memory[b1.ptr / 4 + b1.size + at] = 1; // garbage in the grad block's padding after b1
    const opt = createOptimizer('sgd', { lr: 0.5 });
    opt.update(set.params, set.grads);
    expect(opt.contiguous).toBe(false);
    const p = set.params.b1;
    expect(Array.from(memory.subarray(p.ptr / 4 + p.size, p.ptr / 4 + p.size + pad)), 'the params\' padding after b1').toEqual(new Array(pad).fill(0));
    memory[b1.ptr / 4 + b1.size + at] = 0;
    opt.dispose();
    set.dispose();
  });
});

describe('eps reaches the kernel', () => {
  // one step from zero state, each optimizer's formula in float64 at t = 1; eps (0.5) far above √v of gradients
  // ~1e-2, so the step is mostly eps's: a default eps in its place changes it ~50-fold
  const G = 1e-2, EPS = 0.5;
  const steps: Record<string, (g: number, o: Record<string, number>) => number> = {
    adagrad: (g, o) => -o.lr * g / (Math.abs(g) + o.eps),
    rmsprop: (g, o) => -o.lr * g / (Math.sqrt((1 - o.decayRate) * g * g) + o.eps),
    adadelta: (g, o) => -o.lr * Math.sqrt(o.eps) / Math.sqrt((1 - o.rho) * g * g + o.eps) * g,
    adam: (g, o) => -(o.lr * Math.sqrt(1 - o.beta2) / (1 - o.beta1)) * (1 - o.beta1) * g / (Math.sqrt((1 - o.beta2) * g * g) + o.eps),
    adamw: (g, o) => -(o.lr / (1 - o.beta1)) * (1 - o.beta1) * g / (Math.sqrt((1 - o.beta2) * g * g) / Math.sqrt(1 - o.beta2) + o.eps),
  };
  it.each(Object.keys(steps))('%s: a first step with eps 0.5 from params at zero follows the formula within rtol 1e-5', (name) => {
    const n = 21;
    const g = randomArray(n, 5, -G, G);
    const w = rt.tensor([n]), dw = rt.tensor([n], g); // params at zero: the step alone, no rounding of a sum
    const opt = createOptimizer(name as OptimizerName, { eps: EPS });
    opt.update({ w }, { w: dw });
    const o = { ...optimizerDefaults[name as OptimizerName], eps: EPS };
    expectClose(w.data, Array.from(g, (gi) => steps[name](gi, o)), { rtol: 1e-5 }, `${name} step`);
    opt.dispose();
    [w, dw].forEach((t) => t.dispose());
  });
});

describe('guardedUpdate on 2 threads', () => {
  it('answers \'gradients\' when one part finds NaN gradients and the other overflows a parameter (the unguarded path checks the gradients first)', async () => {
    const rt2 = await makeRuntime({ threads: 2, busyCores: 'split', seed: 64 });
    try {
      const N = 80000; // 3 floats touched per param (param, grad, v): work for two parts
      const set = new ParameterSet(rt2, [['W', [N]], ['b', [16]]]);
      set.params.W.set(randomArray(N, 1));
      set.grads.W.set(randomArray(N, 2));
      const opt = new Momentum({ lr: 100 });
      opt.update(set.params, set.grads); // the state exists: a guarded update from here
      opt.splitShare = 0.5;
      set.params.W.data[0] = 3e38;
      set.grads.W.data[0] = -3e38; // part 0: v = 3e40, W[0] overflows
      set.grads.W.data[N - 1] = NaN; // part 1: a NaN gradient
      const table = rt2.tensor([GUARD_TABLE_FLOATS]), backup = rt2.tensor([set.size + opt.unsafeStateTensor!.size]);
      const parts: number[] = [];
      const run = rt2.runParts.bind(rt2);
      vi.spyOn(rt2, 'runParts').mockImplementation((name, n, write, work) => { parts.push(n); run(name, n, write, work); });
      const result = opt.guardedUpdate(set.params, set.grads, (_param, size) => ({ params: backup.ptr, arena: backup.ptr + 4 * size, table }));
      vi.restoreAllMocks();
      expect(parts, 'one split call in two parts').toEqual([2]);
      expect(result).toBe('gradients');
      opt.dispose();
      [table, backup].forEach((t) => t.dispose());
      set.dispose();
    } finally {
      vi.restoreAllMocks();
      rt2.dispose();
    }
  });
});

describe('loadState', () => {
  it('refuses a second state that lacks a key of the first one loaded (before any update), keeping the first', () => {
    const params = separateParams(), grads = separateGrads(1);
    const opt = new Adam();
    opt.update(params, grads);
    const full = opt.state();
    opt.loadState(full);
    const partial = structuredClone(full);
    delete partial.params.b2;
    expect(() => opt.loadState(partial)).toThrow(/^Adam\.loadState: the state has no 'b2', a parameter this optimizer has stepped$/);
    expect(opt.state()).toEqual(full);
    opt.dispose();
    disposeAll(params, grads);
  });
});

describe('argument checks', () => {
  it('an update of params on another runtime than the state\'s is refused, writing nothing', async () => {
    const other = await makeRuntime({ seed: 65 });
    try {
      const params = separateParams(), grads = separateGrads(1);
      const opt = new Adam();
      opt.update(params, grads);
      const state = opt.state();
      const w = other.tensor([3], [1, 2, 3]), dw = other.tensor([3], [1, 1, 1]);
      expect(() => opt.update({ W1: w }, { W1: dw })).toThrow(/^Adam\.update: params\['W1'\] and grads\['W1'\] must live on the runtime that holds the optimizer's state$/);
      expect(Array.from(w.data)).toEqual([1, 2, 3]);
      expect(opt.state()).toEqual(state);
      opt.dispose();
      disposeAll(params, grads);
    } finally {
      other.dispose();
    }
  });

  it('a name of Object.prototype\'s is no optimizer\'s', () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      expect(() => createOptimizer(name as OptimizerName), name).toThrow(new RegExp(`^createOptimizer: unknown name '${name}' \\(expected one of sgd, `));
    }
  });

  it('an option named like an Object.prototype member is an unknown option', () => {
    for (const key of ['constructor', 'toString', 'hasOwnProperty']) {
      expect(() => createOptimizer('sgd', { [key]: 0.1 } as never), key).toThrow(new TypeError(`SGD: unknown option '${key}' (expected one of lr)`));
    }
  });

  it('ReduceLROnPlateau.loadState refuses a hasBest other than 0, 1 or 2', () => {
    const s = new ReduceLROnPlateau();
    s.lrAt(0, 1);
    expect(() => s.loadState({ ...s.state(), hasBest: 3 })).toThrow(/^ReduceLROnPlateau\.loadState: hasBest must be 0, 1 or 2, got 3$/);
  });
});

describe('the step count', () => {
  it('an update of no parameters is a step too (the book\'s Adam counts iter on every update call)', () => {
    const opt = new Adam();
    opt.update({}, {});
    opt.update({}, {});
    expect(opt.t).toBe(2);
    expect(opt.state()).toEqual({ optimizer: 'Adam', t: 2, params: {} });
    opt.dispose();
  });
});

describe('guardedUpdate (the Trainer\'s guarded step)', () => {
  it('declines (null, backupFor never asked, nothing written, no step counted) when the update is not one call over one block', () => {
    const params = separateParams(), grads = separateGrads(1);
    const opt = new Adam();
    opt.update(params, grads); // the state exists: a guarded update is possible from here
    const before = Object.fromEntries(SHAPES.map(([k]) => [k, params[k].toArray()]));
    const state = opt.state();
    const table = rt.tensor([GUARD_TABLE_FLOATS]), backup = rt.tensor([2 * opt.unsafeStateTensor!.size]);
    let asked = 0;
    const result = opt.guardedUpdate(params, grads, (_param, size) => {
      asked++;
      return { params: backup.ptr, arena: backup.ptr + 4 * size, table };
    });
    expect(result).toBeNull();
    expect(asked).toBe(0);
    for (const [k] of SHAPES) expectBits(params[k].data, before[k], `params ${k}`);
    expect(opt.state()).toEqual(state);
    opt.dispose();
    [table, backup].forEach((t) => t.dispose());
    disposeAll(params, grads);
  });

  it('a part that traps mid-range: every range it saved (params and each state slot) is put back, and the step is not counted', () => {
    // a block of more than one chunk (assembly/guarded.ts CHUNK = 32768 floats), its params' backup placed so the
    // first chunk's save fits below the end of memory and the second's traps: the first chunk is stepped by then
    const CHUNK = 32768;
    const set = new ParameterSet(rt, [['W', [CHUNK + 100]], ['b', [7]]]);
    set.params.W.set(randomArray(CHUNK + 100, 1));
    set.params.b.set(randomArray(7, 2));
    const opt = new Adam();
    const stepGrads = (step: number) => { set.grads.W.set(randomArray(CHUNK + 100, 10 + step)); set.grads.b.set(randomArray(7, 20 + step)); };
    stepGrads(1);
    opt.update(set.params, set.grads);
    expect(opt.contiguous).toBe(true);
    const before = { W: set.params.W.toArray(), b: set.params.b.toArray(), state: opt.state() };
    stepGrads(2);
    const table = rt.tensor([GUARD_TABLE_FLOATS]);
    const arenaBackup = rt.tensor([opt.unsafeStateTensor!.size]);
    const end = rt.memory.buffer.byteLength;
    expect(rt.memoryStats().top, 'the last chunk of memory is free').toBeLessThanOrEqual(end - 4 * CHUNK);
    expect(() => opt.guardedUpdate(set.params, set.grads, () => ({ params: end - 4 * CHUNK, arena: arenaBackup.ptr, table }))).toThrow(/memory access out of bounds/);
    expect(opt.t, 'the failed step is not counted').toBe(1);
    expectBits(set.params.W.data, before.W, 'W put back');
    expectBits(set.params.b.data, before.b, 'b untouched');
    expect(opt.state(), 'm and v put back').toEqual(before.state);
    // and the next update is the second step, as if the failed one had not run
    const ref = new Adam();
    const refSet = new ParameterSet(rt, [['W', [CHUNK + 100]], ['b', [7]]]);
    refSet.params.W.set(randomArray(CHUNK + 100, 1));
    refSet.params.b.set(randomArray(7, 2));
    for (const step of [1, 2]) {
      refSet.grads.W.set(randomArray(CHUNK + 100, 10 + step));
      refSet.grads.b.set(randomArray(7, 20 + step));
      ref.update(refSet.params, refSet.grads);
    }
    opt.update(set.params, set.grads);
    expectBits(set.params.W.data, refSet.params.W.data, 'W after the retried step');
    expect(opt.state()).toEqual(ref.state());
    [opt, ref].forEach((o) => o.dispose());
    [table, arenaBackup].forEach((t) => t.dispose());
    [set, refSet].forEach((s) => s.dispose());
  });
});

describe('ReduceLROnPlateau', () => {
  it('skips a cut no larger than eps (PyTorch\'s old_lr − new_lr > eps), makes one just larger', () => {
    for (const [eps, want] of [[0.5, 1], [0.4999, 0.5]] as const) {
      const s = new ReduceLROnPlateau({ factor: 0.5, patience: 0, eps });
      s.lrAt(0, 1);
      s.observe(1);
      s.observe(1); // not better: a bad epoch past patience 0; the cut 1 → 0.5 is exactly 0.5
      expect(s.lrAt(1, 1), `eps ${eps}`).toBe(want);
    }
  });

  it('a state saved before the first lrAt restores as one: the next lrAt takes its base rate', () => {
    const saved = JSON.parse(JSON.stringify(new ReduceLROnPlateau().state()));
    const s = new ReduceLROnPlateau();
    s.loadState(saved);
    expect(s.lrAt(0, 0.3)).toBe(0.3);
  });

  it.each([{ patience: 5 }, { patience: 0, cooldown: 3 }])('reset() clears the counts (%o): the state is a new schedule\'s', (options) => {
    const s = new ReduceLROnPlateau(options), fresh = new ReduceLROnPlateau(options);
    s.lrAt(0, 1);
    s.observe(1);
    s.observe(2); // patience 5: one bad epoch counted; patience 0: a cut, then 3 epochs of cooldown
    expect(s.state().numBadEpochs + s.state().cooldownCounter, 'something to clear').toBeGreaterThan(0);
    s.reset();
    s.lrAt(0, 1);
    fresh.lrAt(0, 1);
    expect(s.state()).toEqual(fresh.state());
  });

  it.each([['min', 'rel', 0.5], ['min', 'abs', 0.75], ['max', 'rel', 1.5], ['max', 'abs', 1.25]] as const)(
    'mode %s, threshold %s: a metric exactly at the threshold is no improvement (PyTorch\'s strict comparison)', (mode, thresholdMode, metric) => {
      // best 1, threshold 0.5 relative or 0.25 absolute: the bound (0.5, 0.75, 1.5, 1.25) is exact in binary
      const s = new ReduceLROnPlateau({ mode, thresholdMode, threshold: thresholdMode === 'rel' ? 0.5 : 0.25, patience: 0, factor: 0.5 });
      s.lrAt(0, 1);
      s.observe(1);
      s.observe(metric);
      expect(s.lrAt(1, 1)).toBe(0.5);
    });

  it('observe before any lrAt is refused (there is no rate to cut yet)', () => {
    expect(() => new ReduceLROnPlateau().observe(1)).toThrow(/^ReduceLROnPlateau\.observe: call lrAt first/);
  });
});

describe('schedule options', () => {
  it('SequentialLR refuses an inner schedule advancing per another interval; ReduceLROnPlateau one per step', () => {
    const perStep = () => [new LinearLR({ interval: 'step' }), new ExponentialLR({ gamma: 0.5, interval: 'step' })];
    expect(() => new SequentialLR({ schedulers: perStep(), milestones: [2] })).toThrow(/^SequentialLR: schedulers\[0\] advances per step, this one per epoch$/);
    expect(new SequentialLR({ schedulers: perStep(), milestones: [2], interval: 'step' }).interval).toBe('step');
    expect(() => new ReduceLROnPlateau({ interval: 'step' } as never)).toThrow(/^ReduceLROnPlateau: advances per epoch only$/);
  });

  it('SequentialLR refuses milestones that do not increase', () => {
    const three = () => [new LinearLR(), new ExponentialLR({ gamma: 0.5 }), new StepLR({ stepSize: 2 })];
    for (const milestones of [[4, 2], [3, 3]]) {
      expect(() => new SequentialLR({ schedulers: three(), milestones })).toThrow(/^SequentialLR: milestones must be 2 increasing positive integers/);
    }
  });

  it('MultiStepLR\'s gamma defaults to 0.1 (PyTorch\'s)', () => {
    const s = new MultiStepLR({ milestones: [2, 4] });
    expect(s.gamma).toBe(0.1);
    expect([1, 2, 4].map((k) => s.lrAt(k, 1))).toEqual([1, 0.1, 0.1 * 0.1]);
  });

  it('LinearLR may end at 0 (PyTorch\'s end_factor in [0, 1])', () => {
    const s = new LinearLR({ startFactor: 1, endFactor: 0, totalIters: 4 });
    expect([0, 2, 4, 9].map((k) => s.lrAt(k, 1))).toEqual([1, 0.5, 0, 0]);
  });

  it('createSchedule takes a name in any case', () => {
    const s = createSchedule('Cosine' as 'cosine', { tMax: 4 });
    expect(s).toBeInstanceOf(CosineAnnealingLR);
    expect(createSchedule('STEP' as 'step', { stepSize: 2 })).toBeInstanceOf(StepLR);
  });
});
