#!/usr/bin/env node
/**
 * `npm run bigcorpus`: peak memory of `charrnn train` on a 1 GiB corpus.
 *
 * Writes a generated 1 GiB UTF-8 text (words, accents, dashes, emoji; its 1 MiB-ish blocks do
 * not line up with the reader's 1 MiB chunks, so multi-byte characters are cut at chunk
 * boundaries) to the system temp dir, trains a few iterations on it under `/usr/bin/time -v`,
 * does the same on a 1 MiB slice of it, and prints both peak RSS figures and the difference per
 * character. The corpus is streamed in two passes and held as one id per character (Uint8 for
 * ≤ 256 symbols), so the expected difference is about 1 byte per character.
 *
 * Everything it writes is deleted at the end. BIGCORPUS_MB changes the size (default 1024).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'charrnn.js');
const MB = Number(process.env.BIGCORPUS_MB ?? 1024);
const TIME = '/usr/bin/time';

const words = ['the', 'whale', 'sea', 'ship', 'captain', 'café', 'naïve', 'Ahab', 'harpoon', 'deep', 'and', 'of', 'a', '—', 'to', 'white', '😀', 'storm'];

/** A deterministic block of text of about `n` bytes. */
function block(n) {
  let x = 12345;
  const out = [];
  let len = 0;
  while (len < n) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = words[(x >>> 16) % words.length] + ((x & 15) === 0 ? '.\n' : ' ');
    out.push(w);
    len += Buffer.byteLength(w);
  }
  return Buffer.from(out.join(''));
}

function writeCorpus(path, bytes) {
  const b = block(1_000_003); // not a multiple of the reader's chunk
  const fd = openSync(path, 'w');
  let left = bytes;
  while (left > 0) {
    const piece = left >= b.length ? b : b.subarray(0, cutAtChar(b, left));
    if (piece.length === 0) break;
    writeSync(fd, piece);
    left -= piece.length;
  }
  closeSync(fd);
}

/** Largest prefix of at most `n` bytes that ends on a character boundary. */
function cutAtChar(b, n) {
  let i = Math.min(n, b.length);
  while (i > 0 && i < b.length && (b[i] & 0xc0) === 0x80) i--;
  return i;
}

/** Train on `data` under /usr/bin/time -v; returns peak RSS in bytes and the wall time. */
function measure(data, out) {
  const args = [
    'train', '--data', data, '--out', out, '--force', '--quiet',
    '--model', 'lstm', '--layers', '1', '--hidden', '64', '--batch', '32', '--seq-len', '64',
    '--max-iters', '10', '--eval-every', '10', '--sample-every', '0', '--val-frac', '0.00002', '--test-frac', '0',
  ];
  const t0 = performance.now();
  const r = spawnSync(TIME, ['-v', process.execPath, BIN, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`charrnn train failed (exit ${r.status}): ${r.stderr.split('\n').slice(0, 3).join(' | ')}`);
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  if (!m) throw new Error('no "Maximum resident set size" in /usr/bin/time -v output');
  return { rss: Number(m[1]) * 1024, seconds };
}

if (!existsSync(TIME)) {
  console.error(`bigcorpus: needs GNU time at ${TIME} (Debian: apt-get install time)`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'charrnn-bigcorpus-'));
const mib = (n) => `${(n / 2 ** 20).toFixed(0)} MiB`;
try {
  const big = join(dir, 'big.txt');
  const small = join(dir, 'small.txt');
  let t0 = performance.now();
  writeCorpus(big, MB * 2 ** 20);
  console.log(`wrote ${big}: ${mib(statSync(big).size)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  writeCorpus(small, 2 ** 20);
  const base = measure(small, join(dir, 'run-small'));
  const res = measure(big, join(dir, 'run-big'));
  // characters: the block's characters per byte times the size
  const sample = block(1_000_003).toString('utf8');
  const chars = Math.round(statSync(big).size * ([...sample].length / Buffer.byteLength(sample)));
  console.log(`1 MiB corpus: peak RSS ${mib(base.rss)} (${base.seconds.toFixed(1)} s)`);
  console.log(`${mib(statSync(big).size)} corpus (~${(chars / 1e6).toFixed(0)} M characters): peak RSS ${mib(res.rss)} (${res.seconds.toFixed(1)} s for reading both passes + 10 iterations)`);
  console.log(`difference: ${((res.rss - base.rss) / chars).toFixed(2)} bytes per character (the ids: 1 byte each for ≤ 256 symbols)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
