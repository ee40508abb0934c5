// The book's ch06/batch_norm_test.py: a 784-100×5-10 MultiLayerNetExtend on
// 1,000 training images, with and without batch normalisation, for 16 weight
// scales from 1 down to 1e-4; the training accuracy per epoch.
// Run: node examples/book/batch_norm_test.mjs [--small]
import { createRuntime, loadMnist, Dataset, MultiLayerNetExtend, SGD } from 'simdnn';

const small = process.argv.includes('--small');
const trainSize = small ? 200 : 1000, maxEpochs = small ? 2 : 20, batchSize = 100;
const scales = small ? [1, 0.01] : Array.from({ length: 16 }, (_, i) => 10 ** (-4 * i / 15)); // np.logspace(0, -4, 16)
const rt = await createRuntime({ seed: 1 });
const { xTrain, tTrain, xTest, tTest } = await loadMnist(rt, { trainRows: trainSize });
const train = new Dataset(xTrain, tTrain);
const iterPerEpoch = Math.max(trainSize / batchSize, 1);

function run(weightInitStd, useBatchnorm) {
  const net = new MultiLayerNetExtend(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100], outputSize: 10, weightInitStd, useBatchnorm });
  const optimizer = new SGD({ lr: 0.01 });
  const accuracy = [];
  for (let i = 0; i < 1e9; i++) {
    const batch = train.randomChoice(batchSize);
    optimizer.update(net.params, net.gradient(batch.x, batch.t));
    if (i % iterPerEpoch === 0) {
      accuracy.push(net.accuracy(xTrain, tTrain));
      if (accuracy.length >= maxEpochs) break;
    }
  }
  net.dispose();
  optimizer.dispose();
  return accuracy;
}

scales.forEach((w, i) => {
  console.log(`============== ${i + 1}/${scales.length} ==============  weight scale ${w.toPrecision(3)}`);
  const bn = run(w, true), plain = run(w, false);
  console.log(`  batch norm: ${bn.map((a) => a.toFixed(3)).join(' ')}`);
  console.log(`  normal:     ${plain.map((a) => a.toFixed(3)).join(' ')}`);
});
train.dispose();
for (const t of [xTrain, tTrain, xTest, tTest]) t.dispose();
rt.dispose(); // stops the worker threads, if any started; the process may exit before they have
