// A refused call: the error's class and message, and nothing allocated by it.
import { expect } from 'vitest';
import type { Runtime } from '../../src/runtime/runtime.js';

export type ErrorClass = new (message?: string) => Error;

/** `f` throws an error of class `cls` whose message matches `message`, and leaves `rt`'s memory as it found it. */
export function expectRefused(rt: Runtime, f: () => unknown, cls: ErrorClass, message: RegExp): void {
  const before = rt.memoryStats();
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(error, String(message)).toBeInstanceOf(cls);
  expect((error as Error).message).toMatch(message);
  const after = rt.memoryStats();
  expect({ used: after.used, blocks: after.blocks }, String(message)).toEqual({ used: before.used, blocks: before.blocks });
}

/** What `f` threw (a test fails when it returns). */
export function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}
