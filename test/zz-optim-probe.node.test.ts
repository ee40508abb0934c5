import { it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { createRuntime } from '../src/node/runtime.js';
import { loadMnist } from '../src/node/data.js';
it('tfjs reference', async () => {
  const rt = await createRuntime({ seed: 1 });
  const d = await loadMnist(rt);
  await tf.setBackend('cpu');
  const xTr = tf.tensor2d(d.xTrain.toArray(), [8000, 784]);
  const tTr = tf.cast(tf.oneHot(tf.tensor1d(d.tTrain.toArray(), 'int32'), 10), 'float32');
  const xTe = tf.tensor2d(d.xTest.toArray(), [2000, 784]);
  const tTe = tf.tensor1d(d.tTest.toArray(), 'int32');
  for (const seed of [1, 2]) {
    const sizes = [784, 100, 100, 100, 100, 10];
    const vars: any[] = [];
    for (let i = 1; i < sizes.length; i++) {
      vars.push(tf.variable(tf.randomNormal([sizes[i - 1], sizes[i]], 0, Math.sqrt(2 / sizes[i - 1]), 'float32', seed * 100 + i)));
      vars.push(tf.variable(tf.zeros([sizes[i]])));
    }
    const predict = (x: any) => { let h = x; for (let i = 0; i < vars.length; i += 2) { h = tf.add(tf.matMul(h, vars[i]), vars[i + 1]); if (i + 2 < vars.length) h = tf.relu(h); } return h; };
    const opt = tf.train.adam(0.001, 0.9, 0.999, 1e-7);
    const accs = [];
    for (let e = 0; e < 5; e++) {
      const perm = tf.util.createShuffledIndices(8000);
      for (let b = 0; b < 80; b++) {
        const idx = tf.tensor1d(Int32Array.from(perm.slice(b * 100, b * 100 + 100)), 'int32');
        const xb = tf.gather(xTr, idx), tb = tf.gather(tTr, idx);
        opt.minimize(() => tf.losses.softmaxCrossEntropy(tb, predict(xb)) as any, false, vars);
        tf.dispose([idx, xb, tb]);
      }
      const acc = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(predict(xTe), 1), tTe), 'float32')).dataSync()[0]);
      accs.push(acc.toFixed(4));
    }
    console.log('tfjs adam seed', seed, accs.join(' '));
  }
}, 300000);
