// The bench harness: topic modules register cases on a Suite; each case is
// timed for simdnn and for every peer in this one process (TF.js wasm and cpu
// backends, external programs such as NumPy), and the table prints ratios.
// See bench/README.md for how to add a topic.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { Bench } from 'tinybench';

const require = createRequire(import.meta.url);

/**
 * What a setup function returns: the function to time, or that plus an
 * untimed beforeEach() (e.g. restoring weights so every timed step does the
 * same work), a dispose() for its buffers, a flop count that overrides the
 * case's, and a note shown with the figure. Or a figure the setup took
 * itself, not timed here: `ms` (e.g. over fresh processes, of an async call,
 * or timed alongside a peer; a flop count applies to it as to fn), or a
 * `value` in another `unit` where less is better (KB, MiB).
 * @typedef {(() => unknown)
 *   | { fn: () => unknown, beforeEach?: () => void, dispose?: () => void, flops?: number, note?: string }
 *   | { ms: number, dispose?: () => void, flops?: number, note?: string }
 *   | { value: number, unit: string, dispose?: () => void, note?: string }} Prepared
 */

/**
 * A case. `ours(rt, ctx)` prepares simdnn's run (rt is the plain runtime, or
 * the relaxed one in the relaxed pass); `tfjs(tf, backend)` prepares TF.js's,
 * run once per backend; `external[peer]()` returns milliseconds per call
 * measured by another program, or `{ skip: reason }`. `peak` marks the row
 * that the GFLOP/s rows are judged against; `wallClock` keeps the wall clock
 * under --cpu-time (a case that runs several threads must set it);
 * `reference: false` keeps the case out of the relaxed pass's plain-build
 * reference (runSuite's plainRt), for a setup that depends on ctx.relaxed rather than on rt.
 * @typedef {{
 *   flops?: number,
 *   peak?: boolean,
 *   wallClock?: boolean,
 *   reference?: boolean,
 *   ours: (rt: import('../dist/index.js').Runtime, ctx: Suite) => Prepared,
 *   tfjs?: (tf: any, backend: string) => Prepared,
 *   external?: Record<string, () => Promise<number | { skip: string }>>,
 * }} CaseSpec
 */

export class Suite {
  /** @param {{ quick: boolean, relaxed: boolean, time: number, clock?: Clock }} options */
  constructor({ quick, relaxed, time, clock = 'wall' }) {
    /** Fewer and smaller cases, shorter timings. */
    this.quick = quick;
    /** True in the relaxed pass: only `ours` runs, on the relaxed build. */
    this.relaxed = relaxed;
    /** Time budget per measurement, ms. */
    this.time = time;
    /** What measure() times by default: see Clock. */
    this.clock = clock;
    this.topic = '';
    /** @type {Array<CaseSpec & { topic: string, name: string }>} */
    this.cases = [];
  }

  /** @param {string} name unique within the topic @param {CaseSpec} spec */
  add(name, spec) {
    if (this.cases.some((c) => c.topic === this.topic && c.name === name)) throw new Error(`bench: duplicate case '${this.topic}: ${name}'`);
    this.cases.push({ ...spec, topic: this.topic, name });
  }
}

export const TFJS_BACKENDS = ['wasm', 'cpu'];

/** The median of the numbers in `xs` (the mean of the middle two for an even count). */
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * The order of `n` sides in round `round` of a paired measurement: a rotation
 * in even rounds, the reverse of the round before in odd ones, so no side
 * always runs right after another; for two sides, side 0 first in even
 * rounds and side 1 in odd ones (the paired threads, CLI and inference rows),
 * for three every order once in six rounds.
 */
export const sidesInRound = (round, n = 2) => {
  const shift = (round - (round % 2)) % n; // 0 for two sides; 0, 2, 1, … for three
  const order = Array.from({ length: n }, (_, i) => (i + shift) % n);
  return round % 2 ? order.reverse() : order;
};

/**
 * 'wall': elapsed time (performance.now), the default. 'cpu': this process's
 * CPU time (process.cpuUsage, microsecond resolution on Linux), which keeps
 * single-threaded figures steady on a machine that other work shares; it
 * counts every thread, so it is wrong for a multi-threaded case.
 * @typedef {'wall' | 'cpu'} Clock
 */
const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** Calls per timed sample: fast functions run in batches of at least this long, ms. */
const MIN_SAMPLE_MS = 0.5;

/**
 * Milliseconds per call of the synchronous fn: tinybench's latency.mean, or
 * another of its latency statistics (stat 'p50', 'min', …); beforeEach runs
 * untimed before each call. Fast functions are timed in batches, so timer
 * and harness overhead stay out of the figure.
 */
async function measure(fn, time, beforeEach, clock = 'wall', stat = 'mean') {
  let reps = 1;
  if (!beforeEach) {
    const t0 = performance.now();
    let calls = 0;
    do { fn(); calls++; } while (performance.now() - t0 < 2 * MIN_SAMPLE_MS);
    reps = Math.max(1, Math.floor((calls * MIN_SAMPLE_MS) / (performance.now() - t0)));
  }
  const task = reps === 1 ? fn : () => { for (let i = 0; i < reps; i++) fn(); };
  const bench = new Bench({
    time, iterations: 2, warmupTime: Math.max(50, time / 4), warmupIterations: 1, throws: true,
    ...(clock === 'cpu' ? { now: cpuNow } : {}),
  });
  bench.add('case', task, beforeEach ? { beforeEach } : {});
  await bench.run();
  const { result } = bench.tasks[0];
  if (result.state !== 'completed') throw new Error(`bench: task ended in state ${result.state}`);
  return result.latency[stat] / reps;
}

function prepared(p) {
  return typeof p === 'function' ? { fn: p } : p;
}

/** Prepares, times and disposes one implementation; errors become a cell, not a crash. */
async function timeOne(setup, time, flops, clock, stat) {
  let p;
  try {
    p = prepared(await setup());
    if (!p.fn) {
      if (!(Number.isFinite(p.ms) || (Number.isFinite(p.value) && p.unit))) throw new Error('bench: a setup must return fn, ms, or value and unit');
      return { ms: p.ms, flops: p.ms === undefined ? undefined : p.flops ?? flops, value: p.value, unit: p.unit, note: p.note };
    }
    const ms = await measure(p.fn, time, p.beforeEach, clock, stat);
    return { ms, flops: p.flops ?? flops, note: p.note };
  } catch (e) {
    return { error: String(e?.message ?? e).split('\n')[0] };
  } finally {
    p?.dispose?.();
  }
}

/** Rounds of a paired measurement (timePaired): each side runs one block per round. */
const PAIRED_ROUNDS = 10;

/**
 * Milliseconds per call of two or more sides, each { fn, beforeEach? } (synchronous),
 * timed in alternating blocks (sidesInRound): PAIRED_ROUNDS rounds, each side
 * running back to back for time / PAIRED_ROUNDS ms per block (at least 20),
 * after a warm-up of max(50, time / 4) ms each. A block's first call is
 * untimed (the other side just ran in this core's caches); a side's
 * beforeEach runs before each of its calls, untimed. The mean over all of a
 * side's blocks, so a phase of the host (seconds to minutes of stalls on one
 * vCPU) weighs on both sides alike. `onRound(side)` (tests) sees the order
 * the sides ran in.
 * @returns {[number, number]}
 */
export function timePaired(sides, time, clock = 'wall', onRound = undefined) {
  const now = clock === 'cpu' ? cpuNow : () => performance.now();
  const blockMs = Math.max(20, time / PAIRED_ROUNDS);
  const block = ({ fn, beforeEach }, ms) => {
    beforeEach?.();
    fn();
    const start = now();
    let calls = 0, timed = 0;
    if (beforeEach) {
      do {
        beforeEach();
        const t0 = now();
        fn();
        timed += now() - t0;
        calls++;
      } while (now() - start < ms);
    } else {
      do { fn(); calls++; } while ((timed = now() - start) < ms);
    }
    return { ms: timed, calls };
  };
  for (const side of sides) block(side, Math.max(50, time / 4));
  const total = sides.map(() => 0), calls = sides.map(() => 0);
  for (let r = 0; r < PAIRED_ROUNDS; r++) {
    for (const side of sidesInRound(r, sides.length)) {
      onRound?.(side);
      const b = block(sides[side], blockMs);
      total[side] += b.ms;
      calls[side] += b.calls;
    }
  }
  return total.map((t, i) => t / calls[i]);
}

/**
 * Ours, TF.js's wasm backend (`tf`, or null), the peak loop (`peak`, the
 * peak row's prepared loop, or null) and the plain build's same case on
 * `plainRt` (a plain-build runtime, or null: see runSuite) on one case, timed in alternating blocks
 * (timePaired) rather than one after the other: timed apart, a slow phase of
 * the host on one side moved the ratio (session 14's run 2 read the MLP step
 * at 9.40× TF.js with our step at 2.18 ms, where the same step took 1.73 ms
 * minutes later), and a GFLOP/s row's "% of peak" compared it with a peak
 * loop timed minutes before, in another phase (session 15's first run: the
 * pinned CPU ran GEMM 1024³ at 61% of the peak timed at the start, the MLP
 * step at 1.7× its usual time). Null when ours cannot be paired (an error, a
 * figure rather than a function): then each side is timed alone; TF.js or a
 * reference that cannot be paired is left out of the pairing.
 */
async function timePairedCase(c, rt, suite, tf, peak, clock, plainRt = null) {
  let ours, peer, ref;
  try {
    ours = prepared(await c.ours(rt, suite));
    if (!ours.fn) return null;
    if (tf) {
      try {
        if (!(await tf.setBackend('wasm'))) throw new Error("bench: TF.js backend 'wasm' failed to initialise");
        peer = prepared(await c.tfjs(tf, 'wasm'));
        if (!peer.fn) { peer.dispose?.(); peer = undefined; }
      } catch {
        peer = undefined;
      }
    }
    if (plainRt) {
      try {
        ref = prepared(await c.ours(plainRt, suite));
        if (!ref.fn) { ref.dispose?.(); ref = undefined; }
      } catch {
        ref = undefined;
      }
    }
    const sides = [ours, peer, peak, ref].filter(Boolean);
    if (sides.length < 2) return null;
    const ms = timePaired(sides, suite.time, clock);
    const at = (side) => ms[sides.indexOf(side)];
    const flops = ours.flops ?? c.flops;
    const peakNote = peak ? `peak loop in the same rounds ${(peak.flops / at(peak) / 1e6).toFixed(1)} GFLOP/s` : '';
    const refNote = ref ? referenceNote(at(ours), at(ref), flops) : '';
    return {
      ours: {
        ms: at(ours), flops, note: joinNotes(ours.note, peakNote, refNote),
        ...(peak ? { peak: { ms: at(peak), flops: peak.flops } } : {}),
        ...(ref ? { reference: { ms: at(ref), flops } } : {}),
      },
      peer: peer ? { ms: at(peer), flops: peer.flops ?? c.flops, note: joinNotes(peer.note, `${PAIRED_ROUNDS} blocks alternating with ours`) } : null,
    };
  } catch {
    return null;
  } finally {
    ours?.dispose?.();
    peer?.dispose?.();
    ref?.dispose?.();
  }
}

/** The note of a relaxed row timed with the plain build in the same rounds: its figure, and relaxed's speed over it. */
export function referenceNote(oursMs, refMs, flops) {
  const figure = flops ? `${(flops / refMs / 1e6).toFixed(1)} GFLOP/s` : `${refMs < 10 ? refMs.toFixed(3) : refMs.toFixed(1)} ms`;
  return `plain build in the same rounds ${figure}, relaxed ${(refMs / oursMs).toFixed(2)}× its speed`;
}

const joinNotes = (...notes) => notes.filter(Boolean).join('; ');

let tfjs = null;
/**
 * TF.js core with the cpu and wasm backends registered (all CommonJS: one
 * tfjs-core instance) and its gradients, which only tfjs-core's ESM build
 * registers (the union package @tensorflow/tfjs imports them; we do not
 * depend on it). That build uses extensionless imports, resolved by
 * tfjs-resolve.mjs; it registers into the global registry the CommonJS
 * engine reads.
 */
export async function loadTfjs() {
  if (tfjs) return tfjs;
  const tf = require('@tensorflow/tfjs-core');
  register('./tfjs-resolve.mjs', import.meta.url);
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  require('@tensorflow/tfjs-backend-cpu');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  const dist = require.resolve('@tensorflow/tfjs-backend-wasm').replace(/[^/]+$/, '');
  wasm.setWasmPaths(dist);
  tf.env().set('IS_TEST', false);
  tfjs = tf;
  return tf;
}

/**
 * Runs every case: simdnn in alternating blocks with TF.js's wasm backend
 * and, for a GFLOP/s row, the peak loop (timePairedCase), or simdnn alone;
 * then each other TF.js backend, then external peers. In the relaxed pass only
 * simdnn (and the relaxed peak loop) runs, and with `plainRt` (a plain-build
 * runtime, which the 1-thread topics' relaxed child passes) also the plain build's
 * same case in the same rounds: the relaxed pass runs minutes after the plain one,
 * and a slow phase of the host there slows the caches' and memory's share of the
 * work, not the peak loop (session 41's run 2: the relaxed GEMM rows all at 70–77%
 * of the loop, which the plain build had run at 90–103%), so a relaxed row's own
 * rounds say whether the build or the host lost. `beforeCase(c)` runs before each case
 * is prepared (the pinned children move to the fastest CPU there). `progress` gets one line per case.
 */
export async function runSuite(suite, rt, progress, { plainRt = null, beforeCase = undefined } = {}) {
  const results = [];
  const tf = !suite.relaxed && suite.cases.some((c) => c.tfjs) ? await loadTfjs() : null;
  /** The peak row's loop, prepared once: every GFLOP/s row after it is timed in rounds with it. */
  let peak = null;
  try {
    for (const c of suite.cases) {
      beforeCase?.(c);
      const clock = c.wallClock ? 'wall' : suite.clock;
      const pairPeak = c.flops && !c.peak && peak?.fn ? peak : null;
      const pairTf = tf && c.tfjs && !c.peak ? tf : null;
      const pairRef = suite.relaxed && plainRt && !c.peak && c.reference !== false ? plainRt : null;
      const paired = pairTf || pairPeak || pairRef ? await timePairedCase(c, rt, suite, pairTf, pairPeak, clock, pairRef) : null;
      let ours = paired?.ours;
      if (c.peak) {
        peak = prepared(await c.ours(rt, suite));
        // The peak row takes the median sample: steadier than the mean for a loop
        // that touches no memory, and (latencies skew high) at least as fast as
        // the mean. The fastest sample would track timer and frequency outliers instead.
        ours = await timeOne(() => ({ ...peak, dispose: undefined }), suite.time, c.flops, clock, 'p50');
      }
      ours ??= await timeOne(() => c.ours(rt, suite), suite.time, c.flops, clock, 'mean');
      results.push(await finishRow(c, suite, tf, paired, ours, clock, progress, beforeCase));
    }
  } finally {
    peak?.dispose?.();
  }
  return results;
}

/**
 * The row of case c: ours, then the peers (TF.js's wasm from the pairing when it was paired). Each peer
 * timed on its own (TF.js's other backends, external programs such as NumPy) runs after `beforeCase(c)`
 * again: ours ran on the CPU found fastest just before it, and a peer timed seconds later on that CPU,
 * without its own probe, could meet the slow phase the probe had steered ours away from.
 */
async function finishRow(c, suite, tf, paired, ours, clock, progress, beforeCase = undefined) {
  const row = { topic: c.topic, name: c.name, peak: !!c.peak, ours, peers: {} };
  if (!suite.relaxed) {
    if (c.tfjs) {
      for (const backend of TFJS_BACKENDS) {
        if (backend === 'wasm' && paired?.peer) {
          row.peers['tfjs-wasm'] = paired.peer;
          continue;
        }
        if (!(await tf.setBackend(backend))) throw new Error(`bench: TF.js backend '${backend}' failed to initialise`);
        beforeCase?.(c);
        row.peers[`tfjs-${backend}`] = await timeOne(() => c.tfjs(tf, backend), suite.time, c.flops, clock);
      }
    }
    for (const [peer, run] of Object.entries(c.external ?? {})) {
      beforeCase?.(c);
      const r = await run().catch((e) => ({ error: String(e?.message ?? e) }));
      row.peers[peer] = typeof r === 'number' ? { ms: r, flops: c.flops } : r;
    }
  }
  progress(`${c.topic}: ${c.name}  ${describe(row.ours)}${Object.entries(row.peers).map(([p, v]) => `  ${p} ${describe(v)}`).join('')}`);
  return row;
}

function describe(cell) {
  if (!cell) return '-';
  if (cell.error) return `error: ${cell.error}`;
  if (cell.skip) return `skipped: ${cell.skip}`;
  if (cell.unit) return `${cell.value.toFixed(1)} ${cell.unit}`;
  return cell.flops ? `${gflops(cell).toFixed(1)} GFLOP/s` : `${cell.ms.toFixed(3)} ms`;
}

const gflops = (cell) => cell.flops / cell.ms / 1e6;

/** This process's environment for a NumPy peer on `threads` BLAS threads (see python()). */
export function pythonEnv(threads) {
  const n = String(threads);
  const env = { ...process.env, OPENBLAS_NUM_THREADS: n, OMP_NUM_THREADS: n, MKL_NUM_THREADS: n };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/**
 * Runs a Python bench script (numpy peers) with `threads` BLAS threads and the
 * OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE overrides of this environment removed
 * for that command only (they slow a current OpenBLAS). The script prints one
 * JSON object on its last line: { ms, blas } or { skip }.
 */
export function python(script, args = [], threads = 1) {
  return new Promise((resolve) => {
    const child = spawn('python3', [script, ...args], { env: pythonEnv(threads), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => resolve({ skip: `python3 not runnable (${e.code ?? e.message})` }));
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last));
      } catch {
        resolve({ error: `python3 ${script} exited ${code}: ${(err.trim().split('\n').pop() ?? '') || last}` });
      }
    });
  });
}

/**
 * The CPU from /proc/cpuinfo (Linux): model name, vendor, family, model
 * number and flags (machines of one kind differ: Intel or AMD, Zen 4 or 5),
 * plus the runtime versions.
 */
export function machine() {
  let model = 'unknown CPU';
  let flags = '';
  let family = '?', modelNumber = '?', vendor = '?';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (name) => info.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm'))?.[1];
    model = field('model name') ?? model;
    flags = field('flags') ?? '';
    family = field('cpu family') ?? family;
    modelNumber = field('model') ?? modelNumber;
    vendor = field('vendor_id') ?? vendor;
  } catch { /* not Linux */ }
  return {
    model, vendor, family, modelNumber, generation: generation(vendor, family, modelNumber), flags,
    node: process.version, tfjs: require('@tensorflow/tfjs-core/package.json').version,
  };
}

/**
 * Server cores by vendor, family and model number: a VM's model name often hides the generation ("Intel(R)
 * Xeon(R) Processor"), which docs/BENCHMARKS.md keeps a table for.
 */
const GENERATIONS = {
  'GenuineIntel 6 85': 'Skylake-SP / Cascade Lake',
  'GenuineIntel 6 106': 'Ice Lake-SP',
  'GenuineIntel 6 143': 'Sapphire Rapids',
  'GenuineIntel 6 173': 'Granite Rapids',
  'GenuineIntel 6 175': 'Sierra Forest',
  'GenuineIntel 6 207': 'Emerald Rapids',
  'AuthenticAMD 23 49': 'Zen 2 (Rome)',
  'AuthenticAMD 25 1': 'Zen 3 (Milan)',
  'AuthenticAMD 25 17': 'Zen 4 (Genoa)',
  'AuthenticAMD 25 160': 'Zen 4c (Bergamo)',
  'AuthenticAMD 26 2': 'Zen 5 (Turin)',
  'AuthenticAMD 26 17': 'Zen 5c (Turin dense)',
};

/** The generation of a known server core, or null. */
export function generation(vendor, family, modelNumber) {
  return GENERATIONS[`${vendor} ${family} ${modelNumber}`] ?? null;
}

/** The results as a markdown table; ratios are simdnn (plain) speed over the peer's. */
export function table(rows, relaxed) {
  const peers = [...new Set(rows.flatMap((r) => Object.keys(r.peers)))];
  const peakOf = (cells) => cells.find((c) => c && !c.error && c.flops);
  const plainPeak = peakOf(rows.filter((r) => r.peak).map((r) => r.ours));
  const relaxedPeak = peakOf(rows.filter((r) => r.peak).map((r) => relaxed?.[key(r)]));
  const head = ['case', 'unit', 'simdnn', '% peak', 'relaxed', '% r.peak', ...peers.flatMap((p) => [p, `×${p.replace(/^tfjs-/, '')}`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  const notes = [];
  const footnote = (text) => {
    const i = notes.indexOf(text);
    return ` [${i >= 0 ? i + 1 : notes.push(text)}]`;
  };
  const value = (cell, noted = false) => {
    if (!cell) return '';
    if (cell.error) return `fails${footnote(cell.error)}`;
    if (cell.skip) return `skipped${footnote(cell.skip)}`;
    const v = cell.unit ? cell.value.toFixed(1) : cell.flops ? gflops(cell).toFixed(1) : cell.ms < 10 ? cell.ms.toFixed(3) : cell.ms.toFixed(1);
    return noted && cell.note ? v + footnote(cell.note) : v;
  };
  const ok = (cell) => cell && !cell.error && !cell.skip;
  // peer's time (or size) over ours: above 1 is better for simdnn
  const amount = (cell) => (cell.unit ? cell.value : cell.ms);
  const ratio = (ours, peer) => (ok(ours) && ok(peer) && ours.unit === peer.unit ? `${(amount(peer) / amount(ours)).toFixed(2)}×` : '');
  // over the peak loop timed in the same rounds where the row has one (timePairedCase), else the peak row
  const ofPeak = (cell, peakRow) => {
    const peak = cell?.peak ?? peakRow;
    return ok(cell) && cell.flops && peak ? `${((100 * gflops(cell)) / gflops(peak)).toFixed(0)}%` : '';
  };
  for (const r of rows) {
    const rx = relaxed?.[key(r)];
    const unit = r.ours.unit ?? (r.ours.flops ? 'GFLOP/s' : 'ms');
    const noteText = [r.ours.note, rx?.note && `relaxed: ${rx.note}`].filter(Boolean).join('; ');
    const cells = [`${r.topic}: ${r.name}${noteText ? ` (${noteText})` : ''}`, unit, value(r.ours), r.peak ? '' : ofPeak(r.ours, plainPeak),
      value(rx), r.peak ? '' : ofPeak(rx, relaxedPeak),
      ...peers.flatMap((p) => [value(r.peers[p], true), ratio(r.ours, r.peers[p])])];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  notes.forEach((n, i) => lines.push(`${i === 0 ? '\n' : ''}[${i + 1}] ${n}`));
  return lines.join('\n');
}

export const key = (row) => `${row.topic}: ${row.name}`;
