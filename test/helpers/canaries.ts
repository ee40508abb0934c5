// Canaries: small blocks of random bits allocated around the tensors a test
// works on, checked bit for bit afterwards. A kernel that writes past its
// buffer (or into freed memory another tensor now holds) changes one.
import type { Runtime } from '../../src/runtime/runtime.js';
import type { IntTensor, Tensor } from '../../src/runtime/tensor.js';
import { rng } from './runtime.js';

const WORDS = 64; // 256 bytes: past any 64-byte alignment slack

export class Canaries {
  private readonly placed: Array<{ t: IntTensor; bits: Int32Array }> = [];
  private readonly next: () => number;

  constructor(private readonly rt: Runtime, seed = 1) {
    this.next = rng(seed);
  }

  /** Allocates one canary now (call it before and after allocating the tensor under test). */
  place(): void {
    const bits = Int32Array.from({ length: WORDS }, () => (this.next() * 2 ** 32) | 0);
    this.placed.push({ t: this.rt.labels([WORDS], bits), bits });
  }

  /** Canaries whose bits changed. */
  changed(): number {
    let n = 0;
    for (const { t, bits } of this.placed) {
      const now = t.data;
      if (now.length !== bits.length || now.some((v, i) => v !== bits[i])) n++;
    }
    return n;
  }

  dispose(): void {
    for (const { t } of this.placed.splice(0)) t.dispose();
  }
}

/** Runs `make` between two canaries: the tensor it allocates sits between them. */
export function between<T>(canaries: Canaries, make: () => T): T {
  canaries.place();
  const value = make();
  canaries.place();
  return value;
}

/**
 * A kernel's scratch of exactly `bytes` (rounded up to whole floats) between two canaries, so that a
 * write past the bytes the kernel asked for changes one (rt.partScratch may hand out a larger block).
 */
export function scratchBetween(canaries: Canaries, rt: Runtime, bytes: number): Tensor {
  return between(canaries, () => rt.tensor([Math.ceil(bytes / 4)]));
}
