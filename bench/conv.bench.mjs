// Convolution: the layer's forward, and forward + backward, at each of the
// book's DeepConvNet conv shapes (batch 100), and one DeepConvNet training
// step (Adam, batch 100), against the same work in TF.js: FusedConv2D (conv +
// bias) forward; Conv2DBackpropInput, Conv2DBackpropFilter and a bias sum
// backward; the whole net with optimizer.minimize. TF.js runs NHWC, its native
// layout (ours is the book's NCHW). TF.js's wasm backend has no
// Conv2DBackpropFilter kernel, so it cannot train a conv net: those cells say so.

const BATCH = 100;
/** The six conv layers of DeepConvNet on 28×28 input: [C, H, FN, pad]; 3×3 filters, stride 1. */
const LAYERS = [[1, 28, 16, 1], [16, 28, 16, 1], [16, 14, 32, 1], [32, 14, 32, 2], [32, 8, 64, 1], [64, 8, 64, 1]];
const QUICK_LAYERS = [1, 5];
const F = 3;
const OUTPUT = 10;
const LR = 0.001;

/** Seeded labels 0..9, the same on every side. */
const labels = () => Int32Array.from({ length: BATCH }, (_, i) => (i * 7 + 3) % OUTPUT);

/** Throws the cell's "cannot run" message when the current TF.js backend lacks a kernel. */
function requireKernels(tf, backend, names) {
  const missing = names.filter((n) => !tf.getKernel(n, backend));
  if (missing.length) throw new Error(`cannot run: TF.js ${backend} has no ${missing.join(', ')} kernel`);
}

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  const layers = suite.quick ? QUICK_LAYERS.map((i) => LAYERS[i]) : LAYERS;
  for (const [C, H, FN, pad] of layers) {
    const OH = H + 2 * pad - F + 1;
    const K = C * F * F, P = OH * OH;
    const shape = `[${BATCH}, ${C}, ${H}, ${H}] * ${FN}×${C}×${F}×${F} pad ${pad}`;
    for (const backward of [false, true]) {
      suite.add(`Convolution ${backward ? 'forward + backward' : 'forward'} ${shape}`, {
        // forward 2·FN·K·P per image; backward the same again for dW and for dx
        flops: (backward ? 3 : 1) * 2 * BATCH * FN * K * P,
        ours: async (rt) => {
          const { Convolution } = await import('../dist/index.js');
          const W = rt.randn(rt.tensor([FN, C, F, F]), Math.sqrt(2 / K));
          const b = rt.tensor([FN]);
          const layer = new Convolution(W, b, 1, pad);
          const x = rt.uniform(rt.tensor([BATCH, C, H, H]));
          const dout = rt.randn(rt.tensor([BATCH, FN, OH, OH]));
          return {
            fn: backward ? () => { layer.forward(x, true); layer.backward(dout); } : () => layer.forward(x, true),
            dispose: () => { layer.dispose(); for (const t of [W, b, x, dout]) t.dispose(); },
          };
        },
        tfjs: (tf, backend) => {
          if (backward) requireKernels(tf, backend, ['Conv2DBackpropInput', 'Conv2DBackpropFilter']);
          const x = tf.randomUniform([BATCH, H, H, C]);
          const filter = tf.randomNormal([F, F, C, FN], 0, Math.sqrt(2 / K));
          const bias = tf.zeros([FN]);
          const dy = tf.randomNormal([BATCH, OH, OH, FN]);
          const conv = { strides: 1, pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
          const step = () => tf.tidy(() => {
            tf.fused.conv2d({ x, filter, strides: 1, pad, bias });
            if (!backward) return;
            tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...conv, inputShape: x.shape });
            tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...conv, filterShape: filter.shape });
            tf.sum(dy, [0, 1, 2]);
          });
          return { fn: step, dispose: () => tf.dispose([x, filter, bias, dy]) };
        },
      });
    }
  }

  suite.add(`DeepConvNet training step [${BATCH}, 1, 28, 28], Adam`, {
    ours: async (rt) => {
      const { DeepConvNet, createOptimizer } = await import('../dist/index.js');
      const net = new DeepConvNet(rt);
      const x = rt.uniform(rt.tensor([BATCH, 1, 28, 28]));
      const t = rt.labels([BATCH], labels());
      const optimizer = createOptimizer('adam', { lr: LR });
      return {
        fn: () => { net.gradient(x, t); optimizer.update(net.params, net.grads); },
        dispose: () => { net.dispose(); x.dispose(); t.dispose(); },
      };
    },
    tfjs: (tf, backend) => {
      requireKernels(tf, backend, ['Conv2DBackpropFilter']);
      const vars = [];
      const weight = (shape, fanIn) => {
        const w = tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn)));
        const b = tf.variable(tf.zeros([shape[shape.length - 1]]));
        vars.push(w, b);
        return [w, b];
      };
      const convs = LAYERS.map(([C, , FN, pad]) => ({ pad, wb: weight([F, F, C, FN], C * F * F) }));
      const fc1 = weight([64 * 4 * 4, 50], 64 * 4 * 4);
      const fc2 = weight([50, OUTPUT], 50);
      const x = tf.randomUniform([BATCH, 28, 28, 1]);
      const t = tf.cast(tf.oneHot(tf.tensor1d(labels(), 'int32'), OUTPUT), 'float32');
      const optimizer = tf.train.adam(LR);
      const loss = () => {
        let h = x;
        convs.forEach(({ pad, wb: [w, b] }, i) => {
          h = tf.fused.conv2d({ x: h, filter: w, strides: 1, pad, bias: b, activation: 'relu' });
          if (i % 2 === 1) h = tf.maxPool(h, 2, 2, 0);
        });
        h = tf.reshape(h, [BATCH, -1]);
        h = tf.dropout(tf.relu(tf.add(tf.matMul(h, fc1[0]), fc1[1])), 0.5);
        h = tf.dropout(tf.add(tf.matMul(h, fc2[0]), fc2[1]), 0.5);
        return tf.losses.softmaxCrossEntropy(t, h);
      };
      return {
        fn: () => optimizer.minimize(loss, false, vars),
        dispose: () => { optimizer.dispose(); tf.dispose([...vars, x, t]); },
      };
    },
  });
}
