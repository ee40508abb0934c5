// Layer normalisation: each sample normalised over all its features (the
// trailing dimensions), then scaled and shifted per feature. No running
// statistics, so training and inference behave the same.
import type { Layer } from './layer.js';
import { Buffers } from './buffers.js';
import type { Tensor } from '../runtime/tensor.js';

export interface NormalizationOptions {
  /** Added to the variance inside the square root; default 1e-5. */
  eps?: number;
  /** Gradient tensors to fill (e.g. views on a net's gradient arena); default: the layer's own. */
  dgamma?: Tensor;
  dbeta?: Tensor;
}

/** Checks options and gamma/beta/grads sizes; allocates the gradients not given. */
export function normalizationSetup(who: string, gamma: Tensor, beta: Tensor, options: NormalizationOptions) {
  for (const key of Object.keys(options)) {
    if (key !== 'eps' && key !== 'dgamma' && key !== 'dbeta') throw new TypeError(`${who}: unknown option '${key}' (expected one of eps, dgamma, dbeta)`);
  }
  const { eps = 1e-5, dgamma, dbeta } = options;
  if (!(Number.isFinite(eps) && eps > 0)) throw new RangeError(`${who}: eps must be a positive number, got ${eps}`);
  for (const [what, t] of Object.entries({ beta, dgamma, dbeta })) {
    if (t && t.size !== gamma.size) throw new RangeError(`${who}: ${what} must have ${gamma.size} elements like gamma, got [${t.shape.join(', ')}]`);
  }
  const owned: Tensor[] = [];
  const own = (t: Tensor | undefined): Tensor => {
    if (t) return t;
    const made = gamma.rt.tensor(gamma.shape);
    owned.push(made);
    return made;
  };
  return { eps, dgamma: own(dgamma), dbeta: own(dbeta), owned };
}

export class LayerNormalization implements Layer {
  readonly name = 'LayerNormalization';
  readonly params: Readonly<Record<string, Tensor>>;
  readonly grads: Readonly<Record<string, Tensor>>;
  readonly dgamma: Tensor;
  readonly dbeta: Tensor;
  readonly eps: number;
  private readonly owned: Tensor[];
  private readonly buffers: Buffers;
  private saved: { x: Tensor; mean: Tensor; invStd: Tensor } | null = null;

  /** gamma, beta: one value per feature of a sample (C·H·W for 4-D input). */
  constructor(readonly gamma: Tensor, readonly beta: Tensor, options: NormalizationOptions = {}) {
    const s = normalizationSetup('LayerNormalization', gamma, beta, options);
    this.eps = s.eps;
    this.dgamma = s.dgamma;
    this.dbeta = s.dbeta;
    this.owned = s.owned;
    this.buffers = new Buffers(gamma.rt);
    this.params = { gamma, beta };
    this.grads = { gamma: this.dgamma, beta: this.dbeta };
  }

  forward(x: Tensor, _train = false): Tensor {
    const F = this.gamma.size;
    const N = x.shape[0];
    if (x.shape.length < 2 || x.size !== N * F) {
      throw new RangeError(`LayerNormalization.forward: x must flatten to ${F} features per sample (gamma's size), got [${x.shape.join(', ')}]`);
    }
    const y = this.buffers.get('out', x.shape);
    const mean = this.buffers.get('mean', [N]);
    const invStd = this.buffers.get('invStd', [N]);
    x.rt.kernels.layerNormForward(y.ptr, mean.ptr, invStd.ptr, x.ptr, this.gamma.ptr, this.beta.ptr, N, F, this.eps);
    this.saved = { x, mean, invStd };
    return y;
  }

  backward(dout: Tensor): Tensor {
    const s = this.saved;
    if (!s) throw new Error('LayerNormalization.backward: call forward first');
    const { x, mean, invStd } = s;
    if (dout.size !== x.size) throw new RangeError(`LayerNormalization.backward: dout must be [${x.shape.join(', ')}], got [${dout.shape.join(', ')}]`);
    const k = x.rt.kernels;
    const F = this.gamma.size;
    const dx = this.buffers.get('dx', x.shape);
    // the kernel accumulates over samples (so sample ranges can be split)
    k.fill(this.dgamma.ptr, 0, F);
    k.fill(this.dbeta.ptr, 0, F);
    k.layerNormBackward(dx.ptr, this.dgamma.ptr, this.dbeta.ptr, dout.ptr, x.ptr, mean.ptr, invStd.ptr, this.gamma.ptr, x.shape[0], F);
    return dx;
  }

  dispose(): void {
    this.buffers.dispose();
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
    this.saved = null;
  }
}
