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
    return compiled(WebAssembly.compile(source as BufferSource), what);
  }
  if (isThenable(source)) return compileSource(await source, what);
  if (isResponse(source)) return compileResponse(source, what);
  if (typeof source === 'string' || Object.prototype.toString.call(source) === '[object URL]') {
    if (typeof fetch !== 'function') throw new TypeError(`${what}: cannot fetch ${String(source)} on this host; pass bytes or a WebAssembly.Module`);
    let response: Response;
    try {
      response = await fetch(source as string | URL);
    } catch (e) {
      throw new Error(`${what}: fetching ${String(source)} failed (${messageOf(e)})${fileUrlHint(source, e)}`, { cause: e });
    }
    return compileResponse(response, what);
  }
  throw new TypeError(`${what}: expected bytes, a WebAssembly.Module, a Response or a URL, got ${Object.prototype.toString.call(source)}`);
}

async function compileResponse(response: Response, what: string): Promise<WebAssembly.Module> {
  if (!response.ok) throw new Error(`${what}: ${response.url ? `fetching ${response.url}` : 'the response'} failed with HTTP ${response.status}`);
  // compileStreaming needs the application/wasm MIME type; fall back to bytes.
  if (typeof WebAssembly.compileStreaming === 'function' && response.headers.get('content-type')?.startsWith('application/wasm')) {
    return compiled(WebAssembly.compileStreaming(response), what);
  }
  let bytes: ArrayBuffer;
  try {
    bytes = await response.arrayBuffer();
  } catch (e) {
    // Bun's fetch of a missing file: URL fails here, when the body is read
    throw new Error(`${what}: reading ${response.url || 'the response'} failed (${messageOf(e)})`, { cause: e });
  }
  return compiled(WebAssembly.compile(bytes), what);
}

/** The compiled module, or an error naming the option whose bytes are not a module. */
async function compiled(compiling: Promise<WebAssembly.Module>, what: string): Promise<WebAssembly.Module> {
  try {
    return await compiling;
  } catch (e) {
    // compileStreaming also fails when the body cannot be read (Bun's fetch of a missing file: URL)
    if (!(e instanceof WebAssembly.CompileError)) throw new Error(`${what}: reading the module failed (${messageOf(e)})`, { cause: e });
    throw new Error(`${what}: not a WebAssembly module this host can compile (${messageOf(e)})`, { cause: e });
  }
}

/** Node's fetch reads no file: URLs (undici: "not implemented"): say what works instead. Deno's and Bun's do. */
function fileUrlHint(source: string | URL, e: unknown): string {
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : '';
  if (!String(source).startsWith('file:') || !/not implemented/i.test(`${messageOf(e)} ${cause}`)) return '';
  return "; this host's fetch cannot read file: URLs: pass the bytes, or in Node import 'simdnn' by its package name (its node entry reads the builds from disk)";
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
