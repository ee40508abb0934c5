// Candidate GEMM micro-kernel tiles for the `tiles` bench topic
// (tiles.bench.mjs compiles this file for the pass's build). Each tile
// function multiplies one packed A panel by one packed B panel (8 columns ×
// kc) and stores its rows of C at ct, 8 floats each; `sweep` runs one B panel
// over an A block's panels (the relaxed build's blockRows), `panelSweep` one A
// panel against several B panels (the plain build's). Only the k loops
// differ; madd is the shipped builds' own (tile.ts), so every candidate
// computes each C element in the same order with the same bits.
import { madd } from "../assembly/tile";

// The plain build's 6×8 tile before gemm.ts's micro5x8: 6 rows, each A value
// broadcast once per B vector (a2 keeps Binaryen from merging the two loads),
// 15 live vectors; 53 instructions a k step in V8's code.
function broadcastTwice6x8(kc: i32, a0: usize, b0p: usize, ct: usize): void {
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
  storeRows(ct, c00, c01, c10, c11); storeRows(ct + 64, c20, c21, c30, c31); storeRows(ct + 128, c40, c41, c50, c51);
}

// gemm.ts's micro6x8, the relaxed build's tile: each A value broadcast once per k
// (12 accumulators + 2 B + 1 broadcast; the plain build's product would be a
// 16th live vector, which V8 spills).
function broadcastOnce6x8(kc: i32, a0: usize, b0p: usize, ct: usize): void {
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
  storeRows(ct, c00, c01, c10, c11); storeRows(ct + 64, c20, c21, c30, c31); storeRows(ct + 128, c40, c41, c50, c51);
}

// 4 rows, each A value broadcast once per k and shared by both B vectors:
// 8 accumulators + 2 B + 4 broadcasts + a product = 15.
function broadcastOnce4x8(kc: i32, a0: usize, b0p: usize, ct: usize): void {
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
  storeRows(ct, c00, c01, c10, c11); storeRows(ct + 64, c20, c21, c30, c31);
}

// 4 rows of A packed already broadcast (each value as 4 floats: 4× the packed
// A): plain v128 loads, whose offsets V8 folds into the instruction, where
// each load32_splat at an offset costs V8 a separate address computation.
function storedBroadcast4x8(kc: i32, a0: usize, b0p: usize, ct: usize): void {
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
  storeRows(ct, c00, c01, c10, c11); storeRows(ct + 64, c20, c21, c30, c31);
}

// 4 rows, A packed as broadcastOnce4x8's (4 floats a k): one v128 load per k,
// each value broadcast by a lane shuffle (as the relaxed conv's fiveTiles
// does), where 4 broadcast loads cost V8 3 address instructions. 8
// accumulators + 2 B + the A vector + a shuffled one + a product = 13.
function shuffled4x8(kc: i32, a0: usize, b0p: usize, ct: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let a = a0, b = b0p;
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    const w = v128.load(a);
    let av = i32x4.shuffle(w, w, 0, 0, 0, 0); c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = i32x4.shuffle(w, w, 1, 1, 1, 1); c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = i32x4.shuffle(w, w, 2, 2, 2, 2); c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = i32x4.shuffle(w, w, 3, 3, 3, 3); c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    a += 16; b += 32;
  }
  storeRows(ct, c00, c01, c10, c11); storeRows(ct + 64, c20, c21, c30, c31);
}

// 6 rows packed already broadcast, each read once per B vector as in micro6x8.
function storedBroadcastTwice6x8(kc: i32, a0: usize, b0p: usize, ct: usize): void {
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
  storeRows(ct, c00, c01, c10, c11); storeRows(ct + 64, c20, c21, c30, c31); storeRows(ct + 128, c40, c41, c50, c51);
}

// gemm.ts's micro5x8, the plain build's tile: 5 rows of A packed broadcast,
// each read once per k; 10 accumulators + 2 B + 1 A + the product = 14 live
// vectors, 35 instructions a k step in V8's code.
function storedBroadcast5x8(kc: i32, a0: usize, b0p: usize, ct: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  let a = a0, b = b0p;
  const end = b0p + (<usize>kc << 5);
  while (b < end) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let av = v128.load(a); c00 = madd(av, b0, c00); c01 = madd(av, b1, c01);
    av = v128.load(a, 16); c10 = madd(av, b0, c10); c11 = madd(av, b1, c11);
    av = v128.load(a, 32); c20 = madd(av, b0, c20); c21 = madd(av, b1, c21);
    av = v128.load(a, 48); c30 = madd(av, b0, c30); c31 = madd(av, b1, c31);
    av = v128.load(a, 64); c40 = madd(av, b0, c40); c41 = madd(av, b1, c41);
    a += 80; b += 32;
  }
  storeRows(ct, c00, c01, c10, c11); storeRows(ct + 64, c20, c21, c30, c31);
  v128.store(ct, c40, 128); v128.store(ct, c41, 144);
}

// Two rows of 8 floats of a tile at ct.
// @ts-ignore: decorator
@inline
function storeRows(ct: usize, c00: v128, c01: v128, c10: v128, c11: v128): void {
  v128.store(ct, c00); v128.store(ct, c01, 16); v128.store(ct, c10, 32); v128.store(ct, c11, 48);
}

// One B panel against `panels` A panels (aPanel bytes apart; their tiles cPanel
// bytes apart from c) with tile `tile` (the order of tiles.bench.mjs's TILES):
// the relaxed build's order (gemm.ts's blockRows sweeps an A block with each B panel).
export function sweep(tile: i32, panels: i32, kc: i32, A: usize, aPanel: usize, b: usize, c: usize, cPanel: usize): void {
  for (let t = 0; t < panels; t += 2) {
    const a0 = A + <usize>t * aPanel, c0 = c + <usize>t * cPanel;
    twoTiles(tile, kc, a0, b, c0, a0 + aPanel, b, c0 + cPanel, t + 1 < panels);
  }
}

// One A panel against `bPanels` B panels (bPanel bytes apart), every tile into
// c, with tile `tile`: the plain build's order (gemm.ts's blockRows packs each
// A panel, 80 bytes a k for micro5x8, into L1 and runs it against every B
// panel, which stream from L2).
export function panelSweep(tile: i32, bPanels: i32, kc: i32, a: usize, b: usize, bPanel: usize, c: usize): void {
  for (let q = 0; q < bPanels; q += 2) {
    const b0 = b + <usize>q * bPanel;
    twoTiles(tile, kc, a, b0, c, a, b0 + bPanel, c, q + 1 < bPanels);
  }
}

// Tile `tile` on (a0, b0) into c0, then, if `second`, on (a1, b1) into c1.
// Each tile is called from two places, so that Binaryen keeps it a function of
// its own, as gemm.ts's micro-kernels are (inlined, V8 allocated the panel
// loop's values and the tile's together and the tile ran slower).
function twoTiles(tile: i32, kc: i32, a0: usize, b0: usize, c0: usize, a1: usize, b1: usize, c1: usize, second: bool): void {
  switch (tile) {
    case 0: broadcastTwice6x8(kc, a0, b0, c0); if (second) broadcastTwice6x8(kc, a1, b1, c1); break;
    case 1: broadcastOnce6x8(kc, a0, b0, c0); if (second) broadcastOnce6x8(kc, a1, b1, c1); break;
    case 2: broadcastOnce4x8(kc, a0, b0, c0); if (second) broadcastOnce4x8(kc, a1, b1, c1); break;
    case 3: storedBroadcast4x8(kc, a0, b0, c0); if (second) storedBroadcast4x8(kc, a1, b1, c1); break;
    case 4: storedBroadcastTwice6x8(kc, a0, b0, c0); if (second) storedBroadcastTwice6x8(kc, a1, b1, c1); break;
    case 5: shuffled4x8(kc, a0, b0, c0); if (second) shuffled4x8(kc, a1, b1, c1); break;
    case 6: storedBroadcast5x8(kc, a0, b0, c0); if (second) storedBroadcast5x8(kc, a1, b1, c1); break;
    default: unreachable(); // no such tile
  }
}
