// The Trainer's guarded update of one range of the parameter block, as one part
// of one split call (src/optim/optimizer.ts guardedUpdate): save the range's
// params and optimizer state, check its gradients, run the optimizer's step on
// it and check the params it wrote. In three split calls (backup, update,
// check) a 2-thread step joined the threads three times, and each join the
// calling thread slept in cost a wake-up: the backup call, with parts of
// 16–45 µs, took 52–279 µs (Adam, MLP 784-[100×6]-10).
//
// The range goes through in chunks of CHUNK floats, each saved, checked,
// stepped and checked while it is in cache. As four passes over the whole
// range, a range in memory was read from it four times: SGD's guarded update
// of 61M params (AlexNet's) took 2.75x its step alone; in chunks, that of 30M
// params takes 0.68x the time it took, Adam's of 20M 0.63x; on 89,610 params
// (the README's main job's net, in L2) SGD's takes the same, Adam's 1.04x
// (docs/BENCHMARKS.md, session 54).
// Each chunk is saved before it is stepped, and the i32 at byte 4 counts the
// floats saved so far (an atomic store after each save, ordered after it on
// any CPU): if a worker dies or traps mid-range, the caller puts back exactly
// that many, which hold everything stepped. A chunk whose gradients are not
// finite is not stepped, nor is any after a failure; the rest of the range is
// still saved, so the caller can restore the whole range from the backup when
// any part reports a failure. The state the step wrote is checked with the
// params: a gradient whose square passes float32's range (|g| ≥ 1.8e19)
// makes AdaGrad's sum Inf with the params still finite, and every later step
// of that weight 0.
//
// The descriptor at `d` is GUARD_F64 float64 slots (the caller writes them as
// numbers): the part's flag and saved count (i32s at bytes 0 and 4, written
// here), the range (p, s, slotBytes, slots, g, n), where it is saved (pDst,
// sDst), then the optimizer kernel's own arguments in its order, as src/optim
// passes them: its arrays first (the params, its state slots, the gradients),
// then n. Each argument is converted as a call from JavaScript converts it
// (f32: round to nearest; pointers and sizes are integers below 2³²), and a
// chunk starts on the range's 4-lane grid, so every element is computed by the
// code, vector or scalar, that the kernel called alone on the range uses: the
// same bits.
import { axpy, hasNonFinite } from "./elementwise";
import { adadeltaStep, adagradStep, adamStep, adamwStep, momentumStep, nesterovStep, rmspropStep } from "./optim";

/** The kernel of each optimizer, as src/optim/optimizer.ts GUARDED_OPS numbers them. */
const OP_AXPY = 0;
const OP_MOMENTUM = 1;
const OP_NESTEROV = 2;
const OP_ADAGRAD = 3;
const OP_RMSPROP = 4;
const OP_ADADELTA = 5;
const OP_ADAM = 6;
const OP_ADAMW = 7;

/** Slots before the kernel's arguments: flag, p, s, slotBytes, slots, g, n, pDst, sDst. */
const ARGS_AT = 9;

/** Part flag values: the range's gradients, or the params or state the step wrote, hold NaN/Inf. */
const BAD_GRADIENTS = 1;
const BAD_PARAMS = 2;

/**
 * Floats of a chunk (a multiple of 16, hasNonFinite's unrolled step): Adam's chunk of params,
 * gradients, two slots and three backups is 896 KiB, within a 1 MiB L2. Measured on a range in
 * L2 (89,610 floats), Adam's update took 1.06–1.10x its old time in chunks of 1,024 to 16,384
 * floats, 1.04x in chunks of 32,768 and 1.02x in chunks of 65,536 (whose arrays pass 1 MiB).
 */
const CHUNK = 32768;

// slot i of the descriptor as a pointer or size, and as the f32 a call would pass
@inline function u(d: usize, i: i32): usize {
  return <usize>load<f64>(d + (<usize>i << 3));
}
@inline function f(d: usize, i: i32): f32 {
  return <f32>load<f64>(d + (<usize>i << 3));
}

// slot i of the descriptor as an array of the kernel's, `o` bytes on
@inline function at(d: usize, i: i32, o: usize): usize {
  return u(d, i) + o;
}

/** Runs optimizer kernel `op` (its arguments at slot ARGS_AT on) on the m floats `o` bytes into its arrays. */
function runStep(op: i32, d: usize, o: usize, m: i32): void {
  const a = ARGS_AT;
  if (op == OP_AXPY) {
    axpy(at(d, a, o), at(d, a + 1, o), f(d, a + 2), m);
  } else if (op == OP_MOMENTUM) {
    momentumStep(at(d, a, o), at(d, a + 1, o), at(d, a + 2, o), m, f(d, a + 4), f(d, a + 5));
  } else if (op == OP_NESTEROV) {
    nesterovStep(at(d, a, o), at(d, a + 1, o), at(d, a + 2, o), m, f(d, a + 4), f(d, a + 5));
  } else if (op == OP_ADAGRAD) {
    adagradStep(at(d, a, o), at(d, a + 1, o), at(d, a + 2, o), m, f(d, a + 4), f(d, a + 5));
  } else if (op == OP_RMSPROP) {
    rmspropStep(at(d, a, o), at(d, a + 1, o), at(d, a + 2, o), m, f(d, a + 4), f(d, a + 5), f(d, a + 6), f(d, a + 7));
  } else if (op == OP_ADADELTA) {
    adadeltaStep(at(d, a, o), at(d, a + 1, o), at(d, a + 2, o), at(d, a + 3, o), m, f(d, a + 5), f(d, a + 6), f(d, a + 7), f(d, a + 8));
  } else if (op == OP_ADAM) {
    adamStep(at(d, a, o), at(d, a + 1, o), at(d, a + 2, o), at(d, a + 3, o), m, f(d, a + 5), f(d, a + 6), f(d, a + 7), f(d, a + 8));
  } else if (op == OP_ADAMW) {
    adamwStep(at(d, a, o), at(d, a + 1, o), at(d, a + 2, o), at(d, a + 3, o), m, f(d, a + 5), f(d, a + 6), f(d, a + 7), f(d, a + 8),
      f(d, a + 9), f(d, a + 10), f(d, a + 11));
  }
}

/**
 * One part of a guarded update (see the file's comment): writes the floats saved so far to the
 * i32 at `d + 4` as it goes, and 0, BAD_GRADIENTS or BAD_PARAMS to the i32 at `d`. Unsafe like
 * every kernel: the descriptor is not checked.
 */
export function guardedStep(op: i32, d: usize): void {
  const p = u(d, 1), s = u(d, 2), slotBytes = u(d, 3), slots = <i32>u(d, 4), g = u(d, 5), n = <i32>u(d, 6), pDst = u(d, 7), sDst = u(d, 8);
  let flag = 0;
  store<i32>(d, 0, 4);
  for (let i = 0; i < n; i += CHUNK) {
    const m = min(CHUNK, n - i);
    const o = <usize>i << 2, bytes = <usize>m << 2;
    memory.copy(pDst + o, p + o, bytes);
    for (let k = 0; k < slots; k++) memory.copy(sDst + o + <usize>k * slotBytes, s + o + <usize>k * slotBytes, bytes);
    if (ASC_FEATURE_THREADS) atomic.store<i32>(d, i + m, 4);
    else store<i32>(d, i + m, 4);
    if (flag != 0) continue;
    if (hasNonFinite(g + o, m) != 0) {
      flag = BAD_GRADIENTS;
      continue;
    }
    runStep(op, d, o, m);
    let bad = hasNonFinite(p + o, m) != 0;
    for (let k = 0; k < slots && !bad; k++) bad = hasNonFinite(s + o + <usize>k * slotBytes, m) != 0;
    if (bad) flag = BAD_PARAMS;
  }
  store<i32>(d, flag);
}
