// Node's createRuntime: the same runtime, with the packaged wasm read from disk
// (Node 20's fetch cannot read file: URLs) and threads on worker_threads.
// Compiled modules are cached per process.
import { fs, os, workerThreads } from './builtins.js';
import { hasRelaxedSimd, hasSharedMemory } from '../runtime/features.js';
import { createRuntime as createCore, defaultWasmUrls, type Runtime, type RuntimeOptions, type ThreadHost } from '../runtime/runtime.js';

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

/** Workers evaluated from source (no worker file to locate), unref'd once ready so an idle pool never keeps the process alive. */
export const nodeThreadHost: ThreadHost = {
  cores: () => os().availableParallelism(),
  spawn(body, init, options = {}) {
    // import() rather than require: eval'd code is ESM when the process runs with --input-type=module
    const script = `${body}\nimport('node:worker_threads').then(({ workerData, parentPort }) => simdnnWorker(workerData, (m) => parentPort.postMessage(m)));\n`;
    // worker_threads is loaded when the first worker starts (~2 ms of a cold start otherwise)
    const worker = new (workerThreads().Worker)(script, { eval: true, workerData: init });
    if (options.background) worker.unref();
    const ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: unknown) => {
        if (m === 'ready') { worker.unref(); resolve(); }
        else reject(new Error(String((m as { error?: unknown })?.error ?? m)));
      });
      worker.on('error', reject);
      worker.on('exit', (code) => reject(new Error(`worker exited with code ${code} before it was ready`)));
    });
    return { ready, terminate: () => { void worker.terminate(); } };
  },
};

export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const relaxed = options.relaxed === true && hasRelaxedSimd();
  // Which packaged builds createCore will use, so only those are read and
  // compiled (each costs a few ms of a cold start): the shared-memory build
  // when threads will run (Node always has shared memory and workers), else
  // the plain or relaxed one. The rules are createCore's (resolveThreads).
  const ownBuild = relaxed
    ? options.relaxedWasm !== undefined && options.relaxedSharedWasm === undefined
    : options.wasm !== undefined && options.sharedWasm === undefined;
  const auto = options.threads === undefined || options.threads === 'auto';
  const threaded = options.threads !== 1 && options.maxThreads !== 1 && hasSharedMemory()
    && !(options.threads === undefined && ownBuild)
    && (auto ? os().availableParallelism() > 1 : true);
  const build = (url: URL, used: boolean) => (used ? packaged(url) : undefined);
  return createCore({
    ...options,
    wasm: options.wasm ?? (await build(defaultWasmUrls.plain, !threaded && !relaxed)),
    relaxedWasm: options.relaxedWasm ?? (await build(defaultWasmUrls.relaxed, !threaded && relaxed)),
    sharedWasm: options.sharedWasm ?? (await build(defaultWasmUrls.shared, threaded && !relaxed)),
    relaxedSharedWasm: options.relaxedSharedWasm ?? (await build(defaultWasmUrls.relaxedShared, threaded && relaxed)),
    threadHost: options.threadHost ?? nodeThreadHost,
  });
}
