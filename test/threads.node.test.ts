// Node-only: a runtime with threads, never disposed, must not keep the process
// alive (the workers are unref'd once ready), and the workers must be ready
// when createRuntime resolves (a top-level await would otherwise end the
// process before they are). Checked in a child process on the runtime's
// sources, transpiled here (Node 20 cannot run .ts).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
let dir = '';

/** Transpiles src/runtime/*.ts and src/node/{runtime,builtins}.ts into dir/src, keeping the layout (imports are relative .js). */
async function transpile(): Promise<void> {
  const files = [...(await readdir(path.join(root, 'src/runtime'))).filter((f) => f.endsWith('.ts')).map((f) => `src/runtime/${f}`), 'src/node/runtime.ts', 'src/node/builtins.ts'];
  for (const file of files) {
    const source = await readFile(path.join(root, file), 'utf8');
    const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } });
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file.replace(/\.ts$/, '.js')), outputText);
  }
  await writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
  // bare imports (@assemblyscript/loader) and the packaged wasm resolve as from the repo
  await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  await symlink(path.join(root, 'build'), path.join(dir, 'build'));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'simdnn-threads-'));
  await transpile();
});
afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

describe('threads in a Node process', () => {
  it('an idle pool lets the process exit without dispose()', () => {
    const script = `
      import { createRuntime } from './src/node/runtime.js';
      const rt = await createRuntime({ threads: 2 });
      const n = 256;
      const a = rt.tensor([n, n]), c = rt.tensor([n, n]);
      rt.uniform(a, -1, 1);
      rt.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
      console.log(JSON.stringify({ threads: rt.features.threads, notes: rt.features.notes, jobs: rt.threadStats().jobs, c0: c.data[0] }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(child.error, 'the process did not exit by itself').toBeUndefined();
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const out = JSON.parse(child.stdout);
    expect(out).toMatchObject({ threads: 2, notes: [], jobs: 1 });
    expect(out.c0).toBeGreaterThan(0); // row 0 of a·aᵀ at (0, 0) is a sum of squares
  });

  it('the default lazy pool: a process that starts it (in the background) still exits by itself, and the pool comes up', () => {
    const script = `
      import { createRuntime } from './src/node/runtime.js';
      const rt = await createRuntime();
      const n = 256;
      const a = rt.tensor([n, n]), c = rt.tensor([n, n]);
      rt.uniform(a, -1, 1);
      // 2^24 multiply-adds a call: 8 of them start the pool (2^27), all run here
      for (let i = 0; i < 8; i++) rt.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
      const before = rt.features.threads;
      await rt.ready;
      rt.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
      console.log(JSON.stringify({ before, threads: rt.features.threads, notes: rt.features.notes, jobs: rt.threadStats().jobs }));
      rt.unsafeGemm(0, 1, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(child.error, 'the process did not exit by itself').toBeUndefined();
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const cores = os.availableParallelism();
    expect(JSON.parse(child.stdout)).toEqual({ before: 1, threads: cores, notes: [], jobs: cores > 1 ? 1 : 0 });
  });

  it('the default lazy pool, not started by a little work: the process exits, with no worker', () => {
    const script = `
      import { createRuntime } from './src/node/runtime.js';
      const rt = await createRuntime();
      const n = 256; // big enough to split, too little work to start the pool
      const a = rt.tensor([n, n]), c = rt.tensor([n, n]);
      rt.unsafeGemm(0, 0, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n);
      await rt.ready;
      console.log(JSON.stringify({ threads: rt.features.threads, shared: rt.memory.buffer instanceof SharedArrayBuffer }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ threads: 1, shared: os.availableParallelism() > 1 });
  });

  it('the packaged build is the one the thread host calls for: a host of 1 core gets the single-threaded build', async () => {
    // Node's createRuntime once guessed the build from os cores, not the host's: this host made it load the wrong one
    const { createRuntime, nodeThreadHost } = await import('../src/node/runtime.js');
    const rt = await createRuntime({ threadHost: { ...nodeThreadHost, cores: () => 1 } });
    try {
      expect(rt.features).toMatchObject({ threads: 1, notes: [] });
      expect(rt.memory.buffer instanceof SharedArrayBuffer).toBe(false);
      const a = rt.tensor([2, 2], [1, 2, 3, 4]), c = rt.tensor([2, 2]);
      rt.unsafeGemm(0, 0, 2, 2, 2, a.ptr, 2, a.ptr, 2, c.ptr, 2);
      expect([...c.data]).toEqual([7, 10, 15, 22]);
    } finally {
      rt.dispose();
    }
  });
});
