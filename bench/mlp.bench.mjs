// One training step of the book's MultiLayerNet (784-[100×6]-10 ReLU, batch
// 100; SGD lr 0.01 and Adam lr 0.001): gradient (forward + backward) and
// update, against the same model in TF.js (tf.variable weights,
// optimizer.minimize with tf.train.sgd / tf.train.adam) and the book's NumPy
// code in float32 (bench/mlp_numpy.py). Every side restores the
// initial weights before each timed step (untimed), so all time the same
// step: a fixed batch would otherwise be memorised at a speed that differs
// between fast and slow peers.
import { fileURLToPath } from 'node:url';
import { python } from './harness.mjs';

const INPUT = 784;
const HIDDEN = [100, 100, 100, 100, 100, 100];
const OUTPUT = 10;
const BATCH = 100;
const SIZES = [INPUT, ...HIDDEN, OUTPUT];

/** Seeded labels 0..9, the same on every side. */
const labels = () => Int32Array.from({ length: BATCH }, (_, i) => (i * 7 + 3) % OUTPUT);

/** Each optimizer with its book default learning rate, by its name on every side. */
const OPTIMIZERS = [
  { label: 'SGD', name: 'sgd', lr: 0.01 },
  { label: 'Adam', name: 'adam', lr: 0.001 },
];

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  for (const { label, name, lr } of OPTIMIZERS) {
    registerStep(suite, label, name, lr);
  }
}

function registerStep(suite, label, name, lr) {
  suite.add(`MultiLayerNet step ${SIZES[0]}-[100×${HIDDEN.length}]-${OUTPUT} relu, batch ${BATCH}, ${label}`, {
    ours: async (rt) => {
      const { MultiLayerNet, createOptimizer } = await import('../dist/index.js');
      const net = new MultiLayerNet(rt, { inputSize: INPUT, hiddenSizeList: HIDDEN, outputSize: OUTPUT, activation: 'relu', weightInitStd: 'relu' });
      const x = rt.uniform(rt.tensor([BATCH, INPUT]));
      const t = rt.labels([BATCH], labels());
      const optimizer = createOptimizer(name, { lr });
      const initial = Object.values(net.params).map((p) => [p, p.toArray()]);
      return {
        fn: () => { net.gradient(x, t); optimizer.update(net.params, net.grads); },
        beforeEach: () => { for (const [p, values] of initial) p.set(values); },
        dispose: () => { net.dispose(); x.dispose(); t.dispose(); },
      };
    },
    tfjs: (tf) => {
      const vars = [];
      for (let i = 1; i < SIZES.length; i++) {
        vars.push(tf.variable(tf.randomNormal([SIZES[i - 1], SIZES[i]], 0, Math.sqrt(2 / SIZES[i - 1]))));
        vars.push(tf.variable(tf.zeros([SIZES[i]])));
      }
      const x = tf.randomUniform([BATCH, INPUT]);
      const t = tf.cast(tf.oneHot(tf.tensor1d(labels(), 'int32'), OUTPUT), 'float32');
      const optimizer = tf.train[name](lr);
      const initial = vars.map((v) => v.clone());
      const loss = () => {
        let h = x;
        for (let i = 0; i < vars.length; i += 2) {
          h = tf.add(tf.matMul(h, vars[i]), vars[i + 1]);
          if (i + 2 < vars.length) h = tf.relu(h);
        }
        return tf.losses.softmaxCrossEntropy(t, h);
      };
      return {
        fn: () => optimizer.minimize(loss, false, vars),
        beforeEach: () => vars.forEach((v, i) => v.assign(initial[i])),
        dispose: () => { optimizer.dispose(); tf.dispose([...vars, ...initial, x, t]); },
      };
    },
    external: {
      numpy: async () => {
        const r = await python(fileURLToPath(new URL('./mlp_numpy.py', import.meta.url)), [`--optimizer=${name}`, `--time=${suite.time}`, `--clock=${suite.clock}`]);
        return r.ms !== undefined ? { ms: r.ms, note: r.blas } : r;
      },
    },
  });
}
