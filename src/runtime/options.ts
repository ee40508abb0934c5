// The one check of an options object: an object whose every key is known. A
// misspelt key (`optimiser`, `seeds`) would otherwise be ignored without a word.
// And of a flag: an object or 1 where true or false is meant is truthy, not an error.
import { describeValue } from './tensor.js';

/** Throws a TypeError naming `who` when `options` is not an object or holds a key outside `keys`. */
export function checkOptions(who: string, options: object, keys: ReadonlySet<string>): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options must be an object, got ${String(options)}`);
  for (const key of Object.keys(options)) {
    if (!keys.has(key)) throw new TypeError(`${who}: unknown option '${key}' (expected one of ${[...keys].join(', ')})`);
  }
}

/** Throws a TypeError naming `who` and `name` unless `value` is true or false (`hint` follows the message). */
export function checkFlag(who: string, name: string, value: unknown, hint = ''): void {
  if (typeof value !== 'boolean') throw new TypeError(`${who}: ${name} must be true or false, got ${describeValue(value)}${hint}`);
}

/** Whether `v` can be used as an AbortSignal: an `aborted` flag and `throwIfAborted()` (a `{ aborted: false }` cannot). */
export function isAbortSignal(v: unknown): v is AbortSignal {
  return v !== null && typeof v === 'object' && typeof (v as AbortSignal).aborted === 'boolean'
    && typeof (v as AbortSignal).throwIfAborted === 'function' && typeof (v as AbortSignal).addEventListener === 'function';
}
