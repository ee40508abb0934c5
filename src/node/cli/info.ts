// `simdnn info FILE|URL`: what a model file holds, from its header alone (of a
// URL, only the header is downloaded), and a summary of its net's layers
// computed from the architecture the header records, without building the net;
// of an ONNX model, what inspectOnnx tells of the net importOnnx would make, with its summary.
import { isNetTensor, type ModelInfo } from '../../io/model.js';
import { inspectOnnx, type OnnxModelInfo } from '../../io/onnx/import.js';
import { netSummary } from '../../nets/registry.js';
import { formatSummary } from '../../nets/summary.js';
import { recordsSwaEpochs } from '../../train/trainer.js';
import { interrupted, UsageError, type Command, type CommandContext } from './command.js';
import {
  checkModelFile, checkNoInputShape, CSV_KEY, describeCsvInfo, describeNet, fromOnnxModel, INPUT_SHAPE_OPTION, inputShapeValue, isModelUrl, isOnnxModel, READ_TIMEOUT_OPTION,
  readCsvModelInfo, readHeaderOf, readOnnxBytes, readTimeoutS,
} from './common.js';

async function info({ values, positionals, io, signal }: CommandContext): Promise<number> {
  if (positionals.length !== 1) throw new UsageError(`expected one model file, got ${positionals.length}`);
  const file = positionals[0];
  const timeoutS = readTimeoutS(values['read-timeout']);
  const inputShape = inputShapeValue(values['input-shape']);
  if (!isModelUrl(file)) await checkModelFile('info FILE', file);
  if (await isOnnxModel(file)) return onnxInfo(file, inputShape, values.json === true, io, signal, timeoutS);
  checkNoInputShape(inputShape, file);
  let m: ModelInfo;
  try {
    m = await readHeaderOf('info FILE', file, signal, timeoutS);
  } catch (e) {
    if (!signal.aborted) throw e;
    io.stderr.write(`simdnn: stopped (${String(signal.reason)}) while reading ${file}\n`);
    return interrupted(signal);
  }
  const summary = m.spec ? netSummary(m.spec) : null;
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ file, format: 'safetensors', ...m, average: averageOf(m), architecture: m.spec ? describeNet(m.spec) : null, summary })}\n`);
    return 0;
  }
  const lines = [
    `file          ${file} (${m.fileBytes.toLocaleString('en-US')} bytes)`,
    `architecture  ${m.spec ? describeNet(m.spec) : 'none recorded (not written by simdnn)'}`,
    ...(m.spec ? [`spec          ${JSON.stringify(m.spec)}`] : []),
    `parameters    ${m.parameterCount.toLocaleString('en-US')} in ${m.tensors.filter((t) => isNetTensor(t.name)).length} tensors`,
    `optimizer     ${m.optimizer ? `${m.optimizer.name} ${Object.entries(m.optimizer.options).map(([k, v]) => `${k} ${v}`).join(' ')}, ${m.optimizer.t} steps` : 'none saved'}`,
    `average       ${describeAverage(m)}`,
    ...(m.metadata[CSV_KEY] !== undefined ? [`csv           ${describeCsvMetadata(m.metadata[CSV_KEY])}`] : []),
    'tensors',
    ...m.tensors.map((t) => `  ${t.name.padEnd(22)} ${t.dtype.padEnd(5)} [${t.shape.join(', ')}]`),
    'metadata',
    ...Object.entries(m.metadata).filter(([k]) => k !== 'simdnn.net' && k !== 'simdnn.optimizer' && k !== CSV_KEY).map(([k, v]) => `  ${k}: ${v.length > 200 ? `${v.slice(0, 200)}… (${v.length} characters)` : v}`),
    ...(summary ? ['summary', ...formatSummary(summary).split('\n').map((l) => `  ${l}`)] : []),
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** `simdnn info` of an ONNX model: what inspectOnnx tells (the checks importOnnx makes, without a runtime); a model it refuses is an error naming the node. */
async function onnxInfo(file: string, inputShape: number[] | undefined, json: boolean, io: CommandContext['io'], signal: AbortSignal, timeoutS: number): Promise<number> {
  let bytes: Uint8Array;
  try {
    bytes = await readOnnxBytes('info FILE', file, signal, timeoutS);
  } catch (e) {
    if (!signal.aborted) throw e;
    io.stderr.write(`simdnn: stopped (${String(signal.reason)}) while reading ${file}\n`);
    return interrupted(signal);
  }
  const m: OnnxModelInfo = fromOnnxModel('info FILE', file, inputShape, (options) => inspectOnnx(bytes, options));
  if (json) {
    io.stdout.write(`${JSON.stringify({ file, format: 'onnx', fileBytes: bytes.length, ...m })}\n`);
    return 0;
  }
  const nameWidth = Math.max(4, ...m.nodes.map((n) => n.name.length)), opWidth = Math.max(2, ...m.nodes.map((n) => n.opType.length));
  const lines = [
    `file          ${file} (${bytes.length.toLocaleString('en-US')} bytes)`,
    `format        ONNX, IR version ${m.irVersion}, opset ${m.opset}`,
    `producer      ${[m.producerName, m.producerVersion].filter((s) => s !== '').join(' ') || 'not recorded'}`,
    `input         '${m.inputName}' [${m.batch ?? '?'}, ${m.inputShape.join(', ')}] (batch, then one sample)`,
    `output        '${m.outputName}': ${m.finalSoftmax ? `${m.finalSoftmax === 'Softmax' ? 'probabilities' : 'log-probabilities'} (the net leaves the model's last ${m.finalSoftmax} out: its predict gives the scores)` : 'the scores, as predict gives them'}`,
    `parameters    ${m.parameters.toLocaleString('en-US')}`,
    `layers        ${m.layers.join(', ')}`,
    `architecture  ${m.spec ? `${describeNet(m.spec)} (the named net simdnn exported: importOnnx rebuilds it, a model file can save it)` : `a Sequential of these layers: ${m.sequentialBecause}`}`,
    'nodes',
    ...m.nodes.map((n) => `  ${(n.name || '(unnamed)').padEnd(nameWidth)}  ${n.opType.padEnd(opWidth)}  → ${n.becomes}`),
    'metadata',
    ...Object.entries(m.metadata).map(([k, v]) => `  ${k}: ${v.length > 200 ? `${v.slice(0, 200)}… (${v.length} characters)` : v}`),
    'summary',
    ...formatSummary(m.summary).split('\n').map((l) => `  ${l}`),
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** The csv line of `simdnn info`: what a model trained on a CSV table reads of one, or why its metadata cannot say. */
function describeCsvMetadata(text: string): string {
  try {
    return describeCsvInfo(readCsvModelInfo('', text));
  } catch (e) {
    return `unreadable: ${(e as Error).message.replace(/^: /, '')}`;
  }
}

/** Metadata keys a Trainer checkpoint's position is under: simdnn train's, and Trainer.checkpointBytes's. */
const POSITION_KEYS = ['train.state', 'trainer'];

/**
 * The average of the parameters a file holds (ModelInfo.average), with a checkpoint written before swa had tensors of
 * its own read as Trainer.resume reads it: `ema.<name>` beside a position that records epochs swa averaged are swa's.
 */
function averageOf(m: ModelInfo): ModelInfo['average'] {
  if (m.average !== 'ema') return m.average;
  const swaPosition = POSITION_KEYS.some((key) => {
    try {
      const position: unknown = JSON.parse(m.metadata[key] ?? 'null');
      return position !== null && typeof position === 'object' && recordsSwaEpochs(position);
    } catch {
      return false; // not JSON: no position
    }
  });
  return swaPosition ? 'swa' : 'ema';
}

/** The average line of `simdnn info`: which average of the parameters, under which tensors. */
function describeAverage(m: ModelInfo): string {
  const average = averageOf(m);
  if (average === null) return 'none';
  const what = average === 'ema' ? 'ema: an exponential moving average of the parameters' : "swa: stochastic weight averaging's average of the parameters";
  return `${what} (${m.average}.<name> tensors${average !== m.average ? ', as checkpoints held it before swa.<name>' : ''})`;
}

/** `simdnn info`. */
export const infoCommand: Command = {
  name: 'info',
  summary: 'show a model file (or an ONNX model): architecture, parameter count, optimizer, metadata',
  positionals: 'FILE|URL',
  description: 'Reads the header of a model file (safetensors) and prints its architecture,\nparameter count, tensors, saved optimizer and metadata, and a summary of the\nnet\'s layers (output shapes, parameters), computed from the architecture\nwithout building the net. Of an http(s) URL, only the header is downloaded.\nAn ONNX model (a .onnx file or URL, or a file whose bytes are ONNX\'s) is read as\nsimdnn/onnx\'s importOnnx reads it: producer, IR version and opset, input and output,\nthe layers of the net it would make (the named net of a model simdnn exported), their\nparameter count, what each node becomes and the summary of the net;\na model simdnn cannot import exactly is an error naming the node (exit 1).',
  options: [{ name: 'json', help: 'print one JSON object on stdout' }, INPUT_SHAPE_OPTION, READ_TIMEOUT_OPTION],
  examples: ['simdnn info model.safetensors', 'simdnn info https://example.com/models/digits.safetensors', 'simdnn info model.onnx --json'],
  run: info,
};
