// GEMM: C = op(A) · op(B) + beta · C, f32, with op(X) = X or Xᵀ.
//
// BLIS-style blocking: B is packed into KC×NR column panels and A into MR×KC
// row panels (zero-padded at the edges), so one register-blocked micro-kernel
// serves all transpose cases. The micro-kernel holds a tile of C in v128
// accumulators, and its k loop needs at most 15 live v128 values: V8 keeps
// the 16th XMM register of x64 as scratch, and a 16th value would be spilled
// to the stack. The plain build's tile is 5×8 on A packed broadcast
// (micro5x8: each A value stored as 4 floats, read by plain vector loads);
// the relaxed build's is 6×8, broadcasting each A value as it reads it
// (micro6x8: a fused multiply-add needs no register for the product). Edge
// tiles of at most 4 columns or 4 rows run 5×4 / 6×4 or 4×8 kernels instead
// of computing padding (10% faster at M = 16, a conv layer's filter count),
// and 6–8 last rows (7–8 in the relaxed build) run as two 4-row tiles
// (tileRows). A·B with at most 4 rows (a batch of 1–4), or 5–8 on large B,
// skips packing B and reads it in sweeps of a few rows (gemmRows); weights
// packed once for a frozen net run on the same blocks and tiles without
// packing B per call (gemmPacked). Packing a transposed operand (Bᵀ, or
// in the relaxed build A stored row-major) transposes 4×4 blocks in registers
// (the plain build broadcasts A's values from vector loads of 4), so every
// transpose case runs at the speed of A·B.
//
// Reduction order for C[i, j] depends only on K and KC, never on where the
// tile sits or which kernel computes it, so a call on any block of rows or
// columns (pointers offset, M or N reduced) gives the same bits as the whole
// call: threads can split C.
//
// Block sizes were measured (docs/BENCHMARKS.md): MC from 24 to 48 is equal,
// 72 and 96 lose 7–8% at 1024³ (each B micro-panel sweeps the whole A
// block); KC from 192 to 512 and NC of 512 or 1024 are within noise. The
// plain build packs A one panel at a time instead of by blocks (blockRows).
// Reading an operand in place instead of packing it gains at most 3–9% on
// small shapes and loses 10–40% on large or wide ones (strided panel reads
// miss L1 and the TLB), so both operands are packed.
//
// Packing flushes subnormal operands to zero (math.ts ftz): x86 computes with
// them ~90× slower, and training gradients make them.
//
// The caller passes a workspace of gemmWorkspaceBytes() bytes (16-aligned);
// concurrent calls need their own workspace.
import { ACT_BACKWARD, ACT_NONE, ACT_RELU, activate, activateScalar, deactivateRange, ftz, ftzs } from "./math";
import { madd, storeEdge, storeRow, storeRowBias } from "./tile";

const MR: i32 = ASC_FEATURE_RELAXED_SIMD ? 6 : 5;
// floats per packed A value: the plain build packs each A value broadcast (4
// copies), so its tiles read A with plain vector loads (see micro5x8)
const AW: i32 = ASC_FEATURE_RELAXED_SIMD ? 1 : 4;
const NR = 8;
const KC = 256;
const MC = 48; // the relaxed build's A block (multiple of MR); see blockRows
const NC = 1024; // multiple of NR: the packed B block is at most 1 MiB
// floats of packed A: the relaxed build's A block, the plain build's one panel
const A_BLOCK: i32 = ASC_FEATURE_RELAXED_SIMD ? MC * KC : MR * KC * AW;

export function gemmWorkspaceBytes(): i32 {
  return (A_BLOCK + KC * NC + MR * NR) << 2;
}

// Rows of C a full micro-tile computes (the facade starts threads' parts on them).
export function gemmTileRows(): i32 {
  return MR;
}

// op(A) is M×K. transA = 0: A is M×K with row stride lda; 1: A is K×M.
// op(B) is K×N. transB = 0: B is K×N with row stride ldb; 1: B is N×K.
// beta = 0 never reads C (it may hold garbage).
export function gemm(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32,
  C: usize, ldc: i32, beta: f32, work: usize,
): void {
  gemmCore(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, beta, 0, 0, work);
}

// C = act(op(A)·op(B) + bias), bias a row vector of N floats (an affine
// layer's forward): the epilogue runs on each tile of C right after its
// last K block, while the tile is in L1, so C is written once and never
// re-read by a separate bias or activation pass. The bias add and the
// activation are the elementwise kernels' own math (biasAddForward, then
// reluForward / sigmoidForward / tanhForward), so the bits equal the unfused
// sequence's. act is coded as in math.ts: 0 none, 1 ReLU, 2 sigmoid, 3 tanh
// (or a backward code with bias = saved − C: gemmActBackward's encoding,
// which the facade passes here and to gemmRowsClaimed).
export function gemmBiasAct(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32,
  C: usize, ldc: i32, bias: usize, act: i32, work: usize,
): void {
  gemmCore(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, 0, bias, act, work);
}

// C = op(A)·op(B) ⊙ act'(saved): a layer's dx and the backward of the
// activation before that layer in one call (dx = dout · Wᵀ, then the math of
// reluBackward / sigmoidBackward / tanhBackward, act 1–3, so their bits).
// The activation's pass runs over each block of rows as soon as it is
// computed: on 2 threads, over the rows this thread computed and holds in its
// cache, where a separate pass on the calling thread read half of them from
// the other core (MLP step on 2 threads ~2% faster with SGD, ~5% with Adam).
// saved is M×N with C's row stride ldc and must not overlap C. The code
// passed on is ACT_BACKWARD + act with `bias` = saved − C in bytes (wrapping),
// the encoding the facade gives gemmBiasAct and gemmRowsClaimed.
export function gemmActBackward(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32,
  C: usize, ldc: i32, saved: usize, act: i32, work: usize,
): void {
  gemmCore(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, 0, saved - C, ACT_BACKWARD + act, work);
}

// c[r, j] = act(c[r, j] + bias[j]) on an mr × nr tile.
function epilogue(c: usize, ldc: i32, mr: i32, nr: i32, bias: usize, act: i32): void {
  for (let r = 0; r < mr; r++) {
    const row = c + ((<usize>r * ldc) << 2);
    let j = 0;
    for (; j + 4 <= nr; j += 4) {
      const o = <usize>j << 2;
      v128.store(row + o, activate(f32x4.add(v128.load(row + o), v128.load(bias + o)), act));
    }
    for (; j < nr; j++) {
      const o = <usize>j << 2;
      store<f32>(row + o, activateScalar(load<f32>(row + o) + load<f32>(bias + o), act));
    }
  }
}

// c[r, j] = c[r, j] ⊙ act'(saved[r, j]) on mr rows × nr columns (row stride
// ldc), in row order. Not in the tiles' epilogue: a pass tile by tile read
// saved a few lines at a time, and on 2 threads the MLP step's dx GEMM went
// from 30 to 44 µs where those lines came from the other core; in row order
// they stream in.
function deactivateRows(c: usize, ldc: i32, mr: i32, nr: i32, saved: usize, act: i32): void {
  for (let r = 0; r < mr; r++) {
    const o = (<usize>r * ldc) << 2;
    deactivateRange(c + o, c + o, saved + o, nr, act);
  }
}

// Rows of the tile that starts with `rest` rows left (of the A block, or of
// all M in the plain build): MR, but MR + 1 to 8 rows run as two 4-row tiles
// (4×8 kernel) rather than MR and a tile that computes 4 rows for 1–3 (8 rows
// of work where 6 + 1 or 6 + 2 took 10: MLP predict at batch 8, 1 thread,
// 0.090 -> 0.081 ms). Each tile's panel of packed A takes MR·kc·AW floats
// whatever its rows, so an A block still has at most MC/MR panels.
// @ts-ignore: decorator
@inline
function tileRows(rest: i32): i32 {
  return rest > MR && rest <= 8 ? 4 : min(MR, rest);
}

function gemmCore(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32,
  C: usize, ldc: i32, beta: f32, bias: usize, act: i32, work: usize,
): void {
  if (act > ACT_BACKWARD) {
    gemmCore(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, beta, 0, ACT_NONE, work);
    deactivateRows(C, ldc, M, N, C + bias, act - ACT_BACKWARD);
    return;
  }
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    scaleC(C, ldc, M, N, beta);
    if (bias != 0) for (let i = 0; i < M; i++) epilogue(C + ((<usize>i * ldc) << 2), ldc, 1, N, bias, act);
    return;
  }
  if (transA == 0 && transB == 0 && sweepsB(M, N, K)) {
    gemmRows(M, N, K, A, lda, B, ldb, C, ldc, beta, bias, act, work);
    return;
  }
  const Ap = work;
  const Bp = work + (<usize>A_BLOCK << 2);
  const T = Bp + (<usize>(KC * NC) << 2);
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      packB(Bp, B, transB, ldb, pc, jc, kc, nc, kc);
      blockRows(transA, M, nc, kc, A, lda, pc, Bp, kc, C + (<usize>jc << 2), ldc, pc == 0 ? beta : 1,
        bias != 0 && pc + kc == K ? bias + (<usize>jc << 2) : 0, act, Ap, T);
    }
  }
}

// All M rows of C's columns [0, nc) for one K block [pc, pc + kc) of packed
// B panels Bp (panel t at t·NR·panelK floats: kc for a block packed per call,
// all of K for weights packed once), C = b·C + Σ. With `bias` (this is the
// last K block) the epilogue runs on each tile as it is finished.
//
// Which packed operand stays in L1 depends on the build. The plain build's A
// is packed broadcast, 80 bytes a k for a 5-row panel against B's 32, so
// each A panel is packed just before it runs against every B panel: it is
// written into L1 and read from there, and only B's panels stream from L2
// (or L3, for a B block larger than L2). Per-call minimum on Zen 3: 128³–256³
// and the MLP's shapes 1.02–1.03× over an A block in L2 under a B panel in
// L1, 512³–1024³ the same (docs/BENCHMARKS.md, session 29). The relaxed
// build's A is 24 bytes a k against B's 32: an A block of MC rows is packed
// into L2 and each B panel, in L1, sweeps it (BLIS's order; the plain
// build's order measured within 1% of it there).
function blockRows(
  transA: i32, M: i32, nc: i32, kc: i32, A: usize, lda: i32, pc: i32,
  Bp: usize, panelK: i32, C: usize, ldc: i32, b: f32, bias: usize, act: i32, Ap: usize, T: usize,
): void {
  if (!ASC_FEATURE_RELAXED_SIMD) {
    for (let ir = 0; ir < M; ir += tileRows(M - ir)) {
      const mr = tileRows(M - ir);
      packA(Ap, A, transA, lda, ir, pc, mr, kc);
      for (let jr = 0; jr < nc; jr += NR) tile(kc, Ap, Bp, panelK, jr, nc, C, ldc, ir, mr, b, bias, act, T);
    }
    return;
  }
  for (let ic = 0; ic < M; ic += MC) {
    const mc = min(MC, M - ic);
    packA(Ap, A, transA, lda, ic, pc, mc, kc);
    for (let jr = 0; jr < nc; jr += NR) {
      let a = Ap;
      for (let ir = 0; ir < mc; ir += tileRows(mc - ir)) {
        const mr = tileRows(mc - ir);
        tile(kc, a, Bp, panelK, jr, nc, C, ldc, ic + ir, mr, b, bias, act, T);
        a += <usize>(MR * kc * AW) << 2;
      }
    }
  }
}

// One tile of C: rows [i, i + mr) and columns [jr, jr + NR) (fewer at the
// right edge) from A panel a and B panel jr / NR.
// @ts-ignore: decorator
@inline
function tile(
  kc: i32, a: usize, Bp: usize, panelK: i32, jr: i32, nc: i32, C: usize, ldc: i32,
  i: i32, mr: i32, b: f32, bias: usize, act: i32, T: usize,
): void {
  const nr = min(NR, nc - jr);
  const bpanel = Bp + (<usize>(jr * panelK) << 2);
  const c = C + ((<usize>i * ldc + <usize>jr) << 2);
  const tileBias = bias != 0 ? bias + (<usize>jr << 2) : 0;
  // a full tile adds the bias and applies ReLU in registers, before its
  // one store; edge tiles, and sigmoid and tanh, whose constants would
  // crowd the micro-kernel's registers, take the epilogue over memory
  const inRegisters = tileBias != 0 && act <= ACT_RELU && mr == MR && nr == NR;
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (nr <= NR / 2) micro6x4(kc, a, bpanel, c, ldc, b, mr, nr, T);
    else if (mr <= 4) micro4x8(kc, a, bpanel, c, ldc, b, mr, nr, T);
    else micro6x8(kc, a, bpanel, c, ldc, b, mr, nr, T, inRegisters ? tileBias : 0, act);
  } else {
    if (nr <= NR / 2) micro5x4(kc, a, bpanel, c, ldc, b, mr, nr, T);
    else if (mr <= 4) micro4x8b(kc, a, bpanel, c, ldc, b, mr, nr, T);
    else micro5x8(kc, a, bpanel, c, ldc, b, mr, nr, T, inRegisters ? tileBias : 0, act);
  }
  if (tileBias != 0 && !inRegisters) epilogue(c, ldc, mr, nr, tileBias, act);
}

// ---- Rows of C in chunks the threads claim as they run (gemmRowsClaimed).
// With one equal part per thread, a call waits for the slowest thread, and on
// a VM one vCPU can run at 55–80% of the other's speed for seconds. Here
// every thread runs the same call: it claims a chunk of rows, packs all of
// op(B) into its own workspace once, and claims again until none is left; a
// slower thread simply claims fewer. One thread claims from the first rows on
// and another from the last ones back, so each keeps computing the rows it
// computed in the call before (the previous layer's output it reads, and the
// rows it writes, stay in its own cache: a cache line between the two vCPUs
// of a 2-vCPU EPYC VM takes ~0.4 µs). Each thread packs B itself for the same
// reason: a B packed once and shared crosses between cores on every call,
// slower than packing it twice. Chunks shrink as the rows run out (guided
// self-scheduling): each claim takes 1/divisor of the rows left, so the first
// claims are big (few claims, each a cache line's trip between cores) and the
// last are small, so the thread that finishes first waits for a small chunk
// at most, not for one of a fixed size (100×100×784 on 2 threads: 8 equal
// chunks waited ~half a 54 µs chunk). Same tiles and K blocks as gemm, so the
// same bits as gemm on one thread whichever rows a thread claims.

// The claim words: [0] the unclaimed groups [front, back) as front | back << 16
// (at most 2^15 − 1 groups); [1] rows per group (a multiple of MR; the last
// group ends at M); [2] the divisor; [3] groups a claim takes at least.
// Claims ⌈left / divisor⌉ groups (at least [3], at most all left) from the
// front (fromBack 0) or the back (fromBack 1). Returns the first group and
// the count as first | count << 16, or -1 when none is left.
function claimChunk(claim: usize, fromBack: i32): i32 {
  const divisor = load<i32>(claim, 8), least = load<i32>(claim, 12);
  for (;;) {
    const w = ASC_FEATURE_THREADS ? atomic.load<i32>(claim) : load<i32>(claim);
    const front = w & 0xffff, back = w >>> 16;
    if (front >= back) return -1;
    const s = min(back - front, max(least, (back - front + divisor - 1) / divisor));
    const first = fromBack != 0 ? back - s : front;
    const next = fromBack != 0 ? front | (first << 16) : (front + s) | (back << 16);
    if (ASC_FEATURE_THREADS) {
      if (atomic.cmpxchg<i32>(claim, w, next) != w) continue;
    } else {
      store<i32>(claim, next);
    }
    return first | (s << 16);
  }
}

// C = act(op(A)·op(B) + bias) (bias != 0), op(A)·op(B) ⊙ act'(saved) (act a
// backward code, bias = saved − C: see gemmActBackward) or op(A)·op(B) +
// beta·C (bias 0), by claimed chunks of the groups of rows the claim words describe (above):
// group g is rows [g·rows, min(M, (g + 1)·rows)). K >= 1, and op(B) packed
// (K·N rounded up to NR floats) must fit the workspace's B block (KC·NC
// floats); work is gemmWorkspaceBytes() bytes of this thread's own.
export function gemmRowsClaimed(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32,
  C: usize, ldc: i32, beta: f32, bias: usize, act: i32, work: usize, claim: usize, fromBack: i32,
): void {
  const groupRows = load<i32>(claim, 4);
  const backward = act > ACT_BACKWARD;
  let c = claimChunk(claim, fromBack);
  if (c < 0 || M <= 0 || N <= 0 || K <= 0) return;
  const np = <usize>((N + NR - 1) / NR * NR);
  const Bp = work + (<usize>A_BLOCK << 2);
  const T = Bp + (<usize>(KC * NC) << 2);
  for (let pc = 0; pc < K; pc += KC) {
    const kc = min(KC, K - pc);
    packB(Bp + ((<usize>pc * np) << 2), B, transB, ldb, pc, 0, kc, N, kc);
  }
  for (; c >= 0; c = claimChunk(claim, fromBack)) {
    // in 64 bits: groups · rows can pass 2^31 before the min with M
    const i0 = <i32>min(<i64>(c & 0xffff) * groupRows, <i64>M);
    const i1 = <i32>min(<i64>((c & 0xffff) + (c >>> 16)) * groupRows, <i64>M);
    // row i of op(A) starts at A + i·lda floats, or at A + i when A is stored K×M
    const a = A + ((transA == 0 ? <usize>i0 * lda : <usize>i0) << 2);
    const cRows = C + ((<usize>i0 * ldc) << 2);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      blockRows(transA, i1 - i0, N, kc, a, lda, pc, Bp + ((<usize>pc * np) << 2), kc, cRows, ldc, pc == 0 ? beta : 1,
        pc + kc == K && !backward ? bias : 0, act, work, T);
    }
    if (backward) deactivateRows(cRows, ldc, i1 - i0, N, cRows + bias, act - ACT_BACKWARD);
  }
}

// ---- Weights packed once (a frozen net's Affine layers: src/nets/frozen.ts).
// Inference multiplies the same weights by every batch, and packing them on
// each call cost 18 of the 69 µs the MLP's GEMMs took at batch 8 (each call
// flushed and copied all 520 KB). packBPanels packs op(B) once, flushed, in
// panels of NR columns that each hold all K rows (panel t at t·NR·K floats,
// row k of it at k·NR; columns past N zero), so the block of any K block and
// any run of whole panels is a pointer into it: a thread's column part of C
// is B + 4·j·K bytes for its first column j. gemmPacked runs gemm's K blocks,
// A blocks and tiles on it, so C has gemmBiasAct's bits for the same
// operands, on any rows or panels of it.

// Packs op(B) (K×N; transB as in gemm) into dst, K·⌈N/NR⌉·NR floats.
export function packBPanels(transB: i32, N: i32, K: i32, B: usize, ldb: i32, dst: usize): void {
  if (N > 0 && K > 0) packB(dst, B, transB, ldb, 0, 0, K, N, K);
}

// C = act(A·B + bias) (bias != 0) or A·B (bias 0), A M×K row-major with row
// stride lda, B packed by packBPanels for this K (and at least N columns).
// beta is 0: C is never read. work is gemmWorkspaceBytes() bytes.
export function gemmPacked(
  M: i32, N: i32, K: i32, A: usize, lda: i32, Bp: usize,
  C: usize, ldc: i32, bias: usize, act: i32, work: usize,
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    scaleC(C, ldc, M, N, 0);
    if (bias != 0) for (let i = 0; i < M; i++) epilogue(C + ((<usize>i * ldc) << 2), ldc, 1, N, bias, act);
    return;
  }
  if (M <= PACKED_ROWS_M || (M > MR && M <= 2 * PACKED_ROWS_M)) packedRows(M, N, K, A, lda, Bp, C, ldc, bias, act, work);
  else packedBlocks(0, M, N, K, A, lda, Bp, C, ldc, bias, act, work);
}

// gemmPacked by the claimed chunks of gemmRowsClaimed (its claim words, its
// bits): the threads share the packed B, which they only read.
export function gemmPackedClaimed(
  M: i32, N: i32, K: i32, A: usize, lda: i32, Bp: usize,
  C: usize, ldc: i32, bias: usize, act: i32, work: usize, claim: usize, fromBack: i32,
): void {
  const groupRows = load<i32>(claim, 4);
  let c = claimChunk(claim, fromBack);
  if (c < 0 || M <= 0 || N <= 0 || K <= 0) return;
  for (; c >= 0; c = claimChunk(claim, fromBack)) {
    const i0 = <i32>min(<i64>(c & 0xffff) * groupRows, <i64>M);
    const i1 = <i32>min(<i64>((c & 0xffff) + (c >>> 16)) * groupRows, <i64>M);
    packedBlocks(0, i1 - i0, N, K, A + ((<usize>i0 * lda) << 2), lda, Bp, C + ((<usize>i0 * ldc) << 2), ldc, bias, act, work);
  }
}

// C = act(op(A)·B + bias) (bias != 0) or op(A)·B on B packed by packBPanels,
// op(A) = A (transA 0: M×K, row stride lda) or Aᵀ (transA 1: A stored K×M):
// gemmPacked's blocks and tiles for any M (not its few-row kernels, which
// take A row-major), so gemmBiasAct's bits for the same operands. A
// convolution's col(x)ᵀ · Wᵀ (assembly/conv.ts convForwardIm2colPacked).
export function gemmPackedBlocks(
  transA: i32, M: i32, N: i32, K: i32, A: usize, lda: i32, Bp: usize,
  C: usize, ldc: i32, bias: usize, act: i32, work: usize,
): void {
  if (M > 0 && N > 0 && K > 0) packedBlocks(transA, M, N, K, A, lda, Bp, C, ldc, bias, act, work);
}

// gemmCore's loops (NC columns, KC rows of B, then blockRows) on packed B.
function packedBlocks(transA: i32, M: i32, N: i32, K: i32, A: usize, lda: i32, Bp: usize, C: usize, ldc: i32, bias: usize, act: i32, work: usize): void {
  const T = work + (<usize>(A_BLOCK + KC * NC) << 2);
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      blockRows(transA, M, nc, kc, A, lda, pc, Bp + ((<usize>jc * K + <usize>(pc * NR)) << 2), K, C + (<usize>jc << 2), ldc, pc == 0 ? 0 : 1,
        bias != 0 && pc + kc == K ? bias + (<usize>jc << 2) : 0, act, work, T);
    }
  }
}

// Up to four rows (a batch of 1–4) on packed B: gemmRows' arithmetic (per K
// block s = Σ a·b from 0 in k order, C = s, then C + s; the epilogue last),
// so its bits, but B is already flushed and each panel's k rows are
// contiguous: at one row 2 vector operations per B vector where gemmRows
// needs 5, and three or four rows take a whole panel (4 × 8) per k, which
// gemmRows' flush of each B vector left no registers for. Each panel runs
// all its K blocks before the next (the C tile stays in L1 between them), so
// B streams through memory in order, panel after panel. (With the K blocks
// outermost, as gemmCore runs them, each block read 8 KiB of every 128 KiB
// panel of a 4096-row B in turn: 1.15–1.3× slower at 1–4 × 4096² in both
// builds.) The rows of A go into the B block's room (gemmPacked packs no B),
// PACKED_SPAN k at a time. Rows that the blocks would run as two 4-row tiles
// (more than MR, at most 8: 6–8 plain, 7–8 relaxed) run here as two groups
// of 4, the second on each K block of the panel while it is in L1 (half a
// span of A each): 1.06–1.34× at 6–8 × 4096², 1.1–1.3× at the MLP's shapes,
// up to 2.5× on short K (7–8 × 10 × 100; docs/BENCHMARKS.md). Five rows
// (plain) and six (relaxed) keep the blocks' one full tile: as a 4-row
// group and a 1- or 2-row one they ran 0.64–0.84×.
const PACKED_ROWS_M = 4;
const PACKED_SPAN = KC * NC / 4; // a multiple of KC: spans hold whole K blocks

function packedRows(M: i32, N: i32, K: i32, A: usize, lda: i32, Bp: usize, C: usize, ldc: i32, bias: usize, act: i32, work: usize): void {
  const panelBytes = <usize>(K * NR) << 2;
  const a = work + (<usize>A_BLOCK << 2);
  // rows 4–7 (M > 4) packed after rows 0–3, half a span each
  const span = M > 4 ? PACKED_SPAN / 2 : PACKED_SPAN;
  const a1 = a + (<usize>(PACKED_SPAN / 2 * 4) << 2);
  for (let ks = 0; ks < K; ks += span) {
    const ke = min(K, ks + span);
    if (M > 2) {
      packRows(a, A + (<usize>ks << 2), lda, min(M, 4), ke - ks, 4);
      if (M > 4) packRows(a1, A + ((<usize>4 * lda + <usize>ks) << 2), lda, M - 4, ke - ks, 4);
      for (let j = 0; j < N; j += NR) {
        const p = Bp + <usize>(j / NR) * panelBytes, c = C + (<usize>j << 2), n = min(NR, N - j);
        for (let pc = ks; pc < ke; pc += KC) {
          const kc = min(KC, ke - pc), o = <usize>((pc - ks) * 4) << 2, pb = p + (<usize>(pc * NR) << 2), b: f32 = pc == 0 ? 0 : 1;
          packedRows4x8(kc, a + o, pb, c, ldc, b, min(M, 4), n);
          // the second group finds this K block of the panel in L1
          if (M > 4) packedRows4x8(kc, a1 + o, pb, c + ((<usize>4 * ldc) << 2), ldc, b, M - 4, n);
        }
      }
      continue;
    }
    for (let i = 0; i < M; i++) {
      const c = C + (<usize>(i * ldc) << 2);
      packRows(a, A + ((<usize>i * lda + <usize>ks) << 2), lda, 1, ke - ks, 1);
      let j = 0;
      for (; j + 16 <= N; j += 16) {
        const p = Bp + <usize>(j / NR) * panelBytes;
        for (let pc = ks; pc < ke; pc += KC) {
          const o = <usize>(pc * NR) << 2;
          packedRow1x16(min(KC, ke - pc), a + (<usize>(pc - ks) << 2), p + o, p + panelBytes + o, c + (<usize>j << 2), pc == 0 ? 0 : 1);
        }
      }
      for (; j < N; j += NR) {
        const p = Bp + <usize>(j / NR) * panelBytes;
        for (let pc = ks; pc < ke; pc += KC) {
          packedRow1x8(min(KC, ke - pc), a + (<usize>(pc - ks) << 2), p + (<usize>(pc * NR) << 2), c + (<usize>j << 2), pc == 0 ? 0 : 1, min(NR, N - j));
        }
      }
    }
  }
  if (bias != 0) epilogue(C, ldc, M, N, bias, act);
}

// c[0..16) = beta·c + Σ_k a[k]·(panel p0's row k, panel p1's row k).
function packedRow1x16(kc: i32, a: usize, p0: usize, p1: usize, c: usize, beta: f32): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const av = v128.load32_splat(a);
    s0 = madd(av, v128.load(p0), s0);
    s1 = madd(av, v128.load(p0, 16), s1);
    s2 = madd(av, v128.load(p1), s2);
    s3 = madd(av, v128.load(p1, 16), s3);
    a += 4;
    p0 += NR << 2;
    p1 += NR << 2;
  }
  storeRow(c, s0, s1, beta);
  storeRow(c + 32, s2, s3, beta);
}

// Rows 0..mr (≤ 4) × one panel's n ≤ NR columns; a packed 4 floats per k.
// Eight accumulators, the panel's two vectors, four broadcasts and the
// product: 15 registers, what V8 leaves.
function packedRows4x8(kc: i32, a: usize, p: usize, c: usize, ldc: i32, beta: f32, mr: i32, n: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(p), b1 = v128.load(p, 16);
    const a0 = v128.load32_splat(a);
    c00 = madd(a0, b0, c00);
    c01 = madd(a0, b1, c01);
    const a1 = v128.load32_splat(a, 4);
    c10 = madd(a1, b0, c10);
    c11 = madd(a1, b1, c11);
    const a2 = v128.load32_splat(a, 8);
    c20 = madd(a2, b0, c20);
    c21 = madd(a2, b1, c21);
    const a3 = v128.load32_splat(a, 12);
    c30 = madd(a3, b0, c30);
    c31 = madd(a3, b1, c31);
    a += 16;
    p += NR << 2;
  }
  const rowBytes = <usize>ldc << 2;
  storePanelRow(c, c00, c01, beta, n);
  if (mr > 1) storePanelRow(c + rowBytes, c10, c11, beta, n);
  if (mr > 2) storePanelRow(c + 2 * rowBytes, c20, c21, beta, n);
  if (mr > 3) storePanelRow(c + 3 * rowBytes, c30, c31, beta, n);
}

// p[0..n) = beta·p + (v0, v1)[0..n) for n ≤ NR, with storeRow's arithmetic.
// @ts-ignore: decorator
@inline
function storePanelRow(p: usize, v0: v128, v1: v128, beta: f32, n: i32): void {
  if (n == NR) {
    storeRow(p, v0, v1, beta);
    return;
  }
  storeCols(p, v0, beta, min(4, n));
  if (n > 4) storeCols(p + 16, v1, beta, n - 4);
}

// c[0..n) (n ≤ NR) of one panel's columns; the panel's padding is computed, never stored.
function packedRow1x8(kc: i32, a: usize, p: usize, c: usize, beta: f32, n: i32): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const av = v128.load32_splat(a);
    s0 = madd(av, v128.load(p), s0);
    s1 = madd(av, v128.load(p, 16), s1);
    a += 4;
    p += NR << 2;
  }
  storePanelRow(c, s0, s1, beta, n);
}

// ---- A few rows of A·B (a batch of up to SMALL_M, or SWEEP_M on large B:
// inference, or a small training batch): packing B, K·N floats, would cost as
// much as M/8 of the multiply-adds. Instead, per K block of KC, the rows of A
// are flushed and interleaved into the workspace (groups of 4, 2 or 1 rows:
// rowGroup) and B is read in place, each B vector flushed once per group and
// multiplied by every row of it before the next is loaded. B is read in sweeps
// of RB rows (more when B is narrow): a sweep reads its rows left to right
// over a chunk of NB columns, a strip of 4–16 columns at a time down the RB
// rows, so a cache line of B is read whole while it is in L1 and the
// prefetcher sees RB sequential streams; a second group of rows finds the
// sweep's B in L1. The strips' partial sums wait in the workspace between
// sweeps (M·NB floats) and go to C at the K block's last sweep. (Strips walked
// down all kc rows of a K block before: each row of B on a new 4 KiB page,
// with a row stride of a multiple of 4 KiB all in one L1 set, and 3–4 rows
// read each line in 4 separate walks: 1–4 × 4096 × 4096 at 3–10 GFLOP/s,
// 0.4–0.6× TF.js.) The arithmetic is the blocked kernel's: per K block,
// s = Σ a·b from 0 in k order (operands flushed as packing flushes them; a sum
// held in the workspace between sweeps is the same float it was in the
// register), C = beta·C + s for the first block (s alone for beta 0, C + s for
// beta 1) and C + s after, then the epilogue. So a call gives the same bits
// whichever path M picks. Strips: one row 16 columns, two rows 8, four rows 4
// (V8 loads every broadcast of the k step before the first multiply, which
// caps the tile: see stripRows); then 4-column strips. Columns past N are
// never read or written. From 5 rows the packed path flushes B once rather
// than once per group, and its 5×8 kernel keeps more accumulators: it is kept
// for B in cache (sweeps ran 0.77–0.93× it at 8 × 784 × 1000, 512² and 4096 ×
// 256 on Intel, 0.6× at 5–8 × 1000 × 784 on Zen 5). For 5–8 rows on a B of 8
// MiB or more (past every L2, as AlexNet's classifier) packing B, read once
// from memory and written once, costs more than the second flush: there sweeps
// run 1.2–1.9× faster (1.5× at 8 × 9216 × 4096) in both builds, unless B is
// narrow (a sweep's chunk of B is then short: 0.6–0.8× at 512 columns,
// 0.96–1.09× at 768; docs/BENCHMARKS.md).
const SMALL_M = 4;
const SWEEP_M = 8;
const SWEEP_MIN_B = 1 << 21; // floats of B (8 MiB)
const SWEEP_MIN_N = 768;

// Whether A·B runs as gemmRows' sweeps (same bits as the packed path either way).
// @ts-ignore: decorator
@inline
function sweepsB(M: i32, N: i32, K: i32): bool {
  return M <= SMALL_M || (M <= SWEEP_M && N >= SWEEP_MIN_N && <i64>K * N >= SWEEP_MIN_B);
}

const RB = 8; // rows of B per sweep (16 for one row: its sweep computes a quarter as much per line)
const NB = 1024; // columns of B per sweep: the sums of 4 rows take 16 KiB
const SWEEP_FLOATS = 4096; // narrower B: more rows per sweep, up to 16 KiB of B (whole K blocks of N ≤ 16)

function gemmRows(M: i32, N: i32, K: i32, A: usize, lda: i32, B: usize, ldb: i32, C: usize, ldc: i32, beta: f32, bias: usize, act: i32, work: usize): void {
  const bRow = <usize>ldb << 2;
  const S = work + (<usize>A_BLOCK << 2); // the sums: row r at S + r·NB floats
  for (let pc = 0; pc < K; pc += KC) {
    const kc = min(KC, K - pc);
    const b = pc == 0 ? beta : <f32>1;
    // the rows of each group (rowGroup) from row g at work + g·KC floats
    for (let g = 0; g < M; g += rowGroup(M - g)) {
      const R = rowGroup(M - g);
      packRows(work + (<usize>(g * KC) << 2), A + ((<usize>g * lda + <usize>pc) << 2), lda, R, kc, R);
    }
    for (let jc = 0; jc < N; jc += NB) {
      const nb = min(NB, N - jc);
      let bk = B + <usize>pc * bRow + (<usize>jc << 2);
      const rb = max(M == 1 ? 2 * RB : RB, SWEEP_FLOATS / nb);
      for (let k0 = 0; k0 < kc; k0 += rb) {
        const kb = min(rb, kc - k0);
        const first = k0 == 0, last = k0 + kb == kc;
        // each group of rows in turn on the same rows of B, in L1 after the first
        for (let g = 0; g < M; g += rowGroup(M - g)) {
          const R = rowGroup(M - g);
          const a = work + (<usize>(g * KC + k0 * R) << 2);
          const s = S + (<usize>(g * NB) << 2), c = C + ((<usize>g * ldc + <usize>jc) << 2);
          if (R == 1) sweep1(kb, a, bk, bRow, s, c, b, nb, first, last);
          else if (R == 2) sweep2(kb, a, bk, bRow, s, c, ldc, b, nb, first, last);
          else sweep4(kb, a, bk, bRow, s, c, ldc, b, nb, first, last);
        }
        bk += <usize>kb * bRow;
      }
    }
  }
  if (bias != 0) epilogue(C, ldc, M, N, bias, act);
}

// Rows of the group that starts with `rest` rows left: 4, 2 or 1 (3 rows run
// as 2 + 1: 1.1–1.4× faster than 4 rows with a zero row).
// @ts-ignore: decorator
@inline
function rowGroup(rest: i32): i32 {
  return rest >= 4 ? 4 : (rest >= 2 ? 2 : 1);
}

// Packs A[0:mr, 0:kc] (rows lda floats apart), flushed, into dst: for each k,
// R consecutive floats (R = 1, 2 or 4), rows past mr zero.
function packRows(dst: usize, A: usize, lda: i32, mr: i32, kc: i32, R: i32): void {
  const stride = <usize>lda << 2;
  let k = 0;
  if (R == 1) {
    for (; k + 4 <= kc; k += 4) v128.store(dst + (<usize>k << 2), ftz(v128.load(A + (<usize>k << 2))));
  } else if (R == 2) {
    for (; k + 4 <= kc; k += 4) {
      const r0 = ftz(v128.load(A + (<usize>k << 2))), r1 = ftz(v128.load(A + stride + (<usize>k << 2)));
      v128.store(dst + (<usize>k << 3), f32x4.shuffle(r0, r1, 0, 4, 1, 5));
      v128.store(dst + (<usize>k << 3), f32x4.shuffle(r0, r1, 2, 6, 3, 7), 16);
    }
  } else if (mr == 4) {
    for (; k + 4 <= kc; k += 4) transpose4Store(dst + (<usize>k << 4), 16, A + (<usize>k << 2), stride);
  }
  for (; k < kc; k++) {
    const d = dst + ((<usize>k * R) << 2);
    for (let r = 0; r < R; r++) store<f32>(d + (<usize>r << 2), r < mr ? ftzs(load<f32>(A + <usize>r * stride + (<usize>k << 2))) : 0);
  }
}

// B[k, 0..n) for n ≤ 4 (one vector, lanes past n zero): reads only the n floats.
// @ts-ignore: decorator
@inline
function loadCols(p: usize, n: i32): v128 {
  if (n == 4) return v128.load(p);
  if (n == 1) return v128.load32_zero(p);
  const v = v128.load64_zero(p);
  return n == 2 ? v : v128.load32_lane(p, v, 2, 8);
}

// p[0..n) = beta·p + v[0..n) with storeRow's arithmetic (beta = 0 never reads p).
// @ts-ignore: decorator
@inline
function storeCols(p: usize, v: v128, beta: f32, n: i32): void {
  if (n == 4) {
    v128.store(p, beta == 0 ? v : (beta == 1 ? f32x4.add(v128.load(p), v) : f32x4.add(f32x4.mul(f32x4.splat(beta), v128.load(p)), v)));
    return;
  }
  const r = beta == 0 ? v : (beta == 1 ? f32x4.add(loadCols(p, n), v) : f32x4.add(f32x4.mul(f32x4.splat(beta), loadCols(p, n)), v));
  if (n == 1) v128.store32_lane(p, r, 0);
  else {
    v128.store64_lane(p, r, 0);
    if (n == 3) v128.store32_lane(p, r, 2, 8);
  }
}

// One sweep of one row: kb rows of B (bRow bytes apart) × n columns, a
// packed (flushed, 1 float per k). Sums start at 0 on the K block's first
// sweep (else from S) and go to C (beta·C + s) on its last (else to S).
// Strips of 16 columns: four accumulators, the four B vectors (V8 loads
// them all first), the broadcast, the product and ftz's 2 constants, 12
// registers; each k costs 5 vector operations per B vector, 3 of them the
// flush: this is the bound at batch 1, where each B value is used once.
function sweep1(kb: i32, a: usize, b: usize, bRow: usize, S: usize, c: usize, beta: f32, n: i32, first: bool, last: bool): void {
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    const o = <usize>j << 2;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    if (!first) {
      s0 = v128.load(S + o); s1 = v128.load(S + o, 16);
      s2 = v128.load(S + o, 32); s3 = v128.load(S + o, 48);
    }
    let p = b + o, q = a;
    for (let k = 0; k < kb; k++) {
      const av = v128.load32_splat(q);
      s0 = madd(av, ftz(v128.load(p)), s0);
      s1 = madd(av, ftz(v128.load(p, 16)), s1);
      s2 = madd(av, ftz(v128.load(p, 32)), s2);
      s3 = madd(av, ftz(v128.load(p, 48)), s3);
      q += 4;
      p += bRow;
    }
    if (last) {
      storeRow(c + o, s0, s1, beta);
      storeRow(c + o + 32, s2, s3, beta);
    } else {
      v128.store(S + o, s0); v128.store(S + o, s1, 16);
      v128.store(S + o, s2, 32); v128.store(S + o, s3, 48);
    }
  }
  for (; j < n; j += 4) stripRows(1, kb, a, b + (<usize>j << 2), bRow, S + (<usize>j << 2), c + (<usize>j << 2), 0, beta, min(4, n - j), first, last);
}

// sweep1 for two rows (a 2 floats per k), strips of 8 columns: four
// accumulators, two B vectors, two broadcasts, the product and ftz's
// temporary and 2 constants, 12 registers.
function sweep2(kb: i32, a: usize, b: usize, bRow: usize, S: usize, c: usize, ldc: i32, beta: f32, n: i32, first: bool, last: bool): void {
  const rowBytes = <usize>ldc << 2;
  let j = 0;
  for (; j + 8 <= n; j += 8) {
    const o = <usize>j << 2;
    let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s10 = f32x4.splat(0), s11 = f32x4.splat(0);
    if (!first) {
      s00 = v128.load(S + o); s01 = v128.load(S + o, 16);
      s10 = v128.load(S + o, NB << 2); s11 = v128.load(S + o, (NB << 2) + 16);
    }
    let p = b + o, q = a;
    for (let k = 0; k < kb; k++) {
      const b0 = ftz(v128.load(p)), b1 = ftz(v128.load(p, 16));
      const a0 = v128.load32_splat(q);
      s00 = madd(a0, b0, s00);
      s01 = madd(a0, b1, s01);
      const a1 = v128.load32_splat(q, 4);
      s10 = madd(a1, b0, s10);
      s11 = madd(a1, b1, s11);
      q += 8;
      p += bRow;
    }
    if (last) {
      storeRow(c + o, s00, s01, beta);
      storeRow(c + o + rowBytes, s10, s11, beta);
    } else {
      v128.store(S + o, s00); v128.store(S + o, s01, 16);
      v128.store(S + o, s10, NB << 2); v128.store(S + o, s11, (NB << 2) + 16);
    }
  }
  for (; j < n; j += 4) stripRows(2, kb, a, b + (<usize>j << 2), bRow, S + (<usize>j << 2), c + (<usize>j << 2), ldc, beta, min(4, n - j), first, last);
}

// sweep1 for four rows (a 4 floats per k), strips of 4 columns.
function sweep4(kb: i32, a: usize, b: usize, bRow: usize, S: usize, c: usize, ldc: i32, beta: f32, n: i32, first: bool, last: bool): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) stripRows(4, kb, a, b + (<usize>j << 2), bRow, S + (<usize>j << 2), c + (<usize>j << 2), ldc, beta, 4, first, last);
  if (j < n) stripRows(4, kb, a, b + (<usize>j << 2), bRow, S + (<usize>j << 2), c + (<usize>j << 2), ldc, beta, n - j, first, last);
}

// One strip of n ≤ 4 columns of a sweep for R rows (1, 2 or 4, a constant
// in each inlined copy; a R floats per k; S's rows NB floats apart). At R = 4: four accumulators, the B vector and four broadcasts (V8
// loads them all before the first multiply), ftz's temporary and its 2
// constants: 12 registers. 8 rows at once, or 4 × 8 columns, need 17 under
// V8's ordering and spill.
// @ts-ignore: decorator
@inline
function stripRows(R: i32, kb: i32, a: usize, b: usize, bRow: usize, s: usize, c: usize, ldc: i32, beta: f32, n: i32, first: bool, last: bool): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  if (!first) {
    c0 = v128.load(s);
    if (R > 1) c1 = v128.load(s, NB << 2);
    if (R > 2) { c2 = v128.load(s, NB << 3); c3 = v128.load(s, 3 * NB << 2); }
  }
  for (let k = 0; k < kb; k++) {
    const bv = ftz(loadCols(b, n));
    c0 = madd(v128.load32_splat(a), bv, c0);
    if (R > 1) c1 = madd(v128.load32_splat(a, 4), bv, c1);
    if (R > 2) {
      c2 = madd(v128.load32_splat(a, 8), bv, c2);
      c3 = madd(v128.load32_splat(a, 12), bv, c3);
    }
    a += <usize>R << 2;
    b += bRow;
  }
  if (last) {
    const rowBytes = <usize>ldc << 2;
    storeCols(c, c0, beta, n);
    if (R > 1) storeCols(c + rowBytes, c1, beta, n);
    if (R > 2) {
      storeCols(c + 2 * rowBytes, c2, beta, n);
      storeCols(c + 3 * rowBytes, c3, beta, n);
    }
  } else {
    v128.store(s, c0);
    if (R > 1) v128.store(s, c1, NB << 2);
    if (R > 2) { v128.store(s, c2, NB << 3); v128.store(s, c3, 3 * NB << 2); }
  }
}

function scaleC(C: usize, ldc: i32, M: i32, N: i32, beta: f32): void {
  for (let i = 0; i < M; i++) {
    const row = C + ((<usize>i * ldc) << 2);
    for (let j = 0; j < N; j++) {
      const p = row + (<usize>j << 2);
      store<f32>(p, beta == 0 ? 0 : beta * load<f32>(p));
    }
  }
}

// Packs op(B)[pc:pc+kc, jc:jc+nc] into panels of NR columns: panel t starts
// at t·NR·panelK floats (panelK ≥ kc) and holds, for each k, NR consecutive
// floats; columns past nc are zero.
function packB(Bp: usize, B: usize, transB: i32, ldb: i32, pc: i32, jc: i32, kc: i32, nc: i32, panelK: i32): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    let dst = Bp + (<usize>(jr * panelK) << 2);
    if (transB == 0) {
      let src = B + ((<usize>pc * ldb + <usize>(jc + jr)) << 2);
      const stride = <usize>ldb << 2;
      if (nr == NR) {
        for (let k = 0; k < kc; k++) {
          v128.store(dst, ftz(v128.load(src)));
          v128.store(dst, ftz(v128.load(src, 16)), 16);
          dst += NR << 2;
          src += stride;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          for (let c = 0; c < NR; c++) {
            store<f32>(dst + (<usize>c << 2), c < nr ? ftzs(load<f32>(src + (<usize>c << 2))) : 0);
          }
          dst += NR << 2;
          src += stride;
        }
      }
    } else if (nr == NR) {
      // B is N×K: column j of op(B) is row j of B, contiguous in k. Four k at a
      // time, rows 0-3 and 4-7 are transposed 4×4 into two vectors per k.
      const stride = <usize>ldb << 2;
      let src = B + ((<usize>(jc + jr) * ldb + <usize>pc) << 2);
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        transpose4Store(dst, NR << 2, src, stride);
        transpose4Store(dst + 16, NR << 2, src + 4 * stride, stride);
        dst += NR << 4;
        src += 16;
      }
      for (; k < kc; k++) {
        for (let c = 0; c < NR; c++) store<f32>(dst + (<usize>c << 2), ftzs(load<f32>(src + <usize>c * stride)));
        dst += NR << 2;
        src += 4;
      }
    } else {
      const base = B + ((<usize>(jc + jr) * ldb + <usize>pc) << 2);
      const stride = <usize>ldb << 2;
      for (let k = 0; k < kc; k++) {
        for (let c = 0; c < NR; c++) {
          store<f32>(dst + (<usize>c << 2), c < nr ? ftzs(load<f32>(base + <usize>c * stride + (<usize>k << 2))) : 0);
        }
        dst += NR << 2;
      }
    }
  }
}

// Loads 4 floats from each of 4 rows (src, src + stride, ...) and stores the
// transpose: column t (the 4 rows' t-th values) at dst + t·dstStride.
// @ts-ignore: decorator
@inline
function transpose4Store(dst: usize, dstStride: usize, src: usize, stride: usize): void {
  const r0 = ftz(v128.load(src));
  const r1 = ftz(v128.load(src + stride));
  const r2 = ftz(v128.load(src + 2 * stride));
  const r3 = ftz(v128.load(src + 3 * stride));
  const t0 = f32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = f32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t2 = f32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t3 = f32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(dst, f32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(dst + dstStride, f32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(dst + 2 * dstStride, f32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * dstStride, f32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

// Packs op(A)[ic:ic+mc, pc:pc+kc] into panels of MR rows for the build's tiles.
// @ts-ignore: decorator
@inline
function packA(Ap: usize, A: usize, transA: i32, lda: i32, ic: i32, pc: i32, mc: i32, kc: i32): void {
  if (ASC_FEATURE_RELAXED_SIMD) packAValues(Ap, A, transA, lda, ic, pc, mc, kc);
  else packABroadcast(Ap, A, transA, lda, ic, pc, mc, kc);
}

// The plain build's packing: panel t holds, for each k, its MR values, each
// broadcast to 4 floats (AW); rows past mc are zero. The tiles then read A
// with plain vector loads, whose offsets V8 folds into the instruction
// (micro5x8).
function packABroadcast(Ap: usize, A: usize, transA: i32, lda: i32, ic: i32, pc: i32, mc: i32, kc: i32): void {
  const kStep = <usize>(MR * AW) << 2; // bytes per k of a panel
  const zero = f32x4.splat(0);
  let dst = Ap;
  for (let ir = 0; ir < mc; ir += tileRows(mc - ir)) {
    const mr = tileRows(mc - ir);
    if (ir > 0) dst += <usize>kc * kStep;
    if (transA == 0) {
      // row r of op(A) is row r of A, contiguous in k: 4 k at a time
      const stride = <usize>lda << 2;
      for (let r = 0; r < MR; r++) {
        let d = dst + (<usize>r << 4);
        if (r >= mr) {
          for (let k = 0; k < kc; k++) { v128.store(d, zero); d += kStep; }
          continue;
        }
        let src = A + ((<usize>(ic + ir + r) * lda + <usize>pc) << 2);
        let k = 0;
        for (; k + 4 <= kc; k += 4) {
          const v = ftz(v128.load(src));
          v128.store(d, i32x4.shuffle(v, v, 0, 0, 0, 0));
          v128.store(d + kStep, i32x4.shuffle(v, v, 1, 1, 1, 1));
          v128.store(d + 2 * kStep, i32x4.shuffle(v, v, 2, 2, 2, 2));
          v128.store(d + 3 * kStep, i32x4.shuffle(v, v, 3, 3, 3, 3));
          d += 4 * kStep;
          src += 16;
        }
        for (; k < kc; k++) {
          v128.store(d, f32x4.splat(ftzs(load<f32>(src))));
          d += kStep;
          src += 4;
        }
      }
    } else {
      // A is K×M: for each k the mr values are contiguous
      let src = A + ((<usize>pc * lda + <usize>(ic + ir)) << 2);
      const stride = <usize>lda << 2;
      let d = dst;
      if (mr == MR) {
        for (let k = 0; k < kc; k++) {
          const v = ftz(v128.load(src));
          v128.store(d, i32x4.shuffle(v, v, 0, 0, 0, 0));
          v128.store(d, i32x4.shuffle(v, v, 1, 1, 1, 1), 16);
          v128.store(d, i32x4.shuffle(v, v, 2, 2, 2, 2), 32);
          v128.store(d, i32x4.shuffle(v, v, 3, 3, 3, 3), 48);
          v128.store(d, f32x4.splat(ftzs(load<f32>(src, 16))), 64);
          d += kStep;
          src += stride;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          for (let r = 0; r < MR; r++) {
            v128.store(d + (<usize>r << 4), r < mr ? f32x4.splat(ftzs(load<f32>(src + (<usize>r << 2)))) : zero);
          }
          d += kStep;
          src += stride;
        }
      }
    }
  }
}

// The relaxed build's packing: panel t holds, for each k, MR consecutive
// floats; rows past mc are zero.
function packAValues(Ap: usize, A: usize, transA: i32, lda: i32, ic: i32, pc: i32, mc: i32, kc: i32): void {
  let dst = Ap;
  for (let ir = 0; ir < mc; ir += tileRows(mc - ir)) {
    const mr = tileRows(mc - ir);
    if (ir > 0) dst += <usize>(MR * kc) << 2;
    if (transA == 0 && mr == MR) {
      // Row i of op(A) is row i of A, contiguous in k. Four k at a time: rows
      // 0-3 transposed 4×4, rows 4-5 interleaved in pairs.
      const stride = <usize>lda << 2;
      let src = A + ((<usize>(ic + ir) * lda + <usize>pc) << 2);
      let d = dst;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        transpose4Store(d, MR << 2, src, stride);
        const r4 = ftz(v128.load(src + 4 * stride));
        const r5 = ftz(v128.load(src + 5 * stride));
        const lo = f32x4.shuffle(r4, r5, 0, 4, 1, 5);
        const hi = f32x4.shuffle(r4, r5, 2, 6, 3, 7);
        v128.store64_lane(d, lo, 0, 16);
        v128.store64_lane(d, lo, 1, 40);
        v128.store64_lane(d, hi, 0, 64);
        v128.store64_lane(d, hi, 1, 88);
        d += MR << 4;
        src += 16;
      }
      for (; k < kc; k++) {
        for (let r = 0; r < MR; r++) store<f32>(d + (<usize>r << 2), ftzs(load<f32>(src + <usize>r * stride)));
        d += MR << 2;
        src += 4;
      }
    } else if (transA == 0 && mr == 4) {
      // a 4-row tile: rows 0-3 as above, rows 4-5 zero (micro6x4 reads them)
      const stride = <usize>lda << 2;
      let src = A + ((<usize>(ic + ir) * lda + <usize>pc) << 2);
      let d = dst;
      let k = 0;
      const zero = f32x4.splat(0);
      for (; k + 4 <= kc; k += 4) {
        transpose4Store(d, MR << 2, src, stride);
        v128.store64_lane(d, zero, 0, 16);
        v128.store64_lane(d, zero, 0, 40);
        v128.store64_lane(d, zero, 0, 64);
        v128.store64_lane(d, zero, 0, 88);
        d += MR << 4;
        src += 16;
      }
      for (; k < kc; k++) {
        for (let r = 0; r < MR; r++) store<f32>(d + (<usize>r << 2), r < 4 ? ftzs(load<f32>(src + <usize>r * stride)) : 0);
        d += MR << 2;
        src += 4;
      }
    } else if (transA == 0) {
      const base = A + ((<usize>(ic + ir) * lda + <usize>pc) << 2);
      const stride = <usize>lda << 2;
      let d = dst;
      for (let k = 0; k < kc; k++) {
        for (let r = 0; r < MR; r++) {
          store<f32>(d + (<usize>r << 2), r < mr ? ftzs(load<f32>(base + <usize>r * stride + (<usize>k << 2))) : 0);
        }
        d += MR << 2;
      }
    } else {
      // A is K×M: for each k the MR values are contiguous
      let src = A + ((<usize>pc * lda + <usize>(ic + ir)) << 2);
      const stride = <usize>lda << 2;
      let d = dst;
      if (mr == MR) {
        for (let k = 0; k < kc; k++) {
          v128.store(d, ftz(v128.load(src)));
          v128.store64_lane(d, ftz(v128.load64_zero(src, 16)), 0, 16);
          d += MR << 2;
          src += stride;
        }
      } else if (mr == 4) {
        const zero = f32x4.splat(0);
        for (let k = 0; k < kc; k++) {
          v128.store(d, ftz(v128.load(src)));
          v128.store64_lane(d, zero, 0, 16);
          d += MR << 2;
          src += stride;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          for (let r = 0; r < MR; r++) {
            store<f32>(d + (<usize>r << 2), r < mr ? ftzs(load<f32>(src + (<usize>r << 2))) : 0);
          }
          d += MR << 2;
          src += stride;
        }
      }
    }
  }
}

// Writes a tile of `rows` rows (4, 5 or 6, a constant in each inlined copy),
// held as pairs of accumulators: a full MR×NR tile straight to C, with
// tileBias != 0 as act(beta·C + Σ + bias), act none or ReLU (storeRowBias,
// the epilogue's arithmetic in registers); any other through the scratch
// tile T (rows 8 floats apart) and storeEdge.
// @ts-ignore: decorator
@inline
function writeTile(
  rows: i32, c: usize, ldc: i32, beta: f32, mr: i32, nr: i32, T: usize, tileBias: usize, act: i32,
  c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128,
  c30: v128, c31: v128, c40: v128, c41: v128, c50: v128, c51: v128,
): void {
  const rowBytes = <usize>ldc << 2;
  if (tileBias != 0) {
    const relu = act == ACT_RELU;
    const b0 = v128.load(tileBias), b1 = v128.load(tileBias, 16);
    storeRowBias(c, c00, c01, beta, b0, b1, relu);
    storeRowBias(c + rowBytes, c10, c11, beta, b0, b1, relu);
    storeRowBias(c + 2 * rowBytes, c20, c21, beta, b0, b1, relu);
    storeRowBias(c + 3 * rowBytes, c30, c31, beta, b0, b1, relu);
    if (rows > 4) storeRowBias(c + 4 * rowBytes, c40, c41, beta, b0, b1, relu);
    if (rows > 5) storeRowBias(c + 5 * rowBytes, c50, c51, beta, b0, b1, relu);
    return;
  }
  if (rows == MR && mr == MR && nr == NR) {
    storeRow(c, c00, c01, beta);
    storeRow(c + rowBytes, c10, c11, beta);
    storeRow(c + 2 * rowBytes, c20, c21, beta);
    storeRow(c + 3 * rowBytes, c30, c31, beta);
    if (rows > 4) storeRow(c + 4 * rowBytes, c40, c41, beta);
    if (rows > 5) storeRow(c + 5 * rowBytes, c50, c51, beta);
    return;
  }
  v128.store(T, c00); v128.store(T, c01, 16);
  v128.store(T, c10, 32); v128.store(T, c11, 48);
  v128.store(T, c20, 64); v128.store(T, c21, 80);
  v128.store(T, c30, 96); v128.store(T, c31, 112);
  if (rows > 4) { v128.store(T, c40, 128); v128.store(T, c41, 144); }
  if (rows > 5) { v128.store(T, c50, 160); v128.store(T, c51, 176); }
  storeEdge(T, c, ldc, beta, mr, nr);
}

// The relaxed build's full tile: 6 rows × 8 columns, each A value broadcast
// once per k (load32_splat) and shared by both B vectors: 12 accumulators + 2
// B + 1 broadcast = 15 registers, as relaxed_madd needs none for the product
// (the plain build's mul then add would need a 16th, and V8 spilled an
// accumulator to the stack every k: 48-59% of peak on AMD Zen 5). 92% of the
// relaxed peak loop on Zen 3; A packed broadcast (micro5x8's form) gains
// nothing here (bench/tiles.ts). writeTile stores the tile (with tileBias,
// the epilogue's arithmetic in registers).
function micro6x8(kc: i32, a: usize, b: usize, c: usize, ldc: i32, beta: f32, mr: i32, nr: i32, T: usize, tileBias: usize, act: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  let c50 = f32x4.splat(0), c51 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = v128.load32_splat(a, 4);
    c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = v128.load32_splat(a, 8);
    c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = v128.load32_splat(a, 12);
    c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    av = v128.load32_splat(a, 16);
    c40 = madd(av, b0, c40); c41 = madd(av, b1, c41);
    av = v128.load32_splat(a, 20);
    c50 = madd(av, b0, c50); c51 = madd(av, b1, c51);
    a += MR << 2;
    b += NR << 2;
  }
  writeTile(6, c, ldc, beta, mr, nr, T, tileBias, act, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51);
}

// The plain build's full tile: 5 rows × 8 columns on A packed broadcast
// (packABroadcast), so each k step is 7 vector loads, 10 multiplies and 10
// adds, and the loop's 35 instructions in V8's code; 10 accumulators + 2 B +
// 1 A + the product = 14 registers. The former 6×8 tile, broadcasting A as it
// read it, took 53 instructions per 12 multiply-add pairs, which AMD Zen 3's
// dispatch of 6 a cycle held at ~75% of the peak loop; this one takes 42
// (docs/BENCHMARKS.md, session 26). The loop runs on the B pointer alone (no
// k counter). writeTile stores the tile (with tileBias, the epilogue's
// arithmetic in registers).
function micro5x8(kc: i32, a: usize, b: usize, c: usize, ldc: i32, beta: f32, mr: i32, nr: i32, T: usize, tileBias: usize, act: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  const end = b + (<usize>kc << 5);
  while (b < end) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let av = v128.load(a);
    c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = v128.load(a, 16);
    c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = v128.load(a, 32);
    c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = v128.load(a, 48);
    c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    av = v128.load(a, 64);
    c40 = madd(av, b0, c40); c41 = madd(av, b1, c41);
    a += 80;
    b += NR << 2;
  }
  writeTile(5, c, ldc, beta, mr, nr, T, tileBias, act, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, f32x4.splat(0), f32x4.splat(0));
}

// The plain build's bottom edge when at most 4 rows remain: micro5x8's top 4 rows.
function micro4x8b(kc: i32, a: usize, b: usize, c: usize, ldc: i32, beta: f32, mr: i32, nr: i32, T: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const end = b + (<usize>kc << 5);
  while (b < end) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let av = v128.load(a);
    c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = v128.load(a, 16);
    c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = v128.load(a, 32);
    c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = v128.load(a, 48);
    c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    a += 80;
    b += NR << 2;
  }
  writeTile(4, c, ldc, beta, mr, nr, T, 0, 0, c00, c01, c10, c11, c20, c21, c30, c31, f32x4.splat(0), f32x4.splat(0), f32x4.splat(0), f32x4.splat(0));
}

// The plain build's right edge when at most 4 columns remain: micro5x8's left half.
function micro5x4(kc: i32, a: usize, b: usize, c: usize, ldc: i32, beta: f32, mr: i32, nr: i32, T: usize): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0);
  let c3 = f32x4.splat(0), c4 = f32x4.splat(0);
  const end = b + (<usize>kc << 5);
  while (b < end) {
    const b0 = v128.load(b);
    c0 = madd(v128.load(a), b0, c0);
    c1 = madd(v128.load(a, 16), b0, c1);
    c2 = madd(v128.load(a, 32), b0, c2);
    c3 = madd(v128.load(a, 48), b0, c3);
    c4 = madd(v128.load(a, 64), b0, c4);
    a += 80;
    b += NR << 2;
  }
  v128.store(T, c0); v128.store(T, c1, 32); v128.store(T, c2, 64);
  v128.store(T, c3, 96); v128.store(T, c4, 128);
  storeEdge(T, c, ldc, beta, mr, nr);
}

// The relaxed build's bottom edge when at most 4 rows remain: the top 4 rows of the 6×8 tile.
function micro4x8(kc: i32, a: usize, b: usize, c: usize, ldc: i32, beta: f32, mr: i32, nr: i32, T: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = v128.load32_splat(a, 4);
    c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = v128.load32_splat(a, 8);
    c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = v128.load32_splat(a, 12);
    c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    a += MR << 2;
    b += NR << 2;
  }
  writeTile(4, c, ldc, beta, mr, nr, T, 0, 0, c00, c01, c10, c11, c20, c21, c30, c31, f32x4.splat(0), f32x4.splat(0), f32x4.splat(0), f32x4.splat(0));
}

// The relaxed build's right edge when at most 4 columns remain: the left half of the 6×8
// tile with the same per-element arithmetic (so the same bits), half the work.
function micro6x4(kc: i32, a: usize, b: usize, c: usize, ldc: i32, beta: f32, mr: i32, nr: i32, T: usize): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0);
  let c3 = f32x4.splat(0), c4 = f32x4.splat(0), c5 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(b);
    c0 = madd(v128.load32_splat(a), b0, c0);
    c1 = madd(v128.load32_splat(a, 4), b0, c1);
    c2 = madd(v128.load32_splat(a, 8), b0, c2);
    c3 = madd(v128.load32_splat(a, 12), b0, c3);
    c4 = madd(v128.load32_splat(a, 16), b0, c4);
    c5 = madd(v128.load32_splat(a, 20), b0, c5);
    a += MR << 2;
    b += NR << 2;
  }
  v128.store(T, c0); v128.store(T, c1, 32); v128.store(T, c2, 64);
  v128.store(T, c3, 96); v128.store(T, c4, 128); v128.store(T, c5, 160);
  storeEdge(T, c, ldc, beta, mr, nr);
}

// Scalar reference: the textbook triple loop, same operand conventions.
export function gemmRef(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32,
  C: usize, ldc: i32, beta: f32,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s: f32 = 0;
      for (let k = 0; k < K; k++) {
        const a = transA == 0 ? load<f32>(A + ((<usize>i * lda + k) << 2)) : load<f32>(A + ((<usize>k * lda + i) << 2));
        const b = transB == 0 ? load<f32>(B + ((<usize>k * ldb + j) << 2)) : load<f32>(B + ((<usize>j * ldb + k) << 2));
        s += a * b;
      }
      const p = C + ((<usize>i * ldc + j) << 2);
      store<f32>(p, beta == 0 ? s : beta * load<f32>(p) + s);
    }
  }
}

// Scalar reference of the kernels' arithmetic, bit for bit (test build
// only): operands flushed as packing flushes them, per K block of KC
// s = Σ a·b from 0 in k order (product rounded, then sum), C = beta·C + s
// for the first block (s alone for beta 0, C + s for beta 1), C + s after.
export function gemmBlockedRef(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32,
  C: usize, ldc: i32, beta: f32,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      const p = C + ((<usize>i * ldc + j) << 2);
      let c: f32 = K > 0 ? load<f32>(p) : (beta == 0 ? 0 : beta * load<f32>(p));
      for (let pc = 0; pc < K; pc += KC) {
        let s: f32 = 0;
        for (let k = pc; k < min(K, pc + KC); k++) {
          const a = transA == 0 ? load<f32>(A + ((<usize>i * lda + k) << 2)) : load<f32>(A + ((<usize>k * lda + i) << 2));
          const b = transB == 0 ? load<f32>(B + ((<usize>k * ldb + j) << 2)) : load<f32>(B + ((<usize>j * ldb + k) << 2));
          s = ftzs(a) * ftzs(b) + s;
        }
        c = pc > 0 || beta == 1 ? c + s : (beta == 0 ? s : beta * c + s);
      }
      store<f32>(p, c);
    }
  }
}

// ---- Affine epilogue helpers
// y[r, j] += b[j] for every row r.
export function biasAddForward(y: usize, b: usize, rows: i32, cols: i32): void {
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const yr = y + <usize>r * rowBytes;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      v128.store(yr + o, f32x4.add(v128.load(yr + o), v128.load(b + o)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(yr + o, load<f32>(yr + o) + load<f32>(b + o));
    }
  }
}

// db[j] = sum over rows of dy[r, j] (rows summed in order).
export function biasBackward(db: usize, dy: usize, rows: i32, cols: i32): void {
  const rowBytes = <usize>cols << 2;
  let j = 0;
  for (; j + 4 <= cols; j += 4) {
    const o = <usize>j << 2;
    let acc = f32x4.splat(0);
    for (let r = 0; r < rows; r++) acc = f32x4.add(acc, v128.load(dy + <usize>r * rowBytes + o));
    v128.store(db + o, acc);
  }
  for (; j < cols; j++) {
    const o = <usize>j << 2;
    let s: f32 = 0;
    for (let r = 0; r < rows; r++) s += load<f32>(dy + <usize>r * rowBytes + o);
    store<f32>(db + o, s);
  }
}

export function biasBackwardRef(db: usize, dy: usize, rows: i32, cols: i32): void {
  for (let j = 0; j < cols; j++) {
    let s: f32 = 0;
    for (let r = 0; r < rows; r++) s += load<f32>(dy + ((<usize>r * cols + j) << 2));
    store<f32>(db + (<usize>j << 2), s);
  }
}
