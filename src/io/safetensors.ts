// The safetensors format (https://github.com/huggingface/safetensors):
//   8 bytes   N, the header's length, unsigned 64-bit little-endian
//   N bytes   a UTF-8 JSON object: name -> { dtype, shape, data_offsets: [begin, end] }
//             and an optional "__metadata__" of string values; padded with spaces
//   the data  each tensor's bytes, little-endian, row-major, at [begin, end) of this section
// The checks follow the reference reader: a header over 100 MB or past the end
// of the file, anything but a JSON object, unknown dtypes, shapes whose element
// count does not match the byte range, and ranges that overlap, leave gaps or
// run outside the data are errors. All of them are found from the header
// alone, before the caller allocates anything.

import { describeValue } from '../runtime/tensor.js';

/** Bytes per element of every dtype the format defines. */
export const SAFETENSORS_DTYPES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
};

/** The floating-point dtypes simdnn reads (converted to float32) and writes (F32). */
export type FloatDtype = 'F32' | 'F16' | 'BF16' | 'F64';

/** The reference reader's limit on the header's length. */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor of a header: offsets are byte positions in the data section. */
export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** A checked header: tensors in data order, the metadata, and where the data starts. */
export interface SafetensorsHeader {
  tensors: TensorEntry[];
  metadata: Record<string, string>;
  /** 8 + N: the data section's offset in the file. */
  dataStart: number;
  /** Bytes of the data section (the end of the last tensor). */
  dataBytes: number;
}

/** A malformed safetensors file; the message says what and where. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

const utf8 = new TextEncoder();

/** `fileBytes` is undefined or a file length: a TypeError / RangeError naming `who` otherwise. */
function checkFileBytes(who: string, fileBytes: unknown): void {
  if (fileBytes === undefined) return;
  if (typeof fileBytes !== 'number') throw new TypeError(`${who}: fileBytes must be the file's length in bytes (or undefined), got ${describeValue(fileBytes)}`);
  if (!(Number.isSafeInteger(fileBytes) && fileBytes >= 0)) throw new RangeError(`${who}: fileBytes must be the file's length in bytes (a non-negative integer), got ${fileBytes}`);
}

/**
 * The header length N from the first 8 bytes. Takes the file's first bytes
 * (at least 8) and, when known, the file's length in bytes. Throws a
 * SafetensorsError when N is over 100 MB or runs past the end of the file.
 */
export function readHeaderLength(first: Uint8Array, fileBytes?: number): number {
  if (Object.prototype.toString.call(first) !== '[object Uint8Array]') throw new TypeError(`readHeaderLength: expected the file's first bytes as a Uint8Array, got ${Object.prototype.toString.call(first)}`);
  checkFileBytes('readHeaderLength', fileBytes);
  if (first.length < 8) throw new SafetensorsError(`safetensors: the file has ${first.length} bytes, fewer than the 8 of the header length`);
  const view = new DataView(first.buffer, first.byteOffset, 8);
  const lo = view.getUint32(0, true), hi = view.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  // the u64 exactly (a float64 would print 2^63 − 1 as 9223372036854776000)
  if (n > MAX_HEADER_BYTES) throw new SafetensorsError(`safetensors: the header length is ${(BigInt(hi) << 32n) | BigInt(lo)} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);
  if (fileBytes !== undefined && 8 + n > fileBytes) {
    throw new SafetensorsError(`safetensors: the header length is ${n} bytes, past the end of the ${fileBytes}-byte file`);
  }
  if (n < 2) throw new SafetensorsError(`safetensors: the header length is ${n} bytes, too short for a JSON object`);
  return n;
}

function elementCount(name: string, shape: unknown): number {
  if (!Array.isArray(shape)) throw new SafetensorsError(`safetensors: tensor '${name}': shape must be an array, got ${JSON.stringify(shape)}`);
  let count = 1;
  for (const d of shape) {
    if (!(typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`safetensors: tensor '${name}': shape [${shape.join(', ')}] must hold non-negative integers`);
    }
    count *= d;
  }
  if (!Number.isSafeInteger(count)) throw new SafetensorsError(`safetensors: tensor '${name}': shape [${shape.join(', ')}] has more elements than any file can hold`);
  return count;
}

const isJsonSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * The first key that an object of the valid JSON `text` holds twice, after the
 * keys of the objects around it (outermost first); null when none. JSON.parse
 * keeps a repeated key's last value silently, so a file naming a tensor twice
 * would read as one whose data has a gap, and repeated metadata would drop a value.
 */
function repeatedKey(text: string): string[] | null {
  const keys: Array<Set<string> | null> = []; // per open container: an object's keys so far; null for an array
  const path: Array<string | null> = []; // the key each open container is the value of (null: the outermost, an array's item)
  let lastKey = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let end = i + 1;
      while (text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c ? 2 : 1;
      let next = end + 1;
      while (isJsonSpace(text.charCodeAt(next))) next++;
      const own = keys[keys.length - 1];
      if (own && text.charCodeAt(next) === 0x3a) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (own.has(key)) return [...path.filter((k) => k !== null), key];
        own.add(key);
        lastKey = key;
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      path.push(keys[keys.length - 1] ? lastKey : null);
      keys.push(c === 0x7b ? new Set() : null);
    } else if (c === 0x7d || c === 0x5d) {
      keys.pop();
      path.pop();
    }
  }
  return null;
}

/**
 * Parses and checks the header. Takes its N JSON bytes, N, and, when known,
 * the file's length. Returns the tensors sorted by offset. Throws a
 * SafetensorsError for invalid UTF-8 or JSON, a non-object, a key an object holds
 * twice (a tensor named twice), metadata values that are not strings, unknown dtypes, malformed shapes or offsets, a shape
 * whose size does not match its byte range, ranges that overlap or leave a
 * gap, and (with `fileBytes`) data outside the file or bytes after the last tensor; a
 * TypeError/RangeError for `json` that is not a Uint8Array or a `fileBytes` that is not a length.
 */
export function parseHeader(json: Uint8Array, fileBytes?: number): SafetensorsHeader {
  if (Object.prototype.toString.call(json) !== '[object Uint8Array]') throw new TypeError(`parseHeader: json must be the header's bytes as a Uint8Array, got ${describeValue(json)}`);
  checkFileBytes('parseHeader', fileBytes);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw new SafetensorsError('safetensors: the header is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`safetensors: the header is not valid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new SafetensorsError('safetensors: the header must be a JSON object');
  const repeated = repeatedKey(text);
  if (repeated) {
    const key = repeated[repeated.length - 1], around = repeated.slice(0, -1);
    throw new SafetensorsError(around.length === 0
      ? `safetensors: the header holds ${key === '__metadata__' ? "'__metadata__'" : `tensor '${key}'`} twice (a reader would keep one of them)`
      : `safetensors: the header repeats the key '${key}' in '${around.join('.')}'`);
  }
  const metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new SafetensorsError('safetensors: __metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw new SafetensorsError(`safetensors: __metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    if (entry === null || typeof entry !== 'object') throw new SafetensorsError(`safetensors: tensor '${name}': expected { dtype, shape, data_offsets }`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPES, dtype)) {
      throw new SafetensorsError(`safetensors: tensor '${name}': unknown dtype ${JSON.stringify(dtype)} (the format defines ${Object.keys(SAFETENSORS_DTYPES).join(', ')})`);
    }
    const count = elementCount(name, shape);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw new SafetensorsError(`safetensors: tensor '${name}': data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const bytes = count * SAFETENSORS_DTYPES[dtype];
    if (end - begin !== bytes) {
      throw new SafetensorsError(`safetensors: tensor '${name}': shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${bytes} bytes, data_offsets give ${end - begin}`);
    }
    tensors.push({ name, dtype, shape: [...(shape as number[])], begin, end });
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let previous = '';
  for (const t of tensors) {
    if (t.begin < at) throw new SafetensorsError(`safetensors: tensor '${t.name}' [${t.begin}, ${t.end}) overlaps tensor '${previous}' (which ends at ${at})`);
    if (t.begin > at) throw new SafetensorsError(`safetensors: tensor '${t.name}' starts at ${t.begin}, leaving a gap after byte ${at} of the data`);
    at = t.end;
    previous = t.name;
  }
  const dataStart = 8 + json.length;
  if (fileBytes !== undefined) {
    const available = fileBytes - dataStart;
    if (at > available) {
      const last = tensors[tensors.length - 1];
      throw new SafetensorsError(`safetensors: tensor '${last.name}' [${last.begin}, ${last.end}) lies outside the data (${available} bytes)`);
    }
    if (at < available) throw new SafetensorsError(`safetensors: ${available - at} bytes after the last tensor`);
  }
  return { tensors, metadata, dataStart, dataBytes: at };
}

/** A tensor to write: its name, shape and dtype (F32 unless F64 is named; the values are produced lazily in pieces). */
export interface TensorToWrite {
  name: string;
  shape: readonly number[];
  dtype?: 'F32' | 'F64';
}

/**
 * The 8-byte length and the JSON header for F32 (or F64) tensors stored in the given
 * order, the JSON padded with spaces to a multiple of 8 bytes (as the
 * reference writer does, so the data is aligned). Returns the bytes the caller
 * owns. Throws a SafetensorsError for a metadata value that is not a string, a
 * tensor named `__metadata__` or twice, a dtype other than F32 and F64, or a
 * shape that is not non-negative integers; a TypeError for tensors that are not
 * an array of objects named by strings, or metadata that is not an object.
 */
export function encodeHeader(tensors: readonly TensorToWrite[], metadata: Readonly<Record<string, string>>): Uint8Array<ArrayBuffer> {
  if (!Array.isArray(tensors)) throw new TypeError(`encodeHeader: tensors must be an array of { name, shape, dtype? }, got ${describeValue(tensors)}`);
  tensors.forEach((t: unknown, i) => {
    if (t === null || typeof t !== 'object' || typeof (t as TensorToWrite).name !== 'string') throw new TypeError(`encodeHeader: tensors[${i}] must be { name, shape, dtype? } with a string name, got ${describeValue(t)}`);
  });
  if (metadata === null || typeof metadata !== 'object') throw new TypeError(`encodeHeader: metadata must be an object of strings, got ${describeValue(metadata)}`);
  // no prototype: a tensor may be named 'constructor' or '__proto__'
  const header: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new SafetensorsError(`safetensors: metadata.${k} must be a string, got ${typeof v}`);
  }
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let at = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || t.name in header) throw new SafetensorsError(`safetensors: tensor name '${t.name}' is reserved or repeated`);
    const dtype = t.dtype ?? 'F32';
    if (dtype !== 'F32' && dtype !== 'F64') throw new SafetensorsError(`safetensors: tensor '${t.name}': simdnn writes F32 or F64, got ${JSON.stringify(dtype)}`);
    const bytes = elementCount(t.name, t.shape) * SAFETENSORS_DTYPES[dtype];
    header[t.name] = { dtype, shape: [...t.shape], data_offsets: [at, at + bytes] };
    at += bytes;
  }
  const json = utf8.encode(JSON.stringify(header));
  const n = Math.ceil(json.length / 8) * 8;
  if (n > MAX_HEADER_BYTES) throw new SafetensorsError(`safetensors: the header would be ${n} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);
  const out = new Uint8Array(8 + n).fill(0x20, 8);
  new DataView(out.buffer).setUint32(0, n, true);
  out.set(json, 8);
  return out;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decodes the whole elements of `dtype` (F32, F16, BF16 or F64, little-endian)
 * in `bytes` into `out` starting at `outIndex`. Takes bytes the caller keeps;
 * writes only `out[outIndex, outIndex + count)`, and nothing when it throws. Throws a SafetensorsError for
 * any other dtype and for an F64 value beyond float32's range (it would become
 * ±Infinity), a RangeError when `bytes` is not whole elements or they do not
 * fit `out` from `outIndex`, a TypeError for arguments of the wrong type.
 */
export function decodeFloats(dtype: string, bytes: Uint8Array, out: Float32Array, outIndex: number): void {
  if (typeof dtype !== 'string') throw new TypeError(`decodeFloats: dtype must be a string (F32, F16, BF16 or F64), got ${describeValue(dtype)}`);
  if (Object.prototype.toString.call(bytes) !== '[object Uint8Array]') throw new TypeError(`decodeFloats: bytes must be a Uint8Array, got ${describeValue(bytes)}`);
  if (Object.prototype.toString.call(out) !== '[object Float32Array]') throw new TypeError(`decodeFloats: out must be a Float32Array, got ${describeValue(out)}`);
  if (typeof outIndex !== 'number') throw new TypeError(`decodeFloats: outIndex must be a non-negative integer, got ${describeValue(outIndex)}`);
  const size = Object.hasOwn(SAFETENSORS_DTYPES, dtype) ? SAFETENSORS_DTYPES[dtype] : 0;
  const count = size > 0 ? bytes.length / size : 0;
  if (size > 0 && !(Number.isInteger(count) && Number.isSafeInteger(outIndex) && outIndex >= 0 && outIndex + count <= out.length)) {
    throw new RangeError(`decodeFloats: ${bytes.length} bytes of ${dtype} (${size}-byte elements) do not fit a Float32Array of ${out.length} from index ${outIndex}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      if (littleEndian) new Uint8Array(out.buffer, out.byteOffset + outIndex * 4, bytes.length).set(bytes);
      else for (let i = 0; i < bytes.length / 4; i++) out[outIndex + i] = view.getFloat32(i * 4, true);
      return;
    }
    case 'F64':
      // every value checked before any is written
      for (let i = 0; i < count; i++) {
        const v = view.getFloat64(i * 8, true);
        if (Number.isFinite(v) && !Number.isFinite(Math.fround(v))) throw new SafetensorsError(`safetensors: an F64 value ${v} is beyond float32's range (it would become ${Math.fround(v)})`);
      }
      for (let i = 0; i < count; i++) out[outIndex + i] = view.getFloat64(i * 8, true);
      return;
    case 'F16':
      for (let i = 0; i < bytes.length / 2; i++) out[outIndex + i] = halfToFloat(view.getUint16(i * 2, true));
      return;
    case 'BF16': {
      const word = new Uint32Array(1);
      const f = new Float32Array(word.buffer);
      for (let i = 0; i < bytes.length / 2; i++) {
        word[0] = view.getUint16(i * 2, true) << 16;
        out[outIndex + i] = f[0];
      }
      return;
    }
    default:
      throw new SafetensorsError(`safetensors: dtype ${dtype} is not a float type simdnn reads (F32, F16, BF16, F64)`);
  }
}

/** IEEE 754 half precision (binary16) to a number: exact, subnormals and ±Inf/NaN included. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Float32 values as little-endian bytes: a view of the same memory on little-endian hosts, else a swapped copy.
 * Values on an ArrayBuffer (a copy such as `tensor.data.slice()`) give bytes on an ArrayBuffer.
 */
export function float32Bytes(values: Float32Array<ArrayBuffer>): Uint8Array<ArrayBuffer>;
/** Values on any buffer (a view of a runtime's memory, a SharedArrayBuffer's): the bytes may be a view of it. */
export function float32Bytes(values: Float32Array): Uint8Array;
export function float32Bytes(values: Float32Array): Uint8Array {
  return littleEndianBytes(values);
}

/** Float32 or float64 values as little-endian bytes: a view of the same memory on little-endian hosts, else a swapped copy (on an ArrayBuffer). */
export function littleEndianBytes(values: Float32Array<ArrayBuffer> | Float64Array<ArrayBuffer>): Uint8Array<ArrayBuffer>;
export function littleEndianBytes(values: Float32Array | Float64Array): Uint8Array;
export function littleEndianBytes(values: Float32Array | Float64Array): Uint8Array {
  if (littleEndian) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.byteLength);
  const view = new DataView(out.buffer);
  const wide = values.BYTES_PER_ELEMENT === 8;
  for (let i = 0; i < values.length; i++) {
    if (wide) view.setFloat64(i * 8, values[i], true);
    else view.setFloat32(i * 4, values[i], true);
  }
  return out;
}
