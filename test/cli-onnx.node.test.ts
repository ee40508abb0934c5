// ONNX models on the command line: `simdnn info model.onnx` prints what inspectOnnx tells (and --json
// it whole), `simdnn predict model.onnx` scores the model through importOnnx exactly as it scores the
// model file it was exported from, on inputs of the shape the graph declares ([784] rows, [1, 28, 28]
// images, [28, 28]); which reader a file gets is decided by its bytes, then its name; a model of other
// inputs, a model importOnnx refuses and malformed bytes are errors naming them (exit 1), and an ONNX
// model's URL is read as its file is.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PredictReport } from '../src/node/cli/index.js';
import { runCli } from './helpers/cli.js';
import { writeModelFile } from '../src/node/model-file.js';
import { createRuntime } from '../src/node/runtime.js';
import { readModelFile } from '../src/node/model-file.js';
import { Affine, BatchNormalization, Convolution, Flatten, formatSummary, MultiLayerNet, Sequential, SimpleConvNet } from '../src/index.js';
import { exportOnnx, inspectOnnx } from '../src/io/onnx/index.js';
import { encodeIdx } from '../src/data/idx.js';
import { rng } from './helpers/runtime.js';
import onnxProto from 'onnx-proto';

let tmp: string;
/** A trained MLP 784-30-10 (simdnn train --save) and its ONNX export (simdnn export). */
let mlpFile: string, mlpOnnx: string;
/** An untrained SimpleConvNet (seeded) as a model file and as ONNX: its predictions are still the model's. */
let convFile: string, convOnnx: string;

const file = (name: string) => path.join(tmp, name);

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'simdnn-cli-onnx-'));
  mlpFile = file('mlp.safetensors');
  mlpOnnx = file('mlp.onnx');
  const trained = await runCli(['train', '--quiet', '--epochs', '1', '--train-rows', '500', '--test-rows', '200', '--hidden', '30', '--save', mlpFile]);
  expect(trained.code, trained.stderr).toBe(0);
  const exported = await runCli(['export', mlpFile, mlpOnnx]);
  expect(exported.code, exported.stderr).toBe(0);
  const rt = await createRuntime({ seed: 5 });
  const conv = new SimpleConvNet(rt, { convParam: { filterNum: 4, filterSize: 5 }, hiddenSize: 12 });
  convFile = file('conv.safetensors');
  convOnnx = file('conv.onnx');
  await writeModelFile(convFile, conv);
  // with a final Softmax (as PyTorch models often end): predictions are its argmax all the same
  await writeFile(convOnnx, exportOnnx(conv, { probabilities: true }));
  conv.dispose();
  await rt.dispose();
});

afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

/** predict --json's report, checked to have exited 0. */
async function predicted(model: string, ...more: string[]): Promise<PredictReport> {
  const r = await runCli(['predict', model, '--test-rows', '200', '--json', ...more]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as PredictReport;
}

/** `bytes` with each occurrence of the ASCII string `from` replaced by `to` (same length: protobuf's lengths stay right). */
function replaced(bytes: Uint8Array, from: string, to: string): Uint8Array {
  expect(to.length).toBe(from.length);
  const out = Uint8Array.from(bytes);
  const a = new TextEncoder().encode(from), b = new TextEncoder().encode(to);
  let found = 0;
  for (let i = 0; i + a.length <= out.length; i++) {
    if (a.every((v, k) => out[i + k] === v)) { out.set(b, i); found++; }
  }
  expect(found, `'${from}' in the model`).toBeGreaterThan(0);
  return out;
}

describe('simdnn info of an ONNX model', () => {
  it('prints the producer, IR version and opset, input and output, parameters, layers, each node\'s layer and the metadata', async () => {
    const r = await runCli(['info', mlpOnnx]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const bytes = await readFile(mlpOnnx);
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 7)).toEqual([
      `file          ${mlpOnnx} (${bytes.length.toLocaleString('en-US')} bytes)`,
      'format        ONNX, IR version 8, opset 13',
      expect.stringMatching(/^producer {6}simdnn \d+\.\d+\.\d+$/),
      "input         'x' [N, 784] (batch, then one sample)",
      "output        'y': the scores, as predict gives them",
      'parameters    23,860',
      'layers        Affine, Relu, Affine',
    ]);
    expect(r.stdout).toMatch(/^nodes\n {2}layers\.0\.gemm {2}Gemm {2}→ Affine \[784, 30\]\n {2}layers\.1\.relu {2}Relu {2}→ Relu\n {2}layers\.2\.gemm {2}Gemm {2}→ Affine \[30, 10\]\nmetadata\n {2}train\.settings: \{"net":"mlp".*\n {2}train\.result: \{"epochs":1,.*\n {2}simdnn\.net: \{"kind":"mlp"/m);
    // the model's final Softmax, which the net leaves out, is said
    const conv = await runCli(['info', convOnnx]);
    expect(conv.code, conv.stderr).toBe(0);
    expect(conv.stdout).toMatch(/^output {8}'y': probabilities \(the net leaves the model's last Softmax out: its predict gives the scores\)$/m);
    expect(conv.stdout).toMatch(/^input {9}'x' \[N, 1, 28, 28\]/m);
    // the named SimpleConvNet comes back, without the Flatten the export writes before its Affine (which flattens)
    expect(conv.stdout).toMatch(/^layers {8}Convolution, Relu, Pooling, Affine, Relu, Affine$/m);
  });

  it('says which net importOnnx makes (the named net simdnn exported, or a Sequential and why) and prints its summary', async () => {
    const bytes = await readFile(mlpOnnx);
    const indented = (b: Uint8Array) => formatSummary(inspectOnnx(b).summary).split('\n').map((l) => `  ${l}`).join('\n');
    const r = await runCli(['info', mlpOnnx]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^layers {8}Affine, Relu, Affine\narchitecture  mlp 784-30-10 relu init he \(the named net simdnn exported: importOnnx rebuilds it, a model file can save it\)\nnodes$/m);
    expect(r.stdout.endsWith(`\nsummary\n${indented(bytes)}\n`), r.stdout).toBe(true);
    expect(indented(bytes)).toMatch(/^ {2}Affine \[W1, b1\] +\(None, 30\) +23,550$/m);
    // the same table as the model file it was exported from
    expect((await runCli(['info', mlpFile])).stdout).toContain(`\nsummary\n${indented(bytes)}\n`);
    // without its spec: a Sequential of the layers, and why; its own summary
    const m = onnxProto.onnx.ModelProto.decode(bytes);
    m.metadataProps = [];
    const plain = file('plain.onnx'), plainBytes = onnxProto.onnx.ModelProto.encode(m).finish();
    await writeFile(plain, plainBytes);
    const p = await runCli(['info', plain]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/^architecture {2}a Sequential of these layers: the model carries no 'simdnn\.net' \(the spec simdnn's export writes of a named net\)$/m);
    expect(p.stdout.endsWith(`\nsummary\n${indented(plainBytes)}\n`), p.stdout).toBe(true);
    // --json holds them: the spec, or null and the reason
    expect(JSON.parse((await runCli(['info', '--json', mlpOnnx])).stdout)).toMatchObject({ spec: { kind: 'mlp' }, sequentialBecause: null, summary: { trainable: 23860 } });
    expect(JSON.parse((await runCli(['info', '--json', plain])).stdout)).toMatchObject({ spec: null, sequentialBecause: expect.stringMatching(/^the model carries no/) });
  });

  it('each node line says what the net importOnnx makes does with the node: the named net\'s Affine flattens, a Sequential holds a Flatten', async () => {
    /** The node lines' targets, and the layers they name in order (a line naming a layer starts with its name). */
    const nodes = (stdout: string) => {
      const lines = stdout.slice(stdout.indexOf('\nnodes\n') + '\nnodes\n'.length, stdout.indexOf('\nmetadata\n')).split('\n');
      const becomes = lines.map((l) => ({ op: l.trim().split(/ +/)[1], becomes: l.slice(l.indexOf('→ ') + 2) }));
      return { becomes, layers: becomes.map((n) => n.becomes.match(/^[A-Z][A-Za-z]+/)?.[0]).filter((name) => name !== undefined) };
    };
    const layersLine = (stdout: string) => stdout.match(/^layers {8}(.*)$/m)![1].split(', ');
    const flattenOf = (stdout: string) => nodes(stdout).becomes.filter((n) => n.op === 'Flatten').map((n) => n.becomes);
    // the named SimpleConvNet (its spec in the model): no Flatten layer, its Affine takes [N, 4, 12, 12] as rows of 576
    const named = await runCli(['info', convOnnx]);
    expect(named.code, named.stderr).toBe(0);
    expect(flattenOf(named.stdout)).toEqual(["dropped: the named net's Affine after it flattens each sample to [576] itself, as the book's Affine does"]);
    expect(nodes(named.stdout).layers).toEqual(layersLine(named.stdout));
    expect(layersLine(named.stdout)).not.toContain('Flatten');
    // the same graph without its spec: a Sequential, which holds the Flatten
    const m = onnxProto.onnx.ModelProto.decode(await readFile(convOnnx));
    m.metadataProps = [];
    const plain = file('conv-plain.onnx');
    await writeFile(plain, onnxProto.onnx.ModelProto.encode(m).finish());
    const sequential = await runCli(['info', plain]);
    expect(sequential.code, sequential.stderr).toBe(0);
    expect(flattenOf(sequential.stdout)).toEqual(['Flatten → [576]']);
    expect(nodes(sequential.stdout).layers).toEqual(layersLine(sequential.stdout));
    expect(layersLine(sequential.stdout)).toEqual(['Convolution', 'Relu', 'Pooling', 'Flatten', 'Affine', 'Relu', 'Affine']);
    // a per-feature batch norm on images is exported as Flatten, BatchNormalization, Reshape: the Reshape undoes that Flatten, which leaves no layer
    const rt = await createRuntime({ seed: 2 });
    const next = rng(4), t = (shape: number[], lo = -1, hi = 1) => rt.tensor(shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * next()));
    const F = 2 * 4 * 4;
    const net = new Sequential(rt, [
      new Convolution(t([2, 1, 3, 3]), t([2]), 1, 1),
      new BatchNormalization(t([F], 0.5, 1.5), t([F]), 0.9, { runningMean: t([F]), runningVar: t([F], 0.5, 2) }),
      new Flatten(),
      new Affine(t([F, 3]), t([3])),
    ], { inputShape: [1, 4, 4] });
    const undone = file('undone.onnx');
    await writeFile(undone, exportOnnx(net));
    net.dispose();
    await rt.dispose();
    const u = await runCli(['info', undone]);
    expect(u.code, u.stderr).toBe(0);
    expect(flattenOf(u.stdout)).toEqual(['dropped: a Reshape after it undoes it (Flatten → [32])', 'Flatten → [32]']);
    expect(nodes(u.stdout).layers).toEqual(layersLine(u.stdout));
    expect(layersLine(u.stdout)).toEqual(['Convolution', 'BatchNormalization', 'Flatten', 'Affine']);
  });

  it('--json: inspectOnnx\'s answer whole, with the file, its format and its size', async () => {
    const r = await runCli(['info', '--json', mlpOnnx]);
    expect(r.code, r.stderr).toBe(0);
    const bytes = await readFile(mlpOnnx);
    expect(JSON.parse(r.stdout)).toEqual({ file: mlpOnnx, format: 'onnx', fileBytes: bytes.length, ...inspectOnnx(bytes) });
    expect(JSON.parse(r.stdout)).toMatchObject({ layers: ['Affine', 'Relu', 'Affine'], parameters: 23860, inputShape: [784], batch: 'N', finalSoftmax: null });
    // a model file's says its format too
    expect(JSON.parse((await runCli(['info', '--json', mlpFile])).stdout)).toMatchObject({ format: 'safetensors', parameterCount: 23860 });
  });

  it('tells ONNX by the bytes: an ONNX model under any name is ONNX, a safetensors file named .onnx is a model file', async () => {
    const unnamed = file('mlp-model');
    await copyFile(mlpOnnx, unnamed);
    const r = await runCli(['info', '--json', unnamed]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ format: 'onnx', parameters: 23860 });
    const misnamed = file('really-safetensors.onnx');
    await copyFile(mlpFile, misnamed);
    const s = await runCli(['info', misnamed]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/^architecture +mlp 784-30-10 relu init he$/m);
    // and predict reads each as what it is
    expect(await predicted(unnamed)).toMatchObject({ net: expect.stringMatching(/^ONNX /) });
    expect(await predicted(misnamed)).toMatchObject({ net: 'mlp 784-30-10 relu init he' });
  });

  it('a model importOnnx refuses, or malformed bytes: exit 1 with the OnnxError naming the node or the byte, nothing on stdout', async () => {
    const bytes = await readFile(mlpOnnx);
    const badOp = file('bad-op.onnx');
    await writeFile(badOp, replaced(bytes, 'Relu', 'Selu'));
    for (const json of [[], ['--json']]) {
      const r = await runCli(['info', ...json, badOp]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^simdnn: error: info FILE: '${badOp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}': onnx: node 'layers\\.1\\.relu' \\(Selu\\) `));
    }
    const truncated = file('truncated.onnx');
    await writeFile(truncated, bytes.subarray(0, bytes.length - 100));
    const t = await runCli(['info', truncated]);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/^simdnn: error: info FILE: '.*truncated\.onnx': onnx: .*byte/);
    const empty = file('empty.onnx');
    await writeFile(empty, new Uint8Array(0));
    const e = await runCli(['info', empty]);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/^simdnn: error: info FILE: '.*empty\.onnx': onnx: /);
  });
});

describe('simdnn predict of an ONNX model', () => {
  it('scores an exported MLP exactly as the model file it came from: accuracy, per class, confusion', async () => {
    const fromFile = await predicted(mlpFile);
    const fromOnnx = await predicted(mlpOnnx);
    // simdnn's export comes back as the named net: described as its model file is
    expect(fromOnnx.net.replace(/^ONNX \(simdnn \d+\.\d+\.\d+, opset 13\) /, '')).toBe(fromFile.net);
    expect({ ...fromOnnx, model: '', net: '' }).toEqual({ ...fromFile, model: '', net: '' });
    expect(fromOnnx.accuracy).toBeGreaterThan(0.6); // a trained model: the test is not of a constant net
    // the text form too, headed by the model's description
    const text = await runCli(['predict', mlpOnnx, '--test-rows', '200']);
    expect(text.stdout).toMatch(/^ONNX \(simdnn .*\) mlp 784-30-10 relu init he on mnist \(200 test rows\)\naccuracy /);
    expect(text.stdout).toContain(`accuracy ${fromFile.accuracy.toFixed(4)}\n`);
  });

  it('gives a conv net images [1, 28, 28] and a model of [28, 28] its digits as 28×28, as the model files score them', async () => {
    const convFromFile = await predicted(convFile);
    const convFromOnnx = await predicted(convOnnx);
    expect(convFromOnnx.net.replace(/^ONNX \(simdnn, opset 13\) /, '')).toBe(convFromFile.net); // the named net
    expect({ ...convFromOnnx, model: '', net: '' }).toEqual({ ...convFromFile, model: '', net: '' });
    // the trained MLP taking [28, 28] (a Flatten first): the same values in the same order as [784]
    const rt = await createRuntime({ seed: 1 });
    const { net } = readModelFile(rt, mlpFile);
    const square = file('mlp-28x28.onnx');
    await writeFile(square, exportOnnx(net, { inputShape: [28, 28] }));
    net.dispose();
    await rt.dispose();
    expect(inspectOnnx(await readFile(square)).inputShape).toEqual([28, 28]);
    const fromSquare = await predicted(square);
    const fromMlp = await predicted(mlpFile);
    expect({ ...fromSquare, model: '', net: '' }).toEqual({ ...fromMlp, model: '', net: '' });
    expect(fromSquare.net).toBe(fromMlp.net.replace(/^/, 'ONNX (simdnn, opset 13) ')); // the named net, its rows given as 28×28
    // a net of no named kind (a Sequential's export: no spec) is described by its layers
    const rt3 = await createRuntime({ seed: 1 });
    const W = rt3.tensor([784, 10], Float32Array.from({ length: 7840 }, (_, i) => Math.sin(i) / 10)), b = rt3.tensor([10]);
    const plain = file('plain.onnx');
    await writeFile(plain, exportOnnx(new Sequential(rt3, [new Affine(W, b)])));
    await rt3.dispose();
    expect((await predicted(plain)).net).toBe('ONNX (simdnn, opset 13) Affine, 7,850 parameters');
    // and [1, 784] takes its rows
    const rt2 = await createRuntime({ seed: 1 });
    const again = readModelFile(rt2, mlpFile).net;
    const row = file('mlp-1x784.onnx');
    await writeFile(row, exportOnnx(again, { inputShape: [1, 784] }));
    again.dispose();
    await rt2.dispose();
    expect({ ...(await predicted(row)), model: '', net: '' }).toEqual({ ...fromMlp, model: '', net: '' });
  });

  it('a model whose input does not fit the data, or that has fewer classes than its labels: exit 1 saying so', async () => {
    const rt = await createRuntime({ seed: 1 });
    const small = new MultiLayerNet(rt, { inputSize: 10, hiddenSizeList: [4], outputSize: 3 });
    const narrow = file('narrow.onnx');
    await writeFile(narrow, exportOnnx(small));
    const images = file('images-3x28x28.onnx');
    const three = new SimpleConvNet(rt, { inputDim: [3, 28, 28], convParam: { filterNum: 2, filterSize: 5 }, hiddenSize: 4 });
    await writeFile(images, exportOnnx(three));
    const few = file('three-classes.onnx');
    const fewNet = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [4], outputSize: 3 });
    await writeFile(few, exportOnnx(fewNet));
    for (const n of [small, three, fewNet]) n.dispose();
    await rt.dispose();
    const r = await runCli(['predict', narrow]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('simdnn: error: the model takes inputs of shape [10], mnist has [784]\n');
    const c = await runCli(['predict', images]);
    expect(c.code).toBe(1);
    expect(c.stderr).toBe('simdnn: error: the model takes inputs of shape [3, 28, 28], mnist has [1, 28, 28]\n');
    const f = await runCli(['predict', few]);
    expect(f.code).toBe(1);
    expect(f.stderr).toBe('simdnn: error: the data has label 9, the model has 3 classes\n');
  });

  it('a model of as many values a sample but images of another geometry is refused: [1, 5, 6] does not take 6×5 images', async () => {
    const dir = file('idx-6x5');
    await mkdir(dir);
    const next = rng(3);
    await writeFile(path.join(dir, 't10k-images-idx3-ubyte'), encodeIdx([12, 6, 5], Uint8Array.from({ length: 12 * 30 }, () => Math.floor(next() * 256))));
    await writeFile(path.join(dir, 't10k-labels-idx1-ubyte'), encodeIdx([12], Uint8Array.from({ length: 12 }, (_, i) => i % 3)));
    const rt = await createRuntime({ seed: 1 });
    const model = (inputDim: [number, number, number], name: string) => {
      const net = new SimpleConvNet(rt, { inputDim, convParam: { filterNum: 2, filterSize: 3 }, hiddenSize: 4, outputSize: 3 });
      const bytes = exportOnnx(net);
      net.dispose();
      return writeFile(file(name), bytes);
    };
    await model([1, 6, 5], 'fits.onnx');
    await model([1, 5, 6], 'transposed.onnx');
    await rt.dispose();
    const fits = await runCli(['predict', file('fits.onnx'), '--data', dir, '--json']);
    expect(fits.code, fits.stderr).toBe(0);
    expect(JSON.parse(fits.stdout)).toMatchObject({ rows: 12 });
    const transposed = await runCli(['predict', file('transposed.onnx'), '--data', dir]);
    expect(transposed.code).toBe(1);
    expect(transposed.stderr).toBe(`simdnn: error: the model takes inputs of shape [1, 5, 6], ${dir} has [1, 6, 5]\n`);
  });

  it('a model importOnnx refuses: exit 1 naming the node, given as --model or as the argument', async () => {
    const badOp = file('bad-op-predict.onnx');
    await writeFile(badOp, replaced(await readFile(mlpOnnx), 'Relu', 'Selu'));
    for (const [argv, arg] of [[['predict', badOp], 'predict FILE'], [['predict', '--model', badOp], '--model']] as const) {
      const r = await runCli([...argv]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^simdnn: error: ${arg.replace(/-/g, '\\-')}: '.*bad-op-predict\\.onnx': onnx: node 'layers\\.1\\.relu' \\(Selu\\) `));
    }
  });
});

describe('--input-shape, for an ONNX model whose input leaves a dimension open', () => {
  let open: string;

  beforeAll(async () => {
    // the exported MLP with its input's feature dimension symbolic ([N, F]), as a model of any width declares it
    const { onnx } = onnxProto;
    const model = onnx.ModelProto.decode(await readFile(mlpOnnx));
    model.graph!.input![0].type!.tensorType!.shape!.dim![1] = onnx.TensorShapeProto.Dimension.create({ dimParam: 'F' });
    open = file('open.onnx');
    await writeFile(open, onnx.ModelProto.encode(model).finish());
  });

  it('without it: exit 1, saying to give --input-shape; with it, info and predict read the model as the one it was made from', async () => {
    for (const command of ['info', 'predict']) {
      const r = await runCli([command, open]);
      expect(r.code, command).toBe(1);
      expect(r.stderr, command).toMatch(/^simdnn: error: (info|predict) FILE: '.*open\.onnx': onnx: the graph's input 'x' is \[N, F\]: dimension 1 is not a size; give --input-shape \(one sample's dimensions\)\n$/);
    }
    const info = await runCli(['info', open, '--input-shape', '784']);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/^input {9}'x' \[N, 784\] /m);
    const p = await predicted(open, '--input-shape', '784');
    expect({ ...p, model: '' }).toEqual({ ...(await predicted(mlpOnnx)), model: '' });
  });

  it('a shape that does not fit the model, a malformed one, or one given for a model file: exit 2 naming --input-shape', async () => {
    const cases: Array<[string[], string]> = [
      [['info', open, '--input-shape', '1,28,28'], "--input-shape: [1, 28, 28] does not fit the graph's input 'x' [N, F]"],
      [['predict', mlpOnnx, '--input-shape', '1,784'], "--input-shape: [1, 784] does not fit the graph's input 'x' [N, 784]"],
      [['info', open, '--input-shape', '28,x'], "--input-shape: expected one sample's dimensions as positive integers separated by commas (e.g. 1,28,28), got '28,x'"],
      [['predict', open, '--input-shape', '0'], "--input-shape: expected one sample's dimensions as positive integers separated by commas (e.g. 1,28,28), got '0'"],
      [['info', mlpFile, '--input-shape', '784'], `--input-shape: only an ONNX model takes it; '${mlpFile}' is a model file, which records its net's input`],
      [['predict', mlpFile, '--input-shape', '784'], `--input-shape: only an ONNX model takes it; '${mlpFile}' is a model file, which records its net's input`],
    ];
    for (const [argv, message] of cases) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n')[0], argv.join(' ')).toBe(`simdnn: ${message}`);
    }
  });
});

describe('an ONNX model\'s URL', () => {
  let server: Server;
  let base: string;
  let bytes: Buffer;

  beforeAll(async () => {
    bytes = await readFile(mlpOnnx);
    server = createServer((req, res) => {
      if (req.url === '/models/mlp.onnx') res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
      else if (req.url === '/models/half.onnx') res.writeHead(200, { 'content-length': bytes.length }).write(bytes.subarray(0, bytes.length >> 1)); // the rest never comes
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('is read whole and described, and predicted, as its file is', async () => {
    const r = await runCli(['info', '--json', `${base}/models/mlp.onnx`]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ file: `${base}/models/mlp.onnx`, format: 'onnx', fileBytes: bytes.length, ...inspectOnnx(bytes) });
    const p = await predicted(`${base}/models/mlp.onnx`);
    expect({ ...p, model: '' }).toEqual({ ...(await predicted(mlpOnnx)), model: '' });
  });

  it('a 404 names the URL and status; a server that stops sending ends with --read-timeout', async () => {
    const missing = await runCli(['info', `${base}/models/none.onnx`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`simdnn: error: ${base}/models/none.onnx: HTTP 404 Not Found\n`);
    const stalled = await runCli(['predict', `${base}/models/half.onnx`, '--read-timeout', '0.3']);
    expect(stalled.code).toBe(1);
    expect(stalled.stderr).toMatch(new RegExp(`^simdnn: error: .*${base.replace(/[.]/g, '\\.')}/models/half\\.onnx sent nothing for 0\\.3 s \\(${bytes.length >> 1} bytes received; --read-timeout\\)`));
  });
});
