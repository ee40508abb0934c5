// Instance normalisation: each (sample, channel) plane of [N, C, H, W]
// normalised over its H·W values, then scaled and shifted per channel.
import type { Tensor } from '../runtime/tensor.js';
import { SampleNormalization, type NormalizationOptions } from './sample-normalization.js';

/** Instance normalisation of [N, C, H, W] input: each (sample, channel) plane over its H·W values, then gamma and beta per channel. gamma and beta stay the caller's. */
export class InstanceNormalization extends SampleNormalization {
  readonly name = 'InstanceNormalization';

  /** gamma, beta: one value per channel. */
  constructor(gamma: Tensor, beta: Tensor, options: NormalizationOptions = {}) {
    super('InstanceNormalization', gamma, beta, options);
  }

  /** @internal */
  protected statsShape(x: Tensor): number[] {
    const C = this.gamma.size;
    if (x.shape.length !== 4 || x.shape[1] !== C) {
      throw new RangeError(`InstanceNormalization.forward: x must be [N, ${C}, H, W] (gamma has ${C} channels), got [${x.shape.join(', ')}]`);
    }
    return [x.shape[0], C];
  }

  /** @internal */
  protected runForward(y: Tensor, mean: Tensor, invStd: Tensor, x: Tensor): void {
    const [N, C, H, W] = x.shape;
    x.rt.unsafeKernels.instanceNormForward(y.ptr, mean.ptr, invStd.ptr, x.ptr, this.gamma.ptr, this.beta.ptr, N, C, H * W, this.eps);
  }

  /** @internal */
  protected runBackward(dx: Tensor, dout: Tensor, { x, mean, invStd }: { x: Tensor; mean: Tensor; invStd: Tensor }): void {
    const [N, C, H, W] = x.shape;
    x.rt.unsafeKernels.instanceNormBackward(dx.ptr, this.dgamma.ptr, this.dbeta.ptr, dout.ptr, x.ptr, mean.ptr, invStd.ptr, this.gamma.ptr, N, C, H * W);
  }
}
