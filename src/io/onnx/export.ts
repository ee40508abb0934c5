// A trained net as an ONNX model with its weights (exportOnnx), for ONNX Runtime (Python, C++, web),
// TensorRT and the other ONNX consumers. The net's layers are planned into a chain of ONNX nodes
// first (every layer, tensor, shape and option checked: nothing is encoded before the whole graph
// is known to be right), then the ModelProto is written by encode.ts in one pass over the plan.
// Each layer maps to the ONNX ops that compute its inference formula (`net.predict(x)`):
//   Affine                 → Gemm (W stored [in, out], transB 0; a Flatten before it on N-D input)
//   Relu / Sigmoid / Tanh  → Relu / Sigmoid / Tanh (the Affine or Convolution before fuses them in simdnn)
//   Dropout                → Mul by 1 − ratio (the book's form scales at inference); inverted: nothing
//   Convolution            → Conv
//   Pooling 'max'          → MaxPool, then Max with 0 on the windows that reach the padding when pad > 0
//                            (the book's padded positions hold 0 and take part in the max; ONNX's pads are −∞)
//   Pooling 'avg'          → AveragePool with count_include_pad 1 (the book's mean divides by the window)
//   GlobalAveragePooling   → GlobalAveragePool, Flatten ([N, C, 1, 1] → [N, C])
//   BatchNormalization     → BatchNormalization on the running statistics (spatial: per channel of
//                            [N, C, H, W]; else per feature: [N, F], N-D input flattened and reshaped back)
//   LayerNormalization     → LayerNormalization (axis 1; needs opset 17)
//   InstanceNormalization  → InstanceNormalization
//   Flatten                → Flatten (axis 1)
//   SoftmaxWithLoss        → nothing (the output is the logits, as predict's), or Softmax with `probabilities`
import {
  Affine, BatchNormalization, checkFlag, checkMetadata, checkFloatTensor, checkOptions, Convolution, convOutputSize, describeValue,
  Dropout, firstAffineW, Flatten, FrozenNet, GlobalAveragePooling, InstanceNormalization, LayerNormalization, Pooling,
  Relu, Sequential, shown, Sigmoid, Tanh, type Layer, type NetSpec, type Tensor,
} from '../../index.js';
import { ProtoWriter, type MessageBody } from './encode.js';
import {
  ATTRIBUTE, ATTRIBUTE_TYPE, DATA_TYPE, DIMENSION, ENTRY, GRAPH, MODEL, NODE, OPSET, SHAPE, TENSOR, TENSOR_TYPE, TYPE, VALUE_INFO,
} from './fields.js';

/** Options of exportOnnx (an unknown key is a TypeError). */
export interface ExportOnnxOptions {
  /**
   * One sample's shape, e.g. [1, 28, 28]. Default: the net's own (`net.inputShape`: the conv nets fix it), else
   * [D] for a net whose first weight layer is an Affine of D inputs. Needed for a net that tells neither
   * (a Sequential starting with a Convolution without `inputShape`); given where the net fixes one, it must be that one.
   */
  inputShape?: readonly number[];
  /** The batch dimension: a positive integer fixes it, a string names it symbolically (ONNX dim_param). Default 'N'. */
  batch?: number | string;
  /** End the graph with a Softmax over the last axis, so it outputs probabilities; default false (the logits, as net.predict). */
  probabilities?: boolean;
  /** The graph input's name; default 'x'. */
  inputName?: string;
  /** The graph output's name; default 'y'. */
  outputName?: string;
  /** ModelProto.producer_version, e.g. the simdnn version that trained the net (the CLI writes its own); default: none. */
  producerVersion?: string;
  /**
   * Strings to record in the model's metadata_props (e.g. what it was trained on, its test accuracy), as saveModel's
   * metadata: keys starting with 'simdnn.' are simdnn's (a named net's spec goes in as `simdnn.net`). Default: none.
   */
  metadata?: Readonly<Record<string, string>>;
}

/** The metadata_props key of a named net's spec (`net.spec` as JSON), as model files record it. */
export const ONNX_SPEC_KEY = 'simdnn.net';

/** ModelProto.ir_version written: 8 (ONNX 1.10 to 1.12, which brought opset 17). */
export const ONNX_IR_VERSION = 8;

const KEYS = new Set(['inputShape', 'batch', 'probabilities', 'inputName', 'outputName', 'producerVersion', 'metadata']);
const WHO = 'exportOnnx';

/** One attribute of a node. */
type Attribute = { name: string; int: number } | { name: string; float: number } | { name: string; ints: readonly number[] };

interface OnnxNode {
  op: string;
  name: string;
  inputs: string[];
  output: string;
  attributes: Attribute[];
}

interface Initializer {
  name: string;
  dims: readonly number[];
  dataType: number;
  /** The little-endian bytes (read when the model is written: a net's tensor as it is then). */
  bytes: () => Uint8Array;
}

/** Options checked, defaults applied. */
interface Checked {
  inputShape: readonly number[] | undefined;
  batch: number | string;
  probabilities: boolean;
  inputName: string;
  outputName: string;
  producerVersion: string | undefined;
  metadata: Record<string, string>;
}

/**
 * The ONNX model (ModelProto bytes) of `net` at this moment: its inference graph (what `net.predict(x)`
 * computes; see the mapping above) with its weights as float32 initializers named as the net's keys (W1,
 * b1, gamma1, runningMean1, …), one input [batch, ...inputShape] and one output, float32. Takes any Sequential
 * of simdnn's layers: the named nets (MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, DeepConvNet), alexNet's
 * and your own; a named net's spec goes into metadata_props as `simdnn.net` (JSON), so an importer can rebuild it.
 * The opset is the lowest the graph needs: 13, or 17 when it holds a LayerNormalization (ONNX's op came in
 * opset 17); IR version 8. ONNX Runtime gives the net's predictions within float32 rounding (its kernels sum
 * in another order). The bytes are a new array the caller owns; the net is only read.
 * @throws TypeError for a net that is not a Sequential, was disposed or holds a disposed tensor (naming the layer
 * and tensor), a layer ONNX has no mapping for (naming its index and name), a bad option (naming it), or a net whose
 * input shape neither it nor options.inputShape tells; RangeError for an option's value out of range or an
 * inputShape the layers do not fit. Nothing is encoded then.
 */
export function exportOnnx(net: Sequential, options: ExportOnnxOptions = {}): Uint8Array<ArrayBuffer> {
  return encodeOnnx(net, options).bytes;
}

/** A graph input's or output's name and shape (a string dimension is symbolic). */
export interface OnnxValue {
  name: string;
  shape: Array<number | string>;
}

/** What encodeOnnx wrote: the model's bytes, and what a report says of them. */
export interface OnnxExport {
  bytes: Uint8Array<ArrayBuffer>;
  opset: number;
  input: OnnxValue;
  output: OnnxValue;
}

/** @internal exportOnnx, with the opset and the graph's input and output (`simdnn export` reports them). */
export function encodeOnnx(net: Sequential, options: ExportOnnxOptions = {}): OnnxExport {
  const o = checkExportOptions(options);
  if (!(net instanceof Sequential)) {
    const hint = (net as unknown) instanceof FrozenNet ? ' (export the net it was frozen from)' : '';
    throw new TypeError(`${WHO}: net must be a Sequential (a named net, alexNet's or your own), got ${describeValue(net)}${hint}`);
  }
  if (net.disposed) throw new TypeError(`${WHO}: net used after dispose()`);
  const layers = net.layers;
  layers.forEach((layer, i) => checkLayer(net, layer, i));
  const inputShape = resolveInputShape(net, o.inputShape);
  const plan = new GraphPlan(o.inputName, o.outputName, keysOf(net));
  let shape = inputShape;
  layers.forEach((layer, i) => { shape = plan.layer(layer, i, shape); });
  plan.finish(o.probabilities);
  const input: OnnxValue = { name: o.inputName, shape: [o.batch, ...inputShape] };
  const output: OnnxValue = { name: o.outputName, shape: [o.batch, ...shape] };
  const spec = (net as Sequential & { spec?: NetSpec }).spec;
  const graphName = `simdnn ${spec?.kind ?? 'Sequential'}`;
  const bytes = ProtoWriter.encode((w) => {
    w.int(MODEL.irVersion, ONNX_IR_VERSION);
    w.string(MODEL.producerName, 'simdnn');
    if (o.producerVersion !== undefined) w.string(MODEL.producerVersion, o.producerVersion);
    w.message(MODEL.opsetImport, (s) => { s.string(OPSET.domain, ''); s.int(OPSET.version, plan.opset); });
    for (const [key, value] of [...Object.entries(o.metadata), ...(spec ? [[ONNX_SPEC_KEY, JSON.stringify(spec)]] : [])]) {
      w.message(MODEL.metadataProps, (e) => { e.string(ENTRY.key, key); e.string(ENTRY.value, value); });
    }
    w.message(MODEL.graph, (g) => {
      g.string(GRAPH.name, graphName);
      for (const node of plan.nodes) g.message(GRAPH.node, nodeBody(node));
      for (const init of plan.initializers) g.message(GRAPH.initializer, initializerBody(init));
      g.message(GRAPH.input, valueInfoBody(input));
      g.message(GRAPH.output, valueInfoBody(output));
    });
  });
  return { bytes, opset: plan.opset, input, output };
}

/** The options read once and checked (TypeError/RangeError naming the option), with their defaults. */
function checkExportOptions(options: ExportOnnxOptions): Checked {
  if (options === null || typeof options !== 'object') throw new TypeError(`${WHO}: options must be an object, got ${describeValue(options)}`);
  const o: ExportOnnxOptions = { ...options };
  checkOptions(WHO, o, KEYS);
  const { batch = 'N', probabilities = false, inputName = 'x', outputName = 'y', producerVersion, metadata = {} } = o;
  checkFlag(WHO, 'options.probabilities', probabilities);
  if (typeof batch === 'number') {
    if (!(Number.isSafeInteger(batch) && batch > 0)) throw new RangeError(`${WHO}: options.batch must be a positive integer or a name, got ${batch}`);
  } else if (typeof batch !== 'string' || batch === '') {
    throw new TypeError(`${WHO}: options.batch must be a positive integer or a name (a non-empty string), got ${describeValue(batch)}`);
  }
  for (const [what, name] of [['inputName', inputName], ['outputName', outputName]] as const) {
    if (typeof name !== 'string' || name === '') throw new TypeError(`${WHO}: options.${what} must be a non-empty string, got ${describeValue(name)}`);
  }
  if (inputName === outputName) throw new TypeError(`${WHO}: options.inputName and options.outputName are both '${inputName}'; the graph's input and output need names of their own`);
  if (producerVersion !== undefined && typeof producerVersion !== 'string') throw new TypeError(`${WHO}: options.producerVersion must be a string, got ${describeValue(producerVersion)}`);
  const meta = checkMetadata(WHO, metadata, 'ONNX metadata_props hold strings');
  return { inputShape: o.inputShape === undefined ? undefined : checkShape(o.inputShape), batch, probabilities, inputName, outputName, producerVersion, metadata: meta };
}

/** options.inputShape copied (each element read once) and checked: positive integers, at least one. */
function checkShape(shape: unknown): number[] {
  const expected = `${WHO}: options.inputShape: expected one sample's dimensions as positive integers`;
  if (!Array.isArray(shape)) throw new TypeError(`${expected}, got ${describeValue(shape)}`);
  const dims: unknown[] = Array.from({ length: shape.length }, (_, i) => shape[i]);
  const got = dims.length <= 8 ? `[${dims.map(shown).join(', ')}]` : describeValue(shape);
  if (dims.length === 0) throw new RangeError(`${expected}, got []`);
  if (!dims.every((d) => typeof d === 'number')) throw new TypeError(`${expected}, got ${got}`);
  if (!dims.every((d) => Number.isSafeInteger(d) && (d as number) > 0)) throw new RangeError(`${expected}, got ${got}`);
  return dims as number[];
}

/** The layer kinds exportOnnx maps, for messages. */
const MAPPED = 'Affine, Relu, Sigmoid, Tanh, Dropout, Convolution, Pooling, GlobalAveragePooling, BatchNormalization, LayerNormalization, InstanceNormalization, Flatten';

/** Refuses a layer with no ONNX mapping, or holding a tensor that is not a live float tensor of the net's runtime. */
function checkLayer(net: Sequential, layer: Layer, i: number): void {
  // a layer of the caller's may name itself with anything (a Symbol would throw in a template literal)
  const at = `${WHO}: net.layers[${i}] (${typeof layer.name === 'string' ? layer.name : describeValue(layer.name)})`;
  const tensors = tensorsOf(layer);
  if (tensors === null) throw new TypeError(`${at} has no ONNX mapping (exportOnnx maps simdnn's layers: ${MAPPED})`);
  for (const [name, t] of Object.entries(tensors)) checkFloatTensor(net.rt, t, `${at} ${name}`);
}

/** The tensors a mapped layer's ONNX nodes read, by name; null for a layer with no mapping. */
function tensorsOf(layer: Layer): Record<string, Tensor> | null {
  if (layer instanceof Affine || layer instanceof Convolution) return { W: layer.W, b: layer.b };
  if (layer instanceof BatchNormalization) return { gamma: layer.gamma, beta: layer.beta, runningMean: layer.runningMean, runningVar: layer.runningVar };
  if (layer instanceof LayerNormalization || layer instanceof InstanceNormalization) return { gamma: layer.gamma, beta: layer.beta };
  const plain = layer instanceof Relu || layer instanceof Sigmoid || layer instanceof Tanh || layer instanceof Dropout
    || layer instanceof Pooling || layer instanceof GlobalAveragePooling || layer instanceof Flatten;
  return plain ? {} : null;
}

/** One sample's shape: options.inputShape (which must be the net's own where it fixes one), the net's, or a first Affine's [D]. */
function resolveInputShape(net: Sequential, given: readonly number[] | undefined): readonly number[] {
  const own = net.inputShape;
  if (given && own && (given.length !== own.length || given.some((d, i) => d !== own[i]))) {
    throw new RangeError(`${WHO}: options.inputShape [${given.join(', ')}] is not the net's input shape [${own.join(', ')}]`);
  }
  const shape = given ?? own ?? firstAffineW(net.layers)?.slice(0, 1);
  if (!shape) throw new TypeError(`${WHO}: options.inputShape is needed: the net does not fix one sample's shape (no inputShape, and its first weight layer is no Affine)`);
  return shape;
}

/** Each of the net's parameter and state tensors by its key (W1, gamma1, runningMean1, …): the initializers' names. */
function keysOf(net: Sequential): Map<Tensor, string> {
  const keys = new Map<Tensor, string>();
  for (const [key, t] of [...Object.entries(net.params), ...Object.entries(net.state)]) if (!keys.has(t)) keys.set(t, key);
  return keys;
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** The nodes and initializers of the graph, built layer by layer along the chain from the input. */
class GraphPlan {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: Initializer[] = [];
  /** The lowest opset holding every op used. */
  opset = 13;
  /** The value the next node reads. */
  private current: string;
  /** Initializer names by the net's tensors (a tensor two layers share is written once). */
  private readonly written = new Map<Tensor, string>();
  /** Names taken: the graph's input and output (which the others avoid), the nodes' (and their outputs') and the initializers'. */
  private readonly names: Set<string>;
  /** The layer being planned, for node names. */
  private prefix = '';

  constructor(input: string, private readonly output: string, private readonly keys: Map<Tensor, string>) {
    this.current = input;
    this.names = new Set([input, output]);
  }

  /** Plans layer `i` on input samples of `shape`; returns its output samples' shape. */
  layer(layer: Layer, i: number, shape: readonly number[]): readonly number[] {
    this.prefix = `layers.${i}`;
    const at = `${WHO}: net.layers[${i}] (${layer.name})`;
    const fits = (ok: boolean, what: string) => {
      if (!ok) throw new RangeError(`${at} takes ${what}, its input samples are [${shape.join(', ')}] (see options.inputShape)`);
    };
    const images = (channels: number) => fits(shape.length === 3 && shape[0] === channels, `images [${channels}, H, W]`);
    if (layer instanceof Affine) {
      const [D, M] = layer.W.shape;
      fits(product(shape) === D, `${D} features a sample`);
      if (shape.length !== 1) this.node('Flatten', 'flatten', [], [{ name: 'axis', int: 1 }]);
      this.node('Gemm', 'gemm', [this.tensor(layer.W, [D, M], 'W'), this.tensor(layer.b, [M], 'b')]);
      return [M];
    }
    if (layer instanceof Relu || layer instanceof Sigmoid || layer instanceof Tanh) {
      this.node(layer.name, layer.name.toLowerCase());
      return shape;
    }
    if (layer instanceof Dropout) {
      // the book's form scales by 1 − ratio at inference (a float32, as the kernel takes it); the inverted form is the identity
      if (!layer.inverted && layer.ratio !== 0) this.node('Mul', 'mul', [this.constant('scale', [], DATA_TYPE.FLOAT, floatBytes([1 - layer.ratio]))]);
      return shape;
    }
    if (layer instanceof Flatten) {
      if (shape.length !== 1) this.node('Flatten', 'flatten', [], [{ name: 'axis', int: 1 }]);
      return [product(shape)];
    }
    if (layer instanceof Convolution) {
      const [FN, C, FH, FW] = layer.W.shape;
      images(C);
      const out = [FN, convOutputSize(shape[1], FH, layer.stride, layer.pad), convOutputSize(shape[2], FW, layer.stride, layer.pad)];
      fits(out[1] >= 1 && out[2] >= 1, `a ${FH}×${FW} filter with pad ${layer.pad}, which needs larger images`);
      const p = layer.pad;
      this.node('Conv', 'conv', [this.tensor(layer.W, [FN, C, FH, FW], 'W'), this.tensor(layer.b, [FN], 'b')], [
        { name: 'kernel_shape', ints: [FH, FW] }, { name: 'pads', ints: [p, p, p, p] }, { name: 'strides', ints: [layer.stride, layer.stride] },
      ]);
      return out;
    }
    if (layer instanceof Pooling) {
      fits(shape.length === 3, 'images [C, H, W]');
      const [C, H, W] = shape, p = layer.pad, s = layer.stride, kH = layer.poolH, kW = layer.poolW;
      const out = [C, convOutputSize(H, kH, s, p), convOutputSize(W, kW, s, p)];
      fits(out[1] >= 1 && out[2] >= 1, `a ${kH}×${kW} window with pad ${p}, which needs larger images`);
      if (p >= Math.min(kH, kW)) throw new RangeError(`${at} pads by ${p}, as much as its ${kH}×${kW} window or more: ONNX Runtime's pooling takes pads smaller than the window`);
      const window: Attribute[] = [{ name: 'kernel_shape', ints: [kH, kW] }, { name: 'strides', ints: [s, s] }, { name: 'pads', ints: [p, p, p, p] }];
      if (layer.mode === 'avg') {
        this.node('AveragePool', 'avgpool', [], [...window, { name: 'count_include_pad', int: 1 }]);
        return out;
      }
      this.node('MaxPool', 'maxpool', [], window);
      // The book's padding is zeros that take part in the max, where MaxPool's pads are −∞: a window that reaches
      // the padding gets Max(its maximum, 0), the others Max(it, −∞), itself. (A Pad of zeros before the MaxPool says
      // the same, but ONNX Runtime's PadFusion folds it into the MaxPool's pads, −∞ again.)
      if (p > 0) {
        const [OH, OW] = [out[1], out[2]];
        const reaches = (o: number, k: number, size: number) => o * s - p < 0 || o * s - p + k > size;
        const floor = Array.from({ length: OH * OW }, (_, i) => (reaches(Math.floor(i / OW), kH, H) || reaches(i % OW, kW, W) ? 0 : -Infinity));
        this.node('Max', 'max', [this.constant('padded', [OH, OW], DATA_TYPE.FLOAT, floatBytes(floor))]);
      }
      return out;
    }
    if (layer instanceof GlobalAveragePooling) {
      fits(shape.length === 3, 'images [C, H, W]');
      this.node('GlobalAveragePool', 'gap');
      this.node('Flatten', 'flatten', [], [{ name: 'axis', int: 1 }]);
      return [shape[0]];
    }
    if (layer instanceof BatchNormalization) {
      const F = layer.gamma.size;
      const stats = () => [this.tensor(layer.gamma, [F], 'gamma'), this.tensor(layer.beta, [F], 'beta'),
        this.tensor(layer.runningMean, [F], 'runningMean'), this.tensor(layer.runningVar, [F], 'runningVar')];
      // ONNX's momentum is the book's: running = momentum·running + (1 − momentum)·batch (a fine-tune after import uses it)
      const eps: Attribute[] = [{ name: 'epsilon', float: layer.eps }, { name: 'momentum', float: layer.momentum }];
      if (layer.spatial) {
        images(F);
        this.node('BatchNormalization', 'batchnorm', stats(), eps);
        return shape;
      }
      // per feature: ONNX's op normalises axis 1 of [N, C, ...] per channel, so N-D samples go through [N, F]
      fits(product(shape) === F, `${F} features a sample`);
      if (shape.length !== 1) this.node('Flatten', 'flatten', [], [{ name: 'axis', int: 1 }]);
      this.node('BatchNormalization', 'batchnorm', stats(), eps);
      if (shape.length !== 1) this.node('Reshape', 'reshape', [this.constant('shape', [shape.length + 1], DATA_TYPE.INT64, int64Bytes([0, ...shape]))]);
      return shape;
    }
    if (layer instanceof LayerNormalization) {
      fits(product(shape) === layer.gamma.size, `${layer.gamma.size} features a sample`);
      this.opset = Math.max(this.opset, 17);
      this.node('LayerNormalization', 'layernorm', [this.tensor(layer.gamma, shape, 'gamma'), this.tensor(layer.beta, shape, 'beta')], [
        { name: 'axis', int: 1 }, { name: 'epsilon', float: layer.eps },
      ]);
      return shape;
    }
    if (layer instanceof InstanceNormalization) {
      const C = layer.gamma.size;
      images(C);
      this.node('InstanceNormalization', 'instancenorm', [this.tensor(layer.gamma, [C], 'gamma'), this.tensor(layer.beta, [C], 'beta')], [
        { name: 'epsilon', float: layer.eps },
      ]);
      return shape;
    }
    throw new TypeError(`${at} has no ONNX mapping`); // checkLayer refused it before
  }

  /** A node reading the current value (then `inputs`), whose output becomes the current value. */
  private node(op: string, what: string, inputs: string[] = [], attributes: Attribute[] = []): void {
    const name = this.claim(`${this.prefix}${this.prefix ? '.' : ''}${what}`);
    this.nodes.push({ op, name, inputs: [this.current, ...inputs], output: name, attributes });
    this.current = name;
  }

  /** Ends the graph: a Softmax over the last axis with `probabilities`, and the last value named as the graph's output (an Identity when there is no node). */
  finish(probabilities: boolean): void {
    this.prefix = '';
    if (probabilities) this.node('Softmax', 'softmax', [], [{ name: 'axis', int: -1 }]);
    if (this.nodes.length === 0) this.node('Identity', 'identity');
    this.nodes[this.nodes.length - 1].output = this.output;
  }

  /** The initializer of a net's tensor (dims as ONNX takes them: its data is row-major either way). */
  private tensor(t: Tensor, dims: readonly number[], what: string): string {
    const known = this.written.get(t);
    if (known !== undefined) return known;
    const name = this.claim(this.keys.get(t) ?? `${this.prefix}.${what}`);
    this.written.set(t, name);
    this.initializers.push({ name, dims, dataType: DATA_TYPE.FLOAT, bytes: () => { const d = t.data; return new Uint8Array(d.buffer, d.byteOffset, d.byteLength); } });
    return name;
  }

  /** A constant initializer of the layer being planned. */
  private constant(what: string, dims: readonly number[], dataType: number, bytes: Uint8Array): string {
    const name = this.claim(`${this.prefix}.${what}`);
    this.initializers.push({ name, dims, dataType, bytes: () => bytes });
    return name;
  }

  /** `name`, or `name_2`, `name_3`, … when it is taken. */
  private claim(name: string): string {
    let unique = name;
    for (let n = 2; this.names.has(unique); n++) unique = `${name}_${n}`;
    this.names.add(unique);
    return unique;
  }
}

/** float32 values, little-endian. */
function floatBytes(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(4 * values.length), view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return bytes;
}

/** int64 values, little-endian. */
function int64Bytes(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(8 * values.length), view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
  return bytes;
}

function nodeBody(node: OnnxNode): MessageBody {
  return (w) => {
    for (const input of node.inputs) w.string(NODE.input, input);
    w.string(NODE.output, node.output);
    w.string(NODE.name, node.name);
    w.string(NODE.opType, node.op);
    for (const a of node.attributes) w.message(NODE.attribute, attributeBody(a));
  };
}

function attributeBody(a: Attribute): MessageBody {
  return (w) => {
    w.string(ATTRIBUTE.name, a.name);
    if ('int' in a) {
      w.int(ATTRIBUTE.i, a.int);
      w.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.INT);
    } else if ('float' in a) {
      w.float(ATTRIBUTE.f, a.float);
      w.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.FLOAT);
    } else {
      w.packedInts(ATTRIBUTE.ints, a.ints);
      w.int(ATTRIBUTE.type, ATTRIBUTE_TYPE.INTS);
    }
  };
}

function initializerBody(t: Initializer): MessageBody {
  return (w) => {
    w.packedInts(TENSOR.dims, t.dims);
    w.int(TENSOR.dataType, t.dataType);
    w.string(TENSOR.name, t.name);
    w.bytes(TENSOR.rawData, t.bytes());
  };
}

/** A float32 tensor's ValueInfoProto; a string dimension is symbolic (dim_param). */
function valueInfoBody({ name, shape: dims }: OnnxValue): MessageBody {
  return (w) => {
    w.string(VALUE_INFO.name, name);
    w.message(VALUE_INFO.type, (type) => type.message(TYPE.tensorType, (tensor) => {
      tensor.int(TENSOR_TYPE.elemType, DATA_TYPE.FLOAT);
      tensor.message(TENSOR_TYPE.shape, (shape) => {
        for (const d of dims) {
          shape.message(SHAPE.dim, (dim) => (typeof d === 'string' ? dim.string(DIMENSION.dimParam, d) : dim.int(DIMENSION.dimValue, d)));
        }
      });
    }));
  };
}
