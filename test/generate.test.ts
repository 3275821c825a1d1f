/**
 * generate(): stop sequences end samples exactly after the sequence; --count with a seed is
 * reproducible; the stream is the samples; the prime as read, the skipped characters, the seed
 * made when none is given and a lines model's default count; --unique; beam search against
 * greedy decoding and brute force, starting as sampling does; the surfaces' defaults and the stop parser.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { beamScore, beamSearch } from '../src/beam.js';
import { CharRnnError } from '../src/errors.js';
import { checkGenerateRequest, generate, type GenerateStart } from '../src/generate.js';
import { GENERATION_DEFAULTS, LINES_COUNT, parseStop } from '../src/generate-options.js';
import { Rng } from '../src/rng.js';
import { Sampler } from '../src/sample.js';
import { Vocabulary } from '../src/vocab.js';
import { tinyModel } from './helpers.js';

const vocab = new Vocabulary([...'abcd \n'].map((c) => c.codePointAt(0)!));
const model = tinyModel('lstm', { vocabSize: vocab.size, hidden: 8, layers: 2 }, 'float32', undefined, 3);

/** ln p of `text` after `prime`, fed one character at a time from the zero state. */
function logProbOf(prime: string, text: string): number {
  const s = new Sampler(model, vocab);
  s.reset();
  for (const ch of prime) s.feed(vocab.id(ch.codePointAt(0)!));
  let lp = 0;
  for (const ch of text) {
    const id = vocab.id(ch.codePointAt(0)!);
    lp += s.logProb(id);
    s.feed(id);
  }
  return lp;
}

test('a stop sequence ends the sample right after it, and only there', async () => {
  const { samples } = await generate({ model, vocab }, { length: 400, count: 30, seed: 5, temperature: 1.5, stop: ['ab', 'c '] });
  let stoppedSome = 0;
  for (const g of samples) {
    if (g.stopped === null) {
      assert.equal([...g.text].length, 400);
    } else {
      stoppedSome++;
      assert.ok(g.text.endsWith(g.stopped));
    }
    // no stop sequence ends anywhere before the end
    const chars = [...g.text];
    for (let n = 1; n < chars.length; n++) {
      const head = chars.slice(0, n).join('');
      assert.ok(!head.endsWith('ab') && !head.endsWith('c '), `${JSON.stringify(g.text)} passed a stop at ${n}`);
    }
    assert.ok(Math.abs(g.logProb - logProbOf('\n', g.text)) < 1e-3, 'logProb is the sum of ln p at τ = 1');
  }
  assert.ok(stoppedSome > 0);
});

test('--count with a seed gives the same list; another seed another list; the stream equals the sample', async () => {
  const req = { length: 40, count: 5, seed: 11, temperature: 1 };
  const a = (await generate({ model, vocab }, req)).samples;
  const b = (await generate({ model, vocab }, req)).samples;
  assert.deepEqual(a, b);
  assert.equal(a.length, 5);
  assert.notDeepEqual(a, (await generate({ model, vocab }, { ...req, seed: 12 })).samples);
  // streamed: every character as drawn, with its sample's index; the samples are the same
  const streamed = ['', '', '', '', ''];
  let started: GenerateStart | null = null;
  const r = await generate({ model, vocab }, { ...req, stop: ['d'] }, {
    onStart: (st) => (started = st),
    onChar: (ch, i) => {
      assert.ok(started !== null, 'onStart comes first');
      streamed[i] += ch;
    },
  });
  assert.deepEqual(streamed, r.samples.map((g) => g.text));
  assert.deepEqual(r.samples, (await generate({ model, vocab }, { ...req, stop: ['d'] })).samples);
  assert.deepEqual(started, { prime: '', skipped: [], seed: 11, lines: false, count: 5 });
});

test('generate() answers the prime as read and what it skipped, makes a seed when none is given, and checks its range', async () => {
  const r = await generate({ model, vocab }, { length: 20, prime: 'Zab ☃d', skipUnknown: true });
  assert.equal(r.prime, 'ab d');
  assert.deepEqual(r.skipped, ['Z', '☃']);
  assert.ok(r.seed !== null && Number.isInteger(r.seed) && r.seed >= 0 && r.seed < 2 ** 32);
  // the seed it made draws the same sample again
  assert.deepEqual((await generate({ model, vocab }, { length: 20, prime: 'ab d', seed: r.seed })).samples, r.samples);
  await assert.rejects(generate({ model, vocab }, { length: 5, prime: 'Zab' }), /"Z".*--skip-unknown/);
  for (const seed of [-1, 2 ** 32, 0.5]) await assert.rejects(generate({ model, vocab }, { length: 5, seed }), /--seed must be a whole number from 0 to 2\^32/);
  // from a generator of the caller's (the trainer's): no seed of its own
  assert.equal((await generate({ model, vocab }, { length: 5 }, { rng: new Rng(1) })).seed, null);
});

test('a lines model makes LINES_COUNT items unless told (beam search: its width); a stream takes no beam, nor unique with several', async () => {
  const linesModel = tinyModel('lstm', { vocabSize: vocab.size, hidden: 8, layers: 2, lines: true }, 'float32', undefined, 3);
  const items = await generate({ model: linesModel, vocab }, { length: 10, seed: 1 });
  assert.equal(items.lines, true);
  assert.equal(items.count, LINES_COUNT);
  assert.equal(items.samples.length, LINES_COUNT);
  assert.equal((await generate({ model: linesModel, vocab }, { length: 10, beam: 3 })).count, 3);
  assert.equal((await generate({ model: linesModel, vocab }, { length: 10, count: 2, seed: 1 })).samples.length, 2);
  assert.equal((await generate({ model, vocab }, { length: 10, seed: 1 })).count, 1, 'free text: one sample');
  const onChar = (): void => {};
  await assert.rejects(generate({ model, vocab }, { length: 10, beam: 2 }, { onChar }), /a stream gives samples as they are drawn/);
  await assert.rejects(generate({ model, vocab }, { length: 10, count: 2, unique: true }, { onChar }), /a stream/);
});

test('one start rule: without a prime, sampling and beam search start after a newline, or from a drawn character without one', async () => {
  const noNl = new Vocabulary([...'xyz'].map((c) => c.codePointAt(0)!));
  const m = tinyModel('gru', { vocabSize: noNl.size, hidden: 5, layers: 1 }, 'float64', undefined, 4);
  const s = new Sampler(m, noNl);
  const rng = new Rng(9);
  const fed = s.prime('', rng);
  assert.deepEqual(fed, { ids: [Math.floor(new Rng(9).next() * 3)], skipped: [] });
  assert.deepEqual(new Sampler(model, vocab).prime('', new Rng(1)).ids, [vocab.id(10)]);
  assert.deepEqual(new Sampler(model, vocab).prime('a☃', new Rng(1), true), { ids: [vocab.id(97)], skipped: ['☃'] });
  // greedy decoding through both: the same start for the same seed
  for (const seed of [1, 2, 3]) {
    const greedy = (await generate(s, { length: 12, temperature: 0, seed })).samples[0];
    const k1 = (await generate(s, { length: 12, beam: 2, count: 1, seed })).samples[0];
    assert.ok(k1.logProb >= greedy.logProb - 1e-9, `seed ${seed}: beam ${k1.logProb} below greedy ${greedy.logProb}`);
    assert.equal(beamSearch(s, { width: 1, length: 12, seed })[0].text, greedy.text);
  }
});

test('the surfaces\' defaults are one table; a stop sequence is typed one way', () => {
  assert.deepEqual(GENERATION_DEFAULTS.cli, { length: 500, temperature: 1 });
  assert.deepEqual(GENERATION_DEFAULTS.server, { length: 200, temperature: 1 });
  assert.deepEqual([GENERATION_DEFAULTS.rnnWriter.length, GENERATION_DEFAULTS.rnnWriter.temperature], [140, 0.7]);
  assert.deepEqual(GENERATION_DEFAULTS.page, { length: 300, temperature: 0.8 });
  assert.equal(parseStop('\\n\\n'), '\n\n');
  assert.equal(parseStop('a\\tb'), 'a\tb');
  assert.equal(parseStop('\\\\n'), '\\n', 'an escaped backslash stays one');
  assert.equal(parseStop('\\x.'), '\\x.', 'other escapes are themselves');
});

test('--unique drops repeats (and gives up after bounded attempts)', async () => {
  const { samples } = await generate({ model, vocab }, { length: 2, count: 20, seed: 1, unique: true, temperature: 2 });
  const texts = samples.map((g) => g.text);
  assert.equal(new Set(texts).size, texts.length);
  assert.ok(texts.length > 1);
  // greedy decoding has one answer: asked for 3 distinct, it returns just 1
  assert.equal((await generate({ model, vocab }, { length: 5, count: 3, unique: true, temperature: 0 })).samples.length, 1);
});

test('a lines request makes items: from the start state, ending at the newline, which is not in the text', async () => {
  const { samples } = await generate({ model, vocab }, { length: 200, count: 20, seed: 2, lines: true, temperature: 1.2 });
  for (const g of samples) {
    assert.ok(!g.text.includes('\n'));
    if (g.stopped === '\n') assert.ok(Math.abs(g.logProb - logProbOf('\n', g.text + '\n')) < 1e-3);
  }
  assert.ok(samples.some((g) => g.stopped === '\n'));
});

test('requests are checked in the library: one line naming the flag', () => {
  const bad: Array<[object, RegExp]> = [
    [{ length: 5, count: 0 }, /^--count must be/],
    [{ length: 5, beam: -1 }, /^--beam must be/],
    [{ length: 5, beam: 2, count: 3 }, /^--count 3 is more than --beam 2/],
    [{ length: 5, stop: [''] }, /^--stop must be/],
    [{ length: -1 }, /^--length/],
  ];
  for (const [req, re] of bad) {
    assert.throws(() => checkGenerateRequest(req as never), (e: unknown) => e instanceof CharRnnError && re.test(e.message) && !e.message.includes('\n'));
  }
});

test('beam K = 1 is greedy decoding; a wider beam is never below it', async () => {
  const greedy = (await generate({ model, vocab }, { length: 30, temperature: 0 })).samples[0];
  const k1 = beamSearch(new Sampler(model, vocab), { width: 1, length: 30 });
  assert.equal(k1[0].text, greedy.text);
  assert.ok(Math.abs(k1[0].logProb - greedy.logProb) < 1e-9);
  for (const K of [2, 3, 5]) {
    const best = (await generate({ model, vocab }, { length: 30, beam: K })).samples[0];
    assert.ok(best.logProb >= greedy.logProb - 1e-9, `K=${K}: ${best.logProb} < greedy ${greedy.logProb}`);
  }
});

test('beam search as wide as all prefixes finds the exact top-K (brute force over a tiny vocabulary)', async () => {
  const v3 = new Vocabulary([...'ab\n'].map((c) => c.codePointAt(0)!));
  const m3 = tinyModel('gru', { vocabSize: 3, hidden: 5, layers: 1 }, 'float64', undefined, 9);
  const L = 4;
  const all: Array<{ text: string; lp: number }> = [];
  const s = new Sampler(m3, v3);
  for (let code = 0; code < 3 ** L; code++) {
    s.reset();
    s.feed(v3.id(10));
    let text = '';
    let lp = 0;
    for (let t = 0, c = code; t < L; t++, c = Math.floor(c / 3)) {
      const id = c % 3;
      lp += s.logProb(id);
      s.feed(id);
      text += v3.char(id);
    }
    all.push({ text, lp });
  }
  all.sort((a, b) => b.lp - a.lp);
  const K = 3 ** (L - 1); // every prefix stays live until the last step, so the top K is exact
  const got = (await generate({ model: m3, vocab: v3 }, { length: L, beam: K, count: K })).samples;
  assert.equal(got.length, K);
  got.forEach((g, i) => {
    assert.equal(g.text, all[i].text);
    assert.ok(Math.abs(g.logProb - all[i].lp) < 1e-9);
  });
  // a narrower beam returns distinct items, best first by the normalised score
  const narrow = (await generate({ model: m3, vocab: v3 }, { length: L, beam: 4, count: 4 })).samples;
  assert.equal(new Set(narrow.map((g) => g.text)).size, 4);
  for (let i = 1; i < narrow.length; i++) assert.ok(beamScore(narrow[i - 1].logProb, L) >= beamScore(narrow[i].logProb, L));
});

test('beam search with stops: finished items end at the stop, ranked by the length-normalised score', async () => {
  const got = (await generate({ model, vocab }, { length: 12, beam: 4, count: 4, stop: ['a'] })).samples;
  assert.ok(got.length >= 1);
  for (const g of got) if (g.stopped) assert.ok(g.text.endsWith('a') && g.text.indexOf('a') === g.text.length - 1);
  const scores = got.map((g) => beamScore(g.logProb, [...g.text].length));
  for (let i = 1; i < scores.length; i++) assert.ok(scores[i - 1] >= scores[i]);
  for (const g of got) assert.ok(Math.abs(g.logProb - logProbOf('\n', g.text)) < 1e-3);
});
