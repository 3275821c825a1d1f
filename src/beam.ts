/**
 * Beam search: keep the K most likely continuations instead of drawing one.
 *
 *   step: every live hypothesis y (all of the same length) is extended by every character c,
 *         scored by  ln p(y) + ln p(c | y)  (the model at temperature 1); the K best extensions
 *         live on. One that produces a stop sequence (or a lines item's newline) is finished.
 *   end:  when no hypothesis is live, or `length` characters are reached (those finish too).
 *   rank: finished hypotheses of different lengths are compared by the length-normalised score
 *           score(y) = ln p(y) / |y|^α,   α = LENGTH_ALPHA = 0.7
 *         (|y| = characters generated, the newline of an item included): with α = 0 short
 *         outputs always win (each character only lowers ln p), with α = 1 it is the mean
 *         log-probability per character; 0.7 sits between, as in machine translation (GNMT).
 *
 * K = 1 is greedy decoding (ties go to the lower id, as in Sampler.pick at temperature 0). The
 * greedy path is also always a candidate, so the best beam is never below greedy decoding.
 * Each hypothesis keeps its own copy of the hidden state (Sampler.state / setState) and of its
 * next-character log-probabilities, so one batch-1 sampler serves all K.
 *
 * It reads every hypothesis's distribution and state on the host, so it runs on host memory
 * (js, wasm) only: a sampler on a device model is refused in one line naming `model.toHost()`.
 */
import type { Generated } from './generate.js';
import { requireHost } from './model/model.js';
import { Rng } from './rng.js';
import { logSumExp, stopAt, type Sampler } from './sample.js';

export const LENGTH_ALPHA = 0.7;

export interface BeamOptions {
  width: number;
  /** Most characters per hypothesis. */
  length: number;
  /** Fed first (known characters only); none: Sampler.prime's start. */
  prime?: string;
  /** A hypothesis ends right after the first of these it produces. */
  stops?: readonly string[];
  /** Items end at their newline (not part of the text). */
  lines?: boolean;
  /** Draws the start character of a vocabulary without a newline (Sampler.prime); nothing else is drawn. Default 0. */
  seed?: number;
  signal?: { aborted: boolean };
}

interface Hyp {
  text: string;
  logProb: number;
  chars: number;
  state: Array<Float32Array | Float64Array>;
  /** ln p(next = c | this hypothesis) (V). */
  next: Float64Array;
}

/** The length-normalised score used to rank finished hypotheses (see the header). */
export function beamScore(logProb: number, chars: number): number {
  return chars === 0 ? 0 : logProb / Math.pow(chars, LENGTH_ALPHA);
}

/** Beam search of `width`; the finished hypotheses, distinct, best first by beamScore. */
export function beamSearch(sampler: Sampler, opts: BeamOptions): Generated[] {
  requireHost(sampler.model, 'beam search');
  const found = search(sampler, opts, opts.width);
  if (opts.width > 1) found.push(...search(sampler, opts, 1)); // never worse than greedy
  const best = new Map<string, Generated & { chars: number }>();
  for (const g of found) if (!best.has(g.text) || best.get(g.text)!.logProb < g.logProb) best.set(g.text, g);
  return [...best.values()]
    .sort((a, b) => beamScore(b.logProb, b.chars) - beamScore(a.logProb, a.chars) || b.logProb - a.logProb)
    .slice(0, opts.width)
    .map(({ text, logProb, stopped }) => ({ text, logProb, stopped }));
}

function search(sampler: Sampler, opts: BeamOptions, K: number): Array<Generated & { chars: number }> {
  const { vocab } = sampler;
  const V = vocab.size;
  const nl = vocab.id(10);
  const here = (): Float64Array => {
    const z = sampler.logits;
    const lse = logSumExp(z, V);
    const out = new Float64Array(V);
    for (let i = 0; i < V; i++) out[i] = z[i] - lse;
    return out;
  };
  const stops = opts.stops ?? [];
  sampler.prime(opts.prime ?? '', new Rng(opts.seed ?? 0));
  let live: Hyp[] = [{ text: '', logProb: 0, chars: 0, state: sampler.state(), next: here() }];
  const done: Array<Generated & { chars: number }> = [];
  for (let step = 0; step < opts.length && live.length > 0 && !opts.signal?.aborted; step++) {
    // the K best (hypothesis, character) extensions, by ln p; ties: earlier hypothesis, lower id
    const cand: Array<{ h: number; id: number; lp: number }> = [];
    live.forEach((hyp, h) => {
      for (let id = 0; id < V; id++) cand.push({ h, id, lp: hyp.logProb + hyp.next[id] });
    });
    cand.sort((a, b) => b.lp - a.lp || a.h - b.h || a.id - b.id);
    const next: Hyp[] = [];
    for (const c of cand.slice(0, K)) {
      const parent = live[c.h];
      const chars = parent.chars + 1;
      if (opts.lines && c.id === nl) {
        done.push({ text: parent.text, logProb: c.lp, stopped: '\n', chars });
        continue;
      }
      const text = parent.text + vocab.char(c.id);
      const stopped = stopAt(text, stops);
      if (stopped !== null || step + 1 === opts.length) {
        done.push({ text, logProb: c.lp, stopped, chars });
        continue;
      }
      sampler.setState(parent.state);
      sampler.feed(c.id);
      next.push({ text, logProb: c.lp, chars, state: sampler.state(), next: here() });
    }
    live = next;
  }
  for (const hyp of live) done.push({ text: hyp.text, logProb: hyp.logProb, stopped: null, chars: hyp.chars }); // aborted
  return done;
}
