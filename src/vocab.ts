/**
 * Text → symbols. A symbol is a Unicode code point (never a UTF-16 code unit), so an emoji or a
 * CJK character is one symbol. The vocabulary is the sorted set of code points in the corpus
 * and travels inside every checkpoint.
 */
import { CharRnnError } from './errors.js';

/** Token ids take the smallest array that holds them: 1, 2 or 4 bytes per character. */
export type IdArray = Uint8Array | Uint16Array | Uint32Array;

/** The element type of a vocabulary's ids (ids.bin's dtype in a torch run): the smallest that holds every id. */
export function idDtype(vocabSize: number): 'uint8' | 'uint16' | 'uint32' {
  return vocabSize <= 256 ? 'uint8' : vocabSize <= 65536 ? 'uint16' : 'uint32';
}

export function idArrayFor(vocabSize: number, length: number): IdArray {
  const dtype = idDtype(vocabSize);
  return dtype === 'uint8' ? new Uint8Array(length) : dtype === 'uint16' ? new Uint16Array(length) : new Uint32Array(length);
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
