/**
 * The command line, end to end: main() with a fake process for train → sample → eval, resuming
 * bit for bit, every error path (one line on stderr, no stack, the right exit code), and a real
 * child process for Ctrl-C. Tiny models on small corpora written into a fresh temp dir.
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../cli/main.js';
import type { Proc } from '../cli/io.js';
import { decodeCheckpoint, type CheckpointData } from '../src/checkpoint.js';
import { words } from './helpers.js';

/** dist/test/cli.test.js → the repository root (bin/, package.json). */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'charrnn.js');

const TINY = ['--hidden', '16', '--layers', '1', '--batch', '4', '--seq-len', '16', '--max-iters', '20', '--eval-every', '10', '--sample-every', '0', '--backend', 'js'];

let dir: string;
let corpus: string; // ~7 KB of lowercase words
let ckpt: string; // trained once, shared by the sample/eval/error tests

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run main() with a fake process; main() must never throw. */
async function cli(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const proc: Proc = {
    argv: ['node', 'charrnn', ...args],
    env: {},
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  };
  const code = await main(proc);
  return { code, stdout, stderr };
}

/** A clean failure: the exit code, exactly one `charrnn: ` line on stderr, no stack trace. */
function assertFails(r: Run, code: number, pattern?: RegExp): void {
  const what = JSON.stringify(r.stderr);
  assert.equal(r.code, code, `exit code (stderr ${what})`);
  assert.match(r.stderr, /^charrnn: [^\n]+\n$/, `one charrnn: line on stderr, got ${what}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `stack trace on stderr: ${what}`);
  assert.doesNotMatch(r.stderr, /internal error/, `an unexpected error: ${what}`);
  if (pattern) assert.match(r.stderr, pattern);
}

function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

const load = (p: string): CheckpointData => decodeCheckpoint(readFileSync(p));

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-cli-'));
  corpus = file('corpus.txt', words(1500, 1));
  const r = await cli('train', '--data', corpus, '--out', join(dir, 'base'), '--quiet', ...TINY);
  assert.equal(r.code, 0, r.stderr);
  ckpt = join(dir, 'base', 'latest.safetensors');
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------- end to end

test('train writes checkpoints, metrics.jsonl and run.json, and --json prints one summary line', async () => {
  const out = join(dir, 'e2e');
  const r = await cli('train', '--data', corpus, '--out', out, '--json', ...TINY);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['latest.safetensors', 'best.safetensors', 'metrics.jsonl', 'run.json']) {
    assert.ok(existsSync(join(out, f)), `${f} exists`);
  }
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, 2, 'an evaluation at iterations 10 and 20');
  const keys = ['iter', 'epoch', 'seconds', 'train_loss', 'train_bpc', 'val_loss', 'val_bpc', 'val_chars', 'chars_per_s', 'lr', 'grad_norm'];
  lines.forEach((line, i) => {
    const m = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual(Object.keys(m).sort(), [...keys].sort());
    for (const k of keys) assert.ok(typeof m[k] === 'number' && Number.isFinite(m[k]), `${k} is a finite number`);
    assert.equal(m.iter, (i + 1) * 10);
  });
  const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { data: string[] };
  assert.deepEqual(run.data, [corpus]);
  // the first line says which engine runs, and why it is less than asked (createBackend's choice)
  assert.match(r.stderr.split('\n')[0], /iterations per epoch, js backend, 1 thread$/);
  const js4 = await cli('train', '--data', corpus, '--out', join(dir, 'js4'), ...TINY, '--max-iters', '1', '--threads', '4');
  assert.match(js4.stdout.split('\n')[0], /js backend, 1 thread \(the reference kernels run on one thread\)$/);

  // --json: exactly one line on stdout (the human output goes to stderr)
  const outLines = r.stdout.trimEnd().split('\n');
  assert.equal(outLines.length, 1, `one line on stdout, got ${JSON.stringify(r.stdout)}`);
  const s = JSON.parse(outLines[0]) as Record<string, unknown>;
  assert.deepEqual(Object.keys(s).sort(), ['best_val_loss', 'checkpoint', 'epochs', 'iters', 'seconds', 'train_chars_per_s', 'train_loss', 'val_loss'].sort());
  assert.equal(s.iters, 20);
  assert.equal(typeof s.best_val_loss, 'number');
  assert.ok(existsSync(s.checkpoint as string), 'the summary names a checkpoint that exists');

  const data = load(join(out, 'latest.safetensors'));
  assert.equal(data.train?.state.iter, 20);
  assert.equal(data.config.hidden, 16);
});

test('sample: the same --seed gives the same text; --temperature 0 and --top-k/--top-p work', async () => {
  const a = await cli('sample', ckpt, '--seed', '5', '--length', '50', '--backend', 'js');
  const b = await cli('sample', ckpt, '--seed', '5', '--length', '50', '--backend', 'js');
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stderr, '');
  assert.equal([...a.stdout.replace(/\n$/, '')].length, 50);
  assert.equal(a.stdout, b.stdout);
  const c = await cli('sample', ckpt, '--seed', '6', '--length', '50', '--backend', 'js');
  assert.notEqual(c.stdout, a.stdout, 'another seed, another text');

  const g1 = await cli('sample', ckpt, '--temperature', '0', '--length', '30', '--seed', '1', '--backend', 'js');
  const g2 = await cli('sample', ckpt, '--temperature', '0', '--length', '30', '--seed', '2', '--backend', 'js');
  assert.equal(g1.code, 0, g1.stderr);
  assert.equal(g1.stdout, g2.stdout, 'greedy sampling ignores the seed');

  const k = await cli('sample', ckpt, '--top-k', '3', '--top-p', '0.9', '--length', '20', '--prime', 'the ', '--seed', '3', '--backend', 'js');
  assert.equal(k.code, 0, k.stderr);
  assert.ok(k.stdout.startsWith('the '), 'the prime is printed first');
});

test('eval: nats, bits = nats/ln 2, perplexity = e^nats; unknown characters are counted, not fatal', async () => {
  const r = await cli('eval', ckpt, '--data', corpus, '--json', '--backend', 'js');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 1);
  const e = JSON.parse(lines[0]) as Record<string, number>;
  assert.deepEqual(Object.keys(e).sort(), ['bits_per_char', 'chars', 'nats_per_char', 'perplexity', 'unknown_chars']);
  assert.ok(e.nats_per_char > 0 && e.nats_per_char < Math.log(40));
  assert.ok(Math.abs(e.bits_per_char - e.nats_per_char / Math.LN2) < 1e-9);
  assert.ok(Math.abs(e.perplexity - Math.exp(e.nats_per_char)) < 1e-9 * e.perplexity);
  assert.equal(e.unknown_chars, 0);
  assert.ok(e.chars > 1000);

  const odd = file('odd.txt', 'the quick Ωmega fox — sat on the mat ZZZ 😀');
  const u = await cli('eval', ckpt, '--data', odd, '--json', '--backend', 'js');
  assert.equal(u.code, 0, u.stderr);
  const eu = JSON.parse(u.stdout) as Record<string, number>;
  assert.equal(eu.unknown_chars, 6, 'Ω, —, Z, Z, Z and the emoji (one code point) are unknown');
  assert.ok(Number.isFinite(eu.nats_per_char));

  const plain = await cli('eval', ckpt, '--data', odd, '--backend', 'js');
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /nats\/char.*bits\/char.*perplexity.*outside the vocabulary/);
});

// ---------------------------------------------------------------- resume

test('resume: 10 iterations + 10 more gives bit for bit the run of 20', async () => {
  const A = join(dir, 'resume-a');
  const B = join(dir, 'resume-b');
  // char-rnn's step schedule: a cosine span is fixed by the first run's limit (10), so raising it is another run
  const half = [...TINY.map((x, i) => (TINY[i - 1] === '--max-iters' ? '10' : x)), '--lr-schedule', 'step'];
  const a1 = await cli('train', '--data', corpus, '--out', A, '--quiet', '--seed', '42', ...half);
  assert.equal(a1.code, 0, a1.stderr);
  assert.equal(load(join(A, 'latest.safetensors')).train?.state.iter, 10);
  // no --data: run.json knows it; no model flags: the checkpoint knows them
  const a2 = await cli('train', '--resume', A, '--max-iters', '20', '--quiet');
  assert.equal(a2.code, 0, a2.stderr);
  const b = await cli('train', '--data', corpus, '--out', B, '--quiet', '--seed', '42', ...TINY, '--lr-schedule', 'step');
  assert.equal(b.code, 0, b.stderr);

  const x = load(join(A, 'latest.safetensors'));
  const y = load(join(B, 'latest.safetensors'));
  assert.deepEqual(x.config, y.config);
  assert.deepEqual(x.vocab.symbols, y.vocab.symbols);
  const same = (p: Float32Array, q: Float32Array, what: string): void => {
    assert.equal(p.length, q.length, what);
    const pb = new Uint32Array(p.buffer, p.byteOffset, p.length);
    const qb = new Uint32Array(q.buffer, q.byteOffset, q.length);
    for (let i = 0; i < pb.length; i++) if (pb[i] !== qb[i]) assert.fail(`${what}[${i}]: ${p[i]} vs ${q[i]}`);
  };
  assert.deepEqual([...x.params.keys()], [...y.params.keys()]);
  for (const [name, t] of x.params) same(t, y.params.get(name)!, name);
  assert.ok(x.train && y.train);
  for (const [name, t] of x.train.m) same(t, y.train.m.get(name)!, `optimizer.m.${name}`);
  for (const [name, t] of x.train.v) same(t, y.train.v.get(name)!, `optimizer.v.${name}`);
  x.train.carried.forEach((t, i) => same(t, y.train!.carried[i], `carried state ${i}`));
  const { seconds: _s1, trainSeconds: _t1, ...sx } = x.train.state;
  const { seconds: _s2, trainSeconds: _t2, ...sy } = y.train.state;
  assert.deepEqual(sx, sy);
  assert.equal(sx.iter, 20);

  // metrics.jsonl of the resumed run continues where it stopped
  const iters = readFileSync(join(A, 'metrics.jsonl'), 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { iter: number }).iter);
  assert.deepEqual(iters, [10, 20]);
});

// ---------------------------------------------------------------- errors: training data and flags

test('train: unreadable, empty, invalid UTF-8 and binary data are one-line errors (exit 1)', async () => {
  const out = join(dir, 'bad-data');
  const args = ['--out', out, '--quiet', ...TINY];
  assertFails(await cli('train', '--data', join(dir, 'no-such-file.txt'), ...args), 1, /no such file/);
  assertFails(await cli('train', '--data', file('empty.txt', ''), ...args), 1, /empty\.txt has no text/);
  const utf8 = file('latin1.txt', Buffer.concat([Buffer.from('hello caf'), Buffer.from([0xe9]), Buffer.from(' world')]));
  assertFails(await cli('train', '--data', utf8, ...args), 1, /not valid UTF-8.*byte offset 9/);
  assertFails(await cli('train', '--data', file('nul.txt', 'abc\0def'.repeat(200)), ...args), 1, /NUL/);
  assertFails(await cli('train', '--data', mkdirEmpty('empty-dir'), ...args), 1, /no text files/);
});

function mkdirEmpty(name: string): string {
  const p = join(dir, name);
  mkdirSync(p, { recursive: true });
  return p;
}

test('train: whitespace-only text trains or fails cleanly', async () => {
  const ws = file('ws.txt', ' \n\t \n'.repeat(50));
  const r = await cli('train', '--data', ws, '--out', join(dir, 'ws'), '--quiet', ...TINY);
  if (r.code !== 0) assertFails(r, r.code);
  const tiny = file('ws-short.txt', '  \n ');
  const r2 = await cli('train', '--data', tiny, '--out', join(dir, 'ws-short'), '--quiet', ...TINY);
  assertFails(r2, 1, /needs at least/);
});

test('train: bad flag values are usage errors (exit 2) naming the flag', async () => {
  const base = ['train', '--data', corpus, '--out', join(dir, 'bad-flags'), '--quiet', ...TINY];
  assertFails(await cli(...base, '--hidden', '-3'), 2, /--hidden must be ≥ 1/);
  assertFails(await cli(...base, '--hidden', 'abc'), 2, /--hidden must be a number/);
  assertFails(await cli(...base, '--hidden', ''), 2, /--hidden must be a number/);
  assertFails(await cli(...base, '--hidden', '1.5'), 2, /--hidden must be a whole number/);
  assertFails(await cli(...base, '--lr', '0'), 2, /--lr must be > 0/);
  assertFails(await cli(...base, '--dropout', '1'), 2, /--dropout must be .* < 1/);
  assertFails(await cli(...base, '--model', 'transformer'), 2, /--model must be one of rnn, lstm, gru/);
  assertFails(await cli(...base, '--optimizer', 'lion'), 2, /--optimizer/);
  assertFails(await cli(...base, '--val-frac', '0.6', '--test-frac', '0.5'), 2, /--val-frac plus --test-frac/);
  assertFails(await cli(...base, '--seed', '-1'), 2, /--seed/);
  assertFails(await cli(...base, '--no-such-option'), 2, /unknown option '--no-such-option'/);
  assertFails(await cli(...base, '--hidden'), 2, /--hidden/);
  assertFails(await cli('no-such-command'), 2, /unknown command/);
  assert.ok(!existsSync(join(dir, 'bad-flags', 'latest.safetensors')), 'nothing trained');
});

test('train: batch × seq-len larger than the training split says the minimum', async () => {
  const small = file('small.txt', words(60, 3)); // ~300 characters
  const r = await cli('train', '--data', small, '--out', join(dir, 'small'), '--quiet', ...TINY, '--batch', '32', '--seq-len', '64');
  assertFails(r, 1, /--batch 32 × --seq-len 64 needs at least 2049/);
});

test('train: an existing run needs --resume or --force; --resume needs a checkpoint', async () => {
  const out = join(dir, 'base');
  assertFails(await cli('train', '--data', corpus, '--out', out, '--quiet', ...TINY), 1, /--resume/);
  assertFails(await cli('train', '--resume', join(dir, 'no-such-run'), '--quiet'), 1, /cannot resume/);
  assertFails(await cli('train', '--resume', mkdirEmpty('empty-run'), '--quiet'), 1, /cannot resume.*latest\.safetensors/);
  assertFails(await cli('train', '--resume', out, '--hidden', '32', '--quiet'), 2, /--hidden cannot change when resuming/);

  const forced = join(dir, 'forced');
  assert.equal((await cli('train', '--data', corpus, '--out', forced, '--quiet', ...TINY)).code, 0);
  const r = await cli('train', '--data', corpus, '--out', forced, '--force', '--quiet', ...TINY, '--max-iters', '10');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(load(join(forced, 'latest.safetensors')).train?.state.iter, 10, '--force starts over');
  assert.equal(readFileSync(join(forced, 'metrics.jsonl'), 'utf8').trimEnd().split('\n').length, 1, 'fresh metrics');
});

// ---------------------------------------------------------------- errors: sample and eval

test('sample: unknown prime characters are named; --skip-unknown drops them with a warning', async () => {
  const prime = 'the Ω fox €';
  const r = await cli('sample', ckpt, '--prime', prime, '--length', '10', '--seed', '1', '--backend', 'js');
  assertFails(r, 1, /"Ω".*"€".*--skip-unknown/);
  const s = await cli('sample', ckpt, '--prime', prime, '--skip-unknown', '--length', '10', '--seed', '1', '--backend', 'js');
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stderr, /^charrnn: warning: [^\n]*2 prime character/);
  assert.ok(s.stdout.length > 10);
});

test('sample: bad flag values are usage errors (exit 2)', async () => {
  const go = (...args: string[]) => cli('sample', ckpt, '--seed', '1', '--backend', 'js', ...args);
  assertFails(await go('--temperature', '-1'), 2, /--temperature must be ≥ 0/);
  assertFails(await go('--top-p', '0'), 2, /--top-p must be in \(0, 1\]/);
  assertFails(await go('--top-p', '1.5'), 2, /--top-p must be in \(0, 1\]/);
  assertFails(await go('--length', '-5'), 2, /--length must be a whole number ≥ 0/);
  assertFails(await go('--length', 'ten'), 2, /--length must be a number/);
  assertFails(await go('--top-k', '-1'), 2, /--top-k/);
  assertFails(await go('--backend', 'cuda'), 2, /--backend/);
  assertFails(await cli('sample'), 2, /missing required argument/);
  const zero = await go('--length', '0');
  assert.equal(zero.code, 0, zero.stderr);
  assert.equal(zero.stdout, '\n');
});

test('sample and eval: bad checkpoint files are one-line errors (exit 1)', async () => {
  const bytes = readFileSync(ckpt);
  const truncated = file('truncated.safetensors', bytes.subarray(0, Math.floor(bytes.length / 2)));
  let x = 12345;
  const noise = new Uint8Array(4096).map(() => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24));
  const random = file('random.safetensors', noise);
  const tiny = file('tiny.safetensors', bytes.subarray(0, 5));
  const text = file('text.safetensors', 'this is not a checkpoint at all, just words');
  const cases: Array<[string, RegExp]> = [
    [truncated, /truncated/],
    [random, /random\.safetensors: checkpoint/],
    [tiny, /tiny\.safetensors/],
    [text, /text\.safetensors/],
    [join(dir, 'no-such.safetensors'), /cannot read checkpoint .*no such file/],
    [join(dir, 'base'), /cannot read checkpoint .*directory/],
  ];
  for (const [path, pattern] of cases) {
    assertFails(await cli('sample', path, '--length', '5', '--backend', 'js'), 1, pattern);
    assertFails(await cli('eval', path, '--data', corpus, '--backend', 'js'), 1, pattern);
  }
});

test('eval: bad data is a one-line error', async () => {
  assertFails(await cli('eval', ckpt, '--data', join(dir, 'missing.txt'), '--backend', 'js'), 1, /no such file/);
  const utf8 = file('bad-utf8.txt', Buffer.from([0x61, 0x62, 0xff, 0x63]));
  assertFails(await cli('eval', ckpt, '--data', utf8, '--backend', 'js'), 1, /byte offset 2/);
  assertFails(await cli('eval', ckpt, '--data', file('eval-empty.txt', ''), '--backend', 'js'), 1);
  assertFails(await cli('eval', ckpt, '--backend', 'js'), 2, /--data/);
});

// ---------------------------------------------------------------- help and version

test('--help lists the commands and exits 0; --version prints the package version', async () => {
  const h = await cli('--help');
  assert.equal(h.code, 0);
  for (const c of ['train', 'sample', 'eval']) assert.match(h.stdout, new RegExp(`^\\s+${c}\\b`, 'm'));
  assert.equal(h.stderr, '');
  const th = await cli('train', '--help');
  assert.equal(th.code, 0);
  assert.match(th.stdout, /--seq-len/);

  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const v = await cli('--version');
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), version);

  // no command at all: the help, on stdout, and no error line
  const none = await cli();
  assert.equal(none.stderr, '');
  assert.match(none.stdout, /Usage: charrnn/);
  assert.equal(none.code, 0);
});

// ---------------------------------------------------------------- the real binary

interface Child {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runBin(args: string[], opts: { onStdout?: (all: string, kill: () => void) => void; timeoutMs?: number } = {}): Promise<Child> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`charrnn ${args.join(' ')} timed out; stdout ${JSON.stringify(stdout)} stderr ${JSON.stringify(stderr)}`));
    }, opts.timeoutMs ?? 30_000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      stdout += s;
      opts.onStdout?.(stdout, () => child.kill('SIGINT'));
    });
    child.stderr.on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

test('Ctrl-C saves a resumable checkpoint and exits 130', async () => {
  const out = join(dir, 'interrupted');
  let sent = false;
  const r = await runBin(
    ['train', '--data', corpus, '--out', out, ...TINY, '--max-iters', '100000', '--eval-every', '5'],
    {
      onStdout: (all, kill) => {
        if (!sent && /^iter 5 \(/m.test(all)) {
          sent = true;
          kill();
        }
      },
    },
  );
  assert.ok(sent, `never saw the first evaluation: ${r.stdout} ${r.stderr}`);
  assert.equal(r.code, 130, `exit code (signal ${r.signal}, stderr ${JSON.stringify(r.stderr)})`);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /interrupted: saved .*--resume/);
  const data = load(join(out, 'latest.safetensors'));
  assert.ok(data.train && data.train.state.iter > 0);
  assert.ok(data.train.state.iter < 100000);

  // and it does resume
  const res = await cli('train', '--resume', out, '--max-iters', String(data.train.state.iter + 5), '--quiet');
  assert.equal(res.code, 0, res.stderr);
  assert.equal(load(join(out, 'latest.safetensors')).train?.state.iter, data.train.state.iter + 5);
});

test('the binary: errors are one line with no stack trace, and --version works', async () => {
  const e = await runBin(['sample', join(dir, 'no-such.safetensors')]);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /^charrnn: cannot read checkpoint [^\n]*\n$/);
  const f = await runBin(['train', '--hidden', 'abc']);
  assert.equal(f.code, 2);
  assert.match(f.stderr, /^charrnn: --hidden must be a number[^\n]*\n$/);
  const v = await runBin(['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});
