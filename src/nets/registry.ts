// The named nets by kind: build one from a plain-JSON spec ({ kind, options }),
// or list the tensors it holds without building it. Every named net carries
// its spec (net.spec), so a model file, a search trial or a worker job can
// rebuild it anywhere. New named nets need an entry here.
import { convOutputSize } from '../layers/convolution.js';
import { activation } from '../layers/activations.js';
import { Dropout } from '../layers/dropout.js';
import type { Runtime } from '../runtime/runtime.js';
import { describeValue, shown } from '../runtime/tensor.js';
import type { ConvParam } from './conv-stack.js';
import { integerAtLeast, positiveInteger } from './net-options.js';
import { DeepConvNet, readDeepConvNetOptions, type DeepConvNetOptions } from './deep-conv-net.js';
import { MultiLayerNet, checkParameterBlock, planMultiLayerNet, type MultiLayerNetOptions } from './multi-layer-net.js';
import { MultiLayerNetExtend, planMultiLayerNetExtend, type MultiLayerNetExtendOptions } from './multi-layer-net-extend.js';
import type { Sequential } from './sequential.js';
import { SimpleConvNet, readSimpleConvNetOptions, type SimpleConvNetOptions } from './simple-conv-net.js';
import { summarizePlans, type LayerPlan, type NetSummary, type ShapeRule } from './summary.js';

/** The kinds of named nets, as `NetSpec.kind` and the CLI's `--net` name them. */
export const NET_KINDS = ['mlp', 'mlp-extend', 'simple-conv', 'deep-conv'] as const;

/** A named net's kind. */
export type NetKind = (typeof NET_KINDS)[number];

/** What rebuilds a named net: its kind and its constructor options, plain JSON. */
export type NetSpec =
  | { kind: 'mlp'; options: MultiLayerNetOptions }
  | { kind: 'mlp-extend'; options: MultiLayerNetExtendOptions }
  | { kind: 'simple-conv'; options: SimpleConvNetOptions }
  | { kind: 'deep-conv'; options: DeepConvNetOptions };

/** A net built from a spec: a Sequential that knows how to rebuild itself. */
export type NamedNet = Sequential & { readonly spec: NetSpec };

/** A value in a message: a string as JSON (quoted), anything else as shown() gives it (never throws, unlike JSON.stringify on a BigInt). */
function got(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : shown(v);
}

/**
 * Checks that `spec` is `{ kind, options }` with a known kind and an options
 * object; throws a TypeError naming what is wrong. The options themselves are
 * checked by the net's constructor (and by `netTensorShapes`). Returns
 * `{ kind, options }` as read once (a getter is not asked again).
 */
export function checkNetSpec(spec: unknown, who = 'spec'): NetSpec {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw new TypeError(`${who}: expected { kind, options }, got ${got(spec)}`);
  const { kind, options } = spec as { kind?: unknown; options?: unknown };
  if (typeof kind !== 'string' || !(NET_KINDS as readonly string[]).includes(kind)) {
    throw new TypeError(`${who}.kind: expected one of ${NET_KINDS.join(', ')}, got ${got(kind)}`);
  }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${who}.options: expected an object of constructor options, got ${got(options)}`);
  }
  const extra = Object.keys(spec).filter((k) => k !== 'kind' && k !== 'options');
  if (extra.length > 0) throw new TypeError(`${who}: unknown key '${extra[0]}' (expected kind, options)`);
  return { kind, options } as NetSpec;
}

/**
 * Builds the named net `spec` describes, with fresh (random) parameters from
 * `rt`'s seeded stream. Takes a spec as `net.spec` gives it; returns a net the
 * caller owns (dispose it). Throws a TypeError/RangeError for an unknown kind
 * or bad options, before anything is allocated.
 */
export function buildNet(rt: Runtime, spec: NetSpec): NamedNet {
  const s = checkNetSpec(spec, 'buildNet: spec');
  switch (s.kind) {
    case 'mlp': return new MultiLayerNet(rt, s.options);
    case 'mlp-extend': return new MultiLayerNetExtend(rt, s.options);
    case 'simple-conv': return new SimpleConvNet(rt, s.options);
    case 'deep-conv': return new DeepConvNet(rt, s.options);
  }
}

/**
 * The tensors a net built from `spec` holds (parameters, then layer state such
 * as batch-norm running statistics), name → shape, computed without building
 * it. Throws a TypeError/RangeError where the net's constructor would refuse the
 * spec: any option (the constructors' own checks and messages), a layer that
 * does not fit, a tensor or the parameter block over what one block holds.
 */
export function netTensorShapes(spec: NetSpec): Record<string, number[]> {
  const { params, state } = netTensorGroups(spec, 'netTensorShapes: spec');
  return { ...params, ...state };
}

/** @internal netTensorShapes as the parameters (what optimizers update) and the layer state. */
export function netTensorGroups(spec: NetSpec, who = 'spec'): { params: Record<string, number[]>; state: Record<string, number[]> } {
  const state: Record<string, number[]> = {};
  return { params: paramShapes(spec, state, who), state };
}

function paramShapes(spec: NetSpec, state: Record<string, number[]>, who: string): Record<string, number[]> {
  const checked = checkNetSpec(spec, who);
  // the options read once: each value checked is the one used
  const s = { kind: checked.kind, options: { ...checked.options } } as NetSpec;
  const out: Record<string, number[]> = {};
  switch (s.kind) {
    case 'mlp': case 'mlp-extend': {
      const o = s.options;
      if (!Array.isArray(o.hiddenSizeList)) throw new TypeError(`${s.kind}: hiddenSizeList must be an array, got ${got(o.hiddenSizeList)}`);
      // the constructor's own checks, without a runtime
      if (s.kind === 'mlp') return Object.fromEntries(planMultiLayerNet(o).params);
      const plan = planMultiLayerNetExtend(o);
      Object.assign(state, Object.fromEntries(plan.state));
      return Object.fromEntries(plan.params);
    }
    case 'simple-conv': {
      // the constructor's own checks of the options, then whether the layers fit
      const o = readSimpleConvNetOptions(s.options);
      let shape = conv(s.kind, o.inputDim, o.convParam, 1, out);
      shape = pool(shape);
      affine(s.kind, shape, o.hiddenSize, 2, out);
      affine(s.kind, [o.hiddenSize], o.outputSize, 3, out);
      checkParameterBlock(s.kind, Object.entries(out));
      return out;
    }
    case 'deep-conv': {
      // the constructor's own checks of the options, then whether the layers fit
      const o = readDeepConvNetOptions(s.options);
      let shape = o.inputDim;
      o.convParams.forEach((p, i) => {
        shape = conv(s.kind, shape, p, i + 1, out);
        if (i % 2 === 1) shape = pool(shape);
      });
      affine(s.kind, shape, o.hiddenSize, 7, out);
      affine(s.kind, [o.hiddenSize], o.outputSize, 8, out);
      checkParameterBlock(s.kind, Object.entries(out));
      return out;
    }
  }
}

function conv(who: string, [C, H, W]: [number, number, number], param: ConvParam, i: number, out: Record<string, number[]>): [number, number, number] {
  if (param === null || typeof param !== 'object' || Array.isArray(param)) {
    throw new TypeError(`${who}: conv ${i} must be { filterNum, filterSize, pad?, stride? }, got ${describeValue(param)}`);
  }
  const p = { ...param }; // each value read once
  const FN = positiveInteger(who, `conv ${i} filterNum`, p.filterNum), F = positiveInteger(who, `conv ${i} filterSize`, p.filterSize);
  const stride = positiveInteger(who, `conv ${i} stride`, p.stride ?? 1), pad = integerAtLeast(who, `conv ${i} pad`, p.pad ?? 0, 0);
  const OH = convOutputSize(H, F, stride, pad), OW = convOutputSize(W, F, stride, pad);
  if (!(OH >= 1 && OW >= 1)) throw new RangeError(`${who}: conv ${i} (${F}×${F}, pad ${pad}) does not fit a ${H}×${W} input`);
  out[`W${i}`] = [FN, C, F, F];
  out[`b${i}`] = [FN];
  return [FN, OH, OW];
}

/** The nets' 2×2 pooling with stride 2. */
function pool([C, H, W]: [number, number, number]): [number, number, number] {
  return [C, convOutputSize(H, 2, 2, 0), convOutputSize(W, 2, 2, 0)];
}

function affine(who: string, input: number[], size: unknown, i: number, out: Record<string, number[]>): void {
  out[`W${i}`] = [input.reduce((a, b) => a * b, 1), positiveInteger(who, `affine ${i} size`, size)];
  out[`b${i}`] = [size as number];
}

/** The constructor whose checks each kind's options go through (its messages start with its name). */
const CONSTRUCTORS: Readonly<Record<NetKind, string>> = { mlp: 'MultiLayerNet', 'mlp-extend': 'MultiLayerNetExtend', 'simple-conv': 'SimpleConvNet', 'deep-conv': 'DeepConvNet' };

/**
 * The summary of the net `spec` describes (what net.summary() gives once it is built), from the spec alone:
 * the layers as each named net's constructor lays them out, their tensors' shapes from netTensorGroups. No
 * runtime, no memory (`simdnn info` stays a read of the header; inspectModel(bytes).spec gives a file's spec).
 * @throws TypeError/RangeError naming `netSummary: spec` for a bad spec and `netSummary: spec.options: ` and the
 * option for a bad option (the constructor's own check, as netTensorShapes makes it).
 */
export function netSummary(spec: NetSpec): NetSummary {
  const layout = netLayout(spec, 'netSummary: spec');
  return summarizePlans(layout.layers, { shape: layout.inputShape, given: false }, layout.labelSmoothing, layout.classWeights);
}

/**
 * @internal A named net's layer as its constructor builds it: its summary plan, and the options that plan does not
 * show (a Dropout's ratio and form, a BatchNormalization's eps and momentum, a Pooling's mode).
 */
export interface LayoutLayer extends LayerPlan {
  dropout?: { ratio: number; inverted: boolean };
  batchNorm?: { eps: number; momentum: number };
  poolMode?: 'max' | 'avg';
}

/** @internal The layers of the net a spec describes, its input shape (a conv net fixes it; an MLP takes [inputSize]) and its loss. */
export interface NetLayout {
  layers: LayoutLayer[];
  inputShape: number[];
  /** Whether the net fixes its input shape (net.inputShape), as the conv nets do. */
  fixesInput: boolean;
  labelSmoothing: number;
  classWeights: number[] | null;
}

/**
 * @internal The layout of the net `spec` describes (what buildNet(rt, spec) builds), from the spec alone: no runtime,
 * no memory (simdnn/onnx's importOnnx matches a graph against it before it builds the named net).
 * @throws as netSummary, naming `who` and `who.options`.
 */
export function netLayout(spec: NetSpec, who = 'netLayout: spec'): NetLayout {
  const checked = checkNetSpec(spec, who);
  // read once: the options checked are the options laid out
  const s = { kind: checked.kind, options: { ...checked.options } } as NetSpec;
  try {
    return layoutOfSpec(s);
  } catch (e) {
    throw asOptionError(e, s.kind, `${who}.options`);
  }
}

/** MultiLayerNetExtend's batch norms (per feature): momentum 0.9, BatchNormalization's default eps. */
const MLP_BATCH_NORM = { eps: 1e-6, momentum: 0.9 };

/**
 * A refusal of a spec's options by the constructor's checks (`MultiLayerNet: hiddenSizeList[0] …`) or the
 * registry's (`simple-conv: conv 1 …`), said as `where`'s (`netSummary: spec.options: hiddenSizeList[0] …`).
 */
function asOptionError(e: unknown, kind: NetKind, where: string): unknown {
  if (!(e instanceof TypeError || e instanceof RangeError)) return e;
  const prefix = [`${CONSTRUCTORS[kind]}: `, `${kind}: `].find((p) => e.message.startsWith(p)) ?? '';
  const message = `${where}: ${e.message.slice(prefix.length)}`;
  return e instanceof TypeError ? new TypeError(message, { cause: e }) : new RangeError(message, { cause: e });
}

/** netLayout of a spec read once. */
function layoutOfSpec(spec: NetSpec): NetLayout {
  const { params, state } = netTensorGroups(spec);
  const shapes: Record<string, number[]> = { ...params, ...state };
  const layer = (name: string, rule: ShapeRule, keys: string[] = [], stateKeys: string[] = []): LayoutLayer =>
    ({ name, rule, params: keys.map((k) => [k, shapes[k]]), state: stateKeys.map((k) => [k, shapes[k]]) });
  const affine = (i: number) => layer('Affine', { kind: 'affine', inputs: shapes[`W${i}`][0], outputs: shapes[`W${i}`][1] }, [`W${i}`, `b${i}`]);
  const conv = (i: number, p: ConvParam) => {
    const [filters, channels, filterH, filterW] = shapes[`W${i}`];
    return layer('Convolution', { kind: 'conv', channels, filters, filterH, filterW, stride: p.stride ?? 1, pad: p.pad ?? 0 }, [`W${i}`, `b${i}`]);
  };
  const keep = (name: string) => layer(name, { kind: 'keep' });
  // a layer object only (no memory until its first forward): the ratio and form the constructors give theirs
  const dropout = (ratio: number): LayoutLayer => {
    const d = new Dropout(ratio);
    return { ...keep('Dropout'), dropout: { ratio: d.ratio, inverted: d.inverted } };
  };
  const pool: LayoutLayer = { ...layer('Pooling', { kind: 'pool', poolH: 2, poolW: 2, stride: 2, pad: 0 }), poolMode: 'max' }; // the conv nets' 2×2 max pooling
  const layers: LayoutLayer[] = [];
  let inputShape: number[], labelSmoothing: number, classWeights: number[] | null;
  const fixesInput = spec.kind === 'simple-conv' || spec.kind === 'deep-conv';
  switch (spec.kind) {
    case 'mlp': case 'mlp-extend': {
      const plan = spec.kind === 'mlp' ? { ...planMultiLayerNet(spec.options), useBatchnorm: false, useDropout: false, dropoutRatio: 0 } : planMultiLayerNetExtend(spec.options);
      const { sizes } = plan;
      const act = activation(plan.activation).name; // a layer object only: no memory
      for (let i = 1; i < sizes.length; i++) {
        layers.push(affine(i));
        if (i === sizes.length - 1) break;
        if (plan.useBatchnorm) {
          const norm = layer('BatchNormalization', { kind: 'features', features: sizes[i] }, [`gamma${i}`, `beta${i}`], [`runningMean${i}`, `runningVar${i}`]);
          layers.push({ ...norm, batchNorm: MLP_BATCH_NORM });
        }
        layers.push(keep(act));
        if (plan.useDropout) layers.push(dropout(plan.dropoutRatio));
      }
      inputShape = [sizes[0]];
      labelSmoothing = plan.labelSmoothing;
      classWeights = plan.classWeights;
      break;
    }
    case 'simple-conv': {
      const o = readSimpleConvNetOptions(spec.options);
      layers.push(conv(1, o.convParam), keep('Relu'), pool, affine(2), keep('Relu'), affine(3));
      inputShape = o.inputDim;
      labelSmoothing = o.labelSmoothing;
      classWeights = o.classWeights;
      break;
    }
    case 'deep-conv': {
      const o = readDeepConvNetOptions(spec.options);
      o.convParams.forEach((p, i) => {
        layers.push(conv(i + 1, p), keep('Relu'));
        if (i % 2 === 1) layers.push(pool);
      });
      layers.push(affine(7), keep('Relu'), dropout(0.5), affine(8), dropout(0.5));
      inputShape = o.inputDim;
      labelSmoothing = o.labelSmoothing;
      classWeights = o.classWeights;
      break;
    }
  }
  return { layers, inputShape, fixesInput, labelSmoothing, classWeights };
}
