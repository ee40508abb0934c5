// The Trainer the schedule tests run their schedules in: a 2-[8]-2 MultiLayerNet on 40 rows of two blobs,
// 10 steps an epoch at batch 4, and the two optimizers whose momentum a cycling schedule sets.
import { makeRuntime } from './runtime.js';
import { blobs } from './blobs.js';
import { Adam, Momentum, MultiLayerNet, Trainer, type Optimizer, type TrainerBaseOptions } from '../../src/index.js';

/** The net, its Trainer with `optimizer` and `options`, on a runtime of its own; end() frees them. */
export async function scheduleTrainer(optimizer: Optimizer, options: TrainerBaseOptions, seed = 5) {
  const r = await makeRuntime({ seed });
  const net = new MultiLayerNet(r, { inputSize: 2, hiddenSizeList: [8], outputSize: 2 });
  const d = blobs(r, 40, 1, { spread: 0.5 });
  const trainer = new Trainer(net, d.x, d.t, d.x, d.t, { miniBatchSize: 4, optimizer, ...options });
  return { r, net, trainer, end: () => { trainer.dispose(); r.dispose(); } };
}

/** The option a cycling schedule sets: Adam's beta1, or Momentum's momentum. */
export const momentumOf = (opt: Optimizer): number => (opt as { beta1?: number }).beta1 ?? (opt as { momentum?: number }).momentum!;

/** An optimizer of each kind whose momentum a schedule cycles, with rates the schedules then replace. */
export const cyclingOptimizers: Array<[string, () => Optimizer]> = [
  ['Momentum', () => new Momentum({ lr: 0.3, momentum: 0.5 })],
  ['Adam', () => new Adam({ lr: 0.3, beta1: 0.5 })],
];
