// GEMM GFLOP/s: squares and the MLP's training shapes, for the three
// transpose cases that forward and backward use, against tf.matMul.

const SQUARES = [128, 256, 512, 1024];
const QUICK_SQUARES = [128, 256];
/** [M, K, N]: an MLP layer's products at batch 100 (784→100, 100→100). */
const TRAINING = [[100, 784, 100], [100, 100, 100]];
/** [M, K, N]: a few rows against large weights (predicting a few rows, training at batch 1–4), A·B only. */
const FEW_ROWS = [[1, 4096, 4096], [3, 4096, 4096], [4, 1024, 1024]];
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
        tfjs: (tf) => {
          const a = tf.randomNormal(aShape);
          const b = tf.randomNormal(bShape);
          return {
            fn: () => tf.matMul(a, b, !!tA, !!tB).dispose(),
            dispose: () => { a.dispose(); b.dispose(); },
          };
        },
      });
    }
  }
}
