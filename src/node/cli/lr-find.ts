// `simdnn lr-find`: the learning-rate range test (lrFinderAsync, fastai's
// lr_find) on a net built as `simdnn train` builds it (its flags and parsing,
// from train.ts), on the training rows of the bundled digits or an IDX
// directory. Prints a table of rates, losses and smoothed losses and fastai's three
// suggestions (or one JSON object), and can write a Vega-Lite chart of the
// smoothed loss against the rate on a log axis.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { VegaLiteSpec } from '../../experiments/types.js';
import { buildNet } from '../../nets/registry.js';
import { lrFinderAsync, type LRFinderResult } from '../../train/lr-finder.js';
import type { LoadedDataSet } from '../data.js';
import { createRuntime } from '../runtime.js';
import { interrupted, intValue, numberValue, UsageError, type Command, type CommandContext, type OptionSpec, type Output } from './command.js';
import { checkCsvFlags, checkDataArg, checkWritable, describeNet, disposeData, loadData, takesRows } from './common.js';
import { FLAGS, checkClassWeightCount, makeOptimizer, netSpec, trainSettings } from './train.js';

/** `simdnn train`'s flags that shape the net, the optimizer and the data (--lr is the test's to sweep). */
const TRAIN_FLAGS = ['net', 'hidden', 'activation', 'init', 'optimizer', 'momentum', 'decay-rate', 'beta1', 'beta2', 'rho', 'eps', 'weight-decay', 'l1',
  'batchnorm', 'dropout', 'label-smoothing', 'class-weights', 'balanced', 'batch', 'seed', 'data', 'label', 'test-split', 'train-rows', 'threads', 'relaxed'];
/** Their help where train's speaks of epochs or a split the test has not. */
const HELP: Readonly<Record<string, string>> = {
  seed: "random seed of initialisation, the batches' draws, dropout and a CSV's train/test split (the digits' and IDX files' split is fixed)",
  balanced: "class-balanced batches, as `simdnn train --balanced` draws them: each step's rows drawn with replacement, each training row weighted 1/(the rows of its class) (the Trainer's sampleWeights 'balanced'), so the rates are tried on the batches the run will train on. --class-weights weights the loss instead",
};

const OPTIONS: readonly OptionSpec[] = [
  ...TRAIN_FLAGS.map((name) => {
    const flag = FLAGS.find((f) => f.name === name)!;
    return HELP[name] ? { ...flag, help: HELP[name] } : flag;
  }),
  { name: 'start-lr', value: 'x', default: '1e-7', help: "the first step's learning rate (fastai's start_lr)" },
  { name: 'end-lr', value: 'x', default: '10', help: "the last step's learning rate, above --start-lr (fastai's end_lr); step i's is start·(end/start)^(i/(steps−1))" },
  { name: 'steps', value: 'n', default: '100', help: "optimizer steps, at least 6 (fastai's num_it)" },
  { name: 'no-stop-div', help: "run every step, where by default the test stops once the smoothed loss passes 4 times its best (fastai's stop_div)" },
  { name: 'chart', value: 'file', help: 'write a chart of the smoothed loss against the rate (log axis; the last 5 steps left out, as fastai plots it) with the suggestions: a .html page (drawn by vega-embed from a CDN), a .svg (needs the npm packages vega and vega-lite), or its Vega-Lite spec as .json' },
  { name: 'json', help: 'print one JSON object with the settings and the whole result on stdout (non-finite losses as null)' },
  { name: 'quiet', help: 'no start line on stderr' },
];

const CHART_KINDS = ['.html', '.svg', '.json'];
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
/** fastai's plot_lr_find leaves out the last skip_end = 5 points. */
const SKIP_END = 5;

/** The test's own flags, checked before anything loads. */
function testSettings(values: CommandContext['values']) {
  const text = (name: string, fallback: string) => (typeof values[name] === 'string' ? values[name] as string : fallback);
  const startLr = numberValue('start-lr', text('start-lr', '1e-7'));
  if (!(startLr > 0)) throw new UsageError(`--start-lr: expected a positive number, got ${startLr}`);
  const endLr = numberValue('end-lr', text('end-lr', '10'));
  if (!(endLr > startLr)) throw new UsageError(`--end-lr: expected a number above --start-lr (${startLr}), got ${endLr}`);
  const steps = intValue('steps', text('steps', '100'), 6);
  const chart = typeof values.chart === 'string' ? values.chart : undefined;
  const chartKind = chart !== undefined ? path.extname(chart).toLowerCase() : undefined;
  if (chartKind !== undefined && !CHART_KINDS.includes(chartKind)) throw new UsageError(`--chart: expected a file ending in .html, .svg or .json, got '${chart}'`);
  return { startLr, endLr, steps, stopDiv: values['no-stop-div'] !== true, chart, chartKind };
}

/** The smoothed loss against the rate (log axis), with a dashed rule at each suggestion. */
export function lrFinderChart(r: LRFinderResult, title: string): VegaLiteSpec {
  const shown = r.lrs.length > SKIP_END ? r.lrs.length - SKIP_END : r.lrs.length;
  const points = r.lrs.slice(0, shown).map((lr, i) => ({ lr, smoothed: r.smoothed[i], loss: r.losses[i] })).filter((p) => Number.isFinite(p.smoothed));
  const marks = Object.entries(r.suggestions).filter(([, lr]) => lr !== null).map(([suggestion, lr]) => ({ suggestion, lr }));
  const x = { field: 'lr', type: 'quantitative', scale: { type: 'log' }, title: 'learning rate' };
  return {
    $schema: SCHEMA,
    title,
    width: 480,
    height: 300,
    layer: [
      { data: { values: points }, mark: 'line', encoding: { x, y: { field: 'smoothed', type: 'quantitative', title: 'smoothed loss', scale: { zero: false } } } },
      { data: { values: marks }, mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { x, color: { field: 'suggestion', type: 'nominal', title: 'suggestion' } } },
    ],
  };
}

/** A page drawing the spec with vega-embed. */
function chartPage(spec: VegaLiteSpec, title: string): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>
<script src="https://cdn.jsdelivr.net/npm/vega@6"></script>
<script src="https://cdn.jsdelivr.net/npm/vega-lite@6"></script>
<script src="https://cdn.jsdelivr.net/npm/vega-embed@7"></script>
</head><body>
<div id="chart"></div>
<script>vegaEmbed('#chart', ${JSON.stringify(spec).replace(/</g, '\\u003c')});</script>
</body></html>
`;
}

const fmtLr = (v: number | null) => (v === null ? 'none (too few points)' : v.toExponential(3));
const fmtLoss = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : String(v));

/** Every ⌈steps/20⌉-th step and the last, then why it stopped and the suggestions. */
function table(r: LRFinderResult, steps: number): string {
  const every = Math.ceil(steps / 20);
  const rows = r.lrs.map((lr, i) => [String(i + 1), lr.toExponential(3), fmtLoss(r.losses[i]), fmtLoss(r.smoothed[i])])
    .filter((_, i) => i % every === 0 || i === r.lrs.length - 1);
  const head = ['step', 'lr', 'loss', 'smoothed'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padStart(widths[c])).join('  ').trimEnd();
  const why = r.stopReason === 'completed' ? `${r.lrs.length} steps`
    : r.stopReason === 'diverged' ? `stopped at step ${r.lrs.length} of ${steps}: the smoothed loss passed 4 times its best`
      : `stopped at step ${r.lrs.length} of ${steps}: the loss was no longer finite`;
  const s = r.suggestions;
  return `${[line(head), ...rows.map(line)].join('\n')}\n${why}\n` +
    `suggested learning rates:\n  valley   ${fmtLr(s.valley)}\n  steep    ${fmtLr(s.steep)}\n  minimum  ${fmtLr(s.minimum)}\n`;
}

async function lrFind({ values, io, signal }: CommandContext): Promise<number> {
  const s = trainSettings(values);
  const t = testSettings(values);
  // everything a bad command line can get wrong is found before data loads or the test starts
  makeOptimizer(s).dispose();
  const dataKind = await checkDataArg(s.data);
  checkCsvFlags(dataKind, s.net, s.label, s.testSplit);
  if (t.chart !== undefined) await checkWritable('chart', t.chart);
  const renderSvg = t.chartKind === '.svg' ? await (await import('../charts.js')).svgRenderer() : null;

  const rt = await createRuntime({ seed: s.seed, ...(s.threads === 'auto' ? {} : { threads: s.threads }), ...(s.relaxed ? { relaxed: true } : {}) });
  const quiet = values.quiet === true, json = values.json === true;
  if (s.relaxed && !rt.features.relaxed && !quiet) io.stderr.write(`simdnn: note: ${rt.features.notes.join('; ')}\n`);
  let data: LoadedDataSet | null = null;
  const owned: Array<{ dispose(): unknown }> = [];
  let result: LRFinderResult, title: string, batch: number;
  try {
    // a CSV's rows split and standardized as simdnn train splits them, so the rates are tried on its training rows
    const csv = dataKind === 'csv' ? { label: s.label!, testSplit: s.testSplit ?? 0.2, seed: s.seed } : undefined;
    data = await loadData(rt, s.data, { flatten: takesRows(s.net), trainRows: s.trainRows, csv });
    checkClassWeightCount(s, data.classes);
    const net = buildNet(rt, netSpec(s, data.xTrain.shape.slice(1), data.classes));
    owned.push(net);
    const optimizer = makeOptimizer(s);
    owned.push(optimizer);
    batch = Math.min(s.batch, data.xTrain.shape[0]);
    title = `${describeNet(net.spec)}, ${s.optimizer}, batch ${batch}${s.balanced ? ' (class-balanced)' : ''}`;
    if (!quiet) io.stderr.write(`simdnn: lr-find: ${title}, ${t.steps} steps from ${t.startLr} to ${t.endLr}, ${s.data} (${data.xTrain.shape[0]} train)\n`);
    try {
      result = await lrFinderAsync(net, data.xTrain, data.tTrain, {
        optimizer, startLr: t.startLr, endLr: t.endLr, steps: t.steps, batchSize: batch, stopDiv: t.stopDiv, ...(s.balanced ? { sampleWeights: 'balanced' as const } : {}), signal,
      });
    } catch (e) {
      if (!signal.aborted) throw e;
      io.stderr.write(`simdnn: interrupted (${String(signal.reason)})\n`);
      return interrupted(signal);
    }
  } finally {
    for (const o of owned.reverse()) o.dispose();
    if (data) disposeData(data);
    await rt.dispose();
  }
  const out: Output = io.stdout;
  if (json) {
    out.write(`${JSON.stringify({ net: s.net, optimizer: s.optimizer, batch, balanced: s.balanced === true, startLr: t.startLr, endLr: t.endLr, steps: t.steps, stopDiv: t.stopDiv, ...result })}\n`);
  } else {
    out.write(table(result, t.steps));
  }
  // after the results are printed: a chart that cannot be written (checked at the start) loses none of them
  if (t.chart !== undefined) {
    const spec = lrFinderChart(result, title);
    const text = renderSvg ? await renderSvg(spec) : t.chartKind === '.html' ? chartPage(spec, title) : `${JSON.stringify(spec, null, 2)}\n`;
    try {
      await writeFile(t.chart, text);
    } catch (e) {
      throw new Error(`--chart: cannot write '${t.chart}' (${(e as Error).message})`, { cause: e });
    }
  }
  return 0;
}

/** `simdnn lr-find`. */
export const lrFindCommand: Command = {
  name: 'lr-find',
  summary: 'learning-rate range test: loss against an exponentially growing rate, and suggested rates',
  description: 'Runs the learning-rate range test (Smith 2017; fastai\'s lr_find): --steps optimizer steps on\n' +
    'the training rows at rates growing exponentially from --start-lr to --end-lr, recording each\n' +
    "step's loss and its smoothed value (fastai's exponential average, beta 0.98, debiased). Prints\n" +
    "every few steps' rate, loss and smoothed loss, and fastai's suggestions: valley (two thirds down the\n" +
    'longest falling stretch), steep (the steepest fall) and minimum (a tenth of the lowest loss\'s rate).\n' +
    'The net, optimizer and data are built as `simdnn train` builds them from the same flags.',
  options: OPTIONS,
  examples: [
    'simdnn lr-find',
    'simdnn lr-find --optimizer adam --batch 64 --chart lr.html',
    'simdnn lr-find --data ./rare-classes-idx --balanced --json',
    'simdnn lr-find --net mlp-extend --batchnorm --start-lr 1e-5 --end-lr 1 --steps 200 --json',
  ],
  run: lrFind,
};
