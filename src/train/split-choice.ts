// Whether a Trainer's steps split their calls across the runtime's thread pool
// or run them on the calling thread. Splitting pays for big calls (MultiLayerNet
// 784-100-100-10 at batch 100: 1.3x on 2 threads) and loses on small ones: on a
// 2-vCPU VM whose cores trade a cache line in 150–450 ns, the README's main job
// (the same net at batch 16) stepped an epoch in 183 ms split against 119 ms on
// the calling thread alone, the weights and batch crossing between the cores in
// every call. Which way wins depends on the net, the batch and the host, so it
// is measured: steps run in blocks each way, again and again as training goes
// on (a VM's host has slow and fast phases), and the faster way is kept;
// between probes the kept way's steps are timed too, and a probe comes at once
// when they have slowed past what the other way took at the last. Any
// split gives the same bits (the runtime's contract), so the choice changes the
// speed only.
import type { Runtime } from '../runtime/runtime.js';
import { now } from '../runtime/yield.js';

/** How a Trainer's steps used the runtime's thread pool (Trainer.threadUse). */
export interface ThreadUse {
  /** Whether steps now split their calls across the pool (false: on the calling thread; also without a pool). */
  pool: boolean;
  /** Median milliseconds of a step split across the pool at the last probe (null before one). */
  poolStepMs: number | null;
  /** Median milliseconds of a step on the calling thread at the last probe (null before one). */
  serialStepMs: number | null;
  /** Probes done: runs of steps timed both ways. */
  probes: number;
}

/** What SplitChoice reads and sets on the runtime. */
export type SplitHolder = Pick<Runtime, 'splitsNow' | 'poolReady' | 'holdSplits'>;

/** The first probe starts on the WARMUP_STEPS-th step with every worker up (the steps before warm the workers' code). */
export const WARMUP_STEPS = 8;
/**
 * Steps a probe runs one way before it switches. The first of each block is not
 * counted: it pays for the switch (data moving to the other core, a worker waking).
 */
export const BLOCK_STEPS = 4;
/** The ways of a probe's blocks: pool, calling thread, calling thread, pool (each way as often early as late). */
export const PROBE_BLOCKS: readonly boolean[] = [true, false, false, true];
/** Steps a probe counts each way. */
const COUNTED = (PROBE_BLOCKS.length / 2) * (BLOCK_STEPS - 1);
/** After its first two blocks a probe stops when one way is this much faster (a clear choice costs half a probe). */
export const CLEAR_RATIO = 1.25;
/**
 * Steps this long (ms, the pool's median) are judged clear after the calling thread's first
 * counted step: a pause of the host (~0.1 ms) moves them by 2% at most, where the other
 * steps of the block would add a DeepConvNet step's 60 ms on the slower way each.
 */
export const LONG_STEP_MS = 5;
/**
 * The pool must be this much faster (its median step time × (1 + POOL_MARGIN) below the calling
 * thread's) to be used. Six steps a way leave ~±10% of noise on the 2-vCPU VMs: with no margin,
 * the README's main job, whose steady steps ran 4–13% faster on the calling thread alone (6 runs
 * of 5 epochs), ended 5 of a bench run's 6 runs on the pool, at 0.90× its --threads 1 time.
 */
export const POOL_MARGIN = 0.05;
/** Steps between probes: the first interval, doubled while a choice stands (×4 when it was clear), at most the last. */
export const FIRST_INTERVAL = 256;
export const MAX_INTERVAL = 4096;
/**
 * Between probes, the kept way's steps are timed in windows of WATCH_STEPS; a window whose median
 * is DRIFT_MARGIN over the kept way's last probe median, and over the other way's (the pool's
 * by POOL_MARGIN), starts a probe at the next step. A host's phase can turn a choice around
 * within an interval, which grows to 4,096 steps: in a bench run one run of the README's main job
 * ended at 0.73× its --threads 1 time with its steps on the pool (docs/BENCHMARKS.md, session 38).
 */
export const WATCH_STEPS = 16;
export const DRIFT_MARGIN = 0.2;

/**
 * Times a Trainer's steps split and unsplit now and then (and the kept way's
 * between, to probe again when they slow) and holds the runtime's splits
 * through the steps when the calling thread alone is the faster. begin()
 * before a step, end() after it, abort() when it throws.
 */
export class SplitChoice {
  private usePool = true;
  private untilProbe = WARMUP_STEPS;
  private interval = FIRST_INTERVAL;
  /** The probe in progress: steps done in it, and the times counted each way (kept, so a step allocates nothing). */
  private probe: Probe | null = null;
  private readonly times: Probe = { step: 0, pool: new Float64Array(COUNTED), pooled: 0, serial: new Float64Array(COUNTED), serials: 0 };
  private lastPoolMs: number | null = null;
  private lastSerialMs: number | null = null;
  private probes = 0;
  /** The step in progress is a probe's (its time is counted), and when it began. */
  private timing = false;
  private start = 0;
  /** The step in progress is the kept way's, timed for the watch between probes; the window's times so far. */
  private watching = false;
  private readonly window = new Float64Array(WATCH_STEPS);
  private watched = 0;

  constructor(private readonly rt: SplitHolder, private readonly clock: () => number = now) {}

  /** How steps use the pool now, and the last probe's medians. */
  get use(): ThreadUse {
    return { pool: this.usePool && this.rt.splitsNow, poolStepMs: this.lastPoolMs, serialStepMs: this.lastSerialMs, probes: this.probes };
  }

  /** Before a step: holds the runtime's splits when this step runs on the calling thread. */
  begin(): void {
    this.timing = this.watching = false;
    if (!this.rt.poolReady) return; // no pool to choose (one thread, a lazy pool or its workers not up, every worker quiet)
    if (this.probe === null && --this.untilProbe <= 0) {
      this.probe = this.times;
      this.probe.step = this.probe.pooled = this.probe.serials = 0;
      this.watched = 0;
    }
    const p = this.probe;
    const pool = p === null ? this.usePool : PROBE_BLOCKS[Math.floor(p.step / BLOCK_STEPS)];
    this.rt.holdSplits = !pool;
    this.timing = p !== null;
    this.watching = p === null && this.probes > 0;
    if (this.timing || this.watching) this.start = this.clock();
  }

  /** After a step that completed: releases the hold, and counts the step's time in a probe or, between probes, in the watch's window. */
  end(): void {
    const p = this.probe;
    if (this.timing && p !== null) {
      const ms = this.clock() - this.start;
      if (p.step % BLOCK_STEPS !== 0) {
        if (this.rt.holdSplits) p.serial[p.serials++] = ms;
        else p.pool[p.pooled++] = ms;
      }
      p.step++;
      const long = p.step < 2 * BLOCK_STEPS && p.serials === 1 && median(p.pool, p.pooled) >= LONG_STEP_MS;
      if (p.step === 2 * BLOCK_STEPS || long) {
        const ratio = median(p.serial, p.serials) / median(p.pool, p.pooled);
        if (ratio >= CLEAR_RATIO || ratio <= 1 / CLEAR_RATIO) this.decide(p, 4);
      } else if (p.step === PROBE_BLOCKS.length * BLOCK_STEPS) {
        this.decide(p, 2);
      }
    } else if (this.watching) {
      this.watch(this.clock() - this.start);
    }
    this.release();
  }

  // A kept-way step of `ms`: at the end of a window, a probe at the next step if the window's median
  // is DRIFT_MARGIN over the kept way's last median and over the other way's (see WATCH_STEPS).
  private watch(ms: number): void {
    this.window[this.watched++] = ms;
    if (this.watched < WATCH_STEPS) return;
    this.watched = 0;
    const now = median(this.window, WATCH_STEPS);
    const kept = this.usePool ? this.lastPoolMs! : this.lastSerialMs!;
    const other = this.usePool ? this.lastSerialMs! : this.lastPoolMs! * (1 + POOL_MARGIN);
    if (now > (1 + DRIFT_MARGIN) * kept && now > other) this.untilProbe = 1;
  }

  /** After a step that threw: releases the hold; the step's time is not counted. */
  abort(): void {
    this.release();
  }

  private release(): void {
    this.timing = this.watching = false;
    this.rt.holdSplits = false;
  }

  // The faster way by the medians (the pool by POOL_MARGIN at least); the next probe after
  // an interval that grows by `growth` while the choice stands and restarts when it changes.
  private decide(p: Probe, growth: number): void {
    const poolMs = median(p.pool, p.pooled), serialMs = median(p.serial, p.serials);
    const usePool = poolMs * (1 + POOL_MARGIN) < serialMs;
    this.interval = this.probes === 0 || usePool !== this.usePool ? FIRST_INTERVAL : Math.min(MAX_INTERVAL, this.interval * growth);
    this.usePool = usePool;
    this.untilProbe = this.interval;
    this.lastPoolMs = poolMs;
    this.lastSerialMs = serialMs;
    this.probes++;
    this.probe = null;
  }
}

interface Probe { step: number; pool: Float64Array; pooled: number; serial: Float64Array; serials: number }

/** Median of a[0..n) (sorts them in place; a view only when n is less than a's length). */
function median(a: Float64Array, n: number): number {
  const s = n === a.length ? a.sort() : a.subarray(0, n).sort();
  const h = n >> 1;
  return n % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}
