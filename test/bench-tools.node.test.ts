// The bench's own tools (bench/*.mjs), run as the bench runs them: the NumPy peer's block protocol, the
// no-sharing pair of workers for both nets, the coherence probe, the alternating blocks of ours and a
// peer, the spill check's loop finder, the candidate tiles' arithmetic. What they measure are timings,
// which tests never judge: these check that each tool answers, in the shape the bench reads, and shuts
// down.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NUMPY_SPIN_MS, NumpyPeer } from '../bench/numpy-peer.mjs';
import { HalfBatchPair } from '../bench/half-batch-pair.mjs';
import { coherence, coherenceReport } from '../bench/coherence.mjs';
import { generation, runSuite, Suite, timePaired } from '../bench/harness.mjs';
import { kernelLoops } from '../bench/spill-check.mjs';
import { chooseCpu } from '../bench/cores.mjs';
import { registerOnlyChains } from '../bench/peak.bench.mjs';
import { KC, ROWS, TILES, setUp } from '../bench/tiles.bench.mjs';
import { pairedMs } from '../bench/threads.bench.mjs';

const script = (name: string) => fileURLToPath(new URL(`../bench/${name}`, import.meta.url));
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;

describe.skipIf(!hasNumpy)('NumpyPeer (python3 + numpy)', () => {
  it.each([
    ['mlp_numpy.py', ['--optimizer=adam']],
    ['deepconvnet_numpy.py', ['--case=conv:1,6,2,1,backward']],
  ])('%s --serve times blocks on request and exits at the end of its input', async (name, args) => {
    const peer = await NumpyPeer.start(script(name), [...args, '--time=20', '--clock=wall'], 1);
    expect(peer).toBeInstanceOf(NumpyPeer);
    expect(peer.blas).toMatch(/^numpy \d/);
    for (let i = 0; i < 2; i++) {
      const r = await peer.block(5);
      expect(positive(r.ms)).toBe(true);
      expect(Number.isInteger(r.steps) && r.steps >= 1).toBe(true);
      expect(r.untimed).toBe(0);
    }
    // a wake-up first: untimed steps, one at least, then the timed ones
    const woken = await peer.block(5, 1e-3);
    expect(woken.untimed).toBe(1);
    expect(woken.steps).toBeGreaterThanOrEqual(1);
    const t0 = performance.now();
    const longer = await peer.block(1, 60);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(60);
    expect(longer.untimed).toBeGreaterThanOrEqual(1);
    await peer.close();
    expect(peer.child.exitCode).toBe(0);
  });

  it('quiet() waits out the BLAS threads spinning after a block: the peer then uses no CPU', async () => {
    const peer = await NumpyPeer.start(script('mlp_numpy.py'), ['--optimizer=sgd', '--time=20', '--clock=wall'], 2);
    expect(peer).toBeInstanceOf(NumpyPeer);
    try {
      await peer.block(20);
      const ticks = peer.cpuTicks();
      expect(Number.isInteger(ticks)).toBe(process.platform === 'linux');
      if (ticks === null) return;
      await peer.quiet();
      const idle = peer.cpuTicks();
      // the BLAS threads did spin after the block (else this test would show nothing of quiet())
      expect(idle).toBeGreaterThan(ticks);
      await new Promise((r) => setTimeout(r, 100));
      expect(peer.cpuTicks()).toBe(idle);
    } finally {
      await peer.close();
    }
    // gone: no CPU time to read, and quiet() falls back to a fixed wait
    expect(peer.cpuTicks()).toBeNull();
    const t0 = performance.now();
    await peer.quiet();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(NUMPY_SPIN_MS - 5);
  });

  it('a script that fails to start gives an error cell naming its exit, not a hang', async () => {
    const r = await NumpyPeer.start(script('mlp_numpy.py'), ['--no-such-flag'], 1);
    expect(r).not.toBeInstanceOf(NumpyPeer);
    expect(r.error).toMatch(/python3 exited 1: .*unknown argument '--no-such-flag'/);
  });
});

describe('HalfBatchPair', () => {
  it.each([
    ['the MLP', { inputSize: 12, hiddenSizeList: [8, 8], outputSize: 3 }],
    ['the DeepConvNet', 'deep-conv'],
  ])('two workers step %s on half the batch each, block after block, timing each worker and the balanced step', async (_, net) => {
    const pair = await HalfBatchPair.start({ net, batch: 4, optimizer: 'adam', lr: 0.001, warmMs: 0 });
    try {
      expect(positive(pair.stepMs)).toBe(true);
      for (let i = 0; i < 3; i++) {
        // untimed steps first: one at least, else about wakeMs of them
        const wakeMs = i === 2 ? 30 : 0, stepMs = pair.stepMs;
        const r = pair.block(1, wakeMs);
        expect(r.untimed).toBe(Math.max(1, Math.ceil(wakeMs / stepMs)));
        expect(positive(r.ms)).toBe(true);
        expect(r.steps).toBeGreaterThanOrEqual(3);
        // each step's balanced time 2ab/(a + b) is at most the workers' mean (a + b)/2, which is at most the slower's, max(a, b)
        const mean = (r.workerMs[0] + r.workerMs[1]) / 2;
        expect(r.workerMs.every((w: number) => positive(w) && w <= r.ms * (1 + 1e-12))).toBe(true);
        expect(positive(r.balancedMs) && r.balancedMs <= mean * (1 + 1e-12)).toBe(true);
      }
    } finally {
      await pair.close();
    }
  });
});

describe('threads topic: pairedMs', () => {
  it('in the relaxed pass, times the plain build on as many threads in the same rounds and notes relaxed\'s speed over it', async () => {
    const threads: number[] = [];
    let calls = 0;
    const make = (rt: any) => {
      threads.push(rt.features.threads);
      const n = 64, a = rt.randn(rt.tensor([n, n])), c = rt.tensor([n, n]);
      return {
        fn: () => { calls++; rt.unsafeGemm(0, 0, n, n, n, a.ptr, n, a.ptr, n, c.ptr, n); },
        rt,
        dispose: () => { a.dispose(); c.dispose(); rt.dispose(); },
      };
    };
    const r = await pairedMs(make, { time: 100 }, { relaxed: true, roundTrip: false });
    expect(threads, 'the relaxed side and the plain one, both on 2 threads').toEqual([2, 2]);
    expect(r.one).toBeUndefined();
    expect(positive(r.two)).toBe(true);
    expect(calls).toBeGreaterThan(40);
    expect(r.note).toMatch(/; plain build on 2 threads in the same rounds: [0-9.]+ ms, relaxed [0-9.]+× its speed/);
  }, 60_000);
});

describe('coherence', () => {
  it('gives the four figures, in µs, and one line for them', async () => {
    const c = await coherence();
    expect(c.kb).toBe(256);
    for (const k of ['readOwn', 'readOther', 'writeOwn', 'writeShared'] as const) expect(positive(c[k])).toBe(true);
    expect(coherenceReport(c)).toMatch(/^overwriting 256 KB the other thread had read: [\d.]+ µs .*reading 256 KB the other had written: [\d.]+ µs/);
  });
});

describe('timePaired', () => {
  it('times two functions in alternating blocks, each side first in every other round, and gives each a time per call', () => {
    const order: number[] = [];
    const calls = [0, 0];
    let resets = 0, sink = 0, fresh = false;
    const [a, b] = timePaired([
      { fn: () => { calls[0]++; } },
      // side 1 needs its beforeEach before every call
      { fn: () => { expect(fresh).toBe(true); fresh = false; calls[1]++; for (let i = 0; i < 1000; i++) sink += i; }, beforeEach: () => { fresh = true; resets++; } },
    ], 200, 'wall', (side: number) => order.push(side));
    expect(order).toEqual(Array.from({ length: 10 }, (_, r) => (r % 2 ? [1, 0] : [0, 1])).flat());
    expect(positive(a) && positive(b)).toBe(true);
    expect(calls[0]).toBeGreaterThan(10);
    expect(calls[1]).toBeGreaterThan(10);
    expect(resets).toBe(calls[1]);
    expect(sink).toBeGreaterThan(0);
  });

  it('times three sides (ours, TF.js and the peak loop) in every order once per six rounds, and gives each a time per call', () => {
    const order: number[][] = [];
    let round: number[] = [];
    const calls = [0, 0, 0];
    let sink = 0;
    const spin = (side: number, n: number) => () => { calls[side]++; for (let i = 0; i < n; i++) sink += i; };
    const ms = timePaired([{ fn: spin(0, 100) }, { fn: spin(1, 1000) }, { fn: spin(2, 10_000) }], 300, 'wall', (side: number) => {
      round.push(side);
      if (round.length === 3) { order.push(round); round = []; }
    });
    expect(order).toHaveLength(10);
    expect(new Set(order.slice(0, 6).map((o) => o.join(''))).size, 'six different orders').toBe(6);
    for (const o of order) expect([...o].sort()).toEqual([0, 1, 2]);
    expect(ms).toHaveLength(3);
    for (const m of ms) expect(positive(m)).toBe(true);
    expect(Math.min(...calls)).toBeGreaterThan(10);
    expect(sink).toBeGreaterThan(0);
  });
});

describe('cores: the CPU a pinned case runs on', () => {
  it('takes the fastest CPU, and keeps the current one unless another is over 2% faster', () => {
    expect(chooseCpu([0, 1], [10, 12], null)).toBe(1);
    expect(chooseCpu([0, 1], [10, 10.1], 0)).toBe(0);
    expect(chooseCpu([0, 1], [10.1, 10], 1)).toBe(1);
    expect(chooseCpu([0, 1], [10, 10.5], 0)).toBe(1);
    expect(chooseCpu([0, 1, 2], [10, 10.1, 11], 0)).toBe(2);
  });

  it.skipIf(os.cpus().length < 2)('pins the whole process to the CPU it chose (taskset), where it then stays', () => {
    const cores = new URL('../bench/cores.mjs', import.meta.url).href;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { readFileSync } from 'node:fs';
      import { Worker } from 'node:worker_threads';
      const { pinToFastestNow } = await import(${JSON.stringify(cores)});
      const w = new Worker('setInterval(() => {}, 1000)', { eval: true });
      await new Promise((r) => w.once('online', r));
      let sink = 0;
      const chosen = pinToFastestNow(() => { for (let i = 0; i < 1e4; i++) sink += i; }, [0, 1], null);
      const allowed = (tid) => readFileSync('/proc/self/task/' + tid + '/status', 'utf8').match(/Cpus_allowed_list:\\s*(\\S+)/)[1];
      const tasks = (await import('node:fs')).readdirSync('/proc/self/task');
      console.log(JSON.stringify({ chosen, allowed: tasks.map(allowed), sink: sink > 0 }));
      process.exit(0);`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { chosen, allowed, sink } = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(sink).toBe(true);
    expect([0, 1]).toContain(chosen.cpu);
    expect(chosen.rates).toHaveLength(2);
    for (const rate of chosen.rates) expect(positive(rate)).toBe(true);
    expect(allowed.length, 'the main thread, V8\'s and the worker\'s').toBeGreaterThan(2);
    for (const cpus of allowed) expect(cpus).toBe(String(chosen.cpu));
  });
});

describe('machine: the CPU the bench prints', () => {
  it('names the generation of the server cores met so far, and of none it does not know', () => {
    expect(generation('GenuineIntel', '6', '207')).toBe('Emerald Rapids');
    expect(generation('GenuineIntel', '6', '143')).toBe('Sapphire Rapids');
    expect(generation('AuthenticAMD', '25', '1')).toBe('Zen 3 (Milan)');
    expect(generation('AuthenticAMD', '25', '17')).toBe('Zen 4 (Genoa)');
    expect(generation('AuthenticAMD', '26', '2')).toBe('Zen 5 (Turin)');
    expect(generation('AuthenticAMD', '26', '207')).toBeNull();
    expect(generation('?', '?', '?')).toBeNull();
  });
});

describe('runSuite, plain pass', () => {
  it('moves the pinned child again (beforeCase) before each peer timed on its own, not only before ours', async () => {
    const events: string[] = [];
    const suite = new Suite({ quick: true, relaxed: false, time: 50 });
    suite.topic = 'conv';
    suite.add('step', {
      ours: () => { events.push('prepare ours'); return () => {}; },
      external: { numpy: async () => { events.push('numpy'); return 1; }, other: async () => { events.push('other'); return 2; } },
    });
    const [row] = await runSuite(suite, {}, () => {}, { beforeCase: (c: { name: string }) => events.push(`before ${c.name}`) });
    expect(events).toEqual(['before step', 'prepare ours', 'before step', 'numpy', 'before step', 'other']);
    expect(row.peers.numpy.ms).toBe(1);
  });
});

describe('runSuite, relaxed pass', () => {
  // stand-ins for the two runtimes: each case's setup sees which one it runs on
  const relaxedRt = { build: 'relaxed' }, plainRt = { build: 'plain' };
  const relaxedSuite = (cases: Array<[string, Record<string, unknown>]>) => {
    const suite = new Suite({ quick: true, relaxed: true, time: 100 });
    suite.topic = 'gemm';
    for (const [name, spec] of cases) suite.add(name, spec);
    return suite;
  };

  it('times each case on the plain runtime too, in the same rounds, and notes the plain figure and relaxed\'s speed over it', async () => {
    const calls: Record<string, number> = { relaxed: 0, plain: 0 };
    const events: string[] = [];
    let disposed = 0;
    const suite = relaxedSuite([
      ['step', { ours: (rt: { build: string }) => {
        events.push(`prepare step ${rt.build}`);
        return { fn: () => { calls[rt.build]++; }, dispose: () => { disposed++; } };
      } }],
      ['gflops', { flops: 1e6, ours: (rt: { build: string }) => { events.push(`prepare gflops ${rt.build}`); return () => { calls[rt.build]++; }; } }],
    ]);
    const rows = await runSuite(suite, relaxedRt, () => {}, { plainRt, beforeCase: (c: { name: string }) => events.push(`before ${c.name}`) });
    expect(events, 'beforeCase (where the pinned child moves) runs before each case is prepared').toEqual(
      ['before step', 'prepare step relaxed', 'prepare step plain', 'before gflops', 'prepare gflops relaxed', 'prepare gflops plain']);
    expect(calls.relaxed).toBeGreaterThan(10);
    expect(calls.plain).toBeGreaterThan(10);
    expect(disposed, 'both sides of the first case disposed').toBe(2);
    for (const row of rows) {
      expect(positive(row.ours.ms) && positive(row.ours.reference?.ms)).toBe(true);
      const ratio = (row.ours.reference.ms / row.ours.ms).toFixed(2);
      expect(row.ours.note).toContain(`relaxed ${ratio}× its speed`);
    }
    expect(rows[0].ours.note).toMatch(/^plain build in the same rounds [0-9.]+ ms, /);
    expect(rows[1].ours.note).toMatch(/^plain build in the same rounds [0-9.]+ GFLOP\/s, /);
  });

  it('leaves out a case marked reference: false, and every case without a plain runtime', async () => {
    const calls: Record<string, number> = { relaxed: 0, plain: 0 };
    const spec = (reference: boolean) => ({ reference, ours: (rt: { build: string }) => () => { calls[rt.build]++; } });
    const [marked] = await runSuite(relaxedSuite([['marked', spec(false)]]), relaxedRt, () => {}, { plainRt });
    const [alone] = await runSuite(relaxedSuite([['alone', spec(true)]]), relaxedRt, () => {});
    expect(calls.plain).toBe(0);
    expect(calls.relaxed).toBeGreaterThan(0);
    for (const row of [marked, alone]) {
      expect(row.ours.reference).toBeUndefined();
      expect(positive(row.ours.ms)).toBe(true);
    }
  });
});

describe('spill check: which loops of V8\'s code are k loops', () => {
  /** One function of `--print-wasm-code` output: [offset, instruction] pairs. */
  const fn = (lines: [number, string][]) => [{ name: 'wasm-function[0]', ins: lines.map(([off, text]) => ({ off, text })) }];
  const jump = (op: string, to: number) => `${op} 0x7f0000000000  <+0x${to.toString(16)}>`;
  const fmas = (from: number, n: number): [number, string][] =>
    Array.from({ length: n }, (_, i) => [from + 4 * i, `vfmadd231ps xmm${i},xmm13,xmm14`] as [number, string]);

  it('takes the inner loop, not an outer loop whose back edge V8 placed inside the inner loop\'s range', () => {
    // outer [0x10, 0x80] spills a general register once a row; inner [0x40, 0xa0] is the k loop
    const loops = kernelLoops(fn([
      [0x10, 'addl rcx,0x1'], [0x14, 'REX.W movq [rbp-0xe0],rsi'], [0x1c, 'movl r15,[rbp-0xe0]'],
      ...fmas(0x40, 8), [0x80, jump('jnc', 0x10)], ...fmas(0x84, 4), [0xa0, jump('jc', 0x40)], [0xb0, 'ret'],
    ]));
    expect(loops.map((l: { start: number; end: number }) => [l.start, l.end])).toEqual([[0x40, 0xa0]]);
    expect(loops[0].bad).toEqual([]);
  });

  it('still finds and fails a k loop that spills, whatever the out-of-line code after `ret` jumps back into', () => {
    const loops = kernelLoops(fn([
      ...fmas(0x40, 8), [0x60, 'vmovups [rbp-0x50],xmm0'], [0x68, 'vmovups xmm0,[rbp-0x50]'], [0x70, jump('jl', 0x40)],
      [0x80, 'ret'], [0x90, 'call 0x7f0000000100'], [0x98, jump('jmp', 0x48)],
    ]));
    expect(loops.map((l: { start: number; end: number }) => [l.start, l.end])).toEqual([[0x40, 0x70]]);
    expect(loops[0].bad.map((x: { text: string }) => x.text)).toEqual(['vmovups [rbp-0x50],xmm0', 'vmovups xmm0,[rbp-0x50]']);
  });

  it('finds a k loop whose stack check V8 placed out of line after `retl`, jumping back into its body', () => {
    // V8 prints `retl`; the out-of-line code's `jmp` back into the loop's body is no loop, and must not hide the k loop
    // as an outer loop laid out across it (the k loop of wasm-function[92] went unchecked that way)
    const loops = kernelLoops(fn([
      ...fmas(0x40, 8), [0x60, 'vmovups [rbp-0x50],xmm0'], [0x68, 'vmovups xmm0,[rbp-0x50]'], [0x70, jump('jnz', 0x40)],
      [0x80, 'retl'], [0x90, 'vmovups [rbp-0x30],xmm2'], [0x98, 'call 0x7f0000000100'], [0xa0, 'vmovups xmm2,[rbp-0x30]'], [0xa8, jump('jmp', 0x44)],
    ]));
    expect(loops.map((l: { start: number; end: number }) => [l.start, l.end])).toEqual([[0x40, 0x70]]);
    expect(loops[0].bad.map((x: { text: string }) => x.text)).toEqual(['vmovups [rbp-0x50],xmm0', 'vmovups xmm0,[rbp-0x50]']);
  });
});

describe('peak: the chain counts whose loop V8 keeps in registers', () => {
  it.skipIf(process.arch !== 'x64')('reads V8\'s code: 8 chains (10 live vectors) stay in registers, 16 (18 vectors for 16 XMM registers) spill', () => {
    for (const relaxed of [false, true]) {
      const chains = registerOnlyChains(relaxed);
      expect(chains, relaxed ? 'relaxed' : 'plain').toContain(8);
      expect(chains, relaxed ? 'relaxed' : 'plain').not.toContain(16);
    }
  });
});

describe('tiles: candidate GEMM micro-kernel tiles', () => {
  it('compiles, and every candidate computes the ROWS × 8 block in GEMM\'s order (plain build: each product rounded, then each sum, k in order)', () => {
    const { runs, a, b0, first, lastPanel, block } = setUp(false);
    expect(runs).toHaveLength(TILES.length);
    const f = Math.fround;
    const expected = (b: Float32Array) => Float32Array.from({ length: ROWS * 8 }, (_, e) => {
      const i = e >> 3, j = e & 7;
      let c = 0;
      for (let k = 0; k < KC; k++) c = f(c + f(a[i * KC + k] * b[k * 8 + j]));
      return c;
    });
    const fromFirst = expected(b0);
    for (const c of first) expect(c).toEqual(fromFirst);
    // a timed run, in its candidate's order (by A panel or by B panel), ends with A times the last B panel
    const fromLast = expected(lastPanel());
    expect(fromLast).not.toEqual(fromFirst);
    runs.forEach((run: () => void, t: number) => {
      run();
      expect(block(t), TILES[t][0]).toEqual(fromLast);
    });
  });

  it('compiles the relaxed build too, its candidates agreeing bit for bit', async () => {
    // Node 20 validates relaxed SIMD only behind a V8 flag (as test/helpers/runtime.ts makeRelaxedRuntime)
    const v8 = await import('node:v8');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    try {
      const { runs } = setUp(true);
      expect(runs).toHaveLength(TILES.length);
    } finally {
      v8.setFlagsFromString('--no-experimental-wasm-relaxed-simd');
    }
  });
});
