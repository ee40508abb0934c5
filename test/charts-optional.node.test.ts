// vega and vega-lite are optional peer dependencies (23 MB installed): without them the commands that draw
// SVG say how to install them, before any work (search ran every trial first, then failed on the import;
// experiment made its --out directory first).
import { describe, it, expect, vi } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

vi.mock('vega', () => { throw new Error("Cannot find package 'vega'"); });

describe('SVG charts without vega installed', () => {
  it('svgRenderer says which packages to install', async () => {
    const { svgRenderer } = await import('../src/node/charts.js');
    await expect(svgRenderer()).rejects.toThrow(/^SVG charts need the npm packages vega and vega-lite, which simdnn leaves optional \(npm install vega vega-lite; a chart written as \.json needs neither\)/);
  });

  it('simdnn search --chart x.svg fails at once, before any trial, and --chart x.json works', () => inTempDir(async (dir, runCli, exists) => {
    const args = ['search', '--trials', '1', '--epochs', '1', '--rows', '100', '--hidden', '8', '--workers', '1', '--out', path.join(dir, 's.jsonl')];
    const svg = await runCli([...args, '--chart', path.join(dir, 's.svg')]);
    expect(svg.code).toBe(1);
    expect(svg.stderr).toMatch(/npm install vega vega-lite/);
    expect(await exists(path.join(dir, 's.jsonl'))).toBe(false); // no trial ran
    const json = await runCli([...args, '--chart', path.join(dir, 's.json')]);
    expect(json.code).toBe(0);
  }));

  it('simdnn experiment fails at once and leaves no --out directory behind (it made the directory first)', () => inTempDir(async (dir, runCli, exists) => {
    const r = await runCli(['experiment', 'optimizer-naive', '--out', path.join(dir, 'charts', 'quick')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/npm install vega vega-lite/);
    expect(await exists(path.join(dir, 'charts'))).toBe(false);
  }));
});

/** Runs `body` in a fresh temporary directory (removed after) with the command line, loaded after the mock above. */
async function inTempDir(body: (dir: string, runCli: typeof import('./helpers/cli.js').runCli, exists: (p: string) => Promise<boolean>) => Promise<void>): Promise<void> {
  const { runCli, exists } = await import('./helpers/cli.js');
  const dir = await mkdtemp(path.join(tmpdir(), 'simdnn-charts-optional-'));
  try {
    await body(dir, runCli, exists);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
