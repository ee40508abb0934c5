// A worker thread that runs trials: its own runtime on one thread (the plain
// SIMD build, the bit-reproducible reference), data loaded once per DataSpec.
// Messages in: { id, job }; out: { id, epoch } for each epoch trained (so a
// trial stopped at its time limit keeps them), then { id, result }, or
// { id, error } when the job could not be run at all (its data failed to load,
// a malformed job).
import { parentPort, workerData } from 'node:worker_threads';
import { DataCache } from '../../search/inline.js';
import { runTrial, type TrialJob } from '../../search/trial.js';
import { createRuntime } from '../runtime.js';
import { loadSearchData } from './data.js';

const label = (workerData as { label: string }).label;
const rt = await createRuntime({ threads: 1 });
const cache = new DataCache(rt, loadSearchData);
let queue: Promise<void> = Promise.resolve();

parentPort!.on('message', ({ id, job }: { id: number; job: TrialJob }) => {
  queue = queue.then(async () => {
    try {
      const result = await runTrial(rt, job, await cache.get(job.data), label, undefined, (epoch) => parentPort!.postMessage({ id, epoch }));
      parentPort!.postMessage({ id, result });
    } catch (e) {
      parentPort!.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
    }
  });
});
parentPort!.postMessage('ready');
