// importOnnx: the bytes of an ONNX model (PyTorch's torch.onnx.export, Keras through tf2onnx,
// simdnn's exportOnnx) → a Sequential holding its weights, or the named net simdnn exported. The graph is
// decoded (decode.ts), then walked as a chain from its one input to its one output (here), each node mapped
// to a simdnn layer by its op's planner (planners.ts, reading attributes and values through values.ts) with
// its weights converted to float32 in JavaScript arrays, and only then is runtime memory allocated
// (build.ts): the parameters in one ParameterSet (the net's, freed with it), the layers over it; or, for a
// model whose graph is the named net its metadata describes (named.ts), that net. A node simdnn cannot
// reproduce exactly (a branch, an op or attribute without a layer, a pooling whose padding differs from
// ours, a Gemm scale that would round differently) is refused by name before anything is allocated: an
// import that approximates would give predictions that differ from the model's without a word.
import {
  checkOptions, checkRuntime, describeValue, MAX_ELEMENTS, netSummary, type NamedNet, type NetSpec, type NetSummary, type Runtime, type Sequential,
} from '../../index.js';
import { DATA_TYPE } from './fields.js';
import { OnnxError, decodeOnnx, type OnnxDim, type OnnxModel, type OnnxNode, type OnnxTensor } from './decode.js';
import { buildNamed, buildSequential, summaryOfPlan } from './build.js';
import { namedNodes, namedPlanOf } from './named.js';
import { layerName, maxPadding, planNode, Walk, type ImportedNode, type Plan, type Planned } from './planners.js';
import { constantValue, dataTypeName, refuse } from './values.js';

export { OnnxError };
export type { ImportedNode };

/** Options of importOnnx; an unknown key is a TypeError. */
export interface ImportOnnxOptions {
  /**
   * One sample's shape (e.g. [1, 28, 28]): needed where the graph's input leaves a dimension other than the
   * batch unnamed or symbolic; where the graph gives it, it must agree.
   */
  inputShape?: readonly number[];
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
  /**
   * The named net the model is, a MultiLayerNet, MultiLayerNetExtend, SimpleConvNet or DeepConvNet simdnn exported:
   * its spec (metadata `simdnn.net`), when the graph's layers are what buildNet builds from it (the same layers in
   * order, tensors under the net's keys with its shapes, the same eps, momentum, dropout, activation and pooling).
   * importOnnx then returns that net, which saveModel takes; its loss's options and weight decay are the spec's.
   * null: the net is a Sequential of the layers (see `sequentialBecause`).
   */
  spec: NetSpec | null;
  /** Why the net is a Sequential: the model carries no spec, or where its graph differs from it; null when `spec` is set. */
  sequentialBecause: string | null;
  /** The net's summary, as its net.summary() gives it, computed without a runtime (formatSummary prints it). */
  summary: NetSummary;
}

/**
 * What importOnnx returns: the model's layers with its weights, ending in a SoftmaxWithLoss, so it predicts and
 * trains; the named net `spec` describes when it is set (saveModel takes it), else a Sequential. The net is the
 * caller's: dispose() it (its parameters go with it).
 */
export type ImportedOnnx = (OnnxModelInfo & { spec: NetSpec; net: NamedNet }) | (OnnxModelInfo & { spec: null; net: Sequential });

const OPTION_KEYS = new Set(['inputShape']);

/**
 * An ONNX model's bytes (a Uint8Array or an ArrayBuffer) → a Sequential on `rt` holding its weights, whose
 * predict gives what the model computes (up to float32 rounding order), ready to train further; of a named net
 * simdnn exported whose graph is the one its spec describes, that named net (see `spec`), which saveModel takes. Reads a
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
  const { plan, named, info } = planned('importOnnx', bytes, options);
  return typeof named === 'string' ? { ...info, spec: null, net: buildSequential(rt, plan) } : { ...info, spec: named.spec, net: buildNamed(rt, named) };
}

/**
 * What importOnnx would make of a model's bytes, without a runtime: every check it makes (the same OnnxError
 * for a model it refuses), the layers and their parameter count, the input, the output, the nodes, the named net
 * it is (or why it is a Sequential) and the net's summary. Allocates no runtime memory.
 * @throws as importOnnx, but for the runtime.
 */
export function inspectOnnx(bytes: Uint8Array | ArrayBuffer, options: ImportOnnxOptions = {}): OnnxModelInfo {
  return planned('inspectOnnx', bytes, options).info;
}

/** The bytes decoded and planned for the entry `who`, the named net they are (or why not), and what the plan tells. */
function planned(who: string, bytes: unknown, options: unknown): { plan: Plan; named: ReturnType<typeof namedPlanOf>; info: OnnxModelInfo } {
  const data = modelBytes(who, bytes);
  const o = readImportOptions(who, options);
  const model = decodeOnnx(data);
  const plan = planImport(model, o.inputShape, who);
  const named = namedPlanOf(model.metadata, plan);
  const spec = typeof named === 'string' ? null : named.spec;
  const info: OnnxModelInfo = {
    layers: typeof named === 'string' ? plan.layers.map(layerName) : named.layers, parameters: plan.layers.reduce((n, p) => n + parameterCount(p), 0),
    inputShape: plan.inputShape, batch: plan.batch, inputName: plan.inputName, outputName: plan.outputName,
    finalSoftmax: plan.finalSoftmax, opset: plan.opset, irVersion: model.irVersion, producerName: model.producerName,
    producerVersion: model.producerVersion, metadata: { ...model.metadata }, nodes: typeof named === 'string' ? plan.nodes : namedNodes(plan),
    spec, sequentialBecause: typeof named === 'string' ? named : null,
    // the named net's own summary (its layers as its constructor lays them out, its loss's options), else the Sequential's
    summary: spec ? netSummary(spec) : summaryOfPlan(plan),
  };
  return { plan, named, info };
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

// ---- the chain: from the graph's one input to its one output, each node planned in turn ---------------

/** The oldest default-domain operator set read: ONNX Runtime's own lower bound. */
const MIN_OPSET = 7;
/** The layers that compute the same on a sample flattened or not (a BatchNormalization only per feature). */
const SHAPE_FREE = new Set<Planned['kind']>(['flatten', 'relu', 'sigmoid', 'tanh', 'dropout', 'batchnorm', 'layernorm']);

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
  /** The layers each node planned, by the node's place in walk.nodes. */
  const nodeLayers: Planned[][] = [];
  uses.set(output.name, (uses.get(output.name) ?? 0) + 1);
  g.nodes.forEach((node, index) => {
    const at = describeNode(node, index);
    if (node.domain !== '' && node.domain !== 'ai.onnx') refuse(at, `is in domain '${node.domain}'; simdnn reads the default ONNX operators only`);
    if (node.opType === 'Constant') {
      if (node.outputs.length !== 1) refuse(at, `has ${node.outputs.length} outputs, not 1`);
      constants.set(node.outputs[0], constantValue(node, at));
      walk.nodes.push({ name: node.name, opType: node.opType, becomes: `the constant '${node.outputs[0]}'` });
      nodeLayers.push([]);
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
    nodeLayers.push(walk.layers.slice(layersBefore));
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
  // a Flatten that a Reshape after it undid (planReshape) left no layer: its line says so
  const kept = nodeLayers.map((layers) => layers.filter((p) => walk.layers.includes(p)));
  const nodes = walk.nodes.map((n, i) => (nodeLayers[i].length > kept[i].length ? { ...n, becomes: `dropped: a Reshape after it undoes it (${n.becomes})` } : n));
  return {
    layers: walk.layers, inputShape: shape, batch, inputName: input.name, outputName: output.name,
    finalSoftmax: walk.finalSoftmax, opset, nodes, made: kept,
  };
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
