import type { PartArgs } from '../runtime/runtime.js';
import { ElementwiseOptimizer } from './optimizer.js';
import { defineOptions } from './options.js';

/**
 * Options of RMSprop: `lr` (default 0.01, >= 0), `decayRate` (default 0.99, in [0, 1)), `eps` (default 1e-7, > 0).
 * The constructor throws a TypeError on an unknown key and a RangeError naming an out-of-range value.
 */
export interface RMSpropOptions { lr?: number; decayRate?: number; eps?: number }

/** RMSprop (the book's): h = decayRate·h + (1 − decayRate)·dW²; W −= lr·dW / (√h + eps), eps = 1e-7. */
export class RMSprop extends ElementwiseOptimizer<'rmspropStep'> {
  protected readonly kernel = 'rmspropStep';
  static readonly options = { lr: [0.01, 'nonNegative'], decayRate: [0.99, 'unit'], eps: [1e-7, 'positive'] } as const;
  readonly name = 'RMSprop';
  declare lr: number;
  declare decayRate: number;
  declare eps: number;

  /**
   * RMSprop with `options` (RMSpropOptions: each optional, defaults as listed there), which stay settable between
   * steps (`opt.lr = 0.01`; a bad value throws). Holds no memory until its first update, which allocates its
   * state (if any) on the params' runtime. The caller owns it: dispose() frees the state.
   * @throws TypeError if options is not an object or has an unknown key; RangeError naming a value out of range.
   */
  constructor(options: RMSpropOptions = {}) {
    super(['h'], ['h']);
    defineOptions(this, 'RMSprop', RMSprop.options, options);
  }

  protected step(call: PartArgs<'rmspropStep'>, param: number, grad: number, state: number, _slotBytes: number, n: number): void {
    call(param, state, grad, n, this.lr, this.decayRate, 1 - this.decayRate, this.eps);
  }
}
