// AlexNet's layer stack for 3×224×224 input, as torchvision's definition:
// features  Conv(64, 11, stride 4, pad 2) ReLU MaxPool(3, 2)
//           Conv(192, 5, pad 2) ReLU MaxPool(3, 2)
//           Conv(384, 3, pad 1) ReLU Conv(256, 3, pad 1) ReLU Conv(256, 3, pad 1) ReLU MaxPool(3, 2)
// classifier Dropout Linear(9216, 4096) ReLU Dropout Linear(4096, 4096) ReLU Linear(4096, numClasses)
// (torchvision's adaptive 6×6 average pool is the identity at 224×224 and is
// left out). He-normal weights, zero biases; 61,100,840 parameters for 1000
// classes. Keys W1/b1 … W8/b8.
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { checkOptions } from '../runtime/options.js';
import { Sequential } from './sequential.js';
import { buildStack } from './conv-stack.js';
import { checkClassWeights, checkLabelSmoothing } from '../layers/softmax-with-loss.js';

/** Options of alexNet (an unknown key is a TypeError). */
export interface AlexNetOptions {
  /** Classes (width of the last Affine layer); default 1000. */
  numClasses?: number;
  /** Drop ratio of the classifier's two Dropout layers; default 0.5. */
  dropout?: number;
  /** Label smoothing ε in [0, 1] of the net's loss (PyTorch's and Keras's `label_smoothing`): targets t·(1 − ε) + ε/classes; default 0. */
  labelSmoothing?: number;
  /** One weight per class of the net's loss, finite, ≥ 0, not all 0 (PyTorch's `CrossEntropyLoss(weight)`, Keras's `class_weight`; SoftmaxWithLossOptions.classWeights); default none. */
  classWeights?: readonly number[] | Float32Array | Float64Array;
}

const KEYS = new Set(['numClasses', 'dropout', 'labelSmoothing', 'classWeights']);

/**
 * AlexNet's layer stack for [N, 3, 224, 224] input (torchvision's, without the adaptive pool):
 * He-normal weights, zero biases, keys W1/b1 … W8/b8 (61,100,840 parameters for 1000 classes).
 * The caller owns the net (dispose() frees it and its parameters).
 * @throws TypeError on an unknown option, a numClasses, dropout or labelSmoothing that is not a number or classWeights
 * that are not an array of numbers; RangeError on a bad numClasses, dropout, labelSmoothing or weight, classWeights not
 * numClasses long, or when the runtime's memory cannot hold the parameters.
 */
export function alexNet(rt: Runtime, options: AlexNetOptions = {}): Sequential {
  checkRuntime(rt, 'alexNet');
  checkOptions('alexNet', options, KEYS);
  // read once; buildStack checks them (a TypeError for what is not a number, naming alexNet and the option)
  const { numClasses = 1000, dropout = 0.5, labelSmoothing = 0, classWeights: givenWeights } = options;
  checkLabelSmoothing('alexNet', labelSmoothing); // before the parameters are allocated
  // their count against numClasses once buildStack could take it (else buildStack names numClasses)
  const classes = Number.isInteger(numClasses) && numClasses > 0 ? numClasses : undefined;
  const classWeights = givenWeights === undefined ? undefined : checkClassWeights('alexNet', givenWeights, classes, `numClasses ${classes}`);
  const { layers, parameterSet } = buildStack(rt, 'alexNet', [3, 224, 224], [
    { kind: 'conv', filterNum: 64, filterSize: 11, stride: 4, pad: 2 }, { kind: 'relu' }, { kind: 'pool', size: 3, stride: 2 },
    { kind: 'conv', filterNum: 192, filterSize: 5, pad: 2 }, { kind: 'relu' }, { kind: 'pool', size: 3, stride: 2 },
    { kind: 'conv', filterNum: 384, filterSize: 3, pad: 1 }, { kind: 'relu' },
    { kind: 'conv', filterNum: 256, filterSize: 3, pad: 1 }, { kind: 'relu' },
    { kind: 'conv', filterNum: 256, filterSize: 3, pad: 1 }, { kind: 'relu' }, { kind: 'pool', size: 3, stride: 2 },
    { kind: 'flatten' },
    { kind: 'dropout', ratio: dropout, option: 'dropout' }, { kind: 'affine', size: 4096 }, { kind: 'relu' },
    { kind: 'dropout', ratio: dropout, option: 'dropout' }, { kind: 'affine', size: 4096 }, { kind: 'relu' },
    { kind: 'affine', size: numClasses, option: 'numClasses' },
  ], 'he');
  return new Sequential(rt, layers, { parameterSet, evalBatchSize: 100, inputShape: [3, 224, 224], labelSmoothing, ...(classWeights && { classWeights }) });
}
