/**
 * The writing assistant's model side: given the text before the caret, the model's most likely
 * next characters and a few sampled completions (to the end of the next word, and one to the
 * end of the line). `charrnn write` shows them in a terminal (cli/write.ts); a page can show them
 * beside a text box. No I/O.
 *
 * The model's state is carried as the text grows: each character is fed once. Completions are
 * drawn from a copy of that state and never disturb it:
 *
 *   ids      [start, c_1, …, c_n]     every character fed, in order (start: Sampler.prime's, as
 *                                    sampling starts)
 *   before   state after ids[0..n-1]  so "restore before, feed ids[n]" gives the current state
 *                                    *and* fresh next-character logits, in one step
 *   snaps[j] state before ids[j·S]    to take characters back: go to the nearest snapshot and
 *                                    feed at most S characters again, never the whole text
 */
import { CharRnnError } from './errors.js';
import { GENERATION_DEFAULTS } from './generate-options.js';
import { requireHost } from './model/model.js';
import { randomSeed, Rng } from './rng.js';
import { checkSeed, logSumExp, type Sampler } from './sample.js';

/** Characters between snapshots. */
const SNAP_EVERY = 32;
/** Longest word and line completions, in characters. */
const WORD_MAX = 30;
const LINE_MAX = 80;

type State = Array<Float32Array | Float64Array>;

export interface Suggestion {
  text: string;
  kind: 'word' | 'line';
}

/** What the assistant shows: the `top` likeliest next characters, `suggestions` word completions drawn at `temperature`. */
export interface AssistantOptions {
  top: number;
  suggestions: number;
  temperature: number;
}

/** Check the assistant's options (GENERATION_DEFAULTS.write has the defaults); throws a one-line CharRnnError ('bad-flag') naming the flag. */
export function checkAssistantOptions(o: AssistantOptions): void {
  const bad = (msg: string): never => {
    throw new CharRnnError('bad-flag', msg);
  };
  if (!Number.isInteger(o.top) || o.top < 0 || o.top > 20) bad(`--top must be a whole number from 0 to 20 (got ${o.top})`);
  if (!Number.isInteger(o.suggestions) || o.suggestions < 0 || o.suggestions > 9) bad(`--suggestions must be a whole number from 0 to 9 (got ${o.suggestions})`);
  if (!(o.temperature > 0)) bad(`--temperature must be > 0 (got ${o.temperature})`);
}

/**
 * The text and the model's state after it; suggestions from that state. It copies states and
 * reads the distribution at every key (Sampler.state, pick), so it runs on host memory only.
 */
export class Assistant {
  /** The text (code points), including characters the model does not know. */
  readonly chars: string[] = [];
  /** Characters of the text that are not in the vocabulary (shown, not fed). */
  unknown = 0;
  /** The seed of the completions' draws: the one given, or a random one. */
  readonly seed: number;
  private readonly ids: number[] = [];
  /** For each character of the text: whether it was fed (so taking it back knows what to undo). */
  private readonly fed: boolean[] = [];
  private readonly snaps: State[] = [];
  private before: State;
  private readonly rng: Rng;

  constructor(private readonly sampler: Sampler, seed?: number) {
    requireHost(sampler.model, 'the writing assistant');
    checkSeed(seed);
    this.seed = seed ?? randomSeed();
    this.rng = new Rng(this.seed);
    sampler.reset();
    const zero = sampler.state();
    this.snaps.push(zero);
    this.before = zero;
    this.ids.push(...sampler.prime('', this.rng).ids);
  }

  get text(): string {
    return this.chars.join('');
  }

  /** Feed one id (the sampler holds the current state). */
  private push(id: number): void {
    if (this.ids.length % SNAP_EVERY === 0) this.snaps.push(this.sampler.state());
    this.before = this.sampler.state();
    this.sampler.feed(id);
    this.ids.push(id);
  }

  /** Back to the current state, with fresh logits (one step from `before`). */
  private current(): void {
    this.sampler.setState(this.before);
    this.sampler.feed(this.ids[this.ids.length - 1]);
  }

  /** Add `text` after the text. */
  type(text: string): void {
    this.current();
    for (const ch of text) {
      const id = this.sampler.vocab.id(ch.codePointAt(0)!);
      this.chars.push(ch);
      this.fed.push(id >= 0);
      if (id >= 0) this.push(id);
      else this.unknown++;
    }
  }

  /** Delete the last character. */
  backspace(): void {
    if (this.chars.length > 0) this.truncate(this.chars.length - 1);
  }

  /** Keep the first `n` characters (code points) of the text. */
  truncate(n: number): void {
    let keepIds = this.ids.length;
    while (this.chars.length > n) {
      this.chars.pop();
      if (this.fed.pop()) keepIds--;
      else this.unknown--;
    }
    if (keepIds === this.ids.length) return;
    // replay from the nearest snapshot: state before ids[j·S], then ids[j·S .. keepIds-1]
    const j = Math.floor((keepIds - 1) / SNAP_EVERY);
    this.snaps.length = j + 1;
    const replay = this.ids.splice(j * SNAP_EVERY).slice(0, keepIds - j * SNAP_EVERY);
    this.sampler.setState(this.snaps[j]);
    this.snaps.pop(); // push() takes it again
    for (const id of replay) this.push(id);
  }

  /**
   * Make the text `text` (what is before the caret in a page's text box): the part it shares
   * with the current text is kept, the rest taken back and typed, so the state is carried.
   */
  setText(text: string): void {
    const next = [...text];
    let same = 0;
    while (same < next.length && same < this.chars.length && next[same] === this.chars[same]) same++;
    this.truncate(same);
    this.type(next.slice(same).join(''));
  }

  /** The k most likely next characters with their probabilities (temperature 1). */
  next(k: number): { char: string; p: number }[] {
    this.current();
    const z = this.sampler.logits;
    const { vocab } = this.sampler;
    const lse = logSumExp(z, vocab.size);
    const order = Array.from({ length: vocab.size }, (_, i) => i).sort((a, b) => z[b] - z[a] || a - b);
    return order.slice(0, k).map((i) => ({ char: vocab.char(i), p: Math.exp(z[i] - lse) }));
  }

  /**
   * `n` distinct completions to the end of the next word (a run of letters, digits or
   * apostrophes, after anything else but a newline), and one to the end of the line; drawn at
   * `temperature`. Empty ones (the model would end the word or line right here) are left out.
   */
  suggest(n: number = GENERATION_DEFAULTS.write.suggestions, temperature: number = GENERATION_DEFAULTS.write.temperature): Suggestion[] {
    const out: Suggestion[] = [];
    const seen = new Set<string>();
    for (let tries = 0; tries < n * 3 && out.length < n; tries++) {
      const text = this.complete(temperature, WORD_MAX, (ch, sofar) => ch === '\n' || (WORD.test(sofar) && !WORD.test(ch)));
      if (text && !seen.has(text)) {
        seen.add(text);
        out.push({ text, kind: 'word' });
      }
    }
    const line = this.complete(temperature, LINE_MAX, (ch) => ch === '\n');
    if (line && !seen.has(line)) out.push({ text: line, kind: 'line' });
    this.current();
    return out;
  }

  /**
   * A completion from the current state, a character at a time with the Sampler (pick, feed),
   * until `ends(next, sofar)` (the ending character is left out) or `max` characters.
   */
  private complete(temperature: number, max: number, ends: (ch: string, sofar: string) => boolean): string {
    this.current();
    let text = '';
    for (let i = 0; i < max; i++) {
      const id = this.sampler.pick(this.rng, temperature);
      const ch = this.sampler.vocab.char(id);
      if (ends(ch, text)) break;
      text += ch;
      this.sampler.feed(id);
    }
    return text;
  }
}

/** A word character; tested on a whole string, whether it holds one. */
const WORD = /[\p{L}\p{N}'’]/u;
