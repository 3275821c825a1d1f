/** Novelty: the suffix array against sorting by comparison; exact marks and shares on a hand-made corpus; n-gram novelty equals a brute-force count. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { buildCorpus, splitCorpus } from '../src/data.js';
import { splitLines } from '../src/lines.js';
import { NoveltyIndex } from '../src/novelty.js';
import { Rng } from '../src/rng.js';
import { naive, occurIn, SubstringIndex, suffixArray } from '../src/suffix-array.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('SA-IS equals sorting the suffixes by comparison (random, repetitive and tiny inputs)', () => {
  const rng = new Rng(5);
  const inputs: number[][] = [[], [0], [1, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 0]];
  for (let k = 0; k < 60; k++) {
    const V = 1 + (k % 5);
    inputs.push(Array.from({ length: 1 + Math.floor(rng.next() * 300) }, () => Math.floor(rng.next() * V)));
  }
  for (const s of inputs) {
    const upper = Math.max(0, ...s);
    assert.deepEqual(Array.from(suffixArray(s, upper)), Array.from(naive(s)), `input ${s.slice(0, 20)}`);
  }
});

test('substring counts equal a brute-force scan', () => {
  const rng = new Rng(9);
  const text = Uint8Array.from({ length: 500 }, () => Math.floor(rng.next() * 3));
  const index = new SubstringIndex(text, 3);
  for (let q = 0; q < 200; q++) {
    const n = 1 + Math.floor(rng.next() * 7);
    const pat = Array.from({ length: n }, () => Math.floor(rng.next() * 3));
    let brute = 0;
    for (let i = 0; i + n <= text.length; i++) if (pat.every((c, k) => text[i + k] === c)) brute++;
    assert.equal(index.count(pat), brute);
  }
});

test('lines: each sample is marked train, held-out or new, with exact shares', () => {
  // 10 items: 8 train, 1 validation, 1 test
  const text = 'anna\nbob\ncara\ndave\neve\nfred\ngina\nhal\nivy\njon\n';
  const { vocab, ids } = buildCorpus([{ name: 't', bytes: enc(text) }]);
  const index = new NoveltyIndex(vocab, splitLines(ids, vocab.id(10), 0.1, 0.1), true);
  const r = index.measure(['anna', 'hal', 'ivy', 'jon', 'annabob', 'ann', 'zed', 'bob']);
  assert.deepEqual(r.marks, ['train', 'train', 'held-out', 'held-out', 'new', 'new', 'new', 'train']);
  assert.deepEqual(r.shares, { train: 3 / 8, 'held-out': 2 / 8, new: 3 / 8 });
  assert.deepEqual(r.ngrams, []);
});

test('a scan for many patterns (Rabin–Karp) finds exactly the ones a brute-force search finds', () => {
  const rng = new Rng(4);
  const text = Uint8Array.from({ length: 3000 }, () => Math.floor(rng.next() * 4));
  const patterns: number[][] = [[]];
  for (let q = 0; q < 300; q++) {
    const n = 1 + Math.floor(rng.next() * 90); // some longer than the hashed prefix
    const at = Math.floor(rng.next() * (text.length - n));
    const p = rng.next() < 0.5 ? Array.from(text.subarray(at, at + n)) : Array.from({ length: n }, () => Math.floor(rng.next() * 4));
    patterns.push(p);
  }
  const got = occurIn(text, patterns);
  const s = Array.from(text).join(',') + ',';
  patterns.forEach((p, i) => assert.equal(got[i], p.length === 0 || (',' + s).includes(',' + p.join(',') + ','), `pattern ${i}`));
  assert.ok(got.some((x) => x) && got.some((x) => !x));
});

for (const [how, indexLimit] of [['a suffix array', Infinity], ['a scan', 0]] as const) test(`free text (${how}): marks by substring, and the novel n-gram share equals a brute-force count`, () => {
  const rng = new Rng(2);
  const words = ['the ', 'whale ', 'sea ', 'ship ', 'ahab ', 'white '];
  let text = '';
  while (text.length < 3000) text += words[Math.floor(rng.next() * words.length)];
  const { vocab, ids } = buildCorpus([{ name: 't', bytes: enc(text + 'zzqq') }]);
  const split = splitCorpus(ids, 0.05, 0.05);
  const index = new NoveltyIndex(vocab, split, false, { indexLimit });
  const train = vocab.decode(split.train);
  const held = vocab.decode(split.val) + vocab.decode(split.test);
  const samples = ['the whale sea ship', 'whale whale whale whale whale', 'ahab the white sea', 'shipa ahabs zzqq', 'zq', 'sea ship ahab white the whale sea ship'];
  const r = index.measure(samples, [2, 5, 10, 20]);
  samples.forEach((s, i) => assert.equal(r.marks[i], train.includes(s) ? 'train' : held.includes(s) ? 'held-out' : 'new'));
  assert.equal(r.marks[4], 'held-out', 'zq occurs only at the end');
  for (const { n, total, novel, share } of r.ngrams) {
    let bt = 0;
    let bn = 0;
    for (const s of samples) {
      for (let i = 0; i + n <= s.length; i++) {
        bt++;
        if (!train.includes(s.slice(i, i + n))) bn++;
      }
    }
    assert.equal(total, bt);
    assert.equal(novel, bn, `n = ${n}`);
    assert.equal(share, bt > 0 ? bn / bt : null);
  }
  assert.ok(r.ngrams.some((g) => g.novel > 0) && r.ngrams.some((g) => g.novel < g.total));
});
