// The book's optimizer contract: update(params, grads) changes params in place.
import { MAX_SPLIT_PARTS, type KernelName, type PartArgs, type Runtime } from '../runtime/runtime.js';
import { checkFloatTensor, sharesMemory, type Tensor } from '../runtime/tensor.js';
import { StateStore, type ParamState, type Span } from './state.js';

/** Float tensors keyed by parameter name ('W1', 'b1', …), as `net.params` / `net.grads` hold them; borrowed, never disposed by an optimizer. */
export type Params = Readonly<Record<string, Tensor>>;

/** What a Trainer steps with: anything that updates params in place from grads. */
export interface Optimizer {
  /** The optimizer's kind ('SGD', 'Adam', …), as it appears in states and model files. */
  readonly name: string;
  /** One step: changes each `params[k]` in place using `grads[k]` (same keys and shapes). */
  update(params: Params, grads: Params): void;
}

/** What state() returns: plain numbers, so JSON.stringify / structuredClone keep it exactly. */
export interface OptimizerState {
  /** The optimizer's name ('Adam', …); loadState refuses another optimizer's state. */
  optimizer: string;
  /** Updates done so far (the book's Adam `iter`). */
  t: number;
  /** Per parameter key: its shape and each state array (v, h, m, …), row-major. */
  params: Record<string, ParamState>;
}

/**
 * Checks that params and grads have the same keys and shapes, and hold live tensors of one runtime; returns the
 * keys and the tensors checked, each read once (a getter or Proxy that gave another tensor at a later read, a
 * disposed one, had the update write into the block of whatever tensor holds that memory now).
 */
export function checkPairs(who: string, params: Params, grads: Params): { keys: string[]; params: Params; grads: Params } {
  if (params === null || typeof params !== 'object') throw new TypeError(`${who}.update: params must be an object of Tensors keyed by name, got ${String(params)}`);
  if (grads === null || typeof grads !== 'object') throw new TypeError(`${who}.update: grads must be an object of Tensors keyed by name, got ${String(grads)}`);
  const keys = Object.keys(params);
  const read = { params: {} as Record<string, Tensor>, grads: {} as Record<string, Tensor> };
  let rt: Runtime | undefined;
  for (const k of keys) {
    const p = params[k];
    const g = grads[k];
    rt ??= (p as Tensor | undefined)?.rt;
    checkFloatTensor(rt!, p, `${who}.update: params['${k}']`);
    if (!g) throw new TypeError(`${who}.update: grads has no '${k}' (params has keys ${keys.join(', ')})`);
    checkFloatTensor(rt!, g, `${who}.update: grads['${k}']`);
    if (g.size !== p.size) {
      throw new RangeError(`${who}.update: grads['${k}'] has shape [${g.shape.join(', ')}], expected [${p.shape.join(', ')}] like params['${k}']`);
    }
    read.params[k] = p;
    read.grads[k] = g;
  }
  const shared = sharedKeys(keys, read.params);
  if (shared) throw new RangeError(`${who}.update: params['${shared[0]}'] and params['${shared[1]}'] share memory (a tensor given twice would be stepped twice)`);
  return { keys, ...read };
}

/**
 * @internal The first two keys whose tensors share memory, or null; linear for tensors laid out in key order (a
 * ParameterSet's params or grads). The optimizers check their params with it, gradient clipping its grads.
 */
export function sharedKeys(keys: readonly string[], params: Params): [string, string] | null {
  let end = -Infinity;
  let ordered = true;
  for (const k of keys) {
    if (params[k].ptr < end) { ordered = false; break; }
    end = params[k].ptr + 4 * params[k].size;
  }
  if (ordered) return null;
  for (let i = 0; i < keys.length; i++) {
    for (let j = i + 1; j < keys.length; j++) if (sharesMemory(params[keys[i]], params[keys[j]])) return [keys[i], keys[j]];
  }
  return null;
}

/**
 * @internal Where guardedUpdate() copies the params and the state arena (byte addresses), and
 * the parts' descriptors of its kernel (`table`: at least GUARD_TABLE_FLOATS floats).
 */
export interface UpdateBackup {
  params: number;
  arena: number;
  table: Tensor;
}

/**
 * @internal What guardedUpdate() found: 'gradients' (a gradient is NaN/Inf) and 'parameters'
 * (the update made a parameter NaN/Inf) leave the params and state partly updated, for the
 * caller to restore from the backup.
 */
export type GuardedUpdate = 'ok' | 'gradients' | 'parameters';

/** @internal assembly/guarded.ts guardedStep's number for each of our optimizers' kernels. */
export const GUARDED_OPS: Partial<Record<KernelName, number>> = {
  axpy: 0, momentumStep: 1, nesterovStep: 2, adagradStep: 3, rmspropStep: 4, adadeltaStep: 5, adamStep: 6, adamwStep: 7,
};

/**
 * A guardedStep part's descriptor, in float64 slots (assembly/guarded.ts): three 64-byte lines,
 * so no two parts write one line. The optimizer kernel's arguments start at GUARD_ARGS_AT.
 */
const GUARD_F64 = 24;
const GUARD_ARGS_AT = 9;
/** Floats the descriptors of a guarded update's parts take (UpdateBackup.table). */
export const GUARD_TABLE_FLOATS = 2 * GUARD_F64 * MAX_SPLIT_PARTS;

/** guardedStep's part flags (assembly/guarded.ts). */
const BAD_GRADIENTS = 1;
const BAD_PARAMS = 2;

/**
 * Floats in a unit of a split update: parts start on a 64-byte line, and on
 * the whole call's 4-lane grid, so every element is computed by the same
 * vector or scalar code as in one call (the same bits on any thread count).
 */
const SPLIT_UNIT = 16;

/**
 * Least share of a 2-thread update's units either thread takes, and the weight
 * of the last update's measured speeds in the share (see
 * ElementwiseOptimizer.splitShare).
 */
const MIN_SHARE = 0.1;
const SHARE_STEP = 0.25;

/**
 * An optimizer whose step is one fused elementwise kernel: the base of all of
 * ours. Subclasses name their state arrays ("slots") and their kernel, and
 * pass its arguments in step(); this class keeps the state (see state.ts),
 * counts steps, runs the kernel over ranges of the parameters on the
 * runtime's threads, and exports and restores everything a resumed run needs
 * to continue bit-identically.
 */
export abstract class ElementwiseOptimizer<K extends KernelName = KernelName> implements Optimizer {
  abstract readonly name: string;
  /** The kernel step() passes its arguments to. */
  protected abstract readonly kernel: K;
  private readonly store: StateStore;
  private steps = 0;

  /**
   * @internal The share of a 2-thread update's units the calling thread's part
   * takes (part 0), from the parts' measured speeds in the updates before. On a
   * 2-vCPU VM one vCPU can run its part at two thirds of the other's speed for
   * seconds, and equal halves then wait for it: Adam's halves on the MLP
   * 784-[100×6]-10 took 70 and 120 µs. Any split gives the same bits (each
   * element is updated alone); the split moves by whole units, slowly, so each
   * range stays with its thread's cache from step to step.
   */
  splitShare = 0.5;
  /** splitShare after the update that is running: set by its kernel's pass, taken once every pass has run. */
  private nextShare = 0.5;

  /** `nonNegativeSlots`: state that is a running sum of squares (loadState refuses negative values there). */
  protected constructor(slotNames: readonly string[], nonNegativeSlots: readonly string[] = []) {
    this.store = new StateStore(slotNames, nonNegativeSlots);
  }

  /** @internal The names of the state each parameter has (Adam's m and v; none for SGD), as state() gives them. */
  get stateSlots(): readonly string[] {
    return this.store.slotNames;
  }

  /** Updates done so far. */
  get t(): number {
    return this.steps;
  }

  /**
   * One step: changes each `params[k]` in place from `grads[k]`. The first
   * update (and one over other tensors) allocates the state, which the optimizer
   * owns until dispose(). Nothing is written when a check fails.
   * @throws TypeError/RangeError naming the key if params or grads are not objects
   * of live float tensors of one runtime with matching keys and sizes; Error after
   * dispose(), on a runtime other than the state's, or for a key a loaded state lacks;
   * RangeError if a key's shape differs from the one its state was made for.
   */
  update(params: Params, grads: Params): void {
    const checked = checkPairs(this.name, params, grads); // what is checked is what is stepped: read once
    const { rt, spans, slotBytes } = this.store.prepare(this.name, checked.keys, checked.params, checked.grads);
    this.steps++;
    if (rt === null) return;
    this.beginStep(this.steps);
    // the share is measured on a one-span update (a block of all params; per-key spans are small)
    this.nextShare = this.splitShare;
    for (const s of spans) {
      this.eachRange(rt, s, this.kernel, (i0, n, call) => this.step(call, s.param + 4 * i0, s.grad + 4 * i0, s.state + 4 * i0, slotBytes, n),
        spans.length === 1);
    }
    this.splitShare = this.nextShare;
  }

  /**
   * Runs `kernel` once per part of span `s`, at most one per thread: part p gets floats
   * [i0, i0 + n). Every pass over a span splits it here, so a range is the same in each
   * (the part that updates it also saves and checks it: guardedUpdate). Two parts split
   * at splitShare; `measure` (the update's own kernel) sets nextShare from the parts' measured
   * speeds, which the caller takes once every pass of the update has run.
   */
  private eachRange<N extends KernelName>(rt: Runtime, s: Span, kernel: N, write: (i0: number, n: number, call: PartArgs<N>, p: number) => void,
    measure = false): number {
    const units = Math.ceil(s.size / SPLIT_UNIT);
    const work = SPLIT_UNIT * (2 + this.store.slotNames.length); // floats touched per unit: param, grad, each slot
    const parts = rt.splitParts(units, work);
    const first = parts === 2 ? Math.min(units - 1, Math.max(1, Math.round(units * this.splitShare))) : 0;
    const cut = (p: number) => (parts === 2 && p === 1 ? first : Math.floor((units * p) / parts));
    rt.runParts(kernel, parts, (p, call) => {
      const i0 = cut(p) * SPLIT_UNIT;
      write(i0, Math.min(s.size, cut(p + 1) * SPLIT_UNIT) - i0, call, p);
    }, units * work);
    if (measure && parts === 2) this.nextShare = this.balanced(rt, first, units - first);
    return parts;
  }

  /** splitShare moved towards the parts' speeds in the last call (units over its time on the thread that ran it). */
  private balanced(rt: Runtime, units0: number, units1: number): number {
    const ms0 = rt.lastPartMs(0), ms1 = rt.lastPartMs(1);
    if (ms0 === null || ms1 === null || !(ms0 > 0 && ms1 > 0)) return this.splitShare;
    const speed0 = units0 / ms0, speed1 = units1 / ms1;
    const target = speed0 / (speed0 + speed1);
    return Math.min(1 - MIN_SHARE, Math.max(MIN_SHARE, (1 - SHARE_STEP) * this.splitShare + SHARE_STEP * target));
  }

  /**
   * @internal The Trainer's guarded step (src/train/rollback.ts): update() with the rollback's
   * backup and finiteness checks in one split call (assembly/guarded.ts guardedStep): each part
   * saves its range of the params and state, checks its gradients, updates the range and checks
   * the params it wrote, so the thread that updates a range is the one that saves and checks it
   * and the threads join once. `backupFor` gets the one span's params (byte address, floats) and
   * the state arena, and returns where to copy them, or null to decline. Returns 'ok',
   * 'gradients' (a gradient is NaN/Inf) or 'parameters' (the update made a parameter or its state NaN/Inf):
   * on either failure ranges may have been updated, and the caller restores the backup (the
   * step count too). Null, with nothing written, when the update is not one span, the kernel is
   * not one of ours, or `backupFor` declines (the caller then runs its own checks around update()).
   */
  guardedUpdate(params: Params, grads: Params, backupFor: (param: number, size: number, arena: Tensor | null) => UpdateBackup | null): GuardedUpdate | null {
    const checked = checkPairs(this.name, params, grads);
    const { rt, spans, slotBytes } = this.store.prepare(this.name, checked.keys, checked.params, checked.grads);
    const op = GUARDED_OPS[this.kernel];
    if (rt === null || spans.length !== 1 || op === undefined) return null;
    const s = spans[0];
    const slots = this.store.slotNames.length;
    const arena = this.store.arenaTensor;
    if (slots > 0 && arena === null) return null;
    const backup = backupFor(s.param, s.size, arena);
    if (backup === null) return null;
    const table = backup.table;
    const stateTo = arena === null ? 0 : backup.arena + (s.state - arena.ptr);
    const d = this.descriptors(rt, table);
    this.steps++;
    this.beginStep(this.steps);
    this.nextShare = this.splitShare;
    let written = 0;
    const write = (i0: number, n: number, call: PartArgs<'guardedStep'>, p: number) => {
      written = Math.max(written, p + 1);
      const at = p * GUARD_F64;
      d[at] = 0;
      d[at + 1] = s.param + 4 * i0;
      d[at + 2] = s.state + 4 * i0;
      d[at + 3] = slotBytes;
      d[at + 4] = slots;
      d[at + 5] = s.grad + 4 * i0;
      d[at + 6] = n;
      d[at + 7] = backup.params + 4 * i0;
      d[at + 8] = stateTo + 4 * i0;
      this.recordAt = at + GUARD_ARGS_AT;
      this.step(this.record as unknown as PartArgs<K>, s.param + 4 * i0, s.grad + 4 * i0, s.state + 4 * i0, slotBytes, n);
      call(op, table.ptr + 8 * at);
    };
    let parts: number;
    try {
      parts = this.eachRange(rt, s, 'guardedStep', write, true);
    } catch (e) {
      // a worker died or a part trapped: put back every range a part saved (and so may have updated)
      this.restoreSaved(rt, written);
      this.steps--;
      throw e;
    }
    this.splitShare = this.nextShare;
    const flags = this.guardFlags!;
    let worst = 0;
    for (let p = 0; p < parts; p++) worst |= flags[2 * p * GUARD_F64];
    return worst & BAD_GRADIENTS ? 'gradients' : worst & BAD_PARAMS ? 'parameters' : 'ok';
  }

  /** After a failed guardedStep call: copies back the params and state each of its first `parts` parts had saved (its count of floats saved holds all it stepped). */
  private restoreSaved(rt: Runtime, parts: number): void {
    const d = this.guardView!, marks = this.guardFlags!, k = rt.unsafeKernels;
    for (let p = 0; p < parts; p++) {
      const at = p * GUARD_F64;
      const saved = Atomics.load(marks, 2 * at + 1);
      if (saved <= 0) continue;
      const param = d[at + 1], state = d[at + 2], slotBytes = d[at + 3], slots = d[at + 4], pDst = d[at + 7], sDst = d[at + 8];
      k.copy(param, pDst, saved);
      for (let i = 0; i < slots; i++) k.copy(state + i * slotBytes, sDst + i * slotBytes, saved);
    }
  }

  /** The float64 view over a guarded update's descriptors (kept while the memory's buffer is the same), and its int32 twin for the flags. */
  private descriptors(rt: Runtime, table: Tensor): Float64Array {
    const buffer = rt.memory.buffer;
    if (this.guardView === null || this.guardView.buffer !== buffer || this.guardView.byteOffset !== table.ptr) {
      this.guardView = new Float64Array(buffer, table.ptr, GUARD_TABLE_FLOATS / 2);
      this.guardFlags = new Int32Array(buffer, table.ptr, GUARD_TABLE_FLOATS);
    }
    return this.guardView;
  }

  private guardView: Float64Array | null = null;
  private guardFlags: Int32Array | null = null;
  /** Where record() writes: the first argument slot of the part being written. */
  private recordAt = 0;
  /**
   * step()'s `call` in a guarded update: writes the kernel's arguments (12 at most: adamwStep's)
   * into the part's descriptor, unused slots 0. Fixed parameters: no array per call.
   */
  private readonly record = (a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0, a10 = 0, a11 = 0): void => {
    const d = this.guardView!, at = this.recordAt;
    d[at] = a0; d[at + 1] = a1; d[at + 2] = a2; d[at + 3] = a3; d[at + 4] = a4; d[at + 5] = a5;
    d[at + 6] = a6; d[at + 7] = a7; d[at + 8] = a8; d[at + 9] = a9; d[at + 10] = a10; d[at + 11] = a11;
  };

  /** Whether the last update ran as one kernel call over a contiguous block of all params. */
  get contiguous(): boolean {
    return this.store.contiguous;
  }

  /**
   * @internal the memory of every state array (null before the first update), borrowed: the Trainer
   * copies it before each update so a failed step can be rolled back. Unsafe to write.
   */
  get unsafeStateTensor(): Tensor | null {
    return this.store.arenaTensor;
  }

  /** @internal Puts the step count back to `t` (the Trainer's rollback of a failed update, which restores the state itself). */
  rewindSteps(t: number): void {
    this.steps = t;
  }

  /** A copy of the step count and every key's state, as plain data. */
  state(): OptimizerState {
    return { optimizer: this.name, t: this.steps, params: this.store.snapshot() };
  }

  /**
   * Restores what state() returned (this optimizer's kind); the next update
   * continues from it. Refused (nothing changes): another optimizer's state,
   * a state without every parameter this optimizer has stepped, non-finite
   * values, negative running sums of squares. After a state with t > 0, an
   * update of a parameter the state lacks is refused too (its moments would
   * start at zero under a bias correction for step t). An Error after dispose().
   */
  loadState(saved: OptimizerState): void {
    if (saved === null || typeof saved !== 'object') throw new TypeError(`${this.name}.loadState: expected what state() returns, got ${String(saved)}`);
    if (saved.optimizer !== this.name) throw new TypeError(`${this.name}.loadState: the state is ${String(saved.optimizer)}'s, not ${this.name}'s`);
    if (!(Number.isSafeInteger(saved.t) && saved.t >= 0)) throw new RangeError(`${this.name}.loadState: t must be a non-negative integer, got ${saved.t}`);
    this.store.restore(this.name, saved.params, saved.t > 0);
    this.steps = saved.t;
  }

  /** Frees the state's memory; the optimizer cannot be used afterwards. */
  dispose(): void {
    this.store.dispose();
  }

  /** Per-step scalars (Adam's bias correction), given the new step count before the kernels run. */
  protected beginStep(_t: number): void {}

  /**
   * Passes `call` (the kernel, or one part's argument slots) the arguments for
   * `n` floats: param, grad, and state slot s at `state + s · slotBytes`.
   */
  protected abstract step(call: PartArgs<K>, param: number, grad: number, state: number, slotBytes: number, n: number): void;
}
