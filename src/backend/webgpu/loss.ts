/**
 * Softmax cross-entropy, sums and the clipping factor, all leaving their scalars in the heap (a
 * readback is the caller's choice, at a logging point, not every step).
 *
 *   softmaxCrossEntropy: per row r with target t ≥ 0
 *     rowLoss[r] = logZ - logits[r, t],  logZ = max + log Σ_j exp(logits[r, j] - max)
 *     dlogits[r, j] = (softmax_j - [j = t]) · scale          (rows with t < 0: 0 and 0)
 *   then loss (+)= Σ_r rowLoss[r] with reduce(); as Backend.softmaxCrossEntropy but in float32
 *   and with the sum left on the device.
 *   Layout: one workgroup of 64 threads per row (V is a vocabulary: tens to hundreds); max and
 *   Σ exp are tree reductions in workgroup memory. All reads of a row happen before the barrier
 *   that precedes the writes, so dlogits may alias logits.
 *
 *   reduce: dst (+)= Σ_i src[i] (or src[i]²) in two passes: workgroups of 256 threads each sum a
 *   chunk of 4096 elements (strided loads, then a tree), then one workgroup sums the partials.
 *   The order is fixed by the sizes alone, so results are reproducible run to run (no atomics).
 *
 *   clipFactor: from ‖g‖² at `ss`, writes out[0] = ‖g‖ and out[1] = the scale the optimizer
 *   kernels apply: clip / ‖g‖ when clipping by norm and ‖g‖ > clip, else 1 (optim.ts).
 */
import { grid1d, type GpuContext } from './context.js';
import { MATH } from './wgsl.js';

const CHUNK = 4096;

/** Words of scratch reduce() needs for n elements (its per-workgroup partials). */
export const reduceScratch = (n: number): number => Math.max(1, Math.ceil(n / CHUNK));

const REDUCE = (square: boolean): string => `
var<workgroup> part: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = wg.x + wg.y * nwg.x;
  let start = w * p.chunk;
  let end = min(p.n, start + p.chunk);
  var s = 0.0;
  for (var i = start + lid.x; i < end; i += 256u) {
    let x = h[p.src + i];
    s += ${square ? 'x * x' : 'x'};
  }
  part[lid.x] = s;
  for (var m = 128u; m > 0u; m >>= 1u) {
    workgroupBarrier();
    if (lid.x < m) { part[lid.x] += part[lid.x + m]; }
  }
  if (lid.x == 0u && (start < p.n || w == 0u)) { // the last row of a 2-D grid may overhang
    var old = 0.0;
    if (p.acc != 0u) { old = h[p.dst + w]; }
    h[p.dst + w] = old + part[0];
  }
}`;

/**
 * dst[0] (+)= Σ_{i<n} src[i] (square: src[i]²). scratch: reduceScratch(n) words, used when n
 * spans more than one chunk.
 */
export function reduce(ctx: GpuContext, n: number, src: number, dst: number, scratch: number, opts: { square?: boolean; accumulate?: boolean } = {}): void {
  const square = opts.square ?? false;
  const acc = opts.accumulate ? 1 : 0;
  const k1 = ctx.kernel(`reduce:${square ? 'sq' : 'sum'}`, 'n src dst chunk acc', () => REDUCE(square));
  const groups = reduceScratch(n);
  if (groups === 1) {
    ctx.dispatch(k1, { n, src, dst, chunk: CHUNK, acc }, [1]);
    return;
  }
  ctx.dispatch(k1, { n, src, dst: scratch, chunk: CHUNK, acc: 0 }, grid1d(groups, 1));
  const k2 = ctx.kernel('reduce:sum', 'n src dst chunk acc', () => REDUCE(false));
  ctx.dispatch(k2, { n: groups, src: scratch, dst, chunk: groups, acc }, [1]);
}

/** Backend.sumSquares, to the heap: out[0] = Σ x². */
export function sumSquares(ctx: GpuContext, n: number, x: number, out: number, scratch: number): void {
  reduce(ctx, n, x, out, scratch, { square: true });
}

/**
 * Softmax cross-entropy over N rows of V logits. Writes each row's loss to rowLoss (N words) and
 * loss[0] (+)= their sum (scratch: reduceScratch(N) words). dlogits < 0: no gradient.
 */
export function softmaxCrossEntropy(
  ctx: GpuContext, N: number, V: number, logits: number, targets: number, dlogits: number, scale: number,
  rowLoss: number, loss: number, scratch: number, accumulate = false,
): void {
  const k = ctx.kernel('softmaxCE', 'N V logits targets dlogits hasD scale:f32 rowLoss', () => `${MATH}
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wg.x + wg.y * nwg.x;
  let live = row < p.N;
  let r = p.logits + row * p.V;
  var m = -0x1.fffffep+127f; // the lowest float32
  if (live) { for (var j = lid.x; j < p.V; j += 64u) { m = max(m, h[r + j]); } }
  red[lid.x] = m;
  for (var s = 32u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid.x < s) { red[lid.x] = max(red[lid.x], red[lid.x + s]); }
  }
  workgroupBarrier();
  let mx = red[0];
  var e = 0.0;
  if (live) { for (var j = lid.x; j < p.V; j += 64u) { e += exp(h[r + j] - mx); } }
  workgroupBarrier();
  red[lid.x] = e;
  for (var s = 32u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid.x < s) { red[lid.x] += red[lid.x + s]; }
  }
  workgroupBarrier();
  let sum = red[0];
  if (!live) { return; }
  let t = id(p.targets + row);
  var lt = 0.0;
  if (t >= 0) { lt = h[r + u32(t)]; }
  workgroupBarrier(); // every read of the row is done: dlogits may now overwrite logits
  let d = p.dlogits + row * p.V;
  if (t < 0) {
    if (p.hasD != 0u) { for (var j = lid.x; j < p.V; j += 64u) { h[d + j] = 0.0; } }
    if (lid.x == 0u) { h[p.rowLoss + row] = 0.0; }
    return;
  }
  if (p.hasD != 0u) {
    let inv = 1.0 / sum;
    for (var j = lid.x; j < p.V; j += 64u) {
      let y = exp(h[r + j] - mx) * inv * p.scale;
      h[d + j] = select(y, y - p.scale, j == u32(t));
    }
  }
  if (lid.x == 0u) { h[p.rowLoss + row] = mx + log(sum) - lt; }
}`);
  const hasD = dlogits >= 0 ? 1 : 0;
  ctx.dispatch(k, { N, V, logits, targets, dlogits: hasD ? dlogits : 0, hasD, scale, rowLoss }, grid1d(N, 1));
  reduce(ctx, N, rowLoss, loss, scratch, { accumulate });
}

/** out[0] = ‖g‖ = sqrt(ss[0]); out[1] = clip/‖g‖ if byNorm, clip > 0 and ‖g‖ > clip, else 1. */
export function clipFactor(ctx: GpuContext, ss: number, out: number, clip: number, byNorm: boolean): void {
  const k = ctx.kernel('clipFactor', 'ss out clip:f32 byNorm', () => `${MATH}
@compute @workgroup_size(1)
fn main() {
  let norm = sqrt(h[p.ss]);
  h[p.out] = norm;
  var s = 1.0;
  if (p.byNorm != 0u && p.clip > 0.0 && finite(norm) && norm > p.clip) { s = p.clip / norm; }
  h[p.out + 1u] = s;
}`);
  ctx.dispatch(k, { ss, out, clip, byNorm: byNorm ? 1 : 0 }, [1]);
}

/**
 * The trainer's per-step bookkeeping on the device, one thread: flags[0] += 1 when ‖g‖
 * (clipFactor's out[0]) is not finite (a step the optimizer kernels skipped), flags[1] = ‖g‖.
 * Read back with the loss sum at an evaluation (src/train.ts).
 */
export function stepFlags(ctx: GpuContext, factor: number, flags: number): void {
  const k = ctx.kernel('stepFlags', 'factor flags', () => `${MATH}
@compute @workgroup_size(1)
fn main() {
  let norm = h[p.factor];
  if (!finite(norm)) { h[p.flags] += 1.0; }
  h[p.flags + 1u] = norm;
}`);
  ctx.dispatch(k, { factor, flags }, [1]);
}
