// Node-only: the runtime's sources transpiled to plain ES modules in a temp
// directory, for tests that run it in a child process (Node 20 cannot run
// .ts): a process that exits by itself, or a scenario that would block its
// thread forever if it regressed (a vitest timeout cannot stop a thread
// blocked in Atomics.wait; a child process's timeout can).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));

/**
 * Transpiles src/runtime/*.ts and src/node/{runtime,builtins}.ts (`all`: every .ts under src/) into a temp dir,
 * keeping the layout (imports are relative .js); returns the dir.
 */
export async function transpileRuntime(all = false): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'simdnn-threads-'));
  const files = all
    ? (await readdir(path.join(root, 'src'), { recursive: true })).filter((f) => f.endsWith('.ts')).map((f) => `src/${f}`)
    : [...(await readdir(path.join(root, 'src/runtime'))).filter((f) => f.endsWith('.ts')).map((f) => `src/runtime/${f}`), 'src/node/runtime.ts', 'src/node/builtins.ts'];
  for (const file of files) {
    const source = await readFile(path.join(root, file), 'utf8');
    const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } });
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file.replace(/\.ts$/, '.js')), outputText);
  }
  await writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
  // bare imports and the packaged wasm resolve as from the repo
  await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  await symlink(path.join(root, 'build'), path.join(dir, 'build'));
  return dir;
}

/** Removes a directory made by transpileRuntime(). */
export async function removeTranspiled(dir: string): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** Runs ES module `script` with node in `dir`; kills it after `timeout` ms. */
export function runScript(dir: string, script: string, timeout = 30_000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout });
}
