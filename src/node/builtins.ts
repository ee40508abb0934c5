// The Node builtins the library's Node entry uses, loaded through require on
// first use rather than by ES imports. An ES import of a builtin builds its
// ESM facade, which reads every export: for node:fs that loads fs streams,
// ~1.2 ms of a cold `import 'simdnn'`; under require, fs/promises costs ~1 ms
// more, spent only by processes that read a dataset.
import { createRequire } from 'node:module';

const nodeRequire = createRequire(import.meta.url);

export const buffer = (): typeof import('node:buffer') => nodeRequire('node:buffer');
export const fs = (): typeof import('node:fs') => nodeRequire('node:fs');
export const fsPromises = (): typeof import('node:fs/promises') => nodeRequire('node:fs/promises');
export const os = (): typeof import('node:os') => nodeRequire('node:os');
export const path = (): typeof import('node:path') => nodeRequire('node:path');
export const tls = (): typeof import('node:tls') => nodeRequire('node:tls');
export const workerThreads = (): typeof import('node:worker_threads') => nodeRequire('node:worker_threads');
export const zlib = (): typeof import('node:zlib') => nodeRequire('node:zlib');
/** Resolves a module id as require would from this package (the `mnist` data package). */
export const resolveModule = (id: string): string => nodeRequire.resolve(id);
