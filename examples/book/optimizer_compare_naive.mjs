// The book's ch06/optimizer_compare_naive.py: SGD, Momentum, AdaGrad and Adam
// walking down f(x, y) = x²/20 + y² from (-7, 2) for 30 steps.
// Run: node examples/book/optimizer_compare_naive.mjs [--small]
import { createRuntime, SGD, Momentum, AdaGrad, Adam, optimizeScalars } from 'simdnn';

const rt = await createRuntime({ seed: 0, threads: 1 });
const f = (x, y) => x ** 2 / 20 + y ** 2;
const optimizers = { SGD: new SGD({ lr: 0.95 }), Momentum: new Momentum({ lr: 0.1 }), AdaGrad: new AdaGrad({ lr: 1.5 }), Adam: new Adam({ lr: 0.3 }) };

for (const [name, optimizer] of Object.entries(optimizers)) {
  // ∂f/∂x = x/10, ∂f/∂y = 2y; the path holds the start and 30 updates
  const path = optimizeScalars(rt, optimizer, { x: -7, y: 2 }, ({ x, y }) => ({ x: x / 10, y: 2 * y }), 30);
  const end = path.at(-1);
  console.log(`${name.padEnd(8)} end (${end.x.toFixed(4)}, ${end.y.toFixed(4)})  f = ${f(end.x, end.y).toExponential(3)}  ` +
    `path: ${path.slice(0, 5).map((p) => `(${p.x.toFixed(2)}, ${p.y.toFixed(2)})`).join(' ')} …`);
  optimizer.dispose();
}
rt.dispose(); // stops the worker threads, if any started; the process may exit before they have
