// A DataSpec's `rows` beyond the rows given is refused, as a table's is: splitSearchData says so before it
// allocates anything (it took fewer rows, silently, and the study recorded the `rows` it asked for), and a search
// on the inline executor rejects with that message rather than recording failed trials.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { makeRuntime, randomArray, randomInts } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { IntTensor, Tensor } from '../src/runtime/tensor.js';
import { hyperparameterSearch, inlineExecutor, logUniform, splitSearchData, type DataSpec, type ScoredResult } from '../src/search/index.js';

let rt: Runtime;
let x: Tensor;
let t: IntTensor;
beforeAll(async () => {
  rt = await makeRuntime({ threads: 1 });
  // 30 rows of 4 features, 3 classes
  x = rt.tensor([30, 4], randomArray(120, 11));
  t = rt.labels([30], randomInts(30, 12, 3));
});
afterAll(async () => {
  x.dispose();
  t.dispose();
  await rt.dispose();
});

describe('splitSearchData', () => {
  it('refuses rows beyond the rows given, naming data.rows and both counts, with nothing allocated', () => {
    const used = rt.memoryStats().used;
    expect(() => splitSearchData(x, t, { rows: 31 })).toThrow(new RangeError('data.rows: 31 is more than the 30 rows given'));
    expect(() => splitSearchData(x, t, { rows: 1000, validation: 0.5 })).toThrow(/^data\.rows: 1000 is more than the 30 rows given$/);
    expect(rt.memoryStats().used).toBe(used);
  });

  it('takes exactly the rows given, and all of them without rows', () => {
    for (const spec of [{ rows: 30 }, {}] as DataSpec[]) {
      const d = splitSearchData(x, t, spec);
      try {
        expect(d.xTrain.shape[0] + d.xVal.shape[0]).toBe(30);
      } finally {
        d.dispose!();
      }
    }
  });
});

describe('a search whose data.rows is beyond the rows', () => {
  it('rejects with the refusal on the inline executor: no trial recorded, none failed', async () => {
    const seen: ScoredResult[] = [];
    const executor = inlineExecutor(rt, (_rt, spec) => splitSearchData(x, t, spec));
    try {
      await expect(hyperparameterSearch({
        space: { lr: logUniform(0.01, 0.1), hidden: [4], batchSize: 8 }, trials: 3, epochs: 1, seed: 2,
        data: { rows: 40, validation: 0.25, splitSeed: 1 }, executor, onResult: (r) => seen.push(r),
      })).rejects.toThrow(/^data\.rows: 40 is more than the 30 rows given$/);
    } finally {
      await executor.close();
    }
    expect(seen).toEqual([]);
  });
});
