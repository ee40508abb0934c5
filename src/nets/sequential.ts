// A stack of layers ending in SoftmaxWithLoss, with the book's network
// interface: params, predict, loss, accuracy, gradient, numericalGradient.
// Parameter keys follow the book: the i-th layer with a weight gets W{i}, b{i};
// a parameterised layer without a weight (batch norm) takes the index of the
// weight layer before it (gamma{i}, beta{i}; 1 before the first), and a second
// such layer at one index gets a suffix on all its keys (gamma1_2, beta1_2, …).
// A layer may also hold state that is saved with the model but not learned
// (batch-norm running statistics): net.state, keyed by the same rule
// (runningMean1, runningVar1, …).
import { fusesActivation, fusesActivationBackward, type Layer } from '../layers/layer.js';
import { isFusableActivation } from '../layers/activations.js';
import { Convolution } from '../layers/convolution.js';
import { Flatten } from '../layers/flatten.js';
import { GlobalAveragePooling, Pooling } from '../layers/pooling.js';
import { SoftmaxWithLoss, checkClassWeights, checkLabelSmoothing, checkLabels, checkTargetRows, ownTargets, type Targets } from '../layers/softmax-with-loss.js';
import { Buffers } from '../layers/buffers.js';
import { checkRuntime, type Runtime } from '../runtime/runtime.js';
import { IntTensor, Tensor, checkFloatTensor, checkTensor, checkedValues, copyResult, describeValue, sharesMemory, shown } from '../runtime/tensor.js';
import type { ParameterSet } from './parameters.js';
import { RowChain } from './row-chain.js';
import { Yielder } from '../runtime/yield.js';
import { checkFlag } from '../runtime/options.js';
import { StateSnapshot } from './state-snapshot.js';
import { FrozenNet } from './frozen.js';
import { checkAsyncOptions, predictInChunks, type AsyncOptions } from './async-predict.js';
import { checkSamples, firstAffineW, keepsShape } from './samples.js';
import { summarizeNet, summarySource, type NetSummary } from './summary.js';

/** Options of Sequential; all optional, checked (TypeError/RangeError naming the option) before anything is kept. */
export interface SequentialOptions {
  /** L2 weight decay: loss += ½λΣW², dW += λW (weights only, as in the book). */
  weightDecayLambda?: number;
  /** L1 weight decay: loss += λΣ|W|, dW += λ·sign(W). With L2 this is the Elastic Net. */
  l1Lambda?: number;
  /** Keys that weight decay applies to. Default: every key starting with 'W'. */
  decayed?: (key: string) => boolean;
  /** Rows per chunk when accuracy() runs over a large set. Default 1000. */
  evalBatchSize?: number;
  /**
   * Label smoothing ε in [0, 1] of the net's loss (SoftmaxWithLossOptions.labelSmoothing, PyTorch's and Keras's
   * `label_smoothing`): targets t·(1 − ε) + ε/classes in loss() and gradient(). Default 0 (the book's loss).
   */
  labelSmoothing?: number;
  /**
   * One weight per class of the net's loss (SoftmaxWithLossOptions.classWeights, PyTorch's `CrossEntropyLoss(weight)`,
   * Keras's `class_weight`), checked against the classes at the first forward. Default: none (unweighted).
   */
  classWeights?: readonly number[] | Float32Array | Float64Array;
  /**
   * One sample's shape where the net fixes it (a conv net's [C, H, W]): every entry then refuses an
   * x that is not [N, ...inputShape] up front, naming it, where a layer deep in the net would find
   * the mismatch. Default: none (an Affine first layer takes any x that flattens to its input size).
   */
  inputShape?: readonly number[];
  /** @internal the net's parameter arena, freed with the net */
  parameterSet?: ParameterSet;
}

/** Lent outputs remembered: each layer's Buffers keep 8 shapes a name, and a net lends from its last layer. */
const LENT_KEPT = 16;

const OPTIONS = new Set(['weightDecayLambda', 'l1Lambda', 'decayed', 'evalBatchSize', 'labelSmoothing', 'classWeights', 'inputShape', 'parameterSet']);

/**
 * A stack of layers ending in its own SoftmaxWithLoss (`lastLayer`), with the book's network interface:
 * predict, loss, accuracy, gradient and numericalGradient, and `params`/`grads` keyed as the book's
 * (W1, b1, gamma1, …; each layer's keys numbered by the weight layers before it), ready for an optimizer or a
 * Trainer. Layer state that is saved but not learned (batch-norm running statistics) is in `state`. An
 * Affine or Convolution followed by a Relu, Sigmoid or Tanh applies it in the same pass. The named nets
 * (MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, DeepConvNet) are Sequentials that build their own
 * layers and parameters and carry a `spec`: only those can be saved as model files (see NamedNet).
 */
export class Sequential {
  readonly layers: readonly Layer[];
  /** The net's loss layer (with options.labelSmoothing and options.classWeights). */
  readonly lastLayer: SoftmaxWithLoss;
  readonly params: Readonly<Record<string, Tensor>>;
  readonly grads: Readonly<Record<string, Tensor>>;
  /** Layer state keyed like params (runningMean1, …): saved by exportParams, never given to optimizers. */
  readonly state: Readonly<Record<string, Tensor>>;
  readonly weightDecayLambda: number;
  readonly l1Lambda: number;
  /** One sample's shape, if the net fixes it (options.inputShape); null otherwise. */
  readonly inputShape: readonly number[] | null;
  /** The first Affine's W shape where it sets the rows' size (see samples.ts). */
  private readonly firstW: readonly number[] | null;
  /** The contiguous parameter/gradient blocks when the net allocated its own. */
  readonly parameterSet: ParameterSet | null;
  private readonly decayedKeys: string[];
  /** Rows per chunk of accuracy(), evaluate(), the async entries and a Trainer's evaluations (options.evalBatchSize). */
  readonly evalBatchSize: number;
  private readonly buffers: Buffers;

  /**
   * A net running `layers` in order on `rt` (every parameter and state tensor of theirs must be rt's). The net
   * takes the layers: dispose() disposes them (their own buffers and gradients), with the net's. The tensors
   * given to the layers (W, b, gamma, beta, …) stay the caller's: dispose them after the net.
   * @throws TypeError if rt is not a Runtime; if a layer is not one (params, grads, forward, backward,
   * dispose), is a SoftmaxWithLoss (the net ends in its own), is placed twice, holds a tensor that is not a live
   * one of rt, or has a key both in params and in state; TypeError/RangeError naming a bad option
   * (SequentialOptions). Nothing is kept or allocated then.
   */
  constructor(readonly rt: Runtime, layers: Layer[], options: SequentialOptions = {}) {
    checkRuntime(rt, 'Sequential');
    // the options read once (each getter runs once): what is checked is what is kept
    options = readSequentialOptions(options, 'Sequential');
    if (!Array.isArray(layers)) throw new TypeError(`Sequential: layers must be an array of layers, got ${typeof layers}`);
    layers.forEach((layer, i) => checkLayer(rt, layers, layer, i));
    this.layers = layers;
    this.inputShape = options.inputShape ?? null;
    this.firstW = firstAffineW(layers);
    this.weightDecayLambda = options.weightDecayLambda ?? 0;
    this.l1Lambda = options.l1Lambda ?? 0;
    this.evalBatchSize = options.evalBatchSize ?? 1000;
    this.lastLayer = new SoftmaxWithLoss({ labelSmoothing: options.labelSmoothing ?? 0, ...(options.classWeights !== undefined ? { classWeights: options.classWeights } : {}) });
    this.parameterSet = options.parameterSet ?? null;
    this.buffers = new Buffers(rt);
    const params: Record<string, Tensor> = {};
    const grads: Record<string, Tensor> = {};
    const state: Record<string, Tensor> = {};
    const claimed = new Set<string>();
    let index = 0;
    layers.forEach((layer, i) => {
      const names = Object.keys(layer.params), stateNames = Object.keys(layer.state ?? {});
      const both = names.find((name) => stateNames.includes(name));
      if (both !== undefined) throw new TypeError(`Sequential: layers[${i}] (${layer.name}) has '${both}' both in params and in state`);
      if (names.includes('W')) index++;
      // The book's key (gamma1) when it is free; a layer finding one of its keys claimed (a second norm
      // before the next weight layer) suffixes all of its keys with the first free _2, _3, …: gamma1_2.
      const base = Math.max(index, 1);
      let suffix = '';
      for (let n = 2; [...names, ...stateNames].some((name) => claimed.has(`${name}${base}${suffix}`)); n++) suffix = `_${n}`;
      for (const name of names) {
        const key = `${name}${base}${suffix}`;
        claimed.add(key);
        params[key] = layer.params[name];
        grads[key] = layer.grads[name];
      }
      for (const name of stateNames) {
        const key = `${name}${base}${suffix}`;
        claimed.add(key);
        state[key] = layer.state![name];
      }
    });
    this.params = params;
    this.grads = grads;
    this.firstTrainable = this.layers.findIndex((l) => Object.keys(l.params).length > 0);
    this.state = state;
    this.hasState = Object.keys(state).length > 0;
    const decayed = options.decayed ?? ((k: string) => k.startsWith('W'));
    this.decayedKeys = Object.keys(params).filter(decayed);
    this.chain = RowChain.of(rt, layers, this.lastLayer, this.buffers,
      this.parameterSet && { grad: this.parameterSet.gradPtr, size: this.parameterSet.size });
  }

  /** gradient() in two split calls on two threads, for a net of Affine and activation layers (row-chain.ts). */
  private readonly chain: RowChain | null;

  /**
   * Runs the layers (not the loss) and returns a new tensor the caller owns
   * (dispose it), or writes into `out` (same shape as the output) and returns
   * it. `train` selects training-mode behaviour (dropout, batch norm).
   */
  predict(x: Tensor, train = false, out?: Tensor): Tensor {
    checkTrainFlag('predict', train);
    if (out !== undefined) checkFloatTensor(this.rt, out, 'predict: out');
    return copyResult(this.predictBorrowed(x, train, 'predict: x'), out, 'predict');
  }

  /**
   * predict() without the copy, for hot paths: the result is borrowed from the
   * last layer (valid until the net's next call, which may reuse or free it).
   * Given back to this net as x (to train on its own predictions), it is copied first: a training
   * pass writes that memory before it reads x again.
   * `observe`, if given, sees every layer's output in order (the hidden activations of the book's
   * histograms from one pass), borrowed likewise; with an observer no layers are fused, so each
   * output exists (same bits).
   */
  predictBorrowed(x: Tensor, train = false, what = 'predictBorrowed: x', observe?: (y: Tensor, index: number, layer: Layer) => void): Tensor {
    this.checkAlive();
    checkTrainFlag('predictBorrowed', train);
    checkFloatTensor(this.rt, x, what);
    this.checkSamples(x, what);
    const y = train ? this.wholePass(() => this.forward(x, true, observe)) : this.forward(x, false, observe);
    if (!this.lent.includes(y)) {
      this.lent.push(y);
      if (this.lent.length > LENT_KEPT) this.lent.shift();
    }
    return y;
  }

  /** The outputs predictBorrowed has lent (its last layer's buffers, a few per batch shape), newest last. */
  private readonly lent: Tensor[] = [];

  /**
   * x, or a copy of it where it is an output this net lent (a borrowed result given back, e.g. to train on
   * predictions of the same width): a training pass writes that memory before its backward reads x.
   */
  private unlent(x: Tensor): Tensor {
    if (!this.lent.some((y) => y.alive && sharesMemory(x, y))) return x;
    const copy = this.buffers.get('lent input', x.shape);
    this.rt.unsafeKernels.copy(copy.ptr, x.ptr, x.size);
    return copy;
  }

  /**
   * Runs a training-mode pass (forward, or gradient()'s forward and backward) all or nothing: a pass
   * that throws part way (memory running out at a new batch shape, a worker thread dying) after batch
   * normalization moved its running statistics, or dropout drew its masks from the runtime's stream,
   * puts both back, so the net and the stream are as before the call and calling again gives the bits
   * the first call would have. Passes nest (gradient() runs loss()): the outermost one guards.
   */
  private wholePass<T>(pass: () => T): T {
    if (this.inPass) return pass();
    const seed = this.rt.seed, counter = this.rt.take(0); // no object made on the hot path: a step allocates nothing
    const backup = this.hasState ? (this.stateBackup ??= new StateSnapshot(this.rt, this.state)) : null;
    backup?.save();
    this.inPass = true;
    try {
      return pass();
    } catch (e) {
      if (!this.isDisposed) backup?.restore(); // a net disposed mid-pass (by an observer) has no state to write
      this.rt.randomState = { seed, counter };
      throw e;
    } finally {
      this.inPass = false;
    }
  }

  private inPass = false;
  private readonly hasState: boolean;
  /** The layer state copied before each training-mode pass (made at the first, for a net that has state). */
  private stateBackup: StateSnapshot | null = null;

  /** The layers' forward passes, each activation fused into the layer before it where it can be. */
  private forward(x: Tensor, train: boolean, observe?: (y: Tensor, index: number, layer: Layer) => void): Tensor {
    const layers = this.layers;
    for (let i = 0; i < layers.length; i++) {
      const layer = layers[i], next = layers[i + 1];
      if (observe) {
        x = layer.forward(x, train);
        observe(x, i, layer);
      } else if (fusesActivation(layer) && isFusableActivation(next)) {
        // the activation runs in the Affine's / Convolution's epilogue (same bits as unfused)
        x = next.adoptFused(layer.forward(x, train, next.fusedAs));
        i++;
      } else {
        x = layer.forward(x, train);
      }
    }
    return x;
  }

  /**
   * Mean loss over the batch plus the weight-decay terms; `train` (default false: inference mode, as the book's
   * MultiLayerNetExtend.loss; its DeepConvNet.loss always trains) runs dropout and batch statistics as a training
   * step does. In training mode a call that throws (targets
   * the loss layer refuses, a loss that is not finite) leaves the batch-norm statistics and the
   * random stream as they were, as gradient() does.
   */
  loss(x: Tensor, t: Targets, train = false): number {
    checkTrainFlag('loss', train);
    this.rowsOf(x, 'loss');
    const targets = ownTargets(this.rt, t);
    // the targets are checked after the forward pass: a training-mode pass is undone if they are refused
    return train && !this.inPass ? this.wholePass(() => this.lossOf(this.unlent(x), targets, true)) : this.lossOf(x, targets, train);
  }

  private lossOf(x: Tensor, t: Targets, train: boolean): number {
    const y = this.predictBorrowed(x, train, 'loss: x');
    return this.lastLayer.forward(y, t) + this.decayLoss();
  }

  /**
   * Fraction of rows whose argmax matches t, in inference mode, in chunks.
   * Needs no loss: a row holding NaN counts as wrong.
   */
  accuracy(x: Tensor, t: Targets): number {
    const N = this.rowsOf(x, 'accuracy');
    const { labels } = this.labelsOf(x, t, N, 'accuracy');
    let correct = 0;
    for (let start = 0; start < N; start += this.evalBatchSize) {
      const end = Math.min(N, start + this.evalBatchSize);
      const y = this.predictBorrowed(x.rows(start, end), false, 'accuracy: x');
      correct += this.countCorrect(y, labels.rows(start, end));
    }
    return correct / N;
  }

  /**
   * Loss (with decay terms) and accuracy over a whole set, in inference mode, in chunks; with classWeights and
   * labels the loss is divided by Σ w[tᵢ] over the whole set (a RangeError when every label weighs 0).
   */
  evaluate(x: Tensor, t: Targets): { loss: number; accuracy: number } {
    const { lossSum, lossWeight, decay, correct, rows } = this.evaluateSums(x, t);
    return { loss: this.setLoss('evaluate', lossSum, lossWeight) + decay, accuracy: correct / rows };
  }

  /**
   * @internal evaluate()'s sums over x's chunks, for a caller that adds up several runs of rows (a Trainer's
   * evaluation, paused between chunks): each chunk's mean loss times its divisor (its rows, or with classWeights
   * and labels Σ w[tᵢ]), the divisors' sum (0 where every label weighs 0), the weight-decay terms, the rows right and
   * the rows.
   */
  evaluateSums(x: Tensor, t: Targets): { lossSum: number; lossWeight: number; decay: number; correct: number; rows: number } {
    const N = this.rowsOf(x, 'evaluate');
    const { labels, soft } = this.labelsOf(x, t, N, 'evaluate'); // soft rows' loss as loss() takes it
    let correct = 0;
    let lossSum = 0, lossWeight = 0;
    for (let start = 0; start < N; start += this.evalBatchSize) {
      const end = Math.min(N, start + this.evalBatchSize);
      const y = this.predictBorrowed(x.rows(start, end), false, 'evaluate: x');
      const chunk = labels.rows(start, end);
      correct += this.countCorrect(y, chunk);
      const { sum, weight } = this.lastLayer.weightedLoss(y, soft?.rows(start, end) ?? chunk);
      lossSum += sum;
      lossWeight += weight;
    }
    return { lossSum, lossWeight, decay: this.decayLoss(), correct, rows: N };
  }

  /**
   * evaluate() without blocking: the same chunks (evalBatchSize rows) and the same result, bit for
   * bit, yielding to the event loop whenever ~8 ms of them have run (as Trainer.fit does, so a page
   * stays responsive and a lazy thread pool starts). Labels given as an array or one-hot rows are
   * copied into a tensor of the call's own, so other calls meanwhile (sync or async) cannot change
   * them; x, t and the net are checked again at every chunk.
   * @throws like evaluate(); rejects with `signal.reason` once `options.signal` aborts (checked before every chunk).
   */
  async evaluateAsync(x: Tensor, t: Targets, options: AsyncOptions = {}): Promise<{ loss: number; accuracy: number }> {
    const { lossSum, lossWeight, decay, correct, N } = await this.chunksAsync(x, t, 'evaluateAsync', options, true);
    return { loss: this.setLoss('evaluateAsync', lossSum, lossWeight) + decay, accuracy: correct / N };
  }

  /** accuracy() without blocking, as evaluateAsync(): the same chunks and result. */
  async accuracyAsync(x: Tensor, t: Targets, options: AsyncOptions = {}): Promise<number> {
    const { correct, N } = await this.chunksAsync(x, t, 'accuracyAsync', options, false);
    return correct / N;
  }

  /**
   * predict(x) in inference mode without blocking: the output of each chunk of evalBatchSize rows is
   * copied into a new tensor the caller owns (or into `out`, shaped like the output), with the bits
   * predict(x) gives (each row's output does not depend on the rows beside it), yielding to the event
   * loop whenever ~8 ms have run. On an error or abort the tensor it made is freed (an `out` keeps the
   * chunks written before).
   * @throws like predict(); rejects with `signal.reason` once `options.signal` aborts (checked before every chunk).
   */
  async predictAsync(x: Tensor, options: AsyncOptions & { out?: Tensor } = {}): Promise<Tensor> {
    const checked = checkAsyncOptions('predictAsync', options, true); // read once: the chunks use what was checked
    const { out } = checked;
    this.checkAlive();
    checkFloatTensor(this.rt, x, 'predictAsync: x');
    this.checkSamples(x, 'predictAsync: x'); // the whole x, as the caller gave it: the chunks are checked again
    if (out !== undefined) checkFloatTensor(this.rt, out, 'predictAsync: out');
    // no rows (or no row axis): nothing to cut
    if (!(x.shape[0] > 0)) return copyResult(this.predictBorrowed(x, false, 'predictAsync: x'), out, 'predictAsync');
    return predictInChunks(this.rt, 'predictAsync', x, this.evalBatchSize, checked, () => this.checkAlive(), (chunk) => this.predictBorrowed(chunk, false, 'predictAsync: x'));
  }

  /**
   * The chunks of evaluate() (loss and the decay terms too when `withLoss`, taken with the last chunk,
   * before anything else can run) or accuracy(), yielding between them.
   */
  private async chunksAsync(x: Tensor, t: Targets, who: string, options: AsyncOptions, withLoss: boolean): Promise<{ lossSum: number; lossWeight: number; decay: number; correct: number; N: number }> {
    const { signal } = checkAsyncOptions(who, options, false);
    const N = this.rowsOf(x, who);
    const { labels, soft: given } = this.labelsOf(x, t, N, who, true);
    let soft: Tensor | null = null;
    const yielder = new Yielder();
    let correct = 0, lossSum = 0, lossWeight = 0;
    try {
      // soft rows for the loss, copied as the labels are (other calls meanwhile cannot change them)
      if (withLoss && given) soft = this.rt.tensor(given.shape, given.data);
      for (let start = 0; start < N; start += this.evalBatchSize) {
        signal?.throwIfAborted();
        if (start > 0 && yielder.due()) await yielder.yieldNow();
        signal?.throwIfAborted();
        this.rowsOf(x, who);
        checkTensor(this.rt, labels, `${who}: t`);
        const end = Math.min(N, start + this.evalBatchSize);
        const y = this.predictBorrowed(x.rows(start, end), false, `${who}: x`);
        const chunk = labels.rows(start, end);
        correct += this.countCorrect(y, chunk);
        if (withLoss) {
          const { sum, weight } = this.lastLayer.weightedLoss(y, soft?.rows(start, end) ?? chunk);
          lossSum += sum;
          lossWeight += weight;
        }
      }
      return { lossSum, lossWeight, decay: withLoss ? this.decayLoss() : 0, correct, N };
    } finally {
      yielder.close();
      if (labels !== t) labels.dispose();
      soft?.dispose();
    }
  }

  /**
   * A set's mean loss from its chunks' weighted sums: over the rows (their count, the weight of every chunk
   * without classWeights), or with classWeights and labels over Σ w[tᵢ], which is 0 only where every label
   * of the set weighs 0 (a RangeError naming `who`, where forward() refuses such a batch).
   */
  private setLoss(who: string, lossSum: number, lossWeight: number): number {
    if (lossWeight === 0) throw new RangeError(`${who}: every label of t has class weight 0 (classWeights), so the weighted mean loss is 0/0; the set needs a label of positive weight`);
    return lossSum / lossWeight;
  }

  /** Index of the first layer with parameters (-1: none); gradient() starts nothing before it. */
  private readonly firstTrainable: number;

  /** Loss of the last gradient() call (training mode, with decay terms). */
  lastLoss = NaN;

  /**
   * Backpropagation: fills and returns the gradients, keyed like params. On a runtime split for
   * 2 threads, a net of Affine and activation layers runs it in two split calls (row-chain.ts)
   * instead of one per GEMM, with the same bits.
   */
  gradient(x: Tensor, t: Targets): Readonly<Record<string, Tensor>> {
    this.lastLoss = NaN;
    this.rowsOf(x, 'gradient');
    t = ownTargets(this.rt, t);
    x = this.unlent(x);
    this.wholePass(() => {
      const chained = this.chain?.run(x, t) ?? null;
      if (chained !== null) this.lastLoss = chained + this.decayLoss();
      else this.backpropagate(x, t);
    });
    const k = this.rt.unsafeKernels;
    for (const key of this.decayedKeys) {
      const w = this.params[key], g = this.grads[key];
      if (this.weightDecayLambda !== 0) k.axpy(g.ptr, w.ptr, this.weightDecayLambda, w.size);
      if (this.l1Lambda !== 0) k.l1Gradient(g.ptr, w.ptr, this.l1Lambda, w.size);
    }
    return this.grads;
  }

  /** gradient()'s forward and backward layer by layer. */
  private backpropagate(x: Tensor, t: Targets): void {
    this.lastLoss = this.loss(x, t, true);
    let dout = this.lastLayer.backward(1);
    // layers before the first with parameters need no backward; that one, no input gradient
    const first = this.firstTrainable;
    for (let i = this.layers.length - 1; i > first; i--) {
      const layer = this.layers[i], before = this.layers[i - 1];
      if (fusesActivationBackward(layer) && isFusableActivation(before)) {
        // the activation's backward runs in the layer's dx epilogue (same bits); an
        // activation has no parameters, so i − 1 > first and its backward was due
        dout = layer.backwardThrough(dout, before);
        i--;
      } else {
        dout = layer.backward(dout);
      }
    }
    if (first >= 0) {
      const layer = this.layers[first];
      if (layer.backwardParams) layer.backwardParams(dout);
      else layer.backward(dout);
    }
  }

  /**
   * Central differences of the loss in training mode, keyed like params, in
   * float64. Slow (two forward passes per parameter element): for checks only. The default step h is
   * 1e-3, not the book's 1e-4: the loss is float32, whose rounding a smaller step would magnify.
   * Layers with randomness (dropout) must be given fixed masks to be checked.
   */
  numericalGradient(x: Tensor, t: Targets, h = 1e-3): Record<string, Float64Array> {
    if (typeof h !== 'number') throw new TypeError(`numericalGradient: h must be a positive number, got ${describeValue(h)}`);
    if (!(Number.isFinite(h) && h > 0)) throw new RangeError(`numericalGradient: h must be a positive number, got ${h}`);
    this.rowsOf(x, 'numericalGradient');
    const out: Record<string, Float64Array> = {};
    for (const [key, p] of Object.entries(this.params)) {
      const g = new Float64Array(p.size);
      for (let i = 0; i < p.size; i++) {
        const v = p.data[i];
        // put back even when a loss throws (targets it refuses, a NaN loss): a parameter left at v ± h would be a changed model
        try {
          p.data[i] = v + h;
          const fp = this.loss(x, t, true);
          p.data[i] = v - h;
          const fm = this.loss(x, t, true);
          g[i] = (fp - fm) / (2 * h);
        } finally {
          p.data[i] = v;
        }
      }
      out[key] = g;
    }
    return out;
  }

  /** Copies of the parameter values and the layer state, to save a model. */
  exportParams(): Record<string, { shape: number[]; data: Float32Array }> {
    this.checkAlive();
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [k, p] of Object.entries({ ...this.params, ...this.state })) out[k] = { shape: [...p.shape], data: p.toArray() };
    return out;
  }

  /** Loads values saved by exportParams; every key and shape must match (nothing is written otherwise). */
  importParams(saved: Record<string, { shape: readonly number[]; data: ArrayLike<number> }>): void {
    this.checkAlive();
    if (saved === null || typeof saved !== 'object') throw new TypeError(`importParams: expected what exportParams returns, got ${String(saved)}`);
    // every entry read once and its values checked before the first is written: a value set() refuses
    // (a string, a BigInt) in a later key left the earlier ones imported
    const checked: Array<[Tensor, ArrayLike<number>]> = [];
    for (const [k, p] of Object.entries({ ...this.params, ...this.state })) {
      const s = saved[k];
      if (!s) throw new Error(`importParams: missing parameter '${k}'`);
      const { shape, data } = s;
      if (!Array.isArray(shape) || data === null || typeof data !== 'object' || typeof data.length !== 'number') {
        throw new TypeError(`importParams: '${k}' must be { shape, data }`);
      }
      if (shape.length !== p.shape.length || p.shape.some((d, i) => shape[i] !== d) || data.length !== p.size) {
        throw new RangeError(`importParams: '${k}' has shape [${shape.join(', ')}], the net expects [${p.shape.join(', ')}]`);
      }
      checked.push([p, this.rt.detachSafe(checkedValues(`importParams: '${k}'`, p.shape, p.size, data, false))]);
    }
    for (const [p, values] of checked) p.data.set(values);
  }

  /**
   * A copy of the layer state (batch-norm running statistics) that can be
   * saved and restored without allocating: the Trainer saves before a step
   * and restores after a failed one. The caller owns it (dispose it).
   */
  snapshotState(): StateSnapshot {
    this.checkAlive();
    return new StateSnapshot(this.rt, this.state);
  }

  /**
   * A copy of the net for inference, with its predictions at this moment, bit for bit: each
   * Affine's weights packed once for the GEMM, so small batches predict faster than predict()
   * (no packing per call). Later changes to the net (training, writes to its tensors) do not reach it: freeze
   * again. The caller owns it (dispose it); see FrozenNet.
   * @throws Error after dispose(); TypeError if a layer is not one of simdnn's (nothing is kept then).
   */
  freeze(): FrozenNet {
    this.checkAlive();
    return new FrozenNet(this.rt, this.layers, this.inputShape, this.evalBatchSize, summarySource(this));
  }

  /**
   * A Keras-style summary: each layer's name, output shape for one sample (null first for the batch, as
   * Keras's None), parameter keys and counts (learned, and saved but not learned: batch-norm running
   * statistics, Keras's non-trainable), then the loss layer, and the totals (formatSummary prints it as a
   * table). The shapes follow from the layers' sizes: the net does not run and nothing is allocated. They are
   * computed for `inputShape` (one sample's dimensions), by default the net's own (options.inputShape) or
   * else [D] for a first Affine of D inputs; a layer of the caller's has an unknown shape (null, with a note),
   * and so has every row after it.
   * @throws Error after dispose(); TypeError/RangeError naming `summary: inputShape` for one that is not
   * positive integers, is not the net's input, or does not fit a layer.
   */
  summary(inputShape?: readonly number[]): NetSummary {
    this.checkAlive();
    return summarizeNet(this, inputShape);
  }

  /** True once dispose() was called: every entry then throws. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  /** Frees the layers' buffers and the parameter blocks the net allocated; the net cannot be used afterwards. */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    for (const layer of this.layers) layer.dispose();
    this.lastLayer.dispose();
    this.buffers.dispose();
    this.parameterSet?.dispose();
    this.stateBackup?.dispose();
  }

  private isDisposed = false;

  private checkAlive(): void {
    if (this.isDisposed) throw new Error(`${this.constructor.name}: used after dispose()`);
  }

  /**
   * @internal Refuses (a RangeError naming `what`) an x whose samples the net does not take: not
   * [N, ...inputShape], or rows of another size than its first Affine takes.
   */
  checkSamples(x: Tensor, what: string): void {
    checkSamples(this.inputShape, this.firstW, x, what);
  }

  /**
   * @internal The rows of an x given to an entry (`who`), at least one: the net alive, x a live float tensor of its
   * runtime whose samples it takes (classificationMetrics checks x with it too).
   */
  rowsOf(x: Tensor, who: string): number {
    this.checkAlive();
    checkFloatTensor(this.rt, x, `${who}: x`);
    this.checkSamples(x, `${who}: x`);
    if (x.shape.length < 1 || x.shape[0] === 0) throw new RangeError(`${who}: x has 0 rows [${x.shape.join(', ')}]`);
    return x.shape[0];
  }

  /** Rows of y whose argmax is their label; a row holding NaN is wrong. */
  private countCorrect(y: Tensor, labels: IntTensor): number {
    const k = this.rt.unsafeKernels;
    const [rows, cols] = y.shape;
    if (k.hasNonFinite(y.ptr, y.size) === 0) return k.countCorrect(y.ptr, labels.ptr, rows, cols);
    // rare: NaN or ±Inf somewhere; argmax as the kernel does (first maximum), NaN rows wrong
    const v = y.data, t = labels.data;
    let correct = 0;
    for (let r = 0; r < rows; r++) {
      let best = 0, m = v[r * cols], nan = Number.isNaN(m);
      for (let j = 1; j < cols; j++) {
        const a = v[r * cols + j];
        if (Number.isNaN(a)) nan = true;
        else if (a > m) { m = a; best = j; }
      }
      if (!nan && best === t[r]) correct++;
    }
    return correct;
  }

  private decayLoss(): number {
    if (this.weightDecayLambda === 0 && this.l1Lambda === 0) return 0;
    const k = this.rt.unsafeKernels;
    let decay = 0;
    for (const key of this.decayedKeys) {
      const w = this.params[key];
      if (this.weightDecayLambda !== 0) decay += 0.5 * this.weightDecayLambda * k.sumSquares(w.ptr, w.size);
      if (this.l1Lambda !== 0) decay += this.l1Lambda * k.sumAbs(w.ptr, w.size);
    }
    return decay;
  }

  /**
   * Int labels in memory for t (one-hot rows are reduced with argmax, as the book does), checked against
   * the net's outputs on x: t itself, or a copy in the net's buffer (or, when `own`, in a tensor the caller frees).
   */
  private labelsOf(x: Tensor, t: Targets, N: number, who: string, own = false): { labels: IntTensor; soft: Tensor | null } {
    t = ownTargets(this.rt, t);
    // every check before the copy is allocated
    const soft = checkClassTargets(this.rt, t, N, this.outputColumns(x, who), who);
    if (t instanceof IntTensor) return { labels: t, soft: null };
    const labels = own ? this.rt.labels([N]) : this.buffers.labels('accuracy.t', [N]);
    if (t instanceof Tensor) this.rt.unsafeKernels.argmaxRows(labels.ptr, t.ptr, N, t.shape[1]);
    else labels.data.set(t);
    return { labels, soft: soft ? t as Tensor : null };
  }

  /**
   * The net's output width (its class count) for input x, which has a row. Told by the layers where they
   * tell it: the last weight's width when it is an Affine's (every net that has one), or a Convolution's
   * filter count carried to the output by a GlobalAveragePooling (a fully convolutional classifier). Else
   * (a Flatten after the last conv, a layer of the caller's, no weight at all) the width may depend on
   * the input, so the net runs on x's first row in inference mode: that moves no state (batch-norm
   * statistics, the random stream) and writes only the layers' own buffers, which the next call overwrites.
   * @internal (the Trainer's class count)
   * @throws RangeError, naming `who` and x as `xName`, if that output is not [1, classes].
   */
  outputColumns(x: Tensor, who: string, xName = 'x'): number {
    const C = this.outputColumnsOfShapes();
    if (C !== null) return C;
    // the width depends only on a sample's shape: one probe per shape (an evaluation's every chunk asks)
    const key = x.shape.slice(1).join(',');
    const known = this.probedWidths.get(key);
    if (known !== undefined) return known;
    const y = this.predictBorrowed(x.rows(0, 1), false, `${who}: ${xName}`);
    if (y.shape.length !== 2) throw new RangeError(`${who}: the net's output for a row of ${xName} is [${y.shape.join(', ')}], not [rows, classes]`);
    this.probedWidths.set(key, y.shape[1]);
    return y.shape[1];
  }

  /** outputColumns' probed widths by a sample's shape. */
  private readonly probedWidths = new Map<string, number>();

  /** The output width when the layers' parameters tell it, else null (outputColumns). */
  private outputColumnsOfShapes(): number | null {
    // what the layers after layers[i] carry to the output unchanged: the width of their input, its channel
    // count (through a GlobalAveragePooling) or, after a layer that may change it, neither
    let carried: 'width' | 'channels' | null = 'width';
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const layer = this.layers[i], W = layer.params.W;
      if (W?.shape.length === 2) return W.shape[1]; // an Affine's, whatever follows it (as the book's nets count their classes)
      if (W) return carried === 'channels' && layer instanceof Convolution ? W.shape[0] : null;
      if (keepsShape(layer)) continue;
      if (carried === 'width' && layer instanceof GlobalAveragePooling) carried = 'channels';
      else if (!(carried === 'width' && layer instanceof Flatten) && !(carried === 'channels' && layer instanceof Pooling)) carried = null;
    }
    return null;
  }
}



/**
 * @internal Refuses (naming `who` and t) classification targets that are not, for N rows of C classes, an IntTensor
 * of a label a row, one-hot or soft rows [N, C] of probabilities, or an array of N labels, each an integer in
 * [0, C) (accuracy's, evaluate's and classificationMetrics' t). Returns whether t is rows not all one-hot (soft).
 */
export function checkClassTargets(rt: Runtime, t: Targets, N: number, C: number, who: string): boolean {
  if (t instanceof IntTensor) {
    checkTensor(rt, t, `${who}: t`);
    // a row each: the chunks take t's rows (an IntTensor [1, N] held N labels in one row, and failed deep inside)
    if (t.size !== N || t.shape[0] !== N) throw new RangeError(`${who}: t must hold ${N} labels, a row each, got [${t.shape.join(', ')}]`);
    checkLabels(who, t.data, C);
    return false;
  }
  if (t instanceof Tensor) {
    checkTensor(rt, t, `${who}: t`);
    if (t.shape[0] !== N || t.shape.length !== 2) throw new RangeError(`${who}: one-hot t must have ${N} rows, got [${t.shape.join(', ')}]`);
    if (t.shape[1] !== C) throw new RangeError(`${who}: one-hot t must have ${C} columns (the net's outputs), got [${t.shape.join(', ')}]`);
    return !checkTargetRows(who, t);
  }
  if (t === null || typeof t !== 'object' || typeof t.length !== 'number') throw new TypeError(`${who}: t must be a Tensor, an IntTensor or an array of labels, got ${t === null ? 'null' : typeof t}`);
  if (t.length !== N) throw new RangeError(`${who}: t must hold ${N} labels, got ${t.length}`);
  checkLabels(who, t, C);
  return false;
}

/** `train` is a flag: an object there (`predict(x, { out })`) would be truthy and run dropout and batch norm in training mode. */
function checkTrainFlag(who: string, train: unknown): void {
  checkFlag(who, 'train', train, ` (${who}(x, train?, …) takes positional arguments; predictAsync takes { out, signal })`);
}

/**
 * Checks SequentialOptions before a net allocates anything (the named nets call it first). With
 * `who` (the entry, e.g. 'Sequential'), the option messages start with it; without, with the option.
 */
export function checkSequentialOptions(options: SequentialOptions, who?: string): void {
  readSequentialOptions(options, who);
}

/**
 * SequentialOptions read once and checked: a copy of the object's own properties (each getter runs
 * once) with inputShape copied too, so the values checked are the values kept.
 */
function readSequentialOptions(options: SequentialOptions, who?: string): SequentialOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('Sequential: options must be an object');
  const o: SequentialOptions = { ...options };
  for (const key of Object.keys(o)) {
    if (!OPTIONS.has(key)) throw new TypeError(`Sequential: unknown option '${key}' (expected one of ${[...OPTIONS].join(', ')})`);
  }
  const at = (name: string) => (who ? `${who}: ${name}` : name);
  if (o.weightDecayLambda !== undefined) nonNegative(at('weightDecayLambda'), o.weightDecayLambda);
  if (o.l1Lambda !== undefined) nonNegative(at('l1Lambda'), o.l1Lambda);
  const e: unknown = o.evalBatchSize;
  if (e !== undefined) {
    if (typeof e !== 'number') throw new TypeError(`${at('evalBatchSize')}: expected a positive integer, got ${describeValue(e)}`);
    if (!(Number.isInteger(e) && e > 0)) throw new RangeError(`${at('evalBatchSize')}: expected a positive integer, got ${e}`);
  }
  if (o.labelSmoothing !== undefined) checkLabelSmoothing(who ?? 'Sequential', o.labelSmoothing);
  // a copy: the caller's array edited later does not change the loss
  if (o.classWeights !== undefined) o.classWeights = checkClassWeights(who ?? 'Sequential', o.classWeights);
  if (o.decayed !== undefined && typeof o.decayed !== 'function') throw new TypeError(`${at('decayed')}: expected a function of the parameter key`);
  const shape: unknown = o.inputShape;
  if (shape !== undefined) {
    const expected = `${at('inputShape')}: expected one sample's dimensions as positive integers`;
    if (!Array.isArray(shape)) throw new TypeError(`${expected}, got ${describeValue(shape)}`);
    const n = shape.length;
    if (n === 0) throw new RangeError(`${expected}, got []`);
    const dims: unknown[] = Array.from({ length: n }, (_, i) => shape[i]); // each element read once
    const got = n <= 8 ? `[${dims.map(shown).join(',')}]` : describeValue(shape);
    if (!dims.every((d) => typeof d === 'number')) throw new TypeError(`${expected}, got ${got}`);
    if (!dims.every((d) => Number.isInteger(d) && (d as number) > 0)) throw new RangeError(`${expected}, got ${got}`);
    o.inputShape = dims as number[];
  }
  return o;
}

/**
 * Refuses what cannot be a place in the stack: not a layer, the loss layer (a Sequential ends in its
 * own), a layer already placed (it keeps one forward's values for its backward, so a second place
 * would overwrite what the first one's backward needs) or parameters on another runtime.
 */
function checkLayer(rt: Runtime, layers: readonly Layer[], layer: Layer, i: number): void {
  const at = `Sequential: layers[${i}]`;
  if (layer instanceof SoftmaxWithLoss) {
    throw new TypeError(`${at} is a SoftmaxWithLoss; a Sequential ends in its own (net.lastLayer), so leave it out of layers`);
  }
  const l = layer as Partial<Layer> | null;
  if (l === null || typeof l !== 'object' || typeof l.forward !== 'function' || typeof l.backward !== 'function'
    || typeof l.dispose !== 'function' || l.params === null || typeof l.params !== 'object' || l.grads === null || typeof l.grads !== 'object') {
    const got = l !== null && typeof l === 'object' && !Array.isArray(l) ? `an object with keys ${JSON.stringify(Object.keys(l))}` : describeValue(l);
    throw new TypeError(`${at} must be a layer (params, grads, forward, backward, dispose), got ${got}`);
  }
  const first = layers.indexOf(layer);
  if (first < i) {
    throw new TypeError(`${at} is the same ${layer.name} as layers[${first}]; a layer keeps its last forward's input for its backward, so each place needs a layer of its own`);
  }
  for (const [name, t] of Object.entries(layer.params)) checkTensor(rt, t, `${at} (${layer.name}) params.${name}`);
  for (const [name, t] of Object.entries(layer.state ?? {})) checkTensor(rt, t, `${at} (${layer.name}) state.${name}`);
}

function nonNegative(name: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`${name}: expected a non-negative number, got ${describeValue(v)}`);
  if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`${name}: expected a non-negative number, got ${v}`);
  return v;
}
