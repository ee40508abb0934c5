// The book's ch06/hyperparameter_optimization.py: random search over the
// learning rate (10^U(-6, -2)) and weight decay (10^U(-8, -4)) of a 784-100×6-10
// MultiLayerNet on 500 training images, 20% held out for validation; the best
// 20 trials by validation accuracy.
// Run: node examples/book/hyperparameter_optimization.mjs [--small]
import { createRuntime, loadMnist, Dataset, MultiLayerNet, Trainer, seededRandom } from 'simdnn';

const small = process.argv.includes('--small');
const optimizationTrial = small ? 3 : 100, epochs = small ? 2 : 50;
const rt = await createRuntime({ seed: 1 });
const { xTrain, tTrain, xTest, tTest } = await loadMnist(rt, { trainRows: 500 });
const all = new Dataset(xTrain, tTrain);
const { train, validation } = all.split(0.2, 1);
const random = seededRandom(7);
const uniform = (lo, hi) => lo + (hi - lo) * random();

const results = [];
for (let trial = 0; trial < optimizationTrial; trial++) {
  const weightDecay = 10 ** uniform(-8, -4);
  const lr = 10 ** uniform(-6, -2);
  const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, weightDecayLambda: weightDecay });
  const trainer = new Trainer(net, train.x, train.t, validation.x, validation.t, { epochs, miniBatchSize: 100, optimizer: 'sgd', optimizerParams: { lr }, sampling: 'replacement' });
  const { testAccList } = await trainer.fit();
  const valAcc = testAccList.at(-1);
  console.log(`val acc:${valAcc.toFixed(4)} | lr:${lr}, weight decay:${weightDecay}`);
  results.push({ valAcc, lr, weightDecay });
  trainer.dispose();
  net.dispose();
}
console.log('=========== Hyper-Parameter Optimization Result ===========');
results.sort((a, b) => b.valAcc - a.valAcc).slice(0, 20).forEach((r, i) => {
  console.log(`Best-${i + 1}(val acc:${r.valAcc.toFixed(4)}) | lr:${r.lr}, weight decay:${r.weightDecay}`);
});
train.dispose();
validation.dispose();
all.dispose();
for (const t of [xTrain, tTrain, xTest, tTest]) t.dispose();
rt.dispose(); // stops the worker threads, if any started; the process may exit before they have
