// Hyper-parameters: each optimizer declares its options as (default, valid
// range); the constructor rejects unknown keys (TypeError naming the key) and
// out-of-range values (RangeError naming the option) before anything is kept.

export type Range = 'nonNegative' | 'positive' | 'unit' | 'closedUnit';

const RANGES: Record<Range, { ok: (v: number) => boolean; expected: string }> = {
  nonNegative: { ok: (v) => v >= 0, expected: 'a finite number >= 0' },
  positive: { ok: (v) => v > 0, expected: 'a finite number > 0' },
  unit: { ok: (v) => v >= 0 && v < 1, expected: 'a number in [0, 1)' },
  closedUnit: { ok: (v) => v >= 0 && v <= 1, expected: 'a number in [0, 1]' },
};

/** Option name -> [default, valid range]. */
export type OptionSpecs = Readonly<Record<string, readonly [number, Range]>>;

export type ParsedOptions<S extends OptionSpecs> = { [K in keyof S]: number };

export function parseOptions<S extends OptionSpecs>(who: string, specs: S, options: object): ParsedOptions<S> {
  if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options must be an object, got ${String(options)}`);
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(specs, key)) throw new TypeError(`${who}: unknown option '${key}' (expected one of ${Object.keys(specs).join(', ')})`);
  }
  const given = options as Record<string, unknown>;
  const out: Record<string, number> = {};
  for (const [key, [fallback, range]] of Object.entries(specs)) out[key] = checkOption(who, key, range, given[key] ?? fallback);
  return out as ParsedOptions<S>;
}

/** `v` if it is a number in `range`; a RangeError naming `who` and `key` otherwise. */
export function checkOption(who: string, key: string, range: Range, v: unknown): number {
  const { ok, expected } = RANGES[range];
  if (!(typeof v === 'number' && Number.isFinite(v) && ok(v))) {
    throw new RangeError(`${who}: ${key} must be ${expected}, got ${typeof v === 'string' ? `'${v}'` : String(v)}`);
  }
  return v;
}

/**
 * Parses `options` against `specs` and defines each option on `target` as a
 * property checked on every set (`opt.lr = NaN` throws a RangeError naming it),
 * so a schedule or a user can change it between steps but never to a bad value.
 */
export function defineOptions<S extends OptionSpecs>(target: object, who: string, specs: S, options: object): void {
  const values = parseOptions(who, specs, options) as Record<string, number>;
  for (const [key, [, range]] of Object.entries(specs)) {
    let value = values[key];
    Object.defineProperty(target, key, {
      get: () => value,
      set: (v: unknown) => { value = checkOption(who, key, range, v); },
      enumerable: true,
    });
  }
}

/** The defaults of a spec, e.g. { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-7 }. */
export function defaultsOf(specs: OptionSpecs): Record<string, number> {
  return Object.fromEntries(Object.entries(specs).map(([key, [fallback]]) => [key, fallback]));
}
