#!/usr/bin/env node
// The `simdnn` bin: runs main() on the process's arguments. Programs import
// `simdnn/cli` (src/node/cli/index.ts), which runs nothing on import.
// SIGINT/SIGTERM abort the running command (train saves its last completed
// epoch and exits 130/143); a second signal exits at once.
import { main } from './cli/index.js';

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
