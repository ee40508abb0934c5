// searchChart's spec and the SVG it renders to: each axis's scale follows its
// setting (a weight decay of 0 drew every point at the top edge of a log
// axis), failed trials drawn grey (Vega-Lite dropped them), trials numbered
// by index as in the results, and a resumed study's stored epochs.
import { describe, it, expect } from 'vitest';
import { renderSvg } from '../src/node/charts.js';
import { choice, logUniform, searchChart, uniform, type ScoredResult, type SearchResult, type SearchSpace, type Settings } from '../src/search/index.js';

type Panel = { data: { values: Array<Record<string, unknown>> }; encoding: Record<string, { scale?: { type: string }; title?: string }> };

const trial = (index: number, settings: Settings, valAcc: number | null, stored = false): ScoredResult => ({
  study: 's', index, seed: 1, settings, epochs: 2, data: {}, worker: 'w', seconds: 0, rung: 0, ...(stored ? { stored } : {}),
  ...(valAcc === null
    ? { status: 'failed', error: 'NaN loss', history: [], objective: -Infinity }
    : { status: 'ok', history: [{ epoch: 1, trainLoss: 1, trainAcc: valAcc, valLoss: 1, valAcc }, { epoch: 2, trainLoss: 1, trainAcc: valAcc, valLoss: 1, valAcc }], objective: valAcc }),
}) as ScoredResult;

const study = (trials: ScoredResult[], epochsStored = 0): SearchResult => ({
  study: 's', seed: 1, trials, best: trials, jobs: trials, epochsSpent: trials.length * 2 - epochsStored, epochsStored,
  failed: trials.filter((t) => t.status === 'failed').length, timedOut: 0, seconds: 0,
});

const scatter = (spec: Record<string, unknown>) => (spec.hconcat as Panel[])[1];
const scales = (spec: Record<string, unknown>) => ['x', 'y'].map((a) => scatter(spec).encoding[a].scale?.type);

/** The second panel's points in the SVG: trial, position and fill of each. */
function svgPoints(svg: string): Array<{ trial: number; at: number[]; fill: string }> {
  const panel = svg.slice(svg.indexOf('concat_1_marks'));
  return [...panel.matchAll(/aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="point" transform="translate\(([^)]*)\)"[^>]*fill="([^"]*)"/g)]
    .map((m) => ({ trial: Number(/trial: (\d+)/.exec(m[1])![1]), at: m[2].split(',').map(Number), fill: m[3] }));
}

/** lr log-uniform, weight decay a choice including 0. */
const wd0Space: SearchSpace = { lr: logUniform(1e-3, 1e-1), weightDecay: choice([0, 1e-5, 1e-4]) };
const wd0 = study([trial(0, { lr: 0.01, weightDecay: 0 }, 0.9), trial(1, { lr: 0.001, weightDecay: 1e-4 }, 0.5), trial(2, { lr: 0.1, weightDecay: 0 }, 0.7), trial(3, { lr: 0.003, weightDecay: 1e-5 }, 0.3)]);

describe('searchChart scales', () => {
  it('a setting with a 0 gets a linear axis and every trial is a point; a log-uniform one keeps its log axis', async () => {
    const spec = searchChart(wd0, { space: wd0Space });
    expect(scales(spec)).toEqual(['log', 'linear']);
    expect(scatter(spec).encoding.y.title).toBe('weightDecay');
    expect(scatter(spec).encoding.x.title).toBe('lr (log scale)');
    expect(scatter(spec).data.values.map((p) => [p.trial, p.weightDecay])).toEqual([[0, 0], [1, 1e-4], [2, 0], [3, 1e-5]]);
    // drawn: four points, each inside the 360×260 panel, the two weight decays of 0 at the bottom (a log axis put all four at the top)
    const points = svgPoints(await renderSvg(spec));
    expect(points.map((p) => p.trial)).toEqual([0, 1, 2, 3]);
    for (const { at: [px, py] } of points) expect(px >= 0 && px <= 360 && py >= 0 && py <= 260).toBe(true);
    expect(points.map((p) => p.at[1])).toEqual([260, 0, 260, 234]);
  });

  it('without the space a value <= 0 still gets a linear axis (never a point left out); a fixed 0 and a uniform setting are linear', () => {
    expect(scales(searchChart(wd0))).toEqual(['log', 'linear']);
    const fixed = study([trial(0, { lr: 0.01, weightDecay: 0 }, 0.9), trial(1, { lr: 0.02, weightDecay: 0 }, 0.8)]);
    expect(scales(searchChart(fixed, { space: { lr: logUniform(1e-3, 1e-1), weightDecay: 0 } }))).toEqual(['log', 'linear']);
    const uni = study([trial(0, { lr: 0.01, weightDecay: 0.2 }, 0.9), trial(1, { lr: 0.02, weightDecay: 0.4 }, 0.8)]);
    expect(scales(searchChart(uni, { space: { lr: logUniform(1e-3, 1e-1), weightDecay: uniform(0.1, 0.5) } }))).toEqual(['log', 'linear']);
    // the default study (both log-uniform) keeps its log axes, with or without the space
    const book = study([trial(0, { lr: 1e-4, weightDecay: 1e-6 }, 0.9), trial(1, { lr: 1e-3, weightDecay: 1e-7 }, 0.8)]);
    expect(scales(searchChart(book))).toEqual(['log', 'log']);
    expect(scales(searchChart(book, { space: { lr: logUniform(1e-6, 1e-2), weightDecay: logUniform(1e-8, 1e-4) } }))).toEqual(['log', 'log']);
    expect(() => searchChart(book, { space: { lr: { kind: 'uniform', low: 1, high: 0 } } as unknown as SearchSpace })).toThrow(/^searchChart: space\.lr: uniform: low must be <= high/);
  });
});

describe('searchChart trials', () => {
  const failed = study([trial(0, { lr: 0.01, weightDecay: 1e-6 }, 0.9), trial(1, { lr: 0.5, weightDecay: 1e-5 }, null), trial(2, { lr: 0.9, weightDecay: 1e-7 }, null), trial(3, { lr: 0.003, weightDecay: 1e-8 }, 0.3)]);

  it('failed trials are drawn grey at their settings: one mark per trial', async () => {
    const spec = searchChart(failed);
    const points = svgPoints(await renderSvg(spec));
    expect(points.map((p) => p.trial)).toEqual([0, 1, 2, 3]);
    expect(points.map((p) => p.fill === '#9e9e9e')).toEqual([false, true, true, false]);
    expect(scatter(spec)).toMatchObject({ title: 'lr × weightDecay, coloured by validation accuracy (grey: failed)' });
  });

  it('numbers trials by index, as the table and results file do', () => {
    const spec = searchChart(study([trial(5, { lr: 0.01, weightDecay: 1e-6 }, 0.9), trial(9, { lr: 0.02, weightDecay: 1e-6 }, 0.8)]));
    const [progress, points] = spec.hconcat as Panel[];
    expect(progress.data.values.map((p) => p.trial)).toEqual([5, 9]);
    expect(points.data.values.map((p) => p.trial)).toEqual([5, 9]);
  });

  it("a resumed study's subtitle counts its stored epochs", () => {
    const resumed = study([trial(0, { lr: 0.01, weightDecay: 1e-6 }, 0.9, true), trial(1, { lr: 0.02, weightDecay: 1e-6 }, 0.8, true)], 4);
    expect(searchChart(resumed)).toMatchObject({ title: { subtitle: '2 trials (0 failed), 0 epochs trained (4 more stored), seed 1' } });
    expect(searchChart(failed)).toMatchObject({ title: { subtitle: '4 trials (2 failed), 8 epochs trained, seed 1' } });
  });
});
