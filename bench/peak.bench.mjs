// The single-core Wasm SIMD peak that the GEMM figures are judged against:
// a register-only loop of independent f32x4 chains, c = c·m + a, as mul then
// add (plain) or one relaxed_madd (relaxed). Hand-assembled here so it needs
// no build step; each chain's mul depends on its accumulator, so the compiler
// cannot hoist anything out of the loop. The best of several chain counts is
// the peak (too few chains are latency-bound), among those whose loop V8 keeps
// in registers: its code is read as the spill check reads the kernels'. With
// too many chains V8 runs out of XMM registers and spills accumulators through
// the stack every iteration (V8 11.3, Node 20: 14 and 16 chains do, 13 do not),
// and such a loop's speed depends on the CPU's store-to-load forwarding: on
// Zen 5 the 16-chain loop ran at 58 GFLOP/s in some rounds and 39 in others
// (session 68), which no register-only loop did.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { kernelLoops, parseCode } from './spill-check.mjs';

const CHAINS = [8, 10, 12, 13, 14, 16];
const UNROLL = 4;
const ITERS = 50_000;

const uleb = (n) => {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
};
const section = (id, bytes) => [id, ...uleb(bytes.length), ...bytes];
const vector = (items) => [...uleb(items.length), ...items.flat()];

const op = {
  localGet: (i) => [0x20, ...uleb(i)],
  localSet: (i) => [0x21, ...uleb(i)],
  localTee: (i) => [0x22, ...uleb(i)],
  i32Const1: [0x41, 0x01],
  i32Sub: [0x6b],
  f32x4Splat: [0xfd, 0x13],
  f32x4ExtractLane0: [0xfd, 0x1f, 0x00],
  f32x4Add: [0xfd, 0xe4, 0x01],
  f32x4Mul: [0xfd, 0xe6, 0x01],
  f32x4RelaxedMadd: [0xfd, 0x85, 0x02],
};

/** A module exporting peak(iters: i32, m: f32, a: f32) -> f32 with `chains` accumulators. */
export function peakModule(chains, relaxed) {
  const ITER = 0, M = 1, A = 2, C0 = 3, MV = C0 + chains, AV = MV + 1;
  const body = [
    ...op.localGet(M), ...op.f32x4Splat, ...op.localSet(MV),
    ...op.localGet(A), ...op.f32x4Splat, ...op.localSet(AV),
    0x03, 0x40, // loop (no result)
  ];
  for (let u = 0; u < UNROLL; u++) {
    for (let c = 0; c < chains; c++) {
      body.push(...op.localGet(C0 + c), ...op.localGet(MV));
      if (relaxed) body.push(...op.localGet(AV), ...op.f32x4RelaxedMadd);
      else body.push(...op.f32x4Mul, ...op.localGet(AV), ...op.f32x4Add);
      body.push(...op.localSet(C0 + c));
    }
  }
  body.push(...op.localGet(ITER), ...op.i32Const1, ...op.i32Sub, ...op.localTee(ITER), 0x0d, 0x00, 0x0b); // br_if 0; end loop
  body.push(...op.localGet(C0));
  for (let c = 1; c < chains; c++) body.push(...op.localGet(C0 + c), ...op.f32x4Add);
  body.push(...op.f32x4ExtractLane0, 0x0b);
  const locals = [[...uleb(chains + 2), 0x7b]]; // chains + m + a, all v128
  const code = [...vector(locals), ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector([[0x60, 3, 0x7f, 0x7d, 0x7d, 1, 0x7d]])), // (i32, f32, f32) -> f32
    ...section(3, vector([[0x00]])),
    ...section(7, vector([[...vector([...'peak'].map((ch) => ch.charCodeAt(0))), 0x00, 0x00]])),
    ...section(10, vector([[...uleb(code.length), ...code]])),
  ]);
}

/** FLOPs of one peak() call: 4 lanes × (mul + add) per chain step. */
export const peakFlops = (chains) => ITERS * UNROLL * chains * 8;

/** Calls per millisecond of fn over about `ms` milliseconds of `now` (for picking the best chain count). */
function rate(fn, ms, now) {
  let calls = 0;
  const t0 = now();
  let t = t0;
  while (t - t0 < ms) { fn(); calls++; t = now(); }
  return calls / (t - t0);
}

const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

const registerOnly = new Map();
/**
 * The chain counts (of CHAINS) whose loop V8's optimised code keeps in registers: a child `node
 * --print-wasm-code --no-liftoff` compiles each and its loop must touch no stack slot. Every count on a
 * machine that is not x64 (the check reads x64 code). Cached per build kind.
 */
export function registerOnlyChains(relaxed) {
  if (process.arch !== 'x64') return CHAINS;
  if (!registerOnly.has(relaxed)) {
    registerOnly.set(relaxed, CHAINS.filter((chains) => {
      const r = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--print-wasm-code', '--no-liftoff', fileURLToPath(import.meta.url), '--child', String(chains), relaxed ? 'relaxed' : 'plain'],
        { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000 });
      const loops = r.status === 0 ? kernelLoops(parseCode(r.stdout)) : [];
      return loops.length > 0 && loops.every((l) => l.stack.length === 0);
    }));
  }
  return registerOnly.get(relaxed);
}

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  suite.add('Wasm SIMD peak, 1 core (f32x4 mul+add; relaxed: relaxed_madd)', {
    peak: true,
    ours: (_rt, ctx) => {
      // Scan the chain counts (best of three short runs each, on the suite's
      // clock); the harness then times the best one.
      const now = ctx.clock === 'cpu' ? cpuNow : () => performance.now();
      const candidates = registerOnlyChains(!!ctx.relaxed);
      if (candidates.length === 0) throw new Error(`no chain count of ${CHAINS.join(', ')} stays in registers in V8's code: the peak loop would measure its spills`);
      let best = null;
      for (const chains of candidates) {
        const { peak } = new WebAssembly.Instance(new WebAssembly.Module(peakModule(chains, ctx.relaxed))).exports;
        const fn = () => peak(ITERS, 1, 1e-7);
        rate(fn, 30, now); // tier up
        const flopRate = Math.max(rate(fn, 30, now), rate(fn, 30, now), rate(fn, 30, now)) * chains;
        if (!best || flopRate > best.flopRate) best = { flopRate, chains, peak };
      }
      const { chains, peak } = best;
      const spilling = CHAINS.filter((c) => !candidates.includes(c));
      return { fn: () => peak(ITERS, 1, 1e-7), flops: peakFlops(chains), note: `${chains} chains${spilling.length ? `; ${spilling.join(', ')} spill, not timed` : ''}` };
    },
  });
}

// Child mode (registerOnlyChains): compile and run one loop, so that V8 prints its optimised code.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--child') {
  const { peak } = new WebAssembly.Instance(new WebAssembly.Module(peakModule(Number(process.argv[3]), process.argv[4] === 'relaxed'))).exports;
  peak(1000, 1, 1e-7);
}
