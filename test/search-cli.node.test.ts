// `simdnn search` on local worker threads and `simdnn worker`'s and search's
// command-line errors: the best-N table, the JSON-lines file, the chart,
// resuming a study from its file (nothing run again), exit code 2 on bad options;
// the results file kept safe: a file that is not a results file (or is damaged)
// refused untouched, a torn last line dropped with a note, duplicates counted
// once, one search at a time (its lock), a failed append ending the search with
// a clear error, closed pipes on stdout/stderr (EPIPE) not ending it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../src/node/cli/index.js';
import { Capture, runCli, exists } from './helpers/cli.js';

const run = (argv: string[], signal?: AbortSignal) => runCli(argv, { signal });

/** A quick study: 100 digits, a 784-20-10 net, one worker thread. */
const QUICK = ['search', '--hidden', '20', '--rows', '100', '--epochs', '1', '--workers', '1'];
const indices = async (file: string) => (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).index as number).sort();

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
    expect(again.stdout.split('\n')[3]).toMatch(/^3 trials \(0 failed\), 0 epochs trained \(6 more stored\)/);
    for (const l of lines) expect(again.stderr).toContain(`trial ${l.index} (2 epochs) valAcc ${l.history[1].valAcc.toFixed(4)}, ${l.seconds.toFixed(1)} s`);
    expect((await readFile(out, 'utf8')).trim().split('\n')).toHaveLength(3);
  });

  it('draws each chart axis on the scale of its setting in --space (a uniform weight decay on a linear axis)', async () => {
    const space = path.join(tmp, 'uniform-wd.json');
    await writeFile(space, JSON.stringify({ lr: { kind: 'logUniform', low: 0.01, high: 0.1 }, weightDecay: { kind: 'uniform', low: 0.001, high: 0.01 }, hidden: [8] }));
    const chart = path.join(tmp, 'uniform-wd.json.chart.json');
    const done = await run(['search', '--study', 'uniform-wd', '--trials', '2', '--epochs', '1', '--rows', '100', '--workers', '1', '--space', space, '--out', path.join(tmp, 'uniform-wd.jsonl'), '--chart', chart]);
    expect(done.code).toBe(0);
    const spec = JSON.parse(await readFile(chart, 'utf8'));
    const scatter = spec.hconcat[1]; // lr × weight decay
    expect([scatter.encoding.x.scale?.type, scatter.encoding.y.scale?.type]).toEqual(['log', 'linear']);
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

  it('--trial-timeout: trials past it are recorded as timed out with the epochs they completed; the resumed study does not run them again', async () => {
    const out = path.join(tmp, 'limited.jsonl');
    // 1,000 epochs of the book's net (seconds a trial) against a limit of 1 ms: every trial is stopped
    const args = ['search', '--study', 'limited', '--trials', '2', '--epochs', '1000', '--rows', '100', '--workers', '1', '--trial-timeout', '0.001', '--out', out];
    const first = await run(args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^2 trials \(0 failed, 2 timed out\), \d+ epochs trained/m);
    expect(first.stdout.split('\n')[1]).toMatch(/^1 +0 +(-|0\.\d{4}) .* timeout +/);
    expect(first.stderr).toMatch(/trial \d \(1000 epochs\) timed out: stopped at the trial time limit of 0\.001 s after \d+ of 1000 epochs/);
    const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.index, l.status])).toEqual(expect.arrayContaining([[0, 'timeout'], [1, 'timeout']]));
    for (const l of lines) expect(l.error).toBe(`timed out: stopped at the trial time limit of 0.001 s after ${l.history.length} of 1000 epochs`);
    const again = await run(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming: 2 stored/);
    expect(again.stdout).toMatch(/^2 trials \(0 failed, 2 timed out\), 0 epochs trained/m);
    expect((await readFile(out, 'utf8')).trim().split('\n')).toHaveLength(2);
  });

  it('refuses bad options with exit code 2, naming them', async () => {
    const empty = path.join(tmp, 'empty-space.json');
    await writeFile(empty, '{}');
    const badName = path.join(tmp, 'bad-name-space.json');
    await writeFile(badName, JSON.stringify({ lr: { kind: 'logUniform', low: 1e-6, high: 1e-2 }, batch: 50 }));
    const badValue = path.join(tmp, 'bad-value-space.json');
    await writeFile(badValue, JSON.stringify({ lr: { kind: 'logUniform', low: 1e-6, high: 1e-2 }, batchSize: 0 }));
    const cases: Array<[string[], RegExp]> = [
      [['search', '--scheduler', 'asha', '--eta', '1'], /--eta: expected a number >= 2/],
      [['search', '--scheduler', 'asha', '--min-epochs', '5', '--epochs', '2'], /--min-epochs: expected an integer in \[1, 2\], got '5'/],
      [['search', '--space', empty], /--space: .*empty-space\.json holds no setting, so nothing is searched/],
      [['search', '--space', badName], /^simdnn: --space: settings\.batch: unknown setting/m],
      [['search', '--space', badValue], /^simdnn: --space: settings\.batchSize: expected a positive integer, got 0/m],
      [['search', '--connect-timeout', '5'], /--connect-timeout: only with --queue/],
      [['search', '--queue', 'redis://127.0.0.1:1', '--connect-timeout', '0'], /--connect-timeout: expected a number of seconds > 0/],
      [['worker', '--queue', 'redis://127.0.0.1:1', '--connect-timeout', 'x'], /--connect-timeout: expected a number/],
      [['search', '--queue', 'redis://:hush@localhost/abc'], /--queue: queue: bad database number in 'redis:\/\/:\*\*\*@localhost\/abc'/],
      [['search', '--lr', '1e-2'], /--lr: expected lo,hi/],
      [['search', '--lr', '0,1'], /--lr: expected 0 < lo <= hi/],
      [['search', '--parallel', '2'], /--parallel: only with --scheduler asha/],
      [['search', '--trial-timeout', '0'], /--trial-timeout: expected a number of seconds in \(0, 2147483\.647\] \(about 24\.8 days\), got 0/],
      [['search', '--trial-timeout=-5'], /--trial-timeout: expected a number of seconds in \(0, 2147483\.647\]/],
      [['search', '--trial-timeout', '3000000'], /--trial-timeout: expected a number of seconds in \(0, 2147483\.647\]/],
      [['search', '--trial-timeout', 'soon'], /--trial-timeout: expected a number, got 'soon'/],
      [['search', '--scheduler', 'hyperband'], /--scheduler: unknown name 'hyperband'/],
      [['search', '--queue', 'redis://127.0.0.1:1', '--workers', '2'], /--workers: with --queue/],
      [['search', '--study', 'a:b'], /--study: expected 1 to 100 letters/],
      [['search', '--out', '/nonexistent-dir/x.jsonl'], /--out: the directory of/],
      [['search', '--queue', 'http://x'], /--queue: queue: expected redis:\/\/\[USER:PASSWORD@\]HOST:PORT/],
      [['worker'], /--queue: required/],
      [['worker', '--queue', 'nope'], /--queue: queue: expected redis:\/\/\[USER:PASSWORD@\]HOST:PORT/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(message);
    }
  });

  it('refuses an --out that is not a results file, or is damaged, with exit 2, leaving it as it was', async () => {
    const good = path.join(tmp, 'good.jsonl');
    expect((await run([...QUICK, '--quiet', '--study', 'good', '--trials', '3', '--out', good])).code).toBe(0);
    const lines = (await readFile(good, 'utf8')).split('\n').slice(0, -1);
    const model = Buffer.concat([Buffer.from([21, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"__metadata__":{}}  '), Buffer.from(new Float32Array([1.5, -2, 3]).buffer)]);
    const cases: Array<[string, string | Buffer, RegExp]> = [
      ['notes.txt', 'my notes\nline two\n', /line 1 is not JSON/],
      ['one-line.txt', 'my notes', /line 1 is not JSON/],
      ['model.safetensors', model, /line 1 is not JSON/],
      ['middle.jsonl', [lines[0], `${lines[1].replace('"history"', '"hist#ry"')}}`, lines[2], ''].join('\n'), /line 2 is not JSON/],
      ['null.jsonl', [...lines, 'null', ''].join('\n'), /line 4 is JSON but not a trial result/],
      ['number.jsonl', [lines[0], '42', lines[1], ''].join('\n'), /line 2 is JSON but not a trial result/],
      ['object.jsonl', ['{}', ...lines, ''].join('\n'), /line 1 is JSON but not a trial result/],
      ['conflict.jsonl', [...lines, lines[1].replace(/"valAcc":[\d.e-]+/, '"valAcc":0.5'), ''].join('\n'), /lines 2 and 4 of .* hold different results of trial \d \(1 epochs\)/],
    ];
    for (const [name, content, message] of cases) {
      const file = path.join(tmp, name);
      await writeFile(file, content);
      const r = await run([...QUICK, '--study', 'good', '--trials', '3', '--out', file]);
      expect(r.code, name).toBe(2);
      expect(r.stderr, name).toMatch(/^simdnn: --out: /);
      expect(r.stderr, name).toMatch(message);
      expect(await readFile(file), name).toEqual(Buffer.from(content));
      expect(await exists(`${file}.lock`), name).toBe(false);
    }
    // a usage error found after the file was looked at leaves it as it was too
    const notes = path.join(tmp, 'notes.txt');
    const late = await run(['search', '--out', notes, '--queue', 'http://x']);
    expect(late.code).toBe(2);
    expect(await readFile(notes, 'utf8')).toBe('my notes\nline two\n');
    // a directory: refused before any trial runs
    const dir = await run([...QUICK, '--study', 'good', '--trials', '3', '--out', tmp]);
    expect(dir.code).toBe(2);
    expect(dir.stderr).toMatch(/--out: '.*' is a directory/);
    expect(dir.stderr).not.toMatch(/trial 0/);
  });

  it("drops a torn last line (a crash mid-append) with a note, keeping every other byte, and counts a result stored twice once", async () => {
    const file = path.join(tmp, 'torn.jsonl');
    const args = [...QUICK, '--study', 'torn', '--trials', '3', '--out', file];
    expect((await run([...args, '--quiet'])).code).toBe(0);
    const whole = await readFile(file, 'utf8');
    const lines = whole.split('\n').slice(0, -1);
    const kept = `${lines[0]}\n${lines[1]}\n`;
    await writeFile(file, `${kept}${lines[2].slice(0, 40)}`);
    const torn = await run(args);
    expect(torn.code).toBe(0);
    expect(torn.stderr).toMatch(/dropped the last line of .*torn\.jsonl, cut short by a crash \(40 bytes\): its trial runs again/);
    expect(torn.stderr).toMatch(/resuming: 2 stored/);
    const after = await readFile(file, 'utf8');
    expect(after.startsWith(kept)).toBe(true);
    expect(await indices(file)).toEqual([0, 1, 2]);
    // the same result twice (another run of the job: its worker and wall time differ) is one result
    const twice = `${after}${lines[1].replace(/"seconds":[\d.e-]+/, '"seconds":99')}\n`;
    await writeFile(file, twice);
    const again = await run(args);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/1 result stored twice \(the same trial, epochs and bits\) counted once/);
    expect(again.stderr).toMatch(/resuming: 3 stored/);
    expect(await readFile(file, 'utf8')).toBe(twice);
  });

  it("one search at a time writes a results file: a second is refused while the first runs; a gone search's lock is taken over", async () => {
    const out = path.join(tmp, 'locked.jsonl');
    const args = (trials: number) => [...QUICK, '--quiet', '--study', 'locked', '--trials', String(trials), '--out', out];
    const first = run(args(4));
    let ended = false;
    void first.then(() => { ended = true; });
    while (!(await exists(`${out}.lock`))) {
      expect(ended).toBe(false);
      await new Promise((r) => setTimeout(r, 5));
    }
    const second = await run(args(4));
    expect(ended).toBe(false);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/another simdnn search \(pid@host \d+@.+\) is writing to .*locked\.jsonl: wait for it to end \(or remove .*locked\.jsonl\.lock if it is gone\)/);
    expect((await first).code).toBe(0);
    expect(await exists(`${out}.lock`)).toBe(false);
    expect(await indices(out)).toEqual([0, 1, 2, 3]);
    // a lock left by a search that died (SIGKILL, power loss)
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(`${out}.lock`, `${gone}@${hostname()}`);
    const third = await run(args(5));
    expect(third.stderr).toMatch(new RegExp(`took over .*locked\\.jsonl\\.lock of a search that is gone \\(${gone}@`));
    expect(third.code).toBe(0);
    expect(await exists(`${out}.lock`)).toBe(false);
    expect(await indices(out)).toEqual([0, 1, 2, 3, 4]);
  });

  it('ends with a clear error (exit 1), not an unhandled rejection, when a result cannot be appended mid-run', async () => {
    const out = path.join(tmp, 'vanishing.jsonl');
    let swapped = false;
    const stderr = new Capture();
    const write = stderr.write.bind(stderr);
    stderr.write = (text: string) => {
      write(text);
      // the first result is stored: the file becomes a directory
      if (!swapped && / trial \d \(1 epochs\)/.test(text)) { swapped = true; rmSync(out); mkdirSync(out); }
    };
    const code = await main([...QUICK, '--study', 'vanishing', '--trials', '3', '--out', out], { stdout: new Capture(), stderr });
    expect(swapped).toBe(true);
    expect(code).toBe(1);
    expect(stderr.text).toMatch(/simdnn: error: cannot append a result to .*vanishing\.jsonl \(EISDIR[^)]*\); the search stopped with 1 results in it: run the same command to resume/);
  });

  it('goes on when stdout and stderr are closed pipes (EPIPE: `simdnn search | head -1`), storing every result', async () => {
    /** A pipe whose reader is gone; records an error no one handles (in a process, an uncaught exception). */
    class ClosedPipe extends Writable {
      unhandled: Error[] = [];
      override _write(_chunk: unknown, _encoding: string, callback: (e: Error) => void): void {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      }
      override emit(event: string | symbol, ...args: unknown[]): boolean {
        if (event === 'error' && this.listenerCount('error') === 0) { this.unhandled.push(args[0] as Error); return false; }
        return super.emit(event, ...args);
      }
    }
    const out = path.join(tmp, 'piped.jsonl');
    const stdout = new ClosedPipe(), stderr = new ClosedPipe();
    const code = await main([...QUICK, '--study', 'piped', '--trials', '3', '--out', out], { stdout, stderr });
    await new Promise((r) => setTimeout(r, 50)); // a stream reports a write's error after it
    expect(stdout.unhandled).toEqual([]);
    expect(stderr.unhandled).toEqual([]);
    expect(code).toBe(0);
    expect(await indices(out)).toEqual([0, 1, 2]);
  });
});
