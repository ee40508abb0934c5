// Small builders for the experiments' Vega-Lite specs (plain JSON).
import type { Row, VegaLiteSpec } from './types.js';
import { exactPow10 } from '../runtime/exact-math.js';

export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** A field encoding with an axis or legend title (units in the title). */
export function field(name: string, type: 'quantitative' | 'nominal' | 'ordinal', title: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { field: name, type, title, ...extra };
}

/** The top of every chart: schema, title (with a subtitle), and shared config. */
export function chart(title: string, subtitle: string, body: VegaLiteSpec): VegaLiteSpec {
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle, anchor: 'start', fontSize: 16 },
    config: { view: { stroke: '#ccc' }, legend: { orient: 'right' }, header: { labelFontSize: 12 } },
    ...body,
  };
}

/** How many series a line mark draws: distinct combinations of the keys (panel and colour fields). */
export function seriesCount(rows: readonly Row[], keys: readonly string[]): number {
  return new Set(rows.map((r) => JSON.stringify(keys.map((k) => r[k])))).size;
}

/** n numbers log-spaced from 10^a to 10^b inclusive (numpy.logspace), the same bits on every engine (exactPow10). */
export function logspace(a: number, b: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => exactPow10(n === 1 ? a : a + ((b - a) * i) / (n - 1)));
}

/** Mean of the last `n` values (fewer if the list is shorter). */
export function tailMean(values: readonly number[], n: number): number {
  const tail = values.slice(-n);
  return tail.reduce((a, b) => a + b, 0) / tail.length;
}

/**
 * Refuses data whose `part` holds fewer than the `need` rows `experiment` uses: taking fewer would
 * leave the result's settings (and the book's comparison) describing a run that did not happen.
 */
export function needRows(experiment: string, part: 'xTrain' | 'xTest', have: number, need: number): void {
  if (have < need) throw new RangeError(`runExperiment('${experiment}'): options.data.${part} holds ${have} rows, fewer than the ${need} this experiment uses`);
}

/** Rows [0, n) of the digits' training and test parts, as views (no copy); `experiment` names the run in needRows' error. */
export function firstRows<T extends { xTrain: { rows(a: number, b: number): unknown; shape: readonly number[] }; tTrain: { rows(a: number, b: number): unknown }; xTest: { rows(a: number, b: number): unknown; shape: readonly number[] }; tTest: { rows(a: number, b: number): unknown } }>(experiment: string, data: T, trainRows: number, testRows: number): T {
  needRows(experiment, 'xTrain', data.xTrain.shape[0], trainRows);
  needRows(experiment, 'xTest', data.xTest.shape[0], testRows);
  return { ...data, xTrain: data.xTrain.rows(0, trainRows), tTrain: data.tTrain.rows(0, trainRows), xTest: data.xTest.rows(0, testRows), tTest: data.tTest.rows(0, testRows) };
}

/**
 * Small multiples of line charts: one panel per value of `panel`, x and y
 * fields, colour (and optionally dash) per series. `name` names the line mark
 * (the SVG's `<name>_marks` groups, one per series).
 */
export function panels(o: {
  table: string; name: string; panel: string; panelTitle: string | null; panelSort?: unknown[]; columns: number;
  x: Record<string, unknown>; y: Record<string, unknown>; color: Record<string, unknown>; dash?: Record<string, unknown>;
  width?: number; height?: number;
}): VegaLiteSpec {
  return {
    data: { name: o.table },
    columns: o.columns,
    facet: { field: o.panel, type: 'nominal', title: o.panelTitle, ...(o.panelSort ? { sort: o.panelSort } : {}), header: { labelFontWeight: 'bold' } },
    spec: {
      width: o.width ?? 200,
      height: o.height ?? 140,
      layer: [{
        name: o.name,
        mark: { type: 'line', strokeWidth: 1.5, clip: true },
        encoding: { x: o.x, y: o.y, color: o.color, ...(o.dash ? { strokeDash: o.dash } : {}) },
      }],
    },
  };
}
