// Candidate GEMM micro-kernel tiles for the `tiles` bench topic
// (tiles.bench.mjs compiles this file for the pass's build). Each export runs
// one packed B panel (8 columns × kc) against the `panels` packed A panels of
// an A block, as gemm.ts's blockRows does, and stores the tiles to c, a block
// of 8 columns in row order. Only the
// k loop differs between them; madd is the shipped builds' own (tile.ts), so
// every candidate computes each C element in the same order with the same bits.
import { madd } from "../assembly/tile";

// gemm.ts's micro6x8 in the plain build: 6 rows, each A value broadcast once per B
// vector (a2 keeps Binaryen from merging the two loads), 15 live vectors.
function broadcastTwice6x8Tile(kc: i32, a0: usize, b0p: usize, ct: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0), c50 = f32x4.splat(0), c51 = f32x4.splat(0);
  let a = a0, a2 = a, b = b0p;
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    c00 = madd(v128.load32_splat(a), b0, c00); c01 = madd(v128.load32_splat(a2), b1, c01);
    c10 = madd(v128.load32_splat(a, 4), b0, c10); c11 = madd(v128.load32_splat(a2, 4), b1, c11);
    c20 = madd(v128.load32_splat(a, 8), b0, c20); c21 = madd(v128.load32_splat(a2, 8), b1, c21);
    c30 = madd(v128.load32_splat(a, 12), b0, c30); c31 = madd(v128.load32_splat(a2, 12), b1, c31);
    c40 = madd(v128.load32_splat(a, 16), b0, c40); c41 = madd(v128.load32_splat(a2, 16), b1, c41);
    c50 = madd(v128.load32_splat(a, 20), b0, c50); c51 = madd(v128.load32_splat(a2, 20), b1, c51);
    a += 24; a2 += 24; b += 32;
  }
  v128.store(ct, c00); v128.store(ct, c01, 16); v128.store(ct, c10, 32); v128.store(ct, c11, 48);
  v128.store(ct, c20, 64); v128.store(ct, c21, 80); v128.store(ct, c30, 96); v128.store(ct, c31, 112);
  v128.store(ct, c40, 128); v128.store(ct, c41, 144); v128.store(ct, c50, 160); v128.store(ct, c51, 176);
}

export function broadcastTwice6x8(panels: i32, kc: i32, A: usize, b0p: usize, c: usize): void {
  // two call sites, so that Binaryen keeps the tile a function of its own, as gemm.ts's are
  for (let t = 0; t < panels; t += 2) {
    broadcastTwice6x8Tile(kc, A + <usize>(t * 6 * kc) * 4, b0p, c + <usize>(t * 6 * 32));
    broadcastTwice6x8Tile(kc, A + <usize>((t + 1) * 6 * kc) * 4, b0p, c + <usize>((t + 1) * 6 * 32));
  }
}

// gemm.ts's micro6x8 in the relaxed build: each A value broadcast once per k
// (12 accumulators + 2 B + 1 broadcast; the plain build's product would be a
// 16th live vector, which V8 spills).
function broadcastOnce6x8Tile(kc: i32, a0: usize, b0p: usize, ct: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0), c50 = f32x4.splat(0), c51 = f32x4.splat(0);
  let a = a0, b = b0p;
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let av = v128.load32_splat(a); c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = v128.load32_splat(a, 4); c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = v128.load32_splat(a, 8); c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = v128.load32_splat(a, 12); c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    av = v128.load32_splat(a, 16); c40 = madd(av, b0, c40); c41 = madd(av, b1, c41);
    av = v128.load32_splat(a, 20); c50 = madd(av, b0, c50); c51 = madd(av, b1, c51);
    a += 24; b += 32;
  }
  v128.store(ct, c00); v128.store(ct, c01, 16); v128.store(ct, c10, 32); v128.store(ct, c11, 48);
  v128.store(ct, c20, 64); v128.store(ct, c21, 80); v128.store(ct, c30, 96); v128.store(ct, c31, 112);
  v128.store(ct, c40, 128); v128.store(ct, c41, 144); v128.store(ct, c50, 160); v128.store(ct, c51, 176);
}

export function broadcastOnce6x8(panels: i32, kc: i32, A: usize, b0p: usize, c: usize): void {
  // two call sites, so that Binaryen keeps the tile a function of its own, as gemm.ts's are
  for (let t = 0; t < panels; t += 2) {
    broadcastOnce6x8Tile(kc, A + <usize>(t * 6 * kc) * 4, b0p, c + <usize>(t * 6 * 32));
    broadcastOnce6x8Tile(kc, A + <usize>((t + 1) * 6 * kc) * 4, b0p, c + <usize>((t + 1) * 6 * 32));
  }
}

// 4 rows, each A value broadcast once per k and shared by both B vectors:
// 8 accumulators + 2 B + 4 broadcasts + a product = 15.
function broadcastOnce4x8Tile(kc: i32, a0: usize, b0p: usize, ct: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let a = a0, b = b0p;
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let av = v128.load32_splat(a); c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = v128.load32_splat(a, 4); c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = v128.load32_splat(a, 8); c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = v128.load32_splat(a, 12); c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    a += 16; b += 32;
  }
  v128.store(ct, c00); v128.store(ct, c01, 16); v128.store(ct, c10, 32); v128.store(ct, c11, 48);
  v128.store(ct, c20, 64); v128.store(ct, c21, 80); v128.store(ct, c30, 96); v128.store(ct, c31, 112);
}

export function broadcastOnce4x8(panels: i32, kc: i32, A: usize, b0p: usize, c: usize): void {
  // two call sites, so that Binaryen keeps the tile a function of its own, as gemm.ts's are
  for (let t = 0; t < panels; t += 2) {
    broadcastOnce4x8Tile(kc, A + <usize>(t * 4 * kc) * 4, b0p, c + <usize>(t * 4 * 32));
    broadcastOnce4x8Tile(kc, A + <usize>((t + 1) * 4 * kc) * 4, b0p, c + <usize>((t + 1) * 4 * 32));
  }
}

// 4 rows of A packed already broadcast (each value as 4 floats: 4× the packed
// A): plain v128 loads, whose offsets V8 folds into the instruction, where
// each load32_splat at an offset costs V8 a separate address computation.
function storedBroadcast4x8Tile(kc: i32, a0: usize, b0p: usize, ct: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let a = a0, b = b0p;
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let av = v128.load(a); c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = v128.load(a, 16); c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = v128.load(a, 32); c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = v128.load(a, 48); c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    a += 64; b += 32;
  }
  v128.store(ct, c00); v128.store(ct, c01, 16); v128.store(ct, c10, 32); v128.store(ct, c11, 48);
  v128.store(ct, c20, 64); v128.store(ct, c21, 80); v128.store(ct, c30, 96); v128.store(ct, c31, 112);
}

export function storedBroadcast4x8(panels: i32, kc: i32, A: usize, b0p: usize, c: usize): void {
  // two call sites, so that Binaryen keeps the tile a function of its own, as gemm.ts's are
  for (let t = 0; t < panels; t += 2) {
    storedBroadcast4x8Tile(kc, A + <usize>(t * 16 * kc) * 4, b0p, c + <usize>(t * 4 * 32));
    storedBroadcast4x8Tile(kc, A + <usize>((t + 1) * 16 * kc) * 4, b0p, c + <usize>((t + 1) * 4 * 32));
  }
}

// 6 rows packed already broadcast, each read once per B vector as in micro6x8.
function storedBroadcastTwice6x8Tile(kc: i32, a0: usize, b0p: usize, ct: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0), c50 = f32x4.splat(0), c51 = f32x4.splat(0);
  let a = a0, a2 = a, b = b0p;
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    c00 = madd(v128.load(a), b0, c00); c01 = madd(v128.load(a2), b1, c01);
    c10 = madd(v128.load(a, 16), b0, c10); c11 = madd(v128.load(a2, 16), b1, c11);
    c20 = madd(v128.load(a, 32), b0, c20); c21 = madd(v128.load(a2, 32), b1, c21);
    c30 = madd(v128.load(a, 48), b0, c30); c31 = madd(v128.load(a2, 48), b1, c31);
    c40 = madd(v128.load(a, 64), b0, c40); c41 = madd(v128.load(a2, 64), b1, c41);
    c50 = madd(v128.load(a, 80), b0, c50); c51 = madd(v128.load(a2, 80), b1, c51);
    a += 96; a2 += 96; b += 32;
  }
  v128.store(ct, c00); v128.store(ct, c01, 16); v128.store(ct, c10, 32); v128.store(ct, c11, 48);
  v128.store(ct, c20, 64); v128.store(ct, c21, 80); v128.store(ct, c30, 96); v128.store(ct, c31, 112);
  v128.store(ct, c40, 128); v128.store(ct, c41, 144); v128.store(ct, c50, 160); v128.store(ct, c51, 176);
}

export function storedBroadcastTwice6x8(panels: i32, kc: i32, A: usize, b0p: usize, c: usize): void {
  // two call sites, so that Binaryen keeps the tile a function of its own, as gemm.ts's are
  for (let t = 0; t < panels; t += 2) {
    storedBroadcastTwice6x8Tile(kc, A + <usize>(t * 24 * kc) * 4, b0p, c + <usize>(t * 6 * 32));
    storedBroadcastTwice6x8Tile(kc, A + <usize>((t + 1) * 24 * kc) * 4, b0p, c + <usize>((t + 1) * 6 * 32));
  }
}
