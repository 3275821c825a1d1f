// Optimizer updates over the flat parameter arena, computed in f64 pairs (f64x2) and rounded
// to f32 where the reference stores to a Float32Array, so they match it to the last bit or so.
// The loops are memory bound (4-5 streams), so the f64 arithmetic costs nothing measurable.
import { at } from './math';
import { ld2, st2, r32 } from './rows';

// @ts-ignore: decorator
@inline function adam2(pp: usize, pg: usize, pm: usize, pv: usize, b1: v128, b1c: v128, b2: v128,
  b2c: v128, lr: v128, bc1: v128, bc2: v128, eps: v128, wd: v128, wide: bool): void {
  const p = ld2(pp, wide);
  const g = f64x2.add(ld2(pg, wide), f64x2.mul(wd, p));
  const m = r32(f64x2.add(f64x2.mul(b1, ld2(pm, wide)), f64x2.mul(b1c, g)));
  const v = r32(f64x2.add(f64x2.mul(b2, ld2(pv, wide)), f64x2.mul(f64x2.mul(b2c, g), g)));
  st2(pm, m, wide);
  st2(pv, v, wide);
  const step = f64x2.div(f64x2.mul(lr, f64x2.div(m, bc1)), f64x2.add(f64x2.sqrt(f64x2.div(v, bc2)), eps));
  st2(pp, f64x2.sub(p, step), wide);
}

/** Adam (PyTorch, L2 weight decay in the gradient). p, g, m, v are (n). */
export function adam(n: i32, p: usize, g: usize, m: usize, v: usize,
  lr: f64, b1: f64, b2: f64, eps: f64, bc1: f64, bc2: f64, wd: f64): void {
  const vb1 = f64x2.splat(b1), vb1c = f64x2.splat(1 - b1), vb2 = f64x2.splat(b2), vb2c = f64x2.splat(1 - b2);
  const vlr = f64x2.splat(lr), vbc1 = f64x2.splat(bc1), vbc2 = f64x2.splat(bc2);
  const veps = f64x2.splat(eps), vwd = f64x2.splat(wd);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    adam2(at(p, i), at(g, i), at(m, i), at(v, i), vb1, vb1c, vb2, vb2c, vlr, vbc1, vbc2, veps, vwd, true);
  }
  if (i < n) adam2(at(p, i), at(g, i), at(m, i), at(v, i), vb1, vb1c, vb2, vb2c, vlr, vbc1, vbc2, veps, vwd, false);
}

// @ts-ignore: decorator
@inline function rms2(pp: usize, pg: usize, pv: usize, a: v128, ac: v128, lr: v128, eps: v128, wd: v128, wide: bool): void {
  const p = ld2(pp, wide);
  const g = f64x2.add(ld2(pg, wide), f64x2.mul(wd, p));
  const v = r32(f64x2.add(f64x2.mul(a, ld2(pv, wide)), f64x2.mul(f64x2.mul(ac, g), g)));
  st2(pv, v, wide);
  st2(pp, f64x2.sub(p, f64x2.div(f64x2.mul(lr, g), f64x2.add(f64x2.sqrt(v), eps))), wide);
}

/** RMSprop (PyTorch): v = a v + (1 - a) g'^2; p -= lr g' / (sqrt(v) + eps). */
export function rmsprop(n: i32, p: usize, g: usize, v: usize, lr: f64, alpha: f64, eps: f64, wd: f64): void {
  const va = f64x2.splat(alpha), vac = f64x2.splat(1 - alpha), vlr = f64x2.splat(lr);
  const veps = f64x2.splat(eps), vwd = f64x2.splat(wd);
  let i = 0;
  for (; i + 2 <= n; i += 2) rms2(at(p, i), at(g, i), at(v, i), va, vac, vlr, veps, vwd, true);
  if (i < n) rms2(at(p, i), at(g, i), at(v, i), va, vac, vlr, veps, vwd, false);
}

// @ts-ignore: decorator
@inline function adagrad2(pp: usize, pg: usize, pv: usize, lr: v128, eps: v128, wd: v128, wide: bool): void {
  const p = ld2(pp, wide);
  const g = f64x2.add(ld2(pg, wide), f64x2.mul(wd, p));
  const v = r32(f64x2.add(ld2(pv, wide), f64x2.mul(g, g)));
  st2(pv, v, wide);
  st2(pp, f64x2.sub(p, f64x2.div(f64x2.mul(lr, g), f64x2.add(f64x2.sqrt(v), eps))), wide);
}

/** Adagrad (PyTorch): v += g'^2; p -= lr g' / (sqrt(v) + eps). */
export function adagrad(n: i32, p: usize, g: usize, v: usize, lr: f64, eps: f64, wd: f64): void {
  const vlr = f64x2.splat(lr), veps = f64x2.splat(eps), vwd = f64x2.splat(wd);
  let i = 0;
  for (; i + 2 <= n; i += 2) adagrad2(at(p, i), at(g, i), at(v, i), vlr, veps, vwd, true);
  if (i < n) adagrad2(at(p, i), at(g, i), at(v, i), vlr, veps, vwd, false);
}

// @ts-ignore: decorator
@inline function sgd2(pp: usize, pg: usize, pb: usize, lr: v128, mu: v128, wd: v128, first: i32, wide: bool): void {
  const p = ld2(pp, wide);
  const g = f64x2.add(ld2(pg, wide), f64x2.mul(wd, p));
  const b = r32(first ? g : f64x2.add(f64x2.mul(mu, ld2(pb, wide)), g));
  st2(pb, b, wide);
  st2(pp, f64x2.sub(p, f64x2.mul(lr, b)), wide);
}

/** SGD with momentum (PyTorch): buf = mu buf + g' (buf = g' on the first step); p -= lr buf. */
export function sgd(n: i32, p: usize, g: usize, buf: usize, lr: f64, momentum: f64, wd: f64, first: i32): void {
  const vlr = f64x2.splat(lr), vmu = f64x2.splat(momentum), vwd = f64x2.splat(wd);
  let i = 0;
  for (; i + 2 <= n; i += 2) sgd2(at(p, i), at(g, i), at(buf, i), vlr, vmu, vwd, first, true);
  if (i < n) sgd2(at(p, i), at(g, i), at(buf, i), vlr, vmu, vwd, first, false);
}

// @ts-ignore: decorator
@inline function ema2(pa: usize, px: usize, d: v128, dc: v128, wide: bool): void {
  st2(pa, f64x2.add(f64x2.mul(d, ld2(pa, wide)), f64x2.mul(dc, ld2(px, wide))), wide);
}

/** The weights' moving average (--ema): avg (n) = decay avg + (1 - decay) x. */
export function emaUpdate(n: i32, avg: usize, x: usize, decay: f64): void {
  const vd = f64x2.splat(decay), vdc = f64x2.splat(1 - decay);
  let i = 0;
  for (; i + 2 <= n; i += 2) ema2(at(avg, i), at(x, i), vd, vdc, true);
  if (i < n) ema2(at(avg, i), at(x, i), vd, vdc, false);
}
