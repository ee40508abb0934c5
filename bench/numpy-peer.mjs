// A NumPy peer kept running through a paired measurement: its script's --serve
// mode (numpy_peer.py) times a block of its steps on request, so NumPy is
// timed in the same rounds as simdnn's sides. Timed on its own, a minute
// apart, it met other phases of the host: the DeepConvNet step on 2 BLAS
// threads took 339–467 ms in four full runs on one machine, and the ratio
// moved with it.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { pythonEnv } from './harness.mjs';

/**
 * How long OpenBLAS's idle threads spin (yielding) before they sleep: 2^28
 * cycles, ~0.1 s here. A side timed after a NumPy block first runs untimed for
 * this long (pairedMs), so it never shares the cores with them.
 */
export const NUMPY_SPIN_MS = 150;

/** How long simdnn's pool worker spins after its last call (2 ms, src/runtime/threads.ts), with a margin, ms. */
export const WORKER_SPIN_MS = 20;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class NumpyPeer {
  /**
   * Starts `script` with `args` and --serve on `threads` BLAS threads. Resolves, once it has warmed up,
   * to the peer, or to { skip } (no numpy) or { error } (it exited or answered out of protocol).
   */
  static async start(script, args, threads) {
    const child = spawn('python3', [script, ...args, '--serve'], { env: pythonEnv(threads), stdio: ['pipe', 'pipe', 'pipe'] });
    const peer = new NumpyPeer(child);
    const first = await peer.next();
    if (first.ready) {
      peer.blas = first.blas;
      return peer;
    }
    await peer.close();
    return first.skip ? { skip: first.skip } : { error: first.error ?? `python3 ${script}: ${JSON.stringify(first)}` };
  }

  constructor(child) {
    this.child = child;
    this.lines = [];
    this.waiting = null;
    this.stderr = '';
    child.stderr.on('data', (d) => { this.stderr += d; });
    child.on('error', (e) => this.answer({ skip: `python3 not runnable (${e.code ?? e.message})` }));
    child.on('close', (code) => this.answer({ error: `python3 exited ${code}: ${this.stderr.trim().split('\n').pop() ?? ''}` }));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg;
      try { msg = JSON.parse(line); } catch { msg = { error: `python3 printed ${line.slice(0, 200)}` }; }
      this.answer(msg);
    });
  }

  answer(msg) {
    if (this.waiting) { const w = this.waiting; this.waiting = null; w(msg); } else this.lines.push(msg);
  }

  /** The peer's next message. */
  next() {
    return this.lines.length ? Promise.resolve(this.lines.shift()) : new Promise((r) => { this.waiting = r; });
  }

  /**
   * About `ms` of NumPy steps, after a pause for simdnn's worker to stop spinning: { ms: mean ms per step,
   * steps }. NumPy's threads spin for NUMPY_SPIN_MS after it.
   */
  async block(ms) {
    await sleep(WORKER_SPIN_MS);
    this.child.stdin.write(`${ms}\n`);
    const r = await this.next();
    if (r.ms === undefined) throw new Error(`bench: the NumPy peer failed: ${r.error ?? r.skip ?? JSON.stringify(r)}`);
    return r;
  }

  async close() {
    const c = this.child;
    if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('close', r));
    c.stdin.end();
    await exited;
  }
}
