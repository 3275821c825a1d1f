/**
 * Hostile and unusual training inputs through `charrnn train` (in-process main()): what trains,
 * what is refused with one line, and that nothing hangs or crashes. Tiny models, small texts
 * written into a fresh temp dir. (docs/reliability.md lists these cases.)
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeCheckpoint, type CheckpointData } from '../src/checkpoint.js';
import { buildCorpus } from '../src/data.js';
import { runCli, type CliRun } from './run-cli.js';

const TINY = ['--hidden', '8', '--layers', '1', '--embed', '0', '--batch', '2', '--seq-len', '8', '--max-iters', '4', '--eval-every', '2', '--sample-every', '0', '--backend', 'js', '--quiet'];

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-inputs-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** Train on `data` into a fresh directory named after the case; returns the run and its checkpoint (if any). */
async function train(name: string, data: string[], ...extra: string[]): Promise<CliRun & { ckpt: CheckpointData | null; out: string }> {
  const out = join(dir, `run-${name}`);
  const r = await runCli(['train', '--data', ...data, '--out', out, ...TINY, ...extra]);
  let ckpt: CheckpointData | null = null;
  try {
    ckpt = decodeCheckpoint(readFileSync(join(out, 'latest.safetensors')));
  } catch {
    ckpt = null;
  }
  return { ...r, ckpt, out };
}

function assertTrains(r: CliRun & { ckpt: CheckpointData | null }): CheckpointData {
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.ckpt, 'a checkpoint was written');
  assert.equal(r.ckpt.train?.state.iter, 4);
  return r.ckpt;
}

/** Exit code `code` with exactly one `charrnn: ` line on stderr, no stack trace. */
function assertRefused(r: CliRun, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code (stderr ${JSON.stringify(r.stderr)})`);
  assert.match(r.stderr, /^charrnn: [^\n]+\n$/);
  assert.doesNotMatch(r.stderr, /internal error|^\s+at /m);
  assert.match(r.stderr, pattern);
}

const words = (n: number): string => Array.from({ length: n }, (_, i) => ['the', 'cat', 'sat', 'on', 'a', 'mat'][(i * 7) % 6]).join(' ');

test('whitespace-only text trains (its symbols are space, tab and newline)', async () => {
  const ckpt = assertTrains(await train('ws', [file('ws.txt', ' \t\n  \n'.repeat(60))]));
  assert.deepEqual(ckpt.vocab.symbols, [9, 10, 32]);
});

test('one distinct character trains (a vocabulary of one: loss 0) and samples it', async () => {
  const ckpt = assertTrains(await train('one', [file('one.txt', 'a'.repeat(400))]));
  assert.deepEqual(ckpt.vocab.symbols, [0x61]);
  assert.equal(ckpt.train?.state.lastValLoss, 0);
  const s = await runCli(['sample', join(dir, 'run-one', 'latest.safetensors'), '--length', '5', '--seed', '1', '--backend', 'js']);
  assert.equal(s.stdout, 'aaaaa\n');
});

test('a binary file is refused (suggesting --binary); with --binary it trains on bytes and resumes in byte mode', async () => {
  const bytes = Uint8Array.from({ length: 600 }, (_, i) => (i * 37) % 256); // NULs and invalid UTF-8
  const bin = file('blob.bin', bytes);
  assertRefused(await train('bin-refused', [bin]), 1, /blob\.bin contains NUL bytes and looks like a binary file;.*--binary/);
  const noNul = file('latin1.bin', Uint8Array.from({ length: 600 }, (_, i) => 1 + ((i * 37) % 255)));
  assertRefused(await train('latin1-refused', [noNul]), 1, /not valid UTF-8 \(bad byte sequence at byte offset \d+\).*--binary/);

  const r = await train('bin', [bin], '--binary');
  const ckpt = assertTrains(r);
  assert.deepEqual(ckpt.vocab.symbols, [...new Set(bytes)].sort((a, b) => a - b), 'the vocabulary is the byte values');
  assert.equal(JSON.parse(readFileSync(join(r.out, 'run.json'), 'utf8')).binary, true);
  const res = await runCli(['train', '--resume', r.out, '--max-iters', '6', '--quiet']);
  assert.equal(res.code, 0, res.stderr); // byte mode again, from run.json: same vocabulary
  assert.equal(decodeCheckpoint(readFileSync(join(r.out, 'latest.safetensors'))).train?.state.iter, 6);
});

test('a UTF-8 byte-order mark is dropped; CRLF stays two characters', async () => {
  const ckpt = assertTrains(await train('bom-crlf', [file('bom.txt', '\ufeff' + 'one two\r\nthree\r\n'.repeat(40))]));
  assert.ok(!ckpt.vocab.has(0xfeff), 'no BOM in the vocabulary');
  assert.ok(ckpt.vocab.has(13) && ckpt.vocab.has(10), '\\r and \\n are both symbols');
  const { ids, vocab } = buildCorpus([{ name: 'crlf', bytes: new TextEncoder().encode('a\r\nb') }]);
  assert.equal(ids.length, 4);
  assert.equal(vocab.decode(ids), 'a\r\nb');
});

test('astral-plane characters are one symbol; a combining mark is its own symbol', async () => {
  const text = '😀 𝔘𝔫𝔦 e\u0301 é 👍🏽 '.repeat(30);
  const ckpt = assertTrains(await train('astral', [file('astral.txt', text)]));
  const expected = [...new Set([...text].map((c) => c.codePointAt(0)!))].sort((a, b) => a - b);
  assert.deepEqual(ckpt.vocab.symbols, expected);
  for (const cp of [0x1f600, 0x1d518, 0x0301, 0x1f3fd, 0xe9]) assert.ok(ckpt.vocab.has(cp), `U+${cp.toString(16)}`);
});

test('a directory with a dangling symbolic link is refused naming it; pipes are skipped without hanging', async () => {
  const d = join(dir, 'tree');
  mkdirSync(join(d, 'sub'), { recursive: true });
  writeFileSync(join(d, 'a.txt'), words(200));
  writeFileSync(join(d, 'sub', 'b.txt'), words(200));
  symlinkSync(join(d, 'sub'), join(d, 'sub', 'loop')); // a link back up the tree is walked once
  let fifo: string | null = join(d, 'pipe');
  try {
    execFileSync('mkfifo', [fifo]);
  } catch {
    fifo = null; // no mkfifo here: the rest still runs
  }
  const ok = await train('tree', [d]);
  assertTrains(ok);
  if (fifo) assertRefused(await train('fifo', [fifo]), 1, /pipe\b.*is not a regular file/);
  symlinkSync(join(d, 'gone.txt'), join(d, 'dangling.txt'));
  assertRefused(await train('dangling', [d]), 1, /cannot read .*dangling\.txt: no such file or directory \(a symbolic link to .*gone\.txt\)/);
});

test('more than 65,536 distinct symbols: 32-bit ids, and it trains', async () => {
  let text = '';
  let n = 0;
  for (let cp = 0x20; n < 70_000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    text += String.fromCodePoint(cp);
    n++;
  }
  text += text.slice(0, 2000);
  const corpus = buildCorpus([{ name: 'many', bytes: new TextEncoder().encode(text) }]);
  assert.ok(corpus.ids instanceof Uint32Array);
  assert.equal(corpus.vocab.size, 70_000);
  const r = await train('many', [file('many.txt', text)], '--model', 'rnn', '--hidden', '2', '--val-frac', '0.005', '--test-frac', '0');
  const ckpt = assertTrains(r);
  assert.equal(ckpt.vocab.size, 70_000);
});

test('a corpus shorter than one window says the minimum', async () => {
  assertRefused(await train('short', [file('short.txt', 'tiny text')]), 1, /needs at least 17 \(a corpus of about 19\)/);
});

test('numeric flags out of range are one-line usage errors naming the flag', async () => {
  const data = file('ok.txt', words(300));
  const cases: Array<[string[], RegExp]> = [
    [['--batch', '-2'], /--batch must be ≥ 1/],
    [['--seq-len', '0'], /--seq-len must be ≥ 1/],
    [['--layers', '-1'], /--layers must be ≥ 1/],
    [['--embed', '-8'], /--embed must be ≥ 0/],
    [['--max-iters', '-1'], /--max-iters must be ≥ 0/],
    [['--eval-every', '0'], /--eval-every must be ≥ 1/],
    [['--sample-temperature', '-0.5'], /--sample-temperature must be ≥ 0/],
    [['--lr', '-1'], /--lr must be > 0/],
    [['--max-time', '-3'], /--max-time must be ≥ 0/],
    [['--max-rollbacks', '-1'], /--max-rollbacks must be ≥ 0/],
    [['--on-nan', 'ignore'], /--on-nan must be one of stop, rollback/],
    [['--threads', '1e9'], /--threads must be a whole number ≥ 0 and ≤ 256/],
  ];
  for (const [flags, pattern] of cases) assertRefused(await train('flags', [data], ...flags), 2, pattern);
  // batch × seq-len larger than the training split
  assertRefused(await train('flags', [data], '--batch', '64', '--seq-len', '64'), 1, /--batch 64 × --seq-len 64 needs at least 4097/);
});
