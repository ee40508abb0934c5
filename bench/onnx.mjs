// An ONNX model of a simdnn net, with its weights, for ONNX Runtime Web (the
// inference peer). Hand-encoded protobuf: the few messages a feed-forward
// graph needs (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto), so the bench needs no ONNX package. Field numbers from
// onnx/onnx.proto (IR version 8, opset 13).

const enc = new TextEncoder();

function varint(n) {
  const out = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // int64 two's complement
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}

const key = (field, wire) => varint((field << 3) | wire);
/** A varint field. */
const int = (field, n) => [...key(field, 0), ...varint(n)];
/** A length-delimited field: bytes, a string or an embedded message. */
function bytes(field, data) {
  const b = typeof data === 'string' ? enc.encode(data) : data;
  return [...key(field, 2), ...varint(b.length), ...b];
}
/** A float field (fixed32). */
function float(field, x) {
  const b = new Uint8Array(new Float32Array([x]).buffer);
  return [...key(field, 5), ...b];
}
const cat = (parts) => parts.flat();

const ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_INTS = 7;
function attr(name, value) {
  if (Array.isArray(value)) return cat([bytes(1, name), ...value.map((v) => int(8, v)), int(20, ATTR_INTS)]);
  if (Number.isInteger(value)) return cat([bytes(1, name), int(3, value), int(20, ATTR_INT)]);
  return cat([bytes(1, name), float(2, value), int(20, ATTR_FLOAT)]);
}

function node(op, inputs, outputs, attrs = {}) {
  return cat([...inputs.map((i) => bytes(1, i)), ...outputs.map((o) => bytes(2, o)), bytes(4, op),
    ...Object.entries(attrs).map(([n, v]) => bytes(5, attr(n, v)))]);
}

const FLOAT = 1;
function initializer(name, dims, data) {
  const raw = new Uint8Array(Float32Array.from(data).buffer);
  return cat([...dims.map((d) => int(1, d)), int(2, FLOAT), bytes(8, name), bytes(9, raw)]);
}

/** A float tensor's ValueInfo; a string dimension is symbolic (the batch). */
function valueInfo(name, dims) {
  const shape = cat(dims.map((d) => bytes(1, typeof d === 'string' ? bytes(2, d) : int(1, d))));
  const tensorType = cat([int(1, FLOAT), bytes(2, shape)]);
  return cat([bytes(1, name), bytes(2, bytes(1, tensorType))]);
}

/**
 * The ONNX model (bytes) of a simdnn Sequential's inference graph: Affine →
 * Gemm (with a Flatten before the first one after images), Convolution → Conv,
 * Pooling → MaxPool, Relu/Sigmoid/Tanh, Dropout → its inference scale (Mul by
 * 1 - ratio; nothing for inverted dropout). Input
 * 'x' [N, ...inputShape], output 'y'.
 */
export function onnxModel(net, inputShape) {
  const nodes = [], inits = [];
  let cur = 'x', rank = inputShape.length + 1, n = 0;
  const next = () => `t${n++}`;
  for (const layer of net.layers) {
    const out = next();
    switch (layer.name) {
      case 'Affine': {
        if (rank > 2) {
          nodes.push(node('Flatten', [cur], [`${out}f`], { axis: 1 }));
          cur = `${out}f`;
          rank = 2;
        }
        const [inSize, outSize] = layer.W.shape;
        inits.push(initializer(`${out}W`, [inSize, outSize], layer.W.toArray()), initializer(`${out}b`, [outSize], layer.b.toArray()));
        nodes.push(node('Gemm', [cur, `${out}W`, `${out}b`], [out]));
        break;
      }
      case 'Convolution': {
        const [FN, C, FH, FW] = layer.W.shape;
        inits.push(initializer(`${out}W`, [FN, C, FH, FW], layer.W.toArray()), initializer(`${out}b`, [FN], layer.b.toArray()));
        const p = layer.pad;
        nodes.push(node('Conv', [cur, `${out}W`, `${out}b`], [out], { kernel_shape: [FH, FW], pads: [p, p, p, p], strides: [layer.stride, layer.stride] }));
        break;
      }
      case 'Pooling':
        nodes.push(node('MaxPool', [cur], [out], { kernel_shape: [layer.poolH, layer.poolW], strides: [layer.stride, layer.stride], pads: [layer.pad, layer.pad, layer.pad, layer.pad] }));
        break;
      case 'Relu': case 'Sigmoid': case 'Tanh':
        nodes.push(node(layer.name, [cur], [out]));
        break;
      case 'Dropout':
        if (layer.inverted) continue; // identity at inference
        // the book's dropout scales by 1 - ratio at inference
        inits.push(initializer(`${out}s`, [1], [1 - layer.ratio]));
        nodes.push(node('Mul', [cur, `${out}s`], [out]));
        break;
      default:
        throw new Error(`onnxModel: no ONNX mapping for layer ${layer.name}`);
    }
    cur = out;
  }
  nodes.push(node('Identity', [cur], ['y']));
  const outSize = net.layers.filter((l) => l.name === 'Affine').at(-1).W.shape[1];
  const graph = cat([...nodes.map((x) => bytes(1, x)), bytes(2, 'simdnn'), ...inits.map((t) => bytes(5, t)),
    bytes(11, valueInfo('x', ['N', ...inputShape])), bytes(12, valueInfo('y', ['N', outSize]))]);
  return new Uint8Array(cat([int(1, 8), bytes(2, 'simdnn bench'), bytes(7, graph), bytes(8, cat([bytes(1, ''), int(2, 13)]))]));
}
