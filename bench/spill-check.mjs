// npm run check:spill [-- --verbose] [-- --wasm=path/to/build.wasm]
//
// Reads the machine code V8 generates for the GEMM micro-kernels (with the
// 1-row kernels on weights packed once, and the direct convolution's tile,
// built the same way) and fails if any of their k
// loops touches the stack. Each k loop must keep its 12
// accumulators, B vectors and A broadcasts in the 16 XMM registers x64 has
// (V8 keeps one as scratch); one value too many and V8 spills an accumulator,
// which then goes through the stack every iteration (store-to-load forwarding
// in the add chain: 48-59% of peak on AMD Zen 5 where Intel hid it). Register
// allocation does not depend on the CPU model, so the check gives the same
// answer on every x64 machine, however fast the spill is there.
//
// How: a child `node --print-wasm-code --no-liftoff` (optimised code only)
// (with --experimental-wasm-relaxed-simd, which Node 20 needs for the relaxed
// build) runs GEMMs that reach every micro-kernel (full tiles: 5×8 plain,
// 6×8 relaxed; the 4×8 bottom and 5×4 / 6×4 right edges) and direct convolutions, once for the plain
// build and once for the relaxed one. In the printed code, a micro-kernel's k
// loop is an innermost loop (a backward jump with no other inside it) with at
// least 8 packed multiplies/adds/FMAs and no store except to the stack: the
// k loop only reads memory, while the loops that write C do store. A stack
// access is a memory operand on rbp or rsp. Any stack store in such a loop
// fails, and any XMM load from the stack; a general-purpose reload of a
// loop-invariant value (V8's stack-limit address, once per unrolled
// iteration) is printed but does not fail: it feeds no dependency chain.
// Exit code 0 when every build passes, 1 otherwise; on a non-x64 machine the
// check says so and passes (V8 allocates arm64's 32 vector registers
// differently).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BUILDS = [
  { name: 'plain', file: fileURLToPath(new URL('../build/simdnn.wasm', import.meta.url)) },
  { name: 'relaxed', file: fileURLToPath(new URL('../build/simdnn-relaxed.wasm', import.meta.url)) },
];
/**
 * [M, N, K]: 256³ runs full tiles and the 4×8 edge (plain: 256 = 5·50 + 6, the 6 as two 4-row tiles; relaxed:
 * 5·48 + 6 + 6 + 4); N = 252 adds the 5×4 / 6×4 edge;
 * M = 8 two 4-row tiles; M = 1 the 1-row sweep (16 columns, then 4); M = 4 the 4-row sweep; M = 3 the 2-row
 * and 1-row sweeps (N = 10: their partial-column loops too).
 */
const SHAPES = [[256, 256, 256], [256, 252, 256], [8, 100, 784], [1, 100, 784], [4, 100, 784], [3, 10, 100]];
/**
 * [M, N, K] for gemmPacked: M = 1 runs the packed 1-row kernels, 16 columns then one panel (N = 100 = 6·16 + 4);
 * M = 4 and 3 the 4-row × 8 panel kernel (N = 10: its partial panel too).
 */
const PACKED_SHAPES = [[1, 100, 784], [4, 100, 784], [3, 10, 100]];
/**
 * [C, H, FN]: 3×3 convolutions, pad 1, that run the direct kernel's 4×8 tiles (K = 144, and 288 across the 256 block),
 * forward and backward (the dW kernel's 4-filter × 2-tap tiles, or on 8×8 and 14×14 images its 8-filter × 4-row tiles, and dx on
 * the forward's tiles; for C = 1 the 4-row one-channel dx tiles), FN = 1, whose forward runs the 3-row one-channel
 * tiles, and [1, 8, 8], whose 3 filter rows reach the 8-filter × 6-tap and × 3-tap tiles.
 */
const CONVS = [[16, 14, 32], [32, 8, 64], [1, 28, 16], [16, 14, 1], [1, 8, 8]];

/** Child mode: instantiate one build and run the GEMMs, so V8 compiles the kernels they reach. */
function runGemms(file) {
  const memory = new WebAssembly.Memory({ initial: 256 });
  const { exports: k } = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), { env: { memory, abort() {} } });
  for (const [M, N, K] of SHAPES) {
    const A = (k.heapBase() + 63) & ~63, B = A + 4 * M * K, C = B + 4 * K * N, W = C + 4 * M * N;
    const f = new Float32Array(memory.buffer);
    for (let i = 0; i < M * K + K * N; i++) f[A / 4 + i] = (i % 7) - 3;
    k.gemm(0, 0, M, N, K, A, K, B, N, C, N, 0, W);
  }
  // weights packed once (a frozen net's Affine): the packed few-row kernels
  for (const [M, N, K] of PACKED_SHAPES) {
    const A = (k.heapBase() + 63) & ~63, B = A + 4 * M * K, Bp = B + 4 * K * N, C = Bp + 4 * K * (N + 8), W = C + 4 * M * N;
    k.packBPanels(0, N, K, B, N, Bp);
    k.gemmPacked(M, N, K, A, K, Bp, C, N, 0, 0, W);
  }
  for (const [C, H, FN] of CONVS) {
    const x = (k.heapBase() + 63) & ~63, w = x + 4 * C * H * H, b = w + 4 * FN * C * 9, out = b + 4 * FN, s = out + 4 * FN * H * H;
    k.convForward(out, x, w, b, s, 1, C, H, H, FN, 3, 3, 1, 1, 1);
    const dx = s + k.convScratchBytes(C, H, H, 3, 3, 1, 1), dW = dx + 4 * C * H * H, db = dW + 4 * FN * C * 9;
    k.convBackward(dx, dW, db, x, out, w, s, 1, C, H, H, FN, 3, 3, 1, 1, 0, 0);
  }
}

/** The functions of --print-wasm-code output: name and instructions (offset, text). */
export function parseCode(text) {
  const funcs = [];
  let cur = null;
  for (const line of text.split('\n')) {
    const name = line.match(/^name: (.*)$/);
    if (name) { cur = { name: name[1], ins: [] }; funcs.push(cur); continue; }
    const m = cur && line.match(/^0x[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]+\s+(.*)$/);
    if (m) cur.ins.push({ off: parseInt(m[1], 16), text: m[2].trim() });
  }
  return funcs;
}

const ARITH = /^v?(mulps|addps|vfn?madd\d*ps)\b/;
const STACK = /\[(rbp|rsp)\b[^\]]*\]/;
/** A store: the first operand is memory (`vmovdqu [r8+r12*1],xmm12`), or a push. */
const isStore = (t) => {
  const op = t.replace(/^REX\.W\s+/, ''); // `REX.W movq [rbp-0x118],r12` is a store too
  return /^\S+\s+\[/.test(op) && !/^(cmp|test|vucomiss|ucomiss)/.test(op) || /^push\b/.test(op);
};

/** The micro-kernels' k loops in a build's code, with their stack accesses. */
export function kernelLoops(funcs) {
  const found = [];
  for (const f of funcs) {
    const loops = [];
    for (const ins of f.ins) {
      const m = ins.text.match(/^j\w+\s+0x[0-9a-f]+\s+<\+0x([0-9a-f]+)>/);
      if (m && parseInt(m[1], 16) <= ins.off) loops.push({ start: parseInt(m[1], 16), end: ins.off });
    }
    // V8's out-of-line code (stack checks, traps) follows the function's last `ret` (`retl` in its
    // listing) and jumps back into its loops: those jumps are not loops (taken as one, such a jump
    // into a k loop's body hid the k loop as "laid out across" it, and was itself checked instead)
    const ret = f.ins.findLast((x) => /^ret[lq]?\b/.test(x.text))?.off ?? Infinity;
    const real = loops.filter((o) => o.end < ret);
    for (const l of real) {
      if (real.some((o) => o !== l && o.start >= l.start && o.end <= l.end)) continue; // not innermost
      // nor an outer loop laid out across an inner one: its back edge (`jnc <outer>`) placed between the
      // inner loop's header and back edge, as V8 lays out a row loop around its k loop
      if (real.some((o) => o.start > l.start && o.start < l.end && o.end > l.end)) continue;
      const body = f.ins.filter((x) => x.off >= l.start && x.off <= l.end);
      const arith = body.filter((x) => ARITH.test(x.text)).length;
      if (arith < 8 || body.some((x) => isStore(x.text) && !STACK.test(x.text))) continue;
      const stack = body.filter((x) => STACK.test(x.text));
      const bad = stack.filter((x) => isStore(x.text) || /xmm/.test(x.text));
      found.push({ func: f.name, start: l.start, end: l.end, body, arith, stack, bad });
    }
  }
  return found;
}

function checkBuild(build, verbose, printMain) {
  const r = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--print-wasm-code', '--no-liftoff', fileURLToPath(import.meta.url), '--child', build.file],
    { encoding: 'utf8', maxBuffer: 256 << 20, timeout: 120_000 });
  if (r.status !== 0) return { ok: false, lines: [`${build.name}: the child failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim().split('\n').pop()}`] };
  const loops = kernelLoops(parseCode(r.stdout));
  const lines = [];
  // the GEMM tile's loop: 20 mul + add (plain 5×8) or 12 FMAs (relaxed 6×8) per k, or a multiple when V8 unrolls
  if (!loops.some((l) => l.arith >= 12)) return { ok: false, lines: [`${build.name}: no micro-kernel k loop found in V8's code (did the kernels or V8's output format change?)`] };
  let ok = true;
  // the loop printed by default: the one with the most accumulators (registers that adds/FMAs write)
  const accumulators = (l) => new Set(l.body.filter((x) => /^v?(addps|vfn?madd\d*ps)/.test(x.text)).map((x) => x.text.split(/[\s,]+/)[1])).size;
  const main = loops.reduce((a, b) => (accumulators(b) > accumulators(a) ? b : a));
  for (const l of loops) {
    const verdict = l.bad.length ? 'SPILLS' : l.stack.length ? 'ok (loop-invariant reload)' : 'ok';
    if (l.bad.length) ok = false;
    lines.push(`${build.name}: ${l.func} k loop +0x${l.start.toString(16)}..+0x${l.end.toString(16)}: ${l.body.length} instructions, ${l.arith} packed mul/add/fma, ${l.stack.length} stack accesses: ${verdict}`);
    for (const s of l.stack) lines.push(`    ${s.text}`);
    if (verbose || l.bad.length || (printMain && l === main)) for (const x of l.body) lines.push(`      +0x${x.off.toString(16)}  ${x.text}`);
  }
  return { ok, lines };
}

/**
 * Runs the check on the packaged builds (or on `wasm`, a path); returns { ok, report }.
 * The report lists each k loop and its stack accesses; `printMain` adds the
 * loop with the most accumulators, `verbose` every loop, and a loop that spills is always printed.
 */
export function spillCheck({ verbose = false, printMain = false, wasm = undefined } = {}) {
  if (process.arch !== 'x64') return { ok: true, report: `spill check: skipped on ${process.arch} (it reads V8's x64 code)` };
  const results = (wasm ? [{ name: wasm, file: wasm }] : BUILDS).map((b) => checkBuild(b, verbose, printMain));
  const ok = results.every((r) => r.ok);
  return { ok, report: [`spill check: ${ok ? 'passed' : 'FAILED'} (GEMM micro-kernel k loops in V8's optimised code, ${process.version})`, ...results.flatMap((r) => r.lines)].join('\n') };
}

const argv = process.argv.slice(2);
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (argv[0] === '--child') runGemms(argv[1]);
  else {
    const wasm = argv.find((a) => a.startsWith('--wasm='))?.slice(7);
    const { ok, report } = spillCheck({ verbose: argv.includes('--verbose'), printMain: true, wasm });
    console.log(report);
    process.exitCode = ok ? 0 : 1;
  }
}
