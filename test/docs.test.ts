/**
 * Every `npx charrnn ...` line in the ```sh blocks of docs/guide.md runs and exits 0, in order,
 * in a temporary directory (so `runs/...` written by one command is read by the next). To keep
 * it fast: every --data points at a small made-up corpus, training gets tiny settings (5
 * iterations of a 16-unit model on the reference backend), samples are 20 characters.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../cli/main.js';
import type { Proc } from '../cli/io.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The `npx charrnn` commands of a markdown file's ```sh blocks, as argument lists. */
export function charrnnCommands(md: string): string[][] {
  const out: string[][] = [];
  for (const block of md.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1].replace(/\\\n\s*/g, ' ').split('\n'); // join continuation lines
    for (const line of lines) {
      const words = shellWords(line);
      if (words[0] === 'npx' && words[1] === 'charrnn') out.push(words.slice(2));
    }
  }
  return out;
}

/** Split a command line as sh would for these simple cases: quotes, and # comments. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(#.*$)|(\S+)/g;
  for (const m of line.matchAll(re)) {
    if (m[3] !== undefined) break;
    words.push(m[1] ?? m[2] ?? m[4]);
  }
  return words;
}

/** Set `--flag value` (replacing it if present). */
function setFlag(args: string[], flag: string, value: string): void {
  const i = args.indexOf(flag);
  if (i >= 0) args[i + 1] = value;
  else args.push(flag, value);
}

function dropFlag(args: string[], flag: string): void {
  const i = args.indexOf(flag);
  if (i >= 0) args.splice(i, 2);
}

/** The same command with a tiny corpus and tiny settings. */
function shrink(cmd: string[], corpus: string): string[] {
  const args = [...cmd];
  const d = args.indexOf('--data');
  let label = 'moby-dick'; // what train calls the run without --data
  if (d >= 0) {
    let end = d + 1;
    while (end < args.length && !args[end].startsWith('--')) end++;
    label = basename(args[d + 1]).replace(/\.[^.]*$/, '');
    args.splice(d + 1, end - d - 1, corpus);
  }
  switch (args[0]) {
    case 'train':
      if (!args.includes('--out')) args.push('--out', `runs/${label}`);
      if (d < 0) args.push('--data', corpus);
      for (const [flag, value] of [['--hidden', '16'], ['--batch', '4'], ['--seq-len', '16'], ['--max-iters', '5'], ['--eval-every', '5'], ['--sample-every', '0'], ['--backend', 'js']]) setFlag(args, flag, value);
      if (args.includes('--embed') && args[args.indexOf('--embed') + 1] !== '0') setFlag(args, '--embed', '8');
      dropFlag(args, '--max-time');
      args.push('--quiet');
      break;
    case 'sample':
      setFlag(args, '--length', '20');
      setFlag(args, '--backend', 'js');
      break;
    case 'eval':
    case 'classify':
      setFlag(args, '--backend', 'js');
      break;
  }
  return args;
}

function corpusText(): string {
  const words = 'to be or not that is the question whether tis nobler in mind suffer slings and arrows of outrageous fortune'.split(' ');
  let x = 7;
  // every letter and the usual punctuation, for the guide's --prime and inspect --text
  let s = 'But, soft! what light through yonder window breaks?\nThe quick brown fox jumps over the lazy dog; "Yes," said Ahab: \'no\' (2-3).\n';
  for (let i = 0; i < 1500; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    if (i % 11 === 0) s += i % 22 === 0 ? 'ROMEO: ' : 'JULIET: '; // the guide primes with "ROMEO:"
    s += words[x % words.length] + (i % 11 === 10 ? '.\n' : ' ');
  }
  return s;
}

test('every charrnn command in docs/guide.md runs (tiny settings)', async () => {
  const cmds = charrnnCommands(readFileSync(join(ROOT, 'docs', 'guide.md'), 'utf8'));
  assert.ok(cmds.length >= 8, `found only ${cmds.length} commands`);
  const dir = mkdtempSync(join(tmpdir(), 'docs-'));
  const cwd = process.cwd();
  try {
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, corpusText());
    process.chdir(dir); // relative paths in the guide (runs/...) land here
    for (const cmd of cmds) {
      const args = shrink(cmd, corpus);
      let stdout = '';
      let stderr = '';
      const proc: Proc = { argv: ['node', 'charrnn', ...args], env: {}, stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
      const code = await main(proc);
      assert.equal(code, 0, `charrnn ${cmd.join(' ')}\n(run as: ${args.join(' ')})\n${stderr}`);
      if (args.includes('--json')) JSON.parse(stdout.trim().split('\n').pop()!);
    }
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the docs command extractor handles quotes, comments and continuations', () => {
  const md = '```sh\nnpx charrnn sample a.safetensors --prime "ROMEO: hi" # note\nnpx tsx x.ts\nnpx charrnn train \\\n  --data x.txt\n```\n';
  assert.deepEqual(charrnnCommands(md), [['sample', 'a.safetensors', '--prime', 'ROMEO: hi'], ['train', '--data', 'x.txt']]);
});
