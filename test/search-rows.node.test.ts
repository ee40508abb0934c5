// A search's `rows` beyond the bundled digits' or an IDX directory's training part is refused, as a CSV table's
// is (the loaders keep the rows there are, so the study ran on fewer rows than its DataSpec records):
// loadSearchData names the part; a search on worker threads rejects with that message rather than recording
// failed trials (the queue's workers run their trials on the same threads); `simdnn search` says it as a usage
// error before the results file and the trials, of --rows or of its default.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from './helpers/cli.js';
import { rng } from './helpers/runtime.js';
import { createRuntime } from '../src/node/runtime.js';
import { encodeIdx } from '../src/data/idx.js';
import { hyperparameterSearch, loadSearchData, logUniform, type DataSpec, type ScoredResult } from '../src/node/search/index.js';
import type { Runtime } from '../src/runtime/runtime.js';

let tmp: string;
/** An IDX directory of 40 training and 10 test images of 6 x 5 pixels, 3 classes. */
let idx: string;
let rt: Runtime;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-search-rows-'));
  rt = await createRuntime({ threads: 1 });
  idx = path.join(tmp, 'idx');
  await mkdir(idx);
  const next = rng(9);
  for (const [part, n] of [['train', 40], ['t10k', 10]] as const) {
    await writeFile(path.join(idx, `${part}-images-idx3-ubyte`), encodeIdx([n, 6, 5], Uint8Array.from({ length: n * 30 }, () => Math.floor(next() * 256))));
    await writeFile(path.join(idx, `${part}-labels-idx1-ubyte`), encodeIdx([n], Uint8Array.from({ length: n }, (_, i) => i % 3)));
  }
});
afterAll(async () => {
  await rt.dispose();
  await rm(tmp, { recursive: true, force: true });
});

/** What loading `spec` gives: its refusal (the error's class and message), or 'loaded' (the data freed at once). */
async function refusal(spec: DataSpec): Promise<string> {
  try {
    (await loadSearchData(rt, spec)).dispose!();
    return 'loaded';
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

describe('loadSearchData', () => {
  it("refuses rows beyond the digits' or the IDX directory's training part, naming it, and leaves nothing allocated", async () => {
    const used = rt.memoryStats().used;
    expect(await refusal({ source: 'mnist', rows: 20000 })).toBe("RangeError: data.rows: 20000 is more than the 8000 rows of the bundled digits' training part");
    expect(await refusal({ source: idx, rows: 41 })).toBe(`RangeError: data.rows: 41 is more than the 40 rows of IDX directory ${idx}'s training part`);
    expect(rt.memoryStats().used).toBe(used);
  });

  it('takes every row of the part when rows is its count', async () => {
    for (const [source, rows] of [['mnist', 8000], [idx, 40]] as const) {
      const d = await loadSearchData(rt, { source, rows });
      try {
        expect(d.xTrain.shape[0] + d.xVal.shape[0], source).toBe(rows);
      } finally {
        d.dispose!();
      }
    }
  });
});

describe('a search on worker threads whose rows are beyond the data', () => {
  it('rejects with the refusal: no trial recorded, none failed', async () => {
    const seen: ScoredResult[] = [];
    const search = hyperparameterSearch({
      space: { lr: logUniform(0.01, 0.1), hidden: [4], batchSize: 8 }, trials: 2, epochs: 1, workers: 1,
      data: { source: idx, rows: 41, validation: 0.25, splitSeed: 1 }, onResult: (r) => seen.push(r),
    });
    expect(await search.then((r) => `resolved: ${r.trials.length} trials`, (e: Error) => e.message)).toBe(`trial 0: data.rows: 41 is more than the 40 rows of IDX directory ${idx}'s training part`);
    expect(seen).toEqual([]);
  });
});

describe('simdnn search --rows', () => {
  const common = (study: string) => ['search', '--study', study, '--out', path.join(tmp, `${study}.jsonl`), '--trials', '1', '--epochs', '1', '--hidden', '4',
    '--batch', '8', '--workers', '1', '--quiet'];

  it("beyond the digits' or the IDX directory's training part (given, or the default 500): exit 2 before the results file", async () => {
    for (const [argv, message] of [
      [['--data', 'mnist', '--rows', '20000'], /^simdnn: --rows: 20000 is more than the 8000 rows of the bundled digits' training part\n/],
      [['--data', idx, '--rows', '41'], /^simdnn: --rows: 41 is more than the 40 rows of IDX directory .*idx's training part\n/],
      [['--data', idx], /^simdnn: --rows: 500 is more than the 40 rows of IDX directory .*idx's training part \(the book's, the default: give --rows\)\n/],
    ] as Array<[string[], RegExp]>) {
      const r = await runCli([...common('refused'), ...argv]);
      expect(r.stderr, argv.join(' ')).toMatch(message);
      expect(r.code, argv.join(' ')).toBe(2);
    }
    await expect(readFile(path.join(tmp, 'refused.jsonl'))).rejects.toThrow(/ENOENT/);
  });

  it('as many rows as the IDX directory holds: the search runs on all of them', async () => {
    const r = await runCli([...common('whole'), '--data', idx, '--rows', '40']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [stored] = (await readFile(path.join(tmp, 'whole.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as ScoredResult);
    expect(stored).toMatchObject({ status: 'ok', data: { source: idx, rows: 40 } });
  });
});
