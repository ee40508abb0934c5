// Two Gaussian blobs in 2-D: the Trainer tests' small, separable data set.
import type { Runtime } from '../../src/runtime/runtime.js';
import { randomArray } from './runtime.js';

/** N rows labelled 0, 1, 0, … (swapped with `flip`), each class's mean at ∓`spread` on the first axis. */
export function blobs(r: Runtime, N: number, seed: number, { spread = 1, flip = false } = {}) {
  const xs = randomArray(N * 2, seed);
  const t: number[] = [];
  for (let i = 0; i < N; i++) { const c = i % 2; t.push(flip ? 1 - c : c); xs[i * 2] += c ? spread : -spread; }
  return { x: r.tensor([N, 2], xs), t: r.labels([N], t) };
}
