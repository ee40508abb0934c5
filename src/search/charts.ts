// A study's charts as Vega-Lite specs (plain JSON with the data inlined; the
// core draws nothing: Node renders them with src/node/charts.ts, a page with
// vega-embed): the best validation accuracy so far over trials, and every
// trial's learning rate × weight decay coloured by its validation accuracy.
import { checkOptions, describeValue } from '../index.js';
import type { SearchResult } from './search.js';

/** A Vega-Lite spec as plain JSON. */
export type SearchChartSpec = Record<string, unknown>;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const AXES = new Set(['x', 'y']);
/** The fields each point carries beside the two settings: a setting of one of these names would overwrite it. */
const OWN_FIELDS = new Set(['trial', 'validationAccuracy', 'epochs', 'status']);

/**
 * The study's charts in one spec (two panels side by side). `x`/`y` name the
 * settings of the scatter (default lr and weightDecay; a trial without them
 * is left out of it); failed trials are drawn grey.
 */
export function searchChart(result: SearchResult, options: { x?: string; y?: string } = {}): SearchChartSpec {
  if (result === null || typeof result !== 'object' || !Array.isArray(result.trials)) throw new TypeError('searchChart: expected what hyperparameterSearch returned');
  checkOptions('searchChart', options, AXES);
  const { x = 'lr', y = 'weightDecay' } = options;
  for (const [axis, name] of [['x', x], ['y', y]]) {
    if (typeof name !== 'string' || name === '') throw new TypeError(`searchChart: ${axis} must name a setting, got ${describeValue(name)}`);
    if (OWN_FIELDS.has(name)) throw new RangeError(`searchChart: ${axis} '${name}' is one of the chart's own fields (${[...OWN_FIELDS].join(', ')}), not a setting`);
  }
  let best = -Infinity;
  const progress = result.trials.map((t) => {
    const acc = t.status === 'ok' ? t.history.at(-1)?.valAcc ?? null : null;
    if (acc !== null && acc > best) best = acc;
    return { trial: t.index + 1, validationAccuracy: acc, bestSoFar: Number.isFinite(best) ? best : null };
  });
  const points = result.trials
    .filter((t) => typeof t.settings[x] === 'number' && typeof t.settings[y] === 'number')
    .map((t) => ({ trial: t.index + 1, [x]: t.settings[x], [y]: t.settings[y], validationAccuracy: t.status === 'ok' ? t.history.at(-1)?.valAcc ?? null : null, epochs: t.history.length, status: t.status }));
  const log = { scale: { type: 'log' }, axis: { format: '.0e' } };
  return {
    $schema: SCHEMA,
    title: { text: `Study '${result.study}'`, subtitle: `${result.trials.length} trials (${result.failed} failed), ${result.epochsSpent} epochs trained, seed ${result.seed}`, anchor: 'start' },
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
        title: `${x} × ${y}, coloured by validation accuracy`,
        width: 360, height: 260,
        data: { values: points },
        mark: { type: 'point', filled: true, size: 70, stroke: '#333', strokeWidth: 0.5 },
        encoding: {
          x: { field: x, type: 'quantitative', title: `${x} (log scale)`, ...log },
          y: { field: y, type: 'quantitative', title: `${y} (log scale)`, ...log },
          color: { field: 'validationAccuracy', type: 'quantitative', title: 'validation accuracy', scale: { scheme: 'viridis', domain: [0, 1] } },
          tooltip: [{ field: 'trial' }, { field: x }, { field: y }, { field: 'validationAccuracy' }, { field: 'epochs' }, { field: 'status' }],
        },
      },
    ],
  };
}
