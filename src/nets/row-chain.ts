// A training step's forward and backward on two threads, for a net of
// (Affine, activation)* Affine and SoftmaxWithLoss (the book's MultiLayerNet),
// in two split calls instead of one per GEMM. Every one of these layers treats
// each row alone, so in the first each thread runs half of the batch's rows
// through the whole net, forward and back to every layer's input gradient
// (assembly/chain.ts runChain), with no synchronisation between layers and its
// activations in its own core. In the second each thread computes one part of
// the net's gradient block, cut at a row of one layer's dW (the calling thread
// the first layers' dW and db, the worker the rest), from all the batch's rows.
// The layer-by-layer path makes 17 split calls a gradient on the MLP, each reading
// lines the other core wrote: between the two vCPUs of a VM a line takes
// 0.15–0.5 µs to cross, and those waits, more than the arithmetic, were what
// the 2-thread step lost (docs/BENCHMARKS.md, session 11).
//
// The same bits as the layer path by construction: each call is one that path
// makes on a block of rows (the row-local layers) or of dW's rows (whose every
// element sums the whole batch in the kernel's order, as a split GEMM does),
// and the loss is summed once, over all rows in order, from the softmax the
// first call wrote (assembly/softmax.ts crossEntropyOfSoftmax, or
// crossEntropyOfSoftmaxDense for one-hot, soft or label-smoothed targets).
import { Affine } from '../layers/affine.js';
import { isFusableActivation, type FusableActivation } from '../layers/activations.js';
import type { Buffers } from '../layers/buffers.js';
import type { Layer } from '../layers/layer.js';
import type { SoftmaxWithLoss, Targets } from '../layers/softmax-with-loss.js';
import { ACTIVATION_CODES, ACT_BACKWARD, type Runtime } from '../runtime/runtime.js';
import { Tensor, type IntTensor } from '../runtime/tensor.js';

// assembly/chain.ts: slots per entry and op codes (GEMM_PACKED: a frozen net's chain, src/nets/frozen.ts)
export const SLOTS = 16;
const GEMM_BIAS_ACT = 0;
const GEMM = 1;
const SOFTMAX_CE = 2;
const BIAS_BACKWARD = 3;
export const GEMM_PACKED = 4;
const SOFTMAX_CE_DENSE = 5;

/** Threads (and parts of each split call) a chain runs on. */
export const PARTS = 2;

/**
 * Fewest rows of a batch the chain runs, so that each part has at least one
 * tile row of the GEMM's micro-kernel to itself; smaller batches take the
 * layer path (the same bits).
 */
export const CHAIN_MIN_ROWS = 12;

/**
 * Fewest multiply-adds each part's forward and input gradients must have for
 * the chain to pay; less takes the layer path (the same bits). Measured on 2
 * threads, SGD steps against the layer path: 784-[100, 100]-10 at batch 16
 * (0.8M a part) 0.85–0.88× over 1 thread against 1.06×, at batch 24 (1.2M)
 * 1.20–1.38× against 1.15–1.36×; 784-[100×6]-10 at batch 16 (1.4M) 1.05×
 * against 1.04×, at 24 1.41× against 1.11×.
 */
export const CHAIN_MIN_PART_WORK = 1 << 20;

/**
 * Least share of the rows either thread takes. The share follows the threads'
 * measured speeds (RowChain.balance): on a VM one vCPU can run at a third of
 * the other's speed for seconds, and equal halves then wait for it (in such a
 * phase the MLP step on 2 threads took 1.82 ms in halves, against 1.71–1.76 on
 * 1 thread and 1.43 with the layer path's claimed GEMM splits).
 */
const MIN_SHARE = 0.1;

/** Weight of the last call's speeds in the share (the rest is the share before). */
const SHARE_STEP = 0.5;

/**
 * Rows [0, split) of n for part 0, the rest for part 1: `share` of them, on a boundary of the GEMM's
 * micro-tiles of `tileRows` rows (Runtime.gemmTileRows), each part at least one tile when n allows.
 */
export function splitRows(n: number, share: number, tileRows: number): number {
  const tiles = Math.ceil(n / tileRows);
  const first = Math.min(tiles - 1, Math.max(1, Math.round(share * tiles)));
  return Math.min(n, first * tileRows);
}

// an f32's bits (no allocation per step)
const scratchF32 = new Float32Array(1);
const scratchI32 = new Int32Array(scratchF32.buffer);

function f32Bits(v: number): number {
  scratchF32[0] = v;
  return scratchI32[0];
}

/** Writes one table entry (op and up to 14 arguments) at int index e of d; returns the next entry's index. */
export function put(d: Int32Array, e: number, op: number, a1: number, a2: number, a3: number, a4: number, a5 = 0, a6 = 0, a7 = 0,
  a8 = 0, a9 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0, a14 = 0): number {
  d[e] = op; d[e + 1] = a1; d[e + 2] = a2; d[e + 3] = a3; d[e + 4] = a4; d[e + 5] = a5; d[e + 6] = a6; d[e + 7] = a7;
  d[e + 8] = a8; d[e + 9] = a9; d[e + 10] = a10; d[e + 11] = a11; d[e + 12] = a12; d[e + 13] = a13; d[e + 14] = a14;
  return e + SLOTS;
}

/** A net's contiguous gradient block (ParameterSet): `size` floats at byte address `grad`. */
export interface GradientBlock {
  grad: number;
  size: number;
}

export class RowChain {
  /** @internal the share of the rows the calling thread's part takes (part 0), from the parts' measured speeds */
  share = 0.5;
  /**
   * @internal the share of the gradient block's floats whose dW part 0 computes, from the dW call's
   * measured speeds: its parts read different amounts of the other core's rows (part 1 those of
   * every layer but the first), so the rows' share does not balance it.
   */
  gradShare = 0.5;

  /** Multiply-adds of one row's forward and input gradients (the first layer has none). */
  private readonly rowWork: number;

  private constructor(
    private readonly rt: Runtime,
    private readonly affines: readonly Affine[],
    private readonly activations: readonly FusableActivation[],
    private readonly last: SoftmaxWithLoss,
    private readonly buffers: Buffers,
    private readonly block: GradientBlock | null,
  ) {
    this.rowWork = affines.reduce((sum, a, l) => sum + (l === 0 ? 1 : 2) * a.W.size, 0);
    // made now where the chain may run, so the step that first runs it (a lazy pool's start) allocates nothing
    if (rt.splitThreads === PARTS) this.table();
  }

  /** The chain's table: each part's rows through the net (2L entries), then each part's dW and db (at most 2L). */
  private table(): IntTensor {
    return this.buffers.labels('chain.table', [2 * PARTS * this.region]);
  }

  /** Int32 slots of one part's region of the table. */
  private get region(): number {
    return 2 * this.affines.length * SLOTS;
  }

  /**
   * The chain of a net whose layers are (Affine, Relu|Sigmoid|Tanh)* Affine; null for any other net.
   * `block`: the contiguous gradient block holding every dW and db in layer order, if the net has one.
   */
  static of(rt: Runtime, layers: readonly Layer[], last: SoftmaxWithLoss, buffers: Buffers, block: GradientBlock | null): RowChain | null {
    if (layers.length % 2 !== 1) return null;
    const affines: Affine[] = [];
    const activations: FusableActivation[] = [];
    for (let i = 0; i < layers.length; i++) {
      const layer = layers[i];
      if (i % 2 === 0 && layer instanceof Affine) affines.push(layer);
      else if (i % 2 === 1 && isFusableActivation(layer)) activations.push(layer);
      else return null;
    }
    const inBlock = (t: Tensor) => block !== null && t.ptr >= block.grad && t.ptr + 4 * t.size <= block.grad + 4 * block.size;
    const ordered = affines.every((a, l) => inBlock(a.dW) && inBlock(a.db) && a.dW.ptr < a.db.ptr && (l === 0 || affines[l - 1].db.ptr < a.dW.ptr));
    return new RowChain(rt, affines, activations, last, buffers, ordered ? block : null);
  }

  /**
   * gradient()'s forward and backward in two split calls, when they apply: a runtime whose pool of
   * exactly 2 threads takes split calls now, CHAIN_MIN_ROWS rows or more, CHAIN_MIN_PART_WORK a
   * part. Returns the
   * loss (without decay terms), the layers left as the layer path leaves them, or null without
   * running anything (the caller runs the layer path).
   * @throws what the layers' forward would throw, before anything is computed; the loss's RangeError
   * when it is not finite, after the forward and before any gradient is written (as the layer path).
   */
  run(x: Tensor, t: Targets): number | null {
    const N = x.shape[0];
    // A weighted loss (classWeights) takes the layer path: its gradient scales each row of y by the row's
    // weighted target mass (SoftmaxWithLoss.weightedBackward, three kernels), and the chain's table has no op
    // for that (assembly/chain.ts runs a fixed set of kernels). The layer path's split GEMMs give the same
    // bits on any thread count, so only the chain's speed is given up, not reproducibility.
    if (this.last.classWeights !== null) return null;
    // on one thread (a lazy pool not started yet, every worker quiet) the layer path is the faster
    if (!this.rt.splitsNow || this.rt.splitThreads !== PARTS || N < CHAIN_MIN_ROWS || (N / PARTS) * this.rowWork < CHAIN_MIN_PART_WORK) return null;
    // every check the layer path makes, before anything is computed
    const L = this.affines.length;
    const outs: Tensor[] = [];
    const dxs: Array<Tensor | null> = [];
    let input = x;
    for (let l = 0; l < L; l++) {
      const { out, dx } = this.affines[l].chainBuffers(input, l > 0);
      if (l < L - 1) this.activations[l].adoptFused(out);
      outs.push(out);
      dxs.push(dx);
      input = out;
    }
    const soft = this.last.chainBuffers(input, t);
    const region = this.region;
    const table = this.table();
    const d = table.data;
    const work = this.rt.partScratch(PARTS, this.rt.unsafeKernels.gemmWorkspaceBytes());
    const C = outs[L - 1].shape[1];
    const scale = f32Bits(1 / N);
    const rowOps: number[] = [], gradOps: number[] = [];
    const split = splitRows(N, this.share, this.rt.gemmTileRows);
    const { rows: dWRows, dbPart, cut } = this.gradientParts();
    for (let p = 0; p < PARTS; p++) {
      const r0 = p === 0 ? 0 : split, R = p === 0 ? split : N - split;
      let e = p * region;
      for (let l = 0; l < L; l++) {
        const a = this.affines[l];
        const [D, M] = a.W.shape;
        const from = l === 0 ? x : outs[l - 1];
        const act = l < L - 1 ? ACTIVATION_CODES[this.activations[l].fusedAs] : ACTIVATION_CODES.none;
        e = put(d, e, GEMM_BIAS_ACT, 0, 0, R, M, D, from.ptr + 4 * r0 * D, D, a.W.ptr, M, outs[l].ptr + 4 * r0 * M, M, a.b.ptr, act, work[p]);
      }
      // labels: one int a row; one-hot, soft or smoothed targets: a row of C floats
      const dense = soft.targets instanceof Tensor;
      const t0 = soft.targets.ptr + 4 * r0 * (dense ? C : 1);
      e = put(d, e, dense ? SOFTMAX_CE_DENSE : SOFTMAX_CE, soft.dx.ptr + 4 * r0 * C, soft.y.ptr + 4 * r0 * C, outs[L - 1].ptr + 4 * r0 * C, t0, R, C, scale);
      for (let l = L - 1; l > 0; l--) {
        const a = this.affines[l];
        const [D, M] = a.W.shape;
        const dout = (l === L - 1 ? soft.dx : dxs[l + 1]!).ptr + 4 * r0 * M;
        const dx = dxs[l]!.ptr + 4 * r0 * D, saved = outs[l - 1].ptr + 4 * r0 * D;
        const act = ACT_BACKWARD + ACTIVATION_CODES[this.activations[l - 1].fusedAs];
        e = put(d, e, GEMM_BIAS_ACT, 0, 1, R, D, M, dout, M, a.W.ptr, M, dx, D, (saved - dx) >>> 0, act, work[p]);
      }
      rowOps.push((e - p * region) / SLOTS);
      // dW's rows [i0, i1) of every layer, on tile boundaries; db of every other layer
      e = (PARTS + p) * region;
      for (let l = 0; l < L; l++) {
        const a = this.affines[l];
        const [D, M] = a.W.shape;
        const from = l === 0 ? x : outs[l - 1];
        const dout = l === L - 1 ? soft.dx : dxs[l + 1]!;
        const i0 = p === 0 ? 0 : dWRows[l], i1 = p === 0 ? dWRows[l] : D;
        if (i1 > i0) e = put(d, e, GEMM, 1, 0, i1 - i0, M, N, from.ptr + 4 * i0, D, dout.ptr, M, a.dW.ptr + 4 * i0 * M, M, 0, work[p]);
        if (dbPart[l] === p) e = put(d, e, BIAS_BACKWARD, a.db.ptr, dout.ptr, N, M);
      }
      gradOps.push((e - (PARTS + p) * region) / SLOTS);
    }
    this.rt.runParts('runChain', PARTS, (p, args) => args(table.ptr + 4 * p * region, rowOps[p]), N * this.rowWork);
    this.share = balancedShare(this.rt, this.share, split, N - split);
    // the loss before any gradient is written, as the layer path's forward throws before its backward
    const loss = this.last.chainLoss();
    const dWMacs = this.affines.reduce((sum, a) => sum + N * a.W.size, 0);
    this.rt.runParts('runChain', PARTS, (p, args) => args(table.ptr + 4 * (PARTS + p) * region, gradOps[p]), dWMacs);
    if (this.block !== null) this.gradShare = balancedShare(this.rt, this.gradShare, cut, this.block.size - cut);
    return loss;
  }

  /**
   * Part 0's rows of each layer's dW (the rest are part 1's), the part that sums each db, and the
   * cut. In a gradient block, one cut of the block at gradShare, on a tile row of a dW (every dW
   * element costs N multiply-adds, so a cut of the floats is a cut of the work): the calling
   * thread takes the first layers, mostly the first, whose dW reads x and one layer's rows of the
   * other core, where a block of rows of every dW read every layer's (the dW call on
   * 784-[100×6]-10 at batch 100, 2 threads: 308 µs against 341; docs/BENCHMARKS.md, session 32).
   * Otherwise each layer's rows at the rows' share, and the dbs alternately.
   */
  private gradientParts(): { rows: number[]; dbPart: number[]; cut: number } {
    const tile = this.rt.gemmTileRows;
    const block = this.block;
    if (block === null) {
      return { rows: this.affines.map((a) => splitRows(a.W.shape[0], this.share, tile)), dbPart: this.affines.map((_, l) => l % PARTS), cut: 0 };
    }
    // each part at least a tile row of a dW: the first of the first layer's, the last of the last layer's
    const first = this.affines[0], last = this.affines[this.affines.length - 1];
    const lowest = (first.dW.ptr - block.grad) / 4 + tile * first.W.shape[1];
    const highest = (last.dW.ptr - block.grad) / 4 + (last.W.shape[0] - tile) * last.W.shape[1];
    const target = Math.max(lowest, Math.min(highest, this.gradShare * block.size));
    let cut = block.size;
    const rows = this.affines.map((a) => {
      const [D, M] = a.W.shape;
      const at = (a.dW.ptr - block.grad) / 4;
      const r = Math.min(D, Math.max(0, Math.round((target - at) / M / tile) * tile));
      if (r < D) cut = Math.min(cut, at + r * M);
      return r;
    });
    return { rows, dbPart: this.affines.map((a) => ((a.db.ptr - block.grad) / 4 < cut ? 0 : 1)), cut };
  }
}

/** `share` moved towards the parts' speeds in rt's last split call (units0 and units1 of work over each part's time on the thread that ran it). */
export function balancedShare(rt: Runtime, share: number, units0: number, units1: number): number {
  const ms0 = rt.lastPartMs(0), ms1 = rt.lastPartMs(1);
  if (ms0 === null || ms1 === null || !(ms0 > 0 && ms1 > 0)) return share;
  const speed0 = units0 / ms0, speed1 = units1 / ms1;
  const target = speed0 / (speed0 + speed1);
  return Math.min(1 - MIN_SHARE, Math.max(MIN_SHARE, (1 - SHARE_STEP) * share + SHARE_STEP * target));
}
