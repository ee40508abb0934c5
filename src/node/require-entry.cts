// `require('simdnn')` in Node: the core bundle beside this one (node.core.cjs,
// made by scripts/bundle.mjs from src/node/index.ts) through V8's code cache
// (code-cache.cts). The ES module entry (node.js) re-exports this one, so
// import and require share one copy of the core.
import path = require('node:path');
import { loadBundle } from './code-cache.cjs';

// A bundler that copied this file into an ES module output left no __dirname: the plain require, bundled.
export = (typeof __dirname === 'string'
  ? loadBundle(path.join(__dirname, 'node.core.cjs'), module, () => require('./node.core.cjs')).exports
  : require('./node.core.cjs')) as unknown;
