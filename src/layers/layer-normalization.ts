// Layer normalisation: each sample normalised over all its features (the
// trailing dimensions), then scaled and shifted per feature.
import type { Tensor } from '../runtime/tensor.js';
import { SampleNormalization, type NormalizationOptions } from './sample-normalization.js';

export type { NormalizationOptions };

/** Layer normalisation: each sample over all its features, then gamma and beta per feature. gamma and beta stay the caller's. */
export class LayerNormalization extends SampleNormalization {
  readonly name = 'LayerNormalization';

  /** gamma, beta: one value per feature of a sample (C·H·W for 4-D input). */
  constructor(gamma: Tensor, beta: Tensor, options: NormalizationOptions = {}) {
    super('LayerNormalization', gamma, beta, options);
  }

  /** @internal */
  protected statsShape(x: Tensor): number[] {
    const F = this.gamma.size;
    const N = x.shape[0];
    if (x.shape.length < 2 || x.size !== N * F) {
      throw new RangeError(`LayerNormalization.forward: x must flatten to ${F} features per sample (gamma's size), got [${x.shape.join(', ')}]`);
    }
    return [N];
  }

  /** @internal */
  protected runForward(y: Tensor, mean: Tensor, invStd: Tensor, x: Tensor): void {
    x.rt.unsafeKernels.layerNormForward(y.ptr, mean.ptr, invStd.ptr, x.ptr, this.gamma.ptr, this.beta.ptr, x.shape[0], this.gamma.size, this.eps);
  }

  /** @internal */
  protected runBackward(dx: Tensor, dout: Tensor, { x, mean, invStd }: { x: Tensor; mean: Tensor; invStd: Tensor }): void {
    x.rt.unsafeKernels.layerNormBackward(dx.ptr, this.dgamma.ptr, this.dbeta.ptr, dout.ptr, x.ptr, mean.ptr, invStd.ptr, this.gamma.ptr, x.shape[0], this.gamma.size);
  }
}
