// From raw image bytes and labels to tensors on the runtime, as the book's
// load_mnist shapes them: normalize (pixel / 255), flatten (rows of 784, or
// [N, 1, 28, 28] images), oneHotLabel ([N, classes] rows, or int labels).
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { IntTensor, Tensor, describeValue, shown } from '../runtime/tensor.js';
import { checkFlag } from '../runtime/options.js';

/** Images as bytes, the way IDX files and the mnist package hold them. */
export interface RawImages {
  /** count · rows · cols pixel bytes, image after image, row-major. */
  pixels: Uint8Array;
  /** One class label per image. */
  labels: Uint8Array;
  rows: number;
  cols: number;
}

/** How the loaders turn IDX bytes into tensors; all optional. */
export interface TensorOptions {
  /** Scale pixels to [0, 1] (pixel × f32(1/255), within 1 ulp of pixel / 255); else 0…255. Default true. */
  normalize?: boolean;
  /** Images as rows of rows·cols values; else [N, 1, rows, cols]. Default true. */
  flatten?: boolean;
  /** Labels as one-hot rows [N, classes] (a Tensor); else int labels [N] (an IntTensor). Default false. */
  oneHotLabel?: boolean;
}

/** What the loaders return, like the book's (x_train, t_train), (x_test, t_test). */
export interface DataSet<T extends Tensor | IntTensor = Tensor | IntTensor> {
  xTrain: Tensor;
  tTrain: T;
  xTest: Tensor;
  tTest: T;
}

function count(images: RawImages, who: string): number {
  const { pixels, labels, rows, cols } = images;
  if (!(Number.isInteger(rows) && rows > 0 && Number.isInteger(cols) && cols > 0)) {
    throw new RangeError(`${who}: rows and cols must be positive integers, got ${rows} x ${cols}`);
  }
  if (pixels.length !== labels.length * rows * cols) {
    throw new RangeError(`${who}: ${labels.length} labels need ${labels.length * rows * cols} pixels of ${rows} x ${cols}, got ${pixels.length}`);
  }
  return labels.length;
}

/** The images as a float tensor: [N, rows·cols] when flattened, else [N, 1, rows, cols]. */
export function imagesTensor(rt: Runtime, images: RawImages, { normalize = true, flatten = true }: TensorOptions = {}): Tensor {
  checkFlag('imagesTensor', 'normalize', normalize);
  checkFlag('imagesTensor', 'flatten', flatten);
  const N = count(images, 'imagesTensor');
  const { rows, cols } = images;
  // the typed-array copy converts bytes to floats; the kernel scales in place
  const x = rt.tensor(flatten ? [N, rows * cols] : [N, 1, rows, cols], images.pixels);
  if (normalize) rt.unsafeKernels.scale(x.ptr, x.ptr, 1 / 255, x.size);
  return x;
}

/** Labels as one-hot rows [N, numClasses]; each label must be an integer in [0, numClasses). */
export function oneHot(rt: Runtime, labels: ArrayLike<number>, numClasses: number): Tensor {
  checkRuntime(rt, 'oneHot');
  if (typeof numClasses !== 'number') throw new TypeError(`oneHot: numClasses must be a positive integer, got ${describeValue(numClasses)}`);
  if (!(Number.isInteger(numClasses) && numClasses > 0)) throw new RangeError(`oneHot: numClasses must be a positive integer, got ${numClasses}`);
  const N = labels !== null && typeof labels === 'object' ? labels.length : undefined;
  if (!(typeof N === 'number' && Number.isSafeInteger(N) && N >= 0)) {
    throw new TypeError(`oneHot: labels must be an array (or typed array) of class labels, got ${describeValue(labels)}`);
  }
  // each label read once: the value checked is the value written
  const classes: number[] = [];
  for (let i = 0; i < N; i++) {
    const c = labels[i];
    if (!(typeof c === 'number' && Number.isInteger(c) && c >= 0 && c < numClasses)) {
      throw new (typeof c === 'number' ? RangeError : TypeError)(`oneHot: labels[${i}] is ${shown(c)}, expected an integer in [0, ${numClasses})`);
    }
    classes.push(c);
  }
  const t = rt.tensor([N, numClasses]);
  const data = t.data;
  for (let i = 0; i < N; i++) data[i * numClasses + classes[i]] = 1;
  return t;
}

/** The given rows, copied, in the given order. */
export function selectRows(images: RawImages, indices: ArrayLike<number>): RawImages {
  const N = count(images, 'selectRows');
  const size = images.rows * images.cols;
  const pixels = new Uint8Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r];
    if (!(Number.isInteger(i) && i >= 0 && i < N)) throw new RangeError(`selectRows: indices[${r}] is ${i}, expected an integer in [0, ${N})`);
    pixels.set(images.pixels.subarray(i * size, (i + 1) * size), r * size);
    labels[r] = images.labels[i];
  }
  return { pixels, labels, rows: images.rows, cols: images.cols };
}

/** The first `n` rows (all when n is undefined), as views (no copy). */
export function firstRows(images: RawImages, n: number | undefined, what = 'rows'): RawImages {
  const N = count(images, 'firstRows');
  if (n === undefined) return images;
  if (!(Number.isInteger(n) && n > 0)) throw new RangeError(`${what}: expected a positive integer, got ${describeValue(n)}`);
  const m = Math.min(n, N);
  return { ...images, pixels: images.pixels.subarray(0, m * images.rows * images.cols), labels: images.labels.subarray(0, m) };
}

/** Largest label + 1 (0 for no labels). */
export function classCount(...labelSets: Uint8Array[]): number {
  let max = -1;
  for (const labels of labelSets) for (const c of labels) if (c > max) max = c;
  return max + 1;
}

/**
 * Both parts as tensors on `rt`. One-hot rows are `numClasses` wide (default:
 * the largest label of either part + 1). On failure nothing stays allocated.
 */
export function toDataSet(rt: Runtime, train: RawImages, test: RawImages, options: TensorOptions & { numClasses?: number } = {}): DataSet {
  const { numClasses = classCount(train.labels, test.labels), ...tensorOptions } = options;
  if (options.oneHotLabel !== undefined) checkFlag('toDataSet', 'oneHotLabel', options.oneHotLabel);
  if (train.rows !== test.rows || train.cols !== test.cols) {
    throw new RangeError(`toDataSet: train images are ${train.rows} x ${train.cols}, test images ${test.rows} x ${test.cols}`);
  }
  const made: Array<Tensor | IntTensor> = [];
  const keep = <T extends Tensor | IntTensor>(t: T): T => { made.push(t); return t; };
  const labels = (l: Uint8Array) => (options.oneHotLabel ? oneHot(rt, l, numClasses) : rt.labels([l.length], l));
  try {
    return {
      xTrain: keep(imagesTensor(rt, train, tensorOptions)),
      tTrain: keep(labels(train.labels)),
      xTest: keep(imagesTensor(rt, test, tensorOptions)),
      tTest: keep(labels(test.labels)),
    };
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}
