// npm run bench [-- topic ...] [--quick] [--time=ms] [--cpu-time] [--no-relaxed]
//
// Times the built package (dist/ and build/*.wasm, made by `npm run build`,
// which the npm script runs first) against TF.js wasm/cpu and NumPy in this
// process, then re-runs simdnn's side on the relaxed-SIMD build in a child
// process (Node 20 accepts relaxed SIMD only behind a flag) and prints one
// table. See bench/README.md.
import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Suite, key, machine, runSuite, table } from './harness.mjs';
import { spillCheck } from './spill-check.mjs';
import { coreReport, coreSpeeds, fastestCore, pinToFastestNow } from './cores.mjs';
import { RoundTrip } from './roundtrip.mjs';
import { coherence, coherenceReport } from './coherence.mjs';

/** Topics in table order: one line each. The peak always runs (the GEMM rows are judged against it). */
const TOPICS = {
  peak: () => import('./peak.bench.mjs'),
  gemm: () => import('./gemm.bench.mjs'),
  mlp: () => import('./mlp.bench.mjs'),
  optim: () => import('./optim.bench.mjs'),
  norm: () => import('./norm.bench.mjs'),
  conv: () => import('./conv.bench.mjs'),
  threads: () => import('./threads.bench.mjs'),
  inference: () => import('./inference.bench.mjs'),
  startup: () => import('./startup.bench.mjs'),
  tiles: () => import('./tiles.bench.mjs'),
};
/** Topics whose cases run several threads: they keep wall time under --cpu-time (CPU time sums the threads). */
const WALL_CLOCK_TOPICS = new Set(['threads']);

const USAGE = `usage: npm run bench [-- topic ...] [--quick] [--time=ms] [--cpu-time] [--no-relaxed] [--no-pin]
  topics: ${Object.keys(TOPICS).join(', ')} (default: all; peak always runs)
  --quick       shorter timings and the small cases only
  --time=ms     time budget per measurement (default 1000, quick 200)
  --cpu-time    time by this process's CPU time, not wall time: steadier on a
                machine shared with other work (multi-threaded cases keep wall time)
  --no-relaxed  skip the relaxed-SIMD pass
  --no-pin      run the 1-thread topics on whichever CPU the scheduler picks
                (default: pinned with taskset, each case to the CPU that runs
                a 128³ GEMM fastest just before it)`;

function parseArgs(argv) {
  const opts = { topics: [], quick: false, time: 0, clock: 'wall', relaxedPass: true, relaxedChild: false, rowsChild: false, pin: true };
  for (const arg of argv) {
    if (arg === '--quick') opts.quick = true;
    else if (arg === '--cpu-time') opts.clock = 'cpu';
    else if (arg === '--no-relaxed') opts.relaxedPass = false;
    else if (arg === '--relaxed-child') opts.relaxedChild = true;
    else if (arg === '--rows-child') opts.rowsChild = true;
    else if (arg === '--no-pin') opts.pin = false;
    else if (arg.startsWith('--time=')) opts.time = Number(arg.slice(7));
    else if (arg === '--help' || arg === '-h') { console.log(USAGE); process.exit(0); }
    else if (arg in TOPICS) opts.topics.push(arg);
    else { console.error(`bench: unknown argument '${arg}'\n${USAGE}`); process.exit(2); }
  }
  if (!(Number.isFinite(opts.time) && opts.time >= 0)) { console.error(`bench: --time must be a number of ms, got '${opts.time}'\n${USAGE}`); process.exit(2); }
  opts.time ||= opts.quick ? 200 : 1000;
  if (opts.topics.length === 0) opts.topics = Object.keys(TOPICS);
  if (!opts.topics.includes('peak')) opts.topics.unshift('peak');
  return opts;
}

async function loadSimdnn() {
  try {
    return await import('../dist/node/index.js');
  } catch (e) {
    throw new Error(`bench: cannot load dist/node/index.js (${e.message}); run \`npm run build\` first`);
  }
}

async function buildSuite(opts, relaxed) {
  const suite = new Suite({ quick: opts.quick, relaxed, time: opts.time, clock: opts.clock });
  for (const topic of opts.topics) {
    suite.topic = topic;
    try {
      const first = suite.cases.length;
      (await TOPICS[topic]()).default(suite);
      if (WALL_CLOCK_TOPICS.has(topic)) for (const c of suite.cases.slice(first)) c.wallClock = true;
    } catch (e) {
      // one broken topic must not sink the others' figures
      console.error(`bench: topic '${topic}' failed to register: ${e.stack ?? e}`);
      process.exitCode = 1;
    }
  }
  return suite;
}

/**
 * Topics whose cases use one thread (startup is not one: it times a 2-thread
 * createRuntime, which a pinned process caps at 1): they run in a child pinned to the fastest
 * CPU (bench/cores.mjs), each case to the one fastest just before it (casePinner), so a slower
 * vCPU or a scheduler move cannot halve a row between runs; their peers (TF.js in-process,
 * NumPy children) inherit the pin, so ratios stay like for like. The others run unpinned.
 */
const PINNED_TOPICS = new Set(['peak', 'gemm', 'mlp', 'optim', 'norm', 'conv', 'tiles']);

/**
 * Runs `topics` in a child process (pinned to `cpu` when it is not null) and
 * returns what it prints last: its rows (a --rows-child) or, in the relaxed
 * pass, its figures keyed like the rows (a --relaxed-child).
 */
function child(topics, passthrough, { relaxed, cpu }) {
  const node = [...(relaxed ? ['--experimental-wasm-relaxed-simd'] : []), fileURLToPath(import.meta.url), ...topics, ...passthrough,
    relaxed ? '--relaxed-child' : '--rows-child'];
  const [cmd, args] = cpu === null ? [process.execPath, node] : ['taskset', ['-c', String(cpu), process.execPath, ...node]];
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench: the ${relaxed ? 'relaxed' : 'plain'} pass of ${topics.join(', ')} exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

/** Both groups of topics, the pinned one first; `merge` combines their results. */
async function pass(opts, passthrough, relaxed, cpu) {
  const pinned = opts.topics.filter((t) => PINNED_TOPICS.has(t));
  const free = opts.topics.filter((t) => !PINNED_TOPICS.has(t));
  const results = [await child(pinned, passthrough, { relaxed, cpu })];
  // the unpinned child times the peak again (it always runs); the pinned one's is the table's
  if (free.length > 0) results.push(await child(free, passthrough, { relaxed, cpu: null }));
  return results;
}

/**
 * The 1-thread topics' child moves, before each case, to the CPU that runs a 128³ GEMM on `rt` fastest
 * just then (cores.mjs pinToFastestNow): the parent's choice at the start is minutes old by the later
 * topics, and a vCPU's slow phases come and go in seconds. `where()` names the CPU for the progress lines.
 */
function casePinner(rt) {
  const n = 128;
  const a = rt.randn(rt.tensor([n, n])), c = rt.tensor([n, n]);
  const probe = () => rt.unsafeGemm(0, 0, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
  // warmed first: V8 runs a function's first calls unoptimised, which would make the first CPU probed look slow
  for (const end = performance.now() + 100; performance.now() < end;) probe();
  const cpus = os.cpus().map((_, i) => i);
  let current = null, rates = [], works = cpus.length > 1;
  return {
    beforeCase() {
      if (!works) return;
      const r = pinToFastestNow(probe, cpus, current);
      works = r !== null;
      current = r?.cpu ?? null;
      rates = r?.rates ?? [];
    },
    // the CPU, and each CPU's probe in GFLOP/s
    where: () => (current === null ? '' : `[cpu${current}; ${rates.map((perMs) => (perMs * 2 * n ** 3 / 1e6).toFixed(1)).join(', ')}] `),
  };
}

const opts = parseArgs(process.argv.slice(2));
if (opts.relaxedChild || opts.rowsChild) {
  const { createRuntime } = await loadSimdnn();
  const rt = await createRuntime({ relaxed: opts.relaxedChild, threads: 1 }); // the 1-thread rows; the threads topic makes its own
  if (opts.relaxedChild && !rt.features.relaxed) throw new Error(`bench: relaxed pass got the plain build: ${rt.features.notes.join('; ')}`);
  const pinnedChild = opts.topics.every((t) => PINNED_TOPICS.has(t));
  // the 1-thread topics' relaxed rows are timed with the plain build's in the same rounds (harness runSuite)
  const plainRt = opts.relaxedChild && pinnedChild ? await createRuntime({ relaxed: false, threads: 1 }) : null;
  const pinner = opts.pin && pinnedChild ? casePinner(rt) : null;
  const rows = await runSuite(await buildSuite(opts, opts.relaxedChild), rt,
    (line) => console.error(`  ${pinner?.where() ?? ''}${opts.relaxedChild ? 'relaxed ' : ''}${line}`), { plainRt, beforeCase: pinner?.beforeCase });
  console.log(JSON.stringify(opts.relaxedChild ? Object.fromEntries(rows.map((r) => [key(r), r.ours])) : rows));
  process.exit();
}
const m = machine();
console.error(`simdnn bench: ${m.model} (${m.vendor}, family ${m.family}, model ${m.modelNumber}${m.generation ? `: ${m.generation}` : ''}), Node ${m.node}, TF.js ${m.tfjs}; ${opts.quick ? 'quick, ' : ''}${opts.time} ms per measurement, ${opts.clock} clock`);
// First, whether V8 keeps the GEMM micro-kernels in registers here (bench/spill-check.mjs):
// a spill costs 40% of the GEMM's speed on some CPUs, so the figures below would not be ours.
const spill = spillCheck();
console.error(spill.report);
if (!spill.ok) process.exitCode = 1;
// The cores' own speeds before and after (bench/cores.mjs): on a VM they can differ, and drift;
// the cache-line round trip between two threads (bench/roundtrip.mjs), which the host's
// placement of the vCPUs sets and which prices every split call; and what writing lines the
// other thread has read costs there (bench/coherence.mjs), which a split training step pays
// for the data it exchanges.
async function betweenCores() {
  const probe = await RoundTrip.start();
  try {
    return `cache-line round trip between two threads: ${probe.measure().toFixed(0)} ns; ${coherenceReport(await coherence())}`;
  } finally {
    await probe.close();
  }
}
const before = coreSpeeds();
const rttBefore = await betweenCores();
const cpu = opts.pin ? fastestCore(before) : null;
console.error(`${coreReport(before)}\n${rttBefore}`);
console.error(cpu === null ? 'bench: 1-thread topics unpinned' : `bench: 1-thread topics start pinned to cpu${cpu}; each case then runs on the CPU that runs a 128³ GEMM fastest just before it`);
const passthrough = process.argv.slice(2).filter((a) => !(a in TOPICS));
const order = Object.keys(TOPICS);
const [pinnedRows, freeRows = []] = await pass(opts, passthrough, false, cpu);
const rows = [...pinnedRows, ...freeRows.filter((r) => !r.peak)].sort((a, b) => order.indexOf(a.topic) - order.indexOf(b.topic));
const relaxed = opts.relaxedPass ? Object.assign({}, ...(await pass(opts, passthrough, true, cpu)).reverse()) : null;
const after = coreSpeeds();
const rttAfter = await betweenCores();
const simd = m.flags.split(' ').filter((f) => /^(sse4_2|avx|avx2|fma|avx512f)$/.test(f)).join(' ');
console.log(`\nCPU: ${m.model} (${m.vendor}, family ${m.family}, model ${m.modelNumber}${m.generation ? `: ${m.generation}` : ''}), flags: ${m.flags}`);
console.log(spill.report.split('\n')[0]);
console.log(`before: ${coreReport(before)}; ${rttBefore}\nafter: ${coreReport(after)}; ${rttAfter}`);
console.log(`\nMachine: ${m.model} (${simd}), ${os.cpus().length} cores, Node ${m.node}, TF.js ${m.tfjs}; ` +
  `${opts.clock === 'cpu' ? 'CPU' : 'wall'} time, mean of tinybench samples (of alternating blocks where a cell's note says so; % peak over the peak loop in the same rounds where the row's note gives it); 1 thread unless a case says otherwise` +
  `${cpu === null ? '' : ' (1-thread topics pinned, each case with its peers to the CPU that ran a 128³ GEMM fastest just before it)'}; ratios = simdnn (plain) speed / peer speed\n`);
console.log(table(rows, relaxed));
