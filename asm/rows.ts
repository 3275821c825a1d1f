// Row-wise and flat elementwise kernels. Each loop is a 4-lane vector body plus a scalar tail;
// float32 adds/multiplies here round exactly like the reference (f64 math rounded to f32), and
// loops keep the reference's order, so most of these match the JS backend bit for bit.
import { at, ld, st } from './math';

/** dst[0..n) = src (acc = 0) or dst += src (acc = 1). */
// @ts-ignore: decorator
@inline function rowOp(n: i32, src: usize, dst: usize, acc: i32): void {
  let j = 0;
  if (acc) {
    for (; j + 4 <= n; j += 4) v128.store(at(dst, j), f32x4.add(v128.load(at(dst, j)), v128.load(at(src, j))));
    for (; j < n; j++) store<f32>(at(dst, j), load<f32>(at(dst, j)) + load<f32>(at(src, j)));
  } else {
    for (; j + 4 <= n; j += 4) v128.store(at(dst, j), v128.load(at(src, j)));
    for (; j < n; j++) store<f32>(at(dst, j), load<f32>(at(src, j)));
  }
}

/** C (M, N): every row = v (N) or += v. */
export function broadcastRows(M: i32, N: i32, v: usize, C: usize, acc: i32): void {
  for (let i = 0; i < M; i++) rowOp(N, v, at(C, i * N), acc);
}

/** out (N) += column sums of A (M, N), row by row like the reference. */
export function colSumAcc(M: i32, N: i32, A: usize, out: usize): void {
  for (let i = 0; i < M; i++) rowOp(N, at(A, i * N), out, 1);
}

/** out (n, cols) row i = (or +=) table row idx[i]. idx is (n) int32. */
export function gatherRows(n: i32, idx: usize, table: usize, cols: i32, out: usize, acc: i32): void {
  for (let i = 0; i < n; i++) rowOp(cols, at(table, load<i32>(at(idx, i)) * cols), at(out, i * cols), acc);
}

/** table row idx[i] += src (n, cols) row i. Sequential, so repeated indices accumulate. */
export function scatterAddRows(n: i32, idx: usize, src: usize, cols: i32, table: usize): void {
  for (let i = 0; i < n; i++) rowOp(cols, at(src, i * cols), at(table, load<i32>(at(idx, i)) * cols), 1);
}

/** x (n) *= m (n). */
export function mul(n: i32, x: usize, m: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(x, i), f32x4.mul(v128.load(at(x, i)), v128.load(at(m, i))));
  for (; i < n; i++) store<f32>(at(x, i), load<f32>(at(x, i)) * load<f32>(at(m, i)));
}

// Pairs of floats promoted to f64x2: used where the reference multiplies by an f64 scalar, so the
// result is rounded once, as in JS.
// @ts-ignore: decorator
@inline export function ld2(p: usize, wide: bool): v128 {
  return f64x2.promote_low_f32x4(wide ? v128.load64_zero(p) : v128.load32_zero(p));
}
// @ts-ignore: decorator
@inline export function st2(p: usize, d: v128, wide: bool): void {
  const v = f32x4.demote_f64x2_zero(d);
  if (wide) v128.store64_lane(p, v, 0);
  else v128.store32_lane(p, v, 0);
}
/** Round f64 lanes to f32 and back: what storing to a Float32Array and reading it again does. */
// @ts-ignore: decorator
@inline export function r32(d: v128): v128 {
  return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(d));
}

/** x (n) *= s (s in f64, as the reference). */
export function scale(n: i32, x: usize, s: f64): void {
  const vs = f64x2.splat(s);
  let i = 0;
  for (; i + 2 <= n; i += 2) st2(at(x, i), f64x2.mul(ld2(at(x, i), true), vs), true);
  if (i < n) st2(at(x, i), f64x2.mul(ld2(at(x, i), false), vs), false);
}

/**
 * x (n) = min(hi, max(lo, x)). Bounds rounded to f32 give the same result as comparing in f64;
 * the operand order of pmin/pmax keeps NaN as NaN, like the reference.
 */
export function clamp(n: i32, x: usize, lo: f32, hi: f32): void {
  const vlo = f32x4.splat(lo), vhi = f32x4.splat(hi);
  let i = 0;
  for (; i + 4 <= n; i += 4) st(at(x, i), f32x4.pmin(f32x4.pmax(ld(at(x, i), true), vlo), vhi), true);
  for (; i < n; i++) st(at(x, i), f32x4.pmin(f32x4.pmax(ld(at(x, i), false), vlo), vhi), false);
}

/** sum x^2 over (n), accumulated in f64 (each square is exact in f64). */
export function sumSquares(n: i32, x: usize): f64 {
  let a0 = f64x2.splat(0), a1 = a0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(x, i));
    const lo = f64x2.promote_low_f32x4(v);
    const hi = f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
    a0 = f64x2.add(a0, f64x2.mul(lo, lo));
    a1 = f64x2.add(a1, f64x2.mul(hi, hi));
  }
  const a = f64x2.add(a0, a1);
  let s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
  for (; i < n; i++) {
    const v = <f64>load<f32>(at(x, i));
    s += v * v;
  }
  return s;
}
