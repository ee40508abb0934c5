// The public types as a TypeScript user meets them (tsc --strict, nodenext, lib dom, on the BUILT
// declarations in dist/: needs `npm run build:ts`): names and option objects are checked, so a typo
// the library would throw on at once does not compile; bytes the library makes are typed on an
// ArrayBuffer, so they are a BlobPart and a fetch body as they are; documented usage compiles; and a
// program of CommonJS and ES module files has one Runtime class (the .d.cts declare the .d.ts's exports
// from them). One tsc program for all (test/package.node.test.ts checks node16, node10 and bundler).
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { experimentNames } from '../src/experiments/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Each a statement the library refuses at run time (TypeError at once), that must not compile either,
 * with the error tsc gives. Written twice into the program: after `// @ts-expect-error` (an unused one
 * is an error: the file fails if the typo compiles) and bare (its error must be the one named).
 */
const TYPOS: ReadonlyArray<readonly [string, string]> = [
  ["new Trainer(net, x, t, x, t, { optimizer: 'adma' });", 'TS2322'],
  ["new Trainer(net, x, t, x, t, { optimizer: 'adam', optimizerParams: { learningRate: 0.1 } });", 'TS2353'],
  ['new Trainer(net, x, t, x, t, { optimizerParams: { learningRate: 0.1 } });', 'TS2353'],
  // another optimizer's key: the Trainer's optimizerParams are the named one's, as createOptimizer's
  ["new Trainer(net, x, t, x, t, { optimizer: 'sgd', optimizerParams: { momentum: 0.9 } });", 'TS2353'],
  ["new Trainer(net, x, t, x, t, { optimizer: 'adam', optimizerParams: { rho: 0.9 } });", 'TS2353'],
  ['new Trainer(net, x, t, x, t, { optimizerParams: { beta1: 0.9 } });', 'TS2345'], // the default, sgd, has no beta1
  ["createOptimizer('adma');", 'TS2345'],
  ["createOptimizer('adam', { learningRate: 0.1 });", 'TS2353'],
  ["createOptimizer('sgd', { momentum: 0.9 });", 'TS2353'],
  ["createSchedule('cosin', { tMax: 20 });", 'TS2345'],
  ["createSchedule('cosine', { tmax: 20 });", 'TS2561'], // "Did you mean to write 'tMax'?"
  ["createSchedule('cosine', [20]);", 'TS2345'],
  ["createSchedule('cosine');", 'TS2345'], // tMax has no default
  ["void runExperiment('overfitt', { rt });", 'TS2345'],
  ['saveModel(new Sequential(rt, [new Relu()]));', 'TS2345'],
  ['saveModelChunks(new Sequential(rt, [new Relu()]));', 'TS2345'],
  ["void writeModelFile('model.safetensors', new Sequential(rt, [new Relu()]));", 'TS2345'],
  ['void hyperparameterSearch({ space: { lrr: logUniform(1e-6, 1e-2) }, trials: 2, epochs: 1, data: BOOK_SEARCH_DATA });', 'TS2353'],
];

const HEADER = [
  "import { createRuntime, createOptimizer, createSchedule, saveModel, saveModelChunks, MultiLayerNet, Relu, Sequential, Trainer } from 'simdnn';",
  "import { writeModelFile } from 'simdnn/node';",
  "import { hyperparameterSearch, logUniform, BOOK_SEARCH_DATA } from 'simdnn/search';",
  "import { runExperiment } from 'simdnn/experiments';",
  'const rt = await createRuntime();',
  'const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });',
  'const x = rt.tensor([2, 4]), t = rt.labels([2], [0, 1]);',
];

/** What the README and the doc comments show: it must compile as it is (never run: it fetches and writes). */
const VALID = `
import {
  createRuntime, createOptimizer, createSchedule, optimizerNames, saveModel, saveModelChunks, buildNet, encodeIdx, float32Bytes,
  Affine, Relu, Sequential, MultiLayerNet, Trainer, SGD, Adam, LinearLR, CosineAnnealingLR, SequentialLR,
  type OptimizerName, type ScheduleName, type ScheduleOptionsMap, type TrainerOptions,
} from 'simdnn';
import { writeModelFile, writeFileAtomic } from 'simdnn/node';
import { hyperparameterSearch, logUniform, choice, BOOK_SEARCH_DATA, type SearchSpace } from 'simdnn/search';
import { runExperiment, experimentNames, type ExperimentName } from 'simdnn/experiments';

const rt = await createRuntime({ seed: 1 });
const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
const x = rt.tensor([2, 4]), t = rt.labels([2], [0, 1]);

// bytes the library makes: a BlobPart, a fetch body, as they are
const bytes: Uint8Array<ArrayBuffer> = saveModel(net);
export const blob = new Blob([saveModel(net)]);
await fetch('https://example.invalid/model.safetensors', { method: 'PUT', body: bytes });
export const pieces = new Blob([...saveModelChunks(net, { chunkBytes: 1 << 20 })]);
export const idx = new Blob([encodeIdx([2], new Uint8Array(2))]);
export const copied = new Blob([float32Bytes(x.data.slice())]);
export const view: Uint8Array = float32Bytes(x.data); // a view of the runtime's memory: no narrower claim

// optimizers and schedules by name, with their own options
const trainer = new Trainer(net, x, t, x, t, {
  epochs: 2, optimizer: 'adam', optimizerParams: { lr: 0.001, beta1: 0.9 },
  lrSchedule: createSchedule('cosine', { tMax: 20, etaMin: 0 }),
  checkpoint: { every: 1, write: (b, epoch) => writeFileAtomic(\`ckpt-\${epoch}.safetensors\`, new Uint8Array(new Blob([b]).size)) },
});
export const checkpoint = new Blob([trainer.checkpointBytes()]);
const chosen: OptimizerName = optimizerNames[0];
const options: TrainerOptions = { optimizer: chosen, optimizerParams: { lr: 0.1 } }; // a name in a variable
new Trainer(net, x, t, x, t, options).dispose();
new Trainer(net, x, t, x, t, { optimizer: new SGD({ lr: 0.1 }) }).dispose();
createOptimizer('adamw', { weightDecay: 0.01 }).dispose();
createOptimizer('ADAM' as OptimizerName).dispose(); // other casings work at run time
new Adam().dispose();
const warm = createSchedule('linear');
createSchedule('plateau');
createSchedule('plateau', { patience: 3, mode: 'max' });
createSchedule('step', { stepSize: 1, gamma: 0.9 });
createSchedule('multistep', { milestones: [10, 20] });
const parsed = { name: 'cosine', options: { tMax: 5 } } as { name: ScheduleName; options: ScheduleOptionsMap[ScheduleName] };
createSchedule(parsed.name, parsed.options);
new SequentialLR({ schedulers: [warm, new LinearLR(), new CosineAnnealingLR({ tMax: 10 })], milestones: [5, 10] });

// model files take named nets: the built ones and buildNet's
await writeModelFile('model.safetensors', buildNet(rt, net.spec));
await writeModelFile('model.safetensors', net, { metadata: { note: 'first try' } });
// a plain Sequential still trains (its checkpoints are JSON)
const W = rt.tensor([4, 2]), b = rt.tensor([2]);
const plain = new Sequential(rt, [new Affine(W, b), new Relu()]);
new Trainer(plain, x, t, x, t, { optimizer: 'sgd' }).dispose();

// the search's space names trial settings and optimizer parameters
const space: SearchSpace = { lr: logUniform(1e-6, 1e-2), weightDecay: logUniform(1e-8, 1e-4), optimizer: choice(['sgd', 'momentum']), momentum: 0.9, hidden: [100, 100] };
await hyperparameterSearch({ space, trials: 2, epochs: 1, data: BOOK_SEARCH_DATA });

// the experiments by name; the union lists every one (a missing or extra key here is an error)
await runExperiment('overfit', { rt, quick: true });
const every: Record<ExperimentName, true> = {
${experimentNames.map((n) => `  '${n}': true,`).join('\n')}
};
export const names: readonly ExperimentName[] = experimentNames;
export const listed = Object.keys(every).length;
`;

/**
 * A program of CommonJS (.cts) and ES module (.mts) files: the .cts gets the `require` condition's
 * declarations (.d.cts), the .mts the `import` one's (.d.ts), and a Runtime, a net or a Tensor passes
 * from one to the other as at run time, where both load one copy of the core.
 */
const MIXED = {
  'make-net.cts': `
import { type Runtime, type Tensor, MultiLayerNet, Sequential, ElementwiseOptimizer, createOptimizer, saveModel, Dataset, type NamedNet } from 'simdnn';
import { runExperiment, type ExperimentName } from 'simdnn/experiments';
import { logUniform, type SearchSpace } from 'simdnn/search';
export function makeNet(rt: Runtime): MultiLayerNet {
  return new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
}
export function rows(x: Tensor): number { return x.shape[0]; }
export function named(net: Sequential): NamedNet | null { return net instanceof MultiLayerNet ? net : null; }
export const bytes = (net: NamedNet): Blob => new Blob([saveModel(net)]);
export const adam: ElementwiseOptimizer = createOptimizer('adam', { lr: 0.01 });
export const space: SearchSpace = { lr: logUniform(1e-4, 1e-1) };
export const run = (rt: Runtime, name: ExperimentName) => runExperiment(name, { rt, quick: true });
export const set = (x: Tensor) => new Dataset(x, x);
// @ts-expect-error a typo fails here too
createOptimizer('adma');
`,
  'use-net.mts': `
import { createRuntime, Runtime, Tensor, MultiLayerNet, type ElementwiseOptimizer } from 'simdnn';
import { makeNet, rows, named, adam, set } from './make-net.cjs';
const rt: Runtime = await createRuntime();
const net: MultiLayerNet = makeNet(rt);
const x: Tensor = rt.tensor([2, 4]);
export const n = rows(x) + (named(net) === null ? 0 : 1) + set(x).length;
export const optimizer: ElementwiseOptimizer = adam;
export const same = rt instanceof Runtime && x instanceof Tensor;
`,
};

describe('the public types (tsc --strict, nodenext, lib dom, on dist/)', () => {
  it('refuses each typo the library would throw on, with the expected error, and compiles documented usage and a .cts/.mts mix', () => {
    for (const f of ['dist/node/index.d.ts', 'dist/node/search/index.d.ts', 'dist/experiments/index.d.ts']) {
      if (!existsSync(path.join(root, f))) throw new Error(`${f} is missing: run \`npm run build:ts\``);
    }
    // a scratch directory inside the package, so 'simdnn' resolves to it by its own name
    const dir = mkdtempSync(path.join(root, '.types-check-public-'));
    try {
      const lines = (withDirective: boolean) => TYPOS.flatMap(([code]) => (withDirective ? ['// @ts-expect-error', code] : [code]));
      const files: Record<string, string> = {
        'valid.ts': VALID,
        'typos.ts': [...HEADER, ...lines(true), 'export {};', ''].join('\n'),
        'typo-codes.ts': [...HEADER, ...lines(false), 'export {};', ''].join('\n'),
        ...MIXED,
      };
      for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
      writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: {
          strict: true, noEmit: true, target: 'es2022', lib: ['es2022', 'dom'], types: ['node'], skipLibCheck: false,
          module: 'nodenext', moduleResolution: 'nodenext',
        },
        files: Object.keys(files),
      }));
      let out = '';
      try {
        execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
      } catch (e) {
        out = (e as { stdout: string }).stdout;
      }
      // tsc's first line of each error (the rest are its elaboration): file, line, code
      const errors = [...out.matchAll(/^(?:.*[\\/])?([\w.-]+\.[cm]?ts)\((\d+),\d+\): error (TS\d+)/gm)].map(([, file, line, code]) => ({ file, line: Number(line), code }));
      expect(errors.length, out).toBeGreaterThan(0);
      expect(errors.length, `every error read: ${out}`).toBe(out.match(/error TS\d+/g)!.length);
      // valid.ts and the CommonJS/ES module pair compile, and no @ts-expect-error is unused: every error is typo-codes.ts'
      expect(errors.filter((e) => e.file !== 'typo-codes.ts'), out).toEqual([]);
      // each typo is an error there (on its line: after the header), the one named
      const byLine = TYPOS.map(([code, expected], i) => ({ code, expected, got: errors.filter((e) => e.line === HEADER.length + 1 + i).map((e) => e.code) }));
      for (const { code, expected, got } of byLine) expect(got, code).toContain(expected);
      expect(errors.every((e) => e.line > HEADER.length && e.line <= HEADER.length + TYPOS.length), out).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
