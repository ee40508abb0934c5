// A chain of kernel calls from a table, run as one part of a split: a group of
// a batch's rows through a whole net of row-local layers (Affine, activations,
// softmax with cross-entropy), forward and back to each layer's input
// gradient, so each thread runs its rows through every layer with no
// synchronisation between layers and its activations never leave its core;
// then, in a second split, each thread's share of every layer's dW and db
// (src/nets/row-chain.ts builds the tables). A frozen net of Affine layers
// predicts the same way, on its weights packed once (src/nets/frozen.ts).
// Each call computes what the layer-by-layer path computes for those rows or
// that block of dW, with the same reduction order, so the bits are that path's.
//
// An entry is CHAIN_SLOTS 32-bit slots: the op code, then its arguments in
// the kernel's order (f32 arguments as their bits).
import { gemm, gemmBiasAct, gemmPacked, biasBackward } from "./gemm";
import { softmaxForward, softmaxCrossEntropyForward, softmaxCrossEntropyBackward, softmaxCrossEntropyBackwardDense } from "./softmax";

const CHAIN_SLOTS = 16;
/** gemmBiasAct(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, bias, act, work) */
const CHAIN_GEMM_BIAS_ACT = 0;
/** gemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, beta, work) */
const CHAIN_GEMM = 1;
/** softmaxCrossEntropyForward(y, x, t, rows, cols) (its loss is summed after, for all rows), then softmaxCrossEntropyBackward(dx, y, t, rows, cols, scale): (dx, y, x, t, rows, cols, scale) */
const CHAIN_SOFTMAX_CE = 2;
/** biasBackward(db, dy, rows, cols) */
const CHAIN_BIAS_BACKWARD = 3;
/** gemmPacked(M, N, K, A, lda, Bp, C, ldc, bias, act, work) */
const CHAIN_GEMM_PACKED = 4;
/** softmaxForward(y, x, rows, cols) (the loss is summed after, for all rows), then softmaxCrossEntropyBackwardDense(dx, y, t, rows, cols, scale) with t one-hot or soft rows: (dx, y, x, t, rows, cols, scale) */
const CHAIN_SOFTMAX_CE_DENSE = 5;

/**
 * Runs the `ops` entries of the table at `table` in order (see the file's comment).
 * Unsafe like every kernel: the table's pointers and sizes are not checked.
 */
export function runChain(table: usize, ops: i32): void {
  for (let o = 0; o < ops; o++) {
    const e = table + ((<usize>o * CHAIN_SLOTS) << 2);
    const op = load<i32>(e);
    if (op == CHAIN_GEMM_BIAS_ACT) {
      gemmBiasAct(load<i32>(e, 4), load<i32>(e, 8), load<i32>(e, 12), load<i32>(e, 16), load<i32>(e, 20),
        load<u32>(e, 24), load<i32>(e, 28), load<u32>(e, 32), load<i32>(e, 36), load<u32>(e, 40), load<i32>(e, 44),
        load<u32>(e, 48), load<i32>(e, 52), load<u32>(e, 56));
    } else if (op == CHAIN_GEMM) {
      gemm(load<i32>(e, 4), load<i32>(e, 8), load<i32>(e, 12), load<i32>(e, 16), load<i32>(e, 20),
        load<u32>(e, 24), load<i32>(e, 28), load<u32>(e, 32), load<i32>(e, 36), load<u32>(e, 40), load<i32>(e, 44),
        load<f32>(e, 48), load<u32>(e, 52));
    } else if (op == CHAIN_SOFTMAX_CE) {
      softmaxCrossEntropyForward(load<u32>(e, 8), load<u32>(e, 12), load<u32>(e, 16), load<i32>(e, 20), load<i32>(e, 24));
      softmaxCrossEntropyBackward(load<u32>(e, 4), load<u32>(e, 8), load<u32>(e, 16), load<i32>(e, 20), load<i32>(e, 24), load<f32>(e, 28));
    } else if (op == CHAIN_BIAS_BACKWARD) {
      biasBackward(load<u32>(e, 4), load<u32>(e, 8), load<i32>(e, 12), load<i32>(e, 16));
    } else if (op == CHAIN_GEMM_PACKED) {
      gemmPacked(load<i32>(e, 4), load<i32>(e, 8), load<i32>(e, 12), load<u32>(e, 16), load<i32>(e, 20),
        load<u32>(e, 24), load<u32>(e, 28), load<i32>(e, 32), load<u32>(e, 36), load<i32>(e, 40), load<u32>(e, 44));
    } else if (op == CHAIN_SOFTMAX_CE_DENSE) {
      softmaxForward(load<u32>(e, 8), load<u32>(e, 12), load<i32>(e, 20), load<i32>(e, 24));
      softmaxCrossEntropyBackwardDense(load<u32>(e, 4), load<u32>(e, 8), load<u32>(e, 16), load<i32>(e, 20), load<i32>(e, 24), load<f32>(e, 28));
    }
  }
}
