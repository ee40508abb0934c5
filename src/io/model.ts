// Model files: a named net (and optionally its optimizer's state) as
// safetensors. Tensors are named as the book's params (W1, b1, gamma1, …),
// then the layer state (runningMean1, runningVar1, …), then the optimizer's
// state as `optimizer.<slot>.<param>` (optimizer.m.W1, …), and in a Trainer's
// checkpoint the best epoch's parameters and layer state as `best.<name>`, the moving
// average of the parameters (TrainerOptions.ema) as `ema.<name>` or stochastic weight
// averaging's (TrainerOptions.swa) as `swa.<name>` (never both), the summed
// gradients of a group of batches in progress (TrainerOptions.accumulateSteps)
// as `accum.<name>`, and the loss of every step so far as the F64 tensor
// `trainer.trainLoss`. `__metadata__`
// holds the architecture (`simdnn.net`: the net's spec as JSON), the
// optimizer's kind, hyper-parameters and step count (`simdnn.optimizer`), and
// the caller's own string values. Writing and reading stream in bounded
// pieces, so a model of any size the runtime can hold can be saved and loaded
// without one giant string or buffer; every check a file can fail is made
// from its header, before the net is built.
import { checkOptions } from '../runtime/options.js';
import { buildNet, checkNetSpec, netTensorGroups, type NamedNet, type NetSpec } from '../nets/registry.js';
import type { Sequential } from '../nets/sequential.js';
import type { ElementwiseOptimizer, Optimizer, OptimizerState } from '../optim/optimizer.js';
import { createOptimizer, optimizerNames, type OptimizerName } from '../optim/registry.js';
import { OutOfMemoryError } from '../runtime/errors.js';
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { checkedValues, describeValue, shown, type Tensor } from '../runtime/tensor.js';
import { ChunkReader, readSync, type Reading } from './chunk-reader.js';
import { decodeFloats, encodeHeader, float32Bytes, littleEndianBytes, parseHeader, readHeaderLength, SafetensorsError, SAFETENSORS_DTYPES, type SafetensorsHeader, type TensorEntry } from './safetensors.js';

/** Metadata keys simdnn writes itself; the caller's keys may not start with this prefix. */
export const RESERVED_PREFIX = 'simdnn.';
const NET_KEY = 'simdnn.net';
const OPTIMIZER_KEY = 'simdnn.optimizer';
const FORMAT_KEY = 'simdnn.format';
const FORMAT_VERSION = '1';
const OPTIMIZER_PREFIX = 'optimizer.';
const BEST_PREFIX = 'best.';
const EMA_PREFIX = 'ema.';
const SWA_PREFIX = 'swa.';
const ACCUM_PREFIX = 'accum.';
const TRAIN_LOSS_TENSOR = 'trainer.trainLoss';
const SAVE_KEYS = new Set(['optimizer', 'metadata', 'chunkBytes', 'best', 'ema', 'swa', 'accum', 'trainLoss']);
const LOAD_KEYS = new Set(['byteLength', 'spec']);
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);
/** Default size of the pieces saveModelChunks yields: 4 MiB. */
const DEFAULT_CHUNK_BYTES = 1 << 22;

/** Options of saveModel and saveModelChunks. */
export interface SaveModelOptions {
  /** An optimizer from createOptimizer (or one of the optimizer classes) whose state is saved too, to resume training. */
  optimizer?: Optimizer;
  /** The caller's string values for `__metadata__` (keys must not start with 'simdnn.'). */
  metadata?: Readonly<Record<string, string>>;
  /** Largest piece saveModelChunks yields, in bytes (default 4 MiB; rounded down to whole floats). */
  chunkBytes?: number;
  /**
   * Values for every parameter and layer state of the net, keyed and shaped like them (what exportParams gives),
   * saved as `best.<name>` tensors: a Trainer's checkpoint keeps the best epoch's for early stopping this way.
   */
  best?: Readonly<Record<string, SavedTensor>>;
  /**
   * Values for every parameter of the net (not its layer state), keyed and shaped like net.params, saved as
   * `ema.<name>` tensors: a Trainer's checkpoint keeps TrainerOptions.ema's averages this way. Not with swa.
   */
  ema?: Readonly<Record<string, SavedTensor>>;
  /**
   * Values for every parameter of the net (not its layer state), keyed and shaped like net.params, saved as
   * `swa.<name>` tensors: a Trainer's checkpoint keeps TrainerOptions.swa's average this way. Not with ema (a
   * file holds one average of the parameters).
   */
  swa?: Readonly<Record<string, SavedTensor>>;
  /**
   * Values for every parameter of the net (not its layer state), keyed and shaped like net.params, saved as
   * `accum.<name>` tensors: a Trainer's checkpoint taken within a group of batches keeps the group's summed gradients
   * (TrainerOptions.accumulateSteps) this way.
   */
  accum?: Readonly<Record<string, SavedTensor>>;
  /**
   * @internal A Trainer checkpoint's loss of every step so far, saved as the F64 tensor `trainer.trainLoss`:
   * as JSON in the header it grew ~20 bytes a step and a long run's checkpoint passed the header's limit.
   */
  trainLoss?: ArrayLike<number>;
}

/** A tensor's values outside the runtime, as exportParams gives them. */
export interface SavedTensor {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/** Whether a model file's tensor is one of the net's (not optimizer state, nor a checkpoint's best epoch, averages, summed gradients or losses). */
export function isNetTensor(name: string): boolean {
  return !name.startsWith(OPTIMIZER_PREFIX) && !Object.values(FIELD_PREFIX).some((prefix) => name.startsWith(prefix)) && name !== TRAIN_LOSS_TENSOR;
}

/** What loadModel returns; the caller owns `net` and `optimizer` and disposes them. */
export interface LoadedModel {
  net: NamedNet;
  /** The saved optimizer with its state restored (its next update continues the run); absent when none was saved. */
  optimizer?: ElementwiseOptimizer;
  /** The caller's metadata as saved (without the 'simdnn.' keys). */
  metadata: Record<string, string>;
  /** The `best.<name>` tensors of a checkpoint (see SaveModelOptions.best), keyed by name; absent when the file has none. */
  best?: Record<string, { shape: number[]; data: Float32Array }>;
  /** The `ema.<name>` tensors of a checkpoint (see SaveModelOptions.ema), keyed by name; absent when the file has none. */
  ema?: Record<string, { shape: number[]; data: Float32Array }>;
  /** The `swa.<name>` tensors of a checkpoint (see SaveModelOptions.swa), keyed by name; absent when the file has none. */
  swa?: Record<string, { shape: number[]; data: Float32Array }>;
  /** The `accum.<name>` tensors of a checkpoint (see SaveModelOptions.accum), keyed by name; absent when the file has none. */
  accum?: Record<string, { shape: number[]; data: Float32Array }>;
  /** @internal A checkpoint's `trainer.trainLoss` (see SaveModelOptions.trainLoss); absent when the file has none. */
  trainLoss?: Float64Array;
}

/** Options of loadModel. */
export interface LoadModelOptions {
  /** The file's length in bytes, when `source` is chunks: lets every size be checked before anything is built. */
  byteLength?: number;
  /** The architecture, for files without `simdnn.net` in their metadata (written by other tools). */
  spec?: NetSpec;
}

/** A model file's header, read without a runtime: what `simdnn info` shows. */
export interface ModelInfo {
  /** The architecture; null when the file has none (not written by simdnn). */
  spec: NetSpec | null;
  /** Every tensor: name, dtype, shape. */
  tensors: Array<{ name: string; dtype: string; shape: number[] }>;
  /** Elements of the net's tensors (parameters and layer state; not the optimizer's, nor a checkpoint's best epoch, averages or sums). */
  parameterCount: number;
  /** The saved optimizer: its name, hyper-parameters and step count; null when none. */
  optimizer: SavedOptimizer | null;
  /**
   * The average of the parameters a checkpoint holds, by its tensors: 'ema' (`ema.<name>`, TrainerOptions.ema's), 'swa'
   * (`swa.<name>`, TrainerOptions.swa's), null when none. A checkpoint written before swa had tensors of its own keeps
   * swa's average as `ema.<name>` beside a position whose swa record counts averaged epochs (`simdnn info` and
   * Trainer.resume read it so; this field says 'ema').
   */
  average: 'ema' | 'swa' | null;
  /** All of `__metadata__`, the 'simdnn.' keys included. */
  metadata: Record<string, string>;
  /** Bytes of the file the header describes. */
  fileBytes: number;
}

/** The optimizer as `simdnn.optimizer` stores it. */
export interface SavedOptimizer {
  /** createOptimizer's name ('adam', …). */
  name: OptimizerName;
  /** Its hyper-parameters, as createOptimizer takes them. */
  options: Record<string, number>;
  /** Updates done (Adam's bias correction depends on it). */
  t: number;
}

// ---- writing

function netOf(who: string, net: Sequential): NamedNet {
  const spec = (net as Partial<NamedNet> | null)?.spec;
  if (!spec) throw new TypeError(`${who}: net must be a named net (MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, DeepConvNet or buildNet's), which carries net.spec`);
  if (net.disposed) throw new TypeError(`${who}: net used after dispose()`);
  return net as NamedNet;
}

/** The prefix of each field's tensors in a file (SaveModelOptions.best, ema, swa, accum). */
const FIELD_PREFIX = { best: BEST_PREFIX, ema: EMA_PREFIX, swa: SWA_PREFIX, accum: ACCUM_PREFIX } as const;

/**
 * A copy of `tensors` to save as `<field>.<name>` tensors (SaveModelOptions.best, ema, swa, accum): every key of `tensors` and
 * no other, each of its shape; the values checked as numbers and copied at the call.
 */
function savedCopy(
  who: string, named: NamedNet, field: keyof typeof FIELD_PREFIX, copy: Readonly<Record<string, SavedTensor>> | null, tensors: Array<[string, Tensor]>, keyedLike: string,
): Array<{ name: string; shape: readonly number[]; values: ArrayLike<number> }> {
  if (copy === null || typeof copy !== 'object') throw new TypeError(`${who}: ${field} must be an object of { shape, data } keyed like ${keyedLike}, got ${describeValue(copy)}`);
  for (const key of Object.keys(copy)) {
    if (!tensors.some(([name]) => name === key)) throw new TypeError(`${who}: ${field}['${key}'] is no ${field === 'best' ? 'parameter or state' : 'parameter'} of the net`);
  }
  const out: Array<{ name: string; shape: readonly number[]; values: ArrayLike<number> }> = [];
  for (const [name, t] of tensors) {
    const b = Object.hasOwn(copy, name) ? copy[name] : undefined;
    if (b === undefined || b === null || typeof b !== 'object') throw new TypeError(`${who}: ${field}['${name}'] is missing (${field} holds every ${field === 'best' ? 'parameter and state' : 'parameter'} of the net)`);
    const { shape, data } = b; // read once: what is checked is what is written
    if (!Array.isArray(shape) || !sameShape(shape, t.shape) || data === null || typeof data !== 'object' || data.length !== t.size) {
      throw new RangeError(`${who}: ${field}['${name}'] must have the shape [${t.shape.join(', ')}] and ${t.size} values`);
    }
    // a tensor's data would be emptied if the memory grew while the pieces are consumed (writeModelFile awaits);
    // the values checked as numbers (a string or an object was written as NaN)
    out.push({ name: `${FIELD_PREFIX[field]}${name}`, shape, values: named.rt.detachSafe(checkedValues(`${who}: ${field}['${name}']`, shape, t.size, data, false)) });
  }
  return out;
}

function savedOptimizer(who: string, optimizer: Optimizer): { saved: SavedOptimizer; state: OptimizerState } {
  const o = optimizer as ElementwiseOptimizer;
  const name = (typeof o?.name === 'string' ? o.name.toLowerCase() : '') as OptimizerName; // checked next
  const options = (o?.constructor as { options?: Record<string, unknown> } | undefined)?.options;
  if (!optimizerNames.includes(name) || typeof o.state !== 'function' || !options) {
    throw new TypeError(`${who}: optimizer must be one of simdnn's (${optimizerNames.join(', ')}), got ${String(o?.name)}`);
  }
  const values: Record<string, number> = {};
  for (const key of Object.keys(options)) values[key] = (o as unknown as Record<string, number>)[key];
  const state = o.state();
  return { saved: { name, options: values, t: state.t }, state };
}

/** Most elements a JavaScript array holds (2^32 − 1): trainLoss can be no longer. */
const MAX_ARRAY_LENGTH = 2 ** 32 - 1;

/**
 * @internal The caller's metadata for a file (saveModel's, exportOnnx's): an object of strings whose keys do not start
 * with 'simdnn.' (simdnn's own), copied. `holds` says why values are strings, in the error naming `who`.
 */
export function checkMetadata(who: string, metadata: unknown, holds: string): Record<string, string> {
  if (metadata === null || typeof metadata !== 'object') throw new TypeError(`${who}: metadata must be an object of strings, got ${describeValue(metadata)}`);
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (k.startsWith(RESERVED_PREFIX)) throw new TypeError(`${who}: metadata key '${k}' is reserved (keys starting with '${RESERVED_PREFIX}' are simdnn's)`);
    if (typeof v !== 'string') throw new TypeError(`${who}: metadata['${k}'] must be a string (${holds}), got ${typeof v}`);
    meta[k] = v;
  }
  return meta;
}

/**
 * The model as safetensors bytes, in pieces of at most `chunkBytes` (the
 * header first). Takes a named net (MultiLayerNet, MultiLayerNetExtend,
 * SimpleConvNet, DeepConvNet or buildNet's: a NamedNet, whose spec the file
 * records; a plain Sequential has none) and optionally its optimizer; reads the
 * net's memory lazily as the pieces are consumed, so do not train between
 * pieces. Each piece is a new array (on an ArrayBuffer of its own) the caller owns. Throws a TypeError for a
 * net without `spec`, a foreign optimizer or bad metadata, before yielding.
 */
export function saveModelChunks(net: NamedNet, options: SaveModelOptions = {}): Iterable<Uint8Array<ArrayBuffer>> {
  const who = 'saveModel';
  const named = netOf(who, net);
  checkOptions(who, options, SAVE_KEYS);
  const { optimizer, metadata = {}, chunkBytes = DEFAULT_CHUNK_BYTES } = options;
  if (!(Number.isSafeInteger(chunkBytes) && chunkBytes >= 4)) throw new RangeError(`${who}: chunkBytes must be an integer >= 4, got ${shown(chunkBytes)}`);
  const meta = checkMetadata(who, metadata, 'safetensors metadata holds strings only');
  meta[FORMAT_KEY] = FORMAT_VERSION;
  meta[NET_KEY] = JSON.stringify(named.spec);
  if (options.ema !== undefined && options.swa !== undefined) throw new TypeError(`${who}: give ema or swa, not both (a file holds one average of the parameters)`);
  const own = Object.entries({ ...named.params, ...named.state });
  const extra: Array<{ name: string; shape: readonly number[]; values: ArrayLike<number> }> = [];
  if (options.best !== undefined) extra.push(...savedCopy(who, named, 'best', options.best, own, "the net's parameters and state"));
  if (options.ema !== undefined) extra.push(...savedCopy(who, named, 'ema', options.ema, Object.entries(named.params), "the net's parameters"));
  if (options.swa !== undefined) extra.push(...savedCopy(who, named, 'swa', options.swa, Object.entries(named.params), "the net's parameters"));
  if (options.accum !== undefined) extra.push(...savedCopy(who, named, 'accum', options.accum, Object.entries(named.params), "the net's parameters"));
  if (optimizer !== undefined) {
    const { saved, state } = savedOptimizer(who, optimizer);
    // loadModel refuses state for another parameter or shape: such a file would be read by nothing
    for (const [key, entry] of Object.entries(state.params)) {
      const p = named.params[key];
      if (!p) throw new TypeError(`${who}: the optimizer holds state for '${key}', which is no parameter of the net (an optimizer of another net?)`);
      if (!sameShape(entry.shape, p.shape)) {
        throw new RangeError(`${who}: the optimizer's state for '${key}' is [${entry.shape.join(', ')}], the net's '${key}' is [${p.shape.join(', ')}] (an optimizer of another net?)`);
      }
    }
    meta[OPTIMIZER_KEY] = JSON.stringify(saved);
    for (const [key, entry] of Object.entries(state.params)) {
      for (const [slot, values] of Object.entries(entry)) {
        if (slot !== 'shape') extra.push({ name: `${OPTIMIZER_PREFIX}${slot}.${key}`, shape: entry.shape, values: values as number[] });
      }
    }
  }
  // copied at the call, as the best epoch's are: the Trainer goes on appending
  const givenLoss: unknown = options.trainLoss;
  const lossLength = givenLoss !== null && typeof givenLoss === 'object' ? (givenLoss as ArrayLike<unknown>).length : undefined;
  if (givenLoss !== undefined && !(Number.isInteger(lossLength) && lossLength! >= 0 && lossLength! <= MAX_ARRAY_LENGTH)) throw new TypeError(`${who}: trainLoss must be an array of numbers, got ${describeValue(givenLoss)}`);
  // its values checked as numbers (a string was written as NaN, an object without elements as that many NaNs)
  const trainLoss = givenLoss === undefined ? undefined : Float64Array.from(checkedValues(`${who}: trainLoss`, [lossLength!], lossLength!, givenLoss, false));
  const lossTensor = trainLoss ? [{ name: TRAIN_LOSS_TENSOR, shape: [trainLoss.length], dtype: 'F64' as const }] : [];
  const header = encodeHeader([...own.map(([name, t]) => ({ name, shape: t.shape })), ...extra, ...lossTensor], meta);
  const floatsPerPiece = Math.floor(chunkBytes / 4);
  function* pieces(): Generator<Uint8Array<ArrayBuffer>> {
    yield header;
    for (const [, t] of own) {
      for (let at = 0; at < t.size; at += floatsPerPiece) {
        if (named.disposed) throw new Error(`${who}: the net was disposed while its pieces were read`);
        // a copy: the memory may grow (detaching views) while the caller holds the piece
        yield float32Bytes(t.data.slice(at, Math.min(t.size, at + floatsPerPiece)));
      }
    }
    for (const { values } of extra) {
      for (let at = 0; at < values.length; at += floatsPerPiece) {
        const end = Math.min(values.length, at + floatsPerPiece);
        yield float32Bytes(values instanceof Float32Array ? values.slice(at, end) : Float32Array.from(Array.prototype.slice.call(values, at, end) as number[]));
      }
    }
    const doublesPerPiece = Math.max(1, Math.floor(chunkBytes / 8));
    for (let at = 0; trainLoss && at < trainLoss.length; at += doublesPerPiece) {
      yield littleEndianBytes(trainLoss.slice(at, Math.min(trainLoss.length, at + doublesPerPiece)));
    }
  }
  return pieces();
}

/**
 * The model as one safetensors byte array the caller owns, on an ArrayBuffer of its own (a BlobPart
 * and a fetch body as it is). Takes a named net (a NamedNet; see saveModelChunks for what is written;
 * use that form for very large models). Throws as saveModelChunks does.
 */
export function saveModel(net: NamedNet, options: SaveModelOptions = {}): Uint8Array<ArrayBuffer> {
  const parts = [...saveModelChunks(net, options)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

// ---- reading

/** The chunks of `source` and the file's length where known; a TypeError / RangeError naming `who` for a bad source or byteLength. */
export function chunksOf(who: string, source: Uint8Array | Iterable<Uint8Array>, byteLength: number | undefined): { chunks: Iterator<unknown>; fileBytes: number | undefined } {
  if (Object.prototype.toString.call(source) === '[object Uint8Array]') return { chunks: [source][Symbol.iterator](), fileBytes: (source as Uint8Array).length };
  if (source === null || typeof source !== 'object' || typeof (source as Iterable<Uint8Array>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`${who}: source must be a Uint8Array or an iterable of Uint8Array chunks, got ${Object.prototype.toString.call(source)}`);
  }
  return { chunks: source[Symbol.iterator](), fileBytes: checkByteLength(who, byteLength) };
}

/** `byteLength` as given: undefined or a file's length (a RangeError naming `who` otherwise). */
export function checkByteLength(who: string, byteLength: number | undefined): number | undefined {
  if (byteLength !== undefined && !(Number.isSafeInteger(byteLength) && byteLength >= 0)) throw new RangeError(`${who}: byteLength must be a non-negative integer, got ${byteLength}`);
  return byteLength;
}

function* readHeader(reader: ChunkReader, fileBytes: number | undefined): Reading<SafetensorsHeader> {
  if (fileBytes !== undefined && fileBytes < 8) readHeaderLength(new Uint8Array(fileBytes));
  const n = readHeaderLength(yield* reader.read(8, 'the header length'), fileBytes);
  return parseHeader(yield* reader.read(n, 'the header'), fileBytes);
}

function parseJsonMeta<T>(who: string, metadata: Record<string, string>, key: string): T | undefined {
  if (metadata[key] === undefined) return undefined;
  try {
    return JSON.parse(metadata[key]) as T;
  } catch (e) {
    throw new SafetensorsError(`${who}: __metadata__['${key}'] is not valid JSON (${(e as Error).message})`);
  }
}

function checkSavedOptimizer(who: string, value: unknown): SavedOptimizer {
  const o = value as Partial<SavedOptimizer> | null;
  if (o === null || typeof o !== 'object' || typeof o.name !== 'string' || !(optimizerNames as string[]).includes(o.name) ||
    o.options === null || typeof o.options !== 'object' || !(Number.isSafeInteger(o.t) && o.t! >= 0)) {
    throw new SafetensorsError(`${who}: __metadata__['${OPTIMIZER_KEY}'] must be { name: one of ${optimizerNames.join(', ')}, options, t }, got ${JSON.stringify(value)}`);
  }
  return o as SavedOptimizer;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Matches the file's tensors against the architecture (its parameters and
 * layer state) and the saved optimizer's state slots; every mismatch is an
 * error. Names are looked up as own keys only: a tensor named `constructor` is
 * no parameter.
 */
function planTensors(who: string, header: SafetensorsHeader, params: Record<string, number[]>, state: Record<string, number[]>, slots: readonly string[] | null): Map<string, TensorPlan> {
  const plan = new Map<string, TensorPlan>();
  const shapeOf = (table: Record<string, number[]>, name: string) => (Object.hasOwn(table, name) ? table[name] : undefined);
  for (const entry of header.tensors) {
    if (!FLOAT_DTYPES.has(entry.dtype)) throw new SafetensorsError(`${who}: tensor '${entry.name}' has dtype ${entry.dtype}; simdnn reads F32, F16, BF16 and F64`);
    if (entry.name === TRAIN_LOSS_TENSOR) {
      // the losses are doubles (a mean over the batch, plus weight decay): kept exact
      if (entry.dtype !== 'F64' || entry.shape.length !== 1) throw new SafetensorsError(`${who}: tensor '${entry.name}' (a checkpoint's losses) must be F64 of rank 1, got ${entry.dtype} [${entry.shape.join(', ')}]`);
      plan.set(entry.name, { entry, trainLoss: true });
      continue;
    }
    if (entry.name.startsWith(OPTIMIZER_PREFIX)) {
      const rest = entry.name.slice(OPTIMIZER_PREFIX.length);
      const dot = rest.indexOf('.');
      const slot = rest.slice(0, dot), key = rest.slice(dot + 1);
      const shape = shapeOf(params, key);
      if (dot <= 0 || !shape) throw new SafetensorsError(`${who}: optimizer tensor '${entry.name}' names no parameter of the net`);
      if (slots && !slots.includes(slot)) throw new SafetensorsError(`${who}: optimizer tensor '${entry.name}' is no state of the saved optimizer (${slots.length > 0 ? `it keeps ${slots.join(', ')}` : 'it keeps none'})`);
      if (!sameShape(entry.shape, shape)) throw new SafetensorsError(`${who}: tensor '${entry.name}' has shape [${entry.shape.join(', ')}], the parameter '${key}' has [${shape.join(', ')}]`);
      plan.set(entry.name, { entry, slot, key });
      continue;
    }
    if (entry.name.startsWith(BEST_PREFIX)) {
      const key = entry.name.slice(BEST_PREFIX.length);
      const shape = shapeOf(params, key) ?? shapeOf(state, key);
      if (!shape) throw new SafetensorsError(`${who}: tensor '${entry.name}' (a checkpoint's best epoch) names no parameter or state of the net`);
      if (!sameShape(entry.shape, shape)) throw new SafetensorsError(`${who}: tensor '${entry.name}' has shape [${entry.shape.join(', ')}], '${key}' has [${shape.join(', ')}]`);
      plan.set(entry.name, { entry, best: key });
      continue;
    }
    const field = PARAMETER_FIELDS.find((f) => entry.name.startsWith(FIELD_PREFIX[f]));
    if (field !== undefined) {
      const key = entry.name.slice(FIELD_PREFIX[field].length);
      const shape = shapeOf(params, key);
      if (!shape) throw new SafetensorsError(`${who}: tensor '${entry.name}' (${PARAMETER_FIELD_NAMES[field]}) names no parameter of the net`);
      if (!sameShape(entry.shape, shape)) throw new SafetensorsError(`${who}: tensor '${entry.name}' has shape [${entry.shape.join(', ')}], '${key}' has [${shape.join(', ')}]`);
      plan.set(entry.name, { entry, [field]: key });
      continue;
    }
    const shape = shapeOf(params, entry.name) ?? shapeOf(state, entry.name);
    if (!shape) throw new SafetensorsError(`${who}: tensor '${entry.name}' is not part of the architecture (expected ${[...Object.keys(params), ...Object.keys(state)].join(', ')})`);
    if (!sameShape(entry.shape, shape)) throw new SafetensorsError(`${who}: tensor '${entry.name}' has shape [${entry.shape.join(', ')}], the architecture needs [${shape.join(', ')}]`);
    plan.set(entry.name, { entry });
  }
  const names = [...Object.keys(params), ...Object.keys(state)];
  const missing = names.filter((k) => !plan.has(k));
  if (missing.length > 0) throw new SafetensorsError(`${who}: the file has no tensor ${missing.map((k) => `'${k}'`).join(', ')} for the architecture`);
  // a best epoch is whole or absent: a part of one would restore a net that never existed
  const bestMissing = names.filter((k) => !plan.has(`${BEST_PREFIX}${k}`));
  if ([...plan.values()].some((p) => p.best) && bestMissing.length > 0) {
    throw new SafetensorsError(`${who}: the file has no tensor ${bestMissing.map((k) => `'${BEST_PREFIX}${k}'`).join(', ')} beside its other '${BEST_PREFIX}' tensors (a checkpoint's best epoch)`);
  }
  // the averages and the summed gradients likewise, of every parameter; one average in a file (a Trainer keeps ema's
  // or swa's, never both)
  const held = PARAMETER_FIELDS.filter((field) => [...plan.values()].some((p) => p[field]));
  if (held.includes('ema') && held.includes('swa')) throw new SafetensorsError(`${who}: the file has both '${EMA_PREFIX}' and '${SWA_PREFIX}' tensors; a checkpoint holds one average of the parameters (TrainerOptions.ema's or swa's)`);
  for (const field of held) {
    const missing = Object.keys(params).filter((k) => !plan.has(`${FIELD_PREFIX[field]}${k}`));
    if (missing.length > 0) {
      throw new SafetensorsError(`${who}: the file has no tensor ${missing.map((k) => `'${FIELD_PREFIX[field]}${k}'`).join(', ')} beside its other '${FIELD_PREFIX[field]}' tensors (${PARAMETER_FIELD_NAMES[field]})`);
    }
  }
  return plan;
}

/** The fields a file holds a tensor of every parameter for, as `<field>.<name>` (SaveModelOptions.ema, swa, accum). */
const PARAMETER_FIELDS = ['ema', 'swa', 'accum'] as const;

/** What each of PARAMETER_FIELDS' tensors holds, in a message. */
const PARAMETER_FIELD_NAMES = {
  ema: "a checkpoint's moving average", swa: "a checkpoint's stochastic weight average", accum: "a checkpoint's gradients summed over a group of batches",
} as const;

/** The fields whose tensors loadModel returns as copies (LoadedModel.best, ema, swa, accum): a checkpoint's, not the net's. */
type CopyField = keyof typeof FIELD_PREFIX;
const COPY_FIELDS = Object.keys(FIELD_PREFIX) as CopyField[];

/**
 * Where a file's tensor goes: the net (no field), an optimizer slot of a parameter, a checkpoint's best epoch,
 * averages, summed gradients or losses.
 */
type TensorPlan = { entry: TensorEntry; slot?: string; key?: string; trainLoss?: true } & { [F in CopyField]?: string };

/**
 * The saved optimizer's state of each parameter it has, whole: every slot (a
 * parameter may have none, left out of its updates, e.g. a frozen layer).
 */
function checkStateComplete(who: string, plan: Map<string, TensorPlan>, slots: readonly string[]): void {
  for (const key of new Set([...plan.values()].flatMap((p) => (p.slot ? [p.key!] : [])))) {
    for (const slot of slots) {
      if (!plan.has(`${OPTIMIZER_PREFIX}${slot}.${key}`)) throw new SafetensorsError(`${who}: the file has no tensor '${OPTIMIZER_PREFIX}${slot}.${key}' beside the saved optimizer's other state for '${key}'`);
    }
  }
}

/**
 * Rebuilds a saved model on `rt`: the named net with its parameters and layer
 * state, and the optimizer with its state when one was saved. Takes the file
 * as bytes or as chunks in order (give `byteLength` with chunks so sizes are
 * checked up front); F32, F16, BF16 and F64 tensors are converted to float32.
 * Does not advance `rt`'s random stream. Returns a net and optimizer the caller
 * owns. Throws a SafetensorsError for a malformed file (header length, JSON,
 * dtype, offsets, sizes, missing or unexpected tensors, absurd shapes,
 * optimizer state the net or the saved optimizer has no place for) before
 * anything is allocated; a file that ends early, or holds values the net
 * cannot use (a negative running variance, an F64 beyond float32, optimizer
 * state its optimizer refuses), is found while reading and frees what was built.
 * For a file that arrives over time (a fetch `Response`, a stream, a `Blob`),
 * see loadModelAsync.
 */
export function loadModel(rt: Runtime, source: Uint8Array | Iterable<Uint8Array>, options: LoadModelOptions = {}): LoadedModel {
  checkRuntime(rt, 'loadModel'); // first: a bad runtime is not the file's fault
  checkOptions('loadModel', options, LOAD_KEYS);
  const { chunks, fileBytes } = chunksOf('loadModel', source, options.byteLength);
  return readSync(loading(rt, 'loadModel', fileBytes, options.spec), chunks);
}

/**
 * loadModel's work as reading code (chunk-reader.ts) for the entry `who`: the
 * header, the net and optimizer built for it, then the tensors read into them.
 */
export function* loading(rt: Runtime, who: string, fileBytes: number | undefined, givenSpec: NetSpec | undefined): Reading<LoadedModel> {
  const reader = new ChunkReader(who);
  const header = yield* readHeader(reader, fileBytes);
  const rawSpec = givenSpec ?? parseJsonMeta<unknown>(who, header.metadata, NET_KEY);
  if (rawSpec === undefined) throw new SafetensorsError(`${who}: the file's __metadata__ has no '${NET_KEY}' (the architecture); pass options.spec`);
  const { spec, params, plan, optimizer, optimizerMeta } = checkAgainstSpec(who, header, rawSpec);
  let net: NamedNet;
  try {
    try {
      // building draws the initial weights from the stream; the file replaces them, so the stream is put back
      net = rt.drawsUndone(() => buildNet(rt, spec));
    } catch (e) {
      if (e instanceof OutOfMemoryError) throw e; // not the file's fault
      throw new SafetensorsError(`${who}: the architecture in the file is not usable (${(e as Error).message})`);
    }
    return yield* fill(who, reader, header, plan, net, optimizer, optimizerMeta, params);
  } catch (e) {
    optimizer?.dispose();
    throw e;
  }
}

/** What a header holds for the architecture `rawSpec`, every tensor matched to its place: a file that passes loads unless its bytes fail. */
interface CheckedHeader {
  spec: NetSpec;
  params: Record<string, number[]>;
  plan: Map<string, TensorPlan>;
  /** The saved optimizer, rebuilt (the caller owns it); undefined when none was saved. */
  optimizer?: ElementwiseOptimizer;
  optimizerMeta?: SavedOptimizer;
}

/**
 * Every check of a header against an architecture that needs no tensor's
 * bytes: the spec, the saved optimizer, each tensor's place and shape, the
 * optimizer's state complete. loadModel makes them before it builds anything;
 * inspectModel makes them too, so `simdnn info` accepts only files that load.
 */
function checkAgainstSpec(who: string, header: SafetensorsHeader, rawSpec: unknown): CheckedHeader {
  let spec: NetSpec, groups: ReturnType<typeof netTensorGroups>;
  try {
    spec = checkNetSpec(rawSpec, 'architecture');
    groups = netTensorGroups(spec);
  } catch (e) {
    throw new SafetensorsError(`${who}: the architecture in the file is not usable (${(e as Error).message})`);
  }
  const savedOpt = parseJsonMeta<unknown>(who, header.metadata, OPTIMIZER_KEY);
  const optimizerMeta = savedOpt === undefined ? undefined : checkSavedOptimizer(who, savedOpt);
  let optimizer: ElementwiseOptimizer | undefined;
  if (optimizerMeta) {
    try {
      optimizer = createOptimizer(optimizerMeta.name, optimizerMeta.options);
    } catch (e) {
      throw new SafetensorsError(`${who}: the saved optimizer cannot be rebuilt (${(e as Error).message})`);
    }
  }
  try {
    const plan = planTensors(who, header, groups.params, groups.state, optimizer?.stateSlots ?? null);
    if ([...plan.values()].some((p) => p.slot) && !optimizerMeta) throw new SafetensorsError(`${who}: the file has optimizer tensors but no '${OPTIMIZER_KEY}' metadata`);
    if (optimizer) checkStateComplete(who, plan, optimizer.stateSlots);
    return { spec, params: groups.params, plan, ...(optimizer ? { optimizer, optimizerMeta } : {}) };
  } catch (e) {
    optimizer?.dispose();
    throw e;
  }
}

/** Reads the tensors into the net built for them (and the optimizer's state): the rest of loading, which frees the net on failure. */
function* fill(
  who: string, reader: ChunkReader, header: SafetensorsHeader, plan: Map<string, TensorPlan>, net: NamedNet,
  optimizer: ElementwiseOptimizer | undefined, optimizerMeta: SavedOptimizer | undefined, params: Record<string, number[]>,
): Reading<LoadedModel> {
  const copies: Pick<LoadedModel, CopyField> = {};
  let trainLoss: Float64Array | undefined;
  try {
    const targets: Record<string, Tensor> = { ...net.params, ...net.state };
    const slots: Record<string, Record<string, Float32Array>> = {};
    for (const entry of header.tensors) {
      const place = plan.get(entry.name)!;
      const { slot, key, trainLoss: isLoss } = place;
      const field = COPY_FIELDS.find((f) => place[f] !== undefined);
      const count = entry.shape.reduce((a, b) => a * b, 1);
      if (isLoss) {
        trainLoss = yield* readDoubles(reader, entry, count);
        continue;
      }
      // a net's tensor is written through a view taken for each piece: an async caller's other code may grow
      // the runtime's memory between pieces, which detaches the views taken before
      let out: () => Float32Array;
      if (slot) {
        const values = new Float32Array(count);
        (slots[key!] ??= {})[slot] = values;
        out = () => values;
      } else if (field !== undefined) {
        const values = new Float32Array(count);
        (copies[field] ??= {})[place[field]!] = { shape: [...entry.shape], data: values };
        out = () => values;
      } else {
        const target = targets[entry.name];
        out = () => target.data;
      }
      yield* readFloats(who, reader, entry, out);
    }
    if (!(yield* reader.atEnd())) throw new SafetensorsError(`safetensors: bytes after the last tensor (at byte ${reader.position})`);
    checkRunningVariances(who, Object.entries(net.state).map(([name, t]) => [name, t.data]));
    const { best } = copies;
    if (best) checkRunningVariances(who, Object.entries(best).map(([name, t]) => [`${BEST_PREFIX}${name}`, t.data]));
    if (optimizer && optimizerMeta) {
      // the parameters whose state the file holds; an optimizer that keeps none (SGD) has every parameter's empty state
      const state: OptimizerState['params'] = {};
      const keys = optimizer.stateSlots.length === 0 && optimizerMeta.t > 0 ? Object.keys(params) : Object.keys(slots);
      for (const key of keys) state[key] = { shape: params[key], ...slots[key] } as unknown as OptimizerState['params'][string];
      try {
        optimizer.loadState({ optimizer: optimizer.name, t: optimizerMeta.t, params: state });
      } catch (e) {
        if (e instanceof OutOfMemoryError) throw e;
        throw new SafetensorsError(`${who}: the saved optimizer's state is not usable (${(e as Error).message})`);
      }
    }
  } catch (e) {
    net.dispose();
    throw e;
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(header.metadata)) if (!k.startsWith(RESERVED_PREFIX)) metadata[k] = v;
  return { net, ...(optimizer ? { optimizer } : {}), metadata, ...copies, ...(trainLoss ? { trainLoss } : {}) };
}

/** Batch norm's running variances as read: a negative or NaN one would turn every prediction into NaN. */
function checkRunningVariances(who: string, state: Array<[string, Float32Array]>): void {
  for (const [name, data] of state) {
    if (!name.replace(BEST_PREFIX, '').startsWith('runningVar')) continue;
    const i = data.findIndex((v) => !(v >= 0));
    if (i >= 0) throw new SafetensorsError(`${who}: tensor '${name}' holds ${data[i]} at index ${i}; a running variance is never negative or NaN`);
  }
}

/** An F64 tensor's values as doubles, exactly. */
function* readDoubles(reader: ChunkReader, entry: TensorEntry, count: number): Reading<Float64Array> {
  const bytes = new Uint8Array(count * 8);
  let at = 0;
  yield* reader.stream(entry.end - entry.begin, `tensor '${entry.name}'`, (piece) => {
    bytes.set(piece, at);
    at += piece.length;
  });
  const view = new DataView(bytes.buffer);
  return Float64Array.from({ length: count }, (_, i) => view.getFloat64(i * 8, true));
}

/** Streams one tensor's bytes into `out()`, converting to float32; elements split across chunks are carried over. */
function* readFloats(who: string, reader: ChunkReader, entry: TensorEntry, out: () => Float32Array): Reading<void> {
  const size = SAFETENSORS_DTYPES[entry.dtype];
  const decode = (bytes: Uint8Array, values: Float32Array, at: number) => {
    try {
      decodeFloats(entry.dtype, bytes, values, at);
    } catch (e) {
      // an F64 beyond float32's range
      if (e instanceof SafetensorsError) throw new SafetensorsError(`${who}: tensor '${entry.name}': ${e.message.replace(/^safetensors: /, '')}`);
      throw e;
    }
  };
  const carry = new Uint8Array(size);
  let carried = 0;
  let index = 0;
  yield* reader.stream(entry.end - entry.begin, `tensor '${entry.name}'`, (piece) => {
    const values = out();
    let p = piece;
    if (carried > 0) {
      const take = Math.min(size - carried, p.length);
      carry.set(p.subarray(0, take), carried);
      carried += take;
      p = p.subarray(take);
      if (carried < size) return;
      decode(carry, values, index++);
      carried = 0;
    }
    const whole = p.length - (p.length % size);
    if (whole > 0) {
      decode(p.subarray(0, whole), values, index);
      index += whole / size;
    }
    carry.set(p.subarray(whole));
    carried = p.length - whole;
  });
}

/**
 * Reads a model file's header only: architecture, tensors, parameter count,
 * optimizer and metadata, with every check loadModel makes from the header (a
 * file with no architecture gets the format's checks only: loadModel needs one
 * given). Takes the file's bytes or chunks (only the header's are consumed; give
 * `byteLength` with chunks). Allocates no runtime memory. Throws a
 * SafetensorsError for a malformed header or one that does not fit its architecture.
 */
export function inspectModel(source: Uint8Array | Iterable<Uint8Array>, options: { byteLength?: number } = {}): ModelInfo {
  const { chunks, fileBytes } = chunksOf('inspectModel', source, options.byteLength);
  return readSync(inspecting('inspectModel', fileBytes), chunks);
}

/** inspectModel's work as reading code for the entry `who`: the header, and nothing after it. */
export function* inspecting(who: string, fileBytes: number | undefined): Reading<ModelInfo> {
  const header = yield* readHeader(new ChunkReader(who), fileBytes);
  const rawSpec = parseJsonMeta<unknown>(who, header.metadata, NET_KEY);
  let spec: NetSpec | null = null;
  let optimizer: SavedOptimizer | null = null;
  if (rawSpec !== undefined) {
    const checked = checkAgainstSpec(who, header, rawSpec);
    checked.optimizer?.dispose();
    ({ spec } = checked);
    optimizer = checked.optimizerMeta ?? null;
  } else {
    const savedOpt = parseJsonMeta<unknown>(who, header.metadata, OPTIMIZER_KEY);
    if (savedOpt !== undefined) optimizer = checkSavedOptimizer(who, savedOpt);
  }
  const tensors = header.tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape }));
  const parameterCount = tensors.filter((t) => isNetTensor(t.name)).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  // checked above against the architecture when the file has one (one kind, every parameter); without, by its names
  const average = tensors.some((t) => t.name.startsWith(SWA_PREFIX)) ? 'swa' : tensors.some((t) => t.name.startsWith(EMA_PREFIX)) ? 'ema' : null;
  return { spec, tensors, parameterCount, optimizer, average, metadata: header.metadata, fileBytes: header.dataStart + header.dataBytes };
}
