import type { PartArgs } from '../runtime/runtime.js';
import { ElementwiseOptimizer } from './optimizer.js';
import { defineOptions } from './options.js';
import { exactPowInt } from '../runtime/exact-math.js';

/**
 * Options of Adam: `lr` (default 0.001, >= 0), `beta1` (0.9) and `beta2` (0.999), each in [0, 1), `eps` (default 1e-7, > 0).
 * The constructor throws a TypeError on an unknown key and a RangeError naming an out-of-range value.
 */
export interface AdamOptions { lr?: number; beta1?: number; beta2?: number; eps?: number }

/**
 * Adam (the book's): m += (1 − beta1)·(dW − m); v += (1 − beta2)·(dW² − v);
 * W −= lr_t·m / (√v + eps), with the bias correction folded into
 * lr_t = lr·√(1 − beta2ᵗ)/(1 − beta1ᵗ) (float64, once per step; betaᵗ by exactPowInt, the same bits
 * on every engine) and eps = 1e-7.
 */
export class Adam extends ElementwiseOptimizer<'adamStep'> {
  protected readonly kernel = 'adamStep';
  static readonly options = { lr: [0.001, 'nonNegative'], beta1: [0.9, 'unit'], beta2: [0.999, 'unit'], eps: [1e-7, 'positive'] } as const;
  readonly name = 'Adam';
  declare lr: number;
  declare beta1: number;
  declare beta2: number;
  declare eps: number;
  private lrT = 0;

  /**
   * Adam with `options` (AdamOptions: each optional, defaults as listed there), which stay settable between
   * steps (`opt.lr = 0.01`; a bad value throws). Holds no memory until its first update, which allocates its
   * state (if any) on the params' runtime. The caller owns it: dispose() frees the state.
   * @throws TypeError if options is not an object or has an unknown key; RangeError naming a value out of range.
   */
  constructor(options: AdamOptions = {}) {
    super(['m', 'v'], ['v']);
    defineOptions(this, 'Adam', Adam.options, options);
  }

  protected beginStep(t: number): void {
    this.lrT = this.lr * Math.sqrt(1 - exactPowInt(this.beta2, t)) / (1 - exactPowInt(this.beta1, t));
  }

  protected step(call: PartArgs<'adamStep'>, param: number, grad: number, state: number, slotBytes: number, n: number): void {
    call(param, state, state + slotBytes, grad, n, this.lrT, 1 - this.beta1, 1 - this.beta2, this.eps);
  }
}
