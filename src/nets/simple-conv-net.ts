// The book's SimpleConvNet (ch07): Conv -> ReLU -> Pool(2×2, stride 2) ->
// Affine -> ReLU -> Affine -> SoftmaxWithLoss. Keys W1/b1 (conv), W2/b2, W3/b3.
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import type { WeightInit } from './init.js';
import { describeValue } from '../runtime/tensor.js';
import { orDefault, positiveInteger, readClassWeights, readOptions } from './net-options.js';
import { checkInit } from './multi-layer-net.js';
import { Sequential } from './sequential.js';
import { buildStack, checkInputDim, type ConvParam } from './conv-stack.js';
import type { NetSpec } from './registry.js';
import { checkLabelSmoothing } from '../layers/softmax-with-loss.js';

/**
 * Options of SimpleConvNet (the book's conv → relu → pool → affine → relu → affine); the
 * constructor throws a TypeError on an unknown key (of the options or of convParam) and a
 * TypeError/RangeError naming a bad value, before it allocates. It reads each option (and each element
 * of inputDim and convParam) once: the net is built from that read, and records it as its spec.
 */
export interface SimpleConvNetOptions {
  /** [C, H, W]; default [1, 28, 28]. */
  inputDim?: readonly number[];
  /** Default { filterNum: 30, filterSize: 5, pad: 0, stride: 1 }. */
  convParam?: ConvParam;
  /** Width of the hidden Affine layer; default 100. */
  hiddenSize?: number;
  /** Classes; default 10. */
  outputSize?: number;
  /** Std of every weight's Gaussian (default 0.01, as the book), or 'he'/'xavier' from each fan-in. */
  weightInitStd?: WeightInit;
  /** Label smoothing ε in [0, 1] of the net's loss (PyTorch's and Keras's `label_smoothing`): targets t·(1 − ε) + ε/classes; default 0. */
  labelSmoothing?: number;
  /** One weight per class of the net's loss, finite, ≥ 0, not all 0 (PyTorch's `CrossEntropyLoss(weight)`, Keras's `class_weight`; SoftmaxWithLossOptions.classWeights); default none. */
  classWeights?: readonly number[] | Float32Array | Float64Array;
}

const KEYS = new Set(['inputDim', 'convParam', 'hiddenSize', 'outputSize', 'weightInitStd', 'labelSmoothing', 'classWeights']);
const CONV_KEYS = new Set(['filterNum', 'filterSize', 'pad', 'stride']);

/**
 * @internal A conv layer's params read once (a plain copy) and their types checked: an object of
 * filterNum, filterSize (numbers), pad and stride (numbers, optional), or a TypeError naming `who`
 * and `what`. Their values are checked by buildStack.
 */
export function readConvParam(who: string, what: string, v: unknown): ConvParam {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`${who}: ${what} must be { filterNum, filterSize, pad?, stride? }, got ${describeValue(v)}`);
  const p = readOptions(`${who}: ${what}`, v, CONV_KEYS);
  for (const key of ['filterNum', 'filterSize', 'pad', 'stride']) {
    const optional = key === 'pad' || key === 'stride';
    if (typeof p[key] !== 'number' && !(optional && p[key] === undefined)) {
      throw new TypeError(`${who}: ${what}.${key} must be a ${key === 'pad' ? 'non-negative' : 'positive'} integer, got ${describeValue(p[key])}`);
    }
  }
  return p as unknown as ConvParam;
}

/**
 * @internal SimpleConvNet's options read once (the net is built from this copy and records it as its spec) and
 * checked, without a runtime: the constructor and netTensorShapes both call it, so both refuse the same. Whether
 * the layers fit the input is buildStack's (and netTensorShapes') to say.
 */
export function readSimpleConvNetOptions(options: unknown): {
  spec: NetSpec; inputDim: [number, number, number]; convParam: ConvParam; hiddenSize: number; outputSize: number; weightInitStd: WeightInit;
  labelSmoothing: number; classWeights: number[] | null;
} {
  const who = 'SimpleConvNet';
  const o = readOptions(who, options, KEYS);
  const inputDim = checkInputDim(who, orDefault(o.inputDim, [1, 28, 28]));
  const convParam = readConvParam(who, 'convParam', orDefault(o.convParam, { filterNum: 30, filterSize: 5, pad: 0, stride: 1 }));
  const hiddenSize = positiveInteger(who, 'hiddenSize', orDefault(o.hiddenSize, 100));
  const outputSize = positiveInteger(who, 'outputSize', orDefault(o.outputSize, 10));
  const weightInitStd = checkInit(who, orDefault(o.weightInitStd, 0.01));
  const labelSmoothing = checkLabelSmoothing(who, orDefault(o.labelSmoothing, 0));
  const classWeights = readClassWeights(who, o.classWeights, outputSize, 'outputSize');
  // plain JSON of checked numbers and strings: the options given (undefined values dropped, as JSON.stringify does)
  const given: Record<string, unknown> = { ...o };
  if (o.inputDim !== undefined) given.inputDim = inputDim;
  if (o.convParam !== undefined) given.convParam = convParam;
  if (classWeights !== null) given.classWeights = classWeights;
  const spec: NetSpec = { kind: 'simple-conv', options: JSON.parse(JSON.stringify(given)) };
  return { spec, inputDim, convParam, hiddenSize, outputSize, weightInitStd, labelSmoothing, classWeights };
}

/**
 * The book's SimpleConvNet (ch07): Convolution → ReLU → 2×2 max Pooling (stride 2) → Affine → ReLU → Affine
 * → SoftmaxWithLoss, on [N, C, H, W] images; parameters W1/b1 (the convolution), W2/b2, W3/b3. A named net:
 * `spec` rebuilds it (buildNet) and saveModel records it.
 */
export class SimpleConvNet extends Sequential {
  /** What rebuilds this net (`buildNet(rt, net.spec)`): its kind and constructor options, plain JSON. */
  readonly spec: NetSpec;
  readonly inputDim: readonly number[];

  /**
   * Builds the net on `rt` (defaults: 1×28×28 input, 30 filters of 5×5, 100 hidden, 10 classes), weights drawn
   * from rt's seeded stream (std 0.01 as the book, or `options.weightInitStd`), biases zero. The net owns its
   * parameters and gradients (a block of each): dispose() frees them.
   * @throws TypeError if rt is not a Runtime; TypeError/RangeError naming a bad option (see
   * SimpleConvNetOptions) or a layer the input does not fit, before anything is allocated; OutOfMemoryError
   * (a RangeError) when rt's memory cannot hold the parameters.
   */
  constructor(rt: Runtime, options: SimpleConvNetOptions = {}) {
    const who = 'SimpleConvNet';
    checkRuntime(rt, who);
    const { spec, inputDim, convParam, hiddenSize, outputSize, weightInitStd, labelSmoothing, classWeights } = readSimpleConvNetOptions(options);
    const { layers, parameterSet } = buildStack(rt, who, inputDim, [
      { kind: 'conv', ...convParam, option: 'convParam' },
      { kind: 'relu' },
      { kind: 'pool', size: 2, stride: 2 },
      { kind: 'affine', size: hiddenSize, option: 'hiddenSize' },
      { kind: 'relu' },
      { kind: 'affine', size: outputSize, option: 'outputSize' },
    ], weightInitStd);
    // evaluate in chunks of 100 so the layers reuse their training-batch buffers
    super(rt, layers, { parameterSet, evalBatchSize: 100, inputShape: inputDim, labelSmoothing, ...(classWeights && { classWeights }) });
    this.spec = spec;
    this.inputDim = [...inputDim];
  }
}
