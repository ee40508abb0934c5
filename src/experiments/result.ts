// The fields every experiment's result shares: which experiment, on which run.
import type { Experiment, ExperimentContext, ExperimentResult } from './types.js';

/** An experiment's result: its name and title, the run's quick flag and seed, and `fields`. */
export function experimentResult(experiment: Experiment, ctx: ExperimentContext, fields: Omit<ExperimentResult, 'name' | 'title' | 'quick' | 'seed'>): ExperimentResult {
  return { name: experiment.name, title: experiment.title, quick: ctx.quick, seed: ctx.seed, ...fields };
}
