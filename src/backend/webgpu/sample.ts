/**
 * The draw of a sampled character on the device (Sampler.steps on a device, src/sample.ts), so that
 * sampling on the GPU reads nothing back per character: the next id goes straight into the
 * one-step workspace's input word, and the ids and log-probabilities of a chunk of characters
 * are read back together.
 *
 * Exactly Sampler.pick of src/sample.ts (without top-k/top-p), in float32:
 *   temperature 0:  id = argmax_j z_j (the lowest j among equal maxima, as pick's strict >)
 *   else:           p_j = exp((z_j − max) / temperature);  u · Σ p walked down the p_j in order
 * with u the host's draw from the run's generator (uploaded per chunk: the same stream as the
 * CPU sampler, so a seed gives the same text on either backend up to float rounding at a
 * boundary). Also lp[k] = z_id − log Σ_j exp(z_j) (the log-probability at temperature 1).
 *
 * One workgroup of 256 threads: max/argmax and Σ exp as tree reductions, then thread 0 walks the
 * distribution (V is a vocabulary: tens to hundreds of symbols).
 */
import type { GpuContext } from './context.js';
import { MATH } from './wgsl.js';

export function sampleNext(ctx: GpuContext, V: number, z: number, temperature: number, u: number, k: number, input: number, ids: number, lp: number): void {
  const kern = ctx.kernel('sampleNext', 'V z temp:f32 u k input ids lp', () => `${MATH}
var<workgroup> red: array<f32, 256>;
var<workgroup> arg: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let t = lid.x;
  var m = -0x1.fffffep+127f;
  var a = 0u;
  for (var j = t; j < p.V; j += 256u) { let x = h[p.z + j]; if (x > m) { m = x; a = j; } }
  red[t] = m;
  arg[t] = a;
  for (var s = 128u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (t < s) {
      let o = t + s;
      if (red[o] > red[t] || (red[o] == red[t] && arg[o] < arg[t])) { red[t] = red[o]; arg[t] = arg[o]; }
    }
  }
  workgroupBarrier();
  let mx = red[0];
  let am = arg[0];
  workgroupBarrier();
  var e = 0.0;
  for (var j = t; j < p.V; j += 256u) { e += exp(h[p.z + j] - mx); }
  red[t] = e;
  for (var s = 128u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (t < s) { red[t] += red[t + s]; }
  }
  workgroupBarrier();
  if (t != 0u) { return; }
  var id = am;
  if (p.temp > 0.0) {
    var sum = 0.0;
    for (var j = 0u; j < p.V; j++) { sum += exp((h[p.z + j] - mx) / p.temp); }
    var left = h[p.u + p.k] * sum;
    var last = 0u;
    id = p.V;
    for (var j = 0u; j < p.V; j++) {
      let pj = exp((h[p.z + j] - mx) / p.temp);
      if (pj == 0.0) { continue; }
      last = j;
      left -= pj;
      if (left < 0.0) { id = j; break; }
    }
    if (id == p.V) { id = last; } // round-off left u ≥ 0
  }
  let bits = bitcast<f32>(i32(id));
  h[p.input] = bits;
  h[p.ids + p.k] = bits;
  h[p.lp + p.k] = h[p.z + id] - (mx + log(red[0]));
}`);
  ctx.dispatch(kern, { V, z, temp: temperature, u, k, input, ids, lp }, [1]);
}
