// The book's ch06/optimizer_compare_mnist.py: a 784-100-100-100-100-10
// MultiLayerNet trained on random mini-batches with SGD, Momentum, AdaGrad and
// Adam; the loss every 100 iterations and the smoothed curve's end.
// Run: node examples/book/optimizer_compare_mnist.mjs [--small]
import { createRuntime, loadMnist, Dataset, MultiLayerNet, SGD, Momentum, AdaGrad, Adam, smoothCurve } from 'simdnn';

const small = process.argv.includes('--small');
const maxIterations = small ? 20 : 2000;
const batchSize = 128;
const rt = await createRuntime({ seed: 1 });
const { xTrain, tTrain, xTest, tTest } = await loadMnist(rt, { trainRows: small ? 1000 : undefined });
const train = new Dataset(xTrain, tTrain);

const optimizers = { SGD: new SGD({ lr: 0.01 }), Momentum: new Momentum({ lr: 0.01 }), AdaGrad: new AdaGrad({ lr: 0.01 }), Adam: new Adam({ lr: 0.001 }) };
const networks = {};
const trainLoss = {};
for (const key of Object.keys(optimizers)) {
  networks[key] = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100], outputSize: 10 });
  trainLoss[key] = [];
}

for (let i = 0; i < maxIterations; i++) {
  const batch = train.randomChoice(batchSize); // the book's np.random.choice
  for (const [key, optimizer] of Object.entries(optimizers)) {
    const grads = networks[key].gradient(batch.x, batch.t);
    optimizer.update(networks[key].params, grads);
    trainLoss[key].push(networks[key].loss(batch.x, batch.t));
  }
  if (i % 100 === 0) {
    console.log(`===========iteration:${i}===========`);
    for (const key of Object.keys(optimizers)) console.log(`${key}:${trainLoss[key].at(-1)}`);
  }
}
for (const key of Object.keys(optimizers)) {
  console.log(`${key}: smoothed loss at the end ${smoothCurve(trainLoss[key]).at(-1).toFixed(4)}, test accuracy ${networks[key].accuracy(xTest, tTest).toFixed(4)}`);
  networks[key].dispose();
  optimizers[key].dispose();
}
train.dispose();
for (const t of [xTrain, tTrain, xTest, tTest]) t.dispose();
rt.dispose(); // stops the worker threads, if any started; the process may exit before they have
