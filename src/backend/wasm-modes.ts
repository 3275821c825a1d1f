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
/** A timing over OUTLIER times the estimate is ignored if it comes alone. */
const OUTLIER = 2;

/** Per shape: smoothed ms per call on the calling thread alone and on all threads. */
export interface ShapeTiming {
  serial: number; parallel: number; ns: number; np: number; calls: number;
  /** The last timing of that mode was an outlier. */
  slowS: boolean; slowP: boolean;
}

/**
 * Smoothed time of a mode after a new timing dt (its n-th): a faster timing is taken at once (it
 * is what the mode can do); a slower one moves the estimate gradually, except that a lone
 * outlier (over OUTLIER x the estimate: a descheduled worker, a cold cache) is ignored unless the
 * next timing is one too (then the machine really got busier). Without the first rule warm-up
 * keeps a shape on the slower mode; without the last one outlier sends a shape to the slower
 * mode until the next exploration. The first timing (tier-up, first touch) is replaced by the
 * second.
 */
function track(est: number, dt: number, n: number, outlierBefore: boolean): { est: number; slow: boolean } {
  if (n <= 1 || dt < est) return { est: dt, slow: false };
  const outlier = dt > OUTLIER * est;
  if (outlier && !outlierBefore) return { est, slow: true };
  return { est: est + EMA * (dt - est), slow: outlier };
}

/** A call being timed: its shape's record, the mode choose() picked, and when it started (ms). */
export interface TimedCall {
  t: ShapeTiming;
  parallel: boolean;
  t0: number;
}

export class ThreadModes {
  private readonly timing = new Map<string, ShapeTiming>();

  /** Start timing a call of shape `key`: whether it should run on all threads, and its clock. */
  choose(key: string): TimedCall {
    let t = this.timing.get(key);
    if (!t) this.timing.set(key, (t = { serial: 0, parallel: 0, ns: 0, np: 0, calls: 0, slowS: false, slowP: false }));
    const call = t.calls++;
    const parallel = t.ns < WARM || t.np < WARM
      ? (call & 1) === 1 // alternate until both have a few timings
      : (t.parallel < t.serial) !== ((call & (EXPLORE_EVERY - 1)) === 0);
    return { t, parallel, t0: performance.now() };
  }

  /**
   * The call from choose() has finished: record its time under the mode it ran in (`parallel`,
   * which the caller may override where the chosen mode could not run, e.g. an unfused step).
   */
  done(c: TimedCall, parallel = c.parallel): void {
    const t = c.t, dt = performance.now() - c.t0;
    if (parallel) ({ est: t.parallel, slow: t.slowP } = track(t.parallel, dt, t.np++, t.slowP));
    else ({ est: t.serial, slow: t.slowS } = track(t.serial, dt, t.ns++, t.slowS));
  }
}
