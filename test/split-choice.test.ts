// src/train/split-choice.ts: which way a Trainer's steps run (split across the
// pool or on the calling thread), chosen from timed steps. A fake runtime and a
// fake clock: each step "takes" the time its way is given, so the schedule and
// the choices are checked exactly.
import { describe, it, expect } from 'vitest';
import {
  BLOCK_STEPS, CLEAR_RATIO, DRIFT_MARGIN, FIRST_INTERVAL, LONG_STEP_MS, MAX_INTERVAL, POOL_MARGIN, PROBE_BLOCKS, SplitChoice, WARMUP_STEPS, WATCH_STEPS,
  type SplitHolder,
} from '../src/train/split-choice.js';

/** A runtime with a pool (`splitsNow` unless held or `poolUp` is false) and a clock whose steps take `ms(way)`. */
class Fake {
  poolUp = true;
  /** Every worker of the pool has come up. */
  workersUp = true;
  holdSplits = false;
  time = 0;
  /** Milliseconds of a step on the pool and on the calling thread. */
  poolMs = 1;
  serialMs = 1;
  /** The way each step ran: 'P' split, 'S' held, '-' no pool. */
  ways = '';
  readonly choice: SplitChoice;
  constructor() {
    const rt: SplitHolder = this as unknown as SplitHolder;
    Object.defineProperty(this, 'splitsNow', { get: () => this.poolUp && !this.holdSplits });
    Object.defineProperty(this, 'poolReady', { get: () => this.poolUp && this.workersUp && !this.holdSplits });
    this.choice = new SplitChoice(rt, () => this.time);
  }

  /** Runs `n` steps; `fail(i)` makes step i throw (abort). */
  steps(n: number, fail: (i: number) => boolean = () => false): void {
    for (let i = 0; i < n; i++) {
      this.choice.begin();
      const way = !this.poolUp ? '-' : this.holdSplits ? 'S' : 'P';
      this.ways += way;
      this.time += way === 'S' ? this.serialMs : this.poolMs;
      if (fail(i)) this.choice.abort();
      else this.choice.end();
      expect(this.holdSplits, 'the hold is released after every step').toBe(false);
    }
  }
}

const probe = (blocks: readonly boolean[]) => blocks.map((p) => (p ? 'P' : 'S').repeat(BLOCK_STEPS)).join('');
const full = probe(PROBE_BLOCKS), half = probe(PROBE_BLOCKS.slice(0, 2));

describe('SplitChoice: the way a Trainer\'s steps run, timed', () => {
  it('probes once the pool is up, a block each way (P S S P); the pool must be POOL_MARGIN faster to be kept', () => {
    const f = new Fake();
    f.steps(WARMUP_STEPS - 1 + full.length + 10);
    expect(f.ways).toBe('P'.repeat(WARMUP_STEPS - 1) + full + 'S'.repeat(10));
    expect(f.choice.use).toEqual({ pool: false, poolStepMs: 1, serialStepMs: 1, probes: 1 });
    // the calling thread 4% slower: within the margin, still the calling thread
    const g = new Fake();
    g.poolMs = 0.96;
    expect(g.poolMs * (1 + POOL_MARGIN)).toBeGreaterThan(g.serialMs);
    g.steps(WARMUP_STEPS - 1 + full.length + 1);
    expect(g.choice.use.pool).toBe(false);
    // 6% slower: the pool
    const h = new Fake();
    h.poolMs = 0.9375;
    expect(h.poolMs * (1 + POOL_MARGIN)).toBeLessThan(h.serialMs);
    h.steps(WARMUP_STEPS - 1 + full.length + 1);
    expect(h.ways.at(-1)).toBe('P');
    expect(h.choice.use).toEqual({ pool: true, poolStepMs: 0.9375, serialStepMs: 1, probes: 1 });
  });

  it('runs steps on the calling thread once that is clearly faster, after half a probe; probes again FIRST_INTERVAL steps on, growing ×4 while clear', () => {
    const f = new Fake();
    f.poolMs = 2;
    f.steps(WARMUP_STEPS - 1 + half.length);
    expect(f.ways.slice(WARMUP_STEPS - 1)).toBe(half);
    expect(f.choice.use).toEqual({ pool: false, poolStepMs: 2, serialStepMs: 1, probes: 1 });
    f.ways = '';
    f.steps(FIRST_INTERVAL - 1 + half.length + 4 * FIRST_INTERVAL - 1 + half.length);
    expect(f.ways).toBe('S'.repeat(FIRST_INTERVAL - 1) + half + 'S'.repeat(4 * FIRST_INTERVAL - 1) + half);
    expect(f.choice.use.probes).toBe(3);
  });

  it('judges long steps (a DeepConvNet\'s) after the calling thread\'s first counted step: two steps on it, not four', () => {
    const f = new Fake();
    f.poolMs = 64;
    f.serialMs = 128;
    expect(f.poolMs).toBeGreaterThanOrEqual(LONG_STEP_MS);
    f.steps(WARMUP_STEPS - 1 + BLOCK_STEPS + 2 + 5);
    expect(f.ways.slice(WARMUP_STEPS - 1)).toBe('P'.repeat(BLOCK_STEPS) + 'SS' + 'PPPPP');
    expect(f.choice.use).toEqual({ pool: true, poolStepMs: 64, serialStepMs: 128, probes: 1 });
    // close long steps still take the whole probe
    const g = new Fake();
    g.poolMs = 68;
    g.serialMs = 64;
    g.steps(WARMUP_STEPS - 1 + full.length);
    expect(g.ways.slice(WARMUP_STEPS - 1)).toBe(full);
    expect(g.choice.use).toEqual({ pool: false, poolStepMs: 68, serialStepMs: 64, probes: 1 });
  });

  it('takes a whole probe when the ways are close, and the faster median then (the calling thread 6% faster)', () => {
    const f = new Fake();
    f.poolMs = 1.0625;
    expect(f.poolMs / f.serialMs).toBeLessThan(CLEAR_RATIO);
    f.steps(WARMUP_STEPS - 1 + full.length + 3);
    expect(f.ways.slice(WARMUP_STEPS - 1)).toBe(full + 'SSS');
    expect(f.choice.use).toMatchObject({ pool: false, poolStepMs: 1.0625, serialStepMs: 1 });
  });

  it('counts no block\'s first step (it pays for the switch): the medians are of the other steps\' times', () => {
    const f = new Fake();
    f.steps(WARMUP_STEPS - 1);
    // the probe's steps, block by block (P S S P); each block's first step takes 5 ms
    const times = [5, 1, 2, 3, 5, 2, 2, 2, 5, 2, 2, 2, 5, 4, 5, 6];
    for (const ms of times) {
      f.choice.begin();
      f.time += ms;
      f.choice.end();
    }
    // pool: 1 2 3 4 5 6 → 3.5 (with the first steps, 4.5); calling thread: 2
    expect(f.choice.use).toEqual({ pool: false, poolStepMs: 3.5, serialStepMs: 2, probes: 1 });
  });

  it('a choice that changes restarts the interval; one that stands doubles it, up to MAX_INTERVAL', () => {
    const f = new Fake();
    f.poolMs = 1.0625; // close: whole probes
    const until = () => WARMUP_STEPS - 1 + full.length;
    f.steps(until());
    expect(f.choice.use.pool).toBe(false);
    let interval = FIRST_INTERVAL;
    const gaps: number[] = [];
    for (let k = 0; k < 6; k++) {
      f.ways = '';
      f.steps(interval - 1 + full.length);
      expect(f.ways.slice(interval - 1)).toBe(full);
      gaps.push(interval);
      interval = Math.min(MAX_INTERVAL, 2 * interval);
    }
    expect(gaps).toEqual([256, 512, 1024, 2048, 4096, 4096]);
    // the pool turns faster: the next probe flips the choice and the interval starts again
    f.poolMs = 0.9375;
    f.ways = '';
    f.steps(MAX_INTERVAL - 1 + full.length + FIRST_INTERVAL - 1 + 1);
    expect(f.ways).toBe('S'.repeat(MAX_INTERVAL - 1) + full + 'P'.repeat(FIRST_INTERVAL - 1) + 'P');
    expect(f.choice.use).toMatchObject({ pool: true, poolStepMs: 0.9375, serialStepMs: 1 });
  });

  // no pool (one thread, a lazy pool not started, every worker quiet): steps run unsplit; a pool whose workers are
  // not all up yet: its calls run partly on the calling thread, so its steps would be judged too slow
  for (const [missing, set, way] of [['no pool', (f: Fake, on: boolean) => { f.poolUp = on; }, '-'], ['workers not all up', (f: Fake, on: boolean) => { f.workersUp = on; }, 'P']] as const) {
    it(`${missing}: it holds nothing and times nothing; a probe waits, also when it goes mid-probe`, () => {
      const f = new Fake();
      set(f, false);
      f.steps(100);
      expect(f.ways).toBe(way.repeat(100));
      expect(f.choice.use).toEqual({ pool: way === 'P', poolStepMs: null, serialStepMs: null, probes: 0 });
      set(f, true);
      f.poolMs = 2;
      f.ways = '';
      f.steps(WARMUP_STEPS - 1 + 5);
      set(f, false);
      f.steps(7);
      set(f, true);
      f.steps(half.length - 5);
      expect(f.ways).toBe('P'.repeat(WARMUP_STEPS - 1) + half.slice(0, 5) + way.repeat(7) + half.slice(5));
      expect(f.choice.use).toEqual({ pool: false, poolStepMs: 2, serialStepMs: 1, probes: 1 });
    });
  }

  it('probes at once when the kept way\'s steps slow past DRIFT_MARGIN and the other way\'s median: a window of WATCH_STEPS, then a probe', () => {
    const f = new Fake();
    f.poolMs = 0.5;
    f.steps(WARMUP_STEPS - 1 + half.length);
    expect(f.choice.use).toMatchObject({ pool: true, poolStepMs: 0.5, serialStepMs: 1, probes: 1 });
    // the host slows the pool's steps: 1.5 ms is over 1.2 × 0.5 and over the calling thread's 1
    f.poolMs = 1.5;
    expect(f.poolMs).toBeGreaterThan((1 + DRIFT_MARGIN) * 0.5);
    f.ways = '';
    f.steps(WATCH_STEPS + half.length + 5);
    expect(f.ways).toBe('P'.repeat(WATCH_STEPS) + half + 'S'.repeat(5));
    expect(f.choice.use).toMatchObject({ pool: false, poolStepMs: 1.5, serialStepMs: 1, probes: 2 });
    // the calling thread kept, then slowed past the pool's median (with its margin): back to the pool once
    // the window that began after the probe (its first 5 steps at 1 ms) is full
    f.serialMs = 2;
    f.ways = '';
    f.steps(WATCH_STEPS - 5 + half.length + 5);
    expect(f.ways).toBe('S'.repeat(WATCH_STEPS - 5) + half + 'P'.repeat(5));
    expect(f.choice.use).toMatchObject({ pool: true, poolStepMs: 1.5, serialStepMs: 2, probes: 3 });
  });

  it('no early probe for a slowdown within DRIFT_MARGIN, or one that leaves the kept way faster than the other was', () => {
    const f = new Fake();
    f.poolMs = 0.5;
    f.steps(WARMUP_STEPS - 1 + half.length);
    f.ways = '';
    f.poolMs = 0.59; // within 20% of 0.5
    f.steps(FIRST_INTERVAL / 2);
    f.poolMs = 0.9; // 80% slower, still faster than the calling thread's 1
    f.steps(FIRST_INTERVAL / 2 - 1);
    expect(f.ways).toBe('P'.repeat(FIRST_INTERVAL - 1));
    expect(f.choice.use.probes).toBe(1);
  });

  it('a phase that slows both ways alike costs one early probe, which keeps the choice; the interval then grows as before', () => {
    const f = new Fake();
    f.poolMs = 0.5;
    f.steps(WARMUP_STEPS - 1 + half.length);
    f.poolMs = 1.5;
    f.serialMs = 3;
    f.ways = '';
    f.steps(WATCH_STEPS + half.length + 4 * FIRST_INTERVAL - 1 + 1);
    expect(f.ways).toBe('P'.repeat(WATCH_STEPS) + half + 'P'.repeat(4 * FIRST_INTERVAL - 1) + 'P');
    expect(f.choice.use).toEqual({ pool: true, poolStepMs: 1.5, serialStepMs: 3, probes: 2 });
  });

  it('a step that throws is not counted and releases the hold; the probe goes on where it was', () => {
    const f = new Fake();
    f.poolMs = 2;
    f.steps(WARMUP_STEPS - 1 + BLOCK_STEPS + 1);
    f.serialMs = 100; // failing steps "take" 100 ms: counted, they would make the calling thread the slower
    f.steps(3, () => true);
    f.serialMs = 1;
    f.steps(BLOCK_STEPS - 1);
    expect(f.ways.slice(WARMUP_STEPS - 1)).toBe('P'.repeat(BLOCK_STEPS) + 'S' + 'SSS' + 'S'.repeat(BLOCK_STEPS - 1));
    expect(f.choice.use).toEqual({ pool: false, poolStepMs: 2, serialStepMs: 1, probes: 1 });
  });
});
