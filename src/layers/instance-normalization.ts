// Instance normalisation: each (sample, channel) plane of [N, C, H, W]
// normalised over its H·W values, then scaled and shifted per channel. No
// running statistics, so training and inference behave the same.
import type { Layer } from './layer.js';
import { Buffers } from './buffers.js';
import type { Tensor } from '../runtime/tensor.js';
import { normalizationSetup, type NormalizationOptions } from './layer-normalization.js';

export class InstanceNormalization implements Layer {
  readonly name = 'InstanceNormalization';
  readonly params: Readonly<Record<string, Tensor>>;
  readonly grads: Readonly<Record<string, Tensor>>;
  readonly dgamma: Tensor;
  readonly dbeta: Tensor;
  readonly eps: number;
  private readonly owned: Tensor[];
  private readonly buffers: Buffers;
  private saved: { x: Tensor; mean: Tensor; invStd: Tensor } | null = null;

  /** gamma, beta: one value per channel. */
  constructor(readonly gamma: Tensor, readonly beta: Tensor, options: NormalizationOptions = {}) {
    const s = normalizationSetup('InstanceNormalization', gamma, beta, options);
    this.eps = s.eps;
    this.dgamma = s.dgamma;
    this.dbeta = s.dbeta;
    this.owned = s.owned;
    this.buffers = new Buffers(gamma.rt);
    this.params = { gamma, beta };
    this.grads = { gamma: this.dgamma, beta: this.dbeta };
  }

  forward(x: Tensor, _train = false): Tensor {
    const C = this.gamma.size;
    if (x.shape.length !== 4 || x.shape[1] !== C) {
      throw new RangeError(`InstanceNormalization.forward: x must be [N, ${C}, H, W] (gamma has ${C} channels), got [${x.shape.join(', ')}]`);
    }
    const [N, , H, W] = x.shape;
    const y = this.buffers.get('out', x.shape);
    const mean = this.buffers.get('mean', [N, C]);
    const invStd = this.buffers.get('invStd', [N, C]);
    x.rt.kernels.instanceNormForward(y.ptr, mean.ptr, invStd.ptr, x.ptr, this.gamma.ptr, this.beta.ptr, N, C, H * W, this.eps);
    this.saved = { x, mean, invStd };
    return y;
  }

  backward(dout: Tensor): Tensor {
    const s = this.saved;
    if (!s) throw new Error('InstanceNormalization.backward: call forward first');
    const { x, mean, invStd } = s;
    if (dout.size !== x.size) throw new RangeError(`InstanceNormalization.backward: dout must be [${x.shape.join(', ')}], got [${dout.shape.join(', ')}]`);
    const k = x.rt.kernels;
    const [N, C, H, W] = x.shape;
    const dx = this.buffers.get('dx', x.shape);
    // the kernel accumulates over samples (so sample ranges can be split)
    k.fill(this.dgamma.ptr, 0, C);
    k.fill(this.dbeta.ptr, 0, C);
    k.instanceNormBackward(dx.ptr, this.dgamma.ptr, this.dbeta.ptr, dout.ptr, x.ptr, mean.ptr, invStd.ptr, this.gamma.ptr, N, C, H * W);
    return dx;
  }

  dispose(): void {
    this.buffers.dispose();
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
    this.saved = null;
  }
}
