// Errors a program may want to tell apart from the rest by class, not by
// message: training that met NaN or Inf is one a learning-rate sweep expects.

/**
 * A loss, gradient or parameter became NaN or Inf (training diverged: the
 * learning rate is too high for the net). A RangeError, as it was before it
 * had a class of its own. The Trainer throws it after putting the step back.
 */
export class NonFiniteError extends RangeError {
  override readonly name = 'NonFiniteError';
}

/**
 * A Trainer's run refused because another is in progress on the same runtime:
 * both would draw from its one random stream, so neither would give its bits.
 * Not a fault of the run's settings (a search does not record it as a failed trial).
 */
export class ConcurrentRunError extends Error {
  override readonly name = 'ConcurrentRunError';
}

/**
 * The runtime's linear memory cannot hold an allocation (it would pass `options.memory.maximum` or the host's
 * limit). A RangeError, as it was before it had a class of its own; nothing was allocated.
 */
export class OutOfMemoryError extends RangeError {
  override readonly name = 'OutOfMemoryError';
}
