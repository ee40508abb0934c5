// Every experiment's quick run on the bundled digits: the JSON's structure
// and sane values, the rendered SVG (well-formed, one mark per series), the
// book's conclusions where they are robust on quick runs, the CLI's files,
// the same JSON for --threads 1 and 2, and vega kept out of `import 'simdnn'`.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runExperiment, chartSpec, experimentNames, type ExperimentResult } from '../src/experiments/index.js';
import type { ExperimentData, ExperimentName } from '../src/experiments/types.js';
import { renderSvg } from '../src/node/charts.js';
import { main } from '../src/node/cli/index.js';
import { runExperimentsToDir } from '../src/node/cli/experiment.js';
import { exists } from './helpers/cli.js';
import { loadMnist } from '../src/node/data.js';
import { createRuntime } from '../src/node/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
let rt: Runtime;
let data: ExperimentData;
let tmp: string;
const results = new Map<string, ExperimentResult>();

beforeAll(async () => {
  rt = await createRuntime({ seed: 1, threads: 1 });
  data = (await loadMnist(rt)) as ExperimentData;
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-experiments-'));
});
afterAll(async () => {
  for (const t of [data.xTrain, data.tTrain, data.xTest, data.tTest]) t.dispose();
  await rt.dispose();
  await rm(tmp, { recursive: true, force: true });
});

/** The quick run of `name`, run once for all the tests that look at it. */
async function quick(name: ExperimentName): Promise<ExperimentResult> {
  if (!results.has(name)) results.set(name, await runExperiment(name, { rt, data, quick: true, seed: 1 }));
  return results.get(name)!;
}

/** Throws unless the text is one well-formed element tree (every tag closed in order). */
function checkWellFormed(svg: string): void {
  const stack: string[] = [];
  const body = svg.replace(/<\?xml[^>]*\?>/, '').replace(/<!--[\s\S]*?-->/g, '');
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g)) {
    const [, closing, tag, , selfClosing] = m;
    if (selfClosing) continue;
    if (!closing) stack.push(tag);
    else if (stack.pop() !== tag) throw new Error(`</${tag}> closes the wrong element`);
  }
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`);
}

describe.each(experimentNames)('%s --quick', (name) => {
  it('has the expected structure and sane values', async () => {
    const r = await quick(name);
    expect(r).toMatchObject({ name, quick: true, seed: 1 });
    expect(r.title.length).toBeGreaterThan(5);
    expect(r.conclusion.length).toBeGreaterThan(100);
    expect(Object.keys(r.settings).length).toBeGreaterThan(2);
    const tables = Object.values(r.tables);
    expect(tables.length).toBeGreaterThan(0);
    for (const rows of tables) {
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) {
        for (const [key, v] of Object.entries(row)) {
          if (typeof v !== 'number') continue;
          expect(Number.isFinite(v), `${key} = ${v}`).toBe(true);
          if (/acc/i.test(key)) expect(v >= 0 && v <= 1, `${key} = ${v}`).toBe(true);
          if (/loss/i.test(key)) expect(v, key).toBeGreaterThanOrEqual(0);
        }
      }
    }
    // the JSON written is the result itself: a round trip keeps every number
    expect(JSON.parse(JSON.stringify(r))).toEqual(JSON.parse(JSON.stringify(r)));
  });

  it('renders to a well-formed SVG with one mark per series', async () => {
    const r = await quick(name);
    const svg = await renderSvg(chartSpec(r));
    expect(svg.startsWith('<svg')).toBe(true);
    checkWellFormed(svg);
    expect(svg).toContain(r.title.replace(/&/g, '&amp;').slice(0, 20));
    expect(Object.keys(r.marks).length).toBeGreaterThan(0);
    for (const [mark, count] of Object.entries(r.marks)) {
      expect(count).toBeGreaterThan(0);
      const drawn = svg.split(`role-mark ${mark}_marks"`).length - 1;
      expect(drawn, `${mark} series`).toBe(count);
    }
  });
});

describe("the book's conclusions on quick runs", () => {
  it('He and Xavier beat std 0.01 on loss', async () => {
    const loss = (await quick('init-compare')).summary.deepNetMeanLossOfLast20Steps as Record<string, number>;
    expect(loss.He).toBeLessThan(loss['std 0.01']);
    expect(loss.Xavier).toBeLessThan(loss['std 0.01']);
    // std 0.01 stays at chance: ln 10
    expect(loss['std 0.01']).toBeGreaterThan(2.25);
  });

  it('batch norm beats no batch norm at small weight scales', async () => {
    const acc = (await quick('batchnorm')).summary.finalTrainingAccuracy as Record<string, { batchNorm: number; noBatchNorm: number }>;
    const small = Object.entries(acc).filter(([w]) => Number(w) <= 0.01);
    expect(small.length).toBeGreaterThanOrEqual(2);
    for (const [, a] of small) expect(a.batchNorm).toBeGreaterThan(a.noBatchNorm + 0.1);
  });

  it('L2 and dropout shrink the train-test gap', async () => {
    const gaps = (await quick('overfit')).summary.lastTenEpochs as Record<string, { gap: number }>;
    expect(gaps['L2 λ 0.1'].gap).toBeLessThan(gaps['no regularisation'].gap);
    expect(gaps['dropout 0.2'].gap).toBeLessThan(gaps['no regularisation'].gap);
  });

  it("SGD's trajectory changes y-direction more often than Adam's", async () => {
    const s = (await quick('optimizer-naive')).summary as Record<string, { directionChangesY: number }>;
    expect(s.SGD.directionChangesY).toBeGreaterThan(2 * s.Adam.directionChangesY);
  });

  it("a sigmoid net's first-layer gradient is orders of magnitude below its last layer's, a ReLU/He net's is not", async () => {
    const ratio = (await quick('gradient-vanishing')).summary.firstOverLastLayerGradientNorm as Record<string, number>;
    expect(ratio['sigmoid, Xavier']).toBeLessThan(1e-2);
    expect(ratio['ReLU, He']).toBeGreaterThan(0.1);
  });

  it('batch norm lets a sigmoid net with std 0.01 learn under plain SGD', async () => {
    const s = (await quick('optimizer-batchnorm')).summary as Record<string, Record<string, number>>;
    expect(s.SGD['batch norm: final test accuracy']).toBeGreaterThan(s.SGD['no batch norm: final test accuracy'] + 0.2);
  });
});

describe('a run on a memory that grows', () => {
  it('deepconvnet counts its mistakes against the labels given (a view of them was emptied when predict() grew the memory: every row a mistake)', async () => {
    const want = (await quick('deepconvnet')).summary as { misclassified: number; testRows: number }; // on a memory left alone
    expect(want.misclassified).toBeLessThan(want.testRows);
    const { Allocator } = await import('../src/runtime/allocator.js');
    const alloc = Allocator.prototype.alloc;
    const grow = vi.spyOn(Allocator.prototype, 'alloc').mockImplementation(function (this: typeof Allocator.prototype, bytes: number) {
      const ptr = alloc.call(this, bytes);
      (this as unknown as { memory: WebAssembly.Memory }).memory.grow(0); // detaches the buffer, as a growth does
      return ptr;
    });
    const moving = await createRuntime({ seed: 1, threads: 1 });
    try {
      const got = await runExperiment('deepconvnet', { rt: moving, data: (await loadMnist(moving)) as ExperimentData, quick: true, seed: 1 });
      expect(got.summary).toEqual(want);
    } finally {
      grow.mockRestore();
      await moving.dispose();
    }
  });
});

describe('errors during a run', () => {
  it('only NaN/Inf in training counts as divergence: a RangeError of a callback that mentions NaN rejects (it was read as the run diverging)', async () => {
    let calls = 0;
    const onProgress = () => { if (++calls === 3) throw new RangeError('my metric is NaN'); };
    await expect(runExperiment('overfit', { rt, data, quick: true, onProgress })).rejects.toThrow(/^my metric is NaN$/);
  });

  it('refuses a signal and an onProgress of the wrong kind before it runs', async () => {
    await expect(runExperiment('overfit', { rt, data, quick: true, signal: 'x' as never })).rejects.toThrow(/^runExperiment: signal must be an AbortSignal$/);
    await expect(runExperiment('overfit', { rt, data, quick: true, signal: {} as never })).rejects.toThrow(/^runExperiment: signal must be an AbortSignal$/);
    await expect(runExperiment('overfit', { rt, data, quick: true, onProgress: 5 as never })).rejects.toThrow(/^runExperiment: onProgress must be a function, got number 5$/);
  });
});

describe('simdnn experiment', () => {
  async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '', stderr = '';
    const code = await main(argv, { stdout: { write: (s: string) => { stdout += s; } }, stderr: { write: (s: string) => { stderr += s; } } });
    return { code, stdout, stderr };
  }

  it('writes the same JSON, bit for bit, with --threads 1 and --threads 2', async () => {
    for (const name of ['gradient-vanishing', 'normalization']) {
      const texts: string[] = [];
      for (const threads of ['1', '2']) {
        const out = path.join(tmp, `threads-${threads}`);
        const r = await cli(['experiment', name, '--quick', '--seed', '3', '--threads', threads, '--out', out]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain(path.join(out, `${name}.svg`));
        texts.push(await readFile(path.join(out, `${name}.json`), 'utf8'));
        expect(await readFile(path.join(out, `${name}.svg`), 'utf8')).toMatch(/^<svg/);
      }
      expect(texts[1]).toBe(texts[0]);
      expect(JSON.parse(texts[0]).seed).toBe(3);
    }
  }, 300_000); // four quick runs, each loading the digits: minutes on a loaded 2-core machine

  it('writes index.html with every chart, its settings and the conclusion when several run (as with all)', async () => {
    const out = path.join(tmp, 'several');
    const names = ['optimizer-naive', 'gradient-vanishing'];
    const reports = await runExperimentsToDir({ names, out, quick: true, seed: 1, threads: 1, quiet: true }, { write: () => true });
    expect(reports.map((r) => r.name)).toEqual(names);
    const html = await readFile(path.join(out, 'index.html'), 'utf8');
    for (const name of names) {
      const result = JSON.parse(await readFile(path.join(out, `${name}.json`), 'utf8')) as ExperimentResult;
      expect(html).toContain(`<section id="${name}">`);
      expect(html).toContain(`<img src="${name}.svg"`);
      expect(html).toContain(`<a href="${name}.json">`);
      expect(html).toContain(result.conclusion.slice(0, 40).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'));
    }
    expect(html.match(/<section /g)).toHaveLength(2);
  });

  it('a stopped run keeps index.html of the experiments that finished and names the rest', async () => {
    const out = path.join(tmp, 'stopped');
    const names = ['optimizer-naive', 'gradient-vanishing', 'init-activations'];
    const stop = new AbortController();
    const reason = new Error('stopped by the test');
    // abort once the first has written its files (its line on a non-TTY stderr)
    const stderr = { write: (text: string) => { if (text.startsWith('optimizer-naive: ') && text.includes(' -> ')) stop.abort(reason); return true; } };
    await expect(runExperimentsToDir({ names, out, quick: true, seed: 1, threads: 1 }, stderr, stop.signal)).rejects.toBe(reason);
    const html = await readFile(path.join(out, 'index.html'), 'utf8');
    expect(html.match(/<section /g)).toHaveLength(1);
    expect(html).toContain('<section id="optimizer-naive">');
    expect(html).toContain('The run stopped before it finished <code>gradient-vanishing</code>, <code>init-activations</code>.');
    expect(await exists(path.join(out, 'gradient-vanishing.json'))).toBe(false);
  });

  it('refuses a bad command line with exit code 2', async () => {
    expect((await cli(['experiment'])).code).toBe(2);
    const r = await cli(['experiment', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown experiment 'nope'");
    expect((await cli(['experiment', 'batchnorm', '--threads', '0'])).code).toBe(2);
    // an --out that cannot be a directory: a usage error naming it (was EEXIST/ENOENT from mkdir, exit 1)
    for (const [out, message] of [['', /--out: the path is empty/], [fileURLToPath(import.meta.url), /--out: '.*' cannot be a directory of results \(a file of that name is in the way\)/],
      ['/dev/full', /--out: '\/dev\/full' cannot be a directory of results/]] as const) {
      const bad = await cli(['experiment', 'batchnorm', '--quick', '--out', out]);
      expect(bad.code, out).toBe(2);
      expect(bad.stderr, out).toMatch(message);
    }
  });
});

describe('the charting library stays out of the library', () => {
  it('no bundle of the package refers to vega', () => {
    for (const bundle of ['index.js', 'node.js', 'node.cjs', 'experiments.js', 'experiments.node.js', 'experiments.node.cjs', 'search.js', 'search.node.js', 'search.node.cjs']) {
      const text = readFileSync(path.join(root, 'dist', 'bundle', bundle), 'utf8');
      expect(text, bundle).not.toMatch(/["']vega(-lite|-embed)?["']/);
    }
  });

  it("require and import of simdnn and simdnn/experiments load no vega module", () => {
    const bundle = (f: string) => JSON.stringify(path.join(root, 'dist', 'bundle', f));
    const script = `
      require(${bundle('node.cjs')});
      const { runExperiment } = require(${bundle('experiments.node.cjs')});
      if (typeof runExperiment !== 'function') throw new Error('runExperiment is not exported');
      const loaded = Object.keys(require.cache).filter((f) => /[\\\\/]vega/.test(f));
      Promise.all([import(${bundle('node.js')}), import(${bundle('experiments.node.js')})]).then(() => {
        process.stdout.write(JSON.stringify({ loaded, modules: Object.keys(require.cache).length }));
      });`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 }));
    expect(out.loaded).toEqual([]);
    expect(out.modules).toBeGreaterThan(0);
  });
});
