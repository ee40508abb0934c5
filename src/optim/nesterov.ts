import type { PartArgs } from '../runtime/runtime.js';
import { ElementwiseOptimizer } from './optimizer.js';
import { defineOptions } from './options.js';

/**
 * Options of Nesterov: `lr` (default 0.01, >= 0), `momentum` (default 0.9, in [0, 1)).
 * The constructor throws a TypeError on an unknown key and a RangeError naming an out-of-range value.
 */
export interface NesterovOptions { lr?: number; momentum?: number }

/**
 * Nesterov's accelerated gradient in the book's form (common/optimizer.py since its 2021 fix; PyTorch's
 * nesterov=True while lr is constant): W += momentum²·v − (1 + momentum)·lr·dW; then v = momentum·v − lr·dW.
 */
export class Nesterov extends ElementwiseOptimizer<'nesterovStep'> {
  protected readonly kernel = 'nesterovStep';
  static readonly options = { lr: [0.01, 'nonNegative'], momentum: [0.9, 'unit'] } as const;
  readonly name = 'Nesterov';
  declare lr: number;
  declare momentum: number;

  /**
   * Nesterov with `options` (NesterovOptions: each optional, defaults as listed there), which stay settable between
   * steps (`opt.lr = 0.01`; a bad value throws). Holds no memory until its first update, which allocates its
   * state (if any) on the params' runtime. The caller owns it: dispose() frees the state.
   * @throws TypeError if options is not an object or has an unknown key; RangeError naming a value out of range.
   */
  constructor(options: NesterovOptions = {}) {
    super(['v']);
    defineOptions(this, 'Nesterov', Nesterov.options, options);
  }

  protected step(call: PartArgs<'nesterovStep'>, param: number, grad: number, state: number, _slotBytes: number, n: number): void {
    call(param, state, grad, n, this.lr, this.momentum);
  }
}
