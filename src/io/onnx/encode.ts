// A protobuf writer for the ONNX messages simdnn writes (encode.ts ← export.ts). It writes into
// one Uint8Array of the message's exact size: each message is measured first by running its body
// on a counting writer (no bytes written, only the fields' lengths added up; a tensor's raw data
// is counted by its length, never read), then written. So a model of 61M parameters takes its
// 244 MB once, with no growing buffer, no copy at the end and no JavaScript array of its numbers.
// The bodies must write the same fields each time they run (they read only what nothing changes
// meanwhile: the net's parameters, synchronously).
import { WIRE } from './fields.js';

const textEncoder = new TextEncoder();

/** A message's fields, written to `w` (run once to measure the message, once to write it). */
export type MessageBody = (w: ProtoWriter) => void;

/** Writes protobuf fields: `ProtoWriter.encode(body)` gives the bytes of a top-level message (ModelProto). */
export class ProtoWriter {
  /** Bytes written (or counted) so far. */
  private at = 0;

  /** A writer into `out`, or a counting writer (`out` null) that only adds up lengths. */
  private constructor(private readonly out: Uint8Array | null) {}

  /** The bytes `body` writes, in an array of exactly their length. */
  static encode(body: MessageBody): Uint8Array<ArrayBuffer> {
    const size = ProtoWriter.measure(body);
    const out = new Uint8Array(size);
    const w = new ProtoWriter(out);
    body(w);
    if (w.at !== size) throw new Error(`ProtoWriter: the message wrote ${w.at} bytes where it measured ${size} (a body that changed between its runs)`);
    return out;
  }

  /** How many bytes `body` writes. */
  private static measure(body: MessageBody): number {
    const sizer = new ProtoWriter(null);
    body(sizer);
    return sizer.at;
  }

  /** A varint field (wire type 0): an int32, int64 or enum; a negative value as int64's two's complement (10 bytes). */
  int(field: number, value: number): void {
    this.key(field, WIRE.VARINT);
    this.varint(value);
  }

  /** A float field (wire type 5, fixed32, little-endian). */
  float(field: number, value: number): void {
    this.key(field, WIRE.I32);
    if (this.out) new DataView(this.out.buffer, this.out.byteOffset + this.at, 4).setFloat32(0, value, true);
    this.at += 4;
  }

  /** A string field (UTF-8). */
  string(field: number, value: string): void {
    this.bytes(field, textEncoder.encode(value));
  }

  /** A bytes field: `data` copied as it is. */
  bytes(field: number, data: Uint8Array): void {
    this.key(field, WIRE.LEN);
    this.varint(data.length);
    this.out?.set(data, this.at);
    this.at += data.length;
  }

  /** A packed repeated varint field (int64s, e.g. a tensor's dims): one length-delimited run; nothing for no values. */
  packedInts(field: number, values: readonly number[]): void {
    if (values.length === 0) return;
    let length = 0;
    for (const v of values) length += varintLength(v);
    this.key(field, WIRE.LEN);
    this.varint(length);
    for (const v of values) this.varint(v);
  }

  /** A nested message field: its length, then the fields `body` writes. */
  message(field: number, body: MessageBody): void {
    this.key(field, WIRE.LEN);
    this.varint(ProtoWriter.measure(body));
    body(this);
  }

  private key(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /**
   * `value` as a varint: a non-negative integer in 7-bit groups, a negative one as its 64-bit two's
   * complement (int64's encoding), split in two 32-bit halves (exact for every safe integer).
   */
  private varint(value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`ProtoWriter: a varint must be a safe integer, got ${value}`);
    let lo = value >>> 0; // ToUint32: value mod 2^32, exact for a safe integer
    let hi = Math.floor(value / 2 ** 32) >>> 0; // the high word; a negative value's is its two's complement's
    const out = this.out;
    while (hi !== 0) {
      if (out) out[this.at] = (lo & 0x7f) | 0x80;
      this.at++;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 0x7f) {
      if (out) out[this.at] = (lo & 0x7f) | 0x80;
      this.at++;
      lo >>>= 7;
    }
    if (out) out[this.at] = lo;
    this.at++;
  }
}

/** Bytes of `value` as a varint (10 for a negative one). */
function varintLength(value: number): number {
  if (value < 0) return 10;
  let n = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}
