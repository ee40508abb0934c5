// A Keras-style summary of a net (net.summary(), formatSummary): each layer's output shape for one sample
// and its parameter counts, computed from the layers' sizes by each kind's shape rule, never by running the
// net: nothing is allocated, so it describes a net too large to run here as well. The rules work on plans
// (a layer's name, rule and tensors' keys and shapes), which a net's layers give (summarizeNet) and which a
// named net's spec gives without building it (netSummary in registry.ts, which `simdnn info` prints).
import { Affine } from '../layers/affine.js';
import { shownClassWeights } from '../layers/softmax-with-loss.js';
import { isFusableActivation } from '../layers/activations.js';
import { BatchNormalization } from '../layers/batch-normalization.js';
import { Convolution, convOutputSize } from '../layers/convolution.js';
import { Dropout } from '../layers/dropout.js';
import { Flatten } from '../layers/flatten.js';
import { InstanceNormalization } from '../layers/instance-normalization.js';
import type { Layer } from '../layers/layer.js';
import { LayerNormalization } from '../layers/layer-normalization.js';
import { GlobalAveragePooling, Pooling } from '../layers/pooling.js';
import { MAX_ELEMENTS, describeValue, shapeSize, shown, type Tensor } from '../runtime/tensor.js';
import { firstAffineW } from './samples.js';
import type { Sequential } from './sequential.js';

/** One row of a NetSummary: a layer, or the loss layer last. */
export interface SummaryRow {
  /** The layer's name: 'Affine', 'Convolution', 'Relu', …, 'SoftmaxWithLoss' for the loss; a layer of the caller's its own name. */
  layer: string;
  /**
   * Its output for one sample, null first for the batch dimension (Keras's None): [null, 16, 28, 28]. The loss
   * row's is [] (the batch's mean loss). null where the summary cannot tell: for a layer kind it does not know
   * and every row after it, or for every row when the input's shape is unknown.
   */
  outputShape: (number | null)[] | null;
  /** Elements of its learned parameters (what an optimizer updates). */
  params: number;
  /** Its parameters' and state's keys as the net names them (W1, b1, gamma1, beta1, runningMean1, …). */
  keys: string[];
  /** Elements it saves but does not learn (batch normalization's running statistics). */
  state: number;
  /** What else the row needs said: the loss's label smoothing, a layer kind the summary does not know, an input it does not take. */
  note?: string;
}

/** What net.summary() returns (formatSummary prints it): plain JSON. */
export interface NetSummary {
  /** The layers in order, then the loss layer. */
  rows: SummaryRow[];
  /** trainable + nonTrainable. */
  total: number;
  /** Elements of the learned parameters (the net's params). */
  trainable: number;
  /** Elements saved but not learned (the net's state: batch-norm running statistics), as Keras counts them. */
  nonTrainable: number;
  /** One sample's shape the output shapes were computed for (no batch dimension), or null when unknown. */
  inputShape: number[] | null;
}

/** @internal How a layer's output shape follows from one sample's input shape (the rules the layers' forward passes apply). */
export type ShapeRule =
  | { kind: 'keep' } // activations, Dropout
  | { kind: 'affine'; inputs: number; outputs: number } // flattens each sample to `inputs` features
  | { kind: 'conv'; channels: number; filters: number; filterH: number; filterW: number; stride: number; pad: number }
  | { kind: 'pool'; poolH: number; poolW: number; stride: number; pad: number }
  | { kind: 'flatten' }
  | { kind: 'globalAvgPool' }
  | { kind: 'features'; features: number } // keeps the shape of a sample of `features` values (batch norm, layer norm)
  | { kind: 'channels'; channels: number } // keeps a [C, H, W] sample of `channels` channels (spatial batch norm, instance norm)
  | { kind: 'loss' }
  | { kind: 'unknown' };

/** @internal What the summary reads of a layer: its name, its shape rule, and its tensors as the net keys them. */
export interface LayerPlan {
  name: string;
  rule: ShapeRule;
  params: ReadonlyArray<readonly [string, readonly number[]]>;
  state: ReadonlyArray<readonly [string, readonly number[]]>;
}

/** @internal Where the input's shape came from: the caller (a shape that does not fit is its error) or the net. */
export interface SummaryInput {
  shape: number[] | null;
  given: boolean;
}

/**
 * @internal What a net's summary is computed from, as plain data: its layers' plans, its input and its loss. A
 * frozen net keeps its net's (made at freezing), so its summary is its net's, whatever the net does after.
 */
export interface SummarySource {
  readonly layers: readonly LayerPlan[];
  /** The sample shape the net fixes (its inputShape), which a shape given must equal; null if none. */
  readonly inputShape: readonly number[] | null;
  /** The shape used when none is given: inputShape, else [D] for a first Affine of D inputs, else null. */
  readonly ownInput: readonly number[] | null;
  /** The loss's label smoothing (its row's note). */
  readonly labelSmoothing: number;
  /** The loss's class weights, null if none (its row's note). */
  readonly classWeights: readonly number[] | null;
}

/** @internal The summary source of `net` at this moment (new arrays: later changes to the net do not reach it). */
export function summarySource(net: Sequential): SummarySource {
  const inputShape = net.inputShape && [...net.inputShape];
  return { layers: layerPlans(net), inputShape, ownInput: ownInputShape(net), labelSmoothing: net.lastLayer.labelSmoothing, classWeights: net.lastLayer.classWeights };
}

/** @internal The summary of `net` (Sequential.summary): summarize() of its source. */
export function summarizeNet(net: Sequential, inputShape: unknown): NetSummary {
  return summarize(summarySource(net), inputShape);
}

/**
 * @internal The summary of a net's source (Sequential.summary, FrozenNet.summary): the input shape `inputShape`
 * checked, else the net's own; its layers' plans; its loss.
 */
export function summarize(source: SummarySource, inputShape: unknown): NetSummary {
  const input = inputShape === undefined ? { shape: source.ownInput && [...source.ownInput], given: false } : { shape: checkInputShape(inputShape), given: true };
  if (input.given && source.inputShape !== null && !sameShape(input.shape!, source.inputShape)) {
    throw new RangeError(`summary: inputShape must be [${source.inputShape.join(', ')}] (the net's input), got [${input.shape!.join(', ')}]`);
  }
  return summarizePlans(source.layers, input, source.labelSmoothing, source.classWeights);
}

/**
 * @internal One sample's output shape after `layers` for a sample of shape `sample` (the shape rules the summary
 * applies), or why a layer does not take it, naming the layer; null past a layer whose kind the rules do not know.
 */
export function outputShapeOf(layers: readonly LayerPlan[], sample: readonly number[]): number[] | string | null {
  let shape = [...sample];
  for (let i = 0; i < layers.length; i++) {
    const rule = layers[i].rule;
    if (rule.kind === 'unknown') return null;
    const out = outputOf(rule, shape);
    if (typeof out === 'string') return `layers[${i}] (${layers[i].name}) ${out}`;
    shape = out;
  }
  return shape;
}

/** @internal The plans of `net`'s layers, in order, with the keys the net gave their tensors. */
export function layerPlans(net: Sequential): LayerPlan[] {
  const claimed = new Set<string>();
  return net.layers.map((layer) => ({
    name: String(layer.name), // a layer of the caller's may name itself anything
    rule: ruleOf(layer),
    params: keyed(layer.params, net.params, claimed),
    state: keyed(layer.state ?? {}, net.state, claimed),
  }));
}

/**
 * @internal The summary of layers given as plans, run from `input`, ending in a SoftmaxWithLoss with
 * `labelSmoothing` and `classWeights` (null: none). A shape that does not fit a layer is a RangeError naming `summary: inputShape` when the
 * caller gave it; the net's own is the net's doing, said in that layer's note (the rows after it unknown).
 */
export function summarizePlans(layers: readonly LayerPlan[], input: SummaryInput, labelSmoothing: number, classWeights: readonly number[] | null = null): NetSummary {
  const loss: LayerPlan = { name: 'SoftmaxWithLoss', rule: { kind: 'loss' }, params: [], state: [] };
  let shape: number[] | null = input.shape;
  const rows = [...layers, loss].map((plan, i): SummaryRow => {
    const row: SummaryRow = { layer: plan.name, outputShape: null, params: elements(plan.params), keys: [...plan.params, ...plan.state].map(([k]) => k), state: elements(plan.state) };
    const notes = plan !== loss ? [] : [
      ...(labelSmoothing !== 0 ? [`labelSmoothing ${labelSmoothing}`] : []),
      ...(classWeights !== null ? [`classWeights ${shownClassWeights(classWeights)}`] : []),
    ];
    const rule = plan.rule;
    if (rule.kind === 'unknown') {
      notes.push('unknown layer kind: output shape not computed');
      shape = null;
    } else if (shape !== null) {
      const out = outputOf(rule, shape);
      if (typeof out === 'string') {
        const where = plan === loss ? 'the loss (SoftmaxWithLoss)' : `layers[${i}] (${plan.name})`;
        if (input.given) throw new RangeError(`summary: inputShape [${input.shape!.join(', ')}] does not fit ${where}: ${out}`);
        notes.push(out);
        shape = null;
      } else {
        shape = out;
        row.outputShape = plan === loss ? [] : [null, ...out];
      }
    }
    if (notes.length > 0) row.note = notes.join('; ');
    return row;
  });
  const trainable = rows.reduce((n, r) => n + r.params, 0), nonTrainable = rows.reduce((n, r) => n + r.state, 0);
  return { rows, total: trainable + nonTrainable, trainable, nonTrainable, inputShape: input.shape && [...input.shape] };
}

/**
 * The summary as a Keras-like table: each row's layer (with its parameter keys, and its note in
 * parentheses), output shape ((None, 16, 28, 28); ? where unknown) and parameter count (learned and saved
 * elements, as Keras counts batch normalization's four vectors), then the totals, with thousands separators.
 * @throws TypeError if s is not a NetSummary.
 */
export function formatSummary(s: NetSummary): string {
  if (s === null || typeof s !== 'object' || !Array.isArray(s.rows)) {
    throw new TypeError(`formatSummary: s must be a NetSummary (what net.summary() returns), got ${describeValue(s)}`);
  }
  const cells = s.rows.map((r) => [
    `${r.layer}${r.keys.length > 0 ? ` [${r.keys.join(', ')}]` : ''}${r.note ? ` (${r.note})` : ''}`,
    r.outputShape === null ? '?' : shapeText(r.outputShape),
    count(r.params + r.state),
  ]);
  const header = ['Layer (type)', 'Output Shape', 'Param #'];
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c].length)));
  const line = (row: string[]) => `${row[0].padEnd(widths[0])}   ${row[1].padEnd(widths[1])}   ${row[2].padStart(widths[2])}`;
  const width = widths[0] + widths[1] + widths[2] + 6;
  return [
    `Input shape: ${s.inputShape ? shapeText([null, ...s.inputShape]) : 'unknown (net.summary(inputShape) gives the output shapes)'}`,
    '_'.repeat(width),
    line(header),
    '='.repeat(width),
    ...cells.map(line),
    '='.repeat(width),
    `Total params: ${count(s.total)}`,
    `Trainable params: ${count(s.trainable)}`,
    `Non-trainable params: ${count(s.nonTrainable)}`,
    '_'.repeat(width),
  ].join('\n');
}

/** A shape as Keras prints it: (None, 16, 28, 28), () for a scalar. */
function shapeText(shape: ReadonlyArray<number | null>): string {
  return `(${shape.map((d) => (d === null ? 'None' : String(d))).join(', ')})`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** The rule of one of simdnn's layers; 'unknown' for any other (a layer of the caller's). */
function ruleOf(layer: Layer): ShapeRule {
  if (isFusableActivation(layer) || layer instanceof Dropout) return { kind: 'keep' };
  if (layer instanceof Affine) return { kind: 'affine', inputs: layer.W.shape[0], outputs: layer.W.shape[1] };
  if (layer instanceof Convolution) {
    const [filters, channels, filterH, filterW] = layer.W.shape;
    return { kind: 'conv', channels, filters, filterH, filterW, stride: layer.stride, pad: layer.pad };
  }
  if (layer instanceof Pooling) return { kind: 'pool', poolH: layer.poolH, poolW: layer.poolW, stride: layer.stride, pad: layer.pad };
  if (layer instanceof Flatten) return { kind: 'flatten' };
  if (layer instanceof GlobalAveragePooling) return { kind: 'globalAvgPool' };
  if (layer instanceof BatchNormalization) return layer.spatial ? { kind: 'channels', channels: layer.gamma.size } : { kind: 'features', features: layer.gamma.size };
  if (layer instanceof LayerNormalization) return { kind: 'features', features: layer.gamma.size };
  if (layer instanceof InstanceNormalization) return { kind: 'channels', channels: layer.gamma.size };
  return { kind: 'unknown' };
}

/**
 * One sample's output shape under `rule` for input `s`, or why the layer does not take `s` (the check its
 * forward pass makes, or an output no tensor could hold).
 */
function outputOf(rule: Exclude<ShapeRule, { kind: 'unknown' }>, s: readonly number[]): number[] | string {
  const got = shapeText([null, ...s]);
  const image = (channels?: number): string | null =>
    (s.length === 3 && (channels === undefined || s[0] === channels) ? null : `takes [N, ${channels ?? 'C'}, H, W] input, gets ${got}`);
  let out: number[];
  switch (rule.kind) {
    case 'keep': out = [...s]; break;
    case 'flatten': out = [size(s)]; break;
    case 'loss':
      if (s.length !== 1) return `takes [N, classes] input, gets ${got}`;
      return [];
    case 'affine':
      if (size(s) !== rule.inputs) return `takes ${rule.inputs} features a sample, gets ${size(s)} (${got})`;
      out = [rule.outputs];
      break;
    case 'features':
      if (size(s) !== rule.features) return `takes ${rule.features} features a sample, gets ${size(s)} (${got})`;
      out = [...s];
      break;
    case 'channels': {
      const bad = image(rule.channels);
      if (bad) return bad;
      out = [...s];
      break;
    }
    case 'globalAvgPool': {
      const bad = image();
      if (bad) return bad;
      out = [s[0]];
      break;
    }
    case 'conv': case 'pool': {
      const conv = rule.kind === 'conv';
      const bad = image(conv ? rule.channels : undefined);
      if (bad) return bad;
      const [fh, fw] = conv ? [rule.filterH, rule.filterW] : [rule.poolH, rule.poolW];
      const oh = convOutputSize(s[1], fh, rule.stride, rule.pad), ow = convOutputSize(s[2], fw, rule.stride, rule.pad);
      if (oh < 1 || ow < 1) return `a ${fh}×${fw} ${conv ? 'filter' : 'window'} with pad ${rule.pad} does not fit a ${s[1]}×${s[2]} input`;
      out = [conv ? rule.filters : s[0], oh, ow];
      break;
    }
  }
  // beyond this a sample's product is not exact, and no tensor holds one such output
  if (size(out) > MAX_ELEMENTS) return `its output ${shapeText([null, ...out])} holds more than the ${MAX_ELEMENTS} elements a tensor holds`;
  return out;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function elements(tensors: ReadonlyArray<readonly [string, readonly number[]]>): number {
  return tensors.reduce((n, [, shape]) => n + size(shape), 0);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The input shape the net gives itself: its inputShape (a conv net's), else [D] for a first Affine of D inputs, else null. */
function ownInputShape(net: Sequential): number[] | null {
  if (net.inputShape !== null) return [...net.inputShape];
  const W = firstAffineW(net.layers);
  return W && [W[0]];
}

/** inputShape read once (each element once) and checked: one sample's dimensions, positive integers a tensor can hold. */
function checkInputShape(shape: unknown): number[] {
  const expected = "summary: inputShape: expected one sample's dimensions as positive integers";
  if (!Array.isArray(shape)) throw new TypeError(`${expected}, got ${describeValue(shape)}`);
  const n = shape.length;
  const dims: unknown[] = Array.from({ length: n }, (_, i) => shape[i]);
  const got = n <= 8 ? `[${dims.map(shown).join(',')}]` : describeValue(shape);
  if (n === 0) throw new RangeError(`${expected}, got []`);
  if (!dims.every((d) => typeof d === 'number')) throw new TypeError(`${expected}, got ${got}`);
  if (!dims.every((d) => Number.isInteger(d) && (d as number) > 0)) throw new RangeError(`${expected}, got ${got}`);
  shapeSize(dims as number[], 'summary: inputShape'); // one sample no tensor could hold: a RangeError
  return dims as number[];
}

/**
 * A layer's tensors (params or state) with the keys the net gave them: for each, the first key not yet
 * claimed that holds that very tensor (the net keyed them in layer order, so two layers given one tensor,
 * tied weights, get a key each).
 */
function keyed(own: Readonly<Record<string, Tensor>>, net: Readonly<Record<string, Tensor>>, claimed: Set<string>): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [];
  for (const t of Object.values(own)) {
    const key = Object.keys(net).find((k) => !claimed.has(k) && net[k] === t);
    if (key === undefined) continue; // not the net's: a layer whose params changed since the net was built
    claimed.add(key);
    out.push([key, [...t.shape]]);
  }
  return out;
}
