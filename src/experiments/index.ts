// The chapter's experiments by name, and runExperiment. Portable: no node:*,
// no charting library (results carry Vega-Lite specs as plain JSON).
import { createContext } from './context.js';
import { optimizerNaive } from './optimizer-naive.js';
import { optimizerMnist } from './optimizer-mnist.js';
import { deepconvnet } from './deepconvnet.js';
import { hyperparameterSearch } from './hyperparameter-search.js';
import { gradientVanishing } from './gradient-vanishing.js';
import { normalization } from './normalization.js';
import { overfit } from './overfit.js';
import { batchnorm } from './batchnorm.js';
import { initCompare } from './init-compare.js';
import { initActivations } from './init-activations.js';
import { optimizerBatchnorm } from './optimizer-batchnorm.js';
import type { Experiment, ExperimentName, ExperimentOptions, ExperimentResult, VegaLiteSpec } from './types.js';

export type { Experiment, ExperimentName, ExperimentContext, ExperimentData, ExperimentOptions, ExperimentProgress, ExperimentResult, Json, JsonObject, Row, VegaLiteSpec } from './types.js';

/** Every experiment, in the chapter's order. */
export const experiments: readonly Experiment[] = Object.freeze([
  optimizerNaive,
  optimizerMnist,
  optimizerBatchnorm,
  initActivations,
  initCompare,
  batchnorm,
  overfit,
  normalization,
  gradientVanishing,
  hyperparameterSearch,
  deepconvnet,
]);

/** The experiments' names (every ExperimentName), in the chapter's order. */
export const experimentNames: readonly ExperimentName[] = Object.freeze(experiments.map((e) => e.name));

/**
 * Runs one experiment by name and returns its numbers, settings, conclusion
 * and chart spec. Reseeds `options.rt` (the caller keeps owning the runtime
 * and the data; everything the experiment allocates is freed before it
 * returns). Throws a TypeError for an unknown name or missing data, and the
 * signal's reason when aborted.
 */
export async function runExperiment(name: ExperimentName, options: ExperimentOptions): Promise<ExperimentResult> {
  const experiment = experiments.find((e) => e.name === name);
  if (!experiment) throw new TypeError(`runExperiment: unknown experiment '${String(name)}' (expected one of ${experimentNames.join(', ')})`);
  return experiment.run(createContext(experiment, options));
}

/** The result's chart as one self-contained Vega-Lite spec (its tables inlined as named datasets), for vega-embed or a renderer. */
export function chartSpec(result: ExperimentResult): VegaLiteSpec {
  if (result === null || typeof result !== 'object' || typeof result.spec !== 'object' || result.spec === null) throw new TypeError('chartSpec: expected what runExperiment returned');
  return { ...result.spec, datasets: result.tables };
}
