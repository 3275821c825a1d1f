/**
 * Row and element kernels, each the maths of the Backend method of the same name (js.ts):
 *
 *   broadcastRows   C[i, :] (+)= v                       thread per element of C (M, N)
 *   colSumAcc       out[j] += Σ_i A[i, j]                 workgroup of 64 columns × 4 row lanes
 *   gatherRows      out[i, :] (+)= table[idx[i], :]      thread per element of out (n, cols)
 *   scatterAddRows  table[idx[i], :] += src[i, :]        thread per column, i = 0..n-1 in order
 *   mul / scale / clamp / fill / copy                    thread per element
 *   dropoutMask     mask[i] = bits(key, i) < thr ? 1/keep : 0   thread per element (rng.ts)
 *
 * Determinism: nothing here uses atomics. scatterAddRows is the one with colliding writes (two
 * rows with the same id); one thread owns a whole column of the table and adds the source rows
 * in index order, which is exactly the reference's order, so the result is bit for bit the
 * reference's. colSumAcc sums each column in a fixed order (4 strided lanes, then lane 0..3).
 * Token ids are int32 words in the heap (read with bitcast, see wgsl.ts).
 */
import { grid1d, type GpuContext } from './context.js';
import { ENTRY_1D, MATH } from './wgsl.js';

export function broadcastRows(ctx: GpuContext, M: number, N: number, v: number, C: number, accumulate: boolean): void {
  const k = ctx.kernel('broadcastRows', 'n N v C acc', () => `${MATH}${ENTRY_1D}
  if (i >= p.n) { return; }
  let x = h[p.v + i % p.N];
  if (p.acc != 0u) { h[p.C + i] += x; } else { h[p.C + i] = x; }
}`);
  ctx.dispatch(k, { n: M * N, N, v, C, acc: accumulate ? 1 : 0 }, grid1d(M * N));
}

export function colSumAcc(ctx: GpuContext, M: number, N: number, A: number, out: number): void {
  const k = ctx.kernel('colSumAcc', 'M N A out', () => `
var<workgroup> part: array<f32, 256>; // (4 lanes, 64 columns)
@compute @workgroup_size(64, 4)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = (wg.x + wg.y * nwg.x) * 64u + lid.x; // groups over x and y: N may pass 65535 × 64 (a masked dW_hh, model.ts)
  var s = 0.0;
  if (j < p.N) {
    for (var i = lid.y; i < p.M; i += 4u) { s += h[p.A + i * p.N + j]; }
  }
  part[lid.y * 64u + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && j < p.N) {
    h[p.out + j] += ((part[lid.x] + part[64u + lid.x]) + part[128u + lid.x]) + part[192u + lid.x];
  }
}`);
  ctx.dispatch(k, { M, N, A, out }, grid1d(N, 64));
}

export function gatherRows(ctx: GpuContext, n: number, idx: number, table: number, cols: number, out: number, accumulate: boolean): void {
  const k = ctx.kernel('gatherRows', 'n cols idx table out acc', () => `${MATH}${ENTRY_1D}
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let x = h[p.table + u32(id(p.idx + r)) * p.cols + i % p.cols];
  if (p.acc != 0u) { h[p.out + i] += x; } else { h[p.out + i] = x; }
}`);
  ctx.dispatch(k, { n: n * cols, cols, idx, table, out, acc: accumulate ? 1 : 0 }, grid1d(n * cols));
}

export function scatterAddRows(ctx: GpuContext, n: number, idx: number, src: number, cols: number, table: number): void {
  const k = ctx.kernel('scatterAddRows', 'n cols idx src table', () => `${MATH}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= p.cols) { return; }
  for (var i = 0u; i < p.n; i++) {
    let at = p.table + u32(id(p.idx + i)) * p.cols + j;
    h[at] += h[p.src + i * p.cols + j];
  }
}`);
  ctx.dispatch(k, { n, cols, idx, src, table }, [Math.ceil(cols / 64)]);
}

export function mul(ctx: GpuContext, n: number, x: number, m: number): void {
  const k = ctx.kernel('mul', 'n x m', () => `${MATH}${ENTRY_1D}
  if (i < p.n) { h[p.x + i] *= h[p.m + i]; }
}`);
  ctx.dispatch(k, { n, x, m }, grid1d(n));
}

export function scale(ctx: GpuContext, n: number, x: number, s: number): void {
  const k = ctx.kernel('scale', 'n x s:f32', () => `${MATH}${ENTRY_1D}
  if (i < p.n) { h[p.x + i] *= p.s; }
}`);
  ctx.dispatch(k, { n, x, s }, grid1d(n));
}

/** x[i] = min(hi, max(lo, x[i])), written as the reference's comparisons (a NaN stays NaN). */
export function clamp(ctx: GpuContext, n: number, x: number, lo: number, hi: number): void {
  const k = ctx.kernel('clamp', 'n x lo:f32 hi:f32', () => `${MATH}${ENTRY_1D}
  if (i < p.n) {
    let v = h[p.x + i];
    h[p.x + i] = select(select(v, p.hi, v > p.hi), p.lo, v < p.lo);
  }
}`);
  ctx.dispatch(k, { n, x, lo, hi }, grid1d(n));
}

/** x[i] = value: the device side of the model's fill(0)s (gradients, carried dh/dc). */
export function fill(ctx: GpuContext, n: number, x: number, value: number): void {
  const k = ctx.kernel('fill', 'n x v:f32', () => `${MATH}${ENTRY_1D}
  if (i < p.n) { h[p.x + i] = p.v; }
}`);
  ctx.dispatch(k, { n, x, v: value }, grid1d(n));
}

/** dst[i] = src[i] (carried state, dropout's copy of h); the ranges do not overlap. */
export function copy(ctx: GpuContext, n: number, src: number, dst: number): void {
  const k = ctx.kernel('copy', 'n src dst', () => `${MATH}${ENTRY_1D}
  if (i < p.n) { h[p.dst + i] = h[p.src + i]; }
}`);
  ctx.dispatch(k, { n, src, dst }, grid1d(n));
}

/**
 * Backend.dropoutMask: the counter-based draw of rng.ts (dropoutBits: two rounds of lowbias32),
 * so element i of a mask is the same number here as in the JS reference. thr = keepThreshold(keep).
 */
export function dropoutMask(ctx: GpuContext, n: number, mask: number, thr: number, scale: number, key: number): void {
  const k = ctx.kernel('dropoutMask', 'n mask thr key s:f32', () => `${MATH}
fn lowbias32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}
${ENTRY_1D}
  if (i < p.n) { h[p.mask + i] = select(0.0, p.s, lowbias32(lowbias32(i) ^ p.key) < p.thr); }
}`);
  ctx.dispatch(k, { n, mask, thr, key, s: scale }, grid1d(n));
}
