// The book's ch06/weight_init_compare.py: a 784-100-100-100-100-10
// MultiLayerNet with weights of std 0.01, Xavier (sigmoid) and He (ReLU),
// trained with SGD; the loss every 100 iterations.
// Run: node examples/book/weight_init_compare.mjs [--small]
import { createRuntime, loadMnist, Dataset, MultiLayerNet, SGD, smoothCurve } from 'simdnn';

const small = process.argv.includes('--small');
const maxIterations = small ? 20 : 2000;
const rt = await createRuntime({ seed: 1 });
const { xTrain, tTrain, xTest, tTest } = await loadMnist(rt, { trainRows: small ? 1000 : undefined });
const train = new Dataset(xTrain, tTrain);
const weightInitTypes = { 'std=0.01': [0.01, 'relu'], Xavier: ['xavier', 'sigmoid'], He: ['he', 'relu'] };

const networks = {}, trainLoss = {};
for (const [key, [weightInitStd, activation]] of Object.entries(weightInitTypes)) {
  networks[key] = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100], outputSize: 10, weightInitStd, activation });
  trainLoss[key] = [];
}
const optimizer = Object.fromEntries(Object.keys(weightInitTypes).map((k) => [k, new SGD({ lr: 0.01 })]));

for (let i = 0; i < maxIterations; i++) {
  const batch = train.randomChoice(128);
  for (const key of Object.keys(weightInitTypes)) {
    optimizer[key].update(networks[key].params, networks[key].gradient(batch.x, batch.t));
    trainLoss[key].push(networks[key].loss(batch.x, batch.t));
  }
  if (i % 100 === 0) {
    console.log(`===========iteration:${i}===========`);
    for (const key of Object.keys(weightInitTypes)) console.log(`${key}:${trainLoss[key].at(-1)}`);
  }
}
for (const key of Object.keys(weightInitTypes)) {
  console.log(`${key}: smoothed loss at the end ${smoothCurve(trainLoss[key]).at(-1).toFixed(4)}, test accuracy ${networks[key].accuracy(xTest, tTest).toFixed(4)}`);
  networks[key].dispose();
  optimizer[key].dispose();
}
train.dispose();
for (const t of [xTrain, tTrain, xTest, tTest]) t.dispose();
rt.dispose(); // stops the worker threads, if any started; the process may exit before they have
