// What the cores' cache coherence costs the data a split step exchanges. A
// 2-thread training step shares one net: each thread writes lines (its half
// of the weights in the update, its rows' activations and gradients) that the
// other thread then reads, and next step writes them again. Reading lines the
// other core wrote streams, as reading one's own does. Writing lines the other
// core has read does not: each write must first take the line back from the
// other core's cache, and on the 2-vCPU Zen 5 guest at a ~470 ns round trip
// overwriting 256 KB so took ~38 µs against ~6 µs for lines only this core
// held (at ~150 ns: 9 µs). Two workers stepping their own nets on half the
// batch each (bench/half-batch-pair.mjs) pay none of it.
//
// Both threads run the simdnn shared build's kernels on one shared memory:
// `fill` (stores only) for a write, `sumSquares` for a read.
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';

const KB = 256;
const ROUNDS = 200;
// control words: OP (1 fill, 2 read, -1 quit; the worker sets it back to 0 when done)
const OP = 0;

const WORKER = `
const { workerData } = require('node:worker_threads');
const { module, memory, ctl: buffer, ptr, n } = workerData;
const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctl = new Int32Array(buffer);
// spins, never sleeps: a thread woken by another tends to be placed on the waker's CPU, where the two would
// share one cache
for (;;) {
  const op = Atomics.load(ctl, 0);
  if (op === 0) continue;
  if (op < 0) break;
  if (op === 1) k.fill(ptr, 1, n); else k.sumSquares(ptr, n);
  Atomics.store(ctl, 0, 0);
}`;

/**
 * Median µs, on this thread, of reading and of overwriting KB kilobytes after the other thread
 * wrote them (read) or read them (overwrite), each beside the same on lines only this thread touched.
 */
export async function coherence() {
  const module = new WebAssembly.Module(readFileSync(new URL('../build/simdnn-shared.wasm', import.meta.url)));
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 64, shared: true });
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const ptr = (k.heapBase() + 63) & ~63;
  const n = (KB * 1024) / 4;
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const worker = new Worker(WORKER, { eval: true, workerData: { module, memory, ctl: ctl.buffer, ptr, n } });
  await new Promise((resolve, reject) => { worker.once('online', resolve); worker.once('error', reject); });
  const other = (op) => {
    Atomics.store(ctl, OP, op);
    const t0 = performance.now();
    while (Atomics.load(ctl, OP) !== 0) {
      if (performance.now() - t0 > 10_000) throw new Error('bench: the coherence worker stopped answering');
    }
  };
  const us = (f) => { const t0 = performance.now(); f(); return (performance.now() - t0) * 1000; };
  const write = () => k.fill(ptr, 2, n), read = () => k.sumSquares(ptr, n);
  const t = { readOwn: [], readOther: [], writeOwn: [], writeShared: [] };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      write(); t.readOwn.push(us(read));
      other(1); t.readOther.push(us(read));
      write(); t.writeOwn.push(us(write));
      other(2); t.writeShared.push(us(write));
    }
  } finally {
    Atomics.store(ctl, OP, -1);
    await worker.terminate();
  }
  const median = (a) => a.slice(ROUNDS / 10).sort((x, y) => x - y)[(a.length - ROUNDS / 10) >> 1];
  return {
    kb: KB,
    readOwn: median(t.readOwn), readOther: median(t.readOther),
    writeOwn: median(t.writeOwn), writeShared: median(t.writeShared),
  };
}

/** coherence()'s figures as one line. */
export function coherenceReport(c) {
  return `overwriting ${c.kb} KB the other thread had read: ${c.writeShared.toFixed(1)} µs (lines this thread alone held: ${c.writeOwn.toFixed(1)}); ` +
    `reading ${c.kb} KB the other had written: ${c.readOther.toFixed(1)} µs (${c.readOwn.toFixed(1)})`;
}
