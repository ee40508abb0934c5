// Known answers: the shipped kernels run on small inputs whose results are known,
// so a host that accepts WebAssembly SIMD but computes it wrong is found before
// anything trains on it. Safari 16.4–16.5 on iOS validated SIMD
// modules and returned garbage floats from them (ONNX Runtime Web, Emscripten
// and wasm-feature-detect users met it); a feature probe cannot see that.
//
// The inputs are small integers, so every product and sum is exact in float32:
// any correct build (plain, relaxed with fused multiply-adds, any tile order)
// gives exactly these numbers. The shapes reach every path of the training
// kernels: GEMM's tiles and tails and a second K block, the fused bias and
// ReLU, the direct convolution (several input channels, and one), its dW by
// filters and by columns, its dx, the im2col path, the forward and the im2col
// dx by positions (convForwardIm2colPacked, convInputGradIm2colPacked: the
// sums of convForward and convBackward), pooling. Their outputs are
// checked by two sums each, kept in KNOWN_SUMS (test/known-answers.test.ts
// computes them again from float64 references): computing the references here
// took ~70 ms of a cold start. ReLU, softmax and Adam, a few dozen elements,
// are checked element by element (softmax and Adam against float64, within
// 1e-6). The checks run in families (KnownAnswerFamily), each once per runtime
// before its kernels' first use, in the code a host runs first (V8's baseline
// tier); a Trainer runs them again after its first epoch, in the code the host
// has optimized by then (Runtime.recheckKnownAnswers).
import type { Kernels } from '../../build/kernels.js';

/** What a kernel computed wrong: the kernel, the output, and its first wrong element or its sums. */
export interface KnownAnswerFault {
  kernel: string;
  output: string;
  /** The first wrong element of an output checked element by element; undefined for one checked by its sums. */
  index?: number;
  /** That element, or the output's sums Σ v and Σ (i + 1)·v. */
  got: number[];
  expected: number[];
}

/** What the check needs of a runtime: its kernels, memory and allocator, used on the calling thread only. */
export interface KnownAnswerHost {
  readonly unsafeKernels: Kernels;
  readonly memory: WebAssembly.Memory;
  readonly unsafeGemmWork: number;
  alloc(bytes: number): number;
  free(ptr: number): void;
  /** Part 0's scratch where it already holds `bytes`, else null (the check then takes its own, and frees it). */
  borrowScratch(bytes: number): number | null;
}

const RELU = 1; // ACTIVATION_CODES.relu

/** n inputs of a check: n small integers from the sequence started at seed (knownInts). */
export interface KnownInts { readonly n: number; readonly seed: number }

/**
 * Small integers in [-3, 3] from a fixed linear congruential sequence: the checks' inputs, for those compared
 * element by element here (a few dozen) and as the reference of kernel knownInts, which writes the inputs
 * of those checked by their sums (thousands) into the runtime's memory.
 */
export function knownInts({ n, seed }: KnownInts): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 24) % 7) - 3;
  }
  return out;
}

const CHUNK = 64 * 1024;

/** The blocks of one check, cut from chunks of the runtime's memory and freed together. */
class Blocks {
  private readonly chunks: number[] = [];
  private at = 0;
  private end = 0;
  constructor(private readonly host: KnownAnswerHost) {}

  private take(bytes: number): number {
    const size = Math.ceil(Math.max(bytes, 16) / 64) * 64; // 64-aligned, as the allocator's
    if (this.at + size > this.end) {
      this.at = this.host.alloc(Math.max(CHUNK, size));
      this.end = this.at + Math.max(CHUNK, size);
      this.chunks.push(this.at);
    }
    const ptr = this.at;
    this.at += size;
    return ptr;
  }

  /** A block of n floats holding `data`, or NaNs (so a kernel that skips an element is seen). */
  floats(n: number, data?: ArrayLike<number>): number {
    const ptr = this.take(n * 4);
    const view = new Float32Array(this.host.memory.buffer, ptr, n);
    if (data) view.set(data);
    else view.fill(NaN);
    return ptr;
  }

  /** A block of the inputs `ints`, written by kernel knownInts. */
  known(ints: KnownInts): number {
    const ptr = this.take(ints.n * 4);
    this.host.unsafeKernels.knownInts(ptr, ints.n, ints.seed);
    return ptr;
  }

  ints(data: ArrayLike<number>): number {
    const ptr = this.take(data.length * 4);
    new Int32Array(this.host.memory.buffer, ptr, data.length).set(data);
    return ptr;
  }

  /**
   * A kernel's scratch, left as it is (the convolutions' holds GEMM's 1 MiB workspace): the runtime's
   * part 0 scratch where it is large enough, as in the middle of training, else a block of the check's.
   */
  scratch(bytes: number): number {
    return this.host.borrowScratch(bytes) ?? this.take(bytes);
  }

  read(ptr: number, n: number): Float32Array {
    return new Float32Array(this.host.memory.buffer, ptr, n).slice();
  }

  readInts(ptr: number, n: number): Int32Array {
    return new Int32Array(this.host.memory.buffer, ptr, n).slice();
  }

  freeAll(): void {
    for (const p of this.chunks) this.host.free(p);
  }
}

/** The first element of `got` not equal to `expected` (or, with tol, not within tol·(1 + |expected|)). */
function compare(kernel: string, output: string, got: ArrayLike<number>, expected: ArrayLike<number>, tol = 0): KnownAnswerFault | null {
  for (let i = 0; i < expected.length; i++) {
    const e = Math.fround(expected[i]);
    const g = got[i];
    const ok = tol === 0 ? g === e : Math.abs(g - e) <= tol * (1 + Math.abs(e));
    if (!ok) return { kernel, output, index: i, got: [g], expected: [e] };
  }
  return null;
}

/** Σ v and Σ (i + 1)·v: exact in float64 for these outputs (integers below 2^12, 5,000 of them at most). */
export function knownSums(v: ArrayLike<number>): [number, number] {
  let s = 0, w = 0;
  for (let i = 0; i < v.length; i++) {
    s += v[i];
    w += (i + 1) * v[i];
  }
  return [s, w];
}

/** An integer output against its sums in KNOWN_SUMS (a NaN, an element skipped, changes them). */
function compareSums(kernel: string, output: string, got: ArrayLike<number>): KnownAnswerFault | null {
  const expected = KNOWN_SUMS[`${kernel}: ${output}`];
  const sums = knownSums(got);
  return sums[0] === expected[0] && sums[1] === expected[1] ? null : { kernel, output, got: sums, expected: [...expected] };
}

// The outputs' sums (knownSums), by `${kernel}: ${output}`.
export const KNOWN_SUMS: Readonly<Record<string, readonly [number, number]>> = {
  'gemm: C (transA 0, transB 0, K 300)': [1136, 71247],
  'gemm: C (transA 1, transB 0, K 23, beta 1)': [-324, -29358],
  'gemm: C (transA 0, transB 1, K 23)': [156, 9774],
  'gemmBiasAct: C (transA 0, transB 0, K 37, bias, ReLU)': [1215, 86285],
  'convForward: y of [2, 4, 8, 8]·8 stride 1 pad 1 (bias, ReLU)': [8570, 4394133],
  'convBackward: dW of [2, 4, 8, 8]·8 stride 1 pad 1': [11, 27806],
  'convBackward: db of [2, 4, 8, 8]·8 stride 1 pad 1': [-23, -81],
  'convBackward: dx of [2, 4, 8, 8]·8 stride 1 pad 1': [-481, -115627],
  'convForward: y of [2, 4, 8, 8]·4 stride 1 pad 1 (bias, ReLU)': [3905, 1022519],
  'convBackward: dW of [2, 4, 8, 8]·4 stride 1 pad 1': [703, 60441],
  'convBackward: db of [2, 4, 8, 8]·4 stride 1 pad 1': [-24, -31],
  'convBackward: dx of [2, 4, 8, 8]·4 stride 1 pad 1': [123, -3560],
  'convForward: y of [2, 1, 12, 12]·16 stride 1 pad 1 (bias, ReLU)': [21416, 50328785],
  'convBackward: dW of [2, 1, 12, 12]·16 stride 1 pad 1': [8, 32598],
  'convBackward: db of [2, 1, 12, 12]·16 stride 1 pad 1': [-133, -1122],
  'convBackward: dx of [2, 1, 12, 12]·16 stride 1 pad 1': [-533, -14401],
  'convForward: y of [2, 2, 9, 9]·3 stride 2 pad 0 (bias, ReLU)': [645, 34556],
  'convBackward: dW of [2, 2, 9, 9]·3 stride 2 pad 0': [103, 1156],
  'convBackward: db of [2, 2, 9, 9]·3 stride 2 pad 0': [14, 8],
  'convBackward: dx of [2, 2, 9, 9]·3 stride 2 pad 0': [-142, -12679],
  'maxPoolForward: y': [160, 6149],
  'maxPoolForward: arg': [3970, 166217],
};

export const GEMM_M = 11, GEMM_N = 13;

/** A GEMM case: op(A) is GEMM_M×K, op(B) K×GEMM_N; beta 1 adds to C; `biasRelu` runs gemmBiasAct with ReLU. */
export interface GemmCase { transA: 0 | 1; transB: 0 | 1; K: number; beta: 0 | 1; biasRelu: boolean }

// 11×13: tails in rows and columns of every tile shape; K = 300 crosses a K block (256)
export const GEMM_CASES: readonly GemmCase[] = [
  { transA: 0, transB: 0, K: 300, beta: 0, biasRelu: false },
  { transA: 1, transB: 0, K: 23, beta: 1, biasRelu: false },
  { transA: 0, transB: 1, K: 23, beta: 0, biasRelu: false },
  { transA: 0, transB: 0, K: 37, beta: 0, biasRelu: true },
];

export function gemmKernel(c: GemmCase): 'gemm' | 'gemmBiasAct' {
  return c.biasRelu ? 'gemmBiasAct' : 'gemm';
}

export function gemmOutput(c: GemmCase): string {
  return `C (transA ${c.transA}, transB ${c.transB}, K ${c.K}${c.beta ? ', beta 1' : ''}${c.biasRelu ? ', bias, ReLU' : ''})`;
}

/** A (stored K×M when transA), B (stored N×K when transB), C's starting values (beta 1) and the bias. */
export function gemmInputs(c: GemmCase, i: number): { A: KnownInts; B: KnownInts; C0: KnownInts | null; bias: KnownInts | null } {
  return {
    A: { n: GEMM_M * c.K, seed: 11 + 4 * i },
    B: { n: c.K * GEMM_N, seed: 12 + 4 * i },
    C0: c.beta ? { n: GEMM_M * GEMM_N, seed: 13 + 4 * i } : null,
    bias: c.biasRelu ? { n: GEMM_N, seed: 14 + 4 * i } : null,
  };
}

function checkGemm(h: KnownAnswerHost, b: Blocks, c: GemmCase, i: number): KnownAnswerFault | null {
  const k = h.unsafeKernels;
  const { transA, transB, K, beta } = c;
  const M = GEMM_M, N = GEMM_N;
  const { A, B, C0, bias } = gemmInputs(c, i);
  const pa = b.known(A), pb = b.known(B), pc = C0 ? b.known(C0) : b.floats(M * N);
  if (bias) k.gemmBiasAct(transA, transB, M, N, K, pa, transA ? M : K, pb, transB ? K : N, pc, N, b.known(bias), RELU, h.unsafeGemmWork);
  else k.gemm(transA, transB, M, N, K, pa, transA ? M : K, pb, transB ? K : N, pc, N, beta, h.unsafeGemmWork);
  return compareSums(gemmKernel(c), gemmOutput(c), b.read(pc, M * N));
}

/** A convolution case: n images of C×H×H, FN 3×3 filters. */
export interface ConvShape { n: number; C: number; H: number; FN: number; stride: number; pad: number }

// One case a path: several channels (forward direct, dW by filters, dx direct), fewer filters
// (dW by columns), one channel (its own forward and backward tiles), stride 2 (im2col + GEMM).
export const CONV_SHAPES: readonly ConvShape[] = [
  { n: 2, C: 4, H: 8, FN: 8, stride: 1, pad: 1 },
  { n: 2, C: 4, H: 8, FN: 4, stride: 1, pad: 1 },
  { n: 2, C: 1, H: 12, FN: 16, stride: 1, pad: 1 },
  { n: 2, C: 2, H: 9, FN: 3, stride: 2, pad: 0 },
];

export function convName(s: ConvShape): string {
  return `[${s.n}, ${s.C}, ${s.H}, ${s.H}]·${s.FN} stride ${s.stride} pad ${s.pad}`;
}

function convOutSize(s: ConvShape): number {
  return Math.floor((s.H + 2 * s.pad - 3) / s.stride) + 1;
}

/** x, the filters, the bias and the gradient dout that come back from the layer above. */
export function convInputs(s: ConvShape, i: number): { x: KnownInts; w: KnownInts; bias: KnownInts; dout: KnownInts } {
  const O = convOutSize(s);
  return {
    x: { n: s.n * s.C * s.H * s.H, seed: 101 + 10 * i },
    w: { n: s.FN * s.C * 9, seed: 102 + 10 * i },
    bias: { n: s.FN, seed: 103 + 10 * i },
    dout: { n: s.n * s.FN * O * O, seed: 104 + 10 * i },
  };
}

function checkConvForward(h: KnownAnswerHost, b: Blocks, s: ConvShape, i: number): KnownAnswerFault | null {
  const k = h.unsafeKernels;
  const { n, C, H, FN, stride, pad } = s;
  const { x, w, bias, dout } = convInputs(s, i);
  const scratch = b.scratch(k.convScratchBytes(C, H, H, 3, 3, stride, pad));
  const py = b.floats(dout.n);
  const px = b.known(x), pw = b.known(w), pb = b.known(bias);
  k.convForward(py, px, pw, pb, scratch, n, C, H, H, FN, 3, 3, stride, pad, RELU);
  const fault = compareSums('convForward', `y of ${convName(s)} (bias, ReLU)`, b.read(py, dout.n));
  if (fault) return fault;
  // the forward by positions on Wᵀ packed once (the layer's for some shapes): the same bits, so the same sums
  const K = C * 9, P = dout.n / (n * FN), Wt = b.floats(K * Math.ceil(FN / 8) * 8), pyt = b.floats(dout.n);
  k.packBPanels(1, FN, K, pw, K, Wt);
  k.convForwardIm2colPacked(pyt, px, Wt, pb, scratch, b.floats(P * FN), n, C, H, H, FN, 3, 3, stride, pad, RELU);
  const byPositions = compareSums('convForward', `y of ${convName(s)} (bias, ReLU)`, b.read(pyt, dout.n));
  return byPositions && { ...byPositions, kernel: 'convForwardIm2colPacked' };
}

function checkConvBackward(h: KnownAnswerHost, b: Blocks, s: ConvShape, i: number): KnownAnswerFault | null {
  const k = h.unsafeKernels;
  const { n, C, H, FN, stride, pad } = s;
  const { x, w, dout } = convInputs(s, i);
  const name = convName(s);
  const scratch = b.scratch(k.convScratchBytes(C, H, H, 3, 3, stride, pad));
  const pdx = b.floats(x.n), pdW = b.floats(w.n), pdb = b.floats(FN);
  const pdout = b.known(dout), pw = b.known(w);
  k.convBackward(pdx, pdW, pdb, b.known(x), pdout, pw, scratch, n, C, H, H, FN, 3, 3, stride, pad, 0, 0);
  const fault = compareSums('convBackward', `dW of ${name}`, b.read(pdW, w.n))
    ?? compareSums('convBackward', `db of ${name}`, b.read(pdb, FN))
    ?? compareSums('convBackward', `dx of ${name}`, b.read(pdx, x.n));
  if (fault || (k.convBackwardPaths(C, H, H, FN, 3, 3, stride, pad) & 6) !== 0) return fault;
  // where dx runs im2col, dx by positions on W packed once (the layer's for some shapes): the same sums
  const K = C * 9, Wp = b.floats(FN * Math.ceil(K / 8) * 8), pdx2 = b.floats(x.n);
  k.packBPanels(0, K, FN, pw, K, Wp);
  k.convInputGradIm2colPacked(pdx2, pdout, Wp, scratch, n, C, H, H, FN, 3, 3, stride, pad, 0, 0);
  const byPositions = compareSums('convBackward', `dx of ${name}`, b.read(pdx2, x.n));
  return byPositions && { ...byPositions, kernel: 'convInputGradIm2colPacked' };
}

/** Max pooling's case: 2×2 windows, stride 2, over 3 planes of 11×11 (a vector of 4 outputs and one more a row). */
export const POOL = { planes: 3, H: 11 } as const;

export const POOL_INPUT: KnownInts = { n: POOL.planes * POOL.H * POOL.H, seed: 41 };

function checkPool(h: KnownAnswerHost, b: Blocks): KnownAnswerFault | null {
  const { planes, H } = POOL;
  const outs = planes * (((H - 2) >> 1) + 1) ** 2;
  const py = b.floats(outs), parg = b.floats(outs);
  h.unsafeKernels.maxPoolForward(py, parg, b.known(POOL_INPUT), planes, H, H, 2, 2, 2, 0);
  return compareSums('maxPoolForward', 'y', b.read(py, outs))
    ?? compareSums('maxPoolForward', 'arg', b.readInts(parg, outs));
}

function checkRelu(h: KnownAnswerHost, b: Blocks): KnownAnswerFault | null {
  const r = knownInts({ n: 19, seed: 43 });
  const pr = b.floats(r.length);
  h.unsafeKernels.reluForward(pr, b.floats(r.length, r), r.length);
  return compare('reluForward', 'y of 19', b.read(pr, r.length), r.map((v) => Math.max(0, v)));
}

function checkSoftmaxAndAdam(h: KnownAnswerHost, b: Blocks): KnownAnswerFault | null {
  const k = h.unsafeKernels;
  const rows = 3, cols = 10;
  const x = knownInts({ n: rows * cols, seed: 47 }), labels = [3, 0, 9];
  const y = new Float64Array(x.length);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    const m = Math.max(...row);
    const sum = row.reduce((s, v) => s + Math.exp(v - m), 0);
    for (let j = 0; j < cols; j++) y[r * cols + j] = Math.exp(row[j] - m) / sum;
    loss -= Math.log(y[r * cols + labels[r]] + 1e-7);
  }
  const py = b.floats(y.length);
  const got = k.softmaxCrossEntropyForward(py, b.floats(x.length, x), b.ints(labels), rows, cols);
  const fault = compare('softmaxCrossEntropyForward', 'y of [3, 10]', b.read(py, y.length), y, 1e-6)
    ?? compare('softmaxCrossEntropyForward', 'the loss', [got], [loss], 1e-6);
  if (fault) return fault;
  // one Adam step (lr_t 0.01, 1 - beta1 = 0.1, 1 - beta2 = 0.001, eps 1e-7) on 19 parameters
  const n = 19, lrT = 0.01, k1 = 0.1, k2 = 0.001, eps = 1e-7;
  const p = knownInts({ n, seed: 53 }), m = knownInts({ n, seed: 59 }).map((v) => v / 4);
  const v = knownInts({ n, seed: 61 }).map((q) => q * q + 1), g = knownInts({ n, seed: 67 });
  const pp = b.floats(n, p), pm = b.floats(n, m), pv = b.floats(n, v);
  k.adamStep(pp, pm, pv, b.floats(n, g), n, lrT, k1, k2, eps);
  const f = Math.fround;
  const mn = m.map((mo, i) => mo + f(k1) * (g[i] - mo));
  const vn = v.map((vo, i) => vo + f(k2) * (g[i] * g[i] - vo));
  const pn = p.map((po, i) => po - (f(lrT) * mn[i]) / (Math.sqrt(vn[i]) + f(eps)));
  return compare('adamStep', 'm', b.read(pm, n), mn, 1e-6)
    ?? compare('adamStep', 'v', b.read(pv, n), vn, 1e-6)
    ?? compare('adamStep', 'the parameters', b.read(pp, n), pn, 1e-6);
}

/**
 * The kernels checked together: `core` (GEMM, ReLU, softmax, Adam: what every net runs) when a
 * runtime is made; the others at a layer's first use of them, since a check compiles what it
 * runs (on a cold start the convolution's forward 6–10 ms, most of it its one-channel tiles', which
 * DeepConvNet's first layer compiles anyway; the core ~0.7 ms, 3–6 before its inputs came from knownInts).
 */
export type KnownAnswerFamily = 'core' | 'convForward' | 'convBackward' | 'pool';
export const KNOWN_ANSWER_FAMILIES: readonly KnownAnswerFamily[] = ['core', 'convForward', 'convBackward', 'pool'];

type Check = (h: KnownAnswerHost, b: Blocks) => KnownAnswerFault | null;
const eachShape = (check: (h: KnownAnswerHost, b: Blocks, s: ConvShape, i: number) => KnownAnswerFault | null): Check =>
  (h, b) => CONV_SHAPES.reduce<KnownAnswerFault | null>((fault, s, i) => fault ?? check(h, b, s, i), null);

const CHECKS: Record<KnownAnswerFamily, Check[]> = {
  core: [
    (h, b) => GEMM_CASES.reduce<KnownAnswerFault | null>((fault, c, i) => fault ?? checkGemm(h, b, c, i), null),
    checkRelu,
    checkSoftmaxAndAdam,
  ],
  convForward: [eachShape(checkConvForward)],
  convBackward: [eachShape(checkConvBackward)],
  pool: [checkPool],
};

/**
 * Runs a family's kernels on known answers on the calling thread and returns the first wrong
 * one, or null. Allocates a few KB and frees them.
 */
export function knownAnswerFault(host: KnownAnswerHost, family: KnownAnswerFamily): KnownAnswerFault | null {
  const b = new Blocks(host);
  try {
    for (const check of CHECKS[family]) {
      const fault = check(host, b);
      if (fault) return fault;
    }
    return null;
  } finally {
    b.freeAll();
  }
}

/** The error of a host that computes a family wrong, from `who`; `optimized` when its baseline code had given the answers. */
export function wrongAnswersMessage(who: string, fault: KnownAnswerFault, optimized = false): string {
  return `${who}: this host's WebAssembly SIMD gives wrong answers${optimized ? ' in code it optimized while training' : ''}: ${describeFault(fault)}. `
    + 'Training here would be silently wrong (Safari 16.4–16.5 on iOS had such a bug; update the browser)';
}

/** One line for an error or a note: which kernel, which output, which element or sums. */
export function describeFault(f: KnownAnswerFault): string {
  const what = f.index === undefined ? `sums ${f.got.join(', ')}` : `element ${f.index}: ${f.got[0]}`;
  return `${f.kernel} computed ${f.output} wrong (${what}; expected ${f.expected.join(', ')})`;
}
