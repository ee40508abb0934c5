// The built package as users import it (needs `npm run build`, which `npm ci`
// runs through `prepare`): package.json's exports point at files that exist,
// the Node bundles (ES module and CommonJS) export what src/node/index.ts does
// and run, and the portable bundle imports no Node built-in (browsers and edge
// runtimes load it). The ES module bundle imports builtins only through
// require (src/node/builtins.ts) and leaves the CLI out: both are cold-start
// figures (issue 7).
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as source from '../src/node/index.js';

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
    const files = [...targets(pkg.exports), pkg.main, pkg.types, ...targets(pkg.bin)];
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) built(f);
    expect(pkg.exports['.'].node).toEqual({ import: './dist/bundle/node.js', require: './dist/bundle/node.cjs' });
    expect(pkg.exports['.'].default).toBe('./dist/bundle/index.js');
  });

  it.each(['dist/bundle/node.js', 'dist/bundle/node.cjs'])('the Node bundle %s exports what the source entry does and trains a step', async (file) => {
    const m = file.endsWith('.cjs') ? createRequire(import.meta.url)(built(file)) : await import(built(file));
    expect(Object.keys(m).sort()).toEqual(Object.keys(source).sort());
    const rt = await m.createRuntime({ seed: 1 });
    const net = new m.MultiLayerNet(rt, { inputSize: 4, hiddenSizeList: [3], outputSize: 2 });
    const x = rt.tensor([2, 4], [1, 2, 3, 4, 4, 3, 2, 1]);
    const before = net.loss(x, [0, 1]);
    new m.SGD({ lr: 0.05 }).update(net.params, net.gradient(x, [0, 1]));
    expect(net.loss(x, [0, 1])).toBeLessThan(before);
  });

  it('the ES module bundle imports no builtin but node:module statically, and no CLI', () => {
    const text = readFileSync(built('dist/bundle/node.js'), 'utf8');
    const imports = [...text.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    expect(imports).toEqual(['node:module']);
    expect(text).not.toContain('parseTrainArgs');
  });

  it('simdnn/cli is the command line, importable by name', async () => {
    expect(pkg.exports['./cli']).toEqual({ types: './dist/node/cli/index.d.ts', default: './dist/node/cli/index.js' });
    const cli = await import('simdnn/cli');
    expect(typeof cli.main).toBe('function');
    expect(cli.parseTrainArgs(['--epochs', '2']).epochs).toBe(2);
  });

  it('the portable bundle imports no Node built-in', () => {
    const text = readFileSync(built('dist/bundle/index.js'), 'utf8');
    expect(text.match(/\bfrom\s+["']node:[^"']+["']|import\(\s*["']node:[^"']+["']\s*\)|require\(\s*["'](node:)?(fs|path|os|worker_threads|zlib)["']\s*\)/g)).toBeNull();
    expect(text).toContain('createRuntime');
  });
});
