// The per-op planners of importOnnx: each node of the chain, with its attributes and tensors read
// (values.ts), becomes a planned simdnn layer with its values in JavaScript arrays (or folds into the layer
// before or after it: a bias Add, a Pad, a Max of 0, a Transpose to channels last), and the walk's shape
// moves on. A node simdnn cannot reproduce exactly is refused by name. Nothing here allocates runtime memory.
import { convOutputSize, MAX_WINDOW } from '../../index.js';
import type { OnnxDim, OnnxModel, OnnxNode, OnnxTensor } from './decode.js';
import {
  attributes, broadcastBias, epsilon, floatsOf, intsOf, normalizeAxis, refuse, type Attributes,
} from './values.js';
import type { OnnxModelInfo } from './import.js';

/** What each node of the graph became. */
export interface ImportedNode {
  name: string;
  opType: string;
  /** The simdnn layer it became ('Affine [784, 100]'), or why it has none ('dropped: the identity'). */
  becomes: string;
}

/**
 * A layer to build, with its values converted. `from`: the names of the graph's tensors its values were read
 * from, in the order W, b (or gamma, beta, mean, variance), '' for a bias the graph does not give: a named
 * net's keys in a model simdnn wrote (W1, b1, gamma1, …), which importOnnx matches against its spec.
 */
export type Planned =
  // biasless: made without a bias (b zero), which an Add right after may give
  | { kind: 'affine'; W: Float32Array; D: number; M: number; b: Float32Array; biasless: boolean; from: [string, string] }
  | { kind: 'conv'; W: Float32Array; shape: [number, number, number, number]; b: Float32Array; stride: number; pad: number; biasless: boolean; from: [string, string] }
  | { kind: 'pool'; mode: 'max' | 'avg'; kh: number; kw: number; stride: number; pad: number }
  | { kind: 'gap' | 'relu' | 'sigmoid' | 'tanh' | 'flatten' }
  | {
    kind: 'batchnorm'; gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; eps: number; momentum: number; spatial: boolean;
    from: [string, string, string, string];
  }
  | { kind: 'layernorm' | 'instancenorm'; gamma: Float32Array; beta: Float32Array; eps: number }
  | { kind: 'dropout'; ratio: number; inverted: boolean };

const LAYER_NAMES: Record<Planned['kind'], string> = {
  affine: 'Affine', conv: 'Convolution', pool: 'Pooling', gap: 'GlobalAveragePooling', relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh',
  flatten: 'Flatten', batchnorm: 'BatchNormalization', layernorm: 'LayerNormalization', instancenorm: 'InstanceNormalization', dropout: 'Dropout',
};

/** The name of the layer `p` becomes (its `name`). */
export function layerName(p: Planned): string {
  return LAYER_NAMES[p.kind];
}

/**
 * The model planned: its layers, and its input and output and what each node became, as OnnxModelInfo tells them;
 * `made[i]`: the layers of `layers` that node i planned (none, or one), which a named net may read otherwise (named.ts).
 */
export type Plan = Pick<OnnxModelInfo, 'inputShape' | 'batch' | 'inputName' | 'outputName' | 'finalSoftmax' | 'opset' | 'nodes'> & { layers: Planned[]; made: Planned[][] };

/** The ops that compute each value alone, so in any order of the values. */
const ELEMENTWISE = new Set(['Relu', 'Sigmoid', 'Tanh', 'Dropout', 'Identity']);
const OPS = 'Gemm, MatMul (+ Add), Conv, Pad, MaxPool (+ Max), AveragePool, Transpose to channels last before a flatten, GlobalAveragePool, Relu, Sigmoid, Tanh, Flatten, Reshape, BatchNormalization, LayerNormalization, InstanceNormalization, Dropout, Identity, a last Softmax or LogSoftmax, Constant';

/** The walk's state: the chain's current value and its per-sample shape, in ONNX's terms and in the net's. */
export class Walk {
  readonly layers: Planned[] = [];
  readonly nodes: ImportedNode[] = [];
  /** The value the chain has reached (a graph value's name). */
  current: string;
  /** Its per-sample shape as the ONNX graph has it. */
  shape: number[];
  /** The net's per-sample shape there: the same, but [C] where a GlobalAveragePool made ONNX's [C, 1, 1]. */
  ours: number[];
  /** Whether every value there is ≥ 0 or NaN (after a Relu or a Sigmoid, through pooling and reshapes). */
  nonNegative = false;
  /** The Affine or Convolution the last node made without a bias, which an Add right after it may give. */
  biasless: Extract<Planned, { kind: 'affine' | 'conv' }> | null = null;
  finalSoftmax: 'Softmax' | 'LogSoftmax' | null = null;
  /** Zero padding a Pad node just added on every side of the images, for the Conv or pooling after it (null: none). */
  pad: { size: number; at: string } | null = null;
  /**
   * The Flatten layer last planned and the shape it flattened, while only layers that treat each value of a
   * sample alike whatever its shape follow it: a Reshape back to that shape undoes it (exportOnnx writes a
   * batch norm per feature of images as Flatten, BatchNormalization, Reshape).
   */
  flattened: { index: number; shape: number[]; ours: number[] } | null = null;
  /**
   * A Transpose to channels last ([N, H, W, C], as tf2onnx writes before a Keras Flatten) that the net does not
   * make: its values stay [N, C, H, W], and the flatten after it leaves `rowOrder`, the reordering of the next
   * Gemm's or MatMul's weight rows that makes it read our order (exact: the same products, the same sums).
   */
  channelsLast: { C: number; H: number; W: number; at: string } | null = null;
  rowOrder: { C: number; H: number; W: number; at: string } | null = null;
  /**
   * A padded MaxPool just planned: the Max with `floor` (0 on the windows that reach the padding, −∞ on the
   * others) that makes ONNX's −∞ padding ours, which must follow it unless its input is ≥ 0 (`required`).
   */
  maxFloor: { at: string; pad: number; floor: Float32Array; dims: number[]; required: boolean } | null = null;

  constructor(readonly model: OnnxModel, readonly opset: number, readonly batch: OnnxDim, input: string, shape: number[]) {
    this.current = input;
    this.shape = shape;
    this.ours = shape;
  }
}

/** Why a padded MaxPool on values that may be negative is refused. */
export function maxPadding(pad: number): string {
  return `pads with ${pad}: ONNX pads max pooling with −∞ and simdnn with zeros, the same only on values ≥ 0 (after a Relu or Sigmoid) or with a Max of 0 on the windows that reach the padding after it (as exportOnnx writes)`;
}

/** Plans one node of the chain (its data input is walk.current); returns what it became. */
export function planNode(walk: Walk, node: OnnxNode, at: string, constants: Map<string, OnnxTensor>): string {
  const constant = (i: number, what: string): OnnxTensor | null => {
    const name = node.inputs[i];
    if (name === undefined || name === '') return null;
    const t = constants.get(name);
    if (!t) refuse(at, `takes its ${what} from '${name}', which is not a constant`);
    return t;
  };
  const needed = (i: number, what: string): OnnxTensor => constant(i, what) ?? refuse(at, `has no ${what} (input ${i})`);
  const maxInputs = (n: number) => {
    if (node.inputs.length > n) refuse(at, `has ${node.inputs.length} inputs; simdnn reads ${n}`);
  };
  const first = () => {
    if (node.inputs[0] !== walk.current) refuse(at, `takes the chain's value '${walk.current}' as input ${node.inputs.indexOf(walk.current)}, not as its first`);
  };
  const op = node.opType;
  const layout = walk.channelsLast ?? walk.rowOrder;
  if (layout && !ELEMENTWISE.has(op) && !(walk.channelsLast && (op === 'Flatten' || op === 'Reshape' || op === 'Transpose')) && !(walk.rowOrder && (op === 'Gemm' || op === 'MatMul'))) {
    refuse(at, `follows ${layout.at}, whose channels-last order simdnn reads only through elementwise ops, a flatten and the Gemm or MatMul after it`);
  }
  switch (node.opType) {
    case 'Gemm': first(); maxInputs(3); return planGemm(walk, node, at, needed(1, 'weight B'), constant(2, 'bias C'));
    case 'MatMul': first(); maxInputs(2); return planMatMul(walk, node, at, needed(1, 'weight B'));
    case 'Add': maxInputs(2); return planBiasAdd(walk, node, at, needed(node.inputs[0] === walk.current ? 1 : 0, 'bias'));
    case 'Conv': first(); maxInputs(3); return planConv(walk, node, at, needed(1, 'weight W'), constant(2, 'bias B'));
    case 'MaxPool': case 'AveragePool': first(); maxInputs(1); return planPool(walk, node, at);
    case 'GlobalAveragePool': {
      first(); maxInputs(1); attributes(node, at, {});
      const [C] = images(walk, at);
      walk.layers.push({ kind: 'gap' });
      walk.shape = [C, 1, 1];
      walk.ours = [C]; // nonNegative stays: a mean of values ≥ 0 is ≥ 0
      return `GlobalAveragePooling → [${C}]`;
    }
    case 'Relu': case 'Sigmoid': case 'Tanh': {
      first(); maxInputs(1); attributes(node, at, {});
      walk.layers.push({ kind: node.opType === 'Relu' ? 'relu' : node.opType === 'Sigmoid' ? 'sigmoid' : 'tanh' });
      walk.nonNegative = node.opType !== 'Tanh';
      return node.opType;
    }
    case 'Flatten': {
      first(); maxInputs(1);
      const a = attributes(node, at, { axis: 'int' });
      const axis = normalizeAxis(at, a.int('axis', 1), walk.shape.length + 1);
      if (axis !== 1) refuse(at, `flattens from axis ${axis}; simdnn flattens each sample (axis 1)`);
      return flatten(walk);
    }
    case 'Reshape': first(); maxInputs(2); return planReshape(walk, node, at, needed(1, 'shape'));
    case 'Transpose': first(); maxInputs(1); return planTranspose(walk, node, at);
    case 'Pad': first(); maxInputs(4); return planPad(walk, node, at, constant(1, 'pads'), constant(2, 'constant_value'), constant(3, 'axes'));
    case 'Max': maxInputs(2); return planMaxFloor(walk, node, at, needed(node.inputs[0] === walk.current ? 1 : 0, 'floor'));
    case 'Mul': maxInputs(2); return planScale(walk, node, at, needed(node.inputs[0] === walk.current ? 1 : 0, 'factor'));
    case 'BatchNormalization': first(); maxInputs(5); return planBatchNorm(walk, node, at, [needed(1, 'scale'), needed(2, 'bias B'), needed(3, 'mean'), needed(4, 'variance')]);
    case 'LayerNormalization': first(); maxInputs(3); return planLayerNorm(walk, node, at, needed(1, 'scale'), constant(2, 'bias B'));
    case 'InstanceNormalization': {
      first(); maxInputs(3);
      const a = attributes(node, at, { epsilon: 'float' });
      const [C] = images(walk, at);
      const gamma = floatsOf(needed(1, 'scale'), at, 'scale', [C]), beta = floatsOf(needed(2, 'bias B'), at, 'bias B', [C]);
      const eps = epsilon(at, a.float('epsilon', 1e-5));
      walk.layers.push({ kind: 'instancenorm', gamma, beta, eps });
      walk.nonNegative = false;
      return `InstanceNormalization (eps ${eps})`;
    }
    case 'Dropout': first(); maxInputs(3); return planDropout(walk, node, at, constant(1, 'ratio'), constant(2, 'training_mode'));
    case 'Identity': first(); maxInputs(1); return 'dropped: the identity';
    case 'Softmax': case 'LogSoftmax': {
      first(); maxInputs(1);
      const a = attributes(node, at, { axis: 'int' });
      if (walk.model.graph.outputs[0].name !== node.outputs[0]) refuse(at, 'is not the graph\'s last node; simdnn has softmax only in its loss, so it reads a Softmax only at the end');
      if (walk.ours.length !== 1) refuse(at, `takes [N, ${walk.shape.join(', ')}]; simdnn reads a final softmax over [N, classes]`);
      const axis = normalizeAxis(at, a.int('axis', walk.opset >= 13 ? -1 : 1), walk.shape.length + 1);
      // over the classes: from opset 13 the op runs over its one axis (every other sample axis must be 1, as
      // after a GlobalAveragePool's [C, 1, 1]); before, over the axes from `axis` on (those before it must be 1)
      const sample = walk.shape;
      const overClasses = axis >= 1 && (walk.opset >= 13 ? sample.every((d, i) => i + 1 === axis || d === 1) : sample.slice(0, axis - 1).every((d) => d === 1));
      if (!overClasses) refuse(at, `runs over axis ${axis} of [N, ${sample.join(', ')}] (opset ${walk.opset}), not over the classes; simdnn reads a final softmax over them`);
      walk.finalSoftmax = node.opType;
      return `left out: the net outputs the scores before the ${node.opType}`;
    }
    default:
      return refuse(at, `has no simdnn layer (simdnn imports ${OPS})`);
  }
}

function flatten(walk: Walk): string {
  const n = walk.shape.reduce((a, b) => a * b, 1);
  const had = walk.ours.length > 1;
  if (had) {
    walk.flattened = { index: walk.layers.length, shape: walk.shape, ours: walk.ours };
    walk.layers.push({ kind: 'flatten' });
  }
  walk.rowOrder = walk.channelsLast;
  walk.channelsLast = null;
  walk.shape = [n];
  walk.ours = [n];
  return had ? `Flatten → [${n}]` : `dropped: the values are [N, ${n}] already`;
}

/** The chain's value as images: its [C, H, W], or a refusal. */
function images(walk: Walk, at: string): [number, number, number] {
  if (walk.shape.length !== 3) refuse(at, `takes [N, ${walk.shape.join(', ')}]; simdnn reads it on images [N, C, H, W]`);
  if (walk.ours.length !== 3) refuse(at, 'follows a GlobalAveragePool, whose [N, C, 1, 1] simdnn holds as [N, C]; it reads no image layer after it');
  return walk.shape as [number, number, number];
}

function planGemm(walk: Walk, node: OnnxNode, at: string, B: OnnxTensor, C: OnnxTensor | null): string {
  const a = attributes(node, at, { alpha: 'float', beta: 'float', transA: 'int', transB: 'int' });
  if (a.int('transA', 0) !== 0) refuse(at, 'has transA = 1; simdnn reads Gemm with the data as its first operand untransposed');
  const transB = a.int('transB', 0);
  if (transB !== 0 && transB !== 1) refuse(at, `has transB = ${transB}, not 0 or 1`);
  const D = rows(walk, at);
  const dims = B.dims;
  if (dims.length !== 2 || dims[transB ? 1 : 0] !== D) refuse(at, `has a weight B of [${dims.join(', ')}] for ${D} features${transB ? ' (transB = 1: [outputs, inputs])' : ''}`);
  const M = dims[transB ? 0 : 1];
  if (!(M >= 1)) refuse(at, `has a weight B of [${dims.join(', ')}]: no outputs`);
  let W = floatsOf(B, at, 'weight B', dims);
  if (transB) W = transpose(W, M, D);
  W = rowsInOurOrder(walk, W, M);
  const alpha = a.float('alpha', 1), beta = a.float('beta', 1);
  // alpha·(x·B) = x·(alpha·B) in float32 exactly when alpha is a power of two and no weight leaves the range
  if (alpha !== 1) {
    if (!isPowerOfTwo(Math.abs(alpha))) refuse(at, `has alpha = ${alpha}; simdnn folds alpha into the weights only when that is exact (a power of two), and would round otherwise`);
    for (let i = 0; i < W.length; i++) {
      const w = Math.fround(alpha * W[i]);
      if (w / alpha !== W[i]) refuse(at, `has alpha = ${alpha}, which takes weight ${i} (${W[i]}) beyond float32's range or precision`);
      W[i] = w;
    }
  }
  let b: Float32Array = new Float32Array(M);
  if (C) {
    b = broadcastBias(C, at, 'bias C', M, [[M], [1, M], [1], []]);
    for (let i = 0; i < M; i++) {
      const v = Math.fround(beta * b[i]); // beta·C, rounded once as a float32 Gemm computes it
      if (!Number.isFinite(v) && Number.isFinite(b[i])) refuse(at, `has beta = ${beta}, which takes bias ${i} beyond float32's range`);
      b[i] = v;
    }
  }
  walk.layers.push({ kind: 'affine', W, D, M, b, biasless: !C, from: [B.name, C?.name ?? ''] });
  walk.shape = walk.ours = [M];
  walk.nonNegative = false;
  return `Affine [${D}, ${M}]${C ? '' : ' (no bias)'}`;
}

function planMatMul(walk: Walk, node: OnnxNode, at: string, B: OnnxTensor): string {
  attributes(node, at, {});
  const D = rows(walk, at);
  if (B.dims.length !== 2 || B.dims[0] !== D) refuse(at, `has a weight of [${B.dims.join(', ')}] for ${D} features; simdnn reads MatMul by a [${D}, outputs] matrix`);
  const M = B.dims[1];
  if (!(M >= 1)) refuse(at, `has a weight of [${B.dims.join(', ')}]: no outputs`);
  walk.layers.push({ kind: 'affine', W: rowsInOurOrder(walk, floatsOf(B, at, 'weight', B.dims), M), D, M, b: new Float32Array(M), biasless: true, from: [B.name, ''] });
  walk.shape = walk.ours = [M];
  walk.nonNegative = false;
  return `Affine [${D}, ${M}] (its bias from an Add after it, if any)`;
}

/**
 * W [D, M] with its rows reordered from a channels-last flatten's order ((h·W + w)·C + c) to ours
 * (c·H·W + h·W + w), where a Transpose to channels last came before the flatten (Walk.rowOrder); W itself otherwise.
 */
function rowsInOurOrder(walk: Walk, W: Float32Array, M: number): Float32Array {
  const order = walk.rowOrder;
  if (!order) return W;
  walk.rowOrder = null;
  const { C, H, W: width } = order;
  const out = new Float32Array(W.length);
  for (let c = 0; c < C; c++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < width; w++) {
        const ours = (c * H + h) * width + w, theirs = (h * width + w) * C + c;
        out.set(W.subarray(theirs * M, theirs * M + M), ours * M);
      }
    }
  }
  return out;
}

/** A Transpose: to channels last before a flatten (Walk.channelsLast), back, or the identity; any other is refused. */
function planTranspose(walk: Walk, node: OnnxNode, at: string): string {
  const perm = attributes(node, at, { perm: 'ints' }).ints('perm') ?? [...walk.shape.keys(), walk.shape.length].reverse(); // default: reversed axes
  const is = (p: number[]) => perm.length === p.length && perm.every((v, i) => v === p[i]);
  if (perm.every((v, i) => v === i)) return 'dropped: the identity permutation';
  if (is([0, 2, 3, 1]) && !walk.channelsLast && walk.shape.length === 3 && walk.ours.length === 3) {
    const [C, H, W] = walk.shape;
    walk.channelsLast = { C, H, W, at };
    walk.shape = [H, W, C];
    return 'dropped: the net keeps channels first, and the Gemm or MatMul after the flatten reads its rows in that order';
  }
  if (is([0, 3, 1, 2]) && walk.channelsLast) {
    const { C, H, W } = walk.channelsLast;
    walk.channelsLast = null;
    walk.shape = [C, H, W];
    return 'dropped: back to channels first';
  }
  if (is([0, 3, 1, 2]) && walk.layers.length === 0) {
    refuse(at, 'turns channels-last images (a Keras model\'s NHWC input) into channels first; simdnn nets take [N, C, H, W] (tf2onnx --inputs-as-nchw makes the model take them too)');
  }
  return refuse(at, `permutes [N, ${walk.shape.join(', ')}] by [${perm.join(', ')}]; simdnn reads a Transpose only to channels last before a flatten`);
}

/** An Add of a constant right after a MatMul, Gemm or Conv without a bias: that layer's bias. */
function planBiasAdd(walk: Walk, node: OnnxNode, at: string, c: OnnxTensor): string {
  attributes(node, at, {});
  const layer = walk.biasless;
  if (!layer) refuse(at, 'adds a constant other than the bias of a MatMul, Gemm or Conv right before it; simdnn has no layer for it');
  layer.biasless = false;
  layer.from[1] = c.name;
  if (layer.kind === 'affine') {
    layer.b = broadcastBias(c, at, 'bias', layer.M, [[layer.M], [1, layer.M], [1], []]);
  } else {
    const FN = layer.shape[0];
    layer.b = broadcastBias(c, at, 'bias', FN, [[FN, 1, 1], [1, FN, 1, 1], [1], []]);
  }
  return `the bias of the ${layer.kind === 'affine' ? 'Affine' : 'Convolution'} before`;
}

/** A sample's features as a Gemm/MatMul takes them ([N, D] values), or a refusal. */
function rows(walk: Walk, at: string): number {
  if (walk.shape.length !== 1) refuse(at, `takes [N, ${walk.shape.join(', ')}]; simdnn reads it on [N, features] (a Flatten before it)`);
  return walk.shape[0];
}

function planConv(walk: Walk, node: OnnxNode, at: string, Wt: OnnxTensor, B: OnnxTensor | null): string {
  const a = attributes(node, at, { auto_pad: 'string', dilations: 'ints', group: 'int', kernel_shape: 'ints', pads: 'ints', strides: 'ints' });
  const [C, H, Wd] = images(walk, at);
  if (Wt.dims.length !== 4) refuse(at, `has a weight of [${Wt.dims.join(', ')}]; simdnn reads 2-D convolutions, [filters, channels, height, width]`);
  const [FN, WC, FH, FW] = Wt.dims;
  if (!Wt.dims.every((d) => d >= 1)) refuse(at, `has a weight of [${Wt.dims.join(', ')}]: an empty filter bank`);
  const group = a.int('group', 1);
  if (group !== 1) refuse(at, `has group = ${group}; simdnn's Convolution is not grouped (depthwise)`);
  if (WC !== C) refuse(at, `has a weight of [${Wt.dims.join(', ')}] for ${C} input channels`);
  const kernel = a.ints('kernel_shape');
  if (kernel && (kernel.length !== 2 || kernel[0] !== FH || kernel[1] !== FW)) refuse(at, `has kernel_shape [${kernel.join(', ')}] but a weight of [${Wt.dims.join(', ')}]`);
  const { stride, pad } = window2d(a, at, [H, Wd], [FH, FW], 'filter', walk.pad);
  walk.pad = null;
  const W = floatsOf(Wt, at, 'weight W', Wt.dims);
  const b = B ? floatsOf(B, at, 'bias B', [FN]) : new Float32Array(FN);
  const OH = convOutputSize(H, FH, stride, pad), OW = convOutputSize(Wd, FW, stride, pad);
  if (OH < 1 || OW < 1) refuse(at, `has a ${FH}×${FW} filter with pad ${pad} that does not fit a ${H}×${Wd} input`);
  walk.layers.push({ kind: 'conv', W, shape: [FN, C, FH, FW], b, stride, pad, biasless: !B, from: [Wt.name, B?.name ?? ''] });
  walk.shape = walk.ours = [FN, OH, OW];
  walk.nonNegative = false;
  return `Convolution ${FN}×${C}×${FH}×${FW}, stride ${stride}, pad ${pad} → [${FN}, ${OH}, ${OW}]`;
}

function planPool(walk: Walk, node: OnnxNode, at: string): string {
  const max = node.opType === 'MaxPool';
  const a = attributes(node, at, max
    ? { auto_pad: 'string', ceil_mode: 'int', dilations: 'ints', kernel_shape: 'ints', pads: 'ints', storage_order: 'int', strides: 'ints' }
    : { auto_pad: 'string', ceil_mode: 'int', count_include_pad: 'int', dilations: 'ints', kernel_shape: 'ints', pads: 'ints', strides: 'ints' });
  const [C, H, W] = images(walk, at);
  const kernel = a.ints('kernel_shape');
  if (!kernel || kernel.length !== 2) refuse(at, `has kernel_shape ${kernel ? `[${kernel.join(', ')}]` : 'missing'}; simdnn pools 2-D windows`);
  const [kh, kw] = kernel;
  if (!(kh >= 1 && kw >= 1 && kh * kw <= MAX_WINDOW)) refuse(at, `has a ${kh}×${kw} window; simdnn pools windows of 1 to ${MAX_WINDOW} values`);
  const padded = walk.pad !== null; // zeros that take part in the window, as ours
  const { stride, pad } = window2d(a, at, [H, W], [kh, kw], 'window', walk.pad);
  walk.pad = null;
  const OH = convOutputSize(H, kh, stride, pad), OW = convOutputSize(W, kw, stride, pad);
  if (OH < 1 || OW < 1) refuse(at, `has a ${kh}×${kw} window with pad ${pad} that does not fit a ${H}×${W} input`);
  // ceil_mode counts a last, partial window; where the sizes leave none, the outputs are the same
  if (a.int('ceil_mode', 0) !== 0) {
    const ceil = (n: number, k: number) => Math.ceil((n + 2 * pad - k) / stride) + 1;
    if (ceil(H, kh) !== OH || ceil(W, kw) !== OW) refuse(at, `has ceil_mode = 1, which gives a last partial window here; simdnn's pooling takes whole windows (ceil_mode 0)`);
  }
  if (pad > 0 && max && !padded) {
    // ONNX pads max pooling with −∞, ours with zeros: the same maximum where no value is below 0, or where a Max
    // with 0 on the windows that reach the padding follows (exportOnnx's form)
    if (pad >= kh || pad >= kw) refuse(at, `pads ${pad} with a ${kh}×${kw} window: a window may hold padding only`);
    const reaches = (o: number, k: number, size: number) => o * stride - pad < 0 || o * stride - pad + k > size;
    const floor = Float32Array.from({ length: OH * OW }, (_, i) => (reaches(Math.floor(i / OW), kh, H) || reaches(i % OW, kw, W) ? 0 : -Infinity));
    walk.maxFloor = { at, pad, floor, dims: [OH, OW], required: !walk.nonNegative };
  }
  if (pad > 0 && !max && !padded && a.int('count_include_pad', 0) !== 1) {
    refuse(at, `pads with ${pad} and count_include_pad = 0: it averages over the values inside the image, simdnn over the whole window (count_include_pad = 1)`);
  }
  if (max && a.int('storage_order', 0) !== 0) refuse(at, 'has storage_order = 1 (column-major indices); simdnn reads MaxPool\'s values only');
  walk.layers.push({ kind: 'pool', mode: max ? 'max' : 'avg', kh, kw, stride, pad });
  walk.shape = walk.ours = [C, OH, OW];
  return `Pooling (${max ? 'max' : 'avg'}) ${kh}×${kw}, stride ${stride}, pad ${pad} → [${C}, ${OH}, ${OW}]`;
}

/**
 * A convolution's or pooling's stride and padding, which simdnn holds as one number each: equal strides,
 * dilations 1, and the same padding on every side (pads, or the one auto_pad computes).
 */
function window2d(a: Attributes, at: string, size: [number, number], kernel: [number, number], what: string, padding: Walk['pad']): { stride: number; pad: number } {
  const dilations = a.ints('dilations');
  if (dilations && dilations.some((d) => d !== 1)) refuse(at, `has dilations [${dilations.join(', ')}]; simdnn's ${what}s are not dilated`);
  const strides = a.ints('strides') ?? [1, 1];
  if (strides.length !== 2 || strides[0] !== strides[1]) refuse(at, `has strides [${strides.join(', ')}]; simdnn moves a ${what} by one stride along both axes`);
  const stride = strides[0];
  if (!(stride >= 1 && stride <= MAX_WINDOW)) refuse(at, `has stride ${stride}; simdnn takes 1 to ${MAX_WINDOW}`);
  const autoPad = a.string('auto_pad', 'NOTSET');
  let pads: number[];
  if (autoPad === 'NOTSET') {
    pads = a.ints('pads') ?? [0, 0, 0, 0];
    if (pads.length !== 4) refuse(at, `has pads [${pads.join(', ')}]; simdnn reads 2-D padding [top, left, bottom, right]`);
  } else if (autoPad === 'VALID') {
    pads = [0, 0, 0, 0];
  } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    // the padding SAME gives, split evenly when the total is even (then UPPER and LOWER agree)
    const total = size.map((n, i) => Math.max(0, (Math.ceil(n / stride) - 1) * stride + kernel[i] - n));
    if (total.some((t) => t % 2 !== 0)) refuse(at, `has auto_pad ${autoPad}, which pads one side more than the other here (${total.join(' and ')} in all); simdnn pads every side alike`);
    pads = [total[0] / 2, total[1] / 2, total[0] / 2, total[1] / 2];
  } else {
    return refuse(at, `has auto_pad '${autoPad}', not NOTSET, VALID, SAME_UPPER or SAME_LOWER`);
  }
  if (pads.some((p) => p !== pads[0])) refuse(at, `has pads [${pads.join(', ')}]; simdnn pads every side of an image alike`);
  let pad = pads[0];
  if (padding) {
    // the zeros of a Pad before: a Conv's, or a pooling's that counts them (ours), with none of its own on top
    if (pad !== 0) refuse(at, `pads by ${pad} after ${padding.at} padded; simdnn reads one padding`);
    pad = padding.size;
  }
  if (!(pad >= 0 && pad <= MAX_WINDOW)) refuse(at, `has pad ${pad}; simdnn takes 0 to ${MAX_WINDOW}`);
  return { stride, pad };
}

function planReshape(walk: Walk, node: OnnxNode, at: string, shapeTensor: OnnxTensor): string {
  const a = attributes(node, at, { allowzero: 'int' });
  const allowZero = a.int('allowzero', 0) === 1;
  const target = intsOf(shapeTensor, at, 'shape');
  const n = walk.shape.reduce((x, y) => x * y, 1);
  const [first, second] = target;
  const u = walk.flattened;
  const batchDim = (d: number) => (d === 0 && !allowZero) || d === -1 || (typeof walk.batch === 'number' && d === walk.batch);
  if (u && target.length === u.shape.length + 1 && batchDim(first) && u.shape.every((d, i) => target[i + 1] === d)) {
    walk.layers.splice(u.index, 1);
    walk.shape = u.shape;
    walk.ours = u.ours;
    walk.flattened = null;
    return `undoes the Flatten before it (the layers between treat each value alike, whatever the shape)`;
  }
  // [N, features] in the forms exporters write: [0, -1] (0: the batch, unless allowzero), [-1, n], [batch, -1] for a fixed batch
  const batchFirst = (first === 0 && !allowZero) || (typeof walk.batch === 'number' && first === walk.batch) || (first === -1 && second === n);
  if (target.length !== 2 || !batchFirst || !(second === n || (second === -1 && first !== -1))) {
    refuse(at, `reshapes [N, ${walk.shape.join(', ')}] to [${target.join(', ')}]; simdnn reads a Reshape only as a flatten to [N, ${n}]`);
  }
  return flatten(walk);
}

/**
 * A Pad of zeros on every side of the images alike: held for the Conv, MaxPool or AveragePool after it,
 * whose padding it becomes (ours pads with zeros that a max or an average takes in, as the Pad's do).
 */
function planPad(walk: Walk, node: OnnxNode, at: string, padsTensor: OnnxTensor | null, valueTensor: OnnxTensor | null, axesTensor: OnnxTensor | null): string {
  const a = attributes(node, at, { mode: 'string', pads: 'ints', value: 'float' });
  images(walk, at);
  if (walk.pad) refuse(at, `follows ${walk.pad.at}; simdnn reads one Pad before a Conv or pooling`);
  if (a.string('mode', 'constant') !== 'constant') refuse(at, `has mode '${a.string('mode', 'constant')}'; simdnn pads with zeros (constant mode)`);
  if (axesTensor) refuse(at, 'has axes; simdnn reads pads for every axis');
  const pads = padsTensor ? intsOf(padsTensor, at, 'pads') : a.ints('pads') ?? refuse(at, 'has no pads');
  const value = valueTensor ? floatsOf(valueTensor, at, 'constant_value', null) : [a.float('value', 0)];
  if (value.length !== 1 || value[0] !== 0) refuse(at, `pads with ${value[0]}; simdnn pads with zeros`);
  // [N, C, H, W]'s begins then ends: none on the batch and channels, one size on the four sides
  const p = pads[2];
  if (pads.length !== 8 || pads[0] !== 0 || pads[1] !== 0 || pads[4] !== 0 || pads[5] !== 0 || pads[3] !== p || pads[6] !== p || pads[7] !== p || !(p >= 0 && p <= MAX_WINDOW)) {
    refuse(at, `has pads [${pads.join(', ')}]; simdnn pads the images' four sides alike`);
  }
  if (p === 0) return 'dropped: pads nothing';
  walk.pad = { size: p, at }; // the next layer's padding: the chain's shape stays the unpadded one
  return `the padding (${p}) of the layer after it`;
}

/** The Max with 0 on a padded MaxPool's border windows (Walk.maxFloor) right after it: its padding made ours. */
function planMaxFloor(walk: Walk, node: OnnxNode, at: string, c: OnnxTensor): string {
  attributes(node, at, {});
  const m = walk.maxFloor;
  if (!m) refuse(at, 'takes the maximum with a constant other than right after a padded MaxPool; simdnn has no layer for it');
  const floor = floatsOf(c, at, 'floor', m.dims); // [OH, OW], or [1, 1, OH, OW]: the same values
  if (!floor.every((v, i) => v === m.floor[i])) refuse(at, `takes the maximum with values other than 0 on the border windows of ${m.at} and −∞ on the others`);
  walk.maxFloor = null;
  return `the zero padding of the MaxPool before it (0 on its ${floor.filter((v) => v === 0).length} border windows)`;
}

/**
 * A Mul by one constant factor s in (0, 1]: what simdnn's exportOnnx writes for the book's Dropout (which
 * scales by 1 − ratio at inference), read back as that Dropout only from a model simdnn wrote; the layer must
 * give s exactly. A scaling in another model has no simdnn layer.
 */
function planScale(walk: Walk, node: OnnxNode, at: string, factor: OnnxTensor): string {
  attributes(node, at, {});
  if (walk.model.producerName !== 'simdnn') refuse(at, 'multiplies by a constant; simdnn has no layer for it (it reads a Mul only as the book\'s Dropout in models simdnn wrote)');
  const s = floatsOf(factor, at, 'factor', null);
  if (s.length !== 1 || factor.dims.length > 0 && factor.dims.some((d) => d !== 1)) refuse(at, `multiplies by ${s.length} values; simdnn reads a Mul by one factor (the book's Dropout) only`);
  const ratio = 1 - s[0];
  if (!(ratio >= 0 && ratio < 1 && Math.fround(1 - ratio) === s[0])) refuse(at, `multiplies by ${s[0]}, which no Dropout's 1 − ratio gives exactly`);
  if (ratio === 0) return 'dropped: multiplies by 1';
  walk.layers.push({ kind: 'dropout', ratio, inverted: false }); // nonNegative stays: a factor > 0
  return `Dropout (ratio ${ratio}, the book's form: scales by ${s[0]} in predict)`;
}

function planBatchNorm(walk: Walk, node: OnnxNode, at: string, [scale, bias, mean, variance]: OnnxTensor[]): string {
  const a = attributes(node, at, { epsilon: 'float', momentum: 'float', training_mode: 'int', spatial: 'int' });
  if (a.int('training_mode', 0) !== 0) refuse(at, 'has training_mode = 1; simdnn reads batch normalization in inference mode (running statistics)');
  if (a.int('spatial', 1) !== 1) refuse(at, 'has spatial = 0 (statistics per value of a sample); simdnn reads per-channel statistics');
  const spatial = walk.ours.length === 3;
  if (!spatial && walk.ours.length !== 1) refuse(at, `takes [N, ${walk.shape.join(', ')}]; simdnn reads it on [N, C] or [N, C, H, W]`);
  const C = walk.shape[0];
  const [gamma, beta, m, v] = [[scale, 'scale'], [bias, 'bias B'], [mean, 'mean'], [variance, 'variance']].map(([t, what]) => floatsOf(t as OnnxTensor, at, what as string, [C]));
  const bad = v.findIndex((x) => !(x >= 0));
  if (bad >= 0) refuse(at, `has a running variance of ${v[bad]} at index ${bad}; a variance is never negative or NaN`);
  const eps = epsilon(at, a.float('epsilon', 1e-5));
  const momentum = a.float('momentum', 0.9);
  if (!(momentum >= 0 && momentum <= 1)) refuse(at, `has momentum ${momentum}, not in [0, 1]`);
  walk.layers.push({ kind: 'batchnorm', gamma, beta, mean: m, variance: v, eps, momentum, spatial, from: [scale.name, bias.name, mean.name, variance.name] });
  walk.nonNegative = false;
  return `BatchNormalization${spatial ? ' (per channel)' : ''} over ${C}, eps ${eps}, momentum ${momentum}`;
}

function planLayerNorm(walk: Walk, node: OnnxNode, at: string, scale: OnnxTensor, bias: OnnxTensor | null): string {
  const a = attributes(node, at, { axis: 'int', epsilon: 'float', stash_type: 'int' });
  const axis = normalizeAxis(at, a.int('axis', -1), walk.shape.length + 1);
  if (axis !== 1) refuse(at, `normalizes from axis ${axis}; simdnn's LayerNormalization normalizes each sample whole (axis 1)`);
  if (a.int('stash_type', 1) !== 1) refuse(at, 'has stash_type other than float32; simdnn computes its statistics in float32');
  const n = walk.shape.reduce((x, y) => x * y, 1);
  const dims = walk.shape;
  const gamma = floatsOf(scale, at, 'scale', dims);
  const beta = bias ? floatsOf(bias, at, 'bias B', dims) : new Float32Array(n);
  const eps = epsilon(at, a.float('epsilon', 1e-5));
  walk.layers.push({ kind: 'layernorm', gamma, beta, eps });
  walk.nonNegative = false;
  return `LayerNormalization over ${n}, eps ${eps}`;
}

function planDropout(walk: Walk, node: OnnxNode, at: string, ratioTensor: OnnxTensor | null, trainingTensor: OnnxTensor | null): string {
  const a = attributes(node, at, { ratio: 'float', seed: 'int' });
  let ratio = a.float('ratio', 0.5);
  if (ratioTensor) {
    const r = floatsOf(ratioTensor, at, 'ratio', null);
    if (r.length !== 1) refuse(at, `has a ratio of ${r.length} values, not 1`);
    ratio = r[0];
  }
  if (trainingTensor && intsOf(trainingTensor, at, 'training_mode').some((v) => v !== 0)) refuse(at, 'has training_mode = true: it drops values when the model runs; simdnn reads inference graphs');
  if (!(ratio >= 0 && ratio < 1)) refuse(at, `has ratio ${ratio}, not in [0, 1)`);
  if (ratio === 0) return 'dropped: ratio 0, the identity';
  // the identity in predict, as in ONNX; drops with the model's ratio while the net is trained further
  walk.layers.push({ kind: 'dropout', ratio, inverted: true });
  return `Dropout (ratio ${ratio}, inverted: the identity in predict)`;
}

function transpose(w: Float32Array, rowsIn: number, colsIn: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rowsIn; r++) for (let c = 0; c < colsIn; c++) out[c * rowsIn + r] = w[r * colsIn + c];
  return out;
}

/** Whether a (positive, finite) number is a power of two: 2^k for an integer k, a float64 normal or subnormal. */
function isPowerOfTwo(a: number): boolean {
  if (!(a > 0 && Number.isFinite(a))) return false;
  const bits = new DataView(new Float64Array([a]).buffer);
  const hi = bits.getUint32(4, true), lo = bits.getUint32(0, true);
  const mantissaHi = hi & 0xfffff, exponent = hi >>> 20;
  if (exponent !== 0) return mantissaHi === 0 && lo === 0;
  return (mantissaHi === 0 ? lo & (lo - 1) : (lo === 0 ? mantissaHi & (mantissaHi - 1) : 1)) === 0; // one bit set
}
