// Bundles the compiled entry points (dist/, from tsc) into one file each:
//   dist/bundle/node.js   the Node entry as an ES module (`import 'simdnn'` in Node)
//   dist/bundle/node.cjs  the same as CommonJS (`require('simdnn')`)
//   dist/bundle/index.js  the portable entry (browsers, edge runtimes, bundlers)
// One file instead of ~55 takes ~25 ms off a cold start in Node (every ES
// module is resolved, read and linked on its own), and `require` skips Node's
// ES module loader: cold start over an empty node 13–14 ms against 22 (npm run
// bench -- startup). The bundles sit two levels below the package root, as
// src/runtime/runtime.ts does, so its `new URL('../../build/simdnn.wasm',
// import.meta.url)` still finds the wasm.
// Declarations stay in dist/ (types resolve through package.json).
import { build } from 'rolldown';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const entries = [
  { input: 'dist/node/index.js', file: 'dist/bundle/node.js', platform: 'node', format: 'esm' },
  { input: 'dist/node/index.js', file: 'dist/bundle/node.cjs', platform: 'node', format: 'cjs' },
  { input: 'dist/index.js', file: 'dist/bundle/index.js', platform: 'neutral', format: 'esm' },
];
for (const { input, file, platform, format } of entries) {
  await build({
    cwd: root,
    input,
    platform,
    // node: builtins and the data package (read from disk at run time) stay imports
    external: [/^node:/, /^mnist(\/|$)/],
    logLevel: 'warn',
    output: { file, format, sourcemap: true },
  });
}
