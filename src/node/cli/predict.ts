// `simdnn predict`: runs a saved model on a data set's test images (or, for a
// model trained on a CSV table, another table's rows) and reports accuracy, per-class accuracy (recall), precision and F1, and the
// confusion matrix (classificationMetrics). An ONNX model is scored the same
// way, through importOnnx, on inputs of the shape its graph declares.
import type { Runtime } from '../../runtime/runtime.js';
import { standardize } from '../../data/csv/standardize.js';
import { Dataset } from '../../data/tensors.js';
import type { IntTensor, Tensor } from '../../runtime/tensor.js';
import { loadIdxPart, loadMnist } from '../data.js';
import { createRuntime } from '../runtime.js';
import { importOnnx, type OnnxModelInfo } from '../../io/onnx/import.js';
import { classificationMetrics } from '../../nets/metrics.js';
import type { Sequential } from '../../nets/sequential.js';
import { interrupted, intValue, UsageError, type Command, type CommandContext } from './command.js';
import {
  checkDataArg, checkRowCount, checkModelFile, checkNoInputShape, CSV_KEY, describeCsvInfo, describeNet, fromOnnxModel, INPUT_SHAPE_OPTION, inputShapeValue, isModelUrl,
  isOnnxModel, READ_TIMEOUT_OPTION, readCsvData, readCsvModelInfo, readModel, readOnnxBytes, readTimeoutS,
} from './common.js';

/** What `simdnn predict --json` prints. */
export interface PredictReport {
  model: string;
  /** The architecture in one line. */
  net: string;
  data: string;
  rows: number;
  accuracy: number;
  /** Per true class: the fraction predicted right, its recall (null for a class with no rows). */
  perClass: Array<number | null>;
  /** Per predicted class: the fraction of its predictions that are right (0 for a class never predicted, as sklearn's). */
  precision: number[];
  /** Per class: sklearn's F1, 2·tp / (rows of the class + rows predicted as it) (0 when tp is 0). */
  f1: number[];
  /** The mean of the classes' F1 over every class (sklearn's f1_score average='macro'). */
  macroF1: number;
  /** confusion[true][predicted]: row counts. */
  confusion: number[][];
  /** Rows whose outputs hold NaN (counted as wrong, in no column). */
  invalid: number;
  /** The class of each index, of a model trained on a CSV table (absent: the classes are their indices). */
  classNames?: string[];
}

async function predict({ values, positionals, io, signal }: CommandContext): Promise<number> {
  const [model, arg] = modelArg(values.model, positionals);
  const data = typeof values.data === 'string' ? values.data : 'mnist';
  const testRows = typeof values['test-rows'] === 'string' ? intValue('test-rows', values['test-rows'], 1) : undefined;
  const timeoutS = readTimeoutS(values['read-timeout']);
  const inputShape = inputShapeValue(values['input-shape']);
  const label = typeof values.label === 'string' ? values.label : undefined;
  const kind = await checkDataArg(data, 'data', { csv: true });
  if (label !== undefined && kind !== 'csv') throw new UsageError("--label: only a CSV --data takes it (the digits' and IDX files' labels are their own)");
  if (!isModelUrl(model)) await checkModelFile(arg, model);
  const rt: Runtime = await createRuntime({ threads: 1 });
  try {
    let opened: OpenedModel;
    try {
      opened = await openModel(rt, arg, model, inputShape, signal, timeoutS);
    } catch (e) {
      if (!signal.aborted) throw e;
      io.stderr.write(`simdnn: stopped (${String(signal.reason)}) while reading ${model}\n`);
      return interrupted(signal);
    }
    const { net, inputShape: want } = opened;
    try {
      if (kind !== 'csv' && opened.metadata[CSV_KEY] !== undefined) {
        throw new Error(`${arg}: '${model}' was trained on a CSV table (${describeCsvInfo(readCsvModelInfo(`${arg}: '${model}'`, opened.metadata[CSV_KEY]))}): give --data a CSV file with those columns`);
      }
      const { x: loaded, t, classNames }: { x: Tensor; t: IntTensor; classNames?: string[] } = kind === 'csv'
        ? await csvTestSet(rt, data, `${arg}: '${model}'`, opened.metadata, want, label, testRows)
        : await testSet(rt, data, withoutLeadingOnes(want).length === 1, testRows);
      try {
        const labels = t.toArray();
        const got = loaded.shape.slice(1);
        // the same values in the same order, the same image: an ONNX model's [28, 28] takes the digits' [1, 28, 28] (and
        // [1, 784] their rows); a [1, 5, 6] never takes a [1, 6, 5] (of as many values, but another geometry)
        if (withoutLeadingOnes(want).join('x') !== withoutLeadingOnes(got).join('x')) throw new Error(`the model takes inputs of shape [${want.join(', ')}], ${data} has [${got.join(', ')}]`);
        const x = want.join('x') === got.join('x') ? loaded : loaded.reshape([loaded.shape[0], ...want]);
        const maxLabel = labels.reduce((a, b) => Math.max(a, b), 0), classes = net.outputColumns(x, 'predict');
        if (maxLabel >= classes) throw new Error(`the data has label ${maxLabel}, the model has ${classes} classes`);
        if (classNames && classNames.length !== classes) throw new Error(`${arg}: '${model}': metadata '${CSV_KEY}' names ${classNames.length} classes, but the net has ${classes} outputs`);
        const m = classificationMetrics(net, x, t);
        const out: PredictReport = {
          model, net: opened.description, data, rows: labels.length, accuracy: m.accuracy,
          perClass: m.perClass.map((c) => (c.support === 0 ? null : c.recall)),
          precision: m.perClass.map((c) => c.precision), f1: m.perClass.map((c) => c.f1), macroF1: m.macro.f1,
          confusion: m.confusion, invalid: m.invalid, ...(classNames ? { classNames } : {}),
        };
        io.stdout.write(values.json ? `${JSON.stringify(out)}\n` : format(out));
        return 0;
      } finally {
        loaded.dispose();
        t.dispose();
      }
    } finally {
      net.dispose();
    }
  } finally {
    await rt.dispose();
  }
}

/** A model ready to score: its net (the caller's), its architecture in one line, one sample's shape, and its metadata. */
interface OpenedModel {
  net: Sequential;
  description: string;
  inputShape: number[];
  metadata: Record<string, string>;
}

/** The model `model` (given as `arg`) names, a model file or an ONNX model (isOnnxModel), built on rt. */
async function openModel(rt: Runtime, arg: string, model: string, inputShape: number[] | undefined, signal: AbortSignal, timeoutS: number): Promise<OpenedModel> {
  if (await isOnnxModel(model)) {
    const bytes = await readOnnxBytes(arg, model, signal, timeoutS);
    const m = fromOnnxModel(arg, model, inputShape, (options) => importOnnx(rt, bytes, options));
    return { net: m.net, description: describeOnnx(m), inputShape: [...m.inputShape], metadata: m.metadata };
  }
  checkNoInputShape(inputShape, model);
  const loaded = await readModel(rt, arg, model, signal, timeoutS);
  loaded.optimizer?.dispose();
  const o = loaded.net.spec.options as { inputSize?: number; inputDim?: readonly number[] };
  return {
    net: loaded.net, description: describeNet(loaded.net.spec), inputShape: o.inputSize !== undefined ? [o.inputSize] : [...(o.inputDim ?? [1, 28, 28])], metadata: loaded.metadata,
  };
}

/**
 * An ONNX model in one line: 'ONNX (pytorch 2.4.0, opset 17) Affine Relu Affine, 79,510 parameters', or for a named
 * net simdnn exported (importOnnx read its spec) that net as a model file's is described: 'ONNX (simdnn 0.1.0, opset 13) mlp 784-100-10 …'.
 */
function describeOnnx(m: OnnxModelInfo): string {
  const producer = [m.producerName, m.producerVersion].filter((s) => s !== '').join(' ');
  const net = m.spec !== null ? describeNet(m.spec) : `${m.layers.join(' ')}, ${m.parameters.toLocaleString('en-US')} parameters`;
  return `ONNX (${producer ? `${producer}, ` : ''}opset ${m.opset}) ${net}`;
}

/** A sample's shape without its leading 1s ([1, 28, 28] → [28, 28]): what it holds, whatever its rank. */
function withoutLeadingOnes(shape: readonly number[]): number[] {
  const first = shape.findIndex((d) => d !== 1);
  return first < 0 ? [] : shape.slice(first);
}

/** The model file, given as --model or as the one positional argument (as `simdnn info FILE` takes it), and which it was. */
function modelArg(option: string | boolean | undefined, positionals: readonly string[]): [model: string, arg: string] {
  if (positionals.length > 1) throw new UsageError(`expected one model file, got ${positionals.length}: ${positionals.join(' ')}`);
  const [given] = positionals;
  if (typeof option === 'string' && given !== undefined && given !== option) throw new UsageError(`two model files: --model ${option} and ${given}; give one`);
  const model = typeof option === 'string' ? option : given;
  if (model === undefined) throw new UsageError('--model: required (a file written by simdnn train --save; or give it as the argument, simdnn predict FILE)');
  return [model, typeof option === 'string' ? '--model' : 'predict FILE'];
}

/** The test images and labels `data` names: the bundled digits' test split, or an IDX directory's t10k files (its training files are not needed). */
async function testSet(rt: Runtime, data: string, flatten: boolean, testRows: number | undefined): Promise<{ x: Tensor; t: IntTensor }> {
  let x: Tensor, t: IntTensor;
  if (data !== 'mnist') ({ x, t } = await loadIdxPart(rt, data, 'test', { flatten, rows: testRows }));
  else {
    const set = await loadMnist(rt, { flatten, testRows });
    set.xTrain.dispose();
    set.tTrain.dispose();
    ({ xTest: x, tTest: t } = set);
  }
  try {
    checkRowCount('test-rows', testRows, x.shape[0], 'test', data);
  } catch (e) {
    x.dispose();
    t.dispose();
    throw e;
  }
  return { x, t };
}

/**
 * The rows of the CSV file `file` as the model trained on a CSV reads them (its metadata, CsvModelInfo): its feature
 * columns by name, in any order, its class names, and the standardizer fitted on its training rows. `label` is the
 * label column's name when it differs from the training table's. `where` names the model in errors.
 */
async function csvTestSet(
  rt: Runtime, file: string, where: string, metadata: Record<string, string>, inputShape: number[], label: string | undefined, testRows: number | undefined,
): Promise<{ x: Tensor; t: IntTensor; classNames: string[] }> {
  const text = metadata[CSV_KEY];
  if (text === undefined) throw new Error(`${where} was not trained on a CSV table (its metadata has no '${CSV_KEY}': which columns its inputs are, in which scaling)`);
  const info = readCsvModelInfo(where, text, inputShape.reduce((a, b) => a * b, 1));
  const set = await readCsvData(rt, 'data', file, { label: label ?? info.label, features: info.features, classes: info.classes });
  let { x, t } = set;
  try {
    checkRowCount('test-rows', testRows, x.shape[0], 'test', file);
    if (testRows !== undefined && testRows < x.shape[0]) {
      const all = new Dataset(x, t);
      const first = all.select(Array.from({ length: testRows }, (_, i) => i));
      all.dispose();
      x.dispose();
      t.dispose();
      ({ x, t } = first);
    }
    standardize(x, info);
  } catch (e) {
    x.dispose();
    t.dispose();
    throw e;
  }
  return { x, t, classNames: set.classNames };
}

function format(r: PredictReport): string {
  const names = r.classNames ?? r.confusion.map((_, c) => String(c));
  const width = Math.max(5, ...r.confusion.flat().map((n) => String(n).length + 1), ...names.map((n) => n.length + 1));
  const first = Math.max(9, ...names.map((n) => n.length));
  const head = `${'true\\pred'.padEnd(first)}${names.map((n) => n.padStart(width)).join('')}  accuracy`;
  const rows = r.confusion.map((row, c) => `${names[c].padStart(first)}${row.map((n) => String(n).padStart(width)).join('')}  ${r.perClass[c] === null ? '-' : r.perClass[c]!.toFixed(4)}`);
  return `${r.net} on ${r.data} (${r.rows} test rows)\naccuracy ${r.accuracy.toFixed(4)}${r.invalid ? ` (${r.invalid} rows with NaN outputs)` : ''}\nmacro F1 ${r.macroF1.toFixed(4)}\n\n${head}\n${rows.join('\n')}\n`;
}

/** `simdnn predict`. */
export const predictCommand: Command = {
  name: 'predict',
  summary: 'evaluate a saved model: accuracy, per-class accuracy, confusion matrix',
  positionals: '[FILE|URL]',
  description: 'Runs a model file (simdnn train --save) on the test images of a data set\nand prints its accuracy, macro F1, the accuracy per class and the confusion matrix.\nThe model may be an http(s) URL, read as it downloads. An ONNX model (a .onnx file\nor URL, or a file whose bytes are ONNX\'s; PyTorch\'s torch.onnx.export, tf2onnx,\nsimdnn export) is read through simdnn/onnx\'s importOnnx and given the data in the shape\nits input declares: [784] flattened rows, [1, 28, 28] images. A model trained on a CSV\ntable (simdnn train --data FILE.csv --label COLUMN) scores another table\'s rows\n(--data FILE.csv): its columns taken by the names the model records, in any order,\nscaled as in training, the classes reported by name.',
  options: [
    { name: 'model', value: 'file|url', help: 'the model file (safetensors, from simdnn train --save, or an ONNX model) or its http(s) URL; or give it as FILE|URL' },
    { name: 'data', value: 'mnist|dir|file', default: 'mnist', help: "'mnist': the bundled digits' 2,000 test images; or a directory of MNIST-format IDX files (t10k-*); or, for a model trained on a CSV table, a CSV file (gzipped or not) with a header row: every row is scored, its features taken by the names the model records (in any order) and scaled as in training" },
    { name: 'label', value: 'column', help: "a CSV --data's column of class labels, by its header name (default: the name in the training table)" },
    { name: 'test-rows', value: 'n', help: 'use the first n test rows only (default: all; more than the data holds is an error)' },
    { name: 'json', help: 'print one JSON object (accuracy, perClass, precision, f1, macroF1, confusion) on stdout' },
    INPUT_SHAPE_OPTION,
    READ_TIMEOUT_OPTION,
  ],
  examples: [
    'simdnn predict model.safetensors', 'simdnn predict model.onnx --test-rows 500', 'simdnn predict --model fashion.safetensors --data /usr/share/datasets/fashion-mnist --json',
    'simdnn predict iris.safetensors --data new-flowers.csv --label species',
  ],
  run: predict,
};
