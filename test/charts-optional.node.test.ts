// vega and vega-lite are optional peer dependencies (23 MB installed): without them the commands that draw
// SVG say how to install them, before any work (search ran every trial first, then failed on the import;
// experiment made its --out directory first).
import { describe, it, expect, vi } from 'vitest';

vi.mock('vega', () => { throw new Error("Cannot find package 'vega'"); });

describe('SVG charts without vega installed', () => {
  it('svgRenderer says which packages to install', async () => {
    const { svgRenderer } = await import('../src/node/charts.js');
    await expect(svgRenderer()).rejects.toThrow(/^SVG charts need the npm packages vega and vega-lite, which simdnn leaves optional \(npm install vega vega-lite; a chart written as \.json needs neither\)/);
  });

  it('simdnn search --chart x.svg fails at once, before any trial, and --chart x.json works', async () => {
    const { runCli } = await import('./helpers/cli.js');
    const { mkdtemp, rm, stat } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(tmpdir(), 'simdnn-charts-optional-'));
    try {
      const args = ['search', '--trials', '1', '--epochs', '1', '--rows', '100', '--hidden', '8', '--workers', '1', '--out', path.join(dir, 's.jsonl')];
      const svg = await runCli([...args, '--chart', path.join(dir, 's.svg')]);
      expect(svg.code).toBe(1);
      expect(svg.stderr).toMatch(/npm install vega vega-lite/);
      expect(await stat(path.join(dir, 's.jsonl')).then(() => true, () => false)).toBe(false); // no trial ran
      const json = await runCli([...args, '--chart', path.join(dir, 's.json')]);
      expect(json.code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('simdnn experiment fails at once and leaves no --out directory behind (it made the directory first)', async () => {
    const { runCli } = await import('./helpers/cli.js');
    const { mkdtemp, rm, stat } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(tmpdir(), 'simdnn-charts-optional-'));
    try {
      const out = path.join(dir, 'charts', 'quick');
      const r = await runCli(['experiment', 'optimizer-naive', '--out', out]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/npm install vega vega-lite/);
      expect(await stat(path.join(dir, 'charts')).then(() => true, () => false)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
