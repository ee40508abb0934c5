import type { PartArgs } from '../runtime/runtime.js';
import { ElementwiseOptimizer } from './optimizer.js';
import { defineOptions } from './options.js';

/**
 * Options of SGD: `lr` (default 0.01, >= 0).
 * The constructor throws a TypeError on an unknown key and a RangeError naming an out-of-range value.
 */
export interface SGDOptions { lr?: number }

/** Plain SGD: W −= lr·dW. */
export class SGD extends ElementwiseOptimizer<'axpy'> {
  protected readonly kernel = 'axpy';
  static readonly options = { lr: [0.01, 'nonNegative'] } as const;
  readonly name = 'SGD';
  declare lr: number;

  /**
   * SGD with `options` (SGDOptions: each optional, defaults as listed there), which stay settable between
   * steps (`opt.lr = 0.01`; a bad value throws). Holds no memory until its first update, which allocates its
   * state (if any) on the params' runtime. The caller owns it: dispose() frees the state.
   * @throws TypeError if options is not an object or has an unknown key; RangeError naming a value out of range.
   */
  constructor(options: SGDOptions = {}) {
    super([]);
    defineOptions(this, 'SGD', SGD.options, options);
  }

  protected step(call: PartArgs<'axpy'>, param: number, grad: number, _state: number, _slotBytes: number, n: number): void {
    call(param, grad, -this.lr, n);
  }
}
