/**
 * Per-shape choice between running a kernel on the calling thread alone and splitting it over
 * the worker pool. Threads pay off on a quiet machine (≈ 1.85x with 2 on big GEMMs) but lose on
 * an oversubscribed one (other processes, or vCPUs that share a physical core): both modes are
 * timed per shape and the faster is used, re-trying the other now and then because the
 * machine's load changes.
 */

/** Timings of each mode (the first one dropped) before a shape's mode is chosen by speed. */
const WARM = 3;
/** A shape runs the mode that currently looks slower once every EXPLORE_EVERY calls (a power of 2). */
const EXPLORE_EVERY = 32;
/** Weight of a slower new timing in the smoothed per-shape times (a faster one is taken as is). */
const EMA = 0.25;

/**
 * Update a smoothed time with a new timing dt (the n-th). It follows a faster timing at once and
 * a slower one gradually: a slow call is usually noise (preemption, a cold cache), a fast one is
 * what the mode can do. The first timing (tier-up, first touch) is replaced by the second.
 */
function track(est: number, dt: number, n: number): number {
  return n <= 1 || dt < est ? dt : est + EMA * (dt - est);
}

/** Per shape: smoothed ms per call on the calling thread alone and on all threads. */
export interface ShapeTiming { serial: number; parallel: number; ns: number; np: number; calls: number }

export class ThreadModes {
  private readonly timing = new Map<string, ShapeTiming>();

  /** The shape's record, and whether this call should run on all threads. */
  choose(key: string): { t: ShapeTiming; parallel: boolean } {
    let t = this.timing.get(key);
    if (!t) this.timing.set(key, (t = { serial: 0, parallel: 0, ns: 0, np: 0, calls: 0 }));
    const call = t.calls++;
    const parallel = t.ns < WARM || t.np < WARM
      ? (call & 1) === 1 // alternate until both have a few timings
      : (t.parallel < t.serial) !== ((call & (EXPLORE_EVERY - 1)) === 0);
    return { t, parallel };
  }

  /** Record how long a call chosen by choose() took, in ms. */
  record(t: ShapeTiming, parallel: boolean, dt: number): void {
    if (parallel) t.parallel = track(t.parallel, dt, t.np++);
    else t.serial = track(t.serial, dt, t.ns++);
  }
}
