/**
 * WGSL helpers shared by the kernels.
 *
 * - tanh is written out: some drivers compute tanh(x) as (e^2x - 1)/(e^2x + 1), which is NaN
 *   once e^2x overflows (|x| > 44); this form only ever takes exp of a non-positive number.
 * - WGSL has no isnan/isinf (and compilers may fold x != x away), so finiteness is tested on
 *   the exponent bits.
 * - linear(): the invocation index of a 1-D problem dispatched as a 2-D grid (see grid1d).
 */
export const MATH = /* wgsl */ `
fn sigm(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn tanh_(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  let t = (1.0 - e) / (1.0 + e);
  return select(t, -t, x < 0.0);
}
fn finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
fn linear(gid: vec3<u32>, nwg: vec3<u32>, size: u32) -> u32 { return gid.x + gid.y * nwg.x * size; }
fn id(at: u32) -> i32 { return bitcast<i32>(h[at]); }
`;

/** The entry point of a 1-D kernel of 256 threads; `i` is the element index, `body` returns early past n. */
export const ENTRY_1D = /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear(gid, nwg, 256u);`;
