// Targets checked at the Trainer's boundary, before anything is gathered or
// written: int labels are one per row, integers in [0, classes); one-hot rows
// are exactly `classes` wide and hold one 1 and zeros. A wrong shape would
// otherwise overflow the batch label buffer, and a float label be truncated.
import type { Targets } from '../layers/softmax-with-loss.js';
import type { Sequential } from '../nets/sequential.js';
import type { Runtime } from '../runtime/runtime.js';
import { IntTensor, Tensor, checkTensor } from '../runtime/tensor.js';

/**
 * The number of classes the net outputs: its output width (Sequential.outputColumns: from its last
 * Affine's W or a Convolution's filters through GlobalAveragePooling, else from one row of `xTrain` run
 * in inference mode). A net without a weight has nothing to learn the classes with and is refused.
 */
export function classesOf(net: Sequential, xTrain: Tensor): number {
  if (!net.layers.some((layer) => layer.params.W)) {
    throw new TypeError('Trainer: the network has no weight (no layer with a W, as Affine and Convolution have): it has nothing to learn the classes with');
  }
  return net.outputColumns(xTrain, 'Trainer', 'xTrain');
}

/**
 * Checks `t` (named `name`, a tensor on `rt` or an array) as targets for `rows` rows and `classes` classes.
 * Returns `t` unchanged; throws a TypeError/RangeError naming `name` otherwise.
 */
export function checkTargets(rt: Runtime, name: string, t: Targets, rows: number, classes: number): Targets {
  const where = `Trainer: ${name}`;
  if (t instanceof Tensor || t instanceof IntTensor) checkTensor(rt, t, where);
  if (t instanceof IntTensor) {
    if (t.shape.length !== 1 || t.shape[0] !== rows) {
      throw new RangeError(`${where} must be int labels of shape [${rows}], got [${t.shape.join(', ')}] (one-hot rows go in a float Tensor [${rows}, ${classes}])`);
    }
    checkLabels(where, t.data, classes);
  } else if (t instanceof Tensor) {
    if (t.shape.length !== 2 || t.shape[0] !== rows || t.shape[1] !== classes) {
      throw new RangeError(`${where} must be one-hot rows of shape [${rows}, ${classes}] (the net has ${classes} classes), got [${t.shape.join(', ')}]`);
    }
    const v = t.data;
    for (let r = 0; r < rows; r++) {
      let ones = 0;
      for (let c = 0; c < classes; c++) {
        const x = v[r * classes + c];
        if (x === 1) ones++;
        else if (x !== 0) throw new RangeError(`${where}[${r}][${c}] is ${x}: one-hot rows hold only 0 and 1`);
      }
      if (ones !== 1) throw new RangeError(`${where}[${r}] has ${ones} ones: a one-hot row has exactly one`);
    }
  } else {
    if (t === null || typeof t !== 'object' || typeof (t as ArrayLike<number>).length !== 'number') {
      throw new TypeError(`${where} must be an IntTensor, a one-hot Tensor or an array of int labels, got ${t === null ? 'null' : typeof t}`);
    }
    if (t.length !== rows) throw new RangeError(`${where} must hold ${rows} labels, got ${t.length}`);
    checkLabels(where, t, classes);
  }
  return t;
}

function checkLabels(where: string, v: ArrayLike<number>, classes: number): void {
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (!(typeof c === 'number' && Number.isInteger(c) && c >= 0 && c < classes)) {
      const shown = Array.isArray(c) ? JSON.stringify(c) + ' (nested one-hot arrays: use a Tensor [N, classes])' : String(c);
      throw new RangeError(`${where}[${i}] is ${shown}, expected an integer label in [0, ${classes})`);
    }
  }
}
