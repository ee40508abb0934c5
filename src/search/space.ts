// Search spaces and trial sampling. A space maps setting names to dimensions
// (log-uniform, uniform, integer, choice) or to fixed values; a trial's
// settings are drawn from a generator seeded by (study seed, trial index)
// alone, so trial 7 of seed 1 has the same settings whatever ran before it,
// in any order, on any executor.
import { badNumber, checkOptions, describeValue, seededRandom, shown, type OptimizerName, type OptimizerOptionsMap } from '../index.js';
import { exactLog10, exactPow10 } from '../runtime/exact-math.js';
import type { TRIAL_SETTINGS } from './trial.js';

/** A value a setting can take: plain JSON, so settings travel in jobs. */
export type SettingValue = number | string | boolean | null | readonly SettingValue[];

/** 10^U(log10 low, log10 high): the book's lr = 10^U(−6, −2) is logUniform(1e-6, 1e-2). */
export interface LogUniform { kind: 'logUniform'; low: number; high: number }
/** U(low, high): a value in [low, high) (low when they are equal). */
export interface Uniform { kind: 'uniform'; low: number; high: number }
/** An integer in [low, high], each equally likely. */
export interface IntRange { kind: 'int'; low: number; high: number }
/** One of the values, each equally likely. */
export interface Choice { kind: 'choice'; values: readonly SettingValue[] }

/** A range a setting is sampled from: log-uniform, uniform, an integer range or a choice. */
export type Dimension = LogUniform | Uniform | IntRange | Choice;

/** A parameter of one of the optimizers (lr, momentum, beta1, …): a trial passes it to its optimizer. */
export type OptimizerParamName = { [N in OptimizerName]: keyof OptimizerOptionsMap[N] }[OptimizerName];

/** A setting a search space may name: one of TRIAL_SETTINGS, or an optimizer's parameter (which needs that optimizer among those the space gives). */
export type SettingName = (typeof TRIAL_SETTINGS)[number] | OptimizerParamName;

/**
 * Setting name → a dimension to sample, or a fixed value. Plain JSON: a study can be saved and resumed.
 * The names are SettingName's (the search refuses any other with a TypeError before it starts).
 */
export type SearchSpace = { readonly [K in SettingName]?: Dimension | SettingValue };

/** A trial's sampled settings. */
export type Settings = Record<string, SettingValue>;

const finite = (who: string, name: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`${who}: ${name} must be a finite number, got ${describeValue(v)}`);
  return v;
};

function bounds(who: string, low: number, high: number): void {
  finite(who, 'low', low);
  finite(who, 'high', high);
  if (!(low <= high)) throw new RangeError(`${who}: low must be <= high, got [${low}, ${high}]`);
}

/** A log-uniform dimension over [low, high] (both > 0). Throws a RangeError on bad bounds. */
export function logUniform(low: number, high: number): LogUniform {
  bounds('logUniform', low, high);
  if (!(low > 0)) throw new RangeError(`logUniform: low must be > 0, got ${low}`);
  return { kind: 'logUniform', low, high };
}

/** A uniform dimension over [low, high). Throws a RangeError on bad bounds. */
export function uniform(low: number, high: number): Uniform {
  bounds('uniform', low, high);
  return { kind: 'uniform', low, high };
}

/** An integer dimension over [low, high], inclusive. Throws a RangeError unless both are safe integers, low <= high. */
export function int(low: number, high: number): IntRange {
  bounds('int', low, high);
  if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high)) throw new RangeError(`int: low and high must be integers, got [${low}, ${high}]`);
  return { kind: 'int', low, high };
}

/** A choice among JSON values (numbers, strings, booleans, arrays such as hidden sizes). Throws on an empty list. */
export function choice(values: readonly SettingValue[]): Choice {
  if (!Array.isArray(values) || values.length === 0) throw new RangeError('choice: expected a non-empty array of values');
  return { kind: 'choice', values: [...values] };
}

/** Whether a space's entry is a dimension to sample (an object with `kind`) rather than a fixed value. */
export function isDimension(v: unknown): v is Dimension {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'kind' in v;
}

const BOUNDED = new Set(['kind', 'low', 'high']);
const CHOICE = new Set(['kind', 'values']);

/** Checks every entry of a space (a dimension with valid bounds, or a JSON value); throws naming the setting. */
export function checkSpace(space: SearchSpace): void {
  if (typeof space !== 'object' || space === null || Array.isArray(space)) throw new TypeError('space: expected an object of setting name → dimension or value');
  for (const [name, d] of Object.entries(space)) {
    try {
      if (!isDimension(d)) { checkJson(d); continue; }
      switch (d.kind) {
        case 'logUniform': checkOptions('logUniform', d, BOUNDED); logUniform(d.low, d.high); break;
        case 'uniform': checkOptions('uniform', d, BOUNDED); uniform(d.low, d.high); break;
        case 'int': checkOptions('int', d, BOUNDED); int(d.low, d.high); break;
        case 'choice': checkOptions('choice', d, CHOICE); choice(d.values); d.values.forEach(checkJson); break;
        default: throw new TypeError(`unknown dimension kind '${String((d as { kind: unknown }).kind)}' (expected logUniform, uniform, int or choice)`);
      }
    } catch (e) {
      throw new (e instanceof TypeError ? TypeError : RangeError)(`space.${name}: ${(e as Error).message}`);
    }
  }
}

function checkJson(v: unknown): void {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new RangeError(`a number must be finite (settings are JSON, which has no NaN or Infinity), got ${v}`);
    return;
  }
  if (Array.isArray(v)) { v.forEach(checkJson); return; }
  throw new TypeError(`expected a dimension or a JSON value, got ${typeof v}`);
}

/** Mixes 32-bit words into one (murmur3's finaliser after each): the seeds of a trial's streams. */
export function mixSeed(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const w of words) {
    h = Math.imul(h ^ (w >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/**
 * Refuses, naming `who`, a study seed that is not an integer in [0, 2^32) or a trial index that is not a
 * non-negative integer below 2^32: mixSeed takes 32-bit words, so 1.5 drew trial 1's settings and 2^32 trial 0's.
 */
function checkSeedIndex(who: string, seed: number, index: number): void {
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw badNumber(seed, `${who}: seed must be an integer in [0, 2^32), got ${shown(seed)}`);
  if (!(Number.isInteger(index) && index >= 0 && index <= 0xffffffff)) throw badNumber(index, `${who}: index must be an integer in [0, 2^32), got ${shown(index)}`);
}

/** The seed of trial `index`'s runtime stream (initialisation, shuffling, dropout); a RangeError/TypeError for a seed or index that is not a 32-bit word. */
export function trialSeed(seed: number, index: number): number {
  checkSeedIndex('trialSeed', seed, index);
  return mixSeed(seed, index, 1);
}

/**
 * Trial `index`'s settings: one draw per dimension, in the space's key order,
 * from a generator seeded by (seed, index) only. Fixed values are copied.
 */
export function sampleSettings(space: SearchSpace, seed: number, index: number): Settings {
  checkSeedIndex('sampleSettings', seed, index);
  const next = seededRandom(mixSeed(seed, index, 0));
  const out: Settings = {};
  for (const [name, d] of Object.entries(space)) {
    if (!isDimension(d)) { out[name] = d; continue; }
    const u = next();
    switch (d.kind) {
      case 'logUniform': out[name] = logUniformDraw(d.low, d.high, u); break;
      case 'uniform': out[name] = uniformDraw(d.low, d.high, u); break;
      case 'int': out[name] = intDraw(d.low, d.high, u, next); break;
      case 'choice': out[name] = d.values[Math.floor(u * d.values.length)]; break;
    }
  }
  return out;
}

/**
 * 10^U(log10 low, log10 high), clamped: 10^log10(x) can land an ulp outside [low, high] (logUniform(v, v)
 * gives v). log10 and 10^x are exactLog10 and exactPow10, the same bits on every engine.
 */
function logUniformDraw(low: number, high: number, u: number): number {
  if (low === high) return low;
  const lo = exactLog10(low), hi = exactLog10(high);
  return Math.min(high, Math.max(low, exactPow10(lo + (hi - lo) * u)));
}

/** low + (high − low)·u, kept below high (it rounds up to high when high − low is small beside them); low when low = high. */
function uniformDraw(low: number, high: number, u: number): number {
  const span = high - low;
  // a span beyond the largest double (uniform(-1e308, 1e308)) would give ±Infinity or NaN
  const v = Number.isFinite(span) ? low + span * u : low * (1 - u) + high * u;
  return v < high ? v : Math.max(low, nextDown(high));
}

/**
 * low + ⌊u·n⌋ over the n = high − low + 1 integers. u has 32 bits, so a range
 * wider than 2^32 takes a second draw for 53 bits (narrower ranges draw as
 * they always have: a study's settings do not change); beyond 2^53 integers
 * not all of them can be drawn.
 */
function intDraw(low: number, high: number, u: number, next: () => number): number {
  const n = high - low + 1;
  if (n <= 2 ** 32) return low + Math.floor(u * n);
  const u53 = (u * 2 ** 32 * 2 ** 21 + Math.floor(next() * 2 ** 21)) / 2 ** 53;
  return Math.min(high, low + Math.floor(u53 * n));
}

const bits = new Float64Array(1);
const bitsInt = new BigInt64Array(bits.buffer);

/** The largest double below x (x finite, not the most negative). */
function nextDown(x: number): number {
  if (x === 0) return -Number.MIN_VALUE;
  bits[0] = x;
  bitsInt[0] += x > 0 ? -1n : 1n;
  return bits[0];
}
