import type { Kernels } from '../runtime/runtime.js';
import { ElementwiseOptimizer } from './optimizer.js';
import { parseOptions } from './options.js';

export interface SGDOptions { lr?: number }

/** Plain SGD: W −= lr·dW. */
export class SGD extends ElementwiseOptimizer {
  static readonly options = { lr: [0.01, 'nonNegative'] } as const;
  readonly name = 'SGD';
  lr: number;

  constructor(options: SGDOptions = {}) {
    super([]);
    ({ lr: this.lr } = parseOptions('SGD', SGD.options, options));
  }

  protected step(k: Kernels, param: number, grad: number, _state: number, _slotBytes: number, n: number): void {
    k.axpy(param, grad, -this.lr, n);
  }
}
