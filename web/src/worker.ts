// The playground's training worker: owns the runtime (threads when the page is
// cross-origin isolated), the bundled digits, a CSV table the page sent and the
// current model, and trains through the Trainer's async loop (fit), so the page's
// main thread only draws. A table is read, split and standardized by simdnn/csv as
// `simdnn train --data t.csv` reads it, and a model trained on one records it (CSV_KEY).
import {
  createRuntime, parseIdx, toDataSet, buildNet, createSchedule, Trainer, saveModel, loadModel, softmax, classificationMetrics,
  type Runtime, type NetSpec, type NamedNet, type Sequential, type Tensor, type IntTensor, type LRSchedule,
} from 'simdnn';
import { runExperiment, chartSpec, type ExperimentName } from 'simdnn/experiments';
import { exportOnnx, importOnnx } from 'simdnn/onnx';
import { CSV_KEY, csvModelMetadata, describeCsvInfo, loadCsv, parseCsv, readCsvModelInfo, splitTable, type CsvModelInfo } from 'simdnn/csv';
import { TABLE_SPLIT_SEED, type FromWorker, type RunConfig, type TestMetrics, type ToWorker } from './protocol.js';

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

/**
 * One gzipped IDX file of the bundled digits (made by web/make-digits.mjs). Some
 * servers (Vite's dev server among them) send .gz files with Content-Encoding:
 * gzip, and the browser then hands over the IDX bytes: gunzip only what still
 * starts with gzip's magic number.
 */
async function idx(name: string) {
  const res = await fetch(new URL(`../digits/${name}`, self.location.href));
  if (!res.ok) throw new Error(`digits/${name}: HTTP ${res.status}`);
  let bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    bytes = new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
  }
  return parseIdx(bytes, name);
}

async function loadDigits(rt: Runtime) {
  const [xi, ti, xe, te] = await Promise.all(['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map(idx));
  const raw = (x: typeof xi, t: typeof ti) => ({ pixels: x.data, labels: t.data, rows: 28, cols: 28 });
  return toDataSet(rt, raw(xi, ti), raw(xe, te), { numClasses: 10 }) as { xTrain: Tensor; tTrain: IntTensor; xTest: Tensor; tTest: IntTensor };
}

// A worker drops the messages that come while it has no handler: those sent while the runtime and the
// digits load (a Start clicked at once) are kept here and handled, in order, once they are in.
const early: ToWorker[] = [];
self.onmessage = (ev: MessageEvent<ToWorker>) => { early.push(ev.data); };

// the page names the thread count (the worker's name); one thread where the page is not cross-origin isolated
const named = Math.floor(Number(self.name));
const rt = await createRuntime({ seed: 1, threads: self.crossOriginIsolated && named >= 1 ? named : 1 });
const data = await loadDigits(rt);
const images = (x: Tensor) => x.reshape([x.shape[0], 1, 28, 28]);
const conv = { xTrain: images(data.xTrain), xTest: images(data.xTest) };

/**
 * The current model: a named net (trained here, loaded from a .safetensors file, or from an ONNX file simdnn
 * exported, which importOnnx rebuilds by its spec), or another ONNX model's Sequential, which has no spec and so
 * saves as ONNX only.
 */
let model: Sequential | null = null;
/** One sample's shape the model takes: [784] or [1, 28, 28]; an ONNX model's own ([28, 28], [1, 784], …). */
let modelInput: number[] = [784];
/** What the current model records of the table it was trained on (or loaded with); null for a digits model. */
let csvInfo: CsvModelInfo | null = null;
/** The CSV table the page sent (its bytes, loaded again by each run with the label column the run names). */
let table: { name: string; bytes: Uint8Array } | null = null;
/** simdnn/csv's read options, the command line's: a header row naming the columns, the delimiter sniffed. */
const TABLE_FORMAT = { header: true, delimiter: 'auto' } as const;
/**
 * The run training, if any. Stop aborts `abort`, whose signal fit() sees between steps and between the chunks
 * of an epoch's evaluation (it rejects with the signal's reason), so a Stop that comes at an epoch's end is not
 * followed by one more step and a one-step epoch.
 */
let training: { runId: number; paused: boolean; resume: (() => void) | null; abort: AbortController } | null = null;
/** The experiment running, if any (one job at a time: a run or an experiment). */
let experiment: AbortController | null = null;

async function runBookExperiment(name: ExperimentName, quick: boolean): Promise<void> {
  const abort = experiment = new AbortController();
  let last = 0;
  try {
    const result = await runExperiment(name, {
      rt, data, quick, signal: abort.signal,
      onProgress: (p) => {
        if (performance.now() - last < 250) return;
        last = performance.now();
        post({ type: 'experimentProgress', done: p.done, total: p.total, phase: p.phase });
      },
    });
    post({ type: 'experimentDone', title: result.title, conclusion: result.conclusion, spec: chartSpec(result) });
  } catch (e) {
    // Stop aborts the signal: runExperiment rejects with its reason (an AbortError), which is no failure
    if (abort.signal.aborted) post({ type: 'experimentStopped' });
    else post({ type: 'error', message: `experiment ${name}: ${e instanceof Error ? e.message : String(e)}` });
  } finally {
    experiment = null;
  }
}

/** The run's net; an MLP takes `inputs` features and has `classes` outputs (the digits' 784 and 10, or a table's). */
function netSpec(c: RunConfig, inputs: number, classes: number): NetSpec {
  const init = c.init;
  // every net takes label smoothing (left out at 0: the spec a saved model records is the one it always was)
  const smoothing = c.labelSmoothing ? { labelSmoothing: c.labelSmoothing } : {};
  switch (c.net) {
    case 'mlp': return { kind: 'mlp', options: { inputSize: inputs, hiddenSizeList: c.hidden, outputSize: classes, activation: c.activation, weightInitStd: init, weightDecayLambda: c.weightDecay, ...smoothing } };
    case 'mlp-extend': return { kind: 'mlp-extend', options: { inputSize: inputs, hiddenSizeList: c.hidden, outputSize: classes, activation: c.activation, weightInitStd: init, weightDecayLambda: c.weightDecay, useBatchnorm: c.batchnorm, useDropout: c.dropout > 0, dropoutRatio: c.dropout || 0.5, ...smoothing } };
    case 'simple-conv': return { kind: 'simple-conv', options: { weightInitStd: init, ...smoothing } };
    case 'deep-conv': return { kind: 'deep-conv', options: { ...smoothing } };
  }
}

/** The run's schedule; `steps`: the run's optimizer steps (OneCycleLR's totalSteps). */
function schedule(c: RunConfig, steps: number): LRSchedule | undefined {
  if (c.schedule === 'step') return createSchedule('step', { stepSize: 1, gamma: c.gamma });
  if (c.schedule === 'exponential') return createSchedule('exponential', { gamma: c.gamma });
  if (c.schedule === 'cosine') return createSchedule('cosine', { tMax: c.epochs });
  // momentum cycled where the optimizer has one (PyTorch's default), not where it has none (which PyTorch refuses)
  if (c.schedule === 'onecycle') return createSchedule('onecycle', { maxLr: c.lr, totalSteps: steps, cycleMomentum: ['momentum', 'nesterov', 'adam', 'adamw'].includes(c.optimizer) });
  return undefined;
}

/** A run's data: the digits (as images for the conv nets), or the table's rows with what a model records of it. */
interface RunData {
  xTrain: Tensor; tTrain: IntTensor; xTest: Tensor; tTest: IntTensor;
  /** The table's record (CsvModelInfo), null for the digits. */
  csv: CsvModelInfo | null;
  /** Frees what the run made (a table's four tensors; the digits stay). */
  dispose(): void;
}

/**
 * The data of a run: the digits, or the table the page sent read by simdnn/csv as `simdnn train --data t.csv
 * --label L --test-split S` reads it (loadCsv, then splitTable seeded by TABLE_SPLIT_SEED: the same rows, the same
 * statistics, to the bit). Errors name the table's file instead of loadCsv and the options.
 */
function runData(c: RunConfig): RunData {
  const isConv = c.net === 'simple-conv' || c.net === 'deep-conv';
  if (!c.table) {
    return { xTrain: isConv ? conv.xTrain : data.xTrain, tTrain: data.tTrain, xTest: isConv ? conv.xTest : data.xTest, tTest: data.tTest, csv: null, dispose: () => {} };
  }
  if (!table) throw new Error('choose a CSV table to train on first');
  if (isConv) throw new Error(`${c.net} needs 28×28 images; a table gives rows of features (choose an MLP)`);
  const { name, bytes } = table, { label, testSplit } = c.table;
  const inTableTerms = (e: unknown) => new Error((e as Error).message
    .replace(/^(loadCsv|splitTable): /, `${name}: `).replace(/options\.label\b/, 'the label column').replace(/options\.testSplit\b/, 'the test share'), { cause: e });
  let all: ReturnType<typeof loadCsv>;
  try {
    all = loadCsv(rt, bytes, { label, ...TABLE_FORMAT });
  } catch (e) {
    throw inTableTerms(e);
  }
  try {
    const { standardizer, ...parts } = splitTable(all, { testSplit, seed: TABLE_SPLIT_SEED });
    const csv = { label, features: all.featureNames, classes: all.classNames, mean: Array.from(standardizer.mean), scale: Array.from(standardizer.scale) };
    return { ...parts, csv, dispose: () => { for (const t of Object.values(parts)) t.dispose(); } };
  } catch (e) {
    throw inTableTerms(e);
  } finally {
    all.x.dispose();
    all.t.dispose();
  }
}

/** The current model's metrics on a table run's test rows, with the table's class names. */
function testMetrics(net: NamedNet, set: RunData & { csv: CsvModelInfo }): TestMetrics {
  const m = classificationMetrics(net, set.xTest, set.tTest);
  return {
    classes: set.csv.classes, accuracy: m.accuracy, rows: set.xTest.shape[0], confusion: m.confusion,
    perClass: m.perClass.map(({ precision, recall, f1, support }) => ({ precision, recall, f1, support })),
  };
}

async function train(runId: number, c: RunConfig): Promise<void> {
  // settings the net or the Trainer refuse (hidden sizes of 2,000,000), or a table loadCsv refuses, end the run as failed, not silently
  let net: NamedNet | null = null, trainer: Trainer, set: RunData | null = null;
  try {
    set = runData(c);
    net = buildNet(rt, netSpec(c, set.csv ? set.csv.features.length : 784, set.csv ? set.csv.classes.length : 10));
    // the run's steps as the Trainer counts them (a batch capped at the rows, at least one step an epoch)
    const rows = set.xTrain.shape[0], steps = c.epochs * Math.max(Math.floor(rows / Math.min(c.batchSize, rows)), 1);
    trainer = new Trainer(net, set.xTrain, set.tTrain, set.xTest, set.tTest, {
      epochs: c.epochs, miniBatchSize: c.batchSize, optimizer: c.optimizer, optimizerParams: { lr: c.lr }, lrSchedule: schedule(c, steps), // by name: the Trainer owns and frees it
    });
  } catch (e) {
    net?.dispose();
    set?.dispose();
    post({ type: 'state', runId, state: 'failed', message: e instanceof Error ? e.message : String(e) });
    return;
  }
  const runSet = set, trained = net;
  // a table run's metrics on its test rows, posted before its end (done or stopped: the model as it stands)
  const measure = () => {
    if (!runSet.csv) return;
    try {
      post({ type: 'metrics', runId, metrics: testMetrics(trained, { ...runSet, csv: runSet.csv }) });
    } catch (e) {
      post({ type: 'error', message: `the test rows' metrics: ${e instanceof Error ? e.message : String(e)}` });
    }
  };
  const run = training = { runId, paused: false, resume: null as (() => void) | null, abort: new AbortController() };
  const { signal } = run.abort;
  if (model) model.dispose();
  model = net;
  csvInfo = runSet.csv;
  modelInput = csvInfo ? [csvInfo.features.length] : net.inputShape ? [...net.inputShape] : [784]; // the conv nets fix theirs
  let pending: Array<{ iter: number; loss: number; lr: number }> = [];
  let lastPost = 0;
  const flush = () => { if (pending.length) post({ type: 'steps', runId, points: pending }); pending = []; lastPost = performance.now(); };
  post({ type: 'state', runId, state: 'running' });
  try {
    const result = await trainer.fit({
      signal,
      callbacks: {
        onStepEnd(e) {
          pending.push({ iter: e.iter, loss: e.loss, lr: (trainer.optimizer as { lr?: number }).lr ?? NaN });
          if (performance.now() - lastPost > 150) flush();
          if (run.paused && !signal.aborted) {
            flush();
            post({ type: 'state', runId, state: 'paused' });
            // Stop while paused resolves this too; fit() then sees the aborted signal before the next step
            return new Promise<void>((resolve) => { run.resume = resolve; }).then(() => { if (!signal.aborted) post({ type: 'state', runId, state: 'running' }); });
          }
        },
        onEpochEnd(e) {
          if (signal.aborted) return; // fit() checks the signal before it evaluates; this is belt and braces
          flush();
          const r = e.record;
          post({ type: 'epoch', runId, point: { epoch: r.epoch, trainAcc: r.trainAcc, testAcc: r.testAcc, trainLoss: r.trainLoss, testLoss: r.testLoss } });
        },
      },
    });
    flush();
    measure();
    post({ type: 'state', runId, state: result.stopReason === 'completed' ? 'done' : 'stopped' });
  } catch (e) {
    flush();
    // Stop: fit() rejects with the signal's reason; the model keeps the parameters of the last completed step
    if (signal.aborted) {
      measure();
      post({ type: 'state', runId, state: 'stopped' });
    } else post({ type: 'state', runId, state: 'failed', message: e instanceof Error ? e.message : String(e) });
  } finally {
    trainer.dispose();
    runSet.dispose();
    training = null;
  }
}

function predict(pixels: Float32Array): number[] {
  if (!model) throw new Error('no model yet: train one or load a .safetensors or .onnx file');
  if (csvInfo) throw new Error(`the model was trained on a table (${describeCsvInfo(csvInfo)}): it takes no drawn digit; train or load a digits model`);
  const x = rt.tensor([1, ...modelInput], pixels);
  try {
    const y = model.predict(x); // the caller owns predict's result
    const p = Array.from(softmax(y, { out: y }).toArray()); // the wasm's softmax: the same bits as in Node
    y.dispose();
    return p;
  } finally {
    x.dispose();
  }
}

/** Whether the model is a named net (with the spec a .safetensors file records), not an ONNX model's. */
function isNamed(net: Sequential): net is NamedNet {
  return 'spec' in net;
}

/**
 * Whether a file the page loads is an ONNX model, as `simdnn info` and `predict` tell: a safetensors file starts
 * with its header's length (8 bytes, little-endian, within the file) and '{', whatever its name; any other file
 * is ONNX when its name ends in .onnx or its first byte is 0x08 (ModelProto's ir_version, which writers put first).
 */
function isOnnxFile(name: string, bytes: Uint8Array): boolean {
  if (bytes.length >= 9 && bytes[8] === 0x7b) {
    const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (headerLength <= BigInt(bytes.length - 8)) return false;
  }
  return /\.onnx$/i.test(name) || bytes[0] === 0x08;
}

/** An ONNX model (PyTorch's, tf2onnx's, exportOnnx's) as the current model, if it takes the digits (its OnnxError otherwise). */
/**
 * What a loaded model records of the table it was trained on (its metadata under CSV_KEY, checked against the net's
 * input width and class count), or null for a model of the digits, whose input must then be the digits' 784 values
 * (`digitsShape`); a model of other inputs would load, then fail at every prediction. Errors name the file.
 */
function tableOfModel(name: string, metadata: Record<string, string>, input: readonly number[], classes: number | undefined, digitsShape: boolean): CsvModelInfo | null {
  const text = metadata[CSV_KEY];
  if (text !== undefined) return readCsvModelInfo(name, text, input.reduce((a, b) => a * b, 1), classes);
  if (!digitsShape) throw new Error(`${name} takes inputs of shape [${input.join(', ')}]; the playground's digits are 28×28 (784 values), and it records no table (metadata '${CSV_KEY}')`);
  return null;
}

/** The loaded model's summary, with the table it was trained on. */
const loadedSummary = (summary: string, csv: CsvModelInfo | null) => (csv ? `${summary}; trained on a table: ${describeCsvInfo(csv)}` : summary);

/** An ONNX model (PyTorch's, tf2onnx's, exportOnnx's) as the current model, if it takes the digits or records its table (its OnnxError otherwise). */
function loadOnnx(name: string, bytes: Uint8Array): void {
  const imported = importOnnx(rt, bytes);
  // the digits' 784 values, as rows or as one 28×28 image: [784], [1, 784], [28, 28], [1, 28, 28]
  const input = imported.inputShape.slice(imported.inputShape.findIndex((d) => d !== 1)).join('x');
  let csv: CsvModelInfo | null;
  try {
    // the class count is checked where the model is simdnn's named net (its spec's outputs)
    const classes = (imported.spec?.options as { outputSize?: number } | undefined)?.outputSize;
    csv = tableOfModel(name, imported.metadata, imported.inputShape, classes, input === '784' || input === '28x28');
  } catch (e) {
    imported.net.dispose();
    throw e;
  }
  model?.dispose();
  model = imported.net;
  modelInput = [...imported.inputShape];
  csvInfo = csv;
  const producer = [imported.producerName, imported.producerVersion].filter((s) => s !== '').join(' ');
  post({ type: 'loaded', name, summary: loadedSummary(`ONNX${producer ? ` from ${producer}` : ''}, ${imported.layers.join(' ')}, ${imported.parameters} parameters`, csv), ...(csv ? { csv } : {}) });
}

/** A CSV table to train on: its header read (a ragged row or a quote left open refused, naming the line) and kept. */
function readTable(name: string, bytes: Uint8Array): void {
  table = null;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${name}: the bytes are not UTF-8 (save the table as UTF-8 and choose it again)`);
  }
  let parsed: ReturnType<typeof parseCsv>;
  try {
    parsed = parseCsv(text, TABLE_FORMAT);
  } catch (e) {
    throw new Error((e as Error).message.replace(/^parseCsv: /, `${name}: `), { cause: e });
  }
  if (!parsed.columns?.length || parsed.columns.length < 2 || parsed.rows.length === 0) {
    throw new Error(`${name}: a table to train on needs a header row naming its columns (a label and at least one feature) and rows of data`);
  }
  table = { name, bytes };
  post({ type: 'table', name, columns: parsed.columns, rows: parsed.rows.length });
}

async function handle(m: ToWorker): Promise<void> {
  try {
    switch (m.type) {
      case 'experiment':
        if (training || experiment) throw new Error('a run or experiment is in progress: stop it first');
        void runBookExperiment(m.name, m.quick);
        break;
      case 'start':
        if (training || experiment) throw new Error('a run or experiment is in progress: stop it first');
        void train(m.runId, m.config);
        break;
      case 'pause': if (training) training.paused = true; break;
      case 'resume':
        if (training) { training.paused = false; training.resume?.(); training.resume = null; }
        break;
      case 'stop':
        experiment?.abort();
        if (training) { training.abort.abort(); training.paused = false; training.resume?.(); training.resume = null; }
        break;
      case 'predict': post({ type: 'prediction', probabilities: predict(m.pixels) }); break;
      case 'sample': {
        const i = Math.floor(Math.random() * data.xTest.shape[0]);
        const pixels = data.xTest.rows(i, i + 1).toArray();
        post({ type: 'sample', pixels, label: data.tTest.toArray()[i] }, [pixels.buffer]);
        break;
      }
      case 'save': {
        if (!model) throw new Error('no model to save yet');
        if (training) throw new Error('stop or finish the run before saving');
        if (m.format === 'safetensors' && !isNamed(model)) throw new Error('this model came from an ONNX file: it has no simdnn architecture to save as .safetensors; download it as ONNX');
        // ONNX: the logits, as predict gives them, for a batch of any size (input 'x' [N, ...the model's input])
        // a model trained on a table carries it (CSV_KEY), as simdnn train's and simdnn export's do: simdnn predict --data reads it
        const tableMetadata = csvInfo ? csvModelMetadata(csvInfo) : {};
        const bytes = m.format === 'onnx'
          ? exportOnnx(model, { inputShape: modelInput, metadata: tableMetadata })
          : saveModel(model as NamedNet, { metadata: { savedBy: 'simdnn playground', ...tableMetadata } });
        post({ type: 'saved', bytes, fileName: `simdnn-model.${m.format}` }, [bytes.buffer]);
        break;
      }
      case 'load': {
        if (training) throw new Error('stop or finish the run before loading a model');
        if (isOnnxFile(m.name, m.bytes)) {
          loadOnnx(m.name, m.bytes);
          break;
        }
        const loaded = loadModel(rt, m.bytes);
        loaded.optimizer?.dispose?.();
        const o = loaded.net.spec.options as { inputSize?: number; inputDim?: readonly number[]; outputSize?: number };
        const input = o.inputSize !== undefined ? [o.inputSize] : [...(o.inputDim ?? [1, 28, 28])];
        let csv: CsvModelInfo | null;
        try {
          csv = tableOfModel(m.name, loaded.metadata, input, o.outputSize ?? 10, input.join('x') === '784' || input.join('x') === '1x28x28');
        } catch (e) {
          loaded.net.dispose();
          throw e;
        }
        model?.dispose();
        model = loaded.net;
        modelInput = input;
        csvInfo = csv;
        const { kind, options } = loaded.net.spec;
        const hidden = 'hiddenSizeList' in options ? ` ${options.hiddenSizeList?.join('-')}` : '';
        post({ type: 'loaded', name: m.name, summary: loadedSummary(`${kind}${hidden}, ${loaded.net.parameterSet?.size ?? '?'} parameters`, csv), ...(csv ? { csv } : {}) });
        break;
      }
      case 'table': readTable(m.name, m.bytes); break;
    }
  } catch (e) {
    post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
}

self.onmessage = (ev: MessageEvent<ToWorker>) => void handle(ev.data);
post({ type: 'ready', threads: rt.features.threads, isolated: self.crossOriginIsolated, notes: rt.features.notes, trainRows: data.xTrain.shape[0], testRows: data.xTest.shape[0] });
for (const m of early.splice(0)) await handle(m);
