// A Tensor is a view: (byte offset into the runtime's linear memory, shape).
// `data` is built on the current memory.buffer, so it stays valid when the
// memory grows (growth detaches every earlier ArrayBuffer view).
import type { Runtime } from './runtime.js';

export type Shape = readonly number[];

export function shapeSize(shape: Shape, what = 'shape'): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`${what}: dimensions must be non-negative integers, got [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

abstract class View<A extends Float32Array | Int32Array> {
  readonly shape: number[];
  readonly size: number;
  private cache: A | null = null;
  private cacheBuffer: ArrayBufferLike | null = null;
  private live = true;

  /** @internal use rt.tensor / rt.labels */
  constructor(readonly rt: Runtime, readonly ptr: number, shape: Shape, private readonly owner: boolean) {
    this.shape = [...shape];
    this.size = shapeSize(shape);
  }

  protected abstract makeView(buffer: ArrayBufferLike): A;

  /** A typed-array view on the linear memory (no copy); always current. */
  get data(): A {
    if (!this.live) throw new Error('Tensor: used after dispose()');
    const buffer = this.rt.memory.buffer;
    if (this.cacheBuffer !== buffer || this.cache === null) {
      this.cache = this.makeView(buffer);
      this.cacheBuffer = buffer;
    }
    return this.cache;
  }

  get disposed(): boolean { return !this.live; }

  /** Copies values in (any array-like of the right length). */
  set(values: ArrayLike<number>): this {
    if (values.length !== this.size) {
      throw new RangeError(`Tensor.set: expected ${this.size} values for shape [${this.shape.join(', ')}], got ${values.length}`);
    }
    this.data.set(values);
    return this;
  }

  /** Frees the memory (views made by reshape/rows share it and die with it). */
  dispose(): void {
    if (!this.live) return;
    this.live = false;
    this.cache = null;
    if (this.owner) this.rt.free(this.ptr);
  }

  protected checkRows(start: number, end: number): number {
    const rows = this.shape[0];
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= rows)) {
      throw new RangeError(`rows(${start}, ${end}): expected 0 <= start <= end <= ${rows}`);
    }
    return this.size / Math.max(rows, 1);
  }
}

/** A float32 tensor on the runtime's linear memory. */
export class Tensor extends View<Float32Array> {
  protected makeView(buffer: ArrayBufferLike): Float32Array {
    return new Float32Array(buffer, this.ptr, this.size);
  }

  /** A copy of the values. */
  toArray(): Float32Array {
    return this.data.slice();
  }

  /** A view with another shape of the same size (shares memory). */
  reshape(shape: Shape): Tensor {
    const n = shapeSize(shape);
    if (n !== this.size) throw new RangeError(`reshape: [${this.shape.join(', ')}] has ${this.size} elements, [${shape.join(', ')}] has ${n}`);
    return new Tensor(this.rt, this.ptr, shape, false);
  }

  /** A view on rows [start, end) of the first dimension (shares memory). */
  rows(start: number, end: number): Tensor {
    const rowSize = this.checkRows(start, end);
    return new Tensor(this.rt, this.ptr + start * rowSize * 4, [end - start, ...this.shape.slice(1)], false);
  }
}

/** An int32 tensor (class labels, indices) on the runtime's linear memory. */
export class IntTensor extends View<Int32Array> {
  protected makeView(buffer: ArrayBufferLike): Int32Array {
    return new Int32Array(buffer, this.ptr, this.size);
  }

  toArray(): Int32Array {
    return this.data.slice();
  }

  rows(start: number, end: number): IntTensor {
    const rowSize = this.checkRows(start, end);
    return new IntTensor(this.rt, this.ptr + start * rowSize * 4, [end - start, ...this.shape.slice(1)], false);
  }
}
