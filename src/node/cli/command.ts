// What every `simdnn` command shares: the Command shape the table in index.ts
// lists, the option spec each command declares (it also writes the help text),
// the one parser (repeated flags are errors), and the usage error (exit 2).
import { parseArgs } from 'node:util';

/** Where a command writes; a TTY stderr gets a redrawn progress bar. */
export interface Output {
  /** Writes `text` as given (no newline added). */
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** The two streams a command writes to. */
export interface CliIO {
  stdout: Output;
  stderr: Output;
}

/** A bad command line: reported with a hint to the command's --help, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** One option of a command: `--name <value>`, or a switch when `value` is absent. */
export interface OptionSpec {
  name: string;
  /** Placeholder of the value, shown in the help; absent for switches. */
  value?: string;
  /** Applied when the option is absent; shown in the help. */
  default?: string;
  help: string;
  /** One-letter alias. */
  short?: string;
}

/** What a command's run() is given. */
export interface CommandContext {
  /** Option values by name: a string for valued options, true for given switches; absent when not given. */
  values: Readonly<Record<string, string | boolean | undefined>>;
  /** Arguments that are not options, in order (only for commands that declare `positionals`). */
  positionals: readonly string[];
  io: CliIO;
  /** Aborted when the process gets SIGINT/SIGTERM (reason: the signal's name); never aborted under main() alone. */
  signal: AbortSignal;
}

/**
 * One `simdnn <name>` command. `options` and `positionals` drive the parser and
 * the help; `run` resolves to the exit code (0 ok, 1 error, 2 usage, 130/143
 * interrupted) and throws a UsageError for a bad command line.
 */
export interface Command {
  name: string;
  /** One line for `simdnn --help`. */
  summary: string;
  /** What follows the options in the usage line, e.g. 'FILE'; absent: no positional arguments. */
  positionals?: string;
  /** Paragraph(s) shown between the usage line and the options. */
  description: string;
  options: readonly OptionSpec[];
  /** Example command lines for the help. */
  examples?: readonly string[];
  /** Runs the command; resolves to the exit code; throws a UsageError for a bad command line (main() prints it, exit 2). */
  run(context: CommandContext): Promise<number>;
}

/** `-h, --help`, which every command takes. */
export const HELP_OPTION: OptionSpec = { name: 'help', short: 'h', help: 'show this help' };

/**
 * Parses `args` by the command's options (and --help): unknown, repeated or
 * malformed options throw a UsageError.
 */
export function parseOptions(command: Command, args: readonly string[]): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const options = Object.fromEntries([...command.options, HELP_OPTION].map((o) => [o.name, {
    type: o.value ? 'string' as const : 'boolean' as const,
    multiple: true,
    ...(o.short ? { short: o.short } : {}),
  }]));
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: command.positionals !== undefined });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\n/g, ' '));
  }
  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, v] of Object.entries(parsed.values) as Array<[string, Array<string | boolean>]>) {
    if (v.length > 1) throw new UsageError(`--${name} is given ${v.length} times (give it once)`);
    values[name] = v[0];
  }
  return { values, positionals: parsed.positionals };
}

/** The option list of a command's help, wrapped to 100 columns. */
export function optionHelp(options: readonly OptionSpec[]): string {
  const rows = options.map((f) => {
    // "(default: x)" is never split across lines
    const words = [...f.help.split(' '), ...(f.default !== undefined ? [`(default: ${f.default})`] : [])];
    return [`  ${f.short ? `-${f.short}, ` : ''}--${f.name}${f.value ? ` <${f.value}>` : ''}`, words] as const;
  });
  const indent = Math.max(...rows.map(([a]) => a.length)) + 2;
  return rows.map(([a, words]) => {
    const lines = [''];
    for (const word of words) {
      const line = lines[lines.length - 1];
      if (line && indent + line.length + 1 + word.length > 100) lines.push(word);
      else lines[lines.length - 1] = line ? `${line} ${word}` : word;
    }
    return a.padEnd(indent) + lines.join(`\n${' '.repeat(indent)}`);
  }).join('\n');
}

/** `simdnn <name> --help`. */
export function commandHelp(command: Command): string {
  const examples = command.examples?.length ? `\nExamples:\n${command.examples.map((e) => `  ${e}`).join('\n')}\n` : '';
  return `Usage: simdnn ${command.name} [options]${command.positionals ? ` ${command.positionals}` : ''}\n\n` +
    `${command.description}\n\nOptions:\n${optionHelp([...command.options, HELP_OPTION])}\n${examples}`;
}

// ---- value parsers shared by the commands; each throws a UsageError naming the option

/** A finite decimal number (`1e400` and other overflows are rejected). */
export function numberValue(flag: string, text: string): number {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) throw new UsageError(`--${flag}: expected a number, got '${text}'`);
  const n = Number(text);
  if (!Number.isFinite(n)) throw new UsageError(`--${flag}: ${text} is out of range (not a finite number)`);
  return n;
}

/** An integer in [min, max]. */
export function intValue(flag: string, text: string, min: number, max?: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || (max !== undefined && n > max) || !Number.isSafeInteger(n)) {
    throw new UsageError(`--${flag}: expected an integer ${max === undefined ? `>= ${min}` : `in [${min}, ${max}]`}, got '${text}'`);
  }
  return n;
}

/** One of `names`, case-insensitive. */
export function oneOf<T extends string>(flag: string, text: string, names: readonly T[]): T {
  const name = text.toLowerCase() as T;
  if (!names.includes(name)) throw new UsageError(`--${flag}: unknown name '${text}' (expected one of ${names.join(', ')})`);
  return name;
}

/** The exit code of a command interrupted by `signal` (its reason: the signal's name). */
export function interrupted(signal: AbortSignal): number {
  return signal.reason === 'SIGINT' ? 130 : 143;
}
