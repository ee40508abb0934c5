// `simdnn experiment NAME|all`: runs the chapter's experiments (src/experiments)
// on the bundled digits and writes NAME.json (every plotted number and the
// settings) and NAME.svg (the chart) per experiment; `all` also writes an
// index.html with every chart, its settings and the book's conclusion.
// The charting library is loaded here, on first use, never by the library entry.
import { constants } from 'node:fs';
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chartSpec, experimentNames, experiments, runExperiment, type ExperimentName, type ExperimentProgress, type ExperimentResult } from '../../experiments/index.js';
import type { ExperimentData } from '../../experiments/types.js';
import { loadMnist } from '../data.js';
import { createRuntime } from '../runtime.js';
import { localExecutor } from '../search/local.js';
import { intValue, UsageError, type Command } from './command.js';

/** Where the runner writes; a TTY stderr gets a progress bar redrawn in place. */
export interface ExperimentOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ExperimentRunSettings {
  /** Experiment names, or ['all']. */
  names: readonly string[];
  /** Directory for the files (made if missing). */
  out: string;
  quick: boolean;
  seed: number;
  /** Kernel threads: a count, or 'auto' (the runtime's default). The numbers are the same for any count. */
  threads: number | 'auto';
  /** No progress on stderr. */
  quiet?: boolean;
}

/** What one experiment wrote, and how long it ran. */
export interface ExperimentRunReport {
  name: string;
  seconds: number;
  json: string;
  svg: string;
}

/**
 * Runs the experiments and writes their files; resolves to what was written
 * (plus index.html when several were asked for, as with 'all'; when a run stops, the page shows those that
 * finished and names the rest). Throws a TypeError for an unknown name, a
 * UsageError naming --out when `out` cannot be a directory, and the signal's reason when aborted; the
 * runtime and its workers are released either way.
 */
export async function runExperimentsToDir(s: ExperimentRunSettings, stderr: ExperimentOutput, signal?: AbortSignal): Promise<ExperimentRunReport[]> {
  const all = s.names.length === 1 && s.names[0] === 'all';
  const names = all ? [...experimentNames] : [...s.names];
  for (const name of names) {
    if (!(experimentNames as readonly string[]).includes(name)) throw new TypeError(`unknown experiment '${name}' (expected all or one of ${experimentNames.join(', ')})`);
  }
  const renderSvg = await (await import('../charts.js')).svgRenderer(); // before any work: a missing vega is said at once
  await checkOutDir(s.out);
  const rt = await createRuntime({ seed: s.seed, ...(s.threads === 'auto' ? {} : { threads: s.threads }) });
  let data: ExperimentData | undefined;
  const progress = new ProgressBar(stderr, !s.quiet);
  const reports: ExperimentRunReport[] = [];
  const results: ExperimentResult[] = [];
  let stopped: string | undefined;
  try {
    if (names.some((n) => experiments.find((e) => e.name === n)!.needsData)) data = (await loadMnist(rt)) as ExperimentData;
    for (const name of names) {
      stopped = name;
      const start = performance.now();
      progress.start(name);
      // the search's trials run on worker threads, one per core (or --threads of them)
      const executor = name === 'hyperparameter-search' ? localExecutor(s.threads === 'auto' ? {} : { workers: s.threads }) : undefined;
      let result: ExperimentResult;
      try {
        // a name checked above
        result = await runExperiment(name as ExperimentName, { rt, data, quick: s.quick, seed: s.seed, signal, executor, onProgress: (p) => progress.update(p) });
      } finally {
        await executor?.close();
      }
      const seconds = (performance.now() - start) / 1000;
      const json = path.join(s.out, `${name}.json`);
      const svg = path.join(s.out, `${name}.svg`);
      await writeFile(json, `${JSON.stringify(result, null, 1)}\n`);
      await writeFile(svg, await renderSvg(chartSpec(result)));
      progress.done(name, seconds, svg);
      reports.push({ name, seconds, json, svg });
      results.push(result);
    }
    stopped = undefined;
  } finally {
    progress.finish();
    if (data) for (const t of [data.xTrain, data.tTrain, data.xTest, data.tTest]) t.dispose();
    await rt.dispose();
    if (names.length > 1 && results.length > 0) {
      const index = path.join(s.out, 'index.html');
      if (stopped === undefined) await writeFile(index, indexHtml(results, reports, []));
      // a stopped run keeps a page of the experiments that finished, naming the rest; its own error is what the caller hears
      else await writeFile(index, indexHtml(results, reports, names.slice(names.indexOf(stopped)))).catch(() => undefined);
    }
  }
  return reports;
}

/** Progress on stderr: a bar redrawn in place on a TTY (at most 10 times a second), else one line per experiment. */
class ProgressBar {
  private last = -Infinity;
  private partial = false;

  constructor(private readonly out: ExperimentOutput, private readonly enabled: boolean) {}

  start(name: string): void {
    if (this.enabled && !this.out.isTTY) this.out.write(`${name}: running\n`);
  }

  update(p: ExperimentProgress): void {
    if (!this.enabled || !this.out.isTTY) return;
    const t = performance.now();
    if (t - this.last < 100 && p.done < p.total) return;
    this.last = t;
    const width = 24;
    const share = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
    const filled = Math.round(width * share);
    const text = `${p.experiment} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(100 * share)).padStart(3)}% ${p.phase}`;
    this.out.write(`\r${text.slice(0, (this.out.columns || 80) - 1)}\x1b[K`);
    this.partial = true;
  }

  done(name: string, seconds: number, svg: string): void {
    if (!this.enabled) return;
    this.finish();
    this.out.write(`${name}: ${seconds.toFixed(1)} s -> ${svg}\n`);
  }

  finish(): void {
    if (this.partial) this.out.write('\r\x1b[K');
    this.partial = false;
  }
}

/** JSON for reading: indented, but arrays of plain values on one line. */
const readableJson = (v: unknown) => JSON.stringify(v, null, 1).replace(/\[[^[\]{}]*\]/g, (a) => a.replace(/\s+/g, ' '));

const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** One page with every chart, its settings and the book's conclusion beside it; `missing`: those a stopped run did not finish. */
function indexHtml(results: readonly ExperimentResult[], reports: readonly ExperimentRunReport[], missing: readonly string[]): string {
  const sections = results.map((r, i) => `<section id="${r.name}">
<h2>${escapeHtml(r.title)} <code>${r.name}</code></h2>
<div class="row">
<img src="${path.basename(reports[i].svg)}" alt="${escapeHtml(r.title)}">
<div class="side">
<h3>The book's conclusion</h3>
<p>${escapeHtml(r.conclusion)}</p>
<h3>Settings${r.quick ? ' (quick)' : ''}, seed ${r.seed}, ${reports[i].seconds.toFixed(1)} s</h3>
<pre>${escapeHtml(readableJson(r.settings))}</pre>
<h3>Summary</h3>
<pre>${escapeHtml(readableJson(r.summary))}</pre>
<p><a href="${path.basename(reports[i].json)}">${r.name}.json</a> (every plotted number)</p>
</div>
</div>
</section>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>simdnn: the chapter's experiments</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
.row { display: flex; gap: 2em; align-items: flex-start; flex-wrap: wrap; }
.row img { flex: 0 1 auto; max-width: 100%; border: 1px solid #ddd; }
.side { flex: 1 1 24em; max-width: 40em; }
pre { background: #f6f6f6; padding: 0.5em; font-size: 12px; overflow: auto; max-height: 24em; }
nav a { margin-right: 1em; }
.stopped { color: #a40; }
</style>
</head>
<body>
<h1>The chapter's experiments</h1>
<nav>${results.map((r) => `<a href="#${r.name}">${r.name}</a>`).join(' ')}</nav>
${missing.length ? `<p class="stopped">The run stopped before it finished ${missing.map((n) => `<code>${n}</code>`).join(', ')}.</p>\n` : ''}${sections}
</body>
</html>
`;
}


/** `simdnn experiment NAME|all [--out DIR] [--quick] [--seed N] [--threads N]`. */
export const experimentCommand: Command = {
  name: 'experiment',
  summary: "runs one of the chapter's experiments (or all) and writes its numbers (JSON) and chart (SVG)",
  positionals: `NAME|all`,
  description: `Runs an experiment of the training chapter on the bundled digits and writes
NAME.json (every plotted number, the settings and the book's conclusion) and
NAME.svg (the chart, drawn with the npm packages vega and vega-lite, which an
installed simdnn leaves optional: npm install vega vega-lite). 'all' runs every
experiment and also writes index.html,
which shows each chart beside its settings and conclusion.
Experiments: ${experimentNames.join(', ')}.
The same seed gives the same JSON, bit for bit, for any --threads.`,
  options: [
    { name: 'out', value: 'dir', default: 'experiments', help: 'directory for the files (made if missing)' },
    { name: 'quick', help: 'reduced settings (fewer iterations, trials, scales): well under a minute each' },
    { name: 'seed', value: 'n', default: '1', help: 'seed of every run' },
    { name: 'threads', value: 'n|auto', default: 'auto', help: "kernel threads ('auto': one per core); hyperparameter-search runs this many trials at once" },
    { name: 'quiet', help: 'no progress on stderr' },
  ],
  examples: ['simdnn experiment optimizer-naive', 'simdnn experiment batchnorm --quick --out charts', 'simdnn experiment all --out experiments'],
  async run({ values, positionals, io, signal }) {
    if (positionals.length !== 1) throw new UsageError(`expected one experiment name or 'all', got ${positionals.length ? positionals.join(' ') : 'none'} (experiments: ${experimentNames.join(', ')})`);
    const name = positionals[0];
    if (name !== 'all' && !(experimentNames as readonly string[]).includes(name)) throw new UsageError(`unknown experiment '${name}' (expected all or one of ${experimentNames.join(', ')})`);
    const threadsText = (values.threads as string | undefined) ?? 'auto';
    const settings: ExperimentRunSettings = {
      names: [name],
      out: (values.out as string | undefined) ?? 'experiments',
      quick: values.quick === true,
      seed: values.seed === undefined ? 1 : intValue('seed', values.seed as string, 0, 0xffffffff),
      threads: threadsText === 'auto' ? 'auto' : intValue('threads', threadsText, 1),
      quiet: values.quiet === true,
    };
    try {
      const reports = await runExperimentsToDir(settings, io.stderr, signal);
      for (const r of reports) io.stdout.write(`${r.json}\n${r.svg}\n`);
      if (name === 'all') io.stdout.write(`${path.join(settings.out, 'index.html')}\n`);
      return 0;
    } catch (e) {
      if (signal.aborted) {
        io.stderr.write(`simdnn: experiment interrupted (${String(signal.reason)})\n`);
        return signal.reason === 'SIGTERM' ? 143 : 130;
      }
      throw e;
    }
  },
};

/** Makes --out before any experiment runs (and after vega is found: a missing one leaves no directory), so a bad path is a usage error naming it. */
async function checkOutDir(out: string): Promise<void> {
  if (out.trim() === '') throw new UsageError('--out: the path is empty');
  try {
    await mkdir(out, { recursive: true });
    await access(out, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`--out: '${out}' cannot be a directory of results (${code === 'EEXIST' || code === 'ENOTDIR' ? 'a file of that name is in the way' : code ?? (e as Error).message})`);
  }
}
