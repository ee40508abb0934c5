// Reading a file that arrives in chunks, written once for both kinds of
// caller: the reading code is a generator that asks its driver for the next
// chunk (`yield`) and is handed it, or END_OF_INPUT at the end of the input.
// `readSync` drives it from an iterator (loadModel); model-async.ts drives it
// from a stream, awaiting each chunk (loadModelAsync). An error of the input
// (an iterator or stream that throws, an abort) is thrown into the generator
// at its `yield`, so the reading code's own catch blocks free what it built.
import { SafetensorsError } from './safetensors.js';

/** Reading code: yields to ask for the next chunk, is resumed with it (or END_OF_INPUT). */
export type Reading<T> = Generator<void, T, unknown>;

/** What a driver hands its reading code once the input has no more chunks. */
export const END_OF_INPUT: unique symbol = Symbol('end of input');

/** Hands out exactly the bytes asked for from a sequence of chunks. */
export class ChunkReader {
  private chunk: Uint8Array = new Uint8Array(0);
  private at = 0;
  /** Bytes consumed so far. */
  position = 0;

  /** `who` names the entry in the error for a chunk that is no Uint8Array. */
  constructor(private readonly who: string) {}

  /** Exactly `n` bytes (a copy when they span chunks); throws a SafetensorsError at the end of the input. */
  *read(n: number, what: string): Reading<Uint8Array> {
    if (this.chunk.length - this.at >= n) {
      const out = this.chunk.subarray(this.at, this.at + n);
      this.at += n;
      this.position += n;
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    yield* this.stream(n, what, (piece) => { out.set(piece, filled); filled += piece.length; });
    return out;
  }

  /** Passes the next `n` bytes to `sink` in the pieces they arrive in. */
  *stream(n: number, what: string, sink: (piece: Uint8Array) => void): Reading<void> {
    let left = n;
    while (left > 0) {
      if (this.at === this.chunk.length && !(yield* this.next())) {
        throw new SafetensorsError(`safetensors: the file ends at byte ${this.position}, inside ${what} (${left} bytes short)`);
      }
      const take = Math.min(left, this.chunk.length - this.at);
      sink(this.chunk.subarray(this.at, this.at + take));
      this.at += take;
      this.position += take;
      left -= take;
    }
  }

  /** Whether any byte is left. */
  *atEnd(): Reading<boolean> {
    while (this.at === this.chunk.length) if (!(yield* this.next())) return true;
    return false;
  }

  private *next(): Reading<boolean> {
    const chunk = yield;
    if (chunk === END_OF_INPUT) return false;
    // by tag, not instanceof: bytes from another realm (an iframe, a vm context) are bytes too
    if (Object.prototype.toString.call(chunk) !== '[object Uint8Array]') throw new TypeError(`${this.who}: every chunk must be a Uint8Array, got ${Object.prototype.toString.call(chunk)}`);
    this.chunk = chunk as Uint8Array;
    this.at = 0;
    return true;
  }
}

/**
 * Runs `reading` to its end on the chunks of `chunks`. An exception of the
 * iterator is thrown into `reading`, which cleans up and passes it on.
 */
export function readSync<T>(reading: Reading<T>, chunks: Iterator<unknown>): T {
  let step = reading.next();
  while (!step.done) {
    let chunk: unknown;
    try {
      const r = chunks.next();
      chunk = r.done ? END_OF_INPUT : r.value;
    } catch (e) {
      step = reading.throw(e);
      continue;
    }
    step = reading.next(chunk);
  }
  return step.value;
}
