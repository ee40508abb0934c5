// Tests that kill mutants of the model-file and data code (session 63): each
// pins a behaviour no other test could see change. A safetensors range one
// byte off (a gap or an overlap), an IDX file one byte long, Dataset.split's
// Keras count, the mulberry32 stream and Fisher-Yates order against a
// reference, randomChoice's 48-bit draw, RandomAffine's options reaching the
// kernel (against the float64 reference of assembly/augment.ts), the size of
// a checkpoint's loss pieces, and a cross-origin Response's Content-Length.
import { describe, it, expect, beforeAll } from 'vitest';
import type { Runtime } from '../src/runtime/runtime.js';
import { MultiLayerNet } from '../src/nets/multi-layer-net.js';
import { loadModel, saveModel, saveModelChunks } from '../src/io/model.js';
import { loadModelAsync } from '../src/io/model-async.js';
import { MAX_HEADER_BYTES, parseHeader, readHeaderLength } from '../src/io/safetensors.js';
import { encodeIdx, parseIdx } from '../src/data/idx.js';
import { Dataset } from '../src/data/tensors.js';
import { seededRandom, stratifiedSplit } from '../src/data/split.js';
import { RandomAffine } from '../src/data/augment.js';
import { expectBits, expectClose, makeRuntime, randomArray } from './helpers/runtime.js';
import { affineReference as reference } from './reference/augment.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 11 }); });

const json = (header: Record<string, unknown>) => new TextEncoder().encode(JSON.stringify(header));

/** mulberry32 as published (Tommy Ettinger; bryc's JavaScript), written independently of src/data/split.ts. */
function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Durstenfeld's Fisher-Yates from the last element, j uniform in [0, i]. */
function fisherYates(n: number, next: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

describe('safetensors ranges one byte off', () => {
  it('a gap of one byte, or an overlap of one byte, between two tensors is refused', () => {
    // the reader reads the tensors back to back: a one-byte gap would shift every later value by a byte
    const a = { dtype: 'U8', shape: [2], data_offsets: [0, 2] };
    expect(() => parseHeader(json({ a, b: { dtype: 'U8', shape: [2], data_offsets: [3, 5] } })))
      .toThrow(/^safetensors: tensor 'b' starts at 3, leaving a gap after byte 2 of the data$/);
    expect(() => parseHeader(json({ a, b: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } })))
      .toThrow(/^safetensors: tensor 'b' \[1, 3\) overlaps tensor 'a' \(which ends at 2\)$/);
    // back to back is the one layout accepted
    const backToBack = json({ a, b: { dtype: 'U8', shape: [2], data_offsets: [2, 4] } });
    const ok = parseHeader(backToBack, 8 + backToBack.length + 4);
    expect(ok.dataBytes).toBe(4);
    expect(ok.dataStart).toBe(8 + backToBack.length);
  });

  it("saveModel's header is padded with spaces to a multiple of 8 bytes, so the data is aligned", () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [], outputSize: 2 });
    const bytes = saveModel(net, { metadata: { k: 'v' } });
    const n = readHeaderLength(bytes, bytes.length);
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd().endsWith('}')).toBe(true);
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    // W1 [3, 2] then b1 [2]: 8 floats after the header
    expect(bytes.length - 8 - n).toBe(8 * 4);
    net.dispose();
  });
});

describe('header length limit', () => {
  it('a header of exactly 100 MB is within the limit (the reference reader refuses one over it)', () => {
    const first = (n: number) => { const b = new Uint8Array(8); new DataView(b.buffer).setUint32(0, n, true); return b; };
    expect(readHeaderLength(first(MAX_HEADER_BYTES))).toBe(100_000_000);
    expect(() => readHeaderLength(first(MAX_HEADER_BYTES + 1))).toThrow(/^safetensors: the header length is 100000001 bytes, over the 100000000-byte limit$/);
  });
});

describe('IDX sizes', () => {
  it('one byte after the data the header describes is refused', () => {
    const file = encodeIdx([3], Uint8Array.of(1, 2, 3));
    const longer = new Uint8Array(file.length + 1);
    longer.set(file);
    expect(() => parseIdx(longer, 'labels')).toThrow(/^labels: malformed: 1 bytes follow the 3 = 3 bytes of data the header describes$/);
    expect(Array.from(parseIdx(file, 'labels').data)).toEqual([1, 2, 3]);
  });

  it('encodes and parses ranks up to 255 (the rank byte whole)', () => {
    for (const rank of [1, 127, 128, 200, 255]) {
      const dims = Array.from({ length: rank }, (_, i) => (i === 0 ? 2 : 1));
      const file = encodeIdx(dims, Uint8Array.of(5, 9));
      expect(file[3], `rank ${rank}`).toBe(rank);
      expect(file.length).toBe(4 + 4 * rank + 2);
      const back = parseIdx(file, 'f');
      expect(back.dims).toEqual(dims);
      expect(Array.from(back.data)).toEqual([5, 9]);
    }
  });
});

describe('seeded orders against a reference', () => {
  it('seededRandom is mulberry32, and Dataset.shuffle is Fisher-Yates on it', () => {
    for (const seed of [0, 1, 20150, 0xffffffff]) {
      const ours = seededRandom(seed), ref = mulberry32(seed);
      for (let i = 0; i < 20; i++) expect(ours(), `seed ${seed}, draw ${i}`).toBe(ref());
    }
    const N = 37;
    const d = new Dataset(rt.tensor([N, 1], Array.from({ length: N }, (_, i) => i)), rt.labels([N], Array.from({ length: N }, (_, i) => i % 4)));
    const s = d.shuffle(123);
    expect(Array.from(s.x.toArray())).toEqual(fisherYates(N, mulberry32(123)));
    expect(Array.from(s.t.toArray())).toEqual(fisherYates(N, mulberry32(123)).map((i) => i % 4));
    s.dispose();
    d.x.dispose(); d.t.dispose(); d.dispose();
  });

  it("Dataset.split gives validation N − ⌊N·(1 − rate)⌋ rows (Keras's count), drawn by the seeded permutation", () => {
    const N = 10;
    const d = new Dataset(rt.tensor([N, 1], Array.from({ length: N }, (_, i) => i)), rt.labels([N], Array.from({ length: N }, (_, i) => i)));
    // 0.25: ⌊7.5⌋ = 7 train, 3 validation (⌊N·rate⌋ would give 2); 0.35: ⌊6.5⌋ = 6, 4 validation
    for (const [rate, nVal] of [[0.25, 3], [0.35, 4], [0.5, 5]] as const) {
      const { train, validation } = d.split(rate, 9);
      const perm = fisherYates(N, mulberry32(9));
      expect(Array.from(validation.x.toArray()), `rate ${rate}`).toEqual(perm.slice(0, nVal).sort((a, b) => a - b));
      expect(Array.from(train.x.toArray()), `rate ${rate}`).toEqual(perm.slice(nVal).sort((a, b) => a - b));
      train.dispose(); validation.dispose();
    }
    d.x.dispose(); d.t.dispose(); d.dispose();
  });

  it('stratifiedSplit shuffles each class, then each part, by Fisher-Yates on mulberry32', () => {
    const labels = Array.from({ length: 23 }, (_, i) => (i * 7) % 3);
    const { train, test } = stratifiedSplit(labels, 8, 77);
    // reference: quotas 8·n_c/23 by largest remainder (n = 8, 8, 7: 2.78, 2.78, 2.43 → 3, 3, 2)
    const next = mulberry32(77);
    const wantTrain: number[] = [], wantTest: number[] = [];
    [0, 1, 2].forEach((c, k) => {
      const rows = labels.flatMap((l, i) => (l === c ? [i] : []));
      const order = fisherYates(rows.length, next).map((j) => rows[j]);
      const quota = [3, 3, 2][k];
      wantTest.push(...order.slice(0, quota));
      wantTrain.push(...order.slice(quota));
    });
    const permute = (a: number[]) => fisherYates(a.length, next).map((j) => a[j]);
    expect(Array.from(train)).toEqual(permute(wantTrain));
    expect(Array.from(test)).toEqual(permute(wantTest));
  });

  it('randomChoice draws each row from 48 random bits: ⌊(hi·2^24 + lo)/2^48 · N⌋ of two uniforms of the stream', () => {
    // at N = 10^6 the low 24 bits move ~6% of the draws: a 24-bit draw would pick other rows
    const N = 1_000_000, size = 1000;
    const x = rt.tensor([N, 1], Float32Array.from({ length: N }, (_, i) => i));
    const t = rt.labels([N]);
    const d = new Dataset(x, t);
    const state = rt.randomState;
    const rows = Array.from(d.randomChoice(size).x.toArray());
    rt.randomState = state;
    const u = rt.uniform(rt.tensor([2 * size]));
    const uv = u.toArray();
    const want = Array.from({ length: size }, (_, i) => {
      const hi = Math.round(uv[2 * i] * 2 ** 24), lo = Math.round(uv[2 * i + 1] * 2 ** 24);
      return Math.min(N - 1, Math.floor(((hi * 2 ** 24 + lo) / 2 ** 48) * N));
    });
    expect(rows).toEqual(want);
    for (const a of [u, x, t]) a.dispose();
    d.dispose();
  });
});

describe('Dataset batches', () => {
  it('dropLast drops a last batch one row short; one-hot targets are gathered as whole rows with their inputs', () => {
    const N = 11, K = 3;
    const x = rt.tensor([N, 1], Array.from({ length: N }, (_, i) => i));
    const t = rt.tensor([N, K], Array.from({ length: N * K }, (_, j) => (j % K === Math.floor(j / K) % K ? 1 : 0)));
    const d = new Dataset(x, t);
    const oneHotOf = (row: number) => Array.from({ length: K }, (_, c) => (c === row % K ? 1 : 0));
    // 11 rows in 4s: 4, 4, 3; with dropLast the 3 goes
    expect([...d.batches(4)].map((b) => b.x.shape[0])).toEqual([4, 4, 3]);
    expect([...d.batches(4, { dropLast: true })].map((b) => b.x.shape[0])).toEqual([4, 4]);
    for (const b of d.batches(4, { seed: 5 })) {
      const rows = Array.from(b.x.toArray());
      expect(Array.from(b.t.toArray())).toEqual(rows.flatMap(oneHotOf));
    }
    const drawn = d.randomChoice(20);
    expect(Array.from(drawn.t.toArray())).toEqual(Array.from(drawn.x.toArray()).flatMap(oneHotOf));
    d.dispose(); x.dispose(); t.dispose();
  });
});

describe('RandomAffine', () => {
  it("apply() gives the kernel its degrees, scale [lo, hi] and shift: the reference's output for the stream's uniforms", () => {
    const [N, C, H, W] = [4, 2, 9, 11];
    const xs = randomArray(N * C * H * W, 21, 0, 1);
    const x = rt.tensor([N, C, H, W], xs);
    const r = { degrees: 30, lo: 0.7, hi: 1.3, shift: 2.5 };
    const aug = new RandomAffine(rt, { degrees: r.degrees, scale: [r.lo, r.hi], shift: r.shift });
    const state = rt.randomState;
    const got = aug.apply(x).toArray();
    rt.randomState = state;
    const u = rt.uniform(rt.tensor([4 * N]));
    // f64 inside the kernel, one f32 rounding at the end: 1e-6 absolute on values in [0, 1]
    expectClose(got, reference(xs, u.toArray(), N, C, H, W, r), { rtol: 0, atol: 1e-6 });
    for (const t of [u, x]) t.dispose();
    aug.dispose();
  });
});

describe("a checkpoint's losses and a cross-origin download", () => {
  it('trainLoss is written in pieces of at most chunkBytes, and read back exactly', () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2 });
    const losses = Array.from({ length: 50 }, (_, i) => 1 / (i + 3));
    const pieces = [...saveModelChunks(net, { trainLoss: losses, chunkBytes: 64 })];
    // the header first, of its own size; every other piece within the bound
    pieces.slice(1).forEach((p, i) => expect(p.length, `piece ${i + 1}`).toBeLessThanOrEqual(64));
    const loaded = loadModel(rt, pieces);
    expect(Array.from(loaded.trainLoss!)).toEqual(losses); // doubles, exactly
    loaded.net.dispose();
    net.dispose();
  });

  it("a checkpoint's best epoch comes back with the parameters' shapes and values", () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2 });
    const best = Object.fromEntries(Object.entries(net.params).map(([k, t], i) => [k, { shape: t.shape, data: randomArray(t.size, 30 + i) }]));
    const loaded = loadModel(rt, saveModel(net, { best }));
    expect(Object.keys(loaded.best!).sort()).toEqual(Object.keys(best).sort());
    for (const [k, b] of Object.entries(best)) {
      expect(loaded.best![k].shape, k).toEqual([...b.shape]);
      expectBits(loaded.best![k].data, b.data, k);
    }
    loaded.net.dispose();
    net.dispose();
  });

  it("a cross-origin Response's Content-Length is not taken for the file's (it may be a hidden encoding's)", async () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2 });
    const bytes = saveModel(net);
    // a CORS response hides Content-Encoding: its Content-Length may be the gzip body's
    class CrossOrigin extends Response {
      override get type(): ResponseType { return 'cors'; }
    }
    const response = new CrossOrigin(bytes, { headers: { 'content-length': '12' } });
    expect(response.type).toBe('cors');
    const loaded = await loadModelAsync(rt, response);
    for (const [name, p] of Object.entries(net.params)) expectBits(loaded.net.params[name].toArray(), p.toArray(), name);
    loaded.net.dispose();
    // the same length from a same-origin response is the file's, and refused before anything is built
    await expect(loadModelAsync(rt, new Response(bytes, { headers: { 'content-length': '12' } }))).rejects.toThrow(/past the end of the 12-byte file/);
    net.dispose();
  });
});
