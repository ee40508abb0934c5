// The book's MultiLayerNet: (Affine -> activation) × hidden layers -> Affine -> SoftmaxWithLoss.
import { Affine } from '../layers/affine.js';
import { activation, type ActivationName } from '../layers/activations.js';
import type { Layer } from '../layers/layer.js';
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { MAX_ELEMENTS, describeValue, shapeSize } from '../runtime/tensor.js';
import { activationOption, initOption, numberOption, orDefault, positiveInteger, readClassWeights, readOptions } from './net-options.js';
import { initStd, type WeightInit } from './init.js';
import { ParameterSet } from './parameters.js';
import { Sequential, checkSequentialOptions } from './sequential.js';
import type { NetSpec } from './registry.js';
import { checkLabelSmoothing } from '../layers/softmax-with-loss.js';

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
  /** Label smoothing ε in [0, 1] of the net's loss (PyTorch's and Keras's `label_smoothing`): targets t·(1 − ε) + ε/classes; default 0. */
  labelSmoothing?: number;
  /** One weight per class of the net's loss, finite, ≥ 0, not all 0 (PyTorch's `CrossEntropyLoss(weight)`, Keras's `class_weight`; SoftmaxWithLossOptions.classWeights); default none. */
  classWeights?: readonly number[] | Float32Array | Float64Array;
}

const KEYS = new Set(['inputSize', 'hiddenSizeList', 'outputSize', 'activation', 'weightInitStd', 'weightDecayLambda', 'labelSmoothing', 'classWeights']);

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

/** W{i}, b{i} for consecutive sizes, in the arena's order. */
export function affineSpecs(sizes: readonly number[]): Array<readonly [string, number[]]> {
  const specs: Array<readonly [string, number[]]> = [];
  for (let i = 1; i < sizes.length; i++) specs.push([`W${i}`, [sizes[i - 1], sizes[i]]], [`b${i}`, [sizes[i]]]);
  return specs;
}

/**
 * Refuses (RangeError naming `who`) parameters that ParameterSet could not hold: a tensor, or the
 * block of all of them (each padded to 16 floats, as ParameterSet lays them out), over MAX_ELEMENTS.
 */
export function checkParameterBlock(who: string, specs: ReadonlyArray<readonly [string, readonly number[]]>): void {
  let total = 0;
  for (const [name, shape] of specs) total += Math.ceil(shapeSize(shape, `${who}: ${name}`) / 16) * 16;
  if (total > MAX_ELEMENTS) throw new RangeError(`${who}: the parameters take ${total} floats (each tensor padded to 16); one block holds at most ${MAX_ELEMENTS}`);
}

/** An activation option: a name activation() knows (checked even when no hidden layer will use it), or a TypeError naming `who`. */
export function checkActivation(who: string, v: unknown): ActivationName {
  const name = activationOption(who, v);
  try {
    activation(name); // a layer object only: no memory
  } catch (e) {
    throw new TypeError(`${who}: ${(e as Error).message}`);
  }
  return name;
}

/** A weight init option, its type and value checked (as initStd checks them for every layer), or a TypeError/RangeError naming `who`. */
export function checkInit(who: string, v: unknown): WeightInit {
  const init = initOption(who, v);
  initStd(init, 1, who);
  return init;
}

/**
 * Allocates the parameters `specs` lists (affineSpecs(sizes) first) in one arena; W ~ N(0, std²), b = 0.
 * The init is checked first: a bad one allocates nothing.
 */
export function affineParameters(rt: Runtime, specs: ReadonlyArray<readonly [string, number[]]>, sizes: readonly number[], init: WeightInit): ParameterSet {
  const stds: number[] = [];
  for (let i = 1; i < sizes.length; i++) stds.push(initStd(init, sizes[i - 1]));
  const set = new ParameterSet(rt, specs);
  stds.forEach((std, j) => rt.randn(set.params[`W${j + 1}`], std));
  return set;
}

/**
 * @internal What a net's constructor made before it failed (memory running out part way: a batch norm's running
 * statistics, the row chain's table), freed before the error goes on: its layers, then its parameter set.
 */
export function disposeBuilt(layers: readonly Layer[], set: ParameterSet): void {
  for (const layer of layers) layer.dispose();
  set.dispose();
}

export function affineLayer(set: ParameterSet, i: number): Affine {
  return new Affine(set.params[`W${i}`], set.params[`b${i}`], { dW: set.grads[`W${i}`], db: set.grads[`b${i}`] });
}

/** @internal What a MultiLayerNet is built from (planMultiLayerNet). */
export interface MultiLayerNetPlan {
  /** The options as read, plain JSON: what the net records. */
  spec: NetSpec;
  /** [inputSize, ...hiddenSizeList, outputSize]. */
  sizes: number[];
  activation: ActivationName;
  weightInitStd: WeightInit;
  weightDecayLambda: number;
  labelSmoothing: number;
  /** The loss's class weights (a checked plain copy), null if none. */
  classWeights: number[] | null;
  /** The parameters' names and shapes, in the arena's order. */
  params: Array<readonly [string, number[]]>;
}

/** @internal The options both MLPs take (read by readOptions), checked: sizes, activation, init, L2 decay, label smoothing, class weights. */
export function readMlpOptions(who: string, o: Record<string, unknown>): Pick<MultiLayerNetPlan, 'sizes' | 'activation' | 'weightInitStd' | 'weightDecayLambda' | 'labelSmoothing' | 'classWeights'> {
  const sizes = checkSizes(who, o.inputSize, o.hiddenSizeList, o.outputSize);
  return {
    sizes,
    activation: checkActivation(who, orDefault(o.activation, 'relu')),
    weightInitStd: checkInit(who, orDefault(o.weightInitStd, 'relu')),
    weightDecayLambda: numberOption(who, 'weightDecayLambda', orDefault(o.weightDecayLambda, 0), 'a non-negative number'),
    labelSmoothing: checkLabelSmoothing(who, orDefault(o.labelSmoothing, 0)),
    classWeights: readClassWeights(who, o.classWeights, sizes[sizes.length - 1], 'outputSize'),
  };
}

/**
 * @internal MultiLayerNet's options read once and checked, and the parameters the net would hold,
 * without a runtime: the constructor builds from it, and netTensorShapes lists it, so both refuse the same.
 */
export function planMultiLayerNet(options: unknown): MultiLayerNetPlan {
  const who = 'MultiLayerNet';
  const o = readOptions(who, options, KEYS);
  const { sizes, activation: act, weightInitStd, weightDecayLambda, labelSmoothing, classWeights } = readMlpOptions(who, o);
  checkSequentialOptions({ weightDecayLambda }, who);
  const params = affineSpecs(sizes);
  checkParameterBlock(who, params);
  // plain JSON of checked numbers and strings (undefined values dropped, as JSON.stringify does; classWeights as an array)
  const spec: NetSpec = { kind: 'mlp', options: JSON.parse(JSON.stringify({ ...o, hiddenSizeList: sizes.slice(1, -1), ...(classWeights && { classWeights }) })) };
  return { spec, sizes, activation: act, weightInitStd, weightDecayLambda, labelSmoothing, classWeights, params };
}

/**
 * The book's MultiLayerNet (multi_layer_net.py): for each hidden size an Affine and the activation, then an
 * Affine to the classes and SoftmaxWithLoss; parameters W1, b1, W2, b2, … and optional L2 weight decay.
 * A named net: `spec` rebuilds it (buildNet) and saveModel records it.
 */
export class MultiLayerNet extends Sequential {
  /** What rebuilds this net (`buildNet(rt, net.spec)`): its kind and constructor options, plain JSON. */
  readonly spec: NetSpec;
  readonly inputSize: number;
  readonly hiddenSizeList: readonly number[];
  readonly outputSize: number;
  readonly activation: ActivationName;

  /**
   * Builds the net on `rt`: weights drawn from rt's seeded stream with the std `options.weightInitStd` gives,
   * biases zero. The net owns its parameters and gradients (a block of each): dispose() frees them.
   * @throws TypeError if rt is not a Runtime; TypeError/RangeError naming a bad option (see
   * MultiLayerNetOptions), before anything is allocated; OutOfMemoryError (a RangeError) when rt's memory
   * cannot hold the parameters.
   */
  constructor(rt: Runtime, options: MultiLayerNetOptions) {
    checkRuntime(rt, 'MultiLayerNet');
    // the options are read once, and every one is checked before the parameters are allocated: a bad one leaks nothing
    const { spec, sizes, activation: act, weightInitStd, weightDecayLambda, labelSmoothing, classWeights, params } = planMultiLayerNet(options);
    const activations = sizes.slice(2).map(() => activation(act));
    const set = affineParameters(rt, params, sizes, weightInitStd);
    const layers: Layer[] = [];
    for (let i = 1; i < sizes.length; i++) {
      layers.push(affineLayer(set, i));
      if (i < sizes.length - 1) layers.push(activations[i - 1]);
    }
    try {
      super(rt, layers, { weightDecayLambda, labelSmoothing, ...(classWeights && { classWeights }), parameterSet: set });
    } catch (e) {
      disposeBuilt(layers, set);
      throw e;
    }
    this.spec = spec;
    this.inputSize = sizes[0];
    this.hiddenSizeList = sizes.slice(1, -1);
    this.outputSize = sizes[sizes.length - 1];
    this.activation = act;
  }
}
