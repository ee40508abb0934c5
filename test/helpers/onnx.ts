// ONNX models built in tests as exporters write them (PyTorch's torch.onnx.export, tf2onnx), with onnx-proto
// (protobufjs' encoder generated from onnx.proto, independent of simdnn's own writer), and run in ONNX Runtime
// Web (wasm, 1 thread where the caller sets it), the peer the ONNX tests compare simdnn's nets with.
import * as ort from 'onnxruntime-web';
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
export type INode = onnxProto.onnx.INodeProto;
export type ITensor = onnxProto.onnx.ITensorProto;
export type IAttribute = onnxProto.onnx.IAttributeProto;

export const FLOAT = onnx.TensorProto.DataType.FLOAT, INT64 = onnx.TensorProto.DataType.INT64;
const A = onnx.AttributeProto.AttributeType;
export const int = (i: number): IAttribute => ({ type: A.INT, i });
export const float = (f: number): IAttribute => ({ type: A.FLOAT, f });
export const ints = (v: number[]): IAttribute => ({ type: A.INTS, ints: v });
export const str = (s: string): IAttribute => ({ type: A.STRING, s: new TextEncoder().encode(s) });

export function node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, IAttribute> = {}, name = outputs[0]): INode {
  return { opType, input: inputs, output: outputs, name, attribute: Object.entries(attrs).map(([n, a]) => ({ name: n, ...a })) };
}

/** A float32 initializer as raw_data (PyTorch's form) or float_data. */
export function init(name: string, dims: number[], values: Float32Array, form: 'raw' | 'floats' = 'raw'): ITensor {
  return form === 'raw'
    ? { name, dims, dataType: FLOAT, rawData: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)) }
    : { name, dims, dataType: FLOAT, floatData: Array.from(values) };
}
export const int64s = (name: string, values: number[]): ITensor => ({ name, dims: [values.length], dataType: INT64, int64Data: values });

/** A dimension: a size, a symbolic name (dim_param), or null for one with neither. */
export type Dim = number | string | null;
export const valueInfo = (name: string, dims: Dim[]) => ({
  name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (d === null ? {} : typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
});

export interface GraphSpec {
  nodes: INode[]; inits: ITensor[]; input: [string, Dim[]]; output: [string, Dim[]];
  opset?: number; opsetDomain?: string; producer?: string; producerVersion?: string; irVersion?: number; extraInputs?: Array<[string, Dim[]]>;
}

/** The model's bytes (a copy: in Node protobufjs gives a Buffer, whose slice() is a view). */
export function model(g: GraphSpec): Uint8Array {
  return new Uint8Array(onnx.ModelProto.encode({
    irVersion: g.irVersion ?? 8, producerName: g.producer ?? 'pytorch', ...(g.producerVersion !== undefined ? { producerVersion: g.producerVersion } : {}),
    opsetImport: [{ domain: g.opsetDomain ?? '', version: g.opset ?? 13 }],
    graph: {
      name: 'test', node: g.nodes, initializer: g.inits,
      input: [valueInfo(...g.input), ...(g.extraInputs ?? []).map(([n, d]) => valueInfo(n, d))], output: [valueInfo(...g.output)],
    },
  }).finish());
}

/** The model's output (the one named, else its first) for x in ONNX Runtime Web, all graph optimizations on, as a deployment runs it. */
export async function ortOutput(bytes: Uint8Array, x: Float32Array, dims: readonly number[], names: { input?: string; output?: string } = {}): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  try {
    const out = await session.run({ [names.input ?? 'x']: new ort.Tensor('float32', x, [...dims]) });
    const y = out[names.output ?? session.outputNames[0]];
    return { data: y.data as Float32Array, dims: y.dims };
  } finally {
    await session.release();
  }
}

/** ortOutput's values, for the input named `input`. */
export async function ortRun(bytes: Uint8Array, input: string, x: Float32Array, dims: number[]): Promise<Float32Array> {
  return (await ortOutput(bytes, x, dims, { input })).data;
}

/** The largest |a[i] − b[i]| (Infinity for other lengths or a NaN). */
export function maxDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    d = Number.isNaN(e) ? Infinity : Math.max(d, e);
  }
  return d;
}
