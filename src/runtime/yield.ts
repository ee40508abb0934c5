// Yielding to the event loop from long synchronous work, on every host:
// setImmediate where it exists (Node, Bun; see yieldNow), else
// a macrotask (not a microtask, which would starve rendering, timers and
// message events) through MessageChannel where it exists (browsers, workers,
// Node, Deno, Bun, edge runtimes), else setTimeout(0). setTimeout alone is
// clamped to ≥ 4 ms after a few nested calls in browsers; a message is not.

/** Milliseconds of work between two yields of the async loops (Trainer.fit, net.evaluateAsync, …). */
export const YIELD_EVERY_MS = 8;

/** A clock in milliseconds (performance.now where it exists). */
export function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/**
 * Yields to the event loop at most every `YIELD_EVERY_MS` of work. Holds one
 * MessageChannel for its life: call close() when done (an open port keeps a
 * Node process alive).
 */
export class Yielder {
  private last = now();
  private channel: MessageChannel | null = null;
  private resolve: (() => void) | null = null;

  /** True when the slice is used up and the caller should `await yieldNow()`. */
  due(): boolean {
    return now() - this.last >= YIELD_EVERY_MS;
  }

  /** Resolves on a fresh macrotask. */
  yieldNow(): Promise<void> {
    return new Promise<void>((resolve) => {
      // Node drains a MessagePort's queue in one callback, messages posted meanwhile included,
      // so a ping-pong through a port starves signals and I/O for seconds; setImmediate lets
      // every turn of its event loop poll them
      if (typeof setImmediate === 'function') {
        setImmediate(resolve);
      } else if (typeof MessageChannel === 'function') {
        if (this.channel === null) {
          this.channel = new MessageChannel();
          this.channel.port1.onmessage = () => { const r = this.resolve; this.resolve = null; r?.(); };
        }
        this.resolve = resolve;
        this.channel.port2.postMessage(null);
      } else {
        setTimeout(resolve, 0);
      }
    }).then(() => { this.last = now(); });
  }

  /** Closes the channel (idempotent). */
  close(): void {
    if (this.channel) {
      this.channel.port1.onmessage = null;
      this.channel.port1.close();
      this.channel.port2.close();
      this.channel = null;
    }
  }
}
