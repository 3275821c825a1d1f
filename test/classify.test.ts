/**
 * Author attribution: the probabilities are the likelihood ratios softmax(−nats/char · n), the
 * best model is the one with the lowest bits/char, and `charrnn classify` picks the model
 * trained on the text's "author" (two tiny models on two very different made-up styles).
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli/main.js';
import type { Proc } from '../cli/io.js';
import { Attributor, classifyText } from '../src/classify.js';
import { evaluateText } from '../src/evaluate.js';
import { Vocabulary } from '../src/vocab.js';
import { tinyModel } from './helpers.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const proc: Proc = { argv: ['node', 'charrnn', ...args], env: {}, stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  const code = await main(proc);
  return { code, stdout, stderr };
}

test('probabilities are softmax(−nats/char × chars) and best is the lowest bits/char', async () => {
  const vocab = new Vocabulary([...'abcde'].map((c) => c.codePointAt(0)!));
  const models = [1, 2, 3].map((seed) => tinyModel('lstm', { vocabSize: 5 }, 'float64', undefined, seed));
  const cands = models.map((model, k) => ({ name: `m${k}`, model, vocab }));
  const parts = [{ name: 'x', bytes: enc('abcabcddeeabcab') }];
  const r = await classifyText(cands, parts);
  const evals = await Promise.all(models.map((m) => evaluateText(m, vocab, parts)));
  const logLik = evals.map((e) => -e.nats_per_char * e.chars);
  const z = logLik.map((l) => Math.exp(l)).reduce((a, b) => a + b, 0);
  r.scores.forEach((s, k) => {
    assert.ok(Math.abs(s.probability - Math.exp(logLik[k]) / z) < 1e-12);
    assert.ok(Math.abs(s.bits_per_char - evals[k].bits_per_char) < 1e-12);
  });
  const lowest = r.scores.reduce((a, b) => (b.bits_per_char < a.bits_per_char ? b : a));
  assert.equal(r.best, lowest.model);
  assert.ok(Math.abs(r.scores.reduce((a, s) => a + s.probability, 0) - 1) < 1e-12);
  // reusing the workspaces gives the same answer text after text
  const att = new Attributor(cands);
  assert.deepEqual(await att.classify(parts), r);
  assert.deepEqual(await att.classify(parts), r);
});

test('characters unknown to a model are skipped, and the rate is applied to the same length', async () => {
  const small = new Vocabulary([...'abc'].map((c) => c.codePointAt(0)!));
  const big = new Vocabulary([...'abcz'].map((c) => c.codePointAt(0)!));
  const a = tinyModel('gru', { vocabSize: 3 }, 'float64', undefined, 4);
  const b = tinyModel('gru', { vocabSize: 4 }, 'float64', undefined, 5);
  const r = await classifyText([{ name: 'a', model: a, vocab: small }, { name: 'b', model: b, vocab: big }], [{ name: 'x', bytes: enc('abcazbca') }]);
  assert.equal(r.scores[0].unknown_chars, 1);
  assert.equal(r.scores[1].unknown_chars, 0);
  const n = r.scores[1].chars;
  const l0 = -r.scores[0].nats_per_char * n;
  const l1 = -r.scores[1].nats_per_char * n;
  assert.ok(Math.abs(r.scores[0].probability - 1 / (1 + Math.exp(l1 - l0))) < 1e-12);
});

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'classify-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('charrnn classify --json picks the model trained on the same style', async () => {
  const styleA = 'the cat sat on the mat. '.repeat(120);
  const styleB = 'ZIP ZAP! ZOOM? ZIP-ZAP... '.repeat(120);
  writeFileSync(join(dir, 'a.txt'), styleA);
  writeFileSync(join(dir, 'b.txt'), styleB);
  writeFileSync(join(dir, 'unknown.txt'), 'the mat sat on the cat. the cat sat.');
  const tiny = ['--hidden', '16', '--layers', '1', '--embed', '8', '--batch', '4', '--seq-len', '16', '--max-iters', '60', '--eval-every', '60', '--sample-every', '0', '--backend', 'js', '--quiet'];
  for (const name of ['a', 'b']) {
    const r = await cli('train', '--data', join(dir, `${name}.txt`), '--out', join(dir, name), ...tiny);
    assert.equal(r.code, 0, r.stderr);
  }
  const A = join(dir, 'a', 'best.safetensors');
  const B = join(dir, 'b', 'best.safetensors');
  const r = await cli('classify', '--model', A, '--model', B, '--data', join(dir, 'unknown.txt'), '--json', '--backend', 'js');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { best: string; scores: { model: string; bits_per_char: number; probability: number }[] };
  assert.equal(out.best, A);
  assert.deepEqual(out.scores.map((s) => s.model), [A, B]);
  assert.ok(out.scores[0].bits_per_char < out.scores[1].bits_per_char);
  assert.ok(out.scores[0].probability > 0.99);

  const plain = await cli('classify', '--model', A, B, '--data', join(dir, 'unknown.txt'), '--backend', 'js');
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, new RegExp(`best: ${A.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n$`));

  const one = await cli('classify', '--model', A, '--data', join(dir, 'unknown.txt'));
  assert.equal(one.code, 2);
  assert.match(one.stderr, /^charrnn: classify needs at least two --model checkpoints[^\n]*\n$/);
  const missing = await cli('classify', '--model', A, join(dir, 'nope.safetensors'), '--data', join(dir, 'unknown.txt'), '--backend', 'js');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^charrnn: cannot read checkpoint [^\n]*nope\.safetensors: no such file or directory\n$/);
});
