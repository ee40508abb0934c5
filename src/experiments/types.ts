// What every experiment takes and returns. Results are plain JSON: numbers,
// settings, the book's conclusion and a Vega-Lite spec (a plain object; the
// core never imports a charting library — Node renders it in src/node/charts.ts,
// a page with vega-embed).
import type { DataSet, IntTensor, Runtime } from '../index.js';
import type { Executor } from '../search/index.js';

/** A JSON value (what JSON.stringify keeps exactly). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One row of a plotted table: a flat record of numbers and labels. */
export type Row = Record<string, number | string | null>;

/** A Vega-Lite spec as plain JSON (its data refers to the result's tables by name). */
export type VegaLiteSpec = Record<string, unknown>;

/** A plain-JSON object (settings, summaries): numbers, strings, booleans, null, arrays and objects of them. */
export type JsonObject = Record<string, unknown>;

/** The digits the MNIST experiments train on: flattened rows in [0, 1] and int labels (what `loadMnist(rt)` returns). */
export type ExperimentData = DataSet<IntTensor>;

/** Reported as an experiment runs: `done` of `total` units (training steps, mostly). */
export interface ExperimentProgress {
  experiment: string;
  done: number;
  total: number;
  /** What is running now, e.g. 'Adam' or 'scale 0.01, batch norm'. */
  phase: string;
}

/** Options of runExperiment; only `rt` is required. */
export interface ExperimentOptions {
  /** The runtime to train on; its random stream is reseeded with `seed` before every run of the experiment. */
  rt: Runtime;
  /**
   * The digits (required by every experiment but optimizer-naive, init-activations); the caller owns them. Pixels
   * outside [0, 1], or fewer rows than an experiment's settings use (e.g. overfit's 300 training digits), are a RangeError.
   */
  data?: ExperimentData;
  /** The reduced settings (fewer iterations, trials, scales): well under a minute each. Default false. */
  quick?: boolean;
  /** Seed of every run (weights, batches, trials). Default 1. */
  seed?: number;
  /** Stops the experiment between steps with the signal's reason (an AbortError by default). */
  signal?: AbortSignal;
  /** Called as the experiment runs, with its units done so far. */
  onProgress?: (p: ExperimentProgress) => void;
  /**
   * Where hyperparameter-search runs its trials (e.g. Node's localExecutor: worker threads); default inline on `rt`,
   * splitting `data`. An executor loads its trials' data itself from the DataSpec `{ source: 'mnist', rows: 500, … }`
   * (Node's: the bundled digits), not from `data`. Borrowed: not closed.
   */
  executor?: Executor;
}

/** What an experiment returns: everything it plots, how it was made and what the book concludes from it. */
export interface ExperimentResult {
  name: string;
  title: string;
  quick: boolean;
  seed: number;
  /** Every setting of the run (net, optimizer, rates, sizes, iterations). */
  settings: JsonObject;
  /** The book's (or the study notes') conclusion the chart illustrates. */
  conclusion: string;
  /** The scalars the conclusion rests on (final losses, gaps, ratios). */
  summary: JsonObject;
  /** Every plotted number, as named tables of rows. */
  tables: Record<string, Row[]>;
  /** The chart; its data are `{ name: table }` references to `tables`. */
  spec: VegaLiteSpec;
  /** Mark name -> how many series (lines, trajectories) it draws in the chart: what a rendering must hold. */
  marks: Record<string, number>;
}

/**
 * The experiments' names (runExperiment's first argument, experimentNames in the chapter's order): the book's
 * chapter 6 comparisons of optimizers, weight initialisations, batch normalisation, overfitting and its cures,
 * the hyper-parameter search, and chapter 8's DeepConvNet.
 */
export type ExperimentName =
  | 'optimizer-naive' | 'optimizer-mnist' | 'optimizer-batchnorm' | 'init-activations' | 'init-compare' | 'batchnorm'
  | 'overfit' | 'normalization' | 'gradient-vanishing' | 'hyperparameter-search' | 'deepconvnet';

/** One experiment of the chapter. */
export interface Experiment {
  /** Its name, as runExperiment takes it. */
  readonly name: ExperimentName;
  readonly title: string;
  /** Whether it trains on the digits (needs `data`). */
  readonly needsData: boolean;
  /**
   * Runs the experiment (runExperiment calls it with the context it builds): resolves with its
   * result, having freed everything it allocated; rejects with the signal's reason when aborted.
   */
  run(ctx: ExperimentContext): Promise<ExperimentResult>;
}

/** What an experiment's run gets: the options resolved, and progress, pausing and seeding helpers. */
export interface ExperimentContext {
  readonly rt: Runtime;
  readonly quick: boolean;
  readonly seed: number;
  readonly signal?: AbortSignal;
  readonly executor?: Executor;
  /** The data; throws a clear error when the caller gave none. */
  data(): ExperimentData;
  /** Sets the number of units the whole run will do (call once, before the first tick). */
  plan(total: number): void;
  /** Counts `n` units done under `phase` and reports progress. */
  tick(n: number, phase: string): void;
  /** Yields to the host (so a page stays responsive) and throws if the signal was aborted. */
  pause(): Promise<void>;
  /** Restarts the runtime's random stream at the seed, so each run of an experiment is independent of the others. */
  reseed(): void;
}
