/**
 * `npm run bench:novelty -- FILE...`: the two ways novelty answers (src/novelty.ts), timed on
 * each file as a training split:
 *   - building the suffix array (SA-IS, src/suffix-array.ts) and then the n-gram queries by
 *     binary search (files up to 30 MB, or any with --sa: 100 MB needs about 1.6 GB);
 *   - NoveltyIndex.measure by scanning (no index): 10 samples of 500 characters, all their
 *     5/10/20/50-grams and the whole samples.
 *
 *   node dist/bench/novelty.js /work/shared/data/tinyshakespeare.txt /tmp/big.txt
 *
 * Make a 100 MB corpus for it in a temporary directory, e.g. tiny Shakespeare concatenated 95
 * times (not committed). The machine is shared and noisy: read one run's numbers as a whole.
 */
import { readFileSync } from 'node:fs';
import { buildCorpus } from '../src/data.js';
import { NGRAM_SIZES, NoveltyIndex } from '../src/novelty.js';
import { Rng } from '../src/rng.js';
import { SubstringIndex } from '../src/suffix-array.js';

const argv = process.argv.slice(2);
const forceSa = argv.includes('--sa');
const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
for (const path of argv.filter((a) => a !== '--sa')) {
  const bytes = readFileSync(path);
  const t0 = performance.now();
  const { vocab, ids } = buildCorpus([{ name: path, bytes }]);
  const t1 = performance.now();
  // samples: stretches of the text with a character changed every 40, so some n-grams are new
  const rng = new Rng(1);
  const samples: string[] = [];
  for (let k = 0; k < 10; k++) {
    const at = Math.floor(rng.next() * (ids.length - 500));
    const part = Array.from(ids.subarray(at, at + 500));
    for (let i = 20; i < part.length; i += 40) part[i] = Math.floor(rng.next() * vocab.size);
    samples.push(vocab.decode(part));
  }
  let line = `${path}: ${(bytes.length / 1e6).toFixed(1)} MB, ${ids.length} chars; decode ${s(t1 - t0)}`;
  if (forceSa || ids.length <= 30e6) {
    const a = performance.now();
    const index = new SubstringIndex(ids, vocab.size);
    const b = performance.now();
    let queries = 0;
    for (const text of samples) {
      const q = [...text].map((ch) => vocab.id(ch.codePointAt(0)!));
      for (const n of NGRAM_SIZES) for (let i = 0; i + n <= q.length; i++, queries++) index.contains(q, i, n);
    }
    line += `; suffix array ${s(b - a)}, then ${queries} n-gram queries in ${s(performance.now() - b)}`;
  }
  const split = { train: ids, val: ids.subarray(0, 0), test: ids.subarray(0, 0) };
  const c = performance.now();
  const r = new NoveltyIndex(vocab, split, false, { indexLimit: 0 }).measure(samples);
  line += `; scan (no index): ${s(performance.now() - c)} for 10 samples × 500 chars (novel 20-grams ${(r.ngrams[2].share! * 100).toFixed(0)}%)`;
  console.log(`${line}; rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
}
