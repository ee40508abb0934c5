// The runtime facade: wasm sources, options, features, tensors on the linear
// memory (views, growth, dispose), the allocator and the random stream.
import { describe, it, expect, beforeAll } from 'vitest';
import { createRuntime, type Runtime, type RuntimeOptions } from '../src/runtime/runtime.js';
import { host, makeRuntime, wasmBytes, wasmModule, randomArray } from './helpers/runtime.js';

const PAGE = 65536;

/** Proves a runtime's kernels run on its memory: ReLU of a small vector. */
function expectWorking(rt: Runtime): void {
  const x = rt.tensor([5], [-2, -0.5, 0, 0.5, 2]);
  const y = rt.tensor([5]);
  rt.unsafeKernels.reluForward(y.ptr, x.ptr, 5);
  expect(Array.from(y.data)).toEqual([0, 0, 0, 0.5, 2]);
}

describe('createRuntime sources', () => {
  it('compiles from bytes (Uint8Array and ArrayBuffer)', async () => {
    const bytes = await wasmBytes();
    expectWorking(await createRuntime({ wasm: bytes }));
    expectWorking(await createRuntime({ wasm: bytes.buffer }));
  });

  it('accepts a compiled WebAssembly.Module (hosts that forbid compiling), one memory per runtime', async () => {
    const module = await wasmModule();
    const a = await createRuntime({ wasm: module });
    const b = await createRuntime({ wasm: module });
    expect(a.module).toBe(module);
    expect(a.memory).not.toBe(b.memory);
    expectWorking(a);
    expectWorking(b);
  });

  it('compiles from a Response, streaming (application/wasm) or not, and from a promised Response', async () => {
    const bytes = await wasmBytes();
    expectWorking(await createRuntime({ wasm: new Response(bytes, { headers: { 'content-type': 'application/wasm' } }) }));
    expectWorking(await createRuntime({ wasm: new Response(bytes) }));
    expectWorking(await createRuntime({ wasm: Promise.resolve(new Response(bytes)) }));
  });

  it('rejects a failed Response and a source of the wrong kind', async () => {
    await expect(createRuntime({ wasm: new Response('missing', { status: 404 }) })).rejects.toThrow(/^options\.wasm: the response failed with HTTP 404$/);
    await expect(createRuntime({ wasm: 42 as unknown as BufferSource })).rejects.toThrow(/options\.wasm: expected bytes, a WebAssembly\.Module, a Response or a URL, got \[object Number\]/);
  });

  it('names the option whose bytes do not compile or whose URL cannot be fetched', async () => {
    const notWasm = /^options\.wasm: not a WebAssembly module this host can compile \(.+\)$/;
    await expect(createRuntime({ wasm: new Uint8Array([0, 0x61, 0x73, 0x6d]) })).rejects.toThrow(notWasm);
    await expect(createRuntime({ wasm: new Response(new Uint8Array([1, 2, 3])) })).rejects.toThrow(notWasm);
    await expect(createRuntime({ wasm: new Response(new Uint8Array([1, 2, 3]), { headers: { 'content-type': 'application/wasm' } }) })).rejects.toThrow(notWasm);
    await expect(createRuntime({ wasm: 'http://[' })).rejects.toThrow(/^options\.wasm: fetching http:\/\/\[ failed \(.+\)$/);
  });

  it('names the option given a module that is not a simdnn build, or the build for the other kind of memory', async () => {
    // an empty module, and one that imports a memory but exports nothing of ours
    const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const importsMemory = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 2, 0x0f, 1, 3, 0x65, 0x6e, 0x76, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 0, 1]);
    const foreign = /^options\.wasm: not a simdnn build \(it lacks the exports heapBase, gemmTileRows, gemmWorkspaceBytes, softmaxForward\); pass one of the package's wasm builds/;
    await expect(createRuntime({ wasm: empty, threads: 1 })).rejects.toThrow(foreign);
    await expect(createRuntime({ wasm: await WebAssembly.compile(importsMemory), threads: 1 })).rejects.toThrow(foreign);
    await expect(createRuntime({ wasm: await wasmModule('shared'), threads: 1 }))
      .rejects.toThrow(/^options\.wasm: the wrong build for it \(.+\): one thread needs a build on unshared memory \(simdnn\.wasm/);
    // threads: on Node's worker_threads or a page's Web Workers
    await expect(makeRuntime({ sharedWasm: await wasmModule('plain'), threads: 2 }))
      .rejects.toThrow(/^options\.sharedWasm: the wrong build for it \(.+\): threads need a build on shared memory \(simdnn-shared\.wasm/);
    await expect(makeRuntime({ sharedWasm: empty, threads: 2 })).rejects.toThrow(/^options\.sharedWasm: not a simdnn build/);
  });

  it("says what works where the host's fetch cannot read a file: URL (Node's), given or the default build; a page fetches the default", async () => {
    if (host === 'browser') {
      expectWorking(await createRuntime());
      return;
    }
    const url = new URL('../build/simdnn.wasm', import.meta.url);
    const hint = "; this host's fetch cannot read file: URLs: pass the bytes, or in Node import 'simdnn' by its package name (its node entry reads the builds from disk)";
    const escaped = hint.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await expect(createRuntime({ wasm: url })).rejects.toThrow(new RegExp(`^options\\.wasm: fetching file:.*simdnn\\.wasm failed \\(.+\\)${escaped}$`));
    await expect(createRuntime()).rejects.toThrow(new RegExp(`^options\\.wasm not given, the default build: fetching file:.*simdnn\\.wasm failed \\(.+\\)${escaped}$`));
  });
});

describe('createRuntime options', () => {
  it('names an unknown option and lists the valid ones; refuses options that are not an object, and a relaxed that is not a boolean', async () => {
    await expect(makeRuntime({ sed: 1 } as RuntimeOptions)).rejects.toThrow(/createRuntime: unknown option 'sed' \(expected one of wasm, relaxedWasm, relaxed, seed, memory\b.*\)/);
    for (const [options, got] of [[null, 'null'], [5, 'number'], ['fast', 'string']] as const) {
      await expect(createRuntime(options as unknown as RuntimeOptions)).rejects.toThrow(new RegExp(`^createRuntime: options must be an object, got ${got}$`));
    }
    await expect(makeRuntime({ relaxed: 'yes' } as unknown as RuntimeOptions)).rejects.toThrow(/^options\.relaxed: expected true or false, got "yes"$/);
  });

  it('rejects a seed that is not an integer in [0, 2^32)', async () => {
    for (const seed of [-1, 1.5, 2 ** 32, Number.NaN]) {
      await expect(makeRuntime({ seed }), `seed ${seed}`).rejects.toThrow(/seed: expected an integer in \[0, 2\^32\)/);
    }
    expect((await makeRuntime({ seed: 2 ** 32 - 1 })).seed).toBe(2 ** 32 - 1);
    // a string that prints as a number is named as a string
    await expect(makeRuntime({ seed: '1' } as unknown as RuntimeOptions)).rejects.toThrow(/^seed: expected an integer in \[0, 2\^32\), got the string "1"$/);
  });

  it('says when maxThreads caps the threads asked for', async () => {
    const rt = await makeRuntime({ threads: 2, maxThreads: 1 });
    expect(rt.features.notes).toContain('threads: 2 requested, maxThreads is 1; running on 1');
    expect(rt.features.threads).toBe(1);
    rt.dispose();
  });

  it('refuses a randomState that is not { seed, counter }, naming it', async () => {
    const rt = await makeRuntime();
    const state = rt.randomState;
    for (const bad of [null, 5, 'x']) expect(() => { rt.randomState = bad as never; }).toThrow(/^randomState: expected \{ seed, counter \}/);
    expect(() => { rt.randomState = { seed: 1, counter: Symbol('c') } as never; }).toThrow(/^randomState\.counter: expected a non-negative safe integer, got Symbol\(c\)$/);
    expect(rt.randomState).toEqual(state);
    rt.dispose();
  });

  it('rejects memory sizes outside 1 <= initial <= maximum <= 65536 pages', async () => {
    for (const memory of [{ initial: 0 }, { initial: 8, maximum: 4 }, { maximum: 65537 }, { initial: 2.5 }]) {
      await expect(makeRuntime({ memory }), JSON.stringify(memory)).rejects.toThrow(/options\.memory: expected integers 1 <= initial <= maximum <= 65536/);
    }
  });

  it('refuses a memory option that is not { initial?, maximum? } of numbers, rather than using the defaults (a cap meant would be lost)', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ max: 10 }, /^options\.memory: unknown key 'max' \(expected initial, maximum: 64 KiB pages\)$/],
      [5, /^options\.memory: expected \{ initial\?, maximum\? \} in 64 KiB pages, got number 5$/],
      ['big', /^options\.memory: expected \{ initial\?, maximum\? \} in 64 KiB pages, got the string "big"$/],
      [null, /^options\.memory: expected .*, got null$/],
      [{ maximum: '20' }, /^options\.memory\.maximum: expected a number of 64 KiB pages, got the string "20"$/],
    ];
    for (const [memory, message] of cases) await expect(makeRuntime({ memory } as RuntimeOptions), String(memory)).rejects.toThrow(message);
  });

  it('refuses a threadHost that is not one, naming the option', async () => {
    for (const threadHost of [5, {}, { cores: () => 2 }]) {
      await expect(makeRuntime({ threads: 2, threadHost } as unknown as RuntimeOptions)).rejects.toThrow(/^options\.threadHost: expected \{ cores\(\), spawn\(body, init, options\) \} \(a ThreadHost\), got /);
    }
  });

  it('by default, a memory.maximum too small for the lazy pool\'s scratch keeps one thread and says so (it does not fail)', async () => {
    // two cores and a pool never started: deferring it only reserves its scratch
    const threadHost = { cores: () => 2, spawn: () => { throw new Error('not started'); } };
    const shared = host === 'node' ? {} : { sharedWasm: await wasmModule('shared') };
    const rt = await makeRuntime({ threads: undefined, threadHost, memory: { initial: 1, maximum: 20 }, ...shared });
    expect(rt.features.notes.join('\n')).toMatch(/threads: the pool's scratch \(2 parts\) does not fit options\.memory\.maximum \(20 pages\); running on 1 thread/);
    expect(rt.splitThreads).toBe(1);
    const a = rt.tensor([2, 2], [1, 2, 3, 4]), c = rt.tensor([2, 2]);
    rt.unsafeGemm(0, 0, 2, 2, 2, a.ptr, 2, a.ptr, 2, c.ptr, 2);
    expect(Array.from(c.toArray())).toEqual([7, 10, 15, 22]);
    rt.dispose();
    // with room for it, the same runtime plans the pool
    const roomy = await makeRuntime({ threads: undefined, threadHost, memory: { initial: 1, maximum: 200 }, ...shared });
    expect(roomy.splitThreads).toBe(2);
    roomy.dispose();
  });

  it('reports the features in use; plain SIMD by default', async () => {
    const rt = await makeRuntime();
    expect(rt.features).toMatchObject({ simd: true, relaxed: false, sharedMemory: true, notes: [] });
    // the browser project serves COOP/COEP, so the page is isolated and SharedArrayBuffer exists
    if (host === 'browser') expect(globalThis.crossOriginIsolated).toBe(true);
  });

  it('uses relaxed SIMD where the host validates it, and otherwise says why it fell back', async () => {
    const accepted = WebAssembly.validate(await wasmBytes('relaxed'));
    if (host === 'browser') expect(accepted, 'Chromium runs relaxed SIMD without a flag').toBe(true);
    else {
      // Node 20 (V8 11.3) runs relaxed SIMD only behind a flag; later Node versions ship it
      const major = Number(process.versions.node.split('.')[0]);
      expect(accepted).toBe(major > 20 || process.execArgv.includes('--experimental-wasm-relaxed-simd'));
    }
    const rt = await makeRuntime({ relaxed: true });
    expect(rt.features.relaxed).toBe(accepted);
    if (accepted) expect(rt.features.notes).toEqual([]);
    else expect(rt.features.notes).toEqual([expect.stringMatching(/relaxed SIMD requested but this host rejects it .*using the plain SIMD build/)]);
    expectWorking(rt);
  });
});

describe('tensors', () => {
  let rt: Runtime;
  beforeAll(async () => { rt = await makeRuntime(); });

  it('creates zero-filled or copied tensors and int32 label tensors', () => {
    const z = rt.tensor([2, 3]);
    expect(z.shape).toEqual([2, 3]);
    expect(z.size).toBe(6);
    expect(Array.from(z.data)).toEqual([0, 0, 0, 0, 0, 0]);
    const t = rt.tensor([3], [1.5, -2, 3]);
    expect(Array.from(t.data)).toEqual([1.5, -2, 3]);
    const copy = t.toArray();
    copy[0] = 99;
    expect(t.data[0]).toBe(1.5);
    const labels = rt.labels(3, [2, 0, 1]);
    expect(labels.data).toBeInstanceOf(Int32Array);
    expect(Array.from(labels.toArray())).toEqual([2, 0, 1]);
    expect(rt.tensor([0, 4]).size).toBe(0);
  });

  it('rejects bad shapes and data of the wrong length without allocating', () => {
    const before = rt.memoryStats();
    expect(() => rt.tensor([2, -1])).toThrow(/tensor: dimensions must be non-negative integers, got \[2, -1\]/);
    expect(() => rt.tensor([2.5])).toThrow(/tensor: dimensions must be non-negative integers/);
    expect(() => rt.tensor([2, 3], [1, 2, 3, 4, 5])).toThrow(/tensor: shape \[2, 3\] needs 6 values, got 5/);
    expect(() => rt.labels([4], [1, 2])).toThrow(/labels: shape \[4\] needs 4 values, got 2/);
    expect(() => rt.labels([Number.NaN])).toThrow(/labels: dimensions must be non-negative integers/);
    // values an Int32Array would change silently, or a plain array's non-numbers
    for (const [data, message] of [
      [[0, 0.5], /^labels: data\[1\] = 0.5 is not a 32-bit integer$/], [[Number.NaN, 1], /data\[0\] = NaN is not/],
      [[2 ** 32 + 1, 1], /data\[0\] = 4294967297 is not/], [[1, -(2 ** 31) - 1], /data\[1\] = -2147483649 is not/],
      [new Float32Array([1, 1.5]), /data\[1\] = 1.5 is not/], [new Uint32Array([2 ** 31, 0]), /data\[0\] = 2147483648 is not/],
      [['1', 2], /^labels: data\[0\] is the string "1", not a number$/], [[1, undefined], /data\[1\] is undefined, not a number/],
    ] as const) {
      expect(() => rt.labels([2], data as ArrayLike<number>), String(data)).toThrow(message);
    }
    for (const [data, values] of [[[-(2 ** 31), 2 ** 31 - 1, -0], [-(2 ** 31), 2 ** 31 - 1, 0]], [new Uint8Array([255, 7, 0]), [255, 7, 0]]] as const) {
      const labels = rt.labels([3], data);
      expect(Array.from(labels.data)).toEqual(values);
      labels.dispose();
    }
    for (const [data, message] of [
      [['1', 2], /^tensor: data\[0\] is the string "1", not a number$/], [[[1, 2], [3, 4]], /^tensor: data\[0\] is an Array of length 2, not a number \(pass the values flat, row after row\)$/],
      [[1, null], /data\[1\] is null, not a number/], [[1n, 2n], /data\[0\] is bigint 1, not a number/], [new BigInt64Array(2), /^tensor: data holds BigInts; pass numbers$/],
    ] as const) {
      expect(() => rt.tensor([2], data as unknown as ArrayLike<number>), String(data)).toThrow(message);
    }
    const wild = rt.tensor([2], [Number.NaN, -Infinity]);
    expect(Array.from(wild.data)).toEqual([Number.NaN, -Infinity]);
    wild.dispose();
    const t = rt.tensor([2, 2]);
    expect(() => t.set([1, 2, 3])).toThrow(/Tensor\.set: expected 4 values for shape \[2, 2\], got 3/);
    // set checks its values as rt.tensor and rt.labels do, writing nothing on a refusal ('1' was written as 1, a row as NaN)
    t.set([5, 6, 7, 8]);
    for (const [data, message] of [
      [['1', 2, 3, 4], /^Tensor\.set: data\[0\] is the string "1", not a number$/], [[1, 2, 3, [4]], /data\[3\] is an Array of length 1, not a number/],
      [new BigInt64Array(4), /^Tensor\.set: data holds BigInts; pass numbers$/],
    ] as const) {
      expect(() => t.set(data as unknown as ArrayLike<number>), String(data)).toThrow(message);
    }
    expect(Array.from(t.data)).toEqual([5, 6, 7, 8]);
    const l = rt.labels([2]);
    expect(() => l.set([1, 0.5])).toThrow(/^Tensor\.set: data\[1\] = 0.5 is not a 32-bit integer$/);
    // a value read once: a getter that turns into a string after the check is not asked again
    const flaky = [1, 2, 3, 4];
    let reads = 0;
    Object.defineProperty(flaky, 0, { get: () => (reads++ === 0 ? 9 : 'x'), enumerable: true });
    t.set(flaky);
    expect([Array.from(t.data), reads]).toEqual([[9, 2, 3, 4], 1]);
    t.dispose();
    l.dispose();
    const after = rt.memoryStats();
    expect({ used: after.used, blocks: after.blocks }).toEqual({ used: before.used, blocks: before.blocks });
  });

  it('keeps Tensor.data valid after the memory grows', () => {
    const values = randomArray(1000, 7);
    const old = rt.tensor([1000], values);
    const staleView = old.data;
    const bytesBefore = rt.memory.buffer.byteLength;
    // bigger than the whole current memory, so memory.grow must run
    const big = rt.tensor([bytesBefore / 4 + 1024]);
    expect(rt.memory.buffer.byteLength).toBeGreaterThan(bytesBefore);
    expect(staleView.length, 'growth detaches earlier views').toBe(0);
    expect(old.data).toEqual(values);
    // kernels still see the old tensor where it was
    const y = rt.tensor([1000]);
    rt.unsafeKernels.scale(y.ptr, old.ptr, 2, 1000);
    expect(y.data).toEqual(values.map((v) => 2 * v));
    big.data[big.size - 1] = 5;
    expect(big.data[big.size - 1]).toBe(5);
    expect(rt.memoryStats().memoryBytes).toBe(rt.memory.buffer.byteLength);
    for (const t of [old, big, y]) t.dispose();
  });

  it('disposes: data access then fails, a second dispose is a no-op, the space is reused', () => {
    const before = rt.memoryStats();
    const t = rt.tensor([100]);
    const ptr = t.ptr;
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(() => t.data).toThrow(/used after dispose/);
    t.dispose();
    expect(rt.memoryStats()).toEqual(before);
    const again = rt.tensor([100]);
    expect(again.ptr).toBe(ptr);
    again.dispose();
    expect(() => rt.free(ptr)).toThrow(new RegExp(`free: ${ptr} is not a live allocation`));
  });

  it('gives rows() and reshape() views that share memory and do not own it', () => {
    const x = rt.tensor([4, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const mid = x.rows(1, 3);
    expect(mid.shape).toEqual([2, 3]);
    expect(mid.ptr).toBe(x.ptr + 3 * 4);
    expect(Array.from(mid.data)).toEqual([3, 4, 5, 6, 7, 8]);
    mid.data[0] = -3;
    expect(x.data[3]).toBe(-3);
    expect(x.rows(4, 4).size).toBe(0);
    const flat = x.reshape([2, 6]);
    expect(flat.ptr).toBe(x.ptr);
    expect(flat.data[3]).toBe(-3);
    const stats = rt.memoryStats();
    mid.dispose();
    flat.dispose();
    expect(rt.memoryStats(), 'disposing a view frees nothing').toEqual(stats);
    expect(x.data[11]).toBe(11);
    expect(() => x.rows(2, 1)).toThrow(/rows\(2, 1\): expected 0 <= start <= end <= 4/);
    expect(() => x.rows(0, 5)).toThrow(/rows\(0, 5\): expected 0 <= start <= end <= 4/);
    expect(() => x.reshape([5, 2])).toThrow(/reshape: \[4, 3\] has 12 elements, \[5, 2\] has 10/);
    const labels = rt.labels(4, [3, 1, 4, 1]);
    expect(Array.from(labels.rows(1, 3).data)).toEqual([1, 4]);
    x.dispose();
    labels.dispose();
  });
});

describe('allocator', () => {
  it('counts live blocks and bytes, aligns to 64 bytes, and coalesces freed neighbours', async () => {
    const rt = await makeRuntime();
    const s0 = rt.memoryStats();
    expect(s0.blocks).toBe(1); // the GEMM workspace
    expect(s0.used).toBe(Math.ceil(rt.unsafeKernels.gemmWorkspaceBytes() / 64) * 64);
    const a = rt.tensor([10]); // 40 bytes -> one 64-byte block
    const b = rt.tensor([17]); // 68 bytes -> 128
    const c = rt.tensor([1]);
    for (const t of [a, b, c]) expect(t.ptr % 64).toBe(0);
    const s1 = rt.memoryStats();
    expect(s1.blocks).toBe(s0.blocks + 3);
    expect(s1.used).toBe(s0.used + 64 + 128 + 64);
    // createRuntime's known-answer check freed its blocks below the top: new blocks may sit there
    expect(s1.top).toBe(Math.max(s0.top, c.ptr + 64));
    b.dispose();
    a.dispose();
    // a and b merged into one 192-byte span at a's address
    const ab = rt.tensor([48]);
    expect(ab.ptr).toBe(a.ptr);
    expect(rt.memoryStats().top).toBe(s1.top);
    ab.dispose();
    c.dispose();
    expect(rt.memoryStats().used).toBe(s0.used);
    expect(rt.memoryStats().blocks).toBe(s0.blocks);
  });

  it('fails with a clear out-of-memory error at options.memory.maximum and stays usable', async () => {
    const rt = await makeRuntime({ memory: { initial: 32, maximum: 40 } });
    const before = rt.memoryStats();
    expect(() => rt.tensor([1 << 20])).toThrow(
      /^out of memory: a 4194304-byte allocation needs the memory to reach \d+ bytes \(\d\.\d MiB\), past its maximum of 2621440 bytes \(2\.5 MiB\) \(options\.memory\.maximum\); no free block holds it, and \d+ bytes \(\d+\.\d MiB\) are in use in \d+ blocks$/);
    expect(rt.memoryStats()).toEqual(before);
    expect(rt.memory.buffer.byteLength).toBe(32 * PAGE);
    // what fits still allocates, growing within the maximum: this one ends at page 36
    const t = rt.tensor([Math.floor((36 * PAGE - before.top) / 4)]);
    expect(rt.memory.buffer.byteLength).toBeGreaterThan(32 * PAGE);
    expect(rt.memory.buffer.byteLength).toBeLessThanOrEqual(40 * PAGE);
    t.data.fill(1);
    expectWorking(rt);
  });

  it('an allocation that fails while a free span ends at the top leaves the allocator as it was', async () => {
    const rt = await makeRuntime({ memory: { initial: 32, maximum: 40 } });
    rt.tensor([1000]);
    const b = rt.tensor([1000]);
    const ptr = b.ptr;
    b.dispose(); // a free span that ends at the top
    const before = rt.memoryStats();
    expect(() => rt.tensor([1 << 20])).toThrow(/out of memory: a 4194304-byte allocation/);
    expect(rt.memoryStats()).toEqual(before);
    // the span is still free and first in line
    expect(rt.tensor([1000]).ptr).toBe(ptr);
    expect(rt.memoryStats().top).toBe(before.top);
  });
});

describe('split calls (runParts, partScratch)', () => {
  it('runs a kernel once per part, in order on one thread, with the arguments each part wrote', async () => {
    const rt = await makeRuntime();
    const y = rt.tensor([10]);
    // fill(y + 4·p·2, p + 1, 2) for parts 0..4
    rt.runParts('fill', 5, (p, args) => args(y.ptr + 8 * p, p + 1, 2));
    expect(Array.from(y.data)).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    expect(() => rt.runParts('fill', 0, () => {})).toThrow(/runParts\(fill\): parts must be an integer in \[1, 64\], got 0/);
    expect(() => rt.runParts('fill', 65, () => {})).toThrow(/got 65/);
  });

  it('keeps one scratch region per part, grown only when a call needs more', async () => {
    const rt = await makeRuntime();
    const a = rt.partScratch(3, 1000);
    expect(a[0]).toBe(rt.unsafeGemmWork); // part 0 is the GEMM workspace, already big enough
    expect(new Set(a).size).toBe(3);
    const used = rt.memoryStats().used;
    expect(rt.partScratch(3, 1000)).toEqual(a);
    expect(rt.partScratch(2, 64)).toEqual(a.slice(0, 2));
    expect(rt.memoryStats().used).toBe(used);
    const big = rt.unsafeKernels.gemmWorkspaceBytes() + 64;
    const b = rt.partScratch(1, big);
    expect(rt.unsafeGemmWork).toBe(b[0]);
    expect(rt.memoryStats().used).toBe(used - Math.ceil(rt.unsafeKernels.gemmWorkspaceBytes() / 64) * 64 + Math.ceil(big / 64) * 64);
    expectWorking(rt);
  });
});

describe('random stream', () => {
  it('reserves counters with take(), and reseed/randomState replay the stream', async () => {
    const rt = await makeRuntime({ seed: 5 });
    expect(rt.take(10)).toBe(0);
    expect(rt.take(3)).toBe(10);
    expect(rt.randomState).toEqual({ seed: 5, counter: 13 });
    const state = rt.randomState;
    const first = rt.randn(rt.tensor([33])).toArray();
    expect(rt.randomState.counter).toBe(13 + 34); // normals use counters in pairs
    rt.randomState = state;
    expect(rt.randn(rt.tensor([33])).toArray()).toEqual(first);
    rt.reseed(5);
    expect(rt.randomState).toEqual({ seed: 5, counter: 0 });
    const u = rt.uniform(rt.tensor([20]), -2, 3).toArray();
    expect(u.every((v) => v >= -2 && v < 3)).toBe(true);
    expect(() => rt.reseed(-1)).toThrow(/seed: expected an integer/);
    expect(() => { rt.randomState = { seed: 1, counter: -1 }; }).toThrow(/randomState\.counter: expected a non-negative safe integer, got -1/);
  });
});
