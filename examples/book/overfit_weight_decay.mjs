// The book's ch06/overfit_weight_decay.py: a 784-100×6-10 MultiLayerNet on
// 300 training images overfits; L2 weight decay (λ = 0.1) narrows the gap
// between training and test accuracy.
// Run: node examples/book/overfit_weight_decay.mjs [--small]
import { createRuntime, loadMnist, Dataset, MultiLayerNet, SGD } from 'simdnn';

const small = process.argv.includes('--small');
const maxEpochs = small ? 3 : 201, batchSize = 100;
const rt = await createRuntime({ seed: 1 });
const { xTrain, tTrain, xTest, tTest } = await loadMnist(rt, { trainRows: 300 });
const train = new Dataset(xTrain, tTrain);
const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, weightDecayLambda: 0.1 });
const optimizer = new SGD({ lr: 0.01 });
const iterPerEpoch = Math.max(300 / batchSize, 1);

for (let i = 0, epoch = 0; epoch < maxEpochs; i++) {
  const batch = train.randomChoice(batchSize);
  optimizer.update(net.params, net.gradient(batch.x, batch.t));
  if (i % iterPerEpoch === 0) {
    console.log(`epoch:${epoch}, train acc:${net.accuracy(xTrain, tTrain).toFixed(4)}, test acc:${net.accuracy(xTest, tTest).toFixed(4)}`);
    epoch++;
  }
}
net.dispose();
optimizer.dispose();
train.dispose();
for (const t of [xTrain, tTrain, xTest, tTest]) t.dispose();
rt.dispose(); // stops the worker threads, if any started; the process may exit before they have
