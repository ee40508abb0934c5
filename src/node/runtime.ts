// Node's createRuntime: the same runtime, with the packaged wasm read from disk
// (Node 20's fetch cannot read file: URLs) and threads on worker_threads.
// Compiled modules are cached per process.
import { fs, os, workerThreads } from './builtins.js';
import { createRuntimeWith, type Runtime, type RuntimeOptions, type ThreadHost } from '../runtime/runtime.js';

const compiled = new Map<string, Promise<WebAssembly.Module>>();

function packaged(url: URL): Promise<WebAssembly.Module> {
  let m = compiled.get(url.href);
  if (!m) {
    // A ~55 KB build is read and compiled synchronously: shorter than a file
    // handle (fs/promises) and two hops to V8's compile threads and back.
    m = new Promise((resolve) => resolve(new WebAssembly.Module(fs().readFileSync(url))));
    compiled.set(url.href, m);
  }
  return m;
}

/**
 * Workers evaluated from source (no worker file to locate), unref'd once ready
 * so an idle pool never keeps the process alive. A worker that exits by itself
 * (process.exit, an uncaught error) records it in the shared memory from its
 * own exit handler, so a call waiting on it fails instead of hanging.
 */
export const nodeThreadHost: ThreadHost = {
  cores: () => os().availableParallelism(),
  spawn(body, init, options = {}) {
    // import() rather than require: eval'd code is ESM when the process runs with --input-type=module
    const script = `${body}\nimport('node:worker_threads').then(({ workerData, parentPort }) => {
  process.on('exit', (code) => simdnnWorkerGone(workerData, 'the worker exited with code ' + code));
  simdnnWorker(workerData, (m) => parentPort.postMessage(m));
});\n`;
    // worker_threads is loaded when the first worker starts (~2 ms of a cold start otherwise)
    const worker = new (workerThreads().Worker)(script, { eval: true, workerData: init });
    if (options.background) worker.unref();
    let error = '', stopping = false;
    const exited = new Promise<string>((resolve) => {
      worker.on('error', (e: Error) => { error ||= `${e.name}: ${e.message}`; });
      worker.on('exit', (code: number) => resolve(error || `the worker exited with code ${code}`));
    });
    const ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: unknown) => {
        // a 'ready' read after terminate() (the event loop ran late) must not unref a worker that is stopping
        if (m === 'ready') { if (!stopping) worker.unref(); resolve(); }
        else if (m !== 'stopped') reject(new Error(String((m as { error?: unknown })?.error ?? m)));
      });
      void exited.then((cause) => reject(new Error(`${cause} before it was ready`)));
    });
    // referenced again while it stops, so a program awaiting dispose() is not ended before the exit
    return { ready, exited, terminate: () => { stopping = true; worker.ref(); void worker.terminate(); } };
  },
};

/** Threads a runtime on this host uses at most unless `maxThreads` allows more: the logical cores (what a CLI should accept for `--threads`). */
export function usableThreads(): number {
  return nodeThreadHost.cores();
}

/** Set by the CommonJS entry (src/node/code-cache.cts) while its code cache waits for the code a program runs first: called when a runtime is made. */
const CODE_CACHE_READY = Symbol.for('simdnn.codeCacheReady');

/** The portable createRuntime, with the packaged builds read from disk and workers on worker_threads. */
export function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  // a non-object is createRuntimeWith's to refuse, by name
  const given = options !== null && typeof options === 'object' ? { ...options, threadHost: options.threadHost ?? nodeThreadHost } : options;
  const made = createRuntimeWith(given, packaged);
  const codeCacheReady = (globalThis as Record<symbol, unknown>)[CODE_CACHE_READY];
  if (typeof codeCacheReady === 'function') made.then(() => codeCacheReady(), () => undefined);
  return made;
}
