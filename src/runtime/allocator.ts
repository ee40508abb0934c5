// First-fit allocator over the linear memory, with coalescing on free.
// The facade owns every byte above the module's static data; kernels never
// allocate. Blocks are 64-byte aligned (a cache line; v128 needs 16).
import { OutOfMemoryError } from './errors.js';
import { badNumber, shown } from './tensor.js';

export const ALIGN = 64;
const PAGE = 65536;

/** A snapshot of a runtime's allocator (`rt.memoryStats()`), in bytes unless said otherwise. */
export interface AllocatorStats {
  /** Bytes in live blocks. */
  used: number;
  /** Live blocks. */
  blocks: number;
  /** Highest byte ever handed out (the memory never shrinks). */
  top: number;
  /** Linear memory size in bytes. */
  memoryBytes: number;
}

interface Span { start: number; size: number }

export class Allocator {
  private readonly free: Span[] = [];
  private readonly live = new Map<number, number>();
  private top: number;
  private used = 0;

  constructor(private readonly memory: WebAssembly.Memory, base: number, private readonly maxPages: number) {
    this.top = alignUp(base);
  }

  alloc(bytes: number): number {
    if (!Number.isFinite(bytes) || bytes < 0) throw badNumber(bytes, `alloc: bytes must be a non-negative finite number, got ${shown(bytes)}`);
    const size = Math.max(ALIGN, alignUp(bytes));
    let ptr = -1;
    for (let i = 0; i < this.free.length; i++) {
      const span = this.free[i];
      if (span.size >= size) {
        ptr = span.start;
        if (span.size === size) this.free.splice(i, 1);
        else { span.start += size; span.size -= size; }
        break;
      }
    }
    if (ptr < 0) {
      // extend from the top, absorbing a free span that ends there; ensure() throws before anything changes
      const last = this.free[this.free.length - 1];
      const absorb = last !== undefined && last.start + last.size === this.top;
      ptr = absorb ? last.start : this.top;
      this.ensure(ptr + size, bytes);
      if (absorb) this.free.pop();
      this.top = ptr + size;
    }
    this.live.set(ptr, size);
    this.used += size;
    return ptr;
  }

  release(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined) throw new Error(`free: ${ptr} is not a live allocation (double dispose?)`);
    this.live.delete(ptr);
    this.used -= size;
    // insert sorted, then merge with neighbours
    let lo = 0, hi = this.free.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.free[mid].start < ptr) lo = mid + 1; else hi = mid; }
    this.free.splice(lo, 0, { start: ptr, size });
    const next = this.free[lo + 1];
    const cur = this.free[lo];
    if (next && cur.start + cur.size === next.start) { cur.size += next.size; this.free.splice(lo + 1, 1); }
    const prev = this.free[lo - 1];
    if (prev && prev.start + prev.size === cur.start) { prev.size += cur.size; this.free.splice(lo, 1); }
  }

  sizeOf(ptr: number): number | undefined {
    return this.live.get(ptr);
  }

  stats(): AllocatorStats {
    return { used: this.used, blocks: this.live.size, top: this.top, memoryBytes: this.memory.buffer.byteLength };
  }

  private ensure(end: number, requested: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    // grow by at least 1/8 of the current size to keep growth events rare
    const need = Math.ceil((end - have) / PAGE);
    const pages = Math.min(Math.max(need, Math.ceil(have / PAGE / 8)), this.maxPages - have / PAGE);
    const max = this.maxPages * PAGE;
    try {
      if (pages < need) throw new RangeError('maximum reached');
      this.memory.grow(pages);
    } catch (e) {
      // bytes as well as MiB: the end and the maximum may differ by less than a MiB's tenth
      const why = end > max
        ? `the memory to reach ${size(end)}, past its maximum of ${size(max)} (options.memory.maximum)`
        : `the memory to grow from ${size(have)} to ${size(end)}, which the host refused (${(e as Error).message})`;
      throw new OutOfMemoryError(
        `out of memory: a ${requested}-byte allocation needs ${why}; no free block holds it, and ${size(this.used)} are in use in ${this.live.size} blocks`);
    }
  }
}

export function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

function size(bytes: number): string {
  return `${bytes} bytes (${(bytes / 1048576).toFixed(1)} MiB)`;
}
