// node scripts/fit-overhead.mjs [pairs]
// The async loop's overhead: Trainer.fit() against the synchronous train() on
// the MLP step (784-[100×6]-10, batch 100, SGD), one thread, random data of
// 6,000 rows (60 steps an epoch, 3 epochs, evaluation on 100 rows). Runs
// train() and fit() alternately on fresh nets and prints the median of the
// paired ratios fit/train (a shared machine drifts; pairs cancel the drift).
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
  const r = how === 'fit' ? await trainer.fit() : trainer.train();
  const ms = performance.now() - start;
  trainer.dispose();
  net.dispose();
  return { ms, steps: r.steps };
}

await once('train'); await once('fit'); // warm-up
const ratios = [], trains = [], fits = [];
for (let i = 0; i < pairs; i++) {
  const order = i % 2 ? ['fit', 'train'] : ['train', 'fit'];
  const got = {};
  for (const how of order) got[how] = await once(how);
  trains.push(got.train.ms / got.train.steps);
  fits.push(got.fit.ms / got.fit.steps);
  ratios.push(got.fit.ms / got.train.ms);
}
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
console.log(`CPU: ${os.cpus()[0].model} (${os.cpus().length} cores), Node ${process.version}`);
console.log(`train(): ${median(trains).toFixed(3)} ms/step; fit(): ${median(fits).toFixed(3)} ms/step (medians of ${pairs})`);
console.log(`fit/train: median ${((median(ratios) - 1) * 100).toFixed(2)}% overhead; pairs ${ratios.map((r) => ((r - 1) * 100).toFixed(1)).join(' ')}`);
rt.dispose();
