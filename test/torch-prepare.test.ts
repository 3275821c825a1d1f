/**
 * Preparing a torch run without holding the corpus (cli/torch-data.ts): the streamed ids.bin,
 * torch.json and first checkpoint are byte for byte those of the corpus held whole (our Trainer's
 * start), however the chunks cut the text; preparing's peak memory does not grow with the corpus;
 * our engine refuses, before reading it, a corpus whose ids it cannot hold. No torch needed.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { totalmem, tmpdir } from 'node:os';
import { constants as bufferConstants } from 'node:buffer';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { JsBackend } from '../src/backend/js.js';
import { resolveConfig, type TrainConfig } from '../src/config.js';
import { splitCorpus } from '../src/data.js';
import { idBytes, torchRunSpec } from '../src/torch-run.js';
import { Trainer } from '../src/train.js';
import { corpusSource, loadCorpus, scanCorpus } from '../cli/corpus.js';
import { streamIds } from '../cli/torch-data.js';
import { runCli } from './run-cli.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const tmp = (): string => mkdtempSync(join(tmpdir(), 'charrnn-torch-prepare-'));

/** Text with 1-, 2-, 3- and 4-byte characters (é, —, 中, 😀) in a pseudo-random order, n words. */
function mixed(n: number, seed: number): string {
  const words = ['the', 'café', 'naïve', '—', '中文', '😀', 'sea', 'and', 'Ωmega', 'x'];
  let x = seed;
  let s = '';
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s += words[(x >>> 16) % words.length] + ((x & 15) === 0 ? '.\n' : ' ');
  }
  return s;
}

const CONFIG: Partial<TrainConfig> = { hidden: 8, layers: 2, embed: 4, batch: 3, seqLen: 5, seed: 4, valFrac: 0.1, testFrac: 0.05 };

test('streamed ids.bin, torch.json and first checkpoint equal those of the corpus held whole, for any chunk size (multi-byte characters cut between chunks, several files, a BOM, --binary)', async () => {
  const dir = tmp();
  try {
    const a = join(dir, 'a.txt');
    const b = join(dir, 'b.txt');
    writeFileSync(a, '\ufeff' + mixed(300, 1)); // a byte-order mark at the start is not text
    writeFileSync(b, mixed(200, 2));
    const config = resolveConfig(CONFIG);
    for (const binary of [false, true]) {
      const { corpus } = await loadCorpus([a, b], { binary });
      const whole = idBytes(corpus.ids);
      const split = splitCorpus(corpus.ids, config.valFrac, config.testFrac);
      for (const chunk of [1, 2, 3, 5, 7, 64, 1 << 20]) {
        const src = await corpusSource([a, b], { binary });
        const scan = await scanCorpus(src, chunk);
        assert.deepEqual(scan.vocab.symbols, corpus.vocab.symbols, `chunk ${chunk}`);
        assert.equal(scan.count, corpus.ids.length);
        const path = join(dir, `ids-${binary}-${chunk}.bin`);
        const head = await streamIds(src, scan, path, chunk);
        assert.deepEqual(readFileSync(path), Buffer.from(whole), `binary ${binary}, chunk ${chunk}: ids.bin`);
        assert.deepEqual([...head], [...corpus.ids]); // a short corpus: its head is all of it
        const spec = torchRunSpec(config, scan.vocab, scan.count);
        assert.deepEqual(spec.split, { train: [0, split.train.length], val: [split.train.length, split.train.length + split.val.length], test: [corpus.ids.length - split.test.length, corpus.ids.length] });
        assert.equal(spec.ids.dtype, corpus.ids instanceof Uint8Array ? 'uint8' : 'uint16');
        rmSync(path);
      }
      // the CLI's prepared directory: the same ids, our Trainer's first checkpoint
      const out = join(dir, `run-${binary}`);
      const size = ['--hidden', '8', '--layers', '2', '--embed', '4', '--batch', '3', '--seq-len', '5', '--seed', '4', '--val-frac', '0.1', '--test-frac', '0.05'];
      const r = await runCli(['train', '--engine', 'torch', '--prepare-only', '--quiet', '--data', a, b, '--out', out, ...size, ...(binary ? ['--binary'] : [])]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(readFileSync(join(out, 'ids.bin')), Buffer.from(whole));
      const spec = JSON.parse(readFileSync(join(out, 'torch.json'), 'utf8')) as { config: TrainConfig; ids: { length: number }; split: unknown };
      const ours = new Trainer({ config: spec.config, corpus, backend: new JsBackend() }); // the CLI's config (its defaults)
      assert.deepEqual(readFileSync(join(out, 'latest.safetensors')), Buffer.from(ours.checkpoint()));
      assert.equal(spec.ids.length, corpus.ids.length);
      assert.deepEqual(spec.split, torchRunSpec(spec.config, corpus.vocab, corpus.ids.length).split);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corpus too short for the shape fails before the ids are written, in one line, and leaves no temp file', async () => {
  const dir = tmp();
  try {
    writeFileSync(join(dir, 'c.txt'), 'tiny text');
    const out = join(dir, 'run');
    const r = await runCli(['train', '--engine', 'torch', '--prepare-only', '--quiet', '--data', join(dir, 'c.txt'), '--out', out, '--batch', '8', '--seq-len', '8']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /training split has \d+ characters/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(out)); // nothing written: the directory was never made
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** `charrnn train --engine torch --prepare-only` on `data` in a child process: its peak RSS (bytes). */
function preparePeak(data: string, out: string): number {
  const main = pathToFileURL(join(HERE, '..', 'cli', 'main.js')).href;
  const args = ['train', '--engine', 'torch', '--prepare-only', '--quiet', '--data', data, '--out', out, '--hidden', '16', '--layers', '1', '--dropout', '0', '--batch', '8', '--seq-len', '16']; // a shape given: no speed gauge
  const code = `const { main } = await import(${JSON.stringify(main)});
process.exitCode = await main({ ...process, argv: ['node', 'charrnn', ...${JSON.stringify(args)}], env: process.env, stdout: process.stdout, stderr: process.stderr });
process.stdout.write('maxRSS ' + process.resourceUsage().maxRSS + '\\n');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const m = /maxRSS (\d+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return Number(m[1]) * 1024; // resourceUsage's maxRSS is in kilobytes
}

/** A generated corpus of `mb` MB (mixed 1–4 byte characters), written a block at a time. */
function writeMixed(path: string, mb: number): void {
  const block = Buffer.from(mixed(200_000, 9)); // ~1.2 MB
  const fd = openSync(path, 'w');
  for (let left = mb * 1e6; left > 0; left -= block.length) writeSync(fd, block);
  closeSync(fd);
}

test('preparing a torch run: peak memory does not grow with the corpus (20 MB vs 80 MB)', async (t) => {
  const dir = tmp();
  try {
    const small = join(dir, 'small.txt');
    const big = join(dir, 'big.txt');
    writeMixed(small, 20);
    writeMixed(big, 80);
    const a = preparePeak(small, join(dir, 'run-small'));
    const b = preparePeak(big, join(dir, 'run-big'));
    const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
    t.diagnostic(`peak RSS preparing 20 MB: ${mib(a)}, 80 MB: ${mib(b)}`);
    // held whole, the 60 MB more text would be ~55 M more ids (1 byte each): 50+ MiB more
    assert.ok(b - a < 20 * 2 ** 20, `peak RSS grew by ${mib(b - a)} from 20 MB to 80 MB of text`);
    assert.ok(readFileSync(join(dir, 'run-big', 'ids.bin')).length > 50e6);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('our engine refuses, before reading it, a corpus whose ids it cannot hold: one line naming --engine torch', async () => {
  const dir = tmp();
  try {
    // a sparse file bigger than the limit: no disk used, and reading it would find NUL bytes, not this error
    const path = join(dir, 'huge.txt');
    writeFileSync(path, '');
    truncateSync(path, Math.min(bufferConstants.MAX_LENGTH, Math.floor(totalmem() / 2)) + 1);
    const r = await runCli(['train', '--data', path, '--out', join(dir, 'run'), '--quiet', '--max-iters', '1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /which our engine keeps in memory;.*--engine torch/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
