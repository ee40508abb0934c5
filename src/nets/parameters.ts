// A net's parameters and gradients, each set in one contiguous block of the
// linear memory, so an optimizer step can be one kernel call over the block.
// Every tensor starts on a 16-float boundary; the zero padding between them is
// harmless to any elementwise update (its gradient is zero).
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { describeValue, shapeSize, type Tensor, type Shape } from '../runtime/tensor.js';

const PAD = 16;

/**
 * A net's parameters and gradients, each set in one contiguous block (one optimizer kernel call
 * over all of them). `params` and `grads` are views of the blocks (zero-filled at first) that die
 * with the set; the owner (its net) frees both blocks with dispose().
 * The constructor throws a TypeError/RangeError on a bad shape, and a RangeError when memory runs out (allocating nothing).
 */
export class ParameterSet {
  readonly params: Record<string, Tensor> = {};
  readonly grads: Record<string, Tensor> = {};
  /** The blocks: `size` floats at `paramPtr` and at `gradPtr`. */
  readonly paramPtr: number;
  readonly gradPtr: number;
  readonly size: number;
  private readonly block: Tensor;
  private readonly gradBlock: Tensor;

  /** A set on `rt` of a tensor per [name, shape] of `specs`, laid out in that order, each starting on a 16-float boundary. */
  constructor(rt: Runtime, specs: ReadonlyArray<readonly [string, Shape]>) {
    checkRuntime(rt, 'ParameterSet');
    if (!Array.isArray(specs)) throw new TypeError(`ParameterSet: specs must be an array of [name, shape], got ${describeValue(specs)}`);
    let total = 0;
    const offsets: number[] = [];
    for (const [, shape] of specs) {
      offsets.push(total);
      total += Math.ceil(shapeSize(shape) / PAD) * PAD;
    }
    this.size = total;
    this.block = rt.tensor([total]);
    try {
      this.gradBlock = rt.tensor([total]);
    } catch (e) {
      this.block.dispose(); // out of memory: leave nothing behind
      throw e;
    }
    this.paramPtr = this.block.ptr;
    this.gradPtr = this.gradBlock.ptr;
    specs.forEach(([name, shape], i) => {
      this.params[name] = this.block.view(offsets[i], shape);
      this.grads[name] = this.gradBlock.view(offsets[i], shape);
    });
  }

  /** Frees both blocks; every tensor in `params` and `grads` dies with them. */
  dispose(): void {
    this.block.dispose();
    this.gradBlock.dispose();
  }
}
