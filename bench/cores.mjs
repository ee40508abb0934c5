// How fast each logical CPU runs our code right now: the register-only peak
// loop and a 100³ and 256³ GEMM on 1 thread, in a child process pinned to one
// CPU with `taskset` (Linux; skipped where it is missing). On a VM the vCPUs
// can differ: on the 2-vCPU AMD EPYC Zen 5 guest of docs/BENCHMARKS.md one
// vCPU ran the peak loop at full speed but GEMM at 52–80% of the other's
// speed, varying over the day (its physical core shared with another guest),
// which caps what a second thread can add: the `threads` rows are read
// against the ceiling printed here, (g0 + g1) / max(g0, g1) for the GEMM rates.
// It also counts stalls (a slice of ~20 µs of the peak loop that took 50 µs
// longer than usual): a split call waits for its slowest part, so a thread
// stalled while it holds one stretches the whole call; at the MLP step's
// ~25 µs parts such stalls, not the arithmetic, bound the 2-thread gain.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { registerOnlyChains } from './peak.bench.mjs';

/** The probe's source: the peak loop with `chains` accumulators (the most V8 keeps in registers), then the GEMMs. */
const child = (chains) => `
const { peakModule, peakFlops } = await import(${JSON.stringify(new URL('./peak.bench.mjs', import.meta.url).href)});
const { createRuntime } = await import(${JSON.stringify(new URL('../dist/node/index.js', import.meta.url).href)});
const best = (fn, flops) => { let b = 0; const end = performance.now() + 400; fn(); while (performance.now() < end) { const t0 = performance.now(); fn(); b = Math.max(b, flops / (performance.now() - t0) / 1e6); } return b; };
const { peak } = new WebAssembly.Instance(new WebAssembly.Module(peakModule(${chains}, false))).exports;
const out = { peak: best(() => peak(50000, 1, 1e-7), peakFlops(${chains})) };
// Stalls: slices of ~20 µs of the peak loop back to back for 500 ms; a slice that took
// 50 µs longer than the median is a stall (the vCPU or the thread was descheduled).
const gaps = [];
for (let end = performance.now() + 500, last = performance.now(); last < end;) { peak(2000, 1, 1e-7); const now = performance.now(); gaps.push(now - last); last = now; }
gaps.sort((x, y) => x - y);
const med = gaps[gaps.length >> 1], stalls = gaps.filter((g) => g > med + 0.05);
out.stallsPerSecond = stalls.length / (gaps.reduce((x, y) => x + y, 0) / 1000);
out.stallMs = stalls.reduce((x, y) => x + y - med, 0) / (gaps.reduce((x, y) => x + y, 0) / 1000);
const rt = await createRuntime({ threads: 1 });
for (const n of [100, 256]) {
  const a = rt.randn(rt.tensor([n, n])), b = rt.randn(rt.tensor([n, n])), c = rt.tensor([n, n]);
  out['gemm' + n] = best(() => rt.unsafeGemm(0, 0, n, n, n, a.ptr, n, b.ptr, n, c.ptr, n), 2 * n ** 3);
}
console.log(JSON.stringify(out));
process.exit(0);
`;

/** Per logical CPU: best-of GFLOP/s of the peak loop and of 100³ / 256³ GEMMs, and its stalls per second and ms lost per second to them; null where taskset is missing. */
export function coreSpeeds() {
  const cpus = os.cpus().length;
  const source = child(Math.max(...registerOnlyChains(false)));
  const rows = [];
  for (let cpu = 0; cpu < cpus; cpu++) {
    const r = spawnSync('taskset', ['-c', String(cpu), process.execPath, '--input-type=module', '-e', source],
      { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)), timeout: 60_000 });
    if (r.error || r.status !== 0) return null;
    rows.push({ cpu, ...JSON.parse(r.stdout.trim().split('\n').pop()) });
  }
  return rows;
}

/** The CPU with the best mean GEMM rate, or null without a probe (or with one CPU: nothing to choose). */
export function fastestCore(rows) {
  if (!rows || rows.length < 2) return null;
  return rows.reduce((best, r) => (r.gemm100 + r.gemm256 > best.gemm100 + best.gemm256 ? r : best)).cpu;
}

/** Pins this process, all its threads, to `cpu` (taskset -a -p); false where that fails. */
export function pinSelf(cpu) {
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** Milliseconds `probe` runs on each CPU in pinToFastestNow, after one untimed call there. */
const PROBE_MS = 30;
/** A CPU must run the probe this much faster than the current one to move there. */
const MOVE_MARGIN = 0.02;

/**
 * Pins this process to the CPU (of `cpus`) that runs `probe` fastest now: each in turn for PROBE_MS, the
 * current one (`current`) kept unless another is MOVE_MARGIN faster. The vCPUs of the 2-vCPU EPYC guests slow
 * cache-heavy work (not the peak loop) by a third in phases of seconds to minutes, each on its own (session 41:
 * a 128³ GEMM at 30–34 GFLOP/s on one vCPU for 20 s while the other ran 44–48), so a case pinned to the CPU
 * that was fastest minutes before may run all its rounds in such a phase. Returns the CPU and each one's
 * calls per ms, or null where taskset fails (the process then stays where it was).
 */
export function pinToFastestNow(probe, cpus, current) {
  const rates = [];
  for (const cpu of cpus) {
    if (!pinSelf(cpu)) return null;
    probe();
    let calls = 0;
    const t0 = performance.now();
    let t;
    do { probe(); calls++; } while ((t = performance.now() - t0) < PROBE_MS);
    rates.push(calls / t);
  }
  const cpu = chooseCpu(cpus, rates, current);
  return pinSelf(cpu) ? { cpu, rates } : null;
}

/** The CPU of `cpus` with the best rate: `current` unless another's is MOVE_MARGIN higher. */
export function chooseCpu(cpus, rates, current) {
  let best = cpus.indexOf(current);
  for (let i = 0; i < cpus.length; i++) if (best < 0 || rates[i] > rates[best] * (1 + MOVE_MARGIN)) best = i;
  return cpus[best];
}

/** One line for the report: each CPU's rates and the ceiling of a 2-thread split of GEMM-like work. */
export function coreReport(rows) {
  if (!rows) return 'cores: not probed (no taskset)';
  const f = (x) => x.toFixed(1);
  const each = rows.map((r) => `cpu${r.cpu} peak ${f(r.peak)}, GEMM 100³ ${f(r.gemm100)}, 256³ ${f(r.gemm256)}, ` +
    `${Math.round(r.stallsPerSecond)} stalls/s losing ${f(r.stallMs)} ms/s`).join('; ');
  const g = rows.map((r) => (r.gemm100 + r.gemm256) / 2);
  const ceiling = g.reduce((s, x) => s + x, 0) / Math.max(...g);
  return `cores (GFLOP/s, 1 thread pinned to each): ${each}; splitting GEMM work over all ${rows.length} gains at most ${ceiling.toFixed(2)}× (their mean GEMM rates' sum over the fastest's)`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(coreReport(coreSpeeds()));
