// The book's Trainer: mini-batch training for a number of epochs (or
// iterations), recording loss and accuracy. One loop, written as a generator
// that pauses after every step and evaluation chunk, runs both the book's
// synchronous train() and the async fit() (which yields to the event loop
// between pauses), so the two give the same bits for the same seed.
// Batches are gathered by a kernel from a per-epoch seeded permutation (or
// drawn with replacement, the book's np.random.choice, or in proportion to
// sampleWeights: sampler.ts), so a training step allocates nothing.
import type { Targets } from '../layers/softmax-with-loss.js';
import { Buffers } from '../layers/buffers.js';
import { Sequential } from '../nets/sequential.js';
import { checkOptimizerName, createOptimizer, optimizerNames, type OptimizerName, type OptimizerOptionsMap } from '../optim/registry.js';
import type { NamedNet } from '../nets/registry.js';
import { loadModel, saveModel } from '../io/model.js';
import { ElementwiseOptimizer, type GuardedUpdate, type Optimizer, type OptimizerState } from '../optim/optimizer.js';
import { SWALR, type LRSchedule } from '../optim/schedules.js';
import { IntTensor, Tensor, badNumber, checkFloatTensor, checkTensor, describeValue, otherCopyHint, shown } from '../runtime/tensor.js';
import { checkFlag, checkOptions, isAbortSignal } from '../runtime/options.js';
import { ConcurrentRunError, NonFiniteError } from '../runtime/errors.js';
import { WorkerFault } from '../runtime/threads.js';
import { RandomAffine } from '../data/augment.js';
import { Dataset, drawIndices } from '../data/tensors.js';
import { checkTargets, classesOf } from './targets.js';
import { ownTargets, shownClassWeights } from '../layers/softmax-with-loss.js';
import { NetCopy, ParamAverage, StepGuard, SwaAverage } from './rollback.js';
import { BatchNormalization } from '../layers/batch-normalization.js';
import { Yielder, now } from '../runtime/yield.js';
import { SplitChoice, type ThreadUse } from './split-choice.js';
import { clipGradNorm, clipGradValue } from './clip.js';
import { GradientAccumulator, checkAccumulateSteps } from './accumulate.js';
import { Mixup, checkMixup, type MixupOptions } from './mixup.js';
import { WeightedSampler, balancedWeights, checkSampleWeights, type SampleWeights, type SampleWeightsRecord } from './sampler.js';

/** A function of the gathered batch: changes `x` in place, or returns a tensor of x's shape to train on instead. */
export type AugmentFn = (x: Tensor, t: Tensor | IntTensor) => Tensor | void;

/**
 * The epoch figure early stopping watches (an EpochRecord key, as Keras's `monitor` is a logs key): the validation
 * loss or accuracy, or the training ones ('trainLoss': the mean of the epoch's step losses, Keras's 'loss').
 */
export type EarlyStoppingMonitor = 'valLoss' | 'valAcc' | 'trainLoss' | 'trainAcc';

/**
 * TrainerOptions.earlyStopping: stop when the watched figure (the validation loss by default) has not improved for
 * `patience` epochs. The Trainer throws a RangeError/TypeError naming a bad field.
 */
export interface EarlyStoppingOptions {
  /** Epochs without an improvement of the watched figure before training stops. */
  patience: number;
  /**
   * What is watched (Keras's monitor, with its mode 'auto'): 'valLoss' (default) or 'valAcc', which need
   * validationSplit or validation, or 'trainLoss' or 'trainAcc'. A loss improves by falling, an accuracy by rising.
   */
  monitor?: EarlyStoppingMonitor;
  /**
   * An improvement is a change past the best by more than this, as Keras tests it: a loss improves when
   * `loss + minDelta < best`, an accuracy when `acc − minDelta > best`. Default 0.
   */
  minDelta?: number;
  /**
   * Put back the parameters (and layer state) of the best epoch when training ends, however it ends but by an
   * error or an abort (Keras's restore_best_weights, which restores in on_train_end). Default true, where Keras's
   * default is False: pass false for the last epoch's parameters, as a ported `EarlyStopping(patience=…)` keeps.
   */
  restoreBest?: boolean;
  /**
   * Keras's baseline: the count of epochs starts again only at a value that beats both the best and
   * this (by minDelta); once `patience` epochs have gone by without beating it, the first epoch that does not
   * improve on the best stops the run. Default none.
   */
  baseline?: number;
  /** Keras's start_from_epoch: the first N epochs (a warm-up) are not watched, nor kept as the best. Default 0. */
  startFromEpoch?: number;
}

/**
 * TrainerOptions.ema: an exponential moving average of the parameters, Keras 3's optimizer option `use_ema=True,
 * ema_momentum=decay` (with its default `ema_overwrite_frequency=None`). The Trainer throws a RangeError/TypeError
 * naming a bad field.
 */
export interface EmaOptions {
  /**
   * Keras's ema_momentum, in [0, 1] as Keras checks it (0.99 is Keras's default; here it must be given): after
   * each step `average = decay · average + (1 − decay) · parameter`, the run's first step copying the parameters.
   * 0 keeps the last step's parameters; 1 the first step's.
   */
  decay: number;
}

/**
 * TrainerOptions.swa: stochastic weight averaging (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and
 * Better Generalization") as PyTorch's torch.optim.swa_utils runs it: AveragedModel's equal-weight average, SWALR, and
 * update_bn at the end. The Trainer throws a RangeError/TypeError naming a bad field.
 */
export interface SwaOptions {
  /**
   * The first epoch (1-based, as EpochRecord.epoch) whose end is averaged: the average is updated at the end of this
   * epoch and of every later one. A positive integer. PyTorch's tutorial loop counts epochs from 0 and averages
   * `if epoch > swa_start`, from 1-based epoch swa_start + 2 on: its swa_start is start − 2.
   */
  start: number;
  /**
   * SWALR's swa_lr (> 0): from epoch start + 1 on, the rate anneals from the one epoch `start` ended with to this over
   * annealEpochs epochs, then stays there, overriding lrSchedule (which is neither asked nor shown a metric from then
   * on: PyTorch's loop steps swa_scheduler instead of scheduler once the averaging began). Default none: the rate
   * goes on as without swa.
   */
  lr?: number;
  /** SWALR's anneal_epochs, a non-negative integer (default 10); only with lr. */
  annealEpochs?: number;
  /** SWALR's anneal_strategy, 'cos' (default) or 'linear'; only with lr. */
  annealStrategy?: 'cos' | 'linear';
}

/** TrainerOptions.checkpoint: `every` must be a positive integer and `write` a function (else the Trainer throws). */
export interface CheckpointOptions {
  /** Write a checkpoint after every `every` epochs. */
  every: number;
  /**
   * Receives the checkpoint's bytes (see Trainer.checkpointBytes) and the epoch; should write
   * them atomically (e.g. to a temporary file, then rename). fit() awaits a returned Promise;
   * train() cannot, and refuses one with a TypeError (use fit(), or a synchronous write).
   */
  write(bytes: Uint8Array<ArrayBuffer>, epoch: number): void | Promise<void>;
}

/**
 * The Trainer's optimizer: an instance (the caller keeps owning it), or a name ('sgd', 'adam', …; createOptimizer's,
 * which takes other casings at run time) built with `optimizerParams`, which the Trainer owns and frees with dispose().
 * Default 'sgd'. `optimizerParams` are the named optimizer's options (OptimizerOptionsMap[name], e.g. `{ lr: 0.01 }`):
 * the compiler refuses another optimizer's key for a literal name; a name held in a variable of type OptimizerName
 * takes the keys every optimizer takes (`lr`). Default `{}`: the optimizer's own defaults (Adam's lr 0.001), where the
 * book's trainer.py passes `lr: 0.01` to every optimizer. At run time the Trainer refuses, with a TypeError, a key the
 * named optimizer does not take, and optimizerParams beside an optimizer instance.
 */
export type OptimizerChoice =
  | { optimizer?: undefined; optimizerParams?: OptimizerOptionsMap['sgd'] }
  | { optimizer: Optimizer; optimizerParams?: undefined }
  | { [N in OptimizerName]: { optimizer: N; optimizerParams?: OptimizerOptionsMap[N] } }[OptimizerName];

/** Options of the Trainer: TrainerBaseOptions and the optimizer (OptimizerChoice). */
export type TrainerOptions = TrainerBaseOptions & OptimizerChoice;

/**
 * Options of the Trainer, all optional; the constructor throws a TypeError on an unknown key
 * and a TypeError/RangeError naming any bad value, before it allocates. The optimizer and its
 * options are OptimizerChoice's (TrainerOptions holds both).
 */
export interface TrainerBaseOptions {
  /** Epochs to train (default 20); ignored when maxIterations is given. */
  epochs?: number;
  /**
   * Optimizer steps in all (the book's iters_num). Epochs are then runs of ⌊N / batch⌋
   * steps, and a last partial epoch is recorded like the others.
   */
  maxIterations?: number;
  /** Rows per step (default 100; capped at the training rows). */
  miniBatchSize?: number;
  /**
   * How batches are drawn: 'permutation' (default: a seeded shuffle per epoch, every
   * row once) or 'replacement' (the book's np.random.choice per batch, seeded; with
   * sampleWeights, in proportion to the weights).
   */
  sampling?: 'permutation' | 'replacement';
  /**
   * Draw each batch with replacement in proportion to a weight per training row (PyTorch's
   * `WeightedRandomSampler(weights, num_samples, replacement=True)`; an epoch is as many steps as without):
   * a plain array, Float32Array or Float64Array of the training rows' length (finite numbers ≥ 0, not all 0;
   * a row of weight 0 is never drawn), or 'balanced': each row weighs 1 / (the rows of its class: its label, or
   * the first maximum of its one-hot row), so every class is drawn about equally often. Draws come from the
   * runtime's seeded stream (a binary search of the weights' float64 cumulative sums), so a seeded run keeps its
   * bits on every host and thread count, and resumes. sampling is then 'replacement' ('permutation' is refused).
   * With validationSplit, only 'balanced' (computed on the training rows the split leaves): an array's rows
   * would not be the training rows. Default: none.
   */
  sampleWeights?: SampleWeights;
  /**
   * Sets the optimizer's `lr` before every epoch or step. Its base rate is the optimizer's lr when a run starts from
   * its first step, unless that lr is the one the schedule left there (a second run then repeats the schedule).
   * A ReduceLROnPlateau is shown each epoch's validation loss (no validation: the epoch's training loss), or with
   * mode 'max' its validation accuracy (else training accuracy). A schedule that cycles momentum (OneCycleLR) sets
   * the optimizer's `momentum` or `beta1` with the rate (one without either is refused here). A run longer than the
   * schedule's `periods` (OneCycleLR's totalSteps) is refused here (a RangeError; PyTorch raises part way through).
   */
  lrSchedule?: LRSchedule;
  /** Run on every gathered training batch before its step: a RandomAffine (its output is trained on) or any function. */
  augment?: RandomAffine | AugmentFn;
  /** Hold out this fraction of the training rows (seeded by the runtime's seed) for validation. */
  validationSplit?: number;
  /** An explicit validation set (instead of validationSplit). */
  validation?: { x: Tensor; t: Targets };
  /** Stop when the validation loss (or another monitor) stops improving. */
  earlyStopping?: EarlyStoppingOptions;
  /** Checkpoints every N epochs: model, optimizer, schedule, random stream and position. */
  checkpoint?: CheckpointOptions;
  /**
   * Evaluate loss and accuracy on only the first N rows of the training and the test set per epoch, as the
   * book's Trainer does (null: all); a validation set is always evaluated in full.
   */
  evaluateSampleNumPerEpoch?: number | null;
  /** Called after every step and at the end of every epoch. */
  onProgress?: (p: TrainerProgress) => void;
  /** Keras-style callbacks, for train() and fit() alike (fit() also accepts its own). */
  callbacks?: TrainerCallbacks;
  /**
   * With a thread pool, train()/fit() time their steps split across it and on the calling
   * thread alone now and then (a few steps each way once the pool is up, again after 256
   * steps, then at growing intervals up to 4,096, and at once when the kept way's steps slow past
   * the other's) and run them the faster way (Trainer.threadUse
   * says which): small steps can lose more to data crossing between cores than they gain. The
   * same bits either way. false: every call big enough splits, as in step() called directly.
   * Default true.
   */
  adaptiveThreads?: boolean;
  /**
   * Clip each step's gradients (weight decay's terms included) to this 2-norm, taken over all of them as one
   * vector, before the update: PyTorch's `clip_grad_norm_(net.parameters(), maxNorm)` between `backward()` and
   * `step()`, Keras's `global_clipnorm` (see clipGradNorm). Default: no clipping.
   */
  clipGradNorm?: number;
  /**
   * Clamp each step's gradient elements to [−v, v] before the update (PyTorch's `clip_grad_value_`, Keras's
   * `clipvalue`; see clipGradValue); with clipGradNorm too, the values are clamped first. Default: no clipping.
   */
  clipGradValue?: number;
  /**
   * Gradient accumulation: the optimizer updates once every k batches (an integer ≥ 1), with the mean of their
   * gradients (weight decay's terms included), Keras 3's `gradient_accumulation_steps` and PyTorch's `(loss / k).backward()`
   * over k batches before `clip_grad_norm_` and `optimizer.step()`: k batches of miniBatchSize train as one of
   * k·miniBatchSize would (up to rounding, and but for batch norm's statistics and dropout's masks, which stay per
   * batch), in the memory of one batch. Each batch runs forward and backward as without (its own draws); its gradients
   * are added to float32 sums (a batch whose gradients are NaN/Inf throws a NonFiniteError and leaves the sums as they
   * were); the k-th batch's update takes (sum + g)·fround(1/k) (Keras divides: the same bits for k a power of two, else
   * at most one rounding apart), clips it (clipGradValue, clipGradNorm), updates, and zeroes the sums. Batches are still
   * what `iter`, maxIterations, trainLossList, onStepEnd and onProgress count (StepEvent.optimizerStep says which
   * updated), an epoch is still ⌊rows / miniBatchSize⌋ of them, and a group goes on across an epoch's end, as Keras's
   * accumulators do (the epoch's figures are the parameters as last updated); the batches of a group the run ends
   * in do not update. An lrSchedule with interval 'step' advances once per update (its periods, OneCycleLR's
   * totalSteps, count updates: ⌊maxIter / k⌋), and ema averages once per update (PyTorch's loops call ema.update()
   * after optimizer.step(); Keras 3's _backend_apply_gradients moves its average on every batch, towards parameters that change only at
   * updates). Checkpoints keep the sums of a group in progress; resume() refuses another k.
   * step() called directly is refused for k > 1 (it is one update on one batch). Default 1: no accumulation.
   */
  accumulateSteps?: number;
  /**
   * Keep an exponential moving average of the parameters (net.params; not batch-norm's running statistics), updated
   * after every train()/fit() step that succeeds (a step that fails leaves it as it was; step() called directly does
   * not touch it: it belongs to a run, which starts it at its first step and ends with it) and written over the
   * parameters when the run ends: completed, stopped by a callback or by early stopping, but not when it throws or
   * fit() is aborted (the last good step's parameters then stay). Keras 3's `use_ema=True, ema_momentum=decay`:
   * its fit() calls optimizer.finalize_variable_values before callbacks.on_train_end, where EarlyStopping's
   * restore_best_weights puts back the best epoch's raw weights; so here earlyStopping.restoreBest (default true)
   * wins over the averages. The epoch records (accuracies, losses) are the raw parameters', as Keras's history is.
   * Checkpoints keep the averages (resume() restores them); emaParams() gives copies mid-run. Default: none.
   */
  ema?: EmaOptions;
  /**
   * mixup (Zhang et al. 2018) as timm's Mixup applies it per batch (mode 'batch', cutmix off): before each step a
   * λ ~ Beta(alpha, alpha) is drawn from the runtime's random stream and the batch becomes λ·x + (1 − λ)·x with its
   * rows reversed, its targets λ·onehot(t) + (1 − λ)·onehot(t reversed) (target rows given as tensors mix alike).
   * λ is drawn by drawBeta (src/train/mixup.ts: Marsaglia–Tsang gamma variates), so seeded runs keep their bits on
   * any host and thread count, and a failed step or a resumed run draws it again. An odd batch's middle row is its
   * own partner (timm asserts an even batch). Applied after `augment` (timm mixes after the other augmentations),
   * which sees the batch unmixed. The step's loss is the mixed batch's; the epoch's evaluation runs on the data unmixed. A net's label smoothing applies to the mixed rows, which is
   * timm's smoothing of each one-hot before mixing. step() called directly does not mix. Default: none.
   */
  mixup?: MixupOptions;
  /**
   * Stochastic weight averaging (see SwaOptions): the parameters (net.params; not batch-norm's running statistics) are
   * averaged with equal weights at the end of epoch `start` and of every later one, PyTorch's AveragedModel (the first
   * update copies); with `lr`, SWALR sets the rate from the next epoch on. When the run ends (completed, stopped by
   * a callback or early stopping; not when it throws or fit() is aborted) the average is written over the parameters
   * and, for a net with batch normalization, the running statistics are recomputed for it as PyTorch's update_bn:
   * reset (mean 0, variance 1), then one training-mode forward pass (dropout on, as update_bn's model.train()) over
   * the training rows in order, in batches of miniBatchSize (the last one partial), each batch weighing the same in a
   * cumulative average (update_bn's momentum None). A run that ends before epoch `start` keeps the last step's
   * parameters (TrainResult.swaModels 0); earlyStopping.restoreBest's best epoch wins as it does over ema (then the
   * average is not written). Not with ema (each writes its average over the parameters). The epoch records are the
   * raw parameters'. Checkpoints keep the average and its count (resume() restores them); swaParams() gives copies.
   * Default: none.
   */
  swa?: SwaOptions;
}

/** What TrainerOptions.onProgress gets after every step ('step') and every epoch ('epoch'): a fresh plain object. */
export interface TrainerProgress {
  /** Whether a step or an epoch just ended. */
  kind: 'step' | 'epoch';
  /** The epoch in progress or just ended (1-based). */
  epoch: number;
  /** Steps done so far, and in all. */
  iter: number;
  maxIter: number;
  /** Loss of the last step. */
  loss: number;
  /** Set at the end of an epoch. */
  record?: EpochRecord;
}

/** One epoch's figures, as TrainResult.epochs holds them (plain numbers). */
export interface EpochRecord {
  /** The epoch (1-based). */
  epoch: number;
  /** Mean of the epoch's step losses. */
  trainLoss: number;
  /** Accuracy on the training set after the epoch (on its first evaluateSampleNumPerEpoch rows when set; the test set likewise). */
  trainAcc: number;
  /**
   * Loss on the test set, after the epoch: net.evaluate's (with the net's classWeights and labels, Σ w[tᵢ]·lossᵢ / Σ w[tᵢ]
   * over the whole set, to the bit; without, the mean of its evalBatchSize chunks' means weighted by their rows).
   */
  testLoss: number;
  /** Accuracy on the test set, after the epoch. */
  testAcc: number;
  /** Set when there is a validation set: on all of its rows, whatever evaluateSampleNumPerEpoch says. */
  valLoss?: number;
  valAcc?: number;
  /** The learning rate of the epoch's last step. */
  lr?: number;
  /** Steps in this epoch (fewer in a last partial one). */
  steps: number;
  /** Wall-clock seconds of the epoch's steps (its evaluation not included). */
  seconds: number;
}

/** A step or an evaluation a worker thread failed, run again on the calling thread (Trainer.workerFaults). */
export interface WorkerFaultRecord {
  /** The step (1-based, as the run counts them) in progress, or the last one done for an evaluation. */
  step: number;
  /** Whether it was a step or an epoch's evaluation (swa's pass over the training rows at the run's end counts as one). */
  during: 'step' | 'evaluation';
  /** The WorkerFault's message: the kernel, the part and the worker's cause. */
  message: string;
}

/** Why a run ended. */
export type StopReason = 'completed' | 'callback' | 'earlyStopping';

/** What train() and fit() return: the run's record, plain data. */
export interface TrainResult {
  /** One record per epoch done. */
  epochs: EpochRecord[];
  /**
   * Loss of every step, taken BEFORE its update: the loss of the forward pass that
   * computed the step's gradients (the book's train_neuralnet recomputes it after
   * the update, which costs another forward pass).
   */
  trainLossList: number[];
  /** Training accuracy per epoch. */
  trainAccList: number[];
  /** Test accuracy per epoch. */
  testAccList: number[];
  /** Validation accuracy per epoch (empty without validation). */
  valAccList: number[];
  /** Steps done in all. */
  steps: number;
  /** Wall-clock seconds of the run. */
  seconds: number;
  /** Why the run ended. */
  stopReason: StopReason;
  /** Epoch whose parameters were restored by earlyStopping.restoreBest (absent otherwise). */
  bestEpoch?: number;
  /**
   * With TrainerOptions.swa: how many epochs' parameters were averaged into the parameters the run ended with; 0 when
   * none were (the run ended before swa.start, or earlyStopping.restoreBest put the best epoch's back: bestEpoch).
   * Absent without swa.
   */
  swaModels?: number;
}

/** What every callback gets; `stop()` ends training after the current step (the epoch is then recorded). */
export interface TrainerEvent {
  trainer: Trainer;
  /** Current epoch (1-based; 0 before the first). */
  epoch: number;
  /** Steps done so far, and in all. */
  iter: number;
  maxIter: number;
  /**
   * Asks the Trainer to stop: no further step runs; an epoch in progress is still evaluated and recorded;
   * the run ends with stopReason 'callback' (unless early stopping ended it then). No effect from onTrainEnd.
   */
  stop(): void;
}

export interface StepEvent extends TrainerEvent {
  /** The step's loss (before its update). */
  loss: number;
  /** Index of the step within its epoch (0-based). */
  batch: number;
  /**
   * The optimizer's learning rate at the step (a schedule's for that step: the rate its update used), or null for an
   * optimizer without an `lr`. With accumulateSteps, a batch that only adds to its group reports the rate of that
   * moment; the group's update may use another when a per-epoch schedule (or swa.lr) changes the rate within the group.
   */
  lr: number | null;
  /**
   * With clipGradNorm: the 2-norm of the step's gradients before clipping (what PyTorch's clip_grad_norm_ returns,
   * to watch for exploding gradients). Absent without clipGradNorm, which is what computes it; with accumulateSteps,
   * the norm of the mean gradient, on the steps that updated (absent on the others).
   */
  gradNorm?: number;
  /**
   * Whether this step updated the parameters: always, but with accumulateSteps k > 1, where the k-th batch of each
   * group updates and the others add their gradients to the group's sums (Keras's is_update_step).
   */
  optimizerStep: boolean;
}

/** What onEpochEnd gets: the event and the epoch's record. */
export interface EpochEndEvent extends TrainerEvent {
  /** The record just added to the result. */
  record: EpochRecord;
}
/** What onTrainEnd gets: the event and the run's result (what train()/fit() return). */
export interface TrainEndEvent extends TrainerEvent {
  /** The finished run's record. */
  result: TrainResult;
}

/**
 * Keras-like callbacks. fit() awaits a returned Promise; train() cannot, and refuses one with a TypeError. Any may call `stop()`.
 * A hook that throws (or whose promise rejects) ends train()/fit() with its error where the run was: an epoch
 * already evaluated stays recorded (the schedule and early stopping have seen it; its checkpoint is not written).
 * The next train()/fit() goes on from there and ends with the bits of the run the error interrupted, as after a
 * step that threw; a run that ended (finished, stopped, or fit() aborted) is started afresh instead.
 */
export interface TrainerCallbacks {
  /** Before the first epoch (`epoch` 0 on a fresh run). */
  onTrainBegin?(e: TrainerEvent): void | Promise<void>;
  /**
   * Before an epoch's first step (or, resumed within an epoch, its next one); `epoch` is the one starting. Its
   * epoch-wise lr is already set; its permutation is drawn after this returns, so a state taken here is an epoch boundary's.
   */
  onEpochBegin?(e: TrainerEvent): void | Promise<void>;
  /** After every optimizer step, with its loss. */
  onStepEnd?(e: StepEvent): void | Promise<void>;
  /** After an epoch is evaluated and recorded (before its checkpoint). */
  onEpochEnd?(e: EpochEndEvent): void | Promise<void>;
  /** Once the run has ended, with its result (after the ema's or swa's average was written over the parameters, then earlyStopping.restoreBest). */
  onTrainEnd?(e: TrainEndEvent): void | Promise<void>;
}

/** Options of Trainer.fit(). */
export interface FitOptions {
  /** Aborting rejects fit() with the signal's reason before the next step; the parameters are those of the last completed step. */
  signal?: AbortSignal;
  /** Called beside the Trainer's own callbacks option. */
  callbacks?: TrainerCallbacks;
}

/** Everything needed to continue a run bit-identically: plain JSON (see Trainer.trainerState). */
export interface TrainerState {
  format: 'simdnn.trainer/1';
  /** Epochs and steps done. */
  epoch: number;
  iter: number;
  /**
   * Steps done of an epoch in progress (a state taken mid-epoch: in onStepEnd, or after fit() was aborted or a
   * step threw), and where in the random stream that epoch drew its permutation; a resumed run finishes the epoch.
   * 0 (or absent, in states written before they were recorded) between epochs.
   */
  epochStep?: number;
  epochCounter?: number;
  random: { seed: number; counter: number };
  baseLr: number | null;
  schedule: Record<string, number> | null;
  /**
   * Early stopping's best value so far (null: none yet), its count of epochs and the best epoch; `monitor` what it
   * watches (absent in states written before it was recorded: 'valLoss'), which resume() refuses to change.
   */
  earlyStopping: { best: number | null; wait: number; bestEpoch: number; monitor?: EarlyStoppingMonitor } | null;
  result: TrainResult;
  optimizer: OptimizerState | null;
  /** Parameters and layer state (batch-norm running statistics), as exportParams gives them. */
  params: Record<string, { shape: number[]; data: number[] }>;
  /** The best epoch's parameters kept for earlyStopping.restoreBest. */
  best: Record<string, { shape: number[]; data: number[] }> | null;
  /**
   * TrainerOptions.ema's averages of the parameters (null: no ema, or no step done yet; absent in states written
   * before they were recorded).
   */
  ema?: Record<string, { shape: number[]; data: number[] }> | null;
  /** The seed that chose validationSplit's rows (null without one; absent in states written before it was recorded). */
  splitSeed?: number | null;
  /**
   * Rows per step, training rows and how batches are drawn, which the position's steps count in: resume()
   * refuses a Trainer that differs (absent in states written before they were recorded).
   */
  batchSize?: number;
  trainingRows?: number;
  sampling?: 'permutation' | 'replacement';
  /**
   * TrainerOptions.sampleWeights' kind and a digest of the weights the batches were drawn with (null: none),
   * which resume() refuses to change (absent in states written before it was recorded).
   */
  sampleWeights?: SampleWeightsRecord | null;
  /**
   * TrainerOptions.ema's decay and mixup's alpha (null: the option was not given), which resume() refuses to change
   * past the first step (absent in states written before they were recorded).
   */
  emaDecay?: number | null;
  mixupAlpha?: number | null;
  /**
   * TrainerOptions.swa as the run had it (lr null: none; annealEpochs and annealStrategy with their defaults) and the
   * epochs averaged so far (null without swa; absent in states written before it was recorded).
   */
  swa?: { start: number; lr: number | null; annealEpochs: number; annealStrategy: 'cos' | 'linear'; models: number } | null;
  /** swa's average of the parameters (null: no swa, or no epoch averaged yet). */
  swaAverage?: Record<string, { shape: number[]; data: number[] }> | null;
  /**
   * TrainerOptions.accumulateSteps as the run had it, and the batches of the group in progress (its gradients summed,
   * no update yet: iter mod accumulateSteps), which resume() refuses to change (absent in states written before they
   * were recorded: 1 and 0).
   */
  accumulateSteps?: number;
  accumulated?: number;
  /**
   * The group in progress' sums of gradients, keyed like net.params (null when `accumulated` is 0). A checkpoint
   * model file holds them as `accum.<name>` tensors (a float each, where JSON took ~21 bytes: a net of a few million
   * parameters passed the header's limit).
   */
  accum?: Record<string, { shape: number[]; data: number[] }> | null;
}

/** TrainerState without its tensors: what a checkpoint model file keeps as JSON in its metadata. */
export type TrainerPosition = Omit<TrainerState, 'optimizer' | 'params' | 'best' | 'ema' | 'swaAverage' | 'accum'>;

/** The metadata key of a checkpoint's position (a model file's caller metadata). */
const TRAINER_KEY = 'trainer';

const KEYS = new Set([
  'epochs', 'maxIterations', 'miniBatchSize', 'sampling', 'optimizer', 'optimizerParams', 'lrSchedule', 'augment',
  'validationSplit', 'validation', 'earlyStopping', 'checkpoint', 'evaluateSampleNumPerEpoch', 'onProgress', 'callbacks', 'adaptiveThreads',
  'clipGradNorm', 'clipGradValue', 'ema', 'mixup', 'swa', 'sampleWeights', 'accumulateSteps',
]);
const EMA_KEYS = new Set(['decay']);
const SWA_KEYS = new Set(['start', 'lr', 'annealEpochs', 'annealStrategy']);
const EARLY_STOPPING_KEYS = new Set(['patience', 'monitor', 'minDelta', 'restoreBest', 'baseline', 'startFromEpoch']);
const MONITORS: readonly EarlyStoppingMonitor[] = ['valLoss', 'valAcc', 'trainLoss', 'trainAcc'];
const CHECKPOINT_KEYS = new Set(['every', 'write']);
const VALIDATION_KEYS = new Set(['x', 't']);
const FIT_KEYS = new Set(['signal', 'callbacks']);

/** A state's early-stopping record, refused before resume() writes: one of another monitor would compare other figures. */
function checkEarlyStoppingState(es: NonNullable<TrainerState['earlyStopping']>, epoch: number, monitor: EarlyStoppingMonitor): void {
  const { best, wait, bestEpoch } = es, watched = es.monitor ?? 'valLoss';
  if (watched !== monitor) throw new RangeError(`Trainer.resume: the state's early stopping watched ${MONITORS.includes(watched) ? watched : shown(watched)}, this Trainer's watches ${monitor}`);
  if (!((best === null || typeof best === 'number') && Number.isSafeInteger(wait) && wait >= 0 && Number.isSafeInteger(bestEpoch) && bestEpoch >= 0 && bestEpoch <= epoch)) {
    throw new TypeError(`Trainer.resume: earlyStopping must be { best: a number or null, wait: a count, bestEpoch: an epoch done (0 to ${epoch}) }, got { best: ${shown(best)}, wait: ${shown(wait)}, bestEpoch: ${shown(bestEpoch)} }`);
  }
}

/**
 * A state's sampleWeights record, refused before resume() writes when the weights differ from this Trainer's (their
 * digests: other weights draw other rows from the same stream); a state written before it was recorded passes.
 */
function checkSampleWeightsState(theirs: unknown, ours: SampleWeightsRecord | null): void {
  if (theirs === undefined) return;
  const record = theirs !== null && typeof theirs === 'object' ? theirs as { kind?: unknown; digest?: unknown } : null;
  const digest = theirs === null ? null : record !== null ? record.digest : theirs;
  if (digest === (ours?.digest ?? null)) return;
  const describe = (kind: unknown, d: unknown) => (d === null ? 'none'
    : `${kind === 'balanced' ? "'balanced'" : 'given weights'} (digest ${typeof d === 'string' ? d.slice(0, 16) : shown(d)})`);
  throw new RangeError(`Trainer.resume: the state's run drew its batches with sampleWeights ${describe(record?.kind, digest)}, this Trainer with ${describe(ours?.kind, ours?.digest ?? null)}: a resumed run must draw as the interrupted one did`);
}

/** Refuses a swa option that is not SwaOptions, naming the field, and swa beside ema. */
function checkSwa(swa: SwaOptions, withEma: boolean): void {
  if (swa === null || typeof swa !== 'object') throw new TypeError(`Trainer: swa must be { start, lr?, annealEpochs?, annealStrategy? }, got ${describeValue(swa)}`);
  checkOptions('Trainer: swa', swa, SWA_KEYS);
  const { start, lr, annealEpochs, annealStrategy } = swa;
  if (!(Number.isSafeInteger(start) && start >= 1)) throw badNumber(start, `Trainer: swa.start must be a positive integer (the first epoch averaged, 1-based), got ${shown(start)}`);
  if (lr !== undefined && !(typeof lr === 'number' && Number.isFinite(lr) && lr > 0)) throw badNumber(lr, `Trainer: swa.lr must be a positive finite number (SWALR's swa_lr), got ${shown(lr)}`);
  for (const [key, v] of [['annealEpochs', annealEpochs], ['annealStrategy', annealStrategy]] as const) {
    if (v !== undefined && lr === undefined) throw new TypeError(`Trainer: swa.${key} shapes SWALR's annealing to swa.lr: give swa.lr too`);
  }
  if (annealEpochs !== undefined && !(Number.isSafeInteger(annealEpochs) && annealEpochs >= 0)) {
    throw badNumber(annealEpochs, `Trainer: swa.annealEpochs must be a non-negative integer (SWALR's anneal_epochs), got ${shown(annealEpochs)}`);
  }
  if (annealStrategy !== undefined && annealStrategy !== 'cos' && annealStrategy !== 'linear') {
    const message = `Trainer: swa.annealStrategy must be 'cos' or 'linear', got ${shown(annealStrategy)}`;
    throw typeof annealStrategy === 'string' ? new RangeError(message) : new TypeError(message);
  }
  if (withEma) throw new TypeError('Trainer: give ema or swa, not both: each writes its average over the parameters when the run ends');
}

/**
 * @internal A checkpoint model file's average of the parameters (its `swa.<name>` or `ema.<name>` tensors, never both:
 * loadModel refuses such a file) as the TrainerState fields: `swa.<name>` are swa's average. A checkpoint written before
 * swa had tensors of its own kept swa's as `ema.<name>`: those are swa's where the position records epochs swa averaged
 * (ema and swa are never both on), else ema's.
 */
export function checkpointAverages<T>(position: { swa?: unknown }, averages: { ema?: T | null; swa?: T | null }): { ema: T | null; swaAverage: T | null } {
  const ema = averages.ema ?? null, swaAverage = averages.swa ?? null;
  if (swaAverage !== null) return { ema: null, swaAverage };
  return recordsSwaEpochs(position) ? { ema: null, swaAverage: ema } : { ema, swaAverage: null };
}

/** Whether a checkpoint's position records epochs swa averaged: its `ema.<name>` tensors, if any, are then swa's (checkpointAverages). */
export function recordsSwaEpochs(position: { swa?: unknown }): boolean {
  const swa = position.swa as { models?: unknown } | null | undefined;
  return swa !== null && typeof swa === 'object' && typeof swa.models === 'number' && swa.models > 0;
}

/** An option's value as a state records it, for a message (null: 'none'; a string quoted). */
function optionValue(v: unknown): string {
  return v === null ? 'none' : typeof v === 'string' ? `'${v.slice(0, 40)}'` : shown(v);
}

/** A state's swa record for a message: its options. */
function describeSwa(swa: { start?: unknown; lr?: unknown; annealEpochs?: unknown; annealStrategy?: unknown }): string {
  return `{ start: ${optionValue(swa.start)}, lr: ${optionValue(swa.lr)}, annealEpochs: ${optionValue(swa.annealEpochs)}, annealStrategy: ${optionValue(swa.annealStrategy)} }`;
}

/** The lists of a run's record (TrainResult), which a resumed run goes on appending to. */
const RESULT_LISTS = ['epochs', 'trainLossList', 'trainAccList', 'testAccList', 'valAccList'] as const;
/** A schedule's optional methods, which the loop calls when present. */
const SCHEDULE_METHODS = ['observe', 'state', 'loadState', 'reset', 'momentumAt'] as const;

/** The optimizer option a schedule's momentumAt sets: beta1 (Adam, AdamW: PyTorch's betas[0]) or momentum (Momentum, Nesterov). */
type MomentumOption = 'beta1' | 'momentum';

/** Which MomentumOption `opt` has (beta1 first, as PyTorch's OneCycleLR prefers betas), or null. */
function momentumOptionOf(opt: Optimizer): MomentumOption | null {
  const o = opt as { beta1?: unknown; momentum?: unknown };
  return typeof o.beta1 === 'number' ? 'beta1' : typeof o.momentum === 'number' ? 'momentum' : null;
}

/** What the loop hands its driver: a step or chunk is done (null), or the promise a hook or checkpoint.write returned, to await. */
type Pause = { promise: PromiseLike<unknown>; from: string } | null;

/** The package's net classes, by name: a net of another copy of the package is named as such. */
const NET_CLASSES = ['Sequential', 'MultiLayerNet', 'MultiLayerNetExtend', 'SimpleConvNet', 'DeepConvNet'];

/**
 * The book's Trainer (common/trainer.py) with a synchronous `train()` and an async `fit()`
 * running the same loop: mini-batches of the training set, an optimizer step each, and per
 * epoch the loss and accuracy on the training, test and (optional) validation sets.
 */
export class Trainer {
  /** The optimizer stepping the network: the one given (the caller's), or one built from its name (the Trainer's: dispose() frees it). */
  readonly optimizer: Optimizer;
  private readonly ownsOptimizer: boolean;
  /** Epochs asked for (maxIterations, when given, decides the length instead). */
  readonly epochs: number;
  /** Rows per step (miniBatchSize, at most the training rows). */
  readonly batchSize: number;
  /** Steps in an epoch: ⌊training rows / batchSize⌋, at least 1. */
  readonly iterPerEpoch: number;
  /** Steps in the whole run. */
  readonly maxIter: number;
  readonly sampling: 'permutation' | 'replacement';
  /** The network's number of classes (the net's output width), which targets are checked against. */
  readonly classes: number;
  private readonly data: Dataset;
  private readonly validation: Dataset | null;
  /** TrainerOptions.validation's labels given as an array, copied into a tensor the Trainer owns (its Dataset borrows x). */
  private validationLabels: IntTensor | null = null;
  private readonly buffers: Buffers;
  private readonly order: IntTensor;
  private readonly guard: StepGuard;
  /** @internal how the loop's steps use the thread pool (null: adaptiveThreads false) */
  splitChoice: SplitChoice | null;
  private readonly best: NetCopy | null;
  /** TrainerOptions.ema's averages (null without the option). */
  private readonly ema: ParamAverage | null = null;
  /** TrainerOptions.swa's average (null without the option). */
  private readonly swa: SwaAverage | null = null;
  /** TrainerOptions.swa.lr's schedule (null without it). */
  private readonly swaSchedule: SWALR | null = null;
  private readonly evalN: number | null;
  private readonly options: TrainerOptions;
  private readonly epochCount: number;
  // position: epochs and steps done, the run's record so far
  private epoch = 0;
  private iter = 0;
  /** Steps done of the epoch in progress (0 between epochs): a run stopped mid-epoch (an abort, a failed step) finishes it. */
  private epochStep = 0;
  /** Where in the random stream the epoch in progress drew its permutation, to draw it again when it goes on. */
  private epochCounter = 0;
  private baseLr: number | null = null;
  /** The rate the schedule last gave the optimizer: an lr found there at a new run's start is the schedule's, not the user's. */
  private scheduledLr: number | null = null;
  /** The optimizer option the schedule's momentumAt sets (null: the schedule cycles no momentum). */
  private readonly momentumOption: MomentumOption | null = null;
  private result: TrainResult = emptyResult();
  private stopRequested = false;
  private finished = false;
  /** A run in progress (train() or fit()): a second one would interleave with it. */
  private running = false;
  private isDisposed = false;
  /** Early stopping's best value of its monitor so far (±Infinity: none yet). */
  private bestValue = Infinity;
  private bestEpoch = 0;
  /** The seed validationSplit's rows were chosen with (null without a split). */
  private splitSeed: number | null = null;
  private wait = 0;
  private readonly faults: WorkerFaultRecord[] = [];
  /** TrainerOptions.mixup's draws and buffers (null without the option). */
  private readonly mixup: Mixup | null = null;
  /** TrainerOptions.sampleWeights' table (null without the option). */
  private readonly sampler: WeightedSampler | null = null;
  /** The last step's gradient norm before clipping (with clipGradNorm), for its StepEvent. */
  private gradNorm = NaN;
  /** TrainerOptions.accumulateSteps (1: none). */
  private readonly accumulation: number;
  /** The sums of a group's gradients (null for accumulateSteps 1). */
  private readonly accumulator: GradientAccumulator | null = null;

  /**
   * Checks every option and the data (tensors alive and on the net's runtime, targets as
   * checkTargets says: int labels [N] in [0, classes) or one-hot rows [N, classes]) before
   * allocating. xTrain/tTrain and xTest/tTest stay the caller's; dispose() frees what the
   * Trainer made (batch buffers, a validationSplit's copies, snapshots). A run longer than its lrSchedule defines
   * (its `periods`, known once the training rows are) is a RangeError, and memory running out an OutOfMemoryError,
   * with what the constructor had made freed. So is a set whose labels all weigh 0 under the net's classWeights (the
   * training rows, the test rows evaluated, the validation rows): its loss would be 0/0 (a RangeError naming it).
   */
  constructor(
    readonly network: Sequential,
    readonly xTrain: Tensor,
    readonly tTrain: Tensor | IntTensor,
    readonly xTest: Tensor,
    readonly tTest: Targets,
    options: TrainerOptions = {},
  ) {
    checkOptions('Trainer', options, KEYS);
    const {
      epochs = 20, maxIterations, miniBatchSize = 100, optimizer = 'sgd', optimizerParams = {}, evaluateSampleNumPerEpoch = null,
      sampling = 'permutation', lrSchedule, augment, validationSplit, earlyStopping, checkpoint, adaptiveThreads = true,
      clipGradNorm: clipGradNormTo, clipGradValue: clipGradValueTo, ema, mixup, swa, sampleWeights, accumulateSteps = 1,
    } = options;
    if (!(network instanceof Sequential)) {
      throw new TypeError(`Trainer: network must be a net (MultiLayerNet, a Sequential, …), got ${describeValue(network)}${otherCopyHint(network, NET_CLASSES)}`);
    }
    const rt = network.rt;
    if (network.disposed) throw new Error('Trainer: network used after dispose()');
    // labels given as a tensor's data are copied before anything here allocates (the class count's probe, the
    // split, the buffers): the memory growing would empty them (they are read at every evaluation)
    this.tTest = ownTargets(rt, tTest);
    const given = options.validation;
    const validation = given !== null && typeof given === 'object' ? { x: given.x, t: ownTargets(rt, given.t) } : given;
    checkInput(network, xTrain, 'xTrain');
    checkInput(network, xTest, 'xTest');
    checkTensor(rt, tTrain, 'Trainer: tTrain');
    const N = xTrain.shape[0];
    if (!(Number.isInteger(epochs) && epochs >= 0)) throw badNumber(epochs, `Trainer: epochs must be a non-negative integer, got ${shown(epochs)}`);
    if (maxIterations !== undefined && !(Number.isInteger(maxIterations) && maxIterations >= 0)) throw badNumber(maxIterations, `Trainer: maxIterations must be a non-negative integer, got ${shown(maxIterations)}`);
    if (!(Number.isInteger(miniBatchSize) && miniBatchSize > 0)) throw badNumber(miniBatchSize, `Trainer: miniBatchSize must be a positive integer, got ${shown(miniBatchSize)}`);
    if (sampling !== 'permutation' && sampling !== 'replacement') throw new RangeError(`Trainer: sampling must be 'permutation' or 'replacement', got ${shown(sampling)}`);
    if (N === 0) throw new RangeError('Trainer: xTrain is empty');
    const rowWeights = sampleWeights === undefined ? null : checkSampleWeights(sampleWeights, N);
    if (rowWeights !== null && options.sampling === 'permutation') {
      throw new TypeError("Trainer: sampleWeights draws batches with replacement, and sampling is 'permutation': leave sampling out (or 'replacement')");
    }
    if (rowWeights instanceof Float64Array && validationSplit !== undefined) {
      throw new TypeError("Trainer: sampleWeights as an array weighs xTrain's rows, and validationSplit holds some of them out: give sampleWeights 'balanced' (computed on the training rows the split leaves), or the validation set as validation");
    }
    if (xTest.shape[0] === 0) throw new RangeError('Trainer: xTest is empty (accuracy on 0 rows is undefined)');
    this.classes = classesOf(network, xTrain);
    checkTargets(rt, 'tTrain', tTrain, N, this.classes);
    checkTargets(rt, 'tTest', this.tTest, xTest.shape[0], this.classes);
    if (evaluateSampleNumPerEpoch !== null && !(Number.isInteger(evaluateSampleNumPerEpoch) && evaluateSampleNumPerEpoch > 0)) {
      throw badNumber(evaluateSampleNumPerEpoch, `Trainer: evaluateSampleNumPerEpoch must be a positive integer or null, got ${shown(evaluateSampleNumPerEpoch)}`);
    }
    if (lrSchedule !== undefined && !(typeof lrSchedule === 'object' && lrSchedule !== null && typeof lrSchedule.lrAt === 'function' && (lrSchedule.interval === 'epoch' || lrSchedule.interval === 'step'))) {
      throw new TypeError('Trainer: lrSchedule must be a schedule (StepLR, CosineAnnealingLR, … from createSchedule)');
    }
    for (const method of SCHEDULE_METHODS) {
      const f = lrSchedule?.[method];
      if (f !== undefined && typeof f !== 'function') throw new TypeError(`Trainer: lrSchedule.${method} must be a function, got ${describeValue(f)}`);
    }
    const periods = lrSchedule?.periods;
    if (periods !== undefined && !(Number.isSafeInteger(periods) && periods >= 0)) throw badNumber(periods, `Trainer: lrSchedule.periods must be a non-negative integer or undefined, got ${shown(periods)}`);
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
      throw new TypeError(`Trainer: onProgress must be a function of the progress, got ${describeValue(options.onProgress)}`);
    }
    if (augment !== undefined && !(augment instanceof RandomAffine || typeof augment === 'function')) throw new TypeError('Trainer: augment must be a RandomAffine or a function of the batch');
    if (validationSplit !== undefined && validation !== undefined) throw new TypeError('Trainer: give validationSplit or validation, not both');
    if (validationSplit !== undefined && !(typeof validationSplit === 'number' && validationSplit > 0 && validationSplit < 1)) {
      throw badNumber(validationSplit, `Trainer: validationSplit must be a number in (0, 1), got ${shown(validationSplit)}`);
    }
    if (validation !== undefined) {
      if (validation === null || typeof validation !== 'object') throw new TypeError('Trainer: validation must be { x, t }');
      checkOptions('Trainer: validation', given as object, VALIDATION_KEYS);
      checkInput(network, validation.x, 'validation.x');
      checkTargets(rt, 'validation.t', validation.t, validation.x.shape[0], this.classes);
    }
    if (earlyStopping !== undefined) {
      checkOptions('Trainer: earlyStopping', earlyStopping, EARLY_STOPPING_KEYS);
      const { patience, monitor = 'valLoss', minDelta = 0, restoreBest = true, baseline, startFromEpoch = 0 } = earlyStopping;
      if (!MONITORS.includes(monitor)) throw new RangeError(`Trainer: earlyStopping.monitor must be one of ${MONITORS.join(', ')}, got ${shown(monitor)}`);
      if (monitor.startsWith('val') && validationSplit === undefined && validation === undefined) {
        throw new TypeError(`Trainer: earlyStopping watches ${monitor}: give validationSplit or validation (or monitor 'trainLoss' or 'trainAcc')`);
      }
      if (!(Number.isInteger(patience) && patience >= 0)) throw new RangeError(`Trainer: earlyStopping.patience must be a non-negative integer, got ${patience}`);
      if (!(Number.isFinite(minDelta) && minDelta >= 0)) throw new RangeError(`Trainer: earlyStopping.minDelta must be a number >= 0, got ${minDelta}`);
      if (baseline !== undefined && !Number.isFinite(baseline)) throw new RangeError(`Trainer: earlyStopping.baseline must be a finite number, got ${shown(baseline)}`);
      if (!(Number.isSafeInteger(startFromEpoch) && startFromEpoch >= 0)) throw new RangeError(`Trainer: earlyStopping.startFromEpoch must be a non-negative integer, got ${shown(startFromEpoch)}`);
      checkFlag('Trainer', 'earlyStopping.restoreBest', restoreBest);
    }
    if (checkpoint !== undefined) {
      if (checkpoint === null || typeof checkpoint.write !== 'function') throw new TypeError('Trainer: checkpoint must be { every, write(bytes, epoch) }');
      checkOptions('Trainer: checkpoint', checkpoint, CHECKPOINT_KEYS);
      if (!(Number.isInteger(checkpoint.every) && checkpoint.every > 0)) throw new RangeError(`Trainer: checkpoint.every must be a positive integer, got ${checkpoint.every}`);
    }
    checkFlag('Trainer', 'adaptiveThreads', adaptiveThreads);
    for (const [name, v] of [['clipGradNorm', clipGradNormTo], ['clipGradValue', clipGradValueTo]] as const) {
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw badNumber(v, `Trainer: ${name} must be a positive finite number, got ${shown(v)}`);
    }
    checkAccumulateSteps(accumulateSteps);
    this.accumulation = accumulateSteps;
    if (ema !== undefined) {
      if (ema === null || typeof ema !== 'object') throw new TypeError(`Trainer: ema must be { decay }, got ${describeValue(ema)}`);
      checkOptions('Trainer: ema', ema, EMA_KEYS);
      // Keras's check of ema_momentum (base_optimizer.py): [0, 1]
      if (!(typeof ema.decay === 'number' && ema.decay >= 0 && ema.decay <= 1)) throw badNumber(ema.decay, `Trainer: ema.decay must be a number in [0, 1] (Keras's ema_momentum, e.g. 0.99), got ${shown(ema.decay)}`);
    }
    if (mixup !== undefined) checkMixup(mixup);
    if (swa !== undefined) checkSwa(swa, ema !== undefined);
    if (options.callbacks !== undefined) checkCallbacks('Trainer: callbacks', options.callbacks);
    if (typeof optimizer !== 'string' && options.optimizerParams !== undefined) {
      throw new TypeError('Trainer: optimizerParams configures an optimizer given by name; set them on the optimizer instance given');
    }
    if (typeof optimizer !== 'string' && !(optimizer !== null && typeof optimizer === 'object' && typeof (optimizer as Optimizer).update === 'function')) {
      throw new TypeError(`Trainer: options.optimizer must be an optimizer (with update(params, grads)) or a name (${optimizerNames.join(', ')}), got ${describeValue(optimizer)}`);
    }
    if (typeof optimizer === 'string') checkOptimizerName('Trainer: optimizer', optimizer);
    this.optimizer = typeof optimizer === 'string' ? createOptimizer(optimizer, optimizerParams) : optimizer;
    this.ownsOptimizer = typeof optimizer === 'string';
    if (lrSchedule && typeof (this.optimizer as { lr?: unknown }).lr !== 'number') throw new TypeError(`Trainer: lrSchedule needs an optimizer with an lr; ${this.optimizer.name} has none`);
    if (swa?.lr !== undefined) {
      if (typeof (this.optimizer as { lr?: unknown }).lr !== 'number') throw new TypeError(`Trainer: swa.lr needs an optimizer with an lr; ${this.optimizer.name} has none`);
      this.swaSchedule = new SWALR({ swaLr: swa.lr, annealEpochs: swa.annealEpochs, annealStrategy: swa.annealStrategy });
    }
    if (lrSchedule?.momentumAt) {
      // PyTorch's OneCycleLR raises too for an optimizer without momentum or betas
      this.momentumOption = momentumOptionOf(this.optimizer);
      if (this.momentumOption === null) {
        throw new TypeError(`Trainer: lrSchedule ${lrSchedule.name} cycles momentum, and ${this.optimizer.name} has neither momentum nor beta1: pass cycleMomentum: false to the schedule, or use Momentum, Nesterov, Adam or AdamW`);
      }
    }
    this.options = options;
    this.bestValue = this.noBest;
    this.sampling = rowWeights !== null ? 'replacement' : sampling;

    // from here on the Trainer allocates: a failure part way (memory running out, a run longer than its
    // schedule defines) frees what it made, as dispose() would
    try {
      const full = new Dataset(xTrain, tTrain);
      if (validationSplit !== undefined) {
        this.splitSeed = rt.randomState.seed;
        const parts = full.split(validationSplit, this.splitSeed);
        full.dispose(); // it borrowed xTrain and tTrain; the parts own their copies
        this.data = parts.train;
        this.validation = parts.validation;
      } else {
        this.data = full;
        this.validation = null;
        if (validation) {
          const vt = validation.t instanceof Tensor || validation.t instanceof IntTensor ? validation.t : (this.validationLabels = rt.labels([validation.x.shape[0]], validation.t));
          // borrowed: a Dataset that owns its t owns its x too, and x stays the caller's
          this.validation = new Dataset(validation.x, vt);
        }
      }
      // a set whose labels all weigh 0 under the net's classWeights has no loss (0/0): a configuration error, refused
      // now rather than by the first step (the training rows) or at the first epoch's end (the evaluated rows)
      checkWeightedSet(network, this.data.t, this.data.length, this.splitSeed !== null ? 'the training rows (validationSplit\'s)' : 'tTrain');
      const evaluated = evaluateSampleNumPerEpoch === null ? xTest.shape[0] : Math.min(evaluateSampleNumPerEpoch, xTest.shape[0]);
      checkWeightedSet(network, this.tTest, evaluated, evaluated < xTest.shape[0] ? `tTest's first ${evaluated} rows (evaluateSampleNumPerEpoch)` : 'tTest');
      if (this.validation) checkWeightedSet(network, this.validation.t, this.validation.length, this.validationName);
      const n = this.data.length;
      this.epochs = epochs;
      this.batchSize = Math.min(miniBatchSize, n);
      this.iterPerEpoch = Math.max(Math.floor(n / this.batchSize), 1);
      this.maxIter = maxIterations ?? epochs * this.iterPerEpoch;
      this.epochCount = Math.ceil(this.maxIter / this.iterPerEpoch);
      this.checkSchedulePeriods();
      this.evalN = evaluateSampleNumPerEpoch;
      this.buffers = new Buffers(rt);
      this.order = rt.labels([n]);
      this.guard = new StepGuard(network, this.optimizer);
      this.splitChoice = adaptiveThreads ? new SplitChoice(rt) : null;
      this.best = earlyStopping && earlyStopping.restoreBest !== false ? new NetCopy(network) : null;
      // its block made now, once: no step allocates
      if (ema) this.ema = new ParamAverage(network, ema.decay);
      if (swa) this.swa = new SwaAverage(network);
      if (accumulateSteps > 1) this.accumulator = new GradientAccumulator(network, accumulateSteps);
      if (mixup) this.mixup = new Mixup(mixup.alpha, this.buffers, this.classes);
      // in JS memory: the training rows' labels (after a split) read once
      if (rowWeights === 'balanced') this.sampler = new WeightedSampler(balancedWeights(this.data.t, n, this.classes), 'balanced');
      else if (rowWeights !== null) this.sampler = new WeightedSampler(rowWeights, 'given');
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /**
   * Whether train()/fit() run their steps split across the runtime's thread pool or on the
   * calling thread, and the step times that chose it (see TrainerOptions.adaptiveThreads).
   */
  get threadUse(): ThreadUse {
    return this.splitChoice?.use ?? { pool: this.network.rt.splitsNow, poolStepMs: null, serialStepMs: null, probes: 0 };
  }

  /**
   * Steps and evaluations a worker thread failed (it died, or its part trapped), each run
   * again on the calling thread from the same point of the random stream, so the run went on
   * with the bits it would have had (see step()). Empty on a healthy machine.
   */
  get workerFaults(): readonly WorkerFaultRecord[] {
    return this.faults;
  }

  /** The training rows actually stepped on (all of xTrain, or a validationSplit's training part). */
  get trainingRows(): number {
    return this.data.length;
  }

  /**
   * The book's synchronous loop: runs from the current position (the start, or where
   * resume() put it) to the end and returns the run's record. Blocks its thread, so it cannot
   * await: a callback or checkpoint.write that returns a promise ends the run with a TypeError
   * naming it (use fit()). Throws if a step fails (see step()).
   */
  train(): TrainResult {
    this.checkAlive('train');
    const loop = this.run(this.options.callbacks ? [this.options.callbacks] : []);
    try {
      for (;;) {
        const r = loop.next();
        if (r.done) return r.value;
        if (r.value !== null) this.refusePromise(r.value.promise, r.value.from);
      }
    } finally {
      loop.return(undefined as never);
    }
  }

  /**
   * train() cannot await `promise` (returned by `from`): writes would race the next epochs' and a rejection
   * go unseen after train() returned. Throws, with the rejection marked handled: the TypeError reports it.
   */
  private refusePromise(promise: PromiseLike<unknown>, from: string): never {
    promise.then(undefined, () => {});
    const at = this.finished ? `at its end (epoch ${this.epoch}, step ${this.iter})`
      : this.epochStep > 0 ? `within epoch ${this.epoch + 1}, after step ${this.iter}`
        : this.iter === 0 && this.epoch === 0 ? 'before its first step'
          : `after epoch ${this.epoch} (step ${this.iter}), which is complete`;
    const pending = from === 'checkpoint.write' ? `; epoch ${this.epoch}'s checkpoint write is still in flight` : '';
    throw new TypeError(`Trainer.train: ${from} returned a promise, which train() cannot await; use fit(), which awaits it, or make ${from} synchronous. Nothing more was trained: the run stopped ${at}${pending}`);
  }

  /**
   * The same loop as train() (same bits for the same seed), async: yields to the event
   * loop whenever ~8 ms have passed since the last yield (a macrotask, so pages repaint
   * and timers and signals are seen), awaits callbacks' promises and checkpoint writes,
   * and rejects with `signal.reason` when aborted (checked before every step).
   */
  async fit(options: FitOptions = {}): Promise<TrainResult> {
    this.checkAlive('fit');
    checkOptions('Trainer.fit', options, FIT_KEYS);
    const { signal, callbacks } = options;
    if (signal !== undefined && !isAbortSignal(signal)) throw new TypeError(`Trainer.fit: signal must be an AbortSignal, got ${describeValue(signal)}`);
    if (callbacks !== undefined) checkCallbacks('Trainer.fit: callbacks', callbacks);
    const all = [this.options.callbacks, callbacks].filter((c): c is TrainerCallbacks => c !== undefined);
    const loop = this.run(all);
    const yielder = new Yielder();
    const rt = this.network.rt;
    // while it awaits, other code runs: its draws from the runtime's stream would change this run's bits
    const held = async (pause: PromiseLike<unknown>) => {
      const release = rt.holdStream('a Trainer\'s fit()');
      try { await pause; } finally { release(); }
    };
    try {
      for (;;) {
        if (signal?.aborted) {
          this.finished = true; // a later train()/fit() starts a new run from these parameters
          signal.throwIfAborted();
        }
        const r = loop.next();
        if (r.done) return r.value;
        if (r.value !== null) await held(r.value.promise);
        else if (yielder.due()) await held(yielder.yieldNow());
      }
    } finally {
      yielder.close();
      loop.return(undefined as never);
    }
  }

  /**
   * One optimizer step on a batch; returns its loss (taken before the update). On NaN/Inf
   * in the loss or gradients, or parameters the update overflowed to ±Inf, it throws a
   * RangeError and leaves the parameters, the layers' state (batch-norm running
   * statistics) and the optimizer's state as they were before the step. A step a worker
   * thread failed (a WorkerFault: the worker died, or its part trapped) is put back the
   * same way and run again on the calling thread, from the same point of the random stream
   * (dropout draws the same masks), so it gives the bits it would have given; the fault is
   * recorded in workerFaults. A failure on the calling thread is thrown. Refused while this Trainer's
   * train() or fit() runs (from a callback, or while fit() awaits): that loop steps the net itself; and for a Trainer
   * with accumulateSteps above 1 (a TypeError), whose runs alone keep groups of batches.
   */
  step(x: Tensor, t: Targets, iter = 0): number {
    this.checkAlive('step');
    if (this.running) throw new Error('Trainer.step: a run is in progress; step before train()/fit() or after it ends');
    // one call, one update: a group of batches left part way by direct calls would be summed into the next run's
    if (this.accumulator !== null) throw new TypeError(`Trainer.step: this Trainer's accumulateSteps is ${this.accumulation}, and step() is one update on one batch; train() and fit() accumulate (or make a Trainer without accumulateSteps for direct steps)`);
    return this.stepRetried(x, t, iter);
  }

  /** step() without its checks: the loop's step. */
  private stepRetried(x: Tensor, t: Targets, iter: number): number {
    const counter = this.network.rt.take(0);
    try {
      return this.stepOnce(x, t, iter);
    } catch (e) {
      const held = this.afterFault(e, iter + 1, 'step', counter);
      try {
        return this.stepOnce(x, t, iter);
      } finally {
        this.network.rt.holdSplits = held;
      }
    }
  }

  /**
   * After work that threw and changed nothing: rethrows `e` unless a worker thread failed the
   * work (a WorkerFault); else records the fault, puts the random stream back at `counter` and
   * holds the runtime's splits, for the caller to run the work once more on the calling thread
   * and then put back the hold this returns (a pool that lost a worker is retired meanwhile).
   */
  private afterFault(e: unknown, step: number, during: WorkerFaultRecord['during'], counter: number): boolean {
    if (!(e instanceof WorkerFault)) throw e;
    const rt = this.network.rt;
    this.faults.push({ step, during, message: e.message });
    rt.randomState = { seed: rt.seed, counter };
    const held = rt.holdSplits;
    rt.holdSplits = true;
    return held;
  }

  private stepOnce(x: Tensor, t: Targets, iter: number): number {
    const guard = this.guard;
    const net = this.network;
    const acc = this.accumulator;
    guard.saveLayerState();
    let grads: Readonly<Record<string, Tensor>>;
    try {
      grads = net.gradient(x, t);
      if (acc === null || acc.completes) {
        // a group's last batch: the update takes the group's mean, clipped (PyTorch clips after the k-th backward)
        acc?.writeMean();
        const { clipGradValue: value, clipGradNorm: norm } = this.options;
        if (value !== undefined) clipGradValue(grads, value);
        if (norm !== undefined) this.gradNorm = clipGradNorm(grads, norm);
      }
    } catch (e) {
      guard.restoreLayerState(); // ours puts it back itself; a net's own gradient() (a subclass's) may not
      throw e;
    }
    if (acc !== null && !acc.completes) return this.accumulate(iter);
    // one of our optimizers saves, checks and updates each range of the parameters on the
    // thread that updates it (StepGuard.guardedUpdate); others in passes on this thread.
    // An update that throws (a worker died mid-call) is undone like a failed one: the guarded
    // update puts back the ranges it saved, the plain one everything saveParams() copied.
    let guarded: GuardedUpdate | null;
    try {
      guarded = Number.isFinite(net.lastLoss) ? guard.guardedUpdate(grads) : null;
    } catch (e) {
      guard.restoreLayerState();
      throw e;
    }
    if (guarded === null) {
      const k = net.rt.unsafeKernels;
      const set = net.parameterSet;
      const bad = set
        ? k.hasNonFinite(set.gradPtr, set.size) !== 0
        : Object.values(grads).some((g) => k.hasNonFinite(g.ptr, g.size) !== 0);
      if (bad || !Number.isFinite(net.lastLoss)) this.failedStep(iter, bad ? 'gradients' : 'loss');
      guard.saveParams();
      try {
        this.optimizer.update(net.params, grads);
      } catch (e) {
        guard.restoreAll();
        throw e;
      }
      if (!guard.paramsFinite()) this.failedStep(iter, 'parameters');
      try {
        guard.prepareNext();
      } catch (e) {
        guard.restoreAll(); // its allocation failed (memory full): the step is not done, so nothing of it stays
        throw e;
      }
    } else if (guarded !== 'ok') {
      this.failedStep(iter, guarded, true);
    }
    acc?.clear(); // the update is done: the next group starts from zero
    return net.lastLoss;
  }

  /**
   * A batch of a group that does not update (accumulateSteps): its gradients, checked as an update checks them,
   * added to the group's sums. Returns its loss; a failure puts the layer state back and throws, the sums untouched.
   */
  private accumulate(iter: number): number {
    const net = this.network;
    const grads = this.accumulator!.checkGradients();
    if (grads === 'nonFinite') this.failedStep(iter, 'gradients');
    if (!Number.isFinite(net.lastLoss)) this.failedStep(iter, 'loss');
    if (grads === 'tooLarge') this.failedStep(iter, 'accumulation');
    this.accumulator!.add();
    return net.lastLoss;
  }

  /**
   * Puts back what a failed step changed and throws the RangeError saying what failed;
   * `updated`: the update may have written (a guarded update checks gradients as it goes).
   */
  private failedStep(iter: number, what: 'gradients' | 'loss' | 'parameters' | 'accumulation', updated = what === 'parameters'): never {
    if (updated) this.guard.restoreAll();
    else this.guard.restoreLayerState();
    const kept = this.accumulator ? 'parameters, running statistics, optimizer state and the summed gradients of the group' : 'parameters, running statistics and optimizer state';
    if (what === 'parameters') {
      throw new NonFiniteError(`Trainer: step ${iter + 1} overflowed the parameters or the optimizer's state to NaN/Inf (a gradient as large as 1.8e19 squares past float32's range); ${kept} restored to the last good step (lower the learning rate, or scale the inputs)`);
    }
    if (what === 'accumulation') {
      throw new NonFiniteError(`Trainer: step ${iter + 1} produced gradients of 2-norm over 3.4e38 / accumulateSteps (${this.accumulation}), whose sum over the group could overflow float32 to Inf; ${kept} left as they were (lower the learning rate)`);
    }
    throw new NonFiniteError(`Trainer: step ${iter + 1} produced NaN/Inf ${what}; ${kept} left as they were (lower the learning rate)`);
  }

  /**
   * The position and everything a resumed run needs to continue bit-identically, as plain
   * JSON: epochs/steps done, the random stream, the schedule and early-stopping state, the
   * record so far, the optimizer state, the parameters with the layer state, the ema's or swa's average and a group's
   * summed gradients (accumulateSteps). Taken between
   * steps: at an epoch's end (in onEpochEnd, or after train()/fit()) or within an epoch (in
   * onStepEnd, or after fit() was aborted), whose rest the resumed run trains.
   */
  trainerState(): TrainerState {
    this.checkAlive('trainerState');
    const opt = this.optimizer;
    const sums = this.groupSums();
    return {
      ...this.position(),
      optimizer: opt instanceof ElementwiseOptimizer ? opt.state() : null,
      params: toJson(this.network.exportParams()),
      best: this.best?.saved ? toJson(this.best.export()) : null,
      ema: this.ema?.saved ? toJson(this.ema.export()) : null,
      swaAverage: this.swa?.saved ? toJson(this.swa.export()) : null,
      accum: sums ? toJson(sums) : null,
    };
  }

  /**
   * TrainerOptions.ema's averages of the parameters as they are now, keyed like net.params: new arrays the caller
   * owns (later steps do not change them), to evaluate the averaged parameters mid-run (e.g. net.importParams
   * into another net of the same spec). null without the ema option, or before the run's first update.
   */
  emaParams(): Record<string, Float32Array> | null {
    this.checkAlive('emaParams');
    return this.ema?.copies() ?? null;
  }

  /**
   * TrainerOptions.swa's average of the parameters as it is now, keyed like net.params: new arrays the caller owns.
   * null without the swa option, or before the run's first averaged epoch (swa.start) has ended.
   */
  swaParams(): Record<string, Float32Array> | null {
    this.checkAlive('swaParams');
    return this.swa?.copies() ?? null;
  }

  /** trainerState() without the tensors (parameters, the best epoch's, the ema's or swa's average, a group's sums, the optimizer's state). */
  private position(): TrainerPosition {
    return {
      format: 'simdnn.trainer/1',
      epoch: this.epoch,
      iter: this.iter,
      epochStep: this.epochStep,
      epochCounter: this.epochCounter,
      random: this.network.rt.randomState,
      baseLr: this.baseLr,
      schedule: this.options.lrSchedule?.state?.() ?? null,
      earlyStopping: this.options.earlyStopping
        ? { best: Number.isFinite(this.bestValue) ? this.bestValue : null, wait: this.wait, bestEpoch: this.bestEpoch, monitor: this.monitor }
        : null,
      result: structuredClone(this.result),
      splitSeed: this.splitSeed,
      ...this.stepping(),
      ...this.averaging(),
      ...this.accumulating(),
    };
  }

  /** The group of batches in progress (TrainerState.accumulateSteps, accumulated; its sums are groupSums()). */
  private accumulating(): Required<Pick<TrainerState, 'accumulateSteps' | 'accumulated'>> {
    return { accumulateSteps: this.accumulation, accumulated: this.accumulator?.pending ?? 0 };
  }

  /** The summed gradients of the group of batches in progress, keyed like net.params (TrainerState.accum); null between groups. */
  private groupSums(): Record<string, { shape: number[]; data: Float32Array }> | null {
    return this.accumulator !== null && this.accumulator.pending > 0 ? this.accumulator.export() : null;
  }

  /** The options a run's averages and draws depend on, as the state records them (TrainerState.emaDecay, mixupAlpha, swa). */
  private averaging(): Required<Pick<TrainerState, 'emaDecay' | 'mixupAlpha' | 'swa'>> {
    const { ema, mixup, swa } = this.options;
    return {
      emaDecay: ema?.decay ?? null,
      mixupAlpha: mixup?.alpha ?? null,
      swa: swa ? { start: swa.start, lr: swa.lr ?? null, annealEpochs: swa.annealEpochs ?? 10, annealStrategy: swa.annealStrategy ?? 'cos', models: this.swa!.models } : null,
    };
  }

  /** What the position's steps are counted in and drawn with (TrainerState.batchSize, trainingRows, sampling, sampleWeights). */
  private stepping(): Required<Pick<TrainerState, 'batchSize' | 'trainingRows' | 'sampling' | 'sampleWeights'>> {
    return { batchSize: this.batchSize, trainingRows: this.data.length, sampling: this.sampling, sampleWeights: this.sampler ? { ...this.sampler.record } : null };
  }

  /**
   * What checkpoint.write receives. For a named net (net.spec: MultiLayerNet, DeepConvNet, …)
   * with one of simdnn's optimizers: a safetensors model file (saveModel with the optimizer's
   * state, early stopping's best epoch as `best.<name>` tensors, the ema's averages as `ema.<name>` or the swa's as
   * `swa.<name>`, and a group's summed gradients as `accum.<name>`), the rest of trainerState()
   * as JSON under the metadata key 'trainer', so the file also loads with loadModel and `simdnn
   * predict`. Otherwise trainerState() as UTF-8 JSON. A new array (on an ArrayBuffer of its own) the caller owns.
   */
  checkpointBytes(): Uint8Array<ArrayBuffer> {
    this.checkAlive('checkpointBytes');
    const opt = this.optimizer;
    if ((this.network as Partial<NamedNet>).spec !== undefined && (!(opt instanceof ElementwiseOptimizer) || optimizerNames.includes(opt.name.toLowerCase() as never))) {
      const { optimizer, best, ema, swa, accum, trainLoss, position } = this.checkpointParts();
      return saveModel(this.network as NamedNet, { optimizer, best, ema, swa, accum, trainLoss, metadata: { [TRAINER_KEY]: position } }); // its spec checked above
    }
    return new TextEncoder().encode(JSON.stringify(this.trainerState()));
  }

  /**
   * @internal A checkpoint model file's parts for saveModel (the CLI adds its own metadata): the optimizer
   * whose state it holds, early stopping's best epoch, the ema's or swa's average, the summed gradients of a group of
   * batches in progress and the loss of every step as tensors, and the rest of the position as JSON (whose size then
   * does not grow with the run, nor with the net).
   */
  checkpointParts(): {
    optimizer?: ElementwiseOptimizer; best?: Record<string, { shape: number[]; data: Float32Array }>;
    ema?: Record<string, { shape: number[]; data: Float32Array }>; swa?: Record<string, { shape: number[]; data: Float32Array }>;
    accum?: Record<string, { shape: number[]; data: Float32Array }>; trainLoss: number[]; position: string;
  } {
    this.checkAlive('checkpointBytes');
    const opt = this.optimizer;
    const position = this.position();
    const sums = this.groupSums();
    const trainLoss = position.result.trainLossList;
    position.result.trainLossList = [];
    return {
      ...(opt instanceof ElementwiseOptimizer ? { optimizer: opt } : {}),
      ...(this.best?.saved ? { best: this.best.export() } : {}),
      // the file's one average of the parameters (ema and swa are never both on)
      ...(this.ema?.saved ? { ema: this.ema.export() } : {}),
      ...(this.swa?.saved ? { swa: this.swa.export() } : {}),
      ...(sums ? { accum: sums } : {}),
      trainLoss,
      position: JSON.stringify(position),
    };
  }

  /**
   * Puts the Trainer, its network, optimizer (with a schedule, its lr the uninterrupted run's at that
   * position, a finished run's final rate included), schedule and the runtime's random stream where
   * `state` (trainerState(), or checkpointBytes(): a model file or JSON) says; the next
   * train()/fit() continues from there and ends with the same bits as the uninterrupted run.
   * A state it refuses (a wrong format, optimizer, parameter shape, schedule state, random stream or record; ema
   * averages this Trainer has no ema option for, none past the first step when it has one, or of other keys or
   * shapes than the parameters'; past the first step, another ema decay, mixup alpha or swa option than the state's
   * run had; a swa average or count that does not fit the position; another batch size, training rows, sampling
   * or sampleWeights than the state's run drew with; past the first step, another accumulateSteps, or summed
   * gradients that do not fit the position's group), throws with the Trainer, net, optimizer,
   * schedule and random stream as they were.
   */
  resume(state: TrainerState | Uint8Array): void {
    this.checkAlive('resume');
    if (this.running) throw new Error('Trainer.resume: a run is in progress; resume before train()/fit() or after it ends');
    const s = state instanceof Uint8Array ? this.decodeCheckpoint(state) : state;
    if (s === null || typeof s !== 'object' || s.format !== 'simdnn.trainer/1') throw new TypeError('Trainer.resume: not a trainer state (format simdnn.trainer/1)');
    const r = s.result as Partial<TrainResult> | null | undefined;
    if (r === null || typeof r !== 'object' || RESULT_LISTS.some((key) => !Array.isArray(r[key]))) {
      throw new TypeError(`Trainer.resume: result must be the run's record so far (${RESULT_LISTS.join(', ')}: arrays), got ${describeValue(r)}`);
    }
    checkStreamPosition(s.random);
    if (!(Number.isInteger(s.epoch) && s.epoch >= 0 && s.epoch <= this.epochCount && Number.isInteger(s.iter) && s.iter >= 0 && s.iter <= this.maxIter)) {
      throw new RangeError(`Trainer.resume: position epoch ${s.epoch}, step ${s.iter} is outside this run (${this.epochCount} epochs, ${this.maxIter} steps)`);
    }
    const epochStep = s.epochStep ?? 0, epochCounter = s.epochCounter ?? 0;
    if (!(Number.isInteger(epochStep) && epochStep >= 0 && epochStep <= Math.min(this.iterPerEpoch, s.iter) && s.epoch < this.epochCount + (epochStep === 0 ? 1 : 0))) {
      throw new RangeError(`Trainer.resume: epochStep ${String(s.epochStep)} is no step of epoch ${s.epoch + 1} of this run (${this.iterPerEpoch} steps an epoch)`);
    }
    if (!(Number.isSafeInteger(epochCounter) && epochCounter >= 0 && epochCounter <= (s.random?.counter ?? 0))) {
      throw new RangeError(`Trainer.resume: epochCounter ${String(s.epochCounter)} is no position of the state's random stream (0 to ${String(s.random?.counter)})`);
    }
    // another split trains and validates on other rows: the resumed run would not be the interrupted one
    if (s.splitSeed !== undefined && s.splitSeed !== this.splitSeed) {
      throw new RangeError(`Trainer.resume: the state's run held out its validation rows ${s.splitSeed === null ? 'with no validationSplit' : `with seed ${s.splitSeed}`}, this Trainer ${this.splitSeed === null ? 'with none' : `with seed ${this.splitSeed}`} (the runtime's seed when it was made): make it on a runtime of the state's seed, with the same validationSplit`);
    }
    // another batch size, row count or draw would step through other rows from this position: not the interrupted run
    const stepping = this.stepping();
    for (const key of ['batchSize', 'trainingRows', 'sampling'] as const) {
      if (s[key] !== undefined && s[key] !== stepping[key]) throw new RangeError(`Trainer.resume: the state's run has ${key} ${String(s[key])}, this Trainer ${stepping[key]}: a resumed run must step as the interrupted one did`);
    }
    checkSampleWeightsState(s.sampleWeights, stepping.sampleWeights);
    if (this.options.earlyStopping && s.earlyStopping) checkEarlyStoppingState(s.earlyStopping, s.epoch, this.monitor);
    const opt = this.optimizer;
    if (s.optimizer !== null && !(opt instanceof ElementwiseOptimizer)) throw new TypeError('Trainer.resume: the state holds optimizer state but this optimizer cannot load it');
    if (s.optimizer !== null && s.optimizer.optimizer !== opt.name) throw new TypeError(`Trainer.resume: the state is for ${s.optimizer.optimizer}, this trainer uses ${opt.name}`);
    if (s.best && this.best) this.best.check(s.best);
    // accumulateSteps first: the ema's check counts the state's updates in groups of this Trainer's k
    const accumulated = this.checkAccumulation(s);
    this.checkEmaState(s.ema, s.iter);
    this.checkAveraging(s);
    const swaModels = this.checkSwaState(s);
    const net = this.network;
    const schedule = this.options.lrSchedule;
    // what a refusal part way must put back: each of these writes only once its own checks have passed
    const current = net.exportParams(), random = net.rt.randomState, scheduleState = s.schedule ? schedule?.state?.() : undefined;
    net.importParams(s.params); // validates every key and shape before writing
    try {
      net.rt.randomState = s.random;
      if (s.schedule) schedule?.loadState?.(s.schedule);
      // last: nothing after it can fail, and a state it refuses leaves the optimizer as it was
      if (s.optimizer !== null) (opt as ElementwiseOptimizer).loadState(s.optimizer);
    } catch (e) {
      net.importParams(current);
      net.rt.randomState = random;
      if (scheduleState) schedule!.loadState!(scheduleState);
      throw e;
    }
    if (s.best) this.best?.import(s.best); // checked above
    else this.best?.clear(); // none kept yet: not one an earlier run of this Trainer kept
    if (s.ema) this.ema!.import(s.ema); // checked above
    else this.ema?.clear();
    if (s.swaAverage) this.swa!.load(s.swaAverage, swaModels); // checked above
    else this.swa?.clear();
    if (accumulated > 0) this.accumulator!.load(s.accum!, accumulated); // checked above
    else this.accumulator?.clear();
    this.epoch = s.epoch;
    this.iter = s.iter;
    this.epochStep = epochStep;
    this.epochCounter = epochCounter;
    this.baseLr = s.baseLr;
    if (s.baseLr !== null && (schedule || this.swaSchedule)) {
      // the rate the uninterrupted run's optimizer had at this position (a finished run's is never set again)
      const last = s.result.epochs[s.result.epochs.length - 1];
      const swaPeriod = this.swaPeriod(s.epoch);
      const period = schedule?.interval === 'step' ? this.lastStepPeriod(s.iter) : s.epoch;
      const lr = epochStep === 0 ? last?.lr ?? s.baseLr
        : swaPeriod !== null ? this.swaRate(swaPeriod, s.result)
          : schedule && period >= 0 ? schedule.lrAt(period, s.baseLr) : s.baseLr;
      (opt as unknown as { lr: number }).lr = lr;
      this.scheduledLr = lr;
    }
    if (this.momentumOption !== null) {
      // likewise the momentum: the last period's (none yet: the optimizer's own)
      // (with swa.lr, the last period before SWALR took over: it leaves the momentum as it was)
      const k = schedule!.interval === 'step' ? this.lastStepPeriod(s.iter) : Math.min(epochStep > 0 ? s.epoch : s.epoch - 1, this.schedulePeriods() - 1);
      if (k >= 0) this.setMomentum(k);
    }
    this.result = structuredClone(s.result);
    this.bestValue = s.earlyStopping?.best ?? this.noBest;
    this.wait = s.earlyStopping?.wait ?? 0;
    this.bestEpoch = s.earlyStopping?.bestEpoch ?? 0;
    this.finished = false;
  }

  /**
   * A state's averages, refused before resume() writes: averages without this Trainer's ema option, none for a
   * position past the first step when it has one (the resumed run's would start there, not the interrupted
   * run's), averages before any step, or of other keys or shapes than net.params.
   */
  private checkEmaState(ema: TrainerState['ema'], iter: number): void {
    // the average starts at the run's first update: step 1, or the k-th with accumulateSteps k
    const updates = this.updatesIn(iter);
    if (ema === null || ema === undefined) {
      if (this.ema && updates > 0) throw new RangeError(`Trainer.resume: this Trainer keeps an ema of the parameters, and the state (after step ${iter}${this.accumulation > 1 ? `, ${updates} update${updates === 1 ? '' : 's'}` : ''}) holds none: the run that wrote it had no ema option`);
      return;
    }
    if (!this.ema) throw new RangeError('Trainer.resume: the state holds ema averages of the parameters, and this Trainer has no ema option (give the interrupted run\'s ema: { decay })');
    if (updates === 0) throw new RangeError(`Trainer.resume: the state holds ema averages before the run's first update (after step ${iter}; a run's first update makes them)`);
    this.ema.check(ema);
  }

  /**
   * The options a run's steps and averages depend on that a state records (TrainerState.emaDecay, mixupAlpha, swa),
   * refused before resume() writes when this Trainer's differ, naming the option; not for a state before its first
   * step (a start: none of them has acted yet), nor for fields a state written before they were recorded lacks.
   */
  private checkAveraging(s: TrainerState): void {
    if (s.iter === 0) return;
    const ours = this.averaging();
    for (const [key, option] of [['emaDecay', 'ema.decay'], ['mixupAlpha', 'mixup.alpha']] as const) {
      if (s[key] !== undefined && s[key] !== ours[key]) {
        throw new RangeError(`Trainer.resume: the state's run has ${option} ${optionValue(s[key])}, this Trainer ${optionValue(ours[key])}: a resumed run must train with the interrupted run's options`);
      }
    }
    const theirs = s.swa;
    if (theirs === undefined || (theirs === null && ours.swa === null)) return;
    if (theirs === null || ours.swa === null) {
      throw new RangeError(`Trainer.resume: the state's run has ${theirs === null ? 'no swa option' : `swa ${describeSwa(theirs)}`}, this Trainer ${ours.swa === null ? 'none' : describeSwa(ours.swa)}: a resumed run must train with the interrupted run's options`);
    }
    for (const key of ['start', 'lr', 'annealEpochs', 'annealStrategy'] as const) {
      if (theirs?.[key] !== ours.swa[key]) {
        throw new RangeError(`Trainer.resume: the state's run has swa.${key} ${optionValue(theirs?.[key])}, this Trainer ${optionValue(ours.swa[key])}: a resumed run must train with the interrupted run's options`);
      }
    }
  }

  /**
   * A state's swa average and count, refused before resume() writes: an average this Trainer has no swa option for,
   * a count other than the epochs averaged by the state's position (epochs done from swa.start on), an average
   * missing for such epochs or present before them, or of other keys or shapes than net.params. Returns the count.
   */
  private checkSwaState(s: TrainerState): number {
    const average = s.swaAverage ?? null;
    if (!this.swa) {
      if (average !== null) throw new RangeError('Trainer.resume: the state holds a swa average of the parameters, and this Trainer has no swa option (give the interrupted run\'s swa)');
      return 0;
    }
    const start = this.options.swa!.start;
    const models = Math.max(0, s.epoch - start + 1);
    const recorded = (s.swa as { models?: unknown } | null | undefined)?.models;
    if (recorded !== undefined && recorded !== models) {
      throw new RangeError(`Trainer.resume: the state's swa.models ${shown(recorded)} is not the epochs averaged after epoch ${s.epoch} with swa.start ${start} (${models})`);
    }
    if (models > 0 && average === null) throw new RangeError(`Trainer.resume: this Trainer averages from epoch ${start}, and the state (after epoch ${s.epoch}) holds no swa average: the run that wrote it had no swa option`);
    if (models === 0 && average !== null) throw new RangeError(`Trainer.resume: the state holds a swa average before epoch ${start}, the first this Trainer averages`);
    if (average !== null) this.swa.check(average);
    if (this.swaSchedule !== null && models > 0 && typeof s.result.epochs[start - 1]?.lr !== 'number') {
      throw new RangeError(`Trainer.resume: result.epochs[${start - 1}] must record the rate epoch ${start} ended with (SWALR anneals from it)`);
    }
    return models;
  }

  /**
   * A state's group of batches in progress, refused before resume() writes: another accumulateSteps past the first
   * step (a state written before it was recorded had 1), a count of batches other than iter mod accumulateSteps, sums
   * missing for such batches or present without them, or of other keys or shapes than net.params. Returns the count.
   */
  private checkAccumulation(s: TrainerState): number {
    const theirs = s.accumulateSteps ?? 1, k = this.accumulation;
    if (s.iter > 0 && theirs !== k) {
      throw new RangeError(`Trainer.resume: the state's run has accumulateSteps ${shown(theirs)}, this Trainer ${k}: a resumed run must update as the interrupted one did`);
    }
    const accumulated = s.accumulated ?? 0, pending = s.iter % k;
    if (accumulated !== pending) throw new RangeError(`Trainer.resume: the state's accumulated ${shown(accumulated)} is not the batches of the group in progress after step ${s.iter} with accumulateSteps ${k} (${pending})`);
    const accum = s.accum ?? null;
    if (pending > 0 && accum === null) throw new RangeError(`Trainer.resume: the state (after step ${s.iter}) is within a group of ${k} batches and holds no accum (the group's summed gradients)`);
    if (pending === 0 && accum !== null) throw new RangeError(`Trainer.resume: the state holds accum (summed gradients) between groups of accumulateSteps ${k}, where the sums are zero`);
    if (accum !== null) this.accumulator!.check(accum);
    return pending;
  }

  /** A checkpoint's bytes as a TrainerState: JSON, or a model file with the position in its metadata. */
  private decodeCheckpoint(bytes: Uint8Array): TrainerState {
    if (bytes[0] === 0x7b) return JSON.parse(new TextDecoder().decode(bytes)) as TrainerState; // '{': JSON
    const loaded = loadModel(this.network.rt, bytes);
    try {
      const position = loaded.metadata[TRAINER_KEY];
      if (position === undefined) throw new TypeError(`Trainer.resume: the model file has no '${TRAINER_KEY}' metadata (not a checkpoint)`);
      const stored = JSON.parse(position) as TrainerPosition & { best?: TrainerState['best']; ema?: TrainerState['ema'] };
      // the best epoch and the losses as tensors; a checkpoint written before they were kept so has them in the JSON
      const best = loaded.best ? toJson(loaded.best) : stored.best ?? null;
      putBackTrainLoss(stored, loaded.trainLoss, 'Trainer.resume');
      // the averages as tensors; a checkpoint written before they were kept so has ema's in the JSON
      const averages = { ema: loaded.ema ? toJson(loaded.ema) : stored.ema ?? null, swa: loaded.swa ? toJson(loaded.swa) : null };
      // a group's sums only as tensors (the position's JSON never held them)
      const accum = loaded.accum ? toJson(loaded.accum) : null;
      return { ...stored, params: toJson(loaded.net.exportParams()), optimizer: loaded.optimizer?.state() ?? null, best, ...checkpointAverages(stored, averages), accum };
    } finally {
      loaded.net.dispose();
      loaded.optimizer?.dispose();
    }
  }

  /** True once dispose() was called: every entry then throws. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  /**
   * Frees what the Trainer allocated (not the network or data, nor an optimizer it was given: one it
   * built from a name is its own and freed too); the Trainer cannot
   * be used afterwards. Called during a run (from a callback, or while fit() awaits), it stops
   * the run before its next step or epoch (train()/fit() throw) and frees when the run has
   * unwound, so no step writes memory already freed. Idempotent.
   */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    if (!this.running) this.release();
  }

  /** Frees what the Trainer made (also what a constructor stopped part way had made: its fields after that are unset). */
  private release(): void {
    (this.buffers as Buffers | undefined)?.dispose();
    (this.order as IntTensor | undefined)?.dispose();
    (this.guard as StepGuard | undefined)?.dispose();
    this.best?.dispose();
    this.ema?.dispose();
    this.swa?.dispose();
    this.accumulator?.dispose();
    (this.data as Dataset | undefined)?.dispose();
    this.validation?.dispose();
    this.validationLabels?.dispose();
    if (this.ownsOptimizer) (this.optimizer as { dispose?: () => void }).dispose?.();
  }

  /** The loop: pauses (yields null) after every step and evaluation chunk, or yields a promise to await. */
  private *run(callbacks: TrainerCallbacks[]): Generator<Pause, TrainResult> {
    if (this.running) throw new Error('Trainer: already training (await the running fit() first)');
    const rt = this.network.rt;
    // a run draws its batches, dropout masks and augmentation from the runtime's one random stream: two runs
    // at once (fit()s interleaving at their yields) would each get draws the other's timing decided
    if (rt.trainerRunning) {
      throw new ConcurrentRunError('Trainer: another Trainer is training on this runtime; runs on one runtime share its random stream, so two at once would give neither run\'s bits (await the other run, or give each its own runtime)');
    }
    this.running = true;
    rt.trainerRunning = true;
    try {
      return yield* this.loop(callbacks);
    } finally {
      this.running = false;
      rt.trainerRunning = false;
      if (this.isDisposed) this.release();
    }
  }

  /** Sets the optimizer's momentum or beta1 to the schedule's for period k. */
  private setMomentum(k: number): void {
    (this.optimizer as unknown as Record<MomentumOption, number>)[this.momentumOption!] = this.options.lrSchedule!.momentumAt!(k);
  }

  /**
   * Refuses, when the Trainer is made, a run longer than its schedule defines (OneCycleLR's totalSteps): PyTorch's
   * scheduler raises once stepped past it, part way through the run.
   */
  private checkSchedulePeriods(): void {
    const schedule = this.options.lrSchedule;
    if (schedule?.periods === undefined) return;
    const perStep = schedule.interval === 'step';
    const run = perStep ? this.stepPeriodLimit() : Math.min(this.epochCount, this.schedulePeriods()), unit = perStep ? 'steps' : 'epochs';
    const updates = perStep && this.accumulation > 1 ? ` (updates of ${this.accumulation} batches each: accumulateSteps)` : '';
    if (run > schedule.periods) {
      throw new RangeError(`Trainer: lrSchedule ${schedule.name} defines ${schedule.periods} ${unit}, and this run takes ${run}${updates || ` ${unit}`}: shorten the run (epochs, maxIterations) or lengthen the schedule (OneCycleLR's totalSteps)`);
    }
  }

  /** The periods lrSchedule sets the rate for: all, or with swa.lr those to epoch swa.start's end (SWALR's from there). */
  private schedulePeriods(): number {
    if (this.swaSchedule === null) return Infinity;
    const start = this.options.swa!.start;
    return this.options.lrSchedule?.interval === 'step' ? this.updatesIn(start * this.iterPerEpoch) : start;
  }

  /** The updates `batches` batches make (accumulateSteps batches each; a group not complete makes none). */
  private updatesIn(batches: number): number {
    return Math.floor(batches / this.accumulation);
  }

  /**
   * The periods a per-step lrSchedule is asked for: the run's updates (to swa.start's end with swa.lr). A batch whose
   * update would be past them (one of a group the run or the schedule's epochs end in) does not ask.
   */
  private stepPeriodLimit(): number {
    return Math.min(this.updatesIn(this.maxIter), this.schedulePeriods());
  }

  /** The last period a per-step lrSchedule set the rate for before step `iter` (0-based; −1: none). */
  private lastStepPeriod(iter: number): number {
    return Math.min(this.updatesIn(iter - 1), this.stepPeriodLimit() - 1);
  }

  /** SWALR's periods done before the epoch after `epochsDone` epochs (null: swa.lr does not set that epoch's rate). */
  private swaPeriod(epochsDone: number): number | null {
    const start = this.options.swa?.start;
    return this.swaSchedule !== null && epochsDone >= start! ? epochsDone - start! + 1 : null;
  }

  /** SWALR's rate after `period` of its periods, annealed from the rate epoch swa.start ended with (in `result`'s records). */
  private swaRate(period: number, result: TrainResult): number {
    return this.swaSchedule!.lrAt(period, result.epochs[this.options.swa!.start - 1].lr!);
  }

  private checkAlive(entry: string): void {
    if (this.isDisposed) throw new Error(`Trainer.${entry}: used after dispose()`);
  }

  /** Ends a run whose Trainer was disposed meanwhile (in a callback, or while fit() awaited). */
  /** Ends the run if the Trainer or its network was disposed (by a callback, or between fit()'s steps). */
  private stopIfDisposed(): void {
    if (this.isDisposed) throw new Error(`Trainer: disposed during training; the run stopped after epoch ${this.epoch}, step ${this.iter}`);
    if (this.network.disposed) throw new Error(`Trainer: the network was disposed during training; the run stopped after epoch ${this.epoch}, step ${this.iter}`);
  }

  private *loop(callbacks: TrainerCallbacks[]): Generator<Pause, TrainResult> {
    if (this.finished) this.reset();
    const rt = this.network.rt;
    const k = rt.unsafeKernels;
    const opt = this.optimizer as Optimizer & { lr?: number };
    const schedule = this.options.lrSchedule;
    const augment = this.options.augment;
    const x = this.data.x, t = this.data.t;
    const n = this.data.length;
    const B = this.batchSize;
    const rowLen = x.size / n, tRowLen = t.size / n;
    const xb = this.buffers.get('x', [B, ...x.shape.slice(1)]);
    const tb = t instanceof Tensor ? this.buffers.get('t', [B, ...t.shape.slice(1)]) : this.buffers.labels('t', [B]);
    const choice = this.buffers.labels('choice', [B]);
    const u = this.buffers.get('u', [2 * B]);
    this.stopRequested = false;
    const event = (): TrainerEvent => ({ trainer: this, epoch: this.epoch, iter: this.iter, maxIter: this.maxIter, stop: () => { this.stopRequested = true; } });
    const start = now();
    // the schedule's base is the optimizer's lr when a run starts from its first step, unless it is the rate
    // the schedule left there (a second train() repeats the schedule; a rate the user set is the new base)
    if ((schedule || this.swaSchedule) && (this.baseLr === null || (this.iter === 0 && opt.lr !== this.scheduledLr))) this.baseLr = opt.lr!;
    const setLr = (lr: number) => { opt.lr = lr; this.scheduledLr = lr; };
    // before period k (an epoch or a step): the schedule's rate, and its momentum when it cycles one
    const schedulePeriod = (k: number) => {
      setLr(schedule!.lrAt(k, this.baseLr!));
      if (this.momentumOption !== null) this.setMomentum(k);
    };
    // a run from its first step: what a stateful schedule saw in another run (or Trainer) does not carry over
    if (this.iter === 0) schedule?.reset?.();
    for (const c of callbacks) yield* awaited(c.onTrainBegin?.(event()), 'callbacks.onTrainBegin');
    let reason: StopReason = this.stopRequested ? 'callback' : 'completed';
    // resumed from a checkpoint of the epoch where early stopping said stop: the run ended there
    if (this.earlyStopReached()) {
      this.stopRequested = true;
      reason = 'earlyStopping';
    }
    let rechecked = false;
    const stepLimit = this.stepPeriodLimit();
    while (this.epoch < this.epochCount && !this.stopRequested) {
      this.stopIfDisposed();
      const epoch = this.epoch + 1;
      const epochStart = now();
      // an epoch a run left part way (aborted, a step that threw, a state taken mid-epoch) goes on at its next step
      const from = this.epochStep;
      // with swa.lr, SWALR sets the rate of the epochs after swa.start, and lrSchedule that of the others
      const swaPeriod = this.swaPeriod(this.epoch);
      if (swaPeriod !== null) setLr(this.swaRate(swaPeriod, this.result));
      else if (schedule?.interval === 'epoch') schedulePeriod(this.epoch);
      else if (!schedule && this.swaSchedule) setLr(this.baseLr!); // a second run's first epochs: not the rate SWALR left
      for (const c of callbacks) yield* awaited(c.onEpochBegin?.({ ...event(), epoch }), 'callbacks.onEpochBegin');
      if (this.stopRequested) {
        // stopped before the epoch's first step: nothing of it happened, so none of it is recorded (a record of
        // no steps would feed a made-up loss to the schedule and early stopping)
        reason = 'callback';
        break;
      }
      // the epoch's permutation, drawn after onEpochBegin so that a state taken there is an epoch boundary's;
      // an epoch going on draws it again from where it was drawn, not moving the stream
      if (from === 0) this.epochCounter = rt.take(0);
      if (this.sampling === 'permutation') k.shuffleIndices(this.order.ptr, n, rt.seed >>> 0, from === 0 ? rt.take(n) : this.epochCounter);
      const steps = Math.min(this.iterPerEpoch, this.maxIter - (this.iter - from));
      let lossSum = 0, done = from;
      // the epoch's losses so far, summed in the order the uninterrupted run adds them
      for (let i = this.iter - from; i < this.iter; i++) lossSum += this.result.trainLossList[i];
      for (let b = from; b < steps && !this.stopRequested; b++) {
        this.stopIfDisposed();
        // a per-step schedule's period is the update this batch's group makes (PyTorch steps it after optimizer.step())
        if (schedule?.interval === 'step' && swaPeriod === null && this.updatesIn(this.iter) < stepLimit) schedulePeriod(this.updatesIn(this.iter));
        // where the step's draws begin (an epoch's first step: before its permutation)
        const drawsFrom = b === 0 ? this.epochCounter : rt.take(0);
        const splits = this.splitChoice;
        const faults = this.faults.length;
        let loss: number;
        try {
          let idx: number;
          if (this.sampling === 'permutation') idx = this.order.ptr + b * B * 4;
          else {
            if (this.sampler) this.sampler.draw(rt, choice, u, B);
            else drawIndices(rt, choice, u, B, n);
            idx = choice.ptr;
          }
          // the gather reads x and t by address: rows the caller disposed since (fit() awaits between steps) would be read freed
          checkTensor(rt, x, 'Trainer: xTrain');
          checkTensor(rt, t, 'Trainer: tTrain');
          k.gatherRows(xb.ptr, x.ptr, idx, B, rowLen);
          k.gatherRows(tb.ptr, t.ptr, idx, B, tRowLen);
          splits?.begin();
          const input = augment === undefined ? xb : augmented(augment, xb, tb);
          // mixup after augmentation, as timm mixes the batch its loader augmented; its λ is one of the step's draws
          const mixed = this.mixup?.mix(input, tb);
          loss = this.stepRetried(mixed?.x ?? input, mixed?.t ?? tb, this.iter);
        } catch (e) {
          splits?.abort();
          // a step that threw changed nothing, its draws included (a batch with replacement, augmentation, dropout,
          // an epoch's permutation): a run that goes on (memory freed after an OutOfMemoryError) draws them again
          rt.randomState = { seed: rt.seed, counter: drawsFrom };
          throw e;
        }
        // a step run again after a worker's fault is not a sample of either way's speed
        if (this.faults.length === faults) splits?.end();
        else splits?.abort();
        // with accumulateSteps, only a group's last batch updates (the others added their gradients to its sums)
        const optimizerStep = this.accumulator === null || this.accumulator.pending === 0;
        // after the update that succeeded (a failed step threw above, leaving the averages as they were)
        if (optimizerStep) this.ema?.update();
        lossSum += loss;
        done++;
        this.result.trainLossList.push(loss);
        this.iter++;
        this.epochStep = b + 1;
        this.options.onProgress?.({ kind: 'step', epoch, iter: this.iter, maxIter: this.maxIter, loss });
        const lr = (this.optimizer as { lr?: unknown }).lr;
        const stepped = { epoch, loss, batch: b, lr: typeof lr === 'number' ? lr : null, ...(this.options.clipGradNorm !== undefined && optimizerStep ? { gradNorm: this.gradNorm } : {}), optimizerStep };
        for (const c of callbacks) yield* awaited(c.onStepEnd?.({ ...event(), ...stepped }), 'callbacks.onStepEnd');
        yield null;
      }
      this.stopIfDisposed();
      // the kernels ran hot through the epoch: check their optimized code too, once a run
      if (!rechecked && done > 0) {
        rt.recheckKnownAnswers(`Trainer: epoch ${epoch}`);
        rechecked = true;
      }
      const record = yield* this.evaluate(epoch, lossSum / done, done, epochStart, opt.lr);
      this.epoch = epoch;
      this.epochStep = 0;
      // with the epoch's record (a run going on after an error here would average it twice)
      if (this.swa && epoch >= this.options.swa!.start) this.swa.update();
      this.result.epochs.push(record);
      this.result.trainAccList.push(record.trainAcc);
      this.result.testAccList.push(record.testAcc);
      if (record.valAcc !== undefined) this.result.valAccList.push(record.valAcc);
      // PyTorch's loop steps swa_scheduler, not scheduler, after the epochs swa averages
      if (this.swaPeriod(epoch) === null) schedule?.observe?.(watchedMetric(schedule, record));
      if (this.stopRequested) reason = 'callback';
      if (this.watchEarlyStop(record)) { this.stopRequested = true; reason = 'earlyStopping'; }
      this.options.onProgress?.({ kind: 'epoch', epoch, iter: this.iter, maxIter: this.maxIter, loss: this.result.trainLossList[this.iter - 1], record });
      for (const c of callbacks) yield* awaited(c.onEpochEnd?.({ ...event(), record }), 'callbacks.onEpochEnd');
      this.stopIfDisposed(); // before the checkpoint reads the parameters, or the best epoch's are written back
      if (this.stopRequested && reason === 'completed') reason = 'callback';
      const cp = this.options.checkpoint;
      if (cp && epoch % cp.every === 0) yield* awaited(cp.write(this.checkpointBytes(), epoch), 'checkpoint.write');
    }
    this.stopIfDisposed();
    // Keras 3's fit() (keras/src/backend/*/trainer.py) calls optimizer.finalize_variable_values (the parameters
    // overwritten with their averages) after its last epoch and before callbacks.on_train_end, where EarlyStopping
    // restores the best epoch's weights: the averages first, the best epoch's raw parameters over them. A run
    // that did no step has no averages, and keeps its parameters (Keras would write its zero-initialized ones).
    const averaged = this.ema?.saved === true;
    if (averaged) this.ema!.restore();
    // swa's average likewise, with its batch-norm statistics; not under a best epoch that would be put back over it
    const swaWritten = this.swa?.saved === true && !this.best?.saved;
    if (swaWritten) yield* this.writeSwaAverage();
    if (this.swa) this.result.swaModels = swaWritten ? this.swa.models : 0;
    if (this.best?.saved && (averaged || this.bestEpoch !== this.epoch)) {
      this.best.restore();
      this.result.bestEpoch = this.bestEpoch;
    } else if (this.best?.saved) {
      this.result.bestEpoch = this.bestEpoch;
    }
    this.result.steps = this.iter;
    this.result.seconds += (now() - start) / 1000;
    this.result.stopReason = reason;
    this.finished = true;
    for (const c of callbacks) yield* awaited(c.onTrainEnd?.({ ...event(), result: this.result }), 'callbacks.onTrainEnd');
    return this.result;
  }

  /**
   * Writes swa's average over the parameters and, for a net with batch normalization, recomputes the running
   * statistics for it (recomputeStatistics). The pass pauses between batches; stopped part way (fit() aborted, the
   * Trainer disposed), the raw parameters and statistics are put back, as a run that ends so keeps them.
   */
  private *writeSwaAverage(): Generator<Pause, void> {
    const swa = this.swa!;
    const norms = this.network.layers.filter((l): l is BatchNormalization => l instanceof BatchNormalization);
    if (norms.length === 0) {
      swa.restore();
      return;
    }
    swa.swap(); // the parameters are the average; swa's block holds the raw ones
    this.guard.saveLayerState();
    let done = false;
    try {
      yield* this.recomputeStatistics(norms);
      done = true;
    } finally {
      if (!done && !this.network.disposed) {
        swa.swap();
        this.guard.restoreLayerState();
      }
    }
    swa.save(); // the block holds the average again (swaParams(), trainerState())
  }

  /**
   * PyTorch's update_bn (torch/optim/swa_utils.py) on the layers `norms`: their running statistics reset (mean 0,
   * variance 1, reset_running_stats), then a training-mode forward pass over the training rows in order, in batches
   * of the run's size (the last one partial, as a DataLoader's), with dropout on (update_bn's model.train()), each
   * batch's statistics in a cumulative average (update_bn's momentum None, PyTorch's 1/num_batches_tracked): this
   * layer's `running = momentum·running + (1 − momentum)·batch` with momentum b/(b + 1) at batch b (0-based), the
   * first one's momentum 0. Each layer's momentum is put back after, also when the pass throws.
   */
  private *recomputeStatistics(norms: BatchNormalization[]): Generator<Pause, void> {
    const rt = this.network.rt, k = rt.unsafeKernels;
    const x = this.data.x, n = this.data.length, B = this.batchSize;
    const momenta = norms.map((l) => l.momentum);
    // reset_running_stats: the first batch's momentum 0 takes its statistics whole, but 0·NaN would keep a
    // diverged run's NaN or Infinity
    for (const l of norms) {
      k.fill(l.runningMean.ptr, 0, l.runningMean.size);
      k.fill(l.runningVar.ptr, 1, l.runningVar.size);
    }
    try {
      for (let b = 0; b * B < n; b++) {
        this.stopIfDisposed();
        checkTensor(rt, x, 'Trainer: xTrain'); // fit() pauses between batches: the caller may have disposed the rows
        for (const l of norms) l.momentum = b / (b + 1);
        this.trainingForward(x.rows(b * B, Math.min(n, (b + 1) * B)));
        yield null;
      }
    } finally {
      norms.forEach((l, i) => { l.momentum = momenta[i]; });
    }
  }

  /** A training-mode forward pass of `rows`, run again on the calling thread if a worker thread failed it. */
  private trainingForward(rows: Tensor): void {
    const net = this.network, counter = net.rt.take(0);
    try {
      net.predictBorrowed(rows, true);
    } catch (e) {
      const held = this.afterFault(e, this.iter, 'evaluation', counter);
      try {
        net.predictBorrowed(rows, true);
      } finally {
        net.rt.holdSplits = held;
      }
    }
  }

  /** Starts a new run from the current parameters (after a finished one). */
  private reset(): void {
    this.epoch = 0;
    this.iter = 0;
    this.epochStep = 0;
    this.epochCounter = 0;
    this.result = emptyResult();
    this.bestValue = this.noBest;
    this.bestEpoch = 0;
    this.wait = 0;
    this.best?.clear();
    this.ema?.clear(); // the new run's first step copies the parameters again
    this.swa?.clear();
    this.accumulator?.clear(); // a group the last run ended in does not update
    this.finished = false;
  }

  /**
   * Whether early stopping has said stop: its count reached the patience at an epoch that did not improve
   * (with a baseline the count also runs on through improvements that stay above it, which do not stop a run).
   */
  private earlyStopReached(): boolean {
    const es = this.options.earlyStopping;
    return es !== undefined && this.wait > 0 && this.wait >= es.patience && this.bestEpoch !== this.epoch;
  }

  /**
   * True when this Trainer's position is its run's end: every step done, or early stopping said stop
   * (a run resumed from its last checkpoint). The next train()/fit() then trains nothing and returns the
   * run's record (with early stopping's best epoch restored), as the uninterrupted run ended.
   */
  get atRunEnd(): boolean {
    return this.iter >= this.maxIter || this.earlyStopReached();
  }

  /** What early stopping watches. */
  private get monitor(): EarlyStoppingMonitor {
    return this.options.earlyStopping?.monitor ?? 'valLoss';
  }

  /** The validation rows' labels in a message. */
  private get validationName(): string {
    return this.splitSeed !== null ? 'the validation rows (validationSplit\'s)' : 'validation.t';
  }

  /** Early stopping's best before any epoch: every value of its monitor improves on it. */
  private get noBest(): number {
    return this.monitor.endsWith('Acc') ? -Infinity : Infinity;
  }

  /** Records the watched figure; true when early stopping says stop (Keras's EarlyStopping.on_epoch_end). */
  private watchEarlyStop(record: EpochRecord): boolean {
    const es = this.options.earlyStopping;
    const value = record[this.monitor];
    if (!es || value === undefined) return false;
    // a warm-up's epochs are neither counted nor kept as the best
    if (record.epoch <= (es.startFromEpoch ?? 0)) return false;
    const minDelta = es.minDelta ?? 0;
    // Keras's and Lightning's tests, to the bit: `best − minDelta` rounds otherwise for some losses, and a run
    // stopped an epoch apart from theirs on the same losses
    const improves = this.monitor.endsWith('Acc') ? (reference: number) => value - minDelta > reference : (reference: number) => value + minDelta < reference;
    this.wait++;
    if (improves(this.bestValue)) {
      this.bestValue = value;
      this.bestEpoch = record.epoch;
      this.best?.save();
      // the count starts again only at a loss that also beats the baseline
      if (es.baseline === undefined || improves(es.baseline)) this.wait = 0;
      return false;
    }
    // Keras's and Lightning's count: patience 2 stops at the second epoch without improvement
    return this.wait >= es.patience;
  }

  private *evaluate(epoch: number, trainLoss: number, steps: number, epochStart: number, lr: number | undefined): Generator<Pause, EpochRecord> {
    const seconds = (now() - epochStart) / 1000;
    const limit = (rows: number) => (this.evalN === null ? rows : Math.min(this.evalN, rows));
    const tr = yield* this.evaluateSet(this.data.x, this.data.t, limit(this.data.length), 'xTrain'); // its accuracy only
    const te = yield* this.evaluateSet(this.xTest, this.tTest, limit(this.xTest.shape[0]), 'xTest');
    const record: EpochRecord = { epoch, trainLoss, trainAcc: tr.correct / tr.rows, testLoss: this.setLoss(te, epoch, 'tTest'), testAcc: te.correct / te.rows, steps, seconds };
    if (this.validation) {
      const va = yield* this.evaluateSet(this.validation.x, this.validation.t, this.validation.length, 'validation x');
      record.valLoss = this.setLoss(va, epoch, this.validationName);
      record.valAcc = va.correct / va.rows;
    }
    if (lr !== undefined) record.lr = lr;
    return record;
  }

  /** The network's sums (Sequential.evaluateSums) on rows [start, end), run again on the calling thread if a worker thread failed it. */
  private evaluateRows(x: Tensor, t: Targets, start: number, end: number): SetSums {
    const rows = x.rows(start, end), targets = sliceTargets(t, start, end);
    try {
      return this.network.evaluateSums(rows, targets);
    } catch (e) {
      const held = this.afterFault(e, this.iter, 'evaluation', this.network.rt.take(0)); // an evaluation draws nothing from the stream
      try {
        return this.network.evaluateSums(rows, targets);
      } finally {
        this.network.rt.holdSplits = held;
      }
    }
  }

  /**
   * The sums of the loss and accuracy over the first `rows` rows, in the net's chunks (a pause after each: 1,000
   * rows of an MLP, 100 images of a conv net, so fit() yields within ~35 ms of a DeepConvNet's evaluation). With
   * classWeights, the loss's sums and weights of every chunk (a chunk of labels that all weigh 0 adds 0 to both),
   * divided once for the whole set by setLoss (as net.evaluate does); without, each chunk's mean (decay terms
   * included) times its rows, over the rows, the figures' bits from before the weights were summed.
   */
  private *evaluateSet(x: Tensor, t: Targets, rows: number, what: string): Generator<Pause, SetSums> {
    const weighted = this.network.lastLayer.classWeights !== null;
    let lossSum = 0, lossWeight = 0, decay = 0, correct = 0;
    const chunk = this.network.evalBatchSize;
    for (let start = 0; start < rows; start += chunk) {
      // fit() pauses between chunks: the caller may have disposed the rows meanwhile
      checkTensor(this.network.rt, x, `Trainer: ${what}`);
      if (t instanceof Tensor || t instanceof IntTensor) checkTensor(this.network.rt, t, `Trainer: ${what === 'xTest' ? 'tTest' : what === 'xTrain' ? 'tTrain' : 'validation t'}`);
      const end = Math.min(rows, start + chunk);
      const r = this.evaluateRows(x, t, start, end);
      if (weighted) {
        lossSum += r.lossSum;
        lossWeight += r.lossWeight;
        decay = r.decay; // the parameters' terms, the same in every chunk
      } else {
        lossSum += (r.lossSum / r.lossWeight + r.decay) * (end - start);
        lossWeight += end - start;
      }
      correct += r.correct;
      yield null;
    }
    return { lossSum, lossWeight, decay, correct, rows };
  }

  /**
   * A set's loss from its sums: Σ lossSum / Σ lossWeight (plus the decay terms with classWeights). A set whose labels
   * all weigh 0 has none: the constructor refused such sets, so its labels were written over since (a RangeError).
   */
  private setLoss(sums: SetSums, epoch: number, set: string): number {
    if (sums.lossWeight === 0) throw new RangeError(`Trainer: epoch ${epoch}: ${weightlessSet(set, this.network.lastLayer.classWeights!)} (its labels were written over after the Trainer was made)`);
    return sums.lossSum / sums.lossWeight + sums.decay;
  }
}

/** A set's sums as evaluateSet adds them up (Sequential.evaluateSums' figures). */
interface SetSums { lossSum: number; lossWeight: number; decay: number; correct: number; rows: number }

/** The message for a set whose labels all weigh 0 under classWeights: its weighted mean loss is 0/0. */
function weightlessSet(set: string, classWeights: readonly number[]): string {
  return `every label of ${set} has class weight 0 (classWeights ${shownClassWeights(classWeights)}), so its weighted mean loss Σ w[tᵢ]·lossᵢ / Σ w[tᵢ] is 0/0; the set needs a label of positive weight`;
}

/**
 * Refuses, naming `set`, labels whose first `rows` all weigh 0 under the net's classWeights: the set's loss would be
 * 0/0 (a batch of them trains on nothing, a loss of 0). One-hot rows are divided by their rows, never by the weights.
 */
function checkWeightedSet(network: Sequential, t: Targets, rows: number, set: string): void {
  const w = network.lastLayer.classWeights;
  if (w === null || t instanceof Tensor) return;
  const labels = t instanceof IntTensor ? t.data : t;
  for (let i = 0; i < rows; i++) if (Math.fround(w[labels[i]]) !== 0) return; // the weights as the kernels take them
  throw new RangeError(`Trainer: ${weightlessSet(set, w)}`);
}

/**
 * The epoch's figure a stateful schedule watches: the validation (else training) accuracy for one that looks for
 * a rise (ReduceLROnPlateau's mode 'max', as PyTorch's `scheduler.step(val_acc)`), else the validation (else
 * training) loss: a loss fed to mode 'max' never improved while the net learnt, and cut the rate every few epochs.
 */
function watchedMetric(schedule: LRSchedule, record: EpochRecord): number {
  return (schedule as { mode?: unknown }).mode === 'max' ? record.valAcc ?? record.trainAcc : record.valLoss ?? record.trainLoss;
}

function emptyResult(): TrainResult {
  return { epochs: [], trainLossList: [], trainAccList: [], testAccList: [], valAccList: [], steps: 0, seconds: 0, stopReason: 'completed' };
}

const HOOKS = ['onTrainBegin', 'onEpochBegin', 'onStepEnd', 'onEpochEnd', 'onTrainEnd'];

/**
 * A callbacks object's hooks are functions, and no key that looks like a hook is a misspelt one
 * (`onEpochEnds`, `onBatchEnd`), which would never be called; other keys (a class's own state) pass.
 */
function checkCallbacks(who: string, callbacks: TrainerCallbacks): void {
  if (callbacks === null || typeof callbacks !== 'object') throw new TypeError(`${who} must be an object of hooks (${HOOKS.join(', ')})`);
  for (const key of HOOKS) {
    const hook = (callbacks as Record<string, unknown>)[key];
    if (hook !== undefined && typeof hook !== 'function') throw new TypeError(`${who}.${key} must be a function, got ${typeof hook}`);
  }
  for (const key of Object.keys(callbacks)) {
    if (/^on[A-Z]/.test(key) && !HOOKS.includes(key)) throw new TypeError(`${who}: unknown hook '${key}' (expected ${HOOKS.join(', ')})`);
  }
}

function checkInput(net: Sequential, x: Tensor, name: string): void {
  checkFloatTensor(net.rt, x, `Trainer: ${name}`);
  if (x.shape.length < 2) throw new RangeError(`Trainer: ${name} must have rows [N, …], got [${x.shape.join(', ')}]`);
  net.checkSamples(x, `Trainer: ${name}`);
}

function augmented(augment: RandomAffine | AugmentFn, x: Tensor, t: Tensor | IntTensor): Tensor {
  if (augment instanceof RandomAffine) return augment.apply(x);
  const out = augment(x, t);
  if (out === undefined || out === x) return x;
  if (!(out instanceof Tensor) || out.size !== x.size || out.shape.length !== x.shape.length || out.shape.some((d, i) => d !== x.shape[i])) {
    throw new TypeError(`Trainer: augment must change the batch in place or return a Tensor of its shape [${x.shape.join(', ')}]`);
  }
  checkFloatTensor(x.rt, out, "Trainer: augment's result");
  return out;
}


/**
 * Puts a checkpoint's losses (its trainer.trainLoss tensor, kept apart from the position's JSON) back into
 * the position's record, refusing a count that is not the position's steps; `from` names the caller in the error.
 */
export function putBackTrainLoss(position: { iter?: unknown; result?: unknown }, trainLoss: ArrayLike<number> | undefined, from: string): void {
  const result = position.result as { trainLossList?: number[] } | null | undefined;
  if (trainLoss === undefined || result === null || typeof result !== 'object') return;
  if (trainLoss.length !== position.iter) {
    throw new RangeError(`${from}: the checkpoint's trainer.trainLoss holds ${trainLoss.length} losses for the ${String(position.iter)} steps its position has done`);
  }
  result.trainLossList = Array.from(trainLoss);
}

/** A TrainerState's `random`: a RangeError naming it unless it is a position the runtime's randomState setter takes. */
function checkStreamPosition(random: unknown): void {
  const { seed, counter } = (random ?? {}) as { seed?: unknown; counter?: unknown };
  if (random === null || typeof random !== 'object' || !(Number.isInteger(seed) && (seed as number) >= 0 && (seed as number) <= 0xffffffff) || !(Number.isSafeInteger(counter) && (counter as number) >= 0)) {
    throw new RangeError(`Trainer.resume: random must be { seed: an integer in [0, 2^32), counter: a non-negative integer } (the runtime's randomState), got ${random !== null && typeof random === 'object' ? `{ seed: ${shown(seed)}, counter: ${shown(counter)} }` : describeValue(random)}`);
  }
}

/** Yields a hook's or write's promise (for fit() to await), with `from` naming what returned it; nothing for a plain return. */
function* awaited(r: void | Promise<void>, from: string): Generator<Pause, void> {
  if (r !== undefined && r !== null && typeof (r as PromiseLike<void>).then === 'function') yield { promise: r, from };
}

function sliceTargets(t: Targets, start: number, end: number): Targets {
  if (t instanceof Tensor || t instanceof IntTensor) return t.rows(start, end);
  return Array.prototype.slice.call(t, start, end) as number[];
}

function toJson(params: Record<string, { shape: number[]; data: Float32Array }>): Record<string, { shape: number[]; data: number[] }> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, { shape: v.shape, data: Array.from(v.data) }]));
}
