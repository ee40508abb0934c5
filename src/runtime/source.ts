// Turns whatever the host can give into a compiled WebAssembly.Module.
// Edge runtimes (workerd) forbid compiling from bytes, so a Module is used as
// is; it is detected by its tag, since `instanceof` fails across realms.

/** What `createRuntime` accepts as the wasm: bytes, a compiled Module, a fetch Response, or a URL. */
export type WasmSource = BufferSource | WebAssembly.Module | Response | PromiseLike<Response> | URL | string;

export function isModule(x: unknown): x is WebAssembly.Module {
  return Object.prototype.toString.call(x) === '[object WebAssembly.Module]';
}

function isResponse(x: unknown): x is Response {
  return Object.prototype.toString.call(x) === '[object Response]';
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as PromiseLike<unknown>).then === 'function';
}

export async function compileSource(source: WasmSource, what: string): Promise<WebAssembly.Module> {
  if (isModule(source)) return source;
  if (ArrayBuffer.isView(source) || Object.prototype.toString.call(source) === '[object ArrayBuffer]') {
    return WebAssembly.compile(source as BufferSource);
  }
  if (isThenable(source)) return compileSource(await source, what);
  if (isResponse(source)) return compileResponse(source, what);
  if (typeof source === 'string' || Object.prototype.toString.call(source) === '[object URL]') {
    if (typeof fetch !== 'function') throw new TypeError(`${what}: cannot fetch ${String(source)} on this host; pass bytes or a WebAssembly.Module`);
    return compileResponse(await fetch(source as string | URL), what);
  }
  throw new TypeError(`${what}: expected bytes, a WebAssembly.Module, a Response or a URL, got ${Object.prototype.toString.call(source)}`);
}

async function compileResponse(response: Response, what: string): Promise<WebAssembly.Module> {
  if (!response.ok) throw new Error(`${what}: fetching ${response.url} failed with HTTP ${response.status}`);
  // compileStreaming needs the application/wasm MIME type; fall back to bytes.
  if (typeof WebAssembly.compileStreaming === 'function' && response.headers.get('content-type')?.startsWith('application/wasm')) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}
