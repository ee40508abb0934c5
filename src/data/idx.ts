// IDX, the MNIST file format (yann.lecun.com/exdb/mnist): a big-endian header
// (two zero bytes, an element-type byte, the rank, then one u32 per dimension)
// followed by the elements. MNIST-format data sets hold unsigned bytes (type
// 0x08): idx3 for images [count, rows, cols], idx1 for labels [count].
import { describeValue, shown } from '../runtime/tensor.js';

/** A parsed IDX array (parseIdx), or one to write (encodeIdx). */
export interface IdxArray {
  /** The dimensions, outermost first (e.g. [count, rows, cols] for images). */
  dims: number[];
  /** The elements, row-major (a view on the input, no copy). */
  data: Uint8Array;
}

const UBYTE = 0x08;
const TYPE_NAMES: Record<number, string> = { 0x08: 'unsigned byte', 0x09: 'signed byte', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };

/**
 * Parses an unsigned-byte IDX file (a Uint8Array); `file` (a string) names it in errors. Decompress
 * gzipped files first. A TypeError naming parseIdx and the argument when either is of the wrong type.
 */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (typeof file !== 'string') throw new TypeError(`parseIdx: file must be a string (the name errors give the file), got ${describeValue(file)}`);
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`parseIdx: bytes must be a Uint8Array (the file's bytes), got ${describeValue(bytes)}`);
  const { dims, headerBytes, fileBytes } = readIdxHeader(bytes, file);
  const size = fileBytes - headerBytes;
  const have = bytes.length - headerBytes;
  const shape = dims.join('x');
  if (have < size) throw new Error(`${file}: truncated: the header says ${shape} = ${size} bytes of data, the file has ${have}`);
  if (have > size) throw new Error(`${file}: malformed: ${have - size} bytes follow the ${shape} = ${size} bytes of data the header describes`);
  return { dims, data: bytes.subarray(headerBytes) };
}

/**
 * The header of an unsigned-byte IDX file, read from its first bytes (at least
 * 4 + 4·rank): the dimensions and the file's length by them, so a reader can
 * refuse a file (or a gzip stream) longer than that before reading it all.
 */
export function readIdxHeader(bytes: Uint8Array, file: string): { dims: number[]; headerBytes: number; fileBytes: number } {
  const fail = (what: string): never => { throw new Error(`${file}: ${what}`); };
  if (bytes.length < 4) fail(`too short for an IDX header (${bytes.length} bytes, the header needs at least 4)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = hex(bytes[0]) + hex(bytes[1]) + hex(bytes[2]) + hex(bytes[3]);
    fail(bytes[0] === 0x1f && bytes[1] === 0x8b
      ? 'is gzip-compressed; decompress it before parsing'
      : `not an IDX file: magic 0x${magic}, expected 0x0000 then the type and rank (0x00000803 for images, 0x00000801 for labels)`);
  }
  const type = bytes[2];
  if (type !== UBYTE) fail(`element type 0x${hex(type)} (${TYPE_NAMES[type] ?? 'unknown'}) is not supported; MNIST-format files hold unsigned bytes (0x08)`);
  const rank = bytes[3];
  if (rank === 0) fail('rank 0: an IDX array needs at least one dimension');
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) fail(`truncated header: rank ${rank} needs ${headerBytes} header bytes, the file has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  return { dims, headerBytes, fileBytes: headerBytes + dims.reduce((a, b) => a * b, 1) };
}

/**
 * Encodes an unsigned-byte IDX file (the inverse of parseIdx): `dims` an array of 1 to 255 integers
 * in [0, 2^32), `data` a Uint8Array of their product's length. A TypeError (wrong type) or RangeError
 * naming encodeIdx and the argument otherwise. Returns a new array (on an ArrayBuffer of its own) the caller owns.
 */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array<ArrayBuffer> {
  const expected = 'encodeIdx: dims must be 1 to 255 integers in [0, 2^32)';
  if (!Array.isArray(dims)) throw new TypeError(`${expected}, got ${describeValue(dims)}`);
  const rank = dims.length;
  if (rank < 1 || rank > 255) throw new RangeError(`${expected}, got ${rank === 0 ? '[]' : describeValue(dims)}`);
  // read once: what is checked is what is written
  const d: unknown[] = Array.from({ length: rank }, (_, i) => dims[i]);
  const got = `got [${d.map(shown).join(', ')}]`;
  if (!d.every((v) => typeof v === 'number')) throw new TypeError(`${expected}, ${got}`);
  const checked = d as number[];
  if (!checked.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) throw new RangeError(`${expected}, ${got}`);
  if (!(data instanceof Uint8Array)) throw new TypeError(`encodeIdx: data must be a Uint8Array, got ${describeValue(data)}`);
  const size = checked.reduce((a, b) => a * b, 1);
  if (data.length !== size) throw new RangeError(`encodeIdx: dims [${checked.join(', ')}] need ${size} bytes, got ${data.length}`);
  const out = new Uint8Array(4 + 4 * rank + size);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = rank;
  checked.forEach((v, i) => view.setUint32(4 + 4 * i, v, false));
  out.set(data, 4 + 4 * rank);
  return out;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
