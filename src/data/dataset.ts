// From raw image bytes and labels to tensors on the runtime, as the book's
// load_mnist shapes them: normalize (pixel / 255), flatten (rows of 784, or
// [N, 1, 28, 28] images), oneHotLabel ([N, classes] rows, or int labels).
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { badNumber, IntTensor, MAX_ELEMENTS, Tensor, describeValue, shown } from '../runtime/tensor.js';
import { checkFlag, checkOptions } from '../runtime/options.js';

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

// by tag: bytes made in another realm (an iframe, a vm context) or a Node Buffer are Uint8Arrays too
const isBytes = (v: unknown): v is Uint8Array => Object.prototype.toString.call(v) === '[object Uint8Array]';

const IMAGES_KEYS = new Set(['normalize', 'flatten', 'oneHotLabel']);
const DATA_SET_KEYS = new Set([...IMAGES_KEYS, 'numClasses']);

/**
 * `images` (the argument `what` of `who`) read once and checked, with its image count: what a helper
 * copies is what was checked (a getter is not asked again).
 */
function readImages(who: string, what: string, images: RawImages): RawImages & { count: number } {
  if (images === null || typeof images !== 'object') throw new TypeError(`${who}: ${what} must be { pixels, labels, rows, cols }, got ${describeValue(images)}`);
  const { pixels, labels, rows, cols } = images;
  for (const [field, v] of [['pixels', pixels], ['labels', labels]] as const) {
    if (!isBytes(v)) throw new TypeError(`${who}: ${what}.${field} must be a Uint8Array, got ${describeValue(v)}`);
  }
  const expected = `${who}: ${what}: rows and cols must be positive integers`;
  if (typeof rows !== 'number' || typeof cols !== 'number') throw new TypeError(`${expected}, got ${shown(rows)} x ${shown(cols)}`);
  if (!(Number.isInteger(rows) && rows > 0 && Number.isInteger(cols) && cols > 0)) throw new RangeError(`${expected}, got ${rows} x ${cols}`);
  // an image is a tensor's row even when there are no images
  if (rows * cols > MAX_ELEMENTS) {
    throw new RangeError(`${who}: ${what}: rows x cols = ${rows} x ${cols} is more than the ${MAX_ELEMENTS} pixels an image can hold (a tensor's most elements)`);
  }
  if (pixels.length !== labels.length * rows * cols) {
    throw new RangeError(`${who}: ${what}: ${labels.length} labels need ${labels.length * rows * cols} pixels of ${rows} x ${cols}, got ${pixels.length}`);
  }
  return { pixels, labels, rows, cols, count: labels.length };
}

/**
 * The images as a float tensor: [N, rows·cols] when flattened, else [N, 1, rows, cols]. Takes TensorOptions
 * (oneHotLabel, which concerns labels, is checked and has no effect); an unknown key is a TypeError.
 */
export function imagesTensor(rt: Runtime, images: RawImages, options: TensorOptions = {}): Tensor {
  checkRuntime(rt, 'imagesTensor');
  const { pixels, rows, cols, count: N } = readImages('imagesTensor', 'images', images);
  checkOptions('imagesTensor', options, IMAGES_KEYS);
  const { normalize = true, flatten = true, oneHotLabel } = options;
  checkFlag('imagesTensor', 'normalize', normalize);
  checkFlag('imagesTensor', 'flatten', flatten);
  if (oneHotLabel !== undefined) checkFlag('imagesTensor', 'oneHotLabel', oneHotLabel);
  // the typed-array copy converts bytes to floats; the kernel scales in place
  const x = rt.tensor(flatten ? [N, rows * cols] : [N, 1, rows, cols], pixels);
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
      throw badNumber(c, `oneHot: labels[${i}] is ${shown(c)}, expected an integer in [0, ${numClasses})`);
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
  const { pixels, labels, rows, cols, count: N } = readImages('selectRows', 'images', images);
  if (indices === null || typeof indices !== 'object' || !Number.isSafeInteger(indices.length)) {
    throw new TypeError(`selectRows: indices must be an array of row numbers, got ${describeValue(indices)}`);
  }
  // each index read once and checked before the copies are allocated
  const chosen: number[] = [];
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r];
    if (!(typeof i === 'number' && Number.isInteger(i) && i >= 0 && i < N)) {
      throw badNumber(i, `selectRows: indices[${r}] is ${shown(i)}, expected an integer in [0, ${N})`);
    }
    chosen.push(i);
  }
  const size = rows * cols;
  const picked = new Uint8Array(chosen.length * size);
  const pickedLabels = new Uint8Array(chosen.length);
  chosen.forEach((i, r) => {
    picked.set(pixels.subarray(i * size, (i + 1) * size), r * size);
    pickedLabels[r] = labels[i];
  });
  return { pixels: picked, labels: pickedLabels, rows, cols };
}

/** The first `n` rows (all when n is undefined), as views (no copy); `what` names n in errors. */
export function firstRows(images: RawImages, n: number | undefined, what = 'firstRows: n'): RawImages {
  const { pixels, labels, rows, cols, count: N } = readImages('firstRows', 'images', images);
  if (n === undefined) return images;
  if (typeof n !== 'number') throw new TypeError(`${what}: expected a positive integer, got ${describeValue(n)}`);
  if (!(Number.isInteger(n) && n > 0)) throw new RangeError(`${what}: expected a positive integer, got ${describeValue(n)}`);
  const m = Math.min(n, N);
  return { pixels: pixels.subarray(0, m * rows * cols), labels: labels.subarray(0, m), rows, cols };
}

/** Largest label + 1 (0 for no labels); each argument a Uint8Array of labels. */
export function classCount(...labelSets: Uint8Array[]): number {
  for (let i = 0; i < labelSets.length; i++) {
    if (!isBytes(labelSets[i])) throw new TypeError(`classCount: argument ${i + 1} must be a Uint8Array of labels, got ${describeValue(labelSets[i])}`);
  }
  let max = -1;
  for (const labels of labelSets) for (const c of labels) if (c > max) max = c;
  return max + 1;
}

/**
 * Both parts as tensors on `rt`. One-hot rows are `numClasses` wide (default:
 * the largest label of either part + 1). On failure nothing stays allocated.
 * An unknown option key is a TypeError.
 */
export function toDataSet(rt: Runtime, train: RawImages, test: RawImages, options: TensorOptions & { numClasses?: number } = {}): DataSet {
  checkRuntime(rt, 'toDataSet');
  const trainImages = readImages('toDataSet', 'train', train), testImages = readImages('toDataSet', 'test', test);
  checkOptions('toDataSet', options, DATA_SET_KEYS);
  const { numClasses = classCount(trainImages.labels, testImages.labels), oneHotLabel = false, ...imageOptions } = options;
  checkFlag('toDataSet', 'oneHotLabel', oneHotLabel);
  if (trainImages.rows !== testImages.rows || trainImages.cols !== testImages.cols) {
    throw new RangeError(`toDataSet: train images are ${trainImages.rows} x ${trainImages.cols}, test images ${testImages.rows} x ${testImages.cols}`);
  }
  const made: Array<Tensor | IntTensor> = [];
  const keep = <T extends Tensor | IntTensor>(t: T): T => { made.push(t); return t; };
  const labels = (l: Uint8Array) => (oneHotLabel ? oneHot(rt, l, numClasses) : rt.labels([l.length], l));
  try {
    return {
      xTrain: keep(imagesTensor(rt, trainImages, imageOptions)),
      tTrain: keep(labels(trainImages.labels)),
      xTest: keep(imagesTensor(rt, testImages, imageOptions)),
      tTest: keep(labels(testImages.labels)),
    };
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}
