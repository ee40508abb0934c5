// A protobuf reader of untrusted ONNX bytes (decode.ts → import.ts): the few messages a feed-forward
// graph holds (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto) decoded
// into plain objects. Every length is checked against the bytes its message has left before anything
// is read or made, so a lying length is an OnnxError at its byte, never a RangeError from a typed array
// or an allocation it asked for: what is made is bounded by the input's own size (a packed field's
// values by its checked length, an unpacked one's by the bytes each takes). Unknown fields are skipped
// by wire type, as protobuf readers do; a known field with the wrong wire type, a varint over 10 bytes,
// a group or an invalid wire type are errors. Messages nest a fixed few levels deep (a graph attribute,
// If's and Loop's subgraphs, is counted, not decoded), so no input can recurse without bound.
import { ATTRIBUTE, ATTRIBUTE_UNREAD, DIMENSION, ENTRY, GRAPH, MODEL, NODE, OPSET, SHAPE, TENSOR, TENSOR_TYPE, TYPE, TYPE_DENOTATION, VALUE_INFO, WIRE } from './fields.js';

/** A malformed or unsupported ONNX model; the message says what, and where (a byte offset or a node). */
export class OnnxError extends Error {
  override name = 'OnnxError';
}

/** A TensorProto as stored: the importer converts its data (decodeOnnx does not read raw_data). */
export interface OnnxTensor {
  name: string;
  dims: number[];
  /** TensorProto.DataType (fields.ts DATA_TYPE); 0 when the field is absent. */
  dataType: number;
  /** raw_data, a view of the model's bytes (null when absent). */
  rawData: Uint8Array | null;
  floatData: Float32Array;
  /** int32_data (also float16/bfloat16 bit patterns, one a value). */
  int32Data: number[];
  /** int64_data, as numbers (a value beyond ±2^53 is not a safe integer: its user checks). */
  int64Data: number[];
  doubleData: Float64Array;
  /** TensorProto.DataLocation: 0 DEFAULT, 1 EXTERNAL (the data in another file). */
  dataLocation: number;
  /** Whether the tensor has a segment, string_data, uint64_data or external_data (none of which simdnn reads). */
  hasOtherData: boolean;
  /** The byte of the model at which the tensor's message starts. */
  at: number;
}

/** An AttributeProto: the value in the field its type names. */
export interface OnnxAttribute {
  name: string;
  /** AttributeProto.AttributeType (fields.ts ATTRIBUTE_TYPE); 0 when absent. */
  type: number;
  f: number | null;
  i: number | null;
  s: Uint8Array | null;
  t: OnnxTensor | null;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  /** How many graphs, tensors-lists and sparse tensors it holds (g, graphs, tensors, sparse_tensor…): counted, not decoded. */
  others: number;
  /** A reference to an attribute of the enclosing function (ref_attr_name), '' when absent. */
  refAttrName: string;
}

/** A NodeProto. Absent optional inputs are ''. */
export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: OnnxAttribute[];
  at: number;
}

/** One dimension: a size (dim_value), a symbol (dim_param) or null (neither). */
export type OnnxDim = number | string | null;

/** A ValueInfoProto: a tensor's name, element type and shape where its type is a tensor's. */
export interface OnnxValueInfo {
  name: string;
  /** Whether the type is a tensor type (not a sequence, map, optional or sparse tensor). */
  isTensor: boolean;
  /** TensorProto.DataType of the elements, 0 when absent. */
  elemType: number;
  /** The dimensions, or null when the type has no shape (any rank). */
  shape: OnnxDim[] | null;
}

/** A GraphProto (value_info, doc strings and names of other fields are skipped). */
export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** sparse_initializer entries: counted (simdnn reads dense weights only). */
  sparseInitializers: number;
}

/** A ModelProto. */
export interface OnnxModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  /** (domain, version) of each operator set the model imports; '' is the default domain (ai.onnx). */
  opsetImport: Array<{ domain: string; version: number }>;
  metadata: Record<string, string>;
  graph: OnnxGraph;
}

const WIRE_NAMES = ['varint', '64-bit', 'length-delimited', 'group start', 'group end', '32-bit'];
const utf8 = new TextDecoder('utf-8', { fatal: true });
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A field's key as read: its number, wire type and the byte it starts at. */
interface Key { field: number; wire: number; at: number }

/** Reads one message's bytes [pos, end) of the model; `what` names the message in errors. */
class Reader {
  constructor(readonly bytes: Uint8Array, public pos: number, readonly end: number, readonly what: string) {}

  fail(at: number, why: string): never {
    throw new OnnxError(`onnx: ${this.what}: ${why} (at byte ${at})`);
  }

  /** A varint as its low and high 32 bits (bits past 64 dropped, as protobuf's own readers do). */
  private varint64(): [number, number] {
    const start = this.pos;
    let lo = 0, hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail(start, `a varint runs past the end of the message (${this.end - start} bytes left)`);
      const b = this.bytes[this.pos++];
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) return [lo >>> 0, hi >>> 0];
    }
    return this.fail(start, 'a varint longer than 10 bytes');
  }

  /** An unsigned varint as a number (exact up to 2^53). */
  uint(): number {
    const [lo, hi] = this.varint64();
    return hi * 2 ** 32 + lo;
  }

  /** A varint as an int64 (two's complement): exact within ±2^53, beyond it not a safe integer. */
  int64(): number {
    const [lo, hi] = this.varint64();
    return (hi | 0) * 2 ** 32 + lo;
  }

  /** The next field's key, or null at the message's end. */
  key(): Key | null {
    if (this.pos >= this.end) return null;
    const at = this.pos;
    const [lo, hi] = this.varint64();
    const field = hi * 2 ** 29 + (lo >>> 3), wire = lo & 7;
    if (field === 0 || field >= 2 ** 29) this.fail(at, `field number ${field} is not a valid one`);
    if (wire !== WIRE.VARINT && wire !== WIRE.I64 && wire !== WIRE.LEN && wire !== WIRE.I32) {
      this.fail(at, `field ${field} has wire type ${wire} (${WIRE_NAMES[wire] ?? 'invalid'}), which ONNX does not use`);
    }
    return { field, wire, at };
  }

  /** Skips the value of a field this reader does not read. */
  skip(k: Key): void {
    if (k.wire === WIRE.VARINT) this.varint64();
    else if (k.wire === WIRE.LEN) this.take(this.length(k));
    else this.take(k.wire === WIRE.I64 ? 8 : 4);
  }

  /** Checks a field's wire type (`name` is the field's name in errors). */
  expect(k: Key, wire: number, name: string): void {
    if (k.wire !== wire) this.fail(k.at, `${name} (field ${k.field}) has wire type ${k.wire} (${WIRE_NAMES[k.wire]}), expected ${WIRE_NAMES[wire]}`);
  }

  /** A length-delimited field's length, checked against the bytes left. */
  private length(k: Key): number {
    const at = this.pos;
    const n = this.uint();
    if (n > this.end - this.pos) this.fail(at, `field ${k.field}'s length ${n} runs past the end of the message (${this.end - this.pos} bytes left)`);
    return n;
  }

  /** `n` bytes (checked against the bytes left): a view of the model's bytes. */
  private take(n: number): Uint8Array {
    if (n > this.end - this.pos) this.fail(this.pos, `a ${n}-byte value runs past the end of the message (${this.end - this.pos} bytes left)`);
    const view = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return view;
  }

  /** A bytes field: a view of the model's bytes. */
  bytesField(k: Key, name: string): Uint8Array {
    this.expect(k, WIRE.LEN, name);
    return this.take(this.length(k));
  }

  /** A string field (valid UTF-8). */
  string(k: Key, name: string): string {
    const b = this.bytesField(k, name);
    try {
      return utf8.decode(b);
    } catch {
      return this.fail(k.at, `${name} is not valid UTF-8`);
    }
  }

  /** A varint field as an int64. */
  intField(k: Key, name: string): number {
    this.expect(k, WIRE.VARINT, name);
    return this.int64();
  }

  /** A float field (fixed32). */
  floatField(k: Key, name: string): number {
    this.expect(k, WIRE.I32, name);
    return readFloat32(this.take(4));
  }

  /** A nested message: a reader over its bytes (this one moves past them). */
  message(k: Key, name: string): Reader {
    this.expect(k, WIRE.LEN, name);
    const n = this.length(k);
    const sub = new Reader(this.bytes, this.pos, this.pos + n, name);
    this.pos += n;
    return sub;
  }

  /** One field of a repeated varint (int32/int64) field, packed or not, appended to `out`. */
  repeatedInts(k: Key, name: string, out: number[]): void {
    if (k.wire !== WIRE.LEN) {
      out.push(this.intField(k, name));
      return;
    }
    const run = this.message(k, name);
    while (run.pos < run.end) out.push(run.int64());
  }

  /** One field of a repeated fixed-width float or double field, packed or not, as values (`size` 4 or 8). */
  repeatedFixed(k: Key, name: string, size: 4 | 8): Float32Array | Float64Array {
    const wire = size === 4 ? WIRE.I32 : WIRE.I64;
    let b: Uint8Array;
    if (k.wire === WIRE.LEN) {
      b = this.bytesField(k, name);
      if (b.length % size !== 0) this.fail(k.at, `${name} holds ${b.length} bytes, not a whole number of ${size}-byte values`);
    } else {
      this.expect(k, wire, name);
      b = this.take(size);
    }
    return size === 4 ? floats32(b) : floats64(b);
  }
}

function readFloat32(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
}

/** Little-endian float32s of `b` (a copy: `b` may sit at any byte offset). */
function floats32(b: Uint8Array): Float32Array {
  const out = new Float32Array(b.length / 4);
  if (littleEndian) new Uint8Array(out.buffer).set(b);
  else {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = v.getFloat32(4 * i, true);
  }
  return out;
}

function floats64(b: Uint8Array): Float64Array {
  const out = new Float64Array(b.length / 8);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = v.getFloat64(8 * i, true);
  return out;
}

/** Concatenated values of a repeated float field that came in several runs. */
function concatFloats<T extends Float32Array | Float64Array>(parts: T[], make: (n: number) => T): T {
  if (parts.length === 1) return parts[0];
  const out = make(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Decodes the bytes of an ONNX model (a ModelProto) into plain objects; reads no tensor's data
 * beyond its fields (raw_data stays a view of `bytes`).
 * @throws OnnxError (naming the message and the byte offset) for bytes that are not a well-formed
 * ModelProto with a graph.
 */
export function decodeOnnx(bytes: Uint8Array): OnnxModel {
  const r = new Reader(bytes, 0, bytes.length, 'ModelProto');
  const model: Omit<OnnxModel, 'graph'> & { graph: OnnxGraph | null } = {
    irVersion: 0, producerName: '', producerVersion: '', domain: '', modelVersion: 0, docString: '', opsetImport: [], metadata: {}, graph: null,
  };
  for (let k = r.key(); k; k = r.key()) {
    switch (k.field) {
      case MODEL.irVersion: model.irVersion = r.intField(k, 'ir_version'); break;
      case MODEL.producerName: model.producerName = r.string(k, 'producer_name'); break;
      case MODEL.producerVersion: model.producerVersion = r.string(k, 'producer_version'); break;
      case MODEL.domain: model.domain = r.string(k, 'domain'); break;
      case MODEL.modelVersion: model.modelVersion = r.intField(k, 'model_version'); break;
      case MODEL.docString: model.docString = r.string(k, 'doc_string'); break;
      case MODEL.graph:
        if (model.graph) r.fail(k.at, 'the model holds a second graph');
        model.graph = readGraph(r.message(k, 'ModelProto.graph'));
        break;
      case MODEL.opsetImport: model.opsetImport.push(readOpset(r.message(k, `ModelProto.opset_import[${model.opsetImport.length}]`))); break;
      case MODEL.metadataProps: {
        const [key, value] = readEntry(r.message(k, 'ModelProto.metadata_props'));
        model.metadata[key] = value;
        break;
      }
      default: r.skip(k);
    }
  }
  if (!model.graph) throw new OnnxError(`onnx: the model has no graph (${bytes.length} bytes${bytes.length === 0 ? '' : ' decoded'}; is this an ONNX model?)`);
  return model as OnnxModel;
}

function readOpset(r: Reader): { domain: string; version: number } {
  const o = { domain: '', version: 0 };
  for (let k = r.key(); k; k = r.key()) {
    if (k.field === OPSET.domain) o.domain = r.string(k, 'domain');
    else if (k.field === OPSET.version) o.version = r.intField(k, 'version');
    else r.skip(k);
  }
  return o;
}

function readEntry(r: Reader): [string, string] {
  let key = '', value = '';
  for (let k = r.key(); k; k = r.key()) {
    if (k.field === ENTRY.key) key = r.string(k, 'key');
    else if (k.field === ENTRY.value) value = r.string(k, 'value');
    else r.skip(k);
  }
  return [key, value];
}

function readGraph(r: Reader): OnnxGraph {
  const g: OnnxGraph = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], sparseInitializers: 0 };
  for (let k = r.key(); k; k = r.key()) {
    switch (k.field) {
      case GRAPH.node: g.nodes.push(readNode(r.message(k, `GraphProto.node[${g.nodes.length}]`))); break;
      case GRAPH.name: g.name = r.string(k, 'name'); break;
      case GRAPH.initializer: g.initializers.push(readTensor(r.message(k, `GraphProto.initializer[${g.initializers.length}]`))); break;
      case GRAPH.input: g.inputs.push(readValueInfo(r.message(k, `GraphProto.input[${g.inputs.length}]`))); break;
      case GRAPH.output: g.outputs.push(readValueInfo(r.message(k, `GraphProto.output[${g.outputs.length}]`))); break;
      case GRAPH.sparseInitializer: r.message(k, 'GraphProto.sparse_initializer'); g.sparseInitializers++; break;
      default: r.skip(k);
    }
  }
  return g;
}

function readNode(r: Reader): OnnxNode {
  const n: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: [], at: r.pos };
  for (let k = r.key(); k; k = r.key()) {
    switch (k.field) {
      case NODE.input: n.inputs.push(r.string(k, 'input')); break;
      case NODE.output: n.outputs.push(r.string(k, 'output')); break;
      case NODE.name: n.name = r.string(k, 'name'); break;
      case NODE.opType: n.opType = r.string(k, 'op_type'); break;
      case NODE.domain: n.domain = r.string(k, 'domain'); break;
      case NODE.attribute: n.attributes.push(readAttribute(r.message(k, `${r.what}.attribute[${n.attributes.length}]`))); break;
      default: r.skip(k);
    }
  }
  return n;
}

function readAttribute(r: Reader): OnnxAttribute {
  const a: OnnxAttribute = { name: '', type: 0, f: null, i: null, s: null, t: null, floats: [], ints: [], strings: [], others: 0, refAttrName: '' };
  for (let k = r.key(); k; k = r.key()) {
    switch (k.field) {
      case ATTRIBUTE.name: a.name = r.string(k, 'name'); break;
      case ATTRIBUTE.f: a.f = r.floatField(k, 'f'); break;
      case ATTRIBUTE.i: a.i = r.intField(k, 'i'); break;
      case ATTRIBUTE.s: a.s = r.bytesField(k, 's'); break;
      case ATTRIBUTE.t: a.t = readTensor(r.message(k, `${r.what}.t`)); break;
      case ATTRIBUTE.floats: for (const v of r.repeatedFixed(k, 'floats', 4)) a.floats.push(v); break;
      case ATTRIBUTE.ints: r.repeatedInts(k, 'ints', a.ints); break;
      case ATTRIBUTE.strings: a.strings.push(r.bytesField(k, 'strings')); break;
      case ATTRIBUTE.type: a.type = r.intField(k, 'type'); break;
      case ATTRIBUTE.refAttrName: a.refAttrName = r.string(k, 'ref_attr_name'); break;
      case ATTRIBUTE.g: case ATTRIBUTE.graphs: case ATTRIBUTE.tensors:
      case ATTRIBUTE_UNREAD.tp: case ATTRIBUTE_UNREAD.typeProtos: case ATTRIBUTE_UNREAD.sparseTensor: case ATTRIBUTE_UNREAD.sparseTensors:
        r.message(k, 'a graph or tensor attribute value');
        a.others++;
        break;
      default: r.skip(k);
    }
  }
  return a;
}

function readTensor(r: Reader): OnnxTensor {
  const t: OnnxTensor = {
    name: '', dims: [], dataType: 0, rawData: null, floatData: new Float32Array(0), int32Data: [], int64Data: [],
    doubleData: new Float64Array(0), dataLocation: 0, hasOtherData: false, at: r.pos,
  };
  const floats: Float32Array[] = [], doubles: Float64Array[] = [];
  for (let k = r.key(); k; k = r.key()) {
    switch (k.field) {
      case TENSOR.dims: r.repeatedInts(k, 'dims', t.dims); break;
      case TENSOR.dataType: t.dataType = r.intField(k, 'data_type'); break;
      case TENSOR.floatData: floats.push(r.repeatedFixed(k, 'float_data', 4) as Float32Array); break;
      case TENSOR.int32Data: r.repeatedInts(k, 'int32_data', t.int32Data); break;
      case TENSOR.int64Data: r.repeatedInts(k, 'int64_data', t.int64Data); break;
      case TENSOR.name: t.name = r.string(k, 'name'); break;
      case TENSOR.rawData: t.rawData = r.bytesField(k, 'raw_data'); break;
      case TENSOR.doubleData: doubles.push(r.repeatedFixed(k, 'double_data', 8) as Float64Array); break;
      case TENSOR.dataLocation: t.dataLocation = r.intField(k, 'data_location'); break;
      case TENSOR.segment: case TENSOR.stringData: case TENSOR.uint64Data: case TENSOR.externalData:
        r.skip(k);
        t.hasOtherData = true;
        break;
      default: r.skip(k);
    }
  }
  if (floats.length > 0) t.floatData = concatFloats(floats, (n) => new Float32Array(n));
  if (doubles.length > 0) t.doubleData = concatFloats(doubles, (n) => new Float64Array(n));
  return t;
}

function readValueInfo(r: Reader): OnnxValueInfo {
  const v: OnnxValueInfo = { name: '', isTensor: false, elemType: 0, shape: null };
  for (let k = r.key(); k; k = r.key()) {
    if (k.field === VALUE_INFO.name) v.name = r.string(k, 'name');
    else if (k.field === VALUE_INFO.type) readType(r.message(k, `ValueInfoProto.type`), v);
    else r.skip(k);
  }
  return v;
}

function readType(r: Reader, v: OnnxValueInfo): void {
  for (let k = r.key(); k; k = r.key()) {
    if (k.field !== TYPE.tensorType) {
      r.skip(k);
      // a sequence, map, optional or sparse tensor type (denotation, field 6, is only a note)
      if (k.field !== TYPE_DENOTATION) v.isTensor = false;
      continue;
    }
    v.isTensor = true;
    const t = r.message(k, 'TypeProto.tensor_type');
    for (let f = t.key(); f; f = t.key()) {
      if (f.field === TENSOR_TYPE.elemType) v.elemType = t.intField(f, 'elem_type');
      else if (f.field === TENSOR_TYPE.shape) v.shape = readShape(t.message(f, 'TypeProto.Tensor.shape'));
      else t.skip(f);
    }
  }
}

function readShape(r: Reader): OnnxDim[] {
  const dims: OnnxDim[] = [];
  for (let k = r.key(); k; k = r.key()) {
    if (k.field !== SHAPE.dim) {
      r.skip(k);
      continue;
    }
    const d = r.message(k, `TensorShapeProto.dim[${dims.length}]`);
    let dim: OnnxDim = null;
    for (let f = d.key(); f; f = d.key()) {
      if (f.field === DIMENSION.dimValue) dim = d.intField(f, 'dim_value');
      else if (f.field === DIMENSION.dimParam) dim = d.string(f, 'dim_param');
      else d.skip(f);
    }
    dims.push(dim);
  }
  return dims;
}
