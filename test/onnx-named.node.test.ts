// importOnnx of a named net simdnn exported: the model's `simdnn.net` spec, checked against its graph, gives the
// named net back (MultiLayerNet, MultiLayerNetExtend with batch norm and dropout, SimpleConvNet, DeepConvNet, with
// their loss's options), with the same tensors bit for bit, the same predictions, the same training step, and a
// model file saveModel writes as it writes the original's; metadata that does not match its graph (another size,
// bad JSON, an unknown kind, other keys, options, eps, momentum, input) gives the plan's Sequential with the reason,
// never an error; inspectOnnx's summary is the imported net's net.summary().
// (.node: as the other ONNX tests.)
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import onnxProto from 'onnx-proto';
import { makeRuntime, randomArray, expectBits } from './helpers/runtime.js';
import {
  Affine, BatchNormalization, Convolution, DeepConvNet, Dropout, GlobalAveragePooling, InstanceNormalization, LayerNormalization, MultiLayerNet,
  MultiLayerNetExtend, OutOfMemoryError, Pooling, Relu, Sequential, Sigmoid, SimpleConvNet, Tanh, Tensor, loadModel, saveModel,
  type IntTensor, type Layer, type NamedNet,
} from '../src/index.js';
import { exportOnnx, importOnnx, inspectOnnx, ONNX_SPEC_KEY, type ExportOnnxOptions } from '../src/io/onnx/index.js';
import type { Runtime } from '../src/runtime/runtime.js';

const { onnx } = onnxProto;

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 67 }); });
afterAll(() => rt?.dispose());

let seed = 6700;
const rand = (n: number, lo = -1, hi = 1) => randomArray(n, seed++, lo, hi);
const tensor = (shape: number[], lo = -1, hi = 1) => rt.tensor(shape, rand(shape.reduce((a, b) => a * b, 1), lo, hi));
const labels = (n: number, classes: number) => rt.labels([n], Array.from({ length: n }, (_, i) => (i * 7 + 3) % classes));

/** Random biases and gammas (the constructors' zeros and ones would hide a value not written). */
function randomizeParams(net: Sequential): void {
  for (const [key, p] of Object.entries(net.params)) {
    if (key.startsWith('gamma')) p.set(rand(p.size, 0.5, 1.5));
    else if (key.startsWith('b')) p.set(rand(p.size, -0.5, 0.5));
  }
}

/** Every parameter and state tensor of `got` has the key, shape and bits of `want`'s. */
function expectSameTensors(got: Sequential, want: Sequential, what: string): void {
  const all = (n: Sequential) => ({ ...n.params, ...n.state });
  expect(Object.keys(all(got)), what).toEqual(Object.keys(all(want)));
  for (const [key, t] of Object.entries(all(want))) {
    expect(all(got)[key].shape, `${what}: ${key}`).toEqual(t.shape);
    expectBits(all(got)[key].toArray(), t.toArray(), `${what}: ${key}`);
  }
}

/** predict's bits of both nets on x. */
function expectSamePredictions(got: Sequential, want: Sequential, x: Tensor, what: string): void {
  const a = got.predict(x), b = want.predict(x);
  expectBits(a.toArray(), b.toArray(), what);
  a.dispose();
  b.dispose();
}

/**
 * Exports `net`, imports it back and expects the named net: its kind and spec, its tensors, predictions and loss
 * (label smoothing and class weights are the spec's), a training step from the same random stream giving the same
 * gradients and running statistics, the model file saveModel writes (and loadModel reads), inspectOnnx's spec and
 * summary; the random stream not advanced by the import.
 */
function expectNamedRoundTrip(net: NamedNet, x: Tensor, t: IntTensor, options: ExportOnnxOptions = {}): void {
  const bytes = exportOnnx(net, options);
  const stream = rt.randomState;
  const imported = importOnnx(rt, bytes);
  const kind = net.spec.kind;
  try {
    expect(rt.randomState, `${kind}: the random stream`).toEqual(stream);
    expect(imported.sequentialBecause, kind).toBeNull();
    expect(imported.spec, kind).toEqual(net.spec);
    expect(imported.net.constructor, kind).toBe(net.constructor);
    expect((imported.net as NamedNet).spec, kind).toEqual(net.spec);
    expect(imported.net.layers.map((l) => l.name), kind).toEqual(net.layers.map((l) => l.name));
    expect(imported.layers, kind).toEqual(net.layers.map((l) => l.name));
    expectSameTensors(imported.net, net, `${kind}: imported`);
    expectSamePredictions(imported.net, net, x, `${kind}: predict`);
    expect(Object.is(imported.net.loss(x, t), net.loss(x, t)), `${kind}: loss`).toBe(true);
    // a training step: the same dropout masks from the same stream, the same batch statistics and updates
    const from = rt.randomState;
    const want = Object.fromEntries(Object.entries(net.gradient(x, t)).map(([k, g]) => [k, g.toArray()]));
    rt.randomState = from;
    const got = imported.net.gradient(x, t);
    for (const [k, g] of Object.entries(want)) expectBits(got[k].toArray(), g, `${kind}: gradient ${k}`);
    expectSameTensors(imported.net, net, `${kind}: after a training step`);
    // the model file: the very bytes of the original's (its spec, its tensors), read back as the same net
    if (imported.spec === null) throw new Error('unreachable: spec checked above');
    const file = saveModel(imported.net); // the union narrows: a NamedNet where spec is set
    expect(file, `${kind}: saveModel`).toEqual(saveModel(net));
    const loaded = loadModel(rt, file);
    expect(loaded.net.spec).toEqual(net.spec);
    expectSameTensors(loaded.net, net, `${kind}: loadModel`);
    loaded.net.dispose();
    // inspectOnnx: the same answer without a runtime, and the named net's summary
    const info = inspectOnnx(bytes);
    expect(info.spec, kind).toEqual(net.spec);
    expect(info.summary, `${kind}: summary`).toEqual(imported.net.summary());
    expect(info.summary, `${kind}: summary`).toEqual(net.summary());
  } finally {
    imported.net.dispose();
  }
}

describe('a named net through exportOnnx and back', () => {
  it('MultiLayerNet with label smoothing, class weights and weight decay', () => {
    const net = new MultiLayerNet(rt, {
      inputSize: 12, hiddenSizeList: [10, 8], outputSize: 4, activation: 'tanh', weightDecayLambda: 0.01, labelSmoothing: 0.1, classWeights: [1, 2, 0.5, 1],
    });
    randomizeParams(net);
    const x = tensor([5, 12]), t = labels(5, 4);
    expectNamedRoundTrip(net, x, t);
    // with a sample of images its first Affine flattens, and a final Softmax: the same named net
    const images = tensor([3, 2, 2, 3]);
    expectNamedRoundTrip(net, images, labels(3, 4), { inputShape: [2, 2, 3], probabilities: true });
    for (const v of [x, t, images]) v.dispose();
    net.dispose();
  });

  it('MultiLayerNetExtend: batch norm after training steps, the book\'s dropout, L1, class weights; and a dropout of ratio 0', () => {
    const net = new MultiLayerNetExtend(rt, {
      inputSize: 12, hiddenSizeList: [10, 8], outputSize: 3, activation: 'sigmoid', useBatchnorm: true, useDropout: true, dropoutRatio: 0.3,
      l1Lambda: 0.001, classWeights: [1, 0.5, 2],
    });
    randomizeParams(net);
    const x = tensor([6, 12], -2, 3), t = labels(6, 3);
    for (let i = 0; i < 3; i++) net.gradient(x, t); // running statistics away from their zeros and ones
    expect(net.state.runningMean1.toArray().some((v) => v !== 0)).toBe(true);
    expectNamedRoundTrip(net, x, t);
    net.dispose();
    // a dropout of ratio 0 is the identity, which the export writes no node for: the net comes back all the same
    const none = new MultiLayerNetExtend(rt, { inputSize: 12, hiddenSizeList: [5], outputSize: 3, useDropout: true, dropoutRatio: 0 });
    expectNamedRoundTrip(none, x, t);
    none.dispose();
    for (const v of [x, t]) v.dispose();
  });

  it('SimpleConvNet with label smoothing, DeepConvNet with class weights', () => {
    const conv = new SimpleConvNet(rt, { inputDim: [2, 9, 9], convParam: { filterNum: 3, filterSize: 3, pad: 1, stride: 2 }, hiddenSize: 7, outputSize: 3, labelSmoothing: 0.2 });
    randomizeParams(conv);
    const x = tensor([3, 2, 9, 9]), t = labels(3, 3);
    expectNamedRoundTrip(conv, x, t);
    conv.dispose();
    const deep = new DeepConvNet(rt, { inputDim: [1, 16, 16], hiddenSize: 10, outputSize: 3, classWeights: [2, 1, 1] });
    randomizeParams(deep);
    const images = tensor([2, 1, 16, 16]), u = labels(2, 3);
    expectNamedRoundTrip(deep, images, u);
    deep.dispose();
    for (const v of [x, t, images, u]) v.dispose();
  }, 60_000);

  it('a failure while the named net is built (memory running out, a write failing) leaves nothing allocated and the stream where it was', () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 6, hiddenSizeList: [5], outputSize: 3, useBatchnorm: true });
    const bytes = exportOnnx(net);
    net.dispose();
    const original = rt.tensor;
    let calls = 0, budget = 0;
    const failing = function (this: Runtime, ...args: Parameters<Runtime['tensor']>) {
      if (calls++ >= budget) throw new OutOfMemoryError('test: memory ran out');
      return original.apply(this, args);
    };
    const expectUntouched = (f: () => void) => {
      const before = rt.memoryStats(), stream = rt.randomState;
      f();
      const after = rt.memoryStats();
      expect({ used: after.used, blocks: after.blocks }, `failing at ${budget}`).toEqual({ used: before.used, blocks: before.blocks });
      expect(rt.randomState).toEqual(stream);
    };
    let built = false;
    Object.defineProperty(rt, 'tensor', { value: failing, configurable: true, writable: true });
    try {
      for (budget = 0; !built; budget++) {
        calls = 0;
        expectUntouched(() => {
          try {
            const imported = importOnnx(rt, bytes);
            expect(imported.spec).not.toBeNull();
            imported.net.dispose();
            built = true;
          } catch (e) {
            expect(e).toBeInstanceOf(OutOfMemoryError);
          }
        });
      }
    } finally {
      delete (rt as unknown as Record<string, unknown>).tensor;
    }
    expect(budget, 'allocations the named net makes').toBeGreaterThanOrEqual(2);
    // a failure while the graph's values are written into it (each write reads a tensor's data)
    const owner = (function find(o: object): object { return Object.hasOwn(o, 'data') ? o : find(Object.getPrototypeOf(o) as object); })(Tensor.prototype);
    const data = Object.getOwnPropertyDescriptor(owner, 'data')!;
    let written = false;
    Object.defineProperty(owner, 'data', { ...data, get(this: Tensor) { if (calls++ >= budget) throw new Error('test: the write failed'); return data.get!.call(this); } });
    try {
      for (budget = 0; !written; budget++) {
        calls = 0;
        expectUntouched(() => {
          try {
            importOnnx(rt, bytes).net.dispose();
            written = true;
          } catch (e) {
            expect((e as Error).message).toBe('test: the write failed');
          }
        });
      }
    } finally {
      Object.defineProperty(owner, 'data', data);
    }
    expect(budget, 'tensors written: W1, b1, W2, b2, gamma1, beta1, the running statistics').toBeGreaterThanOrEqual(8);
  });
});

// ---- metadata that does not match its graph ------------------------------------------------------------

/** The model `bytes` with its metadata_props set to `props` and `edit` applied to its ModelProto. */
function edited(bytes: Uint8Array, props: Record<string, string>, edit: (m: onnxProto.onnx.ModelProto) => void = () => {}): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  m.metadataProps = Object.entries(props).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value }));
  edit(m);
  return new Uint8Array(onnx.ModelProto.encode(m).finish());
}

/** `bytes` import as a plain Sequential (not `named`'s class) whose reason matches `why`, predicting what `net` predicts; inspectOnnx says the same. */
function expectSequential(bytes: Uint8Array, net: Sequential, x: Tensor, why: RegExp): void {
  const imported = importOnnx(rt, bytes);
  try {
    expect(imported.spec, String(why)).toBeNull();
    expect(imported.net.constructor, String(why)).toBe(Sequential);
    expect(imported.sequentialBecause, String(why)).toMatch(why);
    expectSamePredictions(imported.net, net, x, String(why));
    const info = inspectOnnx(bytes);
    expect(info.spec).toBeNull();
    expect(info.sequentialBecause).toBe(imported.sequentialBecause);
    expect(info.summary, String(why)).toEqual(imported.net.summary());
  } finally {
    imported.net.dispose();
  }
}

describe('metadata that does not describe its graph: the plan\'s Sequential, with the reason', () => {
  it('bad JSON, no spec, an unknown kind, bad options, another size, kind, activation, dropout, batch norm, keys, eps, momentum', () => {
    const options = { inputSize: 6, hiddenSizeList: [5], outputSize: 3, useBatchnorm: true, useDropout: true, dropoutRatio: 0.25 };
    const net = new MultiLayerNetExtend(rt, options);
    randomizeParams(net);
    const x = tensor([4, 6]);
    const bytes = exportOnnx(net);
    const spec = (o: object, kind = 'mlp-extend') => ({ [ONNX_SPEC_KEY]: JSON.stringify({ kind, options: { ...options, ...o } }) });
    // the export itself comes back named (the cases below differ from it in one thing each)
    const same = importOnnx(rt, edited(bytes, spec({})));
    expect(same.net.constructor).toBe(MultiLayerNetExtend);
    same.net.dispose();
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /^the model carries no 'simdnn\.net'/],
      [{ [ONNX_SPEC_KEY]: '{"kind": "mlp-extend",' }, /^its 'simdnn\.net' is not a named net's spec \(.*JSON/],
      [{ [ONNX_SPEC_KEY]: '42' }, /^its 'simdnn\.net' is not a named net's spec \(simdnn\.net: expected \{ kind, options \}, got 42\)$/],
      [spec({}, 'resnet'), /^its 'simdnn\.net' is not a named net's spec \(simdnn\.net\.kind: expected one of mlp, mlp-extend, simple-conv, deep-conv, got "resnet"\)$/],
      [spec({ dropoutRatio: 2 }), /^its 'simdnn\.net' is not a named net's spec \(simdnn\.net\.options: .*\b2\)$/],
      [spec({ hiddenSizeList: [4] }), /^its graph is not the mlp-extend its 'simdnn\.net' describes: its layer 0 \(Affine\) is \[6, 5\], the net's \[6, 4\]$/],
      [spec({ inputSize: 7 }), /its input \[6\] is not the net's \[7\]$/],
      [{ [ONNX_SPEC_KEY]: JSON.stringify({ kind: 'mlp', options: { inputSize: 6, hiddenSizeList: [5], outputSize: 3 } }) }, /its graph is not the mlp .*: it makes 5 layers \(Affine, BatchNormalization, Relu, Dropout, Affine\), the net has 3 \(Affine, Relu, Affine\)$/],
      [spec({ useBatchnorm: false }), /it makes 5 layers .*, the net has 4 \(Affine, Relu, Dropout, Affine\)$/],
      [spec({ activation: 'tanh' }), /its layer 2 \(Relu\) is the net's Tanh$/],
      [spec({ dropoutRatio: 0.5 }), /its layer 3 \(Dropout\) is the book's form with ratio 0\.25, the net's the book's form with ratio 0\.5$/],
    ];
    for (const [props, why] of cases) expectSequential(edited(bytes, props), net, x, why);
    // the graph edited under a matching spec: other keys, eps, momentum
    const renamed = edited(bytes, spec({}), (m) => {
      for (const t of m.graph!.initializer!) if (t.name === 'W1') t.name = 'fc1.weight';
      for (const n of m.graph!.node!) n.input = n.input!.map((v) => (v === 'W1' ? 'fc1.weight' : v));
    });
    expectSequential(renamed, net, x, /its layer 0 \(Affine\) reads 'fc1\.weight' where the net has 'W1'$/);
    const attribute = (name: string, f: number) => (m: onnxProto.onnx.ModelProto) => {
      const bn = m.graph!.node!.find((n) => n.opType === 'BatchNormalization')!;
      bn.attribute!.find((a) => a.name === name)!.f = f;
    };
    // the graph's eps changes its predictions: the Sequential predicts what the graph says, not the net
    const epsBytes = edited(bytes, spec({}), attribute('epsilon', 0.5));
    const epsNet = importOnnx(rt, epsBytes);
    expect(epsNet.spec).toBeNull();
    expect(epsNet.sequentialBecause).toMatch(/its layer 1 \(BatchNormalization\) has eps 0\.5, the net's 0\.000001$/);
    epsNet.net.dispose();
    expectSequential(edited(bytes, spec({}), attribute('momentum', 0.5)), net, x, /its layer 1 \(BatchNormalization\) has momentum 0\.5, the net's 0\.9$/);
    x.dispose();
    net.dispose();
  });

  it('a conv net\'s fixed input, and a graph from elsewhere carrying a spec', () => {
    const conv = new SimpleConvNet(rt, { inputDim: [1, 10, 10], convParam: { filterNum: 2, filterSize: 3, pad: 1, stride: 1 }, hiddenSize: 6, outputSize: 3 });
    const x = tensor([2, 1, 10, 10]);
    const bytes = exportOnnx(conv);
    const spec = { kind: 'simple-conv', options: { ...conv.spec.options, inputDim: [1, 12, 12] } };
    expectSequential(edited(bytes, { [ONNX_SPEC_KEY]: JSON.stringify(spec) }), conv, x, /its input \[1, 10, 10\] is not the net's \[1, 12, 12\]$/);
    // images of as many values, whose layers' shapes all agree (1×2×50 pooled to 1×25, as 10×10 to 5×5): a conv net fixes its input
    const flat = { kind: 'simple-conv', options: { ...conv.spec.options, inputDim: [1, 2, 50] } };
    expectSequential(edited(bytes, { [ONNX_SPEC_KEY]: JSON.stringify(flat) }), conv, x, /its input \[1, 10, 10\] is not the net's \[1, 2, 50\]$/);
    // a filter or a window that differs from the net's, said where it does (the layers after it differ too)
    const padded = { kind: 'simple-conv', options: { ...conv.spec.options, convParam: { filterNum: 2, filterSize: 3, pad: 0, stride: 1 } } };
    expectSequential(edited(bytes, { [ONNX_SPEC_KEY]: JSON.stringify(padded) }), conv, x, /its layer 0 \(Convolution\) is 2×1×3×3, stride 1, pad 1, the net's 2×1×3×3, stride 1, pad 0$/);
    const averaged = edited(bytes, { [ONNX_SPEC_KEY]: JSON.stringify(conv.spec) }, (m) => { m.graph!.node!.find((n) => n.opType === 'MaxPool')!.opType = 'AveragePool'; });
    const avg = importOnnx(rt, averaged);
    expect(avg.sequentialBecause).toMatch(/its layer 2 \(Pooling\) is avg 2×2, stride 2, pad 0, the net's max 2×2, stride 2, pad 0$/);
    avg.net.dispose();
    // a graph of the same layers that names its tensors otherwise (as PyTorch does) is no named net, whatever its metadata claims
    const torchy = edited(bytes, { [ONNX_SPEC_KEY]: JSON.stringify(conv.spec) }, (m) => {
      const names = new Map(m.graph!.initializer!.map((t, i) => [t.name!, `param.${i}`]));
      for (const t of m.graph!.initializer!) t.name = names.get(t.name!)!;
      for (const n of m.graph!.node!) n.input = n.input!.map((v) => names.get(v) ?? v);
      m.producerName = 'pytorch';
    });
    expectSequential(torchy, conv, x, /its layer 0 \(Convolution\) reads 'param\.0' where the net has 'W1'$/);
    x.dispose();
    conv.dispose();
  });
});

describe('inspectOnnx\'s summary: the imported net\'s net.summary(), without a runtime', () => {
  it('a Sequential of every layer kind, two norms before a weight layer (keys suffixed _2), no input shape given', () => {
    const owned: Tensor[] = [];
    const own = (shape: number[], lo = -1, hi = 1) => { const v = tensor(shape, lo, hi); owned.push(v); return v; };
    const layers: Layer[] = [
      new Convolution(own([4, 2, 3, 3], -0.5, 0.5), own([4]), 1, 1),
      new BatchNormalization(own([4], 0.5, 1.5), own([4]), 0.9, { spatial: true, runningMean: own([4]), runningVar: own([4], 0.5, 2) }),
      new InstanceNormalization(own([4], 0.5, 1.5), own([4])),
      new Tanh(),
      new Pooling(3, 3, 2, 1),
      new BatchNormalization(own([4 * 5 * 5], 0.5, 1.5), own([100]), 0.9, { runningMean: own([100]), runningVar: own([100], 0.5, 2) }),
      new Convolution(own([5, 4, 2, 2], -0.5, 0.5), own([5]), 1, 0),
      new Sigmoid(),
      new Pooling(3, 3, 1, 1, { mode: 'avg' }),
      new LayerNormalization(own([80], 0.5, 1.5), own([80])),
      new Dropout(0.2, { inverted: true }),
      new GlobalAveragePooling(),
      new Affine(own([5, 3]), own([3])),
      new Relu(),
    ];
    const net = new Sequential(rt, layers, { inputShape: [2, 9, 9] });
    const bytes = exportOnnx(net);
    const imported = importOnnx(rt, bytes);
    const info = inspectOnnx(bytes);
    expect(info.sequentialBecause).toMatch(/^the model carries no 'simdnn\.net'/);
    const summary = imported.net.summary();
    expect(summary.rows.map((r) => r.keys)).toContainEqual(['gamma1_2', 'beta1_2']);
    expect(info.summary).toEqual(summary);
    expect(info.summary.trainable).toBe(info.parameters);
    imported.net.dispose();
    net.dispose();
    for (const v of owned) v.dispose();
  });
});
