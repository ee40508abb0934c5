// Editing a safetensors file's bytes in tests: its header and tensors read apart, edited, and packed again (the
// checkpoint tests' corrupt, missing and misshapen tensors).

/** One tensor of a file: its dtype, shape and bytes. */
export interface SafetensorsEntry { dtype: string; shape: number[]; data: Uint8Array }

/** The length of a safetensors file's header (its first 8 bytes, a little-endian u64). */
export const headerLength = (file: Uint8Array): number => Number(new DataView(file.buffer, file.byteOffset, file.byteLength).getBigUint64(0, true));

/** A safetensors file's `__metadata__` and its tensors by name, each with its bytes (views of `file`). */
export function unpacked(file: Uint8Array): { metadata: unknown; tensors: Map<string, SafetensorsEntry> } {
  const n = headerLength(file);
  const { __metadata__: metadata, ...entries } = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const data = file.subarray(8 + n);
  return { metadata, tensors: new Map(Object.entries(entries).map(([name, e]) => [name, { dtype: e.dtype, shape: e.shape, data: data.subarray(e.data_offsets[0], e.data_offsets[1]) }])) };
}

/** A safetensors file with its tensors edited (each entry's bytes kept with it) and packed again. */
export function repacked(file: Uint8Array, edit: (tensors: Map<string, SafetensorsEntry>) => void): Uint8Array {
  const { metadata, tensors } = unpacked(file);
  edit(tensors);
  const header: Record<string, unknown> = { __metadata__: metadata };
  let at = 0;
  for (const [name, e] of tensors) { header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [at, at + e.data.length] }; at += e.data.length; }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const bytes = new Uint8Array(8 + json.length + at);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  let p = 8 + json.length;
  for (const e of tensors.values()) { bytes.set(e.data, p); p += e.data.length; }
  return bytes;
}
