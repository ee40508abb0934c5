// `simdnn predict`: runs a saved model on a data set's test images (or, for a
// model trained on a CSV table, another table's rows) and reports accuracy, per-class accuracy (recall), precision and F1, and the
// confusion matrix (classificationMetrics' figures, from the one pass that predicts each row: metricsOfPredictions); rows without labels (a table without the label column) are predicted:
// each row's class and probabilities as CSV (--out, or stdout), the count per class. An ONNX model is scored the same
// way, through importOnnx, on inputs of the shape its graph declares.
import { stat } from 'node:fs/promises';
import type { Runtime } from '../../runtime/runtime.js';
import { standardize } from '../../data/csv/standardize.js';
import { checkLoadCsvOptions, csvDataSetOf } from '../../data/csv/load.js';
import { checkLoadCsvFeaturesOptions, csvFeaturesOf } from '../../data/csv/features.js';
import { formatCsv } from '../../data/csv/format.js';
import { float32Text } from '../../data/csv/number.js';
import { softmax } from '../../layers/softmax.js';
import type { IntTensor, Tensor } from '../../runtime/tensor.js';
import { loadIdxPart, loadMnist } from '../data.js';
import { createRuntime } from '../runtime.js';
import { writeFileAtomic } from '../model-file.js';
import { importOnnx, type OnnxModelInfo } from '../../io/onnx/import.js';
import { metricsOfPredictions } from '../../nets/metrics.js';
import type { Sequential } from '../../nets/sequential.js';
import { interrupted, intValue, UsageError, type Command, type CommandContext } from './command.js';
import {
  checkDataArg, checkRowCount, checkModelFile, checkNoInputShape, checkWritable, CSV_KEY, csvErrorInCommandTerms, describeCsvInfo, describeNet, fromOnnxModel, INPUT_SHAPE_OPTION,
  inputShapeValue, isModelUrl, isOnnxModel, READ_TIMEOUT_OPTION, readCsvModelInfo, readCsvTable, readModel, readOnnxBytes, readTimeoutS,
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
  /** The CSV file each row's prediction was written to (--out). */
  out?: string;
}

async function predict({ values, positionals, io, signal }: CommandContext): Promise<number> {
  const [model, arg] = modelArg(values.model, positionals);
  const data = typeof values.data === 'string' ? values.data : 'mnist';
  const testRows = typeof values['test-rows'] === 'string' ? intValue('test-rows', values['test-rows'], 1) : undefined;
  const timeoutS = readTimeoutS(values['read-timeout']);
  const inputShape = inputShapeValue(values['input-shape']);
  const label = typeof values.label === 'string' ? values.label : undefined;
  const out = typeof values.out === 'string' ? values.out : undefined;
  const kind = await checkDataArg(data);
  if (label !== undefined && kind !== 'csv') throw new UsageError("--label: only a CSV --data takes it (the digits' and IDX files' labels are their own)");
  if (!isModelUrl(model)) await checkModelFile(arg, model);
  if (out !== undefined) await checkOut(out, { model, ...(kind === 'csv' ? { '--data': data } : {}) });
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
      const { x: loaded, t, classNames, labelColumn }: RowsToPredict = kind === 'csv'
        ? await csvRows(rt, data, `${arg}: '${model}'`, opened.metadata, want, label, testRows)
        : await testSet(rt, data, withoutLeadingOnes(want).length === 1, testRows);
      try {
        const got = loaded.shape.slice(1);
        // the same values in the same order, the same image: an ONNX model's [28, 28] takes the digits' [1, 28, 28] (and
        // [1, 784] their rows); a [1, 5, 6] never takes a [1, 6, 5] (of as many values, but another geometry)
        if (withoutLeadingOnes(want).join('x') !== withoutLeadingOnes(got).join('x')) throw new Error(`the model takes inputs of shape [${want.join(', ')}], ${data} has [${got.join(', ')}]`);
        const x = want.join('x') === got.join('x') ? loaded : loaded.reshape([loaded.shape[0], ...want]);
        const classes = net.outputColumns(x, 'predict');
        if (classNames && classNames.length !== classes) throw new Error(`${arg}: '${model}': metadata '${CSV_KEY}' names ${classNames.length} classes, but the net has ${classes} outputs`);
        const names = classNames ?? Array.from({ length: classes }, (_, c) => String(c));
        if (t === null) {
          const rows = predictRows(net, x, classes);
          const text = predictionsCsv(names, rows, null);
          if (out !== undefined) await writeFileAtomic(out, new TextEncoder().encode(text));
          const report = predictionsReport(model, opened.description, data, names, rows, out);
          if (values.json) io.stdout.write(`${JSON.stringify(report)}\n`);
          else if (out !== undefined) io.stdout.write(formatPredictions(report, labelColumn));
          else {
            io.stdout.write(text);
            io.stderr.write(formatPredictions(report, labelColumn));
          }
          return 0;
        }
        const labels = t.toArray();
        const maxLabel = labels.reduce((a, b) => Math.max(a, b), 0);
        if (maxLabel >= classes) throw new Error(`the data has label ${maxLabel}, the model has ${classes} classes`);
        // one pass: each row's class (and, for --out, its probabilities) from predictRows, the scores from those classes
        const rows = predictRows(net, x, classes);
        const m = metricsOfPredictions(rows.predicted, labels, classes);
        const report: PredictReport = {
          model, net: opened.description, data, rows: labels.length, accuracy: m.accuracy,
          perClass: m.perClass.map((c) => (c.support === 0 ? null : c.recall)),
          precision: m.perClass.map((c) => c.precision), f1: m.perClass.map((c) => c.f1), macroF1: m.macro.f1,
          confusion: m.confusion, invalid: m.invalid, ...(classNames ? { classNames } : {}), ...(out !== undefined ? { out } : {}),
        };
        if (out !== undefined) await writeFileAtomic(out, new TextEncoder().encode(predictionsCsv(names, rows, labels)));
        io.stdout.write(values.json ? `${JSON.stringify(report)}\n` : format(report));
        return 0;
      } finally {
        loaded.dispose();
        t?.dispose();
      }
    } finally {
      net.dispose();
    }
  } finally {
    await rt.dispose();
  }
}

/** The rows to predict: features in the model's input order, their true classes when the data has them (null: predict only), and the classes' names. */
interface RowsToPredict {
  x: Tensor;
  t: IntTensor | null;
  /** The model's class names, of a model trained on a CSV (absent: the classes are their indices). */
  classNames?: string[];
  /** The label column the table was looked at for (of a CSV). */
  labelColumn?: string;
}

/**
 * --out: checked before the model is read: a .csv file that can be written, and none of the files predict reads
 * (`inputs`, by what each is: the model, the --data table; a predictions file written over one would destroy it).
 */
async function checkOut(out: string, inputs: Record<string, string>): Promise<void> {
  if (!/\.csv$/i.test(out)) throw new UsageError(`--out: '${out}': the predictions are written as CSV; name the file .csv`);
  await checkWritable('out', out);
  // by device and inode: a link (symbolic or hard) to an input is that input
  const target = await stat(out).catch(() => null);
  if (target === null) return;
  for (const [what, input] of Object.entries(inputs)) {
    const st = isModelUrl(input) ? null : await stat(input).catch(() => null);
    if (st && st.dev === target.dev && st.ino === target.ino) throw new UsageError(`--out: '${out}' is the ${what} file; writing it would replace it`);
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
async function testSet(rt: Runtime, data: string, flatten: boolean, testRows: number | undefined): Promise<RowsToPredict & { t: IntTensor }> {
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
 * columns by name, in any order, and the standardizer fitted on its training rows; with their labels (as the model's
 * class indices) when the table has the label column (`label`, the column's name when it differs from the training
 * table's, must be there; the training table's may be absent: then t is null, the rows are only predicted). The
 * first `testRows` rows only, when given. `where` names the model in errors.
 */
async function csvRows(
  rt: Runtime, file: string, where: string, metadata: Record<string, string>, inputShape: number[], label: string | undefined, testRows: number | undefined,
): Promise<RowsToPredict & { classNames: string[]; labelColumn: string }> {
  const text = metadata[CSV_KEY];
  if (text === undefined) throw new Error(`${where} was not trained on a CSV table (its metadata has no '${CSV_KEY}': which columns its inputs are, in which scaling)`);
  const info = readCsvModelInfo(where, text, inputShape.reduce((a, b) => a * b, 1));
  const whole = await readCsvTable('data', file);
  checkRowCount('test-rows', testRows, whole.rows.length, 'test', file);
  // the first rows only: cells past them are neither read nor checked
  const table = testRows === undefined ? whole : { ...whole, rows: whole.rows.slice(0, testRows), lines: whole.lines.slice(0, testRows) };
  const labelColumn = label ?? info.label;
  const who = `--data: ${file}`;
  let x: Tensor, t: IntTensor | null = null;
  try {
    if (label !== undefined || whole.columns?.includes(labelColumn)) {
      ({ x, t } = csvDataSetOf(who, rt, table, checkLoadCsvOptions(who, { label: labelColumn, features: info.features, classes: info.classes, header: true })));
    } else {
      ({ x } = csvFeaturesOf(who, rt, table, checkLoadCsvFeaturesOptions(who, { features: info.features, header: true })));
    }
  } catch (e) {
    throw csvErrorInCommandTerms('data', e);
  }
  try {
    standardize(x, info);
  } catch (e) {
    x.dispose();
    t?.dispose();
    throw e;
  }
  return { x, t, classNames: info.classes, labelColumn };
}

/** Each row's predicted class (the first maximum of its outputs; −1 where they hold NaN) and its classes' probabilities, row-major. */
interface RowPredictions {
  predicted: Int32Array;
  probabilities: Float32Array;
}

/**
 * The net's predictions for the rows of x, in its evalBatchSize chunks: net.predict's outputs, their first maximum
 * (as classificationMetrics counts it) and their softmax by the library's kernel (the same bits on every host).
 */
function predictRows(net: Sequential, x: Tensor, classes: number): RowPredictions {
  const N = x.shape[0];
  const predicted = new Int32Array(N), probabilities = new Float32Array(N * classes);
  for (let start = 0; start < N; start += net.evalBatchSize) {
    const end = Math.min(N, start + net.evalBatchSize);
    const y = net.predict(x.rows(start, end));
    try {
      // a layer after the last Affine (an imported graph's) could change the width the net reports
      if (y.shape.length !== 2 || y.shape[1] !== classes) throw new RangeError(`the net's output is [${y.shape.join(', ')}], not [rows, ${classes}] (its classes)`);
      const v = y.data;
      for (let r = 0; r < end - start; r++) {
        let best = 0;
        for (let j = 0; j < classes; j++) {
          if (Number.isNaN(v[r * classes + j])) { best = -1; break; }
          if (v[r * classes + j] > v[r * classes + best]) best = j;
        }
        predicted[start + r] = best;
      }
      softmax(y, { out: y });
      probabilities.set(y.data, start * classes);
    } finally {
      y.dispose();
    }
  }
  return { predicted, probabilities };
}

/**
 * The predictions as CSV: row (from 1, as the reader's errors number them), label (the true class, when `labels`
 * are given), predicted (empty for a row whose outputs hold NaN), then one probability per class, each column
 * named by its class ('p_' before a class named as another column).
 */
function predictionsCsv(names: string[], { predicted, probabilities }: RowPredictions, labels: ArrayLike<number> | null): string {
  const fixed = ['row', ...(labels ? ['label'] : []), 'predicted'];
  const taken = new Set(fixed);
  const columns = [...fixed, ...names.map((name) => {
    while (taken.has(name)) name = `p_${name}`;
    taken.add(name);
    return name;
  })];
  const C = names.length;
  const rows = Array.from(predicted, (c, r) => [
    r + 1, ...(labels ? [names[labels[r]]] : []), c < 0 ? '' : names[c], ...probabilities.subarray(r * C, (r + 1) * C),
  ]);
  return formatCsv(columns, rows);
}

/** What `simdnn predict --json` prints for rows without labels: the count per predicted class and each row's prediction. */
export interface PredictionsReport {
  model: string;
  /** The architecture in one line. */
  net: string;
  data: string;
  rows: number;
  /** The class of each index (their indices as text for a model not trained on a CSV). */
  classNames: string[];
  /** Rows predicted as each class, in classNames' order. */
  counts: number[];
  /** Rows whose outputs hold NaN (no class predicted). */
  invalid: number;
  /** The CSV file the predictions were written to (--out). */
  out?: string;
  /**
   * Each row's prediction: the row (from 1), its class (null where the outputs hold NaN) and the classes' probabilities
   * in classNames' order (each float32's shortest decimal; NaN, which JSON writes as null, where the outputs hold NaN).
   */
  predictions: Array<{ row: number; predicted: string | null; probabilities: number[] }>;
}

function predictionsReport(model: string, net: string, data: string, names: string[], { predicted, probabilities }: RowPredictions, out: string | undefined): PredictionsReport {
  const C = names.length;
  const counts = new Array<number>(C).fill(0);
  for (const c of predicted) if (c >= 0) counts[c]++;
  return {
    model, net, data, rows: predicted.length, classNames: names, counts, invalid: predicted.filter((c) => c < 0).length, ...(out !== undefined ? { out } : {}),
    predictions: Array.from(predicted, (c, r) => ({
      row: r + 1, predicted: c < 0 ? null : names[c], probabilities: Array.from(probabilities.subarray(r * C, (r + 1) * C), (p) => Number(float32Text(p))),
    })),
  };
}

/** The summary of predictions: the rows and the count per predicted class (and where they were written). */
function formatPredictions(r: PredictionsReport, labelColumn: string | undefined): string {
  const why = labelColumn !== undefined ? ` (the table has no '${labelColumn}' column to score them by)` : '';
  const width = Math.max(...r.classNames.map((n) => n.length));
  const counts = r.classNames.map((name, c) => `  ${name.padEnd(width)}  ${r.counts[c]}`).join('\n');
  return `${r.net} on ${r.data}: ${r.rows} rows predicted${why}\n${counts}\n${r.invalid ? `  (${r.invalid} rows with NaN outputs: no class)\n` : ''}` +
    `${r.out !== undefined ? `wrote ${r.out}\n` : ''}`;
}

function format(r: PredictReport): string {
  const names = r.classNames ?? r.confusion.map((_, c) => String(c));
  const width = Math.max(5, ...r.confusion.flat().map((n) => String(n).length + 1), ...names.map((n) => n.length + 1));
  const first = Math.max(9, ...names.map((n) => n.length));
  const head = `${'true\\pred'.padEnd(first)}${names.map((n) => n.padStart(width)).join('')}  accuracy`;
  const rows = r.confusion.map((row, c) => `${names[c].padStart(first)}${row.map((n) => String(n).padStart(width)).join('')}  ${r.perClass[c] === null ? '-' : r.perClass[c]!.toFixed(4)}`);
  return `${r.net} on ${r.data} (${r.rows} test rows)\naccuracy ${r.accuracy.toFixed(4)}${r.invalid ? ` (${r.invalid} rows with NaN outputs)` : ''}\nmacro F1 ${r.macroF1.toFixed(4)}\n\n${head}\n${rows.join('\n')}\n` +
    `${r.out !== undefined ? `\nwrote the predictions of each row to ${r.out}\n` : ''}`;
}

/** `simdnn predict`. */
export const predictCommand: Command = {
  name: 'predict',
  summary: 'evaluate a saved model (accuracy, per-class accuracy, confusion matrix), or predict a table\'s new rows',
  positionals: '[FILE|URL]',
  description: 'Runs a model file (simdnn train --save) on the test images of a data set\nand prints its accuracy, macro F1, the accuracy per class and the confusion matrix.\nThe model may be an http(s) URL, read as it downloads. An ONNX model (a .onnx file\nor URL, or a file whose bytes are ONNX\'s; PyTorch\'s torch.onnx.export, tf2onnx,\nsimdnn export) is read through simdnn/onnx\'s importOnnx and given the data in the shape\nits input declares: [784] flattened rows, [1, 28, 28] images. A model trained on a CSV\ntable (simdnn train --data FILE.csv --label COLUMN) scores another table\'s rows\n(--data FILE.csv): its columns taken by the names the model records, in any order,\nscaled as in training, the classes reported by name. A table without the label\ncolumn is predicted, not scored: one CSV row per input row (row, predicted, then each\nclass\'s probability, the softmax of the outputs) on stdout, or in the --out file,\nand the count per predicted class on stderr (on stdout with --out).',
  options: [
    { name: 'model', value: 'file|url', help: 'the model file (safetensors, from simdnn train --save, or an ONNX model) or its http(s) URL; or give it as FILE|URL' },
    { name: 'data', value: 'mnist|dir|file', default: 'mnist', help: "'mnist': the bundled digits' 2,000 test images; or a directory of MNIST-format IDX files (t10k-*); or, for a model trained on a CSV table, a CSV file (gzipped or not) with a header row: every row is scored, its features taken by the names the model records (in any order) and scaled as in training; without the label column, every row is predicted" },
    { name: 'label', value: 'column', help: "a CSV --data's column of class labels, by its header name (default: the name in the training table; a table without that column is predicted, not scored)" },
    { name: 'out', value: 'file.csv', help: "write each row's prediction to this CSV file (atomically; checked before the model is read): row (from 1), label (when the data has labels), predicted, and one probability column per class, named by the class" },
    { name: 'test-rows', value: 'n', help: 'use the first n test rows only (default: all; more than the data holds is an error)' },
    { name: 'json', help: 'print one JSON object on stdout: of labelled data the scores (accuracy, perClass, precision, f1, macroF1, confusion); of a table without labels the count per predicted class and each row\'s prediction (predictions)' },
    INPUT_SHAPE_OPTION,
    READ_TIMEOUT_OPTION,
  ],
  examples: [
    'simdnn predict model.safetensors', 'simdnn predict model.onnx --test-rows 500', 'simdnn predict --model fashion.safetensors --data /usr/share/datasets/fashion-mnist --json',
    'simdnn predict iris.safetensors --data new-flowers.csv --label species', 'simdnn predict iris.safetensors --data unlabelled-flowers.csv > predictions.csv',
    'simdnn predict iris.safetensors --data unlabelled-flowers.csv --out predictions.csv',
  ],
  run: predict,
};
