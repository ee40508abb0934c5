// A non-shared memory that grows detaches its ArrayBuffer: every typed array on it (a tensor's `data`)
// is emptied (length 0). Labels given as such a view, and a checkpoint's best epoch given as views, are
// copied before anything allocates; here every allocation detaches the buffer (memory.grow(0) detaches
// as a growth does), and each result must equal the one with plain arrays on a memory that never grows.
import { describe, it, expect, afterEach, vi } from 'vitest';
import { Allocator } from '../src/runtime/allocator.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { MultiLayerNet, SimpleConvNet, Trainer, SGD, saveModelChunks, loadModel } from '../src/index.js';
import { makeRuntime, randomArray, randomInts, expectBits } from './helpers/runtime.js';

/** From now on, every allocation detaches the memory's buffer after it is made. */
function detachOnEveryAllocation(): void {
  const alloc = Allocator.prototype.alloc;
  vi.spyOn(Allocator.prototype, 'alloc').mockImplementation(function (this: Allocator, bytes: number) {
    const ptr = alloc.call(this, bytes);
    (this as unknown as { memory: WebAssembly.Memory }).memory.grow(0);
    return ptr;
  });
}
afterEach(() => { vi.restoreAllMocks(); });

/** Two nets with the same parameters: one on a runtime left alone, one on a runtime whose every allocation detaches. */
async function twins() {
  const calm = await makeRuntime({ seed: 4, threads: 1 });
  const moving = await makeRuntime({ seed: 4, threads: 1 });
  const options = { inputSize: 6, hiddenSizeList: [5], outputSize: 3 };
  const a = new MultiLayerNet(calm, options), b = new MultiLayerNet(moving, options);
  b.importParams(a.exportParams());
  return { calm, moving, a, b };
}

const rowsOf = (rt: Runtime, n: number, seed: number) => rt.tensor([n, 6], randomArray(n * 6, seed, -1, 1));

describe('labels given as a tensor\'s data while the memory grows', () => {
  it('accuracy, evaluate, loss, gradient, their async forms and SoftmaxWithLoss read them whole', async () => {
    const { calm, moving, a, b } = await twins();
    detachOnEveryAllocation();
    // `t()` gives the labels at the moment of the call (a view taken earlier is the caller's to renew)
    const entries: Array<[string, (net: MultiLayerNet, x: ReturnType<typeof rowsOf>, t: () => ArrayLike<number>) => unknown]> = [
      ['accuracy', (net, x, t) => net.accuracy(x, t())],
      ['evaluate', (net, x, t) => net.evaluate(x, t())],
      ['loss', (net, x, t) => net.loss(x, t())],
      ['gradient', (net, x, t) => Object.values(net.gradient(x, t())).map((g) => Array.from(g.toArray()))],
      ['accuracyAsync', (net, x, t) => net.accuracyAsync(x, t())],
      ['evaluateAsync', (net, x, t) => net.evaluateAsync(x, t())],
      ['SoftmaxWithLoss.forward', (net, x, t) => { const y = net.predictBorrowed(x); return net.lastLayer.forward(y, t()); }],
    ];
    let n = 7;
    for (const [name, call] of entries) {
      n++; // a batch size not seen before: the net's forward allocates its buffers, detaching the labels' view
      const labels = Array.from(randomInts(n, n, 3));
      const want = await call(a, rowsOf(calm, n, n), () => labels);
      const view = moving.labels([n], labels);
      const got = await call(b, rowsOf(moving, n, n), () => view.data);
      expect(got, name).toEqual(want);
    }
    calm.dispose(); moving.dispose();
  });

  it('a Trainer given tTest as a view evaluates every epoch on the labels given', async () => {
    const runs: number[][] = [];
    for (const grow of [false, true]) {
      if (grow) detachOnEveryAllocation();
      const rt = await makeRuntime({ seed: 5, threads: 1 });
      const net = new MultiLayerNet(rt, { inputSize: 6, hiddenSizeList: [5], outputSize: 3 });
      const x = rowsOf(rt, 60, 1), t = rt.labels([60], randomInts(60, 2, 3));
      const tTest = rt.labels([30], randomInts(30, 3, 3));
      const trainer = new Trainer(net, x, t, rowsOf(rt, 30, 4), grow ? tTest.data : Array.from(tTest.data), { epochs: 3, miniBatchSize: 7, optimizer: new SGD({ lr: 0.1 }) });
      const result = trainer.train();
      runs.push([...result.testAccList, ...result.epochs.map((e) => e.testLoss)]);
      trainer.dispose(); rt.dispose();
    }
    expect(runs[1]).toEqual(runs[0]);
  });
});

describe('a checkpoint\'s best epoch given as tensors\' data', () => {
  it('is written whole when the memory grows while the pieces are consumed', async () => {
    const rt = await makeRuntime({ seed: 6, threads: 1 });
    const net = new SimpleConvNet(rt, { inputDim: [1, 8, 8], convParam: { filterNum: 4, filterSize: 3, pad: 1, stride: 1 }, hiddenSize: 20, outputSize: 3 });
    const kept = Object.entries({ ...net.params, ...net.state }).map(([k, p]) => [k, rt.tensor(p.shape, p.toArray().map((v) => v * 3))] as const);
    const best = Object.fromEntries(kept.map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
    detachOnEveryAllocation();
    const pieces: Uint8Array[] = [];
    for (const piece of saveModelChunks(net, { best, chunkBytes: 256 })) {
      pieces.push(piece);
      rt.tensor([16]); // the memory grows between pieces (writeModelFile awaits between them)
    }
    vi.restoreAllMocks();
    const loaded = loadModel(rt, pieces);
    for (const [k, t] of kept) expectBits(loaded.best![k].data, t.toArray(), k);
    loaded.net.dispose(); net.dispose(); rt.dispose();
  });
});
