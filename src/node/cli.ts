#!/usr/bin/env node
// The `simdnn` bin: runs main() on the process's arguments. Programs import
// `simdnn/cli` (src/node/cli/index.ts), which runs nothing on import; the bin
// loads the same module bundled into one file (dist/bundle/cli.js, made by
// scripts/bundle.mjs), which starts every command ~0.15 s sooner.
// SIGINT/SIGTERM abort the running command (train saves its last completed
// epoch and exits 130/143); a second signal exits at once.
const { main } = (await import(new URL('../bundle/cli.js', import.meta.url).href)) as typeof import('./cli/index.js');

const EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };
const controller = new AbortController();
const onSignal = (name: NodeJS.Signals): void => {
  if (controller.signal.aborted) process.exit(EXIT[name]);
  controller.abort(name);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.exitCode = await main(process.argv.slice(2), undefined, { signal: controller.signal });
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
