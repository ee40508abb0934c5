// Candidate GEMM micro-kernel tiles (bench/tiles.ts), timed on this CPU
// against the peak loop: the data for choosing a tile per CPU. On the AMD
// EPYC Zen 3 (family 25, model 1) the plain build's former 6×8 tile ran at
// ~75% of the peak loop where Zen 5 ran it at ~90%: its k loop, 53
// instructions in V8's code per 12 multiply-add pairs (V8 gives each
// load32_splat at an offset its own address instruction), is held by Zen 3's
// dispatch of 6 a cycle (docs/BENCHMARKS.md, sessions 23 and 26). The plain
// build now ships the 5×8 tile on A packed broadcast (42 per 12 pairs). Each
// call multiplies an A block of 60 rows in the candidate's packing by 8 packed
// B panels (8 columns, K = 256 each) in the order gemm.ts's blockRows runs
// that packing: a candidate on A packed broadcast (4 floats a value) one A
// panel at a time against every B panel (the plain build's order: the panel
// in L1, B from L2), the others each B panel over the whole A block (the
// relaxed build's). Timed in the other order, the packed candidates read a
// 240 KB A block from L2 at 4× the bytes of the rest: on an Intel Xeon
// (family 6, model 207) micro5x8 then ran at 80% of the peak loop, where the
// plain GEMM that runs it reached 96–98% (docs/BENCHMARKS.md, session 50).
// All candidates give the same bits (checked here before timing). Compiled
// with asc for the pass's build: the relaxed pass times the same tiles with
// relaxed_madd.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const KC = 256;
const ROWS = 60; // about gemm.ts's MC (48 relaxed, 50 plain), and whole panels of 4, 5 and 6 rows
const B_PANELS = 8;
const FLOPS = 2 * ROWS * 8 * KC * B_PANELS;

/**
 * [tile function in tiles.ts (the sweeps' `tile` is its index here), rows per tile, floats per A value in the
 * packing, description]. Each runs in its packing's order (header): A packed broadcast one panel at a time
 * (4 floats a value), the others by B panel.
 */
const TILES = [
  ['broadcastTwice6x8', 6, 1, '6×8, each A value broadcast per B vector (the plain build\'s tile before micro5x8)'],
  ['broadcastOnce6x8', 6, 1, '6×8, each A value broadcast once per k (the relaxed build\'s micro6x8)'],
  ['broadcastOnce4x8', 4, 1, '4×8, each A value broadcast once per k'],
  ['storedBroadcast4x8', 4, 4, '4×8, A packed broadcast (4 floats a value)'],
  ['storedBroadcastTwice6x8', 6, 4, '6×8, A packed broadcast, read per B vector'],
  ['shuffled4x8', 4, 1, '4×8, A values broadcast by lane shuffles'],
  ['storedBroadcast5x8', 5, 4, '5×8, A packed broadcast (the plain build\'s micro5x8)'],
];

/** The tiles module for the plain or the relaxed build, compiled by asc into a temporary directory. */
function compile(relaxed) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'simdnn-tiles-'));
  try {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const out = path.join(dir, 'tiles.wasm');
    const asc = path.join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
    const r = spawnSync(process.execPath, [asc, path.join(root, 'bench', 'tiles.ts'), '-o', out, '-O3', '--runtime', 'stub',
      '--noAssert', '--initialMemory', '8', '--enable', relaxed ? 'simd,relaxed-simd' : 'simd'],
      { encoding: 'utf8', cwd: dir }); // cwd: not the project's asconfig.json (an imported memory)
    if (r.status !== 0) throw new Error(`tiles: asc failed: ${r.stderr || r.stdout}`);
    return new WebAssembly.Instance(new WebAssembly.Module(readFileSync(out)), { env: { abort() { throw new Error('tiles: abort'); } } }).exports;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One instance with B panels, A packed for every candidate, and a C block per candidate; throws unless all agree
 * bit for bit. `runs[t]` multiplies the A block by the B panels with candidate t, in its order; `a` (ROWS × KC,
 * row-major), `b0` (B's first panel, KC × 8), `first` (each candidate's C block from that panel, ROWS × 8),
 * `lastPanel()` (B's last panel) and `block(t)` (candidate t's C block now) are for tests.
 */
export function setUp(relaxed) {
  const k = compile(relaxed);
  const bBytes = B_PANELS * 8 * KC * 4;
  const aBytes = (stride) => ROWS * KC * stride * 4;
  const cBytes = ROWS * 8 * 4;
  const B = 1024, C = B + bBytes;
  let at = C + TILES.length * cBytes;
  const A = TILES.map(([, , stride]) => { const p = at; at += aBytes(stride); return p; });
  const need = at - k.memory.buffer.byteLength;
  if (need > 0) k.memory.grow(Math.ceil(need / 65536));
  const f = new Float32Array(k.memory.buffer);
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (let i = 0; i < bBytes / 4; i++) f[B / 4 + i] = rand();
  const a = Float32Array.from({ length: ROWS * KC }, rand); // row-major ROWS × KC
  TILES.forEach(([, rows, stride], t) => {
    // panel p of `rows` rows: for each k the rows' values, each `stride` times
    for (let p = 0; p < ROWS / rows; p++) for (let kk = 0; kk < KC; kk++) for (let r = 0; r < rows; r++) {
      for (let s = 0; s < stride; s++) f[A[t] / 4 + ((p * KC + kk) * rows + r) * stride + s] = a[(p * rows + r) * KC + kk];
    }
  });
  const sweep = (t, b) => { const [, rows, stride] = TILES[t]; k.sweep(t, ROWS / rows, KC, A[t], rows * KC * stride * 4, b, C + t * cBytes, rows * 32); };
  const bPanel = 8 * KC * 4;
  const panelOrder = (t) => {
    const [, rows, stride] = TILES[t];
    for (let p = 0; p < ROWS / rows; p++) k.panelSweep(t, B_PANELS, KC, A[t] + p * rows * KC * stride * 4, B, bPanel, C + t * cBytes + p * rows * 32);
  };
  const blockOrder = (t) => { for (let p = 0; p < B_PANELS; p++) sweep(t, B + p * bPanel); };
  const run = TILES.map(([, , stride], t) => (stride === 4 ? () => panelOrder(t) : () => blockOrder(t)));
  TILES.forEach((_, t) => sweep(t, B));
  const first = TILES.map((_, t) => new Float32Array(k.memory.buffer, C + t * cBytes, ROWS * 8).slice());
  const bits = first.map((c) => new Uint32Array(c.buffer));
  for (let t = 1; t < TILES.length; t++) {
    const i = bits[t].findIndex((v, j) => v !== bits[0][j]);
    if (i >= 0) throw new Error(`tiles: ${TILES[t][0]} differs from ${TILES[0][0]} at element ${i}`);
  }
  // after a run, each candidate's C block is A times the last B panel
  const lastPanel = () => new Float32Array(k.memory.buffer, B + (B_PANELS - 1) * bPanel, 8 * KC).slice();
  const block = (t) => new Float32Array(k.memory.buffer, C + t * cBytes, ROWS * 8).slice();
  return { runs: run, a, b0: new Float32Array(k.memory.buffer, B, 8 * KC).slice(), first, lastPanel, block };
}

export { KC, ROWS, TILES };

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  let runs = null;
  TILES.forEach(([, , stride, description], t) => {
    suite.add(`${description}, ${ROWS} rows × 8 columns × ${KC}${stride === 4 ? ', one A panel at a time' : ''}`, {
      flops: FLOPS,
      reference: false, // one tiles module per pass, compiled for ctx.relaxed: no plain-build reference
      ours: (_rt, ctx) => {
        runs ??= setUp(ctx.relaxed).runs;
        return { fn: runs[t] };
      },
    });
  });
}
