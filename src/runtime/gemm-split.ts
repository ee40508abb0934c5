// How rt.unsafeGemm splits one call across threads: by rows of C (the A and C
// pointers move), or by columns when C is wider than tall (the B and C
// pointers move), so the duplicated packing — each part packs all of the
// operand it shares, K·N floats of B for a row split — is the smaller one.
// Each element of C is computed by exactly one part, with the reduction order
// the kernel uses for the whole call (assembly/gemm.ts), so the result has the
// same bits for any thread count. Split by rows, with op(B) small enough for
// one packing of it in a workspace (CLAIMED_B_FLOATS), C goes out in row
// chunks that the threads claim as they run, smaller as the rows run out
// (assembly/gemm.ts gemmRowsClaimed), each thread packing op(B) once: on a VM
// one vCPU can run at 55–80% of the other's speed for seconds, and equal
// parts then wait for the slow one. Otherwise one part per thread, each packing the operand it
// shares (parts smaller than that would each pack it again: MLP step 1.45x ->
// 1.05x at 4 per thread).
// assembly/gemm.ts's micro-tile (tileRows × NR columns; tileRows is the
// build's, kernels.gemmTileRows(): 5 plain, 6 relaxed): parts start on tile
// boundaries so no part adds an edge tile the whole call would not have.
const NR = 8;

/**
 * Multiply-adds (M·N·K) each part must have for a split to pay: the hand-off
 * (publishing the job, a worker claiming its part, the duplicated packing)
 * costs a few microseconds. Measured on 2 cores with the worker awake (calls
 * back to back, as in training), a 2-way split of 32³ (2^14 per part) runs at
 * 0.8x, 64³ (2^17 per part) at 1.3x, 100³ at 1.7x, 128³ and up at 1.8–1.9x.
 * A worker that has slept (idle past its spin window) costs a wake-up of
 * ~15–40 µs on the first call after, which the calling thread partly hides by
 * taking the parts no worker has claimed yet.
 */
export const GEMM_MIN_PART_WORK = 1 << 17;

/** Parts to split a call into: at most one per thread, at least one tile row/column and GEMM_MIN_PART_WORK each. */
export function gemmParts(M: number, N: number, K: number, threads: number, tileRows: number): number {
  if (threads < 2 || M <= 0 || N <= 0 || K <= 0) return 1;
  const units = M >= N ? Math.ceil(M / tileRows) : Math.ceil(N / NR);
  return Math.max(1, Math.min(threads, units, Math.floor((M * N * K) / GEMM_MIN_PART_WORK)));
}

/** Most floats of a packed op(B) for claimed row chunks: the workspace's B block (KC·NC). */
export const CLAIMED_B_FLOATS = 256 * 1024;

/** Multiply-adds a claimed chunk must have at least: claiming one costs a cache line's trip between cores (~0.4 µs). */
export const GEMM_MIN_CHUNK_WORK = 1 << 16;

/**
 * A claim takes 1/(CLAIM_SHARE·parts) of the rows left: the first claims are
 * a quarter of the call on 2 threads, so a thread stalled in its first chunk
 * leaves most of the rows to the others.
 */
const CLAIM_SHARE = 2;

/** Most groups of rows a claimed split has: the claim word holds two 16-bit group indices. */
export const MAX_CLAIM_GROUPS = (1 << 15) - 1;

/**
 * How the threads claim a claimed row split (assembly/gemm.ts gemmRowsClaimed):
 * rows in `groups` groups of `groupRows` (whole tile rows; the last group ends
 * at M), each claim taking ⌈left / divisor⌉ groups, at least `least`.
 */
export interface RowClaims { groups: number; groupRows: number; divisor: number; least: number }

/**
 * The claims of a call that gemmParts() splits into `parts` (2 or more) when
 * it splits by rows and op(B) fits one workspace (or was packed once:
 * `prepacked`); null when it does not, and the call splits into `parts`
 * equal parts.
 */
export function gemmRowClaims(M: number, N: number, K: number, parts: number, tileRows: number, prepacked = false): RowClaims | null {
  if (M < N || (!prepacked && packedBFloats(N, K) > CLAIMED_B_FLOATS)) return null;
  const tiles = Math.ceil(M / tileRows);
  const perGroup = Math.ceil(tiles / MAX_CLAIM_GROUPS);
  return {
    groups: Math.ceil(tiles / perGroup),
    groupRows: perGroup * tileRows,
    divisor: CLAIM_SHARE * parts,
    least: Math.max(1, Math.ceil(GEMM_MIN_CHUNK_WORK / (perGroup * tileRows * N * K))),
  };
}

/** Floats of op(B) K×N packed for all of K, N rounded up to whole panels (as gemmRowsClaimed packs it). */
export function packedBFloats(N: number, K: number): number {
  return K * Math.ceil(N / NR) * NR;
}

/** One part of a split GEMM: m×n of C, the operands' and the bias's start (the bias moves with a column split). */
export type GemmPart = (p: number, m: number, n: number, A: number, B: number, C: number, bias: number) => void;

/**
 * Calls `part` for each of `parts` parts of C = op(A)·op(B): rows of C when
 * M >= N, else columns, each starting on a micro-tile boundary. `bias` (a
 * pointer to N floats, or 0) moves with the columns; the runtime writes each
 * part's kernel arguments from these (typed as gemm's or gemmBiasAct's).
 */
export function forEachGemmPart(
  parts: number, tileRows: number, transA: number, transB: number, M: number, N: number,
  A: number, lda: number, B: number, ldb: number, C: number, ldc: number, bias: number, part: GemmPart,
): void {
  const byRows = M >= N;
  const dim = byRows ? M : N;
  const step = byRows ? tileRows : NR;
  const units = Math.ceil(dim / step);
  for (let p = 0; p < parts; p++) {
    const start = Math.floor((units * p) / parts) * step;
    const end = p === parts - 1 ? dim : Math.floor((units * (p + 1)) / parts) * step;
    part(p, byRows ? end - start : M, byRows ? N : end - start,
      // row i of op(A) starts at A + i·lda floats, or at A + i when A is stored K×M
      byRows ? A + 4 * (transA ? start : start * lda) : A,
      // column j of op(B) starts at B + j, or at B + j·ldb when B is stored N×K
      byRows ? B : B + 4 * (transB ? start * ldb : start),
      C + 4 * (byRows ? start * ldc : start),
      bias === 0 || byRows ? bias : bias + 4 * start);
  }
}
