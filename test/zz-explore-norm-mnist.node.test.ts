import { it } from 'vitest';
import { makeRuntime } from './helpers/runtime.js';
import { loadMnist } from '../src/node/data.js';
import { MultiLayerNetExtend, Trainer } from '../src/index.js';

it('explore', async () => {
  const rt = await makeRuntime({ seed: 1 });
  const data = await loadMnist(rt, { trainRows: 1000 });
  const t0 = performance.now();
  for (const seed of [1, 2, 3]) {
    for (const bn of [true, false]) {
      rt.reseed(seed);
      const net = new MultiLayerNetExtend(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100], outputSize: 10, weightInitStd: 0.01, useBatchnorm: bn });
      const tr = new Trainer(net, data.xTrain, data.tTrain, data.xTest, data.tTest, { epochs: 20, miniBatchSize: 100, optimizer: 'sgd', optimizerParams: { lr: 0.01 }, evaluateSampleNumPerEpoch: 1000 });
      const r = tr.train();
      console.log('BN', seed, bn, r.trainAccList.map((a) => a.toFixed(2)).join(' '), ((performance.now() - t0) / 1000).toFixed(1));
      net.dispose();
    }
  }
  const x300 = data.xTrain.rows(0, 300), t300 = data.tTrain.rows(0, 300);
  for (const seed of [1, 2, 3]) {
    for (const cfg of [{}, { weightDecayLambda: 0.1 }, { useDropout: true, dropoutRatio: 0.2 }]) {
      rt.reseed(seed);
      const net = new MultiLayerNetExtend(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, ...cfg });
      const epochs = 'useDropout' in cfg ? 301 : 201;
      const tr = new Trainer(net, x300, t300, data.xTest, data.tTest, { epochs, miniBatchSize: 100, optimizer: 'sgd', optimizerParams: { lr: 0.01 }, evaluateSampleNumPerEpoch: 300 });
      const r = tr.train();
      const pick = [10, 25, 50, 75, 100, 150, 200, 300].filter((e) => e <= epochs);
      const line = pick.map((e) => `${e}:${r.epochs[e - 1].trainAcc.toFixed(2)}/${net.accuracy(data.xTest, data.tTest) && r.epochs[e - 1].testAcc.toFixed(2)}`).join(' ');
      console.log('OF', seed, JSON.stringify(cfg), line, 'final test(2000)', net.accuracy(data.xTest, data.tTest).toFixed(3), ((performance.now() - t0) / 1000).toFixed(1));
      net.dispose();
    }
  }
}, 600_000);
