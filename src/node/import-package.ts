// `import()` of the optional packages (Vega, BullMQ, ioredis). The `simdnn`
// bin runs its commands' bundle from V8's code cache (src/node/code-cache.cts),
// where Node 20 loses `import()`'s callback: functions read from the cache
// throw ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING. So the bin (src/node/cli.cts),
// a file Node's own loader compiled, leaves its `import()` under IMPORTER, and
// importPackage calls that; elsewhere (a program importing the library, a
// browser drawing a chart) the caller's own `import('name')`, written out so
// that bundlers and Vite resolve it. No Node built-in here: the charts module
// runs in browsers too.

/** The global under which the bin leaves its own `import()`. */
const IMPORTER = Symbol.for('simdnn.import');

/** The package `specifier` through the bin's `import()` where it left one, else by `load` (`() => import(specifier)`). */
export function importPackage<T>(specifier: string, load: () => Promise<T>): Promise<T> {
  const importer = (globalThis as Record<symbol, unknown>)[IMPORTER] as ((specifier: string) => Promise<T>) | undefined;
  return importer ? importer(specifier) : load();
}
