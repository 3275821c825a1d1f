/**
 * Novelty: does the model make things up, or copy its training data?
 *
 *   each sample (each item, for a lines model) is marked
 *     'train'     it occurs in the training split (a lines item: is one of its lines;
 *                 free text: occurs there as a substring),
 *     'held-out'  not in train, but in the validation or test split,
 *     'new'       in neither;
 *   and, for free text, for n = 5, 10, 20, 50 characters:
 *     novel n-gram share = #{sampled n-grams that never occur in the training split} / #{sampled n-grams}
 *   (every window of n consecutive generated characters of every sample; torch-rnn's novel substrings).
 *
 * The training split is indexed once by a suffix array (src/suffix-array.ts, SA-IS in linear
 * time); each query is then a binary search, O(n log N). Lines are looked up in hash sets.
 */
import type { Split } from './data.js';
import { itemsOf } from './lines.js';
import { SubstringIndex } from './suffix-array.js';
import type { IdArray, Vocabulary } from './vocab.js';

export const NGRAM_SIZES = [5, 10, 20, 50] as const;

export type NoveltyMark = 'train' | 'held-out' | 'new';

export interface NgramNovelty {
  n: number;
  /** n-grams in the samples. */
  total: number;
  /** Of those, how many never occur in the training split. */
  novel: number;
  /** novel / total (null when the samples have no n-gram this long). */
  share: number | null;
}

export interface NoveltyReport {
  /** One mark per sample. */
  marks: NoveltyMark[];
  /** Fractions of the samples with each mark (0 when there are none). */
  shares: Record<NoveltyMark, number>;
  /** Free text only; [] for a lines model. */
  ngrams: NgramNovelty[];
}

/** The training split (and the held-out one) ready for novelty queries. */
export class NoveltyIndex {
  private readonly trainItems: Set<string> | null = null;
  private readonly heldItems: Set<string> | null = null;
  private readonly train: SubstringIndex | null = null;
  private readonly held: SubstringIndex | null = null;

  /** `split`: as the run made it (splitFor); held-out = validation then test (contiguous). */
  constructor(readonly vocab: Vocabulary, split: Split, readonly lines: boolean) {
    const heldIds = joined(split.val, split.test);
    if (lines) {
      const nl = vocab.id(10);
      const cr = vocab.id(13);
      this.trainItems = itemSet(split.train, nl, cr, vocab);
      this.heldItems = itemSet(heldIds, nl, cr, vocab);
    } else {
      this.train = new SubstringIndex(split.train, vocab.size);
      this.held = new SubstringIndex(heldIds, vocab.size);
    }
  }

  /** Mark one sample (a lines item: its whole text; free text: as a substring). */
  mark(text: string): NoveltyMark {
    if (this.trainItems) return this.trainItems.has(text) ? 'train' : this.heldItems!.has(text) ? 'held-out' : 'new';
    const ids = this.ids(text);
    if (ids === null) return 'new';
    return this.train!.contains(ids) ? 'train' : this.held!.contains(ids) ? 'held-out' : 'new';
  }

  /** Ids of a text, or null if it has a character the vocabulary lacks (then it occurs nowhere). */
  private ids(text: string): number[] | null {
    const out: number[] = [];
    for (const ch of text) {
      const id = this.vocab.id(ch.codePointAt(0)!);
      if (id < 0) return null;
      out.push(id);
    }
    return out;
  }

  /** Marks, shares and (free text) n-gram novelty of these samples. */
  measure(texts: string[], sizes: readonly number[] = NGRAM_SIZES): NoveltyReport {
    const marks = texts.map((t) => this.mark(t));
    const shares: Record<NoveltyMark, number> = { train: 0, 'held-out': 0, new: 0 };
    for (const m of marks) shares[m]++;
    for (const m of Object.keys(shares) as NoveltyMark[]) shares[m] = marks.length > 0 ? shares[m] / marks.length : 0;
    const ngrams: NgramNovelty[] = [];
    if (this.train) {
      for (const n of sizes) {
        let total = 0;
        let novel = 0;
        for (const t of texts) {
          const chars = [...t];
          const ids = chars.map((ch) => this.vocab.id(ch.codePointAt(0)!));
          for (let i = 0; i + n <= ids.length; i++) {
            total++;
            let known = true;
            for (let k = i; k < i + n; k++) if (ids[k] < 0) known = false;
            if (!known || !this.train.contains(ids, i, n)) novel++;
          }
        }
        ngrams.push({ n, total, novel, share: total > 0 ? novel / total : null });
      }
    }
    return { marks, shares, ngrams };
  }
}

/** val and test as one array: they are adjacent subarrays of the corpus when they come from one split. */
function joined(a: IdArray, b: IdArray): IdArray {
  if (a.buffer === b.buffer && a.byteOffset + a.byteLength === b.byteOffset) {
    return new (a.constructor as new (buf: ArrayBufferLike, off: number, len: number) => IdArray)(a.buffer, a.byteOffset, a.length + b.length);
  }
  const out = new (a.constructor as new (n: number) => IdArray)(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function itemSet(ids: IdArray, nl: number, cr: number, vocab: Vocabulary): Set<string> {
  const items = itemsOf(ids, nl, cr);
  const set = new Set<string>();
  for (let k = 0; k < items.start.length; k++) set.add(vocab.decode(ids.subarray(items.start[k], items.end[k])));
  return set;
}
