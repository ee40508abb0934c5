// Builds a layer stack for image input from a short description: tracks the
// [C, H, W] shape through it, allocates every weight and bias in one
// ParameterSet (W{i}, b{i} in order, as Sequential keys them) and initialises
// W with a Gaussian whose std depends on the layer's fan-in (C·FH·FW for a
// convolution, the input size for an affine layer); biases start at 0.
import { Affine } from '../layers/affine.js';
import { Relu } from '../layers/activations.js';
import { Convolution, checkStridePad, convOutputSize } from '../layers/convolution.js';
import { Dropout } from '../layers/dropout.js';
import { Flatten } from '../layers/flatten.js';
import type { Layer } from '../layers/layer.js';
import { Pooling } from '../layers/pooling.js';
import type { Runtime } from '../runtime/runtime.js';
import { describeValue, shown } from '../runtime/tensor.js';
import { initStd, type WeightInit } from './init.js';
import { positiveInteger } from './net-options.js';
import { ParameterSet } from './parameters.js';

/** The book's conv_param: { filter_num, filter_size, pad, stride }. */
export interface ConvParam {
  filterNum: number;
  filterSize: number;
  pad?: number;
  stride?: number;
}

export type StackItem =
  | ({ kind: 'conv'; option?: string } & ConvParam)
  | { kind: 'pool'; size: number; stride: number }
  // option: the net's constructor option the value came from, which its error then names
  | { kind: 'affine'; size: number; option?: string }
  | { kind: 'relu' }
  | { kind: 'dropout'; ratio: number; option?: string }
  | { kind: 'flatten' };

export interface Stack {
  layers: Layer[];
  parameterSet: ParameterSet;
}

/** inputDim read once and checked: [C, H, W] of positive integers, or a TypeError (not an array, a non-number) / RangeError naming `who`. */
export function checkInputDim(who: string, inputDim: unknown): [number, number, number] {
  const expected = `${who}: inputDim must be [C, H, W] of positive integers`;
  // each element read once, and shown without formatting what cannot be (a Symbol, a BigInt)
  if (!Array.isArray(inputDim)) throw new TypeError(`${expected}, got ${describeValue(inputDim)}`);
  const n = inputDim.length;
  if (n !== 3) throw new RangeError(`${expected}, got ${n <= 8 ? `[${Array.from({ length: n }, (_, i) => shown(inputDim[i])).join(', ')}]` : describeValue(inputDim)}`);
  const dims: unknown[] = [inputDim[0], inputDim[1], inputDim[2]];
  if (!dims.every((d) => typeof d === 'number')) throw new TypeError(`${expected}, got [${dims.map(shown).join(', ')}]`);
  if (!dims.every((d) => Number.isInteger(d) && (d as number) > 0)) throw new RangeError(`${expected}, got [${dims.join(', ')}]`);
  return dims as [number, number, number];
}

export function buildStack(rt: Runtime, who: string, inputDim: unknown, items: readonly StackItem[], init: WeightInit): Stack {
  let shape: number[] = checkInputDim(who, inputDim);
  const specs: Array<readonly [string, number[]]> = [];
  const fanIns: number[] = [];
  // first pass: shapes and parameter specs (so every error comes before any
  // allocation), and each item's weight index (0 if it has none)
  const weightIndex = items.map((item, n) => {
    const at = `${who}: layer ${n + 1} (${item.kind})`;
    const i = fanIns.length + 1;
    switch (item.kind) {
      case 'conv': {
        const where = item.option ? `${who}: ${item.option} (layer ${n + 1})` : at;
        if (shape.length !== 3) throw new RangeError(`${where}: needs [C, H, W] input, got [${shape.join(', ')}]`);
        const [C, H, W] = shape;
        const FN = positiveInteger(where, 'filterNum', item.filterNum);
        const F = positiveInteger(where, 'filterSize', item.filterSize);
        const stride = item.stride ?? 1, pad = item.pad ?? 0;
        checkStridePad(where, stride, pad);
        const OH = convOutputSize(H, F, stride, pad), OW = convOutputSize(W, F, stride, pad);
        if (!(OH >= 1 && OW >= 1)) throw new RangeError(`${where}: a ${F}×${F} filter with pad ${pad} does not fit a ${H}×${W} input`);
        specs.push([`W${i}`, [FN, C, F, F]], [`b${i}`, [FN]]);
        fanIns.push(C * F * F);
        shape = [FN, OH, OW];
        return i;
      }
      case 'pool': {
        if (shape.length !== 3) throw new RangeError(`${at}: needs [C, H, W] input, got [${shape.join(', ')}]`);
        const [C, H, W] = shape;
        positiveInteger(at, 'size', item.size);
        positiveInteger(at, 'stride', item.stride);
        const OH = convOutputSize(H, item.size, item.stride, 0), OW = convOutputSize(W, item.size, item.stride, 0);
        if (!(OH >= 1 && OW >= 1)) throw new RangeError(`${at}: a ${item.size}×${item.size} window does not fit a ${H}×${W} input`);
        shape = [C, OH, OW];
        return 0;
      }
      case 'affine': {
        const D = shape.reduce((a, b) => a * b, 1);
        const size = item.option ? positiveInteger(who, item.option, item.size) : positiveInteger(at, 'size', item.size);
        specs.push([`W${i}`, [D, size]], [`b${i}`, [size]]);
        fanIns.push(D);
        shape = [size];
        return i;
      }
      case 'flatten':
        shape = [shape.reduce((a, b) => a * b, 1)];
        return 0;
      case 'dropout':
        if (typeof item.ratio !== 'number') throw new TypeError(`${item.option ? `${who}: ${item.option}` : `${at}: ratio`} must be a number in [0, 1), got ${describeValue(item.ratio)}`);
        if (!(item.ratio >= 0 && item.ratio < 1)) throw new RangeError(`${item.option ? `${who}: ${item.option}` : `${at}: ratio`} must be in [0, 1), got ${item.ratio}`);
        return 0;
      case 'relu':
        return 0;
      default:
        throw new TypeError(`${at}: unknown kind`);
    }
  });
  const stds = fanIns.map((n) => initStd(init, n, who));
  const set = new ParameterSet(rt, specs);
  stds.forEach((std, j) => rt.randn(set.params[`W${j + 1}`], std));
  const layers = items.map((item, n): Layer => {
    const i = weightIndex[n];
    const W = set.params[`W${i}`], b = set.params[`b${i}`];
    const grads = { dW: set.grads[`W${i}`], db: set.grads[`b${i}`] };
    switch (item.kind) {
      case 'conv': return new Convolution(W, b, item.stride ?? 1, item.pad ?? 0, grads);
      case 'affine': return new Affine(W, b, grads);
      case 'pool': return new Pooling(item.size, item.size, item.stride, 0);
      case 'relu': return new Relu();
      case 'dropout': return new Dropout(item.ratio);
      case 'flatten': return new Flatten();
    }
  });
  return { layers, parameterSet: set };
}
