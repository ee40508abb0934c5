// The seeded run every host must reproduce bit for bit: 50 Adam steps of a
// small MLP and of SimpleConvNet on synthetic data from a seeded generator,
// then a SHA-256 of every parameter's float32 bits, in key order, and of the
// trained net's predictions (batches 1, 3, 8 and all rows), by net.predict and
// by its frozen copy (net.freeze(): weights packed once), and of the net saved
// and read back by loadModelAsync from the host's own Response; and the Trainer's
// path (fit() with batch norm, dropout, decay, AdamW, a schedule, sampling with
// replacement, a validation split, augmentation; label smoothing, mixup, an EMA of
// the weights, a one-cycle schedule, clipping; class weights, class-balanced
// sampling, stochastic weight averaging with SWALR and its batch-norm pass):
// parameters and epoch records. Plain
// JavaScript with no import, so Node, Chromium, workerd, Bun and Deno all load
// it as is; the caller passes the simdnn module it imported and the runtime.

const STEPS = 50;

/** mulberry32: the same numbers on every host. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function batch(rt, shape, seed) {
  const next = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const x = rt.tensor(shape, Float32Array.from({ length: n }, () => next()));
  const t = Array.from({ length: shape[0] }, () => Math.floor(next() * 10));
  return { x, t };
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function hashParams(net) {
  const keys = Object.keys(net.params).sort();
  const parts = keys.map((k) => net.params[k].toArray());
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return sha256Hex(new Uint8Array(all.buffer));
}

/** SHA-256 of predict's outputs for the first 1, 3, 8 and all rows of x, by `predict(rows)`. */
async function hashPredictions(x, predict) {
  const parts = [1, 3, 8, x.shape[0]].map((n) => {
    const y = predict(x.rows(0, n));
    const v = y.toArray();
    y.dispose();
    return v;
  });
  const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return sha256Hex(new Uint8Array(all.buffer));
}

async function train(simdnn, rt, net, shape, seed) {
  const opt = new simdnn.Adam({ lr: 0.001 });
  const { x, t } = batch(rt, shape, seed);
  let loss = 0;
  for (let step = 0; step < STEPS; step++) {
    opt.update(net.params, net.gradient(x, t));
    if (step === STEPS - 1) loss = net.loss(x, t);
  }
  const hash = await hashParams(net);
  const predicted = await hashPredictions(x, (rows) => net.predict(rows));
  const frozen = net.freeze();
  const frozenPredicted = await hashPredictions(x, (rows) => frozen.predict(rows));
  frozen.dispose();
  // the trained net saved and read back as this host's own Response of a Blob's stream, in pieces
  const bytes = simdnn.saveModel(net, { optimizer: opt });
  let received = 0;
  const loaded = await simdnn.loadModelAsync(rt, new Response(new Blob([bytes]).stream()), { onProgress: (n) => { received = n; } });
  const reloaded = received === bytes.length ? await hashParams(loaded.net) : `read ${received} of ${bytes.length} bytes`;
  loaded.net.dispose();
  loaded.optimizer.dispose();
  opt.dispose();
  x.dispose();
  net.dispose();
  return { hash, loss, predicted, frozenPredicted, reloaded };
}

/**
 * The Trainer's path, by fit(): a batch-norm + dropout MLP with L2 decay trained by AdamW under a cosine
 * schedule on batches drawn with replacement, with a validation split; then SimpleConvNet on RandomAffine-
 * augmented batches. The hash of both nets' parameters after it and every epoch's record but its seconds.
 */
async function fitHash(simdnn, rt) {
  const runs = [];
  const { x, t } = batch(rt, [120, 784], 4);
  const labels = rt.labels([120], t);
  const mlp = new simdnn.MultiLayerNetExtend(rt, {
    inputSize: 784, hiddenSizeList: [64, 64], outputSize: 10, useBatchnorm: true, useDropout: true, dropoutRatio: 0.2, weightDecayLambda: 0.01,
  });
  runs.push({ net: mlp, trainer: new simdnn.Trainer(mlp, x, labels, x, labels, {
    epochs: 3, miniBatchSize: 20, sampling: 'replacement', optimizer: 'adamw', optimizerParams: { lr: 0.01 },
    lrSchedule: simdnn.createSchedule('cosine', { tMax: 3 }), validationSplit: 0.2,
  }) });
  const images = batch(rt, [40, 1, 28, 28], 5);
  const imageLabels = rt.labels([40], images.t);
  const augment = new simdnn.RandomAffine(rt, { degrees: 10, scale: [0.9, 1.1], shift: 2 });
  const conv = new simdnn.SimpleConvNet(rt, {
    inputDim: [1, 28, 28], convParam: { filterNum: 8, filterSize: 5, pad: 0, stride: 1 }, hiddenSize: 32, outputSize: 10,
  });
  runs.push({ net: conv, trainer: new simdnn.Trainer(conv, images.x, imageLabels, images.x, imageLabels, { epochs: 2, miniBatchSize: 10, optimizer: 'momentum', augment }) });
  // label smoothing, mixup (λ from log-gammas: exactLn, exactExp), the weights' moving average, a one-cycle
  // schedule per step (cos of a fractional phase, momentum cycled) and gradient clipping by norm
  const smooth = new simdnn.MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [64], outputSize: 10, labelSmoothing: 0.1 });
  runs.push({ net: smooth, trainer: new simdnn.Trainer(smooth, x, labels, x, labels, {
    epochs: 2, miniBatchSize: 20, optimizer: 'momentum', mixup: { alpha: 0.4 }, ema: { decay: 0.9 }, clipGradNorm: 1,
    lrSchedule: new simdnn.OneCycleLR({ maxLr: 0.1, totalSteps: 12 }),
  }) });
  // class weights on the loss, class-balanced batches (cumulative sums searched), SWA from epoch 2 with SWALR's
  // cosine annealing and the batch-norm pass over the averaged weights
  const weighted = new simdnn.MultiLayerNetExtend(rt, {
    inputSize: 784, hiddenSizeList: [32], outputSize: 10, useBatchnorm: true, classWeights: [1, 2, 0.5, 1, 1, 3, 1, 1, 0.25, 1],
  });
  runs.push({ net: weighted, trainer: new simdnn.Trainer(weighted, x, labels, x, labels, {
    epochs: 4, miniBatchSize: 20, optimizer: 'sgd', sampleWeights: 'balanced', swa: { start: 2, lr: 0.02, annealEpochs: 2 },
  }) });
  const records = [];
  for (const { trainer } of runs) {
    const result = await trainer.fit();
    records.push(result.epochs.map(({ seconds: _, ...rest }) => rest));
  }
  const params = [await hashParams(mlp), await hashParams(conv), await hashParams(smooth), await hashParams(weighted)];
  for (const { net, trainer } of runs) { trainer.dispose(); net.dispose(); }
  augment.dispose();
  for (const tensor of [x, labels, images.x, imageLabels]) tensor.dispose();
  return { params, records: await sha256Hex(new TextEncoder().encode(JSON.stringify(records))) };
}

/**
 * Runs both nets on `rt` (a fresh runtime, seed 1) and returns their parameter
 * hashes, the last losses, and the threads the runtime ran on with the parts
 * its workers took (proof that a 2-thread run split work).
 */
export async function trainHash(simdnn, rt) {
  // 784-100-100-10 on batches of 64: GEMMs big enough to split across threads
  const mlp = await train(simdnn, rt, new simdnn.MultiLayerNet(rt, {
    inputSize: 784, hiddenSizeList: [100, 100], outputSize: 10, activation: 'relu', weightInitStd: 'he',
  }), [64, 784], 2);
  const conv = await train(simdnn, rt, new simdnn.SimpleConvNet(rt, {
    inputDim: [1, 28, 28], convParam: { filterNum: 8, filterSize: 5, pad: 0, stride: 1 }, hiddenSize: 32, outputSize: 10,
  }), [16, 1, 28, 28], 3);
  const fitted = await fitHash(simdnn, rt);
  return {
    mlp: mlp.hash, conv: conv.hash, loss: [mlp.loss, conv.loss], fitted,
    predicted: [mlp.predicted, conv.predicted], frozenPredicted: [mlp.frozenPredicted, conv.frozenPredicted],
    reloaded: [mlp.reloaded, conv.reloaded],
    threads: rt.features.threads, workerChunks: rt.threadStats().workerChunks,
  };
}
