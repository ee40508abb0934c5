import { checkPairs, type Optimizer, type Params } from './optimizer.js';

export interface SGDOptions { lr?: number }

/** Plain SGD: W -= lr · dW. */
export class SGD implements Optimizer {
  readonly name = 'SGD';
  lr: number;

  constructor({ lr = 0.01 }: SGDOptions = {}) {
    if (!(Number.isFinite(lr) && lr >= 0)) throw new RangeError(`SGD: lr must be a non-negative number, got ${lr}`);
    this.lr = lr;
  }

  update(params: Params, grads: Params): void {
    for (const k of checkPairs(this.name, params, grads)) {
      const p = params[k];
      p.rt.kernels.axpy(p.ptr, grads[k].ptr, -this.lr, p.size);
    }
  }
}
