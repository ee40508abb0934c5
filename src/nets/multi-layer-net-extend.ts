// The book's MultiLayerNetExtend: per hidden layer Affine -> BatchNorm ->
// activation -> Dropout (batch norm and dropout optional), then Affine ->
// SoftmaxWithLoss. gamma{i}/beta{i} share the parameter arena with W and b;
// the running statistics are layer state (net.state), not parameters.
import { activation, type ActivationName } from '../layers/activations.js';
import { BatchNormalization } from '../layers/batch-normalization.js';
import { Dropout } from '../layers/dropout.js';
import type { Layer } from '../layers/layer.js';
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import type { WeightInit } from './init.js';
import { affineLayer, affineParameters, affineSpecs, checkParameterBlock, disposeBuilt, readMlpOptions, type MultiLayerNetPlan } from './multi-layer-net.js';
import { numberOption, orDefault, readOptions } from './net-options.js';
import { checkFlag } from '../runtime/options.js';
import { Sequential, checkSequentialOptions } from './sequential.js';
import type { NetSpec } from './registry.js';

/**
 * Options of MultiLayerNetExtend (the book's multi_layer_net_extend); the constructor throws a
 * TypeError on an unknown key and a TypeError/RangeError naming a bad value, before it allocates. It reads
 * each option (and each element of hiddenSizeList) once: the net is built from that read, and records it as its spec.
 */
export interface MultiLayerNetExtendOptions {
  /** Features per input row (a positive integer). */
  inputSize: number;
  /** Width of each hidden Affine layer (positive integers). */
  hiddenSizeList: readonly number[];
  /** Classes (width of the last Affine layer). */
  outputSize: number;
  /** Activation after each hidden layer; default 'relu'. */
  activation?: ActivationName;
  /** Weights' init: a std, or 'he'/'relu' (√(2/n)) or 'xavier'/'sigmoid' (√(1/n)); default 'relu'. */
  weightInitStd?: WeightInit;
  /** L2: loss += ½λΣW², dW += λW. */
  weightDecayLambda?: number;
  /** L1: loss += λΣ|W|, dW += λ·sign(W); with weightDecayLambda, the Elastic Net. */
  l1Lambda?: number;
  /** BatchNormalization after each hidden Affine layer; default false. */
  useBatchnorm?: boolean;
  /** Dropout after each hidden activation; default false. */
  useDropout?: boolean;
  /** The book's dropout_ration; default 0.5. */
  dropoutRatio?: number;
  /** Label smoothing ε in [0, 1] of the net's loss (PyTorch's and Keras's `label_smoothing`): targets t·(1 − ε) + ε/classes; default 0. */
  labelSmoothing?: number;
  /** One weight per class of the net's loss, finite, ≥ 0, not all 0 (PyTorch's `CrossEntropyLoss(weight)`, Keras's `class_weight`; SoftmaxWithLossOptions.classWeights); default none. */
  classWeights?: readonly number[] | Float32Array | Float64Array;
}

const KEYS = new Set(['inputSize', 'hiddenSizeList', 'outputSize', 'activation', 'weightInitStd',
  'weightDecayLambda', 'l1Lambda', 'useBatchnorm', 'useDropout', 'dropoutRatio', 'labelSmoothing', 'classWeights']);

/** @internal What a MultiLayerNetExtend is built from (planMultiLayerNetExtend). */
export interface MultiLayerNetExtendPlan extends MultiLayerNetPlan {
  l1Lambda: number;
  useBatchnorm: boolean;
  useDropout: boolean;
  dropoutRatio: number;
  /** The layer state's names and shapes (batch norm's running statistics). */
  state: Array<readonly [string, number[]]>;
}

/**
 * @internal MultiLayerNetExtend's options read once and checked, and the tensors the net would hold,
 * without a runtime: the constructor builds from it, and netTensorShapes lists it, so both refuse the same.
 */
export function planMultiLayerNetExtend(options: unknown): MultiLayerNetExtendPlan {
  const who = 'MultiLayerNetExtend';
  const o = readOptions(who, options, KEYS);
  const useBatchnorm = orDefault(o.useBatchnorm, false) as boolean, useDropout = orDefault(o.useDropout, false) as boolean;
  checkFlag(who, 'useBatchnorm', useBatchnorm);
  checkFlag(who, 'useDropout', useDropout);
  const { sizes, activation: act, weightInitStd, weightDecayLambda, labelSmoothing, classWeights } = readMlpOptions(who, o);
  const l1Lambda = numberOption(who, 'l1Lambda', orDefault(o.l1Lambda, 0), 'a non-negative number');
  const dropoutRatio = numberOption(who, 'dropoutRatio', orDefault(o.dropoutRatio, 0.5), 'a number in [0, 1)');
  // recorded in the spec, which must rebuild this net, even with no Dropout layer to hold it
  if (useDropout) new Dropout(dropoutRatio); // its own check and message; a layer object only, no memory
  else if (!(dropoutRatio >= 0 && dropoutRatio < 1)) throw new RangeError(`${who}: dropoutRatio must be in [0, 1), got ${dropoutRatio}`);
  checkSequentialOptions({ weightDecayLambda, l1Lambda }, who);
  const hidden = sizes.slice(1, -1);
  const norm = (a: string, b: string) => (useBatchnorm ? hidden.flatMap((h, j) => [[`${a}${j + 1}`, [h]], [`${b}${j + 1}`, [h]]] as Array<[string, number[]]>) : []);
  const params = [...affineSpecs(sizes), ...norm('gamma', 'beta')];
  checkParameterBlock(who, params);
  // plain JSON of checked numbers, strings and flags (undefined values dropped, as JSON.stringify does; classWeights as an array)
  const spec: NetSpec = { kind: 'mlp-extend', options: JSON.parse(JSON.stringify({ ...o, hiddenSizeList: hidden, ...(classWeights && { classWeights }) })) };
  return {
    spec, sizes, activation: act, weightInitStd, weightDecayLambda, labelSmoothing, classWeights, params,
    l1Lambda, useBatchnorm, useDropout, dropoutRatio, state: norm('runningMean', 'runningVar'),
  };
}

/**
 * The book's MultiLayerNetExtend (multi_layer_net_extend.py): MultiLayerNet with, after each hidden Affine,
 * optional BatchNormalization (parameters gamma1, beta1, …; running statistics in `state`) and, after each
 * hidden activation, optional Dropout; L2 and L1 weight decay. A named net: `spec` rebuilds it (buildNet) and
 * saveModel records it.
 */
export class MultiLayerNetExtend extends Sequential {
  /** What rebuilds this net (`buildNet(rt, net.spec)`): its kind and constructor options, plain JSON. */
  readonly spec: NetSpec;
  readonly inputSize: number;
  readonly hiddenSizeList: readonly number[];
  readonly outputSize: number;
  readonly activation: ActivationName;
  readonly useBatchnorm: boolean;
  readonly useDropout: boolean;
  readonly dropoutRatio: number;

  /**
   * Builds the net on `rt`: weights drawn from rt's seeded stream with the std `options.weightInitStd` gives,
   * biases and beta zero, gamma one. The net owns its parameters, gradients and batch-norm statistics:
   * dispose() frees them.
   * @throws TypeError if rt is not a Runtime; TypeError/RangeError naming a bad option (see
   * MultiLayerNetExtendOptions), before anything is allocated; OutOfMemoryError (a RangeError) when rt's
   * memory cannot hold the parameters.
   */
  constructor(rt: Runtime, options: MultiLayerNetExtendOptions) {
    checkRuntime(rt, 'MultiLayerNetExtend');
    // the options are read once, and every one is checked before the arena is allocated: a bad one leaks nothing
    const plan = planMultiLayerNetExtend(options);
    const { sizes, useBatchnorm, useDropout, dropoutRatio } = plan;
    const hidden = sizes.slice(1, -1);
    const activations = hidden.map(() => activation(plan.activation));
    const dropouts = useDropout ? hidden.map(() => new Dropout(dropoutRatio)) : [];
    const set = affineParameters(rt, plan.params, sizes, plan.weightInitStd);
    const layers: Layer[] = [];
    try {
      for (let i = 1; i < sizes.length; i++) {
        layers.push(affineLayer(set, i));
        if (i === sizes.length - 1) break;
        if (useBatchnorm) {
          const gamma = set.params[`gamma${i}`];
          rt.unsafeKernels.fill(gamma.ptr, 1, gamma.size);
          layers.push(new BatchNormalization(gamma, set.params[`beta${i}`], 0.9, { dgamma: set.grads[`gamma${i}`], dbeta: set.grads[`beta${i}`] }));
        }
        layers.push(activations[i - 1]);
        if (useDropout) layers.push(dropouts[i - 1]);
      }
      super(rt, layers, { weightDecayLambda: plan.weightDecayLambda, l1Lambda: plan.l1Lambda, labelSmoothing: plan.labelSmoothing, ...(plan.classWeights && { classWeights: plan.classWeights }), parameterSet: set });
    } catch (e) {
      disposeBuilt(layers, set);
      throw e;
    }
    this.spec = plan.spec;
    this.inputSize = sizes[0];
    this.hiddenSizeList = hidden;
    this.outputSize = sizes[sizes.length - 1];
    this.activation = plan.activation;
    this.useBatchnorm = useBatchnorm;
    this.useDropout = useDropout;
    this.dropoutRatio = dropoutRatio;
  }

  /** The dropout layers, in order (e.g. to fix their masks for a gradient check). */
  get dropoutLayers(): Dropout[] {
    return this.layers.filter((l): l is Dropout => l instanceof Dropout);
  }

  /** The batch-norm layers, in order. */
  get batchNormLayers(): BatchNormalization[] {
    return this.layers.filter((l): l is BatchNormalization => l instanceof BatchNormalization);
  }
}
