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
