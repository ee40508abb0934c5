// One run per runtime's random stream: while a Trainer's fit() awaits, other code runs (a page's handlers,
// timers); a draw from the stream then (building a net, randn, a reseed by a search's trial or an experiment)
// would change the run's bits, and is refused with a ConcurrentRunError before it changes anything; a
// reseed from the run's own callback too. loadModel, which puts the stream back, goes on working.
import { describe, it, expect } from 'vitest';
import { makeRuntime, randomArray, randomInts, expectBits } from './helpers/runtime.js';
import { MultiLayerNet, Trainer, SGD, ConcurrentRunError, saveModel, loadModel, type TrainResult } from '../src/index.js';
import { runTrial } from '../src/search/index.js';

async function setup() {
  const rt = await makeRuntime({ seed: 3, threads: 1 });
  const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [6], outputSize: 3 });
  const x = rt.tensor([90, 4], randomArray(360, 1, -1, 1)), t = rt.labels([90], randomInts(90, 2, 3));
  const trainer = new Trainer(net, x, t, x, t, { epochs: 4, miniBatchSize: 10, optimizer: new SGD({ lr: 0.1 }) });
  return { rt, net, x, t, trainer };
}

const params = (net: MultiLayerNet) => Object.values(net.exportParams()).map((p) => p.data);

describe('a runtime\'s random stream during fit()', () => {
  it('refuses draws and reseeds from other code while fit() awaits, and fit() keeps train()\'s bits', async () => {
    const want = await setup();
    const wantResult = want.trainer.train();
    const got = await setup();
    const bytes = saveModel(got.net);
    const refused: string[] = [];
    let loaded = 0;
    // runs whenever fit() yields to the event loop
    const other = () => {
      for (const [name, draw] of [
        ['new MultiLayerNet', () => new MultiLayerNet(got.rt, { inputSize: 2, hiddenSizeList: [], outputSize: 2 })],
        ['randn', () => got.rt.randn(got.rt.tensor([4]))],
        ['reseed', () => got.rt.reseed(9)],
        ['seed', () => { got.rt.seed = 9; }],
      ] as const) {
        try { draw(); } catch (e) { if (e instanceof ConcurrentRunError) refused.push(name); else throw e; }
      }
      loadModel(got.rt, bytes).net.dispose(); // draws and puts the stream back: allowed
      loaded++;
    };
    let timer: ReturnType<typeof setInterval> | null = setInterval(other, 0);
    let result: TrainResult;
    try {
      result = await got.trainer.fit({ callbacks: { onStepEnd: () => new Promise<void>((resolve) => setTimeout(resolve, 0)) } });
    } finally {
      clearInterval(timer!);
      timer = null;
    }
    expect(loaded).toBeGreaterThan(0);
    expect(new Set(refused)).toEqual(new Set(['new MultiLayerNet', 'randn', 'reseed', 'seed']));
    expect(refused.length).toBe(4 * loaded);
    expect(result.trainLossList).toEqual(wantResult.trainLossList);
    params(got.net).forEach((p, i) => expectBits(p, params(want.net)[i], `param ${i}`));
    // after the run, the stream is free again
    got.rt.reseed(3);
    for (const s of [want, got]) { s.trainer.dispose(); s.rt.dispose(); }
  });

  it('a search\'s trial started from a run\'s callback is refused before it reseeds the stream', async () => {
    const want = await setup();
    const wantResult = want.trainer.train();
    const got = await setup();
    let error: unknown;
    const data = { xTrain: got.x, tTrain: got.t, xVal: got.x, tVal: got.t };
    const result = await got.trainer.fit({ callbacks: { onStepEnd: async (e) => {
      if (e.iter !== 5) return;
      try { await runTrial(got.rt, { study: 's', index: 0, seed: 99, settings: { lr: 0.01 }, epochs: 1, data: { name: 'mine' } }, data); } catch (err) { error = err; }
    } } });
    expect(error).toBeInstanceOf(ConcurrentRunError);
    expect((error as Error).message).toMatch(/^reseed: a Trainer is training on this runtime/);
    expect(result.trainLossList).toEqual(wantResult.trainLossList);
    for (const s of [want, got]) { s.trainer.dispose(); s.rt.dispose(); }
  });
});
