// Model files on disk (Node): written through a temporary file beside the
// target and renamed over it, so an interrupted or failed write never leaves a
// truncated file or destroys the previous model, from a copy of the file's
// pieces taken at the call (the net as it was then, whatever trains after);
// read in chunks, so reading never holds the whole file in one buffer, at
// once or (the Async entries) as the chunks come from disk, the event loop
// running between them.
import { inspectModel, loadModel, saveModelChunks, type LoadedModel, type LoadModelOptions, type ModelInfo, type SaveModelOptions } from '../io/model.js';
import { inspectModelAsync, loadModelAsync, type InspectModelAsyncOptions, type LoadModelAsyncOptions } from '../io/model-async.js';
import type { NamedNet } from '../nets/registry.js';
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { checkOptions } from '../runtime/options.js';
import { describeValue } from '../runtime/tensor.js';
import { fs, fsPromises, path } from './builtins.js';

const READ_CHUNK = 1 << 22;

/** A name for a temporary file in the directory of `file` (hidden, unique to this process and call). */
export function temporaryBeside(file: string): string {
  const p = path();
  const suffix = `${process.pid}.${Date.now().toString(36)}.${Math.floor(Math.random() * 2 ** 32).toString(36)}`;
  return p.join(p.dirname(p.resolve(file)), `.${p.basename(file)}.${suffix}.tmp`);
}

/**
 * Writes the model (see saveModelChunks) to `file` atomically: into a
 * temporary file in the same directory, flushed to disk, then renamed over
 * `file`. On any failure the temporary file is removed and `file` is left as
 * it was. Takes a named net (a NamedNet: MultiLayerNet, SimpleConvNet, buildNet's, …;
 * a plain Sequential has no spec to record) and optionally its optimizer and metadata. The
 * file holds the net as it was at the call: its bytes are copied before the
 * first await, so training may go on while they are written. A symbolic link
 * is written through (its target replaced, the link kept), and a file that
 * existed keeps its permissions. Resolves when the file is in place. Throws an
 * Error naming the file and the system's reason (ENOSPC, EACCES, EISDIR, …);
 * a path that exists and is no regular file once links are followed (a
 * directory, FIFO, device or socket) is refused before anything is written,
 * so the rename never replaces such a node with a file. A `file` that is no string, empty or holds a
 * NUL byte is refused with a TypeError naming writeModelFile, before anything is read or written.
 */
export async function writeModelFile(file: string, net: NamedNet, options: SaveModelOptions = {}): Promise<void> {
  checkPath('writeModelFile', file);
  // checks the net and options before touching the disk; a copy, so later steps cannot reach the file
  await writeAtomically(file, [...saveModelChunks(net, options)], 'the model');
}

/**
 * Writes `bytes` to `file` atomically, as writeModelFile writes a model (a temporary file beside it,
 * flushed, renamed over it; on failure `file` is left as it was): for what a Trainer's
 * `checkpoint.write(bytes, epoch)` receives, or any model file's bytes. The bytes are copied at the
 * call. Throws as writeModelFile does; a `bytes` that is no Uint8Array is a TypeError.
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  checkPath('writeFileAtomic', file);
  // by its tag, as decodeFloats checks: a Uint8Array of another realm (a vm context, a worker's) is one too
  if (Object.prototype.toString.call(bytes) !== '[object Uint8Array]') throw new TypeError(`writeFileAtomic: bytes must be a Uint8Array, got ${describeValue(bytes)}`);
  await writeAtomically(file, [Uint8Array.prototype.slice.call(bytes)], 'the bytes');
}

/** The write both entries share; `what` names the content in messages. */
async function writeAtomically(file: string, chunks: readonly Uint8Array[], what: string): Promise<void> {
  const target = await throughLinks(file);
  // a missing file (or one stat cannot see: open or rename then gives the reason) is created
  const existing = await fsPromises().stat(target).catch(() => null);
  if (existing && !existing.isFile()) {
    const viaLink = (await fsPromises().lstat(file).catch(() => null))?.isSymbolicLink() === true;
    const it = viaLink ? `it links to ${target}, which` : 'it';
    throw new Error(`cannot write ${what} to ${file}: ${it} is ${nodeKind(existing)}, not a regular file (nothing was written; give the path of a file)`);
  }
  const temp = temporaryBeside(target);
  let handle: Awaited<ReturnType<typeof import('node:fs/promises').open>> | null = null;
  try {
    const mode = existing ? existing.mode & 0o7777 : undefined;
    handle = await fsPromises().open(temp, 'wx');
    if (mode !== undefined) await handle.chmod(mode);
    for (const chunk of chunks) {
      for (let at = 0; at < chunk.length;) {
        const { bytesWritten } = await handle.write(chunk, at, chunk.length - at);
        at += bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    handle = null;
    await fsPromises().rename(temp, target);
  } catch (e) {
    await handle?.close().catch(() => {});
    await fsPromises().rm(temp, { force: true }).catch(() => {});
    throw new Error(`cannot write ${what} to ${file}: ${(e as Error).message}`);
  }
}

/**
 * Refuses what can be no file's path, naming `who` and `file`: not a string, the empty string, or a
 * string holding a NUL byte (which no file system takes; Node would refuse it with its own words).
 */
function checkPath(who: string, file: unknown): asserts file is string {
  const got = typeof file === 'string' ? JSON.stringify(file) : describeValue(file);
  if (typeof file !== 'string' || file === '') throw new TypeError(`${who}: file must be a non-empty path, got ${got}`);
  if (file.includes('\0')) throw new TypeError(`${who}: file must be a path without NUL bytes (\\0), got ${got}`);
}

/** What a node that is not a regular file is, for a message: 'a FIFO (named pipe)', 'a directory', … */
function nodeKind(st: import('node:fs').Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'a node of an unknown kind';
}

/** The file a path names once symbolic links are followed (the path itself when it is no link, or a dangling one). */
async function throughLinks(file: string): Promise<string> {
  try {
    return await fsPromises().realpath(file);
  } catch {
    return file;
  }
}

/** @internal Refuses a path that names no regular file (a directory, a pipe, a device): an Error naming `who` and the file. */
export function checkRegularFile(who: string, file: string, kind: import('node:fs').Stats): void {
  if (kind.isDirectory()) throw new Error(`${who}: ${file} is a directory, not a model file`);
  if (!kind.isFile()) throw new Error(`${who}: ${file} is not a regular file (a pipe or device has no length to check a model against; save it to a file first)`);
}

/** The file's bytes in chunks, read as they are consumed; and its length. */
function fileChunks(file: string, who: string): { chunks: Iterable<Uint8Array>; byteLength: number; close(): void } {
  checkPath(who, file);
  // looked at before it is opened: opening a FIFO blocks the thread (signals too) until a writer comes
  let kind: import('node:fs').Stats;
  try {
    kind = fs().statSync(file);
  } catch (e) {
    throw new Error(`${who}: cannot open ${file}: ${(e as Error).message}`);
  }
  checkRegularFile(who, file, kind);
  let fd: number;
  try {
    fd = fs().openSync(file, 'r');
  } catch (e) {
    throw new Error(`${who}: cannot open ${file}: ${(e as Error).message}`);
  }
  const st = fs().fstatSync(fd);
  function* chunks(): Generator<Uint8Array> {
    for (let position = 0; position < st.size;) {
      const buffer = new Uint8Array(Math.min(READ_CHUNK, st.size - position));
      const n = fs().readSync(fd, buffer, 0, buffer.length, position);
      if (n === 0) return;
      position += n;
      yield buffer.subarray(0, n);
    }
  }
  return { chunks: chunks(), byteLength: st.size, close: () => fs().closeSync(fd) };
}

/**
 * Loads a model file (see loadModel) in chunks. Takes the runtime to build on
 * and the path; returns the net (and optimizer) the caller owns. Throws an
 * Error naming the file when it cannot be read (a TypeError for a `file` that is no
 * string, empty or holds a NUL byte), and loadModel's errors for a malformed file.
 */
export function readModelFile(rt: Runtime, file: string, options: Omit<LoadModelOptions, 'byteLength'> = {}): LoadedModel {
  const f = fileChunks(file, 'readModelFile');
  try {
    return loadModel(rt, f.chunks, { ...options, byteLength: f.byteLength });
  } finally {
    f.close();
  }
}

/**
 * Reads a model file's header only (see inspectModel): architecture,
 * tensors, parameter count, optimizer, metadata. Throws an Error naming the
 * file when it cannot be read (a TypeError for a `file` that is no string, empty
 * or holds a NUL byte), and inspectModel's errors for a malformed header.
 */
export function readModelInfo(file: string): ModelInfo {
  const f = fileChunks(file, 'readModelInfo');
  try {
    return inspectModel(f.chunks, { byteLength: f.byteLength });
  } finally {
    f.close();
  }
}

type FileHandle = Awaited<ReturnType<typeof import('node:fs/promises').open>>;

/**
 * Opens `file` for an async read, with fileChunks' checks (stat before open:
 * a FIFO would hold the open until a writer came), and runs `read` on its
 * chunks and length; the file is closed after, however `read` ends.
 */
async function withFileChunks<T>(file: string, who: string, read: (chunks: AsyncIterable<Uint8Array>, byteLength: number) => Promise<T>): Promise<T> {
  checkPath(who, file);
  const cannotOpen = (e: unknown) => new Error(`${who}: cannot open ${file}: ${(e as Error).message}`);
  checkRegularFile(who, file, await fsPromises().stat(file).catch((e) => { throw cannotOpen(e); }));
  const handle: FileHandle = await fsPromises().open(file, 'r').catch((e) => { throw cannotOpen(e); });
  try {
    const { size } = await handle.stat();
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let position = 0; position < size;) {
        const buffer = new Uint8Array(Math.min(READ_CHUNK, size - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) return;
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    }
    return await read(chunks(), size);
  } finally {
    await handle.close(); // after a read in flight (an abort does not wait for it)
  }
}

/**
 * readModelFile without blocking the event loop: loads the file as its chunks
 * come from disk (see loadModelAsync), with `signal` and `onProgress`. Rejects
 * with readModelFile's errors, or the signal's reason once it aborts.
 */
export async function readModelFileAsync(rt: Runtime, file: string, options: Omit<LoadModelAsyncOptions, 'byteLength'> = {}): Promise<LoadedModel> {
  checkRuntime(rt, 'readModelFileAsync');
  checkOptions('readModelFileAsync', options, READ_ASYNC_KEYS);
  return withFileChunks(file, 'readModelFileAsync', (chunks, byteLength) => loadModelAsync(rt, chunks, { ...options, byteLength }));
}

/** readModelInfo without blocking the event loop (see inspectModelAsync). */
export async function readModelInfoAsync(file: string, options: Omit<InspectModelAsyncOptions, 'byteLength'> = {}): Promise<ModelInfo> {
  checkOptions('readModelInfoAsync', options, INFO_ASYNC_KEYS);
  return withFileChunks(file, 'readModelInfoAsync', (chunks, byteLength) => inspectModelAsync(chunks, { ...options, byteLength }));
}

const READ_ASYNC_KEYS = new Set(['spec', 'signal', 'onProgress']);
const INFO_ASYNC_KEYS = new Set(['signal']);
