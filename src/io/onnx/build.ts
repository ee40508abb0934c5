// Building importOnnx's net from its plan, the only allocation: the plan's Sequential, or the named net the
// model is (named.ts) with its tensors written from the graph's; and the summary of the net a plan makes,
// without a runtime (inspectOnnx's, equal to the built net's net.summary()).
import {
  Affine, BatchNormalization, buildNet, Convolution, Dropout, Flatten, GlobalAveragePooling, InstanceNormalization, LayerNormalization,
  ParameterSet, Pooling, Relu, Sequential, Sigmoid, summarizePlans, Tanh, type Layer, type LayerPlan, type NamedNet, type NetSummary,
  type Runtime, type ShapeRule,
} from '../../index.js';
import type { NamedPlan } from './named.js';
import { layerName, type Plan, type Planned } from './planners.js';

/**
 * The net of the plan on rt, in two allocations: its parameters and their gradients in one ParameterSet (freed
 * with the net), which holds the batch norms' running statistics too, so no layer's constructor allocates (a
 * layer that runs out of memory part way through its constructor cannot free what it made). On a failure,
 * nothing is left allocated.
 */
export function buildSequential(rt: Runtime, plan: Plan): Sequential {
  const specs: Array<[string, number[]]> = [];
  plan.layers.forEach((p, i) => {
    if (p.kind === 'affine') specs.push([`W${i}`, [p.D, p.M]], [`b${i}`, [p.M]]);
    else if (p.kind === 'conv') specs.push([`W${i}`, p.shape], [`b${i}`, [p.shape[0]]]);
    else if (p.kind === 'batchnorm' || p.kind === 'layernorm' || p.kind === 'instancenorm') specs.push([`gamma${i}`, [p.gamma.length]], [`beta${i}`, [p.beta.length]]);
    // layer state, not parameters: optimizers see the layers' params only (Sequential keys them), never these
    if (p.kind === 'batchnorm') specs.push([`runningMean${i}`, [p.mean.length]], [`runningVar${i}`, [p.variance.length]]);
  });
  const set = new ParameterSet(rt, specs); // a RangeError when memory runs out, leaving nothing
  const layers: Layer[] = [];
  try {
    const { params: P, grads: G } = set;
    const filled = (name: string, values: Float32Array) => {
      P[name].data.set(values);
      return P[name];
    };
    plan.layers.forEach((p, i) => {
      switch (p.kind) {
        case 'affine': layers.push(new Affine(filled(`W${i}`, p.W), filled(`b${i}`, p.b), { dW: G[`W${i}`], db: G[`b${i}`] })); break;
        case 'conv': layers.push(new Convolution(filled(`W${i}`, p.W), filled(`b${i}`, p.b), p.stride, p.pad, { dW: G[`W${i}`], db: G[`b${i}`] })); break;
        case 'pool': layers.push(new Pooling(p.kh, p.kw, p.stride, p.pad, { mode: p.mode })); break;
        case 'gap': layers.push(new GlobalAveragePooling()); break;
        case 'relu': layers.push(new Relu()); break;
        case 'sigmoid': layers.push(new Sigmoid()); break;
        case 'tanh': layers.push(new Tanh()); break;
        case 'flatten': layers.push(new Flatten()); break;
        case 'dropout': layers.push(new Dropout(p.ratio, { inverted: p.inverted })); break;
        case 'batchnorm': {
          layers.push(new BatchNormalization(filled(`gamma${i}`, p.gamma), filled(`beta${i}`, p.beta), p.momentum, {
            eps: p.eps, spatial: p.spatial, dgamma: G[`gamma${i}`], dbeta: G[`beta${i}`],
            runningMean: filled(`runningMean${i}`, p.mean), runningVar: filled(`runningVar${i}`, p.variance),
          }));
          break;
        }
        case 'layernorm': case 'instancenorm': {
          const Norm = p.kind === 'layernorm' ? LayerNormalization : InstanceNormalization;
          layers.push(new Norm(filled(`gamma${i}`, p.gamma), filled(`beta${i}`, p.beta), { eps: p.eps, dgamma: G[`gamma${i}`], dbeta: G[`beta${i}`] }));
          break;
        }
      }
    });
    return new Sequential(rt, layers, { parameterSet: set, inputShape: plan.inputShape, evalBatchSize: plan.inputShape.length === 3 ? 100 : 1000 });
  } catch (e) {
    set.dispose(); // the layers made so far hold only the set's tensors (their buffers are made at their first forward)
    throw e;
  }
}


/**
 * The named net of `named` on rt: buildNet's, its initial weights (drawn from rt's stream, which is put back where
 * it was) replaced by the graph's values, bit for bit. On a failure, nothing is left allocated.
 */
export function buildNamed(rt: Runtime, named: NamedPlan): NamedNet {
  const net = rt.drawsUndone(() => buildNet(rt, named.spec)); // the constructor frees what it made if memory runs out
  try {
    const tensors = { ...net.params, ...net.state };
    for (const [key, values] of named.values) tensors[key].data.set(values);
    return net;
  } catch (e) {
    net.dispose();
    throw e;
  }
}

/**
 * The summary of the Sequential buildSequential makes of `plan` (its net.summary()), without building it: its
 * layers' tensors keyed as Sequential keys them (W1, b1, gamma1, …: a layer's index counts the weight layers so
 * far; a norm that finds its keys taken, a second one before the next weight layer, takes the suffix _2, _3, …).
 */
export function summaryOfPlan(plan: Plan): NetSummary {
  const claimed = new Set<string>();
  let index = 0;
  const layers = plan.layers.map((p): LayerPlan => {
    const { params, state } = tensorShapes(p);
    if (params.some(([name]) => name === 'W')) index++;
    const base = Math.max(index, 1);
    let suffix = '';
    for (let n = 2; [...params, ...state].some(([name]) => claimed.has(`${name}${base}${suffix}`)); n++) suffix = `_${n}`;
    const keyed = ([name, shape]: readonly [string, number[]]): [string, number[]] => {
      claimed.add(`${name}${base}${suffix}`);
      return [`${name}${base}${suffix}`, shape];
    };
    return { name: layerName(p), rule: ruleOf(p), params: params.map(keyed), state: state.map(keyed) };
  });
  return summarizePlans(layers, { shape: [...plan.inputShape], given: false }, 0, null);
}

/** A planned layer's tensors by the layer's own names (its params, then its state), with the shapes buildSequential gives them. */
function tensorShapes(p: Planned): { params: Array<[string, number[]]>; state: Array<[string, number[]]> } {
  switch (p.kind) {
    case 'affine': return { params: [['W', [p.D, p.M]], ['b', [p.M]]], state: [] };
    case 'conv': return { params: [['W', [...p.shape]], ['b', [p.shape[0]]]], state: [] };
    case 'batchnorm': {
      const C = p.gamma.length;
      return { params: [['gamma', [C]], ['beta', [C]]], state: [['runningMean', [C]], ['runningVar', [C]]] };
    }
    case 'layernorm': case 'instancenorm': return { params: [['gamma', [p.gamma.length]], ['beta', [p.beta.length]]], state: [] };
    default: return { params: [], state: [] };
  }
}

/** How the layer buildSequential makes of `p` shapes a sample (the summary's rule for it). */
function ruleOf(p: Planned): ShapeRule {
  switch (p.kind) {
    case 'affine': return { kind: 'affine', inputs: p.D, outputs: p.M };
    case 'conv': {
      const [filters, channels, filterH, filterW] = p.shape;
      return { kind: 'conv', channels, filters, filterH, filterW, stride: p.stride, pad: p.pad };
    }
    case 'pool': return { kind: 'pool', poolH: p.kh, poolW: p.kw, stride: p.stride, pad: p.pad };
    case 'gap': return { kind: 'globalAvgPool' };
    case 'flatten': return { kind: 'flatten' };
    case 'batchnorm': return p.spatial ? { kind: 'channels', channels: p.gamma.length } : { kind: 'features', features: p.gamma.length };
    case 'layernorm': return { kind: 'features', features: p.gamma.length };
    case 'instancenorm': return { kind: 'channels', channels: p.gamma.length };
    default: return { kind: 'keep' }; // the activations and Dropout
  }
}
