// importOnnx's named nets and inspectOnnx's summary where test/onnx-named.node.test.ts left them open, each found
// by a mutant every other test let through (session 66): a graph whose second tensor (a bias) is named otherwise
// is no named net; an inverted Dropout (ONNX's Dropout node) is not the book's Dropout a named net's spec claims,
// though their ratios agree; a conv graph whose filter stride or width, or pooling window width, differs from the
// spec's where every size downstream still agrees is no named net; the summary of a plan keys a norm before any
// weight layer as the built net does (gamma1) and keeps a non-square filter's and pooling window's width; an
// imported image net evaluates in chunks of 100 rows. (.node: as the other ONNX tests.)
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import onnxProto from 'onnx-proto';
import { makeRuntime, randomArray } from './helpers/runtime.js';
import {
  Affine, BatchNormalization, Convolution, Flatten, MultiLayerNetExtend, Pooling, Relu, Sequential, SimpleConvNet, type Tensor,
} from '../src/index.js';
import { exportOnnx, importOnnx, inspectOnnx, ONNX_SPEC_KEY } from '../src/io/onnx/index.js';
import type { Runtime } from '../src/runtime/runtime.js';

const { onnx } = onnxProto;

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 66 }); });
afterAll(() => rt?.dispose());

let seed = 6600;
const owned: Tensor[] = [];
const own = (shape: number[], lo = -1, hi = 1): Tensor => {
  const t = rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b, 1), seed++, lo, hi));
  owned.push(t);
  return t;
};
afterAll(() => { for (const t of owned) t.dispose(); });

/** `bytes` with its metadata set to `spec` and `edit` applied to its ModelProto. */
function edited(bytes: Uint8Array, spec: object, edit: (m: onnxProto.onnx.ModelProto) => void = () => {}): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  m.metadataProps = [onnx.StringStringEntryProto.create({ key: ONNX_SPEC_KEY, value: JSON.stringify(spec) })];
  edit(m);
  return new Uint8Array(onnx.ModelProto.encode(m).finish());
}

/** The reason `bytes` import as a Sequential (null: a named net). */
function sequentialBecause(bytes: Uint8Array): string | null {
  const imported = importOnnx(rt, bytes);
  imported.net.dispose();
  expect(inspectOnnx(bytes).sequentialBecause).toBe(imported.sequentialBecause);
  return imported.sequentialBecause;
}

const options = { inputSize: 6, hiddenSizeList: [5], outputSize: 3, useBatchnorm: true, useDropout: true, dropoutRatio: 0.25 };

describe('importOnnx: metadata that claims a named net its graph is not', () => {
  it('a bias (not the first tensor of its layer) named otherwise', () => {
    const net = new MultiLayerNetExtend(rt, options);
    const bytes = exportOnnx(net);
    expect(sequentialBecause(bytes)).toBeNull();
    const renamed = edited(bytes, net.spec, (m) => {
      for (const t of m.graph!.initializer!) if (t.name === 'b1') t.name = 'fc1.bias';
      for (const n of m.graph!.node!) n.input = n.input!.map((v) => (v === 'b1' ? 'fc1.bias' : v));
    });
    expect(sequentialBecause(renamed)).toMatch(/its layer 0 \(Affine\) reads 'fc1\.bias' where the net has 'b1'$/);
    net.dispose();
  });

  it('an inverted Dropout (ONNX\'s Dropout node) of the spec\'s ratio: not the book\'s form the net trains with', () => {
    const net = new MultiLayerNetExtend(rt, options);
    // the book's Dropout, exported as a Mul by 1 − ratio, replaced by ONNX's Dropout (inverted) of ratio 0.25
    const bytes = edited(exportOnnx(net), net.spec, (m) => {
      const mul = m.graph!.node!.find((n) => n.opType === 'Mul')!;
      mul.opType = 'Dropout';
      mul.input = [mul.input![0], 'dropout.ratio'];
      m.graph!.initializer!.push(onnx.TensorProto.create({ name: 'dropout.ratio', dataType: onnx.TensorProto.DataType.FLOAT, dims: [], floatData: [0.25] }));
    });
    expect(sequentialBecause(bytes)).toMatch(/its layer 3 \(Dropout\) is inverted with ratio 0\.25, the net's the book's form with ratio 0\.25$/);
    net.dispose();
  });
});

describe('importOnnx: a conv net\'s graph that differs from its spec where the sizes downstream still agree', () => {
  it('its filter\'s stride or width, or its pooling window\'s width: the plan\'s Sequential, with the reason', () => {
    // [1, 6, 6] → Convolution 3×3, stride 2 → [2, 2, 2] → Pooling 2×2, stride 2 → [2, 1, 1]: a stride of 3, or a 3×4 filter,
    // also gives 2×2; [1, 5, 5], stride 1 → [2, 3, 3], pooled 2×2 or 2×3 with stride 2 → [2, 1, 1]
    const ints = (m: onnxProto.onnx.ModelProto, op: string, name: string, v: number[]) => {
      m.graph!.node!.find((n) => n.opType === op)!.attribute!.find((a) => a.name === name)!.ints = v;
    };
    const net = (inputDim: number[], stride: number) => new SimpleConvNet(rt, { inputDim, convParam: { filterNum: 2, filterSize: 3, pad: 0, stride }, hiddenSize: 4, outputSize: 3 });
    const strided = net([1, 6, 6], 2);
    const bytes = exportOnnx(strided);
    expect(sequentialBecause(bytes)).toBeNull();
    expect(sequentialBecause(edited(bytes, strided.spec, (m) => ints(m, 'Conv', 'strides', [3, 3])))).toMatch(/its layer 0 \(Convolution\) is 2×1×3×3, stride 3, pad 0, the net's 2×1×3×3, stride 2, pad 0$/);
    const wide = edited(bytes, strided.spec, (m) => {
      ints(m, 'Conv', 'kernel_shape', [3, 4]);
      const W = m.graph!.initializer!.find((t) => t.name === 'W1')!;
      W.dims = [2, 1, 3, 4];
      W.rawData = new Uint8Array(randomArray(24, seed++).buffer); // raw_data is little-endian, as every host this runs on
    });
    expect(sequentialBecause(wide)).toMatch(/its layer 0 \(Convolution\) is 2×1×3×4, stride 2, pad 0, the net's 2×1×3×3, stride 2, pad 0$/);
    strided.dispose();
    const small = net([1, 5, 5], 1);
    const window = edited(exportOnnx(small), small.spec, (m) => ints(m, 'MaxPool', 'kernel_shape', [2, 3]));
    expect(sequentialBecause(window)).toMatch(/its layer 2 \(Pooling\) is max 2×3, stride 2, pad 0, the net's max 2×2, stride 2, pad 0$/);
    small.dispose();
  });
});

describe('inspectOnnx\'s summary: the imported net\'s net.summary()', () => {
  /**
   * inspectOnnx's summary of `net`'s export is the imported Sequential's; its rows' keys returned. The import
   * evaluates in chunks of `evalBatchSize` rows (100 for images, as the conv nets do: their activations are large).
   */
  function summaryKeys(net: Sequential, evalBatchSize: number): string[][] {
    const bytes = exportOnnx(net);
    const imported = importOnnx(rt, bytes);
    try {
      const summary = imported.net.summary();
      expect(inspectOnnx(bytes).summary).toEqual(summary);
      expect(summary).toEqual(net.summary());
      expect(imported.net.evalBatchSize).toBe(evalBatchSize);
      return summary.rows.map((r) => r.keys);
    } finally {
      imported.net.dispose();
      net.dispose();
    }
  }

  it('a norm before any weight layer keyed gamma1, as the built net keys it', () => {
    const net = new Sequential(rt, [
      new BatchNormalization(own([6], 0.5, 1.5), own([6]), 0.9, { runningMean: own([6]), runningVar: own([6], 0.5, 2) }),
      new Affine(own([6, 3]), own([3])),
      new Relu(),
    ], { inputShape: [6] });
    expect(summaryKeys(net, 1000)).toContainEqual(['gamma1', 'beta1', 'runningMean1', 'runningVar1']);
  });

  it('a non-square filter and pooling window', () => {
    // [1, 6, 7] → Convolution 2×1×2×3 → [2, 5, 5] → Pooling 2×3, stride 1 → [2, 4, 3] → Affine [24, 3]
    const net = new Sequential(rt, [
      new Convolution(own([2, 1, 2, 3]), own([2]), 1, 0),
      new Pooling(2, 3, 1, 0),
      new Flatten(),
      new Affine(own([24, 3]), own([3])),
    ], { inputShape: [1, 6, 7] });
    summaryKeys(net, 100);
  });
});
