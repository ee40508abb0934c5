// The pieces GEMM's micro-kernels and the direct convolution share: the
// multiply-add of the build, and writing an accumulated tile of C. Not part
// of the module's exports (assembly/index.ts does not re-export this file).
import { relu as reluv } from "./math";

// a·b + c: a rounded product, then a rounded sum (the plain build, the same
// bits on every host), or one fused multiply-add (the relaxed build).
// @ts-ignore: decorator
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

// p[0..8) = beta·p[0..8) + (v0, v1); beta = 0 never reads p.
// @ts-ignore: decorator
@inline
export function storeRow(p: usize, v0: v128, v1: v128, beta: f32): void {
  if (beta == 0) {
    v128.store(p, v0);
    v128.store(p, v1, 16);
  } else if (beta == 1) {
    v128.store(p, f32x4.add(v128.load(p), v0));
    v128.store(p, f32x4.add(v128.load(p, 16), v1), 16);
  } else {
    const bv = f32x4.splat(beta);
    v128.store(p, f32x4.add(f32x4.mul(bv, v128.load(p)), v0));
    v128.store(p, f32x4.add(f32x4.mul(bv, v128.load(p, 16)), v1), 16);
  }
}

// Writes the valid mr×nr part of a tile spilled to T (rows 8 floats apart)
// to c (rows ldc floats apart), with storeRow's arithmetic.
export function storeEdge(T: usize, c: usize, ldc: i32, beta: f32, mr: i32, nr: i32): void {
  const rowBytes = <usize>ldc << 2;
  for (let i = 0; i < mr; i++) {
    const row = c + <usize>i * rowBytes;
    const t = T + (<usize>(i * 8) << 2);
    for (let j = 0; j < nr; j++) {
      const p = row + (<usize>j << 2);
      const v = load<f32>(t + (<usize>j << 2));
      store<f32>(p, beta == 0 ? v : (beta == 1 ? load<f32>(p) + v : beta * load<f32>(p) + v));
    }
  }
}

// storeRow's value, then + bias (b0, b1) and, with relu, ReLU: the GEMM
// epilogue's arithmetic (biasAddForward, reluForward) in the same order.
// @ts-ignore: decorator
@inline
export function storeRowBias(p: usize, v0: v128, v1: v128, beta: f32, b0: v128, b1: v128, relu: bool): void {
  if (beta == 1) {
    v0 = f32x4.add(v128.load(p), v0);
    v1 = f32x4.add(v128.load(p, 16), v1);
  } else if (beta != 0) {
    const bv = f32x4.splat(beta);
    v0 = f32x4.add(f32x4.mul(bv, v128.load(p)), v0);
    v1 = f32x4.add(f32x4.mul(bv, v128.load(p, 16)), v1);
  }
  v0 = f32x4.add(v0, b0);
  v1 = f32x4.add(v1, b1);
  if (relu) {
    v0 = reluv(v0);
    v1 = reluv(v1);
  }
  v128.store(p, v0);
  v128.store(p, v1, 16);
}
