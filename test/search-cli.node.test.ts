// `simdnn search` on local worker threads and `simdnn worker`'s and search's
// command-line errors: the best-N table, the JSON-lines file, the chart,
// resuming a study from its file (nothing run again), exit code 2 on bad options.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main, type Output } from '../src/node/cli/index.js';

class Capture implements Output {
  text = '';
  write(s: string): void { this.text += s; }
}
async function run(argv: string[], signal?: AbortSignal) {
  const stdout = new Capture(), stderr = new Capture();
  const code = await main(argv, { stdout, stderr }, { signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-search-cli-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

describe('simdnn search', () => {
  it('prints the best trials, writes one JSON line per trial and the chart, and resumes from the file', async () => {
    const out = path.join(tmp, 'tiny.jsonl');
    const svg = path.join(tmp, 'tiny.svg');
    const args = ['search', '--study', 'tiny', '--trials', '3', '--epochs', '2', '--hidden', '20', '--lr', '1e-2,1e-1', '--workers', '1', '--out', out, '--top', '2'];
    const first = await run([...args, '--chart', svg]);
    expect(first.stderr).toMatch(/study 'tiny', 3 trials x 2 epochs, 1 local worker/);
    expect(first.code).toBe(0);
    const table = first.stdout.split('\n');
    expect(table[0]).toMatch(/^rank +trial +valAcc +trainAcc +valLoss +epochs +lr +weightDecay +worker$/);
    expect(table[1]).toMatch(/^1 +\d +0\.\d{4} +0\.\d{4} +\d\.\d{4} +2 +\d\.\d{3}e-\d +\d\.\d{3}e-\d +thread-0$/);
    expect(table[3]).toMatch(/^3 trials \(0 failed\), 6 epochs trained/);
    const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.index).sort()).toEqual([0, 1, 2]);
    expect(lines[0].history).toHaveLength(2);
    expect(await readFile(svg, 'utf8')).toMatch(/^<svg[\s\S]*Best validation accuracy so far[\s\S]*<\/svg>$/);
    const again = await run(args);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/resuming: 3 stored/);
    // the stored results themselves (their wall times too): nothing ran again
    expect(again.stdout.split('\n').slice(1, 3)).toEqual(table.slice(1, 3));
    for (const l of lines) expect(again.stderr).toContain(`trial ${l.index} (2 epochs) valAcc ${l.history[1].valAcc.toFixed(4)}, ${l.seconds.toFixed(1)} s`);
    expect((await readFile(out, 'utf8')).trim().split('\n')).toHaveLength(3);
  });

  it('stops at once when interrupted (exit 130), and the study resumes to completion', async () => {
    const out = path.join(tmp, 'stopped.jsonl');
    const args = ['search', '--study', 'stopped', '--trials', '4', '--epochs', '3', '--hidden', '20', '--workers', '1', '--out', out];
    const controller = new AbortController();
    setTimeout(() => controller.abort('SIGINT'), 100);
    const stopped = await run(args, controller.signal);
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toMatch(/stopped \(SIGINT\); \d results in .*stopped\.jsonl; run the same command to resume/);
    const done = await run(args);
    expect(done.code).toBe(0);
    expect((await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).index).sort()).toEqual([0, 1, 2, 3]);
  });

  it('refuses bad options with exit code 2, naming them', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['search', '--lr', '1e-2'], /--lr: expected lo,hi/],
      [['search', '--lr', '0,1'], /--lr: expected 0 < lo <= hi/],
      [['search', '--parallel', '2'], /--parallel: only with --scheduler asha/],
      [['search', '--scheduler', 'hyperband'], /--scheduler: unknown name 'hyperband'/],
      [['search', '--queue', 'redis://127.0.0.1:1', '--workers', '2'], /--workers: with --queue/],
      [['search', '--study', 'a:b'], /--study: expected 1 to 100 letters/],
      [['search', '--out', '/nonexistent-dir/x.jsonl'], /--out: the directory of/],
      [['search', '--queue', 'http://x'], /--queue: queue: expected redis:\/\/HOST:PORT/],
      [['worker'], /--queue: required/],
      [['worker', '--queue', 'nope'], /--queue: queue: expected redis:\/\/HOST:PORT/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(message);
    }
  });
});
