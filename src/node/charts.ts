// Renders the experiments' Vega-Lite specs to SVG in Node: vega-lite compiles
// the spec to Vega, and a headless Vega View (renderer 'none') writes SVG with
// no canvas and no browser. Only `simdnn experiment` loads this module, so
// neither `import 'simdnn'` nor the other commands ever load vega.
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { VegaLiteSpec } from '../experiments/types.js';

/** The chart as an SVG document (text). Throws vega-lite's error for an invalid spec. */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const compiled = compile(spec as unknown as Parameters<typeof compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
