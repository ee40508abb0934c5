// What a 2-thread training step (the MLP's or the DeepConvNet's) would take if
// its threads shared no data: two workers, each a 1-thread runtime stepping its
// own copy of the net on half the batch, in lockstep. The split step (one net,
// its calls split across the two threads: the MLP's by rows, the convolutions
// and poolings by images) does the same arithmetic per thread and more
// synchronisation, and reads the lines the other thread wrote: W after the
// update, activations and gradients after each split call. So the pair's step
// is a floor for it at the placement of the moment, and the gap between them is
// what sharing costs there. The floor is generous: it leaves out the
// synchronisation and each worker runs the whole optimizer update (a split
// update halves it). With fixed halves it holds while both cores run at one
// speed, where the split step balances its parts by the threads' speeds; so
// each block also gives the balanced floor: each step as if its rows had been
// split in proportion to the two workers' speeds in that step (2ab/(a + b) for
// half-batch times a and b; the whole step taken as proportional to its rows).
//
// Each timed step starts at a barrier, and its time is the slower worker's
// (both wait for it in a split step); the weights are restored between steps,
// untimed, as the other sides' beforeEach does; a block's first steps are untimed, as theirs are.
import { Worker } from 'node:worker_threads';

// control words: GO (blocks asked for), DONE (workers finished the block), STEPS (timed steps in the block), BARRIER,
// READY, QUIT, WAKE (untimed steps before them), RAN (steps worker 0 ran in the block)
const GO = 0, DONE = 1, STEPS = 2, BARRIER = 3, READY = 4, QUIT = 5, WAKE = 6, RAN = 7;

export class HalfBatchPair {
  /**
   * Starts the two workers with `net` (MultiLayerNet's options, or 'deep-conv'), `batch` rows in all (half each), optimizer `optimizer`
   * at `lr`, and resolves once both have run `warmMs` of steps.
   */
  static async start({ net, batch, optimizer, lr, warmMs }) {
    const pair = new HalfBatchPair();
    pair.workers = [0, 1].map((id) => new Worker(new URL('./half-batch-worker.mjs', import.meta.url), {
      workerData: { id, buffer: pair.ctl.buffer, net, rows: batch / 2, optimizer, lr, warmMs },
    }));
    // a worker that fails to start rejects here; one that dies later makes block() time out
    const failed = new Promise((_, reject) => pair.workers.forEach((w) => w.once('error', reject)));
    while (Atomics.load(pair.ctl, READY) < 2) {
      await Promise.race([new Promise((r) => setTimeout(r, 20)), failed]);
    }
    failed.catch(() => {}); // an error after start is block()'s to report
    pair.stepMs = Math.max(pair.ms[2], pair.ms[3]);
    return pair;
  }

  constructor() {
    this.ctl = new Int32Array(new SharedArrayBuffer(64 + 16 * 8));
    this.ms = new Float64Array(this.ctl.buffer, 64, 16);
  }

  /**
   * Runs about `wakeMs` of lockstep steps untimed (one at least), then about `ms` timed; returns the timed
   * steps' mean time (ms: the slower worker's), their count, the mean balanced step (balancedMs, never
   * above ms), each worker's mean step (workerMs) and the untimed steps' count.
   */
  block(ms, wakeMs = 0) {
    const ctl = this.ctl;
    const steps = Math.max(3, Math.round(ms / this.stepMs));
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, STEPS, steps);
    Atomics.store(ctl, WAKE, Math.max(1, Math.ceil(wakeMs / this.stepMs)));
    Atomics.store(ctl, RAN, 0);
    Atomics.add(ctl, GO, 1);
    Atomics.notify(ctl, GO);
    const end = performance.now() + 60_000;
    while (Atomics.load(ctl, DONE) < 2) {
      Atomics.wait(ctl, DONE, Atomics.load(ctl, DONE), 100);
      if (performance.now() > end) throw new Error('bench: the half-batch workers stopped answering');
    }
    // worker 0 sums the slower worker's time of each step, the balanced step and each worker's
    this.stepMs = this.ms[0] / steps;
    return { ms: this.stepMs, steps, balancedMs: this.ms[1] / steps, workerMs: [this.ms[4] / steps, this.ms[5] / steps], untimed: Atomics.load(ctl, RAN) - steps };
  }

  async close() {
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.add(this.ctl, GO, 1);
    Atomics.notify(this.ctl, GO);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

export const CONTROL = { GO, DONE, STEPS, BARRIER, READY, QUIT, WAKE, RAN };
