/**
 * The device half of the backend contract where the device is host memory (js, wasm): views are
 * the numbers, so upload, download, flush and settle have nothing to do, and the scalar results
 * a GPU keeps on the device (‖g‖, the clip factor, a drawn character) are written into their
 * views at once. Both CPU backends use these functions, so they behave identically and a loop
 * written for the GPU (read the numbers only where they are logged) runs here with zero lag.
 */
import type { Backend, ClipViews, FloatArray } from './types.js';

/** Nothing to move: the views are the memory. */
export const hostDevice = {
  hostMemory: true as const,
  upload(_view: FloatArray | Int32Array): void {},
  download(_views: readonly (FloatArray | Int32Array)[]): Promise<void> {
    return Promise.resolve();
  },
  flush(): void {},
  settle(): Promise<void> {
    return Promise.resolve();
  },
};

/**
 * gradientNorm from a sum of squares taken on the host: out = (‖g‖, s), s = clip/‖g‖ when
 * clipping by norm and ‖g‖ > clip (else 1); flags[0] += 1 for a non-finite ‖g‖, flags[1] = ‖g‖.
 */
export function writeGradientNorm(sumSquares: number, clip: number, byNorm: boolean, out: FloatArray, flags: FloatArray): void {
  const norm = Math.sqrt(sumSquares);
  out[0] = norm;
  out[1] = byNorm && clip > 0 && norm > clip ? clip / norm : 1;
  if (!Number.isFinite(norm)) flags[0] += 1;
  flags[1] = norm;
}

/**
 * What an optimizer kernel does with `clip` before its update (types.ts ClipViews), on the host:
 * false when ‖g‖ is not finite (the update is skipped), else g scaled by s and clamped to ±hi.
 */
export function clipOnHost(be: Pick<Backend, 'scale' | 'clamp'>, n: number, g: FloatArray, clip: ClipViews | undefined): boolean {
  if (!clip) return true;
  const [norm, s] = clip.factor;
  if (!Number.isFinite(norm)) return false;
  if (s !== 1) be.scale(n, g, s);
  if (clip.hi > 0) be.clamp(n, g, -clip.hi, clip.hi);
  return true;
}

/**
 * The draw of one character from logits z (V) at `temperature` with a uniform u in [0, 1):
 * argmax at temperature 0 (the lowest index among equal maxima), else u · Σ p walked down
 * p_i = exp((z_i − max) / temperature). `p` (V) is scratch. Sampler.pick draws this way, and so
 * does sampleNext on every backend (the WGSL kernel in float32: webgpu/sample.ts).
 */
export function drawId(z: ArrayLike<number>, V: number, temperature: number, u: number, p: Float64Array): number {
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (z[i] > z[best]) best = i;
    return best;
  }
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (z[i] > max) max = z[i];
  let sum = 0;
  for (let i = 0; i < V; i++) sum += p[i] = Math.exp((z[i] - max) / temperature);
  return walk(p, V, u * sum);
}

/** The index where u runs out walking down p (zeros skipped); the last nonzero one if round-off leaves u ≥ 0. */
export function walk(p: ArrayLike<number>, V: number, u: number): number {
  for (let i = 0; i < V; i++) {
    if (p[i] === 0) continue;
    u -= p[i];
    if (u < 0) return i;
  }
  for (let i = V - 1; i >= 0; i--) if (p[i] > 0) return i;
  return 0;
}

/** ln softmax(z)[id] at temperature 1, in float64. */
export function logProbOf(z: ArrayLike<number>, V: number, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (z[i] > max) max = z[i];
  let sum = 0;
  for (let i = 0; i < V; i++) sum += Math.exp(z[i] - max);
  return z[id] - (max + Math.log(sum));
}

/** sampleNext on host memory (types.ts): the draw, written where the device kernel writes it. */
export function sampleNextOnHost(V: number, z: FloatArray, temperature: number, u: FloatArray, k: number, input: Int32Array, ids: Int32Array, logProbs: FloatArray, p: Float64Array): void {
  const id = drawId(z, V, temperature, u[k], p);
  input[0] = id;
  ids[k] = id;
  logProbs[k] = logProbOf(z, V, id);
}
