// The `simdnn` command line: main(argv) and the table of commands. Each
// command is one file in this directory exporting a Command; adding one is a
// file plus a line in COMMANDS. The bin is src/node/cli.ts.
import { createRequire } from 'node:module';
import { commandHelp, parseOptions, UsageError, type CliIO, type Command } from './command.js';
import { infoCommand } from './info.js';
import { exportCommand } from './export.js';
import { predictCommand } from './predict.js';
import { trainCommand } from './train.js';
import { lrFindCommand } from './lr-find.js';
import { experimentCommand } from './experiment.js';
import { searchCommand } from './search.js';
import { workerCommand } from './worker.js';

export { UsageError, type CliIO, type Command, type CommandContext, type OptionSpec, type Output } from './command.js';
export { parseTrainArgs, type TrainReport, type TrainSettings } from './train.js';
export type { PredictReport, PredictionsReport } from './predict.js';
export type { ExportReport } from './export.js';

/** Every `simdnn <command>`, in the order the help lists them. */
export const COMMANDS: readonly Command[] = [
  trainCommand,
  lrFindCommand,
  predictCommand,
  infoCommand,
  exportCommand,
  experimentCommand,
  searchCommand,
  workerCommand,
];

function version(): string {
  // by the package's own name: the module runs from dist/node/cli/ and, bundled, from dist/bundle/
  return (createRequire(import.meta.url)('simdnn/package.json') as { version: string }).version;
}

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return `Usage: simdnn <command> [options]

Deep learning on WebAssembly SIMD kernels.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)} ${c.summary}`).join('\n')}

Global options:
  -h, --help   show this help
  --version    print the version

Run 'simdnn <command> --help' for a command's options.
`;
}

/** Options of main() beyond the streams. */
export interface MainOptions {
  /** Aborts a running command (the bin aborts it on SIGINT/SIGTERM with the signal's name as reason). */
  signal?: AbortSignal;
}

/**
 * Runs the command line `argv` (without node and the script) and resolves to
 * the exit code: 0 done, 1 error, 2 bad command line, 130/143 interrupted.
 * Never throws; messages go to `io.stderr`. Everything a command allocates
 * (runtime, workers, tensors) is released before it resolves.
 */
export async function main(argv: readonly string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }, options: MainOptions = {}): Promise<number> {
  const [name, ...rest] = argv;
  const command = COMMANDS.find((c) => c.name === name);
  const names = COMMANDS.map((c) => c.name).join(', ');
  try {
    if (name === '-h' || name === '--help' || name === 'help') {
      // `simdnn help train` is `simdnn train --help`, as git and npm read it
      const about = name === 'help' && rest.length > 0 ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
      if (name === 'help' && rest.length > 0 && !about) throw new UsageError(`help: unknown command '${rest[0]}' (expected ${names})`);
      io.stdout.write(about ? commandHelp(about) : help());
      return 0;
    }
    if (name === '--version') {
      io.stdout.write(`${version()}\n`);
      return 0;
    }
    if (name === undefined) throw new UsageError(`no command given (expected ${names})`);
    if (!command) throw new UsageError(`unknown command '${name}' (expected ${names})`);
    const { values, positionals } = parseOptions(command, rest);
    if (values.help) {
      io.stdout.write(commandHelp(command));
      return 0;
    }
    return await command.run({ values, positionals, io, signal: options.signal ?? new AbortController().signal });
  } catch (e) {
    if (e instanceof UsageError) {
      const hint = command ? `simdnn ${command.name} --help` : 'simdnn --help';
      io.stderr.write(`simdnn: ${e.message}\nRun '${hint}' for usage.\n`);
      return 2;
    }
    io.stderr.write(`simdnn: error: ${(e as Error).message}\n`);
    return 1;
  }
}
