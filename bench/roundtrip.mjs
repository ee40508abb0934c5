// The round trip of one cache line between two threads: this one writes a
// counter, a worker thread echoes it back, and the median over batches of 100
// trips is the figure, in ns. It prices what a split call pays for the data
// the other thread wrote. On a VM the host places the vCPUs and can move them:
// on the 2-vCPU AMD EPYC Zen 5 guest of docs/BENCHMARKS.md it read ~160 ns for
// minutes, then ~470 ns from one second to the next, and the MLP training
// step on 2 threads fell from 1.6–1.75× to 1.04–1.43× over 1 thread with it.
// The worker sleeps (Atomics.wait) between measurements, so it takes no vCPU
// from the work timed around them.
import { Worker } from 'node:worker_threads';

const ECHO = `
const { workerData } = require('node:worker_threads');
const a = new Int32Array(workerData);
for (;;) {
  const v = Atomics.load(a, 0);
  if (v < 0) break;
  if (v === 0) { Atomics.wait(a, 0, 0); continue; }
  if (v & 1) Atomics.store(a, 0, v + 1);
}`;

const BATCHES = 50;
const TRIPS = 100;

export class RoundTrip {
  /** A probe whose worker is up (measure() would otherwise wait for it to start); close() it. */
  static async start() {
    const probe = new RoundTrip();
    await new Promise((resolve, reject) => { probe.worker.once('online', resolve); probe.worker.once('error', reject); });
    probe.worker.unref(); // an idle probe keeps no process alive
    return probe;
  }

  constructor() {
    this.word = new Int32Array(new SharedArrayBuffer(64));
    this.worker = new Worker(ECHO, { eval: true, workerData: this.word.buffer });
  }

  /** Median ns of one round trip over BATCHES batches of TRIPS (a few ms). */
  measure() {
    const a = this.word;
    Atomics.store(a, 0, 2); // even and non-zero: the worker wakes and waits for an odd value
    Atomics.notify(a, 0);
    const ns = [];
    for (let b = 0; b < BATCHES; b++) {
      const t0 = performance.now();
      for (let i = 0; i < TRIPS; i++) {
        const v = Atomics.load(a, 0) + 1;
        Atomics.store(a, 0, v);
        for (let spins = 1; Atomics.load(a, 0) === v; spins++) {
          if ((spins & 0xfffff) === 0 && performance.now() - t0 > 1000) throw new Error('bench: the round-trip worker stopped echoing');
        }
      }
      ns.push(((performance.now() - t0) * 1e6) / TRIPS);
    }
    Atomics.store(a, 0, 0);
    ns.sort((x, y) => x - y);
    return ns[BATCHES >> 1];
  }

  async close() {
    Atomics.store(this.word, 0, -1);
    Atomics.notify(this.word, 0);
    await this.worker.terminate();
  }
}
