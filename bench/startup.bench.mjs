// Size and start-up (issue 7), and peak linear memory of two training runs:
// - the size of every build/*.wasm (target ≤ 100 KB each; KB = 1000 bytes),
//   with TF.js's SIMD wasm, the file its wasm backend loads in Node, as the
//   peer of the default build;
// - createRuntime() in a warm process (modules already compiled), median
//   over repetitions, plain and with 2 threads (target ≤ 5 ms);
// - cold start: median over fresh Node processes of a program that loads the
//   built package by name, creates a runtime and runs one 64³ rt.unsafeGemm
//   (with the core's code cache, which the first, untimed process writes, in
//   a directory of the bench's own; and once without it), minus
//   the median of an empty program of the same kind (target ≤ 15 ms): a
//   CommonJS program (`require`, the CommonJS bundle; `node -e`) and an ES
//   module program (`import`, the ES module bundle; `node --input-type=module
//   -e`), with TF.js wasm (require tfjs-core and tfjs-backend-wasm,
//   setBackend('wasm'), one tf.matMul) as the peer of the first; and, for
//   scale, an ES module program importing a one-line package by name: what
//   Node's ES module resolution and loading cost before any of our code runs;
//   and the `simdnn` bin (`simdnn --help`) with its code cache (written by an
//   untimed first command that makes a runtime) and without it, in the same
//   rounds.
//   Each program alternates with an empty one, and the figure is the median
//   of the pairs' differences, so load drifts hit both sides of a pair. The children
//   run without NODE_EXTRA_CA_CERTS: where it is set (as on the bench
//   machine) every Node process parses those certificates as it starts, which
//   took ~35 ms of a ~55 ms empty process there and made medians swing by
//   ±3 ms; it is no part of loading a package;
// - the linear memory (rt.memoryStats().memoryBytes, which never shrinks, so
//   the peak) after 1 epoch of MultiLayerNet 784-[100×6]-10 on the bundled
//   digits and after 5 DeepConvNet Adam steps at batch 100, each on a fresh
//   runtime; the note gives the allocator's top and the data's share.
// Sizes and memory do not depend on the SIMD flavour: the relaxed pass only
// re-times the start-up rows (its processes run with the relaxed flag).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { median } from './harness.mjs';

const require = createRequire(import.meta.url);
const BUILD = new URL('../build/', import.meta.url);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TFJS_CORE = require.resolve('@tensorflow/tfjs-core');
const TFJS_WASM = require.resolve('@tensorflow/tfjs-backend-wasm');
const TFJS_WASM_DIR = TFJS_WASM.replace(/[^/]+$/, '');
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';
const GEMM_N = 64;
const MIB = 1024 * 1024;

const kb = (file) => ({ value: statSync(file).size / 1000, unit: 'KB' });

// ---- createRuntime() in a warm process

/** Median ms of createRuntime(options) over repetitions within the time budget; the first call (compiling) is untimed. */
async function createTime(options, time, minReps) {
  const { createRuntime } = await import('../dist/node/index.js');
  const first = await createRuntime(options);
  const threads = first.features.threads;
  first.dispose();
  if (options.threads && threads !== options.threads) throw new Error(`asked for ${options.threads} threads, got ${threads}`);
  const samples = [];
  const end = performance.now() + time;
  while (samples.length < minReps || (performance.now() < end && samples.length < 500)) {
    const t0 = performance.now();
    const rt = await createRuntime(options);
    samples.push(performance.now() - t0);
    rt.dispose();
  }
  return { ms: median(samples), note: `median of ${samples.length}` };
}

// ---- cold start in fresh processes

/** The statements after the package is loaded: a runtime, one GEMM, a check that it ran. */
const oursBody = (relaxed) => `const rt = await createRuntime({ relaxed: ${relaxed} });
  const a = rt.randn(rt.tensor([${GEMM_N}, ${GEMM_N}]));
  const c = rt.tensor([${GEMM_N}, ${GEMM_N}]);
  rt.unsafeGemm(0, 0, ${GEMM_N}, ${GEMM_N}, ${GEMM_N}, a.ptr, ${GEMM_N}, a.ptr, ${GEMM_N}, c.ptr, ${GEMM_N});
  if (!Number.isFinite(c.data[0]) || c.data[0] === 0) throw new Error('GEMM did not run');`;

/**
 * A program as a user writes it, in the package root (where the name resolves
 * to the package itself through package.json's exports): CommonJS with
 * `require`, or an ES module with `import` and top-level await.
 */
const oursProgram = (relaxed, kind) => (kind === 'require'
  ? `const { createRuntime } = require('simdnn');\n(async () => {\n  ${oursBody(relaxed)}\n})();`
  : `import { createRuntime } from 'simdnn';\n${oursBody(relaxed)}`);

const ESM = '--input-type=module';

const tfjsScript = () => `const tf = require(${JSON.stringify(TFJS_CORE)});
const wasm = require(${JSON.stringify(TFJS_WASM)});
wasm.setWasmPaths(${JSON.stringify(TFJS_WASM_DIR)});
tf.setBackend('wasm').then((ok) => {
  if (!ok || tf.getBackend() !== 'wasm') throw new Error('TF.js wasm backend did not initialise');
  const a = tf.randomNormal([${GEMM_N}, ${GEMM_N}]);
  const c = tf.matMul(a, a).dataSync();
  if (!Number.isFinite(c[0]) || c[0] === 0) throw new Error('matMul did not run');
});`;

/** A throwaway project whose node_modules holds `one-line`, an ES module package of one export. */
function oneLinePackage() {
  const dir = mkdtempSync(path.join(tmpdir(), 'simdnn-esm-floor-'));
  const pkg = path.join(dir, 'node_modules', 'one-line');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'one-line', type: 'module', exports: { '.': { node: { import: './index.js' } } } }));
  writeFileSync(path.join(pkg, 'index.js'), 'export const one = 1;\n');
  return dir;
}

/**
 * coldStart with the core's code cache (src/node/code-cache.cts) in a fresh
 * directory, which the untimed first process writes: what every later
 * process of a machine meets.
 */
function coldStartCached(flags, script, processes) {
  const dir = mkdtempSync(path.join(tmpdir(), 'simdnn-bench-code-cache-'));
  try {
    const result = coldStart(flags, script, processes, ROOT, { NODE_COMPILE_CACHE: dir });
    const written = readdirSync(path.join(dir, 'simdnn'));
    if (written.length !== 1) throw new Error(`the code cache holds ${written.length} files, expected 1`);
    return { ...result, note: `${result.note}; code cache ${(statSync(path.join(dir, 'simdnn', written[0])).size / 1000).toFixed(0)} KB` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The environment of the cold-start processes (see the header: no NODE_EXTRA_CA_CERTS). */
const { NODE_EXTRA_CA_CERTS: _certs, ...childEnv } = process.env;

/** Wall ms of one fresh `node [flags] -e script` (or `node [flags] ...script` where it is an array) run in `cwd`, spawn to exit, with `env` over childEnv. */
function runNode(flags, script, cwd = ROOT, env = {}) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...flags, ...(Array.isArray(script) ? script : ['-e', script])], { cwd, env: { ...childEnv, ...env }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${Array.isArray(script) ? script.map((a) => path.basename(a)).join(' ') : '-e'} exited ${r.status ?? r.signal}: ${r.stderr.trim().split('\n').find((l) => /Error/.test(l)) ?? r.stderr.trim()}`);
  return ms;
}

/**
 * The script's cost over an empty process with the same flags: the median of
 * the differences of pairs run back to back (a pair shares the machine's load
 * of the moment, which the difference of two medians does not).
 */
function coldStart(flags, script, processes, cwd = ROOT, env = {}) {
  runNode(flags, script, cwd, env); // untimed: fills the OS file cache (and writes the core's code cache where it is on)
  const full = [];
  const empty = [];
  for (let i = 0; i < processes; i++) {
    full.push(runNode(flags, script, cwd, env));
    empty.push(runNode(flags, '', cwd, env));
  }
  const ms = median(full.map((f, i) => f - empty[i]));
  return { ms, note: `median of ${processes} pairs; medians ${median(full).toFixed(1)} ms and ${median(empty).toFixed(1)} ms for empty node` };
}

/**
 * `simdnn --help` (the bin: its commands' bundle, argument parsing, the help
 * text) over an empty process, with the bin's code cache (which an untimed
 * first command that makes a runtime writes: a quick experiment) and without
 * it (NODE_DISABLE_COMPILE_CACHE=1) in the same rounds: each round runs the
 * two and an empty Node back to back, so the saving is measured in the same
 * minutes (apart, the two rows met different phases of the host).
 */
function cliStart(flags, processes) {
  const bin = [path.join(ROOT, 'dist/node/cli.cjs'), '--help'];
  const dir = mkdtempSync(path.join(tmpdir(), 'simdnn-bench-cli-cache-'));
  try {
    const cached = { NODE_COMPILE_CACHE: dir };
    const off = { NODE_DISABLE_COMPILE_CACHE: '1' };
    runNode(flags, [bin[0], 'experiment', 'optimizer-naive', '--quick', '--threads', '1', '--quiet', '--out', path.join(dir, 'out')], ROOT, cached);
    const written = readdirSync(path.join(dir, 'simdnn'));
    if (written.length !== 1) throw new Error(`the bin's code cache holds ${written.length} files, expected 1`);
    runNode(flags, bin, ROOT, off); // untimed: fills the OS file cache
    const withCache = [], without = [], empty = [];
    for (let i = 0; i < processes; i++) {
      withCache.push(runNode(flags, bin, ROOT, cached));
      without.push(runNode(flags, bin, ROOT, off));
      empty.push(runNode(flags, '', ROOT, off));
    }
    const over = (runs) => median(runs.map((t, i) => t - empty[i]));
    const saved = median(without.map((t, i) => t - withCache[i]));
    return {
      ms: over(withCache),
      note: `median of ${processes} rounds; without the cache in the same rounds ${over(without).toFixed(1)} ms, the cache saving ${saved.toFixed(1)} ms a command; ` +
        `empty node ${median(empty).toFixed(1)} ms; code cache ${(statSync(path.join(dir, 'simdnn', written[0])).size / 1000).toFixed(0)} KB`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- peak linear memory of training runs

const MLP = { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, activation: 'relu', weightInitStd: 'relu' };

/** Trains on a fresh runtime and reports its linear memory (MiB) after the run. */
async function peakMemory({ net, load, trainer }) {
  const simdnn = await import('../dist/node/index.js');
  const rt = await simdnn.createRuntime({ threads: 1 });
  try {
    const data = await load(simdnn, rt);
    const model = net(simdnn, rt);
    const run = new simdnn.Trainer(model, data.xTrain, data.tTrain, data.xTest, data.tTest, trainer);
    const result = run.train();
    if (result.steps !== run.maxIter) throw new Error(`ran ${result.steps} of ${run.maxIter} steps`);
    const { memoryBytes, top } = rt.memoryStats();
    const dataBytes = [data.xTrain, data.tTrain, data.xTest, data.tTest].reduce((n, t) => n + t.data.byteLength, 0);
    return {
      value: memoryBytes / MIB, unit: 'MiB',
      note: `${result.steps} steps; allocator top ${(top / MIB).toFixed(1)} MiB, of which data ${(dataBytes / MIB).toFixed(1)} MiB`,
    };
  } finally {
    rt.dispose();
  }
}

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  const relaxed = suite.relaxed;
  const processes = suite.quick ? 11 : 31;
  const flags = relaxed ? [RELAXED_FLAG] : [];

  if (!relaxed) {
    const files = readdirSync(BUILD).filter((f) => f.endsWith('.wasm')).sort();
    if (files.length === 0) throw new Error('bench: no build/*.wasm; run `npm run build` first');
    for (const f of files) {
      suite.add(`size of build/${f} (target ≤ 100 KB)`, {
        ours: () => kb(new URL(f, BUILD)),
        // the default build against the file TF.js's wasm backend loads in Node (SIMD, no threads)
        ...(f === 'simdnn.wasm' ? { external: { 'tfjs-wasm': async () => ({ ...kb(`${TFJS_WASM_DIR}tfjs-backend-wasm-simd.wasm`), note: 'tfjs-backend-wasm-simd.wasm' }) } } : {}),
      });
    }
  }

  suite.add('createRuntime(), warm process (target ≤ 5 ms)', {
    ours: () => createTime({ relaxed }, suite.time, 10),
  });
  suite.add('createRuntime({ threads: 2 }), warm process', {
    ours: () => createTime({ relaxed, threads: 2 }, suite.time, 5),
  });
  suite.add(`cold start: CommonJS program, require, createRuntime, one ${GEMM_N}³ GEMM, over empty node (target ≤ 15 ms)`, {
    ours: () => coldStartCached(flags, oursProgram(relaxed, 'require'), processes),
    external: { 'tfjs-wasm': async () => coldStart([], tfjsScript(), processes) },
  });
  suite.add(`cold start: ES module program, import, createRuntime, one ${GEMM_N}³ GEMM, over empty node (target ≤ 15 ms)`, {
    ours: () => coldStartCached([...flags, ESM], oursProgram(relaxed, 'import'), processes),
  });
  suite.add(`cold start without the code cache (a machine's first process; NODE_DISABLE_COMPILE_CACHE=1): CommonJS program as above`, {
    ours: () => coldStart(flags, oursProgram(relaxed, 'require'), processes, ROOT, { NODE_DISABLE_COMPILE_CACHE: '1' }),
  });
  suite.add('cold start of the simdnn bin: `simdnn --help`, over empty node, with its code cache (and without it in the same rounds)', {
    ours: () => cliStart(flags, processes),
  });
  // in the relaxed pass too: under Node's relaxed-SIMD flag its ES module
  // loader alone costs ~3 ms more (a one-line package: ~4.8 ms, flagged ~7.7)
  suite.add('cold start: ES module program importing a one-line package by name, over empty node (Node\'s share)', {
    ours: () => {
      const dir = oneLinePackage();
      try {
        return coldStart([...flags, ESM], "import { one } from 'one-line';\nif (one !== 1) throw new Error('one-line did not load');", processes, dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  });

  if (!relaxed) {
    suite.add('peak linear memory: MultiLayerNet 784-[100×6]-10, 1 epoch of the bundled digits, batch 100, SGD', {
      ours: () => peakMemory({
        load: (simdnn, rt) => simdnn.loadMnist(rt),
        net: (simdnn, rt) => new simdnn.MultiLayerNet(rt, MLP),
        trainer: { epochs: 1, miniBatchSize: 100, optimizer: 'sgd', optimizerParams: { lr: 0.01 } },
      }),
    });
    suite.add('peak linear memory: DeepConvNet, 5 steps at batch 100, Adam', {
      ours: () => peakMemory({
        load: (simdnn, rt) => simdnn.loadMnist(rt, { flatten: false, trainRows: 500, testRows: 100 }),
        net: (simdnn, rt) => new simdnn.DeepConvNet(rt),
        trainer: { epochs: 1, miniBatchSize: 100, optimizer: 'adam', optimizerParams: { lr: 0.001 }, evaluateSampleNumPerEpoch: 100 },
      }),
    });
  }
}
