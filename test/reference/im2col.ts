// Float64 references for convolution and pooling written from the book's
// im2col formulation (common/util.py im2col/col2im, common/layers.py
// Convolution/Pooling), on plain row-major NCHW arrays.

export interface Geometry { N: number; C: number; H: number; W: number; FH: number; FW: number; stride: number; pad: number }

export function outSize(g: Geometry): { OH: number; OW: number } {
  return { OH: Math.floor((g.H + 2 * g.pad - g.FH) / g.stride) + 1, OW: Math.floor((g.W + 2 * g.pad - g.FW) / g.stride) + 1 };
}

/** The book's im2col: [N·OH·OW, C·FH·FW], rows (n, oy, ox), columns (c, ky, kx), zero padding. */
export function im2col(x: ArrayLike<number>, g: Geometry): Float64Array {
  const { N, C, H, W, FH, FW, stride, pad } = g;
  const { OH, OW } = outSize(g);
  const K = C * FH * FW;
  const col = new Float64Array(N * OH * OW * K);
  for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    const row = ((n * OH + oy) * OW + ox) * K;
    for (let c = 0; c < C; c++) for (let ky = 0; ky < FH; ky++) for (let kx = 0; kx < FW; kx++) {
      const iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
      const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
      col[row + (c * FH + ky) * FW + kx] = inside ? x[((n * C + c) * H + iy) * W + ix] : 0;
    }
  }
  return col;
}

/** The book's col2im: sums every column entry back onto its input position; padding dropped. */
export function col2im(col: ArrayLike<number>, g: Geometry): Float64Array {
  const { N, C, H, W, FH, FW, stride, pad } = g;
  const { OH, OW } = outSize(g);
  const K = C * FH * FW;
  const img = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    const row = ((n * OH + oy) * OW + ox) * K;
    for (let c = 0; c < C; c++) for (let ky = 0; ky < FH; ky++) for (let kx = 0; kx < FW; kx++) {
      const iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
      if (iy >= 0 && iy < H && ix >= 0 && ix < W) img[((n * C + c) * H + iy) * W + ix] += col[row + (c * FH + ky) * FW + kx];
    }
  }
  return img;
}

/** [N, OH, OW, F] (the book's reshape of a [N·OH·OW, F] product) -> NCHW [N, F, OH, OW]. */
function nhwcToNchw(a: ArrayLike<number>, N: number, P: number, F: number): Float64Array {
  const out = new Float64Array(N * F * P);
  for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) for (let f = 0; f < F; f++) out[(n * F + f) * P + p] = a[(n * P + p) * F + f];
  return out;
}

function nchwToNhwc(a: ArrayLike<number>, N: number, P: number, F: number): Float64Array {
  const out = new Float64Array(N * F * P);
  for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) for (let f = 0; f < F; f++) out[(n * P + p) * F + f] = a[(n * F + f) * P + p];
  return out;
}

/** Convolution.forward: col · col_Wᵀ + b, reshaped to [N, FN, OH, OW]. W is [FN, C, FH, FW]. */
export function convForward(x: ArrayLike<number>, Wt: ArrayLike<number>, b: ArrayLike<number>, FN: number, g: Geometry): Float64Array {
  const { OH, OW } = outSize(g);
  const K = g.C * g.FH * g.FW, rows = g.N * OH * OW;
  const col = im2col(x, g);
  const out = new Float64Array(rows * FN);
  for (let r = 0; r < rows; r++) for (let f = 0; f < FN; f++) {
    let s = b[f];
    for (let k = 0; k < K; k++) s += col[r * K + k] * Wt[f * K + k];
    out[r * FN + f] = s;
  }
  return nhwcToNchw(out, g.N, OH * OW, FN);
}

/** Convolution.backward: db = Σ dout, dW = colᵀ·dout (as [FN, C, FH, FW]), dx = col2im(dout·col_W). */
export function convBackward(x: ArrayLike<number>, Wt: ArrayLike<number>, dout: ArrayLike<number>, FN: number, g: Geometry) {
  const { OH, OW } = outSize(g);
  const K = g.C * g.FH * g.FW, rows = g.N * OH * OW;
  const col = im2col(x, g);
  const d = nchwToNhwc(dout, g.N, OH * OW, FN);
  const db = new Float64Array(FN), dW = new Float64Array(FN * K), dcol = new Float64Array(rows * K);
  for (let r = 0; r < rows; r++) for (let f = 0; f < FN; f++) {
    const v = d[r * FN + f];
    db[f] += v;
    for (let k = 0; k < K; k++) {
      dW[f * K + k] += col[r * K + k] * v;
      dcol[r * K + k] += v * Wt[f * K + k];
    }
  }
  return { dx: col2im(dcol, g), dW, db };
}

/** Pooling.forward (max: the book's; avg: the mean of the same im2col rows). Returns out and the arg-max per row. */
export function poolForward(x: ArrayLike<number>, g: Geometry, mode: 'max' | 'avg'): { out: Float64Array; argMax: Int32Array } {
  const { OH, OW } = outSize(g);
  const k = g.FH * g.FW;
  // im2col per channel: the book reshapes col to (-1, pool_h·pool_w)
  const col = im2col(x, { ...g, C: 1, N: g.N * g.C });
  const rows = g.N * g.C * OH * OW;
  const out = new Float64Array(rows), argMax = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0, s = 0;
    for (let j = 0; j < k; j++) {
      const v = col[r * k + j];
      if (j === 0 || v > col[r * k + best]) best = j;
      s += v;
    }
    argMax[r] = best;
    out[r] = mode === 'max' ? col[r * k + best] : s / k;
  }
  return { out, argMax };
}

/** Pooling.backward: dout to each window's arg-max (max) or spread evenly (avg), then col2im. */
export function poolBackward(x: ArrayLike<number>, dout: ArrayLike<number>, g: Geometry, mode: 'max' | 'avg'): Float64Array {
  const k = g.FH * g.FW;
  const { argMax } = poolForward(x, g, mode);
  const dcol = new Float64Array(dout.length * k);
  for (let r = 0; r < dout.length; r++) {
    if (mode === 'max') dcol[r * k + argMax[r]] = dout[r];
    else for (let j = 0; j < k; j++) dcol[r * k + j] = dout[r] / k;
  }
  return col2im(dcol, { ...g, C: 1, N: g.N * g.C });
}
