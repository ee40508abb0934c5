// Every optimizer trains the book's MultiLayerNet (784-[100×4]-10, ReLU, He
// init) on the bundled MNIST digits (loadMnist: 8,000 train / 2,000 test),
// chosen by name through the Trainer as the CLI does, with its default
// hyper-parameters and the book's mini-batch of 100.
import { describe, it, expect, beforeAll } from 'vitest';
import { createRuntime } from '../src/node/runtime.js';
import { loadMnist } from '../src/node/data.js';
import type { DataSet } from '../src/data/dataset.js';
import type { IntTensor } from '../src/runtime/tensor.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { MultiLayerNet, Trainer, optimizerNames, type OptimizerName, type TrainResult } from '../src/index.js';

let rt: Runtime;
let data: DataSet<IntTensor>;
beforeAll(async () => {
  rt = await createRuntime({ seed: 1 });
  data = await loadMnist(rt);
});

interface Run { before: number; after: number; result: TrainResult }

function train(name: OptimizerName, epochs: number): Run {
  rt.reseed(1);
  const net = new MultiLayerNet(rt, { inputSize: 784, hiddenSizeList: [100, 100, 100, 100], outputSize: 10, activation: 'relu', weightInitStd: 'he' });
  const before = net.evaluate(data.xTrain, data.tTrain).loss;
  const trainer = new Trainer(net, data.xTrain, data.tTrain, data.xTest, data.tTest, { epochs, miniBatchSize: 100, optimizer: name, optimizerParams: {} });
  const result = trainer.train();
  const after = net.evaluate(data.xTrain, data.tTrain).loss;
  trainer.dispose();
  net.dispose();
  return { before, after, result };
}

describe('optimizers on MNIST', () => {
  // One epoch (80 steps) each. Measured loss ratios after/before, seeds 1 and 2:
  // SGD(lr 0.01) 0.75-0.84, the others 0.10-0.23 (RMSprop the slowest).
  it.each(optimizerNames.filter((n) => n !== 'adam'))('%s lowers the training loss in one epoch', (name) => {
    const { before, after } = train(name, 1);
    expect(before).toBeGreaterThan(2); // about ln 10 for an untrained net
    expect(after / before).toBeLessThan(name === 'sgd' ? 0.9 : 0.3);
  });

  // Measured final test accuracy with this setting: 0.940-0.947 over seeds 1-4;
  // TF.js's tf.train.adam on the same net, data and batches gives 0.9425 and
  // 0.9535 (two seeds): with 8,000 training digits the net overfits (train
  // accuracy 0.98) and 0.95 is not reliably reached by any implementation, so
  // the bar is 0.93 — still far above SGD's 0.60 after one epoch.
  it('adam (lr 0.001) lowers the loss and reaches >= 0.93 test accuracy in 5 epochs', () => {
    const { before, after, result } = train('adam', 5);
    expect(after / before).toBeLessThan(0.1);
    expect(result.testAccList).toHaveLength(5);
    expect(result.testAccList[4]).toBeGreaterThanOrEqual(0.93);
  });
});
