// The thread pool: Workers that instantiate the runtime's compiled module on
// its shared WebAssembly.Memory and run parts ("chunks") of one kernel call.
//
// Protocol, all on a control block in the shared memory (Int32 slots):
//   CLAIM  = gen (8 bits) | front (12 bits) | back (12 bits): chunks
//            [front, back) are unclaimed. The main thread publishes a job
//            by storing CHUNKS, then a new word (front 0, back = chunks); it
//            claims chunk `front` by compare-exchange (word -> front + 1),
//            every worker chunk `back − 1` (word -> back − 1), and only then
//            reads that chunk's arguments. A claim that succeeds is always a
//            claim on the current job, so a slow worker can never run a stale
//            one, and the main thread finishes alone whatever the workers have
//            not claimed: a late, descheduled or still starting worker never
//            stalls a call. Claiming from both ends keeps the same chunks on
//            the same thread from call to call (the calling thread the first
//            ones, a worker the last): a chunk's data stays in one core's
//            cache, where a 2-vCPU VM takes ~0.4 µs per cache line between
//            cores.
//   CHUNKS = the current job's chunk count.
//   DONE   = chunks finished; the last finisher notifies the main thread.
//   STOP   = set by dispose(), with a new CLAIM word of no chunks (so a
//            worker about to wait on the old word does not sleep): workers
//            leave their loop.
//   FAILED = chunks whose kernel threw in a worker.
//   WORKER_CHUNKS = chunks run by workers (statistics).
//   FN     = index of the export to call (in the `names` the workers got).
//   READY  = workers that have entered their loop (they count themselves in,
//            so the calling thread sees them without running its event loop).
//   GONE   = workers that have exited; FAULT/FAULT_LEN and the text after the
//            header hold the first failure's cause (a trap's message, an exit).
// Each worker w has two words after the argument slots: HOLD (the claim word
// it is taking or running, 0 when idle: set before its compare-exchange,
// cleared after DONE) and STATE (0 starting, 1 ready, 2 gone). A call whose
// chunks are all claimed, not all done, and held by no live worker has lost
// a chunk to a dead worker: the calling thread fails it instead of waiting.
// Chunk c's arguments are float64 slots at ARGS + c * MAX_ARGS; chunks never
// share output, so which thread runs a chunk cannot change any result. Once a
// chunk has run, the thread that ran it writes its time (ms) to the chunk's
// last slot (its arguments were read before), for callers that balance
// later calls by it (ThreadPool.chunkMs).
// The pool is host-neutral: a ThreadHost starts the workers (src/node/ gives
// one on worker_threads; webThreadHost uses Web Workers from a Blob URL).

export const MAX_ARGS = 18;
/** Most chunks per call: they fit 12 bits of the claim word. */
export const MAX_CHUNKS = 4095;
// How long an idle worker spins before it sleeps (ms): longer than the gaps
// between the GEMMs of a training step, short enough not to hold a core for
// long. Waking a sleeping worker costs ~15 µs on a 2-vCPU VM; measured on the
// MLP step (784-[100×6]-10, batch 100), 2 threads vs 1: 0.93x when workers
// sleep at once, 1.35–1.5x with 0.2 or 2 ms of spinning.
const WORKER_SPIN_MS = 2;
// But a spinning worker is a runnable thread: with another process busy on
// the machine, three threads share the two cores and the calling thread gets
// two thirds of one (MLP step 3.4 ms on 2 threads against 1.7 on 1; 2.0 ms
// with workers that never spin). So a worker that finds itself descheduled
// while spinning (two readings of the clock more than PREEMPTED_MS apart,
// where they are ~0.4 µs apart: one every CLOCK_POLLS polls) four times
// within CONFIRM_MS sleeps at once when idle for QUIET_MS, doubling up to
// QUIET_MAX_MS while it keeps being descheduled, and back to QUIET_MS once a
// whole spin window passes QUIET_RESET_MS after the last time it was (a busy
// neighbour still leaves it whole slices, longer than a spin window, so one
// undisturbed window proves little). While every worker is quiet the runtime
// runs calls on the calling thread (RuntimeOptions.busyCores): the MLP step
// then takes about its 1-thread time. Measured on a
// 2-vCPU VM, a thread spinning for 5 s saw 3 to 5 gaps of 1 ms or more when
// the machine was quiet (the hypervisor's; in its worst phases it pauses a
// vCPU 500 times a second, ~0.1 ms each), 0 to 3 of 2 ms or more, and ~300
// of 4 ms or more with two other busy threads.
const PREEMPTED_MS = 2;
const CONFIRM_MS = 100;
// Idle polls per reading of the clock. Node's performance.now() takes ~60 ns
// and allocates (a young-generation collection every ~32,000 calls): read on
// every poll, it took a spinning worker's isolate through a collection every
// ~100 ms. Two atomic loads, the rest of a poll, take ~20 ns.
const CLOCK_POLLS = 16;
// Deschedules in a worker's first second up are not counted: V8 then compiles
// the new isolate's code and tiers up the kernels on background threads, which
// take the cores from the spinning worker with no other process busy (on the
// 2-vCPU VM, 2 quiet periods and ~2,300 of an MLP run's calls alone in its
// first half second, and none after).
const STARTUP_GRACE_MS = 1000;
const QUIET_MS = 100;
const QUIET_MAX_MS = 3200;
const QUIET_RESET_MS = 1000;
// Polls of the done counter (~17 µs on the 2-vCPU EPYC VMs) before the calling
// thread sleeps on it, where it may; and it polls on while the wait is shorter
// than JOIN_SPIN_SHARE of the time its own parts took (at most
// JOIN_SPIN_MAX_MS): a wake-up costs 15–50 µs on these VMs, and after 1,000
// polls alone it slept in 24–47% of the MLP row chain's calls on 2 threads,
// whose parts end tens of µs apart from one call to the next; 4% since
// (docs/BENCHMARKS.md, session 34). Past that the worker is likely
// descheduled, and sleeping gives its core back.
const SPIN_BEFORE_WAIT = 1000;
const JOIN_SPIN_SHARE = 0.25;
const JOIN_SPIN_MAX_MS = 0.2;
// The calling thread sleeps in slices (ms), so a worker's death that nobody
// could notify is still seen; an exit or a finished chunk wakes it at once.
const WAIT_SLICE_MS = 50;

const CLAIM = 0, DONE = 1, STOP = 2, FAILED = 3, WORKER_CHUNKS = 4, FN = 5, READY = 6, GONE = 7, FAULT = 8, FAULT_LEN = 9, CHUNKS = 10, QUIETS = 11, QUIET_NOW = 12;
const HEADER_BYTES = 64;
/** UTF-16 code units kept of a failure's cause. */
const FAULT_CHARS = 240;
const ARGS_BYTE = HEADER_BYTES + FAULT_CHARS * 2;
const HOLD = 0, STATE = 1, STARTING = 0, UP = 1, DEAD = 2;

/** What a worker is handed when it starts. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Byte offset of the control block (ThreadPool.controlBytes(slots, workers) bytes, 8-aligned). */
  control: number;
  /** Most chunks per call. */
  slots: number;
  /** Export names; the control block's FN indexes them. */
  names: string[];
  /** This worker's number (0-based), which picks its words in the control block. */
  index: number;
}

/** A started worker, as a ThreadHost's spawn() returns it; the pool that spawned it owns it. */
export interface WorkerHandle {
  /** Resolves once the worker has instantiated the module and entered its loop. */
  readonly ready: Promise<void>;
  /**
   * Resolves, with the cause, once the worker has exited (by itself, by a
   * crash, or after terminate()). The pool frees its control block only then;
   * without it the pool takes a terminated worker to stop at once.
   */
  readonly exited?: Promise<string>;
  /**
   * Called by the pool when it stops the worker: the host ends it, at once or
   * once it has left its loop (a Web Worker that is up); `exited` then resolves.
   */
  terminate(): void;
}

/** How ThreadHost.spawn starts a worker. */
export interface SpawnOptions {
  /**
   * Started in the background, not awaited by the program: the worker must
   * not keep a Node process alive while it starts (it never does once ready).
   */
  background?: boolean;
}

/**
 * How a host starts workers. src/node/runtime.ts supplies one for Node.
 * A worker that exits while the calling thread is blocked in a call can only
 * be noticed through the shared memory: a host that learns of an exit on a
 * thread that is not blocked (the worker's own exit handlers, a supervising
 * thread) calls `simdnnWorkerGone(init, cause)`, defined by `body`, there.
 */
export interface ThreadHost {
  /** Logical cores, for `threads: 'auto'` and the default cap on `threads`. */
  cores(): number;
  /**
   * Starts a worker that evaluates `body` (script text, valid as a classic
   * script or a module, defining `simdnnWorker(init, post)` and
   * `simdnnWorkerGone(init, cause)`) and then calls `simdnnWorker(init, post)`,
   * where `post(message)` messages the starting thread.
   */
  spawn(body: string, init: WorkerInit, options?: SpawnOptions): WorkerHandle;
}

// The worker's side of the protocol, as source text so it runs from a string
// (no worker file to locate across Node, browsers and bundlers).
// While idle a worker spins briefly on the claim word before it sleeps in
// Atomics.wait, so back-to-back calls (a training step) do not pay a wake-up;
// not while it finds itself descheduled in the spin (see PREEMPTED_MS).
export const WORKER_BODY = `
function simdnnControl(init) {
  const buffer = init.memory.buffer, own = init.control + ${ARGS_BYTE} + init.slots * ${MAX_ARGS * 8} + init.index * 8;
  return { ctl: new Int32Array(buffer, init.control, ${HEADER_BYTES / 4}), text: new Uint16Array(buffer, init.control + ${HEADER_BYTES}, ${FAULT_CHARS}),
    own: new Int32Array(buffer, own, 2), slots: new Float64Array(buffer, init.control + ${ARGS_BYTE}, init.slots * ${MAX_ARGS}) };
}
function simdnnFault(c, cause) {
  if (Atomics.compareExchange(c.ctl, ${FAULT}, 0, 1) !== 0) return;
  const s = String(cause).slice(0, ${FAULT_CHARS});
  for (let i = 0; i < s.length; i++) c.text[i] = s.charCodeAt(i);
  Atomics.store(c.ctl, ${FAULT_LEN}, s.length);
  Atomics.store(c.ctl, ${FAULT}, 2);
}
function simdnnWorkerGone(init, cause) {
  const c = simdnnControl(init);
  if (Atomics.exchange(c.own, ${STATE}, ${DEAD}) === ${DEAD}) return;
  if (Atomics.load(c.ctl, ${STOP}) === 0) simdnnFault(c, cause);
  Atomics.add(c.ctl, ${GONE}, 1);
  Atomics.notify(c.ctl, ${DONE});
}
function simdnnWorker(init, post) {
  const CLAIM = ${CLAIM}, DONE = ${DONE}, STOP = ${STOP}, FAILED = ${FAILED}, WORKER_CHUNKS = ${WORKER_CHUNKS}, FN = ${FN}, CHUNKS = ${CHUNKS};
  const MAX_ARGS = ${MAX_ARGS}, SPIN_MS = ${WORKER_SPIN_MS}, PREEMPTED_MS = ${PREEMPTED_MS}, CONFIRM_MS = ${CONFIRM_MS}, STARTUP_GRACE_MS = ${STARTUP_GRACE_MS};
  const CLOCK_POLLS = ${CLOCK_POLLS};
  const QUIET_MS = ${QUIET_MS}, QUIET_MAX_MS = ${QUIET_MAX_MS}, QUIET_RESET_MS = ${QUIET_RESET_MS};
  // views on a shared buffer stay valid when the memory grows
  const c = simdnnControl(init), ctl = c.ctl, slots = c.slots, own = c.own;
  const args = new Array(MAX_ARGS).fill(0);
  WebAssembly.instantiate(init.module, { env: { memory: init.memory } }).then((instance) => {
    const fns = init.names.map((n) => instance.exports[n]);
    if (Atomics.compareExchange(own, ${STATE}, ${STARTING}, ${UP}) !== ${STARTING}) return;
    Atomics.add(ctl, ${READY}, 1);
    post('ready');
    // the last three times it was descheduled while spinning; quiet: sleeping at once when idle, until quietUntil
    let idleSince = -1, lastPoll = 0, p1 = -Infinity, p2 = -Infinity, p3 = -Infinity, quietUntil = 0, quiet = QUIET_MS, isQuiet = false;
    let polls = 0; // idle polls since the clock was last read
    const counted = performance.now() + STARTUP_GRACE_MS;
    for (;;) {
      const word = Atomics.load(ctl, CLAIM);
      if (Atomics.load(ctl, STOP) !== 0) { post('stopped'); return; }
      const front = (word >>> 12) & 0xfff, back = word & 0xfff;
      if (front < back) {
        Atomics.store(own, ${HOLD}, word);
        if (Atomics.compareExchange(ctl, CLAIM, word, word - 1) !== word) { Atomics.store(own, ${HOLD}, 0); continue; }
        const next = back - 1, chunks = Atomics.load(ctl, CHUNKS);
        for (let i = 0; i < MAX_ARGS; i++) args[i] = slots[next * MAX_ARGS + i];
        const started = performance.now();
        try { fns[ctl[FN]].apply(null, args); } catch (e) {
          simdnnFault(c, 'part ' + (next + 1) + ' of ' + chunks + ' in a worker thread: ' + (e && e.name ? e.name + ': ' + e.message : String(e)));
          Atomics.add(ctl, FAILED, 1);
        }
        slots[next * MAX_ARGS + MAX_ARGS - 1] = performance.now() - started;
        Atomics.add(ctl, WORKER_CHUNKS, 1);
        if (Atomics.add(ctl, DONE, 1) + 1 === chunks) Atomics.notify(ctl, DONE);
        Atomics.store(own, ${HOLD}, 0);
        idleSince = -1;
        continue;
      }
      // the first idle poll after a part reads the clock, then every CLOCK_POLLS-th
      if (idleSince >= 0 && ++polls < CLOCK_POLLS) continue;
      polls = 0;
      const now = performance.now();
      if (isQuiet && now >= quietUntil) { isQuiet = false; Atomics.sub(ctl, ${QUIET_NOW}, 1); }
      if (idleSince < 0) idleSince = now;
      else if (now - lastPoll > PREEMPTED_MS && now > counted) {
        // descheduled while spinning, the fourth time in a short while: sleep when idle for a while
        if (now - p3 < CONFIRM_MS) {
          quietUntil = now + quiet;
          quiet = Math.min(2 * quiet, QUIET_MAX_MS);
          Atomics.add(ctl, ${QUIETS}, 1);
          if (!isQuiet) { isQuiet = true; Atomics.add(ctl, ${QUIET_NOW}, 1); }
        }
        p3 = p2; p2 = p1; p1 = now;
      }
      lastPoll = now;
      if (isQuiet) {
        // the timeout ends the quiet period even if no call comes (the runtime
        // runs calls alone while every worker is quiet)
        Atomics.wait(ctl, CLAIM, word, quietUntil - now);
        idleSince = -1;
      } else if (now - idleSince > SPIN_MS) {
        if (now - p1 > QUIET_RESET_MS) quiet = QUIET_MS; // a whole spin window, long after the last deschedule
        Atomics.wait(ctl, CLAIM, word);
        idleSince = -1;
      }
    }
  }, (e) => post({ error: String(e && e.message || e) }));
}
`;

/** Whether this thread may block in Atomics.wait (not a browser's main thread). */
export function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch { return false; }
}

/** Web Workers from a Blob URL (browsers, Deno, Bun): null where there is no Worker (edge runtimes, Node). */
export function webThreadHost(): ThreadHost | null {
  if (typeof Worker !== 'function' || typeof Blob !== 'function' || typeof URL.createObjectURL !== 'function') return null;
  return {
    cores: () => (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || 1,
    spawn(body, init) {
      const script = `${body}\nself.onmessage = (e) => { self.onmessage = null; simdnnWorker(e.data, (m) => self.postMessage(m)); };\n`;
      const url = URL.createObjectURL(new Blob([script], { type: 'text/javascript' }));
      // a module worker: Deno runs no other kind; browsers run both
      const worker = new Worker(url, { type: 'module' });
      let up = false, stopping = false;
      let exit!: (cause: string) => void;
      const exited = new Promise<string>((resolve) => { exit = resolve; });
      // A Web Worker has no exit event: one that was up says when it has left its
      // loop (after STOP) and is terminated then; one still starting never touched the pool.
      const stop = (cause: string) => { worker.terminate(); exit(cause); };
      const ready = new Promise<void>((resolve, reject) => {
        worker.onmessage = (e: MessageEvent) => {
          if (e.data === 'ready') { up = true; resolve(); } else if (e.data === 'stopped') stop('stopped');
          else reject(new Error(String(e.data?.error ?? e.data)));
        };
        worker.onerror = (e: ErrorEvent) => { e.preventDefault(); reject(new Error(e.message || 'worker failed to start')); };
      }).finally(() => URL.revokeObjectURL(url));
      ready.catch((e: Error) => { if (!stopping) stop(e.message); });
      worker.postMessage(init);
      return {
        ready, exited,
        terminate: () => { stopping = true; if (!up) stop('terminated before it was ready'); },
      };
    },
  };
}

/** Work split across threads by the runtime's pool (`rt.threadStats()`; zeros on one thread). */
export interface ThreadStats {
  /** Calls split across threads. */
  jobs: number;
  /** Chunks those calls were split into. */
  chunks: number;
  /** Chunks that worker threads (not the calling thread) ran. */
  workerChunks: number;
  /** Times a worker found itself descheduled while spinning idle, and so slept when idle for a while (a busy machine). */
  workerQuiets: number;
  /** Calls that would have split but ran on the calling thread while every worker was quiet (RuntimeOptions.busyCores). */
  quietCalls: number;
}

/**
 * A split call that failed in a worker thread, not on the calling thread: the worker died
 * holding a part (`workerDied`), or its part threw (a trap). The call's inputs were fine as far
 * as the calling thread knows, so running the work again on the calling thread can succeed
 * (a Trainer's step does so once); a trap on the calling thread is a plain Error instead.
 */
export class WorkerFault extends Error {
  override readonly name = 'WorkerFault';
  /** `workerDied`: the worker died (rather than its part threw); `options.cause`: what the worker reported. */
  constructor(message: string, readonly workerDied: boolean, options: { cause: unknown }) {
    super(message, options);
  }
}

export class ThreadPool {
  /** Argument slots: chunk c's arguments start at c * MAX_ARGS. */
  readonly args: Float64Array;
  /**
   * Resolves when every worker is up, or the pool is disposed; rejects (with
   * the first failure) if one fails to start. Calls do not wait for it:
   * workers take parts once they are up.
   */
  readonly ready: Promise<void>;
  private settle: () => void = () => {};
  private readonly ctl: Int32Array;
  private readonly text: Uint16Array;
  /** HOLD and STATE of each worker. */
  private readonly own: Int32Array;
  private readonly fns: Function[];
  private readonly canBlock = canBlock();
  private readonly callArgs = new Array<number>(MAX_ARGS).fill(0);
  private readonly workerCount: number;
  private gen = 0;
  private jobs = 0;
  private chunks = 0;

  private constructor(
    init: Omit<WorkerInit, 'index'>,
    exports: Record<string, unknown>,
    private readonly workers: WorkerHandle[],
  ) {
    this.size = workers.length + 1;
    this.control = init.control;
    this.names = init.names;
    // views on a shared buffer stay valid when the memory grows
    const buffer = init.memory.buffer;
    this.ctl = new Int32Array(buffer, init.control, HEADER_BYTES / 4);
    this.text = new Uint16Array(buffer, init.control + HEADER_BYTES, FAULT_CHARS);
    this.args = new Float64Array(buffer, init.control + ARGS_BYTE, init.slots * MAX_ARGS);
    this.own = new Int32Array(buffer, init.control + ARGS_BYTE + init.slots * MAX_ARGS * 8, 2 * workers.length);
    this.fns = init.names.map((n) => exports[n] as Function);
    this.ready = new Promise<void>((resolve, reject) => {
      this.settle = resolve;
      Promise.all(workers.map((w) => w.ready)).then(() => resolve(), reject);
    });
    // an exit the calling thread hears of (its event loop ran) is recorded as one the worker reported
    this.workerCount = workers.length;
    workers.forEach((w, i) => { void w.exited?.then((cause) => this.gone(i, cause)); });
  }

  /** Threads that work on a call: the workers and the calling thread. */
  readonly size: number;
  /** Byte offset of the control block. */
  readonly control: number;
  private readonly names: readonly string[];

  /** Bytes of the control block for `slots` chunks per call and `workers` workers (allocated by the caller in the shared memory). */
  static controlBytes(slots: number, workers: number): number {
    return ARGS_BYTE + slots * MAX_ARGS * 8 + workers * 8;
  }

  /**
   * Starts threads - 1 workers (the calling thread is the last) and returns at
   * once: each worker counts itself in through the shared memory when it is
   * up, so calls made while the calling thread never yields (a synchronous
   * training loop) use the workers as they come up. `ready` says when all are.
   */
  static launch(host: ThreadHost, threads: number, init: Omit<WorkerInit, 'index'>, exports: Record<string, unknown>, background = false): ThreadPool {
    new Uint8Array(init.memory.buffer, init.control, ThreadPool.controlBytes(init.slots, threads - 1)).fill(0);
    const handles: WorkerHandle[] = [];
    try {
      for (let i = 1; i < threads; i++) handles.push(host.spawn(WORKER_BODY, { ...init, index: i - 1 }, { background }));
    } catch (e) {
      for (const h of handles) h.terminate();
      throw e;
    }
    const pool = new ThreadPool(init, exports, handles);
    pool.ready.catch(() => {}); // the owner handles it; a pool disposed first has no owner left
    return pool;
  }

  /** The index run() takes for export `name`. */
  fn(name: string): number {
    const i = this.names.indexOf(name);
    if (i < 0) throw new Error(`thread pool: the module has no export '${name}'`);
    return i;
  }

  /** Milliseconds chunk c of the last call took on the thread that ran it (read after run() returned). */
  chunkMs(c: number): number {
    return this.args[c * MAX_ARGS + MAX_ARGS - 1];
  }

  /** Whether every worker has come up (each counts itself in through the shared memory). */
  get allUp(): boolean {
    return Atomics.load(this.ctl, READY) >= this.workerCount;
  }

  /** Whether every worker is quiet: each found its core busy with other work (see PREEMPTED_MS). */
  get allQuiet(): boolean {
    return Atomics.load(this.ctl, QUIET_NOW) >= this.workerCount;
  }

  /** Whether a worker has exited: the pool can no longer be trusted with a call. */
  get broken(): boolean {
    return Atomics.load(this.ctl, GONE) > 0;
  }

  /** The first failure's cause recorded by a worker (or its host), or '' if none. */
  get fault(): string {
    if (Atomics.load(this.ctl, FAULT) !== 2) return '';
    return String.fromCharCode(...this.text.subarray(0, Atomics.load(this.ctl, FAULT_LEN)));
  }

  /**
   * Runs export `fn` once per chunk (chunks <= slots), with the arguments
   * the caller wrote to `args`, on the workers and the calling thread; returns
   * when every chunk is done. Throws an Error naming `kernel`, with the cause,
   * when a chunk threw (a trap) on any thread, or when a worker died holding a
   * chunk (then `broken` is true: dispose the pool); a WorkerFault unless the
   * failure was a trap in one of the calling thread's own chunks.
   */
  run(fn: number, chunks: number, kernel: string): void {
    const ctl = this.ctl;
    this.gen = (this.gen + 1) & 0xff;
    Atomics.store(ctl, FAULT, 0);
    Atomics.store(ctl, FN, fn);
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, CHUNKS, chunks);
    Atomics.store(ctl, CLAIM, (this.gen << 24) | chunks);
    Atomics.notify(ctl, CLAIM);
    let error: unknown = null, failedPart = 0, ownMs = 0;
    for (;;) {
      const word = Atomics.load(ctl, CLAIM);
      const next = (word >>> 12) & 0xfff;
      if (next >= (word & 0xfff)) break;
      if (Atomics.compareExchange(ctl, CLAIM, word, word + (1 << 12)) !== word) continue;
      const base = next * MAX_ARGS;
      for (let i = 0; i < MAX_ARGS; i++) this.callArgs[i] = this.args[base + i];
      const started = performance.now();
      try { this.fns[fn].apply(null, this.callArgs); } catch (e) { if (error === null) { error = e; failedPart = next + 1; } }
      const ms = performance.now() - started;
      this.args[base + MAX_ARGS - 1] = ms;
      ownMs += ms;
      Atomics.add(ctl, DONE, 1);
    }
    const finished = this.wait(chunks, Math.min(JOIN_SPIN_MAX_MS, JOIN_SPIN_SHARE * ownMs));
    this.jobs++;
    this.chunks += chunks;
    const failed = Atomics.exchange(ctl, FAILED, 0);
    if (!finished) {
      throw new WorkerFault(`${kernel}: a worker thread died running its part of the call (${this.fault || 'no cause reported'})`, true, { cause: new Error(this.fault) });
    }
    if (error !== null) {
      const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new Error(`${kernel}: part ${failedPart} of ${chunks} on the calling thread: ${what}`, { cause: error });
    }
    if (failed) {
      const cause = this.fault;
      throw new WorkerFault(`${kernel}: ${failed} of ${chunks} parts failed: ${cause}`, false, { cause: new Error(cause) });
    }
  }

  // Every chunk is claimed; wait for those that workers are still running,
  // polling for SPIN_BEFORE_WAIT polls and at least `spinMs` before sleeping.
  // False when one is lost: its worker died holding it.
  private wait(chunks: number, spinMs: number): boolean {
    const ctl = this.ctl;
    const until = performance.now() + spinMs;
    let patient = spinMs > 0;
    for (let spins = 0; ; spins++) {
      if (Atomics.load(ctl, DONE) === chunks) return true;
      if (Atomics.load(ctl, GONE) > 0 && this.lost(chunks)) return false;
      const done = Atomics.load(ctl, DONE);
      // A browser's main thread cannot block, so it spins; the wait is bounded
      // by one chunk's compute, since a chunk is only claimed by a running thread.
      if (!this.canBlock || spins <= SPIN_BEFORE_WAIT) continue;
      // the clock every 64 polls (Node's performance.now() allocates)
      if (patient && (spins & 63) === 0 && performance.now() >= until) patient = false;
      if (!patient) Atomics.wait(ctl, DONE, done, WAIT_SLICE_MS);
    }
  }

  // No live worker holds a chunk, yet not all are done. HOLD is read before
  // DONE: a worker clears HOLD after adding its chunk to DONE.
  private lost(chunks: number): boolean {
    const own = this.own;
    for (let w = 0; w < this.workerCount; w++) {
      if (Atomics.load(own, 2 * w + STATE) !== DEAD && Atomics.load(own, 2 * w + HOLD) !== 0) return false;
    }
    return Atomics.load(this.ctl, DONE) < chunks;
  }

  // Records worker w's exit (once), as the worker's own exit handler would.
  private gone(w: number, cause: string): void {
    if (Atomics.exchange(this.own, 2 * w + STATE, DEAD) === DEAD) return;
    if (Atomics.load(this.ctl, STOP) === 0 && Atomics.compareExchange(this.ctl, FAULT, 0, 1) === 0) {
      const s = cause.slice(0, FAULT_CHARS);
      for (let i = 0; i < s.length; i++) this.text[i] = s.charCodeAt(i);
      Atomics.store(this.ctl, FAULT_LEN, s.length);
      Atomics.store(this.ctl, FAULT, 2);
    }
    Atomics.add(this.ctl, GONE, 1);
    Atomics.notify(this.ctl, DONE);
  }

  stats(): Omit<ThreadStats, 'quietCalls'> {
    return { jobs: this.jobs, chunks: this.chunks, workerChunks: Atomics.load(this.ctl, WORKER_CHUNKS), workerQuiets: Atomics.load(this.ctl, QUIETS) };
  }

  /**
   * Stops and terminates the workers; resolves once every one has exited (a
   * host without `exited` is taken at its word), when the control block and
   * the memory the workers were given may be reused.
   */
  dispose(): Promise<void> {
    this.settle();
    Atomics.store(this.ctl, STOP, 1);
    // a new claim word with no chunks: a worker that read STOP as 0 just before,
    // and is about to wait on the old word, returns at once and sees STOP (a
    // notify alone would be lost on it, and a Web Worker waits for no timeout)
    this.gen = (this.gen + 1) & 0xff;
    Atomics.store(this.ctl, CLAIM, this.gen << 24);
    Atomics.notify(this.ctl, CLAIM);
    for (const w of this.workers) w.terminate();
    const exits = this.workers.map((w) => w.exited ?? Promise.resolve());
    this.workers.length = 0;
    return Promise.all(exits).then(() => undefined);
  }
}
