/**
 * Text → symbols, streaming: the corpus arrives file by file, chunk by chunk, and is read in
 * two passes (as a 1 GB corpus must be: we never hold its bytes, only its ids).
 *
 *   pass 1 (SymbolPass)  validate, collect the set of symbols, count the characters  → vocabulary
 *   pass 2 (IdPass)      decode again and write one id per character into an IdArray (n)
 *
 * Memory: pass 1 holds one flag per possible code point (1.1 MB); pass 2 a code point → id
 * table up to the largest symbol (≤ 4.4 MB) and the ids themselves: 1, 2 or 4 bytes per
 * character, or, streamed to disk (the torch engine's ids.bin), one chunk's ids at a time.
 * Neither holds more of the text than the chunk it is given.
 *
 * Two ways to read bytes as symbols:
 *   'utf8'    strict UTF-8 (RFC 3629), a symbol is a code point; a multi-byte sequence may be
 *             split across chunks; a leading byte-order mark is dropped; NUL is refused (a
 *             binary file) unless allowed
 *   'bytes'   every byte is one symbol, its value 0–255 read as the code point of the same
 *             number (Latin-1), so a byte-level model is an ordinary code-point model
 */
import { CharRnnError } from './errors.js';
import { idArrayFor, Vocabulary, type IdArray } from './vocab.js';

export type TextMode = 'utf8' | 'bytes';

/** Length of the UTF-8 sequence a lead byte starts, or 0 if it cannot start one. */
function sequenceLength(b0: number): number {
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) return 2;
  if (b0 >= 0xe0 && b0 <= 0xef) return 3;
  if (b0 >= 0xf0 && b0 <= 0xf4) return 4;
  return 0;
}

/** The code point of the `len`-byte sequence at b[i], or -1 if it is malformed (bad continuation, overlong, surrogate, > U+10FFFF). */
function decodeSequence(b: Uint8Array, i: number, len: number): number {
  let cp = b[i] & (len === 2 ? 0x1f : len === 3 ? 0x0f : 0x07);
  for (let k = 1; k < len; k++) {
    const c = b[i + k];
    if ((c & 0xc0) !== 0x80) return -1;
    cp = (cp << 6) | (c & 0x3f);
  }
  const min = len === 2 ? 0x80 : len === 3 ? 0x800 : 0x10000;
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
  return cp;
}

function badUtf8(name: string, offset: number): CharRnnError {
  return new CharRnnError('bad-utf8', `${name} is not valid UTF-8 (bad byte sequence at byte offset ${offset}); convert it to UTF-8 first, or pass --binary to train on its bytes`);
}

/**
 * Strict UTF-8 decoding of one file given in chunks. Error offsets count from the start of the
 * file, wherever the chunks were cut.
 */
export class Utf8Decoder {
  private readonly pending = new Uint8Array(4); // a sequence cut by the end of the last chunk
  private pendingLen = 0;
  private pendingNeed = 0;
  private pendingAt = 0;
  /** Bytes of the file consumed before the current chunk. */
  private offset = 0;

  constructor(readonly name: string) {}

  push(bytes: Uint8Array, emit: (cp: number) => void): void {
    const n = bytes.length;
    let i = 0;
    if (this.pendingLen > 0) {
      while (this.pendingLen < this.pendingNeed && i < n) this.pending[this.pendingLen++] = bytes[i++];
      if (this.pendingLen < this.pendingNeed) {
        this.offset += n;
        return;
      }
      this.emitSequence(this.pending, 0, this.pendingNeed, this.pendingAt, emit);
      this.pendingLen = 0;
    }
    while (i < n) {
      const b0 = bytes[i];
      if (b0 < 0x80) {
        emit(b0);
        i++;
        continue;
      }
      const len = sequenceLength(b0);
      if (len === 0) throw badUtf8(this.name, this.offset + i);
      if (i + len > n) {
        this.pending.set(bytes.subarray(i));
        this.pendingLen = n - i;
        this.pendingNeed = len;
        this.pendingAt = this.offset + i;
        break;
      }
      this.emitSequence(bytes, i, len, this.offset + i, emit);
      i += len;
    }
    this.offset += n;
  }

  /** End of the file: a sequence still cut short is an error. */
  end(): void {
    if (this.pendingLen > 0) throw badUtf8(this.name, this.pendingAt);
  }

  private emitSequence(b: Uint8Array, i: number, len: number, at: number, emit: (cp: number) => void): void {
    const cp = decodeSequence(b, i, len);
    if (cp < 0) throw badUtf8(this.name, at);
    if (cp !== 0xfeff || at !== 0) emit(cp); // a byte-order mark at the very start is not text
  }
}

/** One pass over the corpus: file(name), then push(chunk)… , then end(), for each file in order. */
export abstract class TextPass {
  private decoder: Utf8Decoder | null = null;
  private readonly emit = (cp: number): void => this.symbol(cp);

  constructor(readonly mode: TextMode) {}

  file(name: string): void {
    this.decoder = this.mode === 'utf8' ? new Utf8Decoder(name) : null;
  }

  push(chunk: Uint8Array): void {
    if (this.decoder) this.decoder.push(chunk, this.emit);
    else for (let i = 0; i < chunk.length; i++) this.symbol(chunk[i]);
  }

  end(): void {
    this.decoder?.end();
    this.decoder = null;
  }

  protected abstract symbol(cp: number): void;
}

/**
 * Pass 1: the set of symbols and the number of characters. In UTF-8 mode a NUL character
 * means a binary file: refused at once (unless allowed), before any later invalid byte.
 */
export class SymbolPass extends TextPass {
  private readonly seen = new Uint8Array(0x110000); // one flag per code point
  private readonly refuseNul: boolean;
  private current = '';
  count = 0;

  constructor(mode: TextMode, opts: { allowNul?: boolean } = {}) {
    super(mode);
    this.refuseNul = mode === 'utf8' && !opts.allowNul;
  }

  override file(name: string): void {
    super.file(name);
    this.current = name;
  }

  protected symbol(cp: number): void {
    if (cp === 0 && this.refuseNul) {
      throw new CharRnnError('binary-input', `${this.current} contains NUL bytes and looks like a binary file; give text files only, or pass --binary to train on its bytes`);
    }
    this.seen[cp] = 1;
    this.count++;
  }

  /** The symbols seen, ascending. */
  symbols(): number[] {
    const out: number[] = [];
    for (let cp = 0; cp < this.seen.length; cp++) if (this.seen[cp]) out.push(cp);
    return out;
  }
}

/**
 * Pass 2: the ids of the characters in the vocabulary; the others are counted as unknown. Held
 * whole (capacity: the characters pass 1 counted), or streamed: a capacity of one chunk's bytes
 * (a chunk holds at most that many characters), drained after each chunk.
 */
export class IdPass extends TextPass {
  /** Code point → id, or -1. (max symbol + 1) */
  private readonly table: Int32Array;
  private k = 0;
  private readonly buf: IdArray;
  unknown = 0;
  /** Ids written in all, drained or not. */
  written = 0;

  constructor(mode: TextMode, vocab: Vocabulary, capacity: number) {
    super(mode);
    const syms = vocab.symbols;
    this.table = new Int32Array(syms.length > 0 ? syms[syms.length - 1] + 1 : 0).fill(-1);
    syms.forEach((cp, id) => (this.table[cp] = id));
    this.buf = idArrayFor(vocab.size, capacity);
  }

  protected symbol(cp: number): void {
    const id = cp < this.table.length ? this.table[cp] : -1;
    if (id < 0) this.unknown++;
    else if (this.k < this.buf.length) {
      this.buf[this.k++] = id;
      this.written++;
    } else throw new CharRnnError('corpus-changed', 'the corpus has more characters than on the first pass; did a file change while it was read?');
  }

  /** The ids written. */
  get ids(): IdArray {
    return this.k === this.buf.length ? this.buf : this.buf.subarray(0, this.k);
  }

  /** The ids written since the last drain (a view: use it before the next push), and empty the buffer. */
  drain(): IdArray {
    const out = this.ids;
    this.k = 0;
    return out;
  }
}
