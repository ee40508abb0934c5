// `simdnn info FILE`: what a model file holds, from its header alone.
import { readModelInfo } from '../model-file.js';
import { isNetTensor } from '../../io/model.js';
import { UsageError, type Command, type CommandContext } from './command.js';
import { describeNet } from './common.js';

async function info({ values, positionals, io }: CommandContext): Promise<number> {
  if (positionals.length !== 1) throw new UsageError(`expected one model file, got ${positionals.length}`);
  const file = positionals[0];
  const m = readModelInfo(file);
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ file, ...m, architecture: m.spec ? describeNet(m.spec) : null })}\n`);
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
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** `simdnn info`. */
export const infoCommand: Command = {
  name: 'info',
  summary: 'show a model file: architecture, parameter count, optimizer, metadata',
  positionals: 'FILE',
  description: 'Reads the header of a model file (safetensors) and prints its architecture,\nparameter count, tensors, saved optimizer and metadata.',
  options: [{ name: 'json', help: 'print one JSON object on stdout' }],
  examples: ['simdnn info model.safetensors'],
  run: info,
};
