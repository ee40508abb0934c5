import type { PartArgs } from '../runtime/runtime.js';
import { ElementwiseOptimizer } from './optimizer.js';
import { defineOptions } from './options.js';
import { exactPowInt } from '../runtime/exact-math.js';

/**
 * Options of AdamW: `lr` (default 0.001, >= 0), `beta1` (0.9) and `beta2` (0.999), each in [0, 1), `eps` (default 1e-8, > 0), `weightDecay` (default 0.01, >= 0).
 * The constructor throws a TypeError on an unknown key and a RangeError naming an out-of-range value.
 */
export interface AdamWOptions { lr?: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number }

/**
 * AdamW (Loshchilov & Hutter, as PyTorch's): W *= 1 − lr·weightDecay;
 * m += (1 − beta1)·(dW − m); v = beta2·v + (1 − beta2)·dW²;
 * W −= lr/(1 − beta1ᵗ) · m / (√v / √(1 − beta2ᵗ) + eps).
 */
export class AdamW extends ElementwiseOptimizer<'adamwStep'> {
  protected readonly kernel = 'adamwStep';
  static readonly options = {
    lr: [0.001, 'nonNegative'], beta1: [0.9, 'unit'], beta2: [0.999, 'unit'], eps: [1e-8, 'positive'], weightDecay: [0.01, 'nonNegative'],
  } as const;
  readonly name = 'AdamW';
  declare lr: number;
  declare beta1: number;
  declare beta2: number;
  declare eps: number;
  declare weightDecay: number;
  private decay = 1;
  private stepSize = 0;
  private bc2Sqrt = 1;

  /**
   * AdamW with `options` (AdamWOptions: each optional, defaults as listed there), which stay settable between
   * steps (`opt.lr = 0.01`; a bad value throws). Holds no memory until its first update, which allocates its
   * state (if any) on the params' runtime. The caller owns it: dispose() frees the state.
   * @throws TypeError if options is not an object or has an unknown key; RangeError naming a value out of range.
   */
  constructor(options: AdamWOptions = {}) {
    super(['m', 'v'], ['v']);
    defineOptions(this, 'AdamW', AdamW.options, options);
  }

  protected beginStep(t: number): void {
    this.decay = 1 - this.lr * this.weightDecay;
    this.stepSize = this.lr / (1 - exactPowInt(this.beta1, t));
    this.bc2Sqrt = Math.sqrt(1 - exactPowInt(this.beta2, t));
  }

  protected step(call: PartArgs<'adamwStep'>, param: number, grad: number, state: number, slotBytes: number, n: number): void {
    call(param, state, state + slotBytes, grad, n, this.decay, this.stepSize, this.bc2Sqrt, 1 - this.beta1, this.beta2, 1 - this.beta2, this.eps);
  }
}
