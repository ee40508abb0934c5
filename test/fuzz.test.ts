// Fuzz: seeded random shapes (0, 1, small, huge, mismatched) and values (NaN,
// ±Inf, subnormals, float32 extremes) fed to every public layer (backward, and
// backwardThrough an activation for the layers that fuse one), loss, net,
// optimizer and tensor entry. Each case must end in a clear error (an Error
// whose message names the entry and argument) or a correct result (checked
// against the float64 book references where the inputs are tame, by shape and
// finiteness otherwise) — never a wasm trap, a hang or a changed canary, and
// never a changed input; tensors a layer or Dataset was given and the caller
// disposed, and layer lists a Sequential must refuse, too. Bounded: a fixed
// number of cases on a 64 MiB memory.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { makeRuntime, rng } from './helpers/runtime.js';
import { Canaries } from './helpers/canaries.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { IntTensor, Tensor } from '../src/runtime/tensor.js';
import {
  Affine, BatchNormalization, Convolution, Dropout, Flatten, GlobalAveragePooling, InstanceNormalization,
  LayerNormalization, Pooling, SoftmaxWithLoss, activation, fusesActivationBackward, type ActivationBackwardFusingLayer,
  type ActivationName, type Layer,
} from '../src/layers/index.js';
import { MultiLayerNet, MultiLayerNetExtend, Sequential, SimpleConvNet } from '../src/nets/index.js';
import { Dataset } from '../src/data/index.js';
import { createOptimizer, optimizerNames, type OptimizerState } from '../src/optim/index.js';
import * as book from './reference/book.js';
import * as conv from './reference/im2col.js';

const SEED = 20261201;
const CASES = 1000;
/** Longest plain label array a case builds (a huge N gets a too-short one: a mismatch). */
const LABELS = 1 << 12;

let rt: Runtime;
let other: Runtime;
beforeAll(async () => {
  rt = await makeRuntime({ memory: { initial: 64, maximum: 1024 } }); // 64 MiB: huge shapes fail fast
  other = await makeRuntime();
});
afterAll(async () => { await rt.dispose(); await other.dispose(); });

/** A random source and the disposables of one case. */
/** The bits of an input (its first and last CHECKED words when it is bigger), to spot a write into it. */
function inputBits(t: Tensor | IntTensor): Int32Array {
  const words = new Int32Array(t.rt.memory.buffer, t.ptr, t.size);
  if (t.size <= 2 * CHECKED) return words.slice();
  const out = new Int32Array(2 * CHECKED);
  out.set(words.subarray(0, CHECKED));
  out.set(words.subarray(t.size - CHECKED), CHECKED);
  return out;
}

class Case {
  readonly owned: Array<{ dispose(): void }> = [];
  /** Inputs whose bits must not change, with their bits. */
  readonly inputs: Array<{ t: Tensor | IntTensor; bits: Int32Array }> = [];

  /** Canaries go before the case and after each input it allocates. */
  constructor(readonly next: () => number, private readonly canaries: Canaries) {}

  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(items: readonly T[]): T { return items[Math.floor(this.next() * items.length)]; }

  /** A dimension: mostly small, sometimes 0, 1 or huge. */
  dim(small = 6): number {
    const r = this.next();
    if (r < 0.08) return 0;
    if (r < 0.2) return 1;
    if (r < 0.96) return this.int(2, small);
    return this.pick([1 << 16, 1 << 20, 1 << 26, 2 ** 31, 2 ** 32 + 1]);
  }

  /** A float: tame mostly, else NaN, ±Inf, subnormal, ±0, float32 extremes. */
  value(wild: boolean): number {
    if (!wild || this.next() < 0.8) return (this.next() * 4 - 2);
    return this.pick([NaN, Infinity, -Infinity, 1e-40, -1e-42, 1.4e-45, 0, -0, 3.4e38, -3.4e38, 1e30]);
  }

  /** A float tensor of `shape` (the allocation may fail: a clear error is a valid outcome). */
  tensor(shape: readonly number[], wild = this.chance(0.3), input = true, on: Runtime = rt): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = n <= 1 << 16 ? on.tensor(shape, Float32Array.from({ length: n }, () => this.value(wild))) : on.tensor(shape);
    this.owned.push(t);
    if (on === rt) this.canaries.place();
    if (input && on === rt) this.inputs.push({ t, bits: inputBits(t) });
    return t;
  }

  /** A tensor argument: usually `shape` on rt; sometimes disposed, a dead view, another runtime's, an IntTensor or not a tensor. */
  arg(shape: readonly number[], wild?: boolean, input = true): Tensor {
    const r = this.next();
    if (r < 0.9) return this.tensor(shape, wild, input);
    if (r < 0.92) { const t = rt.tensor([1]); t.dispose(); return t; }
    if (r < 0.94) { const t = rt.tensor([2, 2]); const v = t.rows(0, 1); t.dispose(); return v; }
    if (r < 0.96) return this.tensor(shape, wild, false, other);
    if (r < 0.98) { const t = rt.labels([2]); this.owned.push(t); return t as unknown as Tensor; }
    return this.pick([null, undefined, [1, 2, 3], { ptr: 0, shape }, 'x']) as unknown as Tensor;
  }

  /** A shape of `rank` dims, or a mismatched variant of `shape`. */
  shapeLike<S extends readonly number[]>(shape: S, pMismatch = 0.15): S | number[] {
    if (!this.chance(pMismatch)) return shape;
    const s = [...shape];
    if (this.chance(0.3)) return this.chance(0.5) ? s.slice(1) : [...s, this.dim()];
    const i = this.int(0, s.length - 1);
    s[i] = this.dim();
    return s;
  }

  own<T extends { dispose(): void }>(o: T): T { this.owned.push(o); return o; }

  dispose(): void {
    for (const o of this.owned.splice(0).reverse()) o.dispose();
  }
}

/** Largest tensor whose values a case checks against a reference (bigger ones: shapes only). */
const CHECKED = 1 << 16;
/** A tensor's values when it is small enough to check, else null (not copied). */
const values = (t: Tensor): Float32Array | null => (t.size <= CHECKED ? t.toArray() : null);
const tame = (a: ArrayLike<number> | null): a is ArrayLike<number> => a !== null && a.length <= CHECKED && Array.prototype.every.call(a, (v: number) => Number.isFinite(v) && (v === 0 || Math.abs(v) >= 1e-30) && Math.abs(v) < 1e3);
const finite = (a: ArrayLike<number>) => Array.prototype.every.call(a, (v: number) => Number.isFinite(v));

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-4, atol = 1e-5): void {
  expect(actual.length, what).toBe(expected.length);
  const w = book.worst(actual, expected, rtol, atol);
  expect(w.ratio, `${what}: worst at [${w.index}]: ${actual[w.index]} vs ${expected[w.index]}`).toBeLessThanOrEqual(1);
}

const ACTIVATIONS: Record<ActivationName, { f: (x: ArrayLike<number>) => Float64Array }> = {
  relu: { f: book.relu }, sigmoid: { f: book.sigmoid }, tanh: { f: book.tanh },
};

/** Forward then backward of a layer, each with a possibly mismatched argument; checks shapes. */
function forwardBackward(c: Case, layer: Layer, x: Tensor, train: boolean, expectShape?: () => readonly number[]): { y: Tensor; dx: Tensor | null } {
  const y = layer.forward(x, train);
  if (expectShape) expect(y.shape).toEqual(expectShape());
  const inputsTame = tame(values(x)) && Object.values(layer.params).every((p) => tame(values(p)));
  if (inputsTame) expect(finite(y.toArray()), `${layer.name}: finite in, finite out`).toBe(true);
  if (!c.chance(0.7)) return { y, dx: null };
  const dout = c.arg(c.shapeLike(y.shape));
  const dx = fusesActivationBackward(layer) && c.chance(0.4) ? backwardThrough(c, layer, x, dout) : layer.backward(dout);
  expect(dx.shape).toEqual(x.shape);
  return { y, dx };
}

/**
 * layer.backwardThrough(dout, before) for an activation `before` that ran forward on a possibly
 * mismatched argument (or not at all); where it returns, its bits are those of before.backward(layer.backward(dout)).
 */
function backwardThrough(c: Case, layer: ActivationBackwardFusingLayer, x: Tensor, dout: Tensor): Tensor {
  const before = c.own(activation(c.pick(['relu', 'sigmoid', 'tanh'] as const)));
  if (c.chance(0.9)) before.forward(c.arg(c.shapeLike(x.shape)));
  const fused = layer.backwardThrough(dout, before);
  if (fused.size <= CHECKED) {
    const got = fused.toArray();
    expectBits(got, before.backward(layer.backward(dout)).toArray(), `${layer.name}.backwardThrough`);
  }
  return fused;
}

function expectBits(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(new Int32Array(actual.buffer, actual.byteOffset, actual.length), what).toEqual(new Int32Array(expected.buffer, expected.byteOffset, expected.length));
}

type Entry = (c: Case) => void;

const entries: Record<string, Entry> = {
  tensor(c) {
    const shape = c.chance(0.9) ? Array.from({ length: c.int(0, 4) }, () => c.dim()) : c.pick([[-1], [1.5], [NaN], [Infinity], null]) as number[];
    const n = Array.isArray(shape) ? shape.reduce((a, b) => a * b, 1) : 0;
    const data = c.chance(0.5) ? Float32Array.from({ length: Math.min(Math.max(0, n + c.pick([0, 0, 1, -1])), 1 << 16) }, () => c.value(true)) : undefined;
    const t = c.own(rt.tensor(shape, data));
    if (data) expect(new Int32Array(t.toArray().buffer)).toEqual(new Int32Array(data.buffer));
    const r = c.int(0, 3);
    if (r === 0) expect(t.reshape(c.shapeLike([t.size], 0.5)).size).toBe(t.size);
    if (r === 1) { const a = c.int(-1, 3), b = c.int(-1, 4); expect(t.rows(a, b).shape[0]).toBe(b - a); }
    if (r === 2) { const o = c.int(-1, 4), s = [c.dim()]; expect(t.view(o, s).size).toBe(s[0]); }
    if (r === 3) t.set(Float32Array.from({ length: t.size + c.pick([0, 1, -1]) }, () => c.value(true)));
  },

  activation(c) {
    const name = c.pick(['relu', 'sigmoid', 'tanh'] as const);
    const layer = c.own(activation(name));
    const x = c.arg(Array.from({ length: c.int(1, 3) }, () => c.dim()));
    const { y } = forwardBackward(c, layer, x, c.chance(0.5), () => x.shape);
    const xs = values(x);
    if (tame(xs)) expectClose(y.toArray(), ACTIVATIONS[name].f(xs), name);
  },

  affine(c) {
    const D = c.dim(), M = c.dim();
    const layer = c.own(new Affine(c.arg([D, M]), c.arg(c.shapeLike([M]))));
    const N = c.dim();
    const x = c.arg(c.shapeLike([N, D]));
    const { y } = forwardBackward(c, layer, x, true, () => [x.shape[0], M]);
    const [xs, W, b] = [values(x), values(layer.W), values(layer.b)];
    if (tame(xs) && tame(W) && tame(b) && x.size * M < 1 << 16) expectClose(y.toArray(), book.affine(xs, W, b, x.shape[0], D, M), 'Affine');
  },

  batchNorm(c) {
    const C = c.dim(), spatial = c.chance(0.4);
    const layer = c.own(new BatchNormalization(c.arg([C]), c.arg(c.shapeLike([C])), c.pick([0.9, 0, 1, 1.5, NaN]), { spatial, eps: c.pick([1e-6, 1e-3, 0]) }));
    const x = c.arg(c.shapeLike(spatial ? [c.dim(), C, c.dim(4), c.dim(4)] : [c.dim(), C]));
    forwardBackward(c, layer, x, c.chance(0.7), () => x.shape);
  },

  sampleNorm(c) {
    const instance = c.chance(0.5), C = c.dim();
    const gamma = c.arg(instance ? [C] : [C * 2]), beta = c.arg(c.shapeLike(gamma?.shape ?? [C]));
    const layer = c.own(instance ? new InstanceNormalization(gamma, beta, { eps: c.pick([1e-5, -1]) }) : new LayerNormalization(gamma, beta));
    const x = c.arg(c.shapeLike(instance ? [c.dim(), C, c.dim(4), c.dim(4)] : [c.dim(), C, 2]));
    forwardBackward(c, layer, x, true, () => x.shape);
  },

  dropout(c) {
    const layer = c.own(new Dropout(c.pick([0.5, 0, 0.9, 1, -0.1, NaN]), { inverted: c.chance(0.5) }));
    if (c.chance(0.2)) layer.setMask(c.arg([2, 3]));
    const x = c.arg([c.dim(), c.dim()]);
    forwardBackward(c, layer, x, c.chance(0.6), () => x.shape);
  },

  convolution(c) {
    const FN = c.int(0, 3), C = c.int(1, 3), FH = c.int(1, 3), FW = c.int(1, 3);
    const stride = c.pick([1, 1, 2, 3, 0, 2 ** 25]), pad = c.pick([0, 0, 1, 2, -1, 2 ** 25]);
    const layer = c.own(new Convolution(c.arg([FN, C, FH, FW]), c.arg(c.shapeLike([FN])), stride, pad));
    const huge = c.chance(0.01);
    const x = huge ? c.tensor([1, C, 3000, 3000], false) : c.arg(c.shapeLike([c.dim(3), C, c.dim(9), c.dim(9)]));
    if (!(x instanceof Tensor)) { layer.forward(x); return; } // throws: the geometry below needs a shape
    const g = { N: x.shape[0], C, H: x.shape[2], W: x.shape[3], FH, FW, stride, pad };
    const { OH, OW } = conv.outSize(g);
    const { y } = forwardBackward(c, layer, x, true, () => [g.N, FN, OH, OW]);
    const [xs, W, b] = [values(x), values(layer.W), values(layer.b)];
    if (tame(xs) && tame(W) && tame(b) && y.size < 1 << 14) expectClose(y.toArray(), conv.convForward(xs, W, b, FN, g), 'Convolution');
  },

  pooling(c) {
    const mode = c.pick(['max', 'avg'] as const);
    const P = c.pick([1, 2, 3, 0, 2 ** 30]), stride = c.pick([1, 2, 0]), pad = c.pick([0, 1, 0]);
    const layer = c.own(new Pooling(P, P, stride, pad, { mode }));
    const x = c.arg(c.shapeLike([c.dim(3), c.dim(3), c.dim(8), c.dim(8)]));
    if (!(x instanceof Tensor)) { layer.forward(x); return; } // throws: the geometry below needs a shape
    const g = { N: x.shape[0], C: x.shape[1], H: x.shape[2], W: x.shape[3], FH: P, FW: P, stride, pad };
    const { OH, OW } = conv.outSize(g);
    const { y } = forwardBackward(c, layer, x, false, () => [g.N, g.C, OH, OW]);
    const xs = values(x);
    if (tame(xs) && y.size < 1 << 14) expectClose(y.toArray(), conv.poolForward(xs, g, mode).out, `${mode} pooling`);
  },

  globalAveragePooling(c) {
    const layer = c.own(new GlobalAveragePooling());
    const x = c.arg(c.shapeLike([c.dim(), c.dim(), c.dim(), c.dim()]));
    forwardBackward(c, layer, x, false, () => x.shape.slice(0, 2));
  },

  flatten(c) {
    const layer = c.own(new Flatten());
    const x = c.arg(Array.from({ length: c.int(0, 4) }, () => c.dim()));
    const { y } = forwardBackward(c, layer, x, false);
    expect(y.size).toBe(x.size);
    if (x.size <= CHECKED) expect(y.toArray()).toEqual(x.toArray());
  },

  softmaxWithLoss(c) {
    const layer = c.own(new SoftmaxWithLoss());
    const N = c.dim(), C = c.dim();
    const x = c.arg(c.shapeLike([N, C]));
    const form = c.int(0, 3);
    const labels = Array.from({ length: Math.min(c.chance(0.9) ? N : c.dim(), LABELS) }, () => (c.chance(0.95) ? c.int(0, C - 1) : c.pick([C, -1, 1.5, NaN, 2 ** 32 + 1])));
    const t = form === 0 ? labels
      : form === 1 ? c.own(rt.labels([labels.length], labels.map((v) => (Number.isInteger(v) ? v : 0))))
        : form === 2 ? c.arg(c.shapeLike([N, C]), false) : c.pick([null, 'labels', 3]) as unknown as number[];
    const loss = layer.forward(x, t);
    const xs = values(x);
    if (form === 0 && tame(xs)) {
      const [rows, cols] = x.shape; // forward accepted x and the labels: x may be a mismatched shape that fits them
      expectClose([loss], [book.crossEntropy(book.softmax(xs, rows, cols), book.oneHot(labels, cols), rows, cols)], 'SoftmaxWithLoss', 1e-4, 1e-5);
    }
    const dx = layer.backward(c.pick([1, 1, 0.5, NaN, Infinity]));
    expect(dx.shape).toEqual(x.shape);
  },

  multiLayerNet(c) {
    const extend = c.chance(0.4);
    const inputSize = c.dim(), outputSize = c.dim(5);
    const options = {
      inputSize, hiddenSizeList: Array.from({ length: c.int(0, 2) }, () => c.dim()), outputSize,
      activation: c.pick(['relu', 'sigmoid', 'tanh', 'relu', 'gelu']) as ActivationName,
      weightInitStd: c.pick(['he', 'xavier', 0.01, NaN, -1] as const),
      weightDecayLambda: c.pick([0, 0, 0.1, -1, NaN]),
    };
    const before = rt.memoryStats().used;
    let net: Sequential;
    try {
      net = extend
        ? new MultiLayerNetExtend(rt, { ...options, useBatchnorm: c.chance(0.5), useDropout: c.chance(0.3), dropoutRatio: c.pick([0.5, 1, -1]) })
        : new MultiLayerNet(rt, options);
    } catch (e) {
      expect(rt.memoryStats().used, 'a failed constructor leaks nothing').toBe(before);
      throw e;
    }
    c.own(net);
    netCalls(c, net, [c.dim(), inputSize], outputSize);
  },

  simpleConvNet(c) {
    const H = c.int(4, 10);
    const net = c.own(new SimpleConvNet(rt, {
      inputDim: [1, H, H], convParam: { filterNum: c.int(1, 3), filterSize: c.pick([3, 5, 11]), pad: c.pick([0, 1]), stride: 1 },
      hiddenSize: c.int(0, 8), outputSize: c.int(0, 4),
    }));
    netCalls(c, net, [c.dim(3), 1, H, H], net.params.W3.shape[1]);
  },

  importParams(c) {
    const net = c.own(new MultiLayerNetExtend(rt, { inputSize: c.int(1, 4), hiddenSizeList: [c.int(1, 4)], outputSize: c.int(1, 3), useBatchnorm: true }));
    const saved = net.exportParams() as Record<string, { shape: number[]; data: ArrayLike<number> }>;
    const keys = Object.keys(saved);
    const k = c.pick(keys);
    switch (c.int(0, 4)) {
      case 0: delete saved[k]; break;
      case 1: saved[k] = { shape: c.shapeLike(saved[k].shape, 1), data: saved[k].data }; break;
      case 2: saved[k] = { shape: saved[k].shape, data: Array.from({ length: Math.min(c.dim(), 1 << 16) }, () => c.value(true)) }; break;
      case 3: saved[k] = c.pick([null, 7, { shape: 'x' }]) as unknown as { shape: number[]; data: number[] }; break;
      case 4: saved[k] = { shape: saved[k].shape, data: Array.from(saved[k].data, () => c.value(true)) }; break;
    }
    const before = net.exportParams();
    const snap = c.own(net.snapshotState());
    snap.save();
    try {
      net.importParams(saved);
    } catch (e) {
      expect(net.exportParams(), 'a refused import writes nothing').toEqual(before);
      throw e;
    }
    snap.restore();
  },

  optimizer(c) {
    const opt = c.own(createOptimizer(c.pick(optimizerNames)));
    const keys = Array.from({ length: c.int(0, 3) }, (_, i) => `p${i}`);
    const shapes = keys.map(() => [c.dim(), c.dim()]);
    const params = Object.fromEntries(keys.map((k, i) => [k, c.arg(shapes[i], false, false)])); // updated in place: not inputs
    const grads = Object.fromEntries(keys.map((k, i) => [k, c.arg(c.shapeLike(shapes[i], 0.1))]));
    if (c.chance(0.1) && keys.length > 0) delete grads[keys[0]];
    const hyper = opt as unknown as Record<string, number>;
    if (c.chance(0.2)) hyper.lr = c.pick([NaN, -1, Infinity, 0.1]);
    for (let i = c.int(1, 3); i > 0; i--) {
      opt.update(params, grads);
      if (keys.every((k) => grads[k] && tame(values(grads[k])))) {
        for (const k of keys) expect(finite(params[k].toArray()), `${opt.name}: tame gradients keep ${k} finite`).toBe(true);
      }
    }
    if (c.chance(0.5) && keys.every((k) => params[k]?.size <= CHECKED)) {
      const state = structuredClone(opt.state()) as OptimizerState;
      const entry = Object.values(state.params)[0] as Record<string, number[]> | undefined;
      const slot = entry && Object.keys(entry).find((s) => s !== 'shape');
      if (slot && entry[slot].length > 0) entry[slot][0] = c.pick([-1, NaN, Infinity, 1e39, 0.5]);
      if (c.chance(0.2) && keys.length > 0) delete state.params[keys[0]];
      if (c.chance(0.1)) state.t = c.pick([-1, 1.5, NaN]);
      opt.loadState(state);
      opt.update(params, grads);
    }
  },

  /** A tensor a layer was given, disposed by the caller and its block taken by an input that must stay unchanged. */
  givenDisposed(c) {
    const C = c.int(1, 3), M = c.int(1, 3);
    const kinds: Record<string, () => { layer: Layer; given: Tensor[]; xShape: number[] }> = {
      affine: () => { const g = [[C, M], [M], [C, M], [M]].map((s) => c.tensor(s, false, false)); return { layer: new Affine(g[0], g[1], { dW: g[2], db: g[3] }), given: g, xShape: [c.dim(3), C] }; },
      convolution: () => { const g = [[M, C, 2, 2], [M], [M, C, 2, 2], [M]].map((s) => c.tensor(s, false, false)); return { layer: new Convolution(g[0], g[1], 1, 0, { dW: g[2], db: g[3] }), given: g, xShape: [c.dim(3), C, 3, 3] }; },
      batchNorm: () => { const g = Array.from({ length: 6 }, () => c.tensor([C], false, false)); g[3].data.fill(1); return { layer: new BatchNormalization(g[0], g[1], 0.9, { runningMean: g[2], runningVar: g[3], dgamma: g[4], dbeta: g[5] }), given: g, xShape: [c.dim(3) + 1, C] }; },
      layerNorm: () => { const g = Array.from({ length: 4 }, () => c.tensor([C], false, false)); return { layer: new LayerNormalization(g[0], g[1], { dgamma: g[2], dbeta: g[3] }), given: g, xShape: [c.dim(3), C] }; },
    };
    const { layer, given, xShape } = kinds[c.pick(Object.keys(kinds))]();
    c.own(layer);
    const x = c.tensor(xShape);
    const y = layer.forward(x, true);
    const dout = c.tensor(y.shape);
    const gone = c.chance(0.8) ? c.pick(given) : null;
    if (gone) {
      gone.dispose();
      c.tensor(gone.shape, true); // takes the freed block; as an input, its bits must not change
    }
    if (c.chance(0.5)) layer.backward(dout);
    else layer.forward(x, true);
    expect(gone, `${layer.name}: a call with a disposed given tensor returned`).toBe(null);
  },

  /** A Dataset whose borrowed x or t, or itself, may have been disposed (the block then taken by an input). */
  dataset(c) {
    const N = c.int(2, 8), D = c.int(1, 4);
    const x = c.tensor([N, D], false, false);
    const t = c.own(rt.labels([N], Array.from({ length: N }, (_, i) => i % 3)));
    const d = c.own(new Dataset(x, t));
    const what = c.pick(['x', 't', 'dataset', null] as const);
    if (what === 'x') { x.dispose(); c.tensor([N, D]); }
    if (what === 't') { t.dispose(); c.tensor([N]); }
    if (what === 'dataset') d.dispose();
    switch (c.int(0, 4)) {
      case 0: c.own(d.select([c.int(0, N - 1)])); break;
      case 1: c.own(d.shuffle(c.int(0, 9))); break;
      case 2: { const b = d.randomChoice(c.int(1, 4)); expect(b.x.shape[1]).toBe(D); break; }
      case 3: for (const b of d.batches(c.int(1, 4))) expect(b.x.shape[1]).toBe(D); break;
      case 4: { const s = d.split(0.5, 1); c.own(s.train); c.own(s.validation); break; }
    }
    expect(what, 'Dataset: a call after this was disposed returned').toBe(null);
  },

  /** Sequential over a random list: layers placed twice, the loss layer, non-layers, another runtime's. */
  sequential(c) {
    const pool: unknown[] = [new Affine(c.tensor([2, 2], false, false), c.tensor([2], false, false)), activation('relu'), new Dropout(0.2)];
    for (const l of pool) c.own(l as Layer);
    const layers = Array.from({ length: c.int(0, 4) }, () => {
      const r = c.next();
      if (r < 0.6) { const l = c.own(new Affine(c.tensor([2, 2], false, false), c.tensor([2], false, false))); return c.chance(0.5) ? c.own(activation('tanh')) : l; }
      if (r < 0.8) return c.pick(pool);
      if (r < 0.9) return c.own(new Affine(c.tensor([2, 2], false, false, other), c.tensor([2], false, false, other)));
      return c.pick([new SoftmaxWithLoss(), null, {}, 'Affine', { forward() {}, backward() {} }]);
    });
    const net = c.own(new Sequential(rt, layers as Layer[]));
    const unique = new Set(layers).size === layers.length;
    expect(unique, 'Sequential: a layer placed twice was kept').toBe(true);
    // every Affine is 2 → 2, so the output is [N, 2] (without one, it is x as given)
    if (net.layers.some((l) => l instanceof Affine)) netCalls(c, net, [c.dim(3), 2], 2);
  },
};

/** The net entries, each with a possibly mismatched x and targets in every form. */
function netCalls(c: Case, net: Sequential, xShape: number[], classes: number): void {
  const x = c.arg(c.shapeLike(xShape));
  const N = (x as Tensor | null)?.shape?.[0] ?? 1;
  const t = c.chance(0.5)
    ? Array.from({ length: Math.min(c.chance(0.9) ? N : c.dim(), LABELS) }, () => (c.chance(0.95) ? c.int(0, classes - 1) : c.pick([classes, -1, 0.5, NaN])))
    : c.arg(c.shapeLike([N, classes]), false);
  switch (c.int(0, 5)) {
    case 0: {
      const y = c.own(net.predict(x, c.chance(0.3)));
      expect(y.shape).toEqual([N, classes]);
      if (tame(values(x))) expect(finite(y.toArray()), 'predict: finite in, finite out').toBe(true);
      break;
    }
    case 5: {
      const y = c.own(c.own(net.freeze()).predict(x));
      expect(y.shape).toEqual([N, classes]);
      if (tame(values(x))) expect(finite(y.toArray()), 'frozen predict: finite in, finite out').toBe(true);
      break;
    }
    case 1: net.loss(x, t); break;
    case 2: { const a = net.accuracy(x, t); expect(a >= 0 && a <= 1).toBe(true); break; }
    case 3: { const e = net.evaluate(x, t); expect(e.accuracy >= 0 && e.accuracy <= 1).toBe(true); break; }
    case 4: {
      const grads = net.gradient(x, t);
      expect(Object.keys(grads)).toEqual(Object.keys(net.params));
      break;
    }
  }
}

describe('fuzz', () => {
  it(`${CASES} seeded cases over every public entry: clear errors or correct results, no trap, hang or changed canary`, () => {
    const next = rng(SEED);
    const names = Object.keys(entries);
    const tally = { cases: 0, ok: 0, errors: 0, traps: 0, unclear: 0, canariesChanged: 0, inputsChanged: 0 };
    const problems: string[] = [];
    const slowest = { ms: 0, what: '' };
    const byEntry = new Map<string, number>();
    const canaries = new Canaries(rt, SEED);
    for (let i = 0; i < CASES; i++) {
      const name = names[i % names.length];
      canaries.place();
      const c = new Case(next, canaries);
      const start = performance.now();
      let failure: unknown = null;
      try {
        entries[name](c);
        tally.ok++;
      } catch (e) {
        failure = e;
      }
      const ms = performance.now() - start;
      if (ms > slowest.ms) Object.assign(slowest, { ms, what: `case ${i} ${name}` });
      byEntry.set(name, (byEntry.get(name) ?? 0) + ms);
      tally.cases++;
      if (failure !== null) {
        if (failure instanceof WebAssembly.RuntimeError) { tally.traps++; problems.push(`case ${i} ${name}: wasm trap ${String(failure)}`); }
        else if (failure instanceof Error && failure.constructor.name === 'AssertionError') throw Object.assign(failure, { message: `case ${i} ${name}: ${failure.message}` });
        else if (failure instanceof Error && /^[\w.[\]' ]+(\([^)]*\))?: \S/.test(failure.message)) tally.errors++;
        else { tally.unclear++; problems.push(`case ${i} ${name}: unclear error ${String(failure)}`); }
      }
      for (const { t, bits } of c.inputs) {
        if (!t.alive) continue;
        const now = inputBits(t);
        if (now.some((v, j) => v !== bits[j])) { tally.inputsChanged++; problems.push(`case ${i} ${name}: an input changed`); break; }
      }
      c.dispose();
      const changed = canaries.changed();
      if (changed > 0) { tally.canariesChanged += changed; problems.push(`case ${i} ${name}: ${changed} canaries changed`); }
      canaries.dispose();
    }
    console.log(`fuzz: ${tally.cases} cases tried (${tally.ok} results, ${tally.errors} clear errors); traps ${tally.traps}, hangs ${CASES - tally.cases}, canaries changed ${tally.canariesChanged}, inputs changed ${tally.inputsChanged}, unclear errors ${tally.unclear}; slowest ${slowest.what} (${slowest.ms.toFixed(0)} ms); ms by entry ${[...byEntry].map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`);
    expect(problems).toEqual([]);
    expect(tally.ok).toBeGreaterThan(CASES / 5);
    expect(tally.errors).toBeGreaterThan(CASES / 5);
  });
});
