// Threads: 512³ GEMM, the MLP training step (784-[100×6]-10 ReLU, batch 100,
// SGD and Adam) and the DeepConvNet training step (batch 100, Adam) on a runtime with
// 2 threads, against the same work on 1 thread timed in this process (the
// "1 thread" peer, so that ratio is the speedup) and, for the two nets, the
// book's NumPy code with 2 BLAS threads. Both of our sides go through the
// runtime's splitting (rt.unsafeGemm, convolution by groups of images), which
// splits only work big enough to gain. Each side runs WARM_MS of steps before
// it is timed (a new pool's first second is slower). In the relaxed pass only
// the 2-thread side runs, on the relaxed shared-memory build. Wall clock
// throughout (CPU time would sum the threads). Last, the command users run:
// `simdnn train --net deep-conv` for one epoch with its default threads against
// `--threads 1`, each in a child process, timed by the training seconds the CLI
// reports.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { measure, python } from './harness.mjs';

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

const labels = (classes) => Int32Array.from({ length: BATCH }, (_, i) => (i * 7 + 3) % classes);

/**
 * Steps run before a case is timed, ms. A new pool's first ~0.7 s are slower
 * (its worker misses parts while V8 compiles the worker isolate's code): the
 * MLP step on 2 threads took 4–23% longer in the first of four back-to-back
 * 1 s measurements than in the other three, in 7 of 7 processes, and the
 * harness warms up for a quarter of its time only. Both sides get the same.
 */
const WARM_MS = 1500;

/** The prepared case `p`, after WARM_MS of its steps (with their beforeEach). */
function warmed(p) {
  const end = performance.now() + WARM_MS;
  while (performance.now() < end) { p.beforeEach?.(); p.fn(); }
  return p;
}

function gemmCase(rt) {
  const a = rt.randn(rt.tensor([N, N]));
  const b = rt.randn(rt.tensor([N, N]));
  const c = rt.tensor([N, N]);
  return {
    fn: () => rt.unsafeGemm(0, 0, N, N, N, a.ptr, N, b.ptr, N, c.ptr, N),
    dispose: () => { a.dispose(); b.dispose(); c.dispose(); rt.dispose(); },
  };
}

/** The MLP step with the optimizer `name` at learning rate `lr`. */
const mlpCase = (name, lr) => async (rt) => {
  const { MultiLayerNet, createOptimizer } = await import('../dist/index.js');
  const net = new MultiLayerNet(rt, MLP);
  const x = rt.uniform(rt.tensor([BATCH, MLP.inputSize]));
  const t = rt.labels([BATCH], labels(MLP.outputSize));
  const optimizer = createOptimizer(name, { lr });
  // restore the initial weights before each timed step, as bench/mlp.bench.mjs does
  const initial = Object.values(net.params).map((p) => [p, p.toArray()]);
  return {
    fn: () => { net.gradient(x, t); optimizer.update(net.params, net.grads); },
    beforeEach: () => { for (const [p, values] of initial) p.set(values); },
    dispose: () => { net.dispose(); x.dispose(); t.dispose(); rt.dispose(); },
  };
};

async function deepConvCase(rt) {
  const { DeepConvNet, createOptimizer } = await import('../dist/index.js');
  const net = new DeepConvNet(rt);
  const x = rt.uniform(rt.tensor([BATCH, 1, 28, 28]));
  const t = rt.labels([BATCH], labels(10));
  const adam = createOptimizer('adam', { lr: 0.001 });
  return {
    fn: () => { net.gradient(x, t); adam.update(net.params, net.grads); },
    dispose: () => { net.dispose(); x.dispose(); t.dispose(); rt.dispose(); },
  };
}

/** The 1-thread peer: milliseconds per call of the same case on a 1-thread runtime. */
async function oneThread(make, suite) {
  const p = warmed(await make(await runtime(1, false)));
  try {
    return await measure(p.fn, suite.time, p.beforeEach);
  } finally {
    p.dispose();
  }
}

/** The book's NumPy code for the same step on THREADS BLAS threads, wall clock. */
const numpy = (suite, script, args = []) => async () => {
  const r = await python(fileURLToPath(new URL(script, import.meta.url)), [...args, `--time=${suite.time}`, '--clock=wall'], THREADS);
  return r.ms !== undefined ? { ms: r.ms, note: r.blas } : r;
};

const CLI = fileURLToPath(new URL('../dist/node/cli.js', import.meta.url));

/**
 * Milliseconds of training (the CLI's own `seconds`: data loading excluded) of
 * one DeepConvNet epoch on the bundled digits, by `simdnn train` in a child
 * process with the given extra flags. The relaxed pass passes this process's
 * V8 flags on (Node 20 runs relaxed SIMD only behind one).
 */
function cliEpoch(suite, flags) {
  const args = [...process.execArgv, CLI, 'train', '--net', 'deep-conv', '--optimizer', 'adam', '--epochs', '1', '--json', '--quiet',
    ...(suite.quick ? ['--train-rows', '1000', '--test-rows', '200'] : []), ...(suite.relaxed ? ['--relaxed'] : []), ...flags];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`simdnn train ${flags.join(' ')} exited ${code}: ${err.trim().split('\n').pop()}`));
      resolve(JSON.parse(out).seconds * 1000);
    });
  });
}

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  const cases = [
    [`${N}³ A·B, ${THREADS} threads`, 2 * N ** 3, gemmCase, {}],
    [`MultiLayerNet step 784-[100×6]-10, batch ${BATCH}, SGD, ${THREADS} threads`, undefined, mlpCase('sgd', 0.01),
      { [`numpy ${THREADS} threads`]: numpy(suite, './mlp_numpy.py', ['--optimizer=sgd']) }],
    [`MultiLayerNet step 784-[100×6]-10, batch ${BATCH}, Adam, ${THREADS} threads`, undefined, mlpCase('adam', 0.001),
      { [`numpy ${THREADS} threads`]: numpy(suite, './mlp_numpy.py', ['--optimizer=adam']) }],
    [`DeepConvNet training step [${BATCH}, 1, 28, 28], Adam, ${THREADS} threads`, undefined, deepConvCase,
      { [`numpy ${THREADS} threads`]: numpy(suite, './deepconvnet_numpy.py', ['--case=step']) }],
  ];
  for (const [name, flops, make, peers] of cases) {
    suite.add(name, {
      flops,
      ours: async () => warmed(await make(await runtime(THREADS, suite.relaxed))),
      external: { '1 thread': () => oneThread(make, suite), ...peers },
    });
  }
  suite.add(`simdnn train --net deep-conv --optimizer adam, 1 epoch${suite.quick ? ' of 1,000 rows' : ''}, default threads (target ≥ 1.7× --threads 1)`, {
    ours: async () => ({ ms: await cliEpoch(suite, []) }),
    external: { '--threads 1': () => cliEpoch(suite, ['--threads', '1']) },
    wallClock: true,
  });
}
