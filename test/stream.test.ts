/**
 * Streaming decoding (src/stream.ts): wherever the chunks are cut — inside a multi-byte
 * sequence, inside the byte-order mark — the code points and the error (with its byte offset)
 * are those of decoding the whole file at once, and agree with the platform's strict decoder.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildCorpus } from '../src/data.js';
import { Utf8Decoder } from '../src/stream.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

/** Decode `bytes` cut at `cuts`; the code points, or the error message. */
function decodeInChunks(bytes: Uint8Array, cuts: number[]): number[] | string {
  const d = new Utf8Decoder('f');
  const out: number[] = [];
  const at = [0, ...[...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b), bytes.length];
  try {
    for (let i = 1; i < at.length; i++) d.push(bytes.subarray(at[i - 1], at[i]), (cp) => out.push(cp));
    d.end();
    return out;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Mostly valid UTF-8 (any code points, a BOM now and then), sometimes with bytes flipped or cut. */
const bytesArb = fc.tuple(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.boolean(),
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
  fc.nat(),
).map(([s, bom, flips, cut]) => {
  const b = new TextEncoder().encode((bom ? '\ufeff' : '') + s);
  for (const [i, v] of flips) if (b.length > 0) b[i % b.length] = v;
  return flips.length > 0 && cut % 4 === 0 ? b.subarray(0, cut % (b.length + 1)) : b;
});

test(`fuzz: chunked decoding = whole decoding = TextDecoder (fatal), for any cut points (${RUNS} runs)`, () => {
  fc.assert(
    fc.property(bytesArb, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
      const whole = decodeInChunks(bytes, []);
      assert.deepEqual(decodeInChunks(bytes, cuts), whole);
      let expected: number[] | null;
      try {
        const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
        expected = [...text].map((c) => c.codePointAt(0)!);
      } catch {
        expected = null;
      }
      if (expected === null) assert.equal(typeof whole, 'string', 'refused like TextDecoder');
      else assert.deepEqual(whole, expected);
    }),
    { numRuns: RUNS },
  );
});

test('every byte of a 4-byte sequence and of a BOM may be the cut; the error offset counts from the file start', () => {
  const bytes = new TextEncoder().encode('\ufeffa😀b');
  for (let cut = 0; cut <= bytes.length; cut++) assert.deepEqual(decodeInChunks(bytes, [cut]), [0x61, 0x1f600, 0x62]);
  for (let a = 0; a <= bytes.length; a++) for (let b = a; b <= bytes.length; b++) assert.deepEqual(decodeInChunks(bytes, [a, b]), [0x61, 0x1f600, 0x62]);
  const bad = new Uint8Array([0x61, 0x62, 0x63, 0xf0, 0x9f, 0x98]); // cut short at the end of the file
  for (let cut = 0; cut <= bad.length; cut++) assert.match(decodeInChunks(bad, [cut]) as string, /byte offset 3/);
  const flipped = new Uint8Array([0x61, 0xe2, 0x82, 0x41, 0x62]); // a continuation byte replaced by 'A'
  for (let cut = 0; cut <= flipped.length; cut++) assert.match(decodeInChunks(flipped, [cut]) as string, /byte offset 1/);
});

test('a BOM is dropped only at the start of a file; U+FEFF elsewhere is a character', () => {
  const d = new TextEncoder().encode('\ufeffab\ufeffc');
  const { vocab, ids } = buildCorpus([{ name: 'x', bytes: d }]);
  assert.equal(vocab.decode(ids), 'ab\ufeffc');
});

test('byte mode: every byte is one symbol 0–255, NUL included, whatever the encoding', () => {
  const bytes = Uint8Array.from([0, 255, 0xc3, 0xa9, 10, 0, 13, 10]);
  const { vocab, ids } = buildCorpus([{ name: 'b', bytes }], { binary: true });
  assert.deepEqual(vocab.symbols, [0, 10, 13, 0xa9, 0xc3, 255]);
  assert.deepEqual([...ids].map((i) => vocab.symbols[i]), [...bytes]);
});
