// Bundles the compiled entry points (dist/, from tsc) into one file each:
//   dist/bundle/node.core.cjs  the Node entry (src/node/index.ts) as CommonJS
//   dist/bundle/node.cjs       `require('simdnn')`: loads node.core.cjs through
//                              V8's code cache (src/node/code-cache.cts)
//   dist/bundle/node.js        `import 'simdnn'` in Node: node.cjs's exports
//                              under their names (written here), so import and
//                              require share one copy and one code cache
//   dist/bundle/node.module.js the Node entry as ES modules, for bundlers that
//                              target Node (package.json's `module` condition,
//                              which Node itself ignores)
//   dist/bundle/index.js       the portable entry (browsers, edge runtimes, bundlers)
// and the subpath entries, each in the same four forms:
//   dist/bundle/search{.node.js,.node.cjs,.node.module.js,.js}       simdnn/search
//                                         (in Node with the worker-thread executor)
//   dist/bundle/experiments{.node.js,.node.cjs,.node.module.js,.js}  simdnn/experiments
//   dist/bundle/onnx{.node.js,.node.cjs,.node.module.js,.js}         simdnn/onnx
//   dist/bundle/csv{.node.js,.node.cjs,.node.module.js,.js}          simdnn/csv
//                                         (in Node with loadCsvFile)
// and two Node applications, whole (each its own copy of the core):
//   dist/bundle/cli.cjs          the `simdnn` bin's commands (which the bin runs through
//                                V8's code cache, as node.cjs runs the core)
//   dist/bundle/trial-worker.js  a search's worker thread
// One file instead of ~55 takes ~25 ms off a cold start in Node (every ES
// module is resolved, read and linked on its own), and `require` skips Node's
// ES module loader (npm run bench -- startup). The experiments, the search, ONNX and CSV
// are subpaths because V8 scans every byte of a bundle it loads: in the core
// they cost every `require('simdnn')` ~5 ms of CPU (issue 17).
// A subpath bundle does not carry its own copy of the core: its imports of
// the core's entry (src/index.ts, src/node/index.ts) become imports of the
// core bundle beside it (./node.js, ./node.cjs, ./node.module.js or ./index.js), so a program
// that imports both shares one Runtime, one Tensor class. Likewise the
// experiments import the search bundle, and the Node search the csv bundle. The build fails if
// a subpath bundle takes in any other module of the core (only the stateless
// helpers in SHAREABLE may be copied).
// The bundles sit two levels below the package root, as src/runtime/runtime.ts
// does, so its `new URL('../../build/simdnn.wasm', import.meta.url)` still
// finds the wasm.
// Declarations stay in dist/ (types resolve through package.json). tsc's
// .d.ts are ES module declarations (the package is "type": "module"), which a
// CommonJS TypeScript project may not `require` (TS1479 under node16/node18).
// Each entry package.json's `require` conditions name gets a .d.cts that
// declares the same exports from the ES module declarations themselves (a type-only
// import with resolution-mode 'import', which node16, nodenext and node10
// resolution accept in CommonJS), so a program of .cts and .mts files sees one
// Runtime, one Tensor class, as it gets one at run time: twins of the .d.ts
// were separate declarations, and a Runtime from an .mts was no Runtime to a
// .cts ("separate declarations of a private property").
import { build } from 'rolldown';
import ts from 'typescript';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = (p) => path.join(root, 'dist', p);

/** Core modules a subpath bundle may copy: no state, nothing a caller can tell apart. */
const SHAREABLE = ['runtime/source.js', 'runtime/exact-math.js', 'node/builtins.js'].map(dist);

/** The four forms of an entry: Node ES module, Node CommonJS, ES module for a bundler targeting Node, portable ES module. */
const forms = (name, portableInput, nodeInput = portableInput) => [
  { input: nodeInput, file: `${name}.node.js`, platform: 'node', format: 'esm', core: './node.js', ext: '.node.js' },
  { input: nodeInput, file: `${name}.node.cjs`, platform: 'node', format: 'cjs', core: './node.cjs', ext: '.node.cjs' },
  { input: nodeInput, file: `${name}.node.module.js`, platform: 'node', format: 'esm', core: './node.module.js', ext: '.node.module.js' },
  { input: portableInput, file: `${name}.js`, platform: 'neutral', format: 'esm', core: './index.js', ext: '.js' },
];

/** The optional packages the CLI imports when asked (package.json's optional peer dependencies). */
const OPTIONAL = /^(bullmq|ioredis|vega|vega-lite)(\/|$)/;

const entries = [
  { input: 'node/index.js', file: 'node.core.cjs', platform: 'node', format: 'cjs' },
  // a bundler targeting Node (the `module` condition, which Node ignores): the core as ES modules all the
  // way, since a bundler cannot follow the CommonJS entry's loader and its ES output has no __dirname
  { input: 'node/index.js', file: 'node.module.js', platform: 'node', format: 'esm' },
  // the loader is its own small bundle: the core stays a file of its own for V8 to cache
  { input: 'node/require-entry.cjs', file: 'node.cjs', platform: 'node', format: 'cjs', external: [/node\.core\.cjs$/] },
  { input: 'index.js', file: 'index.js', platform: 'neutral', format: 'esm' },
  // in Node the search reads CSV tables (node/search/data.js) through the csv bundle beside it; the portable one reads no files
  ...forms('search', 'search/index.js', 'node/search/index.js').map((e) => ({ ...e, own: ['search/', 'node/search/'], ...(e.platform === 'node' ? { csv: `./csv${e.ext}` } : {}) })),
  ...forms('experiments', 'experiments/index.js').map((e) => ({ ...e, own: ['experiments/'], search: `./search${e.ext}` })),
  ...forms('onnx', 'io/onnx/index.js').map((e) => ({ ...e, own: ['io/onnx/'] })),
  ...forms('csv', 'data/csv/index.js', 'node/csv/index.js').map((e) => ({ ...e, own: ['data/csv/', 'node/csv/'] })),
  // the `simdnn` bin's commands (src/node/cli.cts loads it): an application, whole in one file (its own copy
  // of the core), since Node resolving, reading and linking the CLI's ~120 modules one by one took ~0.15 s of
  // every command; the optional packages it imports when asked (BullMQ, ioredis, Vega) stay imports, and its
  // own lazy import (the charts' module) is inlined: one file
  // CommonJS, for the bin to run it through V8's code cache as the core's entry runs the core (6–9 ms a command)
  { input: 'node/cli/index.js', file: 'cli.cjs', platform: 'node', format: 'cjs', external: [OPTIONAL], output: { codeSplitting: false } },
  // the search's worker thread (src/node/search/local.ts starts it from beside the bundles): its own isolate, so
  // a copy of the core is no second class to tell apart; one file starts a thread ~0.1 s sooner
  { input: 'node/search/trial-worker.js', file: 'trial-worker.js', platform: 'node', format: 'esm' },
];

/**
 * Resolves the core's entries (and, for the experiments, the search's; for the
 * Node search, the Node csv entry) to the bundles beside this one, as
 * externals; records every other module taken in.
 */
function subpathLinks({ core, search, csv, own }) {
  const external = new Map([[dist('index.js'), core], [dist('node/index.js'), core]]);
  if (search) external.set(dist('search/index.js'), search);
  if (csv) external.set(dist('node/csv/index.js'), csv);
  const ownDirs = own.map(dist);
  return {
    name: 'simdnn-subpath-links',
    resolveId(source, importer) {
      if (!importer || !source.startsWith('.')) return null;
      const target = external.get(path.resolve(path.dirname(importer), source));
      return target ? { id: target, external: true } : null;
    },
    load(id) {
      const inOwn = ownDirs.some((d) => id.startsWith(d)) || SHAREABLE.includes(id);
      if (!inOwn && id.startsWith(dist('.') + path.sep)) throw new Error(`bundle: ${path.relative(root, id)} would be copied into a subpath bundle; import it through the core's entry`);
      return null;
    },
  };
}

/** The names the Node core exports (from its bundle), for the ES module entry. */
let coreNames = null;
for (const entry of entries) {
  const { input, file, platform, format } = entry;
  const result = await build({
    cwd: root,
    input: dist(input),
    platform,
    // node: builtins and the data package (read from disk at run time) stay imports
    external: [/^node:/, /^mnist(\/|$)/, ...(entry.external ?? [])],
    plugins: entry.core ? [subpathLinks(entry)] : [],
    logLevel: 'warn',
    // JSDoc goes (declarations and the source map keep it): V8 scans every
    // byte of a bundle at load, and the core's comments were a fifth of it.
    // ASCII only (others escaped): V8 then keeps the source one byte a
    // character (~1–2 ms of the core's plain require), and a page served
    // without a charset still reads the messages' × and ≤ right
    output: { file: dist(`bundle/${file}`), format, sourcemap: true, charset: 'ascii', comments: { jsdoc: false, annotation: true, legal: true }, ...entry.output },
  });
  if (file === 'node.core.cjs') coreNames = result.output[0].exports;
  if (file === 'node.core.cjs' || file === 'cli.cjs') {
    // these run from V8's code cache (src/node/code-cache.cts), where Node 20 loses import()'s callback; the CLI
    // imports the optional packages through importPackage, which calls the bin's import() (its own is the fallback
    // for other hosts); a lazy import of the bundle's own modules, inlined, is listed as the bundle itself
    const dynamic = result.output[0].dynamicImports.filter((d) => d !== file && !(file === 'cli.cjs' && OPTIONAL.test(d)));
    if (dynamic.length > 0) throw new Error(`bundle: ${file} imports ${dynamic.join(', ')} with import(), which fails when it runs from the code cache; load a builtin with require (node/builtins.js), a package with importPackage (node/import-package.js)`);
    if (file === 'cli.cjs') {
      // and only through importPackage, which the bin's import() serves (a bare import() of one throws from the cache)
      const code = result.output[0].code;
      const bare = [...code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)].filter((m) => OPTIONAL.test(m[1])).length;
      const through = [...code.matchAll(/\bimportPackage\(\s*"([^"]+)",\s*\(\)\s*=>\s*import\(\s*"\1"\s*\)\s*\)/g)].length;
      if (bare !== through) throw new Error(`bundle: cli.cjs imports an optional package with a bare import() (${bare - through} of ${bare}), which throws when it runs from the code cache; use importPackage (node/import-package.js)`);
    }
  }
  if (file === 'node.cjs') writeNodeModuleEntry(coreNames);
}

/** dist/bundle/node.js: the CommonJS entry's exports as an ES module's (the subpath bundles import it as the core). */
function writeNodeModuleEntry(names) {
  if (!names?.length || names.includes('default')) throw new Error(`bundle: the Node core's exports are not plain names: ${names}`);
  writeFileSync(dist('bundle/node.js'), `// \`import 'simdnn'\` in Node: the CommonJS entry beside this file (node.cjs), which
// loads the core through V8's code cache, under the names it exports (written by
// scripts/bundle.mjs). One copy of the core serves import and require alike.
import { createRequire } from "node:module";
const core = createRequire(import.meta.url)("./node.cjs");
export const {
${names.map((n) => `\t${n},`).join('\n')}
} = core;
`);
}

/** The `types` of every `require` condition in `exports` (package.json's). */
const requireTypes = (value) => typeof value !== 'object' || value === null ? []
  : Object.entries(value).flatMap(([key, v]) => key === 'require' ? [v.types] : requireTypes(v));
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

const commonJsEntries = new Set(requireTypes(pkg.exports).map((types) => path.join(root, types)));
for (const target of commonJsEntries) writeFileSync(target, commonJsDeclarations(target.replace(/\.d\.cts$/, '.d.ts')));
// the .d.cts twins of every declaration that earlier builds wrote are no longer read: not left to be packed
for (const file of readdirSync(dist('.'), { recursive: true })) {
  const full = dist(file);
  if (full.endsWith('.d.cts') && !commonJsEntries.has(full)) rmSync(full);
}

/**
 * A .d.cts declaring every export of the ES module declarations `file` (its twin .d.ts) from them: types
 * (interfaces, type aliases) re-exported; functions and constants as constants of their type; classes as
 * a constant of the class's type (its constructor) and a type of the same name (its instances). Each
 * declaration keeps its doc comment. Fails on an export of another kind.
 */
function commonJsDeclarations(file) {
  const program = ts.createProgram([file], {
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, types: [], noEmit: true,
  });
  const checker = program.getTypeChecker();
  const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(file)));
  const names = new Set(exported.map((s) => s.name));
  const from = `'./${path.basename(file, '.d.ts')}.js' with { 'resolution-mode': 'import' }`;
  const printer = ts.createPrinter({ removeComments: true });
  // a type parameter's constraint or default, its references to the entry's exports through `esm.`
  const qualified = (node) => {
    const visit = (n) => ts.isTypeReferenceNode(n) && ts.isIdentifier(n.typeName) && names.has(n.typeName.text)
      ? ts.factory.updateTypeReferenceNode(n, ts.factory.createQualifiedName(ts.factory.createIdentifier('esm'), n.typeName.text), n.typeArguments && ts.visitNodes(n.typeArguments, visit))
      : ts.visitEachChild(n, visit, undefined);
    return printer.printNode(ts.EmitHint.Unspecified, ts.visitNode(node, visit), node.getSourceFile());
  };
  const docOf = (decl) => {
    const docs = ts.getJSDocCommentsAndTags(decl).filter((d) => ts.isJSDoc(d));
    return docs.length > 0 ? `${docs.at(-1).getText()}\n` : '';
  };
  /** Whether `symbol` reaches its declaration through a type-only export (`export type { X }`): no value then. */
  const typeOnly = (symbol) => {
    for (let s = symbol; s.flags & ts.SymbolFlags.Alias; s = checker.getImmediateAliasedSymbol(s)) {
      if (s.declarations?.some((d) => (ts.isExportSpecifier(d) || ts.isImportSpecifier(d)) && (d.isTypeOnly || d.parent.parent.isTypeOnly))) return true;
    }
    return false;
  };
  const types = [];
  const values = [];
  for (const symbol of exported) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const decl = target.declarations?.[0];
    const { name } = symbol;
    if (typeOnly(symbol)) {
      types.push(name);
    } else if (target.flags & ts.SymbolFlags.Class) {
      const params = decl.typeParameters ?? [];
      const list = params.map((p) => `${p.name.text}${p.constraint ? ` extends ${qualified(p.constraint)}` : ''}${p.default ? ` = ${qualified(p.default)}` : ''}`);
      const generic = list.length > 0 ? `<${list.join(', ')}>` : '';
      const args = params.length > 0 ? `<${params.map((p) => p.name.text).join(', ')}>` : '';
      values.push(`${docOf(decl)}export declare const ${name}: typeof esm.${name};\nexport type ${name}${generic} = esm.${name}${args};`);
    } else if (target.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Variable)) {
      values.push(`${docOf(decl)}export declare const ${name}: typeof esm.${name};`);
    } else if (target.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias) && !(target.flags & ts.SymbolFlags.Value)) {
      types.push(name);
    } else {
      throw new Error(`bundle: ${path.relative(root, file)} exports '${name}', of a kind its .d.cts does not declare (flags ${target.flags})`);
    }
  }
  return `// Written by scripts/bundle.mjs: the exports of ${path.basename(file)}, declared from it for CommonJS (one set of classes for
// import and require alike).
import type * as esm from ${from};
export type {
${types.map((n) => `  ${n},`).join('\n')}
} from ${from};
${values.join('\n')}
`;
}
