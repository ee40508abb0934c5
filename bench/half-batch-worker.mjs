// One worker of bench/half-batch-pair.mjs: its own 1-thread runtime and net, on half the batch.
import { workerData } from 'node:worker_threads';
import { CONTROL } from './half-batch-pair.mjs';

const { GO, DONE, STEPS, BARRIER, READY, QUIT, WAKE, RAN } = CONTROL;
const { id, buffer, net: netOptions, rows, optimizer: optimizerName, lr, warmMs } = workerData;
const ctl = new Int32Array(buffer, 0, 16);
const ms = new Float64Array(buffer, 64, 16);
// ms[0]: worker 0's running sum of the slower step; ms[1]: its running sum of each step's balanced time (below);
// ms[2 + id]: each worker's mean warm-up step, then its last step; ms[4 + id]: each worker's running sum of its steps

const { createRuntime } = await import('../dist/node/index.js');
const { MultiLayerNet, DeepConvNet, createOptimizer } = await import('../dist/index.js');
const rt = await createRuntime({ threads: 1 });
// netOptions: MultiLayerNet's options, or 'deep-conv' for the book's DeepConvNet on [rows, 1, 28, 28]
const deep = netOptions === 'deep-conv';
const net = deep ? new DeepConvNet(rt) : new MultiLayerNet(rt, netOptions);
const x = rt.uniform(rt.tensor(deep ? [rows, 1, 28, 28] : [rows, netOptions.inputSize]));
const t = rt.labels([rows], Int32Array.from({ length: rows }, (_, i) => (i * 7 + 3) % (deep ? 10 : netOptions.outputSize)));
const optimizer = createOptimizer(optimizerName, { lr });
const initial = Object.values(net.params).map((p) => [p, p.toArray()]);
const restore = () => { for (const [p, values] of initial) p.set(values); };
const step = () => { net.gradient(x, t); optimizer.update(net.params, net.grads); };

let warmSteps = 0;
const warmStart = performance.now();
do { restore(); step(); warmSteps++; } while (performance.now() < warmStart + warmMs);
ms[2 + id] = (performance.now() - warmStart) / warmSteps; // with the restores: sizes the first block

// both workers spin here until the other arrives (each adds 1 per barrier)
let passed = 0;
const barrier = () => { passed += 2; Atomics.add(ctl, BARRIER, 1); while (Atomics.load(ctl, BARRIER) < passed); };

Atomics.add(ctl, READY, 1);
for (let blocks = 0; ; blocks++) {
  Atomics.wait(ctl, GO, blocks);
  if (Atomics.load(ctl, QUIT)) break;
  const steps = Atomics.load(ctl, STEPS), wake = Atomics.load(ctl, WAKE);
  if (id === 0) ms[0] = ms[1] = ms[4] = ms[5] = 0;
  // steps -wake to -1 are untimed, as the first calls of each of the split step's blocks are (threads.bench.mjs)
  for (let i = -wake; i < steps; i++) {
    restore();
    barrier();
    const t0 = performance.now();
    step();
    ms[2 + id] = performance.now() - t0;
    barrier();
    if (id === 0) Atomics.add(ctl, RAN, 1);
    if (id === 0 && i >= 0) {
      const a = ms[2], b = ms[3];
      ms[0] += Math.max(a, b);
      // the step with its rows split between the two in proportion to their speeds in it (a and b for half each)
      ms[1] += (2 * a * b) / (a + b);
      ms[4] += a;
      ms[5] += b;
    }
  }
  if (Atomics.add(ctl, DONE, 1) === 1) Atomics.notify(ctl, DONE);
}
net.dispose();
rt.dispose();
