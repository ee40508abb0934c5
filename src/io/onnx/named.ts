// importOnnx's named nets. exportOnnx writes a named net's spec (MultiLayerNet, MultiLayerNetExtend,
// SimpleConvNet, DeepConvNet) into the model's metadata as `simdnn.net`, and its tensors under the net's
// keys (W1, b1, gamma1, runningMean1, …). Where the planned layers are what buildNet builds from that spec
// (the same layers in order, the same keys and shapes, the same options at inference and in training:
// eps, momentum, dropout's form and ratio, activation, pooling), importOnnx returns that named net, which
// saveModel takes; anything else stays the plan's Sequential, with the reason. The metadata is read as a
// claim to check, never trusted: a model from elsewhere may carry any metadata, and odd metadata is never an
// error. What the graph does not hold (the loss's label smoothing and class weights, weight decay, the
// weights' init) is the spec's.
import { netLayout, type LayoutLayer, type NetLayout, type NetSpec } from '../../index.js';
import { ONNX_SPEC_KEY } from './export.js';
import { layerName, type ImportedNode, type Plan, type Planned } from './planners.js';

/** The named net a plan is: its spec, its layers' names, and the values of each of its tensors by key (parameters and running statistics). */
export interface NamedPlan {
  spec: NetSpec;
  layers: string[];
  values: Map<string, Float32Array>;
}

/** The named net the model of `plan` is, or why its net stays a Sequential. */
export function namedPlanOf(metadata: Readonly<Record<string, string>>, plan: Plan): NamedPlan | string {
  if (!Object.hasOwn(metadata, ONNX_SPEC_KEY)) return `the model carries no '${ONNX_SPEC_KEY}' (the spec simdnn's export writes of a named net)`;
  let spec: NetSpec, layout: NetLayout;
  try {
    spec = JSON.parse(metadata[ONNX_SPEC_KEY]) as NetSpec;
    layout = netLayout(spec, ONNX_SPEC_KEY);
  } catch (e) {
    return `its '${ONNX_SPEC_KEY}' is not a named net's spec (${e instanceof Error ? e.message : String(e)})`;
  }
  const values = new Map<string, Float32Array>();
  const why = mismatch(plan, layout, values);
  return why === null ? { spec, layers: layout.layers.map((l) => l.name), values } : `its graph is not the ${spec.kind} its '${ONNX_SPEC_KEY}' describes: ${why}`;
}

/** Whether layers[i] is a Flatten right before an Affine: a named net has none there, its Affine flattens each sample itself. */
function flattenOfAffine(layers: readonly Planned[], i: number): boolean {
  return layers[i]?.kind === 'flatten' && layers[i + 1]?.kind === 'affine';
}

/** What each node of a plan becomes in the named net the plan is: the plan's, but for a Flatten the net has not. */
export function namedNodes(plan: Plan): ImportedNode[] {
  return plan.nodes.map((node, i) => {
    const flat = plan.made[i].map((p) => plan.layers.indexOf(p)).find((at) => flattenOfAffine(plan.layers, at));
    if (flat === undefined) return node;
    const affine = plan.layers[flat + 1] as Extract<Planned, { kind: 'affine' }>;
    return { ...node, becomes: `dropped: the named net's Affine after it flattens each sample to [${affine.D}] itself, as the book's Affine does` };
  });
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const shown = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** Where the plan differs from the layout (null: nowhere), with each tensor's values put in `values` by key. */
function mismatch(plan: Plan, layout: NetLayout, values: Map<string, Float32Array>): string | null {
  // an MLP takes rows, and any sample its first Affine flattens to them; a conv net fixes its input
  const input = plan.inputShape;
  const fits = layout.fixesInput ? shown(input) === shown(layout.inputShape) : size(input) === size(layout.inputShape);
  if (!fits) return `its input ${shown(input)} is not the net's ${shown(layout.inputShape)}`;
  // an Affine flattens its input itself; a Dropout of ratio 0 is the identity, which the export writes no node for
  const ours = plan.layers.filter((_p, i) => !flattenOfAffine(plan.layers, i));
  const theirs = layout.layers.filter((l) => !(l.dropout && l.dropout.ratio === 0));
  if (ours.length !== theirs.length) {
    return `it makes ${ours.length} layers (${ours.map(layerName).join(', ')}), the net has ${theirs.length} (${theirs.map((l) => l.name).join(', ')})`;
  }
  for (let i = 0; i < ours.length; i++) {
    const why = layerMismatch(ours[i], theirs[i], values);
    if (why !== null) return `its layer ${i} (${layerName(ours[i])}) ${why}`;
  }
  return null;
}

/** Where one planned layer differs from the named net's (null: nowhere), its values put in `values` by the net's keys. */
function layerMismatch(p: Planned, l: LayoutLayer, values: Map<string, Float32Array>): string | null {
  if (layerName(p) !== l.name) return `is the net's ${l.name}`;
  const rule = l.rule;
  switch (p.kind) {
    case 'affine':
      if (rule.kind !== 'affine' || rule.inputs !== p.D || rule.outputs !== p.M) return `is [${p.D}, ${p.M}], the net's ${ruleText(l)}`;
      return tensors(p.from, [p.W, p.b], l, values);
    case 'conv': {
      const [FN, C, FH, FW] = p.shape;
      if (rule.kind !== 'conv' || rule.filters !== FN || rule.channels !== C || rule.filterH !== FH || rule.filterW !== FW || rule.stride !== p.stride || rule.pad !== p.pad) {
        return `is ${FN}×${C}×${FH}×${FW}, stride ${p.stride}, pad ${p.pad}, the net's ${ruleText(l)}`;
      }
      return tensors(p.from, [p.W, p.b], l, values);
    }
    case 'pool':
      if (rule.kind !== 'pool' || rule.poolH !== p.kh || rule.poolW !== p.kw || rule.stride !== p.stride || rule.pad !== p.pad || l.poolMode !== p.mode) {
        return `is ${p.mode} ${p.kh}×${p.kw}, stride ${p.stride}, pad ${p.pad}, the net's ${ruleText(l)}`;
      }
      return null;
    case 'batchnorm': {
      const want = l.batchNorm!;
      // the graph holds eps and momentum as float32 attributes (per feature, as the net's: it follows the Affine matched before)
      if (p.eps !== Math.fround(want.eps)) return `has eps ${p.eps}, the net's ${want.eps}`;
      if (p.momentum !== Math.fround(want.momentum)) return `has momentum ${p.momentum}, the net's ${want.momentum}`;
      return tensors(p.from, [p.gamma, p.beta, p.mean, p.variance], l, values);
    }
    case 'dropout': {
      // the named nets' dropouts are the book's form, which the graph holds as a Mul by 1 − ratio in float32
      const want = l.dropout!;
      if (p.inverted !== want.inverted || Math.fround(1 - p.ratio) !== Math.fround(1 - want.ratio)) {
        const form = (inverted: boolean) => (inverted ? 'inverted' : "the book's form");
        return `is ${form(p.inverted)} with ratio ${p.ratio}, the net's ${form(want.inverted)} with ratio ${want.ratio}`;
      }
      return null;
    }
    default:
      return null; // an activation, whose name is its kind
  }
}

/** An Affine's, Convolution's or Pooling's sizes as the messages give them. */
function ruleText(l: LayoutLayer): string {
  const r = l.rule;
  if (r.kind === 'affine') return `[${r.inputs}, ${r.outputs}]`;
  if (r.kind === 'conv') return `${r.filters}×${r.channels}×${r.filterH}×${r.filterW}, stride ${r.stride}, pad ${r.pad}`;
  return r.kind === 'pool' ? `${l.poolMode} ${r.poolH}×${r.poolW}, stride ${r.stride}, pad ${r.pad}` : l.name;
}

/**
 * The graph's tensors `from` (their names) are the layer's tensors (their keys, in order): their values put in by key.
 * (Their shapes are the net's: the layer's sizes were compared before, and the planner read each tensor at its sizes.)
 */
function tensors(from: readonly string[], data: readonly Float32Array[], l: LayoutLayer, values: Map<string, Float32Array>): string | null {
  const keys = [...l.params, ...l.state].map(([key]) => key);
  const differs = keys.findIndex((key, i) => from[i] !== key);
  if (differs >= 0) return `reads '${from[differs] || '(none)'}' where the net has '${keys[differs]}'`;
  keys.forEach((key, i) => values.set(key, data[i]));
  return null;
}
