// An adversarial sweep of the public entries for inputs the other guard tests do not try: each case is
// named by the entry and the input. What a bad input must get is a clear error naming the entry and the
// argument, before anything is written (canaries and the bits of what the call may touch are compared),
// never a moved random stream, a half-imported model, a changed parameter, a silent wrong result or an
// error from deep inside (a Symbol formatted into a message, a property of undefined).
import { describe, it, expect, beforeAll } from 'vitest';
import { host, makeRuntime, randomArray } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';
import { expectRefused as refused, type ErrorClass } from './helpers/refused.js';
import type { Runtime } from '../src/runtime/runtime.js';
import type { Tensor } from '../src/runtime/tensor.js';
import {
  Adam, Affine, BatchNormalization, Relu, Sigmoid, Tanh, Buffers, Convolution, Dropout, InstanceNormalization, LayerNormalization, Momentum,
  MultiLayerNet, MultiLayerNetExtend, ParameterSet, Pooling, SGD, Sequential, SimpleConvNet, encodeHeader, loadModel, saveModel, saveModelChunks,
} from '../src/index.js';
import { exportOnnx } from '../src/io/onnx/index.js';
import {
  AshaScheduler, DataCache, ashaRungs, checkSettings, checkSpaceSettings, hyperparameterSearch, inlineExecutor, runTrial, score, splitOptions, splitSearchData,
  type EpochResult, type Executor, type TrialJob,
} from '../src/search/index.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 5 }); });

const sym = Symbol('s');
const bits = (t: Tensor): Int32Array => new Int32Array(t.toArray().buffer);
/** `f` is refused with `cls` and `message`, allocating nothing on the suite's runtime. */
const expectRefused = (f: () => unknown, cls: ErrorClass, message: RegExp) => refused(rt, f, cls, message);

describe('Runtime.take', () => {
  it('n negative, fractional, NaN or not a number: refused, the stream where it was', () => {
    const t = rt.tensor([6]);
    const start = rt.randomState;
    const expected = bits(rt.randn(t));
    rt.randomState = start;
    for (const [n, cls, shown] of [[-5, RangeError, '-5'], [1.5, RangeError, '1\\.5'], [NaN, RangeError, 'NaN'], ['3', TypeError, 'the string "3"'], [sym, TypeError, 'symbol Symbol\\(s\\)']] as const) {
      expectRefused(() => rt.take(n as number), cls, new RegExp(`^take: n must be a non-negative integer, got ${shown}$`));
      expect(rt.randomState, String(n)).toEqual(start);
    }
    expect(bits(rt.randn(t)), 'the next draw is the one before the refused calls').toEqual(expected);
    t.dispose();
  });
});

describe('Sequential.numericalGradient', () => {
  const mlp = () => new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2 });
  const paramBits = (net: MultiLayerNet) => Object.values(net.params).map(bits);

  it('a disposed x: refused naming numericalGradient and x, every parameter as it was (W1[0] was left at W1[0] + h)', () => {
    const net = mlp();
    const before = paramBits(net);
    const x = rt.tensor([2, 3]);
    x.dispose();
    expectRefused(() => net.numericalGradient(x, [0, 1]), TypeError, /^numericalGradient: x: tensor \[2, 3\] used after dispose/);
    expect(paramBits(net)).toEqual(before);
    net.dispose();
  });

  it('labels the loss refuses: the error of loss, every parameter as it was', () => {
    const net = mlp();
    const before = paramBits(net);
    const x = rt.tensor([2, 3], randomArray(6, 1));
    expect(() => net.numericalGradient(x, [0, 7])).toThrow(/label t\[1\] = 7 is outside \[0, 2\)/);
    expect(paramBits(net)).toEqual(before);
    x.dispose();
    net.dispose();
  });

  it('h a Symbol or a string: a TypeError naming h (a Symbol threw while the message was formatted)', () => {
    const net = mlp();
    const x = rt.tensor([2, 3]);
    expectRefused(() => net.numericalGradient(x, [0, 1], sym as never), TypeError, /^numericalGradient: h must be a positive number, got symbol Symbol\(s\)$/);
    expectRefused(() => net.numericalGradient(x, [0, 1], '1e-3' as never), TypeError, /^numericalGradient: h must be a positive number, got the string "1e-3"$/);
    x.dispose();
    net.dispose();
  });
});

describe('Sequential.importParams', () => {
  it('a value that is not a number in a later key: refused naming the key, the earlier keys not written', () => {
    const net = new MultiLayerNetExtend(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2, useBatchnorm: true });
    const before = Object.values({ ...net.params, ...net.state }).map(bits);
    const saved = net.exportParams() as Record<string, { shape: number[]; data: ArrayLike<number> }>;
    saved.W1 = { shape: saved.W1.shape, data: new Float32Array(12).fill(7) };
    saved.b2 = { shape: saved.b2.shape, data: ['0', 0] as never };
    expectRefused(() => net.importParams(saved), TypeError, /^importParams: 'b2': data\[0\] is the string "0", not a number$/);
    saved.b2 = { shape: saved.b2.shape, data: [0, 1n] as never };
    expectRefused(() => net.importParams(saved), TypeError, /^importParams: 'b2': data\[1\] is bigint 1, not a number$/);
    expect(Object.values({ ...net.params, ...net.state }).map(bits)).toEqual(before);
    net.dispose();
  });
});

describe('Sequential.evaluate, accuracy and their async forms', () => {
  it('an IntTensor of N labels not a row each ([1, N]): refused naming t (it passed, then failed deep inside as "rows(0, 2)")', async () => {
    const net = new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2 });
    const x = rt.tensor([2, 3], randomArray(6, 15));
    const t = rt.labels([1, 2], [0, 1]);
    expectRefused(() => net.evaluate(x, t), RangeError, /^evaluate: t must hold 2 labels, a row each, got \[1, 2\]$/);
    expectRefused(() => net.accuracy(x, t), RangeError, /^accuracy: t must hold 2 labels, a row each, got \[1, 2\]$/);
    await expect(net.evaluateAsync(x, t)).rejects.toThrow(/^evaluateAsync: t must hold 2 labels, a row each, got \[1, 2\]$/);
    const column = rt.labels([2, 1], [0, 1]);
    expect(net.accuracy(x, column), 'a column of labels, a row each, is taken').toBe(net.accuracy(x, [0, 1]));
    for (const v of [x, t, column]) v.dispose();
    net.dispose();
  });
});

describe('predictAsync with an out that overlaps x', () => {
  /** A one-Affine net from `inputs` to `outputs` columns, a row per chunk. */
  const affineNet = (inputs: number, outputs: number) =>
    new Sequential(rt, [new Affine(rt.tensor([inputs, outputs], randomArray(inputs * outputs, 11)), rt.tensor([outputs], randomArray(outputs, 12)))], { evalBatchSize: 1 });

  it('Sequential and FrozenNet: wider output rows written over x\'s later rows are refused before any is written (they were read after, a result unlike predict\'s); x itself, no wider, is taken', async () => {
    const net = affineNet(2, 4);
    const frozen = net.freeze();
    const big = rt.tensor([40], randomArray(40, 13));
    const x = big.view(8, [4, 2]), out = big.view(4, [4, 4]);
    const before = bits(big);
    for (const [who, call] of [['predictAsync', () => net.predictAsync(x, { out })], ['FrozenNet.predictAsync', () => frozen.predictAsync(x, { out })]] as const) {
      await expect(call(), who).rejects.toThrow(new RegExp(`^${who.replace('.', '\\.')}: out overlaps x, whose rows a chunk's output would overwrite before they are read`));
      expect(bits(big), `${who}: nothing written`).toEqual(before);
    }
    frozen.dispose();
    // in place: output rows no wider than x's overwrite only rows already read
    const narrow = affineNet(3, 2);
    const x3 = rt.tensor([5, 3], randomArray(15, 14));
    const expected = narrow.predict(x3);
    const inPlace = x3.view(0, [5, 2]);
    expect(await narrow.predictAsync(x3, { out: inPlace })).toBe(inPlace);
    expect(bits(inPlace)).toEqual(bits(expected));
    for (const n of [net, narrow]) {
      for (const l of n.layers) { l.params.W.dispose(); l.params.b.dispose(); }
      n.dispose();
    }
    for (const t of [big, x3, expected]) t.dispose();
  });
});

describe('Optimizer.update', () => {
  it('params whose getter gives a disposed tensor at a later read (its block reused): the tensor checked is the one stepped', () => {
    for (const opt of [new SGD({ lr: 1 }), new Adam()]) {
      const live = rt.tensor([2, 3]);
      const g = rt.tensor([2, 3], [1, 1, 1, 1, 1, 1]);
      const gone = rt.tensor([2, 3]);
      gone.dispose();
      const taker = rt.tensor([2, 3], [5, 5, 5, 5, 5, 5]);
      expect(taker.ptr, 'the disposed block is the taker\'s').toBe(gone.ptr);
      let reads = 0;
      const params = { get W() { return reads++ < 2 ? live : gone; } }; // the check read it twice, the update a third time
      opt.update(params, { W: g });
      expect(Array.from(taker.data), opt.name).toEqual([5, 5, 5, 5, 5, 5]);
      expect(Array.from(live.data).every((v) => v < 0), `${opt.name}: the checked tensor stepped`).toBe(true);
      for (const t of [live, g, taker]) t.dispose();
      opt.dispose();
    }
  });
});

describe('activations after dispose()', () => {
  it('backward, and a layer backward through it, say the activation was disposed (they said "call forward first")', () => {
    for (const act of [new Relu(), new Sigmoid(), new Tanh()]) {
      const x = rt.tensor([2, 4], randomArray(8, 3, -1, 1));
      const y = act.forward(x);
      const dout = rt.tensor(y.shape, randomArray(8, 4, -1, 1));
      act.dispose();
      expectRefused(() => act.backward(dout), Error, new RegExp(`^${act.name}\\.backward: ${act.name} used after dispose\\(\\)$`));
      const [W, b] = [rt.tensor([4, 4]), rt.tensor([4])];
      const affine = new Affine(W, b);
      affine.forward(x);
      expectRefused(() => affine.backwardThrough(dout, act), Error, new RegExp(`^Affine\\.backwardThrough: ${act.name} used after dispose\\(\\)$`));
      affine.dispose();
      for (const t of [x, dout, W, b]) t.dispose();
    }
  });
});

describe('Optimizer.update, one tensor under two keys', () => {
  it('params that share memory are refused before any is stepped (the tensor was stepped twice, its state made twice)', () => {
    for (const opt of [new SGD({ lr: 1 }), new Adam()]) {
      const p = rt.tensor([4], [1, 2, 3, 4]);
      const block = rt.tensor([8], [1, 2, 3, 4, 5, 6, 7, 8]);
      const g = rt.tensor([4], [1, 1, 1, 1]);
      const before = [bits(p), bits(block)];
      expectRefused(() => opt.update({ a: p, b: p }, { a: g, b: g }), RangeError, new RegExp(`^${opt.name}\\.update: params\\['a'\\] and params\\['b'\\] share memory`));
      // views overlapping in a block, given out of order
      const hi = block.reshape([8]).rows(2, 6), lo = block.reshape([8]).rows(0, 4);
      expectRefused(() => opt.update({ hi, lo }, { hi: g, lo: g }), RangeError, new RegExp(`^${opt.name}\\.update: params\\['hi'\\] and params\\['lo'\\] share memory`));
      expect([bits(p), bits(block)]).toEqual(before);
      // apart, in any order: stepped
      const q = rt.tensor([4], [1, 2, 3, 4]);
      opt.update({ q, p }, { q: g, p: g });
      expect(Array.from(p.data).every((v, i) => v < i + 1)).toBe(true);
      for (const t of [p, q, block, g]) t.dispose();
      opt.dispose();
    }
  });
});

describe('layers given tensors that overlap what they write (a net\'s frozen twins give gamma as dgamma, so refused where written)', () => {
  it('Convolution.backward: grads.dW overlapping W (it wrote dW while it read W for dx: a wrong dx and a changed W), db overlapping b or dW', () => {
    const canaries = new Canaries(rt, 31);
    const W = between(canaries, () => rt.tensor([2, 1, 2, 2], randomArray(8, 2)));
    const b = between(canaries, () => rt.tensor([2], [0.5, -0.5]));
    const block = between(canaries, () => rt.tensor([10]));
    const db = between(canaries, () => rt.tensor([2]));
    const x = between(canaries, () => rt.tensor([1, 1, 4, 4], randomArray(16, 3)));
    const dout = between(canaries, () => rt.tensor([1, 2, 3, 3], randomArray(18, 4)));
    const before = [W, b, block, db].map(bits);
    for (const [grads, message] of [
      [{ dW: W, db }, /^Convolution\.backward: the grads given overlap \(dW overlaps W\); it would write them while it reads W and b$/],
      [{ dW: block.view(0, [2, 1, 2, 2]), db: b }, /^Convolution\.backward: the grads given overlap \(db overlaps b\)/],
      [{ dW: block.view(0, [2, 1, 2, 2]), db: block.view(7, [2]) }, /^Convolution\.backward: the grads given overlap \(dW overlaps db\)/],
    ] as const) {
      const layer = new Convolution(W, b, 1, 0, grads);
      layer.forward(x);
      expect(() => layer.backward(dout)).toThrow(message);
      expect(() => layer.backwardParams(dout)).toThrow(/^Convolution\.backwardParams: the grads given overlap/);
      layer.dispose();
    }
    expect([W, b, block, db].map(bits), 'nothing written').toEqual(before);
    expect(canaries.changed()).toBe(0);
    for (const t of [W, b, block, db, x, dout]) t.dispose();
    canaries.dispose();
  });

  it('BatchNormalization: dgamma = gamma refused by backward (a wrong dx), shared running statistics by a training forward', () => {
    const [gamma, beta, s] = [rt.tensor([3], [1, 2, 3]), rt.tensor([3]), rt.tensor([3], [4, 5, 6])];
    const x = rt.tensor([4, 3], randomArray(12, 6)), dout = rt.tensor([4, 3], randomArray(12, 7));
    const aliased = new BatchNormalization(gamma, beta, 0.9, { dgamma: gamma });
    aliased.forward(x, true);
    expect(() => aliased.backward(dout)).toThrow(/^BatchNormalization\.backward: the tensors given overlap \(dgamma overlaps gamma\); it would write the gradients while it reads gamma$/);
    expect(Array.from(gamma.data)).toEqual([1, 2, 3]);
    aliased.dispose();
    const shared = new BatchNormalization(gamma, beta, 0.9, { runningMean: s, runningVar: s });
    expect(() => shared.forward(x, true)).toThrow(/^BatchNormalization\.forward: the tensors given overlap \(runningMean overlaps runningVar\); training mode would write the running statistics while it reads them$/);
    expect(Array.from(s.data), 'the statistics as they were').toEqual([4, 5, 6]);
    expect(shared.forward(x, false).shape, 'inference reads them only').toEqual([4, 3]);
    shared.dispose();
    for (const t of [gamma, beta, s, x, dout]) t.dispose();
    // the nets' frozen twins, which alias their gradients to their parameters, still freeze and predict as the nets
    const nets: Array<[Sequential, number[]]> = [
      [new MultiLayerNetExtend(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2, useBatchnorm: true }), [2, 3]],
      [new SimpleConvNet(rt, { inputDim: [1, 6, 6], convParam: { filterNum: 2, filterSize: 3, pad: 0, stride: 1 }, hiddenSize: 4, outputSize: 2 }), [2, 1, 6, 6]],
    ];
    for (const [net, shape] of nets) {
      const input = rt.tensor(shape, randomArray(shape.reduce((a, b) => a * b), 9));
      const frozen = net.freeze();
      const [y, expected] = [frozen.predict(input), net.predict(input)];
      expect(bits(y)).toEqual(bits(expected));
      for (const t of [y, expected, input]) t.dispose();
      frozen.dispose();
      net.dispose();
    }
  });

  it('LayerNormalization and InstanceNormalization.backward: dgamma overlapping gamma (it zeroed gamma before dx read it), dbeta overlapping dgamma', () => {
    const [gamma, beta, g] = [rt.tensor([3], [1, 2, 3]), rt.tensor([3]), rt.tensor([3])];
    const x = rt.tensor([4, 3], randomArray(12, 6)), dout = rt.tensor([4, 3], randomArray(12, 7));
    for (const [layer, message] of [
      [new LayerNormalization(gamma, beta, { dgamma: gamma }), /^LayerNormalization\.backward: the tensors given overlap \(dgamma overlaps gamma\)/],
      [new LayerNormalization(gamma, beta, { dgamma: g, dbeta: g }), /^LayerNormalization\.backward: the tensors given overlap \(dgamma overlaps dbeta\)/],
    ] as const) {
      layer.forward(x);
      expect(() => layer.backward(dout)).toThrow(message);
      layer.dispose();
    }
    const [gamma1, beta1] = [rt.tensor([1], [2]), rt.tensor([1])];
    const instance = new InstanceNormalization(gamma1, beta1, { dbeta: g.view(0, [1]), dgamma: g.view(0, [1]) });
    const images = rt.tensor([2, 1, 2, 2], randomArray(8, 8)), imageGrads = rt.tensor([2, 1, 2, 2], randomArray(8, 10));
    instance.forward(images);
    expect(() => instance.backward(imageGrads)).toThrow(/^InstanceNormalization\.backward: the tensors given overlap \(dgamma overlaps dbeta\)/);
    expect(Array.from(gamma.data)).toEqual([1, 2, 3]);
    instance.dispose();
    for (const t of [gamma, beta, g, x, dout, gamma1, beta1, images, imageGrads]) t.dispose();
  });

});

describe('numbers that are Symbols, BigInts or strings: a TypeError naming the argument (a Symbol threw "Cannot convert a Symbol value to a string")', () => {
  it('the layer constructors', () => {
    const [W, b, g] = [rt.tensor([1, 1, 2, 2]), rt.tensor([1]), rt.tensor([2])];
    const cases: Array<[string, () => unknown, string]> = [
      ['Pooling poolH', () => new Pooling(sym as never, 2), '^Pooling: poolH must be a positive integer, got symbol Symbol\\(s\\) \\(at most 16777216\\)$'],
      ['Pooling stride', () => new Pooling(2, 2, 2n as never), '^Pooling: stride must be a positive integer, got bigint 2 \\(at most 16777216\\)$'],
      ['Convolution pad', () => new Convolution(W, b, 1, sym as never), '^Convolution: pad must be a non-negative integer, got symbol Symbol\\(s\\)'],
      ['Convolution stride', () => new Convolution(W, b, '1' as never), '^Convolution: stride must be a positive integer, got the string "1"'],
      ['Dropout ratio', () => new Dropout(sym as never), '^Dropout: ratio must be in \\[0, 1\\), got symbol Symbol\\(s\\)$'],
      ['BatchNormalization momentum', () => new BatchNormalization(g, g, 1n as never), '^BatchNormalization: momentum must be in \\[0, 1\\], got bigint 1$'],
      ['BatchNormalization eps', () => new BatchNormalization(g, g, 0.9, { eps: sym as never }), '^BatchNormalization: eps must be a positive number a float32 holds, got symbol Symbol\\(s\\)$'],
      ['LayerNormalization eps', () => new LayerNormalization(g, g, { eps: sym as never }), '^LayerNormalization: eps must be a positive number a float32 holds, got symbol Symbol\\(s\\)$'],
    ];
    for (const [what, make, message] of cases) {
      let error: unknown;
      try { make(); } catch (e) { error = e; }
      expect(error, what).toBeInstanceOf(TypeError);
      expect((error as Error).message, what).toMatch(new RegExp(message));
    }
    // numbers keep their RangeErrors
    expectRefused(() => new Pooling(0, 2), RangeError, /^Pooling: poolH must be a positive integer, got 0/);
    expectRefused(() => new Dropout(1), RangeError, /^Dropout: ratio must be in \[0, 1\), got 1$/);
    for (const t of [W, b, g]) t.dispose();
  });

  it('createRuntime options.maxThreads', async () => {
    await expect(makeRuntime({ maxThreads: sym as never })).rejects.toThrow(TypeError);
    await expect(makeRuntime({ maxThreads: sym as never })).rejects.toThrow(/^options\.maxThreads: expected an integer in \[1, \d+\], got symbol Symbol\(s\)$/);
  });

  it('rt.alloc', () => {
    expectRefused(() => rt.alloc(sym as never), TypeError, /^alloc: bytes must be a non-negative finite number, got symbol Symbol\(s\)$/);
    expectRefused(() => rt.alloc(-1), RangeError, /^alloc: bytes must be a non-negative finite number, got -1$/);
  });

  it('ashaRungs, AshaScheduler and hyperparameterSearch', async () => {
    expect(() => ashaRungs(9, 1, sym as never)).toThrow(TypeError);
    expect(() => ashaRungs(9, 1, sym as never)).toThrow(/^ashaRungs: eta must be a number >= 2, got symbol Symbol\(s\)$/);
    expect(() => new AshaScheduler(sym as never, 9)).toThrow(/^AshaScheduler: trials must be a positive integer, got symbol Symbol\(s\)$/);
    expect(() => new AshaScheduler(3, 9, { reductionFactor: 3n as never })).toThrow(/^asha\.reductionFactor: expected a number >= 2, got bigint 3$/);
    const executor: Executor = { concurrency: 1, run: () => Promise.reject(new Error('not reached')), close: () => Promise.resolve() };
    const options = { space: {}, trials: 1, epochs: 1, data: {}, executor };
    for (const [key, value, message] of [
      ['trials', sym, /^hyperparameterSearch: trials must be a positive integer, got symbol Symbol\(s\)$/],
      ['epochs', 2n, /^hyperparameterSearch: epochs must be a positive integer, got bigint 2$/],
      ['seed', sym, /^hyperparameterSearch: seed must be an integer in \[0, 2\^32\), got symbol Symbol\(s\)$/],
      ['study', sym, /^hyperparameterSearch: study must be 1 to 100 letters, digits, '_', '\.', '-', got symbol Symbol\(s\)$/],
    ] as const) {
      await expect(hyperparameterSearch({ ...options, [key]: value } as never), key).rejects.toThrow(TypeError);
      await expect(hyperparameterSearch({ ...options, [key]: value } as never), key).rejects.toThrow(message);
    }
  });
});

describe('hyperparameterSearch', () => {
  const ok = { space: {}, trials: 2, epochs: 1, data: {} };
  const executor = (concurrency: unknown, ran: number[]): Executor => ({
    concurrency: concurrency as number,
    run: async (job) => { ran.push(job.index); return { ...job, status: 'ok', history: [{ epoch: 1, trainLoss: 1, trainAcc: 0.5, valLoss: 1, valAcc: 0.5 }], worker: 'w', seconds: 0 } as never; },
    close: () => Promise.resolve(),
  });

  it('an executor.concurrency that is not a positive integer: refused before a job (undefined or NaN ran no lane: a search of no trials, resolved)', async () => {
    for (const [concurrency, cls, got] of [[undefined, TypeError, 'undefined'], [NaN, RangeError, 'NaN'], [0, RangeError, '0'], ['2', TypeError, 'the string "2"']] as const) {
      const ran: number[] = [];
      const search = hyperparameterSearch({ ...ok, executor: executor(concurrency, ran) } as never);
      await expect(search, String(concurrency)).rejects.toThrow(cls);
      await expect(search, String(concurrency)).rejects.toThrow(new RegExp(`^hyperparameterSearch: executor\\.concurrency must be a positive integer \\(the jobs it runs at once\\), got ${got}$`));
      expect(ran).toEqual([]);
    }
  });

  it('onResult that is no function, a signal that is no AbortSignal, data that is no object: refused before a job (they failed after one had trained)', async () => {
    for (const [key, value, message] of [
      ['onResult', 5, /^hyperparameterSearch: onResult must be a function, got number 5$/],
      ['signal', {}, /^hyperparameterSearch: signal must be an AbortSignal, got an Object$/],
      ['data', null, /^hyperparameterSearch: data must be a DataSpec object, got null$/],
    ] as const) {
      const ran: number[] = [];
      await expect(hyperparameterSearch({ ...ok, executor: executor(1, ran), [key]: value } as never), key).rejects.toThrow(message);
      expect(ran, key).toEqual([]);
    }
  });
});

describe('AshaScheduler.record', () => {
  it('a job of a rung it does not have, or not issued: a RangeError naming job (was "Cannot read properties of undefined")', () => {
    const a = new AshaScheduler(3, 9);
    const job = a.next()!;
    expect(() => a.record({ ...job, rung: 9 }, 0.5)).toThrow(/^AshaScheduler\.record: job must be one next\(\) gave \(rung in \[0, 3\), index in \[0, 1\)\), got rung 9, index 0$/);
    expect(() => a.record({ ...job, index: 5 }, 0.5)).toThrow(RangeError);
    expect(() => a.record(null as never, 0.5)).toThrow(/got rung undefined, index undefined$/);
  });

  it('a NaN objective is refused (its sort order was undefined, so which trial was promoted was too); the decisions are those without it', () => {
    const run = (bad: boolean) => {
      const a = new AshaScheduler(9, 9);
      const jobs = [a.next()!, a.next()!, a.next()!];
      if (bad) expect(() => a.record(jobs[0], NaN)).toThrow(/^AshaScheduler\.record: objective must be a number \(−Infinity for a failed trial\), got NaN$/);
      expect(() => a.record(jobs[0], '0.5' as never)).toThrow(TypeError);
      a.record(jobs[0], -Infinity);
      a.record(jobs[1], 0.9);
      a.record(jobs[2], 0.1);
      return a.next();
    };
    expect(run(true)).toEqual(run(false));
    expect(run(false)).toEqual({ index: 1, rung: 1, epochs: 3 });
  });
});

describe('the search data helpers and executors', () => {
  const job: TrialJob = { study: 's', index: 0, seed: 1, settings: {}, epochs: 1, data: {} } as TrialJob;

  it('splitSearchData: x or t that is no live tensor, t with fewer rows, a spec that is no object: named, nothing allocated', () => {
    const [x, t, short] = [rt.tensor([4, 2]), rt.labels([4]), rt.labels([2])];
    const dead = rt.tensor([4, 2]);
    dead.dispose();
    expectRefused(() => splitSearchData(undefined as never, t, {} as never), TypeError, /^splitSearchData: x: expected a float32 Tensor, got undefined$/);
    expectRefused(() => splitSearchData(dead, t, {} as never), TypeError, /^splitSearchData: x: tensor \[4, 2\] used after dispose/);
    expectRefused(() => splitSearchData(x, null as never, {} as never), TypeError, /^splitSearchData: t: expected a Tensor, got null$/);
    expectRefused(() => splitSearchData(x, short, {} as never), RangeError, /^splitSearchData: x \[4, 2\] and t \[2\] must have the same number of rows$/);
    expectRefused(() => splitSearchData(x, t, null as never), TypeError, /^data: expected a DataSpec object, got null$/);
    expect(() => splitOptions(undefined as never)).toThrow(/^data: expected a DataSpec object, got undefined$/);
    for (const v of [x, t, short]) v.dispose();
  });

  it('runTrial: an rt that is no Runtime, data that is no object, a job.index that is a Symbol', async () => {
    await expect(runTrial(undefined as never, job, {} as never)).rejects.toThrow(/^runTrial: rt must be a Runtime \(from createRuntime\), got undefined$/);
    await expect(runTrial(rt, job, null as never)).rejects.toThrow(/^runTrial: data must be \{ xTrain, tTrain, xVal, tVal \} \(tensors on rt\), got null$/);
    await expect(runTrial(rt, { ...job, index: sym } as never, null as never)).rejects.toThrow(/^runTrial: job\.index must be a non-negative integer, got symbol Symbol\(s\)$/);
  });

  it('checkSettings and checkSpaceSettings: settings or a space that is no object (was "Cannot read properties of null (reading \'optimizer\')")', () => {
    expect(() => checkSettings(null as never)).toThrow(/^settings: expected an object of setting name → value, got null$/);
    expect(() => checkSpaceSettings(undefined as never)).toThrow(/^space: expected an object of setting name → dimension or value, got undefined$/);
    expect(checkSettings({ optimizer: 'adam', lr: 0.01 })).toBe('adam');
  });

  it('inlineExecutor and DataCache: an rt that is no Runtime or a load that is no function, refused when made (was at the first job, deep inside)', () => {
    expect(() => inlineExecutor(rt, 5 as never)).toThrow(/^inlineExecutor: load must be a function \(rt, spec\) => data, got number 5$/);
    expect(() => inlineExecutor(undefined as never, () => ({}) as never)).toThrow(/^inlineExecutor: rt must be a Runtime \(from createRuntime\), got undefined$/);
    expect(() => new DataCache({} as never, () => ({}) as never)).toThrow(/^DataCache: rt must be a Runtime \(from createRuntime\), got an Object$/);
  });
});

describe('score', () => {
  it('an objective that is no metric\'s name: a TypeError (it was scored as trainLoss)', () => {
    const history = [{ epoch: 1, trainLoss: 1, trainAcc: 0.5, valLoss: 2, valAcc: 0.25 }] as unknown as EpochResult[];
    expect(() => score('valAccuracy' as never, history)).toThrow(TypeError);
    expect(() => score('valAccuracy' as never, history)).toThrow(/^score: objective must be 'valAcc', 'valLoss', 'trainAcc', 'trainLoss' or a function, got 'valAccuracy'$/);
    expect(score('valAcc', history)).toBe(0.25);
  });
});

describe('Optimizer.loadState', () => {
  it('state values that are not numbers (a string was taken as its number, an object as NaN, a BigInt threw from deep inside), and after dispose()', () => {
    const opt = new Momentum();
    const state = (v: unknown[]) => ({ optimizer: 'Momentum', t: 1, params: { a: { shape: [2], v: v as number[] } } });
    expect(() => opt.loadState(state(['0.5', 0]))).toThrow(/^Momentum\.loadState: params\['a'\]\.v\[0\] is the string "0\.5", expected a finite float32 number$/);
    expect(() => opt.loadState(state([0, 1n]))).toThrow(/^Momentum\.loadState: params\['a'\]\.v\[1\] is bigint 1, expected a finite float32 number$/);
    expect(opt.state().params, 'nothing loaded').toEqual({});
    opt.loadState(state([0.5, 0]));
    opt.dispose();
    expect(() => opt.loadState(state([0.5, 0]))).toThrow(/^Momentum\.loadState: used after dispose\(\)$/);
  });
});

describe('saveModel', () => {
  const mlp = () => new MultiLayerNet(rt, { inputSize: 3, hiddenSizeList: [4], outputSize: 2 });

  it('best and trainLoss values that are not numbers: refused naming them (they were written as NaN)', () => {
    const net = mlp();
    const best = Object.fromEntries(Object.entries(net.exportParams()).map(([k, v]) => [k, { shape: v.shape, data: Array.from(v.data) as unknown[] }]));
    best.b1.data[2] = '0.5';
    expect(() => saveModel(net, { best: best as never })).toThrow(/^saveModel: best\['b1'\]: data\[2\] is the string "0\.5", not a number$/);
    expect(() => saveModel(net, { trainLoss: ['a'] as never })).toThrow(/^saveModel: trainLoss: data\[0\] is the string "a", not a number$/);
    expect(() => saveModel(net, { trainLoss: { length: 3 } as never })).toThrow(/^saveModel: trainLoss: data\[0\] is undefined, not a number$/);
    expect(() => saveModel(net, { trainLoss: { length: -1 } as never })).toThrow(/^saveModel: trainLoss must be an array of numbers, got an Object$/);
    expect(() => saveModel(net, { trainLoss: { length: 2 ** 40 } as never })).toThrow(/^saveModel: trainLoss must be an array of numbers, got an Object$/);
    // numbers, NaN among them (a diverged run's losses), are written
    const loaded = loadModel(rt, saveModel(net, { trainLoss: [1, NaN] }));
    expect(Array.from(loaded.trainLoss!)).toEqual([1, NaN]);
    loaded.net.dispose();
    net.dispose();
  });

  it('saveModelChunks: a net disposed while its pieces are read is named (was "Tensor: used after dispose()")', () => {
    const net = mlp();
    const pieces = saveModelChunks(net, { chunkBytes: 4 })[Symbol.iterator]();
    pieces.next();
    net.dispose();
    expect(() => pieces.next()).toThrow(/^saveModel: the net was disposed while its pieces were read$/);
  });
});

describe('encodeHeader', () => {
  it('tensors that are no array or hold no named objects, metadata that is no object: a TypeError naming them (was "tensors is not iterable", "Cannot read properties of null")', () => {
    expect(() => encodeHeader(null as never, {})).toThrow(/^encodeHeader: tensors must be an array of \{ name, shape, dtype\? \}, got null$/);
    expect(() => encodeHeader([{ name: 'a', shape: [1] }, null] as never, {})).toThrow(/^encodeHeader: tensors\[1\] must be \{ name, shape, dtype\? \} with a string name, got null$/);
    expect(() => encodeHeader([{ name: 5, shape: [1] }] as never, {})).toThrow(/^encodeHeader: tensors\[0\] must be .* with a string name, got an Object$/);
    expect(() => encodeHeader([], null as never)).toThrow(/^encodeHeader: metadata must be an object of strings, got null$/);
    expect(encodeHeader([{ name: 'a', shape: [1] }], {}).length % 8).toBe(0);
  });
});

describe('exportOnnx', () => {
  it('a layer of the caller\'s named by a Symbol, Symbols in the options: a TypeError naming them (a Symbol threw while the message was formatted)', () => {
    const mine = { name: sym, params: {}, grads: {}, forward: (x: Tensor) => x, backward: (d: Tensor) => d, dispose: () => {} };
    const net = new Sequential(rt, [mine as never], { inputShape: [2] });
    expectRefused(() => exportOnnx(net), TypeError, /^exportOnnx: net\.layers\[0\] \(symbol Symbol\(s\)\) has no ONNX mapping/);
    expectRefused(() => exportOnnx(net, { inputShape: [2, sym] as never }), TypeError, /^exportOnnx: options\.inputShape: expected one sample's dimensions as positive integers, got \[2, symbol Symbol\(s\)\]$/);
    expectRefused(() => exportOnnx(net, { inputName: sym as never }), TypeError, /^exportOnnx: options\.inputName must be a non-empty string, got symbol Symbol\(s\)$/);
    net.dispose();
  });
});

describe('ParameterSet and Buffers', () => {
  it('an rt that is no Runtime, specs that are no array: named when made (was "Cannot read properties of undefined (reading \'tensor\')")', () => {
    expect(() => new ParameterSet(undefined as never, [['a', [2]]])).toThrow(/^ParameterSet: rt must be a Runtime \(from createRuntime\), got undefined$/);
    expectRefused(() => new ParameterSet(rt, null as never), TypeError, /^ParameterSet: specs must be an array of \[name, shape\], got null$/);
    expect(() => new Buffers({} as never)).toThrow(/^Buffers: rt must be a Runtime \(from createRuntime\), got an Object$/);
  });
});

describe('the Node loaders', () => {
  it.skipIf(host !== 'node')('loadMnist, loadIdx and loadIdxPart: an rt that is no Runtime, a dir that is no path: named before a file is read', async () => {
    const { loadIdx, loadIdxPart, loadMnist } = await import('../src/node/data.js');
    await expect(loadMnist(undefined as never)).rejects.toThrow(/^loadMnist: rt must be a Runtime \(from createRuntime\), got undefined$/);
    await expect(loadIdx({} as never, '/nonexistent')).rejects.toThrow(/^loadIdx: rt must be a Runtime \(from createRuntime\), got an Object$/);
    await expect(loadIdx(rt, sym as never)).rejects.toThrow(/^loadIdx: dir must be a directory's path, got symbol Symbol\(s\)$/);
    await expect(loadIdxPart(rt, undefined as never, 'test')).rejects.toThrow(/^loadIdxPart: dir must be a directory's path, got undefined$/);
  });
});
