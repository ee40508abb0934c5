// `simdnn export FILE OUT`: a model file (safetensors, from simdnn train --save) as an ONNX model
// with its weights (exportOnnx), for ONNX Runtime, TensorRT and the other ONNX consumers. The
// output is written atomically (a temporary file renamed over OUT), and the command reports the
// graph's opset, input and output.
import { realpath } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { encodeOnnx, type OnnxValue } from '../../io/onnx/export.js';
import type { NamedNet } from '../../nets/registry.js';
import { writeFileAtomic } from '../model-file.js';
import { createRuntime } from '../runtime.js';
import { intValue, UsageError, type Command, type CommandContext } from './command.js';
import { checkModelFile, checkWritable, describeNet, readModel, READ_TIMEOUT_S } from './common.js';

/** What `simdnn export --json` prints. */
export interface ExportReport {
  model: string;
  /** The architecture in one line. */
  net: string;
  out: string;
  bytes: number;
  opset: number;
  input: OnnxValue;
  output: OnnxValue;
  /** Whether the output is probabilities (a Softmax ends the graph) rather than the logits. */
  probabilities: boolean;
}

async function exportModel({ values, positionals, io, signal }: CommandContext): Promise<number> {
  if (positionals.length !== 2) throw new UsageError(`expected a model file and the ONNX file to write, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}`);
  const [model, out] = positionals;
  const batch = typeof values.batch === 'string' ? intValue('batch', values.batch, 1) : undefined;
  const probabilities = values.probabilities === true;
  await checkModelFile('export FILE', model);
  try {
    await checkWritable('OUT', out);
  } catch (e) {
    // checkWritable names a flag (--OUT: …); OUT is an argument here
    throw e instanceof UsageError ? new UsageError(e.message.replace(/^--OUT:/, 'export OUT:')) : e;
  }
  const outPath = await realpath(out).catch(() => path.resolve(out));
  if (outPath === await realpath(model)) throw new UsageError(`export OUT: '${out}' is the model file itself; writing it would replace the model`);
  const rt = await createRuntime({ threads: 1 });
  try {
    const loaded = await readModel(rt, 'export FILE', model, signal, READ_TIMEOUT_S);
    loaded.optimizer?.dispose();
    const net: NamedNet = loaded.net;
    try {
      const onnx = encodeOnnx(net, { batch, probabilities, producerVersion: packageVersion(), metadata: loaded.metadata });
      await writeFileAtomic(out, onnx.bytes);
      const report: ExportReport = {
        model, net: describeNet(net.spec), out, bytes: onnx.bytes.length, opset: onnx.opset, input: onnx.input, output: onnx.output, probabilities,
      };
      io.stdout.write(values.json ? `${JSON.stringify(report)}\n` : format(report));
      return 0;
    } finally {
      net.dispose();
    }
  } finally {
    await rt.dispose();
  }
}

/** The package's version, for the model's producer_version (by the package's own name, as `simdnn --version` reads it). */
function packageVersion(): string {
  return (createRequire(import.meta.url)('simdnn/package.json') as { version: string }).version;
}

function format(r: ExportReport): string {
  const value = (v: OnnxValue) => `'${v.name}' float32 [${v.shape.join(', ')}]`;
  return `wrote ${r.out} (${r.bytes.toLocaleString('en-US')} bytes): ONNX opset ${r.opset}\n` +
    `  net     ${r.net}\n  input   ${value(r.input)}\n  output  ${value(r.output)} (${r.probabilities ? 'probabilities: softmax of the logits' : 'logits, as predict gives them'})\n`;
}

/** `simdnn export`. */
export const exportCommand: Command = {
  name: 'export',
  summary: 'write a model file as an ONNX model (for ONNX Runtime, TensorRT, …)',
  positionals: 'FILE OUT',
  description: 'Reads a model file (safetensors, from simdnn train --save) and writes its net as an\nONNX model with its weights to OUT: opset 13 (17 with layer normalization), float32,\nthe input named x and the output y, with a symbolic batch dimension N unless --batch\nfixes it. The output is the logits, as predict gives them, or with --probabilities\ntheir softmax. The model file\'s metadata (what simdnn train recorded) goes into the\nONNX model\'s metadata_props. OUT is written atomically (a temporary file renamed over it).',
  options: [
    { name: 'probabilities', help: 'end the graph with a Softmax: the output is the class probabilities' },
    { name: 'batch', value: 'n', help: 'fix the batch dimension to n (default: symbolic, N)' },
    { name: 'json', help: 'print one JSON object (out, bytes, opset, input, output) on stdout' },
  ],
  examples: ['simdnn export model.safetensors model.onnx', 'simdnn export digits.safetensors digits.onnx --probabilities --batch 1'],
  run: exportModel,
};
