// The browser's parallel executor: trials on module Web Workers, one trial per
// worker, each worker with its own runtime on one thread (the plain SIMD
// build), so the results are the same bits as inlineExecutor's.
// Each worker starts from a Blob URL whose one line imports this very module
// by its own URL (import.meta.url) and calls startWebTrialWorker: no worker
// file has to be found next to a bundle, and the worker runs the library code
// the page runs. The page compiles the wasm once and posts the Module and the
// rows to every worker (both are structured-cloneable).
// compileSource is a stateless helper, not public API: the search bundle keeps its own copy
import { compileSource } from '../runtime/source.js';
import { createRuntime, defaultWasmUrls, describeValue, type IntTensor, type Runtime, type Tensor, type WasmSource } from '../index.js';
import { splitSearchData } from './data.js';
import { DataCache } from './inline.js';
import type { Executor } from './search.js';
import { slotPoolExecutor, TrialSlotBase, type TrialReply } from './slot-pool.js';
import { runTrial, type TrialJob } from './trial.js';

/**
 * The rows every trial draws its data from (copied to each worker). Each
 * job's DataSpec picks from them as every host does (splitSearchData: `rows`,
 * `validation`, `splitSeed`). `t` as an Int32Array is class labels; as a
 * Float32Array, one-hot targets.
 */
export interface SearchRows {
  x: Float32Array;
  /** Shape of x: rows first. */
  xShape: readonly number[];
  t: Int32Array | Float32Array;
  /** Shape of t: rows first ([rows] for labels). */
  tShape: readonly number[];
}

/** Options of webWorkerExecutor: the rows (required), the worker count, the wasm build, the results' worker label. */
export interface WebWorkerExecutorOptions {
  /** The rows trials train and validate on. */
  data: SearchRows;
  /** Web Workers (trials at once). Default: navigator.hardwareConcurrency (1 where it is unknown). */
  workers?: number;
  /** The plain SIMD build (bytes, a Module, a Response or URL). Default: the packaged build/simdnn.wasm, fetched. */
  wasm?: WasmSource;
  /** Prefix of each result's `worker` (the worker number is appended). Default 'web-worker'. */
  label?: string;
  /**
   * Makes each worker, for an app a bundler builds (Vite, webpack): the default starts a Blob script that
   * imports this module by its URL, which a bundle no longer has. Give a module worker of your own file that
   * calls `startWebTrialWorker(self)`, in the form bundlers follow:
   * `() => new Worker(new URL('./trial-worker.js', import.meta.url), { type: 'module' })`.
   */
  worker?: () => Worker;
}

interface Init { module: WebAssembly.Module; data: SearchRows; label: string }
type Reply = 'ready' | ({ id: number } & TrialReply);

/**
 * The worker's side (called by the worker's Blob script; not for pages): waits
 * for its Init, makes a one-thread runtime with the posted Module and the rows
 * on it, says 'ready', then runs each { id, job } it is sent, one at a time,
 * posts { id, epoch } for each epoch trained and answers { id, result } (a
 * failed trial is a result) or { id, error } when the job could not run at all
 * (a malformed job or DataSpec).
 */
export function startWebTrialWorker(scope: { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void }): void {
  let queue: Promise<void> = Promise.resolve();
  let setup: Promise<{ rt: Runtime; cache: DataCache; label: string }> | null = null;
  scope.onmessage = (e: MessageEvent) => {
    if (!setup) {
      setup = prepare(e.data as Init);
      setup.then(() => scope.postMessage('ready'), (err: unknown) => scope.postMessage({ id: -1, error: message(err) }));
      return;
    }
    const { id, job } = e.data as { id: number; job: TrialJob };
    queue = queue.then(async () => {
      try {
        const { rt, cache, label } = await setup!;
        const result = await runTrial(rt, job, await cache.get(job.data), label, undefined, (epoch) => scope.postMessage({ id, epoch }));
        scope.postMessage({ id, result });
      } catch (err) {
        scope.postMessage({ id, error: message(err) });
      }
    });
  };
}

async function prepare(init: Init): Promise<{ rt: Runtime; cache: DataCache; label: string }> {
  const rt = await createRuntime({ wasm: init.module, threads: 1 });
  const { x, xShape, t, tShape } = init.data;
  const xs: Tensor = rt.tensor([...xShape], x);
  const ts: Tensor | IntTensor = t instanceof Int32Array ? rt.labels([...tShape], t) : rt.tensor([...tShape], t);
  // the rows stay for the worker's life; the worker is terminated, never reused
  return { rt, cache: new DataCache(rt, (_, spec) => splitSearchData(xs, ts, spec)), label: init.label };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function checkRows(data: SearchRows): void {
  if (typeof data !== 'object' || data === null) throw new TypeError('webWorkerExecutor: data must be { x, xShape, t, tShape }');
  const rows = (name: string, a: unknown, shape: unknown, kinds: string): number => {
    if (!(a instanceof Float32Array || (kinds.includes('Int32Array') && a instanceof Int32Array))) throw new TypeError(`webWorkerExecutor: data.${name} must be a ${kinds}`);
    if (!Array.isArray(shape) || shape.length < 1 || !shape.every((d) => Number.isInteger(d) && d >= 1)) throw new RangeError(`webWorkerExecutor: data.${name}Shape must be positive integer sizes, got ${JSON.stringify(shape)}`);
    const size = (shape as number[]).reduce((p, d) => p * d, 1);
    if (size !== a.length) throw new RangeError(`webWorkerExecutor: data.${name} has ${a.length} values, data.${name}Shape ${JSON.stringify(shape)} needs ${size}`);
    return (shape as number[])[0];
  };
  const n = rows('x', data.x, data.xShape, 'Float32Array');
  const m = rows('t', data.t, data.tShape, 'Int32Array (labels) or Float32Array (one-hot)');
  if (n !== m) throw new RangeError(`webWorkerExecutor: data.x has ${n} rows, data.t ${m}`);
}


/** What a worker's createRuntime says when the browser holds as many wasm memories as it allows. */
const OUT_OF_WASM_MEMORIES = /WebAssembly\.Memory\(\): could not allocate memory/;
const MEMORIES_HINT = ' (the browser holds a limited number of wasm memories in a page and its workers, ~124 in Chromium: each runtime and each worker of this executor is one; dispose of runtimes you no longer need, or use fewer workers)';

/**
 * Waits before each further start of a worker whose runtime found no room: a worker terminated just before
 * (a closed executor's) gives its memory back only once its thread has ended, and the page's allocation
 * below collects nothing where it finds that room first, so one try can miss what the next finds.
 */
const RESTART_DELAYS_MS = [50, 250, 1000];

/**
 * Makes the page collect its dropped runtimes' memories: an allocation that finds no room collects this
 * thread's heap before it gives up (it is dropped at once; where it fails, there was nothing to collect).
 */
function collectPageWasmMemories(): void {
  try {
    new WebAssembly.Memory({ initial: 1 });
  } catch {
    // the page's memories are all alive: the worker's second start says so
  }
}

/** One worker, started on first use from a Blob URL that imports this module. */
class Slot extends TrialSlotBase<Worker> {
  private worker: Worker | null = null;
  private ready: Promise<Worker> | null = null;
  private stopped = false;

  constructor(label: string, private readonly init: () => Promise<Init>, free: () => void, private readonly make?: () => Worker) {
    super(label, free);
  }

  protected start(): Promise<Worker> {
    if (this.ready) return this.ready;
    const ready: Promise<Worker> = this.init().then((init) => new Promise<Worker>((resolve, reject) => {
      // Chromium holds ~124 wasm memories at once in a page and its workers together, and a worker whose
      // runtime finds no room collects only its own heap: the page's dropped runtimes still hold theirs. An
      // allocation in the page at that limit collects the page's garbage; then the worker starts again, up
      // to RESTART_DELAYS_MS.length more times.
      const launch = (restarts: number): void => {
        if (this.stopped) { reject(new Error('webWorkerExecutor: closed')); return; }
        if (this.ready !== ready) return; // killed while it waited to start again: the next job starts its own
        let url = '';
        let worker: Worker;
        if (this.make) {
          worker = this.make();
          if (!(worker instanceof Worker)) { reject(new TypeError(`webWorkerExecutor: options.worker must return a Worker, got ${describeValue(worker)}`)); return; }
        } else {
          const script = `import { startWebTrialWorker } from ${JSON.stringify(import.meta.url)};\nstartWebTrialWorker(self);\n`;
          url = URL.createObjectURL(new Blob([script], { type: 'text/javascript' }));
          worker = new Worker(url, { type: 'module', name: this.label });
        }
        const revoke = () => { if (url) URL.revokeObjectURL(url); };
        this.worker = worker;
        const lost = (why: string) => {
          if (this.worker !== worker) return;
          worker.terminate();
          this.worker = null;
          this.ready = null;
          reject(new Error(why));
          this.lose(why);
        };
        worker.onmessage = (e: MessageEvent<Reply>) => {
          const m = e.data;
          if (m === 'ready') { revoke(); resolve(worker); return; }
          if (m.id === -1) {
            revoke();
            const error = String(m.error);
            const full = OUT_OF_WASM_MEMORIES.test(error);
            if (full && restarts < RESTART_DELAYS_MS.length && this.worker === worker) {
              worker.terminate();
              this.worker = null;
              setTimeout(() => { collectPageWasmMemories(); launch(restarts + 1); }, RESTART_DELAYS_MS[restarts]);
              return;
            }
            lost(`worker ${this.label} failed to start${full ? ` (${restarts + 1} tries)` : ''}: ${error}${full ? MEMORIES_HINT : ''}`);
            return;
          }
          // a reply already on its way from a worker terminated since (its job aborted) is no answer to the next job
          if (this.worker === worker) this.settle(m);
        };
        // in a bundled app the default script's import finds no such module: options.worker is the way there
        const hint = this.make ? '' : ' (in an app a bundler built, give webWorkerExecutor options.worker)';
        worker.onerror = (e: ErrorEvent) => { e.preventDefault(); revoke(); lost(`worker ${this.label} failed: ${e.message || 'could not load its module'}${hint}`); };
        worker.postMessage(init);
      };
      launch(0);
    }));
    this.ready = ready;
    return ready;
  }

  protected kill(): void {
    const w = this.worker;
    this.worker = null;
    this.ready = null;
    w?.terminate();
  }

  stop(): void {
    this.stopped = true;
    const w = this.worker;
    this.worker = null;
    this.ready = null;
    this.cancel('webWorkerExecutor');
    w?.terminate();
  }
}

/**
 * An executor for browsers (and any host with module Web Workers and Blob
 * URLs): `workers` Web Workers, started on first use, each running one trial
 * at a time on its own one-thread runtime with `data` copied in. Results have
 * the same bits as inlineExecutor's for the same jobs; a trial that fails to
 * train resolves with status 'failed'. A worker that dies or cannot start
 * rejects its job (and is restarted for the next); one whose runtime finds the
 * browser's wasm memories all taken starts again, up to 3 more times over about
 * 1.3 s, each time after the page collects its dropped runtimes'. The caller
 * owns the executor: close() terminates every worker (a search aborted by its signal still needs close()), and
 * rejects the jobs not yet done.
 * @throws Error where the host has no Worker or Blob URLs; TypeError/RangeError naming a bad option.
 */
export function webWorkerExecutor(options: WebWorkerExecutorOptions): Executor {
  if (typeof Worker !== 'function' || typeof Blob !== 'function' || typeof URL.createObjectURL !== 'function') {
    throw new Error('webWorkerExecutor: this host has no Web Workers with Blob URLs (in Node use localExecutor from simdnn/search)');
  }
  if (typeof options !== 'object' || options === null) throw new TypeError('webWorkerExecutor: expected an options object');
  for (const key of Object.keys(options)) {
    if (!['data', 'workers', 'wasm', 'label', 'worker'].includes(key)) throw new TypeError(`webWorkerExecutor: unknown option '${key}' (expected data, workers, wasm, label, worker)`);
  }
  const given = options.data;
  const make = options.worker;
  if (make !== undefined && typeof make !== 'function') throw new TypeError(`webWorkerExecutor: options.worker must be a function that returns a Worker, got ${describeValue(make)}`);
  checkRows(given);
  const workers = options.workers ?? ((typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || 1);
  if (!(Number.isInteger(workers) && workers >= 1)) throw new RangeError(`webWorkerExecutor: workers must be a positive integer, got ${workers}`);
  // rows given as a tensor's data (a view on a part of the wasm memory) are copied now: the memory growing
  // before a worker starts would empty them, and posting a view clones its whole buffer, the memory
  const own = <T extends Float32Array | Int32Array>(a: T): T => (a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength ? a.slice() as T : a);
  const data: SearchRows = { ...given, x: own(given.x), t: own(given.t) };
  let init: Promise<Init> | null = null;
  const getInit = (): Promise<Init> => {
    init ??= compileSource(options.wasm ?? defaultWasmUrls.plain, 'webWorkerExecutor: wasm').then((module) => ({ module, data, label: '' }));
    init.catch(() => { init = null; });
    return init;
  };
  return slotPoolExecutor<Slot>('webWorkerExecutor', workers, (i, dispatch) => {
    const label = `${options.label ?? 'web-worker'}-${i}`;
    const slot: Slot = new Slot(label, () => getInit().then((base) => ({ ...base, label })), () => dispatch(slot), make);
    return slot;
  }, async (slots) => { for (const s of slots) s.stop(); });
}
