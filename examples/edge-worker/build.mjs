// Builds the edge worker into a directory workerd can serve (default
// examples/edge-worker/dist; `--out DIR` for another):
//   worker.js          src/worker.js bundled with esbuild, as wrangler does; `simdnn` is this repository's
//                      portable bundle (in your project it comes from node_modules)
//   worker-onnx.js     src/worker-onnx.js likewise, with `simdnn/onnx` (the ONNX worker; worker.js has no ONNX code)
//   simdnn.wasm        the plain SIMD build, imported by the workers as a compiled WebAssembly.Module
//   model.safetensors  the weights: an MLP (784-64-10) trained here on the bundled digits for 2 epochs
//                      (kept if present; `--retrain` makes it again)
//   model.onnx         the same net as exportOnnx writes it, or with `--onnx FILE` your own ONNX model (PyTorch's
//                      torch.onnx.export, …), refused here if the worker could not serve it
//   config.capnp       workerd's config serving model.safetensors on 127.0.0.1:8787
//   config-onnx.capnp  the same serving model.onnx on 127.0.0.1:8788
//                      (`workerd serve config.capnp --socket-addr http=…` to move either)
// Needs `npm run build` first (dist/bundle, build/*.wasm).
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const { values: args } = parseArgs({ options: { out: { type: 'string' }, retrain: { type: 'boolean' }, onnx: { type: 'string' } } });
const out = path.resolve(args.out ?? path.join(here, 'dist'));
await mkdir(out, { recursive: true });

for (const f of ['dist/bundle/index.js', 'dist/bundle/node.js', 'dist/bundle/onnx.js', 'dist/bundle/onnx.node.js', 'build/simdnn.wasm']) {
  if (!existsSync(path.join(root, f))) throw new Error(`${f} is missing: run \`npm run build\` first`);
}

// Wasm and models stay separate modules of the workers (workerd compiles the
// wasm when it loads the config), so esbuild leaves their imports to workerd.
const separateModules = {
  name: 'separate-modules',
  setup(b) {
    b.onResolve({ filter: /\.(wasm|safetensors|onnx)$/ }, (a) => ({ path: `./${path.basename(a.path)}`, external: true }));
  },
};
// Two bundles, each whole (app.js in both): a worker that serves one format carries only its reader.
await build({
  entryPoints: { worker: path.join(here, 'src/worker.js'), 'worker-onnx': path.join(here, 'src/worker-onnx.js') },
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  outdir: out,
  // simdnn/onnx's bundle imports the core's beside it: one copy of the core in worker-onnx.js
  alias: { 'simdnn/onnx': path.join(root, 'dist/bundle/onnx.js'), simdnn: path.join(root, 'dist/bundle/index.js') },
  plugins: [separateModules],
  logLevel: 'warning',
});
await copyFile(path.join(root, 'build/simdnn.wasm'), path.join(out, 'simdnn.wasm'));

const modelFile = path.join(out, 'model.safetensors');
const { createRuntime, loadMnist, MultiLayerNet, Adam, Trainer, saveModel, loadModel } = await import(path.join(root, 'dist/bundle/node.js'));
const { exportOnnx, importOnnx } = await import(path.join(root, 'dist/bundle/onnx.node.js'));
const rt = await createRuntime({ seed: 1, threads: 1 });
if (args.retrain || !existsSync(modelFile)) {
  const { xTrain, tTrain, xTest, tTest } = await loadMnist(rt);
  const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [64], outputSize: 10, activation: 'relu', weightInitStd: 'he' });
  const trainer = new Trainer(net, xTrain, tTrain, xTest, tTest, { epochs: 2, miniBatchSize: 100, optimizer: new Adam({ lr: 0.002 }) });
  const { testAccList } = trainer.train();
  const testAcc = testAccList.at(-1);
  await writeFile(modelFile, saveModel(net, { metadata: { trainedOn: 'simdnn bundled digits (8,000 train / 2,000 test)', epochs: '2', testAcc: testAcc.toFixed(4) } }));
  console.log(`edge-worker: trained 784-64-10, test accuracy ${testAcc.toFixed(4)} -> ${path.relative(process.cwd(), modelFile)}`);
}

const onnxFile = path.join(out, 'model.onnx');
if (args.onnx) {
  // refused now rather than at the worker's first request: the worker's own load and checks, in Node
  const bytes = await readFile(args.onnx);
  const { servable } = await import('./src/app.js');
  try {
    const { net } = importOnnx(rt, bytes);
    servable(rt, net).frozen.dispose();
    net.dispose();
  } catch (e) {
    throw new Error(`--onnx ${args.onnx}: the edge worker cannot serve it: ${e.message}`);
  }
  await writeFile(onnxFile, bytes);
} else {
  // the same net and the model file's metadata (what it was trained on, its test accuracy)
  const { net, metadata } = loadModel(rt, await readFile(modelFile));
  const { version } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
  await writeFile(onnxFile, exportOnnx(net, { producerVersion: version, metadata }));
  net.dispose();
}
await rt.dispose();

/** workerd's config serving `entry` (its model bundled as bytes) on 127.0.0.1:`port`. */
const workerdConfig = (entry, model, port) => `# workerd config of the simdnn edge worker serving ${model} (made by build.mjs)
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "${entry}", esModule = embed "${entry}"),
    (name = "simdnn.wasm", wasm = embed "simdnn.wasm"),
    (name = "${model}", data = embed "${model}"),
  ],
  compatibilityDate = "2025-01-01",
);
`;
await writeFile(path.join(out, 'config.capnp'), workerdConfig('worker.js', 'model.safetensors', 8787));
await writeFile(path.join(out, 'config-onnx.capnp'), workerdConfig('worker-onnx.js', 'model.onnx', 8788));
