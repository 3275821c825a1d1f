/**
 * Suffix array of an id array by SA-IS (induced sorting; Nong, Zhang & Chan 2009), in linear
 * time, after the compact formulation of the AtCoder Library's sa_is.
 *
 *   type:  position i is S if suffix i < suffix i+1 (s_i < s_{i+1}, or equal and i+1 is S), else L;
 *          i is LMS (leftmost S) if i is S and i-1 is L.
 *   1. put the LMS positions at the ends of their character buckets, induce the L suffixes
 *      (left to right) and the S suffixes (right to left): the LMS substrings come out sorted;
 *   2. name each LMS substring by its rank (equal substrings, equal names) and, if names repeat,
 *      sort the string of names recursively (it is at most half as long);
 *   3. induce once more from the LMS suffixes in their true order: the whole array is sorted.
 *
 * Memory: the array itself (4 bytes per character) plus about 9 bytes per character of scratch
 * at the top level (types, LMS map, LMS lists), half of that for the recursion.
 *
 * Lookup: binary search for the range of suffixes that start with a query, O(|q| log n).
 */
import type { IdArray } from './vocab.js';

type Ints = ArrayLike<number>;

/** The suffix array of s (values 0..upper): sa[r] = start of the r-th smallest suffix. */
export function suffixArray(s: Ints, upper: number): Int32Array {
  const n = s.length;
  if (n === 0) return new Int32Array(0);
  if (n === 1) return Int32Array.of(0);
  if (n === 2) return s[0] < s[1] ? Int32Array.of(0, 1) : Int32Array.of(1, 0);
  if (n < 10) return naive(s);
  const sa = new Int32Array(n);
  const ls = new Uint8Array(n); // 1 = S type
  for (let i = n - 2; i >= 0; i--) ls[i] = s[i] === s[i + 1] ? ls[i + 1] : s[i] < s[i + 1] ? 1 : 0;
  // bucket starts: sumL[c] = first slot of the L suffixes of c, sumS[c] = first slot of its S suffixes
  const sumL = new Int32Array(upper + 2);
  const sumS = new Int32Array(upper + 2);
  for (let i = 0; i < n; i++) {
    if (!ls[i]) sumS[s[i]]++;
    else sumL[s[i] + 1]++;
  }
  for (let c = 0; c <= upper; c++) {
    sumS[c] += sumL[c];
    if (c < upper) sumL[c + 1] += sumS[c];
  }
  const buf = new Int32Array(upper + 2);
  const induce = (lms: Int32Array): void => {
    sa.fill(-1);
    buf.set(sumS);
    for (let k = 0; k < lms.length; k++) {
      const d = lms[k];
      if (d !== n) sa[buf[s[d]]++] = d;
    }
    buf.set(sumL);
    sa[buf[s[n - 1]]++] = n - 1;
    for (let i = 0; i < n; i++) {
      const v = sa[i];
      if (v >= 1 && !ls[v - 1]) sa[buf[s[v - 1]]++] = v - 1;
    }
    buf.set(sumL);
    for (let i = n - 1; i >= 0; i--) {
      const v = sa[i];
      if (v >= 1 && ls[v - 1]) sa[--buf[s[v - 1] + 1]] = v - 1;
    }
  };
  const lmsMap = new Int32Array(n + 1).fill(-1);
  let m = 0;
  for (let i = 1; i < n; i++) if (!ls[i - 1] && ls[i]) lmsMap[i] = m++;
  const lms = new Int32Array(m);
  for (let i = 1, k = 0; i < n; i++) if (!ls[i - 1] && ls[i]) lms[k++] = i;
  induce(lms);
  if (m > 0) {
    const sorted = new Int32Array(m);
    for (let i = 0, k = 0; i < n; i++) if (lmsMap[sa[i]] !== -1) sorted[k++] = sa[i];
    const rec = new Int32Array(m);
    let recUpper = 0;
    rec[lmsMap[sorted[0]]] = 0;
    for (let i = 1; i < m; i++) {
      let l = sorted[i - 1];
      let r = sorted[i];
      const endL = lmsMap[l] + 1 < m ? lms[lmsMap[l] + 1] : n;
      const endR = lmsMap[r] + 1 < m ? lms[lmsMap[r] + 1] : n;
      let same = true;
      if (endL - l !== endR - r) same = false;
      else {
        while (l < endL && s[l] === s[r]) {
          l++;
          r++;
        }
        if (l === n || s[l] !== s[r]) same = false;
      }
      if (!same) recUpper++;
      rec[lmsMap[sorted[i]]] = recUpper;
    }
    const recSa = suffixArray(rec, recUpper);
    for (let i = 0; i < m; i++) sorted[i] = lms[recSa[i]];
    induce(sorted);
  }
  return sa;
}

/** By comparison, for tiny inputs (and as the tests' reference). */
export function naive(s: Ints): Int32Array {
  const idx = Array.from({ length: s.length }, (_, i) => i);
  idx.sort((a, b) => {
    if (a === b) return 0;
    while (a < s.length && b < s.length) {
      if (s[a] !== s[b]) return s[a] - s[b];
      a++;
      b++;
    }
    return a === s.length ? -1 : 1; // the shorter (a proper prefix) first
  });
  return Int32Array.from(idx);
}

/** A text's suffix array, for "does this substring occur, and how often". */
export class SubstringIndex {
  readonly sa: Int32Array;

  constructor(readonly text: IdArray, vocabSize: number) {
    this.sa = suffixArray(text, Math.max(0, vocabSize - 1));
  }

  /** Compare suffix `p` with q[from, from + len): < 0, 0 (it starts with it), > 0. */
  private cmp(p: number, q: Ints, from: number, len: number): number {
    const t = this.text;
    for (let k = 0; k < len; k++) {
      if (p + k >= t.length) return -1;
      const d = t[p + k] - q[from + k];
      if (d !== 0) return d;
    }
    return 0;
  }

  /** Occurrences of q[from, from + len) in the text. */
  count(q: Ints, from = 0, len = q.length - from): number {
    const { sa } = this;
    let lo = 0;
    let hi = sa.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmp(sa[mid], q, from, len) < 0) lo = mid + 1;
      else hi = mid;
    }
    const first = lo;
    hi = sa.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmp(sa[mid], q, from, len) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo - first;
  }

  contains(q: Ints, from = 0, len = q.length - from): boolean {
    return this.count(q, from, len) > 0;
  }
}

/**
 * Without an index: which of `patterns` occur in `text`, in one pass over the text per distinct
 * hashed length (Rabin–Karp). Each pattern's first min(|p|, MAX_HASHED) ids are hashed,
 *   h(x_1..x_ℓ) = Σ x_k · 31^{ℓ-k}  mod 2^32,
 * rolled along the text; a hash that a 2^24-bit filter and then a map recognise is checked
 * character by character against the whole pattern. For a few thousand patterns over a large
 * text (novelty of some samples against 100 MB) this beats building a suffix array: a few
 * sequential passes, and memory for the patterns only.
 */
export const MAX_HASHED = 64;

export function occurIn(text: IdArray, patterns: ArrayLike<number>[]): boolean[] {
  const found = patterns.map((p) => p.length === 0);
  const byLen = new Map<number, number[]>();
  patterns.forEach((p, i) => {
    const l = Math.min(p.length, MAX_HASHED);
    if (l > 0 && p.length <= text.length) (byLen.get(l) ?? byLen.set(l, []).get(l)!).push(i);
  });
  const FILTER_BITS = 24;
  for (const [l, which] of byLen) {
    const filter = new Uint8Array(1 << (FILTER_BITS - 3));
    const map = new Map<number, number[]>();
    for (const i of which) {
      const h = hashOf(patterns[i], l);
      (map.get(h) ?? map.set(h, []).get(h)!).push(i);
      filter[(h >>> (32 - FILTER_BITS)) >>> 3] |= 1 << ((h >>> (32 - FILTER_BITS)) & 7);
    }
    let pow = 1; // 31^(l-1)
    for (let k = 1; k < l; k++) pow = Math.imul(pow, 31);
    let h = 0;
    for (let i = 0; i < text.length; i++) {
      if (i >= l) h = (h - Math.imul(text[i - l], pow)) | 0;
      h = (Math.imul(h, 31) + text[i]) | 0;
      if (i < l - 1) continue;
      const u = h >>> 0;
      const f = u >>> (32 - FILTER_BITS);
      if (!(filter[f >>> 3] & (1 << (f & 7)))) continue;
      const hits = map.get(u);
      if (!hits) continue;
      const start = i - l + 1;
      for (const j of hits) {
        if (found[j]) continue;
        const p = patterns[j];
        if (start + p.length > text.length) continue;
        let k = 0;
        while (k < p.length && text[start + k] === p[k]) k++;
        if (k === p.length) found[j] = true;
      }
    }
  }
  return found;
}

function hashOf(p: ArrayLike<number>, l: number): number {
  let h = 0;
  for (let k = 0; k < l; k++) h = (Math.imul(h, 31) + p[k]) | 0;
  return h >>> 0;
}
