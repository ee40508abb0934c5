// The Trainer's guarded update of one range of the parameter block, as one part
// of one split call (src/optim/optimizer.ts guardedUpdate): save the range's
// params and optimizer state, check its gradients, run the optimizer's step on
// it and check the params it wrote. In three split calls (backup, update,
// check) a 2-thread step joined the threads three times, and each join the
// calling thread slept in cost a wake-up: the backup call, with parts of
// 16–45 µs, took 52–279 µs (Adam, MLP 784-[100×6]-10). A range whose
// gradients are not finite is saved and not updated; the caller restores every
// range from the saves when any part reports a failure. A part marks its range
// saved (an i32 at byte 4, after the save, ordered after it on any CPU) before
// it updates it: if a worker dies mid-call, the caller puts back exactly the
// ranges that were saved, and so maybe updated. The state the step wrote is
// checked with the params: a gradient whose square passes float32's range
// (|g| ≥ 1.8e19) makes AdaGrad's sum Inf with the params still finite, and
// every later step of that weight 0.
//
// The descriptor at `d` is GUARD_F64 float64 slots (the caller writes them as
// numbers): the part's flag (an i32 at byte 0, written here), the range (p, s,
// slotBytes, slots, g, n), where it is saved (pDst, sDst), then the
// optimizer kernel's own arguments in its order, as src/optim passes them.
// Each argument is converted as a call from JavaScript converts it (f32: round
// to nearest; pointers and sizes are integers below 2³²), so the step's bits
// are those of the kernel called alone.
import { axpy, backupRange, hasNonFinite } from "./elementwise";
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

// slot i of the descriptor as a pointer or size, and as the f32 a call would pass
@inline function u(d: usize, i: i32): u32 {
  return <u32>load<f64>(d + (<usize>i << 3));
}
@inline function f(d: usize, i: i32): f32 {
  return <f32>load<f64>(d + (<usize>i << 3));
}

/** Runs optimizer kernel `op` with the arguments at slot ARGS_AT on. */
function runStep(op: i32, d: usize): void {
  const a = ARGS_AT;
  if (op == OP_AXPY) {
    axpy(u(d, a), u(d, a + 1), f(d, a + 2), <i32>u(d, a + 3));
  } else if (op == OP_MOMENTUM) {
    momentumStep(u(d, a), u(d, a + 1), u(d, a + 2), <i32>u(d, a + 3), f(d, a + 4), f(d, a + 5));
  } else if (op == OP_NESTEROV) {
    nesterovStep(u(d, a), u(d, a + 1), u(d, a + 2), <i32>u(d, a + 3), f(d, a + 4), f(d, a + 5));
  } else if (op == OP_ADAGRAD) {
    adagradStep(u(d, a), u(d, a + 1), u(d, a + 2), <i32>u(d, a + 3), f(d, a + 4), f(d, a + 5));
  } else if (op == OP_RMSPROP) {
    rmspropStep(u(d, a), u(d, a + 1), u(d, a + 2), <i32>u(d, a + 3), f(d, a + 4), f(d, a + 5), f(d, a + 6), f(d, a + 7));
  } else if (op == OP_ADADELTA) {
    adadeltaStep(u(d, a), u(d, a + 1), u(d, a + 2), u(d, a + 3), <i32>u(d, a + 4), f(d, a + 5), f(d, a + 6), f(d, a + 7), f(d, a + 8));
  } else if (op == OP_ADAM) {
    adamStep(u(d, a), u(d, a + 1), u(d, a + 2), u(d, a + 3), <i32>u(d, a + 4), f(d, a + 5), f(d, a + 6), f(d, a + 7), f(d, a + 8));
  } else if (op == OP_ADAMW) {
    adamwStep(u(d, a), u(d, a + 1), u(d, a + 2), u(d, a + 3), <i32>u(d, a + 4), f(d, a + 5), f(d, a + 6), f(d, a + 7), f(d, a + 8),
      f(d, a + 9), f(d, a + 10), f(d, a + 11));
  }
}

/**
 * One part of a guarded update (see the file's comment): writes 1 to the i32 at `d + 4` once
 * the range is saved, and 0, BAD_GRADIENTS or BAD_PARAMS to the i32 at `d`. Unsafe like every
 * kernel: the descriptor is not checked.
 */
export function guardedStep(op: i32, d: usize): void {
  const p = u(d, 1), s = u(d, 2), slotBytes = u(d, 3), slots = <i32>u(d, 4), g = u(d, 5), n = <i32>u(d, 6);
  backupRange(u(d, 7), p, u(d, 8), s, slotBytes, slots, g, n, d);
  if (ASC_FEATURE_THREADS) atomic.store<i32>(d, 1, 4);
  else store<i32>(d, 1, 4);
  if (load<i32>(d) != 0) {
    store<i32>(d, BAD_GRADIENTS);
    return;
  }
  runStep(op, d);
  let bad = hasNonFinite(p, n) != 0;
  for (let i = 0; i < slots && !bad; i++) bad = hasNonFinite(<usize>s + <usize>i * <usize>slotBytes, n) != 0;
  store<i32>(d, bad ? BAD_PARAMS : 0);
}
