import { createRuntime, DeepConvNet, createOptimizer } from 'simdnn';
const rt = await createRuntime({ threads: Number(process.argv[2] || 1), relaxed: process.argv[3] === 'relaxed' });
const net = new DeepConvNet(rt);
const x = rt.uniform(rt.tensor([100, 1, 28, 28]));
const t = rt.labels([100], Int32Array.from({ length: 100 }, (_, i) => (i * 7 + 3) % 10));
const adam = createOptimizer('adam', { lr: 0.001 });
for (let i = 0; i < 3; i++) { net.gradient(x, t); adam.update(net.params, net.grads); }
const t0 = performance.now(); const n = 10;
for (let i = 0; i < n; i++) { net.gradient(x, t); adam.update(net.params, net.grads); }
console.log('step ms', ((performance.now() - t0) / n).toFixed(1), 'threads', rt.features.threads, rt.features.relaxed ? 'relaxed' : 'plain');
rt.dispose();
