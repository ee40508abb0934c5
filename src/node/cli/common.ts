// What several commands share: loading a data set by name (the bundled digits,
// an IDX directory or a CSV table, with what a model records of the table), reading a model from a file or an http(s) URL,
// describing a net in one line, checking before any work
// that a model file can be written where asked (or read, for one given), and
// writing it with a fallback so a trained model is never lost.
import { constants } from 'node:fs';
import { access, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LoadedModel, ModelInfo, SaveModelOptions } from '../../io/model.js';
import type { ImportOnnxOptions } from '../../io/onnx/import.js';
import { inspectModelAsync, loadModelAsync } from '../../io/model-async.js';
import { SafetensorsError } from '../../io/safetensors.js';
import type { NamedNet, NetKind, NetSpec } from '../../nets/registry.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { IntTensor } from '../../runtime/tensor.js';
import { loadIdx, loadMnist, type LoadedDataSet } from '../data.js';
import { loadCsvFile, readCsvTableFile } from '../csv/file.js';
import type { CsvTable } from '../../data/csv/parse.js';
import { dataSourceKind, type DataSourceKind } from '../search/data.js';
import type { CsvDataSet, LoadCsvOptions } from '../../data/csv/load.js';
import { splitTable, testRowCount } from '../../data/csv/split-table.js';
import { CSV_KEY, describeCsvInfo, readCsvModelInfo, type CsvModelInfo } from '../../data/csv/model-metadata.js';
import { checkRegularFile, readModelFile, readModelInfo, temporaryBeside, writeModelFile } from '../model-file.js';
import { numberValue, UsageError } from './command.js';

/** Whether a net kind takes rows (flattened images) rather than [N, C, H, W]. */
export function takesRows(kind: NetKind): boolean {
  return kind === 'mlp' || kind === 'mlp-extend';
}

/** What `--data` names: the bundled digits, an IDX directory or a CSV file. */
export type DataKind = DataSourceKind;

/**
 * `--data`: 'mnist', an existing directory (IDX files) or a file (a CSV table, gzipped or not): the search's rule
 * (dataSourceKind), so a search's workers read a path as the command did; a UsageError naming the option otherwise.
 */
export async function checkDataArg(data: string, flag = 'data'): Promise<DataKind> {
  const kind = await dataSourceKind(data);
  if (kind === 'mnist' || kind === 'idx' || kind === 'csv') return kind;
  throw new UsageError(`--${flag}: '${data}' is neither 'mnist' nor a directory nor a CSV file`);
}

/**
 * What a CSV `--data` needs and what only it takes: a net of rows (mlp, mlp-extend), --label; --label and
 * --test-split refused for other data. UsageErrors naming the flag, before any data loads.
 */
export function checkCsvFlags(kind: DataKind, net: NetKind, label: string | undefined, testSplit: number | undefined): void {
  if (kind === 'csv') {
    if (!takesRows(net)) throw new UsageError(`--net ${net} needs images; a CSV gives rows of features (use --net mlp or mlp-extend)`);
    if (label === undefined) throw new UsageError('--label: required with a CSV --data: the column of class labels, by its header name');
    return;
  }
  if (label !== undefined) throw new UsageError("--label: only a CSV --data takes it (the digits' and IDX files' labels are their own)");
  if (testSplit !== undefined) throw new UsageError("--test-split: only a CSV --data takes it (the digits and IDX files come split)");
}

/** How a CSV `--data` is read: the label column (by its header name), the share of rows held out for testing, and the split's seed. */
export interface CsvDataOptions {
  label: string;
  testSplit: number;
  seed: number;
}

// what a model trained on a table records of it: simdnn/csv's (the playground writes and reads the same)
export { CSV_KEY, describeCsvInfo, readCsvModelInfo, type CsvModelInfo };

/**
 * The data set `data` names, as int labels; the caller owns the tensors.
 * (loadIdx refuses a part with no images: there would be nothing to measure.)
 * A CSV file (`options.csv`) is split into training and test rows and standardized (loadCsvData).
 */
export async function loadData(
  rt: Runtime, data: string, options: { flatten: boolean; trainRows?: number; testRows?: number; csv?: CsvDataOptions },
): Promise<LoadedDataSet<IntTensor> & { csv?: CsvModelInfo }> {
  const { csv, ...loadOptions } = options;
  if (csv) return loadCsvData(rt, data, { ...csv, trainRows: options.trainRows, testRows: options.testRows });
  const set = data === 'mnist' ? await loadMnist(rt, loadOptions) : await loadIdx(rt, data, loadOptions);
  try {
    checkRowCount('train-rows', options.trainRows, set.xTrain.shape[0], 'training', data);
    checkRowCount('test-rows', options.testRows, set.xTest.shape[0], 'test', data);
  } catch (e) {
    disposeData(set);
    throw e;
  }
  return set;
}

/**
 * `--<flag> n` asked for more rows than the data holds: a UsageError (the loaders take the first n, so
 * a run would silently use fewer than the user asked for and believes it trained or tested on).
 */
export function checkRowCount(flag: string, asked: number | undefined, held: number, part: string, data: string): void {
  if (asked !== undefined && asked > held) {
    throw new UsageError(`--${flag}: ${asked} is more than the ${held.toLocaleString('en-US')} ${part} rows of ${data === 'mnist' ? 'the bundled digits' : `'${data}'`}`);
  }
}

/**
 * A CSV file as a training run's data: its rows (a header row naming the columns; the delimiter sniffed) split into
 * training and test rows by stratifiedSplit of the class indices, seeded (`testSplit` of them for testing, Keras's
 * count: N − ⌊N·(1 − testSplit)⌋), the first trainRows / testRows of each kept, and the features standardized
 * with statistics fitted on the training rows only. The caller owns the tensors.
 */
async function loadCsvData(
  rt: Runtime, file: string, o: CsvDataOptions & { trainRows?: number; testRows?: number },
): Promise<LoadedDataSet<IntTensor> & { csv: CsvModelInfo }> {
  const all = await readCsvData(rt, 'data', file, { label: o.label });
  try {
    const N = all.x.shape[0];
    const testCount = testRowCount(N, o.testSplit);
    if (testCount === 0 || testCount === N) throw new UsageError(`--test-split: ${o.testSplit} of the ${N} rows of '${file}' leaves ${testCount === 0 ? 'no test rows' : 'no training rows'}`);
    checkRowCount('train-rows', o.trainRows, N - testCount, 'training', file);
    checkRowCount('test-rows', o.testRows, testCount, 'test', file);
    const { standardizer: stats, ...parts } = splitTable(all, { testSplit: o.testSplit, seed: o.seed, trainRows: o.trainRows, testRows: o.testRows });
    return {
      ...parts, classes: all.classNames.length,
      csv: { label: o.label, features: all.featureNames, classes: all.classNames, mean: Array.from(stats.mean), scale: Array.from(stats.scale) },
    };
  } finally {
    all.x.dispose();
    all.t.dispose();
  }
}

/**
 * loadCsvFile on the CSV file `--<flag>` names, read as the commands read tables (a header row naming the
 * columns, the delimiter sniffed: , ; tab or |); its errors said in the command line's terms.
 */
export async function readCsvData(rt: Runtime, flag: string, file: string, options: Pick<LoadCsvOptions, 'label' | 'features' | 'classes'>): Promise<CsvDataSet> {
  try {
    return await loadCsvFile(rt, file, { ...options, header: true, delimiter: 'auto' });
  } catch (e) {
    throw csvErrorInCommandTerms(flag, e);
  }
}

/**
 * The CSV file `--<flag>` names, parsed as the commands read tables (a header row naming the columns, the
 * delimiter sniffed), for a command that looks at its columns before it loads them (predict: is the label
 * column there?); its errors, and those of loading it (csvErrorInCommandTerms), name the flag and the file.
 */
export async function readCsvTable(flag: string, file: string): Promise<CsvTable> {
  try {
    return await readCsvTableFile(`--${flag}`, file, { header: true, delimiter: 'auto' });
  } catch (e) {
    throw csvErrorInCommandTerms(flag, e);
  }
}

/** An error of the CSV reader in the command line's terms: loadCsvFile as the flag, the options as the flags or the model's columns they came from. */
export function csvErrorInCommandTerms(flag: string, e: unknown): Error {
  const message = (e as Error).message
    .replace(/^loadCsvFile: /, `--${flag}: `)
    .replace(/options\.label\b/, '--label')
    .replace(/options\.features\[(\d+)\]/, (_, k: string) => `the model's feature ${Number(k) + 1}`)
    .replace(/options\.classes/, "the model's classes");
  return new Error(message, { cause: e });
}

/** Frees a data set's four tensors. */
export function disposeData(set: LoadedDataSet): void {
  for (const t of [set.xTrain, set.tTrain, set.xTest, set.tTest]) t.dispose();
}

/** One line for a net: 'mlp 784-100-100-10 relu init he', 'deep-conv 1x28x28 …'. */
export function describeNet(spec: NetSpec): string {
  switch (spec.kind) {
    case 'mlp': case 'mlp-extend': {
      const o = spec.options;
      const extra = spec.kind === 'mlp-extend'
        ? `${spec.options.useBatchnorm ? ' batchnorm' : ''}${spec.options.useDropout ? ` dropout ${spec.options.dropoutRatio ?? 0.5}` : ''}${spec.options.l1Lambda ? ` L1 ${spec.options.l1Lambda}` : ''}`
        : '';
      return `${spec.kind} ${[o.inputSize, ...o.hiddenSizeList, o.outputSize].join('-')} ${o.activation ?? 'relu'} init ${o.weightInitStd ?? 'relu'}` +
        `${extra}${o.weightDecayLambda ? ` L2 ${o.weightDecayLambda}` : ''}`;
    }
    case 'simple-conv': {
      const o = spec.options;
      const c = o.convParam ?? { filterNum: 30, filterSize: 5 };
      return `simple-conv ${(o.inputDim ?? [1, 28, 28]).join('x')} conv ${c.filterNum}x${c.filterSize}x${c.filterSize} pool 2 affine ${o.hiddenSize ?? 100}-${o.outputSize ?? 10} init ${o.weightInitStd ?? 0.01}`;
    }
    case 'deep-conv': {
      const o = spec.options;
      return `deep-conv ${(o.inputDim ?? [1, 28, 28]).join('x')} conv ${(o.convParams ?? [16, 16, 32, 32, 64, 64].map((filterNum) => ({ filterNum }))).map((p) => p.filterNum).join('-')} affine ${o.hiddenSize ?? 50}-${o.outputSize ?? 10}`;
    }
  }
}

/**
 * Checks, before any training, that a model can be written to `file`: a
 * non-empty path, in an existing directory, not a directory or device itself,
 * and a file can be created (and is removed again) beside it. Throws a
 * UsageError naming `--flag`.
 */
export async function checkWritable(flag: string, file: string): Promise<void> {
  if (file.trim() === '') throw new UsageError(`--${flag}: the path is empty`);
  const dir = path.dirname(path.resolve(file));
  const dirStat = await stat(dir).catch(() => null);
  if (!dirStat?.isDirectory()) throw new UsageError(`--${flag}: the directory of '${file}' does not exist`);
  const target = await stat(file).catch(() => null);
  if (target?.isDirectory()) throw new UsageError(`--${flag}: '${file}' is a directory`);
  if (target && !target.isFile()) throw new UsageError(`--${flag}: '${file}' is not a regular file (a device or pipe cannot hold what is written)`);
  if (target) {
    await access(file, constants.W_OK).catch((e: NodeJS.ErrnoException) => { throw new UsageError(`--${flag}: '${file}' cannot be replaced (${e.code ?? e.message})`); });
  }
  const probe = temporaryBeside(file);
  try {
    const handle = await open(probe, 'wx');
    await handle.close();
  } catch (e) {
    throw new UsageError(`--${flag}: cannot create a file in '${dir}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    await rm(probe, { force: true }).catch(() => {});
  }
}

/**
 * Checks, before any work, a model file the command line names (`arg`:
 * '--resume', '--model', 'predict FILE', …): a path that does not exist or is
 * no regular file is a UsageError naming `arg`. What the file holds is
 * checked when it is read (see fromModelFile).
 */
export async function checkModelFile(arg: string, file: string): Promise<void> {
  const st = await stat(file).catch((e: NodeJS.ErrnoException) => e);
  if (st instanceof Error) throw new UsageError(`${arg}: ${st.code === 'ENOENT' ? `'${file}' does not exist` : `cannot read '${file}' (${st.code ?? st.message})`}`);
  try {
    checkRegularFile(arg, `'${file}'`, st);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** What `read` returns from the model file `arg` names; its error (the file's content is wrong) prefixed with `arg` and the file. */
export function fromModelFile<T>(arg: string, file: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    throw new Error(`${arg}: '${file}': ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Writes the model to `file` (atomically); when that fails, to a new file in
 * the working directory, then in the system's temporary directory. Resolves to
 * where it went and, when that is not `file`, why `file` failed. Throws only
 * when every place failed, or at once when the model cannot be encoded (no
 * other place would change that).
 */
export async function saveWithFallback(file: string, net: NamedNet, options: SaveModelOptions): Promise<{ saved: string; failure?: string }> {
  try {
    await writeModelFile(file, net, options);
    return { saved: file };
  } catch (e) {
    // writeModelFile's disk failures are plain Errors; encoding's are these, before any file is touched
    if (e instanceof SafetensorsError || e instanceof TypeError || e instanceof RangeError) throw e;
    const failure = (e as Error).message;
    const name = `simdnn-model-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.safetensors`;
    for (const dir of [process.cwd(), tmpdir()]) {
      const fallback = path.join(dir, name);
      try {
        await writeModelFile(fallback, net, options);
        return { saved: fallback, failure };
      } catch {
        // try the next place
      }
    }
    throw new Error(`${failure}; writing it to the working directory and to ${tmpdir()} failed too`);
  }
}

/** Whether a model argument is an http(s) URL (read with fetch) rather than a file's path. */
export function isModelUrl(model: string): boolean {
  return /^https?:\/\//i.test(model);
}

/** Seconds a model's URL may send nothing before the command gives up (--read-timeout's default). */
export const READ_TIMEOUT_S = 30;

/** The --read-timeout option of the commands that read a model. */
export const READ_TIMEOUT_OPTION = { name: 'read-timeout', value: 's', default: String(READ_TIMEOUT_S), help: 'of a model read from a URL: give up when it sends nothing for this many seconds' } as const;

/** --read-timeout's value: seconds in (0, what a timer holds]. */
export function readTimeoutS(text: string | boolean | undefined): number {
  if (typeof text !== 'string') return READ_TIMEOUT_S;
  const s = numberValue('read-timeout', text);
  const max = (2 ** 31 - 1) / 1000;
  if (!(s > 0 && s <= max)) throw new UsageError(`--read-timeout: expected a number of seconds in (0, ${max}], got ${text}`);
  return s;
}

/** The model `model` (given as `arg`) names, a file or an http(s) URL (read as it downloads); the caller owns it. */
export async function readModel(rt: Runtime, arg: string, model: string, signal: AbortSignal, timeoutS: number): Promise<LoadedModel> {
  if (!isModelUrl(model)) return fromModelFile(arg, model, () => readModelFile(rt, model));
  return fromUrl(model, signal, timeoutS, (response, options) => loadModelAsync(rt, response, options));
}

/** The header of the model `model` (given as `arg`) names, a file or an http(s) URL (whose download stops after the header). */
export async function readHeaderOf(arg: string, model: string, signal: AbortSignal, timeoutS: number): Promise<ModelInfo> {
  if (!isModelUrl(model)) return fromModelFile(arg, model, () => readModelInfo(model));
  return fromUrl(model, signal, timeoutS, (response, { signal: both }) => inspectModelAsync(response, { signal: both }));
}

/**
 * Whether the model `model` names (a file or an http(s) URL) is an ONNX model rather than a safetensors file.
 * A file's bytes decide first: a safetensors file starts with its header's length (8 bytes, little-endian,
 * within the file) and the header's '{', and is read as one whatever its name. Any other file is ONNX when its
 * name ends in .onnx or its first byte is 0x08, the tag of ModelProto's ir_version (field 1, which protobuf
 * writers put first: PyTorch's, tf2onnx's, exportOnnx's); else it is left to the safetensors reader, whose error
 * names what is wrong. A URL, whose bytes come only with the download, is ONNX when its path ends in .onnx.
 */
export async function isOnnxModel(model: string): Promise<boolean> {
  if (isModelUrl(model)) return URL.canParse(model) && /\.onnx$/i.test(new URL(model).pathname);
  const handle = await open(model, 'r');
  try {
    const head = new Uint8Array(9);
    const { bytesRead } = await handle.read(head, 0, 9, 0);
    const { size } = await handle.stat();
    const headerLength = bytesRead === 9 ? new DataView(head.buffer).getBigUint64(0, true) : -1n;
    if (headerLength >= 0n && headerLength <= BigInt(size - 8) && head[8] === 0x7b) return false;
    return /\.onnx$/i.test(model) || (bytesRead > 0 && head[0] === 0x08);
  } finally {
    await handle.close();
  }
}

/** The --input-shape option of the commands that read an ONNX model. */
export const INPUT_SHAPE_OPTION = { name: 'input-shape', value: 'dims', help: "of an ONNX model whose input leaves a dimension open: one sample's shape, e.g. 1,28,28" } as const;

/** --input-shape's value: one sample's dimensions, positive integers separated by commas; undefined when not given. */
export function inputShapeValue(text: string | boolean | undefined): number[] | undefined {
  if (typeof text !== 'string') return undefined;
  const dims = text.split(',').map((d) => d.trim());
  if (!dims.every((d) => /^\d+$/.test(d) && Number(d) >= 1 && Number.isSafeInteger(Number(d)))) {
    throw new UsageError(`--input-shape: expected one sample's dimensions as positive integers separated by commas (e.g. 1,28,28), got '${text}'`);
  }
  return dims.map(Number);
}

/** --input-shape given for a model file, which records its net's input: a UsageError naming both. */
export function checkNoInputShape(inputShape: number[] | undefined, model: string): void {
  if (inputShape) throw new UsageError(`--input-shape: only an ONNX model takes it; '${model}' is a model file, which records its net's input`);
}

/**
 * What `read` (inspectOnnx or importOnnx, given --input-shape as its options) makes of the ONNX model `model`
 * (given as `arg`); its errors said in the command line's terms: a shape that does not fit the model is a
 * UsageError naming --input-shape, a model that needs one is told to give --input-shape, any other error is
 * prefixed with `arg` and the model (as fromModelFile's).
 */
export function fromOnnxModel<T>(arg: string, model: string, inputShape: number[] | undefined, read: (options: ImportOnnxOptions) => T): T {
  try {
    return read(inputShape ? { inputShape } : {});
  } catch (e) {
    const message = (e as Error).message;
    if (inputShape && e instanceof RangeError && message.includes('options.inputShape ')) throw new UsageError(`--input-shape: ${message.replace(/^.*?options\.inputShape /, '')}`);
    throw new Error(`${arg}: '${model}': ${message.replace('give options.inputShape', 'give --input-shape')}`, { cause: e });
  }
}

/** The whole of the ONNX model `model` (given as `arg`) names, a file or an http(s) URL (its body read as it downloads, --read-timeout armed at each chunk). */
export async function readOnnxBytes(arg: string, model: string, signal: AbortSignal, timeoutS: number): Promise<Uint8Array> {
  if (!isModelUrl(model)) return readFile(model).catch((e: Error) => { throw new Error(`${arg}: cannot read '${model}': ${e.message}`, { cause: e }); });
  return fromUrl(model, signal, timeoutS, async (response, { onProgress }) => {
    if (!response.ok) throw new Error(`${model}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
    const chunks: Uint8Array[] = [];
    let received = 0;
    if (response.body) {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        chunks.push(chunk);
        received += chunk.length;
        onProgress(received);
      }
    }
    const bytes = new Uint8Array(received);
    let at = 0;
    for (const c of chunks) { bytes.set(c, at); at += c.length; }
    return bytes;
  });
}

/**
 * Fetches `url` and runs `read` on its response, aborting with an Error that
 * says so when the server sends nothing for `timeoutS` seconds (a stalled
 * server would otherwise hold the command for good) or when `signal` aborts
 * (then with its reason).
 */
async function fromUrl<T>(
  url: string, signal: AbortSignal, timeoutS: number,
  read: (response: Response, options: { signal: AbortSignal; onProgress: (bytesRead: number) => void }) => Promise<T>,
): Promise<T> {
  const both = new AbortController();
  const onAbort = () => both.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  let received = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => both.abort(new Error(`${url} sent nothing for ${timeoutS} s (${received} bytes received; --read-timeout)`)), timeoutS * 1000);
  };
  try {
    arm();
    const response = await fetchModel(url, both.signal);
    arm();
    return await read(response, { signal: both.signal, onProgress: (n) => { received = n; arm(); } });
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

/** The response for a model's URL; an Error naming the URL when none comes (the loaders check its status). */
async function fetchModel(url: string, signal: AbortSignal): Promise<Response> {
  try {
    return await fetch(url, { signal });
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    const cause = (e as Error & { cause?: unknown }).cause;
    throw new Error(`cannot fetch ${url}: ${cause instanceof Error ? cause.message : (e as Error).message}`, { cause: e });
  }
}
