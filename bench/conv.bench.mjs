// Convolution: the layer's forward, and forward + backward, at each of the
// book's DeepConvNet conv shapes (batch 100), and one DeepConvNet training
// step (Adam, batch 100), against TF.js in this process and the book's NumPy
// code in float32 (bench/deepconvnet_numpy.py); outside --quick, also the
// layer at two ResNet-like shapes with 7×7 output positions (FEW_POSITIONS,
// against TF.js only) and one AlexNet training step. TF.js's forward is FusedConv2D (conv + bias) in NHWC,
// its native layout (ours is the book's NCHW). Neither TF.js backend can time
// a conv backward here: wasm has no Conv2DBackpropFilter kernel, and cpu's is
// a per-element loop that takes minutes per call (about 2.5 minutes at the
// second layer's batch-100 shape, measured on the bench machine), so those
// cells say why instead of a number.

import { fileURLToPath } from 'node:url';
import { python } from './harness.mjs';

const BATCH = 100;
/** The six conv layers of DeepConvNet on 28×28 input: [C, H, FN, pad]; 3×3 filters, stride 1. */
const LAYERS = [[1, 28, 16, 1], [16, 28, 16, 1], [16, 14, 32, 1], [32, 14, 32, 2], [32, 8, 64, 1], [64, 8, 64, 1]];
const QUICK_LAYERS = [1, 5];
const F = 3;
const OUTPUT = 10;
const LR = 0.001;
/** [N, C, H, FN, F, stride, pad] (full runs only): a 1×1 convolution at 7×7 and a 3×3 one of stride 2 down to 7×7. */
const FEW_POSITIONS = [[32, 256, 7, 256, 1, 1, 0], [32, 256, 14, 512, 3, 2, 1]];
/** AlexNet's step (full runs only): 61M parameters, about 1 s per step at this batch. */
const ALEX_BATCH = 8;

/** Seeded labels 0..9, the same on every side. */
const labels = () => Int32Array.from({ length: BATCH }, (_, i) => (i * 7 + 3) % OUTPUT);

/** The book's NumPy code timing one case (see deepconvnet_numpy.py). */
const numpy = (suite, name, flops) => async () => {
  const r = await python(fileURLToPath(new URL('./deepconvnet_numpy.py', import.meta.url)), [`--case=${name}`, `--time=${suite.time}`, `--clock=${suite.clock}`]);
  return r.ms !== undefined ? { ms: r.ms, flops, note: r.blas } : r;
};

/**
 * dout as training gives it: the gradient through the ReLU after the layer, 0
 * where the layer's output y is not positive (about half, in y's pattern).
 * With random dout the bench hid a branch the zeros mispredicted (1.2× on dW
 * in a DeepConvNet step; docs/BENCHMARKS.md, session 25).
 */
function reluGradient(dout, y) {
  const d = dout.data, out = y.data;
  for (let i = 0; i < d.length; i++) if (!(out[i] > 0)) d[i] = 0;
  return dout;
}

/** The cell of a TF.js backend for a case that needs a conv backward: why it cannot run. */
function noConvBackward(tf, backend) {
  if (!tf.getKernel('Conv2DBackpropFilter', backend)) throw new Error(`cannot run: TF.js ${backend} has no Conv2DBackpropFilter kernel`);
  throw new Error(`cannot run: TF.js ${backend}'s Conv2DBackpropFilter is a per-element loop, minutes per call at these shapes`);
}

/** Our case: a Convolution layer's forward (in training mode), or forward then backward with a ReLU's gradient. */
const oursConv = (N, C, H, FN, F, stride, pad, backward) => async (rt) => {
  const { Convolution } = await import('../dist/index.js');
  const OH = Math.floor((H + 2 * pad - F) / stride) + 1;
  const W = rt.randn(rt.tensor([FN, C, F, F]), Math.sqrt(2 / (C * F * F)));
  const b = rt.tensor([FN]);
  const layer = new Convolution(W, b, stride, pad);
  const x = rt.uniform(rt.tensor([N, C, H, H]));
  const dout = reluGradient(rt.randn(rt.tensor([N, FN, OH, OH])), layer.forward(x));
  return {
    fn: backward ? () => { layer.forward(x, true); layer.backward(dout); } : () => layer.forward(x, true),
    dispose: () => { layer.dispose(); for (const t of [W, b, x, dout]) t.dispose(); },
  };
};

/** TF.js's forward of the same layer: FusedConv2D with its bias, NHWC, `pad` zeros on every side as ours. */
const tfjsConvForward = (N, C, H, FN, F, stride, pad) => (tf) => {
  const x = tf.randomUniform([N, H, H, C]);
  const filter = tf.randomNormal([F, F, C, FN], 0, Math.sqrt(2 / (C * F * F)));
  const bias = tf.zeros([FN]);
  return {
    fn: () => tf.tidy(() => tf.fused.conv2d({ x, filter, strides: stride, pad, bias })),
    dispose: () => tf.dispose([x, filter, bias]),
  };
};

/** @param {import('./harness.mjs').Suite} suite */
export default function register(suite) {
  const layers = suite.quick ? QUICK_LAYERS.map((i) => LAYERS[i]) : LAYERS;
  for (const [C, H, FN, pad] of layers) {
    const OH = H + 2 * pad - F + 1;
    const K = C * F * F, P = OH * OH;
    const shape = `[${BATCH}, ${C}, ${H}, ${H}] * ${FN}×${C}×${F}×${F} pad ${pad}`;
    for (const backward of [false, true]) {
      // forward 2·FN·K·P per image and dW the same; dx 2·FN·K·H·W, what the direct kernel computes
      // (a correlation of dout padded by FH − 1 − pad, giving H×W: at pad 2, 14² of the forward's 16²
      // positions, so counting dx as a forward would overstate that row's GFLOP/s by 8.5%)
      const flops = 2 * BATCH * FN * K * (backward ? 2 * P + H * H : P);
      suite.add(`Convolution ${backward ? 'forward + backward' : 'forward'} ${shape}`, {
        flops,
        ours: oursConv(BATCH, C, H, FN, F, 1, pad, backward),
        tfjs: backward ? noConvBackward : tfjsConvForward(BATCH, C, H, FN, F, 1, pad),
        external: { numpy: numpy(suite, `conv:${C},${H},${FN},${pad},${backward ? 'backward' : 'forward'}`, flops) },
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
    tfjs: noConvBackward,
    external: { numpy: numpy(suite, 'step') },
  });

  if (suite.quick) return;
  // Two shapes of ResNet-like nets, outside DeepConvNet, with few positions for their filters: the
  // passes by positions (src/layers/convolution.ts forwardByPositions, inputGradByPositions). The
  // forward + backward rows count dx as 2·N·FN·K·P, what im2col + GEMM computes (a 1×1 filter's P is
  // H·W), so 3× the forward's flops.
  for (const [N, C, H, FN, F, stride, pad] of FEW_POSITIONS) {
    const OH = Math.floor((H + 2 * pad - F) / stride) + 1, K = C * F * F, P = OH * OH;
    const shape = `[${N}, ${C}, ${H}, ${H}] * ${FN}×${C}×${F}×${F}${stride > 1 ? ` stride ${stride}` : ''} pad ${pad} (${OH}×${OH} positions)`;
    for (const backward of [false, true]) {
      suite.add(`Convolution ${backward ? 'forward + backward' : 'forward'} ${shape}`, {
        flops: (backward ? 3 : 1) * 2 * N * FN * K * P,
        ours: oursConv(N, C, H, FN, F, stride, pad, backward),
        tfjs: backward ? noConvBackward : tfjsConvForward(N, C, H, FN, F, stride, pad),
      });
    }
  }

  suite.add(`alexNet training step [${ALEX_BATCH}, 3, 224, 224], 1000 classes, SGD`, {
    ours: async (rt) => {
      const { alexNet, SGD } = await import('../dist/index.js');
      const net = alexNet(rt, { numClasses: 1000 });
      const x = rt.uniform(rt.tensor([ALEX_BATCH, 3, 224, 224]));
      const t = rt.labels([ALEX_BATCH], Int32Array.from({ length: ALEX_BATCH }, (_, i) => (i * 37) % 1000));
      const optimizer = new SGD({ lr: 0.01 });
      return {
        fn: () => { net.gradient(x, t); optimizer.update(net.params, net.grads); },
        dispose: () => { net.dispose(); x.dispose(); t.dispose(); },
      };
    },
    tfjs: noConvBackward,
  });
}
