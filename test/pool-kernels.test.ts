// The pooling kernels against their scalar references over random geometries
// (windows 1–5, strides 1–4, pads 0–3, widths of every remainder mod 8) and
// inputs full of what a fold order shows: ties, -0 beside +0, ±Inf, NaN.
// Bit for bit, with canaries around every tensor a kernel writes and its
// inputs compared before and after.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeTestRuntime, rng, expectBits, type TestRuntime } from './helpers/runtime.js';
import { Canaries, between } from './helpers/canaries.js';

let rt: TestRuntime;
beforeAll(async () => { rt = await makeTestRuntime(); });

const outSize = (n: number, f: number, s: number, p: number) => Math.floor((n + 2 * p - f) / s) + 1;

/** Input values: kind 0 ties from {0, 1}; 1 ties with -0, +0, ±Inf; 2 as 1 with NaN; 3 random with a few NaN. */
function inputs(n: number, kind: number, next: () => number): Float32Array {
  const tied = [0, 1, -0, -1, Infinity, -Infinity, 1, 0];
  return Float32Array.from({ length: n }, () => {
    const r = next();
    if (kind === 0) return r < 0.5 ? 0 : 1;
    if (kind === 3) return r < 0.03 ? NaN : 4 * next() - 2;
    if (kind === 2 && r < 0.08) return NaN;
    return tied[Math.floor(next() * tied.length)];
  });
}

/** dx = 0, then dx[arg] += dy in output order, in float32: maxPoolBackward's routing. */
function maxBackwardRef(dy: Float32Array, arg: Int32Array, planes: number, HW: number, P: number): Float32Array {
  const dx = new Float32Array(planes * HW);
  for (let p = 0; p < planes; p++) {
    for (let j = 0; j < P; j++) {
      const a = arg[p * P + j];
      if (a >= 0) dx[p * HW + a] = Math.fround(dx[p * HW + a] + dy[p * P + j]);
    }
  }
  return dx;
}

/**
 * Sums bit for bit, but a NaN matches any NaN: which NaN comes out of NaN + NaN (or Inf - Inf) is the
 * engine's choice (the operand order V8 picks; JS has one NaN), and today's kernels and their references
 * already differ there. A max selects: its NaNs are compared bit for bit.
 */
function expectSums(actual: Float32Array, expected: Float32Array, what: string): void {
  expectBits(actual.map((v, i) => (Number.isNaN(v) && Number.isNaN(expected[i]) ? expected[i] : v)), expected, what);
}

describe('pooling kernels on random geometries', () => {
  it('max/avg forward, max/avg backward match the scalar references bit for bit, nothing outside the outputs written', () => {
    const k = rt.unsafeKernels;
    const next = rng(2024);
    const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
    let cases = 0;
    while (cases < 400) {
      const PH = int(1, 5), PW = int(1, 5), stride = int(1, 4), pad = int(0, cases % 4 === 0 ? 3 : 2);
      // widths of every remainder mod 8, some wide enough for several vectors of inside windows
      const H = int(1, cases % 3 === 0 ? 30 : 12), W = int(1, cases % 3 === 0 ? 45 : 21), planes = int(1, 3);
      const OH = outSize(H, PH, stride, pad), OW = outSize(W, PW, stride, pad);
      if (OH < 1 || OW < 1) continue;
      cases++;
      const inSize = planes * H * W, outN = planes * OH * OW;
      const kind = cases % 4;
      const what = `case ${cases}: ${planes}×${H}×${W}, window ${PH}×${PW} stride ${stride} pad ${pad}, inputs ${kind}`;
      const canaries = new Canaries(rt, cases);
      const xs = inputs(inSize, kind, next);
      const x = between(canaries, () => rt.tensor([inSize], xs));
      const y = between(canaries, () => rt.tensor([outN])), yRef = rt.tensor([outN]);
      const arg = between(canaries, () => rt.labels([outN])), argRef = rt.labels([outN]);
      k.fill(y.ptr, NaN, outN);
      k.maxPoolForward(y.ptr, arg.ptr, x.ptr, planes, H, W, PH, PW, stride, pad);
      k.maxPoolForwardRef(yRef.ptr, argRef.ptr, x.ptr, planes, H, W, PH, PW, stride, pad);
      expectBits(y.data, yRef.data, `maxPoolForward, ${what}`);
      expect(Array.from(arg.data), `maxPoolForward arg, ${what}`).toEqual(Array.from(argRef.data));
      k.fill(y.ptr, NaN, outN);
      k.avgPoolForward(y.ptr, x.ptr, planes, H, W, PH, PW, stride, pad);
      k.avgPoolForwardRef(yRef.ptr, x.ptr, planes, H, W, PH, PW, stride, pad);
      expectSums(y.data, yRef.data, `avgPoolForward, ${what}`);
      // backward: dy with ties, signed zeros and infinities too
      const dys = inputs(outN, 1 + (cases % 3), next);
      const dy = between(canaries, () => rt.tensor([outN], dys));
      const dx = between(canaries, () => rt.tensor([inSize])), dxRef = rt.tensor([inSize]);
      k.fill(dx.ptr, NaN, inSize);
      k.maxPoolBackward(dx.ptr, dy.ptr, argRef.ptr, planes, H * W, OH * OW, 0, 0);
      expectSums(dx.data, maxBackwardRef(dys, argRef.data, planes, H * W, OH * OW), `maxPoolBackward, ${what}`);
      k.fill(dx.ptr, NaN, inSize);
      k.avgPoolBackward(dx.ptr, dy.ptr, planes, H, W, PH, PW, stride, pad, 0, 0);
      k.avgPoolBackwardRef(dxRef.ptr, dy.ptr, planes, H, W, PH, PW, stride, pad);
      expectSums(dx.data, dxRef.data, `avgPoolBackward, ${what}`);
      expectBits(x.data, xs, `x unchanged, ${what}`);
      expectBits(dy.data, dys, `dy unchanged, ${what}`);
      expect(canaries.changed(), `canaries, ${what}`).toBe(0);
      for (const t of [x, y, yRef, arg, argRef, dy, dx, dxRef]) t.dispose();
      canaries.dispose();
    }
  });
});
