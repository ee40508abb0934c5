// Model files that arrive over time: loadModelAsync and inspectModelAsync read
// a fetch Response, a ReadableStream, a Blob (a File from an <input>), any
// async iterable of chunks (a Node stream) or loadModel's sources, chunk by
// chunk as they arrive, with loadModel's own reading code (chunk-reader.ts).
// The net is built once the header is in and filled as its tensors arrive:
// the file is never held whole (a page or an edge isolate with a memory limit
// needs the model's size once, not twice), a large chunk is read in slices
// with a yield to the event loop whenever ~8 ms have run, an AbortSignal stops
// the read at once (the stream is cancelled) and an onProgress callback sees
// the bytes read. Every error frees what was built, as loadModel's do.
import { checkOptions, isAbortSignal } from '../runtime/options.js';
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { Yielder } from '../runtime/yield.js';
import { END_OF_INPUT, type Reading } from './chunk-reader.js';
import { checkByteLength, inspecting, loading, type LoadedModel, type LoadModelOptions, type ModelInfo } from './model.js';
import type { NetSpec } from '../nets/registry.js';

/** What loadModelAsync and inspectModelAsync read: a fetch Response (or its promise), a stream, a Blob, chunks or bytes. */
export type ModelSource =
  | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> | Blob | Response | PromiseLike<Response>;

/** Options of inspectModelAsync. */
export interface InspectModelAsyncOptions {
  /** The file's length in bytes, for a source that does not give it (bytes and a Blob have theirs; a Response's Content-Length is used unless this is given). */
  byteLength?: number;
  /** Checked before every chunk and while one is awaited: once aborted, the promise rejects with `signal.reason` and the source is cancelled. */
  signal?: AbortSignal;
}

/** Options of loadModelAsync. */
export interface LoadModelAsyncOptions extends LoadModelOptions, InspectModelAsyncOptions {
  /** Called as each piece arrives (at most 1 MiB) with the bytes received so far and the file's length (undefined where unknown); a throw rejects the load. */
  onProgress?: (bytesRead: number, totalBytes: number | undefined) => void;
}

const INSPECT_ASYNC_KEYS = new Set(['byteLength', 'signal']);
const LOAD_ASYNC_KEYS = new Set(['byteLength', 'spec', 'signal', 'onProgress']);
/** The most bytes handed to the reading code at once: a larger chunk is read in slices, so the loop can yield between them. */
const SLICE_BYTES = 1 << 20;

/**
 * loadModel for a file that arrives over time: reads `source` as it arrives
 * and resolves to what loadModel returns for the same bytes, bit for bit (the
 * caller owns the net and optimizer). A Response must be ok and unread; its
 * Content-Length (same-origin, not content-encoded) or a Blob's size lets
 * every size be checked before the net is built. Rejects with loadModel's
 * errors, with `signal.reason` once the signal aborts (the source is then
 * cancelled), or with an Error naming the source when reading it fails; each
 * frees what was built.
 */
export async function loadModelAsync(rt: Runtime, source: ModelSource, options: LoadModelAsyncOptions = {}): Promise<LoadedModel> {
  const who = 'loadModelAsync';
  checkRuntime(rt, who);
  checkOptions(who, options, LOAD_ASYNC_KEYS);
  const { byteLength, spec, signal, onProgress } = options; // read once
  checkSignal(who, signal);
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError(`${who}: onProgress must be a function, got ${Object.prototype.toString.call(onProgress)}`);
  const specCopy = spec === undefined ? undefined : jsonCopy(who, spec); // the caller's object may change while the file arrives
  const { chunks, fileBytes } = await chunksOfSource(who, source, checkByteLength(who, byteLength), signal);
  return readAsync(who, loading(rt, who, fileBytes, specCopy), chunks, fileBytes, signal, onProgress);
}

/**
 * inspectModel for a file that arrives over time: reads the header only, then
 * cancels the source (a download stops there). Allocates no runtime memory.
 */
export async function inspectModelAsync(source: ModelSource, options: InspectModelAsyncOptions = {}): Promise<ModelInfo> {
  const who = 'inspectModelAsync';
  checkOptions(who, options, INSPECT_ASYNC_KEYS);
  const { byteLength, signal } = options;
  checkSignal(who, signal);
  const { chunks, fileBytes } = await chunksOfSource(who, source, checkByteLength(who, byteLength), signal);
  return readAsync(who, inspecting(who, fileBytes), chunks, fileBytes, signal, undefined);
}

function checkSignal(who: string, signal: unknown): asserts signal is AbortSignal | undefined {
  if (signal !== undefined && !isAbortSignal(signal)) throw new TypeError(`${who}: signal must be an AbortSignal`);
}

function jsonCopy(who: string, spec: NetSpec): NetSpec {
  try {
    return JSON.parse(JSON.stringify(spec)) as NetSpec;
  } catch (e) {
    throw new TypeError(`${who}: spec must be a net's spec, { kind, options } as JSON holds it (${(e as Error).message})`);
  }
}

/** A source's chunks, pulled one at a time. */
interface Chunks {
  /** The next chunk as the source gives it, or END_OF_INPUT. */
  next(): Promise<unknown>;
  /** Stops a source not read to its end (a stream is cancelled, an iterator returned); never throws. */
  stop(reason: unknown): void;
}

const tagOf = (x: unknown) => Object.prototype.toString.call(x);

/** The chunks of `source` and the file's length where known: bytes' and a Blob's own, else `byteLength`, else a Response's Content-Length where it is the file's. */
async function chunksOfSource(who: string, source: ModelSource, byteLength: number | undefined, signal: AbortSignal | undefined): Promise<{ chunks: Chunks; fileBytes: number | undefined }> {
  if (source === null || typeof source !== 'object') throw sourceError(who, source);
  // by tag, not instanceof: bytes from another realm (an iframe, a vm context) are bytes too
  if (tagOf(source) === '[object Uint8Array]') return { chunks: iteratorChunks([source][Symbol.iterator]()), fileBytes: (source as Uint8Array).length };
  if (typeof (source as PromiseLike<Response>).then === 'function') {
    let response: unknown;
    try {
      response = await untilAborted(Promise.resolve(source as PromiseLike<Response>), signal);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw new Error(`${who}: source, a promise of a Response, rejected (${e instanceof Error ? e.message : String(e)})`, { cause: e });
    }
    if (tagOf(response) !== '[object Response]') throw new TypeError(`${who}: source is a promise of ${tagOf(response)}, not of a Response`);
    return chunksOfSource(who, response as Response, byteLength, signal);
  }
  if (tagOf(source) === '[object Response]') {
    const response = source as Response;
    const where = response.url ? `fetching ${response.url}` : 'the response';
    if (!response.ok) {
      if (!response.bodyUsed) response.body?.cancel().catch(() => {}); // an unread body would hold its connection
      throw new Error(`${who}: ${where} failed with HTTP ${response.status}`);
    }
    if (response.bodyUsed) throw new TypeError(`${who}: ${where}: its body was already read`);
    return { chunks: response.body ? streamChunks(who, response.body) : iteratorChunks([][Symbol.iterator]()), fileBytes: byteLength ?? contentLength(response) };
  }
  if (tagOf(source) === '[object Blob]' || tagOf(source) === '[object File]') {
    const blob = source as Blob;
    return { chunks: streamChunks(who, blob.stream()), fileBytes: blob.size };
  }
  if (typeof (source as ReadableStream).getReader === 'function') return { chunks: streamChunks(who, source as ReadableStream), fileBytes: byteLength };
  if (typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    return { chunks: iteratorChunks((source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()), fileBytes: byteLength };
  }
  if (typeof (source as Iterable<Uint8Array>)[Symbol.iterator] === 'function') {
    return { chunks: iteratorChunks((source as Iterable<Uint8Array>)[Symbol.iterator]()), fileBytes: byteLength };
  }
  throw sourceError(who, source);
}

function sourceError(who: string, source: unknown): TypeError {
  return new TypeError(`${who}: source must be a Response, a ReadableStream, a Blob, an (async) iterable of Uint8Array chunks or a Uint8Array, got ${tagOf(source)}`);
}

/**
 * A response's Content-Length where it is the file's length: not when the body
 * is content-encoded (the length is then the encoded body's), nor for a
 * cross-origin response, which may hide its Content-Encoding.
 */
function contentLength(response: Response): number | undefined {
  if (response.type !== 'basic' && response.type !== 'default') return undefined;
  const encoding = response.headers.get('content-encoding');
  const length = response.headers.get('content-length');
  if ((encoding !== null && encoding.trim().toLowerCase() !== 'identity') || length === null || !/^\d+$/.test(length.trim())) return undefined;
  const n = Number(length.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

function streamChunks(who: string, stream: ReadableStream): Chunks {
  let reader: ReadableStreamDefaultReader;
  try {
    reader = stream.getReader();
  } catch (e) {
    throw new TypeError(`${who}: source's stream cannot be read (${(e as Error).message}): is it locked, or already read?`);
  }
  // a reader's read() answers as an iterator's next() does; cancel() stops the stream (a pending read resolves at once)
  return iteratorChunks({ next: () => reader.read(), return: (reason?: unknown) => reader.cancel(reason) as never });
}

function iteratorChunks(it: Iterator<unknown> | AsyncIterator<unknown>): Chunks {
  let done = false;
  return {
    async next() {
      const r = await it.next();
      if (!r.done) return r.value;
      done = true;
      return END_OF_INPUT;
    },
    stop(reason) {
      if (done) return;
      done = true;
      try {
        // not awaited: an async generator's return waits for a pending next, a stream's source may take its time
        Promise.resolve(it.return?.(reason)).catch(() => {});
      } catch {
        // a throwing return() has nothing left to stop
      }
    },
  };
}

/** `promise`, or a rejection with `signal.reason` as soon as the signal aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

/**
 * Runs `reading` to its end on the chunks of `chunks`, awaiting each. An error
 * of the source or an abort is thrown into `reading` at its yield, so it frees
 * what it built; a source not read to its end is stopped.
 */
async function readAsync<T>(
  who: string, reading: Reading<T>, chunks: Chunks, fileBytes: number | undefined,
  signal: AbortSignal | undefined, onProgress: ((bytesRead: number, totalBytes: number | undefined) => void) | undefined,
): Promise<T> {
  const yielder = new Yielder();
  let rest: Uint8Array | null = null; // what is left of a chunk larger than a slice
  let bytesRead = 0;
  let failure: unknown;
  try {
    let step = reading.next();
    while (!step.done) {
      let piece: unknown;
      try {
        signal?.throwIfAborted();
        if (yielder.due()) await yielder.yieldNow();
        if (rest === null) {
          piece = await pull(who, chunks, signal, bytesRead);
        } else {
          signal?.throwIfAborted();
          piece = rest;
          rest = null;
        }
        const bytes = tagOf(piece) === '[object Uint8Array]' ? (piece as Uint8Array) : null; // anything else: the reader refuses it
        if (bytes !== null && bytes.length > SLICE_BYTES) {
          rest = bytes.subarray(SLICE_BYTES);
          piece = bytes.subarray(0, SLICE_BYTES);
        }
        if (bytes !== null && bytes.length > 0) {
          bytesRead += (piece as Uint8Array).length;
          onProgress?.(bytesRead, fileBytes); // before the piece is read, so its throw still reaches the reading code
        }
      } catch (e) {
        step = reading.throw(e); // the reading code frees what it built and throws e on
        continue;
      }
      step = reading.next(piece);
    }
    return step.value;
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    yielder.close();
    chunks.stop(failure);
  }
}

/** The source's next chunk; an error of the source becomes one naming `who` and the byte it stopped at. */
async function pull(who: string, chunks: Chunks, signal: AbortSignal | undefined, bytesRead: number): Promise<unknown> {
  try {
    return await untilAborted(chunks.next(), signal);
  } catch (e) {
    if (signal?.aborted) throw signal.reason; // a fetch given the same signal may fail its body first, with its own error
    throw new Error(`${who}: reading the source failed after ${bytesRead} bytes (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
}
