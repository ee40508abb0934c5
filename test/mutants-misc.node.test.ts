// Node-only companions of mutants-misc.test.ts (session 64): what needs node:events to be seen.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { getEventListeners } from 'node:events';
import type { Runtime } from '../src/runtime/runtime.js';
import { MultiLayerNet } from '../src/index.js';
import { saveModel } from '../src/io/model.js';
import { loadModelAsync } from '../src/io/model-async.js';
import { makeRuntime } from './helpers/runtime.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 1 }); });
afterAll(async () => { await rt.dispose(); });

describe('loadModelAsync (model-async.ts)', () => {
  it("leaves no abort listener on the caller's signal: one a chunk was left behind (a signal kept for many loads gathered them)", async () => {
    const net = new MultiLayerNet(rt, { inputSize: 6, hiddenSizeList: [5], outputSize: 3 });
    const bytes = saveModel(net);
    net.dispose();
    const controller = new AbortController();
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < bytes.length; at += 16) yield bytes.subarray(at, at + 16);
    }
    const loaded = await loadModelAsync(rt, chunks(), { signal: controller.signal });
    loaded.net.dispose();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});
