// Threads: 512³ GEMM, the MLP training step (784-[100×6]-10 ReLU, batch 100,
// SGD and Adam) and the DeepConvNet training step (batch 100, Adam) on a runtime with
// 2 threads, against the same work on 1 thread timed in this process (the
// "1 thread" peer, so that ratio is the speedup) and, for the two nets, the
// book's NumPy code with 2 BLAS threads, timed in the same rounds
// (bench/numpy-peer.mjs), in both passes. Both of our sides go through the
// runtime's splitting (rt.unsafeGemm, convolution by groups of images), which
// splits only work big enough to gain. Each side runs WARM_MS of steps before
// it is timed (a new pool's first second is slower). The two sides are timed
// in alternating blocks (pairedMs), so a phase of the host (on the 2-vCPU VMs
// measured, minutes at a time at 1.5x a step's time) weighs on both alike
// instead of on whichever ran during it. In the relaxed pass the 2-thread
// side runs on the relaxed shared-memory build, where the case has NumPy's
// blocks with them and with the plain build on 2 threads (its note gives both
// ratios: a dip of both builds is the host's). The MLP rows' note
// also gives each side's update in a step against the same update run again
// at once (updateUs): on 2 threads, what W's lines cost to take back from the
// other core. Wall clock
// throughout (CPU time would sum the threads). Last, the command users run:
// `simdnn train --net deep-conv` for one epoch, and the README's main job
// (`simdnn train` with its defaults), with default threads against
// `--threads 1`, each in a child process, timed by the training seconds the CLI
// reports, in alternating pairs (pairedCli).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, sidesInRound } from './harness.mjs';
import { HalfBatchPair } from './half-batch-pair.mjs';
import { NumpyPeer, WORKER_SPIN_MS } from './numpy-peer.mjs';
import { RoundTrip } from './roundtrip.mjs';

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
    rt,
    dispose: () => { a.dispose(); b.dispose(); c.dispose(); rt.dispose(); },
  };
}

/** Updates timed each way by an MLP case's updateUs (medians), after UPDATE_WARM_MS of steps (a pool's worker awake). */
const UPDATE_PROBES = 300;
const UPDATE_WARM_MS = 300;

/** The MLP step with the optimizer `name` at learning rate `lr`. */
const mlpCase = (name, lr) => async (rt) => {
  const { MultiLayerNet, createOptimizer } = await import('../dist/index.js');
  const net = new MultiLayerNet(rt, MLP);
  const x = rt.uniform(rt.tensor([BATCH, MLP.inputSize]));
  const t = rt.labels([BATCH], labels(MLP.outputSize));
  const optimizer = createOptimizer(name, { lr });
  // restore the initial weights before each timed step, as bench/mlp.bench.mjs does
  const initial = Object.values(net.params).map((p) => [p, p.toArray()]);
  const restore = () => { for (const [p, values] of initial) p.set(values); };
  return {
    fn: () => { net.gradient(x, t); optimizer.update(net.params, net.grads); },
    beforeEach: restore,
    /**
     * µs of the update right after a gradient, as in a step, and of the same update run again at once
     * (medians): on 2 threads the first takes back from the other core every line of W it writes, since
     * each core read all of W in its rows' forward; the second finds them in its own cache.
     */
    updateUs: () => {
      for (const end = performance.now() + UPDATE_WARM_MS; performance.now() < end;) {
        restore();
        net.gradient(x, t);
        optimizer.update(net.params, net.grads);
      }
      const inStep = [], again = [];
      for (let i = 0; i < UPDATE_PROBES; i++) {
        restore();
        net.gradient(x, t);
        let t0 = performance.now();
        optimizer.update(net.params, net.grads);
        inStep.push(performance.now() - t0);
        t0 = performance.now();
        optimizer.update(net.params, net.grads);
        again.push(performance.now() - t0);
      }
      return { inStep: 1000 * median(inStep), again: 1000 * median(again) };
    },
    rt,
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
    rt,
    dispose: () => { net.dispose(); x.dispose(); t.dispose(); rt.dispose(); },
  };
}

/**
 * A net case's floor (bench/half-batch-pair.mjs): two workers stepping their own copies of `net` (the MLP's
 * options, or 'deep-conv') on half the batch each, sharing no data, timed in the same alternating blocks.
 */
const halfBatchPair = (net, optimizer, lr) => () => HalfBatchPair.start({ net, batch: BATCH, optimizer, lr, warmMs: WARM_MS });

/** Blocks each side of a paired measurement is timed in. */
const BLOCKS = 20;

/**
 * Calls each block runs untimed before it is timed, ms (one call at least), on
 * every side: ours, the no-sharing pair's and NumPy's. The sides take turns, so
 * a block starts on vCPUs that sat idle (the 2-thread side's worker through the
 * 1-thread block, both through the pauses for NumPy's and the pool's spinning
 * threads), which a training loop's steps, back to back, never do. On the 2-vCPU
 * Zen 5 guest of docs/BENCHMARKS.md (session 40) two threads that had slept
 * 2–200 ms lost 0.7–3.4 ms each, in slices of 2.5–8 ms, in their first 40 ms of
 * spinning and ~0.1 ms in the next 40 (no other process of the guest was busy),
 * and a split step waits for whichever of its threads is out: in one phase the
 * 2-thread MLP step's 10 ms blocks after 200 ms asleep ran at 1.4–5.5 ms a step,
 * against 0.85 in steady steps and 1.4 on one thread.
 */
const WAKE_MS = 40;

/**
 * Milliseconds per call of the case on THREADS threads and on 1, timed in
 * BLOCKS alternating blocks of suite.time / BLOCKS ms per side (their order
 * swapped every block, each after WAKE_MS of untimed calls), each call timed alone
 * with its beforeEach untimed, as the harness times a case: the mean over all
 * of a side's calls. Before each pair of blocks, the cache-line round trip
 * between two threads (bench/roundtrip.mjs); `note` gives its range and, where
 * it moved by 2× or more, the ratio in the pairs of blocks at up to twice the
 * fastest round trip and in the others. With `floor` (a HalfBatchPair's
 * start), the pair of no-sharing workers is timed in the same rounds, after
 * our sides and a pause of WORKER_SPIN_MS (so the 2-thread pool's worker,
 * spinning for a while after its last call, never competes with the pair's
 * two), and the note gives its ratio over 1 thread. With `numpy` (a
 * NumpyPeer's start), NumPy is timed last in each round (`numpy`: its cell),
 * and the next round waits until NumPy's threads have stopped spinning
 * (NumpyPeer.quiet). `roundTrip: false` leaves the round-trip probe out (the tests: its
 * echo worker, starved on a loaded machine, would stop the case). With `relaxed`, the THREADS side runs on the relaxed build, against
 * the plain build on THREADS threads in place of 1 (`one` is undefined; the note gives the
 * plain side's time and relaxed's speed over it). The note also counts the THREADS side's calls that
 * ran on its calling thread alone because its worker had found the cores busy
 * (the pool's quiet workers, src/runtime/threads.ts), when there were any,
 * and, for a case with `updateUs` (the MLP's), its update's time in a step
 * against the same update run again at once, on each side: what a step on 2
 * threads pays for W's lines, which the other core read in the forward.
 */
export async function pairedMs(make, suite, { relaxed = false, floor = null, numpy = null, roundTrip = true } = {}) {
  const sides = [];
  let probe = null, halves = null, peer = null;
  try {
    sides.push(warmed(await make(await runtime(THREADS, relaxed))));
    sides.push(warmed(await make(await runtime(relaxed ? THREADS : 1, false))));
    if (floor) halves = await floor();
    if (numpy) peer = await numpy();
    const timesNumpy = peer instanceof NumpyPeer;
    if (roundTrip) probe = await RoundTrip.start();
    const quietBefore = sides[0].rt.threadStats().quietCalls;
    const total = [0, 0], calls = [0, 0];
    const pairs = [];
    const blockMs = suite.time / BLOCKS;
    const extra = { floor: [0, 0], balanced: [0, 0], numpy: [0, 0] }; // [ms, steps]: the pair's blocks (slower worker, balanced) and NumPy's
    const workerMs = [0, 0]; // the floor's workers' steps, summed
    const add = (what, r) => { extra[what][0] += r.ms * r.steps; extra[what][1] += r.steps; };
    // a block's first WAKE_MS of calls run untimed
    const run = (p, ms) => {
      for (const end = performance.now() + WAKE_MS; ;) {
        p.beforeEach?.();
        p.fn();
        if (performance.now() >= end) break;
      }
      let t = 0, n = 0;
      for (const end = performance.now() + ms; performance.now() < end;) {
        p.beforeEach?.();
        const t0 = performance.now();
        p.fn();
        t += performance.now() - t0;
        n++;
      }
      return { t, n };
    };
    for (let b = 0; b < BLOCKS; b++) {
      const pair = { ns: probe?.measure(), ms: [0, 0] };
      const order = sidesInRound(b);
      if (b > 0 && timesNumpy) await peer.quiet(); // NumPy's threads wind down first (numpy-peer.mjs quiet)
      for (const i of order) {
        const { t, n } = run(sides[i], blockMs);
        total[i] += t;
        calls[i] += n;
        pair.ms[i] = t / n;
      }
      if (halves) {
        await new Promise((r) => setTimeout(r, WORKER_SPIN_MS)); // the 2-thread side's worker stops spinning
        const r = halves.block(blockMs, WAKE_MS);
        add('floor', r);
        add('balanced', { ms: r.balancedMs, steps: r.steps });
        for (const w of [0, 1]) workerMs[w] += r.workerMs[w] * r.steps;
      }
      if (timesNumpy) add('numpy', await peer.block(blockMs, WAKE_MS));
      pairs.push(pair);
      await new Promise((r) => setImmediate(r)); // let the event loop run between blocks, as tinybench does
    }
    const two = total[0] / calls[0], one = relaxed ? undefined : total[1] / calls[1];
    let note = probe ? roundTripNote(pairs, !relaxed) : 'no round-trip probe';
    // the pool's answer to a busy machine (src/runtime/threads.ts, quiet workers): say when it ran calls alone
    const quiet = sides[0].rt.threadStats().quietCalls - quietBefore;
    if (quiet > 0) note += `; ${quiet} calls of the ${THREADS}-thread side ran on one thread (a worker found the cores busy)`;
    if (halves) {
      const ms = extra.floor[0] / extra.floor[1];
      const balanced = extra.balanced[0] / extra.balanced[1];
      const [fast, slow] = [...workerMs].sort((a, b) => a - b);
      note += `; 2 workers on ${BATCH / 2} rows each, sharing no data: ${ms.toFixed(3)} ms, ${(one / ms).toFixed(2)}× over 1 thread (the split's floor here)`;
      note += `, the slower worker at ${(fast / slow).toFixed(2)} of the other's speed; with each step's rows split by the two workers' speeds in it: ${balanced.toFixed(3)} ms, ${(one / balanced).toFixed(2)}× (the floor when the host slows one core)`;
    }
    if (!relaxed && sides[0].updateUs) {
      if (timesNumpy) await peer.quiet();
      const [two, single] = sides.map((p) => p.updateUs());
      note += `; its update in a step ${two.inStep.toFixed(0)} µs on ${THREADS} threads, ${two.again.toFixed(0)} run again at once`
        + ` (1 thread: ${single.inStep.toFixed(0)} and ${single.again.toFixed(0)}): the difference is the lines of W taken back from the other core`;
    }
    const numpyCell = timesNumpy ? { ms: extra.numpy[0] / extra.numpy[1], note: peer.blas } : peer;
    if (relaxed) {
      const plain = total[1] / calls[1];
      note += `; plain build on ${THREADS} threads in the same rounds: ${plain.toFixed(3)} ms, relaxed ${(plain / two).toFixed(2)}× its speed`;
    }
    if (relaxed && timesNumpy) note += `; numpy ${THREADS} threads in the same rounds: ${numpyCell.ms.toFixed(1)} ms, ${(numpyCell.ms / two).toFixed(2)}×`;
    return { two, one, note, numpy: numpyCell };
  } finally {
    await probe?.close();
    await halves?.close();
    if (peer instanceof NumpyPeer) await peer.close();
    for (const p of sides) p.dispose();
  }
}

/** The round trips' range, and (`byRoundTrip`) the ×1 thread ratio by round trip where it moved (see pairedMs). */
function roundTripNote(pairs, byRoundTrip) {
  const ns = pairs.map((p) => p.ns);
  const lo = Math.min(...ns), hi = Math.max(...ns);
  let note = `cache-line round trip ${lo.toFixed(0)}–${hi.toFixed(0)} ns`;
  if (byRoundTrip && hi >= 2 * lo) {
    const ratio = (ps) => ps.reduce((s, p) => s + p.ms[1], 0) / ps.reduce((s, p) => s + p.ms[0], 0);
    const near = pairs.filter((p) => p.ns <= 2 * lo), far = pairs.filter((p) => p.ns > 2 * lo);
    note += `: ${ratio(near).toFixed(2)}× over 1 thread in the ${near.length} pairs of blocks at ≤ ${(2 * lo).toFixed(0)} ns, ${ratio(far).toFixed(2)}× in the ${far.length} above`;
  }
  return note;
}

/** The book's NumPy code for the same step on THREADS BLAS threads, wall clock, as a peer timed in pairedMs's rounds. */
const numpyPeer = (suite, script, args = []) => () =>
  NumpyPeer.start(fileURLToPath(new URL(script, import.meta.url)), [...args, `--time=${suite.time}`, '--clock=wall'], THREADS);

const CLI = fileURLToPath(new URL('../dist/node/cli.cjs', import.meta.url));

/**
 * The CLI cases: `simdnn train` with `args` (the README's main job: none), in a
 * child process; `--json --quiet` and, in the relaxed pass, `--relaxed` are added.
 */
const CLI_CASES = {
  'deep-conv': { args: ['--net', 'deep-conv', '--optimizer', 'adam', '--epochs', '1'], quick: ['--train-rows', '1000', '--test-rows', '200'], pairs: 3 },
  main: { args: [], quick: ['--epochs', '1'], pairs: 6 },
};

/**
 * Milliseconds of training (the CLI's own `seconds`: data loading excluded) of
 * CLI case `name` with the given extra flags, and how its steps used the pool
 * (the report's threadUse). The relaxed pass passes this process's V8 flags on
 * (Node 20 runs relaxed SIMD only behind one).
 */
function cliRun(suite, name, flags) {
  const c = CLI_CASES[name];
  const args = [...process.execArgv, CLI, 'train', ...c.args, '--json', '--quiet',
    ...(suite.quick ? c.quick : []), ...(suite.relaxed ? ['--relaxed'] : []), ...flags];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`simdnn train ${flags.join(' ')} exited ${code}: ${err.trim().split('\n').pop()}`));
      const r = JSON.parse(out);
      resolve({ ms: r.seconds * 1000, use: r.threadUse, faults: r.workerFaults });
    });
  });
}

/**
 * Runs per side of a CLI case (its `pairs`), in alternating pairs (default
 * threads first, then --threads 1, then the other way round): one epoch a side
 * let a phase of the host decide the DeepConvNet's ratio (1.91× in one full run,
 * 1.21× in the next, where the 1-thread epoch took 17.5 s and 25.1 s a few
 * minutes later). The main job's runs take about a second: twice the pairs.
 */
async function pairedCli(suite, name) {
  const pairs = CLI_CASES[name].pairs;
  const ms = [[], []];
  const ways = [];
  const faults = [];
  for (let i = 0; i < pairs; i++) {
    for (const side of sidesInRound(i)) {
      const r = await cliRun(suite, name, side ? ['--threads', '1'] : []);
      ms[side].push(r.ms);
      faults.push(...r.faults);
      // a run that ended on one thread says what its last probe measured (a step split and on one thread, in ms)
      if (!side) ways.push(r.use.poolStepMs === null ? 'no probe' : r.use.pool ? 'split' : `one thread (probe ${r.use.probes}: ${r.use.poolStepMs.toPrecision(3)} ms split, ${r.use.serialStepMs.toPrecision(3)} on one)`);
    }
  }
  const mean = (a) => a.reduce((sum, v) => sum + v, 0) / a.length;
  // a step a worker thread failed ran again on the calling thread (the run goes on): say so, with the first cause
  const faulted = faults.length === 0 ? '' : `; worker faults: ${faults.length}, each step or evaluation run again on the calling thread (the first: ${faults[0].message})`;
  return {
    two: mean(ms[0]),
    one: mean(ms[1]),
    note: `${pairs} alternating pairs, ×1 thread per pair ${ms[0].map((t, i) => (ms[1][i] / t).toFixed(2)).join(', ')}; steps ran ${ways.join(', ')}${faulted}`,
  };
}

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  const cases = [
    [`${N}³ A·B, ${THREADS} threads`, 2 * N ** 3, gemmCase, {}],
    [`MultiLayerNet step 784-[100×6]-10, batch ${BATCH}, SGD, ${THREADS} threads`, undefined, mlpCase('sgd', 0.01),
      { floor: halfBatchPair(MLP, 'sgd', 0.01), numpy: numpyPeer(suite, './mlp_numpy.py', ['--optimizer=sgd']) }],
    [`MultiLayerNet step 784-[100×6]-10, batch ${BATCH}, Adam, ${THREADS} threads`, undefined, mlpCase('adam', 0.001),
      { floor: halfBatchPair(MLP, 'adam', 0.001), numpy: numpyPeer(suite, './mlp_numpy.py', ['--optimizer=adam']) }],
    [`DeepConvNet training step [${BATCH}, 1, 28, 28], Adam, ${THREADS} threads`, undefined, deepConvCase,
      { floor: halfBatchPair('deep-conv', 'adam', 0.001), numpy: numpyPeer(suite, './deepconvnet_numpy.py', ['--case=step']) }],
  ];
  for (const [name, flops, make, others] of cases) {
    // both sides at once (the harness asks for ours first, then the peers); the relaxed pass times ours
    // in the same way (pairedMs: blocks after WAKE_MS of untimed calls), against the plain build on
    // THREADS threads, with NumPy where the case has it. Timed by the harness instead (alternating with
    // the 1-thread peak loop, one untimed call a block), the 2-thread GEMM's woken worker paid its first
    // milliseconds in the timed calls, which the plain figure leaves out.
    let paired = null;
    const both = () => (paired ??= pairedMs(make, suite, others));
    const relaxedOurs = async () => {
      const r = await pairedMs(make, suite, { relaxed: true, numpy: others.numpy });
      return { ms: r.two, note: r.note };
    };
    suite.add(name, {
      flops,
      ours: suite.relaxed ? relaxedOurs : async () => { const r = await both(); return { ms: r.two, note: r.note }; },
      external: {
        '1 thread': async () => (await both()).one,
        ...(others.numpy ? { [`numpy ${THREADS} threads`]: async () => (await both()).numpy } : {}),
      },
    });
  }
  const cliCases = [
    ['deep-conv', `simdnn train --net deep-conv --optimizer adam, 1 epoch${suite.quick ? ' of 1,000 rows' : ''}, default threads (target ≥ 1.7× --threads 1)`],
    ['main', `simdnn train (the README's main job: 784-100-100-10, batch 16, ${suite.quick ? '1 epoch' : '5 epochs'}), default threads (target ≥ 1.0× --threads 1)`],
  ];
  for (const [key, title] of cliCases) {
    let cli = null;
    const cliBoth = () => (cli ??= pairedCli(suite, key));
    suite.add(title, {
      ours: suite.relaxed ? async () => ({ ms: (await cliRun(suite, key, [])).ms }) : async () => { const r = await cliBoth(); return { ms: r.two, note: r.note }; },
      external: { '--threads 1': async () => (await cliBoth()).one },
      wallClock: true,
    });
  }
}
