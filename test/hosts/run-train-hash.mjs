// `node|bun|deno run-train-hash.mjs <threads>`: the seeded run on the built
// Node entry (as `import 'simdnn'` gives it), one JSON line on stdout.
import * as simdnn from '../../dist/bundle/node.js';
import { trainHash } from './train-hash.mjs';

const threads = Number(process.argv[2] ?? 1);
const rt = await simdnn.createRuntime({ seed: 1, threads });
console.log(JSON.stringify(await trainHash(simdnn, rt)));
rt.dispose();
