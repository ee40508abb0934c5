import type { PartArgs } from '../runtime/runtime.js';
import { ElementwiseOptimizer } from './optimizer.js';
import { defineOptions } from './options.js';

/**
 * Options of AdaDelta: `lr` (default 1.0, >= 0), `rho` (default 0.95, in [0, 1]), `eps` (default 1e-6, > 0).
 * The constructor throws a TypeError on an unknown key and a RangeError naming an out-of-range value.
 */
export interface AdaDeltaOptions { lr?: number; rho?: number; eps?: number }

/**
 * AdaDelta (Zeiler 2012, with PyTorch's lr multiplier; not in the book):
 * h = rho·h + (1 − rho)·dW²; Δ = √(d + eps)/√(h + eps)·dW; d = rho·d + (1 − rho)·Δ²; W −= lr·Δ.
 */
export class AdaDelta extends ElementwiseOptimizer<'adadeltaStep'> {
  protected readonly kernel = 'adadeltaStep';
  static readonly options = { lr: [1.0, 'nonNegative'], rho: [0.95, 'closedUnit'], eps: [1e-6, 'positive'] } as const;
  readonly name = 'AdaDelta';
  declare lr: number;
  declare rho: number;
  declare eps: number;

  /**
   * AdaDelta with `options` (AdaDeltaOptions: each optional, defaults as listed there), which stay settable between
   * steps (`opt.lr = 0.01`; a bad value throws). Holds no memory until its first update, which allocates its
   * state (if any) on the params' runtime. The caller owns it: dispose() frees the state.
   * @throws TypeError if options is not an object or has an unknown key; RangeError naming a value out of range.
   */
  constructor(options: AdaDeltaOptions = {}) {
    super(['h', 'd'], ['h', 'd']);
    defineOptions(this, 'AdaDelta', AdaDelta.options, options);
  }

  protected step(call: PartArgs<'adadeltaStep'>, param: number, grad: number, state: number, slotBytes: number, n: number): void {
    call(param, state, state + slotBytes, grad, n, this.lr, this.rho, 1 - this.rho, this.eps);
  }
}
