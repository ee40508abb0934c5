// A split call's kernel arguments are typed by the kernel's signature
// (build/kernels.d.ts, generated from assembly/): tsc rejects a call with the
// wrong number of arguments, so a kernel whose signature changes fails the
// build where its parts are written, not at run time. Checked by compiling
// snippets against the runtime's sources with the TypeScript compiler.
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** tsc's errors for each snippet, each compiled as a module that has `rt: Runtime` in scope (one program for all). */
function typeErrors(snippets: string[]): string[][] {
  const files = snippets.map((_, i) => path.join(root, 'test', `__kernel-args-snippet-${i}.ts`));
  const sources = new Map(files.map((f, i) => [f, `import type { Runtime } from '../src/runtime/runtime.js';\ndeclare const rt: Runtime;\n${snippets[i]}\nexport {};\n`]));
  const options: ts.CompilerOptions = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true };
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host), exists = host.fileExists.bind(host);
  host.readFile = (f) => sources.get(path.resolve(f)) ?? read(f);
  host.fileExists = (f) => sources.has(path.resolve(f)) || exists(f);
  const program = ts.createProgram(files, options, host);
  return files.map((f) => ts.getPreEmitDiagnostics(program, program.getSourceFile(f)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')));
}

describe('typed argument slots', () => {
  it("runParts and splitRange take each part's arguments as the kernel's parameters", { timeout: 60_000 }, () => {
    const [right, tooFew, tooMany, unknown] = typeErrors([
      `rt.runParts('fill', 2, (p, args) => args(64 * p, 1, 16));
       rt.splitRange('reluForward', 100, 1, (i0, i1, args) => args(4 * i0, 4 * i0, i1 - i0));`,
      `rt.runParts('fill', 2, (p, args) => args(64 * p, 1));`,
      `rt.splitRange('maxPoolBackward', 8, 1, (p0, p1, args) => args(0, 0, 0, p1 - p0, 4, 1, 0, 0, 7));`,
      `rt.runParts('noSuchKernel', 2, () => {});`,
    ]);
    expect(right).toEqual([]);
    expect(tooFew).toEqual(['Expected 3 arguments, but got 2.']);
    expect(tooMany).toEqual(['Expected 8 arguments, but got 9.']);
    expect(unknown).toHaveLength(1);
  });
});
