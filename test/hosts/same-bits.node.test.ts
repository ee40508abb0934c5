// Same bits everywhere: the seeded 50-step run of test/hosts/train-hash.mjs (a
// small MLP and SimpleConvNet, Adam; then the Trainer's fit() with batch norm,
// dropout, AdamW, a schedule and augmentation) on the default plain-SIMD build gives the
// same parameter and prediction hashes in Node, Chromium, workerd, Bun and
// Deno (and each host's frozen copy predicts with its net's bits, and its net
// saved and read back by loadModelAsync from the host's own Response, Blob and
// stream has them), on 1 and 2
// threads where the host has threads. Each host runs the built package the way
// its users load it: Node, Bun and Deno the Node entry (dist/bundle/node.js),
// Chromium the portable bundle from a cross-origin isolated loopback page,
// workerd the portable bundle with the wasm imported as a compiled module.
// Bun and Deno also run the simdnn bin: an experiment's JSON is Node's.
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, run, serveStatic } from './serve.js';
import { startWorkerd } from './workerd.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const here = path.join(root, 'test/hosts');
for (const f of ['dist/bundle/node.js', 'dist/bundle/index.js', 'build/simdnn.wasm']) {
  if (!existsSync(path.join(root, f))) throw new Error(`${f} is missing: run \`npm run build\``);
}

// Deno's own V8 code cache (in DENO_DIR) served a stale entry for a bundle rebuilt at the same path, and its
// code then failed to compile (a clone at a path an earlier clone had used): the Deno runs get a DENO_DIR of their own.
const denoDir = mkdtempSync(path.join(tmpdir(), 'simdnn-deno-dir-'));
const hostEnv = { ...process.env, DENO_DIR: denoDir };

interface HashRun { mlp: string; conv: string; fitted: { params: string[]; records: string }; loss: number[]; predicted: string[]; frozenPredicted: string[]; reloaded: string[]; threads: number; workerChunks: number }
const runs: Record<string, HashRun> = {};

function binary(pkg: string, file: string): string | null {
  try {
    const p = path.join(path.dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), file);
    return existsSync(p) ? p : null;
  } catch { return null; }
}

async function runScript(cmd: string, args: string[]): Promise<HashRun> {
  const { code, stdout, stderr } = await run(cmd, args, { cwd: here, timeoutMs: 60_000, env: hostEnv });
  if (code !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')} exited with ${code}:\n${stderr}`);
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

/** Checks the thread count a run reports, and that a 2-thread run really gave work to a worker. */
function record(name: string, r: HashRun, threads: number): void {
  expect(r.threads, `${name}: threads`).toBe(threads);
  if (threads > 1) expect(r.workerChunks, `${name}: parts run by workers`).toBeGreaterThan(0);
  expect(r.frozenPredicted, `${name}: a frozen copy predicts with the net's bits`).toEqual(r.predicted);
  expect(r.reloaded, `${name}: the net saved and read back by loadModelAsync from the host's Response has its bits`).toEqual([r.mlp, r.conv]);
  runs[name] = r;
}

const runtimes = [
  { name: 'Node', cmd: process.execPath, args: [] as string[] },
  { name: 'Bun', cmd: binary('bun', 'bin/bun.exe'), args: [] },
  { name: 'Deno', cmd: binary('deno', 'deno'), args: ['run', '-A'] },
];

describe('the seeded run has the same bits on every host', { timeout: 120_000 }, () => {
  for (const { name, cmd, args } of runtimes) {
    for (const threads of [1, 2]) {
      it.skipIf(cmd === null)(`${name}, ${threads} thread(s)`, async () => {
        record(`${name} ${threads}t`, await runScript(cmd!, [...args, 'run-train-hash.mjs', String(threads)]), threads);
      });
    }
    if (cmd === null) console.warn(`same-bits: ${name} is skipped: its npm package's binary is not installed`);
  }

  for (const { name, cmd, args } of runtimes.slice(1)) {
    it.skipIf(cmd === null)(`${name}: a file: URL that does not exist names the option and the file`, async () => {
      const { code, stdout, stderr } = await run(cmd!, [...args, 'missing-wasm.mjs'], { cwd: here, timeoutMs: 60_000, env: hostEnv });
      expect(code, stderr).toBe(0);
      const { message } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { message: string | null };
      expect(message).toMatch(/^options\.wasm: (reading the module|fetching file:\S+no-such-build\.wasm) failed \(.*(No such file|ENOENT)/);
      expect(message).toMatch(/\(.*no-such-build\.wasm/); // the host's own words name the file
      expect(message).not.toMatch(/cannot read file: URLs/); // Node's hint: these hosts' fetch reads them
    });

    it.skipIf(cmd === null)(`${name} runs the simdnn bin: an experiment writes the JSON Node writes, and its chart through the bin's import() of Vega`, async () => {
      const out = await mkdtemp(path.join(tmpdir(), 'simdnn-bin-hosts-'));
      try {
        const experiment = async (host: string, hostArgs: string[]) => {
          const dir = path.join(out, path.basename(host));
          const r = await run(host, [...hostArgs, path.join(root, 'dist/node/cli.cjs'), 'experiment', 'optimizer-naive', '--quick', '--threads', '1', '--quiet', '--out', dir], { cwd: root, timeoutMs: 60_000, env: hostEnv });
          expect(r.code, `${path.basename(host)}: ${r.stderr}`).toBe(0);
          return [await readFile(path.join(dir, 'optimizer-naive.json'), 'utf8'), await readFile(path.join(dir, 'optimizer-naive.svg'), 'utf8')];
        };
        const [nodeJson] = await experiment(process.execPath, []);
        const [json, svg] = await experiment(cmd!, args);
        expect(json).toBe(nodeJson);
        expect(svg).toMatch(/^<svg/);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    });
  }

  it('Chromium, 1 and 2 threads, cross-origin isolated', async () => {
    const server = await serveStatic(root);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${server.url}/test/hosts/same-bits.html`);
      await page.waitForFunction(() => 'runTrainHash' in window, null, { timeout: 30_000 });
      for (const threads of [1, 2]) {
        const r = await page.evaluate((n) => (window as unknown as { runTrainHash(n: number): Promise<HashRun & { isolated: boolean }> }).runTrainHash(n), threads);
        expect(r.isolated).toBe(true);
        record(`Chromium ${threads}t`, r, threads);
      }
      expect(errors).toEqual([]);
      expect(server.missing).toEqual([]);
    } finally {
      await browser.close();
      await server.close();
    }
  });

  it('workerd, 1 thread (the wasm imported as a compiled module)', async () => {
    const worker = await startWorkerd([
      { name: 'worker.js', file: path.join(here, 'workerd/worker.js'), type: 'esModule' },
      { name: 'simdnn.js', file: path.join(root, 'dist/bundle/index.js'), type: 'esModule' },
      { name: 'train-hash.mjs', file: path.join(here, 'train-hash.mjs'), type: 'esModule' },
      { name: 'simdnn.wasm', file: path.join(root, 'build/simdnn.wasm'), type: 'wasm' },
    ]);
    try {
      const res = await fetch(`${worker.url}/train-hash`, { signal: AbortSignal.timeout(60_000) });
      const body = await res.json();
      expect(res.status, JSON.stringify(body)).toBe(200);
      record('workerd 1t', body, 1);
      // the bundle loads there although modules have no URL; only the default wasm lookup fails, clearly
      const noWasm = await (await fetch(`${worker.url}/no-wasm`, { signal: AbortSignal.timeout(30_000) })).json();
      expect(noWasm.error).toMatch(/gives modules no URL.*pass it as options\.wasm/);
    } finally {
      await worker.stop();
    }
  });

  afterAll(() => {
    rmSync(denoDir, { recursive: true, force: true });
    const rows = Object.entries(runs);
    console.log(`same-bits hashes (SHA-256 of the parameters after 50 Adam steps):\n${rows.map(([n, r]) => `  ${n.padEnd(12)} mlp ${r.mlp}  conv ${r.conv}`).join('\n')}`);
  });

  it('all hashes are equal', () => {
    const rows = Object.entries(runs);
    // every host above that ran: 2 Node + 2 Bun + 2 Deno + 2 Chromium + 1 workerd
    expect(rows.length).toBe(runtimes.filter((r) => r.cmd !== null).length * 2 + 3);
    const [first] = rows;
    for (const [name, r] of rows) {
      expect({ name, mlp: r.mlp, conv: r.conv, predicted: r.predicted, fitted: r.fitted }).toEqual({ name, mlp: first[1].mlp, conv: first[1].conv, predicted: first[1].predicted, fitted: first[1].fitted });
    }
  });
});
