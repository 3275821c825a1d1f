/** `charrnn sample` with --count, --stop, --unique, --beam, --novelty and --json; `train --lines` and `--data names`, `--list-data`. */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeCheckpoint } from '../src/checkpoint.js';
import { runCli } from './run-cli.js';

const TINY = ['--hidden', '16', '--layers', '1', '--batch', '4', '--seq-len', '8', '--max-iters', '20', '--eval-every', '10', '--sample-every', '0', '--backend', 'js', '--quiet'];
const NAMES = 'anna\nbob\ncara\ndave\neve\nfred\ngina\nhal\nivy\njon\nkim\nlee\nmax\nned\nolga\npam\nquin\nrex\nsam\ntom\n';
let dir: string;
let textCkpt: string;
let linesCkpt: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-gen-'));
  writeFileSync(join(dir, 'text.txt'), 'the cat sat on the mat. the dog sat on the log. '.repeat(30));
  writeFileSync(join(dir, 'names.txt'), NAMES);
  const t = await runCli(['train', '--data', join(dir, 'text.txt'), '--out', join(dir, 'text'), ...TINY]);
  assert.equal(t.code, 0, t.stderr);
  const l = await runCli(['train', '--data', join(dir, 'names.txt'), '--lines', '--out', join(dir, 'names'), ...TINY]);
  assert.equal(l.code, 0, l.stderr);
  textCkpt = join(dir, 'text', 'best.safetensors');
  linesCkpt = join(dir, 'names', 'best.safetensors');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('--count with a seed prints the same samples every time; --stop ends each right after the sequence', async () => {
  const args = ['sample', textCkpt, '--count', '4', '--length', '60', '--seed', '3', '--stop', 'at', '--backend', 'js'];
  const a = await runCli(args);
  const b = await runCli(args);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  const blocks = a.stdout.split(/^--- sample \d ---\n/m).slice(1).map((s) => s.replace(/\n$/, ''));
  assert.equal(blocks.length, 4);
  for (const s of blocks) assert.ok(s.endsWith('at') ? s.indexOf('at') === s.length - 2 : [...s].length === 60, JSON.stringify(s));
});

test('--json: samples with log-probabilities, stops and novelty shares; --beam prints ln p', async () => {
  const j = await runCli(['sample', textCkpt, '--count', '3', '--length', '30', '--seed', '1', '--novelty', '--json', '--backend', 'js']);
  assert.equal(j.code, 0, j.stderr);
  const out = JSON.parse(j.stdout) as { lines: boolean; samples: Array<{ text: string; log_prob: number; stopped: string | null; novelty: string }>; novelty: { shares: Record<string, number>; ngrams: Array<{ n: number; total: number; novel: number }> } };
  assert.equal(out.lines, false);
  assert.equal(out.samples.length, 3);
  for (const s of out.samples) {
    assert.ok(s.log_prob < 0 && ['train', 'held-out', 'new'].includes(s.novelty));
    assert.equal(s.stopped, null);
  }
  assert.ok(Math.abs(out.novelty.shares.train + out.novelty.shares.held_out + out.novelty.shares.new - 1) < 1e-12);
  assert.deepEqual(out.novelty.ngrams.map((g) => g.n), [5, 10, 20, 50]);
  assert.equal(out.novelty.ngrams[0].total, 3 * (30 - 5 + 1));
  const beam = await runCli(['sample', textCkpt, '--beam', '3', '--count', '3', '--length', '20', '--backend', 'js']);
  assert.equal(beam.code, 0, beam.stderr);
  assert.equal(beam.stdout.match(/^--- sample \d: ln p -\d+\.\d{3} ---$/gm)?.length, 3, beam.stdout);
});

test('a lines model prints one item per line, each from the start state; novelty marks items', async () => {
  const ck = decodeCheckpoint(readFileSync(linesCkpt));
  assert.equal(ck.config.lines, true);
  assert.equal(ck.model.lines, true);
  const r = await runCli(['sample', linesCkpt, '--count', '6', '--seed', '2', '--novelty', '--unique', '--backend', 'js']);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n');
  const items = rows.filter((l) => /\t\[(train|held-out|new)\]$/.test(l));
  assert.ok(items.length >= 1 && items.length <= 6);
  assert.equal(new Set(items.map((l) => l.split('\t')[0])).size, items.length, '--unique');
  assert.match(rows[rows.length - 1], /^novelty of \d+ items: \d+% new, \d+% in the training split, \d+% in validation\/test$/);
  const plain = await runCli(['sample', linesCkpt, '--seed', '2', '--backend', 'js']);
  assert.equal(plain.stdout.split('\n').length - 1, 10, 'ten items by default (an item may be empty)');
});

test('--novelty without the training text, and bad values, are one-line errors', async () => {
  const lone = join(dir, 'lone.safetensors');
  writeFileSync(lone, readFileSync(textCkpt));
  const n = await runCli(['sample', lone, '--novelty', '--backend', 'js']);
  assert.equal(n.code, 2);
  assert.match(n.stderr, /^charrnn: --novelty needs the training text: no run\.json beside .*; give it with --data\n$/);
  const ok = await runCli(['sample', lone, '--novelty', '--data', join(dir, 'text.txt'), '--length', '10', '--backend', 'js']);
  assert.equal(ok.code, 0, ok.stderr);
  for (const [args, re] of [[['--count', '0'], /--count must be/], [['--beam', '2', '--count', '5'], /--count 5 is more than --beam 2/], [['--beam', 'x'], /--beam must be a number/]] as const) {
    const r = await runCli(['sample', textCkpt, ...args, '--backend', 'js']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
  }
});

test('train --list-data names the built-in corpora; --data names trains on lines', async () => {
  const l = await runCli(['train', '--list-data']);
  assert.equal(l.code, 0);
  assert.match(l.stdout, /^moby-dick /m);
  assert.match(l.stdout, /^names .*implies --lines/m);
  const out = join(dir, 'builtin-names');
  const t = await runCli(['train', '--data', 'names', '--out', out, ...TINY, '--max-iters', '2', '--eval-every', '2']);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(decodeCheckpoint(readFileSync(join(out, 'latest.safetensors'))).config.lines, true);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).data, ['names']);
});
