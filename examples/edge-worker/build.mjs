// Builds the edge worker into a directory workerd can serve (default
// examples/edge-worker/dist; `--out DIR` for another):
//   worker.js          src/worker.js bundled with esbuild, as wrangler does; `simdnn` is this repository's
//                      portable bundle (in your project it comes from node_modules)
//   simdnn.wasm        the plain SIMD build, imported by the worker as a compiled WebAssembly.Module
//   model.safetensors  the weights: an MLP (784-64-10) trained here on the bundled digits for 2 epochs
//                      (kept if present; `--retrain` makes it again)
//   config.capnp       workerd's config: serve on 127.0.0.1:8787 (`workerd serve config.capnp --socket-addr http=…` to move)
// Needs `npm run build` first (dist/bundle, build/*.wasm).
import { build } from 'esbuild';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const { values: args } = parseArgs({ options: { out: { type: 'string' }, retrain: { type: 'boolean' } } });
const out = path.resolve(args.out ?? path.join(here, 'dist'));
await mkdir(out, { recursive: true });

for (const f of ['dist/bundle/index.js', 'dist/bundle/node.js', 'build/simdnn.wasm']) {
  if (!existsSync(path.join(root, f))) throw new Error(`${f} is missing: run \`npm run build\` first`);
}

// Wasm and weights stay separate modules of the worker (workerd compiles the
// wasm when it loads the config), so esbuild leaves their imports to workerd.
const separateModules = {
  name: 'separate-modules',
  setup(b) {
    b.onResolve({ filter: /\.(wasm|safetensors)$/ }, (a) => ({ path: `./${path.basename(a.path)}`, external: true }));
  },
};
await build({
  entryPoints: [path.join(here, 'src/worker.js')],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  outfile: path.join(out, 'worker.js'),
  alias: { simdnn: path.join(root, 'dist/bundle/index.js') },
  plugins: [separateModules],
  logLevel: 'warning',
});
await copyFile(path.join(root, 'build/simdnn.wasm'), path.join(out, 'simdnn.wasm'));

const modelFile = path.join(out, 'model.safetensors');
if (args.retrain || !existsSync(modelFile)) {
  const { createRuntime, loadMnist, MultiLayerNet, Adam, Trainer, saveModel } = await import(path.join(root, 'dist/bundle/node.js'));
  const rt = await createRuntime({ seed: 1, threads: 1 });
  const { xTrain, tTrain, xTest, tTest } = await loadMnist(rt);
  const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [64], outputSize: 10, activation: 'relu', weightInitStd: 'he' });
  const trainer = new Trainer(net, xTrain, tTrain, xTest, tTest, { epochs: 2, miniBatchSize: 100, optimizer: new Adam({ lr: 0.002 }) });
  const { testAccList } = trainer.train();
  const testAcc = testAccList.at(-1);
  await writeFile(modelFile, saveModel(net, { metadata: { trainedOn: 'simdnn bundled digits (8,000 train / 2,000 test)', epochs: '2', testAcc: testAcc.toFixed(4) } }));
  rt.dispose();
  console.log(`edge-worker: trained 784-64-10, test accuracy ${testAcc.toFixed(4)} -> ${path.relative(process.cwd(), modelFile)}`);
}

await writeFile(path.join(out, 'config.capnp'), `# workerd config of the simdnn edge worker (made by build.mjs)
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "simdnn.wasm", wasm = embed "simdnn.wasm"),
    (name = "model.safetensors", data = embed "model.safetensors"),
  ],
  compatibilityDate = "2025-01-01",
);
`);
