/**
 * `charrnn write CHECKPOINT`: a writing assistant in a plain terminal. You type; under the text
 * the model shows its most likely next characters and a few sampled completions (to the end of
 * the next word, and one to the end of the line). Tab accepts the highlighted completion, ↑/↓
 * choose another, Esc dismisses them until the next key, Ctrl-C or Ctrl-D quits and prints the
 * text. Raw mode and ANSI escapes only (the alternate screen, so the shell's screen comes back
 * as it was): a full-screen library would bring a widget toolkit for one text area and a list.
 *
 * This file is the terminal only: the model's side (the carried state, the suggestions, the
 * checks of the options and the seed) is the library's Assistant (src/write.ts).
 */
import { checkSeed, Sampler } from '../src/sample.js';
import { Assistant, checkAssistantOptions, type Suggestion } from '../src/write.js';
import { createBackend } from '../src/backend/platform-node.js';
import { parseBackendFlags } from './backend.js';
import { loadCheckpointFile } from './checkpoint.js';
import { CliError, parseNumber, type Proc } from './io.js';

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
  const shown = { top: num('--top', opts.top), suggestions: num('--suggestions', opts.suggestions), temperature: num('--temperature', opts.temperature) };
  checkAssistantOptions(shown);
  const seed = opts.seed === undefined ? undefined : num('--seed', opts.seed);
  checkSeed(seed); // before loading anything (the Assistant checks it too)
  const { backend: kind } = parseBackendFlags(opts);
  const backend = await createBackend({ kind, threads: 1 });
  const { data, model } = await loadCheckpointFile(ckpt, backend);
  const a = new Assistant(new Sampler(model, data.vocab), seed);

  const out = proc.stdout;
  let sugg: Suggestion[] | null = null;
  let next: { char: string; p: number }[] = [];
  let selected = 0;
  const refresh = (): void => {
    next = a.next(shown.top);
    sugg = a.suggest(shown.suggestions, shown.temperature);
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
