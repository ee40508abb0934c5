// `simdnn info FILE|URL`: what a model file holds, from its header alone (of a
// URL, only the header is downloaded), and a summary of its net's layers
// computed from the architecture the header records, without building the net.
import { isNetTensor, type ModelInfo } from '../../io/model.js';
import { netSummary } from '../../nets/registry.js';
import { formatSummary } from '../../nets/summary.js';
import { interrupted, UsageError, type Command, type CommandContext } from './command.js';
import { checkModelFile, describeNet, isModelUrl, READ_TIMEOUT_OPTION, readHeaderOf, readTimeoutS } from './common.js';

async function info({ values, positionals, io, signal }: CommandContext): Promise<number> {
  if (positionals.length !== 1) throw new UsageError(`expected one model file, got ${positionals.length}`);
  const file = positionals[0];
  const timeoutS = readTimeoutS(values['read-timeout']);
  if (!isModelUrl(file)) await checkModelFile('info FILE', file);
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
    io.stdout.write(`${JSON.stringify({ file, ...m, architecture: m.spec ? describeNet(m.spec) : null, summary })}\n`);
    return 0;
  }
  const lines = [
    `file          ${file} (${m.fileBytes.toLocaleString('en-US')} bytes)`,
    `architecture  ${m.spec ? describeNet(m.spec) : 'none recorded (not written by simdnn)'}`,
    ...(m.spec ? [`spec          ${JSON.stringify(m.spec)}`] : []),
    `parameters    ${m.parameterCount.toLocaleString('en-US')} in ${m.tensors.filter((t) => isNetTensor(t.name)).length} tensors`,
    `optimizer     ${m.optimizer ? `${m.optimizer.name} ${Object.entries(m.optimizer.options).map(([k, v]) => `${k} ${v}`).join(' ')}, ${m.optimizer.t} steps` : 'none saved'}`,
    'tensors',
    ...m.tensors.map((t) => `  ${t.name.padEnd(22)} ${t.dtype.padEnd(5)} [${t.shape.join(', ')}]`),
    'metadata',
    ...Object.entries(m.metadata).filter(([k]) => k !== 'simdnn.net' && k !== 'simdnn.optimizer').map(([k, v]) => `  ${k}: ${v.length > 200 ? `${v.slice(0, 200)}… (${v.length} characters)` : v}`),
    ...(summary ? ['summary', ...formatSummary(summary).split('\n').map((l) => `  ${l}`)] : []),
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** `simdnn info`. */
export const infoCommand: Command = {
  name: 'info',
  summary: 'show a model file: architecture, parameter count, optimizer, metadata',
  positionals: 'FILE|URL',
  description: 'Reads the header of a model file (safetensors) and prints its architecture,\nparameter count, tensors, saved optimizer and metadata, and a summary of the\nnet\'s layers (output shapes, parameters), computed from the architecture\nwithout building the net. Of an http(s) URL, only the header is downloaded.',
  options: [{ name: 'json', help: 'print one JSON object on stdout' }, READ_TIMEOUT_OPTION],
  examples: ['simdnn info model.safetensors', 'simdnn info https://example.com/models/digits.safetensors'],
  run: info,
};
