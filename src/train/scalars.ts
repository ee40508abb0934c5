// The book's optimizer comparison on f(x, y) = x²/20 + y² (optimizer_compare_naive)
// drives an optimizer over two plain numbers. Optimizers work on tensors, so
// each number becomes a 1-element tensor; this does that in one call.
import type { Optimizer } from '../optim/optimizer.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Tensor } from '../runtime/tensor.js';

/**
 * Runs `steps` updates of `optimizer` on named numbers from `start`, with `gradient` giving
 * the gradient at each point, and returns the path: steps + 1 points, the start first (the
 * book plots the first `steps`). Values are float32, as on tensors. E.g.
 * `optimizeScalars(rt, new SGD({ lr: 0.95 }), { x: -7, y: 2 }, ({ x, y }) => ({ x: x / 10, y: 2 * y }), 30)`.
 * The optimizer keeps state for these keys; use a fresh one per path. Throws if `gradient`
 * misses a key or returns a non-finite value.
 */
export function optimizeScalars(
  rt: Runtime,
  optimizer: Optimizer,
  start: Readonly<Record<string, number>>,
  gradient: (point: Record<string, number>) => Record<string, number>,
  steps: number,
): Array<Record<string, number>> {
  if (!(Number.isInteger(steps) && steps >= 0)) throw new RangeError(`optimizeScalars: steps must be a non-negative integer, got ${steps}`);
  const keys = Object.keys(start);
  for (const k of keys) if (!Number.isFinite(start[k])) throw new RangeError(`optimizeScalars: start.${k} must be a finite number, got ${start[k]}`);
  const params: Record<string, Tensor> = {};
  const grads: Record<string, Tensor> = {};
  try {
    for (const k of keys) { params[k] = rt.tensor([1], [start[k]]); grads[k] = rt.tensor([1]); }
    const point = () => Object.fromEntries(keys.map((k) => [k, params[k].data[0]]));
    const path = [point()];
    for (let i = 0; i < steps; i++) {
      const g = gradient(path[path.length - 1]);
      for (const k of keys) {
        if (!Number.isFinite(g?.[k])) throw new RangeError(`optimizeScalars: gradient().${k} must be a finite number, got ${g?.[k]}`);
        grads[k].data[0] = g[k];
      }
      optimizer.update(params, grads);
      path.push(point());
    }
    return path;
  } finally {
    for (const t of [...Object.values(params), ...Object.values(grads)]) t.dispose();
  }
}
