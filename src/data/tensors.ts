// A data set on tensors: (x, t) with the row operations the book does in
// NumPy (x[mask], np.random.permutation, np.random.choice) done by kernels on
// the linear memory. Rows are gathered with gatherRows; seeded shuffles and
// splits use the host-independent mulberry32 stream (split.ts), mini-batch
// draws the runtime's counter-based stream, so both give the same rows on
// every host.
import { Buffers } from '../layers/buffers.js';
import type { Runtime } from '../runtime/runtime.js';
import { IntTensor, Tensor, checkFloatTensor, checkTensor, describeValue, otherCopyHint } from '../runtime/tensor.js';
import { seededRandom } from './split.js';
import { checkFlag, checkOptions } from '../runtime/options.js';
import { positiveInteger } from '../nets/net-options.js';

const BATCHES_KEYS = new Set(['seed', 'dropLast']);

/** A borrowed batch: tensors owned by the Dataset, valid until its next batch call. */
export interface Batch<T extends Tensor | IntTensor = Tensor | IntTensor> {
  x: Tensor;
  t: T;
}

/**
 * Draws `count` row indices uniformly in [0, n) with replacement (np.random.choice)
 * from the runtime's stream into `out`, using `u` (≥ 2·count floats) as scratch.
 * Each index takes 48 random bits (two 24-bit uniforms), so it is unbiased to ~n/2^48.
 */
export function drawIndices(rt: Runtime, out: IntTensor, u: Tensor, count: number, n: number): void {
  rt.unsafeKernels.rngUniform(u.ptr, 2 * count, 0, 1, rt.seed >>> 0, rt.take(2 * count));
  const uv = u.data, iv = out.data;
  for (let i = 0; i < count; i++) {
    // uv holds k/2^24 exactly; (hi·2^24 + lo)/2^48 is a uniform 48-bit fraction
    const f = (uv[2 * i] * 16777216 + uv[2 * i + 1]) / 16777216;
    iv[i] = Math.min(n - 1, Math.floor(f * n));
  }
}

/**
 * Rows of inputs `x` [N, …] and targets `t` ([N] int labels or [N, classes] rows).
 * Built from tensors it borrows (`new Dataset(x, t)`: dispose() leaves them alone);
 * select, shuffle and split return new Datasets that own their tensors (the caller
 * disposes them, or takes `x`/`t` and disposes those).
 */
export class Dataset<T extends Tensor | IntTensor = Tensor | IntTensor> {
  readonly rt: Runtime;
  private readonly buffers: Buffers;
  private isDisposed = false;

  /** Throws if x or t is disposed, they live on different runtimes or their row counts differ. */
  constructor(readonly x: Tensor, readonly t: T, private readonly owned = false) {
    if (!(x instanceof Tensor)) throw new TypeError(`Dataset: x must be a Tensor, got ${describeValue(x)}${otherCopyHint(x, ['Tensor'])}`);
    checkFloatTensor(x.rt, x, 'Dataset: x');
    checkTensor(x.rt, t, 'Dataset: t (on the runtime of x)');
    if (x.shape.length === 0 || t.shape.length === 0 || x.shape[0] !== t.shape[0]) {
      throw new RangeError(`Dataset: x [${x.shape.join(', ')}] and t [${t.shape.join(', ')}] must have the same number of rows`);
    }
    this.rt = x.rt;
    this.buffers = new Buffers(this.rt);
  }

  /** Number of rows. */
  get length(): number {
    return this.x.shape[0];
  }

  /** The rows at `indices`, in that order, copied into new tensors the returned Dataset owns. */
  select(indices: ArrayLike<number>): Dataset<T> {
    return this.pick(indices, 'select');
  }

  private pick(given: ArrayLike<number>, who: string): Dataset<T> {
    this.checkLive(who);
    const N = this.length;
    if (given === null || typeof given !== 'object' || !Number.isSafeInteger(given.length)) {
      throw new TypeError(`Dataset.${who}: indices must be an array of row numbers, got ${describeValue(given)}`);
    }
    // read once: the gather uses the indices checked (an array whose elements change between reads, by
    // getters or a Proxy, had the gather read rows outside the tensors)
    const indices = Array.from(given);
    for (let i = 0; i < indices.length; i++) {
      const r = indices[i];
      if (!(Number.isInteger(r) && r >= 0 && r < N)) throw new RangeError(`Dataset.${who}: indices[${i}] is ${String(r)}, expected an integer in [0, ${N})`);
    }
    const n = indices.length;
    // a one-off copy: its index list is freed with the call (kept, it outlived the split a Trainer made)
    const idx = this.rt.labels([Math.max(1, n)]);
    try {
      idx.data.set(indices);
      const x = this.rt.tensor([n, ...this.x.shape.slice(1)]);
      let t: T;
      try {
        t = (this.t instanceof Tensor ? this.rt.tensor([n, ...this.t.shape.slice(1)]) : this.rt.labels([n, ...this.t.shape.slice(1)])) as T;
      } catch (e) { x.dispose(); throw e; }
      const k = this.rt.unsafeKernels;
      k.gatherRows(x.ptr, this.x.ptr, idx.ptr, n, this.x.size / Math.max(N, 1));
      k.gatherRows(t.ptr, this.t.ptr, idx.ptr, n, this.t.size / Math.max(N, 1));
      return new Dataset(x, t, true);
    } finally {
      idx.dispose();
    }
  }

  /** All rows in a seeded random order (mulberry32, the same on every host); a new owned Dataset. */
  shuffle(seed: number): Dataset<T> {
    return this.pick(permutation(this.length, checkSeed('shuffle', seed)), 'shuffle');
  }

  /**
   * A seeded split into training and validation rows: the validation part takes
   * N − ⌊N·(1 − validationRate)⌋ rows drawn at random (Keras's count), both parts
   * keep the original row order. Both are new owned Datasets; neither may be empty.
   */
  split(validationRate: number, seed: number): { train: Dataset<T>; validation: Dataset<T> } {
    const expected = 'Dataset.split: validationRate must be a number in (0, 1)';
    if (typeof validationRate !== 'number') throw new TypeError(`${expected}, got ${describeValue(validationRate)}`);
    if (!(validationRate > 0 && validationRate < 1)) throw new RangeError(`${expected}, got ${validationRate}`);
    const N = this.length;
    const nVal = N - Math.floor(N * (1 - validationRate));
    if (nVal === 0 || nVal === N) throw new RangeError(`Dataset.split: a rate of ${validationRate} on ${N} rows leaves an empty part`);
    const perm = permutation(N, checkSeed('split', seed));
    const sorted = (a: Int32Array) => a.sort();
    const validation = this.pick(sorted(perm.slice(0, nVal)), 'split');
    try {
      return { train: this.pick(sorted(perm.slice(nVal)), 'split'), validation };
    } catch (e) { validation.dispose(); throw e; }
  }

  /**
   * The book's mini-batch: `size` rows drawn with replacement (np.random.choice) from
   * the runtime's seeded stream. Borrowed: the tensors are the Dataset's, reused by the
   * next call (no allocation once a size has been seen).
   */
  randomChoice(size: number): Batch<T> {
    positiveInteger('Dataset.randomChoice', 'size', size);
    this.checkLive('randomChoice');
    if (this.length === 0) throw new RangeError('Dataset.randomChoice: the Dataset has no rows to draw from');
    const idx = this.buffers.labels('choice', [size]);
    drawIndices(this.rt, idx, this.buffers.get('choice.u', [2 * size]), size, this.length);
    return this.gather(idx, size, 'batch');
  }

  /**
   * Batches of `batchSize` rows in order, or in a seeded random order when `seed` is given;
   * the last one is smaller unless `dropLast`. Each batch is borrowed (valid until the next).
   */
  *batches(batchSize: number, options: { seed?: number; dropLast?: boolean } = {}): IterableIterator<Batch<T>> {
    positiveInteger('Dataset.batches', 'batchSize', batchSize);
    checkOptions('Dataset.batches', options, BATCHES_KEYS);
    const { seed, dropLast = false } = options;
    checkFlag('Dataset.batches', 'dropLast', dropLast);
    this.checkLive('batches');
    const N = this.length;
    const order = seed === undefined ? Int32Array.from({ length: N }, (_, i) => i) : permutation(N, checkSeed('batches', seed));
    const idx = this.rt.labels([Math.max(1, N)], N > 0 ? order : undefined);
    try {
      for (let start = 0; start < N; start += batchSize) {
        const n = Math.min(batchSize, N - start);
        if (n < batchSize && dropLast) break;
        if (start > 0) this.checkLive('batches'); // the caller may dispose between batches
        yield this.gather(idx.rows(start, start + n), n, 'batches');
      }
    } finally {
      idx.dispose();
    }
  }

  /** Frees the tensors this Dataset owns (those of select/shuffle/split) and its batch buffers; every entry then throws. */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.buffers.dispose();
    if (this.owned) { this.x.dispose(); this.t.dispose(); }
  }

  /** The kernels read x and t by address: a borrowed one the caller disposed since would be read freed. */
  private checkLive(entry: string): void {
    if (this.isDisposed) throw new Error(`Dataset.${entry}: used after dispose()`);
    checkTensor(this.rt, this.x, `Dataset.${entry}: x`);
    checkTensor(this.rt, this.t, `Dataset.${entry}: t`);
  }

  private gather(idx: IntTensor, n: number, name: string): Batch<T> {
    const N = this.length;
    const x = this.buffers.get(`${name}.x`, [n, ...this.x.shape.slice(1)]);
    const t = (this.t instanceof Tensor ? this.buffers.get(`${name}.t`, [n, ...this.t.shape.slice(1)]) : this.buffers.labels(`${name}.t`, [n, ...this.t.shape.slice(1)])) as T;
    const k = this.rt.unsafeKernels;
    k.gatherRows(x.ptr, this.x.ptr, idx.ptr, n, this.x.size / N);
    k.gatherRows(t.ptr, this.t.ptr, idx.ptr, n, this.t.size / N);
    return { x, t };
  }
}

function checkSeed(who: string, seed: number): number {
  const expected = `Dataset.${who}: seed must be an integer in [0, 2^32)`;
  if (typeof seed !== 'number') throw new TypeError(`${expected}, got ${describeValue(seed)}`);
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new RangeError(`${expected}, got ${seed}`);
  return seed;
}

/** A seeded permutation of 0..n−1 (Fisher-Yates on mulberry32). */
function permutation(n: number, seed: number): Int32Array {
  const next = seededRandom(seed);
  const a = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = a[i]; a[i] = a[j]; a[j] = t;
  }
  return a;
}
