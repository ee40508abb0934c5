// Normalisation kernels: batch norm (per feature over the batch for [N, D];
// per channel over N·H·W for the spatial form on [N, C, H, W]), layer norm
// (per sample over all its features) and instance norm (per sample and
// channel over H·W). y = gamma · xn + beta with xn = (x - mean) · invStd and
// invStd = 1 / sqrt(var + eps), var the biased variance (two passes: the mean,
// then the mean of squared deviations, as numpy computes it).
//
// Forward kernels save mean and invStd; backward recomputes xn from x, so no
// N×D intermediate is kept. Sums run in an order that depends only on the
// sizes, never on where a sub-range starts:
// - batch norm, [N, D]: SIMD across features, each feature summed over rows
//   in row order; split by feature blocks (pointers offset to the first
//   feature, `ld` the full row stride);
// - batch norm, spatial: split by channels (pointers offset to the channel,
//   `ld` the per-sample stride C·H·W); a channel's sum adds per-sample f32
//   sums in f64, since it runs over N·H·W values;
// - layer and instance norm: split by samples (pointers offset to the first
//   sample); their backward ADDS into dgamma/dbeta (the caller zeroes them),
//   so split calls made in sample order give the bits of one call.
// `xxxRef` functions are scalar references written from the book's formulas
// (batch norm backward in the book's xc/std/dvar/dmu form), with f64 sums.
import { hsum } from "./math";

// ---- per-row helpers (contiguous runs of n floats)

// Σ p[i]: four lane sums combined by hsum, then the tail in order.
// @ts-ignore: decorator
@inline
function rowSum(p: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) acc = f32x4.add(acc, v128.load(p + (<usize>i << 2)));
  let s = hsum(acc);
  for (; i < n; i++) s += load<f32>(p + (<usize>i << 2));
  return s;
}

// Σ (p[i] - m)², in the same order as rowSum.
// @ts-ignore: decorator
@inline
function rowSquaredDeviation(p: usize, n: i32, m: f32): f32 {
  const mv = f32x4.splat(m);
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const d = f32x4.sub(v128.load(p + (<usize>i << 2)), mv);
    acc = f32x4.add(acc, f32x4.mul(d, d));
  }
  let s = hsum(acc);
  for (; i < n; i++) {
    const d = load<f32>(p + (<usize>i << 2)) - m;
    s += d * d;
  }
  return s;
}

// y[i] = g · ((x[i] - m) · s) + b with scalar g, b, m, s (one channel's row).
// @ts-ignore: decorator
@inline
function normalizeRowScalar(y: usize, x: usize, n: i32, m: f32, s: f32, g: f32, b: f32): void {
  const mv = f32x4.splat(m), sv = f32x4.splat(s), gv = f32x4.splat(g), bv = f32x4.splat(b);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const xn = f32x4.mul(f32x4.sub(v128.load(x + o), mv), sv);
    v128.store(y + o, f32x4.add(f32x4.mul(gv, xn), bv));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, g * ((load<f32>(x + o) - m) * s) + b);
  }
}

// dx[i] = (g · s) · (dy[i] - (sumDy + xn[i] · sumDyXn) · invCount), xn = (x - m) · s;
// with frozen statistics (inference mode) dx = (g · s) · dy.
// @ts-ignore: decorator
@inline
function backwardRowScalar(dx: usize, dy: usize, x: usize, n: i32, m: f32, s: f32, g: f32,
                           sumDy: f32, sumDyXn: f32, invCount: f32, frozen: bool): void {
  const gs = g * s;
  const gsv = f32x4.splat(gs);
  let i = 0;
  if (frozen) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(dx + o, f32x4.mul(gsv, v128.load(dy + o)));
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      store<f32>(dx + o, gs * load<f32>(dy + o));
    }
    return;
  }
  const mv = f32x4.splat(m), sv = f32x4.splat(s);
  const av = f32x4.splat(sumDy), bv = f32x4.splat(sumDyXn), cv = f32x4.splat(invCount);
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const xn = f32x4.mul(f32x4.sub(v128.load(x + o), mv), sv);
    const corr = f32x4.mul(f32x4.add(av, f32x4.mul(xn, bv)), cv);
    v128.store(dx + o, f32x4.mul(gsv, f32x4.sub(v128.load(dy + o), corr)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const xn = (load<f32>(x + o) - m) * s;
    const corr = (sumDy + xn * sumDyXn) * invCount;
    store<f32>(dx + o, gs * (load<f32>(dy + o) - corr));
  }
}

// ---- 1 / sqrt(var + eps), e.g. from running statistics for inference
export function batchNormInvStd(invStd: usize, variance: usize, n: i32, eps: f32): void {
  const one = f32x4.splat(1), ev = f32x4.splat(eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(invStd + o, f32x4.div(one, f32x4.sqrt(f32x4.add(v128.load(variance + o), ev))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(invStd + o, <f32>1 / Mathf.sqrt(load<f32>(variance + o) + eps));
  }
}

export function batchNormInvStdRef(invStd: usize, variance: usize, n: i32, eps: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(invStd + o, <f32>(1.0 / Math.sqrt(<f64>load<f32>(variance + o) + <f64>eps)));
  }
}

// ---- Batch norm on [N, D]: per feature over the rows

// Batch statistics of `cols` features over `rows` rows (row stride ld floats):
// mean, invStd = 1/sqrt(var + eps), and the running statistics updated as
// running = momentum · running + (1 - momentum) · batch. Needs rows >= 1.
export function batchNormStats(mean: usize, invStd: usize, runningMean: usize, runningVar: usize,
                               x: usize, rows: i32, cols: i32, ld: i32, momentum: f32, eps: f32): void {
  const rowBytes = <usize>ld << 2;
  const zero = f32x4.splat(0);
  // mean: Σ over rows, accumulated in `mean`
  let j = 0;
  for (; j + 4 <= cols; j += 4) v128.store(mean + (<usize>j << 2), zero);
  for (; j < cols; j++) store<f32>(mean + (<usize>j << 2), 0);
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      v128.store(mean + o, f32x4.add(v128.load(mean + o), v128.load(xr + o)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(mean + o, load<f32>(mean + o) + load<f32>(xr + o));
    }
  }
  const count = <f32>rows;
  const nv = f32x4.splat(count);
  j = 0;
  for (; j + 4 <= cols; j += 4) {
    const o = <usize>j << 2;
    v128.store(mean + o, f32x4.div(v128.load(mean + o), nv));
    v128.store(invStd + o, zero);
  }
  for (; j < cols; j++) {
    const o = <usize>j << 2;
    store<f32>(mean + o, load<f32>(mean + o) / count);
    store<f32>(invStd + o, 0);
  }
  // variance: Σ (x - mean)², accumulated in `invStd`
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const d = f32x4.sub(v128.load(xr + o), v128.load(mean + o));
      v128.store(invStd + o, f32x4.add(v128.load(invStd + o), f32x4.mul(d, d)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const d = load<f32>(xr + o) - load<f32>(mean + o);
      store<f32>(invStd + o, load<f32>(invStd + o) + d * d);
    }
  }
  const keep = momentum, take = <f32>1 - momentum;
  const kv = f32x4.splat(keep), tv = f32x4.splat(take), ev = f32x4.splat(eps), one = f32x4.splat(1);
  j = 0;
  for (; j + 4 <= cols; j += 4) {
    const o = <usize>j << 2;
    const v = f32x4.div(v128.load(invStd + o), nv);
    v128.store(runningMean + o, f32x4.add(f32x4.mul(kv, v128.load(runningMean + o)), f32x4.mul(tv, v128.load(mean + o))));
    v128.store(runningVar + o, f32x4.add(f32x4.mul(kv, v128.load(runningVar + o)), f32x4.mul(tv, v)));
    v128.store(invStd + o, f32x4.div(one, f32x4.sqrt(f32x4.add(v, ev))));
  }
  for (; j < cols; j++) {
    const o = <usize>j << 2;
    const v = load<f32>(invStd + o) / count;
    store<f32>(runningMean + o, keep * load<f32>(runningMean + o) + take * load<f32>(mean + o));
    store<f32>(runningVar + o, keep * load<f32>(runningVar + o) + take * v);
    store<f32>(invStd + o, <f32>1 / Mathf.sqrt(v + eps));
  }
}

export function batchNormStatsRef(mean: usize, invStd: usize, runningMean: usize, runningVar: usize,
                                  x: usize, rows: i32, cols: i32, ld: i32, momentum: f32, eps: f32): void {
  for (let j = 0; j < cols; j++) {
    let s: f64 = 0;
    for (let r = 0; r < rows; r++) s += <f64>load<f32>(x + ((<usize>r * ld + j) << 2));
    const mu = s / rows;
    let q: f64 = 0;
    for (let r = 0; r < rows; r++) {
      const d = <f64>load<f32>(x + ((<usize>r * ld + j) << 2)) - mu;
      q += d * d;
    }
    const v = q / rows;
    const o = <usize>j << 2;
    store<f32>(mean + o, <f32>mu);
    store<f32>(invStd + o, <f32>(1.0 / Math.sqrt(v + <f64>eps)));
    store<f32>(runningMean + o, <f32>(<f64>momentum * <f64>load<f32>(runningMean + o) + (1.0 - <f64>momentum) * mu));
    store<f32>(runningVar + o, <f32>(<f64>momentum * <f64>load<f32>(runningVar + o) + (1.0 - <f64>momentum) * v));
  }
}

// y = gamma · ((x - mean) · invStd) + beta, per feature; y has x's layout.
// With mean = runningMean and invStd from batchNormInvStd(runningVar) this is inference.
export function batchNormForward(y: usize, x: usize, mean: usize, invStd: usize, gamma: usize, beta: usize,
                                 rows: i32, cols: i32, ld: i32): void {
  const rowBytes = <usize>ld << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const yr = y + <usize>r * rowBytes;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const xn = f32x4.mul(f32x4.sub(v128.load(xr + o), v128.load(mean + o)), v128.load(invStd + o));
      v128.store(yr + o, f32x4.add(f32x4.mul(v128.load(gamma + o), xn), v128.load(beta + o)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const xn = (load<f32>(xr + o) - load<f32>(mean + o)) * load<f32>(invStd + o);
      store<f32>(yr + o, load<f32>(gamma + o) * xn + load<f32>(beta + o));
    }
  }
}

export function batchNormForwardRef(y: usize, x: usize, mean: usize, invStd: usize, gamma: usize, beta: usize,
                                    rows: i32, cols: i32, ld: i32): void {
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const o = (<usize>r * ld + j) << 2;
      const f = <usize>j << 2;
      // the book: xn = xc / std, out = gamma · xn + beta
      const xn = (<f64>load<f32>(x + o) - <f64>load<f32>(mean + f)) / (1.0 / <f64>load<f32>(invStd + f));
      store<f32>(y + o, <f32>(<f64>load<f32>(gamma + f) * xn + <f64>load<f32>(beta + f)));
    }
  }
}

// Backward of batchNormForward: dbeta = Σ dy, dgamma = Σ dy · xn (written,
// not accumulated), and dx = gamma · invStd · (dy - (dbeta + xn · dgamma) / N).
// frozen != 0: the statistics were constants (inference mode), dx = gamma · invStd · dy.
export function batchNormBackward(dx: usize, dgamma: usize, dbeta: usize, dy: usize, x: usize,
                                  mean: usize, invStd: usize, gamma: usize,
                                  rows: i32, cols: i32, ld: i32, frozen: i32): void {
  const rowBytes = <usize>ld << 2;
  const zero = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= cols; j += 4) {
    v128.store(dgamma + (<usize>j << 2), zero);
    v128.store(dbeta + (<usize>j << 2), zero);
  }
  for (; j < cols; j++) {
    store<f32>(dgamma + (<usize>j << 2), 0);
    store<f32>(dbeta + (<usize>j << 2), 0);
  }
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const dr = dy + <usize>r * rowBytes;
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const d = v128.load(dr + o);
      const xn = f32x4.mul(f32x4.sub(v128.load(xr + o), v128.load(mean + o)), v128.load(invStd + o));
      v128.store(dbeta + o, f32x4.add(v128.load(dbeta + o), d));
      v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), f32x4.mul(xn, d)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const d = load<f32>(dr + o);
      const xn = (load<f32>(xr + o) - load<f32>(mean + o)) * load<f32>(invStd + o);
      store<f32>(dbeta + o, load<f32>(dbeta + o) + d);
      store<f32>(dgamma + o, load<f32>(dgamma + o) + xn * d);
    }
  }
  const invCount = <f32>1 / <f32>rows;
  const cv = f32x4.splat(invCount);
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const dr = dy + <usize>r * rowBytes;
    const out = dx + <usize>r * rowBytes;
    j = 0;
    if (frozen != 0) {
      for (; j + 4 <= cols; j += 4) {
        const o = <usize>j << 2;
        const gs = f32x4.mul(v128.load(gamma + o), v128.load(invStd + o));
        v128.store(out + o, f32x4.mul(gs, v128.load(dr + o)));
      }
      for (; j < cols; j++) {
        const o = <usize>j << 2;
        store<f32>(out + o, (load<f32>(gamma + o) * load<f32>(invStd + o)) * load<f32>(dr + o));
      }
      continue;
    }
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const s = v128.load(invStd + o);
      const xn = f32x4.mul(f32x4.sub(v128.load(xr + o), v128.load(mean + o)), s);
      const corr = f32x4.mul(f32x4.add(v128.load(dbeta + o), f32x4.mul(xn, v128.load(dgamma + o))), cv);
      v128.store(out + o, f32x4.mul(f32x4.mul(v128.load(gamma + o), s), f32x4.sub(v128.load(dr + o), corr)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const s = load<f32>(invStd + o);
      const xn = (load<f32>(xr + o) - load<f32>(mean + o)) * s;
      const corr = (load<f32>(dbeta + o) + xn * load<f32>(dgamma + o)) * invCount;
      store<f32>(out + o, (load<f32>(gamma + o) * s) * (load<f32>(dr + o) - corr));
    }
  }
}

export function batchNormBackwardRef(dx: usize, dgamma: usize, dbeta: usize, dy: usize, x: usize,
                                     mean: usize, invStd: usize, gamma: usize,
                                     rows: i32, cols: i32, ld: i32, frozen: i32): void {
  for (let j = 0; j < cols; j++) {
    const f = <usize>j << 2;
    const mu = <f64>load<f32>(mean + f);
    const std = 1.0 / <f64>load<f32>(invStd + f);
    const g = <f64>load<f32>(gamma + f);
    // the book's backward: dxn = gamma·dout, dxc = dxn/std, dstd = -Σ dxn·xc/std²,
    // dvar = dstd/(2 std), dxc += 2/N · xc · dvar, dmu = Σ dxc, dx = dxc - dmu/N
    let dbetaJ: f64 = 0, dgammaJ: f64 = 0, dstd: f64 = 0;
    for (let r = 0; r < rows; r++) {
      const o = (<usize>r * ld + j) << 2;
      const d = <f64>load<f32>(dy + o);
      const xc = <f64>load<f32>(x + o) - mu;
      dbetaJ += d;
      dgammaJ += xc / std * d;
      dstd -= g * d * xc / (std * std);
    }
    const dvar = 0.5 * dstd / std;
    let dmu: f64 = 0;
    for (let r = 0; r < rows; r++) {
      const o = (<usize>r * ld + j) << 2;
      const xc = <f64>load<f32>(x + o) - mu;
      dmu += g * <f64>load<f32>(dy + o) / std + 2.0 / rows * xc * dvar;
    }
    for (let r = 0; r < rows; r++) {
      const o = (<usize>r * ld + j) << 2;
      const xc = <f64>load<f32>(x + o) - mu;
      let d = g * <f64>load<f32>(dy + o) / std;
      if (frozen == 0) d += 2.0 / rows * xc * dvar - dmu / rows;
      store<f32>(dx + o, <f32>d);
    }
    store<f32>(dbeta + f, <f32>dbetaJ);
    store<f32>(dgamma + f, <f32>dgammaJ);
  }
}

// ---- Batch norm, spatial form on [N, C, S] (S = H·W): per channel over N and S.
// Pointers are offset to the first channel; ld is the per-sample stride (C·S).

export function batchNormSpatialStats(mean: usize, invStd: usize, runningMean: usize, runningVar: usize,
                                      x: usize, batch: i32, channels: i32, spatial: i32, ld: i32,
                                      momentum: f32, eps: f32): void {
  const sampleBytes = <usize>ld << 2;
  const rowBytes = <usize>spatial << 2;
  const count = <f64>batch * <f64>spatial;
  for (let c = 0; c < channels; c++) {
    const xc = x + <usize>c * rowBytes;
    let s: f64 = 0;
    for (let n = 0; n < batch; n++) s += <f64>rowSum(xc + <usize>n * sampleBytes, spatial);
    const m = <f32>(s / count);
    let q: f64 = 0;
    for (let n = 0; n < batch; n++) q += <f64>rowSquaredDeviation(xc + <usize>n * sampleBytes, spatial, m);
    const v = <f32>(q / count);
    const o = <usize>c << 2;
    store<f32>(mean + o, m);
    store<f32>(invStd + o, <f32>1 / Mathf.sqrt(v + eps));
    store<f32>(runningMean + o, momentum * load<f32>(runningMean + o) + (<f32>1 - momentum) * m);
    store<f32>(runningVar + o, momentum * load<f32>(runningVar + o) + (<f32>1 - momentum) * v);
  }
}

export function batchNormSpatialStatsRef(mean: usize, invStd: usize, runningMean: usize, runningVar: usize,
                                         x: usize, batch: i32, channels: i32, spatial: i32, ld: i32,
                                         momentum: f32, eps: f32): void {
  const count = <f64>batch * <f64>spatial;
  for (let c = 0; c < channels; c++) {
    let s: f64 = 0;
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < spatial; i++) s += <f64>load<f32>(x + ((<usize>n * ld + <usize>c * spatial + i) << 2));
    }
    const mu = s / count;
    let q: f64 = 0;
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < spatial; i++) {
        const d = <f64>load<f32>(x + ((<usize>n * ld + <usize>c * spatial + i) << 2)) - mu;
        q += d * d;
      }
    }
    const v = q / count;
    const o = <usize>c << 2;
    store<f32>(mean + o, <f32>mu);
    store<f32>(invStd + o, <f32>(1.0 / Math.sqrt(v + <f64>eps)));
    store<f32>(runningMean + o, <f32>(<f64>momentum * <f64>load<f32>(runningMean + o) + (1.0 - <f64>momentum) * mu));
    store<f32>(runningVar + o, <f32>(<f64>momentum * <f64>load<f32>(runningVar + o) + (1.0 - <f64>momentum) * v));
  }
}

export function batchNormSpatialForward(y: usize, x: usize, mean: usize, invStd: usize, gamma: usize, beta: usize,
                                        batch: i32, channels: i32, spatial: i32, ld: i32): void {
  const sampleBytes = <usize>ld << 2;
  const rowBytes = <usize>spatial << 2;
  for (let c = 0; c < channels; c++) {
    const o = <usize>c << 2;
    const m = load<f32>(mean + o), s = load<f32>(invStd + o), g = load<f32>(gamma + o), b = load<f32>(beta + o);
    for (let n = 0; n < batch; n++) {
      const off = <usize>n * sampleBytes + <usize>c * rowBytes;
      normalizeRowScalar(y + off, x + off, spatial, m, s, g, b);
    }
  }
}

export function batchNormSpatialForwardRef(y: usize, x: usize, mean: usize, invStd: usize, gamma: usize, beta: usize,
                                           batch: i32, channels: i32, spatial: i32, ld: i32): void {
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const f = <usize>c << 2;
      for (let i = 0; i < spatial; i++) {
        const o = (<usize>n * ld + <usize>c * spatial + i) << 2;
        const xn = (<f64>load<f32>(x + o) - <f64>load<f32>(mean + f)) * <f64>load<f32>(invStd + f);
        store<f32>(y + o, <f32>(<f64>load<f32>(gamma + f) * xn + <f64>load<f32>(beta + f)));
      }
    }
  }
}

// dbeta, dgamma written per channel; dx as in batchNormBackward with N·S in place of N.
export function batchNormSpatialBackward(dx: usize, dgamma: usize, dbeta: usize, dy: usize, x: usize,
                                         mean: usize, invStd: usize, gamma: usize,
                                         batch: i32, channels: i32, spatial: i32, ld: i32, frozen: i32): void {
  const sampleBytes = <usize>ld << 2;
  const rowBytes = <usize>spatial << 2;
  const invCount = <f32>(1.0 / (<f64>batch * <f64>spatial));
  for (let c = 0; c < channels; c++) {
    const o = <usize>c << 2;
    const m = load<f32>(mean + o), s = load<f32>(invStd + o);
    const mv = f32x4.splat(m), sv = f32x4.splat(s);
    let sumDy: f64 = 0, sumDyXn: f64 = 0;
    for (let n = 0; n < batch; n++) {
      const off = <usize>n * sampleBytes + <usize>c * rowBytes;
      const xr = x + off, dr = dy + off;
      let a = f32x4.splat(0), b = f32x4.splat(0);
      let i = 0;
      for (; i + 4 <= spatial; i += 4) {
        const p = <usize>i << 2;
        const d = v128.load(dr + p);
        a = f32x4.add(a, d);
        b = f32x4.add(b, f32x4.mul(f32x4.mul(f32x4.sub(v128.load(xr + p), mv), sv), d));
      }
      let sa = hsum(a), sb = hsum(b);
      for (; i < spatial; i++) {
        const p = <usize>i << 2;
        const d = load<f32>(dr + p);
        sa += d;
        sb += ((load<f32>(xr + p) - m) * s) * d;
      }
      sumDy += <f64>sa;
      sumDyXn += <f64>sb;
    }
    const db = <f32>sumDy, dg = <f32>sumDyXn;
    store<f32>(dbeta + o, db);
    store<f32>(dgamma + o, dg);
    const g = load<f32>(gamma + o);
    for (let n = 0; n < batch; n++) {
      const off = <usize>n * sampleBytes + <usize>c * rowBytes;
      backwardRowScalar(dx + off, dy + off, x + off, spatial, m, s, g, db, dg, invCount, frozen != 0);
    }
  }
}

export function batchNormSpatialBackwardRef(dx: usize, dgamma: usize, dbeta: usize, dy: usize, x: usize,
                                            mean: usize, invStd: usize, gamma: usize,
                                            batch: i32, channels: i32, spatial: i32, ld: i32, frozen: i32): void {
  const count = <f64>batch * <f64>spatial;
  for (let c = 0; c < channels; c++) {
    const f = <usize>c << 2;
    const mu = <f64>load<f32>(mean + f), is = <f64>load<f32>(invStd + f), g = <f64>load<f32>(gamma + f);
    let db: f64 = 0, dg: f64 = 0;
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < spatial; i++) {
        const o = (<usize>n * ld + <usize>c * spatial + i) << 2;
        const d = <f64>load<f32>(dy + o);
        db += d;
        dg += (<f64>load<f32>(x + o) - mu) * is * d;
      }
    }
    store<f32>(dbeta + f, <f32>db);
    store<f32>(dgamma + f, <f32>dg);
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < spatial; i++) {
        const o = (<usize>n * ld + <usize>c * spatial + i) << 2;
        const xn = (<f64>load<f32>(x + o) - mu) * is;
        const d = <f64>load<f32>(dy + o);
        store<f32>(dx + o, <f32>(g * is * (frozen != 0 ? d : d - (db + xn * dg) / count)));
      }
    }
  }
}

// ---- Layer norm on [N, F]: per sample over its F features; gamma, beta [F].

export function layerNormForward(y: usize, mean: usize, invStd: usize, x: usize, gamma: usize, beta: usize,
                                 rows: i32, cols: i32, eps: f32): void {
  const rowBytes = <usize>cols << 2;
  const count = <f32>cols;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const yr = y + <usize>r * rowBytes;
    const m = rowSum(xr, cols) / count;
    const s = <f32>1 / Mathf.sqrt(rowSquaredDeviation(xr, cols, m) / count + eps);
    store<f32>(mean + (<usize>r << 2), m);
    store<f32>(invStd + (<usize>r << 2), s);
    const mv = f32x4.splat(m), sv = f32x4.splat(s);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const xn = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), sv);
      v128.store(yr + o, f32x4.add(f32x4.mul(v128.load(gamma + o), xn), v128.load(beta + o)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(yr + o, load<f32>(gamma + o) * ((load<f32>(xr + o) - m) * s) + load<f32>(beta + o));
    }
  }
}

export function layerNormForwardRef(y: usize, mean: usize, invStd: usize, x: usize, gamma: usize, beta: usize,
                                    rows: i32, cols: i32, eps: f32): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>r * cols) << 2);
    let s: f64 = 0;
    for (let j = 0; j < cols; j++) s += <f64>load<f32>(xr + (<usize>j << 2));
    const mu = s / cols;
    let q: f64 = 0;
    for (let j = 0; j < cols; j++) {
      const d = <f64>load<f32>(xr + (<usize>j << 2)) - mu;
      q += d * d;
    }
    const is = 1.0 / Math.sqrt(q / cols + <f64>eps);
    store<f32>(mean + (<usize>r << 2), <f32>mu);
    store<f32>(invStd + (<usize>r << 2), <f32>is);
    for (let j = 0; j < cols; j++) {
      const o = <usize>j << 2;
      const xn = (<f64>load<f32>(xr + o) - mu) * is;
      store<f32>(y + ((<usize>r * cols) << 2) + o, <f32>(<f64>load<f32>(gamma + o) * xn + <f64>load<f32>(beta + o)));
    }
  }
}

// dgamma += Σ_rows dy · xn, dbeta += Σ_rows dy (accumulated: zero them first);
// with g = gamma · dy: dx = invStd · (g - (Σg + xn · Σ g·xn) / F).
export function layerNormBackward(dx: usize, dgamma: usize, dbeta: usize, dy: usize, x: usize,
                                  mean: usize, invStd: usize, gamma: usize, rows: i32, cols: i32): void {
  const rowBytes = <usize>cols << 2;
  const invCount = <f32>1 / <f32>cols;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const dr = dy + <usize>r * rowBytes;
    const out = dx + <usize>r * rowBytes;
    const m = load<f32>(mean + (<usize>r << 2)), s = load<f32>(invStd + (<usize>r << 2));
    const mv = f32x4.splat(m), sv = f32x4.splat(s);
    let a = f32x4.splat(0), b = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const d = v128.load(dr + o);
      const xn = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), sv);
      const g = f32x4.mul(v128.load(gamma + o), d);
      a = f32x4.add(a, g);
      b = f32x4.add(b, f32x4.mul(g, xn));
      v128.store(dbeta + o, f32x4.add(v128.load(dbeta + o), d));
      v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), f32x4.mul(d, xn)));
    }
    let sumG = hsum(a), sumGXn = hsum(b);
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const d = load<f32>(dr + o);
      const xn = (load<f32>(xr + o) - m) * s;
      const g = load<f32>(gamma + o) * d;
      sumG += g;
      sumGXn += g * xn;
      store<f32>(dbeta + o, load<f32>(dbeta + o) + d);
      store<f32>(dgamma + o, load<f32>(dgamma + o) + d * xn);
    }
    const av = f32x4.splat(sumG), bv = f32x4.splat(sumGXn), cv = f32x4.splat(invCount);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      const xn = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), sv);
      const g = f32x4.mul(v128.load(gamma + o), v128.load(dr + o));
      const corr = f32x4.mul(f32x4.add(av, f32x4.mul(xn, bv)), cv);
      v128.store(out + o, f32x4.mul(sv, f32x4.sub(g, corr)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      const xn = (load<f32>(xr + o) - m) * s;
      const g = load<f32>(gamma + o) * load<f32>(dr + o);
      store<f32>(out + o, s * (g - (sumG + xn * sumGXn) * invCount));
    }
  }
}

export function layerNormBackwardRef(dx: usize, dgamma: usize, dbeta: usize, dy: usize, x: usize,
                                     mean: usize, invStd: usize, gamma: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const base = (<usize>r * cols) << 2;
    const mu = <f64>load<f32>(mean + (<usize>r << 2)), is = <f64>load<f32>(invStd + (<usize>r << 2));
    let sg: f64 = 0, sgx: f64 = 0;
    for (let j = 0; j < cols; j++) {
      const o = <usize>j << 2;
      const d = <f64>load<f32>(dy + base + o);
      const xn = (<f64>load<f32>(x + base + o) - mu) * is;
      const g = <f64>load<f32>(gamma + o) * d;
      sg += g;
      sgx += g * xn;
      store<f32>(dbeta + o, <f32>(<f64>load<f32>(dbeta + o) + d));
      store<f32>(dgamma + o, <f32>(<f64>load<f32>(dgamma + o) + d * xn));
    }
    for (let j = 0; j < cols; j++) {
      const o = <usize>j << 2;
      const xn = (<f64>load<f32>(x + base + o) - mu) * is;
      const g = <f64>load<f32>(gamma + o) * <f64>load<f32>(dy + base + o);
      store<f32>(dx + base + o, <f32>(is * (g - (sg + xn * sgx) / cols)));
    }
  }
}

// ---- Instance norm on [N, C, S]: per sample and channel over S; gamma, beta [C].
// Sub-range by samples: pointers offset to the first sample (mean/invStd by its N·C index).

export function instanceNormForward(y: usize, mean: usize, invStd: usize, x: usize, gamma: usize, beta: usize,
                                    batch: i32, channels: i32, spatial: i32, eps: f32): void {
  const rowBytes = <usize>spatial << 2;
  const count = <f32>spatial;
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const row = n * channels + c;
      const off = <usize>row * rowBytes;
      const m = rowSum(x + off, spatial) / count;
      const s = <f32>1 / Mathf.sqrt(rowSquaredDeviation(x + off, spatial, m) / count + eps);
      store<f32>(mean + (<usize>row << 2), m);
      store<f32>(invStd + (<usize>row << 2), s);
      normalizeRowScalar(y + off, x + off, spatial, m, s, load<f32>(gamma + (<usize>c << 2)), load<f32>(beta + (<usize>c << 2)));
    }
  }
}

export function instanceNormForwardRef(y: usize, mean: usize, invStd: usize, x: usize, gamma: usize, beta: usize,
                                       batch: i32, channels: i32, spatial: i32, eps: f32): void {
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const row = n * channels + c;
      const base = (<usize>row * spatial) << 2;
      let s: f64 = 0;
      for (let i = 0; i < spatial; i++) s += <f64>load<f32>(x + base + (<usize>i << 2));
      const mu = s / spatial;
      let q: f64 = 0;
      for (let i = 0; i < spatial; i++) {
        const d = <f64>load<f32>(x + base + (<usize>i << 2)) - mu;
        q += d * d;
      }
      const is = 1.0 / Math.sqrt(q / spatial + <f64>eps);
      store<f32>(mean + (<usize>row << 2), <f32>mu);
      store<f32>(invStd + (<usize>row << 2), <f32>is);
      const g = <f64>load<f32>(gamma + (<usize>c << 2)), b = <f64>load<f32>(beta + (<usize>c << 2));
      for (let i = 0; i < spatial; i++) {
        const o = base + (<usize>i << 2);
        store<f32>(y + o, <f32>(g * ((<f64>load<f32>(x + o) - mu) * is) + b));
      }
    }
  }
}

// dgamma[c] += Σ_S dy · xn, dbeta[c] += Σ_S dy (accumulated: zero them first);
// dx = gamma · invStd · (dy - (Σdy + xn · Σ dy·xn) / S).
export function instanceNormBackward(dx: usize, dgamma: usize, dbeta: usize, dy: usize, x: usize,
                                     mean: usize, invStd: usize, gamma: usize,
                                     batch: i32, channels: i32, spatial: i32): void {
  const rowBytes = <usize>spatial << 2;
  const invCount = <f32>1 / <f32>spatial;
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const row = n * channels + c;
      const off = <usize>row * rowBytes;
      const xr = x + off, dr = dy + off;
      const m = load<f32>(mean + (<usize>row << 2)), s = load<f32>(invStd + (<usize>row << 2));
      const mv = f32x4.splat(m), sv = f32x4.splat(s);
      let a = f32x4.splat(0), b = f32x4.splat(0);
      let i = 0;
      for (; i + 4 <= spatial; i += 4) {
        const p = <usize>i << 2;
        const d = v128.load(dr + p);
        a = f32x4.add(a, d);
        b = f32x4.add(b, f32x4.mul(f32x4.mul(f32x4.sub(v128.load(xr + p), mv), sv), d));
      }
      let sumDy = hsum(a), sumDyXn = hsum(b);
      for (; i < spatial; i++) {
        const p = <usize>i << 2;
        const d = load<f32>(dr + p);
        sumDy += d;
        sumDyXn += ((load<f32>(xr + p) - m) * s) * d;
      }
      const co = <usize>c << 2;
      store<f32>(dbeta + co, load<f32>(dbeta + co) + sumDy);
      store<f32>(dgamma + co, load<f32>(dgamma + co) + sumDyXn);
      backwardRowScalar(dx + off, dr, xr, spatial, m, s, load<f32>(gamma + co), sumDy, sumDyXn, invCount, false);
    }
  }
}

export function instanceNormBackwardRef(dx: usize, dgamma: usize, dbeta: usize, dy: usize, x: usize,
                                        mean: usize, invStd: usize, gamma: usize,
                                        batch: i32, channels: i32, spatial: i32): void {
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const row = n * channels + c;
      const base = (<usize>row * spatial) << 2;
      const mu = <f64>load<f32>(mean + (<usize>row << 2)), is = <f64>load<f32>(invStd + (<usize>row << 2));
      const g = <f64>load<f32>(gamma + (<usize>c << 2));
      let sd: f64 = 0, sdx: f64 = 0;
      for (let i = 0; i < spatial; i++) {
        const o = base + (<usize>i << 2);
        const d = <f64>load<f32>(dy + o);
        sd += d;
        sdx += d * (<f64>load<f32>(x + o) - mu) * is;
      }
      const co = <usize>c << 2;
      store<f32>(dbeta + co, <f32>(<f64>load<f32>(dbeta + co) + sd));
      store<f32>(dgamma + co, <f32>(<f64>load<f32>(dgamma + co) + sdx));
      for (let i = 0; i < spatial; i++) {
        const o = base + (<usize>i << 2);
        const xn = (<f64>load<f32>(x + o) - mu) * is;
        store<f32>(dx + o, <f32>(g * is * (<f64>load<f32>(dy + o) - (sd + xn * sdx) / spatial)));
      }
    }
  }
}
