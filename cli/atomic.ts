/**
 * Crash-safe file writes for the CLI: a reader (or a crash, or a full disk) never sees a
 * half-written checkpoint. We write a temp file in the same directory (rename is only atomic
 * within one file system), fsync it, rename it over the target, then fsync the directory so
 * the rename itself is durable.
 */
import { open, rename, rm, mkdir, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { CharRnnError } from '../src/errors.js';
import { errnoCode, fsErrorReason } from './fs-errors.js';

/** Errors some platforms return for fsync on a directory; the data is already safe there. */
const DIR_FSYNC_UNSUPPORTED: ReadonlySet<string> = new Set(['EINVAL', 'EISDIR', 'EPERM', 'EACCES', 'ENOTSUP', 'EBADF']);

/**
 * Atomically replace `path` with `data`. On failure the temp file is removed, any previous
 * file at `path` is left untouched, and a one-line CharRnnError naming the path and the reason
 * is thrown (code 'disk-full', 'not-writable' or 'write-failed').
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempPathFor(path);
  let created = false;
  try {
    const fh = await open(tmp, 'wx'); // exclusive: never clobber someone else's temp file
    created = true;
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (created) await rm(tmp, { force: true }).catch(() => undefined);
    throw writeError(path, err);
  }
  await renameAtomic(tmp, path);
}

/** A temp file's path beside `path`: .NAME.PID.RANDOM.tmp (tidyRunDir removes those a killed process left). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Put `tmp` (a complete file beside `path`, synced: tempPathFor) at `path` in one rename and make
 * the rename durable. A file too big to hold is written in pieces to a temp file, then put here.
 */
export async function renameAtomic(tmp: string, path: string): Promise<void> {
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw writeError(path, err);
  }
  await syncDir(dirname(path)).catch((err: unknown) => {
    throw new CharRnnError('write-failed', `wrote ${JSON.stringify(path)} but could not flush its directory: ${fsErrorReason(err, 'write')}; the file may not survive a crash`);
  });
}

async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    if (!DIR_FSYNC_UNSUPPORTED.has(errnoCode(err) ?? '')) throw err;
  } finally {
    await fh?.close();
  }
}

/**
 * Create `dir` if needed and prove it is writable by creating and removing a probe file, so a
 * long training run fails at the start rather than at its first checkpoint.
 */
export async function checkWritableDir(dir: string): Promise<void> {
  const probe = join(dir, `.charrnn-probe.${process.pid}.${randomBytes(6).toString('hex')}`);
  try {
    await makeDirs(dir);
    await writeFile(probe, '', { flag: 'wx' });
    await rm(probe, { force: true });
  } catch (err) {
    throw new CharRnnError('not-writable', `cannot write to directory ${JSON.stringify(dir)}: ${fsErrorReason(err, 'write')}; choose another directory or fix its permissions`);
  }
}

/**
 * `mkdir -p`, by hand: Node 20's `mkdir(…, { recursive: true })` spins forever at 100% CPU
 * when a parent exists but mkdir of the child still reports ENOENT (e.g. `/proc/sys/x` on
 * Linux: it retries the parent, gets EEXIST, retries the child, ...). We find the deepest
 * existing ancestor, then only walk forward: at most one mkdir per missing component.
 */
async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let cur = resolve(dir); ; cur = dirname(cur)) {
    try {
      await stat(cur);
      break; // exists; if it is not a directory the next mkdir or the probe says so
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' || dirname(cur) === cur) throw err;
      missing.push(cur);
    }
  }
  for (const d of missing.reverse()) {
    await mkdir(d).catch((err: unknown) => {
      if (errnoCode(err) !== 'EEXIST') throw err; // a concurrent creator is fine
    });
  }
}

function writeError(path: string, err: unknown): CharRnnError {
  const code = errnoCode(err);
  const kind = code === 'ENOSPC' || code === 'EDQUOT' ? 'disk-full'
    : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'not-writable'
      : 'write-failed';
  const e = new CharRnnError(kind, `cannot write ${JSON.stringify(path)}: ${fsErrorReason(err, 'write')}${code ? ` (${code})` : ''}; the previous file, if any, is unchanged`);
  return Object.assign(e, { cause: err });
}

