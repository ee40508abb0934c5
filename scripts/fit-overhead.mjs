// node scripts/fit-overhead.mjs [pairs]
// The async loop's overhead: Trainer.fit() against the synchronous train() on
// the MLP step (784-[100×6]-10, batch 100, SGD), one thread, random data of
// 6,000 rows (60 steps an epoch, 3 epochs, evaluation on 100 rows). Runs
// train() and fit() alternately on fresh nets and prints, for wall-clock time
// and for the process's CPU time (which a loaded machine disturbs less), the
// median of the paired ratios fit/train and the ratio of the fastest runs.
import os from 'node:os';
import { createRuntime, MultiLayerNet, Trainer, SGD } from '../dist/node/index.js';

const pairs = Number(process.argv[2] ?? 15);
const rt = await createRuntime({ seed: 1, threads: 1 });
const N = 6000;
const x = rt.uniform(rt.tensor([N, 784]));
const t = rt.labels([N], Array.from({ length: N }, (_, i) => (i * 7) % 10));

async function once(how) {
  const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, weightInitStd: 'he' });
  const trainer = new Trainer(net, x, t, x, t, { epochs: 3, miniBatchSize: 100, optimizer: new SGD({ lr: 0.01 }), evaluateSampleNumPerEpoch: 100 });
  const start = performance.now();
  const cpu = process.cpuUsage();
  const r = how === 'fit' ? await trainer.fit() : trainer.train();
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  trainer.dispose();
  net.dispose();
  return { ms, cpuMs: (used.user + used.system) / 1000, steps: r.steps };
}

await once('train'); await once('fit'); // warm-up
const runs = { train: [], fit: [] };
for (let i = 0; i < pairs; i++) {
  const order = i % 2 ? ['fit', 'train'] : ['train', 'fit'];
  for (const how of order) {
    // let work V8 defers to the event loop (GC finalisation, compilation) run before the next timed
    // run, so a synchronous train() does not leave its share to be billed to the fit() after it
    await new Promise((resolve) => setTimeout(resolve, 30));
    runs[how].push(await once(how));
  }
}
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const pct = (r) => `${((r - 1) * 100).toFixed(2)}%`;
console.log(`CPU: ${os.cpus()[0].model} (${os.cpus().length} cores), Node ${process.version}, load average ${os.loadavg()[0].toFixed(1)}`);
for (const [what, key] of [['wall', 'ms'], ['CPU', 'cpuMs']]) {
  const t = runs.train.map((r) => r[key] / r.steps), f = runs.fit.map((r) => r[key] / r.steps);
  const paired = t.map((v, i) => f[i] / v);
  console.log(`${what}: train() ${median(t).toFixed(3)} ms/step, fit() ${median(f).toFixed(3)} ms/step (medians of ${pairs}); ` +
    `fit/train overhead: median of pairs ${pct(median(paired))}, fastest runs ${pct(Math.min(...f) / Math.min(...t))}`);
}
rt.dispose();
