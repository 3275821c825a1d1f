/** Vocabulary over code points, strict UTF-8, the split and char-rnn's batching. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Batcher, buildCorpus, splitCorpus } from '../src/data.js';
import { CharRnnError } from '../src/errors.js';

const enc = new TextEncoder();

test('emoji and CJK are one symbol each and round-trip through the vocabulary', () => {
  const text = 'a😀b你好😀\n';
  const { vocab, ids } = buildCorpus([{ name: 't', bytes: enc.encode(text) }]);
  assert.equal(ids.length, [...text].length); // 7 code points, not 9 UTF-16 units
  assert.deepEqual(vocab.symbols, [...new Set([...text].map((c) => c.codePointAt(0)!))].sort((a, b) => a - b));
  assert.equal(vocab.decode(ids), text);
  assert.ok(ids instanceof Uint8Array);
});

test('ids use the smallest integer array for the vocabulary', () => {
  const many = Array.from({ length: 300 }, (_, i) => String.fromCodePoint(0x4e00 + i)).join('');
  assert.ok(buildCorpus([{ name: 't', bytes: enc.encode(many) }]).ids instanceof Uint16Array);
});

test('invalid UTF-8 is refused with the byte offset', () => {
  const bytes = new Uint8Array([0x61, 0x62, 0xc3, 0x28, 0x63]);
  assert.throws(() => buildCorpus([{ name: 'bad.txt', bytes }]), (e: unknown) => e instanceof CharRnnError && /byte offset 2/.test(e.message));
  for (const bad of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]) {
    assert.throws(() => buildCorpus([{ name: 'b', bytes: new Uint8Array([0x41, ...bad]) }]), /byte offset 1/);
  }
});

test('a BOM is skipped; NUL bytes and empty input are refused', () => {
  const { vocab } = buildCorpus([{ name: 't', bytes: new Uint8Array([0xef, 0xbb, 0xbf, 0x61]) }]);
  assert.deepEqual(vocab.symbols, [0x61]);
  assert.throws(() => buildCorpus([{ name: 'bin', bytes: new Uint8Array([0x61, 0, 0x62]) }]), /binary/);
  assert.throws(() => buildCorpus([{ name: 'empty', bytes: new Uint8Array() }]), /no text/);
});

test('contiguous split and B streams of windows of T, targets shifted by one', () => {
  const ids = Uint8Array.from({ length: 100 }, (_, i) => i);
  const split = splitCorpus(ids, 0.1, 0.05);
  assert.equal(split.train.length, 85);
  assert.equal(split.val[0], 85);
  assert.equal(split.test[0], 95);
  const b = new Batcher(split.train, 4, 5); // streams of 21 chars: 4 windows
  assert.equal(b.streamLength, 21);
  assert.equal(b.windows, 4);
  const x = new Int32Array(20);
  const y = new Int32Array(20);
  b.fillIds(1, x, y);
  // time-major: (t, b) at t*B + b; stream b starts at b*21, window 1 at +5
  assert.equal(x[0 * 4 + 0], 5);
  assert.equal(x[2 * 4 + 3], 3 * 21 + 5 + 2);
  for (let i = 0; i < 20; i++) assert.equal(y[i], x[i] + 1);
});
