// The edge worker's HTTP side, shared by the two entries (worker.js serves model.safetensors, worker-onnx.js
// model.onnx): each gives createWorker the wasm and a function that loads its model on a runtime.
//   POST /predict    {"input": [784 numbers in [0, 1]]}            -> {"probabilities": [10 numbers]}
//                    {"input": [[784 numbers], ...]} (a batch)     -> {"probabilities": [[10 numbers], ...]}
//   POST /fine-tune  {"inputs": [[784 numbers], ...], "labels": [0-9, ...], "lr"?: number}
//                    -> one SGD step on the last layer (its gradient clipped to a norm of LIMITS.maxGradNorm),
//                       in this isolate's memory: {"lossBefore", "loss", "gradNorm", "clipped"}
//   GET  /           the model's format and metadata, and the request limits
// The wasm arrives as a compiled WebAssembly.Module (edge runtimes forbid
// compiling from bytes) and the model as bytes; both are bundled with the
// worker. The runtime and model are made once per isolate, on its first
// request, and kept. Every bad request gets a 4xx and a JSON error.
import { createRuntime, SGD, softmax } from 'simdnn';

const LIMITS = Object.freeze({
  /** Largest request body, in bytes. */
  maxBodyBytes: 1 << 20,
  /** Time a body may take to arrive, in ms: a client that stalls its upload would hold the request for good. */
  bodyMs: 10_000,
  /** Most images in one /predict or /fine-tune request. */
  maxBatch: 64,
  /** Values per image (28 × 28 pixels in [0, 1]). */
  inputSize: 784,
  classes: 10,
  /** Largest learning rate /fine-tune accepts: at 1, one batch of wrong labels took the model to chance for every client. */
  maxLr: 0.1,
  /**
   * Largest norm of a /fine-tune gradient (W and b of the last layer together; a larger one is scaled down to it,
   * as PyTorch's clip_grad_norm_): a batch of one mislabelled digit has a norm of ~27, an all-white image ~57,
   * and at lr 0.1 either step took the model from 0.93 to 0.10–0.21 accuracy; clipped, to 0.92–0.93.
   */
  maxGradNorm: 1,
});

/** A request the worker refuses: its status and message become the JSON answer. */
class BadRequest extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const json = (body, status = 200, headers = {}) => Response.json(body, { status, headers });

/**
 * Reads and drops the rest of a refused body, up to DRAIN_BYTES: answered
 * while the client is still sending, the connection can close under the
 * upload, and the client then sees a reset instead of the 413 (undici's
 * "fetch failed", seen once in the tests on a loaded machine).
 */
async function drain(reader, late) {
  if (!reader) return;
  let dropped = 0;
  try {
    for (let r = await Promise.race([reader.read(), late]); !r.done; r = await Promise.race([reader.read(), late])) {
      dropped += r.value.byteLength;
      if (dropped > DRAIN_BYTES) { await reader.cancel(); return; }
    }
  } catch {
    await reader.cancel().catch(() => {}); // the body's time ran out: stop reading (the client is stalled)
  }
}
const DRAIN_BYTES = 16 << 20;

/** Reads a JSON body of at most LIMITS.maxBodyBytes, counting bytes as they arrive (Content-Length may be absent or wrong). */
async function readJson(request) {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new BadRequest(415, `Content-Type must be application/json, got '${type}'`);
  const declared = Number(request.headers.get('content-length') ?? 0);
  const reader = request.body?.getReader();
  // one deadline for the whole body, a refused one's drain included: a client that stalls is answered
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new BadRequest(408, `the body did not arrive within ${LIMITS.bodyMs / 1000} s`)), LIMITS.bodyMs);
  });
  late.catch(() => {}); // raced below; a deadline no read is waiting on is not an unhandled rejection
  const chunks = [];
  let size = 0;
  const read = () => Promise.race([reader.read(), late]);
  try {
    if (declared > LIMITS.maxBodyBytes) {
      await drain(reader, late);
      throw new BadRequest(413, `body is ${declared} bytes; the limit is ${LIMITS.maxBodyBytes}`);
    }
    for (let r = reader ? await read() : { done: true }; !r.done; r = await read()) {
      size += r.value.byteLength;
      if (size > LIMITS.maxBodyBytes) {
        await drain(reader, late);
        throw new BadRequest(413, `body exceeds the limit of ${LIMITS.maxBodyBytes} bytes`);
      }
      chunks.push(r.value);
    }
  } catch (e) {
    if (e instanceof BadRequest && e.status === 408) await reader.cancel().catch(() => {});
    throw e;
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.byteLength; }
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new BadRequest(400, `body is not valid JSON (${e.message})`);
  }
}

/** A value as an error names it: short (a 1 MB string is not echoed back) and Infinity as Infinity, not JSON's null. */
function shown(v) {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v !== null && typeof v === 'object') return 'an object';
  return String(v);
}

/** Checks one image or a batch of them; returns the batch as one Float32Array and its size. */
function readImages(value, what, { allowSingle }) {
  if (!Array.isArray(value)) throw new BadRequest(400, `${what} must be an array of ${LIMITS.inputSize} numbers${allowSingle ? ' or an array of such arrays' : ' per image, in an array'}`);
  const single = allowSingle && value.length > 0 && !Array.isArray(value[0]);
  if (!allowSingle && value.length > 0 && !Array.isArray(value[0])) throw new BadRequest(400, `${what} must be an array of images, each an array of ${LIMITS.inputSize} numbers (one image goes in [ ])`);
  const images = single ? [value] : value;
  if (images.length === 0) throw new BadRequest(400, `${what} is empty`);
  if (images.length > LIMITS.maxBatch) throw new BadRequest(400, `${what} holds ${images.length} images; the limit is ${LIMITS.maxBatch}`);
  const data = new Float32Array(images.length * LIMITS.inputSize);
  images.forEach((image, i) => {
    const where = single ? what : `${what}[${i}]`;
    if (!Array.isArray(image)) throw new BadRequest(400, `${where} must be an array of ${LIMITS.inputSize} numbers`);
    if (image.length !== LIMITS.inputSize) throw new BadRequest(400, `${where} has ${image.length} values; expected ${LIMITS.inputSize} (28 × 28 pixels)`);
    for (let j = 0; j < image.length; j++) {
      const v = image[j];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new BadRequest(400, `${where}[${j}] must be a number in [0, 1], got ${shown(v)}`);
      data[i * LIMITS.inputSize + j] = v;
    }
  });
  return { data, n: images.length, single };
}

/** Each row's class probabilities: the wasm's softmax, the same bits as the library gives on any host (Math.exp is not). */
function probabilities({ rt, frozen, inputShape }, data, n) {
  const x = rt.tensor([n, ...inputShape], data);
  try {
    const y = frozen.predict(x); // the caller owns predict's result
    const p = softmax(y, { out: y }).toArray();
    y.dispose();
    return Array.from({ length: n }, (_, i) => Array.from(p.subarray(i * LIMITS.classes, (i + 1) * LIMITS.classes)));
  } finally {
    x.dispose();
  }
}

async function predict(request, getModel) {
  const body = await readJson(request);
  if (body === null || typeof body !== 'object' || !('input' in body)) throw new BadRequest(400, 'body must be an object with "input"');
  const { data, n, single } = readImages(body.input, 'input', { allowSingle: true });
  const p = probabilities(await getModel(), data, n);
  return json({ probabilities: single ? p[0] : p });
}

async function fineTune(request, getModel) {
  const body = await readJson(request);
  if (body === null || typeof body !== 'object' || !('inputs' in body) || !('labels' in body)) throw new BadRequest(400, 'body must be an object with "inputs" and "labels"');
  const { data, n } = readImages(body.inputs, 'inputs', { allowSingle: false });
  const { labels } = body;
  if (!Array.isArray(labels) || labels.length !== n) throw new BadRequest(400, `labels must be an array of ${n} class numbers (one per input)`);
  labels.forEach((l, i) => {
    if (!Number.isInteger(l) || l < 0 || l >= LIMITS.classes) throw new BadRequest(400, `labels[${i}] must be an integer in [0, ${LIMITS.classes - 1}], got ${shown(l)}`);
  });
  const lr = body.lr ?? 0.1;
  if (typeof lr !== 'number' || !(lr > 0 && lr <= LIMITS.maxLr)) throw new BadRequest(400, `lr must be a number in (0, ${LIMITS.maxLr}], got ${shown(body.lr)}`);
  const m = await getModel();
  const x = m.rt.tensor([n, ...m.inputShape], data);
  try {
    const lossBefore = m.net.loss(x, labels);
    const grads = m.net.gradient(x, labels);
    const pick = (from) => Object.fromEntries(m.lastLayer.map((k) => [k, from[k]]));
    let squares = 0;
    for (const k of m.lastLayer) for (const g of grads[k].toArray()) squares += g * g;
    const gradNorm = Math.sqrt(squares);
    const scale = Math.min(1, LIMITS.maxGradNorm / gradNorm); // the step of a clipped gradient: lr · scale · g
    new SGD({ lr: lr * scale }).update(pick(m.net.params), pick(grads));
    const frozen = m.net.freeze();
    m.frozen.dispose();
    m.frozen = frozen;
    m.fineTunes++;
    return json({ lossBefore, loss: m.net.loss(x, labels), gradNorm, clipped: scale < 1, fineTunes: m.fineTunes, layer: m.lastLayer });
  } finally {
    x.dispose();
  }
}

async function info(request, getModel) {
  const { about, rt, fineTunes } = await getModel();
  return json({ ...about, limits: LIMITS, fineTunes, wasmMemoryBytes: rt.memory.buffer.byteLength });
}

/**
 * The runtime and the model, checked: load(rt) → { net, about } (what GET / tells of the model). The runtime is
 * disposed if anything fails, so a retried load does not leave the last attempt's memory behind.
 */
async function loadModelOnce(wasm, load) {
  const rt = await createRuntime({ seed: 1, wasm, threads: 1 });
  try {
    const { net, about } = load(rt);
    return { rt, net, about, ...servable(rt, net), fineTunes: 0 };
  } catch (e) {
    await rt.dispose();
    throw e;
  }
}

/**
 * What the worker keeps of a net it can serve: its frozen copy, the shape of one image as the net takes it
 * and the last weight layer's keys (what /fine-tune steps). Throws, naming the mismatch, for a net that does
 * not take a 28 × 28 image or does not give 10 scores (one blank image through it). build.mjs runs it on
 * an ONNX model given with --onnx, so that such a model is refused at build time.
 */
export function servable(rt, net) {
  // a conv net fixes its sample shape ([1, 28, 28]); an MLP takes rows of its first Affine's inputs
  const inputShape = net.inputShape ?? [net.layers.find((l) => l.name === 'Affine')?.W.shape[0] ?? LIMITS.inputSize];
  // the pixels in their order, as one image: a row of 784 or 28 × 28, leading 1s aside ([1, 784], [1, 28, 28]);
  // a [16, 7, 7] takes as many values, but they would not be an image to it
  const first = inputShape.findIndex((d) => d !== 1);
  const held = first < 0 ? '' : inputShape.slice(first).join('x');
  if (held !== '784' && held !== '28x28') throw new Error(`the model takes samples of shape [${inputShape.join(', ')}]; this worker sends 28 × 28 images, which a model of [784] or [1, 28, 28] takes (leading 1s aside)`);
  // /predict runs a frozen copy (weights packed once: a batch of 1 takes half the time of net.predict);
  // /fine-tune freezes the net again after it changes the weights
  const frozen = net.freeze();
  const x = rt.tensor([1, ...inputShape]);
  try {
    const y = frozen.predict(x);
    const { shape } = y;
    y.dispose();
    if (shape.length !== 2 || shape[1] !== LIMITS.classes) throw new Error(`the model gives [${shape.slice(1)}] per image; this worker answers ${LIMITS.classes} class probabilities`);
  } catch (e) {
    frozen.dispose();
    throw e;
  } finally {
    x.dispose();
  }
  // the last weight layer: the highest-numbered W and b (a Sequential's keys, a named net's or an imported one's)
  const last = Math.max(...Object.keys(net.params).filter((k) => /^W\d+$/.test(k)).map((k) => Number(k.slice(1))));
  return { frozen, inputShape, lastLayer: [`W${last}`, `b${last}`] };
}

/**
 * The worker (its default export) serving the model load(rt) makes; `wasm` is simdnn's compiled module.
 * The model is made on the isolate's first request (a rejected attempt is retried by the next).
 */
export function createWorker(wasm, load) {
  let model = null;
  const getModel = () => {
    model ??= loadModelOnce(wasm, load).catch((e) => { model = null; throw e; });
    return model;
  };
  const routes = { '/predict': ['POST', predict], '/fine-tune': ['POST', fineTune], '/': ['GET', info] };
  return {
    async fetch(request) {
      const route = routes[new URL(request.url).pathname];
      try {
        if (!route) throw new BadRequest(404, `no such path; try POST /predict, POST /fine-tune or GET /`);
        const [method, handle] = route;
        // HEAD is GET without the body, as HTTP has it
        if (request.method === 'HEAD' && method === 'GET') return new Response(null, { headers: (await handle(request, getModel)).headers });
        if (request.method !== method) return json({ error: `use ${method}, not ${request.method}` }, 405, { Allow: method === 'GET' ? 'GET, HEAD' : method });
        return await handle(request, getModel);
      } catch (e) {
        if (e instanceof BadRequest) return json({ error: e.message }, e.status);
        // anything else is a fault of the worker, not of the request: say so without crashing the isolate
        return json({ error: `internal error: ${e?.message ?? e}` }, 500);
      }
    },
  };
}
