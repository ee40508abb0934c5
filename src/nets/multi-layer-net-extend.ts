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
import { affineLayer, affineParameters, checkSizes } from './multi-layer-net.js';
import { activationOption, initOption, numberOption, orDefault, readOptions } from './net-options.js';
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
}

const KEYS = new Set(['inputSize', 'hiddenSizeList', 'outputSize', 'activation', 'weightInitStd',
  'weightDecayLambda', 'l1Lambda', 'useBatchnorm', 'useDropout', 'dropoutRatio']);

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

  constructor(rt: Runtime, options: MultiLayerNetExtendOptions) {
    const who = 'MultiLayerNetExtend';
    checkRuntime(rt, who);
    // the options are read once: the net is built from this copy and records it as its spec
    const o = readOptions(who, options, KEYS);
    const useBatchnorm = orDefault(o.useBatchnorm, false) as boolean, useDropout = orDefault(o.useDropout, false) as boolean;
    checkFlag(who, 'useBatchnorm', useBatchnorm);
    checkFlag(who, 'useDropout', useDropout);
    const sizes = checkSizes(who, o.inputSize, o.hiddenSizeList, o.outputSize);
    const act = activationOption(who, orDefault(o.activation, 'relu'));
    const weightInitStd = initOption(who, orDefault(o.weightInitStd, 'relu'));
    const weightDecayLambda = numberOption(who, 'weightDecayLambda', orDefault(o.weightDecayLambda, 0), 'a non-negative number');
    const l1Lambda = numberOption(who, 'l1Lambda', orDefault(o.l1Lambda, 0), 'a non-negative number');
    const dropoutRatio = numberOption(who, 'dropoutRatio', orDefault(o.dropoutRatio, 0.5), 'a number in [0, 1)');
    // with dropout on, Dropout checks it; off, it is still recorded in the spec, which must rebuild this net
    if (!useDropout && !(dropoutRatio >= 0 && dropoutRatio < 1)) throw new RangeError(`${who}: dropoutRatio must be in [0, 1), got ${dropoutRatio}`);
    const hidden = sizes.slice(1, -1);
    const normSpecs: Array<readonly [string, number[]]> = useBatchnorm
      ? hidden.flatMap((h, j) => [[`gamma${j + 1}`, [h]], [`beta${j + 1}`, [h]]] as Array<[string, number[]]>)
      : [];
    // Checked and built before the arena so a bad option allocates nothing.
    checkSequentialOptions({ weightDecayLambda, l1Lambda }, who);
    // plain JSON of checked numbers, strings and flags (undefined values dropped, as JSON.stringify does)
    const spec: NetSpec = { kind: 'mlp-extend', options: JSON.parse(JSON.stringify({ ...o, hiddenSizeList: hidden })) };
    const activations = hidden.map(() => activation(act));
    const dropouts = useDropout ? hidden.map(() => new Dropout(dropoutRatio)) : [];
    const set = affineParameters(rt, sizes, weightInitStd, normSpecs);
    const layers: Layer[] = [];
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
    super(rt, layers, { weightDecayLambda, l1Lambda, parameterSet: set });
    this.spec = spec;
    this.inputSize = sizes[0];
    this.hiddenSizeList = hidden;
    this.outputSize = sizes[sizes.length - 1];
    this.activation = act;
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
