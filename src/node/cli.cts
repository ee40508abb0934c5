#!/usr/bin/env node
// The `simdnn` bin: runs main() on the process's arguments. Programs import
// `simdnn/cli` (src/node/cli/index.ts), which runs nothing on import; the bin
// runs the same module bundled into one CommonJS file (dist/bundle/cli.cjs,
// made by scripts/bundle.mjs), which starts every command ~0.15 s sooner, and
// through V8's code cache (code-cache.cts, as `require('simdnn')` runs the
// core), which starts it 6–9 ms sooner again (npm run bench -- startup). The
// bin is CommonJS itself: as an ES module, Node's ES module loader took ~5 ms
// more of every command (`simdnn --help` 21.5 -> 11.9 ms with both). Functions
// read from the code cache lose import() on Node 20, so the bundle imports the
// optional packages (Vega, BullMQ, ioredis) through this file's import()
// (import-package.ts).
// SIGINT/SIGTERM abort the running command (train saves its last completed
// epoch and exits 130/143); a second signal exits at once.
import path = require('node:path');
import { loadBundle } from './code-cache.cjs';

type Main = typeof import('./cli/index.js', { with: { 'resolution-mode': 'import' } })['main'];

(globalThis as Record<symbol, unknown>)[Symbol.for('simdnn.import')] = (specifier: string): Promise<unknown> => import(specifier);
const file = path.join(__dirname, '../bundle/cli.cjs');
const { main } = loadBundle(file, module, () => require(file)).exports as { main: Main };

const EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };
const controller = new AbortController();
const onSignal = (name: NodeJS.Signals): void => {
  if (controller.signal.aborted) process.exit(EXIT[name]);
  controller.abort(name);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
void main(process.argv.slice(2), undefined, { signal: controller.signal }).then((code) => {
  process.exitCode = code;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
});
