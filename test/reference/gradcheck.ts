// Numerical gradient checks by central differences, accumulated in float64.
// For a layer: L = Σ g ⊙ forward(x) with a fixed random g, so dL/dinput and
// dL/dparams are exactly what backward(g) must return.
import type { Layer } from '../../src/layers/layer.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { randomArray } from './book.js';

function weightedSum(y: Tensor, g: Float32Array): number {
  const d = y.data;
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i] * g[i];
  return s;
}

/** Numerical dL/dv for every element of v (a tensor whose values feed `loss`). */
export function numeric(v: Tensor, loss: () => number, h: number): Float64Array {
  const out = new Float64Array(v.size);
  for (let i = 0; i < v.size; i++) {
    const old = v.data[i];
    v.data[i] = old + h;
    const fp = loss();
    v.data[i] = old - h;
    const fm = loss();
    v.data[i] = old;
    out[i] = (fp - fm) / (2 * h);
  }
  return out;
}

export interface LayerGradients {
  analytic: Record<string, Float32Array>;
  numeric: Record<string, Float64Array>;
}

/** Analytic (backward) and numerical gradients of L = Σ g ⊙ layer(x) w.r.t. x and every param. */
export function layerGradients(layer: Layer, x: Tensor, h: number, seed = 7, train = true): LayerGradients {
  const y0 = layer.forward(x, train);
  const g = randomArray(y0.size, seed);
  const gt = x.rt.tensor(y0.shape, g);
  const dx = layer.backward(gt);
  const analytic: Record<string, Float32Array> = { x: dx.toArray() };
  for (const [k, t] of Object.entries(layer.grads)) analytic[k] = t.toArray();
  const loss = () => weightedSum(layer.forward(x, train), g);
  const num: Record<string, Float64Array> = { x: numeric(x, loss, h) };
  for (const [k, p] of Object.entries(layer.params)) num[k] = numeric(p, loss, h);
  gt.dispose();
  return { analytic, numeric: num };
}

/** Relative error of the worst element, normalised by the largest numerical gradient (scale-free). */
export function gradError(a: ArrayLike<number>, n: ArrayLike<number>): number {
  let maxDiff = 0, scale = 0;
  for (let i = 0; i < n.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i] - n[i]));
    scale = Math.max(scale, Math.abs(n[i]));
  }
  return maxDiff / Math.max(scale, 1e-12);
}
