// The book's optimizer_compare_naive.py: each optimizer's path down
// f(x, y) = x²/20 + y² from (−7, 2) in 30 steps, over the contour lines.
import { AdaDelta, AdaGrad, Adam, Momentum, Nesterov, optimizeScalars, RMSprop, SGD, type ElementwiseOptimizer } from '../index.js';
import { exactCosPiRatio } from '../runtime/exact-math.js';
import { chart, field } from './spec.js';
import type { Experiment, Row } from './types.js';
import { experimentResult } from './result.js';

const START = [-7, 2] as const;
const STEPS = 30;
/** The book's four, then the extra panels (rates chosen so each path is visible in 30 steps). */
const OPTIMIZERS: ReadonlyArray<{ name: string; params: Record<string, number>; make: () => ElementwiseOptimizer; book: boolean }> = [
  { name: 'SGD', params: { lr: 0.95 }, make: () => new SGD({ lr: 0.95 }), book: true },
  { name: 'Momentum', params: { lr: 0.1, momentum: 0.9 }, make: () => new Momentum({ lr: 0.1, momentum: 0.9 }), book: true },
  { name: 'AdaGrad', params: { lr: 1.5 }, make: () => new AdaGrad({ lr: 1.5 }), book: true },
  { name: 'Adam', params: { lr: 0.3 }, make: () => new Adam({ lr: 0.3 }), book: true },
  { name: 'Nesterov', params: { lr: 0.1, momentum: 0.9 }, make: () => new Nesterov({ lr: 0.1, momentum: 0.9 }), book: false },
  { name: 'RMSprop', params: { lr: 0.1, decayRate: 0.99 }, make: () => new RMSprop({ lr: 0.1, decayRate: 0.99 }), book: false },
  { name: 'AdaDelta', params: { lr: 1, rho: 0.9, eps: 0.01 }, make: () => new AdaDelta({ lr: 1, rho: 0.9, eps: 0.01 }), book: false },
];
const LEVELS = [0.5, 1, 2, 3, 5, 8, 12, 17, 23];

const f = (x: number, y: number) => x * x / 20 + y * y;

/** Times the path's y-velocity changes sign (a zig-zag count). */
export function directionChanges(ys: readonly number[]): number {
  let changes = 0, last = 0;
  for (let i = 1; i < ys.length; i++) {
    const d = Math.sign(ys[i] - ys[i - 1]);
    if (d !== 0 && last !== 0 && d !== last) changes++;
    if (d !== 0) last = d;
  }
  return changes;
}

export const optimizerNaive: Experiment = {
  name: 'optimizer-naive',
  title: 'Optimizers on f(x, y) = x²/20 + y²',
  needsData: false,
  async run(ctx) {
    const { rt } = ctx;
    ctx.plan(OPTIMIZERS.length * STEPS);
    const path: Row[] = [];
    const summary: Record<string, { directionChangesY: number; final: number[]; finalF: number }> = {};
    for (const o of OPTIMIZERS) {
      await ctx.pause();
      const optimizer = o.make();
      let points;
      try {
        // ∂f/∂x = x/10, ∂f/∂y = 2y
        points = optimizeScalars(rt, optimizer, { x: START[0], y: START[1] }, (p) => ({ x: p.x / 10, y: 2 * p.y }), STEPS);
      } finally {
        optimizer.dispose();
      }
      points.forEach((p, step) => path.push({ optimizer: o.name, step, x: p.x, y: p.y, f: f(p.x, p.y) }));
      ctx.tick(STEPS, o.name);
      const ys = points.map((p) => p.y);
      const last = path[path.length - 1];
      summary[o.name] = { directionChangesY: directionChanges(ys), final: [last.x as number, last.y as number], finalF: last.f as number };
    }
    // contour lines of f are ellipses: x = √(20c)·cos t, y = √c·sin t at t = 2π·i/72, the cosines exact
    // (exact-math.ts: Math.cos and Math.sin differ by an ulp between engines, Node 20 against Bun and Deno here)
    const contours: Row[] = [];
    for (const c of LEVELS) {
      for (let i = 0; i <= 72; i++) {
        // cos(πi/36), and sin(πi/36) = cos(π(i − 18)/36), cos being even
        contours.push({ level: c, i, x: Math.sqrt(20 * c) * exactCosPiRatio(i, 36), y: Math.sqrt(c) * exactCosPiRatio(Math.abs(i - 18), 36) });
      }
    }
    const x = field('x', 'quantitative', 'x', { scale: { domain: [-10, 10] } });
    const y = field('y', 'quantitative', 'y', { scale: { domain: [-5, 5] } });
    const panel = (name: string) => ({
      title: name,
      width: 230,
      height: 150,
      layer: [
        {
          name: 'contours',
          data: { name: 'contours' },
          mark: { type: 'line', strokeWidth: 0.8, color: '#9ecae1', clip: true },
          encoding: { x, y, detail: { field: 'level', type: 'nominal' }, order: { field: 'i', type: 'quantitative' } },
        },
        {
          name: `path_${name}`,
          data: { name: 'path' },
          transform: [{ filter: { field: 'optimizer', equal: name } }],
          mark: { type: 'line', point: { filled: true, size: 18, color: '#d62728' }, color: '#d62728', clip: true },
          encoding: { x, y, order: { field: 'step', type: 'quantitative' } },
        },
        {
          data: { values: [{ x: 0, y: 0 }] },
          mark: { type: 'point', shape: 'cross', size: 80, color: 'black' },
          encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
        },
      ],
    });
    return experimentResult(this, ctx, {
      settings: {
        function: 'x^2/20 + y^2',
        start: [...START],
        steps: STEPS,
        optimizers: OPTIMIZERS.map((o) => ({ name: o.name, ...o.params, book: o.book })),
        note: 'Deterministic (no randomness); quick mode is the same run. Nesterov, RMSprop and AdaDelta are extra panels beyond the book; AdaDelta runs with eps 0.01 so it moves visibly in 30 steps. Each path shows the start and all 30 updates (the book appends a point before each update, so its plot stops one update short), and y spans −5 to 5 (the book\'s ylim is −10 to 10).',
      },
      conclusion: 'SGD zig-zags across the valley because the gradient of x²/20 + y² points mostly along y, not at the minimum (0, 0): its path is inefficient on an anisotropic function. Momentum rolls like a ball and converges with less zig-zag in x, AdaGrad shrinks its steps in the steep y direction so the zig-zag fades quickly, and Adam (momentum plus per-parameter rates) moves smoothly toward the minimum.',
      summary,
      tables: { path, contours },
      spec: chart(this.title, 'Update paths from (−7, 2), 30 steps; ellipses are contour lines of f; + marks the minimum', {
        columns: 4,
        concat: OPTIMIZERS.map((o) => panel(o.name)),
      }),
      marks: Object.fromEntries(OPTIMIZERS.map((o) => [`path_${o.name}`, 1])),
    });
  },
};
