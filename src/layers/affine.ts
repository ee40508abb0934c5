// Affine: out = x · W + b, with N-D input flattened to [N, D] as in the book;
// the bias add (and a following activation) run in the GEMM's epilogue, and the
// backward of an activation before it in the dx GEMM (backwardThrough).
import type { ActivationBackwardFusingLayer, ActivationFusingLayer } from './layer.js';
import { keptForBackward, type FusableActivation } from './activations.js';
import { Buffers } from './buffers.js';
import { checkFloatTensor, sharesMemory, type Tensor } from '../runtime/tensor.js';
import { activationCode, type FusedActivation } from '../runtime/runtime.js';

/**
 * The rows of an affine input x that flattens to D features per row (RangeError naming `who`
 * otherwise). Also a frozen net's packed Affine's check (src/nets/frozen.ts).
 */
export function affineRows(x: Tensor, D: number, who: string): number {
  const N = x.shape[0];
  if (x.size !== N * D) {
    throw new RangeError(`${who}: x of shape [${x.shape.join(', ')}] flattens to ${x.size / Math.max(N, 1)} features per sample, W expects ${D}`);
  }
  return N;
}

/** Gradient tensors an Affine writes into instead of making its own: both or neither, sized like W and b; they stay the giver's (dispose() leaves them). */
export interface AffineGrads { dW?: Tensor; db?: Tensor }

/**
 * The book's Affine layer: out = x · W + b for x of N rows, each flattening to W's D inputs (an N-D x is
 * flattened as the book's). The bias add, and an activation that follows it in a Sequential, run in the
 * GEMM's epilogue. The layer reads W and b where they are (an optimizer's update is seen at the next
 * forward) and never frees them; it owns its outputs and the gradients it made.
 */
export class Affine implements ActivationFusingLayer, ActivationBackwardFusingLayer {
  readonly name = 'Affine';
  readonly fusesActivation = true;
  readonly fusesActivationBackward = true;
  readonly dW: Tensor;
  readonly db: Tensor;
  readonly params: Readonly<Record<string, Tensor>>;
  readonly grads: Readonly<Record<string, Tensor>>;
  private readonly buffers: Buffers;
  private x: Tensor | null = null;
  private readonly ownsGrads: boolean;
  private disposed = false;

  /**
   * An Affine over W [D, M] and b [M], live float tensors of one runtime, kept by reference: they stay the
   * caller's (dispose() leaves them; free them after the layer). `grads` gives the dW and db it fills instead
   * of making its own (e.g. views on a net's gradient block; both or neither): they stay the giver's too.
   * Without them the layer makes zero-filled dW and db, which dispose() frees.
   * @throws TypeError if W, b, dW or db is not a live float tensor of W's runtime, grads is not an object, has
   * an unknown key, or gives only one of dW and db; RangeError if W is not 2-D, b does not have W's M elements,
   * dW and db are not W's and b's sizes, or one overlaps W, b or the other.
   */
  constructor(readonly W: Tensor, readonly b: Tensor, grads: AffineGrads = {}) {
    checkFloatTensor(W?.rt, W, 'Affine: W');
    const rt = W.rt;
    checkFloatTensor(rt, b, 'Affine: b');
    if (grads === null || typeof grads !== 'object') throw new TypeError('Affine: grads must be an object { dW?, db? }');
    for (const key of Object.keys(grads)) {
      if (key !== 'dW' && key !== 'db') throw new TypeError(`Affine: unknown grads key '${key}' (expected dW, db)`);
    }
    if (grads.dW !== undefined) checkFloatTensor(rt, grads.dW, 'Affine: grads.dW');
    if (grads.db !== undefined) checkFloatTensor(rt, grads.db, 'Affine: grads.db');
    if ((grads.dW === undefined) !== (grads.db === undefined)) throw new TypeError('Affine: give both grads.dW and grads.db, or neither');
    if (W.shape.length !== 2) throw new RangeError(`Affine: W must be 2-D [inputSize, outputSize], got [${W.shape.join(', ')}]`);
    if (b.size !== W.shape[1]) throw new RangeError(`Affine: b must have ${W.shape[1]} elements (W's columns), got [${b.shape.join(', ')}]`);
    if (grads.dW && (grads.dW.size !== W.size || grads.db!.size !== b.size)) throw new RangeError('Affine: dW/db must match W/b in size');
    if (grads.dW) {
      // backward writes dW and db, then reads W for dx
      for (const [g, name] of [[grads.dW, 'dW'], [grads.db!, 'db']] as const) {
        if (sharesMemory(g, W)) throw new RangeError(`Affine: grads.${name} overlaps W`);
        if (sharesMemory(g, b)) throw new RangeError(`Affine: grads.${name} overlaps b`);
      }
      if (sharesMemory(grads.dW, grads.db!)) throw new RangeError('Affine: grads.dW overlaps grads.db');
    }
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

  /**
   * With `act` the activation that follows is fused into the GEMM's epilogue
   * (rt.unsafeGemmBiasAct): the output is act(x · W + b), and x · W + b itself is
   * never stored. Sequential does this for an Affine followed by a
   * FusableActivation. x may be this layer's last output (out is then another buffer).
   */
  forward(x: Tensor, _train = false, act: FusedActivation = 'none'): Tensor {
    const N = this.checkInput(x, 'forward');
    activationCode(act, 'Affine.forward');
    const [D, M] = this.W.shape;
    const out = this.buffers.apart('out', [N, M], x);
    x.rt.unsafeGemmBiasAct(0, 0, N, M, D, x.ptr, D, this.W.ptr, M, out.ptr, M, this.b.ptr, act);
    this.x = x;
    return out;
  }

  /**
   * @internal for src/nets/row-chain.ts, which runs this layer's kernels itself: checks x as
   * forward(x) does, keeps it as forward would, and returns the buffers forward and backward write
   * (dx only when asked for). Nothing is computed.
   */
  chainBuffers(x: Tensor, needDx: boolean): { out: Tensor; dx: Tensor | null } {
    const N = this.checkInput(x, 'forward');
    this.checkApart('backward', x, 'the forward input x'); // the chain's dW reads it
    const out = this.buffers.apart('out', [N, this.W.shape[1]], x);
    const dx = needDx ? this.buffers.get('dx', x.shape) : null;
    this.x = x;
    return { out, dx };
  }

  /** Checks the layer and a forward input x (alive, this runtime, D features per row); returns its rows. */
  private checkInput(x: Tensor, who: string): number {
    this.checkAlive(who);
    checkFloatTensor(this.W.rt, x, `Affine.${who}: x`);
    return affineRows(x, this.W.shape[0], `Affine.${who}`);
  }

  /**
   * Fills dW = xᵀ · dout and db = Σ dout for the last forward's x, and returns dx = dout · Wᵀ
   * ([N, D], owned by the layer, valid until its next backward; dout may be this layer's last dx).
   * @throws Error after dispose() or before any forward; TypeError/RangeError if dout is not a live float [N, M] tensor of W's runtime, or x was disposed;
   * RangeError if dout or x overlaps dW or db. Nothing is written then.
   */
  backward(dout: Tensor): Tensor {
    const x = this.paramGrads(dout, 'backward', null);
    const [D, M] = this.W.shape;
    const N = x.shape[0];
    const dx = this.buffers.apart('dx', x.shape, dout);
    x.rt.unsafeGemm(0, 1, N, D, M, dout.ptr, M, this.W.ptr, M, dx.ptr, D); // dx = dout · Wᵀ
    return dx;
  }

  /**
   * before.backward(this.backward(dout)) in one call: the dx GEMM runs `before`'s backward over
   * each block of rows as it computes it (rt.unsafeGemmActBackward), so on 2 threads each thread
   * applies it to rows in its own cache; same bits. `before` is the activation whose output this
   * layer's last forward took.
   * @throws like backward(); TypeError if `before` is not a Relu, Sigmoid or Tanh layer or what it kept is on
   * another runtime; Error if it has not run forward; RangeError if what it kept is not x's size, or it, dout or x overlaps dW or db. Nothing is written then.
   */
  backwardThrough(dout: Tensor, before: FusableActivation): Tensor {
    // every check before paramGrads writes dW and db
    const saved = keptForBackward(before, 'Affine.backwardThrough', this.x);
    const x = this.paramGrads(dout, 'backwardThrough', saved);
    const [D, M] = this.W.shape;
    const N = x.shape[0];
    const dx = this.buffers.apart('dx', x.shape, dout, saved);
    x.rt.unsafeGemmActBackward(0, 1, N, D, M, dout.ptr, M, this.W.ptr, M, dx.ptr, D, saved.ptr, before.fusedAs);
    return dx;
  }

  /** dW and db only (no dx). */
  backwardParams(dout: Tensor): void {
    this.paramGrads(dout, 'backwardParams', null);
  }

  /** Fills dW and db; returns the forward input. `saved`: what backwardThrough reads after dW and db are written. */
  private paramGrads(dout: Tensor, who: string, saved: Tensor | null): Tensor {
    const x = this.x;
    this.checkAlive(who); // reads W, writes dW and db: given tensors the caller may have disposed
    if (!x) throw new Error(`Affine.${who}: call forward first`);
    checkFloatTensor(x.rt, dout, `Affine.${who}: dout`);
    checkFloatTensor(x.rt, x, `Affine.${who}: the forward input x`);
    const [D, M] = this.W.shape;
    const N = x.shape[0];
    if (dout.size !== N * M) throw new RangeError(`Affine.${who}: dout must be [${N}, ${M}], got [${dout.shape.join(', ')}]`);
    // read after (or while) dW and db are written
    this.checkApart(who, dout, 'dout');
    this.checkApart(who, x, 'the forward input x');
    if (saved) this.checkApart(who, saved, 'the tensor the activation before kept');
    const rt = x.rt;
    rt.unsafeGemm(1, 0, D, M, N, x.ptr, D, dout.ptr, M, this.dW.ptr, M); // dW = xᵀ · dout
    rt.unsafeKernels.biasBackward(this.db.ptr, dout.ptr, N, M);           // db = Σ_rows dout
    return x;
  }

  dispose(): void {
    this.buffers.dispose();
    if (this.ownsGrads) { this.dW.dispose(); this.db.dispose(); }
    this.x = null;
    this.disposed = true;
  }

  /** Refuses `t` (named `what`) overlapping dW or db. */
  private checkApart(who: string, t: Tensor, what: string): void {
    if (sharesMemory(t, this.dW)) throw new RangeError(`Affine.${who}: ${what} overlaps dW`);
    if (sharesMemory(t, this.db)) throw new RangeError(`Affine.${who}: ${what} overlaps db`);
  }

  /** The layer, and the parameters and gradients it was given, must still be alive. */
  private checkAlive(who: string): void {
    if (this.disposed) throw new Error(`Affine.${who}: used after dispose()`);
    const rt = this.W.rt;
    checkFloatTensor(rt, this.W, `Affine.${who}: W`);
    checkFloatTensor(rt, this.b, `Affine.${who}: b`);
    checkFloatTensor(rt, this.dW, `Affine.${who}: dW`);
    checkFloatTensor(rt, this.db, `Affine.${who}: db`);
  }
}
