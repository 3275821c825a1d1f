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
 * per character. It is the character-at-a-time way to generate (feed, logits, pick, state);
 * a whole request (count, stops, lines, beam search, a stream) is generate() (src/generate.ts),
 * built on it. Its options are checked here, once for every caller (the CLI, the page, the
 * library): a bad one is a one-line CharRnnError naming the CLI flag. Every way to start
 * generating (sampling, beam search, the writing assistant) starts with prime(), which holds
 * the rule for starting without a prime.
 *
 * One path on every backend: `steps()` is an async generator. On host memory (js, wasm) it
 * draws each character with pick() (float64, top-k and top-p allowed) and yields it at once, so
 * a stream or a stop sequence sees every character as it is made; the awaits between characters
 * are of settled promises. On a device (webgpu) the logits never come back: sampleNext draws on
 * the device with pick()'s arithmetic in float32 (webgpu/sample.ts, the uniforms drawn here from
 * the same generator) and writes the id into the next step's input, and the ids and
 * log-probabilities are read back once per SAMPLE_CHUNK characters. Top-k and top-p need the
 * distribution on the host, so there they are refused in one line.
 */
import { ArenaPlan, type Arena } from './arena.js';
import { drawId, walk } from './backend/host.js';
import { CharRnnError } from './errors.js';
import { requireHost, Workspace, type CharRNN } from './model/model.js';
import { Rng } from './rng.js';
import { describeChars, type Vocabulary } from './vocab.js';

export interface SampleOptions {
  /** Characters to generate (the prime is not counted). */
  length: number;
  /** 0 = greedy argmax. */
  temperature?: number;
  /** 0 = no limit. Host memory only (js, wasm). */
  topK?: number;
  /** 1 = no limit. Host memory only (js, wasm). */
  topP?: number;
  /** Text that warms up the state before generating. */
  prime?: string;
  /** Drop prime characters that are not in the vocabulary instead of failing. */
  skipUnknown?: boolean;
  /** Default 0: a Sampler's draws are the same unless told otherwise (generate() makes a random seed). */
  seed?: number;
  /**
   * Draw from this generator instead of a fresh one seeded with `seed`. It advances one draw
   * per character handed out (none at temperature 0) on every backend, so a caller that stops
   * early leaves it where the next sample of a list starts.
   */
  rng?: Rng;
}

/** Longest sample one call may ask for (ten million characters). */
export const MAX_SAMPLE_LENGTH = 1e7;

/** Check sampling options; throws a one-line CharRnnError ('bad-flag') naming the flag. */
export function checkSampleOptions(opts: SampleOptions): void {
  const bad = (msg: string): never => {
    throw new CharRnnError('bad-flag', msg);
  };
  const { length, temperature = 1, topK = 0, topP = 1, seed } = opts;
  if (!Number.isInteger(length) || length < 0 || length > MAX_SAMPLE_LENGTH) bad(`--length must be a whole number ≥ 0 and ≤ ${MAX_SAMPLE_LENGTH} (got ${length})`);
  if (!(Number.isFinite(temperature) && temperature >= 0)) bad(`--temperature must be ≥ 0 (got ${temperature}); 0 means always the most likely character`);
  if (!Number.isInteger(topK) || topK < 0) bad(`--top-k must be a whole number ≥ 0 (got ${topK}); 0 means no limit`);
  if (!(topP > 0 && topP <= 1)) bad(`--top-p must be in (0, 1] (got ${topP}); 1 means no limit`);
  checkSeed(seed);
}

/** A seed is a whole number from 0 to 2³² − 1 (or absent); throws a one-line CharRnnError ('bad-flag'). */
export function checkSeed(seed: number | undefined): void {
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 2 ** 32 - 1)) {
    throw new CharRnnError('bad-flag', `--seed must be a whole number from 0 to 2^32 − 1 (got ${seed})`);
  }
}

/** Characters a device sampler draws between readbacks. */
const SAMPLE_CHUNK = 4096;

/** One generated character: its id, and its log-probability under the distribution it was drawn from. */
export interface SampledChar {
  id: number;
  char: string;
  /** ln p(id) at temperature 1, before top-k / top-p: what the model itself thinks of the choice. */
  logProb: number;
}

export class Sampler {
  private readonly ws: Workspace;
  private readonly probs: Float64Array; // (V)
  private readonly order: Int32Array; // (V) indices sorted by probability, for top-k / top-p
  /** On a device: the chunk's uniforms (CHUNK), drawn ids (CHUNK) and log-probabilities (CHUNK). */
  private device: { arena: Arena; u: Float32Array; ids: Int32Array; lp: Float32Array } | null = null;

  constructor(readonly model: CharRNN, readonly vocab: Vocabulary) {
    this.ws = new Workspace(model, 1, 1, { training: false });
    this.ws.targets[0] = -1; // no loss while sampling
    this.probs = new Float64Array(vocab.size);
    this.order = new Int32Array(vocab.size);
  }

  /** Give the workspace's memory back to the backend; the sampler is unusable afterwards. */
  dispose(): void {
    this.device?.arena.dispose();
    this.ws.dispose();
  }

  reset(): void {
    this.ws.resetState();
  }

  /** Feed one character id; afterwards `logits` hold the next-character scores. */
  feed(id: number): void {
    this.ws.inputs[0] = id;
    this.ws.idsWritten();
    this.model.logits(this.ws); // scores only: no loss, no allocation
    this.ws.carryState();
  }

  /** The next-character scores (V) after the last feed; on a device, a view to `download` first (types.ts). */
  get logits(): Float32Array | Float64Array {
    return this.ws.logits;
  }

  /** The hidden state after the last feed, per layer: h (and c). Host memory only. */
  state(): Array<Float32Array | Float64Array> {
    requireHost(this.model, 'Sampler.state');
    return this.ws.getState();
  }

  /** Go back to a state taken by state() (beam search keeps one per beam); `logits` are then stale until the next feed. */
  setState(state: ArrayLike<number>[]): void {
    this.ws.setState(state);
  }

  /**
   * Draw the next id from the current logits on the host (host memory only): drawId's draw
   * (backend/host.ts, the one sampleNext makes), or with top-k / top-p the same walk over the
   * probabilities that are kept.
   */
  pick(rng: Rng, temperature: number, topK = 0, topP = 1): number {
    requireHost(this.model, 'Sampler.pick');
    const z = this.ws.logits;
    const V = this.vocab.size;
    const p = this.probs;
    if (temperature === 0) return drawId(z, V, 0, 0, p); // argmax: no draw
    if (!((topK > 0 && topK < V) || topP < 1)) return drawId(z, V, temperature, rng.next(), p);
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (z[i] > max) max = z[i];
    let sum = 0;
    for (let i = 0; i < V; i++) sum += p[i] = Math.exp((z[i] - max) / temperature);
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
    return walk(p, V, rng.next() * cum);
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
   * Reset the state and feed `text`'s characters; with no text (or, with skipUnknown, none the
   * vocabulary has), start as after a newline when the vocabulary has one (where every line of
   * the training text started; a lines model's items all start there), else from a character
   * drawn from `rng` (one draw). The one start rule of sampling, beam search and the writing
   * assistant. Returns the ids fed (V-indices), and the prime's characters not in the
   * vocabulary (each once); unknown characters fail in one line unless `skipUnknown`.
   */
  prime(text: string, rng: Rng, skipUnknown = false): { ids: number[]; skipped: string[] } {
    this.reset();
    const { ids, skipped } = this.primeIds(text, skipUnknown);
    if (ids.length === 0) {
      const nl = this.vocab.id(10);
      ids.push(nl >= 0 ? nl : Math.floor(rng.next() * this.vocab.size));
    }
    for (const id of ids) this.feed(id);
    return { ids, skipped };
  }

  /**
   * Generate `length` characters, each with its id and log-probability, on any backend (see the
   * header), after prime(opts.prime). A caller may stop early (break); the options are checked
   * at the first next(). One generator at a time per sampler: they share its state.
   */
  async *steps(opts: SampleOptions): AsyncGenerator<SampledChar, void, undefined> {
    checkSampleOptions(opts);
    const topK = opts.topK ?? 0;
    const topP = opts.topP ?? 1;
    const be = this.model.backend;
    if (!be.hostMemory && (topK > 0 || topP < 1)) {
      throw new CharRnnError('bad-flag', '--top-k and --top-p sample on the CPU backends (auto, native, wasm, js); on webgpu use --temperature alone, or sample from `await model.toHost()`');
    }
    const temperature = opts.temperature ?? 1;
    const rng = opts.rng ?? new Rng(opts.seed ?? 0);
    this.prime(opts.prime ?? '', rng, opts.skipUnknown ?? false);
    const V = this.vocab.size;
    if (be.hostMemory) {
      for (let n = 0; n < opts.length; n++) {
        const id = this.pick(rng, temperature, topK, topP);
        yield { id, char: this.vocab.char(id), logProb: this.logProb(id) };
        if (n + 1 < opts.length) this.feed(id);
      }
      return;
    }
    const d = (this.device ??= this.deviceBuffers());
    // A chunk's uniforms come from a copy of the generator running ahead, and `rng` itself takes
    // one draw per character handed out: the same draws as pick()'s, and a caller that stops
    // early (a stop sequence, an item's newline) leaves `rng` where pick() would have.
    const ahead = new Rng(rng.state);
    for (let from = 0; from < opts.length; from += SAMPLE_CHUNK) {
      const n = Math.min(SAMPLE_CHUNK, opts.length - from);
      if (temperature > 0) {
        for (let k = 0; k < n; k++) d.u[k] = ahead.next();
        be.upload(d.u.subarray(0, n));
      }
      for (let k = 0; k < n; k++) {
        be.sampleNext(V, this.ws.logits, temperature, d.u, k, this.ws.inputs, d.ids, d.lp);
        if (from + k + 1 < opts.length) {
          this.model.logits(this.ws); // reads the id sampleNext left in the input word
          this.ws.carryState();
        }
      }
      const ids = d.ids.subarray(0, n);
      const lp = d.lp.subarray(0, n);
      await be.download([ids, lp]);
      for (let k = 0; k < n; k++) {
        if (temperature > 0) rng.next();
        yield { id: ids[k], char: this.vocab.char(ids[k]), logProb: lp[k] };
      }
    }
  }

  private deviceBuffers(): NonNullable<Sampler['device']> {
    const plan = new ArenaPlan('float32');
    const su = plan.floats(SAMPLE_CHUNK);
    const si = plan.ints(SAMPLE_CHUNK);
    const sl = plan.floats(SAMPLE_CHUNK);
    const arena = plan.allocate(this.model.backend);
    return { arena, u: arena.floats(su) as Float32Array, ids: arena.ints(si), lp: arena.floats(sl) as Float32Array };
  }

  /** ln softmax(logits)[id]: the log-probability of `id` under the current logits, at temperature 1. Host memory only. */
  logProb(id: number): number {
    requireHost(this.model, 'Sampler.logProb');
    return this.ws.logits[id] - logSumExp(this.ws.logits, this.vocab.size);
  }
}

/** The first stop sequence that `text` ends with, or null (generated text ends right after it). */
export function stopAt(text: string, stops: readonly string[]): string | null {
  for (const s of stops) if (text.endsWith(s)) return s;
  return null;
}

/** ln Σ_i exp(z_i) over the first n entries, in float64 (shifted by the max, so it never overflows). */
export function logSumExp(z: ArrayLike<number>, n: number): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (z[i] > max) max = z[i];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(z[i] - max);
  return max + Math.log(sum);
}
