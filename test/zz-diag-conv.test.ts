import { it } from 'vitest';
import { makeRuntime, randomArray } from './helpers/runtime.js';
import { SimpleConvNet } from '../src/index.js';
it('diag', async () => {
  const rt = await makeRuntime({ seed: 5 });
  for (const h of [1e-2, 3e-3, 1e-3]) for (const std of [0.3, 1]) {
    rt.reseed(5);
    const net = new SimpleConvNet(rt, { inputDim: [1, 8, 8], convParam: { filterNum: 3, filterSize: 3, pad: 1, stride: 1 }, hiddenSize: 6, outputSize: 4, weightInitStd: std });
    const x = rt.tensor([2, 1, 8, 8], randomArray(128, 2));
    const num = net.numericalGradient(x, [1, 3], h);
    const g = net.gradient(x, [1, 3]);
    const out: string[] = [];
    for (const k of Object.keys(g)) {
      let md = 0, sc = 0, at = -1;
      for (let i = 0; i < num[k].length; i++) { const d = Math.abs(g[k].data[i] - num[k][i]); if (d > md) { md = d; at = i; } sc = Math.max(sc, Math.abs(num[k][i])); }
      out.push(`${k} diff ${md.toExponential(2)} scale ${sc.toExponential(2)} at ${at} a=${g[k].data[at]?.toExponential(3)} n=${num[k][at]?.toExponential(3)}`);
    }
    console.log(`h ${h} std ${std} loss ${net.lastLoss}\n  ` + out.join('\n  '));
    net.dispose();
  }
});
