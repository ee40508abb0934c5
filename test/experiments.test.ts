// The experiments' portable core in Node and in Chromium: the two that need no
// data run, report progress, repeat with the seed and stop on an AbortSignal;
// bad options are refused by name.
import { describe, it, expect, beforeAll } from 'vitest';
import { runExperiment, chartSpec, experimentNames } from '../src/experiments/index.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { makeRuntime } from './helpers/runtime.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 1 }); });

describe('portable experiments', () => {
  it('optimizer-naive: SGD zig-zags in y more often than Adam, every path starts at (-7, 2)', async () => {
    const progress: number[] = [];
    const r = await runExperiment('optimizer-naive', { rt, quick: true, onProgress: (p) => progress.push(p.done / p.total) });
    const summary = r.summary as Record<string, { directionChangesY: number }>;
    expect(summary.SGD.directionChangesY).toBeGreaterThan(summary.Adam.directionChangesY);
    const starts = r.tables.path.filter((p) => p.step === 0);
    expect(starts).toHaveLength(7);
    for (const s of starts) expect([s.x, s.y]).toEqual([-7, 2]);
    expect(progress.at(-1)).toBe(1);
    expect(chartSpec(r).datasets).toBe(r.tables);
  });

  it('init-activations: sigmoid with std 1 saturates, with std 0.01 collapses to 0.5', async () => {
    const r = await runExperiment('init-activations', { rt });
    const spread = (r.summary.stdOfActivationsPerLayer as Record<string, number[]>);
    expect(spread['sigmoid, std 1'][4]).toBeGreaterThan(0.3);
    expect(spread['sigmoid, std 0.01'][4]).toBeLessThan(0.02);
    expect(spread['sigmoid, Xavier'][4]).toBeGreaterThan(3 * spread['sigmoid, std 0.01'][4]);
    expect(r.tables.hist).toHaveLength(12 * 5 * 30);
    for (const row of r.tables.hist) expect(Number.isInteger(row.count) && (row.count as number) >= 0).toBe(true);
  });

  it('the same seed gives the same numbers, another seed others', async () => {
    const a = await runExperiment('init-activations', { rt, seed: 7 });
    const b = await runExperiment('init-activations', { rt, seed: 7 });
    const c = await runExperiment('init-activations', { rt, seed: 8 });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(JSON.stringify(c.tables)).not.toBe(JSON.stringify(a.tables));
  });

  it('stops with the signal\'s reason', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop here'));
    await expect(runExperiment('init-activations', { rt, signal: controller.signal })).rejects.toThrow('stop here');
  });

  it('refuses bad names and options by name', async () => {
    expect(experimentNames).toHaveLength(11);
    await expect(runExperiment('nope' as never, { rt })).rejects.toThrow(/unknown experiment 'nope'/);
    await expect(runExperiment('optimizer-mnist', { rt })).rejects.toThrow(/options.data is required/);
    await expect(runExperiment('optimizer-naive', { rt, seed: -1 })).rejects.toThrow(/seed/);
    await expect(runExperiment('optimizer-naive', { rt, fast: true } as never)).rejects.toThrow(/unknown option 'fast'/);
  });
});
