// A Tensor is a view: (byte offset into the runtime's linear memory, shape).
// The memory is owned by one tensor (made by rt.tensor / rt.labels); views of
// it (reshape, rows, view) share its Block and die with it.
//
// `data` is a typed array on the current memory.buffer: a transient view. On a
// non-shared memory, growth (any allocation may grow it) detaches every earlier
// ArrayBuffer, so an array kept across an allocation reads as empty. Read
// `t.data` again after such a call, or keep a copy (`toArray()`).
import type { Runtime } from './runtime.js';

/**
 * Dimensions of a tensor, outermost first (e.g. `[batch, features]`): non-negative integers whose
 * product, zeros left out, is at most MAX_ELEMENTS (an empty tensor's other dimensions too).
 */
export type Shape = readonly number[];

/**
 * Most bytes one buffer a kernel works on may have (a tensor, an im2col
 * column): kernels compute offsets inside a buffer in 32-bit signed integers.
 */
export const MAX_BUFFER_BYTES = 2 ** 31 - 64;

/** Most elements a tensor can have (MAX_BUFFER_BYTES of float32). */
export const MAX_ELEMENTS = Math.floor(MAX_BUFFER_BYTES / 4);

/**
 * Checks a size computed (in float64) for a kernel: a count or byte size that
 * must fit a 32-bit signed argument and offset. Returns it.
 */
export function checkKernelSize(who: string, what: string, n: number): number {
  if (!(Number.isSafeInteger(n) && n >= 0 && n <= MAX_BUFFER_BYTES)) {
    throw new RangeError(`${who}: ${what} is ${n}, more than the ${MAX_BUFFER_BYTES} a kernel can address (2 GiB); use smaller inputs (a smaller batch or image)`);
  }
  return n;
}

/**
 * `shape` read once into a frozen array, and its element count (checked as shapeSize does): an entry that
 * sizes a block from a shape must describe the tensor by the same dimensions (a caller's array whose
 * elements change between reads, by getters or a Proxy, sized a 64-byte block for 10,000 elements).
 */
export function shapeSnapshot(shape: Shape, what = 'shape'): { dims: readonly number[]; size: number } {
  if (shape === null || typeof shape !== 'object') throw new TypeError(`${what}: expected an array of dimensions, got ${describeValue(shape)}`);
  if (typeof (shape as Iterable<number>)[Symbol.iterator] !== 'function') throw new TypeError(`${what}: expected an array of dimensions, got ${describeValue(shape)}`);
  const dims = Object.freeze(Array.from(shape));
  return { dims, size: shapeSize(dims, what) };
}

/**
 * Element count of `shape`, in float64; `what` names the shape in the error. The dimensions other
 * than 0 must multiply to at most MAX_ELEMENTS even when one is 0: a row of an empty [0, 2^40] or an
 * empty batch of 2^40 rows is sized (and indexed, in 32 bits) as a full tensor's would be.
 */
export function shapeSize(shape: Shape, what = 'shape'): number {
  if (shape === null || typeof shape !== 'object') throw new TypeError(`${what}: expected an array of dimensions, got ${describeValue(shape)}`);
  let n = 1, nonzero = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`${what}: dimensions must be non-negative integers, got [${shape.join(', ')}]`);
    n *= d;
    if (d > 0) nonzero *= d;
  }
  if (n > MAX_ELEMENTS) {
    throw new RangeError(`${what}: [${shape.join(', ')}] has ${n} elements; a tensor holds at most ${MAX_ELEMENTS} (2 GiB: kernels address a tensor with 32-bit offsets)`);
  }
  if (nonzero > MAX_ELEMENTS) {
    throw new RangeError(`${what}: [${shape.join(', ')}]: the dimensions other than 0 multiply to more than ${MAX_ELEMENTS}, the most elements a tensor holds (an empty tensor's dimensions are limited as a full one's)`);
  }
  return n;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The liveness of one allocation, shared by its owner and every view of it. */
interface Block { live: boolean }

/** What Tensor and IntTensor share: a shape, a size and a live allocation (or a view of one) in a runtime's memory. */
export abstract class View<A extends Float32Array | Int32Array> {
  /** Frozen: a shape edited in place would no longer match `size` (a row view past the end, a layer reading beyond). */
  readonly shape: readonly number[];
  readonly size: number;
  private cache: A | null = null;
  private cacheBuffer: ArrayBufferLike | null = null;
  /** This handle's own liveness (a view's dispose() ends only the view). */
  private live = true;

  /** @internal use rt.tensor / rt.labels, or reshape / rows / view of a tensor */
  constructor(readonly rt: Runtime, readonly ptr: number, shape: Shape, private readonly block: Block, private readonly owner: boolean) {
    this.shape = Object.freeze(Array.from(shape)); // read once: a shape whose getters change cannot size one block and describe another
    this.size = shapeSize(this.shape);
  }

  /** A typed array over this tensor's elements in `buffer` (no copy, no check); `data` calls it and caches the result. */
  protected abstract makeView(buffer: ArrayBufferLike): A;

  /**
   * A typed-array view on the linear memory (no copy): a transient view, valid
   * until the next call that may allocate (on a non-shared memory, growth
   * empties arrays made before it). Read it again after such calls; keep
   * `toArray()` copies. Throws after dispose().
   */
  get data(): A {
    if (!this.alive) throw new TypeError('Tensor: used after dispose()');
    const buffer = this.rt.memory.buffer;
    if (this.cacheBuffer !== buffer || this.cache === null) {
      this.cache = this.makeView(buffer);
      this.cacheBuffer = buffer;
    }
    return this.cache;
  }

  /** False once this tensor, or the tensor whose memory it views, was disposed. */
  get alive(): boolean {
    return this.live && this.block.live;
  }

  get disposed(): boolean { return !this.alive; }

  /** Copies values in (any array-like of the right length, even a view on this runtime's memory). */
  set(values: ArrayLike<number>): this {
    if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
      throw new TypeError(`Tensor.set: values must be an array-like of ${this.size} numbers, got ${describeValue(values)}`);
    }
    if (values.length !== this.size) {
      throw new RangeError(`Tensor.set: expected ${this.size} values for shape [${this.shape.join(', ')}], got ${values.length}`);
    }
    // as rt.tensor / rt.labels check their data: non-numbers, BigInts, and for an IntTensor values it would change
    this.data.set(checkedValues('Tensor.set', this.shape, this.size, values, this instanceof IntTensor));
    return this;
  }

  /** Frees the memory if this tensor owns it; its views (reshape/rows/view) die with it. A view's dispose() ends only the view. */
  dispose(): void {
    if (!this.live) return;
    this.live = false;
    this.cache = null;
    if (this.owner && this.block.live) {
      this.block.live = false;
      this.rt.free(this.ptr);
    }
  }

  /** @internal the block and checks for a view of `rows` rows [start, end). */
  protected rowView(start: number, end: number): { block: Block; ptr: number; shape: number[] } {
    if (!this.alive) throw new TypeError('rows: tensor used after dispose()');
    if (this.shape.length === 0) throw new RangeError('rows: the tensor has no rows (rank 0)');
    const rows = this.shape[0];
    // a value that is not a number is named as such (a Symbol would throw in the message, a Date or a
    // function would print as itself); numbers keep the range form
    for (const [what, v] of [['start', start], ['end', end]] as const) {
      if (typeof v !== 'number') throw new TypeError(`rows: ${what} must be an integer in [0, ${rows}], got ${describeValue(v)}`);
    }
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= rows)) {
      throw new RangeError(`rows(${start}, ${end}): expected 0 <= start <= end <= ${rows}`);
    }
    const rowSize = this.size / Math.max(rows, 1);
    return { block: this.block, ptr: this.ptr + start * rowSize * 4, shape: [end - start, ...this.shape.slice(1)] };
  }

  /** @internal the block for a view of the same memory (reshape, view). */
  protected viewBlock(who: string): Block {
    if (!this.alive) throw new TypeError(`${who}: tensor used after dispose()`);
    return this.block;
  }
}

/** A float32 tensor on the runtime's linear memory. */
export class Tensor extends View<Float32Array> {
  /** @internal a tensor owning a fresh allocation at `ptr` (rt.tensor) */
  static own(rt: Runtime, ptr: number, shape: Shape): Tensor {
    return new Tensor(rt, ptr, shape, { live: true }, true);
  }

  /** A Float32Array over this tensor's elements in `buffer` (no copy); `data` caches it. */
  protected makeView(buffer: ArrayBufferLike): Float32Array {
    return new Float32Array(buffer, this.ptr, this.size);
  }

  /** A copy of the values (yours to keep: it stays valid whatever the memory does). */
  toArray(): Float32Array {
    return this.data.slice();
  }

  /** A view with another shape of the same size (shares memory; dies with this tensor's owner). */
  reshape(shape: Shape): Tensor {
    const block = this.viewBlock('reshape');
    const { dims, size: n } = shapeSnapshot(shape, 'reshape');
    if (n !== this.size) throw new RangeError(`reshape: [${this.shape.join(', ')}] has ${this.size} elements, [${dims.join(', ')}] has ${n}`);
    return new Tensor(this.rt, this.ptr, dims, block, false);
  }

  /** A view on rows [start, end) of the first dimension (shares memory; dies with this tensor's owner). */
  rows(start: number, end: number): Tensor {
    const { block, ptr, shape } = this.rowView(start, end);
    return new Tensor(this.rt, ptr, shape, block, false);
  }

  /** A view of `shape` starting `offset` floats in (shares memory; dies with this tensor's owner). */
  view(offset: number, shape: Shape): Tensor {
    const block = this.viewBlock('view');
    const { dims, size: n } = shapeSnapshot(shape, 'view');
    if (typeof offset !== 'number') {
      throw new TypeError(`view: offset must be a non-negative integer, got ${describeValue(offset)}`);
    }
    if (!(Number.isInteger(offset) && offset >= 0 && offset + n <= this.size)) {
      throw new RangeError(`view(${offset}, [${dims.join(', ')}]): expected 0 <= offset and offset + ${n} <= ${this.size}`);
    }
    return new Tensor(this.rt, this.ptr + offset * 4, dims, block, false);
  }
}

/** An int32 tensor (class labels, indices) on the runtime's linear memory. */
export class IntTensor extends View<Int32Array> {
  /** @internal an int tensor owning a fresh allocation at `ptr` (rt.labels) */
  static own(rt: Runtime, ptr: number, shape: Shape): IntTensor {
    return new IntTensor(rt, ptr, shape, { live: true }, true);
  }

  /** An Int32Array over this tensor's elements in `buffer` (no copy); `data` caches it. */
  protected makeView(buffer: ArrayBufferLike): Int32Array {
    return new Int32Array(buffer, this.ptr, this.size);
  }

  /** A copy of the values (yours to keep). */
  toArray(): Int32Array {
    return this.data.slice();
  }

  /** A view on rows [start, end) of the first dimension (shares memory; dies with this tensor's owner). */
  rows(start: number, end: number): IntTensor {
    const { block, ptr, shape } = this.rowView(start, end);
    return new IntTensor(this.rt, ptr, shape, block, false);
  }
}

/**
 * Checks a tensor argument of a public entry: `t` must be a Tensor or
 * IntTensor, alive (neither it nor the tensor it views disposed) and on `rt`.
 * Throws a TypeError naming `what` otherwise. Two field reads on the fast path.
 */
export function checkTensor(rt: Runtime, t: unknown, what: string): asserts t is Tensor | IntTensor {
  if (!(t instanceof View) || !t.alive || t.rt !== rt) throw tensorError(rt, t, what);
}

/** Refuses an x that is not [N, ...inputShape] (when the net fixes one sample's shape). */
export function checkSampleShape(inputShape: readonly number[] | null, x: { readonly shape: readonly number[] }, what: string): void {
  if (inputShape === null) return;
  const s = x.shape;
  if (s.length !== inputShape.length + 1 || inputShape.some((d, i) => s[i + 1] !== d)) {
    throw new RangeError(`${what} must be [N, ${inputShape.join(', ')}] (the net's input), got [${s.join(', ')}]`);
  }
}

/** Whether tensors `a` and `b` share any byte of linear memory (both have 4-byte elements). */
export function sharesMemory(a: Tensor, b: Tensor): boolean {
  return a.ptr < b.ptr + 4 * b.size && b.ptr < a.ptr + 4 * a.size;
}

/**
 * The first tensor of `written` (state or gradients a layer was given and writes) that shares memory with
 * another of `read` or `written`, as 'dgamma overlaps gamma', or null; undefined entries (not given) are
 * skipped. A kernel writing one would change what it is still reading.
 */
export function overlapOf(read: Readonly<Record<string, Tensor | undefined>>, written: Readonly<Record<string, Tensor | undefined>>): string | null {
  const all = Object.entries({ ...read, ...written }).filter((e): e is [string, Tensor] => e[1] !== undefined);
  for (const [name, t] of Object.entries(written)) {
    const hit = t === undefined ? undefined : all.find(([other, u]) => other !== name && sharesMemory(t, u));
    if (hit) return `${name} overlaps ${hit[0]}`;
  }
  return null;
}

/**
 * A borrowed result `y` copied into `out` (already checked live and on y's runtime), or into a new
 * tensor the caller owns; a RangeError naming `who` if out's size is not y's (out is then not written).
 */
export function copyResult(y: Tensor, out: Tensor | undefined, who: string): Tensor {
  if (out !== undefined && out.size !== y.size) throw new RangeError(`${who}: out must have shape [${y.shape.join(', ')}], got [${out.shape.join(', ')}]`);
  const result = out ?? y.rt.tensor(y.shape);
  y.rt.unsafeKernels.copy(result.ptr, y.ptr, y.size);
  return result;
}

/** checkTensor for a float32 argument: an IntTensor is refused too. */
export function checkFloatTensor(rt: Runtime, t: unknown, what: string): asserts t is Tensor {
  if (!(t instanceof Tensor) || !t.alive || t.rt !== rt) throw tensorError(rt, t, what, 'a float32 Tensor');
}

/** The error for a tensor argument that failed checkTensor (the slow path). */
function tensorError(rt: Runtime, t: unknown, what: string, expected = 'a Tensor'): TypeError {
  if (!(t instanceof View)) return new TypeError(`${what}: expected ${expected}, got ${describeValue(t)}${otherCopyHint(t, ['Tensor', 'IntTensor'])}`);
  if (expected !== 'a Tensor' && !(t instanceof Tensor)) return new TypeError(`${what}: expected ${expected}, got an IntTensor`);
  if (!t.alive) return new TypeError(`${what}: tensor [${t.shape.join(', ')}] used after dispose() (or a view of a disposed tensor)`);
  if (t.rt !== rt) return new TypeError(`${what}: tensor [${t.shape.join(', ')}] belongs to another runtime`);
  return new TypeError(`${what}: invalid tensor`);
}

/**
 * A hint for a value of one of our `classes` by name that failed `instanceof`: an object of another copy of
 * simdnn, loaded twice (two installs, or a bundle of the package beside the package itself); '' for anything else.
 */
export function otherCopyHint(v: unknown, classes: readonly string[]): string {
  const name = v !== null && typeof v === 'object' ? className(v) : undefined;
  return name !== undefined && classes.includes(name)
    ? ` of another copy of simdnn (the package is loaded twice, e.g. from two installs: use one)`
    : '';
}

/**
 * `data` checked as the `size` values of a tensor of `shape`, and what to copy from it: a typed array as it is, a
 * plain array's values read once (a getter is not asked again; checked, they are what is copied). A plain array's
 * non-numbers are refused (a Float32Array would turn '1' into 1 and a nested row into NaN without a word), BigInt
 * arrays too, and with `int32` a value an Int32Array would change (1.5, NaN, 2^32 + 1), naming `who` and the first.
 */
export function checkedValues(who: string, shape: Shape, size: number, data: unknown, int32: boolean): ArrayLike<number> {
  const length = data !== null && typeof data === 'object' ? (data as ArrayLike<unknown>).length : undefined;
  if (typeof length !== 'number') throw new TypeError(`${who}: data must be an array-like of ${size} numbers, got ${describeValue(data)}`);
  if (length !== size) throw new RangeError(`${who}: shape [${shape.join(', ')}] needs ${size} values, got ${length}`);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) throw new TypeError(`${who}: data holds BigInts; pass numbers`);
  let values = data as ArrayLike<number>;
  if (!ArrayBuffer.isView(data)) {
    const read = new Array<number>(size);
    for (let i = 0; i < size; i++) {
      const v: unknown = (data as ArrayLike<unknown>)[i];
      if (typeof v !== 'number') {
        const hint = Array.isArray(v) ? ' (pass the values flat, row after row)' : '';
        throw new TypeError(`${who}: data[${i}] is ${describeValue(v)}, not a number${hint}`);
      }
      read[i] = v;
    }
    values = read;
  }
  if (int32 && !FITS_INT32.some((T) => values instanceof T)) {
    for (let i = 0; i < size; i++) {
      const v = values[i];
      if (!(Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff)) throw new RangeError(`${who}: data[${i}] = ${v} is not a 32-bit integer`);
    }
  }
  return values;
}

/** Integer typed arrays whose every value fits an Int32Array as is. */
const FITS_INT32 = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array];

/** A value for a message: a number as written (0, -1.5, NaN), anything else described (never throws). */
export function shown(v: unknown): string {
  return typeof v === 'number' ? String(v) : describeValue(v);
}

/** The error of a numeric argument refused: a RangeError for a number out of range, a TypeError for any other value. */
export function badNumber(v: unknown, message: string): RangeError | TypeError {
  return typeof v === 'number' ? new RangeError(message) : new TypeError(message);
}

/** An object's class name for a message, or undefined: never throws (a hostile `constructor` may be a getter or hold a Symbol). */
function className(v: object): string | undefined {
  try {
    const name: unknown = (v as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' && name !== '' ? name : undefined;
  } catch {
    return undefined;
  }
}

/** A value, for an error message that says what was given instead. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an Array of length ${v.length}`;
  if (typeof v === 'object') {
    const name = className(v) ?? 'object';
    return `${/^[AEIOU]/i.test(name) ? 'an' : 'a'} ${name}`;
  }
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}
