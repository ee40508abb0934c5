// The book's DeepConvNet (ch08): (Conv-ReLU-Conv-ReLU-Pool) ×3 with 16, 16,
// 32, 32, 64, 64 filters of 3×3 (the 4th with pad 2), then Affine(50) -> ReLU
// -> Dropout(0.5) -> Affine(10) -> Dropout(0.5). He initialisation per layer:
// std = sqrt(2 / fan-in), fan-in = C·3·3 for a conv (the book's pre_node_nums).
// Trained with Adam in the book (lr 0.001). Keys W1/b1 … W8/b8.
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { describeValue } from '../runtime/tensor.js';
import { orDefault, positiveInteger, readClassWeights, readOptions } from './net-options.js';
import { readConvParam } from './simple-conv-net.js';
import { Sequential } from './sequential.js';
import { buildStack, checkInputDim, type ConvParam, type StackItem } from './conv-stack.js';
import type { NetSpec } from './registry.js';
import { checkLabelSmoothing } from '../layers/softmax-with-loss.js';

/**
 * Options of DeepConvNet (the book's deep_convnet, He-initialised); the constructor throws a
 * TypeError on an unknown key (of the options or of a conv layer's params), a RangeError unless
 * convParams lists 6 layers, and a TypeError/RangeError naming any other bad value, before it allocates.
 * It reads each option (and each element of inputDim and convParams) once: the net is built from that
 * read, and records it as its spec.
 */
export interface DeepConvNetOptions {
  /** [C, H, W]; default [1, 28, 28]. */
  inputDim?: readonly number[];
  /** The six conv layers' params (the book's conv_param_1 … conv_param_6). */
  convParams?: readonly ConvParam[];
  /** Width of the hidden Affine layer; default 50. */
  hiddenSize?: number;
  /** Classes; default 10. */
  outputSize?: number;
  /** Label smoothing ε in [0, 1] of the net's loss (PyTorch's and Keras's `label_smoothing`): targets t·(1 − ε) + ε/classes; default 0. */
  labelSmoothing?: number;
  /** One weight per class of the net's loss, finite, ≥ 0, not all 0 (PyTorch's `CrossEntropyLoss(weight)`, Keras's `class_weight`; SoftmaxWithLossOptions.classWeights); default none. */
  classWeights?: readonly number[] | Float32Array | Float64Array;
}

/** The book's six conv layers of DeepConvNet (the default convParams): 3×3 filters, 16, 16, 32, 32, 64, 64 of them. */
export const deepConvNetParams: readonly ConvParam[] = [
  { filterNum: 16, filterSize: 3, pad: 1, stride: 1 },
  { filterNum: 16, filterSize: 3, pad: 1, stride: 1 },
  { filterNum: 32, filterSize: 3, pad: 1, stride: 1 },
  { filterNum: 32, filterSize: 3, pad: 2, stride: 1 },
  { filterNum: 64, filterSize: 3, pad: 1, stride: 1 },
  { filterNum: 64, filterSize: 3, pad: 1, stride: 1 },
];

const KEYS = new Set(['inputDim', 'convParams', 'hiddenSize', 'outputSize', 'labelSmoothing', 'classWeights']);

/** The six conv layers' params read once (plain copies) and their types checked; a TypeError/RangeError naming convParams otherwise. */
function readConvParams(who: string, v: unknown): ConvParam[] {
  if (!Array.isArray(v)) throw new TypeError(`${who}: convParams must be an array of 6 conv layers' params, got ${describeValue(v)}`);
  const n = v.length;
  if (n !== 6) throw new RangeError(`${who}: convParams must list 6 conv layers, got ${n}`);
  return Array.from({ length: 6 }, (_, i) => readConvParam(who, `convParams[${i}]`, v[i]));
}

/**
 * @internal DeepConvNet's options read once (the net is built from this copy and records it as its spec) and
 * checked, without a runtime: the constructor and netTensorShapes both call it, so both refuse the same. Whether
 * the layers fit the input is buildStack's (and netTensorShapes') to say.
 */
export function readDeepConvNetOptions(options: unknown): {
  spec: NetSpec; inputDim: [number, number, number]; convParams: ConvParam[]; hiddenSize: number; outputSize: number; labelSmoothing: number;
  classWeights: number[] | null;
} {
  const who = 'DeepConvNet';
  const o = readOptions(who, options, KEYS);
  const inputDim = checkInputDim(who, orDefault(o.inputDim, [1, 28, 28]));
  const convParams = readConvParams(who, orDefault(o.convParams, deepConvNetParams));
  const hiddenSize = positiveInteger(who, 'hiddenSize', orDefault(o.hiddenSize, 50));
  const outputSize = positiveInteger(who, 'outputSize', orDefault(o.outputSize, 10));
  const labelSmoothing = checkLabelSmoothing(who, orDefault(o.labelSmoothing, 0));
  const classWeights = readClassWeights(who, o.classWeights, outputSize, 'outputSize');
  // plain JSON of checked numbers: the options given (undefined values dropped, as JSON.stringify does)
  const given: Record<string, unknown> = { ...o };
  if (o.inputDim !== undefined) given.inputDim = inputDim;
  if (o.convParams !== undefined) given.convParams = convParams;
  if (classWeights !== null) given.classWeights = classWeights;
  const spec: NetSpec = { kind: 'deep-conv', options: JSON.parse(JSON.stringify(given)) };
  return { spec, inputDim, convParams, hiddenSize, outputSize, labelSmoothing, classWeights };
}

/**
 * The book's DeepConvNet (ch08): three blocks of (Convolution → ReLU → Convolution → ReLU → 2×2 max Pooling),
 * then Affine → ReLU → Dropout(0.5) → Affine → Dropout(0.5) → SoftmaxWithLoss; He initialisation; parameters
 * W1/b1 … W8/b8. A named net: `spec` rebuilds it (buildNet) and saveModel records it.
 */
export class DeepConvNet extends Sequential {
  /** What rebuilds this net (`buildNet(rt, net.spec)`): its kind and constructor options, plain JSON. */
  readonly spec: NetSpec;
  readonly inputDim: readonly number[];

  /**
   * Builds the net on `rt` (defaults: 1×28×28 input, deepConvNetParams' six conv layers, 50 hidden, 10 classes),
   * weights drawn from rt's seeded stream with He's std (√(2 / fan-in)), biases zero. The net owns its parameters
   * and gradients (a block of each): dispose() frees them.
   * @throws TypeError if rt is not a Runtime; TypeError/RangeError naming a bad option (see DeepConvNetOptions)
   * or a layer the input does not fit, before anything is allocated; OutOfMemoryError (a RangeError) when rt's
   * memory cannot hold the parameters.
   */
  constructor(rt: Runtime, options: DeepConvNetOptions = {}) {
    const who = 'DeepConvNet';
    checkRuntime(rt, who);
    const { spec, inputDim, convParams, hiddenSize, outputSize, labelSmoothing, classWeights } = readDeepConvNetOptions(options);
    const items: StackItem[] = [];
    convParams.forEach((p, i) => {
      items.push({ kind: 'conv', ...p, option: `convParams[${i}]` }, { kind: 'relu' });
      if (i % 2 === 1) items.push({ kind: 'pool', size: 2, stride: 2 });
    });
    items.push(
      { kind: 'affine', size: hiddenSize, option: 'hiddenSize' }, { kind: 'relu' }, { kind: 'dropout', ratio: 0.5 },
      { kind: 'affine', size: outputSize, option: 'outputSize' }, { kind: 'dropout', ratio: 0.5 },
    );
    const { layers, parameterSet } = buildStack(rt, who, inputDim, items, 'he');
    // evaluate in chunks of 100 so the layers reuse their training-batch buffers
    super(rt, layers, { parameterSet, evalBatchSize: 100, inputShape: inputDim, labelSmoothing, ...(classWeights && { classWeights }) });
    this.spec = spec;
    this.inputDim = [...inputDim];
  }
}
