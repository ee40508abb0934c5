// The one check of an options object: an object whose every key is known. A
// misspelt key (`optimiser`, `seeds`) would otherwise be ignored without a word.
// And of a flag: an object or 1 where true or false is meant is truthy, not an error.
// And of an optional option's value: left out is its default, null is not.
import { describeValue, shown } from './tensor.js';

/** Throws a TypeError naming `who` when `options` is not an object or holds a key outside `keys`. */
export function checkOptions(who: string, options: object, keys: ReadonlySet<string>): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options must be an object, got ${String(options)}`);
  for (const key of Object.keys(options)) {
    if (!keys.has(key)) throw new TypeError(`${who}: unknown option '${key}' (expected one of ${[...keys].join(', ')})`);
  }
}

/**
 * An optional option's value: `fallback` when it is left out (undefined, as a destructuring default takes it), else
 * the value given, for the caller's own check. null is refused, a TypeError naming `who` and `name`: a JSON null is
 * no value, and taken for the default (`options.x ?? fallback`) it hid a field left unset by mistake.
 */
export function optionOr<T>(who: string, name: string, value: T | null | undefined, fallback: T): T {
  if (value === null) {
    const its = fallback === undefined ? '' : ` (for its default, ${typeof fallback === 'string' ? `'${fallback}'` : shown(fallback)})`;
    throw new TypeError(`${who}: ${name} must be a value or left out${its}, got null`);
  }
  return value === undefined ? fallback : value;
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
