/**
 * The data behind the inspect views: what readText collects is what the model computes when fed
 * one character at a time; neuron search finds a unit planted by hand to track "inside quotes".
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Sampler } from '../src/sample.js';
import { evaluateText } from '../src/evaluate.js';
import { Vocabulary } from '../src/vocab.js';
import { findUnits, matchMask, readText, temperatureSweep, wordsOf, type TextReading, type TrackKind } from '../src/viz/inspect.js';
import { CELLS, textOf, tinyModel } from './helpers.js';

const TEXT = 'ab "ab ba" b a "aab" ba\n"b a" ab "b" a\nba "ab" "b"';
const vocab = new Vocabulary([...TEXT].map((c) => c.codePointAt(0)!));

const track = (r: TextReading, layer: number, kind: TrackKind): Float32Array => r.tracks.find((t) => t.layer === layer && t.kind === kind)!.values;

for (const type of CELLS) {
  for (const embed of [0, 3]) {
    test(`${type}, embed ${embed}: collected activations and predictions equal a character-by-character feed`, async () => {
      const model = tinyModel(type, { vocabSize: vocab.size, hidden: 6, layers: 2, embed }, 'float64');
      const H = 6;
      const reading = readText(model, vocab, TEXT, { window: 7, topK: 3 }); // windows do not divide the text
      const ids = vocab.encode(TEXT);
      const sampler = new Sampler(model, vocab);
      sampler.reset();
      for (let t = 0; t < ids.length; t++) {
        sampler.feed(ids[t]);
        const state = sampler.state(); // [h_l0, c_l0?, h_l1, c_l1?]
        const per = type === 'lstm' ? 2 : 1;
        for (let l = 0; l < 2; l++) {
          const kinds: TrackKind[] = type === 'lstm' ? ['h', 'c'] : ['h'];
          kinds.forEach((kind, k) => {
            const got = track(reading, l, kind).subarray(t * H, (t + 1) * H);
            for (let j = 0; j < H; j++) assert.ok(Math.abs(got[j] - state[l * per + k][j]) < 1e-6, `${kind} l${l} t${t} j${j}`);
          });
        }
        const z = Array.from(sampler.logits);
        const max = Math.max(...z);
        const Z = z.reduce((s, v) => s + Math.exp(v - max), 0);
        const p = z.map((v) => Math.exp(v - max) / Z);
        const order = p.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]);
        assert.equal(reading.top[t].length, 3);
        reading.top[t].forEach((g, r) => {
          assert.equal(g.char, vocab.char(order[r][1]));
          assert.ok(Math.abs(g.p - order[r][0]) < 1e-9);
        });
        if (t + 1 < ids.length) assert.ok(Math.abs(reading.loss[t + 1]! + Math.log(p[ids[t + 1]])) < 1e-9);
      }
      assert.equal(reading.loss[0], null);
      const ev = await evaluateText(model, vocab, [{ name: 'text', bytes: new TextEncoder().encode(TEXT) }], 5);
      assert.ok(Math.abs(reading.bitsPerChar - ev.bits_per_char) < 1e-9);
    });
  }
}

test('LSTM and GRU gates are the ones that make the state: c = f⊙c₋ + i⊙g, h = o⊙tanh c; h = (1-z)⊙n + z⊙h₋', () => {
  const H = 5;
  for (const type of ['lstm', 'gru'] as const) {
    const model = tinyModel(type, { vocabSize: vocab.size, hidden: H, layers: 1 }, 'float64');
    const r = readText(model, vocab, TEXT, { window: 4 });
    const g = (k: TrackKind, t: number, j: number): number => (t < 0 ? 0 : track(r, 0, k)[t * H + j]);
    for (let t = 0; t < r.chars.length; t++) {
      for (let j = 0; j < H; j++) {
        if (type === 'lstm') {
          assert.ok(Math.abs(g('c', t, j) - (g('f', t, j) * g('c', t - 1, j) + g('i', t, j) * g('g', t, j))) < 1e-6);
          assert.ok(Math.abs(g('h', t, j) - g('o', t, j) * Math.tanh(g('c', t, j))) < 1e-6);
        } else {
          assert.ok(Math.abs(g('h', t, j) - ((1 - g('z', t, j)) * g('n', t, j) + g('z', t, j) * g('h', t - 1, j))) < 1e-6);
        }
      }
    }
  }
});

/**
 * A GRU whose unit 0 flips sign at every '"' and holds otherwise:
 *   z₀ = σ(±20) ≈ 0 on '"' (take the new value), ≈ 1 elsewhere (keep);  r₀ ≈ 1
 *   n₀ = tanh(3 - 6·h₀): from 0 or -1 (outside) it goes to +1 (inside), from +1 back to -1.
 */
function quoteModel(): ReturnType<typeof tinyModel> {
  const H = 4;
  const G = 3 * H;
  const model = tinyModel('gru', { vocabSize: vocab.size, hidden: H, layers: 1 }, 'float64');
  const p = model.layerParams[0];
  const quote = vocab.id('"'.codePointAt(0)!);
  for (let v = 0; v < vocab.size; v++) {
    p.wih[v * G + 0] = 10;
    p.wih[v * G + H] = v === quote ? -20 : 20;
    p.wih[v * G + 2 * H] = 0;
  }
  for (let i = 0; i < H; i++) for (const col of [0, H, 2 * H]) p.whh[i * G + col] = 0;
  for (let col = 0; col < G; col++) p.whh[col] = 0; // nothing else reads unit 0 either
  p.whh[2 * H] = -6;
  for (const col of [0, H, 2 * H]) p.bih[col] = 0;
  p.bhh[0] = 0;
  p.bhh[H] = 0;
  p.bhh[2 * H] = 3;
  model.paramsChanged();
  return model;
}

// quotations long enough that the closing quote (already "outside" once read) is a small part
const QUOTES = 'ab "ab ba ab b a ba" b a "aab ba b ab a" ba\nb ab "b a ab ba b a" ab b\n"a b ab a ba b" a';

test('neuron search finds the unit planted to track "inside quotes"', () => {
  const reading = readText(quoteModel(), vocab, QUOTES);
  const [best, second] = findUnits(reading, /"[^"]*"/, { kinds: ['h'] });
  assert.deepEqual([best.layer, best.kind, best.unit], [0, 'h', 0]);
  assert.ok(best.r > 0.8, `r = ${best.r}`);
  assert.ok(Math.abs(second.r) < best.r);
  const all = findUnits(reading, /"[^"]*"/, { limit: 3 });
  assert.equal(all.length, 3);
  assert.ok(all.some((u) => u.unit === 0 && u.kind === 'h'));
});

test('matchMask maps matches to characters (astral characters count once) and findUnits refuses a regex that splits nothing', () => {
  const chars = [...'a😀"b😀"c'];
  assert.deepEqual([...matchMask(chars, /"[^"]*"/)], [0, 0, 1, 1, 1, 1, 0]);
  const reading = readText(quoteModel(), vocab, TEXT);
  assert.throws(() => findUnits(reading, /x/), /matches nothing/);
  assert.throws(() => findUnits(reading, /[\s\S]+/), /whole text/);
});

test('temperature sweep: temperature 0 is the greedy sample; log-probabilities and corpus word shares are sane', async () => {
  const model = tinyModel('lstm', { vocabSize: vocab.size, hidden: 8, layers: 1 }, 'float32');
  const rows = await temperatureSweep(model, vocab, [0, 1, 2], { length: 60, seed: 3, corpusWords: new Set(wordsOf(TEXT)) });
  assert.equal(rows.length, 3);
  assert.equal(rows[0].text, await textOf({ model, vocab }, { length: 60, temperature: 0 }));
  for (const r of rows) {
    assert.equal([...r.text].length, 60);
    assert.ok(r.avgLogProb < 0 && r.avgLogProb > -10);
    if (r.words > 0) assert.ok(r.inCorpus !== null && r.inCorpus >= 0 && r.inCorpus <= 1);
  }
  const without = await temperatureSweep(model, vocab, [1], { length: 20 });
  assert.equal(without[0].inCorpus, null);
  assert.deepEqual(wordsOf("Don't stop, O'Brien—42 times"), ["don't", 'stop', "o'brien", '42', 'times']);
});

