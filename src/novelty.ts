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
 * Up to INDEX_LIMIT characters, the training split is indexed once by a suffix array
 * (src/suffix-array.ts, SA-IS in linear time) and each query is a binary search, O(n log N): the
 * page keeps the index of its run and asks again at every click. Above it (the CLI on a 100 MB
 * corpus asks once, for a few thousand n-grams), building the array would take longer than
 * answering without one: the queries are hashed and the text is scanned once per length
 * (occurIn, Rabin–Karp). Lines are looked up in hash sets.
 */
import type { Split } from './data.js';
import { itemsOf } from './lines.js';
import { occurIn, SubstringIndex } from './suffix-array.js';
import type { IdArray, Vocabulary } from './vocab.js';

export const NGRAM_SIZES = [5, 10, 20, 50] as const;

/** Longest training split (characters) that gets a suffix array; longer ones are scanned per query batch. */
export const INDEX_LIMIT = 4e6;

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
  /** Free text: the splits' ids, and their suffix arrays when they are short enough. */
  private readonly texts: { train: IdArray; held: IdArray; trainIndex: SubstringIndex | null; heldIndex: SubstringIndex | null } | null = null;

  /** `split`: as the run made it (splitFor); held-out = validation then test (contiguous). */
  constructor(readonly vocab: Vocabulary, split: Split, readonly lines: boolean, opts: { indexLimit?: number } = {}) {
    const heldIds = joined(split.val, split.test);
    if (lines) {
      const nl = vocab.id(10);
      const cr = vocab.id(13);
      this.trainItems = itemSet(split.train, nl, cr, vocab);
      this.heldItems = itemSet(heldIds, nl, cr, vocab);
    } else {
      const limit = opts.indexLimit ?? INDEX_LIMIT;
      const index = (ids: IdArray): SubstringIndex | null => (ids.length <= limit ? new SubstringIndex(ids, vocab.size) : null);
      this.texts = { train: split.train, held: heldIds, trainIndex: index(split.train), heldIndex: index(heldIds) };
    }
  }

  /** Which patterns occur in the training (or held-out) split: binary searches, or one scan. */
  private occur(part: 'train' | 'held', patterns: number[][]): boolean[] {
    const t = this.texts!;
    const index = part === 'train' ? t.trainIndex : t.heldIndex;
    return index ? patterns.map((p) => index.contains(p)) : occurIn(part === 'train' ? t.train : t.held, patterns);
  }

  /** Mark samples (a lines item: its whole text; free text: as a substring). */
  private marks(texts: string[]): NoveltyMark[] {
    if (this.trainItems) return texts.map((t) => (this.trainItems!.has(t) ? 'train' : this.heldItems!.has(t) ? 'held-out' : 'new'));
    const ids = texts.map((t) => this.ids(t));
    const known = ids.map((x, i) => (x === null ? -1 : i)).filter((i) => i >= 0);
    const inTrain = this.occur('train', known.map((i) => ids[i]!));
    const rest = known.filter((_, k) => !inTrain[k]);
    const inHeld = this.occur('held', rest.map((i) => ids[i]!));
    const out: NoveltyMark[] = texts.map(() => 'new');
    known.forEach((i, k) => inTrain[k] && (out[i] = 'train'));
    rest.forEach((i, k) => inHeld[k] && (out[i] = 'held-out'));
    return out;
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
    const marks = this.marks(texts);
    const shares: Record<NoveltyMark, number> = { train: 0, 'held-out': 0, new: 0 };
    for (const m of marks) shares[m]++;
    for (const m of Object.keys(shares) as NoveltyMark[]) shares[m] = marks.length > 0 ? shares[m] / marks.length : 0;
    const ngrams: NgramNovelty[] = [];
    if (this.texts) {
      // every n-gram of every sample; one with an unknown character occurs nowhere
      const all = texts.map((t) => [...t].map((ch) => this.vocab.id(ch.codePointAt(0)!)));
      for (const n of sizes) {
        const grams: number[][] = [];
        let total = 0;
        for (const ids of all) {
          for (let i = 0; i + n <= ids.length; i++, total++) {
            const g = ids.slice(i, i + n);
            if (g.every((id) => id >= 0)) grams.push(g);
          }
        }
        const found = this.occur('train', grams).filter(Boolean).length;
        ngrams.push({ n, total, novel: total - found, share: total > 0 ? (total - found) / total : null });
      }
    }
    return { marks, shares, ngrams };
  }
}

/** The report in words (the CLI's and the page's summary lines). */
export function noveltySummary(r: NoveltyReport, lines: boolean): string {
  const n = r.marks.length;
  const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
  let s = `novelty of ${n} ${lines ? 'item' : 'sample'}${n === 1 ? '' : 's'}: ${pct(r.shares.new)} new, ${pct(r.shares.train)} in the training split, ${pct(r.shares['held-out'])} in validation/test\n`;
  if (r.ngrams.length) s += `novel n-grams (never in the training split): ${r.ngrams.map((g) => `${g.n}: ${g.share === null ? 'n/a' : pct(g.share)} of ${g.total}`).join(', ')}\n`;
  return s;
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
