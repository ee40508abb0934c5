// The figures of docs/SEARCH.md: trials per minute for the book's search
// (hyperparameter_optimization.py: 500 digits, 20% validation, MultiLayerNet
// 784-[100x6]-10, SGD, batch 100, lr 10^U(-6,-2), weight decay 10^U(-8,-4))
// on the local default (worker threads) and over Redis with 1 and 2 `simdnn
// worker` processes; BullMQ's throughput with trivial jobs; and ASHA against
// the full search on the same seed and trial budget. Starts its own
// redis-server on a free loopback port in a temp dir and stops it.
//   node scripts/search-figures.mjs [--only throughput|asha] [--trials 6] [--epochs 50] [--asha-trials 18] [--asha-epochs 27] [--trivial 2000]
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hyperparameterSearch as search } from '../dist/search/search.js';
import { logUniform } from '../dist/search/space.js';
import { hyperparameterSearch, BOOK_SEARCH_DATA } from '../dist/node/search/index.js';
import { queueExecutor, runQueueWorker } from '../dist/node/search/queue.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, 'dist/node/cli.cjs');
const { values } = parseArgs({ options: {
  trials: { type: 'string', default: '6' }, epochs: { type: 'string', default: '50' },
  'asha-trials': { type: 'string', default: '18' }, 'asha-epochs': { type: 'string', default: '27' },
  'asha-min': { type: 'string', default: '3' }, 'asha-more': { type: 'string', default: '81' },
  trivial: { type: 'string', default: '2000' }, only: { type: 'string', default: 'all' },
} });
const T = Number(values.trials), E = Number(values.epochs);
const space = { lr: logUniform(1e-6, 1e-2), weightDecay: logUniform(1e-8, 1e-4), hidden: [100, 100, 100, 100, 100, 100], optimizer: 'sgd', batchSize: 100 };
const book = { space, trials: T, epochs: E, seed: 1, data: BOOK_SEARCH_DATA };
const children = new Set();
const out = {};
const log = (s) => process.stderr.write(`${s}\n`);

const ticks = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux
async function cpuOf(pid) {
  const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / ticks; // utime + stime, seconds
}
const selfCpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}
function start(cmd, args, ready) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} not ready in 60 s`)), 60_000);
    const look = (d) => { if (String(d).includes(ready)) { clearTimeout(timer); resolve(child); } };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
  });
}
const stop = (child) => new Promise((resolve) => { if (child.exitCode !== null) return resolve(); child.once('exit', resolve); child.kill('SIGTERM'); });
const load = () => os.loadavg()[0].toFixed(1);

try {
  if (values.only !== 'asha') await throughput();
  if (values.only !== 'throughput') await asha();
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  for (const c of children) c.kill('SIGKILL');
}

async function throughput() {
  // ---- local default: worker threads, one per core
  log(`local: ${T} trials x ${E} epochs on ${os.availableParallelism()} threads (load ${load()})`);
  let c0 = selfCpu(), t0 = performance.now();
  const local = await hyperparameterSearch({ ...book, study: 'local' });
  let wall = (performance.now() - t0) / 1000;
  out.local = { trials: T, epochs: E, seconds: wall, trialsPerMin: (60 * T) / wall, cpuSeconds: selfCpu() - c0, best: local.best[0].objective, load: load() };
  log(JSON.stringify(out.local));

  // ---- over Redis: 1 and 2 worker processes of one thread each
  const dir = await mkdtemp(path.join(os.tmpdir(), 'simdnn-fig-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const redis = await start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--daemonize', 'no'], 'Ready to accept connections');
  for (const n of [1, 2]) {
    const workers = await Promise.all(Array.from({ length: n }, () => start(process.execPath, [cli, 'worker', '--queue', url, '--threads', '1'], 'taking jobs')));
    log(`redis: ${n} worker process(es) (load ${load()})`);
    const exec = await queueExecutor({ url });
    c0 = selfCpu(); t0 = performance.now();
    const r = await search({ ...book, study: `fig-${n}`, executor: exec });
    wall = (performance.now() - t0) / 1000;
    const coordinatorCpu = selfCpu() - c0;
    const workerCpu = (await Promise.all(workers.map((w) => cpuOf(w.pid)))).reduce((a, b) => a + b, 0);
    await exec.close();
    await Promise.all(workers.map(stop));
    const same = JSON.stringify(r.trials.map((t) => t.history)) === JSON.stringify(local.trials.map((t) => t.history));
    out[`redis${n}`] = { workers: n, seconds: wall, trialsPerMin: (60 * T) / wall, coordinatorCpuSeconds: coordinatorCpu, workerCpuSeconds: workerCpu, sameBitsAsLocal: same, load: load() };
    log(JSON.stringify(out[`redis${n}`]));
  }
  const resultBytes = Buffer.byteLength(JSON.stringify(local.trials[0]));
  const jobBytes = Buffer.byteLength(JSON.stringify({ study: 'fig-1', index: 0, seed: 1, settings: local.trials[0].settings, epochs: E, data: BOOK_SEARCH_DATA }));
  out.sizes = { resultBytes, jobBytes };

  // ---- trivial jobs: BullMQ + Redis + this coordinator, results the size of a trial's
  const N = Number(values.trivial);
  const payload = { ...local.trials[0] };
  const worker = await runTrivialWorker(url, payload);
  const exec = await queueExecutor({ url, name: 'trivial' });
  const redisCpu0 = await cpuOf(redis.pid);
  c0 = selfCpu(); t0 = performance.now();
  await Promise.all(Array.from({ length: N }, (_, i) => exec.run({ study: 'trivial', index: i, seed: 0, settings: {}, epochs: 1, data: {} })));
  wall = (performance.now() - t0) / 1000;
  out.trivial = { jobs: N, seconds: wall, jobsPerSec: N / wall, processCpuSeconds: selfCpu() - c0, redisCpuSeconds: (await cpuOf(redis.pid)) - redisCpu0, load: load() };
  log(JSON.stringify(out.trivial));
  await exec.close();
  await worker.close();
  await stop(redis);
  await rm(dir, { recursive: true, force: true });
}

/** ASHA against the full search on the same seed: the same trials, and 3x the trials (about the full search's epochs or fewer). */
async function asha() {
  const A = Number(values['asha-trials']), AE = Number(values['asha-epochs']), more = Number(values['asha-more']);
  const runs = [['none', A], ['asha', A], ['asha', more]];
  for (const [scheduler, trials] of runs) {
    log(`${scheduler}: ${trials} trials x ${AE} epochs (load ${load()})`);
    const t0 = performance.now();
    const r = await hyperparameterSearch({ ...book, trials, epochs: AE, study: scheduler, scheduler, ...(scheduler === 'asha' ? { asha: { reductionFactor: 3, minEpochs: Number(values['asha-min']), parallel: 2 } } : {}) });
    out[`search_${scheduler}_${trials}`] = { trials, epochs: AE, epochsSpent: r.epochsSpent, bestValAcc: r.best[0].objective, bestTrial: r.best[0].index, bestEpochs: r.best[0].epochs, reachedFull: r.trials.filter((t) => t.epochs === AE).length, failed: r.failed, seconds: (performance.now() - t0) / 1000, load: load() };
    log(JSON.stringify(out[`search_${scheduler}_${trials}`]));
  }
}

/** A worker that answers every job at once with `payload` (no training). */
async function runTrivialWorker(url, payload) {
  const { Worker } = await import('bullmq');
  const { redisConnection } = await import('../dist/node/search/queue.js');
  const w = new Worker('trivial', async () => payload, { connection: redisConnection(url), concurrency: 16 });
  w.on('error', () => undefined);
  await w.waitUntilReady();
  return { close: () => w.close() };
}
