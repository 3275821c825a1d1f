/**
 * Weights packed into a JavaScript string, as small as the exported module's size rule asks
 * (within 2% + 16 KB of the float32 bytes): the decoder is unpack() in runtime.ts.
 *
 * Base64 would add a third. Instead:
 *   1. Each weight is split into a head (sign and exponent: 9 bits of a float32, 6 of a float16)
 *      and a tail (the mantissa: 23 or 10 bits). Trained and initialised weights sit in a few
 *      binades, so the heads carry 2–4 bits of information: a canonical Huffman code (at most
 *      MAX_CODE bits) takes them, the tails go in as they are.
 *   2. The bit stream (most significant bit first) is written 6 bytes at a time as 7 digits of
 *      base 122 (122^7 ≥ 2^48), least significant first, each digit one of the 122 ASCII
 *      characters a double-quoted string holds as they are: 1–127 but for \n, \r, ", < (so the
 *      text never closes a <script>) and \. 7/6 characters per byte where base64 takes 8/6.
 * A float32 weight of ~26–27 bits then takes ~3.8–3.9 bytes of text; a float16 one about half.
 */
import { CharRnnError } from '../errors.js';

/** Longest Huffman code: the decoder's table has 2^MAX_CODE entries. */
const MAX_CODE = 12;

/** The 122 characters, digit d at index d (unpack() in runtime.ts builds the same list). */
const ALPHABET = (() => {
  const out: string[] = [];
  for (let c = 1; c < 128; c++) if (c !== 10 && c !== 13 && c !== 34 && c !== 60 && c !== 92) out.push(String.fromCharCode(c));
  return out;
})();

export interface Packed {
  /** The weights as text, for a double-quoted string. */
  text: string;
  /** Huffman code lengths: [head, length, head, length, ...]. */
  codes: number[];
}

/** Pack float32 weights, as float32 or (half) rounded to float16. Throws a one-line error for a weight float16 cannot hold. */
export function packWeights(weights: Float32Array, half: boolean): Packed {
  const n = weights.length;
  const heads = new Uint16Array(n);
  const tails = new Uint32Array(n);
  const bits = new Uint32Array(weights.buffer, weights.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const b = half ? toHalf(weights[i]) : bits[i];
    heads[i] = half ? b >>> 10 : b >>> 23;
    tails[i] = half ? b & 0x3ff : b & 0x7fffff;
  }
  const tailBits = half ? 10 : 23;
  const lengths = huffmanLengths(heads, half ? 64 : 512);
  const codeOf = canonicalCodes(lengths);
  const w = new BitWriter();
  for (let i = 0; i < n; i++) {
    w.write(codeOf[heads[i]], lengths[heads[i]]);
    w.write(tails[i], tailBits);
  }
  const codes: number[] = [];
  lengths.forEach((len, head) => {
    if (len > 0) codes.push(head, len);
  });
  return { text: base122(w.bytes()), codes };
}

/** float32 → float16 bits, rounding to nearest (ties to even); a weight beyond ±65504 is a one-line error. */
export function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const b = new Uint32Array(f.buffer)[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  const e = exp - 127 + 15;
  const tooBig = (): never => {
    throw new CharRnnError('bad-flag', `--half: a weight of ${x} is beyond float16's range (±65504); export without --half`);
  };
  if (exp === 0xff || e >= 31) tooBig();
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: zero
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is right
  if ((h & 0x7c00) === 0x7c00) tooBig();
  return sign | h;
}

/** Huffman code lengths (0 for unused heads), at most MAX_CODE bits: counts are halved until they fit. */
function huffmanLengths(heads: Uint16Array, symbols: number): number[] {
  const counts = new Array<number>(symbols).fill(0);
  for (const h of heads) counts[h]++;
  for (;;) {
    const lengths = lengthsOf(counts);
    if (Math.max(...lengths) <= MAX_CODE) return lengths;
    for (let s = 0; s < symbols; s++) if (counts[s] > 0) counts[s] = Math.ceil(counts[s] / 2);
  }
}

/** Plain Huffman: merge the two lightest subtrees until one is left; a lone symbol gets one bit. */
function lengthsOf(counts: number[]): number[] {
  const lengths = counts.map(() => 0);
  let nodes = counts.flatMap((c, s) => (c > 0 ? [{ weight: c, symbols: [s] }] : []));
  if (nodes.length === 1) lengths[nodes[0].symbols[0]] = 1;
  while (nodes.length > 1) {
    nodes.sort((a, b) => a.weight - b.weight);
    const [a, b] = nodes;
    for (const s of [...a.symbols, ...b.symbols]) lengths[s]++;
    nodes = [{ weight: a.weight + b.weight, symbols: [...a.symbols, ...b.symbols] }, ...nodes.slice(2)];
  }
  return lengths;
}

/** Canonical codes: in order of (length, symbol), each the previous plus one, shifted left when the length grows. */
function canonicalCodes(lengths: number[]): number[] {
  const codes = lengths.map(() => 0);
  const order = lengths.map((len, s) => ({ len, s })).filter((x) => x.len > 0).sort((a, b) => a.len - b.len || a.s - b.s);
  let code = 0;
  let len = order[0]?.len ?? 0;
  for (const x of order) {
    code <<= x.len - len;
    len = x.len;
    codes[x.s] = code++;
  }
  return codes;
}

/** Bits in, most significant first, into a growing byte buffer. */
class BitWriter {
  private buf = new Uint8Array(1 << 16);
  private byte = 0; // bytes written whole
  private acc = 0; // pending bits (fewer than 8), in the low bits
  private pending = 0;

  /** The low n bits of v (n ≤ 24). */
  write(v: number, n: number): void {
    this.acc = (this.acc << n) | (v & ((1 << n) - 1)); // ≤ 7 + 24 bits
    this.pending += n;
    while (this.pending >= 8) {
      this.pending -= 8;
      if (this.byte === this.buf.length) {
        const bigger = new Uint8Array(this.buf.length * 2);
        bigger.set(this.buf);
        this.buf = bigger;
      }
      this.buf[this.byte++] = (this.acc >>> this.pending) & 0xff;
    }
    this.acc &= (1 << this.pending) - 1;
  }

  /** The stream, its last byte padded with zero bits. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.byte + (this.pending > 0 ? 1 : 0));
    out.set(this.buf.subarray(0, this.byte));
    if (this.pending > 0) out[this.byte] = (this.acc << (8 - this.pending)) & 0xff;
    return out;
  }
}

/** 6 bytes → 7 characters (base 122, least significant digit first); the last group padded with zero bytes. */
function base122(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += 6) {
    const b = (k: number): number => (i + k < bytes.length ? bytes[i + k] : 0);
    let v = (b(0) * 65536 + b(1) * 256 + b(2)) * 16777216 + (b(3) * 65536 + b(4) * 256 + b(5)); // < 2^48: exact
    let group = '';
    for (let k = 0; k < 7; k++) {
      const d = v % 122;
      group += ALPHABET[d];
      v = (v - d) / 122;
    }
    parts.push(group);
  }
  return parts.join('');
}
