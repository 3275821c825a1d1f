/**
 * The four optimizers in WGSL, element for element the formulas of js.ts (PyTorch's), with the
 * clipping of optim.ts's clipGradients folded in so that no number has to come back to the host
 * between the backward pass and the update:
 *
 *   g   = grad[i] · scale          scale = out[1] of clipFactor (loss.ts), when clipping by norm
 *   g   = max(-hi, min(hi, g))     when clipping by value (hi > 0)
 *   g'  = g + wd · p[i]
 *   adam     m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'²;  p -= lr (m / bc1) / (sqrt(v / bc2) + eps)
 *   rmsprop  v = a v + (1-a) g'²;  p -= lr g' / (sqrt(v) + eps)
 *   adagrad  v += g'²;             p -= lr g' / (sqrt(v) + eps)
 *   sgd      buf = first ? g' : mu buf + g';  p -= lr buf
 *   emaUpdate  avg = d avg + (1-d) x    (--ema; no gradient, the same skip rule)
 *
 * The skip rule: when ‖g‖ (out[0] of clipFactor) is not finite, every thread returns without
 * touching p, m or v, as the trainer does on the host (it never applies such a gradient). The
 * gradient buffer itself is left unscaled (the reference scales it in place; nothing reads it
 * after the update but the next backward, which zeroes it first).
 *
 * One thread per parameter over the flat arena (P numbers, one dispatch per step).
 */
import { grid1d, type GpuContext } from './context.js';
import { ENTRY_1D, MATH } from './wgsl.js';

/** How the gradient is clipped on its way into the update. */
export interface DeviceClip {
  /** Heap offset of clipFactor's (‖g‖, scale) pair, or -1: no norm scaling and no skip test. */
  factor: number;
  /** Clamp bound for clipping by value; 0: none. */
  hi: number;
}

export const NO_CLIP: DeviceClip = { factor: -1, hi: 0 };

/** WGSL: the clipped, weight-decayed gradient g' of element i; sets `skip` when ‖g‖ is not finite. */
const GRAD = /* wgsl */ `
fn grad(i: u32) -> f32 {
  var g = h[p.g + i];
  if (p.hasF != 0u) { g = g * h[p.factor + 1u]; }
  if (p.hi > 0.0) { g = select(select(g, p.hi, g > p.hi), -p.hi, g < -p.hi); }
  return g + p.wd * h[p.p + i];
}
fn skip() -> bool { return p.hasF != 0u && !finite(h[p.factor]); }`;

const COMMON = 'n p g factor hasF hi:f32 wd:f32 lr:f32';

const source = (update: string): string => `${MATH}${GRAD}${ENTRY_1D}
  if (i >= p.n || skip()) { return; }
  let gi = grad(i);
${update}
}`;

const common = (n: number, p: number, g: number, lr: number, wd: number, clip: DeviceClip): Record<string, number> => ({
  n, p, g, lr, wd, factor: clip.factor >= 0 ? clip.factor : 0, hasF: clip.factor >= 0 ? 1 : 0, hi: clip.hi,
});

export function adam(ctx: GpuContext, n: number, p: number, g: number, m: number, v: number,
  lr: number, b1: number, b2: number, eps: number, bc1: number, bc2: number, wd: number, clip: DeviceClip = NO_CLIP): void {
  const k = ctx.kernel('adam', `${COMMON} m v b1:f32 b2:f32 eps:f32 bc1:f32 bc2:f32`, () => source(`
  let mi = p.b1 * h[p.m + i] + (1.0 - p.b1) * gi;
  let vi = p.b2 * h[p.v + i] + (1.0 - p.b2) * gi * gi;
  h[p.m + i] = mi;
  h[p.v + i] = vi;
  h[p.p + i] -= (p.lr * (mi / p.bc1)) / (sqrt(vi / p.bc2) + p.eps);`));
  ctx.dispatch(k, { ...common(n, p, g, lr, wd, clip), m, v, b1, b2, eps, bc1, bc2 }, grid1d(n));
}

export function rmsprop(ctx: GpuContext, n: number, p: number, g: number, v: number, lr: number, alpha: number, eps: number, wd: number, clip: DeviceClip = NO_CLIP): void {
  const k = ctx.kernel('rmsprop', `${COMMON} v alpha:f32 eps:f32`, () => source(`
  let vi = p.alpha * h[p.v + i] + (1.0 - p.alpha) * gi * gi;
  h[p.v + i] = vi;
  h[p.p + i] -= (p.lr * gi) / (sqrt(vi) + p.eps);`));
  ctx.dispatch(k, { ...common(n, p, g, lr, wd, clip), v, alpha, eps }, grid1d(n));
}

export function adagrad(ctx: GpuContext, n: number, p: number, g: number, v: number, lr: number, eps: number, wd: number, clip: DeviceClip = NO_CLIP): void {
  const k = ctx.kernel('adagrad', `${COMMON} v eps:f32`, () => source(`
  let vi = h[p.v + i] + gi * gi;
  h[p.v + i] = vi;
  h[p.p + i] -= (p.lr * gi) / (sqrt(vi) + p.eps);`));
  ctx.dispatch(k, { ...common(n, p, g, lr, wd, clip), v, eps }, grid1d(n));
}

export function sgd(ctx: GpuContext, n: number, p: number, g: number, buf: number, lr: number, momentum: number, wd: number, first: boolean, clip: DeviceClip = NO_CLIP): void {
  const k = ctx.kernel('sgd', `${COMMON} buf mu:f32 first`, () => source(`
  var b = gi;
  if (p.first == 0u) { b = p.mu * h[p.buf + i] + gi; }
  h[p.buf + i] = b;
  h[p.p + i] -= p.lr * b;`));
  ctx.dispatch(k, { ...common(n, p, g, lr, wd, clip), buf, mu: momentum, first: first ? 1 : 0 }, grid1d(n));
}

/**
 * The weights' moving average (--ema): avg = decay avg + (1 - decay) x, skipped by the same rule
 * as the updates (`skip`: clipFactor's pair, or -1 for none), so a skipped step moves neither.
 */
export function emaUpdate(ctx: GpuContext, n: number, avg: number, x: number, decay: number, skip: number): void {
  const k = ctx.kernel('emaUpdate', 'n avg x factor hasF d:f32 dc:f32', () => `${MATH}${ENTRY_1D}
  if (i >= p.n || (p.hasF != 0u && !finite(h[p.factor]))) { return; }
  h[p.avg + i] = p.d * h[p.avg + i] + p.dc * h[p.x + i];
}`);
  ctx.dispatch(k, { n, avg, x, factor: skip >= 0 ? skip : 0, hasF: skip >= 0 ? 1 : 0, d: decay, dc: 1 - decay }, grid1d(n));
}

