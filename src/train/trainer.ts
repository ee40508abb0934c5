// The book's Trainer: mini-batch training for a number of epochs, recording
// loss and accuracy. Batches are gathered by a kernel from a per-epoch seeded
// shuffle (the book samples with replacement; a permutation visits every
// sample once per epoch), so a training step allocates nothing.
import type { Targets } from '../layers/softmax-with-loss.js';
import { Buffers } from '../layers/buffers.js';
import type { Sequential } from '../nets/sequential.js';
import { createOptimizer } from '../optim/registry.js';
import type { Optimizer } from '../optim/optimizer.js';
import { IntTensor, Tensor } from '../runtime/tensor.js';

export interface TrainerOptions {
  epochs?: number;
  miniBatchSize?: number;
  /** An optimizer instance, or a name ('sgd', 'adam', …) built with optimizerParams. */
  optimizer?: Optimizer | string;
  optimizerParams?: Record<string, number>;
  /** Evaluate accuracy on only the first N samples of each set per epoch (null: all). */
  evaluateSampleNumPerEpoch?: number | null;
  /** Called after every step and at the end of every epoch. */
  onProgress?: (p: TrainerProgress) => void;
}

export interface TrainerProgress {
  kind: 'step' | 'epoch';
  epoch: number;
  /** Steps done so far, and in all. */
  iter: number;
  maxIter: number;
  /** Loss of the last step. */
  loss: number;
  /** Set at the end of an epoch. */
  record?: EpochRecord;
}

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAcc: number;
  testLoss: number;
  testAcc: number;
  seconds: number;
}

export interface TrainResult {
  epochs: EpochRecord[];
  /** Loss of every step. */
  trainLossList: number[];
  trainAccList: number[];
  testAccList: number[];
  steps: number;
  seconds: number;
}

const KEYS = new Set(['epochs', 'miniBatchSize', 'optimizer', 'optimizerParams', 'evaluateSampleNumPerEpoch', 'onProgress']);

export class Trainer {
  readonly optimizer: Optimizer;
  readonly epochs: number;
  readonly batchSize: number;
  readonly iterPerEpoch: number;
  readonly maxIter: number;
  private readonly buffers: Buffers;
  private readonly order: IntTensor;
  private readonly evalN: number | null;
  private readonly onProgress?: (p: TrainerProgress) => void;

  constructor(
    readonly network: Sequential,
    readonly xTrain: Tensor,
    readonly tTrain: Tensor | IntTensor,
    readonly xTest: Tensor,
    readonly tTest: Targets,
    options: TrainerOptions = {},
  ) {
    for (const key of Object.keys(options)) {
      if (!KEYS.has(key)) throw new TypeError(`Trainer: unknown option '${key}' (expected one of ${[...KEYS].join(', ')})`);
    }
    const { epochs = 20, miniBatchSize = 100, optimizer = 'sgd', optimizerParams = {}, evaluateSampleNumPerEpoch = null } = options;
    const N = xTrain.shape[0];
    if (!(Number.isInteger(epochs) && epochs >= 0)) throw new RangeError(`Trainer: epochs must be a non-negative integer, got ${epochs}`);
    if (!(Number.isInteger(miniBatchSize) && miniBatchSize > 0)) throw new RangeError(`Trainer: miniBatchSize must be a positive integer, got ${miniBatchSize}`);
    if (N === 0) throw new RangeError('Trainer: xTrain is empty');
    if (tTrain.shape[0] !== N) throw new RangeError(`Trainer: tTrain has ${tTrain.shape[0]} rows, xTrain has ${N}`);
    if (evaluateSampleNumPerEpoch !== null && !(Number.isInteger(evaluateSampleNumPerEpoch) && evaluateSampleNumPerEpoch > 0)) {
      throw new RangeError(`Trainer: evaluateSampleNumPerEpoch must be a positive integer or null, got ${evaluateSampleNumPerEpoch}`);
    }
    this.optimizer = typeof optimizer === 'string' ? createOptimizer(optimizer, optimizerParams) : optimizer;
    this.epochs = epochs;
    this.batchSize = Math.min(miniBatchSize, N);
    this.iterPerEpoch = Math.max(Math.floor(N / this.batchSize), 1);
    this.maxIter = epochs * this.iterPerEpoch;
    this.evalN = evaluateSampleNumPerEpoch;
    this.onProgress = options.onProgress;
    this.buffers = new Buffers(network.rt);
    this.order = network.rt.labels([N]);
  }

  /** Runs all epochs; throws (leaving the parameters as they were before the failing step) if training diverges. */
  train(): TrainResult {
    const rt = this.network.rt;
    const k = rt.unsafeKernels;
    const N = this.xTrain.shape[0];
    const rowLen = this.xTrain.size / N;
    const tRowLen = this.tTrain.size / N;
    const xb = this.buffers.get('x', [this.batchSize, ...this.xTrain.shape.slice(1)]);
    const tb = this.tTrain instanceof Tensor
      ? this.buffers.get('t', [this.batchSize, ...this.tTrain.shape.slice(1)])
      : this.buffers.labels('t', [this.batchSize]);
    const result: TrainResult = { epochs: [], trainLossList: [], trainAccList: [], testAccList: [], steps: 0, seconds: 0 };
    const start = now();
    let iter = 0;
    for (let epoch = 1; epoch <= this.epochs; epoch++) {
      const epochStart = now();
      k.shuffleIndices(this.order.ptr, N, rt.seed >>> 0, rt.take(N));
      let lossSum = 0;
      for (let b = 0; b < this.iterPerEpoch; b++) {
        const idx = this.order.ptr + b * this.batchSize * 4;
        k.gatherRows(xb.ptr, this.xTrain.ptr, idx, this.batchSize, rowLen);
        k.gatherRows(tb.ptr, this.tTrain.ptr, idx, this.batchSize, tRowLen);
        const loss = this.step(xb, tb, iter);
        lossSum += loss;
        result.trainLossList.push(loss);
        iter++;
        this.onProgress?.({ kind: 'step', epoch, iter, maxIter: this.maxIter, loss });
      }
      const record = this.evaluate(epoch, lossSum / this.iterPerEpoch, (now() - epochStart) / 1000);
      result.epochs.push(record);
      result.trainAccList.push(record.trainAcc);
      result.testAccList.push(record.testAcc);
      this.onProgress?.({ kind: 'epoch', epoch, iter, maxIter: this.maxIter, loss: result.trainLossList[iter - 1], record });
    }
    result.steps = iter;
    result.seconds = (now() - start) / 1000;
    return result;
  }

  /** One optimizer step on a batch; returns its loss. */
  step(x: Tensor, t: Targets, iter = 0): number {
    const grads = this.network.gradient(x, t);
    const k = this.network.rt.unsafeKernels;
    const set = this.network.parameterSet;
    const bad = set
      ? k.hasNonFinite(set.gradPtr, set.size) !== 0
      : Object.values(grads).some((g) => k.hasNonFinite(g.ptr, g.size) !== 0);
    if (bad || !Number.isFinite(this.network.lastLoss)) {
      throw new RangeError(`Trainer: step ${iter + 1} produced NaN/Inf ${bad ? 'gradients' : 'loss'}; parameters left unchanged (lower the learning rate)`);
    }
    this.optimizer.update(this.network.params, grads);
    return this.network.lastLoss;
  }

  private evaluate(epoch: number, trainLoss: number, seconds: number): EpochRecord {
    const n = this.evalN;
    const xTr = n === null ? this.xTrain : this.xTrain.rows(0, Math.min(n, this.xTrain.shape[0]));
    const tTr = n === null ? this.tTrain : this.tTrain.rows(0, xTr.shape[0]);
    const xTe = n === null ? this.xTest : this.xTest.rows(0, Math.min(n, this.xTest.shape[0]));
    const tTe = n === null ? this.tTest : sliceTargets(this.tTest, xTe.shape[0]);
    const tr = this.network.evaluate(xTr, tTr);
    const te = this.network.evaluate(xTe, tTe);
    return { epoch, trainLoss, trainAcc: tr.accuracy, testLoss: te.loss, testAcc: te.accuracy, seconds };
  }

  dispose(): void {
    this.buffers.dispose();
    this.order.dispose();
  }
}

function sliceTargets(t: Targets, n: number): Targets {
  if (t instanceof Tensor || t instanceof IntTensor) return t.rows(0, n);
  return Array.prototype.slice.call(t, 0, n) as number[];
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
