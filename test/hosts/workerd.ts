// Runs a module worker in workerd (the npm package's binary) on 127.0.0.1:
// writes a config naming each module into a temp dir with copies of the files,
// serves it on a free port and stops it on request.
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, startService, type Service } from './serve.js';

/** The workerd binary the npm package installed. */
export const WORKERD = path.join(path.dirname(createRequire(import.meta.url).resolve('workerd/package.json')), 'bin', 'workerd');

export interface WorkerModule {
  /** Module name the worker imports (./name). */
  name: string;
  /** File to embed. */
  file: string;
  /** How workerd presents it: an ES module, a compiled WebAssembly.Module, or bytes (ArrayBuffer). */
  type: 'esModule' | 'wasm' | 'data';
}

export interface RunningWorker { url: string; service: Service; stop(): Promise<void> }

/** Serves a worker whose first module is the entry; resolves once it answers. */
export async function startWorkerd(modules: WorkerModule[], { timeoutMs = 30_000 } = {}): Promise<RunningWorker> {
  const dir = await mkdtemp(path.join(tmpdir(), 'simdnn-workerd-'));
  const port = await freePort();
  for (const m of modules) await copyFile(m.file, path.join(dir, m.name));
  await writeFile(path.join(dir, 'config.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .mainWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const mainWorker :Workerd.Worker = (
  modules = [
${modules.map((m) => `    (name = "${m.name}", ${m.type} = embed "${m.name}"),`).join('\n')}
  ],
  compatibilityDate = "2025-01-01",
);
`);
  const url = `http://127.0.0.1:${port}`;
  let service: Service;
  try {
    service = await startService(WORKERD, ['serve', 'config.capnp'], `${url}/__ping`, { cwd: dir, timeoutMs });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url,
    service,
    stop: async () => { await service.stop(); await rm(dir, { recursive: true, force: true }); },
  };
}
