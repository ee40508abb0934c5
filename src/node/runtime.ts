// Node's createRuntime: the same runtime, with the packaged wasm read from disk
// (Node 20's fetch cannot read file: URLs). Compiled modules are cached per process.
import { readFile } from 'node:fs/promises';
import { hasRelaxedSimd } from '../runtime/features.js';
import { createRuntime as createCore, defaultWasmUrls, type Runtime, type RuntimeOptions } from '../runtime/runtime.js';

const compiled = new Map<string, Promise<WebAssembly.Module>>();

function packaged(url: URL): Promise<WebAssembly.Module> {
  let m = compiled.get(url.href);
  if (!m) {
    m = readFile(url).then((bytes) => WebAssembly.compile(bytes));
    compiled.set(url.href, m);
  }
  return m;
}

export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  return createCore({
    ...options,
    wasm: options.wasm ?? (await packaged(defaultWasmUrls.plain)),
    relaxedWasm: options.relaxedWasm ?? (options.relaxed && hasRelaxedSimd() ? await packaged(defaultWasmUrls.relaxed) : undefined),
  });
}
