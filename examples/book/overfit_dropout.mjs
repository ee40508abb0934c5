// The book's ch06/overfit_dropout.py: the same overfitting net with dropout
// (ratio 0.2) after each hidden layer, trained by the Trainer with the book's
// batches (drawn with replacement each step, as common/trainer.py does).
// Run: node examples/book/overfit_dropout.mjs [--small]
import { createRuntime, loadMnist, MultiLayerNetExtend, Trainer } from 'simdnn';

const small = process.argv.includes('--small');
const rt = await createRuntime({ seed: 1 });
const { xTrain, tTrain, xTest, tTest } = await loadMnist(rt, { trainRows: 300 });
const net = new MultiLayerNetExtend(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100, 100, 100], outputSize: 10, useDropout: true, dropoutRatio: 0.2 });
const trainer = new Trainer(net, xTrain, tTrain, xTest, tTest, {
  epochs: small ? 3 : 301, miniBatchSize: 100, optimizer: 'sgd', optimizerParams: { lr: 0.01 }, sampling: 'replacement',
  onProgress: (p) => { if (p.record) console.log(`=== epoch:${p.epoch}, train acc:${p.record.trainAcc.toFixed(4)}, test acc:${p.record.testAcc.toFixed(4)} ===`); },
});
const result = await trainer.fit();
console.log(`=============== Final Test Accuracy ===============\ntest acc:${result.testAccList.at(-1).toFixed(4)}`);
trainer.dispose();
net.dispose();
for (const t of [xTrain, tTrain, xTest, tTest]) t.dispose();
rt.dispose(); // stops the worker threads, if any started; the process may exit before they have
