// The inputs of the facade's known-answer checks (src/runtime/known-answers.ts,
// whose knownInts is this kernel's reference): n small integers in [-3, 3] as
// floats, from a linear congruential sequence started at seed. Generated here
// because the facade's loop runs once per process, in V8's interpreter: GEMM's
// ~9,400 inputs took ~0.6 ms of a cold start there. Wrong values from a broken
// host only make the check fail, as its wrong sums would.
export function knownInts(out: usize, n: i32, seed: u32): void {
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = s * 1664525 + 1013904223;
    store<f32>(out + (<usize>i << 2), <f32>(<i32>((s >>> 24) % 7) - 3));
  }
}
