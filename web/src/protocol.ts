// Messages between the page (main.ts) and the training worker (worker.ts).
import type { OptimizerName } from 'simdnn';
import type { ExperimentName } from 'simdnn/experiments';
import type { CsvModelInfo } from 'simdnn/csv';

/** What the page's controls choose for one run. */
export interface RunConfig {
  net: 'mlp' | 'mlp-extend' | 'simple-conv' | 'deep-conv';
  /** Hidden layer sizes of the MLPs, e.g. [100, 100]. */
  hidden: number[];
  activation: 'relu' | 'sigmoid' | 'tanh';
  init: 'he' | 'xavier' | number;
  batchnorm: boolean;
  dropout: number;
  /** Label smoothing ε of the loss (0: none), for every net. */
  labelSmoothing: number;
  optimizer: OptimizerName;
  lr: number;
  /** onecycle: OneCycleLR per step from lr / 25 up to lr and down, cycling momentum or beta1 where the optimizer has one. */
  schedule: 'none' | 'step' | 'exponential' | 'cosine' | 'onecycle';
  /** Decay factor of the step and exponential schedules. */
  gamma: number;
  weightDecay: number;
  batchSize: number;
  epochs: number;
  /** Train on the CSV table the page sent (a 'table' message) rather than the digits: its label column and test share. */
  table?: { label: string; testSplit: number };
}

/**
 * The seed of a table's train/test split: simdnn train's default --seed, so a page run splits a table as
 * `simdnn train --data t.csv --label y` does (the page has no seed field: the runtime's is fixed at 1 too).
 */
export const TABLE_SPLIT_SEED = 1;

/** A run's test-set classification metrics (classificationMetrics'), with the class names of a table. */
export interface TestMetrics {
  classes: string[];
  accuracy: number;
  rows: number;
  perClass: Array<{ precision: number; recall: number; f1: number; support: number }>;
  /** confusion[true][predicted] */
  confusion: number[][];
}

export type ToWorker =
  | { type: 'start'; runId: number; config: RunConfig }
  | { type: 'pause' } | { type: 'resume' } | { type: 'stop' }
  | { type: 'predict'; pixels: Float32Array }
  | { type: 'sample' }
  /** The current model as a file: safetensors (loadModel, simdnn predict) or ONNX (exportOnnx: ONNX Runtime, simdnn predict). */
  | { type: 'save'; format: 'safetensors' | 'onnx' }
  | { type: 'load'; bytes: Uint8Array; name: string }
  /** A CSV table to train on (its bytes; the worker answers with its columns, or an error naming the line). */
  | { type: 'table'; bytes: Uint8Array; name: string }
  | { type: 'experiment'; name: ExperimentName; quick: boolean };

export interface EpochPoint { epoch: number; trainAcc: number; testAcc: number; trainLoss: number; testLoss: number }

export type FromWorker =
  | { type: 'ready'; threads: number; isolated: boolean; notes: string[]; trainRows: number; testRows: number }
  /** Each step's loss, and the learning rate it stepped with. */
  | { type: 'steps'; runId: number; points: Array<{ iter: number; loss: number; lr: number }> }
  | { type: 'epoch'; runId: number; point: EpochPoint }
  | { type: 'state'; runId: number; state: 'running' | 'paused' | 'stopped' | 'done' | 'failed'; message?: string }
  | { type: 'prediction'; probabilities: number[] }
  | { type: 'sample'; pixels: Float32Array; label: number }
  | { type: 'saved'; bytes: Uint8Array; fileName: string }
  /** The model loaded; `csv`, when it was trained on a table, what it records of it (the page goes to table mode). */
  | { type: 'loaded'; name: string; summary: string; csv?: CsvModelInfo }
  /** A table read: its header's column names and its data rows. */
  | { type: 'table'; name: string; columns: string[]; rows: number }
  /** A table run's metrics on its test rows, once it ended (done or stopped). */
  | { type: 'metrics'; runId: number; metrics: TestMetrics }
  | { type: 'experimentProgress'; done: number; total: number; phase: string }
  | { type: 'experimentDone'; title: string; conclusion: string; spec: Record<string, unknown> }
  /** The experiment ended because Stop aborted it (not a failure). */
  | { type: 'experimentStopped' }
  | { type: 'error'; message: string };

/**
 * Which of the page's network settings a net uses: worker.ts's netSpec passes exactly these to the library
 * (its conv nets take no weight decay, as in the book; DeepConvNet is always He-initialised and ReLU; SimpleConvNet
 * is ReLU). The page disables the others and leaves them out of a run's label.
 */
export function netUses(net: RunConfig['net']): { hidden: boolean; activation: boolean; init: boolean; weightDecay: boolean; batchnorm: boolean; dropout: boolean } {
  const mlp = net === 'mlp' || net === 'mlp-extend';
  return { hidden: mlp, activation: mlp, init: net !== 'deep-conv', weightDecay: mlp, batchnorm: net === 'mlp-extend', dropout: net === 'mlp-extend' };
}

/** Whether a schedule uses gamma (the step and exponential ones). */
export const scheduleUsesGamma = (schedule: RunConfig['schedule']): boolean => schedule === 'step' || schedule === 'exponential';
