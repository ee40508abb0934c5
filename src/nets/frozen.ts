// A net frozen for inference (net.freeze()): a snapshot of its parameters and
// state that predicts with the net's bits at the moment of freezing, as an
// ONNX Runtime session or torch.jit.freeze holds its weights. What freezing
// buys is speed at small batches: each Affine's W is packed once into the
// GEMM's panel layout (assembly/gemm.ts packBPanels), where net.predict packs
// all of W on every call — at batch 8 the MLP 784-[100×6]-10 packed 520 KB a
// call, 18 of the 69 µs its GEMMs took — and each Convolution's W into the
// direct kernel's filter panels (at one image, that packing with each call's
// other fixed work was 97 of DeepConvNet's 485 µs of convolution). A snapshot, not a cache: weights are
// plain memory a user (or an optimizer) may write at any time, so no cache
// could know when its packing went stale; a frozen net never goes stale, and
// freezing again after training is explicit.
import { Affine, affineRows } from '../layers/affine.js';
import { BatchNormalization } from '../layers/batch-normalization.js';
import { Convolution } from '../layers/convolution.js';
import { Dropout } from '../layers/dropout.js';
import { Flatten } from '../layers/flatten.js';
import { InstanceNormalization } from '../layers/instance-normalization.js';
import { LayerNormalization } from '../layers/layer-normalization.js';
import { GlobalAveragePooling, Pooling } from '../layers/pooling.js';
import { Relu, Sigmoid, Tanh, isFusableActivation } from '../layers/activations.js';
import { Buffers } from '../layers/buffers.js';
import { fusesActivation, type Layer } from '../layers/layer.js';
import { ACTIVATION_CODES, type FusedActivation, type Runtime } from '../runtime/runtime.js';
import { checkFloatTensor, copyResult, type Tensor } from '../runtime/tensor.js';
import { checkSamples, firstAffineW } from './samples.js';
import { packedBFloats } from '../runtime/gemm-split.js';
import { checkAsyncOptions, predictInChunks, type AsyncOptions } from './async-predict.js';
import { balancedShare, GEMM_PACKED, PARTS, put, SLOTS, splitRows } from './row-chain.js';
import { outputShapeOf, summarize, type NetSummary, type SummarySource } from './summary.js';

/** One step of a frozen net's forward: owns its output (valid until its next call) and its copies. */
interface Stage {
  forward(x: Tensor): Tensor;
  dispose(): void;
}

/**
 * An Affine with W packed once: act(x · W + b) through rt.unsafeGemmPacked, the bits of
 * Affine.forward(x, false, act) on the W and b it copied.
 */
class PackedAffine implements Stage {
  readonly packed: Tensor;
  readonly b: Tensor;
  private readonly buffers: Buffers;
  readonly D: number;
  readonly M: number;

  constructor(private readonly rt: Runtime, layer: Affine, readonly act: FusedActivation, readonly who: string) {
    [this.D, this.M] = layer.W.shape;
    this.packed = rt.tensor([packedBFloats(this.M, this.D)]);
    rt.unsafeKernels.packBPanels(0, this.M, this.D, layer.W.ptr, this.M, this.packed.ptr);
    try {
      this.b = rt.tensor(layer.b.shape, layer.b.data);
    } catch (e) {
      this.packed.dispose(); // the stage is not made: nothing else would free it
      throw e;
    }
    this.buffers = new Buffers(rt);
  }

  forward(x: Tensor): Tensor {
    const out = this.out(affineRows(x, this.D, this.who));
    this.rt.unsafeGemmPacked(out.shape[0], this.M, this.D, x.ptr, this.D, this.packed.ptr, out.ptr, this.M, this.b.ptr, this.act);
    return out;
  }

  /** The output for N rows (valid until the next call). */
  out(N: number): Tensor {
    return this.buffers.get('out', [N, this.M]);
  }

  dispose(): void {
    this.buffers.dispose();
    this.packed.dispose();
    this.b.dispose();
  }
}

/**
 * When the chain pays over the layer path, measured on 2 threads (docs/BENCHMARKS.md, session 51):
 * 6 rows and more, each part 3 at least (4 rows as 2 + 2 ran 0.72–1.07× the layer path, whose
 * 4-row GEMM reads each weight once; 5 as 3 + 2 0.73–0.96×; 6–16 rows on 784-[100×6]-10 1.27–1.71×,
 * 100 rows 1.05–1.10×); 2^16 multiply-adds a part at least (784-[10]-10 and 784-[20]-10 ran 0.94–1.07×
 * either way); and with more than 2^18 floats of weights (1 MiB: each part reads all of them, where
 * the layer path's column split reads half a layer a thread) 24 rows at least (784-[1000, 1000]-10
 * at 12 and 16 rows: 0.77–0.99×; at 24 and 100: 1.05–1.20×).
 */
const CHAIN_MIN_ROWS = 6;
const CHAIN_MIN_PART_WORK = 1 << 16;
const CHAIN_CACHED_WEIGHTS = 1 << 18;
const CHAIN_WIDE_ROWS = 24;

/**
 * A frozen net of Affine layers alone (activations fused: the book's MultiLayerNet) predicting on
 * two threads in one split call: each thread runs its rows through every layer (assembly/chain.ts
 * runChain, gemmPacked on each layer's packed W), with no synchronisation between layers and its
 * activations in its own core, where the layer path splits each layer's GEMM apart (and runs the
 * layers too small to split on one thread). Each call is one the layer path makes on a block
 * of rows, with its reduction order: the same bits. Rows go to the parts by their measured speeds,
 * as a training step's chain (row-chain.ts).
 */
class FrozenChain {
  /** The share of the rows the calling thread's part takes. */
  private share = 0.5;
  private readonly buffers: Buffers;
  /** Multiply-adds of one row through the net. */
  private readonly rowWork: number;

  constructor(private readonly rt: Runtime, private readonly affines: readonly PackedAffine[]) {
    this.buffers = new Buffers(rt);
    this.rowWork = affines.reduce((sum, a) => sum + a.D * a.M, 0);
  }

  /**
   * The output for x's rows (borrowed from the last layer), or null without running anything where
   * the layer path is the one to take: no pool of two threads taking split calls now, or a batch
   * the chain does not pay for (above).
   * @throws RangeError where the first layer's forward would, before anything is computed.
   */
  run(x: Tensor): Tensor | null {
    const rt = this.rt;
    const first = this.affines[0];
    const N = affineRows(x, first.D, first.who);
    if (!rt.splitsNow || rt.splitThreads !== PARTS || N < CHAIN_MIN_ROWS || (N / PARTS) * this.rowWork < CHAIN_MIN_PART_WORK) return null;
    if (this.rowWork > CHAIN_CACHED_WEIGHTS && N < CHAIN_WIDE_ROWS) return null;
    const L = this.affines.length, region = L * SLOTS;
    const table = this.buffers.labels('table', [PARTS * region]);
    const work = rt.partScratch(PARTS, rt.unsafeKernels.gemmWorkspaceBytes());
    const outs = this.affines.map((a) => a.out(N));
    // the measured share of the rows: to the nearest row, each part 3 at least, where whole micro-tiles
    // would be too coarse (784-[100×6]-10 at 12 rows: 1.17× the layer path as 10 + 2, 1.46× as 6 + 6),
    // else on a micro-tile boundary
    const split = N < 4 * rt.gemmTileRows ? Math.min(N - 3, Math.max(3, Math.round(N * this.share))) : splitRows(N, this.share, rt.gemmTileRows);
    const d = table.data;
    for (let p = 0; p < PARTS; p++) {
      const r0 = p === 0 ? 0 : split, R = p === 0 ? split : N - split;
      let e = p * region;
      for (let l = 0; l < L; l++) {
        const a = this.affines[l];
        const from = l === 0 ? x : outs[l - 1];
        e = put(d, e, GEMM_PACKED, R, a.M, a.D, from.ptr + 4 * r0 * a.D, a.D, a.packed.ptr, outs[l].ptr + 4 * r0 * a.M, a.M, a.b.ptr, ACTIVATION_CODES[a.act], work[p]);
      }
    }
    rt.runParts('runChain', PARTS, (p, args) => args(table.ptr + 4 * p * region, L), N * this.rowWork);
    this.share = balancedShare(rt, this.share, split, N - split);
    return outs[L - 1];
  }

  dispose(): void {
    this.buffers.dispose();
  }
}

/**
 * Any other layer: a twin of it on copies of its parameters and state, run with train = false
 * (and with the activation after it fused, when it fuses one). The twins only ever run forward
 * at inference, which never writes gradients, so their gradient slots are the copies themselves:
 * a frozen net holds no gradient memory.
 */
class Twin implements Stage {
  constructor(private readonly layer: Layer, private readonly copies: Tensor[], private readonly act: FusedActivation) {}

  forward(x: Tensor): Tensor {
    return this.act !== 'none' && fusesActivation(this.layer) ? this.layer.forward(x, false, this.act) : this.layer.forward(x, false);
  }

  dispose(): void {
    this.layer.dispose();
    for (const t of this.copies) t.dispose();
  }
}

/** A twin of `layer` on copies made by `copy`; null for a layer type freezing does not know. */
function twinOf(layer: Layer, copy: (t: Tensor) => Tensor): Layer | null {
  if (layer instanceof Convolution) {
    const W = copy(layer.W), b = copy(layer.b);
    const twin = new Convolution(W, b, layer.stride, layer.pad, { dW: W, db: b });
    try {
      twin.packFilters();
    } catch (e) {
      twin.dispose();
      throw e;
    }
    return twin;
  }
  if (layer instanceof BatchNormalization) {
    const gamma = copy(layer.gamma), beta = copy(layer.beta);
    return new BatchNormalization(gamma, beta, layer.momentum, {
      eps: layer.eps, spatial: layer.spatial, runningMean: copy(layer.runningMean), runningVar: copy(layer.runningVar), dgamma: gamma, dbeta: beta,
    });
  }
  if (layer instanceof LayerNormalization || layer instanceof InstanceNormalization) {
    const gamma = copy(layer.gamma), beta = copy(layer.beta);
    const Kind = layer instanceof LayerNormalization ? LayerNormalization : InstanceNormalization;
    return new Kind(gamma, beta, { eps: layer.eps, dgamma: gamma, dbeta: beta });
  }
  if (layer instanceof Relu) return new Relu();
  if (layer instanceof Sigmoid) return new Sigmoid();
  if (layer instanceof Tanh) return new Tanh();
  if (layer instanceof Flatten) return new Flatten();
  if (layer instanceof Dropout) return new Dropout(layer.ratio, { inverted: layer.inverted });
  if (layer instanceof Pooling) return new Pooling(layer.poolH, layer.poolW, layer.stride, layer.pad, { mode: layer.mode });
  if (layer instanceof GlobalAveragePooling) return new GlobalAveragePooling();
  return null;
}

/**
 * A net frozen for inference by `net.freeze()`: its own copy of the net's parameters and state
 * (each Affine's W packed for the GEMM), so its predictions are the net's at the moment of freezing,
 * bit for bit, whatever the net does after; freeze again to follow further training. Faster than
 * net.predict at small batches (no packing of W per call), and it never touches the net, so a
 * server can predict with it between a training run's steps. The caller owns it: dispose() frees
 * the copies (the net is untouched; disposing the net leaves the frozen net usable). Its summary() is
 * the net's at freezing, and classificationMetrics takes it as it takes the net.
 */
export class FrozenNet {
  private readonly stages: Stage[] = [];
  /** The stages in one split call on two threads, when every stage is a PackedAffine. */
  private readonly chain: FrozenChain | null = null;
  private isDisposed = false;
  /** The first Affine's W shape where it sets the rows' size (see samples.ts). */
  private readonly firstW: readonly number[] | null;
  /** Rows per chunk of predictAsync and classificationMetrics: the net's evalBatchSize at freezing. */
  readonly evalBatchSize: number;

  /**
   * @internal use net.freeze(), which gives `source`: the net's summary source at freezing (what summary() and the
   * class count of classificationMetrics are computed from).
   */
  constructor(readonly rt: Runtime, layers: readonly Layer[], private readonly inputShape: readonly number[] | null,
    evalBatchSize: number, private readonly source: SummarySource) {
    this.evalBatchSize = evalBatchSize;
    this.firstW = firstAffineW(layers);
    try {
      for (let i = 0; i < layers.length; i++) {
        const layer = layers[i], next = layers[i + 1];
        // the activation after an Affine or a Convolution runs in its epilogue, as net.predict runs it
        const act: FusedActivation = fusesActivation(layer) && isFusableActivation(next) ? next.fusedAs : 'none';
        this.stages.push(this.stageOf(layer, act, i));
        if (act !== 'none') i++;
      }
      const affines = this.stages.filter((stage) => stage instanceof PackedAffine);
      if (affines.length > 0 && affines.length === this.stages.length) this.chain = new FrozenChain(rt, affines);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  private stageOf(layer: Layer, act: FusedActivation, index: number): Stage {
    if (layer instanceof Affine) {
      checkFloatTensor(this.rt, layer.W, `freeze: layer ${index} (Affine) W`);
      checkFloatTensor(this.rt, layer.b, `freeze: layer ${index} (Affine) b`);
      return new PackedAffine(this.rt, layer, act, `FrozenNet.predict: layer ${index} (Affine)`);
    }
    const copies: Tensor[] = [];
    const copy = (t: Tensor): Tensor => {
      checkFloatTensor(this.rt, t, `freeze: layer ${index} (${layer.name}) parameter or state`);
      const c = this.rt.tensor(t.shape, t.data);
      copies.push(c);
      return c;
    };
    let twin: Layer | null;
    try {
      twin = twinOf(layer, copy);
    } catch (e) {
      for (const t of copies) t.dispose();
      throw e;
    }
    if (twin === null) throw new TypeError(`freeze: layer ${index} (${layer.name}) is not one of simdnn's layers, which are the ones a net can be frozen with`);
    return new Twin(twin, copies, act);
  }

  /** True once dispose() was called: predict then throws. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  /**
   * The output for `x` (the net's predict(x, false) at freezing, same bits), in a new tensor the
   * caller owns, or written into `out` (the output's shape) and returned.
   * @throws Error after dispose(); TypeError if x or out is not a live float tensor of this runtime;
   * RangeError if x's shape does not fit the net or out's size is not the output's (out is then not written).
   */
  predict(x: Tensor, out?: Tensor): Tensor {
    if (out !== undefined) checkFloatTensor(this.rt, out, 'FrozenNet.predict: out');
    return copyResult(this.predictBorrowed(x, 'FrozenNet.predict: x'), out, 'FrozenNet.predict');
  }

  /**
   * predict() without the copy: the output is borrowed from the frozen net (valid until its next
   * call; do not dispose it).
   */
  predictBorrowed(x: Tensor, what = 'FrozenNet.predictBorrowed: x'): Tensor {
    this.checkInput(x, what);
    const chained = this.chain?.run(x);
    if (chained) return chained;
    for (const stage of this.stages) x = stage.forward(x);
    return x;
  }

  /**
   * predict(x) without blocking, as the net's predictAsync: chunks of the net's evalBatchSize rows
   * (at freezing) copied into a new tensor the caller owns (or `out`), the same bits, yielding to the
   * event loop whenever ~8 ms have run; on an error or abort the tensor it made is freed.
   * @throws like predict(); rejects with `signal.reason` once `options.signal` aborts (checked before every chunk).
   */
  async predictAsync(x: Tensor, options: AsyncOptions & { out?: Tensor } = {}): Promise<Tensor> {
    const who = 'FrozenNet.predictAsync';
    const checked = checkAsyncOptions(who, options, true); // read once: the chunks use what was checked
    const { out } = checked;
    const alive = () => this.checkAlive();
    this.checkInput(x, `${who}: x`); // the whole x, as the caller gave it: the chunks are checked again
    if (out !== undefined) checkFloatTensor(this.rt, out, `${who}: out`);
    // no rows (or no row axis): nothing to cut
    if (!(x.shape[0] > 0)) return copyResult(this.predictBorrowed(x, `${who}: x`), out, who);
    return predictInChunks(this.rt, who, x, this.evalBatchSize, checked, alive, (chunk) => this.predictBorrowed(chunk, `${who}: x`));
  }

  /**
   * The summary of the net it was frozen from, as that net's summary() gave it at freezing (net.summary,
   * formatSummary): each layer's name, output shape for one sample, parameter keys and counts, the loss row
   * and the totals, for `inputShape` (one sample's dimensions; by default the net's own). Computed from what
   * the frozen net keeps, never by running it: nothing is allocated, and it works after the net is disposed.
   * @throws Error after dispose(); TypeError/RangeError naming `summary: inputShape` for one that is not
   * positive integers, is not the net's input, or does not fit a layer.
   */
  summary(inputShape?: readonly number[]): NetSummary {
    this.checkAlive();
    return summarize(this.source, inputShape);
  }

  /**
   * @internal The rows of an x given to an entry (`who`; classificationMetrics), at least one: the frozen net
   * alive, x a live float tensor of its runtime whose samples it takes (predict's checks).
   */
  rowsOf(x: Tensor, who: string): number {
    this.checkInput(x, `${who}: x`);
    if (x.shape.length < 1 || x.shape[0] === 0) throw new RangeError(`${who}: x has 0 rows [${x.shape.join(', ')}]`);
    return x.shape[0];
  }

  /**
   * @internal The output width (its class count) for x's samples, from the shape rules of the layers it was
   * frozen from: no forward is run (every layer of a frozen net is one of simdnn's, whose rule is known).
   * @throws RangeError, naming `who` and x, if x's samples do not fit a layer or the output is not [rows, classes].
   */
  outputColumns(x: Tensor, who: string): number {
    const out = outputShapeOf(this.source.layers, x.shape.slice(1));
    if (typeof out === 'string') throw new RangeError(`${who}: x [${x.shape.join(', ')}] does not fit the net: ${out}`);
    if (out === null || out.length !== 1) {
      throw new RangeError(`${who}: the net's output for a row of x is [${out === null ? '?' : [1, ...out].join(', ')}], not [rows, classes]`);
    }
    return out[0];
  }

  /** predict's checks of x (named `what`): the frozen net alive, x a live float tensor of its runtime, samples it takes. */
  private checkInput(x: Tensor, what: string): void {
    this.checkAlive();
    checkFloatTensor(this.rt, x, what);
    checkSamples(this.inputShape, this.firstW, x, what);
  }

  private checkAlive(): void {
    if (this.isDisposed) throw new Error('FrozenNet: used after dispose()');
  }

  /** Frees the frozen net's copies and buffers (not the net's). Idempotent. */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    for (const stage of this.stages) stage.dispose();
    this.chain?.dispose();
  }
}
