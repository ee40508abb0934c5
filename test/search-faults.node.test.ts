// The search under faults a user meets, each found by an audit and held here:
//  - a results file's lock naming this very process's pid@host, left by an earlier process that had the
//    same pid (a restarted container runs its search as pid 1 each time, under the same host name): taken
//    over as a dead search's, while a search of this process still holds its own lock;
//  - a --space that draws the optimizer and holds a parameter of only some of them: every trial of the
//    others failed ('unknown setting'); they now train without it, the table showing '-' there;
//  - a study on the queue whose next job was already completed in Redis (a resumed study, a coordinator
//    started again) while no other job waited: the coordinator stopped reading completions and waited
//    for its next job for ever (an ASHA study, one job at a time, hung at its first job not stored).
// Time limits here are ceilings for a hang, not timings.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { queueExecutor, runQueueWorker } from '../src/node/search/queue.js';
import { hyperparameterSearch, logUniform, type SearchOptions } from '../src/search/index.js';
import { freePort, runCli, startRedis, stopRedis, within as withinMs, exists } from './helpers/cli.js';

const HANG_MS = 60_000;

/** A quick study: 100 digits, a 784-20-10 net, one worker thread. */
const QUICK = ['search', '--hidden', '20', '--rows', '100', '--epochs', '1', '--workers', '1', '--quiet'];
const lines = async (file: string) => (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { index: number });

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-search-faults-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

describe("a results file's lock", () => {
  it("naming this process's pid@host but held by no search of it (an earlier process with the same pid) is taken over", async () => {
    const out = path.join(tmp, 'restarted.jsonl');
    await writeFile(`${out}.lock`, `${process.pid}@${hostname()}`);
    const r = await runCli([...QUICK, '--trials', '2', '--out', out]);
    expect(r.stderr).toMatch(new RegExp(`took over .*restarted\\.jsonl\\.lock of a search that is gone \\(${process.pid}@`));
    expect(r.code).toBe(0);
    expect(await exists(`${out}.lock`)).toBe(false);
    expect((await lines(out)).map((l) => l.index).sort()).toEqual([0, 1]);
  });
});

describe('a --space that draws the optimizer, with a parameter of one of them', () => {
  it("its trials take the parameter, the others train without it (they failed, 'unknown setting') and show '-' for it", async () => {
    const space = path.join(tmp, 'conditional.json');
    await writeFile(space, JSON.stringify({ optimizer: { kind: 'choice', values: ['sgd', 'momentum'] }, momentum: { kind: 'uniform', low: 0.5, high: 0.99 }, lr: 0.01, hidden: [20] }));
    const out = path.join(tmp, 'conditional.jsonl');
    const r = await runCli(['search', '--space', space, '--rows', '100', '--epochs', '1', '--workers', '1', '--quiet', '--trials', '6', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^6 trials \(0 failed\)/m);
    const [header, ...rows] = r.stdout.split('\n').slice(0, 7).map((l) => l.split(/ +/));
    expect(header).toEqual(['rank', 'trial', 'valAcc', 'trainAcc', 'valLoss', 'epochs', 'optimizer', 'momentum', 'worker']);
    const cells = rows.map((row) => [row[6], row[7]]);
    expect(cells.filter(([o]) => o === '"sgd"').length).toBeGreaterThan(0);
    for (const [optimizer, momentum] of cells) expect(momentum).toMatch(optimizer === '"sgd"' ? /^-$/ : /^\d\.\d{3}e-1$/);
  });
});

/** `promise`, or a rejection naming `what` after HANG_MS. */
const within = <T>(what: string, promise: Promise<T>): Promise<T> => withinMs(what, promise, HANG_MS);

describe('the queue coordinator', () => {
  it('reads on after a job it finds completed in Redis with no other job waiting (it waited for the next for ever)', async () => {
    const port = await freePort();
    const redis = await startRedis(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp]);
    const url = `redis://127.0.0.1:${port}`;
    let worker: Awaited<ReturnType<typeof runQueueWorker>> | null = null;
    let executor: Awaited<ReturnType<typeof queueExecutor>> | null = null;
    try {
      worker = await runQueueWorker({ url, threads: 1 });
      executor = await queueExecutor({ url, pollMs: 50 });
      // ASHA with one job in flight: each job is added once the one before has its result
      const study = (trials: number): SearchOptions => ({
        study: 'again', trials, epochs: 1, seed: 3, scheduler: 'asha', asha: { parallel: 1 }, executor: executor!,
        data: { source: 'mnist', rows: 100, validation: 0.2, splitSeed: 1 }, space: { lr: logUniform(1e-3, 1e-1), hidden: [20], batchSize: 20 },
      });
      const first = await within('the first study', hyperparameterSearch(study(2)));
      // the same study with a third trial: trials 0 and 1 are found completed in Redis, trial 2 runs
      const again = await within('the study with one more trial', hyperparameterSearch(study(3)));
      expect(again.trials.map((t) => [t.index, t.status])).toEqual([[0, 'ok'], [1, 'ok'], [2, 'ok']]);
      expect(again.trials.slice(0, 2).map((t) => t.history)).toEqual(first.trials.map((t) => t.history));
    } finally {
      await executor?.close();
      await worker?.close();
      await stopRedis(redis);
    }
  }, 3 * HANG_MS);
});
