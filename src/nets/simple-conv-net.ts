// The book's SimpleConvNet (ch07): Conv -> ReLU -> Pool(2×2, stride 2) ->
// Affine -> ReLU -> Affine -> SoftmaxWithLoss. Keys W1/b1 (conv), W2/b2, W3/b3.
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import type { WeightInit } from './init.js';
import { checkOptions } from '../runtime/options.js';
import { Sequential } from './sequential.js';
import { buildStack, type ConvParam } from './conv-stack.js';
import type { NetSpec } from './registry.js';

/**
 * Options of SimpleConvNet (the book's conv → relu → pool → affine → relu → affine); the
 * constructor throws a TypeError on an unknown key and a TypeError/RangeError naming a bad value.
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
}

const KEYS = new Set(['inputDim', 'convParam', 'hiddenSize', 'outputSize', 'weightInitStd']);

export class SimpleConvNet extends Sequential {
  /** What rebuilds this net (`buildNet(rt, net.spec)`): its kind and constructor options, plain JSON. */
  readonly spec: NetSpec;
  readonly inputDim: readonly number[];

  constructor(rt: Runtime, options: SimpleConvNetOptions = {}) {
    checkRuntime(rt, 'SimpleConvNet');
    checkOptions('SimpleConvNet', options, KEYS);
    const {
      inputDim = [1, 28, 28],
      convParam = { filterNum: 30, filterSize: 5, pad: 0, stride: 1 },
      hiddenSize = 100, outputSize = 10, weightInitStd = 0.01,
    } = options;
    const { layers, parameterSet } = buildStack(rt, 'SimpleConvNet', inputDim, [
      { kind: 'conv', ...convParam, option: 'convParam' },
      { kind: 'relu' },
      { kind: 'pool', size: 2, stride: 2 },
      { kind: 'affine', size: hiddenSize, option: 'hiddenSize' },
      { kind: 'relu' },
      { kind: 'affine', size: outputSize, option: 'outputSize' },
    ], weightInitStd);
    // evaluate in chunks of 100 so the layers reuse their training-batch buffers
    super(rt, layers, { parameterSet, evalBatchSize: 100, inputShape: inputDim });
    this.spec = { kind: 'simple-conv', options: JSON.parse(JSON.stringify(options)) };
    this.inputDim = [...inputDim];
  }
}
