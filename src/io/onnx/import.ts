// importOnnx: the bytes of an ONNX model (PyTorch's torch.onnx.export, Keras through tf2onnx,
// simdnn's exportOnnx) → a Sequential holding its weights. The graph is decoded (decode.ts), then walked
// as a chain from its one input to its one output, each node mapped to a simdnn layer with its weights
// converted to float32 in JavaScript arrays, and only then is runtime memory allocated: the parameters
// in one ParameterSet (the net's, freed with it), the layers over it. A node simdnn cannot reproduce
// exactly (a branch, an op or attribute without a layer, a pooling whose padding differs from ours, a
// Gemm scale that would round differently) is refused by name before anything is allocated: an import
// that approximates would give predictions that differ from the model's without a word.
import {
  Affine, BatchNormalization, checkOptions, checkRuntime, Convolution, convOutputSize, decodeFloats, describeValue,
  Dropout, Flatten, GlobalAveragePooling, InstanceNormalization, LayerNormalization, MAX_ELEMENTS, MAX_WINDOW,
  ParameterSet, Pooling, Relu, SafetensorsError, Sequential, Sigmoid, Tanh, type Layer, type Runtime,
} from '../../index.js';
import { ATTRIBUTE_TYPE, DATA_TYPE, DATA_TYPE_MORE } from './fields.js';
import { OnnxError, decodeOnnx, type OnnxAttribute, type OnnxDim, type OnnxModel, type OnnxNode, type OnnxTensor } from './decode.js';

export { OnnxError };

/** Options of importOnnx; an unknown key is a TypeError. */
export interface ImportOnnxOptions {
  /**
   * One sample's shape (e.g. [1, 28, 28]): needed where the graph's input leaves a dimension other than the
   * batch unnamed or symbolic; where the graph gives it, it must agree.
   */
  inputShape?: readonly number[];
}

/** What each node of the graph became. */
export interface ImportedNode {
  name: string;
  opType: string;
  /** The simdnn layer it became ('Affine [784, 100]'), or why it has none ('dropped: the identity'). */
  becomes: string;
}

/** What inspectOnnx tells of a model, read and checked as importOnnx reads it, without a net. */
export interface OnnxModelInfo {
  /** The layers the net would have, in order ('Affine', 'Relu', …), as its `layers[i].name`. */
  layers: string[];
  /** The net's learned values (weights, biases, gammas and betas). */
  parameters: number;
  /** One sample's shape (the graph input's dimensions after the batch): predict takes [N, ...inputShape]. */
  inputShape: number[];
  /** The graph input's batch dimension as the model declares it: a size (the net takes any), a symbol, or null. */
  batch: number | string | null;
  inputName: string;
  outputName: string;
  /**
   * The ONNX model's last node when it turned its scores into probabilities: 'Softmax' or 'LogSoftmax', which
   * the net leaves out (it outputs the scores, as every simdnn net; its loss applies softmax). Softmax of
   * predict's output gives the model's probabilities. null when the model outputs scores.
   */
  finalSoftmax: 'Softmax' | 'LogSoftmax' | null;
  /** The default domain's (ai.onnx) operator set version. */
  opset: number;
  irVersion: number;
  producerName: string;
  producerVersion: string;
  /** The model's metadata_props. */
  metadata: Record<string, string>;
  /** Each node of the graph in order, with what it became. */
  nodes: ImportedNode[];
}

/** What importOnnx returns. The net is the caller's: dispose() it (its parameters go with it). */
export interface ImportedOnnx extends OnnxModelInfo {
  /** The model's layers with its weights, ending in a SoftmaxWithLoss, so it predicts and trains. */
  net: Sequential;
}

const OPTION_KEYS = new Set(['inputShape']);

/**
 * An ONNX model's bytes (a Uint8Array or an ArrayBuffer) → a Sequential on `rt` holding its weights, whose
 * predict gives what the model computes (up to float32 rounding order), ready to train further. Reads a
 * chain of: Gemm (transA 0; transB 0 or 1; alpha a power of two, beta any), MatMul followed or not by an Add
 * of its bias, Conv (2-D, group 1, dilations 1, equal strides, symmetric padding from pads, auto_pad or a Pad
 * of zeros before it), MaxPool and AveragePool (as ours: zero padding, which for max pooling an input after a
 * Relu or Sigmoid, a Pad of zeros or exportOnnx's Max of 0 after it gives; an average over padding only with
 * count_include_pad), GlobalAveragePool, Relu, Sigmoid, Tanh, Flatten (axis 1), Reshape to [N, features], a
 * Transpose to channels last before a flatten (folded into the next weight's rows), BatchNormalization
 * (running statistics), LayerNormalization over a sample, InstanceNormalization, Dropout (kept as inverted
 * dropout: the identity in predict), Identity, and a last Softmax or LogSoftmax (left out: see
 * `finalSoftmax`); in a model simdnn wrote, a Mul by 1 − ratio (the book's Dropout). Weights may be float32, float16, bfloat16 or
 * float64 (rounded to nearest float32; a value beyond float32's range is refused), inline (raw_data or the
 * typed fields). Allocates the net and nothing else; `rt`'s random stream is not advanced.
 * @throws TypeError if rt is not a Runtime, bytes is not a Uint8Array or ArrayBuffer, or options has an unknown
 * key; TypeError/RangeError naming a bad options.inputShape; OnnxError for malformed bytes (naming the byte) or a
 * model simdnn cannot reproduce (naming the node, its op and why), before anything is allocated;
 * OutOfMemoryError when the runtime's memory cannot hold the net (nothing is left allocated).
 */
export function importOnnx(rt: Runtime, bytes: Uint8Array | ArrayBuffer, options: ImportOnnxOptions = {}): ImportedOnnx {
  checkRuntime(rt, 'importOnnx');
  const { plan, info } = planned('importOnnx', bytes, options);
  return { net: buildNet(rt, plan), ...info };
}

/**
 * What importOnnx would make of a model's bytes, without a runtime: every check it makes (the same OnnxError
 * for a model it refuses), the layers and their parameter count, the input, the output and the nodes. Allocates
 * no runtime memory.
 * @throws as importOnnx, but for the runtime.
 */
export function inspectOnnx(bytes: Uint8Array | ArrayBuffer, options: ImportOnnxOptions = {}): OnnxModelInfo {
  return planned('inspectOnnx', bytes, options).info;
}

/** The bytes decoded and planned for the entry `who`, and what the plan tells. */
function planned(who: string, bytes: unknown, options: unknown): { plan: Plan; info: OnnxModelInfo } {
  const data = modelBytes(who, bytes);
  const o = readImportOptions(who, options);
  const model = decodeOnnx(data);
  const plan = planImport(model, o.inputShape, who);
  const info: OnnxModelInfo = {
    layers: plan.layers.map(layerName), parameters: plan.layers.reduce((n, p) => n + parameterCount(p), 0),
    inputShape: plan.inputShape, batch: plan.batch, inputName: plan.inputName, outputName: plan.outputName,
    finalSoftmax: plan.finalSoftmax, opset: plan.opset, irVersion: model.irVersion, producerName: model.producerName,
    producerVersion: model.producerVersion, metadata: { ...model.metadata }, nodes: plan.nodes,
  };
  return { plan, info };
}

const LAYER_NAMES: Record<Planned['kind'], string> = {
  affine: 'Affine', conv: 'Convolution', pool: 'Pooling', gap: 'GlobalAveragePooling', relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh',
  flatten: 'Flatten', batchnorm: 'BatchNormalization', layernorm: 'LayerNormalization', instancenorm: 'InstanceNormalization', dropout: 'Dropout',
};

function layerName(p: Planned): string {
  return LAYER_NAMES[p.kind];
}

function parameterCount(p: Planned): number {
  if (p.kind === 'affine' || p.kind === 'conv') return p.W.length + p.b.length;
  if (p.kind === 'batchnorm' || p.kind === 'layernorm' || p.kind === 'instancenorm') return p.gamma.length + p.beta.length;
  return 0;
}

function modelBytes(who: string, bytes: unknown): Uint8Array {
  const tag = Object.prototype.toString.call(bytes);
  if (tag === '[object Uint8Array]') return bytes as Uint8Array;
  if (tag === '[object ArrayBuffer]') return new Uint8Array(bytes as ArrayBuffer);
  throw new TypeError(`${who}: bytes must be the model's bytes as a Uint8Array or an ArrayBuffer, got ${describeValue(bytes)}`);
}

function readImportOptions(who: string, options: unknown): { inputShape: number[] | null } {
  if (options === null || typeof options !== 'object') checkOptions(who, options as object, OPTION_KEYS); // throws
  const o = { ...(options as ImportOnnxOptions) };
  checkOptions(who, o, OPTION_KEYS);
  const shape: unknown = o.inputShape;
  if (shape === undefined) return { inputShape: null };
  const expected = `${who}: options.inputShape must be one sample's dimensions as positive integers`;
  if (!Array.isArray(shape)) throw new TypeError(`${expected}, got ${describeValue(shape)}`);
  const dims: unknown[] = Array.from({ length: shape.length }, (_, i) => shape[i]); // each element read once
  if (!dims.every((d) => typeof d === 'number')) throw new TypeError(`${expected}, got [${dims.map((d) => describeValue(d)).join(', ')}]`);
  if (dims.length === 0 || !dims.every((d) => Number.isSafeInteger(d) && (d as number) > 0)) throw new RangeError(`${expected}, got [${dims.join(', ')}]`);
  const values = (dims as number[]).reduce((p, d) => p * d, 1);
  if (values > MAX_ELEMENTS) throw new RangeError(`${who}: options.inputShape [${dims.join(', ')}] has ${values} values a sample, more than a tensor holds (${MAX_ELEMENTS})`);
  return { inputShape: dims as number[] };
}

// ---- the plan: layers with their values in JavaScript arrays, nothing allocated -------------------------

/** A layer to build, with its values converted. */
type Planned =
  // biasless: made without a bias (b zero), which an Add right after may give
  | { kind: 'affine'; W: Float32Array; D: number; M: number; b: Float32Array; biasless: boolean }
  | { kind: 'conv'; W: Float32Array; shape: [number, number, number, number]; b: Float32Array; stride: number; pad: number; biasless: boolean }
  | { kind: 'pool'; mode: 'max' | 'avg'; kh: number; kw: number; stride: number; pad: number }
  | { kind: 'gap' | 'relu' | 'sigmoid' | 'tanh' | 'flatten' }
  | { kind: 'batchnorm'; gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; eps: number; momentum: number; spatial: boolean }
  | { kind: 'layernorm' | 'instancenorm'; gamma: Float32Array; beta: Float32Array; eps: number }
  | { kind: 'dropout'; ratio: number; inverted: boolean };

interface Plan {
  layers: Planned[];
  inputShape: number[];
  batch: number | string | null;
  inputName: string;
  outputName: string;
  finalSoftmax: 'Softmax' | 'LogSoftmax' | null;
  opset: number;
  nodes: ImportedNode[];
}

/** The oldest default-domain operator set read: ONNX Runtime's own lower bound. */
const MIN_OPSET = 7;
/** The layers that compute the same on a sample flattened or not (a BatchNormalization only per feature). */
const SHAPE_FREE = new Set<Planned['kind']>(['flatten', 'relu', 'sigmoid', 'tanh', 'dropout', 'batchnorm', 'layernorm']);
/** The ops that compute each value alone, so in any order of the values. */
const ELEMENTWISE = new Set(['Relu', 'Sigmoid', 'Tanh', 'Dropout', 'Identity']);
const OPS = 'Gemm, MatMul (+ Add), Conv, Pad, MaxPool (+ Max), AveragePool, Transpose to channels last before a flatten, GlobalAveragePool, Relu, Sigmoid, Tanh, Flatten, Reshape, BatchNormalization, LayerNormalization, InstanceNormalization, Dropout, Identity, a last Softmax or LogSoftmax, Constant';

/** The walk's state: the chain's current value and its per-sample shape, in ONNX's terms and in the net's. */
class Walk {
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

function planImport(model: OnnxModel, givenShape: number[] | null, who: string): Plan {
  const g = model.graph;
  const opset = defaultOpset(model);
  const constants = new Map<string, OnnxTensor>();
  for (const t of g.initializers) constants.set(t.name, t);
  if (g.sparseInitializers > 0) throw new OnnxError(`onnx: the graph has ${g.sparseInitializers} sparse initializer(s); simdnn reads dense weights only`);
  // IR < 4 lists the initializers among the inputs too (an input with one is a constant with a default)
  const inputs = g.inputs.filter((v) => !constants.has(v.name));
  if (inputs.length !== 1) throw new OnnxError(`onnx: the graph has ${inputs.length} inputs (${inputs.map((v) => `'${v.name}'`).join(', ') || 'none'}) besides its weights; simdnn imports a net of one input`);
  if (g.outputs.length !== 1) throw new OnnxError(`onnx: the graph has ${g.outputs.length} outputs (${g.outputs.map((v) => `'${v.name}'`).join(', ') || 'none'}); simdnn imports a net of one output`);
  const input = inputs[0], output = g.outputs[0];
  const { shape, batch } = inputShapeOf(input, givenShape, who);
  const walk = new Walk(model, opset, batch, input.name, shape);
  const uses = new Map<string, number>();
  for (const n of g.nodes) for (const name of n.inputs) uses.set(name, (uses.get(name) ?? 0) + 1);
  uses.set(output.name, (uses.get(output.name) ?? 0) + 1);
  g.nodes.forEach((node, index) => {
    const at = describeNode(node, index);
    if (node.domain !== '' && node.domain !== 'ai.onnx') refuse(at, `is in domain '${node.domain}'; simdnn reads the default ONNX operators only`);
    if (node.opType === 'Constant') {
      if (node.outputs.length !== 1) refuse(at, `has ${node.outputs.length} outputs, not 1`);
      constants.set(node.outputs[0], constantValue(node, at));
      walk.nodes.push({ name: node.name, opType: node.opType, becomes: `the constant '${node.outputs[0]}'` });
      return;
    }
    if (walk.finalSoftmax) refuse(at, `follows the ${walk.finalSoftmax}, which simdnn reads only as the graph's last node`);
    if (node.opType === 'Shape') refuse(at, 'computes a shape from the data (as torch\'s x.view(x.size(0), -1) exports); simdnn reads constant shapes: export with torch.flatten(x, 1), or fold the shape with onnx-simplifier');
    const data = node.inputs.filter((name) => name !== '' && !constants.has(name));
    if (data.length === 0) refuse(at, 'computes from constants only; simdnn imports a chain of layers (fold the constants first, e.g. with onnx-simplifier)');
    if (data.length > 1) refuse(at, `takes ${data.map((d) => `'${d}'`).join(' and ')}: a branch; simdnn imports a chain of layers, each taking the one before`);
    if (data[0] !== walk.current) refuse(at, `takes '${data[0]}', which is not the output of the chain so far ('${walk.current}'): a branch, or nodes out of order`);
    if ((uses.get(walk.current) ?? 0) > 1) refuse(at, `takes '${walk.current}', which ${uses.get(walk.current)} nodes or outputs take: a branch; simdnn imports a chain of layers`);
    const [out, ...extra] = node.outputs;
    if (!out) refuse(at, 'has no output');
    for (const name of extra) if (name !== '' && uses.has(name)) refuse(at, `its output '${name}' is used; simdnn reads only its first output`);
    const layersBefore = walk.layers.length, padBefore = walk.pad, floorBefore = walk.maxFloor;
    const becomes = planNode(walk, node, at, constants);
    if (padBefore && walk.pad === padBefore) refuse(padBefore.at, `is followed by ${at}; simdnn reads a Pad only as the padding of a Conv, MaxPool or AveragePool right after it`);
    if (floorBefore && walk.maxFloor === floorBefore) {
      if (floorBefore.required) refuse(floorBefore.at, maxPadding(floorBefore.pad));
      walk.maxFloor = null;
    }
    // an Add may give a bias only to the layer the node just before it made
    const made = walk.layers.length > layersBefore ? walk.layers[walk.layers.length - 1] : null;
    walk.biasless = made && (made.kind === 'affine' || made.kind === 'conv') && made.biasless ? made : null;
    if (walk.layers.slice(layersBefore).some((l) => !SHAPE_FREE.has(l.kind))) walk.flattened = null;
    checkSampleSize(at, walk.shape);
    walk.current = out;
    walk.nodes.push({ name: node.name, opType: node.opType, becomes });
  });
  if (walk.pad) refuse(walk.pad.at, 'ends the graph; simdnn reads a Pad only as the padding of a Conv, MaxPool or AveragePool after it');
  if (walk.maxFloor?.required) refuse(walk.maxFloor.at, maxPadding(walk.maxFloor.pad));
  const layout = walk.channelsLast ?? walk.rowOrder;
  if (layout) refuse(layout.at, 'leaves the output in channels-last order, which simdnn\'s layers do not make');
  if (walk.current !== output.name) {
    throw new OnnxError(`onnx: the graph's output '${output.name}' is not the end of the chain of nodes ('${walk.current}')`);
  }
  if (walk.layers.length === 0) throw new OnnxError('onnx: the graph has no layer simdnn can hold (its nodes are all identities)');
  checkOutputShape(output.shape, walk.shape, output.name);
  return {
    layers: walk.layers, inputShape: shape, batch, inputName: input.name, outputName: output.name,
    finalSoftmax: walk.finalSoftmax, opset, nodes: walk.nodes,
  };
}

/** Why a padded MaxPool on values that may be negative is refused. */
function maxPadding(pad: number): string {
  return `pads with ${pad}: ONNX pads max pooling with −∞ and simdnn with zeros, the same only on values ≥ 0 (after a Relu or Sigmoid) or with a Max of 0 on the windows that reach the padding after it (as exportOnnx writes)`;
}

function defaultOpset(model: OnnxModel): number {
  const imports = model.opsetImport.filter((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (imports.length === 0) throw new OnnxError('onnx: the model imports no version of the default operator set (opset_import has no ai.onnx)');
  const version = Math.max(...imports.map((o) => o.version));
  if (!(Number.isSafeInteger(version) && version >= MIN_OPSET)) throw new OnnxError(`onnx: the model's opset is ${version}; simdnn reads opset ${MIN_OPSET} and later`);
  return version;
}

function inputShapeOf(input: OnnxModel['graph']['inputs'][number], given: number[] | null, who: string): { shape: number[]; batch: OnnxDim } {
  const name = `the graph's input '${input.name}'`;
  if (!input.isTensor) throw new OnnxError(`onnx: ${name} is not a tensor`);
  if (input.elemType !== DATA_TYPE.FLOAT) throw new OnnxError(`onnx: ${name} holds ${dataTypeName(input.elemType)} values; simdnn nets take float32`);
  const dims = input.shape;
  if (dims === null) {
    if (!given) throw new OnnxError(`onnx: ${name} has no shape; give options.inputShape (one sample's dimensions)`);
    return { shape: given, batch: null };
  }
  if (dims.length < 2) throw new OnnxError(`onnx: ${name} is [${dims.map(showDim).join(', ')}]; simdnn takes [batch, ...sample]`);
  const sample = dims.slice(1);
  if (given && (given.length !== sample.length || sample.some((d, i) => typeof d === 'number' && d !== given[i]))) {
    throw new RangeError(`${who}: options.inputShape [${given.join(', ')}] does not fit ${name} [${dims.map(showDim).join(', ')}]`);
  }
  const shape = sample.map((d, i) => {
    if (typeof d === 'number') {
      if (!(Number.isSafeInteger(d) && d > 0)) throw new OnnxError(`onnx: ${name} has dimension ${d}; a sample's dimensions are positive`);
      return d;
    }
    if (!given) throw new OnnxError(`onnx: ${name} is [${dims.map(showDim).join(', ')}]: dimension ${i + 1} is not a size; give options.inputShape (one sample's dimensions)`);
    return given[i];
  });
  checkSampleSize(name, shape);
  return { shape, batch: dims[0] };
}

function showDim(d: OnnxDim): string {
  return d === null ? '?' : String(d);
}

/** A sample of `shape` must fit a tensor (the runtime's limit). */
function checkSampleSize(at: string, shape: number[]): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > MAX_ELEMENTS) throw new OnnxError(`onnx: ${at}: a sample of [${shape.join(', ')}] has ${n} values, more than a tensor holds (${MAX_ELEMENTS})`);
}

/** The declared output shape, where it gives sizes, must be what the chain computes. */
function checkOutputShape(declared: OnnxDim[] | null, sample: number[], name: string): void {
  if (declared === null) return;
  const wrongRank = declared.length !== sample.length + 1;
  if (wrongRank || declared.slice(1).some((d, i) => typeof d === 'number' && d !== sample[i])) {
    throw new OnnxError(`onnx: the graph's output '${name}' is declared [${declared.map(showDim).join(', ')}], but its nodes compute [N, ${sample.join(', ')}]`);
  }
}

function describeNode(node: OnnxNode, index: number): string {
  return node.name ? `node '${node.name}' (${node.opType})` : `node ${index} (${node.opType})`;
}

function refuse(at: string, why: string): never {
  throw new OnnxError(`onnx: ${at} ${why}`);
}

// ---- the nodes ----------------------------------------------------------------------------------------

/** Plans one node of the chain (its data input is walk.current); returns what it became. */
function planNode(walk: Walk, node: OnnxNode, at: string, constants: Map<string, OnnxTensor>): string {
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
  walk.layers.push({ kind: 'affine', W, D, M, b, biasless: !C });
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
  walk.layers.push({ kind: 'affine', W: rowsInOurOrder(walk, floatsOf(B, at, 'weight', B.dims), M), D, M, b: new Float32Array(M), biasless: true });
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
  walk.layers.push({ kind: 'conv', W, shape: [FN, C, FH, FW], b, stride, pad, biasless: !B });
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
  walk.layers.push({ kind: 'batchnorm', gamma, beta, mean: m, variance: v, eps, momentum, spatial });
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

function epsilon(at: string, eps: number): number {
  if (!(Number.isFinite(eps) && Math.fround(eps) > 0)) refuse(at, `has epsilon ${eps}; simdnn needs a positive one a float32 holds`);
  return eps;
}

function normalizeAxis(at: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!(a >= 0 && a < rank)) refuse(at, `has axis ${axis} for a tensor of rank ${rank}`);
  return a;
}

/** A Constant node's value as a tensor. */
function constantValue(node: OnnxNode, at: string): OnnxTensor {
  const a = attributes(node, at, { value: 'tensor', value_float: 'float', value_floats: 'floats', value_int: 'int', value_ints: 'ints' });
  const names = node.attributes.map((x) => x.name);
  if (names.length !== 1) refuse(at, `has ${names.length} values (${names.join(', ') || 'none'}), not 1`);
  const made = (dims: number[], dataType: number, floats: number[], ints: number[]): OnnxTensor => ({
    name: node.outputs[0], dims, dataType, rawData: null, floatData: Float32Array.from(floats), int32Data: [], int64Data: ints,
    doubleData: new Float64Array(0), dataLocation: 0, hasOtherData: false, at: node.at,
  });
  switch (names[0]) {
    case 'value': return a.tensor('value');
    case 'value_float': return made([], DATA_TYPE.FLOAT, [a.float('value_float', 0)], []);
    case 'value_floats': { const v = a.floats('value_floats'); return made([v.length], DATA_TYPE.FLOAT, v, []); }
    case 'value_int': return made([], DATA_TYPE.INT64, [], [a.int('value_int', 0)]);
    default: { const v = a.ints('value_ints')!; return made([v.length], DATA_TYPE.INT64, [], v); }
  }
}

// ---- attributes ---------------------------------------------------------------------------------------

type AttributeKind = 'int' | 'float' | 'string' | 'ints' | 'floats' | 'tensor';
const KIND_TYPES: Record<AttributeKind, number> = {
  int: ATTRIBUTE_TYPE.INT, float: ATTRIBUTE_TYPE.FLOAT, string: ATTRIBUTE_TYPE.STRING, ints: ATTRIBUTE_TYPE.INTS, floats: ATTRIBUTE_TYPE.FLOATS, tensor: ATTRIBUTE_TYPE.TENSOR,
};

/** A node's attributes, each checked to be one simdnn reads for its op (an unknown one could change what the op computes). */
class Attributes {
  private readonly byName = new Map<string, OnnxAttribute>();

  constructor(private readonly at: string, node: OnnxNode, private readonly kinds: Record<string, AttributeKind>) {
    for (const a of node.attributes) {
      const kind = Object.hasOwn(kinds, a.name) ? kinds[a.name] : undefined;
      if (!kind) refuse(at, `has attribute '${a.name}', which simdnn does not read for ${node.opType}${Object.keys(kinds).length ? ` (it reads ${Object.keys(kinds).join(', ')})` : ''}`);
      if (a.refAttrName) refuse(at, `takes attribute '${a.name}' from a function's attribute; simdnn reads graphs, not function bodies`);
      if (this.byName.has(a.name)) refuse(at, `has attribute '${a.name}' twice`);
      if (a.type !== 0 && a.type !== KIND_TYPES[kind]) refuse(at, `has attribute '${a.name}' of type ${a.type}, not ${kind}`);
      this.byName.set(a.name, a);
    }
  }

  private get(name: string, present: (a: OnnxAttribute) => boolean): OnnxAttribute | null {
    const a = this.byName.get(name);
    if (!a) return null;
    if (!present(a)) refuse(this.at, `has attribute '${name}' without a ${this.kinds[name]} value`);
    return a;
  }

  int(name: string, fallback: number): number {
    const a = this.get(name, (x) => x.i !== null);
    if (!a) return fallback;
    if (!Number.isSafeInteger(a.i)) refuse(this.at, `has attribute '${name}' = ${a.i}, beyond the integers simdnn reads`);
    return a.i!;
  }

  float(name: string, fallback: number): number {
    return this.get(name, (x) => x.f !== null)?.f ?? fallback;
  }

  string(name: string, fallback: string): string {
    const a = this.get(name, (x) => x.s !== null);
    return a ? String.fromCharCode(...a.s!.subarray(0, 64)) : fallback;
  }

  ints(name: string): number[] | null {
    const a = this.get(name, (x) => x.ints.length > 0 || x.type === ATTRIBUTE_TYPE.INTS);
    if (a && !a.ints.every(Number.isSafeInteger)) refuse(this.at, `has attribute '${name}' = [${a.ints.join(', ')}], beyond the integers simdnn reads`);
    return a ? a.ints : null;
  }

  floats(name: string): number[] {
    return this.get(name, (x) => x.floats.length > 0 || x.type === ATTRIBUTE_TYPE.FLOATS)?.floats ?? [];
  }

  tensor(name: string): OnnxTensor {
    return this.get(name, (x) => x.t !== null)?.t ?? refuse(this.at, `has no attribute '${name}'`);
  }
}

function attributes(node: OnnxNode, at: string, kinds: Record<string, AttributeKind>): Attributes {
  return new Attributes(at, node, kinds);
}

// ---- tensor values ------------------------------------------------------------------------------------

const FLOAT_DTYPES: Record<number, string> = { [DATA_TYPE.FLOAT]: 'F32', [DATA_TYPE.FLOAT16]: 'F16', [DATA_TYPE_MORE.BFLOAT16]: 'BF16', [DATA_TYPE.DOUBLE]: 'F64' };
const TYPE_NAMES: Record<number, string> = {
  0: 'undefined', 1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16',
};

function dataTypeName(t: number): string {
  return TYPE_NAMES[t] ?? `data type ${t}`;
}

/** The tensor's element count from its dims, each checked; `what` names it in errors. */
function elementCount(t: OnnxTensor, at: string, what: string): number {
  if (t.dataLocation !== 0 || t.hasOtherData) refuse(at, `has its ${what} '${t.name}' in external data or a form simdnn does not read; save the model with its weights inside`);
  let n = 1;
  for (const d of t.dims) {
    if (!(Number.isSafeInteger(d) && d >= 0)) refuse(at, `has its ${what} '${t.name}' of dims [${t.dims.join(', ')}]`);
    n *= d;
    if (n > MAX_ELEMENTS) refuse(at, `has its ${what} '${t.name}' of dims [${t.dims.join(', ')}], more values than a tensor holds`);
  }
  return n;
}

/**
 * A tensor's values as float32, its dims checked against `dims` (the same values in the same order: a
 * [C] may come as [C, 1, 1]; null: any). float16/bfloat16 are exact; float64 is rounded to nearest.
 */
function floatsOf(t: OnnxTensor, at: string, what: string, dims: readonly number[] | null): Float32Array {
  const n = elementCount(t, at, what);
  if (dims && (n !== dims.reduce((a, b) => a * b, 1) || !sameValues(t.dims, dims))) refuse(at, `has its ${what} '${t.name}' of dims [${t.dims.join(', ')}]; simdnn needs [${dims.join(', ')}]`);
  const dtype = FLOAT_DTYPES[t.dataType];
  if (!dtype) refuse(at, `has its ${what} '${t.name}' of ${dataTypeName(t.dataType)}; simdnn reads float32, float16, bfloat16 and float64 weights`);
  const size = dtype === 'F64' ? 8 : dtype === 'F32' ? 4 : 2;
  // the values given counted before anything is made for them: dims alone may ask for 2 GiB
  const given = t.rawData !== null ? t.rawData.length / size : dtype === 'F32' ? t.floatData.length : dtype === 'F64' ? t.doubleData.length : t.int32Data.length;
  if (given !== n) {
    refuse(at, t.rawData !== null
      ? `has its ${what} '${t.name}' of ${n} values in ${t.rawData.length} bytes of raw_data, not ${n * size}`
      : `has its ${what} '${t.name}' of ${n} values, with ${given} given`);
  }
  const out = new Float32Array(n);
  const convert = (bytes: Uint8Array) => {
    try {
      decodeFloats(dtype, bytes, out, 0);
    } catch (e) {
      // a float64 beyond float32's range: refused, as loadModel refuses it
      if (e instanceof SafetensorsError) refuse(at, `has its ${what} '${t.name}' in float64 with a value float32 cannot hold (${e.message.replace(/^safetensors: /, '')})`);
      throw e;
    }
  };
  if (t.rawData !== null) {
    convert(t.rawData);
    return out;
  }
  if (dtype === 'F32') out.set(t.floatData);
  else if (dtype === 'F64') convert(littleEndianDoubles(t.doubleData));
  else {
    const halves = new Uint8Array(2 * n);
    const view = new DataView(halves.buffer);
    t.int32Data.forEach((v, i) => {
      if (!(v >= 0 && v <= 0xffff)) refuse(at, `has its ${what} '${t.name}' with ${v} in int32_data, not a 16-bit pattern`);
      view.setUint16(2 * i, v, true);
    });
    convert(halves);
  }
  return out;
}

/** float64 values as little-endian bytes (decodeFloats' F64 input). */
function littleEndianDoubles(values: Float64Array): Uint8Array {
  const bytes = new Uint8Array(8 * values.length);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setFloat64(8 * i, v, true));
  return bytes;
}

/** Whether two dims lists hold the same values once 1s are left out ([C] and [1, C, 1, 1] alike). */
function sameValues(a: readonly number[], b: readonly number[]): boolean {
  const strip = (d: readonly number[]) => d.filter((x) => x !== 1);
  const x = strip(a), y = strip(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** A bias of `n` values from `t`, whose dims must be one of `forms` ([1] and [] broadcast one value). */
function broadcastBias(t: OnnxTensor, at: string, what: string, n: number, forms: number[][]): Float32Array {
  if (!forms.some((f) => f.length === t.dims.length && f.every((d, i) => d === t.dims[i]))) {
    refuse(at, `has its ${what} '${t.name}' of dims [${t.dims.join(', ')}]; simdnn reads ${forms.map((f) => `[${f.join(', ')}]`).join(', ')}`);
  }
  const v = floatsOf(t, at, what, null);
  return v.length === n ? v : new Float32Array(n).fill(v[0]);
}

/** An int64 or int32 tensor's values (shapes, flags). */
function intsOf(t: OnnxTensor, at: string, what: string): number[] {
  const n = elementCount(t, at, what);
  const int64 = t.dataType === DATA_TYPE.INT64, int32 = t.dataType === DATA_TYPE.INT32 || t.dataType === DATA_TYPE_MORE.BOOL;
  if (!int64 && !int32) refuse(at, `has its ${what} '${t.name}' of ${dataTypeName(t.dataType)}, not integers`);
  let values: number[];
  if (t.rawData !== null) {
    const size = int64 ? 8 : t.dataType === DATA_TYPE_MORE.BOOL ? 1 : 4;
    if (t.rawData.length !== n * size) refuse(at, `has its ${what} '${t.name}' of ${n} values in ${t.rawData.length} bytes of raw_data, not ${n * size}`);
    const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
    values = Array.from({ length: n }, (_, i) => (size === 8 ? Number(view.getBigInt64(8 * i, true)) : size === 4 ? view.getInt32(4 * i, true) : view.getUint8(i)));
  } else {
    values = int64 ? t.int64Data : t.int32Data;
  }
  if (values.length !== n) refuse(at, `has its ${what} '${t.name}' of ${n} values, with ${values.length} given`);
  if (!values.every(Number.isSafeInteger)) refuse(at, `has its ${what} '${t.name}' with a value beyond ±2^53`);
  return values;
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

// ---- building: the only allocation --------------------------------------------------------------------

/**
 * The net of the plan on rt, in two allocations: its parameters and their gradients in one ParameterSet (freed
 * with the net), which holds the batch norms' running statistics too, so no layer's constructor allocates (a
 * layer that runs out of memory part way through its constructor cannot free what it made). On a failure,
 * nothing is left allocated.
 */
function buildNet(rt: Runtime, plan: Plan): Sequential {
  const specs: Array<[string, number[]]> = [];
  plan.layers.forEach((p, i) => {
    if (p.kind === 'affine') specs.push([`W${i}`, [p.D, p.M]], [`b${i}`, [p.M]]);
    else if (p.kind === 'conv') specs.push([`W${i}`, p.shape], [`b${i}`, [p.shape[0]]]);
    else if (p.kind === 'batchnorm' || p.kind === 'layernorm' || p.kind === 'instancenorm') specs.push([`gamma${i}`, [p.gamma.length]], [`beta${i}`, [p.beta.length]]);
    // layer state, not parameters: optimizers see the layers' params only (Sequential keys them), never these
    if (p.kind === 'batchnorm') specs.push([`runningMean${i}`, [p.mean.length]], [`runningVar${i}`, [p.variance.length]]);
  });
  const set = new ParameterSet(rt, specs); // a RangeError when memory runs out, leaving nothing
  const layers: Layer[] = [];
  try {
    const { params: P, grads: G } = set;
    const filled = (name: string, values: Float32Array) => {
      P[name].data.set(values);
      return P[name];
    };
    plan.layers.forEach((p, i) => {
      switch (p.kind) {
        case 'affine': layers.push(new Affine(filled(`W${i}`, p.W), filled(`b${i}`, p.b), { dW: G[`W${i}`], db: G[`b${i}`] })); break;
        case 'conv': layers.push(new Convolution(filled(`W${i}`, p.W), filled(`b${i}`, p.b), p.stride, p.pad, { dW: G[`W${i}`], db: G[`b${i}`] })); break;
        case 'pool': layers.push(new Pooling(p.kh, p.kw, p.stride, p.pad, { mode: p.mode })); break;
        case 'gap': layers.push(new GlobalAveragePooling()); break;
        case 'relu': layers.push(new Relu()); break;
        case 'sigmoid': layers.push(new Sigmoid()); break;
        case 'tanh': layers.push(new Tanh()); break;
        case 'flatten': layers.push(new Flatten()); break;
        case 'dropout': layers.push(new Dropout(p.ratio, { inverted: p.inverted })); break;
        case 'batchnorm': {
          layers.push(new BatchNormalization(filled(`gamma${i}`, p.gamma), filled(`beta${i}`, p.beta), p.momentum, {
            eps: p.eps, spatial: p.spatial, dgamma: G[`gamma${i}`], dbeta: G[`beta${i}`],
            runningMean: filled(`runningMean${i}`, p.mean), runningVar: filled(`runningVar${i}`, p.variance),
          }));
          break;
        }
        case 'layernorm': case 'instancenorm': {
          const Norm = p.kind === 'layernorm' ? LayerNormalization : InstanceNormalization;
          layers.push(new Norm(filled(`gamma${i}`, p.gamma), filled(`beta${i}`, p.beta), { eps: p.eps, dgamma: G[`gamma${i}`], dbeta: G[`beta${i}`] }));
          break;
        }
      }
    });
    return new Sequential(rt, layers, { parameterSet: set, inputShape: plan.inputShape, evalBatchSize: plan.inputShape.length === 3 ? 100 : 1000 });
  } catch (e) {
    set.dispose(); // the layers made so far hold only the set's tensors (their buffers are made at their first forward)
    throw e;
  }
}
