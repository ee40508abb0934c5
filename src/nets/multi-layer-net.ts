// The book's MultiLayerNet: (Affine -> activation) × hidden layers -> Affine -> SoftmaxWithLoss.
import { Affine } from '../layers/affine.js';
import { activation, type ActivationName } from '../layers/activations.js';
import type { Layer } from '../layers/layer.js';
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { describeValue } from '../runtime/tensor.js';
import { activationOption, initOption, numberOption, orDefault, positiveInteger, readOptions } from './net-options.js';
import { initStd, type WeightInit } from './init.js';
import { ParameterSet } from './parameters.js';
import { Sequential, checkSequentialOptions } from './sequential.js';
import type { NetSpec } from './registry.js';

/**
 * Options of MultiLayerNet (the book's multi_layer_net); the constructor throws a TypeError on an
 * unknown key and a TypeError/RangeError naming a bad value, before it allocates. It reads each
 * option (and each element of hiddenSizeList) once: the net is built from that read, and records it as its spec.
 */
export interface MultiLayerNetOptions {
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
  /** L2 weight decay λ (loss += ½λΣW²); default 0. */
  weightDecayLambda?: number;
}

const KEYS = new Set(['inputSize', 'hiddenSizeList', 'outputSize', 'activation', 'weightInitStd', 'weightDecayLambda']);

/**
 * [inputSize, ...hiddenSizeList, outputSize], checked (TypeError for a non-array list or a
 * non-number, RangeError for a number that is no positive integer, each naming its option) and
 * copied: every element is read once.
 */
export function checkSizes(who: string, inputSize: unknown, hiddenSizeList: unknown, outputSize: unknown): number[] {
  if (!Array.isArray(hiddenSizeList)) throw new TypeError(`${who}: hiddenSizeList must be an array of positive integers, got ${describeValue(hiddenSizeList)}`);
  const sizes = [positiveInteger(who, 'inputSize', inputSize)];
  const n = hiddenSizeList.length;
  // one read of each element, each checked as it is read (a sparse array fails at its first hole)
  for (let i = 0; i < n; i++) sizes.push(positiveInteger(who, `hiddenSizeList[${i}]`, hiddenSizeList[i]));
  sizes.push(positiveInteger(who, 'outputSize', outputSize));
  return sizes;
}

/**
 * Allocates W{i}, b{i} for consecutive sizes in one arena; W ~ N(0, std²), b = 0.
 * The init is checked first: a bad one allocates nothing.
 */
export function affineParameters(rt: Runtime, sizes: readonly number[], init: WeightInit, extra: ReadonlyArray<readonly [string, number[]]> = []): ParameterSet {
  const specs: Array<readonly [string, number[]]> = [];
  const stds: number[] = [];
  for (let i = 1; i < sizes.length; i++) {
    specs.push([`W${i}`, [sizes[i - 1], sizes[i]]], [`b${i}`, [sizes[i]]]);
    stds.push(initStd(init, sizes[i - 1]));
  }
  const set = new ParameterSet(rt, [...specs, ...extra]);
  stds.forEach((std, j) => rt.randn(set.params[`W${j + 1}`], std));
  return set;
}

export function affineLayer(set: ParameterSet, i: number): Affine {
  return new Affine(set.params[`W${i}`], set.params[`b${i}`], { dW: set.grads[`W${i}`], db: set.grads[`b${i}`] });
}

export class MultiLayerNet extends Sequential {
  /** What rebuilds this net (`buildNet(rt, net.spec)`): its kind and constructor options, plain JSON. */
  readonly spec: NetSpec;
  readonly inputSize: number;
  readonly hiddenSizeList: readonly number[];
  readonly outputSize: number;
  readonly activation: ActivationName;

  constructor(rt: Runtime, options: MultiLayerNetOptions) {
    const who = 'MultiLayerNet';
    checkRuntime(rt, who);
    // the options are read once: the net is built from this copy and records it as its spec
    const o = readOptions(who, options, KEYS);
    const sizes = checkSizes(who, o.inputSize, o.hiddenSizeList, o.outputSize);
    const act = activationOption(who, orDefault(o.activation, 'relu'));
    const weightInitStd = initOption(who, orDefault(o.weightInitStd, 'relu'));
    const weightDecayLambda = numberOption(who, 'weightDecayLambda', orDefault(o.weightDecayLambda, 0), 'a non-negative number');
    // every option is checked before the parameters are allocated: a bad one leaks nothing
    checkSequentialOptions({ weightDecayLambda }, who);
    const hiddenSizeList = sizes.slice(1, -1);
    // plain JSON of checked numbers and strings (undefined values dropped, as JSON.stringify does)
    const spec: NetSpec = { kind: 'mlp', options: JSON.parse(JSON.stringify({ ...o, hiddenSizeList })) };
    const activations = sizes.slice(2).map(() => activation(act));
    const set = affineParameters(rt, sizes, weightInitStd);
    const layers: Layer[] = [];
    for (let i = 1; i < sizes.length; i++) {
      layers.push(affineLayer(set, i));
      if (i < sizes.length - 1) layers.push(activations[i - 1]);
    }
    super(rt, layers, { weightDecayLambda, parameterSet: set });
    this.spec = spec;
    this.inputSize = sizes[0];
    this.hiddenSizeList = hiddenSizeList;
    this.outputSize = sizes[sizes.length - 1];
    this.activation = act;
  }
}
