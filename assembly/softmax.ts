// Softmax with cross-entropy loss, and argmax/accuracy.
// Rows are independent: a call on rows [r0, r1) needs only pointers offset to r0.
// Probabilities and gradients below the smallest normal float are flushed to
// zero (math.ts ftz): a confident net's 1e-40s would slow every later product.
import { expv, exps, ftz, ftzs, hsum, hmax } from "./math";
import { fill } from "./elementwise";

// The book's cross_entropy_error adds 1e-7 inside the log.
const LOG_DELTA: f32 = 1e-7;

// y[r] = softmax(x[r]) for `rows` rows of `cols` (numerically stable: x - max).
export function softmaxForward(y: usize, x: usize, rows: i32, cols: i32): void {
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    softmaxRow(y + <usize>r * rowBytes, x + <usize>r * rowBytes, cols);
  }
}

// One function, not inlined into the three kernels that call it: its vector
// exponential made each of them ~1.3 KB (a call per row costs nothing measurable).
function softmaxRow(y: usize, x: usize, cols: i32): void {
  let j = 0;
  let m: f32 = -Infinity;
  if (cols >= 4) {
    let mv = v128.load(x);
    for (j = 4; j + 4 <= cols; j += 4) mv = f32x4.max(mv, v128.load(x + (<usize>j << 2)));
    m = hmax(mv);
  } else {
    j = 0;
  }
  for (; j < cols; j++) m = max(m, load<f32>(x + (<usize>j << 2)));
  const mv = f32x4.splat(m);
  let sv = f32x4.splat(0);
  j = 0;
  for (; j + 4 <= cols; j += 4) {
    const o = <usize>j << 2;
    const e = expv(f32x4.sub(v128.load(x + o), mv));
    v128.store(y + o, e);
    sv = f32x4.add(sv, e);
  }
  let s = hsum(sv);
  for (; j < cols; j++) {
    const o = <usize>j << 2;
    const e = exps(load<f32>(x + o) - m);
    store<f32>(y + o, e);
    s += e;
  }
  const ssv = f32x4.splat(s);
  j = 0;
  for (; j + 4 <= cols; j += 4) {
    const o = <usize>j << 2;
    v128.store(y + o, ftz(f32x4.div(v128.load(y + o), ssv)));
  }
  for (; j < cols; j++) {
    const o = <usize>j << 2;
    store<f32>(y + o, ftzs(load<f32>(y + o) / s));
  }
}

// Softmax into y, then returns the summed loss over the rows (the facade
// divides by the batch size): -log(y[r, t[r]] + 1e-7) with int32 labels t.
export function softmaxCrossEntropyForward(y: usize, x: usize, t: usize, rows: i32, cols: i32): f64 {
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) softmaxRow(y + <usize>r * rowBytes, x + <usize>r * rowBytes, cols);
  return crossEntropyOfSoftmax(y, t, rows, cols);
}

// The loss sum of softmaxCrossEntropyForward from a softmax y already written
// (the row chain computes y by groups of rows on two threads and sums the loss
// once, in row order, after): the same function, so the same bits.
export function crossEntropyOfSoftmax(y: usize, t: usize, rows: i32, cols: i32): f64 {
  const rowBytes = <usize>cols << 2;
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const label = load<i32>(t + (<usize>r << 2));
    loss -= <f64>Mathf.log(load<f32>(y + <usize>r * rowBytes + (<usize>label << 2)) + LOG_DELTA);
  }
  return loss;
}

// As above with a target distribution t (one-hot or soft): -sum_j t log(y + 1e-7).
// For one-hot targets this is the book's loss.
export function softmaxCrossEntropyForwardDense(y: usize, x: usize, t: usize, rows: i32, cols: i32): f64 {
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) softmaxRow(y + <usize>r * rowBytes, x + <usize>r * rowBytes, cols);
  return crossEntropyOfSoftmaxDense(y, t, rows, cols);
}

// The loss sum of softmaxCrossEntropyForwardDense from a softmax y already
// written (the row chain's, as crossEntropyOfSoftmax): the same bits.
export function crossEntropyOfSoftmaxDense(y: usize, t: usize, rows: i32, cols: i32): f64 {
  const rowBytes = <usize>cols << 2;
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const yr = y + <usize>r * rowBytes;
    const tr = t + <usize>r * rowBytes;
    for (let j = 0; j < cols; j++) {
      const tj = load<f32>(tr + (<usize>j << 2));
      if (tj != 0) loss -= <f64>(tj * Mathf.log(load<f32>(yr + (<usize>j << 2)) + LOG_DELTA));
    }
  }
  return loss;
}

// Label smoothing's targets (PyTorch's and Keras's label_smoothing ε):
// out = t * keep + off over n floats of one-hot or soft rows, keep = 1 - ε and
// off = ε / classes (given as f32: every host rounds them the same).
export function smoothTargets(out: usize, t: usize, n: i32, keep: f32, off: f32): void {
  const kv = f32x4.splat(keep), ov = f32x4.splat(off);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(f32x4.mul(v128.load(t + o), kv), ov));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(t + o) * keep + off);
  }
}

// smoothTargets of the one-hot rows of int32 labels t: off everywhere, and
// keep + off (what 1 * keep + off rounds to) at each row's label.
export function smoothLabels(out: usize, t: usize, rows: i32, cols: i32, keep: f32, off: f32): void {
  fill(out, off, rows * cols);
  const on: f32 = keep + off;
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) store<f32>(out + <usize>r * rowBytes + (<usize>load<i32>(t + (<usize>r << 2)) << 2), on);
}

// dx = (y - onehot(t)) * scale, scale = dout / batchSize.
export function softmaxCrossEntropyBackward(dx: usize, y: usize, t: usize, rows: i32, cols: i32, scale: f32): void {
  const n = rows * cols;
  const sv = f32x4.splat(scale);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, ftz(f32x4.mul(v128.load(y + o), sv)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, ftzs(load<f32>(y + o) * scale));
  }
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const o = <usize>r * rowBytes + (<usize>load<i32>(t + (<usize>r << 2)) << 2);
    store<f32>(dx + o, ftzs((load<f32>(y + o) - 1) * scale));
  }
}

// dx = (y - t) * scale for a dense target t.
export function softmaxCrossEntropyBackwardDense(dx: usize, y: usize, t: usize, rows: i32, cols: i32, scale: f32): void {
  const n = rows * cols;
  const sv = f32x4.splat(scale);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, ftz(f32x4.mul(f32x4.sub(v128.load(y + o), v128.load(t + o)), sv)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, ftzs((load<f32>(y + o) - load<f32>(t + o)) * scale));
  }
}

// Scalar reference of softmax + int-label loss, written from the formulas.
export function softmaxCrossEntropyForwardRef(y: usize, x: usize, t: usize, rows: i32, cols: i32): f64 {
  let loss: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>r * cols) << 2);
    const yr = y + ((<usize>r * cols) << 2);
    let m: f32 = -Infinity;
    for (let j = 0; j < cols; j++) m = max(m, load<f32>(xr + (<usize>j << 2)));
    let s: f32 = 0;
    for (let j = 0; j < cols; j++) {
      const e = Mathf.exp(load<f32>(xr + (<usize>j << 2)) - m);
      store<f32>(yr + (<usize>j << 2), e);
      s += e;
    }
    for (let j = 0; j < cols; j++) store<f32>(yr + (<usize>j << 2), load<f32>(yr + (<usize>j << 2)) / s);
    const label = load<i32>(t + (<usize>r << 2));
    loss -= <f64>Mathf.log(load<f32>(yr + (<usize>label << 2)) + LOG_DELTA);
  }
  return loss;
}

// Scalar references of smoothTargets and smoothLabels, written from the formula t * keep + off.
export function smoothTargetsRef(out: usize, t: usize, n: i32, keep: f32, off: f32): void {
  for (let i = 0; i < n; i++) store<f32>(out + (<usize>i << 2), load<f32>(t + (<usize>i << 2)) * keep + off);
}

export function smoothLabelsRef(out: usize, t: usize, rows: i32, cols: i32, keep: f32, off: f32): void {
  for (let r = 0; r < rows; r++) {
    const label = load<i32>(t + (<usize>r << 2));
    for (let j = 0; j < cols; j++) {
      const hot: f32 = j == label ? 1 : 0;
      store<f32>(out + ((<usize>r * cols + j) << 2), hot * keep + off);
    }
  }
}

// Index of the first maximum of a row (the book's np.argmax).
// @ts-ignore: decorator
@inline
function argmaxRow(xr: usize, cols: i32): i32 {
  let best = 0;
  let m = load<f32>(xr);
  for (let j = 1; j < cols; j++) {
    const v = load<f32>(xr + (<usize>j << 2));
    if (v > m) { m = v; best = j; }
  }
  return best;
}

// out[r] = argmax of row r.
export function argmaxRows(out: usize, x: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    store<i32>(out + (<usize>r << 2), argmaxRow(x + ((<usize>r * cols) << 2), cols));
  }
}

// Number of rows whose argmax equals the int32 label.
export function countCorrect(x: usize, t: usize, rows: i32, cols: i32): i32 {
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    if (argmaxRow(x + ((<usize>r * cols) << 2), cols) == load<i32>(t + (<usize>r << 2))) correct++;
  }
  return correct;
}
