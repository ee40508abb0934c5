// The built package as users import it (needs `npm run build`, which `npm ci`
// runs through `prepare`): package.json's exports point at files that exist,
// the Node entries (ES module and CommonJS, one copy of the core behind both:
// node.js re-exports node.cjs, which loads node.core.cjs through V8's code
// cache, test/code-cache.node.test.ts) export what src/node/index.ts does and
// run, and the portable bundle imports no Node built-in (browsers and edge
// runtimes load it). The core leaves the CLI out: a cold-start figure (issue 7). The search, the experiments, ONNX and CSV are subpaths
// (simdnn/search, simdnn/experiments, simdnn/onnx, simdnn/csv) that import the core bundle beside them
// rather than copy it, and the core bundles hold none: parsing them cost
// every cold start ~5 ms of CPU (issue 17), so the core bundle's size is bounded.
import { describe, it, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as source from '../src/node/index.js';
import * as searchSource from '../src/search/index.js';
import * as nodeSearchSource from '../src/node/search/index.js';
import * as experimentsSource from '../src/experiments/index.js';
import * as onnxSource from '../src/io/onnx/index.js';
import * as csvSource from '../src/data/csv/index.js';
import * as nodeCsvSource from '../src/node/csv/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
const built = (file: string) => {
  if (!existsSync(`${root}/${file}`)) throw new Error(`${file} is missing: run \`npm run build\``);
  return `${root}/${file}`;
};

/** Every file path named in package.json's exports, main, types and bin. */
function targets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(targets);
  return [];
}

describe('the built package', () => {
  it('package.json names only files the build made', () => {
    const files = [...targets(pkg.exports), pkg.main, pkg.types, ...targets(pkg.typesVersions), ...targets(pkg.bin)];
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) built(f);
    // each condition's own declarations: the ES module ones for import, for require .d.cts files declaring the same exports from them
    // (and for a bundler targeting Node, the `module` condition inside `import`: ES modules all the way)
    const node = (types: string, js: string) => ({
      import: { types: `./dist/${types}.d.ts`, module: `./dist/bundle/${js}.module.js`, default: `./dist/bundle/${js}.js` },
      require: { types: `./dist/${types}.d.cts`, default: `./dist/bundle/${js}.cjs` },
    });
    expect(pkg.exports['.']).toEqual({ node: node('node/index', 'node'), types: './dist/index.d.ts', default: './dist/bundle/index.js' });
    expect(pkg.exports['./node']).toEqual(node('node/index', 'node'));
    expect(pkg.exports['./search']).toEqual({ node: node('node/search/index', 'search.node'), types: './dist/search/index.d.ts', default: './dist/bundle/search.js' });
    expect(pkg.exports['./experiments']).toEqual({ node: node('experiments/index', 'experiments.node'), types: './dist/experiments/index.d.ts', default: './dist/bundle/experiments.js' });
    expect(pkg.exports['./onnx']).toEqual({ node: node('io/onnx/index', 'onnx.node'), types: './dist/io/onnx/index.d.ts', default: './dist/bundle/onnx.js' });
    expect(pkg.exports['./csv']).toEqual({ node: node('node/csv/index', 'csv.node'), types: './dist/data/csv/index.d.ts', default: './dist/bundle/csv.js' });
    // node10 resolution reads no exports: it gets what `require` in Node loads
    expect(pkg.types).toBe('./dist/node/index.d.cts');
    expect(pkg.typesVersions).toEqual({ '*': {
      node: ['./dist/node/index.d.cts'], search: ['./dist/node/search/index.d.cts'], experiments: ['./dist/experiments/index.d.cts'],
      onnx: ['./dist/io/onnx/index.d.cts'], csv: ['./dist/node/csv/index.d.cts'], 'wasm/*': ['./types/wasm.d.ts'],
    } });
    // each wasm build: its file, typed by the one declaration of what a bundler's import of it gives
    for (const build of ['simdnn', 'simdnn-relaxed', 'simdnn-shared', 'simdnn-relaxed-shared']) {
      expect(pkg.exports[`./wasm/${build}.wasm`], build).toEqual({ types: './types/wasm.d.ts', default: `./build/${build}.wasm` });
    }
  });

  it.each(['dist/bundle/node.js', 'dist/bundle/node.cjs', 'dist/bundle/node.module.js'])('the Node bundle %s exports what the source entry does and trains a step', async (file) => {
    const m = file.endsWith('.cjs') ? createRequire(import.meta.url)(built(file)) : await import(built(file));
    expect(Object.keys(m).sort()).toEqual(Object.keys(source).sort());
    const rt = await m.createRuntime({ seed: 1 });
    const net = new m.MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const x = rt.tensor([2, 4], [1, 2, 3, 4, 4, 3, 2, 1]);
    const before = net.loss(x, [0, 1]);
    new m.SGD({ lr: 0.05 }).update(net.params, net.gradient(x, [0, 1]));
    expect(net.loss(x, [0, 1])).toBeLessThan(before);
  });

  it.each([
    ['dist/bundle/search.node.js', nodeSearchSource], ['dist/bundle/search.node.cjs', nodeSearchSource], ['dist/bundle/search.node.module.js', nodeSearchSource], ['dist/bundle/search.js', searchSource],
    ['dist/bundle/experiments.node.js', experimentsSource], ['dist/bundle/experiments.node.cjs', experimentsSource], ['dist/bundle/experiments.node.module.js', experimentsSource], ['dist/bundle/experiments.js', experimentsSource],
    ['dist/bundle/onnx.node.js', onnxSource], ['dist/bundle/onnx.node.cjs', onnxSource], ['dist/bundle/onnx.node.module.js', onnxSource], ['dist/bundle/onnx.js', onnxSource],
    ['dist/bundle/csv.node.js', nodeCsvSource], ['dist/bundle/csv.node.cjs', nodeCsvSource], ['dist/bundle/csv.node.module.js', nodeCsvSource], ['dist/bundle/csv.js', csvSource],
  ])('the subpath bundle %s exports what its source entry does', async (file, entry) => {
    const m = file.endsWith('.cjs') ? createRequire(import.meta.url)(built(file)) : await import(built(file));
    expect(Object.keys(m).sort()).toEqual(Object.keys(entry).sort());
  });

  it('each subpath bundle imports the core bundle beside it (and the experiments the search beside them, the Node search the csv beside it), never a copy', () => {
    const imports = (file: string) => {
      const text = readFileSync(built(file), 'utf8');
      return [...text.matchAll(/^import .* from "(\.[^"]+)";$|require\("(\.[^"]+)"\)/gm)].map((m) => m[1] ?? m[2]);
    };
    // the Node search reads CSV tables through simdnn/csv's bundle; the portable one reads no files
    expect(imports('dist/bundle/search.node.js')).toEqual(['./node.js', './csv.node.js']);
    expect(imports('dist/bundle/search.node.cjs')).toEqual(['./node.cjs', './csv.node.cjs']);
    expect(imports('dist/bundle/search.node.module.js')).toEqual(['./node.module.js', './csv.node.module.js']);
    expect(imports('dist/bundle/experiments.node.module.js')).toEqual(['./node.module.js', './search.node.module.js']);
    expect(imports('dist/bundle/search.js')).toEqual(['./index.js']);
    expect(imports('dist/bundle/experiments.node.js')).toEqual(['./node.js', './search.node.js']);
    expect(imports('dist/bundle/experiments.node.cjs')).toEqual(['./node.cjs', './search.node.cjs']);
    expect(imports('dist/bundle/experiments.js')).toEqual(['./index.js', './search.js']);
    expect(imports('dist/bundle/onnx.node.js')).toEqual(['./node.js']);
    expect(imports('dist/bundle/onnx.node.cjs')).toEqual(['./node.cjs']);
    expect(imports('dist/bundle/onnx.node.module.js')).toEqual(['./node.module.js']);
    expect(imports('dist/bundle/onnx.js')).toEqual(['./index.js']);
    expect(imports('dist/bundle/csv.node.js')).toEqual(['./node.js']);
    expect(imports('dist/bundle/csv.node.cjs')).toEqual(['./node.cjs']);
    expect(imports('dist/bundle/csv.node.module.js')).toEqual(['./node.module.js']);
    expect(imports('dist/bundle/csv.js')).toEqual(['./index.js']);
    // the core's classes are defined once, in the core bundles
    for (const file of ['search.node.js', 'search.node.module.js', 'search.js', 'experiments.node.js', 'experiments.node.module.js', 'experiments.js', 'onnx.node.js', 'onnx.node.module.js', 'onnx.js',
      'csv.node.js', 'csv.node.module.js', 'csv.js']) {
      expect(readFileSync(built(`dist/bundle/${file}`), 'utf8'), file).not.toMatch(/\bclass (Runtime|Tensor|Trainer|MultiLayerNet)\b/);
      // nor the csv's reader, which the Node search imports
      if (file.startsWith('search')) expect(readFileSync(built(`dist/bundle/${file}`), 'utf8'), file).not.toMatch(/\bclass CsvError\b|function (parseTable|fitStandardizer)\b/);
    }
  });

  it('the core bundles hold neither the search, the experiments, ONNX nor CSV, and stay small', () => {
    // the Node entries only lead to the core: one names its exports, the other loads it
    for (const file of ['dist/bundle/node.js', 'dist/bundle/node.cjs']) expect(statSync(built(file)).size, file).toBeLessThan(8 * 1024);
    for (const file of ['dist/bundle/index.js', 'dist/bundle/node.core.cjs', 'dist/bundle/node.module.js']) {
      const text = readFileSync(built(file), 'utf8');
      for (const name of ['runExperiment', 'hyperparameterSearch', 'AshaScheduler', 'webWorkerExecutor', 'localExecutor', 'optimizerNaive', 'exportOnnx', 'importOnnx', 'OnnxError', 'parseCsv', 'loadCsv', 'CsvError', 'fitStandardizer']) expect(text, `${file}: ${name}`).not.toContain(name);
      // a ceiling under what the core would take with the experiments and the search (they add ~90 KiB):
      // the core bundles were 189–201 KiB when this was written, 241–251 KiB with the known answers and
      // the checks of session 43, 280–296 KiB with session 46's argument checks, 319–336 KiB with session 61's,
      // 332–352 KiB with session 64's (gradient clipping, early stopping's monitors), 382–403 KiB with
      // session 65's (label smoothing, five more schedules, mixup, the weights' moving average, the range test,
      // summaries, metrics), 413–434 KiB with session 66's (class weights, stochastic weight averaging, weighted
      // sampling; ONNX went to its own subpath, simdnn/onnx, 77 KiB), 421–441 KiB in session 67 (CSV tables went
      // to their own subpath, simdnn/csv, 30–32 KiB with its formatter, reader of features and split)
      expect(statSync(built(file)).size, file).toBeLessThan(450 * 1024);
    }
  });

  it('every bundle is ASCII (non-ASCII escaped): V8 keeps its source one byte a character, and a page served without a charset reads its messages right', () => {
    const files = readdirSync(path.join(root, 'dist/bundle')).filter((f) => /\.c?js$/.test(f));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const text = readFileSync(path.join(root, 'dist/bundle', f), 'latin1');
      expect(text.match(/[^\x00-\x7f]/g), f).toBeNull();
    }
    // escaped where the text had it: the core's messages write a filter's size as H×W
    expect(readFileSync(built('dist/bundle/node.core.cjs'), 'latin1')).toMatch(/\\u00d7/i);
  });

  it('simdnn/search, simdnn/experiments, simdnn/onnx and simdnn/csv resolve by name in Node, share the core with simdnn, and importing simdnn loads none', () => {
    // a child process in the package root, where the names resolve to the package itself
    const cjs = `
      const simdnn = require('simdnn');
      const loaded = () => Object.keys(require.cache).map((f) => f.replace(/^.*[\\\\/]/, '')).sort();
      const before = loaded();
      const search = require('simdnn/search');
      const experiments = require('simdnn/experiments');
      const onnx = require('simdnn/onnx');
      const csv = require('simdnn/csv');
      const after = loaded();
      // one core: a table loads on simdnn's runtime as simdnn's tensors
      simdnn.createRuntime({ threads: 1 }).then((rt) => {
        const set = csv.loadCsv(rt, 'a,b,label\\n1,2,x\\n3,4,y\\n', { label: 'label' });
        process.stdout.write(JSON.stringify({ before, after, core: 'runExperiment' in simdnn || 'hyperparameterSearch' in simdnn || 'exportOnnx' in simdnn || 'loadCsv' in simdnn,
          search: typeof search.localExecutor, experiments: experiments.experimentNames.length, onnx: typeof onnx.importOnnx,
          csv: set.x instanceof simdnn.Tensor && set.t instanceof simdnn.IntTensor && set.classNames.join() === 'x,y', csvFile: typeof csv.loadCsvFile }));
        return rt.dispose();
      });`;
    const esm = `
      const simdnn = await import('simdnn');
      const search = await import('simdnn/search');
      const experiments = await import('simdnn/experiments');
      const onnx = await import('simdnn/onnx');
      const csv = await import('simdnn/csv');
      // one core: a net of simdnn's classes exports, and the model imports as one of them; a table loads as simdnn's tensors
      const rt = await simdnn.createRuntime();
      const net = new simdnn.MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
      const back = onnx.importOnnx(rt, onnx.exportOnnx(net)).net;
      const set = csv.loadCsv(rt, 'a,b,label\\n1,2,x\\n3,4,y\\n', { label: 'label' });
      process.stdout.write(JSON.stringify({ core: 'runExperiment' in simdnn || 'hyperparameterSearch' in simdnn || 'exportOnnx' in simdnn || 'loadCsv' in simdnn,
        search: typeof search.localExecutor, experiments: experiments.experimentNames.length, onnx: back instanceof simdnn.Sequential,
        csv: set.x instanceof simdnn.Tensor && set.t instanceof simdnn.IntTensor && set.classNames.join() === 'x,y', csvFile: typeof csv.loadCsvFile }));
      await rt.dispose();`;
    const run = (args: string[]) => JSON.parse(execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 30_000 }));
    const c = run(['-e', cjs]);
    expect(c.before).toEqual(['node.cjs', 'node.core.cjs']);
    expect(c.after).toEqual(['csv.node.cjs', 'experiments.node.cjs', 'node.cjs', 'node.core.cjs', 'onnx.node.cjs', 'search.node.cjs']);
    expect(c).toMatchObject({ core: false, search: 'function', experiments: experimentsSource.experimentNames.length, onnx: 'function', csv: true, csvFile: 'function' });
    expect(run(['--input-type=module', '-e', esm])).toEqual({ core: false, search: 'function', experiments: experimentsSource.experimentNames.length, onnx: true, csv: true, csvFile: 'function' });
  });

  it('the ES module entry is the CommonJS one under its names (one copy for import and require), and the core holds no CLI', async () => {
    const text = readFileSync(built('dist/bundle/node.js'), 'utf8');
    const imports = [...text.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    expect(imports).toEqual(['node:module']);
    expect(text).toContain('createRequire(import.meta.url)("./node.cjs")');
    const esm = await import(built('dist/bundle/node.js'));
    const cjs = createRequire(import.meta.url)(built('dist/bundle/node.cjs'));
    for (const name of Object.keys(source)) expect(esm[name], name).toBe(cjs[name]);
    expect(readFileSync(built('dist/bundle/node.core.cjs'), 'utf8')).not.toContain('parseTrainArgs');
  });

  it('an object of another copy (the package loaded twice, e.g. two installs) is refused saying so, not "expected a Runtime, got a Runtime"', async () => {
    const esm = await import(path.join(root, 'dist/bundle/node.js')) as typeof source;
    // a second copy of the core: the first one out of require.cache, the file required again
    const require = createRequire(import.meta.url);
    const core = path.join(root, 'dist/bundle/node.core.cjs');
    const first = require.cache[core];
    delete require.cache[core];
    const cjs = require(core) as typeof source;
    if (first) require.cache[core] = first;
    expect(cjs.createRuntime).not.toBe(esm.createRuntime);
    const rt = await esm.createRuntime({ threads: 1 });
    const rtCjs = await cjs.createRuntime({ threads: 1 });
    const hint = /of another copy of simdnn \(the package is loaded twice, e\.g\. from two installs: use one\)/;
    expect(() => new cjs.MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 })).toThrow(new RegExp(`rt must be a Runtime \\(from createRuntime\\), got a Runtime ${hint.source}`));
    const net = new cjs.MultiLayerNet(rtCjs, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    expect(() => net.predict(rt.tensor([1, 4]))).toThrow(new RegExp(`expected a float32 Tensor, got a Tensor ${hint.source}|expected a Tensor, got a Tensor ${hint.source}`));
    expect(() => net.predict([1, 2, 3, 4] as never)).not.toThrow(hint); // anything else: no such hint
    // a Dataset, a Trainer and loadModel given the other copy's objects say so too
    const x = rtCjs.tensor([2, 4]), t = rtCjs.labels([2], [0, 1]);
    expect(() => new esm.Dataset(x as never, t as never)).toThrow(new RegExp(`^Dataset: x must be a Tensor, got a Tensor ${hint.source}`));
    const xe = rt.tensor([2, 4]), te = rt.labels([2], [0, 1]);
    expect(() => new esm.Trainer(net as never, xe, te, xe, te)).toThrow(new RegExp(`^Trainer: network must be a net .*got a MultiLayerNet ${hint.source}`));
    expect(() => esm.loadModel(rtCjs as never, esm.saveModel(new esm.MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 }))))
      .toThrow(new RegExp(`^loadModel: rt must be a Runtime \\(from createRuntime\\), got a Runtime ${hint.source}`));
    rt.dispose();
    rtCjs.dispose();
  });

  it('an app bundled for Node (esbuild, platform node) gets one copy of the core: ES modules all the way for imports (the `module` condition), the CommonJS entry for require, and runs', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'simdnn-node-bundle-'));
    try {
      mkdirSync(path.join(dir, 'node_modules'));
      symlinkSync(root, path.join(dir, 'node_modules', 'simdnn'));
      const wasm = JSON.stringify(path.join(root, 'build/simdnn.wasm'));
      const body = `
        const rt = await createRuntime({ wasm: readFileSync(${wasm}), threads: 1 });
        const net = new MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
        process.stdout.write(JSON.stringify({ loss: Number.isFinite(net.loss(rt.tensor([1, 4], [1, 2, 3, 4]), [1])), search: typeof localExecutor }));`;
      writeFileSync(path.join(dir, 'app.mjs'), `import { readFileSync } from 'node:fs';
        import { createRuntime, MultiLayerNet } from 'simdnn';
        import { localExecutor } from 'simdnn/search';
        ${body}`);
      writeFileSync(path.join(dir, 'app.cjs'), `const { readFileSync } = require('node:fs');
        const { createRuntime, MultiLayerNet } = require('simdnn');
        const { localExecutor } = require('simdnn/search');
        (async () => { ${body} })();`);
      for (const [app, format, out] of [['app.mjs', 'esm', 'out.mjs'], ['app.cjs', 'cjs', 'out.cjs']]) {
        const built = spawnSync(path.join(root, 'node_modules/.bin/esbuild'), [app, '--bundle', '--platform=node', `--format=${format}`, `--outfile=${out}`, '--log-level=error'], { cwd: dir, encoding: 'utf8' });
        expect(built.status, built.stderr).toBe(0);
        const text = readFileSync(path.join(dir, out), 'utf8');
        expect(text.match(/\bvar Runtime = class\b/g), out).toHaveLength(1);
        // the ES module build takes no loader; the CommonJS one takes the loader, which finds no core file beside the bundle
        expect(text.includes('function loadBundle('), out).toBe(format === 'cjs');
        const ran = spawnSync(process.execPath, [out], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
        expect(ran.status, ran.stderr).toBe(0);
        expect(JSON.parse(ran.stdout), out).toEqual({ loss: true, search: 'function' });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('simdnn/cli is the command line, importable by name', async () => {
    expect(pkg.exports['./cli']).toEqual({ types: './dist/node/cli/index.d.ts', default: './dist/node/cli/index.js' });
    const cli = await import('simdnn/cli');
    expect(typeof cli.main).toBe('function');
    expect(cli.parseTrainArgs(['--epochs', '2']).epochs).toBe(2);
  });

  it('the simdnn bin loads its commands as one bundle (through the code cache\'s loader), and a search its worker threads: Node loads 4 files for `simdnn --version` (with package.json; 122 modules before), 4 for a search', () => {
    // a module resolve hook (module.register) that names every file Node resolves
    const dir = mkdtempSync(path.join(root, '.types-check-bin-'));
    try {
      const hook = path.join(dir, 'hook.mjs');
      writeFileSync(hook, "export async function resolve(s, c, next) { const r = await next(s, c); if (r.url.startsWith('file:')) process.stderr.write(`RESOLVED ${r.url}\\n`); return r; }\n");
      const register = `data:text/javascript,import { register } from 'node:module'; register(${JSON.stringify(`file://${hook}`)});`;
      // CommonJS files (the commands' bundle and its loader) are in require.cache, which no resolve hook sees
      const listCommonJs = path.join(dir, 'list.cjs');
      writeFileSync(listCommonJs, "process.on('exit', () => { for (const f of Object.keys(require.cache)) if (f !== __filename) process.stderr.write(`RESOLVED file://${f}\\n`); });\n");
      // worker threads inherit --import and --require: the hook and the list see their modules too
      const resolved = (...args: string[]) => {
        const run = spawnSync(process.execPath, ['--import', register, '--require', listCommonJs, built(pkg.bin.simdnn), ...args], { encoding: 'utf8' });
        expect(run.status, run.stderr).toBe(0);
        return { stdout: run.stdout, files: [...new Set(run.stderr.split('\n').filter((l) => l.startsWith('RESOLVED ')).map((l) => path.relative(root, fileURLToPath(l.slice(9)))))].sort() };
      };
      const bin = pkg.bin.simdnn.replace(/^\.\//, '');
      const version = resolved('--version');
      expect(version.stdout.trim()).toBe(pkg.version);
      expect(version.files).toEqual(['dist/bundle/cli.cjs', bin, 'dist/node/code-cache.cjs', 'package.json']);
      const search = resolved('search', '--trials', '2', '--epochs', '1', '--rows', '200', '--workers', '1', '--out', path.join(dir, 'study.jsonl'));
      expect(search.stdout).toMatch(/2 trials \(0 failed\), 2 epochs trained/);
      expect(search.files).toEqual(['dist/bundle/cli.cjs', 'dist/bundle/trial-worker.js', bin, 'dist/node/code-cache.cjs']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(['dist/bundle/index.js', 'dist/bundle/search.js', 'dist/bundle/experiments.js', 'dist/bundle/onnx.js', 'dist/bundle/csv.js'])('the portable bundle %s imports no Node built-in', (file) => {
    const text = readFileSync(built(file), 'utf8');
    expect(text.match(/\bfrom\s+["']node:[^"']+["']|import\(\s*["']node:[^"']+["']\s*\)|require\(\s*["'](node:)?(fs|path|os|worker_threads|zlib)["']\s*\)/g)).toBeNull();
    expect(text).toMatch(/createRuntime|runExperiment|importOnnx|loadCsv/);
    // nor simdnn/csv's Node-only loader
    expect(text).not.toContain('loadCsvFile');
  });
});

describe('the package\'s types, as a TypeScript user resolves them (tsc --strict on the built .d.ts)', () => {
  /** `then` on a scratch directory inside the package holding `files` and their tsconfig.json (tsc --strict with `options`); removed after. */
  function inScratch<T>(files: Record<string, string>, options: Record<string, unknown>, then: (dir: string) => T): T {
    const dir = mkdtempSync(path.join(root, '.types-check-'));
    try {
      for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
      writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { strict: true, target: 'es2022', skipLibCheck: false, types: ['node'], ...options },
        files: Object.keys(files),
      }));
      return then(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** tsc's errors in `dir` ('' when none). */
  const tsc = (dir: string) => {
    try {
      execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
      return '';
    } catch (e) {
      return (e as { stdout: string }).stdout;
    }
  };

  /** tsc's output on `files` in a scratch directory inside the package (so 'simdnn' resolves to it), with `options`. */
  const typeCheck = (files: Record<string, string>, options: Record<string, string>) => inScratch(files, { noEmit: true, ...options }, tsc);

  /**
   * A CommonJS project of its own ("type": "commonjs", the package installed in its node_modules) holding
   * `files`, compiled with `options` to out/ (tsc emits despite type errors): tsc's errors and what out/main.js prints.
   */
  const commonjsConsumer = (files: Record<string, string>, options: Record<string, string>) => inScratch(files, { outDir: 'out', ...options }, (dir) => {
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'commonjs' }));
    mkdirSync(path.join(dir, 'node_modules'));
    symlinkSync(root, path.join(dir, 'node_modules', 'simdnn'), 'dir');
    const errors = tsc(dir);
    return { errors, printed: execFileSync(process.execPath, [path.join(dir, 'out', 'main.js')], { cwd: dir, encoding: 'utf8', timeout: 30_000 }) };
  });

  /** README's code block after `heading`. */
  const readmeBlock = (heading: string) => {
    const text = readFileSync(`${root}/README.md`, 'utf8');
    return text.slice(text.indexOf(heading)).match(/```ts\n([\s\S]*?)```/)![1];
  };

  it('in Node (nodenext): README\'s library example and every subpath check; Node-only names come from \'simdnn\' too', () => {
    const out = typeCheck({
      'readme.ts': `${readmeBlock('## The library')}\nexport {};\n`,
      'readme-models.ts': `${readmeBlock('## Model files')}\nexport {};\n`,
      'subpaths.ts': [
        "import { readModelFile, loadIdx } from 'simdnn/node';",
        "import { localExecutor, hyperparameterSearch } from 'simdnn/search';",
        "import { runExperiment } from 'simdnn/experiments';",
        "import { main } from 'simdnn/cli';",
        "import { createRuntime } from 'simdnn';",
        "import { loadCsv, loadCsvFile, CsvError, type CsvDataSet } from 'simdnn/csv';",
        "export const loadTable: (file: string) => Promise<CsvDataSet> = (file) => createRuntime().then((rt) => loadCsvFile(rt, file, { label: 'species' }));",
        'export const used = [readModelFile, loadIdx, localExecutor, hyperparameterSearch, runExperiment, main, loadCsv, CsvError];',
      ].join('\n'),
      // the types public signatures name, each nameable by a user (they were reachable only through Parameters<…>)
      'named.ts': [
        "import type { KernelName, PartArgs, SpawnOptions, View, Activation, SampleNormalization, IntervalOption, SavedTensor } from 'simdnn';",
        "import type { SearchChartOptions } from 'simdnn/search';",
        "export type Named = [KernelName, PartArgs<'axpy'>, SpawnOptions, View<Float32Array>, Activation, SampleNormalization, IntervalOption, SavedTensor, SearchChartOptions];",
      ].join('\n'),
    }, { module: 'nodenext', moduleResolution: 'nodenext' });
    expect(out).toBe('');
  });

  it('for a bundler (no node condition): the portable core, where a Node-only name is an error', () => {
    const out = typeCheck({
      'portable.ts': "import { createRuntime, MultiLayerNet } from 'simdnn';\nimport { loadCsv, CsvError } from 'simdnn/csv';\nexport const used = [createRuntime, MultiLayerNet, loadCsv, CsvError];\n",
      'nodeOnly.ts': "import { loadMnist } from 'simdnn';\nexport const used = loadMnist;\n",
      'csvNodeOnly.ts': "import { loadCsvFile } from 'simdnn/csv';\nexport const used = loadCsvFile;\n",
    }, { module: 'esnext', moduleResolution: 'bundler' });
    // (tsc lists its errors by file name)
    expect(out.trim().split('\n')).toEqual([
      expect.stringMatching(/csvNodeOnly\.ts\(1,10\): error TS2305: Module '"simdnn\/csv"' has no exported member 'loadCsvFile'\./),
      expect.stringMatching(/nodeOnly\.ts\(1,10\): error TS2305: Module '"simdnn"' has no exported member 'loadMnist'\./),
    ]);
  });

  it('the wasm builds\' subpaths (simdnn/wasm/*.wasm) are typed: a compiled module or the emitted file\'s URL, both of which createRuntime takes', () => {
    const files = {
      'wasm.ts': [
        "import { createRuntime } from 'simdnn';",
        "import plain from 'simdnn/wasm/simdnn.wasm';",
        "import relaxed from 'simdnn/wasm/simdnn-relaxed.wasm';",
        "import shared from 'simdnn/wasm/simdnn-shared.wasm';",
        "import relaxedShared from 'simdnn/wasm/simdnn-relaxed-shared.wasm';",
        'export const rt = createRuntime({ wasm: plain, relaxedWasm: relaxed, sharedWasm: shared, relaxedSharedWasm: relaxedShared });',
        "export const url = typeof plain === 'string' ? new URL(plain, 'https://example.com/') : new WebAssembly.Instance(plain, {});",
        // the declaration is read, not taken as any
        'export const wrong: number = plain;',
      ].join('\n'),
    };
    // tsc's first line of each error (the rest are its elaboration)
    const errors = (out: string) => out.split('\n').filter((l) => /error TS\d+/.test(l));
    const wrongOnly = [expect.stringMatching(/\bwasm\.ts\(8,\d+\): error TS2322: Type 'string \| Module' is not assignable to type 'number'/)];
    expect(errors(typeCheck(files, { module: 'esnext', moduleResolution: 'bundler' })), 'bundler').toEqual(wrongOnly);
    expect(errors(typeCheck(files, { module: 'nodenext', moduleResolution: 'nodenext' })), 'nodenext').toEqual(wrongOnly);
    // node10 reads no exports: typesVersions gives the same declaration (the package installed in the project's node_modules)
    const node10 = inScratch(files, { noEmit: true, module: 'commonjs', moduleResolution: 'node10' }, (dir) => {
      mkdirSync(path.join(dir, 'node_modules'));
      symlinkSync(root, path.join(dir, 'node_modules', 'simdnn'), 'dir');
      return tsc(dir);
    });
    expect(errors(node10), 'node10').toEqual(wrongOnly);
  });

  // README's library example (its top-level await is an ES module's: here in an async function, not run, as
  // it reads MNIST), a Node-only name from each Node subpath, and a small run of the emitted CommonJS
  const readme = () => {
    const [importLine, ...body] = readmeBlock('## The library').trim().split('\n');
    return `${importLine}\nexport async function readme(): Promise<void> {\n${body.join('\n')}\n}\n`;
  };
  const main = [
    "import { createRuntime, Relu, loadMnist, Trainer } from 'simdnn';",
    "import { readModelFile } from 'simdnn/node';",
    "import { localExecutor, hyperparameterSearch } from 'simdnn/search';",
    "import { runExperiment, experimentNames } from 'simdnn/experiments';",
    "import { loadCsv, loadCsvFile, CsvError } from 'simdnn/csv';",
    'async function main(): Promise<void> {',
    '  const rt = await createRuntime({ seed: 1 });',
    '  const y = new Relu().forward(rt.tensor([2, 2], [-1, 2, -3, 4]));',
    '  const names: readonly string[] = experimentNames;',
    '  const kinds = [loadMnist, Trainer, readModelFile, localExecutor, hyperparameterSearch, runExperiment, loadCsvFile].map((f) => typeof f);',
    "  const table = loadCsv(rt, 'a,label\\n1.5,x\\n2,y\\n', { label: 'label' });",
    '  let badLine: number | undefined;',
    '  try {',
    "    loadCsv(rt, 'a,label\\n1,x\\n,y\\n', { label: 'label' });",
    '  } catch (e) {',
    '    if (e instanceof CsvError) badLine = e.line;',
    '  }',
    '  const csv = { x: Array.from(table.x.toArray()), classes: table.classNames, badLine };',
    '  console.log(JSON.stringify({ y: Array.from(y.toArray()), shape: y.shape, kinds, experiments: names.length, csv }));',
    '}',
    'void main();',
  ].join('\n');
  const ran = { y: [0, 2, 0, 4], shape: [2, 2], kinds: Array(7).fill('function'), experiments: experimentsSource.experimentNames.length, csv: { x: [1.5, 2], classes: ['x', 'y'], badLine: 3 } };

  it.each([
    ['node16 ("type": "commonjs")', { module: 'node16', moduleResolution: 'node16' }],
    ['node10 (module: commonjs)', { module: 'commonjs', moduleResolution: 'node10' }],
  ])('in a CommonJS project, %s: README\'s example and the subpaths check against the .d.cts, and the compiled require() runs', (_, options) => {
    const { errors, printed } = commonjsConsumer({
      'readme.ts': readme(),
      'main.ts': main,
      // the declarations are read, not taken as any: a wrong type is an error
      'wrong.ts': "import { createRuntime } from 'simdnn';\nimport { experimentNames } from 'simdnn/experiments';\n" +
        "export const seeded = createRuntime({ seed: 'one' });\nexport const n: string = experimentNames.length;\n",
    }, options);
    expect(errors.trim().split('\n')).toEqual([
      expect.stringMatching(/\bwrong\.ts\(3,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/),
      expect.stringMatching(/\bwrong\.ts\(4,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/),
    ]);
    expect(JSON.parse(printed)).toEqual(ran);
  });
});
