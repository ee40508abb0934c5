// Field numbers and enum values of the ONNX protobuf messages simdnn writes and reads,
// from onnx/onnx.proto (IR version 8). The writer (encode.ts) and the reader (decode.ts)
// both name fields through these, so the two cannot disagree.

/** ModelProto's fields. */
export const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, domain: 4, modelVersion: 5, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14 } as const;
/** OperatorSetIdProto's fields. */
export const OPSET = { domain: 1, version: 2 } as const;
/** StringStringEntryProto's fields (metadata_props). */
export const ENTRY = { key: 1, value: 2 } as const;
/** GraphProto's fields. */
export const GRAPH = { node: 1, name: 2, initializer: 5, docString: 10, input: 11, output: 12, valueInfo: 13, sparseInitializer: 15 } as const;
/** NodeProto's fields. */
export const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, docString: 6, domain: 7 } as const;
/** AttributeProto's fields. */
export const ATTRIBUTE = { name: 1, f: 2, i: 3, s: 4, t: 5, g: 6, floats: 7, ints: 8, strings: 9, tensors: 10, graphs: 11, docString: 13, type: 20, refAttrName: 21 } as const;
/** AttributeProto.AttributeType. */
export const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 } as const;
/** TensorProto's fields. */
export const TENSOR = { dims: 1, dataType: 2, segment: 3, floatData: 4, int32Data: 5, stringData: 6, int64Data: 7, name: 8, rawData: 9, doubleData: 10, uint64Data: 11, docString: 12, externalData: 13, dataLocation: 14 } as const;
/** TensorProto.DataType (the ones simdnn meets). */
export const DATA_TYPE = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, FLOAT16: 10, DOUBLE: 11 } as const;
/** ValueInfoProto's fields. */
export const VALUE_INFO = { name: 1, type: 2, docString: 3 } as const;
/** TypeProto's fields (tensor_type) and TypeProto.Tensor's. */
export const TYPE = { tensorType: 1 } as const;
export const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
/** TensorShapeProto's field and TensorShapeProto.Dimension's. */
export const SHAPE = { dim: 1 } as const;
export const DIMENSION = { dimValue: 1, dimParam: 2, denotation: 3 } as const;

/** Protobuf wire types. */
export const WIRE = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

// Read by decode.ts / import.ts only (added by the reader):
/** AttributeProto's fields whose values the reader counts without decoding (tp, type_protos, sparse_tensor, sparse_tensors). */
export const ATTRIBUTE_UNREAD = { tp: 14, typeProtos: 15, sparseTensor: 22, sparseTensors: 23 } as const;
/** TypeProto's denotation field (a note beside the tensor type, not another type). */
export const TYPE_DENOTATION = 6;
/** TensorProto.DataType values beyond DATA_TYPE that the reader converts or names. */
export const DATA_TYPE_MORE = { BOOL: 9, BFLOAT16: 16 } as const;
