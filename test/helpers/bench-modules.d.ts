// The bench's tools are plain JavaScript (bench/*.mjs) with no declarations: the modules
// test/bench-tools.node.test.ts imports, untyped (what it reads of them, it checks at run time).
// A module named here only: any other .mjs a test imports still needs a decision.
declare module '*/bench/numpy-peer.mjs';
declare module '*/bench/half-batch-pair.mjs';
declare module '*/bench/coherence.mjs';
declare module '*/bench/harness.mjs';
declare module '*/bench/spill-check.mjs';
declare module '*/bench/cores.mjs';
declare module '*/bench/peak.bench.mjs';
declare module '*/bench/tiles.bench.mjs';
declare module '*/bench/threads.bench.mjs';
