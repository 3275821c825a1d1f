// Softmax cross-entropy over N rows of V logits, fused with its gradient.
import { at, vexp, logf64 } from './math';

/**
 * Returns sum over rows with target >= 0 of log(sum_j exp(logits[j])) - logits[target], in f64.
 * If dlogits != 0 it receives (softmax - onehot(target)) * scale, zero on skipped rows; it may
 * alias logits (each row's logits are read before that row of dlogits is written, except the
 * exp pass, which reads and writes element by element).
 * logits, dlogits (N, V); targets (N) int32.
 */
export function softmaxCrossEntropy(N: i32, V: i32, logits: usize, targets: usize, dlogits: usize, scale: f64): f64 {
  let loss: f64 = 0;
  for (let i = 0; i < N; i++) {
    const pl = at(logits, i * V);
    const pd = at(dlogits, i * V);
    const t = load<i32>(at(targets, i));
    if (t < 0) {
      if (dlogits) memory.fill(pd, 0, <usize>V << 2);
      continue;
    }
    // max (for a stable exp)
    let vmax = f32x4.splat(-Infinity);
    let j = 0;
    for (; j + 4 <= V; j += 4) vmax = f32x4.max(vmax, v128.load(at(pl, j)));
    let mx = max(max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)),
      max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
    for (; j < V; j++) mx = max(mx, load<f32>(at(pl, j)));
    const lt = load<f32>(at(pl, t)); // read before dlogits (maybe the same row) is written
    // sum of exp; the exps go to dlogits when wanted, so the last pass is one multiply
    const vm = f32x4.splat(mx);
    let vs = f32x4.splat(0);
    let ts: f32 = 0; // the V % 4 tail, summed apart: a 1-lane load leaves exp(-max) in lanes 1..3
    j = 0;
    if (dlogits) {
      for (; j + 4 <= V; j += 4) {
        const e = vexp(f32x4.sub(v128.load(at(pl, j)), vm));
        v128.store(at(pd, j), e);
        vs = f32x4.add(vs, e);
      }
      for (; j < V; j++) {
        const e = f32x4.extract_lane(vexp(f32x4.splat(load<f32>(at(pl, j)) - mx)), 0);
        store<f32>(at(pd, j), e);
        ts += e;
      }
    } else {
      for (; j + 4 <= V; j += 4) vs = f32x4.add(vs, vexp(f32x4.sub(v128.load(at(pl, j)), vm)));
      for (; j < V; j++) ts += f32x4.extract_lane(vexp(f32x4.splat(load<f32>(at(pl, j)) - mx)), 0);
    }
    const sum = <f64>f32x4.extract_lane(vs, 0) + <f64>f32x4.extract_lane(vs, 1) +
      <f64>f32x4.extract_lane(vs, 2) + <f64>f32x4.extract_lane(vs, 3) + <f64>ts;
    loss += <f64>mx + logf64(sum) - <f64>lt;
    if (dlogits) {
      const k = f32x4.splat(<f32>((1.0 / sum) * scale));
      j = 0;
      for (; j + 4 <= V; j += 4) v128.store(at(pd, j), f32x4.mul(v128.load(at(pd, j)), k));
      for (; j < V; j++) store<f32>(at(pd, j), load<f32>(at(pd, j)) * f32x4.extract_lane(k, 0));
      store<f32>(at(pd, t), <f32>(<f64>load<f32>(at(pd, t)) - scale));
    }
  }
  return loss;
}
