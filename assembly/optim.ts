// Optimizer steps: one fused elementwise pass per parameter (or per contiguous
// block of parameters) that reads the gradient once and updates the parameter
// and its state in place, with no temporaries. Formulas are the book's
// common/optimizer.py (AdaDelta: Zeiler 2012 as PyTorch; AdamW: PyTorch), in the
// same operation order, so the SIMD kernel, its tail and its Ref agree bit for
// bit. Complements such as 1 − beta2 come from the caller, formed in float64:
// in f32, 1 − f32(0.999) is off by 1.3e-5 relative (cancellation), which would
// shift every Adam step by as much. State values below the smallest normal
// float are flushed to zero (math.ts ftz): a decaying moment of a parameter
// whose gradient is 0 (a dead ReLU unit) would otherwise turn subnormal and
// slow every later step on x86. Pointers: outputs (param, state) first,
// then the gradient, then the length, then hyper-parameters.
import { ftz, ftzs } from "./math";

// ---- Momentum: v = momentum·v − lr·g; p += v
export function momentumStep(p: usize, v: usize, g: usize, n: i32, lr: f32, momentum: f32): void {
  const lrv = f32x4.splat(lr);
  const mv = f32x4.splat(momentum);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const vn = ftz(f32x4.sub(f32x4.mul(mv, v128.load(v + o)), f32x4.mul(lrv, v128.load(g + o))));
    v128.store(v + o, vn);
    v128.store(p + o, f32x4.add(v128.load(p + o), vn));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const vn = ftzs(momentum * load<f32>(v + o) - lr * load<f32>(g + o));
    store<f32>(v + o, vn);
    store<f32>(p + o, load<f32>(p + o) + vn);
  }
}

export function momentumStepRef(p: usize, v: usize, g: usize, n: i32, lr: f32, momentum: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const vn = ftzs(momentum * load<f32>(v + o) - lr * load<f32>(g + o));
    store<f32>(v + o, vn);
    store<f32>(p + o, load<f32>(p + o) + vn);
  }
}

// ---- Nesterov (the book's form since its 2021 fix, as PyTorch's nesterov=True): p += momentum²·v; p −= (1 + momentum)·lr·g;
// then v = momentum·v − lr·g (the step uses the old v)
export function nesterovStep(p: usize, v: usize, g: usize, n: i32, lr: f32, momentum: f32): void {
  const mm = momentum * momentum;
  const c = (<f32>1 + momentum) * lr;
  const lrv = f32x4.splat(lr);
  const mv = f32x4.splat(momentum);
  const mmv = f32x4.splat(mm);
  const cv = f32x4.splat(c);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const gv = v128.load(g + o);
    const vo = v128.load(v + o);
    const pv = f32x4.add(v128.load(p + o), f32x4.mul(mmv, vo));
    v128.store(p + o, f32x4.sub(pv, f32x4.mul(cv, gv)));
    v128.store(v + o, ftz(f32x4.sub(f32x4.mul(mv, vo), f32x4.mul(lrv, gv))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const vo = load<f32>(v + o);
    store<f32>(p + o, (load<f32>(p + o) + mm * vo) - c * gs);
    store<f32>(v + o, ftzs(momentum * vo - lr * gs));
  }
}

export function nesterovStepRef(p: usize, v: usize, g: usize, n: i32, lr: f32, momentum: f32): void {
  const mm = momentum * momentum;
  const c = (<f32>1 + momentum) * lr;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const vo = load<f32>(v + o);
    store<f32>(p + o, (load<f32>(p + o) + mm * vo) - c * gs);
    store<f32>(v + o, ftzs(momentum * vo - lr * gs));
  }
}

// ---- AdaGrad: h += g²; p −= lr·g / (√h + eps)
export function adagradStep(p: usize, h: usize, g: usize, n: i32, lr: f32, eps: f32): void {
  const lrv = f32x4.splat(lr);
  const ev = f32x4.splat(eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const gv = v128.load(g + o);
    const hn = ftz(f32x4.add(v128.load(h + o), f32x4.mul(gv, gv)));
    v128.store(h + o, hn);
    const step = f32x4.div(f32x4.mul(lrv, gv), f32x4.add(f32x4.sqrt(hn), ev));
    v128.store(p + o, f32x4.sub(v128.load(p + o), step));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const hn = ftzs(load<f32>(h + o) + gs * gs);
    store<f32>(h + o, hn);
    store<f32>(p + o, load<f32>(p + o) - (lr * gs) / (Mathf.sqrt(hn) + eps));
  }
}

export function adagradStepRef(p: usize, h: usize, g: usize, n: i32, lr: f32, eps: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const hn = ftzs(load<f32>(h + o) + gs * gs);
    store<f32>(h + o, hn);
    store<f32>(p + o, load<f32>(p + o) - (lr * gs) / (Mathf.sqrt(hn) + eps));
  }
}

// ---- RMSprop: h = decayRate·h + keep·g² (keep = 1 − decayRate); p −= lr·g / (√h + eps)
export function rmspropStep(p: usize, h: usize, g: usize, n: i32, lr: f32, decayRate: f32, keep: f32, eps: f32): void {
  const lrv = f32x4.splat(lr);
  const dv = f32x4.splat(decayRate);
  const kv = f32x4.splat(keep);
  const ev = f32x4.splat(eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const gv = v128.load(g + o);
    const hn = ftz(f32x4.add(f32x4.mul(v128.load(h + o), dv), f32x4.mul(f32x4.mul(kv, gv), gv)));
    v128.store(h + o, hn);
    const step = f32x4.div(f32x4.mul(lrv, gv), f32x4.add(f32x4.sqrt(hn), ev));
    v128.store(p + o, f32x4.sub(v128.load(p + o), step));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const hn = ftzs(load<f32>(h + o) * decayRate + keep * gs * gs);
    store<f32>(h + o, hn);
    store<f32>(p + o, load<f32>(p + o) - (lr * gs) / (Mathf.sqrt(hn) + eps));
  }
}

export function rmspropStepRef(p: usize, h: usize, g: usize, n: i32, lr: f32, decayRate: f32, keep: f32, eps: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const hn = ftzs(load<f32>(h + o) * decayRate + keep * gs * gs);
    store<f32>(h + o, hn);
    store<f32>(p + o, load<f32>(p + o) - (lr * gs) / (Mathf.sqrt(hn) + eps));
  }
}

// ---- AdaDelta (Zeiler 2012; PyTorch's lr multiplier):
// h = rho·h + keep·g²; delta = √(d + eps) / √(h + eps) · g;
// d = rho·d + keep·delta²; p −= lr·delta (keep = 1 − rho)
export function adadeltaStep(p: usize, h: usize, d: usize, g: usize, n: i32, lr: f32, rho: f32, keep: f32, eps: f32): void {
  const lrv = f32x4.splat(lr);
  const rv = f32x4.splat(rho);
  const kv = f32x4.splat(keep);
  const ev = f32x4.splat(eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const gv = v128.load(g + o);
    const hn = ftz(f32x4.add(f32x4.mul(rv, v128.load(h + o)), f32x4.mul(f32x4.mul(kv, gv), gv)));
    v128.store(h + o, hn);
    const dv = v128.load(d + o);
    const delta = f32x4.mul(f32x4.div(f32x4.sqrt(f32x4.add(dv, ev)), f32x4.sqrt(f32x4.add(hn, ev))), gv);
    v128.store(d + o, ftz(f32x4.add(f32x4.mul(rv, dv), f32x4.mul(f32x4.mul(kv, delta), delta))));
    v128.store(p + o, f32x4.sub(v128.load(p + o), f32x4.mul(lrv, delta)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const hn = ftzs(rho * load<f32>(h + o) + keep * gs * gs);
    store<f32>(h + o, hn);
    const ds = load<f32>(d + o);
    const delta = Mathf.sqrt(ds + eps) / Mathf.sqrt(hn + eps) * gs;
    store<f32>(d + o, ftzs(rho * ds + keep * delta * delta));
    store<f32>(p + o, load<f32>(p + o) - lr * delta);
  }
}

export function adadeltaStepRef(p: usize, h: usize, d: usize, g: usize, n: i32, lr: f32, rho: f32, keep: f32, eps: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const hn = ftzs(rho * load<f32>(h + o) + keep * gs * gs);
    store<f32>(h + o, hn);
    const ds = load<f32>(d + o);
    const delta = Mathf.sqrt(ds + eps) / Mathf.sqrt(hn + eps) * gs;
    store<f32>(d + o, ftzs(rho * ds + keep * delta * delta));
    store<f32>(p + o, load<f32>(p + o) - lr * delta);
  }
}

// ---- Adam (the book's): m += k1·(g − m); v += k2·(g² − v); p −= lrT·m / (√v + eps),
// where the caller gives k1 = 1 − beta1, k2 = 1 − beta2 and lrT = lr·√(1 − beta2ᵗ)/(1 − beta1ᵗ).
export function adamStep(p: usize, m: usize, v: usize, g: usize, n: i32, lrT: f32, k1: f32, k2: f32, eps: f32): void {
  const lrv = f32x4.splat(lrT);
  const k1v = f32x4.splat(k1);
  const k2v = f32x4.splat(k2);
  const ev = f32x4.splat(eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const gv = v128.load(g + o);
    const mo = v128.load(m + o);
    const vo = v128.load(v + o);
    const mn = ftz(f32x4.add(mo, f32x4.mul(k1v, f32x4.sub(gv, mo))));
    const vn = ftz(f32x4.add(vo, f32x4.mul(k2v, f32x4.sub(f32x4.mul(gv, gv), vo))));
    v128.store(m + o, mn);
    v128.store(v + o, vn);
    const step = f32x4.div(f32x4.mul(lrv, mn), f32x4.add(f32x4.sqrt(vn), ev));
    v128.store(p + o, f32x4.sub(v128.load(p + o), step));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const mo = load<f32>(m + o);
    const vo = load<f32>(v + o);
    const mn = ftzs(mo + k1 * (gs - mo));
    const vn = ftzs(vo + k2 * (gs * gs - vo));
    store<f32>(m + o, mn);
    store<f32>(v + o, vn);
    store<f32>(p + o, load<f32>(p + o) - (lrT * mn) / (Mathf.sqrt(vn) + eps));
  }
}

export function adamStepRef(p: usize, m: usize, v: usize, g: usize, n: i32, lrT: f32, k1: f32, k2: f32, eps: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const mo = load<f32>(m + o);
    const vo = load<f32>(v + o);
    const mn = ftzs(mo + k1 * (gs - mo));
    const vn = ftzs(vo + k2 * (gs * gs - vo));
    store<f32>(m + o, mn);
    store<f32>(v + o, vn);
    store<f32>(p + o, load<f32>(p + o) - (lrT * mn) / (Mathf.sqrt(vn) + eps));
  }
}

// ---- AdamW (PyTorch's): p *= decay (= 1 − lr·weightDecay); m += k1·(g − m);
// v = beta2·v + k2·g²; p −= stepSize · m / (√v / bc2Sqrt + eps), where the caller
// gives k1 = 1 − beta1, k2 = 1 − beta2, stepSize = lr/(1 − beta1ᵗ), bc2Sqrt = √(1 − beta2ᵗ).
export function adamwStep(p: usize, m: usize, v: usize, g: usize, n: i32, decay: f32, stepSize: f32, bc2Sqrt: f32, k1: f32, beta2: f32, k2: f32, eps: f32): void {
  const dv = f32x4.splat(decay);
  const sv = f32x4.splat(stepSize);
  const bv = f32x4.splat(bc2Sqrt);
  const b2v = f32x4.splat(beta2);
  const k1v = f32x4.splat(k1);
  const k2v = f32x4.splat(k2);
  const ev = f32x4.splat(eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const gv = v128.load(g + o);
    const mo = v128.load(m + o);
    const mn = ftz(f32x4.add(mo, f32x4.mul(k1v, f32x4.sub(gv, mo))));
    const vn = ftz(f32x4.add(f32x4.mul(v128.load(v + o), b2v), f32x4.mul(f32x4.mul(k2v, gv), gv)));
    v128.store(m + o, mn);
    v128.store(v + o, vn);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vn), bv), ev);
    const pd = f32x4.mul(v128.load(p + o), dv);
    v128.store(p + o, f32x4.sub(pd, f32x4.mul(sv, f32x4.div(mn, denom))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const mo = load<f32>(m + o);
    const mn = ftzs(mo + k1 * (gs - mo));
    const vn = ftzs(load<f32>(v + o) * beta2 + k2 * gs * gs);
    store<f32>(m + o, mn);
    store<f32>(v + o, vn);
    const denom = Mathf.sqrt(vn) / bc2Sqrt + eps;
    store<f32>(p + o, load<f32>(p + o) * decay - stepSize * (mn / denom));
  }
}

export function adamwStepRef(p: usize, m: usize, v: usize, g: usize, n: i32, decay: f32, stepSize: f32, bc2Sqrt: f32, k1: f32, beta2: f32, k2: f32, eps: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    const mo = load<f32>(m + o);
    const mn = ftzs(mo + k1 * (gs - mo));
    const vn = ftzs(load<f32>(v + o) * beta2 + k2 * gs * gs);
    store<f32>(m + o, mn);
    store<f32>(v + o, vn);
    const denom = Mathf.sqrt(vn) / bc2Sqrt + eps;
    store<f32>(p + o, load<f32>(p + o) * decay - stepSize * (mn / denom));
  }
}
