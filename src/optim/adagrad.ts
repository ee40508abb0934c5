import type { PartArgs } from '../runtime/runtime.js';
import { ElementwiseOptimizer } from './optimizer.js';
import { defineOptions } from './options.js';

/**
 * Options of AdaGrad: `lr` (default 0.01, >= 0), `eps` (default 1e-7, > 0).
 * The constructor throws a TypeError on an unknown key and a RangeError naming an out-of-range value.
 */
export interface AdaGradOptions { lr?: number; eps?: number }

/** AdaGrad (the book's): h += dW²; W −= lr·dW / (√h + eps), eps = 1e-7. */
export class AdaGrad extends ElementwiseOptimizer<'adagradStep'> {
  protected readonly kernel = 'adagradStep';
  static readonly options = { lr: [0.01, 'nonNegative'], eps: [1e-7, 'positive'] } as const;
  readonly name = 'AdaGrad';
  declare lr: number;
  declare eps: number;

  /**
   * AdaGrad with `options` (AdaGradOptions: each optional, defaults as listed there), which stay settable between
   * steps (`opt.lr = 0.01`; a bad value throws). Holds no memory until its first update, which allocates its
   * state (if any) on the params' runtime. The caller owns it: dispose() frees the state.
   * @throws TypeError if options is not an object or has an unknown key; RangeError naming a value out of range.
   */
  constructor(options: AdaGradOptions = {}) {
    super(['h'], ['h']);
    defineOptions(this, 'AdaGrad', AdaGrad.options, options);
  }

  protected step(call: PartArgs<'adagradStep'>, param: number, grad: number, state: number, _slotBytes: number, n: number): void {
    call(param, state, grad, n, this.lr, this.eps);
  }
}
