// The learning-rate range test (Smith 2017, "Cyclical Learning Rates for
// Training Neural Networks" §3.3), as fastai's Learner.lr_find runs it with its
// LRFinder callback and suggestion functions (fastai/fastai at commit
// 0a049e8a90b86d70860f68072698245a1ee787ca: fastai/callback/schedule.py —
// LRFinder, lr_find, valley, steep, minimum; fastai/learner.py — Recorder's
// AvgSmoothLoss, beta 0.98, debiased). A short mock training whose rate grows
// exponentially each step records each step's loss; the net, its layer state,
// the optimizer and the random stream are put back afterwards, however the run
// ends. The steps are the Trainer's (its guarded update, its seeded permutation
// batches, or its weighted draws with sampleWeights), run by a Trainer with a
// per-step schedule of the rates.
import type { Targets } from '../layers/softmax-with-loss.js';
import type { Sequential } from '../nets/sequential.js';
import { ElementwiseOptimizer, type Optimizer, type OptimizerState } from '../optim/optimizer.js';
import { checkOptimizerName, optimizerNames } from '../optim/registry.js';
import type { LRSchedule } from '../optim/schedules.js';
import { exactLog10, exactPow, exactPowInt } from '../runtime/exact-math.js';
import { ConcurrentRunError, NonFiniteError } from '../runtime/errors.js';
import { checkFlag, checkOptions, isAbortSignal } from '../runtime/options.js';
import { badNumber, describeValue, shown, type IntTensor, type Tensor } from '../runtime/tensor.js';
import type { SampleWeights } from './sampler.js';
import { Trainer, type OptimizerChoice, type StepEvent, type TrainerOptions } from './trainer.js';

/** What LRFinderOptions.onStep gets after every step. */
export interface LRFinderStep {
  /** The step (0-based). */
  step: number;
  lr: number;
  loss: number;
  smoothed: number;
}

/** Options of lrFinder(), all optional, beside the optimizer (OptimizerChoice, as TrainerOptions take it). */
export interface LRFinderBaseOptions {
  /** The first step's rate (fastai's start_lr). Default 1e-7. */
  startLr?: number;
  /** The last step's rate (fastai's end_lr), above startLr. Default 10. */
  endLr?: number;
  /** Steps in all (fastai's num_it), at least 6 (fastai raises a smaller num_it to 6). Default 100. */
  steps?: number;
  /** Rows per step (capped at the rows of x). Default 100. */
  batchSize?: number;
  /** Stop once the smoothed loss passes 4× the best so far (fastai's stop_div). Default true. */
  stopDiv?: boolean;
  /**
   * Draw each step's rows with replacement in proportion to a weight per row of x, or 'balanced' (each row weighs
   * 1 / (the rows of its class)): TrainerOptions.sampleWeights, checked as the Trainer checks it. The rate that
   * suits a run with weighted batches is found on such batches. Default: none (seeded permutation batches).
   */
  sampleWeights?: SampleWeights;
  /** Called after every step; an error it throws ends the test (everything put back) with that error. */
  onStep?: (s: LRFinderStep) => void;
}

/** Options of lrFinder(): the test's range, steps and batches, and the optimizer as the Trainer takes it. */
export type LRFinderOptions = LRFinderBaseOptions & OptimizerChoice;

/** Options of lrFinderAsync(): lrFinder's and an AbortSignal. */
export type LRFinderAsyncOptions = LRFinderOptions & {
  /** Aborting rejects with the signal's reason before the next step, everything put back. */
  signal?: AbortSignal;
};

/** fastai's three suggestions; null where too few points are left to make one (see lrFinderSuggestions). */
export interface LRSuggestions {
  valley: number | null;
  steep: number | null;
  minimum: number | null;
}

/** Why a test ended: all steps run, the smoothed loss passed 4× its best (stopDiv), or a step went non-finite. */
export type LRFinderStop = 'completed' | 'diverged' | 'nonFinite';

/** What lrFinder() returns: plain data, one entry per step run. */
export interface LRFinderResult {
  lrs: number[];
  /**
   * Each step's loss, before its update. Only a last step (stopReason 'nonFinite') has one that is not finite: NaN
   * when its loss was NaN (the softmax cross-entropy is finite or NaN: its log is of y + 1e-7) or when only its
   * gradients or parameters overflowed; +Infinity where the net's weight-decay term (weightDecayLambda, l1Lambda)
   * overflowed a double. Never −Infinity.
   */
  losses: number[];
  /** fastai's smoothed losses (what its Recorder records and its suggestions read). */
  smoothed: number[];
  suggestions: LRSuggestions;
  stopReason: LRFinderStop;
}

const KEYS = new Set(['optimizer', 'optimizerParams', 'startLr', 'endLr', 'steps', 'batchSize', 'stopDiv', 'sampleWeights', 'onStep']);
const ASYNC_KEYS = new Set([...KEYS, 'signal']);
/** fastai's AvgSmoothLoss beta. */
const BETA = 0.98;
/** fastai's LRFinder raises num_it to at least 6. */
const MIN_STEPS = 6;

/** The rate of step i of n: startLr·(endLr/startLr)^(i/(n−1)), the same bits on every engine. */
export function lrFinderRate(startLr: number, endLr: number, i: number, n: number): number {
  return startLr * exactPow(endLr / startLr, i / (n - 1));
}

/**
 * fastai's AvgSmoothLoss over `losses`: val = lerp(loss, val, β) = loss + β·(val − loss) from val 0, divided by
 * 1 − β^count (its debias). A NaN stays NaN from there on.
 */
export function smoothLosses(losses: readonly number[]): number[] {
  let val = 0;
  return losses.map((loss, i) => {
    val = loss + BETA * (val - loss);
    return val / (1 - exactPowInt(BETA, i + 1));
  });
}

/**
 * fastai's lr_find suggestions from the rates and smoothed losses: the points [⌊steps/10⌋, len − 5) (steps: the
 * steps asked for, as fastai slices by num_it), cut before the first NaN, then valley (the longest run of falling
 * losses — the longest decreasing subsequence ending at each point, as fastai's O(n²) loop finds it — and the rate
 * two thirds of the way down it, indexed as Python does, a −1 being the last point), steep (the left rate of the
 * steepest fall of loss against log rate; log10 here, whose slopes are ln-10 times fastai's, the same argmin), and
 * minimum (the rate of the least loss, divided by 10). null: no point left (valley, minimum) or fewer than two (steep),
 * where fastai raises.
 */
export function lrFinderSuggestions(lrs: readonly number[], smoothed: readonly number[], steps: number): LRSuggestions {
  let l = lrs.slice(Math.floor(steps / 10), -5), s = smoothed.slice(Math.floor(steps / 10), -5);
  const nan = s.findIndex((v) => Number.isNaN(v));
  if (nan >= 0) {
    l = l.slice(0, nan);
    s = s.slice(0, nan);
  }
  return { valley: valley(l, s), steep: steep(l, s), minimum: minimum(l, s) };
}

function valley(lrs: number[], losses: number[]): number | null {
  const n = losses.length;
  if (n === 0) return null;
  let maxStart = 0, maxEnd = 0;
  const lds = new Array<number>(n).fill(1);
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i] < losses[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
      if (lds[maxEnd] < lds[i]) {
        maxEnd = i;
        maxStart = maxEnd - lds[maxEnd];
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  return lrs.at(maxStart + Math.trunc(sections) + Math.trunc(sections / 2))!;
}

function steep(lrs: number[], losses: number[]): number | null {
  if (losses.length < 2) return null;
  let best = 0, bestGrad = Infinity;
  for (let i = 0; i + 1 < losses.length; i++) {
    const grad = (losses[i + 1] - losses[i]) / (exactLog10(lrs[i + 1]) - exactLog10(lrs[i]));
    if (grad < bestGrad) { best = i; bestGrad = grad; } // torch.argmin: the first of equal minima
  }
  return lrs[best];
}

function minimum(lrs: number[], losses: number[]): number | null {
  if (losses.length === 0) return null;
  let best = 0;
  for (let i = 1; i < losses.length; i++) if (losses[i] < losses[best]) best = i;
  return lrs[best] / 10;
}

interface Checked {
  startLr: number; endLr: number; steps: number; batchSize: number; stopDiv: boolean; onStep?: (s: LRFinderStep) => void;
  /** Left to the Trainer to check (it knows the rows and their classes); asOurs names it as this function's. */
  sampleWeights?: SampleWeights;
  choice: OptimizerChoice;
}

function checkFinderOptions(who: string, net: Sequential, options: LRFinderAsyncOptions, keys: ReadonlySet<string>): Checked {
  checkOptions(who, options, keys);
  const { startLr = 1e-7, endLr = 10, steps = 100, batchSize = 100, stopDiv = true, sampleWeights, onStep, optimizer, optimizerParams } = options;
  if (!(typeof startLr === 'number' && Number.isFinite(startLr) && startLr > 0)) throw badNumber(startLr, `${who}: startLr must be a positive finite number, got ${shown(startLr)}`);
  if (!(typeof endLr === 'number' && Number.isFinite(endLr) && endLr > startLr)) throw badNumber(endLr, `${who}: endLr must be a finite number above startLr (${startLr}), got ${shown(endLr)}`);
  if (!(Number.isSafeInteger(steps) && steps >= MIN_STEPS)) throw badNumber(steps, `${who}: steps must be an integer of at least ${MIN_STEPS} (fastai's least num_it), got ${shown(steps)}`);
  if (!(Number.isSafeInteger(batchSize) && batchSize > 0)) throw badNumber(batchSize, `${who}: batchSize must be a positive integer, got ${shown(batchSize)}`);
  checkFlag(who, 'stopDiv', stopDiv);
  if (onStep !== undefined && typeof onStep !== 'function') throw new TypeError(`${who}: onStep must be a function of the step, got ${describeValue(onStep)}`);
  if (typeof optimizer === 'string') checkOptimizerName(`${who}: optimizer`, optimizer);
  if (typeof optimizer === 'object' && optimizer !== null) {
    if (optimizerParams !== undefined) throw new TypeError(`${who}: optimizerParams configures an optimizer given by name; set them on the optimizer instance given`);
    if (typeof optimizer.update !== 'function') throw new TypeError(`${who}: optimizer must be an optimizer (with update(params, grads)) or a name (${optimizerNames.join(', ')}), got ${describeValue(optimizer)}`);
    if (typeof (optimizer as { lr?: unknown }).lr !== 'number') throw new TypeError(`${who}: optimizer ${optimizer.name} has no lr to sweep`);
    const o = optimizer as Partial<Pick<ElementwiseOptimizer, 'state' | 'loadState'>>;
    if (typeof o.state !== 'function' || typeof o.loadState !== 'function') throw new TypeError(`${who}: optimizer ${optimizer.name} has no state() and loadState(), so its state could not be put back`);
  }
  if (!(net !== null && typeof net === 'object' && typeof (net as Partial<Sequential>).exportParams === 'function')) {
    throw new TypeError(`${who}: net must be a net (MultiLayerNet, a Sequential, …), got ${describeValue(net)}`);
  }
  if ('signal' in options && options.signal !== undefined && !isAbortSignal(options.signal)) throw new TypeError(`${who}: signal must be an AbortSignal, got ${describeValue(options.signal)}`);
  const choice = (optimizer === undefined ? { optimizerParams } : { optimizer, optimizerParams }) as OptimizerChoice;
  return { startLr, endLr, steps, batchSize, stopDiv, sampleWeights, onStep, choice };
}

/**
 * Everything a test changes, saved to be put back bit for bit: the parameters and layer state, the random stream,
 * and an optimizer instance's lr and state (its state arena copied in place when it has one, so that it is not
 * reallocated: the runtime's memory ends as it began).
 */
function saveEverything(net: Sequential, optimizer: Optimizer | undefined): () => void {
  const params = net.exportParams(), random = net.rt.randomState;
  let putBackOptimizer = (): void => {};
  if (optimizer) {
    const o = optimizer as Optimizer & { lr: number; state(): OptimizerState; loadState(s: OptimizerState): void };
    const lr = o.lr, state = o.state();
    const arena = optimizer instanceof ElementwiseOptimizer ? optimizer.unsafeStateTensor : null;
    const arenaCopy = arena ? arena.data.slice() : null;
    const t = optimizer instanceof ElementwiseOptimizer ? optimizer.t : 0;
    putBackOptimizer = () => {
      if (arena && optimizer instanceof ElementwiseOptimizer && optimizer.unsafeStateTensor === arena && !arena.disposed) {
        arena.data.set(arenaCopy!);
        optimizer.rewindSteps(t);
      } else {
        o.loadState(state);
      }
      o.lr = lr;
    };
  }
  return () => {
    net.importParams(params);
    net.rt.randomState = random;
    putBackOptimizer();
  };
}

/** The test's run: its Trainer, what it records, and how its steps end it. */
class RangeTest {
  readonly lrs: number[] = [];
  readonly losses: number[] = [];
  readonly smoothed: number[] = [];
  stopReason: LRFinderStop = 'completed';
  readonly trainer: Trainer;
  private best = Infinity;
  private val = 0;

  constructor(net: Sequential, x: Tensor, t: Tensor | IntTensor, private readonly c: Checked) {
    const rates: LRSchedule = { name: 'LRFinder', interval: 'step', periods: c.steps, lrAt: (k) => lrFinderRate(c.startLr, c.endLr, k, c.steps) };
    const options: TrainerOptions = {
      ...c.choice,
      maxIterations: c.steps,
      miniBatchSize: c.batchSize,
      ...(c.sampleWeights !== undefined ? { sampleWeights: c.sampleWeights } : {}),
      lrSchedule: rates,
      // the epochs' evaluation is not the test's: one row each, the least the Trainer takes
      evaluateSampleNumPerEpoch: 1,
      callbacks: { onStepEnd: (e) => this.record(e.iter - 1, e.lr!, e.loss, e) },
    } as TrainerOptions;
    this.trainer = new Trainer(net, x, t, x, t as Targets, options);
  }

  /** Records step i; stops the run as fastai's LRFinder.after_batch does. */
  private record(i: number, lr: number, loss: number, e?: StepEvent): void {
    this.val = loss + BETA * (this.val - loss);
    const smoothed = this.val / (1 - exactPowInt(BETA, i + 1));
    this.lrs.push(lr);
    this.losses.push(loss);
    this.smoothed.push(smoothed);
    if (smoothed < this.best) this.best = smoothed;
    if (this.c.stopDiv && smoothed > 4 * this.best) {
      this.stopReason = 'diverged';
      e?.stop();
    }
    this.c.onStep?.({ step: i, lr, loss, smoothed });
  }

  /**
   * A step refused as non-finite (the Trainer rolled it back): recorded with its loss (NaN when only its gradients or
   * parameters overflowed, as the next loss would be), and the test ends, stopDiv or not.
   */
  nonFinite(net: Sequential): void {
    const i = this.lrs.length;
    this.stopReason = 'nonFinite';
    const loss = Number.isFinite(net.lastLoss) ? NaN : net.lastLoss;
    this.record(i, lrFinderRate(this.c.startLr, this.c.endLr, i, this.c.steps), loss);
  }

  result(): LRFinderResult {
    const { lrs, losses, smoothed, stopReason } = this;
    return { lrs, losses, smoothed, suggestions: lrFinderSuggestions(lrs, smoothed, this.c.steps), stopReason };
  }
}

/** The Trainer's refusal of the data, said as this function's (its x and t are the Trainer's xTrain and tTrain). */
function asOurs(who: string, e: unknown): unknown {
  if (!(e instanceof TypeError || e instanceof RangeError) || !e.message.startsWith('Trainer: ')) return e;
  const message = `${who}: ${e.message.slice('Trainer: '.length).replace(/\bxTrain\b/g, 'x').replace(/\btTrain\b/g, 't')}`;
  return e instanceof TypeError ? new TypeError(message, { cause: e }) : new RangeError(message, { cause: e });
}

function runTest<R>(who: string, net: Sequential, x: Tensor, t: Tensor | IntTensor, options: LRFinderAsyncOptions, keys: ReadonlySet<string>,
  run: (test: RangeTest) => R, finish: (r: R, done: (error: unknown, ok: boolean) => LRFinderResult) => LRFinderResult | Promise<LRFinderResult>): LRFinderResult | Promise<LRFinderResult> {
  const c = checkFinderOptions(who, net, options, keys);
  // refused before anything is saved: putting the net and the stream back would undo the other run's steps
  if (net.rt.trainerRunning) throw new ConcurrentRunError(`${who}: a Trainer is training on this runtime; the test would share its random stream and parameters (await that run, or give the test its own runtime)`);
  const given = typeof c.choice.optimizer === 'object' ? c.choice.optimizer : undefined;
  const putBack = saveEverything(net, given);
  let test: RangeTest | null = null;
  const done = (error: unknown, ok: boolean): LRFinderResult => {
    try {
      if (!ok && !(error instanceof NonFiniteError && test && test.lrs.length < c.steps)) throw error;
      if (!ok) test!.nonFinite(net);
      return test!.result();
    } finally {
      test?.trainer.dispose();
      putBack();
    }
  };
  let r: R;
  try {
    test = new RangeTest(net, x, t, c);
  } catch (e) {
    putBack();
    throw asOurs(who, e);
  }
  try {
    r = run(test);
  } catch (e) {
    return done(e, false);
  }
  return finish(r, done);
}

/**
 * The learning-rate range test on rows `x` with targets `t`: `steps` optimizer steps (the Trainer's, on seeded
 * permutation batches of `batchSize` rows, or drawn by sampleWeights) at rates growing exponentially from startLr
 * to endLr, each step's loss recorded and smoothed as fastai does, and fastai's suggestions. The net, its layer
 * state, the optimizer given and the runtime's random stream are then as before the call, bit for bit, whether it
 * returns or throws. Bad options are refused (a TypeError/RangeError naming the option) before anything changes;
 * the data and sampleWeights are checked as the Trainer checks its training set and weights; a Trainer run in
 * progress on the runtime is refused (ConcurrentRunError). What it allocates is freed, but for the layers' buffers
 * a net makes on its first pass with a batch shape, which it keeps (as after any training). Blocks the thread:
 * lrFinderAsync yields to the event loop and takes an AbortSignal.
 */
export function lrFinder(net: Sequential, x: Tensor, t: Tensor | IntTensor, options: LRFinderOptions = {}): LRFinderResult {
  return runTest('lrFinder', net, x, t, options, KEYS, (test) => test.trainer.train(), (_r, done) => done(undefined, true)) as LRFinderResult;
}

/** lrFinder() run by the Trainer's fit(): yields to the event loop between steps; `signal` aborts it (everything put back). */
export async function lrFinderAsync(net: Sequential, x: Tensor, t: Tensor | IntTensor, options: LRFinderAsyncOptions = {}): Promise<LRFinderResult> {
  const { signal } = options;
  return runTest('lrFinderAsync', net, x, t, options, ASYNC_KEYS,
    (test) => test.trainer.fit(signal ? { signal } : {}),
    (p, done) => p.then(() => done(undefined, true), (e: unknown) => done(e, false)));
}
