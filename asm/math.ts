// Vector helpers shared by the kernels: fused multiply-add, and fast exp / sigmoid / tanh on
// four f32 lanes. The approximations are the Cephes single-precision ones (max error ≈ 2 ulp),
// well inside the 1e-6 absolute tolerance the kernels are tested to against Math.exp/Math.tanh.

/** a * b + c. The relaxed build gets a real FMA (one rounding); the plain build rounds twice. */
// @ts-ignore: decorator
@inline export function fmadd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Byte address of element i of an f32 / i32 array at p. */
// @ts-ignore: decorator
@inline export function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

/**
 * Load 4 lanes (wide) or 1 lane zero-extended: lets one @inline body serve both the vector loop
 * and its scalar tail, so the tail computes exactly what the vector lanes would.
 */
// @ts-ignore: decorator
@inline export function ld(p: usize, wide: bool): v128 {
  return wide ? v128.load(p) : v128.load32_zero(p);
}

// @ts-ignore: decorator
@inline export function st(p: usize, v: v128, wide: bool): void {
  if (wide) v128.store(p, v);
  else v128.store32_lane(p, v, 0);
}

/**
 * exp(x) per lane. Inputs are clamped to [-87.3, 88.37] so 2^n stays a normal float. The clamp
 * uses pmin/pmax (one minps/maxps each on x64; min/max must order -0 and +0 and cost ~7
 * instructions each in V8): a NaN input still comes out NaN, since pmax(x, lo) keeps x unless
 * x < lo.
 */
// @ts-ignore: decorator
@inline export function vexp(x0: v128): v128 {
  let x = f32x4.pmin(f32x4.pmax(x0, f32x4.splat(-87.33654)), f32x4.splat(88.3762626647949));
  // x = n ln2 + r, |r| <= ln2 / 2; ln2 split in two so n * C1 is exact.
  const n = f32x4.floor(fmadd(x, f32x4.splat(1.44269504088896341), f32x4.splat(0.5)));
  x = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  x = f32x4.sub(x, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = fmadd(y, x, f32x4.splat(1.3981999507e-3));
  y = fmadd(y, x, f32x4.splat(8.3334519073e-3));
  y = fmadd(y, x, f32x4.splat(4.1665795894e-2));
  y = fmadd(y, x, f32x4.splat(1.6666665459e-1));
  y = fmadd(y, x, f32x4.splat(5.0000001201e-1));
  y = fmadd(y, f32x4.mul(x, x), f32x4.add(x, f32x4.splat(1.0)));
  // 2^n built directly in the exponent field. n + 127 is an integer in [1, 255], so in the
  // float n + 127 + 2^23 it sits in the low mantissa bits; shifting left by 23 moves it into the
  // exponent and pushes the rest out (cheaper than i32x4.trunc_sat, which V8 emulates on SSE).
  const pow2n = i32x4.shl(f32x4.add(n, f32x4.splat(8388735.0)), 23);
  return f32x4.mul(y, pow2n);
}

/** 1 / (1 + exp(-x)) per lane. */
// @ts-ignore: decorator
@inline export function vsigmoid(x: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, vexp(f32x4.neg(x))));
}

/**
 * tanh(x) per lane: an odd polynomial for |x| < 0.625 (keeps relative accuracy near 0, where
 * 1 - 2/(e^2x + 1) would cancel), else 1 - 2 / (exp(2|x|) + 1) with the sign put back.
 */
// @ts-ignore: decorator
@inline export function vtanh(x: v128): v128 {
  const one = f32x4.splat(1.0);
  const ax = f32x4.abs(x);
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(-5.70498872745e-3);
  p = fmadd(p, z, f32x4.splat(2.06390887954e-2));
  p = fmadd(p, z, f32x4.splat(-5.37397155531e-2));
  p = fmadd(p, z, f32x4.splat(1.33314422036e-1));
  p = fmadd(p, z, f32x4.splat(-3.33332819422e-1));
  const small = fmadd(f32x4.mul(p, z), x, x);
  const e = vexp(f32x4.add(ax, ax));
  const big = f32x4.sub(one, f32x4.div(f32x4.splat(2.0), f32x4.add(e, one)));
  // copy the sign of x onto big (tanh is odd)
  const signed = v128.or(big, v128.and(x, i32x4.splat(-2147483648)));
  return v128.bitselect(small, signed, f32x4.lt(ax, f32x4.splat(0.625)));
}

/**
 * Natural log in f64 without tables (AssemblyScript's Math.log brings ~4 KiB of data segments,
 * which would be re-written into the shared memory by every instance). x = 2^e m with
 * m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716.
 */
export function logf64(x: f64): f64 {
  if (!(x > 0)) return x == 0 ? -Infinity : NaN;
  if (x == Infinity) return x;
  let bits = reinterpret<u64>(x);
  let e = <i32>((bits >> 52) & 0x7ff) - 1023;
  if (e == -1023) { // subnormal: scale into the normal range first
    x *= 18014398509481984.0; // 2^54
    bits = reinterpret<u64>(x);
    e = <i32>((bits >> 52) & 0x7ff) - 1023 - 54;
  }
  let m = reinterpret<f64>((bits & 0x000fffffffffffff) | 0x3ff0000000000000); // [1, 2)
  if (m > 1.4142135623730951) { m *= 0.5; e += 1; }
  const s = (m - 1) / (m + 1);
  const s2 = s * s;
  // 2 (s + s^3/3 + ... + s^17/17): the next term is < 1e-15 relative.
  let t = 1.0 / 17;
  t = t * s2 + 1.0 / 15;
  t = t * s2 + 1.0 / 13;
  t = t * s2 + 1.0 / 11;
  t = t * s2 + 1.0 / 9;
  t = t * s2 + 1.0 / 7;
  t = t * s2 + 1.0 / 5;
  t = t * s2 + 1.0 / 3;
  t = t * s2 + 1.0;
  return <f64>e * 0.6931471805599453 + 2 * s * t;
}
