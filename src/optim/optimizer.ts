// The book's optimizer contract: update(params, grads) changes params in place.
import type { Tensor } from '../runtime/tensor.js';

export type Params = Readonly<Record<string, Tensor>>;

export interface Optimizer {
  readonly name: string;
  update(params: Params, grads: Params): void;
}

/** Checks that params and grads have the same keys and shapes. */
export function checkPairs(who: string, params: Params, grads: Params): string[] {
  const keys = Object.keys(params);
  for (const k of keys) {
    const p = params[k];
    const g = grads[k];
    if (!g) throw new Error(`${who}.update: grads has no '${k}' (params has keys ${keys.join(', ')})`);
    if (g.size !== p.size) {
      throw new RangeError(`${who}.update: grads['${k}'] has shape [${g.shape.join(', ')}], expected [${p.shape.join(', ')}] like params['${k}']`);
    }
  }
  return keys;
}
