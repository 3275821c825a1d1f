#!/usr/bin/env node
/**
 * `npm run bigcorpus`: peak memory of `charrnn train` on a big generated corpus.
 *
 * Writes a generated UTF-8 text (words, accents, dashes, emoji; its 1 MiB-ish blocks do not line
 * up with the reader's 1 MiB chunks, so multi-byte characters are cut at chunk boundaries) to the
 * system temp dir, and
 *
 *   (our engine, the default; 1 GiB) trains a few iterations on it under `/usr/bin/time -v`,
 *   does the same on a 1 MiB slice of it, and prints both peak RSS figures and the difference per
 *   character. The corpus is streamed in two passes and held as one id per character (Uint8 for
 *   ≤ 256 symbols), so the expected difference is about 1 byte per character.
 *
 *   (--engine torch; 6 GiB) prepares a torch run on it (`--prepare-only`: both passes, ids.bin
 *   streamed to disk) and on a 1 MiB slice, printing the time and the peak RSS of each (the
 *   process's own getrusage maxRSS), then launches the prepared run with the printed command for
 *   a few iterations (python3 with torch, else /usr/bin/python3; CHARRNN_TORCH_PYTHON to choose)
 *   and prints the time to its first step and its peak RSS (ids.bin is memory-mapped: a rank
 *   reads its windows, not the file). The preparing peak should not grow with the corpus.
 *
 * Everything it writes is deleted at the end. BIGCORPUS_MB changes the size.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'charrnn.js');
const TORCH = process.argv.includes('--engine') && process.argv[process.argv.indexOf('--engine') + 1] === 'torch';
const MB = Number(process.env.BIGCORPUS_MB ?? (TORCH ? 6144 : 1024));
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

/** `charrnn train --engine torch --prepare-only` on `data` in a child Node: its seconds, peak RSS (its own getrusage) and the launch command. */
function prepareTorch(data, out, chars) {
  const main = pathToFileURL(join(ROOT, 'dist', 'cli', 'main.js')).href;
  const args = [
    'train', '--engine', 'torch', '--prepare-only', '--json', '--quiet', '--data', data, '--out', out, '--force',
    '--model', 'lstm', '--layers', '1', '--hidden', '64', '--dropout', '0', '--batch', '32', '--seq-len', '64', // a shape given: no speed gauge
    '--max-iters', '5', '--eval-every', '5', '--sample-every', '0', '--val-frac', String(20_000 / chars), '--test-frac', '0', // a validation split of ~20,000 characters
  ];
  const code = `const { main } = await import(${JSON.stringify(main)});
process.exitCode = await main({ ...process, argv: ['node', 'charrnn', ...${JSON.stringify(args)}], env: process.env, stdout: process.stdout, stderr: process.stderr });
process.stdout.write(JSON.stringify({ maxRSS: process.resourceUsage().maxRSS }) + '\\n');`;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`charrnn train --prepare-only failed (exit ${r.status}): ${r.stderr.split('\n').slice(0, 3).join(' | ')}`);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  return { seconds, rss: lines.find((l) => 'maxRSS' in l).maxRSS * 1024, command: lines.find((l) => 'command' in l).command };
}

/** Run the prepared directory's command to its end (5 iterations): seconds to its first read of the steps, total, peak RSS (polled from /proc). */
async function trainTorch(command, python) {
  const { spawn } = await import('node:child_process');
  const child = spawn(python, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const t0 = performance.now();
  let first = null;
  let peak = 0;
  let iters = 0;
  let err = '';
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch { /* gone */ }
  }, 100);
  let buf = '';
  child.stdout.on('data', (b) => {
    buf += b;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let ev;
      try {
        ev = JSON.parse(line);
      } catch {
        continue;
      }
      if (ev.type === 'step') {
        iters = ev.iter; // the engine reads (and says) its steps at evaluations
        first ??= (performance.now() - t0) / 1000;
      }
    }
  });
  child.stderr.on('data', (b) => (err = (err + b).slice(-2000)));
  const code = await new Promise((res) => child.on('close', res));
  clearInterval(poll);
  if (code !== 0) throw new Error(`the torch run failed (exit ${code}): ${err.trim().split('\n').pop()}`);
  return { first, total: (performance.now() - t0) / 1000, peak, iters };
}

function findPython() {
  for (const py of [process.env.CHARRNN_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean)) {
    if (spawnSync(py, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0) return py;
  }
  return null;
}

if (!TORCH && !existsSync(TIME)) {
  console.error(`bigcorpus: needs GNU time at ${TIME} (Debian: apt-get install time)`);
  process.exit(1);
}
const python = TORCH ? findPython() : null;
if (TORCH && !python) {
  console.error('bigcorpus --engine torch: needs python with torch and numpy (python3, /usr/bin/python3, or CHARRNN_TORCH_PYTHON)');
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
  // characters: the block's characters per byte times the size
  const sample = block(1_000_003).toString('utf8');
  const chars = Math.round(statSync(big).size * ([...sample].length / Buffer.byteLength(sample)));
  if (TORCH) {
    const base = prepareTorch(small, join(dir, 'run-small'), chars * 2 ** 20 / statSync(big).size);
    const res = prepareTorch(big, join(dir, 'run-big'), chars);
    console.log(`1 MiB corpus: prepared in ${base.seconds.toFixed(1)} s, peak RSS ${mib(base.rss)}`);
    console.log(`${mib(statSync(big).size)} corpus (~${(chars / 1e6).toFixed(0)} M characters): prepared in ${res.seconds.toFixed(1)} s (both passes, ids.bin ${mib(statSync(join(dir, 'run-big', 'ids.bin')).size)} written), peak RSS ${mib(res.rss)}`);
    console.log(`difference: ${mib(res.rss - base.rss)} (${((res.rss - base.rss) / chars).toFixed(4)} bytes per character)`);
    const tr = await trainTorch(res.command, python);
    console.log(`training (${python}): ${tr.iters} iterations read after ${tr.first?.toFixed(1)} s (start-up included), done in ${tr.total.toFixed(1)} s, peak RSS ${mib(tr.peak)}`);
  } else {
    const base = measure(small, join(dir, 'run-small'));
    const res = measure(big, join(dir, 'run-big'));
    console.log(`1 MiB corpus: peak RSS ${mib(base.rss)} (${base.seconds.toFixed(1)} s)`);
    console.log(`${mib(statSync(big).size)} corpus (~${(chars / 1e6).toFixed(0)} M characters): peak RSS ${mib(res.rss)} (${res.seconds.toFixed(1)} s for reading both passes + 10 iterations)`);
    console.log(`difference: ${((res.rss - base.rss) / chars).toFixed(2)} bytes per character (the ids: 1 byte each for ≤ 256 symbols)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
