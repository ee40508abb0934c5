// The CommonJS entry's code cache (src/node/code-cache.cts), in fresh Node
// processes since its switches are the process's environment: loadBundle on
// small fixture bundles (when a cache is written, read, refused, keyed anew,
// left off, pruned), and the package itself (`require('simdnn')` and
// `import 'simdnn'` share one copy; a corrupted cache is recompiled, the
// results the same). Timings are the bench's (bench/startup.bench.mjs).
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const loader = path.join(root, 'dist/node/code-cache.cjs');
const READY = "globalThis[Symbol.for('simdnn.codeCacheReady')]";

interface Run { status: number | null; stdout: string; stderr: string }

/** `node -e script` in the package root with `env` over a copy of this one's (no compile-cache variables unless given). */
function node(script: string, env: Record<string, string> = {}, flags: string[] = []): Run {
  const { NODE_COMPILE_CACHE: _a, NODE_DISABLE_COMPILE_CACHE: _b, ...base } = process.env;
  const r = spawnSync(process.execPath, [...flags, '-e', script], { cwd: root, env: { ...base, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
beforeEach(() => { dir = mkdtempSync(path.join(tmpdir(), 'simdnn-code-cache-test-')); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

/** A bundle whose value is `value`, which says its first runtime is made (as createRuntime does) when `ready`. */
function fixture(value: number, ready = true, name = 'bundle.cjs'): string {
  const file = path.join(dir, name);
  writeFileSync(file, `exports.value = () => ${value};\nexports.here = __filename;\n${ready ? `${READY}?.();\n` : ''}`);
  return file;
}

/** loadBundle(file) in a fresh process: its status, the bundle's value, whether `plain` was called, the hook left behind. */
function load(file: string, env: Record<string, string>, flags: string[] = []): { status: string; value: number; here: string; plain: boolean; hookLeft: boolean } {
  const r = node(`
    const { loadBundle } = require(${JSON.stringify(loader)});
    let plain = false;
    const { exports, status } = loadBundle(${JSON.stringify(file)}, module, () => { plain = true; return require(${JSON.stringify(file)}); });
    process.stdout.write(JSON.stringify({ status, value: exports.value(), here: exports.here, plain, hookLeft: typeof ${READY} === 'function' }));`, env, flags);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

const caches = (d: string) => existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.v8cache')).sort() : [];

describe('loadBundle: a CommonJS bundle through V8\'s code cache', () => {
  it('compiles from source and writes the cache once the bundle says it is ready; the next process reads it, and rewrites nothing', () => {
    const file = fixture(41);
    const env = { NODE_COMPILE_CACHE: path.join(dir, 'cache') };
    const store = path.join(dir, 'cache', 'simdnn');
    expect(load(file, env)).toEqual({ status: 'missed', value: 41, here: file, plain: false, hookLeft: false });
    const [written] = caches(store);
    expect(written).toMatch(/^simdnn-bundle\.cjs-[0-9a-f]{16}\.v8cache$/);
    const before = statSync(path.join(store, written));
    expect(before.mode & 0o777).toBe(0o600);
    expect(statSync(store).mode & 0o777).toBe(0o700);
    expect(load(file, env)).toEqual({ status: 'accepted', value: 41, here: file, plain: false, hookLeft: false });
    const after = statSync(path.join(store, written));
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect(caches(store)).toEqual([written]);
  });

  it('writes nothing for a process whose bundle never says it is ready (no runtime made), and leaves the hook for later', () => {
    const file = fixture(5, false);
    const env = { NODE_COMPILE_CACHE: path.join(dir, 'cache') };
    expect(load(file, env)).toEqual({ status: 'missed', value: 5, here: file, plain: false, hookLeft: true });
    expect(caches(path.join(dir, 'cache', 'simdnn'))).toEqual([]);
  });

  it('an edited bundle (same length, same mtime) gets a cache of its own: never the old text\'s bytecode', () => {
    const file = fixture(41);
    const env = { NODE_COMPILE_CACHE: path.join(dir, 'cache') };
    const store = path.join(dir, 'cache', 'simdnn');
    // whole seconds, so that putting the mtime back gives the same mtimeMs to the last bit
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    expect(load(file, env)).toMatchObject({ status: 'missed', value: 41 });
    expect(load(file, env)).toMatchObject({ status: 'accepted', value: 41 });
    // the same number of bytes in the same file (inode), the old mtime put back (as a patch or a careless
    // copy may), all V8 itself checks unchanged: only the change time moves
    writeFileSync(file, readFileSync(file, 'utf8').replace('41', '42'));
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    expect(load(file, env)).toMatchObject({ status: 'missed', value: 42 });
    expect(caches(store)).toHaveLength(2);
    expect(load(file, env)).toMatchObject({ status: 'accepted', value: 42 });
  });

  it.each([
    ['its bytecode', (b: Buffer) => b.fill(0x5a, b.length >> 1, (b.length >> 1) + 48)],
    ['V8\'s header', (b: Buffer) => b.fill(0x5a, 16, 40)],
    ['the checksum', (b: Buffer) => { b[8] ^= 1; return b; }],
    ['the magic', (b: Buffer) => { b.write('SIMDNNC1', 0, 'latin1'); return b; }],
    ['the length (cut short)', (b: Buffer) => b.subarray(0, b.length - 8)],
    ['everything but the header (V8\'s bytes gone)', (b: Buffer) => b.subarray(0, 16)],
  ])('a cache with %s corrupted is compiled from source (never handed to V8, whose release build crashes on a corrupted one) and written again', (_, corrupt) => {
    const file = path.join(dir, 'bigger.cjs');
    // enough functions that the bytecode is most of the cache
    writeFileSync(file, `${Array.from({ length: 200 }, (_, i) => `exports.f${i} = (x) => x * ${i} + ${i % 7};`).join('\n')}
exports.value = () => exports.f5(1) + exports.f199(0);
for (let i = 0; i < 200; i++) exports['f' + i](i);
${READY}?.();\n`);
    const env = { NODE_COMPILE_CACHE: path.join(dir, 'cache') };
    const store = path.join(dir, 'cache', 'simdnn');
    expect(load(file, env)).toMatchObject({ status: 'missed', value: 10 + 3 });
    const [name] = caches(store);
    const good = readFileSync(path.join(store, name));
    expect(good.length).toBeGreaterThan(4000);
    const bad = Buffer.from(corrupt(Buffer.from(good)));
    writeFileSync(path.join(store, name), bad);
    expect(load(file, env)).toMatchObject({ status: 'rejected', value: 13 });
    expect(readFileSync(path.join(store, name)).equals(bad)).toBe(false);
    expect(load(file, env)).toMatchObject({ status: 'accepted', value: 13 });
  });

  it('a cache that checks out but that V8 refuses (made under other flags) is compiled from source and written again', () => {
    const file = fixture(17);
    const env = { NODE_COMPILE_CACHE: path.join(dir, 'cache') };
    const store = path.join(dir, 'cache', 'simdnn');
    load(file, env, ['--max-lazy']);
    const [made] = caches(store);
    load(file, env);
    const [mine] = caches(store).filter((f) => f !== made);
    // the other flags' cache under this process's name: its checksum holds, V8's flag hash does not
    writeFileSync(path.join(store, mine), readFileSync(path.join(store, made)));
    expect(load(file, env)).toMatchObject({ status: 'rejected', value: 17 });
    expect(readFileSync(path.join(store, mine)).equals(readFileSync(path.join(store, made)))).toBe(false);
    expect(load(file, env)).toMatchObject({ status: 'accepted', value: 17 });
  });

  it('checksum: 64-bit FNV over 8-byte words (the last zero-padded), xor the length; as a BigInt reference computes it', () => {
    const r = node(`
      const { checksum } = require(${JSON.stringify(loader)});
      const reference = (bytes) => {
        const padded = new Uint8Array(Math.ceil(bytes.length / 8) * 8);
        padded.set(bytes);
        const words = new BigUint64Array(padded.buffer);
        let h = BigInt(words.length) ^ 0xcbf29ce484222325n;
        for (const w of words) h = BigInt.asUintN(64, (h ^ w) * 0x100000001b3n);
        return h ^ BigInt(bytes.length);
      };
      const out = [];
      let seed = 1;
      for (const n of [0, 1, 7, 8, 9, 63, 64, 65, 1000, 65536, 65537, 200003]) {
        const bytes = new Uint8Array(n).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
        out.push([n, checksum(bytes) === reference(bytes)]);
      }
      // a trailing zero byte is another sum; so is one flipped bit
      const a = new Uint8Array([1, 2, 3]);
      out.push(['zero', checksum(a) !== checksum(new Uint8Array([1, 2, 3, 0]))]);
      const b = new Uint8Array(4096).fill(7);
      const c = b.slice(); c[2049] ^= 16;
      out.push(['bit', checksum(b) !== checksum(c)]);
      process.stdout.write(JSON.stringify(out));`);
    expect(r.status, r.stderr).toBe(0);
    for (const [what, ok] of JSON.parse(r.stdout)) expect(ok, String(what)).toBe(true);
  });

  it('other V8 flags key another cache, so two flag sets do not overwrite each other\'s', () => {
    const file = fixture(3);
    const env = { NODE_COMPILE_CACHE: path.join(dir, 'cache') };
    const store = path.join(dir, 'cache', 'simdnn');
    load(file, env);
    load(file, { ...env, NODE_OPTIONS: '--max-semi-space-size=8' });
    expect(caches(store)).toHaveLength(2);
    expect(load(file, env).status).toBe('accepted');
    expect(load(file, { ...env, NODE_OPTIONS: '--max-semi-space-size=8' }).status).toBe('accepted');
  });

  it('NODE_DISABLE_COMPILE_CACHE turns it off: the plain require, no file', () => {
    const file = fixture(9);
    const env = { NODE_COMPILE_CACHE: path.join(dir, 'cache'), NODE_DISABLE_COMPILE_CACHE: '1' };
    expect(load(file, env)).toEqual({ status: 'off', value: 9, here: file, plain: true, hookLeft: false });
    expect(existsSync(path.join(dir, 'cache'))).toBe(false);
  });

  it('with no usable directory it loads the plain way: NODE_COMPILE_CACHE a file or its simdnn a symlink; the temp directory\'s name taken by a symlink or a directory others may write', () => {
    const file = fixture(11);
    const blocker = path.join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    expect(load(file, { NODE_COMPILE_CACHE: blocker })).toMatchObject({ status: 'off', value: 11, plain: true });
    // NODE_COMPILE_CACHE/simdnn a symlink: not followed
    const asked = path.join(dir, 'asked');
    const target = path.join(dir, 'target');
    mkdirSync(asked);
    mkdirSync(target);
    symlinkSync(target, path.join(asked, 'simdnn'));
    expect(load(file, { NODE_COMPILE_CACHE: asked })).toMatchObject({ status: 'off', plain: true });
    expect(caches(target)).toEqual([]);
    // the default place: TMPDIR/simdnn-compile-cache-<uid>
    const temp = path.join(dir, 'tmp');
    mkdirSync(temp);
    const own = path.join(temp, `simdnn-compile-cache-${process.getuid!()}`);
    const elsewhere = path.join(dir, 'elsewhere');
    mkdirSync(elsewhere, { mode: 0o700 });
    symlinkSync(elsewhere, own);
    expect(load(file, { TMPDIR: temp })).toMatchObject({ status: 'off', plain: true });
    expect(caches(elsewhere)).toEqual([]);
    rmSync(own);
    mkdirSync(own);
    chmodSync(own, 0o777);
    expect(load(file, { TMPDIR: temp })).toMatchObject({ status: 'off', plain: true });
    expect(caches(own)).toEqual([]);
    // its own directory, made 0700 where missing
    rmSync(own, { recursive: true });
    expect(load(file, { TMPDIR: temp })).toMatchObject({ status: 'missed', plain: false });
    expect(statSync(own).mode & 0o777).toBe(0o700);
    expect(caches(own)).toHaveLength(1);
  });

  it('an error the bundle throws reaches the caller, and the bundle is not left half-loaded in require.cache', () => {
    const file = path.join(dir, 'throws.cjs');
    writeFileSync(file, 'exports.partial = true;\nthrow new RangeError("bundle failed");\n');
    const r = node(`
      const { loadBundle } = require(${JSON.stringify(loader)});
      let caught;
      try { loadBundle(${JSON.stringify(file)}, module, () => require(${JSON.stringify(file)})); } catch (e) { caught = e; }
      process.stdout.write(JSON.stringify({ name: caught?.name, message: caught?.message, cached: ${JSON.stringify(file)} in require.cache }));`,
    { NODE_COMPILE_CACHE: path.join(dir, 'cache') });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ name: 'RangeError', message: 'bundle failed', cached: false });
  });

  it('import() in a bundle fails alike from source and from the cache (Node 20 loses its callback in a cached function): no program works only on its first run', () => {
    const file = path.join(dir, 'importing.cjs');
    writeFileSync(file, `exports.value = () => 1;\nexports.here = __filename;\nexports.os = () => import('node:os');\n${READY}?.();\n`);
    const env = { NODE_COMPILE_CACHE: path.join(dir, 'cache') };
    const run = () => node(`
      const { loadBundle } = require(${JSON.stringify(loader)});
      const { exports, status } = loadBundle(${JSON.stringify(file)}, module, () => require(${JSON.stringify(file)}));
      exports.os().then(() => 'imported', (e) => e.code).then((how) => process.stdout.write(JSON.stringify({ status, how })));`, env);
    const results = [run(), run()].map((r) => { expect(r.status, r.stderr).toBe(0); return JSON.parse(r.stdout); });
    expect(results).toEqual([{ status: 'missed', how: 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING' }, { status: 'accepted', how: 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING' }]);
  });

  it('a bundle already in require.cache is that one, not a second copy', () => {
    const file = fixture(13);
    const r = node(`
      const first = require(${JSON.stringify(file)});
      const { loadBundle } = require(${JSON.stringify(loader)});
      const { exports, status } = loadBundle(${JSON.stringify(file)}, module, () => { throw new Error('plain called'); });
      process.stdout.write(JSON.stringify({ same: exports === first, status }));`, { NODE_COMPILE_CACHE: path.join(dir, 'cache') });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ same: true, status: 'off' });
  });

  it('processes starting at once (a cluster, parallel tests) each load, and leave one whole cache that the next reads (another `node -e` program: its code is no flag of the key)', async () => {
    const file = path.join(dir, 'bigger.cjs');
    writeFileSync(file, `${Array.from({ length: 300 }, (_, i) => `exports.f${i} = (x) => x * ${i};`).join('\n')}
exports.value = () => exports.f2(3);
for (let i = 0; i < 300; i++) exports['f' + i](i);
${READY}?.();\n`);
    const env = { NODE_COMPILE_CACHE: path.join(dir, 'cache') };
    const store = path.join(dir, 'cache', 'simdnn');
    const { spawn } = await import('node:child_process');
    const { NODE_COMPILE_CACHE: _a, NODE_DISABLE_COMPILE_CACHE: _b, ...base } = process.env;
    const script = `const { loadBundle } = require(${JSON.stringify(loader)});
      const { exports, status } = loadBundle(${JSON.stringify(file)}, module, () => require(${JSON.stringify(file)}));
      process.stdout.write(JSON.stringify({ status, value: exports.value() }));`;
    const runs = await Promise.all(Array.from({ length: 6 }, () => new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script], { cwd: root, env: { ...base, ...env } });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
    })));
    for (const r of runs) expect(JSON.parse(r)).toMatchObject({ value: 6 });
    // renamed into place whole: one cache, no temporary file left
    expect(readdirSync(store)).toEqual([expect.stringMatching(/^simdnn-bigger\.cjs-[0-9a-f]{16}\.v8cache$/)]);
    expect(load(file, env)).toMatchObject({ status: 'accepted', value: 6 });
  });

  it('keeps at most 16 caches in its directory, dropping the oldest', () => {
    const store = path.join(dir, 'cache', 'simdnn');
    mkdirSync(store, { recursive: true });
    for (let i = 0; i < 20; i++) {
      const f = path.join(store, `simdnn-old-${String(i).padStart(2, '0')}.v8cache`);
      writeFileSync(f, '');
      utimesSync(f, 1_000_000 + i, 1_000_000 + i);
    }
    writeFileSync(path.join(store, 'not-ours.txt'), '');
    load(fixture(1), { NODE_COMPILE_CACHE: path.join(dir, 'cache') });
    const left = caches(store);
    expect(left).toHaveLength(16);
    expect(left.filter((f) => f.startsWith('simdnn-bundle.cjs-'))).toHaveLength(1);
    // the newest old ones stay (05–19), the five oldest go
    expect(left.filter((f) => f.startsWith('simdnn-old-'))).toEqual(Array.from({ length: 15 }, (_, i) => `simdnn-old-${String(i + 5).padStart(2, '0')}.v8cache`));
    expect(existsSync(path.join(store, 'not-ours.txt'))).toBe(true);
  });
});

describe('the package entries through the code cache', () => {
  const program = `
    const run = async (simdnn) => {
      const rt = await simdnn.createRuntime({ seed: 3, threads: 1 });
      const net = new simdnn.MultiLayerNet(rt, { inputSize: 6, hiddenSizeList: [5], outputSize: 3 });
      const x = rt.tensor([4, 6], Array.from({ length: 24 }, (_, i) => Math.sin(i)));
      const t = [0, 1, 2, 1];
      new simdnn.Adam().update(net.params, net.gradient(x, t));
      return Array.from(new Uint32Array(new Float32Array([net.loss(x, t)]).buffer))[0];
    };`;

  it('require and import share one copy of the core; a cache is written once a runtime is made, read after, and a corrupted one gives the same bits', () => {
    const env = { NODE_COMPILE_CACHE: path.join(dir, 'cache') };
    const store = path.join(dir, 'cache', 'simdnn');
    const script = `${program}
      import('simdnn').then(async (esm) => {
        const cjs = require('simdnn');
        const same = esm.createRuntime === cjs.createRuntime && esm.Tensor === cjs.Tensor;
        const bits = await run(cjs);
        process.stdout.write(JSON.stringify({ same, bits, core: Object.keys(require.cache).filter((f) => f.includes('node.core')).length }));
      });`;
    const first = node(script, env);
    expect(first.status, first.stderr).toBe(0);
    const a = JSON.parse(first.stdout);
    expect(a).toMatchObject({ same: true, core: 1 });
    const [name] = caches(store);
    expect(name).toMatch(/^simdnn-node\.core\.cjs-[0-9a-f]{16}\.v8cache$/);
    const written = statSync(path.join(store, name));
    const again = node(script, env);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual(a);
    // read, not written again (a refused or missed cache would be rewritten)
    const read = statSync(path.join(store, name));
    expect([read.ino, read.mtimeMs]).toEqual([written.ino, written.mtimeMs]);
    const bytes = readFileSync(path.join(store, name));
    bytes.fill(0xa5, 24, 96);
    writeFileSync(path.join(store, name), bytes);
    const corrupted = node(script, env);
    expect(corrupted.status, corrupted.stderr).toBe(0);
    expect(JSON.parse(corrupted.stdout)).toEqual(a);
    // without the cache: the same bits
    const off = node(script, { ...env, NODE_DISABLE_COMPILE_CACHE: '1' });
    expect(JSON.parse(off.stdout)).toEqual(a);
  });

  it('the simdnn bin runs its commands from a cache of their bundle: written by the first command that makes a runtime, read by later ones, whose Vega (imported through the bin) draws the same chart', () => {
    const env = { NODE_COMPILE_CACHE: path.join(dir, 'cache') };
    const store = path.join(dir, 'cache', 'simdnn');
    const bin = path.join(root, 'dist/node/cli.cjs');
    const simdnn = (...args: string[]) => {
      const { NODE_COMPILE_CACHE: _a, NODE_DISABLE_COMPILE_CACHE: _b, ...base } = process.env;
      const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, env: { ...base, ...env }, encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    expect(simdnn('--version').trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(caches(store)).toEqual([]); // no runtime made: nothing worth caching yet
    const experiment = (out: string) => {
      simdnn('experiment', 'optimizer-naive', '--quick', '--threads', '1', '--quiet', '--out', path.join(dir, out));
      return [readFileSync(path.join(dir, out, 'optimizer-naive.json'), 'utf8'), readFileSync(path.join(dir, out, 'optimizer-naive.svg'), 'utf8')];
    };
    const first = experiment('a');
    const [name] = caches(store);
    expect(name).toMatch(/^simdnn-cli\.cjs-[0-9a-f]{16}\.v8cache$/);
    const written = statSync(path.join(store, name));
    const again = experiment('b');
    expect(again).toEqual(first);
    expect(again[1]).toMatch(/^<svg/);
    // read, not written again: this command made a runtime, so a missed or refused cache would have been rewritten
    const read = statSync(path.join(store, name));
    expect([read.ino, read.mtimeMs]).toEqual([written.ino, written.mtimeMs]);
  });

  it('with --enable-source-maps the core loads the plain way, so stack traces name the compiled modules, not the bundle', () => {
    const env = { NODE_COMPILE_CACHE: path.join(dir, 'cache') };
    const script = `require('simdnn').createRuntime({ threads: 1 }).then((rt) => {
      try { rt.tensor([-1]); } catch (e) { process.stdout.write(e.stack.split('\\n')[1]); }
    });`;
    const mapped = node(script, env, ['--enable-source-maps']);
    expect(mapped.status, mapped.stderr).toBe(0);
    expect(mapped.stdout).toMatch(/dist[\\/]runtime[\\/]tensor\.js:\d+:\d+\)$/);
    expect(caches(path.join(dir, 'cache', 'simdnn'))).toEqual([]);
    // and without: the bundle's own lines, from the cache it writes
    const plain = node(script, env);
    expect(plain.stdout).toMatch(/dist[\\/]bundle[\\/]node\.core\.cjs:\d+:\d+\)$/);
    expect(caches(path.join(dir, 'cache', 'simdnn'))).toHaveLength(1);
  });
});
