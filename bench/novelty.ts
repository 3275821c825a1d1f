/**
 * `npm run bench:novelty -- FILE...`: how long novelty's index (a suffix array by SA-IS,
 * src/suffix-array.ts) takes to build over each file's characters, and how long its n-gram
 * queries take (every 5/10/20/50-gram of a 2,000-character stretch of the file, by binary search).
 *
 *   node dist/bench/novelty.js /work/shared/data/tinyshakespeare.txt /tmp/big.txt
 *
 * Make a 100 MB corpus for it in a temporary directory, e.g. tiny Shakespeare concatenated 95
 * times (not committed). The machine is shared and noisy: read one run's numbers as a whole.
 */
import { readFileSync } from 'node:fs';
import { buildCorpus } from '../src/data.js';
import { NGRAM_SIZES } from '../src/novelty.js';
import { SubstringIndex } from '../src/suffix-array.js';

for (const path of process.argv.slice(2)) {
  const bytes = readFileSync(path);
  const t0 = performance.now();
  const { vocab, ids } = buildCorpus([{ name: path, bytes }]);
  const t1 = performance.now();
  const index = new SubstringIndex(ids, vocab.size);
  const t2 = performance.now();
  const probe = Array.from(ids.subarray(Math.floor(ids.length / 3), Math.floor(ids.length / 3) + 2000));
  let queries = 0;
  let found = 0;
  for (const n of NGRAM_SIZES) {
    for (let i = 0; i + n <= probe.length; i++, queries++) if (index.contains(probe, i, n)) found++;
  }
  const t3 = performance.now();
  const mb = (bytes.length / 1e6).toFixed(1);
  console.log(`${path}: ${mb} MB, ${ids.length} chars, ${vocab.size} symbols; decode ${((t1 - t0) / 1000).toFixed(2)} s, suffix array ${((t2 - t1) / 1000).toFixed(2)} s (${(ids.length / 1e6 / ((t2 - t1) / 1000)).toFixed(1)} M chars/s); ${queries} n-gram queries in ${(t3 - t2).toFixed(0)} ms (${found} found), rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
}
