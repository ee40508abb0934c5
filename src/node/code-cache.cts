// Loads a CommonJS bundle through V8's code cache, so a process skips parsing
// it and compiling what earlier processes ran (the core's cold start, and the
// `simdnn` bin's commands: src/node/cli.cts).
//
// V8 scans every byte of a script it loads and compiles each function the
// first time it runs: for the ~320 KB core bundle, ~7 ms of parsing and a few
// ms compiling what `createRuntime` runs, in every process. A code cache
// written after a process has run holds the bytecode of all that; a later
// process that hands it to V8 skips both. Node ≥ 22.1 does this for every
// module when an application asks (module.enableCompileCache or
// NODE_COMPILE_CACHE); where Node's cache is off, and on Node 20, which has
// none, this does it for the one bundle it is given.
//
// - Where: NODE_COMPILE_CACHE/simdnn when the variable is set; else a
//   directory of the user's own in the OS temp directory (created 0700, used
//   only if it is a real directory that user owns and no one else can write).
//   NODE_DISABLE_COMPILE_CACHE turns it off, as it turns off Node's.
// - Which file: named by checksum() of the bundle's path, device, inode,
//   size, mtime and change time (ctime, which any write moves and no one can
//   set back: an edited or reinstalled bundle never meets the cache of
//   another text; CPython keys its bytecode caches on the source's mtime and
//   size alike), Node's V8 version and the process's flags. V8 itself checks the version, the
//   flags and the text's length again, and compiles from source where a
//   cache fails them. (Hashing the text instead loads node:crypto, ~3 ms.)
// - When written: once, by a process that found no usable cache, right after
//   its first runtime is made (src/node/runtime.ts calls the hook set under
//   CODE_CACHE_READY), so the cache holds what every program runs first
//   (createRuntime, the known answers) and not what one happened to run
//   before it exited; a process that makes no runtime writes none. Through a
//   temporary file renamed into place, so concurrent processes never read
//   half a file. At most MAX_FILES caches are kept (the oldest go).
// - Checked before V8 sees it: V8 checks a cache's version, flags and length
//   but not its bytes (Node 20's release build), and a corrupted cache
//   crashed the process in V8's deserializer (the test that flips its bytes
//   met it). So each file is a header (MAGIC, then a 64-bit checksum of the
//   rest) and V8's bytes; one that fails is compiled from source and written
//   again, as a cache V8 refuses is.
// - Only in Node itself: Bun and Deno load the bundle as any module, and so
//   does Node with --enable-source-maps (it maps only what its loader compiled).
// Nothing here may fail a `require`: any file error leaves the plain load.
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import Module = require('node:module');
import { tmpdir } from 'node:os';
import path = require('node:path');
import vm = require('node:vm');

/** How a bundle was loaded: without a cache (`off`: not asked, not Node, Node's own cache on, or no usable directory), from one (`accepted`), or compiled from source with a cache written after (`missed`: none; `rejected`: a file that failed the checksum or that V8 refused). */
export type CacheStatus = 'off' | 'accepted' | 'missed' | 'rejected';

export interface LoadedBundle {
  readonly exports: unknown;
  readonly status: CacheStatus;
  /** The cache file read or to be written (absent when `off`). */
  readonly cacheFile?: string;
}

/** The global under which a loaded bundle finds the function to call once its first runtime is made (the name src/node/runtime.ts reads). */
const CODE_CACHE_READY = Symbol.for('simdnn.codeCacheReady');
/** Caches kept per directory: a few versions of the package, each under a flag set or two. */
const MAX_FILES = 16;
const PREFIX = 'simdnn-';
/** A cache file's first 8 bytes; the next 8 are checksum() of the rest. */
const MAGIC = 'simdnnC1';
const HEADER = 16;
/**
 * checksum()'s wasm (108 bytes), memory imported as m.m:
 *   (func (export "s") (param $words i32) (result i64)
 *     h = u64($words) ^ 0xcbf29ce484222325
 *     for i in [0, $words): h = (h ^ i64.load(i * 8)) * 0x100000001b3
 *     return h)
 * JavaScript's own loop took ~2.3 ms over a 170 KB cache (it runs once, cold);
 * loading node:crypto or node:zlib for theirs took 1.5–3 ms.
 */
const CHECKSUM_WASM = 'AGFzbQEAAAABBgFgAX8BfgIIAQFtAW0CAAADAgEABwUBAXMAAApFAUMCAX8BfiAArUKlxoihyJyn+UuFIQICQANAIAEgAE8NASACIAFBA3QpAwCFQrODgICAIH4hAiABQQFqIQEMAAsLIAIL';
/** CHECKSUM_WASM compiled, once per process (each load sums the key and the cache file). */
let checksumModule: WebAssembly.Module | undefined;

/**
 * A 64-bit FNV-style sum of the bytes' 8-byte words (the last zero-padded),
 * xor their length: any change of one word changes it (each step is a
 * bijection of the sum), as does any change of length.
 */
export function checksum(bytes: Uint8Array): bigint {
  const words = Math.ceil(bytes.length / 8);
  const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil((words * 8) / 65536)) });
  new Uint8Array(memory.buffer).set(bytes);
  checksumModule ??= new WebAssembly.Module(Buffer.from(CHECKSUM_WASM, 'base64'));
  const { s } = new WebAssembly.Instance(checksumModule, { m: { m: memory } }).exports as { s: (words: number) => bigint };
  return BigInt.asUintN(64, s(words) ^ BigInt(bytes.length));
}

/** V8's bytes from a cache file, or undefined where the file is not one this module wrote whole. */
function checked(bytes: Buffer): Buffer | undefined {
  if (bytes.length <= HEADER || bytes.toString('latin1', 0, 8) !== MAGIC) return undefined;
  const data = bytes.subarray(HEADER);
  return bytes.readBigUInt64LE(8) === checksum(data) ? data : undefined;
}

/** Whether this process may use a code cache of its own: Node (not Bun or Deno), not turned off, Node's cache not on, no source maps asked for. */
function usable(): boolean {
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return false;
  // Node maps stack traces (--enable-source-maps) only for what its module loader compiled
  if ((process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled) return false;
  if (process.versions.bun !== undefined || (process.versions as Record<string, string | undefined>).deno !== undefined) return false;
  // Node ≥ 22.1 with its cache on caches the bundle itself when it is required
  const nodeCache = (Module as { getCompileCacheDir?: () => string | undefined }).getCompileCacheDir;
  return nodeCache?.() === undefined;
}

/** The cache directory, made if missing; null where none is safe to use. */
function cacheDirectory(): string | null {
  const asked = process.env.NODE_COMPILE_CACHE;
  const uid = process.getuid?.();
  const dir = asked ? path.resolve(asked, 'simdnn') : path.join(tmpdir(), `simdnn-compile-cache${uid === undefined ? '' : `-${uid}`}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) return null;
  // the shared temp directory: another user could have made this name first
  if (!asked && uid !== undefined && (stat.uid !== uid || (stat.mode & 0o022) !== 0)) return null;
  return dir;
}

/**
 * Runs the CommonJS file `file` as a module (registered in require.cache, its
 * `require` resolving from its own place) from V8's code cache when there is
 * one; `plain` is the ordinary `require` of the same file, used where no
 * cache may be. `parent`: the requiring module (none from an ES module).
 */
export function loadBundle(file: string, parent: NodeModule | undefined, plain: () => unknown): LoadedBundle {
  const loaded = require.cache[file];
  if (loaded) return { exports: loaded.exports, status: 'off' };
  const opened = usable() ? openCache(file) : null;
  if (opened === null) return { exports: plain(), status: 'off' };
  const { source, cacheFile, cached, found } = opened;
  // No importModuleDynamically: on Node 20 a function V8 read from a cache lost it (`import()` threw "A dynamic
  // import callback was not specified" where the same script compiled from source imported), so a bundle
  // loaded here must not call import() (scripts/bundle.mjs fails the build when the core or the CLI does)
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData: cached });
  const status: CacheStatus = !found ? 'missed' : cached === undefined || script.cachedDataRejected ? 'rejected' : 'accepted';
  // set before the bundle runs: a bundle may make its runtime as it loads
  if (status !== 'accepted') writeWhenReady(script, cacheFile);
  const bundle = new Module(file, parent);
  bundle.filename = file;
  require.cache[file] = bundle;
  try {
    const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
    wrapper.call(bundle.exports, bundle.exports, Module.createRequire(file), bundle, file, path.dirname(file));
  } catch (e) {
    delete require.cache[file];
    delete (globalThis as Record<symbol, unknown>)[CODE_CACHE_READY];
    throw e;
  }
  bundle.loaded = true;
  return { exports: bundle.exports, status, cacheFile };
}

/** The bundle's text, its cache file's name, V8's bytes from it if it checks out, and whether there was one; null where no cache may be. */
function openCache(file: string): { source: string; cacheFile: string; cached: Buffer | undefined; found: boolean } | null {
  try {
    const dir = cacheDirectory();
    if (dir === null) return null;
    // a program bundled with this package has no file here: its bundler resolved `plain` instead
    const stat = statSync(file);
    const source = readFileSync(file, 'utf8');
    const key = [file, stat.dev, stat.ino, stat.size, stat.ctimeMs, stat.mtimeMs, process.versions.v8, process.arch, ...flags(process.execArgv), process.env.NODE_OPTIONS ?? ''].join('\0');
    const name = checksum(Buffer.from(key)).toString(16).padStart(16, '0');
    const cacheFile = path.join(dir, `${PREFIX}${path.basename(file)}-${name}.v8cache`);
    let bytes: Buffer | undefined;
    try { bytes = readFileSync(cacheFile); } catch { bytes = undefined; }
    return { source, cacheFile, cached: bytes && checked(bytes), found: bytes !== undefined };
  } catch {
    return null;
  }
}

/** The process's flags without the code of `-e` / `-p` (a program, not a flag: every `node -e` would get a cache of its own). */
function flags(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i];
    if (/^(-[a-z]*[ep]|--eval|--print)$/.test(arg)) i++;
    else if (arg.startsWith('-') && !/^--(eval|print)=/.test(arg)) kept.push(arg);
  }
  return kept;
}

/** Writes the script's code cache once, after the bundle's first runtime is made (an immediate later, so that the caller's first steps are in it too). */
function writeWhenReady(script: vm.Script, cacheFile: string): void {
  const global = globalThis as Record<symbol, unknown>;
  global[CODE_CACHE_READY] = () => {
    delete global[CODE_CACHE_READY];
    setImmediate(() => {
      try {
        const data = script.createCachedData();
        const header = Buffer.alloc(HEADER);
        header.write(MAGIC, 0, 'latin1');
        header.writeBigUInt64LE(checksum(data), 8);
        const temporary = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(temporary, Buffer.concat([header, data]), { mode: 0o600 });
        renameSync(temporary, cacheFile);
        prune(path.dirname(cacheFile));
      } catch {
        // a full or read-only disk: the next process compiles from source, as this one did
      }
    });
  };
}

/** Removes the oldest caches (and a crashed writer's temporary files) past MAX_FILES. */
function prune(dir: string): void {
  const files = readdirSync(dir).filter((f) => f.startsWith(PREFIX))
    .map((f) => ({ f, mtime: statSync(path.join(dir, f)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const { f } of files.slice(MAX_FILES)) unlinkSync(path.join(dir, f));
}
