/**
 * What the two CPU backends whose kernels take pointers share (wasm.ts, native.ts): a view is
 * turned into a pointer only if it is one of the backend's own (anything else is an error, as on
 * a GPU, never a read through a stale pointer), a kernel's writes are reported to the packed-
 * weight cache (weight-cache.ts) so cached copies of parameters go stale, and the host's halves
 * of the contract (host.ts): views are the numbers, so fill, copy, the draw of a character and
 * ‖g‖'s last steps run on the host, where they cost no more than a call.
 */
import { hostDevice, sampleNextOnHost, writeGradientNorm } from './host.js';
import type { FloatArray } from './types.js';

/** The backend's memory: the pointer of one of its views, or -1. */
export interface PointerMemory {
  f32(x: FloatArray): number;
  i32(x: Int32Array): number;
}

/** The packed-weight cache's side of kernel writes (weight-cache.ts). */
export interface WriteTracker {
  writes(p: number, bytes: number): void;
  paramsChanged(p?: number, bytes?: number): void;
}

export abstract class PointerBackend {
  // host memory: nothing to move, nothing to wait for (host.ts)
  readonly hostMemory = hostDevice.hostMemory;
  readonly upload = hostDevice.upload;
  readonly download = hostDevice.download;
  readonly flush = hostDevice.flush;
  readonly settle = hostDevice.settle;
  /** sampleNext's scratch (V). */
  private probs = new Float64Array(0);
  protected abstract readonly memory: PointerMemory;
  protected abstract readonly tracker: WriteTracker;

  /** foreign: the one-line error for a view that is not this backend's. */
  protected constructor(private readonly foreign: string) {}

  /** sum_i x[i]^2 for i < n, in float64 (gradientNorm's; not a Backend kernel). */
  abstract sumSquares(n: number, x: FloatArray): number;

  /** The pointer of a float32 view of this backend's memory; anything else throws. */
  protected f(x: FloatArray): number {
    const p = this.memory.f32(x);
    if (p < 0) throw new Error(this.foreign);
    return p;
  }

  /** f() for ids. */
  protected i(x: Int32Array): number {
    const p = this.memory.i32(x);
    if (p < 0) throw new Error(this.foreign);
    return p;
  }

  /** The pointer of x, whose first n floats are about to be written: cached packed weights there go stale. */
  protected out(x: FloatArray, n: number): number {
    const p = this.f(x);
    this.tracker.writes(p, 4 * n);
    return p;
  }

  /** The pointer of p, n parameters an optimizer step is about to write: a parameter region, its packed copies stale. */
  protected param(p: FloatArray, n: number): number {
    const pp = this.f(p);
    this.tracker.paramsChanged(pp, 4 * n);
    return pp;
  }

  /**
   * Parameters changed: cached packed weights are stale. `params` (optional, beyond the Backend
   * interface) marks the region holding the parameters, so GEMMs with B inside it use cached
   * packed panels from the first call on (otherwise the region is learned at the first
   * optimizer step).
   */
  paramsChanged(params?: FloatArray): void {
    if (params) this.tracker.paramsChanged(this.f(params), params.byteLength);
    else this.tracker.paramsChanged();
  }

  // Host loops on the views (they are the memory): cheap, O(B·H) per step.
  fill(n: number, x: FloatArray, v: number): void {
    this.out(x, n);
    x.fill(v, 0, n);
  }

  copy(n: number, src: FloatArray, dst: FloatArray): void {
    this.f(src);
    this.out(dst, n);
    dst.set(n === src.length ? src : src.subarray(0, n));
  }

  /** A character is drawn once per sampled step over V floats: the host's loop (host.ts) is as fast as a call. */
  sampleNext(V: number, logits: FloatArray, temperature: number, u: FloatArray, k: number, input: Int32Array, ids: Int32Array, logProbs: FloatArray): void {
    this.f(logits); this.f(u); this.i(input); this.i(ids); this.f(logProbs); // views of this memory, as on a device
    if (this.probs.length < V) this.probs = new Float64Array(V);
    sampleNextOnHost(V, logits, temperature, u, k, input, ids, logProbs, this.probs);
  }

  gradientNorm(n: number, g: FloatArray, clip: number, byNorm: boolean, out: FloatArray, flags: FloatArray): void {
    this.f(out); this.f(flags); // views of this memory, as on a device
    writeGradientNorm(this.sumSquares(n, g), clip, byNorm, out, flags);
  }
}
