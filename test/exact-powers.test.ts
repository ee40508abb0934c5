// exactLog10 and exactPow10 (the search's log-uniform draws) give the double
// nearest the exact value, in Node and in Chromium alike (this file runs in
// both), where `10 ** x` gave different last bits on the two (Node 20 is off
// on 11 of the 114 cases below). The table comes from Python's decimal module
// at 100 digits (test/fixtures/exact-powers-table.ts).
import { describe, it, expect } from 'vitest';
import { exactLog10, exactPow10 } from '../src/search/exact-powers.js';
import { POW10, LOG10 } from './fixtures/exact-powers-table.js';

describe('exactPow10 and exactLog10', () => {
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
});
