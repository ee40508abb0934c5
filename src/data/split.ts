// A seeded, stratified train/test split. It uses its own small generator
// (mulberry32: 32-bit integer math, identical on every host) rather than the
// runtime's stream, so a data set's split never depends on the training seed.
import { badNumber, describeValue, shown } from '../runtime/tensor.js';

/** What stratifiedSplit returns: disjoint row indices, each class split in the same proportion. */
export interface Split {
  /** Row indices of each part, shuffled (classes interleaved). */
  train: Int32Array;
  /** Row indices of the test part (testCount of them). */
  test: Int32Array;
}

/** Uniform numbers in [0, 1) from a 32-bit seed (mulberry32; a number, taken modulo 2^32). */
export function seededRandom(seed: number): () => number {
  if (typeof seed !== 'number') throw new TypeError(`seededRandom: seed must be a number (a 32-bit seed), got ${describeValue(seed)}`);
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates in place. */
function shuffle(a: Int32Array, next: () => number): Int32Array {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = a[i]; a[i] = a[j]; a[j] = t;
  }
  return a;
}

/**
 * Splits rows into `testCount` test rows and the rest for training, keeping
 * each class's share: class c gets testCount·n_c/N test rows, rounded by
 * largest remainder (ties to the smaller label) so the quotas sum exactly.
 */
export function stratifiedSplit(labels: ArrayLike<number>, testCount: number, seed: number): Split {
  const N = labels !== null && typeof labels === 'object' ? labels.length : undefined;
  if (!(typeof N === 'number' && Number.isSafeInteger(N) && N >= 0)) {
    throw new TypeError(`stratifiedSplit: labels must be an array (or typed array) of class labels, got ${describeValue(labels)}`);
  }
  if (typeof testCount !== 'number') throw new TypeError(`stratifiedSplit: testCount must be an integer in [0, ${N}], got ${describeValue(testCount)}`);
  if (!(Number.isInteger(testCount) && testCount >= 0 && testCount <= N)) {
    throw new RangeError(`stratifiedSplit: testCount must be an integer in [0, ${N}], got ${testCount}`);
  }
  if (typeof seed !== 'number') throw new TypeError(`stratifiedSplit: seed must be a number (a 32-bit seed), got ${describeValue(seed)}`);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < N; i++) {
    const c = labels[i];
    if (!(typeof c === 'number' && Number.isInteger(c) && c >= 0)) {
      throw badNumber(c, `stratifiedSplit: labels[${i}] is ${shown(c)}, expected a non-negative integer`);
    }
    let rows = byClass.get(c);
    if (!rows) byClass.set(c, rows = []);
    rows.push(i);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  // integer arithmetic, so equal remainders compare equal
  const scaled = classes.map((c) => byClass.get(c)!.length * testCount);
  const quota = scaled.map((s) => Math.floor(s / N));
  const remainder = scaled.map((s) => s % N);
  let left = testCount - quota.reduce((a, b) => a + b, 0);
  const byRemainder = classes.map((_, i) => i).sort((i, j) => remainder[j] - remainder[i] || i - j);
  for (const i of byRemainder) {
    if (left === 0) break;
    quota[i]++;
    left--;
  }
  const next = seededRandom(seed);
  const train = new Int32Array(N - testCount);
  const test = new Int32Array(testCount);
  let nTrain = 0, nTest = 0;
  classes.forEach((c, i) => {
    const rows = shuffle(Int32Array.from(byClass.get(c)!), next);
    test.set(rows.subarray(0, quota[i]), nTest);
    train.set(rows.subarray(quota[i]), nTrain);
    nTest += quota[i];
    nTrain += rows.length - quota[i];
  });
  return { train: shuffle(train, next), test: shuffle(test, next) };
}
