// The book's chapter-6 scripts in examples/book/: each runs at its small size
// (--small) as a real Node process on the built package, imports nothing but
// 'simdnn', exits 0 and prints what the book's script prints; every script in
// the directory is run here and listed in the README.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const SCRIPTS: Record<string, RegExp> = {
  optimizer_compare_naive: /^AdaGrad +end \(-?\d+\.\d{4}, -?\d+\.\d{4}\) +f = /m,
  optimizer_compare_mnist: /^Adam: smoothed loss at the end \d+\.\d{4}, test accuracy 0\.\d{4}$/m,
  weight_init_activation_histogram: /== He, ReLU\nlayer 1: .*\n(layer \d: .*\n){4}/,
  weight_init_compare: /^He: smoothed loss at the end \d+\.\d{4}/m,
  batch_norm_test: /2\/2 =+ +weight scale 0\.0100\n {2}batch norm: (\d\.\d{3} ?){2}\n {2}normal: +(\d\.\d{3} ?){2}/,
  overfit_weight_decay: /^epoch:2, train acc:\d\.\d{4}, test acc:\d\.\d{4}$/m,
  overfit_dropout: /=== epoch:3, train acc:\d\.\d{4}, test acc:\d\.\d{4} ===\n=+ Final Test Accuracy =+\ntest acc:\d\.\d{4}/,
  hyperparameter_optimization: /Hyper-Parameter Optimization Result =+\nBest-1\(val acc:\d\.\d{4}\) \| lr:[\d.e-]+, weight decay:[\d.e-]+\n(Best-\d.*\n){2}$/,
};

/** Every module a script names: static imports (one line or several), side-effect imports, import() and require(). */
function moduleSpecifiers(source: string): string[] {
  return [...source.matchAll(/\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\b(?:import|require)\s*\(\s*['"`]([^'"`]+)['"`]/g)]
    .map((m) => m[1] ?? m[2] ?? m[3]);
}

describe('examples/book (the book\'s chapter 6, --small)', () => {
  it('runs every script of the directory and the README lists each', () => {
    const files = readdirSync(path.join(root, 'examples', 'book')).filter((f) => f.endsWith('.mjs')).sort();
    expect(files).toEqual(Object.keys(SCRIPTS).map((name) => `${name}.mjs`).sort());
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    for (const file of files) expect(readme, file).toContain(`(examples/book/${file})`);
  });

  for (const [name, expected] of Object.entries(SCRIPTS)) {
    it(name, () => {
      const file = path.join(root, 'examples', 'book', `${name}.mjs`);
      const imports = moduleSpecifiers(readFileSync(file, 'utf8'));
      expect(imports, 'the public API alone').toEqual(['simdnn']);
      const r = spawnSync(process.execPath, [file, '--small'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(expected);
    });
  }
});
