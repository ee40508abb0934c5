// GEMM GFLOP/s: squares and the MLP's training shapes, for the three
// transpose cases that forward and backward use, against tf.matMul.
// TF.js's wasm backend packs B once: its A·B (no transpose) is XNNPACK's
// fully connected operator, created with B as the weights and cached on B's
// tensor (tfjs-backend-wasm's batch_mat_mul_impl.cc: "We assume b is the
// weights and cache the xnn operator on it"), so every timed call after the
// first reuses the packed B, where ours packs B in each call. The few-row
// shapes, where packing is a large share, are timed twice: B in place, and B
// packed once (packBPanels, then gemmPacked: a frozen net's Affine), the
// second the like-for-like row.
import { packedBFloats } from '../dist/runtime/gemm-split.js';

const SQUARES = [128, 256, 512, 1024];
const QUICK_SQUARES = [128, 256];
/** [M, K, N]: an MLP layer's products at batch 100 (784→100, 100→100). */
const TRAINING = [[100, 784, 100], [100, 100, 100]];
/**
 * [M, K, N]: a few rows against large weights (predicting a few rows, training at a small batch), A·B only;
 * 8 × 4096² is AlexNet's second classifier layer at batch 8.
 */
const FEW_ROWS = [[1, 4096, 4096], [3, 4096, 4096], [4, 1024, 1024], [8, 4096, 4096]];
/** [label, transA, transB]: forward y = x·W, dx = dy·Wᵀ, dW = xᵀ·dy. */
const CASES = [['A·B', 0, 0], ['A·Bᵀ', 0, 1], ['Aᵀ·B', 1, 0]];

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  const shapes = [...(suite.quick ? QUICK_SQUARES : SQUARES).map((n) => [n, n, n]), ...TRAINING];
  for (const [M, K, N] of [...shapes, ...FEW_ROWS]) {
    const size = M === K && K === N ? `${M}³` : `${M}×${K}·${K}×${N}`;
    for (const [label, tA, tB] of FEW_ROWS.some((s) => s[0] === M && s[1] === K) ? CASES.slice(0, 1) : CASES) {
      const aShape = tA ? [K, M] : [M, K];
      const bShape = tB ? [N, K] : [K, N];
      suite.add(`${size} ${label}`, {
        flops: 2 * M * N * K,
        tfjs: tfjsMatMul(aShape, bShape, tA, tB),
        ours: (rt) => {
          const a = rt.randn(rt.tensor(aShape));
          const b = rt.randn(rt.tensor(bShape));
          const c = rt.tensor([M, N]);
          const k = rt.unsafeKernels;
          return {
            fn: () => k.gemm(tA, tB, M, N, K, a.ptr, aShape[1], b.ptr, bShape[1], c.ptr, N, 0, rt.unsafeGemmWork),
            dispose: () => { a.dispose(); b.dispose(); c.dispose(); },
          };
        },
      });
    }
  }
  for (const [M, K, N] of FEW_ROWS) {
    suite.add(`${M}×${K}·${K}×${N} A·B, B packed once (a frozen net's Affine; TF.js caches its packed B)`, {
      flops: 2 * M * N * K,
      tfjs: tfjsMatMul([M, K], [K, N], 0, 0),
      ours: (rt) => {
        const a = rt.randn(rt.tensor([M, K]));
        const b = rt.randn(rt.tensor([K, N]));
        const bp = rt.tensor([packedBFloats(N, K)]);
        const c = rt.tensor([M, N]);
        const k = rt.unsafeKernels;
        k.packBPanels(0, N, K, b.ptr, N, bp.ptr);
        return {
          fn: () => k.gemmPacked(M, N, K, a.ptr, K, bp.ptr, c.ptr, N, 0, 0, rt.unsafeGemmWork),
          dispose: () => { a.dispose(); b.dispose(); bp.dispose(); c.dispose(); },
        };
      },
    });
  }
}

/** TF.js's side of a row: tf.matMul on the same shapes, its operands made once. */
const tfjsMatMul = (aShape, bShape, tA, tB) => (tf) => {
  const a = tf.randomNormal(aShape);
  const b = tf.randomNormal(bShape);
  return {
    fn: () => tf.matMul(a, b, !!tA, !!tB).dispose(),
    dispose: () => { a.dispose(); b.dispose(); },
  };
};
