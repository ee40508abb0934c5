// exactLog10, exactPow10 (the search's log-uniform draws), exactPowInt (Adam's
// bias correction, the step and exponential schedules), exactPow (PolynomialLR's fractional powers), exactLn and exactExp (mixup) and exactCosPiRatio (the
// cosine schedule) give the double nearest the exact value, in Node and in
// Chromium alike (this file runs in both), where `**`, Math.log10 and Math.cos
// gave different last bits on the two. The tables come from Python's decimal
// module at 90–100 digits (test/fixtures/exact-math-table.ts).
import { describe, it, expect } from 'vitest';
import { exactCosPiRatio, exactExp, exactLn, exactLog10, exactPow, exactPow10, exactPowInt } from '../src/runtime/exact-math.js';
import { COS_PI_RATIO, EXP, LN, LOG10, POW, POW10, POW_INT } from './fixtures/exact-math-table.js';

describe('exact powers, logarithms and cosines', () => {
  it('10^x: the nearest double, over the book\'s lr and weight-decay exponents, subnormals, overflow', () => {
    const wrong = POW10.filter(([x, v]) => !Object.is(exactPow10(x), v)).map(([x, v]) => `10^${x}: ${exactPow10(x)}, expected ${v}`);
    expect(wrong).toEqual([]);
  });

  it('log10 y: the nearest double, from the smallest subnormal to the largest double', () => {
    const wrong = LOG10.filter(([y, v]) => !Object.is(exactLog10(y), v)).map(([y, v]) => `log10 ${y}: ${exactLog10(y)}, expected ${v}`);
    expect(wrong).toEqual([]);
  });

  it('powers of ten round-trip exactly', () => {
    for (let k = -22; k <= 22; k++) {
      expect(exactLog10(Number(`1e${k}`))).toBe(k);
      expect(exactPow10(k)).toBe(Number(`1e${k}`));
    }
  });

  it('b^n for integer n: Adam\'s betas over 300,000 steps, the schedules\' gammas, underflow to subnormals', () => {
    const wrong = POW_INT.filter(([b, n, v]) => !Object.is(exactPowInt(b, n), v)).map(([b, n, v]) => `${b}^${n}: ${exactPowInt(b, n)}, expected ${v}`);
    expect(wrong).toEqual([]);
  });

  it('x^p for real p: the nearest double, PolynomialLR\'s bases and powers, wide ranges, subnormal and overflowing results; 0^p as Python', () => {
    const wrong = POW.filter(([x, p, v]) => !Object.is(exactPow(x, p), v)).map(([x, p, v]) => `${x}^${p}: ${exactPow(x, p)}, expected ${v}`);
    expect(wrong).toEqual([]);
    expect([exactPow(0, 0.9), exactPow(0, 0), exactPow(0, -1), exactPow(1, 1e300)]).toEqual([0, 1, Infinity, 1]);
  });

  it('ln x and e^y: the nearest double (mixup\'s gamma draws and λ), ln 0 = −Infinity', () => {
    const wrong = [
      ...LN.filter(([x, v]) => !Object.is(exactLn(x), v)).map(([x, v]) => `ln ${x}: ${exactLn(x)}, expected ${v}`),
      ...EXP.filter(([y, v]) => !Object.is(exactExp(y), v)).map(([y, v]) => `e^${y}: ${exactExp(y)}, expected ${v}`),
    ];
    expect(wrong).toEqual([]);
    expect([exactLn(0), exactLn(1), exactExp(0)]).toEqual([-Infinity, 0, 1]);
  });

  it('cos(πk/n) over several periods, with the exact zeros and ±1 of the quarter turns', () => {
    const wrong = COS_PI_RATIO.filter(([k, n, v]) => !Object.is(exactCosPiRatio(k, n), v)).map(([k, n, v]) => `cos(π·${k}/${n}): ${exactCosPiRatio(k, n)}, expected ${v}`);
    expect(wrong).toEqual([]);
  });

  it('overflow gives Infinity and subnormal results are rounded once (an audit found NaN and 1-ulp cases)', () => {
    expect(exactPowInt(1e301, 1)).toBe(1e301); // Dekker's split of a value above 2^996 overflowed
    expect(exactPowInt(1.5, 1751)).toBe(Infinity); // an ExponentialLR with gamma 1.5 gave NaN at epoch 1751
    expect(exactPowInt(1e160, 2)).toBe(Infinity);
    expect(exactPowInt(2, 1000)).toBe(2 ** 1000);
    // the nearest doubles (mpmath at 400 bits); rounding to 53 bits, then to the subnormal grid, was an ulp above
    expect(exactPow10(-307.6526555685888)).toBe(2.225073858507187e-308);
    expect(exactPow10(-307.84266471862793)).toBe(1.436598079023995e-308);
  });
});
