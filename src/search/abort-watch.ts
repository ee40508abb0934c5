// One abort listener per signal for every job in flight under it. A search passes its signal with each of up to
// `concurrency` jobs: a listener a job went past Node's limit of 10 listeners and printed
// MaxListenersExceededWarning. Shared by the executors (worker pools, the Redis queue).

/**
 * Returns watch(signal, item): on the signal's abort, `onAbort(item, reason)` runs for every item still
 * watched under it (in the order they were watched); watch returns the item's unwatch, which removes the
 * signal's listener once its last item is unwatched.
 */
export function abortWatcher<T>(onAbort: (item: T, reason: unknown) => void): (signal: AbortSignal, item: T) => () => void {
  const watched = new Map<AbortSignal, { items: Set<T>; listener: () => void }>();
  return (signal, item) => {
    let entry = watched.get(signal);
    if (!entry) {
      const items = new Set<T>();
      const listener = () => {
        watched.delete(signal);
        for (const i of [...items]) onAbort(i, signal.reason);
      };
      entry = { items, listener };
      watched.set(signal, entry);
      signal.addEventListener('abort', listener, { once: true });
    }
    const e = entry;
    e.items.add(item);
    return () => {
      e.items.delete(item);
      if (e.items.size > 0 || watched.get(signal) !== e) return;
      watched.delete(signal);
      signal.removeEventListener('abort', e.listener);
    };
  };
}
