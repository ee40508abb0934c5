// Per-layer buffer plan: one tensor per (name, shape), made on first use and
// reused after, so a training step with a batch shape seen before allocates
// nothing. A few shapes are kept per name: a Trainer uses up to five (the
// training batch, the evaluation chunk, and the remainders of the training
// rows evaluated, the validation and the test sets), and with four kept its
// evaluations evicted the training batch's buffers, which every epoch's first
// step then made again; eight leave room for the caller's own shapes.
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { IntTensor, Tensor, sharesMemory, type Shape } from '../runtime/tensor.js';

const SHAPES_PER_NAME = 8;

/**
 * A layer's scratch: one tensor per (name, shape), made on first use and reused, keeping the
 * last 8 shapes per name (the least recently used that the call does not read is disposed when a ninth is
 * asked for). Buffers owns
 * every tensor it hands out: callers borrow them and never dispose them.
 */
export class Buffers {
  private readonly floats = new Map<string, Tensor[]>();
  private readonly ints = new Map<string, IntTensor[]>();

  /** Scratch on `rt`, empty: it allocates nothing until a tensor is asked for; dispose() frees every one it made. */
  constructor(readonly rt: Runtime) {
    checkRuntime(rt, 'Buffers'); // else the first get() failed deep inside
  }

  /**
   * A float tensor for `name` with this shape; contents are whatever the last user left. A ninth shape
   * evicts the least recently used tensor that neither `a` nor `b` (what the call reads) shares memory
   * with: a call reading (a view of) one of its own earlier outputs would otherwise free it before its
   * kernel reads it.
   */
  get(name: string, shape: Shape, a: Tensor | null = null, b: Tensor | null = null): Tensor {
    return pick(this.floats, name, shape, () => this.rt.tensor(shape), a, b);
  }

  /**
   * get(name, shape), or when that tensor overlaps `a` or `b` (a kernel would read them while
   * writing it: a layer fed its own output) another of this shape that overlaps neither.
   */
  apart(name: string, shape: Shape, a: Tensor, b: Tensor | null = null): Tensor {
    let t = this.get(name, shape, a, b);
    // a tensor lies inside one allocation, so at most two names are passed over
    for (let k = 2; sharesMemory(t, a) || (b !== null && sharesMemory(t, b)); k++) t = this.get(`${name}#${k}`, shape, a, b);
    return t;
  }

  /** An int32 tensor for `name` with this shape. */
  labels(name: string, shape: Shape): IntTensor {
    return pick(this.ints, name, shape, () => this.rt.labels(shape));
  }

  /** Disposes every tensor handed out (they die, views included); the Buffers may be used again after. */
  dispose(): void {
    for (const list of this.floats.values()) for (const t of list) t.dispose();
    for (const list of this.ints.values()) for (const t of list) t.dispose();
    this.floats.clear();
    this.ints.clear();
  }
}

function pick<T extends Tensor | IntTensor>(map: Map<string, T[]>, name: string, shape: Shape, make: () => T, a: Tensor | null = null, b: Tensor | null = null): T {
  let list = map.get(name);
  if (!list) map.set(name, (list = []));
  for (let i = 0; i < list.length; i++) {
    const t = list[i];
    if (t.shape.length === shape.length && t.shape.every((d, j) => d === shape[j])) {
      if (i !== 0) { list.splice(i, 1); list.unshift(t); }
      return t;
    }
  }
  const t = make();
  list.unshift(t);
  if (list.length > SHAPES_PER_NAME) {
    let victim = list.length - 1;
    const read = (t: T) => (a !== null && sharesMemory(t as Tensor, a)) || (b !== null && sharesMemory(t as Tensor, b));
    while (victim > 1 && read(list[victim])) victim--;
    list.splice(victim, 1)[0].dispose();
  }
  return t;
}
