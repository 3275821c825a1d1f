/**
 * Keeping a run directory consistent through crashes and failed writes.
 *
 * A kill can land anywhere: between appending a metrics line and saving the checkpoint it
 * describes, in the middle of an append, or in the middle of an atomic write (which leaves
 * its temp file behind). So an evaluation is saved metrics-first, and a resumed run first
 * tidies the directory back to what its checkpoint knows: torn last lines and lines past the
 * checkpoint's iteration are dropped, and temp files of dead processes are removed.
 */
import { appendFile, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CharRnnError } from '../src/errors.js';
import type { Metrics } from '../src/train.js';
import { writeFileAtomic } from './atomic.js';
import { fsErrorReason } from './fs-errors.js';
import { CliError } from './io.js';

/** Append one JSON line; a failure is a one-line error naming the file. */
export async function appendLine(path: string, value: unknown): Promise<void> {
  try {
    await appendFile(path, JSON.stringify(value) + '\n');
  } catch (err) {
    throw new CharRnnError('write-failed', `cannot write ${JSON.stringify(path)}: ${fsErrorReason(err, 'write')}`);
  }
}

/**
 * Save an evaluation: its metrics line, then `latest` (and `best`, `bestBytes`: with --ema the
 * averaged weights, Trainer.bestCheckpoint) atomically. If anything
 * cannot be written the run stops with one line saying where; the checkpoints already on
 * disk are untouched (atomic writes), so no work before the last evaluation is lost.
 */
export async function saveEvaluation(files: { metrics: string; latest: string; best: string | null }, metrics: Metrics, bytes: Uint8Array, bestBytes = bytes): Promise<void> {
  try {
    await appendLine(files.metrics, metrics);
    await writeFileAtomic(files.latest, bytes);
    if (files.best) await writeFileAtomic(files.best, bestBytes);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new CliError(`training stopped at iteration ${metrics.iter}: ${msg}`);
  }
}

/**
 * Before a run writes into `dir`: remove temp files left by killed processes and, when
 * resuming from iteration `iter`, cut the .jsonl logs back to it.
 */
export async function tidyRunDir(dir: string, iter: number | null, logs: string[]): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = /^\..+\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name); // writeFileAtomic's .NAME.PID.RANDOM.tmp
    if (m && !processAlive(Number(m[1]))) await rm(join(dir, name), { force: true }).catch(() => undefined);
  }
  if (iter === null) return;
  for (const log of logs) await trimLog(join(dir, log), iter);
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** Keep the complete lines whose "iter" is at most `iter`; rewrite the file only if that drops something. */
async function trimLog(path: string, iter: number): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return; // no log yet
  }
  const lines = text.split('\n');
  lines.pop(); // after the last '\n': empty, or a line torn by a kill
  const keep = lines.filter((line) => {
    try {
      const v = JSON.parse(line) as { iter?: unknown };
      return typeof v.iter !== 'number' || v.iter <= iter;
    } catch {
      return false;
    }
  });
  const out = keep.map((l) => l + '\n').join('');
  if (out !== text) await writeFileAtomic(path, out);
}
