// The thread pool: Workers that instantiate the runtime's compiled module on
// its shared WebAssembly.Memory and run parts ("chunks") of one kernel call.
//
// Protocol, all on a control block in the shared memory (Int32 slots):
//   CLAIM  = gen (8 bits) | chunks (12 bits) | next (12 bits). The main thread
//            publishes a job by storing a new word; every participant, main
//            included, claims chunk `next` by compare-exchange (word -> word+1)
//            and only then reads that chunk's arguments. A claim that succeeds
//            is always a claim on the current job, so a slow worker can never
//            run a stale one, and the main thread finishes alone whatever the
//            workers have not claimed: a late or descheduled worker never
//            stalls a call.
//   DONE   = chunks finished; the last finisher notifies the main thread.
//   STOP   = set by dispose(): workers leave their loop.
//   FAILED = chunks whose kernel threw in a worker.
//   WORKER_CHUNKS = chunks run by workers (statistics).
//   FN     = index of the export to call (in the `names` the workers got).
// Chunk c's arguments are float64 slots at ARGS + c * MAX_ARGS; chunks never
// share output, so which thread runs a chunk cannot change any result.
// The pool is host-neutral: a ThreadHost starts the workers (src/node/ gives
// one on worker_threads; webThreadHost uses Web Workers from a Blob URL).

export const MAX_ARGS = 16;
/** Most chunks per call: they fit 12 bits of the claim word. */
export const MAX_CHUNKS = 4095;
// How long an idle worker spins before it sleeps (ms): longer than the gaps
// between the GEMMs of a training step, short enough not to hold a core for
// long. Waking a sleeping worker costs ~15 µs on a 2-vCPU VM; measured on the
// MLP step (784-[100×6]-10, batch 100), 2 threads vs 1: 0.93x when workers
// sleep at once, 1.35–1.5x with 0.2 or 2 ms of spinning.
const WORKER_SPIN_MS = 2;
// Polls of the done counter (a few µs) before the calling thread sleeps on it,
// where it may; the parts are equal, so the wait is usually short.
const SPIN_BEFORE_WAIT = 1000;

const CLAIM = 0, DONE = 1, STOP = 2, FAILED = 3, WORKER_CHUNKS = 4, FN = 5;
const ARGS_BYTE = 64;

/** What a worker is handed when it starts. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Byte offset of the control block (ThreadPool.controlBytes(slots) bytes, 8-aligned). */
  control: number;
  /** Most chunks per call. */
  slots: number;
  /** Export names; the control block's FN indexes them. */
  names: string[];
}

export interface WorkerHandle {
  /** Resolves once the worker has instantiated the module and entered its loop. */
  readonly ready: Promise<void>;
  terminate(): void;
}

export interface SpawnOptions {
  /**
   * Started in the background, not awaited by the program: the worker must
   * not keep a Node process alive while it starts (it never does once ready).
   */
  background?: boolean;
}

/** How a host starts workers. src/node/runtime.ts supplies one for Node. */
export interface ThreadHost {
  /** Logical cores, for `threads: 'auto'`. */
  cores(): number;
  /**
   * Starts a worker that evaluates `body` (script text, valid as a classic
   * script or a module, defining `simdnnWorker(init, post)`) and then calls
   * `simdnnWorker(init, post)`, where `post(message)` messages the starting thread.
   */
  spawn(body: string, init: WorkerInit, options?: SpawnOptions): WorkerHandle;
}

// The worker's side of the protocol, as source text so it runs from a string
// (no worker file to locate across Node, browsers and bundlers).
// While idle a worker spins briefly on the claim word before it sleeps in
// Atomics.wait, so back-to-back calls (a training step) do not pay a wake-up.
export const WORKER_BODY = `
function simdnnWorker(init, post) {
  const CLAIM = ${CLAIM}, DONE = ${DONE}, STOP = ${STOP}, FAILED = ${FAILED}, WORKER_CHUNKS = ${WORKER_CHUNKS}, FN = ${FN};
  const MAX_ARGS = ${MAX_ARGS}, SPIN_MS = ${WORKER_SPIN_MS};
  // views on a shared buffer stay valid when the memory grows
  const ctl = new Int32Array(init.memory.buffer, init.control, ${ARGS_BYTE / 4});
  const slots = new Float64Array(init.memory.buffer, init.control + ${ARGS_BYTE}, init.slots * MAX_ARGS);
  const args = new Array(MAX_ARGS).fill(0);
  WebAssembly.instantiate(init.module, { env: { memory: init.memory } }).then((instance) => {
    const fns = init.names.map((n) => instance.exports[n]);
    post('ready');
    let idleSince = -1;
    for (;;) {
      const word = Atomics.load(ctl, CLAIM);
      if (Atomics.load(ctl, STOP) !== 0) return;
      const next = word & 0xfff, chunks = (word >>> 12) & 0xfff;
      if (next < chunks) {
        if (Atomics.compareExchange(ctl, CLAIM, word, word + 1) !== word) continue;
        for (let i = 0; i < MAX_ARGS; i++) args[i] = slots[next * MAX_ARGS + i];
        try { fns[ctl[FN]].apply(null, args); } catch (e) { Atomics.add(ctl, FAILED, 1); }
        Atomics.add(ctl, WORKER_CHUNKS, 1);
        if (Atomics.add(ctl, DONE, 1) + 1 === chunks) Atomics.notify(ctl, DONE);
        idleSince = -1;
        continue;
      }
      const now = performance.now();
      if (idleSince < 0) idleSince = now;
      else if (now - idleSince > SPIN_MS) { Atomics.wait(ctl, CLAIM, word); idleSince = -1; }
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
      const ready = new Promise<void>((resolve, reject) => {
        worker.onmessage = (e: MessageEvent) => {
          if (e.data === 'ready') resolve();
          else reject(new Error(String(e.data?.error ?? e.data)));
        };
        worker.onerror = (e: ErrorEvent) => { e.preventDefault(); reject(new Error(e.message || 'worker failed to start')); };
      }).finally(() => URL.revokeObjectURL(url));
      worker.postMessage(init);
      return { ready, terminate: () => worker.terminate() };
    },
  };
}

export interface ThreadStats {
  /** Calls split across threads. */
  jobs: number;
  /** Chunks those calls were split into. */
  chunks: number;
  /** Chunks that worker threads (not the calling thread) ran. */
  workerChunks: number;
}

export class ThreadPool {
  /** Argument slots: chunk c's arguments start at c * MAX_ARGS. */
  readonly args: Float64Array;
  private readonly ctl: Int32Array;
  private readonly fns: Function[];
  private readonly canBlock = canBlock();
  private readonly callArgs = new Array<number>(MAX_ARGS).fill(0);
  private gen = 0;
  private jobs = 0;
  private chunks = 0;

  private constructor(
    init: WorkerInit,
    exports: Record<string, unknown>,
    private readonly workers: WorkerHandle[],
  ) {
    this.size = workers.length + 1;
    this.control = init.control;
    this.names = init.names;
    // views on a shared buffer stay valid when the memory grows
    this.ctl = new Int32Array(init.memory.buffer, init.control, ARGS_BYTE / 4);
    this.args = new Float64Array(init.memory.buffer, init.control + ARGS_BYTE, init.slots * MAX_ARGS);
    this.fns = init.names.map((n) => exports[n] as Function);
  }

  /** Threads that work on a call: the workers and the calling thread. */
  readonly size: number;
  /** Byte offset of the control block. */
  readonly control: number;
  private readonly names: readonly string[];

  /** Bytes of the control block for `slots` chunks per call (allocated by the caller in the shared memory). */
  static controlBytes(slots: number): number {
    return ARGS_BYTE + slots * MAX_ARGS * 8;
  }

  /**
   * Starts threads - 1 workers (the calling thread is the last); resolves when
   * all are ready, rejects (terminating them) if one fails.
   */
  static async start(host: ThreadHost, threads: number, init: WorkerInit, exports: Record<string, unknown>, background = false): Promise<ThreadPool> {
    new Int32Array(init.memory.buffer, init.control, ARGS_BYTE / 4).fill(0);
    const handles: WorkerHandle[] = [];
    try {
      for (let i = 1; i < threads; i++) handles.push(host.spawn(WORKER_BODY, init, { background }));
      await Promise.all(handles.map((h) => h.ready));
    } catch (e) {
      for (const h of handles) h.terminate();
      throw e;
    }
    return new ThreadPool(init, exports, handles);
  }

  /** The index run() takes for export `name`. */
  fn(name: string): number {
    const i = this.names.indexOf(name);
    if (i < 0) throw new Error(`thread pool: the module has no export '${name}'`);
    return i;
  }

  /**
   * Runs export `fn` once per chunk (chunks <= slots), with the arguments
   * the caller wrote to `args`, on the workers and the calling thread; returns
   * when every chunk is done.
   */
  run(fn: number, chunks: number, what: string): void {
    const ctl = this.ctl;
    this.gen = (this.gen + 1) & 0xff;
    Atomics.store(ctl, FN, fn);
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, CLAIM, (this.gen << 24) | (chunks << 12));
    Atomics.notify(ctl, CLAIM);
    let error: unknown = null;
    for (;;) {
      const word = Atomics.load(ctl, CLAIM);
      const next = word & 0xfff;
      if (next >= chunks) break;
      if (Atomics.compareExchange(ctl, CLAIM, word, word + 1) !== word) continue;
      const base = next * MAX_ARGS;
      for (let i = 0; i < MAX_ARGS; i++) this.callArgs[i] = this.args[base + i];
      try { this.fns[fn].apply(null, this.callArgs); } catch (e) { error ??= e; }
      Atomics.add(ctl, DONE, 1);
    }
    this.wait(chunks);
    this.jobs++;
    this.chunks += chunks;
    const failed = Atomics.exchange(ctl, FAILED, 0);
    if (error) throw error;
    if (failed) throw new Error(`${what}: ${failed} of ${chunks} parts failed in worker threads`);
  }

  // Every chunk is claimed; wait for those that workers are still running.
  private wait(chunks: number): void {
    const ctl = this.ctl;
    for (let spins = 0; ; spins++) {
      const done = Atomics.load(ctl, DONE);
      if (done === chunks) return;
      // A browser's main thread cannot block, so it spins; the wait is bounded
      // by one chunk's compute, since a chunk is only claimed by a running thread.
      if (this.canBlock && spins > SPIN_BEFORE_WAIT) Atomics.wait(ctl, DONE, done);
    }
  }

  stats(): ThreadStats {
    return { jobs: this.jobs, chunks: this.chunks, workerChunks: Atomics.load(this.ctl, WORKER_CHUNKS) };
  }

  /** Stops and terminates the workers. */
  dispose(): void {
    Atomics.store(this.ctl, STOP, 1);
    Atomics.notify(this.ctl, CLAIM);
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
  }
}
