/**
 * Smoke tests of examples/: each one runs as a program (the compiled dist/examples/NAME.js,
 * with the arguments a user would pass, shrunk: a few iterations of a tiny model on the
 * reference backend, on small made-up texts) and exits 0 with the output it promises. One also
 * runs from source through tsx, as the guide says to.
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCheckpoint } from '../src/checkpoint.js';
import { asciiPlot } from '../examples/overfitting.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TINY = ['--seconds', '0', '--max-iters', '3', '--hidden', '8', '--layers', '1', '--backend', 'js'];

let dir: string;
let prose: string; // ~5 KB
let shouty: string;

function text(words: string[], n: number, seed: number): string {
  let x = seed;
  let s = '';
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += words[x % words.length] + (i % 9 === 8 ? '.\n' : ' ');
  }
  return s;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'examples-'));
  prose = join(dir, 'prose.txt');
  shouty = join(dir, 'shouty.txt');
  writeFileSync(prose, text('call me ishmael some years ago never mind how long precisely having little or no money'.split(' '), 1000, 3));
  writeFileSync(shouty, text('ZAP! BOOM? WHAM-ZIP ... KAPOW!! ZONK'.split(' '), 1000, 5));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function run(name: string, args: string[]): string {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'examples', `${name}.js`), ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${name} ${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}

test('min-char-rnn runs as a program', () => {
  const out = run('min-char-rnn', [prose, '--iters', '2']);
  assert.match(out, /^data has \d+ characters, \d+ unique\./);
  assert.match(out, /iter 0, loss: /);
});

test('temperature: one sample per temperature, with its loss and real-word share', () => {
  const out = run('temperature', [prose, ...TINY, '--length', '40', '--temperatures', '0,1.5']);
  assert.match(out, /--- temperature 0: the model's loss on it [\d.]+ bits\/char, \d+% of its words are real/);
  assert.match(out, /--- temperature 1.5: /);
});

test('own-data: trains, samples and saves a checkpoint charrnn can read', () => {
  const ckpt = join(dir, 'own.safetensors');
  const out = run('own-data', [prose, shouty, '--out', ckpt, ...TINY]);
  assert.match(out, /from 2 file\(s\)/);
  assert.match(out, /iter 3 .* val [\d.]+ nats\/char/);
  assert.equal(decodeCheckpoint(readFileSync(ckpt)).model.hidden, 8);
});

test('overfitting: the table of train/val losses and the ASCII plot', () => {
  const out = run('overfitting', [prose, '--seconds', '0', '--max-iters', '6', '--hidden', '8', '--layers', '1', '--backend', 'js', '--eval-every', '2']);
  assert.equal(out.match(/^\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+$/gm)?.length, 3); // iterations 2, 4, 6
  assert.match(out, /best validation loss [\d.]+ at iteration \d+/);
  assert.match(out, /^\s+[\d.]+ \|/m);
});

test('asciiPlot puts the highest value on the top row and marks overlaps', () => {
  const rows = asciiPlot([{ mark: 't', values: [3, 2, 1] }, { mark: 'v', values: [3, 2.5, 2] }], 3, 5);
  assert.equal(rows.length, 6);
  assert.equal(rows[0], '  3.00 |*  ');
  assert.equal(rows[4], '  1.00 |  t');
});

test('attribution: trains one model per author and reports the accuracy on held-out passages', () => {
  const out = run('attribution', [prose, shouty, ...TINY, '--passage', '100', '--passages', '2']);
  assert.match(out, /prose\.txt: \d\/2 held-out passages of 100 characters attributed correctly/);
  assert.match(out, /accuracy: [\d.]+% \(\d\/4\)/);
});

test('examples run from source with npx tsx', { skip: !existsSync(join(ROOT, 'node_modules', '.bin', 'tsx')) && 'tsx is not installed' }, () => {
  const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'examples', 'min-char-rnn.ts'), prose, '--iters', '1'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /iter 0, loss: /);
});
