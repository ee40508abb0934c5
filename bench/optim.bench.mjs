// One optimizer step: update every parameter of the book's MultiLayerNet
// 784-[100×6]-10 (130,010 floats in 14 tensors) from fixed gradients, for each
// of our optimizers, against TF.js's tf.train.* counterpart applying the same
// gradients to tf.variable weights (optimizer.applyGradients). Ours runs as
// one fused kernel over the net's contiguous parameter block. TF.js has no
// AdamW; its Nesterov is its own momentum form (same memory traffic).

const SIZES = [784, 100, 100, 100, 100, 100, 100, 10];

/** TF.js optimizers with our defaults (AdaGrad: TF.js starts h at 0.1, we at 0). */
const TFJS = {
  sgd: (tf) => tf.train.sgd(0.01),
  momentum: (tf) => tf.train.momentum(0.01, 0.9),
  nesterov: (tf) => tf.train.momentum(0.01, 0.9, true),
  adagrad: (tf) => tf.train.adagrad(0.01),
  rmsprop: (tf) => tf.train.rmsprop(0.01, 0.99, 0, 1e-7),
  adadelta: (tf) => tf.train.adadelta(1.0, 0.95, 1e-6),
  adam: (tf) => tf.train.adam(0.001, 0.9, 0.999, 1e-7),
};

const NAMES = ['sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adadelta', 'adam', 'adamw'];

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  const net = `${SIZES[0]}-[100×${SIZES.length - 2}]-${SIZES[SIZES.length - 1]}`;
  for (const name of NAMES) {
    suite.add(`${name} update, all params of ${net}`, {
      ours: async (rt) => {
        const { MultiLayerNet, createOptimizer } = await import('../dist/index.js');
        const model = new MultiLayerNet(rt, { inputSize: SIZES[0], hiddenSizeList: SIZES.slice(1, -1), outputSize: SIZES[SIZES.length - 1] });
        for (const g of Object.values(model.grads)) rt.randn(g, 0.01);
        const optimizer = createOptimizer(name);
        optimizer.update(model.params, model.grads); // state made; later calls allocate nothing
        if (!optimizer.contiguous) throw new Error(`bench: ${name} did not take the one-call path over the parameter block`);
        return {
          fn: () => optimizer.update(model.params, model.grads),
          dispose: () => { optimizer.dispose(); model.dispose(); },
        };
      },
      tfjs: TFJS[name] && ((tf) => {
        const vars = [];
        const grads = {};
        for (let i = 1; i < SIZES.length; i++) {
          for (const shape of [[SIZES[i - 1], SIZES[i]], [SIZES[i]]]) {
            const v = tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / SIZES[i - 1])));
            vars.push(v);
            grads[v.name] = tf.randomNormal(shape, 0, 0.01);
          }
        }
        const optimizer = TFJS[name](tf);
        optimizer.applyGradients(grads);
        return {
          fn: () => optimizer.applyGradients(grads),
          dispose: () => { optimizer.dispose(); tf.dispose([...vars, ...Object.values(grads)]); },
        };
      }),
    });
  }
}
