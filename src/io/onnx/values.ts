// Reading a node of an ONNX graph for importOnnx: its attributes (each checked to be one simdnn reads for
// its op, of the type the op gives it) and its tensors' values (float32, float16, bfloat16 or float64 weights
// as float32; int64 and int32 shapes and flags), each refused by name (OnnxError naming the node) when it
// is not what the op needs. Nothing here allocates runtime memory.
import { decodeFloats, MAX_ELEMENTS, SafetensorsError } from '../../index.js';
import { ATTRIBUTE_TYPE, DATA_TYPE, DATA_TYPE_MORE } from './fields.js';
import { OnnxError, type OnnxAttribute, type OnnxNode, type OnnxTensor } from './decode.js';

/** Refuses the node (or value) `at` for `why`: an OnnxError. */
export function refuse(at: string, why: string): never {
  throw new OnnxError(`onnx: ${at} ${why}`);
}

export function epsilon(at: string, eps: number): number {
  if (!(Number.isFinite(eps) && Math.fround(eps) > 0)) refuse(at, `has epsilon ${eps}; simdnn needs a positive one a float32 holds`);
  return eps;
}

export function normalizeAxis(at: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!(a >= 0 && a < rank)) refuse(at, `has axis ${axis} for a tensor of rank ${rank}`);
  return a;
}

/** A Constant node's value as a tensor. */
export function constantValue(node: OnnxNode, at: string): OnnxTensor {
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
export class Attributes {
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

export function attributes(node: OnnxNode, at: string, kinds: Record<string, AttributeKind>): Attributes {
  return new Attributes(at, node, kinds);
}

// ---- tensor values ------------------------------------------------------------------------------------

const FLOAT_DTYPES: Record<number, string> = { [DATA_TYPE.FLOAT]: 'F32', [DATA_TYPE.FLOAT16]: 'F16', [DATA_TYPE_MORE.BFLOAT16]: 'BF16', [DATA_TYPE.DOUBLE]: 'F64' };
const TYPE_NAMES: Record<number, string> = {
  0: 'undefined', 1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16',
};

export function dataTypeName(t: number): string {
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
export function floatsOf(t: OnnxTensor, at: string, what: string, dims: readonly number[] | null): Float32Array {
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
export function broadcastBias(t: OnnxTensor, at: string, what: string, n: number, forms: number[][]): Float32Array {
  if (!forms.some((f) => f.length === t.dims.length && f.every((d, i) => d === t.dims[i]))) {
    refuse(at, `has its ${what} '${t.name}' of dims [${t.dims.join(', ')}]; simdnn reads ${forms.map((f) => `[${f.join(', ')}]`).join(', ')}`);
  }
  const v = floatsOf(t, at, what, null);
  return v.length === n ? v : new Float32Array(n).fill(v[0]);
}

/** An int64 or int32 tensor's values (shapes, flags). */
export function intsOf(t: OnnxTensor, at: string, what: string): number[] {
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
