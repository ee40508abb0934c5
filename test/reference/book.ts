// Float64 references written from the book's formulas (common/layers.py,
// common/functions.py), on plain row-major arrays.

export type F64 = Float64Array;

export function affine(x: ArrayLike<number>, W: ArrayLike<number>, b: ArrayLike<number>, N: number, D: number, M: number): F64 {
  const out = new Float64Array(N * M);
  for (let i = 0; i < N; i++) for (let j = 0; j < M; j++) {
    let s = b[j];
    for (let k = 0; k < D; k++) s += x[i * D + k] * W[k * M + j];
    out[i * M + j] = s;
  }
  return out;
}

/** dx = dout·Wᵀ, dW = xᵀ·dout, db = Σ_rows dout */
export function affineBackward(x: ArrayLike<number>, W: ArrayLike<number>, dout: ArrayLike<number>, N: number, D: number, M: number) {
  const dx = new Float64Array(N * D), dW = new Float64Array(D * M), db = new Float64Array(M);
  for (let i = 0; i < N; i++) for (let k = 0; k < D; k++) {
    let s = 0;
    for (let j = 0; j < M; j++) s += dout[i * M + j] * W[k * M + j];
    dx[i * D + k] = s;
  }
  for (let k = 0; k < D; k++) for (let j = 0; j < M; j++) {
    let s = 0;
    for (let i = 0; i < N; i++) s += x[i * D + k] * dout[i * M + j];
    dW[k * M + j] = s;
  }
  for (let j = 0; j < M; j++) { let s = 0; for (let i = 0; i < N; i++) s += dout[i * M + j]; db[j] = s; }
  return { dx, dW, db };
}

export const relu = (x: ArrayLike<number>) => Float64Array.from(x, (v) => (v > 0 ? v : 0));
export const reluBackward = (x: ArrayLike<number>, d: ArrayLike<number>) => Float64Array.from(x, (v, i) => (v <= 0 ? 0 : d[i]));
export const sigmoid = (x: ArrayLike<number>) => Float64Array.from(x, (v) => 1 / (1 + Math.exp(-v)));
export const sigmoidBackward = (y: ArrayLike<number>, d: ArrayLike<number>) => Float64Array.from(y, (v, i) => d[i] * (1 - v) * v);
export const tanh = (x: ArrayLike<number>) => Float64Array.from(x, (v) => Math.tanh(v));
export const tanhBackward = (y: ArrayLike<number>, d: ArrayLike<number>) => Float64Array.from(y, (v, i) => d[i] * (1 - v * v));

export function softmax(x: ArrayLike<number>, N: number, C: number): F64 {
  const y = new Float64Array(N * C);
  for (let i = 0; i < N; i++) {
    let m = -Infinity;
    for (let j = 0; j < C; j++) m = Math.max(m, x[i * C + j]);
    let s = 0;
    for (let j = 0; j < C; j++) s += (y[i * C + j] = Math.exp(x[i * C + j] - m));
    for (let j = 0; j < C; j++) y[i * C + j] /= s;
  }
  return y;
}

/** cross_entropy_error with one-hot/soft targets: -Σ t·log(y + 1e-7) / N */
export function crossEntropy(y: ArrayLike<number>, t: ArrayLike<number>, N: number, C: number): number {
  let s = 0;
  for (let i = 0; i < N * C; i++) if (t[i] !== 0) s -= t[i] * Math.log(y[i] + 1e-7);
  return s / N;
}

/**
 * BatchNormalization.__forward in training mode on [N, D] rows: xn = (x − μ) / √(σ² + 10e-7) with the
 * batch's mean and biased variance, y = γ·xn + β; returns y and the batch's μ and σ² (for the running ones).
 */
export function batchNormTrain(x: ArrayLike<number>, N: number, D: number, gamma: ArrayLike<number>, beta: ArrayLike<number>) {
  const y = new Float64Array(N * D), mean = new Float64Array(D), variance = new Float64Array(D);
  for (let j = 0; j < D; j++) {
    let mu = 0;
    for (let i = 0; i < N; i++) mu += x[i * D + j];
    mu /= N;
    let v = 0;
    for (let i = 0; i < N; i++) v += (x[i * D + j] - mu) ** 2;
    v /= N;
    const std = Math.sqrt(v + 10e-7);
    for (let i = 0; i < N; i++) y[i * D + j] = (gamma[j] * (x[i * D + j] - mu)) / std + beta[j];
    mean[j] = mu;
    variance[j] = v;
  }
  return { y, mean, variance };
}

export function oneHot(labels: ArrayLike<number>, C: number): F64 {
  const t = new Float64Array(labels.length * C);
  for (let i = 0; i < labels.length; i++) t[i * C + labels[i]] = 1;
  return t;
}

/** Deterministic pseudo-random numbers for test inputs (mulberry32). */
export function randomArray(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = offset + scale * (2 * u - 1);
  }
  return out;
}

/** max |a - b| / (atol + rtol·|b|) must be ≤ 1; returns the worst ratio with its index. */
export function worst(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number): { ratio: number; index: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let ratio = 0, index = -1;
  for (let i = 0; i < a.length; i++) {
    const r = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (!(r <= ratio)) { ratio = r; index = i; }
  }
  return { ratio, index };
}
