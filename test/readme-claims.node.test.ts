// README claims that no other test pins (session 69's audit of the README): each test fails when the
// behaviour the README states changes.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeRuntime } from './helpers/runtime.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { Affine } from '../src/layers/affine.js';
import { Sequential, classificationMetrics } from '../src/index.js';
import { parseTrainArgs } from '../src/node/cli/train.js';

let rt: Runtime;
beforeAll(async () => { rt = await makeRuntime({ seed: 3 }); });

describe('README: classificationMetrics', () => {
  it("takes the macro mean over every class of the net (labels=range(classes)): 4 rows of two classes, all right, among 10 have macro F1 0.2", () => {
    // an identity Affine: the outputs are the rows written here, so row r predicts `pred[r]`
    const C = 10, W = rt.tensor([C, C]), b = rt.tensor([C]);
    for (let i = 0; i < C; i++) W.data[i * C + i] = 1;
    const net = new Sequential(rt, [new Affine(W, b)]);
    const truth = [0, 0, 6, 6];
    const x = rt.tensor([4, C], truth.flatMap((c) => Array.from({ length: C }, (_, j) => (j === c ? 1 : 0))));
    const m = classificationMetrics(net, x, truth);
    expect(m.accuracy).toBe(1);
    // scikit-learn's default labels (the classes present, 0 and 6) would give 1
    expect(m.macro.f1).toBeCloseTo(0.2, 15);
    expect(m.macro.precision).toBeCloseTo(0.2, 15);
    expect(m.macro.recall).toBeCloseTo(0.2, 15);
    // the support-weighted means leave the absent classes out by their weight
    expect(m.weighted.f1).toBe(1);
    x.dispose();
    net.dispose();
    W.dispose();
    b.dispose();
  });
});

describe('README: simdnn train --lr-schedule', () => {
  it('takes swalr among the schedules, with its text option annealStrategy', () => {
    const s = parseTrainArgs(['--lr-schedule', 'swalr:swaLr=0.05,annealEpochs=2,annealStrategy=linear']);
    expect(s.lrSchedule).toEqual({ name: 'swalr', options: { swaLr: 0.05, annealEpochs: 2, annealStrategy: 'linear' } });
  });
});
