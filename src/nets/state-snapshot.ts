// A saved copy of a net's layer state (batch-norm running statistics): one
// block allocated up front, so save() and restore() are kernel copies that
// allocate nothing and can run around every training step.
import type { Runtime } from '../runtime/runtime.js';
import { checkFloatTensor, type Tensor } from '../runtime/tensor.js';

/**
 * A copy of a net's layer state (batch-norm running statistics) in one block allocated up front,
 * so save() and restore() allocate nothing. The caller owns it (dispose() frees the copy, not the
 * net's tensors); save() and restore() throw an Error after dispose().
 */
export class StateSnapshot {
  private readonly entries: Array<{ key: string; tensor: Tensor; offset: number }> = [];
  private readonly block: Tensor | null;
  private saved = false;

  /** @internal use net.snapshotState() */
  constructor(private readonly rt: Runtime, state: Readonly<Record<string, Tensor>>) {
    let floats = 0;
    for (const [key, tensor] of Object.entries(state)) {
      checkFloatTensor(rt, tensor, `snapshotState: state '${key}'`);
      this.entries.push({ key, tensor, offset: floats });
      floats += tensor.size;
    }
    this.block = floats > 0 ? rt.tensor([floats]) : null;
  }

  /** Copies the current state in (replacing what an earlier save() kept). */
  save(): void {
    const block = this.live('save');
    for (const { key, tensor } of this.entries) checkFloatTensor(this.rt, tensor, `StateSnapshot.save: state '${key}'`);
    for (const { tensor, offset } of this.entries) {
      if (block) this.rt.unsafeKernels.copy(block.ptr + offset * 4, tensor.ptr, tensor.size);
    }
    this.saved = true;
  }

  /** Writes the saved state back into the net's state tensors. */
  restore(): void {
    const block = this.live('restore');
    if (!this.saved) throw new Error('StateSnapshot.restore: nothing saved yet (call save() first)');
    // every check before the first write: a restore is all or nothing
    for (const { key, tensor } of this.entries) checkFloatTensor(this.rt, tensor, `StateSnapshot.restore: state '${key}'`);
    for (const { tensor, offset } of this.entries) {
      if (block) this.rt.unsafeKernels.copy(tensor.ptr, block.ptr + offset * 4, tensor.size);
    }
  }

  /** Frees the copy. */
  dispose(): void {
    this.block?.dispose();
    this.disposed = true;
  }

  private disposed = false;

  private live(who: string): Tensor | null {
    if (this.disposed) throw new Error(`StateSnapshot.${who}: used after dispose()`);
    return this.block;
  }
}
