// Behaviour of gradient accumulation (TrainerOptions.accumulateSteps) that test/accumulate.test.ts did not pin down,
// each found by a mutant every other test let through (session 67's mutation run): a batch that only adds whose
// loss is NaN with finite gradients; the rate resume() puts back at a group's boundary within an epoch; a per-step
// schedule's length with swa.lr counted in updates; a state of step 0 taken with another accumulateSteps; a state
// between groups resumed into a Trainer that holds a group's sums; a checkpoint of a net with batch normalization
// (its running statistics have no sums) taken within a group. Node and Chromium.
import { describe, it, expect } from 'vitest';
import { makeRuntime, expectBits } from './helpers/runtime.js';
import { blobs } from './helpers/blobs.js';
import {
  Adam, MultiLayerNet, MultiLayerNetExtend, NonFiniteError, OneCycleLR, SGD, Sequential, StepLR, Trainer,
  type ElementwiseOptimizer, type StepEvent, type TrainerBaseOptions, type TrainerState,
} from '../src/index.js';

type Params = Record<string, Float32Array>;
const paramsOf = (net: Sequential): Params => Object.fromEntries(Object.entries(net.params).map(([k, t]) => [k, t.toArray()]));

function expectParams(got: Params, want: Params, what: string): void {
  expect(Object.keys(got).sort(), `${what}: keys`).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) expectBits(got[k], want[k], `${what}: ${k}`);
}

/** A state as JSON would carry it (a copy later steps do not change). */
const snapshot = (trainer: Trainer): TrainerState => JSON.parse(JSON.stringify(trainer.trainerState())) as TrainerState;

/**
 * A Trainer of a 2-[8, 8]-2 MultiLayerNet (or `makeNet`'s) on 120 blob rows in batches of 24 (5 an epoch), 3 epochs,
 * on a runtime of its own; `events` gets every StepEvent, `hooks.step` is called after each.
 */
async function setup(options: TrainerBaseOptions, { seed = 5, optimizer = (): ElementwiseOptimizer => new Adam({ lr: 0.05 }), makeNet = (r: Awaited<ReturnType<typeof makeRuntime>>): Sequential => new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2 }) } = {}) {
  const r = await makeRuntime({ seed });
  const net = makeNet(r);
  const d = blobs(r, 120, 1), te = blobs(r, 40, 2);
  const opt = optimizer();
  const events: StepEvent[] = [];
  const hooks: { step?: (e: StepEvent) => void } = {};
  const trainer = new Trainer(net, d.x, d.t, te.x, te.t, {
    epochs: 3, miniBatchSize: 24, optimizer: opt, ...options,
    callbacks: { onStepEnd: (e) => { events.push(e); hooks.step?.(e); } },
  });
  const end = () => { trainer.dispose(); opt.dispose(); net.dispose(); d.x.dispose(); d.t.dispose(); te.x.dispose(); te.t.dispose(); r.dispose(); };
  return { r, net, opt, trainer, events, hooks, end };
}

describe('accumulateSteps: a failed batch that only adds', () => {
  it('a NaN loss with finite gradients throws NonFiniteError naming the loss, the sums, parameters and losses as they were', async () => {
    let calls = 0;
    // the 5th batch's loss NaN (the second of its group with k = 3), its gradients the net's own (finite)
    class NanLoss extends MultiLayerNet {
      override gradient(...args: Parameters<Sequential['gradient']>): ReturnType<Sequential['gradient']> {
        const g = super.gradient(...args);
        if (calls++ === 4) this.lastLoss = NaN;
        return g;
      }
    }
    const clean = await setup({ accumulateSteps: 3 });
    clean.trainer.train();
    const t = await setup({ accumulateSteps: 3 }, { makeNet: (r) => new NanLoss(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2 }) });
    let before: TrainerState | null = null;
    t.hooks.step = (e) => { if (e.iter === 4) before = snapshot(e.trainer); };
    let error: unknown;
    try { t.trainer.train(); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(NonFiniteError);
    expect((error as Error).message).toMatch(/^Trainer: step 5 produced NaN\/Inf loss; parameters, running statistics, optimizer state and the summed gradients of the group left as they were/);
    const after = snapshot(t.trainer);
    expect(after).toMatchObject({ iter: 4, accumulated: 1 });
    expect(after.accum, 'the sums').toEqual(before!.accum);
    expect(after.params, 'the parameters').toEqual(before!.params);
    expect(after.result.trainLossList, 'no NaN recorded').toEqual(before!.result.trainLossList);
    t.trainer.train(); // calls 6 on: the 5th batch again, its loss the net's
    expectParams(paramsOf(t.net), paramsOf(clean.net), 'the run gone on');
    t.end(); clean.end();
  });
});

describe('accumulateSteps: resume() and the per-step schedule', () => {
  const stepped = (): TrainerBaseOptions => ({ accumulateSteps: 3, lrSchedule: new StepLR({ stepSize: 1, gamma: 0.5, interval: 'step' }) });

  it('resumed at a group\'s boundary within an epoch (after batch 6 of 5 an epoch, k = 3), the rate is the one batch 6 updated with', async () => {
    const s = await setup(stepped(), { optimizer: () => new SGD({ lr: 0.1 }) });
    let state: TrainerState | null = null, lr = NaN;
    s.hooks.step = (e) => { if (e.iter === 6) { state = snapshot(e.trainer); lr = e.lr!; } };
    s.trainer.train();
    const final = paramsOf(s.net);
    // batch 6 (iter 5) closed group 4–6, update 2: period 1 of StepLR(1, 0.5)
    expect(lr).toBe(0.05);
    expect(state!).toMatchObject({ iter: 6, epochStep: 1, accumulated: 0, accum: null });
    const again = await setup(stepped(), { seed: 77, optimizer: () => new SGD({ lr: 0.1 }) });
    again.trainer.resume(state!);
    expect((again.opt as SGD).lr, 'the rate after resume()').toBe(0.05);
    again.trainer.train();
    expectParams(paramsOf(again.net), final, 'resumed');
    s.end(); again.end();
  });

  it('likewise OneCycleLR\'s rate and momentum (Adam\'s beta1) at that boundary', async () => {
    const cycle = (): TrainerBaseOptions => ({ accumulateSteps: 3, lrSchedule: new OneCycleLR({ maxLr: 0.1, totalSteps: 5 }) });
    const s = await setup(cycle());
    let state: TrainerState | null = null, at6 = { lr: NaN, beta1: NaN };
    s.hooks.step = (e) => { if (e.iter === 6) { state = snapshot(e.trainer); at6 = { lr: (s.opt as Adam).lr, beta1: (s.opt as Adam).beta1 }; } };
    s.trainer.train();
    // update 2 (period 1) against the one after (period 2): the cycle moves both
    const schedule = new OneCycleLR({ maxLr: 0.1, totalSteps: 5 });
    expect(at6).toEqual({ lr: schedule.lrAt(1, 0.05), beta1: schedule.momentumAt!(1) });
    expect(schedule.momentumAt!(2)).not.toBe(at6.beta1);
    const again = await setup(cycle(), { seed: 77 });
    again.trainer.resume(state!);
    expect({ lr: (again.opt as Adam).lr, beta1: (again.opt as Adam).beta1 }, 'after resume()').toEqual(at6);
    s.end(); again.end();
  });

  it('with swa.lr, a per-step schedule\'s length counts the updates to swa.start\'s end (k = 2: ⌊10 / 2⌋ = 5), not the batches', async () => {
    const swa = { start: 2, lr: 0.01 };
    const s = await setup({ accumulateSteps: 2, swa, lrSchedule: new OneCycleLR({ maxLr: 0.1, totalSteps: 5 }) });
    const result = s.trainer.train();
    expect(result.steps).toBe(15);
    expect(s.opt.t, 'updates').toBe(7);
    s.end();
    await expect(setup({ accumulateSteps: 2, swa, lrSchedule: new OneCycleLR({ maxLr: 0.1, totalSteps: 4 }) }))
      .rejects.toThrow(/^Trainer: lrSchedule OneCycleLR defines 4 steps, and this run takes 5 \(updates of 2 batches each: accumulateSteps\)/);
  });
});

describe('accumulateSteps: resume() and the group in progress', () => {
  it('a state of step 0 taken without accumulateSteps starts a run with it (nothing has updated yet)', async () => {
    const plain = await setup({});
    const start = snapshot(plain.trainer);
    expect(start).toMatchObject({ iter: 0, accumulateSteps: 1 });
    plain.end();
    const fresh = await setup({ accumulateSteps: 3 });
    fresh.trainer.train();
    const s = await setup({ accumulateSteps: 3 }, { seed: 77 });
    s.trainer.resume(start);
    s.trainer.train();
    expectParams(paramsOf(s.net), paramsOf(fresh.net), 'from the state of step 0');
    s.end(); fresh.end();
  });

  it('a state between groups, resumed into a Trainer whose last run ended within a group, leaves that group\'s sums behind', async () => {
    const s = await setup({ accumulateSteps: 2 });
    let state: TrainerState | null = null;
    s.hooks.step = (e) => { if (e.iter === 4) state = snapshot(e.trainer); };
    s.trainer.train();
    const final = paramsOf(s.net);
    expect(state!).toMatchObject({ iter: 4, accumulated: 0, accum: null });
    // the same Trainer, its run ended with batch 15 summed (15 = 7·2 + 1), put back at step 4
    expect(s.trainer.trainerState()).toMatchObject({ iter: 15, accumulated: 1 });
    s.hooks.step = undefined;
    s.trainer.resume(state!);
    expect(s.trainer.trainerState()).toMatchObject({ iter: 4, accumulated: 0, accum: null });
    s.trainer.train();
    expectParams(paramsOf(s.net), final, 'resumed');
    s.end();
  });

  it('a checkpoint of a net with batch normalization taken within a group holds sums of the parameters alone, and resumes to the uninterrupted bits', async () => {
    const makeNet = (r: Awaited<ReturnType<typeof makeRuntime>>): Sequential => new MultiLayerNetExtend(r, { inputSize: 2, hiddenSizeList: [8, 8], outputSize: 2, useBatchnorm: true });
    const s = await setup({ accumulateSteps: 3 }, { makeNet });
    let bytes: Uint8Array | null = null;
    s.hooks.step = (e) => { if (e.iter === 4) bytes = e.trainer.checkpointBytes(); };
    s.trainer.train();
    const final = paramsOf(s.net);
    expect(bytes).not.toBeNull();
    const again = await setup({ accumulateSteps: 3 }, { seed: 77, makeNet });
    again.trainer.resume(bytes!);
    expect(again.trainer.trainerState()).toMatchObject({ iter: 4, accumulated: 1 });
    expect(Object.keys(again.trainer.trainerState().accum!).sort()).toEqual(Object.keys(again.net.params).sort());
    again.trainer.train();
    expectParams(paramsOf(again.net), final, 'resumed');
    s.end(); again.end();
  });

  it('resume() refuses sums without a shape as it refuses misshapen ones (a RangeError naming them), writing nothing', async () => {
    const s = await setup({ accumulateSteps: 3 });
    let state: TrainerState | null = null;
    s.hooks.step = (e) => { if (e.iter === 4) state = snapshot(e.trainer); };
    s.trainer.train();
    const accum = state!.accum!;
    const before = JSON.stringify(s.trainer.trainerState());
    for (const shape of [undefined, null, '2,8', { length: 2 }]) {
      const edited = { ...state!, accum: { ...accum, W1: { shape: shape as never, data: accum.W1.data } } };
      expect(() => s.trainer.resume(edited), String(shape)).toThrow(/^Trainer\.resume: accum\['W1'\] must have the shape \[2, 8\] and 16 values$/);
      expect(JSON.stringify(s.trainer.trainerState()), `${String(shape)}: the Trainer as it was`).toBe(before);
    }
    s.end();
  });
});

describe('accumulateSteps: the sums', () => {
  it('after a group\'s first batch they are its gradients, to the bit, to the last float of a ParameterSet that has no padding', async () => {
    // 2-[16]-16: every tensor a multiple of 16 floats, so the set's block ends with b2's last float
    const makeNet = (r: Awaited<ReturnType<typeof makeRuntime>>) => new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [16], outputSize: 16 });
    const batches: Array<{ x: Float32Array; t: number[] }> = [];
    const s = await setup({ accumulateSteps: 2, maxIterations: 1, augment: (x, t) => { batches.push({ x: x.toArray(), t: Array.from(t.toArray()) }); } }, { makeNet });
    expect(s.net.parameterSet!.size, 'no padding').toBe(2 * 16 + 16 + 16 * 16 + 16);
    const initial = s.net.exportParams();
    s.trainer.train();
    const sums = s.trainer.trainerState().accum!;
    const net = makeNet(s.r);
    net.importParams(initial);
    const x = s.r.tensor([24, 2], batches[0].x);
    const g = net.gradient(x, batches[0].t);
    expect(g.b2.data[15], 'the last float\'s gradient is not 0').not.toBe(0);
    for (const [k, v] of Object.entries(g)) expectBits(Float32Array.from(sums[k].data), v.toArray(), k);
    x.dispose(); net.dispose(); s.end();
  });
});
