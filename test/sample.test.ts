/** Sampling: determinism by seed, temperature 0 is argmax, top-k stays in the top k; options are checked in the library; the temperature sweep is the sampler. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { checkSampleOptions, Sampler, type SampledChar } from '../src/sample.js';
import { CharRnnError } from '../src/errors.js';
import { temperatureSweep } from '../src/viz/inspect.js';
import { Rng } from '../src/rng.js';
import { Vocabulary } from '../src/vocab.js';
import { textOf, tinyModel } from './helpers.js';

const vocab = new Vocabulary([...'abcd\n'].map((c) => c.codePointAt(0)!));
const model = tinyModel('lstm', { vocabSize: vocab.size, hidden: 8, layers: 2 }, 'float32');

test('same seed, same text; another seed, another text', async () => {
  const s = new Sampler(model, vocab);
  const a = await textOf(s, { length: 200, seed: 1, temperature: 1.5 });
  const b = await textOf(s, { length: 200, seed: 1, temperature: 1.5 });
  const c = await textOf(s, { length: 200, seed: 2, temperature: 1.5 });
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

test('unknown prime characters are named, or skipped on request', async () => {
  const s = new Sampler(model, vocab);
  await assert.rejects(textOf(s, { length: 5, prime: 'abz' }), /"z"/);
  assert.equal([...(await textOf(s, { length: 5, prime: 'abz', skipUnknown: true, seed: 1 }))].length, 5);
});

test('sampling options are checked in the library: one line naming the flag, for every caller', async () => {
  const s = new Sampler(model, vocab);
  const bad: Array<[Record<string, number>, RegExp]> = [
    [{ temperature: -0.5 }, /^--temperature must be ≥ 0 \(got -0\.5\)/],
    [{ temperature: NaN }, /^--temperature must be/],
    [{ topK: -1 }, /^--top-k must be a whole number ≥ 0 \(got -1\)/],
    [{ topK: 1.5 }, /^--top-k/],
    [{ topP: 0 }, /^--top-p must be in \(0, 1\] \(got 0\)/],
    [{ topP: 1.01 }, /^--top-p/],
    [{ length: -3 }, /^--length must be a whole number ≥ 0 and ≤ 10000000 \(got -3\)/],
    [{ length: 2.5 }, /^--length/],
    [{ seed: -1 }, /^--seed must be a whole number from 0 to 2\^32/],
    [{ seed: 2 ** 32 }, /^--seed/],
  ];
  for (const [opts, re] of bad) {
    const all = { length: 5, ...opts };
    assert.throws(() => checkSampleOptions(all), (e: unknown) => e instanceof CharRnnError && e.code === 'bad-flag' && re.test(e.message) && !e.message.includes('\n'), JSON.stringify(opts));
    await assert.rejects(s.steps(all).next(), (e: unknown) => e instanceof CharRnnError && re.test(e.message)); // the sampler checks before generating
  }
  assert.doesNotThrow(() => checkSampleOptions({ length: 0, temperature: 0, topK: 0, topP: 1, seed: 2 ** 32 - 1 }));
});

test('steps() gives each character with its log-probability under the logits it was drawn from', async () => {
  const s = new Sampler(model, vocab);
  const steps: SampledChar[] = [];
  for await (const st of s.steps({ length: 40, seed: 4, temperature: 0.9 })) steps.push(st);
  assert.equal(steps.map((x) => x.char).join(''), await textOf(s, { length: 40, seed: 4, temperature: 0.9 }));
  // replay: feed the same characters and compute ln softmax by hand
  s.reset();
  s.feed(vocab.id(10));
  for (const st of steps) {
    const z = Array.from(s.logits);
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
    assert.ok(Math.abs(st.logProb - (z[st.id] - lse)) < 1e-9);
    s.feed(st.id);
  }
});

test('temperatureSweep is the sampler: same text for the same seed, also without a newline in the vocabulary', async () => {
  const noNl = new Vocabulary([...'xyz'].map((c) => c.codePointAt(0)!));
  const m = tinyModel('gru', { vocabSize: noNl.size, hidden: 5, layers: 1 }, 'float32');
  for (const temperature of [0, 0.7, 1.3]) {
    const [row] = await temperatureSweep(m, noNl, [temperature], { length: 30, seed: 9 });
    assert.equal(row.text, await textOf(new Sampler(m, noNl), { length: 30, seed: 9, temperature }));
  }
  await assert.rejects(temperatureSweep(m, noNl, [-1], { length: 3 }), /--temperature must be/);
});
