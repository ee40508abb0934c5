// Renders the experiments' Vega-Lite specs to SVG in Node: vega-lite compiles
// the spec to Vega, and a headless Vega View (renderer 'none') writes SVG with
// no canvas and no browser. vega and vega-lite (23 MB installed with their
// dependencies) are optional peer dependencies, loaded only when an SVG is
// drawn: neither `import 'simdnn'` nor the other commands ever load them.
import type { VegaLiteSpec } from '../experiments/types.js';
import { importPackage } from './import-package.js';

/** Draws a spec as an SVG document (text); throws vega-lite's error for an invalid spec. */
export type SvgRenderer = (spec: VegaLiteSpec) => Promise<string>;

/**
 * The SVG renderer, loading vega and vega-lite; a command calls it before its work, so that a missing
 * package is said at once. Throws an Error saying how to install them when they are not installed.
 */
export async function svgRenderer(): Promise<SvgRenderer> {
  let vega: typeof import('vega'), vl: typeof import('vega-lite');
  try {
    [vega, vl] = await Promise.all([importPackage('vega', () => import('vega')), importPackage('vega-lite', () => import('vega-lite'))]);
  } catch (e) {
    throw new Error(`SVG charts need the npm packages vega and vega-lite, which simdnn leaves optional (npm install vega vega-lite; a chart written as .json needs neither): ${(e as Error).message}`);
  }
  return async (spec) => {
    const compiled = vl.compile(spec as unknown as Parameters<typeof vl.compile>[0]).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
    try {
      return await view.toSVG();
    } finally {
      view.finalize();
    }
  };
}

/** The chart as an SVG document (text). Throws vega-lite's error for an invalid spec, and svgRenderer's. */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  return (await svgRenderer())(spec);
}
