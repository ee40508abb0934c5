// `simdnn search`: a hyper-parameter study, the book's random search by
// default (lr = 10^U(−6, −2), weight decay = 10^U(−8, −4), MultiLayerNet
// 784-[100×6]-10, SGD, batch 100, 500 digits with 20% for validation), or on
// a CSV table (--data file.csv --label COLUMN).
// Trials run on local worker threads, or with --queue as BullMQ jobs on Redis
// for `simdnn worker`s anywhere. Every result goes to a JSON-lines file as it
// comes; running the same study again resumes it from that file (and, with
// --queue, from Redis). The best trials print as a table.
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resultKey, resumeFrom } from '../../search/resume.js';
import { hyperparameterSearch, type Executor, type ScoredResult, type SearchResult } from '../../search/search.js';
import { checkSpace, isDimension, logUniform, type SearchSpace } from '../../search/space.js';
import { checkSpaceSettings, MAX_TRIAL_TIMEOUT_MS, type DataSpec } from '../../search/trial.js';
import { searchChart } from '../../search/charts.js';
import { optimizerNames } from '../../optim/registry.js';
import { createRuntime } from '../runtime.js';
import { BOOK_SEARCH_DATA, rowsBeyond, trainingRowsUpTo } from '../search/data.js';
import { localExecutor } from '../search/local.js';
import { DEFAULT_QUEUE_NAME, queueExecutor, refusedFinish } from '../search/queue.js';
import { redisConnection, shownUrl } from '../search/redis-connection.js';
import { ResultsFile } from '../search/results-file.js';
import { interrupted, intValue, numberValue, oneOf, UsageError, type Command, type CommandContext, type OptionSpec, type Output } from './command.js';
import { checkDataArg, checkWritable, readCsvData, type DataKind } from './common.js';

const OPTIONS: readonly OptionSpec[] = [
  { name: 'study', value: 'name', default: 'study', help: "the study's name: its results file and its jobs' ids; run it again to resume" },
  { name: 'trials', value: 'n', default: '100', help: 'configurations to try' },
  { name: 'epochs', value: 'n', default: '50', help: 'epochs of a full trial' },
  { name: 'seed', value: 'n', default: '1', help: "study seed: trial i's settings, initialisation and batches depend on (seed, i) only" },
  { name: 'lr', value: 'lo,hi', default: '1e-6,1e-2', help: 'learning rate range, sampled log-uniformly' },
  { name: 'weight-decay', value: 'lo,hi', default: '1e-8,1e-4', help: "weight decay range, sampled log-uniformly: the net's L2 λ (the book's), with --optimizer adamw its decoupled decay instead" },
  { name: 'hidden', value: 'n,n,...', default: '100,100,100,100,100,100', help: 'hidden layer sizes' },
  { name: 'optimizer', value: 'name', default: 'sgd', help: optimizerNames.join(', ') },
  { name: 'batch', value: 'n', default: '100', help: 'mini-batch size' },
  { name: 'space', value: 'file', help: 'a JSON search space ({"lr": {"kind": "logUniform", "low": 1e-6, "high": 1e-2}, "hidden": [50, 50], ...}; kinds logUniform, uniform, int, choice {"kind": "choice", "values": [...]}, or a fixed value); replaces --lr, --weight-decay, --hidden, --optimizer, --batch (refused beside it: set them in the file, as lr, weightDecay, hidden, optimizer, batchSize; also hiddenSize, hiddenLayers, activation, init, dropout, batchnorm and the optimizers\' own, e.g. momentum)' },
  { name: 'data', value: 'mnist|dir|file', default: 'mnist', help: "'mnist' (the bundled digits' training part), an IDX directory (its training part) or a CSV file (gzipped or not; a header row names the columns, every column but --label's a numeric feature, standardized with statistics of the training rows only); with --queue the workers read the path on their machines" },
  { name: 'label', value: 'column', help: "with a CSV --data (required there): the column of class labels, by its header name" },
  { name: 'rows', value: 'n', help: "rows used, the data's first n (default: 500 digits or IDX rows, the book's; every row of a CSV table); more than the data holds is refused" },
  { name: 'validation', value: 'share', default: '0.2', help: 'share of those rows held out for validation' },
  { name: 'scheduler', value: 'name', default: 'none', help: "'none' (every trial runs all epochs) or 'asha' (asynchronous successive halving stops poor trials early)" },
  { name: 'eta', value: 'x', default: '3', help: "ASHA's reduction factor: each rung keeps the best 1/eta" },
  { name: 'min-epochs', value: 'n', default: '1', help: "ASHA's first rung" },
  { name: 'parallel', value: 'n', help: 'ASHA: jobs in flight, which fixes its decisions (default: --workers, or 8 with --queue)' },
  { name: 'trial-timeout', value: 's', help: "stop a trial still running this long after its worker started it (the worker is replaced) and record it as timed out, with the epochs it completed; with --queue it goes in each job and the workers enforce it (default: no limit)" },
  { name: 'workers', value: 'n', help: 'local worker threads (default: one per core)' },
  { name: 'queue', value: 'url', help: 'run trials as BullMQ jobs on this Redis (redis://[USER:PASSWORD@]HOST:PORT[/DB], rediss:// for TLS), for `simdnn worker`s to take' },
  { name: 'queue-name', value: 'name', default: DEFAULT_QUEUE_NAME, help: 'BullMQ queue name (the workers must use the same)' },
  { name: 'connect-timeout', value: 's', default: '30', help: 'with --queue: give up when Redis cannot be reached for this long at the start (later outages are waited out)' },
  { name: 'out', value: 'file', help: "results, one JSON line per finished job (default: <study>.jsonl); an existing file resumes the study; one search at a time writes it (<file>.lock)" },
  { name: 'top', value: 'n', default: '10', help: 'best trials to print' },
  { name: 'chart', value: 'file', help: 'write the charts (best validation accuracy so far over trials; lr x weight decay coloured by validation accuracy): to a .svg file (needs the npm packages vega and vega-lite), or their Vega-Lite spec to a .json file' },
  { name: 'json', help: 'print the summary as one JSON object' },
  { name: 'quiet', help: 'no progress on stderr' },
];

function get(values: CommandContext['values'], name: string): string {
  const v = values[name];
  return typeof v === 'string' ? v : OPTIONS.find((o) => o.name === name)!.default!;
}

function range(flag: string, text: string): [number, number] {
  const parts = text.split(',');
  if (parts.length !== 2) throw new UsageError(`--${flag}: expected lo,hi, got '${text}'`);
  const [lo, hi] = parts.map((p) => numberValue(flag, p.trim()));
  if (!(lo > 0 && lo <= hi)) throw new UsageError(`--${flag}: expected 0 < lo <= hi, got '${text}'`);
  return [lo, hi];
}

/** The flags a --space file replaces. */
const SPACE_FLAGS = ['lr', 'weight-decay', 'hidden', 'optimizer', 'batch'];

async function spaceOf(values: CommandContext['values']): Promise<SearchSpace> {
  if (typeof values.space === 'string') {
    const replaced = SPACE_FLAGS.find((flag) => values[flag] !== undefined);
    if (replaced) throw new UsageError(`--${replaced}: not with --space (the space file replaces it: set it there)`);
    let space: SearchSpace;
    try {
      space = JSON.parse(await readFile(values.space, 'utf8')) as SearchSpace;
    } catch (e) {
      throw new UsageError(`--space: cannot read ${values.space} as JSON (${(e as Error).message})`);
    }
    if (typeof space === 'object' && space !== null && Object.keys(space).length === 0) throw new UsageError(`--space: ${values.space} holds no setting, so nothing is searched (e.g. {"lr": {"kind": "logUniform", "low": 1e-6, "high": 1e-2}})`);
    // the settings too (names, fixed values), as the search would refuse them after its first line
    try { checkSpace(space); checkSpaceSettings(space); } catch (e) { throw new UsageError(`--space: ${(e as Error).message}`); }
    return space;
  }
  const hidden = get(values, 'hidden').split(',').map((n) => intValue('hidden', n.trim(), 1));
  return {
    lr: logUniform(...range('lr', get(values, 'lr'))),
    weightDecay: logUniform(...range('weight-decay', get(values, 'weight-decay'))),
    hidden,
    optimizer: oneOf('optimizer', get(values, 'optimizer'), optimizerNames),
    batchSize: intValue('batch', get(values, 'batch'), 1),
  };
}

/**
 * The DataSpec of --data, --label, --rows and --validation. The trials run where the workers are: with --queue,
 * --data is a path on their machines, which they read by the rule checkDataArg applies here without --queue (a
 * directory is IDX files, a file a CSV table); there --label tells a table, and the workers refuse a mismatch.
 */
async function dataSpecOf(values: CommandContext['values'], queue: boolean, validation: number): Promise<DataSpec> {
  const source = get(values, 'data');
  const label = typeof values.label === 'string' ? values.label : undefined;
  const kind: DataKind = queue ? (source === 'mnist' ? 'mnist' : label !== undefined ? 'csv' : 'idx') : await checkDataArg(source);
  if (kind === 'csv' && label === undefined) throw new UsageError('--label: required with a CSV --data: the column of class labels, by its header name');
  if (kind !== 'csv' && label !== undefined) throw new UsageError("--label: only a CSV --data takes it (the digits' and IDX files' labels are their own)");
  if (label === '') throw new UsageError('--label: the column name is empty');
  const given = typeof values.rows === 'string' ? values.rows : undefined;
  const rows = given !== undefined ? intValue('rows', given, 2) : kind === 'csv' ? undefined : BOOK_SEARCH_DATA.rows as number;
  if (kind === 'csv' && !queue) await checkTable(source, label!, rows);
  if (kind !== 'csv' && !queue) await checkTrainingPart(kind, source, rows!, given !== undefined);
  return { source, ...(rows !== undefined ? { rows } : {}), validation, splitSeed: 1, ...(label !== undefined ? { label } : {}) };
}

/**
 * A CSV --data read once here, before the results file and the trials: a --label that names no column, a bad cell
 * or --rows beyond the table is said at once in the command's terms (the trials' threads read it again).
 */
async function checkTable(file: string, label: string, rows: number | undefined): Promise<void> {
  const rt = await createRuntime({ threads: 1 });
  try {
    const table = await readCsvData(rt, 'data', file, { label });
    const n = table.x.shape[0];
    table.x.dispose();
    table.t.dispose();
    if (rows !== undefined && rows > n) throw new UsageError(`--rows: ${rows} is more than the ${n} rows of '${file}'`);
  } finally {
    await rt.dispose();
  }
}

/**
 * The training part of the digits or of an IDX --data read here, before the results file and the trials: --rows
 * (or its default, the book's 500) beyond it is said at once in the command's terms, as checkTable says it of a
 * table (the loaders would keep fewer rows, which the trials' threads refuse).
 */
async function checkTrainingPart(kind: 'mnist' | 'idx', source: string, rows: number, given: boolean): Promise<void> {
  const rt = await createRuntime({ threads: 1 });
  try {
    const held = await trainingRowsUpTo(rt, kind, source, rows);
    if (held < rows) throw new UsageError(`--rows: ${rowsBeyond(rows, held, kind, source)}${given ? '' : " (the book's, the default: give --rows)"}`);
  } finally {
    await rt.dispose();
  }
}

/** Progress on stderr: a redrawn line on a TTY, else a line per result. */
function progress(out: Output, enabled: boolean) {
  let best: ScoredResult | null = null;
  return (r: ScoredResult, p: { done: number; total: number | null }) => {
    if (!enabled) return;
    if (r.status === 'ok' && (!best || r.objective > best.objective)) best = r;
    const count = p.total ? `${p.done}/${p.total}` : `${p.done}`;
    const bar = p.total ? `[${'#'.repeat(Math.round((16 * p.done) / p.total)).padEnd(16, '.')}] ` : '';
    const what = r.status === 'ok' ? `valAcc ${r.history.at(-1)!.valAcc.toFixed(4)}` : r.status === 'timeout' ? r.error : `failed (${r.error})`;
    const text = `${bar}${count} trial ${r.index} (${r.epochs} epochs) ${what}, ${r.seconds.toFixed(1)} s on ${r.worker}` +
      `${best ? ` | best ${best.objective.toFixed(4)} (trial ${best.index})` : ''}`;
    if (out.isTTY) out.write(`\r${text.slice(0, (out.columns || 80) - 1)}\x1b[K`);
    else out.write(`${text}\n`);
  };
}

function fmt(v: unknown): string {
  if (v === undefined) return '-'; // a parameter its trial's optimizer does not take (trialSettings)
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toExponential(3);
  return JSON.stringify(v);
}

/** The settings a space samples (the others are fixed). */
function sampled(space: SearchSpace): string[] {
  return Object.entries(space).filter(([, d]) => isDimension(d)).map(([k]) => k);
}

/** The best `top` trials as a table; columns for the settings that vary. */
export function bestTable(result: SearchResult, space: SearchSpace, top: number): string {
  const varied = sampled(space);
  const header = ['rank', 'trial', 'valAcc', 'trainAcc', 'valLoss', 'epochs', ...varied, 'worker'];
  const rows = result.best.slice(0, top).map((r, i) => {
    const last = r.history.at(-1);
    return [String(i + 1), String(r.index), last?.valAcc.toFixed(4) ?? '-', last?.trainAcc.toFixed(4) ?? '-', last?.valLoss.toFixed(4) ?? '-',
      r.status === 'ok' ? String(r.history.length) : r.status, ...varied.map((k) => fmt(r.settings[k])), r.worker];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  return [header, ...rows].map((row) => row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n') + '\n';
}

/** --connect-timeout (seconds > 0, search's and worker's) in ms. */
export function connectTimeoutMs(text: string): number {
  const seconds = numberValue('connect-timeout', text);
  if (!(seconds > 0)) throw new UsageError(`--connect-timeout: expected a number of seconds > 0, got ${seconds}`);
  return seconds * 1000;
}

/** --trial-timeout (seconds > 0, at most what a timer holds) in ms. */
function trialTimeoutMs(text: string): number {
  const seconds = numberValue('trial-timeout', text);
  const max = MAX_TRIAL_TIMEOUT_MS / 1000;
  if (!(seconds > 0 && seconds <= max)) throw new UsageError(`--trial-timeout: expected a number of seconds in (0, ${max}] (about 24.8 days), got ${text}`);
  return seconds * 1000;
}

async function search({ values, io, signal }: CommandContext): Promise<number> {
  const stdout = unbroken(io.stdout);
  const stderr = unbroken(io.stderr);
  const study = get(values, 'study');
  if (!/^[\w.-]{1,100}$/.test(study)) throw new UsageError(`--study: expected 1 to 100 letters, digits, '_', '.', '-', got '${study}'`);
  const space = await spaceOf(values);
  const validation = numberValue('validation', get(values, 'validation'));
  if (!(validation > 0 && validation < 1)) throw new UsageError(`--validation: expected a share in (0, 1), got ${validation}`);
  const scheduler = oneOf('scheduler', get(values, 'scheduler'), ['none', 'asha'] as const);
  const workers = typeof values.workers === 'string' ? intValue('workers', values.workers, 1) : undefined;
  const queue = typeof values.queue === 'string' ? values.queue : undefined;
  if (queue && workers !== undefined) throw new UsageError('--workers: with --queue the workers are `simdnn worker` processes; give one or the other');
  if (queue) {
    try { redisConnection(queue); } catch (e) { throw new UsageError(`--queue: ${(e as Error).message}`); }
  }
  if (!queue && typeof values['connect-timeout'] === 'string') throw new UsageError('--connect-timeout: only with --queue');
  const connectTimeout = connectTimeoutMs(get(values, 'connect-timeout'));
  const asha = scheduler === 'asha';
  for (const flag of ['parallel', 'eta', 'min-epochs']) {
    if (values[flag] !== undefined && !asha) throw new UsageError(`--${flag}: only with --scheduler asha`);
  }
  const parallel = typeof values.parallel === 'string' ? intValue('parallel', values.parallel, 1) : undefined;
  const epochs = intValue('epochs', get(values, 'epochs'), 1);
  const eta = numberValue('eta', get(values, 'eta'));
  if (!(eta >= 2)) throw new UsageError(`--eta: expected a number >= 2 (each rung keeps the best 1/eta), got ${eta}`);
  const trialTimeout = typeof values['trial-timeout'] === 'string' ? trialTimeoutMs(values['trial-timeout']) : undefined;
  const data = await dataSpecOf(values, queue !== undefined, validation);
  const options = {
    study,
    space,
    trials: intValue('trials', get(values, 'trials'), 1),
    epochs,
    seed: intValue('seed', get(values, 'seed'), 0, 0xffffffff),
    data,
    scheduler,
    ...(trialTimeout !== undefined ? { trialTimeoutMs: trialTimeout } : {}),
    ...(asha ? {
      asha: {
        reductionFactor: eta,
        minEpochs: intValue('min-epochs', get(values, 'min-epochs'), 1, epochs),
        parallel: parallel ?? (queue ? 8 : undefined),
      },
    } : {}),
  };
  const out = typeof values.out === 'string' ? values.out : `${study}.jsonl`;
  const top = intValue('top', get(values, 'top'), 0);
  const quiet = values.quiet === true;
  if (out.trim() === '') throw new UsageError('--out: the path is empty');
  if (!(await stat(path.dirname(path.resolve(out))).then((st) => st.isDirectory(), () => false))) throw new UsageError(`--out: the directory of '${out}' does not exist`);
  const chart = typeof values.chart === 'string' ? values.chart : undefined;
  const chartKind = chart !== undefined ? path.extname(chart).toLowerCase() : undefined;
  if (chartKind !== undefined && chartKind !== '.svg' && chartKind !== '.json') throw new UsageError(`--chart: expected a file ending in .svg (the charts) or .json (their Vega-Lite spec), got '${chart}'`);
  if (chart !== undefined) await checkWritable('chart', chart);
  // vega loads only when an SVG is drawn, and before the trials: a missing package is said at once, not after them
  const renderSvg = chartKind === '.svg' ? await (await import('../charts.js')).svgRenderer() : null;
  let results: ResultsFile;
  try {
    results = await ResultsFile.open(out);
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`--out: ${e.message}`);
    throw e;
  }
  try {
    for (const note of results.notes) stderr.write(`simdnn search: ${note}\n`);
    if (sampled(space).length === 0) stderr.write('simdnn search: warning: --space samples no setting (every value is fixed): the trials differ only in their seeds\n');
    let inner: Executor;
    try {
      inner = queue
        ? await queueExecutor({
          url: queue, name: get(values, 'queue-name'), connectTimeoutMs: connectTimeout, signal, onError: quiet ? undefined : retryReporter(stderr, 'simdnn'),
          onForcedStop: () => stderr.write(`simdnn search: ${notAnswering(queue)} (the jobs no worker has taken stay in the queue)\n`),
        })
        : localExecutor({ workers });
    } catch (e) {
      if (!signal.aborted) throw e;
      stderr.write(`simdnn search: stopped (${String(signal.reason)}) while connecting to ${shownUrl(queue!)}\n`);
      return interrupted(signal);
    }
    return await run(inner);
  } finally {
    await results.close();
  }

  async function run(inner: Executor): Promise<number> {
    const stored = results.results;
    const executor = resumeFrom(inner, stored);
    const written = new Set(stored.map(resultKey));
    if (!quiet) {
      stderr.write(`simdnn search: study '${study}', ${options.trials} trials x ${options.epochs} epochs${scheduler === 'asha' ? ' (ASHA)' : ''}, ` +
        `${queue ? `queue ${shownUrl(queue)}` : `${inner.concurrency} local worker${inner.concurrency === 1 ? '' : 's'}`}, results in ${out}` +
        `${stored.length ? ` (resuming: ${stored.length} stored)` : ''}\n`);
    }
    const show = progress(stderr, !quiet);
    let writes = Promise.resolve();
    let failure: Error | null = null;
    // interrupted, or the file cannot take a result: stop waiting at once (jobs in a queue stay there; the study resumes from what is stored)
    const halt = new AbortController();
    const stop = (reason: unknown) => {
      if (halt.signal.aborted) return;
      halt.abort(reason);
      void executor.close();
    };
    const onSignal = () => stop(signal.reason);
    signal.addEventListener('abort', onSignal, { once: true });
    let result: SearchResult | null = null;
    try {
      result = await hyperparameterSearch({
        ...options,
        executor,
        signal: halt.signal,
        onResult: (r, p) => {
          const { objective: _o, rung: _r, ...plain } = r;
          // stored before it is shown: a closed stderr or a kill loses no result
          writes = writes.then(async () => {
            if (failure) return;
            if (!written.has(resultKey(r))) {
              try {
                await results.append(plain);
              } catch (e) {
                failure = e as Error;
                stop(failure);
                return;
              }
              written.add(resultKey(r));
            }
            show(r, p);
          });
        },
      });
    } catch (e) {
      if (!halt.signal.aborted) throw e;
    } finally {
      signal.removeEventListener('abort', onSignal);
      await executor.close();
      await writes;
      if (stderr.isTTY && !quiet) stderr.write('\n');
    }
    if (failure) throw new Error(`cannot append a result to ${out} (${(failure as Error).message}); the search stopped with ${written.size} results in it: run the same command to resume`);
    if (!result) {
      stderr.write(`simdnn search: stopped (${String(signal.reason)}); ${written.size} results in ${out}; run the same command to resume\n`);
      return interrupted(signal);
    }
    if (values.json === true) {
      stdout.write(`${JSON.stringify({ study, trials: result.trials.length, failed: result.failed, timedOut: result.timedOut, epochsSpent: result.epochsSpent, epochsStored: result.epochsStored, seconds: result.seconds, best: result.best.slice(0, top) })}\n`);
    } else {
      stdout.write(bestTable(result, space, top));
      stdout.write(`${result.trials.length} trials (${result.failed} failed${result.timedOut ? `, ${result.timedOut} timed out` : ''}), ${result.epochsSpent} epochs trained${result.epochsStored ? ` (${result.epochsStored} more stored)` : ''}, ${result.seconds.toFixed(1)} s\n`);
    }
    // after the results are printed: a chart that cannot be written (checked at the start) loses none of them
    if (chart !== undefined) {
      const spec = searchChart(result, { space });
      const text = renderSvg ? await renderSvg(spec) : JSON.stringify(spec, null, 2);
      try {
        await writeFile(chart, text);
      } catch (e) {
        throw new Error(`--chart: cannot write '${chart}' (${(e as Error).message}); the results are in ${out}`, { cause: e });
      }
    }
    return 0;
  }
}

/** What a command says when it stops without waiting for Redis (it answered no PING within STOP_GRACE_MS). */
export function notAnswering(url: string): string {
  return `Redis at ${shownUrl(url)} is not answering: stopping without waiting for it`;
}

/**
 * Connection errors on stderr (ioredis retries them), each message at most
 * once every 5 s: a Redis that is away does not flood the log. A worker's
 * completion BullMQ refused (refusedFinish) is never retried: it says why.
 */
export function retryReporter(out: Output, prefix: string): (e: Error) => void {
  const last = new Map<string, number>();
  return (e) => {
    const t = Date.now();
    for (const [message, at] of last) if (t - at >= 5000) last.delete(message);
    if (last.has(e.message)) return;
    last.set(e.message, t);
    const what = refusedFinish(e)
      ? "this run's result is dropped, not retried: the job's lock had expired and the job went back to the queue; the run holding it stores the trial's result"
      : 'retrying';
    out.write(`${prefix}: queue: ${e.message} (${what})\n`);
  };
}

const closedOutputs = new WeakSet<Output>();
const watchedOutputs = new WeakSet<Output>();

/**
 * `out`, writing nothing once it is a closed pipe (`simdnn search | head -1`):
 * EPIPE stops the printing, not the command.
 */
export function unbroken(out: Output): Output {
  const stream = out as Output & { on?: (event: 'error', listener: (e: NodeJS.ErrnoException) => void) => unknown };
  if (typeof stream.on === 'function' && !watchedOutputs.has(out)) {
    watchedOutputs.add(out);
    // kept for the stream's life: the error of a write comes after it, maybe after the command has returned
    stream.on('error', (e) => {
      if (e.code !== 'EPIPE' && !closedOutputs.has(out)) throw e;
      closedOutputs.add(out);
    });
  }
  return {
    write: (text) => closedOutputs.has(out) || out.write(text),
    get isTTY() { return out.isTTY; },
    get columns() { return out.columns; },
  };
}

/** `simdnn search`. */
export const searchCommand: Command = {
  name: 'search',
  summary: 'hyper-parameter search: local worker threads, or BullMQ jobs on Redis with --queue',
  description: "Random search over hyper-parameters, as the book's hyperparameter_optimization.py (by default\n" +
    'its space, net and data). Results stream to a JSON-lines file; running the same --study again\n' +
    'resumes it. With --queue, trials are BullMQ jobs that `simdnn worker` processes run on any machine.\n' +
    'On a CSV table (--data file.csv --label COLUMN) each trial\'s net takes its feature and class counts.',
  options: OPTIONS,
  examples: [
    'simdnn search --trials 100 --epochs 50',
    'simdnn search --scheduler asha --study book-asha',
    'simdnn search --data iris.csv --label species --hidden 16 --study iris',
    'simdnn search --queue redis://10.0.0.5:6379 --study big --trials 1000',
  ],
  run: search,
};
