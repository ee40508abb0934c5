// The async entries' shared parts: their options, and a prediction cut into
// chunks of rows that yields to the event loop between them (Sequential's and
// FrozenNet's predictAsync), so a page stays responsive and a lazy thread pool
// starts while thousands of rows are predicted.
import type { Runtime } from '../runtime/runtime.js';
import { checkFloatTensor, sharesMemory, type Tensor } from '../runtime/tensor.js';
import { checkOptions, isAbortSignal } from '../runtime/options.js';
import { Yielder } from '../runtime/yield.js';

/** Options of the async entries (evaluateAsync, accuracyAsync, predictAsync). */
export interface AsyncOptions {
  /**
   * Checked before every chunk: once aborted, the promise rejects with `signal.reason`. An AbortSignal
   * (or an object with its `aborted` boolean and `throwIfAborted`, `addEventListener` functions);
   * anything else is refused with a TypeError naming signal.
   */
  signal?: AbortSignal;
}

const ASYNC_KEYS = new Set(['signal']), PREDICT_ASYNC_KEYS = new Set(['signal', 'out']);

/**
 * The options of an async entry (`out` too where the entry writes one), read once and checked: a
 * plain copy. `signal` must be an AbortSignal (a TypeError naming `who` and signal otherwise).
 */
export function checkAsyncOptions(who: string, options: AsyncOptions & { out?: Tensor }, allowOut: boolean): AsyncOptions & { out?: Tensor } {
  checkOptions(who, options, allowOut ? PREDICT_ASYNC_KEYS : ASYNC_KEYS);
  const signal = options.signal;
  if (signal !== undefined && !isAbortSignal(signal)) throw new TypeError(`${who}: signal must be an AbortSignal`);
  return allowOut ? { signal, out: options.out } : { signal };
}

/**
 * `predictBorrowed` over x's rows in chunks of `rows`, each output copied into
 * a new tensor (or `out`), yielding whenever ~8 ms have run. `alive` is called
 * before every chunk (the net may be disposed while the caller awaits); x and
 * out are checked again there too. On an error or abort the tensor it made is
 * freed (an `out` keeps the chunks written before). x must have rows (N > 0).
 */
export async function predictInChunks(
  rt: Runtime, who: string, x: Tensor, rows: number, options: AsyncOptions & { out?: Tensor },
  alive: () => void, predictBorrowed: (chunk: Tensor) => Tensor,
): Promise<Tensor> {
  const { signal, out } = options; // as checkAsyncOptions returned them: read once
  const N = x.shape[0];
  const yielder = new Yielder();
  let result: Tensor | null = out ?? null;
  try {
    for (let start = 0; start < N; start += rows) {
      signal?.throwIfAborted();
      if (start > 0 && yielder.due()) await yielder.yieldNow();
      signal?.throwIfAborted();
      alive();
      const end = Math.min(N, start + rows);
      checkFloatTensor(rt, x, `${who}: x`);
      const y = predictBorrowed(x.rows(start, end));
      const rowSize = y.size / (end - start);
      if (result === null) result = rt.tensor([N, ...y.shape.slice(1)]);
      checkFloatTensor(rt, result, `${who}: out`);
      if (result.size !== N * rowSize) throw new RangeError(`${who}: out must have shape [${[N, ...y.shape.slice(1)].join(', ')}], got [${result.shape.join(', ')}]`);
      // out is written chunk by chunk while x's later rows are still to be read: only x itself, with output rows
      // no wider than its own, overwrites nothing but rows already read (predict copies once, after the whole pass)
      if (start === 0 && result === out && sharesMemory(out, x) && !(out.ptr === x.ptr && rowSize <= x.size / N)) {
        throw new RangeError(`${who}: out overlaps x, whose rows a chunk's output would overwrite before they are read; pass another tensor (or x itself when the output rows are no wider than x's)`);
      }
      rt.unsafeKernels.copy(result.ptr + start * rowSize * 4, y.ptr, y.size);
    }
    return result!;
  } catch (e) {
    if (result !== null && result !== out) result.dispose();
    throw e;
  } finally {
    yielder.close();
  }
}
