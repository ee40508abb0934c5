// The book's optimizer comparison on f(x, y) = x²/20 + y² (optimizer_compare_naive)
// drives an optimizer over two plain numbers. Optimizers work on tensors, so
// each number becomes a 1-element tensor; this does that in one call.
import type { Optimizer } from '../optim/optimizer.js';
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { describeValue, type Tensor } from '../runtime/tensor.js';

/** Most steps optimizeScalars takes (2^24): its path holds a point per step. */
const MAX_STEPS = 2 ** 24;

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
  // every argument checked before anything is allocated; what is not a number is a TypeError naming it
  checkRuntime(rt, 'optimizeScalars');
  if (optimizer === null || typeof optimizer !== 'object' || typeof optimizer.update !== 'function') {
    throw new TypeError(`optimizeScalars: optimizer must be an Optimizer (from createOptimizer or new SGD(…)), got ${describeValue(optimizer)}`);
  }
  if (start === null || typeof start !== 'object' || Array.isArray(start)) {
    throw new TypeError(`optimizeScalars: start must be an object of named numbers ({ x: -7, y: 2 }), got ${describeValue(start)}`);
  }
  if (typeof gradient !== 'function') throw new TypeError(`optimizeScalars: gradient must be a function of the point, got ${describeValue(gradient)}`);
  if (typeof steps !== 'number') throw new TypeError(`optimizeScalars: steps must be a non-negative integer, got ${describeValue(steps)}`);
  // the path is kept in JavaScript objects: 2^40 steps ran until V8's heap gave out, minutes later
  if (!(Number.isInteger(steps) && steps >= 0 && steps <= MAX_STEPS)) throw new RangeError(`optimizeScalars: steps must be a non-negative integer, at most ${MAX_STEPS}, got ${steps}`);
  const keys = Object.keys(start);
  const values = keys.map((k) => start[k]); // each read once: the value checked is the value used
  keys.forEach((k, i) => finite(`start.${k}`, values[i]));
  const params: Record<string, Tensor> = {};
  const grads: Record<string, Tensor> = {};
  try {
    keys.forEach((k, i) => { params[k] = rt.tensor([1], [values[i]]); grads[k] = rt.tensor([1]); });
    const point = () => Object.fromEntries(keys.map((k) => [k, params[k].data[0]]));
    const path = [point()];
    for (let i = 0; i < steps; i++) {
      const g = gradient(path[path.length - 1]);
      if (g === null || typeof g !== 'object') throw new TypeError(`optimizeScalars: gradient() must return an object of named numbers, got ${describeValue(g)}`);
      for (const k of keys) grads[k].data[0] = finite(`gradient().${k}`, g[k]);
      optimizer.update(params, grads);
      path.push(point());
    }
    return path;
  } finally {
    for (const t of [...Object.values(params), ...Object.values(grads)]) t.dispose();
  }
}

/** A finite number, or a TypeError (not a number) / RangeError naming `what`. */
function finite(what: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`optimizeScalars: ${what} must be a finite number, got ${describeValue(v)}`);
  if (!Number.isFinite(v)) throw new RangeError(`optimizeScalars: ${what} must be a finite number, got ${v}`);
  return v;
}
