// Threads: 512³ GEMM and the MLP training step (784-[100×6]-10 ReLU, batch
// 100, SGD) on a runtime with 2 threads, against the same work on 1 thread
// timed in this process as the "1 thread" peer, so the ratio column is the
// speedup. Both sides go through rt.gemm (which splits only calls big enough
// to gain). In the relaxed pass only the 2-thread side runs, on the relaxed
// shared-memory build.
import { measure } from './harness.mjs';

const THREADS = 2;
const N = 512;
const MLP = { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10 };
const BATCH = 100;

async function runtime(threads, relaxed) {
  const { createRuntime } = await import('../dist/node/index.js');
  const rt = await createRuntime({ threads, relaxed });
  if (rt.features.threads !== threads) throw new Error(`bench: asked for ${threads} threads, got ${rt.features.threads}: ${rt.features.notes.join('; ')}`);
  return rt;
}

function gemmCase(rt) {
  const a = rt.randn(rt.tensor([N, N]));
  const b = rt.randn(rt.tensor([N, N]));
  const c = rt.tensor([N, N]);
  return {
    fn: () => rt.gemm(0, 0, N, N, N, a.ptr, N, b.ptr, N, c.ptr, N),
    dispose: () => { a.dispose(); b.dispose(); c.dispose(); rt.dispose(); },
  };
}

async function mlpCase(rt) {
  const { MultiLayerNet, SGD } = await import('../dist/index.js');
  const net = new MultiLayerNet(rt, MLP);
  const x = rt.uniform(rt.tensor([BATCH, MLP.inputSize]));
  const t = rt.labels([BATCH], Int32Array.from({ length: BATCH }, (_, i) => (i * 7 + 3) % MLP.outputSize));
  const sgd = new SGD({ lr: 0.01 });
  // restore the initial weights before each timed step, as bench/mlp.bench.mjs does
  const initial = Object.values(net.params).map((p) => [p, p.toArray()]);
  return {
    fn: () => { net.gradient(x, t); sgd.update(net.params, net.grads); },
    beforeEach: () => { for (const [p, values] of initial) p.set(values); },
    dispose: () => { net.dispose(); x.dispose(); t.dispose(); rt.dispose(); },
  };
}

/** The 1-thread peer: milliseconds per call of the same case on a 1-thread runtime. */
async function oneThread(make, suite) {
  const p = await make(await runtime(1, false));
  try {
    return await measure(p.fn, suite.time, p.beforeEach);
  } finally {
    p.dispose();
  }
}

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  const cases = [
    [`${N}³ A·B, ${THREADS} threads`, 2 * N ** 3, gemmCase],
    [`MultiLayerNet step 784-[100×6]-10, batch ${BATCH}, SGD, ${THREADS} threads`, undefined, mlpCase],
  ];
  for (const [name, flops, make] of cases) {
    suite.add(name, {
      flops,
      ours: async () => make(await runtime(THREADS, suite.relaxed)),
      external: { '1 thread': () => oneThread(make, suite) },
    });
  }
}
