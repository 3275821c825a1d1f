/**
 * Text → symbols. A symbol is a Unicode code point (never a UTF-16 code unit), so an emoji or a
 * CJK character is one symbol. The vocabulary is the sorted set of code points in the corpus
 * and travels inside every checkpoint.
 */
import { CharRnnError } from './errors.js';

/** Token ids take the smallest array that holds them: 1, 2 or 4 bytes per character. */
export type IdArray = Uint8Array | Uint16Array | Uint32Array;

export function idArrayFor(vocabSize: number, length: number): IdArray {
  if (vocabSize <= 256) return new Uint8Array(length);
  if (vocabSize <= 65536) return new Uint16Array(length);
  return new Uint32Array(length);
}

export class Vocabulary {
  /** Code points, sorted ascending; the index of a code point is its token id. */
  readonly symbols: readonly number[];
  private readonly index: Map<number, number>;

  constructor(codePoints: Iterable<number>) {
    this.symbols = [...new Set(codePoints)].sort((a, b) => a - b);
    this.index = new Map(this.symbols.map((cp, i) => [cp, i]));
  }

  get size(): number {
    return this.symbols.length;
  }

  /** Token id of a code point, or -1 when it is not in the vocabulary. */
  id(codePoint: number): number {
    return this.index.get(codePoint) ?? -1;
  }

  has(codePoint: number): boolean {
    return this.index.has(codePoint);
  }

  char(id: number): string {
    return String.fromCodePoint(this.symbols[id]);
  }

  /** Ids of the characters of `text`; throws naming the characters outside the vocabulary. */
  encode(text: string): number[] {
    const ids: number[] = [];
    const unknown = new Set<string>();
    for (const ch of text) {
      const id = this.id(ch.codePointAt(0)!);
      if (id < 0) unknown.add(ch);
      else ids.push(id);
    }
    if (unknown.size > 0) {
      throw new CharRnnError('unknown-chars', `${describeChars([...unknown])} not in the model's vocabulary`);
    }
    return ids;
  }

  decode(ids: Iterable<number>): string {
    let s = '';
    for (const id of ids) s += this.char(id);
    return s;
  }
}

/** "'é', U+200B" — printable characters quoted, invisible ones as code points. */
export function describeChars(chars: string[]): string {
  const shown = chars.slice(0, 10).map((ch) => {
    const cp = ch.codePointAt(0)!;
    return /[\p{L}\p{N}\p{P}\p{S}]/u.test(ch) ? JSON.stringify(ch) : `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  });
  const more = chars.length > 10 ? ` and ${chars.length - 10} more` : '';
  return `character${chars.length > 1 ? 's' : ''} ${shown.join(', ')}${more} ${chars.length > 1 ? 'are' : 'is'}`;
}

/**
 * Strict UTF-8 decoding to code points (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF). Calls `emit` for each code point; throws with the byte offset of the first
 * invalid sequence. A leading byte-order mark is skipped. Written by hand because TextDecoder
 * does not report where the bad byte is.
 */
export function forEachCodePoint(bytes: Uint8Array, name: string, emit: (cp: number) => void): void {
  const n = bytes.length;
  let i = n >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (i < n) {
    const b0 = bytes[i];
    if (b0 < 0x80) {
      emit(b0);
      i += 1;
      continue;
    }
    let need: number;
    let cp: number;
    let min: number;
    if (b0 >= 0xc2 && b0 <= 0xdf) { need = 1; cp = b0 & 0x1f; min = 0x80; }
    else if (b0 >= 0xe0 && b0 <= 0xef) { need = 2; cp = b0 & 0x0f; min = 0x800; }
    else if (b0 >= 0xf0 && b0 <= 0xf4) { need = 3; cp = b0 & 0x07; min = 0x10000; }
    else throw badUtf8(name, i);
    if (i + need >= n) throw badUtf8(name, i); // truncated sequence at the end
    for (let k = 1; k <= need; k++) {
      const b = bytes[i + k];
      if ((b & 0xc0) !== 0x80) throw badUtf8(name, i);
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw badUtf8(name, i);
    emit(cp);
    i += need + 1;
  }
}

function badUtf8(name: string, offset: number): CharRnnError {
  return new CharRnnError('bad-utf8', `${name} is not valid UTF-8 (bad byte sequence at byte offset ${offset}); convert it to UTF-8 first`);
}
