/**
 * `charrnn write`: the assistant's carried state equals reading the text from scratch (after
 * typing, suggesting and Backspace, and after setText as a page's caret moves), keys are split as a terminal sends them, and the real CLI
 * driven through a pseudo-terminal (tmux): typed text appears, suggestions appear, Tab accepts
 * the highlighted one, Esc dismisses them, Ctrl-D exits 0 with the terminal restored. Waits poll
 * the screen (a hang fails after 20 s, showing it).
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keys } from '../cli/write.js';
import { decodeCheckpoint, modelFromCheckpoint } from '../src/checkpoint.js';
import { JsBackend } from '../src/backend/js.js';
import { Sampler } from '../src/sample.js';
import { Assistant, checkAssistantOptions } from '../src/write.js';
import { GENERATION_DEFAULTS } from '../src/generate-options.js';
import { CharRnnError } from '../src/errors.js';
import { words } from './helpers.js';
import { runCli, tinyCheckpoint } from './run-cli.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'charrnn.js');

let dir: string;
let ckpt: string;

before(async () => {
  ({ dir, ckpt } = await tinyCheckpoint('charrnn-write-'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

function load(): { sampler: () => Sampler } {
  const data = decodeCheckpoint(readFileSync(ckpt));
  const model = modelFromCheckpoint(data, new JsBackend());
  return { sampler: () => new Sampler(model, data.vocab) };
}

/** The next-character distribution after reading "\n" + text from the zero state, in one go. */
function fresh(s: Sampler, text: string): number[] {
  s.reset();
  s.feed(s.vocab.id(10));
  for (const ch of text) {
    const id = s.vocab.id(ch.codePointAt(0)!);
    if (id >= 0) s.feed(id);
  }
  return [...s.logits];
}

/** The next-character probabilities, ordered by character: the assistant's (next) and reading the text afresh. */
function probsOf(a: Assistant): number[] {
  return a.next(Infinity).sort((x, y) => x.char.localeCompare(y.char)).map((c) => c.p);
}
function freshProbs(ref: Sampler, text: string): number[] {
  const z = fresh(ref, text);
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const sum = e.reduce((x, y) => x + y, 0);
  return e.map((p, i) => [ref.vocab.char(i), p / sum] as const).sort((x, y) => x[0].localeCompare(y[0])).map((x) => x[1]);
}

/** Equal to 1e-12, entry by entry. */
function close(got: number[], want: number[], what = ''): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-12, `${what} p[${i}] ${got[i]} vs ${want[i]}`);
}

test('the carried state equals reading the text from scratch, after typing, suggestions and Backspace', () => {
  const { sampler } = load();
  const a = new Assistant(sampler(), 1);
  const ref = sampler();
  const probs = (): number[] => probsOf(a);
  const expected = (text: string): number[] => freshProbs(ref, text);
  const text = words(40, 5); // ~200 characters: several Backspace snapshots
  for (const ch of text.slice(0, 90)) a.type(ch); // one key at a time
  a.type(text.slice(90)); // and a paste
  assert.equal(a.text, text);
  close(probs(), expected(text));
  const shown = a.suggest(3, 0.7);
  assert.ok(shown.length > 0);
  close(probs(), expected(text)); // suggesting drew from a copy of the state
  for (let i = 0; i < 75; i++) a.backspace();
  assert.equal(a.text, text.slice(0, -75));
  close(probs(), expected(text.slice(0, -75)));
  a.type('Zé the'); // unknown characters are shown, not fed
  assert.equal(a.unknown, 2);
  close(probs(), expected(text.slice(0, -75) + 'Zé the'));
  for (let i = 0; i < 6; i++) a.backspace();
  assert.equal(a.unknown, 0);
  close(probs(), expected(text.slice(0, -75)));
  for (const s of a.suggest(3, 0.7)) {
    if (s.kind === 'word') assert.match(s.text, /^[^\n]*$/);
    if (s.kind === 'line') assert.ok(!s.text.includes('\n'));
  }
});

test('the library\'s assistant for a page: setText(text before the caret) carries the state; same seed, same suggestions; options checked in one line', () => {
  const { sampler } = load();
  const ref = sampler();
  const a = new Assistant(sampler(), 7);
  const text = words(30, 2);
  // the caret moves about: back into the text, a different ending, forward again, an unknown character
  for (const t of [text, text.slice(0, 100), text.slice(0, 40) + 'the cat', text, 'Zé' + text.slice(0, 70), '']) {
    a.setText(t);
    assert.equal(a.text, t);
    close(probsOf(a), freshProbs(ref, t), JSON.stringify(t.slice(-10)));
  }
  assert.equal(a.unknown, 0);
  const b = new Assistant(sampler(), 7);
  const c = new Assistant(sampler(), 7);
  b.setText(text);
  c.type(text);
  assert.deepEqual(b.suggest(3, 0.7), c.suggest(3, 0.7));
  assert.ok(Number.isInteger(new Assistant(sampler()).seed), 'a random seed when none is given');
  assert.throws(() => new Assistant(sampler(), -1), /--seed must be a whole number from 0 to 2\^32/);
  const ok = { top: GENERATION_DEFAULTS.write.top, suggestions: GENERATION_DEFAULTS.write.suggestions, temperature: GENERATION_DEFAULTS.write.temperature };
  assert.doesNotThrow(() => checkAssistantOptions(ok));
  for (const [bad, re] of [[{ top: 21 }, /^--top must be a whole number from 0 to 20 \(got 21\)$/], [{ suggestions: 1.5 }, /^--suggestions must be/], [{ temperature: 0 }, /^--temperature must be > 0/]] as const) {
    assert.throws(() => checkAssistantOptions({ ...ok, ...bad }), (e: unknown) => e instanceof CharRnnError && e.code === 'bad-flag' && re.test(e.message));
  }
});

test('keys: a paste is text, escape sequences are keys, Ctrl-C and Ctrl-D quit', () => {
  assert.deepEqual([...keys('the cat\r')], [{ text: 'the cat\n' }]);
  assert.deepEqual([...keys('ab\tc\x7f')], [{ text: 'ab' }, 'tab', { text: 'c' }, 'backspace']);
  assert.deepEqual([...keys('\x1b')], ['esc']);
  assert.deepEqual([...keys('\x1b[A\x1b[B\x1b[C')], ['up', 'down']);
  assert.deepEqual([...keys('x\x03y')], [{ text: 'x' }, 'quit']);
  assert.deepEqual([...keys('\x04')], ['quit']);
});

test('write: not a terminal is a one-line error', async () => {
  const r = await runCli(['write', ckpt]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^charrnn: write needs a terminal[^\n]*\n$/);
});

// ---- the real CLI in a pseudo-terminal -------------------------------------------------------

const SOCKET = `charrnn-write-test-${process.pid}`;
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
const screen = (): string => tmux('capture-pane', '-p', '-t', 'w');

/** Poll the screen until `ok` holds; after 20 s (a hang, not slowness), fail showing the screen. */
async function waitFor(ok: (s: string) => boolean, what: string): Promise<string> {
  const giveUp = Date.now() + 20_000;
  for (;;) {
    const s = screen();
    if (ok(s)) return s;
    if (Date.now() > giveUp) assert.fail(`waiting for ${what}; the screen:\n${s}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The text on screen: the rows above the panel's rule (tmux drops trailing spaces; so do we). */
const shownText = (s: string): string => s.split('\n').slice(0, s.split('\n').findIndex((l) => l.startsWith('───'))).join('\n');
const trimRows = (t: string): string => t.split('\n').map((l) => l.trimEnd()).join('\n');
/** The highlighted suggestion. */
const highlighted = (s: string): string | undefined => /^› (?:line )?‹(.*)›$/m.exec(s)?.[1];

test('write in a terminal: typed text and suggestions appear, Tab accepts, Esc dismisses, Ctrl-D restores the terminal', { timeout: 60_000 }, async () => {
  // after the assistant exits: its exit code and whether the terminal is back in cooked mode
  const after = 'echo "exit=$?"; stty -a | tr " " "\\n" | grep -x -e icanon -e -icanon -e echo -e -echo | tr "\\n" " "; echo; sleep 60';
  tmux('new-session', '-d', '-s', 'w', '-x', '100', '-y', '20', `sh -c '${process.execPath} ${BIN} write ${ckpt} --seed 4 --backend js; ${after.replace(/'/g, `'\\''`)}'`);
  try {
    await waitFor((s) => s.includes('Tab accept'), 'the panel');
    tmux('send-keys', '-t', 'w', '-l', 'the ca');
    let s = await waitFor((x) => shownText(x) === 'the ca' && highlighted(x) !== undefined, 'the typed text and a suggestion');
    assert.match(s, /^next {2}\S/m); // the most likely next characters
    const pick = highlighted(s)!.replace(/⏎/g, '\n');
    tmux('send-keys', '-t', 'w', 'Tab');
    const accepted = 'the ca' + pick;
    s = await waitFor((x) => shownText(x) === trimRows(accepted), `the accepted text ${JSON.stringify(accepted)}`);
    // Esc: the suggestions go, the text stays
    await waitFor((x) => highlighted(x) !== undefined, 'new suggestions');
    tmux('send-keys', '-t', 'w', 'Escape');
    s = await waitFor((x) => !x.includes('‹'), 'the suggestions to go');
    assert.equal(shownText(s), trimRows(accepted));
    tmux('send-keys', '-t', 'w', 'C-d');
    s = await waitFor((x) => /exit=\d+\n.*icanon/.test(x), 'the exit and the terminal mode');
    assert.match(s, /exit=0/);
    assert.match(s, /(^| )icanon echo/m, 'raw mode is off again');
    assert.ok(s.includes(trimRows(accepted)), 'the text is printed on exit');
  } finally {
    tmux('kill-server');
  }
});
