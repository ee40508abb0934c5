// float64 reference of RandomAffine's kernel (assembly/augment.ts): the inverse map about the centre,
// bilinear sampling, zeros outside, each image's transform from its four uniforms.

/** A RandomAffine's ranges as the kernel takes them: rotation ±degrees, scale in [lo, hi], shift ±shift pixels. */
export interface AffineRange { degrees: number; lo: number; hi: number; shift: number }

/** Image i's transform from u[4i..4i+3], as assembly/augment.ts documents. */
export function affineReference(x: Float32Array, u: Float32Array, N: number, C: number, H: number, W: number, r: AffineRange): Float64Array {
  const out = new Float64Array(x.length);
  const cx = (W - 1) / 2, cy = (H - 1) / 2;
  const px = (p: number, xx: number, yy: number) => (xx < 0 || yy < 0 || xx >= W || yy >= H ? 0 : x[p + yy * W + xx]);
  for (let i = 0; i < N; i++) {
    const angle = (2 * u[4 * i] - 1) * r.degrees * Math.PI / 180;
    const s = r.lo + u[4 * i + 1] * (r.hi - r.lo);
    const tx = (2 * u[4 * i + 2] - 1) * r.shift, ty = (2 * u[4 * i + 3] - 1) * r.shift;
    const cs = Math.cos(angle) / s, sn = Math.sin(angle) / s;
    for (let c = 0; c < C; c++) {
      const p = (i * C + c) * H * W;
      for (let oy = 0; oy < H; oy++) for (let ox = 0; ox < W; ox++) {
        const dx = ox - cx - tx, dy = oy - cy - ty;
        const sx = cs * dx + sn * dy + cx, sy = -sn * dx + cs * dy + cy;
        if (!(sx > -1 && sy > -1 && sx < W && sy < H)) continue;
        const x0 = Math.floor(sx), y0 = Math.floor(sy), ax = sx - x0, ay = sy - y0;
        out[p + oy * W + ox] = (px(p, x0, y0) * (1 - ax) + px(p, x0 + 1, y0) * ax) * (1 - ay)
          + (px(p, x0, y0 + 1) * (1 - ax) + px(p, x0 + 1, y0 + 1) * ax) * ay;
      }
    }
  }
  return out;
}
