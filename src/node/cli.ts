#!/usr/bin/env node
// The `simdnn` bin: runs main() on the process's arguments. Programs import
// `simdnn/cli` (src/node/cli/index.ts), which runs nothing on import.
import { main } from './cli/index.js';

process.exitCode = await main(process.argv.slice(2));
