// Resuming a study: results already stored (a JSON-lines file, a database)
// answer their jobs again without running them; the rest go to the executor.
import { describeValue } from '../index.js';
import type { Executor } from './search.js';
import type { Settings } from './space.js';
import type { DataSpec, TrialJob, TrialResult } from './trial.js';

/** The key of a job's result: trial index and epochs (a trial has one result per ASHA rung it reaches). */
export function resultKey(r: Pick<TrialJob, 'index' | 'epochs'>): string {
  return `${r.index}@${r.epochs}`;
}

/** JSON with every object's keys sorted: equal for data specs that differ only in key order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_key, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value);
}

const bits = new DataView(new ArrayBuffer(16));

/** a and b are neighbouring doubles of one sign. */
function adjacent(a: number, b: number): boolean {
  if (!Number.isFinite(a) || !Number.isFinite(b) || a === b || Math.sign(a) !== Math.sign(b)) return false;
  bits.setFloat64(0, a);
  bits.setFloat64(8, b);
  const d = bits.getBigInt64(0) - bits.getBigInt64(8);
  return d === 1n || d === -1n;
}

/**
 * The same settings, a number an ulp away counting as the same: simdnn drew log-uniform values
 * with the engine's `10 ** x` before exactPow10, and Node 20's was an ulp off for ~10% of draws,
 * so a study stored then still resumes (its stored results keep the values they trained with).
 */
function sameSettings(a: Settings, b: Settings): boolean {
  const keys = Object.keys(a);
  if (JSON.stringify(keys) !== JSON.stringify(Object.keys(b))) return false;
  return keys.every((k) => {
    const x = a[k], y = b[k];
    return JSON.stringify(x) === JSON.stringify(y) || (typeof x === 'number' && typeof y === 'number' && adjacent(x, y));
  });
}

/**
 * Why stored result `r` cannot answer `job`, or null when it can: its study, seed, settings
 * (a number an ulp away counts as the same: sameSettings) or data (DataSpec, compared with its
 * keys in any order) differ from the job's, or it records no data (whether it trained on the
 * job's data is unknown).
 */
export function storedMismatch(job: TrialJob, r: TrialResult): string | null {
  const what = `stored result of trial ${job.index} (${job.epochs} epochs)`;
  if (r.seed !== job.seed || !sameSettings(r.settings, job.settings) || r.study !== job.study) {
    return `${what} is not this study's: its study, seed or settings differ`;
  }
  const data = (r as { data?: DataSpec }).data;
  if (data === undefined) {
    return `${what} does not record its data (stored by a simdnn older than the data check, or by an executor that leaves it out); start a new study (another study name or results file) to search again`;
  }
  if (canonical(data) !== canonical(job.data)) {
    return `${what} is not this study's: it was trained on other data (${canonical(data)}, this study's is ${canonical(job.data)})`;
  }
  return null;
}

const METRICS = ['trainLoss', 'trainAcc', 'valLoss', 'valAcc'] as const;

/**
 * `r` as the search made it: JSON (a results file, Redis, a database) writes a NaN metric as
 * null, which would reach objectives, rankings and tables as null; it is NaN again here.
 */
export function revivedResult(r: TrialResult): TrialResult {
  if (!r.history.some((e) => METRICS.some((m) => e[m] === null))) return r;
  const history = r.history.map((e) => {
    const out = { ...e };
    for (const m of METRICS) if (out[m] === null) out[m] = NaN;
    return out;
  });
  return { ...r, history };
}

/**
 * An executor that answers jobs from `stored` results (by trial index and
 * epochs), marked `stored: true` (metrics stored as JSON null are NaN again: revivedResult), and sends the others to `inner`. A stored
 * result that cannot answer its job (see storedMismatch: another study, seed,
 * settings or data, or no data recorded) makes run() reject, naming the trial.
 * close() closes `inner`.
 */
export function resumeFrom(inner: Executor, stored: Iterable<TrialResult>): Executor {
  if (inner === null || typeof inner !== 'object' || typeof inner.run !== 'function') throw new TypeError(`resumeFrom: inner must be an executor (run, concurrency, close), got ${describeValue(inner)}`);
  if (stored === null || typeof (stored as Partial<Iterable<TrialResult>>)?.[Symbol.iterator] !== 'function') throw new TypeError(`resumeFrom: stored must be an iterable of trial results (an array), got ${describeValue(stored)}`);
  const known = new Map<string, TrialResult>();
  let i = 0;
  for (const r of stored) {
    if (r === null || typeof r !== 'object' || !Array.isArray(r.history)) throw new TypeError(`resumeFrom: stored[${i}] must be a trial result (what an executor's run() resolved with), got ${describeValue(r)}`);
    known.set(resultKey(r), r);
    i++;
  }
  return {
    concurrency: inner.concurrency,
    run(job, signal) {
      const r = known.get(resultKey(job));
      if (!r) return inner.run(job, signal);
      const mismatch = storedMismatch(job, r);
      return mismatch ? Promise.reject(new Error(mismatch)) : Promise.resolve({ ...revivedResult(r), stored: true });
    },
    close: () => inner.close(),
  };
}
