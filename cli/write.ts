/**
 * `charrnn write CHECKPOINT`: a writing assistant in a plain terminal. You type; under the text
 * the model shows its most likely next characters and a few sampled completions (to the end of
 * the next word, and one to the end of the line). Tab accepts the highlighted completion, ↑/↓
 * choose another, Esc dismisses them until the next key, Ctrl-C or Ctrl-D quits and prints the
 * text. Raw mode and ANSI escapes only (the alternate screen, so the shell's screen comes back
 * as it was): a full-screen library would bring a widget toolkit for one text area and a list.
 *
 * The model's state is carried as you type: each character is fed once. Completions are drawn
 * from a copy of that state and never disturb it:
 *
 *   ids      [start, c_1, …, c_n]     every character fed, in order (start: a newline, as sample does)
 *   before   state after ids[0..n-1]  so "restore before, feed ids[n]" gives the current state
 *                                    *and* fresh next-character logits, in one step
 *   snaps[j] state before ids[j·S]    for Backspace: go back to the nearest snapshot and feed
 *                                    at most S characters again, never the whole text
 */
import { Rng } from '../src/rng.js';
import { requireHost } from '../src/model/model.js';
import { logSumExp, Sampler } from '../src/sample.js';
import type { Vocabulary } from '../src/vocab.js';
import { createBackend } from '../src/backend/platform-node.js';
import { parseBackendFlags } from './backend.js';
import { loadCheckpointFile } from './checkpoint.js';
import { CliError, parseNumber, type Proc } from './io.js';

/** Characters between Backspace snapshots. */
const SNAP_EVERY = 32;
/** Longest word and line completions, in characters. */
const WORD_MAX = 30;
const LINE_MAX = 80;

type State = Array<Float32Array | Float64Array>;

export interface Suggestion {
  text: string;
  kind: 'word' | 'line';
}

/**
 * The typed text and the model's state after it; suggestions from that state. It copies states
 * and reads the distribution at every key (Sampler.state, pick), so it runs on host memory only.
 */
export class Assistant {
  /** The text as typed (code points), including characters the model does not know. */
  readonly chars: string[] = [];
  /** Characters typed that are not in the vocabulary (shown, not fed). */
  unknown = 0;
  private readonly ids: number[] = [];
  /** For each typed character: whether it was fed (so Backspace knows what to take back). */
  private readonly fed: boolean[] = [];
  private readonly snaps: State[] = [];
  private before: State;
  private readonly rng: Rng;

  constructor(private readonly sampler: Sampler, private readonly vocab: Vocabulary, seed: number) {
    requireHost(sampler.model, 'the writing assistant');
    this.rng = new Rng(seed);
    sampler.reset();
    this.before = sampler.state();
    const nl = vocab.id(10);
    this.push(nl >= 0 ? nl : 0);
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

  type(text: string): void {
    this.current();
    for (const ch of text) {
      const id = this.vocab.id(ch.codePointAt(0)!);
      this.chars.push(ch);
      this.fed.push(id >= 0);
      if (id >= 0) this.push(id);
      else this.unknown++;
    }
  }

  backspace(): void {
    if (this.chars.length === 0) return;
    this.chars.pop();
    if (!this.fed.pop()) {
      this.unknown--;
      return;
    }
    this.ids.pop();
    // replay from the nearest snapshot: state before ids[j·S], then ids[j·S .. n-2]
    const n = this.ids.length;
    const j = Math.floor((n - 1) / SNAP_EVERY);
    this.snaps.length = j + 1;
    const replay = this.ids.splice(j * SNAP_EVERY);
    this.sampler.setState(this.snaps[j]);
    this.snaps.pop(); // push() takes it again
    for (const id of replay) this.push(id);
  }

  /** The k most likely next characters with their probabilities (temperature 1). */
  next(k: number): { char: string; p: number }[] {
    this.current();
    const z = this.sampler.logits;
    const V = this.vocab.size;
    const lse = logSumExp(z, V);
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => z[b] - z[a] || a - b);
    return order.slice(0, k).map((i) => ({ char: this.vocab.char(i), p: Math.exp(z[i] - lse) }));
  }

  /**
   * `n` distinct completions to the end of the next word (a run of letters, digits or
   * apostrophes, after anything else but a newline), and one to the end of the line; drawn at
   * `temperature`. Empty ones (the model would end the word or line right here) are left out.
   */
  suggest(n: number, temperature: number): Suggestion[] {
    const out: Suggestion[] = [];
    const seen = new Set<string>();
    for (let tries = 0; tries < n * 3 && out.length < n; tries++) {
      const text = this.draw(temperature, WORD_MAX, (ch, sofar) => ch === '\n' || (WORD.test(sofar) && !WORD.test(ch)));
      if (text && !seen.has(text)) {
        seen.add(text);
        out.push({ text, kind: 'word' });
      }
    }
    const line = this.draw(temperature, LINE_MAX, (ch) => ch === '\n');
    if (line && !seen.has(line)) out.push({ text: line, kind: 'line' });
    this.current();
    return out;
  }

  /** Draw characters from the current state until `ends(next, sofar)` (the ending character is left out). */
  private draw(temperature: number, max: number, ends: (ch: string, sofar: string) => boolean): string {
    this.current();
    let text = '';
    for (let i = 0; i < max; i++) {
      const id = this.sampler.pick(this.rng, temperature);
      const ch = this.vocab.char(id);
      if (ends(ch, text)) break;
      text += ch;
      this.sampler.feed(id);
    }
    return text;
  }
}

/** A word character; tested on a whole string, whether it holds one. */
const WORD = /[\p{L}\p{N}'’]/u;

/** How a suggestion is shown: invisible characters made visible. */
export function visible(s: string): string {
  return s.replace(/\n/g, '⏎').replace(/\t/g, '⇥').replace(/[\x00-\x1f\x7f]/g, '�');
}

// ANSI escapes
const ESC = '\x1b[';
const ALT_ON = `${ESC}?1049h`;
const ALT_OFF = `${ESC}?1049l`;
const CLEAR = `${ESC}H${ESC}J`;
const DIM = `${ESC}2m`;
const BOLD = `${ESC}1m`;
const RESET = `${ESC}0m`;

/** The screen: the end of the text, then the suggestions panel; returns where the cursor goes. */
function render(a: Assistant, sugg: Suggestion[] | null, next: { char: string; p: number }[], selected: number, cols: number, rows: number): string {
  // every panel line fits in one row (a wrapped row would push the layout down)
  const fit = (t: string, style = ''): string => {
    const cps = [...t];
    return style + (cps.length > cols - 1 ? cps.slice(0, cols - 2).join('') + '…' : t) + (style ? RESET : '');
  };
  const panel: string[] = [fit('─'.repeat(Math.max(10, cols - 1)), DIM)];
  if (sugg) {
    panel.push(fit('next  ' + next.map((c) => `${c.char === ' ' ? '␣' : visible(c.char)} ${Math.round(c.p * 100)}%`).join('  ')));
    sugg.forEach((s, i) => {
      panel.push((i === selected ? `${BOLD}›${RESET}` : ' ') + fit(` ${s.kind === 'line' ? 'line ' : ''}‹${visible(s.text)}›`));
    });
  }
  panel.push(fit('Tab accept · ↑↓ choose · Esc dismiss · Ctrl-D quit', DIM));
  if (a.unknown > 0) panel.push(fit(`${a.unknown} typed character${a.unknown > 1 ? 's' : ''} not in the model's vocabulary (shown, not fed to it)`, DIM));
  // the text, wrapped, its last lines only
  const lines: string[] = [];
  for (const logical of a.text.split('\n')) {
    const cps = [...logical];
    if (cps.length === 0) lines.push('');
    for (let i = 0; i < cps.length; i += cols) lines.push(cps.slice(i, i + cols).join(''));
    if (cps.length > 0 && cps.length % cols === 0) lines.push(''); // the cursor wraps to a new row
  }
  const room = Math.max(1, rows - panel.length);
  const shown = lines.slice(-room);
  const cursorRow = shown.length;
  const cursorCol = [...shown[shown.length - 1]].length + 1;
  return CLEAR + shown.join('\r\n') + '\r\n' + panel.join('\r\n') + `${ESC}${cursorRow};${cursorCol}H`;
}

export async function writeCommand(proc: Proc, ckpt: string, opts: Record<string, string | boolean | undefined>): Promise<number> {
  const stdin = proc.stdin;
  if (!stdin?.isTTY || !proc.stdout.isTTY || !stdin.setRawMode) {
    throw new CliError('write needs a terminal (stdin and stdout a TTY); to generate from a script, use charrnn sample --prime TEXT', 2);
  }
  const num = (flag: string, v: unknown): number => parseNumber(flag, String(v));
  const top = num('--top', opts.top);
  const count = num('--suggestions', opts.suggestions);
  const temperature = num('--temperature', opts.temperature);
  if (!Number.isInteger(top) || top < 0 || top > 20) throw new CliError(`--top must be a whole number from 0 to 20 (got ${String(opts.top)})`, 2);
  if (!Number.isInteger(count) || count < 0 || count > 9) throw new CliError(`--suggestions must be a whole number from 0 to 9 (got ${String(opts.suggestions)})`, 2);
  if (!(temperature > 0)) throw new CliError(`--temperature must be > 0 (got ${String(opts.temperature)})`, 2);
  const seed = opts.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : num('--seed', opts.seed);
  if (!(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) throw new CliError(`--seed must be a whole number from 0 to 2^32 − 1 (got ${String(opts.seed)})`, 2);
  const { backend: kind } = parseBackendFlags(opts);
  const backend = await createBackend({ kind, threads: 1 });
  const { data, model } = await loadCheckpointFile(ckpt, backend);
  const a = new Assistant(new Sampler(model, data.vocab), data.vocab, seed);

  const out = proc.stdout;
  let sugg: Suggestion[] | null = null;
  let next: { char: string; p: number }[] = [];
  let selected = 0;
  const refresh = (): void => {
    next = a.next(top);
    sugg = a.suggest(count, temperature);
    selected = 0;
  };
  const draw = (): void => {
    out.write(render(a, sugg, next, selected, out.columns ?? 80, out.rows ?? 24));
  };

  let quit!: () => void;
  const finished = new Promise<void>((r) => (quit = r));
  let failure: unknown = null;
  const onKeys = (s: string): void => {
    try {
      handleKeys(s);
    } catch (e) {
      failure = e; // restore the terminal first, then report it
      quit();
    }
  };
  const handleKeys = (s: string): void => {
    for (const key of keys(s)) {
      if (key === 'quit') return quit();
      if (key === 'tab') {
        if (sugg && sugg.length > 0) a.type(sugg[selected].text);
        refresh();
      } else if (key === 'esc') sugg = null;
      else if (key === 'up' || key === 'down') {
        if (sugg && sugg.length > 0) selected = (selected + (key === 'up' ? sugg.length - 1 : 1)) % sugg.length;
      } else if (key === 'backspace') {
        a.backspace();
        refresh();
      } else {
        a.type(key.text);
        refresh();
      }
    }
    draw();
  };

  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  out.write(ALT_ON);
  // Ctrl-C in raw mode is a key, not a signal; a signal from elsewhere also ends cleanly
  const onSignal = (): void => quit();
  proc.on?.('SIGTERM', onSignal);
  proc.on?.('SIGINT', onSignal);
  try {
    refresh();
    draw();
    stdin.on('data', onKeys);
    stdin.resume();
    await finished;
  } finally {
    stdin.off('data', onKeys);
    proc.off?.('SIGTERM', onSignal);
    proc.off?.('SIGINT', onSignal);
    stdin.setRawMode(false);
    stdin.pause();
    out.write(ALT_OFF);
    backend.dispose?.();
  }
  out.write(a.text + (a.text.endsWith('\n') || a.text === '' ? '' : '\n'));
  if (failure) throw failure;
  return 0;
}

type Key = 'quit' | 'tab' | 'esc' | 'up' | 'down' | 'backspace' | { text: string };

/** Split what the terminal sent into keys (a paste arrives as one chunk of many characters). */
export function* keys(s: string): Generator<Key> {
  let text = '';
  const flush = function* (): Generator<Key> {
    if (text) yield { text };
    text = '';
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\x1b') {
      yield* flush();
      const seq = /^\x1b(?:\[[0-9;]*[A-Za-z~]|O[A-Za-z])/.exec(s.slice(i));
      if (!seq) yield 'esc';
      else {
        const last = seq[0][seq[0].length - 1];
        if (last === 'A') yield 'up';
        else if (last === 'B') yield 'down';
        i += seq[0].length - 1; // other keys (←, →, F1…) are ignored
      }
    } else if (c === '\x03' || c === '\x04') {
      yield* flush();
      yield 'quit';
      return;
    } else if (c === '\t') {
      yield* flush();
      yield 'tab';
    } else if (c === '\x7f' || c === '\b') {
      yield* flush();
      yield 'backspace';
    } else if (c === '\r' || c === '\n') text += '\n';
    else if (c >= ' ') text += c;
  }
  yield* flush();
}
