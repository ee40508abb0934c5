// A host that validates SIMD but computes it wrong, made for real: the shipped builds with
// SIMD float operations swapped (add for sub, min for max, …) by Binaryen, in some functions or
// all, then handed to createRuntime. The known-answer check must refuse each with an error that
// names the kernel, or, for the relaxed build, fall back to the plain one and say why.
import { describe, it, expect, beforeAll } from 'vitest';
import binaryen from 'binaryen';
import v8 from 'node:v8';
import { createRuntime } from '../src/node/runtime.js';
import { Convolution, Pooling } from '../src/layers/index.js';
import { randomArray, wasmBytes } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';

// each swap makes a correct kernel give a wrong number
const SWAPS: Record<string, string> = {
  'f32x4.add': 'f32x4.sub', 'f32x4.sub': 'f32x4.add', 'f32x4.mul': 'f32x4.add', 'f32x4.div': 'f32x4.mul',
  'f32x4.max': 'f32x4.min', 'f32x4.min': 'f32x4.max', 'f32x4.pmax': 'f32x4.pmin', 'f32x4.sqrt': 'f32x4.neg',
  'f32x4.gt': 'f32x4.lt', 'f32x4.lt': 'f32x4.gt', 'f32x4.relaxed_madd': 'f32x4.relaxed_nmadd',
};
const SWAPPED = new RegExp(`\\b(${Object.keys(SWAPS).map((op) => op.replace('.', '\\.')).join('|')})\\b`, 'g');

/** A build in text form, cut into its top-level forms, with its functions' calls and its exports. */
class Wat {
  private readonly forms: string[];
  private readonly funcs = new Map<string, number>();
  private readonly calls = new Map<string, string[]>();
  readonly exports = new Map<string, string>();

  constructor(bytes: Uint8Array) {
    const module = binaryen.readBinary(bytes);
    module.setFeatures(binaryen.Features.All);
    const text = module.emitText();
    module.dispose();
    this.forms = text.split(/\n(?= \()/);
    this.forms.forEach((form, i) => {
      const func = /^ \(func \$(\S+)/.exec(form);
      if (func) {
        this.funcs.set(func[1], i);
        this.calls.set(func[1], [...form.matchAll(/\(call \$(\S+)/g)].map((m) => m[1]));
      }
      const exp = /^ \(export "(\w+)" \(func \$(\S+)\)\)/.exec(form);
      if (exp) this.exports.set(exp[1], exp[2]);
    });
  }

  /** Every function of the build. */
  all(): Set<string> {
    return new Set(this.funcs.keys());
  }

  /** The functions an export runs: its own and every one it calls, directly or not. */
  reach(kernel: string): Set<string> {
    const seen = new Set<string>();
    const todo = [this.exports.get(kernel)!];
    while (todo.length) {
      const f = todo.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      todo.push(...(this.calls.get(f) ?? []));
    }
    return seen;
  }

  /** How many operations `ops` (of SWAPS) matches `funcs` hold. */
  swappable(funcs: Set<string>, ops = SWAPPED): number {
    let n = 0;
    for (const f of funcs) n += (this.forms[this.funcs.get(f)!].match(ops) ?? []).length;
    return n;
  }

  /** The build with the operations `ops` matches (all of SWAPS by default) swapped in `funcs`. */
  broken(funcs: Set<string>, ops = SWAPPED): Uint8Array<ArrayBuffer> {
    const forms = this.forms.slice();
    for (const f of funcs) {
      const i = this.funcs.get(f)!;
      forms[i] = forms[i].replace(ops, (op) => SWAPS[op]);
    }
    const module = binaryen.parseText(forms.join('\n'));
    try {
      module.setFeatures(binaryen.Features.All);
      if (!module.validate()) throw new Error('the broken build does not validate');
      return module.emitBinary() as Uint8Array<ArrayBuffer>;
    } finally {
      module.dispose();
    }
  }
}

// the kernels the checks run: createRuntime's (in its order), then those a layer checks at its first use
const CHECKED = ['gemm', 'gemmBiasAct', 'reluForward', 'softmaxCrossEntropyForward', 'adamStep', 'convForward', 'convForwardIm2colPacked', 'convBackward', 'convInputGradIm2colPacked', 'maxPoolForward'];
const LAYER_KERNELS = ['convForward', 'convForwardIm2colPacked', 'convBackward', 'convInputGradIm2colPacked', 'maxPoolForward'];

let plain: Uint8Array<ArrayBuffer>;
let wat: Wat;
beforeAll(async () => {
  plain = await wasmBytes('plain');
  wat = new Wat(plain);
});

describe('known answers on a host whose SIMD is wrong', () => {
  it('the unbroken build, through the same text round trip, is accepted (so the faults below are the swaps\')', async () => {
    const rt = await createRuntime({ wasm: wat.broken(new Set()), threads: 1 });
    expect(rt.features.notes).toEqual([]);
  });

  it('every operation swapped in every function: refused, naming the first kernel, the output and its sums', async () => {
    await expect(createRuntime({ wasm: wat.broken(wat.all()), threads: 1 }))
      .rejects.toThrow(/^createRuntime: this host's WebAssembly SIMD gives wrong answers: gemm computed C \(transA 0, transB 0, K 300\) wrong \(sums [^;]+; expected 1136, 71247\)\. Training here would be silently wrong/);
  });

  it('each kernel the check runs is checked: its own functions broken, the error names it, before the kernel writes', async () => {
    const earlier = new Set<string>();
    const named: string[] = [];
    for (const kernel of CHECKED) {
      const own = new Set([...wat.reach(kernel)].filter((f) => !earlier.has(f)));
      for (const f of wat.reach(kernel)) earlier.add(f);
      // a kernel that only wraps an earlier one's code (gemmBiasAct: gemm's core; convForwardIm2colPacked and
      // convInputGradIm2colPacked: im2col or col2im and gemm's blocks, and a transpose, which moves bits with no
      // float arithmetic) has nothing of its own to break
      if (wat.swappable(own) === 0) continue;
      named.push(kernel);
      const made = createRuntime({ wasm: wat.broken(own), threads: 1 });
      const wrong = (who: string) => new RegExp(`^${who}: this host's WebAssembly SIMD gives wrong answers: ${kernel} computed`);
      if (!LAYER_KERNELS.includes(kernel)) {
        await expect(made, kernel).rejects.toThrow(wrong('createRuntime'));
        continue;
      }
      // checked at a layer's first use of them: the runtime is made, the layer refuses to run them
      const rt = await made;
      const x = rt.tensor([2, 4, 8, 8], randomArray(2 * 4 * 64, 1));
      const canaries = new Canaries(rt, 3);
      const dout = between(canaries, () => rt.tensor([2, 8, 8, 8], randomArray(2 * 8 * 64, 2)));
      const conv = between(canaries, () => new Convolution(rt.tensor([8, 4, 3, 3], randomArray(288, 3)), rt.tensor([8]), 1, 1));
      const W = Float32Array.from(conv.W.data);
      if (kernel.startsWith('convForward')) expect(() => conv.forward(x), kernel).toThrow(wrong('Convolution.forward'));
      else if (kernel === 'convBackward' || kernel === 'convInputGradIm2colPacked') {
        conv.forward(x);
        expect(() => conv.backward(dout), kernel).toThrow(wrong('Convolution.backward'));
      } else expect(() => new Pooling(2, 2, 2).forward(x), kernel).toThrow(wrong('Pooling.forward'));
      expect(canaries.changed(), kernel).toBe(0);
      expect(conv.W.data, kernel).toEqual(W);
    }
    expect(named).toEqual(CHECKED.filter((k) => !['gemmBiasAct', 'convForwardIm2colPacked', 'convInputGradIm2colPacked'].includes(k)));
  });

  it('the shared build broken: refused when threads are asked for too', async () => {
    const shared = new Wat(await wasmBytes('shared'));
    await expect(createRuntime({ sharedWasm: shared.broken(shared.reach('gemm')), threads: 2 }))
      .rejects.toThrow(/^createRuntime: this host's WebAssembly SIMD gives wrong answers: gemm computed/);
  });

  it('the relaxed build broken (relaxed_madd negated): the runtime falls back to the plain build and says why', async () => {
    const relaxed = new Wat(await wasmBytes('relaxed'));
    const madd = /\bf32x4\.relaxed_madd\b/g;
    const all = relaxed.all();
    expect(relaxed.swappable(all, madd)).toBeGreaterThan(0);
    const plainModule = await WebAssembly.compile(plain);
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    try {
      const rt = await createRuntime({ relaxed: true, relaxedWasm: relaxed.broken(all, madd), wasm: plainModule, threads: 1 });
      expect(rt.features.relaxed).toBe(false);
      expect(rt.features.notes).toEqual([expect.stringMatching(/^relaxed SIMD gave a wrong answer on this host \(gemm computed C .* wrong .*\); using the plain SIMD build$/)]);
      // the runtime is the plain build given
      expect(rt.module).toBe(plainModule);
      // both builds broken: refused
      await expect(createRuntime({ relaxed: true, relaxedWasm: relaxed.broken(all, madd), wasm: wat.broken(wat.all()), threads: 1 }))
        .rejects.toThrow(/^createRuntime: this host's WebAssembly SIMD gives wrong answers: gemm computed/);
    } finally {
      v8.setFlagsFromString('--no-experimental-wasm-relaxed-simd');
    }
  });
});
