/** Running the CLI's main() in-process with a fake process, for tests: it must never throw. */
import { main } from '../cli/main.js';
import type { Proc } from '../cli/io.js';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { words } from './helpers.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `charrnn ...args`; `onStdout` sees each write (a test may act at a given moment of a run). */
export async function runCli(args: string[], onStdout?: (s: string) => void): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const proc: Proc = {
    argv: ['node', 'charrnn', ...args],
    env: {},
    stdout: { write: (s: string) => { stdout += s; onStdout?.(s); } },
    stderr: { write: (s: string) => (stderr += s) },
  };
  const code = await main(proc);
  return { code, stdout, stderr };
}

/**
 * Train a tiny model (30 iterations, 16 units, reference backend) in a fresh temp dir on `text`
 * (default: 1,500 words), with `extra` train flags: `dir` and its checkpoint.
 */
export async function tinyCheckpoint(prefix: string, text = words(1500, 1), extra: string[] = []): Promise<{ dir: string; ckpt: string }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'corpus.txt'), text);
  const tiny = ['--hidden', '16', '--layers', '1', '--batch', '4', '--seq-len', '16', '--max-iters', '30', '--eval-every', '30', '--sample-every', '0', '--backend', 'js'];
  const r = await runCli(['train', '--data', join(dir, 'corpus.txt'), '--out', join(dir, 'run'), '--quiet', ...tiny, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return { dir, ckpt: join(dir, 'run', 'latest.safetensors') };
}
