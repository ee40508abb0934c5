// The book's Convolution layer, one image at a time (assembly/conv.ts
// convForward/convBackward): out[i] = W[FN, C·FH·FW] · col[i][C·FH·FW, OH·OW]
// writes NCHW directly. At stride 1 the kernels are direct (no im2col: the
// forward and dx read a zero-padded copy of the image or of dout in place,
// dW sums 4 filters × 2 taps per tile in vector lanes); otherwise col is one
// image's (it stays in cache; no full-batch col is ever built) and is rebuilt
// in backward rather than kept. The batch is split into groups of images that
// run on the runtime's threads, each in a scratch region of its own
// (rt.partScratch); the direct kernels use only what im2col + GEMM would.
// W goes into the direct forward's filter panels once per call (once for a
// frozen net's twin), not once per group. Where the outputs have few
// positions for their filters (forwardByPositions), the forward computes each
// image's P × FN outputs on Wᵀ packed once per call instead, and transposes
// them into NCHW. Each group's backward sums its own dW and db, added in
// group order after.
import type { ActivationBackwardFusingLayer, ActivationFusingLayer } from './layer.js';
import { keptForBackward, type FusableActivation } from './activations.js';
import { Buffers } from './buffers.js';
import { badNumber, checkFloatTensor, checkKernelSize, overlapOf, sharesMemory, shown, type Tensor } from '../runtime/tensor.js';
import { activationCode, type FusedActivation, type Runtime } from '../runtime/runtime.js';

/** Gradient tensors a Convolution writes into instead of making its own: both or neither, sized like W and b; they stay the giver's (dispose() leaves them). */
export interface ConvolutionGrads { dW?: Tensor; db?: Tensor }

/**
 * Groups a batch is split into (fewer for a smaller batch): the unit of work
 * for threads, and of the dW and db sums, which add each group's partial sums
 * in group order. Fixed by the batch alone, so dW and db have the same bits on
 * any number of threads; 8 keeps up to 8 threads busy, at a partial dW and db
 * per extra group.
 */
export const CONV_IMAGE_GROUPS = 8;

function imageGroups(N: number): number {
  return Math.max(1, Math.min(N, CONV_IMAGE_GROUPS));
}

/** Units [u0, u1) of part g of N (images, or a one-image forward's filter blocks): consecutive, sizes differing by at most one. */
function groupRange(N: number, groups: number, g: number): [number, number] {
  return [Math.floor((N * g) / groups), Math.floor((N * (g + 1)) / groups)];
}

/**
 * Output size along one axis, as the book: 1 + floor((size + 2·pad − filter) / stride), below 1 when the
 * filter does not fit (the callers say so). size and pad must be non-negative integers, filter and stride
 * positive ones, all and size + 2·pad safe integers (so the result is exact): a TypeError (not a number) or
 * RangeError naming the argument otherwise.
 */
export function convOutputSize(size: number, filter: number, stride: number, pad: number): number {
  if (!(Number.isSafeInteger(size) && size >= 0 && Number.isSafeInteger(filter) && filter > 0 && Number.isSafeInteger(stride) && stride > 0
    && Number.isSafeInteger(pad) && pad >= 0 && Number.isSafeInteger(size + 2 * pad))) {
    // the arguments are listed only here: a layer's forward calls this, and allocates nothing
    for (const [what, v, min] of [['size', size, 0], ['filter', filter, 1], ['stride', stride, 1], ['pad', pad, 0]] as const) {
      const expected = `convOutputSize: ${what} must be a ${min === 1 ? 'positive' : 'non-negative'} integer (at most 2^53 − 1)`;
      if (typeof v !== 'number') throw new TypeError(`${expected}, got ${v === null ? 'null' : typeof v}`);
      if (!(Number.isSafeInteger(v) && v >= min)) throw new RangeError(`${expected}, got ${v}`);
    }
    throw new RangeError(`convOutputSize: size + 2·pad must be at most 2^53 − 1, got ${size} + 2·${pad}`);
  }
  return 1 + Math.floor((size + 2 * pad - filter) / stride);
}

/**
 * Largest stride, pad or pooling window: the kernels add size + 2·pad in 32
 * bits, and a tensor's size is below 2^29.
 */
export const MAX_WINDOW = 2 ** 24;

export function checkStridePad(who: string, stride: number, pad: number): void {
  // shown(): a Symbol in the message would throw while it is formatted, a BigInt or a string read as a number
  if (!(Number.isInteger(stride) && stride > 0 && stride <= MAX_WINDOW)) throw badNumber(stride, `${who}: stride must be a positive integer, got ${shown(stride)} (at most ${MAX_WINDOW})`);
  if (!(Number.isInteger(pad) && pad >= 0 && pad <= MAX_WINDOW)) throw badNumber(pad, `${who}: pad must be a non-negative integer, got ${shown(pad)} (at most ${MAX_WINDOW})`);
}

/**
 * Scratch bytes per image group of a convolution, in float64 and checked
 * (assembly/conv.ts convScratchBytes computes it in 32 bits): GEMM packing
 * space and two im2col columns of C·FH·FW × OH·OW floats, each 16-aligned.
 */
export function convScratchBytes(who: string, rt: Runtime, C: number, FH: number, FW: number, OH: number, OW: number): number {
  const colBytes = checkKernelSize(who, `an im2col column (${C}·${FH}·${FW} × ${OH}·${OW} floats) in bytes`, Math.ceil((C * FH * FW * OH * OW * 4) / 16) * 16);
  return rt.unsafeKernels.gemmWorkspaceBytes() + 2 * colBytes;
}

/** Floats of W [FN, K] in the direct kernel's panels (convPackFilters): whole panels of 4 filters, in float64. */
function packedFiltersFloats(FN: number, K: number): number {
  return Math.ceil(FN / 4) * 4 * K;
}

/**
 * Whether a forward computes each image's outputs by positions, P × FN on Wᵀ packed once
 * (assembly/conv.ts convForwardIm2colPacked), rather than W · col with W packed again for every
 * image (im2col + GEMM) or the direct kernel's 4-filter × 8-column tiles: the same bits either
 * way. Packing W for each image costs in proportion to 1/P of the products, packing colᵀ and
 * transposing the outputs 1/FN and 1/K. Measured on Intel, plain and relaxed builds
 * (docs/BENCHMARKS.md, session 56): on the im2col path (stride > 1, or filters too large for the
 * direct kernel's scratch) 1.05–1.4× with at most half as many positions as filters and as K,
 * 1.0–1.1× at 196 positions for 256 filters, 0.73–0.99× with more positions; 1 × 1 filters, whose
 * direct tiles run a row's columns 8 at a time, 1.06–1.67× on rows of 7, 10 or 14 positions with
 * 32 filters or more, 0.78–0.93× on rows of 4, 8 or 28.
 */
export function forwardByPositions(direct: boolean, FH: number, FW: number, OW: number, P: number, FN: number, K: number): boolean {
  if (!direct) return 2 * P <= Math.min(FN, K);
  return FH === 1 && FW === 1 && OW % 4 !== 0 && P <= 256 && FN >= 32;
}

/**
 * Whether a backward computes dx by positions, each image's dcolᵀ = doutᵀ · W (P × K) on W packed
 * once (assembly/conv.ts convInputGradIm2colPacked), rather than convBackward's dx (Wᵀ packed again
 * for every image, or the direct kernels): the same bits either way. `paths` is
 * convBackwardPaths'; its one-channel dx (bit 4) stays, and its direct dx of larger filters, which
 * sums each element's taps in another order. As forwardByPositions, with the dx pass's own sizes:
 * on the im2col path, at most half as many positions as filters and as K (1.12–1.38× at 7 × 7 on
 * Intel; at 196 positions for 256 filters 0.86–1.04×, 0.77–1.07× with more positions); the direct
 * path's 1 × 1 filters on input rows as the forward's (1.32–1.96× on rows of 7 and 10), with 32
 * input channels or more.
 */
export function inputGradByPositions(paths: number, FH: number, FW: number, W: number, P: number, K: number, FN: number, C: number): boolean {
  if (paths & 4) return false;
  if (paths & 2) return FH === 1 && FW === 1 && W % 4 !== 0 && P <= 256 && C >= 32;
  return 2 * P <= Math.min(K, FN);
}

/** Validates a 4-D NCHW input and returns [N, C, H, W]. */
export function checkImages(who: string, x: Tensor, channels?: number): [number, number, number, number] {
  if (x.shape.length !== 4 || (channels !== undefined && x.shape[1] !== channels)) {
    throw new RangeError(`${who}: x must be [N, ${channels ?? 'C'}, H, W], got [${x.shape.join(', ')}]`);
  }
  return x.shape as [number, number, number, number];
}

/**
 * The book's Convolution layer on NCHW images: FN filters W [FN, C, FH, FW] plus a bias b [FN] each, at a
 * stride and zero padding, giving [N, FN, OH, OW] (see convOutputSize). An activation that follows it in a
 * Sequential is applied in the same pass as the bias. The batch's images run split across the runtime's
 * threads, with the same bits on any number of them. The layer reads W and b where they are and never frees
 * them; it owns its outputs and the gradients it made.
 */
export class Convolution implements ActivationFusingLayer, ActivationBackwardFusingLayer {
  readonly name = 'Convolution';
  readonly fusesActivation = true;
  readonly fusesActivationBackward = true;
  readonly dW: Tensor;
  readonly db: Tensor;
  readonly params: Readonly<Record<string, Tensor>>;
  readonly grads: Readonly<Record<string, Tensor>>;
  private readonly buffers: Buffers;
  private readonly ownsGrads: boolean;
  /** Where the grads given overlap W, b or each other ('dW overlaps W'), or null: backward refuses then. */
  private readonly gradsOverlap: string | null;
  private x: Tensor | null = null;
  private packed: Tensor | null = null;
  /** A frozen twin's Wᵀ in GEMM's B panels, for the forward by positions: packed at its first use, kept. */
  private packedByPositions: Tensor | null = null;
  private disposed = false;

  /**
   * A Convolution with filters W [FN, C, FH, FW] and biases b [FN], live float tensors of one runtime, kept by
   * reference: they stay the caller's (dispose() leaves them; free them after the layer). `stride` (default 1)
   * and `pad` (default 0) are integers. `grads` gives the dW and db it fills instead of making its own (e.g.
   * views on a net's gradient block; both or neither): they stay the giver's too. Without them the layer makes
   * zero-filled dW and db, which dispose() frees.
   * @throws TypeError if W, b, dW or db is not a live float tensor of W's runtime, grads is not an object, has
   * an unknown key, or gives only one of dW and db, or stride or pad is not a number; RangeError if W is not
   * 4-D, b does not have W's FN elements, stride is not a positive integer or pad a non-negative one (each at
   * most a window's limit), or dW and db are not W's and b's sizes. Grads that overlap W, b or each other are
   * refused by backward.
   */
  constructor(readonly W: Tensor, readonly b: Tensor, readonly stride = 1, readonly pad = 0, grads: ConvolutionGrads = {}) {
    checkFloatTensor(W?.rt, W, 'Convolution: W');
    const rt = W.rt;
    checkFloatTensor(rt, b, 'Convolution: b');
    if (grads === null || typeof grads !== 'object') throw new TypeError('Convolution: grads must be an object { dW?, db? }');
    for (const key of Object.keys(grads)) {
      if (key !== 'dW' && key !== 'db') throw new TypeError(`Convolution: unknown grads key '${key}' (expected dW, db)`);
    }
    if (grads.dW !== undefined) checkFloatTensor(rt, grads.dW, 'Convolution: grads.dW');
    if (grads.db !== undefined) checkFloatTensor(rt, grads.db, 'Convolution: grads.db');
    if ((grads.dW === undefined) !== (grads.db === undefined)) throw new TypeError('Convolution: give both grads.dW and grads.db, or neither');
    if (W.shape.length !== 4) throw new RangeError(`Convolution: W must be 4-D [FN, C, FH, FW], got [${W.shape.join(', ')}]`);
    if (b.size !== W.shape[0]) throw new RangeError(`Convolution: b must have ${W.shape[0]} elements (W's filters), got [${b.shape.join(', ')}]`);
    checkStridePad('Convolution', stride, pad);
    if (grads.dW && (grads.dW.size !== W.size || grads.db!.size !== b.size)) throw new RangeError('Convolution: dW/db must match W/b in size');
    // grads that alias W and b are a frozen net's forward-only twin (frozen.ts): refused at backward, which writes
    // dW and db while it reads W for dx (image by image, on a first layer's path)
    this.gradsOverlap = grads.dW ? overlapOf({ W, b }, { dW: grads.dW, db: grads.db }) : null;
    this.buffers = new Buffers(rt);
    this.ownsGrads = !grads.dW;
    this.dW = grads.dW ?? rt.tensor(W.shape);
    try {
      this.db = grads.db ?? rt.tensor(b.shape);
    } catch (e) {
      if (this.ownsGrads) this.dW.dispose(); // out of memory: the layer is not made, so nothing else would free it
      throw e;
    }
    this.params = { W, b };
    this.grads = { W: this.dW, b: this.db };
  }

  /** Output shape for an input shape [N, C, H, W]. */
  outputShape(x: readonly number[]): [number, number, number, number] {
    const [FN, , FH, FW] = this.W.shape;
    return [x[0], FN, convOutputSize(x[2], FH, this.stride, this.pad), convOutputSize(x[3], FW, this.stride, this.pad)];
  }

  /** With `act`, returns act(conv(x) + b): the activation that follows is applied to each image's output in the same pass as the bias. */
  forward(x: Tensor, _train = false, act: FusedActivation = 'none'): Tensor {
    this.checkAlive('forward');
    checkFloatTensor(this.W.rt, x, 'Convolution.forward: x');
    const code = activationCode(act, 'Convolution.forward');
    const [FN, C, FH, FW] = this.W.shape;
    const [N, , H, W] = checkImages('Convolution.forward', x, C);
    const [, , OH, OW] = this.outputShape(x.shape);
    if (OH < 1 || OW < 1) {
      throw new RangeError(`Convolution.forward: a ${FH}×${FW} filter with pad ${this.pad} does not fit a ${H}×${W} input (x is [${x.shape.join(', ')}])`);
    }
    const rt = x.rt;
    // sizes first (float64, checked), then the scratch, then the output: nothing is written before a size fails
    const scratchBytes = convScratchBytes('Convolution.forward', rt, C, FH, FW, OH, OW);
    rt.checkKnownAnswers('convForward', 'Convolution.forward');
    const K = C * FH * FW, P = OH * OW;
    // one image (a prediction) has no groups to split: on threads its filters are split instead, in
    // blocks of the kernel's 4-filter tiles (each output is summed alone, so the same bits)
    const blocks = Math.ceil(FN / 4);
    const filterParts = N === 1 ? rt.splitParts(blocks, 4 * K * P) : 1;
    const groups = filterParts > 1 ? filterParts : imageGroups(N);
    const scratch = rt.partScratch(groups, scratchBytes);
    const out = this.buffers.get('out', [N, FN, OH, OW], x);
    const inImage = C * H * W * 4, outImage = FN * P * 4;
    // part p: images [i0, i1) and filters [f0, f1); W's rows and the packed panels of f0 start at the same float
    const part = (p: number): [number, number, number, number] => {
      if (filterParts === 1) return [...groupRange(N, groups, p), 0, FN];
      const [b0, b1] = groupRange(blocks, groups, p);
      return [0, 1, 4 * b0, Math.min(FN, 4 * b1)];
    };
    const work = N * FN * K * P;
    const k = rt.unsafeKernels;
    const direct = k.convForwardIsDirect(C, H, W, FN, FH, FW, this.stride, this.pad) === 1;
    if (filterParts === 1 && forwardByPositions(direct, FH, FW, OW, P, FN, K)) {
      // Wᵀ in GEMM's B panels, once for the call (once for a frozen twin, whose W never changes);
      // each group's P × FN outputs in a block of its own
      const frozen = this.packed !== null;
      const Wt = frozen ? this.packedByPositions ?? rt.tensor([K * Math.ceil(FN / 8) * 8]) : this.buffers.get('packedWt', [K * Math.ceil(FN / 8) * 8]);
      if (frozen && this.packedByPositions !== Wt) {
        this.packedByPositions = Wt;
        k.packBPanels(1, FN, K, this.W.ptr, K, Wt.ptr);
      }
      const yt = this.buffers.get('outByPositions', [groups, P * FN]);
      if (!frozen) k.packBPanels(1, FN, K, this.W.ptr, K, Wt.ptr);
      rt.runParts('convForwardIm2colPacked', groups, (p, args) => {
        const [i0, i1] = groupRange(N, groups, p);
        args(out.ptr + i0 * outImage, x.ptr + i0 * inImage, Wt.ptr, this.b.ptr, scratch[p], yt.ptr + p * P * FN * 4,
          i1 - i0, C, H, W, FN, FH, FW, this.stride, this.pad, code);
      }, work);
      this.x = x;
      return out;
    }
    const packed = direct ? this.packedFor(K, filterParts === 1 && groups > 1) : null;
    if (packed) {
      rt.runParts('convForwardPacked', groups, (p, args) => {
        const [i0, i1, f0, f1] = part(p);
        args(out.ptr + i0 * outImage + f0 * P * 4, x.ptr + i0 * inImage, packed.ptr + f0 * K * 4, this.b.ptr + f0 * 4, scratch[p],
          i1 - i0, C, H, W, f1 - f0, FH, FW, this.pad, code);
      }, work);
    } else {
      rt.runParts('convForward', groups, (p, args) => {
        const [i0, i1, f0, f1] = part(p);
        args(out.ptr + i0 * outImage + f0 * P * 4, x.ptr + i0 * inImage, this.W.ptr + f0 * K * 4, this.b.ptr + f0 * 4, scratch[p],
          i1 - i0, C, H, W, f1 - f0, FH, FW, this.stride, this.pad, code);
      }, work);
    }
    this.x = x;
    return out;
  }

  /**
   * W [FN, K] in the direct kernel's filter panels (for a forward that runs direct), or null where
   * the kernel packs W itself: the frozen twin's, packed once; else, when `shared` (several image
   * groups, each of which would pack all of W: a training step's 8 did 8 times), packed here once
   * for the call. The same bits either way.
   */
  private packedFor(K: number, shared: boolean): Tensor | null {
    if (this.packed || !shared) return this.packed;
    const FN = this.W.shape[0];
    const packed = this.buffers.get('packedW', [packedFiltersFloats(FN, K)]);
    this.W.rt.unsafeKernels.convPackFilters(packed.ptr, this.W.ptr, FN, K);
    return packed;
  }

  /**
   * @internal For a frozen net's twin, whose W never changes: packs W once into the direct
   * kernel's panels, which forward then reads instead of packing W per call (a frozen DeepConvNet
   * predicts one image 1.17× faster), with the same bits; a forward by positions packs Wᵀ at its
   * first call and keeps it too. A write to W after this goes unseen.
   */
  packFilters(): void {
    this.checkAlive('packFilters');
    if (this.packed) return;
    const [FN, C, FH, FW] = this.W.shape;
    const k = this.W.rt.unsafeKernels;
    const packed = this.W.rt.tensor([packedFiltersFloats(FN, C * FH * FW)]);
    k.convPackFilters(packed.ptr, this.W.ptr, FN, C * FH * FW);
    this.packed = packed;
  }

  /**
   * Fills dW and db for the last forward's x and returns dx ([N, C, H, W], owned by the layer,
   * valid until its next backward).
   * @throws Error after dispose() or before any forward; TypeError/RangeError if dout is not a live float tensor of the output's shape on W's runtime, or x was disposed;
   * RangeError if the dW or db given overlap W, b or each other.
   */
  backward(dout: Tensor): Tensor {
    return this.backwardPass(dout, true, 'backward')!;
  }

  /**
   * before.backward(this.backward(dout)) in one call: each image's dx goes through `before`'s
   * backward as soon as it is computed, while it is in cache (on threads, in the thread that
   * computed it), with the bits of the two calls. `before` is the activation whose output this
   * layer's last forward took.
   * @throws like backward(); TypeError if `before` is not a Relu, Sigmoid or Tanh layer or what it kept is on
   * another runtime or disposed; Error if it has not run forward; RangeError if what it kept is not x's size
   * or overlaps this layer's dx, dW or db. Nothing is written then.
   */
  backwardThrough(dout: Tensor, before: FusableActivation): Tensor {
    const saved = keptForBackward(before, 'Convolution.backwardThrough', this.x);
    return this.backwardPass(dout, true, 'backwardThrough', saved, activationCode(before.fusedAs, 'Convolution.backwardThrough'))!;
  }

  /** dW and db only (no dx: skips Wᵀ · dout and col2im). */
  backwardParams(dout: Tensor): void {
    this.backwardPass(dout, false, 'backwardParams');
  }

  /** dW, db and (needDx) dx, through the backward of the activation (code act) that kept `saved`. */
  private backwardPass(dout: Tensor, needDx: boolean, who: string, saved: Tensor | null = null, act = 0): Tensor | null {
    const x = this.x;
    this.checkAlive(who); // reads W, writes dW and db: given tensors the caller may have disposed
    if (!x) throw new Error(`Convolution.${who}: call forward first`);
    if (this.gradsOverlap) throw new RangeError(`Convolution.${who}: the grads given overlap (${this.gradsOverlap}); it would write them while it reads W and b`);
    checkFloatTensor(x.rt, dout, `Convolution.${who}: dout`);
    checkFloatTensor(x.rt, x, `Convolution.${who}: the forward input x`);
    const [FN, C, FH, FW] = this.W.shape;
    const [N, , H, W] = x.shape;
    const outShape = this.outputShape(x.shape);
    if (dout.size !== outShape.reduce((a, b) => a * b)) {
      throw new RangeError(`Convolution.${who}: dout must be [${outShape.join(', ')}], got [${dout.shape.join(', ')}]`);
    }
    const [, , OH, OW] = outShape;
    const rt = x.rt, k = rt.unsafeKernels;
    rt.checkKnownAnswers('convBackward', `Convolution.${who}`);
    const P = OH * OW;
    const groups = imageGroups(N);
    const scratch = rt.partScratch(groups, convScratchBytes(`Convolution.${who}`, rt, C, FH, FW, OH, OW));
    const dx = needDx ? this.buffers.get('dx', x.shape) : null;
    // the call writes dW, db and dx while it reads saved (threads: concurrently)
    if (saved) {
      const hit = dx && sharesMemory(saved, dx) ? 'dx' : sharesMemory(saved, this.dW) ? 'dW' : sharesMemory(saved, this.db) ? 'db' : null;
      if (hit) throw new RangeError(`Convolution.${who}: the tensor the activation before kept overlaps this layer's ${hit}`);
    }
    // group 0 sums its images' dW and db in place, the others into partial
    // sums added after, in group order
    const extra = Math.max(1, groups - 1);
    const dWPartials = this.buffers.get('dWpartials', [extra, this.dW.size]);
    const dbPartials = this.buffers.get('dbpartials', [extra, FN]);
    const inImage = C * H * W * 4, outImage = FN * P * 4;
    const K = C * FH * FW;
    const paths = k.convBackwardPaths(C, H, W, FN, FH, FW, this.stride, this.pad);
    // dx by positions: a pass of its own after dW and db, on W packed once for the call
    const dxByPositions = dx !== null && inputGradByPositions(paths, FH, FW, W, P, K, FN, C);
    const Wp = dxByPositions ? this.buffers.get('packedWForDx', [FN * Math.ceil(K / 8) * 8]) : null;
    const dxHere = dxByPositions ? null : dx;
    rt.runParts('convBackward', groups, (g, args) => {
      const [i0, i1] = groupRange(N, groups, g);
      args(dxHere ? dxHere.ptr + i0 * inImage : 0, g === 0 ? this.dW.ptr : dWPartials.ptr + (g - 1) * this.dW.size * 4,
        g === 0 ? this.db.ptr : dbPartials.ptr + (g - 1) * FN * 4,
        x.ptr + i0 * inImage, dout.ptr + i0 * outImage, this.W.ptr, scratch[g],
        i1 - i0, C, H, W, FN, FH, FW, this.stride, this.pad, saved && dxHere ? saved.ptr + i0 * inImage : 0, dxHere ? act : 0);
    }, (dxHere ? 2 : 1) * N * FN * K * P);
    for (let g = 1; g < groups; g++) {
      k.axpy(this.dW.ptr, dWPartials.ptr + (g - 1) * this.dW.size * 4, 1, this.dW.size);
      k.axpy(this.db.ptr, dbPartials.ptr + (g - 1) * FN * 4, 1, FN);
    }
    if (dx && Wp) {
      k.packBPanels(0, K, FN, this.W.ptr, K, Wp.ptr);
      rt.runParts('convInputGradIm2colPacked', groups, (g, args) => {
        const [i0, i1] = groupRange(N, groups, g);
        args(dx.ptr + i0 * inImage, dout.ptr + i0 * outImage, Wp.ptr, scratch[g],
          i1 - i0, C, H, W, FN, FH, FW, this.stride, this.pad, saved ? saved.ptr + i0 * inImage : 0, act);
      }, N * FN * K * P);
    }
    return dx;
  }

  dispose(): void {
    this.buffers.dispose();
    this.packed?.dispose();
    this.packed = null;
    this.packedByPositions?.dispose();
    this.packedByPositions = null;
    if (this.ownsGrads) { this.dW.dispose(); this.db.dispose(); }
    this.x = null;
    this.disposed = true;
  }

  /** The layer, and the parameters and gradients it was given, must still be alive. */
  private checkAlive(who: string): void {
    if (this.disposed) throw new Error(`Convolution.${who}: used after dispose()`);
    const rt = this.W.rt;
    checkFloatTensor(rt, this.W, `Convolution.${who}: W`);
    checkFloatTensor(rt, this.b, `Convolution.${who}: b`);
    checkFloatTensor(rt, this.dW, `Convolution.${who}: dW`);
    checkFloatTensor(rt, this.db, `Convolution.${who}: db`);
  }
}
