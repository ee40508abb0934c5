// The context an experiment runs in: resolved options, progress, pauses that
// yield to the host, and reseeding so every run starts from the same stream.
import type { Experiment, ExperimentContext, ExperimentData, ExperimentOptions } from './types.js';
import { checkFlag, describeValue } from '../index.js';

const OPTION_KEYS = new Set(['rt', 'data', 'quick', 'seed', 'signal', 'onProgress', 'executor']);

/** Checks the options and makes the context of one run of `experiment`. */
export function createContext(experiment: Experiment, options: ExperimentOptions): ExperimentContext {
  if (options === null || typeof options !== 'object') throw new TypeError(`runExperiment: options must be an object, got ${String(options)}`);
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new TypeError(`runExperiment: unknown option '${key}' (expected one of ${[...OPTION_KEYS].join(', ')})`);
  }
  const { rt, data, quick = false, seed = 1, signal, onProgress, executor } = options;
  if (rt === null || typeof rt !== 'object' || typeof rt.reseed !== 'function') throw new TypeError('runExperiment: options.rt must be a Runtime (from createRuntime)');
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new RangeError(`runExperiment: seed must be an integer in [0, 2^32), got ${seed}`);
  checkFlag('runExperiment', 'quick', quick);
  if (signal !== undefined && !(typeof signal === 'object' && signal !== null && typeof signal.throwIfAborted === 'function')) throw new TypeError('runExperiment: signal must be an AbortSignal');
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError(`runExperiment: onProgress must be a function, got ${describeValue(onProgress)}`);
  if (experiment.needsData) {
    checkData(experiment.name, data);
    checkPixels(experiment.name, data);
  }
  let total = 0;
  let done = 0;
  return {
    rt,
    quick,
    seed,
    signal,
    executor,
    data() {
      checkData(experiment.name, data);
      return data;
    },
    plan(n) {
      total = n;
    },
    tick(n, phase) {
      done += n;
      onProgress?.({ experiment: experiment.name, done, total, phase });
    },
    async pause() {
      signal?.throwIfAborted();
      // other code runs meanwhile: its draws from the runtime's stream would change this experiment's bits
      const release = rt.holdStream(`runExperiment('${experiment.name}')`);
      try {
        await new Promise<void>((resolve) => setTimeout(resolve, 0));
      } finally {
        release();
      }
      signal?.throwIfAborted();
    },
    reseed() {
      rt.reseed(seed);
    },
  };
}

function checkData(name: string, data: ExperimentData | undefined): asserts data is ExperimentData {
  if (!data) throw new TypeError(`runExperiment('${name}'): options.data is required (the digits: loadMnist(rt) in Node)`);
  const { xTrain, tTrain, xTest, tTest } = data;
  if (xTrain?.shape?.length !== 2 || xTest?.shape?.length !== 2) {
    throw new RangeError(`runExperiment('${name}'): data.xTrain and data.xTest must be flattened rows [N, 784] (loadMnist's default)`);
  }
  for (const [part, x] of [['xTrain', xTrain], ['xTest', xTest]] as const) {
    if (x.shape[1] !== 784) throw new RangeError(`runExperiment('${name}'): data.${part} rows must hold 784 pixels (28 × 28), got ${x.shape[1]}`);
  }
  if (tTrain?.shape?.[0] !== xTrain.shape[0] || tTest?.shape?.[0] !== xTest.shape[0] || tTrain.shape.length !== 1 || tTest.shape.length !== 1) {
    throw new RangeError(`runExperiment('${name}'): data.tTrain/tTest must be int labels [N] matching the rows (loadMnist's default, oneHotLabel false)`);
  }
}

/**
 * Refuses pixels outside [0, 1] (raw 0…255 bytes, standardised values): every setting and conclusion
 * assumes loadMnist's normalised digits, and on raw bytes the nets saturate or diverge without a word.
 */
function checkPixels(name: string, data: ExperimentData): void {
  for (const part of ['xTrain', 'xTest'] as const) {
    const v = data[part].data;
    for (let i = 0; i < v.length; i++) {
      if (!(v[i] >= 0 && v[i] <= 1)) {
        throw new RangeError(`runExperiment('${name}'): options.data.${part} must hold pixels in [0, 1] (loadMnist's normalize, the default), got ${v[i]} in row ${Math.floor(i / 784)}`);
      }
    }
  }
}
