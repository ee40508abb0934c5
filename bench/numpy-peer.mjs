// A NumPy peer kept running through a paired measurement: its script's --serve
// mode (numpy_peer.py) times a block of its steps on request, so NumPy is
// timed in the same rounds as simdnn's sides. Timed on its own, a minute
// apart, it met other phases of the host: the DeepConvNet step on 2 BLAS
// threads took 339–467 ms in four full runs on one machine, and the ratio
// moved with it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pythonEnv } from './harness.mjs';

/**
 * How long OpenBLAS's idle threads spin (yielding) before they sleep: 2^28
 * cycles, ~0.1 s here (the peer's CPU time grew for 130 ms after each block).
 * quiet() waits this long where it cannot read the peer's CPU time.
 */
export const NUMPY_SPIN_MS = 150;

/** quiet()'s poll: the peer is idle once its CPU time has not grown for this long (Linux counts it in 10 ms ticks). */
const QUIET_MS = 30;

/** The longest quiet() waits, ms. */
const QUIET_LIMIT_MS = 1000;

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
   * About `ms` of NumPy steps, after a pause for simdnn's worker to stop spinning and about `wakeMs` of
   * untimed steps (one at least, if any): { ms: mean ms per timed step, steps, untimed }. NumPy's threads spin for
   * NUMPY_SPIN_MS after it (quiet() waits them out).
   */
  async block(ms, wakeMs = 0) {
    await sleep(WORKER_SPIN_MS);
    this.child.stdin.write(`${ms} ${wakeMs}\n`);
    const r = await this.next();
    if (r.ms === undefined) throw new Error(`bench: the NumPy peer failed: ${r.error ?? r.skip ?? JSON.stringify(r)}`);
    return r;
  }

  /**
   * Resolves once NumPy's process has used no CPU for QUIET_MS: after a block its BLAS threads spin
   * ~0.1 s. A side timed right after, even behind an untimed run of that length, met them: simdnn's
   * pool worker, descheduled by them while it spun, took the cores for busy and went quiet (it sleeps
   * when idle for 100 ms and more, and the runtime runs calls on the calling thread meanwhile:
   * src/runtime/threads.ts), so whole blocks of the MLP step on 2 threads ran at the speed of 1 (1.53
   * against 0.97 ms a step, in 3 of 9 blocks; 3,588–4,673 of a case's calls on one thread; its mean
   * 1.06–1.15 ms against 1.01 without the peer). Waiting for the peer to idle first: no quiet call,
   * 1.04 ms in the same rounds. Without /proc (not Linux), waits NUMPY_SPIN_MS.
   */
  async quiet() {
    let last = this.cpuTicks();
    if (last === null) return sleep(NUMPY_SPIN_MS);
    for (const end = performance.now() + QUIET_LIMIT_MS; performance.now() < end;) {
      await sleep(QUIET_MS);
      const now = this.cpuTicks();
      if (now === last) return;
      last = now;
    }
  }

  /** The peer's user + system CPU time in clock ticks (all its threads), or null where /proc cannot tell. */
  cpuTicks() {
    try {
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
      return Number(fields[11]) + Number(fields[12]);
    } catch {
      return null;
    }
  }

  async close() {
    const c = this.child;
    if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('close', r));
    c.stdin.end();
    await exited;
  }
}
