// Optimizer state (velocity, h, m, v, …) on the linear memory, keyed by
// parameter name, made lazily at the first update like the book's.
//
// All of an optimizer's state lives in one arena: one region per state array
// ("slot"), each region holding every key's values at the same offset. When
// the params form one contiguous block with zero padding between tensors (a
// ParameterSet: each tensor starts on a 16-float boundary) and the grads are
// laid out the same way, the regions mirror that block, so a step is ONE
// kernel call over the whole block; the padding stays zero (its gradient is
// zero, so no update moves it). Otherwise each key is stepped on its own.
// The padding is memory no parameter covers (a caller's own block, or new
// tensors at the addresses of disposed ones), so each update checks it is
// still zero before it reuses a one-call layout.
import type { Runtime } from '../runtime/runtime.js';
import { Tensor, describeValue, sameShape, shapeSize } from '../runtime/tensor.js';
import type { Params } from './optimizer.js';

const PAD = 16; // floats: ParameterSet's tensor alignment, and the allocator's 64 bytes

// Where a contiguous layout's slot regions start, modulo a 4 KiB page, relative
// to the param block. Measured on two threads (Adam on the MLP
// 784-[100×6]-10, AMD Zen 5, the update after a forward): a region at the same
// offset in the page as the param or grad block ran the update 2–2.5× slower
// (222–339 µs) than any other placement; regions within a few hundred bytes of
// the param block, on lines of their own, ran it fastest (88–159 µs), spread
// over the page ~20% slower (107–200 µs). On one thread every placement ran
// alike. So each region goes to the nearest line offset from the param block
// (−64, +64, −128, … bytes) not taken by the param block, the grad block or an
// earlier region: the arena starts up to a page late and each region is padded
// by up to a page.
const PAGE_BYTES = 4096;
const LINE_BYTES = 64; // also the allocator's alignment

const padded = (n: number): number => Math.ceil(n / PAD) * PAD;

/** One kernel call: `size` floats of param, grad and state (slot 0; slot s is `s · slotBytes` further). */
export interface Span {
  param: number;
  grad: number;
  state: number;
  size: number;
}

/** How an update runs: one span over the whole block, or one per key. */
export interface Layout {
  rt: Runtime | null;
  spans: Span[];
  /** Bytes from one slot's region to the next. */
  slotBytes: number;
  /** True when `spans` is one call over a contiguous block of all params. */
  contiguous: boolean;
}

/** One parameter's state as state() exports it: its shape and one array per slot. */
export interface ParamState {
  shape: number[];
  [slot: string]: number[];
}

interface Entry {
  shape: number[];
  /** Floats from the start of each slot region. */
  offset: number;
}

interface Planned {
  layout: Layout;
  /** The pointers the layout was made for, to spot a different set of tensors. */
  ptrs: Map<string, { param: number; grad: number }>;
  /** A contiguous layout's padding in the param and grad blocks: float index, count, float index, count, … */
  gaps: number[];
}

const EMPTY: Layout = { rt: null, spans: [], slotBytes: 0, contiguous: false };

export class StateStore {
  private rt: Runtime | null = null;
  private arena: Tensor | null = null;
  private regionFloats = 0;
  private entries = new Map<string, Entry>();
  /** State given to loadState, copied into the arena at the next update. */
  private loaded: Map<string, { shape: number[]; slots: Float32Array[] }> | null = null;
  private planned: Planned | null = null;
  private disposed = false;

  /** After a loadState with t > 0: every updated key must have loaded state. */
  private loadedComplete = false;

  constructor(readonly slotNames: readonly string[], private readonly nonNegativeSlots: readonly string[] = []) {}

  /**
   * The layout for an update of `keys`, checked against the state already
   * held before anything is written: a key whose shape changed is an error.
   */
  prepare(who: string, keys: readonly string[], params: Params, grads: Params): Layout {
    if (this.disposed) throw new Error(`${who}.update: used after dispose()`);
    for (const k of keys) {
      const p = params[k];
      if (this.loaded && this.loadedComplete && !this.loaded.has(k)) {
        throw new Error(`${who}.update: the state given to loadState has no '${k}' (it has ${[...this.loaded.keys()].join(', ') || 'no parameters'}); a resumed run needs every parameter's state`);
      }
      if (grads[k].rt !== p.rt || (this.rt !== null && p.rt !== this.rt)) {
        throw new Error(`${who}.update: params['${k}'] and grads['${k}'] must live on the runtime that holds the optimizer's state`);
      }
      const known = this.shapeOf(k);
      if (known && !sameShape(known, p.shape)) {
        throw new RangeError(`${who}.update: params['${k}'] has shape [${p.shape.join(', ')}], but the optimizer's state for '${k}' has shape [${known.join(', ')}]; use a new optimizer for another model`);
      }
    }
    if (this.planned && this.sameTensors(keys, params, grads) && this.gapsZero(this.planned.gaps)) return this.planned.layout;
    return this.plan(keys, params, grads);
  }

  /** The arena holding every slot (null before the first update or after loadState), borrowed. */
  get arenaTensor(): Tensor | null {
    return this.arena;
  }

  /** Whether the current layout is one call over a contiguous block. */
  get contiguous(): boolean {
    return this.planned?.layout.contiguous ?? false;
  }

  /** Copies of every key's state arrays. */
  snapshot(): Record<string, ParamState> {
    const out: Record<string, ParamState> = {};
    if (this.loaded) {
      for (const [k, { shape, slots }] of this.loaded) {
        out[k] = this.entry(shape, (s) => Array.from(slots[s]));
      }
      return out;
    }
    for (const [k, { shape, offset }] of this.entries) {
      const size = shapeSize(shape);
      const arena = this.arena; // null when every key is empty or the optimizer keeps no state
      out[k] = this.entry(shape, (s) => {
        const start = s * this.regionFloats + offset;
        return arena ? Array.from(arena.data.subarray(start, start + size)) : [];
      });
    }
    return out;
  }

  /**
   * Replaces all state with `saved` (validated first), to be placed at the
   * next update. `complete`: the state is of a run that has stepped, so every
   * key stepped so far, and every key updated next, must be in it.
   */
  restore(who: string, saved: unknown, complete: boolean): void {
    if (this.disposed) throw new Error(`${who}.loadState: used after dispose()`);
    if (saved === null || typeof saved !== 'object') throw new TypeError(`${who}.loadState: params must be an object of per-key state, got ${String(saved)}`);
    if (complete) {
      const missing = [...(this.loaded ?? this.entries).keys()].filter((k) => !Object.hasOwn(saved, k));
      if (missing.length > 0) throw new Error(`${who}.loadState: the state has no '${missing[0]}', a parameter this optimizer has stepped`);
    }
    const loaded = new Map<string, { shape: number[]; slots: Float32Array[] }>();
    for (const [k, value] of Object.entries(saved)) {
      const where = `${who}.loadState: params['${k}']`;
      const entry = value as Record<string, unknown> | null;
      const shape = entry?.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
        throw new RangeError(`${where}.shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
      }
      const extra = Object.keys(entry!).filter((name) => name !== 'shape' && !this.slotNames.includes(name));
      if (extra.length > 0) throw new TypeError(`${where} has unknown state '${extra[0]}' (expected ${['shape', ...this.slotNames].join(', ')})`);
      const size = shapeSize(shape, `${where}.shape`);
      const slots = this.slotNames.map((name) => {
        const values = entry![name] as ArrayLike<number> | undefined;
        if (values === undefined || values === null || typeof values !== 'object' || values.length !== size) {
          throw new RangeError(`${where}.${name} must hold ${size} numbers for shape [${shape.join(', ')}], got ${values === undefined ? 'nothing' : `length ${values?.length}`}`);
        }
        // read once, numbers only: Float32Array.from turned '0.5' into 0.5 and an object into NaN, and threw on a BigInt
        const copy = Float32Array.from(values, (v: unknown, i) => {
          if (typeof v !== 'number') throw new TypeError(`${where}.${name}[${i}] is ${describeValue(v)}, expected a finite float32 number`);
          return v;
        });
        const nonNegative = this.nonNegativeSlots.includes(name);
        for (let i = 0; i < size; i++) {
          if (!Number.isFinite(copy[i])) throw new RangeError(`${where}.${name}[${i}] is ${values[i]}, expected a finite float32 number`);
          if (nonNegative && copy[i] < 0) throw new RangeError(`${where}.${name}[${i}] is ${values[i]}; ${name} is a running sum of squares, never negative`);
        }
        return copy;
      });
      loaded.set(k, { shape: [...shape], slots });
    }
    this.release();
    this.loaded = loaded;
    this.loadedComplete = complete;
  }

  /** Frees the arena; the store refuses later updates. */
  dispose(): void {
    this.release();
    this.disposed = true;
  }

  private release(): void {
    this.arena?.dispose();
    this.arena = null;
    this.rt = null;
    this.regionFloats = 0;
    this.entries = new Map();
    this.loaded = null;
    this.planned = null;
  }

  private entry(shape: number[], slot: (s: number) => number[]): ParamState {
    const out: ParamState = { shape: [...shape] };
    this.slotNames.forEach((name, s) => { out[name] = slot(s); });
    return out;
  }

  private shapeOf(k: string): number[] | undefined {
    return this.loaded ? this.loaded.get(k)?.shape : this.entries.get(k)?.shape;
  }

  private sameTensors(keys: readonly string[], params: Params, grads: Params): boolean {
    const ptrs = this.planned!.ptrs;
    if (ptrs.size !== keys.length) return false;
    for (const k of keys) {
      const at = ptrs.get(k);
      if (!at || at.param !== params[k].ptr || at.grad !== grads[k].ptr) return false;
    }
    return true;
  }

  /** Whether every padding float is still zero (a kernel over the whole block would move it otherwise). */
  private gapsZero(gaps: readonly number[]): boolean {
    if (gaps.length === 0) return true;
    const buffer = this.rt!.memory.buffer;
    if (this.memoryView?.buffer !== buffer) this.memoryView = new Float32Array(buffer);
    return zeros(this.memoryView, gaps);
  }

  /** A Float32Array over the whole memory, made again when the memory's buffer changes (it grew). */
  private memoryView: Float32Array | null = null;

  /** A new arena laid out for these tensors, holding the state kept so far (or loaded). */
  private plan(keys: readonly string[], params: Params, grads: Params): Layout {
    if (keys.length === 0) {
      this.planned = { layout: EMPTY, ptrs: new Map(), gaps: [] };
      return EMPTY;
    }
    const rt = params[keys[0]].rt;
    const block = findBlock(keys, params, grads);
    const offsets = new Map<string, number>();
    const shapes = new Map<string, number[]>();
    let floats = 0;
    for (const k of keys) {
      const p = params[k];
      shapes.set(k, [...p.shape]);
      if (block) offsets.set(k, (p.ptr - block.param) / 4);
      else { offsets.set(k, floats); floats += padded(p.size); }
    }
    if (block) floats = block.size;
    // keys this update leaves out keep their state, after the mirrored region
    const held: Iterable<[string, { shape: number[] }]> = this.loaded ?? this.entries;
    for (const [k, { shape }] of held) {
      if (offsets.has(k)) continue;
      offsets.set(k, floats);
      shapes.set(k, shape);
      floats += padded(shapeSize(shape));
    }
    const slots = this.slotNames.length;
    // a contiguous layout gets a page of slack per region to place them (slotPlacement)
    const slack = block ? PAGE_BYTES / 4 : 0; // floats
    const arena = slots > 0 && floats > 0 ? rt.tensor([slots * (floats + slack)]) : null;
    const placed = arena && block ? slotPlacement(arena.ptr, block.param, block.grad, floats * 4, slots) : { start: 0, pad: 0 };
    const regionFloats = floats + placed.pad / 4;
    for (const [k, offset] of offsets) offsets.set(k, offset + placed.start / 4);
    if (arena) {
      for (const [k, offset] of offsets) {
        const size = shapeSize(shapes.get(k)!);
        const old = this.entries.get(k);
        const loaded = this.loaded?.get(k);
        for (let s = 0; s < slots; s++) {
          const at = s * regionFloats + offset;
          if (old && this.arena) rt.unsafeKernels.copy(arena.ptr + at * 4, this.arena.ptr + (s * this.regionFloats + old.offset) * 4, size);
          else if (loaded) arena.data.set(loaded.slots[s], at);
        }
      }
    }
    this.arena?.dispose();
    this.arena = arena;
    this.rt = rt;
    this.regionFloats = regionFloats;
    this.entries = new Map([...offsets].map(([k, offset]) => [k, { shape: shapes.get(k)!, offset }]));
    this.loaded = null;

    const statePtr = arena?.ptr ?? 0;
    const spans: Span[] = block
      ? [{ param: block.param, grad: block.grad, state: statePtr + placed.start, size: block.size }]
      : keys.map((k) => ({ param: params[k].ptr, grad: grads[k].ptr, state: statePtr + offsets.get(k)! * 4, size: params[k].size }));
    const layout: Layout = { rt, spans, slotBytes: regionFloats * 4, contiguous: block !== null };
    this.planned = { layout, ptrs: new Map(keys.map((k) => [k, { param: params[k].ptr, grad: grads[k].ptr }])), gaps: block?.gaps ?? [] };
    return layout;
  }
}

/**
 * Where the slot regions of a contiguous layout go in an arena at `arena` (a page of slack per
 * region): `start` bytes into the arena, each region `pad` bytes longer than `regionBytes`, so
 * that region s sits at the s-th nearest line offset (modulo PAGE_BYTES) from the param block
 * that neither block nor an earlier region takes (see PAGE_BYTES). Pointers are 64-byte aligned.
 */
export function slotPlacement(arena: number, param: number, grad: number, regionBytes: number, slots: number): { start: number; pad: number } {
  const page = (x: number): number => ((x % PAGE_BYTES) + PAGE_BYTES) % PAGE_BYTES;
  const taken = new Set([0, page(grad - param)].map((o) => Math.floor(o / LINE_BYTES)));
  const free: number[] = [];
  for (let k = 1; free.length < slots && k < PAGE_BYTES / LINE_BYTES; k++) {
    for (const offset of [page(-k * LINE_BYTES), page(k * LINE_BYTES)]) {
      const line = offset / LINE_BYTES;
      if (!taken.has(line) && free.length < slots) { taken.add(line); free.push(offset); }
    }
  }
  if (free.length === 0) return { start: 0, pad: 0 };
  const start = page(param + free[0] - arena);
  // one pad spaces every region alike: it places the second exactly, the others where they fall
  const pad = slots > 1 ? page(param + free[1] - (arena + start + regionBytes)) : 0;
  return { start, pad };
}

/**
 * The block the params form when, sorted by address, each starts where the
 * previous one's 16-float-padded extent ends, the grads sit at the same
 * offsets from their first, the two blocks do not overlap, and every padding
 * float is zero in both (so a kernel over the whole block leaves it alone).
 */
function findBlock(keys: readonly string[], params: Params, grads: Params): { param: number; grad: number; size: number; gaps: number[] } | null {
  if (keys.length < 2) return null;
  const order = [...keys].sort((a, b) => params[a].ptr - params[b].ptr);
  const base = params[order[0]].ptr;
  const gradBase = grads[order[0]].ptr;
  let end = base;
  for (const k of order) {
    const p = params[k];
    if (p.ptr !== end || grads[k].ptr - gradBase !== p.ptr - base) return null;
    end += padded(p.size) * 4;
  }
  const bytes = end - base;
  if (gradBase < end && base < gradBase + bytes) return null;
  const gaps: number[] = [];
  for (const k of order) {
    const p = params[k];
    const gap = padded(p.size) - p.size;
    if (gap > 0) gaps.push(p.ptr / 4 + p.size, gap, grads[k].ptr / 4 + p.size, gap);
  }
  if (!zeros(new Float32Array(params[order[0]].rt.memory.buffer), gaps)) return null;
  return { param: base, grad: gradBase, size: bytes / 4, gaps };
}

/** Whether `memory` holds zeros in every (float index, count) pair of `gaps`. */
function zeros(memory: Float32Array, gaps: readonly number[]): boolean {
  for (let g = 0; g < gaps.length; g += 2) {
    const at = gaps[g], end = at + gaps[g + 1];
    for (let i = at; i < end; i++) if (memory[i] !== 0) return false;
  }
  return true;
}
