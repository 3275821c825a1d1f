/**
 * Generating text one character at a time: feed a character, get the next-character
 * distribution, draw from it, feed what was drawn.
 *
 *   p_i ∝ exp(z_i / temperature)      temperature → 0: always the most likely character (argmax);
 *                                     1: the model's own distribution; > 1: flatter, wilder.
 *   top-k: draw only among the k most likely; top-p (nucleus): among the smallest set whose
 *   probability adds up to at least p.
 *
 * A Sampler owns a batch-1, one-step workspace and its buffers, so generating allocates nothing
 * per character.
 */
import { CharRnnError } from './errors.js';
import { Workspace, type CharRNN } from './model/model.js';
import { Rng } from './rng.js';
import { describeChars, type Vocabulary } from './vocab.js';

export interface SampleOptions {
  /** Characters to generate (the prime is not counted). */
  length: number;
  /** 0 = greedy argmax. */
  temperature?: number;
  /** 0 = no limit. */
  topK?: number;
  /** 1 = no limit. */
  topP?: number;
  /** Text that warms up the state before generating. */
  prime?: string;
  /** Drop prime characters that are not in the vocabulary instead of failing. */
  skipUnknown?: boolean;
  seed?: number;
  /** Draw from this generator instead of a fresh one seeded with `seed`. */
  rng?: Rng;
}

export class Sampler {
  private readonly ws: Workspace;
  private readonly probs: Float64Array; // (V)
  private readonly order: Int32Array; // (V) indices sorted by probability, for top-k / top-p

  constructor(readonly model: CharRNN, readonly vocab: Vocabulary) {
    this.ws = new Workspace(model, 1, 1, { training: false });
    this.ws.targets[0] = -1; // no loss while sampling
    this.probs = new Float64Array(vocab.size);
    this.order = new Int32Array(vocab.size);
  }

  /** Give the workspace's memory back to the backend; the sampler is unusable afterwards. */
  dispose(): void {
    this.ws.dispose();
  }

  reset(): void {
    this.ws.resetState();
  }

  /** Feed one character id; afterwards `logits` hold the next-character scores. */
  feed(id: number): void {
    this.ws.inputs[0] = id;
    this.model.logits(this.ws); // scores only: no loss, no allocation
    this.ws.carryState();
  }

  get logits(): Float32Array | Float64Array {
    return this.ws.logits;
  }

  /** The hidden state after the last feed, per layer: h (and c). */
  state(): Array<Float32Array | Float64Array> {
    return this.ws.getState();
  }

  /** Draw the next id from the current logits. */
  pick(rng: Rng, temperature: number, topK = 0, topP = 1): number {
    const z = this.ws.logits;
    const V = this.vocab.size;
    if (temperature === 0) {
      let best = 0;
      for (let i = 1; i < V; i++) if (z[i] > z[best]) best = i;
      return best;
    }
    const p = this.probs;
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (z[i] > max) max = z[i];
    let sum = 0;
    for (let i = 0; i < V; i++) sum += p[i] = Math.exp((z[i] - max) / temperature);
    if ((topK > 0 && topK < V) || topP < 1) {
      const order = this.order;
      for (let i = 0; i < V; i++) order[i] = i;
      order.sort((a, b) => p[b] - p[a] || a - b);
      const k = topK > 0 ? Math.min(topK, V) : V;
      let kept = 0;
      let cum = 0;
      while (kept < k) {
        cum += p[order[kept++]];
        if (cum >= topP * sum) break;
      }
      for (let r = kept; r < V; r++) p[order[r]] = 0;
      sum = cum;
    }
    let u = rng.next() * sum;
    for (let i = 0; i < V; i++) {
      if (p[i] === 0) continue;
      u -= p[i];
      if (u < 0) return i;
    }
    for (let i = V - 1; i >= 0; i--) if (p[i] > 0) return i; // round-off left u ≥ 0
    return 0;
  }

  /** Ids of the prime text, failing (or skipping, with the list) on unknown characters. */
  primeIds(prime: string, skipUnknown: boolean): { ids: number[]; skipped: string[] } {
    const ids: number[] = [];
    const skipped: string[] = [];
    for (const ch of prime) {
      const id = this.vocab.id(ch.codePointAt(0)!);
      if (id >= 0) ids.push(id);
      else if (!skipped.includes(ch)) skipped.push(ch);
    }
    if (skipped.length > 0 && !skipUnknown) {
      throw new CharRnnError('unknown-chars', `--prime: ${describeChars(skipped)} not in the model's vocabulary; remove such characters or pass --skip-unknown`);
    }
    return { ids, skipped };
  }

  /**
   * Generate `length` characters. Yields them one at a time (code points as strings). Without
   * a prime, starts as after a newline if the vocabulary has one, else from a random character.
   */
  *generate(opts: SampleOptions): Generator<string, void, undefined> {
    const temperature = opts.temperature ?? 1;
    const rng = opts.rng ?? new Rng(opts.seed ?? 0);
    this.reset();
    const { ids } = this.primeIds(opts.prime ?? '', opts.skipUnknown ?? false);
    if (ids.length === 0) {
      const nl = this.vocab.id(10);
      ids.push(nl >= 0 ? nl : Math.floor(rng.next() * this.vocab.size));
    }
    for (const id of ids) this.feed(id);
    for (let n = 0; n < opts.length; n++) {
      const id = this.pick(rng, temperature, opts.topK ?? 0, opts.topP ?? 1);
      yield this.vocab.char(id);
      if (n + 1 < opts.length) this.feed(id);
    }
  }
}

/** Library form: an async iterator of characters (yields to the event loop now and then). */
export async function* sample(model: CharRNN, vocab: Vocabulary, opts: SampleOptions): AsyncGenerator<string, void, undefined> {
  const sampler = new Sampler(model, vocab);
  try {
    let n = 0;
    for (const ch of sampler.generate(opts)) {
      yield ch;
      if (++n % 256 === 0) await new Promise((r) => setTimeout(r, 0));
    }
  } finally {
    sampler.dispose(); // also when the caller stops early (break calls return())
  }
}

/** Convenience: the whole sample as a string. */
export function sampleText(sampler: Sampler, opts: SampleOptions): string {
  let s = '';
  for (const ch of sampler.generate(opts)) s += ch;
  return s;
}
