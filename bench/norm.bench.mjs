// Batch normalisation and dropout: a BatchNormalization forward + backward in
// training mode on [100, 100], and one training step of the book's
// MultiLayerNetExtend with batch norm and dropout, against the same math in
// TF.js (tf.moments + tf.batchNorm, gradients by tf.grads / optimizer.minimize;
// the book's dropout as x · (U > ratio); running statistics updated as ours).

const D = 100;
const BATCH = 100;
const INPUT = 784;
const HIDDEN = [100, 100, 100, 100, 100, 100];
const OUTPUT = 10;
const SIZES = [INPUT, ...HIDDEN, OUTPUT];
const RATIO = 0.2;
const MOMENTUM = 0.9;
const EPS = 1e-6;
const LR = 0.01;

/** Seeded labels 0..9, the same on every side. */
const labels = () => Int32Array.from({ length: BATCH }, (_, i) => (i * 7 + 3) % OUTPUT);

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  suite.add(`BatchNormalization forward + backward [${BATCH}, ${D}], training mode`, {
    ours: async (rt) => {
      const { BatchNormalization } = await import('../dist/index.js');
      const gamma = rt.uniform(rt.tensor([D]), 0.5, 1.5);
      const beta = rt.randn(rt.tensor([D]));
      const layer = new BatchNormalization(gamma, beta, MOMENTUM);
      const x = rt.randn(rt.tensor([BATCH, D]));
      const dout = rt.randn(rt.tensor([BATCH, D]));
      return {
        fn: () => { layer.forward(x, true); layer.backward(dout); },
        dispose: () => { layer.dispose(); gamma.dispose(); beta.dispose(); x.dispose(); dout.dispose(); },
      };
    },
    tfjs: (tf) => {
      const gamma = tf.randomUniform([D], 0.5, 1.5);
      const beta = tf.randomNormal([D]);
      const x = tf.randomNormal([BATCH, D]);
      const dout = tf.randomNormal([BATCH, D]);
      const runningMean = tf.variable(tf.zeros([D]));
      const runningVar = tf.variable(tf.zeros([D]));
      // y's gradients with respect to x, gamma, beta for the upstream gradient dout = backward(dout); the
      // batch's statistics computed once, as ours (the running ones updated from them inside the forward)
      const grads = tf.grads((xs, g, b) => {
        const { mean, variance } = tf.moments(xs, 0);
        runningMean.assign(tf.add(tf.mul(runningMean, MOMENTUM), tf.mul(mean, 1 - MOMENTUM)));
        runningVar.assign(tf.add(tf.mul(runningVar, MOMENTUM), tf.mul(variance, 1 - MOMENTUM)));
        return tf.batchNorm(xs, mean, variance, b, g, EPS);
      });
      return {
        fn: () => tf.tidy(() => { grads([x, gamma, beta], dout); }),
        dispose: () => tf.dispose([gamma, beta, x, dout, runningMean, runningVar]),
      };
    },
  });

  suite.add(`MultiLayerNetExtend step ${INPUT}-[100×${HIDDEN.length}]-${OUTPUT} relu, batch norm + dropout ${RATIO}, batch ${BATCH}, SGD`, {
    ours: async (rt) => {
      const { MultiLayerNetExtend, SGD } = await import('../dist/index.js');
      const net = new MultiLayerNetExtend(rt, {
        inputSize: INPUT, hiddenSizeList: HIDDEN, outputSize: OUTPUT, useBatchnorm: true, useDropout: true, dropoutRatio: RATIO,
      });
      const x = rt.uniform(rt.tensor([BATCH, INPUT]));
      const t = rt.labels([BATCH], labels());
      const optimizer = new SGD({ lr: LR });
      const initial = Object.values(net.params).map((p) => [p, p.toArray()]);
      return {
        fn: () => { net.gradient(x, t); optimizer.update(net.params, net.grads); },
        beforeEach: () => { for (const [p, values] of initial) p.set(values); },
        dispose: () => { net.dispose(); x.dispose(); t.dispose(); },
      };
    },
    tfjs: (tf) => {
      const layers = [];
      for (let i = 1; i < SIZES.length; i++) {
        const n = SIZES[i];
        const layer = {
          W: tf.variable(tf.randomNormal([SIZES[i - 1], n], 0, Math.sqrt(2 / SIZES[i - 1]))),
          b: tf.variable(tf.zeros([n])),
        };
        if (i < SIZES.length - 1) {
          Object.assign(layer, {
            gamma: tf.variable(tf.ones([n])), beta: tf.variable(tf.zeros([n])),
            runningMean: tf.variable(tf.zeros([n]), false), runningVar: tf.variable(tf.zeros([n]), false),
          });
        }
        layers.push(layer);
      }
      const vars = layers.flatMap((l) => [l.W, l.b, ...(l.gamma ? [l.gamma, l.beta] : [])]);
      const x = tf.randomUniform([BATCH, INPUT]);
      const t = tf.cast(tf.oneHot(tf.tensor1d(labels(), 'int32'), OUTPUT), 'float32');
      const optimizer = tf.train.sgd(LR);
      const initial = vars.map((v) => v.clone());
      const loss = () => {
        let h = x;
        for (const l of layers) {
          h = tf.add(tf.matMul(h, l.W), l.b);
          if (!l.gamma) break;
          const { mean, variance } = tf.moments(h, 0);
          l.runningMean.assign(tf.add(tf.mul(l.runningMean, MOMENTUM), tf.mul(mean, 1 - MOMENTUM)));
          l.runningVar.assign(tf.add(tf.mul(l.runningVar, MOMENTUM), tf.mul(variance, 1 - MOMENTUM)));
          h = tf.relu(tf.batchNorm(h, mean, variance, l.beta, l.gamma, EPS));
          h = tf.mul(h, tf.cast(tf.greater(tf.randomUniform(h.shape), RATIO), 'float32'));
        }
        return tf.losses.softmaxCrossEntropy(t, h);
      };
      return {
        fn: () => optimizer.minimize(loss, false, vars),
        beforeEach: () => vars.forEach((v, i) => v.assign(initial[i])),
        dispose: () => {
          optimizer.dispose();
          tf.dispose([...layers.flatMap((l) => Object.values(l)), ...initial, x, t]);
        },
      };
    },
  });
}
