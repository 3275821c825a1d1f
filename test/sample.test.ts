/** Sampling: determinism by seed, temperature 0 is argmax, top-k stays in the top k. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Sampler, sampleText } from '../src/sample.js';
import { Rng } from '../src/rng.js';
import { Vocabulary } from '../src/vocab.js';
import { tinyModel } from './helpers.js';

const vocab = new Vocabulary([...'abcd\n'].map((c) => c.codePointAt(0)!));
const model = tinyModel('lstm', { vocabSize: vocab.size, hidden: 8, layers: 2 }, 'float32');

test('same seed, same text; another seed, another text', () => {
  const s = new Sampler(model, vocab);
  const a = sampleText(s, { length: 200, seed: 1, temperature: 1.5 });
  const b = sampleText(s, { length: 200, seed: 1, temperature: 1.5 });
  const c = sampleText(s, { length: 200, seed: 2, temperature: 1.5 });
  assert.equal(a, b);
  assert.notEqual(a, c);
  assert.equal([...a].length, 200);
});

test('temperature 0 always takes the most likely character', () => {
  const s = new Sampler(model, vocab);
  s.reset();
  s.feed(0);
  for (let step = 0; step < 30; step++) {
    const z = Array.from(s.logits);
    const argmax = z.indexOf(Math.max(...z));
    const id = s.pick(new Rng(step), 0);
    assert.equal(id, argmax);
    s.feed(id);
  }
});

test('top-k never emits outside the k most likely; top-p keeps the nucleus', () => {
  const s = new Sampler(model, vocab);
  s.reset();
  s.feed(1);
  const z = Array.from(s.logits);
  const ranked = z.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).map((x) => x[1]);
  const rng = new Rng(3);
  for (let n = 0; n < 500; n++) assert.ok(ranked.slice(0, 2).includes(s.pick(rng, 2, 2)));
  for (let n = 0; n < 200; n++) assert.equal(s.pick(rng, 1, 0, 1e-9), ranked[0]);
});

test('unknown prime characters are named, or skipped on request', () => {
  const s = new Sampler(model, vocab);
  assert.throws(() => sampleText(s, { length: 5, prime: 'abz' }), /"z"/);
  assert.equal([...sampleText(s, { length: 5, prime: 'abz', skipUnknown: true, seed: 1 })].length, 5);
});
