// Host feature probes: tiny hand-assembled modules, validated (never compiled),
// so the probes also work on hosts that forbid compiling from bytes.

function simdProbe(op: number[]): Uint8Array<ArrayBuffer> {
  const v128Const = [0xfd, 0x0c, ...new Array(16).fill(0)];
  const body = [0x00, ...v128Const, ...v128Const, ...v128Const, ...op, 0x0b];
  const code = [0x01, body.length, ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
    0x03, 0x02, 0x01, 0x00,                   // one function of type 0
    0x0a, code.length, ...code,
  ]);
}

function validates(bytes: Uint8Array<ArrayBuffer>): boolean {
  try { return WebAssembly.validate(bytes); } catch { return false; }
}

/** v128.bitselect: plain SIMD. */
export const hasSimd = (): boolean => validates(simdProbe([0xfd, 0x52]));
/** f32x4.relaxed_madd (opcode 0x105). */
export const hasRelaxedSimd = (): boolean => validates(simdProbe([0xfd, 0x85, 0x02]));

/** Shared memory needs SharedArrayBuffer, which pages get only when cross-origin isolated. */
export function hasSharedMemory(): boolean {
  if (typeof SharedArrayBuffer !== 'function') return false;
  try {
    return new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch { return false; }
}
