// A study's charts as Vega-Lite specs (plain JSON with the data inlined; the
// core draws nothing: Node renders them with src/node/charts.ts, a page with
// vega-embed): the best validation accuracy so far over trials, and every
// trial's learning rate × weight decay coloured by its validation accuracy.
import { checkOptions, describeValue } from '../index.js';
import type { SearchResult } from './search.js';
import { checkSpace, isDimension, type SearchSpace, type SettingName } from './space.js';

/** A Vega-Lite spec as plain JSON. */
export type SearchChartSpec = Record<string, unknown>;

/** Options of searchChart. */
export interface SearchChartOptions {
  /** The scatter's settings (default lr and weightDecay; a trial without them is left out of it). */
  x?: string;
  y?: string;
  /** The study's space: an axis is logarithmic only for a logUniform setting (without it, when all its values are > 0). */
  space?: SearchSpace;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const OPTIONS = new Set(['x', 'y', 'space']);
/** The fields each point carries beside the two settings: a setting of one of these names would overwrite it. */
const OWN_FIELDS = new Set(['trial', 'validationAccuracy', 'epochs', 'status']);
const GREY = '#9e9e9e';

/**
 * The study's charts in one spec (two panels side by side), trials numbered
 * by index as in the results: the best validation accuracy so far, and the
 * scatter of two settings coloured by validation accuracy, where a trial
 * without one (failed) is drawn grey. Pass the study's `space` for each
 * axis's scale (log for a logUniform setting, linear otherwise); a value
 * <= 0 always gets a linear axis, so every trial is drawn.
 */
export function searchChart(result: SearchResult, options: SearchChartOptions = {}): SearchChartSpec {
  if (result === null || typeof result !== 'object' || !Array.isArray(result.trials)) throw new TypeError('searchChart: expected what hyperparameterSearch returned');
  checkOptions('searchChart', options, OPTIONS);
  const { x = 'lr', y = 'weightDecay', space } = options;
  for (const [axis, name] of [['x', x], ['y', y]]) {
    if (typeof name !== 'string' || name === '') throw new TypeError(`searchChart: ${axis} must name a setting, got ${describeValue(name)}`);
    if (OWN_FIELDS.has(name)) throw new RangeError(`searchChart: ${axis} '${name}' is one of the chart's own fields (${[...OWN_FIELDS].join(', ')}), not a setting`);
  }
  if (space !== undefined) {
    try {
      checkSpace(space);
    } catch (e) {
      throw new (e instanceof TypeError ? TypeError : RangeError)(`searchChart: ${(e as Error).message}`);
    }
  }
  let best = -Infinity;
  const progress = result.trials.map((t) => {
    const acc = accuracy(t);
    if (acc !== null && acc > best) best = acc;
    return { trial: t.index, validationAccuracy: acc, bestSoFar: Number.isFinite(best) ? best : null };
  });
  const points = result.trials
    .filter((t) => typeof t.settings[x] === 'number' && typeof t.settings[y] === 'number')
    .map((t) => ({ trial: t.index, [x]: t.settings[x], [y]: t.settings[y], validationAccuracy: accuracy(t), epochs: t.history.length, status: t.status }));
  const axis = (name: string) => {
    const log = isLogAxis(space, name, points.map((p) => p[name] as number));
    return log
      ? { field: name, type: 'quantitative', title: `${name} (log scale)`, scale: { type: 'log' }, axis: { format: '.0e' } }
      : { field: name, type: 'quantitative', title: name, scale: { type: 'linear', zero: false } };
  };
  const grey = points.some((p) => p.validationAccuracy === null);
  const stored = result.epochsStored ? ` (${result.epochsStored} more stored)` : '';
  return {
    $schema: SCHEMA,
    title: { text: `Study '${result.study}'`, subtitle: `${result.trials.length} trials (${result.failed} failed${result.timedOut ? `, ${result.timedOut} timed out` : ''}), ${result.epochsSpent} epochs trained${stored}, seed ${result.seed}`, anchor: 'start' },
    hconcat: [
      {
        title: 'Best validation accuracy so far',
        width: 360, height: 260,
        data: { values: progress },
        layer: [
          { mark: { type: 'point', filled: true, opacity: 0.5 }, encoding: { x: { field: 'trial', type: 'quantitative', title: 'trial' }, y: { field: 'validationAccuracy', type: 'quantitative', title: 'validation accuracy', scale: { domain: [0, 1] } } } },
          { mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 }, encoding: { x: { field: 'trial', type: 'quantitative' }, y: { field: 'bestSoFar', type: 'quantitative' } } },
        ],
      },
      {
        title: `${x} × ${y}, coloured by validation accuracy${grey ? ' (grey: failed)' : ''}`,
        width: 360, height: 260,
        data: { values: points },
        // invalid 'show': Vega-Lite would filter out a point whose accuracy is null; the colour's condition greys it
        mark: { type: 'point', filled: true, size: 70, stroke: '#333', strokeWidth: 0.5, invalid: 'show' },
        encoding: {
          x: axis(x),
          y: axis(y),
          color: {
            condition: { test: 'datum.validationAccuracy === null', value: GREY },
            field: 'validationAccuracy', type: 'quantitative', title: 'validation accuracy', scale: { scheme: 'viridis', domain: [0, 1] },
          },
          tooltip: [{ field: 'trial' }, { field: x }, { field: y }, { field: 'validationAccuracy' }, { field: 'epochs' }, { field: 'status' }],
        },
      },
    ],
  };
}

/** The trial's last validation accuracy; null for a failed trial or one without a finite accuracy. */
function accuracy(t: SearchResult['trials'][number]): number | null {
  const acc = t.status === 'ok' ? t.history.at(-1)?.valAcc : undefined;
  return acc !== undefined && Number.isFinite(acc) ? acc : null;
}

/** A log axis for a logUniform setting (any positive setting without the space) whose values are all > 0. */
function isLogAxis(space: SearchSpace | undefined, name: string, values: number[]): boolean {
  if (!values.every((v) => v > 0)) return false;
  if (space === undefined || !(name in space)) return true;
  const d = space[name as SettingName]; // `name in space`: one of its settings
  return isDimension(d) && d.kind === 'logUniform';
}
