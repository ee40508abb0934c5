// Resuming a study: results already stored (a JSON-lines file, a database)
// answer their jobs again without running them; the rest go to the executor.
import type { Executor } from './search.js';
import type { TrialJob, TrialResult } from './trial.js';

/** The key of a job's result: trial index and epochs (a trial has one result per ASHA rung it reaches). */
export function resultKey(r: Pick<TrialJob, 'index' | 'epochs'>): string {
  return `${r.index}@${r.epochs}`;
}

/**
 * An executor that answers jobs from `stored` results (by trial index and
 * epochs) and sends the others to `inner`. A stored result whose settings or
 * seed differ from the job's belongs to another study: run() rejects, naming
 * the trial. close() closes `inner`.
 */
export function resumeFrom(inner: Executor, stored: Iterable<TrialResult>): Executor {
  const known = new Map<string, TrialResult>();
  for (const r of stored) known.set(resultKey(r), r);
  return {
    concurrency: inner.concurrency,
    run(job) {
      const r = known.get(resultKey(job));
      if (!r) return inner.run(job);
      if (r.seed !== job.seed || JSON.stringify(r.settings) !== JSON.stringify(job.settings) || r.study !== job.study) {
        return Promise.reject(new Error(`stored result of trial ${job.index} (${job.epochs} epochs) is not this study's: its study, seed or settings differ`));
      }
      return Promise.resolve(r);
    },
    close: () => inner.close(),
  };
}
